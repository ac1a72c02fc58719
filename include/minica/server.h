/* `minica serve`: the CA over HTTPS for fleet enrollment (one-time tokens)
 * and renewal (mutual TLS). The HTTP API is a pure function of the request
 * (minica_server_handle), which tests and fuzzers call directly; the
 * network side (libmicrohttpd + GnuTLS) only feeds it. Not a general web
 * server: five fixed routes, small JSON bodies. */
#ifndef MINICA_SERVER_H
#define MINICA_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"

#define MINICA_SERVE_DEFAULT_LISTEN ":9443"
#define MINICA_SERVE_MAX_BODY (64 * 1024)
#define MINICA_SERVE_DEFAULT_MAX_CONNECTIONS 256
#define MINICA_SERVE_DEFAULT_PER_IP_CONNECTIONS 16
#define MINICA_SERVE_DEFAULT_TIMEOUT 30

struct minica_server;

struct minica_http_request {
    const char *method;
    const char *path;
    const char *body; /* not NUL-terminated; may be NULL when body_len is 0 */
    size_t body_len;
    const unsigned char *client_cert_der; /* the TLS peer's leaf, or NULL */
    size_t client_cert_len;
    const char *remote_addr; /* for the audit log and the request log */
    /* The Host header as sent, or NULL: ACME's URLs are built on it (serve
     * has no configured public URL; a client reaches it by this name). */
    const char *host;
    /* The Content-Type header as sent, or NULL (ACME POSTs must be
     * application/jose+json, RFC 8555 6.2). */
    const char *content_type;
};

/* Headers beyond Content-Type and Allow (ACME: Replay-Nonce, Location,
 * Link, Retry-After). */
#define MINICA_HTTP_MAX_HEADERS 6
struct minica_http_header {
    const char *name; /* static */
    char value[600];
};

struct minica_http_response {
    int status;
    const char *content_type; /* static */
    const char *allow;        /* for 405: the allowed method; static or NULL */
    char *body;               /* malloc'd */
    size_t body_len;
    char log[512]; /* one-line reason for the request log ("" when nothing to add) */
    struct minica_http_header headers[MINICA_HTTP_MAX_HEADERS];
    size_t n_headers;
};

void minica_http_response_free(struct minica_http_response *resp);

/* Opens the CA in dir for serving, its key in this process. */
int minica_server_open(const char *dir, struct minica_server **out, struct minica_err *err);
/* The same without any CA key: every signature goes to proc (see
 * minica/signer_proc.h), which must outlive the server. minica_server_run
 * then confines this process (base/confine.h) before it serves. */
struct minica_signer_proc;
int minica_server_open_signed_by(const char *dir, struct minica_signer_proc *proc,
                                 struct minica_server **out, struct minica_err *err);
void minica_server_close(struct minica_server *srv);

/* The whole API: under /acme/ the ACME server (RFC 8555, serve/acme.h);
 * GET /v1/health, GET /v1/roots, POST /v1/sign, POST
 * /v1/renew, GET /v1/crl (the active intermediate's CRL, DER), GET
 * /v1/crls (every current intermediate's, PEM). Always fills resp (errors are JSON
 * {"error","detail"} with their HTTP status). Safe to call from several
 * threads: CA operations are serialised inside. */
void minica_server_handle(struct minica_server *srv, const struct minica_http_request *req,
                          struct minica_http_response *resp);

struct minica_serve_options {
    const char *listen;      /* "ADDR:PORT", "[V6]:PORT" or ":PORT"; NULL = ":9443" */
    const char *const *sans; /* extra names for the server's certificate */
    size_t n_sans;
    unsigned max_connections;    /* served at once; 0 = 256 (twice that held in all) */
    unsigned per_ip_connections; /* served at once from one address; 0 = 16 */
    /* served at once from one /24 (IPv4) or /64 (IPv6); 0 = max(per_ip,
     * max_connections / 4). Connections beyond either share are answered
     * 503 busy with Retry-After (serve/admit.h). */
    unsigned per_net_connections;
    unsigned timeout; /* idle seconds per connection; 0 = 30 */
    int64_t cert_ttl; /* the server certificate's; 0 = the policy's default */
    /* Started as root with a signer process: the user the network side
     * becomes; NULL keeps uid 0 without capabilities. */
    const char *user;
    /* Where request and event lines go (one line, no newline). */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
};

/* Checks a --listen value ("ADDR:PORT", "[V6]:PORT", ":PORT") without binding. */
int minica_server_check_listen(const char *listen, struct minica_err *err);

/* Makes sure DIR/serve.crt and serve.key hold a current certificate for the
 * configured names, then serves HTTPS until SIGTERM or SIGINT (blocked in
 * every thread and waited for here), re-issuing the server certificate when
 * two thirds of its life are gone. Returns 0 after a clean stop. */
int minica_server_run(struct minica_server *srv, const struct minica_serve_options *opts,
                      struct minica_err *err);

#endif
