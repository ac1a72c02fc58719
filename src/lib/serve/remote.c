/* The client of `minica serve` (libcurl over GnuTLS): root bootstrap by
 * fingerprint, token enrollment, mutual-TLS renewal, CRL download. The key
 * is generated here and never sent; the answer is checked (chain to the
 * bootstrapped root, matching key) before anyone writes it to disk. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_csr.h>

#include "base/backoff.h"
#include "base/command.h"
#include "base/libload.h"
#include "base/trustfile.h"
#include "base/util.h"
#include "ca/x509.h"
#include "minica/der.h"
#include "minica/duration.h"
#include "minica/escape.h"
#include "minica/fsutil.h"
#include "minica/remote.h"

#define MAX_RESPONSE (1024 * 1024)
#define CSR_BUF_SIZE 16384
/* One attempt's TCP and TLS connect, and its whole exchange. */
#define CONNECT_TIMEOUT_MS 10000
#define TRANSFER_TIMEOUT_S 60
/* A Retry-After beyond this is the server's mistake, not a plan. */
#define RETRY_AFTER_MAX_S 3600
#define TRUST_FILE "/usr/local/share/ca-certificates/minica-root.crt"

int minica_fingerprint_normalize(const char *text, char out[65], struct minica_err *err)
{
    const char *p = text ? text : "";
    const char *eq = strchr(p, '=');
    if (eq != NULL) /* "sha256 Fingerprint=AB:CD:..." as openssl prints it */
        p = eq + 1;
    size_t n = 0;
    for (; *p; p++) {
        if (*p == ':' || *p == ' ' || *p == '\n' || *p == '\r')
            continue;
        if (!isxdigit((unsigned char)*p) || n == 64)
            return minica_seterr(err, MINICA_EINVAL,
                                 "invalid SHA-256 fingerprint '%s': expected 64 hex digits, with "
                                 "or without colons",
                                 text ? text : "");
        out[n++] = (char)tolower((unsigned char)*p);
    }
    out[n] = '\0';
    if (n != 64)
        return minica_seterr(err, MINICA_EINVAL,
                             "invalid SHA-256 fingerprint '%s': expected 64 hex digits, with or "
                             "without colons",
                             text ? text : "");
    return MINICA_OK;
}

int minica_remote_retry_for_parse(const char *text, int64_t *retry_for, struct minica_err *err)
{
    if (text != NULL && strcmp(text, "0") == 0) {
        *retry_for = -1;
        return MINICA_OK;
    }
    int64_t seconds;
    int ret = minica_duration_parse(text, &seconds, err);
    if (ret != 0)
        return ret;
    if (seconds > MINICA_REMOTE_RETRY_FOR_MAX)
        return minica_seterr(err, MINICA_EINVAL, "'%s' is longer than the maximum of 1d", text);
    *retry_for = seconds;
    return MINICA_OK;
}

struct buf {
    char *data;
    size_t len;
    int overflow;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > MAX_RESPONSE) {
        b->overflow = 1;
        return 0; /* aborts the transfer */
    }
    char *grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + b->len, ptr, n);
    b->data = grown;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

struct call {
    const char *ca_url;    /* as configured, for messages */
    const char *url;       /* full URL */
    const char *root_file; /* NULL: no verification (bootstrap only) */
    const char *cert_file;
    const char *key_file;
    const char *body;  /* NULL: GET */
    int64_t retry_for; /* seconds; 0 = the default, < 0 = one attempt */
};

/* Failures a CA that is down, restarting, overloaded or full of
 * connections produces, and that another attempt may not meet: a server
 * over its connection limits closes the connection during the TLS
 * handshake (CURLE_SSL_CONNECT_ERROR) or right after accepting it. */
static int transient(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return 1;
    default:
        return 0;
    }
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Jitter only has to differ between the machines of a fleet. */
static uint64_t jitter_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
    }
    return seed;
}

/* A server's reason, on the operator's terminal: escaped (a hostile or
 * broken server could send newlines or terminal escapes) and cut at 200. */
static void escape_detail(const char *detail, char *out, size_t outlen)
{
    char cut[201];
    snprintf(cut, sizeof(cut), "%s", detail);
    minica_escape_text(cut, out, outlen);
}

/* "HTTP 503: <the server's detail>" for the last busy answer. */
static void busy_reason(long status, const struct buf *b, char *out, size_t outlen)
{
    cJSON *json = b->data ? cJSON_ParseWithLength(b->data, b->len) : NULL;
    const cJSON *d = json ? cJSON_GetObjectItemCaseSensitive(json, "detail") : NULL;
    char safe[4 * 200 + 1];
    if (cJSON_IsString(d)) {
        escape_detail(d->valuestring, safe, sizeof(safe));
        snprintf(out, outlen, "HTTP %ld: %s", status, safe);
    } else
        snprintf(out, outlen, "HTTP %ld", status);
    cJSON_Delete(json);
}

