/* Unit tests for key checks in key.c: minica_key_matches_cert and
 * minica_pk_same_public (which replaced mbedtls_pk_check_pair on the hot
 * paths: opening the CA and the agent's per-certificate check), and
 * keypair.c's minica_key_files_match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ca/x509.h"
#include "minica/ca.h"
#include "minica/issue.h"
#include "testutil.h"

struct two_certs {
    char *cadir;
    struct minica_ca *ca;
    struct minica_issued a, b;
};

static void issue(struct minica_ca *ca, const char *name, enum minica_key_type type,
                  struct minica_issued *out)
{
    struct minica_issue_request req;
    struct minica_err err;
    memset(&req, 0, sizeof(req));
    req.name = name;
    req.key_type = type;
    assert_int_equal(minica_ca_issue(ca, &req, out, &err), 0);
}

static int setup(void **state)
{
    struct two_certs *t = calloc(1, sizeof(*t));
    struct minica_err err;
    assert_non_null(t);
    t->cadir = tu_make_ca();
    assert_int_equal(minica_ca_open(t->cadir, &t->ca, &err), 0);
    issue(t->ca, "a.internal.svc", MINICA_KEY_EC_P256, &t->a);
    issue(t->ca, "b.internal.svc", MINICA_KEY_EC_P256, &t->b);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct two_certs *t = *state;
    minica_issued_free(&t->a);
    minica_issued_free(&t->b);
    minica_ca_close(t->ca);
    tu_free_ca(t->cadir);
    free(t);
    return 0;
}

static void test_key_matches_its_own_certificate(void **state)
{
    struct two_certs *t = *state;
    assert_int_equal(minica_key_matches_cert(t->a.key_pem, t->a.cert_pem, NULL), 1);
    assert_int_equal(minica_key_matches_cert(t->b.key_pem, t->b.cert_pem, NULL), 1);
}

static void test_key_does_not_match_another_certificate(void **state)
{
    struct two_certs *t = *state;
    assert_int_equal(minica_key_matches_cert(t->a.key_pem, t->b.cert_pem, NULL), 0);
    assert_int_equal(minica_key_matches_cert(t->b.key_pem, t->a.cert_pem, NULL), 0);
}

static void test_key_match_rejects_garbage(void **state)
{
    struct two_certs *t = *state;
    struct minica_err err;
    assert_true(minica_key_matches_cert("not a key", t->a.cert_pem, &err) < 0);
    assert_true(minica_key_matches_cert(t->a.key_pem, "not a certificate", &err) < 0);
    /* A certificate is not a key. */
    assert_true(minica_key_matches_cert(t->a.cert_pem, t->a.cert_pem, &err) < 0);
}

static void test_key_match_across_key_types(void **state)
{
    struct two_certs *t = *state;
    struct minica_issued p384;
    issue(t->ca, "c.internal.svc", MINICA_KEY_EC_P384, &p384);
    assert_int_equal(minica_key_matches_cert(p384.key_pem, p384.cert_pem, NULL), 1);
    assert_int_equal(minica_key_matches_cert(p384.key_pem, t->a.cert_pem, NULL), 0);
    assert_int_equal(minica_key_matches_cert(t->a.key_pem, p384.cert_pem, NULL), 0);
    minica_issued_free(&p384);
}

static void test_same_public_compares_keys_not_pointers(void **state)
{
    struct two_certs *t = *state;
    mbedtls_x509_crt a1, a2, b;
    mbedtls_x509_crt_init(&a1);
    mbedtls_x509_crt_init(&a2);
    mbedtls_x509_crt_init(&b);
    assert_int_equal(minica_crt_parse_pem(&a1, t->a.cert_pem, NULL), 0);
    assert_int_equal(minica_crt_parse_pem(&a2, t->a.cert_pem, NULL), 0);
    assert_int_equal(minica_crt_parse_pem(&b, t->b.cert_pem, NULL), 0);
    assert_int_equal(minica_pk_same_public(&a1.pk, &a2.pk), 1);
    assert_int_equal(minica_pk_same_public(&a1.pk, &b.pk), 0);
    mbedtls_pk_context empty;
    mbedtls_pk_init(&empty);
    assert_int_equal(minica_pk_same_public(&a1.pk, &empty), 0);
    mbedtls_x509_crt_free(&a1);
    mbedtls_x509_crt_free(&a2);
    mbedtls_x509_crt_free(&b);
}

static void put(const char *dir, const char *base, const char *a, const char *b, char *path,
                size_t len)
{
    snprintf(path, len, "%s/%s", dir, base);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(a, fp);
    if (b != NULL)
        fputs(b, fp);
    fclose(fp);
}

/* What a crash between two renames leaves, as the files on disk. */
static void test_key_files_match_names_the_file_that_does_not(void **state)
{
    struct two_certs *t = *state;
    char *dir = tu_tempdir();
    char key[4200], crt[4200], full[4200], other[4200], bundle[4200], missing[4200], why[1024];
    put(dir, "a.key", t->a.key_pem, NULL, key, sizeof(key));
    put(dir, "a.crt", t->a.cert_pem, NULL, crt, sizeof(crt));
    put(dir, "a.fullchain.crt", t->a.cert_pem, t->a.chain_pem, full, sizeof(full));
    put(dir, "b.fullchain.crt", t->b.cert_pem, t->b.chain_pem, other, sizeof(other));
    snprintf(missing, sizeof(missing), "%s/none.crt", dir);

    const char *good[] = {crt, "", full, NULL};
    assert_int_equal(minica_key_files_match(key, good, 4, why, sizeof(why)), 1);
    assert_string_equal(why, "");
    const char *mixed[] = {crt, other};
    assert_int_equal(minica_key_files_match(key, mixed, 2, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "does not match the certificate in"));
    assert_non_null(strstr(why, "b.fullchain.crt"));
    const char *gone[] = {missing};
    assert_int_equal(minica_key_files_match(key, gone, 1, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "does not exist"));
    assert_int_equal(minica_key_files_match(missing, good, 2, why, sizeof(why)), -1);
    const char *garbage[] = {key};
    assert_int_equal(minica_key_files_match(key, garbage, 1, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "holds no readable certificate"));

    /* A PEM bundle is both the key and the certificate file. */
    char *both = malloc(strlen(t->a.key_pem) + strlen(t->a.cert_pem) + 1);
    assert_non_null(both);
    strcpy(both, t->a.cert_pem);
    strcat(both, t->a.key_pem);
    put(dir, "a.pem", both, t->a.chain_pem, bundle, sizeof(bundle));
    const char *self[] = {bundle};
    assert_int_equal(minica_key_files_match(bundle, self, 1, why, sizeof(why)), 1);
    put(dir, "a.pem", t->b.cert_pem, t->a.key_pem, bundle, sizeof(bundle));
    assert_int_equal(minica_key_files_match(bundle, self, 1, why, sizeof(why)), 0);
    free(both);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_matches_its_own_certificate),
        cmocka_unit_test(test_key_does_not_match_another_certificate),
        cmocka_unit_test(test_key_match_rejects_garbage),
        cmocka_unit_test(test_key_match_across_key_types),
        cmocka_unit_test(test_same_public_compares_keys_not_pointers),
        cmocka_unit_test(test_key_files_match_names_the_file_that_does_not),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
