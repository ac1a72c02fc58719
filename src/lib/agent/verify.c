/* Proving what the agent wrote is what servers serve: per-[cert] hooks,
 * the `verify` probes after a reload, `--verify-only`, `agent status` and the
 * per-certificate state file behind them. The replace/check/reload cycle
 * that calls into this is run.c; the TLS handshake is tlsprobe.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/x509_crt.h>

#include "agent/agent_internal.h"
#include "base/strpool.h"
#include "base/util.h"
#include "ca/x509.h"
#include "minica/agent.h"
#include "minica/duration.h"
#include "minica/remote.h"
#include "minica/tlsprobe.h"

#define CERT_FILE_MAX (256 * 1024)

enum {
    H_VERIFY = 1 << 0,
    H_CHECK = 1 << 1,
    H_RELOAD = 1 << 2,
    H_BUNDLE = 1 << 3,
    H_VERIFY_TIMEOUT = 1 << 4,
    H_COMMAND_TIMEOUT = 1 << 5,
};

static int set_text(const char **dst, size_t size, struct minica_strpool *strings, const char *key,
                    const char *value, char *msg, size_t msglen)
{
    if (strlen(value) >= size) {
        snprintf(msg, msglen, "%s: value too long", key);
        return 0;
    }
    const char *copy = minica_strpool_dup(strings, value);
    if (copy == NULL) {
        snprintf(msg, msglen, "out of memory");
        return 0;
    }
    *dst = copy;
    return 1;
}

static int timeout_value(const char *key, const char *value, int64_t *out, char *msg, size_t msglen)
{
    struct minica_err err;
    if (minica_duration_parse(value, out, &err) != 0) {
        snprintf(msg, msglen, "%s: %s", key, err.msg);
        return 0;
    }
    if (*out < 1 || *out > 3600) {
        snprintf(msg, msglen, "%s: '%s' is outside 1s to 1h", key, value);
        return 0;
    }
    return 1;
}

int minica_agent_hooks_agent_key(struct minica_agent_hooks_config *h, const char *key,
                                 const char *value, char *msg, size_t msglen)
{
    unsigned bit;
    int ok;
    if (strcmp(key, "verify_timeout") == 0) {
        bit = H_VERIFY_TIMEOUT;
        ok = timeout_value(key, value, &h->verify_timeout, msg, msglen);
    } else if (strcmp(key, "command_timeout") == 0) {
        bit = H_COMMAND_TIMEOUT;
        ok = timeout_value(key, value, &h->command_timeout, msg, msglen);
    } else {
        return -1;
    }
    if (ok && (h->seen & bit)) {
        snprintf(msg, msglen, "%s is set twice", key);
        return 0;
    }
    h->seen |= bit;
    return ok;
}

int minica_agent_hooks_cert_key(struct minica_agent_cert_hooks *h, struct minica_strpool *strings,
                                const char *key, const char *value, char *msg, size_t msglen)
{
    unsigned bit;
    int ok;
    if (strcmp(key, "verify") == 0) {
        bit = H_VERIFY;
        struct minica_endpoint *eps = NULL;
        size_t n = 0;
        struct minica_err err;
        if (minica_endpoint_list_parse(value, &eps, &n, &err) != 0) {
            snprintf(msg, msglen, "verify: %s", err.msg);
            return 0;
        }
        free(eps);
        ok = set_text(&h->verify, MINICA_AGENT_VERIFY_MAX, strings, key, value, msg, msglen);
    } else if (strcmp(key, "check_command") == 0) {
        bit = H_CHECK;
        h->has_check = 1;
        ok = set_text(&h->check_command, MINICA_AGENT_HOOK_COMMAND_MAX, strings, key, value, msg,
                      msglen);
    } else if (strcmp(key, "reload_command") == 0) {
        bit = H_RELOAD;
        h->has_reload = 1;
        ok = set_text(&h->reload_command, MINICA_AGENT_HOOK_COMMAND_MAX, strings, key, value, msg,
                      msglen);
    } else if (strcmp(key, "pem_bundle") == 0) {
        bit = H_BUNDLE;
        size_t n = strlen(value);
        if (value[0] != '/' || value[n - 1] == '/') {
            snprintf(msg, msglen, "pem_bundle: '%s' is not an absolute file path", value);
            return 0;
        }
        ok = set_text(&h->pem_bundle, MINICA_PATH_MAX, strings, key, value, msg, msglen);
    } else {
        return -1;
    }
    if (ok && (h->seen & bit)) {
        snprintf(msg, msglen, "%s is set twice", key);
        return 0;
    }
    h->seen |= bit;
    return ok;
}

int64_t minica_agent_verify_timeout(const struct minica_agent_config *cfg)
{
    return cfg->hooks.verify_timeout > 0 ? cfg->hooks.verify_timeout
                                         : MINICA_AGENT_DEFAULT_VERIFY_TIMEOUT;
}

int64_t minica_agent_command_timeout(const struct minica_agent_config *cfg)
{
    return cfg->hooks.command_timeout > 0 ? cfg->hooks.command_timeout
                                          : MINICA_AGENT_DEFAULT_COMMAND_TIMEOUT;
}

const char *minica_agent_check_command(const struct minica_agent_config *cfg,
                                       const struct minica_agent_cert *cert)
{
    return cert->hooks.has_check ? cert->hooks.check_command : cfg->check_command;
}

const char *minica_agent_reload_command(const struct minica_agent_config *cfg,
                                        const struct minica_agent_cert *cert)
{
    return cert->hooks.has_reload ? cert->hooks.reload_command : cfg->reload_command;
}

const char *minica_agent_reload_pidfile(const struct minica_agent_config *cfg,
                                        const struct minica_agent_cert *cert)
{
    return cert->hooks.has_reload ? "" : cfg->reload_pidfile;
}

int64_t minica_agent_renewal_time(const struct minica_agent_config *cfg, int64_t not_before,
                                  int64_t not_after)
{
    int64_t lifetime = not_after - not_before;
    if (lifetime <= 0)
        return not_after;
    /* The same threshold as minica_agent_decide. */
    int64_t threshold = cfg->renew_before_percent > 0
                            ? lifetime / 100 * cfg->renew_before_percent +
                                  lifetime % 100 * cfg->renew_before_percent / 100
                            : cfg->renew_before_seconds;
    return not_after - threshold;
}

