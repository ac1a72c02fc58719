/* minica serve's HTTPS front: libmicrohttpd with GnuTLS (TLS >= 1.2,
 * forward-secret AEAD suites, optional client certificates), the server's
 * own certificate and its renewal, listening and shutdown. Every request is
 * answered by minica_server_handle (handler.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/confine.h"
#include "base/libload.h"
#include "ca/x509.h"
#include "minica/fsutil.h"
#include "minica/issue.h"
#include "minica/lifecycle.h"
#include "minica/server.h"
#include "minica/signer_proc.h"
#include "serve/acme_nonce.h"
#include "serve/admit.h"
#include "serve/serve_internal.h"

/* TLS 1.2 and 1.3 only; ECDHE key exchange (forward secrecy) and AEAD
 * ciphers only. */
#define TLS_PRIORITIES                                                                             \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"            \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"
/* Request line plus headers a client may send (MHD answers 431 beyond). */
#define HEADER_MEMORY_LIMIT (32 * 1024)
/* A chunked body larger than the cap is read and dropped up to this, then the
 * connection is closed: nothing of it is kept. */
#define DISCARD_LIMIT (1024 * 1024)
/* From accept to the end of the request's headers, TLS handshake included
 * (libmicrohttpd does not count handshake bytes as activity): a connection
 * that is not talking HTTP by then is closed, whatever --timeout says. */
#define HANDSHAKE_TIMEOUT 10
/* What a busy answer asks for; clients add their own jitter and backoff. */
#define BUSY_RETRY_AFTER "1"
/* Connections the kernel queues before the server accepts them: a fleet
 * booting at once waits there instead of being refused. */
#define LISTEN_BACKLOG 1024

/* One loaded server certificate. Retired ones stay allocated until the
 * server closes: a handshake may still be using them. */
struct tls_cert {
    gnutls_pcert_st pcerts[4];
    unsigned n_pcerts;
    gnutls_privkey_t key;
    int64_t not_before;
    int64_t not_after;
    char serial[MINICA_SERIAL_HEX_MAX];
    char *chain; /* what follows the leaf, as minica_ca_chain_pem gave it */
    struct tls_cert *older;
};

/* The credentials a new connection gets: the trust for the
 * CertificateRequest, and cert_callback for the server's certificate. Kept,
 * like retired certificates, until the server closes. */
struct tls_trust {
    gnutls_certificate_credentials_t cred;
    struct tls_trust *older;
};

/* The ACME nonce key, from the inventory so that every replica on it
 * (and this one after a restart) accepts the nonces of every other; the
 * spent ones are there too, so none is accepted twice anywhere. Without
 * ACME no nonce is made: nothing is read or written. */
static int shared_nonce_key(struct minica_ca *ca, unsigned char key[MINICA_ACME_NONCE_KEY_LEN],
                            struct minica_err *err)
{
    if (!minica_ca_policy(ca)->acme.enabled)
        return MINICA_OK;
    return minica_acme_nonce_key(minica_ca_store(ca), key, err);
}

static int server_open(const char *dir, struct minica_signer_proc *proc, struct minica_server **out,
                       struct minica_err *err)
{
    *out = NULL;
    struct minica_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    srv->sigproc = proc;
    int ret = proc != NULL ? minica_ca_open_signed_by(dir, proc, &srv->ca, err)
                           : minica_ca_open(dir, &srv->ca, err);
    if (ret != 0) {
        free(srv);
        return ret;
    }
    if ((ret = shared_nonce_key(srv->ca, srv->acme_nonce_key, err)) != 0 ||
        (ret = minica_serve_roots_answer(srv->ca, &srv->roots_answer, err)) != 0 ||
        (ret = minica_refusals_open(dir, &srv->refusals, err)) != 0) {
        free(srv->roots_answer);
        minica_ca_close(srv->ca);
        free(srv);
        return ret;
    }
    minica_ca_set_actor(srv->ca, "serve", "local");
    minica_acme_validate_settings_init(&srv->acme_validate);
    minica_acme_test_ports(&srv->acme_validate);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->acme_freed, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&srv->acme_gate, NULL);
    pthread_mutex_init(&srv->ca_lock, NULL);
    /* A reload waiting to close the old CA must not wait for ever behind a
     * stream of requests that each hold it a moment. */
    pthread_rwlockattr_t rw;
    pthread_rwlockattr_init(&rw);
    pthread_rwlockattr_setkind_np(&rw, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&srv->ca_users, &rw);
    pthread_rwlockattr_destroy(&rw);
    pthread_mutex_init(&srv->tls_lock, NULL);
    pthread_mutex_init(&srv->admit_lock, NULL);
    *out = srv;
    return MINICA_OK;
}

int minica_server_open(const char *dir, struct minica_server **out, struct minica_err *err)
{
    return server_open(dir, NULL, out, err);
}

int minica_server_open_signed_by(const char *dir, struct minica_signer_proc *proc,
                                 struct minica_server **out, struct minica_err *err)
{
    return server_open(dir, proc, out, err);
}

static void tls_cert_free(const struct minica_gnutls *tls, struct tls_cert *c)
{
    while (c != NULL) {
        struct tls_cert *older = c->older;
        for (unsigned i = 0; i < c->n_pcerts; i++)
            tls->pcert_deinit(&c->pcerts[i]);
        if (c->key)
            tls->privkey_deinit(c->key);
        free(c->chain);
        free(c);
        c = older;
    }
}

