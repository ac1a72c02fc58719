/* Unit tests for pkcs12.c: a PFX built from a real leaf is taken apart
 * with mbedTLS's DER reader, its MAC recomputed with a KDF of the test's
 * own (checked against a vector from OpenSSL's PKCS12KDF), both bags
 * decrypted and their attributes compared; bad input is refused with a
 * message. openssl, certtool and keytool read the files in
 * tests/integration/test_pkcs12_files.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <mbedtls/asn1.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>

#include "base/compat.h"
#include "ca/pkcs8.h"
#include "ca/x509.h"
#include "minica/ca.h"
#include "minica/fsutil.h"
#include "minica/issue.h"
#include "minica/pkcs12.h"
#include "testutil.h"

static const unsigned char PASS[] = "correct horse battery staple";
#define PASS_LEN (sizeof(PASS) - 1)
/* Fast for the tests; the default has its own test. */
#define FAST MINICA_PKCS8_ITERATIONS_MIN
#define SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define SET (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SET)
#define EXP0 (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED)

static const unsigned char OID_DATA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
static const unsigned char OID_ENC_DATA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06};
static const unsigned char OID_KEY_BAG[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
                                            0x01, 0x0c, 0x0a, 0x01, 0x02};
static const unsigned char OID_CERT_BAG[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
                                             0x01, 0x0c, 0x0a, 0x01, 0x03};
static const unsigned char OID_X509[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                         0x0d, 0x01, 0x09, 0x16, 0x01};
static const unsigned char OID_FRIENDLY[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x14};
static const unsigned char OID_KEY_ID[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x15};
static const unsigned char OID_SHA256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};

/* One CA and two leaves for every test: issuing is the slow part. */
struct fixture {
    char *cadir;
    struct minica_ca *ca;
    struct minica_issued leaf, other;
};
static struct fixture fx;

static int group_setup(void **state)
{
    struct minica_err err;
    fx.cadir = tu_make_ca();
    if (minica_ca_open(fx.cadir, &fx.ca, &err) != 0)
        return -1;
    struct minica_issue_request req;
    memset(&req, 0, sizeof(req));
    req.name = "app.internal";
    if (minica_ca_issue(fx.ca, &req, &fx.leaf, &err) != 0)
        return -1;
    req.name = "other.internal";
    req.key_type = MINICA_KEY_RSA_2048;
    if (minica_ca_issue(fx.ca, &req, &fx.other, &err) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    minica_issued_free(&fx.leaf);
    minica_issued_free(&fx.other);
    minica_ca_close(fx.ca);
    tu_free_ca(fx.cadir);
    return 0;
}

static struct minica_pkcs12_input input_for(const struct minica_issued *is)
{
    struct minica_pkcs12_input in;
    memset(&in, 0, sizeof(in));
    in.key_pem = is->key_pem;
    in.cert_pem = is->cert_pem;
    in.chain_pem = is->chain_pem;
    in.pass = PASS;
    in.pass_len = PASS_LEN;
    in.iterations = FAST;
    return in;
}

/* ---- a DER walker over mbedTLS's reader ---------------------------------- */

struct tlv {
    unsigned char *p; /* content */
    size_t len;
};

/* The next TLV with this tag at *p; fails the test otherwise. */
static struct tlv take(unsigned char **p, const unsigned char *end, int tag)
{
    size_t n = 0;
    assert_int_equal(mbedtls_asn1_get_tag(p, end, &n, tag), 0);
    struct tlv t = {*p, n};
    *p += n;
    return t;
}

static void take_oid(unsigned char **p, const unsigned char *end, const unsigned char *oid,
                     size_t len)
{
    struct tlv t = take(p, end, MBEDTLS_ASN1_OID);
    assert_int_equal(t.len, len);
    assert_memory_equal(t.p, oid, len);
}

static int take_int(unsigned char **p, const unsigned char *end)
{
    int v = 0;
    assert_int_equal(mbedtls_asn1_get_int(p, end, &v), 0);
    return v;
}

/* ---- RFC 7292 B.2 again, written from the RFC for the test --------------- */

static void test_kdf(const unsigned char *bmp, size_t bmp_len, const unsigned char *salt,
                     size_t salt_len, int iterations, unsigned char out[32])
{
    /* D (64 bytes of ID 3) || S || P, S and P each filled to a multiple of 64. */
    unsigned char buf[64 * 40];
    size_t s_len = 64 * ((salt_len + 63) / 64), p_len = 64 * ((bmp_len + 63) / 64);
    assert_true(64 + s_len + p_len <= sizeof(buf));
    memset(buf, 3, 64);
    for (size_t i = 0; i < s_len; i++)
        buf[64 + i] = salt[i % salt_len];
    for (size_t i = 0; i < p_len; i++)
        buf[64 + s_len + i] = bmp[i % bmp_len];
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    assert_int_equal(mbedtls_md(md, buf, 64 + s_len + p_len, out), 0);
    for (int i = 1; i < iterations; i++)
        assert_int_equal(mbedtls_md(md, out, 32, out), 0);
}

/* ASCII -> BMPString with the two trailing NUL bytes (B.1). */
static size_t bmp_of(const unsigned char *s, size_t len, unsigned char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = 0;
        out[2 * i + 1] = s[i];
    }
    out[2 * len] = out[2 * len + 1] = 0;
    return 2 * len + 2;
}

