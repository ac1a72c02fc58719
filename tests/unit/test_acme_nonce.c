/* ACME nonces (serve/acme_nonce.c): made under a key, good until their
 * expiry, refused when altered, made under another key, or expired. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/b64url.h"
#include "serve/acme_nonce.h"

static const unsigned char key[MINICA_ACME_NONCE_KEY_LEN] = {1, 2, 3};
static const unsigned char other_key[MINICA_ACME_NONCE_KEY_LEN] = {9};
#define NOW 1800000000LL

static void test_nonce_is_good_until_its_expiry(void **state)
{
    (void)state;
    struct minica_err err;
    char a[MINICA_ACME_NONCE_TEXT_MAX], b[MINICA_ACME_NONCE_TEXT_MAX];
    assert_int_equal(minica_acme_nonce_make(key, NOW + 60, a, sizeof(a), &err), 0);
    assert_int_equal(minica_acme_nonce_make(key, NOW + 60, b, sizeof(b), &err), 0);
    assert_int_equal(strlen(a), MINICA_ACME_NONCE_TEXT_MAX - 1);
    assert_string_not_equal(a, b);
    int64_t expires = 0;
    assert_int_equal(minica_acme_nonce_check(key, a, NOW, &expires, &err), 0);
    assert_int_equal(expires, NOW + 60);
    assert_int_equal(minica_acme_nonce_check(key, a, NOW + 59, &expires, &err), 0);
    /* expires_at is the first second it is no longer good. */
    assert_int_equal(minica_acme_nonce_check(key, a, NOW + 60, &expires, &err), MINICA_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "expired"));
}

static void test_nonce_refused_when_not_ours(void **state)
{
    (void)state;
    struct minica_err err;
    char n[MINICA_ACME_NONCE_TEXT_MAX];
    int64_t expires;
    assert_int_equal(minica_acme_nonce_make(key, NOW + 60, n, sizeof(n), &err), 0);
    assert_int_equal(minica_acme_nonce_check(other_key, n, NOW, &expires, &err), MINICA_EFORBIDDEN);
    /* Every character altered in turn: the MAC or the encoding refuses it. */
    for (size_t i = 0; i < strlen(n); i++) {
        char bad[MINICA_ACME_NONCE_TEXT_MAX];
        memcpy(bad, n, sizeof(bad));
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        assert_int_equal(minica_acme_nonce_check(key, bad, NOW, &expires, &err), MINICA_EFORBIDDEN);
    }
    /* A later expiry spliced in does not verify. */
    unsigned char raw[64];
    size_t len;
    assert_int_equal(minica_b64url_decode(n, strlen(n), raw, sizeof(raw), &len), 0);
    raw[0] ^= 0x01;
    char spliced[MINICA_ACME_NONCE_TEXT_MAX];
    assert_int_equal(minica_b64url_encode(raw, len, spliced, sizeof(spliced)), 0);
    assert_int_equal(minica_acme_nonce_check(key, spliced, NOW, &expires, &err), MINICA_EFORBIDDEN);
    static const char *const junk[] = {"", "AAAA", "not base64!", "AAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        assert_int_equal(minica_acme_nonce_check(key, junk[i], NOW, &expires, &err),
                         MINICA_EFORBIDDEN);
}

static void test_nonce_needs_room(void **state)
{
    (void)state;
    struct minica_err err;
    char small[MINICA_ACME_NONCE_TEXT_MAX - 1];
    assert_int_equal(minica_acme_nonce_make(key, NOW + 60, small, sizeof(small), &err),
                     MINICA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonce_is_good_until_its_expiry),
        cmocka_unit_test(test_nonce_refused_when_not_ours),
        cmocka_unit_test(test_nonce_needs_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
