/* Unit tests for the inventory, on SQLite and on PostgreSQL (main says
 * which run where): migrations from an empty database, certificate rows
 * (insert, query, uniqueness, status from time), the audit log, tokens
 * spent once across processes, serial normalization and clear errors for
 * damaged files. sqlite3 is used directly only to craft databases the API
 * cannot produce. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "minica/error.h"
#include "minica/store.h"
#include "store/store_internal.h"
#include "testutil.h"

#define NOW 1800000000LL /* 2027-01-15: fixed, so status is decided by the test */

struct fixture {
    char *dir;
    char path[4200];
    struct minica_store *store;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->dir = tu_tempdir();
    tu_store_target(f->dir, f->path, sizeof(f->path));
    struct minica_err err;
    if (minica_store_open(f->path, &f->store, &err) != 0) {
        print_error("%s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    minica_store_close(f->store);
    tu_store_drop(f->path);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void make_row(struct minica_cert_row *row, const char *serial, const char *name,
                     int64_t not_after)
{
    memset(row, 0, sizeof(*row));
    snprintf(row->serial, sizeof(row->serial), "%s", serial);
    snprintf(row->name, sizeof(row->name), "%s", name);
    snprintf(row->sans, sizeof(row->sans), "%s,10.0.2.88", name);
    snprintf(row->usage, sizeof(row->usage), "server");
    snprintf(row->key_type, sizeof(row->key_type), "ec-p256");
    row->not_before = not_after - 90 * 86400LL;
    row->not_after = not_after;
    row->issued_at = row->not_before + 60;
    /* Fingerprints are UNIQUE too: derive one from the serial. */
    snprintf(row->fingerprint_sha256, sizeof(row->fingerprint_sha256), "%64s", serial);
    for (char *p = row->fingerprint_sha256; *p; p++)
        if (*p == ' ')
            *p = '0';
    memset(row->issuer_fingerprint_sha256, 'e', 64);
}

static void insert(struct minica_store *store, const char *serial, const char *name,
                   int64_t not_after)
{
    struct minica_cert_row row;
    struct minica_err err;
    make_row(&row, serial, name, not_after);
    char pem[128];
    snprintf(pem, sizeof(pem), "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n",
             serial);
    int ret = minica_store_insert_cert(store, &row, pem, &err);
    if (ret != 0)
        print_error("insert %s: %s\n", serial, err.msg);
    assert_int_equal(ret, 0);
}

struct collected {
    size_t n;
    char serials[16][MINICA_SERIAL_HEX_MAX];
    struct minica_cert_row last;
    char last_pem[256];
    int stop_after; /* 0: never */
};

static int collect(const struct minica_cert_row *row, void *p)
{
    struct collected *c = p;
    if (c->n < 16)
        snprintf(c->serials[c->n], sizeof(c->serials[0]), "%s", row->serial);
    c->n++;
    c->last = *row;
    c->last.pem = NULL;
    snprintf(c->last_pem, sizeof(c->last_pem), "%s", row->pem ? row->pem : "");
    if (c->stop_after && (int)c->n == c->stop_after)
        return 42;
    return 0;
}

static size_t list(struct minica_store *store, struct minica_cert_filter *filter,
                   struct collected *c)
{
    struct minica_err err;
    memset(c, 0, sizeof(*c));
    int ret = minica_store_list_certs(store, filter, collect, c, &err);
    if (ret != 0)
        print_error("list: %s\n", err.msg);
    assert_int_equal(ret, 0);
    return c->n;
}

/* Reads the version this build migrates to from the refusal of a newer database. */
static int latest_schema_version(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/future.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1000", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct minica_store *store = NULL;
    struct minica_err err = {{0}};
    assert_int_equal(minica_store_open(path, &store, &err), MINICA_EDB);
    assert_null(store);
    assert_non_null(strstr(err.msg, "newer"));
    const char *open = strstr(err.msg, "understands (");
    assert_non_null(open);
    return atoi(open + strlen("understands ("));
}

static void test_store_migrates_empty_db_to_latest_version(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char path[4200];
    snprintf(path, sizeof(path), "%s/empty.db", dir);
    /* An existing zero-length file is an empty SQLite database. */
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);

    struct minica_store *store;
    struct minica_err err;
    assert_int_equal(minica_store_open(path, &store, &err), 0);
    int version = minica_store_schema_version(store);
    int latest = latest_schema_version(dir);
    assert_true(latest >= 1);
    assert_int_equal(version, latest);
    minica_store_close(store);

    /* Reopening is a no-op, and the tables the migrations made are there. */
    assert_int_equal(minica_store_open(path, &store, &err), 0);
    assert_int_equal(minica_store_schema_version(store), latest);
    minica_store_close(store);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                        "AND name IN ('certs', 'audit', 'counters')",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 3);
    sqlite3_finalize(st);
    /* WAL, so readers never block the writer. */
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    tu_rmtree(dir);
    free(dir);
}

static void test_store_creates_db_private_whatever_the_umask(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char path[4200];
    snprintf(path, sizeof(path), "%s/new.db", dir);
    mode_t old = umask(0);
    struct minica_store *store;
    struct minica_err err;
    int ret = minica_store_open(path, &store, &err);
    umask(old);
    assert_int_equal(ret, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    minica_store_close(store);
    tu_rmtree(dir);
    free(dir);
}

static void test_store_refuses_newer_schema(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    int latest = latest_schema_version(dir);
    char path[4200];
    snprintf(path, sizeof(path), "%s/next.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", latest + 1);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct minica_store *store = NULL;
    struct minica_err err;
    assert_int_equal(minica_store_open(path, &store, &err), MINICA_EDB);
    assert_non_null(strstr(err.msg, "upgrade minica"));
    tu_rmtree(dir);
    free(dir);
}

/* A PostgreSQL URI is a database setting, not a file name, and its
 * password stays out of the message; the driver is not in yet. */
/* A PostgreSQL URI is never taken for a file name, and a server that is
 * not there is named without the password the URI carries. */
static void test_store_names_an_unreachable_postgresql_without_its_password(void **state)
{
    (void)state;
    struct minica_store *store = NULL;
    struct minica_err err = {{0}};
    char *dir = tu_tempdir();
    char uri[4300];
    snprintf(uri, sizeof(uri), "postgresql://minica:s3cret@/minica?host=%s&connect_timeout=2", dir);
    assert_int_not_equal(minica_store_open(uri, &store, &err), 0);
    assert_null(store);
    assert_null(strstr(err.msg, "s3cret"));
    assert_non_null(strstr(err.msg, "minica"));
    tu_rmtree(dir);
    free(dir);
}

static void test_store_corrupted_file_gives_clear_error(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char path[4200];
    snprintf(path, sizeof(path), "%s/minica.db", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 4096; i++)
        fputc("garbage!"[i % 8], fp);
    fclose(fp);
    struct minica_store *store = NULL;
    struct minica_err err = {{0}};
    assert_int_equal(minica_store_open(path, &store, &err), MINICA_EDB);
    assert_null(store);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "damaged or not a minica database"));
    assert_null(strchr(err.msg, '\n'));
    tu_rmtree(dir);
    free(dir);
}

