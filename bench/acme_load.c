/* The load client of bench/run's ACME measurement: C workers, each with its
 * own ACME account (made before the clock starts), each issuance the whole
 * RFC 8555 flow on a new HTTPS connection: newOrder, the authorization,
 * the http-01 challenge, polling the authorization, finalize (polling the
 * order while it is processing) and the certificate download. The same
 * client runs against minica serve and against Caddy's acme_server, so the
 * ratio compares the servers. A built-in responder thread answers the
 * validators' http-01 requests on HTTP_PORT with the key authorizations of
 * the challenges in flight.
 *
 * GnuTLS (nettle) for the ES256 JWS, the keys and the CSRs, libcurl for
 * HTTPS: the client's own CPU is small next to a server's and is printed
 * (client_cpu_ms per issuance) so that a reader can check. Keys and CSRs
 * are made before the clock starts, one fresh P-256 key per issuance. Not a
 * test and not a product client. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define POLL_MS 5      /* between polls of a pending authorization or order */
#define MAX_POLLS 2000 /* 10 s of polling: then the issuance failed */

struct buf {
    char *p;
    size_t len, cap;
};

static int buf_add(struct buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->p, cap);
        if (grown == NULL)
            return -1;
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
        out[o++] = t[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
    }
    out[o] = '\0';
}

static char *b64url_alloc(const void *in, size_t n)
{
    char *out = malloc(n * 4 / 3 + 4);
    if (out != NULL)
        b64url(in, n, out);
    return out;
}

/* A big-endian integer as exactly 32 bytes (GnuTLS may give 31 or 33). */
static int fixed32(const gnutls_datum_t *d, unsigned char out[32])
{
    size_t n = d->size;
    const unsigned char *p = d->data;
    while (n > 32 && *p == 0) {
        p++;
        n--;
    }
    if (n > 32)
        return -1;
    memset(out, 0, 32 - n);
    memcpy(out + 32 - n, p, n);
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

/* ---- the http-01 responder ---- */

struct slot {
    char token[128];
    char key_authz[256];
};

static struct {
    struct slot *slots; /* one per worker: the challenge it has in flight */
    int n;
    pthread_mutex_t lock;
    int fd;
    unsigned long served, missed;
} responder = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

static void slot_set(int w, const char *token, const char *key_authz)
{
    pthread_mutex_lock(&responder.lock);
    snprintf(responder.slots[w].token, sizeof(responder.slots[w].token), "%s", token);
    snprintf(responder.slots[w].key_authz, sizeof(responder.slots[w].key_authz), "%s", key_authz);
    pthread_mutex_unlock(&responder.lock);
}

static void *respond_one(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char req[4096];
    size_t got = 0;
    while (got < sizeof(req) - 1) {
        ssize_t n = recv(fd, req + got, sizeof(req) - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    req[got] = '\0';
    static const char prefix[] = "GET /.well-known/acme-challenge/";
    char answer[256] = "";
    if (strncmp(req, prefix, sizeof(prefix) - 1) == 0) {
        const char *tok = req + sizeof(prefix) - 1;
        size_t len = strcspn(tok, " ?\r\n");
        pthread_mutex_lock(&responder.lock);
        for (int i = 0; i < responder.n; i++)
            if (strlen(responder.slots[i].token) == len &&
                strncmp(responder.slots[i].token, tok, len) == 0) {
                snprintf(answer, sizeof(answer), "%s", responder.slots[i].key_authz);
                break;
            }
        if (answer[0])
            responder.served++;
        else
            responder.missed++;
        pthread_mutex_unlock(&responder.lock);
    }
    char resp[512];
    int len = answer[0] ? snprintf(resp, sizeof(resp),
                                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                                   strlen(answer), answer)
                        : snprintf(resp, sizeof(resp),
                                   "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                                   "Connection: close\r\n\r\n");
    ssize_t w = send(fd, resp, (size_t)len, MSG_NOSIGNAL);
    (void)w;
    close(fd);
    return NULL;
}

static void *responder_main(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept4(responder.fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        /* A thread a connection: a validator that holds its connection
         * open must not delay another server thread's validation. */
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, respond_one, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&attr);
    }
}

static int responder_start(int port)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), zero = 0, one = 1;
    if (fd < 0)
        return -1;
    /* Both families: a validator may dial ::1 for a name in /etc/hosts. */
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons((uint16_t)port);
    sa.sin6_addr = in6addr_any;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 128) != 0) {
        fprintf(stderr, "acme_load: http-01 responder on port %d: %s\n", port, strerror(errno));
        close(fd);
        return -1;
    }
    responder.fd = fd;
    pthread_t t;
    return pthread_create(&t, NULL, responder_main, NULL) == 0 ? 0 : -1;
}

