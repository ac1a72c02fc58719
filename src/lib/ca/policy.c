/* The issuance policy in DIR/minica.conf: which names and IPs may be issued,
 * wildcards, TTL limits, default key type; its [acme] section, [store],
 * which names the inventory, and [keys], where the CA keys' passphrase comes
 * from. Refusals name the rule. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/inifile.h"
#include "minica/duration.h"
#include "minica/policy.h"

void minica_policy_init(struct minica_policy *policy)
{
    memset(policy, 0, sizeof(*policy));
    policy->default_ttl = 90 * 86400LL;
    policy->max_ttl = 365 * 86400LL;
    policy->default_key_type = MINICA_KEY_EC_P256;
    policy->acme.eab_required = 1;
}

/* Parses a comma-separated CIDR list into out (appending). 0, or the
 * message in ctx. */
static int parse_cidrs(struct minica_ini_ctx *ctx, const char *key, const char *value,
                       struct minica_cidr *out, size_t *n)
{
    char copy[8192];
    snprintf(copy, sizeof(copy), "%s", value);
    char *items[MINICA_POLICY_MAX_ENTRIES];
    int count = minica_ini_split_list(copy, items, MINICA_POLICY_MAX_ENTRIES);
    if (count < 0) {
        snprintf(ctx->msg, sizeof(ctx->msg), "%s: more than %d entries", key,
                 MINICA_POLICY_MAX_ENTRIES);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        struct minica_err e;
        if (*n == MINICA_POLICY_MAX_ENTRIES) {
            snprintf(ctx->msg, sizeof(ctx->msg), "%s: too many entries", key);
            return -1;
        }
        if (minica_cidr_parse(items[i], &out[*n], &e) != 0) {
            snprintf(ctx->msg, sizeof(ctx->msg), "%s: %s", key, e.msg);
            return -1;
        }
        (*n)++;
    }
    return 0;
}