static void tls_trust_free(const struct minica_gnutls *tls, struct tls_trust *t)
{
    while (t != NULL) {
        struct tls_trust *older = t->older;
        if (t->cred)
            tls->certificate_free_credentials(t->cred);
        free(t);
        t = older;
    }
}

void minica_server_close(struct minica_server *srv)
{
    if (srv == NULL)
        return;
    minica_refusals_close(srv->refusals);
    minica_ca_close(srv->ca);
    if (srv->cert != NULL)
        tls_cert_free(srv->tls, srv->cert);
    if (srv->trust != NULL)
        tls_trust_free(srv->tls, srv->trust);
    free(srv->roots_answer);
    free(srv->trust_pem);
    minica_admit_free(srv->admit);
    pthread_mutex_destroy(&srv->ca_lock);
    pthread_rwlock_destroy(&srv->ca_users);
    pthread_mutex_destroy(&srv->tls_lock);
    pthread_mutex_destroy(&srv->admit_lock);
    pthread_mutex_destroy(&srv->acme_gate);
    pthread_cond_destroy(&srv->acme_freed);
    free(srv);
}

/* ---- the server's own certificate ---- */

struct listen_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int any;     /* ":PORT": every address */
    char ip[64]; /* the specific IP, for the certificate */
};

static int parse_listen(const char *text, struct listen_addr *la, struct minica_err *err)
{
    memset(la, 0, sizeof(*la));
    const char *colon = strrchr(text, ':');
    if (colon == NULL)
        return minica_seterr(err, MINICA_EINVAL, "--listen '%s': expected ADDR:PORT or :PORT",
                             text);
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 1 || port > 65535)
        return minica_seterr(err, MINICA_EINVAL, "--listen '%s': invalid port", text);
    char host[64];
    size_t hlen = (size_t)(colon - text);
    if (hlen >= sizeof(host))
        return minica_seterr(err, MINICA_EINVAL, "--listen '%s': address too long", text);
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *)&la->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&la->ss;
    if (host[0] == '\0' || strcmp(host, "*") == 0) {
        la->any = 1;
        v6->sin6_family = AF_INET6;
        v6->sin6_addr = in6addr_any;
        v6->sin6_port = htons((uint16_t)port);
        la->len = sizeof(*v6);
    } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        la->len = sizeof(*v4);
        snprintf(la->ip, sizeof(la->ip), "%s", host);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        la->len = sizeof(*v6);
        snprintf(la->ip, sizeof(la->ip), "%s", host);
    } else {
        return minica_seterr(err, MINICA_EINVAL,
                             "--listen '%s': the address must be an IP address (or empty for all)",
                             text);
    }
    if (strcmp(la->ip, "0.0.0.0") == 0 || strcmp(la->ip, "::") == 0) {
        la->any = 1;
        la->ip[0] = '\0';
    }
    return MINICA_OK;
}

int minica_server_check_listen(const char *listen, struct minica_err *err)
{
    struct listen_addr la;
    return parse_listen(listen, &la, err);
}

