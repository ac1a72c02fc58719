/* The ACME server (RFC 8555, RFC 8738 IP identifiers) under /acme/ on
 * serve's port: directory, nonces, accounts, orders, authorizations,
 * challenges (validated by serve/acme_validate.c), finalize through
 * minica_ca_issue and the certificate chain. Every URL is built on the
 * request's Host header. Internal to src/lib/serve; handler.c routes here. */
#ifndef MINICA_SERVE_ACME_H
#define MINICA_SERVE_ACME_H

#include "minica/server.h"
#include "serve/acme_validate.h"

#define MINICA_ACME_PREFIX "/acme/"
/* How long a nonce may wait to be used, and an order to be finalized. */
#define MINICA_ACME_NONCE_TTL 3600
#define MINICA_ACME_ORDER_TTL (7 * 24 * 3600)
/* How long an order that expired without a certificate can still be read
 * (as invalid) before it is deleted. */
#define MINICA_ACME_ORDER_KEEP (24 * 3600)
/* Orders per page of an account's orders list. */
#define MINICA_ACME_ORDERS_PAGE 100

/* Answers every request whose path starts with /acme/. Thread-safe like
 * minica_server_handle: the CA and its store under srv->ca_lock, which a
 * challenge validation releases while it dials. */
void minica_acme_handle(struct minica_server *srv, const struct minica_http_request *req,
                        struct minica_http_response *resp);

/* TEST ONLY: the validator settings challenges use (ports, resolver);
 * copied. */
void minica_acme_set_validate_settings(struct minica_server *srv,
                                       const struct minica_acme_validate_settings *s);

#endif
