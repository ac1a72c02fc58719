/* libFuzzer harness for serve's ACME front (serve/acme.c) through the pure
 * handler. The first input byte picks the resource (byte % 10), the second
 * how the rest is sent: bit 0 raw (the rest is the whole body, for the JWS
 * and JSON parsers), else the rest is the payload of a JWS the harness
 * signs with its account key and a live nonce, so the fuzzer reaches the
 * account, order, finalize, revocation and key change logic; bit 1 signs
 * with the jwk instead of the kid. The order URLs are the last order the
 * harness saw created. Validation dials 127.0.0.1 port 1 only (refused at
 * once). The CA lives in a temp directory (on /dev/shm when there is one). */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/md.h>

#include "base/b64url.h"
#include "base/compat.h"
#include "base/util.h"
#include "ca/x509.h"
#include "fuzz_common.h"
#include "minica/ca.h"
#include "minica/server.h"
#include "serve/acme.h"

#define HOST "ca.internal.svc"
#define BASE "https://" HOST

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char base_dir[96];
static char ca_dir[128];
static struct minica_server *server;
static struct minica_rng rng;
static mbedtls_pk_context key;
static char jwk[256];
static char kid[600];
static char nonce[64];
static char order[600]; /* the last order's path, or "" */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void cleanup(void)
{
    minica_server_close(server);
    mbedtls_pk_free(&key);
    minica_rng_free(&rng);
    nftw(base_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *b64(const void *in, size_t len)
{
    size_t n = minica_b64url_encoded_len(len) + 1;
    char *out = malloc(n);
    FUZZ_ASSERT(out != NULL && minica_b64url_encode(in, len, out, n) == 0);
    return out;
}

/* A flattened ES256 JWS over protected_json and payload[0..len). */
static char *sign(const char *protected_json, const uint8_t *payload, size_t len)
{
    char *p64 = b64(protected_json, strlen(protected_json)), *y64 = b64(payload, len);
    size_t in_len = strlen(p64) + 1 + strlen(y64);
    char *input = malloc(in_len + 1);
    FUZZ_ASSERT(input != NULL);
    snprintf(input, in_len + 1, "%s.%s", p64, y64);
    unsigned char hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE], raw[64];
    size_t sig_len = 0;
    FUZZ_ASSERT(minica_compat_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                                 (const unsigned char *)input, in_len, hash) == 0);
    FUZZ_ASSERT(minica_compat_pk_sign(&key, MBEDTLS_MD_SHA256, hash, 32, sig, sizeof(sig), &sig_len,
                                      &rng.drbg) == 0);
    /* DER ECDSA-Sig-Value -> r||s. */
    unsigned char *p = sig, *end = sig + sig_len;
    size_t l;
    FUZZ_ASSERT(
        mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) == 0);
    for (int i = 0; i < 2; i++) {
        FUZZ_ASSERT(mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_INTEGER) == 0);
        while (l > 32) {
            p++;
            l--;
        }
        memset(raw + i * 32, 0, 32 - l);
        memcpy(raw + i * 32 + 32 - l, p, l);
        p += l;
    }
    char *s64 = b64(raw, 64);
    size_t n = strlen(p64) + strlen(y64) + strlen(s64) + 64;
    char *body = malloc(n);
    FUZZ_ASSERT(body != NULL);
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

/* One request; keeps the nonce (every answer must carry one). */
static void handle(const char *method, const char *path, const char *body, size_t len,
                   struct minica_http_response *resp)
{
    struct minica_http_request req;
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path;
    req.body = body;
    req.body_len = len;
    req.remote_addr = "127.0.0.1";
    req.host = HOST;
    req.content_type = "application/jose+json";
    minica_server_handle(server, &req, resp);
    FUZZ_ASSERT(resp->status >= 200 && resp->status < 600);
    FUZZ_ASSERT(resp->content_type != NULL);
    FUZZ_ASSERT(resp->body != NULL || resp->body_len == 0);
    const char *n = header(resp, "Replay-Nonce");
    FUZZ_ASSERT(n != NULL);
    snprintf(nonce, sizeof(nonce), "%s", n);
}

