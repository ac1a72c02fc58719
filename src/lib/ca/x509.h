/* The CA core's mbedTLS-typed helpers for keys, certificates and CSRs,
 * shared with the layers above that read certificates (nginx, serve, agent).
 * Never installed, never included from src/cli. */
#ifndef MINICA_CA_X509_H
#define MINICA_CA_X509_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "base/util.h"
#include "minica/constraints.h"
#include "minica/error.h"
#include "minica/issue.h"
#include "minica/key.h"

/* 16 random bytes from CTR_DRBG, never all zero: a positive 128-bit serial. */
int minica_serial_generate(struct minica_rng *rng, unsigned char serial[16],
                           struct minica_err *err);

/* Keys. */
int minica_key_generate(mbedtls_pk_context *pk, enum minica_key_type type, struct minica_rng *rng,
                        struct minica_err *err);
/* PEM of a private key, malloc'd (wipe with minica_free_secret). */
int minica_key_to_pem(mbedtls_pk_context *pk, char **pem, size_t *len, struct minica_err *err);
int minica_key_parse_pem(mbedtls_pk_context *pk, const char *pem, size_t len,
                         struct minica_rng *rng, struct minica_err *err);
int minica_key_type_of(const mbedtls_pk_context *pk, enum minica_key_type *type);
/* The same, saying why a key is refused: an RSA modulus must have exactly
 * the named number of bits and the exponent must be 65537. */
int minica_key_check_issuable(const mbedtls_pk_context *pk, enum minica_key_type *type,
                              struct minica_err *err);
/* md for signing with this key: SHA-384 for P-384, else SHA-256. */
mbedtls_md_type_t minica_key_md(const mbedtls_pk_context *pk);
/* 1 if a and b hold the same public key (equal SubjectPublicKeyInfo DER), else 0.
 * A fraction of mbedtls_pk_check_pair's cost, which redoes the EC scalar
 * multiplication: that is a third of a whole `minica issue`. The public half
 * comes from the key file (or is derived from the private half when absent). */
int minica_pk_same_public(const mbedtls_pk_context *a, const mbedtls_pk_context *b);
/* minica_key_matches_cert for an already parsed certificate. */
int minica_key_matches_crt(const char *key_pem, const mbedtls_x509_crt *crt,
                           struct minica_err *err);

/* A subject or issuer as text for messages: "CN=..., O=...", each value
 * printed as the UTF-8 it holds, anything else (control bytes, invalid
 * UTF-8, a backslash) escaped as \xNN. mbedtls_x509_dn_gets prints every
 * non-ASCII byte as '?'. */
void minica_dn_to_text(const mbedtls_x509_name *dn, char *out, size_t outlen);

/* X.509 times. */
int64_t minica_x509_time_to_unix(const mbedtls_x509_time *t);
/* "YYYYMMDDhhmmss" in UTC, what mbedtls_x509write_crt_set_validity wants. */
void minica_unix_to_x509_string(int64_t t, char out[15]);

/* Parses every certificate in pem (a chain file gives a linked list). Unlike
 * plain mbedtls_x509_crt_parse, accepts a critical nameConstraints extension
 * (minica's constrained intermediate): use these, never the mbedTLS call. */
int minica_crt_parse_der(mbedtls_x509_crt *crt, const unsigned char *der, size_t len,
                         struct minica_err *err);
int minica_crt_parse_pem(mbedtls_x509_crt *crt, const char *pem, struct minica_err *err);
/* Only the first certificate of pem (the leaf of a fullchain file). */
int minica_crt_parse_pem_first(mbedtls_x509_crt *crt, const char *pem, struct minica_err *err);
/* crt's nameConstraints (all lists empty when it has none). */
int minica_crt_name_constraints(const mbedtls_x509_crt *crt, struct minica_name_constraints *nc,
                                struct minica_err *err);

/* CSR: parses it, checks its self-signature (unless receipt, from
 * minica_csr_precheck, is for these exact bytes), and returns its CN (or "")
 * and SANs as canonical comma-separated text. */
int minica_csr_parse_verified(mbedtls_x509_csr *csr, const char *pem,
                              const struct minica_csr_receipt *receipt, char *cn, size_t cnlen,
                              char *sans, size_t sanslen, struct minica_err *err);
/* An ECDSA check (SHA-256, or SHA-384 when sha384) of sig over data by the
 * key in spki (SubjectPublicKeyInfo DER): 1 valid, 0 invalid, -1 cannot
 * tell (mbedTLS then decides). */
typedef int (*minica_ecdsa_verifier)(int sha384, const unsigned char *spki, size_t spki_len,
                                     const unsigned char *data, size_t data_len,
                                     const unsigned char *sig, size_t sig_len);
/* Everything minica_csr_parse_verified checks of pem that needs no CA: the
 * encoding, the algorithms, the self-signature (with fast first, when not
 * NULL) and the key. Needs no lock: serve runs it before taking the CA's,
 * and hands the receipt to the issuance, which then skips the signature. */
int minica_csr_precheck(const char *pem, minica_ecdsa_verifier fast,
                        struct minica_csr_receipt *receipt, struct minica_err *err);
/* The same names without checking the signature: only for an early refusal
 * by code that has the CSR verified later (minica_ca_issue does). */
int minica_csr_names_unverified(const char *pem, char *cn, size_t cnlen, char *sans, size_t sanslen,
                                struct minica_err *err);
/* A CSR's DER read as minica_csr_parse_verified reads it (an empty subject
 * too), checking nothing: for minica inspect, which checks and reports the
 * self-signature itself. *exts is its extensionRequest's Extensions
 * (SEQUENCE TLV, inside der), NULL when it asks for none. */
int minica_csr_parse_der_unverified(mbedtls_x509_csr *csr, const unsigned char *der, size_t len,
                                    const unsigned char **exts, size_t *exts_len,
                                    struct minica_err *err);

#endif
