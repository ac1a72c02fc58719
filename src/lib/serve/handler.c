/* minica serve's HTTP API as a pure function of the request: routing, JSON,
 * the token or client-certificate check, limits. The certificate work itself
 * is token.c and issue.c; the network side is https.c. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ca/x509.h"
#include "minica/crl.h"
#include "minica/issue.h"
#include "minica/server.h"
#include "minica/token.h"
#include "serve/acme.h"
#include "serve/fastverify.h"
#include "serve/serve_internal.h"

#define CRL_PUBLISH_SECONDS 60

/* ---- responses ---- */

void minica_http_response_free(struct minica_http_response *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

static void respond_json(struct minica_http_response *resp, int status, cJSON *json)
{
    resp->status = status;
    resp->content_type = "application/json";
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (text == NULL) {
        resp->status = 500;
        text = minica_strdup("{\"error\":\"internal\",\"detail\":\"out of memory\"}");
    }
    size_t len = text ? strlen(text) : 0;
    /* A trailing newline keeps curl output and logs readable. */
    resp->body = text ? realloc(text, len + 2) : NULL;
    if (resp->body == NULL) {
        free(text);
        resp->body_len = 0;
        return;
    }
    resp->body[len] = '\n';
    resp->body[len + 1] = '\0';
    resp->body_len = len + 1;
}

void minica_serve_respond_error(struct minica_http_response *resp, int status, const char *code,
                                const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", code);
    cJSON_AddStringToObject(o, "detail", detail);
    respond_json(resp, status, o);
    snprintf(resp->log, sizeof(resp->log), "%s", detail);
}

static void respond_raw(struct minica_http_response *resp, int status, const char *type,
                        const void *data, size_t len)
{
    resp->status = status;
    resp->content_type = type;
    resp->body = malloc(len + 1);
    if (resp->body == NULL) {
        minica_serve_respond_error(resp, 500, "internal", "out of memory");
        return;
    }
    memcpy(resp->body, data, len);
    resp->body[len] = '\0';
    resp->body_len = len;
}

/* Maps a library error to an HTTP answer; internal details stay in the log. */
static void respond_failure(struct minica_http_response *resp, int ret,
                            const struct minica_err *err)
{
    switch (ret) {
    case MINICA_EFORBIDDEN:
        minica_serve_respond_error(resp, 403, "forbidden", "%s", err->msg);
        break;
    case MINICA_EPOLICY:
        minica_serve_respond_error(resp, 403, "policy", "%s", err->msg);
        break;
    case MINICA_EINVAL:
        minica_serve_respond_error(resp, 400, "bad_request", "%s", err->msg);
        break;
    case MINICA_EUNAVAILABLE:
        /* Nothing was issued or spent: the same request succeeds once the
         * database is back, which the client is told to wait for. */
        minica_serve_respond_error(resp, 503, "unavailable",
                                   "the CA's inventory cannot be reached; retry in %d seconds",
                                   MINICA_SERVE_UNAVAILABLE_RETRY_AFTER);
        snprintf(resp->log, sizeof(resp->log), "%s", err->msg);
        if (resp->n_headers < MINICA_HTTP_MAX_HEADERS) {
            struct minica_http_header *h = &resp->headers[resp->n_headers++];
            h->name = "Retry-After";
            snprintf(h->value, sizeof(h->value), "%d", MINICA_SERVE_UNAVAILABLE_RETRY_AFTER);
        }
        break;
    default:
        minica_serve_respond_error(resp, 500, "internal", "the CA could not complete the request");
        snprintf(resp->log, sizeof(resp->log), "%s", err->msg);
        break;
    }
}

static void respond_issued(struct minica_http_response *resp, const struct minica_issued *issued)
{
    char not_after[21];
    minica_unix_to_rfc3339(issued->not_after, not_after);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "certificate", issued->cert_pem);
    cJSON_AddStringToObject(o, "chain", issued->chain_pem);
    cJSON_AddStringToObject(o, "serial", issued->serial);
    cJSON_AddStringToObject(o, "not_after", not_after);
    respond_json(resp, 200, o);
    snprintf(resp->log, sizeof(resp->log), "issued %s serial %s", issued->name, issued->serial);
}

