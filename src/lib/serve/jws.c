/* ACME's JWS (see jws.h): the flattened JSON serialization, the protected
 * header, public JWKs turned into mbedTLS keys by way of a
 * SubjectPublicKeyInfo (the one key import 2.28 and 3.6 share without
 * private fields), and signature checks. Not the nonce, url or account. */
#include "serve/jws.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>

#include "base/b64url.h"
#include "base/compat.h"
#include "minica/error.h"
#include "minica/escape.h"
#include "serve/fastverify.h"

static int refuse(struct minica_acme_problem *prob, enum minica_acme_problem_type type, int code,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int refuse(struct minica_acme_problem *prob, enum minica_acme_problem_type type, int code,
                  const char *fmt, ...)
{
    prob->type = type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prob->detail, sizeof(prob->detail), fmt, ap);
    va_end(ap);
    return code;
}

#define MALFORMED(prob, ...) refuse(prob, MINICA_ACME_PROBLEM_MALFORMED, MINICA_EINVAL, __VA_ARGS__)
#define BAD_KEY(prob, ...)                                                                         \
    refuse(prob, MINICA_ACME_PROBLEM_BAD_PUBLIC_KEY, MINICA_EINVAL, __VA_ARGS__)
#define NO_MEMORY(prob)                                                                            \
    refuse(prob, MINICA_ACME_PROBLEM_SERVER_INTERNAL, MINICA_ENOMEM, "out of memory")

const char *minica_acme_problem_urn(enum minica_acme_problem_type type)
{
    switch (type) {
    case MINICA_ACME_PROBLEM_NONE:
        break;
    case MINICA_ACME_PROBLEM_MALFORMED:
        return "urn:ietf:params:acme:error:malformed";
    case MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM:
        return "urn:ietf:params:acme:error:badSignatureAlgorithm";
    case MINICA_ACME_PROBLEM_BAD_PUBLIC_KEY:
        return "urn:ietf:params:acme:error:badPublicKey";
    case MINICA_ACME_PROBLEM_BAD_NONCE:
        return "urn:ietf:params:acme:error:badNonce";
    case MINICA_ACME_PROBLEM_UNAUTHORIZED:
        return "urn:ietf:params:acme:error:unauthorized";
    case MINICA_ACME_PROBLEM_SERVER_INTERNAL:
        return "urn:ietf:params:acme:error:serverInternal";
    }
    return "";
}

void minica_jws_init(struct minica_jws *jws)
{
    memset(jws, 0, sizeof(*jws));
    mbedtls_pk_init(&jws->jwk_key);
}

void minica_jws_free(struct minica_jws *jws)
{
    free(jws->nonce);
    free(jws->url);
    free(jws->kid);
    free(jws->jwk_json);
    mbedtls_pk_free(&jws->jwk_key);
    free(jws->payload);
    free(jws->signing_input);
    free(jws->signature);
    minica_jws_init(jws);
}

/* JSON text -> an object, with nothing but whitespace after it (cJSON
 * alone would stop at the first value and ignore the rest). */
static cJSON *parse_object(const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (json == NULL)
        return NULL;
    size_t off = (size_t)(end - text);
    while (off < len &&
           (text[off] == ' ' || text[off] == '\t' || text[off] == '\n' || text[off] == '\r'))
        off++;
    if (off != len || !cJSON_IsObject(json)) {
        cJSON_Delete(json);
        return NULL;
    }
    return json;
}

/* Two members of one name would let two readers of one request see
 * different values (RFC 7515 section 5.2 lets a parser refuse them). */
static int has_duplicate_members(const cJSON *obj)
{
    int n = 0;
    for (const cJSON *a = obj->child; a != NULL; a = a->next) {
        if (++n > 64)
            return 1; /* no JOSE object of ours has that many: refuse, stay linear */
        for (const cJSON *b = a->next; b != NULL; b = b->next)
            if (strcmp(a->string, b->string) == 0)
                return 1;
    }
    return 0;
}

