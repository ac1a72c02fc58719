/* X.509 v2 CRLs (RFC 5280 section 5), which mbedTLS 2.28 can parse but not
 * write: the TBSCertList is built with mbedtls_asn1_write_* (backwards, as
 * those functions write) and signed through the compat layer. Not a CRL
 * distribution point or OCSP responder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>

#include "ca/ca_internal.h"
#include "minica/crl.h"
#include "minica/duration.h"
#include "minica/fsutil.h"

/* id-ce-cRLReasons { id-ce 21 } */
#define OID_CRL_REASON MBEDTLS_OID_ID_CE "\x15"

struct crl_entry {
    unsigned char serial[20];
    size_t serial_len;
    int64_t revoked_at;
    int reason;
};

struct entries {
    struct crl_entry *items;
    size_t n, cap;
    int64_t now;
    const char *issuer_fp;
};

/* Each writer returns the bytes it wrote (>= 0) or a negative mbedTLS code,
 * like mbedtls_asn1_write_*, so they nest with ADD(). */
#define ADD(len, expr)                                                                             \
    do {                                                                                           \
        int r_ = (expr);                                                                           \
        if (r_ < 0)                                                                                \
            return r_;                                                                             \
        (len) += (size_t)r_;                                                                       \
    } while (0)

static int write_header(unsigned char **p, unsigned char *start, size_t len, unsigned char tag)
{
    size_t n = 0;
    ADD(n, mbedtls_asn1_write_len(p, start, len));
    ADD(n, mbedtls_asn1_write_tag(p, start, tag));
    return (int)n;
}

static int write_seq(unsigned char **p, unsigned char *start, size_t len)
{
    return write_header(p, start, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
}

/* A positive INTEGER from big-endian bytes, in its minimal DER form. */
static int write_uint_bytes(unsigned char **p, unsigned char *start, const unsigned char *b,
                            size_t blen)
{
    size_t n = 0;
    while (blen > 1 && b[0] == 0) {
        b++;
        blen--;
    }
    ADD(n, mbedtls_asn1_write_raw_buffer(p, start, b, blen));
    if (b[0] & 0x80) {
        if (*p - start < 1)
            return MBEDTLS_ERR_ASN1_BUF_TOO_SMALL;
        *--(*p) = 0;
        n++;
    }
    ADD(n, write_header(p, start, n, MBEDTLS_ASN1_INTEGER));
    return (int)n;
}

static int write_uint64(unsigned char **p, unsigned char *start, uint64_t v)
{
    unsigned char b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    return write_uint_bytes(p, start, b, sizeof(b));
}

/* RFC 5280 5.1.2.4: UTCTime through 2049, GeneralizedTime from 2050. */
static int write_time(unsigned char **p, unsigned char *start, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char s[20];
    gmtime_r(&tt, &tm);
    int year = tm.tm_year + 1900;
    if (year < 2050) {
        snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02dZ", year % 100, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        return mbedtls_asn1_write_tagged_string(p, start, MBEDTLS_ASN1_UTC_TIME, s, strlen(s));
    }
    snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ", year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    return mbedtls_asn1_write_tagged_string(p, start, MBEDTLS_ASN1_GENERALIZED_TIME, s, strlen(s));
}

/* Extension ::= SEQUENCE { extnID, extnValue OCTET STRING } around the
 * value_len bytes just written (non-critical: the BOOLEAN DEFAULT is omitted). */
static int wrap_ext(unsigned char **p, unsigned char *start, size_t value_len, const char *oid,
                    size_t oid_len)
{
    size_t n = 0;
    ADD(n, write_header(p, start, value_len, MBEDTLS_ASN1_OCTET_STRING));
    ADD(n, mbedtls_asn1_write_oid(p, start, oid, oid_len));
    ADD(n, write_seq(p, start, value_len + n));
    return (int)n;
}

static int write_entry(unsigned char **p, unsigned char *start, const struct crl_entry *e)
{
    size_t n = 0;
    if (e->reason != MINICA_REASON_UNSPECIFIED) {
        /* RFC 5280 5.3.1: reasonCode unspecified SHOULD be absent. */
        size_t v = 0, ext = 0;
        ADD(v, mbedtls_asn1_write_enum(p, start, e->reason));
        ADD(ext, wrap_ext(p, start, v, OID_CRL_REASON, MBEDTLS_OID_SIZE(OID_CRL_REASON)));
        ext += v;
        ADD(n, write_seq(p, start, ext));
        n += ext;
    }
    ADD(n, write_time(p, start, e->revoked_at));
    ADD(n, write_uint_bytes(p, start, e->serial, e->serial_len));
    ADD(n, write_seq(p, start, n));
    return (int)n;
}

/* AlgorithmIdentifier: ECDSA without parameters (RFC 5758 3.2), RSA with NULL. */
static int write_sig_alg(unsigned char **p, unsigned char *start, mbedtls_pk_type_t pk,
                         mbedtls_md_type_t md)
{
    const char *oid;
    size_t oid_len, n = 0;
    int r = mbedtls_oid_get_oid_by_sig_alg(pk, md, &oid, &oid_len);
    if (r != 0)
        return r;
    if (pk != MBEDTLS_PK_ECDSA)
        ADD(n, mbedtls_asn1_write_null(p, start));
    ADD(n, mbedtls_asn1_write_oid(p, start, oid, oid_len));
    ADD(n, write_seq(p, start, n));
    return (int)n;
}

struct tbs_params {
    const mbedtls_x509_crt *issuer;
    const unsigned char *key_id;
    size_t key_id_len;
    mbedtls_pk_type_t pk;
    mbedtls_md_type_t md;
    int64_t this_update, next_update, number;
    const struct entries *entries;
};

static int write_tbs(unsigned char **p, unsigned char *start, const struct tbs_params *t)
{
    size_t n = 0, exts = 0, v;

    /* crlExtensions [0] EXPLICIT Extensions: cRLNumber, authorityKeyIdentifier. */
    v = 0;
    ADD(v, write_uint64(p, start, (uint64_t)t->number));
    ADD(exts,
        wrap_ext(p, start, v, MBEDTLS_OID_CRL_NUMBER, MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_NUMBER)));
    exts += v;
    v = 0;
    ADD(v, mbedtls_asn1_write_raw_buffer(p, start, t->key_id, t->key_id_len));
    ADD(v, write_header(p, start, v, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0)); /* keyIdentifier [0] */
    ADD(v, write_seq(p, start, v));
    ADD(exts, wrap_ext(p, start, v, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
                       MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER)));
    exts += v;
    ADD(exts, write_seq(p, start, exts));
    ADD(exts,
        write_header(p, start, exts, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0));
    n += exts;

    /* revokedCertificates is absent, not empty, when nothing is revoked (5.1.2.6). */
    if (t->entries->n > 0) {
        size_t list = 0;
        for (size_t i = t->entries->n; i-- > 0;)
            ADD(list, write_entry(p, start, &t->entries->items[i]));
        ADD(list, write_seq(p, start, list));
        n += list;
    }
    ADD(n, write_time(p, start, t->next_update));
    ADD(n, write_time(p, start, t->this_update));
    /* The issuer's subject byte for byte, so name matching cannot differ. */
    ADD(n, mbedtls_asn1_write_raw_buffer(p, start, t->issuer->subject_raw.p,
                                         t->issuer->subject_raw.len));
    ADD(n, write_sig_alg(p, start, t->pk, t->md));
    ADD(n, mbedtls_asn1_write_int(p, start, 1)); /* v2 */
    ADD(n, write_seq(p, start, n));
    return (int)n;
}

