/* haproxy's certificate format: leaf, chain and private key in one PEM file
 * (its `crt` directive). Written like every key: staged 0600, fsynced,
 * renamed. Not for nginx, which takes separate certificate and key files. */
#ifndef MINICA_PEMBUNDLE_H
#define MINICA_PEMBUNDLE_H

#include <stddef.h>
#include <sys/types.h>

#include "minica/error.h"
#include "minica/fsutil.h"

/* cert_pem + chain_pem + key_pem, each ending in a newline. *out is malloc'd
 * and holds the key: free it with minica_free_secret(*out, *len). */
int minica_pem_bundle_build(const char *key_pem, const char *cert_pem, const char *chain_pem,
                            char **out, size_t *len, struct minica_err *err);

/* Builds the bundle and stages it next to path (mode: 0600 unless the caller
 * has a reason, never wider than 0640); commit with minica_staged_commit. */
int minica_pem_bundle_stage(struct minica_staged_file *sf, const char *path, const char *key_pem,
                            const char *cert_pem, const char *chain_pem, mode_t mode,
                            const struct minica_file_owner *owner, struct minica_err *err);

/* stage + commit. */
int minica_pem_bundle_write(const char *path, const char *key_pem, const char *cert_pem,
                            const char *chain_pem, mode_t mode, struct minica_err *err);

#endif
