/* The inventory: all of minica's SQL is in this file, schema and
 * migrations, certificates, the audit log, counters, tokens, the ACME
 * tables. It speaks through db.h only, the same statements on SQLite and
 * PostgreSQL; where the two differ minica_db_kind() decides (a migration's
 * text, the migration lock, savepoints around writes that may fail inside
 * a transaction). Connections, locking and durability are the drivers'
 * (db_sqlite.c, db_pg.c). */
#include <ctype.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "minica/escape.h"
#include "minica/store.h"
#include "minica/store_acme.h"
#include "store/db.h"
#include "store/store_internal.h"

struct minica_store {
    struct minica_db *db;
    /* minica_store_list_certs' statements, one per combination of filters,
     * prepared once: the agent looks up every managed certificate. */
    struct minica_db_stmt *list_stmt[32];
    /* One row of cert_names; an issuance writes one per name. */
    struct minica_db_stmt *name_stmt;
    /* Who the audit rows name: this process's user, looked up once (a
     * getpwuid reads /etc/passwd; serve audits every request). */
    uid_t uid;
    char user[64];
    /* Why the last step_guarded failed, kept across the savepoint's
     * rollback, which clears the driver's own error. */
    enum minica_db_error failed_kind;
    char failed_msg[512];
    /* minica_store_sync's group commit: syncs started and finished so far
     * (numbered from 1), whether one runs now, the last that failed. */
    pthread_mutex_t sync_lock;
    pthread_cond_t sync_done_cond;
    uint64_t syncs_started, syncs_done, sync_failed;
    int sync_running;
    char sync_error[512];
};

/* Migration i brings the schema from version i to i + 1, on either
 * backend: one list, so both have the same tables at the same version.
 * sqlite is the text SQLite runs; postgresql, where set, is the same
 * schema in PostgreSQL's dialect (NULL: sqlite runs there unchanged).
 * Each backend's text reads on its own as its schema. Never edit a
 * released entry (a database at version i + 1 already ran it): append a
 * new one. The PostgreSQL texts differ by types only where they must: an
 * INTEGER there is 32 bits, so epoch seconds and counters are BIGINT;
 * AUTOINCREMENT is an identity column; SQLite-only backfills are left out,
 * as a PostgreSQL database starts empty (minica db migrate copies rows
 * into the latest schema). */
struct migration {
    const char *sqlite;
    const char *postgresql;
};

