/* The contract both drivers behind store/db.h keep, so that store.c's one
 * copy of the SQL behaves alike on SQLite and PostgreSQL: placeholders,
 * values, changes, RETURNING, constraint classification, transactions and
 * the schema version. Then what only PostgreSQL has: a read-only server
 * refused, the password kept out of names, the server going away.
 *
 * PostgreSQL is the cluster tests/support/pgcluster starts (a ctest
 * fixture; its URI in MINICA_TEST_PG_URI or the file MINICA_TEST_PG_URI_FILE
 * names). Without it the tests fail: a skipped PostgreSQL half would let
 * the drivers drift apart unseen. */
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

#define INSTALL_HINT "install postgresql (scripts/install-deps --test)"

struct fixture {
    struct minica_db *db;
    char *dir; /* SQLite: the temp dir holding the file */
};

/* The fixture cluster's URI, malloc'd, or NULL with the reason printed. */
static char *pg_uri(void)
{
    const char *env = getenv("MINICA_TEST_PG_URI");
    if (env != NULL && env[0] != '\0')
        return strdup(env);
    const char *file = getenv("MINICA_TEST_PG_URI_FILE");
    if (file == NULL) {
        print_error("neither MINICA_TEST_PG_URI nor MINICA_TEST_PG_URI_FILE is set: run "
                    "through ctest, whose pgcluster fixture starts PostgreSQL, or "
                    "" INSTALL_HINT "\n");
        return NULL;
    }
    FILE *f = fopen(file, "r");
    char line[4096];
    if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
        print_error("%s: no URI (did the pgcluster fixture fail? " INSTALL_HINT ")\n", file);
        if (f != NULL)
            fclose(f);
        return NULL;
    }
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    return strdup(line);
}

static const char CONTRACT_TABLES[] =
    "CREATE TABLE contract_parent (id BIGINT PRIMARY KEY, name TEXT UNIQUE, n BIGINT,"
    " pos BIGINT CHECK (pos >= 0), note TEXT);"
    "CREATE TABLE contract_child (id BIGINT PRIMARY KEY,"
    " parent BIGINT NOT NULL REFERENCES contract_parent (id))";

