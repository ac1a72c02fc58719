/* Unit tests for the CRL writer: build CRLs from a real test CA, parse them
 * back with mbedTLS's own CRL parser and check them with its verifier
 * (entries, reasons, numbers, times, issuer, AKI, signature). Revocation
 * itself (which rows) is test_revoke's job. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#include "ca/x509.h"
#include "minica/ca.h"
#include "minica/crl.h"
#include "minica/fsutil.h"
#include "minica/issue.h"
#include "minica/lifecycle.h"
#include "minica/revoke.h"
#include "testutil.h"

/* Issues NAME (ttl seconds, 0 = default) and returns its PEM; serial into serial. */
static char *issue(struct minica_ca *ca, const char *name, int64_t ttl, char serial[41])
{
    struct minica_issue_request req;
    struct minica_issued out;
    struct minica_err err;
    memset(&req, 0, sizeof(req));
    req.name = name;
    req.ttl = ttl;
    if (minica_ca_issue(ca, &req, &out, &err) != 0)
        fail_msg("issue %s: %s", name, err.msg);
    char *pem = strdup(out.cert_pem);
    snprintf(serial, 41, "%s", out.serial);
    minica_issued_free(&out);
    return pem;
}

static void revoke(struct minica_ca *ca, const char *target, enum minica_revoke_reason reason)
{
    struct minica_err err;
    int n = minica_ca_revoke(ca, target, reason, NULL, &err);
    if (n < 0)
        fail_msg("revoke %s: %s", target, err.msg);
}

static void make_crl(struct minica_ca *ca, int root, int64_t next, struct minica_crl *crl,
                     mbedtls_x509_crl *parsed)
{
    struct minica_crl_options opts = {.root = root, .next_update = next};
    struct minica_err err;
    if (minica_ca_crl(ca, &opts, crl, &err) != 0)
        fail_msg("crl: %s", err.msg);
    mbedtls_x509_crl_init(parsed);
    assert_int_equal(mbedtls_x509_crl_parse_der(parsed, crl->der, crl->der_len), 0);
    /* The PEM is the same CRL. */
    mbedtls_x509_crl pem;
    mbedtls_x509_crl_init(&pem);
    assert_int_equal(
        mbedtls_x509_crl_parse(&pem, (const unsigned char *)crl->pem, strlen(crl->pem) + 1), 0);
    assert_int_equal(pem.raw.len, crl->der_len);
    assert_memory_equal(pem.raw.p, crl->der, crl->der_len);
    mbedtls_x509_crl_free(&pem);
}

/* Finds "06 03 55 1d <id>" (an id-ce OID) in der; returns what follows it. */
static const unsigned char *after_oid(const unsigned char *der, size_t len, unsigned char id)
{
    const unsigned char oid[] = {0x06, 0x03, 0x55, 0x1d, id};
    for (size_t i = 0; i + sizeof(oid) <= len; i++)
        if (memcmp(der + i, oid, sizeof(oid)) == 0)
            return der + i + sizeof(oid);
    return NULL;
}

/* ENUMERATED reason inside a CRL entry's extensions, -1 when absent. */
static int entry_reason(const mbedtls_x509_crl_entry *e)
{
    if (e->entry_ext.len == 0)
        return -1;
    const unsigned char *p = after_oid(e->entry_ext.p, e->entry_ext.len, 0x15);
    assert_non_null(p);
    /* OCTET STRING (3) { ENUMERATED (1) reason } */
    assert_int_equal(p[0], 0x04);
    assert_int_equal(p[1], 0x03);
    assert_int_equal(p[2], 0x0a);
    assert_int_equal(p[3], 0x01);
    return p[4];
}

static long long crl_number(const unsigned char *der, size_t len)
{
    const unsigned char *p = after_oid(der, len, 0x14);
    assert_non_null(p);
    assert_int_equal(p[0], 0x04);
    assert_int_equal(p[2], 0x02);
    long long v = 0;
    for (size_t i = 0; i < p[3]; i++)
        v = (v << 8) | p[4 + i];
    return v;
}

static const mbedtls_x509_crl_entry *find_entry(const mbedtls_x509_crl *crl, const char *serial)
{
    for (const mbedtls_x509_crl_entry *e = &crl->entry; e != NULL && e->serial.len; e = e->next) {
        char hex[41];
        minica_serial_to_hex(e->serial.p, e->serial.len, hex, sizeof(hex));
        if (strcmp(hex, serial) == 0)
            return e;
    }
    return NULL;
}

