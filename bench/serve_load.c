/* The load client of bench/run's `minica serve` measurement: C concurrent
 * clients, each request a new TLS connection (GnuTLS, trusting only the CA
 * root), either a token enrollment (POST /v1/sign) or GET /v1/health (the
 * handshake floor), or the same enrollment from Cloudflare's `cfssl serve`
 * (POST /api/v1/cfssl/sign with the CSR alone: it has no tokens), the peer
 * bench/run measures it against. PORT may list several servers on HOST ("P1,P2"): request
 * i goes to the (i mod n)th, as a round-robin balancer would send it, so one
 * process with one clock measures replicas together. Not a test and not a
 * product client (see issuer_remote.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

struct job {
    char *name;
    char *token;
    char *body; /* the request, written before timing */
    size_t body_len;
    int port; /* which server: requests are built for it before timing */
    double ms;
    int ok;
};

#define MAX_PORTS 8

struct load {
    const char *host;
    int ports[MAX_PORTS];
    int nports;
    gnutls_certificate_credentials_t cred;
    struct job *jobs;
    int n;
    int next;
    enum { HEALTH, ENROLL, CFSSL } kind;
    pthread_mutex_t lock;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* JSON string escaping for a PEM or a token: quotes, backslashes, newlines. */
static size_t json_escape(char *out, const char *in, size_t inlen)
{
    size_t o = 0;
    for (size_t i = 0; i < inlen; i++) {
        char c = in[i];
        if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = c;
        } else if (c != '\r') {
            out[o++] = c;
        }
    }
    return o;
}

/* A P-256 key and a CSR for NAME (CN and one DNS SAN), as PEM. */
static int make_csr(const char *name, gnutls_datum_t *pem)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crq_t crq = NULL;
    int ret;
    if ((ret = gnutls_x509_privkey_init(&key)) < 0 ||
        (ret = gnutls_x509_privkey_generate(
             key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0 ||
        (ret = gnutls_x509_crq_init(&crq)) < 0 || (ret = gnutls_x509_crq_set_version(crq, 1)) < 0 ||
        (ret = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, name,
                                             (unsigned)strlen(name))) < 0 ||
        (ret = gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_DNSNAME, name,
                                                    (unsigned)strlen(name), GNUTLS_FSAN_SET)) < 0 ||
        (ret = gnutls_x509_crq_set_key(crq, key)) < 0 ||
        (ret = gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0)) < 0)
        goto out;
    ret = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, pem);
out:
    if (crq != NULL)
        gnutls_x509_crq_deinit(crq);
    if (key != NULL)
        gnutls_x509_privkey_deinit(key);
    return ret;
}

