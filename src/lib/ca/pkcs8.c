/* PKCS#8 EncryptedPrivateKeyInfo with PBES2 (RFC 8018 6.2, A.2, A.4, B.2.5):
 * PBKDF2-HMAC-SHA256 and AES-256-CBC, by hand, because mbedTLS 2.28's PBES2
 * decrypts only DES and 3DES. The DER is read strictly (every SEQUENCE used
 * to its end, nothing after it); anything but this one scheme is refused by
 * name, with the openssl command that re-encrypts the key. Not here: where
 * the passphrase comes from (passphrase.c), which files (keyfile.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/aes.h>
#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/pem.h>
#include <mbedtls/platform_util.h>

#include "base/compat.h"
#include "ca/pkcs8.h"
#include "minica/fsutil.h"

#define SALT_LEN 16
#define IV_LEN 16
#define KEY_LEN 32

#define REENCRYPT                                                                                  \
    "re-encrypt it with: openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -in KEY "      \
    "-passin file:PASSFILE -passout file:PASSFILE -out KEY.new"

struct oid {
    const char *name;
    size_t len;
    const unsigned char *der;
};
#define OID(name, ...)                                                                             \
    {                                                                                              \
        name, sizeof((const unsigned char[]){__VA_ARGS__}), (const unsigned char[])                \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

/* 1.2.840.113549.1.5.13, .1.5.12, 1.2.840.113549.2.9, 2.16.840.1.101.3.4.1.42 */
static const struct oid oid_pbes2 =
    OID("PBES2", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d);
static const struct oid oid_pbkdf2 =
    OID("PBKDF2", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c);
static const struct oid oid_hmac_sha256 =
    OID("hmacWithSHA256", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09);
static const struct oid oid_aes256_cbc =
    OID("aes-256-cbc", 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a);

/* What else turns up in key files, so that the refusal can name it. */
static const struct oid known[] = {
    /* PBES1 (RFC 8018 6.1) and PKCS#12's PBE (RFC 7292 C) */
    OID("PBES1 pbeWithMD2AndDES-CBC", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x01),
    OID("PBES1 pbeWithMD5AndDES-CBC", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x03),
    OID("PBES1 pbeWithMD2AndRC2-CBC", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x04),
    OID("PBES1 pbeWithMD5AndRC2-CBC", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x06),
    OID("PBES1 pbeWithSHA1AndDES-CBC", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0a),
    OID("PBES1 pbeWithSHA1AndRC2-CBC", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0b),
    OID("PKCS#12 pbeWithSHAAnd128BitRC4", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01,
        0x01),
    OID("PKCS#12 pbeWithSHAAnd40BitRC4", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01,
        0x02),
    OID("PKCS#12 pbeWithSHAAnd3-KeyTripleDES-CBC", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c,
        0x01, 0x03),
    OID("PKCS#12 pbeWithSHAAnd2-KeyTripleDES-CBC", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c,
        0x01, 0x04),
    OID("PKCS#12 pbeWithSHAAnd128BitRC2-CBC", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01,
        0x05),
    OID("PKCS#12 pbeWithSHAAnd40BitRC2-CBC", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01,
        0x06),
    /* key derivation (1.3.6.1.4.1.11591.4.11, RFC 7914) */
    OID("scrypt", 0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x04, 0x0b),
    /* ciphers */
    OID("des-ede3-cbc", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x07),
    OID("des-cbc", 0x2b, 0x0e, 0x03, 0x02, 0x07),
    OID("rc2-cbc", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x02),
    OID("aes-128-cbc", 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02),
    OID("aes-192-cbc", 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16),
    OID("aes-128-gcm", 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x06),
    OID("aes-256-gcm", 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2e),
    /* PBKDF2's PRFs (RFC 8018 B.1) */
    OID("hmacWithSHA1", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07),
    OID("hmacWithSHA224", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x08),
    OID("hmacWithSHA384", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0a),
    OID("hmacWithSHA512", 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0b),
};

static int oid_is(const mbedtls_asn1_buf *buf, const struct oid *o)
{
    return buf->len == o->len && memcmp(buf->p, o->der, o->len) == 0;
}

