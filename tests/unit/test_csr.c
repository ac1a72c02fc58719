/* Unit tests for csr.c: CSRs as OpenSSL writes them, above all with an empty
 * subject (names only in the SAN, as certbot sends them), which mbedTLS
 * cannot parse on its own; and the refusals that must hold all the same: a
 * signature that does not cover the bytes sent, and anything after the DER. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/base64.h>

#include "base/util.h"
#include "ca/x509.h"
#include "minica/ca.h"
#include "minica/der.h"
#include "minica/issue.h"
#include "serve/fastverify.h"
#include "testutil.h"

#define SANS "DNS:a.internal.svc,IP:10.0.2.77"
#define SANS_TEXT "a.internal.svc,10.0.2.77"

struct csr_case {
    char *dir;
};

static int setup(void **state)
{
    struct csr_case *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->dir = tu_tempdir();
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct csr_case *c = *state;
    tu_rmtree(c->dir);
    free(c->dir);
    free(c);
    return 0;
}

static void sh(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        print_error("failed (%d): %s\n", rc, cmd);
    assert_int_equal(rc, 0);
}

/* A PEM CSR made by OpenSSL with a fresh key (keyalg: "ec" or "rsa"). */
static char *openssl_csr(const struct csr_case *c, const char *keyalg, const char *subj,
                         const char *san)
{
    char cmd[2048], path[1024];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && rm -f key.pem req.pem && "
             "%s && openssl req -new -key key.pem -subj '%s' %s%s -out req.pem 2>/dev/null",
             c->dir,
             strcmp(keyalg, "rsa") == 0
                 ? "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem "
                   "2>/dev/null"
                 : "openssl ecparam -name prime256v1 -genkey -noout -out key.pem",
             subj, san ? "-addext subjectAltName=" : "", san ? san : "");
    sh(cmd);
    snprintf(path, sizeof(path), "%s/req.pem", c->dir);
    return tu_slurp(path);
}

/* The DER inside a PEM CSR (malloc'd). */
static unsigned char *der_of(const char *pem, size_t *len)
{
    const char *b = strstr(pem, "-----\n"), *e = strstr(pem, "-----END");
    assert_non_null(b);
    assert_non_null(e);
    b += 6;
    size_t cap = (size_t)(e - b);
    unsigned char *der = malloc(cap + 16); /* room to append to it */
    assert_non_null(der);
    assert_int_equal(
        mbedtls_base64_decode(der, cap, len, (const unsigned char *)b, (size_t)(e - b)), 0);
    return der;
}

static char *pem_of(const unsigned char *der, size_t len)
{
    char *pem = NULL;
    struct minica_err err;
    assert_int_equal(minica_der_to_pem(der, len, "CERTIFICATE REQUEST", &pem, &err), 0);
    return pem;
}

static int parse(const char *pem, char *cn, char *sans, struct minica_err *err)
{
    mbedtls_x509_csr csr;
    mbedtls_x509_csr_init(&csr);
    memset(err, 0, sizeof(*err));
    int ret = minica_csr_parse_verified(&csr, pem, NULL, cn, MINICA_NAME_MAX + 1, sans,
                                        MINICA_SANS_MAX, err);
    mbedtls_x509_csr_free(&csr);
    return ret;
}

static void expect_refused(const char *pem, const char *why)
{
    char cn[MINICA_NAME_MAX + 1], sans[MINICA_SANS_MAX];
    struct minica_err err;
    assert_int_not_equal(parse(pem, cn, sans, &err), 0);
    if (strstr(err.msg, why) == NULL)
        print_error("wanted '%s', got '%s'\n", why, err.msg);
    assert_non_null(strstr(err.msg, why));
}

/* The subject TLV of a DER CSR: SEQ { SEQ { INTEGER, subject ... */
static const unsigned char *subject_of(const unsigned char *der, size_t len, size_t *sublen)
{
    struct minica_der_signed s;
    struct minica_err err;
    assert_int_equal(minica_der_split_signed(der, len, &s, &err), 0);
    const unsigned char *p = s.body.p + 2, *end = s.body.p + s.body.len;
    if (s.body.p[1] & 0x80)
        p += s.body.p[1] & 0x7f;
    struct minica_der_part version, subject;
    assert_int_equal(minica_der_next_tlv(&p, end, &version), 0);
    assert_int_equal(minica_der_next_tlv(&p, end, &subject), 0);
    *sublen = subject.len;
    return subject.p;
}

