/* agent.conf: one [agent] section and one [cert NAME] section per managed
 * certificate (INI through inifile.h). Only parsing and validation; what the
 * agent does with it is run.c. */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/inifile.h"
#include "base/strpool.h"
#include "base/util.h"
#include "base/trustfile.h"
#include "minica/agent.h"
#include "minica/duration.h"
#include "minica/names.h"
#include "minica/remote.h"

struct parse_state {
    struct minica_agent_config *cfg;
    char section[300];
    struct minica_agent_cert *cur; /* the [cert] being filled, or NULL */
    unsigned seen;                 /* bits of keys already set in this section */
};

/* Bits for "set twice" and "required" checks. */
enum {
    K_SANS = 1 << 0,
    K_USAGE = 1 << 1,
    K_TTL = 1 << 2,
    K_KEY_TYPE = 1 << 3,
    K_FULLCHAIN = 1 << 4,
    K_KEY = 1 << 5,
    K_CERT = 1 << 6,
    K_CA = 1 << 7,
    K_OWNER = 1 << 8,
    K_GROUP = 1 << 9,
    K_MODE = 1 << 10,
    K_STATE_DIR = 1 << 11,
    K_RENEW_BEFORE = 1 << 12,
    K_CHECK = 1 << 13,
    K_RELOAD = 1 << 14,
    K_PIDFILE = 1 << 15,
    K_SIGNAL = 1 << 16,
    K_LOCK = 1 << 17,
    K_STATUS = 1 << 18,
};

static int reject(struct minica_ini_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int reject(struct minica_ini_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->msg, sizeof(ctx->msg), fmt, ap);
    va_end(ap);
    return 0;
}

static int set_string(struct minica_ini_ctx *ctx, char *dst, size_t size, const char *key,
                      const char *value)
{
    if (value[0] == '\0')
        return reject(ctx, "%s: empty value", key);
    if (strlen(value) >= size)
        return reject(ctx, "%s: value too long", key);
    memcpy(dst, value, strlen(value) + 1);
    return 1;
}

static int set_path(struct minica_ini_ctx *ctx, char *dst, size_t size, const char *key,
                    const char *value)
{
    if (value[0] != '/')
        return reject(ctx, "%s: '%s' is not an absolute path", key, value);
    size_t n = strlen(value);
    if (value[n - 1] == '/')
        return reject(ctx, "%s: '%s' is a directory, not a file", key, value);
    return set_string(ctx, dst, size, key, value);
}

/* A [cert] path, kept in the config's string pool. */
static int set_cert_path(struct minica_ini_ctx *ctx, struct minica_agent_config *cfg,
                         const char **dst, const char *key, const char *value)
{
    char buf[MINICA_PATH_MAX];
    if (!set_path(ctx, buf, sizeof(buf), key, value))
        return 0;
    const char *copy = minica_strpool_dup(cfg->strings, buf);
    if (copy == NULL)
        return reject(ctx, "out of memory");
    *dst = copy;
    return 1;
}

static int parse_signal(const char *value, int *sig)
{
    static const struct {
        const char *name;
        int sig;
    } sigs[] = {{"HUP", SIGHUP},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
                {"TERM", SIGTERM}, {"INT", SIGINT},   {"QUIT", SIGQUIT}};
    const char *v = strncasecmp(value, "SIG", 3) == 0 ? value + 3 : value;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (strcasecmp(v, sigs[i].name) == 0) {
            *sig = sigs[i].sig;
            return 0;
        }
    return -1;
}

static int parse_id(const char *value, int is_group, struct minica_file_owner *owner)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(value, &end, 10);
    int numeric = *value != '\0' && *end == '\0' && errno == 0 && isdigit((unsigned char)*value);
    if (is_group) {
        struct group *gr = numeric ? NULL : getgrnam(value);
        if (!numeric && gr == NULL)
            return -1;
        owner->gid = numeric ? (gid_t)n : gr->gr_gid;
    } else {
        struct passwd *pw = numeric ? NULL : getpwnam(value);
        if (!numeric && pw == NULL)
            return -1;
        owner->uid = numeric ? (uid_t)n : pw->pw_uid;
    }
    return 0;
}