static void signed_post(const char *path, int use_jwk, const uint8_t *payload, size_t len,
                        struct minica_http_response *resp)
{
    char protected_json[1200];
    if (use_jwk)
        snprintf(protected_json, sizeof(protected_json),
                 "{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"" BASE "%s\"}", jwk,
                 nonce, path);
    else
        snprintf(protected_json, sizeof(protected_json),
                 "{\"alg\":\"ES256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"" BASE "%s\"}", kid,
                 nonce, path);
    char *body = sign(protected_json, payload, len);
    handle("POST", path, body, strlen(body), resp);
    free(body);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct minica_err err;
    snprintf(base_dir, sizeof(base_dir), "%s/fuzz_acme.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(base_dir) == NULL)
        abort();
    atexit(cleanup);
    snprintf(ca_dir, sizeof(ca_dir), "%s/ca", base_dir);
    static const char *const dns[] = {"internal.svc"};
    static const char *const ips[] = {"127.0.0.0/8"};
    struct minica_init_options opts;
    memset(&opts, 0, sizeof(opts));
    opts.name = "fuzz";
    opts.key_type = MINICA_KEY_EC_P256;
    opts.permit_dns = dns;
    opts.n_permit_dns = 1;
    opts.permit_ip = ips;
    opts.n_permit_ip = 1;
    mbedtls_pk_init(&key);
    char conf[160];
    snprintf(conf, sizeof(conf), "%s/minica.conf", ca_dir);
    FILE *cf = NULL;
    if (minica_ca_init(ca_dir, &opts, &err) != 0 || (cf = fopen(conf, "a")) == NULL ||
        fputs("[acme]\nenabled = yes\neab = optional\n", cf) < 0 || fclose(cf) != 0 ||
        minica_server_open(ca_dir, &server, &err) != 0 || minica_rng_init(&rng, &err) != 0 ||
        minica_key_generate(&key, MINICA_KEY_EC_P256, &rng, &err) != 0) {
        fprintf(stderr, "fuzz_acme_request: %s\n", err.msg);
        abort();
    }
    struct minica_acme_validate_settings s;
    minica_acme_validate_settings_init(&s);
    s.http_port = 1;
    s.tls_port = 1;
    s.connect_timeout_ms = 200;
    s.total_timeout_ms = 400;
    minica_acme_set_validate_settings(server, &s);
    unsigned char der[200];
    int len = mbedtls_pk_write_pubkey_der(&key, der, sizeof(der));
    FUZZ_ASSERT(len > 0);
    char *x = b64(der + sizeof(der) - 64, 32), *y = b64(der + sizeof(der) - 32, 32);
    snprintf(jwk, sizeof(jwk), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x,
             y);
    free(x);
    free(y);
    struct minica_http_response resp;
    handle("HEAD", "/acme/new-nonce", NULL, 0, &resp);
    minica_http_response_free(&resp);
    static const char payload[] = "{\"termsOfServiceAgreed\":true}";
    signed_post("/acme/new-account", 1, (const uint8_t *)payload, sizeof(payload) - 1, &resp);
    const char *loc = header(&resp, "Location");
    FUZZ_ASSERT(resp.status == 201 && loc != NULL);
    snprintf(kid, sizeof(kid), "%s", loc);
    minica_http_response_free(&resp);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > MINICA_SERVE_MAX_BODY)
        return 0;
    char acct[700], fin[700], cert[700];
    snprintf(acct, sizeof(acct), "%s", kid + strlen(BASE));
    snprintf(fin, sizeof(fin), "%s/finalize", order[0] ? order : "/acme/order/none");
    snprintf(cert, sizeof(cert), "/acme/cert/%s",
             order[0] ? order + strlen("/acme/order/") : "none");
    const char *const paths[10] = {
        "/acme/new-account",
        "/acme/new-order",
        order[0] ? order : "/acme/order/none",
        fin,
        cert,
        acct,
        "/acme/revoke-cert",
        "/acme/key-change",
        "/acme/new-nonce",
        "/acme/directory",
    };
    const char *path = paths[data[0] % 10];
    struct minica_http_response resp;
    if (data[1] & 1)
        handle(data[0] & 0x80 ? "GET" : "POST", path, (const char *)data + 2, size - 2, &resp);
    else
        signed_post(path, (data[1] & 2) != 0, data + 2, size - 2, &resp);
    /* Refusals are problem documents; the account itself never goes away
     * except by deactivation, which the next inputs then meet. */
    if (resp.status >= 400)
        FUZZ_ASSERT(strcmp(resp.content_type, "application/problem+json") == 0);
    const char *loc = header(&resp, "Location");
    if (resp.status == 201 && loc != NULL &&
        strncmp(loc, BASE "/acme/order/", strlen(BASE "/acme/order/")) == 0)
        snprintf(order, sizeof(order), "%s", loc + strlen(BASE));
    minica_http_response_free(&resp);
    return 0;
}
