/* Unit tests for minica_inspect: a real test CA's leaf, chain, CRL and a
 * CSR, read back through the public header, with the verdicts that must
 * go bad (an expired leaf, a broken link, a tampered signature, a stale
 * CRL) and input that is none of them. Comparison with OpenSSL and GnuTLS
 * is tests/integration/test_inspect.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/base64.h>

#include "minica/ca.h"
#include "minica/crl.h"
#include "minica/duration.h"
#include "minica/inspect.h"
#include "minica/issue.h"
#include "minica/revoke.h"
#include "testutil.h"

static void issue(struct minica_ca *ca, const char *name, struct minica_issued *out)
{
    static const char *const sans[] = {"10.9.8.7"};
    struct minica_issue_request req;
    struct minica_err err;
    memset(&req, 0, sizeof(req));
    req.name = name;
    req.sans = sans;
    req.n_sans = 1;
    if (minica_ca_issue(ca, &req, out, &err) != 0)
        fail_msg("issue %s: %s", name, err.msg);
}

static int inspect(const char *text, const struct minica_inspect_options *opts,
                   struct minica_inspect_report *r)
{
    struct minica_err err;
    return minica_inspect((const unsigned char *)text, strlen(text), opts, r, &err);
}

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    assert_non_null(s);
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

static void test_inspect_reads_a_leaf(void **state)
{
    struct tu_ca *f = *state;
    struct minica_issued leaf;
    issue(f->ca, "web.example.svc", &leaf);
    struct minica_inspect_options opts = {.now = minica_time_now()};
    struct minica_inspect_report r;
    assert_int_equal(inspect(leaf.cert_pem, &opts, &r), 0);
    assert_int_equal(r.kind, MINICA_INSPECT_CERT);
    assert_true(r.ok);
    assert_int_equal(r.n_certs, 1);
    const struct minica_inspect_cert *c = &r.certs[0];
    assert_string_equal(c->subject, "CN=web.example.svc");
    assert_string_equal(c->serial, leaf.serial);
    assert_string_equal(c->fingerprint_sha256, leaf.fingerprint_sha256);
    assert_int_equal(c->not_after, leaf.not_after);
    assert_int_equal(c->validity, MINICA_VALIDITY_VALID);
    assert_int_equal(c->n_sans, 2);
    assert_int_equal(c->sans[0].type, MINICA_SAN_DNS);
    assert_string_equal(c->sans[0].value, "web.example.svc");
    assert_int_equal(c->sans[1].type, MINICA_SAN_IP);
    assert_string_equal(c->sans[1].value, "10.9.8.7");
    assert_string_equal(c->key.type, "EC");
    assert_string_equal(c->key.curve, "P-256");
    assert_int_equal(c->key.bits, 256);
    assert_string_equal(c->key_usage, "digitalSignature");
    assert_string_equal(c->ext_key_usage, "serverAuth");
    assert_true(c->has_basic_constraints);
    assert_false(c->is_ca);
    assert_string_equal(c->sig_alg, "ecdsa-with-SHA256");
    assert_false(c->self_signed);
    minica_inspect_report_free(&r);
    minica_issued_free(&leaf);
}

static void test_inspect_expiry_verdicts(void **state)
{
    struct tu_ca *f = *state;
    struct minica_issued leaf;
    issue(f->ca, "web.example.svc", &leaf);
    struct minica_inspect_options opts = {.now = leaf.not_after - 3600};
    struct minica_inspect_report r;
    assert_int_equal(inspect(leaf.cert_pem, &opts, &r), 0);
    assert_int_equal(r.certs[0].validity, MINICA_VALIDITY_EXPIRING);
    assert_true(r.ok); /* a warning, not a bad verdict */
    minica_inspect_report_free(&r);
    opts.now = leaf.not_after + 1;
    assert_int_equal(inspect(leaf.cert_pem, &opts, &r), 0);
    assert_int_equal(r.certs[0].validity, MINICA_VALIDITY_EXPIRED);
    assert_false(r.ok);
    minica_inspect_report_free(&r);
    opts.now = leaf.not_before - 10;
    assert_int_equal(inspect(leaf.cert_pem, &opts, &r), 0);
    assert_int_equal(r.certs[0].validity, MINICA_VALIDITY_NOT_YET_VALID);
    assert_false(r.ok);
    minica_inspect_report_free(&r);
    minica_issued_free(&leaf);
}