static void test_store_inserts_and_queries_by_name_and_serial(void **state)
{
    struct fixture *f = *state;
    insert(f->store, "0a1b2c", "upstream.internal.svc", NOW + 90 * 86400LL);
    insert(f->store, "0d", "other.internal.svc", NOW + 30 * 86400LL);
    insert(f->store, "7f00", "upstream.internal.svc", NOW + 60 * 86400LL);

    struct minica_cert_filter filter = {.now = NOW};
    struct collected c;
    assert_int_equal(list(f->store, &filter, &c), 3);
    /* Ordered by not_after. */
    assert_string_equal(c.serials[0], "0d");
    assert_string_equal(c.serials[1], "7f00");
    assert_string_equal(c.serials[2], "0a1b2c");

    filter.name = "upstream.internal.svc";
    assert_int_equal(list(f->store, &filter, &c), 2);
    assert_string_equal(c.serials[0], "7f00");
    assert_string_equal(c.serials[1], "0a1b2c");

    filter.name = NULL;
    filter.serial = "0a1b2c";
    assert_int_equal(list(f->store, &filter, &c), 1);
    assert_string_equal(c.last.name, "upstream.internal.svc");
    assert_string_equal(c.last.sans, "upstream.internal.svc,10.0.2.88");
    assert_string_equal(c.last.usage, "server");
    assert_string_equal(c.last.key_type, "ec-p256");
    assert_int_equal(c.last.not_after, NOW + 90 * 86400LL);
    assert_int_equal(c.last.not_before, NOW);
    assert_int_equal(c.last.issued_at, NOW + 60);
    assert_int_equal(c.last.revoked_at, 0);
    assert_int_equal(strlen(c.last.fingerprint_sha256), 64);
    assert_non_null(strstr(c.last_pem, "0a1b2c"));

    filter.serial = "ffff";
    assert_int_equal(list(f->store, &filter, &c), 0);
    filter.serial = NULL;
    filter.name = "nobody.internal.svc";
    assert_int_equal(list(f->store, &filter, &c), 0);
}

static void insert_sans(struct minica_store *store, const char *serial, const char *name,
                        const char *sans)
{
    struct minica_cert_row row;
    struct minica_err err;
    make_row(&row, serial, name, NOW + 86400);
    snprintf(row.sans, sizeof(row.sans), "%s", sans);
    int ret = minica_store_insert_cert(store, &row, "pem", &err);
    if (ret != 0)
        print_error("insert %s: %s\n", serial, err.msg);
    assert_int_equal(ret, 0);
}

static size_t list_name(struct minica_store *store, const char *name, struct collected *c)
{
    struct minica_cert_filter filter = {.now = NOW, .name = name};
    return list(store, &filter, c);
}

/* revoke, list and show look names up here: a SAN must count as much as
 * the first name (docs/design.md: "every unexpired certificate for the name"). */
static void test_store_finds_a_cert_by_any_of_its_names(void **state)
{
    struct fixture *f = *state;
    insert_sans(f->store, "b1", "b.internal.svc", "b.internal.svc");
    insert_sans(f->store, "a1", "a.internal.svc",
                "a.internal.svc,b.internal.svc,10.0.2.88,2001:db8::7");
    insert_sans(f->store, "c1", "c.internal.svc", "c.internal.svc,10.0.2.89");
    struct collected c;
    assert_int_equal(list_name(f->store, "b.internal.svc", &c), 2);
    assert_int_equal(list_name(f->store, "a.internal.svc", &c), 1);
    assert_string_equal(c.last.serial, "a1");
    /* The whole row comes back, not the name that matched. */
    assert_string_equal(c.last.name, "a.internal.svc");
    assert_string_equal(c.last.sans, "a.internal.svc,b.internal.svc,10.0.2.88,2001:db8::7");
    assert_int_equal(list_name(f->store, "10.0.2.88", &c), 1);
    assert_string_equal(c.last.serial, "a1");
    assert_int_equal(list_name(f->store, "2001:db8::7", &c), 1);
    assert_int_equal(list_name(f->store, "10.0.2.89", &c), 1);
    assert_string_equal(c.last.serial, "c1");
    /* Whole names only: no substring or suffix matches. */
    assert_int_equal(list_name(f->store, "internal.svc", &c), 0);
    assert_int_equal(list_name(f->store, "10.0.2.8", &c), 0);
    /* With a serial too, both must hold. */
    struct minica_cert_filter filter = {.now = NOW, .name = "b.internal.svc", .serial = "a1"};
    assert_int_equal(list(f->store, &filter, &c), 1);
    filter.serial = "c1";
    assert_int_equal(list(f->store, &filter, &c), 0);
    /* A name listed twice is still one certificate. */
    insert_sans(f->store, "d1", "d.internal.svc", "d.internal.svc,d.internal.svc");
    assert_int_equal(list_name(f->store, "d.internal.svc", &c), 1);
}

/* The agent looks up every managed certificate and revoke looks up every
 * certificate of a name: each must be an index search, whatever the
 * inventory's size. No SCAN of either table, for every filter with a name. */
