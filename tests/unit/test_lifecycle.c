/* The CA's own lifecycle (minica/lifecycle.h): rotation, rollover, the
 * steps that finish it and their refusals, and what a crash between the
 * renames of a rotation leaves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ca/ca_internal.h"
#include "minica/ca.h"
#include "minica/fsutil.h"
#include "minica/issue.h"
#include "minica/lifecycle.h"
#include "minica/revoke.h"
#include "testutil.h"

static struct minica_ca *open_ca(const char *dir)
{
    struct minica_ca *ca = NULL;
    struct minica_err err;
    int ret = minica_ca_open(dir, &ca, &err);
    if (ret != 0)
        print_error("minica_ca_open: %s\n", err.msg);
    assert_int_equal(ret, 0);
    return ca;
}

/* Issues NAME from the CA in dir, returns the leaf's DER in *der. */
static void issue_leaf(const char *dir, const char *name, int64_t ttl, struct minica_issued *out)
{
    struct minica_ca *ca = open_ca(dir);
    struct minica_issue_request req = {.name = name, .ttl = ttl, .usage = MINICA_USAGE_SERVER};
    struct minica_err err;
    int ret = minica_ca_issue(ca, &req, out, &err);
    if (ret != 0)
        print_error("issue %s: %s\n", name, err.msg);
    assert_int_equal(ret, 0);
    minica_ca_close(ca);
}

/* Whether the CA in dir accepts pem as one of its leaves. */
static int ca_accepts(const char *dir, const char *pem)
{
    struct minica_ca *ca = open_ca(dir);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(minica_crt_parse_pem_first(&crt, pem, NULL), 0);
    char serial[MINICA_SERIAL_HEX_MAX];
    int ret = minica_ca_verify_issued(ca, crt.raw.p, crt.raw.len, serial, NULL);
    mbedtls_x509_crt_free(&crt);
    minica_ca_close(ca);
    return ret == 0;
}

static void rotate_ok(const char *dir, struct minica_rotate_result *res)
{
    struct minica_rotate_options opts;
    memset(&opts, 0, sizeof(opts));
    struct minica_err err;
    int ret = minica_ca_rotate(dir, &opts, res, &err);
    if (ret != 0)
        print_error("rotate: %s\n", err.msg);
    assert_int_equal(ret, 0);
    assert_true(res->rotated);
}

static void test_rotation_switches_the_issuer_and_keeps_the_previous(void **state)
{
    struct tu_ca *t = *state;
    struct minica_issued before, after;
    memset(&before, 0, sizeof(before));
    memset(&after, 0, sizeof(after));
    issue_leaf(t->dir, "old.svc", 86400, &before);
    char old_fp[65];
    memcpy(old_fp, minica_ca_active_intermediate(t->ca)->fingerprint, sizeof(old_fp));

    struct minica_rotate_result res;
    rotate_ok(t->dir, &res);
    assert_int_equal(res.previous_leaves, 1);

    /* The archive is private whatever the umask, and holds both pairs. */
    char path[4096];
    snprintf(path, sizeof(path), "%s/ca", t->dir);
    assert_int_equal(tu_mode_of(path) & 0777, 0700);
    snprintf(path, sizeof(path), "%s/ca/intermediate-%s.key", t->dir, res.serial);
    assert_int_equal(tu_mode_of(path) & 0777, 0600);
    snprintf(path, sizeof(path), "%s/ca/intermediate-%s.key", t->dir, res.previous_serial);
    assert_int_equal(tu_mode_of(path) & 0777, 0600);

    issue_leaf(t->dir, "new.svc", 86400, &after);
    struct minica_ca *ca = open_ca(t->dir);
    const struct minica_ca_cert *ai = minica_ca_active_intermediate(ca);
    assert_string_equal(ai->serial, res.serial);
    assert_string_not_equal(ai->fingerprint, old_fp);
    assert_string_equal(ai->subject, "CN=minica Intermediate CA 2");
    /* The new chain is one certificate (no rollover), and not the old one. */
    assert_string_equal(after.chain_pem, minica_ca_chain_pem(ca));
    assert_string_not_equal(after.chain_pem, before.chain_pem);
    const struct minica_ca_cert *certs;
    size_t n;
    minica_ca_certs(ca, &certs, &n);
    assert_int_equal(n, 3);
    int previous_seen = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(certs[i].fingerprint, old_fp) == 0) {
            previous_seen = 1;
            assert_false(certs[i].active);
            assert_false(certs[i].retired);
            assert_int_equal(certs[i].leaves_unexpired, 1);
        }
    assert_true(previous_seen);
    minica_ca_close(ca);

    /* A leaf of either intermediate is this CA's (renewal over mTLS). */
    assert_true(ca_accepts(t->dir, before.cert_pem));
    assert_true(ca_accepts(t->dir, after.cert_pem));
    minica_issued_free(&before);
    minica_issued_free(&after);
}