/* ---- accounts, JWS and HTTP ---- */

struct directory {
    char *new_nonce, *new_account, *new_order;
};

struct account {
    gnutls_privkey_t key;
    char jwk[256];       /* {"crv","kty","x","y"}: the RFC 7638 member order */
    char thumbprint[64]; /* base64url SHA-256 of jwk */
    char kid[512];       /* the account URL, empty until newAccount */
    char nonce[256];     /* newAccount's answer's, for the worker's first request */
};

struct http {
    CURL *curl;
    struct buf body;
    char nonce[256];
    char location[1024];
    long status;
};

struct job {
    char name[256];
    char *csr64; /* base64url DER, made before the clock starts */
    double ms;
    int ok;
};

struct load {
    const char *root;
    struct directory dir;
    struct account *accts;
    struct job *jobs;
    int n, next, workers;
    const char *chain_out;
    int chain_written, errors_printed;
    unsigned long polls, bad_nonces, requests;
    pthread_mutex_t lock;
};

static struct load ld;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    pthread_mutex_lock(&ld.lock);
    if (ld.errors_printed++ < 5) {
        va_list ap;
        va_start(ap, fmt);
        fputs("acme_load: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    pthread_mutex_unlock(&ld.lock);
}

static int account_key(struct account *a)
{
    gnutls_datum_t x = {NULL, 0}, y = {NULL, 0};
    gnutls_ecc_curve_t curve;
    unsigned char xb[32], yb[32], digest[32];
    char xs[64], ys[64];
    int ret = -1;
    if (gnutls_privkey_init(&a->key) < 0 ||
        gnutls_privkey_generate(a->key, GNUTLS_PK_ECDSA,
                                GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
        gnutls_privkey_export_ecc_raw2(a->key, &curve, &x, &y, NULL, GNUTLS_EXPORT_FLAG_NO_LZ) <
            0 ||
        fixed32(&x, xb) != 0 || fixed32(&y, yb) != 0)
        goto out;
    b64url(xb, 32, xs);
    b64url(yb, 32, ys);
    snprintf(a->jwk, sizeof(a->jwk), "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
             xs, ys);
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, a->jwk, strlen(a->jwk), digest) < 0)
        goto out;
    b64url(digest, 32, a->thumbprint);
    ret = 0;
out:
    gnutls_free(x.data);
    gnutls_free(y.data);
    return ret;
}

/* The flattened JWS (RFC 7515 7.2.2) of payload (NULL: POST-as-GET's empty
 * payload) for url, signed ES256: kid once the account exists, else jwk. */
static char *jws(const struct account *a, const char *nonce, const char *url, const char *payload)
{
    size_t plen = payload ? strlen(payload) : 0;
    char *prot = malloc(strlen(url) + strlen(nonce) + sizeof(a->kid) + sizeof(a->jwk) + 128);
    char *prot64 = NULL, *pay64 = NULL, *signing = NULL, *out = NULL;
    gnutls_datum_t sig = {NULL, 0}, r = {NULL, 0}, s = {NULL, 0};
    if (prot == NULL)
        return NULL;
    if (a->kid[0])
        sprintf(prot, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\"}", a->kid,
                nonce, url);
    else
        sprintf(prot, "{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s\"}", a->jwk,
                nonce, url);
    prot64 = b64url_alloc(prot, strlen(prot));
    pay64 = b64url_alloc(payload ? payload : "", plen);
    if (prot64 == NULL || pay64 == NULL)
        goto out;
    size_t slen = strlen(prot64) + 1 + strlen(pay64);
    signing = malloc(slen + 1);
    if (signing == NULL)
        goto out;
    sprintf(signing, "%s.%s", prot64, pay64);
    gnutls_datum_t data = {(unsigned char *)signing, (unsigned)slen};
    unsigned char rs[64];
    char sig64[100];
    if (gnutls_privkey_sign_data(a->key, GNUTLS_DIG_SHA256, 0, &data, &sig) < 0 ||
        gnutls_decode_rs_value(&sig, &r, &s) < 0 || fixed32(&r, rs) != 0 ||
        fixed32(&s, rs + 32) != 0)
        goto out;
    b64url(rs, 64, sig64);
    out = malloc(slen + strlen(sig64) + 64);
    if (out != NULL)
        sprintf(out, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", prot64,
                pay64, sig64);
out:
    gnutls_free(sig.data);
    gnutls_free(r.data);
    gnutls_free(s.data);
    free(signing);
    free(pay64);
    free(prot64);
    free(prot);
    return out;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    return buf_add(ctx, p, size * n) == 0 ? size * n : 0;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0)
        return;
    const char *v = line + nl;
    size_t vl = len - nl;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    snprintf(out, outsz, "%.*s", (int)vl, v);
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    struct http *h = ctx;
    size_t len = size * n;
    header_value(p, len, "Replay-Nonce:", h->nonce, sizeof(h->nonce));
    header_value(p, len, "Location:", h->location, sizeof(h->location));
    return len;
}