static int bind_listen(const struct sockaddr *sa, socklen_t len, int dual_stack)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1, v6only = !dual_stack;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    if (bind(fd, sa, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int open_listener(struct listen_addr *la, int *fd_out, struct minica_err *err)
{
    int fd = bind_listen((struct sockaddr *)&la->ss, la->len, la->any);
    if (fd < 0 && la->any && errno != EADDRINUSE && errno != EACCES) {
        /* No IPv6 on this host: every IPv4 address instead. */
        struct sockaddr_in v4;
        memset(&v4, 0, sizeof(v4));
        v4.sin_family = AF_INET;
        v4.sin_port = ((struct sockaddr_in6 *)&la->ss)->sin6_port;
        v4.sin_addr.s_addr = htonl(INADDR_ANY);
        fd = bind_listen((struct sockaddr *)&v4, sizeof(v4), 0);
    }
    if (fd < 0)
        return minica_seterr(err, MINICA_EIO, "cannot listen: %s", strerror(errno));
    *fd_out = fd;
    return MINICA_OK;
}

/* The names the server certificate must carry, canonical, comma-separated. */
static int server_names(const struct minica_serve_options *o, const struct minica_policy *policy,
                        const struct listen_addr *la, char *out, size_t outlen,
                        struct minica_err *err)
{
    struct minica_name name;
    int ret;
    out[0] = '\0';
#define ADD_NAME(text)                                                                             \
    do {                                                                                           \
        if (strlen(out) + strlen(text) + 2 > outlen)                                               \
            return minica_seterr(err, MINICA_EINVAL, "too many --san");                            \
        if (out[0])                                                                                \
            strcat(out, ",");                                                                      \
        strcat(out, text);                                                                         \
    } while (0)
    for (size_t i = 0; i < o->n_sans; i++) {
        if ((ret = minica_name_parse(o->sans[i], &name, err)) != 0 ||
            (ret = minica_policy_check_name(policy, &name, err)) != 0) {
            minica_err_prefix(err, "--san");
            return ret;
        }
        ADD_NAME(name.text);
    }
    char host[256];
    /* The host's name and the listen IP when they pass the policy; --san is
     * how an operator adds names the policy accepts. */
    memset(host, 0, sizeof(host));
    if (gethostname(host, sizeof(host) - 1) == 0 && minica_name_parse(host, &name, NULL) == 0 &&
        minica_policy_check_name(policy, &name, NULL) == 0)
        ADD_NAME(name.text);
    if (la->ip[0] && minica_name_parse(la->ip, &name, NULL) == 0 &&
        minica_policy_check_name(policy, &name, NULL) == 0)
        ADD_NAME(name.text);
#undef ADD_NAME
    if (out[0] == '\0')
        return minica_seterr(err, MINICA_EINVAL,
                             "no name for the server's certificate (the host name is not "
                             "permitted by the policy); give one with --san");
    /* De-duplicate, keeping the order. */
    char copy[MINICA_SANS_MAX], *save = NULL;
    snprintf(copy, sizeof(copy), "%s", out);
    out[0] = '\0';
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char probe[MINICA_SANS_MAX + 2];
        snprintf(probe, sizeof(probe), ",%s,", out);
        char item[MINICA_NAME_MAX + 3];
        snprintf(item, sizeof(item), ",%s,", t);
        if (strstr(probe, item) != NULL)
            continue;
        if (out[0])
            strcat(out, ",");
        strcat(out, t);
    }
    return MINICA_OK;
}

static int load_tls_cert(const struct minica_gnutls *tls, const char *chain_pem,
                         const char *key_pem, struct tls_cert **out, struct minica_err *err)
{
    struct tls_cert *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    gnutls_datum_t chain = {(unsigned char *)chain_pem, (unsigned)strlen(chain_pem)};
    gnutls_datum_t key = {(unsigned char *)key_pem, (unsigned)strlen(key_pem)};
    c->n_pcerts = 4;
    int g =
        tls->pcert_list_import_x509_raw(c->pcerts, &c->n_pcerts, &chain, GNUTLS_X509_FMT_PEM, 0);
    if (g < 0) {
        c->n_pcerts = 0;
        tls_cert_free(tls, c);
        return minica_seterr(err, MINICA_ECRYPTO, "GnuTLS cannot load serve.crt: %s",
                             tls->strerror(g));
    }
    if ((g = tls->privkey_init(&c->key)) < 0 ||
        (g = tls->privkey_import_x509_raw(c->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        tls_cert_free(tls, c);
        return minica_seterr(err, MINICA_ECRYPTO, "GnuTLS cannot load serve.key: %s",
                             tls->strerror(g));
    }
    *out = c;
    return MINICA_OK;
}

/* Keeps the current certificate when it is for the same names, comes with
 * the CA's chain of now (after a rotation it is another intermediate's) and
 * has more than a third of its life left; otherwise issues a new one into
 * DIR/serve.crt (leaf + chain) and DIR/serve.key (0600). */
static int ensure_cert(struct minica_server *srv, const char *names, int force, int *changed,
                       struct minica_err *err)
{
    char crt_path[MINICA_PATH_MAX], key_path[MINICA_PATH_MAX];
    const char *dir = minica_ca_dir(srv->ca);
    int ret;
    *changed = 0;
    if ((ret = minica_path_join(crt_path, sizeof(crt_path), dir, "serve.crt", err)) != 0 ||
        (ret = minica_path_join(key_path, sizeof(key_path), dir, "serve.key", err)) != 0)
        return ret;
    int64_t now = minica_now();
    const char *ca_chain = minica_ca_chain_pem(srv->ca);
    if (srv->cert != NULL && !force && srv->cert->chain != NULL &&
        strcmp(srv->cert->chain, ca_chain) == 0) {
        int64_t life = srv->cert->not_after - srv->cert->not_before - 60;
        if (life < 3)
            life = 3;
        if (srv->cert->not_after - now > life / 3)
            return MINICA_OK;
    }

    char *crt = NULL, *key = NULL;
    size_t key_len = 0;
    struct tls_cert *loaded = NULL;
    if (srv->cert == NULL && !force &&
        minica_read_file(crt_path, 64 * 1024, &crt, NULL, NULL) == 0 &&
        minica_read_file(key_path, 64 * 1024, &key, &key_len, NULL) == 0 &&
        minica_key_matches_cert(key, crt, NULL) == 1) {
        /* A certificate from an earlier run: reuse it if it still fits. */
        mbedtls_x509_crt x;
        mbedtls_x509_crt_init(&x);
        struct minica_cert_row row;
        memset(&row, 0, sizeof(row));
        if (minica_crt_parse_pem(&x, crt, NULL) == 0) {
            char serial[MINICA_SERIAL_HEX_MAX];
            minica_serial_to_hex(x.serial.p, x.serial.len, serial, sizeof(serial));
            struct minica_serve_row found;
            memset(&found, 0, sizeof(found));
            struct minica_cert_filter filter;
            memset(&filter, 0, sizeof(filter));
            filter.serial = serial;
            pthread_mutex_lock(&srv->ca_lock);
            minica_store_list_certs(minica_ca_store(srv->ca), &filter, minica_serve_copy_row,
                                    &found, NULL);
            pthread_mutex_unlock(&srv->ca_lock);
            int64_t nb = minica_x509_time_to_unix(&x.valid_from);
            int64_t na = minica_x509_time_to_unix(&x.valid_to);
            int64_t life = na - nb - 60;
            if (life < 3)
                life = 3;
            /* A shorter --cert-ttl than the kept certificate's takes effect now. */
            int ttl_ok = srv->opts->cert_ttl == 0 || life <= srv->opts->cert_ttl + 120;
            /* Written by an earlier run under another issuer: not kept. */
            const char *chain = strstr(crt + 1, "-----BEGIN CERTIFICATE-----");
            int chain_ok = chain != NULL && strcmp(chain, ca_chain) == 0;
            if (found.found && ttl_ok && chain_ok && strcmp(found.row.sans, names) == 0 &&
                minica_cert_row_status(&found.row, now) == MINICA_STATUS_VALID &&
                na - now > life / 3 && load_tls_cert(srv->tls, crt, key, &loaded, NULL) == 0) {
                loaded->not_before = nb;
                loaded->not_after = na;
                snprintf(loaded->serial, sizeof(loaded->serial), "%s", serial);
                if ((loaded->chain = minica_strdup(chain)) == NULL) {
                    tls_cert_free(srv->tls, loaded);
                    loaded = NULL;
                }
            }
        }
        mbedtls_x509_crt_free(&x);
    }
    free(crt);
    crt = NULL;
    if (key)
        minica_free_secret(key, key_len + 1);
    key = NULL;

    if (loaded == NULL) {
        char *copy = minica_strdup(names), *save = NULL;
        const char **sans = calloc(MINICA_MAX_SANS, sizeof(*sans));
        struct minica_issue_request req;
        memset(&req, 0, sizeof(req));
        struct minica_issued issued;
        memset(&issued, 0, sizeof(issued));
        if (copy == NULL || sans == NULL) {
            free(copy);
            free(sans);
            return minica_seterr(err, MINICA_ENOMEM, "out of memory");
        }
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (req.name == NULL)
                req.name = t;
            else if (req.n_sans < MINICA_MAX_SANS)
                sans[req.n_sans++] = t;
        }
        req.sans = sans;
        req.ttl = srv->opts->cert_ttl;
        req.usage = MINICA_USAGE_SERVER;
        pthread_mutex_lock(&srv->ca_lock);
        minica_ca_set_actor(srv->ca, "serve", "local");
        ret = minica_ca_issue(srv->ca, &req, &issued, err);
        pthread_mutex_unlock(&srv->ca_lock);
        free(copy);
        free(sans);
        if (ret != 0) {
            minica_err_prefix(err, "cannot issue the server's certificate");
            return ret;
        }
        size_t a = strlen(issued.cert_pem), b = strlen(issued.chain_pem);
        char *chain = malloc(a + b + 1);
        if (chain == NULL) {
            minica_issued_free(&issued);
            return minica_seterr(err, MINICA_ENOMEM, "out of memory");
        }
        memcpy(chain, issued.cert_pem, a);
        memcpy(chain + a, issued.chain_pem, b + 1);
        /* Key first: a certificate on disk without its key would be useless. */
        if ((ret = minica_write_file_atomic(key_path, issued.key_pem, strlen(issued.key_pem), 0600,
                                            0, err)) == 0 &&
            (ret = minica_write_file_atomic(crt_path, chain, a + b, 0644, 0, err)) == 0 &&
            (ret = load_tls_cert(srv->tls, chain, issued.key_pem, &loaded, err)) == 0) {
            loaded->not_before = issued.not_before;
            loaded->not_after = issued.not_after;
            snprintf(loaded->serial, sizeof(loaded->serial), "%s", issued.serial);
            if ((loaded->chain = minica_strdup(issued.chain_pem)) == NULL) {
                tls_cert_free(srv->tls, loaded);
                loaded = NULL;
                ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
            }
        }
        free(chain);
        minica_issued_free(&issued);
        if (ret != 0)
            return ret;
    }
    pthread_mutex_lock(&srv->tls_lock);
    loaded->older = srv->cert;
    srv->cert = loaded;
    pthread_mutex_unlock(&srv->tls_lock);
    *changed = 1;
    return MINICA_OK;
}

/* ---- the HTTPS front ---- */

/* GnuTLS asks for the certificate at every handshake: the current one is
 * handed out, so a re-issued certificate is used without a restart. */
static int cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                         gnutls_pcert_st **pcert, unsigned int *pcert_length,
                         gnutls_privkey_t *privkey)
{
    (void)req_ca_dn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    /* Only a running server gets here, and it has loaded GnuTLS. */
    struct minica_server *srv = minica_gnutls_load(NULL)->session_get_ptr(session);
    if (srv == NULL)
        return -1;
    pthread_mutex_lock(&srv->tls_lock);
    struct tls_cert *c = srv->cert;
    pthread_mutex_unlock(&srv->tls_lock);
    if (c == NULL)
        return -1;
    *pcert = c->pcerts;
    *pcert_length = c->n_pcerts;
    *privkey = c->key;
    return 0;
}

/* Credentials for new connections that name every CA certificate of
 * trust_pem in the CertificateRequest and answer with cert_callback. */
static int make_trust(const struct minica_gnutls *tls, const char *trust_pem,
                      struct tls_trust **out, struct minica_err *err)
{
    struct tls_trust *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    gnutls_datum_t pem = {(unsigned char *)trust_pem, (unsigned)strlen(trust_pem)};
    int g = tls->certificate_allocate_credentials(&t->cred);
    if (g >= 0)
        g = tls->certificate_set_x509_trust_mem(t->cred, &pem, GNUTLS_X509_FMT_PEM);
    if (g < 0) {
        tls_trust_free(tls, t);
        return minica_seterr(err, MINICA_ECRYPTO, "GnuTLS cannot load the CA certificates: %s",
                             tls->strerror(g));
    }
    tls->certificate_set_retrieve_function2(t->cred, cert_callback);
    *out = t;
    return MINICA_OK;
}

/* ---- connection slots (admit.h; docs/design.md "Connection slots") ---- */

/* A connection's socket context: its place in the counts. */
struct conn_state {
    struct minica_admit_ticket ticket;
    int request_seen; /* the idle timeout is --timeout from then on */
};

/* libmicrohttpd's accept policy, before it sets a connection up: closes
 * what the limits drop (a network over its share of all slots, or a big
 * network when only the reserve is left). Counts nothing: the connection
 * may still fail to start; notify_connection counts what did. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct minica_server *srv = cls;
    pthread_mutex_lock(&srv->admit_lock);
    enum minica_admit_verdict v = minica_admit_judge(srv->admit, addr, addrlen);
    if (v == MINICA_ADMIT_DROP)
        srv->dropped++;
    pthread_mutex_unlock(&srv->admit_lock);
    return v == MINICA_ADMIT_DROP ? MHD_NO : MHD_YES;
}

static void notify_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    struct minica_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn_state *cs = *socket_context;
        if (cs != NULL) {
            pthread_mutex_lock(&srv->admit_lock);
            minica_admit_release(srv->admit, &cs->ticket);
            pthread_mutex_unlock(&srv->admit_lock);
            free(cs);
            *socket_context = NULL;
        }
        return;
    }
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    const union MHD_ConnectionInfo *ci =
        srv->mhd->get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci != NULL && ci->tls_session != NULL) {
        gnutls_session_t session = (gnutls_session_t)ci->tls_session;
        srv->tls->session_set_ptr(session, cls);
        /* libmicrohttpd's credentials carry the trust of the start; the
         * handshake, in the connection's thread, has not begun yet. */
        pthread_mutex_lock(&srv->tls_lock);
        if (srv->trust != NULL)
            srv->tls->credentials_set(session, GNUTLS_CRD_CERTIFICATE, srv->trust->cred);
        pthread_mutex_unlock(&srv->tls_lock);
    }
    /* Until its request's headers are in, every connection has the short
     * deadline: idle handshakes give their slot back early. */
    srv->mhd->set_connection_option(connection, MHD_CONNECTION_OPTION_TIMEOUT,
                                    srv->handshake_timeout);
    /* Without a state (no memory, or no room in the table) the connection
     * is answered busy, uncounted: it lives at most the short deadline. */
    struct conn_state *cs = calloc(1, sizeof(*cs));
    ci = srv->mhd->get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (cs == NULL || ci == NULL || ci->client_addr == NULL) {
        free(cs);
        return;
    }
    const struct sockaddr *sa = ci->client_addr;
    socklen_t len = sa->sa_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
                                              : (socklen_t)sizeof(struct sockaddr_in);
    pthread_mutex_lock(&srv->admit_lock);
    int ret = minica_admit_take(srv->admit, sa, len, &cs->ticket);
    pthread_mutex_unlock(&srv->admit_lock);
    if (ret != 0) {
        free(cs);
        return;
    }
    *socket_context = cs;
}

