/* http-01 and tls-alpn-01 validation with policy-restricted dialing (see
 * acme_validate.h). Resolving, checking and pinning happen here, before
 * libcurl or GnuTLS touch the network; neither library ever resolves a name
 * by itself. Not the ACME state machine: the caller records the outcome. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>

#include "base/compat.h"
#include "base/libload.h"
#include "serve/acme_validate.h"

#define ACME_TLS_ALPN "acme-tls/1"
#define TOKEN_MAX 256
#define THUMBPRINT_MAX 128

/* 1.3.6.1.5.5.7.1.31 id-pe-acmeIdentifier (RFC 8737 6.1) and 2.5.29.17. */
static const unsigned char OID_ACME_IDENTIFIER[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f};
static const unsigned char OID_SAN[] = {0x55, 0x1d, 0x11};

const char *minica_acme_vproblem_type(enum minica_acme_vproblem p)
{
    switch (p) {
    case MINICA_ACME_VP_NONE:
        return "";
    case MINICA_ACME_VP_CONNECTION:
        return "urn:ietf:params:acme:error:connection";
    case MINICA_ACME_VP_DNS:
        return "urn:ietf:params:acme:error:dns";
    case MINICA_ACME_VP_INCORRECT_RESPONSE:
        return "urn:ietf:params:acme:error:incorrectResponse";
    case MINICA_ACME_VP_TLS:
        return "urn:ietf:params:acme:error:tls";
    case MINICA_ACME_VP_REJECTED_IDENTIFIER:
        return "urn:ietf:params:acme:error:rejectedIdentifier";
    case MINICA_ACME_VP_SERVER_INTERNAL:
        break;
    }
    return "urn:ietf:params:acme:error:serverInternal";
}

/* ---- the pure parts ---- */

static int is_b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static size_t b64url_span(const char *s)
{
    size_t n = 0;
    while (is_b64url(s[n]))
        n++;
    return n;
}

/* The token goes into a URL path: anything but base64url could climb out of
 * /.well-known/acme-challenge/ or smuggle a query. */
int minica_acme_check_token(const char *token, struct minica_err *err)
{
    size_t n = token ? b64url_span(token) : 0;
    if (n == 0 || n > TOKEN_MAX || token[n] != '\0')
        return minica_seterr(err, MINICA_EINVAL,
                             "the challenge token is not 1 to %d base64url characters", TOKEN_MAX);
    return MINICA_OK;
}

int minica_acme_check_key_authz(const char *token, const char *key_authz, struct minica_err *err)
{
    int ret = minica_acme_check_token(token, err);
    if (ret != 0)
        return ret;
    size_t tlen = strlen(token);
    if (key_authz == NULL || strncmp(key_authz, token, tlen) != 0 || key_authz[tlen] != '.')
        return minica_seterr(err, MINICA_EINVAL,
                             "the key authorization does not start with the token and '.'");
    const char *thumb = key_authz + tlen + 1;
    size_t n = b64url_span(thumb);
    if (n == 0 || n > THUMBPRINT_MAX || thumb[n] != '\0')
        return minica_seterr(err, MINICA_EINVAL,
                             "the key authorization's thumbprint is not base64url");
    return MINICA_OK;
}

int minica_acme_http01_body_matches(const char *body, size_t len, const char *key_authz)
{
    size_t klen = strlen(key_authz);
    if (len < klen || memcmp(body, key_authz, klen) != 0)
        return 0;
    for (size_t i = klen; i < len; i++)
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' && body[i] != '\n')
            return 0;
    return 1;
}

static void addr_text(const struct minica_acme_addr *a, char *out, size_t outlen)
{
    if (inet_ntop(a->len == 4 ? AF_INET : AF_INET6, a->ip, out, (socklen_t)outlen) == NULL)
        snprintf(out, outlen, "?");
}

/* Addresses no policy range makes a web server: on Linux 0.0.0.0 and ::
 * connect to the host itself, which is the classic way around a loopback
 * filter; multicast and broadcast are never one peer. */
static int never_dialed(const struct minica_acme_addr *a)
{
    if (a->len == 4)
        return a->ip[0] == 0 || a->ip[0] >= 224;
    static const uint8_t zero[16] = {0};
    return memcmp(a->ip, zero, 16) == 0 || a->ip[0] == 0xff;
}

int minica_acme_addr_permitted(const struct minica_policy *policy, struct minica_acme_addr *addr,
                               struct minica_err *err)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (addr->len == 16 && memcmp(addr->ip, mapped, 12) == 0) {
        /* ::ffff:10.0.0.1 reaches 10.0.0.1; a v6 range (say ::/0) must not
         * let it past a v4-only permit_ip. */
        memmove(addr->ip, addr->ip + 12, 4);
        addr->len = 4;
    }
    char text[INET6_ADDRSTRLEN];
    addr_text(addr, text, sizeof(text));
    if ((addr->len != 4 && addr->len != 16) || never_dialed(addr))
        return minica_seterr(err, MINICA_EPOLICY, "%s is never a validation target", text);
    /* The same check issuance makes for an IP name (policy.c), so the two
     * cannot disagree about what permit_ip means. */
    struct minica_name name;
    int ret = minica_name_parse(text, &name, err);
    if (ret != 0)
        return MINICA_EPOLICY;
    ret = minica_policy_check_name(policy, &name, err);
    return ret == 0 ? MINICA_OK : MINICA_EPOLICY;
}

