/* minica inspect: reads a certificate, chain, CSR or CRL from anywhere
 * (PEM or DER, not only minica's) into plain data with verdicts. The
 * extensions are read from the DER here rather than from mbedTLS's structs,
 * whose fields for them are private in 3.6 and which skip the name forms
 * (email, URI) that mbedTLS does not use. Issuance never relies on this. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "base/compat.h"
#include "base/util.h"
#include "ca/x509.h"
#include "minica/constraints.h"
#include "minica/der.h"
#include "minica/fsutil.h"
#include "minica/inspect.h"

#define NOT_RECOGNIZED "not a certificate, chain, CSR or CRL (PEM or DER)"
/* SANs kept per certificate or CSR; the rest are counted, not kept. */
#define NAMES_MAX 256
/* 2.5.29.21, id-ce-cRLReasons. */
#define OID_CRL_REASON MBEDTLS_OID_ID_CE "\x15"

#define IS_OID(oid, len, m) ((len) == MBEDTLS_OID_SIZE(m) && memcmp((oid), (m), (len)) == 0)

const char *minica_inspect_validity_name(enum minica_inspect_validity v)
{
    switch (v) {
    case MINICA_VALIDITY_VALID:
        return "valid";
    case MINICA_VALIDITY_EXPIRING:
        return "expiring";
    case MINICA_VALIDITY_EXPIRED:
        return "expired";
    case MINICA_VALIDITY_NOT_YET_VALID:
        return "not yet valid";
    }
    return "unknown";
}

const char *minica_inspect_crl_state_name(enum minica_inspect_crl_state s)
{
    switch (s) {
    case MINICA_CRL_CURRENT:
        return "current";
    case MINICA_CRL_STALE:
        return "stale";
    case MINICA_CRL_NOT_YET_VALID:
        return "not yet valid";
    }
    return "unknown";
}

const char *minica_inspect_name_type_name(enum minica_inspect_name_type t)
{
    switch (t) {
    case MINICA_SAN_DNS:
        return "DNS";
    case MINICA_SAN_IP:
        return "IP";
    case MINICA_SAN_EMAIL:
        return "email";
    case MINICA_SAN_URI:
        return "URI";
    case MINICA_SAN_OTHER:
        break;
    }
    return "other";
}

const char *minica_inspect_reason_name(int reason)
{
    static const char *const names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", "unknown",
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};
    return reason >= 0 && reason < 11 ? names[reason] : "unknown";
}

const char *minica_inspect_sig_name(enum minica_inspect_sig s)
{
    return s == MINICA_SIG_VALID ? "valid" : s == MINICA_SIG_INVALID ? "invalid" : "unsupported";
}

void minica_inspect_report_init(struct minica_inspect_report *r)
{
    memset(r, 0, sizeof(*r));
}

void minica_inspect_report_free(struct minica_inspect_report *r)
{
    for (size_t i = 0; i < r->n_certs; i++)
        free(r->certs[i].sans);
    free(r->certs);
    free(r->links);
    free(r->csr.sans);
    for (size_t i = 0; i < r->n_crls; i++)
        free(r->crls[i].revoked);
    free(r->crls);
    memset(r, 0, sizeof(*r));
}

int minica_inspect_read(const char *path, unsigned char **buf, size_t *len, struct minica_err *err)
{
    *buf = NULL;
    *len = 0;
    if (strcmp(path, "-") != 0)
        return minica_read_file(path, MINICA_INSPECT_INPUT_MAX, (char **)buf, len, err);
    /* One byte more than allowed tells "too large" from "exactly the limit". */
    unsigned char *data = malloc(MINICA_INSPECT_INPUT_MAX + 2);
    if (data == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    size_t got = 0;
    while (got <= MINICA_INSPECT_INPUT_MAX) {
        ssize_t r = read(STDIN_FILENO, data + got, MINICA_INSPECT_INPUT_MAX + 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(data);
            return minica_seterr(err, MINICA_EIO, "cannot read standard input: %s", strerror(e));
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got > MINICA_INSPECT_INPUT_MAX) {
        free(data);
        return minica_seterr(err, MINICA_EINVAL, "standard input is too large (more than %d bytes)",
                             MINICA_INSPECT_INPUT_MAX);
    }
    data[got] = '\0';
    *buf = data;
    *len = got;
    return MINICA_OK;
}

/* ---- text ---- */

/* Printable ASCII as it is; anything else (and the backslash) as \xNN. */
static void put_text(char *out, size_t outlen, const unsigned char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            if (o + 1 >= outlen)
                break;
            out[o++] = (char)c;
        } else {
            if (o + 4 >= outlen)
                break;
            snprintf(out + o, outlen - o, "\\x%02x", c);
            o += 4;
        }
    }
    out[o] = '\0';
}

static void list_add(char *list, size_t size, const char *item)
{
    size_t n = strlen(list);
    if (n < size)
        snprintf(list + n, size - n, "%s%s", n ? "," : "", item);
}

static void oid_text(const unsigned char *oid, size_t len, char *out, size_t outlen)
{
    mbedtls_asn1_buf buf = {MBEDTLS_ASN1_OID, len, (unsigned char *)oid};
    if (mbedtls_oid_get_numeric_string(out, outlen, &buf) < 0)
        snprintf(out, outlen, "?");
}

