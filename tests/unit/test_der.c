/* Unit tests for the DER extension encoders (subjectAltName, basicConstraints,
 * keyUsage, extendedKeyUsage) against hand-checked bytes, the subjectAltName
 * decoder, and the signed-object helpers. Not for whole certificates
 * (test_issue) nor nameConstraints (test_constraints). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "minica/der.h"
#include "minica/error.h"
#include "minica/names.h"

static void assert_der(const unsigned char *got, size_t got_len, const unsigned char *want,
                       size_t want_len)
{
    if (got_len != want_len || memcmp(got, want, want_len) != 0) {
        print_error("DER mismatch (got %zu bytes, want %zu):\n got ", got_len, want_len);
        for (size_t i = 0; i < got_len; i++)
            print_error("%02x", got[i]);
        print_error("\nwant ");
        for (size_t i = 0; i < want_len; i++)
            print_error("%02x", want[i]);
        print_error("\n");
    }
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
}

static void name(const char *text, struct minica_name *out)
{
    struct minica_err err;
    assert_int_equal(minica_name_parse(text, out, &err), 0);
}

/* SEQUENCE OF GeneralName, in the order given:
 *   82 09 "a.example"          dNSName [2] IMPLICIT IA5String, 9 bytes
 *   87 04 0a 00 02 58          iPAddress [7] IMPLICIT OCTET STRING, 10.0.2.88
 *   87 10 00..00 01            iPAddress, 16 bytes, ::1
 * content = 11 + 6 + 18 = 35 = 0x23 -> 30 23. */
static const unsigned char san_expected[] = {
    0x30, 0x23, 0x82, 0x09, 'a',  '.',  'e',  'x',  'a',  'm',  'p',  'l',  'e',
    0x87, 0x04, 0x0a, 0x00, 0x02, 0x58, 0x87, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};

static void test_der_san_matches_known_bytes(void **state)
{
    (void)state;
    struct minica_name names[3];
    name("a.example", &names[0]);
    name("10.0.2.88", &names[1]);
    name("::1", &names[2]);
    unsigned char buf[512], *der;
    size_t len;
    struct minica_err err;
    assert_int_equal(minica_der_san(names, 3, buf, sizeof(buf), &der, &len, &err), 0);
    assert_der(der, len, san_expected, sizeof(san_expected));
}

static void test_der_san_refuses_empty_and_small_buffer(void **state)
{
    (void)state;
    struct minica_name names[1];
    name("a.example", &names[0]);
    unsigned char buf[8], *der;
    size_t len;
    struct minica_err err;
    assert_int_equal(minica_der_san(names, 0, buf, sizeof(buf), &der, &len, &err), MINICA_EINVAL);
    assert_int_equal(minica_der_san(names, 1, buf, sizeof(buf), &der, &len, &err), MINICA_EINVAL);
}

/* CA:FALSE is basicConstraints' DEFAULT, so DER omits it: an empty SEQUENCE, 30 00. */
static void test_der_basic_constraints_leaf_is_empty_sequence(void **state)
{
    (void)state;
    static const unsigned char want[] = {0x30, 0x00};
    unsigned char buf[64], *der;
    size_t len;
    struct minica_err err;
    assert_int_equal(minica_der_basic_constraints(0, -1, buf, sizeof(buf), &der, &len, &err), 0);
    assert_der(der, len, want, sizeof(want));
    /* A pathlen makes no sense without CA:TRUE and must not be written. */
    assert_int_equal(minica_der_basic_constraints(0, 3, buf, sizeof(buf), &der, &len, &err), 0);
    assert_der(der, len, want, sizeof(want));
}

/* SEQUENCE { BOOLEAN TRUE (01 01 ff), INTEGER 0 (02 01 00) } = 30 06 ... */
static void test_der_basic_constraints_ca_pathlen_zero(void **state)
{
    (void)state;
    static const unsigned char want[] = {0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00};
    unsigned char buf[64], *der;
    size_t len;
    struct minica_err err;
    assert_int_equal(minica_der_basic_constraints(1, 0, buf, sizeof(buf), &der, &len, &err), 0);
    assert_der(der, len, want, sizeof(want));
}

