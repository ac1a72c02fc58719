/* ACME External Account Binding keys (RFC 8555 7.3.4): what `minica acme
 * eab` makes, lists and revokes, and what serve's newAccount checks an
 * inner HS256 JWS with. The MAC key of a kid is derived, never stored:
 * HMAC-SHA256(secret, "minica acme eab v1\0" || kid), the secret being 32
 * random bytes in DIR/acme-eab.key (0600). A copy of the database alone
 * computes no MAC key. The table is store_acme.h's. */
#ifndef MINICA_ACME_EAB_H
#define MINICA_ACME_EAB_H

#include <stddef.h>
#include <stdint.h>

#include "minica/ca.h"
#include "minica/error.h"
#include "minica/names.h"
#include "minica/store_acme.h"

#define MINICA_ACME_EAB_SECRET_FILE "acme-eab.key"
#define MINICA_ACME_EAB_KID_LEN 16       /* hex */
#define MINICA_ACME_EAB_HMAC_LEN 32      /* octets of the MAC key */
#define MINICA_ACME_EAB_HMAC_TEXT_MAX 48 /* its base64url, with NUL */
#define MINICA_ACME_EAB_DEFAULT_EXPIRY (30 * 86400LL)
#define MINICA_ACME_EAB_MAX_EXPIRY (366 * 86400LL)

struct minica_acme_eab_request {
    const char *label;             /* NULL: "" */
    const char *const *permit_dns; /* DNS suffixes the account may order */
    size_t n_permit_dns;
    const char *const *permit_ip; /* CIDRs the account may order */
    size_t n_permit_ip;
    int64_t expires_in; /* seconds the key stays usable to bind; 0 = 30d */
};

/* Makes a key: creates DIR/acme-eab.key (0600, atomically) when there is
 * none, stores the kid and its lists, audits it. hmac (at least
 * MINICA_ACME_EAB_HMAC_TEXT_MAX) receives the base64url MAC key, which is
 * shown once; row (optional) what was stored. MINICA_EINVAL for a bad list
 * entry or expiry. */
int minica_acme_eab_create(struct minica_ca *ca, const struct minica_acme_eab_request *req,
                           struct minica_acme_eab_key *row, char *hmac, size_t hmac_size,
                           struct minica_err *err);

/* Revokes a key (audited): it binds no new account, and the account it is
 * bound to may no longer order. MINICA_ENOENT when there is none,
 * MINICA_EBUSY when it is already revoked. */
int minica_acme_eab_revoke(struct minica_ca *ca, const char *kid, struct minica_err *err);

/* The MAC key of kid, from DIR/acme-eab.key (read once per CA handle).
 * MINICA_ENOENT when the file does not exist (no key was ever made). */
int minica_acme_eab_mac_key(struct minica_ca *ca, const char *kid,
                            unsigned char key[MINICA_ACME_EAB_HMAC_LEN], struct minica_err *err);

enum minica_acme_eab_state {
    MINICA_ACME_EAB_VALID = 1, /* usable to bind an account */
    MINICA_ACME_EAB_BOUND,
    MINICA_ACME_EAB_EXPIRED,
    MINICA_ACME_EAB_REVOKED,
};
/* Revoked wins over bound, bound over expired (expiry ends binding only). */
enum minica_acme_eab_state minica_acme_eab_state(const struct minica_acme_eab_key *row,
                                                 int64_t now);
const char *minica_acme_eab_state_name(enum minica_acme_eab_state state);

/* Whether the key's lists let its account have name (on top of the CA's
 * policy): MINICA_EPOLICY naming the key and its list when not. */
int minica_acme_eab_check_name(const struct minica_acme_eab_key *row,
                               const struct minica_name *name, struct minica_err *err);

#endif
