/* Unit tests for passphrase.c and the [keys] section of minica.conf: the
 * first line of a file only root or its user can read, a systemd
 * credential, and every way a source is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ca/passphrase.h"
#include "minica/policy.h"
#include "testutil.h"

static char *dir;

static int setup(void **state)
{
    dir = tu_tempdir();
    return 0;
}

static int teardown(void **state)
{
    tu_rmtree(dir);
    free(dir);
    unsetenv("CREDENTIALS_DIRECTORY");
    return 0;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    unlink(path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static int read_file(const char *content, size_t len, mode_t mode, struct minica_passphrase *p,
                     struct minica_err *err)
{
    struct minica_keys_conf keys;
    memset(&keys, 0, sizeof(keys));
    snprintf(keys.passphrase_file, sizeof(keys.passphrase_file), "%s/pass", dir);
    write_file(keys.passphrase_file, content, len, mode);
    return minica_passphrase_read(&keys, p, err);
}

static void test_passphrase_first_line_without_newline(void **state)
{
    struct minica_passphrase p;
    struct minica_err err;
    assert_int_equal(read_file("s3cret\nsecond line\n", 19, 0600, &p, &err), 0);
    assert_int_equal(p.len, 6);
    assert_memory_equal(p.buf, "s3cret", 6);
    assert_int_equal(read_file("no newline", 10, 0400, &p, &err), 0);
    assert_int_equal(p.len, 10);
    /* Like openssl's -passin file:, only the \n goes; spaces stay. */
    assert_int_equal(read_file(" a b \r\n", 7, 0600, &p, &err), 0);
    assert_int_equal(p.len, 6);
    minica_passphrase_wipe(&p);
    assert_int_equal(p.len, 0);
}

static void test_passphrase_refuses_group_or_other_bits(void **state)
{
    static const mode_t modes[] = {0640, 0604, 0620, 0602, 0610, 0601, 0644, 0666};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        struct minica_passphrase p;
        struct minica_err err;
        assert_int_equal(read_file("s3cret\n", 7, modes[i], &p, &err), MINICA_EIO);
        assert_non_null(strstr(err.msg, "chmod 600"));
        assert_int_equal(p.len, 0);
    }
}

static void test_passphrase_refuses_symlink_dir_fifo_empty(void **state)
{
    struct minica_passphrase p;
    struct minica_err err;
    struct minica_keys_conf keys;
    char target[4096];
    assert_int_equal(read_file("s3cret\n", 7, 0600, &p, &err), 0);
    memset(&keys, 0, sizeof(keys));
    snprintf(target, sizeof(target), "%s/pass", dir);
    snprintf(keys.passphrase_file, sizeof(keys.passphrase_file), "%s/link", dir);
    assert_int_equal(symlink(target, keys.passphrase_file), 0);
    assert_int_equal(minica_passphrase_read(&keys, &p, &err), MINICA_EIO);
    assert_non_null(strstr(err.msg, "symbolic link"));
    snprintf(keys.passphrase_file, sizeof(keys.passphrase_file), "%s", dir);
    assert_int_not_equal(minica_passphrase_read(&keys, &p, &err), 0);
    snprintf(keys.passphrase_file, sizeof(keys.passphrase_file), "%s/fifo", dir);
    assert_int_equal(mkfifo(keys.passphrase_file, 0600), 0);
    assert_int_equal(minica_passphrase_read(&keys, &p, &err), MINICA_EIO);
    assert_non_null(strstr(err.msg, "not a regular file"));
    assert_int_equal(read_file("\nsecond\n", 8, 0600, &p, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "empty"));
    assert_int_equal(read_file("a\0b\n", 4, 0600, &p, &err), MINICA_EINVAL);
    char *big = malloc(MINICA_PASSPHRASE_FILE_MAX + 1);
    memset(big, 'a', MINICA_PASSPHRASE_FILE_MAX + 1);
    assert_int_equal(read_file(big, MINICA_PASSPHRASE_FILE_MAX + 1, 0600, &p, &err), MINICA_EINVAL);
    assert_int_equal(read_file(big, MINICA_PASSPHRASE_MAX + 1, 0600, &p, &err), MINICA_EINVAL);
    assert_int_equal(read_file(big, MINICA_PASSPHRASE_MAX, 0600, &p, &err), 0);
    free(big);
    memset(&keys, 0, sizeof(keys));
    assert_int_equal(minica_passphrase_read(&keys, &p, &err), MINICA_EINVAL);
}

