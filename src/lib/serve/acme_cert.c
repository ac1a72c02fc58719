/* The ACME certificate's life: finalize (RFC 8555 7.4) through
 * minica_ca_issue, the certificate chain, revokeCert (7.6) by the ordering
 * account or the certificate's key, and the renewalInfo glue (RFC 9773,
 * serve/acme_ari.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "base/b64url.h"
#include "base/util.h"
#include "ca/x509.h"
#include "minica/issue.h"
#include "minica/lifecycle.h"
#include "minica/names.h"
#include "minica/revoke.h"
#include "minica/store_acme.h"
#include "serve/acme_ari.h"
#include "serve/acme_internal.h"
#include "serve/jws.h"
#include "serve/serve_internal.h"

#define MAX_CSR_DER (16 * 1024)

/* ---- finalize and the certificate ---- */

static int on_record(void *ctx, const char *serial, struct minica_err *err)
{
    void **c = ctx;
    /* In the transaction that records the certificate: the order names it
     * or neither happened. */
    return minica_store_acme_order_transition(c[0], c[1], "processing", "valid", serial, "", err);
}

/* identifiers (the order's JSON) as canonical names into out[]. */
static size_t order_names(const char *identifiers, char names[][MINICA_NAME_MAX + 1], size_t max)
{
    cJSON *ids = cJSON_Parse(identifiers);
    const cJSON *id;
    size_t n = 0;
    cJSON_ArrayForEach(id, ids)
    {
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(id, "value"));
        if (v != NULL && n < max)
            snprintf(names[n++], MINICA_NAME_MAX + 1, "%s", v);
    }
    cJSON_Delete(ids);
    return n;
}

static int in_names(char names[][MINICA_NAME_MAX + 1], size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == len && strncmp(names[i], s, len) == 0)
            return 1;
    return 0;
}

