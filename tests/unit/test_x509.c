/* Unit tests for x509.c's serial numbers as they end up in a signed
 * certificate: the 16 random bytes must become a minimal positive DER INTEGER
 * (X.690 8.3.2) on every mbedTLS, or OpenSSL refuses the certificate
 * ("BAD INTEGER") while mbedTLS still reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <mbedtls/asn1.h>

#include "ca/ca_internal.h"
#include "minica/der.h"
#include "testutil.h"

struct signer {
    struct minica_rng rng;
    struct minica_signer *key;
    struct minica_scratch scratch;
    char *dir;
};

static int setup(void **state)
{
    struct signer *s = calloc(1, sizeof(*s));
    struct minica_err err;
    assert_non_null(s);
    assert_int_equal(minica_rng_init(&s->rng, &err), 0);
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    assert_int_equal(minica_key_generate(&pk, MINICA_KEY_EC_P256, &s->rng, &err), 0);
    assert_int_equal(minica_signer_from_pk(&pk, "test", &s->rng, &s->key, &err), 0);
    minica_scratch_init(&s->scratch);
    s->dir = tu_tempdir();
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct signer *s = *state;
    minica_signer_free(s->key);
    minica_scratch_free(&s->scratch);
    minica_rng_free(&s->rng);
    tu_rmtree(s->dir);
    free(s->dir);
    free(s);
    return 0;
}

/* A self-signed CA certificate with this serial, as minica_sign_cert writes
 * it for the root; the caller frees *der. */
static void sign_with_serial(struct signer *s, const unsigned char serial[16], unsigned char **der,
                             size_t *der_len)
{
    struct minica_tbs tbs;
    struct minica_err err;
    memset(&tbs, 0, sizeof(tbs));
    tbs.subject = "CN=serial test";
    tbs.issuer = "CN=serial test";
    tbs.subject_key = &s->key->pub;
    tbs.signer = s->key;
    memcpy(tbs.serial, serial, 16);
    tbs.not_before = 1767225600; /* 2026-01-01 */
    tbs.not_after = tbs.not_before + 86400;
    tbs.is_ca = 1;
    tbs.pathlen = -1;
    tbs.key_usage = MINICA_KU_KEY_CERT_SIGN | MINICA_KU_CRL_SIGN;
    assert_int_equal(minica_sign_cert(&tbs, &s->scratch, &s->rng, der, der_len, &err), 0);
}

/* The content octets of tbsCertificate.serialNumber (RFC 5280 4.1). */
static void serial_integer(const unsigned char *der, size_t der_len, const unsigned char **val,
                           size_t *len)
{
    unsigned char *p = (unsigned char *)der;
    const unsigned char *end = der + der_len;
    size_t n;
    assert_int_equal(
        mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE), 0);
    assert_int_equal(
        mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE), 0);
    /* version [0] EXPLICIT, present in every v3 certificate */
    assert_int_equal(
        mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED),
        0);
    p += n;
    assert_int_equal(mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_INTEGER), 0);
    *val = p;
    *len = n;
}

/* The rules OpenSSL's c2i_ASN1_INTEGER enforces: at least one octet, no
 * redundant leading 00 or FF octet; and positive (RFC 5280 4.1.2.2). */
static void assert_minimal_positive(const unsigned char *v, size_t len)
{
    assert_true(len >= 1 && len <= 20);
    assert_int_equal(v[0] & 0x80, 0);
    if (len > 1)
        assert_false(v[0] == 0x00 && (v[1] & 0x80) == 0);
}

/* What X.690 says the serial's content octets are: the value without
 * leading zero octets, with one 00 in front when the top bit is set. */
static size_t expected_integer(const unsigned char serial[16], unsigned char out[17])
{
    size_t i = 0, n = 0;
    while (i < 15 && serial[i] == 0)
        i++;
    if (serial[i] & 0x80)
        out[n++] = 0x00;
    memcpy(out + n, serial + i, 16 - i);
    return n + 16 - i;
}

/* First bytes of each serial tried; the rest is a fixed pattern. */
static const unsigned char cases[][3] = {
    {0x00, 0x7f, 0xff}, /* the 1-in-512 case 3.6 got wrong: 00 7f is not minimal */
    {0x00, 0x00, 0x80}, /* two leading zeros before a high bit: one 00 stays */
    {0x00, 0x00, 0x01}, /* two leading zeros before a low byte: none stays */
    {0x00, 0x80, 0x00}, /* 00 80: already minimal, must be kept as is */
    {0x80, 0x00, 0x00}, /* high bit: a 00 goes in front (17 octets) */
    {0xff, 0xff, 0xff}, {0x7f, 0xff, 0xff}, /* no change at all */
    {0x01, 0x00, 0x00},
};

