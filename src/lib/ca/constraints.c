/* nameConstraints for dNSName and iPAddress: encode, decode, check. The
 * semantics are RFC 5280 4.2.1.10 as OpenSSL, GnuTLS, NSS, Go and Java apply
 * them: a name must lie in a permitted subtree of its form when there is one,
 * and in no excluded subtree. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>

#include "minica/constraints.h"

#define GN_DNS (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)
#define GN_IP (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)
#define SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define SUBTREES(n) (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | (n))

int minica_constraints_present(const struct minica_name_constraints *nc)
{
    return nc->permit_dns.n + nc->exclude_dns.n + nc->permit_ip.n + nc->exclude_ip.n > 0;
}

int minica_constraints_cover_dns(const struct minica_name_constraints *nc)
{
    return nc->permit_dns.n + nc->exclude_dns.n > 0;
}

static int add_cidr(struct minica_ip_subtrees *t, const char *text, struct minica_err *err)
{
    if (t->n == MINICA_CONSTRAINTS_MAX)
        return minica_seterr(err, MINICA_EINVAL, "too many IP ranges (at most %d)",
                             MINICA_CONSTRAINTS_MAX);
    return minica_cidr_parse(text, &t->cidr[t->n++], err);
}

int minica_constraints_for_init(const char *const *dns, size_t n_dns, const char *const *ips,
                                size_t n_ips, struct minica_name_constraints *out,
                                struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    int ret;
    for (size_t i = 0; i < n_dns; i++) {
        if (out->permit_dns.n == MINICA_CONSTRAINTS_MAX)
            return minica_seterr(err, MINICA_EINVAL, "too many --permit-dns (at most %d)",
                                 MINICA_CONSTRAINTS_MAX);
        if ((ret = minica_dns_suffix_parse(dns[i], out->permit_dns.name[out->permit_dns.n++],
                                           sizeof(out->permit_dns.name[0]), err)) != 0)
            return ret;
    }
    for (size_t i = 0; i < n_ips; i++)
        if ((ret = add_cidr(&out->permit_ip, ips[i], err)) != 0)
            return ret;
    if (n_dns > 0 && n_ips == 0) {
        /* A DNS-only CA: no IP address at all, in either family. */
        if ((ret = add_cidr(&out->exclude_ip, "0.0.0.0/0", err)) != 0 ||
            (ret = add_cidr(&out->exclude_ip, "::/0", err)) != 0)
            return ret;
    }
    /* An IP-only CA: no DNS name. The zero-length dNSName is every name to
     * OpenSSL, GnuTLS, NSS and Go; Java fails closed on it, and still accepts
     * IP-only leaves (tests/integration/test_constraint_verifiers.sh). */
    if (n_ips > 0 && n_dns == 0)
        out->exclude_dns.n = 1;
    return MINICA_OK;
}

/* GeneralSubtree ::= SEQUENCE { base GeneralName, minimum [0] DEFAULT 0, maximum [1] OPTIONAL }:
 * only base is written (RFC 5280 4.2.1.10: minimum and maximum MUST be absent). */
static int write_subtree(unsigned char **p, unsigned char *buf, unsigned char tag,
                         const unsigned char *data, size_t dlen)
{
    size_t n = 0;
    int r;
    if ((r = mbedtls_asn1_write_raw_buffer(p, buf, data, dlen)) < 0)
        return r;
    n += (size_t)r;
    if ((r = mbedtls_asn1_write_len(p, buf, n)) < 0)
        return r;
    n += (size_t)r;
    if ((r = mbedtls_asn1_write_tag(p, buf, tag)) < 0)
        return r;
    n += (size_t)r;
    if ((r = mbedtls_asn1_write_len(p, buf, n)) < 0)
        return r;
    n += (size_t)r;
    if ((r = mbedtls_asn1_write_tag(p, buf, SEQ)) < 0)
        return r;
    return (int)(n + (size_t)r);
}

