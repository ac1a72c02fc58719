/* Certificate revocation lists: an X.509 v2 CRL of the revoked, unexpired
 * leaves signed by the intermediate, or (--root) of the revoked
 * intermediates signed by the root, for nginx's proxy_ssl_crl. Not a
 * distribution server: the file is published by whoever runs `minica crl`. */
#ifndef MINICA_CRL_H
#define MINICA_CRL_H

#include <stddef.h>
#include <stdint.h>

#include "minica/ca.h"
#include "minica/error.h"

#define MINICA_CRL_DEFAULT_NEXT_UPDATE (7 * 86400LL)

struct minica_crl_options {
    int root;            /* signed by the root key (root.key must be present) */
    int64_t next_update; /* seconds after thisUpdate; 0 = 7d */
};

struct minica_crl {
    unsigned char *der;
    size_t der_len;
    char *pem; /* "X509 CRL" */
    int64_t number;
    size_t n_revoked;
    int64_t this_update;
    int64_t next_update;
};

void minica_crl_init(struct minica_crl *crl);
void minica_crl_free(struct minica_crl *crl);

/* Builds and signs the CRL, allocating the next cRLNumber for its issuer;
 * the number and the audit row are committed together. */
int minica_ca_crl(struct minica_ca *ca, const struct minica_crl_options *opts,
                  struct minica_crl *out, struct minica_err *err);

/* Replaces path atomically (0644) with the PEM, or the DER when der != 0. */
int minica_crl_write(const struct minica_crl *crl, const char *path, int der,
                     struct minica_err *err);

#endif
