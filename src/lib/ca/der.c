/* DER writers for the extensions mbedTLS 2.28 lacks or writes with the wrong
 * criticality for a leaf (its basicConstraints is critical only for CAs,
 * RFC 5280 4.2.1.9 lets us mark CA:FALSE critical and nginx-facing tools
 * expect it). The CRL has its own module (crl.c). At the end, the few
 * readers and writers of a signed object's outer SEQUENCE that sign.c and the
 * CSR writer need to correct mbedTLS 2.28's ECDSA AlgorithmIdentifier. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/oid.h>

#include "minica/der.h"

/* GeneralName tags (context-specific, implicit). */
#define GN_DNS (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)
#define GN_IP (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)

#define CHK(expr)                                                                                  \
    do {                                                                                           \
        int r_ = (expr);                                                                           \
        if (r_ < 0)                                                                                \
            return minica_seterr(err, MINICA_EINVAL, "DER encoding failed (buffer too small)");    \
        total += (size_t)r_;                                                                       \
    } while (0)

static int wrap_sequence(unsigned char **p, unsigned char *buf, size_t total, size_t *len,
                         struct minica_err *err)
{
    int a = mbedtls_asn1_write_len(p, buf, total);
    if (a < 0)
        return minica_seterr(err, MINICA_EINVAL, "DER encoding failed (buffer too small)");
    int b = mbedtls_asn1_write_tag(p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    if (b < 0)
        return minica_seterr(err, MINICA_EINVAL, "DER encoding failed (buffer too small)");
    *len = total + (size_t)a + (size_t)b;
    return MINICA_OK;
}

static int write_tagged_raw(unsigned char **p, unsigned char *buf, unsigned char tag,
                            const unsigned char *data, size_t dlen)
{
    int total = 0, r;
    if ((r = mbedtls_asn1_write_raw_buffer(p, buf, data, dlen)) < 0)
        return r;
    total += r;
    if ((r = mbedtls_asn1_write_len(p, buf, dlen)) < 0)
        return r;
    total += r;
    if ((r = mbedtls_asn1_write_tag(p, buf, tag)) < 0)
        return r;
    return total + r;
}

int minica_der_san(const struct minica_name *names, size_t n, unsigned char *buf, size_t size,
                   unsigned char **der, size_t *len, struct minica_err *err)
{
    unsigned char *p = buf + size;
    size_t total = 0;
    if (n == 0)
        return minica_seterr(err, MINICA_EINVAL, "a subjectAltName needs at least one name");
    /* Written backwards: iterate from the last name so the order is kept. */
    for (size_t i = n; i-- > 0;) {
        if (names[i].kind == MINICA_NAME_IP)
            CHK(write_tagged_raw(&p, buf, GN_IP, names[i].ip, names[i].ip_len));
        else
            CHK(write_tagged_raw(&p, buf, GN_DNS, (const unsigned char *)names[i].text,
                                 strlen(names[i].text)));
    }
    int ret = wrap_sequence(&p, buf, total, len, err);
    *der = p;
    return ret;
}

int minica_der_basic_constraints(int is_ca, int pathlen, unsigned char *buf, size_t size,
                                 unsigned char **der, size_t *len, struct minica_err *err)
{
    unsigned char *p = buf + size;
    size_t total = 0;
    if (is_ca) {
        if (pathlen >= 0)
            CHK(mbedtls_asn1_write_int(&p, buf, pathlen));
        CHK(mbedtls_asn1_write_bool(&p, buf, 1));
    }
    /* CA:FALSE is the DEFAULT and so is omitted: an empty SEQUENCE. */
    int ret = wrap_sequence(&p, buf, total, len, err);
    *der = p;
    return ret;
}

int minica_der_key_usage(unsigned bits, unsigned char *buf, size_t size, unsigned char **der,
                         size_t *len, struct minica_err *err)
{
    unsigned char *p = buf + size;
    unsigned char byte = (unsigned char)bits;
    int r = mbedtls_asn1_write_named_bitstring(&p, buf, &byte, 8);
    if (r < 0)
        return minica_seterr(err, MINICA_EINVAL, "DER encoding failed (buffer too small)");
    *der = p;
    *len = (size_t)r;
    return MINICA_OK;
}

int minica_der_ext_key_usage(int server_auth, int client_auth, unsigned char *buf, size_t size,
                             unsigned char **der, size_t *len, struct minica_err *err)
{
    unsigned char *p = buf + size;
    size_t total = 0;
    if (!server_auth && !client_auth)
        return minica_seterr(err, MINICA_EINVAL, "extendedKeyUsage needs a purpose");
    if (client_auth)
        CHK(mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_CLIENT_AUTH,
                                   MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
    if (server_auth)
        CHK(mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH,
                                   MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
    int ret = wrap_sequence(&p, buf, total, len, err);
    *der = p;
    return ret;
}

int minica_der_parse_san(const unsigned char *der, size_t len, char *out, size_t outlen,
                         struct minica_err *err)
{
    unsigned char *p = (unsigned char *)der;
    const unsigned char *end = der + len;
    size_t seqlen;
    size_t used = 0;
    out[0] = '\0';
    if (mbedtls_asn1_get_tag(&p, end, &seqlen, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0 ||
        p + seqlen != end)
        return minica_seterr(err, MINICA_EINVAL, "malformed subjectAltName");
    while (p < end) {
        unsigned char tag = *p++;
        size_t l;
        if (mbedtls_asn1_get_len(&p, end, &l) != 0)
            return minica_seterr(err, MINICA_EINVAL, "malformed subjectAltName");
        char name[MINICA_NAME_MAX + 1];
        if (tag == GN_DNS) {
            if (l == 0 || l > MINICA_NAME_MAX)
                return minica_seterr(err, MINICA_EINVAL, "malformed DNS name in subjectAltName");
            memcpy(name, p, l);
            name[l] = '\0';
            if (strlen(name) != l)
                return minica_seterr(err, MINICA_EINVAL, "malformed DNS name in subjectAltName");
            struct minica_name parsed;
            if (minica_name_parse(name, &parsed, err) != 0 || parsed.kind != MINICA_NAME_DNS)
                return minica_seterr(err, MINICA_EINVAL, "invalid DNS name in subjectAltName");
            snprintf(name, sizeof(name), "%s", parsed.text);
        } else if (tag == GN_IP) {
            if (l != 4 && l != 16)
                return minica_seterr(err, MINICA_EINVAL, "malformed IP address in subjectAltName");
            inet_ntop(l == 4 ? AF_INET : AF_INET6, p, name, sizeof(name));
        } else {
            return minica_seterr(err, MINICA_EINVAL,
                                 "unsupported name type in subjectAltName (only DNS and IP)");
        }
        p += l;
        int w = snprintf(out + used, outlen - used, "%s%s", used ? "," : "", name);
        if (w < 0 || (size_t)w >= outlen - used)
            return minica_seterr(err, MINICA_EINVAL, "too many names in subjectAltName");
        used += (size_t)w;
    }
    return MINICA_OK;
}

int minica_der_find_san(const unsigned char *der, size_t len, char *out, size_t outlen,
                        struct minica_err *err)
{
    unsigned char *p = (unsigned char *)der;
    const unsigned char *end = der + len;
    size_t seqlen;
    out[0] = '\0';
    if (mbedtls_asn1_get_tag(&p, end, &seqlen, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
        0)
        return minica_seterr(err, MINICA_EINVAL, "malformed extensions");
    end = p + seqlen;
    while (p < end) {
        size_t elen, idlen, vlen;
        if (mbedtls_asn1_get_tag(&p, end, &elen,
                                 MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
            return minica_seterr(err, MINICA_EINVAL, "malformed extension");
        const unsigned char *ext_end = p + elen;
        if (mbedtls_asn1_get_tag(&p, ext_end, &idlen, MBEDTLS_ASN1_OID) != 0)
            return minica_seterr(err, MINICA_EINVAL, "malformed extension");
        int is_san = idlen == MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME) &&
                     memcmp(p, MBEDTLS_OID_SUBJECT_ALT_NAME, idlen) == 0;
        p += idlen;
        int critical = 0;
        if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN &&
            mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0)
            return minica_seterr(err, MINICA_EINVAL, "malformed extension");
        if (mbedtls_asn1_get_tag(&p, ext_end, &vlen, MBEDTLS_ASN1_OCTET_STRING) != 0)
            return minica_seterr(err, MINICA_EINVAL, "malformed extension");
        if (is_san)
            return minica_der_parse_san(p, vlen, out, outlen, err);
        p = (unsigned char *)ext_end;
    }
    return MINICA_OK;
}

int minica_der_next_tlv(const unsigned char **p, const unsigned char *end,
                        struct minica_der_part *tlv)
{
    unsigned char *q = (unsigned char *)*p;
    size_t len;
    if (q >= end)
        return MINICA_EINVAL;
    q++; /* the tag: X.509 uses only single-byte tags */
    if (mbedtls_asn1_get_len(&q, end, &len) != 0)
        return MINICA_EINVAL;
    tlv->p = *p;
    tlv->len = (size_t)(q - *p) + len;
    *p = q + len;
    return MINICA_OK;
}

int minica_der_split_signed(const unsigned char *der, size_t len, struct minica_der_signed *out,
                            struct minica_err *err)
{
    unsigned char *p = (unsigned char *)der;
    const unsigned char *end = der + len;
    size_t seqlen;
    if (mbedtls_asn1_get_tag(&p, end, &seqlen, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0 ||
        p + seqlen != end)
        return minica_seterr(err, MINICA_EINVAL, "malformed signed object");
    const unsigned char *q = p;
    if (minica_der_next_tlv(&q, end, &out->body) != 0 ||
        minica_der_next_tlv(&q, end, &out->alg) != 0 ||
        minica_der_next_tlv(&q, end, &out->sig) != 0 || q != end ||
        out->body.p[0] != (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) ||
        out->alg.p[0] != (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) ||
        out->sig.p[0] != MBEDTLS_ASN1_BIT_STRING)
        return minica_seterr(err, MINICA_EINVAL, "malformed signed object");
    return MINICA_OK;
}

int minica_der_ecdsa_alg_without_params(const struct minica_der_part *alg, unsigned char *out,
                                        size_t *out_len)
{
    /* 1.2.840.10045.4: ecdsa-with-SHA1 and, under .3, the SHA-2 family. */
    static const unsigned char ecdsa_arc[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04};
    const unsigned char *p = alg->p, *end = alg->p + alg->len;
    struct minica_der_part seq, oid, param;
    if (minica_der_next_tlv(&p, end, &seq) != 0 || p != end || seq.len < 2)
        return MINICA_EINVAL;
    p = seq.p + 2; /* an AlgorithmIdentifier is far shorter than 128 bytes */
    if (seq.p[1] & 0x80 || minica_der_next_tlv(&p, end, &oid) != 0 || oid.p[0] != MBEDTLS_ASN1_OID)
        return MINICA_EINVAL;
    if (oid.len < 2 + sizeof(ecdsa_arc) || memcmp(oid.p + 2, ecdsa_arc, sizeof(ecdsa_arc)) != 0)
        return 0;
    if (p == end)
        return 0;
    if (minica_der_next_tlv(&p, end, &param) != 0 || p != end)
        return MINICA_EINVAL;
    out[0] = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;
    out[1] = (unsigned char)oid.len;
    memcpy(out + 2, oid.p, oid.len);
    *out_len = 2 + oid.len;
    return 1;
}

int minica_der_sequence(const struct minica_der_part *parts, size_t n, unsigned char **out,
                        size_t *out_len, struct minica_err *err)
{
    size_t body = 0;
    for (size_t i = 0; i < n; i++)
        body += parts[i].len;
    /* calloc: 3.6 declares the writers' start as const, and GCC then takes
     * the untouched header room for a read of uninitialised memory. */
    unsigned char *buf = calloc(1, body + 16);
    if (buf == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    unsigned char *p = buf + 16;
    int hdr = mbedtls_asn1_write_len(&p, buf, body);
    int tag = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    if (hdr < 0 || tag < 0) {
        free(buf);
        return minica_seterr(err, MINICA_EINVAL, "DER encoding failed");
    }
    size_t head = (size_t)hdr + (size_t)tag;
    memmove(buf, p, head);
    p = buf + head;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, parts[i].p, parts[i].len);
        p += parts[i].len;
    }
    *out = buf;
    *out_len = head + body;
    return MINICA_OK;
}