static const struct migration migrations[] = {
    /* 0 -> 1: certificates, audit log, counters. */
    {.sqlite = "CREATE TABLE certs ("
               "  serial TEXT PRIMARY KEY,"
               "  name TEXT NOT NULL,"
               "  sans TEXT NOT NULL,"
               "  usage TEXT NOT NULL CHECK (usage IN ('server', 'client', 'both')),"
               "  key_type TEXT NOT NULL,"
               "  not_before INTEGER NOT NULL,"
               "  not_after INTEGER NOT NULL,"
               "  issued_at INTEGER NOT NULL,"
               "  revoked_at INTEGER,"
               "  revoke_reason INTEGER,"
               "  fingerprint_sha256 TEXT NOT NULL UNIQUE,"
               "  issuer_fingerprint_sha256 TEXT NOT NULL,"
               "  pem TEXT NOT NULL"
               ");"
               "CREATE INDEX certs_name ON certs(name);"
               "CREATE INDEX certs_not_after ON certs(not_after);"
               "CREATE TABLE audit ("
               "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
               "  time INTEGER NOT NULL,"
               "  uid INTEGER NOT NULL,"
               "  user TEXT NOT NULL,"
               "  command TEXT NOT NULL,"
               "  summary TEXT NOT NULL"
               ");"
               "CREATE INDEX audit_time ON audit(time);"
               "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
     /* "user" is reserved in PostgreSQL: quoted, as in every statement. */
     .postgresql = "CREATE TABLE certs ("
                   "  serial TEXT PRIMARY KEY,"
                   "  name TEXT NOT NULL,"
                   "  sans TEXT NOT NULL,"
                   "  usage TEXT NOT NULL CHECK (usage IN ('server', 'client', 'both')),"
                   "  key_type TEXT NOT NULL,"
                   "  not_before BIGINT NOT NULL,"
                   "  not_after BIGINT NOT NULL,"
                   "  issued_at BIGINT NOT NULL,"
                   "  revoked_at BIGINT,"
                   "  revoke_reason INTEGER,"
                   "  fingerprint_sha256 TEXT NOT NULL UNIQUE,"
                   "  issuer_fingerprint_sha256 TEXT NOT NULL,"
                   "  pem TEXT NOT NULL"
                   ");"
                   "CREATE INDEX certs_name ON certs(name);"
                   "CREATE INDEX certs_not_after ON certs(not_after);"
                   "CREATE TABLE audit ("
                   "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                   "  time BIGINT NOT NULL,"
                   "  uid BIGINT NOT NULL,"
                   "  \"user\" TEXT NOT NULL,"
                   "  command TEXT NOT NULL,"
                   "  summary TEXT NOT NULL"
                   ");"
                   "CREATE INDEX audit_time ON audit(time);"
                   "CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);"},
    /* 1 -> 2: one-time enrollment tokens for `minica serve`; only the
     * SHA-256 of the secret is kept, so a copy of the database enrolls nothing. */
    {.sqlite = "CREATE TABLE tokens ("
               "  id TEXT PRIMARY KEY,"
               "  secret_sha256 TEXT NOT NULL,"
               "  name TEXT NOT NULL,"
               "  sans TEXT NOT NULL,"
               "  usage TEXT NOT NULL CHECK (usage IN ('server', 'client', 'both')),"
               "  ttl INTEGER NOT NULL,"
               "  created_at INTEGER NOT NULL,"
               "  expires_at INTEGER NOT NULL,"
               "  used_at INTEGER,"
               "  revoked_at INTEGER,"
               "  used_by TEXT"
               ");"
               "CREATE INDEX tokens_expires_at ON tokens(expires_at);",
     .postgresql = "CREATE TABLE tokens ("
                   "  id TEXT PRIMARY KEY,"
                   "  secret_sha256 TEXT NOT NULL,"
                   "  name TEXT NOT NULL,"
                   "  sans TEXT NOT NULL,"
                   "  usage TEXT NOT NULL CHECK (usage IN ('server', 'client', 'both')),"
                   "  ttl BIGINT NOT NULL,"
                   "  created_at BIGINT NOT NULL,"
                   "  expires_at BIGINT NOT NULL,"
                   "  used_at BIGINT,"
                   "  revoked_at BIGINT,"
                   "  used_by TEXT"
                   ");"
                   "CREATE INDEX tokens_expires_at ON tokens(expires_at);"},
    /* 2 -> 3: every name of a certificate, one row each, so that revoke,
     * list and show find a certificate by a SAN as fast as by its first
     * name (certs.sans is one comma-joined string no index can see into).
     * The (name, serial) index answers a lookup by name without touching
     * the table. The rows already there are split here, in SQL, inside the
     * same transaction as the rest of the migration: a recursive CTE peels
     * one name off the front of "sans," per step. certs.name joins them
     * for a row whose sans would lack it; UNION drops the duplicates.
     * instr() is SQLite's: only SQLite databases have rows to split, as a
     * PostgreSQL database has none yet when it runs this. */
    {.sqlite = "CREATE TABLE cert_names ("
               "  serial TEXT NOT NULL REFERENCES certs(serial) ON DELETE CASCADE,"
               "  name TEXT NOT NULL,"
               "  PRIMARY KEY (serial, name)"
               ");"
               "CREATE INDEX cert_names_name ON cert_names(name, serial);"
               "WITH RECURSIVE split(serial, name, rest) AS ("
               "  SELECT serial, '', sans || ',' FROM certs"
               "  UNION ALL"
               "  SELECT serial, substr(rest, 1, instr(rest, ',') - 1), substr(rest, instr(rest, "
               "',') + 1)"
               "  FROM split WHERE rest <> ''"
               ")"
               "INSERT INTO cert_names (serial, name)"
               "  SELECT serial, name FROM split WHERE name <> ''"
               "  UNION SELECT serial, name FROM certs;",
     .postgresql = "CREATE TABLE cert_names ("
                   "  serial TEXT NOT NULL REFERENCES certs(serial) ON DELETE CASCADE,"
                   "  name TEXT NOT NULL,"
                   "  PRIMARY KEY (serial, name)"
                   ");"
                   "CREATE INDEX cert_names_name ON cert_names(name, serial);"},
    /* 3 -> 4: revoked CA certificates (an intermediate or a cross-certificate
     * taken out of use), for the root's CRL. Leaves stay in certs; these are
     * not issued by `issue` and have no row there. The issuer index serves
     * `ca status`, which counts each issuer's unexpired leaves. */
    {.sqlite = "CREATE TABLE ca_revocations ("
               "  serial TEXT PRIMARY KEY,"
               "  fingerprint_sha256 TEXT NOT NULL UNIQUE,"
               "  issuer_fingerprint_sha256 TEXT NOT NULL,"
               "  revoked_at INTEGER NOT NULL,"
               "  reason INTEGER NOT NULL"
               ");"
               "CREATE INDEX certs_issuer ON certs(issuer_fingerprint_sha256, not_after);",
     .postgresql = "CREATE TABLE ca_revocations ("
                   "  serial TEXT PRIMARY KEY,"
                   "  fingerprint_sha256 TEXT NOT NULL UNIQUE,"
                   "  issuer_fingerprint_sha256 TEXT NOT NULL,"
                   "  revoked_at BIGINT NOT NULL,"
                   "  reason INTEGER NOT NULL"
                   ");"
                   "CREATE INDEX certs_issuer ON certs(issuer_fingerprint_sha256, not_after);"},
    /* 4 -> 5: ACME (RFC 8555, store_acme.h). Written to run unchanged on
     * PostgreSQL too: times are BIGINT (SQLite reads it as INTEGER; a
     * PostgreSQL INTEGER is 32 bits and ends in 2038), flags are INTEGER
     * 0/1 under a CHECK, every status and type is a CHECKed TEXT. The
     * (account_id, id) index serves the keyset-paged orders list; the
     * expires_at indexes serve the sweeps. An order's certificate is a
     * certs row, so a serial cannot point at nothing (its index keeps that
     * check, made on every delete from certs, from scanning the orders);
     * authorizations and challenges go with their order. */
    {.sqlite =
         "CREATE TABLE acme_nonces ("
         "  value TEXT PRIMARY KEY,"
         "  expires_at BIGINT NOT NULL"
         ");"
         "CREATE INDEX acme_nonces_expires_at ON acme_nonces(expires_at);"
         "CREATE TABLE acme_accounts ("
         "  id TEXT PRIMARY KEY,"
         "  thumbprint TEXT NOT NULL UNIQUE,"
         "  jwk TEXT NOT NULL,"
         "  status TEXT NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),"
         "  contact TEXT,"
         "  eab_kid TEXT,"
         "  created_at BIGINT NOT NULL"
         ");"
         "CREATE TABLE acme_orders ("
         "  id TEXT PRIMARY KEY,"
         "  account_id TEXT NOT NULL REFERENCES acme_accounts(id),"
         "  status TEXT NOT NULL"
         "    CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),"
         "  identifiers TEXT NOT NULL,"
         "  not_before BIGINT,"
         "  not_after BIGINT,"
         "  expires_at BIGINT NOT NULL,"
         "  cert_serial TEXT REFERENCES certs(serial),"
         "  error TEXT,"
         "  created_at BIGINT NOT NULL"
         ");"
         "CREATE INDEX acme_orders_account ON acme_orders(account_id, id);"
         "CREATE INDEX acme_orders_expires_at ON acme_orders(expires_at);"
         "CREATE INDEX acme_orders_cert_serial ON acme_orders(cert_serial);"
         "CREATE TABLE acme_authz ("
         "  id TEXT PRIMARY KEY,"
         "  order_id TEXT NOT NULL REFERENCES acme_orders(id) ON DELETE CASCADE,"
         "  type TEXT NOT NULL CHECK (type IN ('dns', 'ip')),"
         "  value TEXT NOT NULL,"
         "  wildcard INTEGER NOT NULL CHECK (wildcard IN (0, 1)),"
         "  status TEXT NOT NULL CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated',"
         "    'expired', 'revoked')),"
         "  expires_at BIGINT NOT NULL"
         ");"
         "CREATE INDEX acme_authz_order ON acme_authz(order_id, id);"
         "CREATE TABLE acme_challenges ("
         "  id TEXT PRIMARY KEY,"
         "  authz_id TEXT NOT NULL REFERENCES acme_authz(id) ON DELETE CASCADE,"
         "  type TEXT NOT NULL CHECK (type IN ('http-01', 'tls-alpn-01', 'dns-01')),"
         "  token TEXT NOT NULL UNIQUE,"
         "  status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),"
         "  validated_at BIGINT,"
         "  error TEXT"
         ");"
         "CREATE INDEX acme_challenges_authz ON acme_challenges(authz_id, id);"},
    /* 5 -> 6: External Account Binding keys (RFC 8555 7.3.4). Only the kid
     * and what it allows: the MAC key is derived from DIR/acme-eab.key,
     * never stored. account_id is UNIQUE: one key binds one account. */
    {.sqlite = "CREATE TABLE acme_eab_keys ("
               "  kid TEXT PRIMARY KEY,"
               "  label TEXT NOT NULL,"
               "  permit_dns TEXT NOT NULL,"
               "  permit_ip TEXT NOT NULL,"
               "  created_at BIGINT NOT NULL,"
               "  expires_at BIGINT NOT NULL,"
               "  revoked_at BIGINT,"
               "  account_id TEXT UNIQUE REFERENCES acme_accounts(id)"
               ");"},
    /* 6 -> 7: ARI (RFC 9773 5): the certificate an order replaces, a certs
     * row like cert_serial; the index answers "is it replaced already?"
     * at every newOrder naming one, and keeps deletes from certs cheap. */
    {.sqlite = "ALTER TABLE acme_orders ADD COLUMN replaces TEXT REFERENCES certs(serial);"
               "CREATE INDEX acme_orders_replaces ON acme_orders(replaces);"},
    /* 7 -> 8: the CRLs serve publishes (minica_ca_crls_published), one
     * row per intermediate, so that every replica answers the same bytes
     * and a cRLNumber never goes back from one answer to the next. A
     * revocation deletes them in its own transaction. */
    {.sqlite = "CREATE TABLE published_crls ("
               "  issuer_serial TEXT PRIMARY KEY,"
               "  crl_number BIGINT NOT NULL,"
               "  this_update BIGINT NOT NULL,"
               "  next_update BIGINT NOT NULL,"
               "  revoked BIGINT NOT NULL,"
               "  pem TEXT NOT NULL"
               ");"},
    /* 8 -> 9: secrets every serve replica on one database must share, by
     * name (the ACME nonce key: a nonce one replica made is checked by
     * another, and stays valid across a restart). Created once by whoever
     * comes first (minica_store_secret); never rotated here. */
    {.sqlite = "CREATE TABLE serve_secrets ("
               "  name TEXT PRIMARY KEY,"
               "  secret TEXT NOT NULL,"
               "  created_at BIGINT NOT NULL"
               ");"},
    /* 9 -> 10: every CA open counts each intermediate's unexpired and
     * revoked leaves (minica_store_issuer_stats); with revoked_at in the
     * index that is read from the index alone, not one table lookup per
     * leaf (issue 19: 200,000 rows). Same SQL on both backends. */
    {.sqlite = "CREATE INDEX certs_issuer_stats ON certs(issuer_fingerprint_sha256, not_after, "
               "revoked_at);"
               "DROP INDEX certs_issuer;"},
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* A server that is down or restarting (PostgreSQL) is no failure of the
 * request: nothing was done, and the same request succeeds later. Named
 * without its password (minica_db_name). */
static int unavailable(struct minica_store *s, const char *msg, struct minica_err *err)
{
    return minica_seterr(err, MINICA_EUNAVAILABLE,
                         "%s cannot be reached (server said: %s): retry later",
                         minica_db_name(s->db), msg);
}

/* The store's reason for the driver's last error. A damaged file is named
 * as such, here and when db_sqlite.c's open meets it first (its own copy
 * of these messages). */
static int db_error(struct minica_store *s, struct minica_err *err, const char *what)
{
    if (minica_db_last_error(s->db) == MINICA_DB_UNAVAILABLE)
        return unavailable(s, minica_db_errmsg(s->db), err);
    if (minica_db_last_error(s->db) == MINICA_DB_CORRUPT)
        return minica_seterr(err, MINICA_EDB,
                             "%s is damaged or not a minica database (%s); restore it from a "
                             "backup",
                             minica_db_name(s->db), minica_db_errmsg(s->db));
    return minica_seterr(err, MINICA_EDB, "%s: %s: %s", minica_db_name(s->db), what,
                         minica_db_errmsg(s->db));
}

/* Whether the last failed write broke a table constraint, whichever. */
static int broke_constraint(struct minica_store *s)
{
    enum minica_db_error e = minica_db_last_error(s->db);
    return e == MINICA_DB_UNIQUE || e == MINICA_DB_FOREIGN_KEY || e == MINICA_DB_CHECK;
}

/* A failed write's reason, by the constraint it broke: a taken key is the
 * caller's EEXIST, a CHECK its typo, a foreign key a row that is not there. */
static int write_error(struct minica_store *s, enum minica_db_error kind, const char *msg,
                       struct minica_err *err, const char *what)
{
    switch (kind) {
    case MINICA_DB_UNIQUE:
        return minica_seterr(err, MINICA_EEXIST, "%s: already taken (%s)", what, msg);
    case MINICA_DB_CHECK:
        return minica_seterr(err, MINICA_EINVAL, "%s: a value the table does not allow (%s)", what,
                             msg);
    case MINICA_DB_FOREIGN_KEY:
        return minica_seterr(err, MINICA_ENOENT, "%s: refers to a row that does not exist", what);
    case MINICA_DB_CORRUPT:
        return minica_seterr(err, MINICA_EDB,
                             "%s is damaged or not a minica database (%s); restore it from a "
                             "backup",
                             minica_db_name(s->db), msg);
    case MINICA_DB_UNAVAILABLE:
        return unavailable(s, msg, err);
    default:
        return minica_seterr(err, MINICA_EDB, "%s: %s: %s", minica_db_name(s->db), what, msg);
    }
}

/* The same for a write that step_guarded ran. */
static int guarded_error(struct minica_store *s, struct minica_err *err, const char *what)
{
    return write_error(s, s->failed_kind, s->failed_msg, err, what);
}

static int exec(struct minica_store *s, const char *sql, struct minica_err *err)
{
    if (minica_db_exec(s->db, sql, err) != 0)
        return db_error(s, err, "database error");
    return MINICA_OK;
}

static int begin(struct minica_store *s, struct minica_err *err)
{
    if (minica_db_begin(s->db, err) != 0)
        return db_error(s, err, "database error");
    return MINICA_OK;
}

/* A unit of work that is all or nothing whether or not the caller has a
 * transaction open: a savepoint nests inside the caller's, or else the
 * unit is a transaction of its own (PostgreSQL refuses a SAVEPOINT outside
 * one). unit_end ends it by ret: kept when 0, undone otherwise; it returns
 * ret, or the error of a failed commit. */
struct unit {
    const char *name;
    int own; /* began a transaction, rather than a savepoint */
};

static int unit_begin(struct minica_store *s, struct unit *u, const char *name,
                      struct minica_err *err)
{
    u->name = name;
    u->own = !minica_db_in_transaction(s->db);
    if (u->own)
        return begin(s, err);
    char sql[64];
    snprintf(sql, sizeof(sql), "SAVEPOINT %s", name);
    return exec(s, sql, err);
}

static int unit_end(struct minica_store *s, const struct unit *u, int ret, struct minica_err *err)
{
    if (u->own) {
        if (ret != 0) {
            minica_db_rollback(s->db);
            return ret;
        }
        if (minica_db_commit(s->db, err) != 0) {
            ret = db_error(s, err, "database error");
            minica_db_rollback(s->db);
        }
        return ret;
    }
    char sql[80];
    if (ret != 0) {
        snprintf(sql, sizeof(sql), "ROLLBACK TO %s", u->name);
        minica_db_exec(s->db, sql, NULL);
    }
    snprintf(sql, sizeof(sql), "RELEASE %s", u->name);
    int released = exec(s, sql, ret == 0 ? err : NULL);
    return ret != 0 ? ret : released;
}

/* Steps a write that may break a constraint, the caller to go on in its
 * transaction when it does (a taken key is an answer, not a failure).
 * PostgreSQL aborts the whole transaction at a failed statement: inside
 * one, the statement runs under a savepoint that the failure undoes
 * alone. SQLite undoes the failed statement only, by itself. */
static int step_guarded(struct minica_store *s, struct minica_db_stmt *st, struct minica_err *err)
{
    int guard = minica_db_kind(s->db) == MINICA_DB_POSTGRESQL && minica_db_in_transaction(s->db);
    int rc = guard ? minica_db_exec(s->db, "SAVEPOINT guarded", err) : 0;
    if (rc == 0)
        rc = minica_db_step(st, err);
    if (rc >= 0) {
        if (guard && minica_db_exec(s->db, "RELEASE guarded", err) != 0)
            rc = MINICA_EDB;
        else
            return rc;
    }
    /* The statement's own error, for the caller to classify. */
    s->failed_kind = minica_db_last_error(s->db);
    snprintf(s->failed_msg, sizeof(s->failed_msg), "%s", minica_db_errmsg(s->db));
    if (guard && s->failed_kind != MINICA_DB_UNAVAILABLE)
        minica_db_exec(s->db, "ROLLBACK TO guarded; RELEASE guarded", NULL);
    return rc;
}

static int schema_version(struct minica_store *s, int *version, struct minica_err *err)
{
    if (minica_db_schema_version(s->db, version, err) != 0)
        return db_error(s, err, "cannot read the schema version");
    return MINICA_OK;
}

static int migrate(struct minica_store *s, struct minica_err *err)
{
    int version;
    int ret = schema_version(s, &version, err);
    if (ret != 0)
        return ret;
    if (version == SCHEMA_VERSION)
        return MINICA_OK;
    if (version > SCHEMA_VERSION)
        return minica_seterr(err, MINICA_EDB,
                             "%s has schema version %d, newer than this minica understands (%d); "
                             "upgrade minica",
                             minica_db_name(s->db), version, SCHEMA_VERSION);
    int pg = minica_db_kind(s->db) == MINICA_DB_POSTGRESQL;
    if ((ret = begin(s, err)) != 0)
        return ret;
    /* SQLite's BEGIN IMMEDIATE took the one writer lock; PostgreSQL's BEGIN
     * takes none, and two replicas starting at once would both create the
     * tables. An advisory lock, held to the end of this transaction,
     * serializes them (the key is any constant of minica's: "minica" in
     * ASCII). */
    if (pg && (ret = exec(s, "SELECT pg_advisory_xact_lock(120299591394145)", err)) != 0)
        goto rollback;
    /* Another process may have migrated while we waited for the lock. */
    if ((ret = schema_version(s, &version, err)) != 0)
        goto rollback;
    for (; version < SCHEMA_VERSION; version++) {
        const struct migration *m = &migrations[version];
        if ((ret = exec(s, pg && m->postgresql != NULL ? m->postgresql : m->sqlite, err)) != 0)
            goto rollback;
        if (minica_db_set_schema_version(s->db, version + 1, err) != 0) {
            ret = db_error(s, err, "database error");
            goto rollback;
        }
    }
    if (minica_db_commit(s->db, err) != 0) {
        ret = db_error(s, err, "database error");
        goto rollback;
    }
    return MINICA_OK;
rollback:
    minica_db_rollback(s->db);
    return ret;
}

int minica_store_open(const char *path, struct minica_store **out, struct minica_err *err)
{
    *out = NULL;
    struct minica_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    /* The file's creation rules, WAL, durability and locking are the
     * driver's (db_sqlite.c). */
    int ret = minica_db_open(path, &s->db, err);
    if (ret == 0 && (ret = migrate(s, err)) != 0)
        minica_db_close(s->db);
    if (ret != 0) {
        free(s);
        return ret;
    }
    pthread_mutex_init(&s->sync_lock, NULL);
    pthread_cond_init(&s->sync_done_cond, NULL);
    *out = s;
    return MINICA_OK;
}

void minica_store_close(struct minica_store *store)
{
    if (store == NULL)
        return;
    for (size_t i = 0; i < sizeof(store->list_stmt) / sizeof(store->list_stmt[0]); i++)
        minica_db_finalize(store->list_stmt[i]);
    minica_db_finalize(store->name_stmt);
    minica_db_close(store->db);
    pthread_mutex_destroy(&store->sync_lock);
    pthread_cond_destroy(&store->sync_done_cond);
    free(store);
}

int minica_store_schema_version(struct minica_store *store)
{
    int v = -1;
    if (schema_version(store, &v, NULL) != 0)
        return -1;
    return v;
}

int minica_store_set_full_sync(struct minica_store *store, int full, struct minica_err *err)
{
    if (minica_db_set_durability(store->db, full, err) != 0)
        return db_error(store, err, "database error");
    return MINICA_OK;
}

int minica_store_defer_sync(struct minica_store *store, int on, struct minica_err *err)
{
    if (minica_db_kind(store->db) != MINICA_DB_SQLITE)
        return 0; /* its commits stay durable: nothing to share */
    if (minica_db_set_durability(store->db, !on, err) != 0)
        return db_error(store, err, "database error");
    return 1;
}

int minica_store_sync(struct minica_store *store, struct minica_err *err)
{
    pthread_mutex_lock(&store->sync_lock);
    /* A sync already running may have begun before this caller's commits
     * were written: only the next one to start is sure to cover them. All
     * who arrive while one runs share that next one. */
    uint64_t needed = store->syncs_started + 1;
    while (store->syncs_done < needed) {
        if (store->sync_running) {
            pthread_cond_wait(&store->sync_done_cond, &store->sync_lock);
            continue;
        }
        store->sync_running = 1;
        uint64_t mine = ++store->syncs_started;
        pthread_mutex_unlock(&store->sync_lock);
        struct minica_err serr;
        int failed = minica_db_sync(store->db, &serr) != 0;
        pthread_mutex_lock(&store->sync_lock);
        store->sync_running = 0;
        store->syncs_done = mine;
        if (failed) {
            store->sync_failed = mine;
            snprintf(store->sync_error, sizeof(store->sync_error), "%s", serr.msg);
        }
        pthread_cond_broadcast(&store->sync_done_cond);
    }
    int ret = MINICA_OK;
    if (store->sync_failed >= needed)
        ret = minica_seterr(err, MINICA_EDB, "%s", store->sync_error);
    pthread_mutex_unlock(&store->sync_lock);
    return ret;
}

int minica_store_begin(struct minica_store *store, struct minica_err *err)
{
    return begin(store, err);
}

int minica_store_commit(struct minica_store *store, struct minica_err *err)
{
    if (minica_db_commit(store->db, err) != 0) {
        int ret = db_error(store, err, "database error");
        minica_store_rollback(store);
        return ret;
    }
    return MINICA_OK;
}

/* How long a lost commit's outcome is asked for: a server restarting
 * (a fast stop and start) is back within about a second; longer would hold
 * serve's CA lock with every other request waiting. */
#define LOST_COMMIT_LOOKUPS 4
#define LOST_COMMIT_WAIT_MS 250

static int cert_recorded(struct minica_store *s, const char *serial, int *found,
                         struct minica_err *err)
{
    *found = 0;
    struct minica_db_stmt *st;
    if (minica_db_prepare(s->db, "SELECT 1 FROM certs WHERE serial = ?", &st, err) != 0)
        return db_error(s, err, "cannot look the certificate up");
    minica_db_bind_text(st, 1, serial);
    int rc = minica_db_step(st, err), ret = MINICA_OK;
    if (rc == MINICA_DB_ROW)
        *found = 1;
    else if (rc != MINICA_DB_DONE)
        ret = db_error(s, err, "cannot look the certificate up");
    minica_db_finalize(st);
    return ret;
}

int minica_store_commit_cert(struct minica_store *store, const char *serial, struct minica_err *err)
{
    if (minica_db_commit(store->db, err) == 0)
        return MINICA_OK;
    if (minica_db_last_error(store->db) != MINICA_DB_UNAVAILABLE) {
        int ret = db_error(store, err, "database error");
        minica_store_rollback(store);
        return ret;
    }
    /* The connection went while committing: the server may have committed
     * and lost only its answer. The certificate's serial (128 random bits)
     * names its row alone, so the row says which; issuing again would
     * make a second certificate and spend nothing twice. */
    char said[512];
    snprintf(said, sizeof(said), "%s", minica_db_errmsg(store->db));
    minica_store_rollback(store);
    int ret = MINICA_EUNAVAILABLE, found = 0;
    for (int i = 0; i < LOST_COMMIT_LOOKUPS && ret == MINICA_EUNAVAILABLE; i++) {
        if (i > 0) {
            struct timespec ts = {0, LOST_COMMIT_WAIT_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
        ret = cert_recorded(store, serial, &found, NULL);
    }
    if (ret == 0 && found)
        return MINICA_OK;
    if (ret == 0)
        return minica_seterr(err, MINICA_EUNAVAILABLE,
                             "%s cannot be reached (server said: %s): certificate %s was not "
                             "recorded; retry later",
                             minica_db_name(store->db), said, serial);
    return minica_seterr(err, MINICA_EUNAVAILABLE,
                         "%s cannot be reached (server said: %s): whether certificate %s was "
                         "recorded is unknown, so it is not handed out; retry later",
                         minica_db_name(store->db), said, serial);
}

void minica_store_rollback(struct minica_store *store)
{
    if (minica_db_in_transaction(store->db))
        minica_db_rollback(store->db);
}

enum minica_cert_status minica_cert_row_status(const struct minica_cert_row *row, int64_t now)
{
    if (row->revoked_at != 0)
        return MINICA_STATUS_REVOKED;
    if (row->not_after < now)
        return MINICA_STATUS_EXPIRED;
    return MINICA_STATUS_VALID;
}

const char *minica_cert_status_name(enum minica_cert_status status)
{
    switch (status) {
    case MINICA_STATUS_REVOKED:
        return "revoked";
    case MINICA_STATUS_EXPIRED:
        return "expired";
    default:
        return "valid";
    }
}

/* One cert_names row per distinct name: sans as minica writes it (NAME
 * first), plus name itself for a caller whose sans lacks it. */
static int insert_names(struct minica_store *s, const struct minica_cert_row *row,
                        struct minica_err *err)
{
    if (s->name_stmt == NULL &&
        minica_db_prepare(s->db, "INSERT INTO cert_names (serial, name) VALUES (?, ?)",
                          &s->name_stmt, err) != 0)
        return db_error(s, err, "cannot record the certificate's names");
    char list[MINICA_SANS_MAX + 258];
    snprintf(list, sizeof(list), "%s,%s", row->name, row->sans);
    const char *seen[MINICA_SANS_MAX / 2 + 2];
    size_t n_seen = 0;
    int ret = MINICA_OK;
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        size_t k = 0;
        while (k < n_seen && strcmp(seen[k], t) != 0)
            k++;
        if (k < n_seen)
            continue;
        seen[n_seen++] = t;
        minica_db_bind_text(s->name_stmt, 1, row->serial);
        minica_db_bind_text(s->name_stmt, 2, t);
        if (minica_db_step(s->name_stmt, err) != MINICA_DB_DONE)
            ret = db_error(s, err, "cannot record the certificate's names");
        minica_db_reset(s->name_stmt);
        if (ret != 0)
            break;
    }
    return ret;
}

int minica_store_insert_cert(struct minica_store *store, const struct minica_cert_row *row,
                             const char *pem, struct minica_err *err)
{
    static const char sql[] =
        "INSERT INTO certs (serial, name, sans, usage, key_type, not_before, not_after, "
        "issued_at, fingerprint_sha256, issuer_fingerprint_sha256, pem) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    /* The row and its names are one unit whether or not the caller has a
     * transaction open. */
    struct unit u;
    int ret = unit_begin(store, &u, "insert_cert", err);
    if (ret != 0)
        return ret;
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0) {
        ret = db_error(store, err, "cannot record the certificate");
        goto out;
    }
    minica_db_bind_text(st, 1, row->serial);
    minica_db_bind_text(st, 2, row->name);
    minica_db_bind_text(st, 3, row->sans);
    minica_db_bind_text(st, 4, row->usage);
    minica_db_bind_text(st, 5, row->key_type);
    minica_db_bind_int64(st, 6, row->not_before);
    minica_db_bind_int64(st, 7, row->not_after);
    minica_db_bind_int64(st, 8, row->issued_at);
    minica_db_bind_text(st, 9, row->fingerprint_sha256);
    minica_db_bind_text(st, 10, row->issuer_fingerprint_sha256);
    minica_db_bind_text(st, 11, pem);
    int rc = minica_db_step(st, err);
    if (rc < 0 && broke_constraint(store))
        ret =
            minica_seterr(err, MINICA_EEXIST, "serial %s is already in the inventory", row->serial);
    else if (rc != MINICA_DB_DONE)
        ret = db_error(store, err, "cannot record the certificate");
    minica_db_finalize(st);
    if (ret == 0)
        ret = insert_names(store, row, err);
out:
    return unit_end(store, &u, ret, err);
}

int minica_store_delete_cert(struct minica_store *store, const char *serial, struct minica_err *err)
{
    /* Both statements, not only the cascade: a backend or connection
     * without foreign keys must not keep names of a withdrawn certificate. */
    static const char *const sql[] = {
        "DELETE FROM cert_names WHERE serial = ?",
        "DELETE FROM certs WHERE serial = ?",
    };
    struct unit u;
    int ret = unit_begin(store, &u, "delete_cert", err);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]) && ret == 0; i++) {
        struct minica_db_stmt *st;
        if (minica_db_prepare(store->db, sql[i], &st, err) != 0) {
            ret = db_error(store, err, "cannot remove the certificate");
            break;
        }
        minica_db_bind_text(st, 1, serial);
        if (minica_db_step(st, err) != MINICA_DB_DONE)
            ret = db_error(store, err, "cannot remove the certificate");
        minica_db_finalize(st);
    }
    return unit_end(store, &u, ret, err);
}

