/* The few mbedTLS API differences between 2.28 (Debian 12) and 3.6 (Debian 13),
 * so that a 3.6 build is this header away. Nothing else in minica may test
 * MBEDTLS_VERSION_*; use only struct fields 3.6 keeps public. */
#ifndef MINICA_COMPAT_H
#define MINICA_COMPAT_H

#include <mbedtls/version.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#if MBEDTLS_VERSION_MAJOR >= 3

#if MBEDTLS_VERSION_NUMBER < 0x03060000
#error "minica needs mbedTLS 2.28 or 3.6 and later (3.6 made the EC group accessor public)"
#endif

/* mbedTLS 3 parses private keys with an RNG (blinding); 2.28 needs none. */
#define MINICA_COMPAT_KEY_PARSE_NEEDS_RNG 1

static inline int minica_compat_pk_parse_key(mbedtls_pk_context *pk, const unsigned char *buf,
                                             size_t len, mbedtls_ctr_drbg_context *drbg)
{
    return mbedtls_pk_parse_key(pk, buf, len, NULL, 0, mbedtls_ctr_drbg_random, drbg);
}
static inline int minica_compat_pk_sign(mbedtls_pk_context *pk, mbedtls_md_type_t md,
                                        const unsigned char *hash, size_t hash_len,
                                        unsigned char *sig, size_t sig_size, size_t *sig_len,
                                        mbedtls_ctr_drbg_context *drbg)
{
    return mbedtls_pk_sign(pk, md, hash, hash_len, sig, sig_size, sig_len, mbedtls_ctr_drbg_random,
                           drbg);
}
static inline int minica_compat_pk_check_pair(const mbedtls_pk_context *pub,
                                              const mbedtls_pk_context *prv,
                                              mbedtls_ctr_drbg_context *drbg)
{
    return mbedtls_pk_check_pair(pub, prv, mbedtls_ctr_drbg_random, drbg);
}
/* basicConstraints cA: a private field in 3.6, with an accessor 2.28 lacks. */
static inline int minica_compat_crt_is_ca(const mbedtls_x509_crt *crt)
{
    return mbedtls_x509_crt_get_ca_istrue(crt) == 1;
}
static inline int minica_compat_sha256(const unsigned char *in, size_t len, unsigned char out[32])
{
    return mbedtls_sha256(in, len, out, 0);
}
static inline int minica_compat_md(const mbedtls_md_info_t *info, const unsigned char *in,
                                   size_t len, unsigned char *out)
{
    return mbedtls_md(info, in, len, out);
}
/* The serial as a minimal DER INTEGER (X.690 8.3.2). set_serial_raw writes
 * the octets it is given, adding only a 00 before a set top bit: a leading
 * 00 before a byte below 0x80 (1 serial in 512) would stay, and OpenSSL
 * refuses such a certificate ("BAD INTEGER"). */
static inline int minica_compat_crt_set_serial(mbedtls_x509write_cert *ctx,
                                               const unsigned char *serial, size_t len)
{
    while (len > 1 && serial[0] == 0) {
        serial++;
        len--;
    }
    return mbedtls_x509write_crt_set_serial_raw(ctx, (unsigned char *)serial, len);
}
/* The curve of an EC key. 3.x made the keypair's group private, and 3.6's
 * mbedtls_pk_get_ec_group_id is internal (pk_internal.h); the keypair
 * accessor is public since 3.6.0. */
static inline mbedtls_ecp_group_id minica_compat_pk_ec_group(const mbedtls_pk_context *pk)
{
    const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
    return ec != NULL ? mbedtls_ecp_keypair_get_group_id(ec) : MBEDTLS_ECP_DP_NONE;
}
/* Non-critical CSR extension (3.x added the criticality argument). */
static inline int minica_compat_csr_set_extension(mbedtls_x509write_csr *ctx, const char *oid,
                                                  size_t oid_len, const unsigned char *val,
                                                  size_t len)
{
    return mbedtls_x509write_csr_set_extension(ctx, oid, oid_len, 0, val, len);
}
/* The DER a PEM block decoded to: 3.x made the context's fields private. */
static inline const unsigned char *minica_compat_pem_der(mbedtls_pem_context *ctx, size_t *len)
{
    return mbedtls_pem_get_buffer(ctx, len);
}
/* PBKDF2-HMAC-SHA256 (RFC 8018 5.2): 3.x deprecated the md-context form. */
static inline int minica_compat_pbkdf2_sha256(const unsigned char *pass, size_t pass_len,
                                              const unsigned char *salt, size_t salt_len,
                                              unsigned iterations, unsigned char *out,
                                              size_t out_len)
{
    return mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, pass, pass_len, salt, salt_len,
                                         iterations, (uint32_t)out_len, out);
}

#else /* mbedTLS 2.28 */

#define MINICA_COMPAT_KEY_PARSE_NEEDS_RNG 0

#include <mbedtls/bignum.h>

