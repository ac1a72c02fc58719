/* The ACME server (RFC 8555): routing under /acme/, the JWS checks every
 * POST shares (url, account key, nonce), the resources as JSON and their
 * state moves in the store. Signatures and JWKs are serve/jws.c, dialing
 * the client is serve/acme_validate.c, issuance is minica_ca_issue. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <mbedtls/pem.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "base/b64url.h"
#include "base/util.h"
#include "ca/x509.h"
#include "minica/acme_eab.h"
#include "minica/issue.h"
#include "minica/lifecycle.h"
#include "minica/names.h"
#include "minica/revoke.h"
#include "minica/store_acme.h"
#include "serve/acme.h"
#include "serve/acme_ari.h"
#include "serve/acme_nonce.h"
#include "serve/jws.h"
#include "serve/serve_internal.h"

#define URN "urn:ietf:params:acme:error:"
#define MAX_HOST 255
#define MAX_BASE (MAX_HOST + 16)
#define MAX_CSR_DER (16 * 1024)

/* ---- responses ---- */

static void add_header(struct minica_http_response *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_header(struct minica_http_response *resp, const char *name, const char *fmt, ...)
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

static void set_body(struct minica_http_response *resp, int status, const char *type, char *text)
{
    free(resp->body);
    resp->status = status;
    resp->content_type = type;
    resp->body = text;
    resp->body_len = text ? strlen(text) : 0;
}

static void respond_json(struct minica_http_response *resp, int status, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (text == NULL) {
        set_body(resp, 500, "application/problem+json",
                 minica_strdup("{\"type\":\"" URN "serverInternal\",\"detail\":\"out of "
                               "memory\",\"status\":500}"));
        return;
    }
    set_body(resp, status, "application/json", text);
}

/* An RFC 7807 problem document with an RFC 8555 type ("malformed"), and
 * the "algorithms" member when algorithms is not NULL. */
static void problem_doc(struct minica_http_response *resp, int status, const char *type,
                        const char *detail, const char *const *algorithms)
{
    char urn[96];
    snprintf(urn, sizeof(urn), URN "%s", type);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", urn);
    cJSON_AddStringToObject(o, "detail", detail);
    cJSON_AddNumberToObject(o, "status", status);
    if (algorithms != NULL) {
        cJSON *algs = cJSON_AddArrayToObject(o, "algorithms");
        for (; *algorithms != NULL; algorithms++)
            cJSON_AddItemToArray(algs, cJSON_CreateString(*algorithms));
    }
    respond_json(resp, status, o);
    resp->content_type = "application/problem+json";
    snprintf(resp->log, sizeof(resp->log), "%s: %s", type, detail);
}

static void problem(struct minica_http_response *resp, int status, const char *type,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void problem(struct minica_http_response *resp, int status, const char *type,
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
static void jws_problem(struct minica_http_response *resp, const struct minica_acme_problem *p)
{
    const char *urn = minica_acme_problem_urn(p->type);
    const char *type = strncmp(urn, URN, strlen(URN)) == 0 ? urn + strlen(URN) : "malformed";
    int status = p->type == MINICA_ACME_PROBLEM_UNAUTHORIZED      ? 403
                 : p->type == MINICA_ACME_PROBLEM_SERVER_INTERNAL ? 500
                                                                  : 400;
    problem_doc(resp, status, type, p->detail,
                p->type == MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM ? jws_algorithms : NULL);
}

static void internal(struct minica_http_response *resp, const struct minica_err *err)
{
    problem(resp, 500, "serverInternal", "the CA could not complete the request");
    snprintf(resp->log, sizeof(resp->log), "serverInternal: %s", err->msg);
}

/* ---- ids, nonces, URLs ---- */

/* n random octets as base64url into out. */
static int random_id(size_t n, char *out, size_t out_size, struct minica_err *err)
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
static void add_nonce(struct minica_server *srv, struct minica_http_response *resp)
{
    struct minica_err err;
    char nonce[MINICA_ACME_NONCE_TEXT_MAX];
    if (minica_acme_nonce_make(srv->acme_nonce_key, minica_now() + MINICA_ACME_NONCE_TTL, nonce,
                               sizeof(nonce), &err) == 0)
        add_header(resp, "Replay-Nonce", "%s", nonce);
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
static int base_url(const struct minica_http_request *req, char *out, size_t out_size)
{
    const char *h = req->host;
    if (h == NULL || h[0] == '\0' || strlen(h) > MAX_HOST)
        return -1;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == ':' || *p == '[' || *p == ']'))
            return -1;
    snprintf(out, out_size, "https://%s", h);
    return 0;
}

/* ---- the JWS every POST carries ---- */

enum key_kind { KEY_JWK, KEY_KID, KEY_EITHER };

struct post {
    struct minica_jws jws;
    struct minica_acme_account acct; /* for kid requests */
    int has_acct;
    mbedtls_pk_context acct_key;
    unsigned char thumbprint[32]; /* of the key that signed */
    cJSON *payload;               /* NULL for POST-as-GET */
};

static void post_free(struct post *p)
{
    minica_jws_free(&p->jws);
    mbedtls_pk_free(&p->acct_key);
    cJSON_Delete(p->payload);
}

/* Parses and checks the request: the url (RFC 8555 6.4), the key (jwk for
 * newAccount, kid of a valid account otherwise), the signature and the
 * nonce (6.5), the payload (a JSON object, or empty for POST-as-GET).
 * Call with the CA lock held. 0, or -1 with resp filled. */
static int check_post(struct minica_server *srv, const struct minica_http_request *req,
                      const char *base, enum key_kind kind, struct post *p,
                      struct minica_http_response *resp)
{
    struct minica_acme_problem prob;
    memset(&prob, 0, sizeof(prob));
    if (minica_jws_parse(req->body ? req->body : "", req->body_len, MINICA_JWS_REQUEST, &p->jws,
                         &prob) != 0) {
        jws_problem(resp, &prob);
        return -1;
    }
    char want[MAX_BASE + 1024];
    snprintf(want, sizeof(want), "%s%s", base, req->path);
    if (strcmp(p->jws.url, want) != 0) {
        problem(resp, 403, "unauthorized", "the JWS url is not this request's URL (%s)", want);
        return -1;
    }
    if (kind == KEY_JWK && p->jws.jwk_json == NULL) {
        problem(resp, 400, "malformed", "this request must carry a jwk, not a kid");
        return -1;
    }
    if (kind == KEY_KID && p->jws.kid == NULL) {
        problem(resp, 400, "malformed", "this request must carry a kid, not a jwk");
        return -1;
    }
    struct minica_store *store = minica_ca_store(srv->ca);
    struct minica_err err;
    const mbedtls_pk_context *key = &p->jws.jwk_key;
    if (p->jws.kid != NULL) {
        char prefix[MAX_BASE + 16];
        snprintf(prefix, sizeof(prefix), "%s/acme/acct/", base);
        size_t pl = strlen(prefix);
        const char *id = p->jws.kid + pl;
        if (strncmp(p->jws.kid, prefix, pl) != 0 || id[0] == '\0' || strchr(id, '/') != NULL ||
            strlen(id) >= MINICA_ACME_ID_MAX) {
            problem(resp, 400, "accountDoesNotExist", "the kid is not an account URL of this CA");
            return -1;
        }
        int ret = minica_store_acme_account_get(store, id, &p->acct, &err);
        if (ret == MINICA_ENOENT) {
            problem(resp, 400, "accountDoesNotExist", "no account %s", id);
            return -1;
        }
        if (ret != 0) {
            internal(resp, &err);
            return -1;
        }
        if (strcmp(p->acct.status, "valid") != 0) {
            problem(resp, 403, "unauthorized", "the account is %s", p->acct.status);
            return -1;
        }
        if (minica_jwk_parse(p->acct.jwk, strlen(p->acct.jwk), &p->acct_key, p->thumbprint,
                             &prob) != 0) {
            problem(resp, 500, "serverInternal", "the account's stored key cannot be read");
            return -1;
        }
        p->has_acct = 1;
        key = &p->acct_key;
    } else {
        memcpy(p->thumbprint, p->jws.jwk_thumbprint, sizeof(p->thumbprint));
    }
    if (minica_jws_verify(&p->jws, key, &prob) != 0) {
        jws_problem(resp, &prob);
        return -1;
    }
    /* After the signature: only the key's holder can spend a nonce. */
    int spent = spend_nonce(srv, p->jws.nonce, &err);
    if (spent == MINICA_EFORBIDDEN) {
        problem(resp, 400, "badNonce", "%s; retry with the Replay-Nonce of this answer", err.msg);
        return -1;
    }
    if (spent != 0) {
        internal(resp, &err);
        return -1;
    }
    if (p->jws.payload_len > 0) {
        p->payload = cJSON_ParseWithLength((const char *)p->jws.payload, p->jws.payload_len);
        if (p->payload == NULL || !cJSON_IsObject(p->payload)) {
            problem(resp, 400, "malformed", "the payload is not a JSON object");
            return -1;
        }
    }
    return 0;
}

/* The id after prefix in path, up to the next '/' (rest gets what follows). */
static int path_id(const char *path, const char *prefix, char *id, const char **rest)
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

static void add_time(cJSON *o, const char *member, int64_t t)
{
    char text[21];
    minica_unix_to_rfc3339(t, text);
    cJSON_AddStringToObject(o, member, text);
}

/* A stored problem document (or "") as a member. */
static void add_error(cJSON *o, const char *stored)
{
    if (stored[0] == '\0')
        return;
    cJSON *e = cJSON_Parse(stored);
    if (e != NULL)
        cJSON_AddItemToObject(o, "error", e);
}

static void problem_text(char *out, size_t size, const char *type, const char *detail)
{
    cJSON *o = cJSON_CreateObject();
    char urn[96];
    snprintf(urn, sizeof(urn), URN "%s", type);
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

/* ---- directory, nonces ---- */

static void handle_directory(const char *base, int eab_required, struct minica_http_response *resp)
{
    static const char *const members[][2] = {
        {"newNonce", "new-nonce"},   {"newAccount", "new-account"},
        {"newOrder", "new-order"},   {"revokeCert", "revoke-cert"},
        {"keyChange", "key-change"}, {"renewalInfo", "renewal-info"}, /* RFC 9773 3 */
    };
    cJSON *o = cJSON_CreateObject();
    char url[MAX_BASE + 64];
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        snprintf(url, sizeof(url), "%s/acme/%s", base, members[i][1]);
        cJSON_AddStringToObject(o, members[i][0], url);
    }
    cJSON *meta = cJSON_AddObjectToObject(o, "meta");
    cJSON_AddBoolToObject(meta, "externalAccountRequired", eab_required);
    respond_json(resp, 200, o);
}

/* ---- accounts ---- */

static cJSON *account_json(const char *base, const struct minica_acme_account *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", a->status);
    cJSON *contact = a->contact[0] ? cJSON_Parse(a->contact) : NULL;
    cJSON_AddItemToObject(o, "contact", contact ? contact : cJSON_CreateArray());
    char url[MAX_BASE + 128];
    snprintf(url, sizeof(url), "%s/acme/acct/%s/orders", base, a->id);
    cJSON_AddStringToObject(o, "orders", url);
    return o;
}

static void respond_account(const char *base, const struct minica_acme_account *a, int status,
                            struct minica_http_response *resp)
{
    respond_json(resp, status, account_json(base, a));
    add_header(resp, "Location", "%s/acme/acct/%s", base, a->id);
}

/* RFC 8555 7.3: mailto: URLs only, one address each, no hfields. Fills out
 * with the array as stored. 0, or -1 with resp filled. */
static int check_contact(const cJSON *contact, char *out, size_t size,
                         struct minica_http_response *resp)
{
    if (!cJSON_IsArray(contact)) {
        problem(resp, 400, "malformed", "contact must be an array of mailto: URLs");
        return -1;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, contact)
    {
        if (!cJSON_IsString(c) || strncmp(c->valuestring, "mailto:", 7) != 0) {
            problem(resp, 400, "unsupportedContact", "only mailto: contacts are supported");
            return -1;
        }
        const char *addr = c->valuestring + 7;
        const char *at = strchr(addr, '@');
        if (at == NULL || at == addr || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
            strpbrk(addr, "?,;<> \t\r\n\"") != NULL || strlen(addr) > 254) {
            problem(resp, 400, "invalidContact", "a contact is not one plain mailto: address");
            return -1;
        }
    }
    char *t = cJSON_PrintUnformatted(contact);
    if (t == NULL || strlen(t) >= size) {
        free(t);
        problem(resp, 400, "invalidContact", "too many contacts");
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
static int check_eab(struct minica_server *srv, const char *base, const struct post *p,
                     char kid[MINICA_ACME_ID_MAX], struct minica_http_response *resp)
{
    kid[0] = '\0';
    const cJSON *eab = cJSON_GetObjectItemCaseSensitive(p->payload, "externalAccountBinding");
    if (eab == NULL) {
        if (!minica_ca_policy(srv->ca)->acme.eab_required)
            return 0;
        problem(resp, 403, "externalAccountRequired",
                "this CA requires an external account binding: a kid and MAC key from "
                "'minica acme eab create'");
        return -1;
    }
    if (!cJSON_IsObject(eab)) {
        problem(resp, 400, "malformed", "externalAccountBinding must be a JWS object");
        return -1;
    }
    struct minica_jws inner;
    struct minica_acme_problem prob;
    struct minica_acme_eab_key *row = malloc(sizeof(*row));
    struct minica_err err;
    unsigned char key[MINICA_ACME_EAB_HMAC_LEN], tp[32];
    mbedtls_pk_context pk;
    char *text = cJSON_PrintUnformatted(eab), want[MAX_BASE + 32];
    int ret = -1;
    minica_jws_init(&inner);
    mbedtls_pk_init(&pk);
    memset(&prob, 0, sizeof(prob));
    if (text == NULL || row == NULL) {
        minica_seterr(&err, MINICA_ENOMEM, "out of memory");
        internal(resp, &err);
        goto out;
    }
    if (minica_jws_parse(text, strlen(text), MINICA_JWS_EAB_INNER, &inner, &prob) != 0) {
        jws_problem(resp, &prob);
        goto out;
    }
    snprintf(want, sizeof(want), "%s/acme/new-account", base);
    if (strcmp(inner.url, want) != 0) {
        problem(resp, 403, "unauthorized",
                "the external account binding's url is not the newAccount URL (%s)", want);
        goto out;
    }
    if (minica_jwk_parse((const char *)inner.payload, inner.payload_len, &pk, tp, &prob) != 0) {
        problem(resp, 400, "malformed", "the external account binding's payload is not a JWK");
        goto out;
    }
    if (memcmp(tp, p->thumbprint, sizeof(tp)) != 0) {
        problem(resp, 403, "unauthorized",
                "the external account binding is for another key than this request's jwk");
        goto out;
    }
    int r = strlen(inner.kid) < MINICA_ACME_ID_MAX
                ? minica_store_acme_eab_get(minica_ca_store(srv->ca), inner.kid, row, &err)
                : MINICA_ENOENT;
    if (r == MINICA_ENOENT) {
        problem(resp, 403, "unauthorized", "no such external account binding key");
        goto out;
    }
    if (r != 0 || (r = minica_acme_eab_mac_key(srv->ca, row->kid, key, &err)) != 0) {
        internal(resp, &err);
        goto out;
    }
    r = minica_jws_verify_hmac(&inner, key, sizeof(key), &prob);
    mbedtls_platform_zeroize(key, sizeof(key));
    if (r != 0) {
        jws_problem(resp, &prob);
        goto out;
    }
    enum minica_acme_eab_state st = minica_acme_eab_state(row, minica_now());
    if (st != MINICA_ACME_EAB_VALID) {
        problem(resp, 403, "unauthorized", "the external account binding key %s is %s%s", row->kid,
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
static int check_eab_account(struct minica_server *srv, const struct post *p, const cJSON *ids,
                             struct minica_http_response *resp)
{
    if (p->acct.eab_kid[0] == '\0')
        return 0;
    struct minica_acme_eab_key *row = malloc(sizeof(*row));
    struct minica_err err;
    int ret = -1;
    if (row == NULL) {
        minica_seterr(&err, MINICA_ENOMEM, "out of memory");
        internal(resp, &err);
        return -1;
    }
    int r = minica_store_acme_eab_get(minica_ca_store(srv->ca), p->acct.eab_kid, row, &err);
    if (r != 0) {
        internal(resp, &err);
        goto out;
    }
    if (row->revoked_at != 0) {
        problem(resp, 403, "unauthorized", "its external account binding key %s was revoked",
                row->kid);
        goto out;
    }
    const cJSON *id;
    cJSON_ArrayForEach(id, ids)
    {
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(id, "value"));
        struct minica_name name;
        /* What does not parse is check_identifier's to refuse. */
        if (v == NULL || minica_name_parse(v, &name, &err) != 0)
            continue;
        if (minica_acme_eab_check_name(row, &name, &err) != 0) {
            problem(resp, 400, "rejectedIdentifier", "%s", err.msg);
            goto out;
        }
    }
    ret = 0;
out:
    free(row);
    return ret;
}

static void handle_new_account(struct minica_server *srv, const char *base, struct post *p,
                               struct minica_http_response *resp)
{
    struct minica_store *store = minica_ca_store(srv->ca);
    struct minica_err err;
    struct minica_acme_account a;
    memset(&a, 0, sizeof(a));
    if (minica_b64url_encode(p->thumbprint, 32, a.thumbprint, sizeof(a.thumbprint)) != 0) {
        problem(resp, 500, "serverInternal", "thumbprint");
        return;
    }
    if (p->payload == NULL) {
        problem(resp, 400, "malformed", "newAccount needs a JSON object payload");
        return;
    }
    int ret = minica_store_acme_account_by_thumbprint(store, a.thumbprint, &a, &err);
    if (ret == 0) {
        /* RFC 8555 7.3.1: the key's existing account, whatever else was asked. */
        respond_account(base, &a, 200, resp);
        return;
    }
    if (ret != MINICA_ENOENT) {
        internal(resp, &err);
        return;
    }
    const cJSON *only = cJSON_GetObjectItemCaseSensitive(p->payload, "onlyReturnExisting");
    if (cJSON_IsTrue(only)) {
        problem(resp, 400, "accountDoesNotExist", "no account has this key");
        return;
    }
    const cJSON *tos = cJSON_GetObjectItemCaseSensitive(p->payload, "termsOfServiceAgreed");
    if (tos != NULL && !cJSON_IsBool(tos)) {
        problem(resp, 400, "malformed", "termsOfServiceAgreed must be a boolean");
        return;
    }
    const cJSON *contact = cJSON_GetObjectItemCaseSensitive(p->payload, "contact");
    if (contact != NULL && check_contact(contact, a.contact, sizeof(a.contact), resp) != 0)
        return;
    if (check_eab(srv, base, p, a.eab_kid, resp) != 0)
        return;
    if (strlen(p->jws.jwk_json) >= sizeof(a.jwk)) {
        problem(resp, 400, "badPublicKey", "the jwk is too long");
        return;
    }
    snprintf(a.jwk, sizeof(a.jwk), "%s", p->jws.jwk_json);
    snprintf(a.status, sizeof(a.status), "valid");
    a.created_at = minica_now();
    if ((ret = random_id(12, a.id, sizeof(a.id), &err)) != 0 ||
        (ret = minica_store_acme_account_insert(store, &a, &err)) != 0) {
        /* The key was bound, revoked or expired since check_eab. */
        if (ret == MINICA_EFORBIDDEN)
            problem(resp, 403, "unauthorized", "%s", err.msg);
        else
            internal(resp, &err);
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
    char url[MAX_BASE + 128];
    snprintf(url, sizeof(url), "%s/acme/order/%s", pg->base, row->id);
    cJSON_AddItemToArray(pg->arr, cJSON_CreateString(url));
    return 0;
}

/* rest: "/orders" or "/orders/AFTER" (the next page's URL). */
static void handle_orders_list(struct minica_server *srv, const char *base, struct post *p,
                               const char *after, struct minica_http_response *resp)
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
        internal(resp, &err);
        return;
    }
    respond_json(resp, 200, o);
    if (pg.more)
        add_header(resp, "Link", "<%s/acme/acct/%s/orders/%s>;rel=\"next\"", base, p->acct.id,
                   pg.last);
}

/* POST /acme/acct/ID: POST-as-GET, contact update, deactivation. */
static void handle_account(struct minica_server *srv, const char *base, const char *id,
                           const char *rest, struct post *p, struct minica_http_response *resp)
{
    if (strcmp(p->acct.id, id) != 0) {
        problem(resp, 403, "unauthorized", "the kid is not this account");
        return;
    }
    char after[MINICA_ACME_ID_MAX];
    const char *tail;
    if (strcmp(rest, "/orders") == 0) {
        handle_orders_list(srv, base, p, NULL, resp);
        return;
    }
    if (path_id(rest, "/orders/", after, &tail) == 0 && tail[0] == '\0') {
        handle_orders_list(srv, base, p, after, resp);
        return;
    }
    if (rest[0] != '\0') {
        problem(resp, 404, "malformed", "no such resource");
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
                problem(resp, 400, "malformed", "an account's status can only become deactivated");
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
                problem(resp, 403, "unauthorized", "the account is no longer valid");
                return;
            }
            if (ret != 0 || (ret = minica_store_acme_account_get(store, id, &p->acct, &err)) != 0) {
                internal(resp, &err);
                return;
            }
        }
    }
    respond_account(base, &p->acct, 200, resp);
}

/* ---- orders, authorizations, challenges ---- */

/* An order's authorization URLs: a minica_acme_authz_cb. */
struct authz_urls {
    cJSON *arr;
    const char *base;
};

static int add_authz_url(const struct minica_acme_authz *row, void *ctx)
{
    struct authz_urls *u = ctx;
    char url[MAX_BASE + 128];
    snprintf(url, sizeof(url), "%s/acme/authz/%s", u->base, row->id);
    cJSON_AddItemToArray(u->arr, cJSON_CreateString(url));
    return 0;
}

static void respond_order(struct minica_server *srv, const char *base,
                          const struct minica_acme_order *o, int status,
                          struct minica_http_response *resp)
{
    struct minica_err err;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "status", o->status);
    add_time(j, "expires", o->expires_at);
    cJSON *ids = cJSON_Parse(o->identifiers);
    cJSON_AddItemToObject(j, "identifiers", ids ? ids : cJSON_CreateArray());
    struct authz_urls u = {cJSON_AddArrayToObject(j, "authorizations"), base};
    if (minica_store_acme_authz_list(minica_ca_store(srv->ca), o->id, add_authz_url, &u, &err) !=
        0) {
        cJSON_Delete(j);
        internal(resp, &err);
        return;
    }
    char url[MAX_BASE + 128];
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
    add_error(j, o->error);
    respond_json(resp, status, j);
    add_header(resp, "Location", "%s/acme/order/%s", base, o->id);
    if (strcmp(o->status, "processing") == 0)
        add_header(resp, "Retry-After", "1");
}

/* Parses and checks one identifier against the policy, the same check
 * issuance makes. 0, or -1 with resp filled. */
static int check_identifier(struct minica_server *srv, const cJSON *id, struct minica_name *name,
                            struct minica_http_response *resp)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(id, "type");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(id, "value");
    if (!cJSON_IsString(type) || !cJSON_IsString(value)) {
        problem(resp, 400, "malformed", "an identifier needs a type and a value (strings)");
        return -1;
    }
    int is_ip = strcmp(type->valuestring, "ip") == 0;
    if (!is_ip && strcmp(type->valuestring, "dns") != 0) {
        problem(resp, 400, "unsupportedIdentifier", "identifier types are dns and ip");
        return -1;
    }
    struct minica_err err;
    if (minica_name_parse(value->valuestring, name, &err) != 0 ||
        (name->kind == MINICA_NAME_IP) != is_ip) {
        problem(resp, 400, "rejectedIdentifier", "\"%.64s\" is not a%s", value->valuestring,
                is_ip ? "n IP address" : " DNS name");
        return -1;
    }
    if (strncmp(name->text, "*.", 2) == 0) {
        problem(resp, 400, "rejectedIdentifier",
                "%s: a wildcard needs dns-01, which this CA does not offer", name->text);
        return -1;
    }
    if (minica_policy_check_name(minica_ca_policy(srv->ca), name, &err) != 0) {
        problem(resp, 400, "rejectedIdentifier", "%s", err.msg);
        return -1;
    }
    return 0;
}

static void handle_new_order(struct minica_server *srv, const char *base, struct post *p,
                             struct minica_http_response *resp)
{
    static const char *const types[] = {"http-01", "tls-alpn-01"};
    enum { NT = 2 };
    const cJSON *ids =
        p->payload ? cJSON_GetObjectItemCaseSensitive(p->payload, "identifiers") : NULL;
    int n = cJSON_GetArraySize(ids);
    if (!cJSON_IsArray(ids) || n == 0) {
        problem(resp, 400, "malformed", "newOrder needs a non-empty identifiers array");
        return;
    }
    if (n > MINICA_MAX_SANS) {
        problem(resp, 400, "rejectedIdentifier", "at most %d identifiers", MINICA_MAX_SANS);
        return;
    }
    if (check_eab_account(srv, p, ids, resp) != 0)
        return;
    if (cJSON_GetObjectItemCaseSensitive(p->payload, "notBefore") != NULL ||
        cJSON_GetObjectItemCaseSensitive(p->payload, "notAfter") != NULL) {
        problem(resp, 400, "malformed",
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
        internal(resp, &err);
        goto out;
    }
    if (random_id(12, o->id, sizeof(o->id), &err) != 0) {
        internal(resp, &err);
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
                problem(resp, 400, "malformed", "identifier %s is listed twice", name.text);
                goto out;
            }
        struct minica_acme_authz *a = &az[i];
        if (random_id(12, a->id, sizeof(a->id), &err) != 0) {
            internal(resp, &err);
            goto out;
        }
        snprintf(a->order_id, sizeof(a->order_id), "%s", o->id);
        snprintf(a->type, sizeof(a->type), "%s", name.kind == MINICA_NAME_IP ? "ip" : "dns");
        snprintf(a->value, sizeof(a->value), "%s", name.text);
        snprintf(a->status, sizeof(a->status), "pending");
        a->expires_at = o->expires_at;
        for (int t = 0; t < NT; t++) {
            struct minica_acme_challenge *c = &ch[i * NT + t];
            if (random_id(12, c->id, sizeof(c->id), &err) != 0 ||
                random_id(32, c->token, sizeof(c->token), &err) != 0) {
                internal(resp, &err);
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
        problem(resp, 400, "rejectedIdentifier", "the identifiers are too long together");
        goto out;
    }
    snprintf(o->identifiers, sizeof(o->identifiers), "%s", text);
    free(text);
    struct minica_ari_problem ari;
    int ret = minica_acme_ari_replaces(srv, p->acct.id, p->payload, o->identifiers, o->replaces,
                                       &ari, &err);
    if (ret != 0) {
        if (ret == 1)
            problem(resp, ari.status, ari.type, "%s", ari.detail);
        else
            internal(resp, &err);
        goto out;
    }
    ret = minica_store_acme_order_insert(minica_ca_store(srv->ca), o, az, (size_t)n, ch,
                                         (size_t)n * NT, &err);
    if (ret == MINICA_EBUSY && o->replaces[0] != '\0') {
        problem(resp, 409, "alreadyReplaced", "certificate %s is already replaced by an order",
                o->replaces);
        goto out;
    }
    if (ret != 0) {
        internal(resp, &err);
        goto out;
    }
    respond_order(srv, base, o, 201, resp);
    snprintf(resp->log, sizeof(resp->log), "acme order %s for account %s", o->id, o->account_id);
out:
    cJSON_Delete(canon);
    free(ch);
    free(az);
    free(o);
}

/* The order, owned by the requesting account. 0, or -1 with resp filled. */
static int own_order(struct minica_server *srv, const struct post *p, const char *id,
                     struct minica_acme_order *o, struct minica_http_response *resp)
{
    struct minica_err err;
    int ret = minica_store_acme_order_get(minica_ca_store(srv->ca), id, o, &err);
    if (ret == MINICA_ENOENT) {
        problem(resp, 404, "malformed", "no such order");
        return -1;
    }
    if (ret != 0) {
        internal(resp, &err);
        return -1;
    }
    if (strcmp(o->account_id, p->acct.id) != 0) {
        problem(resp, 403, "unauthorized", "the order belongs to another account");
        return -1;
    }
    /* RFC 8555 7.1.6: an order not finalized in time becomes invalid; the
     * first request that sees it so moves it. */
    if ((strcmp(o->status, "pending") == 0 || strcmp(o->status, "ready") == 0) &&
        o->expires_at <= minica_now()) {
        char error[MINICA_ACME_ERROR_MAX];
        problem_text(error, sizeof(error), "malformed", "the order expired");
        ret = minica_store_acme_order_transition(minica_ca_store(srv->ca), id, o->status, "invalid",
                                                 NULL, error, &err);
        if ((ret == 0 || ret == MINICA_EBUSY) &&
            (ret = minica_store_acme_order_get(minica_ca_store(srv->ca), id, o, &err)) == 0)
            return 0;
        internal(resp, &err);
        return -1;
    }
    return 0;
}

/* An authorization and its order, owned by the requesting account. */
static int own_authz(struct minica_server *srv, const struct post *p, const char *id,
                     struct minica_acme_authz *a, struct minica_acme_order *o,
                     struct minica_http_response *resp)
{
    struct minica_err err;
    int ret = minica_store_acme_authz_get(minica_ca_store(srv->ca), id, a, &err);
    if (ret == MINICA_ENOENT) {
        problem(resp, 404, "malformed", "no such authorization");
        return -1;
    }
    if (ret != 0) {
        internal(resp, &err);
        return -1;
    }
    return own_order(srv, p, a->order_id, o, resp);
}

static cJSON *challenge_json(const char *base, const struct minica_acme_challenge *c)
{
    cJSON *j = cJSON_CreateObject();
    char url[MAX_BASE + 128];
    cJSON_AddStringToObject(j, "type", c->type);
    snprintf(url, sizeof(url), "%s/acme/chall/%s", base, c->id);
    cJSON_AddStringToObject(j, "url", url);
    cJSON_AddStringToObject(j, "token", c->token);
    cJSON_AddStringToObject(j, "status", c->status);
    if (c->validated_at != 0)
        add_time(j, "validated", c->validated_at);
    add_error(j, c->error);
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

static void handle_authz(struct minica_server *srv, const char *base, const char *id,
                         struct post *p, struct minica_http_response *resp)
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
                problem(resp, 400, "malformed",
                        "an authorization's status can only become deactivated");
                return;
            }
            int ret = minica_store_acme_authz_transition(minica_ca_store(srv->ca), id, a.status,
                                                         "deactivated", &err);
            if (ret == 0)
                ret = minica_store_acme_authz_get(minica_ca_store(srv->ca), id, &a, &err);
            if (ret != 0 && ret != MINICA_EBUSY) {
                internal(resp, &err);
                return;
            }
        }
    }
    cJSON *j = cJSON_CreateObject();
    cJSON *ident = cJSON_AddObjectToObject(j, "identifier");
    cJSON_AddStringToObject(ident, "type", a.type);
    cJSON_AddStringToObject(ident, "value", a.value);
    cJSON_AddStringToObject(j, "status", a.status);
    add_time(j, "expires", a.expires_at);
    struct chall_list l = {cJSON_AddArrayToObject(j, "challenges"), base};
    if (minica_store_acme_challenge_list(minica_ca_store(srv->ca), id, add_challenge, &l, &err) !=
        0) {
        cJSON_Delete(j);
        internal(resp, &err);
        return;
    }
    if (a.wildcard)
        cJSON_AddBoolToObject(j, "wildcard", 1);
    respond_json(resp, 200, j);
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
        const char *type =
            strncmp(urn, URN, strlen(URN)) == 0 ? urn + strlen(URN) : "serverInternal";
        problem_text(error, error_size, type, err.msg);
    }
    return ret;
}