static size_t count_entries(const mbedtls_x509_crl *crl)
{
    size_t n = 0;
    for (const mbedtls_x509_crl_entry *e = &crl->entry; e != NULL && e->serial.len; e = e->next)
        n++;
    return n;
}

static void parse_pem(mbedtls_x509_crt *crt, const char *pem)
{
    struct minica_err err;
    mbedtls_x509_crt_init(crt);
    if (minica_crt_parse_pem(crt, pem, &err) != 0)
        fail_msg("parse: %s", err.msg);
}

/* leaf + intermediate, trusting the root, with the given CRLs. */
static uint32_t verify_flags(struct minica_ca *ca, const char *leaf_pem, mbedtls_x509_crl *crls)
{
    mbedtls_x509_crt chain, root;
    parse_pem(&chain, leaf_pem);
    struct minica_err err;
    assert_int_equal(minica_crt_parse_pem(&chain, minica_ca_chain_pem(ca), &err), 0);
    parse_pem(&root, minica_ca_roots_pem(ca));
    uint32_t flags = 0;
    mbedtls_x509_crt_verify(&chain, &root, crls, NULL, &flags, NULL, NULL);
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&root);
    return flags;
}

static void test_crl_lists_revoked_with_reasons(void **state)
{
    struct tu_ca *f = *state;
    char sa[41], sb[41], sc[41];
    char *a = issue(f->ca, "a.example.svc", 0, sa);
    char *b = issue(f->ca, "b.example.svc", 0, sb);
    char *c = issue(f->ca, "c.example.svc", 0, sc);
    revoke(f->ca, "a.example.svc", MINICA_REASON_KEY_COMPROMISE);
    revoke(f->ca, sb, MINICA_REASON_UNSPECIFIED);

    struct minica_crl crl;
    mbedtls_x509_crl parsed;
    make_crl(f->ca, 0, 0, &crl, &parsed);
    assert_int_equal(parsed.version, 2);
    assert_int_equal(crl.n_revoked, 2);
    assert_int_equal(count_entries(&parsed), 2);
    const mbedtls_x509_crl_entry *ea = find_entry(&parsed, sa), *eb = find_entry(&parsed, sb);
    assert_non_null(ea);
    assert_non_null(eb);
    assert_null(find_entry(&parsed, sc));
    assert_int_equal(entry_reason(ea), MINICA_REASON_KEY_COMPROMISE);
    /* RFC 5280 5.3.1: unspecified is expressed by leaving reasonCode out. */
    assert_int_equal(entry_reason(eb), -1);
    int64_t revoked_at = minica_x509_time_to_unix(&ea->revocation_date);
    assert_true(revoked_at <= crl.this_update && revoked_at > crl.this_update - 60);

    /* Signed by the intermediate: mbedTLS flags the revoked leaf and only it. */
    assert_true(verify_flags(f->ca, a, &parsed) & MBEDTLS_X509_BADCERT_REVOKED);
    assert_true(verify_flags(f->ca, b, &parsed) & MBEDTLS_X509_BADCERT_REVOKED);
    assert_int_equal(verify_flags(f->ca, c, &parsed), 0);
    mbedtls_x509_crl_free(&parsed);
    minica_crl_free(&crl);
    free(a);
    free(b);
    free(c);
}

static void test_crl_every_reason_round_trips(void **state)
{
    struct tu_ca *f = *state;
    const enum minica_revoke_reason reasons[] = {
        MINICA_REASON_KEY_COMPROMISE, MINICA_REASON_AFFILIATION_CHANGED, MINICA_REASON_SUPERSEDED,
        MINICA_REASON_CESSATION_OF_OPERATION};
    char serials[4][41];
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof(name), "r%d.example.svc", i);
        free(issue(f->ca, name, 0, serials[i]));
        revoke(f->ca, name, reasons[i]);
    }
    struct minica_crl crl;
    mbedtls_x509_crl parsed;
    make_crl(f->ca, 0, 0, &crl, &parsed);
    for (int i = 0; i < 4; i++) {
        const mbedtls_x509_crl_entry *e = find_entry(&parsed, serials[i]);
        assert_non_null(e);
        assert_int_equal(entry_reason(e), reasons[i]);
    }
    mbedtls_x509_crl_free(&parsed);
    minica_crl_free(&crl);
}

