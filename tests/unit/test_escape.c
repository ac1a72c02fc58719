/* Escaping client text (minica/escape.h): printable ASCII out whatever goes
 * in, idempotent escaping, quoting that text cannot break out of, and
 * truncation that never cuts an escape in half. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "minica/escape.h"

static void test_escape_text_leaves_printable_ascii_only(void **state)
{
    (void)state;
    char out[128];
    size_t need = minica_escape_text("a\nb\r\t\x1b[2J\x7f\xc3\xa9 \\x", out, sizeof(out));
    assert_string_equal(out, "a\\nb\\r\\t\\x1b[2J\\x7f\\xc3\\xa9 \\x");
    assert_int_equal(need, strlen(out));
    /* Escaped text escapes to itself. */
    char again[128];
    minica_escape_text(out, again, sizeof(again));
    assert_string_equal(again, out);
    assert_int_equal(minica_escape_text(NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "");
}

static void test_escape_text_truncates_between_escapes(void **state)
{
    (void)state;
    char out[6];
    /* "ab\x1b" needs 2 + 4 bytes: the escape does not fit whole, so it is left out. */
    assert_int_equal(minica_escape_text("ab\x1b"
                                        "c",
                                        out, sizeof(out)),
                     7);
    assert_string_equal(out, "ab");
    assert_int_equal(minica_escape_text("abc", NULL, 0), 3);
}

static void test_quote_text_cannot_be_broken_out_of(void **state)
{
    (void)state;
    char out[64];
    minica_quote_text("x\" serial=01 \\", 64, out, sizeof(out));
    assert_string_equal(out, "\"x\\\" serial=01 \\\\\"");
    minica_quote_text("abcdefgh", 4, out, sizeof(out));
    assert_string_equal(out, "\"abcd\"...");
    minica_quote_text(NULL, 4, out, sizeof(out));
    assert_string_equal(out, "\"\"");
    /* Too small for the whole: still quoted and terminated. */
    char small[8];
    minica_quote_text("abcdefgh\n", 64, small, sizeof(small));
    assert_int_equal(small[0], '"');
    assert_true(strlen(small) < sizeof(small));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_text_leaves_printable_ascii_only),
        cmocka_unit_test(test_escape_text_truncates_between_escapes),
        cmocka_unit_test(test_quote_text_cannot_be_broken_out_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
