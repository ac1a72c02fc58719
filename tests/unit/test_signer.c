/* Unit tests for signer.c and for every CA signature going through a
 * signer (issue 18): a counting signer wraps the key-file one (its pub a
 * public-only copy, so x509write cannot have signed with the real key); each kind of signature
 * (leaf, CRL, self-signed root, intermediate or cross-certificate) must call it exactly once and
 * verify with openssl under the real issuer, and the authorityKeyIdentifier sign.c writes itself
 * must be the one mbedTLS wrote from the real key, byte for byte, and the issuer's SKI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "ca/ca_internal.h"
#include "minica/crl.h"
#include "minica/der.h"
#include "minica/issue.h"
#include "testutil.h"

/* The counting wrapper: test-only, over another signer. */
struct counting {
    struct minica_signer *inner;
    int calls;
};

static int counting_sign(struct minica_signer *s, mbedtls_md_type_t md, const unsigned char *hash,
                         size_t hash_len, unsigned char *sig, size_t sig_size, size_t *sig_len,
                         struct minica_err *err)
{
    struct counting *c = s->impl;
    c->calls++;
    return minica_signer_sign(c->inner, md, hash, hash_len, sig, sig_size, sig_len, err);
}

static void counting_free(struct minica_signer *s)
{
    struct counting *c = s->impl;
    minica_signer_free(c->inner);
    free(c);
}

static const struct minica_signer_ops counting_ops = {counting_sign, counting_free, NULL};

static void copy_public(const mbedtls_pk_context *from, mbedtls_pk_context *to)
{
    unsigned char der[2048];
    int n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)from, der, sizeof(der));
    assert_true(n > 0);
    mbedtls_pk_init(to);
    assert_int_equal(mbedtls_pk_parse_public_key(to, der + sizeof(der) - n, (size_t)n), 0);
}

/* Takes inner over; *calls points at its counter. */
static struct minica_signer *counting_new(struct minica_signer *inner, int **calls)
{
    struct minica_signer *s = calloc(1, sizeof(*s));
    struct counting *c = calloc(1, sizeof(*c));
    assert_non_null(s);
    assert_non_null(c);
    c->inner = inner;
    s->ops = &counting_ops;
    s->impl = c;
    copy_public(&inner->pub, &s->pub);
    snprintf(s->where, sizeof(s->where), "counting %s", inner->where);
    *calls = &c->calls;
    return s;
}

struct fx {
    struct minica_rng rng;
    struct minica_scratch scratch;
    char *dir;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct minica_err err;
    assert_non_null(f);
    assert_int_equal(minica_rng_init(&f->rng, &err), 0);
    minica_scratch_init(&f->scratch);
    f->dir = tu_tempdir();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    minica_scratch_free(&f->scratch);
    minica_rng_free(&f->rng);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static struct minica_signer *new_signer(struct fx *f, enum minica_key_type type, char **pem,
                                        size_t *pem_len)
{
    mbedtls_pk_context pk;
    struct minica_signer *s = NULL;
    struct minica_err err;
    mbedtls_pk_init(&pk);
    assert_int_equal(minica_key_generate(&pk, type, &f->rng, &err), 0);
    if (pem != NULL)
        assert_int_equal(minica_key_to_pem(&pk, pem, pem_len, &err), 0);
    assert_int_equal(minica_signer_from_pk(&pk, "file test.key", &f->rng, &s, &err), 0);
    assert_int_equal(mbedtls_pk_get_type(&pk), MBEDTLS_PK_NONE); /* taken over */
    return s;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* The exit status of a shell command, its output shown. */
static int run(const char *cmd)
{
    char line[512];
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof(line), p) != NULL)
        print_message("  %s", line);
    return pclose(p);
}

/* The value (extnValue's contents) of the extension with this id-ce arc
 * in a DER certificate, by the OID's bytes: enough for what sign.c wrote. */
