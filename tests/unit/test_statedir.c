/* Unit tests for the state directory's trust rule: a CA opened from a
 * directory, policy, inventory or key that another user owns or that group
 * or others may write is refused with the fix in the message; init never
 * leaves its directory wider than 0700. Runs as root in CI: chown to 65534
 * stands in for another user (those tests skip when not root). */
#include <errno.h>
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

#include "minica/ca.h"
#include "minica/error.h"
#include "minica/fsutil.h"
#include "minica/statedir.h"
#include "testutil.h"

#define OTHER_UID 65534

static char *file_in(const char *dir, const char *base)
{
    static char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, base);
    return path;
}

/* Opens the CA in dir and expects a refusal whose message holds want. */
static void expect_refused(const char *dir, const char *want)
{
    struct minica_ca *ca = NULL;
    struct minica_err err = {{0}};
    int ret = minica_ca_open(dir, &ca, &err);
    if (ret == 0) {
        minica_ca_close(ca);
        fail_msg("%s was opened; expected a refusal naming '%s'", dir, want);
    }
    if (strstr(err.msg, want) == NULL)
        fail_msg("refusal '%s' does not name '%s'", err.msg, want);
    /* One line: the CLI prints it as is. */
    assert_null(strchr(err.msg, '\n'));
}

static void expect_opens(const char *dir)
{
    struct minica_ca *ca = NULL;
    struct minica_err err = {{0}};
    if (minica_ca_open(dir, &ca, &err) != 0)
        fail_msg("%s refused: %s", dir, err.msg);
    minica_ca_close(ca);
}

static void skip_unless_root(void)
{
    if (geteuid() != 0)
        skip();
}

static void test_statedir_fresh_ca_opens(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    expect_opens(dir);
    assert_int_equal(tu_mode_of(dir), 0700);
    tu_free_ca(dir);
}

static void test_statedir_refuses_world_writable_dir(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    assert_int_equal(chmod(dir, 0777), 0);
    char want[4300];
    snprintf(want, sizeof(want),
             "%s is writable by group or others (mode 0777); fix it with: chmod 700 %s", dir, dir);
    expect_refused(dir, want);
    tu_free_ca(dir);
}

static void test_statedir_refuses_group_writable_dir(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    assert_int_equal(chmod(dir, 0770), 0);
    expect_refused(dir, "writable by group or others (mode 0770)");
    /* Readable by others is no threat to what the CA trusts. */
    assert_int_equal(chmod(dir, 0755), 0);
    expect_opens(dir);
    tu_free_ca(dir);
}

static void test_statedir_refuses_policy_of_another_user(void **state)
{
    (void)state;
    skip_unless_root();
    char *dir = tu_make_ca();
    tu_write_policy(dir, "[policy]\nallow_wildcards = yes\nmax_ttl = 100y\n");
    assert_int_equal(chown(file_in(dir, "minica.conf"), OTHER_UID, OTHER_UID), 0);
    expect_refused(dir, "minica.conf is owned by uid 65534");
    expect_refused(dir, "fix it with: chown root");
    tu_free_ca(dir);
}

static void test_statedir_refuses_writable_policy(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    assert_int_equal(chmod(file_in(dir, "minica.conf"), 0666), 0);
    char want[4300];
    snprintf(want, sizeof(want), "fix it with: chmod 644 %s/minica.conf", dir);
    expect_refused(dir, want);
    tu_free_ca(dir);
}

static void test_statedir_refuses_writable_db(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    assert_int_equal(chmod(file_in(dir, "minica.db"), 0666), 0);
    expect_refused(dir, "minica.db is writable by group or others (mode 0666)");
    tu_free_ca(dir);
}

static void test_statedir_refuses_writable_wal(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    /* SQLite keeps the WAL beside the database: writing it is writing the db. */
    FILE *fp = fopen(file_in(dir, "minica.db-wal"), "a");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(chmod(file_in(dir, "minica.db-wal"), 0622), 0);
    expect_refused(dir, "minica.db-wal is writable by group or others (mode 0622)");
    tu_free_ca(dir);
}

