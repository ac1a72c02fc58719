/* The client side of `minica serve`: bootstrap the root by its fingerprint,
 * enroll with a one-time token, renew with the current certificate (mutual
 * TLS). Keys are made here, on the machine that will use them; only CSRs
 * travel. Trusts the bootstrapped root alone, never the system store. */
#ifndef MINICA_REMOTE_H
#define MINICA_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"
#include "minica/issue.h"
#include "minica/key.h"

/* Normalizes a SHA-256 fingerprint as typed (any case, with or without
 * colons, "sha256 Fingerprint=" prefix as openssl prints it) to 64 lowercase
 * hex digits. */
int minica_fingerprint_normalize(const char *text, char out[65], struct minica_err *err);

/* How long a request to the CA is tried again, in seconds, while the CA
 * is unreachable or answers busy (503, 429): VMs booting together behind
 * one NAT wait their turn instead of failing. Then the error is "the CA at
 * URL is busy or refusing connections". Every retry_for argument below: 0 =
 * this default, < 0 = a single attempt. */
#define MINICA_REMOTE_DEFAULT_RETRY_FOR 180
/* Longer is a typo (5M for 5m): a run asleep that long misses its schedule. */
#define MINICA_REMOTE_RETRY_FOR_MAX (24 * 3600)

/* Parses a --retry-for or retry_for value: a duration (3m, 90s) up to a
 * day, or "0" for a single attempt (stored as -1). */
int minica_remote_retry_for_parse(const char *text, int64_t *retry_for, struct minica_err *err);

/* Fetches CA_URL/v1/roots and accepts the certificate of it whose SHA-256
 * fingerprint equals fingerprint (MINICA_EFORBIDDEN when none does: nothing
 * is returned); the others (a second root, cross-certificates) are left to
 * minica_remote_update_roots.
 * The TLS connection is not trusted for this (there is nothing to trust it
 * with yet): the fingerprint is. *root_pem is malloc'd. */
int minica_remote_fetch_root(const char *ca_url, const char *fingerprint, int64_t retry_for,
                             char **root_pem, struct minica_err *err);

/* What GET /v1/roots taught (minica_remote_update_roots). */
struct minica_roots_update {
    int changed;        /* root_file was rewritten */
    int added;          /* roots learnt: vouched for by a cross-certificate */
    int dropped;        /* trusted roots the CA no longer lists */
    char refused[1024]; /* "" or one line: a root offered that nothing vouched for */
    char *roots_pem;    /* the roots trusted now (malloc'd) */
};
void minica_roots_update_free(struct minica_roots_update *u);

/* Fetches CA_URL/v1/roots over TLS verified by the roots in root_file and
 * rewrites root_file (atomically, 0644) with the roots trusted from now on:
 * those the CA lists that root_file has, and a new root only when a
 * cross-certificate in the answer, signed by a root of root_file, has
 * exactly its subject and public key (a root rollover). A root nothing
 * vouches for is never taken (out->refused says so); a root the CA no
 * longer lists is dropped, but only while another trusted root remains. */
int minica_remote_update_roots(const char *ca_url, const char *root_file, int64_t retry_for,
                               struct minica_roots_update *out, struct minica_err *err);

/* Puts root_pem into the OS trust store (Debian: update-ca-certificates). */
int minica_remote_install_trust(const char *root_pem, struct minica_err *err);

struct minica_remote_request {
    const char *ca_url;    /* https://HOST:PORT */
    const char *root_file; /* the bootstrapped root: the only trust anchor */
    /* Enrollment: a one-time token ... */
    const char *token;
    /* ... or renewal: the current certificate and key (PEM files). */
    const char *client_cert_file;
    const char *client_key_file;
    /* What the CSR asks for (the token or the current certificate decides
     * what the CA grants; these must match it). */
    const char *name;
    const char *const *sans;
    size_t n_sans;
    enum minica_usage usage;       /* only recorded in the result */
    enum minica_key_type key_type; /* of the new key; 0 = ec-p256 */
    int64_t retry_for;             /* seconds; see MINICA_REMOTE_DEFAULT_RETRY_FOR */
    /* Enrollment only: 0 = take the usage the token grants; else the CA
     * must refuse a token for another usage before spending it, and a
     * certificate for another usage is refused here (MINICA_EFORBIDDEN). */
    enum minica_usage require_usage;
};

/* Makes a key, sends a CSR to /v1/sign (token) or /v1/renew (client
 * certificate), checks the answer (chains to the root, matches the key) and
 * fills out like minica_ca_issue does (key_pem included, root_pem from
 * root_file). MINICA_EFORBIDDEN: the CA refused (err has its reason);
 * MINICA_ENET: it could not be reached, or stayed busy, for retry_for. */
int minica_remote_issue(const struct minica_remote_request *req, struct minica_issued *out,
                        struct minica_err *err);

/* Reads a one-time token from a file (surrounding whitespace trimmed),
 * refusing it (MINICA_EFORBIDDEN) when group or others may access the file,
 * as ssh does for keys: a token on the command line shows in ps, and a token
 * file others can read is no better. Also refused: a file owned by another
 * user than root or the caller, in a directory others can write (so it could
 * be swapped), a symlink or a FIFO (MINICA_EINVAL, at once). *token is
 * malloc'd: minica_free_secret. */
int minica_token_file_read(const char *path, char **token, struct minica_err *err);

/* Fetches CA_URL/v1/crl (DER: the active intermediate's CRL only),
 * trusting only root_file. *der is malloc'd. */
int minica_remote_fetch_crl(const char *ca_url, const char *root_file, int64_t retry_for,
                            unsigned char **der, size_t *len, struct minica_err *err);
/* Fetches CA_URL/v1/crls: every current intermediate's CRL in one PEM
 * (NUL-terminated, malloc'd), so that leaves of a previous intermediate are
 * covered too. A CA that predates it (404) gets /v1/crl, converted. */
int minica_remote_fetch_crls(const char *ca_url, const char *root_file, int64_t retry_for,
                             char **pem, struct minica_err *err);

#endif
