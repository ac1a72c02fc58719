/* Unit tests for revocation in the inventory: reasons, NAME vs serial, several
 * certificates for one NAME, revoking twice, unknown targets, the audit row.
 * What the CRL then says is test_crl's job. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/util.h"
#include "minica/ca.h"
#include "minica/issue.h"
#include "minica/revoke.h"
#include "minica/store.h"
#include "testutil.h"

static void issue(struct minica_ca *ca, const char *name, int64_t ttl, char serial[41])
{
    struct minica_issue_request req;
    struct minica_issued out;
    struct minica_err err;
    memset(&req, 0, sizeof(req));
    req.name = name;
    req.ttl = ttl;
    if (minica_ca_issue(ca, &req, &out, &err) != 0)
        fail_msg("issue %s: %s", name, err.msg);
    snprintf(serial, 41, "%s", out.serial);
    minica_issued_free(&out);
}

struct status_count {
    size_t revoked, valid;
    int reason;
};

static int count_status(const struct minica_cert_row *row, void *ctx)
{
    struct status_count *c = ctx;
    if (row->revoked_at != 0) {
        c->revoked++;
        c->reason = row->revoke_reason;
    } else {
        c->valid++;
    }
    return 0;
}

static struct status_count statuses(struct minica_ca *ca, const char *name)
{
    struct minica_cert_filter filter;
    struct status_count c = {0};
    struct minica_err err;
    memset(&filter, 0, sizeof(filter));
    filter.name = name;
    assert_int_equal(minica_store_list_certs(minica_ca_store(ca), &filter, count_status, &c, &err),
                     0);
    return c;
}

static void issue_sans(struct minica_ca *ca, const char *name, const char *san1, const char *san2,
                       char serial[41])
{
    const char *sans[2] = {san1, san2};
    struct minica_issue_request req;
    struct minica_issued out;
    struct minica_err err;
    memset(&req, 0, sizeof(req));
    req.name = name;
    req.sans = sans;
    req.n_sans = san2 ? 2 : 1;
    if (minica_ca_issue(ca, &req, &out, &err) != 0)
        fail_msg("issue %s: %s", name, err.msg);
    snprintf(serial, 41, "%s", out.serial);
    minica_issued_free(&out);
}

/* The status of one certificate, looked up by serial (not by the name
 * lookup under test). */
static struct status_count status_of(struct minica_ca *ca, const char *serial)
{
    struct minica_cert_filter filter;
    struct status_count c = {0};
    struct minica_err err;
    memset(&filter, 0, sizeof(filter));
    filter.serial = serial;
    assert_int_equal(minica_store_list_certs(minica_ca_store(ca), &filter, count_status, &c, &err),
                     0);
    assert_int_equal(c.revoked + c.valid, 1);
    return c;
}

static int count_revoke_rows(const struct minica_audit_row *row, void *ctx)
{
    if (strncmp(row->summary, "revoked ", 8) == 0)
        (*(int *)ctx)++;
    return 0;
}

static int revoke_audit_rows(struct minica_ca *ca)
{
    int n = 0;
    struct minica_err err;
    assert_int_equal(minica_store_list_audit(minica_ca_store(ca), 0, count_revoke_rows, &n, &err),
                     0);
    return n;
}

/* The outcome res lists for serial, 0 when it does not list it. */
static int outcome_of(const struct minica_revoke_result *res, const char *serial)
{
    for (size_t i = 0; i < res->n_matches; i++)
        if (strcmp(res->matches[i].serial, serial) == 0)
            return (int)res->matches[i].outcome;
    return 0;
}

