/* ACME orders, authorizations and challenges (RFC 8555 7.4, 7.5): newOrder
 * against the policy, the order and authorization resources, and a
 * challenge's validation (serve/acme_validate.c) with the CA lock released,
 * behind a gate across the server's threads. Finalize is acme_cert.c. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "base/util.h"
#include "minica/issue.h"
#include "minica/names.h"
#include "minica/store_acme.h"
#include "serve/acme.h"
#include "serve/acme_ari.h"
#include "serve/acme_internal.h"
#include "serve/acme_validate.h"
#include "serve/jws.h"
#include "serve/serve_internal.h"

/* ---- orders, authorizations, challenges ---- */

/* An order's authorization URLs: a minica_acme_authz_cb. */
struct authz_urls {
    cJSON *arr;
    const char *base;
};

static int add_authz_url(const struct minica_acme_authz *row, void *ctx)
{
    struct authz_urls *u = ctx;
    char url[MINICA_ACME_MAX_BASE + 128];
    snprintf(url, sizeof(url), "%s/acme/authz/%s", u->base, row->id);
    cJSON_AddItemToArray(u->arr, cJSON_CreateString(url));
    return 0;
}

void minica_acme_respond_order(struct minica_server *srv, const char *base,
                               const struct minica_acme_order *o, int status,
                               struct minica_http_response *resp)
{
    struct minica_err err;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "status", o->status);
    minica_acme_add_time(j, "expires", o->expires_at);
    cJSON *ids = cJSON_Parse(o->identifiers);
    cJSON_AddItemToObject(j, "identifiers", ids ? ids : cJSON_CreateArray());
    struct authz_urls u = {cJSON_AddArrayToObject(j, "authorizations"), base};
    int ret =
        minica_store_acme_authz_list(minica_ca_store(srv->ca), o->id, add_authz_url, &u, &err);
    if (ret != 0) {
        cJSON_Delete(j);
        minica_acme_internal_reply(resp, ret, &err);
        return;
    }
    char url[MINICA_ACME_MAX_BASE + 128];
    snprintf(url, sizeof(url), "%s/acme/order/%s/finalize", base, o->id);
    cJSON_AddStringToObject(j, "finalize", url);
    if (strcmp(o->status, "valid") == 0) {
        snprintf(url, sizeof(url), "%s/acme/cert/%s", base, o->id);
        cJSON_AddStringToObject(j, "certificate", url);
    }
    if (o->replaces[0] != '\0') {
        char certid[MINICA_ARI_CERTID_MAX];
        minica_acme_ari_certid_of_serial(srv, o->replaces, certid, sizeof(certid));
        if (certid[0] != '\0')
            cJSON_AddStringToObject(j, "replaces", certid); /* RFC 9773 5 */
    }
    minica_acme_add_error(j, o->error);
    minica_acme_respond_json(resp, status, j);
    minica_acme_add_header(resp, "Location", "%s/acme/order/%s", base, o->id);
    if (strcmp(o->status, "processing") == 0)
        minica_acme_add_header(resp, "Retry-After", "1");
}

/* Parses and checks one identifier against the policy, the same check
 * issuance makes. 0, or -1 with resp filled. */
static int check_identifier(struct minica_server *srv, const cJSON *id, struct minica_name *name,
                            struct minica_http_response *resp)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(id, "type");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(id, "value");
    if (!cJSON_IsString(type) || !cJSON_IsString(value)) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "an identifier needs a type and a value (strings)");
        return -1;
    }
    int is_ip = strcmp(type->valuestring, "ip") == 0;
    if (!is_ip && strcmp(type->valuestring, "dns") != 0) {
        minica_acme_problem_reply(resp, 400, "unsupportedIdentifier",
                                  "identifier types are dns and ip");
        return -1;
    }
    struct minica_err err;
    if (minica_name_parse(value->valuestring, name, &err) != 0 ||
        (name->kind == MINICA_NAME_IP) != is_ip) {
        minica_acme_problem_reply(resp, 400, "rejectedIdentifier", "\"%.64s\" is not a%s",
                                  value->valuestring, is_ip ? "n IP address" : " DNS name");
        return -1;
    }
    if (strncmp(name->text, "*.", 2) == 0) {
        minica_acme_problem_reply(resp, 400, "rejectedIdentifier",
                                  "%s: a wildcard needs dns-01, which this CA does not offer",
                                  name->text);
        return -1;
    }
    if (minica_policy_check_name(minica_ca_policy(srv->ca), name, &err) != 0) {
        minica_acme_problem_reply(resp, 400, "rejectedIdentifier", "%s", err.msg);
        return -1;
    }
    return 0;
}

