/* Prometheus text format (version 0.0.4) for minica: expiry gauges and the
 * agent's counters. Not an HTTP exporter: node_exporter's textfile collector
 * reads the file `minica metrics --out` writes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minica/ca.h"
#include "minica/lifecycle.h"
#include "minica/metrics.h"
#include "minica/store.h"

struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_printf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
    if (sb->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(sb->p ? sb->p + sb->len : NULL, sb->p ? sb->cap - sb->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            sb->oom = 1;
            return;
        }
        if (sb->p != NULL && sb->len + (size_t)n < sb->cap) {
            sb->len += (size_t)n;
            return;
        }
        size_t cap = (sb->cap ? sb->cap * 2 : 4096) + (size_t)n;
        char *q = realloc(sb->p, cap);
        if (q == NULL) {
            sb->oom = 1;
            return;
        }
        sb->p = q;
        sb->cap = cap;
    }
}

/* Label values escape backslash, double quote and newline. */
static void sb_label(struct sbuf *sb, const char *value)
{
    for (const char *c = value; *c; c++) {
        if (*c == '\\')
            sb_printf(sb, "\\\\");
        else if (*c == '"')
            sb_printf(sb, "\\\"");
        else if (*c == '\n')
            sb_printf(sb, "\\n");
        else
            sb_printf(sb, "%c", *c);
    }
}

/* One series per name: a renewal extends its value instead of starting
 * a series of its own (Prometheus keeps every label set it ever saw). A
 * hash table keeps this linear in the inventory; the output is sorted by
 * name, so that it is the same from run to run. */
struct name_entry {
    char *name;
    int64_t not_after;
    int managed; /* from a managed file: what is deployed wins */
};

struct names {
    struct name_entry *e; /* open addressing; name NULL: free slot */
    size_t n, cap;
    int oom;
};

static uint64_t hash_of(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct name_entry *slot_of(struct name_entry *e, size_t cap, const char *key)
{
    size_t i = (size_t)hash_of(key) & (cap - 1);
    while (e[i].name != NULL && strcmp(e[i].name, key) != 0)
        i = (i + 1) & (cap - 1);
    return &e[i];
}

static int names_grow(struct names *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    struct name_entry *e = calloc(cap, sizeof(*e));
    if (e == NULL)
        return -1;
    for (size_t i = 0; i < t->cap; i++)
        if (t->e[i].name != NULL)
            *slot_of(e, cap, t->e[i].name) = t->e[i];
    free(t->e);
    t->e = e;
    t->cap = cap;
    return 0;
}

/* The entry for key, made when new (NULL when out of memory). */
static struct name_entry *names_get(struct names *t, const char *key, int *fresh)
{
    *fresh = 0;
    if ((t->n + 1) * 2 > t->cap && names_grow(t) != 0) {
        t->oom = 1;
        return NULL;
    }
    struct name_entry *e = slot_of(t->e, t->cap, key);
    if (e->name == NULL) {
        if ((e->name = strdup(key)) == NULL) {
            t->oom = 1;
            return NULL;
        }
        t->n++;
        *fresh = 1;
    }
    return e;
}

static void names_free(struct names *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->e[i].name);
    free(t->e);
    memset(t, 0, sizeof(*t));
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const struct name_entry *const *)a)->name,
                  (*(const struct name_entry *const *)b)->name);
}

/* A name's expiry: its deployed certificate's when it is managed, else
 * the latest among its valid certificates. */
static void name_saw(struct names *t, const char *name, int64_t not_after, int managed)
{
    int fresh;
    struct name_entry *e = names_get(t, name, &fresh);
    if (e == NULL)
        return;
    if (fresh || (managed && !e->managed) || (managed == e->managed && not_after > e->not_after))
        e->not_after = not_after;
    e->managed |= managed;
}

static void names_render(struct sbuf *sb, struct names *t)
{
    struct name_entry **order = malloc((t->n ? t->n : 1) * sizeof(*order));
    size_t k = 0;
    if (order == NULL) {
        sb->oom = 1;
        return;
    }
    for (size_t i = 0; i < t->cap; i++)
        if (t->e[i].name != NULL)
            order[k++] = &t->e[i];
    qsort(order, k, sizeof(*order), by_name);
    for (size_t i = 0; i < k; i++) {
        sb_printf(sb, "minica_cert_not_after_seconds{name=\"");
        sb_label(sb, order[i]->name);
        sb_printf(sb, "\"} %lld\n", (long long)order[i]->not_after);
    }
    free(order);
}