static void test_crl_numbers_increase(void **state)
{
    struct tu_ca *f = *state;
    long long last = 0;
    for (int i = 0; i < 3; i++) {
        struct minica_crl crl;
        mbedtls_x509_crl parsed;
        make_crl(f->ca, 0, 0, &crl, &parsed);
        long long n = crl_number(crl.der, crl.der_len);
        assert_int_equal(n, crl.number);
        assert_true(n > last);
        last = n;
        mbedtls_x509_crl_free(&parsed);
        minica_crl_free(&crl);
    }
    /* The root's numbers are a separate sequence. */
    struct minica_crl crl;
    mbedtls_x509_crl parsed;
    make_crl(f->ca, 1, 0, &crl, &parsed);
    assert_int_equal(crl_number(crl.der, crl.der_len), 1);
    mbedtls_x509_crl_free(&parsed);
    minica_crl_free(&crl);
}

static void test_crl_next_update_defaults_to_7d(void **state)
{
    struct tu_ca *f = *state;
    struct minica_crl crl;
    mbedtls_x509_crl parsed;
    make_crl(f->ca, 0, 0, &crl, &parsed);
    int64_t this_update = minica_x509_time_to_unix(&parsed.this_update);
    int64_t next_update = minica_x509_time_to_unix(&parsed.next_update);
    assert_int_equal(this_update, crl.this_update);
    assert_int_equal(next_update - this_update, 7 * 86400);
    mbedtls_x509_crl_free(&parsed);
    minica_crl_free(&crl);

    make_crl(f->ca, 0, 36 * 3600, &crl, &parsed);
    assert_int_equal(minica_x509_time_to_unix(&parsed.next_update) -
                         minica_x509_time_to_unix(&parsed.this_update),
                     36 * 3600);
    mbedtls_x509_crl_free(&parsed);
    minica_crl_free(&crl);
}

static void test_crl_issuer_and_aki_match_the_intermediate(void **state)
{
    struct tu_ca *f = *state;
    struct minica_crl crl;
    mbedtls_x509_crl parsed;
    mbedtls_x509_crt inter;
    make_crl(f->ca, 0, 0, &crl, &parsed);
    parse_pem(&inter, minica_ca_chain_pem(f->ca));
    assert_int_equal(parsed.issuer_raw.len, inter.subject_raw.len);
    assert_memory_equal(parsed.issuer_raw.p, inter.subject_raw.p, inter.subject_raw.len);
    /* AKI keyIdentifier == the intermediate's SKI, byte for byte. */
    const unsigned char *ski = after_oid(inter.raw.p, inter.raw.len, 0x0e);
    const unsigned char *aki = after_oid(crl.der, crl.der_len, 0x23);
    assert_non_null(ski);
    assert_non_null(aki);
    /* SKI: 04 16 04 14 <20>; AKI: 04 18 30 16 80 14 <20> */
    assert_int_equal(ski[2], 0x04);
    assert_int_equal(aki[4], 0x80);
    assert_int_equal(aki[5], 20);
    assert_memory_equal(ski + 4, aki + 6, 20);
    mbedtls_x509_crt_free(&inter);
    mbedtls_x509_crl_free(&parsed);
    minica_crl_free(&crl);
}

static void test_crl_root_is_signed_by_root_and_empty(void **state)
{
    struct tu_ca *f = *state;
    char s[41];
    char *leaf = issue(f->ca, "ok.example.svc", 0, s);
    struct minica_crl inter_crl, root_crl;
    mbedtls_x509_crl both;
    make_crl(f->ca, 0, 0, &inter_crl, &both);
    mbedtls_x509_crl parsed_root;
    make_crl(f->ca, 1, 0, &root_crl, &parsed_root);
    assert_int_equal(root_crl.n_revoked, 0);
    assert_int_equal(count_entries(&parsed_root), 0);
    mbedtls_x509_crt root;
    parse_pem(&root, minica_ca_roots_pem(f->ca));
    assert_int_equal(parsed_root.issuer_raw.len, root.subject_raw.len);
    assert_memory_equal(parsed_root.issuer_raw.p, root.subject_raw.p, root.subject_raw.len);
    /* Both CRLs in one list, as nginx gets them: a bad root CRL signature
     * would show as BADCRL_NOT_TRUSTED on the intermediate. */
    assert_int_equal(mbedtls_x509_crl_parse_der(&both, root_crl.der, root_crl.der_len), 0);
    assert_int_equal(verify_flags(f->ca, leaf, &both), 0);
    mbedtls_x509_crt_free(&root);
    mbedtls_x509_crl_free(&both);
    mbedtls_x509_crl_free(&parsed_root);
    minica_crl_free(&inter_crl);
    minica_crl_free(&root_crl);
    free(leaf);
}

