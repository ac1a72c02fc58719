/* DER encoders for the X.509 extensions mbedTLS 2.28 cannot write
 * (subjectAltName, extendedKeyUsage, and basicConstraints /
 * keyUsage with the criticality RFC 5280 asks for), and the one decoder
 * minica needs (subjectAltName out of a CSR). Built with mbedtls_asn1_write_*. */
#ifndef MINICA_DER_H
#define MINICA_DER_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"
#include "minica/names.h"

/* Key usage bits as in RFC 5280 (first byte of the BIT STRING). */
#define MINICA_KU_DIGITAL_SIGNATURE 0x80
#define MINICA_KU_KEY_ENCIPHERMENT 0x20
#define MINICA_KU_KEY_CERT_SIGN 0x04
#define MINICA_KU_CRL_SIGN 0x02

/* Every encoder writes the extension's value (what goes inside extnValue)
 * backwards at the end of buf, as mbedtls_asn1_write_* do, and points *der
 * and *len at it. Returns 0 or a negative MINICA_E* code. */
int minica_der_san(const struct minica_name *names, size_t n, unsigned char *buf, size_t size,
                   unsigned char **der, size_t *len, struct minica_err *err);
/* pathlen < 0: no pathLenConstraint. */
int minica_der_basic_constraints(int is_ca, int pathlen, unsigned char *buf, size_t size,
                                 unsigned char **der, size_t *len, struct minica_err *err);
int minica_der_key_usage(unsigned bits, unsigned char *buf, size_t size, unsigned char **der,
                         size_t *len, struct minica_err *err);
int minica_der_ext_key_usage(int server_auth, int client_auth, unsigned char *buf, size_t size,
                             unsigned char **der, size_t *len, struct minica_err *err);
/* Decodes a subjectAltName value into canonical names, comma-separated in out.
 * Name types other than dNSName and iPAddress are refused. */
int minica_der_parse_san(const unsigned char *der, size_t len, char *out, size_t outlen,
                         struct minica_err *err);

/* Finds the subjectAltName in an Extensions SEQUENCE (a certificate's v3
 * extensions, or a CSR's extensionRequest) and decodes it like
 * minica_der_parse_san; out is "" when there is none. */
int minica_der_find_san(const unsigned char *der, size_t len, char *out, size_t outlen,
                        struct minica_err *err);

/* A signed X.509 object (Certificate, CertificateList, CertificationRequest)
 * is SEQUENCE { body, signatureAlgorithm, signatureValue }. Each part points
 * at a whole TLV inside the caller's buffer. */
struct minica_der_part {
    const unsigned char *p;
    size_t len;
};
struct minica_der_signed {
    struct minica_der_part body, alg, sig;
};
int minica_der_split_signed(const unsigned char *der, size_t len, struct minica_der_signed *out,
                            struct minica_err *err);

/* RFC 5758 3.2: an ecdsa-with-* AlgorithmIdentifier MUST omit its parameters,
 * and mbedTLS 2.28 writes a NULL there (Chromium and rustls then refuse the
 * chain). Returns 1 and the fixed TLV in out (at most alg->len bytes) when
 * alg is ECDSA with parameters, 0 when it needs no change, <0 if malformed. */
int minica_der_ecdsa_alg_without_params(const struct minica_der_part *alg, unsigned char *out,
                                        size_t *out_len);

/* SEQUENCE { parts[0] .. parts[n-1] } in a malloc'd buffer. */
int minica_der_sequence(const struct minica_der_part *parts, size_t n, unsigned char **out,
                        size_t *out_len, struct minica_err *err);

/* The TLV at *p (which moves past it), bounded by end. */
int minica_der_next_tlv(const unsigned char **p, const unsigned char *end,
                        struct minica_der_part *tlv);

#endif
