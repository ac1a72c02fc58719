/* Unit tests for nameConstraints (constraints.c): the encoder against
 * hand-checked bytes, the decoder as its inverse, RFC 5280 matching, and what
 * minica_ca_init writes into the intermediate: exact extension bytes,
 * criticality, an unconstrained root, a CA minica can still load (mbedTLS
 * cannot parse the extension itself), minica.conf with the same lists, and
 * issuance that obeys the certificate even where minica.conf says more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/x509_crt.h>

#include "ca/x509.h"
#include "minica/ca.h"
#include "minica/constraints.h"
#include "minica/issue.h"
#include "minica/fsutil.h"
#include "minica/policy.h"
#include "testutil.h"

/* nameConstraints for internal.svc, 10.0.0.0/8 and fd00::/8, by hand:
 *   06 03 55 1d 1e          extnID id-ce-nameConstraints
 *   01 01 ff                critical TRUE
 *   04 44                   extnValue OCTET STRING (68)
 *     30 42                 NameConstraints SEQUENCE (66)
 *       a0 40               permittedSubtrees [0] (64)
 *         30 0e 82 0c "internal.svc"                 dNSName
 *         30 0a 87 08 0a000000 ff000000              iPAddress + mask
 *         30 22 87 20 fd00::(16) ff00::(16)          iPAddress + mask */
