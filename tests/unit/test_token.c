/* One-time enrollment tokens: creation against the policy, only the hash
 * stored, single use under a race, expiry, revocation, names, audit. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_csr.h>

#include "base/util.h"
#include "minica/ca.h"
#include "minica/der.h"
#include "minica/fsutil.h"
#include "minica/token.h"
#include "testutil.h"

static void make_token(struct tu_ca *f, const char *name, const char *san, char *text,
                       struct minica_token_row *row)
{
    const char *sans[1] = {san};
    struct minica_token_request req = {.name = name, .sans = sans, .n_sans = san ? 1 : 0};
    struct minica_err err;
    int ret = minica_token_create(f->ca, &req, text, MINICA_TOKEN_TEXT_MAX, row, &err);
    if (ret != 0)
        fail_msg("token_create: %s", err.msg);
}

static void test_token_text_is_id_dot_256_bit_secret(void **state)
{
    struct tu_ca *f = *state;
    char text[MINICA_TOKEN_TEXT_MAX];
    struct minica_token_row row;
    make_token(f, "web1.internal", "10.0.0.5", text, &row);
    assert_int_equal(strlen(text), 16 + 1 + 43);
    assert_int_equal(text[16], '.');
    assert_memory_equal(text, row.id, 16);
    assert_string_equal(row.sans, "web1.internal,10.0.0.5");
    assert_true(row.expires_at - row.created_at == MINICA_TOKEN_DEFAULT_EXPIRY);
    char again[MINICA_TOKEN_TEXT_MAX];
    make_token(f, "web1.internal", NULL, again, &row);
    assert_string_not_equal(text, again);
}

static void test_token_only_hash_is_stored(void **state)
{
    struct tu_ca *f = *state;
    char text[MINICA_TOKEN_TEXT_MAX];
    struct minica_token_row row;
    make_token(f, "web1.internal", NULL, text, &row);
    const char *secret = text + 17;
    assert_null(strstr(row.secret_sha256, secret));
    minica_ca_close(f->ca); /* flush the WAL into the file */
    f->ca = NULL;
    const char *files[] = {"minica.db", "minica.db-wal"};
    for (size_t i = 0; i < 2; i++) {
        char path[4300];
        snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
        FILE *fp = fopen(path, "rb");
        if (fp == NULL)
            continue;
        static char data[4 << 20];
        size_t n = fread(data, 1, sizeof(data), fp);
        fclose(fp);
        assert_null(memmem(data, n, secret, strlen(secret)));
    }
    /* On PostgreSQL there is no file: every column of every token and
     * audit row, as text. */
    if (tu_store_is_pg()) {
        char target[4300], sql[512];
        tu_ca_target(f->dir, target, sizeof(target));
        snprintf(sql, sizeof(sql),
                 "SELECT (SELECT count(*) FROM tokens t WHERE strpos(t::text, '%s') > 0) + "
                 "(SELECT count(*) FROM audit a WHERE strpos(a::text, '%s') > 0)",
                 secret, secret);
        assert_int_equal(tu_store_query_int(target, sql), 0);
        assert_int_equal(tu_store_query_int(target, "SELECT count(*) FROM tokens"), 1);
    }
    struct minica_err err;
    assert_int_equal(minica_ca_open(f->dir, &f->ca, &err), 0);
}

static void test_token_create_checks_policy(void **state)
{
    (void)state;
    char *tmp = tu_tempdir();
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/ca", tmp);
    const char *dns[] = {"internal"};
    struct minica_init_options opts;
    memset(&opts, 0, sizeof(opts));
    opts.permit_dns = dns;
    opts.n_permit_dns = 1;
    struct minica_err err;
    assert_int_equal(minica_ca_init(dir, &opts, &err), 0);
    struct minica_ca *ca = NULL;
    assert_int_equal(minica_ca_open(dir, &ca, &err), 0);
    char text[MINICA_TOKEN_TEXT_MAX];
    struct minica_token_request req = {.name = "evil.example.com"};
    assert_int_equal(minica_token_create(ca, &req, text, sizeof(text), NULL, &err), MINICA_EPOLICY);
    assert_non_null(strstr(err.msg, "evil.example.com"));
    req.name = "a.internal";
    req.ttl = 5 * 365 * 86400LL;
    assert_int_equal(minica_token_create(ca, &req, text, sizeof(text), NULL, &err), MINICA_EPOLICY);
    req.ttl = 0;
    req.expires_in = 365 * 86400LL;
    assert_int_equal(minica_token_create(ca, &req, text, sizeof(text), NULL, &err), MINICA_EINVAL);
    req.expires_in = 0;
    assert_int_equal(minica_token_create(ca, &req, text, sizeof(text), NULL, &err), 0);
    minica_ca_close(ca);
    tu_rmtree(tmp);
    free(tmp);
}