static void handle_challenge(struct minica_server *srv, const char *base, const char *id,
                             struct post *p, struct minica_http_response *resp)
{
    struct minica_acme_challenge c;
    struct minica_acme_authz a;
    struct minica_acme_order o;
    struct minica_err err;
    int ret = minica_store_acme_challenge_get(minica_ca_store(srv->ca), id, &c, &err);
    if (ret == MINICA_ENOENT) {
        problem(resp, 404, "malformed", "no such challenge");
        return;
    }
    if (ret != 0) {
        internal(resp, &err);
        return;
    }
    if (own_authz(srv, p, c.authz_id, &a, &o, resp) != 0 ||
        check_eab_account(srv, p, NULL, resp) != 0)
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
            problem(resp, 500, "serverInternal", "key authorization");
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
            problem(resp, 503, "rateLimited", "too many validations in flight; retry");
            add_header(resp, "Retry-After", "1");
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
            internal(resp, &err);
            return;
        }
        if ((ret = minica_store_acme_challenge_get(store, id, &c, &err)) != 0) {
            internal(resp, &err);
            return;
        }
    }
    respond_json(resp, 200, challenge_json(base, &c));
    add_header(resp, "Link", "<%s/acme/authz/%s>;rel=\"up\"", base, a.id);
    if (strcmp(c.status, "processing") == 0)
        add_header(resp, "Retry-After", "1");
}

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

