/* Unit tests for reading files a root run acts on (trustfile.h): the
 * directory above the file, its owner and mode, symlinks, a FIFO that must
 * not hang, the size cap, and the running user's own files. The tests run as
 * root; uid 65534 (nobody) stands for another local user. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/trustfile.h"
#include "minica/fsutil.h"
#include "testutil.h"

#define OTHER_UID 65534

struct fx {
    char *dir;
    char path[4200];
};

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    fx->dir = tu_tempdir();
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    tu_rmtree(fx->dir);
    free(fx->dir);
    free(fx);
    return 0;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* fx->dir/sub (mode) holding conf (0644, root): sub's path in out. */
static void file_in_subdir(struct fx *fx, mode_t mode, char *sub, size_t size)
{
    snprintf(sub, size, "%s/sub", fx->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(chmod(sub, mode), 0);
    snprintf(fx->path, sizeof(fx->path), "%s/conf", sub);
    write_text(fx->path, "[agent]\n", 0644);
}

static int read_it(const char *path, unsigned flags, char **buf, struct minica_err *err)
{
    size_t len = 0;
    int ret = minica_read_trusted_file(path, 1024, "agent config", flags, buf, &len, err);
    if (ret == 0)
        assert_int_equal(len, strlen(*buf));
    return ret;
}

static void test_trustfile_reads_a_root_file_in_a_private_dir(void **state)
{
    struct fx *fx = *state;
    snprintf(fx->path, sizeof(fx->path), "%s/conf", fx->dir);
    write_text(fx->path, "[agent]\nreload_command = true\n", 0644);
    char *buf = NULL;
    struct minica_err err;
    assert_int_equal(read_it(fx->path, 0, &buf, &err), 0);
    assert_string_equal(buf, "[agent]\nreload_command = true\n");
    free(buf);
    assert_int_equal(minica_check_path_strict(fx->path, &err), 0);
    assert_int_equal(minica_check_path_strict(fx->dir, &err), 0);
}

/* The review's attack: a root-owned 0644 file in a 0777 directory can be
 * exchanged by anyone for their own between any check and the read. */
static void test_trustfile_refuses_a_world_writable_dir_above(void **state)
{
    struct fx *fx = *state;
    char sub[4200], want[4300];
    file_in_subdir(fx, 0777, sub, sizeof(sub));
    char *buf = NULL;
    struct minica_err err;
    assert_int_equal(read_it(fx->path, 0, &buf, &err), MINICA_EFORBIDDEN);
    assert_null(buf);
    snprintf(want, sizeof(want), "directory %s is writable by group or others (mode 0777)", sub);
    assert_non_null(strstr(err.msg, want));
    snprintf(want, sizeof(want), "chmod go-w %s", sub);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, fx->path));
    assert_int_equal(minica_check_path_strict(fx->path, &err), MINICA_EFORBIDDEN);
    assert_non_null(strstr(err.msg, want));
}

static void test_trustfile_refuses_a_group_writable_dir_two_levels_up(void **state)
{
    struct fx *fx = *state;
    char sub[4200], deeper[4300], want[4400];
    snprintf(sub, sizeof(sub), "%s/a", fx->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(chmod(sub, 0775), 0);
    snprintf(deeper, sizeof(deeper), "%s/b", sub);
    assert_int_equal(mkdir(deeper, 0755), 0);
    snprintf(fx->path, sizeof(fx->path), "%s/conf", deeper);
    write_text(fx->path, "x\n", 0600);
    char *buf = NULL;
    struct minica_err err;
    assert_int_equal(read_it(fx->path, 0, &buf, &err), MINICA_EFORBIDDEN);
    snprintf(want, sizeof(want), "chmod go-w %s", sub);
    assert_non_null(strstr(err.msg, want));
}

/* /tmp: others may create entries, but not rename or remove root's. */
static void test_trustfile_accepts_a_sticky_dir(void **state)
{
    struct fx *fx = *state;
    char sub[4200];
    file_in_subdir(fx, 01777, sub, sizeof(sub));
    char *buf = NULL;
    struct minica_err err;
    assert_int_equal(read_it(fx->path, 0, &buf, &err), 0);
    free(buf);
    /* ... but an entry someone else owns in it is theirs to swap. */
    assert_int_equal(chown(fx->path, OTHER_UID, OTHER_UID), 0);
    assert_int_equal(read_it(fx->path, 0, &buf, &err), MINICA_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "is owned by uid 65534"));
}