static void test_revoke_reason_parse_accepts_rfc_names(void **state)
{
    (void)state;
    enum minica_revoke_reason r;
    struct minica_err err;
    assert_int_equal(minica_revoke_reason_parse("keyCompromise", &r, &err), 0);
    assert_int_equal(r, MINICA_REASON_KEY_COMPROMISE);
    assert_int_equal(minica_revoke_reason_parse("key-compromise", &r, &err), 0);
    assert_int_equal(r, MINICA_REASON_KEY_COMPROMISE);
    assert_int_equal(minica_revoke_reason_parse("SUPERSEDED", &r, &err), 0);
    assert_int_equal(r, MINICA_REASON_SUPERSEDED);
    assert_int_equal(minica_revoke_reason_parse("cessationOfOperation", &r, &err), 0);
    assert_int_equal(r, MINICA_REASON_CESSATION_OF_OPERATION);
    assert_int_equal(minica_revoke_reason_parse("affiliationChanged", &r, &err), 0);
    assert_int_equal(r, MINICA_REASON_AFFILIATION_CHANGED);
    assert_int_equal(minica_revoke_reason_parse("unspecified", &r, &err), 0);
    assert_int_equal(r, MINICA_REASON_UNSPECIFIED);
    assert_string_equal(minica_revoke_reason_name(MINICA_REASON_KEY_COMPROMISE), "keyCompromise");
    assert_string_equal(minica_revoke_reason_name(4), "superseded");
}

static void test_revoke_reason_parse_rejects_unknown(void **state)
{
    (void)state;
    enum minica_revoke_reason r;
    struct minica_err err;
    assert_int_equal(minica_revoke_reason_parse("caCompromise", &r, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "caCompromise"));
    assert_int_equal(minica_revoke_reason_parse("", &r, &err), MINICA_EINVAL);
}

static void test_revoke_by_name_revokes_every_valid_cert(void **state)
{
    struct tu_ca *f = *state;
    char s1[41], s2[41], other[41];
    issue(f->ca, "web.example.svc", 0, s1);
    issue(f->ca, "web.example.svc", 0, s2);
    issue(f->ca, "db.example.svc", 0, other);
    struct minica_revoke_result res;
    struct minica_err err;
    assert_int_equal(
        minica_ca_revoke(f->ca, "Web.Example.SVC", MINICA_REASON_KEY_COMPROMISE, &res, &err), 2);
    assert_int_equal(res.revoked, 2);
    assert_int_equal(res.n_matches, 2);
    assert_int_equal(outcome_of(&res, s1), MINICA_REVOKE_DONE);
    assert_int_equal(outcome_of(&res, s2), MINICA_REVOKE_DONE);
    minica_revoke_result_free(&res);
    struct status_count c = statuses(f->ca, "web.example.svc");
    assert_int_equal(c.revoked, 2);
    assert_int_equal(c.valid, 0);
    assert_int_equal(c.reason, MINICA_REASON_KEY_COMPROMISE);
    assert_int_equal(statuses(f->ca, "db.example.svc").valid, 1);
    assert_int_equal(revoke_audit_rows(f->ca), 1);
}

static void test_revoke_twice_is_harmless(void **state)
{
    struct tu_ca *f = *state;
    char s[41];
    issue(f->ca, "twice.example.svc", 0, s);
    struct minica_revoke_result res;
    struct minica_err err;
    assert_int_equal(
        minica_ca_revoke(f->ca, "twice.example.svc", MINICA_REASON_SUPERSEDED, &res, &err), 1);
    minica_revoke_result_free(&res);
    assert_int_equal(
        minica_ca_revoke(f->ca, "twice.example.svc", MINICA_REASON_KEY_COMPROMISE, &res, &err), 0);
    assert_int_equal(res.revoked, 0);
    assert_int_equal(res.already_revoked, 1);
    assert_int_equal(res.n_matches, 1);
    assert_int_equal(outcome_of(&res, s), MINICA_REVOKE_ALREADY);
    minica_revoke_result_free(&res);
    /* The first reason stays; no second audit row for a no-op. */
    assert_int_equal(statuses(f->ca, "twice.example.svc").reason, MINICA_REASON_SUPERSEDED);
    assert_int_equal(revoke_audit_rows(f->ca), 1);
}

