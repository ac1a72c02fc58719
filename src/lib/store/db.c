/* The one place that picks a driver for a database target and forwards
 * every db.h call to it (db_internal.h). Nothing here knows SQL. */
#include <string.h>

#include "store/db.h"
#include "store/db_internal.h"

static int is_postgresql(const char *target)
{
    return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}

int minica_db_open(const char *target, struct minica_db **out, struct minica_err *err)
{
    *out = NULL;
    if (is_postgresql(target))
        return minica_db_pg_open(target, out, err);
    return minica_db_sqlite_open(target, out, err);
}

void minica_db_close(struct minica_db *db)
{
    if (db != NULL)
        db->ops->close(db);
}

enum minica_db_kind minica_db_kind(const struct minica_db *db)
{
    return db->kind;
}

const char *minica_db_name(const struct minica_db *db)
{
    return db->ops->name(db);
}

int minica_db_exec(struct minica_db *db, const char *sql, struct minica_err *err)
{
    return db->ops->exec(db, sql, err);
}

int minica_db_prepare(struct minica_db *db, const char *sql, struct minica_db_stmt **out,
                      struct minica_err *err)
{
    *out = NULL;
    return db->ops->prepare(db, sql, out, err);
}

int minica_db_bind_text(struct minica_db_stmt *st, int idx, const char *text)
{
    return st->ops->bind_text(st, idx, text);
}

int minica_db_bind_int64(struct minica_db_stmt *st, int idx, int64_t value)
{
    return st->ops->bind_int64(st, idx, value);
}

int minica_db_bind_null(struct minica_db_stmt *st, int idx)
{
    return st->ops->bind_null(st, idx);
}

int minica_db_step(struct minica_db_stmt *st, struct minica_err *err)
{
    return st->ops->step(st, err);
}

int64_t minica_db_column_int64(struct minica_db_stmt *st, int col)
{
    return st->ops->column_int64(st, col);
}

const char *minica_db_column_text(struct minica_db_stmt *st, int col)
{
    return st->ops->column_text(st, col);
}

int minica_db_column_is_null(struct minica_db_stmt *st, int col)
{
    return st->ops->column_is_null(st, col);
}

int64_t minica_db_changes(struct minica_db_stmt *st)
{
    return st->ops->changes(st);
}

void minica_db_reset(struct minica_db_stmt *st)
{
    if (st != NULL)
        st->ops->reset(st);
}

void minica_db_finalize(struct minica_db_stmt *st)
{
    if (st != NULL)
        st->ops->finalize(st);
}

int minica_db_begin(struct minica_db *db, struct minica_err *err)
{
    return db->ops->begin(db, err);
}

int minica_db_commit(struct minica_db *db, struct minica_err *err)
{
    return db->ops->commit(db, err);
}

void minica_db_rollback(struct minica_db *db)
{
    db->ops->rollback(db);
}

int minica_db_in_transaction(const struct minica_db *db)
{
    return db->ops->in_transaction(db);
}

int minica_db_schema_version(struct minica_db *db, int *version, struct minica_err *err)
{
    return db->ops->schema_version(db, version, err);
}

int minica_db_set_schema_version(struct minica_db *db, int version, struct minica_err *err)
{
    return db->ops->set_schema_version(db, version, err);
}

int minica_db_set_durability(struct minica_db *db, int full, struct minica_err *err)
{
    return db->ops->set_durability(db, full, err);
}

int minica_db_sync(struct minica_db *db, struct minica_err *err)
{
    return db->ops->sync(db, err);
}

enum minica_db_error minica_db_last_error(const struct minica_db *db)
{
    return db->ops->last_error(db);
}

const char *minica_db_errmsg(const struct minica_db *db)
{
    return db->ops->errmsg(db);
}