/* The root: CA:TRUE without pathLenConstraint, 30 03 01 01 ff. */
static void test_der_basic_constraints_ca_without_pathlen(void **state)
{
    (void)state;
    static const unsigned char want[] = {0x30, 0x03, 0x01, 0x01, 0xff};
    unsigned char buf[64], *der;
    size_t len;
    struct minica_err err;
    assert_int_equal(minica_der_basic_constraints(1, -1, buf, sizeof(buf), &der, &len, &err), 0);
    assert_der(der, len, want, sizeof(want));
}

/* keyUsage is a named BIT STRING: DER drops trailing zero bits (X.690 11.2.2),
 * so the unused-bits octet counts them.
 *   digitalSignature (bit 0)                  -> 03 02 07 80
 *   digitalSignature + keyEncipherment (0, 2) -> 03 02 05 a0
 *   keyCertSign + cRLSign (5, 6)              -> 03 02 01 06 */
static void test_der_key_usage_matches_known_bytes(void **state)
{
    (void)state;
    static const unsigned char ds[] = {0x03, 0x02, 0x07, 0x80};
    static const unsigned char ds_ke[] = {0x03, 0x02, 0x05, 0xa0};
    static const unsigned char ca[] = {0x03, 0x02, 0x01, 0x06};
    unsigned char buf[64], *der;
    size_t len;
    struct minica_err err;
    assert_int_equal(
        minica_der_key_usage(MINICA_KU_DIGITAL_SIGNATURE, buf, sizeof(buf), &der, &len, &err), 0);
    assert_der(der, len, ds, sizeof(ds));
    assert_int_equal(minica_der_key_usage(MINICA_KU_DIGITAL_SIGNATURE | MINICA_KU_KEY_ENCIPHERMENT,
                                          buf, sizeof(buf), &der, &len, &err),
                     0);
    assert_der(der, len, ds_ke, sizeof(ds_ke));
    assert_int_equal(minica_der_key_usage(MINICA_KU_KEY_CERT_SIGN | MINICA_KU_CRL_SIGN, buf,
                                          sizeof(buf), &der, &len, &err),
                     0);
    assert_der(der, len, ca, sizeof(ca));
}

/* SEQUENCE OF KeyPurposeId; id-kp-serverAuth = 1.3.6.1.5.5.7.3.1 = 06 08 2b 06 01 05 05 07 03 01,
 * clientAuth ends in 02. Order: serverAuth first. */
#define OID_KP(n) 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, (n)

static void test_der_ext_key_usage_matches_known_bytes(void **state)
{
    (void)state;
    static const unsigned char server[] = {0x30, 0x0a, OID_KP(1)};
    static const unsigned char client[] = {0x30, 0x0a, OID_KP(2)};
    static const unsigned char both[] = {0x30, 0x14, OID_KP(1), OID_KP(2)};
    unsigned char buf[64], *der;
    size_t len;
    struct minica_err err;
    assert_int_equal(minica_der_ext_key_usage(1, 0, buf, sizeof(buf), &der, &len, &err), 0);
    assert_der(der, len, server, sizeof(server));
    assert_int_equal(minica_der_ext_key_usage(0, 1, buf, sizeof(buf), &der, &len, &err), 0);
    assert_der(der, len, client, sizeof(client));
    assert_int_equal(minica_der_ext_key_usage(1, 1, buf, sizeof(buf), &der, &len, &err), 0);
    assert_der(der, len, both, sizeof(both));
    assert_int_equal(minica_der_ext_key_usage(0, 0, buf, sizeof(buf), &der, &len, &err),
                     MINICA_EINVAL);
}

static void test_der_parse_san_round_trip(void **state)
{
    (void)state;
    char out[256];
    struct minica_err err;
    assert_int_equal(
        minica_der_parse_san(san_expected, sizeof(san_expected), out, sizeof(out), &err), 0);
    assert_string_equal(out, "a.example,10.0.2.88,::1");

    /* Encoder -> decoder with canonicalization (upper case in, lower case out). */
    struct minica_name names[2];
    name("Upstream.Internal.SVC", &names[0]);
    name("2001:db8::5", &names[1]);
    unsigned char buf[512], *der;
    size_t len;
    assert_int_equal(minica_der_san(names, 2, buf, sizeof(buf), &der, &len, &err), 0);
    assert_int_equal(minica_der_parse_san(der, len, out, sizeof(out), &err), 0);
    assert_string_equal(out, "upstream.internal.svc,2001:db8::5");
}

static void assert_san_refused(const unsigned char *der, size_t len)
{
    char out[256];
    struct minica_err err = {{0}};
    assert_int_equal(minica_der_parse_san(der, len, out, sizeof(out), &err), MINICA_EINVAL);
    assert_true(strlen(err.msg) > 0);
}