static int agent_key(struct parse_state *st, struct minica_ini_ctx *ctx, const char *key,
                     const char *value)
{
    struct minica_agent_config *cfg = st->cfg;
    struct minica_err err;
    unsigned bit;
    int ok;
    if (strcmp(key, "state_dir") == 0) {
        bit = K_STATE_DIR;
        ok = set_path(ctx, cfg->state_dir, sizeof(cfg->state_dir), key, value);
    } else if (strcmp(key, "renew_before") == 0) {
        bit = K_RENEW_BEFORE;
        ok = 1;
        size_t n = strlen(value);
        if (n > 1 && value[n - 1] == '%') {
            char *end;
            long pct = strtol(value, &end, 10);
            if (end != value + n - 1 || pct < 1 || pct > 99)
                return reject(ctx, "renew_before: '%s' is not a percentage between 1%% and 99%%",
                              value);
            cfg->renew_before_percent = (int)pct;
            cfg->renew_before_seconds = 0;
        } else if (minica_duration_parse(value, &cfg->renew_before_seconds, &err) == 0) {
            cfg->renew_before_percent = 0;
        } else {
            return reject(ctx,
                          "renew_before: %s (use a duration like 30d or a share of the "
                          "lifetime like 33%%)",
                          err.msg);
        }
    } else if (strcmp(key, "check_command") == 0) {
        bit = K_CHECK;
        ok = set_string(ctx, cfg->check_command, sizeof(cfg->check_command), key, value);
    } else if (strcmp(key, "reload_command") == 0) {
        bit = K_RELOAD;
        ok = set_string(ctx, cfg->reload_command, sizeof(cfg->reload_command), key, value);
    } else if (strcmp(key, "reload_pidfile") == 0) {
        bit = K_PIDFILE;
        ok = set_path(ctx, cfg->reload_pidfile, sizeof(cfg->reload_pidfile), key, value);
    } else if (strcmp(key, "reload_signal") == 0) {
        bit = K_SIGNAL;
        ok = 1;
        if (parse_signal(value, &cfg->reload_signal) != 0)
            return reject(ctx,
                          "reload_signal: unknown signal '%s' (use HUP, USR1, USR2, TERM, "
                          "INT or QUIT)",
                          value);
    } else if (strcmp(key, "lock_file") == 0) {
        bit = K_LOCK;
        ok = set_path(ctx, cfg->lock_file, sizeof(cfg->lock_file), key, value);
    } else if (strcmp(key, "status_file") == 0) {
        bit = K_STATUS;
        ok = set_path(ctx, cfg->status_file, sizeof(cfg->status_file), key, value);
    } else if (strcmp(key, "ca_url") == 0) { /* remote CA (remote.h) */
        return set_string(ctx, cfg->ca_url, sizeof(cfg->ca_url), key, value);
    } else if (strcmp(key, "root") == 0) {
        return set_path(ctx, cfg->root, sizeof(cfg->root), key, value);
    } else if (strcmp(key, "retry_for") == 0) { /* how long to wait for a busy remote CA */
        if (minica_remote_retry_for_parse(value, &cfg->retry_for, &err) != 0)
            return reject(ctx, "retry_for: %s (a duration like 3m, or 0 for a single attempt)",
                          err.msg);
        return 1;
    } else {
        int taken =
            minica_agent_hooks_agent_key(&cfg->hooks, key, value, ctx->msg, sizeof(ctx->msg));
        if (taken >= 0)
            return taken;
        return reject(ctx, "unknown key '%s' in [agent]", key);
    }
    if (ok && (st->seen & bit))
        return reject(ctx, "%s is set twice", key);
    st->seen |= bit;
    return ok;
}

static int cert_sans(struct minica_ini_ctx *ctx, struct minica_agent_cert *c, const char *value)
{
    char copy[MINICA_SANS_MAX];
    if (strlen(value) >= sizeof(copy))
        return reject(ctx, "sans: value too long");
    snprintf(copy, sizeof(copy), "%s", value);
    char *items[MINICA_MAX_SANS];
    int n = minica_ini_split_list(copy, items, MINICA_MAX_SANS);
    if (n < 0)
        return reject(ctx, "sans: too many names");
    if (n == 0)
        return reject(ctx, "sans: empty list");
    /* NAME is always the first subjectAltName (as minica issue does). */
    char out[MINICA_SANS_MAX];
    snprintf(out, sizeof(out), "%s", c->name);
    for (int i = 0; i < n; i++) {
        struct minica_name name;
        struct minica_err err;
        if (minica_name_parse(items[i], &name, &err) != 0)
            return reject(ctx, "sans: %s", err.msg);
        /* Skip duplicates: compare against each comma-separated entry. */
        int dup = 0;
        char scan[MINICA_SANS_MAX];
        snprintf(scan, sizeof(scan), "%s", out);
        char *save = NULL;
        for (char *t = strtok_r(scan, ",", &save); t; t = strtok_r(NULL, ",", &save))
            if (strcmp(t, name.text) == 0)
                dup = 1;
        if (dup)
            continue;
        size_t used = strlen(out);
        if (snprintf(out + used, sizeof(out) - used, ",%s", name.text) >= (int)(sizeof(out) - used))
            return reject(ctx, "sans: too many names");
    }
    memcpy(c->sans, out, sizeof(c->sans));
    return 1;
}