static int ext_value(const unsigned char *der, size_t len, unsigned char arc,
                     const unsigned char **val, size_t *vlen)
{
    const unsigned char oid[] = {0x06, 0x03, 0x55, 0x1d, arc};
    for (size_t i = 0; i + sizeof(oid) + 2 < len; i++) {
        if (memcmp(der + i, oid, sizeof(oid)) != 0)
            continue;
        const unsigned char *p = der + i + sizeof(oid);
        if (p[0] == 0x01) /* critical BOOLEAN */
            p += 3;
        if (p[0] != 0x04 || p[1] >= 0x80)
            return -1;
        *vlen = p[1];
        *val = p + 2;
        return 0;
    }
    return -1;
}

/* keyIdentifier of SKI (OCTET STRING) and AKI (SEQUENCE { [0] }). */
static void key_ids(const unsigned char *der, size_t len, const unsigned char **ski,
                    const unsigned char **aki)
{
    const unsigned char *v;
    size_t n;
    *ski = *aki = NULL;
    if (ext_value(der, len, 0x0e, &v, &n) == 0 && n == 22 && v[0] == 0x04 && v[1] == 20)
        *ski = v + 2;
    if (ext_value(der, len, 0x23, &v, &n) == 0 && n == 24 && v[0] == 0x30 && v[2] == 0x80 &&
        v[3] == 20)
        *aki = v + 4;
}

static void cert_tbs(struct minica_tbs *t, const char *subject, const char *issuer,
                     mbedtls_pk_context *subject_key, struct minica_signer *signer, int with_aki,
                     struct minica_rng *rng)
{
    struct minica_err err;
    memset(t, 0, sizeof(*t));
    t->subject = subject;
    t->issuer = issuer;
    t->subject_key = subject_key;
    t->signer = signer;
    t->not_before = minica_now() - 60;
    t->not_after = minica_now() + 86400;
    t->is_ca = 1;
    t->pathlen = with_aki ? 0 : -1;
    t->key_usage = MINICA_KU_KEY_CERT_SIGN | MINICA_KU_CRL_SIGN;
    t->with_aki = with_aki;
    assert_int_equal(minica_serial_generate(rng, t->serial, &err), 0);
}

static void save_pem(const char *dir, const char *name, const unsigned char *der, size_t len)
{
    char path[4200], *pem = NULL;
    struct minica_err err;
    assert_int_equal(minica_der_to_pem(der, len, "CERTIFICATE", &pem, &err), 0);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    write_file(path, pem, strlen(pem));
    free(pem);
}

/* A root and an intermediate under it, each signed once by a counting
 * signer, verify under the real keys; the intermediate's AKI is the root's
 * SKI. Both key kinds: the scratch key differs. */
static void root_and_intermediate(struct fx *f, enum minica_key_type type)
{
    int *root_calls, *int_calls;
    struct minica_signer *root = counting_new(new_signer(f, type, NULL, NULL), &root_calls);
    struct minica_signer *inter = counting_new(new_signer(f, type, NULL, NULL), &int_calls);
    struct minica_tbs t;
    struct minica_err err;
    unsigned char *root_der = NULL, *int_der = NULL;
    size_t root_len = 0, int_len = 0;

    cert_tbs(&t, "CN=signer Root CA", "CN=signer Root CA", &root->pub, root, 0, &f->rng);
    assert_int_equal(minica_sign_cert(&t, &f->scratch, &f->rng, &root_der, &root_len, &err), 0);
    assert_int_equal(*root_calls, 1);
    cert_tbs(&t, "CN=signer Intermediate CA", "CN=signer Root CA", &inter->pub, root, 1, &f->rng);
    assert_int_equal(minica_sign_cert(&t, &f->scratch, &f->rng, &int_der, &int_len, &err), 0);
    assert_int_equal(*root_calls, 2);
    assert_int_equal(*int_calls, 0);

    const unsigned char *root_ski, *root_aki, *int_ski, *int_aki;
    key_ids(root_der, root_len, &root_ski, &root_aki);
    key_ids(int_der, int_len, &int_ski, &int_aki);
    assert_non_null(root_ski);
    assert_null(root_aki); /* a self-signed root has none (with_aki 0) */
    assert_non_null(int_ski);
    assert_non_null(int_aki);
    assert_memory_equal(int_aki, root_ski, 20);

    save_pem(f->dir, "root.pem", root_der, root_len);
    save_pem(f->dir, "int.pem", int_der, int_len);
    char cmd[8600];
    snprintf(cmd, sizeof(cmd),
             "openssl verify -x509_strict -check_ss_sig -CAfile '%s/root.pem' '%s/root.pem' "
             "'%s/int.pem' 2>&1",
             f->dir, f->dir, f->dir);
    assert_int_equal(run(cmd), 0);
    free(root_der);
    free(int_der);
    minica_signer_free(root);
    minica_signer_free(inter);
}