/* The same CSR with its subject replaced by an empty one and its
 * signature kept: signed over other bytes than those sent. */
static char *with_subject_emptied(const char *pem)
{
    size_t len, sublen;
    unsigned char *der = der_of(pem, &len);
    struct minica_der_signed s;
    struct minica_err err;
    assert_int_equal(minica_der_split_signed(der, len, &s, &err), 0);
    const unsigned char *subject = subject_of(der, len, &sublen);
    const unsigned char *info_body = s.body.p + 2 + ((s.body.p[1] & 0x80) ? s.body.p[1] & 0x7f : 0);
    const unsigned char *info_end = s.body.p + s.body.len;
    static const unsigned char empty[] = {0x30, 0x00};
    struct minica_der_part info_parts[3] = {
        {info_body, (size_t)(subject - info_body)},
        {empty, sizeof(empty)},
        {subject + sublen, (size_t)(info_end - (subject + sublen))},
    };
    unsigned char *info = NULL, *whole = NULL;
    size_t info_len = 0, whole_len = 0;
    assert_int_equal(minica_der_sequence(info_parts, 3, &info, &info_len, &err), 0);
    struct minica_der_part parts[3] = {{info, info_len}, s.alg, s.sig};
    assert_int_equal(minica_der_sequence(parts, 3, &whole, &whole_len, &err), 0);
    char *out = pem_of(whole, whole_len);
    free(info);
    free(whole);
    free(der);
    return out;
}

static void test_empty_subject_is_parsed_and_verified(void **state)
{
    static const char *const algs[] = {"ec", "rsa"};
    for (size_t i = 0; i < 2; i++) {
        char *pem = openssl_csr(*state, algs[i], "/", SANS);
        size_t len, sublen;
        unsigned char *der = der_of(pem, &len);
        const unsigned char *subject = subject_of(der, len, &sublen);
        /* What certbot sends: a SEQUENCE of no RDNs. */
        assert_int_equal(sublen, 2);
        assert_int_equal(subject[0], 0x30);
        assert_int_equal(subject[1], 0x00);

        mbedtls_x509_csr csr;
        mbedtls_x509_csr_init(&csr);
        char cn[MINICA_NAME_MAX + 1] = "junk", sans[MINICA_SANS_MAX];
        struct minica_err err;
        int ret =
            minica_csr_parse_verified(&csr, pem, NULL, cn, sizeof(cn), sans, sizeof(sans), &err);
        if (ret != 0)
            print_error("%s: %s\n", algs[i], err.msg);
        assert_int_equal(ret, 0);
        assert_string_equal(cn, "");
        assert_string_equal(sans, SANS_TEXT);
        assert_int_equal(mbedtls_pk_get_type(&csr.pk), i == 0 ? MBEDTLS_PK_ECKEY : MBEDTLS_PK_RSA);
        /* Nothing of the placeholder shows. */
        assert_null(csr.subject.oid.p);
        assert_null(csr.subject.next);
        mbedtls_x509_csr_free(&csr);

        strcpy(cn, "junk");
        assert_int_equal(minica_csr_names_unverified(pem, cn, sizeof(cn), sans, sizeof(sans), &err),
                         0);
        assert_string_equal(cn, "");
        assert_string_equal(sans, SANS_TEXT);
        free(der);
        free(pem);
    }
}

static void test_subject_still_read(void **state)
{
    char *pem = openssl_csr(*state, "ec", "/O=Example/CN=a.internal.svc", SANS);
    char cn[MINICA_NAME_MAX + 1], sans[MINICA_SANS_MAX];
    struct minica_err err;
    assert_int_equal(parse(pem, cn, sans, &err), 0);
    assert_string_equal(cn, "a.internal.svc");
    assert_string_equal(sans, SANS_TEXT);
    free(pem);
}

static void test_empty_subject_bad_signature(void **state)
{
    char *pem = openssl_csr(*state, "ec", "/", SANS);
    size_t len;
    unsigned char *der = der_of(pem, &len);
    der[len - 3] ^= 0x55; /* inside the signature's INTEGERs */
    char *bad = pem_of(der, len);
    expect_refused(bad, "signature is invalid");
    free(bad);

    /* One letter of the signed info changed: the hash covers every byte
     * sent, the names included. */
    der[len - 3] ^= 0x55;
    unsigned char *a = memmem(der, len, "a.internal.svc", 14);
    assert_non_null(a);
    *a = 'b';
    bad = pem_of(der, len);
    expect_refused(bad, "signature is invalid");
    free(bad);
    free(der);
    free(pem);
}

