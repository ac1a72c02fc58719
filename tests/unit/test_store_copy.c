/* Unit tests for copy.c (`minica db migrate`): every table arrives, on
 * either backend and across them, with the same checksums both ways; the
 * counters and identity ids go on after the copied ones; a target with
 * rows, a table the target would drop and a row the target refuses all
 * leave the target as it was. Run by ctest on SQLite (test_store_copy)
 * and, with MINICA_TEST_STORE=postgresql, across SQLite and PostgreSQL
 * (test_store_copy_pg). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "minica/error.h"
#include "minica/store.h"
#include "minica/store_acme.h"
#include "minica/store_copy.h"
#include "store/db.h"
#include "testutil.h"

#define NOW 1800000000LL

struct fixture {
    char *dir;
    char sqlite_a[4200], sqlite_b[4200];
    char pg_a[4200], pg_b[4200];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->dir = tu_tempdir();
    snprintf(f->sqlite_a, sizeof(f->sqlite_a), "%s/a.db", f->dir);
    snprintf(f->sqlite_b, sizeof(f->sqlite_b), "%s/b.db", f->dir);
    if (tu_store_is_pg()) {
        tu_store_target(f->dir, f->pg_a, sizeof(f->pg_a));
        tu_store_target(f->dir, f->pg_b, sizeof(f->pg_b));
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (tu_store_is_pg()) {
        tu_store_drop(f->pg_a);
        tu_store_drop(f->pg_b);
    }
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static struct minica_store *open_store(const char *target)
{
    struct minica_store *s = NULL;
    struct minica_err err;
    if (minica_store_open(target, &s, &err) != 0)
        fail_msg("%s", err.msg);
    return s;
}

static void raw_exec(const char *target, const char *sql)
{
    struct minica_db *db;
    struct minica_err err;
    if (minica_db_open(target, &db, &err) != 0 || minica_db_exec(db, sql, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    minica_db_close(db);
}

static void make_row(struct minica_cert_row *row, const char *serial, const char *name)
{
    memset(row, 0, sizeof(*row));
    snprintf(row->serial, sizeof(row->serial), "%s", serial);
    snprintf(row->name, sizeof(row->name), "%s", name);
    snprintf(row->sans, sizeof(row->sans), "%s,10.0.2.88", name);
    snprintf(row->usage, sizeof(row->usage), "server");
    snprintf(row->key_type, sizeof(row->key_type), "ec-p256");
    row->not_before = NOW - 86400;
    /* Past 2038: a 32-bit column anywhere would not keep it. */
    row->not_after = 4102444800LL;
    row->issued_at = NOW - 86400 + 60;
    snprintf(row->fingerprint_sha256, sizeof(row->fingerprint_sha256), "%064d", atoi(serial));
    memset(row->issuer_fingerprint_sha256, 'e', 64);
}

/* A little of every kind of row: certificates (one revoked: NULLs and
 * values in the same column), names, tokens (one spent), audit rows,
 * both CRL counters, a revoked CA, an EAB key. */
static void fill(const char *target)
{
    struct minica_store *s = open_store(target);
    struct minica_err err;
    struct minica_cert_row row;
    static const char *const serials[] = {"11", "22", "33"};
    for (size_t i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "n%zu.internal.svc", i);
        make_row(&row, serials[i], name);
        assert_int_equal(
            minica_store_insert_cert(s, &row, "-----BEGIN CERTIFICATE-----\nx\n", &err), 0);
    }
    assert_int_equal(minica_store_revoke(s, "22", NOW, MINICA_REASON_KEY_COMPROMISE, &err), 0);
    struct minica_token_row tok;
    for (int i = 0; i < 2; i++) {
        memset(&tok, 0, sizeof(tok));
        snprintf(tok.id, sizeof(tok.id), "tok%d", i);
        memset(tok.secret_sha256, 'a' + i, 64);
        snprintf(tok.name, sizeof(tok.name), "n0.internal.svc");
        snprintf(tok.sans, sizeof(tok.sans), "n0.internal.svc");
        snprintf(tok.usage, sizeof(tok.usage), "client");
        tok.ttl = 3600;
        tok.created_at = NOW - 10;
        tok.expires_at = NOW + 3600;
        assert_int_equal(minica_store_insert_token(s, &tok, &err), 0);
    }
    char hash[65];
    memset(hash, 'a', 64);
    hash[64] = '\0';
    assert_int_equal(minica_store_use_token(s, "tok0", hash, NOW, "11", &err), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(minica_store_audit(s, "issue", "it's \"quoted\", and\ttabbed", &err), 0);
    int64_t n;
    for (int i = 0; i < 3; i++)
        assert_int_equal(minica_store_next_crl_number(s, "intermediate", &n, &err), 0);
    assert_int_equal(minica_store_next_crl_number(s, "root", &n, &err), 0);
    struct minica_ca_revocation rev = {.revoked_at = NOW, .reason = 5};
    snprintf(rev.serial, sizeof(rev.serial), "abcd");
    memset(rev.fingerprint_sha256, 'c', 64);
    memset(rev.issuer_fingerprint_sha256, 'd', 64);
    assert_int_equal(minica_store_revoke_ca(s, &rev, &err), 0);
    struct minica_acme_eab_key eab;
    memset(&eab, 0, sizeof(eab));
    snprintf(eab.kid, sizeof(eab.kid), "kid1");
    snprintf(eab.label, sizeof(eab.label), "fleet");
    snprintf(eab.permit_dns, sizeof(eab.permit_dns), "internal.svc");
    eab.created_at = NOW;
    eab.expires_at = NOW + 86400;
    assert_int_equal(minica_store_acme_eab_insert(s, &eab, &err), 0);
    minica_store_close(s);
}

