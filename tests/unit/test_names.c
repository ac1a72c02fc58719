/* Unit tests for name parsing: RFC 1123 host names, wildcards, IP addresses,
 * CIDR ranges and DNS suffix matching. Not for policy decisions (test_policy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "minica/error.h"
#include "minica/names.h"

static void parse_ok(const char *text, struct minica_name *out)
{
    struct minica_err err = {{0}};
    int ret = minica_name_parse(text, out, &err);
    if (ret != 0)
        print_error("unexpected refusal of '%s': %s\n", text, err.msg);
    assert_int_equal(ret, 0);
}

static void assert_name_refused(const char *text)
{
    struct minica_name name;
    struct minica_err err = {{0}};
    int ret = minica_name_parse(text, &name, &err);
    if (ret == 0)
        print_error("'%s' was accepted as '%s'\n", text, name.text);
    assert_int_equal(ret, MINICA_EINVAL);
    assert_true(strlen(err.msg) > 0);
    /* One line, no raw control bytes copied into the message. */
    for (const char *p = err.msg; *p; p++)
        assert_true((unsigned char)*p >= 0x20);
}

static void test_names_accepts_rfc1123_host_names(void **state)
{
    (void)state;
    struct minica_name n;
    parse_ok("upstream.internal.svc", &n);
    assert_int_equal(n.kind, MINICA_NAME_DNS);
    assert_string_equal(n.text, "upstream.internal.svc");
    assert_false(n.wildcard);
    parse_ok("localhost", &n);
    assert_string_equal(n.text, "localhost");
    parse_ok("a-b.c-d.example", &n);
    parse_ok("0day.example", &n);    /* RFC 1123: labels may start with a digit */
    parse_ok("app.10x.example", &n); /* a digit-led label that is not all digits */
    parse_ok("host.example1", &n);   /* last label with a digit, not all digits */
    parse_ok("x", &n);
}

static void test_names_canonicalizes_to_lowercase(void **state)
{
    (void)state;
    struct minica_name n;
    parse_ok("Upstream.Internal.SVC", &n);
    assert_string_equal(n.text, "upstream.internal.svc");
}

static void test_names_accepts_limits(void **state)
{
    (void)state;
    struct minica_name n;
    char label63[64];
    memset(label63, 'a', 63);
    label63[63] = '\0';
    char name[300];
    snprintf(name, sizeof(name), "%s.example", label63);
    parse_ok(name, &n);
    /* 253 characters: four 63-character labels minus one. */
    char longest[254];
    memset(longest, 'b', 253);
    longest[63] = longest[127] = longest[191] = '.';
    longest[253] = '\0';
    parse_ok(longest, &n);
    assert_int_equal(strlen(n.text), 253);
}

static void test_names_rejects_too_long(void **state)
{
    (void)state;
    char label64[65];
    memset(label64, 'a', 64);
    label64[64] = '\0';
    char name[300];
    snprintf(name, sizeof(name), "%s.example", label64);
    assert_name_refused(name);
    char longer[255];
    memset(longer, 'b', 254);
    longer[63] = longer[127] = longer[191] = '.';
    longer[254] = '\0';
    assert_name_refused(longer);
}

static void test_names_rejects_path_escapes(void **state)
{
    (void)state;
    assert_name_refused("../x");
    assert_name_refused("a/b");
    assert_name_refused("/etc/passwd");
    assert_name_refused("..");
    assert_name_refused(".");
    assert_name_refused("a..b");
    assert_name_refused("a\\b");
    assert_name_refused("");
    struct minica_name n;
    struct minica_err err;
    assert_int_equal(minica_name_parse(NULL, &n, &err), MINICA_EINVAL);
}

static void test_names_rejects_spaces_and_control_chars(void **state)
{
    (void)state;
    assert_name_refused("a b.example");
    assert_name_refused(" a.example");
    assert_name_refused("a.example ");
    assert_name_refused("a\tb.example");
    assert_name_refused("a\nb.example");
    assert_name_refused("a.example\r");
    assert_name_refused("a\x7f.example");
    assert_name_refused("caf\xc3\xa9.example"); /* not IDNA: raw UTF-8 is not a host name */
}

static void test_names_rejects_bad_labels(void **state)
{
    (void)state;
    assert_name_refused("-a.example");
    assert_name_refused("a-.example");
    assert_name_refused("a.-b.example");
    assert_name_refused("a.example-");
    assert_name_refused(".a.example");
    assert_name_refused("a.example."); /* trailing dot: not what goes in a SAN */
    assert_name_refused("a_b.example");
    assert_name_refused("a:b.example");
    assert_name_refused("a@b.example");
}

static void test_names_rejects_numeric_last_label(void **state)
{
    (void)state;
    assert_name_refused("10.0.2.888"); /* an IP typo, not a host name */
    assert_name_refused("256.1.1.1");
    assert_name_refused("1.2.3");
    assert_name_refused("host.123");
    assert_name_refused("123");
}