/* ---- per-certificate state ---- */

void minica_agent_state_init(struct minica_agent_state *st)
{
    memset(st, 0, sizeof(*st));
}

void minica_agent_state_free(struct minica_agent_state *st)
{
    for (size_t i = 0; i < st->n_certs; i++)
        free(st->certs[i].served);
    free(st->certs);
    memset(st, 0, sizeof(*st));
}

void minica_agent_state_path(const char *status_file, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s.json", status_file);
}

static struct minica_agent_cert_state *state_append(struct minica_agent_state *st, const char *name)
{
    struct minica_agent_cert_state *grown =
        minica_array_grow(st->certs, &st->cap_certs, st->n_certs, sizeof(*grown), 16);
    if (grown == NULL)
        return NULL;
    st->certs = grown;
    st->hint = st->n_certs;
    struct minica_agent_cert_state *c = &st->certs[st->n_certs++];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    return c;
}

struct minica_agent_cert_state *minica_agent_state_cert(struct minica_agent_state *st,
                                                        const char *name)
{
    /* From the entry found last: runs and the file both go in config
     * order, so a run over 1,000 certificates is not quadratic. */
    for (size_t k = 0; k < st->n_certs; k++) {
        size_t i = (st->hint + k) % st->n_certs;
        if (strcmp(st->certs[i].name, name) == 0) {
            st->hint = i;
            return &st->certs[i];
        }
    }
    return state_append(st, name);
}

void minica_agent_state_error(struct minica_agent_state *st, const char *name, const char *msg,
                              int64_t now)
{
    struct minica_agent_cert_state *c = st ? minica_agent_state_cert(st, name) : NULL;
    if (c == NULL)
        return;
    snprintf(c->last_error, sizeof(c->last_error), "%s", msg);
    c->last_error_time = now;
}

void minica_agent_state_renewed(struct minica_agent_state *st, const char *name, int64_t now)
{
    struct minica_agent_cert_state *c = st ? minica_agent_state_cert(st, name) : NULL;
    if (c == NULL)
        return;
    c->last_renewal = now;
    c->last_error[0] = '\0';
    c->last_error_time = 0;
    c->stuck[0] = '\0';
    c->stuck_since = 0;
}

