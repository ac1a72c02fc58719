/* Library-internal declarations shared by the modules in src/lib: the RNG
 * context, PEM/DER helpers and the intermediate's signing interface. Never
 * installed, never included from src/cli. */
#ifndef MINICA_INTERNAL_H
#define MINICA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "base/compat.h"
#include "minica/error.h"
#include "minica/key.h"

struct minica_rng {
    mbedtls_ctr_drbg_context drbg;
};

int minica_rng_init(struct minica_rng *rng, struct minica_err *err);
void minica_rng_free(struct minica_rng *rng);
int minica_rng_bytes(struct minica_rng *rng, void *out, size_t len, struct minica_err *err);

/* 16 random bytes from CTR_DRBG, never all zero: a positive 128-bit serial. */
int minica_serial_generate(struct minica_rng *rng, unsigned char serial[16],
                           struct minica_err *err);
/* Lowercase hex without leading zero bytes (the INTEGER's minimal form). */
void minica_serial_to_hex(const unsigned char *serial, size_t len, char *out, size_t outlen);

/* Keys. */
int minica_key_generate(mbedtls_pk_context *pk, enum minica_key_type type, struct minica_rng *rng,
                        struct minica_err *err);
/* PEM of a private key, malloc'd (wipe with minica_free_secret). */
int minica_key_to_pem(mbedtls_pk_context *pk, char **pem, size_t *len, struct minica_err *err);
int minica_key_parse_pem(mbedtls_pk_context *pk, const char *pem, size_t len,
                         struct minica_rng *rng, struct minica_err *err);
int minica_key_type_of(const mbedtls_pk_context *pk, enum minica_key_type *type);
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

/* Time. */
int64_t minica_now(void); /* honours MINICA_FAKE_NOW (tests) */
int64_t minica_x509_time_to_unix(const mbedtls_x509_time *t);
/* "YYYYMMDDhhmmss" in UTC, what mbedtls_x509write_crt_set_validity wants. */
void minica_unix_to_x509_string(int64_t t, char out[15]);
/* RFC 3339 UTC: "2026-11-24T08:45:00Z". */
void minica_unix_to_rfc3339(int64_t t, char out[21]);

/* SHA-256 of data as lowercase hex. */
void minica_sha256_hex(const unsigned char *data, size_t len, char out[65]);

/* DER -> PEM with the given label ("CERTIFICATE", "X509 CRL"); malloc'd. */
int minica_der_to_pem(const unsigned char *der, size_t len, const char *label, char **pem,
                      struct minica_err *err);

/* Strdup that reports ENOMEM through err. */
char *minica_strdup(const char *s);

/* Parses every certificate in pem (a chain file gives a linked list). Unlike
 * plain mbedtls_x509_crt_parse, accepts a critical nameConstraints extension
 * (minica's constrained intermediate): use these, never the mbedTLS call. */
int minica_crt_parse_der(mbedtls_x509_crt *crt, const unsigned char *der, size_t len,
                         struct minica_err *err);
int minica_crt_parse_pem(mbedtls_x509_crt *crt, const char *pem, struct minica_err *err);
/* Only the first certificate of pem (the leaf of a fullchain file). */
int minica_crt_parse_pem_first(mbedtls_x509_crt *crt, const char *pem, struct minica_err *err);
/* 1 if crt has a nameConstraints extension with a dNSName subtree (permitted
 * or excluded), else 0. OpenSSL and GnuTLS then check a leaf's CN against it
 * when the leaf has no DNS name. */
int minica_crt_constrains_dns(const mbedtls_x509_crt *crt);

/* CSR: parses it, checks its self-signature, and returns its CN (or "") and
 * SANs as canonical comma-separated text. */
/* The same names without checking the signature: only for an early refusal
 * by code that has the CSR verified later (minica_ca_issue does). */
int minica_csr_names_unverified(const char *pem, char *cn, size_t cnlen, char *sans, size_t sanslen,
                                struct minica_err *err);
int minica_csr_parse_verified(mbedtls_x509_csr *csr, const char *pem, char *cn, size_t cnlen,
                              char *sans, size_t sanslen, struct minica_err *err);

#endif