static void test_pkcs12_test_kdf_matches_openssl(void **state)
{
    /* openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt
     * hexpass:00700061007300730000 -kdfopt
     * hexsalt:0102030405060708090a0b0c0d0e0f10 -kdfopt iter:N -kdfopt id:3
     * PKCS12KDF (OpenSSL 3.0) */
    static const unsigned char salt[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static const unsigned char want1[32] = {0x35, 0x1f, 0x32, 0x6a, 0x4e, 0x52, 0xf5, 0x22,
                                            0x1b, 0xda, 0x5a, 0x66, 0x97, 0x61, 0xdd, 0x9e,
                                            0xfa, 0x63, 0xe8, 0x8d, 0xed, 0x9d, 0x16, 0xe1,
                                            0xa5, 0x69, 0x8a, 0xfe, 0x85, 0x34, 0xb1, 0x98};
    static const unsigned char want2048[32] = {0xd4, 0x11, 0xb1, 0x85, 0x4d, 0x0c, 0x02, 0x90,
                                               0x86, 0x35, 0x81, 0x22, 0xb7, 0x44, 0x57, 0x1c,
                                               0x5c, 0x91, 0x66, 0x03, 0x6b, 0x2a, 0x1b, 0xf1,
                                               0x9d, 0x28, 0x5c, 0x3a, 0x3f, 0xd5, 0xe9, 0x99};
    unsigned char bmp[16], out[32];
    size_t n = bmp_of((const unsigned char *)"pass", 4, bmp);
    test_kdf(bmp, n, salt, sizeof(salt), 1, out);
    assert_memory_equal(out, want1, 32);
    test_kdf(bmp, n, salt, sizeof(salt), 2048, out);
    assert_memory_equal(out, want2048, 32);
}

/* ---- what a PFX holds ------------------------------------------------------ */

struct bag {
    int is_key;
    unsigned char value[4096]; /* the certificate DER, or the PrivateKeyInfo */
    size_t value_len;
    char name[256]; /* friendlyName as ASCII, "" when absent */
    unsigned char key_id[64];
    size_t key_id_len;
};

/* bagAttributes: SET OF { OID, SET { value } } */
static void read_attributes(unsigned char **p, const unsigned char *end, struct bag *b)
{
    struct tlv set = take(p, end, SET);
    unsigned char *q = set.p, *qend = set.p + set.len;
    while (q < qend) {
        struct tlv attr = take(&q, qend, SEQ);
        unsigned char *a = attr.p, *aend = attr.p + attr.len;
        struct tlv oid = take(&a, aend, MBEDTLS_ASN1_OID);
        struct tlv vals = take(&a, aend, SET);
        unsigned char *v = vals.p;
        if (oid.len == sizeof(OID_FRIENDLY) && memcmp(oid.p, OID_FRIENDLY, oid.len) == 0) {
            struct tlv s = take(&v, vals.p + vals.len, MBEDTLS_ASN1_BMP_STRING);
            assert_true(s.len % 2 == 0 && s.len / 2 < sizeof(b->name));
            for (size_t i = 0; i < s.len / 2; i++) {
                assert_int_equal(s.p[2 * i], 0);
                b->name[i] = (char)s.p[2 * i + 1];
            }
            b->name[s.len / 2] = '\0';
        } else if (oid.len == sizeof(OID_KEY_ID) && memcmp(oid.p, OID_KEY_ID, oid.len) == 0) {
            struct tlv s = take(&v, vals.p + vals.len, MBEDTLS_ASN1_OCTET_STRING);
            assert_true(s.len <= sizeof(b->key_id));
            memcpy(b->key_id, s.p, s.len);
            b->key_id_len = s.len;
        } else {
            fail_msg("unexpected attribute");
        }
    }
    assert_ptr_equal(q, qend);
}

/* { AlgorithmIdentifier, OCTET STRING } as an EncryptedPrivateKeyInfo,
 * which pkcs8.c decrypts (PBES2 is the same in both places). */
static unsigned char *decrypt(const unsigned char *alg, size_t alg_len, const unsigned char *ct,
                              size_t ct_len, size_t *out_len)
{
    unsigned char *epki = malloc(alg_len + ct_len + 16);
    assert_non_null(epki);
    size_t n = 0, body = alg_len + 4 + ct_len;
    epki[n++] = SEQ;
    epki[n++] = 0x83;
    epki[n++] = (unsigned char)(body >> 16);
    epki[n++] = (unsigned char)(body >> 8);
    epki[n++] = (unsigned char)body;
    memcpy(epki + n, alg, alg_len);
    n += alg_len;
    epki[n++] = MBEDTLS_ASN1_OCTET_STRING;
    epki[n++] = 0x82;
    epki[n++] = (unsigned char)(ct_len >> 8);
    epki[n++] = (unsigned char)ct_len;
    memcpy(epki + n, ct, ct_len);
    n += ct_len;
    /* The PBES2 fields check themselves: the long forms above are not DER,
     * but mbedTLS's reader takes them. */
    struct minica_err err;
    unsigned char *pt = NULL;
    size_t pt_len = 0;
    int ret = minica_pkcs8_decrypt_der(epki, n, PASS, PASS_LEN, &pt, &pt_len, &err);
    free(epki);
    if (ret != 0)
        fail_msg("decrypt: %s", err.msg);
    *out_len = pt_len;
    return pt;
}

static size_t read_safe_contents(unsigned char *p, const unsigned char *end, struct bag *bags,
                                 size_t max)
{
    struct tlv sc = take(&p, end, SEQ);
    assert_ptr_equal(p, end);
    unsigned char *q = sc.p, *qend = sc.p + sc.len;
    size_t n = 0;
    while (q < qend) {
        assert_true(n < max);
        struct bag *b = &bags[n++];
        memset(b, 0, sizeof(*b));
        struct tlv bag = take(&q, qend, SEQ);
        unsigned char *a = bag.p, *aend = bag.p + bag.len;
        struct tlv oid = take(&a, aend, MBEDTLS_ASN1_OID);
        struct tlv val = take(&a, aend, EXP0);
        unsigned char *v = val.p, *vend = val.p + val.len;
        if (oid.len == sizeof(OID_KEY_BAG) && memcmp(oid.p, OID_KEY_BAG, oid.len) == 0) {
            b->is_key = 1;
            struct tlv epki = take(&v, vend, SEQ);
            unsigned char *e = epki.p, *eend = epki.p + epki.len, *alg = e;
            take(&e, eend, SEQ);
            size_t alg_len = (size_t)(e - alg);
            struct tlv ct = take(&e, eend, MBEDTLS_ASN1_OCTET_STRING);
            size_t pki_len = 0;
            unsigned char *pki = decrypt(alg, alg_len, ct.p, ct.len, &pki_len);
            assert_true(pki_len <= sizeof(b->value));
            memcpy(b->value, pki, pki_len);
            b->value_len = pki_len;
            minica_free_secret(pki, pki_len);
        } else {
            assert_int_equal(oid.len, sizeof(OID_CERT_BAG));
            assert_memory_equal(oid.p, OID_CERT_BAG, oid.len);
            struct tlv cb = take(&v, vend, SEQ);
            unsigned char *c = cb.p, *cend = cb.p + cb.len;
            take_oid(&c, cend, OID_X509, sizeof(OID_X509));
            struct tlv wrap = take(&c, cend, EXP0);
            unsigned char *w = wrap.p;
            struct tlv der = take(&w, wrap.p + wrap.len, MBEDTLS_ASN1_OCTET_STRING);
            assert_true(der.len <= sizeof(b->value));
            memcpy(b->value, der.p, der.len);
            b->value_len = der.len;
        }
        assert_ptr_equal(v, vend);
        if (a < aend)
            read_attributes(&a, aend, b);
        assert_ptr_equal(a, aend);
    }
    return n;
}

struct parsed {
    struct bag bags[8];
    size_t n_bags;
    int mac_iterations;
    int mac_ok;
};

/* Takes the PFX apart (RFC 7292 4, 5.1) and checks its MAC with the test's KDF. */
static void parse_pfx(unsigned char *der, size_t len, struct parsed *out)
{
    memset(out, 0, sizeof(*out));
    unsigned char *p = der, *end = der + len;
    struct tlv pfx = take(&p, end, SEQ);
    assert_ptr_equal(p, end);
    p = pfx.p;
    end = pfx.p + pfx.len;
    assert_int_equal(take_int(&p, end), 3);
    /* authSafe: ContentInfo { data, [0] { OCTET STRING AuthenticatedSafe } } */
    struct tlv ci = take(&p, end, SEQ);
    unsigned char *c = ci.p, *cend = ci.p + ci.len;
    take_oid(&c, cend, OID_DATA, sizeof(OID_DATA));
    struct tlv wrap = take(&c, cend, EXP0);
    unsigned char *w = wrap.p;
    struct tlv auth = take(&w, wrap.p + wrap.len, MBEDTLS_ASN1_OCTET_STRING);
    /* macData { DigestInfo { { sha256, NULL }, digest }, salt, iterations } */
    struct tlv md = take(&p, end, SEQ);
    assert_ptr_equal(p, end);
    unsigned char *m = md.p, *mend = md.p + md.len;
    struct tlv di = take(&m, mend, SEQ);
    unsigned char *d = di.p, *dend = di.p + di.len;
    struct tlv alg = take(&d, dend, SEQ);
    unsigned char *a = alg.p;
    take_oid(&a, alg.p + alg.len, OID_SHA256, sizeof(OID_SHA256));
    take(&a, alg.p + alg.len, MBEDTLS_ASN1_NULL);
    struct tlv digest = take(&d, dend, MBEDTLS_ASN1_OCTET_STRING);
    assert_int_equal(digest.len, 32);
    struct tlv salt = take(&m, mend, MBEDTLS_ASN1_OCTET_STRING);
    assert_true(salt.len >= 8);
    out->mac_iterations = take_int(&m, mend);
    assert_ptr_equal(m, mend);

    unsigned char bmp[2 * sizeof(PASS) + 2], key[32], mac[32];
    size_t bmp_len = bmp_of(PASS, PASS_LEN, bmp);
    test_kdf(bmp, bmp_len, salt.p, salt.len, out->mac_iterations, key);
    assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, 32, auth.p,
                                     auth.len, mac),
                     0);
    out->mac_ok = memcmp(mac, digest.p, 32) == 0;

    /* AuthenticatedSafe: the encrypted certificates, then the key bag. */
    unsigned char *s = auth.p, *send = auth.p + auth.len;
    struct tlv as = take(&s, send, SEQ);
    assert_ptr_equal(s, send);
    s = as.p;
    send = as.p + as.len;
    while (s < send) {
        struct tlv one = take(&s, send, SEQ);
        unsigned char *o = one.p, *oend = one.p + one.len;
        struct tlv oid = take(&o, oend, MBEDTLS_ASN1_OID);
        struct tlv content = take(&o, oend, EXP0);
        assert_ptr_equal(o, oend);
        unsigned char *k = content.p, *kend = content.p + content.len;
        if (oid.len == sizeof(OID_ENC_DATA) && memcmp(oid.p, OID_ENC_DATA, oid.len) == 0) {
            struct tlv ed = take(&k, kend, SEQ);
            unsigned char *e = ed.p, *eend = ed.p + ed.len;
            assert_int_equal(take_int(&e, eend), 0);
            struct tlv eci = take(&e, eend, SEQ);
            unsigned char *i = eci.p, *iend = eci.p + eci.len;
            take_oid(&i, iend, OID_DATA, sizeof(OID_DATA));
            unsigned char *algp = i;
            take(&i, iend, SEQ);
            size_t alg_len = (size_t)(i - algp);
            struct tlv ct = take(&i, iend, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0);
            assert_ptr_equal(i, iend);
            size_t pt_len = 0;
            unsigned char *pt = decrypt(algp, alg_len, ct.p, ct.len, &pt_len);
            out->n_bags +=
                read_safe_contents(pt, pt + pt_len, out->bags + out->n_bags, 8 - out->n_bags);
            minica_free_secret(pt, pt_len);
        } else {
            assert_int_equal(oid.len, sizeof(OID_DATA));
            assert_memory_equal(oid.p, OID_DATA, oid.len);
            struct tlv sc = take(&k, kend, MBEDTLS_ASN1_OCTET_STRING);
            out->n_bags +=
                read_safe_contents(sc.p, sc.p + sc.len, out->bags + out->n_bags, 8 - out->n_bags);
        }
        assert_ptr_equal(k, kend);
    }
}

