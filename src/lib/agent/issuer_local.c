/* The issuer interface over the local CA in a state directory: issuing is
 * minica_ca_issue, verdicts come from chain verification and the inventory.
 * Not for remote CAs (issuer_remote.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "ca/x509.h"
#include "minica/ca.h"
#include "minica/fsutil.h"
#include "minica/issuer.h"
#include "minica/lifecycle.h"
#include "minica/revoke.h"
#include "minica/store.h"

static int local_issue(void *ctx, const struct minica_issue_request *req, struct minica_issued *out,
                       struct minica_err *err)
{
    struct minica_issue_request r = *req;
    r.csr_pem = NULL;
    return minica_ca_issue(ctx, &r, out, err);
}

static int find_revoked(const struct minica_cert_row *row, void *p)
{
    int *revoked = p;
    if (row->revoked_at != 0)
        *revoked = 1;
    return 0;
}

struct inventory_row {
    int found;
    int revoked;
    char fingerprint[65];
    char issuer_fingerprint[65];
};

static int copy_inventory_row(const struct minica_cert_row *row, void *p)
{
    struct inventory_row *r = p;
    r->found = 1;
    r->revoked = row->revoked_at != 0;
    memcpy(r->fingerprint, row->fingerprint_sha256, sizeof(r->fingerprint));
    memcpy(r->issuer_fingerprint, row->issuer_fingerprint_sha256, sizeof(r->issuer_fingerprint));
    return 0;
}

/* The current (not retired) intermediate with this fingerprint, or NULL. */
static const struct minica_ca_cert *current_issuer(const struct minica_ca *ca, const char *fp)
{
    const struct minica_ca_cert *certs;
    size_t n;
    minica_ca_certs(ca, &certs, &n);
    for (size_t i = 0; i < n; i++)
        if (certs[i].role == MINICA_CA_INTERMEDIATE && !certs[i].retired &&
            strcmp(certs[i].fingerprint, fp) == 0)
            return &certs[i];
    return NULL;
}

static int local_verdict(void *ctx, const char *cert_pem, struct minica_issuer_verdict *out,
                         struct minica_err *err)
{
    struct minica_ca *ca = ctx;
    memset(out, 0, sizeof(*out));
    mbedtls_x509_crt chain;
    mbedtls_x509_crt_init(&chain);
    /* Only the first certificate (the leaf) is judged. */
    int ret = minica_crt_parse_pem_first(&chain, cert_pem, err);
    if (ret != 0)
        goto out;
    /* Fast path, what the agent meets for every healthy certificate: the
     * inventory holds the exact bytes one of the current intermediates
     * signed (same SHA-256), so no signature needs checking. Two ECDSA
     * verifications per certificate made a no-op agent run over 1,000
     * certificates take seconds (docs/performance.md). */
    {
        char serial[MINICA_SERIAL_HEX_MAX], fp[65];
        struct inventory_row row;
        memset(&row, 0, sizeof(row));
        minica_serial_to_hex(chain.serial.p, chain.serial.len, serial, sizeof(serial));
        minica_sha256_hex(chain.raw.p, chain.raw.len, fp);
        struct minica_cert_filter filter;
        memset(&filter, 0, sizeof(filter));
        filter.serial = serial;
        filter.status_mask = MINICA_STATUS_ALL;
        filter.now = minica_now();
        if ((ret = minica_store_list_certs(minica_ca_store(ca), &filter, copy_inventory_row, &row,
                                           err)) != 0)
            goto out;
        const struct minica_ca_cert *by = row.found && strcmp(row.fingerprint, fp) == 0
                                              ? current_issuer(ca, row.issuer_fingerprint)
                                              : NULL;
        if (by != NULL) {
            out->current = 1;
            /* Its intermediate revoked (a compromise): every leaf of it
             * renews now, from the active one. */
            out->revoked = row.revoked || by->revoked;
            if (!by->active)
                out->chain_pem = minica_ca_cert_pem(ca, by);
            goto out;
        }
    }
    /* Leaf -> current intermediate -> root; validity is judged by the agent
     * (an expired leaf is "expired", not "foreign"). */
    char serial[MINICA_SERIAL_HEX_MAX];
    ret = minica_ca_verify_issued(ca, chain.raw.p, chain.raw.len, serial, NULL);
    if (ret == MINICA_EFORBIDDEN) {
        ret = MINICA_OK;
        goto out;
    }
    if (ret != MINICA_OK) {
        ret = minica_seterr(err, ret, "cannot check the certificate against the CA");
        goto out;
    }
    out->current = 1;
    struct minica_cert_filter filter;
    memset(&filter, 0, sizeof(filter));
    filter.serial = serial;
    filter.status_mask = MINICA_STATUS_ALL;
    filter.now = minica_now();
    ret = minica_store_list_certs(minica_ca_store(ca), &filter, find_revoked, &out->revoked, err);
out:
    mbedtls_x509_crt_free(&chain);
    return ret;
}

