/* Unit tests for the nginx module: the config tokenizer, include following,
 * the checker's findings and inheritance, and the snippet generator.
 * Not for the CLI or a real nginx: tests/integration/test_nginx_check.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "minica/error.h"
#include "minica/nginx.h"
#include "testutil.h"

/* ---- helpers ---- */

static struct minica_nginx_conf *parse_ok(const char *text)
{
    struct minica_nginx_conf *conf = malloc(sizeof(*conf));
    assert_non_null(conf);
    minica_nginx_conf_init(conf);
    struct minica_err err = {{0}};
    int ret = minica_nginx_parse_buffer(conf, text, strlen(text), "t.conf", &err);
    if (ret != 0)
        print_error("unexpected parse error: %s\n", err.msg);
    assert_int_equal(ret, 0);
    return conf;
}

static void conf_done(struct minica_nginx_conf *conf)
{
    minica_nginx_conf_free(conf);
    free(conf);
}

/* Parsing fails at line with a message containing what. */
static void parse_fails(const char *text, int line, const char *what)
{
    struct minica_nginx_conf conf;
    minica_nginx_conf_init(&conf);
    struct minica_err err = {{0}};
    int ret = minica_nginx_parse_buffer(&conf, text, strlen(text), "t.conf", &err);
    if (ret == 0)
        print_error("accepted: %s\n", text);
    assert_int_not_equal(ret, 0);
    if (conf.err_line != line || strstr(err.msg, what) == NULL)
        print_error("got line %d '%s', wanted line %d and '%s'\n", conf.err_line, err.msg, line,
                    what);
    assert_int_equal(conf.err_line, line);
    assert_non_null(strstr(err.msg, what));
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "t.conf:%d: ", line);
    assert_memory_equal(err.msg, prefix, strlen(prefix));
    minica_nginx_conf_free(&conf);
}