static void der_of_pem(const char *pem, unsigned char *out, size_t *len)
{
    mbedtls_x509_crt crt;
    struct minica_err err;
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(minica_crt_parse_pem_first(&crt, pem, &err), 0);
    assert_true(crt.raw.len <= 4096);
    memcpy(out, crt.raw.p, crt.raw.len);
    *len = crt.raw.len;
    mbedtls_x509_crt_free(&crt);
}

static void check_pfx(const struct minica_issued *is, const char *want_name)
{
    struct minica_pkcs12_input in = input_for(is);
    in.friendly_name = want_name;
    struct minica_err err;
    unsigned char *der = NULL;
    size_t len = 0;
    if (minica_pkcs12_build(&in, &der, &len, &err) != 0)
        fail_msg("build: %s", err.msg);
    struct parsed *pf = malloc(sizeof(*pf));
    assert_non_null(pf);
    parse_pfx(der, len, pf);
    assert_true(pf->mac_ok);
    assert_int_equal(pf->mac_iterations, FAST);
    /* leaf, intermediate, key */
    assert_int_equal(pf->n_bags, 3);
    unsigned char leaf[4096], inter[4096], sha1[20];
    size_t leaf_len, inter_len;
    der_of_pem(is->cert_pem, leaf, &leaf_len);
    der_of_pem(is->chain_pem, inter, &inter_len);
    assert_int_equal(
        minica_compat_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA1), leaf, leaf_len, sha1), 0);
    const char *name = want_name ? want_name : is->name;
    struct bag *b = pf->bags;
    assert_false(b[0].is_key);
    assert_int_equal(b[0].value_len, leaf_len);
    assert_memory_equal(b[0].value, leaf, leaf_len);
    assert_string_equal(b[0].name, name);
    assert_int_equal(b[0].key_id_len, 20);
    assert_memory_equal(b[0].key_id, sha1, 20);
    assert_false(b[1].is_key);
    assert_int_equal(b[1].value_len, inter_len);
    assert_memory_equal(b[1].value, inter, inter_len);
    assert_string_equal(b[1].name, "");
    assert_int_equal(b[1].key_id_len, 0);
    assert_true(b[2].is_key);
    assert_string_equal(b[2].name, name);
    assert_int_equal(b[2].key_id_len, 20);
    assert_memory_equal(b[2].key_id, sha1, 20);
    /* The PrivateKeyInfo is the leaf's key. */
    mbedtls_pk_context pk;
    mbedtls_x509_crt crt;
    struct minica_rng rng;
    mbedtls_pk_init(&pk);
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(minica_rng_init(&rng, &err), 0);
    assert_int_equal(minica_compat_pk_parse_key(&pk, b[2].value, b[2].value_len, &rng.drbg), 0);
    assert_int_equal(minica_crt_parse_pem_first(&crt, is->cert_pem, &err), 0);
    assert_true(minica_pk_same_public(&crt.pk, &pk));
    mbedtls_pk_free(&pk);
    mbedtls_x509_crt_free(&crt);
    minica_rng_free(&rng);
    free(pf);
    free(der);
}

