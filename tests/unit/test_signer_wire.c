/* Unit tests for the privilege-separated signer's message format
 * (signer_wire.c) and for what the signer checks before it signs a TBS
 * (signer_check.c): round trips and every malformed message; real leaf
 * and CRL TBSs that minica makes are accepted, and the TBSs a compromised
 * network process could send instead (another issuer, a CA, CA usages,
 * nameConstraints, too long a life, the wrong algorithm, non-DER) are not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/asn1.h>
#include <mbedtls/x509_crt.h>

#include "base/util.h"
#include "ca/ca_internal.h"
#include "ca/signer_check.h"
#include "ca/signer_wire.h"
#include "minica/ca.h"
#include "minica/crl.h"
#include "minica/der.h"
#include "minica/issue.h"
#include "minica/revoke.h"
#include "testutil.h"

#define DAY 86400LL
#define CRL_MAX (30 * DAY)

struct fixture {
    char *dir, *other_dir, *constrained_dir;
    struct minica_ca *ca, *other, *constrained;
};

static struct minica_ca *open_ca(const char *dir)
{
    struct minica_ca *ca;
    struct minica_err err;
    if (minica_ca_open(dir, &ca, &err) != 0)
        fail_msg("open %s: %s", dir, err.msg);
    return ca;
}

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->dir = tu_make_ca();
    /* Another CA of another name: a CA of the same name is caught by the
     * AKI (test_check_refuses_another_issuer). */
    struct minica_init_options other = {.name = "other"};
    f->other_dir = tu_make_ca_with(&other);
    static const char *const permit[] = {"example.test"};
    struct minica_init_options opts = {.permit_dns = permit, .n_permit_dns = 1};
    f->constrained_dir = tu_make_ca_with(&opts);
    f->ca = open_ca(f->dir);
    f->other = open_ca(f->other_dir);
    f->constrained = open_ca(f->constrained_dir);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    minica_ca_close(f->ca);
    minica_ca_close(f->other);
    minica_ca_close(f->constrained);
    tu_free_ca(f->dir);
    tu_free_ca(f->other_dir);
    tu_free_ca(f->constrained_dir);
    free(f);
    return 0;
}

/* A malloc'd copy of the body of a signed DER object. */
static unsigned char *body_of(const unsigned char *der, size_t len, size_t *out_len)
{
    struct minica_der_signed s;
    struct minica_err err;
    if (minica_der_split_signed(der, len, &s, &err) != 0)
        fail_msg("split: %s", err.msg);
    unsigned char *b = malloc(s.body.len + 1);
    assert_non_null(b);
    memcpy(b, s.body.p, s.body.len);
    *out_len = s.body.len;
    return b;
}

static unsigned char *tbs_of_pem(const char *pem, size_t *len)
{
    mbedtls_x509_crt crt;
    struct minica_err err;
    mbedtls_x509_crt_init(&crt);
    if (minica_crt_parse_pem_first(&crt, pem, &err) != 0)
        fail_msg("parse: %s", err.msg);
    unsigned char *b = body_of(crt.raw.p, crt.raw.len, len);
    mbedtls_x509_crt_free(&crt);
    return b;
}

/* The TBS of a leaf minica_ca_issue makes for name. */
static unsigned char *leaf_tbs(struct minica_ca *ca, const char *name, int64_t ttl, size_t *len)
{
    struct minica_issue_request req;
    struct minica_issued out;
    struct minica_err err;
    memset(&req, 0, sizeof(req));
    req.name = name;
    req.ttl = ttl;
    if (minica_ca_issue(ca, &req, &out, &err) != 0)
        fail_msg("issue %s: %s", name, err.msg);
    unsigned char *b = tbs_of_pem(out.cert_pem, len);
    minica_issued_free(&out);
    return b;
}

static unsigned char *crl_tbs(struct minica_ca *ca, int64_t next_update, size_t *len)
{
    struct minica_crl_options opts = {.next_update = next_update};
    struct minica_crl crl;
    struct minica_err err;
    minica_crl_init(&crl);
    if (minica_ca_crl(ca, &opts, &crl, &err) != 0)
        fail_msg("crl: %s", err.msg);
    unsigned char *b = body_of(crl.der, crl.der_len, len);
    minica_crl_free(&crl);
    return b;
}

/* A TBS as minica_sign_cert writes it for tbs, with the intermediate as
 * issuer unless tbs says otherwise: what a compromised network process
 * that has minica's own code could build. */
static unsigned char *hand_tbs(struct minica_ca *ca, struct minica_tbs *tbs, size_t *len)
{
    static const struct minica_name san = {.kind = MINICA_NAME_DNS, .text = "hand.test"};
    mbedtls_pk_context key;
    struct minica_err err;
    mbedtls_pk_init(&key);
    if (minica_key_generate(&key, MINICA_KEY_EC_P256, &ca->rng, &err) != 0)
        fail_msg("key: %s", err.msg);
    int64_t now = minica_now();
    if (tbs->subject == NULL)
        tbs->subject = "CN=hand.test";
    if (tbs->issuer == NULL)
        tbs->issuer = ca->intermediate_subject;
    if (tbs->signer == NULL)
        tbs->signer = ca->intermediate_key;
    tbs->subject_key = &key;
    tbs->serial[0] = 0x11;
    if (tbs->not_before == 0)
        tbs->not_before = now - 60;
    if (tbs->not_after == 0)
        tbs->not_after = now + 30 * DAY;
    if (tbs->key_usage == 0)
        tbs->key_usage = MINICA_KU_DIGITAL_SIGNATURE;
    if (tbs->pathlen == 0)
        tbs->pathlen = -1;
    tbs->server_auth = 1;
    if (tbs->sans == NULL) {
        tbs->sans = &san;
        tbs->n_sans = 1;
    }
    tbs->with_aki = 1;
    unsigned char *der;
    size_t der_len;
    if (minica_sign_cert(tbs, &ca->scratch, &ca->rng, &der, &der_len, &err) != 0)
        fail_msg("sign: %s", err.msg);
    unsigned char *b = body_of(der, der_len, len);
    free(der);
    mbedtls_pk_free(&key);
    return b;
}