/* The connection's verdict; the first call also gives a served connection
 * the normal idle timeout. */
static int connection_served(struct minica_server *srv, struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *ci =
        srv->mhd->get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_state *cs = ci != NULL ? ci->socket_context : NULL;
    if (cs == NULL || cs->ticket.verdict != MINICA_ADMIT_SERVE)
        return 0;
    if (!cs->request_seen) {
        cs->request_seen = 1;
        srv->mhd->set_connection_option(connection, MHD_CONNECTION_OPTION_TIMEOUT, srv->timeout);
    }
    return 1;
}

static void serve_log(const struct minica_server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void serve_log(const struct minica_server *srv, const char *fmt, ...)
{
    if (srv->opts == NULL || srv->opts->log == NULL)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* Client-controlled text (paths) must not forge log lines. */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = '?';
    srv->opts->log(srv->opts->log_ctx, line);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    serve_log(cls, "tls/http: %s", line);
}

struct request_state {
    char *body;
    size_t len;
    size_t discarded;
    int too_large;
};

static void request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)connection;
    (void)toe;
    struct request_state *st = *con_cls;
    if (st != NULL) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

static void remote_address(const struct minica_mhd *mhd, struct MHD_Connection *connection,
                           char *out, size_t outlen)
{
    snprintf(out, outlen, "?");
    const union MHD_ConnectionInfo *ci =
        mhd->get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outlen);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)outlen);
        else
            inet_ntop(AF_INET6, a, out, (socklen_t)outlen);
    }
}

