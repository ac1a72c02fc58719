/* Strict base64url (base/b64url.h): RFC 4648 section 10 vectors in the URL
 * alphabet without padding, and every second spelling refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/b64url.h"
#include "minica/error.h"

static const struct {
    const char *plain, *enc;
} vectors[] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static void test_b64url_rfc4648_vectors_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char enc[16];
        size_t n = strlen(vectors[i].plain);
        assert_int_equal(minica_b64url_encoded_len(n), strlen(vectors[i].enc));
        assert_int_equal(
            minica_b64url_encode((const unsigned char *)vectors[i].plain, n, enc, sizeof(enc)), 0);
        assert_string_equal(enc, vectors[i].enc);
        unsigned char dec[16];
        size_t dlen = 99;
        assert_int_equal(minica_b64url_decode(enc, strlen(enc), dec, sizeof(dec), &dlen), 0);
        assert_int_equal(dlen, n);
        assert_memory_equal(dec, vectors[i].plain, n);
    }
}

static void test_b64url_uses_the_url_alphabet(void **state)
{
    (void)state;
    const unsigned char in[] = {0xfb, 0xff, 0xbf};
    char enc[8];
    assert_int_equal(minica_b64url_encode(in, 3, enc, sizeof(enc)), 0);
    assert_string_equal(enc, "-_-_");
    unsigned char dec[3];
    size_t dlen;
    assert_int_equal(minica_b64url_decode("-_-_", 4, dec, sizeof(dec), &dlen), 0);
    assert_memory_equal(dec, in, 3);
}

static void test_b64url_decode_refuses_other_spellings(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zg==",                    /* padding */
        "Zm9v+/", "+w",     "/w",  /* the standard alphabet */
        "Zm9 v",  "Zm9v\n", " Zg", /* whitespace */
        "Z",      "Zm9vY",         /* 1 mod 4: no octets end there */
    };
    unsigned char out[16];
    size_t n;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(minica_b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n),
                         MINICA_EINVAL);
    /* Nonzero unused bits: "Zg" is "f"; "Zh" is the same octet spelled twice. */
    assert_int_equal(minica_b64url_decode("Zh", 2, out, sizeof(out), &n), MINICA_EINVAL);
    assert_int_equal(minica_b64url_decode("Zm9", 3, out, sizeof(out), &n), MINICA_EINVAL);
    assert_int_equal(minica_b64url_decode("Zm8", 3, out, sizeof(out), &n), 0);
    /* An embedded NUL is a character outside the alphabet, not an end. */
    assert_int_equal(minica_b64url_decode("Zm\0v", 4, out, sizeof(out), &n), MINICA_EINVAL);
    /* Non-ASCII bytes. */
    assert_int_equal(minica_b64url_decode("Zm\xc3\xa9", 4, out, sizeof(out), &n), MINICA_EINVAL);
}

static void test_b64url_refuses_small_buffers(void **state)
{
    (void)state;
    char enc[4];
    assert_int_equal(minica_b64url_encode((const unsigned char *)"foo", 3, enc, sizeof(enc)),
                     MINICA_EINVAL);
    unsigned char dec[2];
    size_t n;
    assert_int_equal(minica_b64url_decode("Zm9v", 4, dec, sizeof(dec), &n), MINICA_EINVAL);
    assert_int_equal(minica_b64url_decoded_max(4), 3);
    assert_int_equal(minica_b64url_decoded_max(3), 2);
    assert_int_equal(minica_b64url_decoded_max(2), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_rfc4648_vectors_round_trip),
        cmocka_unit_test(test_b64url_uses_the_url_alphabet),
        cmocka_unit_test(test_b64url_decode_refuses_other_spellings),
        cmocka_unit_test(test_b64url_refuses_small_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