/* ---- refusals ---- */

/* A refusal the CA reported during one request, kept until the CA lock is
 * released: counting and writing it need neither the lock nor the CA. */
struct refusal {
    int set;
    char kind[160];
    char command[32];
    char line[4096];
};

static void capture_refusal(void *ctx, const char *kind, const char *command, const char *line)
{
    struct refusal *r = ctx;
    r->set = 1;
    snprintf(r->kind, sizeof(r->kind), "%s", kind);
    snprintf(r->command, sizeof(r->command), "%s", command);
    snprintf(r->line, sizeof(r->line), "%s", line);
}

/* Call with the CA lock held, before the CA works for the request. */
static void catch_refusals(struct minica_server *srv, struct refusal *r)
{
    memset(r, 0, sizeof(*r));
    minica_ca_set_refusal_sink(srv->ca, capture_refusal, r);
}

/* Call with the CA lock held, when the CA is done with the request. */
static void release_refusals(struct minica_server *srv)
{
    minica_ca_set_refusal_sink(srv->ca, NULL, NULL);
}

/* After the CA lock is released. */
static void record_refusal(struct minica_server *srv, const struct minica_http_request *req,
                           const struct refusal *r)
{
    if (r->set)
        minica_refusals_note(srv->refusals, req->remote_addr, r->kind, r->command, r->line);
}

/* ---- the API ---- */

/* Parses {"token": "...", "csr": "..."}-like bodies: an object whose listed
 * members are all strings. */
static cJSON *parse_body(const struct minica_http_request *req, struct minica_http_response *resp,
                         const char *const *members, size_t n)
{
    if (req->body_len == 0) {
        minica_serve_respond_error(resp, 400, "bad_request",
                                   "empty body; a JSON object is expected");
        return NULL;
    }
    if (req->body_len > MINICA_SERVE_MAX_BODY) {
        minica_serve_respond_error(resp, 413, "too_large", "the body exceeds %d bytes",
                                   MINICA_SERVE_MAX_BODY);
        return NULL;
    }
    if (memchr(req->body, '\0', req->body_len) != NULL) {
        minica_serve_respond_error(resp, 400, "bad_request", "the body contains a NUL byte");
        return NULL;
    }
    cJSON *json = cJSON_ParseWithLength(req->body, req->body_len);
    if (json == NULL || !cJSON_IsObject(json)) {
        cJSON_Delete(json);
        minica_serve_respond_error(resp, 400, "bad_request", "the body is not a JSON object");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(json, members[i]);
        if (!cJSON_IsString(m) || m->valuestring == NULL) {
            cJSON_Delete(json);
            minica_serve_respond_error(resp, 400, "bad_request", "\"%s\" (a string) is missing",
                                       members[i]);
            return NULL;
        }
    }
    return json;
}

static void handle_sign(struct minica_server *srv, const struct minica_http_request *req,
                        struct minica_http_response *resp)
{
    static const char *const members[] = {"token", "csr"};
    cJSON *json = parse_body(req, resp, members, 2);
    if (json == NULL)
        return;
    const char *token = cJSON_GetObjectItemCaseSensitive(json, "token")->valuestring;
    const char *csr = cJSON_GetObjectItemCaseSensitive(json, "csr")->valuestring;
    /* Optional: the usage the client insists on; another one is refused
     * before the token is spent. */
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(json, "usage");
    enum minica_usage usage = 0;
    struct minica_err err;
    if (want != NULL &&
        (!cJSON_IsString(want) || minica_usage_parse(want->valuestring, &usage, &err) != 0)) {
        cJSON_Delete(json);
        minica_serve_respond_error(resp, 400, "bad_request",
                                   "\"usage\" must be server, client or both");
        return;
    }
    char id[MINICA_TOKEN_ID_LEN + 1], origin[256];
    if (minica_token_id(token, id, NULL) != 0)
        snprintf(id, sizeof(id), "(malformed)");
    snprintf(origin, sizeof(origin), "remote %s token %s", req->remote_addr, id);