/* A leaf is sent with the chain of the intermediate that signed it (the
 * ACME certificate URL), not today's: after a rotation, the old one's. */
static void test_chain_of_an_issuer_is_the_one_it_had(void **state)
{
    struct tu_ca *t = *state;
    struct minica_issued before;
    memset(&before, 0, sizeof(before));
    issue_leaf(t->dir, "old.svc", 86400, &before);
    char old_fp[65];
    memcpy(old_fp, minica_ca_active_intermediate(t->ca)->fingerprint, sizeof(old_fp));
    struct minica_rotate_result res;
    rotate_ok(t->dir, &res);

    struct minica_ca *ca = open_ca(t->dir);
    struct minica_err err;
    char *chain = NULL;
    assert_int_equal(minica_ca_chain_pem_of(ca, old_fp, &chain, &err), 0);
    assert_string_equal(chain, before.chain_pem);
    assert_string_not_equal(chain, minica_ca_chain_pem(ca));
    free(chain);
    assert_int_equal(
        minica_ca_chain_pem_of(ca, minica_ca_active_intermediate(ca)->fingerprint, &chain, &err),
        0);
    assert_string_equal(chain, minica_ca_chain_pem(ca));
    free(chain);
    /* A root is no intermediate; nor is a fingerprint nothing has. */
    assert_int_equal(
        minica_ca_chain_pem_of(ca, minica_ca_active_root(ca)->fingerprint, &chain, &err),
        MINICA_ENOENT);
    assert_null(chain);
    assert_int_equal(minica_ca_chain_pem_of(ca, "00", &chain, &err), MINICA_ENOENT);
    minica_ca_close(ca);
    minica_issued_free(&before);
}

static void copy_file(const char *from, const char *to)
{
    char *data = tu_slurp(from);
    struct minica_err err;
    assert_int_equal(minica_write_file_atomic(to, data, strlen(data), 0600, 0, &err), 0);
    free(data);
}

/* A crash after intermediate.crt was switched, before intermediate.key: the
 * CA still opens with the new issuer, and the next step mends the top file. */
static void test_a_lagging_intermediate_key_is_found_in_the_archive(void **state)
{
    struct tu_ca *t = *state;
    char key[4096], saved[4096];
    snprintf(key, sizeof(key), "%s/intermediate.key", t->dir);
    snprintf(saved, sizeof(saved), "%s/old.key.saved", t->dir);
    copy_file(key, saved);
    struct minica_rotate_result res;
    rotate_ok(t->dir, &res);
    copy_file(saved, key);
    unlink(saved);

    struct minica_issued leaf;
    memset(&leaf, 0, sizeof(leaf));
    issue_leaf(t->dir, "after-crash.svc", 86400, &leaf);
    struct minica_ca *ca = open_ca(t->dir);
    assert_string_equal(minica_ca_active_intermediate(ca)->serial, res.serial);
    assert_string_equal(leaf.chain_pem, minica_ca_chain_pem(ca));
    minica_ca_close(ca);
    minica_issued_free(&leaf);

    struct minica_rotate_options opts = {.if_due = 1};
    struct minica_err err;
    assert_int_equal(minica_ca_rotate(t->dir, &opts, &res, &err), 0);
    assert_false(res.rotated);
    char *top = tu_slurp(key);
    char archived[4096];
    snprintf(archived, sizeof(archived), "%s/ca/intermediate-%s.key", t->dir, res.serial);
    char *want = tu_slurp(archived);
    assert_string_equal(top, want);
    free(top);
    free(want);
}

/* A crash before the switch leaves a new intermediate in ca/ that nothing
 * uses: the old one still issues. */
