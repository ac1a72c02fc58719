/* Unit tests for duration parsing and formatting ("90d" <-> seconds).
 * Not for the places that use durations (policy, CLI): those have their own tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "minica/duration.h"
#include "minica/error.h"

static int64_t parse_ok(const char *text)
{
    struct minica_err err = {{0}};
    int64_t s = -1;
    int ret = minica_duration_parse(text, &s, &err);
    if (ret != 0)
        print_error("unexpected refusal of '%s': %s\n", text, err.msg);
    assert_int_equal(ret, 0);
    return s;
}

/* Refused with MINICA_EINVAL and a message that names the bad value. */
static void assert_refused(const char *text)
{
    struct minica_err err = {{0}};
    int64_t s = 12345;
    int ret = minica_duration_parse(text, &s, &err);
    if (ret == 0)
        print_error("'%s' was accepted as %lld seconds\n", text, (long long)s);
    assert_int_equal(ret, MINICA_EINVAL);
    assert_int_equal(s, 12345); /* the output is untouched on error */
    assert_true(strlen(err.msg) > 0);
    if (text[0] != '\0' && strlen(text) <= 32 && strstr(err.msg, text) == NULL)
        print_error("message '%s' does not name '%s'\n", err.msg, text);
    if (text[0] != '\0' && strlen(text) <= 32)
        assert_non_null(strstr(err.msg, text));
}

static void test_duration_parses_single_units(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("90d"), 90 * 86400LL);
    assert_int_equal(parse_ok("36h"), 36 * 3600LL);
    assert_int_equal(parse_ok("30m"), 30 * 60LL);
    assert_int_equal(parse_ok("1y"), 365 * 86400LL);
    assert_int_equal(parse_ok("2w"), 14 * 86400LL);
    assert_int_equal(parse_ok("45s"), 45);
}

static void test_duration_parses_combinations(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1d12h"), 86400LL + 12 * 3600LL);
    assert_int_equal(parse_ok("1y2w3d4h5m6s"),
                     365 * 86400LL + 14 * 86400LL + 3 * 86400LL + 4 * 3600 + 5 * 60 + 6);
    assert_int_equal(parse_ok("0d1h"), 3600); /* a zero part is fine if the total is not */
}

static void test_duration_rejects_zero(void **state)
{
    (void)state;
    assert_refused("0d");
    assert_refused("0s");
    assert_refused("0y0d");
}

static void test_duration_rejects_negative(void **state)
{
    (void)state;
    assert_refused("-1d");
    assert_refused("-90d");
    assert_refused("1d-1h");
}

static void test_duration_rejects_overflow(void **state)
{
    (void)state;
    assert_refused("99999999999y");
    assert_refused("9223372036854775807s");
    assert_refused("99999999999999999999999d");
    assert_refused("1001y"); /* beyond the documented 1000-year ceiling */
    assert_int_equal(parse_ok("1000y"), 1000 * 365 * 86400LL);
}

static void test_duration_rejects_garbage(void **state)
{
    (void)state;
    assert_refused("");
    assert_refused("abc");
    assert_refused("d");
    assert_refused("1.5d");
    assert_refused(" 1d");
    assert_refused("1d ");
    assert_refused("1 d");
    assert_refused("1x");
    assert_refused("1D"); /* units are lower case */
    assert_refused("+1d");
    assert_refused("0x10s");
}

static void test_duration_rejects_missing_unit(void **state)
{
    (void)state;
    assert_refused("90");
    assert_refused("1d12");
}

static void test_duration_rejects_repeated_and_out_of_order_units(void **state)
{
    (void)state;
    assert_refused("1d1d");
    assert_refused("5dd");
    assert_refused("1h1d");
    assert_refused("1s1m");
    assert_refused("1d1y");
}

static void test_duration_rejects_null_and_long_input(void **state)
{
    (void)state;
    struct minica_err err;
    int64_t s;
    assert_int_equal(minica_duration_parse(NULL, &s, &err), MINICA_EINVAL);
    char long_text[200];
    memset(long_text, '1', sizeof(long_text) - 2);
    long_text[sizeof(long_text) - 2] = 's';
    long_text[sizeof(long_text) - 1] = '\0';
    assert_int_equal(minica_duration_parse(long_text, &s, &err), MINICA_EINVAL);
}

static void test_duration_format_largest_units_first(void **state)
{
    (void)state;
    char buf[64];
    minica_duration_format(90 * 86400LL, buf, sizeof(buf));
    assert_string_equal(buf, "90d");
    minica_duration_format(86400LL + 12 * 3600LL, buf, sizeof(buf));
    assert_string_equal(buf, "1d12h");
    int64_t ttl = 0;
    struct minica_err terr;
    assert_int_equal(minica_ttl_parse("5m", &ttl, &terr), 0);
    assert_int_equal(ttl, 300);
    assert_int_equal(minica_ttl_parse("4m59s", &ttl, &terr), MINICA_EINVAL);
    assert_non_null(strstr(terr.msg, "shorter than the minimum TTL of 5m"));
    minica_duration_format(3 * 365 * 86400LL - 86400LL, buf, sizeof(buf));
    assert_string_equal(buf, "2y364d");
    minica_duration_format(365 * 86400LL + 3661, buf, sizeof(buf));
    assert_string_equal(buf, "1y1h1m1s");
    minica_duration_format(14 * 86400LL, buf, sizeof(buf)); /* no weeks in output */
    assert_string_equal(buf, "14d");
    minica_duration_format(45, buf, sizeof(buf));
    assert_string_equal(buf, "45s");
    minica_duration_format(0, buf, sizeof(buf));
    assert_string_equal(buf, "0s");
    minica_duration_format(-5, buf, sizeof(buf));
    assert_string_equal(buf, "0s");
}

static void test_duration_format_round_trips_without_spaces(void **state)
{
    (void)state;
    const int64_t values[] = {1, 59, 61, 3600, 86399, 86400 + 1, 90 * 86400LL, 400 * 86400LL + 7};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char buf[64], joined[64];
        minica_duration_format(values[i], buf, sizeof(buf));
        size_t o = 0;
        for (const char *p = buf; *p; p++)
            if (*p != ' ')
                joined[o++] = *p;
        joined[o] = '\0';
        assert_int_equal(parse_ok(joined), values[i]);
    }
}

static void test_duration_format_truncates_safely(void **state)
{
    (void)state;
    char buf[4];
    memset(buf, 'x', sizeof(buf));
    minica_duration_format(365 * 86400LL + 3661, buf, sizeof(buf));
    assert_true(memchr(buf, '\0', sizeof(buf)) != NULL);
    char one[1] = {'x'};
    minica_duration_format(90, one, 1);
    assert_int_equal(one[0], '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_parses_single_units),
        cmocka_unit_test(test_duration_parses_combinations),
        cmocka_unit_test(test_duration_rejects_zero),
        cmocka_unit_test(test_duration_rejects_negative),
        cmocka_unit_test(test_duration_rejects_overflow),
        cmocka_unit_test(test_duration_rejects_garbage),
        cmocka_unit_test(test_duration_rejects_missing_unit),
        cmocka_unit_test(test_duration_rejects_repeated_and_out_of_order_units),
        cmocka_unit_test(test_duration_rejects_null_and_long_input),
        cmocka_unit_test(test_duration_format_largest_units_first),
        cmocka_unit_test(test_duration_format_round_trips_without_spaces),
        cmocka_unit_test(test_duration_format_truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