static void test_token_issues_once_then_refuses_replay(void **state)
{
    struct tu_ca *f = *state;
    char text[MINICA_TOKEN_TEXT_MAX];
    struct minica_token_row row;
    make_token(f, "web1.internal", "10.0.0.5", text, &row);
    char *csr = tu_make_csr("web1.internal,10.0.0.5", 0);
    struct minica_issued issued;
    struct minica_err err;
    int ret = minica_ca_issue_with_token(f->ca, text, csr, 0, &issued, &err);
    if (ret != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(issued.sans, "web1.internal,10.0.0.5");
    assert_null(issued.key_pem);
    struct minica_token_row after;
    assert_int_equal(minica_store_get_token(minica_ca_store(f->ca), row.id, &after, &err), 0);
    assert_string_equal(after.used_by, issued.serial);
    assert_int_equal(minica_token_state(&after, minica_now()), MINICA_TOKEN_USED);
    minica_issued_free(&issued);
    assert_int_equal(minica_ca_issue_with_token(f->ca, text, csr, 0, &issued, &err),
                     MINICA_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "already used"));
    free(csr);
}

static void test_token_expired_is_refused(void **state)
{
    struct tu_ca *f = *state;
    char text[MINICA_TOKEN_TEXT_MAX], past[32];
    struct minica_token_row row;
    snprintf(past, sizeof(past), "%lld", (long long)minica_now() - 7200);
    setenv("MINICA_FAKE_NOW", past, 1);
    make_token(f, "web1.internal", NULL, text, &row);
    unsetenv("MINICA_FAKE_NOW");
    char *csr = tu_make_csr("web1.internal", 0);
    struct minica_issued issued;
    struct minica_err err;
    assert_int_equal(minica_ca_issue_with_token(f->ca, text, csr, 0, &issued, &err),
                     MINICA_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "expired"));
    free(csr);
}

static void test_token_revoked_is_refused(void **state)
{
    struct tu_ca *f = *state;
    char text[MINICA_TOKEN_TEXT_MAX];
    struct minica_token_row row;
    make_token(f, "web1.internal", NULL, text, &row);
    struct minica_err err;
    int64_t before = -1;
    assert_int_equal(minica_token_revoke(f->ca, row.id, &before, &err), 0);
    assert_int_equal(before, 0);
    assert_int_equal(minica_token_revoke(f->ca, row.id, &before, &err), 0);
    assert_true(before > 0); /* already revoked: left as it was */
    assert_int_equal(minica_token_revoke(f->ca, "0000000000000000", NULL, &err), MINICA_ENOENT);
    char *csr = tu_make_csr("web1.internal", 0);
    struct minica_issued issued;
    assert_int_equal(minica_ca_issue_with_token(f->ca, text, csr, 0, &issued, &err),
                     MINICA_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "revoked"));
    free(csr);
}

static void test_token_wrong_secret_or_garbage_is_refused(void **state)
{
    struct tu_ca *f = *state;
    char text[MINICA_TOKEN_TEXT_MAX];
    struct minica_token_row row;
    make_token(f, "web1.internal", NULL, text, &row);
    char *csr = tu_make_csr("web1.internal", 0);
    struct minica_issued issued;
    struct minica_err err;
    char wrong[MINICA_TOKEN_TEXT_MAX];
    snprintf(wrong, sizeof(wrong), "%s", text);
    wrong[20] = wrong[20] == 'A' ? 'B' : 'A';
    assert_int_equal(minica_ca_issue_with_token(f->ca, wrong, csr, 0, &issued, &err),
                     MINICA_EFORBIDDEN);
    const char *garbage[] = {"", "x", "0123456789abcdef", "../../etc/passwd", text + 1};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        assert_int_equal(minica_ca_issue_with_token(f->ca, garbage[i], csr, 0, &issued, &err),
                         MINICA_EFORBIDDEN);
    /* None of this spent the real token. */
    assert_int_equal(minica_ca_issue_with_token(f->ca, text, csr, 0, &issued, &err), 0);
    minica_issued_free(&issued);
    free(csr);
}