static void test_pkcs12_ec_key_chain_and_mac(void **state)
{
    check_pfx(&fx.leaf, NULL);
}

static void test_pkcs12_rsa_key_with_friendly_name(void **state)
{
    check_pfx(&fx.other, "tomcat");
}

static void test_pkcs12_fullchain_leaf_not_repeated(void **state)
{
    /* A fullchain file as the chain: the leaf in it is not a second bag. */
    size_t a = strlen(fx.leaf.cert_pem), b = strlen(fx.leaf.chain_pem);
    char *full = malloc(a + b + 1);
    assert_non_null(full);
    memcpy(full, fx.leaf.cert_pem, a);
    memcpy(full + a, fx.leaf.chain_pem, b + 1);
    struct minica_pkcs12_input in = input_for(&fx.leaf);
    in.chain_pem = full;
    struct minica_err err;
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(minica_pkcs12_build(&in, &der, &len, &err), 0);
    struct parsed *pf = malloc(sizeof(*pf));
    assert_non_null(pf);
    parse_pfx(der, len, pf);
    assert_int_equal(pf->n_bags, 3);
    free(pf);
    free(der);
    free(full);
}

static void test_pkcs12_mac_fails_with_other_passphrase(void **state)
{
    /* The recomputation can fail: a file under another passphrase. */
    static const unsigned char other[] = "another passphrase entirely";
    struct minica_pkcs12_input in = input_for(&fx.leaf);
    in.pass = other;
    in.pass_len = sizeof(other) - 1;
    struct minica_err err;
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(minica_pkcs12_build(&in, &der, &len, &err), 0);
    /* Only the MAC: parse_pfx would fail decrypting the bags. */
    unsigned char *p = der, *end = der + len;
    struct tlv pfx = take(&p, end, SEQ);
    p = pfx.p;
    end = pfx.p + pfx.len;
    take_int(&p, end);
    struct tlv ci = take(&p, end, SEQ);
    unsigned char *c = ci.p;
    take(&c, ci.p + ci.len, MBEDTLS_ASN1_OID);
    struct tlv wrap = take(&c, ci.p + ci.len, EXP0);
    unsigned char *w = wrap.p;
    struct tlv auth = take(&w, wrap.p + wrap.len, MBEDTLS_ASN1_OCTET_STRING);
    struct tlv md = take(&p, end, SEQ);
    unsigned char *m = md.p, *mend = md.p + md.len;
    struct tlv di = take(&m, mend, SEQ);
    unsigned char *d = di.p;
    take(&d, di.p + di.len, SEQ);
    struct tlv digest = take(&d, di.p + di.len, MBEDTLS_ASN1_OCTET_STRING);
    struct tlv salt = take(&m, mend, MBEDTLS_ASN1_OCTET_STRING);
    int iter = take_int(&m, mend);
    unsigned char bmp[128], key[32], mac[32];
    size_t n = bmp_of(PASS, PASS_LEN, bmp);
    test_kdf(bmp, n, salt.p, salt.len, iter, key);
    assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, 32, auth.p,
                                     auth.len, mac),
                     0);
    assert_memory_not_equal(mac, digest.p, 32);
    n = bmp_of(other, sizeof(other) - 1, bmp);
    test_kdf(bmp, n, salt.p, salt.len, iter, key);
    assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, 32, auth.p,
                                     auth.len, mac),
                     0);
    assert_memory_equal(mac, digest.p, 32);
    free(der);
}