int minica_acme_reverse_name(const struct minica_name *ip, char *out, size_t outlen)
{
    if (ip->kind != MINICA_NAME_IP || (ip->ip_len != 4 && ip->ip_len != 16))
        return MINICA_EINVAL;
    size_t used = 0;
    int w;
    if (ip->ip_len == 4) {
        w = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", ip->ip[3], ip->ip[2], ip->ip[1],
                     ip->ip[0]);
        return w > 0 && (size_t)w < outlen ? MINICA_OK : MINICA_EINVAL;
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        if (used + 4 >= outlen)
            return MINICA_EINVAL;
        out[used++] = hex[ip->ip[i] & 0x0f];
        out[used++] = '.';
        out[used++] = hex[ip->ip[i] >> 4];
        out[used++] = '.';
    }
    w = snprintf(out + used, outlen - used, "ip6.arpa");
    return w > 0 && (size_t)w < outlen - used ? MINICA_OK : MINICA_EINVAL;
}

static int cert_refused(struct minica_err *err, const char *why)
{
    return minica_seterr(err, MINICA_EFORBIDDEN, "the tls-alpn-01 certificate %s", why);
}

static int skip_tag(unsigned char **p, const unsigned char *end, int tag)
{
    size_t len;
    int ret = mbedtls_asn1_get_tag(p, end, &len, tag);
    if (ret == 0)
        *p += len;
    return ret;
}

/* GeneralNames with exactly one entry, equal to id (RFC 8737 3: "exactly
 * one dNSName"; RFC 8738 6: one iPAddress for an IP). */
static int check_san(unsigned char *p, const unsigned char *end, const struct minica_name *id,
                     struct minica_err *err)
{
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0 ||
        p + len != end || len == 0)
        return cert_refused(err, "has a malformed subjectAltName");
    int want = MBEDTLS_ASN1_CONTEXT_SPECIFIC | (id->kind == MINICA_NAME_DNS ? 2 : 7);
    int tag = *p++;
    if (mbedtls_asn1_get_len(&p, end, &len) != 0)
        return cert_refused(err, "has a malformed subjectAltName");
    if (p + len != end)
        return cert_refused(err, "has more than one subjectAltName entry");
    if (tag != want)
        return cert_refused(err, "names something else than the identifier in its subjectAltName");
    int same = id->kind == MINICA_NAME_DNS ? len == strlen(id->text) && memchr(p, 0, len) == NULL &&
                                                 strncasecmp((const char *)p, id->text, len) == 0
                                           : len == id->ip_len && memcmp(p, id->ip, len) == 0;
    if (!same)
        return cert_refused(err, "names something else than the identifier in its subjectAltName");
    return MINICA_OK;
}

/* extnValue of id-pe-acmeIdentifier: Authorization ::= OCTET STRING (SIZE (32)). */
static int check_acme_identifier(const unsigned char *p, size_t len, const char *key_authz,
                                 struct minica_err *err)
{
    unsigned char digest[32];
    if (minica_compat_sha256((const unsigned char *)key_authz, strlen(key_authz), digest) != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "cannot hash the key authorization");
    if (len != 34 || p[0] != MBEDTLS_ASN1_OCTET_STRING || p[1] != 32)
        return cert_refused(err, "has an acmeIdentifier that is not a 32-byte OCTET STRING");
    if (memcmp(p + 2, digest, 32) != 0)
        return cert_refused(err, "has an acmeIdentifier that is not SHA-256 of the key "
                                 "authorization");
    return MINICA_OK;
}