/* iPAddress in a constraint is the address followed by its mask. */
static int write_ip_subtree(unsigned char **p, unsigned char *buf, const struct minica_cidr *c)
{
    unsigned char am[32];
    size_t alen = c->addr_len;
    memcpy(am, c->addr, alen);
    for (size_t b = 0; b < alen; b++) {
        unsigned bits = c->prefix > b * 8 ? c->prefix - (unsigned)b * 8 : 0;
        am[alen + b] = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
    }
    return write_subtree(p, buf, GN_IP, am, 2 * alen);
}

/* One GeneralSubtrees list, [tag], or nothing when it is empty. */
static int write_subtrees(unsigned char **p, unsigned char *buf, int tag,
                          const struct minica_dns_subtrees *dns,
                          const struct minica_ip_subtrees *ip)
{
    size_t n = 0;
    int r;
    if (dns->n + ip->n == 0)
        return 0;
    for (size_t i = ip->n; i-- > 0;) {
        if ((r = write_ip_subtree(p, buf, &ip->cidr[i])) < 0)
            return r;
        n += (size_t)r;
    }
    for (size_t i = dns->n; i-- > 0;) {
        if ((r = write_subtree(p, buf, GN_DNS, (const unsigned char *)dns->name[i],
                               strlen(dns->name[i]))) < 0)
            return r;
        n += (size_t)r;
    }
    if ((r = mbedtls_asn1_write_len(p, buf, n)) < 0)
        return r;
    n += (size_t)r;
    if ((r = mbedtls_asn1_write_tag(p, buf, (unsigned char)SUBTREES(tag))) < 0)
        return r;
    return (int)(n + (size_t)r);
}

int minica_constraints_encode(const struct minica_name_constraints *nc, unsigned char *buf,
                              size_t size, unsigned char **der, size_t *len, struct minica_err *err)
{
    unsigned char *p = buf + size;
    if (!minica_constraints_present(nc))
        return minica_seterr(err, MINICA_EINVAL, "name constraints need at least one subtree");
    int ex = write_subtrees(&p, buf, 1, &nc->exclude_dns, &nc->exclude_ip);
    int pe = ex < 0 ? ex : write_subtrees(&p, buf, 0, &nc->permit_dns, &nc->permit_ip);
    int l = pe < 0 ? pe : mbedtls_asn1_write_len(&p, buf, (size_t)ex + (size_t)pe);
    int t = l < 0 ? l : mbedtls_asn1_write_tag(&p, buf, SEQ);
    if (t < 0)
        return minica_seterr(err, MINICA_EINVAL, "DER encoding failed (buffer too small)");
    *der = p;
    *len = (size_t)(ex + pe + l + t);
    return MINICA_OK;
}

static int mask_to_prefix(const unsigned char *mask, size_t len, unsigned *prefix)
{
    unsigned bits = 0;
    size_t i = 0;
    for (; i < len && mask[i] == 0xff; i++)
        bits += 8;
    if (i < len) {
        unsigned char m = mask[i++];
        while (m & 0x80) {
            bits++;
            m = (unsigned char)(m << 1);
        }
        if (m != 0)
            return -1;
    }
    for (; i < len; i++)
        if (mask[i] != 0)
            return -1;
    *prefix = bits;
    return 0;
}

