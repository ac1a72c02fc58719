/* Unit tests for delivering an issued certificate into an output directory:
 * modes and contents, an identical ca.crt left alone, every file synced
 * before its rename, and write or sync failures that leave the previous files
 * intact. fsync and renameat are interposed below to fail a sync and to watch
 * the order of syncs and renames; a real disk cannot be made to fail an fsync. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "minica/ca.h"
#include "minica/error.h"
#include "minica/fsutil.h"
#include "minica/issue.h"
#include "minica/pembundle.h"
#include "testutil.h"

/* ---- fsync / renameat spy ---------------------------------------------- */

enum spy_kind { SPY_SYNC_FILE, SPY_SYNC_DIR, SPY_RENAME };
struct spy_event {
    enum spy_kind kind;
    dev_t dev;
    ino_t ino;
};
static struct spy_event g_events[64];
static size_t g_n_events;
/* Fail the fsync of a file whose path contains this (e.g. ".ca.crt.tmp-"). */
static const char *g_fail_file_sync;
/* Fail the fsync of the directory with this inode (0: none). */
static ino_t g_fail_dir_ino;

static void spy_reset(void)
{
    g_n_events = 0;
    g_fail_file_sync = NULL;
    g_fail_dir_ino = 0;
}

static void spy_record(enum spy_kind kind, const struct stat *st)
{
    if (g_n_events < sizeof(g_events) / sizeof(g_events[0]))
        g_events[g_n_events++] = (struct spy_event){kind, st->st_dev, st->st_ino};
}

int fsync(int fd)
{
    static int (*real_fsync)(int);
    if (real_fsync == NULL)
        *(void **)&real_fsync = dlsym(RTLD_NEXT, "fsync");
    struct stat st;
    if (fstat(fd, &st) == 0) {
        char link[64], target[4200];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        if (S_ISDIR(st.st_mode) && g_fail_dir_ino != 0 && st.st_ino == g_fail_dir_ino) {
            errno = EIO;
            return -1;
        }
        if (S_ISREG(st.st_mode) && g_fail_file_sync != NULL &&
            strstr(target, g_fail_file_sync) != NULL) {
            errno = EIO;
            return -1;
        }
        spy_record(S_ISDIR(st.st_mode) ? SPY_SYNC_DIR : SPY_SYNC_FILE, &st);
    }
    return real_fsync(fd);
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    static int (*real_renameat)(int, const char *, int, const char *);
    if (real_renameat == NULL)
        *(void **)&real_renameat = dlsym(RTLD_NEXT, "renameat");
    struct stat st;
    if (fstatat(olddirfd, oldpath, &st, AT_SYMLINK_NOFOLLOW) == 0)
        spy_record(SPY_RENAME, &st);
    return real_renameat(olddirfd, oldpath, newdirfd, newpath);
}

/* ---- fixture ------------------------------------------------------------ */

struct fixture {
    char *tmp;
    char out[4200];
    mode_t old_umask;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->tmp = tu_tempdir();
    snprintf(f->out, sizeof(f->out), "%s/out", f->tmp);
    /* umask 0: every mode we see is the one the code asked for. */
    f->old_umask = umask(0);
    spy_reset();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    spy_reset();
    umask(f->old_umask);
    tu_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

/* PEM-like text of exactly len bytes (deliver only writes it). */
static char *text_of(const char *label, size_t len)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    size_t l = strlen(label);
    for (size_t i = 0; i < len; i++)
        s[i] = i < l ? label[i] : (i % 64 == 63 ? '\n' : (char)('A' + (i % 26)));
    s[len] = '\0';
    return s;
}

/* A stand-in for an issued certificate with texts of the given sizes. */
static void make_issued(struct minica_issued *is, const char *tag, size_t key_len, size_t cert_len,
                        size_t chain_len, size_t root_len)
{
    memset(is, 0, sizeof(*is));
    snprintf(is->name, sizeof(is->name), "web.internal.svc");
    char label[64];
    snprintf(label, sizeof(label), "%s key\n", tag);
    is->key_pem = text_of(label, key_len);
    snprintf(label, sizeof(label), "%s cert\n", tag);
    is->cert_pem = text_of(label, cert_len);
    snprintf(label, sizeof(label), "%s chain\n", tag);
    is->chain_pem = text_of(label, chain_len);
    is->root_pem = text_of("the root\n", root_len);
}

