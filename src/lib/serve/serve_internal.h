/* What the HTTPS front (https.c) and the pure request handler (handler.c)
 * share: the server handle and two helpers. Internal to src/lib/serve. */
#ifndef MINICA_SERVE_INTERNAL_H
#define MINICA_SERVE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "minica/ca.h"
#include "minica/server.h"
#include "minica/store.h"
#include "serve/acme_validate.h"

struct minica_admit;
struct minica_gnutls;
struct minica_mhd;
struct tls_cert;
struct tls_trust;
struct minica_refusals;

struct minica_server {
    /* Replaced by a reload (SIGHUP) under ca_lock; the old handle is closed
     * once no request holds the lock. */
    struct minica_ca *ca;
    /* Holds the CA keys when set; the server's own (not freed by it). */
    struct minica_signer_proc *sigproc;
    /* Loaded by minica_server_run: the request handler alone needs neither. */
    const struct minica_gnutls *tls;
    const struct minica_mhd *mhd;
    pthread_mutex_t ca_lock; /* the CA handle (RNG, SQLite) is not thread-safe */
    /* Held (read) by a request that uses ca outside ca_lock, and taken
     * (write) by a reload before it closes the handle it replaced. */
    pthread_rwlock_t ca_users;
    pthread_mutex_t tls_lock; /* cert, trust and roots_answer */
    struct tls_cert *cert;    /* current; ->older chains the retired ones */
    /* The client-certificate trust of new connections; ->older as cert's. */
    struct tls_trust *trust;
    char *roots_answer; /* what GET /v1/roots sends */
    char *trust_pem;    /* the trust at start, for libmicrohttpd's own credentials */
    const struct minica_serve_options *opts;
    struct minica_refusals *refusals; /* the audit rows of refused requests */
    /* Connection slots (admit.h), under admit_lock: libmicrohttpd's
     * accepting thread takes them, whichever thread closes releases. */
    struct minica_admit *admit;
    pthread_mutex_t admit_lock;
    unsigned long dropped; /* connections closed by the limits since the last log line */
    unsigned timeout;      /* seconds idle, once a request has arrived */
    unsigned handshake_timeout;
    /* How ACME challenges are validated (tests move the ports), and how
     * many validations are in flight (acme_active, at most
     * acme_validate.max_concurrent, under acme_gate). */
    struct minica_acme_validate_settings acme_validate;
    pthread_mutex_t acme_gate;
    pthread_cond_t acme_freed; /* CLOCK_MONOTONIC */
    unsigned acme_active;
    /* Makes and checks ACME nonces (serve/acme_nonce.h). */
    unsigned char acme_nonce_key[32]; /* the inventory's, under ca_lock */
    int64_t acme_swept_at;            /* under ca_lock; see acme_reply.c's sweep */
};

/* From the CA's certificates (trust.c): the /v1/roots answer (every
 * current root, then the cross-certificates in use) and the trust for the
 * CertificateRequest (every current root, cross-certificate and unrevoked
 * intermediate). *out is malloc'd. */
int minica_serve_roots_answer(const struct minica_ca *ca, char **out, struct minica_err *err);
int minica_serve_trust_pem(const struct minica_ca *ca, char **out, struct minica_err *err);

/* Seconds a client is told to wait (Retry-After) when the inventory cannot
 * be reached (MINICA_EUNAVAILABLE: PostgreSQL restarting or failing over):
 * long enough not to hammer a server coming back, short against a restart's
 * few seconds. */
#define MINICA_SERVE_UNAVAILABLE_RETRY_AFTER 5

/* Fills resp with the JSON error {"error": code, "detail": ...}. */
void minica_serve_respond_error(struct minica_http_response *resp, int status, const char *code,
                                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A minica_store_list_certs callback: keeps the first row (without its PEM)
 * in a struct minica_serve_row and stops. */
struct minica_serve_row {
    struct minica_cert_row row;
    int found;
};
int minica_serve_copy_row(const struct minica_cert_row *row, void *ctx);

/* Refused requests into the audit log (refusals.c): the first of a kind
 * (minica_refusal_sink's) from one client (an IPv4 address or an IPv6 /64)
 * in a minute is written at once, its repeats are counted into one row
 * ("refused N more from CLIENT in Ns: <the last one>") written when the
 * minute is over: at the next request or sweep after it, or at close. Own
 * store connection, its own lock, commits not synced. Thread-safe. */
int minica_refusals_open(const char *dir, struct minica_refusals **out, struct minica_err *err);
void minica_refusals_note(struct minica_refusals *r, const char *addr, const char *kind,
                          const char *command, const char *line);
void minica_refusals_sweep(struct minica_refusals *r);
/* Writes every count still open, then frees r. */
void minica_refusals_close(struct minica_refusals *r);

#endif