void minica_acme_handle_finalize(struct minica_server *srv, const char *base, const char *id,
                                 struct minica_acme_post *p, struct minica_http_response *resp)
{
    struct minica_acme_order o;
    struct minica_err err;
    if (minica_acme_own_order(srv, p, id, &o, resp) != 0)
        return;
    /* Again at finalize: the key may have been revoked since newOrder. */
    cJSON *ids = cJSON_Parse(o.identifiers);
    int refused = minica_acme_check_eab_account(srv, p, ids, resp);
    cJSON_Delete(ids);
    if (refused)
        return;
    if (strcmp(o.status, "ready") != 0) {
        minica_acme_problem_reply(resp, 403, "orderNotReady", "the order is %s, not ready",
                                  o.status);
        return;
    }
    const char *csr64 =
        p->payload ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p->payload, "csr"))
                   : NULL;
    if (csr64 == NULL) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "finalize needs {\"csr\": base64url DER}");
        return;
    }
    unsigned char *der = malloc(MAX_CSR_DER);
    unsigned char *pem = malloc(MAX_CSR_DER * 2);
    const char **sans = calloc(MINICA_MAX_SANS, sizeof(*sans));
    char(*names)[MINICA_NAME_MAX + 1] = calloc(MINICA_MAX_SANS, sizeof(*names));
    char cn[MINICA_NAME_MAX + 1], csr_sans[MINICA_SANS_MAX];
    size_t der_len = 0, pem_len = 0;
    if (der == NULL || pem == NULL || sans == NULL || names == NULL) {
        minica_seterr(&err, MINICA_ENOMEM, "out of memory");
        minica_acme_internal_reply(resp, MINICA_ENOMEM, &err);
        goto out;
    }
    if (minica_b64url_decode(csr64, strlen(csr64), der, MAX_CSR_DER, &der_len) != 0 ||
        mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE REQUEST-----\n",
                                 "-----END CERTIFICATE REQUEST-----\n", der, der_len, pem,
                                 MAX_CSR_DER * 2, &pem_len) != 0) {
        minica_acme_problem_reply(resp, 400, "badCSR", "csr is not base64url DER");
        goto out;
    }
    if (minica_csr_names_unverified((const char *)pem, cn, sizeof(cn), csr_sans, sizeof(csr_sans),
                                    &err) != 0) {
        minica_acme_problem_reply(resp, 400, "badCSR", "%s", err.msg);
        goto out;
    }
    /* RFC 8555 7.4: exactly the order's identifiers, the CN (if any) one of them. */
    size_t n = order_names(o.identifiers, names, MINICA_MAX_SANS), n_csr = 0;
    const char *s = csr_sans[0] ? csr_sans : cn;
    for (; *s; s += strcspn(s, ","), s += (*s == ',')) {
        size_t l = strcspn(s, ",");
        if (!in_names(names, n, s, l)) {
            minica_acme_problem_reply(resp, 400, "badCSR",
                                      "the CSR asks for %.*s, which the order does not name",
                                      (int)l, s);
            goto out;
        }
        n_csr++;
    }
    if (n_csr != n || (cn[0] && !in_names(names, n, cn, strlen(cn)))) {
        minica_acme_problem_reply(resp, 400, "badCSR",
                                  "the CSR's names are not exactly the order's identifiers");
        goto out;
    }
    struct minica_store *store = minica_ca_store(srv->ca);
    if (minica_store_acme_order_transition(store, id, "ready", "processing", NULL, NULL, &err) !=
        0) {
        minica_acme_problem_reply(resp, 403, "orderNotReady", "the order is being finalized");
        goto out;
    }
    struct minica_issue_request ireq;
    memset(&ireq, 0, sizeof(ireq));
    ireq.name = cn[0] ? cn : names[0];
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], ireq.name) != 0)
            sans[ireq.n_sans++] = names[i];
    ireq.sans = sans;
    ireq.usage = MINICA_USAGE_SERVER;
    ireq.csr_pem = (const char *)pem;
    void *ctx[2] = {store, (void *)id};
    ireq.on_record = on_record;
    ireq.on_record_ctx = ctx;
    char origin[256];
    snprintf(origin, sizeof(origin), "acme %s order %s", p->acct.id, id);
    minica_ca_set_actor(srv->ca, "serve", origin);
    struct minica_issued issued;
    memset(&issued, 0, sizeof(issued));
    int ret = minica_ca_issue(srv->ca, &ireq, &issued, &err);
    if (ret != 0) {
        /* A refused CSR leaves the order ready for a better one; anything
         * else ends it. */
        int client = ret == MINICA_EINVAL || ret == MINICA_EFORBIDDEN || ret == MINICA_EPOLICY;
        char error[MINICA_ACME_ERROR_MAX];
        minica_acme_problem_text(error, sizeof(error), client ? "badCSR" : "serverInternal",
                                 err.msg);
        minica_store_acme_order_transition(store, id, "processing", client ? "ready" : "invalid",
                                           NULL, client ? "" : error, NULL);
        if (client)
            minica_acme_problem_reply(
                resp, 400, ret == MINICA_EPOLICY ? "rejectedIdentifier" : "badCSR", "%s", err.msg);
        else
            minica_acme_internal_reply(resp, ret, &err);
        goto out;
    }
    minica_issued_free(&issued);
    if ((ret = minica_store_acme_order_get(store, id, &o, &err)) != 0) {
        minica_acme_internal_reply(resp, ret, &err);
        goto out;
    }
    minica_acme_respond_order(srv, base, &o, 200, resp);
    snprintf(resp->log, sizeof(resp->log), "acme order %s issued serial %s", id, o.cert_serial);
out:
    free(names);
    free(sans);
    free(pem);
    free(der);
}

struct cert_pem {
    char *pem;
    char issuer_fp[65];
};

static int copy_pem(const struct minica_cert_row *row, void *ctx)
{
    struct cert_pem *out = ctx;
    out->pem = minica_strdup(row->pem ? row->pem : "");
    snprintf(out->issuer_fp, sizeof(out->issuer_fp), "%s", row->issuer_fingerprint_sha256);
    return 1;
}