static void handle_finalize(struct minica_server *srv, const char *base, const char *id,
                            struct post *p, struct minica_http_response *resp)
{
    struct minica_acme_order o;
    struct minica_err err;
    if (own_order(srv, p, id, &o, resp) != 0)
        return;
    /* Again at finalize: the key may have been revoked since newOrder. */
    cJSON *ids = cJSON_Parse(o.identifiers);
    int refused = check_eab_account(srv, p, ids, resp);
    cJSON_Delete(ids);
    if (refused)
        return;
    if (strcmp(o.status, "ready") != 0) {
        problem(resp, 403, "orderNotReady", "the order is %s, not ready", o.status);
        return;
    }
    const char *csr64 =
        p->payload ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p->payload, "csr"))
                   : NULL;
    if (csr64 == NULL) {
        problem(resp, 400, "malformed", "finalize needs {\"csr\": base64url DER}");
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
        internal(resp, &err);
        goto out;
    }
    if (minica_b64url_decode(csr64, strlen(csr64), der, MAX_CSR_DER, &der_len) != 0 ||
        mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE REQUEST-----\n",
                                 "-----END CERTIFICATE REQUEST-----\n", der, der_len, pem,
                                 MAX_CSR_DER * 2, &pem_len) != 0) {
        problem(resp, 400, "badCSR", "csr is not base64url DER");
        goto out;
    }
    if (minica_csr_names_unverified((const char *)pem, cn, sizeof(cn), csr_sans, sizeof(csr_sans),
                                    &err) != 0) {
        problem(resp, 400, "badCSR", "%s", err.msg);
        goto out;
    }
    /* RFC 8555 7.4: exactly the order's identifiers, the CN (if any) one of them. */
    size_t n = order_names(o.identifiers, names, MINICA_MAX_SANS), n_csr = 0;
    const char *s = csr_sans[0] ? csr_sans : cn;
    for (; *s; s += strcspn(s, ","), s += (*s == ',')) {
        size_t l = strcspn(s, ",");
        if (!in_names(names, n, s, l)) {
            problem(resp, 400, "badCSR", "the CSR asks for %.*s, which the order does not name",
                    (int)l, s);
            goto out;
        }
        n_csr++;
    }
    if (n_csr != n || (cn[0] && !in_names(names, n, cn, strlen(cn)))) {
        problem(resp, 400, "badCSR", "the CSR's names are not exactly the order's identifiers");
        goto out;
    }
    struct minica_store *store = minica_ca_store(srv->ca);
    if (minica_store_acme_order_transition(store, id, "ready", "processing", NULL, NULL, &err) !=
        0) {
        problem(resp, 403, "orderNotReady", "the order is being finalized");
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
        problem_text(error, sizeof(error), client ? "badCSR" : "serverInternal", err.msg);
        minica_store_acme_order_transition(store, id, "processing", client ? "ready" : "invalid",
                                           NULL, client ? "" : error, NULL);
        if (client)
            problem(resp, 400, ret == MINICA_EPOLICY ? "rejectedIdentifier" : "badCSR", "%s",
                    err.msg);
        else
            internal(resp, &err);
        goto out;
    }
    minica_issued_free(&issued);
    if (minica_store_acme_order_get(store, id, &o, &err) != 0) {
        internal(resp, &err);
        goto out;
    }
    respond_order(srv, base, &o, 200, resp);
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