static int http_open(struct http *h)
{
    memset(h, 0, sizeof(*h));
    if ((h->curl = curl_easy_init()) == NULL)
        return -1;
    curl_easy_setopt(h->curl, CURLOPT_CAINFO, ld.root);
    /* Only the server's root: without this libcurl also reads the system's
     * CA directory on every connection, which costs more than the rest. */
    curl_easy_setopt(h->curl, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(h->curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &h->body);
    curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_TCP_NODELAY, 1L);
    return 0;
}

static void http_close(struct http *h)
{
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    free(h->body.p);
    h->curl = NULL;
    h->body.p = NULL;
}

/* One request: GET (jose NULL, head 0), HEAD (head 1) or a JOSE POST. The
 * nonce from the answer, if any, replaces h->nonce. */
static int http_do(struct http *h, const char *url, const char *jose, int head)
{
    static const char *const ctype = "Content-Type: application/jose+json";
    struct curl_slist *hdrs = NULL;
    h->body.len = 0;
    if (h->body.p)
        h->body.p[0] = '\0';
    h->location[0] = '\0';
    char keep[sizeof(h->nonce)];
    snprintf(keep, sizeof(keep), "%s", h->nonce);
    h->nonce[0] = '\0';
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_NOBODY, (long)head);
    if (jose != NULL) {
        hdrs = curl_slist_append(hdrs, ctype);
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, jose);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(jose));
    } else if (!head) {
        curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(h->curl);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (!h->nonce[0])
        snprintf(h->nonce, sizeof(h->nonce), "%s", keep);
    __atomic_add_fetch(&ld.requests, 1, __ATOMIC_RELAXED);
    if (rc != CURLE_OK) {
        report("%s: %s", url, curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
    return 0;
}

/* A signed POST to url; the answer's JSON in *out (NULL for a non-JSON
 * body such as the certificate). Retries a badNonce with the nonce it came
 * with (RFC 8555 6.5). 0 when the status was want. */
static int acme_post(struct http *h, const struct account *a, const char *url, const char *payload,
                     long want, cJSON **out)
{
    if (out != NULL)
        *out = NULL;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (!h->nonce[0] && (http_do(h, ld.dir.new_nonce, NULL, 1) != 0 || !h->nonce[0])) {
            report("no nonce from %s", ld.dir.new_nonce);
            return -1;
        }
        char *body = jws(a, h->nonce, url, payload);
        if (body == NULL)
            return -1;
        h->nonce[0] = '\0';
        int rc = http_do(h, url, body, 0);
        free(body);
        if (rc != 0)
            return -1;
        if (h->status == 400 && h->body.p && strstr(h->body.p, "badNonce") != NULL) {
            __atomic_add_fetch(&ld.bad_nonces, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (h->status != want) {
            report("POST %s: %ld (want %ld): %.300s", url, h->status, want,
                   h->body.p ? h->body.p : "");
            return -1;
        }
        if (out != NULL && (*out = cJSON_Parse(h->body.p ? h->body.p : "")) == NULL) {
            report("POST %s: not JSON: %.200s", url, h->body.p ? h->body.p : "");
            return -1;
        }
        return 0;
    }
    report("POST %s: badNonce three times", url);
    return -1;
}

static const char *jstr(const cJSON *o, const char *member)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, member));
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* POST-as-GET url until its status is one of done (space-separated);
 * "invalid" or MAX_POLLS ends it. The last answer in *out. */
static int poll_until(struct http *h, const struct account *a, const char *url, const char *done,
                      cJSON **out)
{
    for (int i = 0; i < MAX_POLLS; i++) {
        if (i > 0) {
            __atomic_add_fetch(&ld.polls, 1, __ATOMIC_RELAXED);
            pause_ms(POLL_MS);
        }
        if (acme_post(h, a, url, NULL, 200, out) != 0)
            return -1;
        const char *st = jstr(*out, "status");
        if (st != NULL && strstr(done, st) != NULL)
            return 0;
        if (st == NULL || strcmp(st, "invalid") == 0) {
            char *text = cJSON_PrintUnformatted(*out);
            report("%s: %.300s", url, text ? text : "?");
            free(text);
            return -1;
        }
        cJSON_Delete(*out);
        *out = NULL;
    }
    report("%s: still not %s after %d polls", url, done, MAX_POLLS);
    return -1;
}

/* One issuance, on a new connection; worker w's account. */
static int issue(int w, struct job *job, struct http *h)
{
    struct account *a = &ld.accts[w];
    cJSON *order = NULL, *authz = NULL, *chal = NULL, *fin = NULL;
    char *order_url = NULL, *payload = NULL;
    int ret = -1;
    char body[512];
    snprintf(body, sizeof(body), "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"%s\"}]}",
             job->name);
    if (acme_post(h, a, ld.dir.new_order, body, 201, &order) != 0)
        goto out;
    order_url = strdup(h->location);
    const char *authz_url =
        cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(order, "authorizations"), 0));
    const char *finalize = jstr(order, "finalize");
    if (!order_url[0] || authz_url == NULL || finalize == NULL) {
        report("newOrder: no Location, authorization or finalize URL");
        goto out;
    }
    if (acme_post(h, a, authz_url, NULL, 200, &authz) != 0)
        goto out;
    const cJSON *c, *http01 = NULL;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(authz, "challenges"))
    {
        const char *t = jstr(c, "type");
        if (t != NULL && strcmp(t, "http-01") == 0)
            http01 = c;
    }
    const char *token = http01 ? jstr(http01, "token") : NULL;
    const char *chal_url = http01 ? jstr(http01, "url") : NULL;
    if (token == NULL || chal_url == NULL) {
        report("%s: no http-01 challenge", authz_url);
        goto out;
    }
    char key_authz[256];
    snprintf(key_authz, sizeof(key_authz), "%s.%s", token, a->thumbprint);
    slot_set(w, token, key_authz);
    if (acme_post(h, a, chal_url, "{}", 200, &chal) != 0)
        goto out;
    cJSON_Delete(authz);
    authz = NULL;
    if (poll_until(h, a, authz_url, "valid", &authz) != 0)
        goto out;
    slot_set(w, "", "");
    size_t clen = strlen(job->csr64);
    payload = malloc(clen + 16);
    if (payload == NULL)
        goto out;
    sprintf(payload, "{\"csr\":\"%s\"}", job->csr64);
    if (acme_post(h, a, finalize, payload, 200, &fin) != 0)
        goto out;
    const char *st = jstr(fin, "status");
    if (st == NULL || strcmp(st, "valid") != 0) {
        cJSON_Delete(fin);
        fin = NULL;
        if (poll_until(h, a, order_url, "valid", &fin) != 0)
            goto out;
    }
    const char *cert_url = jstr(fin, "certificate");
    if (cert_url == NULL) {
        report("%s: valid without a certificate URL", order_url);
        goto out;
    }
    if (acme_post(h, a, cert_url, NULL, 200, NULL) != 0)
        goto out;
    if (h->body.p == NULL || strstr(h->body.p, "-----BEGIN CERTIFICATE-----") == NULL) {
        report("%s: no PEM certificate", cert_url);
        goto out;
    }
    pthread_mutex_lock(&ld.lock);
    if (ld.chain_out != NULL && !ld.chain_written) {
        FILE *f = fopen(ld.chain_out, "w");
        if (f != NULL) {
            fputs(h->body.p, f);
            fclose(f);
            ld.chain_written = 1;
        }
    }
    pthread_mutex_unlock(&ld.lock);
    ret = 0;