static void test_store_lookup_by_name_is_one_indexed_join(void **state)
{
    struct fixture *f = *state;
    insert_sans(f->store, "a1", "a.internal.svc", "a.internal.svc,b.internal.svc");
    struct minica_cert_filter filters[] = {
        {.name = "b.internal.svc"},
        {.name = "b.internal.svc", .serial = "a1"},
        {.name = "b.internal.svc", .not_after_before = NOW},
        {.name = "b.internal.svc", .serial = "a1", .not_after_before = NOW},
        {.serial = "a1"},
    };
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        char plan[2048];
        struct minica_err err;
        assert_int_equal(minica_store_list_plan(f->store, &filters[i], plan, sizeof(plan), &err),
                         0);
        if (strstr(plan, "SCAN") != NULL || strstr(plan, "SEARCH") == NULL)
            fail_msg("filter %zu: not an indexed search:\n%s", i, plan);
        if (filters[i].name != NULL && strstr(plan, "cert_names_name") == NULL &&
            strstr(plan, "sqlite_autoindex_cert_names") == NULL)
            fail_msg("filter %zu: the name is not looked up in cert_names' index:\n%s", i, plan);
        if (i == 0)
            print_message("plan for a lookup by name:\n%s", plan);
    }
}

/* Version 2 as released (migrations 0 -> 1 and 1 -> 2, copied, not
 * included: a released schema is a fact, not code to share). */
static const char v2_schema[] =
    "CREATE TABLE certs (serial TEXT PRIMARY KEY, name TEXT NOT NULL, sans TEXT NOT NULL,"
    "  usage TEXT NOT NULL CHECK (usage IN ('server', 'client', 'both')),"
    "  key_type TEXT NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,"
    "  issued_at INTEGER NOT NULL, revoked_at INTEGER, revoke_reason INTEGER,"
    "  fingerprint_sha256 TEXT NOT NULL UNIQUE, issuer_fingerprint_sha256 TEXT NOT NULL,"
    "  pem TEXT NOT NULL);"
    "CREATE INDEX certs_name ON certs(name);"
    "CREATE INDEX certs_not_after ON certs(not_after);"
    "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
    "  uid INTEGER NOT NULL, user TEXT NOT NULL, command TEXT NOT NULL, summary TEXT NOT NULL);"
    "CREATE INDEX audit_time ON audit(time);"
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE tokens (id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, name TEXT NOT NULL,"
    "  sans TEXT NOT NULL, usage TEXT NOT NULL CHECK (usage IN ('server', 'client', 'both')),"
    "  ttl INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
    "  used_at INTEGER, revoked_at INTEGER, used_by TEXT);"
    "CREATE INDEX tokens_expires_at ON tokens(expires_at);"
    "INSERT INTO certs VALUES ('b1', 'b.internal.svc', 'b.internal.svc', 'server', 'ec-p256',"
    "  1790000000, 1810000000, 1790000060, NULL, NULL, 'f1', 'ee', 'pem-b1');"
    "INSERT INTO certs VALUES ('a1', 'a.internal.svc',"
    "  'a.internal.svc,b.internal.svc,10.0.2.88,2001:db8::7', 'both', 'ec-p256',"
    "  1790000000, 1810000000, 1790000060, 1795000000, 1, 'f2', 'ee', 'pem-a1');"
    /* A row whose sans lacks its name (not written by minica, but the
     * name column alone must be enough to find it). */
    "INSERT INTO certs VALUES ('e1', 'e.internal.svc', '10.0.2.90', 'server', 'ec-p256',"
    "  1790000000, 1810000000, 1790000060, NULL, NULL, 'f3', 'ee', 'pem-e1');"
    "PRAGMA user_version = 2;";

/* An existing state directory keeps working: the names of the certificates
 * it already holds are found by the new lookup, not only new ones. */
static void test_store_migration_backfills_names_of_a_v2_db(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char path[4200];
    snprintf(path, sizeof(path), "%s/v2.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v2_schema, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    struct minica_store *store;
    struct minica_err err;
    int ret = minica_store_open(path, &store, &err);
    if (ret != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(ret, 0);
    assert_true(minica_store_schema_version(store) > 2);
    assert_int_equal(minica_store_schema_version(store), latest_schema_version(dir));
    struct collected c;
    assert_int_equal(list_name(store, "b.internal.svc", &c), 2);
    assert_int_equal(list_name(store, "2001:db8::7", &c), 1);
    assert_string_equal(c.last.serial, "a1");
    assert_int_equal(c.last.revoked_at, 1795000000);
    assert_int_equal(list_name(store, "10.0.2.88", &c), 1);
    assert_int_equal(list_name(store, "e.internal.svc", &c), 1);
    assert_int_equal(list_name(store, "10.0.2.90", &c), 1);
    assert_string_equal(c.last.serial, "e1");
    /* New rows after the migration, and a second open is a no-op. */
    insert_sans(store, "c1", "c.internal.svc", "c.internal.svc,b.internal.svc");
    assert_int_equal(list_name(store, "b.internal.svc", &c), 3);
    minica_store_close(store);
    assert_int_equal(minica_store_open(path, &store, &err), 0);
    assert_int_equal(list_name(store, "b.internal.svc", &c), 3);
    minica_store_close(store);
    tu_rmtree(dir);
    free(dir);
}

static void test_store_serial_is_unique(void **state)
{
    struct fixture *f = *state;
    insert(f->store, "01ab", "a.internal.svc", NOW + 86400);
    struct minica_cert_row row;
    make_row(&row, "01ab", "b.internal.svc", NOW + 2 * 86400);
    memset(row.fingerprint_sha256, 'f', 64); /* a different certificate, same serial */
    struct minica_err err = {{0}};
    assert_int_equal(minica_store_insert_cert(f->store, &row, "pem", &err), MINICA_EEXIST);
    assert_non_null(strstr(err.msg, "01ab"));
    struct minica_cert_filter filter = {.now = NOW};
    struct collected c;
    assert_int_equal(list(f->store, &filter, &c), 1);
    assert_string_equal(c.last.name, "a.internal.svc");
}

static void test_store_status_is_computed_from_time(void **state)
{
    struct fixture *f = *state;
    insert(f->store, "01", "soon.internal.svc", NOW + 100);
    insert(f->store, "02", "later.internal.svc", NOW + 86400);
    insert(f->store, "03", "revoked.internal.svc", NOW + 86400);
    struct minica_err err;
    assert_int_equal(minica_store_revoke(f->store, "03", NOW - 10, 1, &err), 0);
    /* Revoking again keeps the first time and reason. */
    assert_int_equal(minica_store_revoke(f->store, "03", NOW, 4, &err), 0);

    struct minica_cert_filter filter = {.now = NOW, .status_mask = MINICA_STATUS_VALID};
    struct collected c;
    assert_int_equal(list(f->store, &filter, &c), 2);
    filter.status_mask = MINICA_STATUS_REVOKED;
    assert_int_equal(list(f->store, &filter, &c), 1);
    assert_string_equal(c.last.serial, "03");
    assert_int_equal(c.last.revoked_at, NOW - 10);
    assert_int_equal(c.last.revoke_reason, 1);
    assert_int_equal(minica_cert_row_status(&c.last, NOW + 10 * 86400LL), MINICA_STATUS_REVOKED);
    filter.status_mask = MINICA_STATUS_EXPIRED;
    assert_int_equal(list(f->store, &filter, &c), 0);

    /* The same rows, 101 seconds later: the first one has expired. */
    filter.now = NOW + 101;
    assert_int_equal(list(f->store, &filter, &c), 1);
    assert_string_equal(c.last.serial, "01");
    filter.status_mask = MINICA_STATUS_VALID;
    assert_int_equal(list(f->store, &filter, &c), 1);
    assert_string_equal(c.last.serial, "02");
    filter.status_mask = 0; /* all */
    assert_int_equal(list(f->store, &filter, &c), 3);
    filter.status_mask = MINICA_STATUS_ALL;
    assert_int_equal(list(f->store, &filter, &c), 3);

    /* Exactly at not_after the certificate is still valid (RFC 5280: inclusive). */
    struct minica_cert_row row;
    make_row(&row, "04", "edge.internal.svc", NOW);
    assert_int_equal(minica_cert_row_status(&row, NOW), MINICA_STATUS_VALID);
    assert_int_equal(minica_cert_row_status(&row, NOW + 1), MINICA_STATUS_EXPIRED);
    assert_string_equal(minica_cert_status_name(MINICA_STATUS_VALID), "valid");
    assert_string_equal(minica_cert_status_name(MINICA_STATUS_REVOKED), "revoked");
    assert_string_equal(minica_cert_status_name(MINICA_STATUS_EXPIRED), "expired");
}

struct superseded_seen {
    char serials[8][MINICA_SERIAL_HEX_MAX];
    int superseded[8];
    size_t n;
};

static int collect_superseded(const struct minica_cert_row *row, void *p)
{
    struct superseded_seen *s = p;
    if (s->n < 8) {
        snprintf(s->serials[s->n], sizeof(s->serials[0]), "%s", row->serial);
        s->superseded[s->n++] = row->superseded;
    }
    return 0;
}

static int superseded_of(const struct superseded_seen *s, const char *serial)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->serials[i], serial) == 0)
            return s->superseded[i];
    fail_msg("serial %s not listed", serial);
    return -1;
}

