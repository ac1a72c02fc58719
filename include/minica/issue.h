/* Issuing leaf certificates from the intermediate: the request (names, usage,
 * TTL, key type or CSR), the result, and delivery into an output directory. */
#ifndef MINICA_ISSUE_H
#define MINICA_ISSUE_H

#include <stddef.h>
#include <stdint.h>

#include "minica/ca.h"
#include "minica/error.h"
#include "minica/key.h"
#include "minica/names.h"

#define MINICA_MAX_SANS 100

enum minica_usage {
    MINICA_USAGE_DEFAULT = 0, /* server */
    MINICA_USAGE_SERVER = 1,
    MINICA_USAGE_CLIENT = 2,
    MINICA_USAGE_BOTH = 3,
};

int minica_usage_parse(const char *text, enum minica_usage *out, struct minica_err *err);
const char *minica_usage_name(enum minica_usage usage);

/* Proof that a CSR's signature was checked (minica_csr_precheck, in
 * ca/x509.h): the SHA-256 of the exact PEM text it was made for. */
struct minica_csr_receipt {
    char pem_sha256[65];
};

struct minica_issue_request {
    const char *name;        /* first SAN and subject CN (OU when it is an IP, there is no DNS
                                name and the intermediate has dNSName constraints) */
    const char *const *sans; /* more SANs (DNS or IP); NAME is added first */
    size_t n_sans;
    int64_t ttl;                   /* seconds; 0 = the policy's default */
    enum minica_usage usage;       /* 0 = server */
    enum minica_key_type key_type; /* 0 = the policy's default; ignored with a CSR */
    const char *csr_pem;           /* optional: sign this CSR instead of making a key */
    /* Optional, with csr_pem: its signature was checked already. */
    const struct minica_csr_receipt *csr_receipt;
    /* Optional: runs inside the transaction that records the certificate
     * (after its row, before the commit); non-zero rolls everything back and
     * is returned. Lets a one-time token be spent in that same commit. */
    int (*on_record)(void *ctx, const char *serial, struct minica_err *err);
    void *on_record_ctx;
};

struct minica_issued {
    char serial[41];
    char name[MINICA_NAME_MAX + 1];
    char sans[2048]; /* comma-separated, canonical */
    enum minica_usage usage;
    enum minica_key_type key_type;
    int64_t not_before;
    int64_t not_after;
    char fingerprint_sha256[65];
    char *cert_pem;  /* leaf */
    char *chain_pem; /* intermediate */
    char *root_pem;  /* root */
    char *key_pem;   /* NULL when issued from a CSR */
};

void minica_issued_free(struct minica_issued *issued); /* wipes the key */

/* Validates the request against the policy and the intermediate's validity,
 * builds and signs the leaf, records it in the inventory (committed) and
 * audits it. */
int minica_ca_issue(struct minica_ca *ca, const struct minica_issue_request *req,
                    struct minica_issued *out, struct minica_err *err);

/* File names used in an output directory for NAME ("*.x" becomes "_wildcard.x"). */
struct minica_output_paths {
    char cert[4096];
    char key[4096];
    char fullchain[4096];
    char ca[4096];
    char bundle[4096]; /* NAME.pem, with MINICA_DELIVER_PEM_BUNDLE */
    char pkcs12[4096]; /* NAME.p12, with MINICA_DELIVER_PKCS12 */
    /* After a delivery: "" or the key and certificate there that did not
     * match each other before it (a crash between two renames), or, from a
     * CSR, a NAME.key left there that does not match the new certificate. */
    char found_mismatch[1024];
};

/* Delivery flags. PEM_BUNDLE: NAME.pem (key, leaf, intermediate; 0600)
 * and ca.crt instead of the three NAME files: the pair is then replaced by
 * one rename (nginx's ssl_certificate and ssl_certificate_key may name the
 * same file). Needs the key: not from a CSR. */
#define MINICA_DELIVER_PEM_BUNDLE 1u
/* A missing outdir is created with its missing parents; without it, only
 * outdir itself (a mistyped path fails, naming the parent that is missing). */
#define MINICA_DELIVER_PARENTS 2u
/* Also NAME.p12 (0600): key, certificate and intermediate as PKCS#12
 * (minica/pkcs12.h) under the options' passphrase, for Java and Windows.
 * Beside the PEM files, which are written as without it. Needs the key:
 * not from a CSR. */
#define MINICA_DELIVER_PKCS12 4u

/* What a delivery is asked for beyond the flags. */
struct minica_deliver_options {
    unsigned flags; /* MINICA_DELIVER_* */
    /* With MINICA_DELIVER_PKCS12: the passphrase (UTF-8, not empty). */
    const unsigned char *pkcs12_pass;
    size_t pkcs12_pass_len;
};

int minica_output_paths(const char *outdir, const char *name, struct minica_output_paths *paths,
                        struct minica_err *err);

/* Issues and delivers NAME.crt, NAME.key (0600), NAME.fullchain.crt and
 * ca.crt into outdir. The row is committed before any file appears under its
 * final name. If delivering fails before any file is replaced, the row is
 * removed again and the previous files stay as they were; if it fails after
 * some were (a rename or the directory sync failing), the row stays, since
 * those files hold the new certificate, and the error names them. */
int minica_ca_issue_to_dir(struct minica_ca *ca, const struct minica_issue_request *req,
                           const char *outdir, unsigned flags, struct minica_issued *out,
                           struct minica_output_paths *paths, struct minica_err *err);

/* The same with options (MINICA_DELIVER_PKCS12 needs them). */
int minica_ca_issue_to_dir_opts(struct minica_ca *ca, const struct minica_issue_request *req,
                                const char *outdir, const struct minica_deliver_options *opts,
                                struct minica_issued *out, struct minica_output_paths *paths,
                                struct minica_err *err);

/* Writes an already issued result into outdir (used by remote issuance too). */
int minica_deliver_files(const struct minica_issued *issued, const char *outdir, unsigned flags,
                         struct minica_output_paths *paths, struct minica_err *err);
int minica_deliver_files_opts(const struct minica_issued *issued, const char *outdir,
                              const struct minica_deliver_options *opts,
                              struct minica_output_paths *paths, struct minica_err *err);

#endif