static const char *string_member(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* base64url text -> a malloc'd buffer with a NUL after the octets. */
static int decode_alloc(const char *text, size_t len, unsigned char **out, size_t *out_len)
{
    size_t cap = minica_b64url_decoded_max(len) + 1;
    unsigned char *buf = malloc(cap);
    if (buf == NULL)
        return MINICA_ENOMEM;
    int ret = minica_b64url_decode(text, len, buf, cap, out_len);
    if (ret != 0) {
        free(buf);
        return ret;
    }
    buf[*out_len] = '\0';
    *out = buf;
    return MINICA_OK;
}

/* A minimal DER TLV at buf + *off; buf holds enough (callers size it). */
static void put_tlv(unsigned char *buf, size_t *off, unsigned char tag, const unsigned char *val,
                    size_t len)
{
    buf[(*off)++] = tag;
    if (len < 0x80) {
        buf[(*off)++] = (unsigned char)len;
    } else if (len < 0x100) {
        buf[(*off)++] = 0x81;
        buf[(*off)++] = (unsigned char)len;
    } else {
        buf[(*off)++] = 0x82;
        buf[(*off)++] = (unsigned char)(len >> 8);
        buf[(*off)++] = (unsigned char)len;
    }
    memmove(buf + *off, val, len);
    *off += len;
}

/* A positive INTEGER from unsigned big-endian octets (X.690 8.3). */
static void put_uint(unsigned char *buf, size_t *off, const unsigned char *val, size_t len)
{
    while (len > 1 && val[0] == 0) {
        val++;
        len--;
    }
    unsigned char tmp[600];
    size_t n = 0;
    if (val[0] & 0x80)
        tmp[n++] = 0;
    memcpy(tmp + n, val, len);
    put_tlv(buf, off, 0x02, tmp, n + len);
}

struct ec_curve {
    const char *crv;
    mbedtls_ecp_group_id id;
    size_t coord;
    /* SubjectPublicKeyInfo up to the uncompressed point (RFC 5480). */
    const unsigned char *spki_prefix;
    size_t prefix_len;
};

static const unsigned char p256_prefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                            0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                            0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
static const unsigned char p384_prefix[] = {0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86,
                                            0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
                                            0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00};
static const struct ec_curve curves[] = {
    {"P-256", MBEDTLS_ECP_DP_SECP256R1, 32, p256_prefix, sizeof(p256_prefix)},
    {"P-384", MBEDTLS_ECP_DP_SECP384R1, 48, p384_prefix, sizeof(p384_prefix)},
};

/* Members that only a private or symmetric JWK has (RFC 7518 6.2.2, 6.3.2, 6.4). */
static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

static int parse_spki(mbedtls_pk_context *pk, const unsigned char *der, size_t len,
                      struct minica_acme_problem *prob, const char *what)
{
    int ret = mbedtls_pk_parse_public_key(pk, der, len);
    if (ret != 0) {
        mbedtls_pk_free(pk);
        mbedtls_pk_init(pk);
        return BAD_KEY(prob, "the jwk is not a valid %s public key", what);
    }
    return MINICA_OK;
}

static int jwk_ec(const cJSON *jwk, mbedtls_pk_context *pk, char *canon, size_t canon_size,
                  struct minica_acme_problem *prob)
{
    const char *crv = string_member(jwk, "crv");
    const char *x = string_member(jwk, "x"), *y = string_member(jwk, "y");
    const struct ec_curve *c = NULL;
    for (size_t i = 0; crv != NULL && i < sizeof(curves) / sizeof(curves[0]); i++)
        if (strcmp(crv, curves[i].crv) == 0)
            c = &curves[i];
    if (c == NULL)
        return BAD_KEY(prob, "the jwk's curve is not P-256 or P-384");
    if (x == NULL || y == NULL)
        return BAD_KEY(prob, "the EC jwk lacks \"x\" or \"y\"");
    unsigned char der[128];
    size_t off = c->prefix_len, xl = 0, yl = 0;
    memcpy(der, c->spki_prefix, off);
    der[off++] = 0x04; /* uncompressed (SEC 1 2.3.3) */
    /* RFC 7518 6.2.1.2: each coordinate is exactly the field size. */
    if (minica_b64url_decode(x, strlen(x), der + off, c->coord, &xl) != 0 || xl != c->coord ||
        minica_b64url_decode(y, strlen(y), der + off + c->coord, c->coord, &yl) != 0 ||
        yl != c->coord)
        return BAD_KEY(prob, "the jwk's coordinates are not %zu-octet base64url", c->coord);
    off += 2 * c->coord;
    int ret = parse_spki(pk, der, off, prob, c->crv);
    if (ret != 0)
        return ret;
    /* RFC 7638 3.2: the required members, lexicographic, no whitespace. */
    snprintf(canon, canon_size, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", c->crv,
             x, y);
    return MINICA_OK;
}

static int jwk_rsa(const cJSON *jwk, mbedtls_pk_context *pk, char *canon, size_t canon_size,
                   struct minica_acme_problem *prob)
{
    const char *n = string_member(jwk, "n"), *e = string_member(jwk, "e");
    if (n == NULL || e == NULL)
        return BAD_KEY(prob, "the RSA jwk lacks \"n\" or \"e\"");
    unsigned char nb[MINICA_JWS_RSA_MAX_BITS / 8], eb[8];
    size_t nl = 0, el = 0;
    if (strlen(n) > minica_b64url_encoded_len(sizeof(nb)))
        return BAD_KEY(prob, "the RSA key has more than %d bits", MINICA_JWS_RSA_MAX_BITS);
    if (minica_b64url_decode(n, strlen(n), nb, sizeof(nb), &nl) != 0 || nl == 0 ||
        minica_b64url_decode(e, strlen(e), eb, sizeof(eb), &el) != 0 || el == 0)
        return BAD_KEY(prob, "the RSA jwk's \"n\" or \"e\" is not base64url of a size accepted");
    /* RFC 7518 6.3.1: minimal octets, so one key has one thumbprint. */
    if (nb[0] == 0 || eb[0] == 0)
        return BAD_KEY(prob, "the RSA jwk's \"n\" or \"e\" has leading zero octets");
    size_t bits = (nl - 1) * 8;
    for (unsigned top = nb[0]; top != 0; top >>= 1)
        bits++;
    if (bits < MINICA_JWS_RSA_MIN_BITS)
        return BAD_KEY(prob, "the RSA key has %zu bits, fewer than %d", bits,
                       MINICA_JWS_RSA_MIN_BITS);
    /* RSAPublicKey inside a SubjectPublicKeyInfo (RFC 8017 A.1.1, RFC 3279 2.3.1). */
    unsigned char ints[600], bitstr[620], body[700], der[720];
    size_t il = 0, bl = 0, yl = 0, dl = 0;
    put_uint(ints, &il, nb, nl);
    put_uint(ints, &il, eb, el);
    bitstr[bl++] = 0; /* no unused bits */
    put_tlv(bitstr, &bl, 0x30, ints, il);
    static const unsigned char alg[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                        0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
    memcpy(body, alg, sizeof(alg));
    yl = sizeof(alg);
    put_tlv(body, &yl, 0x03, bitstr, bl);
    put_tlv(der, &dl, 0x30, body, yl);
    int ret = parse_spki(pk, der, dl, prob, "RSA");
    if (ret != 0)
        return ret;
    snprintf(canon, canon_size, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n);
    return MINICA_OK;
}

static int jwk_from_object(const cJSON *jwk, mbedtls_pk_context *pk, unsigned char thumbprint[32],
                           struct minica_acme_problem *prob)
{
    if (!cJSON_IsObject(jwk))
        return MALFORMED(prob, "the jwk is not a JSON object");
    if (has_duplicate_members(jwk))
        return MALFORMED(prob, "the jwk repeats a member");
    for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
        if (cJSON_GetObjectItemCaseSensitive(jwk, private_members[i]) != NULL)
            return BAD_KEY(prob, "the jwk holds private key material (\"%s\")", private_members[i]);
    const char *kty = string_member(jwk, "kty");
    /* n of 4096 bits is 683 characters; the rest is short. */
    char canon[1024];
    int ret;
    if (kty != NULL && strcmp(kty, "EC") == 0)
        ret = jwk_ec(jwk, pk, canon, sizeof(canon), prob);
    else if (kty != NULL && strcmp(kty, "RSA") == 0)
        ret = jwk_rsa(jwk, pk, canon, sizeof(canon), prob);
    else
        return BAD_KEY(prob, "the jwk's key type is not EC or RSA");
    if (ret != 0)
        return ret;
    if (thumbprint != NULL &&
        minica_compat_sha256((const unsigned char *)canon, strlen(canon), thumbprint) != 0) {
        mbedtls_pk_free(pk);
        mbedtls_pk_init(pk);
        return refuse(prob, MINICA_ACME_PROBLEM_SERVER_INTERNAL, MINICA_ECRYPTO,
                      "cannot hash the jwk");
    }
    return MINICA_OK;
}

int minica_jwk_parse(const char *json, size_t len, mbedtls_pk_context *pk,
                     unsigned char thumbprint[32], struct minica_acme_problem *prob)
{
    if (len > MINICA_JWS_MAX_PROTECTED)
        return MALFORMED(prob, "the jwk exceeds %d bytes", MINICA_JWS_MAX_PROTECTED);
    cJSON *obj = parse_object(json, len);
    if (obj == NULL)
        return MALFORMED(prob, "the jwk is not a JSON object");
    int ret = jwk_from_object(obj, pk, thumbprint, prob);
    cJSON_Delete(obj);
    return ret;
}

/* JOSE's r||s (RFC 7518 3.4) -> ECDSA-Sig-Value (RFC 3279 2.2.3). */
static int ecdsa_der(const unsigned char *sig, size_t len, unsigned char *der, size_t *der_len)
{
    unsigned char ints[2 * (1 + 3 + 48)];
    size_t il = 0;
    put_uint(ints, &il, sig, len / 2);
    put_uint(ints, &il, sig + len / 2, len / 2);
    *der_len = 0;
    put_tlv(der, der_len, 0x30, ints, il);
    return MINICA_OK;
}

void minica_jws_force_mbedtls(int on)
{
    minica_gnutls_ecdsa_off(on);
}

/* Through GnuTLS (serve/fastverify.h). The key is handed over as mbedTLS
 * writes it, so both libraries check the same key; the checks of alg, curve
 * and length below are made first. */
static int ecdsa_verify_gnutls(enum minica_jws_alg alg, const mbedtls_pk_context *key,
                               const unsigned char *input, size_t input_len,
                               const unsigned char *der, size_t der_len)
{
    unsigned char spki[200];
    /* Written at the end of spki; non-const in 2.28, const in 3.6. */
    int n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)key, spki, sizeof(spki));
    if (n <= 0)
        return -1;
    return minica_gnutls_ecdsa_verify(alg == MINICA_JWS_ES384, spki + sizeof(spki) - (size_t)n,
                                      (size_t)n, input, input_len, der, der_len);
}