static void fill_serial(const unsigned char head[3], unsigned char serial[16])
{
    memcpy(serial, head, 3);
    for (size_t i = 3; i < 16; i++)
        serial[i] = (unsigned char)(0x11 * i);
}

static void test_serial_is_a_minimal_positive_der_integer(void **state)
{
    struct signer *s = *state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        unsigned char serial[16], want[17];
        fill_serial(cases[c], serial);
        size_t want_len = expected_integer(serial, want);
        unsigned char *der;
        size_t der_len, len;
        const unsigned char *v;
        sign_with_serial(s, serial, &der, &der_len);
        serial_integer(der, der_len, &v, &len);
        print_message("serial %02x %02x %02x...: INTEGER of %zu octets\n", serial[0], serial[1],
                      serial[2], len);
        assert_minimal_positive(v, len);
        assert_int_equal(len, want_len);
        assert_memory_equal(v, want, want_len);
        free(der);
    }
}

/* Only the last octet is non-zero: the smallest serial minica can draw. */
static void test_serial_of_one_is_one_octet(void **state)
{
    struct signer *s = *state;
    unsigned char serial[16] = {0};
    serial[15] = 0x01;
    unsigned char *der;
    size_t der_len, len;
    const unsigned char *v;
    sign_with_serial(s, serial, &der, &der_len);
    serial_integer(der, der_len, &v, &len);
    assert_int_equal(len, 1);
    assert_int_equal(v[0], 0x01);
    free(der);
}

/* The reader that refused them in the field: OpenSSL must parse each of the
 * certificates and print the same serial back. */
static void test_openssl_reads_every_serial(void **state)
{
    struct signer *s = *state;
    char path[4200], cmd[8600], line[128];
    snprintf(path, sizeof(path), "%s/c.der", s->dir);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        unsigned char serial[16];
        fill_serial(cases[c], serial);
        unsigned char *der;
        size_t der_len;
        sign_with_serial(s, serial, &der, &der_len);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(der, 1, der_len, f), der_len);
        assert_int_equal(fclose(f), 0);
        free(der);

        snprintf(cmd, sizeof(cmd), "openssl x509 -inform DER -in '%s' -noout -serial 2>&1", path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        if (fgets(line, sizeof(line), p) == NULL)
            line[0] = '\0';
        int status = pclose(p);
        print_message("serial %02x %02x %02x...: openssl: %s", serial[0], serial[1], serial[2],
                      line);
        assert_int_equal(status, 0);
        /* "serial=7FFF..."; OpenSSL prints the value without leading zeros
         * but in whole octets, as minica_serial_to_hex does. */
        char want[48];
        minica_serial_to_hex(serial, 16, want, sizeof(want));
        char *got = strchr(line, '=');
        assert_non_null(got);
        got++;
        got[strcspn(got, "\n")] = '\0';
        assert_int_equal(strcasecmp(got, want), 0);
    }
}

/* Names in messages are the UTF-8 they hold; what is not text is escaped
 * (mbedtls_x509_dn_gets printed '?' for every non-ASCII byte). */
static void test_dn_to_text_keeps_utf8_and_escapes_the_rest(void **state)
{
    (void)state;
    static const unsigned char cn_oid[] = {0x55, 0x04, 0x03}, o_oid[] = {0x55, 0x04, 0x0a};
    mbedtls_x509_name o = {0}, cn = {0};
    cn.oid.p = (unsigned char *)cn_oid, cn.oid.len = sizeof(cn_oid);
    cn.val.p = (unsigned char *)"E-Tu\xc4\x9fra", cn.val.len = 8;
    cn.next = &o;
    o.oid.p = (unsigned char *)o_oid, o.oid.len = sizeof(o_oid);
    o.val.p = (unsigned char *)"a\x01\xff\\b", o.val.len = 5;
    char out[128];
    minica_dn_to_text(&cn, out, sizeof(out));
    assert_string_equal(out, "CN=E-Tu\xc4\x9fra, O=a\\x01\\xff\\x5cb");
    char tiny[8];
    minica_dn_to_text(&cn, tiny, sizeof(tiny)); /* cut, never overrun */
    assert_true(strlen(tiny) < sizeof(tiny));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dn_to_text_keeps_utf8_and_escapes_the_rest),
        cmocka_unit_test(test_serial_is_a_minimal_positive_der_integer),
        cmocka_unit_test(test_serial_of_one_is_one_octet),
        cmocka_unit_test(test_openssl_reads_every_serial),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