struct seen {
    size_t n;
    struct minica_store_copy_table t[64];
};

static void collect(const struct minica_store_copy_table *t, void *ctx)
{
    struct seen *seen = ctx;
    if (seen->n < 64)
        seen->t[seen->n++] = *t;
}

static int64_t rows_of(const struct seen *seen, const char *table)
{
    for (size_t i = 0; i < seen->n; i++)
        if (strcmp(seen->t[i].name, table) == 0)
            return seen->t[i].rows;
    return -1;
}

static int copy(const char *from, const char *to, struct seen *seen, struct minica_err *err)
{
    struct minica_store *s = open_store(from);
    memset(seen, 0, sizeof(*seen));
    int ret = minica_store_copy(s, to, collect, seen, err);
    minica_store_close(s);
    return ret;
}

static int count_cert(const struct minica_cert_row *row, void *ctx)
{
    (void)row;
    (*(int *)ctx)++;
    return 0;
}

/* What the target must hold after a copy of fill's rows, read through the
 * store as minica would; then it goes on where the source stopped. */
static void check_copy(const char *target, const struct seen *seen)
{
    assert_int_equal(rows_of(seen, "certs"), 3);
    assert_int_equal(rows_of(seen, "cert_names"), 6);
    assert_int_equal(rows_of(seen, "tokens"), 2);
    assert_int_equal(rows_of(seen, "audit"), 3);
    assert_int_equal(rows_of(seen, "counters"), 2);
    assert_int_equal(rows_of(seen, "ca_revocations"), 1);
    assert_int_equal(rows_of(seen, "acme_eab_keys"), 1);
    assert_int_equal(rows_of(seen, "acme_orders"), 0);
    for (size_t i = 1; i < seen->n; i++)
        assert_true(strcmp(seen->t[i - 1].name, seen->t[i].name) < 0);

    struct minica_store *s = open_store(target);
    struct minica_err err;
    struct minica_cert_filter filter = {.name = "10.0.2.88", .now = NOW};
    int found = 0;
    assert_int_equal(minica_store_list_certs(s, &filter, count_cert, &found, &err), 0);
    assert_int_equal(found, 3);
    filter = (struct minica_cert_filter){.status_mask = MINICA_STATUS_REVOKED, .now = NOW};
    found = 0;
    assert_int_equal(minica_store_list_certs(s, &filter, count_cert, &found, &err), 0);
    assert_int_equal(found, 1);
    struct minica_token_row tok;
    assert_int_equal(minica_store_get_token(s, "tok0", &tok, &err), 0);
    assert_int_equal(tok.used_at, NOW);
    assert_string_equal(tok.used_by, "11");
    assert_int_equal(minica_store_get_token(s, "tok1", &tok, &err), 0);
    assert_int_equal(tok.used_at, 0);
    int64_t n = 0;
    assert_int_equal(minica_store_next_crl_number(s, "intermediate", &n, &err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(minica_store_next_crl_number(s, "root", &n, &err), 0);
    assert_int_equal(n, 2);
    /* On PostgreSQL a sequence left at its start would give id 1 again. */
    assert_int_equal(minica_store_audit(s, "crl", "after the copy", &err), 0);
    minica_store_close(s);
    assert_int_equal(tu_store_query_int(target, "SELECT max(id) FROM audit"), 4);
    assert_int_equal(tu_store_query_int(target, "SELECT count(*) FROM certs WHERE not_after = "
                                                "4102444800 AND revoked_at IS NULL"),
                     2);
}

static void same_checksums(const struct seen *a, const struct seen *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_string_equal(a->t[i].name, b->t[i].name);
        assert_int_equal(a->t[i].rows, b->t[i].rows);
        assert_string_equal(a->t[i].sha256, b->t[i].sha256);
    }
}

/* from -> to -> back: every table arrives both times, and the checksums
 * of the way back equal the way there's. */
static void round_trip(const char *from, const char *to, const char *back)
{
    struct seen there, again;
    struct minica_err err;
    fill(from);
    assert_int_equal(copy(from, to, &there, &err), 0);
    check_copy(to, &there);
    assert_int_equal(copy(from, back, &again, &err), 0);
    same_checksums(&there, &again);
}

static void test_copy_sqlite_to_sqlite(void **state)
{
    struct fixture *f = *state;
    char third[4300];
    snprintf(third, sizeof(third), "%s/c.db", f->dir);
    round_trip(f->sqlite_a, f->sqlite_b, third);
    /* Created by the store's open rules. */
    assert_int_equal(tu_mode_of(f->sqlite_b), 0600);
}

static void test_copy_sqlite_to_postgresql_and_back(void **state)
{
    struct fixture *f = *state;
    struct seen there, back;
    struct minica_err err;
    fill(f->sqlite_a);
    assert_int_equal(copy(f->sqlite_a, f->pg_a, &there, &err), 0);
    check_copy(f->pg_a, &there);
    /* The way back, from PostgreSQL (check_copy added an audit row and two
     * CRL numbers since: the same on the SQLite copy of the copy). */
    assert_int_equal(copy(f->pg_a, f->sqlite_b, &back, &err), 0);
    assert_int_equal(rows_of(&back, "audit"), 4);
    struct seen again;
    assert_int_equal(copy(f->sqlite_b, f->pg_b, &again, &err), 0);
    same_checksums(&back, &again);
    assert_int_equal(tu_store_query_int(f->sqlite_b, "SELECT max(id) FROM audit"), 4);
}

static void test_copy_postgresql_to_postgresql(void **state)
{
    struct fixture *f = *state;
    round_trip(f->pg_a, f->pg_b, f->sqlite_b);
}

/* The target under test: PostgreSQL's second schema, or SQLite's b.db. */
static const char *target_b(const struct fixture *f)
{
    return tu_store_is_pg() ? f->pg_b : f->sqlite_b;
}

static const char *source_a(const struct fixture *f)
{
    return tu_store_is_pg() ? f->pg_a : f->sqlite_a;
}

static void test_copy_refuses_a_target_with_rows(void **state)
{
    struct fixture *f = *state;
    struct seen seen;
    struct minica_err err;
    fill(source_a(f));
    assert_int_equal(copy(source_a(f), target_b(f), &seen, &err), 0);
    /* Once more: refused, the target as it was. */
    assert_int_equal(copy(source_a(f), target_b(f), &seen, &err), MINICA_EEXIST);
    assert_non_null(strstr(err.msg, "is not empty"));
    assert_int_equal(seen.n, 0);
    assert_int_equal(tu_store_query_int(target_b(f), "SELECT count(*) FROM certs"), 3);
    assert_int_equal(tu_store_query_int(target_b(f), "SELECT count(*) FROM audit"), 3);
    /* A file of something else is not opened at all. */
    char other[4300];
    snprintf(other, sizeof(other), "%s/notes.txt", f->dir);
    FILE *fp = fopen(other, "w");
    assert_non_null(fp);
    fputs("not a database\n", fp);
    fclose(fp);
    assert_int_equal(copy(source_a(f), other, &seen, &err), MINICA_EEXIST);
    char *text = tu_slurp(other);
    assert_string_equal(text, "not a database\n");
    free(text);
    /* Nor a new file beside the log of an old one, which SQLite would
     * replay into it. */
    char wal[4400];
    snprintf(wal, sizeof(wal), "%s/new.db-wal", f->dir);
    fp = fopen(wal, "w");
    assert_non_null(fp);
    fputs("frames of another database", fp);
    fclose(fp);
    snprintf(other, sizeof(other), "%s/new.db", f->dir);
    assert_int_equal(copy(source_a(f), other, &seen, &err), MINICA_EEXIST);
    assert_non_null(strstr(err.msg, "new.db-wal is left from an earlier database"));
    assert_int_equal(access(other, F_OK), -1);
}

/* A table the target's migrations do not make (a later migration's, on a
 * source newer than this minica, or anything else): refused, not dropped. */
static void test_copy_refuses_a_table_it_would_drop(void **state)
{
    struct fixture *f = *state;
    struct seen seen;
    struct minica_err err;
    fill(source_a(f));
    raw_exec(source_a(f), "CREATE TABLE later_table (k TEXT PRIMARY KEY);"
                          "INSERT INTO later_table VALUES ('x')");
    assert_int_equal(copy(source_a(f), target_b(f), &seen, &err), MINICA_EDB);
    assert_non_null(strstr(err.msg, "has table later_table, which"));
    if (!tu_store_is_pg()) {
        /* The file it created is gone again. */
        assert_int_equal(access(target_b(f), F_OK), -1);
        return;
    }
    assert_int_equal(tu_store_query_int(target_b(f), "SELECT count(*) FROM certs"), 0);
    /* The same table in the target too (a database an SQLite copy could
     * not start from, as its file is not empty): copied like any other. */
    raw_exec(target_b(f), "CREATE TABLE later_table (k TEXT PRIMARY KEY)");
    assert_int_equal(copy(source_a(f), target_b(f), &seen, &err), 0);
    assert_int_equal(rows_of(&seen, "later_table"), 1);
    assert_int_equal(tu_store_query_int(target_b(f), "SELECT count(*) FROM later_table"), 1);
}

/* A row the target refuses (a name of a certificate that is not there,
 * which an SQLite file without foreign keys can hold) fails the copy
 * after other tables went in: all of it is undone. */
static void test_copy_failure_leaves_the_target_empty(void **state)
{
    struct fixture *f = *state;
    struct seen seen;
    struct minica_err err;
    fill(f->sqlite_a);
    raw_exec(f->sqlite_a, "PRAGMA foreign_keys = OFF;"
                          "INSERT INTO cert_names (serial, name) VALUES ('99', 'orphan')");
    const char *to = target_b(f);
    assert_int_equal(copy(f->sqlite_a, to, &seen, &err), MINICA_EDB);
    assert_non_null(strstr(err.msg, "cert_names"));
    assert_int_equal(seen.n, 0);
    if (tu_store_is_pg()) {
        assert_int_equal(tu_store_query_int(to, "SELECT count(*) FROM certs"), 0);
        assert_int_equal(tu_store_query_int(to, "SELECT count(*) FROM audit"), 0);
    } else {
        assert_int_equal(access(to, F_OK), -1);
    }
    raw_exec(f->sqlite_a, "DELETE FROM cert_names WHERE serial = '99'");
    assert_int_equal(copy(f->sqlite_a, to, &seen, &err), 0);
    check_copy(to, &seen);
}

/* PostgreSQL: a value SQLite kept but the column's type refuses. */
static void test_copy_a_value_postgresql_refuses_leaves_it_empty(void **state)
{
    struct fixture *f = *state;
    struct seen seen;
    struct minica_err err;
    fill(f->sqlite_a);
    raw_exec(f->sqlite_a, "UPDATE audit SET time = 'soon' WHERE id = 3");
    assert_int_equal(copy(f->sqlite_a, f->pg_b, &seen, &err), MINICA_EDB);
    assert_non_null(strstr(err.msg, "copying table audit"));
    assert_int_equal(tu_store_query_int(f->pg_b, "SELECT count(*) FROM certs"), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest sqlite[] = {
        T(test_copy_sqlite_to_sqlite),
        T(test_copy_refuses_a_target_with_rows),
        T(test_copy_refuses_a_table_it_would_drop),
        T(test_copy_failure_leaves_the_target_empty),
    };
    const struct CMUnitTest postgresql[] = {
        T(test_copy_sqlite_to_postgresql_and_back),
        T(test_copy_postgresql_to_postgresql),
        T(test_copy_refuses_a_target_with_rows),
        T(test_copy_refuses_a_table_it_would_drop),
        T(test_copy_failure_leaves_the_target_empty),
        T(test_copy_a_value_postgresql_refuses_leaves_it_empty),
    };
    if (tu_store_is_pg())
        return cmocka_run_group_tests_name("postgresql", postgresql, NULL, NULL);
    return cmocka_run_group_tests_name("sqlite", sqlite, NULL, NULL);
}