static void free_issued(struct minica_issued *is)
{
    free(is->key_pem);
    free(is->cert_pem);
    free(is->chain_pem);
    free(is->root_pem);
    memset(is, 0, sizeof(*is));
}

static void assert_content(const char *path, const char *want)
{
    char *got = tu_slurp(path);
    assert_string_equal(got, want);
    free(got);
}

/* The four files hold exactly what is says. */
static void assert_delivered(const struct minica_output_paths *p, const struct minica_issued *is)
{
    assert_content(p->key, is->key_pem);
    assert_content(p->cert, is->cert_pem);
    char *full = malloc(strlen(is->cert_pem) + strlen(is->chain_pem) + 1);
    assert_non_null(full);
    strcpy(full, is->cert_pem);
    strcat(full, is->chain_pem);
    assert_content(p->fullchain, full);
    free(full);
    assert_content(p->ca, is->root_pem);
}

static void deliver_ok(const char *out, const struct minica_issued *is,
                       struct minica_output_paths *p)
{
    struct minica_err err = {{0}};
    int ret = minica_deliver_files(is, out, 0, p, &err);
    if (ret != 0)
        print_error("deliver: %s\n", err.msg);
    assert_int_equal(ret, 0);
}

/* An mtime no delivery could produce: a rewrite would reset it to now. */
static void set_old_mtime(const char *path)
{
    struct timespec times[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), 0);
}

/* ---- tests -------------------------------------------------------------- */

static void test_deliver_writes_four_files_with_modes(void **state)
{
    struct fixture *f = *state;
    struct minica_issued is;
    struct minica_output_paths p;
    make_issued(&is, "first", 241, 700, 650, 600);
    deliver_ok(f->out, &is, &p);
    assert_int_equal(tu_mode_of(f->out), 0700);
    assert_int_equal(tu_mode_of(p.key), 0600);
    assert_int_equal(tu_mode_of(p.cert), 0644);
    assert_int_equal(tu_mode_of(p.fullchain), 0644);
    assert_int_equal(tu_mode_of(p.ca), 0644);
    assert_delivered(&p, &is);
    assert_int_equal(tu_count_temp_files(f->out), 0);
    free_issued(&is);
}

/* One file for key and chain, replaced by one rename; nothing else of
 * NAME is written. */
static void test_deliver_pem_bundle_writes_one_private_file(void **state)
{
    struct fixture *f = *state;
    struct minica_issued is;
    struct minica_output_paths p;
    struct minica_err err = {{0}};
    make_issued(&is, "first", 241, 700, 650, 600);
    assert_int_equal(minica_deliver_files(&is, f->out, MINICA_DELIVER_PEM_BUNDLE, &p, &err), 0);
    assert_int_equal(tu_mode_of(p.bundle), 0600);
    char *want = NULL;
    size_t want_len = 0;
    assert_int_equal(
        minica_pem_bundle_build(is.key_pem, is.cert_pem, is.chain_pem, &want, &want_len, &err), 0);
    assert_content(p.bundle, want);
    minica_free_secret(want, want_len);
    assert_content(p.ca, is.root_pem);
    assert_int_equal(access(p.key, F_OK), -1);
    assert_int_equal(access(p.cert, F_OK), -1);
    assert_int_equal(access(p.fullchain, F_OK), -1);
    assert_int_equal(tu_count_temp_files(f->out), 0);

    /* From a CSR there is no key to bundle: refused, nothing written. */
    free(is.key_pem);
    is.key_pem = NULL;
    tu_rmtree(f->out);
    assert_int_equal(minica_deliver_files(&is, f->out, MINICA_DELIVER_PEM_BUNDLE, &p, &err),
                     MINICA_EINVAL);
    assert_int_equal(access(f->out, F_OK), -1);
    free_issued(&is);
}

