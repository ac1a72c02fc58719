/* Private keys: the five key types minica offers, generation from CTR_DRBG,
 * PEM in and out, and "does this key belong to this certificate". */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>

#include "ca/x509.h"
#include "minica/fsutil.h"
#include "minica/key.h"

static const struct {
    enum minica_key_type type;
    const char *name;
} key_types[] = {
    {MINICA_KEY_EC_P256, "ec-p256"},   {MINICA_KEY_EC_P384, "ec-p384"},
    {MINICA_KEY_RSA_2048, "rsa-2048"}, {MINICA_KEY_RSA_3072, "rsa-3072"},
    {MINICA_KEY_RSA_4096, "rsa-4096"},
};

int minica_key_type_parse(const char *text, enum minica_key_type *out, struct minica_err *err)
{
    for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
        if (text != NULL && strcasecmp(text, key_types[i].name) == 0) {
            *out = key_types[i].type;
            return MINICA_OK;
        }
    }
    return minica_seterr(err, MINICA_EINVAL,
                         "unknown key type '%s' (use ec-p256, ec-p384, rsa-2048, rsa-3072 or "
                         "rsa-4096)",
                         text ? text : "");
}

const char *minica_key_type_name(enum minica_key_type type)
{
    for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
        if (key_types[i].type == type)
            return key_types[i].name;
    return "ec-p256";
}

int minica_key_generate(mbedtls_pk_context *pk, enum minica_key_type type, struct minica_rng *rng,
                        struct minica_err *err)
{
    int rsa_bits = 0;
    mbedtls_ecp_group_id curve = MBEDTLS_ECP_DP_NONE;
    switch (type) {
    case MINICA_KEY_DEFAULT:
    case MINICA_KEY_EC_P256:
        curve = MBEDTLS_ECP_DP_SECP256R1;
        break;
    case MINICA_KEY_EC_P384:
        curve = MBEDTLS_ECP_DP_SECP384R1;
        break;
    case MINICA_KEY_RSA_2048:
        rsa_bits = 2048;
        break;
    case MINICA_KEY_RSA_3072:
        rsa_bits = 3072;
        break;
    case MINICA_KEY_RSA_4096:
        rsa_bits = 4096;
        break;
    }
    int ret;
    if (rsa_bits) {
        ret = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
        if (ret == 0)
            ret = mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk), mbedtls_ctr_drbg_random, &rng->drbg,
                                      (unsigned)rsa_bits, 65537);
    } else {
        ret = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
        if (ret == 0)
            ret =
                mbedtls_ecp_gen_key(curve, mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, &rng->drbg);
    }
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot generate a %s key",
                                     minica_key_type_name(type));
    return MINICA_OK;
}

int minica_key_to_pem(mbedtls_pk_context *pk, char **pem, size_t *len, struct minica_err *err)
{
    size_t cap = 16000;
    unsigned char *buf = calloc(1, cap);
    if (buf == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    int ret = mbedtls_pk_write_key_pem(pk, buf, cap);
    if (ret != 0) {
        minica_free_secret(buf, cap);
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot encode the private key");
    }
    size_t n = strlen((char *)buf);
    char *out = malloc(n + 1);
    if (out == NULL) {
        minica_free_secret(buf, cap);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    memcpy(out, buf, n + 1);
    minica_free_secret(buf, cap);
    *pem = out;
    if (len)
        *len = n;
    return MINICA_OK;
}

int minica_key_parse_pem(mbedtls_pk_context *pk, const char *pem, size_t len,
                         struct minica_rng *rng, struct minica_err *err)
{
    int ret = minica_compat_pk_parse_key(pk, (const unsigned char *)pem, len + 1,
                                         rng ? &rng->drbg : NULL);
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot parse the private key");
    return MINICA_OK;
}

/* mbedTLS's RSA bit length is the modulus's byte length times 8, so a
 * 2041-bit modulus reads as 2048: the exact length comes from N itself. */
static int rsa_public(const mbedtls_pk_context *pk, size_t *bits, int *e_is_f4)
{
    mbedtls_mpi n, e;
    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&e);
    int ret = mbedtls_rsa_export(mbedtls_pk_rsa(*pk), &n, NULL, NULL, NULL, &e);
    if (ret == 0) {
        *bits = mbedtls_mpi_bitlen(&n);
        *e_is_f4 = mbedtls_mpi_cmp_int(&e, 65537) == 0;
    }
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&e);
    return ret;
}