static int cert_key(struct parse_state *st, struct minica_ini_ctx *ctx, const char *key,
                    const char *value)
{
    struct minica_agent_cert *c = st->cur;
    struct minica_err err;
    unsigned bit;
    int ok = 1;
    if (strcmp(key, "sans") == 0) {
        bit = K_SANS;
        ok = cert_sans(ctx, c, value);
    } else if (strcmp(key, "usage") == 0) {
        bit = K_USAGE;
        if (minica_usage_parse(value, &c->usage, &err) != 0)
            return reject(ctx, "usage: %s", err.msg);
    } else if (strcmp(key, "ttl") == 0) {
        bit = K_TTL;
        if (minica_ttl_parse(value, &c->ttl, &err) != 0)
            return reject(ctx, "ttl: %s", err.msg);
    } else if (strcmp(key, "key_type") == 0) {
        bit = K_KEY_TYPE;
        if (minica_key_type_parse(value, &c->key_type, &err) != 0)
            return reject(ctx, "key_type: %s", err.msg);
    } else if (strcmp(key, "fullchain") == 0) {
        bit = K_FULLCHAIN;
        ok = set_cert_path(ctx, st->cfg, &c->fullchain, key, value);
    } else if (strcmp(key, "key") == 0) {
        bit = K_KEY;
        ok = set_cert_path(ctx, st->cfg, &c->key, key, value);
    } else if (strcmp(key, "cert") == 0) {
        bit = K_CERT;
        ok = set_cert_path(ctx, st->cfg, &c->cert, key, value);
    } else if (strcmp(key, "ca") == 0) {
        bit = K_CA;
        ok = set_cert_path(ctx, st->cfg, &c->ca, key, value);
    } else if (strcmp(key, "owner") == 0) {
        bit = K_OWNER;
        if (parse_id(value, 0, &c->owner) != 0)
            return reject(ctx, "owner: no such user '%s'", value);
    } else if (strcmp(key, "group") == 0) {
        bit = K_GROUP;
        if (parse_id(value, 1, &c->owner) != 0)
            return reject(ctx, "group: no such group '%s'", value);
    } else if (strcmp(key, "mode") == 0) {
        bit = K_MODE;
        char *end;
        errno = 0;
        unsigned long m = strtoul(value, &end, 8);
        if (*value == '\0' || *end != '\0' || errno != 0 || m > 07777)
            return reject(ctx, "mode: '%s' is not an octal mode like 0640", value);
        if ((m & ~(unsigned long)0640) != 0 || (m & 0400) == 0)
            return reject(ctx,
                          "mode: %s would make the key readable beyond owner and group "
                          "(at most 0640, and the owner must read it)",
                          value);
        c->key_mode = (mode_t)m;
    } else if (strcmp(key, "token_file") == 0) { /* remote CA: first issuance */
        return set_cert_path(ctx, st->cfg, &c->token_file, key, value);
    } else {
        int taken = minica_agent_hooks_cert_key(&c->hooks, st->cfg->strings, key, value, ctx->msg,
                                                sizeof(ctx->msg));
        if (taken >= 0)
            return taken;
        return reject(ctx, "unknown key '%s' in [cert %s]", key, c->name);
    }
    if (!ok)
        return 0;
    if (st->seen & bit)
        return reject(ctx, "%s is set twice", key);
    st->seen |= bit;
    return 1;
}

static int new_cert(struct parse_state *st, struct minica_ini_ctx *ctx, const char *name)
{
    struct minica_agent_config *cfg = st->cfg;
    struct minica_name parsed;
    struct minica_err err;
    if (minica_name_parse(name, &parsed, &err) != 0)
        return reject(ctx, "[cert %s]: %s", name, err.msg);
    /* Names appearing twice are found once all are read (check_names). */
    if (cfg->strings == NULL && (cfg->strings = minica_strpool_new()) == NULL)
        return reject(ctx, "out of memory");
    struct minica_agent_cert *grown =
        minica_array_grow(cfg->certs, &cfg->cap_certs, cfg->n_certs, sizeof(*grown), 16);
    if (grown == NULL)
        return reject(ctx, "out of memory");
    cfg->certs = grown;
    struct minica_agent_cert *c = &cfg->certs[cfg->n_certs++];
    minica_agent_cert_init(c);
    snprintf(c->name, sizeof(c->name), "%s", parsed.text);
    snprintf(c->sans, sizeof(c->sans), "%s", parsed.text);
    st->cur = c;
    return 1;
}

