/* Unit tests for the agent's fact cache (src/lib/agent/factcache.c): what a
 * no-op run may take from the last run instead of reading the files, and
 * every way that must stop: a file replaced or rewritten, another CA state,
 * a day gone by, times not yet settled, facts of a certificate that needs
 * work, and a cache file that is damaged or that others could read. Also
 * the CA's own stamp (minica_state_stamp). */
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

#include "agent/agent_internal.h"
#include "base/filestamp.h"
#include "minica/ca.h"
#include "testutil.h"

#define SEC 1000000000LL

struct fixture {
    char *dir;
    char key[512], chain[512], cache[512];
    struct minica_agent_cert cert;
    struct minica_agent_facts facts;
};

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = tu_tempdir();
    snprintf(f->key, sizeof(f->key), "%s/up.key", f->dir);
    snprintf(f->chain, sizeof(f->chain), "%s/up.fullchain.crt", f->dir);
    snprintf(f->cache, sizeof(f->cache), "%s/agent.status.facts", f->dir);
    write_text(f->key, "key one\n");
    write_text(f->chain, "chain one\n");
    minica_agent_cert_init(&f->cert);
    snprintf(f->cert.name, sizeof(f->cert.name), "up.svc");
    f->cert.key = f->key;
    f->cert.fullchain = f->chain;
    /* What inspect says of a healthy certificate. */
    f->facts.key_matches = 1;
    f->facts.files_agree = 1;
    f->facts.current_ca = 1;
    snprintf(f->facts.serial, sizeof(f->facts.serial), "0a1b2c");
    snprintf(f->facts.sans, sizeof(f->facts.sans), "up.svc,10.0.0.1");
    f->facts.usage = MINICA_USAGE_BOTH;
    f->facts.key_type = MINICA_KEY_EC_P256;
    f->facts.not_before = 1700000000;
    f->facts.not_after = 1707776000;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* One run at real time now: looks cert up, records the given facts when
 * it missed, saves. Returns whether it hit; *got gets the facts used. */
static int run_once(struct fixture *f, const char *ca_stamp, int64_t now,
                    const struct minica_agent_facts *inspected, struct minica_agent_facts *got)
{
    struct minica_agent_factcache *fc = minica_agent_factcache_open(f->cache, ca_stamp, now);
    assert_non_null(fc);
    char stamp[1024];
    struct minica_agent_facts facts;
    int hit = minica_agent_factcache_lookup(fc, &f->cert, &facts, stamp, sizeof(stamp));
    if (!hit) {
        facts = *inspected;
        minica_agent_factcache_record(fc, &f->cert, &facts, stamp);
    }
    if (got != NULL)
        *got = facts;
    struct minica_err err;
    assert_int_equal(minica_agent_factcache_save(fc, f->cache, &err), MINICA_OK);
    minica_agent_factcache_free(fc);
    return hit;
}

static int64_t later(void)
{
    return minica_filestamp_now() + 10 * SEC; /* every file time settled */
}

