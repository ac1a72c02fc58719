/* The checker behind `minica nginx check`: finds upstream TLS that nginx
 * does not verify (proxy_ssl_verify off, no or a foreign trusted
 * certificate, a depth too short for minica's chain) or cannot match (an IP
 * address as the name) in a parsed config. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <mbedtls/error.h>
#include <mbedtls/x509_crt.h>

#include "ca/x509.h"
#include "minica/fsutil.h"
#include "minica/nginx.h"
#include "nginx/nginx_internal.h"

enum { R_OFF = 1, R_TRUST = 2, R_DEPTH = 4, R_BADVAL = 8, R_IPNAME = 16 };

struct checker {
    struct minica_nginx_conf *conf;
    char conf_dir[MINICA_PATH_MAX];
    struct minica_nginx_report *rep;
    struct minica_err *err;
    int64_t now;
    /* The blocks around the directive being looked at, outermost first. */
    const struct minica_nginx_directive *chain[MINICA_NGINX_MAX_BLOCK_DEPTH + 2];
    /* What each of those blocks sets itself, found once per block so that a
     * block with many proxy_pass is not rescanned for each. */
    struct minica_nginx_directive *sets[MINICA_NGINX_MAX_BLOCK_DEPTH + 2][4];
    size_t nchain;
    /* upstream { } blocks, sorted by name. */
    const struct minica_nginx_directive **upstreams;
    size_t nupstreams;
    /* minica's root, when the caller knows it: a trusted file without it
     * cannot verify minica's certificates. */
    mbedtls_x509_crt root;
    int have_root;
};

/* More certificates than any minica ca.crt holds (a root, or two during a
 * rollover, with cross-certificates): a system CA bundle. */
#define BUNDLE_CERTS 8

enum inherited { I_VERIFY, I_TRUSTED, I_DEPTH, I_NAME, I_COUNT };
static const char *const inherited_names[I_COUNT] = {"proxy_ssl_verify",
                                                     "proxy_ssl_trusted_certificate",
                                                     "proxy_ssl_verify_depth", "proxy_ssl_name"};

void minica_nginx_report_init(struct minica_nginx_report *rep)
{
    memset(rep, 0, sizeof(*rep));
}

void minica_nginx_report_free(struct minica_nginx_report *rep)
{
    if (rep == NULL)
        return;
    for (size_t i = 0; i < rep->n; i++)
        free(rep->items[i].msg);
    free(rep->items);
    memset(rep, 0, sizeof(*rep));
}

