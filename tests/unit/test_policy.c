/* Unit tests for the issuance policy: DNS suffix boundaries, IPv4/IPv6 CIDR
 * edges, the wildcard rule, TTL limits and minica.conf errors with file:line.
 * Name syntax itself is test_names's job. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "minica/policy.h"
#include "testutil.h"

/* Loads text as DIR/minica.conf; returns the code, the message in err. */
static int load(struct minica_policy *p, const char *text, struct minica_err *err, char *path,
                size_t pathlen)
{
    char *dir = tu_tempdir();
    snprintf(path, pathlen, "%s/minica.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    int ret = minica_policy_load(p, path, err);
    tu_rmtree(dir);
    free(dir);
    return ret;
}

static void load_ok(struct minica_policy *p, const char *text)
{
    struct minica_err err;
    char path[4200];
    if (load(p, text, &err, path, sizeof(path)) != 0)
        fail_msg("load: %s", err.msg);
}

/* The error for text names the file and this line. */
static void expect_error_at(const char *text, int line, const char *needle)
{
    struct minica_policy p;
    struct minica_err err;
    char path[4200], want[4300];
    assert_int_equal(load(&p, text, &err, path, sizeof(path)), MINICA_EINVAL);
    snprintf(want, sizeof(want), "%s:%d: ", path, line);
    if (strncmp(err.msg, want, strlen(want)) != 0 || strstr(err.msg, needle) == NULL)
        fail_msg("error '%s' does not start with '%s' and mention '%s'", err.msg, want, needle);
}

static int check(const struct minica_policy *p, const char *text, struct minica_err *err)
{
    struct minica_name name;
    struct minica_err perr;
    if (minica_name_parse(text, &name, &perr) != 0)
        fail_msg("parse %s: %s", text, perr.msg);
    return minica_policy_check_name(p, &name, err);
}

static void allowed(const struct minica_policy *p, const char *text)
{
    struct minica_err err;
    if (check(p, text, &err) != 0)
        fail_msg("%s refused: %s", text, err.msg);
}

static void refused(const struct minica_policy *p, const char *text, const char *message)
{
    struct minica_err err;
    assert_int_equal(check(p, text, &err), MINICA_EPOLICY);
    if (message != NULL && strcmp(err.msg, message) != 0)
        fail_msg("message '%s', wanted '%s'", err.msg, message);
}

static void test_policy_defaults(void **state)
{
    (void)state;
    struct minica_policy p;
    struct minica_err err;
    assert_int_equal(minica_policy_load(&p, "/nonexistent/minica.conf", &err), 0);
    assert_int_equal(p.default_ttl, 90 * 86400);
    assert_int_equal(p.max_ttl, 365 * 86400);
    assert_int_equal(p.allow_wildcards, 0);
    assert_int_equal(p.default_key_type, MINICA_KEY_EC_P256);
    allowed(&p, "www.example.com");
    allowed(&p, "8.8.8.8");
    refused(&p, "*.example.com", NULL);
}

static void test_policy_dns_suffix_needs_a_label_boundary(void **state)
{
    (void)state;
    struct minica_policy p;
    load_ok(&p, "[policy]\npermit_dns = internal.svc\n");
    allowed(&p, "internal.svc");
    allowed(&p, "a.internal.svc");
    allowed(&p, "a.b.INTERNAL.svc");
    refused(&p, "evil-internal.svc",
            "evil-internal.svc is outside the permitted DNS names (internal.svc)");
    refused(&p, "xinternal.svc", NULL);
    refused(&p, "internal.svc.evil.com", NULL);
    refused(&p, "svc", NULL);
    refused(&p, "www.example.com",
            "www.example.com is outside the permitted DNS names (internal.svc)");
}

static void test_policy_lists_every_permitted_suffix(void **state)
{
    (void)state;
    struct minica_policy p;
    load_ok(&p, "[policy]\npermit_dns = internal.svc, .corp.example\n");
    allowed(&p, "db.corp.example");
    refused(&p, "example",
            "example is outside the permitted DNS names (internal.svc, corp.example)");
}

static void test_policy_ipv4_and_ipv6_ranges(void **state)
{
    (void)state;
    struct minica_policy p;
    load_ok(&p, "[policy]\npermit_ip = 10.0.0.0/8, fd00::/8\n");
    allowed(&p, "10.0.0.0");
    allowed(&p, "10.255.255.255");
    refused(&p, "11.0.0.0", "11.0.0.0 is outside the permitted IP ranges (10.0.0.0/8, fd00::/8)");
    refused(&p, "9.255.255.255", NULL);
    allowed(&p, "fd12:3456::1");
    allowed(&p, "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    refused(&p, "fe80::1", NULL);
    refused(&p, "2001:db8::1", NULL);
    /* A v4-mapped v6 address is not the v4 address for policy purposes. */
    refused(&p, "::ffff:10.0.0.1", NULL);
    /* Only IP ranges were restricted: DNS names stay free. */
    allowed(&p, "www.example.com");
}

static void test_policy_cidr_edges(void **state)
{
    (void)state;
    struct minica_policy p;
    load_ok(&p, "[policy]\npermit_ip = 0.0.0.0/0\n");
    allowed(&p, "0.0.0.0");
    allowed(&p, "255.255.255.255");
    refused(&p, "::1", NULL); /* /0 of IPv4 is all of IPv4, not IPv6 */
    load_ok(&p, "[policy]\npermit_ip = 192.168.1.1/32, 2001:db8::1/128\n");
    allowed(&p, "192.168.1.1");
    refused(&p, "192.168.1.0", NULL);
    refused(&p, "192.168.1.2", NULL);
    allowed(&p, "2001:db8::1");
    refused(&p, "2001:db8::2", NULL);
    refused(&p, "2001:db8::", NULL);
    load_ok(&p, "[policy]\npermit_ip = ::/0\n");
    allowed(&p, "::");
    allowed(&p, "ffff::1");
    refused(&p, "10.0.0.1", NULL);
    /* Prefix lengths that do not fall on a byte. */
    load_ok(&p, "[policy]\npermit_ip = 10.0.0.0/9\n");
    allowed(&p, "10.127.255.255");
    refused(&p, "10.128.0.0", NULL);
}

static void test_policy_wildcard_rule(void **state)
{
    (void)state;
    struct minica_policy p;
    load_ok(&p, "[policy]\npermit_dns = internal.svc\n");
    refused(&p, "*.internal.svc",
            "*.internal.svc is a wildcard and the policy does not allow wildcards "
            "(allow_wildcards = no)");
    load_ok(&p, "[policy]\npermit_dns = internal.svc\nallow_wildcards = yes\n");
    allowed(&p, "*.internal.svc");
    allowed(&p, "*.a.internal.svc");
    refused(&p, "*.evil-internal.svc", NULL);
    /* "*.internal.svc" would cover names outside web.internal.svc. */
    load_ok(&p, "[policy]\npermit_dns = web.internal.svc\nallow_wildcards = yes\n");
    refused(&p, "*.internal.svc",
            "*.internal.svc is outside the permitted DNS names (web.internal.svc)");
    allowed(&p, "*.web.internal.svc");
}

static void test_policy_ttl_default_and_max(void **state)
{
    (void)state;
    struct minica_policy p;
    struct minica_err err;
    load_ok(&p, "[policy]\ndefault_ttl = 30d\nmax_ttl = 60d\n");
    assert_int_equal(p.default_ttl, 30 * 86400);
    assert_int_equal(minica_policy_check_ttl(&p, 60 * 86400, &err), 0);
    assert_int_equal(minica_policy_check_ttl(&p, 60 * 86400 + 1, &err), MINICA_EPOLICY);
    assert_non_null(strstr(err.msg, "max_ttl = 60d"));
}

static void test_policy_default_ttl_above_max_is_an_error(void **state)
{
    (void)state;
    struct minica_policy p;
    struct minica_err err;
    char path[4200];
    assert_int_equal(load(&p, "[policy]\ndefault_ttl = 2y\n", &err, path, sizeof(path)),
                     MINICA_EINVAL);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "default_ttl (2y) exceeds max_ttl (1y)"));
}