static int add_name(struct minica_inspect_name **v, size_t *n, size_t *omitted,
                    enum minica_inspect_name_type type, const unsigned char *p, size_t len)
{
    if (*n >= NAMES_MAX) {
        (*omitted)++;
        return MINICA_OK;
    }
    if (*n == 0 || (*n & (*n - 1)) == 0) { /* grow at 1, 2, 4, ... */
        struct minica_inspect_name *g = realloc(*v, (*n ? *n * 2 : 1) * sizeof(**v));
        if (g == NULL)
            return MINICA_ENOMEM;
        *v = g;
    }
    struct minica_inspect_name *name = &(*v)[(*n)++];
    name->type = type;
    if (type == MINICA_SAN_IP && (len == 4 || len == 16)) {
        inet_ntop(len == 4 ? AF_INET : AF_INET6, p, name->value, sizeof(name->value));
    } else if (type == MINICA_SAN_IP) {
        put_text(name->value, sizeof(name->value), (const unsigned char *)"(bad length)", 12);
    } else {
        put_text(name->value, sizeof(name->value), p, len);
    }
    return MINICA_OK;
}

/* ---- DER walking, every length checked against its container ---- */

/* The value of the TLV at *p (any single-byte tag); *p moves past it. */
static int next_value(unsigned char **p, const unsigned char *end, unsigned char *tag,
                      const unsigned char **val, size_t *len)
{
    if (*p >= end)
        return -1;
    *tag = **p;
    unsigned char *q = *p + 1;
    if (mbedtls_asn1_get_len(&q, end, len) != 0)
        return -1;
    *val = q;
    *p = q + *len;
    return 0;
}

/* subjectAltName (RFC 5280 4.2.1.6): GeneralNames. */
static int parse_san(const unsigned char *der, size_t len, struct minica_inspect_name **v,
                     size_t *n, size_t *omitted)
{
    unsigned char *p = (unsigned char *)der;
    const unsigned char *end = der + len;
    size_t l;
    if (mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return add_name(v, n, omitted, MINICA_SAN_OTHER, (const unsigned char *)"(malformed)", 11);
    const unsigned char *seq_end = p + l;
    while (p < seq_end) {
        unsigned char tag;
        const unsigned char *val;
        size_t vlen;
        if (next_value(&p, seq_end, &tag, &val, &vlen) != 0)
            return add_name(v, n, omitted, MINICA_SAN_OTHER, (const unsigned char *)"(malformed)",
                            11);
        enum minica_inspect_name_type t = tag == 0x81   ? MINICA_SAN_EMAIL
                                          : tag == 0x82 ? MINICA_SAN_DNS
                                          : tag == 0x86 ? MINICA_SAN_URI
                                          : tag == 0x87 ? MINICA_SAN_IP
                                                        : MINICA_SAN_OTHER;
        int ret;
        if (t != MINICA_SAN_OTHER) {
            ret = add_name(v, n, omitted, t, val, vlen);
        } else {
            static const char *const forms[] = {"otherName",
                                                "rfc822Name",
                                                "dNSName",
                                                "x400Address",
                                                "directoryName",
                                                "ediPartyName",
                                                "uniformResourceIdentifier",
                                                "iPAddress",
                                                "registeredID"};
            const char *form = (tag & 0x1f) < 9 ? forms[tag & 0x1f] : "unknown";
            ret = add_name(v, n, omitted, t, (const unsigned char *)form, strlen(form));
        }
        if (ret != 0)
            return ret;
    }
    return MINICA_OK;
}

static void parse_key_usage(const unsigned char *der, size_t len, char *out, size_t outlen)
{
    static const char *const bits[] = {"digitalSignature", "nonRepudiation", "keyEncipherment",
                                       "dataEncipherment", "keyAgreement",   "keyCertSign",
                                       "cRLSign",          "encipherOnly",   "decipherOnly"};
    unsigned char *p = (unsigned char *)der;
    mbedtls_asn1_bitstring bs;
    out[0] = '\0';
    if (mbedtls_asn1_get_bitstring(&p, der + len, &bs) != 0) {
        snprintf(out, outlen, "(malformed)");
        return;
    }
    for (size_t i = 0; i < 9 && i / 8 < bs.len; i++)
        if (bs.p[i / 8] & (0x80 >> (i % 8)))
            list_add(out, outlen, bits[i]);
}

static void parse_ext_key_usage(const unsigned char *der, size_t len, char *out, size_t outlen)
{
    static const struct {
        const char *oid;
        size_t len;
        const char *name;
    } known[] = {
        {MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH), "serverAuth"},
        {MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH), "clientAuth"},
        {MBEDTLS_OID_CODE_SIGNING, MBEDTLS_OID_SIZE(MBEDTLS_OID_CODE_SIGNING), "codeSigning"},
        {MBEDTLS_OID_EMAIL_PROTECTION, MBEDTLS_OID_SIZE(MBEDTLS_OID_EMAIL_PROTECTION),
         "emailProtection"},
        {MBEDTLS_OID_TIME_STAMPING, MBEDTLS_OID_SIZE(MBEDTLS_OID_TIME_STAMPING), "timeStamping"},
        {MBEDTLS_OID_OCSP_SIGNING, MBEDTLS_OID_SIZE(MBEDTLS_OID_OCSP_SIGNING), "OCSPSigning"},
        {MBEDTLS_OID_ANY_EXTENDED_KEY_USAGE, MBEDTLS_OID_SIZE(MBEDTLS_OID_ANY_EXTENDED_KEY_USAGE),
         "anyExtendedKeyUsage"},
    };
    unsigned char *p = (unsigned char *)der;
    const unsigned char *end = der + len;
    size_t l;
    out[0] = '\0';
    if (mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
        snprintf(out, outlen, "(malformed)");
        return;
    }
    const unsigned char *seq_end = p + l;
    while (p < seq_end) {
        size_t ol;
        if (mbedtls_asn1_get_tag(&p, seq_end, &ol, MBEDTLS_ASN1_OID) != 0) {
            list_add(out, outlen, "(malformed)");
            return;
        }
        const char *name = NULL;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]) && name == NULL; i++)
            if (ol == known[i].len && memcmp(p, known[i].oid, ol) == 0)
                name = known[i].name;
        char dotted[128];
        if (name == NULL) {
            oid_text(p, ol, dotted, sizeof(dotted));
            name = dotted;
        }
        list_add(out, outlen, name);
        p += ol;
    }
}

