/* Turns a struct minica_tbs into a signed X.509 v3 certificate, and signs the
 * CRL's body: every signature the CA key makes goes through minica_sign_body,
 * and so through the issuer's signer, which may hold its key elsewhere.
 * The profile decisions (which extensions, which criticality) are made by the
 * callers in ca.c and issue.c; this file only encodes them. */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
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

static int sign_hash(const struct minica_der_part *body, struct minica_signer *signer,
                     unsigned char *sig, size_t sig_size, size_t *sig_len, struct minica_err *err)
{
    mbedtls_md_type_t md_type = minica_key_md(&signer->pub);
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(md_type);
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];
    if (md == NULL || minica_compat_md(md, body->p, body->len, hash) != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "cannot hash what is to be signed");
    int ret = minica_signer_sign(signer, md_type, hash, mbedtls_md_get_size(md), sig, sig_size,
                                 sig_len, err);
    mbedtls_platform_zeroize(hash, sizeof(hash));
    return ret;
}

int minica_sign_body(enum minica_wire_profile profile, const struct minica_der_part *body,
                     const struct minica_der_part *alg, struct minica_signer *signer,
                     unsigned char **der, size_t *der_len, struct minica_err *err)
{
    if (signer == NULL)
        return minica_seterr(err, MINICA_EINVAL, "the CA was opened without its key");
    unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    unsigned char bits[MBEDTLS_PK_SIGNATURE_MAX_SIZE + 16];
    size_t sig_len = 0;
    int ret = signer->ops != NULL && signer->ops->sign_tbs != NULL
                  ? signer->ops->sign_tbs(signer, profile, body->p, body->len, sig, sizeof(sig),
                                          &sig_len, err)
                  : sign_hash(body, signer, sig, sizeof(sig), &sig_len, err);
    if (ret != 0)
        return ret;
    if (sig_len == 0 || sig_len > sizeof(sig))
        return minica_seterr(err, MINICA_ECRYPTO, "the signer returned no usable signature");
    unsigned char *p = bits + sizeof(bits);
    int n = mbedtls_asn1_write_bitstring(&p, bits, sig, sig_len * 8);
    if (n < 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, n, "cannot encode the signature");
    struct minica_der_part parts[3] = {*body, *alg, {p, (size_t)n}};
    return minica_der_sequence(parts, 3, der, der_len, err);
}

void minica_scratch_init(struct minica_scratch *s)
{
    mbedtls_pk_init(&s->ec);
    mbedtls_pk_init(&s->rsa);
}

void minica_scratch_free(struct minica_scratch *s)
{
    mbedtls_pk_free(&s->ec);
    mbedtls_pk_free(&s->rsa);
}

/* x509write's stand-in for an issuer with this public key. Only its kind
 * matters (RSA or ECDSA: with the md, that is the signatureAlgorithm), so
 * one P-256 key serves every EC issuer and the smallest RSA key mbedTLS 3.6
 * makes every RSA one (a SHA-512 DigestInfo fits in 1024 bits). */
static int scratch_for(struct minica_scratch *s, const mbedtls_pk_context *issuer,
                       struct minica_rng *rng, mbedtls_pk_context **out, struct minica_err *err)
{
    int rsa = mbedtls_pk_can_do(issuer, MBEDTLS_PK_RSA);
    if (!rsa && !mbedtls_pk_can_do(issuer, MBEDTLS_PK_ECDSA))
        return minica_seterr(err, MINICA_ECRYPTO, "the issuer's key is neither RSA nor EC");
    mbedtls_pk_context *k = rsa ? &s->rsa : &s->ec;
    if (mbedtls_pk_get_type(k) == MBEDTLS_PK_NONE) {
        int ret;
        if (rsa) {
            ret = mbedtls_pk_setup(k, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
            if (ret == 0)
                ret = mbedtls_rsa_gen_key(mbedtls_pk_rsa(*k), mbedtls_ctr_drbg_random, &rng->drbg,
                                          1024, 65537);
            if (ret != 0)
                ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot make a scratch key");
        } else {
            ret = minica_key_generate(k, MINICA_KEY_EC_P256, rng, err);
        }
        if (ret != 0) {
            mbedtls_pk_free(k);
            mbedtls_pk_init(k);
            return ret;
        }
    }
    *out = k;
    return MINICA_OK;
}

/* authorityKeyIdentifier { keyIdentifier } as mbedTLS writes it from the
 * issuer key (x509write_crt.c): the SHA-1 of the subjectPublicKey BIT
 * STRING's contents, RFC 5280 4.2.1.2 (1). Ours, since x509write only
 * sees the scratch key; test_x509 holds the two byte for byte equal. */
static int set_aki(mbedtls_x509write_cert *crt, const mbedtls_pk_context *issuer,
                   struct minica_err *err)
{
    unsigned char buf[2048], val[24];
    unsigned char *c = buf + sizeof(buf);
    int n = mbedtls_pk_write_pubkey(&c, buf, issuer);
    const mbedtls_md_info_t *sha1 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
    if (n <= 0 || sha1 == NULL || minica_compat_md(sha1, c, (size_t)n, val + 4) != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "cannot compute the authority key identifier");
    /* SEQUENCE { [0] IMPLICIT OCTET STRING (20) } */
    val[0] = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;
    val[1] = 22;
    val[2] = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0;
    val[3] = 20;
    return add_ext(crt, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
                   MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER), 0, val, sizeof(val),
                   err);
}

