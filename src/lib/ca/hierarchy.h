/* The CA certificates of a state directory, parsed (hierarchy.c), for the
 * CA handle, the lifecycle steps and the CRLs. Internal to the CA core. */
#ifndef MINICA_CA_HIERARCHY_H
#define MINICA_CA_HIERARCHY_H

#include <stddef.h>

#include "ca/x509.h"
#include "minica/lifecycle.h"
#include "minica/statedir.h"
#include "minica/store.h"

/* Where every CA certificate and key is kept, under the state directory. */
#define MINICA_CA_ARCHIVE "ca"

struct minica_hier_entry {
    enum minica_ca_role role;
    int active;
    int retired;
    int has_key;
    int key_encrypted; /* its key file is encrypted PKCS#8 (by its PEM label) */
    int in_token;      /* no key file, and [keys] names a token key of its role (has_key too) */
    unsigned key_mode; /* permission bits of the key file, when has_key */
    int issuer;        /* index of the root that signed it (itself for a root); -1 when unknown */
    char file[128];
    char fp[65];
    mbedtls_x509_crt crt;
    char *pem;
};

struct minica_hierarchy {
    struct minica_hier_entry *e;
    struct minica_ca_cert *info; /* e[i] described, same order */
    size_t n, cap;
    int active_int;  /* index of the issuing intermediate */
    int active_root; /* and of its root */
    char *chain_pem; /* the intermediate, then the cross-certificate in use */
    char *roots_pem; /* every current root, the issuing one first */
};

/* Reads intermediate.crt, root.crt and the archive; refuses an active
 * intermediate that is retired or that no root in the directory signed. */
int minica_hierarchy_load(struct minica_hierarchy *h, struct minica_statedir *sd,
                          struct minica_err *err);
/* Fills in the leaf counts and the CA revocations. */
int minica_hierarchy_apply_store(struct minica_hierarchy *h, struct minica_store *store,
                                 int64_t now, struct minica_err *err);
void minica_hierarchy_free(struct minica_hierarchy *h);
/* What follows a leaf of intermediate e[i] (malloc'd): it, then the
 * cross-certificates of its root in use. chain_pem is the active one's. */
int minica_hierarchy_chain_of(const struct minica_hierarchy *h, size_t i, char **out,
                              struct minica_err *err);
/* Index of the certificate with this (normalized) serial, or -1. */
int minica_hierarchy_find_serial(const struct minica_hierarchy *h, const char *serial);
/* The private key of e[i], checked against its certificate; the file it
 * came from (relative to sd) goes to file_out when given. */
int minica_hierarchy_load_key(const struct minica_hierarchy *h, size_t i,
                              struct minica_statedir *sd, mbedtls_pk_context *pk, char *file_out,
                              size_t file_out_len, struct minica_rng *rng, struct minica_err *err);

#endif
