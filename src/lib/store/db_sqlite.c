/* The SQLite driver of db.h, the embedded default: one file, created here
 * 0600 and opened in WAL mode with a busy timeout, so several processes
 * (parallel `minica issue`, the agent, the server) write without "database
 * is locked" reaching the operator. The only file of minica that calls
 * sqlite3_*; the SQL itself is store.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/db.h"
#include "store/db_internal.h"
#include "minica/store.h"

struct sq_db {
    struct minica_db base;
    sqlite3 *h;
    /* The last failed call's extended code and message, kept apart from the
     * handle's so that a later call (a finalize, a ROLLBACK TO) cannot
     * change what the store reports. SQLITE_OK after a success. */
    int errcode;
    char errmsg[1024];
    char path[4096];
    int wal_fd; /* for sq_sync, opened at its first call; -1 until then */
};

struct sq_stmt {
    struct minica_db_stmt base;
    struct sq_db *db;
    sqlite3_stmt *h;
    /* A bind that failed (a copy out of memory, an index the statement does
     * not have) fails the next step instead of running with a NULL there. */
    int bind_rc;
    int64_t changes;
};

static const struct minica_db_ops sqlite_ops;

static void set_ok(struct sq_db *d)
{
    d->errcode = SQLITE_OK;
    d->errmsg[0] = '\0';
}

/* Records the handle's error; MINICA_EDB with err filled. */
static int fail(struct sq_db *d, struct minica_err *err)
{
    d->errcode = sqlite3_extended_errcode(d->h);
    snprintf(d->errmsg, sizeof(d->errmsg), "%s", sqlite3_errmsg(d->h));
    return minica_seterr(err, MINICA_EDB, "%s: %s", d->path, d->errmsg);
}

static enum minica_db_error classify(int code)
{
    switch (code) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return MINICA_DB_OK;
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_ROWID:
        return MINICA_DB_UNIQUE;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return MINICA_DB_FOREIGN_KEY;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
#ifdef SQLITE_CONSTRAINT_DATATYPE
    case SQLITE_CONSTRAINT_DATATYPE:
#endif
        return MINICA_DB_CHECK;
    default:
        break;
    }
    switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return MINICA_DB_BUSY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return MINICA_DB_CORRUPT;
    case SQLITE_READONLY:
        return MINICA_DB_READ_ONLY;
    default:
        /* A trigger's RAISE(ABORT) too: no table constraint refused it. */
        return MINICA_DB_OTHER;
    }
}

/* Until open returns, the store has no connection to ask what went wrong,
 * so these are its messages (store.c, db_error): a damaged file reads the
 * same whether open or a later statement finds it. */
static int open_error(struct sq_db *d, struct minica_err *err, const char *what)
{
    fail(d, NULL);
    if (classify(d->errcode) == MINICA_DB_CORRUPT)
        return minica_seterr(err, MINICA_EDB,
                             "%s is damaged or not a minica database (%s); restore it from a "
                             "backup",
                             d->path, d->errmsg);
    return minica_seterr(err, MINICA_EDB, "%s: %s: %s", d->path, what, d->errmsg);
}

static int run(struct sq_db *d, const char *sql, struct minica_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(d->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        sqlite3_free(msg);
        return fail(d, err);
    }
    set_ok(d);
    return MINICA_OK;
}

/* run, for the settings an open makes. Switching a new file to WAL takes
 * a lock that SQLite does not always wait for under the busy timeout:
 * processes opening a fresh inventory at once met "database is locked"
 * (test_store's concurrent first opens, about one run in twelve). The
 * same bound as the busy timeout, in 10 ms steps. */
static int run_at_open(struct sq_db *d, const char *sql)
{
    for (int waited_ms = 0;; waited_ms += 10) {
        int rc = run(d, sql, NULL);
        int code = sqlite3_errcode(d->h) & 0xff;
        if (rc == 0 || (code != SQLITE_BUSY && code != SQLITE_LOCKED) || waited_ms >= 30000)
            return rc;
        usleep(10000);
    }
}

