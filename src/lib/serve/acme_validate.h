/* The ACME server as validating client: http-01 (RFC 8555 8.3) and
 * tls-alpn-01 (RFC 8737, RFC 8738 for IPs). Every connection goes only to an
 * address the policy's permit_ip allows, pinned after the check so DNS cannot
 * rebind it; a private CA's validator must not be an SSRF tool. Not the JWS or
 * the key authorization (computed by the caller), nor any state in the store. */
#ifndef MINICA_SERVE_ACME_VALIDATE_H
#define MINICA_SERVE_ACME_VALIDATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"
#include "minica/names.h"
#include "minica/policy.h"

#define MINICA_ACME_MAX_ADDRS 16

/* One resolved address: 4 or 16 bytes, network order. */
struct minica_acme_addr {
    uint8_t ip[16];
    size_t len;
};

/* TEST ONLY: replaces getaddrinfo for host names (never for IP literals), so
 * unit tests can point names at loopback servers. Production leaves it NULL.
 * Fills up to max addresses into out and sets *n; returns 0 or a negative
 * MINICA_E* code with err set. */
typedef int (*minica_acme_resolve_fn)(void *arg, const char *host, struct minica_acme_addr *out,
                                      size_t max, size_t *n, struct minica_err *err);

struct minica_acme_validate_settings {
    unsigned http_port;             /* http-01 target and http redirects: 80 */
    unsigned https_port;            /* https redirects: 443 */
    unsigned tls_port;              /* tls-alpn-01 target: 443 */
    int connect_timeout_ms;         /* one TCP (and TLS) connect: 5000 */
    int total_timeout_ms;           /* one whole validation, redirects included: 10000 */
    size_t max_body;                /* http-01 bytes read before giving up: 8192 */
    int max_redirects;              /* 10 */
    unsigned max_concurrent;        /* validations in flight at once: 16 */
    minica_acme_resolve_fn resolve; /* TEST ONLY, see above; NULL = getaddrinfo */
    void *resolve_arg;
};

/* Why a validation failed, as RFC 8555 6.7 problem types. */
enum minica_acme_vproblem {
    MINICA_ACME_VP_NONE = 0,
    MINICA_ACME_VP_CONNECTION,          /* unreachable, timeout, bad or forbidden redirect */
    MINICA_ACME_VP_DNS,                 /* the name does not resolve */
    MINICA_ACME_VP_INCORRECT_RESPONSE,  /* answered, but not with the key authorization */
    MINICA_ACME_VP_TLS,                 /* TLS handshake failed */
    MINICA_ACME_VP_REJECTED_IDENTIFIER, /* the identifier's addresses are outside permit_ip */
    MINICA_ACME_VP_SERVER_INTERNAL,     /* our side: no library, out of memory, busy */
};

/* "urn:ietf:params:acme:error:connection" etc. */
const char *minica_acme_vproblem_type(enum minica_acme_vproblem p);

/* A validator: the policy (borrowed; must outlive it), the settings, and the
 * gate that bounds concurrency. Safe to share between threads. */
struct minica_acme_validator {
    const struct minica_policy *policy;
    struct minica_acme_validate_settings settings;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    unsigned active;
    int initialized;
};

void minica_acme_validate_settings_init(struct minica_acme_validate_settings *s);
/* Release builds: nothing. The test build's (tests/support/acme_test_ports.c)
 * reads MINICA_ACME_TEST_HTTP_PORT and MINICA_ACME_TEST_TLS_PORT into s;
 * serve applies it once at open. */
void minica_acme_test_ports(struct minica_acme_validate_settings *s);
/* settings NULL: the defaults. */
int minica_acme_validator_init(struct minica_acme_validator *v, const struct minica_policy *policy,
                               const struct minica_acme_validate_settings *settings,
                               struct minica_err *err);
void minica_acme_validator_free(struct minica_acme_validator *v);

/* GET http://ID:http_port/.well-known/acme-challenge/TOKEN and compare the
 * body with key_authz. 0 when valid; otherwise a negative code, *problem set
 * and err naming the reason. A validation waits for a free slot at most
 * total_timeout_ms (then MINICA_EBUSY). */
int minica_acme_validate_http01(struct minica_acme_validator *v, const struct minica_name *id,
                                const char *token, const char *key_authz,
                                enum minica_acme_vproblem *problem, struct minica_err *err);
/* TLS to ID:tls_port with ALPN acme-tls/1 and checks the served certificate. */
int minica_acme_validate_tls_alpn01(struct minica_acme_validator *v, const struct minica_name *id,
                                    const char *key_authz, enum minica_acme_vproblem *problem,
                                    struct minica_err *err);

/* The pure parts, exposed for tests. */

/* A token is base64url (RFC 8555 8.1: at least 128 bits, so >= 22 chars is the
 * caller's business; here: 1..256 chars of [A-Za-z0-9_-]). key_authz must be
 * TOKEN "." base64url. 0 or MINICA_EINVAL. */
int minica_acme_check_token(const char *token, struct minica_err *err);
int minica_acme_check_key_authz(const char *token, const char *key_authz, struct minica_err *err);
/* 1 when body (len bytes, not NUL-terminated) is key_authz followed only by
 * whitespace (RFC 8555 8.3: the server SHOULD ignore trailing whitespace). */
int minica_acme_http01_body_matches(const char *body, size_t len, const char *key_authz);
/* 0 when the address may be dialed: inside the policy's permit_ip (an empty
 * permit_ip permits every address, as it does for issuance) and never an
 * unspecified, multicast or broadcast address. IPv4-mapped IPv6 is checked
 * (and rewritten in *addr) as the IPv4 address it reaches. MINICA_EPOLICY. */
int minica_acme_addr_permitted(const struct minica_policy *policy, struct minica_acme_addr *addr,
                               struct minica_err *err);
/* RFC 8738 6: the SNI for an IP identifier, "4.3.2.1.in-addr.arpa" or the
 * ip6.arpa nibble form. */
int minica_acme_reverse_name(const struct minica_name *ip, char *out, size_t outlen);
/* The tls-alpn-01 certificate rules (RFC 8737 3): exactly one subjectAltName
 * entry, equal to id; a critical id-pe-acmeIdentifier extension holding an
 * OCTET STRING of SHA-256(key_authz); no extension twice. 0 or
 * MINICA_EFORBIDDEN with the broken rule in err. */
int minica_acme_tls_alpn01_check_cert(const uint8_t *der, size_t len, const struct minica_name *id,
                                      const char *key_authz, struct minica_err *err);

#endif