static int add_item(struct checker *ck, const struct minica_nginx_directive *d, int note,
                    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static int add_item(struct checker *ck, const struct minica_nginx_directive *d, int note,
                    const char *fmt, va_list ap)
{
    struct minica_nginx_report *rep = ck->rep;
    if (rep->n == rep->cap) {
        size_t cap = rep->cap == 0 ? 8 : rep->cap * 2;
        void *n = realloc(rep->items, cap * sizeof(*rep->items));
        if (n == NULL)
            return minica_seterr(ck->err, MINICA_ENOMEM, "out of memory");
        rep->items = n;
        rep->cap = cap;
    }
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        return minica_seterr(ck->err, MINICA_ENOMEM, "out of memory");
    rep->items[rep->n].file = d->file;
    rep->items[rep->n].line = d->line;
    rep->items[rep->n].msg = msg;
    rep->items[rep->n].note = note;
    rep->n++;
    rep->notes += note != 0;
    return 0;
}

static int finding(struct checker *ck, const struct minica_nginx_directive *d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int finding(struct checker *ck, const struct minica_nginx_directive *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ret = add_item(ck, d, 0, fmt, ap);
    va_end(ap);
    return ret;
}

/* For configs that work: an operator gating CI on the check must not fail
 * on them. */
static int note(struct checker *ck, const struct minica_nginx_directive *d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int note(struct checker *ck, const struct minica_nginx_directive *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ret = add_item(ck, d, 1, fmt, ap);
    va_end(ap);
    return ret;
}

/* The directive nginx applies here: the innermost level that sets it wins
 * (ngx_conf_merge_* from http to server to location to nested location/if). */
static struct minica_nginx_directive *effective(const struct checker *ck, enum inherited which)
{
    for (size_t i = ck->nchain; i-- > 0;)
        if (ck->sets[i][which] != NULL)
            return ck->sets[i][which];
    return NULL;
}

static int cmp_upstream(const void *a, const void *b)
{
    const struct minica_nginx_directive *x = *(const struct minica_nginx_directive *const *)a;
    const struct minica_nginx_directive *y = *(const struct minica_nginx_directive *const *)b;
    return strcmp(x->args[1], y->args[1]);
}

/* upstream blocks are only valid in http; a fragment may have them at its top. */
static int collect_upstreams(struct checker *ck, const struct minica_nginx_directive *b,
                             int in_http)
{
    for (size_t i = 0; i < b->nchildren; i++) {
        const struct minica_nginx_directive *d = b->children[i];
        if (!d->is_block)
            continue;
        if (strcmp(d->args[0], "upstream") == 0 && d->nargs >= 2) {
            const struct minica_nginx_directive **n =
                realloc(ck->upstreams, (ck->nupstreams + 1) * sizeof(*ck->upstreams));
            if (n == NULL)
                return minica_seterr(ck->err, MINICA_ENOMEM, "out of memory");
            ck->upstreams = n;
            ck->upstreams[ck->nupstreams++] = d;
        } else if (!in_http && strcmp(d->args[0], "http") == 0) {
            int ret = collect_upstreams(ck, d, 1);
            if (ret != 0)
                return ret;
        }
    }
    return 0;
}

static const struct minica_nginx_directive *find_upstream(const struct checker *ck,
                                                          const char *host, size_t hostlen)
{
    size_t lo = 0, hi = ck->nupstreams;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *name = ck->upstreams[mid]->args[1];
        int c = strncmp(name, host, hostlen);
        if (c == 0 && name[hostlen] != '\0')
            c = 1; /* name is longer than host: it sorts after */
        if (c == 0)
            return ck->upstreams[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int check_trusted(struct checker *ck, struct minica_nginx_directive *t)
{
    if (t->reported & R_TRUST)
        return 0;
    t->reported |= R_TRUST;
    if (t->nargs != 2)
        return finding(ck, t, "proxy_ssl_trusted_certificate takes one file name");
    const char *file = t->args[1];
    char path[MINICA_PATH_MAX];
    struct minica_err e;
    /* nginx resolves relative certificate paths against its prefix (conf dir). */
    if (minica_nginx_resolve(path, sizeof(path), ck->conf_dir, file, &e) != 0)
        return finding(ck, t, "proxy_ssl_trusted_certificate %s: %s", file, e.msg);
    struct stat st;
    if (stat(path, &st) != 0)
        return finding(ck, t,
                       "proxy_ssl_trusted_certificate %s does not exist: nginx will refuse to "
                       "start",
                       path);
    char *buf = NULL;
    size_t len = 0;
    if (minica_read_file(path, 1024 * 1024, &buf, &len, &e) != 0)
        return finding(ck, t, "proxy_ssl_trusted_certificate %s: %s", path, e.msg);
    mbedtls_x509_crt chain;
    mbedtls_x509_crt_init(&chain);
    int ret = 0;
    /* minica_crt_parse_pem also takes a name-constrained intermediate, which
     * plain mbedtls_x509_crt_parse refuses. */
    struct minica_err pe;
    int pr = minica_crt_parse_pem(&chain, buf, &pe);
    free(buf);
    if (pr != 0 || chain.raw.len == 0) {
        ret = finding(ck, t,
                      "proxy_ssl_trusted_certificate %s holds no certificate mbedTLS can parse "
                      "(%s)",
                      path, pe.msg);
        goto out;
    }
    size_t n = 0;
    const mbedtls_x509_crt *ours = NULL;
    for (const mbedtls_x509_crt *c = &chain; c != NULL && c->raw.len > 0; c = c->next) {
        n++;
        if (ck->have_root && c->raw.len == ck->root.raw.len &&
            memcmp(c->raw.p, ck->root.raw.p, c->raw.len) == 0)
            ours = c;
    }
    /* The cause of the 502 comes first: a file without minica's root (the
     * system's ca-certificates.crt, typically) cannot verify a minica
     * certificate, and its expired public roots are no part of that. */
    if (ck->have_root && ours == NULL) {
        char subject[512];
        minica_dn_to_text(&ck->root.subject, subject, sizeof(subject));
        char bundle[96] = "";
        if (n >= BUNDLE_CERTS)
            snprintf(bundle, sizeof(bundle),
                     " (it holds %zu other certificates: a system CA bundle?)", n);
        ret = finding(ck, t,
                      "proxy_ssl_trusted_certificate %s does not hold minica's root \"%s\"%s: "
                      "nginx cannot verify a minica certificate with it (every request is a 502); "
                      "point it at minica's ca.crt",
                      path, subject, bundle);
        goto out;
    }
    if (!ck->have_root && n >= BUNDLE_CERTS) {
        ret = note(ck, t,
                   "proxy_ssl_trusted_certificate %s holds %zu certificates, like a system CA "
                   "bundle: minica's certificates verify only if its root was added; for a minica "
                   "upstream point it at minica's ca.crt (--root or --dir lets the check tell)",
                   path, n);
        goto out;
    }
    for (const mbedtls_x509_crt *c = &chain; c != NULL && c->raw.len > 0; c = c->next) {
        int64_t not_after = minica_x509_time_to_unix(&c->valid_to);
        if (not_after >= ck->now)
            continue;
        /* In a bundle, only minica's own root matters here. */
        if (n >= BUNDLE_CERTS && c != ours)
            continue;
        char subject[512], when[21];
        minica_dn_to_text(&c->subject, subject, sizeof(subject));
        minica_unix_to_rfc3339(not_after, when);
        ret = finding(ck, t,
                      "proxy_ssl_trusted_certificate %s: certificate \"%s\" expired on %s; "
                      "chains through it fail to verify",
                      path, subject, when);
        if (ret != 0)
            break;
    }
out:
    mbedtls_x509_crt_free(&chain);
    return ret;
}

static int check_depth(struct checker *ck, struct minica_nginx_directive *dep)
{
    if (dep->reported & R_DEPTH)
        return 0;
    dep->reported |= R_DEPTH;
    char *end = NULL;
    errno = 0;
    long v = dep->nargs == 2 ? strtol(dep->args[1], &end, 10) : -1;
    if (dep->nargs != 2 || end == dep->args[1] || *end != '\0' || errno != 0 || v < 0)
        return finding(ck, dep, "proxy_ssl_verify_depth takes one number");
    /* OpenSSL counts only the CA certificates between the leaf and the trust
     * anchor (SSL_CTX_set_verify_depth): 0 fails on minica's intermediate,
     * 1 accepts it (checked against a real nginx in test_nginx_check.sh). */
    if (v == 0)
        return finding(ck, dep,
                       "proxy_ssl_verify_depth 0 is shorter than a minica chain (upstream "
                       "certificate <- intermediate <- root): every request fails with 502; "
                       "use 2");
    if (v < 2)
        return note(ck, dep,
                    "proxy_ssl_verify_depth 1 allows exactly one intermediate: enough for "
                    "minica's chain, but no room for a second one; minica's snippet uses 2");
    return 0;
}

/* The address in host (len bytes, as nginx takes it from proxy_pass or
 * proxy_ssl_name: bare, "[v6]", with or without ":port") into out, or 0 when
 * it is not an IP literal. */
static int ip_literal(const char *host, size_t len, char *out, size_t outlen)
{
    char buf[INET6_ADDRSTRLEN + 8];
    unsigned char addr[sizeof(struct in6_addr)];
    if (len == 0 || len >= sizeof(buf))
        return 0;
    if (host[0] == '[') {
        const char *rb = memchr(host, ']', len);
        if (rb == NULL)
            return 0;
        host++;
        len = (size_t)(rb - host);
    } else {
        memcpy(buf, host, len);
        buf[len] = '\0';
        /* A bare IPv6 address is all colons; otherwise a colon starts the port. */
        if (inet_pton(AF_INET6, buf, addr) != 1) {
            const char *colon = memchr(host, ':', len);
            if (colon != NULL)
                len = (size_t)(colon - host);
        }
    }
    memcpy(buf, host, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, addr) != 1 && inet_pton(AF_INET6, buf, addr) != 1)
        return 0;
    snprintf(out, outlen, "%s", buf);
    return 1;
}

/* nginx matches the upstream's certificate against proxy_ssl_name (default:
 * the host of proxy_pass) with X509_check_host: DNS SANs, then the CN. It
 * never looks at IP SANs, so an address there fails against a certificate
 * that carries it only as an IP SAN (minica's IP-only certificates under
 * --permit-dns have no CN): every request is a 502 logged as "upstream SSL
 * certificate does not match". */
static int check_name(struct checker *ck, struct minica_nginx_directive *pp, const char *what,
                      const char *host, size_t hostlen)
{
    char addr[INET6_ADDRSTRLEN], head[1024];
    const struct minica_nginx_directive *at = pp;
    const char *name = host;
    size_t namelen = hostlen, logged;
    struct minica_nginx_directive *n = effective(ck, I_NAME);
    /* $proxy_host is nginx's default; any other variable is known only per request. */
    if (n != NULL && n->nargs == 2 &&
        (strcmp(n->args[1], "$proxy_host") == 0 || strcmp(n->args[1], "${proxy_host}") == 0))
        n = NULL;
    if (n != NULL) {
        if (n->nargs != 2 || (n->reported & R_IPNAME) ||
            !ip_literal(n->args[1], strlen(n->args[1]), addr, sizeof(addr)))
            return 0;
        n->reported |= R_IPNAME;
        at = n;
        snprintf(head, sizeof(head), "proxy_ssl_name %s is an IP address", n->args[1]);
        /* what nginx checks and logs: the name without a port */
        name = n->args[1];
        const char *rb = name[0] == '[' ? strchr(name, ']') : NULL;
        namelen = logged = rb != NULL ? (size_t)(rb - name) + 1 : strcspn(name, ":");
        /* nginx cuts a bare IPv6 address at its first colon too, as if a
         * port followed, and then logs "does not match \"\"". */
        if (namelen == 0)
            namelen = strlen(name);
    } else {
        if (!ip_literal(host, hostlen, addr, sizeof(addr)))
            return 0;
        logged = hostlen;
        snprintf(head, sizeof(head), "%s without a DNS proxy_ssl_name", what);
    }
    return finding(ck, at,
                   "%s: nginx checks the upstream's certificate against \"%.*s\" with host-name "
                   "rules (DNS SANs, then the CN) and ignores IP SANs, so a certificate that has "
                   "the address only as an IP SAN gets 502 (upstream SSL certificate does not "
                   "match \"%.*s\"); issue a DNS name for the upstream (minica issue NAME "
                   "--san %s) and set proxy_ssl_name NAME",
                   head, (int)namelen, name, (int)logged, name, addr);
}

static int check_proxy_pass(struct checker *ck, struct minica_nginx_directive *pp)
{
    if (pp->nargs < 2 || strncasecmp(pp->args[1], "https://", 8) != 0)
        return 0;
    ck->rep->https_upstreams++;
    const char *url = pp->args[1];
    const char *host = url + 8;
    /* nginx keeps an IPv6 address's brackets in the name it checks. */
    const char *rb = host[0] == '[' ? strchr(host, ']') : NULL;
    size_t hostlen = rb != NULL ? (size_t)(rb - host) + 1 : strcspn(host, ":/?");
    const struct minica_nginx_directive *up = find_upstream(ck, host, hostlen);
    char what[512];
    if (up != NULL)
        snprintf(what, sizeof(what), "proxy_pass %s (upstream block at %s:%d)", url, up->file,
                 up->line);
    else
        snprintf(what, sizeof(what), "proxy_pass %s", url);

    const struct minica_nginx_directive *v = effective(ck, I_VERIFY);
    if (v == NULL)
        return finding(ck, pp,
                       "%s without proxy_ssl_verify on: nginx does not verify an upstream's "
                       "certificate by default, so anything on the path can impersonate it",
                       what);
    if (v->nargs != 2 || strcmp(v->args[1], "on") != 0)
        return 0; /* off (or nonsense) is reported where it is written */
    int ret = 0;
    struct minica_nginx_directive *t = effective(ck, I_TRUSTED);
    if (t == NULL)
        ret = finding(ck, pp,
                      "%s: proxy_ssl_verify on without proxy_ssl_trusted_certificate: nginx has "
                      "nothing to verify against (nginx -t refuses this); use minica's ca.crt",
                      what);
    else
        ret = check_trusted(ck, t);
    if (ret == 0)
        ret = check_name(ck, pp, what, host, hostlen);
    if (ret != 0)
        return ret;
    struct minica_nginx_directive *dep = effective(ck, I_DEPTH);
    if (dep == NULL)
        return note(ck, pp,
                    "%s: no proxy_ssl_verify_depth, so nginx's default of 1 applies: enough "
                    "for minica's chain (one intermediate), but no room for a second one; "
                    "minica's snippet sets proxy_ssl_verify_depth 2",
                    what);
    return check_depth(ck, dep);
}

static int check_verify_value(struct checker *ck, struct minica_nginx_directive *d)
{
    if (d->nargs == 2 && strcmp(d->args[1], "on") == 0)
        return 0;
    if (d->reported & (R_OFF | R_BADVAL))
        return 0;
    if (d->nargs == 2 && strcmp(d->args[1], "off") == 0) {
        d->reported |= R_OFF;
        return finding(ck, d,
                       "proxy_ssl_verify off: upstream certificates are not verified here and "
                       "in every block that inherits this");
    }
    d->reported |= R_BADVAL;
    return finding(ck, d, "proxy_ssl_verify takes on or off");
}

static int descends(const char *name)
{
    static const char *const ctx[] = {"http", "server", "location", "if", "limit_except"};
    for (size_t i = 0; i < sizeof(ctx) / sizeof(ctx[0]); i++)
        if (strcmp(name, ctx[i]) == 0)
            return 1;
    return 0;
}

static int walk(struct checker *ck, const struct minica_nginx_directive *block)
{
    if (ck->nchain >= sizeof(ck->chain) / sizeof(ck->chain[0]))
        return 0;
    ck->chain[ck->nchain] = block;
    memset(ck->sets[ck->nchain], 0, sizeof(ck->sets[ck->nchain]));
    /* The first occurrence counts (nginx refuses a duplicate anyway). */
    for (size_t i = block->nchildren; i-- > 0;) {
        struct minica_nginx_directive *d = block->children[i];
        for (int k = 0; !d->is_block && k < I_COUNT; k++)
            if (strcmp(d->args[0], inherited_names[k]) == 0)
                ck->sets[ck->nchain][k] = d;
    }
    ck->nchain++;
    int ret = 0;
    for (size_t i = 0; ret == 0 && i < block->nchildren; i++) {
        struct minica_nginx_directive *d = block->children[i];
        if (d->is_block) {
            if (descends(d->args[0]))
                ret = walk(ck, d);
        } else if (strcmp(d->args[0], "proxy_pass") == 0) {
            ret = check_proxy_pass(ck, d);
        } else if (strcmp(d->args[0], "proxy_ssl_verify") == 0) {
            ret = check_verify_value(ck, d);
        }
    }
    ck->nchain--;
    return ret;
}

int minica_nginx_check(struct minica_nginx_conf *conf, const char *conf_dir, const char *root_pem,
                       struct minica_nginx_report *rep, struct minica_err *err)
{
    struct checker *ck = calloc(1, sizeof(*ck));
    if (ck == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    mbedtls_x509_crt_init(&ck->root);
    if (root_pem != NULL && minica_crt_parse_pem_first(&ck->root, root_pem, NULL) != 0) {
        mbedtls_x509_crt_free(&ck->root);
        free(ck);
        return minica_seterr(err, MINICA_EINVAL, "the root given holds no readable certificate");
    }
    ck->have_root = root_pem != NULL;
    ck->conf = conf;
    ck->rep = rep;
    ck->err = err;
    ck->now = minica_now();
    if (conf_dir != NULL)
        snprintf(ck->conf_dir, sizeof(ck->conf_dir), "%s", conf_dir);
    else if (conf->nfiles > 0)
        minica_nginx_dirname(conf->files[0], ck->conf_dir, sizeof(ck->conf_dir));
    int ret = collect_upstreams(ck, &conf->root, 0);
    if (ret == 0 && ck->nupstreams > 1)
        qsort(ck->upstreams, ck->nupstreams, sizeof(*ck->upstreams), cmp_upstream);
    if (ret == 0)
        ret = walk(ck, &conf->root);
    free(ck->upstreams);
    mbedtls_x509_crt_free(&ck->root);
    free(ck);
    return ret;
}
