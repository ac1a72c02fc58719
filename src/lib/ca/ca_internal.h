/* The CA handle's insides and the one signing interface ("sign this TBS for
 * this profile"), shared by ca.c, issue.c and crl.c. Kept out of the public
 * header so the key can later live in another process or an HSM. */
#ifndef MINICA_CA_INTERNAL_H
#define MINICA_CA_INTERNAL_H

#include "ca/hierarchy.h"
#include "ca/signer.h"
#include "ca/x509.h"
#include "minica/ca.h"
#include "minica/constraints.h"
#include "minica/der.h"
#include "minica/names.h"
#include "minica/policy.h"

/* Stand-in issuer keys for mbedtls_x509write_crt_der, which signs as it
 * writes and only with a key in memory (sign.c): one of the issuer's kind
 * picks the signatureAlgorithm, and its signature is thrown away. Made on
 * first use, never written anywhere, never trusted by anything. */
struct minica_scratch {
    mbedtls_pk_context ec;  /* P-256, for EC issuers */
    mbedtls_pk_context rsa; /* 1024 bits, for RSA issuers */
};
void minica_scratch_init(struct minica_scratch *s);
void minica_scratch_free(struct minica_scratch *s);

struct minica_ca {
    char dir[4096];
    struct minica_rng rng;
    struct minica_hierarchy hier;
    const mbedtls_x509_crt *root;           /* the active root, in hier */
    const mbedtls_x509_crt *intermediate;   /* the issuer, in hier */
    struct minica_signer *intermediate_key; /* NULL when opened without keys */
    /* Set: the keys are in serve's signer process, never read here. */
    struct minica_signer_proc *sigproc;
    struct minica_scratch scratch;
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

/* For the signer worker, which needs the certificates, the policy and the
 * keys, not the inventory. */
#define MINICA_CA_OPEN_NO_STORE 0x100

/* signer_proc.c, for ca.c: whether the worker holds the key of the CA
 * certificate with this fingerprint, and a signer that asks it to sign for
 * crt (freed with minica_signer_free; proc outlives it). */
struct minica_signer_proc;
int minica_signer_proc_holds(const struct minica_signer_proc *proc, const char *fp);
int minica_signer_proc_signer(struct minica_signer_proc *proc, const mbedtls_x509_crt *crt,
                              struct minica_signer **out, struct minica_err *err);
/* The network end of the socket, for tests that write to it raw. */
int minica_signer_proc_socket(const struct minica_signer_proc *proc);

/* What a certificate to be signed looks like. */
struct minica_tbs {
    const char *subject; /* "CN=..." */
    const char *issuer;
    mbedtls_pk_context *subject_key; /* public part used */
    struct minica_signer *signer;    /* the issuer's: its public key gives the algorithm, AKI */
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

/* Builds and signs (once, through tbs->signer); *der is malloc'd. scratch
 * (with rng, which makes its keys) is the caller's: a CA handle's, kept
 * across issuances. */
int minica_sign_cert(const struct minica_tbs *tbs, struct minica_scratch *scratch,
                     struct minica_rng *rng, unsigned char **der, size_t *der_len,
                     struct minica_err *err);

/* SEQUENCE { body, alg, signature of body by signer } (a certificate or a
 * CRL, as profile says); alg must be the AlgorithmIdentifier that matches
 * the signer's key, as the body names it. */
int minica_sign_body(enum minica_wire_profile profile, const struct minica_der_part *body,
                     const struct minica_der_part *alg, struct minica_signer *signer,
                     unsigned char **der, size_t *der_len, struct minica_err *err);

/* A signer for the CA certificate hier.e[i], its key checked against it;
 * MINICA_ENOENT, naming the file, when the key is not here. */
int minica_ca_load_ca_key(struct minica_ca *ca, size_t i, struct minica_signer **out,
                          struct minica_err *err);

/* Reads the key base in sd, refusing group/other-readable files (like ssh). */
int minica_ca_read_key(struct minica_statedir *sd, const char *base, mbedtls_pk_context *pk,
                       struct minica_rng *rng, struct minica_err *err);

#endif