static int create_tables(struct minica_db *db)
{
    struct minica_err err;
    if (minica_db_exec(db, CONTRACT_TABLES, &err) != 0) {
        print_error("%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int pg_setup(void **state)
{
    char *uri = pg_uri();
    if (uri == NULL)
        return -1;
    struct fixture *f = calloc(1, sizeof(*f));
    struct minica_err err;
    int rc = minica_db_open(uri, &f->db, &err);
    free(uri);
    if (rc != 0) {
        print_error("%s (" INSTALL_HINT ")\n", err.msg);
        free(f);
        return -1;
    }
    /* One database for every run: start from no tables. */
    if (minica_db_exec(f->db,
                       "DROP TABLE IF EXISTS contract_child; DROP TABLE IF EXISTS contract_parent;"
                       " DROP TABLE IF EXISTS minica_schema",
                       &err) != 0) {
        print_error("%s\n", err.msg);
        return -1;
    }
    *state = f;
    return create_tables(f->db);
}

static int sqlite_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = tu_tempdir();
    char path[4200];
    snprintf(path, sizeof(path), "%s/contract.db", f->dir);
    struct minica_err err;
    if (minica_db_open(path, &f->db, &err) != 0) {
        print_error("%s\n", err.msg);
        return -1;
    }
    *state = f;
    return create_tables(f->db);
}

static int db_teardown(void **state)
{
    struct fixture *f = *state;
    if (f == NULL)
        return 0;
    minica_db_close(f->db);
    if (f->dir != NULL) {
        tu_rmtree(f->dir);
        free(f->dir);
    }
    free(f);
    return 0;
}

static struct minica_db *db_of(void **state)
{
    return ((struct fixture *)*state)->db;
}

static struct minica_db_stmt *prepare(struct minica_db *db, const char *sql)
{
    struct minica_err err;
    struct minica_db_stmt *st = NULL;
    if (minica_db_prepare(db, sql, &st, &err) != 0)
        fail_msg("prepare %s: %s", sql, err.msg);
    return st;
}

static void exec_ok(struct minica_db *db, const char *sql)
{
    struct minica_err err;
    if (minica_db_exec(db, sql, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
}

static void step_expect(struct minica_db_stmt *st, int want)
{
    struct minica_err err;
    int rc = minica_db_step(st, &err);
    if (rc != want)
        fail_msg("step gave %d, want %d: %s", rc, want, rc < 0 ? err.msg : "");
}

/* How many rows `SELECT count(*) FROM contract_parent WHERE name = ?` sees. */
static int64_t count_named(struct minica_db *db, const char *name)
{
    struct minica_db_stmt *st = prepare(db, "SELECT count(*) FROM contract_parent WHERE name = ?");
    assert_int_equal(minica_db_bind_text(st, 1, name), 0);
    step_expect(st, MINICA_DB_ROW);
    int64_t n = minica_db_column_int64(st, 0);
    minica_db_finalize(st);
    return n;
}

static void insert_parent(struct minica_db *db, int64_t id, const char *name)
{
    struct minica_db_stmt *st = prepare(db, "INSERT INTO contract_parent (id, name) VALUES (?, ?)");
    assert_int_equal(minica_db_bind_int64(st, 1, id), 0);
    assert_int_equal(minica_db_bind_text(st, 2, name), 0);
    step_expect(st, MINICA_DB_DONE);
    minica_db_finalize(st);
}

/* The statement fails and the driver names why. */
static void expect_violation(struct minica_db *db, const char *sql, int64_t a, int null_b,
                             int64_t b, enum minica_db_error want)
{
    struct minica_db_stmt *st = prepare(db, sql);
    assert_int_equal(minica_db_bind_int64(st, 1, a), 0);
    if (null_b)
        assert_int_equal(minica_db_bind_null(st, 2), 0);
    else
        assert_int_equal(minica_db_bind_int64(st, 2, b), 0);
    struct minica_err err;
    assert_true(minica_db_step(st, &err) < 0);
    assert_int_equal(minica_db_last_error(db), want);
    assert_true(strlen(minica_db_errmsg(db)) > 0);
    minica_db_finalize(st);
}

static void test_db_numbers_bare_and_explicit_placeholders(void **state)
{
    struct minica_db *db = db_of(state);
    struct minica_db_stmt *st = prepare(db, "SELECT ?2, ?1, ?2");
    assert_int_equal(minica_db_bind_text(st, 1, "a"), 0);
    assert_int_equal(minica_db_bind_text(st, 2, "b"), 0);
    step_expect(st, MINICA_DB_ROW);
    assert_string_equal(minica_db_column_text(st, 0), "b");
    assert_string_equal(minica_db_column_text(st, 1), "a");
    assert_string_equal(minica_db_column_text(st, 2), "b");
    step_expect(st, MINICA_DB_DONE);
    minica_db_finalize(st);

    st = prepare(db, "SELECT ?, ?");
    assert_int_equal(minica_db_bind_text(st, 1, "x"), 0);
    assert_int_equal(minica_db_bind_text(st, 2, "y"), 0);
    step_expect(st, MINICA_DB_ROW);
    assert_string_equal(minica_db_column_text(st, 0), "x");
    assert_string_equal(minica_db_column_text(st, 1), "y");
    minica_db_finalize(st);
}

/* A bind the statement cannot take fails, and so does the step after it,
 * rather than run with a NULL in its place; a reset clears it. */
static void test_db_fails_the_step_after_a_bad_bind(void **state)
{
    struct minica_db *db = db_of(state);
    struct minica_db_stmt *st = prepare(db, "SELECT ?");
    assert_int_not_equal(minica_db_bind_text(st, 2, "z"), 0); /* no second */
    assert_int_equal(minica_db_bind_text(st, 1, "x"), 0);
    struct minica_err err;
    assert_true(minica_db_step(st, &err) < 0);
    minica_db_reset(st);
    step_expect(st, MINICA_DB_ROW);
    assert_string_equal(minica_db_column_text(st, 0), "x");
    minica_db_finalize(st);
}

/* A `?` that is data, a name or a comment stays one. */
static void test_db_leaves_question_marks_in_quotes_alone(void **state)
{
    struct minica_db *db = db_of(state);
    struct minica_db_stmt *st = prepare(db, "SELECT 'what?' AS \"who?\", ? -- why?\n"
                                            ", 'it''s ?1' /* ?2 */");
    assert_int_equal(minica_db_bind_text(st, 1, "bound"), 0);
    step_expect(st, MINICA_DB_ROW);
    assert_string_equal(minica_db_column_text(st, 0), "what?");
    assert_string_equal(minica_db_column_text(st, 1), "bound");
    assert_string_equal(minica_db_column_text(st, 2), "it's ?1");
    minica_db_finalize(st);
}

static void test_db_round_trips_int64(void **state)
{
    struct minica_db *db = db_of(state);
    const int64_t values[] = {0,         1,        -1, (int64_t)1 << 62, -((int64_t)1 << 62),
                              INT64_MAX, INT64_MIN};
    struct minica_db_stmt *ins = prepare(db, "INSERT INTO contract_parent (id, n) VALUES (?, ?)");
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        minica_db_reset(ins);
        assert_int_equal(minica_db_bind_int64(ins, 1, (int64_t)i), 0);
        assert_int_equal(minica_db_bind_int64(ins, 2, values[i]), 0);
        step_expect(ins, MINICA_DB_DONE);
    }
    minica_db_finalize(ins);
    struct minica_db_stmt *sel = prepare(db, "SELECT n FROM contract_parent WHERE id = ?");
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        minica_db_reset(sel);
        assert_int_equal(minica_db_bind_int64(sel, 1, (int64_t)i), 0);
        step_expect(sel, MINICA_DB_ROW);
        assert_true(minica_db_column_int64(sel, 0) == values[i]);
        step_expect(sel, MINICA_DB_DONE);
    }
    minica_db_finalize(sel);
    /* A parameter alone, with no column to take its type from. */
    sel = prepare(db, "SELECT ? + 1");
    assert_int_equal(minica_db_bind_int64(sel, 1, (int64_t)1 << 62), 0);
    step_expect(sel, MINICA_DB_ROW);
    assert_true(minica_db_column_int64(sel, 0) == ((int64_t)1 << 62) + 1);
    minica_db_finalize(sel);
}

static void test_db_round_trips_null_and_text(void **state)
{
    struct minica_db *db = db_of(state);
    static const char text[] = "it's \"quoted\"; -- not a comment ? \xc3\xbcn\xc3\xaf\xc3\xa7"
                               "\xc3\xb8"
                               "d\xc3\xa9 \xe2\x9c\x93";
    struct minica_db_stmt *st =
        prepare(db, "INSERT INTO contract_parent (id, name, note) VALUES (?, ?, ?)");
    assert_int_equal(minica_db_bind_int64(st, 1, 1), 0);
    assert_int_equal(minica_db_bind_text(st, 2, text), 0);
    assert_int_equal(minica_db_bind_null(st, 3), 0);
    step_expect(st, MINICA_DB_DONE);
    minica_db_finalize(st);

    st = prepare(db, "SELECT name, note, n FROM contract_parent WHERE id = 1");
    step_expect(st, MINICA_DB_ROW);
    assert_string_equal(minica_db_column_text(st, 0), text);
    assert_false(minica_db_column_is_null(st, 0));
    assert_true(minica_db_column_is_null(st, 1));
    assert_null(minica_db_column_text(st, 1));
    assert_true(minica_db_column_is_null(st, 2)); /* never set */
    assert_true(minica_db_column_int64(st, 2) == 0);
    minica_db_finalize(st);
    assert_true(count_named(db, text) == 1);
}

static void test_db_counts_changes(void **state)
{
    struct minica_db *db = db_of(state);
    for (int64_t i = 1; i <= 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "p%d", (int)i);
        insert_parent(db, i, name);
    }
    struct minica_db_stmt *st = prepare(db, "UPDATE contract_parent SET n = ? WHERE id >= ?");
    assert_int_equal(minica_db_bind_int64(st, 1, 7), 0);
    assert_int_equal(minica_db_bind_int64(st, 2, 2), 0);
    step_expect(st, MINICA_DB_DONE);
    assert_true(minica_db_changes(st) == 2);
    /* Again, on bindings kept across the reset, matching nothing. */
    minica_db_reset(st);
    assert_int_equal(minica_db_bind_int64(st, 2, 100), 0);
    step_expect(st, MINICA_DB_DONE);
    assert_true(minica_db_changes(st) == 0);
    minica_db_finalize(st);

    st = prepare(db, "DELETE FROM contract_parent WHERE id = ?");
    assert_int_equal(minica_db_bind_int64(st, 1, 1), 0);
    step_expect(st, MINICA_DB_DONE);
    assert_true(minica_db_changes(st) == 1);
    minica_db_finalize(st);

    /* A SELECT changes nothing, whatever it returns. */
    st = prepare(db, "SELECT id FROM contract_parent");
    step_expect(st, MINICA_DB_ROW);
    step_expect(st, MINICA_DB_ROW);
    step_expect(st, MINICA_DB_DONE);
    assert_true(minica_db_changes(st) == 0);
    minica_db_finalize(st);
}

static void test_db_returns_rows_from_insert_returning(void **state)
{
    struct minica_db *db = db_of(state);
    struct minica_db_stmt *st =
        prepare(db, "INSERT INTO contract_parent (id, name) VALUES (?, ?) RETURNING id, name");
    assert_int_equal(minica_db_bind_int64(st, 1, 42), 0);
    assert_int_equal(minica_db_bind_text(st, 2, "answer"), 0);
    step_expect(st, MINICA_DB_ROW);
    assert_true(minica_db_column_int64(st, 0) == 42);
    assert_string_equal(minica_db_column_text(st, 1), "answer");
    step_expect(st, MINICA_DB_DONE);
    assert_true(minica_db_changes(st) == 1);
    minica_db_finalize(st);
}

static void test_db_classifies_constraint_violations(void **state)
{
    struct minica_db *db = db_of(state);
    insert_parent(db, 1, "one");
    expect_violation(db, "INSERT INTO contract_parent (id, n) VALUES (?, ?)", 1, 0, 0,
                     MINICA_DB_UNIQUE); /* primary key */
    struct minica_db_stmt *st = prepare(db, "INSERT INTO contract_parent (id, name) VALUES (2, ?)");
    assert_int_equal(minica_db_bind_text(st, 1, "one"), 0);
    struct minica_err err;
    assert_true(minica_db_step(st, &err) < 0);
    assert_int_equal(minica_db_last_error(db), MINICA_DB_UNIQUE); /* UNIQUE column */
    minica_db_finalize(st);
    expect_violation(db, "INSERT INTO contract_child (id, parent) VALUES (?, ?)", 1, 0, 999,
                     MINICA_DB_FOREIGN_KEY);
    expect_violation(db, "INSERT INTO contract_parent (id, pos) VALUES (?, ?)", 3, 0, -1,
                     MINICA_DB_CHECK);
    expect_violation(db, "INSERT INTO contract_child (id, parent) VALUES (?, ?)", 2, 1, 0,
                     MINICA_DB_CHECK); /* NOT NULL */
    /* And a success clears the last error. */
    insert_parent(db, 4, "four");
    assert_int_equal(minica_db_last_error(db), MINICA_DB_OK);
}

static void test_db_rolls_back_and_nests_savepoints(void **state)
{
    struct minica_db *db = db_of(state);
    struct minica_err err;
    assert_false(minica_db_in_transaction(db));
    assert_int_equal(minica_db_begin(db, &err), 0);
    assert_true(minica_db_in_transaction(db));
    insert_parent(db, 1, "gone");
    minica_db_rollback(db);
    assert_false(minica_db_in_transaction(db));
    assert_true(count_named(db, "gone") == 0);

    /* An expected failure inside a transaction, contained by a savepoint:
     * the way the store keeps a transaction going past one (PostgreSQL
     * aborts the whole transaction otherwise). */
    assert_int_equal(minica_db_begin(db, &err), 0);
    insert_parent(db, 2, "kept");
    exec_ok(db, "SAVEPOINT attempt");
    expect_violation(db, "INSERT INTO contract_parent (id, n) VALUES (?, ?)", 2, 0, 0,
                     MINICA_DB_UNIQUE);
    exec_ok(db, "ROLLBACK TO SAVEPOINT attempt");
    exec_ok(db, "RELEASE SAVEPOINT attempt");
    insert_parent(db, 3, "after");
    assert_true(minica_db_in_transaction(db));
    assert_int_equal(minica_db_commit(db, &err), 0);
    assert_false(minica_db_in_transaction(db));
    assert_true(count_named(db, "kept") == 1);
    assert_true(count_named(db, "after") == 1);
}

static void test_db_keeps_the_schema_version(void **state)
{
    struct minica_db *db = db_of(state);
    struct minica_err err;
    int version = -1;
    assert_int_equal(minica_db_schema_version(db, &version, &err), 0);
    assert_int_equal(version, 0); /* never migrated */
    assert_int_equal(minica_db_begin(db, &err), 0);
    assert_int_equal(minica_db_set_schema_version(db, 3, &err), 0);
    assert_int_equal(minica_db_commit(db, &err), 0);
    assert_int_equal(minica_db_schema_version(db, &version, &err), 0);
    assert_int_equal(version, 3);
    /* A migration rolled back leaves the version it found. */
    assert_int_equal(minica_db_begin(db, &err), 0);
    assert_int_equal(minica_db_set_schema_version(db, 4, &err), 0);
    minica_db_rollback(db);
    assert_int_equal(minica_db_schema_version(db, &version, &err), 0);
    assert_int_equal(version, 3);
    assert_int_equal(minica_db_begin(db, &err), 0);
    assert_int_equal(minica_db_set_schema_version(db, 4, &err), 0);
    assert_int_equal(minica_db_commit(db, &err), 0);
    assert_int_equal(minica_db_schema_version(db, &version, &err), 0);
    assert_int_equal(version, 4);
}

static void test_db_sets_durability(void **state)
{
    struct minica_db *db = db_of(state);
    struct minica_err err;
    assert_int_equal(minica_db_set_durability(db, 0, &err), 0);
    insert_parent(db, 1, "relaxed");
    assert_int_equal(minica_db_set_durability(db, 1, &err), 0);
    assert_true(count_named(db, "relaxed") == 1);
}

/* The contract, once per driver. */
#define CONTRACT_TESTS(setup)                                                                      \
    cmocka_unit_test_setup_teardown(test_db_numbers_bare_and_explicit_placeholders, setup,         \
                                    db_teardown),                                                  \
        cmocka_unit_test_setup_teardown(test_db_fails_the_step_after_a_bad_bind, setup,            \
                                        db_teardown),                                              \
        cmocka_unit_test_setup_teardown(test_db_leaves_question_marks_in_quotes_alone, setup,      \
                                        db_teardown),                                              \
        cmocka_unit_test_setup_teardown(test_db_round_trips_int64, setup, db_teardown),            \
        cmocka_unit_test_setup_teardown(test_db_round_trips_null_and_text, setup, db_teardown),    \
        cmocka_unit_test_setup_teardown(test_db_counts_changes, setup, db_teardown),               \
        cmocka_unit_test_setup_teardown(test_db_returns_rows_from_insert_returning, setup,         \
                                        db_teardown),                                              \
        cmocka_unit_test_setup_teardown(test_db_classifies_constraint_violations, setup,           \
                                        db_teardown),                                              \
        cmocka_unit_test_setup_teardown(test_db_rolls_back_and_nests_savepoints, setup,            \
                                        db_teardown),                                              \
        cmocka_unit_test_setup_teardown(test_db_keeps_the_schema_version, setup, db_teardown),     \
        cmocka_unit_test_setup_teardown(test_db_sets_durability, setup, db_teardown)

/* ---- PostgreSQL only ---- */

/* The value of SHOW name, malloc'd. */
static char *pg_show(struct minica_db *db, const char *name)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT current_setting('%s')", name);
    struct minica_db_stmt *st = prepare(db, sql);
    step_expect(st, MINICA_DB_ROW);
    char *v = strdup(minica_db_column_text(st, 0));
    minica_db_finalize(st);
    return v;
}

