/* The PostgreSQL driver behind db.h: libpq, loaded on first use. It runs
 * the store's statements and classifies their errors; it holds no SQL of
 * the store's. One connection per struct minica_db, used by one thread at
 * a time, as the SQLite driver's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/libload.h"
#include "store/db_internal.h"

/* So that no request waits on the server for longer than serve's own
 * request timeout: a stuck lock gives up first (MINICA_DB_BUSY, retried
 * by the caller), then any statement. */
#define PG_SETTINGS "SET statement_timeout = '10s'; SET lock_timeout = '5s'"
/* Unless the URI says otherwise: an unreachable host fails in seconds,
 * not after the kernel's TCP timeout (minutes). */
#define PG_CONNECT_TIMEOUT "10"
/* After a reconnect that failed slowly, the next ones fail at once for
 * this long. A server that takes connections and never answers costs
 * connect_timeout per attempt, and serve's requests reach the store one
 * at a time: without it each queued request would wait that long again,
 * after the one before it. A refusal (nothing listening) is fast and
 * holds nothing off: the first request after the server is back works. */
#define PG_RECONNECT_HOLD_OFF_MS 2000
#define PG_RECONNECT_SLOW_MS 500

struct pg_db {
    struct minica_db base;
    const struct minica_pq *pq;
    PGconn *conn;
    char *name; /* the URI without its password */
    enum minica_db_error last_error;
    char errmsg[512];
    int broken;                 /* the connection failed: make it again before the next statement */
    int64_t reconnect_after_ms; /* monotonic; 0: at once */
    int in_begin;               /* between begin and commit or rollback */
};

struct pg_stmt {
    struct minica_db_stmt base;
    struct pg_db *db;
    char *sql; /* with $N placeholders */
    int nparams;
    char **values; /* malloc'd text, NULL for SQL NULL or unbound */
    Oid *types;    /* int8 for an int64, 0 (the server infers) otherwise */
    /* A bind that failed (out of memory, an index the statement does not
     * have) fails the next step instead of running with a NULL there, as
     * in the SQLite driver; reset clears it. */
    int bind_rc;
    PGresult *res;
    int ran;
    int row; /* the current row of res, -1 before the first */
    int64_t changes;
};

static struct pg_db *pg_of(struct minica_db *db)
{
    return (struct pg_db *)db;
}

static struct pg_stmt *stmt_of(struct minica_db_stmt *st)
{
    return (struct pg_stmt *)st;
}

static void ok(struct pg_db *db)
{
    db->last_error = MINICA_DB_OK;
    db->errmsg[0] = '\0';
}

/* SQLSTATE (Appendix A of PostgreSQL's manual) to the store's kinds. */
static enum minica_db_error classify(const char *state)
{
    static const struct {
        const char *prefix;
        enum minica_db_error kind;
    } map[] = {
        {"23505", MINICA_DB_UNIQUE},      {"23503", MINICA_DB_FOREIGN_KEY},
        {"23514", MINICA_DB_CHECK},       {"23502", MINICA_DB_CHECK},
        {"40001", MINICA_DB_BUSY}, /* serialization_failure */
        {"40P01", MINICA_DB_BUSY}, /* deadlock_detected */
        {"55P03", MINICA_DB_BUSY}, /* lock_not_available: lock_timeout */
        {"57014", MINICA_DB_BUSY}, /* query_canceled: statement_timeout */
        {"25006", MINICA_DB_READ_ONLY},   {"57P01", MINICA_DB_UNAVAILABLE}, /* admin_shutdown */
        {"57P02", MINICA_DB_UNAVAILABLE},                                   /* crash_shutdown */
        {"57P03", MINICA_DB_UNAVAILABLE}, /* cannot_connect_now: starting up */
        {"08", MINICA_DB_UNAVAILABLE},    /* connection exceptions */
        {"53", MINICA_DB_UNAVAILABLE},    /* insufficient resources: too many connections */
        {"XX001", MINICA_DB_CORRUPT},     /* data_corrupted */
        {"XX002", MINICA_DB_CORRUPT},     /* index_corrupted */
    };
    if (state == NULL)
        return MINICA_DB_OTHER;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strncmp(state, map[i].prefix, strlen(map[i].prefix)) == 0)
            return map[i].kind;
    return MINICA_DB_OTHER;
}

