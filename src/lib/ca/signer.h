/* One CA private key, wherever it lives: a key file (signer.c), an
 * encrypted key file (pkcs8.c reads it into a key-file signer), a PKCS#11
 * token (pkcs11.c), or later a separate signer process. Everything that
 * signs for the CA (certificates, CRLs, the root at init, intermediates
 * at rotation) goes through minica_signer_sign, so the key can leave the
 * process without the callers changing. Internal to src/lib/ca. */
#ifndef MINICA_CA_SIGNER_H
#define MINICA_CA_SIGNER_H

#include <stddef.h>

#include <mbedtls/md.h>
#include <mbedtls/pk.h>

#include "ca/signer_wire.h"
#include "minica/error.h"

struct minica_rng;
struct minica_signer;

struct minica_signer_ops {
    /* hash, of md, into sig as X.509 carries it: an ECDSA-Sig-Value
     * (DER) for EC keys, a PKCS#1 v1.5 signature for RSA keys. */
    int (*sign)(struct minica_signer *s, mbedtls_md_type_t md, const unsigned char *hash,
                size_t hash_len, unsigned char *sig, size_t sig_size, size_t *sig_len,
                struct minica_err *err);
    /* Releases impl and what the backend holds; minica_signer_free then
     * frees pub and the struct, which the backend calloc'd. */
    void (*free)(struct minica_signer *s);
    /* Optional, and then used instead of sign: a signer that checks what
     * it signs (serve's signer process, signer_proc.c) needs the whole
     * TBS, of the wire profile given, not its hash. */
    int (*sign_tbs)(struct minica_signer *s, enum minica_wire_profile profile,
                    const unsigned char *tbs, size_t tbs_len, unsigned char *sig, size_t sig_size,
                    size_t *sig_len, struct minica_err *err);
};

struct minica_signer {
    const struct minica_signer_ops *ops;
    /* The public key: the signature algorithm, the AKI, and the check
     * that the key belongs to its certificate. */
    mbedtls_pk_context pub;
    /* For `minica ca status` and messages, never a PIN or passphrase:
     * "file ca/intermediate-SERIAL.key", "pkcs11:token=...;object=...". */
    char where[512];
    void *impl;
};

int minica_signer_sign(struct minica_signer *s, mbedtls_md_type_t md, const unsigned char *hash,
                       size_t hash_len, unsigned char *sig, size_t sig_size, size_t *sig_len,
                       struct minica_err *err);
void minica_signer_free(struct minica_signer *s);

/* A signer over an in-memory private key, which it takes over (key is
 * left empty). rng must outlive the signer (ECDSA's and RSA blinding's
 * randomness). */
int minica_signer_from_pk(mbedtls_pk_context *key, const char *where, struct minica_rng *rng,
                          struct minica_signer **out, struct minica_err *err);

#endif
