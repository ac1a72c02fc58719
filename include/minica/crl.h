/* Certificate revocation lists: X.509 v2 CRLs, one per issuer. Each current
 * intermediate that still vouches for unexpired leaves gets one listing its
 * revoked leaves; each current root whose key is here gets one listing the
 * intermediates it signed that were revoked. nginx (ssl_crl, proxy_ssl_crl)
 * checks every CA of a chain and wants all of them in one PEM file. Not a
 * distribution server: the file is published by whoever runs `minica crl`. */
#ifndef MINICA_CRL_H
#define MINICA_CRL_H

#include <stddef.h>
#include <stdint.h>

#include "minica/ca.h"
#include "minica/error.h"
#include "minica/lifecycle.h"

#define MINICA_CRL_DEFAULT_NEXT_UPDATE (7 * 86400LL)

/* Which issuers get a CRL (minica_ca_crls). */
enum minica_crl_scope {
    /* The active intermediate, then every other current (not retired) one
     * with unexpired leaves whose key is here, revoked ones included. */
    MINICA_CRL_INTERMEDIATES = 1,
    /* Every current root whose key is here, the active one first. */
    MINICA_CRL_ROOTS = 2,
    MINICA_CRL_ALL = 3,
};

struct minica_crl_options {
    int root;       /* minica_ca_crl only: the active root's instead of the intermediate's */
    unsigned scope; /* minica_ca_crls: MINICA_CRL_* bits; 0 = intermediates */
    /* minica_ca_crls: only this CA certificate's CRL (a root or an
     * intermediate, any serial form), scope ignored. */
    const char *issuer_serial;
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
    enum minica_ca_role issuer_role; /* root or intermediate */
    int issuer_active;
    char issuer_serial[MINICA_SERIAL_HEX_MAX];
    char issuer_subject[256];
};

void minica_crl_init(struct minica_crl *crl);
void minica_crl_free(struct minica_crl *crl);

/* An issuer that would get a CRL, or was left out (with the reason). */
struct minica_crl_issuer {
    size_t index; /* in minica_ca_certs */
    enum minica_ca_role role;
    int active;
    char serial[MINICA_SERIAL_HEX_MAX];
    char subject[256];
};

#define MINICA_CRL_WARNINGS_MAX 8
struct minica_crl_plan {
    struct minica_crl_issuer *issuer; /* in the order the CRLs are written */
    size_t n;
    /* Issuers left out that a relying party may still need a CRL for (a
     * root or an intermediate whose key is not here): one line each. */
    size_t n_warnings;
    char warning[MINICA_CRL_WARNINGS_MAX][512];
};
void minica_crl_plan_init(struct minica_crl_plan *plan);
void minica_crl_plan_free(struct minica_crl_plan *plan);

/* Which issuers minica_ca_crls would sign for, signing nothing. Fails when
 * none would get one: --issuer names no current CA certificate, or no
 * root's key is here for MINICA_CRL_ROOTS. */
int minica_ca_crl_plan(struct minica_ca *ca, const struct minica_crl_options *opts,
                       struct minica_crl_plan *plan, struct minica_err *err);

struct minica_crl_set {
    struct minica_crl *crl;
    size_t n;
    char *pem;                   /* every CRL, in order: the file nginx reads */
    struct minica_crl_plan plan; /* with its warnings */
};
void minica_crl_set_init(struct minica_crl_set *set);
void minica_crl_set_free(struct minica_crl_set *set);

/* Builds and signs one CRL per planned issuer, intermediates first. The
 * cRLNumbers come from one counter per kind (intermediate, root) shared by
 * all issuers of that kind, so each issuer's numbers increase (RFC 5280
 * 5.2.3). Numbers and the audit rows (one per CRL) are committed together,
 * or nothing is. */
int minica_ca_crls(struct minica_ca *ca, const struct minica_crl_options *opts,
                   struct minica_crl_set *out, struct minica_err *err);

/* The CRLs serve answers: every current intermediate's, as
 * minica_ca_crls with the MINICA_CRL_INTERMEDIATES scope, but shared by
 * every replica on one inventory. The set signed last is answered while
 * it is younger than max_age seconds and no revocation has happened
 * since (a revocation deletes it, in its own transaction). Otherwise the
 * first replica to ask signs a new set and stores it while the others
 * wait, then answer it: every replica serves the same bytes, a client
 * going from one to another never sees a cRLNumber go back, and nobody
 * can make the CA sign (and number, and audit) a CRL per request. */
int minica_ca_crls_published(struct minica_ca *ca, int64_t max_age, struct minica_crl_set *out,
                             struct minica_err *err);

/* One CRL: the active intermediate's, or with opts->root the active root's. */
int minica_ca_crl(struct minica_ca *ca, const struct minica_crl_options *opts,
                  struct minica_crl *out, struct minica_err *err);

/* Replaces path atomically (0644) with the PEM, or the DER when der != 0. */
int minica_crl_write(const struct minica_crl *crl, const char *path, int der,
                     struct minica_err *err);
/* The same for a set: the PEM of every CRL; DER only for a set of one. */
int minica_crl_set_write(const struct minica_crl_set *set, const char *path, int der,
                         struct minica_err *err);

#endif
