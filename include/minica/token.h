/* One-time enrollment tokens: what `minica token` hands to a new VM and what
 * `minica serve` accepts once, in exchange for a certificate with the names,
 * usage and TTL the token was made for. Not a session or API key: a token is
 * spent by its first successful use. */
#ifndef MINICA_TOKEN_H
#define MINICA_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "minica/ca.h"
#include "minica/error.h"
#include "minica/issue.h"
#include "minica/store.h"

/* "<16 hex id>.<43 base64url characters of secret>" (256 random bits). */
#define MINICA_TOKEN_ID_LEN 16
#define MINICA_TOKEN_TEXT_MAX 64
#define MINICA_TOKEN_DEFAULT_EXPIRY 3600
#define MINICA_TOKEN_MAX_EXPIRY (30 * 86400LL)

struct minica_token_request {
    const char *name;        /* the certificate's NAME */
    const char *const *sans; /* more DNS names or IPs */
    size_t n_sans;
    enum minica_usage usage; /* 0 = server */
    int64_t ttl;             /* of the certificate; 0 = the policy's default */
    int64_t expires_in;      /* seconds the token stays usable; 0 = 1h */
};

/* Checks the request against the CA's policy (names, TTL), stores the
 * token's hash and audits it. text (at least MINICA_TOKEN_TEXT_MAX bytes)
 * receives the token; row (optional) what was stored. */
int minica_token_create(struct minica_ca *ca, const struct minica_token_request *req, char *text,
                        size_t textlen, struct minica_token_row *row, struct minica_err *err);

/* Revokes an unused token by id (audited). MINICA_ENOENT if there is none.
 * A token already revoked is left as it was: *revoked_before (may be NULL)
 * gets when, else 0. */
int minica_token_revoke(struct minica_ca *ca, const char *id, int64_t *revoked_before,
                        struct minica_err *err);

enum minica_token_state {
    MINICA_TOKEN_VALID = 1,
    MINICA_TOKEN_USED,
    MINICA_TOKEN_EXPIRED,
    MINICA_TOKEN_REVOKED,
};
enum minica_token_state minica_token_state(const struct minica_token_row *row, int64_t now);
const char *minica_token_state_name(enum minica_token_state state);

/* The id part of a token text ("" and MINICA_EFORBIDDEN when it does not
 * look like a token); safe to log and audit, unlike the secret. */
int minica_token_id(const char *text, char id[MINICA_TOKEN_ID_LEN + 1], struct minica_err *err);

/* Issues the certificate a token stands for from csr_pem, consuming the
 * token in the same transaction that records the certificate (of concurrent
 * uses exactly one succeeds; a crash leaves both or neither). The CSR's
 * signature is checked and its names must equal the token's; usage, when
 * not 0, must equal the token's too. Returns MINICA_EFORBIDDEN for unknown,
 * used, expired or revoked tokens and for CSRs asking for other names or
 * another usage (the token stays unspent), MINICA_EINVAL for unreadable
 * CSRs, and what minica_ca_issue returns otherwise. Refusals are audited. */
int minica_ca_issue_with_token(struct minica_ca *ca, const char *token, const char *csr_pem,
                               enum minica_usage usage, struct minica_issued *out,
                               struct minica_err *err);
/* 1 when token is one the CA would take now (known, the right secret,
 * neither used, revoked nor expired); 0 otherwise, with nothing audited.
 * Lets serve spend CPU on a CSR only for a token worth it. */
int minica_ca_token_usable(struct minica_ca *ca, const char *token);
/* The same as minica_ca_issue_with_token, for a CSR whose signature minica_csr_precheck checked
 * before the caller took the CA's lock (receipt may be NULL). */
int minica_ca_issue_with_token_checked(struct minica_ca *ca, const char *token, const char *csr_pem,
                                       const struct minica_csr_receipt *receipt,
                                       enum minica_usage usage, struct minica_issued *out,
                                       struct minica_err *err);

/* Checks that csr_pem asks for exactly the names in allowed (comma-separated,
 * canonical; its CN, if any, is the first): MINICA_EINVAL for an unreadable
 * CSR, MINICA_EFORBIDDEN for other names. Does NOT check the CSR's signature:
 * it is the cheap early refusal before minica_ca_issue, which does. */
int minica_csr_names_match(const char *allowed, const char *csr_pem, struct minica_err *err);

#endif