static void test_deliver_leaves_identical_ca_crt_alone(void **state)
{
    struct fixture *f = *state;
    struct minica_issued is, again;
    struct minica_output_paths p;
    make_issued(&is, "first", 241, 700, 650, 600);
    deliver_ok(f->out, &is, &p);
    set_old_mtime(p.ca);
    struct stat ca_before, key_before;
    assert_int_equal(lstat(p.ca, &ca_before), 0);
    assert_int_equal(lstat(p.key, &key_before), 0);

    make_issued(&again, "second", 241, 700, 650, 600); /* same root */
    spy_reset();
    deliver_ok(f->out, &again, &p);
    struct stat ca_after, key_after;
    assert_int_equal(lstat(p.ca, &ca_after), 0);
    assert_int_equal(lstat(p.key, &key_after), 0);
    assert_true(ca_after.st_ino == ca_before.st_ino);
    assert_int_equal(ca_after.st_mtime, 1000000000);
    assert_true(key_after.st_ino != key_before.st_ino); /* the rest is replaced */
    assert_delivered(&p, &again);
    /* Three renames: key, cert, fullchain; no ca.crt. */
    size_t renames = 0;
    for (size_t i = 0; i < g_n_events; i++)
        renames += g_events[i].kind == SPY_RENAME;
    assert_int_equal(renames, 3);
    assert_int_equal(tu_count_temp_files(f->out), 0);
    free_issued(&is);
    free_issued(&again);
}

static void test_deliver_replaces_a_different_ca_crt(void **state)
{
    struct fixture *f = *state;
    struct minica_issued is;
    struct minica_output_paths p;
    make_issued(&is, "first", 241, 700, 650, 600);
    deliver_ok(f->out, &is, &p);
    /* Same length with one byte changed, a prefix, and a longer file. */
    const size_t cut[] = {600, 599, 601};
    for (size_t c = 0; c < 3; c++) {
        char *other = text_of("the root\n", cut[c]);
        if (cut[c] == 600)
            other[300] = other[300] == 'x' ? 'y' : 'x';
        FILE *fp = fopen(p.ca, "w");
        assert_non_null(fp);
        fputs(other, fp);
        fclose(fp);
        chmod(p.ca, 0600);
        set_old_mtime(p.ca);
        struct stat before;
        assert_int_equal(lstat(p.ca, &before), 0);
        deliver_ok(f->out, &is, &p);
        struct stat after;
        assert_int_equal(lstat(p.ca, &after), 0);
        assert_true(after.st_ino != before.st_ino);
        assert_true(after.st_mtime != 1000000000);
        assert_int_equal(after.st_mode & 07777, 0644);
        assert_content(p.ca, is.root_pem);
        free(other);
    }
    /* A second CA's root delivered into the same directory replaces it. */
    struct minica_issued other_ca;
    make_issued(&other_ca, "other", 241, 700, 650, 600);
    other_ca.root_pem[0] = '#';
    deliver_ok(f->out, &other_ca, &p);
    assert_content(p.ca, other_ca.root_pem);
    assert_int_equal(tu_count_temp_files(f->out), 0);
    free_issued(&other_ca);
    free_issued(&is);
}

