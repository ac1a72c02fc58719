/* ACME accounts (RFC 8555 7.3): newAccount with its External Account
 * Binding (7.3.4), the account resource and its orders list, key change
 * (7.3.5), and whether an account's EAB key still lets it act. The JWS
 * itself was checked by serve/acme_reply.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>

#include "base/b64url.h"
#include "base/util.h"
#include "minica/acme_eab.h"
#include "minica/names.h"
#include "minica/store_acme.h"
#include "serve/acme.h"
#include "serve/acme_internal.h"
#include "serve/jws.h"
#include "serve/serve_internal.h"

/* ---- accounts ---- */

static cJSON *account_json(const char *base, const struct minica_acme_account *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", a->status);
    cJSON *contact = a->contact[0] ? cJSON_Parse(a->contact) : NULL;
    cJSON_AddItemToObject(o, "contact", contact ? contact : cJSON_CreateArray());
    char url[MINICA_ACME_MAX_BASE + 128];
    snprintf(url, sizeof(url), "%s/acme/acct/%s/orders", base, a->id);
    cJSON_AddStringToObject(o, "orders", url);
    return o;
}

static void respond_account(const char *base, const struct minica_acme_account *a, int status,
                            struct minica_http_response *resp)
{
    minica_acme_respond_json(resp, status, account_json(base, a));
    minica_acme_add_header(resp, "Location", "%s/acme/acct/%s", base, a->id);
}

/* RFC 8555 7.3: mailto: URLs only, one address each, no hfields. Fills out
 * with the array as stored. 0, or -1 with resp filled. */
static int check_contact(const cJSON *contact, char *out, size_t size,
                         struct minica_http_response *resp)
{
    if (!cJSON_IsArray(contact)) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "contact must be an array of mailto: URLs");
        return -1;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, contact)
    {
        if (!cJSON_IsString(c) || strncmp(c->valuestring, "mailto:", 7) != 0) {
            minica_acme_problem_reply(resp, 400, "unsupportedContact",
                                      "only mailto: contacts are supported");
            return -1;
        }
        const char *addr = c->valuestring + 7;
        const char *at = strchr(addr, '@');
        if (at == NULL || at == addr || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
            strpbrk(addr, "?,;<> \t\r\n\"") != NULL || strlen(addr) > 254) {
            minica_acme_problem_reply(resp, 400, "invalidContact",
                                      "a contact is not one plain mailto: address");
            return -1;
        }
    }
    char *t = cJSON_PrintUnformatted(contact);
    if (t == NULL || strlen(t) >= size) {
        free(t);
        minica_acme_problem_reply(resp, 400, "invalidContact", "too many contacts");
        return -1;
    }
    snprintf(out, size, "%s", cJSON_GetArraySize(contact) ? t : "");
    free(t);
    return 0;
}

/* ---- External Account Binding (RFC 8555 7.3.4) ---- */

/* newAccount's externalAccountBinding: an HS256 JWS over this request's
 * jwk, by a key `minica acme eab create` made, for this URL. kid gets the
 * EAB key id ("" without a binding, when [acme] eab = optional). The MAC
 * is checked before the key's state is told, so only its holder learns
 * it. 0, or -1 with resp filled. */