static void test_an_intermediate_never_activated_does_not_issue(void **state)
{
    struct tu_ca *t = *state;
    char crt[4096], saved[4096], key[4096], saved_key[4096];
    snprintf(crt, sizeof(crt), "%s/intermediate.crt", t->dir);
    snprintf(saved, sizeof(saved), "%s/old.crt.saved", t->dir);
    snprintf(key, sizeof(key), "%s/intermediate.key", t->dir);
    snprintf(saved_key, sizeof(saved_key), "%s/old.key.saved", t->dir);
    copy_file(crt, saved);
    copy_file(key, saved_key);
    char old_serial[MINICA_SERIAL_HEX_MAX];
    snprintf(old_serial, sizeof(old_serial), "%s", minica_ca_active_intermediate(t->ca)->serial);
    struct minica_rotate_result res;
    rotate_ok(t->dir, &res);
    copy_file(saved, crt);
    copy_file(saved_key, key);
    chmod(crt, 0644);
    unlink(saved);
    unlink(saved_key);

    struct minica_ca *ca = open_ca(t->dir);
    assert_string_equal(minica_ca_active_intermediate(ca)->serial, old_serial);
    minica_ca_close(ca);
}

static void test_rotation_refuses_constraints_the_policy_exceeds(void **state)
{
    struct tu_ca *t = *state;
    tu_write_policy(t->dir, "[policy]\npermit_dns = internal.svc\n");
    const char *dns[] = {"other.svc"};
    struct minica_rotate_options opts = {.permit_dns = dns, .n_permit_dns = 1};
    struct minica_rotate_result res;
    struct minica_err err;
    assert_int_equal(minica_ca_rotate(t->dir, &opts, &res, &err), MINICA_EPOLICY);
    assert_non_null(strstr(err.msg, "internal.svc"));
    const char *wide[] = {"svc"};
    opts.permit_dns = wide;
    assert_int_equal(minica_ca_rotate(t->dir, &opts, &res, &err), 0);
    struct minica_ca *ca = open_ca(t->dir);
    assert_int_equal(minica_ca_active_intermediate(ca)->nc.permit_dns.n, 1);
    assert_string_equal(minica_ca_active_intermediate(ca)->nc.permit_dns.name[0], "svc");
    minica_ca_close(ca);
}

static void test_rotation_when_due_only(void **state)
{
    struct tu_ca *t = *state;
    struct minica_rotate_options opts = {.if_due = 1};
    struct minica_rotate_result res;
    struct minica_err err;
    assert_int_equal(minica_ca_rotate(t->dir, &opts, &res, &err), 0);
    assert_false(res.rotated);
    /* Three years less a day later, less than 2 x max_ttl is left. */
    char now[32];
    snprintf(now, sizeof(now), "%lld",
             (long long)(minica_ca_active_intermediate(t->ca)->not_after - 100 * 86400));
    setenv("MINICA_FAKE_NOW", now, 1);
    assert_int_equal(minica_ca_rotate(t->dir, &opts, &res, &err), 0);
    assert_true(res.rotated);
}

struct audit_find {
    const char *prefix;
    int found;
};

static int find_audit(const struct minica_audit_row *row, void *ctx)
{
    struct audit_find *f = ctx;
    if (strncmp(row->summary, f->prefix, strlen(f->prefix)) == 0)
        f->found = 1;
    return 0;
}