int minica_acme_tls_alpn01_check_cert(const uint8_t *der, size_t len, const struct minica_name *id,
                                      const char *key_authz, struct minica_err *err)
{
    const int seq = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;
    unsigned char *p = (unsigned char *)der;
    const unsigned char *end = der + len;
    size_t l;
    /* Certificate, then TBSCertificate up to its extensions (RFC 5280 4.1). */
    if (mbedtls_asn1_get_tag(&p, end, &l, seq) != 0)
        return cert_refused(err, "is not DER");
    end = p + l;
    if (mbedtls_asn1_get_tag(&p, end, &l, seq) != 0)
        return cert_refused(err, "is not DER");
    const unsigned char *tbs_end = p + l;
    if (p < tbs_end && *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0) &&
        skip_tag(&p, tbs_end, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0) != 0)
        return cert_refused(err, "is not DER");
    if (skip_tag(&p, tbs_end, MBEDTLS_ASN1_INTEGER) != 0 || skip_tag(&p, tbs_end, seq) != 0 ||
        skip_tag(&p, tbs_end, seq) != 0 || skip_tag(&p, tbs_end, seq) != 0 ||
        skip_tag(&p, tbs_end, seq) != 0 || skip_tag(&p, tbs_end, seq) != 0)
        return cert_refused(err, "is not DER");
    /* issuerUniqueID [1], subjectUniqueID [2]: IMPLICIT BIT STRINGs. */
    for (int t = 1; t <= 2; t++)
        if (p < tbs_end && *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | t) &&
            skip_tag(&p, tbs_end, MBEDTLS_ASN1_CONTEXT_SPECIFIC | t) != 0)
            return cert_refused(err, "is not DER");
    if (mbedtls_asn1_get_tag(&p, tbs_end, &l,
                             MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 3) != 0)
        return cert_refused(err, "has no extensions");
    const unsigned char *exts_end = p + l;
    if (mbedtls_asn1_get_tag(&p, exts_end, &l, seq) != 0 || p + l != exts_end)
        return cert_refused(err, "has malformed extensions");

    int seen_san = 0, seen_acme = 0;
    while (p < exts_end) {
        if (mbedtls_asn1_get_tag(&p, exts_end, &l, seq) != 0)
            return cert_refused(err, "has malformed extensions");
        const unsigned char *ext_end = p + l;
        size_t oid_len, val_len;
        if (mbedtls_asn1_get_tag(&p, ext_end, &oid_len, MBEDTLS_ASN1_OID) != 0)
            return cert_refused(err, "has malformed extensions");
        const unsigned char *oid = p;
        p += oid_len;
        int critical = 0;
        if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN &&
            mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0)
            return cert_refused(err, "has malformed extensions");
        if (mbedtls_asn1_get_tag(&p, ext_end, &val_len, MBEDTLS_ASN1_OCTET_STRING) != 0 ||
            p + val_len != ext_end)
            return cert_refused(err, "has malformed extensions");
        int ret;
        if (oid_len == sizeof(OID_SAN) && memcmp(oid, OID_SAN, oid_len) == 0) {
            if (seen_san++)
                return cert_refused(err, "has two subjectAltName extensions");
            if ((ret = check_san(p, ext_end, id, err)) != 0)
                return ret;
        } else if (oid_len == sizeof(OID_ACME_IDENTIFIER) &&
                   memcmp(oid, OID_ACME_IDENTIFIER, oid_len) == 0) {
            if (seen_acme++)
                return cert_refused(err, "has two acmeIdentifier extensions");
            if (!critical)
                return cert_refused(err, "has an acmeIdentifier extension that is not critical");
            if ((ret = check_acme_identifier(p, val_len, key_authz, err)) != 0)
                return ret;
        }
        p = (unsigned char *)ext_end;
    }
    if (!seen_san)
        return cert_refused(err, "has no subjectAltName");
    if (!seen_acme)
        return cert_refused(err, "has no acmeIdentifier extension (1.3.6.1.5.5.7.1.31)");
    return MINICA_OK;
}

/* ---- the validator: settings, gate ---- */

void minica_acme_validate_settings_init(struct minica_acme_validate_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->http_port = 80;
    s->https_port = 443;
    s->tls_port = 443;
    s->connect_timeout_ms = 5000;
    s->total_timeout_ms = 10000;
    s->max_body = 8192;
    s->max_redirects = 10;
    s->max_concurrent = 16;
}

int minica_acme_validator_init(struct minica_acme_validator *v, const struct minica_policy *policy,
                               const struct minica_acme_validate_settings *settings,
                               struct minica_err *err)
{
    memset(v, 0, sizeof(*v));
    if (settings != NULL)
        v->settings = *settings;
    else
        minica_acme_validate_settings_init(&v->settings);
    const struct minica_acme_validate_settings *s = &v->settings;
    if (s->http_port == 0 || s->http_port > 65535 || s->https_port == 0 || s->https_port > 65535 ||
        s->tls_port == 0 || s->tls_port > 65535)
        return minica_seterr(err, MINICA_EINVAL, "validation ports must be 1 to 65535");
    if (s->connect_timeout_ms <= 0 || s->total_timeout_ms <= 0 || s->max_body == 0 ||
        s->max_redirects < 0 || s->max_concurrent == 0)
        return minica_seterr(err, MINICA_EINVAL,
                             "validation timeouts, body cap and concurrency must be positive");
    v->policy = policy;
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return minica_seterr(err, MINICA_ENOMEM, "cannot set up the validation gate");
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int ok = pthread_cond_init(&v->freed, &attr) == 0;
    pthread_condattr_destroy(&attr);
    if (!ok)
        return minica_seterr(err, MINICA_ENOMEM, "cannot set up the validation gate");
    if (pthread_mutex_init(&v->lock, NULL) != 0) {
        pthread_cond_destroy(&v->freed);
        return minica_seterr(err, MINICA_ENOMEM, "cannot set up the validation gate");
    }
    v->initialized = 1;
    return MINICA_OK;
}