static int check_eab(struct minica_server *srv, const char *base, const struct minica_acme_post *p,
                     char kid[MINICA_ACME_ID_MAX], struct minica_http_response *resp)
{
    kid[0] = '\0';
    const cJSON *eab = cJSON_GetObjectItemCaseSensitive(p->payload, "externalAccountBinding");
    if (eab == NULL) {
        if (!minica_ca_policy(srv->ca)->acme.eab_required)
            return 0;
        minica_acme_problem_reply(
            resp, 403, "externalAccountRequired",
            "this CA requires an external account binding: a kid and MAC key from "
            "'minica acme eab create'");
        return -1;
    }
    if (!cJSON_IsObject(eab)) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "externalAccountBinding must be a JWS object");
        return -1;
    }
    struct minica_jws inner;
    struct minica_acme_problem prob;
    struct minica_acme_eab_key *row = malloc(sizeof(*row));
    struct minica_err err;
    unsigned char key[MINICA_ACME_EAB_HMAC_LEN], tp[32];
    mbedtls_pk_context pk;
    char *text = cJSON_PrintUnformatted(eab), want[MINICA_ACME_MAX_BASE + 32];
    int ret = -1;
    minica_jws_init(&inner);
    mbedtls_pk_init(&pk);
    memset(&prob, 0, sizeof(prob));
    if (text == NULL || row == NULL) {
        minica_seterr(&err, MINICA_ENOMEM, "out of memory");
        minica_acme_internal_reply(resp, MINICA_ENOMEM, &err);
        goto out;
    }
    if (minica_jws_parse(text, strlen(text), MINICA_JWS_EAB_INNER, &inner, &prob) != 0) {
        minica_acme_jws_problem_reply(resp, &prob);
        goto out;
    }
    snprintf(want, sizeof(want), "%s/acme/new-account", base);
    if (strcmp(inner.url, want) != 0) {
        minica_acme_problem_reply(
            resp, 403, "unauthorized",
            "the external account binding's url is not the newAccount URL (%s)", want);
        goto out;
    }
    if (minica_jwk_parse((const char *)inner.payload, inner.payload_len, &pk, tp, &prob) != 0) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "the external account binding's payload is not a JWK");
        goto out;
    }
    if (memcmp(tp, p->thumbprint, sizeof(tp)) != 0) {
        minica_acme_problem_reply(
            resp, 403, "unauthorized",
            "the external account binding is for another key than this request's jwk");
        goto out;
    }
    int r = strlen(inner.kid) < MINICA_ACME_ID_MAX
                ? minica_store_acme_eab_get(minica_ca_store(srv->ca), inner.kid, row, &err)
                : MINICA_ENOENT;
    if (r == MINICA_ENOENT) {
        minica_acme_problem_reply(resp, 403, "unauthorized",
                                  "no such external account binding key");
        goto out;
    }
    if (r != 0 || (r = minica_acme_eab_mac_key(srv->ca, row->kid, key, &err)) != 0) {
        minica_acme_internal_reply(resp, r, &err);
        goto out;
    }
    r = minica_jws_verify_hmac(&inner, key, sizeof(key), &prob);
    mbedtls_platform_zeroize(key, sizeof(key));
    if (r != 0) {
        minica_acme_jws_problem_reply(resp, &prob);
        goto out;
    }
    enum minica_acme_eab_state st = minica_acme_eab_state(row, minica_now());
    if (st != MINICA_ACME_EAB_VALID) {
        minica_acme_problem_reply(
            resp, 403, "unauthorized", "the external account binding key %s is %s%s", row->kid,
            st == MINICA_ACME_EAB_BOUND ? "bound to another account" : "",
            st == MINICA_ACME_EAB_BOUND ? "" : minica_acme_eab_state_name(st));
        goto out;
    }
    snprintf(kid, MINICA_ACME_ID_MAX, "%s", row->kid);
    ret = 0;
out:
    mbedtls_pk_free(&pk);
    minica_jws_free(&inner);
    free(row);
    free(text);
    return ret;
}

/* Whether the requesting account may act (newOrder, finalize,
 * challenges): not when its EAB key was revoked. With ids (an
 * identifiers array), each must be in the key's lists too, on top of the
 * CA's policy. 0, or -1 with resp filled. */