static void test_pg_bounds_statements_and_durability(void **state)
{
    struct minica_db *db = db_of(state);
    assert_int_equal(minica_db_kind(db), MINICA_DB_POSTGRESQL);
    char *v = pg_show(db, "statement_timeout");
    assert_string_equal(v, "10s");
    free(v);
    v = pg_show(db, "lock_timeout");
    assert_string_equal(v, "5s");
    free(v);
    struct minica_err err;
    assert_int_equal(minica_db_set_durability(db, 0, &err), 0);
    v = pg_show(db, "synchronous_commit");
    assert_string_equal(v, "off");
    free(v);
    assert_int_equal(minica_db_set_durability(db, 1, &err), 0);
    v = pg_show(db, "synchronous_commit");
    assert_string_equal(v, "on");
    free(v);
}

/* PostgreSQL's COMMIT of a failed transaction reports success and rolls
 * back; the driver must not let that pass as a commit. */
static void test_pg_commit_of_a_failed_transaction_fails(void **state)
{
    struct minica_db *db = db_of(state);
    struct minica_err err;
    insert_parent(db, 1, "one");
    assert_int_equal(minica_db_begin(db, &err), 0);
    insert_parent(db, 2, "lost");
    expect_violation(db, "INSERT INTO contract_parent (id, n) VALUES (?, ?)", 1, 0, 0,
                     MINICA_DB_UNIQUE);
    assert_true(minica_db_commit(db, &err) < 0);
    assert_false(minica_db_in_transaction(db));
    assert_true(count_named(db, "lost") == 0);
}

