/* ACME Renewal Information (RFC 9773): certIDs, the suggested window, the
 * renewalInfo answer and the checks of newOrder's "replaces". The window
 * is a pure function of the certificate's dates and state; the rest reads
 * the inventory and the CA hierarchy, and never writes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>

#include "base/b64url.h"
#include "base/util.h"
#include "ca/x509.h"
#include "minica/lifecycle.h"
#include "minica/store_acme.h"
#include "serve/acme_ari.h"
#include "serve/serve_internal.h"

int minica_ari_certid_parse(const char *text, struct minica_ari_certid *out, struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *dot = strchr(text, '.');
    if (dot == NULL || dot == text || dot[1] == '\0' || strchr(dot + 1, '.') != NULL)
        return minica_seterr(err, MINICA_EINVAL,
                             "a certID is base64url(AKI keyIdentifier).base64url(serial)");
    /* minica_b64url_decode refuses padding and non-canonical spellings, so
     * one certificate has one certID. */
    if (minica_b64url_decode(text, (size_t)(dot - text), out->aki, sizeof(out->aki),
                             &out->aki_len) != 0 ||
        out->aki_len == 0)
        return minica_seterr(err, MINICA_EINVAL,
                             "the certID's keyIdentifier is not base64url of at most %d octets",
                             MINICA_ARI_AKI_MAX);
    const char *s = dot + 1;
    if (minica_b64url_decode(s, strlen(s), out->serial, sizeof(out->serial), &out->serial_len) !=
            0 ||
        out->serial_len == 0)
        return minica_seterr(err, MINICA_EINVAL,
                             "the certID's serial is not base64url of at most %d octets",
                             MINICA_ARI_SERIAL_MAX);
    /* DER INTEGER contents, as RFC 9773 4.1 asks: positive (top bit clear)
     * and minimal (a leading zero only before a set top bit). */
    const unsigned char *v = out->serial;
    if ((v[0] & 0x80) != 0 || (out->serial_len > 1 && v[0] == 0 && (v[1] & 0x80) == 0) ||
        (out->serial_len == MINICA_ARI_SERIAL_MAX && v[0] != 0))
        return minica_seterr(err, MINICA_EINVAL,
                             "the certID's serial is not a positive DER INTEGER in minimal form");
    return MINICA_OK;
}

int minica_ari_certid_format(const struct minica_ari_certid *id, char *out, size_t size)
{
    size_t a = minica_b64url_encoded_len(id->aki_len);
    if (a + 1 >= size || minica_b64url_encode(id->aki, id->aki_len, out, size) != 0)
        return MINICA_EINVAL;
    out[a] = '.';
    if (minica_b64url_encode(id->serial, id->serial_len, out + a + 1, size - a - 1) != 0)
        return MINICA_EINVAL;
    return MINICA_OK;
}

/* The keyIdentifier of an AuthorityKeyIdentifier extension's value
 * (RFC 5280 4.2.1.1: SEQUENCE { [0] IMPLICIT OCTET STRING, ... }). */
static int aki_key_id(unsigned char *p, const unsigned char *end, struct minica_ari_certid *out)
{
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0 ||
        mbedtls_asn1_get_tag(&p, p + len, &len, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0) != 0 ||
        len == 0 || len > sizeof(out->aki))
        return -1;
    memcpy(out->aki, p, len);
    out->aki_len = len;
    return 0;
}

/* The keyIdentifier of the authorityKeyIdentifier among ext, the [3]
 * content (SEQUENCE OF Extension), which mbedTLS 2.28 keeps but does not
 * parse for this extension: 0 with out->aki filled, else -1. */
static int find_aki(const mbedtls_x509_buf *ext, struct minica_ari_certid *out)
{
    if (ext->p == NULL)
        return -1;
    unsigned char *p = ext->p;
    const unsigned char *end = p + ext->len;
    size_t len;
    int found = -1;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return -1;
    end = p + len;
    while (p < end && found < 0) {
        if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0)
            break;
        unsigned char *ext_end = p + len;
        size_t oid_len;
        if (mbedtls_asn1_get_tag(&p, ext_end, &oid_len, MBEDTLS_ASN1_OID) != 0)
            break;
        int is_aki = oid_len == MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER) &&
                     memcmp(p, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER, oid_len) == 0;
        p += oid_len;
        int critical; /* DEFAULT FALSE: absent, and then p stays */
        (void)mbedtls_asn1_get_bool(&p, ext_end, &critical);
        if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0)
            break;
        if (is_aki)
            found = aki_key_id(p, p + len, out);
        p = ext_end;
    }
    return found;
}

