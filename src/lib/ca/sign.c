/* Turns a struct minica_tbs into a signed X.509 v3 certificate, and signs the
 * CRL's body: every signature the CA key makes goes through minica_sign_body.
 * The profile decisions (which extensions, which criticality) are made by the
 * callers in ca.c and issue.c; this file only encodes them. */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "ca/ca_internal.h"
#include "minica/der.h"

#define CERT_BUF_SIZE 65536

static int add_ext(mbedtls_x509write_cert *crt, const char *oid, size_t oid_len, int critical,
                   const unsigned char *val, size_t len, struct minica_err *err)
{
    int ret = mbedtls_x509write_crt_set_extension(crt, oid, oid_len, critical, val, len);
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot add an extension");
    return MINICA_OK;
}

int minica_sign_body(const struct minica_der_part *body, const struct minica_der_part *alg,
                     mbedtls_pk_context *key, struct minica_rng *rng, unsigned char **der,
                     size_t *der_len, struct minica_err *err)
{
    mbedtls_md_type_t md_type = minica_key_md(key);
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(md_type);
    unsigned char hash[MBEDTLS_MD_MAX_SIZE], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    unsigned char bits[MBEDTLS_PK_SIGNATURE_MAX_SIZE + 16];
    size_t sig_len = 0;
    if (md == NULL || minica_compat_md(md, body->p, body->len, hash) != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "cannot hash what is to be signed");
    int ret = minica_compat_pk_sign(key, md_type, hash, mbedtls_md_get_size(md), sig, sizeof(sig),
                                    &sig_len, &rng->drbg);
    mbedtls_platform_zeroize(hash, sizeof(hash));
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot sign");
    unsigned char *p = bits + sizeof(bits);
    int n = mbedtls_asn1_write_bitstring(&p, bits, sig, sig_len * 8);
    if (n < 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, n, "cannot encode the signature");
    struct minica_der_part parts[3] = {*body, *alg, {p, (size_t)n}};
    return minica_der_sequence(parts, 3, der, der_len, err);
}