/* One request, tried again while the CA is unreachable or busy (connection
 * refused or reset, timeouts, HTTP 503 or 429) until retry_for has passed,
 * with jittered exponential backoff (base/backoff.h) and the server's
 * Retry-After as a floor. No attempt starts after the deadline. A
 * certificate problem is not retried: it will not go away by itself. */
static int http_call(const struct call *c, long *status, struct buf *out, struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    *status = 0;
    if (strncmp(c->url, "https://", 8) != 0)
        return minica_seterr(err, MINICA_EINVAL, "the CA URL must start with https:// (%s)",
                             c->url);
    const struct minica_curl *cu = minica_curl_load(err);
    if (cu == NULL)
        return MINICA_ENET;
    int64_t retry_for = c->retry_for == 0  ? MINICA_REMOTE_DEFAULT_RETRY_FOR
                        : c->retry_for < 0 ? 0
                                           : c->retry_for;
    int64_t start = monotonic_ms();
    int64_t deadline = start + retry_for * 1000;
    struct minica_backoff backoff;
    minica_backoff_init(&backoff, jitter_seed());
    char last[CURL_ERROR_SIZE + 256] = "";
    int ret = MINICA_ENET, attempts = 0, gave_up = 0;
    int64_t retry_after_ms = 0;
    cu->global_init(CURL_GLOBAL_DEFAULT);
    for (;;) {
        if (attempts > 0) {
            int64_t wait = minica_backoff_next(&backoff, monotonic_ms(), deadline, retry_after_ms);
            if (wait < 0) {
                gave_up = 1;
                break;
            }
            struct timespec ts = {.tv_sec = (time_t)(wait / 1000),
                                  .tv_nsec = (long)(wait % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        }
        attempts++;
        retry_after_ms = 0;
        CURL *h = cu->easy_init();
        if (h == NULL) {
            ret = minica_seterr(err, MINICA_ENOMEM, "cannot start libcurl");
            break;
        }
        char curl_err[CURL_ERROR_SIZE] = "";
        struct curl_slist *headers = NULL;
        free(out->data);
        memset(out, 0, sizeof(*out));
        /* The connect phase ends with the deadline (but gets a second). */
        int64_t left = deadline - monotonic_ms();
        long connect_ms = left < 1000                 ? 1000
                          : left > CONNECT_TIMEOUT_MS ? CONNECT_TIMEOUT_MS
                                                      : left;
        cu->easy_setopt(h, CURLOPT_URL, c->url);
        cu->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
        cu->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        cu->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        cu->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
        cu->easy_setopt(h, CURLOPT_TIMEOUT, (long)TRANSFER_TIMEOUT_S);
        cu->easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        cu->easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
        cu->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
        cu->easy_setopt(h, CURLOPT_WRITEDATA, out);
        cu->easy_setopt(h, CURLOPT_USERAGENT, "minica/" MINICA_VERSION);
        if (c->root_file != NULL) {
            /* The bootstrapped root is the only anchor: no system store. */
            cu->easy_setopt(h, CURLOPT_CAINFO, c->root_file);
            cu->easy_setopt(h, CURLOPT_CAPATH, NULL);
            cu->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
            cu->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        } else {
            cu->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
            cu->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (c->cert_file != NULL) {
            cu->easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
            cu->easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
            cu->easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
            cu->easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        }
        if (c->body != NULL) {
            headers = cu->slist_append(headers, "Content-Type: application/json");
            cu->easy_setopt(h, CURLOPT_HTTPHEADER, headers);
            cu->easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
            cu->easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
        }
        CURLcode rc = cu->easy_perform(h);
        if (rc == CURLE_OK) {
            cu->easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
            curl_off_t ra = 0;
            if (cu->easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
                retry_after_ms = (ra > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : ra) * 1000;
        }
        cu->slist_free_all(headers);
        cu->easy_cleanup(h);
        if (rc == CURLE_OK && *status != 503 && *status != 429) {
            ret = MINICA_OK;
            break;
        }
        if (out->overflow) {
            ret = minica_seterr(err, MINICA_ENET, "%s: the answer is larger than %d bytes", c->url,
                                MAX_RESPONSE);
            break;
        }
        if (rc == CURLE_OK) {
            busy_reason(*status, out, last, sizeof(last));
        } else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
            ret = minica_seterr(err, MINICA_ENET,
                                "%s: the CA's TLS certificate does not verify under %s: %s", c->url,
                                c->root_file ? c->root_file : "(none)",
                                curl_err[0] ? curl_err : cu->easy_strerror(rc));
            break;
        } else if (!transient(rc)) {
            ret = minica_seterr(err, MINICA_ENET, "%s: %s", c->url,
                                curl_err[0] ? curl_err : cu->easy_strerror(rc));
            break;
        } else {
            snprintf(last, sizeof(last), "%s", curl_err[0] ? curl_err : cu->easy_strerror(rc));
        }
    }
    if (gave_up) {
        char took[64];
        minica_duration_format((monotonic_ms() - start + 500) / 1000, took, sizeof(took));
        ret = minica_seterr(err, MINICA_ENET,
                            "the CA at %s is busy or refusing connections: %d attempt%s in %s "
                            "(last: %s)",
                            c->ca_url, attempts, attempts == 1 ? "" : "s", took, last);
    }
    if (ret != MINICA_OK) {
        free(out->data);
        memset(out, 0, sizeof(*out));
    }
    cu->global_cleanup();
    return ret;
}

static int build_url(char *out, size_t outlen, const char *ca_url, const char *path,
                     struct minica_err *err)
{
    size_t n = strlen(ca_url);
    while (n > 0 && ca_url[n - 1] == '/')
        n--;
    if (n + strlen(path) + 1 > outlen)
        return minica_seterr(err, MINICA_EINVAL, "the CA URL is too long");
    snprintf(out, outlen, "%.*s%s", (int)n, ca_url, path);
    return MINICA_OK;
}

/* Turns a non-200 JSON error answer into err. */
static int server_refusal(long status, const struct buf *b, struct minica_err *err)
{
    char detail[4 * 200 + 1] = "no reason given";
    cJSON *json = b->data ? cJSON_ParseWithLength(b->data, b->len) : NULL;
    const cJSON *d = json ? cJSON_GetObjectItemCaseSensitive(json, "detail") : NULL;
    if (cJSON_IsString(d))
        escape_detail(d->valuestring, detail, sizeof(detail));
    int code = status == 403 ? MINICA_EFORBIDDEN : status >= 500 ? MINICA_ENET : MINICA_EINVAL;
    int ret = minica_seterr(err, code, "the CA refused (HTTP %ld): %s", status, detail);
    cJSON_Delete(json);
    return ret;
}

int minica_remote_fetch_root(const char *ca_url, const char *fingerprint, int64_t retry_for,
                             char **root_pem, struct minica_err *err)
{
    *root_pem = NULL;
    char want[65], url[2048];
    int ret;
    if ((ret = minica_fingerprint_normalize(fingerprint, want, err)) != 0 ||
        (ret = build_url(url, sizeof(url), ca_url, "/v1/roots", err)) != 0)
        return ret;
    struct call c = {.ca_url = ca_url, .url = url, .retry_for = retry_for};
    struct buf b;
    long status;
    if ((ret = http_call(&c, &status, &b, err)) != 0)
        return ret;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    if (status != 200) {
        ret = server_refusal(status, &b, err);
        goto out;
    }
    if (minica_crt_parse_pem(&crt, b.data, NULL) != 0) {
        ret = minica_seterr(err, MINICA_EINVAL, "%s did not return a PEM certificate", url);
        goto out;
    }
    /* During a root rollover the answer holds both roots and the
     * cross-certificate: the pinned one is looked for among them. */
    char got[65] = "";
    const mbedtls_x509_crt *x;
    for (x = &crt; x != NULL && x->raw.len > 0; x = x->next) {
        minica_sha256_hex(x->raw.p, x->raw.len, got);
        if (strcmp(got, want) == 0)
            break;
    }
    if (x == NULL || x->raw.len == 0) {
        ret = crt.next == NULL
                  ? minica_seterr(err, MINICA_EFORBIDDEN,
                                  "the root served by %s has fingerprint %s, not the expected %s; "
                                  "refusing it (wrong fingerprint or a man in the middle)",
                                  ca_url, got, want)
                  : minica_seterr(err, MINICA_EFORBIDDEN,
                                  "none of the certificates served by %s has fingerprint %s; "
                                  "refusing them (wrong fingerprint or a man in the middle)",
                                  ca_url, want);
        goto out;
    }
    ret = minica_der_to_pem(x->raw.p, x->raw.len, "CERTIFICATE", root_pem, err);
out:
    mbedtls_x509_crt_free(&crt);
    free(b.data);
    return ret;
}

void minica_roots_update_free(struct minica_roots_update *u)
{
    free(u->roots_pem);
    memset(u, 0, sizeof(*u));
}

static int self_signed(const mbedtls_x509_crt *x)
{
    if (x->subject_raw.len != x->issuer_raw.len ||
        memcmp(x->subject_raw.p, x->issuer_raw.p, x->subject_raw.len) != 0 ||
        !minica_compat_crt_is_ca(x))
        return 0;
    mbedtls_x509_crt one;
    mbedtls_x509_crt_init(&one);
    uint32_t flags = 1;
    if (minica_crt_parse_der(&one, x->raw.p, x->raw.len, NULL) == 0)
        mbedtls_x509_crt_verify(&one, &one, NULL, NULL, &flags, NULL, NULL);
    mbedtls_x509_crt_free(&one);
    return flags == 0;
}

static int in_list(const mbedtls_x509_crt *list, const mbedtls_x509_crt *x)
{
    for (const mbedtls_x509_crt *c = list; c != NULL && c->raw.len > 0; c = c->next)
        if (c->raw.len == x->raw.len && memcmp(c->raw.p, x->raw.p, x->raw.len) == 0)
            return 1;
    return 0;
}

/* 1 when a cross-certificate in answer certifies root's name and key and
 * is signed by (and valid under) a root of trusted: the old root vouches
 * for the new one. A root's name alone proves nothing. */
static int vouched(const mbedtls_x509_crt *answer, const mbedtls_x509_crt *root,
                   mbedtls_x509_crt *trusted)
{
    for (const mbedtls_x509_crt *x = answer; x != NULL && x->raw.len > 0; x = x->next) {
        if (x == root || x->subject_raw.len != root->subject_raw.len ||
            memcmp(x->subject_raw.p, root->subject_raw.p, x->subject_raw.len) != 0 ||
            !minica_pk_same_public(&x->pk, &root->pk))
            continue;
        mbedtls_x509_crt one;
        mbedtls_x509_crt_init(&one);
        uint32_t flags = 1;
        if (minica_crt_parse_der(&one, x->raw.p, x->raw.len, NULL) == 0)
            mbedtls_x509_crt_verify(&one, trusted, NULL, NULL, &flags, NULL, NULL);
        mbedtls_x509_crt_free(&one);
        if (flags == 0)
            return 1;
    }
    return 0;
}

static void subject_cn(const mbedtls_x509_crt *x, char *out, size_t outlen)
{
    char dn[512], safe[4 * 200 + 1];
    if (mbedtls_x509_dn_gets(dn, sizeof(dn), &x->subject) < 0)
        snprintf(dn, sizeof(dn), "?");
    escape_detail(dn, safe, sizeof(safe));
    snprintf(out, outlen, "%s", safe);
}

int minica_remote_update_roots(const char *ca_url, const char *root_file, int64_t retry_for,
                               struct minica_roots_update *out, struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    char url[2048], *cur = NULL, *pem = NULL;
    size_t len = 0;
    struct buf b;
    memset(&b, 0, sizeof(b));
    mbedtls_x509_crt trusted, answer;
    mbedtls_x509_crt_init(&trusted);
    mbedtls_x509_crt_init(&answer);
    long status;
    int ret;
    if ((ret = build_url(url, sizeof(url), ca_url, "/v1/roots", err)) != 0 ||
        (ret = minica_read_trusted_file(root_file, 256 * 1024, "root certificate", 0, &cur, NULL,
                                        err)) != 0)
        goto out;
    if (minica_crt_parse_pem(&trusted, cur, NULL) != 0) {
        ret = minica_seterr(err, MINICA_EINVAL, "%s holds no certificate", root_file);
        goto out;
    }
    /* Over TLS verified by the roots trusted so far (serve's chain carries
     * the cross-certificate during a rollover). */
    struct call c = {.ca_url = ca_url, .url = url, .root_file = root_file, .retry_for = retry_for};
    if ((ret = http_call(&c, &status, &b, err)) != 0)
        goto out;
    if (status != 200) {
        ret = server_refusal(status, &b, err);
        goto out;
    }
    if (minica_crt_parse_pem(&answer, b.data, NULL) != 0) {
        ret = minica_seterr(err, MINICA_EINVAL, "%s did not return PEM certificates", url);
        goto out;
    }
    /* The roots the CA lists that are trusted already or vouched for, in
     * the CA's order (its issuing root first). */
    size_t kept = 0, refused = 0;
    for (const mbedtls_x509_crt *x = &answer; x != NULL && x->raw.len > 0; x = x->next) {
        if (!self_signed(x))
            continue; /* a cross-certificate: evidence, not an anchor */
        int known = in_list(&trusted, x);
        if (!known && !vouched(&answer, x, &trusted)) {
            if (refused++ == 0) {
                char fp[65], name[4 * 200 + 1];
                minica_sha256_hex(x->raw.p, x->raw.len, fp);
                subject_cn(x, name, sizeof(name));
                snprintf(out->refused, sizeof(out->refused),
                         "refused the root \"%.300s\" (SHA-256 %s) offered by %s: no "
                         "cross-certificate signed by a trusted root vouches for it",
                         name, fp, url);
            }
            continue;
        }
        char *one = NULL;
        if ((ret = minica_der_to_pem(x->raw.p, x->raw.len, "CERTIFICATE", &one, err)) != 0)
            goto out;
        char *grown = realloc(pem, len + strlen(one) + 1);
        if (grown == NULL) {
            free(one);
            ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(grown + len, one, strlen(one) + 1);
        pem = grown;
        len += strlen(one);
        free(one);
        kept++;
        out->added += !known;
    }
    /* A CA that lists none of the trusted roots teaches nothing: the ones
     * we have stay. Otherwise a root it stopped listing (retired) goes. */
    if (kept > 0) {
        mbedtls_x509_crt now;
        mbedtls_x509_crt_init(&now);
        size_t n_old = 0, same = 0;
        int order_same = 1;
        const mbedtls_x509_crt *o = &trusted;
        if (minica_crt_parse_pem(&now, pem, NULL) == 0)
            for (const mbedtls_x509_crt *x = &now; x != NULL && x->raw.len > 0; x = x->next) {
                if (o == NULL || o->raw.len != x->raw.len ||
                    memcmp(o->raw.p, x->raw.p, x->raw.len) != 0)
                    order_same = 0;
                o = o != NULL ? o->next : NULL;
            }
        for (const mbedtls_x509_crt *x = &trusted; x != NULL && x->raw.len > 0; x = x->next) {
            n_old++;
            same += in_list(&now, x);
        }
        mbedtls_x509_crt_free(&now);
        out->dropped = (int)(n_old - same);
        if (!order_same || o != NULL || n_old != kept) {
            if ((ret = minica_write_file_atomic(root_file, pem, len, 0644, 0, err)) != 0)
                goto out;
            out->changed = 1;
        }
    }
    if (out->changed) {
        out->roots_pem = pem;
        pem = NULL;
    } else {
        out->roots_pem = cur;
        cur = NULL;
        out->added = out->dropped = 0;
    }
    ret = MINICA_OK;
out:
    mbedtls_x509_crt_free(&trusted);
    mbedtls_x509_crt_free(&answer);
    free(b.data);
    free(pem);
    free(cur);
    return ret;
}

int minica_remote_install_trust(const char *root_pem, struct minica_err *err)
{
    int ret = minica_mkdir("/usr/local/share/ca-certificates", 0755, err);
    if (ret == 0)
        ret = minica_write_file_atomic(TRUST_FILE, root_pem, strlen(root_pem), 0644, 0, err);
    if (ret == 0)
        ret = minica_command_run("update-ca-certificates", NULL, err);
    return ret;
}

int minica_remote_fetch_crl(const char *ca_url, const char *root_file, int64_t retry_for,
                            unsigned char **der, size_t *len, struct minica_err *err)
{
    *der = NULL;
    *len = 0;
    char url[2048];
    int ret = build_url(url, sizeof(url), ca_url, "/v1/crl", err);
    if (ret != 0)
        return ret;
    struct call c = {.ca_url = ca_url, .url = url, .root_file = root_file, .retry_for = retry_for};
    struct buf b;
    long status;
    if ((ret = http_call(&c, &status, &b, err)) != 0)
        return ret;
    if (status != 200) {
        ret = server_refusal(status, &b, err);
        free(b.data);
        return ret;
    }
    *der = (unsigned char *)b.data;
    *len = b.len;
    return MINICA_OK;
}

int minica_remote_fetch_crls(const char *ca_url, const char *root_file, int64_t retry_for,
                             char **pem, struct minica_err *err)
{
    *pem = NULL;
    char url[2048];
    int ret = build_url(url, sizeof(url), ca_url, "/v1/crls", err);
    if (ret != 0)
        return ret;
    struct call c = {.ca_url = ca_url, .url = url, .root_file = root_file, .retry_for = retry_for};
    struct buf b;
    long status;
    if ((ret = http_call(&c, &status, &b, err)) != 0)
        return ret;
    if (status == 404) {
        /* A CA from before rotation existed: its one CRL, in DER. */
        free(b.data);
        unsigned char *der = NULL;
        size_t len = 0;
        if ((ret = minica_remote_fetch_crl(ca_url, root_file, retry_for, &der, &len, err)) != 0)
            return ret;
        ret = minica_der_to_pem(der, len, "X509 CRL", pem, err);
        free(der);
        return ret;
    }
    if (status != 200) {
        ret = server_refusal(status, &b, err);
        free(b.data);
        return ret;
    }
    if (b.data == NULL)
        return minica_seterr(err, MINICA_ENET, "%s: the CA sent no CRL", url);
    *pem = b.data;
    return MINICA_OK;
}

/* NAME first, then the SANs, de-duplicated, canonical. */
static int collect(const struct minica_remote_request *req, struct minica_name *names, size_t *n,
                   struct minica_err *err)
{
    *n = 0;
    int ret = minica_name_parse(req->name, &names[0], err);
    if (ret != 0)
        return ret;
    *n = 1;
    for (size_t i = 0; i < req->n_sans; i++) {
        struct minica_name name;
        if ((ret = minica_name_parse(req->sans[i], &name, err)) != 0)
            return ret;
        int dup = 0;
        for (size_t j = 0; j < *n; j++)
            dup |= strcmp(names[j].text, name.text) == 0;
        if (dup)
            continue;
        if (*n == MINICA_MAX_SANS)
            return minica_seterr(err, MINICA_EINVAL, "too many names");
        names[(*n)++] = name;
    }
    return MINICA_OK;
}

/* mbedTLS 2.28 writes ecdsa-with-SHA* with a NULL parameter; RFC 5758 3.2
 * says none, and strict CAs refuse the CSR. The algorithm is outside the
 * signed part of a CSR, so it is replaced without signing again. */
static int csr_to_pem(const unsigned char *der, size_t len, char **pem, struct minica_err *err)
{
    struct minica_der_signed csr;
    unsigned char alg[32];
    struct minica_der_part fixed = {alg, 0};
    int ret = minica_der_split_signed(der, len, &csr, err);
    if (ret != 0)
        return ret;
    int changed = csr.alg.len <= sizeof(alg)
                      ? minica_der_ecdsa_alg_without_params(&csr.alg, alg, &fixed.len)
                      : 0;
    if (changed < 0)
        return minica_seterr(err, MINICA_ECRYPTO, "mbedTLS wrote a malformed CSR");
    if (!changed)
        return minica_der_to_pem(der, len, "CERTIFICATE REQUEST", pem, err);
    unsigned char *out;
    size_t out_len;
    struct minica_der_part parts[3] = {csr.body, fixed, csr.sig};
    if ((ret = minica_der_sequence(parts, 3, &out, &out_len, err)) != 0)
        return ret;
    ret = minica_der_to_pem(out, out_len, "CERTIFICATE REQUEST", pem, err);
    free(out);
    return ret;
}

static int make_csr(mbedtls_pk_context *pk, const struct minica_name *names, size_t n,
                    struct minica_rng *rng, char **pem, struct minica_err *err)
{
    mbedtls_x509write_csr csr;
    mbedtls_x509write_csr_init(&csr);
    unsigned char ext[8192], *der = NULL, *buf = NULL;
    size_t der_len = 0;
    /* The CA writes the certificate's subject itself. minica reads a CSR
     * with an empty subject (csr.c works around mbedTLS, which cannot parse
     * one), but a server of an earlier minica refuses it: one CN, the first
     * name within RFC 5280's ub-common-name (64), else the first. */
    const char *cn = names[0].text;
    for (size_t i = n; i-- > 0;)
        if (strlen(names[i].text) <= MINICA_CN_MAX)
            cn = names[i].text;
    char subject[MINICA_NAME_MAX + 8];
    snprintf(subject, sizeof(subject), "CN=%s", cn);
    int ret;
    *pem = NULL;
    if ((buf = malloc(CSR_BUF_SIZE)) == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    mbedtls_x509write_csr_set_md_alg(&csr, minica_key_md(pk));
    mbedtls_x509write_csr_set_key(&csr, pk);
    if ((ret = mbedtls_x509write_csr_set_subject_name(&csr, subject)) != 0) {
        ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot build the CSR");
        goto out;
    }
    if ((ret = minica_der_san(names, n, ext, sizeof(ext), &der, &der_len, err)) != 0)
        goto out;
    if ((ret = minica_compat_csr_set_extension(&csr, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                               MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), der,
                                               der_len)) != 0) {
        ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot build the CSR");
        goto out;
    }
    int len =
        mbedtls_x509write_csr_der(&csr, buf, CSR_BUF_SIZE, mbedtls_ctr_drbg_random, &rng->drbg);
    if (len < 0) {
        ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, len, "cannot build the CSR");
        goto out;
    }
    /* x509write writes at the end of the buffer. */
    ret = csr_to_pem(buf + CSR_BUF_SIZE - len, (size_t)len, pem, err);
out:
    free(buf);
    mbedtls_x509write_csr_free(&csr);
    return ret;
}

/* The leaf must chain to our root through the returned intermediate and
 * carry our public key: a CA (or anyone in between) cannot make us install
 * something else. */
static int check_answer(const char *cert_pem, const char *chain_pem, const char *root_pem,
                        const char *key_pem, struct minica_issued *out, struct minica_err *err)
{
    mbedtls_x509_crt chain, root;
    mbedtls_x509_crt_init(&chain);
    mbedtls_x509_crt_init(&root);
    int ret;
    if (minica_crt_parse_pem(&chain, cert_pem, NULL) != 0 ||
        minica_crt_parse_pem(&chain, chain_pem, NULL) != 0 ||
        minica_crt_parse_pem(&root, root_pem, NULL) != 0) {
        ret = minica_seterr(err, MINICA_EINVAL, "the CA's answer holds no valid certificate");
        goto out;
    }
    uint32_t flags = 0;
    mbedtls_x509_crt_verify(&chain, &root, NULL, NULL, &flags, NULL, NULL);
    /* Freshly issued: validity is the CA's clock's business, not a reason to refuse. */
    flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
    if (flags != 0) {
        ret = minica_seterr(err, MINICA_ECRYPTO,
                            "the certificate returned by the CA does not chain to the root");
        goto out;
    }
    if (minica_key_matches_cert(key_pem, cert_pem, NULL) != 1) {
        ret = minica_seterr(err, MINICA_ECRYPTO,
                            "the certificate returned by the CA is not for the key sent");
        goto out;
    }
    /* The usage the CA granted (the token decides it), from the EKU. */
    int server =
        mbedtls_x509_crt_check_extended_key_usage(&chain, MBEDTLS_OID_SERVER_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) == 0;
    int client =
        mbedtls_x509_crt_check_extended_key_usage(&chain, MBEDTLS_OID_CLIENT_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) == 0;
    out->usage = server && client ? MINICA_USAGE_BOTH
                 : client         ? MINICA_USAGE_CLIENT
                                  : MINICA_USAGE_SERVER;
    out->not_before = minica_x509_time_to_unix(&chain.valid_from);
    out->not_after = minica_x509_time_to_unix(&chain.valid_to);
    minica_sha256_hex(chain.raw.p, chain.raw.len, out->fingerprint_sha256);
    minica_serial_to_hex(chain.serial.p, chain.serial.len, out->serial, sizeof(out->serial));
    ret = MINICA_OK;
out:
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&root);
    return ret;
}

static int expired_client_cert(const char *cert_file, struct minica_err *err)
{
    char *pem = NULL;
    int ret = minica_read_file(cert_file, 256 * 1024, &pem, NULL, err);
    if (ret != 0)
        return ret;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    if ((ret = minica_crt_parse_pem(&crt, pem, err)) != 0) {
        minica_err_prefix(err, "%s", cert_file);
    } else {
        int64_t na = minica_x509_time_to_unix(&crt.valid_to);
        if (na < minica_now()) {
            char when[21];
            minica_unix_to_rfc3339(na, when);
            ret = minica_seterr(err, MINICA_EFORBIDDEN,
                                "certificate too old to renew (%s expired at %s): a new token is "
                                "needed",
                                cert_file, when);
        }
    }
    mbedtls_x509_crt_free(&crt);
    free(pem);
    return ret;
}

int minica_remote_issue(const struct minica_remote_request *req, struct minica_issued *out,
                        struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    struct minica_name *names = calloc(MINICA_MAX_SANS, sizeof(*names));
    struct minica_rng rng;
    int rng_ok = 0;
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    char *csr = NULL, *body = NULL;
    size_t key_len = 0, n = 0;
    struct buf b;
    memset(&b, 0, sizeof(b));
    cJSON *json = NULL, *answer = NULL;
    char url[2048];
    int ret;
    if (names == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    int renew = req->token == NULL;
    if (renew && (req->client_cert_file == NULL || req->client_key_file == NULL)) {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "remote issuance needs a token or the current certificate and key");
        goto out;
    }
    if ((ret = collect(req, names, &n, err)) != 0 ||
        (ret = build_url(url, sizeof(url), req->ca_url, renew ? "/v1/renew" : "/v1/sign", err)) !=
            0 ||
        (ret = minica_read_trusted_file(req->root_file, 256 * 1024, "root certificate", 0,
                                        &out->root_pem, NULL, err)) != 0)
        goto out;
    if (renew && (ret = expired_client_cert(req->client_cert_file, err)) != 0)
        goto out;
    if ((ret = minica_rng_init(&rng, err)) != 0)
        goto out;
    rng_ok = 1;
    enum minica_key_type type = req->key_type ? req->key_type : MINICA_KEY_EC_P256;
    if ((ret = minica_key_generate(&pk, type, &rng, err)) != 0 ||
        (ret = minica_key_to_pem(&pk, &out->key_pem, &key_len, err)) != 0 ||
        (ret = make_csr(&pk, names, n, &rng, &csr, err)) != 0)
        goto out;

    json = cJSON_CreateObject();
    if (json == NULL || (!renew && cJSON_AddStringToObject(json, "token", req->token) == NULL) ||
        (!renew && req->require_usage != 0 &&
         cJSON_AddStringToObject(json, "usage", minica_usage_name(req->require_usage)) == NULL) ||
        cJSON_AddStringToObject(json, "csr", csr) == NULL ||
        (body = cJSON_PrintUnformatted(json)) == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    struct call c = {
        .ca_url = req->ca_url,
        .url = url,
        .root_file = req->root_file,
        .cert_file = renew ? req->client_cert_file : NULL,
        .key_file = renew ? req->client_key_file : NULL,
        .body = body,
        .retry_for = req->retry_for,
    };
    long status;
    if ((ret = http_call(&c, &status, &b, err)) != 0)
        goto out;
    if (status != 200) {
        ret = server_refusal(status, &b, err);
        goto out;
    }
    answer = cJSON_ParseWithLength(b.data, b.len);
    const cJSON *cert = cJSON_GetObjectItemCaseSensitive(answer, "certificate");
    const cJSON *chain = cJSON_GetObjectItemCaseSensitive(answer, "chain");
    if (!cJSON_IsString(cert) || !cJSON_IsString(chain)) {
        ret =
            minica_seterr(err, MINICA_EINVAL, "%s: the answer is not what minica serve sends", url);
        goto out;
    }
    out->cert_pem = minica_strdup(cert->valuestring);
    out->chain_pem = minica_strdup(chain->valuestring);
    if (out->cert_pem == NULL || out->chain_pem == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    if ((ret = check_answer(out->cert_pem, out->chain_pem, out->root_pem, out->key_pem, out,
                            err)) != 0)
        goto out;
    /* A CA that ignores "usage" (older minica serve) must not hand over a
     * certificate the operator did not ask for. */
    if (!renew && req->require_usage != 0 && out->usage != req->require_usage) {
        ret = minica_seterr(err, MINICA_EFORBIDDEN,
                            "the CA issued a %s certificate (serial %s), not %s: nothing written; "
                            "revoke it on the CA and ask for a token with the right usage",
                            minica_usage_name(out->usage), out->serial,
                            minica_usage_name(req->require_usage));
        goto out;
    }
    snprintf(out->name, sizeof(out->name), "%s", names[0].text);
    out->sans[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strncat(out->sans, i ? "," : "", sizeof(out->sans) - strlen(out->sans) - 1);
        strncat(out->sans, names[i].text, sizeof(out->sans) - strlen(out->sans) - 1);
    }
    out->key_type = type;
out:
    if (ret != 0)
        minica_issued_free(out);
    cJSON_Delete(json);
    cJSON_Delete(answer);
    if (body != NULL) /* it holds the token */
        minica_free_secret(body, strlen(body));
    free(csr);
    free(b.data);
    free(names);
    mbedtls_pk_free(&pk);
    if (rng_ok)
        minica_rng_free(&rng);
    return ret;
}

int minica_token_file_read(const char *path, char **token, struct minica_err *err)
{
    *token = NULL;
    char *buf = NULL;
    size_t len = 0;
    /* Root sends it to the CA: one open, no symlink, no FIFO, judged on the
     * descriptor read, in directories nobody else can write (trustfile.h). */
    int ret =
        minica_read_trusted_file(path, 4095, "token file", MINICA_TRUST_SECRET, &buf, &len, err);
    if (ret != 0)
        return ret;
    size_t size = len;
    /* Written by hand or by cloud-init: surrounding whitespace is not the token's. */
    while (len > 0 && strchr(" \t\r\n", buf[len - 1]) != NULL)
        buf[--len] = '\0';
    size_t skip = strspn(buf, " \t\r\n");
    if (buf[skip] == '\0')
        ret = minica_seterr(err, MINICA_EINVAL, "token file %s is empty", path);
    else if ((*token = minica_strdup(buf + skip)) == NULL)
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
    minica_free_secret(buf, size);
    return ret;
}