static void handle_cert(struct minica_server *srv, const char *id, struct post *p,
                        struct minica_http_response *resp)
{
    struct minica_acme_order o;
    struct minica_err err;
    if (own_order(srv, p, id, &o, resp) != 0)
        return;
    if (strcmp(o.status, "valid") != 0) {
        problem(resp, 404, "malformed", "the order has no certificate");
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
        internal(resp, &err);
        return;
    }
    size_t len = strlen(leaf.pem) + strlen(chain) + 2;
    char *body = malloc(len);
    if (body == NULL) {
        free(leaf.pem);
        free(chain);
        minica_seterr(&err, MINICA_ENOMEM, "out of memory");
        internal(resp, &err);
        return;
    }
    snprintf(body, len, "%s%s", leaf.pem, chain);
    free(leaf.pem);
    free(chain);
    set_body(resp, 200, "application/pem-certificate-chain", body);
}

/* ---- revocation and key change ---- */

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

static void handle_revoke(struct minica_server *srv, struct post *p,
                          struct minica_http_response *resp)
{
    const char *cert64 =
        p->payload
            ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p->payload, "certificate"))
            : NULL;
    if (cert64 == NULL) {
        problem(resp, 400, "malformed", "revokeCert needs {\"certificate\": base64url DER}");
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
            problem(resp, 400, "badRevocationReason", "reasons are 0, 1, 3, 4 and 5");
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
        problem(resp, 400, "malformed", "the certificate is not one this CA issued");
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
        internal(resp, &err);
        return;
    }
    if (!found.found || strcmp(found.row.fingerprint_sha256, fp) != 0) {
        free(der);
        problem(resp, 400, "malformed", "the certificate is not in this CA's inventory");
        return;
    }
    int allowed;
    if (p->has_acct) {
        struct owned o = {serial, 0};
        ret = minica_store_acme_order_list(store, p->acct.id, NULL, 100000, find_serial, &o, &err);
        if (ret < 0) {
            free(der);
            internal(resp, &err);
            return;
        }
        allowed = o.found;
    } else {
        allowed = same_public_key(der, der_len, &p->jws.jwk_key);
    }
    free(der);
    if (!allowed) {
        problem(resp, 403, "unauthorized",
                p->has_acct ? "the account did not order this certificate"
                            : "the jwk is not the certificate's key");
        return;
    }
    if (minica_cert_row_status(&found.row, minica_now()) == MINICA_STATUS_REVOKED) {
        problem(resp, 400, "alreadyRevoked", "certificate %s is already revoked", serial);
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
        internal(resp, &err);
        return;
    }
    if (newly == 0) {
        problem(resp, 400, "alreadyRevoked", "certificate %s is already revoked", serial);
        return;
    }
    set_body(resp, 200, "application/json", NULL);
    snprintf(resp->log, sizeof(resp->log), "acme revoked serial %s", serial);
}