int minica_jws_verify_signature(enum minica_jws_alg alg, const mbedtls_pk_context *key,
                                const unsigned char *input, size_t input_len,
                                const unsigned char *sig, size_t sig_len,
                                struct minica_acme_problem *prob)
{
    mbedtls_md_type_t md = MBEDTLS_MD_SHA256;
    mbedtls_ecp_group_id curve = MBEDTLS_ECP_DP_NONE;
    size_t coord = 0;
    switch (alg) {
    case MINICA_JWS_ES256:
        curve = MBEDTLS_ECP_DP_SECP256R1;
        coord = 32;
        break;
    case MINICA_JWS_ES384:
        md = MBEDTLS_MD_SHA384;
        curve = MBEDTLS_ECP_DP_SECP384R1;
        coord = 48;
        break;
    case MINICA_JWS_RS256:
        break;
    case MINICA_JWS_ALG_NONE:
    default:
        return refuse(prob, MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM, MINICA_EINVAL,
                      "the signature algorithm is not ES256, ES384 or RS256");
    }
    /* RFC 7515 4.1.1 / 8555 6.2: alg must be what the key makes, or a key
     * could be tricked into vouching for a signature of another scheme. */
    mbedtls_pk_type_t type = mbedtls_pk_get_type(key);
    if (curve != MBEDTLS_ECP_DP_NONE) {
        if ((type != MBEDTLS_PK_ECKEY && type != MBEDTLS_PK_ECDSA) ||
            minica_compat_pk_ec_group(key) != curve)
            return refuse(prob, MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM, MINICA_EINVAL,
                          "alg %s does not match the account key",
                          alg == MINICA_JWS_ES256 ? "ES256" : "ES384");
        if (sig_len != 2 * coord)
            return MALFORMED(prob, "the signature is not %zu octets (r||s)", 2 * coord);
    } else {
        if (type != MBEDTLS_PK_RSA)
            return refuse(prob, MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM, MINICA_EINVAL,
                          "alg RS256 does not match the account key");
        if (sig_len != mbedtls_pk_get_len(key))
            return MALFORMED(prob, "the signature is not as long as the RSA modulus");
    }
    unsigned char der[2 * (1 + 3 + 48) + 3];
    size_t der_len = 0;
    const unsigned char *s = sig;
    size_t s_len = sig_len;
    if (curve != MBEDTLS_ECP_DP_NONE) {
        ecdsa_der(sig, sig_len, der, &der_len);
        s = der;
        s_len = der_len;
        int fast = ecdsa_verify_gnutls(alg, key, input, input_len, der, der_len);
        if (fast == 1)
            return MINICA_OK;
        if (fast == 0)
            return MALFORMED(prob, "the JWS signature does not verify");
    }
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(md);
    if (info == NULL || minica_compat_md(info, input, input_len, hash) != 0)
        return refuse(prob, MINICA_ACME_PROBLEM_SERVER_INTERNAL, MINICA_ECRYPTO,
                      "cannot hash the signing input");
    /* mbedtls_pk_verify takes a non-const context in 2.28 and 3.6, but
     * verification changes nothing in it. */
    int ret =
        mbedtls_pk_verify((mbedtls_pk_context *)key, md, hash, mbedtls_md_get_size(info), s, s_len);
    if (ret != 0)
        return MALFORMED(prob, "the JWS signature does not verify");
    return MINICA_OK;
}