/* The CSR with the placeholder subject (CN=?) properly signed, then sent
 * with that subject emptied: what mbedTLS parses would then be exactly
 * what was signed, but not what was sent. */
static void test_signature_over_other_subject_refused(void **state)
{
    static const char *const subjects[] = {"/CN=?", "/CN=a.internal.svc"};
    for (size_t i = 0; i < 2; i++) {
        char *pem = openssl_csr(*state, "ec", subjects[i], SANS);
        char cn[MINICA_NAME_MAX + 1], sans[MINICA_SANS_MAX];
        struct minica_err err;
        assert_int_equal(parse(pem, cn, sans, &err), 0);
        char *emptied = with_subject_emptied(pem);
        expect_refused(emptied, "signature is invalid");
        free(emptied);
        free(pem);
    }
}

static void test_trailing_garbage_refused(void **state)
{
    char *pem = openssl_csr(*state, "ec", "/", SANS);
    size_t len;
    unsigned char *der = der_of(pem, &len);
    struct minica_err err;

    /* After the CertificationRequest. */
    der[len] = 0x00;
    char *bad = pem_of(der, len + 1);
    expect_refused(bad, "cannot parse the CSR");
    free(bad);

    /* Inside it, after the signature. */
    struct minica_der_signed s;
    assert_int_equal(minica_der_split_signed(der, len, &s, &err), 0);
    static const unsigned char null_tlv[] = {0x05, 0x00};
    struct minica_der_part four[4] = {s.body, s.alg, s.sig, {null_tlv, 2}};
    unsigned char *whole = NULL;
    size_t whole_len = 0;
    assert_int_equal(minica_der_sequence(four, 4, &whole, &whole_len, &err), 0);
    bad = pem_of(whole, whole_len);
    expect_refused(bad, "cannot parse the CSR");
    free(bad);
    free(whole);

    /* Inside the signed info, after the attributes. */
    const unsigned char *body = s.body.p + 2 + ((s.body.p[1] & 0x80) ? s.body.p[1] & 0x7f : 0);
    struct minica_der_part info_parts[2] = {{body, (size_t)(s.body.p + s.body.len - body)},
                                            {null_tlv, 2}};
    unsigned char *info = NULL;
    size_t info_len = 0;
    assert_int_equal(minica_der_sequence(info_parts, 2, &info, &info_len, &err), 0);
    struct minica_der_part three[3] = {{info, info_len}, s.alg, s.sig};
    assert_int_equal(minica_der_sequence(three, 3, &whole, &whole_len, &err), 0);
    bad = pem_of(whole, whole_len);
    expect_refused(bad, "cannot parse the CSR");
    free(bad);
    free(whole);
    free(info);
    free(der);
    free(pem);
}

/* The whole way: a certificate issued from certbot's kind of CSR. */
static void test_issue_from_empty_subject_csr(void **state)
{
    struct csr_case *c = *state;
    char *pem = openssl_csr(c, "ec", "/", SANS);
    char *cadir = tu_make_ca();
    struct minica_ca *ca = NULL;
    struct minica_err err;
    assert_int_equal(minica_ca_open(cadir, &ca, &err), 0);
    const char *sans[] = {"10.0.2.77"};
    struct minica_issue_request req = {
        .name = "a.internal.svc", .sans = sans, .n_sans = 1, .ttl = 86400, .csr_pem = pem};
    struct minica_issued out;
    int ret = minica_ca_issue(ca, &req, &out, &err);
    if (ret != 0)
        print_error("issue: %s\n", err.msg);
    assert_int_equal(ret, 0);
    assert_string_equal(out.sans, SANS_TEXT);
    assert_null(out.key_pem);
    minica_issued_free(&out);
    minica_ca_close(ca);
    tu_free_ca(cadir);
    free(pem);
}

/* ---- checked before the CA's lock (minica_csr_precheck) ---- */

static int fast_calls;
static int fast_answer;
static int fast(int sha384, const unsigned char *spki, size_t spki_len, const unsigned char *data,
                size_t data_len, const unsigned char *sig, size_t sig_len)
{
    (void)sha384, (void)spki, (void)spki_len, (void)data, (void)data_len, (void)sig, (void)sig_len;
    fast_calls++;
    return fast_answer;
}

