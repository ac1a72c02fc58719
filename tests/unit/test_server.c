/* The HTTP API of minica serve through its pure handler: routes, statuses,
 * JSON errors, token enrollment and its refusals, mTLS renewal and its
 * refusals, the CRL, the body cap and the audit trail. No sockets here;
 * tests/integration/test_serve.sh runs the real server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_csr.h>

#include "base/util.h"

#include "ca/x509.h"
#include "minica/ca.h"
#include "minica/der.h"
#include "minica/issue.h"
#include "minica/key.h"
#include "minica/lifecycle.h"
#include "minica/names.h"
#include "minica/remote.h"
#include "minica/revoke.h"
#include "minica/server.h"
#include "minica/token.h"
#include "testutil.h"

/* The client address of the requests call() makes. */
static const char *remote_addr = "192.0.2.10";

struct fixture {
    char *dir;
    struct minica_server *srv;
    struct minica_ca *admin; /* a second handle, as `minica token` would have */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = tu_make_ca();
    struct minica_err err;
    assert_int_equal(minica_server_open(f->dir, &f->srv, &err), 0);
    assert_int_equal(minica_ca_open(f->dir, &f->admin, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    minica_server_close(f->srv);
    minica_ca_close(f->admin);
    tu_free_ca(f->dir);
    free(f);
    unsetenv("MINICA_FAKE_NOW");
    remote_addr = "192.0.2.10";
    return 0;
}

/* Runs one request; returns the parsed JSON body (or NULL) and the status. */
static cJSON *call(struct fixture *f, const char *method, const char *path, const char *body,
                   const unsigned char *cert, size_t cert_len, int *status,
                   struct minica_http_response *keep)
{
    struct minica_http_request req = {
        .method = method,
        .path = path,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .client_cert_der = cert,
        .client_cert_len = cert_len,
        .remote_addr = remote_addr,
    };
    struct minica_http_response resp;
    minica_server_handle(f->srv, &req, &resp);
    *status = resp.status;
    assert_non_null(resp.content_type);
    cJSON *json = NULL;
    if (strcmp(resp.content_type, "application/json") == 0) {
        json = cJSON_ParseWithLength(resp.body, resp.body_len);
        assert_non_null(json);
        if (resp.status != 200) {
            /* Every error is {"error": ..., "detail": ...}. */
            assert_true(cJSON_IsString(cJSON_GetObjectItem(json, "error")));
            assert_true(cJSON_IsString(cJSON_GetObjectItem(json, "detail")));
        }
    }
    if (keep != NULL)
        *keep = resp;
    else
        minica_http_response_free(&resp);
    return json;
}

static char *sign_body(const char *token, const char *csr)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "token", token);
    cJSON_AddStringToObject(o, "csr", csr);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static char *renew_body(const char *csr)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "csr", csr);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static void new_token(struct fixture *f, const char *name, const char *san, char *text)
{
    const char *sans[1] = {san};
    struct minica_token_request req = {.name = name, .sans = sans, .n_sans = san ? 1 : 0};
    struct minica_err err;
    if (minica_token_create(f->admin, &req, text, MINICA_TOKEN_TEXT_MAX, NULL, &err) != 0)
        fail_msg("%s", err.msg);
}