int minica_ari_certid_of_crt(const mbedtls_x509_crt *crt, struct minica_ari_certid *out,
                             struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    int found = find_aki(&crt->v3_ext, out);
    if (found != 0)
        return minica_seterr(err, MINICA_EINVAL,
                             "the certificate has no authorityKeyIdentifier keyIdentifier");
    /* The contents octets of the serial's DER INTEGER, as encoded. */
    if (crt->serial.len == 0 || crt->serial.len > sizeof(out->serial))
        return minica_seterr(err, MINICA_EINVAL, "the certificate's serial is too long for ARI");
    memcpy(out->serial, crt->serial.p, crt->serial.len);
    out->serial_len = crt->serial.len;
    return MINICA_OK;
}

void minica_ari_certid_serial_hex(const struct minica_ari_certid *id,
                                  char out[MINICA_SERIAL_HEX_MAX])
{
    minica_serial_to_hex(id->serial, id->serial_len, out, MINICA_SERIAL_HEX_MAX);
}

void minica_ari_window(int64_t not_before, int64_t not_after, int revoked, int issuer_active,
                       int64_t now, int64_t *start, int64_t *end)
{
    if (revoked || !issuer_active) {
        /* RFC 9773 4.2: a window in the past means "renew now"; an hour
         * wide, ending a second ago. */
        *start = now - 3601;
        *end = now - 1;
        return;
    }
    int64_t life = not_after > not_before ? not_after - not_before : 0;
    *start = not_before + life * 2 / 3;
    *end = not_before + life * 5 / 6;
    if (*end <= *start)
        *end = *start + 1;
}

/* ---- the inventory's side ---- */

struct found_cert {
    struct minica_cert_row row;
    char *pem;
    int found;
};

static int keep_cert(const struct minica_cert_row *row, void *ctx)
{
    struct found_cert *f = ctx;
    f->row = *row;
    f->row.pem = NULL;
    f->pem = minica_strdup(row->pem ? row->pem : "");
    f->found = 1;
    return 1;
}

static void refuse(struct minica_ari_problem *prob, int status, const char *type, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
static void refuse(struct minica_ari_problem *prob, int status, const char *type, const char *fmt,
                   ...)
{
    prob->status = status;
    prob->type = type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prob->detail, sizeof(prob->detail), fmt, ap);
    va_end(ap);
}

/* The inventory's certificate a certID names: its serial and, checked on
 * the certificate itself, its AKI (the same serial under another issuer is
 * another certificate). 0; 1 with prob filled; negative with err. */
