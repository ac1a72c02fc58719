/* The CA's own lifecycle: every root, cross-certificate and intermediate a
 * state directory holds, which of them issues, and the steps that replace
 * them with no outage (rotate the intermediate, roll the root over, stop
 * sending the cross-certificate, retire what nothing depends on any more,
 * revoke a compromised intermediate).
 *
 * The files: root.crt (every current root, the issuing one first),
 * root.key, intermediate.crt and intermediate.key are the active ones, as
 * they always were. ca/ keeps every CA certificate and key minica made,
 * named by role and serial, and ca/retired/ what was taken out of use. The
 * rename of intermediate.crt is the one commit point of a rotation or a
 * rollover: whatever a crash leaves, the CA opens with the old or the new
 * issuer, and the next lifecycle command finishes the rest. */
#ifndef MINICA_LIFECYCLE_H
#define MINICA_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

#include "minica/ca.h"
#include "minica/constraints.h"
#include "minica/error.h"
#include "minica/key.h"
#include "minica/store.h"

enum minica_ca_role {
    MINICA_CA_ROOT = 1,
    MINICA_CA_CROSS = 2, /* a newer root's key, certified by an older root */
    MINICA_CA_INTERMEDIATE = 3,
};
const char *minica_ca_role_name(enum minica_ca_role role);

struct minica_ca_cert {
    enum minica_ca_role role;
    /* The issuing intermediate, the root above it, or the cross-certificate
     * sent with the chain during a rollover. */
    int active;
    int retired; /* in ca/retired: no longer sent, trusted or given a CRL */
    /* Written by a rotation or rollover that stopped before its switch (a
     * crash): newer than the active one, never issued; neither trusted nor
     * sent. Run the step again, or retire it. */
    int staged;
    int revoked; /* by `ca revoke`: listed on its root's CRL */
    int64_t revoked_at;
    int revoke_reason;
    int has_key;    /* its private key is in the state directory */
    char file[128]; /* relative to the state directory */
    /* Where its private key lives, for people: "file ca/root-SERIAL.key
     * (0600)", "offline (not in this state directory)", "its root's" for
     * a cross-certificate. */
    char key_where[512]; /* MINICA_KEYS_URI_MAX: a token key's URI fits */
    char serial[MINICA_SERIAL_HEX_MAX];
    char fingerprint[65];
    char issuer_fingerprint[65]; /* the root that signed it; "" when none is known */
    char subject[256];
    char issuer[256];
    char key_type[16];
    int64_t not_before;
    int64_t not_after;
    /* The leaves it signed that have not expired (intermediates only). */
    int64_t leaves_unexpired;
    int64_t leaves_revoked;
    int64_t last_leaf_not_after;       /* 0 when it has none */
    struct minica_name_constraints nc; /* intermediates: as its certificate says */
};

/* Every CA certificate of an open CA: roots first, then crosses, then
 * intermediates, each group oldest first. Counts are as of the open. */
void minica_ca_certs(const struct minica_ca *ca, const struct minica_ca_cert **certs, size_t *n);
/* The PEM of one of minica_ca_certs' entries (what serve's client trust
 * and the agent's fullchain check need of a previous intermediate). */
const char *minica_ca_cert_pem(const struct minica_ca *ca, const struct minica_ca_cert *cert);
const struct minica_ca_cert *minica_ca_active_intermediate(const struct minica_ca *ca);
const struct minica_ca_cert *minica_ca_active_root(const struct minica_ca *ca);
/* The PEM a leaf is followed by (the intermediate, then the
 * cross-certificate while a rollover is under way), and every current root:
 * what relying parties trust (ca = files, /v1/roots, export root). */
const char *minica_ca_chain_pem(const struct minica_ca *ca);
const char *minica_ca_roots_pem(const struct minica_ca *ca);
/* The same for a leaf of the intermediate with fingerprint issuer_fp (a
 * certs row's issuer_fingerprint_sha256), active or not: a leaf issued
 * before a rotation is sent with the intermediate that signed it, which
 * verifies it, not with today's. malloc'd into *out; MINICA_ENOENT when no
 * intermediate of the CA has that fingerprint. */
int minica_ca_chain_pem_of(const struct minica_ca *ca, const char *issuer_fp, char **out,
                           struct minica_err *err);

/* A rotation is due once the active intermediate's remaining life is below
 * this many times max_ttl: from then on there is still room for one full
 * renewal cycle under it while leaves move over. */
#define MINICA_ROTATE_DUE_FACTOR 2