int minica_db_sqlite_open(const char *path, struct minica_db **out, struct minica_err *err)
{
    *out = NULL;
    struct sq_db *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    d->base.ops = &sqlite_ops;
    d->base.kind = MINICA_DB_SQLITE;
    snprintf(d->path, sizeof(d->path), "%s", path);
    d->wal_fd = -1;

    /* Create the file ourselves so it is 0600 whatever the umask; SQLite
     * gives its -wal and -shm files the same mode. An existing file is not
     * opened here: closing a descriptor drops every POSIX lock this process
     * holds on the file, so a second connection (serve has one for refusals)
     * would take the first one's locks away, and another process's sqlite3
     * closing as "the last connection" would then delete the WAL that this
     * process still writes to. */
    struct stat st;
    int fd = -1, e = 0;
    if (lstat(path, &st) != 0) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno != EEXIST)
            e = errno;
    } else if (S_ISLNK(st.st_mode)) {
        e = ELOOP;
    } else if (access(path, R_OK | W_OK) != 0) {
        e = errno;
    }
    if (e != 0) {
        free(d);
        return minica_seterr(err, MINICA_EIO, "cannot open %s: %s", path, strerror(e));
    }
    if (fd >= 0) {
        (void)fchmod(fd, 0600);
        close(fd);
    }

    int ret;
    if (sqlite3_open_v2(path, &d->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) !=
        SQLITE_OK) {
        ret = open_error(d, err, "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(d->h, 30000);
    /* The WAL file stays between processes, emptied (truncated) by the
     * last one out: each `minica issue` would otherwise create it, sync
     * its directory entry and unlink it again (bench: about 0.3 ms of
     * every issuance). The limit is above what a 128-page checkpoint
     * interval lets it reach, so a running server keeps its blocks. */
    int persist_wal = 1;
    sqlite3_file_control(d->h, "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal);
    if (run_at_open(d, "PRAGMA journal_mode = WAL; PRAGMA journal_size_limit = 4194304") != 0) {
        ret = open_error(d, err, "database error");
        goto fail;
    }
    /* A CA must not lose a committed serial on power loss. A certificate
     * is about nine pages: checkpointing every 128 (not SQLite's 1000) lets
     * a long-lived process (serve, libminica callers) reuse the WAL's first
     * blocks sooner, and an fdatasync that overwrites costs less than one
     * that grows the file (bench: in-process issuance 0.44 -> 0.35 ms above
     * the crypto). */
    if (run_at_open(d, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
                       "PRAGMA wal_autocheckpoint = 128") != 0) {
        ret = open_error(d, err, "database error");
        goto fail;
    }
    *out = &d->base;
    return MINICA_OK;
fail:
    sqlite3_close(d->h);
    free(d);
    return ret;
}

static void sq_close(struct minica_db *db)
{
    struct sq_db *d = (struct sq_db *)db;
    sqlite3_close(d->h);
    if (d->wal_fd >= 0)
        close(d->wal_fd);
    free(d);
}

/* With synchronous = NORMAL a WAL commit is written, not synced; syncing
 * the WAL file makes every commit written so far durable, as FULL does at
 * each. Through a descriptor of its own: SQLite's is not to be touched
 * from another thread. The WAL is never replaced while this connection is
 * open (SQLITE_FCNTL_PERSIST_WAL, and it is the last one out). */
static int sq_sync(struct minica_db *db, struct minica_err *err)
{
    struct sq_db *d = (struct sq_db *)db;
    if (d->wal_fd < 0) {
        char wal[sizeof(d->path) + 8];
        snprintf(wal, sizeof(wal), "%s-wal", d->path);
        d->wal_fd = open(wal, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (d->wal_fd < 0)
            return minica_seterr(err, MINICA_EDB, "cannot open %s: %s", wal, strerror(errno));
    }
    if (fdatasync(d->wal_fd) != 0)
        return minica_seterr(err, MINICA_EDB, "cannot sync %s-wal: %s", d->path, strerror(errno));
    return MINICA_OK;
}

static const char *sq_name(const struct minica_db *db)
{
    return ((const struct sq_db *)db)->path;
}

static int sq_exec(struct minica_db *db, const char *sql, struct minica_err *err)
{
    return run((struct sq_db *)db, sql, err);
}

static int sq_prepare(struct minica_db *db, const char *sql, struct minica_db_stmt **out,
                      struct minica_err *err)
{
    struct sq_db *d = (struct sq_db *)db;
    *out = NULL;
    sqlite3_stmt *h;
    if (sqlite3_prepare_v2(d->h, sql, -1, &h, NULL) != SQLITE_OK)
        return fail(d, err);
    struct sq_stmt *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        sqlite3_finalize(h);
        d->errcode = SQLITE_NOMEM;
        snprintf(d->errmsg, sizeof(d->errmsg), "%s", sqlite3_errstr(SQLITE_NOMEM));
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    st->base.ops = &sqlite_ops;
    st->db = d;
    st->h = h;
    set_ok(d);
    *out = &st->base;
    return MINICA_OK;
}

static int bound(struct sq_stmt *st, int rc)
{
    if (rc == SQLITE_OK)
        return MINICA_OK;
    if (st->bind_rc == SQLITE_OK)
        st->bind_rc = rc;
    return rc == SQLITE_NOMEM ? MINICA_ENOMEM : MINICA_EDB;
}

static int sq_bind_text(struct minica_db_stmt *base, int idx, const char *text)
{
    struct sq_stmt *st = (struct sq_stmt *)base;
    return bound(st, sqlite3_bind_text(st->h, idx, text, -1, SQLITE_TRANSIENT));
}

static int sq_bind_int64(struct minica_db_stmt *base, int idx, int64_t value)
{
    struct sq_stmt *st = (struct sq_stmt *)base;
    return bound(st, sqlite3_bind_int64(st->h, idx, (sqlite3_int64)value));
}

static int sq_bind_null(struct minica_db_stmt *base, int idx)
{
    struct sq_stmt *st = (struct sq_stmt *)base;
    return bound(st, sqlite3_bind_null(st->h, idx));
}

static int sq_step(struct minica_db_stmt *base, struct minica_err *err)
{
    struct sq_stmt *st = (struct sq_stmt *)base;
    struct sq_db *d = st->db;
    st->changes = 0;
    if (st->bind_rc != SQLITE_OK) {
        d->errcode = st->bind_rc;
        snprintf(d->errmsg, sizeof(d->errmsg), "%s", sqlite3_errstr(st->bind_rc));
        return minica_seterr(err, MINICA_EDB, "%s: %s", d->path, d->errmsg);
    }
    int rc = sqlite3_step(st->h);
    if (rc == SQLITE_ROW) {
        set_ok(d);
        return MINICA_DB_ROW;
    }
    if (rc == SQLITE_DONE) {
        /* sqlite3_changes is the connection's last write: a SELECT has none
         * of its own. */
        if (!sqlite3_stmt_readonly(st->h))
            st->changes = sqlite3_changes(d->h);
        set_ok(d);
        return MINICA_DB_DONE;
    }
    return fail(d, err);
}

static int64_t sq_column_int64(struct minica_db_stmt *base, int col)
{
    return sqlite3_column_int64(((struct sq_stmt *)base)->h, col);
}

static const char *sq_column_text(struct minica_db_stmt *base, int col)
{
    return (const char *)sqlite3_column_text(((struct sq_stmt *)base)->h, col);
}

static int sq_column_is_null(struct minica_db_stmt *base, int col)
{
    return sqlite3_column_type(((struct sq_stmt *)base)->h, col) == SQLITE_NULL;
}

static int64_t sq_changes(struct minica_db_stmt *base)
{
    return ((struct sq_stmt *)base)->changes;
}

static void sq_reset(struct minica_db_stmt *base)
{
    struct sq_stmt *st = (struct sq_stmt *)base;
    sqlite3_reset(st->h);
    st->bind_rc = SQLITE_OK;
}

static void sq_finalize(struct minica_db_stmt *base)
{
    struct sq_stmt *st = (struct sq_stmt *)base;
    sqlite3_finalize(st->h);
    free(st);
}

/* IMMEDIATE: the write lock now, waited for under the busy timeout, rather
 * than at the first write, where a reader's upgrade can only fail. */
static int sq_begin(struct minica_db *db, struct minica_err *err)
{
    return run((struct sq_db *)db, "BEGIN IMMEDIATE", err);
}

static int sq_commit(struct minica_db *db, struct minica_err *err)
{
    return run((struct sq_db *)db, "COMMIT", err);
}

/* Its own failure is not recorded: the error that led here is the one to
 * report. */
static void sq_rollback(struct minica_db *db)
{
    struct sq_db *d = (struct sq_db *)db;
    if (!sqlite3_get_autocommit(d->h))
        sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
}

static int sq_in_transaction(const struct minica_db *db)
{
    return !sqlite3_get_autocommit(((const struct sq_db *)db)->h);
}

static int sq_schema_version(struct minica_db *db, int *version, struct minica_err *err)
{
    struct sq_db *d = (struct sq_db *)db;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(d->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return fail(d, err);
    if (sqlite3_step(st) != SQLITE_ROW) {
        int ret = fail(d, err);
        sqlite3_finalize(st);
        return ret;
    }
    *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    set_ok(d);
    return MINICA_OK;
}

static int sq_set_schema_version(struct minica_db *db, int version, struct minica_err *err)
{
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version);
    return run((struct sq_db *)db, pragma, err);
}

static int sq_set_durability(struct minica_db *db, int full, struct minica_err *err)
{
    return run((struct sq_db *)db,
               full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", err);
}

static enum minica_db_error sq_last_error(const struct minica_db *db)
{
    return classify(((const struct sq_db *)db)->errcode);
}

static const char *sq_errmsg(const struct minica_db *db)
{
    return ((const struct sq_db *)db)->errmsg;
}

static const struct minica_db_ops sqlite_ops = {
    .close = sq_close,
    .name = sq_name,
    .exec = sq_exec,
    .prepare = sq_prepare,
    .bind_text = sq_bind_text,
    .bind_int64 = sq_bind_int64,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .column_int64 = sq_column_int64,
    .column_text = sq_column_text,
    .column_is_null = sq_column_is_null,
    .changes = sq_changes,
    .reset = sq_reset,
    .finalize = sq_finalize,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .in_transaction = sq_in_transaction,
    .schema_version = sq_schema_version,
    .set_schema_version = sq_set_schema_version,
    .set_durability = sq_set_durability,
    .sync = sq_sync,
    .last_error = sq_last_error,
    .errmsg = sq_errmsg,
};

const char *minica_store_sqlite_version(void)
{
    return sqlite3_libversion();
}