static void test_statedir_refuses_key_of_another_user(void **state)
{
    (void)state;
    skip_unless_root();
    char *dir = tu_make_ca();
    assert_int_equal(chown(file_in(dir, "intermediate.key"), OTHER_UID, OTHER_UID), 0);
    assert_int_equal(tu_mode_of(file_in(dir, "intermediate.key")), 0600);
    expect_refused(dir, "intermediate.key is owned by uid 65534");
    tu_free_ca(dir);
}

static void test_statedir_refuses_root_key_of_another_user(void **state)
{
    (void)state;
    skip_unless_root();
    char *dir = tu_make_ca();
    /* Only the CRL reads root.key, but an issue must not trust a CA whose
     * root key someone else could have replaced either. */
    assert_int_equal(chown(file_in(dir, "root.key"), OTHER_UID, OTHER_UID), 0);
    expect_refused(dir, "root.key is owned by uid 65534");
    tu_free_ca(dir);
}

static void test_statedir_keeps_key_readability_rule(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    assert_int_equal(chmod(file_in(dir, "intermediate.key"), 0640), 0);
    expect_refused(dir, "intermediate.key is readable by group or others (mode 0640)");
    tu_free_ca(dir);
}

static void test_statedir_refuses_dir_of_another_user(void **state)
{
    (void)state;
    skip_unless_root();
    char *dir = tu_make_ca();
    assert_int_equal(chown(dir, OTHER_UID, OTHER_UID), 0);
    expect_refused(dir, "is owned by uid 65534");
    tu_free_ca(dir);
}

static void test_statedir_refuses_symlinked_policy(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    char elsewhere[4300];
    snprintf(elsewhere, sizeof(elsewhere), "%s/../other.conf", dir);
    tu_write_policy(dir, "[policy]\nallow_wildcards = yes\n");
    assert_int_equal(rename(file_in(dir, "minica.conf"), elsewhere), 0);
    assert_int_equal(symlink(elsewhere, file_in(dir, "minica.conf")), 0);
    expect_refused(dir, "minica.conf is a symbolic link");
    tu_free_ca(dir);
}

static void test_statedir_refuses_writable_parent(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    /* Whoever may write the parent may rename the state directory away and
     * put another in its place. */
    char parent[4200];
    snprintf(parent, sizeof(parent), "%s", dir);
    *strrchr(parent, '/') = '\0';
    assert_int_equal(chmod(parent, 0777), 0);
    expect_refused(dir, "writable by group or others (mode 0777)");
    /* A sticky directory (/tmp) lets nobody rename another's entry. */
    assert_int_equal(chmod(parent, 01777), 0);
    expect_opens(dir);
    assert_int_equal(chmod(parent, 0700), 0);
    tu_free_ca(dir);
}

static void test_statedir_accepts_symlinked_dir_of_owner(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    char link[4300];
    snprintf(link, sizeof(link), "%s-link", dir);
    assert_int_equal(symlink(dir, link), 0);
    expect_opens(link);
    /* The directory it points to is still checked. */
    assert_int_equal(chmod(dir, 0777), 0);
    expect_refused(link, "writable by group or others (mode 0777)");
    unlink(link);
    tu_free_ca(dir);
}

static void test_statedir_open_store_refuses_too(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    assert_int_equal(chmod(dir, 0777), 0);
    struct minica_store *store = NULL;
    struct minica_err err = {{0}};
    assert_int_not_equal(minica_state_open_store(dir, &store, &err), 0);
    assert_null(store);
    assert_non_null(strstr(err.msg, "fix it with: chmod 700"));
    tu_free_ca(dir);
}

static void test_statedir_init_narrows_existing_dir(void **state)
{
    (void)state;
    char *parent = tu_tempdir();
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/ca", parent);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    struct minica_init_options opts;
    memset(&opts, 0, sizeof(opts));
    struct minica_err err = {{0}};
    if (minica_ca_init(dir, &opts, &err) != 0)
        fail_msg("init: %s", err.msg);
    assert_int_equal(tu_mode_of(dir), 0700);
    expect_opens(dir);
    tu_rmtree(parent);
    free(parent);
}