static const char *oid_name(const mbedtls_asn1_buf *buf)
{
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (oid_is(buf, &known[i]))
            return known[i].name;
    return "an unknown algorithm";
}

static int unsupported(struct minica_err *err, const char *what, const char *name)
{
    return minica_seterr(err, MINICA_EINVAL,
                         "the key is encrypted with %s%s%s; minica reads only PBES2 with "
                         "PBKDF2-HMAC-SHA256 and AES-256-CBC: " REENCRYPT,
                         what, *what ? " " : "", name);
}

static int malformed(struct minica_err *err, const char *what)
{
    return minica_seterr(err, MINICA_EINVAL, "not a valid encrypted private key (%s)", what);
}

int minica_pkcs8_is_encrypted(const char *pem)
{
    return strstr(pem, "-----BEGIN " MINICA_PKCS8_PEM_LABEL "-----") != NULL ||
           strstr(pem, "Proc-Type: 4,ENCRYPTED") != NULL;
}

static int derive(const unsigned char *pass, size_t pass_len, const unsigned char *salt,
                  size_t salt_len, unsigned iterations, unsigned char key[KEY_LEN],
                  struct minica_err *err)
{
    int ret = minica_compat_pbkdf2_sha256(pass, pass_len, salt, salt_len, iterations, key, KEY_LEN);
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "PBKDF2 failed");
    return MINICA_OK;
}

static int aes_cbc(int mode, const unsigned char key[KEY_LEN], const unsigned char iv_in[IV_LEN],
                   const unsigned char *in, size_t len, unsigned char *out, struct minica_err *err)
{
    mbedtls_aes_context aes;
    unsigned char iv[IV_LEN];
    memcpy(iv, iv_in, IV_LEN); /* crypt_cbc updates it */
    mbedtls_aes_init(&aes);
    int ret = mode == MBEDTLS_AES_ENCRYPT ? mbedtls_aes_setkey_enc(&aes, key, KEY_LEN * 8)
                                          : mbedtls_aes_setkey_dec(&aes, key, KEY_LEN * 8);
    if (ret == 0)
        ret = mbedtls_aes_crypt_cbc(&aes, mode, len, iv, in, out);
    mbedtls_aes_free(&aes); /* zeroizes the round keys */
    mbedtls_platform_zeroize(iv, sizeof(iv));
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "AES-256-CBC failed");
    return MINICA_OK;
}

/* 1 when x != 0, without a branch on x. */
static uint32_t ct_nonzero(uint32_t x)
{
    return (x | (0u - x)) >> 31;
}
/* 1 when a <= b, for a and b below 2^31. */
static uint32_t ct_le(uint32_t a, uint32_t b)
{
    return 1u ^ ((b - a) >> 31);
}

/* The plaintext length without its PKCS#7 padding (RFC 8018 6.2.1 step
 * 4), or 0 when the padding is bad. Every one of the last 16 bytes is
 * looked at whatever the pad says, so that the time taken does not tell a
 * padding oracle where it went wrong. len is a non-zero multiple of 16. */
static size_t unpad(const unsigned char *pt, size_t len)
{
    uint32_t pad = pt[len - 1];
    uint32_t bad = (1u ^ ct_nonzero(pad)) | ct_le(IV_LEN + 1, pad);
    for (uint32_t i = 1; i <= IV_LEN; i++) {
        uint32_t in_pad = ct_le(i, pad);
        bad |= in_pad & ct_nonzero((uint32_t)pt[len - i] ^ pad);
    }
    /* One branch, on the verdict alone. */
    return bad ? 0 : len - pad;
}

struct pbes2 {
    const unsigned char *salt;
    size_t salt_len;
    int iterations;
    const unsigned char *iv;
    const unsigned char *ct;
    size_t ct_len;
};