/* --serials: each valid certificate's own series, once per serial. */
static void serial_line(struct sbuf *sb, struct names *seen, const char *name, const char *serial,
                        int64_t t)
{
    int fresh;
    if (names_get(seen, serial, &fresh) == NULL || !fresh)
        return;
    sb_printf(sb, "minica_cert_serial_not_after_seconds{name=\"");
    sb_label(sb, name);
    sb_printf(sb, "\",serial=\"");
    sb_label(sb, serial);
    sb_printf(sb, "\"} %lld\n", (long long)t);
}

struct row_ctx {
    struct names *names;
    struct names *serials; /* NULL without --serials */
    struct sbuf *detail;
};

static int inventory_row(const struct minica_cert_row *row, void *p)
{
    struct row_ctx *ctx = p;
    name_saw(ctx->names, row->name, row->not_after, 0);
    if (ctx->serials != NULL)
        serial_line(ctx->detail, ctx->serials, row->name, row->serial, row->not_after);
    return 0;
}

/* The CA's own certificates, for alerts before renewals shorten: expiry
 * and leaf count of each current one, max_ttl to compare the active
 * intermediate's remaining life with, and minica_ca_assess's verdict. A
 * state directory with an inventory but no CA certificates has none. */
static void ca_cert_line(struct sbuf *sb, const char *metric, const struct minica_ca_cert *c,
                         long long value)
{
    sb_printf(sb, "%s{role=\"%s\",serial=\"", metric, minica_ca_role_name(c->role));
    sb_label(sb, c->serial);
    sb_printf(sb, "\",active=\"%d\"} %lld\n", c->active ? 1 : 0, value);
}

static int ca_metrics(struct sbuf *sb, const char *state_dir, int64_t now, struct minica_err *err)
{
    struct minica_ca *ca = NULL;
    int ret = minica_ca_open_flags(state_dir, MINICA_CA_OPEN_NO_KEY, &ca, err);
    if (ret == MINICA_ENOENT)
        return MINICA_OK;
    if (ret != 0)
        return ret;
    const struct minica_ca_cert *certs;
    size_t n;
    minica_ca_certs(ca, &certs, &n);
    sb_printf(sb, "# HELP minica_ca_cert_not_after_seconds When each current CA certificate "
                  "(root, cross, intermediate) expires (UNIX time).\n"
                  "# TYPE minica_ca_cert_not_after_seconds gauge\n");
    for (size_t i = 0; i < n; i++)
        if (!certs[i].retired)
            ca_cert_line(sb, "minica_ca_cert_not_after_seconds", &certs[i], certs[i].not_after);
    sb_printf(sb, "# HELP minica_ca_cert_unexpired_leaves Unexpired leaves each current "
                  "intermediate signed.\n"
                  "# TYPE minica_ca_cert_unexpired_leaves gauge\n");
    for (size_t i = 0; i < n; i++) {
        const struct minica_ca_cert *c = &certs[i];
        if (!c->retired && c->role == MINICA_CA_INTERMEDIATE)
            ca_cert_line(sb, "minica_ca_cert_unexpired_leaves", c,
                         c->last_leaf_not_after > now ? c->leaves_unexpired : 0);
    }
    struct minica_ca_findings f;
    minica_ca_assess(ca, now, &f);
    sb_printf(sb,
              "# HELP minica_ca_max_ttl_seconds The policy's max_ttl: renewals are shortened "
              "once the active intermediate has less left.\n"
              "# TYPE minica_ca_max_ttl_seconds gauge\n"
              "minica_ca_max_ttl_seconds %lld\n"
              "# HELP minica_ca_health What minica ca status concludes: 0 ok, 3 attention "
              "(rotation due, a step to finish), 4 critical (renewals shortened, a CA "
              "certificate expired).\n"
              "# TYPE minica_ca_health gauge\n"
              "minica_ca_health %d\n",
              (long long)minica_ca_policy(ca)->max_ttl, (int)f.health);
    minica_ca_close(ca);
    return MINICA_OK;
}

