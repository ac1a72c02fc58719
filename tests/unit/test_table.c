/* The CLI's table printer (src/cli/table.h): columns aligned to their widest
 * cell in code points on a terminal, colour that takes no width, no trailing
 * spaces; the piped lines exactly as printf made them; and when to colour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "table.h"

/* list's columns, as cmd_list.c has always printed them. */
static const struct table_column list_cols[] = {
    {"SERIAL", 32, 0},
    {"NAME", 30, 0},
    {"STATUS", 10, 0},
    {"SANS", 0, 0},
};
#define N_LIST (sizeof(list_cols) / sizeof(list_cols[0]))

struct capture {
    char *buf;
    size_t len;
    FILE *f;
};

static void capture_open(struct capture *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
}

/* Closes the stream; the text stays in c->buf (the caller frees it). */
static const char *capture_text(struct capture *c)
{
    fclose(c->f);
    return c->buf;
}

/* Prints the header and rows (n rows of N_LIST cells) through a table. */
static char *render(int aligned, int color, const char *const (*rows)[N_LIST], size_t n,
                    const enum table_color (*colors)[N_LIST])
{
    struct capture c;
    capture_open(&c);
    struct table t;
    table_init(&t, c.f, list_cols, N_LIST, aligned, color);
    assert_int_equal(table_header(&t), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(table_row(&t, rows[i], colors ? colors[i] : NULL), 0);
    assert_int_equal(table_end(&t), 0);
    table_free(&t);
    capture_text(&c);
    return c.buf;
}

/* The display column where field `field` (0-based, fields separated by two
 * or more spaces) of line starts, counted in code points. */
static size_t column_of(const char *line, int field)
{
    size_t col = 0;
    const char *p = line;
    for (int f = 0; f < field; f++) {
        while (*p && !(p[0] == ' ' && p[1] == ' ')) {
            if (((unsigned char)*p & 0xc0) != 0x80)
                col++;
            p++;
        }
        while (*p == ' ') {
            col++;
            p++;
        }
    }
    return col;
}

static void assert_no_trailing_space(const char *text)
{
    for (const char *p = strchr(text, '\n'); p != NULL; p = strchr(p + 1, '\n'))
        assert_true(p == text || p[-1] != ' ');
}

static void test_table_aligns_ascii_cells_to_the_widest(void **state)
{
    (void)state;
    static const char *const rows[][N_LIST] = {
        {"01", "a.test", "valid", "a.test"},
        {"0203", "much-longer.test", "superseded", "much-longer.test,b"},
    };
    char *out = render(1, 0, rows, 2, NULL);
    assert_string_equal(out, "SERIAL  NAME              STATUS      SANS\n"
                             "01      a.test            valid       a.test\n"
                             "0203    much-longer.test  superseded  much-longer.test,b\n");
    free(out);
}

static void test_table_measures_utf8_in_code_points(void **state)
{
    (void)state;
    /* "müller.test" is 11 code points in 12 bytes, "日本.test" 7 in 11. */
    static const char *const rows[][N_LIST] = {
        {"01", "m\xc3\xbcller.test", "valid", "x"},
        {"02", "\xe6\x97\xa5\xe6\x9c\xac.test", "revoked", "y"},
        {"03", "plain.test", "expired", "z"},
    };
    assert_int_equal(table_text_width("m\xc3\xbcller.test"), 11);
    assert_int_equal(table_text_width("\xe6\x97\xa5\xe6\x9c\xac.test"), 7);
    char *out = render(1, 0, rows, 3, NULL);
    /* Every line's STATUS starts at the same display column. */
    size_t want = column_of(out, 2);
    assert_int_equal(want, strlen("SERIAL  m\xc3\xbcller.test  ") - 1);
    for (const char *line = out; *line; line = strchr(line, '\n') + 1)
        assert_int_equal(column_of(line, 2), want);
    assert_no_trailing_space(out);
    free(out);
}

static void test_table_colour_takes_no_width(void **state)
{
    (void)state;
    static const char *const rows[][N_LIST] = {
        {"01", "a.test", "valid", "a"},
        {"02", "b.test", "revoked", "b"},
    };
    static const enum table_color colors[][N_LIST] = {
        {TABLE_PLAIN, TABLE_PLAIN, TABLE_GREEN, TABLE_PLAIN},
        {TABLE_PLAIN, TABLE_PLAIN, TABLE_RED, TABLE_PLAIN},
    };
    char *out = render(1, 1, rows, 2, colors);
    assert_string_equal(out, "SERIAL  NAME    STATUS   SANS\n"
                             "01      a.test  \033[32mvalid\033[0m    a\n"
                             "02      b.test  \033[31mrevoked\033[0m  b\n");
    free(out);
    /* Without colour, the same table has no escape at all. */
    out = render(1, 0, rows, 2, colors);
    assert_null(strchr(out, '\033'));
    free(out);
}

static void test_table_leaves_no_trailing_spaces(void **state)
{
    (void)state;
    /* An empty last cell, and an empty cell in the middle. */
    static const char *const rows[][N_LIST] = {
        {"01", "a.test", "valid", ""},
        {"02", "", "", ""},
        {"03", "c.test", "", "c"},
    };
    char *out = render(1, 0, rows, 3, NULL);
    assert_no_trailing_space(out);
    assert_string_equal(out, "SERIAL  NAME    STATUS  SANS\n"
                             "01      a.test  valid\n"
                             "02\n"
                             "03      c.test          c\n");
    free(out);
}

static void test_table_right_aligns_numbers(void **state)
{
    (void)state;
    static const struct table_column cols[] = {{"UID", 6, 1}, {"USER", 0, 0}};
    struct capture c;
    capture_open(&c);
    struct table t;
    table_init(&t, c.f, cols, 2, 1, 0);
    table_header(&t);
    table_row(&t, (const char *const[]){"0", "root"}, NULL);
    table_row(&t, (const char *const[]){"10000", "u"}, NULL);
    assert_int_equal(table_end(&t), 0);
    table_free(&t);
    assert_string_equal(capture_text(&c), "  UID  USER\n"
                                          "    0  root\n"
                                          "10000  u\n");
    free(c.buf);
}

static void test_table_piped_is_the_printf_format(void **state)
{
    (void)state;
    static const char *const rows[][N_LIST] = {
        {"0a1b", "a.test", "valid", "a.test,10.0.0.1"},
        {"0123456789abcdef0123456789abcdef01", "m\xc3\xbcller.test", "revoked", ""},
    };
    char *out = render(0, 0, rows, 2, NULL);
    char want[1024];
    size_t n = 0;
    n += (size_t)snprintf(want + n, sizeof(want) - n, "%-32s  %-30s  %-10s  %s\n", "SERIAL", "NAME",
                          "STATUS", "SANS");
    for (size_t i = 0; i < 2; i++)
        n += (size_t)snprintf(want + n, sizeof(want) - n, "%-32s  %-30s  %-10s  %s\n", rows[i][0],
                              rows[i][1], rows[i][2], rows[i][3]);
    /* Byte for byte, printf's trailing spaces after an empty SANS included. */
    assert_string_equal(out, want);
    free(out);

    /* Right-aligned as %6s, and a row is written at once, not at the end. */
    static const struct table_column cols[] = {{"UID", 6, 1}, {"USER", 0, 0}};
    struct capture c;
    capture_open(&c);
    struct table t;
    table_init(&t, c.f, cols, 2, 0, 0);
    table_header(&t);
    table_row(&t, (const char *const[]){"1000", "me"}, NULL);
    fflush(c.f);
    assert_string_equal(c.buf, "   UID  USER\n  1000  me\n");
    assert_int_equal(table_end(&t), 0);
    table_free(&t);
    free((char *)capture_text(&c));
}

static void test_table_piped_colour_keeps_the_padding(void **state)
{
    (void)state;
    static const char *const rows[][N_LIST] = {{"01", "a.test", "valid", "a"}};
    static const enum table_color colors[][N_LIST] = {
        {TABLE_PLAIN, TABLE_PLAIN, TABLE_YELLOW, TABLE_PLAIN}};
    char *out = render(0, 1, rows, 1, colors);
    char want[512];
    snprintf(want, sizeof(want),
             "%-32s  %-30s  %-10s  %s\n%-32s  %-30s  \033[33mvalid\033[0m%5s  %s\n", "SERIAL",
             "NAME", "STATUS", "SANS", "01", "a.test", "", "a");
    assert_string_equal(out, want);
    free(out);
}

static void test_table_only_header_when_no_rows(void **state)
{
    (void)state;
    char *out = render(1, 0, NULL, 0, NULL);
    assert_string_equal(out, "SERIAL  NAME  STATUS  SANS\n");
    free(out);
    /* Nothing at all without a header either. */
    struct capture c;
    capture_open(&c);
    struct table t;
    table_init(&t, c.f, list_cols, N_LIST, 1, 1);
    assert_int_equal(table_end(&t), 0);
    table_free(&t);
    assert_string_equal(capture_text(&c), "");
    free(c.buf);
}

static void test_color_parse_takes_the_three_words(void **state)
{
    (void)state;
    enum cli_color_when w = CLI_COLOR_AUTO;
    assert_int_equal(cli_color_parse("never", &w), 0);
    assert_int_equal(w, CLI_COLOR_NEVER);
    assert_int_equal(cli_color_parse("Always", &w), 0);
    assert_int_equal(w, CLI_COLOR_ALWAYS);
    assert_int_equal(cli_color_parse("auto", &w), 0);
    assert_int_equal(w, CLI_COLOR_AUTO);
    assert_int_equal(cli_color_parse("bogus", &w), -1);
    assert_int_equal(cli_color_parse("", &w), -1);
    assert_int_equal(cli_color_parse("yes", &w), -1);
}

static void test_color_decide_over_tty_no_color_term_and_flag(void **state)
{
    (void)state;
    /* auto: only a terminal, NO_COLOR unset or empty, TERM set and not dumb. */
    assert_true(cli_color_decide(CLI_COLOR_AUTO, 1, NULL, "xterm-256color"));
    assert_true(cli_color_decide(CLI_COLOR_AUTO, 1, "", "xterm"));
    assert_false(cli_color_decide(CLI_COLOR_AUTO, 0, NULL, "xterm"));
    assert_false(cli_color_decide(CLI_COLOR_AUTO, 1, "1", "xterm"));
    assert_false(cli_color_decide(CLI_COLOR_AUTO, 1, "0", "xterm")); /* any value counts */
    assert_false(cli_color_decide(CLI_COLOR_AUTO, 1, NULL, "dumb"));
    assert_false(cli_color_decide(CLI_COLOR_AUTO, 1, NULL, NULL));
    assert_false(cli_color_decide(CLI_COLOR_AUTO, 1, NULL, ""));
    /* always beats a pipe, NO_COLOR and a dumb TERM; never beats a terminal. */
    assert_true(cli_color_decide(CLI_COLOR_ALWAYS, 0, "1", "dumb"));
    assert_true(cli_color_decide(CLI_COLOR_ALWAYS, 1, NULL, NULL));
    assert_false(cli_color_decide(CLI_COLOR_NEVER, 1, NULL, "xterm"));
    assert_false(cli_color_decide(CLI_COLOR_NEVER, 0, NULL, "xterm"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_aligns_ascii_cells_to_the_widest),
        cmocka_unit_test(test_table_measures_utf8_in_code_points),
        cmocka_unit_test(test_table_colour_takes_no_width),
        cmocka_unit_test(test_table_leaves_no_trailing_spaces),
        cmocka_unit_test(test_table_right_aligns_numbers),
        cmocka_unit_test(test_table_piped_is_the_printf_format),
        cmocka_unit_test(test_table_piped_colour_keeps_the_padding),
        cmocka_unit_test(test_table_only_header_when_no_rows),
        cmocka_unit_test(test_color_parse_takes_the_three_words),
        cmocka_unit_test(test_color_decide_over_tty_no_color_term_and_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