/* What `ca status` concludes, worst first: 4 (renewals are already
 * shortened or failing: remaining life < max_ttl, or a CA certificate of
 * the chain has expired), 3 (a rotation is due, or a step is left to
 * finish), 0 (nothing to do). Each finding is one line in notes. */
enum minica_ca_health {
    MINICA_CA_HEALTHY = 0,
    MINICA_CA_ATTENTION = 3,
    MINICA_CA_CRITICAL = 4,
};
#define MINICA_CA_NOTES_MAX 16
struct minica_ca_findings {
    enum minica_ca_health health;
    size_t n;
    char note[MINICA_CA_NOTES_MAX][512];
};
void minica_ca_assess(const struct minica_ca *ca, int64_t now, struct minica_ca_findings *out);

struct minica_rotate_options {
    int64_t ttl;                   /* 0: as long as the active intermediate's life */
    enum minica_key_type key_type; /* 0: the active intermediate's */
    /* NULL lists (both): the active intermediate's constraints. */
    const char *const *permit_dns;
    size_t n_permit_dns;
    const char *const *permit_ip;
    size_t n_permit_ip;
    int if_due; /* only when remaining life < MINICA_ROTATE_DUE_FACTOR x max_ttl */
    /* A PKCS#11 URI: the new intermediate's key is made in that token (the
     * PIN from [keys]) and added first to [keys] intermediate. */
    const char *intermediate_key;
};

struct minica_rotate_result {
    int rotated; /* 0: --if-due and not due */
    char serial[MINICA_SERIAL_HEX_MAX];
    char subject[256];
    int64_t not_after;
    char previous_serial[MINICA_SERIAL_HEX_MAX];
    int64_t previous_leaves; /* unexpired leaves the previous one still vouches for */
    int64_t left;            /* the active intermediate's remaining life, before */
};

/* A new intermediate under the active root (whose key it needs), made the
 * issuer. The previous one stays: its leaves keep verifying, can be revoked
 * and get a CRL until they have expired. */
int minica_ca_rotate(const char *dir, const struct minica_rotate_options *opts,
                     struct minica_rotate_result *out, struct minica_err *err);

struct minica_rollover_options {
    int64_t root_ttl;              /* 0: as long as the active root's life */
    int64_t intermediate_ttl;      /* 0: as long as the active intermediate's */
    enum minica_key_type key_type; /* 0: the active root's */
};
struct minica_rollover_result {
    char root_serial[MINICA_SERIAL_HEX_MAX];
    char root_subject[256];
    char cross_serial[MINICA_SERIAL_HEX_MAX];
    char intermediate_serial[MINICA_SERIAL_HEX_MAX];
    char previous_root_serial[MINICA_SERIAL_HEX_MAX];
};
/* A new root, a cross-certificate of it signed by the active root (so that
 * relying parties which trust only the old root keep verifying), and a new
 * intermediate under the new root, made the issuer. */
int minica_ca_rollover(const char *dir, const struct minica_rollover_options *opts,
                       struct minica_rollover_result *out, struct minica_err *err);

/* Stops sending the cross-certificate. Refused (MINICA_EBUSY) while a name's
 * live leaves all come from before the new root (none from an
 * intermediate under it), so its trust bundle may lack it; force skips
 * that check. */
int minica_ca_drop_cross(const char *dir, int force, struct minica_err *err);

/* Retires a root or an intermediate. Refused (MINICA_EBUSY) while it is
 * active or something depends on it: unexpired leaves, an intermediate or a
 * cross-certificate in use. A root is retired with its intermediates. */
int minica_ca_retire(const char *dir, const char *serial, struct minica_err *err);

/* Revokes an intermediate that no longer issues; its root's CRL (crl
 * --root) lists it. The active one is refused: rotate first. */
int minica_ca_revoke_intermediate(const char *dir, const char *serial, int reason,
                                  struct minica_err *err);

/* Encrypts every plain CA key file of DIR (root.key, intermediate.key,
 * ca/ and ca/retired) with the passphrase minica.conf's [keys] names,
 * each replaced atomically, 0600. Refuses, before writing anything, when
 * [keys] names no source, or when a file already encrypted does not open
 * with that passphrase. Under the lifecycle lock. */
struct minica_encrypt_keys_result {
    size_t encrypted; /* files rewritten */
    size_t already;   /* files that were encrypted already */
};
int minica_ca_encrypt_keys(const char *dir, struct minica_encrypt_keys_result *out,
                           struct minica_err *err);

#endif