void minica_acme_validator_free(struct minica_acme_validator *v)
{
    if (v == NULL || !v->initialized)
        return;
    pthread_mutex_destroy(&v->lock);
    pthread_cond_destroy(&v->freed);
    v->initialized = 0;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A burst of orders must not become a burst of outgoing connections (nor
 * of threads stuck in them): at most max_concurrent at once; the others wait
 * as long as one validation may take, then give up. */
static int gate_enter(struct minica_acme_validator *v, struct minica_err *err)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += v->settings.total_timeout_ms / 1000;
    until.tv_nsec += (long)(v->settings.total_timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int ret = MINICA_OK;
    pthread_mutex_lock(&v->lock);
    while (v->active >= v->settings.max_concurrent)
        if (pthread_cond_timedwait(&v->freed, &v->lock, &until) == ETIMEDOUT) {
            ret = minica_seterr(err, MINICA_EBUSY, "too many validations in flight (%u)",
                                v->settings.max_concurrent);
            break;
        }
    if (ret == 0)
        v->active++;
    pthread_mutex_unlock(&v->lock);
    return ret;
}

static void gate_leave(struct minica_acme_validator *v)
{
    pthread_mutex_lock(&v->lock);
    v->active--;
    pthread_cond_signal(&v->freed);
    pthread_mutex_unlock(&v->lock);
}

/* ---- resolving and checking ---- */

struct targets {
    struct minica_acme_addr addr[MINICA_ACME_MAX_ADDRS];
    size_t n;
    unsigned port;
    int refused; /* a library tried to dial something else */
};

static int getaddrinfo_resolve(const char *host, struct minica_acme_addr *out, size_t max,
                               size_t *n, struct minica_err *err)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0)
        return minica_seterr(err, MINICA_ENOENT, "cannot resolve %s: %s", host, gai_strerror(gai));
    *n = 0;
    for (struct addrinfo *ai = res; ai != NULL && *n < max; ai = ai->ai_next) {
        struct minica_acme_addr a = {{0}, 0};
        if (ai->ai_family == AF_INET) {
            memcpy(a.ip, &((const struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, 4);
            a.len = 4;
        } else if (ai->ai_family == AF_INET6) {
            memcpy(a.ip, &((const struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, 16);
            a.len = 16;
        } else
            continue;
        out[(*n)++] = a;
    }
    freeaddrinfo(res);
    if (*n == 0)
        return minica_seterr(err, MINICA_ENOENT, "%s has no IPv4 or IPv6 address", host);
    return MINICA_OK;
}

static int same_addr(const struct minica_acme_addr *a, const struct minica_acme_addr *b)
{
    return a->len == b->len && memcmp(a->ip, b->ip, a->len) == 0;
}

/* The addresses of host the policy lets us dial, or an error naming why
 * there are none. Only these are ever connected to. */
static int resolve_permitted(const struct minica_acme_validator *v, const struct minica_name *host,
                             unsigned port, struct targets *t, enum minica_acme_vproblem *problem,
                             struct minica_err *err)
{
    memset(t, 0, sizeof(*t));
    t->port = port;
    struct minica_acme_addr found[MINICA_ACME_MAX_ADDRS];
    size_t n = 0;
    int ret;
    if (host->kind == MINICA_NAME_IP) {
        memcpy(found[0].ip, host->ip, host->ip_len);
        found[0].len = host->ip_len;
        n = 1;
    } else {
        ret = v->settings.resolve != NULL
                  ? v->settings.resolve(v->settings.resolve_arg, host->text, found,
                                        MINICA_ACME_MAX_ADDRS, &n, err)
                  : getaddrinfo_resolve(host->text, found, MINICA_ACME_MAX_ADDRS, &n, err);
        if (ret != 0 || n == 0) {
            *problem = MINICA_ACME_VP_DNS;
            return ret != 0 ? ret
                            : minica_seterr(err, MINICA_ENOENT, "%s has no address", host->text);
        }
        if (n > MINICA_ACME_MAX_ADDRS)
            n = MINICA_ACME_MAX_ADDRS;
    }
    struct minica_err first = {{0}};
    for (size_t i = 0; i < n; i++) {
        struct minica_err why;
        struct minica_acme_addr a = found[i];
        if (minica_acme_addr_permitted(v->policy, &a, &why) != 0) {
            if (first.msg[0] == '\0')
                first = why;
            continue;
        }
        int dup = 0;
        for (size_t j = 0; j < t->n; j++)
            dup |= same_addr(&t->addr[j], &a);
        if (!dup)
            t->addr[t->n++] = a;
    }
    if (t->n == 0) {
        *problem = MINICA_ACME_VP_REJECTED_IDENTIFIER;
        if (host->kind == MINICA_NAME_IP)
            return minica_seterr(err, MINICA_EPOLICY, "not dialing %s", first.msg);
        return minica_seterr(err, MINICA_EPOLICY, "not dialing %s: %s", host->text, first.msg);
    }
    return MINICA_OK;
}

static int sockaddr_addr(const struct sockaddr *sa, struct minica_acme_addr *a, unsigned *port)
{
    memset(a, 0, sizeof(*a));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        memcpy(a->ip, &in->sin_addr, 4);
        a->len = 4;
        *port = ntohs(in->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(a->ip, &in6->sin6_addr, 16);
        a->len = 16;
        *port = ntohs(in6->sin6_port);
        return 0;
    }
    return -1;
}

/* libcurl's last step before connect(): the address must be one we
 * checked, on the port we checked. This holds even if a later curl resolved
 * a name despite CURLOPT_RESOLVE, or an environment proxy slipped in. */
static curl_socket_t open_checked_socket(void *clientp, curlsocktype purpose,
                                         struct curl_sockaddr *address)
{
    struct targets *t = clientp;
    struct minica_acme_addr a;
    unsigned port = 0;
    int ok = purpose == CURLSOCKTYPE_IPCXN && sockaddr_addr(&address->addr, &a, &port) == 0 &&
             port == t->port;
    int listed = 0;
    for (size_t i = 0; ok && i < t->n; i++)
        listed |= same_addr(&t->addr[i], &a);
    if (!ok || !listed) {
        t->refused = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* ---- http-01 ---- */

struct body {
    char *data;
    size_t len, cap;
    int overflow;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;
    if (n > b->cap - b->len) {
        b->overflow = 1;
        return 0; /* aborts the transfer */
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    return n;
}

/* One URL's scheme, host and port, checked against the redirect rules:
 * http on http_port or https on https_port, a host name or IP (no
 * wildcard, no user@, nothing the name rules refuse). */
struct hop {
    int https;
    unsigned port;
    struct minica_name host;
};

static int parse_hop(const struct minica_curl *cu, const struct minica_acme_validator *v,
                     const char *url, struct hop *h, struct minica_err *err)
{
    CURLU *u = cu->url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int ret = MINICA_OK;
    if (u == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    if (cu->url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        cu->url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        cu->url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        cu->url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        ret = minica_seterr(err, MINICA_EPOLICY, "cannot parse the URL");
        goto out;
    }
    h->https = strcasecmp(scheme, "https") == 0;
    if (!h->https && strcasecmp(scheme, "http") != 0) {
        ret = minica_seterr(err, MINICA_EPOLICY, "scheme %s is not http or https", scheme);
        goto out;
    }
    char *endp = NULL;
    unsigned long p = strtoul(port, &endp, 10);
    unsigned allowed = h->https ? v->settings.https_port : v->settings.http_port;
    if (endp == NULL || *endp != '\0' || p != allowed) {
        ret = minica_seterr(err, MINICA_EPOLICY, "port %s is not %u for %s", port, allowed,
                            h->https ? "https" : "http");
        goto out;
    }
    h->port = (unsigned)p;
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct minica_err nerr;
    if (minica_name_parse(host, &h->host, &nerr) != 0 || h->host.wildcard) {
        ret = minica_seterr(err, MINICA_EPOLICY, "host is not a host name or IP address");
        goto out;
    }
out:
    cu->free_mem(scheme);
    cu->free_mem(host);
    cu->free_mem(port);
    cu->url_cleanup(u);
    return ret;
}

/* "host:port:addr,addr" for CURLOPT_RESOLVE: the checked addresses are the
 * only ones libcurl knows for this name. */
static int resolve_entry(const struct hop *h, const struct targets *t, char *out, size_t outlen)
{
    size_t used = 0;
    int w = snprintf(out, outlen, "%s:%u:", h->host.text, h->port);
    if (w < 0 || (size_t)w >= outlen)
        return -1;
    used = (size_t)w;
    for (size_t i = 0; i < t->n; i++) {
        char text[INET6_ADDRSTRLEN];
        addr_text(&t->addr[i], text, sizeof(text));
        w = snprintf(out + used, outlen - used, "%s%s%s%s", i ? "," : "",
                     t->addr[i].len == 16 ? "[" : "", text, t->addr[i].len == 16 ? "]" : "");
        if (w < 0 || (size_t)w >= outlen - used)
            return -1;
        used += (size_t)w;
    }
    return 0;
}

static int is_redirect(long code)
{
    return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}

static void build_url(const struct minica_name *id, unsigned port, const char *token, char *out,
                      size_t outlen)
{
    int v6 = id->kind == MINICA_NAME_IP && id->ip_len == 16;
    snprintf(out, outlen, "http://%s%s%s:%u/.well-known/acme-challenge/%s", v6 ? "[" : "", id->text,
             v6 ? "]" : "", port, token);
}

static int http01(struct minica_acme_validator *v, const struct minica_curl *cu,
                  const struct minica_name *id, const char *token, const char *key_authz,
                  enum minica_acme_vproblem *problem, struct minica_err *err)
{
    const struct minica_acme_validate_settings *s = &v->settings;
    int64_t deadline = monotonic_ms() + s->total_timeout_ms;
    char url[2048];
    build_url(id, s->http_port, token, url, sizeof(url));
    struct body body = {NULL, 0, s->max_body, 0};
    body.data = malloc(s->max_body);
    if (body.data == NULL) {
        *problem = MINICA_ACME_VP_SERVER_INTERNAL;
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    int ret = MINICA_OK;
    for (int hops = 0;; hops++) {
        struct hop h;
        struct targets t;
        struct minica_err why;
        if (parse_hop(cu, v, url, &h, &why) != 0) {
            *problem = MINICA_ACME_VP_CONNECTION;
            ret = minica_seterr(err, MINICA_EPOLICY, "not following the redirect to %.200s: %s",
                                url, why.msg);
            break;
        }
        if ((ret = resolve_permitted(v, &h.host, h.port, &t, problem, &why)) != 0) {
            if (hops > 0) { /* the target is not the identifier: a bad redirect */
                *problem = MINICA_ACME_VP_CONNECTION;
                ret = minica_seterr(err, ret, "not following the redirect to %.200s: %s", url,
                                    why.msg);
            } else
                *err = why;
            break;
        }
        char entry[64 + MINICA_NAME_MAX + MINICA_ACME_MAX_ADDRS * (INET6_ADDRSTRLEN + 3)];
        struct curl_slist *pin = NULL;
        if (h.host.kind == MINICA_NAME_DNS && (resolve_entry(&h, &t, entry, sizeof(entry)) != 0 ||
                                               (pin = cu->slist_append(NULL, entry)) == NULL)) {
            *problem = MINICA_ACME_VP_SERVER_INTERNAL;
            ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
            break;
        }
        int64_t left = deadline - monotonic_ms();
        if (left <= 0) {
            cu->slist_free_all(pin);
            *problem = MINICA_ACME_VP_CONNECTION;
            ret = minica_seterr(err, MINICA_ENET, "%s: no answer within %d ms", id->text,
                                s->total_timeout_ms);
            break;
        }
        CURL *c = cu->easy_init();
        if (c == NULL) {
            cu->slist_free_all(pin);
            *problem = MINICA_ACME_VP_SERVER_INTERNAL;
            ret = minica_seterr(err, MINICA_ENOMEM, "cannot start libcurl");
            break;
        }
        char curl_err[CURL_ERROR_SIZE] = "";
        body.len = 0;
        body.overflow = 0;
        cu->easy_setopt(c, CURLOPT_URL, url);
        cu->easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        cu->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* each hop is checked here */
        cu->easy_setopt(c, CURLOPT_PROXY, "");          /* never an environment proxy */
        cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        cu->easy_setopt(c, CURLOPT_RESOLVE, pin);
        cu->easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_checked_socket);
        cu->easy_setopt(c, CURLOPT_OPENSOCKETDATA, &t);
        cu->easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                        (long)(left < s->connect_timeout_ms ? left : s->connect_timeout_ms));
        cu->easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left);
        cu->easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        cu->easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
        cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        cu->easy_setopt(c, CURLOPT_WRITEDATA, &body);
        cu->easy_setopt(c, CURLOPT_USERAGENT, "minica-acme-validator/" MINICA_VERSION);
        /* RFC 8555 10.2: the key authorization is the proof; an https
         * redirect target's certificate proves nothing more (nor does Let's
         * Encrypt check it). */
        cu->easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        cu->easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        CURLcode cc = cu->easy_perform(c);
        long code = 0;
        char *next = NULL;
        cu->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (cc == CURLE_OK && is_redirect(code))
            cu->easy_getinfo(c, CURLINFO_REDIRECT_URL, &next);
        /* A cut URL would still be checked as it is dialed, but it is not
         * what the server asked for: refuse rather than guess. */
        char next_url[sizeof(url)] = "";
        int next_too_long = next != NULL && strlen(next) >= sizeof(next_url);
        if (next != NULL && !next_too_long)
            snprintf(next_url, sizeof(next_url), "%s", next);
        cu->easy_cleanup(c);
        cu->slist_free_all(pin);

        if (cc != CURLE_OK) {
            *problem = MINICA_ACME_VP_CONNECTION;
            if (body.overflow) {
                *problem = MINICA_ACME_VP_INCORRECT_RESPONSE;
                ret = minica_seterr(err, MINICA_EFORBIDDEN,
                                    "%.200s: the answer is larger than %zu "
                                    "bytes",
                                    url, s->max_body);
            } else if (t.refused)
                ret = minica_seterr(err, MINICA_EPOLICY,
                                    "%.200s: refused to dial an unchecked "
                                    "address",
                                    url);
            else if (cc == CURLE_OPERATION_TIMEDOUT)
                ret = minica_seterr(err, MINICA_ENET, "%.200s: no answer within %d ms", url,
                                    s->total_timeout_ms);
            else
                ret = minica_seterr(err, MINICA_ENET, "%.200s: %s", url,
                                    curl_err[0] ? curl_err : cu->easy_strerror(cc));
            break;
        }
        if (is_redirect(code)) {
            if (next_too_long) {
                *problem = MINICA_ACME_VP_CONNECTION;
                ret = minica_seterr(err, MINICA_EPOLICY, "%.200s: a redirect longer than %zu bytes",
                                    url, sizeof(url) - 1);
                break;
            }
            if (next_url[0] == '\0') {
                *problem = MINICA_ACME_VP_INCORRECT_RESPONSE;
                ret = minica_seterr(err, MINICA_EFORBIDDEN, "%.200s: HTTP %ld without a Location",
                                    url, code);
                break;
            }
            if (hops >= s->max_redirects) {
                *problem = MINICA_ACME_VP_CONNECTION;
                ret =
                    minica_seterr(err, MINICA_EPOLICY, "more than %d redirects", s->max_redirects);
                break;
            }
            snprintf(url, sizeof(url), "%s", next_url);
            continue;
        }
        if (code != 200) {
            *problem = MINICA_ACME_VP_INCORRECT_RESPONSE;
            ret = minica_seterr(err, MINICA_EFORBIDDEN, "%.200s: HTTP %ld, not 200", url, code);
            break;
        }
        if (!minica_acme_http01_body_matches(body.data, body.len, key_authz)) {
            *problem = MINICA_ACME_VP_INCORRECT_RESPONSE;
            ret = minica_seterr(err, MINICA_EFORBIDDEN,
                                "%.200s: the answer is not the key authorization", url);
            break;
        }
        ret = MINICA_OK;
        break;
    }
    free(body.data);
    return ret;
}

static int check_identifier(const struct minica_name *id, enum minica_acme_vproblem *problem,
                            struct minica_err *err)
{
    if (id == NULL || id->wildcard || (id->kind != MINICA_NAME_DNS && id->kind != MINICA_NAME_IP)) {
        *problem = MINICA_ACME_VP_REJECTED_IDENTIFIER;
        return minica_seterr(err, MINICA_EINVAL,
                             "an http-01 or tls-alpn-01 identifier is one host name or IP address");
    }
    return MINICA_OK;
}

int minica_acme_validate_http01(struct minica_acme_validator *v, const struct minica_name *id,
                                const char *token, const char *key_authz,
                                enum minica_acme_vproblem *problem, struct minica_err *err)
{
    enum minica_acme_vproblem local;
    if (problem == NULL)
        problem = &local;
    *problem = MINICA_ACME_VP_SERVER_INTERNAL;
    int ret;
    if ((ret = check_identifier(id, problem, err)) != 0)
        return ret;
    if ((ret = minica_acme_check_key_authz(token, key_authz, err)) != 0)
        return ret;
    const struct minica_curl *cu = minica_curl_load(err);
    if (cu == NULL)
        return MINICA_ENET;
    if ((ret = gate_enter(v, err)) != 0)
        return ret;
    cu->global_init(CURL_GLOBAL_DEFAULT);
    ret = http01(v, cu, id, token, key_authz, problem, err);
    gate_leave(v);
    if (ret == 0)
        *problem = MINICA_ACME_VP_NONE;
    return ret;
}

/* ---- tls-alpn-01 ---- */

static int connect_addr(const struct minica_acme_addr *a, unsigned port, int timeout_ms,
                        int *fd_out, int *err_no)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    if (a->len == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        memcpy(&in->sin_addr, a->ip, 4);
        sl = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        memcpy(&in6->sin6_addr, a->ip, 16);
        sl = sizeof(*in6);
    }
    int s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) {
        *err_no = errno;
        return -1;
    }
    int rc = connect(s, (struct sockaddr *)&ss, sl);
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd pfd = {.fd = s, .events = POLLOUT};
        int pr = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : 0);
        if (pr == 1) {
            int soerr = 0;
            socklen_t len = sizeof(soerr);
            getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len);
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
            *fd_out = s;
            return 0;
        }
    }
    *err_no = errno;
    close(s);
    return -1;
}

