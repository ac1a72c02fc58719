/* minica_ca_assess: the health verdict and the findings `ca status`,
 * metrics, `list --expiring` and `agent status` report about the CA's own
 * certificates. State directories past a rotation or mid-rollover are
 * built by hand here (ca/ laid out as the lifecycle commands leave it), so
 * that each finding is tested on its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "ca/ca_internal.h"
#include "minica/ca.h"
#include "minica/der.h"
#include "minica/issue.h"
#include "minica/lifecycle.h"
#include "minica/store.h"
#include "testutil.h"

#define DAY 86400LL
#define YEAR (365 * DAY)

static struct minica_ca *open_ro(const char *dir)
{
    struct minica_ca *ca = NULL;
    struct minica_err err;
    int ret = minica_ca_open_flags(dir, MINICA_CA_OPEN_NO_KEY, &ca, &err);
    if (ret != 0)
        print_error("open %s: %s\n", dir, err.msg);
    assert_int_equal(ret, 0);
    return ca;
}

static struct minica_ca_findings g_findings;

static const struct minica_ca_findings *assess_at(const char *dir, int64_t now)
{
    struct minica_ca *ca = open_ro(dir);
    minica_ca_assess(ca, now, &g_findings);
    minica_ca_close(ca);
    for (size_t i = 0; i < g_findings.n; i++)
        fprintf(stderr, "  note: %s\n", g_findings.note[i]);
    return &g_findings;
}

/* The index of the first note containing text, or -1. */
static int find_note(const struct minica_ca_findings *f, const char *text)
{
    for (size_t i = 0; i < f->n; i++)
        if (strstr(f->note[i], text) != NULL)
            return (int)i;
    return -1;
}

static void write_file(const char *dir, const char *rel, const char *text, mode_t mode)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void make_archive(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/ca", dir);
    assert_int_equal(mkdir(path, 0700), 0);
}

struct keypair {
    mbedtls_pk_context pk;
    char *pem;
    size_t len;
};

static void key_new(struct keypair *k, struct minica_rng *rng)
{
    struct minica_err err;
    mbedtls_pk_init(&k->pk);
    assert_int_equal(minica_key_generate(&k->pk, MINICA_KEY_EC_P256, rng, &err), 0);
    assert_int_equal(minica_key_to_pem(&k->pk, &k->pem, &k->len, &err), 0);
}

static void key_read(struct keypair *k, const char *dir, const char *rel, struct minica_rng *rng)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    struct minica_err err;
    mbedtls_pk_init(&k->pk);
    k->pem = tu_slurp(path);
    k->len = strlen(k->pem);
    assert_int_equal(minica_key_parse_pem(&k->pk, k->pem, k->len, rng, &err), 0);
}

static void key_free(struct keypair *k)
{
    mbedtls_pk_free(&k->pk);
    minica_free_secret(k->pem, k->len);
}

/* A CA certificate as the lifecycle commands make them; serial gets its hex. */
static char *ca_cert(const char *subject, const char *issuer, struct keypair *subj,
                     struct keypair *iss, int64_t not_before, int64_t not_after, int pathlen,
                     struct minica_rng *rng, char serial[MINICA_SERIAL_HEX_MAX])
{
    struct minica_err err;
    /* The issuer's key as a signer of its own, as the CA signs. */
    mbedtls_pk_context copy;
    struct minica_signer *signer = NULL;
    struct minica_scratch scratch;
    mbedtls_pk_init(&copy);
    minica_scratch_init(&scratch);
    assert_int_equal(minica_key_parse_pem(&copy, iss->pem, iss->len, rng, &err), 0);
    assert_int_equal(minica_signer_from_pk(&copy, "test", rng, &signer, &err), 0);
    struct minica_tbs tbs = {
        .subject = subject,
        .issuer = issuer,
        .subject_key = &subj->pk,
        .signer = signer,
        .not_before = not_before,
        .not_after = not_after,
        .is_ca = 1,
        .pathlen = pathlen,
        .key_usage = MINICA_KU_KEY_CERT_SIGN | MINICA_KU_CRL_SIGN,
        .with_aki = subj != iss,
    };
    assert_int_equal(minica_serial_generate(rng, tbs.serial, &err), 0);
    unsigned char *der = NULL;
    size_t len = 0;
    char *pem = NULL;
    assert_int_equal(minica_sign_cert(&tbs, &scratch, rng, &der, &len, &err), 0);
    minica_signer_free(signer);
    minica_scratch_free(&scratch);
    assert_int_equal(minica_der_to_pem(der, len, "CERTIFICATE", &pem, &err), 0);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(minica_crt_parse_der(&crt, der, len, &err), 0);
    minica_serial_to_hex(crt.serial.p, crt.serial.len, serial, MINICA_SERIAL_HEX_MAX);
    mbedtls_x509_crt_free(&crt);
    free(der);
    return pem;
}