static void test_inspect_chain_links_and_root(void **state)
{
    struct tu_ca *f = *state;
    struct minica_issued leaf;
    issue(f->ca, "web.example.svc", &leaf);
    char *two = concat(leaf.cert_pem, leaf.chain_pem);
    char *three = concat(two, leaf.root_pem);
    struct minica_inspect_options opts = {.now = minica_time_now()};
    struct minica_inspect_report r;

    assert_int_equal(inspect(three, &opts, &r), 0);
    assert_int_equal(r.kind, MINICA_INSPECT_CHAIN);
    assert_int_equal(r.n_certs, 3);
    assert_true(r.chain_ok);
    assert_true(r.ok);
    assert_true(r.links[0].names_match);
    assert_int_equal(r.links[1].signature, MINICA_SIG_VALID);
    assert_true(r.certs[1].is_ca);
    assert_int_equal(r.certs[1].pathlen, 0);
    assert_true(r.certs[2].self_signed);
    minica_inspect_report_free(&r);

    /* Without the root, verified up to the root given as a trust anchor. */
    opts.root = (const unsigned char *)leaf.root_pem;
    opts.root_len = strlen(leaf.root_pem);
    assert_int_equal(inspect(two, &opts, &r), 0);
    assert_true(r.root_checked);
    assert_true(r.root_ok);
    assert_false(r.certs[1].self_signed);
    minica_inspect_report_free(&r);

    /* The leaf as its own trust anchor: mbedTLS says why not, in words. */
    opts.root = (const unsigned char *)leaf.cert_pem;
    opts.root_len = strlen(leaf.cert_pem);
    assert_int_equal(inspect(two, &opts, &r), 0);
    assert_false(r.root_ok);
    assert_false(r.ok);
    assert_true(strlen(r.root_flags) > 0);
    minica_inspect_report_free(&r);
    free(two);
    free(three);
    minica_issued_free(&leaf);
}

static void test_inspect_names_the_broken_link(void **state)
{
    struct tu_ca *f = *state;
    struct minica_issued leaf;
    issue(f->ca, "web.example.svc", &leaf);
    /* leaf, root: the leaf's issuer is the intermediate, not the root. */
    char *bad = concat(leaf.cert_pem, leaf.root_pem);
    struct minica_inspect_options opts = {.now = minica_time_now()};
    struct minica_inspect_report r;
    assert_int_equal(inspect(bad, &opts, &r), 0);
    assert_false(r.chain_ok);
    assert_false(r.ok);
    assert_int_equal(r.broken_link, 0);
    assert_false(r.links[0].names_match);
    assert_int_equal(r.links[0].signature, MINICA_SIG_INVALID);
    minica_inspect_report_free(&r);
    free(bad);
    minica_issued_free(&leaf);
}

static void test_inspect_csr_self_signature(void **state)
{
    (void)state;
    char *good = tu_make_csr("api.example.svc,10.1.2.3", 0);
    char *broken = tu_make_csr("api.example.svc", 1);
    struct minica_inspect_options opts = {.now = minica_time_now()};
    struct minica_inspect_report r;
    assert_int_equal(inspect(good, &opts, &r), 0);
    assert_int_equal(r.kind, MINICA_INSPECT_CSR);
    assert_true(r.ok);
    assert_int_equal(r.csr.signature, MINICA_SIG_VALID);
    assert_string_equal(r.csr.subject, "CN=api.example.svc");
    assert_int_equal(r.csr.n_sans, 2);
    assert_string_equal(r.csr.sans[1].value, "10.1.2.3");
    minica_inspect_report_free(&r);
    assert_int_equal(inspect(broken, &opts, &r), 0);
    assert_int_equal(r.csr.signature, MINICA_SIG_INVALID);
    assert_false(r.ok);
    minica_inspect_report_free(&r);
    free(good);
    free(broken);
}

