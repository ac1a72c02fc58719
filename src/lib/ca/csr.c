/* Certificate signing requests: parse, check the self-signature (mbedTLS
 * parses CSRs without verifying them), and read the names asked for. Uses
 * only CSR fields that mbedTLS 3.6 keeps public (sig_oid, subject, pk).
 *
 * An empty subject (a SEQUENCE of no RDNs, with the names only in the SAN)
 * is what certbot sends and what RFC 5280 4.1.2.6 allows, but mbedTLS (2.28
 * and 3.6) refuses to parse it. Such a CSR is handed to mbedTLS with a
 * one-RDN placeholder in place of the empty Name, only for parsing; the
 * signature is verified, and the names are read, over the original bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>

#include "base/compat.h"
#include "ca/x509.h"
#include "minica/der.h"
#include "minica/names.h"

/* The CSR as it was sent, and where its parts are in it (RFC 2986 4):
 * SEQUENCE { info SEQUENCE { version, subject Name, subjectPKInfo,
 * [0] attributes }, signatureAlgorithm, signature BIT STRING }. */
struct csr_der {
    unsigned char *der;
    size_t len;
    struct minica_der_signed outer;                       /* outer.body is the signed info */
    struct minica_der_part version, subject, spki, attrs; /* the info's four */
};

/* CN=? (a UTF8String), what mbedTLS and OpenSSL write for it: stands in for
 * an empty subject while mbedTLS parses; never signed, verified or read. */
static const unsigned char placeholder_name[] = {0x30, 0x0c, 0x31, 0x0a, 0x30, 0x08, 0x06,
                                                 0x03, 0x55, 0x04, 0x03, 0x0c, 0x01, '?'};

static int csr_der_split(struct csr_der *d, struct minica_err *err)
{
    if (minica_der_split_signed(d->der, d->len, &d->outer, err) != 0)
        return minica_seterr(err, MINICA_EINVAL, "cannot parse the CSR: malformed DER");
    unsigned char *p = (unsigned char *)d->outer.body.p;
    const unsigned char *end = d->outer.body.p + d->outer.body.len;
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return minica_seterr(err, MINICA_EINVAL, "cannot parse the CSR: malformed DER");
    const unsigned char *q = p;
    if (minica_der_next_tlv(&q, end, &d->version) != 0 ||
        minica_der_next_tlv(&q, end, &d->subject) != 0 ||
        minica_der_next_tlv(&q, end, &d->spki) != 0 ||
        minica_der_next_tlv(&q, end, &d->attrs) != 0 || q != end ||
        d->version.p[0] != MBEDTLS_ASN1_INTEGER ||
        d->subject.p[0] != (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) ||
        d->spki.p[0] != (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) ||
        d->attrs.p[0] != (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED))
        return minica_seterr(err, MINICA_EINVAL, "cannot parse the CSR: malformed DER");
    return MINICA_OK;
}

/* The first CERTIFICATE REQUEST block of pem, as mbedtls_x509_csr_parse
 * reads it, into d->der. */
static int csr_der_from_pem(struct csr_der *d, const char *pem, struct minica_err *err)
{
    static const char *const labels[][2] = {
        {"-----BEGIN CERTIFICATE REQUEST-----", "-----END CERTIFICATE REQUEST-----"},
        {"-----BEGIN NEW CERTIFICATE REQUEST-----", "-----END NEW CERTIFICATE REQUEST-----"},
    };
    int ret = MBEDTLS_ERR_PEM_NO_HEADER_FOOTER_PRESENT;
    for (size_t i = 0; i < 2 && ret == MBEDTLS_ERR_PEM_NO_HEADER_FOOTER_PRESENT; i++) {
        mbedtls_pem_context ctx;
        mbedtls_pem_init(&ctx);
        size_t used = 0, len = 0;
        ret = mbedtls_pem_read_buffer(&ctx, labels[i][0], labels[i][1], (const unsigned char *)pem,
                                      NULL, 0, &used);
        const unsigned char *der = ret == 0 ? minica_compat_pem_der(&ctx, &len) : NULL;
        if (der != NULL && (d->der = malloc(len > 0 ? len : 1)) == NULL) {
            mbedtls_pem_free(&ctx);
            return minica_seterr(err, MINICA_ENOMEM, "out of memory");
        }
        if (der != NULL) {
            memcpy(d->der, der, len);
            d->len = len;
        }
        mbedtls_pem_free(&ctx);
    }
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_EINVAL, ret, "cannot parse the CSR");
    return MINICA_OK;
}

