/* What a driver behind db.h provides: the common head of struct minica_db
 * and struct minica_db_stmt, and one table of its calls. db.c dispatches
 * through the table and answers what the head alone knows (kind, name,
 * the last error); a driver embeds the head as its struct's first member.
 * Internal to src/lib/store; store.c speaks db.h only. */
#ifndef MINICA_STORE_DB_DRIVER_H
#define MINICA_STORE_DB_DRIVER_H

#include "store/db.h"

struct minica_db_ops {
    void (*close)(struct minica_db *db);
    int (*exec)(struct minica_db *db, const char *sql, struct minica_err *err);
    int (*prepare)(struct minica_db *db, const char *sql, struct minica_db_stmt **out,
                   struct minica_err *err);
    int (*bind_text)(struct minica_db_stmt *st, int idx, const char *text);
    int (*bind_int64)(struct minica_db_stmt *st, int idx, int64_t value);
    int (*bind_null)(struct minica_db_stmt *st, int idx);
    int (*step)(struct minica_db_stmt *st, struct minica_err *err);
    int64_t (*column_int64)(struct minica_db_stmt *st, int col);
    const char *(*column_text)(struct minica_db_stmt *st, int col);
    int (*column_is_null)(struct minica_db_stmt *st, int col);
    int64_t (*changes)(struct minica_db_stmt *st);
    void (*reset)(struct minica_db_stmt *st);
    void (*finalize)(struct minica_db_stmt *st);
    int (*begin)(struct minica_db *db, struct minica_err *err);
    int (*commit)(struct minica_db *db, struct minica_err *err);
    void (*rollback)(struct minica_db *db);
    int (*in_transaction)(const struct minica_db *db);
    int (*schema_version)(struct minica_db *db, int *version, struct minica_err *err);
    int (*set_schema_version)(struct minica_db *db, int version, struct minica_err *err);
    int (*set_durability)(struct minica_db *db, int full, struct minica_err *err);
};

/* The head every driver's connection starts with. The driver sets all of
 * it at open and last_error/errmsg after every call; name is the driver's
 * to free at close. */
struct minica_db {
    const struct minica_db_ops *ops;
    enum minica_db_kind kind;
    char *name; /* for messages: the path, or the URI without its password */
    enum minica_db_error last_error;
    char errmsg[512];
};

/* The head of every driver's statement. */
struct minica_db_stmt {
    struct minica_db *db;
};

/* The drivers' entry points, for db.c's minica_db_open. Each fills err
 * (and returns a negative MINICA_E*) when it cannot open target. */
int minica_db_pg_open(const char *uri, struct minica_db **out, struct minica_err *err);

/* Whether target names a PostgreSQL database rather than a file. */
int minica_db_is_pg_uri(const char *target);

#endif