static void test_statedir_init_refuses_dir_of_another_user(void **state)
{
    (void)state;
    skip_unless_root();
    char *parent = tu_tempdir();
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/ca", parent);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chown(dir, OTHER_UID, OTHER_UID), 0);
    struct minica_init_options opts;
    memset(&opts, 0, sizeof(opts));
    struct minica_err err = {{0}};
    assert_int_not_equal(minica_ca_init(dir, &opts, &err), 0);
    assert_non_null(strstr(err.msg, "is owned by uid 65534"));
    assert_false(minica_file_exists(file_in(dir, "intermediate.key")));
    tu_rmtree(parent);
    free(parent);
}

/* The rule itself, on a stat result: what each kind of file may be. */
static void test_statedir_check_stat_rule(void **state)
{
    (void)state;
    struct stat st;
    struct minica_err err;
    uid_t me = geteuid();
    memset(&st, 0, sizeof(st));
    st.st_uid = me;
    st.st_mode = S_IFREG | 0644;
    assert_int_equal(minica_statedir_check_stat("/x/minica.conf", &st, MINICA_STATEDIR_FILE, &err),
                     0);
    st.st_mode = S_IFREG | 0664;
    assert_int_not_equal(
        minica_statedir_check_stat("/x/minica.conf", &st, MINICA_STATEDIR_FILE, &err), 0);
    st.st_mode = S_IFREG | 0644;
    assert_int_not_equal(
        minica_statedir_check_stat("/x/intermediate.key", &st, MINICA_STATEDIR_KEY, &err), 0);
    assert_non_null(strstr(err.msg, "fix it with: chmod 600 /x/intermediate.key"));
    st.st_mode = S_IFREG | 0600;
    assert_int_equal(
        minica_statedir_check_stat("/x/intermediate.key", &st, MINICA_STATEDIR_KEY, &err), 0);
    st.st_uid = 0;
    assert_int_equal(
        minica_statedir_check_stat("/x/intermediate.key", &st, MINICA_STATEDIR_KEY, &err), 0);
    st.st_uid = me == OTHER_UID ? OTHER_UID + 1 : OTHER_UID;
    assert_int_not_equal(
        minica_statedir_check_stat("/x/intermediate.key", &st, MINICA_STATEDIR_KEY, &err), 0);
    st.st_uid = me;
    st.st_mode = S_IFDIR | 0755;
    assert_int_equal(minica_statedir_check_stat("/x", &st, MINICA_STATEDIR_DIR, &err), 0);
    st.st_mode = S_IFDIR | 0757;
    assert_int_not_equal(minica_statedir_check_stat("/x", &st, MINICA_STATEDIR_DIR, &err), 0);
    assert_non_null(strstr(err.msg, "fix it with: chmod 700 /x"));
    st.st_mode = S_IFREG | 0700;
    assert_int_not_equal(minica_statedir_check_stat("/x", &st, MINICA_STATEDIR_DIR, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statedir_fresh_ca_opens),
        cmocka_unit_test(test_statedir_refuses_world_writable_dir),
        cmocka_unit_test(test_statedir_refuses_group_writable_dir),
        cmocka_unit_test(test_statedir_refuses_policy_of_another_user),
        cmocka_unit_test(test_statedir_refuses_writable_policy),
        cmocka_unit_test(test_statedir_refuses_writable_db),
        cmocka_unit_test(test_statedir_refuses_writable_wal),
        cmocka_unit_test(test_statedir_refuses_key_of_another_user),
        cmocka_unit_test(test_statedir_refuses_root_key_of_another_user),
        cmocka_unit_test(test_statedir_keeps_key_readability_rule),
        cmocka_unit_test(test_statedir_refuses_dir_of_another_user),
        cmocka_unit_test(test_statedir_refuses_symlinked_policy),
        cmocka_unit_test(test_statedir_refuses_writable_parent),
        cmocka_unit_test(test_statedir_accepts_symlinked_dir_of_owner),
        cmocka_unit_test(test_statedir_open_store_refuses_too),
        cmocka_unit_test(test_statedir_init_narrows_existing_dir),
        cmocka_unit_test(test_statedir_init_refuses_dir_of_another_user),
        cmocka_unit_test(test_statedir_check_stat_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