static int expect_status(struct fixture *f, const char *method, const char *path, const char *body,
                         const unsigned char *cert, size_t cert_len)
{
    int status;
    cJSON_Delete(call(f, method, path, body, cert, cert_len, &status, NULL));
    return status;
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

static int audited(struct fixture *f, const char *needle)
{
    struct audit_search s = {.needle = needle};
    struct minica_err err;
    assert_int_equal(minica_store_list_audit(minica_ca_store(f->admin), 0, find_audit, &s, &err),
                     0);
    return s.found;
}

static void test_server_health_roots_and_unknown_routes(void **state)
{
    struct fixture *f = *state;
    int status;
    cJSON *j = call(f, "GET", "/v1/health", NULL, NULL, 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "ok");
    cJSON_Delete(j);
    struct minica_http_response resp;
    call(f, "GET", "/v1/roots", NULL, NULL, 0, &status, &resp);
    assert_int_equal(status, 200);
    assert_string_equal(resp.body, minica_ca_roots_pem(f->admin));
    minica_http_response_free(&resp);
    assert_int_equal(expect_status(f, "GET", "/v1/nope", NULL, NULL, 0), 404);
    assert_int_equal(expect_status(f, "GET", "/v1/health/../roots", NULL, NULL, 0), 404);
    assert_int_equal(expect_status(f, "POST", "/v1/health", "{}", NULL, 0), 405);
    assert_int_equal(expect_status(f, "GET", "/v1/sign", NULL, NULL, 0), 405);
    assert_int_equal(expect_status(f, "DELETE", "/v1/renew", NULL, NULL, 0), 405);
}

static void test_server_sign_with_token_then_replay_is_403(void **state)
{
    struct fixture *f = *state;
    char token[MINICA_TOKEN_TEXT_MAX];
    new_token(f, "web1.internal", "10.0.0.5", token);
    char *csr = tu_make_csr("web1.internal,10.0.0.5", 0);
    char *body = sign_body(token, csr);
    int status;
    cJSON *j = call(f, "POST", "/v1/sign", body, NULL, 0, &status, NULL);
    assert_int_equal(status, 200);
    const char *cert = cJSON_GetObjectItem(j, "certificate")->valuestring;
    assert_non_null(strstr(cert, "BEGIN CERTIFICATE"));
    assert_string_equal(cJSON_GetObjectItem(j, "chain")->valuestring,
                        minica_ca_chain_pem(f->admin));
    const char *serial = cJSON_GetObjectItem(j, "serial")->valuestring;
    assert_true(strlen(serial) > 0);
    const char *not_after = cJSON_GetObjectItem(j, "not_after")->valuestring;
    assert_int_equal(strlen(not_after), 20);
    assert_int_equal(not_after[19], 'Z');
    char needle[128];
    snprintf(needle, sizeof(needle), "serial=%s", serial);
    assert_int_equal(audited(f, needle), 1);
    assert_true(audited(f, "(remote 192.0.2.10 token ") >= 1);
    cJSON_Delete(j);

    j = call(f, "POST", "/v1/sign", body, NULL, 0, &status, NULL);
    assert_int_equal(status, 403);
    assert_non_null(strstr(cJSON_GetObjectItem(j, "detail")->valuestring, "already used"));
    cJSON_Delete(j);
    assert_true(audited(f, "refused token") >= 1);
    free(body);
    free(csr);
}

static void test_server_sign_refusals(void **state)
{
    struct fixture *f = *state;
    char token[MINICA_TOKEN_TEXT_MAX], old[MINICA_TOKEN_TEXT_MAX], past[32];
    new_token(f, "web1.internal", NULL, token);
    snprintf(past, sizeof(past), "%lld", (long long)minica_now() - 7200);
    setenv("MINICA_FAKE_NOW", past, 1);
    new_token(f, "web1.internal", NULL, old);
    unsetenv("MINICA_FAKE_NOW");
    char *csr = tu_make_csr("web1.internal", 0);
    char *other = tu_make_csr("web2.internal", 0);
    char *forged = tu_make_csr("web1.internal", 1);
    char *body;

    body = sign_body(old, csr); /* expired */
    assert_int_equal(expect_status(f, "POST", "/v1/sign", body, NULL, 0), 403);
    free(body);
    body = sign_body(token, other); /* other names */
    assert_int_equal(expect_status(f, "POST", "/v1/sign", body, NULL, 0), 403);
    free(body);
    /* Another client: the same token's next refusal from 192.0.2.10 would
     * only be counted, for a minute. */
    remote_addr = "192.0.2.11";
    body = sign_body(token, forged); /* bad signature */
    assert_int_equal(expect_status(f, "POST", "/v1/sign", body, NULL, 0), 400);
    free(body);
    remote_addr = "192.0.2.10";
    body = sign_body(token, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END "
                            "CERTIFICATE REQUEST-----\n"); /* bad PEM */
    assert_int_equal(expect_status(f, "POST", "/v1/sign", body, NULL, 0), 400);
    free(body);
    body = sign_body("not-a-token", csr);
    assert_int_equal(expect_status(f, "POST", "/v1/sign", body, NULL, 0), 403);
    free(body);
    /* Malformed bodies. */
    const char *bad[] = {"",
                         "{",
                         "[]",
                         "null",
                         "{\"token\": 1, \"csr\": \"x\"}",
                         "{\"csr\": \"x\"}",
                         "{\"token\": \"x\"}",
                         "\"str\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(expect_status(f, "POST", "/v1/sign", bad[i], NULL, 0), 400);
    /* After all that, the token still works: refusals did not spend it. */
    body = sign_body(token, csr);
    assert_int_equal(expect_status(f, "POST", "/v1/sign", body, NULL, 0), 200);
    free(body);
    assert_true(audited(f, "expired at") >= 1);
    assert_true(audited(f, "web2.internal") >= 1);
    assert_true(audited(f, "signature is invalid") >= 1);
    free(csr);
    free(other);
    free(forged);
}

/* "usage" in /v1/sign: another usage than the token's is refused (403)
 * before the token is spent; a value that is no usage is a 400. */
static void test_server_sign_refuses_other_usage_and_keeps_token(void **state)
{
    struct fixture *f = *state;
    char token[MINICA_TOKEN_TEXT_MAX];
    new_token(f, "web1.internal", NULL, token);
    char *csr = tu_make_csr("web1.internal", 0);
    const char *usages[] = {"client", "both", "bogus", "server"};
    const int want[] = {403, 403, 400, 200};
    for (size_t i = 0; i < 4; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "token", token);
        cJSON_AddStringToObject(o, "csr", csr);
        cJSON_AddStringToObject(o, "usage", usages[i]);
        char *body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        assert_int_equal(expect_status(f, "POST", "/v1/sign", body, NULL, 0), want[i]);
        free(body);
    }
    assert_true(audited(f, "grants usage server, not client") >= 1);
    free(csr);
}

static void test_server_big_body_is_413(void **state)
{
    struct fixture *f = *state;
    size_t n = MINICA_SERVE_MAX_BODY + 1;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = '\0';
    assert_int_equal(expect_status(f, "POST", "/v1/sign", big, NULL, 0), 413);
    assert_int_equal(expect_status(f, "POST", "/v1/renew", big, NULL, 0), 413);
    free(big);
}

/* A certificate issued by the CA in dir (locally), its DER in *der. */
static void local_cert(const char *dir, const char *name, struct minica_issued *issued,
                       unsigned char **der, size_t *der_len)
{
    struct minica_ca *ca = NULL;
    struct minica_err err;
    assert_int_equal(minica_ca_open(dir, &ca, &err), 0);
    struct minica_issue_request req = {.name = name, .ttl = 3600};
    assert_int_equal(minica_ca_issue(ca, &req, issued, &err), 0);
    minica_ca_close(ca);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(minica_crt_parse_pem(&crt, issued->cert_pem, &err), 0);
    *der = malloc(crt.raw.len);
    memcpy(*der, crt.raw.p, crt.raw.len);
    *der_len = crt.raw.len;
    mbedtls_x509_crt_free(&crt);
}

static void test_server_renew_with_client_cert(void **state)
{
    struct fixture *f = *state;
    struct minica_issued issued;
    unsigned char *der;
    size_t der_len;
    local_cert(f->dir, "web1.internal", &issued, &der, &der_len);
    char *csr = tu_make_csr("web1.internal", 0); /* a new key */
    char *body = renew_body(csr);
    int status;
    cJSON *j = call(f, "POST", "/v1/renew", body, der, der_len, &status, NULL);
    assert_int_equal(status, 200);
    assert_string_not_equal(cJSON_GetObjectItem(j, "serial")->valuestring, issued.serial);
    cJSON_Delete(j);
    char needle[128];
    snprintf(needle, sizeof(needle), "renew of %s", issued.serial);
    assert_int_equal(audited(f, needle), 1);

    /* Other names than the certificate's. */
    char *other = tu_make_csr("web2.internal", 0);
    char *obody = renew_body(other);
    assert_int_equal(expect_status(f, "POST", "/v1/renew", obody, der, der_len), 403);
    free(obody);
    free(other);
    /* No client certificate. */
    assert_int_equal(expect_status(f, "POST", "/v1/renew", body, NULL, 0), 403);
    /* Garbage as client certificate. */
    assert_int_equal(expect_status(f, "POST", "/v1/renew", body, (const unsigned char *)"xx", 2),
                     403);
    /* Expired (the clock moved past not_after). */
    char later[32];
    snprintf(later, sizeof(later), "%lld", (long long)issued.not_after + 10);
    setenv("MINICA_FAKE_NOW", later, 1);
    j = call(f, "POST", "/v1/renew", body, der, der_len, &status, NULL);
    unsetenv("MINICA_FAKE_NOW");
    assert_int_equal(status, 403);
    assert_non_null(strstr(cJSON_GetObjectItem(j, "detail")->valuestring, "new token"));
    cJSON_Delete(j);
    /* Revoked. */
    struct minica_err err;
    assert_int_equal(
        minica_store_revoke(minica_ca_store(f->admin), issued.serial, minica_now(), 1, &err), 0);
    assert_int_equal(expect_status(f, "POST", "/v1/renew", body, der, der_len), 403);
    assert_true(audited(f, "refused renewal") >= 3);
    free(body);
    free(csr);
    free(der);
    minica_issued_free(&issued);
}

static void test_server_renew_refuses_other_ca(void **state)
{
    struct fixture *f = *state;
    char *other_ca = tu_make_ca();
    struct minica_issued issued;
    unsigned char *der;
    size_t der_len;
    local_cert(other_ca, "web1.internal", &issued, &der, &der_len);
    char *csr = tu_make_csr("web1.internal", 0);
    char *body = renew_body(csr);
    int status;
    cJSON *j = call(f, "POST", "/v1/renew", body, der, der_len, &status, NULL);
    assert_int_equal(status, 403);
    assert_non_null(strstr(cJSON_GetObjectItem(j, "detail")->valuestring, "not issued by this CA"));
    cJSON_Delete(j);
    free(body);
    free(csr);
    free(der);
    minica_issued_free(&issued);
    tu_free_ca(other_ca);
}

/* A CSR for web1.internal (its SAN) whose CN is cn, verbatim. */
static char *csr_with_cn(const char *cn)
{
    struct minica_rng rng;
    struct minica_err err;
    assert_int_equal(minica_rng_init(&rng, &err), 0);
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    assert_int_equal(minica_key_generate(&pk, MINICA_KEY_EC_P256, &rng, &err), 0);
    struct minica_name name;
    assert_int_equal(minica_name_parse("web1.internal", &name, &err), 0);
    mbedtls_x509write_csr csr;
    mbedtls_x509write_csr_init(&csr);
    mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&csr, &pk);
    char subject[512];
    snprintf(subject, sizeof(subject), "CN=%s", cn);
    assert_int_equal(mbedtls_x509write_csr_set_subject_name(&csr, subject), 0);
    unsigned char ext[1024], *der = NULL;
    size_t len = 0;
    assert_int_equal(minica_der_san(&name, 1, ext, sizeof(ext), &der, &len, &err), 0);
    assert_int_equal(minica_compat_csr_set_extension(&csr, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                     MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
                                                     der, len),
                     0);
    unsigned char buf[4096];
    int dlen =
        mbedtls_x509write_csr_der(&csr, buf, sizeof(buf), mbedtls_ctr_drbg_random, &rng.drbg);
    assert_true(dlen > 0);
    char *pem = NULL;
    assert_int_equal(minica_der_to_pem(buf + sizeof(buf) - dlen, (size_t)dlen,
                                       "CERTIFICATE REQUEST", &pem, &err),
                     0);
    mbedtls_x509write_csr_free(&csr);
    mbedtls_pk_free(&pk);
    minica_rng_free(&rng);
    return pem;
}

