/* ACME in minica serve (serve/acme.c) through the pure handler: directory
 * and nonces, accounts, orders with policy-checked identifiers, http-01
 * validation against a loopback server in a thread, finalize through the
 * CA and the certificate chain, and each refusal with its problem type.
 * JWS bodies are signed here with mbedTLS keys. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <mbedtls/asn1.h>
#include <mbedtls/md.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/x509_csr.h>

#include "base/b64url.h"
#include "base/compat.h"
#include "base/util.h"
#include "ca/x509.h"
#include "minica/acme_eab.h"
#include "minica/ca.h"
#include "minica/key.h"
#include "minica/store_acme.h"
#include "minica/store.h"
#include "minica/store_acme.h"
#include "minica/server.h"
#include "minica/lifecycle.h"
#include "serve/acme.h"
#include "serve/acme_ari.h"
#include "serve/jws.h"
#include "serve/serve_internal.h"
#include "testutil.h"

#define HOST "ca.internal:9443"
#define BASE "https://" HOST

struct fixture {
    char *dir;
    struct minica_server *srv;
    struct minica_rng rng;
    mbedtls_pk_context key, key2, key3;
    char jwk[256], jwk2[256], jwk3[256];
    char nonce[64]; /* the last Replay-Nonce */
    char location[600];
    char link[600];
    char kid[600];
    char cert_path[256];      /* issue_for_loopback's certificate URL, path only */
    const char *content_type; /* of the next POSTs; NULL: application/jose+json */
};

static char *b64(const void *data, size_t len)
{
    size_t n = minica_b64url_encoded_len(len) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    assert_int_equal(minica_b64url_encode(data, len, out, n), 0);
    return out;
}

/* The public JWK of a P-256 key. */
static void jwk_of(mbedtls_pk_context *pk, char *out, size_t size)
{
    unsigned char der[200];
    int len = mbedtls_pk_write_pubkey_der(pk, der, sizeof(der));
    assert_true(len > 0);
    const unsigned char *pt = der + sizeof(der) - 64;
    char *x = b64(pt, 32), *y = b64(pt + 32, 32);
    snprintf(out, size, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    free(x);
    free(y);
}

static size_t ecdsa_raw(const unsigned char *der, size_t len, unsigned char *out)
{
    unsigned char *p = (unsigned char *)der, *end = p + len;
    size_t l;
    assert_int_equal(
        mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_INTEGER), 0);
        while (l > 32) {
            p++;
            l--;
        }
        memset(out + i * 32, 0, 32 - l);
        memcpy(out + i * 32 + 32 - l, p, l);
        p += l;
    }
    return 64;
}

/* A flattened ES256 JWS; malloc'd. */
static char *sign_jws(struct fixture *f, mbedtls_pk_context *pk, const char *protected_json,
                      const char *payload)
{
    char *p64 = b64(protected_json, strlen(protected_json));
    char *y64 = b64(payload, strlen(payload));
    size_t in_len = strlen(p64) + 1 + strlen(y64);
    char *input = malloc(in_len + 1);
    snprintf(input, in_len + 1, "%s.%s", p64, y64);
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    unsigned char hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE], raw[64];
    assert_int_equal(minica_compat_md(info, (const unsigned char *)input, in_len, hash), 0);
    size_t sig_len = 0;
    assert_int_equal(minica_compat_pk_sign(pk, MBEDTLS_MD_SHA256, hash, 32, sig, sizeof(sig),
                                           &sig_len, &f->rng.drbg),
                     0);
    /* RS256 signatures go as they are; ES256 ones as r||s. */
    const unsigned char *out = sig;
    if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_RSA) {
        sig_len = ecdsa_raw(sig, sig_len, raw);
        out = raw;
    }
    char *s64 = b64(out, sig_len);
    size_t n = strlen(p64) + strlen(y64) + strlen(s64) + 64;
    char *body = malloc(n);
    snprintf(body, n, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", p64, y64,
             s64);
    free(p64);
    free(y64);
    free(s64);
    free(input);
    return body;
}

static const char *header(const struct minica_http_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strcmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

/* One request; keeps the Replay-Nonce, Location and Link it answers with.
 * Returns the JSON body (or NULL). */
static cJSON *request(struct fixture *f, const char *method, const char *path, const char *body,
                      int *status, struct minica_http_response *keep)
{
    struct minica_http_request req = {
        .method = method,
        .path = path,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .remote_addr = "192.0.2.10",
        .host = HOST,
        .content_type = strcmp(method, "POST") != 0 ? NULL
                        : f->content_type           ? f->content_type
                                                    : "application/jose+json",
    };
    struct minica_http_response resp;
    minica_server_handle(f->srv, &req, &resp);
    *status = resp.status;
    const char *nonce = header(&resp, "Replay-Nonce");
    /* Every ACME answer carries a fresh nonce, refusals included. */
    assert_non_null(nonce);
    assert_true(strcmp(nonce, f->nonce) != 0);
    snprintf(f->nonce, sizeof(f->nonce), "%s", nonce);
    const char *loc = header(&resp, "Location");
    snprintf(f->location, sizeof(f->location), "%s", loc ? loc : "");
    /* f->link: the Link other than rel="index", which every answer but
     * the directory's has. */
    int index = 0;
    f->link[0] = '\0';
    for (size_t i = 0; i < resp.n_headers; i++) {
        if (strcmp(resp.headers[i].name, "Link") != 0)
            continue;
        if (strcmp(resp.headers[i].value, "<" BASE "/acme/directory>;rel=\"index\"") == 0)
            index = 1;
        else
            snprintf(f->link, sizeof(f->link), "%s", resp.headers[i].value);
    }
    assert_int_equal(index, strcmp(path, "/acme/directory") != 0);
    cJSON *json = NULL;
    if (resp.body_len > 0 && (strcmp(resp.content_type, "application/json") == 0 ||
                              strcmp(resp.content_type, "application/problem+json") == 0)) {
        json = cJSON_ParseWithLength(resp.body, resp.body_len);
        assert_non_null(json);
    }
    if (resp.status >= 400) {
        assert_string_equal(resp.content_type, "application/problem+json");
        assert_true(cJSON_IsString(cJSON_GetObjectItem(json, "detail")));
        assert_int_equal(cJSON_GetObjectItem(json, "status")->valueint, resp.status);
    }
    if (keep != NULL)
        *keep = resp;
    else
        minica_http_response_free(&resp);
    return json;
}

static void fresh_nonce(struct fixture *f)
{
    int status;
    cJSON_Delete(request(f, "HEAD", "/acme/new-nonce", NULL, &status, NULL));
    assert_int_equal(status, 200);
}

/* POST path signed by pk, with jwk (kid NULL) or kid; payload "" is
 * POST-as-GET. */
static cJSON *post(struct fixture *f, mbedtls_pk_context *pk, const char *jwk, const char *kid,
                   const char *path, const char *payload, int *status)
{
    char protected_json[2048];
    if (kid != NULL)
        snprintf(protected_json, sizeof(protected_json),
                 "{\"alg\":\"ES256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s%s\"}", kid,
                 f->nonce, BASE, path);
    else
        snprintf(protected_json, sizeof(protected_json),
                 "{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s%s\"}", jwk, f->nonce,
                 BASE, path);
    char *body = sign_jws(f, pk, protected_json, payload);
    cJSON *json = request(f, "POST", path, body, status, NULL);
    free(body);
    return json;
}

/* The problem type's last part ("badNonce"), or "" when not a problem. */
static const char *ptype(const cJSON *json)
{
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(json, "type"));
    static const char urn[] = "urn:ietf:params:acme:error:";
    if (t == NULL || strncmp(t, urn, sizeof(urn) - 1) != 0)
        return "";
    return t + sizeof(urn) - 1;
}

static void expect_problem(cJSON *json, const int *statusp, int want_status, const char *want_type)
{
    int status = *statusp;
    if (status != want_status || strcmp(ptype(json), want_type) != 0) {
        char *t = cJSON_PrintUnformatted(json);
        fail_msg("wanted %d %s, got %d %s", want_status, want_type, status, t ? t : "(no body)");
    }
    cJSON_Delete(json);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = tu_make_ca();
    tu_write_policy(f->dir, "[policy]\npermit_dns = internal\npermit_ip = 127.0.0.0/8\n"
                            "[acme]\nenabled = yes\neab = optional\n");
    struct minica_err err;
    assert_int_equal(minica_server_open(f->dir, &f->srv, &err), 0);
    assert_int_equal(minica_rng_init(&f->rng, &err), 0);
    mbedtls_pk_init(&f->key);
    mbedtls_pk_init(&f->key2);
    mbedtls_pk_init(&f->key3);
    assert_int_equal(minica_key_generate(&f->key3, MINICA_KEY_EC_P256, &f->rng, &err), 0);
    jwk_of(&f->key3, f->jwk3, sizeof(f->jwk3));
    assert_int_equal(minica_key_generate(&f->key, MINICA_KEY_EC_P256, &f->rng, &err), 0);
    assert_int_equal(minica_key_generate(&f->key2, MINICA_KEY_EC_P256, &f->rng, &err), 0);
    jwk_of(&f->key, f->jwk, sizeof(f->jwk));
    jwk_of(&f->key2, f->jwk2, sizeof(f->jwk2));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    minica_server_close(f->srv);
    mbedtls_pk_free(&f->key);
    mbedtls_pk_free(&f->key2);
    mbedtls_pk_free(&f->key3);
    minica_rng_free(&f->rng);
    tu_free_ca(f->dir);
    free(f);
    unsetenv("MINICA_FAKE_NOW");
    return 0;
}

