/* The contract of the store's driver interface (src/lib/store/db.h) that
 * store.c relies on: rows and NULLs, changes per statement, bindings kept
 * over a reset, numbered placeholders, constraint errors told apart,
 * transactions, savepoints and the schema version, on the SQLite driver
 * (db_sqlite.c). test_db runs the shared contract on both drivers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "minica/error.h"
#include "store/db.h"
#include "testutil.h"

struct fixture {
    char *dir;
    char target[4200];
    struct minica_db *db;
};

static const char schema[] =
    "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL CHECK (n >= 0), note TEXT);"
    "CREATE TABLE child (id TEXT PRIMARY KEY, t_id TEXT NOT NULL REFERENCES t(id));";

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->dir = tu_tempdir();
    snprintf(f->target, sizeof(f->target), "%s/test.db", f->dir);
    struct minica_err err;
    if (minica_db_open(f->target, &f->db, &err) != 0 || minica_db_exec(f->db, schema, &err) != 0) {
        print_error("%s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    minica_db_close(f->db);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Inserts (id, n, note) and returns the step's result. */
static int insert(struct minica_db *db, const char *id, int64_t n, const char *note)
{
    struct minica_db_stmt *st;
    struct minica_err err;
    assert_int_equal(
        minica_db_prepare(db, "INSERT INTO t (id, n, note) VALUES (?, ?, ?)", &st, &err), 0);
    assert_int_equal(minica_db_bind_text(st, 1, id), 0);
    assert_int_equal(minica_db_bind_int64(st, 2, n), 0);
    if (note != NULL)
        assert_int_equal(minica_db_bind_text(st, 3, note), 0);
    else
        assert_int_equal(minica_db_bind_null(st, 3), 0);
    int rc = minica_db_step(st, &err);
    if (rc == MINICA_DB_DONE)
        assert_int_equal(minica_db_changes(st), 1);
    minica_db_finalize(st);
    return rc;
}

static int64_t count_rows(struct minica_db *db)
{
    struct minica_db_stmt *st;
    struct minica_err err;
    assert_int_equal(minica_db_prepare(db, "SELECT COUNT(*) FROM t", &st, &err), 0);
    assert_int_equal(minica_db_step(st, &err), MINICA_DB_ROW);
    int64_t n = minica_db_column_int64(st, 0);
    assert_int_equal(minica_db_step(st, &err), MINICA_DB_DONE);
    minica_db_finalize(st);
    return n;
}

static void test_db_binds_and_reads_values_and_nulls(void **state)
{
    struct fixture *f = *state;
    /* Text is copied at bind: the buffer may change before the step. */
    char id[8] = "a";
    struct minica_db_stmt *st;
    struct minica_err err;
    assert_int_equal(
        minica_db_prepare(f->db, "INSERT INTO t (id, n, note) VALUES (?, ?, ?)", &st, &err), 0);
    minica_db_bind_text(st, 1, id);
    minica_db_bind_int64(st, 2, INT64_C(5000000000));
    minica_db_bind_null(st, 3);
    strcpy(id, "zz");
    assert_int_equal(minica_db_step(st, &err), MINICA_DB_DONE);
    minica_db_finalize(st);
    assert_int_equal(insert(f->db, "b", 2, "two"), MINICA_DB_DONE);

    assert_int_equal(minica_db_prepare(f->db, "SELECT id, n, note FROM t ORDER BY id", &st, &err),
                     0);
    assert_int_equal(minica_db_step(st, &err), MINICA_DB_ROW);
    assert_string_equal(minica_db_column_text(st, 0), "a");
    assert_int_equal(minica_db_column_int64(st, 1), INT64_C(5000000000));
    assert_true(minica_db_column_is_null(st, 2));
    assert_null(minica_db_column_text(st, 2));
    assert_int_equal(minica_db_step(st, &err), MINICA_DB_ROW);
    assert_string_equal(minica_db_column_text(st, 0), "b");
    assert_false(minica_db_column_is_null(st, 2));
    assert_string_equal(minica_db_column_text(st, 2), "two");
    assert_int_equal(minica_db_step(st, &err), MINICA_DB_DONE);
    minica_db_finalize(st);
}

/* store.c decides races by "did my UPDATE change one row": the count is the
 * statement's own, read after its step, whatever ran on the connection
 * since. */