static void parse_basic_constraints(const unsigned char *der, size_t len,
                                    struct minica_inspect_cert *c)
{
    unsigned char *p = (unsigned char *)der;
    const unsigned char *end = der + len;
    size_t l;
    c->has_basic_constraints = 1;
    c->is_ca = 0;
    c->pathlen = -1;
    if (mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return;
    end = p + l;
    if (p < end && *p == MBEDTLS_ASN1_BOOLEAN && mbedtls_asn1_get_bool(&p, end, &c->is_ca) != 0)
        return;
    c->is_ca = c->is_ca != 0;
    int pathlen;
    if (p < end && *p == MBEDTLS_ASN1_INTEGER && mbedtls_asn1_get_int(&p, end, &pathlen) == 0 &&
        pathlen >= 0)
        c->pathlen = pathlen;
}

static void dns_subtrees(const struct minica_dns_subtrees *t, char *out, size_t outlen)
{
    for (size_t i = 0; i < t->n; i++) {
        char item[MINICA_NAME_MAX + 8];
        snprintf(item, sizeof(item), "DNS:%s", t->name[i]);
        list_add(out, outlen, item);
    }
}

static void ip_subtrees(const struct minica_ip_subtrees *t, char *out, size_t outlen)
{
    for (size_t i = 0; i < t->n; i++) {
        char item[80];
        snprintf(item, sizeof(item), "IP:%s", t->cidr[i].text);
        list_add(out, outlen, item);
    }
}

static void parse_name_constraints(const unsigned char *der, size_t len,
                                   struct minica_inspect_cert *c)
{
    c->has_name_constraints = 1;
    struct minica_name_constraints *nc = malloc(sizeof(*nc)); /* 100 KiB: not on the stack */
    struct minica_err e;
    if (nc == NULL) {
        snprintf(c->nc_error, sizeof(c->nc_error), "out of memory");
        return;
    }
    if (minica_constraints_decode(der, len, nc, &e) != 0) {
        snprintf(c->nc_error, sizeof(c->nc_error), "%s", e.msg);
    } else {
        dns_subtrees(&nc->permit_dns, c->nc_permitted, sizeof(c->nc_permitted));
        ip_subtrees(&nc->permit_ip, c->nc_permitted, sizeof(c->nc_permitted));
        dns_subtrees(&nc->exclude_dns, c->nc_excluded, sizeof(c->nc_excluded));
        ip_subtrees(&nc->exclude_ip, c->nc_excluded, sizeof(c->nc_excluded));
        if (nc->n_other > 0)
            snprintf(c->nc_error, sizeof(c->nc_error),
                     "%zu subtree(s) of other name forms not shown", nc->n_other);
    }
    free(nc);
}

/* The contents of the Extensions SEQUENCE in a TBSCertificate ([3]) or
 * TBSCertList ([0]): 1 found, 0 none, -1 malformed. */
static int tbs_extensions(const struct minica_der_part *tbs, unsigned char tag,
                          const unsigned char **p, const unsigned char **end)
{
    unsigned char *q = (unsigned char *)tbs->p;
    size_t l;
    if (mbedtls_asn1_get_tag(&q, tbs->p + tbs->len, &l,
                             MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return -1;
    const unsigned char *tbs_end = q + l;
    while (q < tbs_end) {
        unsigned char t;
        const unsigned char *val;
        size_t vlen;
        if (next_value(&q, tbs_end, &t, &val, &vlen) != 0)
            return -1;
        if (t != tag)
            continue;
        unsigned char *s = (unsigned char *)val;
        if (mbedtls_asn1_get_tag(&s, val + vlen, &l,
                                 MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
            return -1;
        *p = s;
        *end = s + l;
        return 1;
    }
    return 0;
}

typedef int (*ext_fn)(void *ctx, const unsigned char *oid, size_t oid_len, const unsigned char *val,
                      size_t len);

static int each_extension(const unsigned char *p, const unsigned char *end, ext_fn fn, void *ctx)
{
    unsigned char *q = (unsigned char *)p;
    while (q < end) {
        size_t l, ol, vl;
        if (mbedtls_asn1_get_tag(&q, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0)
            return -1;
        const unsigned char *ext_end = q + l;
        if (mbedtls_asn1_get_tag(&q, ext_end, &ol, MBEDTLS_ASN1_OID) != 0)
            return -1;
        const unsigned char *oid = q;
        q += ol;
        int critical;
        if (q < ext_end && *q == MBEDTLS_ASN1_BOOLEAN &&
            mbedtls_asn1_get_bool(&q, ext_end, &critical) != 0)
            return -1;
        if (mbedtls_asn1_get_tag(&q, ext_end, &vl, MBEDTLS_ASN1_OCTET_STRING) != 0)
            return -1;
        int ret = fn(ctx, oid, ol, q, vl);
        if (ret != 0)
            return ret;
        q = (unsigned char *)ext_end;
    }
    return 0;
}

static int cert_extension(void *ctx, const unsigned char *oid, size_t oid_len,
                          const unsigned char *val, size_t len)
{
    struct minica_inspect_cert *c = ctx;
    if (IS_OID(oid, oid_len, MBEDTLS_OID_SUBJECT_ALT_NAME))
        return parse_san(val, len, &c->sans, &c->n_sans, &c->sans_omitted);
    if (IS_OID(oid, oid_len, MBEDTLS_OID_KEY_USAGE))
        parse_key_usage(val, len, c->key_usage, sizeof(c->key_usage));
    else if (IS_OID(oid, oid_len, MBEDTLS_OID_EXTENDED_KEY_USAGE))
        parse_ext_key_usage(val, len, c->ext_key_usage, sizeof(c->ext_key_usage));
    else if (IS_OID(oid, oid_len, MBEDTLS_OID_BASIC_CONSTRAINTS))
        parse_basic_constraints(val, len, c);
    else if (IS_OID(oid, oid_len, MBEDTLS_OID_NAME_CONSTRAINTS))
        parse_name_constraints(val, len, c);
    return 0;
}

static int csr_extension(void *ctx, const unsigned char *oid, size_t oid_len,
                         const unsigned char *val, size_t len)
{
    struct minica_inspect_csr *c = ctx;
    if (IS_OID(oid, oid_len, MBEDTLS_OID_SUBJECT_ALT_NAME))
        return parse_san(val, len, &c->sans, &c->n_sans, &c->sans_omitted);
    return 0;
}

static int crl_extension(void *ctx, const unsigned char *oid, size_t oid_len,
                         const unsigned char *val, size_t len)
{
    struct minica_inspect_crl *c = ctx;
    unsigned char *p = (unsigned char *)val;
    size_t l;
    if (IS_OID(oid, oid_len, MBEDTLS_OID_CRL_NUMBER) &&
        mbedtls_asn1_get_tag(&p, val + len, &l, MBEDTLS_ASN1_INTEGER) == 0 && l > 0) {
        c->has_number = 1;
        /* Decimal, as OpenSSL and `minica crl` print it; a number too long
         * for that (RFC 5280 5.2.3 allows 20 octets) in hex. */
        if (l <= 8 && (p[0] & 0x80) == 0) {
            unsigned long long v = 0;
            for (size_t i = 0; i < l; i++)
                v = v << 8 | p[i];
            snprintf(c->number, sizeof(c->number), "%llu", v);
        } else {
            snprintf(c->number, sizeof(c->number), "0x");
            minica_serial_to_hex(p, l, c->number + 2, sizeof(c->number) - 2);
        }
    }
    return 0;
}

static int entry_extension(void *ctx, const unsigned char *oid, size_t oid_len,
                           const unsigned char *val, size_t len)
{
    int *reason = ctx;
    unsigned char *p = (unsigned char *)val;
    int v;
    if (IS_OID(oid, oid_len, OID_CRL_REASON) && mbedtls_asn1_get_enum(&p, val + len, &v) == 0)
        *reason = v;
    return 0;
}

/* ---- signatures ---- */

static const char *sig_name(mbedtls_md_type_t md, mbedtls_pk_type_t pk)
{
    static const struct {
        mbedtls_md_type_t md;
        mbedtls_pk_type_t pk;
        const char *name;
    } names[] = {
        {MBEDTLS_MD_SHA256, MBEDTLS_PK_ECDSA, "ecdsa-with-SHA256"},
        {MBEDTLS_MD_SHA384, MBEDTLS_PK_ECDSA, "ecdsa-with-SHA384"},
        {MBEDTLS_MD_SHA512, MBEDTLS_PK_ECDSA, "ecdsa-with-SHA512"},
        {MBEDTLS_MD_SHA224, MBEDTLS_PK_ECDSA, "ecdsa-with-SHA224"},
        {MBEDTLS_MD_SHA1, MBEDTLS_PK_ECDSA, "ecdsa-with-SHA1"},
        {MBEDTLS_MD_SHA256, MBEDTLS_PK_RSA, "sha256WithRSAEncryption"},
        {MBEDTLS_MD_SHA384, MBEDTLS_PK_RSA, "sha384WithRSAEncryption"},
        {MBEDTLS_MD_SHA512, MBEDTLS_PK_RSA, "sha512WithRSAEncryption"},
        {MBEDTLS_MD_SHA224, MBEDTLS_PK_RSA, "sha224WithRSAEncryption"},
        {MBEDTLS_MD_SHA1, MBEDTLS_PK_RSA, "sha1WithRSAEncryption"},
        {MBEDTLS_MD_MD5, MBEDTLS_PK_RSA, "md5WithRSAEncryption"},
    };
    if (pk == MBEDTLS_PK_RSASSA_PSS)
        return "rsassaPss";
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].md == md && names[i].pk == pk)
            return names[i].name;
    return NULL;
}

/* The algorithm OID of a signed object's signatureAlgorithm. */
static int sig_oid(const struct minica_der_signed *s, mbedtls_asn1_buf *oid)
{
    unsigned char *p = (unsigned char *)s->alg.p;
    const unsigned char *end = s->alg.p + s->alg.len;
    size_t l;
    if (mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 ||
        mbedtls_asn1_get_tag(&p, end, &oid->len, MBEDTLS_ASN1_OID) != 0)
        return -1;
    oid->tag = MBEDTLS_ASN1_OID;
    oid->p = p;
    return 0;
}

static void sig_alg_of(const unsigned char *der, size_t len, char *out, size_t outlen)
{
    struct minica_der_signed s;
    struct minica_err e;
    mbedtls_asn1_buf oid;
    mbedtls_md_type_t md;
    mbedtls_pk_type_t pk;
    const char *name = NULL;
    snprintf(out, outlen, "unknown");
    if (minica_der_split_signed(der, len, &s, &e) != 0 || sig_oid(&s, &oid) != 0)
        return;
    if (mbedtls_oid_get_sig_alg(&oid, &md, &pk) == 0)
        name = sig_name(md, pk);
    if (name != NULL)
        snprintf(out, outlen, "%s", name);
    else
        oid_text(oid.p, oid.len, out, outlen);
}

/* Whether key verifies the signature of the signed object der: over the
 * bytes as they are, never as mbedTLS re-encoded any part of them. */
static enum minica_inspect_sig verify_signed(const unsigned char *der, size_t len,
                                             const mbedtls_pk_context *key)
{
    struct minica_der_signed s;
    struct minica_err e;
    mbedtls_asn1_buf oid;
    mbedtls_md_type_t md;
    mbedtls_pk_type_t pk;
    if (minica_der_split_signed(der, len, &s, &e) != 0 || sig_oid(&s, &oid) != 0)
        return MINICA_SIG_INVALID;
    if (mbedtls_oid_get_sig_alg(&oid, &md, &pk) != 0 || pk == MBEDTLS_PK_RSASSA_PSS)
        return MINICA_SIG_UNKNOWN;
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(md);
    if (info == NULL)
        return MINICA_SIG_UNKNOWN;
    if (!mbedtls_pk_can_do(key, pk))
        return MINICA_SIG_INVALID;
    unsigned char *p = (unsigned char *)s.sig.p;
    mbedtls_asn1_bitstring bs;
    if (mbedtls_asn1_get_bitstring(&p, s.sig.p + s.sig.len, &bs) != 0 || bs.unused_bits != 0)
        return MINICA_SIG_INVALID;
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];
    if (minica_compat_md(info, s.body.p, s.body.len, hash) != 0)
        return MINICA_SIG_UNKNOWN;
    return mbedtls_pk_verify((mbedtls_pk_context *)key, md, hash, mbedtls_md_get_size(info), bs.p,
                             bs.len) == 0
               ? MINICA_SIG_VALID
               : MINICA_SIG_INVALID;
}

static int same_name(const mbedtls_x509_buf *a, const mbedtls_x509_buf *b)
{
    return a->len == b->len && a->p != NULL && b->p != NULL && memcmp(a->p, b->p, a->len) == 0;
}

/* ---- objects ---- */

static void key_info(const mbedtls_pk_context *pk, struct minica_inspect_key *k)
{
    mbedtls_pk_type_t t = mbedtls_pk_get_type(pk);
    k->bits = mbedtls_pk_get_bitlen(pk);
    if (t == MBEDTLS_PK_RSA) {
        snprintf(k->type, sizeof(k->type), "RSA");
    } else if (t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECKEY_DH || t == MBEDTLS_PK_ECDSA) {
        snprintf(k->type, sizeof(k->type), "EC");
        mbedtls_ecp_group_id g = minica_compat_pk_ec_group(pk);
        const mbedtls_ecp_curve_info *ci = mbedtls_ecp_curve_info_from_grp_id(g);
        snprintf(k->curve, sizeof(k->curve), "%s",
                 g == MBEDTLS_ECP_DP_SECP256R1   ? "P-256"
                 : g == MBEDTLS_ECP_DP_SECP384R1 ? "P-384"
                 : g == MBEDTLS_ECP_DP_SECP521R1 ? "P-521"
                 : ci != NULL                    ? ci->name
                                                 : "unknown");
    } else {
        snprintf(k->type, sizeof(k->type), "%s", mbedtls_pk_get_name(pk));
    }
}

static enum minica_inspect_validity validity_of(int64_t nb, int64_t na, int64_t now,
                                                int64_t expiring)
{
    if (now < nb)
        return MINICA_VALIDITY_NOT_YET_VALID;
    if (now > na)
        return MINICA_VALIDITY_EXPIRED;
    if (expiring <= 0) {
        expiring = MINICA_INSPECT_EXPIRING_DEFAULT;
        if ((na - nb) / 3 < expiring)
            expiring = (na - nb) / 3;
    }
    return na - now < expiring ? MINICA_VALIDITY_EXPIRING : MINICA_VALIDITY_VALID;
}

static int fill_cert(const mbedtls_x509_crt *crt, const struct minica_inspect_report *r,
                     struct minica_inspect_cert *c)
{
    memset(c, 0, sizeof(*c));
    c->pathlen = -1;
    minica_dn_to_text(&crt->subject, c->subject, sizeof(c->subject));
    minica_dn_to_text(&crt->issuer, c->issuer, sizeof(c->issuer));
    minica_serial_to_hex(crt->serial.p, crt->serial.len, c->serial, sizeof(c->serial));
    c->version = crt->version;
    c->not_before = minica_x509_time_to_unix(&crt->valid_from);
    c->not_after = minica_x509_time_to_unix(&crt->valid_to);
    c->validity = validity_of(c->not_before, c->not_after, r->now, r->expiring);
    key_info(&crt->pk, &c->key);
    sig_alg_of(crt->raw.p, crt->raw.len, c->sig_alg, sizeof(c->sig_alg));
    minica_sha256_hex(crt->raw.p, crt->raw.len, c->fingerprint_sha256);
    c->self_signed = same_name(&crt->subject_raw, &crt->issuer_raw) &&
                     verify_signed(crt->raw.p, crt->raw.len, &crt->pk) == MINICA_SIG_VALID;
    struct minica_der_signed s;
    struct minica_err e;
    const unsigned char *p, *end;
    if (minica_der_split_signed(crt->raw.p, crt->raw.len, &s, &e) != 0 ||
        tbs_extensions(&s.body, 0xa3, &p, &end) <= 0)
        return MINICA_OK;
    /* mbedTLS parsed the extensions already: a failure here is memory. */
    return each_extension(p, end, cert_extension, c) == MINICA_ENOMEM ? MINICA_ENOMEM : MINICA_OK;
}

static int fill_crl(const mbedtls_x509_crl *crl, const struct minica_inspect_report *r,
                    struct minica_inspect_crl *c)
{
    memset(c, 0, sizeof(*c));
    minica_dn_to_text(&crl->issuer, c->issuer, sizeof(c->issuer));
    c->this_update = minica_x509_time_to_unix(&crl->this_update);
    if (crl->next_update.year != 0)
        c->next_update = minica_x509_time_to_unix(&crl->next_update);
    c->state = r->now < c->this_update                          ? MINICA_CRL_NOT_YET_VALID
               : c->next_update != 0 && r->now > c->next_update ? MINICA_CRL_STALE
                                                                : MINICA_CRL_CURRENT;
    sig_alg_of(crl->raw.p, crl->raw.len, c->sig_alg, sizeof(c->sig_alg));
    struct minica_der_signed s;
    struct minica_err e;
    const unsigned char *p, *end;
    if (minica_der_split_signed(crl->raw.p, crl->raw.len, &s, &e) == 0 &&
        tbs_extensions(&s.body, 0xa0, &p, &end) > 0)
        each_extension(p, end, crl_extension, c);
    size_t n = 0;
    for (const mbedtls_x509_crl_entry *en = &crl->entry; en != NULL; en = en->next)
        if (en->serial.len > 0)
            n++;
    if (n == 0)
        return MINICA_OK;
    c->revoked = calloc(n, sizeof(*c->revoked));
    if (c->revoked == NULL)
        return MINICA_ENOMEM;
    const unsigned char *raw_end = crl->raw.p + crl->raw.len;
    for (const mbedtls_x509_crl_entry *en = &crl->entry; en != NULL; en = en->next) {
        if (en->serial.len == 0)
            continue;
        struct minica_inspect_revoked *rv = &c->revoked[c->n_revoked++];
        minica_serial_to_hex(en->serial.p, en->serial.len, rv->serial, sizeof(rv->serial));
        rv->revoked_at = minica_x509_time_to_unix(&en->revocation_date);
        rv->reason = -1;
        /* entry_ext points at the crlEntryExtensions SEQUENCE's tag. */
        unsigned char *q = en->entry_ext.p;
        size_t l;
        if (q != NULL && q >= crl->raw.p && q < raw_end &&
            mbedtls_asn1_get_tag(&q, raw_end, &l,
                                 MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) == 0)
            each_extension(q, q + l, entry_extension, &rv->reason);
    }
    return MINICA_OK;
}

/* ---- input ---- */

static const unsigned char *find_bytes(const unsigned char *p, const unsigned char *end,
                                       const char *s)
{
    size_t n = strlen(s);
    if (p >= end || (size_t)(end - p) < n)
        return NULL;
    return memmem(p, (size_t)(end - p), s, n);
}

/* What was found in the input, parsed by mbedTLS. */
struct objects {
    mbedtls_x509_crt crt;
    mbedtls_x509_crl crl;
    mbedtls_x509_csr csr;
    unsigned char *csr_der; /* the CSR as it was, for its signature and extensions */
    size_t csr_len, csr_exts, csr_exts_len; /* csr_exts: offset in csr_der, 0 none */
    size_t n_crt, n_crl, n_csr;
};

enum want { WANT_ANY, WANT_CERTS };

static int add_der(struct objects *o, const unsigned char *der, size_t len, const char *label,
                   enum want want, struct minica_err *err)
{
    int crt = label == NULL || strcmp(label, "CERTIFICATE") == 0;
    int crl = want == WANT_ANY && (label == NULL || strcmp(label, "X509 CRL") == 0);
    int csr = want == WANT_ANY && (label == NULL || strcmp(label, "CERTIFICATE REQUEST") == 0 ||
                                   strcmp(label, "NEW CERTIFICATE REQUEST") == 0);
    struct minica_der_signed s;
    if (minica_der_split_signed(der, len, &s, err) != 0)
        return MINICA_EINVAL;
    if (crt) {
        if (o->n_crt >= MINICA_INSPECT_CERTS_MAX)
            return minica_seterr(err, MINICA_EINVAL, "more than %d certificates",
                                 MINICA_INSPECT_CERTS_MAX);
        if (minica_crt_parse_der(&o->crt, der, len, err) == 0) {
            o->n_crt++;
            return MINICA_OK;
        }
    }
    if (crl) {
        if (o->n_crl >= MINICA_INSPECT_CRLS_MAX)
            return minica_seterr(err, MINICA_EINVAL, "more than %d CRLs", MINICA_INSPECT_CRLS_MAX);
        int ret = mbedtls_x509_crl_parse_der(&o->crl, der, len);
        if (ret == 0) {
            o->n_crl++;
            return MINICA_OK;
        }
        minica_seterr_mbedtls(err, MINICA_EINVAL, ret, "cannot parse the CRL");
    }
    if (csr && o->n_csr == 0) {
        const unsigned char *exts;
        size_t exts_len;
        if (minica_csr_parse_der_unverified(&o->csr, der, len, &exts, &exts_len, err) == 0) {
            o->csr_der = malloc(len);
            if (o->csr_der == NULL)
                return minica_seterr(err, MINICA_ENOMEM, "out of memory");
            memcpy(o->csr_der, der, len);
            o->csr_len = len;
            o->csr_exts = exts != NULL ? (size_t)(exts - der) : 0;
            o->csr_exts_len = exts_len;
            o->n_csr++;
            return MINICA_OK;
        }
    } else if (csr) {
        return minica_seterr(err, MINICA_EINVAL, "more than one CSR");
    }
    return MINICA_EINVAL;
}

/* Every CERTIFICATE, X509 CRL and CERTIFICATE REQUEST block; others (a
 * private key in a bundle, parameters) are skipped. */
static int add_pem(struct objects *o, const unsigned char *data, size_t len, enum want want,
                   struct minica_err *err)
{
    static const char begin[] = "-----BEGIN ";
    const unsigned char *p = data, *end = data + len;
    size_t block = 0;
    while ((p = find_bytes(p, end, begin)) != NULL) {
        block++;
        const unsigned char *label = p + strlen(begin);
        const unsigned char *dashes = find_bytes(label, end, "-----");
        if (dashes == NULL || dashes - label > 40)
            return minica_seterr(err, MINICA_EINVAL, "PEM block %zu: malformed BEGIN line", block);
        char name[48], stop[80];
        memcpy(name, label, (size_t)(dashes - label));
        name[dashes - label] = '\0';
        snprintf(stop, sizeof(stop), "-----END %s-----", name);
        const unsigned char *b64 = dashes + 5, *b64_end = find_bytes(b64, end, stop);
        if (b64_end == NULL)
            return minica_seterr(err, MINICA_EINVAL, "PEM block %zu (%.40s): no END line", block,
                                 name);
        p = b64_end + strlen(stop);
        int known = strcmp(name, "CERTIFICATE") == 0 ||
                    (want == WANT_ANY &&
                     (strcmp(name, "X509 CRL") == 0 || strcmp(name, "CERTIFICATE REQUEST") == 0 ||
                      strcmp(name, "NEW CERTIFICATE REQUEST") == 0));
        if (!known)
            continue;
        size_t b64_len = (size_t)(b64_end - b64), der_len = 0;
        unsigned char *der = malloc(b64_len / 4 * 3 + 3);
        if (der == NULL)
            return minica_seterr(err, MINICA_ENOMEM, "out of memory");
        int ret = mbedtls_base64_decode(der, b64_len / 4 * 3 + 3, &der_len, b64, b64_len);
        if (ret != 0) {
            free(der);
            return minica_seterr_mbedtls(err, MINICA_EINVAL, ret, "PEM block %zu (%s)", block,
                                         name);
        }
        ret = add_der(o, der, der_len, name, want, err);
        free(der);
        if (ret != 0) {
            if (ret != MINICA_ENOMEM)
                minica_err_prefix(err, "PEM block %zu (%s)", block, name);
            return ret;
        }
    }
    if (o->n_crt + o->n_crl + o->n_csr == 0)
        return minica_seterr(err, MINICA_EINVAL,
                             want == WANT_ANY ? NOT_RECOGNIZED : "not a certificate (PEM or DER)");
    return MINICA_OK;
}

static int load(struct objects *o, const unsigned char *data, size_t len, enum want want,
                struct minica_err *err)
{
    if (len > MINICA_INSPECT_INPUT_MAX)
        return minica_seterr(err, MINICA_EINVAL, "larger than %d bytes", MINICA_INSPECT_INPUT_MAX);
    if (find_bytes(data, data + len, "-----BEGIN ") != NULL)
        return add_pem(o, data, len, want, err);
    int ret = add_der(o, data, len, NULL, want, err);
    if (ret == MINICA_ENOMEM)
        return ret;
    if (ret != 0)
        return minica_seterr(err, MINICA_EINVAL,
                             want == WANT_ANY ? NOT_RECOGNIZED : "not a certificate (PEM or DER)");
    return MINICA_OK;
}

static void objects_init(struct objects *o)
{
    memset(o, 0, sizeof(*o));
    mbedtls_x509_crt_init(&o->crt);
    mbedtls_x509_crl_init(&o->crl);
    mbedtls_x509_csr_init(&o->csr);
}

static void objects_free(struct objects *o)
{
    mbedtls_x509_crt_free(&o->crt);
    mbedtls_x509_crl_free(&o->crl);
    mbedtls_x509_csr_free(&o->csr);
    free(o->csr_der);
}

/* ---- verdicts ---- */

static void link_check(const mbedtls_x509_crt *child, const mbedtls_x509_crt *parent,
                       struct minica_inspect_link *l)
{
    l->names_match = same_name(&child->issuer_raw, &parent->subject_raw);
    l->signature = verify_signed(child->raw.p, child->raw.len, &parent->pk);
}

static const mbedtls_x509_crt *find_issuer(const mbedtls_x509_crt *list, const mbedtls_x509_buf *dn)
{
    for (const mbedtls_x509_crt *c = list; c != NULL && c->raw.len > 0; c = c->next)
        if (same_name(&c->subject_raw, dn))
            return c;
    return NULL;
}

static void join_lines(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '\n')
        s[--n] = '\0';
}

static int inspect_certs(struct objects *o, struct objects *root, struct objects *issuer,
                         struct minica_inspect_report *r)
{
    r->kind = o->n_crt > 1 ? MINICA_INSPECT_CHAIN : MINICA_INSPECT_CERT;
    r->certs = calloc(o->n_crt, sizeof(*r->certs));
    r->links = calloc(o->n_crt, sizeof(*r->links));
    if (r->certs == NULL || r->links == NULL)
        return MINICA_ENOMEM;
    const mbedtls_x509_crt *c = &o->crt, *last = NULL;
    r->ok = 1;
    r->chain_ok = 1;
    for (size_t i = 0; i < o->n_crt; i++, c = c->next) {
        r->n_certs++;
        if (fill_cert(c, r, &r->certs[i]) != 0)
            return MINICA_ENOMEM;
        if (r->certs[i].validity == MINICA_VALIDITY_EXPIRED ||
            r->certs[i].validity == MINICA_VALIDITY_NOT_YET_VALID)
            r->ok = 0;
        if (i + 1 < o->n_crt) {
            struct minica_inspect_link *l = &r->links[i];
            link_check(c, c->next, l);
            if ((!l->names_match || l->signature != MINICA_SIG_VALID) && r->chain_ok) {
                r->chain_ok = 0;
                r->broken_link = i;
            }
        }
        last = c;
    }
    if (!r->chain_ok)
        r->ok = 0;
    if (issuer != NULL) {
        r->issuer_checked = 1;
        const mbedtls_x509_crt *is = find_issuer(&issuer->crt, &last->issuer_raw);
        r->issuer_found = is != NULL;
        if (is != NULL)
            link_check(last, is, &r->issuer_link);
        if (is == NULL || r->issuer_link.signature != MINICA_SIG_VALID)
            r->ok = 0;
    }
    if (root != NULL) {
        r->root_checked = 1;
        uint32_t flags = 0;
        int ret = mbedtls_x509_crt_verify(&o->crt, &root->crt, NULL, NULL, &flags, NULL, NULL);
        r->root_ok = ret == 0 && flags == 0;
        if (!r->root_ok) {
            r->ok = 0;
            if (flags != 0)
                mbedtls_x509_crt_verify_info(r->root_flags, sizeof(r->root_flags), "", flags);
            else
                mbedtls_strerror(ret, r->root_flags, sizeof(r->root_flags));
            join_lines(r->root_flags);
        }
    }
    return MINICA_OK;
}

static int inspect_csr(struct objects *o, struct minica_inspect_report *r)
{
    struct minica_inspect_csr *c = &r->csr;
    r->kind = MINICA_INSPECT_CSR;
    minica_dn_to_text(&o->csr.subject, c->subject, sizeof(c->subject));
    key_info(&o->csr.pk, &c->key);
    sig_alg_of(o->csr_der, o->csr_len, c->sig_alg, sizeof(c->sig_alg));
    c->signature = verify_signed(o->csr_der, o->csr_len, &o->csr.pk);
    r->ok = c->signature == MINICA_SIG_VALID;
    if (o->csr_exts == 0)
        return MINICA_OK;
    unsigned char *p = o->csr_der + o->csr_exts;
    size_t l;
    if (mbedtls_asn1_get_tag(&p, p + o->csr_exts_len, &l,
                             MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) == 0 &&
        each_extension(p, p + l, csr_extension, c) == MINICA_ENOMEM)
        return MINICA_ENOMEM;
    return MINICA_OK;
}

static int inspect_crls(struct objects *o, struct objects *issuer, struct minica_inspect_report *r)
{
    r->kind = MINICA_INSPECT_CRL;
    r->crls = calloc(o->n_crl, sizeof(*r->crls));
    if (r->crls == NULL)
        return MINICA_ENOMEM;
    r->ok = 1;
    const mbedtls_x509_crl *crl = &o->crl;
    for (size_t i = 0; i < o->n_crl && crl != NULL; i++, crl = crl->next) {
        struct minica_inspect_crl *c = &r->crls[i];
        r->n_crls++;
        if (fill_crl(crl, r, c) != 0)
            return MINICA_ENOMEM;
        if (c->state != MINICA_CRL_CURRENT)
            r->ok = 0;
        if (issuer == NULL)
            continue;
        c->issuer_checked = 1;
        const mbedtls_x509_crt *is = find_issuer(&issuer->crt, &crl->issuer_raw);
        c->issuer_found = is != NULL;
        c->signature =
            is != NULL ? verify_signed(crl->raw.p, crl->raw.len, &is->pk) : MINICA_SIG_INVALID;
        if (c->signature != MINICA_SIG_VALID)
            r->ok = 0;
    }
    return MINICA_OK;
}

int minica_inspect(const unsigned char *data, size_t len, const struct minica_inspect_options *opts,
                   struct minica_inspect_report *out, struct minica_err *err)
{
    struct objects o, root, issuer;
    objects_init(&o);
    objects_init(&root);
    objects_init(&issuer);
    minica_inspect_report_init(out);
    out->now = opts->now;
    out->expiring = opts->expiring;
    int ret = load(&o, data, len, WANT_ANY, err);
    if (ret == 0 && (o.n_crt > 0) + (o.n_crl > 0) + (o.n_csr > 0) > 1)
        ret = minica_seterr(err, MINICA_EINVAL,
                            "holds more than one kind of object (certificates, CRLs, a CSR): "
                            "inspect one kind at a time");
    if (ret == 0 && opts->root != NULL &&
        (ret = load(&root, opts->root, opts->root_len, WANT_CERTS, err)) != 0)
        out->failed = MINICA_INSPECT_IN_ROOT;
    if (ret == 0 && opts->issuer != NULL &&
        (ret = load(&issuer, opts->issuer, opts->issuer_len, WANT_CERTS, err)) != 0)
        out->failed = MINICA_INSPECT_IN_ISSUER;
    if (ret != 0)
        goto out;
    struct objects *anchor = opts->root != NULL ? &root : NULL;
    struct objects *by = opts->issuer != NULL ? &issuer : NULL;
    if (o.n_crt > 0)
        ret = inspect_certs(&o, anchor, by, out);
    else if (o.n_csr > 0)
        ret = inspect_csr(&o, out);
    else
        ret = inspect_crls(&o, by != NULL ? by : anchor, out);
    if (ret != 0)
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
out:
    objects_free(&o);
    objects_free(&root);
    objects_free(&issuer);
    if (ret != 0) {
        enum minica_inspect_source failed = out->failed;
        minica_inspect_report_free(out);
        out->failed = failed;
    }
    return ret;
}
