/* ACME Renewal Information (RFC 9773) for serve's ACME server: the
 * certificate identifier (certID), the suggested renewal window, the
 * renewalInfo resource and newOrder's "replaces". Not the routing or the
 * JWS checks (serve/acme.c, serve/acme_reply.c), nor storage
 * (minica/store_acme.h). Internal to src/lib/serve. */
#ifndef MINICA_SERVE_ACME_ARI_H
#define MINICA_SERVE_ACME_ARI_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <mbedtls/x509_crt.h>

#include "minica/error.h"
#include "minica/store.h"

struct minica_server;

#define MINICA_ARI_PATH "/acme/renewal-info/"
/* RFC 9773 4.3: how long a client should wait before asking again. */
#define MINICA_ARI_RETRY_AFTER (6 * 3600)
/* RFC 5280 4.2.1.1 sets no limit on a keyIdentifier; 64 octets hold any
 * hash a CA uses. A serial is at most 20 octets (4.1.2.2), plus the
 * leading zero a DER INTEGER needs when its top bit is set. */
#define MINICA_ARI_AKI_MAX 64
#define MINICA_ARI_SERIAL_MAX 21
#define MINICA_ARI_CERTID_MAX 160

/* RFC 9773 4.1: base64url(AKI keyIdentifier) "." base64url(the serial's
 * DER INTEGER contents octets), both without padding. */
struct minica_ari_certid {
    unsigned char aki[MINICA_ARI_AKI_MAX];
    size_t aki_len;
    unsigned char serial[MINICA_ARI_SERIAL_MAX];
    size_t serial_len;
};

/* Parses text (NUL-terminated). MINICA_EINVAL, with the reason in err, for
 * anything but two non-empty canonical base64url parts, an AKI too long, or
 * a serial that is not a positive DER INTEGER's contents in minimal form. */
int minica_ari_certid_parse(const char *text, struct minica_ari_certid *out,
                            struct minica_err *err);
/* Writes the certID into out; MINICA_EINVAL when it does not fit. */
int minica_ari_certid_format(const struct minica_ari_certid *id, char *out, size_t size);
/* The certID of a certificate. MINICA_EINVAL when it has no
 * authorityKeyIdentifier with a keyIdentifier (RFC 9773 4.1 needs one). */
int minica_ari_certid_of_crt(const mbedtls_x509_crt *crt, struct minica_ari_certid *out,
                             struct minica_err *err);
/* The serial in the inventory's form (lowercase hex, no leading zeros). */
void minica_ari_certid_serial_hex(const struct minica_ari_certid *id,
                                  char out[MINICA_SERIAL_HEX_MAX]);

/* The suggested renewal window (RFC 9773 4.2), a pure function: from 2/3
 * to 5/6 of the lifetime, leaving a sixth to retry in. A revoked
 * certificate, or one whose intermediate no longer issues (rotated,
 * retired or revoked), gets a window that has already passed, which tells
 * the client to renew now. end is always after start (RFC 9773 4.2: a
 * window that is not is invalid). */
void minica_ari_window(int64_t not_before, int64_t not_after, int revoked, int issuer_active,
                       int64_t now, int64_t *start, int64_t *end);

/* A refusal, for acme_order.c and acme_cert.c to answer as a problem
 * document. */
struct minica_ari_problem {
    int status;
    const char *type; /* RFC 8555 / 9773 error type without the URN prefix */
    char detail[512];
};

/* The renewalInfo of certID text: the JSON body into *json (malloc'd).
 * 0; 1 with prob filled (unknown or malformed certID); or a negative
 * MINICA_E* when the CA could not tell (err). Call with the CA lock held. */
int minica_acme_ari_info(struct minica_server *srv, const char *text, int64_t now, char **json,
                         struct minica_ari_problem *prob, struct minica_err *err);

/* newOrder's "replaces" (RFC 9773 5), from payload: with none, serial is
 * "". Else it must name a certificate of this CA that account_id got
 * through ACME, sharing a name with the order's identifiers (the JSON
 * array, canonical, as the order stores it), that no other live order
 * replaces; serial gets its serial. 0; 1 with prob filled; or a negative
 * MINICA_E* (err). Call with the CA lock held. */
int minica_acme_ari_replaces(struct minica_server *srv, const char *account_id,
                             const cJSON *payload, const char *identifiers,
                             char serial[MINICA_SERIAL_HEX_MAX], struct minica_ari_problem *prob,
                             struct minica_err *err);

/* The certID of the inventory's certificate serial, for an order's
 * "replaces" member; "" when it cannot be made. */
void minica_acme_ari_certid_of_serial(struct minica_server *srv, const char *serial, char *out,
                                      size_t size);

#endif