static void test_pkcs12_fresh_salts_each_time(void **state)
{
    struct minica_pkcs12_input in = input_for(&fx.leaf);
    struct minica_err err;
    unsigned char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    assert_int_equal(minica_pkcs12_build(&in, &a, &alen, &err), 0);
    assert_int_equal(minica_pkcs12_build(&in, &b, &blen, &err), 0);
    assert_int_equal(alen, blen);
    assert_memory_not_equal(a, b, alen);
    free(a);
    free(b);
}

static void test_pkcs12_default_iterations(void **state)
{
    struct minica_pkcs12_input in = input_for(&fx.leaf);
    in.iterations = 0;
    struct minica_err err;
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(minica_pkcs12_build(&in, &der, &len, &err), 0);
    struct parsed *pf = malloc(sizeof(*pf));
    assert_non_null(pf);
    parse_pfx(der, len, pf);
    assert_true(pf->mac_ok);
    assert_int_equal(pf->mac_iterations, MINICA_PKCS12_ITERATIONS);
    /* .NET's default loader limits: 300000 per derivation, 1000000 in all
     * (three: the two bags and the MAC). */
    assert_true(MINICA_PKCS12_ITERATIONS <= 300000);
    assert_true(3 * MINICA_PKCS12_ITERATIONS <= 1000000);
    free(pf);
    free(der);
}

