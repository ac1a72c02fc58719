/* Writing PKCS#12 (RFC 7292) files: the PFX around a key, its certificate
 * and chain, with PBES2 from pkcs8.c for both bags and an HMAC-SHA256 MAC.
 * Encoded by hand (mbedTLS has no PKCS#12 writer), front to back with a
 * small buffer type. Not here: reading a PFX, where files go (deliver.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/asn1.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>

#include "base/compat.h"
#include "base/util.h"
#include "ca/passphrase.h"
#include "ca/pkcs8.h"
#include "ca/x509.h"
#include "minica/fsutil.h"
#include "minica/issue.h"
#include "minica/key.h"
#include "minica/pkcs12.h"

#define MAC_SALT_LEN 16
#define MAC_KEY_LEN 32 /* HMAC-SHA256's key: one SHA-256 output */
#define SHA256_V 64    /* SHA-256's block size, RFC 7292 B.2's v */

#define TAG_SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define TAG_SET (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SET)
#define TAG_EXPLICIT0 (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0)
#define TAG_IMPLICIT0 (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0)

/* 1.2.840.113549.1.7.1 and .7.6 (PKCS#7), .1.12.10.1.2 and .3 (RFC 7292
 * 4.2), .1.9.22.1, .1.9.20, .1.9.21 (PKCS#9), 2.16.840.1.101.3.4.2.1. */
static const unsigned char oid_data[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
static const unsigned char oid_encrypted_data[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                   0x0d, 0x01, 0x07, 0x06};
static const unsigned char oid_shrouded_key_bag[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
                                                     0x01, 0x0c, 0x0a, 0x01, 0x02};
static const unsigned char oid_cert_bag[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
                                             0x01, 0x0c, 0x0a, 0x01, 0x03};
static const unsigned char oid_x509_cert[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                              0x0d, 0x01, 0x09, 0x16, 0x01};
static const unsigned char oid_friendly_name[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                  0x0d, 0x01, 0x09, 0x14};
static const unsigned char oid_local_key_id[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                 0x0d, 0x01, 0x09, 0x15};
static const unsigned char oid_sha256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};

void minica_pkcs12_passphrase_wipe(struct minica_pkcs12_passphrase *p)
{
    mbedtls_platform_zeroize(p->buf, sizeof(p->buf));
    p->len = 0;
}

int minica_pkcs12_passphrase_read(const char *file, const char *credential,
                                  struct minica_pkcs12_passphrase *out, struct minica_err *err)
{
    struct minica_passphrase p;
    memset(out, 0, sizeof(*out));
    int ret =
        minica_secret_read(file, credential, "passphrase", "--passphrase-credential", &p, err);
    if (ret != 0)
        return ret;
    memcpy(out->buf, p.buf, p.len);
    out->len = p.len;
    snprintf(out->source, sizeof(out->source), "%s", p.source);
    minica_passphrase_wipe(&p);
    return MINICA_OK;
}

/* A growing DER buffer, written front to back: an inner value is built in
 * a buffer of its own and put into the outer one as a TLV. Every buffer is
 * wiped when freed (one of them holds a PrivateKeyInfo's neighbours). */
struct dbuf {
    unsigned char *p;
    size_t len, cap;
    int failed;
};

static void dbuf_free(struct dbuf *b)
{
    if (b->p != NULL)
        minica_free_secret(b->p, b->cap);
    memset(b, 0, sizeof(*b));
}

static void put(struct dbuf *b, const void *data, size_t len)
{
    if (b->failed)
        return;
    if (len > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return;
    }
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap *= 2;
        unsigned char *p = malloc(cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        if (b->p != NULL) {
            memcpy(p, b->p, b->len);
            minica_free_secret(b->p, b->cap);
        }
        b->p = p;
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->p + b->len, data, len);
    b->len += len;
}

/* tag, DER length (X.690 8.1.3, definite and minimal), content. */
static void put_tlv(struct dbuf *b, unsigned char tag, const void *content, size_t len)
{
    unsigned char hdr[6];
    size_t n = 0;
    hdr[n++] = tag;
    if (len < 0x80) {
        hdr[n++] = (unsigned char)len;
    } else {
        unsigned char digits[4];
        size_t nd = 0;
        if (len > 0xffffffffu) {
            b->failed = 1;
            return;
        }
        for (size_t v = len; v > 0; v >>= 8)
            digits[nd++] = (unsigned char)(v & 0xff);
        hdr[n++] = (unsigned char)(0x80 | nd);
        while (nd > 0)
            hdr[n++] = digits[--nd];
    }
    put(b, hdr, n);
    put(b, content, len);
}