static void test_second_run_uses_the_first_runs_facts(void **state)
{
    struct fixture *f = *state;
    int64_t now = later();
    assert_false(run_once(f, "ca1", now, &f->facts, NULL));
    assert_int_equal(tu_mode_of(f->cache), 0600);
    struct minica_agent_facts got;
    assert_true(run_once(f, "ca1", now + SEC, &f->facts, &got));
    assert_string_equal(got.serial, "0a1b2c");
    assert_string_equal(got.sans, "up.svc,10.0.0.1");
    assert_int_equal(got.usage, MINICA_USAGE_BOTH);
    assert_int_equal(got.key_type, MINICA_KEY_EC_P256);
    assert_int_equal(got.not_before, 1700000000);
    assert_int_equal(got.not_after, 1707776000);
    assert_true(got.key_matches && got.files_agree && got.current_ca);
    assert_false(got.revoked || got.missing || got.unreadable);
    /* A run that only used the cache leaves the file alone. */
    struct stat before, after;
    assert_int_equal(stat(f->cache, &before), 0);
    assert_true(run_once(f, "ca1", now + 2 * SEC, &f->facts, NULL));
    assert_int_equal(stat(f->cache, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
}

static void test_another_ca_state_reads_the_files_again(void **state)
{
    struct fixture *f = *state;
    int64_t now = later();
    assert_false(run_once(f, "ca1", now, &f->facts, NULL));
    assert_false(run_once(f, "ca2", now, &f->facts, NULL));
    assert_true(run_once(f, "ca2", now, &f->facts, NULL));
}

static void test_a_changed_file_reads_the_files_again(void **state)
{
    struct fixture *f = *state;
    int64_t now = later();
    assert_false(run_once(f, "ca", now, &f->facts, NULL));
    /* Replaced by rename, as the agent and minica issue do. */
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp", f->chain);
    write_text(tmp, "chain two\n");
    assert_int_equal(rename(tmp, f->chain), 0);
    now = later();
    assert_false(run_once(f, "ca", now, &f->facts, NULL));
    assert_true(run_once(f, "ca", now, &f->facts, NULL));
    /* Rewritten in place with bytes of the same length. */
    write_text(f->key, "key two\n");
    now = later();
    assert_false(run_once(f, "ca", now, &f->facts, NULL));
    /* Gone. */
    assert_int_equal(unlink(f->key), 0);
    assert_false(run_once(f, "ca", later(), &f->facts, NULL));
}

static void test_a_path_moved_to_another_role_reads_the_files_again(void **state)
{
    struct fixture *f = *state;
    int64_t now = later();
    assert_false(run_once(f, "ca", now, &f->facts, NULL));
    f->cert.cert = f->chain; /* the same file, now also as cert = */
    assert_false(run_once(f, "ca", now, &f->facts, NULL));
}

static void test_facts_older_than_a_day_are_checked_again(void **state)
{
    struct fixture *f = *state;
    int64_t now = later();
    assert_false(run_once(f, "ca", now, &f->facts, NULL));
    assert_true(run_once(f, "ca", now + 86000 * SEC, &f->facts, NULL));
    assert_false(run_once(f, "ca", now + 86401 * SEC, &f->facts, NULL));
    /* Re-recorded then, so good for another day. */
    assert_true(run_once(f, "ca", now + 86402 * SEC, &f->facts, NULL));
    /* A clock set back before the entry was made proves nothing either. */
    assert_false(run_once(f, "ca", now, &f->facts, NULL));
}

static void test_fresh_file_times_are_not_trusted(void **state)
{
    struct fixture *f = *state;
    /* The files were written just now: a second write in the same clock
     * tick would leave their stamps equal. */
    int64_t now = minica_filestamp_now();
    assert_false(run_once(f, "ca", now, &f->facts, NULL));
    assert_false(run_once(f, "ca", now, &f->facts, NULL));
    assert_false(run_once(f, "ca", later(), &f->facts, NULL));
    assert_true(run_once(f, "ca", later(), &f->facts, NULL));
}

static void test_only_certificates_left_alone_are_kept(void **state)
{
    struct fixture *f = *state;
    int64_t now = later();
    struct minica_agent_facts bad[6];
    for (int i = 0; i < 6; i++)
        bad[i] = f->facts;
    bad[0].revoked = 1;
    bad[1].current_ca = 0;
    bad[2].key_matches = 0;
    bad[3].files_agree = 0;
    bad[4].unreadable = 1;
    bad[5].missing = 1;
    for (int i = 0; i < 6; i++) {
        assert_false(run_once(f, "ca", now, &bad[i], NULL));
        assert_false(run_once(f, "ca", now, &f->facts, NULL)); /* nothing was kept */
        assert_int_equal(unlink(f->cache), 0);
    }
}

static void test_a_damaged_or_exposed_cache_is_not_used(void **state)
{
    struct fixture *f = *state;
    int64_t now = later();
    assert_false(run_once(f, "ca", now, &f->facts, NULL));
    char *good = tu_slurp(f->cache);
    assert_non_null(good);
    /* Cut in the middle of the entry, another header, a bad number. */
    const char *damaged[3];
    char cut[4096], other[4096], badnum[4096];
    snprintf(cut, sizeof(cut), "%.*s", (int)(strlen(good) - 20), good);
    snprintf(other, sizeof(other), "minica-agent-facts 9%s", strchr(good, '\n'));
    snprintf(badnum, sizeof(badnum), "%s", good);
    char *tab = strrchr(badnum, '\t');
    assert_non_null(tab);
    tab[1] = 'x';
    damaged[0] = cut;
    damaged[1] = other;
    damaged[2] = badnum;
    for (int i = 0; i < 3; i++) {
        write_text(f->cache, damaged[i]);
        assert_int_equal(chmod(f->cache, 0600), 0);
        assert_false(run_once(f, "ca", now, &f->facts, NULL));
    }
    /* Readable by others: not this user's private record. */
    write_text(f->cache, good);
    assert_int_equal(chmod(f->cache, 0644), 0);
    assert_false(run_once(f, "ca", now, &f->facts, NULL));
    /* The run rewrote it privately; a symlink in its place is not followed. */
    assert_int_equal(tu_mode_of(f->cache), 0600);
    assert_true(run_once(f, "ca", now, &f->facts, NULL));
    char moved[600];
    snprintf(moved, sizeof(moved), "%s.real", f->cache);
    assert_int_equal(rename(f->cache, moved), 0);
    assert_int_equal(symlink(moved, f->cache), 0);
    assert_false(run_once(f, "ca", now, &f->facts, NULL));
    free(good);
}

static void test_ca_stamp_follows_what_a_verdict_reads(void **state)
{
    (void)state;
    char *ca = tu_make_ca();
    char a[1024], b[1024], path[600];
    int settled;
    assert_int_equal(minica_state_stamp(ca, a, sizeof(a), &settled), MINICA_OK);
    assert_false(settled); /* just made */
    assert_int_equal(minica_state_stamp(ca, b, sizeof(b), &settled), MINICA_OK);
    assert_string_equal(a, b);
    /* The agent's own files beside the CA do not count. */
    snprintf(path, sizeof(path), "%s/agent.status", ca);
    write_text(path, "last_run=1\n");
    assert_int_equal(minica_state_stamp(ca, b, sizeof(b), &settled), MINICA_OK);
    assert_string_equal(a, b);
    /* A new intermediate (rename), the archive, the inventory do. */
    const char *parts[] = {"intermediate.crt", "minica.db", "minica.conf"};
    for (size_t i = 0; i < 3; i++) {
        char tmp[700];
        snprintf(path, sizeof(path), "%s/%s", ca, parts[i]);
        snprintf(tmp, sizeof(tmp), "%s.copy", path);
        char *text = tu_slurp(path);
        FILE *out = fopen(tmp, "w");
        assert_non_null(out);
        fputs(text != NULL ? text : "", out);
        fclose(out);
        free(text);
        assert_int_equal(rename(tmp, path), 0);
        assert_int_equal(minica_state_stamp(ca, b, sizeof(b), &settled), MINICA_OK);
        assert_string_not_equal(a, b);
        snprintf(a, sizeof(a), "%s", b);
    }
    snprintf(path, sizeof(path), "%s/ca", ca);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(minica_state_stamp(ca, b, sizeof(b), &settled), MINICA_OK);
    assert_string_not_equal(a, b);
    /* A database elsewhere changes unseen: no stamp. */
    setenv("MINICA_DB", "/nonexistent/other.db", 1);
    assert_int_equal(minica_state_stamp(ca, b, sizeof(b), &settled), MINICA_EINVAL);
    unsetenv("MINICA_DB");
    tu_free_ca(ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_second_run_uses_the_first_runs_facts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_another_ca_state_reads_the_files_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_changed_file_reads_the_files_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_path_moved_to_another_role_reads_the_files_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_facts_older_than_a_day_are_checked_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fresh_file_times_are_not_trusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_certificates_left_alone_are_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_damaged_or_exposed_cache_is_not_used, setup,
                                        teardown),
        cmocka_unit_test(test_ca_stamp_follows_what_a_verdict_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