    /* The CSR's signature, most of an enrollment's CPU, needs no CA: for a
     * token worth it (a bad one must stay cheap to refuse) it is checked
     * with the lock released, on every core. A CSR that fails here goes on
     * without a receipt, to be refused (and audited) under the lock exactly
     * as before; so does a token that was spent in between. */
    pthread_mutex_lock(&srv->ca_lock);
    int usable = minica_ca_token_usable(srv->ca, token);
    pthread_mutex_unlock(&srv->ca_lock);
    struct minica_csr_receipt receipt;
    struct minica_err pre;
    int prechecked =
        usable && minica_csr_precheck(csr, minica_gnutls_ecdsa_verify, &receipt, &pre) == 0;
    struct minica_issued issued;
    struct refusal refusal;
    /* Group commit: the commit is written under the lock and synced after
     * it, one sync for every enrollment that committed meanwhile; the
     * certificate is sent only once its row is on disk. */
    pthread_rwlock_rdlock(&srv->ca_users);
    pthread_mutex_lock(&srv->ca_lock);
    struct minica_store *store = minica_ca_store(srv->ca);
    struct minica_err serr;
    int deferred = minica_store_defer_sync(store, 1, &serr) == 1;
    minica_ca_set_actor(srv->ca, "serve", origin);
    catch_refusals(srv, &refusal);
    int ret = minica_ca_issue_with_token_checked(srv->ca, token, csr, prechecked ? &receipt : NULL,
                                                 usage, &issued, &err);
    release_refusals(srv);
    if (deferred && minica_store_defer_sync(store, 0, &serr) < 0 && ret == 0) {
        /* Later commits would not be synced either: this one is not sent. */
        minica_issued_free(&issued);
        ret = minica_seterr(&err, MINICA_EDB, "%s", serr.msg);
    }
    pthread_mutex_unlock(&srv->ca_lock);
    /* A refused bad token (a flood) wrote nothing that must outlive a
     * power cut (refusals.c): it waits for no disk. */
    if (deferred && (ret == 0 || usable) && minica_store_sync(store, &serr) != 0 && ret == 0) {
        minica_issued_free(&issued);
        ret = minica_seterr(&err, MINICA_EDB, "the certificate was not sent: %s", serr.msg);
    }
    pthread_rwlock_unlock(&srv->ca_users);
    record_refusal(srv, req, &refusal);
    cJSON_Delete(json);
    if (ret != 0) {
        respond_failure(resp, ret, &err);
        return;
    }
    respond_issued(resp, &issued);
    minica_issued_free(&issued);
}

int minica_serve_copy_row(const struct minica_cert_row *row, void *ctx)
{
    struct minica_serve_row *c = ctx;
    c->row = *row;
    c->row.pem = NULL;
    c->found = 1;
    return 1;
}

/* The client certificate must chain to this CA's intermediate and root and
 * be a valid (unrevoked, unexpired) leaf of its inventory. Fills row. */
static int check_client_cert(struct minica_server *srv, const struct minica_http_request *req,
                             struct minica_cert_row *row, struct minica_err *err)
{
    struct minica_ca *ca = srv->ca;
    if (req->client_cert_der == NULL || req->client_cert_len == 0)
        return minica_seterr(err, MINICA_EFORBIDDEN,
                             "renewal needs the current certificate as TLS client certificate");
    /* Validity is judged below on minica's clock, and from the inventory. */
    char serial[MINICA_SERIAL_HEX_MAX], fp[65];
    int ret = minica_ca_verify_issued(ca, req->client_cert_der, req->client_cert_len, serial, NULL);
    if (ret == MINICA_EFORBIDDEN)
        return minica_seterr(err, MINICA_EFORBIDDEN,
                             "the client certificate was not issued by this CA");
    if (ret != MINICA_OK)
        return minica_seterr(err, MINICA_EFORBIDDEN, "the client certificate cannot be parsed");
    minica_sha256_hex(req->client_cert_der, req->client_cert_len, fp);
    struct minica_serve_row found;
    memset(&found, 0, sizeof(found));
    struct minica_cert_filter filter;
    memset(&filter, 0, sizeof(filter));
    filter.serial = serial;
    ret = minica_store_list_certs(minica_ca_store(ca), &filter, minica_serve_copy_row, &found, err);
    if (ret < 0)
        return ret;
    if (!found.found || strcmp(found.row.fingerprint_sha256, fp) != 0)
        return minica_seterr(err, MINICA_EFORBIDDEN,
                             "the client certificate (serial %s) is not in this CA's inventory",
                             serial);
    int64_t now = minica_now();
    switch (minica_cert_row_status(&found.row, now)) {
    case MINICA_STATUS_REVOKED:
        return minica_seterr(err, MINICA_EFORBIDDEN,
                             "the client certificate (serial %s) is revoked: a new token is needed",
                             serial);
    case MINICA_STATUS_EXPIRED: {
        char when[21];
        minica_unix_to_rfc3339(found.row.not_after, when);
        return minica_seterr(err, MINICA_EFORBIDDEN,
                             "the client certificate (serial %s) expired at %s; a certificate too "
                             "old to renew needs a new token",
                             serial, when);
    }
    default:
        break;
    }
    if (found.row.not_before > now)
        return minica_seterr(err, MINICA_EFORBIDDEN, "the client certificate is not valid yet");
    *row = found.row;
    return MINICA_OK;
}