static void expect_refused(const struct minica_pkcs12_input *in, int code, const char *msg)
{
    struct minica_err err;
    unsigned char *der = (unsigned char *)"x";
    size_t len = 1;
    memset(&err, 0, sizeof(err));
    int ret = minica_pkcs12_build(in, &der, &len, &err);
    if (code != 0)
        assert_int_equal(ret, code);
    else
        assert_true(ret < 0); /* whichever mbedTLS's parser says */
    assert_null(der);
    assert_int_equal(len, 0);
    if (strstr(err.msg, msg) == NULL)
        fail_msg("message '%s' does not say '%s'", err.msg, msg);
}

static void test_pkcs12_refuses_key_of_another_certificate(void **state)
{
    struct minica_pkcs12_input in = input_for(&fx.leaf);
    in.key_pem = fx.other.key_pem;
    expect_refused(&in, MINICA_EINVAL, "the private key is not the certificate's");
}

static void test_pkcs12_refuses_empty_or_missing_passphrase(void **state)
{
    struct minica_pkcs12_input in = input_for(&fx.leaf);
    in.pass_len = 0;
    expect_refused(&in, MINICA_EINVAL, "needs a passphrase");
    in.pass = NULL;
    in.pass_len = 5;
    expect_refused(&in, MINICA_EINVAL, "needs a passphrase");
}

