/* The signer's checks on a TBS (signer_check.h). A whitelist, not a
 * blacklist: the TBS must parse, in strict DER and to its last byte, as a
 * leaf or a CRL of the shape minica's own writers (sign.c, crl.c) produce,
 * for this issuer. Anything else (a CA certificate, an OCSP responder, a
 * name the issuer may not vouch for, an indirect CRL) stays unsigned.
 * mbedtls_asn1_get_tag reads the TLVs; DER's minimal lengths, BOOLEANs and
 * INTEGERs are checked here, since mbedTLS accepts BER's wider forms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>

#include "base/compat.h"
#include "ca/signer_check.h"
#include "ca/x509.h"
#include "minica/der.h"
#include "minica/names.h"

#define SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define SET (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SET)
#define CTX(n) (MBEDTLS_ASN1_CONTEXT_SPECIFIC | (n))
#define CTX_C(n) (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | (n))

/* RFC 5280 4.2.1.12 */
#define OID_INVALIDITY_DATE MBEDTLS_OID_ID_CE "\x18"
#define OID_CRL_REASON MBEDTLS_OID_ID_CE "\x15"

static const unsigned char alg_ecdsa_sha256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                                 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const unsigned char alg_ecdsa_sha384[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                                 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
static const unsigned char alg_rsa_sha256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                               0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};

/* A TLV: where it starts and ends, and its contents. */
struct tlv {
    unsigned char tag;
    const unsigned char *start, *end; /* the whole TLV */
    unsigned char *c;                 /* contents */
    size_t len;
};

/* The TLV at *p with this tag (any tag when tag < 0); *p moves past it.
 * DER (X.690 10.1): the length in its shortest form, never indefinite. */
static int get(unsigned char **p, const unsigned char *end, int tag, struct tlv *t)
{
    unsigned char *start = *p;
    if (start >= end || (start[0] & 0x1f) == 0x1f) /* X.509 needs no multi-byte tags */
        return -1;
    t->tag = start[0];
    if (tag >= 0 && t->tag != tag)
        return -1;
    if (mbedtls_asn1_get_tag(p, end, &t->len, t->tag) != 0)
        return -1;
    size_t hdr = (size_t)(*p - start);
    size_t want = t->len < 0x80        ? 2
                  : t->len < 0x100     ? 3
                  : t->len < 0x10000   ? 4
                  : t->len < 0x1000000 ? 5
                                       : 6;
    if (hdr != want) {
        *p = start;
        return -1;
    }
    t->start = start;
    t->c = *p;
    *p += t->len;
    t->end = *p;
    return 0;
}

static int peek(unsigned char *p, const unsigned char *end, unsigned char tag)
{
    return p < end && *p == tag;
}

/* INTEGER (X.690 8.3.2: no redundant leading byte); *sign is -1, 0 or 1,
 * and *octets how many bytes it takes. */
static int get_int(unsigned char **p, const unsigned char *end, int *sign, size_t *octets)
{
    struct tlv t;
    if (get(p, end, MBEDTLS_ASN1_INTEGER, &t) != 0 || t.len == 0)
        return -1;
    if (t.len > 1 && ((t.c[0] == 0 && !(t.c[1] & 0x80)) || (t.c[0] == 0xff && (t.c[1] & 0x80))))
        return -1;
    *sign = t.c[0] & 0x80 ? -1 : t.len > 1 || t.c[0] != 0;
    *octets = t.len;
    return 0;
}

/* A BOOLEAN in DER (X.690 11.1: TRUE is FF). */
static int get_bool(unsigned char **p, const unsigned char *end, int *v)
{
    struct tlv t;
    if (get(p, end, MBEDTLS_ASN1_BOOLEAN, &t) != 0 || t.len != 1 || (t.c[0] != 0 && t.c[0] != 0xff))
        return -1;
    *v = t.c[0] != 0;
    return 0;
}

static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + doe - 719468;
}

