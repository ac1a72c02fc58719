/* The TLS probe behind `verify =`: connects to an endpoint, completes a
 * handshake that trusts only this CA's root, and reports the served leaf.
 * Not a client for application data: it closes right after the handshake. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/x509_crt.h>

#include "base/libload.h"
#include "ca/x509.h"
#include "minica/tlsprobe.h"

static int parse_port(const char *s, size_t len, char out[6])
{
    if (len == 0 || len > 5)
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    snprintf(out, 6, "%lu", v);
    return 0;
}

int minica_endpoint_parse(const char *text, struct minica_endpoint *ep, struct minica_err *err)
{
    memset(ep, 0, sizeof(*ep));
    const char *slash = strchr(text, '/');
    size_t addr_len = slash ? (size_t)(slash - text) : strlen(text);
    const char *host, *port;
    size_t host_len;

    if (addr_len > 0 && text[0] == '[') {
        const char *close = memchr(text, ']', addr_len);
        if (close == NULL || close + 1 >= text + addr_len || close[1] != ':')
            return minica_seterr(err, MINICA_EINVAL,
                                 "endpoint '%s': expected [IPv6]:PORT, e.g. [::1]:443", text);
        host = text + 1;
        host_len = (size_t)(close - host);
        port = close + 2;
    } else {
        const char *colon = NULL;
        for (const char *p = text; p < text + addr_len; p++)
            if (*p == ':') {
                if (colon != NULL)
                    return minica_seterr(err, MINICA_EINVAL,
                                         "endpoint '%s': an IPv6 address needs brackets, "
                                         "e.g. [::1]:443",
                                         text);
                colon = p;
            }
        if (colon == NULL)
            return minica_seterr(err, MINICA_EINVAL, "endpoint '%s': expected HOST:PORT", text);
        host = text;
        host_len = (size_t)(colon - text);
        port = colon + 1;
    }
    if (host_len == 0 || host_len >= sizeof(ep->host))
        return minica_seterr(err, MINICA_EINVAL, "endpoint '%s': missing or too long host", text);
    memcpy(ep->host, host, host_len);
    ep->host[host_len] = '\0';

    /* The host is only handed to getaddrinfo, but it is also printed: the
     * name rules keep control bytes and spaces out of messages. */
    struct minica_name name;
    struct minica_err nerr;
    if (minica_name_parse(ep->host, &name, &nerr) != 0 || name.wildcard)
        return minica_seterr(err, MINICA_EINVAL, "endpoint '%s': '%s' is not a host name or IP",
                             text, ep->host);
    if (text[0] == '[' && name.kind != MINICA_NAME_IP)
        return minica_seterr(err, MINICA_EINVAL, "endpoint '%s': brackets hold an IPv6 address",
                             text);
    snprintf(ep->host, sizeof(ep->host), "%s", name.text);

    if (parse_port(port, (size_t)(text + addr_len - port), ep->port) != 0)
        return minica_seterr(err, MINICA_EINVAL, "endpoint '%s': port must be 1 to 65535", text);

    if (slash != NULL) {
        if (minica_name_parse(slash + 1, &name, &nerr) != 0 || name.wildcard ||
            name.kind != MINICA_NAME_DNS)
            return minica_seterr(err, MINICA_EINVAL, "endpoint '%s': SNI '%s' is not a host name",
                                 text, slash + 1);
        snprintf(ep->sni, sizeof(ep->sni), "%s", name.text);
    }
    int v6 = strchr(ep->host, ':') != NULL;
    snprintf(ep->text, sizeof(ep->text), "%s%s%s:%s%s%s", v6 ? "[" : "", ep->host, v6 ? "]" : "",
             ep->port, ep->sni[0] ? "/" : "", ep->sni);
    return MINICA_OK;
}