/* libpq's messages end in a newline and may run over several lines; the
 * store's are one line. */
static void copy_first_line(char *dst, size_t size, const char *src)
{
    size_t n = strcspn(src != NULL ? src : "", "\n");
    if (n >= size)
        n = size - 1;
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
}

/* Records why res (NULL when libpq had none) failed, in db and err. A
 * connection that is gone makes any error MINICA_DB_UNAVAILABLE: the
 * caller answers 503 and opens again later. */
static int fail(struct pg_db *db, const PGresult *res, struct minica_err *err)
{
    const struct minica_pq *pq = db->pq;
    const char *msg = NULL;
    const char *state = NULL;
    enum minica_db_error kind = MINICA_DB_OTHER;
    if (res != NULL) {
        state = pq->result_error_field(res, PG_DIAG_SQLSTATE);
        kind = classify(state);
        msg = pq->result_error_field(res, PG_DIAG_MESSAGE_PRIMARY);
        if (msg == NULL || *msg == '\0')
            msg = pq->result_error_message(res);
    }
    if (msg == NULL || *msg == '\0')
        msg = pq->error_message(db->conn);
    /* An error libpq made itself, with no SQLSTATE from the server, is the
     * connection's: "server closed the connection unexpectedly" comes back
     * while PQstatus still says CONNECTION_OK. */
    if (state == NULL || pq->status(db->conn) == CONNECTION_BAD)
        kind = MINICA_DB_UNAVAILABLE;
    if (kind == MINICA_DB_UNAVAILABLE)
        db->broken = 1;
    db->last_error = kind;
    copy_first_line(db->errmsg, sizeof(db->errmsg), msg);
    if (db->errmsg[0] == '\0')
        snprintf(db->errmsg, sizeof(db->errmsg), "the server gave no reason");
    return minica_seterr(err, MINICA_EDB, "%s: %s", db->name, db->errmsg);
}

/* Runs sql without parameters; 0 when the server says it succeeded. */
static int run(struct pg_db *db, const char *sql, struct minica_err *err)
{
    PGresult *res = db->pq->exec(db->conn, sql);
    ExecStatusType status = res != NULL ? db->pq->result_status(res) : PGRES_FATAL_ERROR;
    int rc = 0;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY)
        ok(db);
    else
        rc = fail(db, res, err);
    db->pq->clear(res);
    return rc;
}

/* The first column of the first row of sql, malloc'd; NULL (err filled)
 * on failure or when there is no row. */
static char *query_value(struct pg_db *db, const char *sql, struct minica_err *err)
{
    PGresult *res = db->pq->exec(db->conn, sql);
    char *value = NULL;
    if (res == NULL || db->pq->result_status(res) != PGRES_TUPLES_OK) {
        fail(db, res, err);
    } else if (db->pq->ntuples(res) < 1 || db->pq->getisnull(res, 0, 0)) {
        db->last_error = MINICA_DB_OTHER;
        snprintf(db->errmsg, sizeof(db->errmsg), "no row from: %s", sql);
        minica_seterr(err, MINICA_EDB, "%s: %s", db->name, db->errmsg);
    } else {
        value = strdup(db->pq->getvalue(res, 0, 0));
        if (value == NULL)
            minica_seterr(err, MINICA_ENOMEM, "out of memory");
        else
            ok(db);
    }
    db->pq->clear(res);
    return value;
}

/* The URI with its password left out, both user:password@ and a
 * password= parameter, for every message that names the database. */
