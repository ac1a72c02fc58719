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

/* The [keys] section: where the passphrase of the encrypted CA key files
 * comes from, never argv or the environment. passphrase_file: an absolute
 * path, the file 0600 (or 0400) and owned by root or the running user;
 * passphrase_credential: a systemd credential's name, read from
 * $CREDENTIALS_DIRECTORY/NAME (LoadCredentialEncrypted=). At most one;
 * neither: the key files are plain PEM. */
#define MINICA_KEYS_PATH_MAX 4096
#define MINICA_KEYS_CREDENTIAL_MAX 256
/* CA keys in a PKCS#11 token: intermediate (repeatable: one line per
 * intermediate whose key is in a token, the active one first, as `ca
 * rotate --intermediate-key` writes them) and root name the keys by RFC
 * 7512 URI, never with a pin-value. A CA certificate without a key file
 * takes the configured key of its role whose public key is its own.
 * pin_file / pin_credential: the token's user PIN, under the passphrase's
 * rules. */
#define MINICA_KEYS_URI_MAX 512
#define MINICA_KEYS_TOKEN_MAX 8
struct minica_keys_conf {
    char passphrase_file[MINICA_KEYS_PATH_MAX];
    char passphrase_credential[MINICA_KEYS_CREDENTIAL_MAX];
    char intermediate[MINICA_KEYS_TOKEN_MAX][MINICA_KEYS_URI_MAX];
    size_t n_intermediate;
    char root[MINICA_KEYS_URI_MAX];
    char pin_file[MINICA_KEYS_PATH_MAX];
    char pin_credential[MINICA_KEYS_CREDENTIAL_MAX];
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
    struct minica_keys_conf keys;
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

/* Only the [keys] section, for what reads a CA key before (or without)
 * the policy. */
int minica_keys_conf_load_text(struct minica_keys_conf *conf, const char *name, const char *text,
                               struct minica_err *err);
/* Whether [keys] names a passphrase source (the CA keys are encrypted). */
int minica_keys_conf_is_set(const struct minica_keys_conf *conf);
/* The checks a [keys] value gets, for `init` to refuse what the parser would:
 * file an absolute path, credential a file name. 0 or MINICA_EINVAL. */
int minica_keys_check_file(const char *path, struct minica_err *err);
int minica_keys_check_credential(const char *name, struct minica_err *err);
/* A token key's URI as [keys] intermediate / root takes it: pkcs11:, no
 * pin-value (a secret in a world-readable file). 0 or MINICA_EINVAL. */
int minica_keys_check_uri(const char *uri, struct minica_err *err);
/* minica.conf's text with `key = uri` added as the first line of [keys]
 * (a [keys] section appended when there is none), the rest kept as the
 * operator wrote it. For `ca rotate --intermediate-key`. Malloc'd; NULL
 * when out of memory. */
char *minica_policy_text_add_key(const char *text, const char *key, const char *uri);

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
