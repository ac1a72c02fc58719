/* The refusal flood of bench/run's `minica serve` measurement: C keep-alive
 * TLS connections from one source address send POST /v1/sign with a bad
 * token (a new unknown id each time, as a scanner would) at a total rate,
 * for a number of seconds. Prints sent, per_s and how many answers were not
 * 403. Not a test and not a product client. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

struct flood {
    const char *host;
    const char *source;
    int port;
    double interval_ms; /* between two requests of one connection */
    double end_ms;
    gnutls_certificate_credentials_t cred;
    pthread_mutex_t lock;
    long sent;
    long other; /* answers that were not 403 */
    unsigned next_id;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void sleep_until(double t)
{
    double d = t - now_ms();
    if (d <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)(d / 1000), .tv_nsec = (long)(d * 1e6) % 1000000000L};
    nanosleep(&ts, NULL);
}

static gnutls_session_t connect_tls(struct flood *fl, int *fd_out)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    gnutls_session_t s = NULL;
    if (fd < 0)
        return NULL;
    struct sockaddr_in src, sa;
    memset(&src, 0, sizeof(src));
    src.sin_family = AF_INET;
    inet_pton(AF_INET, fl->source, &src.sin_addr);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)fl->port);
    inet_pton(AF_INET, fl->host, &sa.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || gnutls_init(&s, GNUTLS_CLIENT) < 0)
        goto fail;
    if (gnutls_set_default_priority(s) < 0 ||
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, fl->cred) < 0)
        goto fail;
    gnutls_session_set_verify_cert(s, fl->host, 0);
    gnutls_transport_set_int(s, fd);
    int r;
    do
        r = gnutls_handshake(s);
    while (r < 0 && gnutls_error_is_fatal(r) == 0);
    if (r < 0)
        goto fail;
    *fd_out = fd;
    return s;
fail:
    if (s != NULL)
        gnutls_deinit(s);
    close(fd);
    return NULL;
}

/* One request and its answer on s; the status, or -1 when the connection is gone. */
static int one_request(struct flood *fl, gnutls_session_t s, unsigned id)
{
    char body[256], req[768];
    int blen = snprintf(body, sizeof(body),
                        "{\"token\":\"%016x.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
                        "\"csr\":\"x\"}",
                        id);
    int len = snprintf(req, sizeof(req),
                       "POST /v1/sign HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                       "Content-Length: %d\r\n\r\n%s",
                       fl->host, fl->port, blen, body);
    for (int off = 0; off < len;) {
        ssize_t w = gnutls_record_send(s, req + off, (size_t)(len - off));
        if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
            continue;
        if (w < 0)
            return -1;
        off += (int)w;
    }
    char resp[4096];
    size_t got = 0;
    for (;;) {
        ssize_t n = gnutls_record_recv(s, resp + got, sizeof(resp) - 1 - got);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
        resp[got] = '\0';
        char *end = strstr(resp, "\r\n\r\n");
        char *cl = strcasestr(resp, "\r\nContent-Length:");
        if (end != NULL && cl != NULL && cl < end &&
            got >= (size_t)(end + 4 - resp) + strtoul(cl + 17, NULL, 10))
            break;
        if (got == sizeof(resp) - 1)
            return -1;
    }
    return atoi(resp + 9);
}

static void *worker(void *arg)
{
    struct flood *fl = arg;
    int fd = -1;
    gnutls_session_t s = NULL;
    double next = now_ms();
    while (now_ms() < fl->end_ms) {
        if (s == NULL && (s = connect_tls(fl, &fd)) == NULL) {
            usleep(10000);
            continue;
        }
        pthread_mutex_lock(&fl->lock);
        unsigned id = fl->next_id++;
        pthread_mutex_unlock(&fl->lock);
        int status = one_request(fl, s, id);
        if (status < 0) {
            gnutls_deinit(s);
            close(fd);
            s = NULL;
            continue;
        }
        pthread_mutex_lock(&fl->lock);
        fl->sent++;
        if (status != 403)
            fl->other++;
        pthread_mutex_unlock(&fl->lock);
        next += fl->interval_ms;
        sleep_until(next);
    }
    if (s != NULL) {
        gnutls_bye(s, GNUTLS_SHUT_WR);
        gnutls_deinit(s);
        close(fd);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: serve_flood HOST PORT ROOT_PEM SOURCE_IP CONNECTIONS RATE SECONDS\n"
                        "  RATE bad-token POSTs per second in all, over CONNECTIONS keep-alive\n"
                        "  connections from SOURCE_IP; prints sent, per_s, not_403\n");
        return 2;
    }
    struct flood fl;
    memset(&fl, 0, sizeof(fl));
    fl.host = argv[1];
    fl.port = atoi(argv[2]);
    fl.source = argv[4];
    int conns = atoi(argv[5]);
    double rate = atof(argv[6]), seconds = atof(argv[7]);
    if (fl.port <= 0 || conns <= 0 || rate <= 0 || seconds <= 0)
        return 2;
    fl.interval_ms = 1000.0 * conns / rate;
    if (gnutls_global_init() < 0 || gnutls_certificate_allocate_credentials(&fl.cred) < 0 ||
        gnutls_certificate_set_x509_trust_file(fl.cred, argv[3], GNUTLS_X509_FMT_PEM) <= 0) {
        fprintf(stderr, "serve_flood: cannot load %s\n", argv[3]);
        return 1;
    }
    pthread_mutex_init(&fl.lock, NULL);
    pthread_t *threads = calloc((size_t)conns, sizeof(*threads));
    if (threads == NULL)
        return 1;
    double start = now_ms();
    fl.end_ms = start + seconds * 1000.0;
    for (int t = 0; t < conns; t++)
        if (pthread_create(&threads[t], NULL, worker, &fl) != 0)
            return 1;
    for (int t = 0; t < conns; t++)
        pthread_join(threads[t], NULL);
    double wall = now_ms() - start;
    printf("sent=%ld per_s=%.1f not_403=%ld\n", fl.sent, fl.sent / (wall / 1000.0), fl.other);
    free(threads);
    gnutls_certificate_free_credentials(fl.cred);
    gnutls_global_deinit();
    return fl.sent > 0 ? 0 : 1;
}