static char *redact(const char *uri)
{
    size_t len = strlen(uri);
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    const char *scheme_end = strstr(uri, "://");
    const char *p = uri;
    char *o = out;
    if (scheme_end != NULL) {
        const char *auth = scheme_end + 3;
        const char *auth_end = auth + strcspn(auth, "/?");
        const char *at = NULL;
        for (const char *q = auth; q < auth_end; q++)
            if (*q == '@')
                at = q;
        memcpy(o, uri, (size_t)(auth - uri));
        o += auth - uri;
        p = auth;
        if (at != NULL) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            const char *user_end = colon != NULL ? colon : at;
            memcpy(o, auth, (size_t)(user_end - auth));
            o += user_end - auth;
            p = at;
        }
    }
    const char *query = strchr(p, '?');
    if (query == NULL) {
        strcpy(o, p);
        return out;
    }
    memcpy(o, p, (size_t)(query + 1 - p));
    o += query + 1 - p;
    int first = 1;
    for (const char *q = query + 1; *q != '\0';) {
        size_t n = strcspn(q, "&");
        if (!(n >= 9 && strncmp(q, "password=", 9) == 0)) {
            if (!first)
                *o++ = '&';
            memcpy(o, q, n);
            o += n;
            first = 0;
        }
        q += n;
        if (*q == '&')
            q++;
    }
    if (first && o[-1] == '?')
        o--; /* nothing but the password was there */
    *o = '\0';
    return out;
}

/* `?` and `?N` to `$N`, outside '...' literals, "..." identifiers and
 * comments. A bare `?` is one more than the largest number so far, as in
 * SQLite, so that both drivers number the same SQL alike. */