int minica_agent_state_unstuck(struct minica_agent_state *st, const char *name)
{
    /* Not created for a name that was never stuck. */
    for (size_t i = 0; st != NULL && i < st->n_certs; i++)
        if (strcmp(st->certs[i].name, name) == 0 && st->certs[i].stuck[0] != '\0') {
            st->certs[i].stuck[0] = '\0';
            st->certs[i].stuck_since = 0;
            return 1;
        }
    return 0;
}

void minica_agent_state_stuck(struct minica_agent_state *st, const char *name, const char *why,
                              int64_t now)
{
    struct minica_agent_cert_state *c = st ? minica_agent_state_cert(st, name) : NULL;
    if (c == NULL)
        return;
    if (c->stuck[0] == '\0')
        c->stuck_since = now;
    snprintf(c->stuck, sizeof(c->stuck), "%s", why);
}

int minica_agent_state_any_stuck(const struct minica_agent_state *st)
{
    for (size_t i = 0; st != NULL && i < st->n_certs; i++)
        if (st->certs[i].stuck[0] != '\0')
            return 1;
    return 0;
}

void minica_agent_state_served(struct minica_agent_state *st, const char *name,
                               const char *endpoint, const char *serial, int64_t not_after,
                               const char *error, int64_t now)
{
    struct minica_agent_cert_state *c = st ? minica_agent_state_cert(st, name) : NULL;
    if (c == NULL)
        return;
    struct minica_agent_served *s = NULL;
    for (size_t i = 0; i < c->n_served; i++)
        if (strcmp(c->served[i].endpoint, endpoint) == 0)
            s = &c->served[i];
    if (s == NULL) {
        struct minica_agent_served *more = realloc(c->served, (c->n_served + 1) * sizeof(*more));
        if (more == NULL)
            return;
        c->served = more;
        s = &more[c->n_served++];
        memset(s, 0, sizeof(*s));
        snprintf(s->endpoint, sizeof(s->endpoint), "%s", endpoint);
    }
    snprintf(s->serial, sizeof(s->serial), "%s", serial ? serial : "");
    s->not_after = not_after;
    s->checked = now;
    snprintf(s->error, sizeof(s->error), "%s", error ? error : "");
}

