/* How the ACME server answers, and the checks every POST shares: responses
 * and problem documents (RFC 7807, RFC 8555 types), ids, the base URL from
 * the Host header, nonces, and the JWS (url, account key, signature, nonce,
 * payload). No resource is handled here; see serve/acme_internal.h. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <cjson/cJSON.h>
#include <mbedtls/pk.h>

#include "base/b64url.h"
#include "base/util.h"
#include "minica/store_acme.h"
#include "serve/acme.h"
#include "serve/acme_internal.h"
#include "serve/acme_nonce.h"
#include "serve/jws.h"
#include "serve/serve_internal.h"

/* ---- responses ---- */

void minica_acme_add_header(struct minica_http_response *resp, const char *name, const char *fmt,
                            ...)
{
    if (resp->n_headers >= MINICA_HTTP_MAX_HEADERS)
        return;
    struct minica_http_header *h = &resp->headers[resp->n_headers++];
    h->name = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->value, sizeof(h->value), fmt, ap);
    va_end(ap);
}

void minica_acme_set_body(struct minica_http_response *resp, int status, const char *type,
                          char *text)
{
    free(resp->body);
    resp->status = status;
    resp->content_type = type;
    resp->body = text;
    resp->body_len = text ? strlen(text) : 0;
}

void minica_acme_respond_json(struct minica_http_response *resp, int status, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (text == NULL) {
        minica_acme_set_body(resp, 500, "application/problem+json",
                             minica_strdup("{\"type\":\"" MINICA_ACME_URN
                                           "serverInternal\",\"detail\":\"out of "
                                           "memory\",\"status\":500}"));
        return;
    }
    minica_acme_set_body(resp, status, "application/json", text);
}

/* An RFC 7807 problem document with an RFC 8555 type ("malformed"), and
 * the "algorithms" member when algorithms is not NULL. */
static void problem_doc(struct minica_http_response *resp, int status, const char *type,
                        const char *detail, const char *const *algorithms)
{
    char urn[96];
    snprintf(urn, sizeof(urn), MINICA_ACME_URN "%s", type);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", urn);
    cJSON_AddStringToObject(o, "detail", detail);
    cJSON_AddNumberToObject(o, "status", status);
    if (algorithms != NULL) {
        cJSON *algs = cJSON_AddArrayToObject(o, "algorithms");
        for (; *algorithms != NULL; algorithms++)
            cJSON_AddItemToArray(algs, cJSON_CreateString(*algorithms));
    }
    minica_acme_respond_json(resp, status, o);
    resp->content_type = "application/problem+json";
    snprintf(resp->log, sizeof(resp->log), "%s: %s", type, detail);
}

void minica_acme_problem_reply(struct minica_http_response *resp, int status, const char *type,
                               const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    problem_doc(resp, status, type, detail, NULL);
}

/* What serve/jws.c verifies: RFC 8555 6.2 makes a badSignatureAlgorithm
 * problem list them, so a client can pick another key type. */
static const char *const jws_algorithms[] = {"ES256", "ES384", "RS256", NULL};

/* A refusal from serve/jws.c. */
void minica_acme_jws_problem_reply(struct minica_http_response *resp,
                                   const struct minica_acme_problem *p)
{
    const char *urn = minica_acme_problem_urn(p->type);
    const char *type = strncmp(urn, MINICA_ACME_URN, strlen(MINICA_ACME_URN)) == 0
                           ? urn + strlen(MINICA_ACME_URN)
                           : "malformed";
    int status = p->type == MINICA_ACME_PROBLEM_UNAUTHORIZED      ? 403
                 : p->type == MINICA_ACME_PROBLEM_SERVER_INTERNAL ? 500
                                                                  : 400;
    problem_doc(resp, status, type, p->detail,
                p->type == MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM ? jws_algorithms : NULL);
}

