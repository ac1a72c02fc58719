/* The PKCS#11 signer backend: a CA key that lives in a token (an HSM,
 * SoftHSM2, a TPM through its PKCS#11 module), named by an RFC 7512 URI
 * and used through C_Sign. Only the signing and the key's making; which
 * CA key lives where is the caller's (ca.c, the configuration). Internal
 * to src/lib/ca. */
#ifndef MINICA_CA_PKCS11_H
#define MINICA_CA_PKCS11_H

#include "ca/signer.h"
#include "minica/error.h"
#include "minica/key.h"

/* Opens the private key uri names (object= and/or id=, on the one token
 * the URI's token, slot and module attributes match) and its public half
 * (a public-key or certificate object with the same CKA_ID, or the RSA
 * key's own modulus). pin is the user PIN, NUL-terminated; NULL takes it
 * from the URI's pin-source=file:PATH (a file only root or we own, no
 * group or other bits) or pin-value=. The module is the URI's module-path=
 * or else one of p11-kit's configured modules (module-name= chooses).
 * s->where is the URI without its pin-value. The signer holds one logged-in
 * session; sign may be called from any thread (it serialises its calls).
 * Open it in the process that signs: a PKCS#11 session does not survive
 * fork(). */
int minica_pkcs11_signer_open(const char *uri, const char *pin, struct minica_signer **out,
                              struct minica_err *err);

/* Makes a key pair of type in the token uri names, labelled with the
 * URI's object= (required), with the URI's id= or else a random CKA_ID
 * (rng), non-extractable, sensitive, private and for signing only.
 * Refuses (MINICA_EEXIST) when a key with that label or id exists. With
 * out, returns a signer over the new key as minica_pkcs11_signer_open
 * would. */
struct minica_rng;
int minica_pkcs11_generate(const char *uri, const char *pin, enum minica_key_type type,
                           struct minica_rng *rng, struct minica_signer **out,
                           struct minica_err *err);

/* uri as configured minus any pin-value, into out: what messages and
 * `minica ca status` show, without opening the token. */
int minica_pkcs11_uri_redact(const char *uri, char *out, size_t size, struct minica_err *err);

#endif