static const struct minica_nginx_directive *child(const struct minica_nginx_directive *d, size_t i)
{
    assert_true(i < d->nchildren);
    return d->children[i];
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

static void run_check(struct minica_nginx_conf *conf, const char *conf_dir,
                      struct minica_nginx_report *rep)
{
    struct minica_err err = {{0}};
    minica_nginx_report_init(rep);
    assert_int_equal(minica_nginx_check(conf, conf_dir, NULL, rep, &err), 0);
}

/* Exactly n findings; the i-th at line lines[i] containing words[i]. */
static void expect_findings(const char *text, size_t n, const int *lines, const char *const *words)
{
    struct minica_nginx_conf *conf = parse_ok(text);
    struct minica_nginx_report rep;
    run_check(conf, "/nonexistent-prefix", &rep);
    if (rep.n != n)
        for (size_t i = 0; i < rep.n; i++)
            print_error("finding %s:%d: %s\n", rep.items[i].file, rep.items[i].line,
                        rep.items[i].msg);
    assert_int_equal(rep.n, n);
    for (size_t i = 0; i < n; i++) {
        if (rep.items[i].line != lines[i] || strstr(rep.items[i].msg, words[i]) == NULL)
            print_error("finding %zu: line %d '%s', wanted line %d and '%s'\n", i,
                        rep.items[i].line, rep.items[i].msg, lines[i], words[i]);
        assert_int_equal(rep.items[i].line, lines[i]);
        assert_non_null(strstr(rep.items[i].msg, words[i]));
        assert_string_equal(rep.items[i].file, "t.conf");
    }
    minica_nginx_report_free(&rep);
    conf_done(conf);
}

/* ---- tokenizer ---- */

static void test_tokenizer_splits_directives_and_blocks(void **state)
{
    (void)state;
    struct minica_nginx_conf *conf = parse_ok("worker_processes 1;\n"
                                              "http {\n"
                                              "  server {\n"
                                              "    location / { return 200; }\n"
                                              "  }\n"
                                              "}\n");
    assert_int_equal(conf->root.nchildren, 2);
    const struct minica_nginx_directive *wp = child(&conf->root, 0);
    assert_string_equal(wp->args[0], "worker_processes");
    assert_string_equal(wp->args[1], "1");
    assert_int_equal(wp->line, 1);
    assert_false(wp->is_block);
    const struct minica_nginx_directive *http = child(&conf->root, 1);
    assert_true(http->is_block);
    const struct minica_nginx_directive *loc = child(child(http, 0), 0);
    assert_string_equal(loc->args[0], "location");
    assert_string_equal(loc->args[1], "/");
    assert_int_equal(loc->line, 4);
    assert_string_equal(child(loc, 0)->args[0], "return");
    assert_int_equal(conf->ndirectives, 5);
    conf_done(conf);
}

static void test_tokenizer_unquotes_and_unescapes(void **state)
{
    (void)state;
    struct minica_nginx_conf *conf =
        parse_ok("a \"x y;{}#\" 'it\\'s' \"q\\\"q\" \"t\\tn\\n\" \"keep\\d\" w\\;x;\n");
    const struct minica_nginx_directive *d = child(&conf->root, 0);
    assert_int_equal(d->nargs, 7);
    assert_string_equal(d->args[1], "x y;{}#");
    assert_string_equal(d->args[2], "it's");
    assert_string_equal(d->args[3], "q\"q");
    assert_string_equal(d->args[4], "t\tn\n");
    assert_string_equal(d->args[5], "keep\\d"); /* unknown escapes stay, as in nginx */
    /* an escaped ';' does not end the directive; nginx keeps its backslash */
    assert_string_equal(d->args[6], "w\\;x");
    conf_done(conf);
}

static void test_tokenizer_skips_comments_only_at_word_start(void **state)
{
    (void)state;
    struct minica_nginx_conf *conf = parse_ok("# a comment { ; }\n"
                                              "a b#c; # trailing \"comment\n"
                                              "d;\n");
    assert_int_equal(conf->root.nchildren, 2);
    assert_string_equal(child(&conf->root, 0)->args[1], "b#c");
    assert_int_equal(child(&conf->root, 0)->line, 2);
    assert_string_equal(child(&conf->root, 1)->args[0], "d");
    assert_int_equal(child(&conf->root, 1)->line, 3);
    conf_done(conf);
}

static void test_tokenizer_keeps_variables_with_braces(void **state)
{
    (void)state;
    struct minica_nginx_conf *conf = parse_ok("set $a ${host}x;\n"
                                              "if ($a = \"x\") { return 403; }\n");
    assert_string_equal(child(&conf->root, 0)->args[1], "$a");
    assert_string_equal(child(&conf->root, 0)->args[2], "${host}x");
    const struct minica_nginx_directive *ifd = child(&conf->root, 1);
    assert_true(ifd->is_block);
    assert_int_equal(ifd->nargs, 5);
    assert_string_equal(ifd->args[1], "($a");
    assert_string_equal(ifd->args[3], "x");
    assert_string_equal(ifd->args[4], ")");
    conf_done(conf);
}

static void test_tokenizer_counts_lines_inside_strings(void **state)
{
    (void)state;
    struct minica_nginx_conf *conf = parse_ok("a \"1\n2\n3\";\nb;\n");
    assert_string_equal(child(&conf->root, 0)->args[1], "1\n2\n3");
    assert_int_equal(child(&conf->root, 1)->line, 4);
    conf_done(conf);
}

static void test_tokenizer_reports_errors_with_lines(void **state)
{
    (void)state;
    parse_fails("a;\nb \"open\n\n", 2, "unterminated double-quoted string");
    parse_fails("a 'x;\n", 1, "unterminated single-quoted string");
    parse_fails("http {\n server {\n }", 3, "block opened on line 1");
    parse_fails("a;\n}\n", 2, "unexpected \"}\"");
    parse_fails("a b }\n", 1, "unexpected \"}\"");
    parse_fails("a;\n;\n", 2, "unexpected \";\"");
    parse_fails("{ a; }\n", 1, "unexpected \"{\"");
    parse_fails("a\nb", 2, "expecting \";\" or \"}\"");
    parse_fails("a \"x\"y;\n", 1, "after a quoted string");
}

static char *nested(size_t depth)
{
    char *text = malloc(depth * 4 + 1);
    assert_non_null(text);
    char *p = text;
    for (size_t i = 0; i < depth; i++)
        p += sprintf(p, "a {");
    for (size_t i = 0; i < depth; i++)
        *p++ = '}';
    *p = '\0';
    return text;
}

static void test_tokenizer_limits_nesting(void **state)
{
    (void)state;
    char *text = nested(MINICA_NGINX_MAX_BLOCK_DEPTH + 1);
    parse_fails(text, 1, "nested deeper");
    free(text);
    text = nested(MINICA_NGINX_MAX_BLOCK_DEPTH);
    conf_done(parse_ok(text));
    free(text);
}

static void test_parse_buffer_does_not_follow_include(void **state)
{
    (void)state;
    struct minica_nginx_conf *conf = parse_ok("include /etc/passwd;\n");
    assert_int_equal(conf->root.nchildren, 1);
    assert_int_equal(conf->nfiles, 1);
    conf_done(conf);
}

/* ---- includes ---- */

static void test_include_follows_files_and_sorted_globs(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char sub[4200], main_conf[4200];
    snprintf(sub, sizeof(sub), "%s/conf.d", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_text(dir, "nginx.conf", "http {\n  include conf.d/*.conf;\n  include single.inc;\n}\n");
    write_text(dir, "conf.d/b.conf", "b;\n");
    write_text(dir, "conf.d/a.conf", "\n\na;\n");
    write_text(dir, "conf.d/skip.txt", "not_included;\n");
    write_text(dir, "single.inc", "s;\n");
    snprintf(main_conf, sizeof(main_conf), "%s/nginx.conf", dir);
    struct minica_nginx_conf conf;
    minica_nginx_conf_init(&conf);
    struct minica_err err = {{0}};
    int ret = minica_nginx_parse_file(&conf, main_conf, NULL, &err);
    if (ret != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(ret, 0);
    const struct minica_nginx_directive *http = child(&conf.root, 0);
    /* include, a, b, include, s: included directives are spliced in place */
    assert_int_equal(http->nchildren, 5);
    assert_string_equal(child(http, 1)->args[0], "a");
    assert_int_equal(child(http, 1)->line, 3);
    assert_non_null(strstr(child(http, 1)->file, "conf.d/a.conf"));
    assert_string_equal(child(http, 2)->args[0], "b");
    assert_string_equal(child(http, 4)->args[0], "s");
    assert_int_equal(conf.nfiles, 4);
    minica_nginx_conf_free(&conf);
    tu_rmtree(dir);
    free(dir);
}

static void test_include_glob_without_match_is_fine_but_missing_file_is_not(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char main_conf[4200];
    snprintf(main_conf, sizeof(main_conf), "%s/nginx.conf", dir);
    write_text(dir, "nginx.conf", "include none/*.conf;\n\ninclude missing.conf;\n");
    struct minica_nginx_conf conf;
    minica_nginx_conf_init(&conf);
    struct minica_err err = {{0}};
    assert_int_equal(minica_nginx_parse_file(&conf, main_conf, NULL, &err), MINICA_ENOENT);
    assert_int_equal(conf.err_line, 3);
    assert_non_null(strstr(err.msg, "missing.conf"));
    assert_non_null(strstr(err.msg, "nginx.conf:3: "));
    minica_nginx_conf_free(&conf);
    tu_rmtree(dir);
    free(dir);
}

static void test_include_detects_loops(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char main_conf[4200];
    snprintf(main_conf, sizeof(main_conf), "%s/nginx.conf", dir);
    write_text(dir, "nginx.conf", "include a.conf;\n");
    write_text(dir, "a.conf", "x;\ninclude b.conf;\n");
    write_text(dir, "b.conf", "include a.conf;\n");
    struct minica_nginx_conf conf;
    minica_nginx_conf_init(&conf);
    struct minica_err err = {{0}};
    assert_int_equal(minica_nginx_parse_file(&conf, main_conf, NULL, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "include loop"));
    assert_non_null(strstr(conf.err_file, "b.conf"));
    assert_int_equal(conf.err_line, 1);
    minica_nginx_conf_free(&conf);

    /* Including the same file twice, side by side, is not a loop. */
    write_text(dir, "nginx.conf", "include b2.conf;\ninclude b2.conf;\n");
    write_text(dir, "b2.conf", "y;\n");
    minica_nginx_conf_init(&conf);
    assert_int_equal(minica_nginx_parse_file(&conf, main_conf, NULL, &err), 0);
    assert_int_equal(conf.root.nchildren, 4);
    minica_nginx_conf_free(&conf);
    tu_rmtree(dir);
    free(dir);
}

static void test_include_resolves_against_prefix_then_including_dir(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char sub[4200], main_conf[4200];
    snprintf(sub, sizeof(sub), "%s/sites", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    /* "common.inc" exists both at the prefix and next to the site: nginx's
     * rule (prefix first) wins; "local.inc" exists only next to the site. */
    write_text(dir, "nginx.conf", "include sites/site.conf;\n");
    write_text(dir, "common.inc", "from_prefix;\n");
    write_text(dir, "sites/common.inc", "from_sites;\n");
    write_text(dir, "sites/site.conf", "include common.inc;\ninclude local.inc;\n");
    write_text(dir, "sites/local.inc", "local;\n");
    snprintf(main_conf, sizeof(main_conf), "%s/nginx.conf", dir);
    struct minica_nginx_conf conf;
    minica_nginx_conf_init(&conf);
    struct minica_err err = {{0}};
    int ret = minica_nginx_parse_file(&conf, main_conf, NULL, &err);
    if (ret != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(ret, 0);
    /* include site, include common, from_prefix, include local, local */
    assert_int_equal(conf.root.nchildren, 5);
    assert_string_equal(child(&conf.root, 2)->args[0], "from_prefix");
    assert_string_equal(child(&conf.root, 4)->args[0], "local");
    minica_nginx_conf_free(&conf);
    tu_rmtree(dir);
    free(dir);
}

static void test_include_depth_is_limited(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char main_conf[4200];
    snprintf(main_conf, sizeof(main_conf), "%s/f0.conf", dir);
    for (int i = 0; i <= MINICA_NGINX_MAX_INCLUDE_DEPTH + 1; i++) {
        char name[32], text[64];
        snprintf(name, sizeof(name), "f%d.conf", i);
        snprintf(text, sizeof(text), "include f%d.conf;\n", i + 1);
        write_text(dir, name, text);
    }
    struct minica_nginx_conf conf;
    minica_nginx_conf_init(&conf);
    struct minica_err err = {{0}};
    assert_int_equal(minica_nginx_parse_file(&conf, main_conf, NULL, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "nested deeper"));
    minica_nginx_conf_free(&conf);
    tu_rmtree(dir);
    free(dir);
}

/* ---- checker ---- */

static void test_check_finds_https_without_verify(void **state)
{
    (void)state;
    const int lines[] = {3};
    const char *words[] = {"proxy_pass https://up.internal.svc without proxy_ssl_verify on"};
    expect_findings("http {\n server {\n  location / { proxy_pass https://up.internal.svc; }\n"
                    "  location /p { proxy_pass http://plain; }\n }\n}\n",
                    1, lines, words);
}

static void test_check_finds_verify_off_once(void **state)
{
    (void)state;
    const int lines[] = {2};
    const char *words[] = {"proxy_ssl_verify off"};
    /* off at http level, inherited by two locations: one finding, where it is written */
    expect_findings("http {\n proxy_ssl_verify off;\n server {\n"
                    "  location /a { proxy_pass https://a; }\n"
                    "  location /b { proxy_pass https://b; }\n }\n}\n",
                    1, lines, words);
}

static void test_check_finds_verify_without_trusted_certificate(void **state)
{
    (void)state;
    const int lines[] = {4};
    const char *words[] = {"without proxy_ssl_trusted_certificate"};
    expect_findings("http {\n proxy_ssl_verify on; proxy_ssl_verify_depth 2;\n server {\n"
                    "  location / { proxy_pass https://a; }\n }\n}\n",
                    1, lines, words);
}

static void test_check_finds_missing_trusted_certificate_file(void **state)
{
    (void)state;
    const int lines[] = {3};
    const char *words[] = {"/nonexistent/ca.crt does not exist"};
    expect_findings("server {\n proxy_ssl_verify on; proxy_ssl_verify_depth 2;\n"
                    " proxy_ssl_trusted_certificate /nonexistent/ca.crt;\n"
                    " location / { proxy_pass https://a; }\n"
                    " location /2 { proxy_pass https://b; }\n}\n",
                    1, lines, words);
}

static void test_check_finds_default_and_short_depth(void **state)
{
    (void)state;
    const int lines[] = {3, 4, 5, 6};
    const char *words[] = {"does not exist", "nginx's default of 1",
                           "proxy_ssl_verify_depth 1 allows",
                           "proxy_ssl_verify_depth 0 is shorter"};
    expect_findings("http {\n proxy_ssl_verify on;\n proxy_ssl_trusted_certificate /nonexistent;\n"
                    " server { location /a { proxy_pass https://a; } }\n"
                    " server { proxy_ssl_verify_depth 1; location /b { proxy_pass https://b; } }\n"
                    " server { proxy_ssl_verify_depth 0; location /c { proxy_pass https://c; } }\n"
                    " server { proxy_ssl_verify_depth 2; location /d { proxy_pass https://d; } }\n"
                    "}\n",
                    4, lines, words);
}

/* Depth 1 (nginx's default) accepts leaf <- intermediate <- root: a note,
 * which must not fail a CI gate; depth 0 rejects it: a finding. */
static void test_check_depth_one_is_a_note_and_zero_a_finding(void **state)
{
    (void)state;
    struct minica_nginx_conf *conf =
        parse_ok("http {\n proxy_ssl_verify on;\n proxy_ssl_trusted_certificate /nonexistent;\n"
                 " server { location /a { proxy_pass https://a; } }\n"
                 " server { proxy_ssl_verify_depth 1; location /b { proxy_pass https://b; } }\n"
                 " server { proxy_ssl_verify_depth 0; location /c { proxy_pass https://c; } }\n"
                 "}\n");
    struct minica_nginx_report rep;
    run_check(conf, "/nonexistent-prefix", &rep);
    assert_int_equal(rep.n, 4);
    assert_int_equal(rep.notes, 2);
    assert_false(rep.items[0].note); /* the missing trusted certificate */
    assert_true(rep.items[1].note);  /* default depth */
    assert_true(rep.items[2].note);  /* depth 1 */
    assert_false(rep.items[3].note); /* depth 0 */
    assert_non_null(strstr(rep.items[3].msg, "depth 0"));
    minica_nginx_report_free(&rep);
    conf_done(conf);
}

static void test_check_inherits_from_server_http_and_outer_location(void **state)
{
    (void)state;
    char *cadir = tu_make_ca();
    char text[8192];
    /* verify at http, trusted cert at server, depth at the outer location:
     * the inner location and an if inside it inherit all three. */
    snprintf(text, sizeof(text),
             "http {\n proxy_ssl_verify on;\n server {\n"
             "  proxy_ssl_trusted_certificate %s/root.crt;\n"
             "  location / {\n   proxy_ssl_verify_depth 2;\n"
             "   location /in { proxy_pass https://a; if ($x) { proxy_pass https://$x; } }\n"
             "   limit_except GET { proxy_pass https://up; }\n"
             "  }\n }\n}\n",
             cadir);
    expect_findings(text, 0, NULL, NULL);
    /* a location that overrides verify with off loses it, and only there */
    snprintf(text, sizeof(text),
             "http {\n proxy_ssl_verify on;\n proxy_ssl_verify_depth 2;\n"
             " proxy_ssl_trusted_certificate %s/root.crt;\n"
             " server { location /a { proxy_ssl_verify off; proxy_pass https://a; }\n"
             "  location /b { proxy_pass https://b; } }\n}\n",
             cadir);
    const int lines[] = {5};
    const char *words[] = {"proxy_ssl_verify off"};
    expect_findings(text, 1, lines, words);
    tu_free_ca(cadir);
}

static void test_check_treats_upstream_and_variables_as_https(void **state)
{
    (void)state;
    const int lines[] = {3, 4};
    const char *words[] = {"upstream block at t.conf:2", "https://$backend"};
    expect_findings("http {\n upstream backend { server 10.0.0.1:443; } upstream a { server b; } "
                    "upstream backend2 { server c; } upstream backen { server d; }\n"
                    " server { location /a { proxy_pass https://backend; }\n"
                    "  location /b { proxy_pass https://$backend; }\n"
                    "  location /c { proxy_pass http://backend; } }\n}\n",
                    2, lines, words);
}

static void test_check_ignores_stream_context(void **state)
{
    (void)state;
    expect_findings("stream { server { proxy_pass backend:443; proxy_ssl_verify off; } }\n", 0,
                    NULL, NULL);
}

static void test_check_reports_unparsable_and_expired_trusted_certificate(void **state)
{
    (void)state;
    char *cadir = tu_make_ca();
    char *dir = tu_tempdir();
    write_text(dir, "garbage.pem",
               "-----BEGIN CERTIFICATE-----\nnot base64!\n"
               "-----END CERTIFICATE-----\n");
    char text[8192];
    snprintf(text, sizeof(text),
             "http { proxy_ssl_verify on; proxy_ssl_verify_depth 2;\n"
             " server { location /a { proxy_ssl_trusted_certificate %s/garbage.pem;\n"
             "   proxy_pass https://a; }\n"
             "  location /b { proxy_ssl_trusted_certificate %s/root.crt;\n"
             "   proxy_pass https://b; } }\n}\n",
             dir, cadir);
    const int lines1[] = {2};
    const char *words1[] = {"holds no certificate mbedTLS can parse"};
    expect_findings(text, 1, lines1, words1);

    /* Far in the future, the root has expired: the finding names it. */
    setenv("MINICA_FAKE_NOW", "4102444800", 1); /* 2100-01-01 */
    const int lines2[] = {2, 4};
    const char *words2[] = {"no certificate", "expired on"};
    expect_findings(text, 2, lines2, words2);
    struct minica_nginx_conf *conf = parse_ok(text);
    struct minica_nginx_report rep;
    run_check(conf, NULL, &rep);
    assert_int_equal(rep.n, 2);
    assert_non_null(strstr(rep.items[1].msg, "Root")); /* which certificate: its subject */
    minica_nginx_report_free(&rep);
    conf_done(conf);
    unsetenv("MINICA_FAKE_NOW");
    tu_rmtree(dir);
    free(dir);
    tu_free_ca(cadir);
}

static void test_check_resolves_relative_trusted_path_against_conf_dir(void **state)
{
    (void)state;
    char *cadir = tu_make_ca();
    const char *text = "server { proxy_ssl_verify on; proxy_ssl_verify_depth 2;\n"
                       " proxy_ssl_trusted_certificate root.crt;\n"
                       " location / { proxy_pass https://a; } }\n";
    struct minica_nginx_conf *conf = parse_ok(text);
    struct minica_nginx_report rep;
    run_check(conf, cadir, &rep);
    assert_int_equal(rep.n, 0);
    minica_nginx_report_free(&rep);
    conf_done(conf);
    tu_free_ca(cadir);
}

/* nginx checks proxy_ssl_name (default: the host of proxy_pass) with
 * X509_check_host: DNS SANs, then the CN, never an IP SAN. An IP there fails
 * against a certificate that has the address only as an IP SAN. */
static void test_check_finds_ip_upstream_without_dns_name(void **state)
{
    (void)state;
    char *cadir = tu_make_ca();
    char text[8192];
    snprintf(text, sizeof(text),
             "http {\n proxy_ssl_verify on;\n proxy_ssl_verify_depth 2;\n"
             " proxy_ssl_trusted_certificate %s/root.crt;\n"
             " server {\n"
             "  location /a { proxy_pass https://127.0.0.1:8443; }\n"
             "  location /b { proxy_pass https://10.0.2.88/x; }\n"
             "  location /c { proxy_pass https://[::1]:8443/x; }\n"
             "  location /d { proxy_pass https://[fd00::1]; }\n"
             "  location /e { proxy_ssl_name up.internal.svc; proxy_pass https://127.0.0.1:1; }\n"
             "  location /f { proxy_pass https://up.internal.svc:8443; }\n"
             "  location /g { proxy_pass https://$backend; }\n"
             "  location /h { proxy_pass http://127.0.0.1:8080; }\n"
             "  location /i { proxy_ssl_name $proxy_host; proxy_pass https://127.0.0.1; }\n"
             " }\n}\n",
             cadir);
    const int lines[] = {6, 7, 8, 9, 14};
    const char *words[] = {"proxy_pass https://127.0.0.1:8443 without a DNS proxy_ssl_name",
                           "\"10.0.2.88\"", "\"[::1]\"", "\"[fd00::1]\"", "\"127.0.0.1\""};
    expect_findings(text, 5, lines, words);
    /* the fix, on the same line, and none of them is a mere note */
    struct minica_nginx_conf *conf = parse_ok(text);
    struct minica_nginx_report rep;
    run_check(conf, NULL, &rep);
    assert_int_equal(rep.notes, 0);
    for (size_t i = 0; i < rep.n; i++) {
        assert_false(rep.items[i].note);
        assert_non_null(strstr(rep.items[i].msg, "ignores IP SANs"));
        assert_non_null(strstr(rep.items[i].msg, "set proxy_ssl_name NAME"));
        assert_null(strchr(rep.items[i].msg, '\n'));
    }
    minica_nginx_report_free(&rep);
    conf_done(conf);
    tu_free_ca(cadir);
}

static void test_check_finds_proxy_ssl_name_ip_once(void **state)
{
    (void)state;
    char *cadir = tu_make_ca();
    char text[8192];
    /* an IP set at server level and inherited by two locations: one finding,
     * where it is written; forms with a port or brackets are IPs too */
    snprintf(text, sizeof(text),
             "http {\n proxy_ssl_verify on;\n proxy_ssl_verify_depth 2;\n"
             " proxy_ssl_trusted_certificate %s/root.crt;\n"
             " server {\n  proxy_ssl_name 127.0.0.1;\n"
             "  location /a { proxy_pass https://up.internal.svc; }\n"
             "  location /b { proxy_pass https://127.0.0.1:8443; }\n"
             "  location /c { proxy_ssl_name ::1; proxy_pass https://[::1]; }\n"
             "  location /d { proxy_ssl_name [::1]:8443; proxy_pass https://[::1]; }\n"
             "  location /e { proxy_ssl_name 10.0.2.88:443; proxy_pass https://backend; }\n"
             "  location /f { proxy_ssl_name up.internal.svc; proxy_pass https://10.0.2.88; }\n"
             " }\n"
             " server { location / { proxy_ssl_name $host; proxy_pass https://10.0.2.88; } }\n"
             "}\n",
             cadir);
    const int lines[] = {6, 9, 10, 11};
    const char *words[] = {"proxy_ssl_name 127.0.0.1 is an IP address", "proxy_ssl_name ::1",
                           "proxy_ssl_name [::1]:8443", "proxy_ssl_name 10.0.2.88:443"};
    expect_findings(text, 4, lines, words);
    tu_free_ca(cadir);
}

static void test_check_inherits_proxy_ssl_name(void **state)
{
    (void)state;
    char *cadir = tu_make_ca();
    char text[8192];
    /* a DNS name at http covers a server and a nested location that pass to
     * an IP; a location that overrides it with an IP loses it, only there */
    snprintf(text, sizeof(text),
             "http {\n proxy_ssl_verify on;\n proxy_ssl_verify_depth 2;\n"
             " proxy_ssl_trusted_certificate %s/root.crt;\n"
             " proxy_ssl_name up.internal.svc;\n"
             " server {\n  location / { proxy_pass https://127.0.0.1:8443;\n"
             "   location /in { proxy_pass https://10.0.2.88; } }\n"
             "  location /ip { proxy_ssl_name 10.0.2.88; proxy_pass https://10.0.2.88; }\n"
             " }\n"
             " server { proxy_ssl_name 10.0.2.88;\n"
             "  location / { proxy_ssl_name up.internal.svc; proxy_pass https://10.0.2.88; } }\n"
             "}\n",
             cadir);
    const int lines[] = {9};
    const char *words[] = {"proxy_ssl_name 10.0.2.88 is an IP address"};
    expect_findings(text, 1, lines, words);
    tu_free_ca(cadir);
}

/* Without verification no name is checked: the missing verify is the
 * finding, not the name. */
static void test_check_ip_name_needs_verify_on(void **state)
{
    (void)state;
    const int lines[] = {2, 3};
    const char *words[] = {"https://127.0.0.1:8443 without proxy_ssl_verify on",
                           "proxy_ssl_verify off"};
    expect_findings("server {\n location /a { proxy_pass https://127.0.0.1:8443; }\n"
                    " location /b { proxy_ssl_verify off; proxy_ssl_name 10.0.0.1;\n"
                    "  proxy_pass https://10.0.0.1; }\n}\n",
                    2, lines, words);
}

/* The config from the field: it got "0 findings, 1 note" and a 502. */
static void test_check_ip_upstream_is_a_finding_not_a_note(void **state)
{
    (void)state;
    char *cadir = tu_make_ca();
    char text[8192];
    snprintf(text, sizeof(text),
             "server { location / {\n proxy_pass https://127.0.0.1:8443;\n"
             " proxy_ssl_verify on;\n proxy_ssl_trusted_certificate %s/root.crt;\n} }\n",
             cadir);
    struct minica_nginx_conf *conf = parse_ok(text);
    struct minica_nginx_report rep;
    run_check(conf, NULL, &rep);
    assert_int_equal(rep.n - rep.notes, 1);
    assert_int_equal(rep.notes, 1); /* the default depth */
    minica_nginx_report_free(&rep);
    conf_done(conf);
    tu_free_ca(cadir);
}

/* ---- snippet ---- */

static void test_snippet_has_the_verifying_directives(void **state)
{
    (void)state;
    struct minica_nginx_snippet_opts o = {"up.internal.svc", NULL, "/etc/nginx/certs", 0, 0, NULL};
    char *text = NULL;
    struct minica_err err = {{0}};
    assert_int_equal(minica_nginx_snippet(&o, &text, &err), 0);
    const char *want[] = {
        "proxy_pass https://up.internal.svc;",
        "proxy_ssl_verify on;",
        "proxy_ssl_trusted_certificate /etc/nginx/certs/ca.crt;",
        "proxy_ssl_verify_depth 2;",
        "proxy_ssl_server_name on;",
        "proxy_ssl_name up.internal.svc;",
        "listen 443 ssl;",
        "ssl_certificate /etc/nginx/certs/up.internal.svc.fullchain.crt;",
        "ssl_certificate_key /etc/nginx/certs/up.internal.svc.key;",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(text, want[i]) == NULL)
            print_error("missing '%s' in:\n%s\n", want[i], text);
        assert_non_null(strstr(text, want[i]));
    }
    assert_null(strstr(text, "ssl_verify_client"));
    assert_null(strstr(text, "proxy_ssl_certificate "));
    /* the snippet parses, and its location block passes the checker apart
     * from the file that does not exist here */
    struct minica_nginx_conf *conf = parse_ok(text);
    conf_done(conf);
    free(text);
}

static void test_snippet_with_client_adds_mtls(void **state)
{
    (void)state;
    struct minica_nginx_snippet_opts o = {
        "up.internal.svc", "proxy.internal.svc", "/c d", 0, 0, NULL};
    char *text = NULL;
    struct minica_err err = {{0}};
    assert_int_equal(minica_nginx_snippet(&o, &text, &err), 0);
    assert_non_null(
        strstr(text, "proxy_ssl_certificate \"/c d/proxy.internal.svc.fullchain.crt\";"));
    assert_non_null(strstr(text, "proxy_ssl_certificate_key \"/c d/proxy.internal.svc.key\";"));
    assert_non_null(strstr(text, "ssl_client_certificate \"/c d/ca.crt\";"));
    assert_non_null(strstr(text, "ssl_verify_client on;"));
    assert_non_null(strstr(text, "ssl_verify_depth 2;"));
    /* quoted paths come back intact through the reader */
    struct minica_nginx_conf *conf = parse_ok(text);
    int seen = 0;
    for (size_t i = 0; i < conf->root.nchildren; i++) {
        const struct minica_nginx_directive *d = conf->root.children[i];
        if (strcmp(d->args[0], "ssl_client_certificate") == 0) {
            assert_string_equal(d->args[1], "/c d/ca.crt");
            seen = 1;
        }
    }
    assert_true(seen);
    conf_done(conf);
    free(text);
}

/* One file for chain and key: what issue --pem-bundle and pem_bundle write. */
static void test_snippet_pem_bundle_names_one_file_twice(void **state)
{
    (void)state;
    struct minica_nginx_snippet_opts o = {
        "up.internal.svc", "proxy.internal.svc", "/c", 1, 0, NULL};
    char *text = NULL;
    struct minica_err err = {{0}};
    assert_int_equal(minica_nginx_snippet(&o, &text, &err), 0);
    assert_non_null(strstr(text, "\nssl_certificate /c/up.internal.svc.pem;"));
    assert_non_null(strstr(text, "\nssl_certificate_key /c/up.internal.svc.pem;"));
    assert_non_null(strstr(text, "proxy_ssl_certificate /c/proxy.internal.svc.pem;"));
    assert_non_null(strstr(text, "proxy_ssl_certificate_key /c/proxy.internal.svc.pem;"));
    assert_null(strstr(text, ".key;"));
    assert_null(strstr(text, ".fullchain.crt"));
    free(text);
}

static void test_snippet_refuses_unwritable_names_and_paths(void **state)
{
    (void)state;
    char *text = NULL;
    struct minica_err err = {{0}};
    struct minica_nginx_snippet_opts wild = {"*.internal.svc", NULL, "/x", 0, 0, NULL};
    assert_int_equal(minica_nginx_snippet(&wild, &text, &err), MINICA_EINVAL);
    struct minica_nginx_snippet_opts inj = {"a;b", NULL, "/x", 0, 0, NULL};
    assert_int_not_equal(minica_nginx_snippet(&inj, &text, &err), 0);
    struct minica_nginx_snippet_opts dollar = {"a.svc", NULL, "/x/$host", 0, 0, NULL};
    assert_int_equal(minica_nginx_snippet(&dollar, &text, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "$"));
    assert_null(text);
}

/* proxy_ssl_name IP fails in nginx (host-name rules only): no snippet for it. */
static void test_snippet_refuses_ip_names(void **state)
{
    (void)state;
    const char *ips[] = {"127.0.0.1", "10.0.2.88", "::1", "fd00::1"};
    for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
        char *text = NULL;
        struct minica_err err = {{0}};
        struct minica_nginx_snippet_opts o = {ips[i], NULL, "/x", 0, 0, NULL};
        assert_int_equal(minica_nginx_snippet(&o, &text, &err), MINICA_EINVAL);
        assert_null(text);
        if (strstr(err.msg, "issue a DNS name") == NULL ||
            strstr(err.msg, "ignores IP SANs") == NULL)
            print_error("refusal without the fix: %s\n", err.msg);
        assert_non_null(strstr(err.msg, "issue a DNS name"));
        assert_non_null(strstr(err.msg, "ignores IP SANs"));
        assert_null(strchr(err.msg, '\n'));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenizer_splits_directives_and_blocks),
        cmocka_unit_test(test_tokenizer_unquotes_and_unescapes),
        cmocka_unit_test(test_tokenizer_skips_comments_only_at_word_start),
        cmocka_unit_test(test_tokenizer_keeps_variables_with_braces),
        cmocka_unit_test(test_tokenizer_counts_lines_inside_strings),
        cmocka_unit_test(test_tokenizer_reports_errors_with_lines),
        cmocka_unit_test(test_tokenizer_limits_nesting),
        cmocka_unit_test(test_parse_buffer_does_not_follow_include),
        cmocka_unit_test(test_include_follows_files_and_sorted_globs),
        cmocka_unit_test(test_include_glob_without_match_is_fine_but_missing_file_is_not),
        cmocka_unit_test(test_include_detects_loops),
        cmocka_unit_test(test_include_resolves_against_prefix_then_including_dir),
        cmocka_unit_test(test_include_depth_is_limited),
        cmocka_unit_test(test_check_finds_https_without_verify),
        cmocka_unit_test(test_check_finds_verify_off_once),
        cmocka_unit_test(test_check_finds_verify_without_trusted_certificate),
        cmocka_unit_test(test_check_finds_missing_trusted_certificate_file),
        cmocka_unit_test(test_check_finds_default_and_short_depth),
        cmocka_unit_test(test_check_depth_one_is_a_note_and_zero_a_finding),
        cmocka_unit_test(test_check_inherits_from_server_http_and_outer_location),
        cmocka_unit_test(test_check_treats_upstream_and_variables_as_https),
        cmocka_unit_test(test_check_ignores_stream_context),
        cmocka_unit_test(test_check_reports_unparsable_and_expired_trusted_certificate),
        cmocka_unit_test(test_check_resolves_relative_trusted_path_against_conf_dir),
        cmocka_unit_test(test_check_finds_ip_upstream_without_dns_name),
        cmocka_unit_test(test_check_finds_proxy_ssl_name_ip_once),
        cmocka_unit_test(test_check_inherits_proxy_ssl_name),
        cmocka_unit_test(test_check_ip_name_needs_verify_on),
        cmocka_unit_test(test_check_ip_upstream_is_a_finding_not_a_note),
        cmocka_unit_test(test_snippet_has_the_verifying_directives),
        cmocka_unit_test(test_snippet_with_client_adds_mtls),
        cmocka_unit_test(test_snippet_pem_bundle_names_one_file_twice),
        cmocka_unit_test(test_snippet_refuses_unwritable_names_and_paths),
        cmocka_unit_test(test_snippet_refuses_ip_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