static char *rewrite(const char *sql, int *nparams)
{
    size_t len = strlen(sql);
    /* Each `?` becomes at most `$` and 10 digits. */
    char *out = malloc(len * 11 + 1);
    if (out == NULL)
        return NULL;
    char *o = out;
    int max = 0;
    for (const char *p = sql; *p != '\0';) {
        if (*p == '\'' || *p == '"') {
            const char *end = strchr(p + 1, *p);
            size_t n = end != NULL ? (size_t)(end + 1 - p) : strlen(p);
            memcpy(o, p, n);
            o += n;
            p += n;
        } else if (p[0] == '-' && p[1] == '-') {
            size_t n = strcspn(p, "\n");
            memcpy(o, p, n);
            o += n;
            p += n;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            size_t n = end != NULL ? (size_t)(end + 2 - p) : strlen(p);
            memcpy(o, p, n);
            o += n;
            p += n;
        } else if (*p == '?') {
            p++;
            int n = 0;
            if (*p >= '0' && *p <= '9') {
                char *end;
                long v = strtol(p, &end, 10);
                if (v < 1 || v > 32766) { /* SQLite's and libpq's limit */
                    free(out);
                    return NULL;
                }
                n = (int)v;
                p = end;
            } else {
                n = max + 1;
            }
            if (n > max)
                max = n;
            o += sprintf(o, "$%d", n);
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    *nparams = max;
    return out;
}

static int start_session(struct pg_db *db, struct minica_err *err);

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connection that failed is made again before the next statement, so a
 * long-lived store (serve's) recovers by itself once the server is back.
 * Never inside a transaction: what it did is gone with the old
 * connection, and the rest must not run on its own; the caller rolls back
 * first. Never the failed statement either: only the caller knows whether
 * running it again is safe (a COMMIT whose outcome is unknown is not). */
static int usable(struct pg_db *db, struct minica_err *err)
{
    const struct minica_pq *pq = db->pq;
    if (!db->broken && pq->status(db->conn) == CONNECTION_OK)
        return 0;
    if (db->in_begin) {
        db->last_error = MINICA_DB_UNAVAILABLE;
        snprintf(db->errmsg, sizeof(db->errmsg),
                 "the connection to %s was lost inside a transaction", db->name);
        return minica_seterr(err, MINICA_EDB, "%s", db->errmsg);
    }
    if (monotonic_ms() < db->reconnect_after_ms) {
        db->last_error = MINICA_DB_UNAVAILABLE;
        return minica_seterr(err, MINICA_EDB, "%s cannot be reached (server said: %s)", db->name,
                             db->errmsg);
    }
    int64_t started = monotonic_ms();
    pq->reset(db->conn);
    if (pq->status(db->conn) != CONNECTION_OK) {
        db->last_error = MINICA_DB_UNAVAILABLE;
        copy_first_line(db->errmsg, sizeof(db->errmsg), pq->error_message(db->conn));
        int64_t now = monotonic_ms();
        if (now - started >= PG_RECONNECT_SLOW_MS)
            db->reconnect_after_ms = now + PG_RECONNECT_HOLD_OFF_MS;
        return minica_seterr(err, MINICA_EDB, "%s cannot be reached (server said: %s)", db->name,
                             db->errmsg);
    }
    db->reconnect_after_ms = 0;
    db->broken = 0;
    /* A failover may have left a standby behind the same name. */
    int rc = start_session(db, err);
    if (rc != 0)
        db->broken = 1;
    return rc;
}

static void pg_close(struct minica_db *base)
{
    struct pg_db *db = pg_of(base);
    if (db->conn != NULL)
        db->pq->finish(db->conn);
    free(db->name);
    free(db);
}

static int pg_exec(struct minica_db *base, const char *sql, struct minica_err *err)
{
    struct pg_db *db = pg_of(base);
    int rc = usable(db, err);
    return rc != 0 ? rc : run(db, sql, err);
}

static int pg_prepare(struct minica_db *base, const char *sql, struct minica_db_stmt **out,
                      struct minica_err *err)
{
    struct pg_db *db = pg_of(base);
    *out = NULL;
    struct pg_stmt *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    st->base.ops = base->ops;
    st->db = db;
    st->row = -1;
    st->sql = rewrite(sql, &st->nparams);
    if (st->sql == NULL) {
        free(st);
        db->last_error = MINICA_DB_OTHER;
        snprintf(db->errmsg, sizeof(db->errmsg), "bad placeholder in: %s", sql);
        return minica_seterr(err, MINICA_EDB, "%s: %s", db->name, db->errmsg);
    }
    if (st->nparams > 0) {
        st->values = calloc((size_t)st->nparams, sizeof(*st->values));
        st->types = calloc((size_t)st->nparams, sizeof(*st->types));
        if (st->values == NULL || st->types == NULL) {
            free(st->values);
            free(st->types);
            free(st->sql);
            free(st);
            return minica_seterr(err, MINICA_ENOMEM, "out of memory");
        }
    }
    ok(db);
    *out = &st->base;
    return 0;
}

static int set_param(struct pg_stmt *st, int idx, char *value, Oid type)
{
    if (idx < 1 || idx > st->nparams) {
        free(value);
        if (st->bind_rc == 0)
            st->bind_rc = MINICA_EINVAL;
        return MINICA_EINVAL;
    }
    free(st->values[idx - 1]);
    st->values[idx - 1] = value;
    st->types[idx - 1] = type;
    return 0;
}

static int pg_bind_text(struct minica_db_stmt *base, int idx, const char *text)
{
    char *copy = strdup(text);
    if (copy == NULL)
        return stmt_of(base)->bind_rc = MINICA_ENOMEM;
    return set_param(stmt_of(base), idx, copy, 0);
}

/* pg_type.h's INT8OID, which libpq-fe.h does not carry. */
#define PG_INT8_OID 20

static int pg_bind_int64(struct minica_db_stmt *base, int idx, int64_t value)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, value);
    char *copy = strdup(buf);
    if (copy == NULL)
        return stmt_of(base)->bind_rc = MINICA_ENOMEM;
    return set_param(stmt_of(base), idx, copy, PG_INT8_OID);
}

static int pg_bind_null(struct minica_db_stmt *base, int idx)
{
    return set_param(stmt_of(base), idx, NULL, 0);
}

/* The whole result arrives with the first step (libpq buffers it); later
 * steps walk its rows. */
static int pg_step(struct minica_db_stmt *base, struct minica_err *err)
{
    struct pg_stmt *st = stmt_of(base);
    struct pg_db *db = stmt_of(base)->db;
    const struct minica_pq *pq = db->pq;
    if (!st->ran) {
        if (st->bind_rc != 0) {
            db->last_error = MINICA_DB_OTHER;
            snprintf(db->errmsg, sizeof(db->errmsg), "%s",
                     st->bind_rc == MINICA_ENOMEM ? "out of memory"
                                                  : "a parameter index out of range");
            return minica_seterr(err, st->bind_rc, "%s: %s", db->name, db->errmsg);
        }
        int rc = usable(db, err);
        if (rc != 0)
            return rc;
        st->ran = 1;
        st->res = pq->exec_params(db->conn, st->sql, st->nparams, st->types,
                                  (const char *const *)st->values, NULL, NULL, 0);
        ExecStatusType status = st->res != NULL ? pq->result_status(st->res) : PGRES_FATAL_ERROR;
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            rc = fail(db, st->res, err);
            pq->clear(st->res);
            st->res = NULL;
            return rc;
        }
        /* PQcmdTuples counts a SELECT's rows too; changes are writes'. */
        const char *command = pq->cmd_status(st->res);
        const char *tuples = pq->cmd_tuples(st->res);
        int write = strncmp(command, "INSERT", 6) == 0 || strncmp(command, "UPDATE", 6) == 0 ||
                    strncmp(command, "DELETE", 6) == 0 || strncmp(command, "MERGE", 5) == 0;
        st->changes = write && tuples[0] != '\0' ? strtoll(tuples, NULL, 10) : 0;
        ok(db);
    }
    if (st->res == NULL || st->row + 1 >= pq->ntuples(st->res)) {
        st->row = st->res != NULL ? pq->ntuples(st->res) : -1;
        return MINICA_DB_DONE;
    }
    st->row++;
    return MINICA_DB_ROW;
}