static void test_der_parse_san_refuses_other_name_types(void **state)
{
    (void)state;
    /* rfc822Name [1] "a@b.c" */
    static const unsigned char email[] = {0x30, 0x07, 0x81, 0x05, 'a', '@', 'b', '.', 'c'};
    /* uniformResourceIdentifier [6] "http:x" */
    static const unsigned char uri[] = {0x30, 0x08, 0x86, 0x06, 'h', 't', 't', 'p', ':', 'x'};
    /* directoryName [4] { SEQUENCE {} } */
    static const unsigned char dirname[] = {0x30, 0x04, 0xa4, 0x02, 0x30, 0x00};
    /* otherName [0] (constructed) with an empty body */
    static const unsigned char other[] = {0x30, 0x02, 0xa0, 0x00};
    /* registeredID [8] 1.2.3 */
    static const unsigned char rid[] = {0x30, 0x04, 0x88, 0x02, 0x2a, 0x03};
    assert_san_refused(email, sizeof(email));
    assert_san_refused(uri, sizeof(uri));
    assert_san_refused(dirname, sizeof(dirname));
    assert_san_refused(other, sizeof(other));
    assert_san_refused(rid, sizeof(rid));
    /* A valid DNS name followed by an email: the whole SAN is refused. */
    static const unsigned char mixed[] = {0x30, 0x0a, 0x82, 0x01, 'a', 0x81,
                                          0x05, 'a',  '@',  'b',  '.', 'c'};
    assert_san_refused(mixed, sizeof(mixed));
}

static void test_der_parse_san_refuses_malformed(void **state)
{
    (void)state;
    /* Length running past the end. */
    static const unsigned char overrun[] = {0x30, 0x05, 0x82, 0x09, 'a', '.', 'b'};
    /* Trailing bytes after the SEQUENCE. */
    static const unsigned char trailing[] = {0x30, 0x03, 0x82, 0x01, 'a', 0x00};
    /* Not a SEQUENCE. */
    static const unsigned char notseq[] = {0x31, 0x03, 0x82, 0x01, 'a'};
    /* An IP of 5 bytes. */
    static const unsigned char badip[] = {0x30, 0x07, 0x87, 0x05, 1, 2, 3, 4, 5};
    /* A DNS name with an embedded NUL, one with a slash, and an empty one. */
    static const unsigned char nul[] = {0x30, 0x05, 0x82, 0x03, 'a', 0x00, 'b'};
    static const unsigned char slash[] = {0x30, 0x05, 0x82, 0x03, 'a', '/', 'b'};
    static const unsigned char empty[] = {0x30, 0x02, 0x82, 0x00};
    /* Truncated inside a GeneralName header. */
    static const unsigned char truncated[] = {0x30, 0x01, 0x82};
    assert_san_refused(overrun, sizeof(overrun));
    assert_san_refused(trailing, sizeof(trailing));
    assert_san_refused(notseq, sizeof(notseq));
    assert_san_refused(badip, sizeof(badip));
    assert_san_refused(nul, sizeof(nul));
    assert_san_refused(slash, sizeof(slash));
    assert_san_refused(empty, sizeof(empty));
    assert_san_refused(truncated, sizeof(truncated));
}

static void test_der_parse_san_refuses_overflowing_output(void **state)
{
    (void)state;
    char out[8];
    struct minica_err err;
    assert_int_equal(
        minica_der_parse_san(san_expected, sizeof(san_expected), out, sizeof(out), &err),
        MINICA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_der_san_matches_known_bytes),
        cmocka_unit_test(test_der_san_refuses_empty_and_small_buffer),
        cmocka_unit_test(test_der_basic_constraints_leaf_is_empty_sequence),
        cmocka_unit_test(test_der_basic_constraints_ca_pathlen_zero),
        cmocka_unit_test(test_der_basic_constraints_ca_without_pathlen),
        cmocka_unit_test(test_der_key_usage_matches_known_bytes),
        cmocka_unit_test(test_der_ext_key_usage_matches_known_bytes),
        cmocka_unit_test(test_der_parse_san_round_trip),
        cmocka_unit_test(test_der_parse_san_refuses_other_name_types),
        cmocka_unit_test(test_der_parse_san_refuses_malformed),
        cmocka_unit_test(test_der_parse_san_refuses_overflowing_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