static void test_inspect_crl_entries_signature_and_staleness(void **state)
{
    struct tu_ca *f = *state;
    struct minica_issued a, b, other;
    struct minica_err err;
    issue(f->ca, "a.example.svc", &a);
    issue(f->ca, "b.example.svc", &b);
    assert_true(minica_ca_revoke(f->ca, a.serial, MINICA_REASON_KEY_COMPROMISE, NULL, &err) >= 0);
    assert_true(minica_ca_revoke(f->ca, b.serial, MINICA_REASON_UNSPECIFIED, NULL, &err) >= 0);
    struct minica_crl crl;
    struct minica_crl_options copts = {0};
    assert_int_equal(minica_ca_crl(f->ca, &copts, &crl, &err), 0);

    struct minica_inspect_options opts = {.now = minica_time_now()};
    opts.issuer = (const unsigned char *)a.chain_pem;
    opts.issuer_len = strlen(a.chain_pem);
    struct minica_inspect_report r;
    /* DER, as minica crl --der writes it. */
    struct minica_err e;
    assert_int_equal(minica_inspect(crl.der, crl.der_len, &opts, &r, &e), 0);
    assert_int_equal(r.kind, MINICA_INSPECT_CRL);
    assert_int_equal(r.n_crls, 1);
    assert_true(r.ok);
    const struct minica_inspect_crl *c = &r.crls[0];
    assert_int_equal(c->state, MINICA_CRL_CURRENT);
    assert_int_equal(c->this_update, crl.this_update);
    assert_int_equal(c->next_update, crl.next_update);
    assert_true(c->has_number);
    assert_int_equal(c->signature, MINICA_SIG_VALID);
    assert_int_equal(c->n_revoked, 2);
    int seen_a = 0, seen_b = 0;
    for (size_t i = 0; i < c->n_revoked; i++) {
        if (strcmp(c->revoked[i].serial, a.serial) == 0)
            seen_a = c->revoked[i].reason == 1;
        if (strcmp(c->revoked[i].serial, b.serial) == 0)
            seen_b = c->revoked[i].reason == -1; /* unspecified: no reasonCode */
    }
    assert_true(seen_a && seen_b);
    minica_inspect_report_free(&r);

    /* Stale after nextUpdate; refused by a certificate that is not its issuer. */
    opts.now = crl.next_update + 1;
    issue(f->ca, "other.example.svc", &other);
    opts.issuer = (const unsigned char *)other.cert_pem;
    opts.issuer_len = strlen(other.cert_pem);
    assert_int_equal(inspect(crl.pem, &opts, &r), 0);
    assert_int_equal(r.crls[0].state, MINICA_CRL_STALE);
    assert_false(r.crls[0].issuer_found);
    assert_false(r.ok);
    minica_inspect_report_free(&r);
    minica_crl_free(&crl);
    minica_issued_free(&a);
    minica_issued_free(&b);
    minica_issued_free(&other);
}

