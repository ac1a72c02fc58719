/* Issuance on PostgreSQL when the server goes away during the COMMIT
 * (issue 17's faults): a commit whose answer was lost is resolved by
 * looking the certificate's row up, never by issuing again, and nothing is
 * handed out without its committed row. The fault is db_pg.c's test seam
 * (minica_db_pg_test_lose_commit); the server is the pgcluster fixture's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "minica/ca.h"
#include "minica/issue.h"
#include "minica/token.h"
#include "store/db.h"
#include "testutil.h"

struct fixture {
    char *cadir;
    char target[4096];
    struct minica_ca *ca;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    /* The CA's inventory: a schema of its own in the fixture's database,
     * named in its minica.conf (tu_make_ca). */
    setenv("MINICA_TEST_STORE", "postgresql", 1);
    f->cadir = tu_make_ca();
    tu_ca_target(f->cadir, f->target, sizeof(f->target));
    struct minica_err err;
    if (minica_ca_open(f->cadir, &f->ca, &err) != 0) {
        fprintf(stderr, "minica_ca_open: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    minica_db_pg_test_lose_commit(0);
    minica_ca_close(f->ca);
    tu_free_ca(f->cadir);
    free(f);
    return 0;
}

/* fmt is one of this file's literals, with one %s for arg. */
static long long query_int(struct fixture *f, const char *fmt, const char *arg)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    char sql[512];
    snprintf(sql, sizeof(sql), fmt, arg);
#pragma GCC diagnostic pop
    return tu_store_query_int(f->target, sql);
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* The COMMIT ran and only its answer was lost: the row is there, so the
 * certificate is handed out, once, with its files. */
static void test_answer_lost_after_commit_hands_out_the_recorded_cert(void **state)
{
    struct fixture *f = *state;
    char *out_dir = tu_tempdir();
    struct minica_issue_request req = {.name = "lost-answer.internal.svc", .ttl = 86400};
    struct minica_issued out;
    struct minica_output_paths paths;
    struct minica_err err = {{0}};
    minica_db_pg_test_lose_commit(1);
    int ret = minica_ca_issue_to_dir(f->ca, &req, out_dir, 0, &out, &paths, &err);
    if (ret != 0)
        print_error("minica_ca_issue_to_dir: %s\n", err.msg);
    assert_int_equal(ret, 0);
    assert_non_null(out.cert_pem);
    assert_int_equal(query_int(f, "SELECT count(*) FROM certs WHERE serial = '%s'", out.serial), 1);
    /* Not issued a second time under another serial. */
    assert_int_equal(query_int(f, "SELECT count(*) FROM certs WHERE name = '%s'", req.name), 1);
    /* The audit row committed with it. */
    assert_int_equal(
        query_int(f, "SELECT count(*) FROM audit WHERE summary LIKE '%%serial=%s%%'", out.serial),
        1);
    assert_true(exists(paths.cert));
    assert_true(exists(paths.key));
    minica_issued_free(&out);
    tu_rmtree(out_dir);
    free(out_dir);
}

/* The connection went before the COMMIT: rolled back, so nothing is
 * handed out, no file written, and the caller is told to retry; the
 * retry, with the server reachable, succeeds. */
static void test_connection_lost_before_commit_hands_out_nothing(void **state)
{
    struct fixture *f = *state;
    char *out_dir = tu_tempdir();
    struct minica_issue_request req = {.name = "rolled-back.internal.svc", .ttl = 86400};
    struct minica_issued out;
    struct minica_output_paths paths;
    struct minica_err err = {{0}};
    minica_db_pg_test_lose_commit(2);
    int ret = minica_ca_issue_to_dir(f->ca, &req, out_dir, 0, &out, &paths, &err);
    assert_int_equal(ret, MINICA_EUNAVAILABLE);
    assert_non_null(strstr(err.msg, "retry later"));
    assert_null(out.cert_pem);
    assert_null(out.key_pem);
    assert_int_equal(query_int(f, "SELECT count(*) FROM certs WHERE name = '%s'", req.name), 0);
    assert_int_equal(
        query_int(f, "SELECT count(*) FROM audit WHERE summary LIKE 'issued %s%%'", req.name), 0);
    struct minica_output_paths want;
    assert_int_equal(minica_output_paths(out_dir, req.name, &want, &err), 0);
    assert_false(exists(want.cert));
    assert_false(exists(want.key));
    assert_false(exists(want.fullchain));

    ret = minica_ca_issue_to_dir(f->ca, &req, out_dir, 0, &out, &paths, &err);
    assert_int_equal(ret, 0);
    assert_int_equal(query_int(f, "SELECT count(*) FROM certs WHERE name = '%s'", req.name), 1);
    minica_issued_free(&out);
    tu_rmtree(out_dir);
    free(out_dir);
}

/* serve's path: the token is spent in the issuance's transaction, so a
 * commit lost before it leaves the token unspent for the client's retry,
 * and one lost after it leaves the token spent by the recorded
 * certificate, which is handed out. */
static void test_token_follows_the_commit(void **state)
{
    struct fixture *f = *state;
    char text[MINICA_TOKEN_TEXT_MAX];
    struct minica_token_row row;
    struct minica_token_request treq = {.name = "token-lost.internal.svc"};
    struct minica_err err = {{0}};
    assert_int_equal(minica_token_create(f->ca, &treq, text, sizeof(text), &row, &err), 0);
    char *csr = tu_make_csr("token-lost.internal.svc", 0);
    struct minica_issued out;

    minica_db_pg_test_lose_commit(2);
    assert_int_equal(minica_ca_issue_with_token(f->ca, text, csr, 0, &out, &err),
                     MINICA_EUNAVAILABLE);
    assert_null(out.cert_pem);
    assert_int_equal(
        query_int(f, "SELECT count(*) FROM tokens WHERE id = '%s' AND used_at IS NULL", row.id), 1);

    minica_db_pg_test_lose_commit(1);
    int ret = minica_ca_issue_with_token(f->ca, text, csr, 0, &out, &err);
    if (ret != 0)
        print_error("minica_ca_issue_with_token: %s\n", err.msg);
    assert_int_equal(ret, 0);
    assert_int_equal(query_int(f, "SELECT count(*) FROM certs WHERE serial = '%s'", out.serial), 1);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM tokens WHERE id = '%s' AND used_by = '%s'",
             row.id, out.serial);
    assert_int_equal(tu_store_query_int(f->target, sql), 1);
    assert_int_equal(query_int(f, "SELECT count(*) FROM certs WHERE name = '%s'", treq.name), 1);
    minica_issued_free(&out);
    free(csr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_answer_lost_after_commit_hands_out_the_recorded_cert,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_lost_before_commit_hands_out_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_token_follows_the_commit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