static const unsigned char expected_ext[] = {
    0x06, 0x03, 0x55, 0x1d, 0x1e, 0x01, 0x01, 0xff, 0x04, 0x44, 0x30, 0x42, 0xa0, 0x40, 0x30, 0x0e,
    0x82, 0x0c, 'i',  'n',  't',  'e',  'r',  'n',  'a',  'l',  '.',  's',  'v',  'c',  0x30, 0x0a,
    0x87, 0x08, 0x0a, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x30, 0x22, 0x87, 0x20, 0xfd, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static char *make_ca(char **base, const char *const *dns, size_t n_dns, const char *const *ips,
                     size_t n_ips)
{
    *base = tu_tempdir();
    char *dir = malloc(4200);
    assert_non_null(dir);
    snprintf(dir, 4200, "%s/ca", *base);
    struct minica_init_options opts;
    struct minica_err err;
    memset(&opts, 0, sizeof(opts));
    opts.permit_dns = dns;
    opts.n_permit_dns = n_dns;
    opts.permit_ip = ips;
    opts.n_permit_ip = n_ips;
    if (minica_ca_init(dir, &opts, &err) != 0)
        fail_msg("init: %s", err.msg);
    return dir;
}

static void load_cert(const char *dir, const char *base, mbedtls_x509_crt *crt)
{
    char path[4300];
    char *pem = NULL;
    struct minica_err err;
    snprintf(path, sizeof(path), "%s/%s", dir, base);
    assert_int_equal(minica_read_file(path, 65536, &pem, NULL, &err), 0);
    mbedtls_x509_crt_init(crt);
    /* Before minica's callback, mbedTLS refused the critical extension outright. */
    if (minica_crt_parse_pem(crt, pem, &err) != 0)
        fail_msg("%s: %s", base, err.msg);
    free(pem);
}

static const unsigned char *find(const unsigned char *hay, size_t hlen, const unsigned char *needle,
                                 size_t nlen)
{
    for (size_t i = 0; i + nlen <= hlen; i++)
        if (memcmp(hay + i, needle, nlen) == 0)
            return hay + i;
    return NULL;
}

static const unsigned char nc_oid[] = {0x06, 0x03, 0x55, 0x1d, 0x1e};

static void test_nc_intermediate_has_exact_critical_extension(void **state)
{
    (void)state;
    const char *dns[] = {"internal.svc"};
    const char *ips[] = {"10.0.0.0/8", "fd00::/8"};
    char *base;
    char *dir = make_ca(&base, dns, 1, ips, 2);
    mbedtls_x509_crt inter, root;
    load_cert(dir, "intermediate.crt", &inter);
    load_cert(dir, "root.crt", &root);
    const unsigned char *ext = find(inter.raw.p, inter.raw.len, nc_oid, sizeof(nc_oid));
    assert_non_null(ext);
    assert_true((size_t)(inter.raw.p + inter.raw.len - ext) >= sizeof(expected_ext));
    assert_memory_equal(ext, expected_ext, sizeof(expected_ext));
    /* The root is a trust anchor; constraints belong on the intermediate only. */
    assert_null(find(root.raw.p, root.raw.len, nc_oid, sizeof(nc_oid)));
    mbedtls_x509_crt_free(&inter);
    mbedtls_x509_crt_free(&root);
    tu_rmtree(base);
    free(base);
    free(dir);
}

static void test_nc_constrained_ca_opens_with_same_policy(void **state)
{
    (void)state;
    const char *dns[] = {".internal.svc", "corp.example"};
    const char *ips[] = {"10.0.0.0/8"};
    char *base;
    char *dir = make_ca(&base, dns, 2, ips, 1);
    struct minica_ca *ca = NULL;
    struct minica_err err;
    if (minica_ca_open(dir, &ca, &err) != 0)
        fail_msg("open: %s", err.msg);
    const struct minica_policy *p = minica_ca_policy(ca);
    assert_int_equal(p->n_permit_dns, 2);
    assert_string_equal(p->permit_dns[0], "internal.svc");
    assert_string_equal(p->permit_dns[1], "corp.example");
    assert_int_equal(p->n_permit_ip, 1);
    assert_string_equal(p->permit_ip[0].text, "10.0.0.0/8");
    minica_ca_close(ca);
    tu_rmtree(base);
    free(base);
    free(dir);
}

static void test_nc_absent_without_permits(void **state)
{
    (void)state;
    char *base;
    char *dir = make_ca(&base, NULL, 0, NULL, 0);
    mbedtls_x509_crt inter;
    load_cert(dir, "intermediate.crt", &inter);
    assert_null(find(inter.raw.p, inter.raw.len, nc_oid, sizeof(nc_oid)));
    mbedtls_x509_crt_free(&inter);
    tu_rmtree(base);
    free(base);
    free(dir);
}

static int issue_name(struct minica_ca *ca, const char *name, struct minica_err *err)
{
    struct minica_issue_request req = {.name = name, .ttl = 86400};
    struct minica_issued out;
    int ret = minica_ca_issue(ca, &req, &out, err);
    if (ret == 0)
        minica_issued_free(&out);
    return ret;
}

/* A DNS-only CA excludes every address: a stolen intermediate key must not
 * mint certificates that verify for any IP (it used to leave them open). */
static void test_nc_only_dns_excludes_every_ip(void **state)
{
    (void)state;
    const char *dns[] = {"internal.svc"};
    char *base;
    char *dir = make_ca(&base, dns, 1, NULL, 0);
    mbedtls_x509_crt inter;
    load_cert(dir, "intermediate.crt", &inter);
    /* 04 46 30 44
     *   a0 10 30 0e 82 0c "internal.svc"
     *   a1 30 30 0a 87 08 00000000 00000000           0.0.0.0/0
     *         30 22 87 20 (16 x 00) (16 x 00)         ::/0 */
    static const unsigned char want[] = {
        0x06, 0x03, 0x55, 0x1d, 0x1e, 0x01, 0x01, 0xff, 0x04, 0x46, 0x30, 0x44, 0xa0, 0x10,
        0x30, 0x0e, 0x82, 0x0c, 'i',  'n',  't',  'e',  'r',  'n',  'a',  'l',  '.',  's',
        'v',  'c',  0xa1, 0x30, 0x30, 0x0a, 0x87, 0x08, 0,    0,    0,    0,    0,    0,
        0,    0,    0x30, 0x22, 0x87, 0x20, 0,    0,    0,    0,    0,    0,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0};
    assert_non_null(find(inter.raw.p, inter.raw.len, want, sizeof(want)));
    mbedtls_x509_crt_free(&inter);
    tu_rmtree(base);
    free(base);
    free(dir);
}

/* An IP-only CA excludes every DNS name with the zero-length dNSName, the
 * one encoding all five verifiers honour (test_constraint_verifiers.sh). */
static void test_nc_only_ip_excludes_every_dns_name(void **state)
{
    (void)state;
    const char *ips[] = {"10.0.0.0/8"};
    char *base;
    char *dir = make_ca(&base, NULL, 0, ips, 1);
    mbedtls_x509_crt inter;
    load_cert(dir, "intermediate.crt", &inter);
    /* 04 16 30 14 a0 0c 30 0a 87 08 0a000000 ff000000   a1 04 30 02 82 00 */
    static const unsigned char want[] = {0x06, 0x03, 0x55, 0x1d, 0x1e, 0x01, 0x01, 0xff,
                                         0x04, 0x16, 0x30, 0x14, 0xa0, 0x0c, 0x30, 0x0a,
                                         0x87, 0x08, 0x0a, 0x00, 0x00, 0x00, 0xff, 0x00,
                                         0x00, 0x00, 0xa1, 0x04, 0x30, 0x02, 0x82, 0x00};
    assert_non_null(find(inter.raw.p, inter.raw.len, want, sizeof(want)));
    mbedtls_x509_crt_free(&inter);
    struct minica_ca *ca = NULL;
    struct minica_err err;
    if (minica_ca_open(dir, &ca, &err) != 0)
        fail_msg("open: %s", err.msg);
    assert_int_equal(issue_name(ca, "10.1.2.3", &err), 0);
    assert_int_equal(issue_name(ca, "a.example", &err), MINICA_EPOLICY);
    assert_non_null(strstr(err.msg, "excludes every DNS name"));
    minica_ca_close(ca);
    tu_rmtree(base);
    free(base);
    free(dir);
}

static void cidr(const char *text, struct minica_cidr *out)
{
    struct minica_err err;
    assert_int_equal(minica_cidr_parse(text, out, &err), 0);
}

/* NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees }
 *   30 42 a0 40
 *       30 0e 82 0c "internal.svc"            GeneralSubtree { dNSName }
 *       30 0a 87 08 0a 00 00 00 ff 00 00 00   { iPAddress 10.0.0.0 mask 255.0.0.0 }
 *       30 22 87 20 fd 00 ..(14x00).. ff 00 ..(14x00)..   { fd00::/8 }
 * The subtrees take 16 + 12 + 36 = 64 = 0x40 bytes: a0 40, and the SEQUENCE 30 42. */
static void test_encode_matches_known_bytes(void **state)
{
    (void)state;
    static const unsigned char want[] = {
        0x30, 0x42, 0xa0, 0x40, 0x30, 0x0e, 0x82, 0x0c, 'i',  'n',  't',  'e',  'r',  'n',
        'a',  'l',  '.',  's',  'v',  'c',  0x30, 0x0a, 0x87, 0x08, 0x0a, 0x00, 0x00, 0x00,
        0xff, 0x00, 0x00, 0x00, 0x30, 0x22, 0x87, 0x20, 0xfd, 0,    0,    0,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0xff, 0,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0};
    static struct minica_name_constraints nc;
    memset(&nc, 0, sizeof(nc));
    snprintf(nc.permit_dns.name[0], sizeof(nc.permit_dns.name[0]), "internal.svc");
    nc.permit_dns.n = 1;
    cidr("10.0.0.0/8", &nc.permit_ip.cidr[0]);
    cidr("fd00::/8", &nc.permit_ip.cidr[1]);
    nc.permit_ip.n = 2;
    unsigned char buf[512], *der;
    size_t len;
    struct minica_err err;
    assert_int_equal(minica_constraints_encode(&nc, buf, sizeof(buf), &der, &len, &err), 0);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(der, want, sizeof(want));

    /* A prefix that is not byte aligned: 10.0.2.0/23 -> mask ff ff fe 00. */
    static const unsigned char partial[] = {0x30, 0x0e, 0xa0, 0x0c, 0x30, 0x0a, 0x87, 0x08,
                                            0x0a, 0x00, 0x02, 0x00, 0xff, 0xff, 0xfe, 0x00};
    memset(&nc, 0, sizeof(nc));
    cidr("10.0.2.0/23", &nc.permit_ip.cidr[0]);
    nc.permit_ip.n = 1;
    assert_int_equal(minica_constraints_encode(&nc, buf, sizeof(buf), &der, &len, &err), 0);
    assert_int_equal(len, sizeof(partial));
    assert_memory_equal(der, partial, sizeof(partial));
    memset(&nc, 0, sizeof(nc));
    assert_int_equal(minica_constraints_encode(&nc, buf, sizeof(buf), &der, &len, &err),
                     MINICA_EINVAL);
}

static void test_decode_is_the_inverse_and_refuses_malformed(void **state)
{
    (void)state;
    static struct minica_name_constraints nc, back;
    const char *dns[] = {"internal.svc", ".corp.example"};
    const char *ips[] = {"10.0.2.0/23", "fd00::/8"};
    struct minica_err err;
    assert_int_equal(minica_constraints_for_init(dns, 2, ips, 2, &nc, &err), 0);
    snprintf(nc.exclude_dns.name[0], sizeof(nc.exclude_dns.name[0]), "secret.internal.svc");
    nc.exclude_dns.n = 1;
    cidr("10.0.3.0/24", &nc.exclude_ip.cidr[0]);
    nc.exclude_ip.n = 1;
    unsigned char buf[1024], *der;
    size_t len;
    assert_int_equal(minica_constraints_encode(&nc, buf, sizeof(buf), &der, &len, &err), 0);
    assert_int_equal(minica_constraints_decode(der, len, &back, &err), 0);
    assert_int_equal(back.permit_dns.n, 2);
    assert_string_equal(back.permit_dns.name[1], "corp.example");
    assert_int_equal(back.permit_ip.n, 2);
    assert_string_equal(back.permit_ip.cidr[0].text, "10.0.2.0/23");
    assert_string_equal(back.permit_ip.cidr[1].text, "fd00::/8");
    assert_int_equal(back.exclude_dns.n, 1);
    assert_string_equal(back.exclude_dns.name[0], "secret.internal.svc");
    assert_int_equal(back.exclude_ip.n, 1);
    assert_string_equal(back.exclude_ip.cidr[0].text, "10.0.3.0/24");
    assert_int_equal(back.n_other, 0);

    /* Truncated, trailing bytes, a mask that is no prefix, minimum present. */
    assert_int_not_equal(minica_constraints_decode(der, len - 1, &back, &err), 0);
    unsigned char longer[1100];
    memcpy(longer, der, len);
    longer[len] = 0;
    assert_int_not_equal(minica_constraints_decode(longer, len + 1, &back, &err), 0);
    static const unsigned char holey[] = {0x30, 0x0e, 0xa0, 0x0c, 0x30, 0x0a, 0x87, 0x08,
                                          0x0a, 0x00, 0x00, 0x00, 0xff, 0x00, 0xff, 0x00};
    assert_int_not_equal(minica_constraints_decode(holey, sizeof(holey), &back, &err), 0);
    static const unsigned char minimum[] = {0x30, 0x0b, 0xa0, 0x09, 0x30, 0x07, 0x82,
                                            0x01, 'x',  0x80, 0x01, 0x00, 0x00};
    assert_int_not_equal(minica_constraints_decode(minimum, sizeof(minimum) - 1, &back, &err), 0);
}

static int check(const struct minica_name_constraints *nc, const char *text)
{
    struct minica_name name;
    struct minica_err err;
    assert_int_equal(minica_name_parse(text, &name, &err), 0);
    return minica_constraints_check(nc, &name, &err);
}

static void test_check_follows_rfc5280(void **state)
{
    (void)state;
    static struct minica_name_constraints nc;
    const char *dns[] = {"internal.svc"};
    const char *ips[] = {"10.0.0.0/8"};
    struct minica_err err;
    assert_int_equal(minica_constraints_for_init(dns, 1, ips, 1, &nc, &err), 0);
    assert_int_equal(check(&nc, "internal.svc"), 0);
    assert_int_equal(check(&nc, "a.b.internal.svc"), 0);
    assert_int_equal(check(&nc, "*.internal.svc"), 0);
    assert_int_equal(check(&nc, "xinternal.svc"), MINICA_EPOLICY);
    assert_int_equal(check(&nc, "www.example.com"), MINICA_EPOLICY);
    assert_int_equal(check(&nc, "10.255.0.1"), 0);
    assert_int_equal(check(&nc, "11.0.0.1"), MINICA_EPOLICY);
    assert_int_equal(check(&nc, "fd00::1"), MINICA_EPOLICY);

    /* Exclusions win, and a wildcard over an excluded subtree is refused. */
    snprintf(nc.exclude_dns.name[0], sizeof(nc.exclude_dns.name[0]), "secret.internal.svc");
    nc.exclude_dns.n = 1;
    assert_int_equal(check(&nc, "x.secret.internal.svc"), MINICA_EPOLICY);
    assert_int_equal(check(&nc, "*.internal.svc"), MINICA_EPOLICY);
    assert_int_equal(check(&nc, "public.internal.svc"), 0);

    /* ".x" is below x only; "" is every name. */
    memset(&nc, 0, sizeof(nc));
    snprintf(nc.permit_dns.name[0], sizeof(nc.permit_dns.name[0]), ".internal.svc");
    nc.permit_dns.n = 1;
    assert_int_equal(check(&nc, "internal.svc"), MINICA_EPOLICY);
    assert_int_equal(check(&nc, "a.internal.svc"), 0);
    nc.exclude_dns.n = 1; /* "" */
    assert_int_equal(check(&nc, "a.internal.svc"), MINICA_EPOLICY);

    /* No constraints: anything. */
    memset(&nc, 0, sizeof(nc));
    assert_int_equal(check(&nc, "anything.example"), 0);
    assert_int_equal(check(&nc, "192.168.7.7"), 0);
}

/* The README says editing minica.conf "cannot widen" the constraints: the
 * intermediate's own extension is checked at issuance too. */
static void test_issue_obeys_the_intermediate_not_just_minica_conf(void **state)
{
    (void)state;
    const char *dns[] = {"internal.svc"};
    char *base;
    char *dir = make_ca(&base, dns, 1, NULL, 0);
    tu_write_policy(dir, "[policy]\npermit_dns = internal.svc, example.com\n"
                         "permit_ip = 192.168.0.0/16\n");
    struct minica_ca *ca = NULL;
    struct minica_err err;
    if (minica_ca_open(dir, &ca, &err) != 0)
        fail_msg("open: %s", err.msg);
    assert_int_equal(issue_name(ca, "ok.internal.svc", &err), 0);
    assert_int_equal(issue_name(ca, "www.example.com", &err), MINICA_EPOLICY);
    assert_non_null(strstr(err.msg, "intermediate certificate's name constraints"));
    assert_non_null(strstr(err.msg, "permitted DNS: internal.svc"));
    assert_int_equal(issue_name(ca, "192.168.7.7", &err), MINICA_EPOLICY);
    assert_non_null(strstr(err.msg, "excludes every IPv4 address"));
    minica_ca_close(ca);
    tu_rmtree(base);
    free(base);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nc_intermediate_has_exact_critical_extension),
        cmocka_unit_test(test_nc_constrained_ca_opens_with_same_policy),
        cmocka_unit_test(test_nc_absent_without_permits),
        cmocka_unit_test(test_nc_only_dns_excludes_every_ip),
        cmocka_unit_test(test_nc_only_ip_excludes_every_dns_name),
        cmocka_unit_test(test_encode_matches_known_bytes),
        cmocka_unit_test(test_decode_is_the_inverse_and_refuses_malformed),
        cmocka_unit_test(test_check_follows_rfc5280),
        cmocka_unit_test(test_issue_obeys_the_intermediate_not_just_minica_conf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