/* A policy TTL under the floor would let issue and the agent make what
 * --ttl refuses (issue 20: "--ttl 1s issues a 1-second certificate"). */
static void test_policy_ttl_below_the_floor_is_an_error(void **state)
{
    (void)state;
    expect_error_at("[policy]\ndefault_ttl = 1s\n", 2, "shorter than the minimum TTL of 5m");
    expect_error_at("[policy]\nmax_ttl = 4m\n", 2, "shorter than the minimum TTL of 5m");
    struct minica_policy p;
    load_ok(&p, "[policy]\ndefault_ttl = 5m\nmax_ttl = 5m\n");
    assert_int_equal(p.max_ttl, 300);
}

static void test_policy_config_errors_name_file_and_line(void **state)
{
    (void)state;
    expect_error_at("# comment\n[policy]\ncolour = blue\n", 3, "unknown key 'colour'");
    expect_error_at("[policy]\n\ndefault_ttl = 5x\n", 3, "default_ttl");
    expect_error_at("[policy]\nmax_ttl = 0d\n", 2, "max_ttl");
    expect_error_at("[policy]\npermit_ip = 10.0.0.0/8, 10.0.0.0/33\n", 2, "10.0.0.0/33");
    expect_error_at("[policy]\npermit_ip = 10.0.0.1/8\n", 2, "host bits");
    expect_error_at("[policy]\npermit_dns = bad_name!\n", 2, "bad_name!");
    expect_error_at("[policy]\nallow_wildcards = maybe\n", 2, "allow_wildcards");
    expect_error_at("[policy]\ndefault_key_type = dsa\n", 2, "default_key_type");
    expect_error_at("[policy]\nmax_ttl = 1y\n[issuance]\nmax_ttl = 2y\n", 4,
                    "unknown section [issuance]");
}