int minica_jws_verify(const struct minica_jws *jws, const mbedtls_pk_context *key,
                      struct minica_acme_problem *prob)
{
    if (jws->signing_input == NULL || jws->signature == NULL)
        return MALFORMED(prob, "no parsed JWS to verify");
    return minica_jws_verify_signature(jws->alg, key, (const unsigned char *)jws->signing_input,
                                       jws->signing_input_len, jws->signature, jws->signature_len,
                                       prob);
}

static int copy_string(const char *s, char **out, struct minica_acme_problem *prob)
{
    size_t n = strlen(s);
    if ((*out = malloc(n + 1)) == NULL)
        return NO_MEMORY(prob);
    memcpy(*out, s, n + 1);
    return MINICA_OK;
}

/* The protected header (RFC 8555 6.2): alg, nonce, url, and jwk xor kid. */
static int parse_protected(const cJSON *hdr, enum minica_jws_kind kind, struct minica_jws *jws,
                           struct minica_acme_problem *prob)
{
    if (has_duplicate_members(hdr))
        return MALFORMED(prob, "the protected header repeats a member");
    const char *alg = string_member(hdr, "alg");
    if (alg == NULL)
        return MALFORMED(prob, "the protected header has no \"alg\"");
    if (kind == MINICA_JWS_EAB_INNER) {
        /* RFC 8555 7.3.4: a MAC algorithm; HS256 is the one clients use. */
        if (strcmp(alg, "HS256") != 0) {
            char quoted[40];
            minica_quote_text(alg, 16, quoted, sizeof(quoted));
            return MALFORMED(prob, "the external account binding's alg %s is not HS256", quoted);
        }
        jws->alg = MINICA_JWS_HS256;
    } else if (strcmp(alg, "ES256") == 0) {
        jws->alg = MINICA_JWS_ES256;
    } else if (strcmp(alg, "ES384") == 0) {
        jws->alg = MINICA_JWS_ES384;
    } else if (strcmp(alg, "RS256") == 0) {
        jws->alg = MINICA_JWS_RS256;
    } else {
        char quoted[40];
        minica_quote_text(alg, 16, quoted, sizeof(quoted));
        return refuse(prob, MINICA_ACME_PROBLEM_BAD_SIGNATURE_ALGORITHM, MINICA_EINVAL,
                      "alg %s is not one of ES256, ES384, RS256", quoted);
    }
    /* Nothing here understands an extension a client could make critical. */
    if (cJSON_GetObjectItemCaseSensitive(hdr, "crit") != NULL)
        return MALFORMED(prob, "the protected header has \"crit\", which is not supported");

