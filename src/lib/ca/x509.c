/* Certificates as mbedTLS sees them: serial numbers, X.509 times, and
 * parsing that accepts minica's own name-constrained intermediate. Keys are
 * key.c, CSRs csr.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/oid.h>

#include "ca/x509.h"

int minica_serial_generate(struct minica_rng *rng, unsigned char serial[16], struct minica_err *err)
{
    static const unsigned char zero[16];
    do {
        int ret = minica_rng_bytes(rng, serial, 16, err);
        if (ret != 0)
            return ret;
    } while (memcmp(serial, zero, 16) == 0);
    return MINICA_OK;
}

int64_t minica_x509_time_to_unix(const mbedtls_x509_time *t)
{
    struct tm tm = {0};
    tm.tm_year = t->year - 1900;
    tm.tm_mon = t->mon - 1;
    tm.tm_mday = t->day;
    tm.tm_hour = t->hour;
    tm.tm_min = t->min;
    tm.tm_sec = t->sec;
    return (int64_t)timegm(&tm);
}

void minica_unix_to_x509_string(int64_t t, char out[15])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 15, "%Y%m%d%H%M%S", &tm);
}

struct read_constraints {
    struct minica_name_constraints *nc;
    struct minica_err *err;
    int ret;
};

/* mbedTLS (2.28 and 3.6) cannot parse nameConstraints and refuses any
 * certificate where it is critical, which minica's constrained intermediate
 * is (RFC 5280 4.2.1.10). minica enforces the extension itself at issuance
 * (constraints.c), and relying parties enforce it, so it is accepted here;
 * every other unknown critical extension still fails. */
static int accept_name_constraints(void *ctx, mbedtls_x509_crt const *crt,
                                   mbedtls_x509_buf const *oid, int critical,
                                   const unsigned char *p, const unsigned char *end)
{
    (void)crt;
    (void)critical;
    if (MBEDTLS_OID_CMP(MBEDTLS_OID_NAME_CONSTRAINTS, oid) != 0)
        return -1;
    struct read_constraints *rc = ctx;
    if (rc != NULL)
        rc->ret = minica_constraints_decode(p, (size_t)(end - p), rc->nc, rc->err);
    return 0;
}

int minica_crt_name_constraints(const mbedtls_x509_crt *crt, struct minica_name_constraints *nc,
                                struct minica_err *err)
{
    mbedtls_x509_crt again;
    mbedtls_x509_crt_init(&again);
    memset(nc, 0, sizeof(*nc));
    struct read_constraints rc = {nc, err, 0};
    /* make_copy 0: only reads crt's own buffer, which outlives `again`. */
    int ret = mbedtls_x509_crt_parse_der_with_ext_cb(&again, crt->raw.p, crt->raw.len, 0,
                                                     accept_name_constraints, &rc);
    mbedtls_x509_crt_free(&again);
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot parse the certificate");
    if (rc.ret != 0)
        minica_err_prefix(err, "the certificate's nameConstraints");
    return rc.ret;
}

int minica_crt_parse_der(mbedtls_x509_crt *crt, const unsigned char *der, size_t len,
                         struct minica_err *err)
{
    int ret =
        mbedtls_x509_crt_parse_der_with_ext_cb(crt, der, len, 1, accept_name_constraints, NULL);
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot parse the certificate");
    return MINICA_OK;
}

/* Parses up to max PEM certificate blocks (max < 0: all of them). */
static int parse_pem_blocks(mbedtls_x509_crt *crt, const char *pem, int max, struct minica_err *err)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
    const char *pos = pem;
    int n = 0;
    while ((max < 0 || n < max) && (pos = strstr(pos, begin)) != NULL) {
        const char *b64 = pos + strlen(begin);
        const char *stop = strstr(b64, end);
        if (stop == NULL)
            return minica_seterr(err, MINICA_ECRYPTO, "cannot parse the certificate: no %s", end);
        /* Base64 never decodes to more than 3/4 of its length: no sizing pass
         * (mbedTLS's constant-time decoder is the agent's hottest code). */
        size_t b64_len = (size_t)(stop - b64), der_len = 0;
        unsigned char *der = malloc(b64_len / 4 * 3 + 3);
        if (der == NULL)
            return minica_seterr(err, MINICA_ENOMEM, "out of memory");
        int ret = mbedtls_base64_decode(der, b64_len / 4 * 3 + 3, &der_len,
                                        (const unsigned char *)b64, b64_len);
        if (ret != 0) {
            free(der);
            return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot parse the certificate");
        }
        ret = minica_crt_parse_der(crt, der, der_len, err);
        free(der);
        if (ret != 0)
            return ret;
        pos = stop + strlen(end);
        n++;
    }
    if (n == 0)
        return minica_seterr(err, MINICA_ECRYPTO,
                             "cannot parse the certificate: no PEM certificate");
    return MINICA_OK;
}

int minica_crt_parse_pem(mbedtls_x509_crt *crt, const char *pem, struct minica_err *err)
{
    return parse_pem_blocks(crt, pem, -1, err);
}

int minica_crt_parse_pem_first(mbedtls_x509_crt *crt, const char *pem, struct minica_err *err)
{
    return parse_pem_blocks(crt, pem, 1, err);
}

/* Bytes of a valid UTF-8 sequence at p (at most n), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len = p[0] < 0x80             ? 1
                 : (p[0] & 0xe0) == 0xc0 ? 2
                 : (p[0] & 0xf0) == 0xe0 ? 3
                 : (p[0] & 0xf8) == 0xf0 ? 4
                                         : 0;
    if (len == 0 || len > n || (len == 2 && p[0] < 0xc2) || (len == 4 && p[0] > 0xf4))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((len == 3 && p[0] == 0xe0 && p[1] < 0xa0) || (len == 3 && p[0] == 0xed && p[1] >= 0xa0) ||
        (len == 4 && p[0] == 0xf0 && p[1] < 0x90) || (len == 4 && p[0] == 0xf4 && p[1] >= 0x90))
        return 0;
    return len;
}

void minica_dn_to_text(const mbedtls_x509_name *dn, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    out[0] = '\0';
    for (const mbedtls_x509_name *n = dn; n != NULL && n->oid.p != NULL; n = n->next) {
        const char *attr = NULL;
        if (mbedtls_oid_get_attr_short_name(&n->oid, &attr) != 0)
            attr = "OID";
        int w = snprintf(out + o, outlen - o, "%s%s=", o ? ", " : "", attr);
        if (w < 0 || (size_t)w >= outlen - o)
            return;
        o += (size_t)w;
        for (size_t i = 0; i < n->val.len;) {
            const unsigned char *p = n->val.p + i;
            size_t l = utf8_len(p, n->val.len - i);
            if (l > 0 && p[0] >= 0x20 && p[0] != 0x7f && p[0] != '\\') {
                if (o + l >= outlen)
                    return;
                memcpy(out + o, p, l);
                o += l;
                i += l;
                continue;
            }
            /* Not text (a control byte, a BMPString, invalid UTF-8): escaped,
             * never a '?' that hides what the name really is. */
            if (o + 4 >= outlen)
                return;
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", p[0]);
            i++;
        }
        out[o] = '\0';
    }
}