/* The fixture URI with extra query parameters appended; malloc'd. */
static char *uri_with(const char *extra)
{
    char *base = pg_uri();
    assert_non_null(base);
    size_t n = strlen(base) + strlen(extra) + 2;
    char *uri = malloc(n);
    snprintf(uri, n, "%s%c%s", base, strchr(base, '?') != NULL ? '&' : '?', extra);
    free(base);
    return uri;
}

static void test_pg_refuses_a_read_only_server(void **state)
{
    (void)state;
    char *uri = uri_with("options=-c%20default_transaction_read_only%3Don");
    struct minica_db *db = NULL;
    struct minica_err err;
    assert_true(minica_db_open(uri, &db, &err) < 0);
    assert_null(db);
    assert_non_null(strstr(err.msg, "read-only"));
    free(uri);
}

/* user:password@ and password=: gone from the name and from messages. */
static void test_pg_keeps_the_password_out_of_names(void **state)
{
    (void)state;
    char *plain = pg_uri();
    assert_non_null(plain);
    const char *rest = plain + strlen("postgresql://minica@");
    assert_true(strncmp(plain, "postgresql://minica@", 20) == 0);
    char uri[4200];
    snprintf(uri, sizeof(uri), "postgres://minica:s3cret@%s&password=s3cret2&sslmode=disable",
             rest);
    struct minica_db *db = NULL;
    struct minica_err err;
    assert_int_equal(minica_db_open(uri, &db, &err), 0);
    const char *name = minica_db_name(db);
    assert_null(strstr(name, "s3cret"));
    assert_non_null(strstr(name, "postgres://minica@"));
    assert_non_null(strstr(name, "sslmode=disable"));
    minica_db_close(db);

    /* A server that is not there: the message names the URI, not the secret. */
    snprintf(uri, sizeof(uri), "postgresql://minica:s3cret@/minica?host=/nonexistent/dir");
    assert_int_equal(minica_db_open(uri, &db, &err), MINICA_EUNAVAILABLE);
    assert_non_null(strstr(err.msg, "retry later"));
    assert_null(strstr(err.msg, "s3cret"));
    assert_non_null(strstr(err.msg, "postgresql://minica@/minica?host=/nonexistent/dir"));
    free(plain);
}

