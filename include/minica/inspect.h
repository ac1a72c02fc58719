/* `minica inspect`: what a certificate, a chain, a CSR or a CRL from
 * anywhere says, read as plain data for the CLI to print, with verdicts
 * (expiry, chain links, signatures, CRL freshness). Reads untrusted input:
 * everything is bounded. Not a validator for issuance (csr.c, policy.c). */
#ifndef MINICA_INSPECT_H
#define MINICA_INSPECT_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"

/* Larger input is refused before it is parsed. */
#define MINICA_INSPECT_INPUT_MAX (1024 * 1024)
/* Certificates in one chain, CRLs in one file. */
#define MINICA_INSPECT_CERTS_MAX 32
#define MINICA_INSPECT_CRLS_MAX 32
#define MINICA_INSPECT_TEXT_MAX 512
/* A serial of any length as hex (RFC 5280 allows 20 octets; longer is cut). */
#define MINICA_INSPECT_SERIAL_MAX 131
/* Default of "expires soon": 30 days, or a third of the lifetime when that
 * is shorter (a renewal agent's threshold for a short-lived leaf). */
#define MINICA_INSPECT_EXPIRING_DEFAULT (30 * 86400LL)

enum minica_inspect_kind {
    MINICA_INSPECT_CERT = 1,
    MINICA_INSPECT_CHAIN = 2, /* more than one certificate */
    MINICA_INSPECT_CSR = 3,
    MINICA_INSPECT_CRL = 4, /* one or more (an nginx ssl_crl file) */
};

enum minica_inspect_validity {
    MINICA_VALIDITY_VALID = 0,
    MINICA_VALIDITY_EXPIRING = 1, /* valid, but within the expiring threshold */
    MINICA_VALIDITY_EXPIRED = 2,
    MINICA_VALIDITY_NOT_YET_VALID = 3,
};

enum minica_inspect_crl_state {
    MINICA_CRL_CURRENT = 0,
    MINICA_CRL_STALE = 1,         /* nextUpdate has passed */
    MINICA_CRL_NOT_YET_VALID = 2, /* thisUpdate is in the future */
};

/* A signature check: verified, refused, or not checkable (an algorithm
 * mbedTLS cannot verify, RSASSA-PSS). */
enum minica_inspect_sig {
    MINICA_SIG_INVALID = 0,
    MINICA_SIG_VALID = 1,
    MINICA_SIG_UNKNOWN = 2,
};

enum minica_inspect_name_type {
    MINICA_SAN_DNS = 1,
    MINICA_SAN_IP,
    MINICA_SAN_EMAIL,
    MINICA_SAN_URI,
    MINICA_SAN_OTHER, /* otherName, directoryName, ...: value says which */
};

/* Every text field is printable: bytes that are not are escaped as \xNN. */
struct minica_inspect_name {
    enum minica_inspect_name_type type;
    char value[MINICA_INSPECT_TEXT_MAX];
};

struct minica_inspect_key {
    char type[16];  /* "RSA", "EC", or mbedTLS's name for it */
    char curve[16]; /* EC: "P-256", "P-384", "P-521", else the curve's name */
    size_t bits;
};

struct minica_inspect_cert {
    char subject[MINICA_INSPECT_TEXT_MAX];
    char issuer[MINICA_INSPECT_TEXT_MAX];
    char serial[MINICA_INSPECT_SERIAL_MAX]; /* lowercase hex, as minica prints serials */
    int version;
    int64_t not_before, not_after;
    enum minica_inspect_validity validity;
    struct minica_inspect_name *sans;
    size_t n_sans, sans_omitted; /* more than 256 are counted, not kept */
    struct minica_inspect_key key;
    char sig_alg[64]; /* OpenSSL's names: "ecdsa-with-SHA256", "sha256WithRSAEncryption" */
    /* Comma-separated RFC 5280 names ("digitalSignature,keyCertSign") and
     * EKU names or dotted OIDs ("serverAuth,clientAuth"); "" when absent. */
    char key_usage[MINICA_INSPECT_TEXT_MAX];
    char ext_key_usage[MINICA_INSPECT_TEXT_MAX];
    int has_basic_constraints, is_ca, pathlen; /* pathlen -1: none */
    /* Comma-separated "DNS:x", "IP:10.0.0.0/8"; name_constraints_error says
     * why an extension present could not be read. */
    int has_name_constraints;
    char nc_permitted[MINICA_INSPECT_TEXT_MAX], nc_excluded[MINICA_INSPECT_TEXT_MAX];
    char nc_error[MINICA_INSPECT_TEXT_MAX];
    char fingerprint_sha256[65]; /* lowercase hex of the DER */
    int self_signed;             /* issuer == subject and its own key verifies it */
};