/* RFC 8555 7.3.5: the outer JWS by the account's key, the inner by the new
 * one, naming the account and the old key. */
static void handle_key_change(struct minica_server *srv, const char *base, struct post *p,
                              struct minica_http_response *resp)
{
    if (p->payload == NULL) {
        problem(resp, 400, "malformed", "keyChange needs the inner JWS as payload");
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
        jws_problem(resp, &prob);
        goto out;
    }
    if (strcmp(inner.url, p->jws.url) != 0) {
        problem(resp, 400, "malformed", "the inner JWS url differs from the outer one");
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
        problem(resp, 400, "malformed", "the inner payload's account is not the outer kid");
        goto out;
    }
    if (!ok_old) {
        problem(resp, 400, "malformed", "the inner payload's oldKey is not the account's key");
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
            add_header(resp, "Location", "%s/acme/acct/%s", base, other.id);
        problem(resp, 409, "malformed", "another account has the new key");
        goto out;
    }
    if (ret == MINICA_EBUSY) {
        problem(resp, 409, "malformed", "the account's key changed meanwhile");
        goto out;
    }
    if (ret != 0 || (ret = minica_store_acme_account_get(store, p->acct.id, &p->acct, &err)) != 0) {
        internal(resp, &err);
        goto out;
    }
    respond_account(base, &p->acct, 200, resp);
    snprintf(resp->log, sizeof(resp->log), "acme account %s changed its key", p->acct.id);
out:
    mbedtls_pk_free(&old);
    minica_jws_free(&inner);
}