static void copy_text(char *dst, size_t dstlen, struct minica_db_stmt *st, int col)
{
    const char *t = minica_db_column_text(st, col);
    snprintf(dst, dstlen, "%s", t ? t : "");
}

/* The statement for the filters in use. The WHERE clause names only those:
 * "(?1 IS NULL OR serial = ?1)" would hide the primary key from the planner
 * and turn every lookup (the agent makes one per managed certificate) into a
 * scan. A NAME is any of a certificate's names: one join through
 * cert_names' (name, serial) index, at most one row per certificate since
 * (serial, name) is its key. The placeholders are numbered in order of the
 * filters in use, as PostgreSQL cannot type a parameter the SQL never
 * names: list_bind binds them alike. */
static void list_sql(const struct minica_cert_filter *filter, const char *prefix, char *sql,
                     size_t size)
{
    snprintf(sql, size,
             "%sSELECT c.serial, c.name, c.sans, c.usage, c.key_type, c.not_before, c.not_after, "
             "c.issued_at, COALESCE(c.revoked_at, 0), COALESCE(c.revoke_reason, 0), "
             "c.fingerprint_sha256, c.issuer_fingerprint_sha256, %s FROM %s WHERE 1 = 1%s%s%s%s",
             prefix, filter->without_pem ? "NULL" : "c.pem",
             filter->name ? "cert_names n JOIN certs c ON c.serial = n.serial" : "certs c",
             filter->name ? " AND n.name = ?" : "", filter->serial ? " AND c.serial = ?" : "",
             filter->not_after_before ? " AND c.not_after < ?" : "",
             filter->any_order ? "" : " ORDER BY c.not_after, c.serial");
}

static void list_bind(struct minica_db_stmt *st, const struct minica_cert_filter *filter)
{
    int i = 1;
    if (filter->name)
        minica_db_bind_text(st, i++, filter->name);
    if (filter->serial)
        minica_db_bind_text(st, i++, filter->serial);
    if (filter->not_after_before)
        minica_db_bind_int64(st, i, filter->not_after_before);
}

int minica_store_list_plan(struct minica_store *store, const struct minica_cert_filter *filter,
                           char *out, size_t outlen, struct minica_err *err)
{
    /* EXPLAIN QUERY PLAN and its detail column are SQLite's. */
    if (minica_db_kind(store->db) != MINICA_DB_SQLITE)
        return minica_seterr(err, MINICA_EINVAL, "%s: query plans are shown for SQLite only",
                             minica_db_name(store->db));
    char sql[1024];
    list_sql(filter, "EXPLAIN QUERY PLAN ", sql, sizeof(sql));
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot explain the inventory query");
    out[0] = '\0';
    int rc;
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        const char *detail = minica_db_column_text(st, 3);
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s\n", detail ? detail : "");
    }
    int ret = rc == MINICA_DB_DONE ? MINICA_OK
                                   : db_error(store, err, "cannot explain the inventory query");
    minica_db_finalize(st);
    return ret;
}

/* Per name, when its newest valid certificate began: a valid one that
 * began earlier is superseded. Over the whole inventory, not the rows the
 * filters keep (--expiring would hide the renewal that supersedes one):
 * one grouped pass into a sorted array, since a probe per row made list
 * of 200,000 rows five times slower. */
struct newest_valid {
    const char *name;
    int64_t not_before;
};

static int newest_cmp(const void *a, const void *b)
{
    return strcmp(((const struct newest_valid *)a)->name, ((const struct newest_valid *)b)->name);
}

static void newest_valid_free(struct newest_valid *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)v[i].name);
    free(v);
}