static void test_policy_acme_defaults_off_eab_required_validate_permit_ip(void **state)
{
    (void)state;
    struct minica_policy p;
    load_ok(&p, "[policy]\npermit_ip = 10.0.0.0/8, fd00::/8\n");
    assert_int_equal(p.acme.enabled, 0);
    assert_int_equal(p.acme.eab_required, 1);
    assert_int_equal(p.acme.n_validate_ip, 2);
    assert_string_equal(p.acme.validate_ip[0].text, "10.0.0.0/8");
    assert_string_equal(p.acme.validate_ip[1].text, "fd00::/8");
    struct minica_policy d;
    minica_policy_init(&d);
    assert_int_equal(d.acme.enabled, 0);
    assert_int_equal(d.acme.eab_required, 1);
}

static void test_policy_acme_section_parsed(void **state)
{
    (void)state;
    struct minica_policy p;
    load_ok(&p, "[policy]\npermit_ip = 10.0.0.0/8\n[acme]\nenabled = yes\neab = optional\n"
                "validate_ip = 127.0.0.0/8, 10.20.0.0/16\n");
    assert_int_equal(p.acme.enabled, 1);
    assert_int_equal(p.acme.eab_required, 0);
    assert_int_equal(p.acme.n_validate_ip, 2);
    assert_string_equal(p.acme.validate_ip[0].text, "127.0.0.0/8");
    assert_string_equal(p.acme.validate_ip[1].text, "10.20.0.0/16");
    /* validate_ip narrows the validator only, not issuance. */
    assert_int_equal(p.n_permit_ip, 1);
    struct minica_err err;
    assert_int_equal(minica_policy_check_acme(&p, &err), 0);
}

static void test_policy_acme_enabled_without_any_range_refused(void **state)
{
    (void)state;
    struct minica_policy p;
    struct minica_err err;
    load_ok(&p, "[acme]\nenabled = yes\n");
    assert_int_equal(minica_policy_check_acme(&p, &err), MINICA_EINVAL);
    assert_string_equal(err.msg, "[acme] needs validate_ip or [policy] permit_ip: the validator "
                                 "must not dial just anything");
    load_ok(&p, "[acme]\nenabled = no\n");
    assert_int_equal(minica_policy_check_acme(&p, &err), 0);
    load_ok(&p, "[acme]\nenabled = yes\nvalidate_ip = ::1/128\n");
    assert_int_equal(minica_policy_check_acme(&p, &err), 0);
}

static void test_policy_acme_errors_name_file_and_line(void **state)
{
    (void)state;
    expect_error_at("[acme]\nenabled = yes\ncolour = blue\n", 3, "unknown key 'colour' in [acme]");
    expect_error_at("[acme]\nenabled = perhaps\n", 2, "enabled: expected yes or no");
    expect_error_at("[acme]\neab = sometimes\n", 2, "eab: expected required or optional");
    expect_error_at("[acme]\n\nvalidate_ip = 10.0.0.1/8\n", 3, "validate_ip");
    /* [policy]'s keys are not [acme]'s. */
    expect_error_at("[acme]\npermit_ip = 10.0.0.0/8\n", 2, "unknown key 'permit_ip' in [acme]");
}