static enum MHD_Result queue(struct minica_server *srv, struct MHD_Connection *connection,
                             const char *method, const char *url, const char *addr,
                             struct minica_http_response *resp)
{
    const struct minica_mhd *mhd = srv->mhd;
    struct MHD_Response *r =
        mhd->create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    mhd->add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    mhd->add_response_header(r, "Cache-Control", "no-store");
    if (resp->allow != NULL)
        mhd->add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
    for (size_t i = 0; i < resp->n_headers && i < MINICA_HTTP_MAX_HEADERS; i++)
        mhd->add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    enum MHD_Result ret = mhd->queue_response(connection, (unsigned)resp->status, r);
    mhd->destroy_response(r);
    serve_log(srv, "%s %.16s %.200s %d%s%s", addr, method, url, resp->status,
              resp->log[0] ? " " : "", resp->log);
    return ret;
}

/* The cheap answer to a connection over its network's or address's share:
 * 503 with Retry-After, before any body is read and without the CA, and
 * the connection closed after it, so that its slot is free at once. */
static enum MHD_Result queue_busy(struct minica_server *srv, struct MHD_Connection *connection,
                                  const char *method, const char *url, const char *addr)
{
    const struct minica_mhd *mhd = srv->mhd;
    static const char body[] =
        "{\"error\":\"busy\",\"detail\":\"the CA is busy (too many connections from your "
        "network); retry after " BUSY_RETRY_AFTER "s\"}";
    struct MHD_Response *r =
        mhd->create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    mhd->add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    mhd->add_response_header(r, "Cache-Control", "no-store");
    mhd->add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, BUSY_RETRY_AFTER);
    mhd->add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = mhd->queue_response(connection, MHD_HTTP_SERVICE_UNAVAILABLE, r);
    mhd->destroy_response(r);
    serve_log(srv, "%s %.16s %.200s 503 busy", addr, method, url);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct minica_server *srv = cls;
    struct request_state *st = *con_cls;
    char addr[INET6_ADDRSTRLEN + 1];
    struct minica_http_response resp;
    memset(&resp, 0, sizeof(resp));
    if (st == NULL) {
        /* Headers only so far: refuse a declared oversized body before
         * reading any of it. */
        st = calloc(1, sizeof(*st));
        if (st == NULL)
            return MHD_NO;
        *con_cls = st;
        /* Health and the root cost no more than a busy answer (no lock, no
         * signature): a monitor or a bootstrap behind a busy NAT gets them. */
        int cheap = strcmp(method, "GET") == 0 &&
                    (strcmp(url, "/v1/health") == 0 || strcmp(url, "/v1/roots") == 0);
        if (!connection_served(srv, connection) && !cheap) {
            remote_address(srv->mhd, connection, addr, sizeof(addr));
            return queue_busy(srv, connection, method, url, addr);
        }
        const char *cl = srv->mhd->lookup_connection_value(connection, MHD_HEADER_KIND,
                                                           MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > MINICA_SERVE_MAX_BODY) {
            remote_address(srv->mhd, connection, addr, sizeof(addr));
            minica_serve_respond_error(&resp, 413, "too_large", "the body exceeds %d bytes",
                                       MINICA_SERVE_MAX_BODY);
            enum MHD_Result r = queue(srv, connection, method, url, addr, &resp);
            minica_http_response_free(&resp);
            return r;
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (st->too_large || st->len + n > MINICA_SERVE_MAX_BODY) {
            st->too_large = 1;
            free(st->body);
            st->body = NULL;
            st->discarded += n;
            return st->discarded > DISCARD_LIMIT ? MHD_NO : MHD_YES;
        }
        char *grown = realloc(st->body, st->len + n + 1);
        if (grown == NULL)
            return MHD_NO;
        memcpy(grown + st->len, upload_data, n);
        st->body = grown;
        st->len += n;
        return MHD_YES;
    }

    remote_address(srv->mhd, connection, addr, sizeof(addr));
    if (st->too_large) {
        minica_serve_respond_error(&resp, 413, "too_large", "the body exceeds %d bytes",
                                   MINICA_SERVE_MAX_BODY);
    } else {
        const unsigned char *peer = NULL;
        size_t peer_len = 0;
        const union MHD_ConnectionInfo *ci =
            srv->mhd->get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (ci != NULL && ci->tls_session != NULL) {
            unsigned n = 0;
            const gnutls_datum_t *peers =
                srv->tls->certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
            if (peers != NULL && n > 0) {
                peer = peers[0].data;
                peer_len = peers[0].size;
            }
        }
        struct minica_http_request req = {
            .method = method,
            .path = url,
            .body = st->body,
            .body_len = st->len,
            .client_cert_der = peer,
            .client_cert_len = peer_len,
            .remote_addr = addr,
            .host = srv->mhd->lookup_connection_value(connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_HOST),
            .content_type = srv->mhd->lookup_connection_value(connection, MHD_HEADER_KIND,
                                                              MHD_HTTP_HEADER_CONTENT_TYPE),
        };
        minica_server_handle(srv, &req, &resp);
    }
    enum MHD_Result r = queue(srv, connection, method, url, addr, &resp);
    minica_http_response_free(&resp);
    return r;
}