static void test_token_other_names_refused_and_token_kept(void **state)
{
    struct tu_ca *f = *state;
    char text[MINICA_TOKEN_TEXT_MAX];
    struct minica_token_row row;
    make_token(f, "web1.internal", "10.0.0.5", text, &row);
    struct minica_issued issued;
    struct minica_err err;
    const char *others[] = {"web2.internal", "web1.internal", "web1.internal,10.0.0.5,10.0.0.6",
                            "10.0.0.5,web1.internal"};
    for (size_t i = 0; i < 4; i++) {
        char *csr = tu_make_csr(others[i], 0);
        assert_int_equal(minica_ca_issue_with_token(f->ca, text, csr, 0, &issued, &err),
                         MINICA_EFORBIDDEN);
        free(csr);
    }
    char *bad = tu_make_csr("web1.internal,10.0.0.5", 1);
    assert_int_equal(minica_ca_issue_with_token(f->ca, text, bad, 0, &issued, &err), MINICA_EINVAL);
    assert_int_equal(minica_ca_issue_with_token(f->ca, text, "not a csr", 0, &issued, &err),
                     MINICA_EINVAL);
    free(bad);
    char *good = tu_make_csr("web1.internal,10.0.0.5", 0);
    assert_int_equal(minica_ca_issue_with_token(f->ca, text, good, 0, &issued, &err), 0);
    minica_issued_free(&issued);
    free(good);
}

struct racer {
    const char *dir;
    const char *token;
    const char *csr;
    int ok;
    pthread_barrier_t *start;
};

static void *race(void *p)
{
    struct racer *r = p;
    struct minica_ca *ca = NULL;
    struct minica_err err;
    if (minica_ca_open(r->dir, &ca, &err) != 0)
        return NULL;
    struct minica_issued issued;
    pthread_barrier_wait(r->start);
    r->ok = minica_ca_issue_with_token(ca, r->token, r->csr, 0, &issued, &err) == 0;
    if (r->ok)
        minica_issued_free(&issued);
    minica_ca_close(ca);
    return NULL;
}

/* Ten handles (ten SQLite connections, as ten processes would have) race
 * for one token: exactly one certificate. */
static void test_token_race_gives_one_certificate(void **state)
{
    struct tu_ca *f = *state;
    char text[MINICA_TOKEN_TEXT_MAX];
    struct minica_token_row row;
    make_token(f, "web1.internal", NULL, text, &row);
    char *csr = tu_make_csr("web1.internal", 0);
    enum { N = 10 };
    pthread_t threads[N];
    struct racer racers[N];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    for (int i = 0; i < N; i++) {
        racers[i] = (struct racer){.dir = f->dir, .token = text, .csr = csr, .start = &start};
        pthread_create(&threads[i], NULL, race, &racers[i]);
    }
    int wins = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(threads[i], NULL);
        wins += racers[i].ok;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(wins, 1);
    free(csr);
}

struct audit_search {
    const char *needle;
    int found;
};

static int find_audit(const struct minica_audit_row *row, void *ctx)
{
    struct audit_search *s = ctx;
    if (strstr(row->summary, s->needle) != NULL)
        s->found++;
    return 0;
}

static void test_token_creation_and_refusals_are_audited(void **state)
{
    struct tu_ca *f = *state;
    char text[MINICA_TOKEN_TEXT_MAX];
    struct minica_token_row row;
    make_token(f, "web1.internal", NULL, text, &row);
    char *csr = tu_make_csr("web9.internal", 0);
    struct minica_issued issued;
    struct minica_err err;
    minica_ca_set_actor(f->ca, "serve", "remote 192.0.2.7 token x");
    assert_int_equal(minica_ca_issue_with_token(f->ca, text, csr, 0, &issued, &err),
                     MINICA_EFORBIDDEN);
    char needle[64];
    snprintf(needle, sizeof(needle), "token %s created", row.id);
    struct audit_search s = {.needle = needle};
    assert_int_equal(minica_store_list_audit(minica_ca_store(f->ca), 0, find_audit, &s, &err), 0);
    assert_int_equal(s.found, 1);
    snprintf(needle, sizeof(needle), "refused token %s", row.id);
    s = (struct audit_search){.needle = needle};
    assert_int_equal(minica_store_list_audit(minica_ca_store(f->ca), 0, find_audit, &s, &err), 0);
    assert_int_equal(s.found, 1);
    s = (struct audit_search){.needle = "remote 192.0.2.7"};
    assert_int_equal(minica_store_list_audit(minica_ca_store(f->ca), 0, find_audit, &s, &err), 0);
    assert_true(s.found >= 1);
    free(csr);
}

