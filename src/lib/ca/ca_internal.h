/* The CA handle's insides and the one signing interface ("sign this TBS for
 * this profile"), shared by ca.c, issue.c and crl.c. Kept out of the public
 * header so the key can later live in another process or an HSM. */
#ifndef MINICA_CA_INTERNAL_H
#define MINICA_CA_INTERNAL_H

#include "ca/hierarchy.h"
#include "ca/x509.h"
#include "minica/ca.h"
#include "minica/constraints.h"
#include "minica/der.h"
#include "minica/names.h"
#include "minica/policy.h"

struct minica_ca {
    char dir[4096];
    struct minica_rng rng;
    struct minica_hierarchy hier;
    const mbedtls_x509_crt *root;         /* the active root, in hier */
    const mbedtls_x509_crt *intermediate; /* the issuer, in hier */
    mbedtls_pk_context intermediate_key;  /* empty when opened without keys */
    char intermediate_subject[256];
    char intermediate_fp[65];
    char root_fp[65];
    int64_t intermediate_not_after;
    struct minica_name_constraints intermediate_nc; /* as its certificate says */
    struct minica_policy policy;
    char store_target[MINICA_PATH_MAX]; /* what the inventory was opened from */
    struct minica_store *store;
    char command[64];
    char origin[256];
    minica_refusal_sink refusal_sink; /* NULL: refusals go to the store */
    void *refusal_ctx;
    /* DIR/acme-eab.key, read at first use (acme_eab.c); wiped by close. */
    unsigned char eab_secret[32];
    int has_eab_secret;
};

/* What a certificate to be signed looks like. */
struct minica_tbs {
    const char *subject; /* "CN=..." */
    const char *issuer;
    mbedtls_pk_context *subject_key; /* public part used */
    mbedtls_pk_context *issuer_key;
    unsigned char serial[16];
    int64_t not_before;
    int64_t not_after;
    int is_ca;
    int pathlen; /* CA only; < 0 for none */
    unsigned key_usage;
    int server_auth;
    int client_auth;
    const struct minica_name *sans;
    size_t n_sans;
    int san_critical; /* RFC 5280 4.2.1.6: when the subject is empty */
    const struct minica_name_constraints *name_constraints; /* CA only; NULL for none */
    int with_aki;
};

/* Builds and signs; *der is malloc'd. */
int minica_sign_cert(const struct minica_tbs *tbs, struct minica_rng *rng, unsigned char **der,
                     size_t *der_len, struct minica_err *err);

/* SEQUENCE { body, alg, signature of body by key } (a certificate or a CRL);
 * alg must be the AlgorithmIdentifier that matches key, as the body names it. */
int minica_sign_body(const struct minica_der_part *body, const struct minica_der_part *alg,
                     mbedtls_pk_context *key, struct minica_rng *rng, unsigned char **der,
                     size_t *der_len, struct minica_err *err);

/* The private key of the CA certificate hier.e[i], checked against it. */
int minica_ca_load_ca_key(struct minica_ca *ca, size_t i, mbedtls_pk_context *pk,
                          struct minica_err *err);

/* Reads the key base in sd, refusing group/other-readable files (like ssh). */
int minica_ca_read_key(struct minica_statedir *sd, const char *base, mbedtls_pk_context *pk,
                       struct minica_rng *rng, struct minica_err *err);

#endif