/* Rewrites minica.conf and opens the server again on it. */
static void reopen(struct fixture *f, const char *conf)
{
    struct minica_err err;
    tu_write_policy(f->dir, conf);
    minica_server_close(f->srv);
    assert_int_equal(minica_server_open(f->dir, &f->srv, &err), 0);
}

/* Makes the account of f->key; f->kid is its URL. */
static void new_account(struct fixture *f)
{
    int status;
    fresh_nonce(f);
    cJSON *a =
        post(f, &f->key, f->jwk, NULL, "/acme/new-account",
             "{\"termsOfServiceAgreed\":true,\"contact\":[\"mailto:ops@example.com\"]}", &status);
    assert_int_equal(status, 201);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(a, "status")), "valid");
    assert_true(strncmp(f->location, BASE "/acme/acct/", strlen(BASE "/acme/acct/")) == 0);
    snprintf(f->kid, sizeof(f->kid), "%s", f->location);
    cJSON_Delete(a);
}

static void test_directory_and_nonces(void **state)
{
    struct fixture *f = *state;
    int status;
    cJSON *d = request(f, "GET", "/acme/directory", NULL, &status, NULL);
    assert_int_equal(status, 200);
    static const char *const want[][2] = {
        {"newNonce", BASE "/acme/new-nonce"},   {"newAccount", BASE "/acme/new-account"},
        {"newOrder", BASE "/acme/new-order"},   {"revokeCert", BASE "/acme/revoke-cert"},
        {"keyChange", BASE "/acme/key-change"}, {"renewalInfo", BASE "/acme/renewal-info"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, want[i][0])), want[i][1]);
    cJSON_Delete(d);

    struct minica_http_response resp;
    cJSON_Delete(request(f, "GET", "/acme/new-nonce", NULL, &status, &resp));
    assert_int_equal(status, 204);
    assert_int_equal(resp.body_len, 0);
    minica_http_response_free(&resp);
    cJSON_Delete(request(f, "HEAD", "/acme/new-nonce", NULL, &status, NULL));
    assert_int_equal(status, 200);
    expect_problem(request(f, "POST", "/acme/new-nonce", NULL, &status, NULL), &status, 405,
                   "malformed");
    expect_problem(request(f, "GET", "/acme/new-account", NULL, &status, NULL), &status, 405,
                   "malformed");
    /* Handing nonces out wrote nothing: the store remembers spent ones only. */
    int64_t rows = -1;
    assert_int_equal(
        minica_store_acme_nonce_sweep(minica_ca_store(f->srv->ca), INT64_MAX, &rows, NULL), 0);
    assert_int_equal(rows, 0);

    /* No usable Host: no URL to compare with. */
    struct minica_http_request req = {
        .method = "GET", .path = "/acme/directory", .remote_addr = "192.0.2.10", .host = "a/b"};
    minica_server_handle(f->srv, &req, &resp);
    assert_int_equal(resp.status, 400);
    assert_string_equal(resp.content_type, "application/problem+json");
    minica_http_response_free(&resp);
}

static void test_bad_nonce_and_url(void **state)
{
    struct fixture *f = *state;
    int status;
    fresh_nonce(f);
    char used[64];
    snprintf(used, sizeof(used), "%s", f->nonce);
    cJSON_Delete(post(f, &f->key, f->jwk, NULL, "/acme/new-account", "{}", &status));
    assert_int_equal(status, 201);
    /* The same nonce again: badNonce, and the answer brings a fresh one. */
    snprintf(f->nonce, sizeof(f->nonce), "%s", used);
    expect_problem(post(f, &f->key, f->jwk, NULL, "/acme/new-account", "{}", &status), &status, 400,
                   "badNonce");
    assert_true(strcmp(f->nonce, used) != 0);
    cJSON_Delete(post(f, &f->key, f->jwk, NULL, "/acme/new-account", "{}", &status));
    assert_int_equal(status, 200);
    /* A made-up nonce. */
    snprintf(f->nonce, sizeof(f->nonce), "AAAAAAAAAAAAAAAAAAAAAA");
    expect_problem(post(f, &f->key, f->jwk, NULL, "/acme/new-account", "{}", &status), &status, 400,
                   "badNonce");

    /* The url must be this request's: a JWS for new-order sent to new-account. */
    char protected_json[1024];
    snprintf(protected_json, sizeof(protected_json),
             "{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s/acme/new-order\"}",
             f->jwk, f->nonce, BASE);
    char *body = sign_jws(f, &f->key, protected_json, "{}");
    expect_problem(request(f, "POST", "/acme/new-account", body, &status, NULL), &status, 403,
                   "unauthorized");
    free(body);
    /* Signed by another key than the jwk. */
    snprintf(protected_json, sizeof(protected_json),
             "{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s/acme/new-account\"}",
             f->jwk, f->nonce, BASE);
    body = sign_jws(f, &f->key2, protected_json, "{}");
    expect_problem(request(f, "POST", "/acme/new-account", body, &status, NULL), &status, 400,
                   "malformed");
    free(body);
    /* An alg not taken: RFC 8555 6.2 wants the problem to list those taken. */
    snprintf(protected_json, sizeof(protected_json),
             "{\"alg\":\"HS256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s/acme/new-account\"}",
             f->jwk, f->nonce, BASE);
    body = sign_jws(f, &f->key, protected_json, "{}");
    cJSON *p = request(f, "POST", "/acme/new-account", body, &status, NULL);
    free(body);
    cJSON *algs = cJSON_GetObjectItemCaseSensitive(p, "algorithms");
    assert_true(cJSON_IsArray(algs));
    assert_int_equal(cJSON_GetArraySize(algs), 3);
    assert_string_equal(cJSON_GetArrayItem(algs, 0)->valuestring, "ES256");
    expect_problem(p, &status, 400, "badSignatureAlgorithm");
    expect_problem(request(f, "POST", "/acme/new-account", "{", &status, NULL), &status, 400,
                   "malformed");
}

static void test_accounts(void **state)
{
    struct fixture *f = *state;
    int status;
    fresh_nonce(f);
    expect_problem(post(f, &f->key, f->jwk, NULL, "/acme/new-account",
                        "{\"onlyReturnExisting\":true}", &status),
                   &status, 400, "accountDoesNotExist");
    expect_problem(post(f, &f->key, f->jwk, NULL, "/acme/new-account",
                        "{\"contact\":[\"tel:+15551234\"]}", &status),
                   &status, 400, "unsupportedContact");
    expect_problem(post(f, &f->key, f->jwk, NULL, "/acme/new-account",
                        "{\"contact\":[\"mailto:a@b.example?subject=x\"]}", &status),
                   &status, 400, "invalidContact");
    new_account(f);
    /* The same key again: the same account, 200. */
    cJSON *a = post(f, &f->key, f->jwk, NULL, "/acme/new-account", "{\"onlyReturnExisting\":true}",
                    &status);
    assert_int_equal(status, 200);
    assert_string_equal(f->location, f->kid);
    cJSON_Delete(a);
    /* newAccount takes a jwk, not a kid. */
    expect_problem(post(f, &f->key, NULL, f->kid, "/acme/new-account", "{}", &status), &status, 400,
                   "malformed");

    const char *path = f->kid + strlen(BASE);
    char acct_path[256];
    snprintf(acct_path, sizeof(acct_path), "%s", path);
    a = post(f, &f->key, NULL, f->kid, acct_path, "", &status);
    assert_int_equal(status, 200);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "contact"), 0)),
        "mailto:ops@example.com");
    cJSON_Delete(a);
    /* The kid with another key's signature. */
    expect_problem(post(f, &f->key2, NULL, f->kid, acct_path, "", &status), &status, 400,
                   "malformed");
    /* An unknown account. */
    expect_problem(post(f, &f->key, NULL, BASE "/acme/acct/nosuch", "/acme/new-order", "", &status),
                   &status, 400, "accountDoesNotExist");

    a = post(f, &f->key, NULL, f->kid, acct_path, "{\"contact\":[\"mailto:pki@example.com\"]}",
             &status);
    assert_int_equal(status, 200);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "contact"), 0)),
        "mailto:pki@example.com");
    cJSON_Delete(a);
    a = post(f, &f->key, NULL, f->kid, acct_path, "{\"status\":\"deactivated\"}", &status);
    assert_int_equal(status, 200);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(a, "status")), "deactivated");
    cJSON_Delete(a);
    /* A deactivated account signs nothing any more. */
    expect_problem(post(f, &f->key, NULL, f->kid, acct_path, "", &status), &status, 403,
                   "unauthorized");
}

