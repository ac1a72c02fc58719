/* Unit tests for atomic, permission-safe file replacement and bounded reads:
 * exact modes under umask 0, NOREPLACE, failures that leave the old file
 * intact, planted symlinks, deferred syncs, content comparison, and the read
 * size limit. fsync is interposed below to see which files were synced and to
 * make one fail, which a real disk cannot be made to do. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "minica/error.h"
#include "minica/fsutil.h"
#include "testutil.h"

/* Inodes of the files fsync was called on, and whether it should fail. */
static ino_t g_synced[64];
static size_t g_n_synced;
static int g_fail_fsync;

int fsync(int fd)
{
    static int (*real_fsync)(int);
    if (real_fsync == NULL)
        *(void **)&real_fsync = dlsym(RTLD_NEXT, "fsync");
    if (g_fail_fsync) {
        errno = EIO;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        g_n_synced < sizeof(g_synced) / sizeof(g_synced[0]))
        g_synced[g_n_synced++] = st.st_ino;
    return real_fsync(fd);
}

static int was_synced(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    for (size_t i = 0; i < g_n_synced; i++)
        if (g_synced[i] == st.st_ino)
            return 1;
    return 0;
}

struct fixture {
    char *dir;
    mode_t old_umask;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->dir = tu_tempdir();
    /* umask 0: every mode we see is the one the code asked for. */
    f->old_umask = umask(0);
    g_n_synced = 0;
    g_fail_fsync = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    umask(f->old_umask);
    chmod(f->dir, 0700);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void path_in(const struct fixture *f, const char *base, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", f->dir, base);
}

static void write_plain(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void assert_content(const char *path, const char *want)
{
    char buf[4096] = {0};
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void test_fsutil_atomic_write_sets_exact_mode(void **state)
{
    struct fixture *f = *state;
    char path[4200];
    struct minica_err err;
    const mode_t modes[] = {0600, 0644, 0640, 0400};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        char base[32];
        snprintf(base, sizeof(base), "file%zu", i);
        path_in(f, base, path, sizeof(path));
        assert_int_equal(minica_write_file_atomic(path, "secret\n", 7, modes[i], 0, &err), 0);
        assert_int_equal(tu_mode_of(path), modes[i]);
        assert_content(path, "secret\n");
    }
    assert_int_equal(tu_count_temp_files(f->dir), 0);
}

static void test_fsutil_atomic_write_replaces_content_and_mode(void **state)
{
    struct fixture *f = *state;
    char path[4200];
    struct minica_err err;
    path_in(f, "key.pem", path, sizeof(path));
    write_plain(path, "old key\n");
    chmod(path, 0666); /* a wide old file must not leak its mode into the new one */
    struct stat before;
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(minica_write_file_atomic(path, "new key\n", 8, 0600, 0, &err), 0);
    assert_content(path, "new key\n");
    assert_int_equal(tu_mode_of(path), 0600);
    struct stat after;
    assert_int_equal(stat(path, &after), 0);
    /* Replaced by rename (a new inode), not rewritten in place. */
    assert_true(before.st_ino != after.st_ino);
    assert_int_equal(tu_count_temp_files(f->dir), 0);
}

static void test_fsutil_noreplace_refuses_existing(void **state)
{
    struct fixture *f = *state;
    char path[4200];
    struct minica_err err = {{0}};
    path_in(f, "root.key", path, sizeof(path));
    assert_int_equal(
        minica_write_file_atomic(path, "first\n", 6, 0600, MINICA_WRITE_NOREPLACE, &err), 0);
    assert_int_equal(
        minica_write_file_atomic(path, "second\n", 7, 0600, MINICA_WRITE_NOREPLACE, &err),
        MINICA_EEXIST);
    assert_non_null(strstr(err.msg, "root.key"));
    assert_content(path, "first\n");
    assert_int_equal(tu_count_temp_files(f->dir), 0);
}

static void test_fsutil_missing_dir_fails_cleanly(void **state)
{
    struct fixture *f = *state;
    char path[4200];
    struct minica_err err = {{0}};
    path_in(f, "no-such-dir/file", path, sizeof(path));
    assert_int_equal(minica_write_file_atomic(path, "x", 1, 0644, 0, &err), MINICA_EIO);
    assert_non_null(strstr(err.msg, "no-such-dir"));
    assert_false(minica_file_exists(path));

    /* A regular file where the directory should be. */
    char file[4200];
    path_in(f, "plain", file, sizeof(file));
    write_plain(file, "keep\n");
    snprintf(path, sizeof(path), "%s/child", file);
    assert_int_equal(minica_write_file_atomic(path, "x", 1, 0644, 0, &err), MINICA_EIO);
    assert_content(file, "keep\n");
}

/* Runs minica_write_file_atomic in a child that cannot write to dir (as
 * nobody when we are root, since root ignores directory modes). Returns the
 * child's result code, or 99 if the test could not be set up. */
static int write_without_permission(const char *path, const char *data)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(99);
        struct minica_err err;
        int ret = minica_write_file_atomic(path, data, strlen(data), 0644, 0, &err);
        _exit(ret == MINICA_EIO ? 1 : ret == 0 ? 0 : 2);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_fsutil_read_only_dir_fails_and_keeps_old_file(void **state)
{
    struct fixture *f = *state;
    char path[4200];
    path_in(f, "site.crt", path, sizeof(path));
    write_plain(path, "old certificate\n");
    chmod(path, 0644);
    assert_int_equal(chmod(f->dir, 0555), 0);
    int rc = write_without_permission(path, "new certificate\n");
    assert_int_equal(chmod(f->dir, 0700), 0);
    if (rc == 99)
        skip();
    assert_int_equal(rc, 1); /* refused with MINICA_EIO */
    assert_content(path, "old certificate\n");
    assert_int_equal(tu_count_temp_files(f->dir), 0);
}

static void test_fsutil_planted_symlink_is_replaced_not_followed(void **state)
{
    struct fixture *f = *state;
    char victim[4200], link[4200];
    path_in(f, "victim", victim, sizeof(victim));
    path_in(f, "upstream.key", link, sizeof(link));
    write_plain(victim, "do not touch\n");
    chmod(victim, 0644);
    assert_int_equal(symlink(victim, link), 0);
    struct minica_err err;
    assert_int_equal(minica_write_file_atomic(link, "key material\n", 13, 0600, 0, &err), 0);
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_content(link, "key material\n");
    assert_content(victim, "do not touch\n");
    assert_int_equal(tu_mode_of(victim), 0644);

    /* NOREPLACE treats a dangling symlink as an existing name, and does not follow it. */
    char dangling[4200], target[4200];
    path_in(f, "dangling", dangling, sizeof(dangling));
    path_in(f, "created-through-link", target, sizeof(target));
    assert_int_equal(symlink(target, dangling), 0);
    assert_int_equal(minica_write_file_atomic(dangling, "x", 1, 0600, MINICA_WRITE_NOREPLACE, &err),
                     MINICA_EEXIST);
    assert_false(minica_file_exists(target));
}

static void test_fsutil_staged_file_is_invisible_until_commit(void **state)
{
    struct fixture *f = *state;
    char path[4200];
    path_in(f, "staged.crt", path, sizeof(path));
    struct minica_staged_file sf;
    struct minica_err err;
    assert_int_equal(minica_stage_file(&sf, path, "data", 4, 0644, NULL, &err), 0);
    assert_false(minica_file_exists(path));
    assert_int_equal(minica_staged_commit(&sf, 0, &err), 0);
    assert_content(path, "data");
    minica_staged_abort(&sf); /* safe after commit */

    char other[4200];
    path_in(f, "aborted.crt", other, sizeof(other));
    assert_int_equal(minica_stage_file(&sf, other, "data", 4, 0644, NULL, &err), 0);
    minica_staged_abort(&sf);
    minica_staged_abort(&sf); /* and twice */
    assert_false(minica_file_exists(other));
    assert_int_equal(tu_count_temp_files(f->dir), 0);

    struct minica_staged_file zeroed;
    memset(&zeroed, 0, sizeof(zeroed));
    zeroed.dirfd = -1;
    assert_int_equal(minica_staged_commit(&zeroed, 0, &err), MINICA_EINVAL);
}

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

static void test_fsutil_nosync_stage_is_synced_before_it_becomes_visible(void **state)
{
    struct fixture *f = *state;
    char a[4200], b[4200];
    path_in(f, "a.crt", a, sizeof(a));
    path_in(f, "b.key", b, sizeof(b));
    struct minica_staged_file sa, sb;
    struct minica_err err = {{0}};
    assert_int_equal(minica_stage_file_nosync(&sa, a, "aaaa", 4, 0644, NULL, &err), 0);
    assert_int_equal(minica_stage_file_nosync(&sb, b, "bbbb", 4, 0600, NULL, &err), 0);
    assert_false(minica_file_exists(a));
    assert_false(minica_file_exists(b));
    assert_int_equal(g_n_synced, 0); /* deferred: nothing synced yet */

    /* Explicitly synced, then committed. */
    assert_int_equal(minica_staged_sync(&sa, &err), 0);
    assert_false(fd_is_open(sa.fd));
    assert_int_equal(minica_staged_sync(&sa, &err), 0); /* twice is harmless */
    assert_int_equal(minica_staged_commit(&sa, 0, &err), 0);
    assert_content(a, "aaaa");
    assert_int_equal(tu_mode_of(a), 0644);
    assert_true(was_synced(a));

    /* Committed without an explicit sync: the commit syncs it first. */
    assert_int_equal(minica_staged_commit(&sb, 0, &err), 0);
    assert_content(b, "bbbb");
    assert_int_equal(tu_mode_of(b), 0600);
    assert_true(was_synced(b));
    assert_int_equal(tu_count_temp_files(f->dir), 0);
}

static void test_fsutil_nosync_stage_abort_removes_temp_and_closes_it(void **state)
{
    struct fixture *f = *state;
    char path[4200];
    path_in(f, "site.key", path, sizeof(path));
    struct minica_staged_file sf;
    struct minica_err err = {{0}};
    assert_int_equal(minica_stage_file_nosync(&sf, path, "secret", 6, 0600, NULL, &err), 0);
    int fd = sf.fd;
    assert_true(fd_is_open(fd));
    minica_staged_abort(&sf);
    assert_false(fd_is_open(fd));
    minica_staged_abort(&sf); /* twice */
    assert_false(minica_file_exists(path));
    assert_int_equal(tu_count_temp_files(f->dir), 0);
    assert_int_equal(minica_staged_sync(&sf, &err), MINICA_EINVAL);

    /* A zeroed struct (fd 0, dirfd 0: an entry never staged, as the
     * agent's pending files past a failed one) must not close descriptor 0. */
    int stdin_open = fd_is_open(0);
    struct minica_staged_file zeroed;
    memset(&zeroed, 0, sizeof(zeroed));
    minica_staged_abort(&zeroed);
    assert_int_equal(fd_is_open(0), stdin_open);
}

static void test_fsutil_failed_sync_removes_temp_and_keeps_old_file(void **state)
{
    struct fixture *f = *state;
    char path[4200];
    path_in(f, "site.crt", path, sizeof(path));
    write_plain(path, "old certificate\n");
    struct minica_staged_file sf;
    struct minica_err err = {{0}};
    assert_int_equal(minica_stage_file_nosync(&sf, path, "new\n", 4, 0644, NULL, &err), 0);
    g_fail_fsync = 1;
    assert_int_equal(minica_staged_sync(&sf, &err), MINICA_EIO);
    g_fail_fsync = 0;
    assert_non_null(strstr(err.msg, "cannot sync"));
    assert_non_null(strstr(err.msg, "site.crt"));
    assert_int_equal(minica_staged_commit(&sf, 0, &err), MINICA_EINVAL);
    assert_content(path, "old certificate\n");
    assert_int_equal(tu_count_temp_files(f->dir), 0);

    /* The same through commit, and through the synchronous minica_stage_file. */
    assert_int_equal(minica_stage_file_nosync(&sf, path, "new\n", 4, 0644, NULL, &err), 0);
    g_fail_fsync = 1;
    assert_int_equal(minica_staged_commit(&sf, 0, &err), MINICA_EIO);
    assert_int_equal(minica_stage_file(&sf, path, "new\n", 4, 0644, NULL, &err), MINICA_EIO);
    g_fail_fsync = 0;
    assert_content(path, "old certificate\n");
    assert_int_equal(tu_count_temp_files(f->dir), 0);
}

static void test_fsutil_nosync_stage_write_failure_leaves_no_temp(void **state)
{
    struct fixture *f = *state;
    char path[4200];
    path_in(f, "big.crt", path, sizeof(path));
    write_plain(path, "old\n");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of death, as on a full disk */
        struct rlimit rl = {1000, 1000};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(99);
        static char big[5000];
        memset(big, 'x', sizeof(big));
        struct minica_staged_file sf;
        struct minica_err err;
        int ret = minica_stage_file_nosync(&sf, path, big, sizeof(big), 0644, NULL, &err);
        _exit(ret == MINICA_EIO && strstr(err.msg, "cannot write") != NULL ? 1 : 2);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_content(path, "old\n");
    assert_int_equal(tu_count_temp_files(f->dir), 0);
}

static void test_fsutil_file_has_content_only_for_identical_regular_files(void **state)
{
    struct fixture *f = *state;
    char path[4200], link[4200], sub[4200], fifo[4200], empty[4200];
    path_in(f, "ca.crt", path, sizeof(path));
    write_plain(path, "root certificate\n");
    assert_true(minica_file_has_content(path, "root certificate\n", 17));
    assert_false(minica_file_has_content(path, "root certificatE\n", 17));
    assert_false(minica_file_has_content(path, "root certificate", 16));
    assert_false(minica_file_has_content(path, "root certificate\n\n", 18));
    /* A large file compared past the first read. */
    static char big[10000];
    memset(big, 'q', sizeof(big));
    assert_int_equal(minica_write_file_atomic(path, big, sizeof(big), 0644, 0, NULL), 0);
    assert_true(minica_file_has_content(path, big, sizeof(big)));
    big[9000] = 'r';
    assert_false(minica_file_has_content(path, big, sizeof(big)));
    /* A symlink to an identical file is not the file. */
    write_plain(path, "root certificate\n");
    path_in(f, "link.crt", link, sizeof(link));
    assert_int_equal(symlink(path, link), 0);
    assert_false(minica_file_has_content(link, "root certificate\n", 17));
    path_in(f, "sub", sub, sizeof(sub));
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_false(minica_file_has_content(sub, "", 0));
    path_in(f, "fifo", fifo, sizeof(fifo));
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_false(minica_file_has_content(fifo, "", 0)); /* and does not block */
    path_in(f, "missing", empty, sizeof(empty));
    assert_false(minica_file_has_content(empty, "", 0));
    path_in(f, "empty", empty, sizeof(empty));
    write_plain(empty, "");
    assert_true(minica_file_has_content(empty, "", 0));
    if (geteuid() != 0) { /* root reads anything */
        chmod(path, 0);
        assert_false(minica_file_has_content(path, "root certificate\n", 17));
    }
}

static void test_fsutil_read_file_enforces_size_limit(void **state)
{
    struct fixture *f = *state;
    char path[4200];
    path_in(f, "data", path, sizeof(path));
    char text[101];
    memset(text, 'z', 100);
    text[100] = '\0';
    write_plain(path, text);
    char *buf = NULL;
    size_t len = 0;
    struct minica_err err = {{0}};
    assert_int_equal(minica_read_file(path, 99, &buf, &len, &err), MINICA_EINVAL);
    assert_null(buf);
    assert_non_null(strstr(err.msg, "too large"));
    assert_int_equal(minica_read_file(path, 100, &buf, &len, &err), 0);
    assert_int_equal(len, 100);
    assert_int_equal(buf[100], '\0');
    assert_string_equal(buf, text);
    free(buf);

    char empty[4200];
    path_in(f, "empty", empty, sizeof(empty));
    write_plain(empty, "");
    assert_int_equal(minica_read_file(empty, 10, &buf, &len, &err), 0);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    free(buf);
}

static void test_fsutil_read_file_refuses_missing_and_non_regular(void **state)
{
    struct fixture *f = *state;
    char path[4200];
    char *buf = NULL;
    struct minica_err err;
    path_in(f, "missing", path, sizeof(path));
    assert_int_equal(minica_read_file(path, 100, &buf, NULL, &err), MINICA_ENOENT);
    assert_int_equal(minica_read_file(f->dir, 100, &buf, NULL, &err), MINICA_EIO);
    assert_null(buf);
}

static void test_fsutil_mkdir_private_is_0700(void **state)
{
    struct fixture *f = *state;
    char path[4200];
    struct minica_err err = {{0}};
    path_in(f, "a/b/state", path, sizeof(path));
    assert_int_equal(minica_mkdir_private(path, &err), 0);
    assert_int_equal(tu_mode_of(path), 0700);
    /* An existing directory is accepted as it is. */
    chmod(path, 0750);
    assert_int_equal(minica_mkdir_private(path, &err), 0);
    assert_int_equal(tu_mode_of(path), 0750);
    /* A file in the way is an error. */
    char file[4200];
    path_in(f, "file", file, sizeof(file));
    write_plain(file, "x");
    assert_int_equal(minica_mkdir_private(file, &err), MINICA_EIO);
    assert_non_null(strstr(err.msg, "not a directory"));
}

static void test_fsutil_path_join(void **state)
{
    (void)state;
    char out[32];
    struct minica_err err;
    assert_int_equal(minica_path_join(out, sizeof(out), "/out", "a.crt", &err), 0);
    assert_string_equal(out, "/out/a.crt");
    assert_int_equal(minica_path_join(out, sizeof(out), "/out/", "a.crt", &err), 0);
    assert_string_equal(out, "/out/a.crt");
    assert_int_equal(minica_path_join(out, sizeof(out), "", "a.crt", &err), 0);
    assert_string_equal(out, "a.crt");
    assert_int_equal(minica_path_join(out, 8, "/out", "a.crt", &err), MINICA_EINVAL);
}

static void test_fsutil_default_state_dir(void **state)
{
    (void)state;
    unsetenv("MINICA_DIR");
    assert_string_equal(minica_default_state_dir(NULL), "/var/lib/minica");
    assert_string_equal(minica_default_state_dir(""), "/var/lib/minica");
    setenv("MINICA_DIR", "/srv/ca", 1);
    assert_string_equal(minica_default_state_dir(NULL), "/srv/ca");
    assert_string_equal(minica_default_state_dir("/explicit"), "/explicit");
    unsetenv("MINICA_DIR");
}

static void touch_at(const char *dir, const char *name, time_t mtime)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    struct timespec times[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

static int exists_in(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void test_fsutil_sweep_removes_only_old_temps_of_the_given_names(void **state)
{
    struct fixture *f = *state;
    time_t old = time(NULL) - 3600, now = time(NULL);
    touch_at(f->dir, ".a.key.tmp-0123abcd", old); /* a killed issue's key: removed */
    touch_at(f->dir, ".a.crt.tmp-89abcdef", old); /* removed */
    touch_at(f->dir, ".a.key.tmp-11111111", now); /* a run in progress: kept */
    touch_at(f->dir, ".b.key.tmp-0123abcd", old); /* another name: kept */
    touch_at(f->dir, ".a.key.tmp-notours", old);  /* not our pattern: kept */
    touch_at(f->dir, "a.key", old);               /* the real file: kept */
    const char *bases[] = {"a.key", "a.crt"};
    minica_sweep_stale_temps(f->dir, bases, 2, 600);
    assert_false(exists_in(f->dir, ".a.key.tmp-0123abcd"));
    assert_false(exists_in(f->dir, ".a.crt.tmp-89abcdef"));
    assert_true(exists_in(f->dir, ".a.key.tmp-11111111"));
    assert_true(exists_in(f->dir, ".b.key.tmp-0123abcd"));
    assert_true(exists_in(f->dir, ".a.key.tmp-notours"));
    assert_true(exists_in(f->dir, "a.key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fsutil_atomic_write_sets_exact_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsutil_atomic_write_replaces_content_and_mode, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fsutil_noreplace_refuses_existing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsutil_missing_dir_fails_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsutil_read_only_dir_fails_and_keeps_old_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fsutil_planted_symlink_is_replaced_not_followed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fsutil_staged_file_is_invisible_until_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_fsutil_nosync_stage_is_synced_before_it_becomes_visible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsutil_nosync_stage_abort_removes_temp_and_closes_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsutil_failed_sync_removes_temp_and_keeps_old_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsutil_nosync_stage_write_failure_leaves_no_temp,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fsutil_file_has_content_only_for_identical_regular_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsutil_read_file_enforces_size_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsutil_read_file_refuses_missing_and_non_regular,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsutil_mkdir_private_is_0700, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsutil_sweep_removes_only_old_temps_of_the_given_names,
                                        setup, teardown),
        cmocka_unit_test(test_fsutil_path_join),
        cmocka_unit_test(test_fsutil_default_state_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