static void test_crl_leaves_out_expired_certificates(void **state)
{
    struct tu_ca *f = *state;
    char s_short[41], s_long[41];
    free(issue(f->ca, "short.example.svc", 3600, s_short));
    free(issue(f->ca, "long.example.svc", 0, s_long));
    revoke(f->ca, "short.example.svc", MINICA_REASON_SUPERSEDED);
    revoke(f->ca, "long.example.svc", MINICA_REASON_SUPERSEDED);
    char later[32];
    snprintf(later, sizeof(later), "%lld", (long long)minica_now() + 2 * 3600);
    setenv("MINICA_FAKE_NOW", later, 1);
    struct minica_crl crl;
    mbedtls_x509_crl parsed;
    make_crl(f->ca, 0, 0, &crl, &parsed);
    assert_int_equal(count_entries(&parsed), 1);
    assert_null(find_entry(&parsed, s_short));
    assert_non_null(find_entry(&parsed, s_long));
    mbedtls_x509_crl_free(&parsed);
    minica_crl_free(&crl);
}

static void test_crl_without_revocations_has_no_list(void **state)
{
    struct tu_ca *f = *state;
    struct minica_crl crl;
    mbedtls_x509_crl parsed;
    make_crl(f->ca, 0, 0, &crl, &parsed);
    assert_int_equal(count_entries(&parsed), 0);
    mbedtls_x509_crl_free(&parsed);
    minica_crl_free(&crl);
}

static void test_crl_write_is_pem_or_der(void **state)
{
    struct tu_ca *f = *state;
    struct minica_crl crl;
    mbedtls_x509_crl parsed;
    struct minica_err err;
    make_crl(f->ca, 0, 0, &crl, &parsed);
    char path[4200];
    snprintf(path, sizeof(path), "%s/crl.pem", f->dir);
    assert_int_equal(minica_crl_write(&crl, path, 0, &err), 0);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(minica_read_file(path, 1 << 20, &buf, &len, &err), 0);
    assert_string_equal(buf, crl.pem);
    assert_non_null(strstr(buf, "-----BEGIN X509 CRL-----"));
    free(buf);
    assert_int_equal(minica_crl_write(&crl, path, 1, &err), 0);
    assert_int_equal(minica_read_file(path, 1 << 20, &buf, &len, &err), 0);
    assert_int_equal(len, crl.der_len);
    assert_memory_equal(buf, crl.der, len);
    free(buf);
    mbedtls_x509_crl_free(&parsed);
    minica_crl_free(&crl);
}

/* Two handles on one inventory stand for two serve replicas. */
static struct minica_ca *second_handle(struct tu_ca *f)
{
    struct minica_ca *ca;
    struct minica_err err;
    if (minica_ca_open(f->dir, &ca, &err) != 0)
        fail_msg("open a second handle: %s", err.msg);
    return ca;
}

static void published(struct minica_ca *ca, int64_t max_age, struct minica_crl_set *set)
{
    struct minica_err err;
    if (minica_ca_crls_published(ca, max_age, set, &err) != 0)
        fail_msg("published CRLs: %s", err.msg);
    assert_true(set->n >= 1);
}

static void assert_same_set(const struct minica_crl_set *a, const struct minica_crl_set *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->crl[0].number, b->crl[0].number);
    assert_int_equal(a->crl[0].der_len, b->crl[0].der_len);
    assert_memory_equal(a->crl[0].der, b->crl[0].der, a->crl[0].der_len);
    assert_string_equal(a->pem, b->pem);
}

/* Every replica answers the bytes the first one signed, until a minute
 * has passed or a revocation (through any of them) happened: then the
 * next one to ask signs a set with a higher cRLNumber that lists it. */
static void test_crls_published_are_shared_until_stale_or_revoked(void **state)
{
    struct tu_ca *f = *state;
    struct minica_ca *other = second_handle(f);
    char serial[41];
    free(issue(f->ca, "a.example.svc", 0, serial));

    struct minica_crl_set s1, s2, s3, s4, s5;
    published(f->ca, 60, &s1);
    published(other, 60, &s2);
    assert_same_set(&s1, &s2);
    assert_int_equal(s1.crl[0].n_revoked, 0);

    revoke(other, serial, MINICA_REASON_KEY_COMPROMISE);
    published(f->ca, 60, &s3);
    assert_true(s3.crl[0].number > s1.crl[0].number);
    assert_int_equal(s3.crl[0].n_revoked, 1);
    mbedtls_x509_crl parsed;
    mbedtls_x509_crl_init(&parsed);
    assert_int_equal(mbedtls_x509_crl_parse_der(&parsed, s3.crl[0].der, s3.crl[0].der_len), 0);
    assert_non_null(find_entry(&parsed, serial));
    mbedtls_x509_crl_free(&parsed);
    published(other, 60, &s4);
    assert_same_set(&s3, &s4);

    /* A minute on, whoever asks first signs anew; the number grows. */
    char later[32];
    snprintf(later, sizeof(later), "%lld", (long long)s3.crl[0].this_update + 61);
    setenv("MINICA_FAKE_NOW", later, 1);
    published(other, 60, &s5);
    assert_true(s5.crl[0].number > s3.crl[0].number);
    struct minica_crl_set s6;
    published(f->ca, 60, &s6);
    assert_same_set(&s5, &s6);

    struct minica_crl_set *sets[] = {&s1, &s2, &s3, &s4, &s5, &s6};
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        minica_crl_set_free(sets[i]);
    minica_ca_close(other);
}