void minica_acme_internal_reply(struct minica_http_response *resp, int ret,
                                const struct minica_err *err)
{
    if (ret == MINICA_EUNAVAILABLE) {
        /* RFC 8555 has no type of its own for it; serverInternal with 503
         * and Retry-After (RFC 8555 6.6) tells the client to come back. */
        minica_acme_problem_reply(resp, 503, "serverInternal",
                                  "the CA's inventory cannot be reached; retry later");
        minica_acme_add_header(resp, "Retry-After", "%d", MINICA_SERVE_UNAVAILABLE_RETRY_AFTER);
        snprintf(resp->log, sizeof(resp->log), "unavailable: %s", err->msg);
        return;
    }
    minica_acme_problem_reply(resp, 500, "serverInternal", "the CA could not complete the request");
    snprintf(resp->log, sizeof(resp->log), "serverInternal: %s", err->msg);
}

/* ---- ids, nonces, URLs ---- */

/* n random octets as base64url into out. */
int minica_acme_random_id(size_t n, char *out, size_t out_size, struct minica_err *err)
{
    unsigned char raw[32];
    if (n > sizeof(raw) || getrandom(raw, n, 0) != (ssize_t)n)
        return minica_seterr(err, MINICA_EIO, "no random bytes for an ACME id");
    if (minica_b64url_encode(raw, n, out, out_size) != 0)
        return minica_seterr(err, MINICA_EINVAL, "ACME id does not fit");
    return MINICA_OK;
}

/* A fresh nonce in the Replay-Nonce header (RFC 8555 6.5: every response
 * carries one). Made, not stored: see serve/acme_nonce.h. */
void minica_acme_add_nonce(struct minica_server *srv, struct minica_http_response *resp)
{
    struct minica_err err;
    char nonce[MINICA_ACME_NONCE_TEXT_MAX];
    if (minica_acme_nonce_make(srv->acme_nonce_key, minica_now() + MINICA_ACME_NONCE_TTL, nonce,
                               sizeof(nonce), &err) == 0)
        minica_acme_add_header(resp, "Replay-Nonce", "%s", nonce);
}

/* At most once a minute, from signed requests only: forgets the spent
 * nonces that would have expired anyway, and deletes the orders (with
 * their authorizations and challenges) that expired more than
 * MINICA_ACME_ORDER_KEEP ago without a certificate. Call with the CA lock
 * held. */
static void sweep(struct minica_server *srv, int64_t now)
{
    if (now >= srv->acme_swept_at && now - srv->acme_swept_at < 60)
        return;
    srv->acme_swept_at = now;
    struct minica_store *store = minica_ca_store(srv->ca);
    minica_store_acme_nonce_sweep(store, now, NULL, NULL);
    minica_store_acme_order_sweep(store, now - MINICA_ACME_ORDER_KEEP, NULL, NULL);
}

/* Spends the request's nonce. Call with the CA lock held. */
static int spend_nonce(struct minica_server *srv, const char *nonce, struct minica_err *err)
{
    struct minica_store *store = minica_ca_store(srv->ca);
    int64_t now = minica_now(), expires_at;
    int ret = minica_acme_nonce_check(srv->acme_nonce_key, nonce, now, &expires_at, err);
    if (ret != 0)
        return ret;
    sweep(srv, now);
    return minica_store_acme_nonce_spend(store, nonce, expires_at, err);
}

/* "https://HOST": the Host header must be a plain host[:port] (RFC 3986
 * reg-name, IPv4 or [IPv6]), as the client's URLs will be compared with it. */
int minica_acme_base_url(const struct minica_http_request *req, char *out, size_t out_size)
{
    const char *h = req->host;
    if (h == NULL || h[0] == '\0' || strlen(h) > MINICA_ACME_MAX_HOST)
        return -1;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == ':' || *p == '[' || *p == ']'))
            return -1;
    snprintf(out, out_size, "https://%s", h);
    return 0;
}

/* ---- the JWS every POST carries ---- */