static int parse_pbkdf2(const mbedtls_asn1_buf *params, struct pbes2 *out, struct minica_err *err)
{
    unsigned char *p = params->p, *end = params->p + params->len;
    size_t n;
    if (params->tag != (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
        return malformed(err, "PBKDF2 parameters");
    /* salt CHOICE { specified OCTET STRING, otherSource }: only the first. */
    if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_OCTET_STRING) != 0)
        return malformed(err, "PBKDF2 salt");
    out->salt = p;
    out->salt_len = n;
    p += n;
    if (out->salt_len < 8 || out->salt_len > 64)
        return malformed(err, "PBKDF2 salt length");
    if (mbedtls_asn1_get_int(&p, end, &out->iterations) != 0)
        return malformed(err, "PBKDF2 iteration count");
    if (p < end && *p == MBEDTLS_ASN1_INTEGER) {
        int key_len = 0;
        if (mbedtls_asn1_get_int(&p, end, &key_len) != 0)
            return malformed(err, "PBKDF2 key length");
        if (key_len != KEY_LEN)
            return malformed(err, "PBKDF2 key length is not AES-256's");
    }
    /* prf AlgorithmIdentifier DEFAULT hmacWithSHA1 */
    if (p == end)
        return unsupported(err, "the PBKDF2 PRF", "hmacWithSHA1 (the default)");
    mbedtls_asn1_buf prf, prf_params;
    if (mbedtls_asn1_get_alg(&p, end, &prf, &prf_params) != 0)
        return malformed(err, "PBKDF2 PRF");
    if (!oid_is(&prf, &oid_hmac_sha256))
        return unsupported(err, "the PBKDF2 PRF", oid_name(&prf));
    if (prf_params.tag != 0 && (prf_params.tag != MBEDTLS_ASN1_NULL || prf_params.len != 0))
        return malformed(err, "hmacWithSHA256 parameters");
    if (p != end)
        return malformed(err, "data after the PBKDF2 parameters");
    return MINICA_OK;
}

static int parse(const unsigned char *der, size_t der_len, struct pbes2 *out,
                 struct minica_err *err)
{
    unsigned char *p = (unsigned char *)der, *end = p + der_len;
    size_t n;
    memset(out, 0, sizeof(*out));
    if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return malformed(err, "outer SEQUENCE");
    if (p + n != end)
        return malformed(err, "data after the key");
    mbedtls_asn1_buf alg, params;
    if (mbedtls_asn1_get_alg(&p, end, &alg, &params) != 0)
        return malformed(err, "encryption algorithm");
    if (!oid_is(&alg, &oid_pbes2))
        return unsupported(err, "", oid_name(&alg));
    if (params.tag != (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
        return malformed(err, "PBES2 parameters");
    unsigned char *q = params.p, *qend = params.p + params.len;
    mbedtls_asn1_buf kdf, kdf_params, enc, enc_params;
    if (mbedtls_asn1_get_alg(&q, qend, &kdf, &kdf_params) != 0 ||
        mbedtls_asn1_get_alg(&q, qend, &enc, &enc_params) != 0 || q != qend)
        return malformed(err, "PBES2 parameters");
    if (!oid_is(&kdf, &oid_pbkdf2))
        return unsupported(err, "PBES2 with", oid_name(&kdf));
    if (!oid_is(&enc, &oid_aes256_cbc))
        return unsupported(err, "PBES2 with", oid_name(&enc));
    int ret = parse_pbkdf2(&kdf_params, out, err);
    if (ret != 0)
        return ret;
    if (enc_params.tag != MBEDTLS_ASN1_OCTET_STRING || enc_params.len != IV_LEN)
        return malformed(err, "AES-256-CBC IV");
    out->iv = enc_params.p;
    if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_OCTET_STRING) != 0)
        return malformed(err, "encrypted data");
    out->ct = p;
    out->ct_len = n;
    if (p + n != end)
        return malformed(err, "data after the encrypted data");
    if (n == 0 || n % IV_LEN != 0)
        return malformed(err, "encrypted data is not whole AES blocks");
    if (out->iterations < MINICA_PKCS8_ITERATIONS_MIN ||
        out->iterations > MINICA_PKCS8_ITERATIONS_MAX)
        return minica_seterr(err, MINICA_EINVAL,
                             "the key's PBKDF2 iteration count %d is outside %d..%d; " REENCRYPT
                             " -iter %d",
                             out->iterations, MINICA_PKCS8_ITERATIONS_MIN,
                             MINICA_PKCS8_ITERATIONS_MAX, MINICA_PKCS8_ITERATIONS);
    return MINICA_OK;
}