static int handler(struct minica_ini_ctx *ctx, const char *section, const char *key,
                   const char *value)
{
    struct parse_state *st = ctx->user;
    if (strcmp(section, st->section) != 0) {
        /* A new section: inih only tells us through the keys inside it. */
        snprintf(st->section, sizeof(st->section), "%s", section);
        st->seen = 0;
        st->cur = NULL;
        if (strcmp(section, "agent") == 0) {
            /* [agent] may come anywhere. */
        } else if (strncmp(section, "cert ", 5) == 0) {
            const char *name = section + 5;
            while (*name == ' ')
                name++;
            if (!new_cert(st, ctx, name))
                return 0;
        } else {
            return reject(ctx, "unknown section [%s] (expected [agent] or [cert NAME])", section);
        }
    }
    if (st->cur != NULL)
        return cert_key(st, ctx, key, value);
    if (strcmp(section, "agent") == 0)
        return agent_key(st, ctx, key, value);
    return reject(ctx, "key '%s' outside of a section", key);
}

/* The line of the nth "[cert NAME]" header in text (from 1), for errors
 * about a whole section; 0 when there is none. Names compare as DNS names
 * do, without case. */
static int nth_section_line(const char *text, const char *name, int nth)
{
    int line = 1;
    size_t name_len = strlen(name);
    for (const char *p = text; *p; line++) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        const char *s = p;
        while (s < end && isspace((unsigned char)*s))
            s++;
        const char *close = s < end && *s == '[' ? memchr(s, ']', (size_t)(end - s)) : NULL;
        if (close != NULL && close - s > 5 && strncmp(s + 1, "cert ", 5) == 0) {
            const char *n = s + 6, *e = close;
            while (n < e && isspace((unsigned char)*n))
                n++;
            while (e > n && isspace((unsigned char)e[-1]))
                e--;
            if ((size_t)(e - n) == name_len && strncasecmp(n, name, name_len) == 0 && --nth == 0)
                return line;
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return 0;
}

static int section_line(const char *text, const char *name)
{
    return nth_section_line(text, name, 1);
}

static int cert_index_by_name(const void *a, const void *b, void *certs)
{
    const struct minica_agent_cert *c = certs;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int d = strcmp(c[x].name, c[y].name);
    return d != 0 ? d : (x > y) - (x < y);
}

/* Each name once. Sorted, not pairwise: a config may manage thousands of
 * certificates. */
static int check_names(const struct minica_agent_config *cfg, const char *path, const char *text,
                       struct minica_err *err)
{
    size_t *order = calloc(cfg->n_certs + 1, sizeof(*order));
    if (order == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    for (size_t i = 0; i < cfg->n_certs; i++)
        order[i] = i;
    qsort_r(order, cfg->n_certs, sizeof(*order), cert_index_by_name, cfg->certs);
    int ret = MINICA_OK;
    for (size_t k = 1; k < cfg->n_certs && ret == 0; k++) {
        const char *name = cfg->certs[order[k]].name;
        if (strcmp(cfg->certs[order[k - 1]].name, name) == 0)
            ret = minica_seterr(err, MINICA_EINVAL, "%s:%d: [cert %s] appears twice", path,
                                nth_section_line(text, name, 2), name);
    }
    free(order);
    return ret;
}

void minica_agent_config_init(struct minica_agent_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->renew_before_percent = 33;
    cfg->reload_signal = SIGHUP;
}

void minica_agent_cert_init(struct minica_agent_cert *cert)
{
    memset(cert, 0, sizeof(*cert));
    cert->usage = MINICA_USAGE_SERVER;
    cert->owner.uid = (uid_t)-1;
    cert->owner.gid = (gid_t)-1;
    cert->key_mode = 0600;
    cert->fullchain = cert->key = cert->cert = cert->ca = cert->token_file = "";
    cert->hooks.verify = cert->hooks.check_command = cert->hooks.reload_command = "";
    cert->hooks.pem_bundle = "";
}

void minica_agent_config_free(struct minica_agent_config *cfg)
{
    minica_strpool_free(cfg->strings);
    cfg->strings = NULL;
    free(cfg->certs);
    cfg->certs = NULL;
    cfg->n_certs = 0;
    cfg->cap_certs = 0;
}

/* One file written by a [cert]: for finding files two sections share. */
struct owned_path {
    const char *path;
    size_t cert;
};

static int owned_path_cmp(const void *a, const void *b)
{
    const struct owned_path *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c != 0)
        return c;
    return (x->cert > y->cert) - (x->cert < y->cert);
}

/* Even ca = is not shared: each file has one owner, so its .prev and a
 * rollback are unambiguous. Sorted, not pairwise: a config may manage
 * thousands of certificates. */
static int check_shared_paths(const struct minica_agent_config *cfg, const char *path,
                              const char *text, struct minica_err *err)
{
    struct owned_path *all = calloc(cfg->n_certs * 5 + 1, sizeof(*all));
    if (all == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_certs; i++) {
        const struct minica_agent_cert *c = &cfg->certs[i];
        const char *paths[5] = {c->key, c->fullchain, c->cert, c->ca, c->hooks.pem_bundle};
        for (int a = 0; a < 5; a++)
            if (paths[a][0] != '\0')
                all[n++] = (struct owned_path){paths[a], i};
    }
    qsort(all, n, sizeof(*all), owned_path_cmp);
    int ret = MINICA_OK;
    for (size_t k = 1; k < n && ret == 0; k++) {
        if (strcmp(all[k - 1].path, all[k].path) != 0)
            continue;
        const struct minica_agent_cert *c = &cfg->certs[all[k].cert];
        const struct minica_agent_cert *o = &cfg->certs[all[k - 1].cert];
        ret = minica_seterr(err, MINICA_EINVAL,
                            "%s:%d: [cert %s] writes %s, which is also used by [cert %s]", path,
                            section_line(text, c->name), c->name, all[k].path, o->name);
    }
    free(all);
    return ret;
}

int minica_agent_config_load(struct minica_agent_config *cfg, const char *path, const char *text,
                             struct minica_err *err)
{
    snprintf(cfg->path, sizeof(cfg->path), "%s", path);
    char *buf = NULL;
    int ret;
    if (text == NULL) {
        /* Its commands run as the agent's user (root): a config others can
         * change, or swap for their own between a check and the read, is a
         * way to run their commands as root (trustfile.h). */
        ret = minica_read_trusted_file(path, 1024 * 1024, "agent config", 0, &buf, NULL, err);
        if (ret != 0)
            return ret;
        text = buf;
    }
    struct parse_state st;
    memset(&st, 0, sizeof(st));
    st.cfg = cfg;
    /* A section name no real one can have, so the first section is "new". */
    snprintf(st.section, sizeof(st.section), "%s", "\n");
    ret = minica_ini_parse(path, text, handler, &st, err);
    if (ret != 0)
        goto out;
    if (cfg->reload_command[0] != '\0' && cfg->reload_pidfile[0] != '\0') {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "%s: reload_command and reload_pidfile exclude each other", path);
        goto out;
    }
    for (size_t i = 0; i < cfg->n_certs; i++) {
        const struct minica_agent_cert *c = &cfg->certs[i];
        const char *missing = NULL;
        /* A pem_bundle holds key and chain: it may stand alone (haproxy). */
        if (c->key[0] == '\0' && c->hooks.pem_bundle[0] == '\0')
            missing = "key";
        else if (c->fullchain[0] == '\0' && c->cert[0] == '\0' && c->hooks.pem_bundle[0] == '\0')
            missing = "fullchain (or cert)";
        if (missing != NULL) {
            ret = minica_seterr(err, MINICA_EINVAL, "%s:%d: [cert %s] needs %s", path,
                                section_line(text, c->name), c->name, missing);
            goto out;
        }
    }
    if ((ret = check_names(cfg, path, text, err)) == 0)
        ret = check_shared_paths(cfg, path, text, err);
out:
    if (buf != NULL)
        free(buf);
    return ret;
}

int minica_agent_config_resolve(struct minica_agent_config *cfg, const char *explicit_dir,
                                struct minica_err *err)
{
    if (explicit_dir != NULL || cfg->state_dir[0] == '\0')
        snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s",
                 minica_default_state_dir(explicit_dir));
    int ret = MINICA_OK;
    if (cfg->lock_file[0] == '\0')
        ret = minica_path_join(cfg->lock_file, sizeof(cfg->lock_file), cfg->state_dir, "agent.lock",
                               err);
    if (ret == 0 && cfg->status_file[0] == '\0')
        ret = minica_path_join(cfg->status_file, sizeof(cfg->status_file), cfg->state_dir,
                               "agent.status", err);
    return ret;
}