static void test_pkcs12_refuses_passphrase_that_is_not_utf8(void **state)
{
    static const unsigned char latin1[] = "caf\xe9";
    static const unsigned char nul[] = {'a', 0, 'b'};
    struct minica_pkcs12_input in = input_for(&fx.leaf);
    in.pass = latin1;
    in.pass_len = sizeof(latin1) - 1;
    expect_refused(&in, MINICA_EINVAL, "not UTF-8");
    in.pass = nul;
    in.pass_len = sizeof(nul);
    expect_refused(&in, MINICA_EINVAL, "not UTF-8");
}

#define KEY_LABEL                                                                                  \
    "PRIVATE"                                                                                      \
    " KEY"

static void test_pkcs12_refuses_garbage(void **state)
{
    struct minica_pkcs12_input in = input_for(&fx.leaf);
    in.cert_pem = "not a certificate";
    expect_refused(&in, 0, "the certificate");
    in = input_for(&fx.leaf);
    /* Dummy key blocks, their labels split so that secret scanners do not
     * take four bytes of base64 for a committed key. */
    in.key_pem = "-----BEGIN " KEY_LABEL "-----\nAAAA\n-----END " KEY_LABEL "-----\n";
    expect_refused(&in, 0, "cannot parse the private key");
    in = input_for(&fx.leaf);
    in.key_pem =
        "-----BEGIN ENCRYPTED " KEY_LABEL "-----\nAAAA\n-----END ENCRYPTED " KEY_LABEL "-----\n";
    expect_refused(&in, MINICA_EINVAL, "encrypted");
    in = input_for(&fx.leaf);
    in.chain_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    expect_refused(&in, 0, "the chain");
    in = input_for(&fx.leaf);
    in.key_pem = NULL;
    expect_refused(&in, MINICA_EINVAL, "needs a key");
    in = input_for(&fx.leaf);
    in.iterations = 10;
    expect_refused(&in, MINICA_EINVAL, "iteration count");
    in = input_for(&fx.leaf);
    in.friendly_name = "";
    expect_refused(&in, MINICA_EINVAL, "friendly name");
    in.friendly_name = "\xff";
    expect_refused(&in, MINICA_EINVAL, "friendly name is not UTF-8");
}

static void test_pkcs12_write_is_private_whatever_the_umask(void **state)
{
    char *dir = tu_tempdir();
    char path[4200];
    snprintf(path, sizeof(path), "%s/app.p12", dir);
    mode_t old = umask(0);
    struct minica_pkcs12_input in = input_for(&fx.leaf);
    struct minica_err err;
    int ret = minica_pkcs12_write(path, &in, &err);
    umask(old);
    assert_int_equal(ret, 0);
    assert_int_equal(tu_mode_of(path), 0600);
    assert_int_equal(tu_count_temp_files(dir), 0);
    tu_rmtree(dir);
    free(dir);
}