static void test_names_accepts_wildcards_syntactically(void **state)
{
    (void)state;
    struct minica_name n;
    parse_ok("*.internal.svc", &n);
    assert_int_equal(n.kind, MINICA_NAME_DNS);
    assert_true(n.wildcard);
    assert_string_equal(n.text, "*.internal.svc");
    parse_ok("*.A.Example", &n);
    assert_string_equal(n.text, "*.a.example");
}

static void test_names_rejects_bad_wildcards(void **state)
{
    (void)state;
    assert_name_refused("*.com"); /* a whole public suffix */
    assert_name_refused("*");
    assert_name_refused("*.");
    assert_name_refused("a.*.example"); /* only the leftmost label */
    assert_name_refused("*a.example");  /* partial-label wildcards */
    assert_name_refused("a*.example");
    assert_name_refused("*.*.example");
    assert_name_refused("**.example");
}

static void test_names_parses_ipv4(void **state)
{
    (void)state;
    struct minica_name n;
    parse_ok("10.0.2.88", &n);
    assert_int_equal(n.kind, MINICA_NAME_IP);
    assert_int_equal(n.ip_len, 4);
    const uint8_t want[4] = {10, 0, 2, 88};
    assert_memory_equal(n.ip, want, 4);
    assert_string_equal(n.text, "10.0.2.88");
    parse_ok("127.0.0.1", &n);
    assert_string_equal(n.text, "127.0.0.1");
    assert_name_refused("10.0.2.88/24");
    assert_name_refused("10.0.2");
}

static void test_names_canonicalizes_ipv6(void **state)
{
    (void)state;
    struct minica_name n;
    parse_ok("2001:DB8:0:0:0:0:0:1", &n);
    assert_int_equal(n.kind, MINICA_NAME_IP);
    assert_int_equal(n.ip_len, 16);
    assert_string_equal(n.text, "2001:db8::1");
    const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_memory_equal(n.ip, want, 16);
    parse_ok("::1", &n);
    assert_string_equal(n.text, "::1");
    parse_ok("fd00:0000:0000::0a", &n);
    assert_string_equal(n.text, "fd00::a");
    assert_name_refused("fe80::1%eth0"); /* zone ids have no place in a certificate */
    assert_name_refused("[::1]");
    assert_name_refused("2001:db8:::1");
}

static void test_cidr_parses_and_canonicalizes(void **state)
{
    (void)state;
    struct minica_cidr c;
    struct minica_err err;
    assert_int_equal(minica_cidr_parse("10.0.0.0/8", &c, &err), 0);
    assert_int_equal(c.addr_len, 4);
    assert_int_equal(c.prefix, 8);
    assert_string_equal(c.text, "10.0.0.0/8");
    assert_int_equal(minica_cidr_parse("10.0.2.88", &c, &err), 0); /* a host: /32 */
    assert_int_equal(c.prefix, 32);
    assert_string_equal(c.text, "10.0.2.88/32");
    assert_int_equal(minica_cidr_parse("0.0.0.0/0", &c, &err), 0);
    assert_int_equal(c.prefix, 0);
    assert_int_equal(minica_cidr_parse("FD00:0::/8", &c, &err), 0);
    assert_int_equal(c.addr_len, 16);
    assert_string_equal(c.text, "fd00::/8");
    assert_int_equal(minica_cidr_parse("::1/128", &c, &err), 0);
    assert_int_equal(c.prefix, 128);
}

static void test_cidr_rejects_bad_input(void **state)
{
    (void)state;
    struct minica_cidr c;
    struct minica_err err;
    const char *bad[] = {"10.0.0.1/8", /* host bits set */
                         "10.0.0.0/33",
                         "::/129",
                         "10.0.0.0/",
                         "10.0.0.0/-1",
                         "10.0.0.0/8x",
                         "10.0.0.0/ 8",
                         "abc/8",
                         "",
                         "10.0.0.0/8/8",
                         "example.com/8",
                         "10.0.0.0/99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int ret = minica_cidr_parse(bad[i], &c, &err);
        if (ret == 0)
            print_error("CIDR '%s' was accepted as %s\n", bad[i], c.text);
        assert_int_equal(ret, MINICA_EINVAL);
    }
    assert_int_equal(minica_cidr_parse(NULL, &c, &err), MINICA_EINVAL);
}

static int contains(const char *cidr, const char *ip)
{
    struct minica_cidr c;
    struct minica_name n;
    struct minica_err err;
    assert_int_equal(minica_cidr_parse(cidr, &c, &err), 0);
    assert_int_equal(minica_name_parse(ip, &n, &err), 0);
    assert_int_equal(n.kind, MINICA_NAME_IP);
    return minica_cidr_contains(&c, n.ip, n.ip_len);
}