/* The CA's state directory changed under the open handle: open it again. */
static void reopen(struct tu_ca *f)
{
    struct minica_err err;
    minica_ca_close(f->ca);
    f->ca = NULL;
    if (minica_ca_open(f->dir, &f->ca, &err) != 0)
        fail_msg("reopen: %s", err.msg);
}

/* minica ca rotate: a new intermediate under the same root; returns the
 * previous one's serial. */
static void rotate(struct tu_ca *f, char previous[MINICA_SERIAL_HEX_MAX])
{
    struct minica_rotate_options opts;
    struct minica_rotate_result res;
    struct minica_err err;
    memset(&opts, 0, sizeof(opts));
    minica_ca_close(f->ca);
    f->ca = NULL;
    if (minica_ca_rotate(f->dir, &opts, &res, &err) != 0)
        fail_msg("rotate: %s", err.msg);
    snprintf(previous, MINICA_SERIAL_HEX_MAX, "%s", res.previous_serial);
    reopen(f);
}

static const struct minica_ca_cert *ca_cert(struct minica_ca *ca, const char *serial)
{
    const struct minica_ca_cert *certs;
    size_t n;
    minica_ca_certs(ca, &certs, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(certs[i].serial, serial) == 0)
            return &certs[i];
    fail_msg("no CA certificate %s", serial);
    return NULL;
}

/* The PEM of a CA certificate of the state directory. */
static char *ca_cert_pem(struct tu_ca *f, const char *serial)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s", f->dir, ca_cert(f->ca, serial)->file);
    return tu_slurp(path);
}

static void make_crls(struct minica_ca *ca, unsigned scope, const char *issuer,
                      struct minica_crl_set *set)
{
    struct minica_crl_options opts = {.scope = scope, .issuer_serial = issuer};
    struct minica_err err;
    if (minica_ca_crls(ca, &opts, set, &err) != 0)
        fail_msg("crls: %s", err.msg);
}

/* Every CRL of the set's PEM, as nginx loads the file. */
static void parse_set(const struct minica_crl_set *set, mbedtls_x509_crl *crls)
{
    mbedtls_x509_crl_init(crls);
    assert_int_equal(
        mbedtls_x509_crl_parse(crls, (const unsigned char *)set->pem, strlen(set->pem) + 1), 0);
    size_t n = 0;
    for (const mbedtls_x509_crl *c = crls; c != NULL && c->version; c = c->next)
        n++;
    assert_int_equal(n, set->n);
}

/* leaf + intermediate (by serial), trusting every current root. */
static uint32_t verify_under(struct tu_ca *f, const char *leaf_pem, const char *int_serial,
                             mbedtls_x509_crl *crls)
{
    mbedtls_x509_crt chain, roots;
    parse_pem(&chain, leaf_pem);
    char *inter = ca_cert_pem(f, int_serial);
    struct minica_err err;
    assert_int_equal(minica_crt_parse_pem(&chain, inter, &err), 0);
    parse_pem(&roots, minica_ca_roots_pem(f->ca));
    uint32_t flags = 0;
    mbedtls_x509_crt_verify(&chain, &roots, crls, NULL, &flags, NULL, NULL);
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&roots);
    free(inter);
    return flags;
}

static void assert_issued_by(const struct minica_crl *crl, const char *pem)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crl parsed;
    parse_pem(&crt, pem);
    mbedtls_x509_crl_init(&parsed);
    assert_int_equal(mbedtls_x509_crl_parse_der(&parsed, crl->der, crl->der_len), 0);
    assert_int_equal(parsed.issuer_raw.len, crt.subject_raw.len);
    assert_memory_equal(parsed.issuer_raw.p, crt.subject_raw.p, crt.subject_raw.len);
    mbedtls_x509_crl_free(&parsed);
    mbedtls_x509_crt_free(&crt);
}