static void test_new_order_checks_identifiers(void **state)
{
    struct fixture *f = *state;
    int status;
    new_account(f);
    expect_problem(post(f, &f->key, NULL, f->kid, "/acme/new-order",
                        "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"www.example.com\"}]}",
                        &status),
                   &status, 400, "rejectedIdentifier");
    expect_problem(post(f, &f->key, NULL, f->kid, "/acme/new-order",
                        "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"10.1.2.3\"}]}", &status),
                   &status, 400, "rejectedIdentifier");
    expect_problem(post(f, &f->key, NULL, f->kid, "/acme/new-order",
                        "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"web.internal\"}]}",
                        &status),
                   &status, 400, "rejectedIdentifier");
    expect_problem(post(f, &f->key, NULL, f->kid, "/acme/new-order",
                        "{\"identifiers\":[{\"type\":\"email\",\"value\":\"a@b.internal\"}]}",
                        &status),
                   &status, 400, "unsupportedIdentifier");
    expect_problem(
        post(f, &f->key, NULL, f->kid, "/acme/new-order", "{\"identifiers\":[]}", &status), &status,
        400, "malformed");
    /* newOrder needs an account: a jwk is refused. */
    expect_problem(post(f, &f->key, f->jwk, NULL, "/acme/new-order",
                        "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"web.internal\"}]}",
                        &status),
                   &status, 400, "malformed");

    cJSON *o = post(f, &f->key, NULL, f->kid, "/acme/new-order",
                    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"Web.Internal\"},"
                    "{\"type\":\"ip\",\"value\":\"127.0.0.1\"}]}",
                    &status);
    assert_int_equal(status, 201);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")), "pending");
    assert_true(strncmp(f->location, BASE "/acme/order/", strlen(BASE "/acme/order/")) == 0);
    cJSON *ids = cJSON_GetObjectItem(o, "identifiers");
    assert_int_equal(cJSON_GetArraySize(ids), 2);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(ids, 0), "value")),
        "web.internal");
    cJSON *authz = cJSON_GetObjectItem(o, "authorizations");
    assert_int_equal(cJSON_GetArraySize(authz), 2);
    for (int i = 0; i < 2; i++) {
        const char *url = cJSON_GetStringValue(cJSON_GetArrayItem(authz, i));
        cJSON *a = post(f, &f->key, NULL, f->kid, url + strlen(BASE), "", &status);
        assert_int_equal(status, 200);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(a, "status")), "pending");
        cJSON *ch = cJSON_GetObjectItem(a, "challenges");
        assert_int_equal(cJSON_GetArraySize(ch), 2);
        int http = 0, alpn = 0;
        for (int k = 0; k < 2; k++) {
            const char *t =
                cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(ch, k), "type"));
            http += strcmp(t, "http-01") == 0;
            alpn += strcmp(t, "tls-alpn-01") == 0;
            const char *tok =
                cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(ch, k), "token"));
            assert_true(strlen(tok) >= 43);
        }
        assert_int_equal(http, 1);
        assert_int_equal(alpn, 1);
        cJSON_Delete(a);
    }
    /* POST-as-GET of the order; another account may not read it. */
    char order_path[256];
    snprintf(order_path, sizeof(order_path), "%s", f->location + strlen(BASE));
    cJSON *again = post(f, &f->key, NULL, f->kid, order_path, "", &status);
    assert_int_equal(status, 200);
    cJSON_Delete(again);
    cJSON_Delete(post(f, &f->key2, f->jwk2, NULL, "/acme/new-account", "{}", &status));
    assert_int_equal(status, 201);
    char kid2[600];
    snprintf(kid2, sizeof(kid2), "%s", f->location);
    expect_problem(post(f, &f->key2, NULL, kid2, order_path, "", &status), &status, 403,
                   "unauthorized");
    /* Finalize before the authorizations are valid. */
    char fin[300];
    snprintf(fin, sizeof(fin), "%s/finalize", order_path);
    expect_problem(post(f, &f->key, NULL, f->kid, fin, "{\"csr\":\"AAAA\"}", &status), &status, 403,
                   "orderNotReady");
    cJSON_Delete(o);
}

/* ---- a loopback http-01 responder ---- */

struct responder {
    int fd;
    unsigned port;
    pthread_t thread;
    char body[512];
    char path[512]; /* the last request's */
    int stop;
};

static void *respond_loop(void *arg)
{
    struct responder *r = arg;
    for (;;) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0 || r->stop) {
            if (c >= 0)
                close(c);
            return NULL;
        }
        char buf[2048];
        ssize_t n = recv(c, buf, sizeof(buf) - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            sscanf(buf, "GET %511s", r->path);
        }
        char out[1024];
        int len = snprintf(out, sizeof(out),
                           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                           "%zu\r\nConnection: close\r\n\r\n%s",
                           strlen(r->body), r->body);
        send(c, out, (size_t)len, MSG_NOSIGNAL);
        close(c);
    }
}

static void responder_start(struct responder *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(r->fd, 8), 0);
    socklen_t sl = sizeof(sa);
    getsockname(r->fd, (struct sockaddr *)&sa, &sl);
    r->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&r->thread, NULL, respond_loop, r), 0);
}

static void responder_stop(struct responder *r)
{
    r->stop = 1;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(c, (struct sockaddr *)&sa, sizeof(sa));
    close(c);
    pthread_join(r->thread, NULL);
    close(r->fd);
}

/* An order for 127.0.0.1; fills its path and its http-01 challenge's. */
static void order_for_loopback(struct fixture *f, char *order_path, char *chall_path, char *token)
{
    int status;
    cJSON *o = post(f, &f->key, NULL, f->kid, "/acme/new-order",
                    "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"127.0.0.1\"}]}", &status);
    assert_int_equal(status, 201);
    snprintf(order_path, 256, "%s", f->location + strlen(BASE));
    const char *url =
        cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "authorizations"), 0));
    cJSON *a = post(f, &f->key, NULL, f->kid, url + strlen(BASE), "", &status);
    assert_int_equal(status, 200);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(a, "challenges"))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "type")), "http-01") != 0)
            continue;
        snprintf(chall_path, 256, "%s",
                 cJSON_GetStringValue(cJSON_GetObjectItem(c, "url")) + strlen(BASE));
        snprintf(token, 64, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(c, "token")));
    }
    cJSON_Delete(a);
    cJSON_Delete(o);
}

static void use_responder(struct fixture *f, const struct responder *r)
{
    struct minica_acme_validate_settings s;
    minica_acme_validate_settings_init(&s);
    s.http_port = r->port;
    s.connect_timeout_ms = 2000;
    s.total_timeout_ms = 4000;
    minica_acme_set_validate_settings(f->srv, &s);
}

struct audit_search {
    const char *needle;
    int found;
};

static int find_audit(const struct minica_audit_row *row, void *ctx)
{
    struct audit_search *s = ctx;
    if (strstr(row->summary, s->needle) != NULL)
        s->found++;
    return 0;
}

/* A CSR's DER, base64url, for names. */
static char *csr_b64(const char *names)
{
    char *pem = tu_make_csr(names, 0);
    mbedtls_x509_csr csr;
    mbedtls_x509_csr_init(&csr);
    assert_int_equal(mbedtls_x509_csr_parse(&csr, (const unsigned char *)pem, strlen(pem) + 1), 0);
    char *out = b64(csr.raw.p, csr.raw.len);
    mbedtls_x509_csr_free(&csr);
    free(pem);
    return out;
}

