/* base64url without padding (RFC 4648 section 5, RFC 7515 section 2), as
 * JOSE and ACME use it. Strict: one spelling per octet string, so that two
 * parsers (or a thumbprint and a stored key) never disagree about a value.
 * Not for PEM (that is mbedTLS's base64 with padding and line breaks). */
#ifndef MINICA_BASE_B64URL_H
#define MINICA_BASE_B64URL_H

#include <stddef.h>

/* Characters minica_b64url_encode writes for len octets (no NUL). */
size_t minica_b64url_encoded_len(size_t len);

/* Writes the encoding and a NUL into out (out_size >= encoded_len + 1).
 * Returns 0, or MINICA_EINVAL when out is too small. */
int minica_b64url_encode(const unsigned char *in, size_t len, char *out, size_t out_size);

/* Decodes text[0..len) into out and sets *out_len. Refuses (MINICA_EINVAL)
 * '=', '+', '/', whitespace and every other character outside [A-Za-z0-9_-],
 * a length of 1 mod 4 (no such encoding exists), nonzero unused bits in the
 * last character (a second spelling of the same octets), and an out too
 * small for the result. An empty text is the empty octet string. */
int minica_b64url_decode(const char *text, size_t len, unsigned char *out, size_t out_size,
                         size_t *out_len);

/* The most octets len characters can decode to (for sizing out). */
size_t minica_b64url_decoded_max(size_t len);

#endif