static int decode_subtrees(unsigned char *p, const unsigned char *end,
                           struct minica_dns_subtrees *dns, struct minica_ip_subtrees *ip,
                           size_t *n_other, struct minica_err *err)
{
    while (p < end) {
        size_t len;
        if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
            return minica_seterr(err, MINICA_EINVAL, "malformed nameConstraints");
        const unsigned char *subtree_end = p + len;
        if (len < 2)
            return minica_seterr(err, MINICA_EINVAL, "malformed nameConstraints");
        unsigned char tag = *p++;
        if (mbedtls_asn1_get_len(&p, subtree_end, &len) != 0)
            return minica_seterr(err, MINICA_EINVAL, "malformed nameConstraints");
        if (p + len != subtree_end)
            return minica_seterr(err, MINICA_EINVAL,
                                 "nameConstraints with minimum or maximum are not supported");
        if (tag == GN_DNS) {
            if (dns->n == MINICA_CONSTRAINTS_MAX || len > MINICA_NAME_MAX || memchr(p, 0, len))
                return minica_seterr(err, MINICA_EINVAL, "unsupported dNSName constraint");
            char *name = dns->name[dns->n++];
            for (size_t i = 0; i < len; i++)
                name[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
            name[len] = '\0';
        } else if (tag == GN_IP) {
            if (ip->n == MINICA_CONSTRAINTS_MAX || (len != 8 && len != 32))
                return minica_seterr(err, MINICA_EINVAL, "unsupported iPAddress constraint");
            struct minica_cidr *c = &ip->cidr[ip->n++];
            size_t n = len / 2; /* 4 or 16 */
            c->addr_len = n;
            if (mask_to_prefix(p + n, n, &c->prefix) != 0)
                return minica_seterr(err, MINICA_EINVAL,
                                     "iPAddress constraint whose mask is not a prefix");
            /* The address and its mask are ANDed by every verifier. The
             * loop's bound says sizeof(masked) too: GCC 12 at -O3 cannot
             * bound n by itself and fails the release build with
             * -Wstringop-overflow. */
            uint8_t masked[sizeof(c->addr)] = {0};
            for (size_t i = 0; i < n && i < sizeof(masked); i++)
                masked[i] = p[i] & p[n + i];
            memcpy(c->addr, masked, sizeof(c->addr));
            char addr[INET6_ADDRSTRLEN];
            inet_ntop(c->addr_len == 4 ? AF_INET : AF_INET6, c->addr, addr, sizeof(addr));
            snprintf(c->text, sizeof(c->text), "%s/%u", addr, c->prefix);
        } else {
            (*n_other)++;
        }
        p = (unsigned char *)subtree_end;
    }
    return MINICA_OK;
}

int minica_constraints_decode(const unsigned char *der, size_t len,
                              struct minica_name_constraints *out, struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    unsigned char *p = (unsigned char *)der;
    const unsigned char *end = der + len;
    size_t l;
    if (mbedtls_asn1_get_tag(&p, end, &l, SEQ) != 0 || p + l != end)
        return minica_seterr(err, MINICA_EINVAL, "malformed nameConstraints");
    for (int which = 0; which < 2 && p < end; which++) {
        if (*p == SUBTREES(0) && which == 0) {
            if (mbedtls_asn1_get_tag(&p, end, &l, SUBTREES(0)) != 0)
                return minica_seterr(err, MINICA_EINVAL, "malformed nameConstraints");
            int ret =
                decode_subtrees(p, p + l, &out->permit_dns, &out->permit_ip, &out->n_other, err);
            if (ret != 0)
                return ret;
            p += l;
        } else if (*p == SUBTREES(1)) {
            if (mbedtls_asn1_get_tag(&p, end, &l, SUBTREES(1)) != 0)
                return minica_seterr(err, MINICA_EINVAL, "malformed nameConstraints");
            int ret =
                decode_subtrees(p, p + l, &out->exclude_dns, &out->exclude_ip, &out->n_other, err);
            if (ret != 0)
                return ret;
            p += l;
            break;
        }
    }
    if (p != end)
        return minica_seterr(err, MINICA_EINVAL, "malformed nameConstraints");
    return MINICA_OK;
}

/* RFC 5280: "" is every name; ".x" names below x; "x" x and names below it. */
static int dns_in_subtree(const char *base, const char *host)
{
    if (base[0] == '\0')
        return 1;
    if (base[0] == '.') {
        size_t hl = strlen(host), bl = strlen(base);
        return hl > bl && strcmp(host + hl - bl, base) == 0;
    }
    return minica_dns_suffix_matches(base, host);
}

static void join_dns(const struct minica_dns_subtrees *t, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < t->n && used < outlen; i++) {
        int w = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "",
                         t->name[i][0] ? t->name[i] : "\"\" (every name)");
        if (w > 0)
            used += (size_t)w;
    }
}