out:
    slot_set(w, "", "");
    cJSON_Delete(fin);
    cJSON_Delete(chal);
    cJSON_Delete(authz);
    cJSON_Delete(order);
    free(payload);
    free(order_url);
    return ret;
}

/* Each worker keeps its last nonce across issuances (a nonce is not bound
 * to a connection), so a new connection does not cost a newNonce. */
static void *worker(void *arg)
{
    int w = (int)(intptr_t)arg;
    char nonce[256];
    snprintf(nonce, sizeof(nonce), "%s", ld.accts[w].nonce);
    for (;;) {
        pthread_mutex_lock(&ld.lock);
        int i = ld.next < ld.n ? ld.next++ : -1;
        pthread_mutex_unlock(&ld.lock);
        if (i < 0)
            return NULL;
        struct http h;
        double t0 = now_ms();
        if (http_open(&h) != 0)
            return NULL;
        snprintf(h.nonce, sizeof(h.nonce), "%s", nonce);
        ld.jobs[i].ok = issue(w, &ld.jobs[i], &h) == 0;
        snprintf(nonce, sizeof(nonce), "%s", h.nonce);
        http_close(&h);
        ld.jobs[i].ms = now_ms() - t0;
    }
}

/* A fresh P-256 key and a CSR for name (CN and one DNS SAN), as base64url DER. */
static char *make_csr(const char *name)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crq_t crq = NULL;
    gnutls_datum_t der = {NULL, 0};
    char *out = NULL;
    if (gnutls_x509_privkey_init(&key) < 0 ||
        gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
        gnutls_x509_crq_init(&crq) < 0 || gnutls_x509_crq_set_version(crq, 1) < 0 ||
        gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, name,
                                      (unsigned)strlen(name)) < 0 ||
        gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_DNSNAME, name, (unsigned)strlen(name),
                                             GNUTLS_FSAN_SET) < 0 ||
        gnutls_x509_crq_set_key(crq, key) < 0 ||
        gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0) < 0 ||
        gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &der) < 0)
        goto out;
    out = b64url_alloc(der.data, der.size);