void minica_acme_handle_new_order(struct minica_server *srv, const char *base,
                                  struct minica_acme_post *p, struct minica_http_response *resp)
{
    static const char *const types[] = {"http-01", "tls-alpn-01"};
    enum { NT = 2 };
    const cJSON *ids =
        p->payload ? cJSON_GetObjectItemCaseSensitive(p->payload, "identifiers") : NULL;
    int n = cJSON_GetArraySize(ids);
    if (!cJSON_IsArray(ids) || n == 0) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "newOrder needs a non-empty identifiers array");
        return;
    }
    if (n > MINICA_MAX_SANS) {
        minica_acme_problem_reply(resp, 400, "rejectedIdentifier", "at most %d identifiers",
                                  MINICA_MAX_SANS);
        return;
    }
    if (minica_acme_check_eab_account(srv, p, ids, resp) != 0)
        return;
    if (cJSON_GetObjectItemCaseSensitive(p->payload, "notBefore") != NULL ||
        cJSON_GetObjectItemCaseSensitive(p->payload, "notAfter") != NULL) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "notBefore/notAfter are not supported: lifetimes come "
                                  "from the CA's policy");
        return;
    }
    struct minica_acme_order *o = calloc(1, sizeof(*o));
    struct minica_acme_authz *az = calloc((size_t)n, sizeof(*az));
    struct minica_acme_challenge *ch = calloc((size_t)n * NT, sizeof(*ch));
    cJSON *canon = cJSON_CreateArray();
    struct minica_err err;
    int64_t now = minica_now();
    if (o == NULL || az == NULL || ch == NULL) {
        minica_seterr(&err, MINICA_ENOMEM, "out of memory");
        minica_acme_internal_reply(resp, MINICA_ENOMEM, &err);
        goto out;
    }
    if (minica_acme_random_id(12, o->id, sizeof(o->id), &err) != 0) {
        minica_acme_internal_reply(resp, MINICA_ECRYPTO, &err);
        goto out;
    }
    snprintf(o->account_id, sizeof(o->account_id), "%s", p->acct.id);
    snprintf(o->status, sizeof(o->status), "pending");
    o->expires_at = now + MINICA_ACME_ORDER_TTL;
    o->created_at = now;
    const cJSON *id;
    int i = 0;
    cJSON_ArrayForEach(id, ids)
    {
        struct minica_name name;
        if (check_identifier(srv, id, &name, resp) != 0)
            goto out;
        for (int k = 0; k < i; k++)
            if (strcmp(az[k].value, name.text) == 0) {
                minica_acme_problem_reply(resp, 400, "malformed", "identifier %s is listed twice",
                                          name.text);
                goto out;
            }
        struct minica_acme_authz *a = &az[i];
        if (minica_acme_random_id(12, a->id, sizeof(a->id), &err) != 0) {
            minica_acme_internal_reply(resp, MINICA_ECRYPTO, &err);
            goto out;
        }
        snprintf(a->order_id, sizeof(a->order_id), "%s", o->id);
        snprintf(a->type, sizeof(a->type), "%s", name.kind == MINICA_NAME_IP ? "ip" : "dns");
        snprintf(a->value, sizeof(a->value), "%s", name.text);
        snprintf(a->status, sizeof(a->status), "pending");
        a->expires_at = o->expires_at;
        for (int t = 0; t < NT; t++) {
            struct minica_acme_challenge *c = &ch[i * NT + t];
            if (minica_acme_random_id(12, c->id, sizeof(c->id), &err) != 0 ||
                minica_acme_random_id(32, c->token, sizeof(c->token), &err) != 0) {
                minica_acme_internal_reply(resp, MINICA_ECRYPTO, &err);
                goto out;
            }
            snprintf(c->authz_id, sizeof(c->authz_id), "%s", a->id);
            snprintf(c->type, sizeof(c->type), "%s", types[t]);
            snprintf(c->status, sizeof(c->status), "pending");
        }
        cJSON *ci = cJSON_CreateObject();
        cJSON_AddStringToObject(ci, "type", a->type);
        cJSON_AddStringToObject(ci, "value", a->value);
        cJSON_AddItemToArray(canon, ci);
        i++;
    }
    char *text = cJSON_PrintUnformatted(canon);
    if (text == NULL || strlen(text) >= sizeof(o->identifiers)) {
        free(text);
        minica_acme_problem_reply(resp, 400, "rejectedIdentifier",
                                  "the identifiers are too long together");
        goto out;
    }
    snprintf(o->identifiers, sizeof(o->identifiers), "%s", text);
    free(text);
    struct minica_ari_problem ari;
    int ret = minica_acme_ari_replaces(srv, p->acct.id, p->payload, o->identifiers, o->replaces,
                                       &ari, &err);
    if (ret != 0) {
        if (ret == 1)
            minica_acme_problem_reply(resp, ari.status, ari.type, "%s", ari.detail);
        else
            minica_acme_internal_reply(resp, ret, &err);
        goto out;
    }
    ret = minica_store_acme_order_insert(minica_ca_store(srv->ca), o, az, (size_t)n, ch,
                                         (size_t)n * NT, &err);
    if (ret == MINICA_EBUSY && o->replaces[0] != '\0') {
        minica_acme_problem_reply(resp, 409, "alreadyReplaced",
                                  "certificate %s is already replaced by an order", o->replaces);
        goto out;
    }
    if (ret != 0) {
        minica_acme_internal_reply(resp, ret, &err);
        goto out;
    }
    minica_acme_respond_order(srv, base, o, 201, resp);
    snprintf(resp->log, sizeof(resp->log), "acme order %s for account %s", o->id, o->account_id);