static const struct minica_ca_cert *active_int(const char *dir, struct minica_ca_cert *copy)
{
    struct minica_ca *ca = open_ro(dir);
    *copy = *minica_ca_active_intermediate(ca);
    minica_ca_close(ca);
    return copy;
}

static void issue_leaf(const char *dir, const char *name)
{
    struct minica_ca *ca = NULL;
    struct minica_err err;
    assert_int_equal(minica_ca_open(dir, &ca, &err), 0);
    struct minica_issue_request req = {.name = name, .ttl = 30 * DAY};
    struct minica_issued out;
    int ret = minica_ca_issue(ca, &req, &out, &err);
    if (ret != 0)
        print_error("issue %s: %s\n", name, err.msg);
    assert_int_equal(ret, 0);
    minica_issued_free(&out);
    minica_ca_close(ca);
}

/* What `ca rotate` leaves: the previous intermediate archived in ca/ with
 * its key, a new one under the same root at the top. */
static void rotate_by_hand(const char *dir, char new_serial[MINICA_SERIAL_HEX_MAX])
{
    struct minica_rng rng;
    struct minica_err err;
    assert_int_equal(minica_rng_init(&rng, &err), 0);
    struct minica_ca_cert old;
    active_int(dir, &old);
    char path[4200], rel[256];
    snprintf(path, sizeof(path), "%s/intermediate.crt", dir);
    char *old_pem = tu_slurp(path);
    snprintf(path, sizeof(path), "%s/intermediate.key", dir);
    char *old_key = tu_slurp(path);
    make_archive(dir);
    snprintf(rel, sizeof(rel), "ca/intermediate-%s.crt", old.serial);
    write_file(dir, rel, old_pem, 0644);
    snprintf(rel, sizeof(rel), "ca/intermediate-%s.key", old.serial);
    write_file(dir, rel, old_key, 0600);

    struct keypair root, inter;
    key_read(&root, dir, "root.key", &rng);
    key_new(&inter, &rng);
    int64_t now = minica_now();
    char *pem = ca_cert("CN=minica Intermediate CA 2", "CN=minica Root CA", &inter, &root, now - 30,
                        now + 3 * YEAR, 0, &rng, new_serial);
    write_file(dir, "intermediate.key", inter.pem, 0600);
    write_file(dir, "intermediate.crt", pem, 0644);
    free(pem);
    free(old_pem);
    minica_free_secret(old_key, strlen(old_key));
    key_free(&root);
    key_free(&inter);
    minica_rng_free(&rng);
}

static void test_assess_fresh_ca_is_healthy_without_notes(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    const struct minica_ca_findings *f = assess_at(dir, minica_now());
    assert_int_equal(f->health, MINICA_CA_HEALTHY);
    assert_int_equal(f->n, 0);
    tu_free_ca(dir);
}

static void test_assess_rotation_due_below_twice_max_ttl(void **state)
{
    (void)state;
    char *dir = tu_make_ca(); /* intermediate 3y, max_ttl 1y */
    struct minica_ca_cert ai;
    active_int(dir, &ai);
    /* Just above 2 x max_ttl left: nothing yet. */
    const struct minica_ca_findings *f = assess_at(dir, ai.not_after - 2 * YEAR - DAY);
    assert_int_equal(f->health, MINICA_CA_HEALTHY);
    f = assess_at(dir, ai.not_after - 2 * YEAR + DAY);
    assert_int_equal(f->health, MINICA_CA_ATTENTION);
    int i = find_note(f, "rotation due");
    assert_true(i >= 0);
    assert_non_null(strstr(f->note[i], ai.serial));
    assert_non_null(strstr(f->note[i], "minica ca rotate"));
    tu_free_ca(dir);
}

static void test_assess_critical_below_max_ttl_names_rotate(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    struct minica_ca_cert ai;
    active_int(dir, &ai);
    const struct minica_ca_findings *f = assess_at(dir, ai.not_after - 20 * DAY);
    assert_int_equal(f->health, MINICA_CA_CRITICAL);
    int i = find_note(f, "renewals are shortened");
    assert_int_equal(i, 0); /* worst first */
    assert_non_null(strstr(f->note[i], "expires in 20d, less than max_ttl 1y"));
    assert_non_null(strstr(f->note[i], "rotate now: minica ca rotate"));
    tu_free_ca(dir);
}

