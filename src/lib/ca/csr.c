/* Certificate signing requests: parse, check the self-signature (mbedTLS
 * parses CSRs without verifying them), and read the names asked for. Uses
 * only CSR fields that mbedTLS 3.6 keeps public (raw, cri, sig_oid, subject, pk). */
#include <stdio.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>

#include "ca/x509.h"
#include "minica/der.h"
#include "minica/names.h"

static int csr_signature(const mbedtls_x509_csr *csr, const unsigned char **sig, size_t *sig_len)
{
    unsigned char *p = csr->raw.p;
    const unsigned char *end = csr->raw.p + csr->raw.len;
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return -1;
    p = csr->cri.p + csr->cri.len; /* skip CertificationRequestInfo */
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return -1;
    p += len; /* skip signatureAlgorithm */
    mbedtls_asn1_bitstring bs;
    if (mbedtls_asn1_get_bitstring(&p, end, &bs) != 0 || bs.unused_bits != 0)
        return -1;
    *sig = bs.p;
    *sig_len = bs.len;
    return 0;
}

/* Finds the subjectAltName in the extensionRequest attribute (PKCS#9). */
static int csr_sans(const mbedtls_x509_csr *csr, char *out, size_t outlen, struct minica_err *err)
{
    unsigned char *p = csr->cri.p;
    const unsigned char *end = csr->cri.p + csr->cri.len;
    size_t len;
    int version;
    out[0] = '\0';
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0 ||
        mbedtls_asn1_get_int(&p, end, &version) != 0)
        return minica_seterr(err, MINICA_EINVAL, "malformed CSR");
    for (int i = 0; i < 2; i++) { /* subject, subjectPKInfo */
        if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0)
            return minica_seterr(err, MINICA_EINVAL, "malformed CSR");
        p += len;
    }
    if (p == end)
        return MINICA_OK;
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
        if (!is_ext) {
            p = (unsigned char *)attr_end;
            continue;
        }
        if (mbedtls_asn1_get_tag(&p, attr_end, &slen,
                                 MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SET) != 0)
            return minica_seterr(err, MINICA_EINVAL, "malformed CSR extensions");
        int ret = minica_der_find_san(p, slen, out, outlen, err);
        if (ret != 0) {
            minica_err_prefix(err, "CSR");
            return ret;
        }
        if (out[0] != '\0')
            return MINICA_OK;
        p = (unsigned char *)attr_end;
    }
    return MINICA_OK;
}

static int csr_names(const mbedtls_x509_csr *csr, char *cn, size_t cnlen, char *sans,
                     size_t sanslen, struct minica_err *err)
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
    return csr_sans(csr, sans, sanslen, err);
}

int minica_csr_parse_verified(mbedtls_x509_csr *csr, const char *pem, char *cn, size_t cnlen,
                              char *sans, size_t sanslen, struct minica_err *err)
{
    int ret = mbedtls_x509_csr_parse(csr, (const unsigned char *)pem, strlen(pem) + 1);
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_EINVAL, ret, "cannot parse the CSR");

    mbedtls_md_type_t md;
    mbedtls_pk_type_t pk_alg;
    const unsigned char *sig;
    size_t sig_len;
    if (mbedtls_oid_get_sig_alg(&csr->sig_oid, &md, &pk_alg) != 0 ||
        csr_signature(csr, &sig, &sig_len) != 0)
        return minica_seterr(err, MINICA_EINVAL, "the CSR's signature is malformed");
    if (!mbedtls_pk_can_do(&csr->pk, pk_alg))
        return minica_seterr(err, MINICA_EINVAL,
                             "the CSR's signature algorithm does not match its key");
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(md);
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];
    if (info == NULL || md == MBEDTLS_MD_SHA1 || md == MBEDTLS_MD_MD5)
        return minica_seterr(err, MINICA_EINVAL, "the CSR uses an unsupported or weak digest");
    if ((ret = minica_compat_md(info, csr->cri.p, csr->cri.len, hash)) != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot hash the CSR");
    ret = mbedtls_pk_verify(&csr->pk, md, hash, mbedtls_md_get_size(info), sig, sig_len);
    if (ret != 0)
        return minica_seterr(err, MINICA_EINVAL, "the CSR's signature is invalid");
    enum minica_key_type kt;
    if ((ret = minica_key_check_issuable(&csr->pk, &kt, err)) != 0) {
        minica_err_prefix(err, "the CSR's key");
        return ret;
    }

    return csr_names(csr, cn, cnlen, sans, sanslen, err);
}

int minica_csr_names_unverified(const char *pem, char *cn, size_t cnlen, char *sans, size_t sanslen,
                                struct minica_err *err)
{
    mbedtls_x509_csr csr;
    mbedtls_x509_csr_init(&csr);
    int ret = mbedtls_x509_csr_parse(&csr, (const unsigned char *)pem, strlen(pem) + 1);
    if (ret != 0)
        ret = minica_seterr_mbedtls(err, MINICA_EINVAL, ret, "cannot parse the CSR");
    else
        ret = csr_names(&csr, cn, cnlen, sans, sanslen, err);
    mbedtls_x509_csr_free(&csr);
    return ret;
}