static int has_value(struct pg_stmt *st, int col)
{
    const struct minica_pq *pq = st->db->pq;
    return st->res != NULL && st->row >= 0 && st->row < pq->ntuples(st->res) && col >= 0 &&
           col < pq->nfields(st->res) && !pq->getisnull(st->res, st->row, col);
}

static int64_t pg_column_int64(struct minica_db_stmt *base, int col)
{
    struct pg_stmt *st = stmt_of(base);
    if (!has_value(st, col))
        return 0;
    return strtoll(stmt_of(base)->db->pq->getvalue(st->res, st->row, col), NULL, 10);
}

static const char *pg_column_text(struct minica_db_stmt *base, int col)
{
    struct pg_stmt *st = stmt_of(base);
    if (!has_value(st, col))
        return NULL;
    return stmt_of(base)->db->pq->getvalue(st->res, st->row, col);
}

static int pg_column_is_null(struct minica_db_stmt *base, int col)
{
    return !has_value(stmt_of(base), col);
}

static int64_t pg_changes(struct minica_db_stmt *base)
{
    return stmt_of(base)->changes;
}

static void pg_reset(struct minica_db_stmt *base)
{
    struct pg_stmt *st = stmt_of(base);
    stmt_of(base)->db->pq->clear(st->res);
    st->res = NULL;
    st->ran = 0;
    st->row = -1;
    st->changes = 0;
    st->bind_rc = 0;
}

static void pg_finalize(struct minica_db_stmt *base)
{
    struct pg_stmt *st = stmt_of(base);
    pg_reset(base);
    for (int i = 0; i < st->nparams; i++)
        free(st->values[i]);
    free(st->values);
    free(st->types);
    free(st->sql);
    free(st);
}

/* READ COMMITTED: each of the store's writes is conditional on what it
 * changes (UPDATE ... WHERE spent = 0), so it needs no snapshot of its own. */
static int pg_begin(struct minica_db *base, struct minica_err *err)
{
    struct pg_db *db = pg_of(base);
    int rc = usable(db, err);
    if (rc == 0)
        rc = run(db, "BEGIN ISOLATION LEVEL READ COMMITTED", err);
    db->in_begin = rc == 0;
    return rc;
}

/* The next COMMIT's fault, for tests (db.h): 0 none, 1 answer lost, 2
 * connection dropped before it. */
static int lose_commit;

void minica_db_pg_test_lose_commit(int mode)
{
    lose_commit = mode;
}

/* The connection as a server gone mid-statement leaves it: closed (libpq
 * makes a new one, which usable() makes again before the next statement),
 * the transaction gone with it or committed, the caller told so. */
static int lost(struct pg_db *db, const char *why, struct minica_err *err)
{
    db->pq->reset(db->conn);
    db->broken = 1;
    db->last_error = MINICA_DB_UNAVAILABLE;
    snprintf(db->errmsg, sizeof(db->errmsg), "%s", why);
    return minica_seterr(err, MINICA_EDB, "%s: %s", db->name, db->errmsg);
}

