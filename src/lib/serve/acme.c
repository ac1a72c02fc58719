/* The ACME server (RFC 8555): routing under /acme/, the directory and
 * new-nonce. The resources are the other acme_*.c files (serve/acme_internal.h
 * says which does what); signatures and JWKs are serve/jws.c, dialing the
 * client is serve/acme_validate.c, issuance is minica_ca_issue. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <mbedtls/pk.h>

#include "serve/acme.h"
#include "serve/acme_ari.h"
#include "serve/acme_internal.h"
#include "serve/jws.h"
#include "serve/serve_internal.h"

/* ---- directory, nonces ---- */

static void handle_directory(const char *base, int eab_required, struct minica_http_response *resp)
{
    static const char *const members[][2] = {
        {"newNonce", "new-nonce"},   {"newAccount", "new-account"},
        {"newOrder", "new-order"},   {"revokeCert", "revoke-cert"},
        {"keyChange", "key-change"}, {"renewalInfo", "renewal-info"}, /* RFC 9773 3 */
    };
    cJSON *o = cJSON_CreateObject();
    char url[MINICA_ACME_MAX_BASE + 64];
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        snprintf(url, sizeof(url), "%s/acme/%s", base, members[i][1]);
        cJSON_AddStringToObject(o, members[i][0], url);
    }
    cJSON *meta = cJSON_AddObjectToObject(o, "meta");
    cJSON_AddBoolToObject(meta, "externalAccountRequired", eab_required);
    minica_acme_respond_json(resp, 200, o);
}

/* ---- routing ---- */

/* RFC 8555 6.2: application/jose+json, parameters allowed after it. */
static int is_jose_json(const char *ct)
{
    static const char want[] = "application/jose+json";
    if (ct == NULL)
        return 0;
    ct += strspn(ct, " \t");
    if (strncasecmp(ct, want, sizeof(want) - 1) != 0)
        return 0;
    ct += sizeof(want) - 1;
    ct += strspn(ct, " \t");
    return *ct == '\0' || *ct == ';';
}

static void handle_post(struct minica_server *srv, const struct minica_http_request *req,
                        const char *base, struct minica_http_response *resp)
{
    const char *path = req->path;
    char id[MINICA_ACME_ID_MAX];
    const char *rest = "";
    enum {
        NEW_ACCOUNT,
        ACCOUNT,
        NEW_ORDER,
        ORDER,
        FINALIZE,
        AUTHZ,
        CHALL,
        CERT,
        REVOKE,
        KEY_CHANGE,
        RENEWAL_INFO,
        NONE
    } r = NONE;
    if (strcmp(path, "/acme/new-account") == 0)
        r = NEW_ACCOUNT;
    else if (strcmp(path, "/acme/new-order") == 0)
        r = NEW_ORDER;
    else if (strcmp(path, "/acme/revoke-cert") == 0)
        r = REVOKE;
    else if (strcmp(path, "/acme/key-change") == 0)
        r = KEY_CHANGE;
    else if (minica_acme_path_id(path, "/acme/acct/", id, &rest) == 0)
        r = ACCOUNT;
    else if (minica_acme_path_id(path, "/acme/order/", id, &rest) == 0 && rest[0] == '\0')
        r = ORDER;
    else if (minica_acme_path_id(path, "/acme/order/", id, &rest) == 0 &&
             strcmp(rest, "/finalize") == 0)
        r = FINALIZE;
    else if (minica_acme_path_id(path, "/acme/authz/", id, &rest) == 0 && rest[0] == '\0')
        r = AUTHZ;
    else if (minica_acme_path_id(path, "/acme/chall/", id, &rest) == 0 && rest[0] == '\0')
        r = CHALL;
    else if (minica_acme_path_id(path, "/acme/cert/", id, &rest) == 0 && rest[0] == '\0')
        r = CERT;
    else if (strncmp(path, MINICA_ARI_PATH, strlen(MINICA_ARI_PATH)) == 0)
        r = RENEWAL_INFO;
    if (r == NONE) {
        minica_acme_problem_reply(resp, 404, "malformed", "no such ACME resource");
        return;
    }
    struct minica_acme_post p;
    memset(&p, 0, sizeof(p));
    minica_jws_init(&p.jws);
    mbedtls_pk_init(&p.acct_key);
    enum minica_acme_key_kind kind = r == NEW_ACCOUNT ? MINICA_ACME_KEY_JWK
                                     : r == REVOKE    ? MINICA_ACME_KEY_EITHER
                                                      : MINICA_ACME_KEY_KID;
    if (minica_acme_check_post(srv, req, base, kind, &p, resp) == 0) {
        switch (r) {
        case NEW_ACCOUNT:
            minica_acme_handle_new_account(srv, base, &p, resp);
            break;
        case ACCOUNT:
            minica_acme_handle_account(srv, base, id, rest, &p, resp);
            break;
        case NEW_ORDER:
            minica_acme_handle_new_order(srv, base, &p, resp);
            break;
        case ORDER: {
            struct minica_acme_order o;
            if (minica_acme_own_order(srv, &p, id, &o, resp) == 0)
                minica_acme_respond_order(srv, base, &o, 200, resp);
            break;
        }
        case FINALIZE:
            minica_acme_handle_finalize(srv, base, id, &p, resp);
            break;
        case AUTHZ:
            minica_acme_handle_authz(srv, base, id, &p, resp);
            break;
        case CHALL:
            minica_acme_handle_challenge(srv, base, id, &p, resp);
            break;
        case REVOKE:
            minica_acme_handle_revoke(srv, &p, resp);
            break;
        case KEY_CHANGE:
            minica_acme_handle_key_change(srv, base, &p, resp);
            break;
        case RENEWAL_INFO: /* RFC 9773 4.1 allows POST-as-GET too */
            minica_acme_handle_renewal_info(srv, path + strlen(MINICA_ARI_PATH), resp);
            break;
        default:
            minica_acme_handle_cert(srv, id, &p, resp);
            break;
        }
    }
    minica_acme_post_free(&p);
}