/* Parses d->der into csr (for its key and subject) and the rest of d (for
 * the bytes that were signed). */
static int csr_parse(mbedtls_x509_csr *csr, struct csr_der *d, struct minica_err *err)
{
    int ret;
    if ((ret = csr_der_split(d, err)) != 0)
        return ret;
    if (d->subject.len != 2) { /* not 30 00 */
        if ((ret = mbedtls_x509_csr_parse_der(csr, d->der, d->len)) != 0)
            return minica_seterr_mbedtls(err, MINICA_EINVAL, ret, "cannot parse the CSR");
        return MINICA_OK;
    }
    struct minica_der_part info_parts[4] = {
        d->version, {placeholder_name, sizeof(placeholder_name)}, d->spki, d->attrs};
    unsigned char *info = NULL, *whole = NULL;
    size_t info_len = 0, whole_len = 0;
    if ((ret = minica_der_sequence(info_parts, 4, &info, &info_len, err)) != 0)
        return ret;
    struct minica_der_part parts[3] = {{info, info_len}, d->outer.alg, d->outer.sig};
    ret = minica_der_sequence(parts, 3, &whole, &whole_len, err);
    free(info);
    if (ret != 0)
        return ret;
    ret = mbedtls_x509_csr_parse_der(csr, whole, whole_len); /* takes a copy */
    free(whole);
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_EINVAL, ret, "cannot parse the CSR");
    /* The placeholder is one RDN of one attribute: nothing chained to free. */
    memset(&csr->subject, 0, sizeof(csr->subject));
    memset(&csr->subject_raw, 0, sizeof(csr->subject_raw));
    return MINICA_OK;
}

static int csr_load(mbedtls_x509_csr *csr, struct csr_der *d, const char *pem,
                    struct minica_err *err)
{
    memset(d, 0, sizeof(*d));
    int ret = csr_der_from_pem(d, pem, err);
    return ret != 0 ? ret : csr_parse(csr, d, err);
}

static int csr_signature(const struct csr_der *d, const unsigned char **sig, size_t *sig_len)
{
    unsigned char *p = (unsigned char *)d->outer.sig.p;
    mbedtls_asn1_bitstring bs;
    if (mbedtls_asn1_get_bitstring(&p, d->outer.sig.p + d->outer.sig.len, &bs) != 0 ||
        bs.unused_bits != 0)
        return -1;
    *sig = bs.p;
    *sig_len = bs.len;
    return 0;
}

/* Calls fn with the Extensions (the SET's contents) of each extensionRequest
 * attribute (PKCS#9) of the CSR, in order, until fn returns non-zero: 1
 * stops the walk with MINICA_OK, anything else is returned. */
