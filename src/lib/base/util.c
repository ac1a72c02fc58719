/* Small shared helpers: time conversions, hashing, PEM encoding, RNG and
 * serial numbers. Nothing here knows about certificates' meaning. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/platform_util.h>

#include "base/internal.h"
#include "minica/duration.h"

/* CTR_DRBG is seeded straight from the kernel's CSPRNG (getrandom(2), which
 * blocks only until the kernel pool is initialised at boot). mbedtls_entropy
 * would add nothing a CA needs, and Debian's 2.28 starts HAVEGE in it, a
 * timing-jitter collector mbedTLS 3 dropped as unsound, that costs every
 * minica process about 0.3 ms. */
static int kernel_entropy(void *unused, unsigned char *out, size_t len)
{
    while (len > 0) {
        ssize_t n = getrandom(out, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
        out += n;
        len -= (size_t)n;
    }
    return 0;
}

int minica_rng_init(struct minica_rng *rng, struct minica_err *err)
{
    static const char personalization[] = "minica";
    mbedtls_ctr_drbg_init(&rng->drbg);
    int ret =
        mbedtls_ctr_drbg_seed(&rng->drbg, kernel_entropy, NULL,
                              (const unsigned char *)personalization, sizeof(personalization) - 1);
    if (ret != 0) {
        minica_rng_free(rng);
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot seed the random generator");
    }
    return MINICA_OK;
}

void minica_rng_free(struct minica_rng *rng)
{
    mbedtls_ctr_drbg_free(&rng->drbg);
}

int minica_rng_bytes(struct minica_rng *rng, void *out, size_t len, struct minica_err *err)
{
    int ret = mbedtls_ctr_drbg_random(&rng->drbg, out, len);
    if (ret != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "random generator failed");
    return MINICA_OK;
}

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

void minica_serial_to_hex(const unsigned char *serial, size_t len, char *out, size_t outlen)
{
    while (len > 1 && serial[0] == 0) {
        serial++;
        len--;
    }
    size_t o = 0;
    for (size_t i = 0; i < len && o + 2 < outlen; i++)
        o += (size_t)snprintf(out + o, outlen - o, "%02x", serial[i]);
    out[o] = '\0';
}

int64_t minica_now(void)
{
    /* Tests move the clock to check expiry and renewal decisions. */
    const char *fake = getenv("MINICA_FAKE_NOW");
    if (fake != NULL && *fake != '\0') {
        char *end;
        long long v = strtoll(fake, &end, 10);
        if (*end == '\0')
            return (int64_t)v;
    }
    return (int64_t)time(NULL);
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

void minica_unix_to_rfc3339(int64_t t, char out[21])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void minica_sha256_hex(const unsigned char *data, size_t len, char out[65])
{
    unsigned char digest[32];
    minica_compat_sha256(data, len, digest);
    for (size_t i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

int minica_der_to_pem(const unsigned char *der, size_t len, const char *label, char **pem,
                      struct minica_err *err)
{
    char header[64], footer[64];
    snprintf(header, sizeof(header), "-----BEGIN %s-----\n", label);
    snprintf(footer, sizeof(footer), "-----END %s-----\n", label);
    size_t need = 0;
    mbedtls_pem_write_buffer(header, footer, der, len, NULL, 0, &need);
    unsigned char *buf = malloc(need + 1);
    if (buf == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    size_t olen = 0;
    int ret = mbedtls_pem_write_buffer(header, footer, der, len, buf, need + 1, &olen);
    if (ret != 0) {
        free(buf);
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, ret, "cannot PEM-encode %s", label);
    }
    *pem = (char *)buf;
    return MINICA_OK;
}

char *minica_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* NameConstraints ::= SEQUENCE { permittedSubtrees [0], excludedSubtrees [1] },
 * each a list of GeneralSubtree SEQUENCEs whose base is a GeneralName;
 * dNSName is [2]. Anything unreadable counts as constrained: the caller uses
 * the answer to stay clear of a constraint check, so erring that way is safe. */
static int name_constraints_have_dns(const unsigned char *p, const unsigned char *end)
{
    unsigned char *q = (unsigned char *)p;
    size_t len;
    if (mbedtls_asn1_get_tag(&q, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return 1;
    const unsigned char *nc_end = q + len;
    while (q < nc_end) {
        q++; /* [0] or [1], constructed */
        if (mbedtls_asn1_get_len(&q, nc_end, &len) != 0)
            return 1;
        const unsigned char *trees_end = q + len;
        while (q < trees_end) {
            if (mbedtls_asn1_get_tag(&q, trees_end, &len,
                                     MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
                return 1;
            if (len > 0 && *q == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2))
                return 1;
            q += len;
        }
    }
    return 0;
}

/* mbedTLS (2.28 and 3.6) cannot parse nameConstraints and refuses any
 * certificate where it is critical, which minica's constrained intermediate
 * is (RFC 5280 4.2.1.10). minica enforces the same lists itself at issuance,
 * and OpenSSL/GnuTLS enforce them for relying parties, so the extension is
 * accepted here unread; every other unknown critical extension still fails. */
static int accept_name_constraints(void *ctx, mbedtls_x509_crt const *crt,
                                   mbedtls_x509_buf const *oid, int critical,
                                   const unsigned char *p, const unsigned char *end)
{
    (void)crt;
    (void)critical;
    if (MBEDTLS_OID_CMP(MBEDTLS_OID_NAME_CONSTRAINTS, oid) != 0)
        return -1;
    if (ctx != NULL)
        *(int *)ctx = name_constraints_have_dns(p, end);
    return 0;
}

int minica_crt_constrains_dns(const mbedtls_x509_crt *crt)
{
    mbedtls_x509_crt again;
    mbedtls_x509_crt_init(&again);
    int dns = 0;
    /* make_copy 0: only reads crt's own buffer, which outlives `again`. */
    if (mbedtls_x509_crt_parse_der_with_ext_cb(&again, crt->raw.p, crt->raw.len, 0,
                                               accept_name_constraints, &dns) != 0)
        dns = 1;
    mbedtls_x509_crt_free(&again);
    return dns;
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

int64_t minica_time_now(void)
{
    return minica_now();
}

void minica_time_rfc3339(int64_t t, char *out)
{
    minica_unix_to_rfc3339(t, out);
}