static int printable_line(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

static int all_rows_printable(const struct minica_audit_row *row, void *ctx)
{
    int *bad = ctx;
    if (!printable_line(row->summary) || !printable_line(row->command))
        (*bad)++;
    return 0;
}

#define FORGED_CN "x\n2026-12-01T00:00:00Z 0 root revoke revoked ALL serial=01\x1b[2J"

/* A CN with a newline and ESC, through a token and through a renewal: the
 * refusal's audit row and the client's error quote it, escaped, as data. */
static void test_server_forged_cn_is_quoted_and_escaped(void **state)
{
    struct fixture *f = *state;
    char token[MINICA_TOKEN_TEXT_MAX];
    new_token(f, "web1.internal", NULL, token);
    char *csr = csr_with_cn(FORGED_CN);
    char *body = sign_body(token, csr);
    int status;
    cJSON *j = call(f, "POST", "/v1/sign", body, NULL, 0, &status, NULL);
    assert_int_equal(status, 403);
    const char *detail = cJSON_GetObjectItem(j, "detail")->valuestring;
    assert_true(printable_line(detail));
    assert_non_null(strstr(detail, "\"x\\n2026-12-01T00:00:00Z 0 root revoke revoked ALL "
                                   "serial=01\\x1b[2J\""));
    cJSON_Delete(j);
    free(body);

    struct minica_issued issued;
    unsigned char *der;
    size_t der_len;
    local_cert(f->dir, "web1.internal", &issued, &der, &der_len);
    body = renew_body(csr);
    assert_int_equal(expect_status(f, "POST", "/v1/renew", body, der, der_len), 403);
    free(body);

    int bad = 0;
    struct minica_err err;
    assert_int_equal(
        minica_store_list_audit(minica_ca_store(f->admin), 0, all_rows_printable, &bad, &err), 0);
    assert_int_equal(bad, 0);
    assert_int_equal(audited(f, "common name \"x\\n2026-12-01T00:00:00Z 0 root revoke"), 2);
    assert_int_equal(audited(f, "\n2026"), 0);
    free(csr);
    free(der);
    minica_issued_free(&issued);
}

struct refusal_rows {
    const char *client;
    int rows;
    unsigned long long total;
};

static int count_refusals(const struct minica_audit_row *row, void *ctx)
{
    struct refusal_rows *c = ctx;
    char from[96], remote[96];
    snprintf(from, sizeof(from), "more from %s in ", c->client);
    snprintf(remote, sizeof(remote), "(remote %s ", c->client);
    const char *more = strstr(row->summary, from);
    if (more != NULL && strncmp(row->summary, "refused ", 8) == 0) {
        c->rows++;
        c->total += strtoull(row->summary + 8, NULL, 10);
    } else if (strstr(row->summary, remote) != NULL) {
        c->rows++;
        c->total++;
    }
    return 0;
}

static void flood(struct fixture *f, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char token[128];
        /* Unknown ids, each another: the client chooses them. */
        snprintf(token, sizeof(token), "%016x.%s", (unsigned)i,
                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        char *body = sign_body(i % 2 ? token : "not-a-token", "x");
        assert_int_equal(expect_status(f, "POST", "/v1/sign", body, NULL, 0), 403);
        free(body);
    }
}

/* 500 bad tokens from one address: a handful of rows, whose counts add up
 * to 500; a new minute starts a new row. */
static void test_server_bad_token_flood_is_counted_not_logged(void **state)
{
    struct fixture *f = *state;
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)minica_now());
    setenv("MINICA_FAKE_NOW", now, 1);
    remote_addr = "198.51.100.7";
    flood(f, 0, 250);
    /* Counted in memory: nothing more than the first of each kind yet. */
    struct refusal_rows c = {.client = "198.51.100.7"};
    struct minica_err err;
    assert_int_equal(
        minica_store_list_audit(minica_ca_store(f->admin), 0, count_refusals, &c, &err), 0);
    assert_int_equal(c.rows, 2);
    snprintf(now, sizeof(now), "%lld", (long long)minica_now() + 61);
    setenv("MINICA_FAKE_NOW", now, 1);
    flood(f, 250, 250);
    /* An IPv6 client counts by its /64. */
    remote_addr = "2001:db8:1:2::1";
    flood(f, 501, 1);
    remote_addr = "2001:db8:1:2:ffff::9";
    flood(f, 503, 1);
    minica_server_close(f->srv); /* writes the counts still open */
    f->srv = NULL;
    memset(&c, 0, sizeof(c));
    c.client = "198.51.100.7";
    assert_int_equal(
        minica_store_list_audit(minica_ca_store(f->admin), 0, count_refusals, &c, &err), 0);
    assert_true(c.rows <= 8);
    assert_int_equal(c.total, 500);
    assert_int_equal(audited(f, "refused 1 more from 2001:db8:1:2::/64 in "), 1);
}

