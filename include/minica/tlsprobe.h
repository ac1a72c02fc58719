/* Asking a running TLS server which certificate it serves: the agent's proof
 * that a reload took effect. A client handshake that trusts only one root and
 * reports the served leaf's serial and expiry. Not an HTTP client, and not a
 * general-purpose TLS client: no data is ever sent after the handshake. */
#ifndef MINICA_TLSPROBE_H
#define MINICA_TLSPROBE_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"
#include "minica/names.h"

/* One "HOST:PORT[/SNI]" from a `verify =` list. */
struct minica_endpoint {
    char host[MINICA_NAME_MAX + 1]; /* host name or IP literal, without brackets */
    char port[6];
    char sni[MINICA_NAME_MAX + 1];       /* "" = the caller's default (the cert's NAME) */
    char text[2 * MINICA_NAME_MAX + 16]; /* canonical form, for messages */
};

/* Parses "host:port", "10.0.0.1:443", "[::1]:8443", each optionally followed
 * by "/sni.name". */
int minica_endpoint_parse(const char *text, struct minica_endpoint *ep, struct minica_err *err);

/* Parses a comma-separated list of endpoints (spaces around commas allowed).
 * *eps is malloc'd (free()); an empty list is an error. */
int minica_endpoint_list_parse(const char *list, struct minica_endpoint **eps, size_t *n,
                               struct minica_err *err);

/* What the endpoint served. answered = the handshake completed (the served
 * certificate is known); verified = it also chains to the trusted root and
 * covers the SNI name, and is within its validity. */
struct minica_probe_result {
    int answered;
    int verified;
    char serial[41];   /* lowercase hex, as in the inventory; "" when not answered */
    int64_t not_after; /* Unix time; 0 when not answered */
};

/* One TLS handshake with ep, SNI ep->sni or else default_sni, trusting only
 * root_pem. timeout_ms bounds the connect and each read. Returns 0 when the
 * served certificate verified; MINICA_ENET when no handshake completed;
 * MINICA_ECRYPTO when it completed but the certificate does not verify (res
 * then still holds what was served). err names the endpoint. */
int minica_tls_probe(const struct minica_endpoint *ep, const char *default_sni,
                     const char *root_pem, int timeout_ms, struct minica_probe_result *res,
                     struct minica_err *err);

/* Probes ep until it serves a verified certificate with the given serial, at
 * most timeout_ms (a server that just got SIGHUP needs a moment before new
 * workers answer). 0 when it does; otherwise the last probe's failure, with
 * res holding the last served certificate (serial "" if none ever answered)
 * and err naming the endpoint and the serial it served. */
int minica_tls_wait_for_serial(const struct minica_endpoint *ep, const char *default_sni,
                               const char *root_pem, const char *serial, int timeout_ms,
                               struct minica_probe_result *res, struct minica_err *err);

#endif