/* inner wrapped as one TLV into b; inner is freed. */
static void put_wrapped(struct dbuf *b, unsigned char tag, struct dbuf *inner)
{
    if (inner->failed)
        b->failed = 1;
    else
        put_tlv(b, tag, inner->p, inner->len);
    dbuf_free(inner);
}

static void put_oid(struct dbuf *b, const unsigned char *oid, size_t len)
{
    put_tlv(b, MBEDTLS_ASN1_OID, oid, len);
}

/* A non-negative INTEGER, minimal (X.690 8.3.2). */
static void put_uint(struct dbuf *b, uint32_t v)
{
    unsigned char d[5];
    size_t n = 0;
    do {
        d[sizeof(d) - 1 - n++] = (unsigned char)(v & 0xff);
        v >>= 8;
    } while (v > 0);
    if (d[sizeof(d) - n] & 0x80)
        d[sizeof(d) - 1 - n++] = 0;
    put_tlv(b, MBEDTLS_ASN1_INTEGER, d + sizeof(d) - n, n);
}

/* UTF-8 -> UTF-16BE (BMPString holds UCS-2; RFC 7292 B.1 and Java and
 * OpenSSL write surrogate pairs beyond it). Strict: an overlong form, a
 * surrogate or a stray byte is refused rather than guessed at. *out is
 * malloc'd with room for the two NUL bytes B.1 appends to a password. */
static int utf8_to_utf16be(const unsigned char *s, size_t len, unsigned char **out, size_t *out_len)
{
    unsigned char *o = malloc(len * 4 + 2);
    size_t n = 0;
    if (o == NULL)
        return MINICA_ENOMEM;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i], need, min;
        uint32_t cp;
        if (c < 0x80)
            need = 0, cp = c, min = 0;
        else if ((c & 0xe0) == 0xc0)
            need = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            need = 2, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            need = 3, cp = c & 0x07, min = 0x10000;
        else
            goto bad;
        if (len - i - 1 < need)
            goto bad;
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                goto bad;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0)
            goto bad;
        i += need + 1;
        if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000, hi = 0xd800 | (v >> 10), lo = 0xdc00 | (v & 0x3ff);
            o[n++] = (unsigned char)(hi >> 8), o[n++] = (unsigned char)hi;
            o[n++] = (unsigned char)(lo >> 8), o[n++] = (unsigned char)lo;
        } else {
            o[n++] = (unsigned char)(cp >> 8), o[n++] = (unsigned char)cp;
        }
    }
    o[n] = o[n + 1] = 0;
    *out = o;
    *out_len = n;
    return MINICA_OK;
bad:
    minica_free_secret(o, len * 4 + 2);
    return MINICA_EINVAL;
}

/* RFC 7292 B.2 with SHA-256 (u = 32, v = 64) for ID 3, the MAC key, of
 * exactly one hash output: one block, so no I_j update. pass is the
 * BMPString password with its two NUL bytes. */
static int mac_key(const unsigned char *pass, size_t pass_len, const unsigned char *salt,
                   size_t salt_len, unsigned iterations, unsigned char key[MAC_KEY_LEN],
                   struct minica_err *err)
{
    size_t s_len = SHA256_V * ((salt_len + SHA256_V - 1) / SHA256_V);
    size_t p_len = SHA256_V * ((pass_len + SHA256_V - 1) / SHA256_V);
    size_t total = SHA256_V + s_len + p_len;
    unsigned char *d = malloc(total);
    int ret = MINICA_OK;
    if (d == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    memset(d, 3, SHA256_V); /* D: the ID, v times */
    for (size_t i = 0; i < s_len; i++)
        d[SHA256_V + i] = salt[i % salt_len];
    for (size_t i = 0; i < p_len; i++)
        d[SHA256_V + s_len + i] = pass[i % pass_len];
    int r = minica_compat_sha256(d, total, key);
    for (unsigned i = 1; r == 0 && i < iterations; i++)
        r = minica_compat_sha256(key, MAC_KEY_LEN, key);
    if (r != 0)
        ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, r, "SHA-256 failed");
    minica_free_secret(d, total);
    return ret;
}