    const cJSON *nonce = cJSON_GetObjectItemCaseSensitive(hdr, "nonce");
    if (kind == MINICA_JWS_KEYCHANGE_INNER || kind == MINICA_JWS_EAB_INNER) {
        if (nonce != NULL)
            return MALFORMED(prob, "the inner %s JWS must not have a nonce",
                             kind == MINICA_JWS_EAB_INNER ? "external account binding"
                                                          : "keyChange");
    } else {
        unsigned char raw[MINICA_JWS_MAX_NONCE];
        size_t raw_len;
        if (!cJSON_IsString(nonce))
            return refuse(prob, MINICA_ACME_PROBLEM_BAD_NONCE, MINICA_EINVAL,
                          "the protected header has no \"nonce\"");
        size_t n = strlen(nonce->valuestring);
        if (n == 0 || n > MINICA_JWS_MAX_NONCE ||
            minica_b64url_decode(nonce->valuestring, n, raw, sizeof(raw), &raw_len) != 0)
            return refuse(prob, MINICA_ACME_PROBLEM_BAD_NONCE, MINICA_EINVAL,
                          "the nonce is not base64url of at most %d characters",
                          MINICA_JWS_MAX_NONCE);
        if (copy_string(nonce->valuestring, &jws->nonce, prob) != 0)
            return MINICA_ENOMEM;
    }