/* One handshake on a connected socket and the checks on what it gave. */
static int alpn_handshake(const struct minica_gnutls *tls, gnutls_certificate_credentials_t cred,
                          int fd, const struct minica_name *id, const char *key_authz,
                          int timeout_ms, const char *where, enum minica_acme_vproblem *problem,
                          struct minica_err *err)
{
    gnutls_session_t session = NULL;
    int ret, gret;
    char sni[80];
    *problem = MINICA_ACME_VP_SERVER_INTERNAL;
    if (id->kind == MINICA_NAME_DNS)
        snprintf(sni, sizeof(sni), "%s", id->text);
    else if (minica_acme_reverse_name(id, sni, sizeof(sni)) != 0)
        return minica_seterr(err, MINICA_EINVAL, "cannot form the reverse name of %s", id->text);
    const char *pos = NULL;
    gnutls_datum_t alpn = {(unsigned char *)ACME_TLS_ALPN, (unsigned)strlen(ACME_TLS_ALPN)};
    /* RFC 8737 4: TLS 1.2 or later, and only acme-tls/1 offered. The
     * certificate is judged by its SAN and acmeIdentifier alone (RFC 8737 3),
     * yet GnuTLS refuses a peer whose keyUsage lacks digitalSignature when
     * the key signs the handshake (TLS 1.3, ECDHE), as lego's RSA
     * keyEncipherment-only certificate does. %COMPAT is the only priority
     * keyword that lifts the peer key usage check (%DEBUG_ALLOW_KEY_USAGE_
     * VIOLATIONS is for the local certificate); its other relaxations only
     * loosen a handshake that carries no secret and whose result is trusted
     * for nothing but that certificate. */
    if ((gret = tls->init(&session, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL)) != GNUTLS_E_SUCCESS ||
        (gret =
             tls->priority_set_direct(session, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%COMPAT",
                                      &pos)) != GNUTLS_E_SUCCESS ||
        (gret = tls->credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred)) != GNUTLS_E_SUCCESS ||
        (gret = tls->server_name_set(session, GNUTLS_NAME_DNS, sni, strlen(sni))) !=
            GNUTLS_E_SUCCESS ||
        (gret = tls->alpn_set_protocols(session, &alpn, 1, 0)) != GNUTLS_E_SUCCESS) {
        ret = minica_seterr(err, MINICA_ECRYPTO, "cannot set up TLS: %s", tls->strerror(gret));
        goto out;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    tls->transport_set_int2(session, fd, fd);
    tls->handshake_set_timeout(session, (unsigned)timeout_ms);
    do {
        gret = tls->handshake(session);
    } while (gret < 0 && tls->error_is_fatal(gret) == 0 && gret != GNUTLS_E_TIMEDOUT);
    if (gret < 0) {
        int timed_out = gret == GNUTLS_E_TIMEDOUT || gret == GNUTLS_E_PULL_ERROR;
        *problem = timed_out ? MINICA_ACME_VP_CONNECTION : MINICA_ACME_VP_TLS;
        ret = timed_out ? minica_seterr(err, MINICA_ENET, "%s: no TLS handshake within %d ms",
                                        where, timeout_ms)
                        : minica_seterr(err, MINICA_ENET, "%s: TLS handshake failed (%s)", where,
                                        tls->strerror(gret));
        goto out;
    }
    gnutls_datum_t chosen = {NULL, 0};
    if (tls->alpn_get_selected_protocol(session, &chosen) != GNUTLS_E_SUCCESS ||
        chosen.size != alpn.size || memcmp(chosen.data, alpn.data, alpn.size) != 0) {
        *problem = MINICA_ACME_VP_TLS;
        ret = minica_seterr(err, MINICA_EFORBIDDEN, "%s: the server did not negotiate ALPN %s",
                            where, ACME_TLS_ALPN);
        goto out;
    }
    unsigned n_peers = 0;
    const gnutls_datum_t *peers = tls->certificate_get_peers(session, &n_peers);
    if (peers == NULL || n_peers == 0) {
        *problem = MINICA_ACME_VP_TLS;
        ret = minica_seterr(err, MINICA_EFORBIDDEN, "%s: the server sent no certificate", where);
        goto out;
    }
    struct minica_err why;
    if ((ret = minica_acme_tls_alpn01_check_cert(peers[0].data, peers[0].size, id, key_authz,
                                                 &why)) != 0) {
        *problem = MINICA_ACME_VP_INCORRECT_RESPONSE;
        ret = minica_seterr(err, ret, "%s: %s", where, why.msg);
        goto out;
    }
    tls->bye(session, GNUTLS_SHUT_WR);
    ret = MINICA_OK;
out:
    if (session != NULL)
        tls->deinit(session);
    return ret;
}