typedef int (*csr_ext_fn)(const unsigned char *exts, size_t len, void *ctx, struct minica_err *err);
static int csr_each_ext_request(const struct csr_der *d, csr_ext_fn fn, void *ctx,
                                struct minica_err *err)
{
    unsigned char *p = (unsigned char *)d->attrs.p;
    const unsigned char *end = d->attrs.p + d->attrs.len;
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len,
                             MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED) != 0)
        return minica_seterr(err, MINICA_EINVAL, "malformed CSR attributes");
    const unsigned char *attrs_end = p + len;
    while (p < attrs_end) {
        size_t alen, olen, slen;
        if (mbedtls_asn1_get_tag(&p, attrs_end, &alen,
                                 MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
            return minica_seterr(err, MINICA_EINVAL, "malformed CSR attribute");
        const unsigned char *attr_end = p + alen;
        if (mbedtls_asn1_get_tag(&p, attr_end, &olen, MBEDTLS_ASN1_OID) != 0)
            return minica_seterr(err, MINICA_EINVAL, "malformed CSR attribute");
        int is_ext = olen == MBEDTLS_OID_SIZE(MBEDTLS_OID_PKCS9_CSR_EXT_REQ) &&
                     memcmp(p, MBEDTLS_OID_PKCS9_CSR_EXT_REQ, olen) == 0;
        p += olen;
        if (is_ext) {
            if (mbedtls_asn1_get_tag(&p, attr_end, &slen,
                                     MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SET) != 0)
                return minica_seterr(err, MINICA_EINVAL, "malformed CSR extensions");
            int ret = fn(p, slen, ctx, err);
            if (ret == 1)
                return MINICA_OK;
            if (ret != 0)
                return ret;
        }
        p = (unsigned char *)attr_end;
    }
    return MINICA_OK;
}

struct san_text {
    char *out;
    size_t outlen;
};

static int san_of_exts(const unsigned char *exts, size_t len, void *ctx, struct minica_err *err)
{
    struct san_text *t = ctx;
    int ret = minica_der_find_san(exts, len, t->out, t->outlen, err);
    if (ret != 0) {
        minica_err_prefix(err, "CSR");
        return ret;
    }
    return t->out[0] != '\0';
}

/* Finds the subjectAltName in the extensionRequest attributes. */
static int csr_sans(const struct csr_der *d, char *out, size_t outlen, struct minica_err *err)
{
    struct san_text t = {out, outlen};
    out[0] = '\0';
    return csr_each_ext_request(d, san_of_exts, &t, err);
}

struct ext_span {
    const unsigned char **p;
    size_t *len;
};

static int first_exts(const unsigned char *exts, size_t len, void *ctx, struct minica_err *err)
{
    (void)err;
    struct ext_span *span = ctx;
    *span->p = exts;
    *span->len = len;
    return 1;
}

static int csr_names(const mbedtls_x509_csr *csr, const struct csr_der *d, char *cn, size_t cnlen,
                     char *sans, size_t sanslen, struct minica_err *err)
{
    cn[0] = '\0';
    for (const mbedtls_x509_name *n = &csr->subject; n != NULL; n = n->next) {
        if (n->oid.p != NULL && n->oid.len == MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN) &&
            memcmp(n->oid.p, MBEDTLS_OID_AT_CN, n->oid.len) == 0) {
            if (n->val.len >= cnlen || memchr(n->val.p, 0, n->val.len) != NULL)
                return minica_seterr(err, MINICA_EINVAL, "the CSR's common name is invalid");
            memcpy(cn, n->val.p, n->val.len);
            cn[n->val.len] = '\0';
        }
    }
    return csr_sans(d, sans, sanslen, err);
}

static void receipt_of(const char *pem, struct minica_csr_receipt *receipt)
{
    minica_sha256_hex((const unsigned char *)pem, strlen(pem), receipt->pem_sha256);
}

/* trusted: a receipt for these exact bytes means the signature was checked
 * already (minica_csr_precheck), outside the CA's lock; the rest is checked
 * again, it is cheap. fast: an ECDSA verifier to try before mbedTLS. */