/* Runs tests/support/pgcluster with args; its first output line, malloc'd. */
static char *pgcluster(const char *args)
{
    const char *script = getenv("MINICA_TEST_PGCLUSTER");
    if (script == NULL)
        fail_msg("MINICA_TEST_PGCLUSTER is not set: run through ctest");
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "sh '%s' %s", script, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[4096] = "";
    if (fgets(line, sizeof(line), p) == NULL)
        line[0] = '\0';
    int status = pclose(p);
    if (status != 0)
        fail_msg("%s failed (%d)", cmd, status);
    line[strcspn(line, "\n")] = '\0';
    return strdup(line);
}

/* A cluster of its own, since the test crashes it; removed by the
 * teardown even when the test fails half-way. */
static int own_cluster_setup(void **state)
{
    *state = pgcluster("new");
    return 0;
}

static int own_cluster_teardown(void **state)
{
    char args[4200];
    snprintf(args, sizeof(args), "destroy '%s'", (char *)*state);
    free(pgcluster(args));
    free(*state);
    return 0;
}

/* A primary and its hot standby, both of their own. */
struct pair {
    char *primary;
    char *standby;
};

static int standby_setup(void **state)
{
    struct pair *p = calloc(1, sizeof(*p));
    *state = p;
    p->primary = pgcluster("new");
    char args[4200];
    snprintf(args, sizeof(args), "standby '%s'", p->primary);
    p->standby = pgcluster(args);
    return 0;
}