/* ---- renewal information (RFC 9773, serve/acme_ari.c) ---- */

static void handle_renewal_info(struct minica_server *srv, const char *certid,
                                struct minica_http_response *resp)
{
    char *json = NULL;
    struct minica_ari_problem prob;
    struct minica_err err;
    int ret = minica_acme_ari_info(srv, certid, minica_now(), &json, &prob, &err);
    if (ret == 1) {
        problem(resp, prob.status, prob.type, "%s", prob.detail);
        return;
    }
    if (ret != 0) {
        internal(resp, &err);
        return;
    }
    set_body(resp, 200, "application/json", json);
    add_header(resp, "Retry-After", "%d", MINICA_ARI_RETRY_AFTER);
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
    else if (path_id(path, "/acme/acct/", id, &rest) == 0)
        r = ACCOUNT;
    else if (path_id(path, "/acme/order/", id, &rest) == 0 && rest[0] == '\0')
        r = ORDER;
    else if (path_id(path, "/acme/order/", id, &rest) == 0 && strcmp(rest, "/finalize") == 0)
        r = FINALIZE;
    else if (path_id(path, "/acme/authz/", id, &rest) == 0 && rest[0] == '\0')
        r = AUTHZ;
    else if (path_id(path, "/acme/chall/", id, &rest) == 0 && rest[0] == '\0')
        r = CHALL;
    else if (path_id(path, "/acme/cert/", id, &rest) == 0 && rest[0] == '\0')
        r = CERT;
    else if (strncmp(path, MINICA_ARI_PATH, strlen(MINICA_ARI_PATH)) == 0)
        r = RENEWAL_INFO;
    if (r == NONE) {
        problem(resp, 404, "malformed", "no such ACME resource");
        return;
    }
    struct post p;
    memset(&p, 0, sizeof(p));
    minica_jws_init(&p.jws);
    mbedtls_pk_init(&p.acct_key);
    enum key_kind kind = r == NEW_ACCOUNT ? KEY_JWK : r == REVOKE ? KEY_EITHER : KEY_KID;
    if (check_post(srv, req, base, kind, &p, resp) == 0) {
        switch (r) {
        case NEW_ACCOUNT:
            handle_new_account(srv, base, &p, resp);
            break;
        case ACCOUNT:
            handle_account(srv, base, id, rest, &p, resp);
            break;
        case NEW_ORDER:
            handle_new_order(srv, base, &p, resp);
            break;
        case ORDER: {
            struct minica_acme_order o;
            if (own_order(srv, &p, id, &o, resp) == 0)
                respond_order(srv, base, &o, 200, resp);
            break;
        }
        case FINALIZE:
            handle_finalize(srv, base, id, &p, resp);
            break;
        case AUTHZ:
            handle_authz(srv, base, id, &p, resp);
            break;
        case CHALL:
            handle_challenge(srv, base, id, &p, resp);
            break;
        case REVOKE:
            handle_revoke(srv, &p, resp);
            break;
        case KEY_CHANGE:
            handle_key_change(srv, base, &p, resp);
            break;
        case RENEWAL_INFO: /* RFC 9773 4.1 allows POST-as-GET too */
            handle_renewal_info(srv, path + strlen(MINICA_ARI_PATH), resp);
            break;
        default:
            handle_cert(srv, id, &p, resp);
            break;
        }
    }
    post_free(&p);
}