int minica_acme_check_eab_account(struct minica_server *srv, const struct minica_acme_post *p,
                                  const cJSON *ids, struct minica_http_response *resp)
{
    if (p->acct.eab_kid[0] == '\0')
        return 0;
    struct minica_acme_eab_key *row = malloc(sizeof(*row));
    struct minica_err err;
    int ret = -1;
    if (row == NULL) {
        minica_seterr(&err, MINICA_ENOMEM, "out of memory");
        minica_acme_internal_reply(resp, MINICA_ENOMEM, &err);
        return -1;
    }
    int r = minica_store_acme_eab_get(minica_ca_store(srv->ca), p->acct.eab_kid, row, &err);
    if (r != 0) {
        minica_acme_internal_reply(resp, r, &err);
        goto out;
    }
    if (row->revoked_at != 0) {
        minica_acme_problem_reply(resp, 403, "unauthorized",
                                  "its external account binding key %s was revoked", row->kid);
        goto out;
    }
    const cJSON *id;
    cJSON_ArrayForEach(id, ids)
    {
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(id, "value"));
        struct minica_name name;
        /* What does not parse is check_identifier's (acme_order.c) to refuse. */
        if (v == NULL || minica_name_parse(v, &name, &err) != 0)
            continue;
        if (minica_acme_eab_check_name(row, &name, &err) != 0) {
            minica_acme_problem_reply(resp, 400, "rejectedIdentifier", "%s", err.msg);
            goto out;
        }
    }
    ret = 0;
out:
    free(row);
    return ret;
}

void minica_acme_handle_new_account(struct minica_server *srv, const char *base,
                                    struct minica_acme_post *p, struct minica_http_response *resp)
{
    struct minica_store *store = minica_ca_store(srv->ca);
    struct minica_err err;
    struct minica_acme_account a;
    memset(&a, 0, sizeof(a));
    if (minica_b64url_encode(p->thumbprint, 32, a.thumbprint, sizeof(a.thumbprint)) != 0) {
        minica_acme_problem_reply(resp, 500, "serverInternal", "thumbprint");
        return;
    }
    if (p->payload == NULL) {
        minica_acme_problem_reply(resp, 400, "malformed", "newAccount needs a JSON object payload");
        return;
    }
    int ret = minica_store_acme_account_by_thumbprint(store, a.thumbprint, &a, &err);
    if (ret == 0) {
        /* RFC 8555 7.3.1: the key's existing account, whatever else was asked. */
        respond_account(base, &a, 200, resp);
        return;
    }
    if (ret != MINICA_ENOENT) {
        minica_acme_internal_reply(resp, ret, &err);
        return;
    }
    const cJSON *only = cJSON_GetObjectItemCaseSensitive(p->payload, "onlyReturnExisting");
    if (cJSON_IsTrue(only)) {
        minica_acme_problem_reply(resp, 400, "accountDoesNotExist", "no account has this key");
        return;
    }
    const cJSON *tos = cJSON_GetObjectItemCaseSensitive(p->payload, "termsOfServiceAgreed");
    if (tos != NULL && !cJSON_IsBool(tos)) {
        minica_acme_problem_reply(resp, 400, "malformed", "termsOfServiceAgreed must be a boolean");
        return;
    }
    const cJSON *contact = cJSON_GetObjectItemCaseSensitive(p->payload, "contact");
    if (contact != NULL && check_contact(contact, a.contact, sizeof(a.contact), resp) != 0)
        return;
    if (check_eab(srv, base, p, a.eab_kid, resp) != 0)
        return;
    if (strlen(p->jws.jwk_json) >= sizeof(a.jwk)) {
        minica_acme_problem_reply(resp, 400, "badPublicKey", "the jwk is too long");
        return;
    }
    snprintf(a.jwk, sizeof(a.jwk), "%s", p->jws.jwk_json);
    snprintf(a.status, sizeof(a.status), "valid");
    a.created_at = minica_now();
    if ((ret = minica_acme_random_id(12, a.id, sizeof(a.id), &err)) != 0 ||
        (ret = minica_store_acme_account_insert(store, &a, &err)) != 0) {
        /* The key was bound, revoked or expired since check_eab. */
        if (ret == MINICA_EFORBIDDEN)
            minica_acme_problem_reply(resp, 403, "unauthorized", "%s", err.msg);
        else
            minica_acme_internal_reply(resp, ret, &err);
        return;
    }
    respond_account(base, &a, 201, resp);
    snprintf(resp->log, sizeof(resp->log), "acme account %s created%s%s", a.id,
             a.eab_kid[0] ? " with eab key " : "", a.eab_kid);
}