static int standby_teardown(void **state)
{
    struct pair *p = *state;
    char args[4200];
    for (int i = 0; i < 2; i++) {
        char *dir = i == 0 ? p->standby : p->primary;
        if (dir == NULL)
            continue;
        snprintf(args, sizeof(args), "destroy '%s'", dir);
        free(pgcluster(args));
        free(dir);
    }
    free(p);
    return 0;
}

/* Every write would fail on a standby: refused at open, by name. */
static void test_pg_refuses_a_hot_standby(void **state)
{
    struct pair *p = *state;
    char args[4200];
    snprintf(args, sizeof(args), "uri '%s'", p->standby);
    char *uri = pgcluster(args);
    struct minica_db *db = NULL;
    struct minica_err err;
    assert_true(minica_db_open(uri, &db, &err) < 0);
    assert_null(db);
    assert_non_null(strstr(err.msg, "hot standby"));
    assert_non_null(strstr(err.msg, p->standby));
    free(uri);
    /* The primary it follows opens. */
    snprintf(args, sizeof(args), "uri '%s'", p->primary);
    uri = pgcluster(args);
    assert_int_equal(minica_db_open(uri, &db, &err), 0);
    minica_db_close(db);
    free(uri);
}

static void insert_t(struct minica_db *db, int64_t x, int want_ok)
{
    struct minica_db_stmt *st = prepare(db, "INSERT INTO t (x) VALUES (?)");
    assert_int_equal(minica_db_bind_int64(st, 1, x), 0);
    struct minica_err err;
    int rc = minica_db_step(st, &err);
    if (want_ok) {
        if (rc != MINICA_DB_DONE)
            fail_msg("insert %d: %s", (int)x, err.msg);
    } else {
        assert_true(rc < 0);
        assert_int_equal(minica_db_last_error(db), MINICA_DB_UNAVAILABLE);
    }
    minica_db_finalize(st);
}