static void test_assess_critical_when_the_intermediate_expired(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    struct minica_ca_cert ai;
    active_int(dir, &ai);
    const struct minica_ca_findings *f = assess_at(dir, ai.not_after + DAY);
    assert_int_equal(f->health, MINICA_CA_CRITICAL);
    int i = find_note(f, "expired at");
    assert_true(i >= 0);
    assert_non_null(strstr(f->note[i], "active intermediate"));
    /* Not also "expires in 0s". */
    assert_int_equal(find_note(f, "renewals are shortened"), -1);
    tu_free_ca(dir);
}

static void test_assess_notes_a_missing_root_key(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    char from[4200], to[4200];
    snprintf(from, sizeof(from), "%s/root.key", dir);
    snprintf(to, sizeof(to), "%s/../root.key.offline", dir);
    assert_int_equal(rename(from, to), 0);
    const struct minica_ca_findings *f = assess_at(dir, minica_now());
    assert_int_equal(f->health, MINICA_CA_HEALTHY); /* a note, not a problem */
    assert_true(find_note(f, "is not here") >= 0);
    tu_free_ca(dir);
}

static void test_assess_notes_a_staged_intermediate(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    struct minica_rng rng;
    struct minica_err err;
    assert_int_equal(minica_rng_init(&rng, &err), 0);
    struct keypair root, inter;
    key_read(&root, dir, "root.key", &rng);
    key_new(&inter, &rng);
    int64_t now = minica_now();
    char serial[MINICA_SERIAL_HEX_MAX], rel[256];
    char *pem = ca_cert("CN=minica Intermediate CA 2", "CN=minica Root CA", &inter, &root, now - 30,
                        now + 3 * YEAR, 0, &rng, serial);
    /* A rotation that stopped before renaming intermediate.crt. */
    make_archive(dir);
    snprintf(rel, sizeof(rel), "ca/intermediate-%s.key", serial);
    write_file(dir, rel, inter.pem, 0600);
    snprintf(rel, sizeof(rel), "ca/intermediate-%s.crt", serial);
    write_file(dir, rel, pem, 0644);
    const struct minica_ca_findings *f = assess_at(dir, now);
    assert_int_equal(f->health, MINICA_CA_HEALTHY);
    int i = find_note(f, "never made active");
    assert_true(i >= 0);
    assert_non_null(strstr(f->note[i], serial));
    assert_non_null(strstr(f->note[i], "minica ca rotate"));
    free(pem);
    key_free(&root);
    key_free(&inter);
    minica_rng_free(&rng);
    tu_free_ca(dir);
}

static void test_assess_previous_intermediate_with_leaves_is_info(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    issue_leaf(dir, "a.internal.svc");
    issue_leaf(dir, "b.internal.svc");
    char serial[MINICA_SERIAL_HEX_MAX];
    rotate_by_hand(dir, serial);
    struct minica_ca_cert now_active;
    active_int(dir, &now_active);
    assert_string_equal(now_active.serial, serial);
    const struct minica_ca_findings *f = assess_at(dir, minica_now());
    assert_int_equal(f->health, MINICA_CA_HEALTHY);
    int i = find_note(f, "1 previous intermediate still vouches for 2 unexpired leaves");
    assert_true(i >= 0);
    /* Not mistaken for a staged one, nor for one to retire. */
    assert_int_equal(find_note(f, "never made active"), -1);
    assert_int_equal(find_note(f, "retire it"), -1);
    /* Once its leaves have expired, it is one to retire. */
    f = assess_at(dir, minica_now() + 31 * DAY);
    assert_true(find_note(f, "no unexpired leaves left") >= 0);
    tu_free_ca(dir);
}

