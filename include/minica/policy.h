/* What this CA may issue: permitted DNS suffixes and IP ranges, wildcards,
 * default and maximum TTL, default key type. Read from DIR/minica.conf (INI).
 * Every refusal names the rule it broke. */
#ifndef MINICA_POLICY_H
#define MINICA_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"
#include "minica/key.h"
#include "minica/names.h"

#define MINICA_POLICY_MAX_ENTRIES 64

/* The [acme] section: whether serve answers ACME, whether newAccount needs
 * an External Account Binding, and the addresses the challenge validator
 * may dial (a private CA's validator is an SSRF tool otherwise). */
struct minica_acme_conf {
    int enabled;      /* default no */
    int eab_required; /* eab = required (default) | optional */
    struct minica_cidr validate_ip[MINICA_POLICY_MAX_ENTRIES];
    size_t n_validate_ip; /* without validate_ip: [policy] permit_ip's */
};

/* The [store] section: which inventory. database empty: the SQLite file
 * DIR/minica.db; else a postgresql:// or postgres:// URI (libpq's syntax)
 * without a password, minica.conf being world-readable by design. */
#define MINICA_STORE_TARGET_MAX 1024
struct minica_store_conf {
    char database[MINICA_STORE_TARGET_MAX];
};

struct minica_policy {
    char permit_dns[MINICA_POLICY_MAX_ENTRIES][MINICA_NAME_MAX + 1];
    size_t n_permit_dns;
    struct minica_cidr permit_ip[MINICA_POLICY_MAX_ENTRIES];
    size_t n_permit_ip;
    int allow_wildcards;
    int64_t default_ttl;
    int64_t max_ttl;
    enum minica_key_type default_key_type;
    struct minica_acme_conf acme;
    struct minica_store_conf store;
};

/* The defaults: no name restrictions, no wildcards, 90d / 1y, ec-p256;
 * ACME off, EAB required. */
void minica_policy_init(struct minica_policy *policy);

/* Loads path; a missing file gives the defaults. Unknown sections or keys and
 * bad values are errors naming the file and line. */
int minica_policy_load(struct minica_policy *policy, const char *path, struct minica_err *err);
/* The same from a string; name (e.g. the path it came from) is used in messages. */
int minica_policy_load_text(struct minica_policy *policy, const char *name, const char *text,
                            struct minica_err *err);

/* Only the [store] section of a minica.conf text, for what opens the
 * inventory without the policy (list, log): the other sections are the
 * policy's to judge, but a syntax error anywhere is one here too. */
int minica_store_conf_load_text(struct minica_store_conf *conf, const char *name, const char *text,
                                struct minica_err *err);

/* Whether target may name an inventory: a postgresql:// or postgres:// URI,
 * not a path (the SQLite file is always DIR/minica.db). from_conf: it comes
 * from minica.conf, where a password is refused too. 0, or MINICA_EINVAL
 * with a reason that starts with what to fix. */
int minica_store_target_check(const char *target, int from_conf, struct minica_err *err);

/* The commented default minica.conf written by `minica init`. Malloc'd. */
char *minica_policy_render(const struct minica_policy *policy);

/* With ACME enabled, the validator needs a range to dial (validate_ip or
 * permit_ip): MINICA_EINVAL naming both keys when there is none. */
int minica_policy_check_acme(const struct minica_policy *policy, struct minica_err *err);

/* Checks one name (already parsed). */
int minica_policy_check_name(const struct minica_policy *policy, const struct minica_name *name,
                             struct minica_err *err);
/* Checks a requested TTL against max_ttl. */
int minica_policy_check_ttl(const struct minica_policy *policy, int64_t ttl,
                            struct minica_err *err);

#endif