static void test_http01_finalize_and_certificate(void **state)
{
    struct fixture *f = *state;
    int status;
    new_account(f);
    char order_path[256], chall_path[256], token[64];
    order_for_loopback(f, order_path, chall_path, token);
    struct responder r;
    responder_start(&r);
    use_responder(f, &r);
    unsigned char tp[32];
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    struct minica_acme_problem prob;
    assert_int_equal(minica_jwk_parse(f->jwk, strlen(f->jwk), &pk, tp, &prob), 0);
    mbedtls_pk_free(&pk);
    assert_int_equal(minica_acme_key_authorization(token, tp, r.body, sizeof(r.body)), 0);

    cJSON *c = post(f, &f->key, NULL, f->kid, chall_path, "{}", &status);
    responder_stop(&r);
    assert_int_equal(status, 200);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "status")), "valid");
    assert_non_null(cJSON_GetObjectItem(c, "validated"));
    assert_true(strstr(f->link, "rel=\"up\"") != NULL);
    cJSON_Delete(c);
    char want_path[128];
    snprintf(want_path, sizeof(want_path), "/.well-known/acme-challenge/%s", token);
    assert_string_equal(r.path, want_path);

    cJSON *o = post(f, &f->key, NULL, f->kid, order_path, "", &status);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")), "ready");
    cJSON_Delete(o);

    char fin[300], payload[4096];
    snprintf(fin, sizeof(fin), "%s/finalize", order_path);
    /* Other names than the order's: badCSR, and the order stays ready. */
    char *csr = csr_b64("127.0.0.1,web.internal");
    snprintf(payload, sizeof(payload), "{\"csr\":\"%s\"}", csr);
    free(csr);
    expect_problem(post(f, &f->key, NULL, f->kid, fin, payload, &status), &status, 400, "badCSR");
    csr = csr_b64("127.0.0.2");
    snprintf(payload, sizeof(payload), "{\"csr\":\"%s\"}", csr);
    free(csr);
    expect_problem(post(f, &f->key, NULL, f->kid, fin, payload, &status), &status, 400, "badCSR");
    expect_problem(post(f, &f->key, NULL, f->kid, fin, "{\"csr\":\"!!\"}", &status), &status, 400,
                   "badCSR");

    csr = csr_b64("127.0.0.1");
    snprintf(payload, sizeof(payload), "{\"csr\":\"%s\"}", csr);
    free(csr);
    o = post(f, &f->key, NULL, f->kid, fin, payload, &status);
    assert_int_equal(status, 200);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")), "valid");
    const char *cert_url = cJSON_GetStringValue(cJSON_GetObjectItem(o, "certificate"));
    assert_non_null(cert_url);
    char cert_path[256];
    snprintf(cert_path, sizeof(cert_path), "%s", cert_url + strlen(BASE));
    cJSON_Delete(o);
    /* Audited like any issuance, naming the account and the order. */
    char needle[300];
    snprintf(needle, sizeof(needle), "acme %s order %s", f->kid + strlen(BASE "/acme/acct/"),
             order_path + strlen("/acme/order/"));
    struct audit_search as = {.needle = needle};
    struct minica_err err;
    assert_int_equal(minica_store_list_audit(minica_ca_store(f->srv->ca), 0, find_audit, &as, &err),
                     0);
    assert_int_equal(as.found, 1);
    /* Once valid, finalize is refused. */
    expect_problem(post(f, &f->key, NULL, f->kid, fin, payload, &status), &status, 403,
                   "orderNotReady");

    /* The chain: the leaf for 127.0.0.1, then the CA's. */
    char protected_json[1024];
    snprintf(protected_json, sizeof(protected_json),
             "{\"alg\":\"ES256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s%s\"}", f->kid,
             f->nonce, BASE, cert_path);
    char *body = sign_jws(f, &f->key, protected_json, "");
    struct minica_http_response resp;
    cJSON_Delete(request(f, "POST", cert_path, body, &status, &resp));
    free(body);
    assert_int_equal(status, 200);
    assert_string_equal(resp.content_type, "application/pem-certificate-chain");
    mbedtls_x509_crt chain;
    mbedtls_x509_crt_init(&chain);
    assert_int_equal(
        mbedtls_x509_crt_parse(&chain, (const unsigned char *)resp.body, resp.body_len + 1), 0);
    assert_non_null(chain.next);
    char info[2048];
    mbedtls_x509_crt_info(info, sizeof(info), "", &chain);
    assert_non_null(strstr(info, "127.0.0.1"));
    mbedtls_x509_crt_free(&chain);
    minica_http_response_free(&resp);

    /* The account's orders list it. */
    char orders[300];
    snprintf(orders, sizeof(orders), "%s/orders", f->kid + strlen(BASE));
    cJSON *l = post(f, &f->key, NULL, f->kid, orders, "", &status);
    assert_int_equal(status, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(l, "orders")), 1);
    cJSON_Delete(l);
}

static void test_failed_challenge_invalidates_the_order(void **state)
{
    struct fixture *f = *state;
    int status;
    new_account(f);
    char order_path[256], chall_path[256], token[64];
    order_for_loopback(f, order_path, chall_path, token);
    struct responder r;
    responder_start(&r);
    use_responder(f, &r);
    snprintf(r.body, sizeof(r.body), "%s.not-the-thumbprint", token);
    cJSON *c = post(f, &f->key, NULL, f->kid, chall_path, "{}", &status);
    responder_stop(&r);
    assert_int_equal(status, 200);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "status")), "invalid");
    assert_string_equal(ptype(cJSON_GetObjectItem(c, "error")), "incorrectResponse");
    cJSON_Delete(c);
    cJSON *o = post(f, &f->key, NULL, f->kid, order_path, "", &status);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")), "invalid");
    cJSON_Delete(o);
    /* A second POST does not validate again. */
    c = post(f, &f->key, NULL, f->kid, chall_path, "{}", &status);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "status")), "invalid");
    cJSON_Delete(c);
}

/* A CSR for CN=cn (no SANs) signed by pk, DER base64url. */
static char *csr_of_key(struct fixture *f, mbedtls_pk_context *pk, const char *cn)
{
    mbedtls_x509write_csr w;
    mbedtls_x509write_csr_init(&w);
    char subject[128];
    snprintf(subject, sizeof(subject), "CN=%s", cn);
    assert_int_equal(mbedtls_x509write_csr_set_subject_name(&w, subject), 0);
    mbedtls_x509write_csr_set_key(&w, pk);
    mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
    unsigned char der[1024];
    int len =
        mbedtls_x509write_csr_der(&w, der, sizeof(der), mbedtls_ctr_drbg_random, &f->rng.drbg);
    assert_true(len > 0);
    mbedtls_x509write_csr_free(&w);
    return b64(der + sizeof(der) - len, (size_t)len);
}

/* Account, order for 127.0.0.1, http-01, finalize with a CSR of f->key3;
 * returns the leaf's DER, base64url. */
static char *issue_for_loopback(struct fixture *f)
{
    int status;
    char order_path[256], chall_path[256], token[64];
    order_for_loopback(f, order_path, chall_path, token);
    struct responder r;
    responder_start(&r);
    use_responder(f, &r);
    unsigned char tp[32];
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    struct minica_acme_problem prob;
    assert_int_equal(minica_jwk_parse(f->jwk, strlen(f->jwk), &pk, tp, &prob), 0);
    mbedtls_pk_free(&pk);
    assert_int_equal(minica_acme_key_authorization(token, tp, r.body, sizeof(r.body)), 0);
    cJSON *c = post(f, &f->key, NULL, f->kid, chall_path, "{}", &status);
    responder_stop(&r);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "status")), "valid");
    cJSON_Delete(c);
    char fin[300], payload[2048];
    snprintf(fin, sizeof(fin), "%s/finalize", order_path);
    char *csr = csr_of_key(f, &f->key3, "127.0.0.1");
    snprintf(payload, sizeof(payload), "{\"csr\":\"%s\"}", csr);
    free(csr);
    cJSON *o = post(f, &f->key, NULL, f->kid, fin, payload, &status);
    assert_int_equal(status, 200);
    char *cert_path = f->cert_path;
    snprintf(f->cert_path, sizeof(f->cert_path), "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(o, "certificate")) + strlen(BASE));
    cJSON_Delete(o);
    char protected_json[1024];
    snprintf(protected_json, sizeof(protected_json),
             "{\"alg\":\"ES256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s%s\"}", f->kid,
             f->nonce, BASE, cert_path);
    char *body = sign_jws(f, &f->key, protected_json, "");
    struct minica_http_response resp;
    cJSON_Delete(request(f, "POST", cert_path, body, &status, &resp));
    free(body);
    assert_int_equal(status, 200);
    mbedtls_x509_crt chain;
    mbedtls_x509_crt_init(&chain);
    assert_int_equal(
        mbedtls_x509_crt_parse(&chain, (const unsigned char *)resp.body, resp.body_len + 1), 0);
    char *der = b64(chain.raw.p, chain.raw.len);
    mbedtls_x509_crt_free(&chain);
    minica_http_response_free(&resp);
    return der;
}

static void test_revoke_cert(void **state)
{
    struct fixture *f = *state;
    int status;
    new_account(f);
    char *der = issue_for_loopback(f);
    char payload[4096];
    /* Another account, and a key that is not the certificate's. */
    cJSON_Delete(post(f, &f->key2, f->jwk2, NULL, "/acme/new-account", "{}", &status));
    assert_int_equal(status, 201);
    char kid2[600];
    snprintf(kid2, sizeof(kid2), "%s", f->location);
    snprintf(payload, sizeof(payload), "{\"certificate\":\"%s\"}", der);
    expect_problem(post(f, &f->key2, NULL, kid2, "/acme/revoke-cert", payload, &status), &status,
                   403, "unauthorized");
    expect_problem(post(f, &f->key2, f->jwk2, NULL, "/acme/revoke-cert", payload, &status), &status,
                   403, "unauthorized");
    snprintf(payload, sizeof(payload), "{\"certificate\":\"%s\",\"reason\":2}", der);
    expect_problem(post(f, &f->key, NULL, f->kid, "/acme/revoke-cert", payload, &status), &status,
                   400, "badRevocationReason");
    expect_problem(
        post(f, &f->key, NULL, f->kid, "/acme/revoke-cert", "{\"certificate\":\"MIIB\"}", &status),
        &status, 400, "malformed");
    /* By the certificate's own key. */
    snprintf(payload, sizeof(payload), "{\"certificate\":\"%s\",\"reason\":1}", der);
    cJSON_Delete(post(f, &f->key3, f->jwk3, NULL, "/acme/revoke-cert", payload, &status));
    assert_int_equal(status, 200);
    expect_problem(post(f, &f->key, NULL, f->kid, "/acme/revoke-cert", payload, &status), &status,
                   400, "alreadyRevoked");
    free(der);
}