static void test_deliver_replaces_a_symlink_at_ca_crt(void **state)
{
    struct fixture *f = *state;
    struct minica_issued is;
    struct minica_output_paths p;
    make_issued(&is, "first", 241, 700, 650, 600);
    assert_int_equal(mkdir(f->out, 0700), 0);
    struct minica_err err = {{0}};
    assert_int_equal(minica_output_paths(f->out, is.name, &p, &err), 0);
    /* The symlink points at a file that already holds the very same root. */
    char victim[4300];
    snprintf(victim, sizeof(victim), "%s/victim.crt", f->tmp);
    FILE *fp = fopen(victim, "w");
    assert_non_null(fp);
    fputs(is.root_pem, fp);
    fclose(fp);
    chmod(victim, 0640);
    set_old_mtime(victim);
    struct stat vbefore;
    assert_int_equal(stat(victim, &vbefore), 0);
    assert_int_equal(symlink(victim, p.ca), 0);

    deliver_ok(f->out, &is, &p);
    struct stat st;
    assert_int_equal(lstat(p.ca, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_content(p.ca, is.root_pem);
    struct stat vafter;
    assert_int_equal(stat(victim, &vafter), 0);
    assert_true(vafter.st_ino == vbefore.st_ino);
    assert_int_equal(vafter.st_mtime, 1000000000);
    assert_int_equal(vafter.st_mode & 07777, 0640);
    assert_content(victim, is.root_pem);
    assert_int_equal(tu_count_temp_files(f->out), 0);
    free_issued(&is);
}

static void test_deliver_syncs_every_file_before_any_rename(void **state)
{
    struct fixture *f = *state;
    struct minica_issued is;
    struct minica_output_paths p;
    make_issued(&is, "first", 241, 700, 650, 600);
    assert_int_equal(mkdir(f->out, 0700), 0);
    struct stat dir;
    assert_int_equal(stat(f->out, &dir), 0);
    spy_reset();
    deliver_ok(f->out, &is, &p);

    size_t renames = 0, first_rename = g_n_events, last_rename = 0;
    for (size_t i = 0; i < g_n_events; i++) {
        if (g_events[i].kind != SPY_RENAME)
            continue;
        renames++;
        if (first_rename == g_n_events)
            first_rename = i;
        last_rename = i;
        /* This very inode was fsynced earlier. */
        int synced = 0;
        for (size_t j = 0; j < i; j++)
            synced |= g_events[j].kind == SPY_SYNC_FILE && g_events[j].ino == g_events[i].ino &&
                      g_events[j].dev == g_events[i].dev;
        assert_true(synced);
    }
    assert_int_equal(renames, 4);
    /* Every file sync comes before the first rename: a failing sync leaves
     * all the previous files in place. */
    for (size_t i = first_rename; i < g_n_events; i++)
        assert_int_not_equal(g_events[i].kind, SPY_SYNC_FILE);
    /* The directory itself is synced after the last rename. */
    int dir_synced = 0;
    for (size_t i = last_rename + 1; i < g_n_events; i++)
        dir_synced |= g_events[i].kind == SPY_SYNC_DIR && g_events[i].ino == dir.st_ino;
    assert_true(dir_synced);
    free_issued(&is);
}

static void snapshot_inodes(const struct minica_output_paths *p, ino_t inos[4])
{
    const char *all[4] = {p->key, p->cert, p->fullchain, p->ca};
    for (int i = 0; i < 4; i++) {
        struct stat st;
        assert_int_equal(lstat(all[i], &st), 0);
        inos[i] = st.st_ino;
    }
}

static void test_deliver_sync_failure_leaves_previous_files(void **state)
{
    struct fixture *f = *state;
    struct minica_issued old, fresh;
    struct minica_output_paths p;
    make_issued(&old, "old", 241, 700, 650, 600);
    make_issued(&fresh, "fresh", 241, 700, 650, 600);
    fresh.root_pem[0] = '#'; /* a new root too, so ca.crt is staged as well */
    deliver_ok(f->out, &old, &p);
    ino_t before[4];
    snapshot_inodes(&p, before);
    const char *which[] = {".web.internal.svc.key.tmp-", ".web.internal.svc.crt.tmp-",
                           ".web.internal.svc.fullchain.crt.tmp-", ".ca.crt.tmp-"};
    for (size_t w = 0; w < 4; w++) {
        spy_reset();
        g_fail_file_sync = which[w];
        struct minica_err err = {{0}};
        assert_int_equal(minica_deliver_files(&fresh, f->out, 0, &p, &err), MINICA_EIO);
        spy_reset();
        assert_non_null(strstr(err.msg, "sync"));
        assert_delivered(&p, &old);
        ino_t after[4];
        snapshot_inodes(&p, after);
        assert_memory_equal(before, after, sizeof(before));
        assert_int_equal(tu_mode_of(p.key), 0600);
        assert_int_equal(tu_count_temp_files(f->out), 0);
    }
    /* With the sync working again, everything goes through. */
    deliver_ok(f->out, &fresh, &p);
    assert_delivered(&p, &fresh);
    free_issued(&old);
    free_issued(&fresh);
}

/* In a child limited to limit bytes per file (as on a full disk), delivers
 * texts of the given sizes; returns the child's result (1 = MINICA_EIO). */
static int deliver_with_fsize_limit(const char *out, rlim_t limit, size_t key_len, size_t cert_len,
                                    size_t chain_len, size_t root_len)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN); /* write then fails with EFBIG instead of killing us */
        struct rlimit rl = {limit, limit};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(99);
        struct minica_issued is;
        make_issued(&is, "big", key_len, cert_len, chain_len, root_len);
        is.root_pem[0] = '#';
        struct minica_output_paths p;
        struct minica_err err;
        int ret = minica_deliver_files(&is, out, 0, &p, &err);
        _exit(ret == MINICA_EIO && strstr(err.msg, "write") != NULL ? 1 : ret == 0 ? 0 : 2);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_deliver_write_failure_leaves_previous_files(void **state)
{
    struct fixture *f = *state;
    struct minica_issued old;
    struct minica_output_paths p;
    make_issued(&old, "old", 241, 700, 650, 600);
    deliver_ok(f->out, &old, &p);
    ino_t before[4];
    snapshot_inodes(&p, before);
    /* The key, the certificate, the chain, and then ca.crt too large in turn
     * for a 4000-byte limit; the files before each fit. */
    const size_t sizes[4][4] = {
        {5000, 700, 650, 600},
        {241, 5000, 650, 600},
        {241, 700, 3500, 600},
        {241, 700, 650, 5000},
    };
    for (size_t s = 0; s < 4; s++) {
        int rc = deliver_with_fsize_limit(f->out, 4000, sizes[s][0], sizes[s][1], sizes[s][2],
                                          sizes[s][3]);
        assert_int_equal(rc, 1);
        assert_delivered(&p, &old);
        ino_t after[4];
        snapshot_inodes(&p, after);
        assert_memory_equal(before, after, sizeof(before));
        assert_int_equal(tu_count_temp_files(f->out), 0);
    }
    free_issued(&old);
}

/* Issued through the CA: a ca.crt left alone is not named among the replaced
 * files when the delivery fails after the renames. */
static void test_issue_to_dir_does_not_count_a_skipped_ca_crt_as_replaced(void **state)
{
    struct fixture *f = *state;
    char *cadir = tu_make_ca();
    struct minica_ca *ca = NULL;
    struct minica_err err = {{0}};
    assert_int_equal(minica_ca_open(cadir, &ca, &err), 0);
    struct minica_issue_request req = {.name = "web.internal.svc", .ttl = 86400};
    struct minica_issued out;
    struct minica_output_paths p;
    assert_int_equal(minica_ca_issue_to_dir(ca, &req, f->out, 0, &out, &p, &err), 0);
    minica_issued_free(&out);
    set_old_mtime(p.ca);

    struct stat dir;
    assert_int_equal(stat(f->out, &dir), 0);
    spy_reset();
    g_fail_dir_ino = dir.st_ino;
    int ret = minica_ca_issue_to_dir(ca, &req, f->out, 0, &out, &p, &err);
    spy_reset();
    assert_int_equal(ret, MINICA_EIO);
    assert_non_null(strstr(err.msg, "already replaced"));
    assert_non_null(strstr(err.msg, "web.internal.svc.key"));
    assert_null(strstr(err.msg, "ca.crt"));
    struct stat st;
    assert_int_equal(lstat(p.ca, &st), 0);
    assert_int_equal(st.st_mtime, 1000000000);
    assert_content(p.ca, minica_ca_roots_pem(ca));
    assert_int_equal(tu_count_temp_files(f->out), 0);
    minica_ca_close(ca);
    tu_free_ca(cadir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deliver_writes_four_files_with_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deliver_pem_bundle_writes_one_private_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deliver_leaves_identical_ca_crt_alone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deliver_replaces_a_different_ca_crt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deliver_replaces_a_symlink_at_ca_crt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deliver_syncs_every_file_before_any_rename, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deliver_sync_failure_leaves_previous_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deliver_write_failure_leaves_previous_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_issue_to_dir_does_not_count_a_skipped_ca_crt_as_replaced, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