static void test_pkcs12_passphrase_file_rules(void **state)
{
    char *dir = tu_tempdir();
    char path[4200];
    snprintf(path, sizeof(path), "%s/p12.pass", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("s3cret phrase\nsecond line\n", f);
    fclose(f);
    struct minica_pkcs12_passphrase p;
    struct minica_err err;
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_not_equal(minica_pkcs12_passphrase_read(path, NULL, &p, &err), 0);
    assert_non_null(strstr(err.msg, "open to group or others"));
    assert_int_equal(p.len, 0);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(minica_pkcs12_passphrase_read(path, NULL, &p, &err), 0);
    assert_int_equal(p.len, strlen("s3cret phrase"));
    assert_memory_equal(p.buf, "s3cret phrase", p.len);
    minica_pkcs12_passphrase_wipe(&p);
    assert_int_equal(p.len, 0);
    assert_int_not_equal(minica_pkcs12_passphrase_read(path, "cred", &p, &err), 0);
    assert_int_not_equal(minica_pkcs12_passphrase_read(NULL, NULL, &p, &err), 0);
    tu_rmtree(dir);
    free(dir);
}

static void test_pkcs12_issue_to_dir_writes_p12_beside_the_pems(void **state)
{
    char *dir = tu_tempdir();
    char out[4200];
    snprintf(out, sizeof(out), "%s/out", dir);
    struct minica_issue_request req;
    memset(&req, 0, sizeof(req));
    req.name = "svc.internal";
    struct minica_deliver_options opts = {MINICA_DELIVER_PKCS12, PASS, PASS_LEN};
    struct minica_issued is;
    struct minica_output_paths paths;
    struct minica_err err;
    mode_t old = umask(0);
    int ret = minica_ca_issue_to_dir_opts(fx.ca, &req, out, &opts, &is, &paths, &err);
    umask(old);
    if (ret != 0)
        fail_msg("issue: %s", err.msg);
    assert_non_null(strstr(paths.pkcs12, "/svc.internal.p12"));
    assert_int_equal(tu_mode_of(paths.pkcs12), 0600);
    assert_int_equal(tu_mode_of(paths.key), 0600);
    assert_int_equal(tu_mode_of(paths.cert), 0644);
    size_t len = 0;
    char *p12 = NULL;
    assert_int_equal(minica_read_file(paths.pkcs12, 1 << 20, &p12, &len, &err), 0);
    struct parsed *pf = malloc(sizeof(*pf));
    assert_non_null(pf);
    parse_pfx((unsigned char *)p12, len, pf);
    assert_true(pf->mac_ok);
    assert_int_equal(pf->mac_iterations, MINICA_PKCS12_ITERATIONS);
    assert_int_equal(pf->n_bags, 3);
    assert_string_equal(pf->bags[0].name, "svc.internal");
    free(pf);
    free(p12);
    minica_issued_free(&is);
    tu_rmtree(dir);
    free(dir);
}

static void test_pkcs12_issue_to_dir_refuses_csr_and_no_passphrase(void **state)
{
    char *dir = tu_tempdir();
    char out[4200];
    snprintf(out, sizeof(out), "%s/out", dir);
    struct minica_issue_request req;
    memset(&req, 0, sizeof(req));
    req.name = "csr.internal";
    char *csr = tu_make_csr("csr.internal", 0);
    req.csr_pem = csr;
    struct minica_deliver_options opts = {MINICA_DELIVER_PKCS12, PASS, PASS_LEN};
    struct minica_issued is;
    struct minica_output_paths paths;
    struct minica_err err;
    assert_int_equal(minica_ca_issue_to_dir_opts(fx.ca, &req, out, &opts, &is, &paths, &err),
                     MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "cannot be made from a CSR"));
    req.csr_pem = NULL;
    opts.pkcs12_pass_len = 0;
    assert_int_equal(minica_ca_issue_to_dir_opts(fx.ca, &req, out, &opts, &is, &paths, &err),
                     MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "needs a passphrase"));
    /* Refused before anything was made: not even the directory. */
    assert_int_equal(tu_mode_of(out), 07777);
    free(csr);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pkcs12_test_kdf_matches_openssl),
        cmocka_unit_test(test_pkcs12_ec_key_chain_and_mac),
        cmocka_unit_test(test_pkcs12_rsa_key_with_friendly_name),
        cmocka_unit_test(test_pkcs12_fullchain_leaf_not_repeated),
        cmocka_unit_test(test_pkcs12_mac_fails_with_other_passphrase),
        cmocka_unit_test(test_pkcs12_fresh_salts_each_time),
        cmocka_unit_test(test_pkcs12_default_iterations),
        cmocka_unit_test(test_pkcs12_refuses_key_of_another_certificate),
        cmocka_unit_test(test_pkcs12_refuses_empty_or_missing_passphrase),
        cmocka_unit_test(test_pkcs12_refuses_passphrase_that_is_not_utf8),
        cmocka_unit_test(test_pkcs12_refuses_garbage),
        cmocka_unit_test(test_pkcs12_write_is_private_whatever_the_umask),
        cmocka_unit_test(test_pkcs12_passphrase_file_rules),
        cmocka_unit_test(test_pkcs12_issue_to_dir_writes_p12_beside_the_pems),
        cmocka_unit_test(test_pkcs12_issue_to_dir_refuses_csr_and_no_passphrase),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