static int pg_commit(struct minica_db *base, struct minica_err *err)
{
    struct pg_db *db = pg_of(base);
    int fault = lose_commit;
    lose_commit = 0;
    int rc = usable(db, err);
    db->in_begin = 0;
    if (rc != 0)
        return rc;
    /* COMMIT of a failed transaction "succeeds" as a ROLLBACK: say so. */
    if (db->pq->transaction_status(db->conn) == PQTRANS_INERROR) {
        run(db, "ROLLBACK", NULL);
        db->last_error = MINICA_DB_OTHER;
        snprintf(db->errmsg, sizeof(db->errmsg),
                 "the transaction failed earlier and was rolled back");
        return minica_seterr(err, MINICA_EDB, "%s: %s", db->name, db->errmsg);
    }
    if (fault == 2)
        return lost(db, "server closed the connection unexpectedly (test: before COMMIT)", err);
    /* A connection lost here leaves the outcome unknown: the caller sees
     * MINICA_DB_UNAVAILABLE and looks the row up rather than redo. */
    rc = run(db, "COMMIT", err);
    if (rc == 0 && fault == 1)
        return lost(db, "server closed the connection unexpectedly (test: after COMMIT)", err);
    return rc;
}

static void pg_rollback(struct minica_db *base)
{
    struct pg_db *db = pg_of(base);
    enum minica_db_error kind = db->last_error;
    char msg[sizeof(db->errmsg)];
    memcpy(msg, db->errmsg, sizeof(msg));
    db->in_begin = 0;
    /* A lost connection took its transaction with it. */
    if (!db->broken && db->pq->transaction_status(db->conn) != PQTRANS_IDLE)
        run(db, "ROLLBACK", NULL);
    /* The caller rolls back because of an error it still wants to read. */
    db->last_error = kind;
    memcpy(db->errmsg, msg, sizeof(msg));
}

static int pg_in_transaction(const struct minica_db *base)
{
    const struct pg_db *db = (const struct pg_db *)base;
    /* A transaction whose connection was lost is one until the caller
     * rolls it back; libpq may still report the last state it saw. */
    if (db->broken)
        return db->in_begin;
    PGTransactionStatusType status = db->pq->transaction_status(db->conn);
    return db->in_begin || status == PQTRANS_INTRANS || status == PQTRANS_INERROR ||
           status == PQTRANS_ACTIVE;
}

/* A database minica never migrated has no minica_schema: version 0. Its
 * existence is asked first, since reading a missing table is an error,
 * which would abort the migration's transaction. Asked of pg_class by a
 * query, whose snapshot sees a table another session committed while this
 * one waited for the migration lock; to_regclass answers from this
 * backend's catalog cache, which can still say "no such table" then. */
static int pg_schema_version(struct minica_db *base, int *version, struct minica_err *err)
{
    struct pg_db *db = pg_of(base);
    *version = 0;
    int rc = usable(db, err);
    if (rc != 0)
        return rc;
    char *exists = query_value(
        db,
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace"
        " n ON n.oid = c.relnamespace WHERE c.relname = 'minica_schema' AND"
        " n.nspname = ANY (current_schemas(false)))",
        err);
    if (exists == NULL)
        return MINICA_EDB;
    int migrated = strcmp(exists, "t") == 0;
    free(exists);
    if (!migrated)
        return 0;
    char *v = query_value(db, "SELECT coalesce(max(version), 0) FROM minica_schema", err);
    if (v == NULL)
        return MINICA_EDB;
    *version = atoi(v);
    free(v);
    return 0;
}

static int pg_set_schema_version(struct minica_db *base, int version, struct minica_err *err)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS minica_schema (version INT NOT NULL);"
             " DELETE FROM minica_schema; INSERT INTO minica_schema (version) VALUES (%d)",
             version);
    struct pg_db *db = pg_of(base);
    int rc = usable(db, err);
    return rc != 0 ? rc : run(db, sql, err);
}

/* A COMMIT returns once the server has it on disk (synchronous_commit on,
 * which the store keeps outside bulk copies). */
static int pg_sync(struct minica_db *base, struct minica_err *err)
{
    (void)base, (void)err;
    return MINICA_OK;
}

static int pg_set_durability(struct minica_db *base, int full, struct minica_err *err)
{
    struct pg_db *db = pg_of(base);
    int rc = usable(db, err);
    return rc != 0 ? rc
                   : run(db, full ? "SET synchronous_commit = on" : "SET synchronous_commit = off",
                         err);
}

