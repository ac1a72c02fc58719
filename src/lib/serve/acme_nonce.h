/* ACME nonces (RFC 8555 6.5) that cost nothing to hand out: an expiry, random
 * octets and an HMAC under the server's nonce key, base64url. Handing one
 * out writes nothing, so an unauthenticated HEAD /acme/new-nonce cannot make
 * the CA write to its store. Spending one is recorded in the store
 * (minica_store_acme_nonce_spend), which makes it single-use across
 * threads, processes and replicas that share the key: the key is the
 * inventory's (minica_acme_nonce_key), so every replica on one database,
 * and a restarted one, makes and accepts the same nonces. Internal to
 * serve. */
#ifndef MINICA_SERVE_ACME_NONCE_H
#define MINICA_SERVE_ACME_NONCE_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"
#include "minica/store.h"

#define MINICA_ACME_NONCE_KEY_LEN 32
/* 8 octets of expiry, 12 random, 16 of MAC: 48 base64url characters. */
#define MINICA_ACME_NONCE_TEXT_MAX 49

/* The nonce key of the inventory, secret "acme-nonce" of
 * minica_store_secret: made from fresh random bytes by the first replica
 * to ask, read by every other. MINICA_EDB when the stored one is not a
 * key of MINICA_ACME_NONCE_KEY_LEN octets in base64url. */
int minica_acme_nonce_key(struct minica_store *store, unsigned char key[MINICA_ACME_NONCE_KEY_LEN],
                          struct minica_err *err);

/* A fresh nonce valid until expires_at into out (at least
 * MINICA_ACME_NONCE_TEXT_MAX). */
int minica_acme_nonce_make(const unsigned char key[MINICA_ACME_NONCE_KEY_LEN], int64_t expires_at,
                           char *out, size_t out_size, struct minica_err *err);

/* 0 with *expires_at when nonce was made under key and expires after now;
 * MINICA_EFORBIDDEN (badNonce) otherwise. Says nothing about whether it
 * was spent: that is the store's. */
int minica_acme_nonce_check(const unsigned char key[MINICA_ACME_NONCE_KEY_LEN], const char *nonce,
                            int64_t now, int64_t *expires_at, struct minica_err *err);

#endif
