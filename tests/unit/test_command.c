/* Unit tests for the command runner behind check_command and reload_command:
 * exit codes in words, "command not found", signals by name, the timeout that
 * kills a hanging command (and what it started), and the sbin PATH for cron;
 * and for minica_exec_capture, which drives certutil and keytool: argv
 * untouched by any shell, stdin fed, stdout kept, stderr's last line told. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/command.h"
#include "testutil.h"

static void test_command_success_is_zero(void **state)
{
    (void)state;
    struct minica_command_result r;
    struct minica_err err;
    assert_int_equal(minica_command_run_timeout("exit 0", 5, &r, &err), 0);
    assert_true(r.exited);
    assert_int_equal(r.exit_code, 0);
}

static void test_command_failure_names_status(void **state)
{
    (void)state;
    struct minica_command_result r;
    struct minica_err err;
    assert_int_equal(minica_command_run_timeout("exit 3", 5, &r, &err), MINICA_EIO);
    assert_int_equal(r.exit_code, 3);
    assert_non_null(strstr(err.msg, "'exit 3' exited with status 3"));
}

static void test_command_not_found_names_the_program(void **state)
{
    (void)state;
    struct minica_command_result r;
    struct minica_err err;
    assert_int_equal(minica_command_run_timeout("no-such-program-xyz -s reload", 5, &r, &err),
                     MINICA_EIO);
    assert_true(r.not_found);
    assert_non_null(strstr(err.msg, "command not found"));
    assert_non_null(strstr(err.msg, "'no-such-program-xyz'"));
}

static void test_command_signal_is_named(void **state)
{
    (void)state;
    struct minica_command_result r;
    struct minica_err err;
    assert_int_equal(minica_command_run_timeout("kill -KILL $$", 5, &r, &err), MINICA_EIO);
    assert_false(r.exited);
    assert_int_equal(r.signal, 9);
    assert_non_null(strstr(err.msg, "SIGKILL"));
}

static void test_command_timeout_kills_the_whole_group(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char cmd[4400], marker[4200];
    snprintf(marker, sizeof(marker), "%s/survived", dir);
    /* A child of the shell that would write the marker if it outlived us. */
    snprintf(cmd, sizeof(cmd), "(sleep 3; touch '%s') & sleep 30", marker);
    struct minica_command_result r;
    struct minica_err err;
    assert_int_equal(minica_command_run_timeout(cmd, 1, &r, &err), MINICA_EIO);
    assert_true(r.timed_out);
    assert_non_null(strstr(err.msg, "did not finish within 1s"));
    sleep(4);
    assert_int_equal(access(marker, F_OK), -1);
    tu_rmtree(dir);
    free(dir);
}

static void test_command_stdin_is_empty(void **state)
{
    (void)state;
    struct minica_err err;
    /* read gets EOF at once instead of waiting on a terminal. */
    assert_int_equal(minica_command_run_timeout("read x; test -z \"$x\"", 5, NULL, &err), 0);
}

static void test_path_adds_missing_sbin_dirs(void **state)
{
    (void)state;
    char out[512];
    minica_command_path("/usr/bin:/bin", out, sizeof(out));
    assert_string_equal(out, "/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin");
    minica_command_path("/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin", out, sizeof(out));
    assert_string_equal(out, "/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin");
    minica_command_path(NULL, out, sizeof(out));
    assert_string_equal(out, "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin");
}

static void test_command_sees_sbin_under_crons_path(void **state)
{
    (void)state;
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", "/usr/bin:/bin", 1);
    struct minica_err err;
    int ret = minica_command_run_timeout("case :$PATH: in *:/usr/sbin:*) exit 0;; esac; exit 1", 5,
                                         NULL, &err);
    if (old != NULL) {
        setenv("PATH", old, 1);
        free(old);
    }
    assert_int_equal(ret, 0);
}