static int newest_valid_load(struct minica_store *store, int64_t now, struct newest_valid **out,
                             size_t *n_out, struct minica_err *err)
{
    static const char sql[] = "SELECT name, MAX(not_before) FROM certs "
                              "WHERE revoked_at IS NULL AND not_after >= ? GROUP BY name";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot read the inventory");
    minica_db_bind_int64(st, 1, now);
    struct newest_valid *v = NULL;
    size_t n = 0, cap = 0;
    int ret = MINICA_OK, rc;
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        struct newest_valid *grown = minica_array_grow(v, &cap, n, sizeof(*v), 64);
        const char *name = minica_db_column_text(st, 0);
        char *copy = grown != NULL ? strdup(name ? name : "") : NULL;
        if (grown != NULL)
            v = grown;
        if (copy == NULL) {
            ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
            break;
        }
        v[n].name = copy;
        v[n++].not_before = minica_db_column_int64(st, 1);
    }
    if (ret == 0 && rc != MINICA_DB_DONE)
        ret = db_error(store, err, "cannot read the inventory");
    minica_db_finalize(st);
    if (ret != 0) {
        newest_valid_free(v, n);
        return ret;
    }
    /* Sorted here, by bytes: the two backends' collations differ. */
    if (n > 1)
        qsort(v, n, sizeof(*v), newest_cmp);
    *out = v;
    *n_out = n;
    return MINICA_OK;
}

int minica_store_list_certs(struct minica_store *store, const struct minica_cert_filter *filter,
                            minica_cert_cb cb, void *ctx, struct minica_err *err)
{
    /* Status is derived from time, so it is filtered here rather than in SQL. */
    unsigned variant = (filter->name ? 1u : 0u) | (filter->serial ? 2u : 0u) |
                       (filter->not_after_before ? 4u : 0u) | (filter->without_pem ? 8u : 0u) |
                       (filter->any_order ? 16u : 0u);
    struct minica_db_stmt *st = store->list_stmt[variant];
    if (st == NULL) {
        char sql[1024];
        list_sql(filter, "", sql, sizeof(sql));
        if (minica_db_prepare(store->db, sql, &st, err) != 0)
            return db_error(store, err, "cannot read the inventory");
        store->list_stmt[variant] = st;
    }
    unsigned mask = filter->status_mask ? filter->status_mask : MINICA_STATUS_ALL;
    int64_t now = filter->now ? filter->now : minica_now();
    int ret = MINICA_OK;
    int rc;
    struct newest_valid *newest = NULL;
    size_t n_newest = 0;
    if (filter->mark_superseded &&
        (ret = newest_valid_load(store, now, &newest, &n_newest, err)) != 0)
        return ret;
    list_bind(st, filter);
    struct minica_cert_row *row = malloc(sizeof(*row));
    if (row == NULL) {
        newest_valid_free(newest, n_newest);
        minica_db_reset(st);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        memset(row, 0, sizeof(*row));
        copy_text(row->serial, sizeof(row->serial), st, 0);
        copy_text(row->name, sizeof(row->name), st, 1);
        copy_text(row->sans, sizeof(row->sans), st, 2);
        copy_text(row->usage, sizeof(row->usage), st, 3);
        copy_text(row->key_type, sizeof(row->key_type), st, 4);
        row->not_before = minica_db_column_int64(st, 5);
        row->not_after = minica_db_column_int64(st, 6);
        row->issued_at = minica_db_column_int64(st, 7);
        row->revoked_at = minica_db_column_int64(st, 8);
        row->revoke_reason = (int)minica_db_column_int64(st, 9);
        copy_text(row->fingerprint_sha256, sizeof(row->fingerprint_sha256), st, 10);
        copy_text(row->issuer_fingerprint_sha256, sizeof(row->issuer_fingerprint_sha256), st, 11);
        row->pem = minica_db_column_text(st, 12);
        if (!(minica_cert_row_status(row, now) & mask))
            continue;
        if (newest != NULL) {
            struct newest_valid key = {row->name, 0};
            const struct newest_valid *n =
                bsearch(&key, newest, n_newest, sizeof(*newest), newest_cmp);
            row->superseded = minica_cert_row_status(row, now) == MINICA_STATUS_VALID &&
                              n != NULL && row->not_before < n->not_before;
        }
        if ((ret = cb(row, ctx)) != 0)
            break;
    }
    if (ret == 0 && rc != MINICA_DB_DONE && rc != MINICA_DB_ROW)
        ret = db_error(store, err, "cannot read the inventory");
    free(row);
    newest_valid_free(newest, n_newest);
    minica_db_reset(st);
    return ret;
}

/* Whatever a revocation changes, the published CRLs no longer say. */
static int drop_published_crls(struct minica_store *store, struct minica_err *err)
{
    return exec(store, "DELETE FROM published_crls", err);
}

int minica_store_revoke(struct minica_store *store, const char *serial, int64_t when, int reason,
                        struct minica_err *err)
{
    struct minica_db_stmt *st;
    static const char sql[] = "UPDATE certs SET revoked_at = ?, revoke_reason = ? "
                              "WHERE serial = ? AND revoked_at IS NULL";
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot revoke");
    minica_db_bind_int64(st, 1, when);
    minica_db_bind_int64(st, 2, reason);
    minica_db_bind_text(st, 3, serial);
    int ret = minica_db_step(st, err) == MINICA_DB_DONE ? MINICA_OK
                                                        : db_error(store, err, "cannot revoke");
    minica_db_finalize(st);
    return ret == 0 ? drop_published_crls(store, err) : ret;
}

int minica_store_issuer_stats(struct minica_store *store, int64_t now, minica_issuer_stats_cb cb,
                              void *ctx, struct minica_err *err)
{
    static const char sql[] =
        "SELECT issuer_fingerprint_sha256, COUNT(*), MAX(not_after), "
        "SUM(CASE WHEN revoked_at IS NULL THEN 0 ELSE 1 END) FROM certs "
        "WHERE not_after > ? GROUP BY issuer_fingerprint_sha256 ORDER BY issuer_fingerprint_sha256";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot read the inventory");
    minica_db_bind_int64(st, 1, now);
    int ret = MINICA_OK, rc;
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        struct minica_issuer_stats row;
        memset(&row, 0, sizeof(row));
        copy_text(row.issuer_fingerprint_sha256, sizeof(row.issuer_fingerprint_sha256), st, 0);
        row.unexpired = minica_db_column_int64(st, 1);
        row.last_not_after = minica_db_column_int64(st, 2);
        row.unexpired_revoked = minica_db_column_int64(st, 3);
        if ((ret = cb(&row, ctx)) != 0)
            break;
    }
    if (ret == 0 && rc != MINICA_DB_DONE && rc != MINICA_DB_ROW)
        ret = db_error(store, err, "cannot read the inventory");
    minica_db_finalize(st);
    return ret;
}

int minica_store_names_not_issued_by(struct minica_store *store, int64_t now,
                                     const char *const *issuers, size_t n_issuers,
                                     minica_name_cb cb, void *ctx, struct minica_err *err)
{
    /* Names with a live certificate but none live from these issuers. One
     * placeholder per issuer: a CA has a handful of intermediates. */
    if (n_issuers == 0 || n_issuers > 64)
        return minica_seterr(err, MINICA_EINVAL, "between 1 and 64 issuers, not %zu", n_issuers);
    char sql[1024 + 64 * 3];
    int len = snprintf(sql, sizeof(sql),
                       "SELECT DISTINCT name FROM certs WHERE not_after > ?1 AND revoked_at IS "
                       "NULL AND name NOT IN (SELECT name FROM certs WHERE not_after > ?1 AND "
                       "revoked_at IS NULL AND issuer_fingerprint_sha256 IN (?2");
    for (size_t i = 1; i < n_issuers; i++)
        len += snprintf(sql + len, sizeof(sql) - (size_t)len, ", ?%zu", i + 2);
    snprintf(sql + len, sizeof(sql) - (size_t)len, ")) ORDER BY name");
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot read the inventory");
    minica_db_bind_int64(st, 1, now);
    for (size_t i = 0; i < n_issuers; i++)
        minica_db_bind_text(st, (int)i + 2, issuers[i]);
    int ret = MINICA_OK, rc;
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        if ((ret = cb(minica_db_column_text(st, 0), ctx)) != 0)
            break;
    }
    if (ret == 0 && rc != MINICA_DB_DONE && rc != MINICA_DB_ROW)
        ret = db_error(store, err, "cannot read the inventory");
    minica_db_finalize(st);
    return ret;
}

int minica_store_revoke_ca(struct minica_store *store, const struct minica_ca_revocation *row,
                           struct minica_err *err)
{
    static const char sql[] =
        "INSERT INTO ca_revocations (serial, fingerprint_sha256, issuer_fingerprint_sha256, "
        "revoked_at, reason) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot revoke");
    minica_db_bind_text(st, 1, row->serial);
    minica_db_bind_text(st, 2, row->fingerprint_sha256);
    minica_db_bind_text(st, 3, row->issuer_fingerprint_sha256);
    minica_db_bind_int64(st, 4, row->revoked_at);
    minica_db_bind_int64(st, 5, row->reason);
    int ret = minica_db_step(st, err) == MINICA_DB_DONE ? MINICA_OK
                                                        : db_error(store, err, "cannot revoke");
    minica_db_finalize(st);
    return ret == 0 ? drop_published_crls(store, err) : ret;
}

int minica_store_list_ca_revocations(struct minica_store *store, minica_ca_revocation_cb cb,
                                     void *ctx, struct minica_err *err)
{
    static const char sql[] = "SELECT serial, fingerprint_sha256, issuer_fingerprint_sha256, "
                              "revoked_at, reason FROM ca_revocations ORDER BY revoked_at, serial";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot read the CA revocations");
    int ret = MINICA_OK, rc;
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        struct minica_ca_revocation row;
        memset(&row, 0, sizeof(row));
        copy_text(row.serial, sizeof(row.serial), st, 0);
        copy_text(row.fingerprint_sha256, sizeof(row.fingerprint_sha256), st, 1);
        copy_text(row.issuer_fingerprint_sha256, sizeof(row.issuer_fingerprint_sha256), st, 2);
        row.revoked_at = minica_db_column_int64(st, 3);
        row.reason = (int)minica_db_column_int64(st, 4);
        if ((ret = cb(&row, ctx)) != 0)
            break;
    }
    if (ret == 0 && rc != MINICA_DB_DONE && rc != MINICA_DB_ROW)
        ret = db_error(store, err, "cannot read the CA revocations");
    minica_db_finalize(st);
    return ret;
}

/* One statement: the counter's row is locked from this UPDATE to the end
 * of the transaction (SQLite's writer lock; PostgreSQL's row lock, which
 * a second replica's UPDATE waits on, then reads the committed value), so
 * numbers only grow, across processes and replicas. A sequence would
 * give the same without the wait, but leave gaps at every rollback and
 * need one per issuer; CRLs are rare enough to queue. counters.value: in
 * PostgreSQL a bare "value" could also be EXCLUDED's. */
int minica_store_next_crl_number(struct minica_store *store, const char *issuer, int64_t *number,
                                 struct minica_err *err)
{
    static const char sql[] =
        "INSERT INTO counters (name, value) VALUES (?1, 1) "
        "ON CONFLICT(name) DO UPDATE SET value = counters.value + 1 RETURNING value";
    char name[64];
    snprintf(name, sizeof(name), "crl_number_%s", issuer);
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot allocate a CRL number");
    minica_db_bind_text(st, 1, name);
    int ret = MINICA_OK;
    if (minica_db_step(st, err) == MINICA_DB_ROW)
        *number = minica_db_column_int64(st, 0);
    else
        ret = db_error(store, err, "cannot allocate a CRL number");
    minica_db_finalize(st);
    return ret;
}

int minica_store_lock_published_crls(struct minica_store *store, struct minica_err *err)
{
    if (!minica_db_in_transaction(store->db))
        return minica_seterr(err, MINICA_EINVAL, "the published CRLs are locked in a transaction");
    /* SQLite's BEGIN IMMEDIATE holds the one writer lock already. On
     * PostgreSQL, a lock of its own until the transaction ends ("minica"
     * + 1, beside the migrations' key). */
    if (minica_db_kind(store->db) != MINICA_DB_POSTGRESQL)
        return MINICA_OK;
    return exec(store, "SELECT pg_advisory_xact_lock(120299591394146)", err);
}

void minica_published_crl_free(struct minica_published_crl *row)
{
    free(row->pem);
    row->pem = NULL;
}