static void join_ip(const struct minica_ip_subtrees *t, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < t->n && used < outlen; i++) {
        int w = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", t->cidr[i].text);
        if (w > 0)
            used += (size_t)w;
    }
}

static int check_dns(const struct minica_name_constraints *nc, const struct minica_name *name,
                     struct minica_err *err)
{
    char list[2048];
    /* A wildcard's names are those below the part after "*.". */
    const char *host = name->wildcard ? name->text + 2 : name->text;
    if (nc->permit_dns.n > 0) {
        size_t i = 0;
        while (i < nc->permit_dns.n && !dns_in_subtree(nc->permit_dns.name[i], host))
            i++;
        if (i == nc->permit_dns.n) {
            join_dns(&nc->permit_dns, list, sizeof(list));
            return minica_seterr(err, MINICA_EPOLICY,
                                 "%s is outside the intermediate certificate's name constraints "
                                 "(permitted DNS: %s); minica.conf cannot widen them",
                                 name->text, list);
        }
    }
    for (size_t i = 0; i < nc->exclude_dns.n; i++) {
        const char *ex = nc->exclude_dns.name[i];
        if (ex[0] == '\0' && nc->permit_dns.n == 0)
            return minica_seterr(err, MINICA_EPOLICY,
                                 "%s is a DNS name, and the intermediate certificate excludes "
                                 "every DNS name: this CA was made with --permit-ip only, and "
                                 "issues IP addresses",
                                 name->text);
        /* A wildcard also covers an excluded subtree below it. */
        int below =
            name->wildcard && ex[0] != '\0' && dns_in_subtree(host, ex[0] == '.' ? ex + 1 : ex);
        if (dns_in_subtree(ex, host) || below)
            return minica_seterr(err, MINICA_EPOLICY,
                                 "%s is excluded by the intermediate certificate's name "
                                 "constraints (excluded DNS: %s)",
                                 name->text, ex[0] ? ex : "\"\" (every name)");
    }
    return MINICA_OK;
}

static int check_ip(const struct minica_name_constraints *nc, const struct minica_name *name,
                    struct minica_err *err)
{
    char list[2048];
    for (size_t i = 0; i < nc->exclude_ip.n; i++) {
        const struct minica_cidr *c = &nc->exclude_ip.cidr[i];
        if (!minica_cidr_contains(c, name->ip, name->ip_len))
            continue;
        if (c->prefix == 0 && nc->permit_ip.n == 0)
            return minica_seterr(err, MINICA_EPOLICY,
                                 "%s is an IP address, and the intermediate certificate excludes "
                                 "every IP%s address (excluded %s): this CA was made with "
                                 "--permit-dns only, and issues DNS names",
                                 name->text, c->addr_len == 4 ? "v4" : "v6", c->text);
        return minica_seterr(err, MINICA_EPOLICY,
                             "%s is excluded by the intermediate certificate's name constraints "
                             "(excluded IP: %s)",
                             name->text, c->text);
    }
    if (nc->permit_ip.n == 0)
        return MINICA_OK;
    for (size_t i = 0; i < nc->permit_ip.n; i++)
        if (minica_cidr_contains(&nc->permit_ip.cidr[i], name->ip, name->ip_len))
            return MINICA_OK;
    join_ip(&nc->permit_ip, list, sizeof(list));
    return minica_seterr(err, MINICA_EPOLICY,
                         "%s is outside the intermediate certificate's name constraints "
                         "(permitted IP: %s); minica.conf cannot widen them",
                         name->text, list);
}

int minica_constraints_check(const struct minica_name_constraints *nc,
                             const struct minica_name *name, struct minica_err *err)
{
    return name->kind == MINICA_NAME_DNS ? check_dns(nc, name, err) : check_ip(nc, name, err);
}