static void test_root_and_intermediate_ec(void **state)
{
    root_and_intermediate(*state, MINICA_KEY_EC_P256);
}

static void test_root_and_intermediate_p384(void **state)
{
    root_and_intermediate(*state, MINICA_KEY_EC_P384);
}

static void test_root_and_intermediate_rsa(void **state)
{
    root_and_intermediate(*state, MINICA_KEY_RSA_2048);
}

/* What sign.c writes as the AKI is what mbedTLS's own
 * set_authority_key_identifier wrote from the real issuer key. */
static void aki_as_mbedtls_writes(struct fx *f, enum minica_key_type type)
{
    char *pem = NULL;
    size_t pem_len = 0;
    struct minica_signer *issuer = new_signer(f, type, &pem, &pem_len);
    struct minica_err err;
    mbedtls_pk_context real;
    mbedtls_pk_init(&real);
    assert_int_equal(minica_key_parse_pem(&real, pem, pem_len, &f->rng, &err), 0);

    mbedtls_x509write_cert crt;
    mbedtls_x509write_crt_init(&crt);
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, minica_key_md(&real));
    mbedtls_x509write_crt_set_subject_key(&crt, &real);
    mbedtls_x509write_crt_set_issuer_key(&crt, &real);
    unsigned char serial[1] = {1};
    assert_int_equal(minica_compat_crt_set_serial(&crt, serial, 1), 0);
    assert_int_equal(mbedtls_x509write_crt_set_validity(&crt, "20260101000000", "20270101000000"),
                     0);
    assert_int_equal(mbedtls_x509write_crt_set_subject_name(&crt, "CN=x"), 0);
    assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&crt, "CN=x"), 0);
    assert_int_equal(mbedtls_x509write_crt_set_authority_key_identifier(&crt), 0);
    static unsigned char buf[8192];
    int n =
        mbedtls_x509write_crt_der(&crt, buf, sizeof(buf), mbedtls_ctr_drbg_random, &f->rng.drbg);
    assert_true(n > 0);
    const unsigned char *theirs, *ours;
    size_t theirs_len, ours_len;
    assert_int_equal(ext_value(buf + sizeof(buf) - n, (size_t)n, 0x23, &theirs, &theirs_len), 0);

    struct minica_tbs t;
    unsigned char *der = NULL;
    size_t len = 0;
    cert_tbs(&t, "CN=y", "CN=x", &issuer->pub, issuer, 1, &f->rng);
    assert_int_equal(minica_sign_cert(&t, &f->scratch, &f->rng, &der, &len, &err), 0);
    assert_int_equal(ext_value(der, len, 0x23, &ours, &ours_len), 0);
    assert_int_equal(ours_len, theirs_len);
    assert_memory_equal(ours, theirs, theirs_len);
    free(der);
    mbedtls_x509write_crt_free(&crt);
    mbedtls_pk_free(&real);
    minica_free_secret(pem, pem_len);
    minica_signer_free(issuer);
}

static void test_aki_is_what_mbedtls_wrote(void **state)
{
    aki_as_mbedtls_writes(*state, MINICA_KEY_EC_P256);
    aki_as_mbedtls_writes(*state, MINICA_KEY_EC_P384);
    aki_as_mbedtls_writes(*state, MINICA_KEY_RSA_2048);
}

/* The key-file backend: a signature the public key verifies; the public
 * key alone in pub; a hash of the wrong length refused. */