int minica_store_get_published_crl(struct minica_store *store, const char *issuer_serial,
                                   struct minica_published_crl *out, struct minica_err *err)
{
    static const char sql[] = "SELECT crl_number, this_update, next_update, revoked, pem "
                              "FROM published_crls WHERE issuer_serial = ?";
    memset(out, 0, sizeof(*out));
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot read the published CRLs");
    minica_db_bind_text(st, 1, issuer_serial);
    int ret, rc = minica_db_step(st, err);
    if (rc == MINICA_DB_ROW) {
        snprintf(out->issuer_serial, sizeof(out->issuer_serial), "%s", issuer_serial);
        out->number = minica_db_column_int64(st, 0);
        out->this_update = minica_db_column_int64(st, 1);
        out->next_update = minica_db_column_int64(st, 2);
        out->revoked = minica_db_column_int64(st, 3);
        const char *pem = minica_db_column_text(st, 4);
        out->pem = strdup(pem != NULL ? pem : "");
        ret = out->pem != NULL ? MINICA_OK : minica_seterr(err, MINICA_ENOMEM, "out of memory");
    } else if (rc == MINICA_DB_DONE) {
        ret = minica_seterr(err, MINICA_ENOENT, "no published CRL of %s", issuer_serial);
    } else {
        ret = db_error(store, err, "cannot read the published CRLs");
    }
    minica_db_finalize(st);
    return ret;
}

int minica_store_replace_published_crls(struct minica_store *store,
                                        const struct minica_published_crl *rows, size_t n,
                                        struct minica_err *err)
{
    static const char sql[] = "INSERT INTO published_crls (issuer_serial, crl_number, "
                              "this_update, next_update, revoked, pem) VALUES (?, ?, ?, ?, ?, ?)";
    struct unit u;
    int ret = unit_begin(store, &u, "published_crls", err);
    if (ret != 0)
        return ret;
    if ((ret = drop_published_crls(store, err)) != 0)
        return unit_end(store, &u, ret, err);
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return unit_end(store, &u, db_error(store, err, "cannot publish the CRLs"), err);
    for (size_t i = 0; i < n && ret == 0; i++) {
        minica_db_reset(st);
        minica_db_bind_text(st, 1, rows[i].issuer_serial);
        minica_db_bind_int64(st, 2, rows[i].number);
        minica_db_bind_int64(st, 3, rows[i].this_update);
        minica_db_bind_int64(st, 4, rows[i].next_update);
        minica_db_bind_int64(st, 5, rows[i].revoked);
        minica_db_bind_text(st, 6, rows[i].pem);
        if (minica_db_step(st, err) != MINICA_DB_DONE)
            ret = db_error(store, err, "cannot publish the CRLs");
    }
    minica_db_finalize(st);
    return unit_end(store, &u, ret, err);
}

/* The insert decides, as for a spent nonce: of concurrent first calls
 * (replicas starting at once) exactly one adds its row, ON CONFLICT DO
 * NOTHING making the others wait for that commit and add nothing; the
 * read then sees the one row, whoever wrote it. */
int minica_store_secret(struct minica_store *store, const char *name, const char *fresh,
                        int64_t now, char *out, size_t out_size, struct minica_err *err)
{
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db,
                          "INSERT INTO serve_secrets (name, secret, created_at) VALUES (?, ?, ?) "
                          "ON CONFLICT DO NOTHING",
                          &st, err) != 0)
        return db_error(store, err, "cannot store a secret");
    minica_db_bind_text(st, 1, name);
    minica_db_bind_text(st, 2, fresh);
    minica_db_bind_int64(st, 3, now);
    int ret = step_guarded(store, st, err) == MINICA_DB_DONE
                  ? MINICA_OK
                  : guarded_error(store, err, "cannot store a secret");
    minica_db_finalize(st);
    if (ret != 0)
        return ret;
    if (minica_db_prepare(store->db, "SELECT secret FROM serve_secrets WHERE name = ?", &st, err) !=
        0)
        return db_error(store, err, "cannot read a secret");
    minica_db_bind_text(st, 1, name);
    int rc = minica_db_step(st, err);
    if (rc == MINICA_DB_ROW) {
        const char *secret = minica_db_column_text(st, 0);
        if (secret == NULL || strlen(secret) >= out_size)
            ret = minica_seterr(err, MINICA_EINVAL, "%s: secret '%s' is longer than expected",
                                minica_db_name(store->db), name);
        else
            memcpy(out, secret, strlen(secret) + 1);
    } else if (rc == MINICA_DB_DONE) {
        /* Only a concurrent DELETE could do this: none of minica's. */
        ret = minica_seterr(err, MINICA_EDB, "%s: secret '%s' vanished as it was made",
                            minica_db_name(store->db), name);
    } else {
        ret = db_error(store, err, "cannot read a secret");
    }
    minica_db_finalize(st);
    return ret;
}

int minica_store_audit(struct minica_store *store, const char *command, const char *summary,
                       struct minica_err *err)
{
    if (store->user[0] == '\0') {
        struct passwd pw, *res = NULL;
        char pwbuf[1024];
        store->uid = getuid();
        if (getpwuid_r(store->uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res != NULL)
            snprintf(store->user, sizeof(store->user), "%s", res->pw_name);
        else
            snprintf(store->user, sizeof(store->user), "%u", (unsigned)store->uid);
    }

    /* Escaped here, where every row passes: a summary may quote client
     * text (a CSR's common name), and a raw newline or ESC in it would
     * print as a forged row or a terminal command in `minica log`. */
    char user[4 * sizeof(store->user)], cmd[256];
    minica_escape_text(store->user, user, sizeof(user));
    minica_escape_text(command, cmd, sizeof(cmd));
    size_t need = minica_escape_text(summary, NULL, 0);
    char *text = malloc(need + 1);
    if (text == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    minica_escape_text(summary, text, need + 1);

    struct minica_db_stmt *st;
    static const char sql[] =
        "INSERT INTO audit (time, uid, \"user\", command, summary) VALUES (?, ?, ?, ?, ?)";
    int ret = MINICA_OK;
    if (minica_db_prepare(store->db, sql, &st, err) != 0) {
        free(text);
        return db_error(store, err, "cannot write the audit log");
    }
    minica_db_bind_int64(st, 1, minica_now());
    minica_db_bind_int64(st, 2, (int64_t)store->uid);
    minica_db_bind_text(st, 3, user);
    minica_db_bind_text(st, 4, cmd);
    minica_db_bind_text(st, 5, text);
    if (minica_db_step(st, err) != MINICA_DB_DONE)
        ret = db_error(store, err, "cannot write the audit log");
    minica_db_finalize(st);
    free(text);
    return ret;
}

int minica_store_list_audit(struct minica_store *store, int64_t since, minica_audit_cb cb,
                            void *ctx, struct minica_err *err)
{
    static const char sql[] = "SELECT id, time, uid, \"user\", command, summary FROM audit "
                              "WHERE time >= ? ORDER BY id";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot read the audit log");
    minica_db_bind_int64(st, 1, since);
    int rc, ret = MINICA_OK;
    struct minica_audit_row row;
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        memset(&row, 0, sizeof(row));
        row.id = minica_db_column_int64(st, 0);
        row.time = minica_db_column_int64(st, 1);
        row.uid = minica_db_column_int64(st, 2);
        copy_text(row.user, sizeof(row.user), st, 3);
        copy_text(row.command, sizeof(row.command), st, 4);
        const char *summary = minica_db_column_text(st, 5);
        row.summary = summary != NULL ? summary : "";
        if ((ret = cb(&row, ctx)) != 0)
            break;
    }
    if (ret == 0 && rc != MINICA_DB_DONE && rc != MINICA_DB_ROW)
        ret = db_error(store, err, "cannot read the audit log");
    minica_db_finalize(st);
    return ret;
}

int minica_serial_normalize(const char *text, char *out, size_t outlen, struct minica_err *err)
{
    char hex[128];
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p == ':')
            continue;
        if (!isxdigit((unsigned char)*p) || n + 1 >= sizeof(hex))
            return minica_seterr(err, MINICA_EINVAL, "invalid serial '%s'", text);
        hex[n++] = (char)tolower((unsigned char)*p);
    }
    hex[n] = '\0';
    if (n == 0)
        return minica_seterr(err, MINICA_EINVAL, "invalid serial '%s'", text);
    const char *h = hex;
    /* Same form as minica_serial_to_hex: whole bytes, leading zero bytes dropped. */
    char padded[130];
    if (n % 2) {
        snprintf(padded, sizeof(padded), "0%s", hex);
        h = padded;
    }
    while (strlen(h) > 2 && h[0] == '0' && h[1] == '0')
        h += 2;
    if (strlen(h) + 1 > outlen)
        return minica_seterr(err, MINICA_EINVAL, "invalid serial '%s': too long", text);
    memcpy(out, h, strlen(h) + 1);
    return MINICA_OK;
}

/* Enrollment tokens (see token.h). */

static void token_row_from(struct minica_db_stmt *st, struct minica_token_row *row)
{
    memset(row, 0, sizeof(*row));
    copy_text(row->id, sizeof(row->id), st, 0);
    copy_text(row->secret_sha256, sizeof(row->secret_sha256), st, 1);
    copy_text(row->name, sizeof(row->name), st, 2);
    copy_text(row->sans, sizeof(row->sans), st, 3);
    copy_text(row->usage, sizeof(row->usage), st, 4);
    row->ttl = minica_db_column_int64(st, 5);
    row->created_at = minica_db_column_int64(st, 6);
    row->expires_at = minica_db_column_int64(st, 7);
    row->used_at = minica_db_column_int64(st, 8);
    row->revoked_at = minica_db_column_int64(st, 9);
    copy_text(row->used_by, sizeof(row->used_by), st, 10);
}

#define TOKEN_COLUMNS                                                                              \
    "id, secret_sha256, name, sans, usage, ttl, created_at, expires_at, COALESCE(used_at, 0), "    \
    "COALESCE(revoked_at, 0), COALESCE(used_by, '')"

int minica_store_insert_token(struct minica_store *store, const struct minica_token_row *row,
                              struct minica_err *err)
{
    static const char sql[] = "INSERT INTO tokens (id, secret_sha256, name, sans, usage, ttl, "
                              "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot record the token");
    minica_db_bind_text(st, 1, row->id);
    minica_db_bind_text(st, 2, row->secret_sha256);
    minica_db_bind_text(st, 3, row->name);
    minica_db_bind_text(st, 4, row->sans);
    minica_db_bind_text(st, 5, row->usage);
    minica_db_bind_int64(st, 6, row->ttl);
    minica_db_bind_int64(st, 7, row->created_at);
    minica_db_bind_int64(st, 8, row->expires_at);
    int rc = step_guarded(store, st, err);
    int ret = MINICA_OK;
    if (rc < 0 &&
        (store->failed_kind == MINICA_DB_UNIQUE || store->failed_kind == MINICA_DB_FOREIGN_KEY ||
         store->failed_kind == MINICA_DB_CHECK))
        ret = minica_seterr(err, MINICA_EEXIST, "token id %s is already taken", row->id);
    else if (rc != MINICA_DB_DONE)
        ret = guarded_error(store, err, "cannot record the token");
    minica_db_finalize(st);
    return ret;
}

int minica_store_get_token(struct minica_store *store, const char *id, struct minica_token_row *row,
                           struct minica_err *err)
{
    static const char sql[] = "SELECT " TOKEN_COLUMNS " FROM tokens WHERE id = ?";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot read the tokens");
    minica_db_bind_text(st, 1, id);
    int rc = minica_db_step(st, err);
    int ret = MINICA_OK;
    if (rc == MINICA_DB_ROW)
        token_row_from(st, row);
    else if (rc == MINICA_DB_DONE)
        ret = minica_seterr(err, MINICA_ENOENT, "no token with id %s", id);
    else
        ret = db_error(store, err, "cannot read the tokens");
    minica_db_finalize(st);
    return ret;
}

int minica_store_list_tokens(struct minica_store *store, minica_token_cb cb, void *ctx,
                             struct minica_err *err)
{
    static const char sql[] = "SELECT " TOKEN_COLUMNS " FROM tokens ORDER BY created_at, id";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot read the tokens");
    int rc, ret = MINICA_OK;
    struct minica_token_row row;
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        token_row_from(st, &row);
        if ((ret = cb(&row, ctx)) != 0)
            break;
    }
    if (ret == 0 && rc != MINICA_DB_DONE && rc != MINICA_DB_ROW)
        ret = db_error(store, err, "cannot read the tokens");
    minica_db_finalize(st);
    return ret;
}

/* One statement decides: of any number of concurrent uses (threads,
 * processes, replicas), exactly one sees changes() == 1. SQLite's writer
 * lock runs them one at a time; on PostgreSQL the others wait on the row's
 * lock and, READ COMMITTED, test the WHERE again on the committed row, now
 * used. Run inside the transaction that records the certificate, so the
 * token, the certificate and its audit row are committed together or not
 * at all. */