static int tls_alpn01(struct minica_acme_validator *v, const struct minica_gnutls *tls,
                      const struct minica_name *id, const char *key_authz,
                      enum minica_acme_vproblem *problem, struct minica_err *err)
{
    const struct minica_acme_validate_settings *s = &v->settings;
    int64_t deadline = monotonic_ms() + s->total_timeout_ms;
    struct targets t;
    int ret = resolve_permitted(v, id, s->tls_port, &t, problem, err);
    if (ret != 0)
        return ret;
    gnutls_certificate_credentials_t cred = NULL;
    if (tls->certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS) {
        *problem = MINICA_ACME_VP_SERVER_INTERNAL;
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    /* The certificate is self-signed by design (RFC 8737 3): nothing to
     * verify it against; its extension is the proof. */
    int last_errno = ETIMEDOUT, tried = 0;
    ret = MINICA_ENET;
    *problem = MINICA_ACME_VP_CONNECTION;
    for (size_t i = 0; i < t.n; i++) {
        int64_t left = deadline - monotonic_ms();
        if (left <= 0)
            break;
        char text[INET6_ADDRSTRLEN], where[INET6_ADDRSTRLEN + 16];
        addr_text(&t.addr[i], text, sizeof(text));
        snprintf(where, sizeof(where), "%s%s%s:%u", t.addr[i].len == 16 ? "[" : "", text,
                 t.addr[i].len == 16 ? "]" : "", t.port);
        int fd = -1;
        tried = 1;
        int cto = (int)(left < s->connect_timeout_ms ? left : s->connect_timeout_ms);
        if (connect_addr(&t.addr[i], t.port, cto, &fd, &last_errno) != 0) {
            minica_seterr(err, MINICA_ENET, "%s: cannot connect: %s", where, strerror(last_errno));
            continue; /* another address of the name may answer */
        }
        left = deadline - monotonic_ms();
        ret = alpn_handshake(tls, cred, fd, id, key_authz, (int)(left > 0 ? left : 1), where,
                             problem, err);
        close(fd);
        break; /* an address that answered has given its answer */
    }
    if (!tried)
        minica_seterr(err, MINICA_ENET, "%s: no connection within %d ms", id->text,
                      s->total_timeout_ms);
    tls->certificate_free_credentials(cred);
    return ret;
}

int minica_acme_validate_tls_alpn01(struct minica_acme_validator *v, const struct minica_name *id,
                                    const char *key_authz, enum minica_acme_vproblem *problem,
                                    struct minica_err *err)
{
    enum minica_acme_vproblem local;
    if (problem == NULL)
        problem = &local;
    *problem = MINICA_ACME_VP_SERVER_INTERNAL;
    int ret;
    if ((ret = check_identifier(id, problem, err)) != 0)
        return ret;
    *problem = MINICA_ACME_VP_SERVER_INTERNAL;
    if (key_authz == NULL || strchr(key_authz, '.') == NULL)
        return minica_seterr(err, MINICA_EINVAL, "the key authorization is not TOKEN.THUMBPRINT");
    const struct minica_gnutls *tls = minica_gnutls_load(err);
    if (tls == NULL)
        return MINICA_ENET;
    if ((ret = gate_enter(v, err)) != 0)
        return ret;
    ret = tls_alpn01(v, tls, id, key_authz, problem, err);
    gate_leave(v);
    if (ret == 0)
        *problem = MINICA_ACME_VP_NONE;
    return ret;
}
