/* The CA's key files as minica.conf's [keys] says: plain PEM, or PKCS#8
 * encrypted with the passphrase it names (pkcs8.c, passphrase.c). What
 * reads a CA key (minica_ca_read_key) and what writes one (init, the
 * lifecycle steps) go through here. Internal to src/lib/ca. */
#ifndef MINICA_CA_KEYFILE_H
#define MINICA_CA_KEYFILE_H

#include <stddef.h>

#include <mbedtls/pk.h>

#include "base/util.h"
#include "minica/error.h"
#include "minica/policy.h"
#include "minica/statedir.h"

struct minica_ca;

/* [keys] of the state directory sd belongs to (its minica.conf); a
 * missing minica.conf names nothing. */
int minica_keyfile_keys_conf(struct minica_statedir *sd, struct minica_keys_conf *keys,
                             struct minica_err *err);

/* pem, the contents of sd's file base, into pk: a plain key as it is, an
 * encrypted one with the passphrase of the state directory's [keys].
 * Messages name the file. A wrong passphrase is MINICA_EFORBIDDEN. */
int minica_keyfile_parse(struct minica_statedir *sd, const char *base, const char *pem, size_t len,
                         mbedtls_pk_context *pk, struct minica_rng *rng, struct minica_err *err);

/* pk as a CA key file under keys: plain PEM when keys names no source,
 * else encrypted with the passphrase read now. *pem is malloc'd (wipe it
 * with minica_free_secret). */
int minica_keyfile_pem(const struct minica_keys_conf *keys, mbedtls_pk_context *pk,
                       struct minica_rng *rng, char **pem, size_t *len, struct minica_err *err);

/* The same under the open CA's policy, for the lifecycle steps. */
int minica_ca_key_to_pem(struct minica_ca *ca, mbedtls_pk_context *pk, char **pem, size_t *len,
                         struct minica_err *err);

#endif