static void test_revoke_unknown_is_enoent(void **state)
{
    struct tu_ca *f = *state;
    struct minica_err err;
    assert_int_equal(
        minica_ca_revoke(f->ca, "nothing.example.svc", MINICA_REASON_UNSPECIFIED, NULL, &err),
        MINICA_ENOENT);
    assert_non_null(strstr(err.msg, "nothing.example.svc"));
    assert_int_equal(minica_ca_revoke(f->ca, "abcdef", MINICA_REASON_UNSPECIFIED, NULL, &err),
                     MINICA_ENOENT);
    assert_int_equal(revoke_audit_rows(f->ca), 0);
}

static void test_revoke_by_serial_accepts_operator_spelling(void **state)
{
    struct tu_ca *f = *state;
    char s[41], keep[41];
    issue(f->ca, "serial.example.svc", 0, s);
    issue(f->ca, "serial.example.svc", 0, keep);
    /* Upper case with colons, as openssl prints it. */
    char typed[80] = "";
    for (size_t i = 0; s[i]; i += 2) {
        char pair[4] = {(char)(s[i] >= 'a' ? s[i] - 32 : s[i]),
                        (char)(s[i + 1] >= 'a' ? s[i + 1] - 32 : s[i + 1]), 0, 0};
        if (i)
            strcat(typed, ":");
        strcat(typed, pair);
    }
    struct minica_revoke_result res;
    struct minica_err err;
    assert_int_equal(minica_ca_revoke(f->ca, typed, MINICA_REASON_UNSPECIFIED, &res, &err), 1);
    assert_int_equal(res.n_matches, 1);
    assert_int_equal(outcome_of(&res, s), MINICA_REVOKE_DONE);
    minica_revoke_result_free(&res);
    struct status_count c = statuses(f->ca, "serial.example.svc");
    assert_int_equal(c.revoked, 1);
    assert_int_equal(c.valid, 1);
}

static void test_revoke_by_name_leaves_expired_alone(void **state)
{
    struct tu_ca *f = *state;
    char s_old[41], s_new[41];
    issue(f->ca, "old.example.svc", 3600, s_old);
    char later[32];
    snprintf(later, sizeof(later), "%lld", (long long)minica_now() + 7200);
    setenv("MINICA_FAKE_NOW", later, 1);
    issue(f->ca, "old.example.svc", 0, s_new);
    struct minica_revoke_result res;
    struct minica_err err;
    assert_int_equal(
        minica_ca_revoke(f->ca, "old.example.svc", MINICA_REASON_UNSPECIFIED, &res, &err), 1);
    assert_int_equal(res.expired, 1);
    assert_int_equal(outcome_of(&res, s_new), MINICA_REVOKE_DONE);
    assert_int_equal(outcome_of(&res, s_old), MINICA_REVOKE_EXPIRED);
    minica_revoke_result_free(&res);
}

/* Issue 13: "revoke b" must also revoke a certificate for a that carries b
 * as a SAN, and count it. */
static void test_revoke_by_name_finds_it_among_the_sans(void **state)
{
    struct tu_ca *f = *state;
    char b[41], a[41], other[41];
    issue(f->ca, "b.example.svc", 0, b);
    issue_sans(f->ca, "a.example.svc", "b.example.svc", NULL, a);
    issue_sans(f->ca, "c.example.svc", "bb.example.svc", "example.svc", other);
    struct minica_revoke_result res;
    struct minica_err err;
    assert_int_equal(
        minica_ca_revoke(f->ca, "b.example.svc", MINICA_REASON_KEY_COMPROMISE, &res, &err), 2);
    assert_int_equal(res.revoked, 2);
    assert_int_equal(res.n_matches, 2);
    assert_int_equal(outcome_of(&res, b), MINICA_REVOKE_DONE);
    assert_int_equal(outcome_of(&res, a), MINICA_REVOKE_DONE);
    /* Each with all its names, so the operator sees why a's went too. */
    for (size_t i = 0; i < res.n_matches; i++)
        if (strcmp(res.matches[i].serial, a) == 0)
            assert_string_equal(res.matches[i].sans, "a.example.svc,b.example.svc");
    minica_revoke_result_free(&res);
    assert_int_equal(status_of(f->ca, b).revoked, 1);
    assert_int_equal(status_of(f->ca, a).revoked, 1);
    assert_int_equal(status_of(f->ca, a).reason, MINICA_REASON_KEY_COMPROMISE);
    /* Near names are other names. */
    assert_int_equal(status_of(f->ca, other).valid, 1);
    assert_int_equal(revoke_audit_rows(f->ca), 1);
}