static void test_revoke_by_account(void **state)
{
    struct fixture *f = *state;
    int status;
    new_account(f);
    char *der = issue_for_loopback(f);
    char payload[4096];
    snprintf(payload, sizeof(payload), "{\"certificate\":\"%s\"}", der);
    cJSON_Delete(post(f, &f->key, NULL, f->kid, "/acme/revoke-cert", payload, &status));
    assert_int_equal(status, 200);
    free(der);
}

/* The keyChange body: the inner JWS by new_key over {account, oldKey}. */
static char *key_change_payload(struct fixture *f, mbedtls_pk_context *new_key, const char *new_jwk,
                                const char *old_jwk, const char *account)
{
    char protected_json[1024], inner_payload[1024];
    snprintf(protected_json, sizeof(protected_json),
             "{\"alg\":\"ES256\",\"jwk\":%s,\"url\":\"%s/acme/key-change\"}", new_jwk, BASE);
    snprintf(inner_payload, sizeof(inner_payload), "{\"account\":\"%s\",\"oldKey\":%s}", account,
             old_jwk);
    return sign_jws(f, new_key, protected_json, inner_payload);
}

static void test_key_change(void **state)
{
    struct fixture *f = *state;
    int status;
    fresh_nonce(f);
    cJSON_Delete(post(f, &f->key2, f->jwk2, NULL, "/acme/new-account", "{}", &status));
    assert_int_equal(status, 201);
    new_account(f);
    const char *acct_path = f->kid + strlen(BASE);
    /* The new key is another account's: 409. */
    char *inner = key_change_payload(f, &f->key2, f->jwk2, f->jwk, f->kid);
    expect_problem(post(f, &f->key, NULL, f->kid, "/acme/key-change", inner, &status), &status, 409,
                   "malformed");
    free(inner);
    /* oldKey is not the account's. */
    inner = key_change_payload(f, &f->key3, f->jwk3, f->jwk2, f->kid);
    expect_problem(post(f, &f->key, NULL, f->kid, "/acme/key-change", inner, &status), &status, 400,
                   "malformed");
    free(inner);
    inner = key_change_payload(f, &f->key3, f->jwk3, f->jwk, f->kid);
    cJSON_Delete(post(f, &f->key, NULL, f->kid, "/acme/key-change", inner, &status));
    assert_int_equal(status, 200);
    free(inner);
    char path[256];
    snprintf(path, sizeof(path), "%s", acct_path);
    /* The old key no longer signs for the account; the new one does. */
    expect_problem(post(f, &f->key, NULL, f->kid, path, "", &status), &status, 400, "malformed");
    cJSON_Delete(post(f, &f->key3, NULL, f->kid, path, "", &status));
    assert_int_equal(status, 200);
    cJSON_Delete(post(f, &f->key3, f->jwk3, NULL, "/acme/new-account",
                      "{\"onlyReturnExisting\":true}", &status));
    assert_int_equal(status, 200);
    assert_string_equal(f->location, f->kid);
}

static void test_expired_order_is_invalid(void **state)
{
    struct fixture *f = *state;
    int status;
    new_account(f);
    char order_path[256], chall_path[256], token[64];
    order_for_loopback(f, order_path, chall_path, token);
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)minica_now() + MINICA_ACME_ORDER_TTL + 1);
    setenv("MINICA_FAKE_NOW", now, 1);
    /* The last nonce expired with the clock: a fresh one. */
    fresh_nonce(f);
    cJSON *o = post(f, &f->key, NULL, f->kid, order_path, "", &status);
    assert_int_equal(status, 200);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")), "invalid");
    assert_non_null(cJSON_GetObjectItem(o, "error"));
    cJSON_Delete(o);
    /* Its challenge is not validated any more. */
    cJSON *c = post(f, &f->key, NULL, f->kid, chall_path, "{}", &status);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "status")), "pending");
    cJSON_Delete(c);
    /* A day after it expired it is gone, with its authorizations. */
    snprintf(now, sizeof(now), "%lld", (long long)minica_now() + MINICA_ACME_ORDER_KEEP + 61);
    setenv("MINICA_FAKE_NOW", now, 1);
    fresh_nonce(f);
    expect_problem(post(f, &f->key, NULL, f->kid, order_path, "", &status), &status, 404,
                   "malformed");
    c = post(f, &f->key, NULL, f->kid, chall_path, "", &status);
    assert_int_equal(status, 404);
    cJSON_Delete(c);
    unsetenv("MINICA_FAKE_NOW");
}

/* Without [acme] enabled = yes every ACME URL is a 404 problem saying so. */
static void test_acme_disabled_answers_404(void **state)
{
    struct fixture *f = *state;
    reopen(f, "[policy]\npermit_ip = 127.0.0.0/8\n");
    const char *paths[] = {"/acme/directory", "/acme/new-nonce", "/acme/new-account"};
    for (size_t i = 0; i < 3; i++) {
        struct minica_http_request req = {.method = i == 2 ? "POST" : "GET",
                                          .path = paths[i],
                                          .body = "{}",
                                          .body_len = 2,
                                          .remote_addr = "192.0.2.10",
                                          .host = HOST};
        struct minica_http_response resp;
        minica_server_handle(f->srv, &req, &resp);
        assert_int_equal(resp.status, 404);
        assert_string_equal(resp.content_type, "application/problem+json");
        cJSON *j = cJSON_ParseWithLength(resp.body, resp.body_len);
        assert_string_equal(ptype(j), "malformed");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "detail")),
                            "ACME is not enabled in minica.conf ([acme] enabled = yes)");
        cJSON_Delete(j);
        minica_http_response_free(&resp);
    }
}

/* The directory says whether EAB is required, as [acme] eab does. */
static void test_directory_announces_eab_requirement(void **state)
{
    struct fixture *f = *state;
    int status;
    cJSON *d = request(f, "GET", "/acme/directory", NULL, &status, NULL);
    assert_false(cJSON_IsTrue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(d, "meta"), "externalAccountRequired")));
    cJSON_Delete(d);
    reopen(f, "[policy]\npermit_ip = 127.0.0.0/8\n[acme]\nenabled = yes\n");
    d = request(f, "GET", "/acme/directory", NULL, &status, NULL);
    assert_true(cJSON_IsTrue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(d, "meta"), "externalAccountRequired")));
    cJSON_Delete(d);
}

/* validate_ip, not permit_ip, is what the validator may dial: 127.0.0.1
 * may be issued but not dialed, so the responder is never asked. */
static void test_validation_dials_only_validate_ip(void **state)
{
    struct fixture *f = *state;
    int status;
    reopen(f, "[policy]\npermit_dns = internal\npermit_ip = 127.0.0.0/8\n"
              "[acme]\nenabled = yes\neab = optional\nvalidate_ip = 10.0.0.0/8\n");
    new_account(f);
    char order_path[256], chall_path[256], token[64];
    order_for_loopback(f, order_path, chall_path, token);
    struct responder r;
    responder_start(&r);
    use_responder(f, &r);
    snprintf(r.body, sizeof(r.body), "%s", "anything");
    cJSON *c = post(f, &f->key, NULL, f->kid, chall_path, "{}", &status);
    responder_stop(&r);
    assert_int_equal(status, 200);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "status")), "invalid");
    assert_string_equal(r.path, "");
    cJSON_Delete(c);
}

/* ---- External Account Binding ---- */

#define EAB_CONF "[policy]\npermit_dns = internal\npermit_ip = 127.0.0.0/8\n[acme]\nenabled = yes\n"

struct eab {
    char kid[MINICA_ACME_ID_MAX];
    unsigned char mac_key[32];
};

/* A key made the way `minica acme eab create` makes one. */
static void eab_create(struct fixture *f, struct eab *k, const char *permit_dns, int64_t expires_in)
{
    struct minica_acme_eab_request req;
    memset(&req, 0, sizeof(req));
    const char *dns[1] = {permit_dns};
    req.permit_dns = dns;
    req.n_permit_dns = permit_dns != NULL;
    req.expires_in = expires_in;
    struct minica_acme_eab_key row;
    char hmac[MINICA_ACME_EAB_HMAC_TEXT_MAX];
    struct minica_err err;
    if (minica_acme_eab_create(f->srv->ca, &req, &row, hmac, sizeof(hmac), &err) != 0)
        fail_msg("eab create: %s", err.msg);
    snprintf(k->kid, sizeof(k->kid), "%s", row.kid);
    size_t n = 0;
    assert_int_equal(minica_b64url_decode(hmac, strlen(hmac), k->mac_key, 32, &n), 0);
    assert_int_equal(n, 32);
}

