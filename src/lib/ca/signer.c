/* The signer interface (signer.h) and its first backend: a private key in
 * this process's memory, read from a key file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "base/compat.h"
#include "base/util.h"
#include "ca/signer.h"

int minica_signer_sign(struct minica_signer *s, mbedtls_md_type_t md, const unsigned char *hash,
                       size_t hash_len, unsigned char *sig, size_t sig_size, size_t *sig_len,
                       struct minica_err *err)
{
    *sig_len = 0;
    if (s == NULL || s->ops == NULL || s->ops->sign == NULL)
        return minica_seterr(err, MINICA_EINVAL, "no key to sign with");
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(md);
    /* A hash of another length would be signed as given: truncated or
     * padded by the backend, a signature over something else. */
    if (info == NULL || mbedtls_md_get_size(info) != hash_len)
        return minica_seterr(err, MINICA_EINVAL, "the hash to sign does not match its algorithm");
    return s->ops->sign(s, md, hash, hash_len, sig, sig_size, sig_len, err);
}

void minica_signer_free(struct minica_signer *s)
{
    if (s == NULL)
        return;
    if (s->ops != NULL && s->ops->free != NULL)
        s->ops->free(s);
    mbedtls_pk_free(&s->pub);
    mbedtls_platform_zeroize(s, sizeof(*s));
    free(s);
}

/* The key-file backend. */
struct pk_signer {
    mbedtls_pk_context key;
    struct minica_rng *rng;
};

static int pk_sign(struct minica_signer *s, mbedtls_md_type_t md, const unsigned char *hash,
                   size_t hash_len, unsigned char *sig, size_t sig_size, size_t *sig_len,
                   struct minica_err *err)
{
    struct pk_signer *p = s->impl;
    /* mbedTLS 2.28 writes up to MBEDTLS_PK_SIGNATURE_MAX_SIZE whatever the
     * buffer: a smaller one is refused before it can overflow. */
    if (sig_size < MBEDTLS_PK_SIGNATURE_MAX_SIZE)
        return minica_seterr(err, MINICA_EINVAL, "signature buffer too small");
    int ret =
        minica_compat_pk_sign(&p->key, md, hash, hash_len, sig, sig_size, sig_len, &p->rng->drbg);
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot sign with %s", s->where);
    return MINICA_OK;
}

static void pk_free(struct minica_signer *s)
{
    struct pk_signer *p = s->impl;
    if (p == NULL)
        return;
    mbedtls_pk_free(&p->key);
    mbedtls_platform_zeroize(p, sizeof(*p));
    free(p);
    s->impl = NULL;
}

static const struct minica_signer_ops pk_ops = {pk_sign, pk_free, NULL};

/* pub gets only the public half: what it is handed to (x509write as the
 * subject key, AKI, checks) can never sign with it by mistake. */
static int public_copy(mbedtls_pk_context *key, mbedtls_pk_context *pub, struct minica_err *err)
{
    unsigned char der[2048]; /* an RSA-4096 SubjectPublicKeyInfo, written at the end */
    int n = mbedtls_pk_write_pubkey_der(key, der, sizeof(der));
    if (n <= 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, n, "cannot encode the public key");
    int ret = mbedtls_pk_parse_public_key(pub, der + sizeof(der) - n, (size_t)n);
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot read the public key");
    return MINICA_OK;
}

int minica_signer_from_pk(mbedtls_pk_context *key, const char *where, struct minica_rng *rng,
                          struct minica_signer **out, struct minica_err *err)
{
    *out = NULL;
    if (mbedtls_pk_get_type(key) == MBEDTLS_PK_NONE)
        return minica_seterr(err, MINICA_EINVAL, "no key to sign with");
    struct minica_signer *s = calloc(1, sizeof(*s));
    struct pk_signer *p = calloc(1, sizeof(*p));
    if (s == NULL || p == NULL) {
        free(s);
        free(p);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    mbedtls_pk_init(&s->pub);
    int ret = public_copy(key, &s->pub, err);
    if (ret != 0) {
        mbedtls_pk_free(&s->pub);
        free(s);
        free(p);
        return ret;
    }
    /* The context itself moves: nothing is copied that would need wiping. */
    p->key = *key;
    mbedtls_pk_init(key);
    if ((ret = minica_compat_pk_keep_for_signing(&p->key)) != 0) {
        mbedtls_pk_free(&p->key);
        mbedtls_pk_free(&s->pub);
        free(s);
        free(p);
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot prepare the key to sign");
    }
    p->rng = rng;
    s->ops = &pk_ops;
    s->impl = p;
    snprintf(s->where, sizeof(s->where), "%s", where != NULL ? where : "memory");
    *out = s;
    return MINICA_OK;
}