int minica_metrics_render(const char *state_dir, const struct minica_agent_config *cfg, int64_t now,
                          unsigned flags, char **out, size_t *len, struct minica_err *err)
{
    struct sbuf sb = {0}, detail = {0}, ca = {0}, keys = {0};
    struct names names = {0}, serials = {0};
    struct minica_store *store = NULL;
    struct row_ctx ctx = {&names, flags & MINICA_METRICS_SERIALS ? &serials : NULL, &detail};
    int ret = MINICA_OK;
    *out = NULL;

    if (state_dir != NULL) {
        ret = minica_state_open_store(state_dir, &store, err);
        if (ret != 0)
            goto out;
        struct minica_cert_filter filter;
        memset(&filter, 0, sizeof(filter));
        filter.status_mask = MINICA_STATUS_VALID;
        filter.now = now;
        filter.without_pem = 1;
        filter.any_order = 1; /* sorted by name at the end */
        ret = minica_store_list_certs(store, &filter, inventory_row, &ctx, err);
        if (ret != 0)
            goto out;
        if ((ret = ca_metrics(&ca, state_dir, now, err)) != 0)
            goto out;
    }
    if (cfg != NULL) {
        for (size_t i = 0; i < cfg->n_certs; i++) {
            char serial[MINICA_SERIAL_HEX_MAX], why[1024];
            int64_t not_after;
            struct minica_err ferr;
            /* Unreadable files have no expiry to report; the agent's
             * failures counter is what alerts on them. */
            if (minica_agent_read_leaf(&cfg->certs[i], serial, &not_after, &ferr) != 0)
                continue;
            name_saw(&names, cfg->certs[i].name, not_after, 1);
            if (ctx.serials != NULL)
                serial_line(&detail, &serials, cfg->certs[i].name, serial, not_after);
            /* A crash between two renames: nginx refuses the pair at its
             * next reload, though its expiry above looks fine. */
            int pair = minica_agent_key_check(&cfg->certs[i], why, sizeof(why));
            if (pair >= 0) {
                sb_printf(&keys, "minica_agent_key_mismatch{name=\"");
                sb_label(&keys, cfg->certs[i].name);
                sb_printf(&keys, "\"} %d\n", pair == 0);
            }
        }
    }
    sb_printf(&sb, "# HELP minica_cert_not_after_seconds When each issued or managed name's "
                   "certificate expires (UNIX time): the deployed one for a managed name, "
                   "else the latest valid one.\n"
                   "# TYPE minica_cert_not_after_seconds gauge\n");
    names_render(&sb, &names);
    if (ctx.serials != NULL) {
        sb_printf(&sb, "# HELP minica_cert_serial_not_after_seconds When each valid "
                       "certificate expires (UNIX time), per serial (--serials).\n"
                       "# TYPE minica_cert_serial_not_after_seconds gauge\n");
        sb_printf(&sb, "%s", detail.p ? detail.p : "");
    }
    sb_printf(&sb, "%s", ca.p ? ca.p : "");
    if (cfg != NULL) {
        struct minica_agent_status st;
        ret = minica_agent_status_load(cfg->status_file, &st, err);
        if (ret != 0)
            goto out;
        sb_printf(&sb,
                  "# HELP minica_agent_last_run_timestamp_seconds When the agent last ran "
                  "(UNIX time, 0: never).\n"
                  "# TYPE minica_agent_last_run_timestamp_seconds gauge\n"
                  "minica_agent_last_run_timestamp_seconds %lld\n"
                  "# HELP minica_agent_last_success_timestamp_seconds When an agent run last "
                  "ended with every certificate good (UNIX time, 0: never).\n"
                  "# TYPE minica_agent_last_success_timestamp_seconds gauge\n"
                  "minica_agent_last_success_timestamp_seconds %lld\n"
                  "# HELP minica_agent_renewals_total Certificates the agent renewed.\n"
                  "# TYPE minica_agent_renewals_total counter\n"
                  "minica_agent_renewals_total %lld\n"
                  "# HELP minica_agent_failures_total Certificate renewals (or runs) that "
                  "failed.\n"
                  "# TYPE minica_agent_failures_total counter\n"
                  "minica_agent_failures_total %lld\n",
                  (long long)st.last_run, (long long)st.last_success, (long long)st.renewals_total,
                  (long long)st.failures_total);
        if (keys.p != NULL)
            sb_printf(&sb,
                      "# HELP minica_agent_key_mismatch 1 when a managed key does not match "
                      "its certificate or fullchain file (a crash between two renames): the "
                      "next reload fails on it.\n"
                      "# TYPE minica_agent_key_mismatch gauge\n"
                      "%s",
                      keys.p);
        char *verify = NULL;
        ret = minica_agent_verify_metrics(cfg->status_file, &verify, err);
        if (ret != 0)
            goto out;
        sb_printf(&sb, "%s", verify);
        free(verify);
    }
    if (sb.oom || detail.oom || ca.oom || keys.oom || names.oom || serials.oom) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    *out = sb.p;
    *len = sb.len;
    sb.p = NULL;
out:
    minica_store_close(store);
    free(sb.p);
    free(detail.p);
    free(ca.p);
    free(keys.p);
    names_free(&names);
    names_free(&serials);
    return ret;
}
