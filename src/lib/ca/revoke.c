/* Revocation in the inventory: find the certificates a NAME or serial means,
 * mark them revoked with a reason, audit it. The CRL that makes revocation
 * visible to nginx and openssl is built by crl.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ca/ca_internal.h"
#include "minica/revoke.h"

static const struct {
    const char *name;
    enum minica_revoke_reason code;
} reasons[] = {
    {"unspecified", MINICA_REASON_UNSPECIFIED},
    {"keyCompromise", MINICA_REASON_KEY_COMPROMISE},
    {"affiliationChanged", MINICA_REASON_AFFILIATION_CHANGED},
    {"superseded", MINICA_REASON_SUPERSEDED},
    {"cessationOfOperation", MINICA_REASON_CESSATION_OF_OPERATION},
};
#define N_REASONS (sizeof(reasons) / sizeof(reasons[0]))

int minica_revoke_reason_parse(const char *text, enum minica_revoke_reason *out,
                               struct minica_err *err)
{
    char folded[64];
    size_t n = 0;
    /* Operators type key-compromise, key_compromise or keycompromise alike. */
    for (const char *p = text; *p && n + 1 < sizeof(folded); p++)
        if (*p != '-' && *p != '_')
            folded[n++] = *p;
    folded[n] = '\0';
    for (size_t i = 0; i < N_REASONS; i++) {
        if (strcasecmp(folded, reasons[i].name) == 0) {
            *out = reasons[i].code;
            return MINICA_OK;
        }
    }
    return minica_seterr(err, MINICA_EINVAL,
                         "unknown reason '%s' (use unspecified, keyCompromise, affiliationChanged, "
                         "superseded or cessationOfOperation)",
                         text);
}

const char *minica_revoke_reason_name(int reason)
{
    for (size_t i = 0; i < N_REASONS; i++)
        if ((int)reasons[i].code == reason)
            return reasons[i].name;
    return "unknown";
}

struct match {
    char serial[MINICA_SERIAL_HEX_MAX];
    enum minica_cert_status status;
};

struct matches {
    struct match *items;
    size_t n, cap;
    int64_t now;
};

static int collect(const struct minica_cert_row *row, void *ctx)
{
    struct matches *m = ctx;
    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 8;
        struct match *items = realloc(m->items, ncap * sizeof(*items));
        if (items == NULL)
            return MINICA_ENOMEM;
        m->items = items;
        m->cap = ncap;
    }
    snprintf(m->items[m->n].serial, sizeof(m->items[m->n].serial), "%s", row->serial);
    m->items[m->n].status = minica_cert_row_status(row, m->now);
    m->n++;
    return 0;
}

static int find(struct minica_store *store, const char *name, const char *serial, struct matches *m,
                struct minica_err *err)
{
    struct minica_cert_filter filter;
    memset(&filter, 0, sizeof(filter));
    filter.name = name;
    filter.serial = serial;
    filter.now = m->now;
    int ret = minica_store_list_certs(store, &filter, collect, m, err);
    if (ret == MINICA_ENOMEM)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    return ret;
}

static void append_serial(char *list, size_t size, const char *serial)
{
    size_t used = strlen(list);
    if (used + strlen(serial) + 2 < size)
        snprintf(list + used, size - used, "%s%s", used ? "," : "", serial);
}

int minica_ca_revoke(struct minica_ca *ca, const char *name_or_serial,
                     enum minica_revoke_reason reason, struct minica_revoke_result *result,
                     struct minica_err *err)
{
    struct minica_revoke_result local = {0};
    struct minica_revoke_result *res = result ? result : &local;
    memset(res, 0, sizeof(*res));
    struct matches m = {.now = minica_now()};
    int by_name = 1;
    int ret;

    if (name_or_serial == NULL || name_or_serial[0] == '\0')
        return minica_seterr(err, MINICA_EINVAL, "no NAME or serial given");
    /* Names are stored canonical (lowercase, inet_ntop form): look up that. */
    struct minica_name canon;
    struct minica_err perr;
    const char *name =
        minica_name_parse(name_or_serial, &canon, &perr) == 0 ? canon.text : name_or_serial;
    if ((ret = find(ca->store, name, NULL, &m, err)) != 0)
        goto out;
    if (m.n == 0) {
        char serial[MINICA_SERIAL_HEX_MAX];
        struct minica_err ignored;
        by_name = 0;
        if (minica_serial_normalize(name_or_serial, serial, sizeof(serial), &ignored) == 0 &&
            (ret = find(ca->store, NULL, serial, &m, err)) != 0)
            goto out;
    }
    if (m.n == 0) {
        ret = minica_seterr(err, MINICA_ENOENT,
                            "no certificate named '%s' or with that serial in the inventory "
                            "(see: minica list --status all)",
                            name_or_serial);
        goto out;
    }

    if ((ret = minica_store_begin(ca->store, err)) != 0)
        goto out;
    for (size_t i = 0; i < m.n; i++) {
        if (m.items[i].status == MINICA_STATUS_REVOKED) {
            res->already_revoked++;
            append_serial(res->previous, sizeof(res->previous), m.items[i].serial);
            continue;
        }
        /* By NAME means "what is in use"; an explicit serial is revoked even if expired. */
        if (by_name && m.items[i].status == MINICA_STATUS_EXPIRED) {
            res->expired++;
            continue;
        }
        if ((ret = minica_store_revoke(ca->store, m.items[i].serial, m.now, (int)reason, err)) != 0)
            break;
        res->revoked++;
        append_serial(res->serials, sizeof(res->serials), m.items[i].serial);
    }
    if (ret == 0 && res->revoked > 0) {
        char summary[MINICA_REVOKE_LIST_MAX + 512];
        if (by_name)
            snprintf(summary, sizeof(summary), "revoked %s serial=%s reason=%s", name, res->serials,
                     minica_revoke_reason_name((int)reason));
        else
            snprintf(summary, sizeof(summary), "revoked serial=%s reason=%s", res->serials,
                     minica_revoke_reason_name((int)reason));
        ret = minica_ca_audit(ca, summary, err);
    }
    if (ret == 0)
        ret = minica_store_commit(ca->store, err);
    else
        minica_store_rollback(ca->store);
    if (ret == 0)
        ret = (int)res->revoked;
    else
        memset(res, 0, sizeof(*res));
out:
    free(m.items);
    return ret;
}