static int find_cert(struct minica_server *srv, const char *text, struct found_cert *f,
                     struct minica_ari_problem *prob, struct minica_err *err)
{
    memset(f, 0, sizeof(*f));
    struct minica_ari_certid id, have;
    struct minica_err why;
    if (minica_ari_certid_parse(text, &id, &why) != 0) {
        refuse(prob, 400, "malformed", "%s", why.msg);
        return 1;
    }
    char serial[MINICA_SERIAL_HEX_MAX];
    minica_ari_certid_serial_hex(&id, serial);
    struct minica_cert_filter filter;
    memset(&filter, 0, sizeof(filter));
    filter.serial = serial;
    int ret = minica_store_list_certs(minica_ca_store(srv->ca), &filter, keep_cert, f, err);
    if (ret < 0)
        return ret;
    if (f->found && f->pem == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    int same = 0;
    if (f->found) {
        mbedtls_x509_crt crt;
        mbedtls_x509_crt_init(&crt);
        same = minica_crt_parse_pem_first(&crt, f->pem, NULL) == 0 &&
               minica_ari_certid_of_crt(&crt, &have, NULL) == 0 && have.aki_len == id.aki_len &&
               memcmp(have.aki, id.aki, id.aki_len) == 0;
        mbedtls_x509_crt_free(&crt);
    }
    if (!same) {
        free(f->pem);
        f->pem = NULL;
        refuse(prob, 404, "malformed", "this CA issued no certificate with certID %.200s", text);
        return 1;
    }
    return 0;
}

int minica_acme_ari_info(struct minica_server *srv, const char *text, int64_t now, char **json,
                         struct minica_ari_problem *prob, struct minica_err *err)
{
    *json = NULL;
    struct found_cert f;
    int ret = find_cert(srv, text, &f, prob, err);
    if (ret != 0)
        return ret;
    free(f.pem);
    int revoked = minica_cert_row_status(&f.row, now) == MINICA_STATUS_REVOKED;
    int active = strcmp(f.row.issuer_fingerprint_sha256,
                        minica_ca_active_intermediate(srv->ca)->fingerprint) == 0;
    int64_t start, end;
    minica_ari_window(f.row.not_before, f.row.not_after, revoked, active, now, &start, &end);
    char a[21], b[21];
    minica_unix_to_rfc3339(start, a);
    minica_unix_to_rfc3339(end, b);
    cJSON *o = cJSON_CreateObject();
    cJSON *w = cJSON_AddObjectToObject(o, "suggestedWindow");
    cJSON_AddStringToObject(w, "start", a);
    cJSON_AddStringToObject(w, "end", b);
    *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (*json == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    return 0;
}

/* Whether one of the order's identifiers is among sans (comma-joined). */
static int shares_a_name(const char *identifiers, const char *sans)
{
    cJSON *ids = cJSON_Parse(identifiers);
    const cJSON *id;
    int shared = 0;
    cJSON_ArrayForEach(id, ids)
    {
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(id, "value"));
        size_t n = v ? strlen(v) : 0;
        for (const char *s = sans; n > 0 && *s && !shared; s += strcspn(s, ","), s += *s == ',')
            shared = strncmp(s, v, n) == 0 && (s[n] == ',' || s[n] == '\0');
    }
    cJSON_Delete(ids);
    return shared;
}

int minica_acme_ari_replaces(struct minica_server *srv, const char *account_id,
                             const cJSON *payload, const char *identifiers,
                             char serial[MINICA_SERIAL_HEX_MAX], struct minica_ari_problem *prob,
                             struct minica_err *err)
{
    serial[0] = '\0';
    const cJSON *r = payload ? cJSON_GetObjectItemCaseSensitive(payload, "replaces") : NULL;
    if (r == NULL)
        return 0;
    if (!cJSON_IsString(r)) {
        refuse(prob, 400, "malformed", "replaces must be a certID (a string)");
        return 1;
    }
    struct found_cert f;
    int ret = find_cert(srv, r->valuestring, &f, prob, err);
    if (ret != 0) {
        if (ret == 1 && prob->status == 404)
            prob->status = 400; /* a field of the order, not a resource */
        return ret;
    }
    free(f.pem);
    struct minica_store *store = minica_ca_store(srv->ca);
    struct minica_acme_order by;
    ret = minica_store_acme_order_by_cert(store, f.row.serial, &by, err);
    if (ret == MINICA_ENOENT) {
        refuse(prob, 400, "malformed", "certificate %s was not issued through ACME", f.row.serial);
        return 1;
    }
    if (ret != 0)
        return ret;
    /* RFC 9773 5: the same account. Another account may not mark someone
     * else's certificate replaced (and so keep its owner from doing so). */
    if (strcmp(by.account_id, account_id) != 0) {
        refuse(prob, 403, "unauthorized", "certificate %s was ordered by another account",
               f.row.serial);
        return 1;
    }
    /* RFC 9773 5: at least one identifier in common. */
    if (!shares_a_name(identifiers, f.row.sans)) {
        refuse(prob, 400, "malformed", "the order shares no name with certificate %s",
               f.row.serial);
        return 1;
    }
    ret = minica_store_acme_order_replacement(store, f.row.serial, &by, err);
    if (ret == 0) {
        /* RFC 9773 5: 409 alreadyReplaced. */
        refuse(prob, 409, "alreadyReplaced", "certificate %s is already replaced by order %s",
               f.row.serial, by.id);
        return 1;
    }
    if (ret != MINICA_ENOENT)
        return ret;
    snprintf(serial, MINICA_SERIAL_HEX_MAX, "%s", f.row.serial);
    return 0;
}

void minica_acme_ari_certid_of_serial(struct minica_server *srv, const char *serial, char *out,
                                      size_t size)
{
    out[0] = '\0';
    struct found_cert f;
    memset(&f, 0, sizeof(f));
    struct minica_cert_filter filter;
    memset(&filter, 0, sizeof(filter));
    filter.serial = serial;
    if (minica_store_list_certs(minica_ca_store(srv->ca), &filter, keep_cert, &f, NULL) < 0 ||
        f.pem == NULL) {
        free(f.pem);
        return;
    }
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    struct minica_ari_certid id;
    if (minica_crt_parse_pem_first(&crt, f.pem, NULL) == 0 &&
        minica_ari_certid_of_crt(&crt, &id, NULL) == 0 &&
        minica_ari_certid_format(&id, out, size) != 0)
        out[0] = '\0';
    mbedtls_x509_crt_free(&crt);
    free(f.pem);
}