/* SIGHUP: the CA as its state directory holds it now (`ca rotate` or `ca
 * rollover` made another intermediate the issuer). Everything is built
 * before anything is switched, so a failure leaves the running CA in
 * place; requests in flight finish under the handle they started with
 * (ca_lock), connections already past their handshake keep their trust.
 * The server's certificate follows at the next ensure_cert. */
static int reload(struct minica_server *srv, const struct listen_addr *la, char *names,
                  size_t nameslen, struct minica_err *err)
{
    struct minica_ca *ca = NULL, *old;
    char *roots = NULL, *trust_pem = NULL, fresh[MINICA_SANS_MAX];
    struct tls_trust *trust = NULL;
    unsigned char nonce_key[MINICA_ACME_NONCE_KEY_LEN];
    memcpy(nonce_key, srv->acme_nonce_key, sizeof(nonce_key));
    /* The signer first: the new handle needs the keys it now holds. */
    int ret = srv->sigproc != NULL ? minica_signer_proc_reload(srv->sigproc, err) : 0;
    /* Never another inventory: the nonce key, the published CRLs and the
     * requests in flight belong to the one in use. */
    if (ret == 0)
        ret = minica_ca_reopen(srv->ca, &ca, err);
    if (ret == 0 && (ret = minica_policy_check_acme(minica_ca_policy(ca), err)) == 0 &&
        (ret = shared_nonce_key(ca, nonce_key, err)) == 0 &&
        (ret = minica_serve_roots_answer(ca, &roots, err)) == 0 &&
        (ret = minica_serve_trust_pem(ca, &trust_pem, err)) == 0 &&
        (ret = make_trust(srv->tls, trust_pem, &trust, err)) == 0)
        ret = server_names(srv->opts, minica_ca_policy(ca), la, fresh, sizeof(fresh), err);
    free(trust_pem);
    if (ret != 0) {
        if (trust != NULL)
            tls_trust_free(srv->tls, trust);
        free(roots);
        minica_ca_close(ca);
        return ret;
    }
    minica_ca_set_actor(ca, "serve", "local");
    pthread_mutex_lock(&srv->ca_lock);
    old = srv->ca;
    srv->ca = ca;
    /* ACME reads the key under this lock, and only with ACME enabled (by
     * this reload, perhaps). */
    memcpy(srv->acme_nonce_key, nonce_key, sizeof(nonce_key));
    pthread_mutex_unlock(&srv->ca_lock);
    pthread_mutex_lock(&srv->tls_lock);
    free(srv->roots_answer);
    srv->roots_answer = roots;
    trust->older = srv->trust;
    srv->trust = trust;
    pthread_mutex_unlock(&srv->tls_lock);
    /* Requests that took the old CA and still use it outside ca_lock
     * (an enrollment waiting for its commit's sync) finish first. */
    pthread_rwlock_wrlock(&srv->ca_users);
    pthread_rwlock_unlock(&srv->ca_users);
    minica_ca_close(old);
    snprintf(names, nameslen, "%s", fresh);
    return MINICA_OK;
}

