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

struct minica_gnutls;
struct minica_mhd;
struct tls_cert;

struct minica_server {
    struct minica_ca *ca;
    /* Loaded by minica_server_run: the request handler alone needs neither. */
    const struct minica_gnutls *tls;
    const struct minica_mhd *mhd;
    pthread_mutex_t ca_lock; /* the CA handle (RNG, SQLite) is not thread-safe */
    pthread_mutex_t tls_lock;
    struct tls_cert *cert; /* current; ->older chains the retired ones */
    unsigned char *crl_der;
    size_t crl_len;
    int64_t crl_at;
    char *trust_pem; /* root + intermediate, for the CertificateRequest */
    const struct minica_serve_options *opts;
};

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

#endif
