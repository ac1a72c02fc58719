/* Revoking issued certificates: by NAME (every still-valid certificate
 * carrying it) or by serial, with an RFC 5280 reason. Publishing the result is crl.h's
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

/* What became of one certificate a NAME or serial matched. */
enum minica_revoke_outcome {
    MINICA_REVOKE_DONE = 1,    /* newly revoked by this call */
    MINICA_REVOKE_ALREADY = 2, /* revoked before: its time and reason stay */
    MINICA_REVOKE_EXPIRED = 3, /* matched by NAME but expired: left alone */
};

struct minica_revoke_match {
    char serial[MINICA_SERIAL_HEX_MAX];
    char name[256];
    char sans[MINICA_SANS_MAX]; /* every name, as in the inventory: which one matched shows */
    enum minica_revoke_outcome outcome;
};

struct minica_revoke_result {
    size_t revoked;         /* newly revoked by this call */
    size_t already_revoked; /* matched but revoked before */
    size_t expired;         /* matched by NAME but expired */
    /* Every certificate matched, soonest expiry first; as many as there
     * were (no truncation), malloc'd: minica_revoke_result_free. */
    struct minica_revoke_match *matches;
    size_t n_matches;
};

/* Frees the matches; safe on a zeroed or already freed result. */
void minica_revoke_result_free(struct minica_revoke_result *result);

/* Revokes by NAME first: every unexpired, unrevoked certificate that carries
 * NAME as any of its names (the first or a SAN, DNS or IP; NAME is
 * canonicalized, so 2001:DB8:0::7 finds 2001:db8::7), else by serial (that
 * one certificate, expired or not). Returns how many were newly revoked (0
 * when everything was already revoked), MINICA_ENOENT when nothing matches,
 * or another negative MINICA_E* code (then result holds nothing). Lookup,
 * change and audit row are one transaction, so the counts are what
 * happened even with other writers. result may be NULL; else free it with
 * minica_revoke_result_free, whatever the return. */
int minica_ca_revoke(struct minica_ca *ca, const char *name_or_serial,
                     enum minica_revoke_reason reason, struct minica_revoke_result *result,
                     struct minica_err *err);

#endif