static const char *pg_name(const struct minica_db *base)
{
    return ((const struct pg_db *)base)->name;
}

static enum minica_db_error pg_last_error(const struct minica_db *base)
{
    return ((const struct pg_db *)base)->last_error;
}

static const char *pg_errmsg(const struct minica_db *base)
{
    return ((const struct pg_db *)base)->errmsg;
}

static const struct minica_db_ops pg_ops = {
    .close = pg_close,
    .name = pg_name,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .bind_text = pg_bind_text,
    .bind_int64 = pg_bind_int64,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .column_int64 = pg_column_int64,
    .column_text = pg_column_text,
    .column_is_null = pg_column_is_null,
    .changes = pg_changes,
    .reset = pg_reset,
    .finalize = pg_finalize,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .in_transaction = pg_in_transaction,
    .schema_version = pg_schema_version,
    .set_schema_version = pg_set_schema_version,
    .set_durability = pg_set_durability,
    .sync = pg_sync,
    .last_error = pg_last_error,
    .errmsg = pg_errmsg,
};

/* The server's NOTICEs (CREATE TABLE IF NOT EXISTS of a table that
 * exists) would go to stderr: a library prints nothing. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* A standby (or a session made read-only) would fail every write: refuse
 * it at open, not at the first enrollment. */
static int refuse_read_only(struct pg_db *db, struct minica_err *err)
{
    char *ro = query_value(db,
                           "SELECT CASE WHEN pg_is_in_recovery() THEN 'standby'"
                           " WHEN current_setting('transaction_read_only') = 'on' THEN 'read-only'"
                           " ELSE '' END",
                           err);
    if (ro == NULL)
        return MINICA_EDB;
    int rc = 0;
    if (ro[0] != '\0') {
        db->last_error = MINICA_DB_READ_ONLY;
        snprintf(db->errmsg, sizeof(db->errmsg),
                 "%s is %s: minica writes to it, point it at the primary", db->name,
                 strcmp(ro, "standby") == 0 ? "a hot standby (in recovery)"
                                            : "read-only (default_transaction_read_only)");
        rc = minica_seterr(err, MINICA_EDB, "%s", db->errmsg);
    }
    free(ro);
    return rc;
}

/* What every connection gets before its first statement, at open and
 * after a reconnect. */
static int start_session(struct pg_db *db, struct minica_err *err)
{
    int rc = run(db, PG_SETTINGS, err);
    return rc != 0 ? rc : refuse_read_only(db, err);
}

int minica_db_pg_open(const char *uri, struct minica_db **out, struct minica_err *err)
{
    *out = NULL;
    const struct minica_pq *pq = minica_pq_load(err);
    if (pq == NULL)
        return MINICA_EDB;
    struct pg_db *db = calloc(1, sizeof(*db));
    if (db == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    db->base.ops = &pg_ops;
    db->base.kind = MINICA_DB_POSTGRESQL;
    db->pq = pq;
    db->name = redact(uri);
    if (db->name == NULL) {
        free(db);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    /* Keywords before dbname are defaults the URI's own settings override. */
    const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *const values[] = {PG_CONNECT_TIMEOUT, "minica", uri, NULL};
    db->conn = pq->connectdb_params(keys, values, 1);
    int rc = 0;
    if (db->conn == NULL) {
        rc = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    if (pq->status(db->conn) != CONNECTION_OK) {
        /* Down, restarting, or not there: the caller may retry later. */
        db->last_error = MINICA_DB_UNAVAILABLE;
        copy_first_line(db->errmsg, sizeof(db->errmsg), pq->error_message(db->conn));
        rc = minica_seterr(err, MINICA_EUNAVAILABLE,
                           "%s cannot be reached (server said: %s): retry later", db->name,
                           db->errmsg);
        goto out;
    }
    pq->set_notice_processor(db->conn, ignore_notice, NULL);
    rc = start_session(db, err);
    if (rc != 0)
        goto out;
    ok(db);
    *out = &db->base;
out:
    if (rc != 0)
        pg_close(&db->base);
    return rc;
}