static void cluster(const char *verb, const char *dir)
{
    char args[4200];
    snprintf(args, sizeof(args), "%s '%s'%s", verb, dir,
             strcmp(verb, "stop") == 0 ? " immediate" : "");
    free(pgcluster(args));
}

/* The server dies under an open connection: the next statement says
 * MINICA_DB_UNAVAILABLE (serve's 503) and an open fails while it is down.
 * Once it is back the same connection works again, serve's recovery,
 * except inside the transaction that was cut: its rest must not run on
 * its own, committed piece by piece. */
static void test_pg_reports_a_server_gone_as_unavailable(void **state)
{
    const char *dir = *state;
    char args[4200];
    snprintf(args, sizeof(args), "uri '%s'", dir);
    char *uri = pgcluster(args);
    struct minica_db *db = NULL;
    struct minica_err err;
    assert_int_equal(minica_db_open(uri, &db, &err), 0);
    exec_ok(db, "CREATE TABLE t (x BIGINT)");

    cluster("stop", dir);
    insert_t(db, 1, 0);
    assert_true(minica_db_exec(db, "SELECT 1", &err) < 0);
    assert_int_equal(minica_db_last_error(db), MINICA_DB_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "cannot be reached"));
    assert_false(minica_db_in_transaction(db));
    struct minica_db *other = NULL;
    assert_int_equal(minica_db_open(uri, &other, &err), MINICA_EUNAVAILABLE);
    assert_null(other);
    assert_non_null(strstr(err.msg, "cannot be reached"));

    cluster("start", dir);
    insert_t(db, 2, 1); /* the same connection, made again */

    assert_int_equal(minica_db_begin(db, &err), 0);
    insert_t(db, 3, 1);
    cluster("stop", dir);
    insert_t(db, 4, 0);
    cluster("start", dir);
    assert_true(minica_db_in_transaction(db));
    insert_t(db, 5, 0); /* not on a new connection, outside the transaction */
    assert_true(minica_db_commit(db, &err) < 0);
    assert_int_equal(minica_db_last_error(db), MINICA_DB_UNAVAILABLE);
    minica_db_rollback(db);
    assert_false(minica_db_in_transaction(db));
    insert_t(db, 6, 1);

    struct minica_db_stmt *st = prepare(db, "SELECT string_agg(x::text, ',' ORDER BY x) FROM t");
    step_expect(st, MINICA_DB_ROW);
    assert_string_equal(minica_db_column_text(st, 0), "2,6");
    minica_db_finalize(st);
    minica_db_close(db);

    assert_int_equal(minica_db_open(uri, &other, &err), 0);
    minica_db_close(other);
    free(uri);
}

int main(void)
{
    const struct CMUnitTest pg_tests[] = {
        CONTRACT_TESTS(pg_setup),
        cmocka_unit_test_setup_teardown(test_pg_bounds_statements_and_durability, pg_setup,
                                        db_teardown),
        cmocka_unit_test_setup_teardown(test_pg_commit_of_a_failed_transaction_fails, pg_setup,
                                        db_teardown),
        cmocka_unit_test(test_pg_refuses_a_read_only_server),
        cmocka_unit_test(test_pg_keeps_the_password_out_of_names),
        cmocka_unit_test_setup_teardown(test_pg_refuses_a_hot_standby, standby_setup,
                                        standby_teardown),
        cmocka_unit_test_setup_teardown(test_pg_reports_a_server_gone_as_unavailable,
                                        own_cluster_setup, own_cluster_teardown),
    };
    int failed = cmocka_run_group_tests_name("postgresql", pg_tests, NULL, NULL);
    const struct CMUnitTest sqlite_tests[] = {
        CONTRACT_TESTS(sqlite_setup),
    };
    failed += cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL);
    return failed;
}
