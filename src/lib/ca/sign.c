/* Turns a struct minica_tbs into a signed X.509 v3 certificate. The profile
 * decisions (which extensions, which criticality) are made by the callers in
 * ca.c and issue.c; this file only encodes them. */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>
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
        (ret = mbedtls_x509write_crt_set_subject_name(&crt, tbs->subject)) != 0 ||
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
                           MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, val, len, err)) != 0)
            goto out;
    }
    const struct minica_policy *nc = tbs->name_constraints;
    if (nc != NULL && (nc->n_permit_dns > 0 || nc->n_permit_ip > 0)) {
        if ((ret = minica_der_name_constraints(nc->permit_dns, nc->n_permit_dns, nc->permit_ip,
                                               nc->n_permit_ip, ext, sizeof(ext), &val, &len,
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
    /* x509write writes at the end of the buffer. */
    memmove(buf, buf + CERT_BUF_SIZE - n, (size_t)n);
    *der = buf;
    *der_len = (size_t)n;
    buf = NULL;
    ret = MINICA_OK;
out:
    free(buf);
    mbedtls_x509write_crt_free(&crt);
    return ret;
}