out:
    cJSON_Delete(canon);
    free(ch);
    free(az);
    free(o);
}

/* The order, owned by the requesting account. 0, or -1 with resp filled. */
int minica_acme_own_order(struct minica_server *srv, const struct minica_acme_post *p,
                          const char *id, struct minica_acme_order *o,
                          struct minica_http_response *resp)
{
    struct minica_err err;
    int ret = minica_store_acme_order_get(minica_ca_store(srv->ca), id, o, &err);
    if (ret == MINICA_ENOENT) {
        minica_acme_problem_reply(resp, 404, "malformed", "no such order");
        return -1;
    }
    if (ret != 0) {
        minica_acme_internal_reply(resp, ret, &err);
        return -1;
    }
    if (strcmp(o->account_id, p->acct.id) != 0) {
        minica_acme_problem_reply(resp, 403, "unauthorized",
                                  "the order belongs to another account");
        return -1;
    }
    /* RFC 8555 7.1.6: an order not finalized in time becomes invalid; the
     * first request that sees it so moves it. */
    if ((strcmp(o->status, "pending") == 0 || strcmp(o->status, "ready") == 0) &&
        o->expires_at <= minica_now()) {
        char error[MINICA_ACME_ERROR_MAX];
        minica_acme_problem_text(error, sizeof(error), "malformed", "the order expired");
        ret = minica_store_acme_order_transition(minica_ca_store(srv->ca), id, o->status, "invalid",
                                                 NULL, error, &err);
        if ((ret == 0 || ret == MINICA_EBUSY) &&
            (ret = minica_store_acme_order_get(minica_ca_store(srv->ca), id, o, &err)) == 0)
            return 0;
        minica_acme_internal_reply(resp, ret, &err);
        return -1;
    }
    return 0;
}

