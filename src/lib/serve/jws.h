/* ACME request bodies (RFC 8555 section 6.2): the flattened JWS JSON
 * serialization (RFC 7515 section 7.2.2), its protected header, the JWK it
 * may carry (RFC 7517/7518) and its signature, checked with mbedTLS; the
 * JWK thumbprint (RFC 7638) and key authorization (RFC 8555 section 8.1).
 * Not here: nonce bookkeeping, the url comparison and account lookup (the
 * ACME handler owns them; this module exposes the fields). Internal to
 * src/lib/serve. */
#ifndef MINICA_SERVE_JWS_H
#define MINICA_SERVE_JWS_H

#include <stddef.h>

#include <mbedtls/pk.h>

/* Caps on outside input, checked before any decoding: a request body (the
 * serve front's own cap), the protected header as sent, and header values. */
#define MINICA_JWS_MAX_BODY (64 * 1024)
#define MINICA_JWS_MAX_PROTECTED (8 * 1024)
#define MINICA_JWS_MAX_URL 2048
#define MINICA_JWS_MAX_NONCE 256
/* RSA moduli accepted in a JWK; 4096 bounds the cost of one verification. */
#define MINICA_JWS_RSA_MIN_BITS 2048
#define MINICA_JWS_RSA_MAX_BITS 4096

/* The RFC 8555 section 6.7 problem types a refusal here can carry. */
enum minica_acme_problem_type {
    MINICA_ACME_PROBLEM_NONE = 0,
    MINICA_ACME_PROBLEM_MALFORMED,
    MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM,
    MINICA_ACME_PROBLEM_BAD_PUBLIC_KEY,
    MINICA_ACME_PROBLEM_BAD_NONCE,
    MINICA_ACME_PROBLEM_UNAUTHORIZED,
    MINICA_ACME_PROBLEM_SERVER_INTERNAL,
};

struct minica_acme_problem {
    enum minica_acme_problem_type type;
    char detail[200]; /* one line, no client text beyond short quoted names */
};

/* "urn:ietf:params:acme:error:malformed" etc.; "" for NONE. */
const char *minica_acme_problem_urn(enum minica_acme_problem_type type);

enum minica_jws_alg {
    MINICA_JWS_ALG_NONE = 0,
    MINICA_JWS_ES256,
    MINICA_JWS_ES384,
    MINICA_JWS_RS256,
    /* External Account Binding's inner JWS only (RFC 8555 7.3.4): never
     * accepted for a request or for minica_jws_verify_signature. */
    MINICA_JWS_HS256,
};

/* What a request must and must not carry in its protected header. */
enum minica_jws_kind {
    /* Every ACME request: a nonce (RFC 8555 6.5), and jwk or kid. */
    MINICA_JWS_REQUEST = 0,
    /* keyChange's inner JWS (RFC 8555 7.3.5): jwk, no nonce. */
    MINICA_JWS_KEYCHANGE_INNER,
    /* newAccount's externalAccountBinding (RFC 8555 7.3.4): alg HS256, a
     * kid (the EAB key id, not an account URL), url, no nonce, no jwk. */
    MINICA_JWS_EAB_INNER,
};

/* A parsed request. Strings are NUL-terminated and malloc'd; kid and
 * jwk_json are NULL when absent (exactly one is set). */
struct minica_jws {
    enum minica_jws_alg alg;
    char *nonce; /* as sent (base64url); NULL for KEYCHANGE_INNER */
    char *url;
    char *kid;
    /* The jwk member, re-serialized compactly (what to store for an
     * account), its key and its RFC 7638 thumbprint. */
    char *jwk_json;
    mbedtls_pk_context jwk_key;
    unsigned char jwk_thumbprint[32];
    /* The decoded payload; len 0 is POST-as-GET (RFC 8555 6.3). Always
     * NUL-terminated for convenience (not counted in payload_len). */
    unsigned char *payload;
    size_t payload_len;
    /* What the signature covers: protected "." payload, as sent. */
    char *signing_input;
    size_t signing_input_len;
    unsigned char *signature;
    size_t signature_len;
};

void minica_jws_init(struct minica_jws *jws);
void minica_jws_free(struct minica_jws *jws);

/* Parses body[0..len) into jws (initialised by the caller) without checking
 * the signature. 0, or a negative MINICA_E* code with prob filled. The
 * parsed jwk (if any) has passed minica_jwk_parse. */
int minica_jws_parse(const char *body, size_t len, enum minica_jws_kind kind,
                     struct minica_jws *jws, struct minica_acme_problem *prob);

/* Checks jws's signature with key: jws->jwk_key for a jwk request, the
 * account's key for a kid one. The key must suit jws->alg (ES256: P-256,
 * ES384: P-384, RS256: RSA). Refusals: badSignatureAlgorithm for an alg
 * the key cannot make, malformed for a signature that does not verify (as
 * Boulder and Pebble answer). */
int minica_jws_verify(const struct minica_jws *jws, const mbedtls_pk_context *key,
                      struct minica_acme_problem *prob);

/* The same on raw parts: a signature (JOSE form: r||s for ES*) over input. */
int minica_jws_verify_signature(enum minica_jws_alg alg, const mbedtls_pk_context *key,
                                const unsigned char *input, size_t input_len,
                                const unsigned char *sig, size_t sig_len,
                                struct minica_acme_problem *prob);

/* ES256 and ES384 are verified with GnuTLS when it can be loaded (it is
 * several times faster than mbedTLS 2.28), else with mbedTLS. TEST ONLY:
 * on = 1 makes every verification take the mbedTLS path. */
void minica_jws_force_mbedtls(int on);

/* Checks an MINICA_JWS_EAB_INNER jws's HS256 MAC with key, in constant
 * time. malformed for another alg or a MAC of the wrong size,
 * unauthorized for a MAC that does not verify. */
int minica_jws_verify_hmac(const struct minica_jws *jws, const unsigned char *key, size_t key_len,
                           struct minica_acme_problem *prob);

/* A public JWK as JSON text -> pk (initialised by the caller) and its
 * RFC 7638 thumbprint (thumbprint may be NULL). EC P-256/P-384 (point on
 * the curve) or RSA of MINICA_JWS_RSA_MIN_BITS..MAX_BITS; refuses private
 * members, other key types and curves, and non-canonical numbers
 * (badPublicKey), and non-JSON (malformed). */
int minica_jwk_parse(const char *json, size_t len, mbedtls_pk_context *pk,
                     unsigned char thumbprint[32], struct minica_acme_problem *prob);

/* token "." base64url(thumbprint) (RFC 8555 8.1) into out; MINICA_EINVAL
 * when it does not fit. */
int minica_acme_key_authorization(const char *token, const unsigned char thumbprint[32], char *out,
                                  size_t out_size);

#endif