void minica_acme_handle_cert(struct minica_server *srv, const char *id, struct minica_acme_post *p,
                             struct minica_http_response *resp)
{
    struct minica_acme_order o;
    struct minica_err err;
    if (minica_acme_own_order(srv, p, id, &o, resp) != 0)
        return;
    if (strcmp(o.status, "valid") != 0) {
        minica_acme_problem_reply(resp, 404, "malformed", "the order has no certificate");
        return;
    }
    struct minica_cert_filter filter;
    memset(&filter, 0, sizeof(filter));
    filter.serial = o.cert_serial;
    struct cert_pem leaf = {NULL, ""};
    int ret = minica_store_list_certs(minica_ca_store(srv->ca), &filter, copy_pem, &leaf, &err);
    char *chain = NULL;
    /* The chain of the intermediate that signed it, which may no longer be
     * the active one: after `ca rotate`, today's chain would not verify it. */
    if (ret >= 0 && leaf.pem != NULL)
        ret = minica_ca_chain_pem_of(srv->ca, leaf.issuer_fp, &chain, &err);
    if (ret < 0 || leaf.pem == NULL) {
        free(leaf.pem);
        if (ret >= 0)
            minica_seterr(&err, MINICA_ENOENT, "certificate %s is not in the inventory",
                          o.cert_serial);
        minica_acme_internal_reply(resp, ret < 0 ? ret : MINICA_ENOENT, &err);
        return;
    }
    size_t len = strlen(leaf.pem) + strlen(chain) + 2;
    char *body = malloc(len);
    if (body == NULL) {
        free(leaf.pem);
        free(chain);
        minica_seterr(&err, MINICA_ENOMEM, "out of memory");
        minica_acme_internal_reply(resp, MINICA_ENOMEM, &err);
        return;
    }
    snprintf(body, len, "%s%s", leaf.pem, chain);
    free(leaf.pem);
    free(chain);
    minica_acme_set_body(resp, 200, "application/pem-certificate-chain", body);
}

/* ---- revocation ---- */

struct owned {
    const char *serial;
    int found;
};

static int find_serial(const struct minica_acme_order *row, void *ctx)
{
    struct owned *o = ctx;
    if (strcmp(row->cert_serial, o->serial) == 0) {
        o->found = 1;
        return 1;
    }
    return 0;
}

/* Whether the certificate's key is the one that signed (RFC 8555 7.6). */
static int same_public_key(const unsigned char *der, size_t len, const mbedtls_pk_context *key)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    unsigned char a[2048], b[2048];
    int same = 0;
    if (mbedtls_x509_crt_parse_der(&crt, der, len) == 0) {
        int la = mbedtls_pk_write_pubkey_der(&crt.pk, a, sizeof(a));
        int lb = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)key, b, sizeof(b));
        same =
            la > 0 && la == lb && memcmp(a + sizeof(a) - la, b + sizeof(b) - lb, (size_t)la) == 0;
    }
    mbedtls_x509_crt_free(&crt);
    return same;
}