int minica_store_use_token(struct minica_store *store, const char *id, const char *secret_sha256,
                           int64_t now, const char *used_by, struct minica_err *err)
{
    static const char sql[] =
        "UPDATE tokens SET used_at = ?1, used_by = ?4 WHERE id = ?2 AND secret_sha256 = ?3 "
        "AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?1";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot use the token");
    minica_db_bind_int64(st, 1, now);
    minica_db_bind_text(st, 2, id);
    minica_db_bind_text(st, 3, secret_sha256);
    minica_db_bind_text(st, 4, used_by);
    int ret = MINICA_OK;
    if (minica_db_step(st, err) != MINICA_DB_DONE)
        ret = db_error(store, err, "cannot use the token");
    else if (minica_db_changes(st) != 1)
        ret = minica_seterr(err, MINICA_EFORBIDDEN, "the token is not valid any more");
    minica_db_finalize(st);
    return ret;
}

int minica_store_revoke_token(struct minica_store *store, const char *id, int64_t when,
                              struct minica_err *err)
{
    static const char sql[] =
        "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot revoke the token");
    minica_db_bind_int64(st, 1, when);
    minica_db_bind_text(st, 2, id);
    int ret = MINICA_OK;
    if (minica_db_step(st, err) != MINICA_DB_DONE)
        ret = db_error(store, err, "cannot revoke the token");
    else if (minica_db_changes(st) != 1)
        ret = minica_seterr(err, MINICA_ENOENT, "no token with id %s", id);
    minica_db_finalize(st);
    return ret;
}

/* ACME (store_acme.h). Every status change is one UPDATE ... WHERE status
 * = expected: SQLite's writer lock (PostgreSQL's row lock) lets exactly one
 * of concurrent callers see its row change, whatever connection or host
 * each runs on. */

/* acme_write_error: write_error for the driver's last error. */
static int acme_write_error(struct minica_store *s, struct minica_err *err, const char *what)
{
    enum minica_db_error kind = minica_db_last_error(s->db);
    if (kind != MINICA_DB_UNIQUE && kind != MINICA_DB_CHECK && kind != MINICA_DB_FOREIGN_KEY)
        return db_error(s, err, what);
    return write_error(s, kind, minica_db_errmsg(s->db), err, what);
}

/* A value given as a string must fit the row field it is read back into:
 * a JWK or a problem document cut short would be read back as broken JSON. */
static int acme_fits(const char *text, size_t size, const char *what, struct minica_err *err)
{
    if (text != NULL && strlen(text) >= size)
        return minica_seterr(err, MINICA_EINVAL, "%s is longer than %zu bytes", what, size - 1);
    return MINICA_OK;
}

static void bind_opt_text(struct minica_db_stmt *st, int i, const char *text)
{
    if (text != NULL && text[0] != '\0')
        minica_db_bind_text(st, i, text);
    else
        minica_db_bind_null(st, i);
}

static void bind_opt_int64(struct minica_db_stmt *st, int i, int64_t v)
{
    if (v != 0)
        minica_db_bind_int64(st, i, v);
    else
        minica_db_bind_null(st, i);
}

/* Runs a prepared write of one row and finalizes it; changed (may be
 * NULL) gets the rows it changed. */
static int acme_step_write(struct minica_store *s, struct minica_db_stmt *st, int64_t *changed,
                           struct minica_err *err, const char *what)
{
    int ret = step_guarded(s, st, err) == MINICA_DB_DONE ? MINICA_OK : guarded_error(s, err, what);
    if (ret == 0 && changed != NULL)
        *changed = minica_db_changes(st);
    minica_db_finalize(st);
    return ret;
}

/* After a conditional UPDATE of table's row id changed nothing: was there
 * no such row (ENOENT), or was it not in the expected state (EBUSY)? Read
 * after the fact, for the message only: the UPDATE alone decided. */
static int acme_unchanged(struct minica_store *s, const char *table, const char *what,
                          const char *id, struct minica_err *err)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT status FROM %s WHERE id = ?", table);
    struct minica_db_stmt *st;
    if (minica_db_prepare(s->db, sql, &st, err) != 0)
        return db_error(s, err, what);
    minica_db_bind_text(st, 1, id);
    int rc = minica_db_step(st, err), ret;
    if (rc == MINICA_DB_ROW)
        ret = minica_seterr(err, MINICA_EBUSY, "%s: %s is %s now", what, id,
                            minica_db_column_text(st, 0));
    else if (rc == MINICA_DB_DONE)
        ret = minica_seterr(err, MINICA_ENOENT, "%s: no %s", what, id);
    else
        ret = db_error(s, err, what);
    minica_db_finalize(st);
    return ret;
}

/* Steps a conditional UPDATE of one row of table and finalizes it. */
static int acme_step_transition(struct minica_store *s, struct minica_db_stmt *st,
                                const char *table, const char *id, const char *what,
                                struct minica_err *err)
{
    if (step_guarded(s, st, err) != MINICA_DB_DONE) {
        int ret = guarded_error(s, err, what);
        minica_db_finalize(st);
        return ret;
    }
    int64_t changed = minica_db_changes(st);
    minica_db_finalize(st);
    return changed == 1 ? MINICA_OK : acme_unchanged(s, table, what, id, err);
}

/* The primary key decides: of any number of concurrent spends of one
 * value (threads, processes, replicas on one database), exactly one insert
 * adds the row; the others wait for it and add nothing (ON CONFLICT DO
 * NOTHING rather than a failed INSERT, which would abort a PostgreSQL
 * caller's transaction), and see no change. */
int minica_store_acme_nonce_spend(struct minica_store *store, const char *value, int64_t expires_at,
                                  struct minica_err *err)
{
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db,
                          "INSERT INTO acme_nonces (value, expires_at) VALUES (?, ?) "
                          "ON CONFLICT DO NOTHING",
                          &st, err) != 0)
        return db_error(store, err, "cannot spend the nonce");
    minica_db_bind_text(st, 1, value);
    minica_db_bind_int64(st, 2, expires_at);
    int64_t inserted = 0;
    int ret = acme_step_write(store, st, &inserted, err, "cannot spend the nonce");
    if (ret == 0 && inserted != 1)
        return minica_seterr(err, MINICA_EFORBIDDEN, "the nonce was already used");
    return ret;
}

static int acme_sweep(struct minica_store *s, const char *sql, int64_t now, int64_t *swept,
                      const char *what, struct minica_err *err)
{
    struct minica_db_stmt *st;
    if (minica_db_prepare(s->db, sql, &st, err) != 0)
        return db_error(s, err, what);
    minica_db_bind_int64(st, 1, now);
    int ret = MINICA_OK;
    if (minica_db_step(st, err) != MINICA_DB_DONE)
        ret = db_error(s, err, what);
    else if (swept != NULL)
        *swept = minica_db_changes(st);
    minica_db_finalize(st);
    return ret;
}

int minica_store_acme_nonce_sweep(struct minica_store *store, int64_t now, int64_t *swept,
                                  struct minica_err *err)
{
    return acme_sweep(store, "DELETE FROM acme_nonces WHERE expires_at <= ?", now, swept,
                      "cannot sweep the nonces", err);
}

#define ACME_ACCOUNT_COLUMNS                                                                       \
    "id, thumbprint, jwk, status, COALESCE(contact, ''), COALESCE(eab_kid, ''), created_at"

static int acme_account_insert_row(struct minica_store *store,
                                   const struct minica_acme_account *row, struct minica_err *err)
{
    static const char sql[] = "INSERT INTO acme_accounts (id, thumbprint, jwk, status, contact, "
                              "eab_kid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot record the ACME account");
    minica_db_bind_text(st, 1, row->id);
    minica_db_bind_text(st, 2, row->thumbprint);
    minica_db_bind_text(st, 3, row->jwk);
    minica_db_bind_text(st, 4, row->status);
    bind_opt_text(st, 5, row->contact);
    bind_opt_text(st, 6, row->eab_kid);
    minica_db_bind_int64(st, 7, row->created_at);
    return acme_step_write(store, st, NULL, err, "cannot record the ACME account");
}

/* One conditional UPDATE: of concurrent first uses of a key, one binds. */
static int acme_eab_bind(struct minica_store *store, const char *kid, const char *account_id,
                         int64_t now, struct minica_err *err)
{
    static const char sql[] = "UPDATE acme_eab_keys SET account_id = ?2 WHERE kid = ?1 AND "
                              "account_id IS NULL AND revoked_at IS NULL AND expires_at > ?3";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot bind the external account binding key");
    minica_db_bind_text(st, 1, kid);
    minica_db_bind_text(st, 2, account_id);
    minica_db_bind_int64(st, 3, now);
    int ret = MINICA_OK;
    if (minica_db_step(st, err) != MINICA_DB_DONE)
        ret = acme_write_error(store, err, "cannot bind the external account binding key");
    else if (minica_db_changes(st) != 1)
        ret = minica_seterr(err, MINICA_EFORBIDDEN,
                            "the external account binding key %s is unknown, revoked, expired or "
                            "bound to another account",
                            kid);
    minica_db_finalize(st);
    return ret;
}

int minica_store_acme_account_insert(struct minica_store *store,
                                     const struct minica_acme_account *row, struct minica_err *err)
{
    if (row->eab_kid[0] == '\0')
        return acme_account_insert_row(store, row, err);
    struct unit u;
    int ret = unit_begin(store, &u, "acme_account", err);
    if (ret != 0)
        return ret;
    ret = acme_account_insert_row(store, row, err);
    if (ret == 0)
        ret = acme_eab_bind(store, row->eab_kid, row->id, row->created_at, err);
    return unit_end(store, &u, ret, err);
}

int minica_store_acme_account_list(struct minica_store *store, minica_acme_account_cb cb, void *ctx,
                                   struct minica_err *err)
{
    static const char sql[] =
        "SELECT " ACME_ACCOUNT_COLUMNS ", (SELECT COUNT(*) FROM acme_orders o WHERE "
        "o.account_id = acme_accounts.id) FROM acme_accounts ORDER BY created_at, id";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot read the ACME accounts");
    struct minica_acme_account *row = malloc(sizeof(*row));
    if (row == NULL) {
        minica_db_finalize(st);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    int rc, ret = MINICA_OK;
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        memset(row, 0, sizeof(*row));
        copy_text(row->id, sizeof(row->id), st, 0);
        copy_text(row->thumbprint, sizeof(row->thumbprint), st, 1);
        copy_text(row->jwk, sizeof(row->jwk), st, 2);
        copy_text(row->status, sizeof(row->status), st, 3);
        copy_text(row->contact, sizeof(row->contact), st, 4);
        copy_text(row->eab_kid, sizeof(row->eab_kid), st, 5);
        row->created_at = minica_db_column_int64(st, 6);
        if ((ret = cb(row, minica_db_column_int64(st, 7), ctx)) != 0)
            break;
    }
    if (ret == 0 && rc != MINICA_DB_DONE && rc != MINICA_DB_ROW)
        ret = db_error(store, err, "cannot read the ACME accounts");
    free(row);
    minica_db_finalize(st);
    return ret;
}

#define ACME_EAB_COLUMNS                                                                           \
    "kid, label, permit_dns, permit_ip, created_at, expires_at, COALESCE(revoked_at, 0), "         \
    "COALESCE(account_id, '')"

static void acme_eab_from(struct minica_db_stmt *st, struct minica_acme_eab_key *row)
{
    memset(row, 0, sizeof(*row));
    copy_text(row->kid, sizeof(row->kid), st, 0);
    copy_text(row->label, sizeof(row->label), st, 1);
    copy_text(row->permit_dns, sizeof(row->permit_dns), st, 2);
    copy_text(row->permit_ip, sizeof(row->permit_ip), st, 3);
    row->created_at = minica_db_column_int64(st, 4);
    row->expires_at = minica_db_column_int64(st, 5);
    row->revoked_at = minica_db_column_int64(st, 6);
    copy_text(row->account_id, sizeof(row->account_id), st, 7);
}

int minica_store_acme_eab_insert(struct minica_store *store, const struct minica_acme_eab_key *row,
                                 struct minica_err *err)
{
    static const char sql[] = "INSERT INTO acme_eab_keys (kid, label, permit_dns, permit_ip, "
                              "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot record the external account binding key");
    minica_db_bind_text(st, 1, row->kid);
    minica_db_bind_text(st, 2, row->label);
    minica_db_bind_text(st, 3, row->permit_dns);
    minica_db_bind_text(st, 4, row->permit_ip);
    minica_db_bind_int64(st, 5, row->created_at);
    minica_db_bind_int64(st, 6, row->expires_at);
    return acme_step_write(store, st, NULL, err, "cannot record the external account binding key");
}