/* The externalAccountBinding member: an alg JWS by kid over jwk, for url. */
static char *eab_binding(const char *alg, const char *kid, const unsigned char *mac_key,
                         const char *url, const char *jwk)
{
    char protected_json[512];
    snprintf(protected_json, sizeof(protected_json),
             "{\"alg\":\"%s\",\"kid\":\"%s\",\"url\":\"%s\"}", alg, kid, url);
    char *p64 = b64(protected_json, strlen(protected_json)), *y64 = b64(jwk, strlen(jwk));
    size_t in_len = strlen(p64) + 1 + strlen(y64);
    char *input = malloc(in_len + 1);
    snprintf(input, in_len + 1, "%s.%s", p64, y64);
    unsigned char mac[32];
    assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), mac_key, 32,
                                     (const unsigned char *)input, in_len, mac),
                     0);
    char *s64 = b64(mac, 32);
    size_t n = strlen(p64) + strlen(y64) + strlen(s64) + 64;
    char *out = malloc(n);
    snprintf(out, n, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", p64, y64,
             s64);
    free(p64);
    free(y64);
    free(s64);
    free(input);
    return out;
}

/* newAccount for pk/jwk with binding (NULL: none); the answer's status. */
static int eab_new_account(struct fixture *f, mbedtls_pk_context *pk, const char *jwk,
                           char *binding, const char *want_type)
{
    char payload[4096];
    if (binding != NULL)
        snprintf(payload, sizeof(payload),
                 "{\"termsOfServiceAgreed\":true,\"externalAccountBinding\":%s}", binding);
    else
        snprintf(payload, sizeof(payload), "{\"termsOfServiceAgreed\":true}");
    free(binding);
    fresh_nonce(f);
    int status;
    cJSON *j = post(f, pk, jwk, NULL, "/acme/new-account", payload, &status);
    if (strcmp(ptype(j), want_type) != 0) {
        char *t = cJSON_PrintUnformatted(j);
        fail_msg("wanted '%s', got %d %s", want_type, status, t ? t : "");
    }
    cJSON_Delete(j);
    return status;
}

static int count_account(const struct minica_acme_account *row, int64_t orders, void *ctx)
{
    (void)row;
    (void)orders;
    (*(int *)ctx)++;
    return 0;
}

static int accounts(struct fixture *f)
{
    int n = 0;
    struct minica_err err;
    assert_int_equal(
        minica_store_acme_account_list(minica_ca_store(f->srv->ca), count_account, &n, &err), 0);
    return n;
}

static void test_eab_required_and_missing(void **state)
{
    struct fixture *f = *state;
    reopen(f, EAB_CONF);
    assert_int_equal(eab_new_account(f, &f->key, f->jwk, NULL, "externalAccountRequired"), 403);
    assert_int_equal(accounts(f), 0);
}

/* A good binding makes the account and binds the key to it; the key then
 * opens no other account. */
static void test_eab_binds_the_first_account_only(void **state)
{
    struct fixture *f = *state;
    reopen(f, EAB_CONF);
    struct eab k;
    eab_create(f, &k, NULL, 0);
    const char *url = BASE "/acme/new-account";
    assert_int_equal(eab_new_account(f, &f->key, f->jwk,
                                     eab_binding("HS256", k.kid, k.mac_key, url, f->jwk), ""),
                     201);
    struct minica_acme_account a;
    struct minica_acme_eab_key row;
    struct minica_err err;
    const char *id = f->location + strlen(BASE "/acme/acct/");
    assert_int_equal(minica_store_acme_account_get(minica_ca_store(f->srv->ca), id, &a, &err), 0);
    assert_string_equal(a.eab_kid, k.kid);
    assert_int_equal(minica_store_acme_eab_get(minica_ca_store(f->srv->ca), k.kid, &row, &err), 0);
    assert_string_equal(row.account_id, id);
    /* The same key again: the existing account (RFC 8555 7.3.1). */
    assert_int_equal(eab_new_account(f, &f->key, f->jwk, NULL, ""), 200);
    /* Another account key with this kid: refused, nothing stored. */
    assert_int_equal(eab_new_account(f, &f->key2, f->jwk2,
                                     eab_binding("HS256", k.kid, k.mac_key, url, f->jwk2),
                                     "unauthorized"),
                     403);
    assert_int_equal(accounts(f), 1);
}

static void test_eab_refusals_store_nothing(void **state)
{
    struct fixture *f = *state;
    reopen(f, EAB_CONF);
    struct eab k, other;
    eab_create(f, &k, NULL, 0);
    eab_create(f, &other, NULL, 0);
    const char *url = BASE "/acme/new-account";
    unsigned char wrong[32];
    memcpy(wrong, k.mac_key, 32);
    wrong[0] ^= 1;
    /* A bad MAC, another key's MAC, an unknown kid, the wrong url, a
     * binding of another jwk, alg none or RS256. */
    eab_new_account(f, &f->key, f->jwk, eab_binding("HS256", k.kid, wrong, url, f->jwk),
                    "unauthorized");
    eab_new_account(f, &f->key, f->jwk, eab_binding("HS256", k.kid, other.mac_key, url, f->jwk),
                    "unauthorized");
    eab_new_account(f, &f->key, f->jwk,
                    eab_binding("HS256", "0000000000000000", k.mac_key, url, f->jwk),
                    "unauthorized");
    eab_new_account(f, &f->key, f->jwk,
                    eab_binding("HS256", k.kid, k.mac_key, BASE "/acme/new-order", f->jwk),
                    "unauthorized");
    eab_new_account(f, &f->key, f->jwk, eab_binding("HS256", k.kid, k.mac_key, url, f->jwk2),
                    "unauthorized");
    eab_new_account(f, &f->key, f->jwk, eab_binding("none", k.kid, k.mac_key, url, f->jwk),
                    "malformed");
    eab_new_account(f, &f->key, f->jwk, eab_binding("RS256", k.kid, k.mac_key, url, f->jwk),
                    "malformed");
    eab_new_account(f, &f->key, f->jwk, minica_strdup("\"not an object\""), "malformed");
    /* A revoked key; an expired one. */
    struct minica_err err;
    assert_int_equal(minica_acme_eab_revoke(f->srv->ca, other.kid, &err), 0);
    eab_new_account(f, &f->key, f->jwk, eab_binding("HS256", other.kid, other.mac_key, url, f->jwk),
                    "unauthorized");
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)minica_now() + MINICA_ACME_EAB_DEFAULT_EXPIRY);
    setenv("MINICA_FAKE_NOW", now, 1);
    eab_new_account(f, &f->key, f->jwk, eab_binding("HS256", k.kid, k.mac_key, url, f->jwk),
                    "unauthorized");
    unsetenv("MINICA_FAKE_NOW");
    assert_int_equal(accounts(f), 0);
    struct minica_acme_eab_key row;
    assert_int_equal(minica_store_acme_eab_get(minica_ca_store(f->srv->ca), k.kid, &row, &err), 0);
    assert_string_equal(row.account_id, "");
    /* With eab = optional a binding is still checked when sent. */
    reopen(f, "[policy]\npermit_ip = 127.0.0.0/8\n[acme]\nenabled = yes\neab = optional\n");
    eab_new_account(f, &f->key, f->jwk, eab_binding("HS256", k.kid, wrong, url, f->jwk),
                    "unauthorized");
    assert_int_equal(accounts(f), 0);
}

/* After its key is revoked the account may not order, finalize or ask
 * for validation; it may still read itself. */
static void test_eab_revoked_key_stops_its_account(void **state)
{
    struct fixture *f = *state;
    reopen(f, EAB_CONF);
    struct eab k;
    eab_create(f, &k, NULL, 0);
    assert_int_equal(
        eab_new_account(f, &f->key, f->jwk,
                        eab_binding("HS256", k.kid, k.mac_key, BASE "/acme/new-account", f->jwk),
                        ""),
        201);
    snprintf(f->kid, sizeof(f->kid), "%s", f->location);
    char order_path[256], chall_path[256], token[64], fin[300];
    order_for_loopback(f, order_path, chall_path, token);
    struct minica_err err;
    assert_int_equal(minica_acme_eab_revoke(f->srv->ca, k.kid, &err), 0);
    int status;
    cJSON *j = post(f, &f->key, NULL, f->kid, "/acme/new-order",
                    "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"127.0.0.1\"}]}", &status);
    assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(j, "detail")), k.kid));
    expect_problem(j, &status, 403, "unauthorized");
    expect_problem(post(f, &f->key, NULL, f->kid, chall_path, "{}", &status), &status, 403,
                   "unauthorized");
    snprintf(fin, sizeof(fin), "%s/finalize", order_path);
    expect_problem(post(f, &f->key, NULL, f->kid, fin, "{\"csr\":\"AAAA\"}", &status), &status, 403,
                   "unauthorized");
    cJSON_Delete(post(f, &f->key, NULL, f->kid, f->kid + strlen(BASE), "", &status));
    assert_int_equal(status, 200);
}