void minica_acme_post_free(struct minica_acme_post *p)
{
    minica_jws_free(&p->jws);
    mbedtls_pk_free(&p->acct_key);
    cJSON_Delete(p->payload);
}

/* Parses and checks the request: the url (RFC 8555 6.4), the key (jwk for
 * newAccount, kid of a valid account otherwise), the signature and the
 * nonce (6.5), the payload (a JSON object, or empty for POST-as-GET).
 * Call with the CA lock held. 0, or -1 with resp filled. */
/* Whether the account p->acct was read as is no longer what the store has
 * (its key or status changed while the lock was released): 1, with resp
 * filled, or 0. Call with the CA lock held. */
static int account_changed(struct minica_server *srv, struct minica_acme_post *p,
                           struct minica_http_response *resp)
{
    struct minica_acme_account *now = malloc(sizeof(*now));
    struct minica_err err;
    int ret = now == NULL
                  ? minica_seterr(&err, MINICA_ENOMEM, "out of memory")
                  : minica_store_acme_account_get(minica_ca_store(srv->ca), p->acct.id, now, &err);
    int changed = 1;
    if (ret != 0)
        minica_acme_internal_reply(resp, ret, &err);
    else if (strcmp(now->status, "valid") != 0)
        minica_acme_problem_reply(resp, 403, "unauthorized", "the account is %s", now->status);
    else if (strcmp(now->jwk, p->acct.jwk) != 0)
        minica_acme_problem_reply(resp, 403, "unauthorized",
                                  "the account's key changed during the request");
    else
        changed = 0;
    free(now);
    return changed;
}

int minica_acme_check_post(struct minica_server *srv, const struct minica_http_request *req,
                           const char *base, enum minica_acme_key_kind kind,
                           struct minica_acme_post *p, struct minica_http_response *resp)
{
    struct minica_acme_problem prob;
    memset(&prob, 0, sizeof(prob));
    if (minica_jws_parse(req->body ? req->body : "", req->body_len, MINICA_JWS_REQUEST, &p->jws,
                         &prob) != 0) {
        minica_acme_jws_problem_reply(resp, &prob);
        return -1;
    }
    char want[MINICA_ACME_MAX_BASE + 1024];
    snprintf(want, sizeof(want), "%s%s", base, req->path);
    if (strcmp(p->jws.url, want) != 0) {
        minica_acme_problem_reply(resp, 403, "unauthorized",
                                  "the JWS url is not this request's URL (%s)", want);
        return -1;
    }
    if (kind == MINICA_ACME_KEY_JWK && p->jws.jwk_json == NULL) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "this request must carry a jwk, not a kid");
        return -1;
    }
    if (kind == MINICA_ACME_KEY_KID && p->jws.kid == NULL) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "this request must carry a kid, not a jwk");
        return -1;
    }
    struct minica_err err;
    const mbedtls_pk_context *key = &p->jws.jwk_key;
    if (p->jws.kid != NULL) {
        struct minica_store *store = minica_ca_store(srv->ca);
        char prefix[MINICA_ACME_MAX_BASE + 16];
        snprintf(prefix, sizeof(prefix), "%s/acme/acct/", base);
        size_t pl = strlen(prefix);
        const char *id = p->jws.kid + pl;
        if (strncmp(p->jws.kid, prefix, pl) != 0 || id[0] == '\0' || strchr(id, '/') != NULL ||
            strlen(id) >= MINICA_ACME_ID_MAX) {
            minica_acme_problem_reply(resp, 400, "accountDoesNotExist",
                                      "the kid is not an account URL of this CA");
            return -1;
        }
        int ret = minica_store_acme_account_get(store, id, &p->acct, &err);
        if (ret == MINICA_ENOENT) {
            minica_acme_problem_reply(resp, 400, "accountDoesNotExist", "no account %s", id);
            return -1;
        }
        if (ret != 0) {
            minica_acme_internal_reply(resp, ret, &err);
            return -1;
        }
        if (strcmp(p->acct.status, "valid") != 0) {
            minica_acme_problem_reply(resp, 403, "unauthorized", "the account is %s",
                                      p->acct.status);
            return -1;
        }
        if (minica_jwk_parse(p->acct.jwk, strlen(p->acct.jwk), &p->acct_key, p->thumbprint,
                             &prob) != 0) {
            minica_acme_problem_reply(resp, 500, "serverInternal",
                                      "the account's stored key cannot be read");
            return -1;
        }
        p->has_acct = 1;
        key = &p->acct_key;
    } else {
        memcpy(p->thumbprint, p->jws.jwk_thumbprint, sizeof(p->thumbprint));
    }
    /* The signature check is most of a request's CPU: made with the CA lock
     * released, so that requests verify on every core. The key is this
     * request's own copy; what else was read under the lock is read again
     * after it (a keyChange or a deactivation may have come in between). */
    pthread_mutex_unlock(&srv->ca_lock);
    int verified = minica_jws_verify(&p->jws, key, &prob);
    pthread_mutex_lock(&srv->ca_lock);
    if (verified != 0) {
        minica_acme_jws_problem_reply(resp, &prob);
        return -1;
    }
    if (p->has_acct && account_changed(srv, p, resp))
        return -1;
    /* After the signature: only the key's holder can spend a nonce. */
    int spent = spend_nonce(srv, p->jws.nonce, &err);
    if (spent == MINICA_EFORBIDDEN) {
        minica_acme_problem_reply(resp, 400, "badNonce",
                                  "%s; retry with the Replay-Nonce of this answer", err.msg);
        return -1;
    }
    if (spent != 0) {
        minica_acme_internal_reply(resp, spent, &err);
        return -1;
    }
    if (p->jws.payload_len > 0) {
        p->payload = cJSON_ParseWithLength((const char *)p->jws.payload, p->jws.payload_len);
        if (p->payload == NULL || !cJSON_IsObject(p->payload)) {
            minica_acme_problem_reply(resp, 400, "malformed", "the payload is not a JSON object");
            return -1;
        }
    }
    return 0;
}

