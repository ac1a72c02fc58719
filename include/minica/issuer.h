/* Where the agent gets certificates from: a small interface with one
 * implementation per kind of CA (the local CA in a state directory, or a
 * remote `minica serve`). The renewal logic only talks to this. */
#ifndef MINICA_ISSUER_H
#define MINICA_ISSUER_H

#include <stddef.h>

#include "minica/error.h"
#include "minica/issue.h"

/* What the issuer says about a certificate found on disk. */
struct minica_issuer_verdict {
    /* 1: signed by one of the CA's current intermediates (chain verifies):
     * after a rotation, the previous intermediate's leaves stay current and
     * renew on their own schedule. */
    int current;
    /* 1: the CA knows it as revoked, or the intermediate that signed it */
    int revoked;
    /* The chain that follows this leaf in a fullchain file, when it is not
     * chain_pem's (a leaf of the previous intermediate); owned by the
     * issuer until its next verdict, or a part of the PEM judged. NULL:
     * chain_pem. */
    const char *chain_pem;
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
    /* Optional: an agent run that may change files begins (not a dry run).
     * The issuer may then bring what it trusts up to date at its first
     * request to the CA (remote: a new root vouched for by a
     * cross-certificate, minica/remote.h) and says so in one line through
     * say (is_error: a root was refused). That never fails the run. */
    void (*begin_run)(void *ctx, void (*say)(void *say_ctx, int is_error, const char *line),
                      void *say_ctx);
    /* Optional: a certificate this issuer issued was never put to use (its
     * group was rolled back and its files removed). The local CA revokes
     * it, reason superseded, so the inventory does not list it as current
     * and no one can use a copy of it; a remote CA has no such request. */
    int (*withdraw)(void *ctx, const char *serial, struct minica_err *err);
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
/* The same, opening the CA at the first request instead: nothing is read
 * until then, and an open that fails makes every request fail with its
 * error. Fails only when out of memory. */
int minica_issuer_open_local_lazy(struct minica_issuer *issuer, const char *state_dir,
                                  const char *command, struct minica_err *err);

/* A remote `minica serve` (remote.h is its client). For each managed
 * certificate: the files holding the current certificate and key (used for
 * mutual-TLS renewal while that certificate is valid) and a one-time token
 * file (used when there is no usable certificate yet; deleted once the CA
 * has accepted it). */
struct minica_remote_cert {
    const char *name;
    const char *cert_file;      /* the leaf or the fullchain */
    const char *fullchain_file; /* optional: where the intermediate is found */
    const char *key_file;
    const char *token_file; /* NULL or "" when there is none */
};
/* Strings are copied. retry_for: how long the requests of one run (all
 * certificates and the CRL together) are tried again while the CA is
 * unreachable or busy (remote.h; 0 = the default, -1 = no retries). */
int minica_issuer_open_remote(struct minica_issuer *issuer, const char *ca_url,
                              const char *root_file, int64_t retry_for,
                              const struct minica_remote_cert *certs, size_t n_certs,
                              struct minica_err *err);

/* The same for an agent.conf with ca_url and root: its [cert] sections'
 * cert (or fullchain), key and token_file. */
struct minica_agent_config;
int minica_issuer_open_remote_agent(struct minica_issuer *issuer,
                                    const struct minica_agent_config *cfg, struct minica_err *err);

/* Safe on a zeroed struct and after a failed open. */
void minica_issuer_close(struct minica_issuer *issuer);

#endif
