/* libFuzzer harness for `minica serve`'s request handler, the pure function
 * behind the HTTPS front: route, method, body -> JSON -> token -> CSR ->
 * policy -> issuance. The first input byte picks the route (byte % 8); the
 * rest is the body, where "@TOKEN@" is replaced by a live enrollment token
 * for enroll.internal.svc (renewed whenever one is spent), and for /v1/renew
 * whatever follows "\n@CERT@\n" is the TLS client certificate (DER).
 * The CA lives in a temp directory (on /dev/shm when there is one). */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "minica/ca.h"
#include "minica/server.h"
#include "minica/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char base_dir[96];
static char ca_dir[128];
static struct minica_server *server;
static struct minica_ca *token_ca; /* a second handle, only to mint tokens */
static char token[MINICA_TOKEN_TEXT_MAX + 1];

static void mint_token(void)
{
    struct minica_token_request req;
    struct minica_err err;
    memset(&req, 0, sizeof(req));
    req.name = "enroll.internal.svc";
    req.expires_in = MINICA_TOKEN_MAX_EXPIRY;
    if (minica_token_create(token_ca, &req, token, sizeof(token), NULL, &err) != 0) {
        fprintf(stderr, "fuzz_serve_request: %s\n", err.msg);
        abort();
    }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* libFuzzer ends a timed run with exit(): take the temp CA with us. */
static void cleanup(void)
{
    minica_ca_close(token_ca);
    minica_server_close(server);
    nftw(base_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct minica_err err;
    snprintf(base_dir, sizeof(base_dir), "%s/fuzz_serve.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(base_dir) == NULL)
        abort();
    atexit(cleanup);
    snprintf(ca_dir, sizeof(ca_dir), "%s/ca", base_dir);
    static const char *const dns[] = {"internal.svc"};
    static const char *const ips[] = {"10.0.0.0/8"};
    struct minica_init_options opts;
    memset(&opts, 0, sizeof(opts));
    opts.name = "fuzz";
    opts.key_type = MINICA_KEY_EC_P256;
    opts.permit_dns = dns;
    opts.n_permit_dns = 1;
    opts.permit_ip = ips;
    opts.n_permit_ip = 1;
    if (minica_ca_init(ca_dir, &opts, &err) != 0 ||
        minica_server_open(ca_dir, &server, &err) != 0 ||
        minica_ca_open(ca_dir, &token_ca, &err) != 0) {
        fprintf(stderr, "fuzz_serve_request: %s\n", err.msg);
        abort();
    }
    mint_token();
    return 0;
}

/* body with every "@TOKEN@" replaced by the live token; malloc'd. */
static char *substitute(const char *body, size_t len, size_t *out_len)
{
    static const char marker[] = "@TOKEN@";
    size_t mlen = sizeof(marker) - 1, tlen = strlen(token);
    char *out = malloc(len * (tlen / mlen + 1) + 1);
    FUZZ_ASSERT(out != NULL);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (i + mlen <= len && memcmp(body + i, marker, mlen) == 0) {
            memcpy(out + o, token, tlen);
            o += tlen;
            i += mlen;
        } else {
            out[o++] = body[i++];
        }
    }
    *out_len = o;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        const char *method, *path;
    } routes[8] = {
        {"GET", "/v1/health"}, {"GET", "/v1/roots"}, {"POST", "/v1/sign"}, {"POST", "/v1/renew"},
        {"GET", "/v1/crl"},    {"GET", "/v1/sign"},  {"POST", "/v1/nope"}, {"POST", "/v1/sign"},
    };
    if (size == 0 || size > MINICA_SERVE_MAX_BODY + 1024)
        return 0;
    unsigned route = data[0] % 8;
    const char *rest = (const char *)data + 1;
    size_t rest_len = size - 1;

    static const char cert_marker[] = "\n@CERT@\n";
    const unsigned char *cert = NULL;
    size_t cert_len = 0;
    const char *m = rest_len >= sizeof(cert_marker) - 1
                        ? memmem(rest, rest_len, cert_marker, sizeof(cert_marker) - 1)
                        : NULL;
    if (m != NULL) {
        cert = (const unsigned char *)m + sizeof(cert_marker) - 1;
        cert_len = rest_len - (size_t)(cert - (const unsigned char *)rest);
        rest_len = (size_t)(m - rest);
    }
    size_t body_len = 0;
    char *body = substitute(rest, rest_len, &body_len);

    struct minica_http_request req;
    memset(&req, 0, sizeof(req));
    req.method = routes[route].method;
    req.path = routes[route].path;
    req.body = body;
    req.body_len = body_len;
    req.client_cert_der = cert;
    req.client_cert_len = cert_len;
    req.remote_addr = "127.0.0.1";
    struct minica_http_response resp;
    minica_server_handle(server, &req, &resp);
    FUZZ_ASSERT(resp.status >= 200 && resp.status < 600);
    FUZZ_ASSERT(resp.content_type != NULL);
    FUZZ_ASSERT(resp.body != NULL || resp.body_len == 0);
    if (route == 2 || route == 7) {
        if (resp.status == 200)
            mint_token(); /* spent: the next input gets a fresh one */
    }
    minica_http_response_free(&resp);
    free(body);
    return 0;
}
