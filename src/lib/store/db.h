/* The SQL connection the store speaks through: one interface, two drivers,
 * SQLite (db_sqlite.c, the embedded default) and PostgreSQL through libpq
 * loaded on demand (db_pg.c). store.c keeps every statement and all the
 * logic; a driver only runs statements and classifies errors, so the same
 * SQL, migrations and guarantees hold on both. Internal to src/lib/store.
 *
 * SQL is written once: `?` or `?N` placeholders (1-based; the PostgreSQL
 * driver rewrites them to `$N`), BIGINT/TEXT columns, INSERT ... RETURNING,
 * ON CONFLICT, SAVEPOINT. Where the dialects differ the caller asks
 * minica_db_kind(). */
#ifndef MINICA_STORE_DB_H
#define MINICA_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"

struct minica_db;
struct minica_db_stmt;

enum minica_db_kind {
    MINICA_DB_SQLITE = 1,
    MINICA_DB_POSTGRESQL,
};

/* What went wrong with the last call on a connection, for the store's
 * mapping to MINICA_E* (a UNIQUE violation is MINICA_EEXIST, ...). */
enum minica_db_error {
    MINICA_DB_OK = 0,
    MINICA_DB_UNIQUE,      /* UNIQUE or PRIMARY KEY constraint */
    MINICA_DB_FOREIGN_KEY, /* FOREIGN KEY constraint */
    MINICA_DB_CHECK,       /* CHECK or NOT NULL constraint */
    MINICA_DB_BUSY,        /* lock timeout, serialization failure, deadlock: retryable */
    MINICA_DB_CORRUPT,     /* not a database, or damaged */
    MINICA_DB_UNAVAILABLE, /* the server is unreachable or went away: 503, retry later */
    MINICA_DB_READ_ONLY,   /* a read-only connection or a hot standby */
    MINICA_DB_OTHER,
};

/* Step results. */
enum {
    MINICA_DB_ROW = 1,  /* a row is ready for minica_db_column_* */
    MINICA_DB_DONE = 0, /* no (more) rows; the statement ran to its end */
    /* < 0: a MINICA_E* code, err filled, minica_db_last_error() says what */
};

/* Opens target: a file path (SQLite; created 0600 by the caller's rules, see
 * db_sqlite.c) or a "postgresql://" / "postgres://" URI (libpq loaded on
 * first use; MINICA_EUNAVAILABLE-style error naming the package when it is
 * missing). MINICA_EDB with err filled on failure; MINICA_EUNAVAILABLE
 * when a PostgreSQL server cannot be reached (down or restarting). */
int minica_db_open(const char *target, struct minica_db **out, struct minica_err *err);
void minica_db_close(struct minica_db *db);

enum minica_db_kind minica_db_kind(const struct minica_db *db);
/* What to name the database in messages: the path, or the URI without its
 * password. */
const char *minica_db_name(const struct minica_db *db);

/* One or more statements without parameters or results (DDL, BEGIN, ...). */
int minica_db_exec(struct minica_db *db, const char *sql, struct minica_err *err);

/* A statement with placeholders; reusable after minica_db_reset. */
int minica_db_prepare(struct minica_db *db, const char *sql, struct minica_db_stmt **out,
                      struct minica_err *err);
/* idx is 1-based, as the placeholders. Text is copied. */
int minica_db_bind_text(struct minica_db_stmt *st, int idx, const char *text);
int minica_db_bind_int64(struct minica_db_stmt *st, int idx, int64_t value);
int minica_db_bind_null(struct minica_db_stmt *st, int idx);
/* Runs the statement on the first call, then walks its rows. */
int minica_db_step(struct minica_db_stmt *st, struct minica_err *err);
/* Of the current row, 0-based. Text stays valid until the next step, reset
 * or finalize; NULL for SQL NULL. */
int64_t minica_db_column_int64(struct minica_db_stmt *st, int col);
const char *minica_db_column_text(struct minica_db_stmt *st, int col);
int minica_db_column_is_null(struct minica_db_stmt *st, int col);
/* Rows the last INSERT, UPDATE or DELETE of st changed. */
int64_t minica_db_changes(struct minica_db_stmt *st);
/* Back to before the first step; bindings are kept until rebound. */
void minica_db_reset(struct minica_db_stmt *st);
void minica_db_finalize(struct minica_db_stmt *st);

/* Transactions. begin takes the write lock at once (SQLite BEGIN
 * IMMEDIATE; PostgreSQL BEGIN ISOLATION LEVEL READ COMMITTED, the store's
 * statements being conditional). Savepoints nest inside one. */
int minica_db_begin(struct minica_db *db, struct minica_err *err);
int minica_db_commit(struct minica_db *db, struct minica_err *err);
void minica_db_rollback(struct minica_db *db);
int minica_db_in_transaction(const struct minica_db *db);

/* The schema version the migrations keep (SQLite: PRAGMA user_version;
 * PostgreSQL: the one row of table minica_schema, created by the driver).
 * set is called inside the migration's transaction. */
int minica_db_schema_version(struct minica_db *db, int *version, struct minica_err *err);
int minica_db_set_schema_version(struct minica_db *db, int version, struct minica_err *err);

/* full = 1: a commit is durable when it returns (SQLite synchronous =
 * FULL, PostgreSQL synchronous_commit = on, the default); 0 relaxes it
 * for bulk work that the caller makes durable itself. */
int minica_db_set_durability(struct minica_db *db, int full, struct minica_err *err);
/* Makes every commit so far durable (after commits with durability 0).
 * Touches nothing the connection's other calls use, so it may run in
 * another thread than theirs (one at a time). PostgreSQL: nothing to do. */
int minica_db_sync(struct minica_db *db, struct minica_err *err);

/* Tests only: makes the next minica_db_commit on a PostgreSQL connection
 * fail as a server lost mid-commit does (MINICA_DB_UNAVAILABLE, the
 * connection closed): mode 1 runs the COMMIT and then loses its answer
 * (committed, outcome unknown to the caller), 2 drops the connection
 * before it (rolled back). 0 clears it; it applies to one commit. */
void minica_db_pg_test_lose_commit(int mode);

/* The last call's error kind and the server's message. */
enum minica_db_error minica_db_last_error(const struct minica_db *db);
const char *minica_db_errmsg(const struct minica_db *db);

#endif