static int digits(const unsigned char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Time in RFC 5280 4.1.2.5's profile: UTCTime YYMMDDHHMMSSZ through 2049,
 * GeneralizedTime YYYYMMDDHHMMSSZ from 2050. */
static int get_time(unsigned char **p, const unsigned char *end, int64_t *out)
{
    struct tlv t;
    if (get(p, end, -1, &t) != 0)
        return -1;
    int year;
    const unsigned char *s = t.c;
    if (t.tag == MBEDTLS_ASN1_UTC_TIME && t.len == 13) {
        int yy = digits(s, 2);
        if (yy < 0)
            return -1;
        year = yy < 50 ? 2000 + yy : 1900 + yy;
        s += 2;
    } else if (t.tag == MBEDTLS_ASN1_GENERALIZED_TIME && t.len == 15) {
        year = digits(s, 4);
        if (year < 2050)
            return -1;
        s += 4;
    } else {
        return -1;
    }
    int mon = digits(s, 2), day = digits(s + 2, 2), hour = digits(s + 4, 2), min = digits(s + 6, 2),
        sec = digits(s + 8, 2);
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (s[10] != 'Z' || mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hour < 0 ||
        hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 59)
        return -1;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon == 2 && day == 29 && !leap)
        return -1;
    *out = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
    return 0;
}

/* Name ::= SEQUENCE OF SET SIZE (1..MAX) OF SEQUENCE { OID, ANY } */
static int get_name(unsigned char **p, const unsigned char *end, struct tlv *name)
{
    if (get(p, end, SEQ, name) != 0)
        return -1;
    unsigned char *q = name->c;
    while (q < name->end) {
        struct tlv rdn, atv, oid, value;
        if (get(&q, name->end, SET, &rdn) != 0 || rdn.len == 0)
            return -1;
        unsigned char *r = rdn.c;
        while (r < rdn.end) {
            if (get(&r, rdn.end, SEQ, &atv) != 0)
                return -1;
            unsigned char *a = atv.c;
            if (get(&a, atv.end, MBEDTLS_ASN1_OID, &oid) != 0 || oid.len == 0 ||
                get(&a, atv.end, -1, &value) != 0 || a != atv.end)
                return -1;
        }
    }
    return 0;
}

static int same(const struct tlv *t, const unsigned char *b, size_t n)
{
    return (size_t)(t->end - t->start) == n && memcmp(t->start, b, n) == 0;
}

static int oid_is(const struct tlv *oid, const char *want, size_t n)
{
    return oid->len == n && memcmp(oid->c, want, n) == 0;
}
#define OID_IS(t, o) oid_is((t), (o), MBEDTLS_OID_SIZE(o))

static void oid_text(const struct tlv *oid, char *buf, size_t size)
{
    mbedtls_asn1_buf b = {.tag = MBEDTLS_ASN1_OID, .len = oid->len, .p = oid->c};
    if (mbedtls_oid_get_numeric_string(buf, size, &b) < 0)
        snprintf(buf, size, "(unreadable OID)");
}

/* Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE,
 * extnValue OCTET STRING }; DER omits a FALSE critical (X.690 11.5). */
struct ext {
    struct tlv oid, value;
    int critical;
};
static int get_ext(unsigned char **p, const unsigned char *end, struct ext *e)
{
    struct tlv seq;
    if (get(p, end, SEQ, &seq) != 0)
        return -1;
    unsigned char *q = seq.c;
    if (get(&q, seq.end, MBEDTLS_ASN1_OID, &e->oid) != 0 || e->oid.len == 0)
        return -1;
    e->critical = 0;
    if (peek(q, seq.end, MBEDTLS_ASN1_BOOLEAN) &&
        (get_bool(&q, seq.end, &e->critical) != 0 || !e->critical))
        return -1;
    if (get(&q, seq.end, MBEDTLS_ASN1_OCTET_STRING, &e->value) != 0 || q != seq.end)
        return -1;
    return 0;
}

/* AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] } and nothing
 * else, as mbedTLS and crl.c write it; it must name the issuer's key. */
static int check_aki(const struct minica_signer_check *c, const struct tlv *value, const char *what,
                     struct minica_err *err)
{
    unsigned char *p = value->c;
    struct tlv seq, id;
    if (get(&p, value->end, SEQ, &seq) != 0 || p != value->end)
        return minica_seterr(err, MINICA_EINVAL, "%s: malformed authorityKeyIdentifier", what);
    p = seq.c;
    if (get(&p, seq.end, CTX(0), &id) != 0 || p != seq.end)
        return minica_seterr(err, MINICA_EPOLICY,
                             "%s: the authorityKeyIdentifier must be a keyIdentifier alone", what);
    if (id.len != c->key_id_len || memcmp(id.c, c->key_id, id.len) != 0)
        return minica_seterr(err, MINICA_EPOLICY,
                             "%s: the authorityKeyIdentifier is not this issuer's key", what);
    return MINICA_OK;
}