int minica_pkcs8_decrypt_der(const unsigned char *der, size_t der_len, const unsigned char *pass,
                             size_t pass_len, unsigned char **pki, size_t *pki_len,
                             struct minica_err *err)
{
    *pki = NULL;
    *pki_len = 0;
    struct pbes2 s;
    int ret = parse(der, der_len, &s, err);
    if (ret != 0)
        return ret;
    unsigned char key[KEY_LEN];
    unsigned char *pt = malloc(s.ct_len);
    if (pt == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    if ((ret = derive(pass, pass_len, s.salt, s.salt_len, (unsigned)s.iterations, key, err)) != 0 ||
        (ret = aes_cbc(MBEDTLS_AES_DECRYPT, key, s.iv, s.ct, s.ct_len, pt, err)) != 0)
        goto fail;
    size_t len = unpad(pt, s.ct_len);
    /* CBC has no integrity: a wrong passphrase and a changed ciphertext
     * both end here, or in a PrivateKeyInfo that does not parse. The pad
     * alone looks right for one wrong key in 256; the plaintext must also
     * be one DER SEQUENCE that fills it. */
    unsigned char *q = pt;
    size_t seq_len = 0;
    if (len == 0 ||
        mbedtls_asn1_get_tag(&q, pt + len, &seq_len,
                             MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 ||
        q + seq_len != pt + len) {
        ret = minica_seterr(err, MINICA_EFORBIDDEN, "wrong passphrase");
        goto fail;
    }
    mbedtls_platform_zeroize(key, sizeof(key));
    *pki = pt;
    *pki_len = len;
    return MINICA_OK;
fail:
    mbedtls_platform_zeroize(key, sizeof(key));
    minica_free_secret(pt, s.ct_len);
    return ret;
}

int minica_pkcs8_decrypt_pem(const char *pem, const unsigned char *pass, size_t pass_len,
                             mbedtls_pk_context *pk, struct minica_rng *rng, struct minica_err *err)
{
    if (strstr(pem, "Proc-Type: 4,ENCRYPTED") != NULL)
        return unsupported(err, "OpenSSL's legacy PEM encryption", "(Proc-Type/DEK-Info)");
    mbedtls_pem_context ctx;
    mbedtls_pem_init(&ctx);
    size_t used = 0;
    int ret = mbedtls_pem_read_buffer(&ctx, "-----BEGIN " MINICA_PKCS8_PEM_LABEL "-----",
                                      "-----END " MINICA_PKCS8_PEM_LABEL "-----",
                                      (const unsigned char *)pem, NULL, 0, &used);
    if (ret != 0) {
        mbedtls_pem_free(&ctx);
        return minica_seterr_mbedtls(err, MINICA_EINVAL, ret, "not a valid encrypted private key");
    }
    size_t der_len = 0;
    const unsigned char *der = minica_compat_pem_der(&ctx, &der_len);
    unsigned char *pki = NULL;
    size_t pki_len = 0;
    ret = minica_pkcs8_decrypt_der(der, der_len, pass, pass_len, &pki, &pki_len, err);
    mbedtls_pem_free(&ctx);
    if (ret != 0)
        return ret;
    ret = minica_compat_pk_parse_key(pk, pki, pki_len, rng ? &rng->drbg : NULL);
    minica_free_secret(pki, pki_len);
    if (ret != 0) {
        mbedtls_pk_free(pk);
        mbedtls_pk_init(pk);
        return minica_seterr(err, MINICA_EFORBIDDEN, "wrong passphrase");
    }
    return MINICA_OK;
}

int minica_pkcs8_encrypt_der(const unsigned char *pki, size_t pki_len, const unsigned char *pass,
                             size_t pass_len, unsigned iterations, struct minica_rng *rng,
                             unsigned char **der, size_t *der_len, struct minica_err *err)
{
    *der = NULL;
    *der_len = 0;
    if (iterations == 0)
        iterations = MINICA_PKCS8_ITERATIONS;
    if (iterations > MINICA_PKCS8_ITERATIONS_MAX)
        return minica_seterr(err, MINICA_EINVAL, "too many PBKDF2 iterations");
    unsigned char salt[SALT_LEN], iv[IV_LEN], key[KEY_LEN];
    size_t ct_len = (pki_len / IV_LEN + 1) * IV_LEN;
    size_t cap = ct_len + 256;
    unsigned char *pt = malloc(ct_len), *buf = malloc(cap);
    int ret;
    if (pt == NULL || buf == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(pt, pki, pki_len);
    memset(pt + pki_len, (int)(ct_len - pki_len), ct_len - pki_len);
    if ((ret = minica_rng_bytes(rng, salt, sizeof(salt), err)) != 0 ||
        (ret = minica_rng_bytes(rng, iv, sizeof(iv), err)) != 0 ||
        (ret = derive(pass, pass_len, salt, sizeof(salt), iterations, key, err)) != 0)
        goto out;
    /* Written back to front, as mbedTLS's asn1write does; an
     * AlgorithmIdentifier's length counts the parameters under it. */
    unsigned char *c = buf + cap;
    size_t len = 0, inner = 0, kdf = 0, enc = 0;
    int r;
#define ADD(acc, call)                                                                             \
    do {                                                                                           \
        if ((r = (call)) < 0)                                                                      \
            goto asn1_fail;                                                                        \
        (acc) += (size_t)r;                                                                        \
    } while (0)
#define ALG(acc, o)                                                                                \
    do {                                                                                           \
        if ((r = mbedtls_asn1_write_algorithm_identifier(&c, buf, (const char *)(o).der, (o).len,  \
                                                         (acc))) < 0)                              \
            goto asn1_fail;                                                                        \
        (acc) = (size_t)r;                                                                         \
    } while (0)
    c -= ct_len;
    if ((ret = aes_cbc(MBEDTLS_AES_ENCRYPT, key, iv, pt, ct_len, c, err)) != 0)
        goto out;
    len = ct_len;
    ADD(len, mbedtls_asn1_write_len(&c, buf, ct_len));
    ADD(len, mbedtls_asn1_write_tag(&c, buf, MBEDTLS_ASN1_OCTET_STRING));
    /* encryptionScheme: aes256-CBC with its IV */
    ADD(enc, mbedtls_asn1_write_octet_string(&c, buf, iv, sizeof(iv)));
    ALG(enc, oid_aes256_cbc);
    /* keyDerivationFunc: PBKDF2 { salt, iterations, prf hmacWithSHA256 (NULL) } */
    size_t prf = 0;
    ALG(prf, oid_hmac_sha256);
    kdf = prf;
    ADD(kdf, mbedtls_asn1_write_int(&c, buf, (int)iterations));
    ADD(kdf, mbedtls_asn1_write_octet_string(&c, buf, salt, sizeof(salt)));
    ADD(kdf, mbedtls_asn1_write_len(&c, buf, kdf));
    ADD(kdf, mbedtls_asn1_write_tag(&c, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    ALG(kdf, oid_pbkdf2);
    inner = kdf + enc;
    ADD(inner, mbedtls_asn1_write_len(&c, buf, inner));
    ADD(inner, mbedtls_asn1_write_tag(&c, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    ALG(inner, oid_pbes2);
    len += inner;
    ADD(len, mbedtls_asn1_write_len(&c, buf, len));
    ADD(len, mbedtls_asn1_write_tag(&c, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
#undef ADD
#undef ALG
    memmove(buf, c, len);
    *der = buf;
    *der_len = len;
    buf = NULL;
    ret = MINICA_OK;
    goto out;
asn1_fail:
    ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, r, "cannot encode the encrypted key");
out:
    mbedtls_platform_zeroize(key, sizeof(key));
    minica_free_secret(pt, ct_len);
    free(buf);
    return ret;
}

/* PrivateKeyInfo (RFC 5958 2) { version 0, the algorithm as the public
 * key names it, the key mbedTLS writes (SEC1 or PKCS#1) }: mbedTLS writes
 * no PKCS#8 itself. */
int minica_pkcs8_private_key_info(mbedtls_pk_context *pk, unsigned char **pki, size_t *pki_len,
                                  size_t *cap_out, struct minica_err *err)
{
    unsigned char spki[2048];
    size_t cap = 8192;
    unsigned char *buf = malloc(cap);
    if (buf == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    int klen = mbedtls_pk_write_key_der(pk, buf, cap);
    int slen = mbedtls_pk_write_pubkey_der(pk, spki, sizeof(spki));
    int ret;
    if (klen <= 0 || slen <= 0) {
        ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, klen <= 0 ? klen : slen,
                                    "cannot encode the private key");
        goto fail;
    }
    /* SubjectPublicKeyInfo { algorithm, subjectPublicKey }: its first TLV. */
    unsigned char *p = spki + sizeof(spki) - slen, *end = spki + sizeof(spki), *alg = NULL;
    size_t n = 0;
    if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) == 0) {
        alg = p;
        if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0)
            alg = NULL;
    }
    if (alg == NULL) {
        ret = minica_seterr(err, MINICA_ECRYPTO, "cannot encode the private key");
        goto fail;
    }
    size_t alg_len = (size_t)(p - alg) + n;
    unsigned char *c = buf + cap - klen;
    size_t len = (size_t)klen;
    int r;
    if ((r = mbedtls_asn1_write_len(&c, buf, len)) < 0)
        goto asn1_fail;
    len += (size_t)r;
    if ((r = mbedtls_asn1_write_tag(&c, buf, MBEDTLS_ASN1_OCTET_STRING)) < 0)
        goto asn1_fail;
    len += (size_t)r;
    if ((r = mbedtls_asn1_write_raw_buffer(&c, buf, alg, alg_len)) < 0)
        goto asn1_fail;
    len += (size_t)r;
    if ((r = mbedtls_asn1_write_int(&c, buf, 0)) < 0)
        goto asn1_fail;
    len += (size_t)r;
    if ((r = mbedtls_asn1_write_len(&c, buf, len)) < 0)
        goto asn1_fail;
    len += (size_t)r;
    if ((r = mbedtls_asn1_write_tag(&c, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
        goto asn1_fail;
    len += (size_t)r;
    memmove(buf, c, len);
    mbedtls_platform_zeroize(buf + len, cap - len);
    *pki = buf;
    *pki_len = len;
    *cap_out = cap;
    return MINICA_OK;
asn1_fail:
    ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, r, "cannot encode the private key");
fail:
    minica_free_secret(buf, cap);
    return ret;
}

int minica_pkcs8_encrypt_pem(mbedtls_pk_context *pk, const unsigned char *pass, size_t pass_len,
                             unsigned iterations, struct minica_rng *rng, char **pem, size_t *len,
                             struct minica_err *err)
{
    *pem = NULL;
    if (len)
        *len = 0;
    unsigned char *pki = NULL, *der = NULL;
    size_t pki_len = 0, pki_cap = 0, der_len = 0;
    int ret = minica_pkcs8_private_key_info(pk, &pki, &pki_len, &pki_cap, err);
    if (ret != 0)
        return ret;
    ret = minica_pkcs8_encrypt_der(pki, pki_len, pass, pass_len, iterations, rng, &der, &der_len,
                                   err);
    minica_free_secret(pki, pki_cap);
    if (ret != 0)
        return ret;
    size_t cap = der_len * 4 / 3 + der_len / 48 + 128, olen = 0;
    unsigned char *out = malloc(cap);
    if (out == NULL) {
        free(der);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    ret = mbedtls_pem_write_buffer("-----BEGIN " MINICA_PKCS8_PEM_LABEL "-----\n",
                                   "-----END " MINICA_PKCS8_PEM_LABEL "-----\n", der, der_len, out,
                                   cap, &olen);
    free(der);
    if (ret != 0) {
        free(out);
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot write the encrypted key");
    }
    *pem = (char *)out;
    if (len)
        *len = strlen(*pem);
    return MINICA_OK;
}
