/* Which PKCS#11 token key is a CA certificate's, from minica.conf's
 * [keys] intermediate / root URIs and pin_file / pin_credential. The
 * token itself is pkcs11.c's; the key files keyfile.c's. Internal to
 * src/lib/ca. */
#ifndef MINICA_CA_KEYTOKEN_H
#define MINICA_CA_KEYTOKEN_H

#include <mbedtls/pk.h>

#include "ca/signer.h"
#include "minica/error.h"
#include "minica/key.h"
#include "minica/lifecycle.h"
#include "minica/policy.h"

struct minica_rng;

/* How many URIs [keys] names for role (intermediate or root). */
size_t minica_keytoken_count(const struct minica_keys_conf *keys, enum minica_ca_role role);

/* The signer of the configured key of role whose public key is pub (the
 * certificate's). With one URI, a key of another public key is
 * MINICA_ECRYPTO naming both; with several, those that do not hold the
 * key are passed over, and MINICA_ENOENT says none did. what names the
 * certificate in messages. */
int minica_keytoken_open(const struct minica_keys_conf *keys, enum minica_ca_role role,
                         const mbedtls_pk_context *pub, const char *what,
                         struct minica_signer **out, struct minica_err *err);

/* Makes a key of type in the token uri names (init, rotate), with the PIN
 * of keys. Refuses a label or id the token already holds. */
int minica_keytoken_generate(const struct minica_keys_conf *keys, const char *uri,
                             enum minica_key_type type, struct minica_rng *rng,
                             struct minica_signer **out, struct minica_err *err);

#endif