static void test_db_changes_are_per_statement(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(insert(f->db, "a", 1, NULL), MINICA_DB_DONE);
    assert_int_equal(insert(f->db, "b", 2, NULL), MINICA_DB_DONE);
    struct minica_db_stmt *up, *sel, *none;
    struct minica_err err;
    assert_int_equal(minica_db_prepare(f->db, "UPDATE t SET n = n + 1", &up, &err), 0);
    assert_int_equal(minica_db_step(up, &err), MINICA_DB_DONE);
    assert_int_equal(minica_db_changes(up), 2);

    assert_int_equal(minica_db_prepare(f->db, "SELECT n FROM t WHERE id = ?", &sel, &err), 0);
    minica_db_bind_text(sel, 1, "a");
    assert_int_equal(minica_db_step(sel, &err), MINICA_DB_ROW);
    assert_int_equal(minica_db_column_int64(sel, 0), 2);
    assert_int_equal(minica_db_step(sel, &err), MINICA_DB_DONE);
    assert_int_equal(minica_db_changes(sel), 0);

    assert_int_equal(minica_db_prepare(f->db, "DELETE FROM t WHERE id = 'none'", &none, &err), 0);
    assert_int_equal(minica_db_step(none, &err), MINICA_DB_DONE);
    assert_int_equal(minica_db_changes(none), 0);
    assert_int_equal(minica_db_changes(up), 2);
    minica_db_finalize(up);
    minica_db_finalize(sel);
    minica_db_finalize(none);
}

/* The store caches statements (its inventory lookups) and reuses them. */
static void test_db_reset_keeps_bindings(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(insert(f->db, "a", 1, NULL), MINICA_DB_DONE);
    assert_int_equal(insert(f->db, "b", 2, NULL), MINICA_DB_DONE);
    struct minica_db_stmt *st;
    struct minica_err err;
    assert_int_equal(minica_db_prepare(f->db, "SELECT n FROM t WHERE id = ?", &st, &err), 0);
    minica_db_bind_text(st, 1, "a");
    assert_int_equal(minica_db_step(st, &err), MINICA_DB_ROW);
    assert_int_equal(minica_db_column_int64(st, 0), 1);
    minica_db_reset(st);
    assert_int_equal(minica_db_step(st, &err), MINICA_DB_ROW);
    assert_int_equal(minica_db_column_int64(st, 0), 1);
    minica_db_reset(st);
    minica_db_bind_text(st, 1, "b");
    assert_int_equal(minica_db_step(st, &err), MINICA_DB_ROW);
    assert_int_equal(minica_db_column_int64(st, 0), 2);
    assert_int_equal(minica_db_step(st, &err), MINICA_DB_DONE);
    minica_db_finalize(st);
}

/* ?N names one value however often it appears, in any order. */
static void test_db_numbered_placeholders(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(insert(f->db, "a", 1, NULL), MINICA_DB_DONE);
    struct minica_db_stmt *st;
    struct minica_err err;
    assert_int_equal(minica_db_prepare(f->db,
                                       "UPDATE t SET n = ?2, note = ?3 WHERE id = ?1 AND n <> ?2",
                                       &st, &err),
                     0);
    minica_db_bind_text(st, 1, "a");
    minica_db_bind_int64(st, 2, 7);
    minica_db_bind_text(st, 3, "seven");
    assert_int_equal(minica_db_step(st, &err), MINICA_DB_DONE);
    assert_int_equal(minica_db_changes(st), 1);
    minica_db_reset(st);
    assert_int_equal(minica_db_step(st, &err), MINICA_DB_DONE);
    assert_int_equal(minica_db_changes(st), 0);
    minica_db_finalize(st);
}

/* The store maps these to MINICA_EEXIST, MINICA_EINVAL and MINICA_ENOENT. */
static void test_db_tells_constraint_errors_apart(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(insert(f->db, "a", 1, NULL), MINICA_DB_DONE);
    assert_true(insert(f->db, "a", 2, NULL) < 0);
    assert_int_equal(minica_db_last_error(f->db), MINICA_DB_UNIQUE);
    assert_true(minica_db_errmsg(f->db)[0] != '\0');
    assert_true(insert(f->db, "b", -1, NULL) < 0);
    assert_int_equal(minica_db_last_error(f->db), MINICA_DB_CHECK);

    struct minica_db_stmt *st;
    struct minica_err err;
    assert_int_equal(
        minica_db_prepare(f->db, "INSERT INTO t (id, n) VALUES ('c', NULL)", &st, &err), 0);
    assert_true(minica_db_step(st, &err) < 0);
    assert_int_equal(minica_db_last_error(f->db), MINICA_DB_CHECK);
    minica_db_finalize(st);

    /* Foreign keys are enforced on every connection the driver opens. */
    assert_int_equal(
        minica_db_prepare(f->db, "INSERT INTO child (id, t_id) VALUES ('x', ?)", &st, &err), 0);
    minica_db_bind_text(st, 1, "missing");
    assert_true(minica_db_step(st, &err) < 0);
    assert_int_equal(minica_db_last_error(f->db), MINICA_DB_FOREIGN_KEY);
    minica_db_reset(st);
    minica_db_bind_text(st, 1, "a");
    assert_int_equal(minica_db_step(st, &err), MINICA_DB_DONE);
    assert_int_equal(minica_db_last_error(f->db), MINICA_DB_OK);
    minica_db_finalize(st);
}