static int parse_with(const char *pem, const struct minica_csr_receipt *receipt,
                      struct minica_err *err)
{
    mbedtls_x509_csr csr;
    mbedtls_x509_csr_init(&csr);
    char cn[MINICA_NAME_MAX + 1], sans[MINICA_SANS_MAX];
    int ret =
        minica_csr_parse_verified(&csr, pem, receipt, cn, sizeof(cn), sans, sizeof(sans), err);
    mbedtls_x509_csr_free(&csr);
    return ret;
}

static void test_receipt_is_for_the_exact_bytes(void **state)
{
    (void)state;
    char *good = tu_make_csr("a.internal.svc", 0);
    char *bad = tu_make_csr("a.internal.svc", 1);
    struct minica_csr_receipt receipt;
    struct minica_err err;
    assert_int_equal(minica_csr_precheck(good, NULL, &receipt, &err), MINICA_OK);
    assert_int_equal(strlen(receipt.pem_sha256), 64);
    assert_int_equal(parse_with(good, &receipt, &err), MINICA_OK);
    /* A receipt for other bytes proves nothing: the signature is checked. */
    assert_int_equal(parse_with(bad, &receipt, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "signature is invalid"));
    /* No receipt for a CSR whose signature is wrong. */
    struct minica_csr_receipt none;
    assert_int_equal(minica_csr_precheck(bad, NULL, &none, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "signature is invalid"));
    /* One changed byte of the PEM (a line ending) is other bytes. */
    size_t n = strlen(good);
    char *crlf = malloc(n + 2);
    memcpy(crlf, good, n + 1);
    crlf[n - 1] = '\r';
    crlf[n] = '\n';
    crlf[n + 1] = '\0';
    struct minica_csr_receipt other;
    assert_int_equal(minica_csr_precheck(crlf, NULL, &other, &err), MINICA_OK);
    assert_string_not_equal(other.pem_sha256, receipt.pem_sha256);
    free(crlf);
    free(good);
    free(bad);
}

static void test_precheck_asks_the_fast_verifier_first(void **state)
{
    (void)state;
    char *good = tu_make_csr("a.internal.svc", 0);
    char *bad = tu_make_csr("a.internal.svc", 1);
    struct minica_csr_receipt receipt;
    struct minica_err err;
    /* It says no: refused, whatever mbedTLS would say. */
    fast_calls = 0;
    fast_answer = 0;
    assert_int_equal(minica_csr_precheck(good, fast, &receipt, &err), MINICA_EINVAL);
    assert_int_equal(fast_calls, 1);
    /* It cannot tell: mbedTLS decides, both ways. */
    fast_answer = -1;
    assert_int_equal(minica_csr_precheck(good, fast, &receipt, &err), MINICA_OK);
    assert_int_equal(minica_csr_precheck(bad, fast, &receipt, &err), MINICA_EINVAL);
    assert_int_equal(fast_calls, 3);
    free(good);
    free(bad);
}

static void test_precheck_with_gnutls(void **state)
{
    struct csr_case *c = *state;
    char *good = tu_make_csr("a.internal.svc", 0);
    char *bad = tu_make_csr("a.internal.svc", 1);
    char *empty_subject = openssl_csr(c, "ec", "/", SANS);
    char *rsa = openssl_csr(c, "rsa", "/CN=a.internal.svc", SANS);
    struct minica_csr_receipt receipt;
    struct minica_err err;
    assert_int_equal(minica_csr_precheck(good, minica_gnutls_ecdsa_verify, &receipt, &err),
                     MINICA_OK);
    assert_int_equal(minica_csr_precheck(bad, minica_gnutls_ecdsa_verify, &receipt, &err),
                     MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "signature is invalid"));
    /* What was signed is the info as sent, not mbedTLS's placeholder. */
    assert_int_equal(minica_csr_precheck(empty_subject, minica_gnutls_ecdsa_verify, &receipt, &err),
                     MINICA_OK);
    assert_int_equal(parse_with(empty_subject, &receipt, &err), MINICA_OK);
    /* RSA is mbedTLS's alone. */
    assert_int_equal(minica_csr_precheck(rsa, minica_gnutls_ecdsa_verify, &receipt, &err),
                     MINICA_OK);
    free(good);
    free(bad);
    free(empty_subject);
    free(rsa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_subject_is_parsed_and_verified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subject_still_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_subject_bad_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signature_over_other_subject_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_garbage_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_from_empty_subject_csr, setup, teardown),
        cmocka_unit_test(test_receipt_is_for_the_exact_bytes),
        cmocka_unit_test(test_precheck_asks_the_fast_verifier_first),
        cmocka_unit_test_setup_teardown(test_precheck_with_gnutls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