/* What list shows as superseded: valid, with a newer valid certificate of
 * its name, whatever the other filters keep. */
static void test_store_marks_superseded_certificates(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    insert(f->store, "11", "a.internal.svc", NOW + 30 * 86400LL);
    insert(f->store, "12", "a.internal.svc", NOW + 60 * 86400LL);
    insert(f->store, "13", "a.internal.svc", NOW + 90 * 86400LL); /* revoked: supersedes nothing */
    insert(f->store, "14", "b.internal.svc", NOW + 10 * 86400LL);
    assert_int_equal(minica_store_revoke(f->store, "13", NOW, 4, &err), 0);
    struct minica_cert_filter filter = {.now = NOW, .mark_superseded = 1};
    struct superseded_seen s = {0};
    assert_int_equal(minica_store_list_certs(f->store, &filter, collect_superseded, &s, &err), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(superseded_of(&s, "11"), 1);
    assert_int_equal(superseded_of(&s, "12"), 0);
    assert_int_equal(superseded_of(&s, "13"), 0);
    assert_int_equal(superseded_of(&s, "14"), 0);
    /* --expiring keeps 11 alone; the renewal that supersedes it still counts. */
    memset(&s, 0, sizeof(s));
    filter.not_after_before = NOW + 40 * 86400LL;
    filter.name = "a.internal.svc";
    assert_int_equal(minica_store_list_certs(f->store, &filter, collect_superseded, &s, &err), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(superseded_of(&s, "11"), 1);
    /* Without the flag nothing is marked. */
    memset(&s, 0, sizeof(s));
    filter.mark_superseded = 0;
    assert_int_equal(minica_store_list_certs(f->store, &filter, collect_superseded, &s, &err), 0);
    assert_int_equal(superseded_of(&s, "11"), 0);
}

static void test_store_filters_expiring_and_stops_on_callback(void **state)
{
    struct fixture *f = *state;
    insert(f->store, "11", "a.internal.svc", NOW + 86400);
    insert(f->store, "12", "b.internal.svc", NOW + 10 * 86400LL);
    insert(f->store, "13", "c.internal.svc", NOW + 100 * 86400LL);
    struct minica_cert_filter filter = {.now = NOW, .not_after_before = NOW + 30 * 86400LL};
    struct collected c;
    assert_int_equal(list(f->store, &filter, &c), 2);

    memset(&filter, 0, sizeof(filter));
    filter.now = NOW;
    memset(&c, 0, sizeof(c));
    c.stop_after = 1;
    struct minica_err err;
    assert_int_equal(minica_store_list_certs(f->store, &filter, collect, &c, &err), 42);
    assert_int_equal(c.n, 1);
}

static void test_store_delete_and_rollback(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    insert(f->store, "21", "a.internal.svc", NOW + 86400);
    assert_int_equal(minica_store_delete_cert(f->store, "21", &err), 0);
    /* Its names go with it: a withdrawn certificate is found by none. */
    struct collected c;
    assert_int_equal(list_name(f->store, "10.0.2.88", &c), 0);
    assert_int_equal(list_name(f->store, "a.internal.svc", &c), 0);

    /* A rolled back transaction leaves no row. */
    assert_int_equal(minica_store_begin(f->store, &err), 0);
    insert(f->store, "22", "b.internal.svc", NOW + 86400);
    minica_store_rollback(f->store);
    assert_int_equal(minica_store_begin(f->store, &err), 0);
    insert(f->store, "23", "c.internal.svc", NOW + 86400);
    assert_int_equal(minica_store_commit(f->store, &err), 0);

    struct minica_cert_filter filter = {.now = NOW};
    assert_int_equal(list(f->store, &filter, &c), 1);
    assert_string_equal(c.last.serial, "23");
    /* The rolled back row's names are gone too; the committed one's stay. */
    assert_int_equal(list_name(f->store, "b.internal.svc", &c), 0);
    assert_int_equal(list_name(f->store, "10.0.2.88", &c), 1);
    assert_string_equal(c.last.serial, "23");
}

struct audit_seen {
    size_t n;
    struct minica_audit_row last;
    char last_summary[16384]; /* last.summary points here */
};

static int collect_audit(const struct minica_audit_row *row, void *p)
{
    struct audit_seen *a = p;
    a->n++;
    a->last = *row;
    snprintf(a->last_summary, sizeof(a->last_summary), "%s", row->summary);
    a->last.summary = a->last_summary;
    return 0;
}

static void test_store_records_audit_rows(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    setenv("MINICA_FAKE_NOW", "1800000000", 1);
    assert_int_equal(minica_store_audit(f->store, "issue", "issued a.internal.svc", &err), 0);
    setenv("MINICA_FAKE_NOW", "1800000100", 1);
    assert_int_equal(minica_store_audit(f->store, "revoke", "revoked 0a", &err), 0);
    unsetenv("MINICA_FAKE_NOW");

    struct audit_seen a = {0};
    assert_int_equal(minica_store_list_audit(f->store, 0, collect_audit, &a, &err), 0);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.last.command, "revoke");
    assert_string_equal(a.last.summary, "revoked 0a");
    assert_int_equal(a.last.time, 1800000100);
    assert_int_equal(a.last.uid, (int64_t)getuid());
    assert_true(strlen(a.last.user) > 0);

    memset(&a, 0, sizeof(a));
    assert_int_equal(minica_store_list_audit(f->store, 1800000050, collect_audit, &a, &err), 0);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.last.command, "revoke");
}

