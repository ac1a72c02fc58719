/* ACME's JWS (serve/jws.h): the RFC 7638 and RFC 7515 examples as known
 * answers, requests signed here with fresh ES256/ES384/RS256 keys accepted,
 * and each refusal with its RFC 8555 problem type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/asn1.h>
#include <mbedtls/md.h>
#include <mbedtls/rsa.h>

#include "base/b64url.h"
#include "base/libload.h"
#include "base/compat.h"
#include "base/util.h"
#include "ca/x509.h"
#include "serve/jws.h"
#include "testutil.h"

/* RFC 7638 section 3.1. */
static const char rfc7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
    "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
    "kEgU8awapJzKnqDKgw";

/* RFC 7515 appendix A.3 (ES256). */
static const char a3_jwk[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
                             "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                             "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
static const char a3_input[] = "eyJhbGciOiJFUzI1NiJ9."
                               "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
                               "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
static const char a3_sig[] = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
                             "pmWQxfKTUJqPP3-Kg6NU1Q";

static const char url[] = "https://ca.internal.svc:8443/acme/new-order";
static const char nonce[] = "oFvnlFP1wIhRlYS2jTaXbA";

struct keys {
    struct minica_rng rng;
    mbedtls_pk_context p256, p256b, p384, rsa;
    char jwk_p256[256], jwk_p256b[256], jwk_p384[320], jwk_rsa[800];
};

static char *b64(const void *data, size_t len)
{
    size_t n = minica_b64url_encoded_len(len) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    assert_int_equal(minica_b64url_encode(data, len, out, n), 0);
    return out;
}

static void b64_into(const void *data, size_t len, char *out, size_t size)
{
    char *s = b64(data, len);
    snprintf(out, size, "%s", s);
    free(s);
}

/* The public JWK of pk, as a client would send it (members in any order). */
static void jwk_of(mbedtls_pk_context *pk, char *out, size_t size)
{
    unsigned char der[1200];
    if (mbedtls_pk_get_type(pk) == MBEDTLS_PK_RSA) {
        unsigned char n[512], e[3];
        size_t nl = mbedtls_pk_get_len(pk);
        assert_int_equal(mbedtls_rsa_export_raw(mbedtls_pk_rsa(*pk), n, nl, NULL, 0, NULL, 0, NULL,
                                                0, e, sizeof(e)),
                         0);
        char nb[700], eb[8];
        b64_into(n, nl, nb, sizeof(nb));
        b64_into(e, 3, eb, sizeof(eb));
        snprintf(out, size, "{\"n\":\"%s\",\"e\":\"%s\",\"kty\":\"RSA\"}", nb, eb);
        return;
    }
    /* The SubjectPublicKeyInfo ends with the uncompressed point 04||x||y. */
    int len = mbedtls_pk_write_pubkey_der(pk, der, sizeof(der));
    assert_true(len > 0);
    size_t coord = minica_compat_pk_ec_group(pk) == MBEDTLS_ECP_DP_SECP256R1 ? 32 : 48;
    const unsigned char *pt = der + sizeof(der) - 2 * coord;
    char x[80], y[80];
    b64_into(pt, coord, x, sizeof(x));
    b64_into(pt + coord, coord, y, sizeof(y));
    snprintf(out, size, "{\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}",
             coord == 32 ? "P-256" : "P-384", x, y);
}

static int keys_setup(void **state)
{
    struct keys *k = calloc(1, sizeof(*k));
    struct minica_err err;
    assert_int_equal(minica_rng_init(&k->rng, &err), 0);
    mbedtls_pk_init(&k->p256);
    mbedtls_pk_init(&k->p256b);
    mbedtls_pk_init(&k->p384);
    mbedtls_pk_init(&k->rsa);
    assert_int_equal(minica_key_generate(&k->p256, MINICA_KEY_EC_P256, &k->rng, &err), 0);
    assert_int_equal(minica_key_generate(&k->p256b, MINICA_KEY_EC_P256, &k->rng, &err), 0);
    assert_int_equal(minica_key_generate(&k->p384, MINICA_KEY_EC_P384, &k->rng, &err), 0);
    assert_int_equal(minica_key_generate(&k->rsa, MINICA_KEY_RSA_2048, &k->rng, &err), 0);
    jwk_of(&k->p256, k->jwk_p256, sizeof(k->jwk_p256));
    jwk_of(&k->p256b, k->jwk_p256b, sizeof(k->jwk_p256b));
    jwk_of(&k->p384, k->jwk_p384, sizeof(k->jwk_p384));
    jwk_of(&k->rsa, k->jwk_rsa, sizeof(k->jwk_rsa));
    *state = k;
    return 0;
}

static int keys_teardown(void **state)
{
    struct keys *k = *state;
    mbedtls_pk_free(&k->p256);
    mbedtls_pk_free(&k->p256b);
    mbedtls_pk_free(&k->p384);
    mbedtls_pk_free(&k->rsa);
    minica_rng_free(&k->rng);
    free(k);
    return 0;
}

/* DER ECDSA-Sig-Value -> JOSE r||s, each left-padded to coord octets. */
static size_t ecdsa_raw(const unsigned char *der, size_t len, size_t coord, unsigned char *out)
{
    unsigned char *p = (unsigned char *)der, *end = p + len;
    size_t l;
    assert_int_equal(
        mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_INTEGER), 0);
        while (l > coord) {
            assert_int_equal(*p, 0);
            p++;
            l--;
        }
        memset(out + i * coord, 0, coord - l);
        memcpy(out + i * coord + coord - l, p, l);
        p += l;
    }
    return 2 * coord;
}

