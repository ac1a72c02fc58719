/* What the store drivers (system.c, nss.c, java.c) share with truststore.c.
 * Internal to src/lib/truststore. */
#ifndef MINICA_TRUSTSTORE_INTERNAL_H
#define MINICA_TRUSTSTORE_INTERNAL_H

#include <stddef.h>

#include "minica/truststore.h"

/* One root, in the forms the stores want. nick names it in every store
 * (file name, NSS nickname, Java alias), so finding it needs no parsing. */
struct trust_root {
    unsigned char *der;
    size_t der_len;
    char *pem; /* this certificate alone */
    size_t pem_len;
    char fingerprint[65]; /* SHA-256 of der, lowercase hex */
    char nick[32];        /* "minica-" and the fingerprint's first 16 digits */
    char subject[256];    /* for messages */
};

struct trust_run {
    const struct minica_trust_options *opts;
    struct trust_root *roots;
    size_t n_roots;
    minica_trust_report_fn report;
    void *ctx;
    unsigned failed;  /* stores that failed */
    unsigned missing; /* check: roots missing somewhere */
};

/* Reports one outcome; FAILED and MISSING are counted. */
void trust_say(struct trust_run *run, const char *store, enum minica_trust_outcome outcome,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A store that is not here: a failure when the operator named it. */
void trust_absent(struct trust_run *run, unsigned store_bit, const char *store, const char *why);

/* 1 when the PEM text and the root hold the same certificate (whitespace,
 * CRLF and surrounding text ignored). */
int trust_pem_is(const char *text, const struct trust_root *root);

void trust_system(struct trust_run *run);
void trust_nss(struct trust_run *run);
void trust_java(struct trust_run *run);

#endif