/* The key's own list narrows what its account may order. */
static void test_eab_key_lists_narrow_orders(void **state)
{
    struct fixture *f = *state;
    reopen(f, EAB_CONF);
    struct eab k;
    eab_create(f, &k, "web.internal", 0);
    assert_int_equal(
        eab_new_account(f, &f->key, f->jwk,
                        eab_binding("HS256", k.kid, k.mac_key, BASE "/acme/new-account", f->jwk),
                        ""),
        201);
    snprintf(f->kid, sizeof(f->kid), "%s", f->location);
    int status;
    cJSON *j = post(f, &f->key, NULL, f->kid, "/acme/new-order",
                    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"db.internal\"}]}", &status);
    assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(j, "detail")), "web.internal"));
    expect_problem(j, &status, 400, "rejectedIdentifier");
    /* Not an IP either: the key names DNS suffixes only. */
    expect_problem(post(f, &f->key, NULL, f->kid, "/acme/new-order",
                        "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"127.0.0.1\"}]}", &status),
                   &status, 400, "rejectedIdentifier");
    cJSON_Delete(post(f, &f->key, NULL, f->kid, "/acme/new-order",
                      "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.web.internal\"}]}",
                      &status));
    assert_int_equal(status, 201);
}

/* Validations over the server's cap wait, then give up without failing
 * the challenge: it stays pending for the client's next POST. */
static void test_validation_cap_leaves_the_challenge_pending(void **state)
{
    struct fixture *f = *state;
    int status;
    new_account(f);
    char order_path[256], chall_path[256], token[64];
    order_for_loopback(f, order_path, chall_path, token);
    struct responder r;
    responder_start(&r);
    struct minica_acme_validate_settings s;
    minica_acme_validate_settings_init(&s);
    s.http_port = r.port;
    s.max_concurrent = 1;
    s.total_timeout_ms = 200;
    minica_acme_set_validate_settings(f->srv, &s);
    unsigned char tp[32];
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    struct minica_acme_problem prob;
    assert_int_equal(minica_jwk_parse(f->jwk, strlen(f->jwk), &pk, tp, &prob), 0);
    mbedtls_pk_free(&pk);
    assert_int_equal(minica_acme_key_authorization(token, tp, r.body, sizeof(r.body)), 0);
    /* The one slot is taken (as by a validation in another thread). */
    f->srv->acme_active = 1;
    expect_problem(post(f, &f->key, NULL, f->kid, chall_path, "{}", &status), &status, 503,
                   "rateLimited");
    cJSON *c = post(f, &f->key, NULL, f->kid, chall_path, "", &status);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "status")), "pending");
    cJSON_Delete(c);
    f->srv->acme_active = 0;
    c = post(f, &f->key, NULL, f->kid, chall_path, "{}", &status);
    responder_stop(&r);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "status")), "valid");
    cJSON_Delete(c);
}