static void test_server_crl_is_der(void **state)
{
    struct fixture *f = *state;
    struct minica_http_response resp;
    int status;
    call(f, "GET", "/v1/crl", NULL, NULL, 0, &status, &resp);
    assert_int_equal(status, 200);
    assert_string_equal(resp.content_type, "application/pkix-crl");
    mbedtls_x509_crl crl;
    mbedtls_x509_crl_init(&crl);
    assert_int_equal(mbedtls_x509_crl_parse_der(&crl, (unsigned char *)resp.body, resp.body_len),
                     0);
    mbedtls_x509_crl_free(&crl);
    minica_http_response_free(&resp);
}

static size_t count_crls(const mbedtls_x509_crl *crl)
{
    size_t n = 0;
    for (; crl != NULL && crl->version; crl = crl->next)
        n++;
    return n;
}

/* After a rotation, /v1/crls is every current intermediate's CRL (the
 * active one first) in PEM, so a remote agent holding a leaf of the
 * previous intermediate can find it revoked; /v1/crl stays the active
 * intermediate's alone, in DER, for agents that predate it. */
static void test_server_crls_cover_every_intermediate(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    struct minica_issue_request ireq;
    struct minica_issued old;
    memset(&ireq, 0, sizeof(ireq));
    ireq.name = "old.example.svc";
    assert_int_equal(minica_ca_issue(f->admin, &ireq, &old, &err), 0);
    minica_server_close(f->srv);
    minica_ca_close(f->admin);
    f->srv = NULL;
    f->admin = NULL;
    struct minica_rotate_options ropts;
    struct minica_rotate_result rres;
    memset(&ropts, 0, sizeof(ropts));
    assert_int_equal(minica_ca_rotate(f->dir, &ropts, &rres, &err), 0);
    assert_int_equal(minica_server_open(f->dir, &f->srv, &err), 0);
    assert_int_equal(minica_ca_open(f->dir, &f->admin, &err), 0);
    assert_true(minica_ca_revoke(f->admin, old.serial, MINICA_REASON_KEY_COMPROMISE, NULL, &err) >
                0);

    struct minica_http_response resp;
    int status;
    call(f, "GET", "/v1/crls", NULL, NULL, 0, &status, &resp);
    assert_int_equal(status, 200);
    assert_string_equal(resp.content_type, "application/x-pem-file");
    mbedtls_x509_crl crls;
    mbedtls_x509_crl_init(&crls);
    assert_int_equal(mbedtls_x509_crl_parse(&crls, (unsigned char *)resp.body, resp.body_len + 1),
                     0);
    assert_int_equal(count_crls(&crls), 2);
    /* The previous intermediate's (second) lists the old leaf. */
    const mbedtls_x509_crl *prev = crls.next;
    char hex[41];
    assert_true(prev->entry.serial.len > 0);
    minica_serial_to_hex(prev->entry.serial.p, prev->entry.serial.len, hex, sizeof(hex));
    assert_string_equal(hex, old.serial);
    assert_int_equal(crls.entry.serial.len, 0);
    mbedtls_x509_crl_free(&crls);
    minica_http_response_free(&resp);

    /* The same set: /v1/crl is its first CRL, the active intermediate's. */
    call(f, "GET", "/v1/crl", NULL, NULL, 0, &status, &resp);
    assert_int_equal(status, 200);
    assert_string_equal(resp.content_type, "application/pkix-crl");
    mbedtls_x509_crl one;
    mbedtls_x509_crl_init(&one);
    assert_int_equal(mbedtls_x509_crl_parse_der(&one, (unsigned char *)resp.body, resp.body_len),
                     0);
    mbedtls_x509_crt inter;
    mbedtls_x509_crt_init(&inter);
    assert_int_equal(minica_crt_parse_pem(&inter, minica_ca_chain_pem(f->admin), &err), 0);
    assert_int_equal(one.issuer_raw.len, inter.subject_raw.len);
    assert_memory_equal(one.issuer_raw.p, inter.subject_raw.p, inter.subject_raw.len);
    assert_int_equal(one.entry.serial.len, 0);
    mbedtls_x509_crt_free(&inter);
    mbedtls_x509_crl_free(&one);
    minica_http_response_free(&resp);
    minica_issued_free(&old);
}

