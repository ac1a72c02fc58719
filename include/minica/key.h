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

#endif