static int check_serial(unsigned char **p, const unsigned char *end, const char *what,
                        struct minica_err *err)
{
    int sign;
    size_t octets;
    if (get_int(p, end, &sign, &octets) != 0)
        return minica_seterr(err, MINICA_EINVAL, "%s: malformed serial number", what);
    /* RFC 5280 4.1.2.2 */
    if (sign <= 0 || octets > 20)
        return minica_seterr(err, MINICA_EPOLICY,
                             "%s: the serial number must be positive and at most 20 octets", what);
    return MINICA_OK;
}

/* The names of a subjectAltName: GeneralNames in strict DER, DNS and IP
 * names minica would issue, each within the issuer's nameConstraints (the
 * relying party checks them too, but need not). */
static int check_san(const struct minica_signer_check *c, const struct tlv *value,
                     struct minica_err *err)
{
    unsigned char *p = value->c;
    struct tlv seq, gn;
    if (get(&p, value->end, SEQ, &seq) != 0 || p != value->end || seq.len == 0)
        return minica_seterr(err, MINICA_EINVAL, "leaf: malformed subjectAltName");
    for (unsigned char *q = seq.c; q < seq.end;)
        if (get(&q, seq.end, -1, &gn) != 0)
            return minica_seterr(err, MINICA_EINVAL, "leaf: malformed subjectAltName");
    /* Text is at most 3 times the DER: an IPv4 name's 6 bytes become up
     * to 16 characters with the comma. */
    size_t size = 3 * value->len + 16;
    char *names = malloc(size);
    if (names == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    int ret = minica_der_parse_san(value->c, value->len, names, size, err);
    if (ret != 0) {
        minica_err_prefix(err, "leaf");
        ret = MINICA_EPOLICY;
        goto out;
    }
    char *save = NULL;
    for (char *t = strtok_r(names, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        struct minica_name name;
        if ((ret = minica_name_parse(t, &name, err)) != 0 ||
            (ret = minica_constraints_check(&c->nc, &name, err)) != 0) {
            minica_err_prefix(err, "leaf");
            ret = MINICA_EPOLICY;
            goto out;
        }
    }
out:
    free(names);
    return ret;
}

enum {
    EXT_BC = 1,
    EXT_KU = 2,
    EXT_EKU = 4,
    EXT_SAN = 8,
    EXT_SKI = 16,
    EXT_AKI = 32,
};

static int check_leaf_ext(const struct minica_signer_check *c, const struct ext *e, unsigned *seen,
                          struct minica_err *err)
{
    unsigned bit;
    if (OID_IS(&e->oid, MBEDTLS_OID_BASIC_CONSTRAINTS))
        bit = EXT_BC;
    else if (OID_IS(&e->oid, MBEDTLS_OID_KEY_USAGE))
        bit = EXT_KU;
    else if (OID_IS(&e->oid, MBEDTLS_OID_EXTENDED_KEY_USAGE))
        bit = EXT_EKU;
    else if (OID_IS(&e->oid, MBEDTLS_OID_SUBJECT_ALT_NAME))
        bit = EXT_SAN;
    else if (OID_IS(&e->oid, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER))
        bit = EXT_SKI;
    else if (OID_IS(&e->oid, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER))
        bit = EXT_AKI;
    else if (OID_IS(&e->oid, MBEDTLS_OID_NAME_CONSTRAINTS))
        return minica_seterr(err, MINICA_EPOLICY,
                             "leaf: nameConstraints belong in CA certificates");
    else {
        char oid[64];
        oid_text(&e->oid, oid, sizeof(oid));
        return minica_seterr(err, MINICA_EPOLICY, "leaf: unexpected extension %s", oid);
    }
    /* RFC 5280 4.2: at most one instance of an extension. */
    if (*seen & bit)
        return minica_seterr(err, MINICA_EINVAL, "leaf: an extension appears twice");
    *seen |= bit;

    unsigned char *p = e->value.c;
    const unsigned char *end = e->value.end;
    struct tlv t;
    switch (bit) {
    case EXT_BC: {
        int ca = 0;
        if (!e->critical)
            return minica_seterr(err, MINICA_EPOLICY, "leaf: basicConstraints must be critical");
        if (get(&p, end, SEQ, &t) != 0 || p != end)
            return minica_seterr(err, MINICA_EINVAL, "leaf: malformed basicConstraints");
        unsigned char *q = t.c;
        if (peek(q, t.end, MBEDTLS_ASN1_BOOLEAN) && get_bool(&q, t.end, &ca) != 0)
            return minica_seterr(err, MINICA_EINVAL, "leaf: malformed basicConstraints");
        if (ca)
            return minica_seterr(err, MINICA_EPOLICY,
                                 "leaf: basicConstraints says cA TRUE: a CA certificate");
        if (q != t.end) /* pathLenConstraint: meaningful only with cA */
            return minica_seterr(err, MINICA_EPOLICY,
                                 "leaf: basicConstraints has a pathLenConstraint");
        return MINICA_OK;
    }
    case EXT_KU: {
        /* A named BIT STRING in DER: no trailing zero bits (X.690 11.2.2). */
        if (get(&p, end, MBEDTLS_ASN1_BIT_STRING, &t) != 0 || p != end || t.len < 2 || t.len > 3 ||
            t.c[0] > 7 || !((t.c[t.len - 1] >> t.c[0]) & 1))
            return minica_seterr(err, MINICA_EINVAL, "leaf: malformed keyUsage");
        if (t.c[1] & (MINICA_KU_KEY_CERT_SIGN | MINICA_KU_CRL_SIGN))
            return minica_seterr(err, MINICA_EPOLICY,
                                 "leaf: keyUsage has keyCertSign or cRLSign: a CA's usages");
        if (t.len > 2 || (t.c[1] & ~(MINICA_KU_DIGITAL_SIGNATURE | MINICA_KU_KEY_ENCIPHERMENT)))
            return minica_seterr(
                err, MINICA_EPOLICY,
                "leaf: keyUsage allows more than digitalSignature and keyEncipherment");
        return MINICA_OK;
    }
    case EXT_EKU:
        /* Not OCSP signing (a delegated responder would answer for every
         * certificate of the issuer), code signing, or any purpose. */
        if (get(&p, end, SEQ, &t) != 0 || p != end || t.len == 0)
            return minica_seterr(err, MINICA_EINVAL, "leaf: malformed extendedKeyUsage");
        for (unsigned char *q = t.c; q < t.end;) {
            struct tlv oid;
            if (get(&q, t.end, MBEDTLS_ASN1_OID, &oid) != 0)
                return minica_seterr(err, MINICA_EINVAL, "leaf: malformed extendedKeyUsage");
            if (!OID_IS(&oid, MBEDTLS_OID_SERVER_AUTH) && !OID_IS(&oid, MBEDTLS_OID_CLIENT_AUTH))
                return minica_seterr(err, MINICA_EPOLICY,
                                     "leaf: extendedKeyUsage allows more than serverAuth and "
                                     "clientAuth");
        }
        return MINICA_OK;
    case EXT_SAN:
        return check_san(c, &e->value, err);
    case EXT_SKI:
        if (e->critical || get(&p, end, MBEDTLS_ASN1_OCTET_STRING, &t) != 0 || p != end ||
            t.len == 0 || t.len > 64)
            return minica_seterr(err, MINICA_EINVAL, "leaf: malformed subjectKeyIdentifier");
        return MINICA_OK;
    default:
        if (e->critical)
            return minica_seterr(err, MINICA_EINVAL, "leaf: a critical authorityKeyIdentifier");
        return check_aki(c, &e->value, "leaf", err);
    }
}

static int check_leaf(const struct minica_signer_check *c, unsigned char *p,
                      const unsigned char *end, int64_t now, struct minica_err *err)
{
    struct tlv t, issuer, subject, spki;
    int ret;
    /* version [0] EXPLICIT INTEGER: v3 is 2 */
    static const unsigned char v3[] = {0xa0, 0x03, 0x02, 0x01, 0x02};
    if (get(&p, end, CTX_C(0), &t) != 0 || !same(&t, v3, sizeof(v3)))
        return minica_seterr(err, MINICA_EPOLICY, "leaf: not an X.509 v3 TBSCertificate");
    if ((ret = check_serial(&p, end, "leaf", err)) != 0)
        return ret;
    if (get(&p, end, SEQ, &t) != 0 || !same(&t, c->alg, c->alg_len))
        return minica_seterr(err, MINICA_EPOLICY,
                             "leaf: the signature algorithm is not the one this key makes");
    if (get_name(&p, end, &issuer) != 0)
        return minica_seterr(err, MINICA_EINVAL, "leaf: malformed issuer name");
    if (!same(&issuer, c->issuer_name, c->issuer_name_len))
        return minica_seterr(err, MINICA_EPOLICY, "leaf: the issuer is not this signer's CA");

    int64_t not_before, not_after;
    if (get(&p, end, SEQ, &t) != 0)
        return minica_seterr(err, MINICA_EINVAL, "leaf: malformed validity");
    unsigned char *q = t.c;
    if (get_time(&q, t.end, &not_before) != 0 || get_time(&q, t.end, &not_after) != 0 || q != t.end)
        return minica_seterr(err, MINICA_EINVAL, "leaf: malformed validity");
    if (not_before < now - MINICA_SIGNER_BACKDATE_MAX || not_before > now + MINICA_SIGNER_SKEW_MAX)
        return minica_seterr(err, MINICA_EPOLICY, "leaf: notBefore is %+lld s from now",
                             (long long)(not_before - now));
    if (not_after <= not_before)
        return minica_seterr(err, MINICA_EPOLICY, "leaf: notAfter is not after notBefore");
    if (not_after > c->issuer_not_after)
        return minica_seterr(err, MINICA_EPOLICY, "leaf: notAfter is past the issuer's");
    if (not_after - not_before > c->max_ttl + MINICA_SIGNER_BACKDATE_MAX)
        return minica_seterr(err, MINICA_EPOLICY,
                             "leaf: valid for %lld s, longer than the maximum TTL (%lld s)",
                             (long long)(not_after - not_before), (long long)c->max_ttl);

    if (get_name(&p, end, &subject) != 0)
        return minica_seterr(err, MINICA_EINVAL, "leaf: malformed subject name");
    if (same(&subject, c->issuer_name, c->issuer_name_len))
        return minica_seterr(err, MINICA_EPOLICY, "leaf: the subject is the issuer's name");
    if (get(&p, end, SEQ, &spki) != 0)
        return minica_seterr(err, MINICA_EINVAL, "leaf: malformed subjectPublicKeyInfo");
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    int bad_key = mbedtls_pk_parse_public_key(&pk, spki.start, (size_t)(spki.end - spki.start));
    mbedtls_pk_free(&pk);
    if (bad_key != 0)
        return minica_seterr(err, MINICA_EINVAL, "leaf: the subject public key does not parse");

    /* No issuerUniqueID [1] or subjectUniqueID [2]: only extensions [3]. */
    struct tlv exts, list;
    if (get(&p, end, CTX_C(3), &exts) != 0 || p != end)
        return minica_seterr(err, MINICA_EINVAL,
                             "leaf: expected the extensions to end the TBSCertificate");
    q = exts.c;
    if (get(&q, exts.end, SEQ, &list) != 0 || q != exts.end || list.len == 0)
        return minica_seterr(err, MINICA_EINVAL, "leaf: malformed extensions");
    unsigned seen = 0;
    for (q = list.c; q < list.end;) {
        struct ext e;
        if (get_ext(&q, list.end, &e) != 0)
            return minica_seterr(err, MINICA_EINVAL, "leaf: malformed extension");
        if ((ret = check_leaf_ext(c, &e, &seen, err)) != 0)
            return ret;
    }
    if (!(seen & EXT_BC))
        return minica_seterr(err, MINICA_EPOLICY, "leaf: no basicConstraints");
    if (!(seen & EXT_KU))
        return minica_seterr(err, MINICA_EPOLICY, "leaf: no keyUsage");
    if (!(seen & EXT_EKU))
        return minica_seterr(err, MINICA_EPOLICY, "leaf: no extendedKeyUsage");
    /* The names are what the constraints were checked on. */
    if (!(seen & EXT_SAN))
        return minica_seterr(err, MINICA_EPOLICY, "leaf: no subjectAltName");
    return MINICA_OK;
}

/* revokedCertificates' entries: SEQUENCE { serial, revocationDate,
 * crlEntryExtensions OPTIONAL }. No certificateIssuer: an indirect CRL
 * would revoke in other issuers' names (RFC 5280 5.3.3). */
static int check_crl_entries(const struct tlv *list, struct minica_err *err)
{
    for (unsigned char *p = list->c; p < list->end;) {
        struct tlv entry;
        int64_t when;
        int ret;
        if (get(&p, list->end, SEQ, &entry) != 0)
            return minica_seterr(err, MINICA_EINVAL, "CRL: malformed entry");
        unsigned char *q = entry.c;
        if ((ret = check_serial(&q, entry.end, "CRL entry", err)) != 0)
            return ret;
        if (get_time(&q, entry.end, &when) != 0)
            return minica_seterr(err, MINICA_EINVAL, "CRL: malformed revocation date");
        if (q == entry.end)
            continue;
        struct tlv exts;
        if (get(&q, entry.end, SEQ, &exts) != 0 || q != entry.end || exts.len == 0)
            return minica_seterr(err, MINICA_EINVAL, "CRL: malformed entry extensions");
        unsigned seen = 0;
        for (unsigned char *r = exts.c; r < exts.end;) {
            struct ext e;
            struct tlv v;
            if (get_ext(&r, exts.end, &e) != 0 || e.critical)
                return minica_seterr(err, MINICA_EINVAL, "CRL: malformed entry extension");
            unsigned char *s = e.value.c;
            if (OID_IS(&e.oid, OID_CRL_REASON) && !(seen & 1)) {
                seen |= 1;
                /* CRLReason: 0..10, 7 unused (RFC 5280 5.3.1) */
                if (get(&s, e.value.end, MBEDTLS_ASN1_ENUMERATED, &v) != 0 || s != e.value.end ||
                    v.len != 1 || v.c[0] > 10 || v.c[0] == 7)
                    return minica_seterr(err, MINICA_EINVAL, "CRL: malformed reasonCode");
            } else if (OID_IS(&e.oid, OID_INVALIDITY_DATE) && !(seen & 2)) {
                seen |= 2;
                if (!peek(s, e.value.end, MBEDTLS_ASN1_GENERALIZED_TIME) ||
                    get_time(&s, e.value.end, &when) != 0 || s != e.value.end)
                    return minica_seterr(err, MINICA_EINVAL, "CRL: malformed invalidityDate");
            } else {
                char oid[64];
                oid_text(&e.oid, oid, sizeof(oid));
                return minica_seterr(err, MINICA_EPOLICY,
                                     "CRL: unexpected or repeated entry extension %s", oid);
            }
        }
    }
    return MINICA_OK;
}

static int check_crl(const struct minica_signer_check *c, unsigned char *p,
                     const unsigned char *end, int64_t now, struct minica_err *err)
{
    struct tlv t, issuer;
    int ret;
    static const unsigned char v2[] = {0x02, 0x01, 0x01};
    if (get(&p, end, MBEDTLS_ASN1_INTEGER, &t) != 0 || !same(&t, v2, sizeof(v2)))
        return minica_seterr(err, MINICA_EPOLICY, "CRL: not an X.509 v2 TBSCertList");
    if (get(&p, end, SEQ, &t) != 0 || !same(&t, c->alg, c->alg_len))
        return minica_seterr(err, MINICA_EPOLICY,
                             "CRL: the signature algorithm is not the one this key makes");
    if (get_name(&p, end, &issuer) != 0)
        return minica_seterr(err, MINICA_EINVAL, "CRL: malformed issuer name");
    if (!same(&issuer, c->issuer_name, c->issuer_name_len))
        return minica_seterr(err, MINICA_EPOLICY, "CRL: the issuer is not this signer's CA");
    int64_t this_update, next_update;
    if (get_time(&p, end, &this_update) != 0)
        return minica_seterr(err, MINICA_EINVAL, "CRL: malformed thisUpdate");
    /* RFC 5280 5.1.2.5: conforming CAs MUST include nextUpdate. */
    if (get_time(&p, end, &next_update) != 0)
        return minica_seterr(err, MINICA_EINVAL, "CRL: malformed or missing nextUpdate");
    if (this_update < now - MINICA_SIGNER_BACKDATE_MAX ||
        this_update > now + MINICA_SIGNER_SKEW_MAX)
        return minica_seterr(err, MINICA_EPOLICY, "CRL: thisUpdate is %+lld s from now",
                             (long long)(this_update - now));
    if (next_update <= this_update)
        return minica_seterr(err, MINICA_EPOLICY, "CRL: nextUpdate is not after thisUpdate");
    if (next_update - this_update > c->max_crl_next_update)
        return minica_seterr(
            err, MINICA_EPOLICY, "CRL: nextUpdate is %lld s after thisUpdate, more than %lld s",
            (long long)(next_update - this_update), (long long)c->max_crl_next_update);
    if (peek(p, end, SEQ)) {
        if (get(&p, end, SEQ, &t) != 0)
            return minica_seterr(err, MINICA_EINVAL, "CRL: malformed revokedCertificates");
        if ((ret = check_crl_entries(&t, err)) != 0)
            return ret;
    }
    struct tlv exts, list;
    if (get(&p, end, CTX_C(0), &exts) != 0 || p != end)
        return minica_seterr(err, MINICA_EINVAL,
                             "CRL: expected the CRL extensions to end the TBSCertList");
    unsigned char *q = exts.c;
    if (get(&q, exts.end, SEQ, &list) != 0 || q != exts.end)
        return minica_seterr(err, MINICA_EINVAL, "CRL: malformed extensions");
    int have_number = 0, have_aki = 0;
    for (q = list.c; q < list.end;) {
        struct ext e;
        if (get_ext(&q, list.end, &e) != 0)
            return minica_seterr(err, MINICA_EINVAL, "CRL: malformed extension");
        unsigned char *s = e.value.c;
        if (OID_IS(&e.oid, MBEDTLS_OID_CRL_NUMBER) && !have_number) {
            int sign;
            size_t octets;
            have_number = 1;
            /* RFC 5280 5.2.3: non-critical, 0 to 20 octets */
            if (e.critical || get_int(&s, e.value.end, &sign, &octets) != 0 || s != e.value.end ||
                sign < 0 || octets > 20)
                return minica_seterr(err, MINICA_EINVAL, "CRL: malformed cRLNumber");
        } else if (OID_IS(&e.oid, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER) && !have_aki) {
            have_aki = 1;
            if (e.critical)
                return minica_seterr(err, MINICA_EINVAL, "CRL: a critical authorityKeyIdentifier");
            if ((ret = check_aki(c, &e.value, "CRL", err)) != 0)
                return ret;
        } else {
            /* deltaCRLIndicator, issuingDistributionPoint (indirect CRLs),
             * freshestCRL: nothing minica writes. */
            char oid[64];
            oid_text(&e.oid, oid, sizeof(oid));
            return minica_seterr(err, MINICA_EPOLICY, "CRL: unexpected or repeated extension %s",
                                 oid);
        }
    }
    if (!have_number || !have_aki)
        return minica_seterr(err, MINICA_EPOLICY,
                             "CRL: cRLNumber and authorityKeyIdentifier are required");
    return MINICA_OK;
}

int minica_signer_check_tbs(const struct minica_signer_check *check,
                            enum minica_wire_profile profile, const unsigned char *tbs, size_t len,
                            int64_t now, struct minica_err *err)
{
    unsigned char *p = (unsigned char *)tbs;
    const unsigned char *end = tbs + len;
    struct tlv seq;
    const char *what = profile == MINICA_WIRE_LEAF ? "leaf" : "CRL";
    if (profile != MINICA_WIRE_LEAF && profile != MINICA_WIRE_CRL)
        return minica_seterr(err, MINICA_EINVAL, "unknown signing profile %d", (int)profile);
    if (get(&p, end, SEQ, &seq) != 0)
        return minica_seterr(err, MINICA_EINVAL, "%s: not a DER SEQUENCE", what);
    if (p != end)
        return minica_seterr(err, MINICA_EINVAL, "%s: %zu trailing bytes after the TBS", what,
                             (size_t)(end - p));
    if (profile == MINICA_WIRE_LEAF)
        return check_leaf(check, seq.c, seq.end, now, err);
    return check_crl(check, seq.c, seq.end, now, err);
}

/* The issuer certificate's subjectKeyIdentifier, from its own DER (2.28
 * keeps no parsed copy); 0 and *len 0 when it has none. */
static int issuer_ski(const mbedtls_x509_crt *crt, unsigned char *out, size_t size, size_t *len)
{
    unsigned char *p = crt->tbs.p;
    const unsigned char *end = crt->tbs.p + crt->tbs.len;
    struct tlv t, seq;
    *len = 0;
    if (get(&p, end, SEQ, &seq) != 0)
        return -1;
    p = seq.c;
    if (peek(p, seq.end, CTX_C(0)) && get(&p, seq.end, CTX_C(0), &t) != 0)
        return -1;
    for (int i = 0; i < 6; i++) /* serial .. subjectPublicKeyInfo */
        if (get(&p, seq.end, -1, &t) != 0)
            return -1;
    while (p < seq.end) {
        if (get(&p, seq.end, -1, &t) != 0)
            return -1;
        if (t.tag != CTX_C(3))
            continue;
        unsigned char *q = t.c;
        struct tlv list;
        if (get(&q, t.end, SEQ, &list) != 0)
            return -1;
        for (q = list.c; q < list.end;) {
            struct ext e;
            struct tlv id;
            if (get_ext(&q, list.end, &e) != 0)
                return -1;
            if (!OID_IS(&e.oid, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER))
                continue;
            unsigned char *v = e.value.c;
            if (get(&v, e.value.end, MBEDTLS_ASN1_OCTET_STRING, &id) != 0 || id.len == 0 ||
                id.len > size)
                return -1;
            memcpy(out, id.c, id.len);
            *len = id.len;
            return 0;
        }
    }
    return 0;
}

/* Without a subjectKeyIdentifier, the key id mbedTLS and crl.c put in the
 * AKI: SHA-1 of the subjectPublicKey (RFC 5280 4.2.1.2, method 1). */
static int computed_key_id(const mbedtls_x509_crt *crt, unsigned char out[20])
{
    unsigned char *p = crt->pk_raw.p;
    const unsigned char *end = p + crt->pk_raw.len;
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0 ||
        mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
        return -1;
    p += len;
    if (mbedtls_asn1_get_bitstring_null(&p, end, &len) != 0)
        return -1;
    const mbedtls_md_info_t *sha1 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
    return sha1 != NULL && minica_compat_md(sha1, p, len, out) == 0 ? 0 : -1;
}

int minica_signer_check_init(struct minica_signer_check *check, const mbedtls_x509_crt *issuer,
                             enum minica_key_type key_type, int64_t max_ttl,
                             int64_t max_crl_next_update, struct minica_err *err)
{
    memset(check, 0, sizeof(*check));
    enum minica_key_type crt_type;
    if (minica_key_type_of(&issuer->pk, &crt_type) != 0 || crt_type != key_type)
        return minica_seterr(err, MINICA_EINVAL, "the signer's key is %s, its certificate's is not",
                             minica_key_type_name(key_type));
    const unsigned char *alg;
    switch (key_type) {
    case MINICA_KEY_EC_P256:
        alg = alg_ecdsa_sha256;
        check->alg_len = sizeof(alg_ecdsa_sha256);
        break;
    case MINICA_KEY_EC_P384:
        alg = alg_ecdsa_sha384;
        check->alg_len = sizeof(alg_ecdsa_sha384);
        break;
    case MINICA_KEY_RSA_2048:
    case MINICA_KEY_RSA_3072:
    case MINICA_KEY_RSA_4096:
        alg = alg_rsa_sha256;
        check->alg_len = sizeof(alg_rsa_sha256);
        break;
    default:
        return minica_seterr(err, MINICA_EINVAL, "the signer's key type is unknown");
    }
    memcpy(check->alg, alg, check->alg_len);
    if (max_ttl <= 0 || max_crl_next_update <= 0)
        return minica_seterr(err, MINICA_EINVAL, "the signer's maximum lifetimes must be positive");
    if (!minica_compat_crt_is_ca(issuer))
        return minica_seterr(err, MINICA_EINVAL, "the signer's certificate is not a CA's");
    if (issuer_ski(issuer, check->key_id, sizeof(check->key_id), &check->key_id_len) != 0)
        return minica_seterr(err, MINICA_EINVAL, "cannot read the signer's certificate");
    if (check->key_id_len == 0) {
        if (computed_key_id(issuer, check->key_id) != 0)
            return minica_seterr(err, MINICA_EINVAL, "cannot read the signer's public key");
        check->key_id_len = 20;
    }
    int ret = minica_crt_name_constraints(issuer, &check->nc, err);
    if (ret != 0)
        return ret;
    check->issuer_name = issuer->subject_raw.p;
    check->issuer_name_len = issuer->subject_raw.len;
    check->issuer_not_after = minica_x509_time_to_unix(&issuer->valid_to);
    check->max_ttl = max_ttl;
    check->max_crl_next_update = max_crl_next_update;
    return MINICA_OK;
}