/* An authorization and its order, owned by the requesting account. */
static int own_authz(struct minica_server *srv, const struct minica_acme_post *p, const char *id,
                     struct minica_acme_authz *a, struct minica_acme_order *o,
                     struct minica_http_response *resp)
{
    struct minica_err err;
    int ret = minica_store_acme_authz_get(minica_ca_store(srv->ca), id, a, &err);
    if (ret == MINICA_ENOENT) {
        minica_acme_problem_reply(resp, 404, "malformed", "no such authorization");
        return -1;
    }
    if (ret != 0) {
        minica_acme_internal_reply(resp, ret, &err);
        return -1;
    }
    return minica_acme_own_order(srv, p, a->order_id, o, resp);
}

static cJSON *challenge_json(const char *base, const struct minica_acme_challenge *c)
{
    cJSON *j = cJSON_CreateObject();
    char url[MINICA_ACME_MAX_BASE + 128];
    cJSON_AddStringToObject(j, "type", c->type);
    snprintf(url, sizeof(url), "%s/acme/chall/%s", base, c->id);
    cJSON_AddStringToObject(j, "url", url);
    cJSON_AddStringToObject(j, "token", c->token);
    cJSON_AddStringToObject(j, "status", c->status);
    if (c->validated_at != 0)
        minica_acme_add_time(j, "validated", c->validated_at);
    minica_acme_add_error(j, c->error);
    return j;
}

struct chall_list {
    cJSON *arr;
    const char *base;
};

static int add_challenge(const struct minica_acme_challenge *row, void *ctx)
{
    struct chall_list *l = ctx;
    cJSON_AddItemToArray(l->arr, challenge_json(l->base, row));
    return 0;
}

void minica_acme_handle_authz(struct minica_server *srv, const char *base, const char *id,
                              struct minica_acme_post *p, struct minica_http_response *resp)
{
    struct minica_acme_authz a;
    struct minica_acme_order o;
    struct minica_err err;
    if (own_authz(srv, p, id, &a, &o, resp) != 0)
        return;
    if (strcmp(a.status, "pending") == 0 && a.expires_at <= minica_now() &&
        minica_store_acme_authz_transition(minica_ca_store(srv->ca), id, "pending", "expired",
                                           &err) == 0)
        snprintf(a.status, sizeof(a.status), "expired");
    if (p->payload != NULL) {
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(p->payload, "status");
        if (status != NULL) {
            if (!cJSON_IsString(status) || strcmp(status->valuestring, "deactivated") != 0) {
                minica_acme_problem_reply(resp, 400, "malformed",
                                          "an authorization's status can only become deactivated");
                return;
            }
            int ret = minica_store_acme_authz_transition(minica_ca_store(srv->ca), id, a.status,
                                                         "deactivated", &err);
            if (ret == 0)
                ret = minica_store_acme_authz_get(minica_ca_store(srv->ca), id, &a, &err);
            if (ret != 0 && ret != MINICA_EBUSY) {
                minica_acme_internal_reply(resp, ret, &err);
                return;
            }
        }
    }
    cJSON *j = cJSON_CreateObject();
    cJSON *ident = cJSON_AddObjectToObject(j, "identifier");
    cJSON_AddStringToObject(ident, "type", a.type);
    cJSON_AddStringToObject(ident, "value", a.value);
    cJSON_AddStringToObject(j, "status", a.status);
    minica_acme_add_time(j, "expires", a.expires_at);
    struct chall_list l = {cJSON_AddArrayToObject(j, "challenges"), base};
    int ret =
        minica_store_acme_challenge_list(minica_ca_store(srv->ca), id, add_challenge, &l, &err);
    if (ret != 0) {
        cJSON_Delete(j);
        minica_acme_internal_reply(resp, ret, &err);
        return;
    }
    if (a.wildcard)
        cJSON_AddBoolToObject(j, "wildcard", 1);
    minica_acme_respond_json(resp, 200, j);
}