/* SET OF Attribute, its members sorted as DER wants (X.690 11.6). */
static void put_attributes(struct dbuf *b, const unsigned char *name16, size_t name16_len,
                           const unsigned char *key_id, size_t key_id_len)
{
    struct dbuf a[2], set, v;
    memset(a, 0, sizeof(a));
    memset(&set, 0, sizeof(set));
    memset(&v, 0, sizeof(v));
    /* friendlyName { SET { BMPString } } */
    put_oid(&a[0], oid_friendly_name, sizeof(oid_friendly_name));
    put_tlv(&v, MBEDTLS_ASN1_BMP_STRING, name16, name16_len);
    put_wrapped(&a[0], TAG_SET, &v);
    /* localKeyId { SET { OCTET STRING } } */
    put_oid(&a[1], oid_local_key_id, sizeof(oid_local_key_id));
    put_tlv(&v, MBEDTLS_ASN1_OCTET_STRING, key_id, key_id_len);
    put_wrapped(&a[1], TAG_SET, &v);
    struct dbuf s[2];
    memset(s, 0, sizeof(s));
    put_wrapped(&s[0], TAG_SEQ, &a[0]);
    put_wrapped(&s[1], TAG_SEQ, &a[1]);
    int first = 0;
    if (!s[0].failed && !s[1].failed) {
        size_t n = s[0].len < s[1].len ? s[0].len : s[1].len;
        int c = memcmp(s[0].p, s[1].p, n);
        first = c > 0 || (c == 0 && s[0].len > s[1].len);
    }
    for (int i = 0; i < 2; i++) {
        struct dbuf *one = &s[i ? 1 - first : first];
        if (one->failed)
            set.failed = 1;
        else
            put(&set, one->p, one->len);
    }
    dbuf_free(&s[0]);
    dbuf_free(&s[1]);
    put_wrapped(b, TAG_SET, &set);
}

/* SafeBag { certBag, [0] { CertBag { x509Certificate, [0] { OCTET STRING } } }, attrs } */
static void put_cert_bag(struct dbuf *safe, const mbedtls_x509_crt *crt,
                         const unsigned char *name16, size_t name16_len,
                         const unsigned char *key_id, size_t key_id_len)
{
    struct dbuf bag, cb, v, o;
    memset(&bag, 0, sizeof(bag));
    memset(&cb, 0, sizeof(cb));
    memset(&v, 0, sizeof(v));
    memset(&o, 0, sizeof(o));
    put_oid(&cb, oid_x509_cert, sizeof(oid_x509_cert));
    put_tlv(&o, MBEDTLS_ASN1_OCTET_STRING, crt->raw.p, crt->raw.len);
    put_wrapped(&cb, TAG_EXPLICIT0, &o);
    put_wrapped(&v, TAG_SEQ, &cb);
    put_oid(&bag, oid_cert_bag, sizeof(oid_cert_bag));
    put_wrapped(&bag, TAG_EXPLICIT0, &v);
    if (key_id != NULL)
        put_attributes(&bag, name16, name16_len, key_id, key_id_len);
    put_wrapped(safe, TAG_SEQ, &bag);
}

/* The value of a certificate's first CN (or, for minica's IP-only leaves,
 * OU) as the default friendly name. */
static int default_name(const mbedtls_x509_crt *crt, char *out, size_t outlen)
{
    static const char cn[] = MBEDTLS_OID_AT_CN, ou[] = MBEDTLS_OID_AT_ORG_UNIT;
    for (int pass = 0; pass < 2; pass++) {
        const char *want = pass == 0 ? cn : ou;
        size_t want_len = pass == 0 ? sizeof(cn) - 1 : sizeof(ou) - 1;
        for (const mbedtls_x509_name *n = &crt->subject; n != NULL; n = n->next) {
            if (n->oid.p == NULL || n->oid.len != want_len || memcmp(n->oid.p, want, want_len))
                continue;
            if (n->val.len == 0 || n->val.len >= outlen || memchr(n->val.p, 0, n->val.len))
                continue;
            memcpy(out, n->val.p, n->val.len);
            out[n->val.len] = '\0';
            return 1;
        }
    }
    return 0;
}

