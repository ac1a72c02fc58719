/* The CA hierarchy in a state directory: a self-signed root, an intermediate
 * signed by it, their keys, the policy and the inventory. Creating it (init)
 * and loading it (open); issuing lives in issue.h. */
#ifndef MINICA_CA_H
#define MINICA_CA_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"
#include "minica/key.h"
#include "minica/policy.h"
#include "minica/store.h"

struct minica_ca;

struct minica_init_options {
    const char *name; /* CN prefix, default "minica" */
    enum minica_key_type key_type;
    int64_t root_ttl;         /* seconds, default 10y */
    int64_t intermediate_ttl; /* seconds, default 3y */
    const char *const *permit_dns;
    size_t n_permit_dns;
    const char *const *permit_ip;
    size_t n_permit_ip;
    /* At most one: written as [keys] into minica.conf, and root.key and
     * intermediate.key are written encrypted with that passphrase. */
    const char *passphrase_file;       /* absolute path */
    const char *passphrase_credential; /* a systemd credential's name */
    /* PKCS#11 URIs: the key is made in that token (no key file) and the
     * URI written as [keys] intermediate / root. The PIN from at most one
     * of pin_file, pin_credential, written as [keys] too. */
    const char *intermediate_key;
    const char *root_key;
    const char *pin_file;       /* absolute path */
    const char *pin_credential; /* a systemd credential's name */
};

/* Creates DIR (0700) with root.crt, root.key, intermediate.crt,
 * intermediate.key (0600), minica.conf and minica.db. An existing directory
 * is narrowed to 0700; another user's is refused. Refuses to touch an
 * existing CA; on failure removes what it created. With $MINICA_DB set
 * the init audit row goes to that database and no minica.db is made. */
int minica_ca_init(const char *dir, const struct minica_init_options *opts, struct minica_err *err);

/* Loads the CA in DIR: certificates, intermediate key, policy, inventory.
 * Refuses a state directory another user could have written (see
 * minica/statedir.h), and a CA key readable by group or others (like ssh).
 * The inventory, here and in minica_state_open_store: $MINICA_DB (what
 * `minica --db` sets) for one command, else minica.conf's [store]
 * database, else the SQLite file DIR/minica.db. */
int minica_ca_open(const char *dir, struct minica_ca **out, struct minica_err *err);
/* MINICA_CA_OPEN_NO_KEY: the certificates, policy and inventory only, for
 * what reads the CA (status, metrics) without signing. */
#define MINICA_CA_OPEN_NO_KEY 0x1
int minica_ca_open_flags(const char *dir, unsigned flags, struct minica_ca **out,
                         struct minica_err *err);
/* The CA as its state directory holds it now, for serve's SIGHUP. A
 * minica.conf that names another inventory than current's is refused
 * before anything connects to it: switching inventories is a restart. */
int minica_ca_reopen(const struct minica_ca *current, struct minica_ca **out,
                     struct minica_err *err);
void minica_ca_close(struct minica_ca *ca);

/* Who is acting, for the audit log: command ("issue", "agent", "serve") and
 * origin ("local", or "remote 10.0.0.5 token 3f2a"). Strings are copied. */
void minica_ca_set_actor(struct minica_ca *ca, const char *command, const char *origin);
int minica_ca_audit(struct minica_ca *ca, const char *summary, struct minica_err *err);

/* Where the audit rows of refused requests go instead of the store, while
 * set (NULL: the store): minica serve counts a client's repeated refusals
 * into one row. kind names the refusal without any text the client chose:
 * the actor's origin (which names the token or certificate) when the client
 * proved it holds one, else the fixed reason. line is the row's summary,
 * origin included. The sink runs in the caller's thread, under whatever
 * lock the caller holds on the CA. */
typedef void (*minica_refusal_sink)(void *ctx, const char *kind, const char *command,
                                    const char *line);
void minica_ca_set_refusal_sink(struct minica_ca *ca, minica_refusal_sink sink, void *ctx);
/* Audits a refused request, best effort. unproven: the reason, fixed text,
 * when the client proved no token and no certificate; NULL when it did. */
void minica_ca_audit_refusal(struct minica_ca *ca, const char *summary, const char *unproven);

const char *minica_ca_dir(const struct minica_ca *ca);
const struct minica_policy *minica_ca_policy(const struct minica_ca *ca);
struct minica_store *minica_ca_store(struct minica_ca *ca);
/* The chain above a leaf and the trust bundle: see minica/lifecycle.h. */
const char *minica_ca_chain_pem(const struct minica_ca *ca);
const char *minica_ca_roots_pem(const struct minica_ca *ca);
int64_t minica_ca_intermediate_not_after(const struct minica_ca *ca);
/* SHA-256 (lowercase hex) of the intermediate's and the root's DER. */
const char *minica_ca_intermediate_fingerprint(const struct minica_ca *ca);
const char *minica_ca_root_fingerprint(const struct minica_ca *ca);

/* Whether a DER certificate chains to one of this CA's current roots,
 * through any of its current, unrevoked intermediates. Validity dates are left to the caller,
 * who judges them on minica's clock; so is whether it is a leaf at all (the
 * root and intermediate chain too): look the serial up in the inventory.
 * On success serial holds its serial as hex. MINICA_EINVAL: not a
 * certificate; MINICA_EFORBIDDEN: not this CA's. */
int minica_ca_verify_issued(struct minica_ca *ca, const unsigned char *der, size_t len,
                            char serial[MINICA_SERIAL_HEX_MAX], struct minica_err *err);

/* Only the store, for read-only commands that do not need the CA key; the
 * state directory is checked as minica_ca_open checks it. Reads only
 * minica.conf's [store] section, so a broken [policy] can still be looked
 * into. */
int minica_state_open_store(const char *dir, struct minica_store **out, struct minica_err *err);
/* Whether DIR has an inventory to open: minica.db exists, or a database is
 * named (by --db or [store]). */
int minica_state_has_store(const char *dir);
/* A word that changes whenever anything a verdict on DIR's certificates
 * depends on does (its CA certificates, policy, inventory), read without
 * opening any of them: the agent's no-op run compares it with its last
 * run's. MINICA_EINVAL when the inventory is not DIR's own SQLite file (a
 * server changes it unseen), MINICA_EIO when the stamp cannot be taken.
 * *settled: every time in it is old enough to be trusted (base/filestamp.h). */
int minica_state_stamp(const char *dir, char *out, size_t outlen, int *settled);

#endif