static void test_policy_render_has_commented_acme_example(void **state)
{
    (void)state;
    struct minica_policy p;
    minica_policy_init(&p);
    char *text = minica_policy_render(&p);
    assert_non_null(text);
    assert_non_null(strstr(text, "# [acme]\n# enabled = yes\n# eab = required\n"));
    /* What init writes loads back, with ACME still off. */
    struct minica_policy q;
    load_ok(&q, text);
    assert_int_equal(q.acme.enabled, 0);
    assert_non_null(strstr(text, "# [store]\n# database = postgresql://"));
    assert_string_equal(q.store.database, "");
    free(text);
}

static void test_policy_store_absent_is_the_sqlite_file(void **state)
{
    (void)state;
    struct minica_policy p;
    load_ok(&p, "[policy]\nmax_ttl = 1y\n");
    assert_string_equal(p.store.database, "");
    /* An empty value is the default too. */
    load_ok(&p, "[store]\ndatabase =\n");
    assert_string_equal(p.store.database, "");
}

static void test_policy_store_database_parsed(void **state)
{
    (void)state;
    struct minica_policy p;
    load_ok(&p,
            "[store]\ndatabase = postgresql://minica@db.internal/minica?passfile=/etc/pgpass\n");
    assert_string_equal(p.store.database,
                        "postgresql://minica@db.internal/minica?passfile=/etc/pgpass");
    load_ok(&p, "[policy]\n[store]\ndatabase = postgres:///minica?host=/run/postgresql\n");
    assert_string_equal(p.store.database, "postgres:///minica?host=/run/postgresql");
    /* host:port lists have colons after the user, not a password. */
    load_ok(&p, "[store]\ndatabase = postgresql://minica@a:5432,b:5433/minica\n");
}

static void test_policy_store_refuses_an_inline_password(void **state)
{
    (void)state;
    const char *want = "[store] database: put the password in a libpq passfile (passfile=/path "
                       "in the URI, mode 0600) or PGPASSFILE, not in minica.conf";
    expect_error_at("[store]\ndatabase = postgresql://minica:s3cret@db/minica\n", 2, want);
    expect_error_at("[store]\ndatabase = postgresql://minica:@db/minica\n", 2, want);
    expect_error_at("[store]\n\ndatabase = postgres://db/minica?sslmode=require&password=x\n", 3,
                    want);
    /* libpq decodes parameter names: so must the check. */
    expect_error_at("[store]\ndatabase = postgresql://db/minica?pass%77ord=x\n", 2, want);
    /* The message never repeats the secret. */
    struct minica_policy p;
    struct minica_err err;
    char path[4200];
    assert_int_equal(
        load(&p, "[store]\ndatabase = postgresql://u:s3cret@db/m\n", &err, path, sizeof(path)),
        MINICA_EINVAL);
    assert_null(strstr(err.msg, "s3cret"));
}

static void test_policy_store_refuses_paths_and_other_schemes(void **state)
{
    (void)state;
    expect_error_at(
        "[store]\ndatabase = /var/lib/minica/other.db\n", 2,
        "[store] database: expected a postgresql:// URI, not '/var/lib/minica/other.db'");
    expect_error_at("[store]\ndatabase = minica.db\n", 2, "the SQLite inventory is always");
    expect_error_at("[store]\ndatabase = ./x://y\n", 2, "expected a postgresql:// URI");
    expect_error_at("[store]\ndatabase = mysql://db/minica\n", 2,
                    "[store] database: unknown scheme 'mysql' (expected postgresql:// or "
                    "postgres://)");
    expect_error_at("[store]\ndatabase = host=db dbname=minica\n", 2, "expected a postgresql://");
}

static void test_policy_store_unknown_key_names_the_line(void **state)
{
    (void)state;
    expect_error_at("[store]\ndatabase = postgresql:///m\npassword = x\n", 3,
                    "unknown key 'password' in [store] (known: database)");
    expect_error_at("[policy]\n[storage]\ndatabase = x\n", 3, "unknown section [storage]");
}