static int has_entry(const struct minica_crl *crl, const char *serial)
{
    mbedtls_x509_crl parsed;
    mbedtls_x509_crl_init(&parsed);
    assert_int_equal(mbedtls_x509_crl_parse_der(&parsed, crl->der, crl->der_len), 0);
    int found = find_entry(&parsed, serial) != NULL;
    mbedtls_x509_crl_free(&parsed);
    return found;
}

static void test_crls_one_per_intermediate_after_rotation(void **state)
{
    struct tu_ca *f = *state;
    char s_old[41], s_keep[41], s_new[41], previous[MINICA_SERIAL_HEX_MAX];
    char *old_leaf = issue(f->ca, "old.example.svc", 0, s_old);
    char *keep = issue(f->ca, "keep.example.svc", 0, s_keep);
    rotate(f, previous);
    const char *active = minica_ca_active_intermediate(f->ca)->serial;
    assert_string_not_equal(active, previous);
    char *new_leaf = issue(f->ca, "new.example.svc", 0, s_new);
    revoke(f->ca, s_old, MINICA_REASON_KEY_COMPROMISE);
    revoke(f->ca, s_new, MINICA_REASON_SUPERSEDED);

    struct minica_crl_set set;
    make_crls(f->ca, 0, NULL, &set);
    assert_int_equal(set.n, 2);
    assert_int_equal(set.plan.n_warnings, 0);
    /* The active intermediate's first, then the previous one's. */
    assert_string_equal(set.crl[0].issuer_serial, active);
    assert_true(set.crl[0].issuer_active);
    assert_int_equal(set.crl[0].issuer_role, MINICA_CA_INTERMEDIATE);
    assert_string_equal(set.crl[1].issuer_serial, previous);
    assert_false(set.crl[1].issuer_active);
    char *prev_pem = ca_cert_pem(f, previous), *active_pem = ca_cert_pem(f, active);
    assert_issued_by(&set.crl[0], active_pem);
    assert_issued_by(&set.crl[1], prev_pem);
    /* Each lists only what its issuer signed. */
    assert_int_equal(set.crl[0].n_revoked, 1);
    assert_true(has_entry(&set.crl[0], s_new));
    assert_false(has_entry(&set.crl[0], s_old));
    assert_int_equal(set.crl[1].n_revoked, 1);
    assert_true(has_entry(&set.crl[1], s_old));
    assert_false(has_entry(&set.crl[1], s_new));
    /* One counter per kind: distinct, increasing numbers. */
    assert_true(set.crl[1].number > set.crl[0].number);
    assert_int_equal(crl_number(set.crl[1].der, set.crl[1].der_len), set.crl[1].number);

    /* The file as a whole, checked the way a relying party does: each CRL's
     * signature by its own intermediate (a wrong one flags BADCRL_NOT_TRUSTED). */
    mbedtls_x509_crl crls;
    parse_set(&set, &crls);
    assert_true(verify_under(f, old_leaf, previous, &crls) & MBEDTLS_X509_BADCERT_REVOKED);
    assert_true(verify_under(f, new_leaf, active, &crls) & MBEDTLS_X509_BADCERT_REVOKED);
    assert_int_equal(verify_under(f, keep, previous, &crls), 0);
    mbedtls_x509_crl_free(&crls);

    /* --issuer: just the previous intermediate's. */
    struct minica_crl_set one;
    make_crls(f->ca, 0, previous, &one);
    assert_int_equal(one.n, 1);
    assert_string_equal(one.crl[0].issuer_serial, previous);
    assert_true(has_entry(&one.crl[0], s_old));
    minica_crl_set_free(&one);

    minica_crl_set_free(&set);
    free(prev_pem);
    free(active_pem);
    free(old_leaf);
    free(keep);
    free(new_leaf);
}

static void test_crls_skip_an_intermediate_without_unexpired_leaves(void **state)
{
    struct tu_ca *f = *state;
    char s[41], previous[MINICA_SERIAL_HEX_MAX];
    free(issue(f->ca, "short.example.svc", 3600, s));
    rotate(f, previous);
    struct minica_crl_set set;
    make_crls(f->ca, 0, NULL, &set);
    assert_int_equal(set.n, 2);
    minica_crl_set_free(&set);
    /* Once its last leaf has expired, the previous intermediate needs none. */
    char later[32];
    snprintf(later, sizeof(later), "%lld", (long long)minica_now() + 2 * 3600);
    setenv("MINICA_FAKE_NOW", later, 1);
    make_crls(f->ca, 0, NULL, &set);
    assert_int_equal(set.n, 1);
    assert_true(set.crl[0].issuer_active);
    minica_crl_set_free(&set);
    /* Asked for by serial, it still gets one. */
    make_crls(f->ca, 0, previous, &set);
    assert_int_equal(set.n, 1);
    assert_string_equal(set.crl[0].issuer_serial, previous);
    minica_crl_set_free(&set);
}