    const char *url = string_member(hdr, "url");
    if (url == NULL || url[0] == '\0' || strlen(url) > MINICA_JWS_MAX_URL)
        return MALFORMED(prob, "the protected header has no \"url\" of at most %d characters",
                         MINICA_JWS_MAX_URL);
    if (copy_string(url, &jws->url, prob) != 0)
        return MINICA_ENOMEM;

    const cJSON *jwk = cJSON_GetObjectItemCaseSensitive(hdr, "jwk");
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(hdr, "kid");
    if (jwk != NULL && kid != NULL)
        return MALFORMED(prob, "the protected header has both \"jwk\" and \"kid\"");
    if (jwk == NULL && kid == NULL)
        return MALFORMED(prob, "the protected header has neither \"jwk\" nor \"kid\"");
    if (kind == MINICA_JWS_KEYCHANGE_INNER && jwk == NULL)
        return MALFORMED(prob, "the inner keyChange JWS must carry a \"jwk\"");
    if (kind == MINICA_JWS_EAB_INNER && kid == NULL)
        return MALFORMED(prob, "the external account binding must carry a \"kid\"");
    if (kid != NULL) {
        if (!cJSON_IsString(kid) || kid->valuestring[0] == '\0' ||
            strlen(kid->valuestring) > MINICA_JWS_MAX_URL)
            return MALFORMED(prob, "the \"kid\" is not a URL of at most %d characters",
                             MINICA_JWS_MAX_URL);
        return copy_string(kid->valuestring, &jws->kid, prob);
    }
    int ret = jwk_from_object(jwk, &jws->jwk_key, jws->jwk_thumbprint, prob);
    if (ret != 0)
        return ret;
    if ((jws->jwk_json = cJSON_PrintUnformatted(jwk)) == NULL)
        return NO_MEMORY(prob);
    return MINICA_OK;
}

