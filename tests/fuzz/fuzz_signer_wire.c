/* libFuzzer harness for what the privilege-separated signer reads from
 * the network process: the request and response decoders, and the TBS
 * checks, on the input as a message and as a bare TBS of either profile,
 * against one fixed issuer certificate (a minica intermediate; only its
 * certificate, no key) at a fixed time, so that the committed seeds (real
 * leaf and CRL TBSs of that intermediate) stay acceptable. A decoded
 * message must encode back to the same bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "ca/signer_check.h"
#include "ca/signer_wire.h"
#include "ca/x509.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* `minica init` at NOW, then intermediate.crt; the seeds were issued
 * from it then. */
#define NOW 1796150329LL
static const char issuer_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBnzCCAUWgAwIBAgIRAO+x8xhi6JgWL3fR17SbK4gwCgYIKoZIzj0EAwIwGTEX\n"
    "MBUGA1UEAwwObWluaWNhIFJvb3QgQ0EwHhcNMjYxMjAxMTgzNzQ5WhcNMjkxMTMw\n"
    "MTgzODQ5WjAhMR8wHQYDVQQDDBZtaW5pY2EgSW50ZXJtZWRpYXRlIENBMFkwEwYH\n"
    "KoZIzj0CAQYIKoZIzj0DAQcDQgAEg7tbWItzsTh/emjd9Pvv4RZjAyldQpMPI+ZV\n"
    "svDK2dfmFhXDcqmtupaVfGHXrf661AKu3BkB9F1fD5scIJco1qNmMGQwHQYDVR0O\n"
    "BBYEFK8atmLZS1N4xINkotwNvGDqNmZVMB8GA1UdIwQYMBaAFMS297Rql0F9laln\n"
    "D5W2LMUxa1QkMBIGA1UdEwEB/wQIMAYBAf8CAQAwDgYDVR0PAQH/BAQDAgEGMAoG\n"
    "CCqGSM49BAMCA0gAMEUCIQCozyHepLolLdAvOuMYDr3Aa+nwG+nPXoqxMdGwQj21\n"
    "YQIgCxdp5hxeX9IpKVBTC606ksFEpnUt7peomLuT0ay9aAo=\n"
    "-----END CERTIFICATE-----\n";

static mbedtls_x509_crt issuer;
static struct minica_signer_check check;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct minica_err err;
    mbedtls_x509_crt_init(&issuer);
    if (minica_crt_parse_pem(&issuer, issuer_pem, &err) != 0 ||
        minica_signer_check_init(&check, &issuer, MINICA_KEY_EC_P256, 365 * 86400LL, 30 * 86400LL,
                                 &err) != 0) {
        fprintf(stderr, "fuzz_signer_wire: %s\n", err.msg);
        abort();
    }
    return 0;
}

/* A refusal is one line the response can carry; nothing passes as both
 * a leaf and a CRL. */
static int check_tbs(enum minica_wire_profile profile, const uint8_t *tbs, size_t len)
{
    struct minica_err err;
    int rc = minica_signer_check_tbs(&check, profile, tbs, len, NOW, &err);
    FUZZ_ASSERT(rc == 0 || rc == MINICA_EINVAL || rc == MINICA_EPOLICY || rc == MINICA_ENOMEM);
    if (rc != 0)
        FUZZ_ASSERT(err.msg[0] != '\0' && strchr(err.msg, '\n') == NULL);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char buf[MINICA_WIRE_REQUEST_MAX];
    struct minica_err err;
    size_t len;

    struct minica_wire_request req;
    if (minica_wire_decode_request(data, size, &req, &err) == 0) {
        FUZZ_ASSERT(req.tbs == data + MINICA_WIRE_REQUEST_HEADER &&
                    req.tbs + req.tbs_len == data + size);
        FUZZ_ASSERT(minica_wire_encode_request(&req, buf, sizeof(buf), &len, &err) == 0);
        FUZZ_ASSERT(len == size && memcmp(buf, data, size) == 0);
        (void)check_tbs(req.profile, req.tbs, req.tbs_len);
    }

    struct minica_wire_response resp;
    if (minica_wire_decode_response(data, size, &resp, &err) == 0) {
        FUZZ_ASSERT(minica_wire_encode_response(&resp, buf, sizeof(buf), &len, &err) == 0);
        FUZZ_ASSERT(len == size && memcmp(buf, data, size) == 0);
    }

    int leaf = check_tbs(MINICA_WIRE_LEAF, data, size);
    int crl = check_tbs(MINICA_WIRE_CRL, data, size);
    FUZZ_ASSERT(leaf != 0 || crl != 0);
    return 0;
}