static int csr_verify(mbedtls_x509_csr *csr, const struct csr_der *d, const char *pem,
                      const struct minica_csr_receipt *trusted, minica_ecdsa_verifier fast,
                      struct minica_err *err)
{
    mbedtls_md_type_t md;
    mbedtls_pk_type_t pk_alg;
    const unsigned char *sig;
    size_t sig_len;
    if (mbedtls_oid_get_sig_alg(&csr->sig_oid, &md, &pk_alg) != 0 ||
        csr_signature(d, &sig, &sig_len) != 0)
        return minica_seterr(err, MINICA_EINVAL, "the CSR's signature is malformed");
    if (!mbedtls_pk_can_do(&csr->pk, pk_alg))
        return minica_seterr(err, MINICA_EINVAL,
                             "the CSR's signature algorithm does not match its key");
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(md);
    if (info == NULL || md == MBEDTLS_MD_SHA1 || md == MBEDTLS_MD_MD5)
        return minica_seterr(err, MINICA_EINVAL, "the CSR uses an unsupported or weak digest");
    int ret, verified = 0;
    if (trusted != NULL) {
        struct minica_csr_receipt now;
        receipt_of(pem, &now);
        verified = strcmp(now.pem_sha256, trusted->pem_sha256) == 0;
    }
    if (!verified && fast != NULL && pk_alg == MBEDTLS_PK_ECDSA &&
        (md == MBEDTLS_MD_SHA256 || md == MBEDTLS_MD_SHA384)) {
        /* The key as mbedTLS read it, so that both check the same key,
         * and the info exactly as the client signed it, never the
         * placeholder. */
        unsigned char spki[200];
        int n = mbedtls_pk_write_pubkey_der(&csr->pk, spki, sizeof(spki)); /* at the end */
        int v = n <= 0 ? -1
                       : fast(md == MBEDTLS_MD_SHA384, spki + sizeof(spki) - (size_t)n, (size_t)n,
                              d->outer.body.p, d->outer.body.len, sig, sig_len);
        if (v == 0)
            return minica_seterr(err, MINICA_EINVAL, "the CSR's signature is invalid");
        verified = v == 1;
    }
    if (!verified) {
        unsigned char hash[MBEDTLS_MD_MAX_SIZE];
        ret = minica_compat_md(info, d->outer.body.p, d->outer.body.len, hash);
        if (ret != 0)
            return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot hash the CSR");
        ret = mbedtls_pk_verify(&csr->pk, md, hash, mbedtls_md_get_size(info), sig, sig_len);
        if (ret != 0)
            return minica_seterr(err, MINICA_EINVAL, "the CSR's signature is invalid");
    }
    enum minica_key_type kt;
    if ((ret = minica_key_check_issuable(&csr->pk, &kt, err)) != 0) {
        minica_err_prefix(err, "the CSR's key");
        return ret;
    }
    return MINICA_OK;
}

int minica_csr_parse_verified(mbedtls_x509_csr *csr, const char *pem,
                              const struct minica_csr_receipt *receipt, char *cn, size_t cnlen,
                              char *sans, size_t sanslen, struct minica_err *err)
{
    struct csr_der d;
    int ret = csr_load(csr, &d, pem, err);
    if (ret == 0)
        ret = csr_verify(csr, &d, pem, receipt, NULL, err);
    if (ret == 0)
        ret = csr_names(csr, &d, cn, cnlen, sans, sanslen, err);
    free(d.der);
    return ret;
}

int minica_csr_precheck(const char *pem, minica_ecdsa_verifier fast,
                        struct minica_csr_receipt *receipt, struct minica_err *err)
{
    mbedtls_x509_csr csr;
    mbedtls_x509_csr_init(&csr);
    struct csr_der d;
    int ret = csr_load(&csr, &d, pem, err);
    if (ret == 0)
        ret = csr_verify(&csr, &d, pem, NULL, fast, err);
    if (ret == 0)
        receipt_of(pem, receipt);
    free(d.der);
    mbedtls_x509_csr_free(&csr);
    return ret;
}

int minica_csr_names_unverified(const char *pem, char *cn, size_t cnlen, char *sans, size_t sanslen,
                                struct minica_err *err)
{
    mbedtls_x509_csr csr;
    mbedtls_x509_csr_init(&csr);
    struct csr_der d;
    int ret = csr_load(&csr, &d, pem, err);
    if (ret == 0)
        ret = csr_names(&csr, &d, cn, cnlen, sans, sanslen, err);
    free(d.der);
    mbedtls_x509_csr_free(&csr);
    return ret;
}

int minica_csr_parse_der_unverified(mbedtls_x509_csr *csr, const unsigned char *der, size_t len,
                                    const unsigned char **exts, size_t *exts_len,
                                    struct minica_err *err)
{
    struct csr_der d;
    memset(&d, 0, sizeof(d));
    d.der = (unsigned char *)der; /* only read: csr_parse never writes or frees it */
    d.len = len;
    *exts = NULL;
    *exts_len = 0;
    int ret = csr_parse(csr, &d, err);
    if (ret != 0)
        return ret;
    /* The first extensionRequest attribute, as csr_sans walks them. */
    struct ext_span span = {exts, exts_len};
    return csr_each_ext_request(&d, first_exts, &span, err);
}