/* One page of an account's orders (RFC 8555 7.1.2.1): a
 * minica_acme_order_cb. Invalid orders are left out, as the RFC advises. */
struct order_page {
    cJSON *arr;
    const char *base;
    size_t seen;
    char last[MINICA_ACME_ID_MAX]; /* the last id of this page */
    int more;                      /* a row beyond the page exists */
};

static int list_order_url(const struct minica_acme_order *row, void *ctx)
{
    struct order_page *pg = ctx;
    if (pg->seen == MINICA_ACME_ORDERS_PAGE) {
        pg->more = 1;
        return 1;
    }
    pg->seen++;
    snprintf(pg->last, sizeof(pg->last), "%s", row->id);
    if (strcmp(row->status, "invalid") == 0)
        return 0;
    char url[MINICA_ACME_MAX_BASE + 128];
    snprintf(url, sizeof(url), "%s/acme/order/%s", pg->base, row->id);
    cJSON_AddItemToArray(pg->arr, cJSON_CreateString(url));
    return 0;
}

/* rest: "/orders" or "/orders/AFTER" (the next page's URL). */
static void handle_orders_list(struct minica_server *srv, const char *base,
                               struct minica_acme_post *p, const char *after,
                               struct minica_http_response *resp)
{
    struct minica_err err;
    cJSON *o = cJSON_CreateObject();
    struct order_page pg;
    memset(&pg, 0, sizeof(pg));
    pg.arr = cJSON_AddArrayToObject(o, "orders");
    pg.base = base;
    int ret = minica_store_acme_order_list(minica_ca_store(srv->ca), p->acct.id, after,
                                           MINICA_ACME_ORDERS_PAGE + 1, list_order_url, &pg, &err);
    if (ret < 0) {
        cJSON_Delete(o);
        minica_acme_internal_reply(resp, ret, &err);
        return;
    }
    minica_acme_respond_json(resp, 200, o);
    if (pg.more)
        minica_acme_add_header(resp, "Link", "<%s/acme/acct/%s/orders/%s>;rel=\"next\"", base,
                               p->acct.id, pg.last);
}

/* POST /acme/acct/ID: POST-as-GET, contact update, deactivation. */
void minica_acme_handle_account(struct minica_server *srv, const char *base, const char *id,
                                const char *rest, struct minica_acme_post *p,
                                struct minica_http_response *resp)
{
    if (strcmp(p->acct.id, id) != 0) {
        minica_acme_problem_reply(resp, 403, "unauthorized", "the kid is not this account");
        return;
    }
    char after[MINICA_ACME_ID_MAX];
    const char *tail;
    if (strcmp(rest, "/orders") == 0) {
        handle_orders_list(srv, base, p, NULL, resp);
        return;
    }
    if (minica_acme_path_id(rest, "/orders/", after, &tail) == 0 && tail[0] == '\0') {
        handle_orders_list(srv, base, p, after, resp);
        return;
    }
    if (rest[0] != '\0') {
        minica_acme_problem_reply(resp, 404, "malformed", "no such resource");
        return;
    }
    struct minica_store *store = minica_ca_store(srv->ca);
    struct minica_err err;
    if (p->payload != NULL) {
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(p->payload, "status");
        const cJSON *contact = cJSON_GetObjectItemCaseSensitive(p->payload, "contact");
        char stored[MINICA_ACME_CONTACT_MAX];
        const char *new_status = NULL, *new_contact = NULL;
        if (status != NULL) {
            if (!cJSON_IsString(status) || strcmp(status->valuestring, "deactivated") != 0) {
                minica_acme_problem_reply(resp, 400, "malformed",
                                          "an account's status can only become deactivated");
                return;
            }
            new_status = "deactivated";
        }
        if (contact != NULL) {
            if (check_contact(contact, stored, sizeof(stored), resp) != 0)
                return;
            new_contact = stored;
        }
        if (new_status != NULL || new_contact != NULL) {
            int ret = minica_store_acme_account_update(store, id, new_contact, new_status, &err);
            if (ret == MINICA_EBUSY) {
                minica_acme_problem_reply(resp, 403, "unauthorized",
                                          "the account is no longer valid");
                return;
            }
            if (ret != 0 || (ret = minica_store_acme_account_get(store, id, &p->acct, &err)) != 0) {
                minica_acme_internal_reply(resp, ret, &err);
                return;
            }
        }
    }
    respond_account(base, &p->acct, 200, resp);
}