/* The orders list comes in pages linked by rel="next", without invalid orders. */
static void test_orders_list_pages(void **state)
{
    struct fixture *f = *state;
    int status;
    new_account(f);
    for (int i = 0; i < MINICA_ACME_ORDERS_PAGE + 5; i++) {
        cJSON_Delete(post(f, &f->key, NULL, f->kid, "/acme/new-order",
                          "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"web.internal\"}]}",
                          &status));
        assert_int_equal(status, 201);
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/orders", f->kid + strlen(BASE));
    size_t total = 0;
    int pages = 0;
    for (;;) {
        cJSON *l = post(f, &f->key, NULL, f->kid, path, "", &status);
        assert_int_equal(status, 200);
        total += (size_t)cJSON_GetArraySize(cJSON_GetObjectItem(l, "orders"));
        cJSON_Delete(l);
        pages++;
        if (f->link[0] == '\0')
            break;
        assert_non_null(strstr(f->link, ";rel=\"next\""));
        assert_true(f->link[0] == '<' && strncmp(f->link + 1, BASE, strlen(BASE)) == 0);
        snprintf(path, sizeof(path), "%.*s",
                 (int)(strchr(f->link, '>') - f->link - 1 - strlen(BASE)),
                 f->link + 1 + strlen(BASE));
    }
    assert_int_equal(pages, 2);
    assert_int_equal(total, MINICA_ACME_ORDERS_PAGE + 5);
}

/* The test build's port hook (tests/support/acme_test_ports.c), as
 * integration tests with real clients use it. */
static void test_validation_ports_from_the_test_environment(void **state)
{
    struct fixture *f = *state;
    setenv("MINICA_ACME_TEST_HTTP_PORT", "5002", 1);
    setenv("MINICA_ACME_TEST_TLS_PORT", "5001", 1);
    struct minica_server *srv;
    struct minica_err err;
    assert_int_equal(minica_server_open(f->dir, &srv, &err), 0);
    unsetenv("MINICA_ACME_TEST_HTTP_PORT");
    unsetenv("MINICA_ACME_TEST_TLS_PORT");
    assert_int_equal(srv->acme_validate.http_port, 5002);
    assert_int_equal(srv->acme_validate.tls_port, 5001);
    minica_server_close(srv);
    /* Without them: the RFC's. */
    assert_int_equal(f->srv->acme_validate.http_port, 80);
    assert_int_equal(f->srv->acme_validate.tls_port, 443);
}

/* certbot's account key is RSA: RS256 with a jwk, then kid. */
static void test_rsa_account(void **state)
{
    struct fixture *f = *state;
    int status;
    struct minica_err err;
    mbedtls_pk_context rsa;
    mbedtls_pk_init(&rsa);
    assert_int_equal(minica_key_generate(&rsa, MINICA_KEY_RSA_2048, &f->rng, &err), 0);
    unsigned char n[256], e[3];
    assert_int_equal(
        mbedtls_rsa_export_raw(mbedtls_pk_rsa(rsa), n, 256, NULL, 0, NULL, 0, NULL, 0, e, 3), 0);
    char *n64 = b64(n, 256), *e64 = b64(e + (e[0] == 0 ? 1 : 0), e[0] == 0 ? 2 : 3), jwk[800];
    snprintf(jwk, sizeof(jwk), "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e64, n64);
    free(n64);
    free(e64);
    fresh_nonce(f);
    char protected_json[2048];
    snprintf(protected_json, sizeof(protected_json),
             "{\"alg\":\"RS256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s/acme/new-account\"}", jwk,
             f->nonce, BASE);
    char *body = sign_jws(f, &rsa, protected_json, "{\"termsOfServiceAgreed\":true}");
    cJSON_Delete(request(f, "POST", "/acme/new-account", body, &status, NULL));
    free(body);
    assert_int_equal(status, 201);
    char kid[600];
    snprintf(kid, sizeof(kid), "%s", f->location);
    snprintf(protected_json, sizeof(protected_json),
             "{\"alg\":\"RS256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s/acme/new-order\"}",
             kid, f->nonce, BASE);
    body = sign_jws(f, &rsa, protected_json,
                    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"web.internal\"}]}");
    cJSON_Delete(request(f, "POST", "/acme/new-order", body, &status, NULL));
    free(body);
    assert_int_equal(status, 201);
    mbedtls_pk_free(&rsa);
}

/* ---- ARI (RFC 9773) ---- */

/* The certID of a leaf given as base64url DER. */
static void certid_of(const char *der64, char *out, size_t size)
{
    unsigned char der[4096];
    size_t len;
    assert_int_equal(minica_b64url_decode(der64, strlen(der64), der, sizeof(der), &len), 0);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(mbedtls_x509_crt_parse_der(&crt, der, len), 0);
    struct minica_ari_certid id;
    assert_int_equal(minica_ari_certid_of_crt(&crt, &id, NULL), 0);
    assert_int_equal(minica_ari_certid_format(&id, out, size), 0);
    mbedtls_x509_crt_free(&crt);
}

/* "2027-01-15T10:00:00Z" as Unix time. */
static int64_t parse_time(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    assert_int_equal(sscanf(text, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* GET renewal-info/CERTID: 200 with the window in start and end, and
 * Retry-After; or the problem. */
static cJSON *renewal_info(struct fixture *f, const char *certid, int *status, int64_t *start,
                           int64_t *end)
{
    char path[512];
    snprintf(path, sizeof(path), "/acme/renewal-info/%s", certid);
    struct minica_http_response resp;
    cJSON *j = request(f, "GET", path, NULL, status, &resp);
    if (*status == 200) {
        assert_string_equal(header(&resp, "Retry-After"), "21600");
        cJSON *w = cJSON_GetObjectItem(j, "suggestedWindow");
        const char *a = cJSON_GetStringValue(cJSON_GetObjectItem(w, "start"));
        const char *b = cJSON_GetStringValue(cJSON_GetObjectItem(w, "end"));
        assert_non_null(a);
        assert_non_null(b);
        *start = parse_time(a);
        *end = parse_time(b);
        assert_true(*end > *start);
    }
    minica_http_response_free(&resp);
    return j;
}

static void cert_dates(const char *der64, int64_t *nb, int64_t *na)
{
    unsigned char der[4096];
    size_t len;
    assert_int_equal(minica_b64url_decode(der64, strlen(der64), der, sizeof(der), &len), 0);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(mbedtls_x509_crt_parse_der(&crt, der, len), 0);
    *nb = minica_x509_time_to_unix(&crt.valid_from);
    *na = minica_x509_time_to_unix(&crt.valid_to);
    mbedtls_x509_crt_free(&crt);
}

static void test_renewal_info(void **state)
{
    struct fixture *f = *state;
    int status;
    int64_t start, end, nb, na;
    new_account(f);
    char *der = issue_for_loopback(f);
    char certid[MINICA_ARI_CERTID_MAX];
    certid_of(der, certid, sizeof(certid));
    cert_dates(der, &nb, &na);

    /* Valid: 2/3 to 5/6 of its life. */
    cJSON_Delete(renewal_info(f, certid, &status, &start, &end));
    assert_int_equal(status, 200);
    assert_int_equal(start, nb + (na - nb) * 2 / 3);
    assert_int_equal(end, nb + (na - nb) * 5 / 6);
    /* POST-as-GET is answered the same. */
    char path[512];
    snprintf(path, sizeof(path), "/acme/renewal-info/%s", certid);
    cJSON *j = post(f, &f->key, NULL, f->kid, path, "", &status);
    assert_int_equal(status, 200);
    assert_non_null(cJSON_GetObjectItem(j, "suggestedWindow"));
    cJSON_Delete(j);

    /* Unknown: another serial, or the same serial under another AKI. */
    char other[MINICA_ARI_CERTID_MAX];
    snprintf(other, sizeof(other), "%s", certid);
    /* The serial's third character: its first octet, which decides the
     * DER INTEGER's sign and minimal form, stays as it was, so the id
     * still parses and names a serial that is not there. */
    char *dot = strchr(other, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    expect_problem(renewal_info(f, other, &status, &start, &end), &status, 404, "malformed");
    snprintf(other, sizeof(other), "%s", certid);
    other[0] = other[0] == 'A' ? 'B' : 'A';
    expect_problem(renewal_info(f, other, &status, &start, &end), &status, 404, "malformed");
    expect_problem(renewal_info(f, "not-a-certid", &status, &start, &end), &status, 400,
                   "malformed");
    expect_problem(renewal_info(f, "", &status, &start, &end), &status, 400, "malformed");

    /* Revoked: renew now (the whole window has passed). */
    char payload[4096];
    snprintf(payload, sizeof(payload), "{\"certificate\":\"%s\"}", der);
    cJSON_Delete(post(f, &f->key, NULL, f->kid, "/acme/revoke-cert", payload, &status));
    assert_int_equal(status, 200);
    cJSON_Delete(renewal_info(f, certid, &status, &start, &end));
    assert_int_equal(status, 200);
    assert_true(end < minica_now());
    free(der);
}

/* After `ca rotate`: the old certificate's renewalInfo says renew now, and
 * its certificate URL still sends the intermediate that signed it. */
static void test_rotation_renew_now_and_own_chain(void **state)
{
    struct fixture *f = *state;
    int status;
    int64_t start, end;
    new_account(f);
    char *der = issue_for_loopback(f);
    char certid[MINICA_ARI_CERTID_MAX];
    certid_of(der, certid, sizeof(certid));
    char old_fp[65];
    snprintf(old_fp, sizeof(old_fp), "%s", minica_ca_active_intermediate(f->srv->ca)->fingerprint);

    struct minica_rotate_options opts;
    memset(&opts, 0, sizeof(opts));
    struct minica_rotate_result res;
    struct minica_err err;
    assert_int_equal(minica_ca_rotate(f->dir, &opts, &res, &err), 0);
    /* What SIGHUP does: serve opens the CA again. */
    minica_server_close(f->srv);
    assert_int_equal(minica_server_open(f->dir, &f->srv, &err), 0);
    assert_string_not_equal(minica_ca_active_intermediate(f->srv->ca)->fingerprint, old_fp);

    cJSON_Delete(renewal_info(f, certid, &status, &start, &end));
    assert_int_equal(status, 200);
    assert_true(end < minica_now());

    char protected_json[1024];
    snprintf(protected_json, sizeof(protected_json),
             "{\"alg\":\"ES256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s%s\"}", f->kid,
             f->nonce, BASE, f->cert_path);
    char *body = sign_jws(f, &f->key, protected_json, "");
    struct minica_http_response resp;
    cJSON_Delete(request(f, "POST", f->cert_path, body, &status, &resp));
    free(body);
    assert_int_equal(status, 200);
    mbedtls_x509_crt chain;
    mbedtls_x509_crt_init(&chain);
    assert_int_equal(
        mbedtls_x509_crt_parse(&chain, (const unsigned char *)resp.body, resp.body_len + 1), 0);
    assert_non_null(chain.next);
    assert_null(chain.next->next);
    char fp[65];
    minica_sha256_hex(chain.next->raw.p, chain.next->raw.len, fp);
    assert_string_equal(fp, old_fp);
    /* And that intermediate signed the leaf. */
    uint32_t flags = 0;
    assert_int_equal(mbedtls_x509_crt_verify(&chain, chain.next, NULL, NULL, &flags, NULL, NULL),
                     0);
    mbedtls_x509_crt_free(&chain);
    minica_http_response_free(&resp);
    free(der);
}

static cJSON *order_replacing(struct fixture *f, mbedtls_pk_context *pk, const char *kid,
                              const char *replaces, int *status)
{
    char payload[1024];
    snprintf(payload, sizeof(payload),
             "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"127.0.0.1\"}],\"replaces\":\"%s\"}",
             replaces);
    return post(f, pk, NULL, kid, "/acme/new-order", payload, status);
}

static void test_new_order_replaces(void **state)
{
    struct fixture *f = *state;
    int status;
    new_account(f);
    char *der = issue_for_loopback(f);
    char certid[MINICA_ARI_CERTID_MAX];
    certid_of(der, certid, sizeof(certid));

    /* Another account may not replace it. */
    cJSON_Delete(post(f, &f->key2, f->jwk2, NULL, "/acme/new-account", "{}", &status));
    assert_int_equal(status, 201);
    char kid2[600];
    snprintf(kid2, sizeof(kid2), "%s", f->location);
    expect_problem(order_replacing(f, &f->key2, kid2, certid, &status), &status, 403,
                   "unauthorized");
    /* Nor can anyone name what this CA did not issue, or a malformed id. */
    char other[MINICA_ARI_CERTID_MAX];
    snprintf(other, sizeof(other), "%s", certid);
    char *dot = strchr(other, '.');
    dot[1] = dot[1] == 'A' ? 'B' : 'A';
    expect_problem(order_replacing(f, &f->key, f->kid, other, &status), &status, 400, "malformed");
    expect_problem(order_replacing(f, &f->key, f->kid, "x.y.z", &status), &status, 400,
                   "malformed");
    expect_problem(post(f, &f->key, NULL, f->kid, "/acme/new-order",
                        "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"127.0.0.1\"}],"
                        "\"replaces\":7}",
                        &status),
                   &status, 400, "malformed");

    /* Nor an order sharing no name with it (RFC 9773 5). */
    char payload[1024];
    snprintf(payload, sizeof(payload),
             "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"127.0.0.2\"}],\"replaces\":\"%s\"}",
             certid);
    expect_problem(post(f, &f->key, NULL, f->kid, "/acme/new-order", payload, &status), &status,
                   400, "malformed");
    /* Its own account may, once; the order says what it replaces. */
    cJSON *o = order_replacing(f, &f->key, f->kid, certid, &status);
    assert_int_equal(status, 201);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "replaces")), certid);
    cJSON_Delete(o);
    expect_problem(order_replacing(f, &f->key, f->kid, certid, &status), &status, 409,
                   "alreadyReplaced");
    free(der);
}

/* RFC 8555 6.2: a POST that is not application/jose+json gets 415. */
static void test_post_needs_jose_json(void **state)
{
    struct fixture *f = *state;
    int status;
    static const char *const bad[] = {"application/json", "text/plain", "application/jose+jsonx",
                                      "application/jose"};
    fresh_nonce(f);
    f->content_type = "";
    expect_problem(post(f, &f->key, f->jwk, NULL, "/acme/new-account", "{}", &status), &status, 415,
                   "malformed");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f->content_type = bad[i];
        expect_problem(post(f, &f->key, f->jwk, NULL, "/acme/new-account", "{}", &status), &status,
                       415, "malformed");
    }
    /* Nothing was made: the account still does not exist. */
    f->content_type = NULL;
    expect_problem(post(f, &f->key, f->jwk, NULL, "/acme/new-account",
                        "{\"onlyReturnExisting\":true}", &status),
                   &status, 400, "accountDoesNotExist");
    /* Parameters and another case are fine. */
    f->content_type = "Application/JOSE+JSON; charset=utf-8";
    cJSON_Delete(post(f, &f->key, f->jwk, NULL, "/acme/new-account", "{}", &status));
    assert_int_equal(status, 201);
    f->content_type = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_directory_and_nonces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_nonce_and_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_order_checks_identifiers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http01_finalize_and_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_challenge_invalidates_the_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_revoke_cert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_by_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_order_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orders_list_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rsa_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewal_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_renew_now_and_own_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_order_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_needs_jose_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acme_disabled_answers_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_announces_eab_requirement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation_dials_only_validate_ip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eab_required_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eab_binds_the_first_account_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eab_refusals_store_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eab_revoked_key_stops_its_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eab_key_lists_narrow_orders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation_ports_from_the_test_environment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_validation_cap_leaves_the_challenge_pending, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