static void test_key_file_signer(void **state)
{
    struct fx *f = *state;
    struct minica_signer *s = new_signer(f, MINICA_KEY_EC_P256, NULL, NULL);
    struct minica_err err;
    unsigned char hash[32] = {1, 2, 3}, sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_len = 0;
    assert_string_equal(s->where, "file test.key");
    assert_int_equal(minica_signer_sign(s, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, sizeof(sig),
                                        &sig_len, &err),
                     0);
    assert_int_equal(
        mbedtls_pk_verify(&s->pub, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, sig_len), 0);
    /* No private half: a pair check of pub with itself fails. */
    assert_int_not_equal(minica_compat_pk_check_pair(&s->pub, &s->pub, &f->rng.drbg), 0);
    assert_int_not_equal(minica_signer_sign(s, MBEDTLS_MD_SHA384, hash, sizeof(hash), sig,
                                            sizeof(sig), &sig_len, &err),
                         0);
    assert_int_not_equal(
        minica_signer_sign(s, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, 16, &sig_len, &err), 0);
    minica_signer_free(s);
    minica_signer_free(NULL);

    mbedtls_pk_context empty;
    mbedtls_pk_init(&empty);
    assert_int_equal(minica_signer_from_pk(&empty, "x", &f->rng, &s, &err), MINICA_EINVAL);
    assert_null(s);
}

/* A leaf and the intermediate's CRL from an open CA whose intermediate key
 * is the counting signer: one call each, and openssl verifies both. */
static void test_leaf_and_crl_sign_once(void **state)
{
    struct tu_ca *t = *state;
    struct minica_ca *ca = t->ca;
    struct minica_err err;
    int *calls;
    assert_non_null(ca->intermediate_key);
    ca->intermediate_key = counting_new(ca->intermediate_key, &calls);

    struct minica_issue_request req = {.name = "leaf.signer.test"};
    struct minica_issued out;
    assert_int_equal(minica_ca_issue(ca, &req, &out, &err), 0);
    assert_int_equal(*calls, 1);
    char path[4200], cmd[12800];
    snprintf(path, sizeof(path), "%s/leaf.pem", t->dir);
    write_file(path, out.cert_pem, strlen(out.cert_pem));
    snprintf(cmd, sizeof(cmd),
             "openssl verify -x509_strict -CAfile '%s/root.crt' -untrusted '%s/intermediate.crt' "
             "'%s' 2>&1",
             t->dir, t->dir, path);
    assert_int_equal(run(cmd), 0);
    minica_issued_free(&out);

    struct minica_crl crl;
    assert_int_equal(minica_ca_crl(ca, NULL, &crl, &err), 0);
    assert_int_equal(*calls, 2);
    snprintf(path, sizeof(path), "%s/crl.pem", t->dir);
    write_file(path, crl.pem, strlen(crl.pem));
    snprintf(cmd, sizeof(cmd),
             "openssl crl -in '%s' -CAfile '%s/intermediate.crt' -noout 2>&1 | grep -x 'verify "
             "OK'",
             path, t->dir);
    assert_int_equal(run(cmd), 0);
    minica_crl_free(&crl);
}

/* Opened without its key, a CA refuses to sign rather than crash. */
static void test_no_key_no_signature(void **state)
{
    struct tu_ca *t = *state;
    struct minica_ca *ca = NULL;
    struct minica_err err;
    assert_int_equal(minica_ca_open_flags(t->dir, MINICA_CA_OPEN_NO_KEY, &ca, &err), 0);
    assert_null(ca->intermediate_key);
    struct minica_issue_request req = {.name = "nokey.signer.test"};
    struct minica_issued out;
    assert_int_not_equal(minica_ca_issue(ca, &req, &out, &err), 0);
    minica_ca_close(ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_file_signer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_and_intermediate_ec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_and_intermediate_p384, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_and_intermediate_rsa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aki_is_what_mbedtls_wrote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leaf_and_crl_sign_once, tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_no_key_no_signature, tu_ca_setup, tu_ca_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