static int build_request(struct load *ld, struct job *job)
{
    char hdr[512];
    if (ld->kind == HEALTH) {
        int len = snprintf(hdr, sizeof(hdr),
                           "GET /v1/health HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n",
                           ld->host, job->port);
        job->body = strdup(hdr);
        job->body_len = (size_t)len;
        return job->body == NULL ? -1 : 0;
    }
    gnutls_datum_t pem = {NULL, 0};
    int ret = make_csr(job->name, &pem);
    if (ret < 0) {
        fprintf(stderr, "serve_load: CSR for %s: %s\n", job->name, gnutls_strerror(ret));
        return -1;
    }
    size_t tlen = strlen(job->token);
    char *json = malloc(2 * (pem.size + tlen) + 64);
    if (json == NULL) {
        gnutls_free(pem.data);
        return -1;
    }
    size_t j = 0;
    if (ld->kind == CFSSL) {
        memcpy(json + j, "{\"certificate_request\":\"", 24);
        j += 24;
    } else {
        memcpy(json + j, "{\"token\":\"", 10);
        j += 10;
        j += json_escape(json + j, job->token, tlen);
        memcpy(json + j, "\",\"csr\":\"", 9);
        j += 9;
    }
    j += json_escape(json + j, (const char *)pem.data, pem.size);
    memcpy(json + j, "\"}", 2);
    j += 2;
    gnutls_free(pem.data);
    int hlen =
        snprintf(hdr, sizeof(hdr),
                 "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                 ld->kind == CFSSL ? "/api/v1/cfssl/sign" : "/v1/sign", ld->host, job->port, j);
    job->body = malloc((size_t)hlen + j);
    if (job->body == NULL) {
        free(json);
        return -1;
    }
    memcpy(job->body, hdr, (size_t)hlen);
    memcpy(job->body + hlen, json, j);
    job->body_len = (size_t)hlen + j;
    free(json);
    return 0;
}

/* One request on a new connection; 0 when the server answered 200 with what
 * the endpoint promises. */
static int run_one(struct load *ld, struct job *job)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    gnutls_session_t s = NULL;
    int ret = -1;
    static const size_t cap = 65536;
    char *resp = malloc(cap + 1);
    size_t got = 0;
    if (fd < 0 || resp == NULL)
        goto out;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)job->port);
    inet_pton(AF_INET, ld->host, &sa.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        goto out;
    if (gnutls_init(&s, GNUTLS_CLIENT) < 0 || gnutls_set_default_priority(s) < 0 ||
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, ld->cred) < 0)
        goto out;
    /* The server's certificate names its --listen IP: check it like curl would. */
    gnutls_session_set_verify_cert(s, ld->host, 0);
    gnutls_transport_set_int(s, fd);
    gnutls_handshake_set_timeout(s, GNUTLS_DEFAULT_HANDSHAKE_TIMEOUT);
    int r;
    do
        r = gnutls_handshake(s);
    while (r < 0 && gnutls_error_is_fatal(r) == 0);
    if (r < 0) {
        fprintf(stderr, "serve_load: handshake: %s\n", gnutls_strerror(r));
        goto out;
    }
    size_t off = 0;
    while (off < job->body_len) {
        ssize_t w = gnutls_record_send(s, job->body + off, job->body_len - off);
        if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
            continue;
        if (w < 0)
            goto out;
        off += (size_t)w;
    }
    for (;;) {
        if (got == cap)
            goto out;
        ssize_t n = gnutls_record_recv(s, resp + got, cap - got);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n <= 0) /* close_notify, or a TCP close without it (still a full answer) */
            break;
        got += (size_t)n;
        resp[got] = '\0';
        /* Stop at Content-Length rather than waiting for the close. */
        char *end = strstr(resp, "\r\n\r\n");
        char *cl = strcasestr(resp, "\r\nContent-Length:");
        if (end != NULL && cl != NULL && cl < end &&
            got >= (size_t)(end + 4 - resp) + strtoul(cl + 17, NULL, 10))
            break;
    }
    resp[got] = '\0';
    const char *promise = ld->kind == HEALTH  ? "\"ok\""
                          : ld->kind == CFSSL ? "\"success\":true"
                                              : "\"certificate\"";
    if (strncmp(resp, "HTTP/1.1 200", 12) != 0 || strstr(resp, promise) == NULL ||
        (ld->kind == CFSSL && strstr(resp, "BEGIN CERTIFICATE") == NULL)) {
        fprintf(stderr, "serve_load: %s: %.200s\n", job->name ? job->name : "health", resp);
        goto out;
    }
    ret = 0;
    gnutls_bye(s, GNUTLS_SHUT_WR);
out:
    if (s != NULL)
        gnutls_deinit(s);
    if (fd >= 0)
        close(fd);
    free(resp);
    return ret;
}

static void *worker(void *arg)
{
    struct load *ld = arg;
    for (;;) {
        pthread_mutex_lock(&ld->lock);
        int i = ld->next < ld->n ? ld->next++ : -1;
        pthread_mutex_unlock(&ld->lock);
        if (i < 0)
            return NULL;
        double t0 = now_ms();
        ld->jobs[i].ok = run_one(ld, &ld->jobs[i]) == 0;
        ld->jobs[i].ms = now_ms() - t0;
    }
}