static const char *local_root(void *ctx)
{
    return minica_ca_roots_pem(ctx);
}

static const char *local_chain(void *ctx)
{
    return minica_ca_chain_pem(ctx);
}

static void local_close(void *ctx)
{
    minica_ca_close(ctx);
}

static int local_withdraw(void *ctx, const char *serial, struct minica_err *err)
{
    int ret = minica_ca_revoke(ctx, serial, MINICA_REASON_SUPERSEDED, NULL, err);
    return ret < 0 ? ret : MINICA_OK;
}

static const struct minica_issuer_ops local_ops = {
    .kind = "local",
    .issue = local_issue,
    .verdict = local_verdict,
    .root_pem = local_root,
    .chain_pem = local_chain,
    .withdraw = local_withdraw,
    .close = local_close,
};

int minica_issuer_open_local(struct minica_issuer *issuer, const char *state_dir,
                             const char *command, struct minica_err *err)
{
    memset(issuer, 0, sizeof(*issuer));
    struct minica_ca *ca = NULL;
    int ret = minica_ca_open(state_dir, &ca, err);
    if (ret != 0)
        return ret;
    minica_ca_set_actor(ca, command, "local");
    issuer->ops = &local_ops;
    issuer->ctx = ca;
    return MINICA_OK;
}

/* Opened at its first use: a run whose certificates are all known good
 * (agent/factcache.c) never reads the CA's keys, certificates or inventory. */
struct lazy_local {
    char state_dir[MINICA_PATH_MAX];
    char command[64];
    struct minica_ca *ca;
    int failed; /* the open's error code: err says why, and every use returns it */
    struct minica_err err;
};

static int lazy_open(struct lazy_local *l, struct minica_err *err)
{
    if (l->ca == NULL && l->failed == 0) {
        l->failed = minica_ca_open(l->state_dir, &l->ca, &l->err);
        if (l->failed == 0)
            minica_ca_set_actor(l->ca, l->command, "local");
    }
    if (l->failed != 0 && err != NULL)
        *err = l->err;
    return l->failed;
}

static int lazy_issue(void *ctx, const struct minica_issue_request *req, struct minica_issued *out,
                      struct minica_err *err)
{
    struct lazy_local *l = ctx;
    int ret = lazy_open(l, err);
    return ret != 0 ? ret : local_issue(l->ca, req, out, err);
}

static int lazy_verdict(void *ctx, const char *cert_pem, struct minica_issuer_verdict *out,
                        struct minica_err *err)
{
    struct lazy_local *l = ctx;
    int ret = lazy_open(l, err);
    return ret != 0 ? ret : local_verdict(l->ca, cert_pem, out, err);
}

static const char *lazy_root(void *ctx)
{
    struct lazy_local *l = ctx;
    return lazy_open(l, NULL) != 0 ? NULL : local_root(l->ca);
}

static const char *lazy_chain(void *ctx)
{
    struct lazy_local *l = ctx;
    return lazy_open(l, NULL) != 0 ? NULL : local_chain(l->ca);
}

static int lazy_withdraw(void *ctx, const char *serial, struct minica_err *err)
{
    struct lazy_local *l = ctx;
    int ret = lazy_open(l, err);
    return ret != 0 ? ret : local_withdraw(l->ca, serial, err);
}

static void lazy_close(void *ctx)
{
    struct lazy_local *l = ctx;
    if (l->ca != NULL)
        minica_ca_close(l->ca);
    free(l);
}

static const struct minica_issuer_ops lazy_local_ops = {
    .kind = "local",
    .issue = lazy_issue,
    .verdict = lazy_verdict,
    .root_pem = lazy_root,
    .chain_pem = lazy_chain,
    .withdraw = lazy_withdraw,
    .close = lazy_close,
};

int minica_issuer_open_local_lazy(struct minica_issuer *issuer, const char *state_dir,
                                  const char *command, struct minica_err *err)
{
    memset(issuer, 0, sizeof(*issuer));
    struct lazy_local *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    snprintf(l->state_dir, sizeof(l->state_dir), "%s", state_dir);
    snprintf(l->command, sizeof(l->command), "%s", command);
    issuer->ops = &lazy_local_ops;
    issuer->ctx = l;
    return MINICA_OK;
}

void minica_issuer_close(struct minica_issuer *issuer)
{
    if (issuer->ops != NULL && issuer->ops->close != NULL)
        issuer->ops->close(issuer->ctx);
    memset(issuer, 0, sizeof(*issuer));
}