/* At most max_concurrent validations at once across the server's threads
 * (each request makes its own validator, so the validator's own gate does
 * not span them); a request waits as long as one validation may take. */
static int gate_enter(struct minica_server *srv, const struct minica_acme_validate_settings *s)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += s->total_timeout_ms / 1000;
    until.tv_nsec += (long)(s->total_timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int ret = 0;
    pthread_mutex_lock(&srv->acme_gate);
    while (ret == 0 && srv->acme_active >= s->max_concurrent)
        if (pthread_cond_timedwait(&srv->acme_freed, &srv->acme_gate, &until) == ETIMEDOUT)
            ret = -1;
    if (ret == 0)
        srv->acme_active++;
    pthread_mutex_unlock(&srv->acme_gate);
    return ret;
}

static void gate_leave(struct minica_server *srv)
{
    pthread_mutex_lock(&srv->acme_gate);
    srv->acme_active--;
    pthread_cond_signal(&srv->acme_freed);
    pthread_mutex_unlock(&srv->acme_gate);
}

/* Runs the validation of c (now "processing") with the CA lock released:
 * dialing the client can take the validator's whole timeout. Returns 0
 * when valid, else fills error with the problem document. */
static int run_validation(struct minica_server *srv, const struct minica_acme_authz *a,
                          const struct minica_acme_challenge *c, const char *key_authz, char *error,
                          size_t error_size, int *busy)
{
    *busy = 0;
    struct minica_err err;
    enum minica_acme_vproblem vp = MINICA_ACME_VP_SERVER_INTERNAL;
    /* The policy is the CA handle's, which a reload may replace while the
     * lock is released: the validator gets its own copy. */
    struct minica_policy *policy = malloc(sizeof(*policy));
    struct minica_acme_validate_settings settings = srv->acme_validate;
    struct minica_acme_validator v;
    struct minica_name name;
    int ret = MINICA_ENOMEM;
    memset(&v, 0, sizeof(v));
    if (policy != NULL) {
        *policy = *minica_ca_policy(srv->ca);
        /* The validator dials within [acme] validate_ip (default permit_ip). */
        memcpy(policy->permit_ip, policy->acme.validate_ip, sizeof(policy->permit_ip));
        policy->n_permit_ip = policy->acme.n_validate_ip;
    }
    pthread_mutex_unlock(&srv->ca_lock);
    minica_seterr(&err, MINICA_ENOMEM, "out of memory");
    if (policy != NULL && (ret = minica_name_parse(a->value, &name, &err)) == 0 &&
        (ret = minica_acme_validator_init(&v, policy, &settings, &err)) == 0) {
        if (gate_enter(srv, &settings) != 0) {
            ret = minica_seterr(&err, MINICA_EBUSY, "too many validations in flight (%u)",
                                settings.max_concurrent);
            *busy = 1;
        } else {
            if (strcmp(c->type, "http-01") == 0)
                ret = minica_acme_validate_http01(&v, &name, c->token, key_authz, &vp, &err);
            else
                ret = minica_acme_validate_tls_alpn01(&v, &name, key_authz, &vp, &err);
            gate_leave(srv);
        }
        minica_acme_validator_free(&v);
    }
    free(policy);
    pthread_mutex_lock(&srv->ca_lock);
    if (ret != 0) {
        const char *urn = minica_acme_vproblem_type(vp);
        const char *type = strncmp(urn, MINICA_ACME_URN, strlen(MINICA_ACME_URN)) == 0
                               ? urn + strlen(MINICA_ACME_URN)
                               : "serverInternal";
        minica_acme_problem_text(error, error_size, type, err.msg);
    }
    return ret;
}

