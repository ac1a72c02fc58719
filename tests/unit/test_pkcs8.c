/* Unit tests for pkcs8.c: encrypted PKCS#8 (PBES2, PBKDF2-HMAC-SHA256,
 * AES-256-CBC) written and read back for each key type; wrong passphrases,
 * changed ciphertext and padding, truncated DER and the schemes minica
 * refuses by name. OpenSSL reads and writes these in
 * tests/integration/test_encrypted_keys.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mbedtls/pem.h>

#include "base/util.h"
#include "ca/pkcs8.h"
#include "ca/x509.h"
#include "minica/fsutil.h"

static const unsigned char PASS[] = "correct horse battery staple";
#define PASS_LEN (sizeof(PASS) - 1)
/* Fast for the tests; the default has its own test. */
#define FAST MINICA_PKCS8_ITERATIONS_MIN

static struct minica_rng rng;

static int setup(void **state)
{
    struct minica_err err;
    assert_int_equal(minica_rng_init(&rng, &err), 0);
    return 0;
}

static int teardown(void **state)
{
    minica_rng_free(&rng);
    return 0;
}

static int same_private(mbedtls_pk_context *a, mbedtls_pk_context *b)
{
    unsigned char da[8192], db[8192];
    int la = mbedtls_pk_write_key_der(a, da, sizeof(da));
    int lb = mbedtls_pk_write_key_der(b, db, sizeof(db));
    return la > 0 && la == lb &&
           memcmp(da + sizeof(da) - la, db + sizeof(db) - lb, (size_t)la) == 0;
}