/* The PBES2 EncryptedPrivateKeyInfo pkcs8.c writes is { AlgorithmIdentifier,
 * OCTET STRING }: EncryptedContentInfo (RFC 5652 6.1) takes the same two
 * parts, the octets under [0] IMPLICIT. Encrypts plain into
 * EncryptedData { version 0, { data, alg, [0] ciphertext } }. */
static int put_encrypted_data(struct dbuf *b, const struct dbuf *plain, const unsigned char *pass,
                              size_t pass_len, unsigned iterations, struct minica_rng *rng,
                              struct minica_err *err)
{
    unsigned char *epki = NULL;
    size_t epki_len = 0;
    int ret = minica_pkcs8_encrypt_der(plain->p, plain->len, pass, pass_len, iterations, rng, &epki,
                                       &epki_len, err);
    if (ret != 0)
        return ret;
    unsigned char *q = epki, *end = epki + epki_len, *alg;
    size_t n = 0, alg_len = 0;
    if (mbedtls_asn1_get_tag(&q, end, &n, TAG_SEQ) != 0)
        goto bad;
    alg = q;
    if (mbedtls_asn1_get_tag(&q, end, &n, TAG_SEQ) != 0)
        goto bad;
    q += n;
    alg_len = (size_t)(q - alg);
    if (mbedtls_asn1_get_tag(&q, end, &n, MBEDTLS_ASN1_OCTET_STRING) != 0)
        goto bad;
    struct dbuf ed, eci;
    memset(&ed, 0, sizeof(ed));
    memset(&eci, 0, sizeof(eci));
    put_oid(&eci, oid_data, sizeof(oid_data));
    put(&eci, alg, alg_len);
    put_tlv(&eci, TAG_IMPLICIT0, q, n);
    put_uint(&ed, 0);
    put_wrapped(&ed, TAG_SEQ, &eci);
    put_wrapped(b, TAG_SEQ, &ed);
    free(epki);
    return MINICA_OK;
bad:
    free(epki);
    return minica_seterr(err, MINICA_ECRYPTO, "cannot encode the encrypted certificates");
}

static int check_input(const struct minica_pkcs12_input *in, struct minica_err *err)
{
    if (in->key_pem == NULL || in->cert_pem == NULL)
        return minica_seterr(err, MINICA_EINVAL, "a PKCS#12 file needs a key and a certificate");
    if (in->pass == NULL || in->pass_len == 0)
        return minica_seterr(err, MINICA_EINVAL,
                             "a PKCS#12 file needs a passphrase (Java keystores open none "
                             "without one)");
    if (in->pass_len > MINICA_PKCS12_PASSPHRASE_MAX)
        return minica_seterr(err, MINICA_EINVAL, "the passphrase is longer than %d bytes",
                             MINICA_PKCS12_PASSPHRASE_MAX);
    if (in->iterations != 0 && (in->iterations < MINICA_PKCS8_ITERATIONS_MIN ||
                                in->iterations > MINICA_PKCS8_ITERATIONS_MAX))
        return minica_seterr(err, MINICA_EINVAL, "PKCS#12 iteration count %u is outside %d..%d",
                             in->iterations, MINICA_PKCS8_ITERATIONS_MIN,
                             MINICA_PKCS8_ITERATIONS_MAX);
    return MINICA_OK;
}

int minica_pkcs12_build(const struct minica_pkcs12_input *in, unsigned char **der, size_t *der_len,
                        struct minica_err *err)
{
    *der = NULL;
    *der_len = 0;
    int ret = check_input(in, err);
    if (ret != 0)
        return ret;
    unsigned iterations = in->iterations ? in->iterations : MINICA_PKCS12_ITERATIONS;
    struct minica_rng rng;
    int have_rng = 0;
    mbedtls_pk_context pk;
    mbedtls_x509_crt leaf, chain;
    unsigned char *pass16 = NULL, *name16 = NULL, *pki = NULL, *epki = NULL;
    size_t pass16_len = 0, name16_len = 0, pki_len = 0, pki_cap = 0, epki_len = 0;
    unsigned char key_id[20], salt[MAC_SALT_LEN], mkey[MAC_KEY_LEN], mac[32];
    struct dbuf certs, keys, enc, ci, auth, pfx, tmp;
    memset(&certs, 0, sizeof(certs));
    memset(&keys, 0, sizeof(keys));
    memset(&enc, 0, sizeof(enc));
    memset(&ci, 0, sizeof(ci));
    memset(&auth, 0, sizeof(auth));
    memset(&pfx, 0, sizeof(pfx));
    memset(&tmp, 0, sizeof(tmp));
    mbedtls_pk_init(&pk);
    mbedtls_x509_crt_init(&leaf);
    mbedtls_x509_crt_init(&chain);

