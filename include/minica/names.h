/* What a certificate name may be: an RFC 1123 host name (optionally "*." wildcard),
 * an IPv4 or IPv6 address, and CIDR ranges for policy. Pure parsing, no policy. */
#ifndef MINICA_NAMES_H
#define MINICA_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"

#define MINICA_NAME_MAX 253
/* RFC 5280 ub-common-name: a longer first name travels in the SAN only. */
#define MINICA_CN_MAX 64

enum minica_name_kind {
    MINICA_NAME_DNS = 1,
    MINICA_NAME_IP = 2,
};

struct minica_name {
    enum minica_name_kind kind;
    char text[MINICA_NAME_MAX + 1]; /* canonical: lowercase DNS, or inet_ntop form */
    uint8_t ip[16];                 /* for IP names: network order */
    size_t ip_len;                  /* 4 or 16 */
    int wildcard;                   /* DNS "*.x": 1 */
};

struct minica_cidr {
    uint8_t addr[16];
    size_t addr_len; /* 4 or 16 */
    unsigned prefix; /* bits */
    char text[64];
};

/* Parses and canonicalizes one name. Wildcards ("*.example.svc") are accepted
 * syntactically; whether they may be issued is the policy's decision. Anything
 * that is neither a host name nor an IP (slashes, "..", spaces, control bytes)
 * is refused: it could escape an output directory. */
int minica_name_parse(const char *text, struct minica_name *out, struct minica_err *err);

int minica_cidr_parse(const char *text, struct minica_cidr *out, struct minica_err *err);
int minica_cidr_contains(const struct minica_cidr *cidr, const uint8_t *ip, size_t ip_len);

/* A DNS suffix for policy and name constraints: "internal.svc" or ".internal.svc". */
int minica_dns_suffix_parse(const char *text, char *out, size_t outlen, struct minica_err *err);
/* 1 if host equals suffix or ends with "." suffix (label boundary). */
int minica_dns_suffix_matches(const char *suffix, const char *host);

#endif