static void test_token_other_usage_refused_and_token_kept(void **state)
{
    struct tu_ca *f = *state;
    char text[MINICA_TOKEN_TEXT_MAX];
    struct minica_token_row row;
    make_token(f, "web1.internal", NULL, text, &row); /* grants usage server */
    char *csr = tu_make_csr("web1.internal", 0);
    struct minica_issued issued;
    struct minica_err err;
    assert_int_equal(
        minica_ca_issue_with_token(f->ca, text, csr, MINICA_USAGE_CLIENT, &issued, &err),
        MINICA_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "grants usage server, not client"));
    struct minica_token_row after;
    assert_int_equal(minica_store_get_token(minica_ca_store(f->ca), row.id, &after, &err), 0);
    assert_int_equal(minica_token_state(&after, minica_now()), MINICA_TOKEN_VALID);
    int ret = minica_ca_issue_with_token(f->ca, text, csr, MINICA_USAGE_SERVER, &issued, &err);
    if (ret != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(issued.usage, MINICA_USAGE_SERVER);
    minica_issued_free(&issued);
    free(csr);
}

static int count_certs(const struct minica_cert_row *row, void *ctx)
{
    (void)row;
    (*(int *)ctx)++;
    return 0;
}

/* A crash between "token spent" and "serial recorded" must not be possible:
 * here the last step (recording which certificate spent the token) fails,
 * as a crash would stop it, and nothing at all may remain committed. */
static void test_token_use_and_certificate_commit_together(void **state)
{
    struct tu_ca *f = *state;
    char text[MINICA_TOKEN_TEXT_MAX];
    struct minica_token_row row;
    make_token(f, "web1.internal", NULL, text, &row);
    char target[4300];
    tu_ca_target(f->dir, target, sizeof(target));
    tu_store_exec(target, tu_store_is_pg()
                              ? "CREATE FUNCTION fail_record() RETURNS trigger LANGUAGE plpgsql AS "
                                "'BEGIN IF NEW.used_by IS NOT NULL AND NEW.used_by <> '''' THEN "
                                "RAISE EXCEPTION ''injected failure''; END IF; RETURN NEW; END'; "
                                "CREATE TRIGGER fail_record BEFORE UPDATE ON tokens "
                                "FOR EACH ROW EXECUTE FUNCTION fail_record()"
                              : "CREATE TRIGGER fail_record BEFORE UPDATE ON tokens "
                                "WHEN NEW.used_by IS NOT NULL AND NEW.used_by != '' "
                                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    char *csr = tu_make_csr("web1.internal", 0);
    struct minica_issued issued;
    struct minica_err err;
    assert_int_not_equal(minica_ca_issue_with_token(f->ca, text, csr, 0, &issued, &err), 0);
    int n = 0;
    struct minica_cert_filter filter = {.name = "web1.internal"};
    assert_int_equal(
        minica_store_list_certs(minica_ca_store(f->ca), &filter, count_certs, &n, &err), 0);
    assert_int_equal(n, 0);
    struct minica_token_row after;
    assert_int_equal(minica_store_get_token(minica_ca_store(f->ca), row.id, &after, &err), 0);
    assert_int_equal(minica_token_state(&after, minica_now()), MINICA_TOKEN_VALID);

    /* Without the fault, the same token works: one certificate, recorded. */
    tu_store_exec(target, tu_store_is_pg()
                              ? "DROP TRIGGER fail_record ON tokens; DROP FUNCTION fail_record()"
                              : "DROP TRIGGER fail_record");
    int ret = minica_ca_issue_with_token(f->ca, text, csr, 0, &issued, &err);
    if (ret != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(minica_store_get_token(minica_ca_store(f->ca), row.id, &after, &err), 0);
    assert_string_equal(after.used_by, issued.serial);
    n = 0;
    assert_int_equal(
        minica_store_list_certs(minica_ca_store(f->ca), &filter, count_certs, &n, &err), 0);
    assert_int_equal(n, 1);
    minica_issued_free(&issued);
    free(csr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_text_is_id_dot_256_bit_secret, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_token_only_hash_is_stored, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test(test_token_create_checks_policy),
        cmocka_unit_test_setup_teardown(test_token_issues_once_then_refuses_replay, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_token_expired_is_refused, tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_token_revoked_is_refused, tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_token_wrong_secret_or_garbage_is_refused, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_token_other_names_refused_and_token_kept, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_token_race_gives_one_certificate, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_token_creation_and_refusals_are_audited, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_token_other_usage_refused_and_token_kept, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_token_use_and_certificate_commit_together, tu_ca_setup,
                                        tu_ca_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