void minica_acme_handle(struct minica_server *srv, const struct minica_http_request *req,
                        struct minica_http_response *resp)
{
    const char *method = req->method ? req->method : "";
    const char *path = req->path;
    char base[MINICA_ACME_MAX_BASE];
    int post = strcmp(method, "POST") == 0;
    int get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
    pthread_mutex_lock(&srv->ca_lock);
    if (!minica_ca_policy(srv->ca)->acme.enabled) {
        /* Read under the lock: a reload may switch it. No nonce: nothing
         * here will take one. */
        pthread_mutex_unlock(&srv->ca_lock);
        minica_acme_problem_reply(resp, 404, "malformed",
                                  "ACME is not enabled in minica.conf ([acme] enabled = yes)");
        return;
    }
    if (minica_acme_base_url(req, base, sizeof(base)) != 0) {
        minica_acme_problem_reply(resp, 400, "malformed", "the request needs a plain Host header");
    } else if (strcmp(path, "/acme/directory") == 0) {
        if (get)
            handle_directory(base, minica_ca_policy(srv->ca)->acme.eab_required, resp);
        else {
            minica_acme_problem_reply(resp, 405, "malformed", "the directory takes GET");
            resp->allow = "GET";
        }
    } else if (strcmp(path, "/acme/new-nonce") == 0) {
        if (get || head) {
            /* RFC 8555 7.2: 204 to GET, 200 to HEAD, the nonce in the header. */
            minica_acme_set_body(resp, get ? 204 : 200, "application/json", NULL);
        } else {
            minica_acme_problem_reply(resp, 405, "malformed", "new-nonce takes HEAD or GET");
            resp->allow = "HEAD, GET";
        }
    } else if (get && strncmp(path, MINICA_ARI_PATH, strlen(MINICA_ARI_PATH)) == 0) {
        /* RFC 9773 4.1: renewalInfo is an unauthenticated GET. */
        minica_acme_handle_renewal_info(srv, path + strlen(MINICA_ARI_PATH), resp);
    } else if (!post) {
        minica_acme_problem_reply(resp, 405, "malformed",
                                  "ACME resources take POST (POST-as-GET to read them)");
        resp->allow = "POST";
    } else if (!is_jose_json(req->content_type)) {
        minica_acme_problem_reply(
            resp, 415, "malformed",
            "an ACME request's Content-Type must be application/jose+json (RFC 8555 6.2)");
    } else {
        handle_post(srv, req, base, resp);
    }
    /* Under the lock, as a reload may replace the nonce key. */
    minica_acme_add_nonce(srv, resp);
    pthread_mutex_unlock(&srv->ca_lock);
    /* RFC 8555 7.1: every resource but the directory links to it. */
    if (strcmp(path, "/acme/directory") != 0 && minica_acme_base_url(req, base, sizeof(base)) == 0)
        minica_acme_add_header(resp, "Link", "<%s/acme/directory>;rel=\"index\"", base);
}

void minica_acme_set_validate_settings(struct minica_server *srv,
                                       const struct minica_acme_validate_settings *s)
{
    srv->acme_validate = *s;
}