/* During a root rollover /v1/roots is every current root, then the
 * cross-certificate: what a client pinned to the old root learns the new
 * one from. */
static void test_server_roots_carry_the_cross_certificate(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    minica_server_close(f->srv);
    minica_ca_close(f->admin);
    f->srv = NULL;
    f->admin = NULL;
    struct minica_rollover_options opts;
    struct minica_rollover_result res;
    memset(&opts, 0, sizeof(opts));
    assert_int_equal(minica_ca_rollover(f->dir, &opts, &res, &err), 0);
    assert_int_equal(minica_server_open(f->dir, &f->srv, &err), 0);
    assert_int_equal(minica_ca_open(f->dir, &f->admin, &err), 0);

    struct minica_http_response resp;
    int status;
    call(f, "GET", "/v1/roots", NULL, NULL, 0, &status, &resp);
    assert_int_equal(status, 200);
    const char *roots = minica_ca_roots_pem(f->admin);
    assert_memory_equal(resp.body, roots, strlen(roots)); /* the roots first */
    mbedtls_x509_crt all;
    mbedtls_x509_crt_init(&all);
    assert_int_equal(minica_crt_parse_pem(&all, resp.body, &err), 0);
    const mbedtls_x509_crt *r2 = &all, *r1 = all.next, *x = r1 ? r1->next : NULL;
    assert_non_null(x);
    assert_null(x->next);
    /* The third is the cross: the new root's name and key, the old root's signature. */
    assert_int_equal(x->subject_raw.len, r2->subject_raw.len);
    assert_memory_equal(x->subject_raw.p, r2->subject_raw.p, r2->subject_raw.len);
    assert_int_equal(x->issuer_raw.len, r1->subject_raw.len);
    assert_memory_equal(x->issuer_raw.p, r1->subject_raw.p, r1->subject_raw.len);
    char fp[65];
    minica_sha256_hex(x->raw.p, x->raw.len, fp);
    const struct minica_ca_cert *certs;
    size_t n;
    int found = 0;
    minica_ca_certs(f->admin, &certs, &n);
    for (size_t i = 0; i < n; i++)
        found |= certs[i].role == MINICA_CA_CROSS && certs[i].active &&
                 strcmp(certs[i].fingerprint, fp) == 0;
    assert_true(found);
    mbedtls_x509_crt_free(&all);
    minica_http_response_free(&resp);
}

