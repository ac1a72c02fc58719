/* libFuzzer harness for the tls-alpn-01 certificate check: whatever a
 * validation target serves reaches minica_acme_tls_alpn01_check_cert as
 * raw DER. The first byte picks the identifier (a name or an IP); the rest
 * is the certificate. It must never read past the input, and what it
 * accepts must be one DER SEQUENCE spanning the input's prefix. */
#include <stdint.h>
#include <string.h>

#include <mbedtls/asn1.h>

#include "fuzz_common.h"
#include "serve/acme_validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    struct minica_name id;
    struct minica_err err;
    FUZZ_ASSERT(minica_name_parse(data[0] & 1 ? "127.0.0.1" : "good.test", &id, &err) == 0);
    /* A copy of exactly the certificate's bytes, so ASan sees any overread. */
    size_t len = size - 1;
    uint8_t *der = malloc(len ? len : 1);
    FUZZ_ASSERT(der != NULL);
    memcpy(der, data + 1, len);
    const char *ka = "tlstoken.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
    if (minica_acme_tls_alpn01_check_cert(der, len, &id, ka, &err) == 0) {
        unsigned char *p = der;
        size_t l;
        FUZZ_ASSERT(mbedtls_asn1_get_tag(&p, der + len, &l,
                                         MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) == 0);
    }
    free(der);
    return 0;
}
