/* Host names (RFC 1123, with an optional leading "*." label), IP addresses
 * and CIDR ranges. Canonical forms are what the certificate, the inventory
 * and file names use, so "Upstream.Internal.SVC" and "upstream.internal.svc"
 * are one name. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minica/names.h"

static int label_ok(const char *label, size_t len)
{
    if (len == 0 || len > 63)
        return 0;
    if (label[0] == '-' || label[len - 1] == '-')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)label[i];
        if (!(isalnum(c) || c == '-'))
            return 0;
    }
    return 1;
}

static int parse_ip(const char *text, struct minica_name *out)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, text, buf) == 1) {
        out->kind = MINICA_NAME_IP;
        memcpy(out->ip, buf, 4);
        out->ip_len = 4;
        inet_ntop(AF_INET, buf, out->text, sizeof(out->text));
        return 1;
    }
    if (inet_pton(AF_INET6, text, buf) == 1) {
        out->kind = MINICA_NAME_IP;
        memcpy(out->ip, buf, 16);
        out->ip_len = 16;
        inet_ntop(AF_INET6, buf, out->text, sizeof(out->text));
        return 1;
    }
    return 0;
}

static int printable(const char *text)
{
    for (const char *p = text; *p; p++)
        if (!isprint((unsigned char)*p))
            return 0;
    return 1;
}

int minica_name_parse(const char *text, struct minica_name *out, struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    if (text == NULL || *text == '\0')
        return minica_seterr(err, MINICA_EINVAL, "empty name");
    size_t len = strlen(text);
    if (!printable(text))
        return minica_seterr(err, MINICA_EINVAL, "invalid name: contains control characters");
    if (len > MINICA_NAME_MAX)
        return minica_seterr(err, MINICA_EINVAL,
                             "invalid name '%.40s...': longer than %d characters", text,
                             MINICA_NAME_MAX);
    if (parse_ip(text, out))
        return MINICA_OK;

    const char *host = text;
    if (strncmp(text, "*.", 2) == 0) {
        out->wildcard = 1;
        host = text + 2;
    }
    size_t hlen = strlen(host);
    if (hlen > 0 && host[hlen - 1] == '.')
        return minica_seterr(err, MINICA_EINVAL, "invalid name '%s': trailing dot", text);
    /* Every label must be a valid RFC 1123 label: this also refuses "/",
     * "..", "*" elsewhere, spaces and anything else that could escape --out. */
    const char *label = host;
    int labels = 0;
    for (;;) {
        const char *dot = strchr(label, '.');
        size_t l = dot ? (size_t)(dot - label) : strlen(label);
        if (!label_ok(label, l))
            return minica_seterr(err, MINICA_EINVAL,
                                 "invalid name '%s': not a host name (RFC 1123) or IP address",
                                 text);
        labels++;
        if (dot == NULL)
            break;
        label = dot + 1;
    }
    /* "*.com" would cover a whole public suffix. */
    if (out->wildcard && labels < 2)
        return minica_seterr(err, MINICA_EINVAL,
                             "invalid name '%s': a wildcard needs at least two labels after '*.'",
                             text);
    /* An all-numeric last label is an IP address typo ("10.0.2.888"), not a host. */
    const char *last = strrchr(host, '.');
    last = last ? last + 1 : host;
    int numeric = 1;
    for (const char *p = last; *p; p++)
        if (!isdigit((unsigned char)*p))
            numeric = 0;
    if (numeric)
        return minica_seterr(err, MINICA_EINVAL, "invalid name '%s': not a valid IP address", text);

    out->kind = MINICA_NAME_DNS;
    for (size_t i = 0; i <= len; i++)
        out->text[i] = (char)tolower((unsigned char)text[i]);
    return MINICA_OK;
}

int minica_cidr_parse(const char *text, struct minica_cidr *out, struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    if (text == NULL || strlen(text) >= sizeof(out->text) - 1)
        return minica_seterr(err, MINICA_EINVAL, "invalid CIDR '%s'", text ? text : "");
    char addr[64];
    snprintf(addr, sizeof(addr), "%s", text);
    char *slash = strchr(addr, '/');
    long prefix = -1;
    if (slash != NULL) {
        *slash = '\0';
        char *end;
        if (slash[1] == '\0' || !isdigit((unsigned char)slash[1]))
            return minica_seterr(err, MINICA_EINVAL, "invalid CIDR '%s': bad prefix length", text);
        prefix = strtol(slash + 1, &end, 10);
        if (*end != '\0')
            return minica_seterr(err, MINICA_EINVAL, "invalid CIDR '%s': bad prefix length", text);
    }
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->addr_len = 4;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->addr_len = 16;
    } else {
        return minica_seterr(err, MINICA_EINVAL, "invalid CIDR '%s': not an IP address", text);
    }
    long max = (long)out->addr_len * 8;
    if (prefix < 0)
        prefix = max;
    if (prefix > max)
        return minica_seterr(err, MINICA_EINVAL, "invalid CIDR '%s': prefix longer than /%ld", text,
                             max);
    out->prefix = (unsigned)prefix;
    /* Host bits set ("10.0.0.1/8") usually mean a typo; refuse rather than guess. */
    for (unsigned bit = out->prefix; bit < (unsigned)max; bit++) {
        if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
            return minica_seterr(err, MINICA_EINVAL, "invalid CIDR '%s': host bits set after /%u",
                                 text, out->prefix);
    }
    char canon[INET6_ADDRSTRLEN];
    inet_ntop(out->addr_len == 4 ? AF_INET : AF_INET6, out->addr, canon, sizeof(canon));
    snprintf(out->text, sizeof(out->text), "%s/%u", canon, out->prefix);
    return MINICA_OK;
}

int minica_cidr_contains(const struct minica_cidr *cidr, const uint8_t *ip, size_t ip_len)
{
    if (ip_len != cidr->addr_len)
        return 0;
    unsigned full = cidr->prefix / 8, rest = cidr->prefix % 8;
    if (memcmp(cidr->addr, ip, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (cidr->addr[full] & mask) == (ip[full] & mask);
}

int minica_dns_suffix_parse(const char *text, char *out, size_t outlen, struct minica_err *err)
{
    if (text == NULL)
        return minica_seterr(err, MINICA_EINVAL, "empty DNS suffix");
    const char *s = text[0] == '.' ? text + 1 : text;
    struct minica_name name;
    if (minica_name_parse(s, &name, NULL) != 0 || name.kind != MINICA_NAME_DNS || name.wildcard)
        return minica_seterr(err, MINICA_EINVAL, "invalid DNS suffix '%s'", text);
    if (strlen(name.text) + 1 > outlen)
        return minica_seterr(err, MINICA_EINVAL, "invalid DNS suffix '%s': too long", text);
    memcpy(out, name.text, strlen(name.text) + 1);
    return MINICA_OK;
}

int minica_dns_suffix_matches(const char *suffix, const char *host)
{
    size_t sl = strlen(suffix), hl = strlen(host);
    if (hl == sl)
        return strcasecmp(host, suffix) == 0;
    if (hl < sl + 1)
        return 0;
    /* The boundary must be a dot: "evil-internal.svc" is not under "internal.svc". */
    return host[hl - sl - 1] == '.' && strcasecmp(host + hl - sl, suffix) == 0;
}