static int64_t json_int(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static void json_str(const cJSON *obj, const char *key, char *out, size_t outlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    snprintf(out, outlen, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

int minica_agent_state_load(struct minica_agent_state *st, const char *path, struct minica_err *err)
{
    minica_agent_state_init(st);
    if (!minica_file_exists(path))
        return MINICA_OK;
    char *buf = NULL;
    int ret = minica_read_file(path, 4 * 1024 * 1024, &buf, NULL, err);
    if (ret != 0)
        return ret;
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    if (root == NULL)
        return minica_seterr(err, MINICA_EINVAL, "%s is not valid JSON", path);
    st->verify_failures_total = json_int(root, "verify_failures_total");
    const cJSON *certs = cJSON_GetObjectItemCaseSensitive(root, "certs");
    const cJSON *c;
    cJSON_ArrayForEach(c, certs)
    {
        char name[MINICA_NAME_MAX + 1];
        json_str(c, "name", name, sizeof(name));
        /* The file has each name once (it is written from this array). */
        struct minica_agent_cert_state *cs = state_append(st, name);
        if (cs == NULL) {
            ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
            break;
        }
        json_str(c, "last_error", cs->last_error, sizeof(cs->last_error));
        cs->last_error_time = json_int(c, "last_error_time");
        cs->last_renewal = json_int(c, "last_renewal");
        json_str(c, "stuck", cs->stuck, sizeof(cs->stuck));
        cs->stuck_since = json_int(c, "stuck_since");
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(c, "served"))
        {
            char ep[sizeof(cs->served[0].endpoint)], serial[41], error[512];
            json_str(s, "endpoint", ep, sizeof(ep));
            json_str(s, "serial", serial, sizeof(serial));
            json_str(s, "error", error, sizeof(error));
            minica_agent_state_served(st, name, ep, serial, json_int(s, "not_after"), error,
                                      json_int(s, "checked"));
        }
    }
    cJSON_Delete(root);
    return ret;
}

int minica_agent_state_save(const struct minica_agent_state *st, const char *path,
                            struct minica_err *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *certs = cJSON_AddArrayToObject(root, "certs");
    cJSON_AddNumberToObject(root, "verify_failures_total", (double)st->verify_failures_total);
    for (size_t i = 0; i < st->n_certs; i++) {
        const struct minica_agent_cert_state *cs = &st->certs[i];
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", cs->name);
        cJSON_AddStringToObject(c, "last_error", cs->last_error);
        cJSON_AddNumberToObject(c, "last_error_time", (double)cs->last_error_time);
        cJSON_AddNumberToObject(c, "last_renewal", (double)cs->last_renewal);
        if (cs->stuck[0] != '\0') {
            cJSON_AddStringToObject(c, "stuck", cs->stuck);
            cJSON_AddNumberToObject(c, "stuck_since", (double)cs->stuck_since);
        }
        cJSON *served = cJSON_AddArrayToObject(c, "served");
        for (size_t j = 0; j < cs->n_served; j++) {
            const struct minica_agent_served *s = &cs->served[j];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "endpoint", s->endpoint);
            cJSON_AddStringToObject(o, "serial", s->serial);
            cJSON_AddNumberToObject(o, "not_after", (double)s->not_after);
            cJSON_AddNumberToObject(o, "checked", (double)s->checked);
            cJSON_AddStringToObject(o, "error", s->error);
            cJSON_AddItemToArray(served, o);
        }
        cJSON_AddItemToArray(certs, c);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    /* Unchanged in a run that did nothing: no write, no fsync. */
    int ret = minica_file_has_content(path, text, strlen(text))
                  ? MINICA_OK
                  : minica_write_file_atomic(path, text, strlen(text), 0644, 0, err);
    free(text);
    return ret;
}

/* ---- probing ---- */

int minica_agent_verify_served(const struct minica_agent_config *cfg,
                               const struct minica_agent_cert *cert, const char *root_pem,
                               const char *serial, struct minica_agent_state *st,
                               struct minica_err *err)
{
    if (cert->hooks.verify[0] == '\0')
        return MINICA_OK;
    struct minica_endpoint *eps = NULL;
    size_t n = 0;
    int ret = minica_endpoint_list_parse(cert->hooks.verify, &eps, &n, err);
    if (ret != 0)
        return ret;
    int failed = 0;
    int timeout_ms = (int)(minica_agent_verify_timeout(cfg) * 1000);
    for (size_t i = 0; i < n; i++) {
        struct minica_probe_result res;
        struct minica_err perr;
        perr.msg[0] = '\0';
        int pret = minica_tls_wait_for_serial(&eps[i], cert->name, root_pem, serial, timeout_ms,
                                              &res, &perr);
        minica_agent_state_served(st, cert->name, eps[i].text, res.serial, res.not_after,
                                  pret == 0 ? "" : perr.msg, minica_now());
        if (pret == 0)
            continue;
        if (st != NULL)
            st->verify_failures_total++;
        if (!failed)
            minica_seterr(err, MINICA_EIO, "%s", perr.msg);
        failed = 1;
    }
    free(eps);
    return failed ? MINICA_EIO : MINICA_OK;
}

/* The issuer the agent run would use; here only for its root (what the
 * probes trust). Opening reads files, it does not contact a remote CA. */
/* The per-certificate state of earlier runs; none yet (or unreadable) is
 * an empty one: it only feeds reports and metrics. */
static void load_state(const struct minica_agent_config *cfg, struct minica_agent_state *st,
                       char *path, size_t pathlen)
{
    struct minica_err ignored;
    minica_agent_state_path(cfg->status_file, path, pathlen);
    if (minica_agent_state_load(st, path, &ignored) != 0)
        minica_agent_state_init(st);
}

static int open_issuer(const struct minica_agent_config *cfg, struct minica_issuer *issuer,
                       struct minica_err *err)
{
    memset(issuer, 0, sizeof(*issuer));
    if (cfg->ca_url[0] != '\0')
        return minica_issuer_open_remote_agent(issuer, cfg, err);
    return minica_issuer_open_local(issuer, cfg->state_dir, "agent", err);
}

/* The leaf the cert's files hold: cert, else fullchain, else the bundle. */
static int read_disk_leaf(const struct minica_agent_cert *cert, char serial[41],
                          int64_t *not_before, int64_t *not_after, struct minica_err *err)
{
    const char *path = cert->cert[0]        ? cert->cert
                       : cert->fullchain[0] ? cert->fullchain
                                            : cert->hooks.pem_bundle;
    char *pem = NULL;
    int ret = minica_read_file(path, CERT_FILE_MAX, &pem, NULL, err);
    if (ret != 0)
        return ret;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    /* Only certificates are parsed out of a bundle; its key is not looked at. */
    if (minica_crt_parse_pem(&crt, pem, NULL) != 0 || crt.raw.p == NULL) {
        ret = minica_seterr(err, MINICA_EINVAL, "%s holds no readable certificate", path);
    } else {
        minica_serial_to_hex(crt.serial.p, crt.serial.len, serial, 41);
        *not_before = minica_x509_time_to_unix(&crt.valid_from);
        *not_after = minica_x509_time_to_unix(&crt.valid_to);
    }
    mbedtls_x509_crt_free(&crt);
    minica_free_secret(pem, strlen(pem));
    return ret;
}

/* "Close to expiry" for --verify-only: the agent should have renewed at
 * renewal time; half the renew_before window later, something is wrong. */
static int64_t overdue_time(const struct minica_agent_config *cfg, int64_t not_before,
                            int64_t not_after)
{
    int64_t due = minica_agent_renewal_time(cfg, not_before, not_after);
    return due + (not_after - due) / 2;
}

int minica_agent_verify_only(const struct minica_agent_config *cfg, struct minica_agent_run *run,
                             struct minica_err *err)
{
    struct minica_issuer issuer;
    int ret = open_issuer(cfg, &issuer, err);
    if (ret != 0)
        return ret;
    const char *root = issuer.ops->root_pem(issuer.ctx);
    char state_path[MINICA_PATH_MAX + 8];
    struct minica_agent_state st;
    struct minica_err serr;
    load_state(cfg, &st, state_path, sizeof(state_path));
    int64_t now = minica_now();
    int timeout_ms = (int)(minica_agent_verify_timeout(cfg) * 1000);
    struct minica_err first;
    first.msg[0] = '\0';

#define PROBLEM(...)                                                                               \
    do {                                                                                           \
        char line_[2048];                                                                          \
        snprintf(line_, sizeof(line_), __VA_ARGS__);                                               \
        minica_agent_say(run, 1, "%s", line_);                                                     \
        if (first.msg[0] == '\0')                                                                  \
            snprintf(first.msg, sizeof(first.msg), "%s", line_);                                   \
        run->failed++;                                                                             \
    } while (0)

    for (size_t i = 0; i < cfg->n_certs; i++) {
        const struct minica_agent_cert *c = &cfg->certs[i];
        char serial[41];
        int64_t nb = 0, na = 0;
        struct minica_err derr;
        if (read_disk_leaf(c, serial, &nb, &na, &derr) != 0) {
            PROBLEM("%s: %s", c->name, derr.msg);
            continue;
        }
        char when[32], kwhy[1024];
        minica_time_rfc3339(na, when);
        int pair = minica_agent_key_check(c, kwhy, sizeof(kwhy));
        if (pair == 0)
            PROBLEM("%s: %s (a crash between two renames?): a reload would fail on it; the "
                    "agent's next run renews the pair",
                    c->name, kwhy);
        else if (pair < 0)
            PROBLEM("%s: %s", c->name, kwhy);
        if (now >= overdue_time(cfg, nb, na))
            PROBLEM("%s: the certificate on disk (serial %s) expires at %s and should have "
                    "been renewed",
                    c->name, serial, when);
        if (c->hooks.verify[0] == '\0')
            continue;
        struct minica_endpoint *eps = NULL;
        size_t n = 0;
        if (minica_endpoint_list_parse(c->hooks.verify, &eps, &n, &derr) != 0) {
            PROBLEM("%s: %s", c->name, derr.msg);
            continue;
        }
        for (size_t j = 0; j < n; j++) {
            struct minica_probe_result res;
            struct minica_err perr;
            /* Retried for verify_timeout: a check that coincides with a
             * reload must not see the old workers' last connections. */
            int pret =
                minica_tls_wait_for_serial(&eps[j], c->name, root, serial, timeout_ms, &res, &perr);
            char why[1200] = "";
            if (pret != 0 && !(res.verified && strcmp(res.serial, serial) != 0))
                snprintf(why, sizeof(why), "%s", perr.msg);
            else if (strcmp(res.serial, serial) != 0)
                snprintf(why, sizeof(why),
                         "%s serves serial %s, but the files hold %s (not reloaded?)", eps[j].text,
                         res.serial, serial);
            else if (now >= overdue_time(cfg, nb, res.not_after))
                snprintf(why, sizeof(why), "%s serves serial %s, which expires at %s", eps[j].text,
                         res.serial, when);
            minica_agent_state_served(&st, c->name, eps[j].text, res.serial, res.not_after, why,
                                      now);
            if (why[0] != '\0') {
                st.verify_failures_total++;
                PROBLEM("%s: %s", c->name, why);
            }
        }
        free(eps);
    }
#undef PROBLEM
    if (minica_agent_state_save(&st, state_path, &serr) != 0)
        minica_agent_say(run, 1, "%s", serr.msg);
    minica_agent_state_free(&st);
    minica_issuer_close(&issuer);
    if (first.msg[0] != '\0')
        return minica_seterr(err, MINICA_EIO, "%s", first.msg);
    return MINICA_OK;
}

/* ---- status ---- */

void minica_agent_status_reports_free(struct minica_agent_cert_report *reports, size_t n)
{
    if (reports == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(reports[i].served);
    free(reports);
}

int minica_agent_status_collect(const struct minica_agent_config *cfg,
                                struct minica_agent_cert_report **reports, size_t *n,
                                struct minica_err *err)
{
    *reports = NULL;
    *n = 0;
    struct minica_issuer issuer;
    int ret = open_issuer(cfg, &issuer, err);
    if (ret != 0)
        return ret;
    const char *root = issuer.ops->root_pem(issuer.ctx);
    char state_path[MINICA_PATH_MAX + 8];
    struct minica_agent_state st;
    load_state(cfg, &st, state_path, sizeof(state_path));
    struct minica_agent_cert_report *out = calloc(cfg->n_certs ? cfg->n_certs : 1, sizeof(*out));
    if (out == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    int64_t now = minica_now();
    /* A status look should be quick even when an endpoint is down. */
    int64_t t = minica_agent_verify_timeout(cfg);
    int timeout_ms = (int)((t < 5 ? t : 5) * 1000);
    for (size_t i = 0; i < cfg->n_certs; i++) {
        const struct minica_agent_cert *c = &cfg->certs[i];
        struct minica_agent_cert_report *r = &out[i];
        snprintf(r->name, sizeof(r->name), "%s", c->name);
        struct minica_err derr;
        if (read_disk_leaf(c, r->serial, &r->not_before, &r->not_after, &derr) != 0) {
            r->serial[0] = '\0';
            snprintf(r->disk_error, sizeof(r->disk_error), "%s", derr.msg);
        } else {
            int64_t life = r->not_after - r->not_before;
            double left = life > 0 ? (double)(r->not_after - now) / (double)life : 0;
            r->lifetime_left = left < 0 ? 0 : left > 1 ? 1 : left;
            r->next_renewal = minica_agent_renewal_time(cfg, r->not_before, r->not_after);
        }
        r->key_matches = minica_agent_key_check(c, r->key_error, sizeof(r->key_error));
        for (size_t j = 0; j < st.n_certs; j++)
            if (strcmp(st.certs[j].name, c->name) == 0) {
                snprintf(r->last_error, sizeof(r->last_error), "%s", st.certs[j].last_error);
                snprintf(r->stuck, sizeof(r->stuck), "%s", st.certs[j].stuck);
                r->stuck_since = st.certs[j].stuck_since;
                r->last_error_time = st.certs[j].last_error_time;
                r->last_renewal = st.certs[j].last_renewal;
            }
        if (c->hooks.verify[0] == '\0')
            continue;
        struct minica_endpoint *eps = NULL;
        size_t neps = 0;
        if (minica_endpoint_list_parse(c->hooks.verify, &eps, &neps, &derr) != 0)
            continue;
        r->served = calloc(neps, sizeof(*r->served));
        if (r->served == NULL) {
            free(eps);
            ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
            goto out;
        }
        r->n_served = neps;
        for (size_t j = 0; j < neps; j++) {
            struct minica_agent_served *s = &r->served[j];
            struct minica_probe_result res;
            struct minica_err perr;
            snprintf(s->endpoint, sizeof(s->endpoint), "%s", eps[j].text);
            int pret = minica_tls_probe(&eps[j], c->name, root, timeout_ms, &res, &perr);
            snprintf(s->serial, sizeof(s->serial), "%s", res.serial);
            s->not_after = res.not_after;
            s->checked = now;
            /* The endpoint is shown next to the error already. */
            size_t el = strlen(eps[j].text);
            const char *msg = strncmp(perr.msg, eps[j].text, el) == 0 && perr.msg[el] == ':'
                                  ? perr.msg + el + 2
                                  : perr.msg;
            if (pret != 0)
                snprintf(s->error, sizeof(s->error), "%s", msg);
            else if (strcmp(res.serial, r->serial) != 0)
                snprintf(s->error, sizeof(s->error), "serves serial %s, the files hold %s",
                         res.serial, r->serial[0] ? r->serial : "none");
        }
        free(eps);
    }
    *reports = out;
    *n = cfg->n_certs;
    out = NULL;
out:
    minica_agent_status_reports_free(out, cfg->n_certs);
    minica_agent_state_free(&st);
    minica_issuer_close(&issuer);
    return ret;
}

/* ---- metrics ---- */

/* Prometheus label values escape backslash, quote and newline. */
static void label(char *out, size_t outlen, const char *in)
{
    size_t o = 0;
    for (; *in && o + 3 < outlen; in++) {
        if (*in == '\\' || *in == '"') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

int minica_agent_verify_metrics(const char *status_file, char **out, struct minica_err *err)
{
    *out = NULL;
    char path[MINICA_PATH_MAX + 8];
    minica_agent_state_path(status_file, path, sizeof(path));
    struct minica_agent_state st;
    int ret = minica_agent_state_load(&st, path, err);
    if (ret != 0)
        return ret;
    size_t cap = 1024, used = 0;
    for (size_t i = 0; i < st.n_certs; i++)
        cap += (st.certs[i].n_served + 1) * 1024;
    char *buf = malloc(cap);
    if (buf == NULL) {
        minica_agent_state_free(&st);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    used += (size_t)snprintf(buf + used, cap - used,
                             "# HELP minica_agent_verify_failures_total Endpoints found not "
                             "serving the certificate on disk.\n"
                             "# TYPE minica_agent_verify_failures_total counter\n"
                             "minica_agent_verify_failures_total %lld\n",
                             (long long)st.verify_failures_total);
    int header = 0;
    for (size_t i = 0; i < st.n_certs; i++)
        for (size_t j = 0; j < st.certs[i].n_served; j++) {
            const struct minica_agent_served *s = &st.certs[i].served[j];
            if (s->serial[0] == '\0')
                continue;
            if (!header) {
                used += (size_t)snprintf(buf + used, cap - used,
                                         "# HELP minica_served_cert_not_after_seconds Expiry of "
                                         "the certificate an endpoint served at the last check.\n"
                                         "# TYPE minica_served_cert_not_after_seconds gauge\n");
                header = 1;
            }
            char n[600], e[600];
            label(n, sizeof(n), st.certs[i].name);
            label(e, sizeof(e), s->endpoint);
            used += (size_t)snprintf(buf + used, cap - used,
                                     "minica_served_cert_not_after_seconds{name=\"%s\","
                                     "endpoint=\"%s\",serial=\"%s\"} %lld\n",
                                     n, e, s->serial, (long long)s->not_after);
        }
    if (st.n_certs > 0)
        used += (size_t)snprintf(buf + used, cap - used,
                                 "# HELP minica_agent_stuck 1 when a failed renewal could not be "
                                 "rolled back (the previous key and certificate do not match): "
                                 "the new files stay until a run gets its group through.\n"
                                 "# TYPE minica_agent_stuck gauge\n");
    for (size_t i = 0; i < st.n_certs; i++) {
        char n[600];
        label(n, sizeof(n), st.certs[i].name);
        used += (size_t)snprintf(buf + used, cap - used, "minica_agent_stuck{name=\"%s\"} %d\n", n,
                                 st.certs[i].stuck[0] != '\0');
    }
    minica_agent_state_free(&st);
    *out = buf;
    return MINICA_OK;
}