/* What failed stays readable after the calls that clean up after it. */
static void test_db_error_survives_cleanup(void **state)
{
    struct fixture *f = *state;
    struct minica_db_stmt *st;
    struct minica_err err = {{0}};
    assert_true(minica_db_prepare(f->db, "SELEKT 1", &st, &err) < 0);
    assert_null(st);
    assert_int_equal(minica_db_last_error(f->db), MINICA_DB_OTHER);
    assert_non_null(strstr(minica_db_errmsg(f->db), "syntax error"));
    assert_non_null(strstr(err.msg, "syntax error"));

    assert_int_equal(minica_db_begin(f->db, &err), 0);
    assert_int_equal(insert(f->db, "a", 1, NULL), MINICA_DB_DONE);
    assert_true(insert(f->db, "a", 1, NULL) < 0);
    minica_db_rollback(f->db);
    assert_int_equal(minica_db_last_error(f->db), MINICA_DB_UNIQUE);
    assert_non_null(strstr(minica_db_errmsg(f->db), "UNIQUE"));
    assert_int_equal(count_rows(f->db), 0);
}

static void test_db_transactions_and_savepoints(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    assert_false(minica_db_in_transaction(f->db));
    assert_int_equal(minica_db_begin(f->db, &err), 0);
    assert_true(minica_db_in_transaction(f->db));
    assert_int_equal(insert(f->db, "a", 1, NULL), MINICA_DB_DONE);
    minica_db_rollback(f->db);
    assert_false(minica_db_in_transaction(f->db));
    assert_int_equal(count_rows(f->db), 0);
    /* Not in a transaction: a rollback is a no-op, not an error. */
    minica_db_rollback(f->db);

    assert_int_equal(minica_db_begin(f->db, &err), 0);
    assert_int_equal(insert(f->db, "a", 1, NULL), MINICA_DB_DONE);
    assert_int_equal(minica_db_exec(f->db, "SAVEPOINT inner_sp", &err), 0);
    assert_int_equal(insert(f->db, "b", 2, NULL), MINICA_DB_DONE);
    assert_int_equal(minica_db_exec(f->db, "ROLLBACK TO inner_sp", &err), 0);
    assert_int_equal(minica_db_exec(f->db, "RELEASE inner_sp", &err), 0);
    assert_true(minica_db_in_transaction(f->db));
    assert_int_equal(minica_db_commit(f->db, &err), 0);
    assert_false(minica_db_in_transaction(f->db));
    assert_int_equal(count_rows(f->db), 1);
}

static void test_db_schema_version_is_transactional(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    int v = -1;
    assert_int_equal(minica_db_schema_version(f->db, &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(minica_db_begin(f->db, &err), 0);
    assert_int_equal(minica_db_set_schema_version(f->db, 7, &err), 0);
    assert_int_equal(minica_db_commit(f->db, &err), 0);
    assert_int_equal(minica_db_schema_version(f->db, &v, &err), 0);
    assert_int_equal(v, 7);
    assert_int_equal(minica_db_begin(f->db, &err), 0);
    assert_int_equal(minica_db_set_schema_version(f->db, 9, &err), 0);
    minica_db_rollback(f->db);
    assert_int_equal(minica_db_schema_version(f->db, &v, &err), 0);
    assert_int_equal(v, 7);
}

static void test_db_names_its_target(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(minica_db_kind(f->db), MINICA_DB_SQLITE);
    assert_string_equal(minica_db_name(f->db), f->target);
    struct minica_err err;
    assert_int_equal(minica_db_set_durability(f->db, 0, &err), 0);
    assert_int_equal(minica_db_set_durability(f->db, 1, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_db_binds_and_reads_values_and_nulls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_changes_are_per_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_reset_keeps_bindings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_numbered_placeholders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_tells_constraint_errors_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_error_survives_cleanup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_transactions_and_savepoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_schema_version_is_transactional, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_names_its_target, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
