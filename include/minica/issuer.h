/* Where the agent gets certificates from: a small interface with one
 * implementation per kind of CA (today the local CA in a state directory;
 * later a remote `minica serve`). The renewal logic only talks to this. */
#ifndef MINICA_ISSUER_H
#define MINICA_ISSUER_H

#include "minica/error.h"
#include "minica/issue.h"

/* What the issuer says about a certificate found on disk. */
struct minica_issuer_verdict {
    int current; /* 1: signed by the CA's current intermediate (chain verifies) */
    int revoked; /* 1: the CA knows it as revoked */
};

struct minica_issuer_ops {
    const char *kind; /* "local", "remote" */
    /* Issues a certificate for req (name, sans, usage, ttl, key_type; csr_pem
     * is ignored: the issuer decides where the key is made). On success out
     * holds cert_pem, chain_pem, root_pem and key_pem, whether the key was
     * made by the CA (local) or by the issuer itself before sending a CSR
     * (remote). Free with minica_issued_free. */
    int (*issue)(void *ctx, const struct minica_issue_request *req, struct minica_issued *out,
                 struct minica_err *err);
    /* Judges a PEM certificate: signed by the current intermediate, revoked.
     * Returns an error only when it cannot tell (not for a foreign cert). */
    int (*verdict)(void *ctx, const char *cert_pem, struct minica_issuer_verdict *out,
                   struct minica_err *err);
    /* The root (what ca = files and trust stores get) and the intermediate
     * (what follows the leaf in a fullchain file), PEM, owned by the issuer. */
    const char *(*root_pem)(void *ctx);
    const char *(*chain_pem)(void *ctx);
    void (*close)(void *ctx);
};

struct minica_issuer {
    const struct minica_issuer_ops *ops;
    void *ctx;
};

/* The local CA in state_dir; command names the actor in the audit log
 * ("agent"). */
int minica_issuer_open_local(struct minica_issuer *issuer, const char *state_dir,
                             const char *command, struct minica_err *err);

/* Safe on a zeroed struct and after a failed open. */
void minica_issuer_close(struct minica_issuer *issuer);

#endif