int minica_store_acme_eab_get(struct minica_store *store, const char *kid,
                              struct minica_acme_eab_key *row, struct minica_err *err)
{
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, "SELECT " ACME_EAB_COLUMNS " FROM acme_eab_keys WHERE kid = ?",
                          &st, err) != 0)
        return db_error(store, err, "cannot read the external account binding keys");
    minica_db_bind_text(st, 1, kid);
    int rc = minica_db_step(st, err), ret = MINICA_OK;
    if (rc == MINICA_DB_ROW)
        acme_eab_from(st, row);
    else if (rc == MINICA_DB_DONE)
        ret = minica_seterr(err, MINICA_ENOENT, "no external account binding key %s", kid);
    else
        ret = db_error(store, err, "cannot read the external account binding keys");
    minica_db_finalize(st);
    return ret;
}

int minica_store_acme_eab_list(struct minica_store *store, minica_acme_eab_cb cb, void *ctx,
                               struct minica_err *err)
{
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db,
                          "SELECT " ACME_EAB_COLUMNS " FROM acme_eab_keys ORDER BY created_at, kid",
                          &st, err) != 0)
        return db_error(store, err, "cannot read the external account binding keys");
    struct minica_acme_eab_key *row = malloc(sizeof(*row));
    if (row == NULL) {
        minica_db_finalize(st);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    int rc, ret = MINICA_OK;
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        acme_eab_from(st, row);
        if ((ret = cb(row, ctx)) != 0)
            break;
    }
    if (ret == 0 && rc != MINICA_DB_DONE && rc != MINICA_DB_ROW)
        ret = db_error(store, err, "cannot read the external account binding keys");
    free(row);
    minica_db_finalize(st);
    return ret;
}

int minica_store_acme_eab_revoke(struct minica_store *store, const char *kid, int64_t when,
                                 struct minica_err *err)
{
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db,
                          "UPDATE acme_eab_keys SET revoked_at = ?2 WHERE kid = ?1 AND "
                          "revoked_at IS NULL",
                          &st, err) != 0)
        return db_error(store, err, "cannot revoke the external account binding key");
    minica_db_bind_text(st, 1, kid);
    minica_db_bind_int64(st, 2, when);
    int ret = MINICA_OK;
    if (minica_db_step(st, err) != MINICA_DB_DONE) {
        ret = db_error(store, err, "cannot revoke the external account binding key");
    } else if (minica_db_changes(st) != 1) {
        struct minica_acme_eab_key row;
        ret = minica_store_acme_eab_get(store, kid, &row, err);
        if (ret == 0)
            ret = minica_seterr(err, MINICA_EBUSY, "%s is already revoked", kid);
    }
    minica_db_finalize(st);
    return ret;
}

static int acme_account_where(struct minica_store *s, const char *where, const char *key,
                              struct minica_acme_account *row, struct minica_err *err)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT " ACME_ACCOUNT_COLUMNS " FROM acme_accounts WHERE %s = ?",
             where);
    struct minica_db_stmt *st;
    if (minica_db_prepare(s->db, sql, &st, err) != 0)
        return db_error(s, err, "cannot read the ACME accounts");
    minica_db_bind_text(st, 1, key);
    int rc = minica_db_step(st, err), ret = MINICA_OK;
    if (rc == MINICA_DB_ROW) {
        memset(row, 0, sizeof(*row));
        copy_text(row->id, sizeof(row->id), st, 0);
        copy_text(row->thumbprint, sizeof(row->thumbprint), st, 1);
        copy_text(row->jwk, sizeof(row->jwk), st, 2);
        copy_text(row->status, sizeof(row->status), st, 3);
        copy_text(row->contact, sizeof(row->contact), st, 4);
        copy_text(row->eab_kid, sizeof(row->eab_kid), st, 5);
        row->created_at = minica_db_column_int64(st, 6);
    } else if (rc == MINICA_DB_DONE) {
        ret = minica_seterr(err, MINICA_ENOENT, "no ACME account with %s %s", where, key);
    } else {
        ret = db_error(s, err, "cannot read the ACME accounts");
    }
    minica_db_finalize(st);
    return ret;
}

int minica_store_acme_account_get(struct minica_store *store, const char *id,
                                  struct minica_acme_account *row, struct minica_err *err)
{
    return acme_account_where(store, "id", id, row, err);
}

int minica_store_acme_account_by_thumbprint(struct minica_store *store, const char *thumbprint,
                                            struct minica_acme_account *row, struct minica_err *err)
{
    return acme_account_where(store, "thumbprint", thumbprint, row, err);
}

int minica_store_acme_account_update(struct minica_store *store, const char *id,
                                     const char *contact, const char *status,
                                     struct minica_err *err)
{
    int ret = acme_fits(contact, MINICA_ACME_CONTACT_MAX, "the contact list", err);
    if (ret != 0)
        return ret;
    /* A flag (?2) says whether contact is set, as "" sets it to NULL:
     * one statement for every combination. */
    static const char sql[] = "UPDATE acme_accounts SET contact = CASE WHEN ?2 = 1 THEN ?3 ELSE "
                              "contact END, status = COALESCE(?4, status) "
                              "WHERE id = ?1 AND status = 'valid'";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot update the ACME account");
    minica_db_bind_text(st, 1, id);
    minica_db_bind_int64(st, 2, contact != NULL);
    bind_opt_text(st, 3, contact);
    if (status != NULL)
        minica_db_bind_text(st, 4, status);
    else
        minica_db_bind_null(st, 4);
    return acme_step_transition(store, st, "acme_accounts", id, "cannot update the ACME account",
                                err);
}

int minica_store_acme_account_key_change(struct minica_store *store, const char *id,
                                         const char *old_thumbprint, const char *new_thumbprint,
                                         const char *new_jwk, struct minica_err *err)
{
    int ret = acme_fits(new_thumbprint, MINICA_ACME_THUMBPRINT_MAX, "the thumbprint", err);
    if (ret == 0)
        ret = acme_fits(new_jwk, MINICA_ACME_JWK_MAX, "the JWK", err);
    if (ret != 0)
        return ret;
    static const char sql[] = "UPDATE acme_accounts SET thumbprint = ?3, jwk = ?4 "
                              "WHERE id = ?1 AND thumbprint = ?2 AND status = 'valid'";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot change the ACME account's key");
    minica_db_bind_text(st, 1, id);
    minica_db_bind_text(st, 2, old_thumbprint);
    minica_db_bind_text(st, 3, new_thumbprint);
    minica_db_bind_text(st, 4, new_jwk);
    ret = acme_step_transition(store, st, "acme_accounts", id,
                               "cannot change the ACME account's key", err);
    if (ret == MINICA_EBUSY)
        minica_err_prefix(err, "the account is not valid or its key changed meanwhile");
    return ret;
}

static int acme_order_insert_rows(struct minica_store *s, const struct minica_acme_order *o,
                                  const struct minica_acme_authz *authz, size_t n_authz,
                                  const struct minica_acme_challenge *chall, size_t n_chall,
                                  struct minica_err *err)
{
    /* An order that replaces a certificate goes in only while no other
     * order, unless invalid, replaces it (RFC 9773 5): decided by this one
     * statement, so two newOrders racing for one certificate cannot both. */
    static const char order_sql[] =
        "INSERT INTO acme_orders (id, account_id, status, identifiers, not_before, not_after, "
        "expires_at, cert_serial, error, created_at, replaces) "
        "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 WHERE CAST(?11 AS TEXT) IS NULL OR "
        "NOT "
        "EXISTS "
        "(SELECT 1 FROM acme_orders WHERE replaces = ?11 AND status <> 'invalid')";
    static const char authz_sql[] = "INSERT INTO acme_authz (id, order_id, type, value, wildcard, "
                                    "status, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)";
    static const char chall_sql[] =
        "INSERT INTO acme_challenges (id, authz_id, type, token, status, validated_at, error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)";
    struct minica_db_stmt *st;
    if (minica_db_prepare(s->db, order_sql, &st, err) != 0)
        return db_error(s, err, "cannot record the ACME order");
    minica_db_bind_text(st, 1, o->id);
    minica_db_bind_text(st, 2, o->account_id);
    minica_db_bind_text(st, 3, o->status);
    minica_db_bind_text(st, 4, o->identifiers);
    bind_opt_int64(st, 5, o->not_before);
    bind_opt_int64(st, 6, o->not_after);
    minica_db_bind_int64(st, 7, o->expires_at);
    bind_opt_text(st, 8, o->cert_serial);
    bind_opt_text(st, 9, o->error);
    minica_db_bind_int64(st, 10, o->created_at);
    bind_opt_text(st, 11, o->replaces);
    int64_t inserted = 0;
    int ret = acme_step_write(s, st, &inserted, err, "cannot record the ACME order");
    if (ret != 0)
        return ret;
    if (inserted == 0)
        return minica_seterr(err, MINICA_EBUSY, "certificate %s is already replaced by an order",
                             o->replaces);

    if (n_authz > 0 && minica_db_prepare(s->db, authz_sql, &st, err) != 0)
        return db_error(s, err, "cannot record the ACME authorization");
    for (size_t i = 0; i < n_authz && ret == 0; i++) {
        const struct minica_acme_authz *a = &authz[i];
        minica_db_bind_text(st, 1, a->id);
        minica_db_bind_text(st, 2, a->order_id);
        minica_db_bind_text(st, 3, a->type);
        minica_db_bind_text(st, 4, a->value);
        minica_db_bind_int64(st, 5, a->wildcard);
        minica_db_bind_text(st, 6, a->status);
        minica_db_bind_int64(st, 7, a->expires_at);
        if (minica_db_step(st, err) != MINICA_DB_DONE)
            ret = acme_write_error(s, err, "cannot record the ACME authorization");
        minica_db_reset(st);
    }
    if (n_authz > 0)
        minica_db_finalize(st);
    if (ret != 0)
        return ret;

    if (n_chall > 0 && minica_db_prepare(s->db, chall_sql, &st, err) != 0)
        return db_error(s, err, "cannot record the ACME challenge");
    for (size_t i = 0; i < n_chall && ret == 0; i++) {
        const struct minica_acme_challenge *c = &chall[i];
        minica_db_bind_text(st, 1, c->id);
        minica_db_bind_text(st, 2, c->authz_id);
        minica_db_bind_text(st, 3, c->type);
        minica_db_bind_text(st, 4, c->token);
        minica_db_bind_text(st, 5, c->status);
        bind_opt_int64(st, 6, c->validated_at);
        bind_opt_text(st, 7, c->error);
        if (minica_db_step(st, err) != MINICA_DB_DONE)
            ret = acme_write_error(s, err, "cannot record the ACME challenge");
        minica_db_reset(st);
    }
    if (n_chall > 0)
        minica_db_finalize(st);
    return ret;
}

int minica_store_acme_order_insert(struct minica_store *store,
                                   const struct minica_acme_order *order,
                                   const struct minica_acme_authz *authz, size_t n_authz,
                                   const struct minica_acme_challenge *chall, size_t n_chall,
                                   struct minica_err *err)
{
    /* All or nothing, as in minica_store_insert_cert. */
    struct unit u;
    int ret = unit_begin(store, &u, "acme_order", err);
    if (ret != 0)
        return ret;
    ret = acme_order_insert_rows(store, order, authz, n_authz, chall, n_chall, err);
    return unit_end(store, &u, ret, err);
}

#define ACME_ORDER_COLUMNS                                                                         \
    "id, account_id, status, identifiers, COALESCE(not_before, 0), COALESCE(not_after, 0), "       \
    "expires_at, COALESCE(cert_serial, ''), COALESCE(error, ''), created_at, "                     \
    "COALESCE(replaces, '')"

static void acme_order_from(struct minica_db_stmt *st, struct minica_acme_order *row)
{
    memset(row, 0, sizeof(*row));
    copy_text(row->id, sizeof(row->id), st, 0);
    copy_text(row->account_id, sizeof(row->account_id), st, 1);
    copy_text(row->status, sizeof(row->status), st, 2);
    copy_text(row->identifiers, sizeof(row->identifiers), st, 3);
    row->not_before = minica_db_column_int64(st, 4);
    row->not_after = minica_db_column_int64(st, 5);
    row->expires_at = minica_db_column_int64(st, 6);
    copy_text(row->cert_serial, sizeof(row->cert_serial), st, 7);
    copy_text(row->error, sizeof(row->error), st, 8);
    row->created_at = minica_db_column_int64(st, 9);
    copy_text(row->replaces, sizeof(row->replaces), st, 10);
}