/* A signer over a new key of this type, for a TBS in the issuer's name
 * signed by another key. */
static struct minica_signer *other_signer(struct minica_ca *ca, enum minica_key_type type)
{
    mbedtls_pk_context key;
    struct minica_signer *s = NULL;
    struct minica_err err;
    mbedtls_pk_init(&key);
    if (minica_key_generate(&key, type, &ca->rng, &err) != 0 ||
        minica_signer_from_pk(&key, "test", &ca->rng, &s, &err) != 0)
        fail_msg("key: %s", err.msg);
    return s;
}

/* tbs with its top-level element i replaced by tlv (appended when i is
 * past the last); malloc'd. */
static unsigned char *splice(const unsigned char *tbs, size_t len, size_t i,
                             const unsigned char *tlv, size_t tlv_len, size_t *out_len)
{
    struct minica_der_part parts[16];
    size_t n = 0;
    unsigned char *p = (unsigned char *)tbs;
    size_t seqlen;
    assert_int_equal(mbedtls_asn1_get_tag(&p, tbs + len, &seqlen,
                                          MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE),
                     0);
    const unsigned char *q = p;
    while (q < tbs + len) {
        assert_true(n < 15);
        assert_int_equal(minica_der_next_tlv(&q, tbs + len, &parts[n]), 0);
        n++;
    }
    struct minica_der_part repl = {tlv, tlv_len};
    if (i < n)
        parts[i] = repl;
    else
        parts[n++] = repl;
    unsigned char *out;
    struct minica_err err;
    assert_int_equal(minica_der_sequence(parts, n, &out, out_len, &err), 0);
    return out;
}

/* Replaces the first occurrence of from by to (as long) in buf. */
static void patch(unsigned char *buf, size_t len, const void *from, const void *to, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, from, n) == 0) {
            memcpy(buf + i, to, n);
            return;
        }
    fail_msg("nothing to patch");
}

static int check_at(struct minica_ca *ca, enum minica_wire_profile profile,
                    const unsigned char *tbs, size_t len, int64_t max_ttl, int64_t now,
                    struct minica_err *err)
{
    static struct minica_signer_check check;
    enum minica_key_type type;
    assert_int_equal(minica_key_type_of(&ca->intermediate->pk, &type), 0);
    if (minica_signer_check_init(&check, ca->intermediate, type, max_ttl, CRL_MAX, err) != 0)
        fail_msg("check init: %s", err->msg);
    return minica_signer_check_tbs(&check, profile, tbs, len, now, err);
}

static int check(struct minica_ca *ca, enum minica_wire_profile profile, const unsigned char *tbs,
                 size_t len, struct minica_err *err)
{
    return check_at(ca, profile, tbs, len, minica_ca_policy(ca)->max_ttl, minica_now(), err);
}