    if ((ret = minica_rng_init(&rng, err)) != 0)
        goto out;
    have_rng = 1;
    if ((ret = minica_crt_parse_pem_first(&leaf, in->cert_pem, err)) != 0) {
        minica_err_prefix(err, "the certificate");
        goto out;
    }
    if (minica_pkcs8_is_encrypted(in->key_pem)) {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "the private key is encrypted; a PKCS#12 file needs it in the clear");
        goto out;
    }
    if ((ret = minica_key_parse_pem(&pk, in->key_pem, strlen(in->key_pem), &rng, err)) != 0)
        goto out;
    if (!minica_pk_same_public(&leaf.pk, &pk)) {
        ret = minica_seterr(err, MINICA_EINVAL, "the private key is not the certificate's");
        goto out;
    }
    if (in->chain_pem != NULL && in->chain_pem[0] != '\0' &&
        (ret = minica_crt_parse_pem(&chain, in->chain_pem, err)) != 0) {
        minica_err_prefix(err, "the chain");
        goto out;
    }

    char fallback[256];
    const char *name = in->friendly_name;
    if (name == NULL && default_name(&leaf, fallback, sizeof(fallback)))
        name = fallback;
    if (name == NULL) {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "the certificate has no CN to name the entry: give a name");
        goto out;
    }
    if (name[0] == '\0' || strlen(name) > 255) {
        ret = minica_seterr(err, MINICA_EINVAL, "the friendly name must be 1 to 255 bytes");
        goto out;
    }
    if ((ret = utf8_to_utf16be((const unsigned char *)name, strlen(name), &name16, &name16_len)) !=
        0) {
        ret = ret == MINICA_ENOMEM ? minica_seterr(err, ret, "out of memory")
                                   : minica_seterr(err, ret, "the friendly name is not UTF-8");
        goto out;
    }
    if ((ret = utf8_to_utf16be(in->pass, in->pass_len, &pass16, &pass16_len)) != 0) {
        ret = ret == MINICA_ENOMEM
                  ? minica_seterr(err, ret, "out of memory")
                  : minica_seterr(err, ret,
                                  "the passphrase is not UTF-8 text (or holds a NUL byte), "
                                  "which PKCS#12 needs");
        goto out;
    }
    pass16_len += 2; /* B.1: the BMPString's two trailing NUL bytes count */

    /* localKeyId: the leaf's SHA-1, what OpenSSL puts there; an
     * identifier pairing the two bags, not a security function. */
    const mbedtls_md_info_t *sha1 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
    int r = sha1 ? minica_compat_md(sha1, leaf.raw.p, leaf.raw.len, key_id) : -1;
    if (r != 0) {
        ret = minica_seterr(err, MINICA_ECRYPTO, "cannot hash the certificate");
        goto out;
    }

    /* The certificates: the leaf with the attributes, then the chain. */
    put_cert_bag(&tmp, &leaf, name16, name16_len, key_id, sizeof(key_id));
    for (const mbedtls_x509_crt *c = &chain; c != NULL && c->raw.p != NULL; c = c->next) {
        if (c->raw.len == leaf.raw.len && memcmp(c->raw.p, leaf.raw.p, leaf.raw.len) == 0)
            continue;
        put_cert_bag(&tmp, c, NULL, 0, NULL, 0);
    }
    put_wrapped(&certs, TAG_SEQ, &tmp); /* SafeContents */
    if (certs.failed)
        goto nomem;
    if ((ret = put_encrypted_data(&enc, &certs, in->pass, in->pass_len, iterations, &rng, err)) !=
        0)
        goto out;
    /* ContentInfo { encryptedData, [0] EncryptedData } */
    put_oid(&ci, oid_encrypted_data, sizeof(oid_encrypted_data));
    put_wrapped(&ci, TAG_EXPLICIT0, &enc);
    put_wrapped(&auth, TAG_SEQ, &ci);

    /* The key: SafeContents { SafeBag { shroudedKeyBag, [0] EPKI, attrs } } */
    if ((ret = minica_pkcs8_private_key_info(&pk, &pki, &pki_len, &pki_cap, err)) != 0 ||
        (ret = minica_pkcs8_encrypt_der(pki, pki_len, in->pass, in->pass_len, iterations, &rng,
                                        &epki, &epki_len, err)) != 0)
        goto out;
    {
        struct dbuf bag, v, safe, octets;
        memset(&bag, 0, sizeof(bag));
        memset(&v, 0, sizeof(v));
        memset(&safe, 0, sizeof(safe));
        memset(&octets, 0, sizeof(octets));
        put_oid(&bag, oid_shrouded_key_bag, sizeof(oid_shrouded_key_bag));
        put_tlv(&bag, TAG_EXPLICIT0, epki, epki_len);
        put_attributes(&bag, name16, name16_len, key_id, sizeof(key_id));
        put_wrapped(&safe, TAG_SEQ, &bag);
        put_wrapped(&keys, TAG_SEQ, &safe);
        /* ContentInfo { data, [0] { OCTET STRING SafeContents } } */
        put_oid(&ci, oid_data, sizeof(oid_data));
        put_tlv(&octets, MBEDTLS_ASN1_OCTET_STRING, keys.p, keys.len);
        if (keys.failed)
            octets.failed = 1;
        put_wrapped(&ci, TAG_EXPLICIT0, &octets);
        put_wrapped(&auth, TAG_SEQ, &ci);
    }
    put_wrapped(&tmp, TAG_SEQ, &auth); /* AuthenticatedSafe */
    if (tmp.failed)
        goto nomem;

    /* MacData: HMAC-SHA256 over the AuthenticatedSafe's octets (RFC 7292 5.1). */
    if ((ret = minica_rng_bytes(&rng, salt, sizeof(salt), err)) != 0 ||
        (ret = mac_key(pass16, pass16_len, salt, sizeof(salt), iterations, mkey, err)) != 0)
        goto out;
    r = mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), mkey, sizeof(mkey), tmp.p,
                        tmp.len, mac);
    if (r != 0) {
        ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, r, "HMAC-SHA256 failed");
        goto out;
    }
    {
        struct dbuf body, octets, md, alg, di;
        memset(&body, 0, sizeof(body));
        memset(&octets, 0, sizeof(octets));
        memset(&md, 0, sizeof(md));
        memset(&alg, 0, sizeof(alg));
        memset(&di, 0, sizeof(di));
        put_uint(&body, 3); /* version v3 */
        put_oid(&ci, oid_data, sizeof(oid_data));
        put_tlv(&octets, MBEDTLS_ASN1_OCTET_STRING, tmp.p, tmp.len);
        put_wrapped(&ci, TAG_EXPLICIT0, &octets);
        put_wrapped(&body, TAG_SEQ, &ci);
        put_oid(&alg, oid_sha256, sizeof(oid_sha256));
        put_tlv(&alg, MBEDTLS_ASN1_NULL, NULL, 0);
        put_wrapped(&di, TAG_SEQ, &alg);
        put_tlv(&di, MBEDTLS_ASN1_OCTET_STRING, mac, sizeof(mac));
        put_wrapped(&md, TAG_SEQ, &di);
        put_tlv(&md, MBEDTLS_ASN1_OCTET_STRING, salt, sizeof(salt));
        put_uint(&md, iterations);
        put_wrapped(&body, TAG_SEQ, &md);
        put_wrapped(&pfx, TAG_SEQ, &body);
    }
    if (pfx.failed)
        goto nomem;
    *der = malloc(pfx.len);
    if (*der == NULL)
        goto nomem;
    memcpy(*der, pfx.p, pfx.len);
    *der_len = pfx.len;
    ret = MINICA_OK;
    goto out;