/* As openssl x509 -fingerprint prints it, bare, lower case, with spaces:
 * all the same 64 digits; anything else is refused. */
static void test_fingerprint_normalize_accepts_any_case_and_colons(void **state)
{
    (void)state;
    static const char want[] = "00112233445566778899aabbccddeeff"
                               "00112233445566778899aabbccddeeff";
    static const char *const good[] = {
        "sha256 Fingerprint=00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
        "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
        "SHA256 Fingerprint=00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:"
        "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff\n",
        "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:"
        "cc:dd:ee:ff",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char out[65];
        struct minica_err err;
        assert_int_equal(minica_fingerprint_normalize(good[i], out, &err), 0);
        assert_string_equal(out, want);
    }
    static const char *const bad[] = {
        "", "00112233",                                                       /* too short */
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00", /* too long */
        "g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",   /* not hex */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[65];
        struct minica_err err;
        assert_int_equal(minica_fingerprint_normalize(bad[i], out, &err), MINICA_EINVAL);
        assert_non_null(strstr(err.msg, "fingerprint"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_server_health_roots_and_unknown_routes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_sign_with_token_then_replay_is_403, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_sign_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_sign_refuses_other_usage_and_keeps_token, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_big_body_is_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_renew_with_client_cert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_renew_refuses_other_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_crl_is_der, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_crls_cover_every_intermediate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_roots_carry_the_cross_certificate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_forged_cn_is_quoted_and_escaped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_bad_token_flood_is_counted_not_logged, setup,
                                        teardown),
        cmocka_unit_test(test_fingerprint_normalize_accepts_any_case_and_colons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