out:
    gnutls_free(der.data);
    if (crq != NULL)
        gnutls_x509_crq_deinit(crq);
    if (key != NULL)
        gnutls_x509_privkey_deinit(key);
    return out;
}

static int read_directory(const char *url)
{
    struct http h;
    cJSON *d = NULL;
    int ret = -1;
    if (http_open(&h) != 0)
        return -1;
    if (http_do(&h, url, NULL, 0) != 0 || h.status != 200 || (d = cJSON_Parse(h.body.p)) == NULL) {
        fprintf(stderr, "acme_load: directory %s: %ld %.200s\n", url, h.status,
                h.body.p ? h.body.p : "");
        goto out;
    }
    const char *nn = jstr(d, "newNonce"), *na = jstr(d, "newAccount"), *no = jstr(d, "newOrder");
    if (nn == NULL || na == NULL || no == NULL) {
        fprintf(stderr, "acme_load: directory %s lacks newNonce/newAccount/newOrder\n", url);
        goto out;
    }
    ld.dir.new_nonce = strdup(nn);
    ld.dir.new_account = strdup(na);
    ld.dir.new_order = strdup(no);
    ret = 0;
out:
    cJSON_Delete(d);
    http_close(&h);
    return ret;
}

static int new_account(struct account *a)
{
    struct http h;
    cJSON *acct = NULL;
    int ret = -1;
    if (account_key(a) != 0 || http_open(&h) != 0)
        return -1;
    if (acme_post(&h, a, ld.dir.new_account, "{\"termsOfServiceAgreed\":true}", 201, &acct) == 0 &&
        h.location[0]) {
        snprintf(a->kid, sizeof(a->kid), "%s", h.location);
        snprintf(a->nonce, sizeof(a->nonce), "%s", h.nonce);
        ret = 0;
    }
    cJSON_Delete(acct);
    http_close(&h);
    return ret;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Reads one name a line. */
static int read_names(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[300];
    int cap = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, " \t\r\n")] = '\0';
        if (!line[0])
            continue;
        if (ld.n == cap) {
            cap = cap ? cap * 2 : 256;
            struct job *grown = realloc(ld.jobs, (size_t)cap * sizeof(*ld.jobs));
            if (grown == NULL) {
                fclose(f);
                return -1;
            }
            ld.jobs = grown;
        }
        memset(&ld.jobs[ld.n], 0, sizeof(*ld.jobs));
        snprintf(ld.jobs[ld.n].name, sizeof(ld.jobs[ld.n].name), "%s", line);
        ld.n++;
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 7) {
        fprintf(stderr,
                "usage: acme_load DIRECTORY_URL ROOT_PEM WORKERS NAMES HTTP_PORT [CHAIN_OUT]\n"
                "  one issuance per line of NAMES (a DNS name), WORKERS at once, each\n"
                "  worker with its own account; answers http-01 on HTTP_PORT; writes the\n"
                "  first chain it got to CHAIN_OUT. Prints per_s, p50_ms, p99_ms, the\n"
                "  requests and polls per issuance and the client's own CPU.\n");
        return 2;
    }
    pthread_mutex_init(&ld.lock, NULL);
    ld.root = argv[2];
    ld.workers = atoi(argv[3]);
    int port = atoi(argv[5]);
    ld.chain_out = argc == 7 ? argv[6] : NULL;
    if (ld.workers <= 0 || port <= 0)
        return 2;
    if (read_names(argv[4]) != 0 || ld.n == 0) {
        fprintf(stderr, "acme_load: no names in %s\n", argv[4]);
        return 1;
    }
    if (gnutls_global_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    responder.n = ld.workers;
    responder.slots = calloc((size_t)ld.workers, sizeof(*responder.slots));
    ld.accts = calloc((size_t)ld.workers, sizeof(*ld.accts));
    pthread_t *threads = calloc((size_t)ld.workers, sizeof(*threads));
    if (responder.slots == NULL || ld.accts == NULL || threads == NULL)
        return 1;
    if (responder_start(port) != 0 || read_directory(argv[1]) != 0)
        return 1;
    /* Accounts, keys and CSRs before the clock starts. */
    for (int w = 0; w < ld.workers; w++)
        if (new_account(&ld.accts[w]) != 0) {
            fprintf(stderr, "acme_load: newAccount failed\n");
            return 1;
        }
    for (int i = 0; i < ld.n; i++)
        if ((ld.jobs[i].csr64 = make_csr(ld.jobs[i].name)) == NULL) {
            fprintf(stderr, "acme_load: CSR for %s failed\n", ld.jobs[i].name);
            return 1;
        }
    ld.requests = 0;
    double cpu0 = cpu_ms(), start = now_ms();
    for (int t = 0; t < ld.workers; t++)
        if (pthread_create(&threads[t], NULL, worker, (void *)(intptr_t)t) != 0)
            return 1;
    for (int t = 0; t < ld.workers; t++)
        pthread_join(threads[t], NULL);
    double wall = now_ms() - start, cpu = cpu_ms() - cpu0;
    double *lat = calloc((size_t)ld.n, sizeof(*lat));
    int ok = 0;
    for (int i = 0; i < ld.n; i++)
        if (ld.jobs[i].ok)
            lat[ok++] = ld.jobs[i].ms;
    if (ok == 0) {
        fprintf(stderr, "acme_load: every issuance failed\n");
        return 1;
    }
    qsort(lat, (size_t)ok, sizeof(*lat), cmp_double);
    int i50 = (ok * 50 + 99) / 100 - 1, i99 = (ok * 99 + 99) / 100 - 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pthread_mutex_lock(&responder.lock);
    printf("per_s=%.1f p50_ms=%.2f p99_ms=%.2f ok=%d failed=%d requests_per=%.2f polls_per=%.2f "
           "bad_nonces=%lu http01_served=%lu http01_missed=%lu client_cpu_ms=%.3f "
           "client_cpu_share=%.3f\n",
           ok / (wall / 1000.0), lat[i50 < 0 ? 0 : i50], lat[i99 < 0 ? 0 : i99], ok, ld.n - ok,
           (double)ld.requests / ld.n, (double)ld.polls / ld.n, ld.bad_nonces, responder.served,
           responder.missed, cpu / ld.n, cpu / (wall * (double)(cores > 0 ? cores : 1)));
    pthread_mutex_unlock(&responder.lock);
    fflush(stdout);
    /* The responder and any validator connection still open end with the
     * process. */
    _exit(ok == ld.n ? 0 : 1);
}