/* The id after prefix in path, up to the next '/' (rest gets what follows). */
int minica_acme_path_id(const char *path, const char *prefix, char *id, const char **rest)
{
    size_t pl = strlen(prefix);
    if (strncmp(path, prefix, pl) != 0)
        return -1;
    const char *s = path + pl;
    size_t n = strcspn(s, "/");
    if (n == 0 || n >= MINICA_ACME_ID_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return -1;
    memcpy(id, s, n);
    id[n] = '\0';
    *rest = s + n;
    return 0;
}

void minica_acme_add_time(cJSON *o, const char *member, int64_t t)
{
    char text[21];
    minica_unix_to_rfc3339(t, text);
    cJSON_AddStringToObject(o, member, text);
}

/* A stored problem document (or "") as a member. */
void minica_acme_add_error(cJSON *o, const char *stored)
{
    if (stored[0] == '\0')
        return;
    cJSON *e = cJSON_Parse(stored);
    if (e != NULL)
        cJSON_AddItemToObject(o, "error", e);
}

void minica_acme_problem_text(char *out, size_t size, const char *type, const char *detail)
{
    cJSON *o = cJSON_CreateObject();
    char urn[96];
    snprintf(urn, sizeof(urn), MINICA_ACME_URN "%s", type);
    cJSON_AddStringToObject(o, "type", urn);
    cJSON_AddStringToObject(o, "detail", detail);
    cJSON_AddNumberToObject(o, "status", 400);
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    /* A detail too long for the row is cut to a valid document. */
    if (t == NULL || strlen(t) >= size)
        snprintf(out, size, "{\"type\":\"%s\",\"status\":400}", urn);
    else
        snprintf(out, size, "%s", t);
    free(t);
}