static inline int minica_compat_pk_parse_key(mbedtls_pk_context *pk, const unsigned char *buf,
                                             size_t len, mbedtls_ctr_drbg_context *drbg)
{
    (void)drbg;
    return mbedtls_pk_parse_key(pk, buf, len, NULL, 0);
}
static inline int minica_compat_pk_sign(mbedtls_pk_context *pk, mbedtls_md_type_t md,
                                        const unsigned char *hash, size_t hash_len,
                                        unsigned char *sig, size_t sig_size, size_t *sig_len,
                                        mbedtls_ctr_drbg_context *drbg)
{
    (void)sig_size; /* 2.28 trusts the buffer to hold MBEDTLS_PK_SIGNATURE_MAX_SIZE */
    return mbedtls_pk_sign(pk, md, hash, hash_len, sig, sig_len, mbedtls_ctr_drbg_random, drbg);
}
static inline int minica_compat_pk_check_pair(const mbedtls_pk_context *pub,
                                              const mbedtls_pk_context *prv,
                                              mbedtls_ctr_drbg_context *drbg)
{
    (void)drbg;
    return mbedtls_pk_check_pair(pub, prv);
}
static inline int minica_compat_crt_is_ca(const mbedtls_x509_crt *crt)
{
    return crt->ca_istrue;
}
static inline int minica_compat_sha256(const unsigned char *in, size_t len, unsigned char out[32])
{
    return mbedtls_sha256_ret(in, len, out, 0);
}
static inline int minica_compat_md(const mbedtls_md_info_t *info, const unsigned char *in,
                                   size_t len, unsigned char *out)
{
    return mbedtls_md(info, in, len, out);
}
/* An mpi has no leading zeros, and asn1_write_mpi adds the 00 a set top bit
 * needs: the INTEGER is minimal as it is. */
static inline int minica_compat_crt_set_serial(mbedtls_x509write_cert *ctx,
                                               const unsigned char *serial, size_t len)
{
    mbedtls_mpi mpi;
    mbedtls_mpi_init(&mpi);
    int ret = mbedtls_mpi_read_binary(&mpi, serial, len);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_serial(ctx, &mpi);
    mbedtls_mpi_free(&mpi);
    return ret;
}
static inline mbedtls_ecp_group_id minica_compat_pk_ec_group(const mbedtls_pk_context *pk)
{
    return mbedtls_pk_ec(*pk)->grp.id;
}
static inline int minica_compat_csr_set_extension(mbedtls_x509write_csr *ctx, const char *oid,
                                                  size_t oid_len, const unsigned char *val,
                                                  size_t len)
{
    return mbedtls_x509write_csr_set_extension(ctx, oid, oid_len, val, len);
}
static inline const unsigned char *minica_compat_pem_der(mbedtls_pem_context *ctx, size_t *len)
{
    *len = ctx->buflen;
    return ctx->buf;
}
/* 2.28 takes an HMAC context set up by the caller; md_free wipes its pads. */
static inline int minica_compat_pbkdf2_sha256(const unsigned char *pass, size_t pass_len,
                                              const unsigned char *salt, size_t salt_len,
                                              unsigned iterations, unsigned char *out,
                                              size_t out_len)
{
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    int ret = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (ret == 0)
        ret = mbedtls_pkcs5_pbkdf2_hmac(&md, pass, pass_len, salt, salt_len, iterations,
                                        (uint32_t)out_len, out);
    mbedtls_md_free(&md);
    return ret;
}

#endif

/* An empty subject, which RFC 5280 4.1.2.6 allows when a critical SAN carries
 * the names (an IP-only leaf, a name too long for a CN). 3.6 refuses ""
 * (X509_INVALID_NAME) where 2.28 took it as the empty RDNSequence that a
 * freshly initialised writer already holds on both: then set nothing. */
static inline int minica_compat_crt_set_subject_name(mbedtls_x509write_cert *ctx, const char *name)
{
    return name[0] == '\0' ? 0 : mbedtls_x509write_crt_set_subject_name(ctx, name);
}

/* A private EC key kept for many signatures: as an ECDSA context, whose
 * group keeps the base point's precomputed table between signatures.
 * mbedTLS 2.28 signs with an ECKEY context through a temporary copy of
 * the group, so it rebuilds that table for every signature, which made the
 * CA's own signature most of a served enrollment's CPU. 3.6 signs with the
 * context as it is; there the change is harmless. The key moves (nothing
 * is left to wipe); another kind of key is left alone. */
static inline int minica_compat_pk_keep_for_signing(mbedtls_pk_context *key)
{
    if (mbedtls_pk_get_type(key) != MBEDTLS_PK_ECKEY)
        return 0;
    mbedtls_pk_context ecdsa;
    mbedtls_pk_init(&ecdsa);
    int ret = mbedtls_pk_setup(&ecdsa, mbedtls_pk_info_from_type(MBEDTLS_PK_ECDSA));
    if (ret == 0)
        ret = mbedtls_ecdsa_from_keypair(mbedtls_pk_ec(ecdsa), mbedtls_pk_ec(*key));
    if (ret != 0) {
        mbedtls_pk_free(&ecdsa);
        return ret;
    }
    mbedtls_pk_free(key);
    *key = ecdsa;
    return 0;
}

#endif
