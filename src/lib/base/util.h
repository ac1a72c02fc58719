/* Small helpers every layer of libminica uses: the random generator, the
 * clock, hashing, PEM armour. Nothing here knows what a certificate means
 * (that is ca/x509.h). Never installed, never included from src/cli. */
#ifndef MINICA_BASE_UTIL_H
#define MINICA_BASE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>

#include "base/compat.h"
#include "minica/error.h"

struct minica_rng {
    mbedtls_ctr_drbg_context drbg;
};

int minica_rng_init(struct minica_rng *rng, struct minica_err *err);
void minica_rng_free(struct minica_rng *rng);
int minica_rng_bytes(struct minica_rng *rng, void *out, size_t len, struct minica_err *err);

/* Lowercase hex without leading zero bytes (the INTEGER's minimal form). */
void minica_serial_to_hex(const unsigned char *serial, size_t len, char *out, size_t outlen);

/* Time. */
int64_t minica_now(void); /* clock.c; the test build links a movable one */
/* RFC 3339 UTC: "2026-11-24T08:45:00Z". */
void minica_unix_to_rfc3339(int64_t t, char out[21]);

/* SHA-256 of data as lowercase hex. */
void minica_sha256_hex(const unsigned char *data, size_t len, char out[65]);

/* DER -> PEM with the given label ("CERTIFICATE", "X509 CRL"); malloc'd. */
int minica_der_to_pem(const unsigned char *der, size_t len, const char *label, char **pem,
                      struct minica_err *err);

/* Strdup that reports ENOMEM through err. */
char *minica_strdup(const char *s);

/* Room for one more element in an array that grows by doubling: items has
 * *cap elements of size bytes, n of them used. Returns items, or the array
 * moved (then *cap is its new size; first is the size of a first
 * allocation), or NULL when out of memory, items left as they were. */
void *minica_array_grow(void *items, size_t *cap, size_t n, size_t size, size_t first);

#endif