static void test_crl_root_lists_a_revoked_intermediate(void **state)
{
    struct tu_ca *f = *state;
    char s[41], previous[MINICA_SERIAL_HEX_MAX];
    char *leaf = issue(f->ca, "old.example.svc", 0, s);
    rotate(f, previous);
    struct minica_err err;
    minica_ca_close(f->ca);
    f->ca = NULL;
    assert_int_equal(
        minica_ca_revoke_intermediate(f->dir, previous, MINICA_REASON_KEY_COMPROMISE, &err), 0);
    reopen(f);

    struct minica_crl_set roots;
    make_crls(f->ca, MINICA_CRL_ROOTS, NULL, &roots);
    assert_int_equal(roots.n, 1);
    assert_int_equal(roots.crl[0].issuer_role, MINICA_CA_ROOT);
    assert_string_equal(roots.crl[0].issuer_serial, minica_ca_active_root(f->ca)->serial);
    assert_int_equal(roots.crl[0].n_revoked, 1);
    assert_true(has_entry(&roots.crl[0], previous));
    assert_false(has_entry(&roots.crl[0], minica_ca_active_intermediate(f->ca)->serial));
    assert_issued_by(&roots.crl[0], minica_ca_roots_pem(f->ca));

    /* The revoked intermediate keeps its own CRL while it has leaves, so
     * that a verifier checking every level gets as far as the revocation. */
    struct minica_crl_set all;
    make_crls(f->ca, MINICA_CRL_ALL, NULL, &all);
    assert_int_equal(all.n, 3);
    assert_true(all.crl[0].issuer_active);
    assert_string_equal(all.crl[1].issuer_serial, previous);
    assert_int_equal(all.crl[2].issuer_role, MINICA_CA_ROOT);

    /* Its leaves: the intermediate itself is revoked by the root's CRL. */
    mbedtls_x509_crl crls;
    parse_set(&all, &crls);
    assert_true(verify_under(f, leaf, previous, &crls) & MBEDTLS_X509_BADCERT_REVOKED);
    mbedtls_x509_crl_free(&crls);
    minica_crl_set_free(&all);

    /* Its key deleted after the compromise: no CRL, and nothing to warn of. */
    char key[4400];
    const char *file = ca_cert(f->ca, previous)->file;
    snprintf(key, sizeof(key), "%s/%.*s.key", f->dir, (int)(strlen(file) - 4), file);
    assert_int_equal(remove(key), 0);
    reopen(f);
    make_crls(f->ca, MINICA_CRL_ALL, NULL, &all);
    assert_int_equal(all.n, 2);
    assert_int_equal(all.plan.n_warnings, 0);
    assert_true(all.crl[0].issuer_active);
    assert_int_equal(all.crl[1].issuer_role, MINICA_CA_ROOT);
    minica_crl_set_free(&all);
    minica_crl_set_free(&roots);
    free(leaf);
}

static void remove_key_of(struct tu_ca *f, const char *serial, int active)
{
    char path[4400];
    const char *file = ca_cert(f->ca, serial)->file;
    if (strchr(file, '/') != NULL) {
        snprintf(path, sizeof(path), "%s/%.*s.key", f->dir, (int)(strlen(file) - 4), file);
        remove(path);
    }
    if (active) {
        snprintf(path, sizeof(path), "%s/root.key", f->dir);
        remove(path);
    }
}

