/* Unit tests for minica_trust_apply through the public header: what may be
 * trusted (roots only), the name a root gets in every store, and the NSS
 * driver's idempotence on a real certutil database in a temp dir. A store
 * that is not here is a skip, or a failure when it was asked for. The real
 * system store, Chromium and Java are tests/integration/test_trust_store.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "minica/ca.h"
#include "minica/issue.h"
#include "minica/truststore.h"
#include "testutil.h"

struct seen {
    size_t n[5];
    char last[2048];
};

static void collect(const struct minica_trust_report *r, void *ctx)
{
    struct seen *s = ctx;
    s->n[r->outcome]++;
    snprintf(s->last, sizeof(s->last), "%s: %s", r->store, r->text);
}

static int apply(const char *pem, struct minica_trust_options *o, struct seen *s,
                 struct minica_err *err)
{
    memset(s, 0, sizeof(*s));
    return minica_trust_apply(pem, o, collect, s, err);
}

static void test_only_roots_are_trusted(void **state)
{
    struct tu_ca *f = *state;
    struct minica_issue_request req;
    struct minica_issued leaf;
    struct minica_err err;
    struct seen s;
    memset(&req, 0, sizeof(req));
    req.name = "leaf.example.svc";
    assert_int_equal(minica_ca_issue(f->ca, &req, &leaf, &err), 0);
    struct minica_trust_options o = {.action = MINICA_TRUST_CHECK, .stores = MINICA_TRUST_NSS};
    assert_int_equal(apply(leaf.cert_pem, &o, &s, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "(CN=leaf.example.svc) is not a CA certificate"));
    assert_int_equal(apply(minica_ca_chain_pem(f->ca), &o, &s, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "is not a root (it is not self-signed)"));
    assert_int_equal(apply("not a certificate", &o, &s, &err), MINICA_EINVAL);
    /* Nothing was asked of any store. */
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(s.n[i], 0);
    minica_issued_free(&leaf);
}

static void test_nss_install_is_idempotent(void **state)
{
    struct tu_ca *f = *state;
    if (system("command -v certutil >/dev/null") != 0)
        fail_msg("certutil is needed (libnss3-tools: scripts/install-deps --test)");
    char db[4200], cmd[4400], nick[32];
    snprintf(db, sizeof(db), "%s/../nssdb", f->dir);
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && certutil -N -d 'sql:%s' --empty-password", db, db);
    assert_int_equal(system(cmd), 0);
    const char *roots = minica_ca_roots_pem(f->ca);
    /* "minica-" and 16 hex digits of the root's SHA-256, as the CA has it. */
    snprintf(nick, sizeof(nick), "minica-%.16s", minica_ca_root_fingerprint(f->ca));
    const char *dbs[] = {db};
    struct minica_trust_options o = {.stores = MINICA_TRUST_NSS, .nssdbs = dbs, .n_nssdbs = 1};
    struct minica_err err;
    struct seen s;

    o.action = MINICA_TRUST_CHECK;
    assert_int_equal(apply(roots, &o, &s, &err), MINICA_ENOENT);
    assert_int_equal(s.n[MINICA_TRUST_MISSING], 1);

    o.action = MINICA_TRUST_INSTALL;
    assert_int_equal(apply(roots, &o, &s, &err), 0);
    assert_int_equal(s.n[MINICA_TRUST_CHANGED], 1);
    assert_non_null(strstr(s.last, nick));
    assert_int_equal(apply(roots, &o, &s, &err), 0);
    assert_int_equal(s.n[MINICA_TRUST_CHANGED], 0);
    assert_int_equal(s.n[MINICA_TRUST_UNCHANGED], 1);

    o.action = MINICA_TRUST_CHECK;
    assert_int_equal(apply(roots, &o, &s, &err), 0);

    /* An entry under our name without trust is not "trusted". */
    snprintf(cmd, sizeof(cmd), "certutil -M -d 'sql:%s' -n %s -t ,,", db, nick);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(apply(roots, &o, &s, &err), MINICA_ENOENT);
    o.action = MINICA_TRUST_INSTALL;
    assert_int_equal(apply(roots, &o, &s, &err), 0);
    assert_int_equal(s.n[MINICA_TRUST_CHANGED], 1);

    o.action = MINICA_TRUST_UNINSTALL;
    assert_int_equal(apply(roots, &o, &s, &err), 0);
    assert_int_equal(s.n[MINICA_TRUST_CHANGED], 1);
    assert_int_equal(apply(roots, &o, &s, &err), 0);
    assert_int_equal(s.n[MINICA_TRUST_UNCHANGED], 1);
    o.action = MINICA_TRUST_CHECK;
    assert_int_equal(apply(roots, &o, &s, &err), MINICA_ENOENT);
}

static void test_a_store_not_here_is_skipped_unless_named(void **state)
{
    struct tu_ca *f = *state;
    char home[4200];
    snprintf(home, sizeof(home), "%s/../emptyhome", f->dir);
    struct minica_trust_options o = {
        .action = MINICA_TRUST_INSTALL, .stores = MINICA_TRUST_NSS, .home = home};
    struct minica_err err;
    struct seen s;
    assert_int_equal(apply(minica_ca_roots_pem(f->ca), &o, &s, &err), 0);
    assert_int_equal(s.n[MINICA_TRUST_SKIPPED], 1);
    assert_non_null(strstr(s.last, "no NSS database under"));
    o.required = MINICA_TRUST_NSS;
    assert_int_equal(apply(minica_ca_roots_pem(f->ca), &o, &s, &err), MINICA_EIO);
    assert_int_equal(s.n[MINICA_TRUST_FAILED], 1);
    assert_non_null(strstr(err.msg, "1 store could not be updated"));

    /* A keystore named that is not there is a failure, never a skip. */
    struct minica_trust_options j = {.action = MINICA_TRUST_INSTALL,
                                     .stores = MINICA_TRUST_JAVA,
                                     .java_cacerts = "/nonexistent/cacerts"};
    if (system("command -v keytool >/dev/null") == 0) {
        assert_int_equal(apply(minica_ca_roots_pem(f->ca), &j, &s, &err), MINICA_EIO);
        assert_non_null(strstr(s.last, "no keystore /nonexistent/cacerts"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_only_roots_are_trusted, tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_nss_install_is_idempotent, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_a_store_not_here_is_skipped_unless_named, tu_ca_setup,
                                        tu_ca_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