static void test_policy_store_conf_alone_ignores_the_policy(void **state)
{
    (void)state;
    struct minica_store_conf c;
    struct minica_err err;
    /* A broken [policy] is the policy's business: list and log still open. */
    assert_int_equal(minica_store_conf_load_text(&c, "minica.conf",
                                                 "[policy]\ncolour = blue\n[store]\ndatabase = "
                                                 "postgresql:///m\n[limits]\nmax = 1\n",
                                                 &err),
                     0);
    assert_string_equal(c.database, "postgresql:///m");
    assert_int_equal(
        minica_store_conf_load_text(&c, "minica.conf", "[store]\ndatabase = /x.db\n", &err),
        MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "minica.conf:2: [store] database"));
    assert_int_equal(minica_store_conf_load_text(&c, "minica.conf", "[policy]\n", &err), 0);
    assert_string_equal(c.database, "");
}

static void test_policy_store_target_check_outside_the_conf(void **state)
{
    (void)state;
    struct minica_err err;
    /* --db is the operator's own command line: a password is theirs to give. */
    assert_int_equal(minica_store_target_check("postgresql://u:pw@db/m", 0, &err), 0);
    assert_int_equal(minica_store_target_check("postgresql://u:pw@db/m", 1, &err), MINICA_EINVAL);
    assert_int_equal(minica_store_target_check("/tmp/x.db", 0, &err), MINICA_EINVAL);
    assert_int_equal(minica_store_target_check("sqlite:///tmp/x.db", 0, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "unknown scheme 'sqlite'"));
}

static void test_policy_keys_token_uris_parsed(void **state)
{
    (void)state;
    struct minica_policy p;
    struct minica_err err;
    char path[4200];
    assert_int_equal(load(&p,
                          "[keys]\nintermediate = pkcs11:token=ca;object=int-2\n"
                          "intermediate = pkcs11:token=ca;object=int-1\n"
                          "root = pkcs11:token=ca;object=root\npin_file = /etc/minica/pin\n",
                          &err, path, sizeof(path)),
                     0);
    assert_int_equal(p.keys.n_intermediate, 2);
    assert_string_equal(p.keys.intermediate[0], "pkcs11:token=ca;object=int-2");
    assert_string_equal(p.keys.intermediate[1], "pkcs11:token=ca;object=int-1");
    assert_string_equal(p.keys.root, "pkcs11:token=ca;object=root");
    assert_string_equal(p.keys.pin_file, "/etc/minica/pin");
    /* Not a passphrase: the key files stay plain. */
    assert_false(minica_keys_conf_is_set(&p.keys));
    /* What init writes reads back the same. */
    char *text = minica_policy_render(&p);
    assert_non_null(text);
    struct minica_policy back;
    assert_int_equal(minica_policy_load_text(&back, "rendered", text, &err), 0);
    free(text);
    assert_int_equal(back.keys.n_intermediate, 2);
    assert_string_equal(back.keys.intermediate[0], p.keys.intermediate[0]);
    assert_string_equal(back.keys.root, p.keys.root);
    assert_string_equal(back.keys.pin_file, p.keys.pin_file);
}

static void test_policy_keys_refuses_a_pin_in_the_uri(void **state)
{
    (void)state;
    expect_error_at("[keys]\nintermediate = pkcs11:token=ca;object=i?pin-value=1234\n", 2,
                    "[keys] intermediate: the URI holds a PIN (pin-value=)");
    expect_error_at("[keys]\nroot = pkcs11:token=ca;object=r;pin-value=1234\n", 2,
                    "use pin_file or pin_credential");
    expect_error_at("[keys]\nintermediate = pkcs11:object=i?module-path=/m.so&pin-value=1\n", 2,
                    "pin-value");
    /* The message never repeats the PIN. */
    struct minica_policy p;
    struct minica_err err;
    char path[4200];
    assert_int_equal(
        load(&p, "[keys]\nroot = pkcs11:object=r?pin-value=s3cret\n", &err, path, sizeof(path)),
        MINICA_EINVAL);
    assert_null(strstr(err.msg, "s3cret"));
    /* pin-source names a file, which is no secret. */
    assert_int_equal(load(&p, "[keys]\nroot = pkcs11:object=r?pin-source=file:/etc/p\n", &err, path,
                          sizeof(path)),
                     0);
}