static void expect_refused(struct minica_ca *ca, enum minica_wire_profile profile,
                           const unsigned char *tbs, size_t len, const char *why)
{
    struct minica_err err;
    int rc = check(ca, profile, tbs, len, &err);
    assert_true(rc < 0);
    if (strstr(err.msg, why) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", why, err.msg);
}

/* ---- the message format ---- */

static void test_wire_request_round_trip(void **state)
{
    (void)state;
    static unsigned char tbs[MINICA_WIRE_CRL_TBS_MAX], buf[MINICA_WIRE_REQUEST_MAX];
    struct minica_err err;
    for (size_t i = 0; i < sizeof(tbs); i++)
        tbs[i] = (unsigned char)(i * 7);
    const struct {
        enum minica_wire_profile profile;
        size_t len;
    } cases[] = {{MINICA_WIRE_LEAF, 1},
                 {MINICA_WIRE_LEAF, MINICA_WIRE_LEAF_TBS_MAX},
                 {MINICA_WIRE_CRL, 300},
                 {MINICA_WIRE_CRL, MINICA_WIRE_CRL_TBS_MAX}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct minica_wire_request req = {.id = 0xfedcba98u - (uint32_t)i,
                                          .profile = cases[i].profile,
                                          .tbs = tbs,
                                          .tbs_len = cases[i].len},
                                   back;
        size_t len;
        assert_int_equal(minica_wire_encode_request(&req, buf, sizeof(buf), &len, &err), 0);
        assert_int_equal(len, minica_wire_request_size(cases[i].len));
        assert_memory_equal(buf, "MCS1\x01", 5);
        assert_int_equal(minica_wire_decode_request(buf, len, &back, &err), 0);
        assert_int_equal(back.id, req.id);
        assert_int_equal(back.profile, req.profile);
        assert_int_equal(back.tbs_len, req.tbs_len);
        assert_ptr_equal(back.tbs, buf + MINICA_WIRE_REQUEST_HEADER);
        assert_memory_equal(back.tbs, tbs, req.tbs_len);
    }
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void expect_bad_request(const unsigned char *msg, size_t len, const char *why)
{
    struct minica_wire_request out;
    struct minica_err err;
    assert_int_equal(minica_wire_decode_request(msg, len, &out, &err), MINICA_EINVAL);
    if (strstr(err.msg, why) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", why, err.msg);
    assert_null(out.tbs);
}

static void test_wire_request_refusals(void **state)
{
    (void)state;
    static unsigned char msg[MINICA_WIRE_REQUEST_MAX + 2];
    unsigned char good[MINICA_WIRE_REQUEST_HEADER + 3] = "MCS1\x01\0\0\0\x07\x01\0\0\0\x03"
                                                         "abc";
    struct minica_wire_request out;
    struct minica_err err;
    assert_int_equal(minica_wire_decode_request(good, sizeof(good), &out, &err), 0);
    assert_int_equal(out.id, 7);

    for (size_t n = 0; n < MINICA_WIRE_REQUEST_HEADER; n++)
        expect_bad_request(good, n, "shorter than a header");
    memcpy(msg, good, sizeof(good));
    msg[3] = '2';
    expect_bad_request(msg, sizeof(good), "not a minica signer message");
    memcpy(msg, good, sizeof(good));
    msg[4] = 2;
    expect_bad_request(msg, sizeof(good), "version 2");
    for (unsigned prof = 0; prof < 256; prof++) {
        if (prof == MINICA_WIRE_LEAF || prof == MINICA_WIRE_CRL)
            continue;
        memcpy(msg, good, sizeof(good));
        msg[9] = (unsigned char)prof;
        expect_bad_request(msg, sizeof(good), "unknown profile");
    }
    memcpy(msg, good, sizeof(good));
    put_u32(msg + 10, 0);
    expect_bad_request(msg, MINICA_WIRE_REQUEST_HEADER, "a TBS of 0 bytes");
    /* The length field says more, or less, than what came. */
    expect_bad_request(good, sizeof(good) - 1, "the TBS says 3");
    memcpy(msg, good, sizeof(good));
    msg[sizeof(good)] = 'x';
    expect_bad_request(msg, sizeof(good) + 1, "the TBS says 3");
    memcpy(msg, good, sizeof(good));
    put_u32(msg + 10, 0xffffffffu);
    expect_bad_request(msg, sizeof(good), "a TBS of 4294967295 bytes");
    /* Oversize for the profile, even when the bytes are all there. */
    memset(msg + MINICA_WIRE_REQUEST_HEADER, 'x', MINICA_WIRE_CRL_TBS_MAX + 1);
    put_u32(msg + 10, MINICA_WIRE_LEAF_TBS_MAX + 1);
    expect_bad_request(msg, MINICA_WIRE_REQUEST_HEADER + MINICA_WIRE_LEAF_TBS_MAX + 1,
                       "a TBS of 16385 bytes");
    msg[9] = MINICA_WIRE_CRL;
    assert_int_equal(
        minica_wire_decode_request(msg, MINICA_WIRE_REQUEST_HEADER + MINICA_WIRE_LEAF_TBS_MAX + 1,
                                   &out, &err),
        0);
    put_u32(msg + 10, MINICA_WIRE_CRL_TBS_MAX + 1);
    expect_bad_request(msg, MINICA_WIRE_REQUEST_HEADER + MINICA_WIRE_CRL_TBS_MAX + 1,
                       "a TBS of 4194305 bytes");

    /* The encoder refuses what the decoder would. */
    size_t len;
    struct minica_wire_request req = {.id = 1, .profile = 3, .tbs = msg, .tbs_len = 3};
    assert_int_equal(minica_wire_encode_request(&req, msg, sizeof(msg), &len, &err), MINICA_EINVAL);
    req.profile = MINICA_WIRE_LEAF;
    req.tbs_len = 0;
    assert_int_equal(minica_wire_encode_request(&req, msg, sizeof(msg), &len, &err), MINICA_EINVAL);
    req.tbs_len = MINICA_WIRE_LEAF_TBS_MAX + 1;
    assert_int_equal(minica_wire_encode_request(&req, msg, sizeof(msg), &len, &err), MINICA_EINVAL);
    req.tbs = good;
    req.tbs_len = 3;
    assert_int_equal(
        minica_wire_encode_request(&req, msg, MINICA_WIRE_REQUEST_HEADER + 2, &len, &err),
        MINICA_EINVAL);
}

static void test_wire_response_round_trip(void **state)
{
    (void)state;
    unsigned char sig[MINICA_WIRE_SIG_MAX], buf[MINICA_WIRE_RESPONSE_MAX];
    struct minica_wire_response resp, back;
    struct minica_err err;
    size_t len;
    for (size_t i = 0; i < sizeof(sig); i++)
        sig[i] = (unsigned char)i;
    memset(&resp, 0, sizeof(resp));
    resp.id = 42;
    resp.status = MINICA_WIRE_OK;
    resp.sig = sig;
    resp.sig_len = sizeof(sig);
    assert_int_equal(minica_wire_encode_response(&resp, buf, sizeof(buf), &len, &err), 0);
    assert_int_equal(len, MINICA_WIRE_RESPONSE_HEADER + sizeof(sig));
    assert_int_equal(minica_wire_decode_response(buf, len, &back, &err), 0);
    assert_int_equal(back.id, 42);
    assert_int_equal(back.status, MINICA_WIRE_OK);
    assert_int_equal(back.sig_len, sizeof(sig));
    assert_memory_equal(back.sig, sig, sizeof(sig));

    resp.status = MINICA_WIRE_REFUSED;
    snprintf(resp.reason, sizeof(resp.reason), "leaf: the issuer is not this signer's CA");
    assert_int_equal(minica_wire_encode_response(&resp, buf, sizeof(buf), &len, &err), 0);
    assert_int_equal(minica_wire_decode_response(buf, len, &back, &err), 0);
    assert_int_equal(back.status, MINICA_WIRE_REFUSED);
    assert_string_equal(back.reason, resp.reason);
    assert_null(back.sig);

    /* A reason is cut to the bound and made one printable line. */
    resp.status = MINICA_WIRE_FAILED;
    memset(resp.reason, 'r', sizeof(resp.reason) - 1);
    resp.reason[sizeof(resp.reason) - 1] = '\0';
    resp.reason[3] = '\n';
    resp.reason[4] = '\x80';
    assert_int_equal(minica_wire_encode_response(&resp, buf, sizeof(buf), &len, &err), 0);
    assert_int_equal(len, MINICA_WIRE_RESPONSE_HEADER + MINICA_WIRE_REASON_MAX);
    assert_int_equal(minica_wire_decode_response(buf, len, &back, &err), 0);
    assert_int_equal(back.status, MINICA_WIRE_FAILED);
    assert_int_equal(strlen(back.reason), MINICA_WIRE_REASON_MAX);
    assert_memory_equal(back.reason, "rrr??rrr", 8);
    /* An empty one still says something. */
    resp.reason[0] = '\0';
    assert_int_equal(minica_wire_encode_response(&resp, buf, sizeof(buf), &len, &err), 0);
    assert_int_equal(minica_wire_decode_response(buf, len, &back, &err), 0);
    assert_string_equal(back.reason, "no reason given");
}

static void expect_bad_response(const unsigned char *msg, size_t len, const char *why)
{
    struct minica_wire_response out;
    struct minica_err err;
    assert_int_equal(minica_wire_decode_response(msg, len, &out, &err), MINICA_EINVAL);
    if (strstr(err.msg, why) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", why, err.msg);
    assert_null(out.sig);
    assert_string_equal(out.reason, "");
}

static void test_wire_response_refusals(void **state)
{
    (void)state;
    static unsigned char msg[MINICA_WIRE_RESPONSE_HEADER + 70000];
    const unsigned char good[] = "MCS1\x01\0\0\0\x09\x01\0\x02no";
    size_t n = sizeof(good) - 1;
    struct minica_wire_response out;
    struct minica_err err;
    assert_int_equal(minica_wire_decode_response(good, n, &out, &err), 0);
    assert_string_equal(out.reason, "no");

    for (size_t i = 0; i < MINICA_WIRE_RESPONSE_HEADER; i++)
        expect_bad_response(good, i, "shorter than a header");
    memcpy(msg, good, n);
    msg[0] = 'X';
    expect_bad_response(msg, n, "not a minica signer message");
    memcpy(msg, good, n);
    msg[4] = 0;
    expect_bad_response(msg, n, "version 0");
    memcpy(msg, good, n);
    msg[9] = 3;
    expect_bad_response(msg, n, "unknown status 3");
    expect_bad_response(good, n - 1, "the body says 2");
    memcpy(msg, good, n);
    msg[n] = '!';
    expect_bad_response(msg, n + 1, "the body says 2");
    memcpy(msg, good, n);
    msg[11] = 0;
    expect_bad_response(msg, MINICA_WIRE_RESPONSE_HEADER, "a body of 0 bytes");
    memcpy(msg, good, n);
    msg[13] = '\n';
    expect_bad_response(msg, n, "not one printable line");
    msg[13] = 0;
    expect_bad_response(msg, n, "not one printable line");
    /* Oversize: a reason past its bound, a signature past its. */
    memset(msg + MINICA_WIRE_RESPONSE_HEADER, 'a', 70000);
    msg[10] = (MINICA_WIRE_REASON_MAX + 1) >> 8;
    msg[11] = (MINICA_WIRE_REASON_MAX + 1) & 0xff;
    expect_bad_response(msg, MINICA_WIRE_RESPONSE_HEADER + MINICA_WIRE_REASON_MAX + 1,
                        "a body of 256 bytes");
    msg[9] = MINICA_WIRE_OK;
    assert_int_equal(minica_wire_decode_response(
                         msg, MINICA_WIRE_RESPONSE_HEADER + MINICA_WIRE_REASON_MAX + 1, &out, &err),
                     0);
    msg[10] = 0xff;
    msg[11] = 0xff;
    expect_bad_response(msg, MINICA_WIRE_RESPONSE_HEADER + 0xffff, "a body of 65535 bytes");

    /* The encoder refuses what the decoder would. */
    struct minica_wire_response resp;
    size_t len;
    memset(&resp, 0, sizeof(resp));
    resp.status = MINICA_WIRE_OK;
    resp.sig = msg;
    assert_int_equal(minica_wire_encode_response(&resp, msg, sizeof(msg), &len, &err),
                     MINICA_EINVAL);
    resp.sig_len = MINICA_WIRE_SIG_MAX + 1;
    assert_int_equal(minica_wire_encode_response(&resp, msg, sizeof(msg), &len, &err),
                     MINICA_EINVAL);
    resp.status = 7;
    assert_int_equal(minica_wire_encode_response(&resp, msg, sizeof(msg), &len, &err),
                     MINICA_EINVAL);
}

/* ---- what the signer signs ---- */

static void test_check_accepts_minica_leaves(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    size_t len;
    unsigned char *tbs = leaf_tbs(f->ca, "www.example.test", 0, &len);
    if (check(f->ca, MINICA_WIRE_LEAF, tbs, len, &err) != 0)
        fail_msg("refused: %s", err.msg);
    free(tbs);
    /* Several names, an IP, the longest TTL the policy allows. */
    struct minica_issue_request req;
    struct minica_issued out;
    const char *sans[] = {"apps.example.test", "10.1.2.3", "2001:db8::1"};
    memset(&req, 0, sizeof(req));
    req.name = "api.example.test";
    req.sans = sans;
    req.n_sans = 3;
    req.usage = MINICA_USAGE_BOTH;
    req.ttl = minica_ca_policy(f->ca)->max_ttl;
    if (minica_ca_issue(f->ca, &req, &out, &err) != 0)
        fail_msg("issue: %s", err.msg);
    tbs = tbs_of_pem(out.cert_pem, &len);
    minica_issued_free(&out);
    if (check(f->ca, MINICA_WIRE_LEAF, tbs, len, &err) != 0)
        fail_msg("refused: %s", err.msg);
    free(tbs);
    /* IPv4 names, whose text is longer than their DER. */
    const char *ips[] = {"192.168.100.201", "192.168.100.202", "192.168.100.203"};
    memset(&req, 0, sizeof(req));
    req.name = "192.168.100.200";
    req.sans = ips;
    req.n_sans = 3;
    if (minica_ca_issue(f->ca, &req, &out, &err) != 0)
        fail_msg("issue: %s", err.msg);
    tbs = tbs_of_pem(out.cert_pem, &len);
    minica_issued_free(&out);
    if (check(f->ca, MINICA_WIRE_LEAF, tbs, len, &err) != 0)
        fail_msg("refused: %s", err.msg);
    free(tbs);
    /* A leaf of the constrained CA, within its nameConstraints. */
    memset(&req, 0, sizeof(req));
    req.name = "www.example.test";
    if (minica_ca_issue(f->constrained, &req, &out, &err) != 0)
        fail_msg("issue: %s", err.msg);
    tbs = tbs_of_pem(out.cert_pem, &len);
    minica_issued_free(&out);
    if (check(f->constrained, MINICA_WIRE_LEAF, tbs, len, &err) != 0)
        fail_msg("refused: %s", err.msg);
    free(tbs);
}

static void test_check_accepts_minica_crls(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    size_t len;
    unsigned char *tbs = crl_tbs(f->ca, 0, &len);
    if (check(f->ca, MINICA_WIRE_CRL, tbs, len, &err) != 0)
        fail_msg("refused: %s", err.msg);
    free(tbs);
    /* With entries, one with a reasonCode. */
    struct minica_issue_request req;
    struct minica_issued out;
    memset(&req, 0, sizeof(req));
    req.name = "revoked.example.test";
    for (int i = 0; i < 2; i++) {
        if (minica_ca_issue(f->ca, &req, &out, &err) != 0)
            fail_msg("issue: %s", err.msg);
        if (minica_ca_revoke(f->ca, out.serial,
                             i ? MINICA_REASON_KEY_COMPROMISE : MINICA_REASON_UNSPECIFIED, NULL,
                             &err) < 0)
            fail_msg("revoke: %s", err.msg);
        minica_issued_free(&out);
    }
    tbs = crl_tbs(f->ca, 0, &len);
    if (check(f->ca, MINICA_WIRE_CRL, tbs, len, &err) != 0)
        fail_msg("refused: %s", err.msg);
    free(tbs);
}

static void test_check_refuses_another_issuer(void **state)
{
    struct fixture *f = *state;
    size_t len;
    unsigned char *tbs = leaf_tbs(f->other, "www.example.test", 0, &len);
    expect_refused(f->ca, MINICA_WIRE_LEAF, tbs, len, "the issuer is not this signer's CA");
    free(tbs);
    /* A CA of the same name (both "minica"): its key is not this one. */
    tbs = leaf_tbs(f->constrained, "www.example.test", 0, &len);
    expect_refused(f->ca, MINICA_WIRE_LEAF, tbs, len, "authorityKeyIdentifier is not this issuer");
    free(tbs);
    tbs = crl_tbs(f->constrained, 0, &len);
    expect_refused(f->ca, MINICA_WIRE_CRL, tbs, len, "authorityKeyIdentifier is not this issuer");
    free(tbs);
    tbs = crl_tbs(f->other, 0, &len);
    expect_refused(f->ca, MINICA_WIRE_CRL, tbs, len, "the issuer is not this signer's CA");
    free(tbs);
    /* The intermediate itself: the root's name as issuer. */
    char path[4200];
    snprintf(path, sizeof(path), "%s/intermediate.crt", f->dir);
    char *pem = tu_slurp(path);
    tbs = tbs_of_pem(pem, &len);
    expect_refused(f->ca, MINICA_WIRE_LEAF, tbs, len, "the issuer is not this signer's CA");
    free(tbs);
    free(pem);
    /* This issuer's name, another key: the AKI gives it away. */
    struct minica_tbs t = {.signer = other_signer(f->ca, MINICA_KEY_EC_P256)};
    tbs = hand_tbs(f->ca, &t, &len);
    expect_refused(f->ca, MINICA_WIRE_LEAF, tbs, len, "authorityKeyIdentifier is not this issuer");
    free(tbs);
    minica_signer_free(t.signer);
}

static void test_check_refuses_ca_certificates(void **state)
{
    struct fixture *f = *state;
    size_t len;
    struct minica_tbs t = {.is_ca = 1, .pathlen = 0};
    unsigned char *tbs = hand_tbs(f->ca, &t, &len);
    expect_refused(f->ca, MINICA_WIRE_LEAF, tbs, len, "cA TRUE");
    free(tbs);
    struct minica_tbs ku = {.key_usage = MINICA_KU_DIGITAL_SIGNATURE | MINICA_KU_KEY_CERT_SIGN};
    tbs = hand_tbs(f->ca, &ku, &len);
    expect_refused(f->ca, MINICA_WIRE_LEAF, tbs, len, "keyCertSign");
    free(tbs);
    struct minica_tbs crl = {.key_usage = MINICA_KU_DIGITAL_SIGNATURE | MINICA_KU_CRL_SIGN};
    tbs = hand_tbs(f->ca, &crl, &len);
    expect_refused(f->ca, MINICA_WIRE_LEAF, tbs, len, "cRLSign");
    free(tbs);
    struct minica_name_constraints nc;
    memset(&nc, 0, sizeof(nc));
    snprintf(nc.permit_dns.name[0], sizeof(nc.permit_dns.name[0]), "example.test");
    nc.permit_dns.n = 1;
    struct minica_tbs con = {.name_constraints = &nc};
    tbs = hand_tbs(f->ca, &con, &len);
    expect_refused(f->ca, MINICA_WIRE_LEAF, tbs, len, "nameConstraints");
    free(tbs);
}

static void test_check_refuses_lifetimes(void **state)
{
    struct fixture *f = *state;
    struct minica_err err;
    size_t len;
    /* Past the intermediate's notAfter, even with no TTL limit. */
    struct minica_tbs t = {.not_after = f->ca->intermediate_not_after + DAY};
    unsigned char *tbs = hand_tbs(f->ca, &t, &len);
    assert_true(check_at(f->ca, MINICA_WIRE_LEAF, tbs, len, 100 * 365 * DAY, minica_now(), &err) <
                0);
    assert_non_null(strstr(err.msg, "notAfter is past the issuer's"));
    free(tbs);
    /* Longer than the signer's maximum TTL. */
    tbs = leaf_tbs(f->ca, "long.example.test", 30 * DAY, &len);
    assert_int_equal(check_at(f->ca, MINICA_WIRE_LEAF, tbs, len, 30 * DAY, minica_now(), &err), 0);
    assert_true(check_at(f->ca, MINICA_WIRE_LEAF, tbs, len, 7 * DAY, minica_now(), &err) < 0);
    assert_non_null(strstr(err.msg, "longer than the maximum TTL"));
    /* Backdated, or post-dated, by more than the clocks can explain. */
    assert_true(check_at(f->ca, MINICA_WIRE_LEAF, tbs, len, 30 * DAY, minica_now() + DAY, &err) <
                0);
    assert_non_null(strstr(err.msg, "notBefore is"));
    assert_true(check_at(f->ca, MINICA_WIRE_LEAF, tbs, len, 30 * DAY, minica_now() - DAY, &err) <
                0);
    assert_non_null(strstr(err.msg, "notBefore is"));
    free(tbs);
    /* A CRL that would stand longer than the signer allows. */
    tbs = crl_tbs(f->ca, CRL_MAX + DAY, &len);
    expect_refused(f->ca, MINICA_WIRE_CRL, tbs, len, "nextUpdate is");
    free(tbs);
}

static void test_check_refuses_wrong_algorithm(void **state)
{
    struct fixture *f = *state;
    size_t len, len2;
    /* Signed by a P-384 key in the issuer's name: ecdsa-with-SHA384. */
    struct minica_tbs t = {.signer = other_signer(f->ca, MINICA_KEY_EC_P384)};
    unsigned char *tbs = hand_tbs(f->ca, &t, &len);
    expect_refused(f->ca, MINICA_WIRE_LEAF, tbs, len, "signature algorithm");
    free(tbs);
    minica_signer_free(t.signer);
    /* ecdsa-with-SHA256 with the NULL parameter mbedTLS 2.28 writes. */
    static const unsigned char with_null[] = {0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                              0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00};
    tbs = leaf_tbs(f->ca, "alg.example.test", 0, &len);
    unsigned char *bad = splice(tbs, len, 2, with_null, sizeof(with_null), &len2);
    expect_refused(f->ca, MINICA_WIRE_LEAF, bad, len2, "signature algorithm");
    free(bad);
    free(tbs);
    /* The same in a CRL (version, alg, ...). */
    tbs = crl_tbs(f->ca, 0, &len);
    bad = splice(tbs, len, 1, with_null, sizeof(with_null), &len2);
    expect_refused(f->ca, MINICA_WIRE_CRL, bad, len2, "signature algorithm");
    free(bad);
    free(tbs);
}

static void test_check_refuses_wrong_profile(void **state)
{
    struct fixture *f = *state;
    size_t len;
    unsigned char *tbs = crl_tbs(f->ca, 0, &len);
    expect_refused(f->ca, MINICA_WIRE_LEAF, tbs, len, "not an X.509 v3 TBSCertificate");
    free(tbs);
    tbs = leaf_tbs(f->ca, "profile.example.test", 0, &len);
    expect_refused(f->ca, MINICA_WIRE_CRL, tbs, len, "not an X.509 v2 TBSCertList");
    expect_refused(f->ca, 3, tbs, len, "unknown signing profile");
    free(tbs);
}

static void test_check_refuses_non_der(void **state)
{
    struct fixture *f = *state;
    size_t len, len2;
    unsigned char *tbs = leaf_tbs(f->ca, "der.example.test", 0, &len);
    /* A byte after the TBS. */
    unsigned char *more = malloc(len + 1);
    assert_non_null(more);
    memcpy(more, tbs, len);
    more[len] = 0;
    expect_refused(f->ca, MINICA_WIRE_LEAF, more, len + 1, "trailing bytes after the TBS");
    free(more);
    /* An element after the extensions, inside the TBS. */
    static const unsigned char null[] = {0x05, 0x00};
    unsigned char *bad = splice(tbs, len, 99, null, sizeof(null), &len2);
    expect_refused(f->ca, MINICA_WIRE_LEAF, bad, len2, "extensions to end the TBSCertificate");
    free(bad);
    /* The outer length in a longer form than needed (BER, not DER). */
    assert_true(tbs[1] == 0x82);
    more = malloc(len + 1);
    assert_non_null(more);
    more[0] = 0x30;
    more[1] = 0x83;
    more[2] = 0;
    memcpy(more + 3, tbs + 2, len - 2);
    expect_refused(f->ca, MINICA_WIRE_LEAF, more, len + 1, "not a DER SEQUENCE");
    free(more);
    /* Truncated. */
    expect_refused(f->ca, MINICA_WIRE_LEAF, tbs, len - 1, "not a DER SEQUENCE");

    /* Serial numbers: zero, negative, 21 octets, a redundant leading 00. */
    static const unsigned char zero[] = {0x02, 0x01, 0x00};
    static const unsigned char negative[] = {0x02, 0x01, 0xff};
    static const unsigned char padded[] = {0x02, 0x02, 0x00, 0x01};
    unsigned char long_serial[23] = {0x02, 21, 0x01};
    bad = splice(tbs, len, 1, zero, sizeof(zero), &len2);
    expect_refused(f->ca, MINICA_WIRE_LEAF, bad, len2, "must be positive");
    free(bad);
    bad = splice(tbs, len, 1, negative, sizeof(negative), &len2);
    expect_refused(f->ca, MINICA_WIRE_LEAF, bad, len2, "must be positive");
    free(bad);
    bad = splice(tbs, len, 1, long_serial, sizeof(long_serial), &len2);
    expect_refused(f->ca, MINICA_WIRE_LEAF, bad, len2, "at most 20 octets");
    free(bad);
    bad = splice(tbs, len, 1, padded, sizeof(padded), &len2);
    expect_refused(f->ca, MINICA_WIRE_LEAF, bad, len2, "malformed serial number");
    free(bad);
    /* A v1 certificate: no [0] version. */
    static const unsigned char v1[] = {0xa0, 0x03, 0x02, 0x01, 0x00};
    bad = splice(tbs, len, 0, v1, sizeof(v1), &len2);
    expect_refused(f->ca, MINICA_WIRE_LEAF, bad, len2, "not an X.509 v3");
    free(bad);
    free(tbs);
}

static void test_check_refuses_names_outside_constraints(void **state)
{
    struct fixture *f = *state;
    size_t len;
    static const struct minica_name outside = {.kind = MINICA_NAME_DNS, .text = "www.evil.test"};
    struct minica_tbs t = {.subject = "CN=www.evil.test", .sans = &outside, .n_sans = 1};
    unsigned char *tbs = hand_tbs(f->constrained, &t, &len);
    expect_refused(f->constrained, MINICA_WIRE_LEAF, tbs, len,
                   "outside the intermediate certificate's name constraints");
    /* The unconstrained CA would sign the same shape. */
    struct minica_tbs u = {.subject = "CN=www.evil.test", .sans = &outside, .n_sans = 1};
    free(tbs);
    tbs = hand_tbs(f->ca, &u, &len);
    struct minica_err err;
    if (check(f->ca, MINICA_WIRE_LEAF, tbs, len, &err) != 0)
        fail_msg("refused: %s", err.msg);
    free(tbs);
}

static void test_check_refuses_other_purposes_and_extensions(void **state)
{
    struct fixture *f = *state;
    size_t len;
    /* id-kp-serverAuth (1.3.6.1.5.5.7.3.1) made OCSPSigning (.9): a
     * delegated OCSP responder for every certificate of the issuer. */
    static const unsigned char server_auth[] = {0x06, 0x08, 0x2b, 0x06, 0x01,
                                                0x05, 0x05, 0x07, 0x03, 0x01};
    static const unsigned char ocsp_signing[] = {0x06, 0x08, 0x2b, 0x06, 0x01,
                                                 0x05, 0x05, 0x07, 0x03, 0x09};
    unsigned char *tbs = leaf_tbs(f->ca, "eku.example.test", 0, &len);
    patch(tbs, len, server_auth, ocsp_signing, sizeof(server_auth));
    expect_refused(f->ca, MINICA_WIRE_LEAF, tbs, len, "extendedKeyUsage allows more than");
    free(tbs);
    /* subjectKeyIdentifier (2.5.29.14) made certificatePolicies (.32). */
    static const unsigned char ski[] = {0x06, 0x03, 0x55, 0x1d, 0x0e};
    static const unsigned char policies[] = {0x06, 0x03, 0x55, 0x1d, 0x20};
    tbs = leaf_tbs(f->ca, "ext.example.test", 0, &len);
    patch(tbs, len, ski, policies, sizeof(ski));
    expect_refused(f->ca, MINICA_WIRE_LEAF, tbs, len, "unexpected extension 2.5.29.32");
    free(tbs);

    /* A CRL entry's reasonCode (2.5.29.21) made certificateIssuer (.29):
     * an indirect CRL, revoking in another issuer's name. */
    struct minica_issue_request req;
    struct minica_issued out;
    struct minica_err err;
    memset(&req, 0, sizeof(req));
    req.name = "indirect.example.test";
    if (minica_ca_issue(f->ca, &req, &out, &err) != 0)
        fail_msg("issue: %s", err.msg);
    if (minica_ca_revoke(f->ca, out.serial, MINICA_REASON_KEY_COMPROMISE, NULL, &err) < 0)
        fail_msg("revoke: %s", err.msg);
    minica_issued_free(&out);
    static const unsigned char reason[] = {0x06, 0x03, 0x55, 0x1d, 0x15};
    static const unsigned char cert_issuer[] = {0x06, 0x03, 0x55, 0x1d, 0x1d};
    tbs = crl_tbs(f->ca, 0, &len);
    patch(tbs, len, reason, cert_issuer, sizeof(reason));
    expect_refused(f->ca, MINICA_WIRE_CRL, tbs, len, "entry extension 2.5.29.29");
    free(tbs);
    /* cRLNumber (2.5.29.20) made deltaCRLIndicator (.27). */
    static const unsigned char number[] = {0x06, 0x03, 0x55, 0x1d, 0x14};
    static const unsigned char delta[] = {0x06, 0x03, 0x55, 0x1d, 0x1b};
    tbs = crl_tbs(f->ca, 0, &len);
    patch(tbs, len, number, delta, sizeof(number));
    expect_refused(f->ca, MINICA_WIRE_CRL, tbs, len, "extension 2.5.29.27");
    free(tbs);
}

static void test_check_rsa_issuer(void **state)
{
    struct fixture *f = *state;
    struct minica_init_options opts = {.key_type = MINICA_KEY_RSA_2048};
    char *dir = tu_make_ca_with(&opts);
    struct minica_ca *rsa = open_ca(dir);
    struct minica_err err;
    size_t len;
    /* sha256WithRSAEncryption, with its NULL parameter. */
    unsigned char *tbs = leaf_tbs(rsa, "rsa.example.test", 0, &len);
    if (check(rsa, MINICA_WIRE_LEAF, tbs, len, &err) != 0)
        fail_msg("refused: %s", err.msg);
    free(tbs);
    tbs = crl_tbs(rsa, 0, &len);
    if (check(rsa, MINICA_WIRE_CRL, tbs, len, &err) != 0)
        fail_msg("refused: %s", err.msg);
    free(tbs);
    /* An ECDSA TBS (same CA name) is not what this key makes. */
    tbs = leaf_tbs(f->ca, "ec.example.test", 0, &len);
    expect_refused(rsa, MINICA_WIRE_LEAF, tbs, len, "signature algorithm");
    free(tbs);
    minica_ca_close(rsa);
    tu_free_ca(dir);
}

static void test_check_init_refuses_mismatched_key(void **state)
{
    struct fixture *f = *state;
    static struct minica_signer_check c;
    struct minica_err err;
    assert_int_equal(
        minica_signer_check_init(&c, f->ca->intermediate, MINICA_KEY_EC_P384, DAY, DAY, &err),
        MINICA_EINVAL);
    assert_int_equal(
        minica_signer_check_init(&c, f->ca->intermediate, MINICA_KEY_EC_P256, 0, DAY, &err),
        MINICA_EINVAL);
    assert_int_equal(
        minica_signer_check_init(&c, f->ca->intermediate, MINICA_KEY_EC_P256, DAY, DAY, &err), 0);
    assert_int_equal(c.key_id_len, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_request_round_trip),
        cmocka_unit_test(test_wire_request_refusals),
        cmocka_unit_test(test_wire_response_round_trip),
        cmocka_unit_test(test_wire_response_refusals),
        cmocka_unit_test(test_check_accepts_minica_leaves),
        cmocka_unit_test(test_check_accepts_minica_crls),
        cmocka_unit_test(test_check_refuses_another_issuer),
        cmocka_unit_test(test_check_refuses_ca_certificates),
        cmocka_unit_test(test_check_refuses_lifetimes),
        cmocka_unit_test(test_check_refuses_wrong_algorithm),
        cmocka_unit_test(test_check_refuses_wrong_profile),
        cmocka_unit_test(test_check_refuses_non_der),
        cmocka_unit_test(test_check_refuses_names_outside_constraints),
        cmocka_unit_test(test_check_refuses_other_purposes_and_extensions),
        cmocka_unit_test(test_check_rsa_issuer),
        cmocka_unit_test(test_check_init_refuses_mismatched_key),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