/* A flattened JWS over protected_json and payload, signed by pk with alg
 * ("ES256", "ES384", "RS256"); malloc'd. */
static char *sign_jws(struct keys *k, mbedtls_pk_context *pk, const char *alg,
                      const char *protected_json, const char *payload)
{
    char *p64 = b64(protected_json, strlen(protected_json));
    char *y64 = b64(payload, strlen(payload));
    size_t in_len = strlen(p64) + 1 + strlen(y64);
    char *input = malloc(in_len + 1);
    snprintf(input, in_len + 1, "%s.%s", p64, y64);
    mbedtls_md_type_t md = strcmp(alg, "ES384") == 0 ? MBEDTLS_MD_SHA384 : MBEDTLS_MD_SHA256;
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(md);
    unsigned char hash[64], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE], raw[512];
    assert_int_equal(minica_compat_md(info, (const unsigned char *)input, in_len, hash), 0);
    size_t sig_len = 0;
    assert_int_equal(minica_compat_pk_sign(pk, md, hash, mbedtls_md_get_size(info), sig,
                                           sizeof(sig), &sig_len, &k->rng.drbg),
                     0);
    const unsigned char *s = sig;
    if (alg[0] == 'E') {
        sig_len = ecdsa_raw(sig, sig_len, md == MBEDTLS_MD_SHA384 ? 48 : 32, raw);
        s = raw;
    }
    char *s64 = b64(s, sig_len);
    size_t n = strlen(p64) + strlen(y64) + strlen(s64) + 64;
    char *body = malloc(n);
    snprintf(body, n, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", p64, y64,
             s64);
    free(p64);
    free(y64);
    free(s64);
    free(input);
    return body;
}

static char *header_jwk(const char *alg, const char *jwk)
{
    char *h = malloc(2048);
    snprintf(h, 2048, "{\"alg\":\"%s\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s\"}", alg, jwk,
             nonce, url);
    return h;
}

static char *header_kid(const char *alg)
{
    char *h = malloc(512);
    snprintf(h, 512,
             "{\"alg\":\"%s\",\"kid\":\"https://ca.internal.svc:8443/acme/acct/7\","
             "\"nonce\":\"%s\",\"url\":\"%s\"}",
             alg, nonce, url);
    return h;
}

/* Parses body as a request; returns the MINICA_E* code, fills prob. */
static int parse(const char *body, struct minica_jws *jws, struct minica_acme_problem *prob)
{
    minica_jws_init(jws);
    return minica_jws_parse(body, strlen(body), MINICA_JWS_REQUEST, jws, prob);
}

/* body parsed and verified with its own jwk: the problem type (NONE: accepted). */
static enum minica_acme_problem_type outcome(const char *body)
{
    struct minica_jws jws;
    struct minica_acme_problem prob;
    int ret = parse(body, &jws, &prob);
    if (ret == 0 && jws.jwk_json != NULL)
        ret = minica_jws_verify(&jws, &jws.jwk_key, &prob);
    if (ret == 0)
        prob.type = MINICA_ACME_PROBLEM_NONE;
    else
        assert_true(prob.detail[0] != '\0');
    minica_jws_free(&jws);
    return prob.type;
}

/* stdout of a shell command into out; fails the test unless it exits 0. */
static size_t run(const char *cmd, unsigned char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap, p);
    assert_int_equal(pclose(p), 0);
    return n;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* A request signed by OpenSSL (key, JWK and signature all made by its
 * command line tool), so that the verifier is not only checked against
 * mbedTLS's own signer. */
static void accepts_openssl_request(const char *alg)
{
    char *dir = tu_tempdir();
    char cmd[1024], jwk[900];
    unsigned char buf[4096];
    int rsa = strcmp(alg, "RS256") == 0;
    size_t coord = strcmp(alg, "ES384") == 0 ? 48 : 32;
    snprintf(cmd, sizeof(cmd),
             rsa ? "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s/k.pem "
                   "2>/dev/null"
                 : "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:%s -out %s/k.pem",
             rsa ? dir : (coord == 48 ? "P-384" : "P-256"), dir);
    run(cmd, buf, sizeof(buf));
    if (rsa) {
        snprintf(cmd, sizeof(cmd),
                 "openssl pkey -in %s/k.pem -pubout | openssl rsa -pubin -noout -modulus", dir);
        size_t n = run(cmd, buf, sizeof(buf) - 1);
        buf[n] = '\0';
        char *hex = strchr((char *)buf, '=');
        assert_non_null(hex);
        unsigned char mod[256];
        for (size_t i = 0; i < sizeof(mod); i++)
            assert_int_equal(sscanf(hex + 1 + 2 * i, "%2hhx", &mod[i]), 1);
        char nb[400];
        b64_into(mod, sizeof(mod), nb, sizeof(nb));
        snprintf(jwk, sizeof(jwk), "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"%s\"}", nb);
    } else {
        snprintf(cmd, sizeof(cmd), "openssl pkey -in %s/k.pem -pubout -outform DER", dir);
        size_t n = run(cmd, buf, sizeof(buf));
        assert_true(n > 2 * coord);
        char x[80], y[80];
        b64_into(buf + n - 2 * coord, coord, x, sizeof(x));
        b64_into(buf + n - coord, coord, y, sizeof(y));
        snprintf(jwk, sizeof(jwk), "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                 coord == 48 ? "P-384" : "P-256", x, y);
    }
    char *hdr = header_jwk(alg, jwk);
    char *p64 = b64(hdr, strlen(hdr));
    char *y64 = b64("{}", 2);
    char input[2048], path[512];
    snprintf(input, sizeof(input), "%s.%s", p64, y64);
    snprintf(path, sizeof(path), "%s/in", dir);
    write_text(path, input);
    snprintf(cmd, sizeof(cmd), "openssl dgst -%s -sign %s/k.pem %s",
             coord == 48 ? "sha384" : "sha256", dir, path);
    size_t sig_len = run(cmd, buf, sizeof(buf));
    unsigned char raw[96];
    const unsigned char *sig = buf;
    if (!rsa) {
        sig_len = ecdsa_raw(buf, sig_len, coord, raw);
        sig = raw;
    }
    char *s64 = b64(sig, sig_len);
    char body[4096];
    snprintf(body, sizeof(body), "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}",
             p64, y64, s64);
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_NONE);
    free(s64);
    free(y64);
    free(p64);
    free(hdr);
    tu_rmtree(dir);
    free(dir);
}

