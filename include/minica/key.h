/* Key types minica generates and the few key operations callers need
 * (generate, PEM-encode, check that a key matches a certificate). */
#ifndef MINICA_KEY_H
#define MINICA_KEY_H

#include <stddef.h>

#include "minica/error.h"

enum minica_key_type {
    MINICA_KEY_DEFAULT = 0, /* whatever the policy says (ec-p256 unless configured) */
    MINICA_KEY_EC_P256,
    MINICA_KEY_EC_P384,
    MINICA_KEY_RSA_2048,
    MINICA_KEY_RSA_3072,
    MINICA_KEY_RSA_4096,
};

int minica_key_type_parse(const char *text, enum minica_key_type *out, struct minica_err *err);
const char *minica_key_type_name(enum minica_key_type type);

/* 1 if the PEM private key matches the public key of the PEM certificate,
 * 0 if not, negative on parse errors. */
int minica_key_matches_cert(const char *key_pem, const char *cert_pem, struct minica_err *err);

/* The same for files: 1 when the private key in key_path matches the first
 * certificate (the leaf) of every file in cert_paths ("" or NULL entries are
 * skipped; a PEM bundle may be both key_path and a cert path), 0 when one
 * does not, -1 when a file is missing or unreadable. Unless 1, why gets one
 * sentence naming the files. */
int minica_key_files_match(const char *key_path, const char *const *cert_paths, size_t n, char *why,
                           size_t whylen);

#endif
