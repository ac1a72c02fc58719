/* Encrypted private keys: PKCS#8 EncryptedPrivateKeyInfo (RFC 5958) with
 * PBES2 (RFC 8018), PBKDF2-HMAC-SHA256 and AES-256-CBC, what
 * `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256` writes. Done
 * here with mbedTLS primitives: 2.28's own PBES2 knows only DES and 3DES.
 * Only the format; where the passphrase comes from is passphrase.c's job,
 * which key files get encrypted is keyfile.c's. Internal to src/lib/ca. */
#ifndef MINICA_CA_PKCS8_H
#define MINICA_CA_PKCS8_H

#include <stddef.h>

#include <mbedtls/pk.h>

#include "base/util.h"
#include "minica/error.h"

/* What minica writes: OWASP's 2023 figure for PBKDF2-HMAC-SHA256. Each
 * key load pays it, about 1 s of CPU with mbedTLS (2.28 and 3.6, no SHA
 * extensions) on the 2.8 GHz Xeon this was measured on, against 0.01 s
 * for a whole plain `minica issue`; an attacker's cost per guess is the
 * count alone. docs/minica.1 ([keys]) gives the trade. */
#define MINICA_PKCS8_ITERATIONS 600000
/* What it reads: below, a file is refused as not worth the name; above,
 * loading it would take minutes (a file others planted to stall the CA). */
#define MINICA_PKCS8_ITERATIONS_MIN 1000
#define MINICA_PKCS8_ITERATIONS_MAX 10000000

#define MINICA_PKCS8_PEM_LABEL "ENCRYPTED PRIVATE KEY"

/* Whether pem holds a passphrase-protected key: a PKCS#8 "ENCRYPTED
 * PRIVATE KEY" block, or OpenSSL's legacy "Proc-Type: 4,ENCRYPTED". */
int minica_pkcs8_is_encrypted(const char *pem);

/* pk as an encrypted PEM ("-----BEGIN ENCRYPTED PRIVATE KEY-----"), with a
 * fresh 16-byte salt and IV from rng; iterations 0 means the default.
 * *pem is malloc'd, *len its strlen. */
int minica_pkcs8_encrypt_pem(mbedtls_pk_context *pk, const unsigned char *pass, size_t pass_len,
                             unsigned iterations, struct minica_rng *rng, char **pem, size_t *len,
                             struct minica_err *err);

/* pk as a DER PrivateKeyInfo (RFC 5958 2), unencrypted: what the
 * encryption below takes (PKCS#12's shrouded key bag too). *pki is
 * malloc'd with *cap bytes: free it with minica_free_secret(*pki, *cap). */
int minica_pkcs8_private_key_info(mbedtls_pk_context *pk, unsigned char **pki, size_t *pki_len,
                                  size_t *cap, struct minica_err *err);

/* The DER EncryptedPrivateKeyInfo around the PrivateKeyInfo pki. *der is
 * malloc'd. */
int minica_pkcs8_encrypt_der(const unsigned char *pki, size_t pki_len, const unsigned char *pass,
                             size_t pass_len, unsigned iterations, struct minica_rng *rng,
                             unsigned char **der, size_t *der_len, struct minica_err *err);

/* The PrivateKeyInfo inside der, malloc'd (free with minica_free_secret).
 * MINICA_EFORBIDDEN: the passphrase is wrong (or the ciphertext was
 * changed: the two cannot be told apart); MINICA_EINVAL: not DER, or a
 * scheme minica does not read (named, with the openssl command that
 * re-encrypts it). */
int minica_pkcs8_decrypt_der(const unsigned char *der, size_t der_len, const unsigned char *pass,
                             size_t pass_len, unsigned char **pki, size_t *pki_len,
                             struct minica_err *err);

/* pem (NUL-terminated) decrypted and parsed into pk; errors as above. */
int minica_pkcs8_decrypt_pem(const char *pem, const unsigned char *pass, size_t pass_len,
                             mbedtls_pk_context *pk, struct minica_rng *rng,
                             struct minica_err *err);

#endif