static void test_assess_revoked_intermediate_with_leaves_needs_attention(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    issue_leaf(dir, "a.internal.svc");
    struct minica_ca_cert old;
    active_int(dir, &old);
    char serial[MINICA_SERIAL_HEX_MAX];
    rotate_by_hand(dir, serial);
    struct minica_ca *ca = open_ro(dir);
    struct minica_ca_revocation row;
    memset(&row, 0, sizeof(row));
    snprintf(row.serial, sizeof(row.serial), "%s", old.serial);
    memcpy(row.fingerprint_sha256, old.fingerprint, sizeof(row.fingerprint_sha256));
    memcpy(row.issuer_fingerprint_sha256, old.issuer_fingerprint,
           sizeof(row.issuer_fingerprint_sha256));
    row.revoked_at = minica_now();
    row.reason = 1;
    struct minica_err err;
    assert_int_equal(minica_store_revoke_ca(minica_ca_store(ca), &row, &err), 0);
    minica_ca_close(ca);
    const struct minica_ca_findings *f = assess_at(dir, minica_now());
    assert_int_equal(f->health, MINICA_CA_ATTENTION);
    int i = find_note(f, "revoked intermediate");
    assert_true(i >= 0);
    assert_non_null(strstr(f->note[i], old.serial));
    assert_non_null(strstr(f->note[i], "1 unexpired leaves"));
    /* Its leaves are not counted as vouched for. */
    assert_int_equal(find_note(f, "still vouches"), -1);
    tu_free_ca(dir);
}

/* What `ca rollover` leaves: a new root (in ca/ and root.crt, first), its
 * cross-certificate by the old root, a new intermediate under it. */
static void test_assess_cross_certificate_in_use_needs_attention(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    struct minica_rng rng;
    struct minica_err err;
    assert_int_equal(minica_rng_init(&rng, &err), 0);
    struct keypair old_root, root, inter;
    key_read(&old_root, dir, "root.key", &rng);
    key_new(&root, &rng);
    key_new(&inter, &rng);
    int64_t now = minica_now();
    char rs[MINICA_SERIAL_HEX_MAX], xs[MINICA_SERIAL_HEX_MAX], is[MINICA_SERIAL_HEX_MAX];
    char rel[256], path[4200];
    char *root_pem = ca_cert("CN=minica Root CA 2", "CN=minica Root CA 2", &root, &root, now - 30,
                             now + 10 * YEAR, -1, &rng, rs);
    char *cross_pem = ca_cert("CN=minica Root CA 2", "CN=minica Root CA", &root, &old_root,
                              now - 30, now + 9 * YEAR, -1, &rng, xs);
    char *int_pem = ca_cert("CN=minica Intermediate CA 3", "CN=minica Root CA 2", &inter, &root,
                            now - 30, now + 3 * YEAR, 0, &rng, is);
    make_archive(dir);
    snprintf(rel, sizeof(rel), "ca/root-%s.key", rs);
    write_file(dir, rel, root.pem, 0600);
    snprintf(rel, sizeof(rel), "ca/root-%s.crt", rs);
    write_file(dir, rel, root_pem, 0644);
    snprintf(rel, sizeof(rel), "ca/cross-%s.crt", xs);
    write_file(dir, rel, cross_pem, 0644);
    snprintf(path, sizeof(path), "%s/root.crt", dir);
    char *old_root_pem = tu_slurp(path);
    char *bundle = malloc(strlen(root_pem) + strlen(old_root_pem) + 1);
    assert_non_null(bundle);
    strcpy(bundle, root_pem);
    strcat(bundle, old_root_pem);
    write_file(dir, "root.crt", bundle, 0644);
    write_file(dir, "intermediate.key", inter.pem, 0600);
    write_file(dir, "intermediate.crt", int_pem, 0644);

    const struct minica_ca_findings *f = assess_at(dir, now);
    assert_int_equal(f->health, MINICA_CA_ATTENTION);
    int i = find_note(f, "rollover in progress");
    assert_true(i >= 0);
    assert_non_null(strstr(f->note[i], xs));
    assert_non_null(strstr(f->note[i], "minica ca drop-cross"));
    assert_int_equal(find_note(f, "is not here"), -1); /* the new root's key is in ca/ */

    free(bundle);
    free(old_root_pem);
    free(root_pem);
    free(cross_pem);
    free(int_pem);
    key_free(&old_root);
    key_free(&root);
    key_free(&inter);
    minica_rng_free(&rng);
    tu_free_ca(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assess_fresh_ca_is_healthy_without_notes),
        cmocka_unit_test(test_assess_rotation_due_below_twice_max_ttl),
        cmocka_unit_test(test_assess_critical_below_max_ttl_names_rotate),
        cmocka_unit_test(test_assess_critical_when_the_intermediate_expired),
        cmocka_unit_test(test_assess_notes_a_missing_root_key),
        cmocka_unit_test(test_assess_notes_a_staged_intermediate),
        cmocka_unit_test(test_assess_previous_intermediate_with_leaves_is_info),
        cmocka_unit_test(test_assess_revoked_intermediate_with_leaves_needs_attention),
        cmocka_unit_test(test_assess_cross_certificate_in_use_needs_attention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