/* ---- key change ---- */

/* RFC 8555 7.3.5: the outer JWS by the account's key, the inner by the new
 * one, naming the account and the old key. */
void minica_acme_handle_key_change(struct minica_server *srv, const char *base,
                                   struct minica_acme_post *p, struct minica_http_response *resp)
{
    if (p->payload == NULL) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "keyChange needs the inner JWS as payload");
        return;
    }
    struct minica_jws inner;
    struct minica_acme_problem prob;
    struct minica_err err;
    minica_jws_init(&inner);
    mbedtls_pk_context old;
    mbedtls_pk_init(&old);
    if (minica_jws_parse((const char *)p->jws.payload, p->jws.payload_len,
                         MINICA_JWS_KEYCHANGE_INNER, &inner, &prob) != 0 ||
        minica_jws_verify(&inner, &inner.jwk_key, &prob) != 0) {
        minica_acme_jws_problem_reply(resp, &prob);
        goto out;
    }
    if (strcmp(inner.url, p->jws.url) != 0) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "the inner JWS url differs from the outer one");
        goto out;
    }
    cJSON *ip = cJSON_ParseWithLength((const char *)inner.payload, inner.payload_len);
    const char *account = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ip, "account"));
    const cJSON *old_key = cJSON_GetObjectItemCaseSensitive(ip, "oldKey");
    char *old_text = old_key ? cJSON_PrintUnformatted(old_key) : NULL;
    unsigned char old_tp[32];
    int ok_account = account != NULL && strcmp(account, p->jws.kid) == 0;
    int ok_old = old_text != NULL &&
                 minica_jwk_parse(old_text, strlen(old_text), &old, old_tp, &prob) == 0 &&
                 memcmp(old_tp, p->thumbprint, 32) == 0;
    free(old_text);
    cJSON_Delete(ip);
    if (!ok_account) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "the inner payload's account is not the outer kid");
        goto out;
    }
    if (!ok_old) {
        minica_acme_problem_reply(resp, 400, "malformed",
                                  "the inner payload's oldKey is not the account's key");
        goto out;
    }
    char new_tp[MINICA_ACME_THUMBPRINT_MAX];
    minica_b64url_encode(inner.jwk_thumbprint, 32, new_tp, sizeof(new_tp));
    struct minica_store *store = minica_ca_store(srv->ca);
    int ret = minica_store_acme_account_key_change(store, p->acct.id, p->acct.thumbprint, new_tp,
                                                   inner.jwk_json, &err);
    if (ret == MINICA_EEXIST) {
        struct minica_acme_account other;
        if (minica_store_acme_account_by_thumbprint(store, new_tp, &other, NULL) == 0)
            minica_acme_add_header(resp, "Location", "%s/acme/acct/%s", base, other.id);
        minica_acme_problem_reply(resp, 409, "malformed", "another account has the new key");
        goto out;
    }
    if (ret == MINICA_EBUSY) {
        minica_acme_problem_reply(resp, 409, "malformed", "the account's key changed meanwhile");
        goto out;
    }
    if (ret != 0 || (ret = minica_store_acme_account_get(store, p->acct.id, &p->acct, &err)) != 0) {
        minica_acme_internal_reply(resp, ret, &err);
        goto out;
    }
    respond_account(base, &p->acct, 200, resp);
    snprintf(resp->log, sizeof(resp->log), "acme account %s changed its key", p->acct.id);
out:
    mbedtls_pk_free(&old);
    minica_jws_free(&inner);
}