void minica_acme_handle_challenge(struct minica_server *srv, const char *base, const char *id,
                                  struct minica_acme_post *p, struct minica_http_response *resp)
{
    struct minica_acme_challenge c;
    struct minica_acme_authz a;
    struct minica_acme_order o;
    struct minica_err err;
    int ret = minica_store_acme_challenge_get(minica_ca_store(srv->ca), id, &c, &err);
    if (ret == MINICA_ENOENT) {
        minica_acme_problem_reply(resp, 404, "malformed", "no such challenge");
        return;
    }
    if (ret != 0) {
        minica_acme_internal_reply(resp, ret, &err);
        return;
    }
    if (own_authz(srv, p, c.authz_id, &a, &o, resp) != 0 ||
        minica_acme_check_eab_account(srv, p, NULL, resp) != 0)
        return;
    /* POST {} asks for validation (RFC 8555 7.5.1); POST-as-GET only looks.
     * Only one request moves a pending challenge: a repeat just looks. */
    if (p->payload != NULL && strcmp(c.status, "pending") == 0 &&
        strcmp(a.status, "pending") == 0 && o.expires_at > minica_now() &&
        minica_store_acme_challenge_transition(minica_ca_store(srv->ca), id, "pending",
                                               "processing", 0, NULL, &err) == 0) {
        char key_authz[MINICA_ACME_TOKEN_MAX + 64], error[MINICA_ACME_ERROR_MAX];
        if (minica_acme_key_authorization(c.token, p->thumbprint, key_authz, sizeof(key_authz)) !=
            0) {
            minica_acme_problem_reply(resp, 500, "serverInternal", "key authorization");
            return;
        }
        int busy;
        ret = run_validation(srv, &a, &c, key_authz, error, sizeof(error), &busy);
        struct minica_store *store = minica_ca_store(srv->ca);
        if (busy) {
            /* Our limit, not the client's failure: the challenge waits for
             * the client's next POST. */
            minica_store_acme_challenge_transition(store, id, "processing", "pending", 0, NULL,
                                                   NULL);
            minica_acme_problem_reply(resp, 503, "rateLimited",
                                      "too many validations in flight; retry");
            minica_acme_add_header(resp, "Retry-After", "1");
            return;
        }
        if (ret == 0) {
            ret = minica_store_acme_challenge_transition(store, id, "processing", "valid",
                                                         minica_now(), "", &err);
            if (ret == 0)
                ret = minica_store_acme_authz_transition(store, a.id, "pending", "valid", &err);
            int moved = 0;
            /* After the authorization's commit: see store_acme.h. */
            if (ret == 0)
                ret = minica_store_acme_order_ready_if_authorized(store, o.id, &moved, &err);
        } else {
            ret = minica_store_acme_challenge_transition(store, id, "processing", "invalid", 0,
                                                         error, &err);
            if (ret == 0)
                ret = minica_store_acme_authz_transition(store, a.id, "pending", "invalid", &err);
            if (ret == 0)
                ret = minica_store_acme_order_transition(store, o.id, "pending", "invalid", NULL,
                                                         error, &err);
            if (ret == MINICA_EBUSY)
                ret = 0;
            snprintf(resp->log, sizeof(resp->log), "acme challenge %s invalid", id);
        }
        if (ret != 0 && ret != MINICA_EBUSY) {
            minica_acme_internal_reply(resp, ret, &err);
            return;
        }
        if ((ret = minica_store_acme_challenge_get(store, id, &c, &err)) != 0) {
            minica_acme_internal_reply(resp, ret, &err);
            return;
        }
    }
    minica_acme_respond_json(resp, 200, challenge_json(base, &c));
    minica_acme_add_header(resp, "Link", "<%s/acme/authz/%s>;rel=\"up\"", base, a.id);
    if (strcmp(c.status, "processing") == 0)
        minica_acme_add_header(resp, "Retry-After", "1");
}