static void test_trustfile_refuses_a_dir_owned_by_another_user(void **state)
{
    struct fx *fx = *state;
    char sub[4200], want[4300];
    file_in_subdir(fx, 0755, sub, sizeof(sub));
    assert_int_equal(chown(sub, OTHER_UID, OTHER_UID), 0);
    char *buf = NULL;
    struct minica_err err;
    assert_int_equal(read_it(fx->path, 0, &buf, &err), MINICA_EFORBIDDEN);
    snprintf(want, sizeof(want), "directory %s is owned by uid 65534, not by root", sub);
    assert_non_null(strstr(err.msg, want));
    snprintf(want, sizeof(want), "chown root %s", sub);
    assert_non_null(strstr(err.msg, want));
}

static void test_trustfile_refuses_a_file_owned_by_another_user(void **state)
{
    struct fx *fx = *state;
    snprintf(fx->path, sizeof(fx->path), "%s/conf", fx->dir);
    write_text(fx->path, "[agent]\n", 0644);
    assert_int_equal(chown(fx->path, OTHER_UID, OTHER_UID), 0);
    char *buf = NULL, want[4300];
    struct minica_err err;
    assert_int_equal(read_it(fx->path, 0, &buf, &err), MINICA_EFORBIDDEN);
    snprintf(want, sizeof(want),
             "agent config %s is owned by uid 65534, not by root: chown root %s", fx->path,
             fx->path);
    assert_string_equal(err.msg, want);
    /* 0600 does not help: its owner still decides what it says. */
    assert_int_equal(chmod(fx->path, 0600), 0);
    assert_int_equal(read_it(fx->path, MINICA_TRUST_SECRET, &buf, &err), MINICA_EFORBIDDEN);
    assert_int_equal(minica_check_path_strict(fx->path, &err), MINICA_EFORBIDDEN);
}

static void test_trustfile_refuses_a_writable_file(void **state)
{
    struct fx *fx = *state;
    snprintf(fx->path, sizeof(fx->path), "%s/conf", fx->dir);
    char *buf = NULL, want[4300];
    struct minica_err err;
    snprintf(want, sizeof(want), "chmod go-w %s", fx->path);
    static const mode_t modes[] = {0666, 0664, 0646, 0620};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        write_text(fx->path, "x\n", modes[i]);
        assert_int_equal(read_it(fx->path, 0, &buf, &err), MINICA_EFORBIDDEN);
        assert_non_null(strstr(err.msg, "may be changed by other users"));
        assert_non_null(strstr(err.msg, want));
    }
}

static void test_trustfile_secret_must_be_private(void **state)
{
    struct fx *fx = *state;
    snprintf(fx->path, sizeof(fx->path), "%s/token", fx->dir);
    char *buf = NULL, want[4300];
    struct minica_err err;
    snprintf(want, sizeof(want), "chmod 600 %s", fx->path);
    write_text(fx->path, "secret\n", 0640);
    assert_int_equal(read_it(fx->path, MINICA_TRUST_SECRET, &buf, &err), MINICA_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "is accessible by others (mode 640)"));
    assert_non_null(strstr(err.msg, want));
    assert_int_equal(read_it(fx->path, 0, &buf, &err), 0); /* fine when not a secret */
    free(buf);
    assert_int_equal(chmod(fx->path, 0400), 0);
    assert_int_equal(read_it(fx->path, MINICA_TRUST_SECRET, &buf, &err), 0);
    assert_string_equal(buf, "secret\n");
    minica_free_secret(buf, strlen(buf));
}

/* A symlink named by the config is refused even when its target is good:
 * whoever can change the link chooses what root reads. */
static void test_trustfile_refuses_a_symlink(void **state)
{
    struct fx *fx = *state;
    char real[4200];
    snprintf(real, sizeof(real), "%s/real", fx->dir);
    write_text(real, "x\n", 0600);
    snprintf(fx->path, sizeof(fx->path), "%s/link", fx->dir);
    assert_int_equal(symlink(real, fx->path), 0);
    char *buf = NULL;
    struct minica_err err;
    assert_int_equal(read_it(fx->path, MINICA_TRUST_SECRET, &buf, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "is a symbolic link"));
    assert_int_equal(minica_check_path_strict(fx->path, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "is a symbolic link"));
}

/* A directory symlink on the way is resolved: the real directories are the
 * ones judged. */
