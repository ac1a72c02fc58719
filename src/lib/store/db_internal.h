/* What a driver of db.h provides, for db.c to dispatch to: one table of
 * functions, each the db.h call of the same name and signature, and the
 * two structs every driver's connection and statement begin with. Only
 * db.c and the drivers (db_sqlite.c, db_pg.c) include this. */
#ifndef MINICA_STORE_DB_INTERNAL_H
#define MINICA_STORE_DB_INTERNAL_H

#include <stdint.h>

#include "minica/error.h"
#include "store/db.h"

struct minica_db_ops {
    void (*close)(struct minica_db *db);
    const char *(*name)(const struct minica_db *db);
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
    int (*sync)(struct minica_db *db, struct minica_err *err);
    enum minica_db_error (*last_error)(const struct minica_db *db);
    const char *(*errmsg)(const struct minica_db *db);
};

/* The first member of a driver's connection and of its statements. */
struct minica_db {
    const struct minica_db_ops *ops;
    enum minica_db_kind kind;
};

struct minica_db_stmt {
    const struct minica_db_ops *ops;
};

/* The drivers' openers, called by minica_db_open alone. */
int minica_db_sqlite_open(const char *path, struct minica_db **out, struct minica_err *err);
int minica_db_pg_open(const char *uri, struct minica_db **out, struct minica_err *err);

#endif
