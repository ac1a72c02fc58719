/* Unit tests for the nameConstraints minica_ca_init writes into the
 * intermediate: the exact extension bytes for a known input, criticality,
 * that the root stays unconstrained, that minica can still load such a CA
 * (mbedTLS cannot parse the extension itself), and that minica.conf gets the
 * same lists. The encoder alone is covered in test_der. */
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

static void test_nc_only_dns_has_no_ip_subtree(void **state)
{
    (void)state;
    const char *dns[] = {"internal.svc"};
    char *base;
    char *dir = make_ca(&base, dns, 1, NULL, 0);
    mbedtls_x509_crt inter;
    load_cert(dir, "intermediate.crt", &inter);
    /* 04 14 30 12 a0 10 30 0e 82 0c "internal.svc" */
    static const unsigned char want[] = {0x06, 0x03, 0x55, 0x1d, 0x1e, 0x01, 0x01, 0xff, 0x04, 0x14,
                                         0x30, 0x12, 0xa0, 0x10, 0x30, 0x0e, 0x82, 0x0c, 'i',  'n',
                                         't',  'e',  'r',  'n',  'a',  'l',  '.',  's',  'v',  'c'};
    assert_non_null(find(inter.raw.p, inter.raw.len, want, sizeof(want)));
    mbedtls_x509_crt_free(&inter);
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
        cmocka_unit_test(test_nc_only_dns_has_no_ip_subtree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