/* User + system CPU of this whole process (every thread) so far, in ms. */
static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Reads "NAME TOKEN" lines. */
static int read_tokens(const char *path, struct job **jobs, int *n)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[1024];
    int cap = 0;
    *n = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        char name[512], token[512];
        if (sscanf(line, "%511s %511s", name, token) != 2)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            struct job *grown = realloc(*jobs, (size_t)cap * sizeof(**jobs));
            if (grown == NULL) {
                fclose(f);
                return -1;
            }
            *jobs = grown;
        }
        memset(&(*jobs)[*n], 0, sizeof(**jobs));
        (*jobs)[*n].name = strdup(name);
        (*jobs)[*n].token = strdup(token);
        (*n)++;
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 7 || (strcmp(argv[1], "enroll") != 0 && strcmp(argv[1], "health") != 0 &&
                      strcmp(argv[1], "cfssl") != 0)) {
        fprintf(stderr,
                "usage: serve_load enroll|cfssl|health HOST PORT[,PORT...] ROOT_PEM "
                "CONCURRENCY TOKENS|N\n"
                "  enroll: one POST /v1/sign per line \"NAME TOKEN\" of the file TOKENS\n"
                "  cfssl: one POST /api/v1/cfssl/sign per line of TOKENS (the token unused)\n"
                "  health: N GETs of /v1/health\n"
                "  each on a new TLS connection, the ports in turn; prints per_s, p50_ms,\n"
                "  p99_ms, ok, failed, wall_ms, cpu_ms (the client's, per request)\n");
        return 2;
    }
    struct load ld;
    memset(&ld, 0, sizeof(ld));
    ld.kind = strcmp(argv[1], "health") == 0  ? HEALTH
              : strcmp(argv[1], "cfssl") == 0 ? CFSSL
                                              : ENROLL;
    ld.host = argv[2];
    for (const char *p = argv[3]; *p != '\0'; ld.nports++) {
        char *end;
        long port = strtol(p, &end, 10);
        if (ld.nports == MAX_PORTS || port <= 0 || port > 65535 || (*end != '\0' && *end != ','))
            return 2;
        ld.ports[ld.nports] = (int)port;
        p = *end == ',' ? end + 1 : end;
    }
    int conc = atoi(argv[5]);
    if (ld.nports == 0 || conc <= 0)
        return 2;
    if (ld.kind != HEALTH) {
        if (read_tokens(argv[6], &ld.jobs, &ld.n) != 0 || ld.n == 0) {
            fprintf(stderr, "serve_load: no tokens in %s\n", argv[6]);
            return 1;
        }
    } else {
        ld.n = atoi(argv[6]);
        if (ld.n <= 0 || (ld.jobs = calloc((size_t)ld.n, sizeof(*ld.jobs))) == NULL)
            return 2;
    }
    if (gnutls_global_init() < 0 || gnutls_certificate_allocate_credentials(&ld.cred) < 0 ||
        gnutls_certificate_set_x509_trust_file(ld.cred, argv[4], GNUTLS_X509_FMT_PEM) <= 0) {
        fprintf(stderr, "serve_load: cannot load %s\n", argv[4]);
        return 1;
    }
    /* Keys, CSRs and requests are made before the clock starts: this measures the server. */
    for (int i = 0; i < ld.n; i++) {
        ld.jobs[i].port = ld.ports[i % ld.nports];
        if (build_request(&ld, &ld.jobs[i]) != 0)
            return 1;
    }
    pthread_mutex_init(&ld.lock, NULL);
    pthread_t *threads = calloc((size_t)conc, sizeof(*threads));
    if (threads == NULL)
        return 1;
    double start = now_ms(), cpu0 = cpu_ms();
    for (int t = 0; t < conc; t++)
        if (pthread_create(&threads[t], NULL, worker, &ld) != 0)
            return 1;
    for (int t = 0; t < conc; t++)
        pthread_join(threads[t], NULL);
    double wall = now_ms() - start, cpu = cpu_ms() - cpu0;
    double *lat = calloc((size_t)ld.n, sizeof(*lat));
    int ok = 0;
    for (int i = 0; i < ld.n; i++)
        if (ld.jobs[i].ok)
            lat[ok++] = ld.jobs[i].ms;
    if (ok == 0) {
        fprintf(stderr, "serve_load: every request failed\n");
        return 1;
    }
    qsort(lat, (size_t)ok, sizeof(*lat), cmp_double);
    int i50 = (ok * 50 + 99) / 100 - 1, i99 = (ok * 99 + 99) / 100 - 1;
    /* cpu_ms: this client's CPU per request while timed, mostly TLS: on one
     * machine it is taken from the cores the servers would use. */
    printf("per_s=%.1f p50_ms=%.2f p99_ms=%.2f ok=%d failed=%d wall_ms=%.1f cpu_ms=%.3f\n",
           ok / (wall / 1000.0), lat[i50 < 0 ? 0 : i50], lat[i99 < 0 ? 0 : i99], ok, ld.n - ok,
           wall, cpu / ld.n);
    for (int i = 0; i < ld.n; i++) {
        free(ld.jobs[i].name);
        free(ld.jobs[i].token);
        free(ld.jobs[i].body);
    }
    free(ld.jobs);
    free(lat);
    free(threads);
    gnutls_certificate_free_credentials(ld.cred);
    gnutls_global_deinit();
    return ok == ld.n ? 0 : 1;
}