static void round_trip(enum minica_key_type type, unsigned iterations)
{
    struct minica_err err;
    mbedtls_pk_context key, back;
    mbedtls_pk_init(&key);
    mbedtls_pk_init(&back);
    assert_int_equal(minica_key_generate(&key, type, &rng, &err), 0);
    char *pem = NULL;
    size_t len = 0;
    assert_int_equal(
        minica_pkcs8_encrypt_pem(&key, PASS, PASS_LEN, iterations, &rng, &pem, &len, &err), 0);
    assert_int_equal(strlen(pem), len);
    assert_non_null(strstr(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    assert_true(minica_pkcs8_is_encrypted(pem));
    assert_int_equal(minica_pkcs8_decrypt_pem(pem, PASS, PASS_LEN, &back, &rng, &err), 0);
    assert_true(same_private(&key, &back));
    assert_true(minica_pk_same_public(&key, &back));
    /* Fresh salt and IV each time. */
    char *again = NULL;
    assert_int_equal(
        minica_pkcs8_encrypt_pem(&key, PASS, PASS_LEN, iterations, &rng, &again, NULL, &err), 0);
    assert_string_not_equal(pem, again);
    free(again);
    free(pem);
    mbedtls_pk_free(&key);
    mbedtls_pk_free(&back);
}

static void test_pkcs8_round_trip_ec_p256(void **state)
{
    round_trip(MINICA_KEY_EC_P256, FAST);
}
static void test_pkcs8_round_trip_ec_p384(void **state)
{
    round_trip(MINICA_KEY_EC_P384, FAST);
}
static void test_pkcs8_round_trip_rsa_2048(void **state)
{
    round_trip(MINICA_KEY_RSA_2048, FAST);
}
static void test_pkcs8_round_trip_default_iterations(void **state)
{
    round_trip(MINICA_KEY_EC_P256, 0);
}

/* An encrypted P-256 key's DER, for the tests that break it. */
static unsigned char *make_der(size_t *len)
{
    struct minica_err err;
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    assert_int_equal(minica_key_generate(&key, MINICA_KEY_EC_P256, &rng, &err), 0);
    char *pem = NULL;
    assert_int_equal(minica_pkcs8_encrypt_pem(&key, PASS, PASS_LEN, FAST, &rng, &pem, NULL, &err),
                     0);
    mbedtls_pem_context ctx;
    mbedtls_pem_init(&ctx);
    size_t used = 0;
    assert_int_equal(mbedtls_pem_read_buffer(&ctx, "-----BEGIN ENCRYPTED PRIVATE KEY-----",
                                             "-----END ENCRYPTED PRIVATE KEY-----",
                                             (unsigned char *)pem, NULL, 0, &used),
                     0);
    const unsigned char *der = minica_compat_pem_der(&ctx, len);
    unsigned char *copy = malloc(*len);
    assert_non_null(copy);
    memcpy(copy, der, *len);
    mbedtls_pem_free(&ctx);
    free(pem);
    mbedtls_pk_free(&key);
    return copy;
}

static int decrypt(const unsigned char *der, size_t len, const unsigned char *pass, size_t pass_len,
                   struct minica_err *err)
{
    unsigned char *pki = NULL;
    size_t pki_len = 0;
    int ret = minica_pkcs8_decrypt_der(der, len, pass, pass_len, &pki, &pki_len, err);
    if (ret == 0) {
        assert_non_null(pki);
        minica_free_secret(pki, pki_len);
    } else {
        assert_null(pki);
    }
    return ret;
}

static void test_pkcs8_wrong_passphrase_refused(void **state)
{
    struct minica_err err;
    size_t len = 0;
    unsigned char *der = make_der(&len);
    assert_int_equal(decrypt(der, len, PASS, PASS_LEN, &err), 0);
    static const unsigned char wrong[] = "correct horse battery stapl3";
    assert_int_equal(decrypt(der, len, wrong, sizeof(wrong) - 1, &err), MINICA_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "wrong passphrase"));
    assert_int_equal(decrypt(der, len, PASS, PASS_LEN - 1, &err), MINICA_EFORBIDDEN);
    /* and through the PEM reader, which also parses what it decrypted */
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    char *pem = NULL;
    assert_int_equal(minica_der_to_pem(der, len, "ENCRYPTED PRIVATE KEY", &pem, &err), 0);
    for (int i = 0; i < 20; i++) {
        unsigned char guess[8];
        memcpy(guess, "guess-00", 8);
        guess[6] = (unsigned char)('0' + i / 10);
        guess[7] = (unsigned char)('0' + i % 10);
        assert_int_equal(minica_pkcs8_decrypt_pem(pem, guess, sizeof(guess), &pk, &rng, &err),
                         MINICA_EFORBIDDEN);
        assert_int_equal(mbedtls_pk_get_type(&pk), MBEDTLS_PK_NONE);
    }
    free(pem);
    free(der);
}

/* The OCTET STRING of ciphertext is the last TLV: its bytes are the end. */
/* Through the PEM reader, which also parses what it decrypted. */
static int decrypt_pem_of(const unsigned char *der, size_t len, struct minica_err *err)
{
    char *pem = NULL;
    assert_int_equal(minica_der_to_pem(der, len, "ENCRYPTED PRIVATE KEY", &pem, err), 0);
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    int ret = minica_pkcs8_decrypt_pem(pem, PASS, PASS_LEN, &pk, &rng, err);
    mbedtls_pk_free(&pk);
    free(pem);
    return ret;
}

static void test_pkcs8_tampered_ciphertext_refused(void **state)
{
    struct minica_err err;
    size_t len = 0;
    unsigned char *der = make_der(&len);
    /* The last block's byte: that block decrypts to noise. */
    der[len - 1] ^= 0x01;
    assert_int_equal(decrypt_pem_of(der, len, &err), MINICA_EFORBIDDEN);
    der[len - 1] ^= 0x01;
    /* The block before it, last byte: CBC flips the pad byte itself. */
    der[len - 17] ^= 0x05;
    assert_int_equal(decrypt(der, len, PASS, PASS_LEN, &err), MINICA_EFORBIDDEN);
    der[len - 17] ^= 0x05;
    assert_int_equal(decrypt(der, len, PASS, PASS_LEN, &err), 0);
    free(der);
}

static void test_pkcs8_tampered_start_of_plaintext_refused(void **state)
{
    /* The IV's first byte flips the PrivateKeyInfo's SEQUENCE tag, which
     * the PEM reader's key parser then refuses, as a wrong passphrase. */
    struct minica_err err;
    size_t len = 0;
    unsigned char *der = make_der(&len);
    char *pem = NULL;
    /* Find the 16-byte IV: the OCTET STRING (04 10) right after the AES OID. */
    static const unsigned char aes[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a};
    unsigned char *p = NULL;
    for (size_t i = 0; i + sizeof(aes) + 2 < len; i++)
        if (memcmp(der + i, aes, sizeof(aes)) == 0)
            p = der + i + sizeof(aes);
    assert_non_null(p);
    assert_int_equal(p[0], 0x04);
    assert_int_equal(p[1], 0x10);
    p[2] ^= 0x01;
    assert_int_equal(minica_der_to_pem(der, len, "ENCRYPTED PRIVATE KEY", &pem, &err), 0);
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    assert_int_equal(minica_pkcs8_decrypt_pem(pem, PASS, PASS_LEN, &pk, &rng, &err),
                     MINICA_EFORBIDDEN);
    mbedtls_pk_free(&pk);
    free(pem);
    free(der);
}

static void test_pkcs8_truncated_der_refused(void **state)
{
    struct minica_err err;
    size_t len = 0;
    unsigned char *der = make_der(&len);
    for (size_t n = 0; n < len; n++) {
        unsigned char *cut = malloc(n ? n : 1);
        assert_non_null(cut);
        memcpy(cut, der, n);
        assert_int_equal(decrypt(cut, n, PASS, PASS_LEN, &err), MINICA_EINVAL);
        free(cut);
    }
    /* and one byte too many */
    unsigned char *more = malloc(len + 1);
    memcpy(more, der, len);
    more[len] = 0;
    assert_int_equal(decrypt(more, len + 1, PASS, PASS_LEN, &err), MINICA_EINVAL);
    free(more);
    free(der);
}

/* A tiny forward DER writer for the hand-made files below. */
struct buf {
    unsigned char b[512];
    size_t n;
};
static void put(struct buf *o, const void *p, size_t n)
{
    assert_true(o->n + n <= sizeof(o->b));
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void tlv(struct buf *o, unsigned char tag, const struct buf *content)
{
    unsigned char h[3] = {tag, 0, 0};
    if (content->n < 128) {
        h[1] = (unsigned char)content->n;
        put(o, h, 2);
    } else {
        assert_true(content->n < 256);
        h[1] = 0x81;
        h[2] = (unsigned char)content->n;
        put(o, h, 3);
    }
    put(o, content->b, content->n);
}
static void raw_tlv(struct buf *o, unsigned char tag, const void *p, size_t n)
{
    struct buf c = {.n = 0};
    put(&c, p, n);
    tlv(o, tag, &c);
}

static const unsigned char OID_PBES2[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d};
static const unsigned char OID_PBKDF2[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c};
static const unsigned char OID_SHA256[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09};
static const unsigned char OID_AES256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a};
static const unsigned char OID_3DES[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x07};
static const unsigned char OID_SCRYPT[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x04, 0x0b};
static const unsigned char OID_PBE_SHA1_DES[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                 0x0d, 0x01, 0x05, 0x0a};

struct scheme {
    const unsigned char *kdf;
    size_t kdf_len;
    const unsigned char *cipher;
    size_t cipher_len;
    int with_prf;
    unsigned iterations;
};

/* EncryptedPrivateKeyInfo { PBES2 { kdf, cipher }, 32 bytes of "ciphertext" }. */
static size_t build(const struct scheme *s, unsigned char *out)
{
    struct buf salt = {.n = 0}, kdfp = {.n = 0}, kdf = {.n = 0}, enc = {.n = 0}, pbes2p = {.n = 0},
               alg = {.n = 0}, all = {.n = 0}, top = {.n = 0}, prf = {.n = 0};
    unsigned char sv[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    put(&salt, sv, 16);
    tlv(&kdfp, 0x04, &salt);
    unsigned char it[4] = {0, (unsigned char)(s->iterations >> 16),
                           (unsigned char)(s->iterations >> 8), (unsigned char)s->iterations};
    raw_tlv(&kdfp, 0x02, it, sizeof(it));
    if (s->with_prf) {
        raw_tlv(&prf, 0x06, OID_SHA256, sizeof(OID_SHA256));
        raw_tlv(&prf, 0x05, "", 0);
        tlv(&kdfp, 0x30, &prf);
    }
    raw_tlv(&kdf, 0x06, s->kdf, s->kdf_len);
    tlv(&kdf, 0x30, &kdfp);
    raw_tlv(&enc, 0x06, s->cipher, s->cipher_len);
    raw_tlv(&enc, 0x04, sv, 16);
    tlv(&pbes2p, 0x30, &kdf);
    tlv(&pbes2p, 0x30, &enc);
    raw_tlv(&alg, 0x06, OID_PBES2, sizeof(OID_PBES2));
    tlv(&alg, 0x30, &pbes2p);
    tlv(&all, 0x30, &alg);
    unsigned char ct[32] = {0};
    raw_tlv(&all, 0x04, ct, sizeof(ct));
    tlv(&top, 0x30, &all);
    memcpy(out, top.b, top.n);
    return top.n;
}

static void expect_refusal(const unsigned char *der, size_t len, const char *name)
{
    struct minica_err err;
    assert_int_equal(decrypt(der, len, PASS, PASS_LEN, &err), MINICA_EINVAL);
    if (strstr(err.msg, name) == NULL)
        fail_msg("'%s' does not name %s", err.msg, name);
    if (strstr(err.msg, "openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256") == NULL)
        fail_msg("'%s' does not say how to re-encrypt", err.msg);
}

static void test_pkcs8_hand_built_aes_scheme_parses(void **state)
{
    /* The builder is right: the good scheme gets as far as the padding. */
    unsigned char der[512];
    struct scheme s = {OID_PBKDF2, sizeof(OID_PBKDF2), OID_AES256, sizeof(OID_AES256), 1, 2048};
    size_t len = build(&s, der);
    struct minica_err err;
    assert_int_equal(decrypt(der, len, PASS, PASS_LEN, &err), MINICA_EFORBIDDEN);
}

static void test_pkcs8_des_ede3_cbc_refused_by_name(void **state)
{
    unsigned char der[512];
    struct scheme s = {OID_PBKDF2, sizeof(OID_PBKDF2), OID_3DES, sizeof(OID_3DES), 1, 2048};
    expect_refusal(der, build(&s, der), "des-ede3-cbc");
}

static void test_pkcs8_scrypt_refused_by_name(void **state)
{
    unsigned char der[512];
    struct scheme s = {OID_SCRYPT, sizeof(OID_SCRYPT), OID_AES256, sizeof(OID_AES256), 1, 2048};
    expect_refusal(der, build(&s, der), "scrypt");
}

static void test_pkcs8_hmac_sha1_default_prf_refused(void **state)
{
    unsigned char der[512];
    struct scheme s = {OID_PBKDF2, sizeof(OID_PBKDF2), OID_AES256, sizeof(OID_AES256), 0, 2048};
    expect_refusal(der, build(&s, der), "hmacWithSHA1");
}

static void test_pkcs8_pbes1_refused_by_name(void **state)
{
    /* { { pbeWithSHA1AndDES-CBC, { salt(8), iterations } }, ciphertext } */
    struct buf params = {.n = 0}, alg = {.n = 0}, all = {.n = 0}, top = {.n = 0};
    unsigned char salt[8] = {1, 2, 3, 4, 5, 6, 7, 8}, it[2] = {0x08, 0x00}, ct[16] = {0};
    raw_tlv(&params, 0x04, salt, sizeof(salt));
    raw_tlv(&params, 0x02, it, sizeof(it));
    raw_tlv(&alg, 0x06, OID_PBE_SHA1_DES, sizeof(OID_PBE_SHA1_DES));
    tlv(&alg, 0x30, &params);
    tlv(&all, 0x30, &alg);
    raw_tlv(&all, 0x04, ct, sizeof(ct));
    tlv(&top, 0x30, &all);
    expect_refusal(top.b, top.n, "PBES1");
}

static void test_pkcs8_iteration_counts_bounded(void **state)
{
    unsigned char der[512];
    struct minica_err err;
    struct scheme s = {OID_PBKDF2, sizeof(OID_PBKDF2), OID_AES256, sizeof(OID_AES256), 1, 1};
    assert_int_equal(decrypt(der, build(&s, der), PASS, PASS_LEN, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "iteration count 1 "));
    s.iterations = 0xffffff; /* 16.7 million: minutes per load */
    assert_int_equal(decrypt(der, build(&s, der), PASS, PASS_LEN, &err), MINICA_EINVAL);
}

static void test_pkcs8_legacy_pem_encryption_refused(void **state)
{
    static const char pem[] = "-----BEGIN EC PRIVATE KEY-----\n"
                              "Proc-Type: 4,ENCRYPTED\n"
                              "DEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n"
                              "\n"
                              "AAAA\n"
                              "-----END EC PRIVATE KEY-----\n";
    struct minica_err err;
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    assert_true(minica_pkcs8_is_encrypted(pem));
    assert_int_equal(minica_pkcs8_decrypt_pem(pem, PASS, PASS_LEN, &pk, &rng, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "legacy PEM encryption"));
    assert_non_null(strstr(err.msg, "openssl pkcs8 -topk8"));
    assert_false(minica_pkcs8_is_encrypted("-----BEGIN PRIVATE KEY-----\nAAAA\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pkcs8_round_trip_ec_p256),
        cmocka_unit_test(test_pkcs8_round_trip_ec_p384),
        cmocka_unit_test(test_pkcs8_round_trip_rsa_2048),
        cmocka_unit_test(test_pkcs8_round_trip_default_iterations),
        cmocka_unit_test(test_pkcs8_wrong_passphrase_refused),
        cmocka_unit_test(test_pkcs8_tampered_ciphertext_refused),
        cmocka_unit_test(test_pkcs8_tampered_start_of_plaintext_refused),
        cmocka_unit_test(test_pkcs8_truncated_der_refused),
        cmocka_unit_test(test_pkcs8_hand_built_aes_scheme_parses),
        cmocka_unit_test(test_pkcs8_des_ede3_cbc_refused_by_name),
        cmocka_unit_test(test_pkcs8_scrypt_refused_by_name),
        cmocka_unit_test(test_pkcs8_hmac_sha1_default_prf_refused),
        cmocka_unit_test(test_pkcs8_pbes1_refused_by_name),
        cmocka_unit_test(test_pkcs8_iteration_counts_bounded),
        cmocka_unit_test(test_pkcs8_legacy_pem_encryption_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