static void test_passphrase_from_systemd_credential(void **state)
{
    struct minica_passphrase p;
    struct minica_err err;
    struct minica_keys_conf keys;
    char path[4200];
    memset(&keys, 0, sizeof(keys));
    snprintf(keys.passphrase_credential, sizeof(keys.passphrase_credential), "ca-pass");
    unsetenv("CREDENTIALS_DIRECTORY");
    assert_int_equal(minica_passphrase_read(&keys, &p, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "LoadCredentialEncrypted=ca-pass"));
    snprintf(path, sizeof(path), "%s/ca-pass", dir);
    write_file(path, "from-systemd\n", 13, 0400);
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    assert_int_equal(minica_passphrase_read(&keys, &p, &err), 0);
    assert_int_equal(p.len, 12);
    assert_memory_equal(p.buf, "from-systemd", 12);
    assert_non_null(strstr(p.source, "credential ca-pass"));
    chmod(path, 0440);
    assert_int_equal(minica_passphrase_read(&keys, &p, &err), MINICA_EIO);
    setenv("CREDENTIALS_DIRECTORY", "relative", 1);
    assert_int_equal(minica_passphrase_read(&keys, &p, &err), MINICA_EINVAL);
}

static int load(const char *text, struct minica_policy *p, struct minica_err *err)
{
    return minica_policy_load_text(p, "minica.conf", text, err);
}

static void test_keys_section_parsed_and_checked(void **state)
{
    struct minica_policy p;
    struct minica_err err;
    assert_int_equal(load("[keys]\npassphrase_file = /etc/minica/ca.pass\n", &p, &err), 0);
    assert_string_equal(p.keys.passphrase_file, "/etc/minica/ca.pass");
    assert_true(minica_keys_conf_is_set(&p.keys));
    assert_int_equal(load("[keys]\npassphrase_credential = minica\n", &p, &err), 0);
    assert_string_equal(p.keys.passphrase_credential, "minica");
    assert_int_equal(load("[keys]\npassphrase_file =\n", &p, &err), 0);
    assert_false(minica_keys_conf_is_set(&p.keys));
    assert_int_not_equal(load("[keys]\npassphrase = hunter2\n", &p, &err), 0);
    assert_non_null(strstr(err.msg, "unknown key 'passphrase' in [keys]"));
    assert_int_not_equal(load("[keys]\npassphrase_file = ca.pass\n", &p, &err), 0);
    assert_non_null(strstr(err.msg, "absolute"));
    assert_int_not_equal(load("[keys]\npassphrase_credential = a/b\n", &p, &err), 0);
    assert_int_not_equal(load("[keys]\npassphrase_credential = ..\n", &p, &err), 0);
    assert_int_not_equal(
        load("[keys]\npassphrase_file = /x\npassphrase_credential = y\n", &p, &err), 0);
    assert_non_null(strstr(err.msg, "both"));
    /* The keys-only reader sees [keys] and ignores the rest. */
    struct minica_keys_conf k;
    assert_int_equal(
        minica_keys_conf_load_text(&k, "minica.conf",
                                   "[policy]\nmax_ttl = 1d\n[keys]\npassphrase_file = /p\n", &err),
        0);
    assert_string_equal(k.passphrase_file, "/p");
    /* and init's minica.conf carries it, and reads back */
    minica_policy_init(&p);
    snprintf(p.keys.passphrase_file, sizeof(p.keys.passphrase_file), "/etc/minica/ca.pass");
    char *text = minica_policy_render(&p);
    assert_non_null(text);
    struct minica_policy back;
    assert_int_equal(load(text, &back, &err), 0);
    assert_string_equal(back.keys.passphrase_file, "/etc/minica/ca.pass");
    free(text);
    minica_policy_init(&p);
    text = minica_policy_render(&p);
    assert_int_equal(load(text, &back, &err), 0);
    assert_false(minica_keys_conf_is_set(&back.keys));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_passphrase_first_line_without_newline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_passphrase_refuses_group_or_other_bits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_passphrase_refuses_symlink_dir_fifo_empty, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_passphrase_from_systemd_credential, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_section_parsed_and_checked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