/* Everything is open (the listener, the inventory, the libraries, serve's
 * own certificate): what is left of this process's rights can go. The CA
 * keys are with the signer process; as root, their files are covered so
 * that this process cannot open them either. */
static int confine(struct minica_server *srv, const struct minica_serve_options *opts,
                   struct minica_err *err)
{
    if (srv->sigproc == NULL) {
        if (opts->user != NULL)
            return minica_seterr(err, MINICA_EINVAL,
                                 "--user needs the signer process (not --signer in-process)");
        return MINICA_OK;
    }
    size_t covered = 0;
    struct minica_err why;
    if (minica_confine_cover_keys(minica_ca_dir(srv->ca), &covered, &why) == 0)
        serve_log(srv, "network process: %zu CA key files covered", covered);
    else
        serve_log(srv,
                  "network process: cannot cover the CA key files (%s): it holds no key but "
                  "could open their files",
                  why.msg);
    int ret = minica_confine_drop(opts->user, err);
    if (ret != 0)
        return ret;
    if (getuid() == 0)
        serve_log(srv,
                  "network process: uid 0 with file access only (no other capability), "
                  "no_new_privs; keys in signer process %ld; --user runs it unprivileged",
                  (long)minica_signer_proc_worker(srv->sigproc));
    else
        serve_log(srv, "network process: uid %ld, no_new_privs; keys in signer process %ld",
                  (long)getuid(), (long)minica_signer_proc_worker(srv->sigproc));
    return MINICA_OK;
}

int minica_server_run(struct minica_server *srv, const struct minica_serve_options *opts,
                      struct minica_err *err)
{
    srv->opts = opts;
    struct listen_addr la;
    char names[MINICA_SANS_MAX];
    int fd = -1, changed = 0, ret;
    struct MHD_Daemon *daemon = NULL;
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* The signer's supervisor ending: nothing would sign again. */
    sigaddset(&set, SIGCHLD);

    if ((srv->tls = minica_gnutls_load(err)) == NULL || (srv->mhd = minica_mhd_load(err)) == NULL)
        return MINICA_ENET;
    if ((ret = minica_policy_check_acme(minica_ca_policy(srv->ca), err)) != 0 ||
        (ret = parse_listen(opts->listen ? opts->listen : MINICA_SERVE_DEFAULT_LISTEN, &la, err)) !=
            0 ||
        (ret = server_names(opts, minica_ca_policy(srv->ca), &la, names, sizeof(names), err)) !=
            0 ||
        (ret = ensure_cert(srv, names, 0, &changed, err)) != 0 ||
        (ret = minica_serve_trust_pem(srv->ca, &srv->trust_pem, err)) != 0 ||
        (ret = make_trust(srv->tls, srv->trust_pem, &srv->trust, err)) != 0)
        return ret;
    if ((ret = open_listener(&la, &fd, err)) != 0)
        return ret;
    if ((ret = confine(srv, opts, err)) != 0) {
        close(fd);
        return ret;
    }