/* The link from certificate i to certificate i + 1 (its issuer). */
struct minica_inspect_link {
    int names_match; /* i's issuer is i+1's subject */
    enum minica_inspect_sig signature;
};

struct minica_inspect_revoked {
    char serial[MINICA_INSPECT_SERIAL_MAX];
    int64_t revoked_at;
    int reason; /* CRLReason code, -1 when the entry has none */
};

struct minica_inspect_crl {
    char issuer[MINICA_INSPECT_TEXT_MAX];
    int64_t this_update, next_update; /* next_update 0: absent */
    int has_number;
    char number[MINICA_INSPECT_SERIAL_MAX]; /* cRLNumber: decimal, "0x..." beyond 64 bits */
    enum minica_inspect_crl_state state;
    char sig_alg[64];
    struct minica_inspect_revoked *revoked;
    size_t n_revoked;
    /* With an issuer or root given: whether one of its certificates is this
     * CRL's issuer (by name) and whether its key verifies the signature. */
    int issuer_checked, issuer_found;
    enum minica_inspect_sig signature;
};

struct minica_inspect_csr {
    char subject[MINICA_INSPECT_TEXT_MAX];
    struct minica_inspect_name *sans;
    size_t n_sans, sans_omitted;
    struct minica_inspect_key key;
    char sig_alg[64];
    enum minica_inspect_sig signature; /* the self-signature */
};

/* What failed when minica_inspect returns an error. */
enum minica_inspect_source {
    MINICA_INSPECT_IN_INPUT = 0,
    MINICA_INSPECT_IN_ROOT = 1,
    MINICA_INSPECT_IN_ISSUER = 2,
};

struct minica_inspect_report {
    enum minica_inspect_kind kind;
    int64_t now, expiring;
    struct minica_inspect_cert *certs; /* leaf first, as a chain file has them */
    size_t n_certs;
    struct minica_inspect_link *links; /* n_certs - 1 */
    int chain_ok;
    size_t broken_link; /* the first bad link (index into links) when !chain_ok */
    /* With an issuer given, for certificates: the last one's link to it. */
    int issuer_checked, issuer_found;
    struct minica_inspect_link issuer_link;
    /* With a root given, for certificates: mbedtls_x509_crt_verify of the
     * chain up to it; root_flags says why not, one reason per line. */
    int root_checked, root_ok;
    char root_flags[2048];
    struct minica_inspect_csr csr;
    struct minica_inspect_crl *crls;
    size_t n_crls;
    int ok;                            /* every verdict is good: what exit status 0 means */
    enum minica_inspect_source failed; /* set with an error */
};

struct minica_inspect_options {
    int64_t now;
    int64_t expiring; /* seconds; 0: MINICA_INSPECT_EXPIRING_DEFAULT (or a third) */
    /* PEM or DER certificates; NULL: not given. root is the trust anchor
     * for a chain (and a CRL's issuer), issuer the issuer of a CRL or of
     * the last certificate. */
    const unsigned char *root, *issuer;
    size_t root_len, issuer_len;
};

void minica_inspect_report_init(struct minica_inspect_report *r);
void minica_inspect_report_free(struct minica_inspect_report *r);

/* Auto-detects PEM (any number of CERTIFICATE, CERTIFICATE REQUEST or X509
 * CRL blocks; other blocks are skipped) or DER (one object), and fills out.
 * Input that is none of them fails with MINICA_EINVAL and "not a
 * certificate, chain, CSR or CRL (PEM or DER)"; out->failed says which
 * input. A bad verdict is no error: out->ok is 0. */
int minica_inspect(const unsigned char *data, size_t len, const struct minica_inspect_options *opts,
                   struct minica_inspect_report *out, struct minica_err *err);

/* Reads path, or standard input for "-", up to MINICA_INSPECT_INPUT_MAX
 * bytes; *buf is malloc'd and NUL-terminated. */
int minica_inspect_read(const char *path, unsigned char **buf, size_t *len, struct minica_err *err);

const char *minica_inspect_validity_name(enum minica_inspect_validity v);
const char *minica_inspect_crl_state_name(enum minica_inspect_crl_state s);
/* RFC 5280 5.3.1's name of a CRLReason code ("unknown" for others). */
const char *minica_inspect_reason_name(int reason);
/* "valid", "invalid", "unsupported". */
const char *minica_inspect_sig_name(enum minica_inspect_sig s);
/* "DNS", "IP", "email", "URI", "other". */
const char *minica_inspect_name_type_name(enum minica_inspect_name_type t);

#endif