static void test_trustfile_judges_the_real_dir_behind_a_dir_symlink(void **state)
{
    struct fx *fx = *state;
    char sub[4200], link[4200], via[4300];
    file_in_subdir(fx, 0777, sub, sizeof(sub));
    snprintf(link, sizeof(link), "%s/link", fx->dir);
    assert_int_equal(symlink(sub, link), 0);
    snprintf(via, sizeof(via), "%s/conf", link);
    char *buf = NULL;
    struct minica_err err;
    assert_int_equal(read_it(via, 0, &buf, &err), MINICA_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "chmod go-w"));
    assert_int_equal(chmod(sub, 0755), 0);
    assert_int_equal(read_it(via, 0, &buf, &err), 0);
    free(buf);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "opening a FIFO hung\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(99);
}

/* A FIFO with no writer used to block open(2) for ever (a cron job that
 * never ends); it is refused at once. */
static void test_trustfile_fifo_does_not_hang(void **state)
{
    struct fx *fx = *state;
    snprintf(fx->path, sizeof(fx->path), "%s/fifo", fx->dir);
    assert_int_equal(mkfifo(fx->path, 0600), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGALRM, on_alarm);
        alarm(10);
        char *buf = NULL;
        struct minica_err err;
        int ret = minica_read_trusted_file(fx->path, 1024, "token file", MINICA_TRUST_SECRET, &buf,
                                           NULL, &err);
        _exit(ret == MINICA_EINVAL && strstr(err.msg, "is not a regular file") != NULL ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_trustfile_caps_the_size(void **state)
{
    struct fx *fx = *state;
    snprintf(fx->path, sizeof(fx->path), "%s/big", fx->dir);
    char text[2048];
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    write_text(fx->path, text, 0600);
    char *buf = NULL;
    struct minica_err err;
    assert_int_equal(read_it(fx->path, 0, &buf, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "too large"));
    assert_null(buf);
}

static void test_trustfile_missing_is_enoent(void **state)
{
    struct fx *fx = *state;
    snprintf(fx->path, sizeof(fx->path), "%s/missing", fx->dir);
    char *buf = NULL;
    struct minica_err err;
    assert_int_equal(read_it(fx->path, 0, &buf, &err), MINICA_ENOENT);
    assert_non_null(strstr(err.msg, fx->path));
    assert_int_equal(minica_check_path_strict(fx->path, &err), MINICA_ENOENT);
}

/* Run as uid 65534: its own files and directories count as trusted, like
 * root's; a third user's do not. Reports through the exit status. */
static int as_other_user(const char *path, unsigned flags, const char *want)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgid(OTHER_UID) != 0 || setuid(OTHER_UID) != 0)
            _exit(2);
        char *buf = NULL;
        struct minica_err err;
        int ret = minica_read_trusted_file(path, 1024, "agent config", flags, &buf, NULL, &err);
        if (want == NULL)
            _exit(ret == 0 ? 0 : (fprintf(stderr, "%s\n", err.msg), 1));
        _exit(ret != 0 && strstr(err.msg, want) != NULL ? 0
                                                        : (fprintf(stderr, "%s\n", err.msg), 1));
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_trustfile_trusts_the_running_user(void **state)
{
    struct fx *fx = *state;
    char sub[4200];
    assert_int_equal(chmod(fx->dir, 0755), 0);
    file_in_subdir(fx, 0755, sub, sizeof(sub));
    assert_int_equal(chown(sub, OTHER_UID, OTHER_UID), 0);
    assert_int_equal(as_other_user(fx->path, 0, NULL), 0); /* root's file in its own dir */
    assert_int_equal(chown(fx->path, OTHER_UID, OTHER_UID), 0);
    assert_int_equal(as_other_user(fx->path, 0, NULL), 0); /* its own file */
    assert_int_equal(chown(fx->path, 4242, 4242), 0);
    assert_int_equal(as_other_user(fx->path, 0, "not by root or this user (uid 65534)"), 0);
    assert_int_equal(chown(fx->path, OTHER_UID, OTHER_UID), 0);
    assert_int_equal(chown(sub, 4242, 4242), 0);
    assert_int_equal(as_other_user(fx->path, 0, "is owned by uid 4242"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_trustfile_reads_a_root_file_in_a_private_dir, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trustfile_refuses_a_world_writable_dir_above, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trustfile_refuses_a_group_writable_dir_two_levels_up,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_trustfile_accepts_a_sticky_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trustfile_refuses_a_dir_owned_by_another_user, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trustfile_refuses_a_file_owned_by_another_user, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trustfile_refuses_a_writable_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trustfile_secret_must_be_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trustfile_refuses_a_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trustfile_judges_the_real_dir_behind_a_dir_symlink,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_trustfile_fifo_does_not_hang, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trustfile_caps_the_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trustfile_missing_is_enoent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trustfile_trusts_the_running_user, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