int minica_endpoint_list_parse(const char *list, struct minica_endpoint **eps, size_t *n,
                               struct minica_err *err)
{
    *eps = NULL;
    *n = 0;
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    struct minica_endpoint *out = calloc(cap, sizeof(*out));
    if (out == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    size_t count = 0;
    const char *p = list;
    int ret = MINICA_OK;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0 && (end != NULL || count > 0)) {
            ret = minica_seterr(err, MINICA_EINVAL, "empty endpoint in list '%s'", list);
            goto out;
        }
        if (len > 0) {
            char item[sizeof(out[0].text)];
            if (len >= sizeof(item)) {
                ret = minica_seterr(err, MINICA_EINVAL, "endpoint too long in list '%s'", list);
                goto out;
            }
            memcpy(item, p, len);
            item[len] = '\0';
            if ((ret = minica_endpoint_parse(item, &out[count], err)) != 0)
                goto out;
            count++;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    if (count == 0) {
        ret = minica_seterr(err, MINICA_EINVAL, "no endpoint given (expected HOST:PORT[/SNI])");
        goto out;
    }
    *eps = out;
    *n = count;
    out = NULL;
out:
    free(out);
    return ret;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A firewalled port must not hang the agent (and cron) forever: connect
 * non-blocking and poll. */
static int connect_with_timeout(const struct minica_endpoint *ep, int timeout_ms, int *fd_out,
                                struct minica_err *err)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    int gai = getaddrinfo(ep->host, ep->port, &hints, &res);
    if (gai != 0)
        return minica_seterr(err, MINICA_ENET, "%s: cannot resolve %s: %s", ep->text, ep->host,
                             gai_strerror(gai));
    int64_t deadline = monotonic_ms() + timeout_ms;
    int last_errno = ETIMEDOUT;
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        int s =
            socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (s < 0) {
            last_errno = errno;
            continue;
        }
        int rc = connect(s, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            int left = (int)(deadline - monotonic_ms());
            struct pollfd pfd = {.fd = s, .events = POLLOUT};
            int pr = left > 0 ? poll(&pfd, 1, left) : 0;
            if (pr == 1) {
                int soerr = 0;
                socklen_t sl = sizeof(soerr);
                getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                rc = soerr == 0 ? 0 : -1;
                errno = soerr;
            } else {
                rc = -1;
                errno = pr == 0 ? ETIMEDOUT : errno;
            }
        }
        if (rc == 0) {
            int flags = fcntl(s, F_GETFL);
            if (flags >= 0 && fcntl(s, F_SETFL, flags & ~O_NONBLOCK) == 0) {
                fd = s;
                break;
            }
        }
        last_errno = errno;
        close(s);
    }
    freeaddrinfo(res);
    if (fd < 0)
        return minica_seterr(err, MINICA_ENET, "%s: cannot connect: %s", ep->text,
                             strerror(last_errno));
    /* A peer that accepts but never reads must not block a write forever. */
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    *fd_out = fd;
    return MINICA_OK;
}

/* GnuTLS's one-line description of a verification status. */
static void describe_status(const struct minica_gnutls *tls, unsigned status, char *out,
                            size_t outlen)
{
    gnutls_datum_t text = {NULL, 0};
    if (tls->certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0 &&
        text.data != NULL) {
        snprintf(out, outlen, "%s", (const char *)text.data);
        tls->free_mem(text.data);
        return;
    }
    snprintf(out, outlen, "verification status 0x%08x", status);
}

/* The handshake is GnuTLS's, not mbedTLS's: mbedTLS (2.28 and 3.6) aborts a
 * handshake whose chain holds a critical nameConstraints extension, which
 * is exactly what a `minica init --permit-dns` intermediate carries. The
 * served leaf is still read with libminica's parser. */
int minica_tls_probe(const struct minica_endpoint *ep, const char *default_sni,
                     const char *root_pem, int timeout_ms, struct minica_probe_result *res,
                     struct minica_err *err)
{
    memset(res, 0, sizeof(*res));
    const struct minica_gnutls *tls = minica_gnutls_load(err);
    if (tls == NULL)
        return MINICA_ENET;
    const char *sni = ep->sni[0] ? ep->sni : default_sni;
    if (timeout_ms <= 0)
        timeout_ms = 1;

    gnutls_certificate_credentials_t cred = NULL;
    gnutls_session_t session = NULL;
    mbedtls_x509_crt leaf;
    mbedtls_x509_crt_init(&leaf);
    int fd = -1;
    int ret, gret;

    if (tls->certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS) {
        cred = NULL;
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    gnutls_datum_t root = {(unsigned char *)root_pem, (unsigned)strlen(root_pem)};
    if (tls->certificate_set_x509_trust_mem(cred, &root, GNUTLS_X509_FMT_PEM) <= 0) {
        ret = minica_seterr(err, MINICA_ECRYPTO, "cannot parse the CA root");
        goto out;
    }
    /* NO_SIGNAL: a server closing mid-handshake must not kill the agent with SIGPIPE. */
    if ((gret = tls->init(&session, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL)) != GNUTLS_E_SUCCESS ||
        (gret = tls->set_default_priority(session)) != GNUTLS_E_SUCCESS ||
        (gret = tls->credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred)) != GNUTLS_E_SUCCESS) {
        ret = minica_seterr(err, MINICA_ECRYPTO, "cannot set up TLS: %s", tls->strerror(gret));
        goto out;
    }
    /* SNI must be a host name (RFC 6066 3); for an IP the name check is
     * skipped and the serial comparison is what proves the cert. */
    struct minica_name sni_name;
    struct minica_err nerr;
    int sni_is_dns = sni != NULL && *sni && minica_name_parse(sni, &sni_name, &nerr) == 0 &&
                     sni_name.kind == MINICA_NAME_DNS;
    if (sni_is_dns &&
        (gret = tls->server_name_set(session, GNUTLS_NAME_DNS, sni, strlen(sni))) != 0) {
        ret =
            minica_seterr(err, MINICA_ECRYPTO, "cannot set SNI '%s': %s", sni, tls->strerror(gret));
        goto out;
    }