int minica_store_acme_order_get(struct minica_store *store, const char *id,
                                struct minica_acme_order *row, struct minica_err *err)
{
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, "SELECT " ACME_ORDER_COLUMNS " FROM acme_orders WHERE id = ?",
                          &st, err) != 0)
        return db_error(store, err, "cannot read the ACME orders");
    minica_db_bind_text(st, 1, id);
    int rc = minica_db_step(st, err), ret = MINICA_OK;
    if (rc == MINICA_DB_ROW)
        acme_order_from(st, row);
    else if (rc == MINICA_DB_DONE)
        ret = minica_seterr(err, MINICA_ENOENT, "no ACME order %s", id);
    else
        ret = db_error(store, err, "cannot read the ACME orders");
    minica_db_finalize(st);
    return ret;
}

/* The one order a query on a serial finds (?1), or MINICA_ENOENT. */
static int acme_order_by(struct minica_store *store, const char *sql, const char *serial,
                         struct minica_acme_order *row, struct minica_err *err)
{
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot read the ACME orders");
    minica_db_bind_text(st, 1, serial);
    int rc = minica_db_step(st, err), ret = MINICA_OK;
    if (rc == MINICA_DB_ROW)
        acme_order_from(st, row);
    else if (rc == MINICA_DB_DONE)
        ret = minica_seterr(err, MINICA_ENOENT, "no ACME order for certificate %s", serial);
    else
        ret = db_error(store, err, "cannot read the ACME orders");
    minica_db_finalize(st);
    return ret;
}

int minica_store_acme_order_by_cert(struct minica_store *store, const char *serial,
                                    struct minica_acme_order *row, struct minica_err *err)
{
    return acme_order_by(store,
                         "SELECT " ACME_ORDER_COLUMNS " FROM acme_orders WHERE cert_serial = ? "
                         "ORDER BY created_at, id LIMIT 1",
                         serial, row, err);
}

int minica_store_acme_order_replacement(struct minica_store *store, const char *serial,
                                        struct minica_acme_order *row, struct minica_err *err)
{
    return acme_order_by(store,
                         "SELECT " ACME_ORDER_COLUMNS " FROM acme_orders WHERE replaces = ? AND "
                         "status <> 'invalid' ORDER BY created_at, id LIMIT 1",
                         serial, row, err);
}

int minica_store_acme_order_list(struct minica_store *store, const char *account_id,
                                 const char *after, size_t limit, minica_acme_order_cb cb,
                                 void *ctx, struct minica_err *err)
{
    static const char sql[] = "SELECT " ACME_ORDER_COLUMNS " FROM acme_orders "
                              "WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot read the ACME orders");
    minica_db_bind_text(st, 1, account_id);
    minica_db_bind_text(st, 2, after != NULL ? after : "");
    minica_db_bind_int64(st, 3, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    int rc, ret = MINICA_OK;
    struct minica_acme_order *row = malloc(sizeof(*row));
    if (row == NULL) {
        minica_db_finalize(st);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        acme_order_from(st, row);
        if ((ret = cb(row, ctx)) != 0)
            break;
    }
    if (ret == 0 && rc != MINICA_DB_DONE && rc != MINICA_DB_ROW)
        ret = db_error(store, err, "cannot read the ACME orders");
    free(row);
    minica_db_finalize(st);
    return ret;
}

int minica_store_acme_order_transition(struct minica_store *store, const char *id, const char *from,
                                       const char *to, const char *cert_serial, const char *error,
                                       struct minica_err *err)
{
    int ret = acme_fits(cert_serial, MINICA_SERIAL_HEX_MAX, "the serial", err);
    if (ret == 0)
        ret = acme_fits(error, MINICA_ACME_ERROR_MAX, "the problem document", err);
    if (ret != 0)
        return ret;
    static const char sql[] =
        "UPDATE acme_orders SET status = ?3, "
        "cert_serial = CASE WHEN ?6 = 1 THEN ?4 ELSE cert_serial END, "
        "error = CASE WHEN ?7 = 1 THEN ?5 ELSE error END WHERE id = ?1 AND status = ?2";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot update the ACME order");
    minica_db_bind_text(st, 1, id);
    minica_db_bind_text(st, 2, from);
    minica_db_bind_text(st, 3, to);
    bind_opt_text(st, 4, cert_serial);
    bind_opt_text(st, 5, error);
    minica_db_bind_int64(st, 6, cert_serial != NULL);
    minica_db_bind_int64(st, 7, error != NULL);
    return acme_step_transition(store, st, "acme_orders", id, "cannot update the ACME order", err);
}

int minica_store_acme_order_ready_if_authorized(struct minica_store *store, const char *id,
                                                int *moved, struct minica_err *err)
{
    static const char sql[] =
        "UPDATE acme_orders SET status = 'ready' WHERE id = ?1 AND status = 'pending' AND "
        "EXISTS (SELECT 1 FROM acme_authz WHERE order_id = ?1) AND NOT EXISTS "
        "(SELECT 1 FROM acme_authz WHERE order_id = ?1 AND status <> 'valid')";
    *moved = 0;
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot update the ACME order");
    minica_db_bind_text(st, 1, id);
    int ret = MINICA_OK;
    if (minica_db_step(st, err) != MINICA_DB_DONE)
        ret = db_error(store, err, "cannot update the ACME order");
    else
        *moved = minica_db_changes(st) == 1;
    minica_db_finalize(st);
    return ret;
}

int minica_store_acme_order_sweep(struct minica_store *store, int64_t now, int64_t *swept,
                                  struct minica_err *err)
{
    /* The cascade takes authorizations and challenges; a connection
     * without foreign keys is not minica's (store_open turns them on). */
    return acme_sweep(store, "DELETE FROM acme_orders WHERE expires_at <= ? AND status <> 'valid'",
                      now, swept, "cannot sweep the ACME orders", err);
}

#define ACME_AUTHZ_COLUMNS "id, order_id, type, value, wildcard, status, expires_at"

static void acme_authz_from(struct minica_db_stmt *st, struct minica_acme_authz *row)
{
    memset(row, 0, sizeof(*row));
    copy_text(row->id, sizeof(row->id), st, 0);
    copy_text(row->order_id, sizeof(row->order_id), st, 1);
    copy_text(row->type, sizeof(row->type), st, 2);
    copy_text(row->value, sizeof(row->value), st, 3);
    row->wildcard = (int)minica_db_column_int64(st, 4);
    copy_text(row->status, sizeof(row->status), st, 5);
    row->expires_at = minica_db_column_int64(st, 6);
}

int minica_store_acme_authz_get(struct minica_store *store, const char *id,
                                struct minica_acme_authz *row, struct minica_err *err)
{
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, "SELECT " ACME_AUTHZ_COLUMNS " FROM acme_authz WHERE id = ?",
                          &st, err) != 0)
        return db_error(store, err, "cannot read the ACME authorizations");
    minica_db_bind_text(st, 1, id);
    int rc = minica_db_step(st, err), ret = MINICA_OK;
    if (rc == MINICA_DB_ROW)
        acme_authz_from(st, row);
    else if (rc == MINICA_DB_DONE)
        ret = minica_seterr(err, MINICA_ENOENT, "no ACME authorization %s", id);
    else
        ret = db_error(store, err, "cannot read the ACME authorizations");
    minica_db_finalize(st);
    return ret;
}

int minica_store_acme_authz_list(struct minica_store *store, const char *order_id,
                                 minica_acme_authz_cb cb, void *ctx, struct minica_err *err)
{
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db,
                          "SELECT " ACME_AUTHZ_COLUMNS
                          " FROM acme_authz WHERE order_id = ? ORDER BY id",
                          &st, err) != 0)
        return db_error(store, err, "cannot read the ACME authorizations");
    minica_db_bind_text(st, 1, order_id);
    int rc, ret = MINICA_OK;
    struct minica_acme_authz row;
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        acme_authz_from(st, &row);
        if ((ret = cb(&row, ctx)) != 0)
            break;
    }
    if (ret == 0 && rc != MINICA_DB_DONE && rc != MINICA_DB_ROW)
        ret = db_error(store, err, "cannot read the ACME authorizations");
    minica_db_finalize(st);
    return ret;
}

int minica_store_acme_authz_transition(struct minica_store *store, const char *id, const char *from,
                                       const char *to, struct minica_err *err)
{
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db,
                          "UPDATE acme_authz SET status = ?3 WHERE id = ?1 AND status = ?2", &st,
                          err) != 0)
        return db_error(store, err, "cannot update the ACME authorization");
    minica_db_bind_text(st, 1, id);
    minica_db_bind_text(st, 2, from);
    minica_db_bind_text(st, 3, to);
    return acme_step_transition(store, st, "acme_authz", id, "cannot update the ACME authorization",
                                err);
}

#define ACME_CHALLENGE_COLUMNS                                                                     \
    "id, authz_id, type, token, status, COALESCE(validated_at, 0), COALESCE(error, '')"

static void acme_challenge_from(struct minica_db_stmt *st, struct minica_acme_challenge *row)
{
    memset(row, 0, sizeof(*row));
    copy_text(row->id, sizeof(row->id), st, 0);
    copy_text(row->authz_id, sizeof(row->authz_id), st, 1);
    copy_text(row->type, sizeof(row->type), st, 2);
    copy_text(row->token, sizeof(row->token), st, 3);
    copy_text(row->status, sizeof(row->status), st, 4);
    row->validated_at = minica_db_column_int64(st, 5);
    copy_text(row->error, sizeof(row->error), st, 6);
}

int minica_store_acme_challenge_get(struct minica_store *store, const char *id,
                                    struct minica_acme_challenge *row, struct minica_err *err)
{
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db,
                          "SELECT " ACME_CHALLENGE_COLUMNS " FROM acme_challenges WHERE id = ?",
                          &st, err) != 0)
        return db_error(store, err, "cannot read the ACME challenges");
    minica_db_bind_text(st, 1, id);
    int rc = minica_db_step(st, err), ret = MINICA_OK;
    if (rc == MINICA_DB_ROW)
        acme_challenge_from(st, row);
    else if (rc == MINICA_DB_DONE)
        ret = minica_seterr(err, MINICA_ENOENT, "no ACME challenge %s", id);
    else
        ret = db_error(store, err, "cannot read the ACME challenges");
    minica_db_finalize(st);
    return ret;
}

int minica_store_acme_challenge_list(struct minica_store *store, const char *authz_id,
                                     minica_acme_challenge_cb cb, void *ctx, struct minica_err *err)
{
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db,
                          "SELECT " ACME_CHALLENGE_COLUMNS
                          " FROM acme_challenges WHERE authz_id = ? ORDER BY id",
                          &st, err) != 0)
        return db_error(store, err, "cannot read the ACME challenges");
    minica_db_bind_text(st, 1, authz_id);
    int rc, ret = MINICA_OK;
    struct minica_acme_challenge row;
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        acme_challenge_from(st, &row);
        if ((ret = cb(&row, ctx)) != 0)
            break;
    }
    if (ret == 0 && rc != MINICA_DB_DONE && rc != MINICA_DB_ROW)
        ret = db_error(store, err, "cannot read the ACME challenges");
    minica_db_finalize(st);
    return ret;
}

int minica_store_acme_challenge_transition(struct minica_store *store, const char *id,
                                           const char *from, const char *to, int64_t validated_at,
                                           const char *error, struct minica_err *err)
{
    int ret = acme_fits(error, MINICA_ACME_ERROR_MAX, "the problem document", err);
    if (ret != 0)
        return ret;
    static const char sql[] =
        "UPDATE acme_challenges SET status = ?3, validated_at = COALESCE(?4, validated_at), "
        "error = CASE WHEN ?6 = 1 THEN ?5 ELSE error END WHERE id = ?1 AND status = ?2";
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, sql, &st, err) != 0)
        return db_error(store, err, "cannot update the ACME challenge");
    minica_db_bind_text(st, 1, id);
    minica_db_bind_text(st, 2, from);
    minica_db_bind_text(st, 3, to);
    bind_opt_int64(st, 4, validated_at);
    bind_opt_text(st, 5, error);
    minica_db_bind_int64(st, 6, error != NULL);
    return acme_step_transition(store, st, "acme_challenges", id,
                                "cannot update the ACME challenge", err);
}

int minica_store_acme_challenge_set_error(struct minica_store *store, const char *id,
                                          const char *error, struct minica_err *err)
{
    int ret = acme_fits(error, MINICA_ACME_ERROR_MAX, "the problem document", err);
    if (ret != 0)
        return ret;
    struct minica_db_stmt *st;
    if (minica_db_prepare(store->db, "UPDATE acme_challenges SET error = ?2 WHERE id = ?1", &st,
                          err) != 0)
        return db_error(store, err, "cannot record the validation error");
    minica_db_bind_text(st, 1, id);
    bind_opt_text(st, 2, error);
    return acme_step_transition(store, st, "acme_challenges", id,
                                "cannot record the validation error", err);
}

const char *minica_store_name(const struct minica_store *store)
{
    return minica_db_name(store->db);
}

struct minica_db *minica_store_db(struct minica_store *store)
{
    return store->db;
}