static void test_policy_keys_token_errors_name_the_line(void **state)
{
    (void)state;
    expect_error_at("[keys]\nintermediate = /var/lib/minica/intermediate.key\n", 2,
                    "[keys] intermediate: a PKCS#11 URI (pkcs11:...)");
    expect_error_at("[keys]\nroot = pkcs11:object=a\nroot = pkcs11:object=b\n", 3,
                    "[keys] root: given twice");
    expect_error_at("[keys]\npin_file = token.pin\n", 2, "[keys] pin_file: an absolute path");
    expect_error_at("[keys]\npin_credential = a/b\n", 2, "[keys] pin_credential: a credential");
    expect_error_at("[keys]\npin_file = /p\npin_credential = c\n", 3,
                    "pin_file and pin_credential both set");
    expect_error_at("[keys]\npin = 1234\n", 2, "unknown key 'pin' in [keys]");
    char text[9 * 64 + 16] = "[keys]\n";
    for (int i = 0; i < 9; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text),
                 "intermediate = pkcs11:object=i%d\n", i);
    expect_error_at(text, 10, "too many lines");
}

static void test_policy_text_add_key_goes_first_in_keys(void **state)
{
    (void)state;
    /* Into the operator's [keys], comments and order kept. */
    char *out = minica_policy_text_add_key(
        "# mine\n[policy]\nmax_ttl = 365d\n\n# [keys]\n[keys]\n# old one\nintermediate = "
        "pkcs11:object=a\n[acme]\n",
        "intermediate", "pkcs11:object=b");
    assert_non_null(out);
    assert_string_equal(out, "# mine\n[policy]\nmax_ttl = 365d\n\n# [keys]\n[keys]\n"
                             "intermediate = pkcs11:object=b\n# old one\n"
                             "intermediate = pkcs11:object=a\n[acme]\n");
    struct minica_policy p;
    struct minica_err err;
    assert_int_equal(minica_policy_load_text(&p, "edited", out, &err), 0);
    assert_string_equal(p.keys.intermediate[0], "pkcs11:object=b");
    free(out);
    /* A commented "# [keys]" is not a section: one is appended. */
    out = minica_policy_text_add_key("[policy]\n# [keys]\nmax_ttl = 365d", "intermediate",
                                     "pkcs11:object=c");
    assert_non_null(out);
    assert_string_equal(out, "[policy]\n# [keys]\nmax_ttl = 365d\n\n[keys]\nintermediate = "
                             "pkcs11:object=c\n");
    free(out);
    /* Indented, with CRLF, last line without a newline. */
    out = minica_policy_text_add_key("  [keys] \r", "root", "pkcs11:object=r");
    assert_string_equal(out, "  [keys] \r\nroot = pkcs11:object=r\n");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_defaults),
        cmocka_unit_test(test_policy_dns_suffix_needs_a_label_boundary),
        cmocka_unit_test(test_policy_lists_every_permitted_suffix),
        cmocka_unit_test(test_policy_ipv4_and_ipv6_ranges),
        cmocka_unit_test(test_policy_cidr_edges),
        cmocka_unit_test(test_policy_wildcard_rule),
        cmocka_unit_test(test_policy_ttl_default_and_max),
        cmocka_unit_test(test_policy_default_ttl_above_max_is_an_error),
        cmocka_unit_test(test_policy_ttl_below_the_floor_is_an_error),
        cmocka_unit_test(test_policy_config_errors_name_file_and_line),
        cmocka_unit_test(test_policy_acme_defaults_off_eab_required_validate_permit_ip),
        cmocka_unit_test(test_policy_acme_section_parsed),
        cmocka_unit_test(test_policy_acme_enabled_without_any_range_refused),
        cmocka_unit_test(test_policy_acme_errors_name_file_and_line),
        cmocka_unit_test(test_policy_render_has_commented_acme_example),
        cmocka_unit_test(test_policy_store_absent_is_the_sqlite_file),
        cmocka_unit_test(test_policy_store_database_parsed),
        cmocka_unit_test(test_policy_store_refuses_an_inline_password),
        cmocka_unit_test(test_policy_store_refuses_paths_and_other_schemes),
        cmocka_unit_test(test_policy_store_unknown_key_names_the_line),
        cmocka_unit_test(test_policy_store_conf_alone_ignores_the_policy),
        cmocka_unit_test(test_policy_store_target_check_outside_the_conf),
        cmocka_unit_test(test_policy_keys_token_uris_parsed),
        cmocka_unit_test(test_policy_keys_refuses_a_pin_in_the_uri),
        cmocka_unit_test(test_policy_keys_token_errors_name_the_line),
        cmocka_unit_test(test_policy_text_add_key_goes_first_in_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