void minica_acme_handle(struct minica_server *srv, const struct minica_http_request *req,
                        struct minica_http_response *resp)
{
    const char *method = req->method ? req->method : "";
    const char *path = req->path;
    char base[MAX_BASE];
    int post = strcmp(method, "POST") == 0;
    int get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
    pthread_mutex_lock(&srv->ca_lock);
    if (!minica_ca_policy(srv->ca)->acme.enabled) {
        /* Read under the lock: a reload may switch it. No nonce: nothing
         * here will take one. */
        pthread_mutex_unlock(&srv->ca_lock);
        problem(resp, 404, "malformed",
                "ACME is not enabled in minica.conf ([acme] enabled = yes)");
        return;
    }
    if (base_url(req, base, sizeof(base)) != 0) {
        problem(resp, 400, "malformed", "the request needs a plain Host header");
    } else if (strcmp(path, "/acme/directory") == 0) {
        if (get)
            handle_directory(base, minica_ca_policy(srv->ca)->acme.eab_required, resp);
        else {
            problem(resp, 405, "malformed", "the directory takes GET");
            resp->allow = "GET";
        }
    } else if (strcmp(path, "/acme/new-nonce") == 0) {
        if (get || head) {
            /* RFC 8555 7.2: 204 to GET, 200 to HEAD, the nonce in the header. */
            set_body(resp, get ? 204 : 200, "application/json", NULL);
        } else {
            problem(resp, 405, "malformed", "new-nonce takes HEAD or GET");
            resp->allow = "HEAD, GET";
        }
    } else if (get && strncmp(path, MINICA_ARI_PATH, strlen(MINICA_ARI_PATH)) == 0) {
        /* RFC 9773 4.1: renewalInfo is an unauthenticated GET. */
        handle_renewal_info(srv, path + strlen(MINICA_ARI_PATH), resp);
    } else if (!post) {
        problem(resp, 405, "malformed", "ACME resources take POST (POST-as-GET to read them)");
        resp->allow = "POST";
    } else if (!is_jose_json(req->content_type)) {
        problem(resp, 415, "malformed",
                "an ACME request's Content-Type must be application/jose+json (RFC 8555 6.2)");
    } else {
        handle_post(srv, req, base, resp);
    }
    pthread_mutex_unlock(&srv->ca_lock);
    add_nonce(srv, resp);
    /* RFC 8555 7.1: every resource but the directory links to it. */
    if (strcmp(path, "/acme/directory") != 0 && base_url(req, base, sizeof(base)) == 0)
        add_header(resp, "Link", "<%s/acme/directory>;rel=\"index\"", base);
}

void minica_acme_set_validate_settings(struct minica_server *srv,
                                       const struct minica_acme_validate_settings *s)
{
    srv->acme_validate = *s;
}