static int copy_der(const unsigned char *src, size_t len, unsigned char **der, size_t *der_len,
                    struct minica_err *err)
{
    if ((*der = malloc(len)) == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    memcpy(*der, src, len);
    *der_len = len;
    return MINICA_OK;
}

/* mbedTLS 2.28 writes ecdsa-with-SHA* with a NULL parameter, in the TBS and
 * outside it. The TBS copy is signed, so dropping it means signing again. */
static int resign_without_ecdsa_params(const unsigned char *crt, size_t len,
                                       mbedtls_pk_context *issuer_key, struct minica_rng *rng,
                                       unsigned char **der, size_t *der_len, struct minica_err *err)
{
    struct minica_der_signed cert;
    int ret = minica_der_split_signed(crt, len, &cert, err);
    if (ret != 0)
        return ret;
    /* tbsCertificate ::= SEQUENCE { [0] version, serialNumber, signature, ... } */
    const unsigned char *p = cert.body.p + 1, *end = cert.body.p + cert.body.len;
    size_t seqlen;
    if (mbedtls_asn1_get_len((unsigned char **)&p, end, &seqlen) != 0 || p + seqlen != end)
        return minica_seterr(err, MINICA_ECRYPTO, "mbedTLS wrote a malformed certificate");
    struct minica_der_part version, serial, alg;
    if (minica_der_next_tlv(&p, end, &version) != 0 || minica_der_next_tlv(&p, end, &serial) != 0 ||
        minica_der_next_tlv(&p, end, &alg) != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "mbedTLS wrote a malformed certificate");
    unsigned char fixed_alg[32];
    struct minica_der_part fixed = {fixed_alg, 0};
    ret = alg.len <= sizeof(fixed_alg)
              ? minica_der_ecdsa_alg_without_params(&alg, fixed_alg, &fixed.len)
              : MINICA_EINVAL;
    if (ret < 0)
        return minica_seterr(err, MINICA_ECRYPTO, "mbedTLS wrote a malformed certificate");
    if (ret == 0) /* RSA, or an mbedTLS that already omits them */
        return copy_der(crt, len, der, der_len, err);
    struct minica_der_part rest = {p, (size_t)(end - p)};
    struct minica_der_part tbs_parts[4] = {version, serial, fixed, rest};
    unsigned char *tbs;
    size_t tbs_len;
    if ((ret = minica_der_sequence(tbs_parts, 4, &tbs, &tbs_len, err)) != 0)
        return ret;
    struct minica_der_part body = {tbs, tbs_len};
    ret = minica_sign_body(&body, &fixed, issuer_key, rng, der, der_len, err);
    free(tbs);
    return ret;
}

int minica_sign_cert(const struct minica_tbs *tbs, struct minica_rng *rng, unsigned char **der,
                     size_t *der_len, struct minica_err *err)
{
    mbedtls_x509write_cert crt;
    mbedtls_x509write_crt_init(&crt);
    unsigned char *buf = malloc(CERT_BUF_SIZE);
    unsigned char ext[CERT_BUF_SIZE / 2];
    unsigned char *val;
    size_t len;
    int ret;
    if (buf == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");

    char nb[15], na[15];
    minica_unix_to_x509_string(tbs->not_before, nb);
    minica_unix_to_x509_string(tbs->not_after, na);
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, minica_key_md(tbs->issuer_key));
    mbedtls_x509write_crt_set_subject_key(&crt, tbs->subject_key);
    mbedtls_x509write_crt_set_issuer_key(&crt, tbs->issuer_key);
    if ((ret = minica_compat_crt_set_serial(&crt, tbs->serial, sizeof(tbs->serial))) != 0 ||
        (ret = mbedtls_x509write_crt_set_validity(&crt, nb, na)) != 0 ||
        (ret = minica_compat_crt_set_subject_name(&crt, tbs->subject)) != 0 ||
        (ret = mbedtls_x509write_crt_set_issuer_name(&crt, tbs->issuer)) != 0 ||
        (ret = mbedtls_x509write_crt_set_subject_key_identifier(&crt)) != 0) {
        ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot prepare the certificate");
        goto out;
    }
    if (tbs->with_aki && (ret = mbedtls_x509write_crt_set_authority_key_identifier(&crt)) != 0) {
        ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot prepare the certificate");
        goto out;
    }

    /* RFC 5280 4.2.1.9: basicConstraints critical in CAs; we mark leaves too. */
    if ((ret = minica_der_basic_constraints(tbs->is_ca, tbs->pathlen, ext, sizeof(ext), &val, &len,
                                            err)) != 0 ||
        (ret = add_ext(&crt, MBEDTLS_OID_BASIC_CONSTRAINTS,
                       MBEDTLS_OID_SIZE(MBEDTLS_OID_BASIC_CONSTRAINTS), 1, val, len, err)) != 0)
        goto out;
    if ((ret = minica_der_key_usage(tbs->key_usage, ext, sizeof(ext), &val, &len, err)) != 0 ||
        (ret = add_ext(&crt, MBEDTLS_OID_KEY_USAGE, MBEDTLS_OID_SIZE(MBEDTLS_OID_KEY_USAGE), 1, val,
                       len, err)) != 0)
        goto out;
    if (tbs->server_auth || tbs->client_auth) {
        if ((ret = minica_der_ext_key_usage(tbs->server_auth, tbs->client_auth, ext, sizeof(ext),
                                            &val, &len, err)) != 0 ||
            (ret = add_ext(&crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                           MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, val, len, err)) !=
                0)
            goto out;
    }
    if (tbs->n_sans > 0) {
        if ((ret = minica_der_san(tbs->sans, tbs->n_sans, ext, sizeof(ext), &val, &len, err)) !=
                0 ||
            (ret = add_ext(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                           MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), tbs->san_critical, val,
                           len, err)) != 0)
            goto out;
    }
    if (tbs->name_constraints != NULL && minica_constraints_present(tbs->name_constraints)) {
        if ((ret = minica_constraints_encode(tbs->name_constraints, ext, sizeof(ext), &val, &len,
                                             err)) != 0 ||
            (ret = add_ext(&crt, MBEDTLS_OID_NAME_CONSTRAINTS,
                           MBEDTLS_OID_SIZE(MBEDTLS_OID_NAME_CONSTRAINTS), 1, val, len, err)) != 0)
            goto out;
    }

    int n =
        mbedtls_x509write_crt_der(&crt, buf, CERT_BUF_SIZE, mbedtls_ctr_drbg_random, &rng->drbg);
    if (n < 0) {
        ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, n, "cannot sign the certificate");
        goto out;
    }
    ret = resign_without_ecdsa_params(buf + CERT_BUF_SIZE - n, (size_t)n, tbs->issuer_key, rng, der,
                                      der_len, err);
out:
    free(buf);
    mbedtls_x509write_crt_free(&crt);
    return ret;
}
