/* ECDSA signatures checked with GnuTLS (nettle): serve has it loaded
 * already for TLS, and it verifies P-256 about eight times faster than
 * mbedTLS 2.28, which rebuilds a table for the key at every verification.
 * Used for what clients sign (ACME's JWS, CSRs); the CA's own signatures
 * stay with its signer. Internal to src/lib/serve. */
#ifndef MINICA_SERVE_FASTVERIFY_H
#define MINICA_SERVE_FASTVERIFY_H

#include <stddef.h>

/* A minica_ecdsa_verifier (ca/x509.h): the DER signature sig over data
 * with SHA-256 (SHA-384 when sha384) by the key in spki (DER
 * SubjectPublicKeyInfo). 1 valid, 0 invalid, -1 when GnuTLS cannot say
 * (not loadable, or it refuses the key), and the caller's mbedTLS decides. */
int minica_gnutls_ecdsa_verify(int sha384, const unsigned char *spki, size_t spki_len,
                               const unsigned char *data, size_t data_len, const unsigned char *sig,
                               size_t sig_len);

/* Tests: 1 makes every call answer -1, so that mbedTLS decides. */
void minica_gnutls_ecdsa_off(int off);

#endif