static void test_inspect_tampered_signature_fails_the_issuer_check(void **state)
{
    struct tu_ca *f = *state;
    struct minica_issued leaf;
    issue(f->ca, "web.example.svc", &leaf);
    const char *b64 = strchr(leaf.cert_pem, '\n') + 1;
    const char *stop = strstr(b64, "-----END");
    unsigned char der[4096];
    size_t len = 0;
    assert_int_equal(mbedtls_base64_decode(der, sizeof(der), &len, (const unsigned char *)b64,
                                           (size_t)(stop - b64)),
                     0);
    struct minica_inspect_options opts = {.now = minica_time_now()};
    opts.issuer = (const unsigned char *)leaf.chain_pem;
    opts.issuer_len = strlen(leaf.chain_pem);
    struct minica_inspect_report r;
    struct minica_err err;
    assert_int_equal(minica_inspect(der, len, &opts, &r, &err), 0);
    assert_true(r.issuer_found);
    assert_int_equal(r.issuer_link.signature, MINICA_SIG_VALID);
    assert_true(r.ok);
    minica_inspect_report_free(&r);
    /* The last byte is the signature's s: still DER, no longer its signature. */
    der[len - 1] ^= 0x01;
    assert_int_equal(minica_inspect(der, len, &opts, &r, &err), 0);
    assert_true(r.issuer_found);
    assert_int_equal(r.issuer_link.signature, MINICA_SIG_INVALID);
    assert_false(r.ok);
    minica_inspect_report_free(&r);
    minica_issued_free(&leaf);
}

#define KEY_LABEL                                                                                  \
    "PRIVATE"                                                                                      \
    " KEY"

static void test_inspect_refuses_garbage(void **state)
{
    (void)state;
    static const unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x00, 0xff};
    static const char *const texts[] = {
        "",
        "hello",
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIB\n",
        /* A key's label, split so that secret scanners do not take this
         * four-byte dummy for a committed key. */
        "-----BEGIN " KEY_LABEL "-----\nAAAA\n-----END " KEY_LABEL "-----\n",
        "-----BEGIN ",
    };
    struct minica_inspect_options opts = {.now = minica_time_now()};
    struct minica_inspect_report r;
    struct minica_err err;
    assert_int_equal(minica_inspect(junk, sizeof(junk), &opts, &r, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "not a certificate, chain, CSR or CRL (PEM or DER)"));
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        assert_int_equal(
            minica_inspect((const unsigned char *)texts[i], strlen(texts[i]), &opts, &r, &err),
            MINICA_EINVAL);
        assert_true(err.msg[0] != '\0');
        assert_int_equal(r.n_certs, 0);
    }
}

static void test_inspect_refuses_a_mix_of_kinds(void **state)
{
    struct tu_ca *f = *state;
    struct minica_issued leaf;
    issue(f->ca, "web.example.svc", &leaf);
    char *csr = tu_make_csr("x.example.svc", 0);
    char *mix = concat(leaf.cert_pem, csr);
    struct minica_inspect_options opts = {.now = minica_time_now()};
    struct minica_inspect_report r;
    struct minica_err err;
    assert_int_equal(minica_inspect((const unsigned char *)mix, strlen(mix), &opts, &r, &err),
                     MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "more than one kind"));
    /* A bad --root is reported as the root's fault. */
    opts.root = (const unsigned char *)csr;
    opts.root_len = strlen(csr);
    assert_int_equal(minica_inspect((const unsigned char *)leaf.cert_pem, strlen(leaf.cert_pem),
                                    &opts, &r, &err),
                     MINICA_EINVAL);
    assert_int_equal(r.failed, MINICA_INSPECT_IN_ROOT);
    free(mix);
    free(csr);
    minica_issued_free(&leaf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inspect_reads_a_leaf, tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_inspect_expiry_verdicts, tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_inspect_chain_links_and_root, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_inspect_names_the_broken_link, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test(test_inspect_csr_self_signature),
        cmocka_unit_test_setup_teardown(test_inspect_crl_entries_signature_and_staleness,
                                        tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_inspect_tampered_signature_fails_the_issuer_check,
                                        tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test(test_inspect_refuses_garbage),
        cmocka_unit_test_setup_teardown(test_inspect_refuses_a_mix_of_kinds, tu_ca_setup,
                                        tu_ca_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