static void handle_renew(struct minica_server *srv, const struct minica_http_request *req,
                         struct minica_http_response *resp)
{
    static const char *const members[] = {"csr"};
    cJSON *json = parse_body(req, resp, members, 1);
    if (json == NULL)
        return;
    const char *csr = cJSON_GetObjectItemCaseSensitive(json, "csr")->valuestring;
    struct minica_cert_row *row = calloc(1, sizeof(*row));
    const char **sans = calloc(MINICA_MAX_SANS, sizeof(*sans));
    char *names = NULL;
    struct minica_issued issued;
    memset(&issued, 0, sizeof(issued));
    struct minica_err err;
    int ret, proven = 0;
    char origin[256];
    struct refusal refusal;
    snprintf(origin, sizeof(origin), "remote %s renew", req->remote_addr);
    /* As in handle_sign; only for a client that showed a certificate. */
    struct minica_csr_receipt receipt;
    struct minica_err pre;
    int prechecked = req->client_cert_len > 0 &&
                     minica_csr_precheck(csr, minica_gnutls_ecdsa_verify, &receipt, &pre) == 0;
    pthread_mutex_lock(&srv->ca_lock);
    minica_ca_set_actor(srv->ca, "serve", origin);
    catch_refusals(srv, &refusal);
    if (row == NULL || sans == NULL) {
        ret = minica_seterr(&err, MINICA_ENOMEM, "out of memory");
        goto unlock;
    }
    if ((ret = check_client_cert(srv, req, row, &err)) != 0)
        goto refused;
    /* The certificate is this CA's and valid: its serial, in the origin,
     * tells its refusals apart. */
    proven = 1;
    snprintf(origin, sizeof(origin), "remote %s renew of %s", req->remote_addr, row->serial);
    minica_ca_set_actor(srv->ca, "serve", origin);
    if ((ret = minica_csr_names_match(row->sans, csr, &err)) != 0)
        goto refused;
    if ((names = minica_strdup(row->sans)) == NULL) {
        ret = minica_seterr(&err, MINICA_ENOMEM, "out of memory");
        goto unlock;
    }
    struct minica_issue_request ireq;
    memset(&ireq, 0, sizeof(ireq));
    char *save = NULL;
    for (char *t = strtok_r(names, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (ireq.name == NULL)
            ireq.name = t;
        else if (ireq.n_sans < MINICA_MAX_SANS)
            sans[ireq.n_sans++] = t;
    }
    ireq.sans = sans;
    /* The same lifetime as before (issue.c backdates by 60s), within today's policy. */
    ireq.ttl = row->not_after - row->not_before - 60;
    if (ireq.ttl <= 0)
        ireq.ttl = 0;
    if (ireq.ttl > minica_ca_policy(srv->ca)->max_ttl)
        ireq.ttl = minica_ca_policy(srv->ca)->max_ttl;
    enum minica_usage usage = MINICA_USAGE_SERVER;
    minica_usage_parse(row->usage, &usage, NULL);
    ireq.usage = usage;
    ireq.csr_pem = csr;
    ireq.csr_receipt = prechecked ? &receipt : NULL;
    ret = minica_ca_issue(srv->ca, &ireq, &issued, &err);
    goto unlock;
refused : {
    char summary[sizeof(err.msg) + 64];
    snprintf(summary, sizeof(summary), "refused renewal: %s", err.msg);
    minica_ca_audit_refusal(srv->ca, summary, proven ? NULL : err.msg);
}
unlock:
    release_refusals(srv);
    pthread_mutex_unlock(&srv->ca_lock);
    record_refusal(srv, req, &refusal);
    cJSON_Delete(json);
    if (ret == 0)
        respond_issued(resp, &issued);
    else
        respond_failure(resp, ret, &err);
    minica_issued_free(&issued);
    free(names);
    free(sans);
    free(row);
}

/* GET /v1/crl: the active intermediate's CRL in DER, as agents before
 * the CA could rotate read it. GET /v1/crls: every current intermediate's
 * in one PEM, so that a leaf of the previous intermediate is found revoked
 * too. Both come from the one set the inventory publishes to every
 * replica, signed at most once a minute (or at the first request after a
 * revocation): signing per request would let anyone burn CRL numbers and
 * fill the audit log. */
static void handle_crl(struct minica_server *srv, const struct minica_http_request *req, int pem,
                       struct minica_http_response *resp)
{
    struct minica_err err;
    char origin[256];
    snprintf(origin, sizeof(origin), "remote %s", req->remote_addr);
    struct minica_crl_set set;
    pthread_mutex_lock(&srv->ca_lock);
    minica_ca_set_actor(srv->ca, "serve", origin);
    int ret = minica_ca_crls_published(srv->ca, CRL_PUBLISH_SECONDS, &set, &err);
    pthread_mutex_unlock(&srv->ca_lock);
    if (ret != 0) {
        respond_failure(resp, ret, &err);
        return;
    }
    /* The active intermediate's comes first. */
    if (pem)
        respond_raw(resp, 200, "application/x-pem-file", set.pem, strlen(set.pem));
    else
        respond_raw(resp, 200, "application/pkix-crl", set.crl[0].der, set.crl[0].der_len);
    minica_crl_set_free(&set);
}

void minica_server_handle(struct minica_server *srv, const struct minica_http_request *req,
                          struct minica_http_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    minica_refusals_sweep(srv->refusals);
    static const struct {
        const char *path;
        const char *method;
    } routes[] = {
        {"/v1/health", "GET"}, {"/v1/roots", "GET"}, {"/v1/sign", "POST"},
        {"/v1/renew", "POST"}, {"/v1/crl", "GET"},   {"/v1/crls", "GET"},
    };
    const char *path = req->path ? req->path : "";
    const char *method = req->method ? req->method : "";
    if (strncmp(path, MINICA_ACME_PREFIX, strlen(MINICA_ACME_PREFIX)) == 0) {
        minica_acme_handle(srv, req, resp);
        return;
    }
    size_t i, n = sizeof(routes) / sizeof(routes[0]);
    for (i = 0; i < n; i++)
        if (strcmp(path, routes[i].path) == 0)
            break;
    if (i == n) {
        minica_serve_respond_error(resp, 404, "not_found", "no such endpoint");
        return;
    }
    if (strcmp(method, routes[i].method) != 0) {
        minica_serve_respond_error(resp, 405, "method_not_allowed", "%s takes %s", routes[i].path,
                                   routes[i].method);
        resp->allow = routes[i].method;
        return;
    }
    switch (i) {
    case 0: {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", "ok");
        respond_json(resp, 200, o);
        break;
    }
    case 1:
        /* No CA lock: a bootstrap behind a busy CA is answered at once. */
        pthread_mutex_lock(&srv->tls_lock);
        respond_raw(resp, 200, "application/x-pem-file", srv->roots_answer,
                    strlen(srv->roots_answer));
        pthread_mutex_unlock(&srv->tls_lock);
        break;
    case 2:
        handle_sign(srv, req, resp);
        break;
    case 3:
        handle_renew(srv, req, resp);
        break;
    default:
        handle_crl(srv, req, i == 5, resp);
        break;
    }
}