    if ((ret = connect_with_timeout(ep, timeout_ms, &fd, err)) != 0)
        goto out;
    tls->transport_set_int2(session, fd, fd);
    tls->handshake_set_timeout(session, (unsigned)timeout_ms);
    do {
        gret = tls->handshake(session);
    } while (gret < 0 && tls->error_is_fatal(gret) == 0);
    if (gret < 0) {
        if (gret == GNUTLS_E_TIMEDOUT)
            ret = minica_seterr(err, MINICA_ENET, "%s: no TLS handshake within %d ms", ep->text,
                                timeout_ms);
        else
            ret = minica_seterr(err, MINICA_ENET, "%s: TLS handshake failed (%s)", ep->text,
                                tls->strerror(gret));
        goto out;
    }

    unsigned n_peers = 0;
    const gnutls_datum_t *peers = tls->certificate_get_peers(session, &n_peers);
    if (peers == NULL || n_peers == 0) {
        ret = minica_seterr(err, MINICA_ENET, "%s: the server sent no certificate", ep->text);
        goto out;
    }
    if (minica_crt_parse_der(&leaf, peers[0].data, peers[0].size, &nerr) != 0) {
        ret = minica_seterr(err, MINICA_ENET, "%s: the served certificate cannot be parsed: %s",
                            ep->text, nerr.msg);
        goto out;
    }
    res->answered = 1;
    minica_serial_to_hex(leaf.serial.p, leaf.serial.len, res->serial, sizeof(res->serial));
    res->not_after = minica_x509_time_to_unix(&leaf.valid_to);

    /* Verified after the fact, so that a server still serving an old,
     * foreign or self-signed cert is reported with the serial it served. */
    unsigned status = 0;
    gret = tls->certificate_verify_peers3(session, sni_is_dns ? sni : NULL, &status);
    if (gret != GNUTLS_E_SUCCESS || status != 0) {
        char why[256];
        if (gret != GNUTLS_E_SUCCESS)
            snprintf(why, sizeof(why), "%s", tls->strerror(gret));
        else
            describe_status(tls, status, why, sizeof(why));
        ret = minica_seterr(err, MINICA_ECRYPTO, "%s serves serial %s, which does not verify: %s",
                            ep->text, res->serial, why);
        goto out;
    }
    res->verified = 1;
    tls->bye(session, GNUTLS_SHUT_WR);
    ret = MINICA_OK;
out:
    if (session != NULL)
        tls->deinit(session);
    if (cred != NULL)
        tls->certificate_free_credentials(cred);
    if (fd >= 0)
        close(fd);
    mbedtls_x509_crt_free(&leaf);
    return ret;
}

int minica_tls_wait_for_serial(const struct minica_endpoint *ep, const char *default_sni,
                               const char *root_pem, const char *serial, int timeout_ms,
                               struct minica_probe_result *res, struct minica_err *err)
{
    int64_t deadline = monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    struct minica_probe_result last;
    memset(&last, 0, sizeof(last));
    memset(res, 0, sizeof(*res));
    int ret;
    for (;;) {
        int64_t left = deadline - monotonic_ms();
        /* One attempt may take all that is left, but at least a second: a
         * zero timeout still means "look once". */
        int attempt_ms = (int)(left > 5000 ? 5000 : left < 1000 ? 1000 : left);
        ret = minica_tls_probe(ep, default_sni, root_pem, attempt_ms, &last, err);
        *res = last;
        if (ret == 0 && strcmp(last.serial, serial) == 0)
            return MINICA_OK;
        if (monotonic_ms() + 200 >= deadline)
            break;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (ret == 0)
        return minica_seterr(err, MINICA_EINVAL, "%s serves serial %s, not the new %s", ep->text,
                             last.serial, serial);
    return ret;
}