/* The issuer's key identifier as mbedTLS computes it for the certificates'
 * SKI/AKI: SHA-1 of the subjectPublicKey BIT STRING's contents (RFC 5280
 * 4.2.1.2 method 1). */
static int key_id_of(const mbedtls_x509_crt *crt, unsigned char out[20], struct minica_err *err)
{
    unsigned char *p = crt->pk_raw.p;
    const unsigned char *end = p + crt->pk_raw.len;
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0 ||
        mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "cannot read the issuer's public key");
    p += len;
    if (mbedtls_asn1_get_bitstring_null(&p, end, &len) != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "cannot read the issuer's public key");
    const mbedtls_md_info_t *sha1 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
    if (sha1 == NULL || minica_compat_md(sha1, p, len, out) != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "cannot hash the issuer's public key");
    return MINICA_OK;
}

static int hex_to_bytes(const char *hex, unsigned char *out, size_t outlen, size_t *len)
{
    size_t n = strlen(hex);
    if (n == 0 || n % 2 || n / 2 > outlen)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    *len = n / 2;
    return 0;
}

static int collect_revoked(const struct minica_cert_row *row, void *ctx)
{
    struct entries *e = ctx;
    /* Expired certificates fail on their own; RFC 5280 5.1.2.6 lets them go. */
    if (row->not_after < e->now)
        return 0;
    /* Only what this intermediate signed belongs on its CRL. */
    if (strcmp(row->issuer_fingerprint_sha256, e->issuer_fp) != 0)
        return 0;
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 16;
        struct crl_entry *items = realloc(e->items, ncap * sizeof(*items));
        if (items == NULL)
            return MINICA_ENOMEM;
        e->items = items;
        e->cap = ncap;
    }
    struct crl_entry *it = &e->items[e->n];
    memset(it, 0, sizeof(*it));
    if (hex_to_bytes(row->serial, it->serial, sizeof(it->serial), &it->serial_len) != 0)
        return MINICA_EINVAL;
    it->revoked_at = row->revoked_at;
    it->reason = row->revoke_reason;
    e->n++;
    return 0;
}

void minica_crl_init(struct minica_crl *crl)
{
    memset(crl, 0, sizeof(*crl));
}

void minica_crl_free(struct minica_crl *crl)
{
    if (crl == NULL)
        return;
    free(crl->der);
    free(crl->pem);
    memset(crl, 0, sizeof(*crl));
}

