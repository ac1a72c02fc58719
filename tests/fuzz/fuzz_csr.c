/* libFuzzer harness for CSRs as `minica issue --csr` and the server read
 * them: parse, verify the self-signature, extract CN and SANs, then run
 * every name through the name parser and a restrictive policy. Input that
 * starts with "-----" is PEM text; anything else is DER (wrapped into PEM
 * here, so the fuzzer can mutate the ASN.1 directly). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/x509_csr.h>

#include "fuzz_common.h"
#include "ca/x509.h"
#include "minica/names.h"
#include "minica/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *der_to_pem(const uint8_t *data, size_t size)
{
    static const char head[] = "-----BEGIN CERTIFICATE REQUEST-----\n";
    static const char tail[] = "\n-----END CERTIFICATE REQUEST-----\n";
    size_t b64len = 0;
    mbedtls_base64_encode(NULL, 0, &b64len, data, size);
    char *pem = malloc(sizeof(head) + b64len + sizeof(tail) + 1);
    FUZZ_ASSERT(pem != NULL);
    memcpy(pem, head, sizeof(head) - 1);
    size_t olen = 0;
    FUZZ_ASSERT(mbedtls_base64_encode((unsigned char *)pem + sizeof(head) - 1, b64len + 1, &olen,
                                      data, size) == 0);
    memcpy(pem + sizeof(head) - 1 + olen, tail, sizeof(tail));
    return pem;
}

static void check_name(const struct minica_policy *policy, const char *text)
{
    struct minica_name name;
    struct minica_err err;
    if (minica_name_parse(text, &name, &err) != 0)
        return;
    if (minica_policy_check_name(policy, &name, &err) == 0 && name.kind == MINICA_NAME_DNS)
        FUZZ_ASSERT(
            minica_dns_suffix_matches("internal.svc", name.wildcard ? name.text + 2 : name.text));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16 * 1024)
        return 0;
    char *pem =
        size >= 5 && memcmp(data, "-----", 5) == 0 ? fuzz_cstr(data, size) : der_to_pem(data, size);
    struct minica_policy policy;
    struct minica_err err;
    minica_policy_init(&policy);
    FUZZ_ASSERT(minica_dns_suffix_parse("internal.svc", policy.permit_dns[0],
                                        sizeof(policy.permit_dns[0]), &err) == 0);
    policy.n_permit_dns = 1;
    FUZZ_ASSERT(minica_cidr_parse("10.0.0.0/8", &policy.permit_ip[0], &err) == 0);
    policy.n_permit_ip = 1;

    mbedtls_x509_csr csr;
    mbedtls_x509_csr_init(&csr);
    char cn[256], sans[2048];
    if (minica_csr_parse_verified(&csr, pem, NULL, cn, sizeof(cn), sans, sizeof(sans), &err) == 0) {
        FUZZ_ASSERT(strlen(cn) < sizeof(cn));
        if (cn[0] != '\0')
            check_name(&policy, cn);
        char *save = NULL;
        for (char *t = strtok_r(sans, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
            check_name(&policy, t);
    } else {
        FUZZ_ASSERT(err.msg[0] != '\0');
    }
    mbedtls_x509_csr_free(&csr);
    free(pem);
    return 0;
}
