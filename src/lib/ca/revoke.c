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

struct matches {
    struct minica_revoke_match *items;
    size_t n, cap;
    int64_t now;
    int by_name;
};

static int collect(const struct minica_cert_row *row, void *ctx)
{
    struct matches *m = ctx;
    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 8;
        struct minica_revoke_match *items = realloc(m->items, ncap * sizeof(*items));
        if (items == NULL)
            return MINICA_ENOMEM;
        m->items = items;
        m->cap = ncap;
    }
    struct minica_revoke_match *it = &m->items[m->n++];
    memset(it, 0, sizeof(*it));
    snprintf(it->serial, sizeof(it->serial), "%s", row->serial);
    snprintf(it->name, sizeof(it->name), "%s", row->name);
    snprintf(it->sans, sizeof(it->sans), "%s", row->sans);
    switch (minica_cert_row_status(row, m->now)) {
    case MINICA_STATUS_REVOKED:
        it->outcome = MINICA_REVOKE_ALREADY;
        break;
    case MINICA_STATUS_EXPIRED:
        /* By NAME means "what is in use"; an explicit serial is revoked even if expired. */
        it->outcome = m->by_name ? MINICA_REVOKE_EXPIRED : MINICA_REVOKE_DONE;
        break;
    default:
        it->outcome = MINICA_REVOKE_DONE;
    }
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
    m->by_name = name != NULL;
    int ret = minica_store_list_certs(store, &filter, collect, m, err);
    if (ret == MINICA_ENOMEM)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    return ret;
}

void minica_revoke_result_free(struct minica_revoke_result *result)
{
    if (result == NULL)
        return;
    free(result->matches);
    result->matches = NULL;
    result->n_matches = 0;
}

/* "revoked NAME serial=A,B reason=R", every serial: the audit log is the
 * record of what was revoked, so it is never cut short. */
static char *audit_summary(const struct matches *m, const char *name, int reason)
{
    const char *why = minica_revoke_reason_name(reason);
    size_t size = strlen(name) + strlen(why) + 64;
    for (size_t i = 0; i < m->n; i++)
        size += strlen(m->items[i].serial) + 1;
    char *s = malloc(size);
    if (s == NULL)
        return NULL;
    size_t used = (size_t)snprintf(s, size, "revoked %s%sserial=", name, name[0] ? " " : "");
    const char *sep = "";
    for (size_t i = 0; i < m->n; i++) {
        if (m->items[i].outcome != MINICA_REVOKE_DONE)
            continue;
        used += (size_t)snprintf(s + used, size - used, "%s%s", sep, m->items[i].serial);
        sep = ",";
    }
    snprintf(s + used, size - used, " reason=%s", why);
    return s;
}

int minica_ca_revoke(struct minica_ca *ca, const char *name_or_serial,
                     enum minica_revoke_reason reason, struct minica_revoke_result *result,
                     struct minica_err *err)
{
    struct minica_revoke_result local = {0};
    struct minica_revoke_result *res = result ? result : &local;
    memset(res, 0, sizeof(*res));
    struct matches m = {.now = minica_now()};
    int ret;

    if (name_or_serial == NULL || name_or_serial[0] == '\0')
        return minica_seterr(err, MINICA_EINVAL, "no NAME or serial given");
    /* Names are stored canonical (lowercase, inet_ntop form): look up that. */
    struct minica_name canon;
    struct minica_err perr;
    const char *name =
        minica_name_parse(name_or_serial, &canon, &perr) == 0 ? canon.text : name_or_serial;
    /* The lookup is inside the write transaction: what is counted and
     * listed is exactly what this call changed, even while another process
     * issues or revokes. */
    if ((ret = minica_store_begin(ca->store, err)) != 0)
        goto out;
    if ((ret = find(ca->store, name, NULL, &m, err)) != 0)
        goto rollback;
    if (m.n == 0) {
        char serial[MINICA_SERIAL_HEX_MAX];
        struct minica_err ignored;
        if (minica_serial_normalize(name_or_serial, serial, sizeof(serial), &ignored) == 0 &&
            (ret = find(ca->store, NULL, serial, &m, err)) != 0)
            goto rollback;
    }
    if (m.n == 0) {
        ret = minica_seterr(err, MINICA_ENOENT,
                            "no certificate named '%s' or with that serial in the inventory "
                            "(see: minica list --status all)",
                            name_or_serial);
        goto rollback;
    }
    for (size_t i = 0; i < m.n; i++) {
        switch (m.items[i].outcome) {
        case MINICA_REVOKE_ALREADY:
            res->already_revoked++;
            break;
        case MINICA_REVOKE_EXPIRED:
            res->expired++;
            break;
        case MINICA_REVOKE_DONE:
            if ((ret = minica_store_revoke(ca->store, m.items[i].serial, m.now, (int)reason,
                                           err)) != 0)
                goto rollback;
            res->revoked++;
            break;
        }
    }
    if (res->revoked > 0) {
        char *summary = audit_summary(&m, m.by_name ? name : "", (int)reason);
        if (summary == NULL) {
            ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
            goto rollback;
        }
        ret = minica_ca_audit(ca, summary, err);
        free(summary);
        if (ret != 0)
            goto rollback;
    }
    if ((ret = minica_store_commit(ca->store, err)) != 0)
        goto out;
    res->matches = m.items;
    res->n_matches = m.n;
    m.items = NULL;
    ret = (int)res->revoked;
    goto out;
rollback:
    minica_store_rollback(ca->store);
out:
    if (ret < 0)
        memset(res, 0, sizeof(*res));
    free(m.items);
    minica_revoke_result_free(&local);
    return ret;
}