/* A revoke of many certificates lists every serial: the row is read back
 * whole (it used to be cut at 2,047 bytes). */
static void test_store_audit_summary_is_read_whole(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    static char summary[10001];
    memset(summary, 'a', sizeof(summary) - 1);
    summary[sizeof(summary) - 1] = '\0';
    assert_int_equal(minica_store_audit(f->store, "revoke", summary, &err), 0);
    static struct audit_seen a;
    memset(&a, 0, sizeof(a));
    assert_int_equal(minica_store_list_audit(f->store, 0, collect_audit, &a, &err), 0);
    assert_int_equal(a.n, 1);
    assert_int_equal(strlen(a.last.summary), 10000);
}

/* A summary is client text (a CSR's CN, quoted into a refusal): no control
 * character or non-ASCII byte may reach the table, where `minica log` would
 * print it as a new line or a terminal escape. */
static void test_store_audit_escapes_control_characters(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    static const char forged[] =
        "refused x\n2026-12-01T00:00:00Z 0 root revoke revoked ALL\x1b[2J\r"
        "\t\x7f\xc3\xa9\xe2\x80\xae end \\ \"q\"";
    assert_int_equal(minica_store_audit(f->store, "serve\n", forged, &err), 0);
    struct audit_seen a = {0};
    assert_int_equal(minica_store_list_audit(f->store, 0, collect_audit, &a, &err), 0);
    assert_int_equal(a.n, 1);
    for (const char *p = a.last.summary; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
    assert_string_equal(a.last.summary,
                        "refused x\\n2026-12-01T00:00:00Z 0 root revoke revoked ALL\\x1b[2J\\r"
                        "\\t\\x7f\\xc3\\xa9\\xe2\\x80\\xae end \\ \"q\"");
    assert_string_equal(a.last.command, "serve\\n");
}

static void test_store_crl_numbers_increase_per_issuer(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    int64_t n = 0;
    assert_int_equal(minica_store_next_crl_number(f->store, "intermediate", &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(minica_store_next_crl_number(f->store, "intermediate", &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(minica_store_next_crl_number(f->store, "root", &n, &err), 0);
    assert_int_equal(n, 1);
}

/* Times past 2038 (a root's not_after, a long token) read back whole: a
 * PostgreSQL INTEGER is 32 bits, so the schema there says BIGINT. */
static void test_store_keeps_times_past_2038(void **state)
{
    struct fixture *f = *state;
    const int64_t y2100 = 4102444800LL;
    insert(f->store, "30", "late.internal.svc", y2100);
    struct collected c;
    struct minica_cert_filter filter = {.serial = "30", .now = NOW};
    assert_int_equal(list(f->store, &filter, &c), 1);
    assert_int_equal(c.last.not_after, y2100);
    struct minica_token_row t = {.ttl = y2100, .created_at = NOW, .expires_at = y2100};
    snprintf(t.id, sizeof(t.id), "tok1");
    snprintf(t.secret_sha256, sizeof(t.secret_sha256), "%064d", 0);
    snprintf(t.name, sizeof(t.name), "late.internal.svc");
    snprintf(t.sans, sizeof(t.sans), "late.internal.svc");
    snprintf(t.usage, sizeof(t.usage), "server");
    struct minica_err err;
    assert_int_equal(minica_store_insert_token(f->store, &t, &err), 0);
    struct minica_token_row got;
    assert_int_equal(minica_store_get_token(f->store, "tok1", &got, &err), 0);
    assert_int_equal(got.expires_at, y2100);
    assert_int_equal(minica_store_revoke(f->store, "30", y2100, 1, &err), 0);
    assert_int_equal(list(f->store, &filter, &c), 1);
    assert_int_equal(c.last.revoked_at, y2100);
}

/* Replicas started at once on an empty database all open it, and it is
 * migrated once: SQLite's writer lock or PostgreSQL's advisory lock makes
 * the others wait and then find the schema made (without the lock, a
 * second CREATE TABLE fails on PostgreSQL's catalog). */
#define OPENERS 6
static void test_store_concurrent_first_opens_migrate_once(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char target[4200];
    tu_store_target(dir, target, sizeof(target));
    int gate[2];
    assert_int_equal(pipe(gate), 0);
    pid_t pids[OPENERS];
    for (int i = 0; i < OPENERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(gate[1]);
            char c;
            if (read(gate[0], &c, 1) != 0)
                _exit(4);
            struct minica_store *store;
            struct minica_err err;
            if (minica_store_open(target, &store, &err) != 0) {
                fprintf(stderr, "opener %d: %s\n", i, err.msg);
                _exit(1);
            }
            minica_store_close(store);
            _exit(0);
        }
    }
    close(gate[0]);
    close(gate[1]);
    for (int i = 0; i < OPENERS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    struct minica_store *store;
    struct minica_err err;
    assert_int_equal(minica_store_open(target, &store, &err), 0);
    insert(store, "31", "once.internal.svc", NOW + 86400);
    assert_int_equal(minica_store_schema_version(store), latest_schema_version(dir));
    minica_store_close(store);
    tu_store_drop(target);
    tu_rmtree(dir);
    free(dir);
}

/* One token raced by processes that each hold their own connection (as
 * serve workers or replicas do), each in a transaction as an issuance is:
 * exactly one spends it, on either backend. */
static void test_store_token_race_has_one_winner(void **state)
{
    struct fixture *f = *state;
    struct minica_token_row t = {.ttl = 86400, .created_at = NOW, .expires_at = NOW + 3600};
    snprintf(t.id, sizeof(t.id), "race");
    snprintf(t.secret_sha256, sizeof(t.secret_sha256), "%064d", 7);
    snprintf(t.name, sizeof(t.name), "race.internal.svc");
    snprintf(t.sans, sizeof(t.sans), "race.internal.svc");
    snprintf(t.usage, sizeof(t.usage), "server");
    struct minica_err err;
    assert_int_equal(minica_store_insert_token(f->store, &t, &err), 0);
    int gate[2];
    assert_int_equal(pipe(gate), 0);
    pid_t pids[OPENERS];
    for (int i = 0; i < OPENERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(gate[1]);
            struct minica_store *store;
            if (minica_store_open(f->path, &store, &err) != 0)
                _exit(3);
            char c;
            if (read(gate[0], &c, 1) != 0)
                _exit(4);
            int ret = minica_store_begin(store, &err);
            if (ret == 0)
                ret = minica_store_use_token(store, "race", t.secret_sha256, NOW, "racer", &err);
            if (ret == 0)
                ret = minica_store_audit(store, "test", "spent race", &err);
            if (ret == 0)
                ret = minica_store_commit(store, &err);
            else
                minica_store_rollback(store);
            if (ret != 0 && ret != MINICA_EFORBIDDEN)
                fprintf(stderr, "racer %d: %d %s\n", i, ret, err.msg);
            minica_store_close(store);
            _exit(ret == 0 ? 0 : ret == MINICA_EFORBIDDEN ? 1 : 2);
        }
    }
    close(gate[0]);
    close(gate[1]);
    int wins = 0;
    for (int i = 0; i < OPENERS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_true(WEXITSTATUS(status) <= 1);
        wins += WEXITSTATUS(status) == 0;
    }
    assert_int_equal(wins, 1);
    struct minica_token_row got;
    assert_int_equal(minica_store_get_token(f->store, "race", &got, &err), 0);
    assert_int_equal(got.used_at, NOW);
    /* The winner's audit row committed with the spend, and only its. */
    struct audit_seen seen = {0};
    assert_int_equal(minica_store_list_audit(f->store, 0, collect_audit, &seen, &err), 0);
    assert_int_equal(seen.n, 1);
}

/* A shared secret is made once and then only read: a later fresh value,
 * even inside a transaction, changes nothing; names are independent. */
static void test_store_secret_is_made_once(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    char out[64];
    assert_int_equal(
        minica_store_secret(f->store, "acme-nonce", "first", NOW, out, sizeof(out), &err), 0);
    assert_string_equal(out, "first");
    assert_int_equal(
        minica_store_secret(f->store, "acme-nonce", "second", NOW + 1, out, sizeof(out), &err), 0);
    assert_string_equal(out, "first");
    assert_int_equal(minica_store_begin(f->store, &err), 0);
    assert_int_equal(
        minica_store_secret(f->store, "acme-nonce", "third", NOW + 2, out, sizeof(out), &err), 0);
    assert_string_equal(out, "first");
    assert_int_equal(minica_store_secret(f->store, "other", "x", NOW + 2, out, sizeof(out), &err),
                     0);
    assert_string_equal(out, "x");
    assert_int_equal(minica_store_commit(f->store, &err), 0);
    assert_int_equal(minica_store_secret(f->store, "acme-nonce", "fourth", NOW, out, 5, &err),
                     MINICA_EINVAL);
    assert_int_equal(tu_store_query_int(f->path, "SELECT count(*) FROM serve_secrets"), 2);
    assert_int_equal(tu_store_query_int(f->path, "SELECT created_at FROM serve_secrets "
                                                 "WHERE name = 'acme-nonce'"),
                     NOW);
}

/* Replicas starting at once on one database, each with its own fresh
 * secret and connection: all come back with the same one, one row. */
static void test_store_secret_race_agrees(void **state)
{
    struct fixture *f = *state;
    int gate[2], answers[2];
    assert_int_equal(pipe(gate), 0);
    assert_int_equal(pipe(answers), 0);
    pid_t pids[OPENERS];
    for (int i = 0; i < OPENERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(gate[1]);
            close(answers[0]);
            struct minica_store *store;
            struct minica_err err;
            if (minica_store_open(f->path, &store, &err) != 0)
                _exit(3);
            char c, fresh[16], out[16] = "";
            if (read(gate[0], &c, 1) != 0)
                _exit(4);
            snprintf(fresh, sizeof(fresh), "racer%d", i);
            int ret = minica_store_secret(store, "acme-nonce", fresh, NOW, out, sizeof(out), &err);
            if (ret != 0)
                fprintf(stderr, "racer %d: %s\n", i, err.msg);
            minica_store_close(store);
            if (write(answers[1], out, sizeof(out)) != (ssize_t)sizeof(out))
                _exit(5);
            _exit(ret == 0 ? 0 : 1);
        }
    }
    close(gate[0]);
    close(gate[1]);
    close(answers[1]);
    char first[16] = "", got[16];
    for (int i = 0; i < OPENERS; i++) {
        assert_int_equal(read(answers[0], got, sizeof(got)), (ssize_t)sizeof(got));
        assert_int_equal(strncmp(got, "racer", 5), 0);
        if (i == 0)
            memcpy(first, got, sizeof(first));
        assert_string_equal(got, first);
    }
    close(answers[0]);
    for (int i = 0; i < OPENERS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(tu_store_query_int(f->path, "SELECT count(*) FROM serve_secrets"), 1);
    struct minica_err err;
    char out[16];
    assert_int_equal(
        minica_store_secret(f->store, "acme-nonce", "late", NOW, out, sizeof(out), &err), 0);
    assert_string_equal(out, first);
}

static int count_stats(const struct minica_issuer_stats *row, void *p)
{
    char *out = p;
    size_t used = strlen(out);
    snprintf(out + used, 256 - used, "%c:%lld/%lld;", row->issuer_fingerprint_sha256[0],
             (long long)row->unexpired, (long long)row->unexpired_revoked);
    return 0;
}

static int join_name(const char *name, void *p)
{
    char *out = p;
    size_t used = strlen(out);
    snprintf(out + used, 256 - used, "%s;", name);
    return 0;
}

static int join_revocation(const struct minica_ca_revocation *row, void *p)
{
    char *out = p;
    size_t used = strlen(out);
    snprintf(out + used, 256 - used, "%s@%lld/%d;", row->serial, (long long)row->revoked_at,
             row->reason);
    return 0;
}

static int join_token(const struct minica_token_row *row, void *p)
{
    char *out = p;
    size_t used = strlen(out);
    snprintf(out + used, 256 - used, "%s:%lld;", row->id, (long long)row->revoked_at);
    return 0;
}

/* What `ca status`, rotation and `token list` read: per-issuer counts,
 * names still served only by an old issuer, revoked CA certificates, and
 * tokens, each statement as both backends run it. */
static void test_store_ca_views_and_tokens(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    assert_int_equal(minica_store_set_full_sync(f->store, 0, &err), 0);
    assert_int_equal(minica_store_set_full_sync(f->store, 1, &err), 0);
    insert(f->store, "41", "old.internal.svc", NOW + 86400);
    insert(f->store, "42", "both.internal.svc", NOW + 86400);
    struct minica_cert_row row;
    make_row(&row, "43", "both.internal.svc", NOW + 2 * 86400);
    memset(row.issuer_fingerprint_sha256, 'f', 64);
    assert_int_equal(minica_store_insert_cert(f->store, &row, "pem", &err), 0);
    insert(f->store, "44", "gone.internal.svc", NOW - 86400);
    assert_int_equal(minica_store_revoke(f->store, "41", NOW, 4, &err), 0);

    char out[256] = "";
    assert_int_equal(minica_store_issuer_stats(f->store, NOW, count_stats, out, &err), 0);
    assert_string_equal(out, "e:2/1;f:1/0;");
    out[0] = '\0';
    const char *const issuers[] = {
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"};
    insert(f->store, "45", "stays.internal.svc", NOW + 86400);
    assert_int_equal(
        minica_store_names_not_issued_by(f->store, NOW, issuers, 1, join_name, out, &err), 0);
    assert_string_equal(out, "stays.internal.svc;");

    struct minica_ca_revocation rev = {.revoked_at = NOW, .reason = 5};
    snprintf(rev.serial, sizeof(rev.serial), "aa01");
    memset(rev.fingerprint_sha256, 'a', 64);
    memset(rev.issuer_fingerprint_sha256, 'b', 64);
    assert_int_equal(minica_store_revoke_ca(f->store, &rev, &err), 0);
    rev.revoked_at = NOW + 1; /* again: the first time stays */
    assert_int_equal(minica_store_revoke_ca(f->store, &rev, &err), 0);
    out[0] = '\0';
    assert_int_equal(minica_store_list_ca_revocations(f->store, join_revocation, out, &err), 0);
    char want[64];
    snprintf(want, sizeof(want), "aa01@%lld/5;", (long long)NOW);
    assert_string_equal(out, want);

    struct minica_token_row t = {.ttl = 3600, .created_at = NOW, .expires_at = NOW + 3600};
    snprintf(t.secret_sha256, sizeof(t.secret_sha256), "%064d", 1);
    snprintf(t.name, sizeof(t.name), "t.internal.svc");
    snprintf(t.sans, sizeof(t.sans), "t.internal.svc");
    snprintf(t.usage, sizeof(t.usage), "client");
    snprintf(t.id, sizeof(t.id), "t1");
    assert_int_equal(minica_store_insert_token(f->store, &t, &err), 0);
    assert_int_equal(minica_store_insert_token(f->store, &t, &err), MINICA_EEXIST);
    snprintf(t.id, sizeof(t.id), "t2");
    t.created_at = NOW + 1;
    assert_int_equal(minica_store_insert_token(f->store, &t, &err), 0);
    assert_int_equal(minica_store_revoke_token(f->store, "t1", NOW + 5, &err), 0);
    assert_int_equal(minica_store_revoke_token(f->store, "t1", NOW + 9, &err), 0);
    assert_int_equal(minica_store_revoke_token(f->store, "nope", NOW, &err), MINICA_ENOENT);
    out[0] = '\0';
    assert_int_equal(minica_store_list_tokens(f->store, join_token, out, &err), 0);
    snprintf(want, sizeof(want), "t1:%lld;t2:0;", (long long)(NOW + 5));
    assert_string_equal(out, want);
}

/* PostgreSQL's schema read on its own: every time and counter is a BIGINT
 * (an INTEGER there is 32 bits and ends in 2038); INTEGER is left to the
 * small codes (revocation reasons, the wildcard flag, the schema
 * version), and the audit id is an identity column. */
static void test_store_pg_schema_has_no_32_bit_times(void **state)
{
    struct fixture *f = *state;
    /* The query sees this test's tables: its times are there, as BIGINT. */
    assert_true(tu_store_query_int(f->path, "SELECT count(*) FROM information_schema.columns "
                                            "WHERE table_schema = current_schema() AND "
                                            "data_type = 'bigint'") >= 20);
    assert_int_equal(tu_store_query_int(f->path,
                                        "SELECT count(*) FROM information_schema.columns WHERE "
                                        "table_schema = current_schema() AND data_type = "
                                        "'integer' AND column_name NOT IN ('revoke_reason', "
                                        "'reason', 'wildcard', 'version')"),
                     0);
    assert_int_equal(tu_store_query_int(f->path,
                                        "SELECT count(*) FROM information_schema.columns WHERE "
                                        "table_schema = current_schema() AND table_name = "
                                        "'audit' AND column_name = 'id' AND is_identity = 'YES'"),
                     1);
}

static void assert_serial(const char *text, const char *want)
{
    char out[MINICA_SERIAL_HEX_MAX];
    struct minica_err err = {{0}};
    int ret = minica_serial_normalize(text, out, sizeof(out), &err);
    if (ret != 0)
        print_error("'%s' refused: %s\n", text, err.msg);
    assert_int_equal(ret, 0);
    assert_string_equal(out, want);
}

static void test_store_normalizes_serials(void **state)
{
    (void)state;
    assert_serial("0A1B2C", "0a1b2c");
    assert_serial("0a:1b:2c", "0a1b2c");
    assert_serial("00:0A:1B:2C", "0a1b2c"); /* openssl prints a leading 00 byte */
    assert_serial("a1b2c", "0a1b2c");       /* odd length: a leading nibble */
    assert_serial("00000001", "01");
    assert_serial("00", "00");
    assert_serial("7F", "7f");
    /* The form minica stores for a 16-byte serial with the high bit set. */
    assert_serial("00:FE:DC:BA:98:76:54:32:10:01:23:45:67:89:AB:CD:EF", "fedcba9876543210"
                                                                        "0123456789abcdef");

    char out[MINICA_SERIAL_HEX_MAX];
    struct minica_err err;
    const char *bad[] = {"", ":", "xyz", "0x1f", "12 34", "-1", "g0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (minica_serial_normalize(bad[i], out, sizeof(out), &err) == 0)
            print_error("serial '%s' accepted as %s\n", bad[i], out);
        assert_int_equal(minica_serial_normalize(bad[i], out, sizeof(out), &err), MINICA_EINVAL);
    }
    char longest[200];
    memset(longest, 'a', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    assert_int_equal(minica_serial_normalize(longest, out, sizeof(out), &err), MINICA_EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* Run twice by ctest: test_store on SQLite, test_store_pg with
 * MINICA_TEST_STORE=postgresql. What opens the SQLite file itself (crafted
 * schemas, PRAGMAs, damage, query plans) runs on SQLite only. */
/* ---- group commit (minica_store_defer_sync, minica_store_sync) ---- */

struct committer {
    struct fixture *f;
    pthread_mutex_t *lock;
    int index, ok;
};

/* What serve's enrollment does: commit under the lock with the sync
 * deferred, then wait for the shared sync outside it. */
static void *commit_then_sync(void *arg)
{
    struct committer *c = arg;
    struct minica_err err;
    char summary[64];
    snprintf(summary, sizeof(summary), "group commit %d", c->index);
    pthread_mutex_lock(c->lock);
    int deferred = minica_store_defer_sync(c->f->store, 1, &err);
    int ret = minica_store_audit(c->f->store, "test", summary, &err);
    if (deferred == 1 && minica_store_defer_sync(c->f->store, 0, &err) != 1)
        ret = -1;
    pthread_mutex_unlock(c->lock);
    if (ret == 0 && deferred == 1)
        ret = minica_store_sync(c->f->store, &err);
    c->ok = ret == 0 && deferred >= 0;
    return NULL;
}

static void test_store_group_commit(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    int deferred = minica_store_defer_sync(f->store, 1, &err);
    /* SQLite defers; PostgreSQL's commits are durable anyway. */
    assert_int_equal(deferred, tu_store_is_pg() ? 0 : 1);
    assert_int_equal(minica_store_defer_sync(f->store, 0, &err), deferred);
    /* Nothing committed yet: a sync has nothing to do, and says so. */
    assert_int_equal(minica_store_sync(f->store, &err), MINICA_OK);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct committer c[16];
    pthread_t t[16];
    for (int i = 0; i < 16; i++) {
        c[i] = (struct committer){f, &lock, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, commit_then_sync, &c[i]), 0);
    }
    for (int i = 0; i < 16; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_true(c[i].ok);
    }
    assert_int_equal(tu_store_query_int(
                         f->path, "SELECT count(*) FROM audit WHERE summary LIKE 'group commit %'"),
                     16);
    /* Commits after the deferral are synced at once again. */
    assert_int_equal(minica_store_audit(f->store, "test", "after", &err), MINICA_OK);
}

int main(void)
{
    const struct CMUnitTest both[] = {
        T(test_store_inserts_and_queries_by_name_and_serial),
        T(test_store_finds_a_cert_by_any_of_its_names),
        T(test_store_serial_is_unique),
        T(test_store_status_is_computed_from_time),
        T(test_store_marks_superseded_certificates),
        T(test_store_filters_expiring_and_stops_on_callback),
        T(test_store_delete_and_rollback),
        T(test_store_records_audit_rows),
        T(test_store_audit_summary_is_read_whole),
        T(test_store_audit_escapes_control_characters),
        T(test_store_crl_numbers_increase_per_issuer),
        T(test_store_keeps_times_past_2038),
        cmocka_unit_test(test_store_concurrent_first_opens_migrate_once),
        T(test_store_token_race_has_one_winner),
        T(test_store_ca_views_and_tokens),
        T(test_store_secret_is_made_once),
        T(test_store_secret_race_agrees),
    };
    const struct CMUnitTest sqlite_only[] = {
        cmocka_unit_test(test_store_migrates_empty_db_to_latest_version),
        cmocka_unit_test(test_store_creates_db_private_whatever_the_umask),
        cmocka_unit_test(test_store_refuses_newer_schema),
        cmocka_unit_test(test_store_corrupted_file_gives_clear_error),
        cmocka_unit_test(test_store_names_an_unreachable_postgresql_without_its_password),
        cmocka_unit_test(test_store_migration_backfills_names_of_a_v2_db),
        T(test_store_lookup_by_name_is_one_indexed_join),
        cmocka_unit_test(test_store_normalizes_serials),
        cmocka_unit_test_setup_teardown(test_store_group_commit, setup, teardown),
    };
    const struct CMUnitTest postgresql_only[] = {
        T(test_store_pg_schema_has_no_32_bit_times),
    };
    if (tu_store_is_pg()) {
        int failed = cmocka_run_group_tests_name("postgresql", both, NULL, NULL);
        return failed + cmocka_run_group_tests_name("postgresql_only", postgresql_only, NULL, NULL);
    }
    int failed = cmocka_run_group_tests_name("sqlite", both, NULL, NULL);
    return failed + cmocka_run_group_tests_name("sqlite_only", sqlite_only, NULL, NULL);
}