void minica_acme_handle_revoke(struct minica_server *srv, struct minica_acme_post *p,
                               struct minica_http_response *resp)
{
    const char *cert64 =
        p->payload
            ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p->payload, "certificate"))
            : NULL;
    if (cert64 == NULL) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "revokeCert needs {\"certificate\": base64url DER}");
        return;
    }
    int reason = 0;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(p->payload, "reason");
    if (r != NULL) {
        reason = cJSON_IsNumber(r) ? r->valueint : -1;
        if (!cJSON_IsNumber(r) || (double)reason != r->valuedouble ||
            !(reason == MINICA_REASON_UNSPECIFIED || reason == MINICA_REASON_KEY_COMPROMISE ||
              reason == MINICA_REASON_AFFILIATION_CHANGED || reason == MINICA_REASON_SUPERSEDED ||
              reason == MINICA_REASON_CESSATION_OF_OPERATION)) {
            minica_acme_problem_reply(resp, 400, "badRevocationReason",
                                      "reasons are 0, 1, 3, 4 and 5");
            return;
        }
    }
    unsigned char *der = malloc(MAX_CSR_DER);
    size_t der_len = 0;
    struct minica_err err;
    char serial[MINICA_SERIAL_HEX_MAX], fp[65];
    if (der == NULL ||
        minica_b64url_decode(cert64, strlen(cert64), der, MAX_CSR_DER, &der_len) != 0 ||
        minica_ca_verify_issued(srv->ca, der, der_len, serial, &err) != 0) {
        free(der);
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "the certificate is not one this CA issued");
        return;
    }
    /* A leaf of the inventory, this very certificate (not one with its serial). */
    minica_sha256_hex(der, der_len, fp);
    struct minica_serve_row found;
    memset(&found, 0, sizeof(found));
    struct minica_cert_filter filter;
    memset(&filter, 0, sizeof(filter));
    filter.serial = serial;
    struct minica_store *store = minica_ca_store(srv->ca);
    int ret = minica_store_list_certs(store, &filter, minica_serve_copy_row, &found, &err);
    if (ret < 0) {
        free(der);
        minica_acme_internal_reply(resp, ret, &err);
        return;
    }
    if (!found.found || strcmp(found.row.fingerprint_sha256, fp) != 0) {
        free(der);
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "the certificate is not in this CA's inventory");
        return;
    }
    int allowed;
    if (p->has_acct) {
        struct owned o = {serial, 0};
        ret = minica_store_acme_order_list(store, p->acct.id, NULL, 100000, find_serial, &o, &err);
        if (ret < 0) {
            free(der);
            minica_acme_internal_reply(resp, ret, &err);
            return;
        }
        allowed = o.found;
    } else {
        allowed = same_public_key(der, der_len, &p->jws.jwk_key);
    }
    free(der);
    if (!allowed) {
        minica_acme_problem_reply(resp, 403, "unauthorized",
                                  p->has_acct ? "the account did not order this certificate"
                                              : "the jwk is not the certificate's key");
        return;
    }
    if (minica_cert_row_status(&found.row, minica_now()) == MINICA_STATUS_REVOKED) {
        minica_acme_problem_reply(resp, 400, "alreadyRevoked", "certificate %s is already revoked",
                                  serial);
        return;
    }
    char origin[256];
    snprintf(origin, sizeof(origin), "acme %s revokeCert",
             p->has_acct ? p->acct.id : "certificate-key");
    minica_ca_set_actor(srv->ca, "serve", origin);
    struct minica_revoke_result result;
    memset(&result, 0, sizeof(result));
    ret = minica_ca_revoke(srv->ca, serial, (enum minica_revoke_reason)reason, &result, &err);
    size_t newly = result.revoked;
    minica_revoke_result_free(&result);
    if (ret < 0) {
        minica_acme_internal_reply(resp, ret, &err);
        return;
    }
    if (newly == 0) {
        minica_acme_problem_reply(resp, 400, "alreadyRevoked", "certificate %s is already revoked",
                                  serial);
        return;
    }
    minica_acme_set_body(resp, 200, "application/json", NULL);
    snprintf(resp->log, sizeof(resp->log), "acme revoked serial %s", serial);
}

/* ---- renewal information (RFC 9773, serve/acme_ari.c) ---- */

void minica_acme_handle_renewal_info(struct minica_server *srv, const char *certid,
                                     struct minica_http_response *resp)
{
    char *json = NULL;
    struct minica_ari_problem prob;
    struct minica_err err;
    int ret = minica_acme_ari_info(srv, certid, minica_now(), &json, &prob, &err);
    if (ret == 1) {
        minica_acme_problem_reply(resp, prob.status, prob.type, "%s", prob.detail);
        return;
    }
    if (ret != 0) {
        minica_acme_internal_reply(resp, ret, &err);
        return;
    }
    minica_acme_set_body(resp, 200, "application/json", json);
    minica_acme_add_header(resp, "Retry-After", "%d", MINICA_ARI_RETRY_AFTER);
}
