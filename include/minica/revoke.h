/* Revoking issued certificates: by NAME (every still-valid certificate for
 * it) or by serial, with an RFC 5280 reason. Publishing the result is crl.h's
 * job; this module only changes the inventory and audits it. */
#ifndef MINICA_REVOKE_H
#define MINICA_REVOKE_H

#include <stddef.h>

#include "minica/ca.h"
#include "minica/error.h"
#include "minica/store.h"

/* "unspecified", "keyCompromise", "affiliationChanged", "superseded",
 * "cessationOfOperation" (case-insensitive; '-' and '_' ignored). */
int minica_revoke_reason_parse(const char *text, enum minica_revoke_reason *out,
                               struct minica_err *err);
/* The RFC 5280 spelling of a CRLReason code ("unknown" outside minica's set). */
const char *minica_revoke_reason_name(int reason);

#define MINICA_REVOKE_LIST_MAX 2048

struct minica_revoke_result {
    size_t revoked;         /* newly revoked by this call */
    size_t already_revoked; /* matched but revoked before (their time and reason stay) */
    size_t expired;         /* matched by NAME but expired: left alone */
    char serials[MINICA_REVOKE_LIST_MAX];  /* newly revoked, comma-separated */
    char previous[MINICA_REVOKE_LIST_MAX]; /* already revoked, comma-separated */
};

/* Revokes by NAME first (all of its unexpired, unrevoked certificates), else
 * by serial (that one certificate). Returns how many were newly revoked (0 when
 * everything was already revoked), MINICA_ENOENT when nothing matches, or
 * another negative MINICA_E* code. The change and its audit row are one
 * transaction. */
int minica_ca_revoke(struct minica_ca *ca, const char *name_or_serial,
                     enum minica_revoke_reason reason, struct minica_revoke_result *result,
                     struct minica_err *err);

#endif