static int sign_crl(const struct tbs_params *t, mbedtls_pk_context *key, struct minica_rng *rng,
                    struct minica_crl *out, struct minica_err *err)
{
    size_t size = 2048 + t->entries->n * 96;
    unsigned char *tbs_buf = malloc(size), alg_buf[32];
    int ret;
    if (tbs_buf == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    unsigned char *p = tbs_buf + size, *a = alg_buf + sizeof(alg_buf);
    int tbs_len = write_tbs(&p, tbs_buf, t);
    int alg_len = write_sig_alg(&a, alg_buf, t->pk, t->md);
    if (tbs_len < 0 || alg_len < 0) {
        ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, tbs_len < 0 ? tbs_len : alg_len,
                                    "cannot encode the CRL");
        goto out;
    }
    struct minica_der_part body = {p, (size_t)tbs_len}, alg = {a, (size_t)alg_len};
    if ((ret = minica_sign_body(&body, &alg, key, rng, &out->der, &out->der_len, err)) != 0)
        goto out;
    ret = minica_der_to_pem(out->der, out->der_len, "X509 CRL", &out->pem, err);
out:
    free(tbs_buf);
    return ret;
}

int minica_ca_crl(struct minica_ca *ca, const struct minica_crl_options *opts,
                  struct minica_crl *out, struct minica_err *err)
{
    minica_crl_init(out);
    int root = opts && opts->root;
    int64_t next = opts && opts->next_update ? opts->next_update : MINICA_CRL_DEFAULT_NEXT_UPDATE;
    struct entries entries = {.now = minica_now(), .issuer_fp = ca->intermediate_fp};
    mbedtls_pk_context root_key;
    mbedtls_pk_init(&root_key);
    unsigned char key_id[20];
    int ret, in_tx = 0;

    const mbedtls_x509_crt *issuer = root ? ca->root : ca->intermediate;
    mbedtls_pk_context *key = &ca->intermediate_key;
    if (root) {
        /* The root key may live offline; then only the intermediate's CRL can be made here. */
        if ((ret = minica_ca_load_ca_key(ca, (size_t)ca->hier.active_root, &root_key, err)) != 0) {
            minica_err_prefix(err, "the root CRL needs the root key");
            goto out;
        }
        key = &root_key;
    } else {
        /* No intermediate revocation exists yet, so the root's list stays empty. */
        struct minica_cert_filter filter;
        memset(&filter, 0, sizeof(filter));
        filter.status_mask = MINICA_STATUS_REVOKED;
        filter.now = entries.now;
        ret = minica_store_list_certs(ca->store, &filter, collect_revoked, &entries, err);
        if (ret == MINICA_ENOMEM || ret == MINICA_EINVAL) {
            ret = minica_seterr(err, ret,
                                ret == MINICA_ENOMEM ? "out of memory"
                                                     : "a serial in the inventory is malformed");
            goto out;
        }
        if (ret != 0)
            goto out;
    }
    if ((ret = key_id_of(issuer, key_id, err)) != 0)
        goto out;

    if ((ret = minica_store_begin(ca->store, err)) != 0)
        goto out;
    in_tx = 1;
    int64_t number = 0;
    if ((ret = minica_store_next_crl_number(ca->store, root ? "root" : "intermediate", &number,
                                            err)) != 0)
        goto out;
    struct tbs_params t = {
        .issuer = issuer,
        .key_id = key_id,
        .key_id_len = sizeof(key_id),
        .pk = mbedtls_pk_can_do(key, MBEDTLS_PK_ECDSA) ? MBEDTLS_PK_ECDSA : MBEDTLS_PK_RSA,
        .md = minica_key_md(key),
        .this_update = entries.now,
        .next_update = entries.now + next,
        .number = number,
        .entries = &entries,
    };
    if ((ret = sign_crl(&t, key, &ca->rng, out, err)) != 0)
        goto out;
    out->number = number;
    out->n_revoked = entries.n;
    out->this_update = t.this_update;
    out->next_update = t.next_update;

    char summary[256], next_text[64];
    minica_duration_format(next, next_text, sizeof(next_text));
    snprintf(summary, sizeof(summary), "crl %s number=%lld revoked=%zu next_update=%s",
             root ? "root" : "intermediate", (long long)number, entries.n, next_text);
    if ((ret = minica_ca_audit(ca, summary, err)) != 0 ||
        (ret = minica_store_commit(ca->store, err)) != 0)
        goto out;
    in_tx = 0;
out:
    if (in_tx)
        minica_store_rollback(ca->store);
    if (ret != 0)
        minica_crl_free(out);
    free(entries.items);
    mbedtls_pk_free(&root_key);
    return ret;
}

int minica_crl_write(const struct minica_crl *crl, const char *path, int der,
                     struct minica_err *err)
{
    if (der)
        return minica_write_file_atomic(path, crl->der, crl->der_len, 0644, 0, err);
    return minica_write_file_atomic(path, crl->pem, strlen(crl->pem), 0644, 0, err);
}