static void test_rollover_cross_signs_and_finishes_in_steps(void **state)
{
    struct tu_ca *t = *state;
    struct minica_issued old_leaf, new_leaf;
    memset(&old_leaf, 0, sizeof(old_leaf));
    memset(&new_leaf, 0, sizeof(new_leaf));
    issue_leaf(t->dir, "old.svc", 3600, &old_leaf);
    char old_root[MINICA_SERIAL_HEX_MAX], old_int[MINICA_SERIAL_HEX_MAX];
    snprintf(old_root, sizeof(old_root), "%s", minica_ca_active_root(t->ca)->serial);
    snprintf(old_int, sizeof(old_int), "%s", minica_ca_active_intermediate(t->ca)->serial);
    char old_int_fp[65];
    memcpy(old_int_fp, minica_ca_active_intermediate(t->ca)->fingerprint, sizeof(old_int_fp));

    struct minica_rollover_options opts;
    memset(&opts, 0, sizeof(opts));
    struct minica_rollover_result res;
    struct minica_err err;
    int ret = minica_ca_rollover(t->dir, &opts, &res, &err);
    if (ret != 0)
        print_error("rollover: %s\n", err.msg);
    assert_int_equal(ret, 0);
    /* A second one waits for this one to finish. */
    struct minica_rollover_result again;
    assert_int_equal(minica_ca_rollover(t->dir, &opts, &again, &err), MINICA_EBUSY);

    issue_leaf(t->dir, "new.svc", 3600, &new_leaf);
    assert_true(ca_accepts(t->dir, new_leaf.cert_pem));
    minica_issued_free(&new_leaf);
    memset(&new_leaf, 0, sizeof(new_leaf));
    struct minica_ca *ca = open_ca(t->dir);
    assert_string_equal(minica_ca_active_root(ca)->serial, res.root_serial);
    assert_string_equal(minica_ca_active_root(ca)->subject, "CN=minica Root CA 2");
    mbedtls_x509_crt list;
    mbedtls_x509_crt_init(&list);
    assert_int_equal(minica_crt_parse_pem(&list, minica_ca_chain_pem(ca), NULL), 0);
    assert_non_null(list.next); /* intermediate, cross */
    assert_null(list.next->next);
    mbedtls_x509_crt_free(&list);
    /* The old root's intermediate goes without the new root's cross. */
    char *old_chain = NULL;
    assert_int_equal(minica_ca_chain_pem_of(ca, old_int_fp, &old_chain, &err), 0);
    assert_string_equal(old_chain, old_leaf.chain_pem);
    free(old_chain);
    mbedtls_x509_crt_init(&list);
    assert_int_equal(minica_crt_parse_pem(&list, minica_ca_roots_pem(ca), NULL), 0);
    assert_non_null(list.next); /* both roots */
    mbedtls_x509_crt_free(&list);
    /* root.crt is the bundle too. */
    char path[4096];
    snprintf(path, sizeof(path), "%s/root.crt", t->dir);
    char *root_file = tu_slurp(path);
    assert_string_equal(root_file, minica_ca_roots_pem(ca));
    free(root_file);
    minica_ca_close(ca);
    assert_true(ca_accepts(t->dir, old_leaf.cert_pem));

    /* old.svc still serves a leaf from before the new root. */
    assert_int_equal(minica_ca_drop_cross(t->dir, 0, &err), MINICA_EBUSY);
    assert_non_null(strstr(err.msg, "old.svc"));
    assert_int_equal(minica_ca_retire(t->dir, old_root, &err), MINICA_EBUSY);
    assert_non_null(strstr(err.msg, "drop-cross"));
    /* Renewed under the new root's intermediate, in the same second. */
    struct minica_issued renewed;
    memset(&renewed, 0, sizeof(renewed));
    issue_leaf(t->dir, "old.svc", 3600, &renewed);
    issue_leaf(t->dir, "new.svc", 3600, &new_leaf);
    minica_issued_free(&renewed);
    ret = minica_ca_drop_cross(t->dir, 0, &err);
    if (ret != 0)
        print_error("drop-cross: %s\n", err.msg);
    assert_int_equal(ret, 0);
    ca = open_ca(t->dir);
    mbedtls_x509_crt_init(&list);
    assert_int_equal(minica_crt_parse_pem(&list, minica_ca_chain_pem(ca), NULL), 0);
    assert_null(list.next);
    mbedtls_x509_crt_free(&list);
    minica_ca_close(ca);

    /* The old root's intermediate still vouches for old.svc's first leaf. */
    assert_int_equal(minica_ca_retire(t->dir, old_root, &err), MINICA_EBUSY);
    assert_non_null(strstr(err.msg, old_int));
    assert_int_equal(minica_ca_retire(t->dir, old_int, &err), MINICA_EBUSY);
    assert_non_null(strstr(err.msg, "unexpired"));
    char later[32];
    snprintf(later, sizeof(later), "%lld", (long long)(time(NULL) + 7200));
    setenv("MINICA_FAKE_NOW", later, 1);
    ret = minica_ca_retire(t->dir, old_root, &err);
    if (ret != 0)
        print_error("retire: %s\n", err.msg);
    assert_int_equal(ret, 0);
    unsetenv("MINICA_FAKE_NOW");
    ca = open_ca(t->dir);
    /* The audit row names the root (it was written from freed memory once). */
    char want[128];
    snprintf(want, sizeof(want), "ca retire root=%s with=", old_root);
    struct audit_find find = {want, 0};
    assert_int_equal(minica_store_list_audit(minica_ca_store(ca), 0, find_audit, &find, &err), 0);
    assert_true(find.found);
    const struct minica_ca_cert *certs;
    size_t n;
    minica_ca_certs(ca, &certs, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(certs[i].serial, old_root) == 0 || strcmp(certs[i].serial, old_int) == 0)
            assert_true(certs[i].retired);
    mbedtls_x509_crt_init(&list);
    assert_int_equal(minica_crt_parse_pem(&list, minica_ca_roots_pem(ca), NULL), 0);
    assert_null(list.next); /* only the new root is trusted now */
    mbedtls_x509_crt_free(&list);
    minica_ca_close(ca);
    snprintf(path, sizeof(path), "%s/ca/retired/root-%s.key", t->dir, old_root);
    assert_int_equal(tu_mode_of(path) & 0777, 0600);
    minica_issued_free(&old_leaf);
    minica_issued_free(&new_leaf);
}

