/* Small shared helpers: the random generator, the clock, hashing, PEM
 * armour. Nothing here knows about certificates' meaning (ca/x509.c does). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <mbedtls/entropy.h>
#include <mbedtls/pem.h>
#include <mbedtls/platform_util.h>

#include "base/util.h"
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

void *minica_array_grow(void *items, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return items;
    size_t grown = *cap ? 2 * *cap : first;
    if (grown < n + 1 || grown > SIZE_MAX / size)
        return NULL;
    void *moved = realloc(items, grown * size);
    if (moved != NULL)
        *cap = grown;
    return moved;
}

char *minica_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

int64_t minica_time_now(void)
{
    return minica_now();
}

void minica_time_rfc3339(int64_t t, char *out)
{
    minica_unix_to_rfc3339(t, out);
}