static void test_crls_every_root_with_its_key_active_first(void **state)
{
    struct tu_ca *f = *state;
    char old_root[MINICA_SERIAL_HEX_MAX];
    snprintf(old_root, sizeof(old_root), "%s", minica_ca_active_root(f->ca)->serial);
    struct minica_rollover_options opts;
    struct minica_rollover_result res;
    struct minica_err err;
    memset(&opts, 0, sizeof(opts));
    minica_ca_close(f->ca);
    f->ca = NULL;
    if (minica_ca_rollover(f->dir, &opts, &res, &err) != 0)
        fail_msg("rollover: %s", err.msg);
    reopen(f);

    struct minica_crl_set set;
    make_crls(f->ca, MINICA_CRL_ROOTS, NULL, &set);
    assert_int_equal(set.n, 2);
    assert_string_equal(set.crl[0].issuer_serial, res.root_serial);
    assert_true(set.crl[0].issuer_active);
    assert_string_equal(set.crl[1].issuer_serial, old_root);
    assert_true(set.crl[1].number > set.crl[0].number);
    minica_crl_set_free(&set);

    /* The old root's key taken offline: its CRL is skipped, with a warning. */
    remove_key_of(f, old_root, 0);
    reopen(f);
    make_crls(f->ca, MINICA_CRL_ROOTS, NULL, &set);
    assert_int_equal(set.n, 1);
    assert_string_equal(set.crl[0].issuer_serial, res.root_serial);
    assert_int_equal(set.plan.n_warnings, 1);
    assert_non_null(strstr(set.plan.warning[0], old_root));
    minica_crl_set_free(&set);

    /* No root key at all: no root CRL can be made here, and that is an error. */
    remove_key_of(f, res.root_serial, 1);
    reopen(f);
    struct minica_crl_options only_roots = {.scope = MINICA_CRL_ROOTS};
    assert_int_equal(minica_ca_crls(f->ca, &only_roots, &set, &err), MINICA_ENOENT);
    assert_non_null(strstr(err.msg, "root"));
    struct minica_crl_options all = {.scope = MINICA_CRL_ALL};
    assert_int_equal(minica_ca_crls(f->ca, &all, &set, &err), MINICA_ENOENT);
    /* The intermediates' CRLs are still made. */
    make_crls(f->ca, 0, NULL, &set);
    assert_int_equal(set.n, 1);
    minica_crl_set_free(&set);
}

static void test_crls_issuer_refuses_what_gets_none(void **state)
{
    struct tu_ca *f = *state;
    struct minica_crl_set set;
    struct minica_err err;
    struct minica_crl_options opts = {.issuer_serial = "0123abcd"};
    assert_int_equal(minica_ca_crls(f->ca, &opts, &set, &err), MINICA_ENOENT);
    assert_non_null(strstr(err.msg, "0123abcd"));
    opts.issuer_serial = "not-hex";
    assert_int_equal(minica_ca_crls(f->ca, &opts, &set, &err), MINICA_EINVAL);
    /* Any serial form: upper case with colons finds the root. */
    char typed[128] = "";
    const char *serial = minica_ca_active_root(f->ca)->serial;
    for (size_t i = 0; serial[i]; i += 2)
        snprintf(typed + strlen(typed), sizeof(typed) - strlen(typed), "%s%c%c", i ? ":" : "",
                 serial[i] - (serial[i] >= 'a' ? 32 : 0),
                 serial[i + 1] - (serial[i + 1] >= 'a' ? 32 : 0));
    opts.issuer_serial = typed;
    assert_int_equal(minica_ca_crls(f->ca, &opts, &set, &err), 0);
    assert_int_equal(set.n, 1);
    assert_int_equal(set.crl[0].issuer_role, MINICA_CA_ROOT);
    minica_crl_set_free(&set);
}

static void test_crl_set_writes_der_only_for_one(void **state)
{
    struct tu_ca *f = *state;
    struct minica_crl_set set;
    struct minica_err err;
    char path[4200];
    snprintf(path, sizeof(path), "%s/all.crl", f->dir);
    make_crls(f->ca, MINICA_CRL_ALL, NULL, &set);
    assert_int_equal(set.n, 2);
    assert_int_not_equal(minica_crl_set_write(&set, path, 1, &err), 0);
    assert_int_equal(minica_crl_set_write(&set, path, 0, &err), 0);
    char *buf = tu_slurp(path);
    assert_string_equal(buf, set.pem);
    assert_string_equal(buf + strlen(set.crl[0].pem), set.crl[1].pem);
    free(buf);
    minica_crl_set_free(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crl_lists_revoked_with_reasons, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crl_every_reason_round_trips, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crl_numbers_increase, tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crls_published_are_shared_until_stale_or_revoked,
                                        tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crl_next_update_defaults_to_7d, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crl_issuer_and_aki_match_the_intermediate, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crl_root_is_signed_by_root_and_empty, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crl_leaves_out_expired_certificates, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crl_without_revocations_has_no_list, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crl_write_is_pem_or_der, tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crls_one_per_intermediate_after_rotation, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crls_skip_an_intermediate_without_unexpired_leaves,
                                        tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crl_root_lists_a_revoked_intermediate, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crls_every_root_with_its_key_active_first, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crls_issuer_refuses_what_gets_none, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_crl_set_writes_der_only_for_one, tu_ca_setup,
                                        tu_ca_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