static void test_exec_passes_argv_untouched(void **state)
{
    (void)state;
    /* A shell would expand these; exec must not. */
    const char *const argv[] = {"printf", "%s|%s", "$HOME", "a b;c", NULL};
    char *out = NULL;
    struct minica_err err;
    assert_int_equal(minica_exec_capture(argv, NULL, 0, &out, 5, NULL, &err), 0);
    assert_string_equal(out, "$HOME|a b;c");
    free(out);
}

static void test_exec_feeds_stdin_and_keeps_stdout(void **state)
{
    (void)state;
    /* More than a pipe holds, both ways: neither side may block the other. */
    size_t len = 300 * 1024;
    char *in = malloc(len);
    assert_non_null(in);
    for (size_t i = 0; i < len; i++)
        in[i] = (char)('a' + i % 26);
    const char *const argv[] = {"cat", NULL};
    char *out = NULL;
    struct minica_err err;
    assert_int_equal(minica_exec_capture(argv, in, len, &out, 10, NULL, &err), 0);
    assert_int_equal(strlen(out), len);
    assert_memory_equal(out, in, len);
    free(out);
    free(in);
}

static void test_exec_failure_tells_last_stderr_line(void **state)
{
    (void)state;
    const char *const argv[] = {"sh", "-c", "echo first >&2; echo 'the reason' >&2; exit 4", NULL};
    char *out = NULL;
    struct minica_command_result r;
    struct minica_err err;
    assert_int_equal(minica_exec_capture(argv, NULL, 0, &out, 5, &r, &err), MINICA_EIO);
    assert_int_equal(r.exit_code, 4);
    assert_non_null(strstr(err.msg, "sh exited with status 4: the reason"));
    assert_null(strstr(err.msg, "first"));
    free(out);
}

static void test_exec_missing_program_is_enoent(void **state)
{
    (void)state;
    const char *const argv[] = {"minica-no-such-tool", NULL};
    char *out = NULL;
    struct minica_command_result r;
    struct minica_err err;
    assert_int_equal(minica_exec_capture(argv, NULL, 0, &out, 5, &r, &err), MINICA_ENOENT);
    assert_true(r.not_found);
    assert_non_null(strstr(err.msg, "minica-no-such-tool: command not found"));
    free(out);
}

static void test_exec_timeout_kills_it(void **state)
{
    (void)state;
    const char *const argv[] = {"sleep", "30", NULL};
    char *out = NULL;
    struct minica_command_result r;
    struct minica_err err;
    assert_int_equal(minica_exec_capture(argv, NULL, 0, &out, 1, &r, &err), MINICA_EIO);
    assert_true(r.timed_out);
    assert_non_null(strstr(err.msg, "did not finish within 1s"));
    free(out);
}

static void test_exec_child_that_ignores_stdin_is_survived(void **state)
{
    (void)state;
    /* It exits without reading: our write gets EPIPE, not SIGPIPE. */
    static char in[256 * 1024];
    const char *const argv[] = {"true", NULL};
    char *out = NULL;
    struct minica_err err;
    assert_int_equal(minica_exec_capture(argv, in, sizeof(in), &out, 5, NULL, &err), 0);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_success_is_zero),
        cmocka_unit_test(test_command_failure_names_status),
        cmocka_unit_test(test_command_not_found_names_the_program),
        cmocka_unit_test(test_command_signal_is_named),
        cmocka_unit_test(test_command_timeout_kills_the_whole_group),
        cmocka_unit_test(test_command_stdin_is_empty),
        cmocka_unit_test(test_path_adds_missing_sbin_dirs),
        cmocka_unit_test(test_command_sees_sbin_under_crons_path),
        cmocka_unit_test(test_exec_passes_argv_untouched),
        cmocka_unit_test(test_exec_feeds_stdin_and_keeps_stdout),
        cmocka_unit_test(test_exec_failure_tells_last_stderr_line),
        cmocka_unit_test(test_exec_missing_program_is_enoent),
        cmocka_unit_test(test_exec_timeout_kills_it),
        cmocka_unit_test(test_exec_child_that_ignores_stdin_is_survived),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