static void test_active_ca_certificates_are_not_retired_or_revoked(void **state)
{
    struct tu_ca *t = *state;
    struct minica_err err;
    const char *active = minica_ca_active_intermediate(t->ca)->serial;
    const char *root = minica_ca_active_root(t->ca)->serial;
    assert_int_equal(minica_ca_retire(t->dir, active, &err), MINICA_EBUSY);
    assert_non_null(strstr(err.msg, "rotate first"));
    assert_int_equal(minica_ca_retire(t->dir, root, &err), MINICA_EBUSY);
    assert_int_equal(minica_ca_revoke_intermediate(t->dir, active, 1, &err), MINICA_EBUSY);
    assert_int_equal(minica_ca_revoke_intermediate(t->dir, root, 1, &err), MINICA_EINVAL);
    assert_int_equal(minica_ca_retire(t->dir, "00ff", &err), MINICA_ENOENT);
    assert_int_equal(minica_ca_drop_cross(t->dir, 0, &err), MINICA_ENOENT);
}

/* A compromised intermediate: rotate, revoke it, and its leaves are no
 * longer this CA's (they renew at once). */
static void test_a_revoked_intermediate_vouches_for_nothing(void **state)
{
    struct tu_ca *t = *state;
    struct minica_issued leaf;
    memset(&leaf, 0, sizeof(leaf));
    issue_leaf(t->dir, "victim.svc", 86400, &leaf);
    char old[MINICA_SERIAL_HEX_MAX];
    snprintf(old, sizeof(old), "%s", minica_ca_active_intermediate(t->ca)->serial);
    struct minica_rotate_result res;
    rotate_ok(t->dir, &res);
    struct minica_err err;
    assert_int_equal(minica_ca_revoke_intermediate(t->dir, old, MINICA_REASON_KEY_COMPROMISE, &err),
                     0);
    assert_false(ca_accepts(t->dir, leaf.cert_pem));
    struct minica_ca *ca = open_ca(t->dir);
    const struct minica_ca_cert *certs;
    size_t n;
    minica_ca_certs(ca, &certs, &n);
    int seen = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(certs[i].serial, old) == 0) {
            seen = 1;
            assert_true(certs[i].revoked);
            assert_int_equal(certs[i].revoke_reason, MINICA_REASON_KEY_COMPROMISE);
            assert_string_equal(certs[i].issuer_fingerprint,
                                minica_ca_active_root(ca)->fingerprint);
        }
    assert_true(seen);
    minica_ca_close(ca);
    minica_issued_free(&leaf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rotation_switches_the_issuer_and_keeps_the_previous,
                                        tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_a_lagging_intermediate_key_is_found_in_the_archive,
                                        tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_an_intermediate_never_activated_does_not_issue,
                                        tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_rotation_refuses_constraints_the_policy_exceeds,
                                        tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_rotation_when_due_only, tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_chain_of_an_issuer_is_the_one_it_had, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_rollover_cross_signs_and_finishes_in_steps,
                                        tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_active_ca_certificates_are_not_retired_or_revoked,
                                        tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_a_revoked_intermediate_vouches_for_nothing,
                                        tu_ca_setup, tu_ca_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