static void test_cidr_contains_edges(void **state)
{
    (void)state;
    assert_true(contains("10.0.0.0/8", "10.0.0.0"));
    assert_true(contains("10.0.0.0/8", "10.255.255.255"));
    assert_false(contains("10.0.0.0/8", "11.0.0.0"));
    assert_false(contains("10.0.0.0/8", "9.255.255.255"));
    /* A prefix that is not a multiple of 8. */
    assert_true(contains("10.0.2.0/23", "10.0.3.255"));
    assert_false(contains("10.0.2.0/23", "10.0.4.0"));
    assert_false(contains("10.0.2.0/23", "10.0.1.255"));
    assert_true(contains("192.168.1.128/25", "192.168.1.200"));
    assert_false(contains("192.168.1.128/25", "192.168.1.127"));
    assert_true(contains("10.0.2.88/32", "10.0.2.88"));
    assert_false(contains("10.0.2.88/32", "10.0.2.89"));
    assert_true(contains("0.0.0.0/0", "203.0.113.9"));
    /* Families never mix, not even for ::ffff:0:0/96 or ::/0. */
    assert_false(contains("0.0.0.0/0", "::1"));
    assert_false(contains("::/0", "10.0.0.1"));
    assert_true(contains("::/0", "2001:db8::1"));
    assert_true(contains("fd00::/8", "fdff:ffff::1"));
    assert_false(contains("fd00::/8", "fe00::1"));
    assert_true(contains("2001:db8::/127", "2001:db8::1"));
    assert_false(contains("2001:db8::/127", "2001:db8::2"));
}

static void test_dns_suffix_parse(void **state)
{
    (void)state;
    char out[MINICA_NAME_MAX + 1];
    struct minica_err err;
    assert_int_equal(minica_dns_suffix_parse("internal.svc", out, sizeof(out), &err), 0);
    assert_string_equal(out, "internal.svc");
    assert_int_equal(minica_dns_suffix_parse(".Internal.SVC", out, sizeof(out), &err), 0);
    assert_string_equal(out, "internal.svc");
    assert_int_equal(minica_dns_suffix_parse("*.internal.svc", out, sizeof(out), &err),
                     MINICA_EINVAL);
    assert_int_equal(minica_dns_suffix_parse("10.0.0.1", out, sizeof(out), &err), MINICA_EINVAL);
    assert_int_equal(minica_dns_suffix_parse("a/b", out, sizeof(out), &err), MINICA_EINVAL);
    assert_int_equal(minica_dns_suffix_parse("", out, sizeof(out), &err), MINICA_EINVAL);
    assert_int_equal(minica_dns_suffix_parse(NULL, out, sizeof(out), &err), MINICA_EINVAL);
    char small[4];
    assert_int_equal(minica_dns_suffix_parse("internal.svc", small, sizeof(small), &err),
                     MINICA_EINVAL);
}

static void test_dns_suffix_matches_on_label_boundary(void **state)
{
    (void)state;
    assert_true(minica_dns_suffix_matches("internal.svc", "internal.svc"));
    assert_true(minica_dns_suffix_matches("internal.svc", "upstream.internal.svc"));
    assert_true(minica_dns_suffix_matches("internal.svc", "a.b.internal.svc"));
    assert_false(minica_dns_suffix_matches("internal.svc", "evil-internal.svc"));
    assert_false(minica_dns_suffix_matches("internal.svc", "evilinternal.svc"));
    assert_false(minica_dns_suffix_matches("internal.svc", "internal.svc.evil"));
    assert_false(minica_dns_suffix_matches("internal.svc", "svc"));
    assert_false(minica_dns_suffix_matches("internal.svc", ".internal.svc.x"));
    assert_false(minica_dns_suffix_matches("internal.svc", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_accepts_rfc1123_host_names),
        cmocka_unit_test(test_names_canonicalizes_to_lowercase),
        cmocka_unit_test(test_names_accepts_limits),
        cmocka_unit_test(test_names_rejects_too_long),
        cmocka_unit_test(test_names_rejects_path_escapes),
        cmocka_unit_test(test_names_rejects_spaces_and_control_chars),
        cmocka_unit_test(test_names_rejects_bad_labels),
        cmocka_unit_test(test_names_rejects_numeric_last_label),
        cmocka_unit_test(test_names_accepts_wildcards_syntactically),
        cmocka_unit_test(test_names_rejects_bad_wildcards),
        cmocka_unit_test(test_names_parses_ipv4),
        cmocka_unit_test(test_names_canonicalizes_ipv6),
        cmocka_unit_test(test_cidr_parses_and_canonicalizes),
        cmocka_unit_test(test_cidr_rejects_bad_input),
        cmocka_unit_test(test_cidr_contains_edges),
        cmocka_unit_test(test_dns_suffix_parse),
        cmocka_unit_test(test_dns_suffix_matches_on_label_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
