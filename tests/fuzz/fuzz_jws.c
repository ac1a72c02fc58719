/* libFuzzer harness for ACME's JWS (src/lib/serve/jws.h): the request body
 * parser, the JWK import and the signature check behind them. The first
 * input byte picks the entry point (byte % 4): a request, keyChange's inner
 * JWS, a bare JWK, or newAccount's External Account Binding (HS256); the
 * rest is the text. Invariants: every refusal has
 * a problem type and a detail, every success fills what jws.h promises,
 * and the stored form of an accepted jwk parses back to its thumbprint. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "serve/jws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(int ret, const struct minica_acme_problem *prob)
{
    FUZZ_ASSERT(ret < 0);
    FUZZ_ASSERT(prob->type != MINICA_ACME_PROBLEM_NONE);
    FUZZ_ASSERT(prob->detail[0] != '\0');
    FUZZ_ASSERT(minica_acme_problem_urn(prob->type)[0] != '\0');
}

static void check_jwk_round_trip(const char *json, const unsigned char thumbprint[32])
{
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    unsigned char again[32];
    struct minica_acme_problem prob;
    FUZZ_ASSERT(minica_jwk_parse(json, strlen(json), &pk, again, &prob) == 0);
    FUZZ_ASSERT(memcmp(again, thumbprint, 32) == 0);
    mbedtls_pk_free(&pk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > MINICA_JWS_MAX_BODY + 16)
        return 0;
    unsigned mode = data[0] % 4;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct minica_acme_problem prob;
    if (mode == 2) {
        mbedtls_pk_context pk;
        mbedtls_pk_init(&pk);
        unsigned char tp[32];
        int ret = minica_jwk_parse(text, len, &pk, tp, &prob);
        if (ret != 0)
            check_refusal(ret, &prob);
        mbedtls_pk_free(&pk);
        return 0;
    }
    struct minica_jws jws;
    minica_jws_init(&jws);
    static const enum minica_jws_kind kinds[] = {MINICA_JWS_REQUEST, MINICA_JWS_KEYCHANGE_INNER,
                                                 MINICA_JWS_REQUEST /* unused: a JWK */,
                                                 MINICA_JWS_EAB_INNER};
    int ret = minica_jws_parse(text, len, kinds[mode], &jws, &prob);
    if (ret != 0) {
        check_refusal(ret, &prob);
        FUZZ_ASSERT(jws.url == NULL && jws.payload == NULL && jws.signature == NULL);
        return 0;
    }
    if (mode == 3) {
        static const unsigned char key[32] = {1};
        FUZZ_ASSERT(jws.alg == MINICA_JWS_HS256 && jws.kid != NULL && jws.jwk_json == NULL);
        FUZZ_ASSERT(jws.nonce == NULL && jws.url != NULL);
        ret = minica_jws_verify_hmac(&jws, key, sizeof(key), &prob);
        if (ret != 0)
            check_refusal(ret, &prob);
        minica_jws_free(&jws);
        return 0;
    }
    FUZZ_ASSERT(jws.alg != MINICA_JWS_ALG_NONE && jws.url != NULL && jws.signing_input != NULL);
    FUZZ_ASSERT(jws.signature != NULL && jws.signature_len > 0 && jws.payload != NULL);
    FUZZ_ASSERT((jws.kid == NULL) != (jws.jwk_json == NULL));
    FUZZ_ASSERT((mode == 0) == (jws.nonce != NULL));
    if (jws.jwk_json != NULL) {
        check_jwk_round_trip(jws.jwk_json, jws.jwk_thumbprint);
        ret = minica_jws_verify(&jws, &jws.jwk_key, &prob);
        if (ret != 0)
            check_refusal(ret, &prob);
    }
    minica_jws_free(&jws);
    return 0;
}