nomem:
    ret = minica_seterr(err, MINICA_ENOMEM, "out of memory (or a chain too large)");
out:
    mbedtls_platform_zeroize(mkey, sizeof(mkey));
    if (pass16 != NULL)
        minica_free_secret(pass16, in->pass_len * 4 + 2);
    free(name16);
    if (pki != NULL)
        minica_free_secret(pki, pki_cap);
    free(epki);
    dbuf_free(&certs);
    dbuf_free(&keys);
    dbuf_free(&enc);
    dbuf_free(&ci);
    dbuf_free(&auth);
    dbuf_free(&pfx);
    dbuf_free(&tmp);
    mbedtls_pk_free(&pk);
    mbedtls_x509_crt_free(&leaf);
    mbedtls_x509_crt_free(&chain);
    if (have_rng)
        minica_rng_free(&rng);
    return ret;
}

int minica_pkcs12_write(const char *path, const struct minica_pkcs12_input *in,
                        struct minica_err *err)
{
    /* The rename would replace a symlink such as /dev/stdout, or a device,
     * with the file: only a regular file (or none) is replaced. */
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return minica_seterr(err, MINICA_EINVAL,
                             "%s is not a regular file; a PKCS#12 file is only written to one",
                             path);
    unsigned char *der = NULL;
    size_t len = 0;
    int ret = minica_pkcs12_build(in, &der, &len, err);
    if (ret != 0)
        return ret;
    ret = minica_write_file_atomic(path, der, len, 0600, 0, err);
    free(der);
    return ret;
}