int minica_key_check_issuable(const mbedtls_pk_context *pk, enum minica_key_type *type,
                              struct minica_err *err)
{
    mbedtls_pk_type_t t = mbedtls_pk_get_type(pk);
    if (t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECDSA) {
        /* By curve, not size: secp256k1 and brainpoolP256r1 are 256 bits too. */
        mbedtls_ecp_group_id curve = minica_compat_pk_ec_group(pk);
        if (curve == MBEDTLS_ECP_DP_SECP256R1)
            *type = MINICA_KEY_EC_P256;
        else if (curve == MBEDTLS_ECP_DP_SECP384R1)
            *type = MINICA_KEY_EC_P384;
        else
            return minica_seterr(err, MINICA_EINVAL, "EC curve other than P-256 and P-384");
        return MINICA_OK;
    }
    if (t == MBEDTLS_PK_RSA) {
        size_t bits = 0;
        int e_is_f4 = 0;
        if (rsa_public(pk, &bits, &e_is_f4) != 0)
            return minica_seterr(err, MINICA_EINVAL, "unreadable RSA key");
        /* RFC 8017 allows small exponents; CA/B profiles and every modern
         * generator use 65537, and e=3 invites signature forgeries. */
        if (!e_is_f4)
            return minica_seterr(err, MINICA_EINVAL, "RSA public exponent is not 65537");
        if (bits == 2048)
            *type = MINICA_KEY_RSA_2048;
        else if (bits == 3072)
            *type = MINICA_KEY_RSA_3072;
        else if (bits == 4096)
            *type = MINICA_KEY_RSA_4096;
        else
            return minica_seterr(err, MINICA_EINVAL,
                                 "RSA modulus of %zu bits; minica issues only for exactly "
                                 "2048, 3072 or 4096",
                                 bits);
        return MINICA_OK;
    }
    return minica_seterr(err, MINICA_EINVAL,
                         "unsupported key type (minica issues for ec-p256, ec-p384, "
                         "rsa-2048, rsa-3072, rsa-4096)");
}

int minica_key_type_of(const mbedtls_pk_context *pk, enum minica_key_type *type)
{
    return minica_key_check_issuable(pk, type, NULL) == 0 ? 0 : -1;
}

mbedtls_md_type_t minica_key_md(const mbedtls_pk_context *pk)
{
    if (mbedtls_pk_get_type(pk) == MBEDTLS_PK_ECKEY && mbedtls_pk_get_bitlen(pk) == 384)
        return MBEDTLS_MD_SHA384;
    return MBEDTLS_MD_SHA256;
}

int minica_pk_same_public(const mbedtls_pk_context *a, const mbedtls_pk_context *b)
{
    /* Enough for an RSA-4096 SubjectPublicKeyInfo; the DER is written at the end. */
    unsigned char da[2048], db[2048];
    int la = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)a, da, sizeof(da));
    int lb = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)b, db, sizeof(db));
    if (la <= 0 || lb <= 0 || la != lb)
        return 0;
    return memcmp(da + sizeof(da) - la, db + sizeof(db) - lb, (size_t)la) == 0;
}

int minica_key_matches_crt(const char *key_pem, const mbedtls_x509_crt *crt, struct minica_err *err)
{
    mbedtls_pk_context pk;
    struct minica_rng rng;
    int have_rng = 0, ret;
    mbedtls_pk_init(&pk);
    /* Seeding an RNG costs more than the whole check,
     * and the agent calls this for every managed certificate. */
    if (MINICA_COMPAT_KEY_PARSE_NEEDS_RNG) {
        if ((ret = minica_rng_init(&rng, err)) != 0)
            return ret;
        have_rng = 1;
    }
    ret = minica_key_parse_pem(&pk, key_pem, strlen(key_pem), have_rng ? &rng : NULL, err);
    if (ret == 0)
        ret = minica_pk_same_public(&crt->pk, &pk);
    mbedtls_pk_free(&pk);
    if (have_rng)
        minica_rng_free(&rng);
    return ret;
}

int minica_key_matches_cert(const char *key_pem, const char *cert_pem, struct minica_err *err)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int ret = minica_crt_parse_pem_first(&crt, cert_pem, err);
    if (ret == 0)
        ret = minica_key_matches_crt(key_pem, &crt, err);
    mbedtls_x509_crt_free(&crt);
    return ret;
}
