/* Self-authenticating ACME nonces: see acme_nonce.h. */
#include <string.h>
#include <sys/random.h>

#include <mbedtls/md.h>

#include "base/b64url.h"
#include "base/util.h"
#include "serve/acme_nonce.h"

enum { EXPIRY_LEN = 8, RANDOM_LEN = 12, MAC_LEN = 16, RAW_LEN = EXPIRY_LEN + RANDOM_LEN + MAC_LEN };

static int mac(const unsigned char *key, const unsigned char *raw, unsigned char out[32])
{
    return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key,
                           MINICA_ACME_NONCE_KEY_LEN, raw, EXPIRY_LEN + RANDOM_LEN, out);
}

int minica_acme_nonce_key(struct minica_store *store, unsigned char key[MINICA_ACME_NONCE_KEY_LEN],
                          struct minica_err *err)
{
    unsigned char fresh[MINICA_ACME_NONCE_KEY_LEN];
    char fresh_text[64], text[64];
    if (getrandom(fresh, sizeof(fresh), 0) != (ssize_t)sizeof(fresh))
        return minica_seterr(err, MINICA_EIO, "no random bytes for the ACME nonce key");
    minica_b64url_encode(fresh, sizeof(fresh), fresh_text, sizeof(fresh_text));
    int ret =
        minica_store_secret(store, "acme-nonce", fresh_text, minica_now(), text, sizeof(text), err);
    if (ret != 0)
        return ret;
    size_t len = 0;
    if (minica_b64url_decode(text, strlen(text), key, MINICA_ACME_NONCE_KEY_LEN, &len) != 0 ||
        len != MINICA_ACME_NONCE_KEY_LEN)
        return minica_seterr(err, MINICA_EDB,
                             "%s: serve_secrets 'acme-nonce' is not a %d-octet base64url key",
                             minica_store_name(store), MINICA_ACME_NONCE_KEY_LEN);
    return MINICA_OK;
}

int minica_acme_nonce_make(const unsigned char key[MINICA_ACME_NONCE_KEY_LEN], int64_t expires_at,
                           char *out, size_t out_size, struct minica_err *err)
{
    unsigned char raw[RAW_LEN], tag[32];
    uint64_t t = (uint64_t)expires_at;
    for (int i = 0; i < EXPIRY_LEN; i++)
        raw[i] = (unsigned char)(t >> (8 * (EXPIRY_LEN - 1 - i)));
    if (getrandom(raw + EXPIRY_LEN, RANDOM_LEN, 0) != RANDOM_LEN)
        return minica_seterr(err, MINICA_EIO, "no random bytes for an ACME nonce");
    if (mac(key, raw, tag) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot MAC an ACME nonce");
    memcpy(raw + EXPIRY_LEN + RANDOM_LEN, tag, MAC_LEN);
    if (minica_b64url_encode(raw, RAW_LEN, out, out_size) != 0)
        return minica_seterr(err, MINICA_EINVAL, "the ACME nonce does not fit");
    return MINICA_OK;
}

int minica_acme_nonce_check(const unsigned char key[MINICA_ACME_NONCE_KEY_LEN], const char *nonce,
                            int64_t now, int64_t *expires_at, struct minica_err *err)
{
    unsigned char raw[RAW_LEN + 3], tag[32];
    size_t len = 0;
    if (minica_b64url_decode(nonce, strlen(nonce), raw, sizeof(raw), &len) != 0 || len != RAW_LEN)
        return minica_seterr(err, MINICA_EFORBIDDEN, "the nonce is not one of this CA's");
    if (mac(key, raw, tag) != 0)
        return minica_seterr(err, MINICA_EIO, "cannot MAC an ACME nonce");
    /* Constant time: a byte-at-a-time compare would let a client find a
     * valid tag by timing. */
    unsigned char diff = 0;
    for (int i = 0; i < MAC_LEN; i++)
        diff |= (unsigned char)(tag[i] ^ raw[EXPIRY_LEN + RANDOM_LEN + i]);
    if (diff != 0)
        return minica_seterr(err, MINICA_EFORBIDDEN, "the nonce is not one of this CA's");
    uint64_t t = 0;
    for (int i = 0; i < EXPIRY_LEN; i++)
        t = (t << 8) | raw[i];
    if ((int64_t)t <= now)
        return minica_seterr(err, MINICA_EFORBIDDEN, "the nonce has expired");
    *expires_at = (int64_t)t;
    return MINICA_OK;
}