static void test_jws_accepts_requests_signed_by_openssl(void **state)
{
    (void)state;
    accepts_openssl_request("ES256");
    accepts_openssl_request("ES384");
    accepts_openssl_request("RS256");
}

static void test_jwk_thumbprint_rfc7638_example(void **state)
{
    (void)state;
    char jwk[600];
    snprintf(jwk, sizeof(jwk),
             "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\",\"alg\":\"RS256\","
             "\"kid\":\"2011-04-29\"}",
             rfc7638_n);
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    unsigned char tp[32];
    struct minica_acme_problem prob;
    assert_int_equal(minica_jwk_parse(jwk, strlen(jwk), &pk, tp, &prob), 0);
    char tp64[44];
    assert_int_equal(minica_b64url_encode(tp, 32, tp64, sizeof(tp64)), 0);
    assert_string_equal(tp64, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_int_equal(mbedtls_pk_get_bitlen(&pk), 2048);
    mbedtls_pk_free(&pk);

    char ka[128];
    assert_int_equal(minica_acme_key_authorization("DGyRejmCefe7v4NfDGDKfA", tp, ka, sizeof(ka)),
                     0);
    assert_string_equal(ka, "DGyRejmCefe7v4NfDGDKfA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_int_equal(minica_acme_key_authorization("DGyRejmCefe7v4NfDGDKfA", tp, ka, 40),
                     MINICA_EINVAL);
}

static void test_jws_rfc7515_a3_es256_verifies(void **state)
{
    (void)state;
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    struct minica_acme_problem prob;
    assert_int_equal(minica_jwk_parse(a3_jwk, strlen(a3_jwk), &pk, NULL, &prob), 0);
    unsigned char sig[64];
    size_t sig_len;
    assert_int_equal(minica_b64url_decode(a3_sig, strlen(a3_sig), sig, sizeof(sig), &sig_len), 0);
    assert_int_equal(minica_jws_verify_signature(MINICA_JWS_ES256, &pk,
                                                 (const unsigned char *)a3_input, strlen(a3_input),
                                                 sig, sig_len, &prob),
                     0);
    /* One bit of the signature, or of the input, and it no longer does. */
    sig[63] ^= 1;
    assert_int_equal(minica_jws_verify_signature(MINICA_JWS_ES256, &pk,
                                                 (const unsigned char *)a3_input, strlen(a3_input),
                                                 sig, sig_len, &prob),
                     MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_MALFORMED);
    sig[63] ^= 1;
    char input[sizeof(a3_input)];
    memcpy(input, a3_input, sizeof(a3_input));
    input[30] ^= 1;
    assert_int_equal(minica_jws_verify_signature(MINICA_JWS_ES256, &pk,
                                                 (const unsigned char *)input, strlen(input), sig,
                                                 sig_len, &prob),
                     MINICA_EINVAL);
    /* The key is P-256: ES384 and RS256 are not algorithms it makes. */
    assert_int_equal(minica_jws_verify_signature(MINICA_JWS_ES384, &pk,
                                                 (const unsigned char *)a3_input, strlen(a3_input),
                                                 sig, sig_len, &prob),
                     MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM);
    assert_int_equal(minica_jws_verify_signature(MINICA_JWS_RS256, &pk,
                                                 (const unsigned char *)a3_input, strlen(a3_input),
                                                 sig, sig_len, &prob),
                     MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM);
    mbedtls_pk_free(&pk);
}

/* r or s zero, or r = s = n: no library may take these for a signature. */
static void test_jws_refuses_degenerate_ecdsa_values(void **state)
{
    (void)state;
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    struct minica_acme_problem prob;
    assert_int_equal(minica_jwk_parse(a3_jwk, strlen(a3_jwk), &pk, NULL, &prob), 0);
    unsigned char good[64], sig[64];
    size_t sig_len;
    assert_int_equal(minica_b64url_decode(a3_sig, strlen(a3_sig), good, sizeof(good), &sig_len), 0);
    static const unsigned char n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
                                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
                                        0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    for (int c = 0; c < 3; c++) {
        memcpy(sig, good, sizeof(sig));
        if (c == 0)
            memset(sig, 0, 32);
        else if (c == 1)
            memset(sig + 32, 0, 32);
        else {
            memcpy(sig, n, 32);
            memcpy(sig + 32, n, 32);
        }
        assert_int_equal(minica_jws_verify_signature(MINICA_JWS_ES256, &pk,
                                                     (const unsigned char *)a3_input,
                                                     strlen(a3_input), sig, sig_len, &prob),
                         MINICA_EINVAL);
        assert_int_equal(prob.type, MINICA_ACME_PROBLEM_MALFORMED);
    }
    mbedtls_pk_free(&pk);
}

/* The suite runs twice, the second time on mbedTLS alone: the first run
 * must really have taken the GnuTLS path. */
static void test_jws_gnutls_path_is_available(void **state)
{
    (void)state;
    struct minica_err err;
    if (minica_gnutls_load(&err) == NULL)
        fail_msg("GnuTLS (libgnutls30) is needed for the fast path: %s", err.msg);
}

static void accepts_jwk_request(struct keys *k, mbedtls_pk_context *pk, const char *alg,
                                const char *jwk)
{
    char *hdr = header_jwk(alg, jwk);
    char *body = sign_jws(k, pk, alg, hdr, "{\"identifiers\":[]}");
    struct minica_jws jws;
    struct minica_acme_problem prob;
    assert_int_equal(parse(body, &jws, &prob), 0);
    assert_int_equal(minica_jws_verify(&jws, &jws.jwk_key, &prob), 0);
    assert_string_equal(jws.url, url);
    assert_string_equal(jws.nonce, nonce);
    assert_null(jws.kid);
    assert_int_equal(jws.payload_len, strlen("{\"identifiers\":[]}"));
    assert_string_equal((const char *)jws.payload, "{\"identifiers\":[]}");
    /* What is stored for the account parses back to the same thumbprint. */
    mbedtls_pk_context again;
    mbedtls_pk_init(&again);
    unsigned char tp[32];
    assert_int_equal(minica_jwk_parse(jws.jwk_json, strlen(jws.jwk_json), &again, tp, &prob), 0);
    assert_memory_equal(tp, jws.jwk_thumbprint, 32);
    mbedtls_pk_free(&again);
    minica_jws_free(&jws);
    free(body);
    free(hdr);
}

static void test_jws_accepts_es256_es384_rs256_with_jwk(void **state)
{
    struct keys *k = *state;
    accepts_jwk_request(k, &k->p256, "ES256", k->jwk_p256);
    accepts_jwk_request(k, &k->p384, "ES384", k->jwk_p384);
    accepts_jwk_request(k, &k->rsa, "RS256", k->jwk_rsa);
}

static void test_jws_kid_request_verifies_with_the_account_key_only(void **state)
{
    struct keys *k = *state;
    char *hdr = header_kid("ES256");
    char *body = sign_jws(k, &k->p256, "ES256", hdr, ""); /* POST-as-GET */
    struct minica_jws jws;
    struct minica_acme_problem prob;
    assert_int_equal(parse(body, &jws, &prob), 0);
    assert_string_equal(jws.kid, "https://ca.internal.svc:8443/acme/acct/7");
    assert_null(jws.jwk_json);
    assert_int_equal(jws.payload_len, 0);
    assert_int_equal(minica_jws_verify(&jws, &k->p256, &prob), 0);
    /* Another P-256 key: the signature is not its. */
    assert_int_equal(minica_jws_verify(&jws, &k->p256b, &prob), MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_MALFORMED);
    /* An account whose key is RSA or P-384: ES256 is the wrong algorithm. */
    assert_int_equal(minica_jws_verify(&jws, &k->rsa, &prob), MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM);
    assert_int_equal(minica_jws_verify(&jws, &k->p384, &prob), MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM);
    minica_jws_free(&jws);
    free(body);
    free(hdr);
}

static void test_jws_refuses_a_jwk_that_did_not_sign(void **state)
{
    struct keys *k = *state;
    char *hdr = header_jwk("ES256", k->jwk_p256b);
    char *body = sign_jws(k, &k->p256, "ES256", hdr, "{}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_MALFORMED);
    free(body);
    free(hdr);
    /* alg says ES384 for a P-256 jwk (signed with P-384). */
    hdr = header_jwk("ES384", k->jwk_p256);
    body = sign_jws(k, &k->p384, "ES384", hdr, "{}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM);
    free(body);
    free(hdr);
}

/* body with the part named field ("protected", "payload") replaced by the
 * base64url of text, the signature kept; malloc'd. */
static char *replace_part(const char *body, const char *field, const char *text)
{
    char key[32];
    snprintf(key, sizeof(key), "\"%s\":\"", field);
    const char *start = strstr(body, key);
    assert_non_null(start);
    start += strlen(key);
    const char *end = strchr(start, '"');
    char *enc = b64(text, strlen(text));
    size_t n = strlen(body) + strlen(enc) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(start - body), body, enc, end);
    free(enc);
    return out;
}

static void test_jws_refuses_tampered_payload_and_header(void **state)
{
    struct keys *k = *state;
    char *hdr = header_jwk("ES256", k->jwk_p256);
    char *body = sign_jws(k, &k->p256, "ES256", hdr, "{\"contact\":[]}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_NONE);
    char *t = replace_part(body, "payload", "{\"contact\":[\"mailto:x@y\"]}");
    assert_int_equal(outcome(t), MINICA_ACME_PROBLEM_MALFORMED);
    free(t);
    char other[1024];
    snprintf(other, sizeof(other), "{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s\"}",
             k->jwk_p256, nonce, "https://ca.internal.svc:8443/acme/revoke-cert");
    t = replace_part(body, "protected", other);
    assert_int_equal(outcome(t), MINICA_ACME_PROBLEM_MALFORMED);
    free(t);
    free(body);
    free(hdr);
}

static void test_jws_refuses_other_algorithms(void **state)
{
    struct keys *k = *state;
    static const char *const algs[] = {"none", "HS256", "PS256", "ES512", "EdDSA", "es256", ""};
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        char *hdr = header_jwk(algs[i], k->jwk_p256);
        char *body = sign_jws(k, &k->p256, "ES256", hdr, "{}");
        assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM);
        free(body);
        free(hdr);
    }
    /* No alg at all, or not a string. */
    char hdr[1024];
    snprintf(hdr, sizeof(hdr), "{\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s\"}", k->jwk_p256, nonce,
             url);
    char *body = sign_jws(k, &k->p256, "ES256", hdr, "{}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_MALFORMED);
    free(body);
}

static void test_jws_needs_exactly_one_of_jwk_and_kid(void **state)
{
    struct keys *k = *state;
    char hdr[1024];
    snprintf(hdr, sizeof(hdr),
             "{\"alg\":\"ES256\",\"jwk\":%s,\"kid\":\"https://ca/acme/acct/1\",\"nonce\":\"%s\","
             "\"url\":\"%s\"}",
             k->jwk_p256, nonce, url);
    char *body = sign_jws(k, &k->p256, "ES256", hdr, "{}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_MALFORMED);
    free(body);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"nonce\":\"%s\",\"url\":\"%s\"}", nonce, url);
    body = sign_jws(k, &k->p256, "ES256", hdr, "{}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_MALFORMED);
    free(body);
}

static void test_jwk_refuses_private_and_unusable_keys(void **state)
{
    struct keys *k = *state;
    char jwk[1024];
    struct minica_acme_problem prob;
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    /* A private member: the client leaked its key, refuse it. */
    snprintf(jwk, sizeof(jwk), "%.*s,\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}",
             (int)strlen(a3_jwk) - 1, a3_jwk);
    assert_int_equal(minica_jwk_parse(jwk, strlen(jwk), &pk, NULL, &prob), MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_BAD_PUBLIC_KEY);
    assert_non_null(strstr(prob.detail, "\"d\""));
    /* ...and the same through a request. */
    char *hdr = header_jwk("ES256", jwk);
    char *body = sign_jws(k, &k->p256, "ES256", hdr, "{}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_BAD_PUBLIC_KEY);
    free(body);
    free(hdr);
    /* A point off the curve: the A.3 key with y's last octet changed. */
    snprintf(jwk, sizeof(jwk),
             "{\"kty\":\"EC\",\"crv\":\"P-256\","
             "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
             "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4\"}");
    assert_int_equal(minica_jwk_parse(jwk, strlen(jwk), &pk, NULL, &prob), MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_BAD_PUBLIC_KEY);
    /* Coordinates not the field size, other curves and key types. */
    static const char *const bad[] = {
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AQ\",\"y\":\"AQ\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AQ\",\"y\":\"AQ\"}",
        "{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AQ\",\"y\":\"AQ\"}",
        ("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_"
         "7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"),
        "{\"kty\":\"oct\",\"k\":\"AQ\"}",
        "{\"crv\":\"P-256\"}",
        "{\"kty\":\"RSA\",\"n\":\"AQAB\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(minica_jwk_parse(bad[i], strlen(bad[i]), &pk, NULL, &prob), MINICA_EINVAL);
        assert_int_equal(prob.type, MINICA_ACME_PROBLEM_BAD_PUBLIC_KEY);
    }
    /* RSA below 2048 bits (1024 here), above 4096, and n with a leading zero. */
    unsigned char n[600];
    memset(n, 0xc5, sizeof(n));
    char nb[900];
    static const size_t sizes[] = {128, 255, 513};
    for (size_t i = 0; i < 3; i++) {
        b64_into(n, sizes[i], nb, sizeof(nb));
        snprintf(jwk, sizeof(jwk), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", nb);
        assert_int_equal(minica_jwk_parse(jwk, strlen(jwk), &pk, NULL, &prob), MINICA_EINVAL);
        assert_int_equal(prob.type, MINICA_ACME_PROBLEM_BAD_PUBLIC_KEY);
    }
    /* The RFC 7638 modulus with one 00 octet in front: the same key, another spelling. */
    size_t nl = 0;
    assert_int_equal(minica_b64url_decode(rfc7638_n, strlen(rfc7638_n), n + 1, sizeof(n) - 1, &nl),
                     0);
    n[0] = 0;
    b64_into(n, nl + 1, nb, sizeof(nb));
    snprintf(jwk, sizeof(jwk), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", nb);
    assert_int_equal(minica_jwk_parse(jwk, strlen(jwk), &pk, NULL, &prob), MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_BAD_PUBLIC_KEY);
    /* An even exponent is no RSA key mbedTLS will take. */
    snprintf(jwk, sizeof(jwk), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAA\"}", rfc7638_n);
    assert_int_equal(minica_jwk_parse(jwk, strlen(jwk), &pk, NULL, &prob), MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_BAD_PUBLIC_KEY);
    /* Not JSON, or repeated members. */
    assert_int_equal(minica_jwk_parse("[1]", 3, &pk, NULL, &prob), MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_MALFORMED);
    snprintf(jwk, sizeof(jwk), "{\"kty\":\"EC\",%s", a3_jwk + 1);
    assert_int_equal(minica_jwk_parse(jwk, strlen(jwk), &pk, NULL, &prob), MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_MALFORMED);
    mbedtls_pk_free(&pk);
}

static void test_jws_exposes_url_and_nonce_for_the_caller(void **state)
{
    struct keys *k = *state;
    char hdr[1024];
    snprintf(hdr, sizeof(hdr),
             "{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"%s\","
             "\"url\":\"https://ca.internal.svc:8443/acme/other\"}",
             k->jwk_p256, nonce);
    char *body = sign_jws(k, &k->p256, "ES256", hdr, "{}");
    struct minica_jws jws;
    struct minica_acme_problem prob;
    assert_int_equal(parse(body, &jws, &prob), 0);
    assert_string_equal(jws.url, "https://ca.internal.svc:8443/acme/other");
    minica_jws_free(&jws);
    free(body);
    /* A URL cut short by an escaped NUL would read as one the client did not sign. */
    snprintf(hdr, sizeof(hdr),
             "{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s\\u0000x\"}", k->jwk_p256,
             nonce, url);
    body = sign_jws(k, &k->p256, "ES256", hdr, "{}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_MALFORMED);
    free(body);
    /* The nonce: required for a request, base64url; forbidden in keyChange's inner JWS. */
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"jwk\":%s,\"url\":\"%s\"}", k->jwk_p256, url);
    body = sign_jws(k, &k->p256, "ES256", hdr, "{}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_BAD_NONCE);
    minica_jws_init(&jws);
    assert_int_equal(minica_jws_parse(body, strlen(body), MINICA_JWS_KEYCHANGE_INNER, &jws, &prob),
                     0);
    assert_null(jws.nonce);
    minica_jws_free(&jws);
    free(body);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"a+b=\",\"url\":\"%s\"}",
             k->jwk_p256, url);
    body = sign_jws(k, &k->p256, "ES256", hdr, "{}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_BAD_NONCE);
    free(body);
    char *h = header_jwk("ES256", k->jwk_p256);
    body = sign_jws(k, &k->p256, "ES256", h, "{}");
    minica_jws_init(&jws);
    assert_int_equal(minica_jws_parse(body, strlen(body), MINICA_JWS_KEYCHANGE_INNER, &jws, &prob),
                     MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_MALFORMED);
    free(body);
    free(h);
    h = header_kid("ES256");
    body = sign_jws(k, &k->p256, "ES256", h, "{}");
    minica_jws_init(&jws);
    assert_int_equal(minica_jws_parse(body, strlen(body), MINICA_JWS_KEYCHANGE_INNER, &jws, &prob),
                     MINICA_EINVAL);
    free(body);
    free(h);
}

static void test_jws_refuses_malformed_bodies(void **state)
{
    struct keys *k = *state;
    char *hdr = header_jwk("ES256", k->jwk_p256);
    char *good = sign_jws(k, &k->p256, "ES256", hdr, "{}");
    char buf[4096];
    static const char *const not_objects[] = {
        "",
        "[]",
        "\"x\"",
        "null",
        "{",
        "{\"protected\":1,\"payload\":\"\",\"signature\":\"AA\"}",
        "{\"payload\":\"\",\"signature\":\"AA\"}",
        "{\"protected\":\"W10\",\"payload\":\"\",\"signature\":\"AA\"}", /* [] */
        "{\"protected\":\"Ig\",\"payload\":\"\",\"signature\":\"AA\"}",  /* " */
    };
    for (size_t i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++)
        assert_int_equal(outcome(not_objects[i]), MINICA_ACME_PROBLEM_MALFORMED);
    /* Trailing bytes after the object. */
    snprintf(buf, sizeof(buf), "%s x", good);
    assert_int_equal(outcome(buf), MINICA_ACME_PROBLEM_MALFORMED);
    snprintf(buf, sizeof(buf), "%s \n", good);
    assert_int_equal(outcome(buf), MINICA_ACME_PROBLEM_NONE);
    /* An unprotected header, the general serialization, another member, a repeated one. */
    snprintf(buf, sizeof(buf), "{\"header\":{},%s", good + 1);
    assert_int_equal(outcome(buf), MINICA_ACME_PROBLEM_MALFORMED);
    snprintf(buf, sizeof(buf), "{\"signatures\":[],%s", good + 1);
    assert_int_equal(outcome(buf), MINICA_ACME_PROBLEM_MALFORMED);
    snprintf(buf, sizeof(buf), "{\"payload\":\"e30\",%s", good + 1);
    assert_int_equal(outcome(buf), MINICA_ACME_PROBLEM_MALFORMED);
    /* Padding or the standard alphabet in each part. */
    static const char *const parts[] = {"\",\"payload\"", "\",\"signature\"", "\"}"};
    for (size_t i = 0; i < 3; i++) {
        const char *at = strstr(good, parts[i]);
        assert_non_null(at);
        snprintf(buf, sizeof(buf), "%.*s=%s", (int)(at - good), good, at);
        assert_int_equal(outcome(buf), MINICA_ACME_PROBLEM_MALFORMED);
        snprintf(buf, sizeof(buf), "%.*s+%s", (int)(at - good), good, at);
        assert_int_equal(outcome(buf), MINICA_ACME_PROBLEM_MALFORMED);
    }
    /* An empty signature; a NUL inside the body. */
    const char *sig_at = strstr(good, "\"signature\":\"") + strlen("\"signature\":\"");
    snprintf(buf, sizeof(buf), "%.*s\"}", (int)(sig_at - good), good);
    struct minica_jws jws;
    struct minica_acme_problem prob;
    assert_int_equal(parse(buf, &jws, &prob), MINICA_EINVAL);
    assert_non_null(strstr(prob.detail, "signature"));
    minica_jws_init(&jws);
    assert_int_equal(minica_jws_parse(good, strlen(good) + 1, MINICA_JWS_REQUEST, &jws, &prob),
                     MINICA_EINVAL);
    /* crit, and a repeated header member. */
    char h2[1024];
    snprintf(h2, sizeof(h2),
             "{\"alg\":\"ES256\",\"crit\":[\"b64\"],\"b64\":false,\"jwk\":%s,"
             "\"nonce\":\"%s\",\"url\":\"%s\"}",
             k->jwk_p256, nonce, url);
    char *body = sign_jws(k, &k->p256, "ES256", h2, "{}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_MALFORMED);
    free(body);
    snprintf(h2, sizeof(h2),
             "{\"alg\":\"ES256\",\"alg\":\"none\",\"jwk\":%s,"
             "\"nonce\":\"%s\",\"url\":\"%s\"}",
             k->jwk_p256, nonce, url);
    body = sign_jws(k, &k->p256, "ES256", h2, "{}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_MALFORMED);
    free(body);
    free(good);
    free(hdr);
}

static void test_jws_caps_input_sizes(void **state)
{
    struct keys *k = *state;
    /* A body over the cap is refused before it is parsed. */
    size_t n = MINICA_JWS_MAX_BODY + 1;
    char *huge = malloc(n + 1);
    memset(huge, ' ', n);
    huge[0] = '{';
    huge[n - 1] = '}';
    huge[n] = '\0';
    struct minica_jws jws;
    struct minica_acme_problem prob;
    assert_int_equal(parse(huge, &jws, &prob), MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_MALFORMED);
    assert_non_null(strstr(prob.detail, "exceeds"));
    free(huge);
    /* A protected header over its cap, in a body under the body's. */
    size_t pad = MINICA_JWS_MAX_PROTECTED;
    char *hdr = malloc(pad + 1024);
    int off = snprintf(hdr, pad + 1024,
                       "{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s\",\"x\":\"",
                       k->jwk_p256, nonce, url);
    memset(hdr + off, 'a', pad);
    snprintf(hdr + off + pad, 8, "\"}");
    char *body = sign_jws(k, &k->p256, "ES256", hdr, "{}");
    assert_int_equal(parse(body, &jws, &prob), MINICA_EINVAL);
    assert_non_null(strstr(prob.detail, "protected header exceeds"));
    free(body);
    free(hdr);
    /* A URL over its cap. */
    char *longurl = malloc(MINICA_JWS_MAX_URL + 2);
    memset(longurl, 'u', MINICA_JWS_MAX_URL + 1);
    longurl[MINICA_JWS_MAX_URL + 1] = '\0';
    hdr = malloc(MINICA_JWS_MAX_URL + 1024);
    snprintf(hdr, MINICA_JWS_MAX_URL + 1024,
             "{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s\"}", k->jwk_p256, nonce,
             longurl);
    body = sign_jws(k, &k->p256, "ES256", hdr, "{}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_MALFORMED);
    free(body);
    free(hdr);
    free(longurl);
}

/* RFC 7515 appendix A.1: the HS256 example, checked by the EAB MAC check. */
static void test_jws_hmac_rfc7515_a1_hs256(void **state)
{
    (void)state;
    static const char k64[] =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hc"
        "gUuTwjAzZr1Z9CAow";
    static const char input[] =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cn"
        "VlfQ";
    static const char sig64[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    unsigned char key[64], sig[32];
    size_t key_len = 0, sig_len = 0;
    assert_int_equal(minica_b64url_decode(k64, strlen(k64), key, sizeof(key), &key_len), 0);
    assert_int_equal(minica_b64url_decode(sig64, strlen(sig64), sig, sizeof(sig), &sig_len), 0);
    struct minica_jws jws;
    struct minica_acme_problem prob;
    minica_jws_init(&jws);
    jws.alg = MINICA_JWS_HS256;
    jws.signing_input = (char *)input;
    jws.signing_input_len = strlen(input);
    jws.signature = sig;
    jws.signature_len = sig_len;
    assert_int_equal(minica_jws_verify_hmac(&jws, key, key_len, &prob), 0);
    sig[31] ^= 1;
    assert_int_equal(minica_jws_verify_hmac(&jws, key, key_len, &prob), MINICA_EFORBIDDEN);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_UNAUTHORIZED);
    jws.signature_len = 31;
    assert_int_equal(minica_jws_verify_hmac(&jws, key, key_len, &prob), MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_MALFORMED);
    /* An account JWS is never checked as a MAC, nor a MAC as a signature. */
    jws.signature_len = 32;
    jws.alg = MINICA_JWS_ES256;
    assert_int_equal(minica_jws_verify_hmac(&jws, key, key_len, &prob), MINICA_EINVAL);
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    assert_int_equal(minica_jws_verify_signature(MINICA_JWS_HS256, &pk,
                                                 (const unsigned char *)input, strlen(input), sig,
                                                 32, &prob),
                     MINICA_EINVAL);
    assert_int_equal(prob.type, MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM);
}

/* A flattened JWS with protected_json and payload, any signature. */
static char *unsigned_jws(const char *protected_json, const char *payload)
{
    char *p = b64(protected_json, strlen(protected_json)), *y = b64(payload, strlen(payload));
    char *out = malloc(strlen(p) + strlen(y) + 128);
    sprintf(out, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", p, y,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    free(p);
    free(y);
    return out;
}

static enum minica_acme_problem_type eab_outcome(const char *protected_json)
{
    char *body = unsigned_jws(protected_json, "{\"kty\":\"EC\"}");
    struct minica_jws jws;
    struct minica_acme_problem prob;
    minica_jws_init(&jws);
    int ret = minica_jws_parse(body, strlen(body), MINICA_JWS_EAB_INNER, &jws, &prob);
    free(body);
    if (ret == 0) {
        assert_int_equal(jws.alg, MINICA_JWS_HS256);
        assert_string_equal(jws.kid, "0123456789abcdef");
        assert_string_equal(jws.url, url);
        prob.type = MINICA_ACME_PROBLEM_NONE;
    }
    minica_jws_free(&jws);
    return prob.type;
}

static void test_jws_eab_inner_header(void **state)
{
    (void)state;
    char h[1024];
    snprintf(h, sizeof(h), "{\"alg\":\"HS256\",\"kid\":\"0123456789abcdef\",\"url\":\"%s\"}", url);
    assert_int_equal(eab_outcome(h), MINICA_ACME_PROBLEM_NONE);
    static const char *const bad_algs[] = {"none", "RS256", "ES256", "HS512", "hs256"};
    for (size_t i = 0; i < sizeof(bad_algs) / sizeof(bad_algs[0]); i++) {
        snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"kid\":\"0123456789abcdef\",\"url\":\"%s\"}",
                 bad_algs[i], url);
        assert_int_equal(eab_outcome(h), MINICA_ACME_PROBLEM_MALFORMED);
    }
    snprintf(h, sizeof(h),
             "{\"alg\":\"HS256\",\"kid\":\"0123456789abcdef\",\"nonce\":\"%s\",\"url\":\"%s\"}",
             nonce, url);
    assert_int_equal(eab_outcome(h), MINICA_ACME_PROBLEM_MALFORMED);
    snprintf(h, sizeof(h), "{\"alg\":\"HS256\",\"url\":\"%s\"}", url);
    assert_int_equal(eab_outcome(h), MINICA_ACME_PROBLEM_MALFORMED);
    assert_int_equal(eab_outcome("{\"alg\":\"HS256\",\"kid\":\"0123456789abcdef\"}"),
                     MINICA_ACME_PROBLEM_MALFORMED);
    /* HS256 is no alg for a request. */
    snprintf(h, sizeof(h), "{\"alg\":\"HS256\",\"kid\":\"x\",\"nonce\":\"%s\",\"url\":\"%s\"}",
             nonce, url);
    char *body = unsigned_jws(h, "{}");
    assert_int_equal(outcome(body), MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM);
    free(body);
}

static void test_acme_problem_urns(void **state)
{
    (void)state;
    assert_string_equal(minica_acme_problem_urn(MINICA_ACME_PROBLEM_MALFORMED),
                        "urn:ietf:params:acme:error:malformed");
    assert_string_equal(minica_acme_problem_urn(MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM),
                        "urn:ietf:params:acme:error:badSignatureAlgorithm");
    assert_string_equal(minica_acme_problem_urn(MINICA_ACME_PROBLEM_BAD_PUBLIC_KEY),
                        "urn:ietf:params:acme:error:badPublicKey");
    assert_string_equal(minica_acme_problem_urn(MINICA_ACME_PROBLEM_BAD_NONCE),
                        "urn:ietf:params:acme:error:badNonce");
    assert_string_equal(minica_acme_problem_urn(MINICA_ACME_PROBLEM_UNAUTHORIZED),
                        "urn:ietf:params:acme:error:unauthorized");
    assert_string_equal(minica_acme_problem_urn(MINICA_ACME_PROBLEM_NONE), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwk_thumbprint_rfc7638_example),
        cmocka_unit_test(test_jws_rfc7515_a3_es256_verifies),
        cmocka_unit_test(test_jws_accepts_es256_es384_rs256_with_jwk),
        cmocka_unit_test(test_jws_accepts_requests_signed_by_openssl),
        cmocka_unit_test(test_jws_kid_request_verifies_with_the_account_key_only),
        cmocka_unit_test(test_jws_refuses_a_jwk_that_did_not_sign),
        cmocka_unit_test(test_jws_refuses_tampered_payload_and_header),
        cmocka_unit_test(test_jws_refuses_other_algorithms),
        cmocka_unit_test(test_jws_needs_exactly_one_of_jwk_and_kid),
        cmocka_unit_test(test_jwk_refuses_private_and_unusable_keys),
        cmocka_unit_test(test_jws_exposes_url_and_nonce_for_the_caller),
        cmocka_unit_test(test_jws_refuses_malformed_bodies),
        cmocka_unit_test(test_jws_caps_input_sizes),
        cmocka_unit_test(test_acme_problem_urns),
        cmocka_unit_test(test_jws_hmac_rfc7515_a1_hs256),
        cmocka_unit_test(test_jws_eab_inner_header),
        cmocka_unit_test(test_jws_refuses_degenerate_ecdsa_values),
    };
    const struct CMUnitTest fast[] = {cmocka_unit_test(test_jws_gnutls_path_is_available)};
    int failed = cmocka_run_group_tests_name("GnuTLS path", fast, NULL, NULL);
    failed += cmocka_run_group_tests_name("ECDSA by GnuTLS", tests, keys_setup, keys_teardown);
    minica_jws_force_mbedtls(1);
    failed += cmocka_run_group_tests_name("ECDSA by mbedTLS", tests, keys_setup, keys_teardown);
    return failed;
}