    unsigned max_conn =
        opts->max_connections ? opts->max_connections : MINICA_SERVE_DEFAULT_MAX_CONNECTIONS;
    /* One VM enrolling or renewing needs one or two connections at a time;
     * a NAT's fleet shares one address and gets "busy, retry" beyond its
     * share instead of a closed connection (admit.h). */
    unsigned per_ip = opts->per_ip_connections ? opts->per_ip_connections
                                               : MINICA_SERVE_DEFAULT_PER_IP_CONNECTIONS;
    struct minica_admit_limits limits;
    minica_admit_limits_for(&limits, max_conn, per_ip, opts->per_net_connections);
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if ((ret = minica_admit_new(&limits, seed, &srv->admit, err)) != 0) {
        close(fd);
        return ret;
    }
    srv->timeout = opts->timeout ? opts->timeout : MINICA_SERVE_DEFAULT_TIMEOUT;
    srv->handshake_timeout =
        srv->timeout < HANDSHAKE_TIMEOUT ? srv->timeout : (unsigned)HANDSHAKE_TIMEOUT;

    /* Threads started from here on inherit the mask: only this thread
     * takes SIGTERM, SIGINT and SIGHUP, in sigtimedwait below. */
    pthread_sigmask(SIG_BLOCK, &set, &old);
    /* libmicrohttpd's own cap is the held total: past it, it closes new
     * connections itself. Its per-address cap is not used: the accept
     * policy and the socket contexts count per address and network. */
    daemon = srv->mhd->start_daemon(
        MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG,
        0, accept_policy, srv, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_HTTPS_CERT_CALLBACK, cert_callback,
        MHD_OPTION_HTTPS_MEM_TRUST, srv->trust_pem, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
        MHD_OPTION_CONNECTION_LIMIT, limits.held, MHD_OPTION_CONNECTION_TIMEOUT, srv->timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY_LIMIT,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
        notify_connection, srv, MHD_OPTION_END);
    if (daemon == NULL) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        close(fd);
        return minica_seterr(err, MINICA_EIO, "cannot start the HTTPS server (libmicrohttpd)");
    }
    char na[21];
    minica_unix_to_rfc3339(srv->cert->not_after, na);
    serve_log(srv, "listening on %s (certificate %s for %s, valid until %s)",
              opts->listen ? opts->listen : MINICA_SERVE_DEFAULT_LISTEN, srv->cert->serial, names,
              na);
    serve_log(srv, "inventory: %s", minica_store_name(minica_ca_store(srv->ca)));
    /* ACME clients need one URL; the server certificate's first name is one
     * they can verify. */
    const char *lp = strrchr(opts->listen ? opts->listen : MINICA_SERVE_DEFAULT_LISTEN, ':');
    if (minica_ca_policy(srv->ca)->acme.enabled)
        serve_log(srv, "ACME directory: https://%.*s:%s/acme/directory", (int)strcspn(names, ","),
                  names, lp ? lp + 1 : "9443");

    for (;;) {
        int64_t life = srv->cert->not_after - srv->cert->not_before - 60;
        int64_t interval = life / 20;
        if (interval < 1)
            interval = 1;
        if (interval > 60)
            interval = 60;
        struct timespec ts = {.tv_sec = (time_t)interval, .tv_nsec = 0};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            serve_log(srv, "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        char how[32];
        if (sig == SIGCHLD && srv->sigproc != NULL &&
            minica_signer_proc_gone(srv->sigproc, how, sizeof(how))) {
            ret = minica_seterr(err, MINICA_EIO,
                                "the signer process's supervisor ended (%s): stopping, nothing "
                                "could sign",
                                how);
            break;
        }
        if (sig < 0 && errno != EAGAIN && errno != EINTR) {
            ret = minica_seterr(err, MINICA_EIO, "sigtimedwait: %s", strerror(errno));
            break;
        }
        struct minica_err e;
        if (sig == SIGHUP) {
            if (reload(srv, &la, names, sizeof(names), &e) != 0) {
                serve_log(srv, "SIGHUP: cannot reload the CA, serving on with the one loaded: %s",
                          e.msg);
            } else {
                const struct minica_ca_cert *ai = minica_ca_active_intermediate(srv->ca);
                serve_log(srv, "SIGHUP: reloaded the CA: issuing intermediate serial %s (%s)",
                          ai != NULL ? ai->serial : "?", ai != NULL ? ai->subject : "?");
            }
        }
        /* Counts of refusals whose minute ended while no request came. */
        minica_refusals_sweep(srv->refusals);
        pthread_mutex_lock(&srv->admit_lock);
        unsigned long dropped = srv->dropped;
        srv->dropped = 0;
        pthread_mutex_unlock(&srv->admit_lock);
        /* One line per interval, not one per connection: a flood must not
         * flood the log. */
        if (dropped > 0)
            serve_log(srv, "closed %lu new connections over their network's share", dropped);
        if (ensure_cert(srv, names, 0, &changed, &e) != 0) {
            serve_log(srv, "cannot renew the server certificate (will retry): %s", e.msg);
        } else if (changed) {
            minica_unix_to_rfc3339(srv->cert->not_after, na);
            serve_log(srv, "server certificate re-issued: serial %s, valid until %s",
                      srv->cert->serial, na);
        }
    }
    /* Stop accepting, then let MHD close the connections and join its threads. */
    MHD_socket lfd = srv->mhd->quiesce_daemon(daemon);
    srv->mhd->stop_daemon(daemon);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return ret;
}