static void test_revoke_by_ip_finds_every_cert_carrying_it(void **state)
{
    struct tu_ca *f = *state;
    char ip_only[41], dns[41], v6[41], other[41];
    issue(f->ca, "10.0.2.88", 0, ip_only);
    issue_sans(f->ca, "web.example.svc", "10.0.2.88", "2001:db8::7", dns);
    issue_sans(f->ca, "v6.example.svc", "2001:db8::7", NULL, v6);
    issue_sans(f->ca, "db.example.svc", "10.0.2.89", NULL, other);
    struct minica_err err;
    assert_int_equal(minica_ca_revoke(f->ca, "10.0.2.88", MINICA_REASON_UNSPECIFIED, NULL, &err),
                     2);
    assert_int_equal(status_of(f->ca, ip_only).revoked, 1);
    assert_int_equal(status_of(f->ca, dns).revoked, 1);
    assert_int_equal(status_of(f->ca, v6).valid, 1);
    assert_int_equal(status_of(f->ca, other).valid, 1);
    /* An IPv6 address as typed, not as stored: canonicalized first. */
    assert_int_equal(
        minica_ca_revoke(f->ca, "2001:DB8:0:0::7", MINICA_REASON_UNSPECIFIED, NULL, &err), 1);
    assert_int_equal(status_of(f->ca, v6).revoked, 1);
    assert_int_equal(status_of(f->ca, other).valid, 1);
}

/* More certificates than the old fixed 2048-byte list of serials held: all
 * of them are revoked, counted and listed, and the audit row names each. */
static void test_revoke_lists_every_cert_however_many(void **state)
{
    struct tu_ca *f = *state;
    enum { N = 70 }; /* 70 serials of 32 hex digits do not fit in 2048 bytes */
    static char serials[N][41];
    for (int i = 0; i < N; i++)
        issue(f->ca, "many.example.svc", 0, serials[i]);
    struct minica_revoke_result res;
    struct minica_err err;
    assert_int_equal(
        minica_ca_revoke(f->ca, "many.example.svc", MINICA_REASON_UNSPECIFIED, &res, &err), N);
    assert_int_equal(res.n_matches, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(outcome_of(&res, serials[i]), MINICA_REVOKE_DONE);
    minica_revoke_result_free(&res);
    minica_revoke_result_free(&res); /* twice is harmless */
    assert_int_equal(revoke_audit_rows(f->ca), 1);
    /* The stored row names every serial (read with SQL: the audit API hands
     * rows out in a fixed buffer). */
    char target[4200];
    tu_ca_target(f->dir, target, sizeof(target));
    char *summary = tu_store_query_text(target, "SELECT summary FROM audit WHERE summary LIKE "
                                                "'revoked many.example.svc serial=%'");
    for (int i = 0; i < N; i++)
        assert_non_null(strstr(summary, serials[i]));
    assert_non_null(strstr(summary, " reason=unspecified"));
    free(summary);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revoke_reason_parse_accepts_rfc_names),
        cmocka_unit_test(test_revoke_reason_parse_rejects_unknown),
        cmocka_unit_test_setup_teardown(test_revoke_by_name_revokes_every_valid_cert, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_by_name_finds_it_among_the_sans, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_by_ip_finds_every_cert_carrying_it, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_lists_every_cert_however_many, tu_ca_setup,
                                        tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_twice_is_harmless, tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_unknown_is_enoent, tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_by_serial_accepts_operator_spelling,
                                        tu_ca_setup, tu_ca_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_by_name_leaves_expired_alone, tu_ca_setup,
                                        tu_ca_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