/* What x509write's stand-in key would sign: mbedtls_x509write_crt_der
 * writes the whole TBSCertificate at the end of buf, then hashes and signs
 * it. That signature is thrown away (the issuer's signer makes the real
 * one), so its randomness source stops it at the first draw: the stand-in's
 * ECDSA signature was most of serve's CPU per enrollment. Written backwards
 * from the end, the TBS is then the last bytes of buf and nothing precedes
 * it in the zeroed buffer. An mbedTLS that signs without drawing (PSA's
 * own RNG) finishes the certificate instead: its TBS is taken from that. */
struct stop_rng {
    int drawn;
};

static int stop_at_first_draw(void *ctx, unsigned char *out, size_t len)
{
    (void)out, (void)len;
    ((struct stop_rng *)ctx)->drawn = 1;
    return MBEDTLS_ERR_ASN1_BUF_TOO_SMALL; /* any error: the signature is not made */
}

static int write_tbs(mbedtls_x509write_cert *crt, unsigned char *buf, size_t size,
                     struct minica_der_part *tbs, struct minica_err *err)
{
    memset(buf, 0, size);
    struct stop_rng stop = {0};
    int n = mbedtls_x509write_crt_der(crt, buf, size, stop_at_first_draw, &stop);
    if (n >= 0) {
        struct minica_der_signed cert;
        int ret = minica_der_split_signed(buf + size - n, (size_t)n, &cert, err);
        if (ret == 0)
            *tbs = cert.body;
        return ret;
    }
    if (!stop.drawn)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, n, "cannot write the certificate");
    size_t i = 0;
    while (i < size && buf[i] == 0)
        i++;
    unsigned char *p = buf + i + 1;
    size_t len;
    if (i == size || buf[i] != (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) ||
        mbedtls_asn1_get_len(&p, buf + size, &len) != 0 || p + len != buf + size)
        return minica_seterr(err, MINICA_ECRYPTO, "mbedTLS wrote a malformed certificate");
    *tbs = (struct minica_der_part){buf + i, size - i};
    return MINICA_OK;
}

/* The TBS x509write wrote, signed by the issuer. mbedTLS 2.28 writes
 * ecdsa-with-SHA* with a NULL parameter (RFC 5758 3.2 says none): that is
 * dropped on the way. */
static int resign(const struct minica_der_part *written, struct minica_signer *issuer,
                  unsigned char **der, size_t *der_len, struct minica_err *err)
{
    int ret;
    /* tbsCertificate ::= SEQUENCE { [0] version, serialNumber, signature, ... } */
    const unsigned char *p = written->p + 1, *end = written->p + written->len;
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
    if (ret == 0) /* RSA, or an mbedTLS that already omits them: the TBS as written */
        return minica_sign_body(MINICA_WIRE_LEAF, written, &alg, issuer, der, der_len, err);
    struct minica_der_part rest = {p, (size_t)(end - p)};
    struct minica_der_part tbs_parts[4] = {version, serial, fixed, rest};
    unsigned char *tbs;
    size_t tbs_len;
    if ((ret = minica_der_sequence(tbs_parts, 4, &tbs, &tbs_len, err)) != 0)
        return ret;
    struct minica_der_part body = {tbs, tbs_len};
    ret = minica_sign_body(MINICA_WIRE_LEAF, &body, &fixed, issuer, der, der_len, err);
    free(tbs);
    return ret;
}

int minica_sign_cert(const struct minica_tbs *tbs, struct minica_scratch *scratch,
                     struct minica_rng *rng, unsigned char **der, size_t *der_len,
                     struct minica_err *err)
{
    mbedtls_x509write_cert crt;
    mbedtls_x509write_crt_init(&crt);
    unsigned char *buf = malloc(CERT_BUF_SIZE);
    unsigned char ext[CERT_BUF_SIZE / 2];
    unsigned char *val;
    size_t len;
    int ret;
    if (tbs->signer == NULL) {
        free(buf);
        return minica_seterr(err, MINICA_EINVAL, "the CA was opened without its key");
    }
    if (buf == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    mbedtls_pk_context *stand_in = NULL;
    if ((ret = scratch_for(scratch, &tbs->signer->pub, rng, &stand_in, err)) != 0)
        goto out;

    char nb[15], na[15];
    minica_unix_to_x509_string(tbs->not_before, nb);
    minica_unix_to_x509_string(tbs->not_after, na);
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, minica_key_md(&tbs->signer->pub));
    mbedtls_x509write_crt_set_subject_key(&crt, tbs->subject_key);
    mbedtls_x509write_crt_set_issuer_key(&crt, stand_in);
    if ((ret = minica_compat_crt_set_serial(&crt, tbs->serial, sizeof(tbs->serial))) != 0 ||
        (ret = mbedtls_x509write_crt_set_validity(&crt, nb, na)) != 0 ||
        (ret = minica_compat_crt_set_subject_name(&crt, tbs->subject)) != 0 ||
        (ret = mbedtls_x509write_crt_set_issuer_name(&crt, tbs->issuer)) != 0 ||
        (ret = mbedtls_x509write_crt_set_subject_key_identifier(&crt)) != 0) {
        ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot prepare the certificate");
        goto out;
    }
    /* Where x509write's own call would add it: the extensions stay in the
     * order they always had. */
    if (tbs->with_aki && (ret = set_aki(&crt, &tbs->signer->pub, err)) != 0)
        goto out;

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

    struct minica_der_part body;
    if ((ret = write_tbs(&crt, buf, CERT_BUF_SIZE, &body, err)) == 0)
        ret = resign(&body, tbs->signer, der, der_len, err);
out:
    free(buf);
    mbedtls_x509write_crt_free(&crt);
    return ret;
}