static int acme_handler(struct minica_ini_ctx *ctx, struct minica_acme_conf *a, const char *key,
                        const char *value)
{
    if (strcmp(key, "enabled") == 0) {
        if (minica_ini_bool(value, &a->enabled) != 0) {
            snprintf(ctx->msg, sizeof(ctx->msg), "enabled: expected yes or no, not '%s'", value);
            return 0;
        }
        return 1;
    }
    if (strcmp(key, "eab") == 0) {
        if (strcmp(value, "required") == 0 || strcmp(value, "optional") == 0) {
            a->eab_required = value[0] == 'r';
            return 1;
        }
        snprintf(ctx->msg, sizeof(ctx->msg), "eab: expected required or optional, not '%s'", value);
        return 0;
    }
    if (strcmp(key, "validate_ip") == 0)
        return parse_cidrs(ctx, key, value, a->validate_ip, &a->n_validate_ip) == 0;
    snprintf(ctx->msg, sizeof(ctx->msg),
             "unknown key '%s' in [acme] (known: enabled, eab, validate_ip)", key);
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Whether a libpq URI carries a password: "user:secret@" before the host,
 * or a password= parameter (libpq percent-decodes parameter names too). */
static int uri_has_password(const char *rest)
{
    size_t auth = strcspn(rest, "/?");
    const char *at = NULL;
    for (size_t i = 0; i < auth; i++)
        if (rest[i] == '@')
            at = rest + i;
    if (at != NULL && memchr(rest, ':', (size_t)(at - rest)) != NULL)
        return 1;
    const char *q = strchr(rest, '?');
    while (q != NULL) {
        q++;
        char key[32];
        size_t n = 0;
        int overlong = 0;
        for (const char *c = q; *c && *c != '=' && *c != '&'; c++) {
            int ch = (unsigned char)*c;
            if (ch == '%' && hexval(c[1]) >= 0 && hexval(c[2]) >= 0) {
                ch = hexval(c[1]) * 16 + hexval(c[2]);
                c += 2;
            }
            if (n + 1 < sizeof(key))
                key[n++] = (char)ch;
            else
                overlong = 1;
        }
        key[n] = '\0';
        if (!overlong && strcmp(key, "password") == 0)
            return 1;
        q = strchr(q, '&');
    }
    return 0;
}

int minica_store_target_check(const char *target, int from_conf, struct minica_err *err)
{
    for (const char *c = target; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return minica_seterr(err, MINICA_EINVAL, "a control character in the URI");
    const char *rest = NULL;
    if (strncmp(target, "postgresql://", 13) == 0)
        rest = target + 13;
    else if (strncmp(target, "postgres://", 11) == 0)
        rest = target + 11;
    if (rest == NULL) {
        const char *colon = strstr(target, "://");
        if (colon != NULL && colon > target && strcspn(target, "/") > (size_t)(colon - target))
            return minica_seterr(err, MINICA_EINVAL,
                                 "unknown scheme '%.*s' (expected postgresql:// or postgres://)",
                                 (int)(colon - target), target);
        return minica_seterr(err, MINICA_EINVAL,
                             "expected a postgresql:// URI, not '%s' (the SQLite inventory is "
                             "always DIR/minica.db, used when no database is named)",
                             target);
    }
    if (from_conf && uri_has_password(rest))
        return minica_seterr(err, MINICA_EINVAL,
                             "put the password in a libpq passfile (passfile=/path in the URI, "
                             "mode 0600) or PGPASSFILE, not in minica.conf");
    return MINICA_OK;
}

static int store_handler(struct minica_ini_ctx *ctx, struct minica_store_conf *s, const char *key,
                         const char *value)
{
    if (strcmp(key, "database") != 0) {
        snprintf(ctx->msg, sizeof(ctx->msg), "unknown key '%s' in [store] (known: database)", key);
        return 0;
    }
    struct minica_err e;
    if (strlen(value) >= sizeof(s->database)) {
        snprintf(ctx->msg, sizeof(ctx->msg), "[store] database: longer than %zu bytes",
                 sizeof(s->database) - 1);
        return 0;
    }
    /* Empty: the default, as if the line were not there. */
    if (*value != '\0' && minica_store_target_check(value, 1, &e) != 0) {
        snprintf(ctx->msg, sizeof(ctx->msg), "[store] database: %s", e.msg);
        return 0;
    }
    snprintf(s->database, sizeof(s->database), "%s", value);
    return 1;
}

int minica_keys_check_file(const char *path, struct minica_err *err)
{
    /* Read from any working directory (serve, cron): relative would move. */
    if (path[0] != '/')
        return minica_seterr(err, MINICA_EINVAL, "passphrase_file: an absolute path, not '%s'",
                             path);
    if (strlen(path) >= MINICA_KEYS_PATH_MAX)
        return minica_seterr(err, MINICA_EINVAL, "passphrase_file: longer than %d bytes",
                             MINICA_KEYS_PATH_MAX - 1);
    return MINICA_OK;
}

int minica_keys_check_credential(const char *name, struct minica_err *err)
{
    /* A file name in $CREDENTIALS_DIRECTORY, as systemd.exec(5) requires. */
    size_t len = strlen(name);
    int ok = len > 0 && len < MINICA_KEYS_CREDENTIAL_MAX && strcmp(name, ".") != 0 &&
             strcmp(name, "..") != 0;
    for (const char *c = name; ok && *c; c++)
        ok = *c != '/' && (unsigned char)*c >= 0x20 && *c != 0x7f;
    if (!ok)
        return minica_seterr(err, MINICA_EINVAL,
                             "passphrase_credential: a credential name (a file name, no '/'), "
                             "not '%s'",
                             name);
    return MINICA_OK;
}

int minica_keys_conf_is_set(const struct minica_keys_conf *conf)
{
    return conf->passphrase_file[0] != '\0' || conf->passphrase_credential[0] != '\0';
}

int minica_keys_check_uri(const char *uri, struct minica_err *err)
{
    if (strncmp(uri, "pkcs11:", 7) != 0)
        return minica_seterr(err, MINICA_EINVAL, "a PKCS#11 URI (pkcs11:...), not '%s'", uri);
    if (strlen(uri) >= MINICA_KEYS_URI_MAX)
        return minica_seterr(err, MINICA_EINVAL, "PKCS#11 URI longer than %d bytes",
                             MINICA_KEYS_URI_MAX - 1);
    /* RFC 7512 puts pin-value in the query; ';' or '&' may precede it. */
    for (const char *p = strstr(uri, "pin-value="); p != NULL; p = strstr(p + 1, "pin-value="))
        if (p[-1] == '?' || p[-1] == '&' || p[-1] == ';' || p[-1] == ':')
            return minica_seterr(err, MINICA_EINVAL,
                                 "the URI holds a PIN (pin-value=), a secret in a world-readable "
                                 "file: use pin_file or pin_credential");
    return MINICA_OK;
}

static int keys_handler(struct minica_ini_ctx *ctx, struct minica_keys_conf *k, const char *key,
                        const char *value)
{
    struct minica_err e;
    if (strcmp(key, "intermediate") == 0 || strcmp(key, "root") == 0) {
        int is_root = key[0] == 'r';
        if (*value == '\0')
            return 1;
        if (minica_keys_check_uri(value, &e) != 0) {
            snprintf(ctx->msg, sizeof(ctx->msg), "[keys] %s: %s", key, e.msg);
            return 0;
        }
        if (is_root ? k->root[0] != '\0' : k->n_intermediate == MINICA_KEYS_TOKEN_MAX) {
            snprintf(ctx->msg, sizeof(ctx->msg), "[keys] %s: %s", key,
                     is_root ? "given twice; keep one"
                             : "too many lines (at most 8): drop retired intermediates' keys");
            return 0;
        }
        snprintf(is_root ? k->root : k->intermediate[k->n_intermediate++], MINICA_KEYS_URI_MAX,
                 "%s", value);
        return 1;
    }
    int is_pin = strncmp(key, "pin_", 4) == 0;
    const char *kind = is_pin ? key + 4 : key + 11;
    if ((!is_pin && strncmp(key, "passphrase_", 11) != 0) ||
        (strcmp(kind, "file") != 0 && strcmp(kind, "credential") != 0)) {
        snprintf(ctx->msg, sizeof(ctx->msg),
                 "unknown key '%s' in [keys] (known: passphrase_file, passphrase_credential, "
                 "intermediate, root, pin_file, pin_credential)",
                 key);
        return 0;
    }
    int is_file = kind[0] == 'f';
    /* Empty: the default, as if the line were not there. */
    if (*value != '\0' && (is_file ? minica_keys_check_file(value, &e)
                                   : minica_keys_check_credential(value, &e)) != 0) {
        /* The checks name passphrase_*; the rule is the same for the PIN. */
        const char *why = strchr(e.msg, ':');
        snprintf(ctx->msg, sizeof(ctx->msg), "[keys] %s%s", key, why != NULL ? why : e.msg);
        return 0;
    }
    char *file = is_pin ? k->pin_file : k->passphrase_file;
    char *cred = is_pin ? k->pin_credential : k->passphrase_credential;
    char *dst = is_file ? file : cred;
    size_t size = is_file ? MINICA_KEYS_PATH_MAX : MINICA_KEYS_CREDENTIAL_MAX;
    snprintf(dst, size, "%s", value);
    if (file[0] != '\0' && cred[0] != '\0') {
        snprintf(ctx->msg, sizeof(ctx->msg), "[keys]: %s_file and %s_credential both set; keep one",
                 is_pin ? "pin" : "passphrase", is_pin ? "pin" : "passphrase");
        return 0;
    }
    return 1;
}

char *minica_policy_text_add_key(const char *text, const char *key, const char *uri)
{
    /* The first line that is [keys] itself, comments and blanks around it. */
    const char *at = NULL;
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        const char *b = line, *e = line + len;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if ((size_t)(e - b) == 6 && memcmp(b, "[keys]", 6) == 0) {
            at = end != NULL ? end + 1 : line + len;
            break;
        }
        if (end == NULL)
            break;
        line = end + 1;
    }
    size_t tlen = strlen(text);
    size_t size = tlen + strlen(key) + strlen(uri) + 32;
    char *out = malloc(size);
    if (out == NULL)
        return NULL;
    if (at != NULL) {
        size_t head = (size_t)(at - text);
        int missing_nl = head > 0 && text[head - 1] != '\n';
        snprintf(out, size, "%.*s%s%s = %s\n%s", (int)head, text, missing_nl ? "\n" : "", key, uri,
                 at);
    } else {
        int missing_nl = tlen > 0 && text[tlen - 1] != '\n';
        snprintf(out, size, "%s%s\n[keys]\n%s = %s\n", text, missing_nl ? "\n" : "", key, uri);
    }
    return out;
}

static int keys_only_handler(struct minica_ini_ctx *ctx, const char *section, const char *key,
                             const char *value)
{
    if (strcmp(section, "keys") != 0)
        return 1;
    return keys_handler(ctx, ctx->user, key, value);
}

int minica_keys_conf_load_text(struct minica_keys_conf *conf, const char *name, const char *text,
                               struct minica_err *err)
{
    memset(conf, 0, sizeof(*conf));
    return minica_ini_parse(name, text, (minica_ini_handler)keys_only_handler, conf, err);
}

static int store_only_handler(struct minica_ini_ctx *ctx, const char *section, const char *key,
                              const char *value)
{
    if (strcmp(section, "store") != 0)
        return 1;
    return store_handler(ctx, ctx->user, key, value);
}

int minica_store_conf_load_text(struct minica_store_conf *conf, const char *name, const char *text,
                                struct minica_err *err)
{
    memset(conf, 0, sizeof(*conf));
    return minica_ini_parse(name, text, (minica_ini_handler)store_only_handler, conf, err);
}

static int policy_handler(struct minica_ini_ctx *ctx, const char *section, const char *key,
                          const char *value)
{
    struct minica_policy *p = ctx->user;
    struct minica_err e;
    if (strcmp(section, "acme") == 0)
        return acme_handler(ctx, &p->acme, key, value);
    if (strcmp(section, "store") == 0)
        return store_handler(ctx, &p->store, key, value);
    if (strcmp(section, "keys") == 0)
        return keys_handler(ctx, &p->keys, key, value);
    if (strcmp(section, "policy") != 0) {
        snprintf(ctx->msg, sizeof(ctx->msg),
                 "unknown section [%s] (expected [policy], [acme], [store] or [keys])", section);
        return 0;
    }
    if (strcmp(key, "permit_dns") == 0 || strcmp(key, "permit_ip") == 0) {
        char copy[8192];
        snprintf(copy, sizeof(copy), "%s", value);
        char *items[MINICA_POLICY_MAX_ENTRIES];
        int n = minica_ini_split_list(copy, items, MINICA_POLICY_MAX_ENTRIES);
        if (n < 0) {
            snprintf(ctx->msg, sizeof(ctx->msg), "%s: more than %d entries", key,
                     MINICA_POLICY_MAX_ENTRIES);
            return 0;
        }
        for (int i = 0; i < n; i++) {
            int ret;
            if (key[7] == 'd') {
                if (p->n_permit_dns == MINICA_POLICY_MAX_ENTRIES) {
                    snprintf(ctx->msg, sizeof(ctx->msg), "permit_dns: too many entries");
                    return 0;
                }
                ret = minica_dns_suffix_parse(items[i], p->permit_dns[p->n_permit_dns],
                                              sizeof(p->permit_dns[0]), &e);
                if (ret == 0)
                    p->n_permit_dns++;
            } else {
                if (p->n_permit_ip == MINICA_POLICY_MAX_ENTRIES) {
                    snprintf(ctx->msg, sizeof(ctx->msg), "permit_ip: too many entries");
                    return 0;
                }
                ret = minica_cidr_parse(items[i], &p->permit_ip[p->n_permit_ip], &e);
                if (ret == 0)
                    p->n_permit_ip++;
            }
            if (ret != 0) {
                snprintf(ctx->msg, sizeof(ctx->msg), "%s: %s", key, e.msg);
                return 0;
            }
        }
        return 1;
    }
    if (strcmp(key, "allow_wildcards") == 0) {
        if (minica_ini_bool(value, &p->allow_wildcards) != 0) {
            snprintf(ctx->msg, sizeof(ctx->msg), "allow_wildcards: expected yes or no, not '%s'",
                     value);
            return 0;
        }
        return 1;
    }
    if (strcmp(key, "default_ttl") == 0 || strcmp(key, "max_ttl") == 0) {
        int64_t *dst = key[0] == 'd' ? &p->default_ttl : &p->max_ttl;
        /* The floor of --ttl: a policy must not make what it refuses. */
        if (minica_ttl_parse(value, dst, &e) != 0) {
            snprintf(ctx->msg, sizeof(ctx->msg), "%s: %s", key, e.msg);
            return 0;
        }
        return 1;
    }
    if (strcmp(key, "default_key_type") == 0) {
        if (minica_key_type_parse(value, &p->default_key_type, &e) != 0) {
            snprintf(ctx->msg, sizeof(ctx->msg), "default_key_type: %s", e.msg);
            return 0;
        }
        return 1;
    }
    snprintf(ctx->msg, sizeof(ctx->msg),
             "unknown key '%s' (known: permit_dns, permit_ip, allow_wildcards, default_ttl, "
             "max_ttl, default_key_type)",
             key);
    return 0;
}

/* text == NULL: read path; else parse text, path only names it in messages. */
static int policy_parse(struct minica_policy *policy, const char *path, const char *text,
                        struct minica_err *err)
{
    minica_policy_init(policy);
    int ret = minica_ini_parse(path, text, (minica_ini_handler)policy_handler, policy, err);
    if (ret != 0)
        return ret;
    /* The validator dials what issuance may name, unless told narrower. */
    if (policy->acme.n_validate_ip == 0) {
        memcpy(policy->acme.validate_ip, policy->permit_ip, sizeof(policy->permit_ip));
        policy->acme.n_validate_ip = policy->n_permit_ip;
    }
    if (policy->default_ttl > policy->max_ttl) {
        char a[64], b[64];
        minica_duration_format(policy->default_ttl, a, sizeof(a));
        minica_duration_format(policy->max_ttl, b, sizeof(b));
        return minica_seterr(err, MINICA_EINVAL, "%s: default_ttl (%s) exceeds max_ttl (%s)", path,
                             a, b);
    }
    return MINICA_OK;
}

int minica_policy_load(struct minica_policy *policy, const char *path, struct minica_err *err)
{
    minica_policy_init(policy);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return MINICA_OK; /* no file: the defaults */
    fclose(f);
    return policy_parse(policy, path, NULL, err);
}

int minica_policy_load_text(struct minica_policy *policy, const char *name, const char *text,
                            struct minica_err *err)
{
    return policy_parse(policy, name, text, err);
}

static void append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*buf == NULL)
        return;
    if (*len + n + 1 > *cap) {
        size_t ncap = (*cap + n + 1) * 2;
        char *nb = realloc(*buf, ncap);
        if (nb == NULL) {
            free(*buf);
            *buf = NULL;
            return;
        }
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

char *minica_policy_render(const struct minica_policy *policy)
{
    size_t cap = 2048, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    buf[0] = '\0';
    char line[8192];
    append(&buf, &len, &cap,
           "# minica issuance policy. Read by every command that issues; an unknown\n"
           "# key or a bad value is an error naming this file and the line.\n"
           "[policy]\n"
           "# DNS names that may be issued: these names and everything below them\n"
           "# (comma-separated). Empty: any name. Also written, at init, into the\n"
           "# intermediate's name constraints, so changing it here cannot widen them.\n");
    line[0] = '\0';
    for (size_t i = 0; i < policy->n_permit_dns; i++) {
        strncat(line, i ? ", " : "", sizeof(line) - strlen(line) - 1);
        strncat(line, policy->permit_dns[i], sizeof(line) - strlen(line) - 1);
    }
    char entry[8300];
    snprintf(entry, sizeof(entry), "%spermit_dns = %s\n", policy->n_permit_dns ? "" : "# ",
             policy->n_permit_dns ? line : "internal.svc");
    append(&buf, &len, &cap, entry);
    append(&buf, &len, &cap,
           "# IP ranges (CIDR, IPv4 and IPv6) that may be issued. Empty: any address.\n");
    line[0] = '\0';
    for (size_t i = 0; i < policy->n_permit_ip; i++) {
        strncat(line, i ? ", " : "", sizeof(line) - strlen(line) - 1);
        strncat(line, policy->permit_ip[i].text, sizeof(line) - strlen(line) - 1);
    }
    snprintf(entry, sizeof(entry), "%spermit_ip = %s\n", policy->n_permit_ip ? "" : "# ",
             policy->n_permit_ip ? line : "10.0.0.0/8, fd00::/8");
    append(&buf, &len, &cap, entry);
    char ttl[64], max[64];
    minica_duration_format(policy->default_ttl, ttl, sizeof(ttl));
    minica_duration_format(policy->max_ttl, max, sizeof(max));
    for (char *c = ttl; *c; c++)
        if (*c == ' ')
            memmove(c, c + 1, strlen(c));
    for (char *c = max; *c; c++)
        if (*c == ' ')
            memmove(c, c + 1, strlen(c));
    snprintf(entry, sizeof(entry),
             "# Whether \"*.name\" certificates may be issued.\n"
             "allow_wildcards = %s\n"
             "# TTL used when --ttl is not given, and the longest allowed.\n"
             "default_ttl = %s\n"
             "max_ttl = %s\n"
             "# ec-p256, ec-p384, rsa-2048, rsa-3072 or rsa-4096.\n"
             "default_key_type = %s\n",
             policy->allow_wildcards ? "yes" : "no", ttl, max,
             minica_key_type_name(policy->default_key_type));
    append(&buf, &len, &cap, entry);
    append(&buf, &len, &cap,
           "\n"
           "# ACME (RFC 8555) on 'minica serve', under /acme/directory. Off unless\n"
           "# enabled. eab = required: every account needs an External Account Binding\n"
           "# key made by 'minica acme eab create'. validate_ip: the addresses the\n"
           "# challenge validator may dial (default: permit_ip; with neither, serve\n"
           "# refuses to start with ACME enabled).\n"
           "# [acme]\n"
           "# enabled = yes\n"
           "# eab = required\n"
           "# validate_ip = 10.0.0.0/8, fd00::/8\n"
           "\n"
           "# The inventory. Unset: the SQLite file minica.db in this directory.\n"
           "# A PostgreSQL URI (libpq's syntax) puts it in that database, which\n"
           "# several 'minica serve' replicas may share. No password here (this file\n"
           "# is world-readable): passfile=/path in the URI, or PGPASSFILE.\n"
           "# [store]\n"
           "# database = postgresql://minica@db.internal/minica?passfile=/etc/minica/pgpass\n");
    append(&buf, &len, &cap,
           "\n"
           "# The CA keys' passphrase. Set: root.key, intermediate.key and ca/*.key are\n"
           "# PKCS#8 encrypted (PBES2, AES-256-CBC); 'minica ca encrypt-keys' encrypts\n"
           "# plain ones. passphrase_file: its first line, the file 0600 and owned by\n"
           "# root or the CA's user. passphrase_credential: a systemd credential\n"
           "# (LoadCredentialEncrypted=NAME:...), read from $CREDENTIALS_DIRECTORY.\n");
    const struct minica_keys_conf *k = &policy->keys;
    int any = minica_keys_conf_is_set(k) || k->n_intermediate > 0 || k->root[0] != '\0' ||
              k->pin_file[0] != '\0' || k->pin_credential[0] != '\0';
    append(&buf, &len, &cap,
           "# CA keys in a PKCS#11 token (RFC 7512 URIs, never with a pin-value):\n"
           "# intermediate (one line per intermediate in a token, the active one\n"
           "# first; 'minica ca rotate --intermediate-key' adds them) and root. A CA\n"
           "# certificate without a key file uses the key of its role whose public\n"
           "# key is its own. The PIN: pin_file or pin_credential, as the passphrase.\n");
    if (any) {
        append(&buf, &len, &cap, "[keys]\n");
        const char *const names[4] = {"passphrase_file", "passphrase_credential", "pin_file",
                                      "pin_credential"};
        const char *const values[4] = {k->passphrase_file, k->passphrase_credential, k->pin_file,
                                       k->pin_credential};
        for (int i = 0; i < 4; i++) {
            if (values[i][0] == '\0')
                continue;
            snprintf(entry, sizeof(entry), "%s = %s\n", names[i], values[i]);
            append(&buf, &len, &cap, entry);
        }
        for (size_t i = 0; i < k->n_intermediate; i++) {
            snprintf(entry, sizeof(entry), "intermediate = %s\n", k->intermediate[i]);
            append(&buf, &len, &cap, entry);
        }
        if (k->root[0] != '\0') {
            snprintf(entry, sizeof(entry), "root = %s\n", k->root);
            append(&buf, &len, &cap, entry);
        }
    } else {
        append(&buf, &len, &cap,
               "# [keys]\n"
               "# passphrase_file = /etc/minica/ca.pass\n"
               "# passphrase_credential = minica-ca-pass\n"
               "# intermediate = pkcs11:token=minica;object=intermediate-2026\n"
               "# pin_file = /etc/minica/token.pin\n");
    }
    return buf;
}

int minica_policy_check_acme(const struct minica_policy *policy, struct minica_err *err)
{
    if (policy->acme.enabled && policy->acme.n_validate_ip == 0)
        return minica_seterr(err, MINICA_EINVAL,
                             "[acme] needs validate_ip or [policy] permit_ip: the validator must "
                             "not dial just anything");
    return MINICA_OK;
}

static void join_dns(const struct minica_policy *p, char *out, size_t outlen)
{
    out[0] = '\0';
    for (size_t i = 0; i < p->n_permit_dns; i++) {
        strncat(out, i ? ", " : "", outlen - strlen(out) - 1);
        strncat(out, p->permit_dns[i], outlen - strlen(out) - 1);
    }
}

static void join_ip(const struct minica_policy *p, char *out, size_t outlen)
{
    out[0] = '\0';
    for (size_t i = 0; i < p->n_permit_ip; i++) {
        strncat(out, i ? ", " : "", outlen - strlen(out) - 1);
        strncat(out, p->permit_ip[i].text, outlen - strlen(out) - 1);
    }
}

int minica_policy_check_name(const struct minica_policy *policy, const struct minica_name *name,
                             struct minica_err *err)
{
    char list[4096];
    if (name->kind == MINICA_NAME_DNS) {
        if (name->wildcard && !policy->allow_wildcards)
            return minica_seterr(err, MINICA_EPOLICY,
                                 "%s is a wildcard and the policy does not allow wildcards "
                                 "(allow_wildcards = no)",
                                 name->text);
        if (policy->n_permit_dns == 0)
            return MINICA_OK;
        const char *host = name->wildcard ? name->text + 2 : name->text;
        for (size_t i = 0; i < policy->n_permit_dns; i++)
            if (minica_dns_suffix_matches(policy->permit_dns[i], host))
                return MINICA_OK;
        join_dns(policy, list, sizeof(list));
        return minica_seterr(err, MINICA_EPOLICY, "%s is outside the permitted DNS names (%s)",
                             name->text, list);
    }
    if (policy->n_permit_ip == 0)
        return MINICA_OK;
    for (size_t i = 0; i < policy->n_permit_ip; i++)
        if (minica_cidr_contains(&policy->permit_ip[i], name->ip, name->ip_len))
            return MINICA_OK;
    join_ip(policy, list, sizeof(list));
    return minica_seterr(err, MINICA_EPOLICY, "%s is outside the permitted IP ranges (%s)",
                         name->text, list);
}

int minica_policy_check_ttl(const struct minica_policy *policy, int64_t ttl, struct minica_err *err)
{
    if (ttl <= policy->max_ttl)
        return MINICA_OK;
    char a[64], b[64];
    minica_duration_format(ttl, a, sizeof(a));
    minica_duration_format(policy->max_ttl, b, sizeof(b));
    return minica_seterr(err, MINICA_EPOLICY, "TTL %s exceeds the policy's maximum (max_ttl = %s)",
                         a, b);
}