int minica_jws_parse(const char *body, size_t len, enum minica_jws_kind kind,
                     struct minica_jws *jws, struct minica_acme_problem *prob)
{
    prob->type = MINICA_ACME_PROBLEM_NONE;
    prob->detail[0] = '\0';
    if (len > MINICA_JWS_MAX_BODY)
        return MALFORMED(prob, "the request body exceeds %d bytes", MINICA_JWS_MAX_BODY);
    cJSON *root = NULL, *hdr = NULL;
    unsigned char *prot = NULL;
    int ret = MINICA_EINVAL;
    if (memchr(body, '\0', len) != NULL || (root = parse_object(body, len)) == NULL) {
        ret = MALFORMED(prob, "the request body is not a JSON object");
        goto out;
    }
    if (has_duplicate_members(root)) {
        ret = MALFORMED(prob, "the request body repeats a member");
        goto out;
    }
    for (const cJSON *m = root->child; m != NULL; m = m->next) {
        if (strcmp(m->string, "header") == 0) {
            ret = MALFORMED(prob, "an unprotected JWS header is not allowed (RFC 8555 6.2)");
            goto out;
        }
        if (strcmp(m->string, "protected") != 0 && strcmp(m->string, "payload") != 0 &&
            strcmp(m->string, "signature") != 0) {
            ret = MALFORMED(prob, "the body is not a flattened JWS (only protected, payload, "
                                  "signature)");
            goto out;
        }
    }
    const char *prot64 = string_member(root, "protected");
    const char *pay64 = string_member(root, "payload");
    const char *sig64 = string_member(root, "signature");
    if (prot64 == NULL || pay64 == NULL || sig64 == NULL) {
        ret = MALFORMED(prob, "the JWS lacks a string \"protected\", \"payload\" or \"signature\"");
        goto out;
    }
    size_t prot64_len = strlen(prot64), pay64_len = strlen(pay64), sig64_len = strlen(sig64);
    if (prot64_len > MINICA_JWS_MAX_PROTECTED) {
        ret = MALFORMED(prob, "the protected header exceeds %d bytes", MINICA_JWS_MAX_PROTECTED);
        goto out;
    }
    size_t prot_len = 0;
    if ((ret = decode_alloc(prot64, prot64_len, &prot, &prot_len)) != 0) {
        ret = ret == MINICA_ENOMEM ? NO_MEMORY(prob)
                                   : MALFORMED(prob, "the protected header is not base64url");
        goto out;
    }
    /* cJSON ends a string at an escaped NUL: "url":"https://ca/x\u0000y"
     * would read as a URL the client did not sign for. */
    if (memchr(prot, '\0', prot_len) != NULL || memmem(prot, prot_len, "\\u0000", 6) != NULL ||
        (hdr = parse_object((const char *)prot, prot_len)) == NULL) {
        ret = MALFORMED(prob, "the protected header is not a JSON object");
        goto out;
    }
    if ((ret = parse_protected(hdr, kind, jws, prob)) != 0)
        goto out;
    if ((ret = decode_alloc(pay64, pay64_len, &jws->payload, &jws->payload_len)) != 0) {
        ret = ret == MINICA_ENOMEM ? NO_MEMORY(prob)
                                   : MALFORMED(prob, "the payload is not base64url");
        goto out;
    }
    if (sig64_len == 0 || sig64_len > 1024 ||
        (ret = decode_alloc(sig64, sig64_len, &jws->signature, &jws->signature_len)) != 0) {
        ret = ret == MINICA_ENOMEM ? NO_MEMORY(prob)
                                   : MALFORMED(prob, "the signature is not base64url of at most "
                                                     "1024 characters");
        goto out;
    }
    jws->signing_input_len = prot64_len + 1 + pay64_len;
    if ((jws->signing_input = malloc(jws->signing_input_len + 1)) == NULL) {
        ret = NO_MEMORY(prob);
        goto out;
    }
    memcpy(jws->signing_input, prot64, prot64_len);
    jws->signing_input[prot64_len] = '.';
    memcpy(jws->signing_input + prot64_len + 1, pay64, pay64_len + 1);
    ret = MINICA_OK;
out:
    free(prot);
    cJSON_Delete(hdr);
    cJSON_Delete(root);
    if (ret != 0) {
        minica_jws_free(jws);
        if (prob->type == MINICA_ACME_PROBLEM_NONE)
            MALFORMED(prob, "the JWS is malformed");
    }
    return ret;
}

int minica_jws_verify_hmac(const struct minica_jws *jws, const unsigned char *key, size_t key_len,
                           struct minica_acme_problem *prob)
{
    if (jws->alg != MINICA_JWS_HS256 || jws->signing_input == NULL || jws->signature == NULL)
        return MALFORMED(prob, "the external account binding is not an HS256 JWS");
    if (jws->signature_len != 32)
        return MALFORMED(prob, "the external account binding's MAC is not 32 octets");
    unsigned char mac[32];
    if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, key_len,
                        (const unsigned char *)jws->signing_input, jws->signing_input_len,
                        mac) != 0)
        return refuse(prob, MINICA_ACME_PROBLEM_SERVER_INTERNAL, MINICA_ECRYPTO,
                      "cannot compute the MAC");
    /* Constant time: a timing probe must not find the MAC byte by byte. */
    unsigned char diff = 0;
    for (size_t i = 0; i < sizeof(mac); i++)
        diff |= (unsigned char)(mac[i] ^ jws->signature[i]);
    mbedtls_platform_zeroize(mac, sizeof(mac));
    if (diff != 0)
        return refuse(prob, MINICA_ACME_PROBLEM_UNAUTHORIZED, MINICA_EFORBIDDEN,
                      "the external account binding's MAC does not verify");
    return MINICA_OK;
}

int minica_acme_key_authorization(const char *token, const unsigned char thumbprint[32], char *out,
                                  size_t out_size)
{
    char b64[44];
    minica_b64url_encode(thumbprint, 32, b64, sizeof(b64));
    int n = snprintf(out, out_size, "%s.%s", token, b64);
    return n < 0 || (size_t)n >= out_size ? MINICA_EINVAL : MINICA_OK;
}