int minica_pkcs12_files_in_dir(const char *dir, const char *name, struct minica_pkcs12_files *out,
                               struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    struct minica_output_paths *paths = malloc(sizeof(*paths));
    if (paths == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    int ret = minica_output_paths(dir, name, paths, err);
    if (ret != 0)
        goto out;
    if (minica_file_exists(paths->cert) && minica_file_exists(paths->key)) {
        snprintf(out->key, sizeof(out->key), "%s", paths->key);
        snprintf(out->cert, sizeof(out->cert), "%s", paths->cert);
        if (minica_file_exists(paths->fullchain))
            snprintf(out->chain, sizeof(out->chain), "%s", paths->fullchain);
    } else if (minica_file_exists(paths->bundle)) {
        snprintf(out->key, sizeof(out->key), "%s", paths->bundle);
        snprintf(out->cert, sizeof(out->cert), "%s", paths->bundle);
        snprintf(out->chain, sizeof(out->chain), "%s", paths->bundle);
    } else {
        ret = minica_seterr(err, MINICA_ENOENT,
                            "no %s and %s, nor a bundle %s: is that where minica issue wrote "
                            "them (--certs DIR)?",
                            paths->cert, paths->key, paths->bundle);
    }
out:
    free(paths);
    return ret;
}

#define PEM_FILE_MAX (256 * 1024)

int minica_pkcs12_export(const struct minica_pkcs12_files *files, const char *friendly_name,
                         const unsigned char *pass, size_t pass_len, const char *out,
                         struct minica_err *err)
{
    char *key = NULL, *cert = NULL, *chain = NULL;
    size_t key_len = 0;
    char why[900];
    int ret;
    /* Before the passphrase is spent on anything: the pair, by name. */
    const char *certs[1] = {files->cert};
    int match = minica_key_files_match(files->key, certs, 1, why, sizeof(why));
    if (match != 1)
        return minica_seterr(err, MINICA_EINVAL, "%s", why);
    if ((ret = minica_read_file(files->key, PEM_FILE_MAX, &key, &key_len, err)) != 0 ||
        (ret = minica_read_file(files->cert, PEM_FILE_MAX, &cert, NULL, err)) != 0 ||
        (files->chain[0] != '\0' &&
         (ret = minica_read_file(files->chain, PEM_FILE_MAX, &chain, NULL, err)) != 0))
        goto out;
    struct minica_pkcs12_input in;
    memset(&in, 0, sizeof(in));
    in.key_pem = key;
    in.cert_pem = cert;
    in.chain_pem = chain;
    in.friendly_name = friendly_name;
    in.pass = pass;
    in.pass_len = pass_len;
    ret = minica_pkcs12_write(out, &in, err);
out:
    if (key != NULL)
        minica_free_secret(key, key_len);
    /* A bundle holds the key too. */
    if (cert != NULL)
        minica_free_secret(cert, strlen(cert));
    if (chain != NULL)
        minica_free_secret(chain, strlen(chain));
    return ret;
}
