/* Unit tests for the ACME tables of the inventory (store_acme.h): nonces
 * spent exactly once, accounts and key change under UNIQUE, orders with
 * their authorizations and challenges written all or nothing, keyset
 * paging, conditional transitions, sweeps, and races between processes
 * that each hold their own connection to one database file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "minica/error.h"
#include "minica/store.h"
#include "minica/store_acme.h"
#include "testutil.h"

#define NOW 1800000000LL

struct fixture {
    char *dir;
    char path[4200];
    struct minica_store *store;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->dir = tu_tempdir();
    tu_store_target(f->dir, f->path, sizeof(f->path));
    struct minica_err err;
    if (minica_store_open(f->path, &f->store, &err) != 0) {
        print_error("%s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    minica_store_close(f->store);
    tu_store_drop(f->path);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        struct minica_err e_ = {{0}};                                                              \
        int r_ = (call);                                                                           \
        if (r_ != 0)                                                                               \
            fail_msg("%s: %d %s", #call, r_, e_.msg);                                              \
    } while (0)
/* OK and REFUSED pass their own err as E. */
#define E (&e_)
#define REFUSED(code, call)                                                                        \
    do {                                                                                           \
        struct minica_err e_ = {{0}};                                                              \
        int r_ = (call);                                                                           \
        if (r_ != (code))                                                                          \
            fail_msg("%s: want %d, got %d (%s)", #call, (code), r_, e_.msg);                       \
        if (e_.msg[0] == '\0')                                                                     \
            fail_msg("%s: no reason given", #call);                                                \
    } while (0)

static void make_account(struct minica_acme_account *a, const char *id, const char *thumbprint)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->id, sizeof(a->id), "%s", id);
    snprintf(a->thumbprint, sizeof(a->thumbprint), "%s", thumbprint);
    snprintf(a->jwk, sizeof(a->jwk), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\"}", thumbprint);
    snprintf(a->status, sizeof(a->status), "valid");
    a->created_at = NOW;
}

static void add_account(struct minica_store *store, const char *id, const char *thumbprint)
{
    struct minica_acme_account a;
    make_account(&a, id, thumbprint);
    OK(minica_store_acme_account_insert(store, &a, E));
}

static void add_eab(struct minica_store *store, const char *kid, int64_t expires_at)
{
    struct minica_acme_eab_key k;
    memset(&k, 0, sizeof(k));
    snprintf(k.kid, sizeof(k.kid), "%s", kid);
    snprintf(k.label, sizeof(k.label), "web team");
    snprintf(k.permit_dns, sizeof(k.permit_dns), "web.internal");
    k.created_at = NOW - 10;
    k.expires_at = expires_at;
    OK(minica_store_acme_eab_insert(store, &k, E));
}

/* An order of two names, one wildcard, each with an http-01 and a
 * tls-alpn-01 challenge: ids derived from the order's. */
struct order_set {
    struct minica_acme_order order;
    struct minica_acme_authz authz[2];
    struct minica_acme_challenge chall[4];
};

static void make_order(struct order_set *o, const char *id, const char *account_id)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->order.id, sizeof(o->order.id), "%s", id);
    snprintf(o->order.account_id, sizeof(o->order.account_id), "%s", account_id);
    snprintf(o->order.status, sizeof(o->order.status), "pending");
    snprintf(o->order.identifiers, sizeof(o->order.identifiers),
             "[{\"type\":\"dns\",\"value\":\"*.a.internal.svc\"},"
             "{\"type\":\"ip\",\"value\":\"10.0.2.88\"}]");
    o->order.expires_at = NOW + 7 * 86400LL;
    o->order.created_at = NOW;
    for (int i = 0; i < 2; i++) {
        struct minica_acme_authz *a = &o->authz[i];
        snprintf(a->id, sizeof(a->id), "%s-z%d", id, i);
        snprintf(a->order_id, sizeof(a->order_id), "%s", id);
        snprintf(a->type, sizeof(a->type), "%s", i == 0 ? "dns" : "ip");
        snprintf(a->value, sizeof(a->value), "%s", i == 0 ? "a.internal.svc" : "10.0.2.88");
        a->wildcard = i == 0;
        snprintf(a->status, sizeof(a->status), "pending");
        a->expires_at = NOW + 7 * 86400LL;
        for (int j = 0; j < 2; j++) {
            struct minica_acme_challenge *c = &o->chall[2 * i + j];
            snprintf(c->id, sizeof(c->id), "%s-z%d-c%d", id, i, j);
            snprintf(c->authz_id, sizeof(c->authz_id), "%s", a->id);
            snprintf(c->type, sizeof(c->type), "%s", j == 0 ? "http-01" : "tls-alpn-01");
            snprintf(c->token, sizeof(c->token), "tok-%s-%d-%d", id, i, j);
            snprintf(c->status, sizeof(c->status), "pending");
        }
    }
}

static int insert_order(struct minica_store *store, struct order_set *o, struct minica_err *err)
{
    return minica_store_acme_order_insert(store, &o->order, o->authz, 2, o->chall, 4, err);
}

static void add_order(struct minica_store *store, const char *id, const char *account_id)
{
    struct order_set o;
    make_order(&o, id, account_id);
    OK(insert_order(store, &o, E));
}

static void add_cert(struct minica_store *store, const char *serial)
{
    struct minica_cert_row row;
    memset(&row, 0, sizeof(row));
    snprintf(row.serial, sizeof(row.serial), "%s", serial);
    snprintf(row.name, sizeof(row.name), "a.internal.svc");
    snprintf(row.sans, sizeof(row.sans), "a.internal.svc");
    snprintf(row.usage, sizeof(row.usage), "server");
    snprintf(row.key_type, sizeof(row.key_type), "ec-p256");
    row.not_before = NOW;
    row.not_after = NOW + 86400;
    row.issued_at = NOW;
    snprintf(row.fingerprint_sha256, sizeof(row.fingerprint_sha256), "%064d", atoi(serial));
    memset(row.issuer_fingerprint_sha256, 'e', 64);
    OK(minica_store_insert_cert(store, &row, "pem", E));
}

static int64_t count_rows(const char *target, const char *sql)
{
    return (int64_t)tu_store_query_int(target, sql);
}

/* A database of the release before ACME (schema 4: this one minus the
 * ACME tables) with a certificate in it upgrades, and an order of the new
 * tables can point at that certificate. */
static void test_store_acme_migration_upgrades_a_v4_db(void **state)
{
    struct fixture *f = *state;
    add_cert(f->store, "01");
    minica_store_close(f->store);
    f->store = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE serve_secrets; DROP TABLE published_crls; "
                                  "DROP TABLE acme_eab_keys; "
                                  "DROP TABLE acme_challenges; DROP TABLE acme_authz; "
                                  "DROP TABLE acme_orders; DROP TABLE acme_accounts; "
                                  "DROP TABLE acme_nonces; DROP INDEX certs_issuer_stats; "
                                  "CREATE INDEX certs_issuer ON certs(issuer_fingerprint_sha256, "
                                  "not_after); PRAGMA user_version = 4",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    OK(minica_store_open(f->path, &f->store, E));
    assert_int_equal(minica_store_schema_version(f->store), 10);
    add_account(f->store, "acct1", "thumb1");
    add_order(f->store, "ord1", "acct1");
    OK(minica_store_acme_order_transition(f->store, "ord1", "pending", "valid", "01", NULL, E));
    struct minica_acme_order o;
    OK(minica_store_acme_order_get(f->store, "ord1", &o, E));
    assert_string_equal(o.cert_serial, "01");
}

/* A database of schema 5 (the first ACME release: no acme_orders.replaces)
 * with a valid order upgrades; the order reads back replacing nothing and a
 * new one can replace its certificate. */
static void test_store_acme_migration_upgrades_a_v5_db(void **state)
{
    struct fixture *f = *state;
    add_cert(f->store, "01");
    add_account(f->store, "acct1", "thumb1");
    add_order(f->store, "ord1", "acct1");
    OK(minica_store_acme_order_transition(f->store, "ord1", "pending", "valid", "01", NULL, E));
    minica_store_close(f->store);
    f->store = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP INDEX acme_orders_replaces; "
                                  "ALTER TABLE acme_orders DROP COLUMN replaces; "
                                  "DROP TABLE acme_eab_keys; DROP TABLE published_crls; "
                                  "DROP TABLE serve_secrets; DROP INDEX certs_issuer_stats; "
                                  "CREATE INDEX certs_issuer ON certs(issuer_fingerprint_sha256, "
                                  "not_after); PRAGMA user_version = 5",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    OK(minica_store_open(f->path, &f->store, E));
    assert_int_equal(minica_store_schema_version(f->store), 10);
    struct minica_acme_order o;
    OK(minica_store_acme_order_get(f->store, "ord1", &o, E));
    assert_string_equal(o.replaces, "");
    struct order_set n;
    make_order(&n, "ord2", "acct1");
    snprintf(n.order.replaces, sizeof(n.order.replaces), "01");
    OK(insert_order(f->store, &n, E));
    OK(minica_store_acme_order_get(f->store, "ord2", &o, E));
    assert_string_equal(o.replaces, "01");
}

/* RFC 9773 5: one live replacement per certificate, decided by the insert;
 * once that order is invalid, another may replace the certificate. */
static void test_store_acme_replaces_once_unless_invalid(void **state)
{
    struct fixture *f = *state;
    add_cert(f->store, "01");
    add_account(f->store, "acct1", "thumb1");
    add_order(f->store, "ord1", "acct1");
    OK(minica_store_acme_order_transition(f->store, "ord1", "pending", "valid", "01", NULL, E));
    struct minica_acme_order o;
    OK(minica_store_acme_order_by_cert(f->store, "01", &o, E));
    assert_string_equal(o.id, "ord1");
    REFUSED(MINICA_ENOENT, minica_store_acme_order_by_cert(f->store, "02", &o, E));
    REFUSED(MINICA_ENOENT, minica_store_acme_order_replacement(f->store, "01", &o, E));

    struct order_set n;
    make_order(&n, "ord2", "acct1");
    snprintf(n.order.replaces, sizeof(n.order.replaces), "01");
    OK(insert_order(f->store, &n, E));
    OK(minica_store_acme_order_replacement(f->store, "01", &o, E));
    assert_string_equal(o.id, "ord2");
    make_order(&n, "ord3", "acct1");
    snprintf(n.order.replaces, sizeof(n.order.replaces), "01");
    REFUSED(MINICA_EBUSY, insert_order(f->store, &n, E));
    /* Nothing of the refused order was kept. */
    REFUSED(MINICA_ENOENT, minica_store_acme_order_get(f->store, "ord3", &o, E));
    REFUSED(MINICA_ENOENT, minica_store_acme_authz_get(f->store, "ord3-z0", &n.authz[0], E));

    OK(minica_store_acme_order_transition(f->store, "ord2", "pending", "invalid", NULL, NULL, E));
    REFUSED(MINICA_ENOENT, minica_store_acme_order_replacement(f->store, "01", &o, E));
    OK(insert_order(f->store, &n, E));
    OK(minica_store_acme_order_replacement(f->store, "01", &o, E));
    assert_string_equal(o.id, "ord3");

    /* Only a certificate of the inventory can be replaced. */
    make_order(&n, "ord4", "acct1");
    snprintf(n.order.replaces, sizeof(n.order.replaces), "99");
    REFUSED(MINICA_ENOENT, insert_order(f->store, &n, E));
}

static void test_store_acme_nonce_is_spent_exactly_once(void **state)
{
    struct fixture *f = *state;
    OK(minica_store_acme_nonce_spend(f->store, "n1", NOW + 60, E));
    REFUSED(MINICA_EFORBIDDEN, minica_store_acme_nonce_spend(f->store, "n1", NOW + 60, E));
    OK(minica_store_acme_nonce_spend(f->store, "n2", NOW + 60, E));
}

/* A spent nonce met inside a transaction is an answer the caller goes on
 * from: on PostgreSQL a failed INSERT would have aborted the transaction
 * and everything after it. */
static void test_store_acme_nonce_reuse_inside_a_transaction_keeps_it(void **state)
{
    struct fixture *f = *state;
    OK(minica_store_acme_nonce_spend(f->store, "n1", NOW + 60, E));
    OK(minica_store_begin(f->store, E));
    REFUSED(MINICA_EFORBIDDEN, minica_store_acme_nonce_spend(f->store, "n1", NOW + 60, E));
    OK(minica_store_acme_nonce_spend(f->store, "n2", NOW + 60, E));
    OK(minica_store_commit(f->store, E));
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM acme_nonces"), 2);
}

static void test_store_acme_nonce_sweep_forgets_only_expired(void **state)
{
    struct fixture *f = *state;
    OK(minica_store_acme_nonce_spend(f->store, "a", NOW - 10, E));
    OK(minica_store_acme_nonce_spend(f->store, "b", NOW, E));
    OK(minica_store_acme_nonce_spend(f->store, "c", NOW + 10, E));
    int64_t swept = -1;
    OK(minica_store_acme_nonce_sweep(f->store, NOW, &swept, E));
    assert_int_equal(swept, 2);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM acme_nonces"), 1);
    OK(minica_store_acme_nonce_sweep(f->store, NOW, NULL, E));
    /* Still remembered until it would have expired. */
    REFUSED(MINICA_EFORBIDDEN, minica_store_acme_nonce_spend(f->store, "c", NOW + 10, E));
}

static void test_store_acme_account_insert_and_lookups(void **state)
{
    struct fixture *f = *state;
    struct minica_acme_account a, got;
    make_account(&a, "acct1", "thumb1");
    snprintf(a.contact, sizeof(a.contact), "[\"mailto:ops@example.org\"]");
    snprintf(a.eab_kid, sizeof(a.eab_kid), "kid-7");
    add_eab(f->store, "kid-7", NOW + 60);
    OK(minica_store_acme_account_insert(f->store, &a, E));
    add_account(f->store, "acct2", "thumb2");

    OK(minica_store_acme_account_get(f->store, "acct1", &got, E));
    assert_string_equal(got.id, "acct1");
    assert_string_equal(got.thumbprint, "thumb1");
    assert_string_equal(got.jwk, a.jwk);
    assert_string_equal(got.status, "valid");
    assert_string_equal(got.contact, "[\"mailto:ops@example.org\"]");
    assert_string_equal(got.eab_kid, "kid-7");
    assert_int_equal(got.created_at, NOW);

    OK(minica_store_acme_account_by_thumbprint(f->store, "thumb2", &got, E));
    assert_string_equal(got.id, "acct2");
    assert_string_equal(got.contact, "");
    assert_string_equal(got.eab_kid, "");
    REFUSED(MINICA_ENOENT, minica_store_acme_account_get(f->store, "nobody", &got, E));
    REFUSED(MINICA_ENOENT, minica_store_acme_account_by_thumbprint(f->store, "thumb3", &got, E));
}

static void test_store_acme_account_refuses_duplicates_and_bad_status(void **state)
{
    struct fixture *f = *state;
    add_account(f->store, "acct1", "thumb1");
    struct minica_acme_account a;
    make_account(&a, "acct2", "thumb1"); /* the same key: one account per key */
    REFUSED(MINICA_EEXIST, minica_store_acme_account_insert(f->store, &a, E));
    make_account(&a, "acct1", "thumb9");
    REFUSED(MINICA_EEXIST, minica_store_acme_account_insert(f->store, &a, E));
    make_account(&a, "acct3", "thumb3");
    snprintf(a.status, sizeof(a.status), "active"); /* not an RFC 8555 status */
    REFUSED(MINICA_EINVAL, minica_store_acme_account_insert(f->store, &a, E));
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM acme_accounts"), 1);
}

static void test_store_acme_account_update_until_deactivated(void **state)
{
    struct fixture *f = *state;
    add_account(f->store, "acct1", "thumb1");
    struct minica_acme_account got;
    OK(minica_store_acme_account_update(f->store, "acct1", "[\"mailto:a@example.org\"]", NULL, E));
    OK(minica_store_acme_account_get(f->store, "acct1", &got, E));
    assert_string_equal(got.contact, "[\"mailto:a@example.org\"]");
    assert_string_equal(got.status, "valid");
    /* NULL keeps the contact; "" clears it. */
    OK(minica_store_acme_account_update(f->store, "acct1", NULL, NULL, E));
    OK(minica_store_acme_account_get(f->store, "acct1", &got, E));
    assert_string_equal(got.contact, "[\"mailto:a@example.org\"]");
    OK(minica_store_acme_account_update(f->store, "acct1", "", NULL, E));
    OK(minica_store_acme_account_get(f->store, "acct1", &got, E));
    assert_string_equal(got.contact, "");

    REFUSED(MINICA_EINVAL, minica_store_acme_account_update(f->store, "acct1", NULL, "gone", E));
    OK(minica_store_acme_account_update(f->store, "acct1", NULL, "deactivated", E));
    OK(minica_store_acme_account_get(f->store, "acct1", &got, E));
    assert_string_equal(got.status, "deactivated");
    /* Final: neither contact nor status moves again. */
    REFUSED(MINICA_EBUSY, minica_store_acme_account_update(f->store, "acct1", "[]", NULL, E));
    REFUSED(MINICA_EBUSY, minica_store_acme_account_update(f->store, "acct1", NULL, "valid", E));
    REFUSED(MINICA_ENOENT, minica_store_acme_account_update(f->store, "nobody", "[]", NULL, E));
}

static void test_store_acme_account_key_change(void **state)
{
    struct fixture *f = *state;
    add_account(f->store, "acct1", "thumb1");
    add_account(f->store, "acct2", "thumb2");
    struct minica_acme_account got;
    OK(minica_store_acme_account_key_change(f->store, "acct1", "thumb1", "thumbN", "{\"n\":1}", E));
    OK(minica_store_acme_account_by_thumbprint(f->store, "thumbN", &got, E));
    assert_string_equal(got.id, "acct1");
    assert_string_equal(got.jwk, "{\"n\":1}");
    REFUSED(MINICA_ENOENT, minica_store_acme_account_by_thumbprint(f->store, "thumb1", &got, E));
    /* A second key change that read the old key loses. */
    REFUSED(MINICA_EBUSY,
            minica_store_acme_account_key_change(f->store, "acct1", "thumb1", "thumbM", "{}", E));
    /* Another account's key: the RFC's 409, and neither row changes. */
    REFUSED(MINICA_EEXIST,
            minica_store_acme_account_key_change(f->store, "acct1", "thumbN", "thumb2", "{}", E));
    OK(minica_store_acme_account_get(f->store, "acct1", &got, E));
    assert_string_equal(got.thumbprint, "thumbN");
    assert_string_equal(got.jwk, "{\"n\":1}");
    OK(minica_store_acme_account_get(f->store, "acct2", &got, E));
    assert_string_equal(got.thumbprint, "thumb2");
    REFUSED(MINICA_ENOENT,
            minica_store_acme_account_key_change(f->store, "nobody", "thumb1", "thumbX", "{}", E));
    /* A JWK that would be read back cut short is refused, not stored. */
    static char big[MINICA_ACME_JWK_MAX + 1];
    memset(big, 'k', sizeof(big) - 1);
    REFUSED(MINICA_EINVAL,
            minica_store_acme_account_key_change(f->store, "acct1", "thumbN", "thumbZ", big, E));
    OK(minica_store_acme_account_get(f->store, "acct1", &got, E));
    assert_string_equal(got.thumbprint, "thumbN");
    OK(minica_store_acme_account_update(f->store, "acct2", NULL, "revoked", E));
    REFUSED(MINICA_EBUSY,
            minica_store_acme_account_key_change(f->store, "acct2", "thumb2", "thumbX", "{}", E));
}

/* A key change to another account's key, refused by UNIQUE inside a
 * transaction, leaves the transaction usable (a savepoint undoes the
 * failed UPDATE alone on PostgreSQL): the caller's next write commits. */
static void test_store_acme_key_change_refused_inside_a_transaction_keeps_it(void **state)
{
    struct fixture *f = *state;
    add_account(f->store, "acct1", "thumb1");
    add_account(f->store, "acct2", "thumb2");
    OK(minica_store_begin(f->store, E));
    REFUSED(MINICA_EEXIST,
            minica_store_acme_account_key_change(f->store, "acct1", "thumb1", "thumb2", "{}", E));
    struct minica_acme_account got;
    OK(minica_store_acme_account_get(f->store, "acct1", &got, E));
    assert_string_equal(got.thumbprint, "thumb1");
    add_account(f->store, "acct3", "thumb3");
    OK(minica_store_commit(f->store, E));
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM acme_accounts"), 3);
}

struct seen {
    size_t n;
    char ids[16][MINICA_ACME_ID_MAX];
    int stop_after;
};

static int seen_order(const struct minica_acme_order *row, void *p)
{
    struct seen *s = p;
    if (s->n < 16)
        snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", row->id);
    s->n++;
    return s->stop_after && (int)s->n == s->stop_after ? 42 : 0;
}

static int seen_authz(const struct minica_acme_authz *row, void *p)
{
    struct seen *s = p;
    if (s->n < 16)
        snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", row->id);
    s->n++;
    return 0;
}

static int seen_challenge(const struct minica_acme_challenge *row, void *p)
{
    struct seen *s = p;
    if (s->n < 16)
        snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", row->id);
    s->n++;
    return 0;
}

static void test_store_acme_order_insert_and_read_back(void **state)
{
    struct fixture *f = *state;
    add_account(f->store, "acct1", "thumb1");
    struct order_set o;
    make_order(&o, "ord1", "acct1");
    o.order.not_before = NOW + 10;
    o.order.not_after = NOW + 86400;
    OK(insert_order(f->store, &o, E));

    struct minica_acme_order got;
    OK(minica_store_acme_order_get(f->store, "ord1", &got, E));
    assert_string_equal(got.account_id, "acct1");
    assert_string_equal(got.status, "pending");
    assert_string_equal(got.identifiers, o.order.identifiers);
    assert_int_equal(got.not_before, NOW + 10);
    assert_int_equal(got.not_after, NOW + 86400);
    assert_int_equal(got.expires_at, NOW + 7 * 86400LL);
    assert_int_equal(got.created_at, NOW);
    assert_string_equal(got.cert_serial, "");
    assert_string_equal(got.error, "");
    REFUSED(MINICA_ENOENT, minica_store_acme_order_get(f->store, "nope", &got, E));

    struct seen s = {0};
    OK(minica_store_acme_authz_list(f->store, "ord1", seen_authz, &s, E));
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "ord1-z0");
    assert_string_equal(s.ids[1], "ord1-z1");
    struct minica_acme_authz az;
    OK(minica_store_acme_authz_get(f->store, "ord1-z0", &az, E));
    assert_string_equal(az.order_id, "ord1");
    assert_string_equal(az.type, "dns");
    assert_string_equal(az.value, "a.internal.svc");
    assert_int_equal(az.wildcard, 1);
    assert_string_equal(az.status, "pending");
    assert_int_equal(az.expires_at, NOW + 7 * 86400LL);
    OK(minica_store_acme_authz_get(f->store, "ord1-z1", &az, E));
    assert_string_equal(az.type, "ip");
    assert_int_equal(az.wildcard, 0);
    REFUSED(MINICA_ENOENT, minica_store_acme_authz_get(f->store, "nope", &az, E));

    memset(&s, 0, sizeof(s));
    OK(minica_store_acme_challenge_list(f->store, "ord1-z1", seen_challenge, &s, E));
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "ord1-z1-c0");
    struct minica_acme_challenge ch;
    OK(minica_store_acme_challenge_get(f->store, "ord1-z1-c1", &ch, E));
    assert_string_equal(ch.authz_id, "ord1-z1");
    assert_string_equal(ch.type, "tls-alpn-01");
    assert_string_equal(ch.token, "tok-ord1-1-1");
    assert_string_equal(ch.status, "pending");
    assert_int_equal(ch.validated_at, 0);
    assert_string_equal(ch.error, "");
    REFUSED(MINICA_ENOENT, minica_store_acme_challenge_get(f->store, "nope", &ch, E));
}

static void assert_no_order_rows(const char *path)
{
    assert_int_equal(count_rows(path, "SELECT count(*) FROM acme_orders"), 0);
    assert_int_equal(count_rows(path, "SELECT count(*) FROM acme_authz"), 0);
    assert_int_equal(count_rows(path, "SELECT count(*) FROM acme_challenges"), 0);
}

/* A refused part leaves nothing of the order: no half-made order whose
 * authorization has no challenge. */
static void test_store_acme_order_insert_is_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    add_account(f->store, "acct1", "thumb1");
    struct order_set o;
    struct minica_err err;

    make_order(&o, "ord1", "acct1");
    snprintf(o.chall[3].token, sizeof(o.chall[3].token), "%s", o.chall[0].token);
    assert_int_equal(insert_order(f->store, &o, &err), MINICA_EEXIST);
    assert_no_order_rows(f->path);

    make_order(&o, "ord1", "nobody");
    assert_int_equal(insert_order(f->store, &o, &err), MINICA_ENOENT);
    assert_no_order_rows(f->path);

    make_order(&o, "ord1", "acct1");
    snprintf(o.authz[1].type, sizeof(o.authz[1].type), "email");
    assert_int_equal(insert_order(f->store, &o, &err), MINICA_EINVAL);
    assert_no_order_rows(f->path);

    make_order(&o, "ord1", "acct1");
    snprintf(o.chall[2].type, sizeof(o.chall[2].type), "http-02");
    assert_int_equal(insert_order(f->store, &o, &err), MINICA_EINVAL);
    assert_no_order_rows(f->path);

    make_order(&o, "ord1", "acct1");
    snprintf(o.order.status, sizeof(o.order.status), "done");
    assert_int_equal(insert_order(f->store, &o, &err), MINICA_EINVAL);
    assert_no_order_rows(f->path);

    make_order(&o, "ord1", "acct1");
    snprintf(o.chall[1].authz_id, sizeof(o.chall[1].authz_id), "elsewhere");
    assert_int_equal(insert_order(f->store, &o, &err), MINICA_ENOENT);
    assert_no_order_rows(f->path);

    /* Inside the caller's transaction, which then rolls back: nothing. */
    OK(minica_store_begin(f->store, E));
    make_order(&o, "ord1", "acct1");
    OK(insert_order(f->store, &o, E));
    minica_store_rollback(f->store);
    assert_no_order_rows(f->path);

    /* And the same order goes in whole afterwards; its id once only. */
    OK(insert_order(f->store, &o, E));
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM acme_challenges"), 4);
    make_order(&o, "ord1", "acct1");
    snprintf(o.chall[0].token, sizeof(o.chall[0].token), "fresh");
    assert_int_equal(insert_order(f->store, &o, &err), MINICA_EEXIST);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM acme_challenges"), 4);
}

static void test_store_acme_order_list_pages_per_account(void **state)
{
    struct fixture *f = *state;
    add_account(f->store, "acct1", "thumb1");
    add_account(f->store, "acct2", "thumb2");
    const char *ids[] = {"o3", "o1", "o5", "o2", "o4"};
    for (size_t i = 0; i < 5; i++)
        add_order(f->store, ids[i], "acct1");
    add_order(f->store, "o0", "acct2");

    struct seen s = {0};
    OK(minica_store_acme_order_list(f->store, "acct1", NULL, 2, seen_order, &s, E));
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "o1");
    assert_string_equal(s.ids[1], "o2");
    memset(&s, 0, sizeof(s));
    OK(minica_store_acme_order_list(f->store, "acct1", "o2", 2, seen_order, &s, E));
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "o3");
    assert_string_equal(s.ids[1], "o4");
    memset(&s, 0, sizeof(s));
    OK(minica_store_acme_order_list(f->store, "acct1", "o4", 2, seen_order, &s, E));
    assert_int_equal(s.n, 1);
    assert_string_equal(s.ids[0], "o5");
    memset(&s, 0, sizeof(s));
    OK(minica_store_acme_order_list(f->store, "acct1", "o5", 2, seen_order, &s, E));
    assert_int_equal(s.n, 0);
    memset(&s, 0, sizeof(s));
    OK(minica_store_acme_order_list(f->store, "acct2", "", 100, seen_order, &s, E));
    assert_int_equal(s.n, 1);
    assert_string_equal(s.ids[0], "o0");
    /* A non-zero return stops and is returned. */
    memset(&s, 0, sizeof(s));
    s.stop_after = 1;
    struct minica_err err;
    assert_int_equal(minica_store_acme_order_list(f->store, "acct1", "", 10, seen_order, &s, &err),
                     42);
    assert_int_equal(s.n, 1);
}

/* The life of an order: ready only once every authorization is valid,
 * finalize once, valid with its certificate. */
static void test_store_acme_order_transitions_are_conditional(void **state)
{
    struct fixture *f = *state;
    add_account(f->store, "acct1", "thumb1");
    add_order(f->store, "ord1", "acct1");
    int moved = -1;
    OK(minica_store_acme_order_ready_if_authorized(f->store, "ord1", &moved, E));
    assert_int_equal(moved, 0);
    REFUSED(MINICA_EBUSY, minica_store_acme_order_transition(f->store, "ord1", "ready",
                                                             "processing", NULL, NULL, E));
    OK(minica_store_acme_authz_transition(f->store, "ord1-z0", "pending", "valid", E));
    OK(minica_store_acme_order_ready_if_authorized(f->store, "ord1", &moved, E));
    assert_int_equal(moved, 0);
    OK(minica_store_acme_authz_transition(f->store, "ord1-z1", "pending", "valid", E));
    OK(minica_store_acme_order_ready_if_authorized(f->store, "ord1", &moved, E));
    assert_int_equal(moved, 1);
    OK(minica_store_acme_order_ready_if_authorized(f->store, "ord1", &moved, E));
    assert_int_equal(moved, 0);

    OK(minica_store_acme_order_transition(f->store, "ord1", "ready", "processing", NULL, NULL, E));
    REFUSED(MINICA_EBUSY, minica_store_acme_order_transition(f->store, "ord1", "ready",
                                                             "processing", NULL, NULL, E));
    REFUSED(MINICA_EINVAL, minica_store_acme_order_transition(f->store, "ord1", "processing",
                                                              "issued", NULL, NULL, E));
    /* The serial must be a certificate of the inventory. */
    REFUSED(MINICA_ENOENT, minica_store_acme_order_transition(f->store, "ord1", "processing",
                                                              "valid", "0abc", NULL, E));
    add_cert(f->store, "0abc");
    OK(minica_store_acme_order_transition(f->store, "ord1", "processing", "valid", "0abc", NULL,
                                          E));
    struct minica_acme_order got;
    OK(minica_store_acme_order_get(f->store, "ord1", &got, E));
    assert_string_equal(got.status, "valid");
    assert_string_equal(got.cert_serial, "0abc");
    /* The order's certificate URL must keep answering. */
    REFUSED(MINICA_EDB, minica_store_delete_cert(f->store, "0abc", E));
    REFUSED(MINICA_ENOENT, minica_store_acme_order_transition(f->store, "nope", "ready",
                                                              "processing", NULL, NULL, E));

    /* An order whose validation failed records why. */
    add_order(f->store, "ord2", "acct1");
    OK(minica_store_acme_order_transition(f->store, "ord2", "pending", "invalid", NULL,
                                          "{\"type\":\"urn:ietf:params:acme:error:connection\"}",
                                          E));
    OK(minica_store_acme_order_get(f->store, "ord2", &got, E));
    assert_string_equal(got.status, "invalid");
    assert_non_null(strstr(got.error, "connection"));
    OK(minica_store_acme_order_ready_if_authorized(f->store, "nope", &moved, E));
    assert_int_equal(moved, 0);
}

static void test_store_acme_authz_and_challenge_transitions(void **state)
{
    struct fixture *f = *state;
    add_account(f->store, "acct1", "thumb1");
    add_order(f->store, "ord1", "acct1");
    struct minica_acme_challenge ch;
    OK(minica_store_acme_challenge_transition(f->store, "ord1-z0-c0", "pending", "processing", 0,
                                              NULL, E));
    /* A second "respond" while it runs does not start another validation. */
    REFUSED(MINICA_EBUSY, minica_store_acme_challenge_transition(f->store, "ord1-z0-c0", "pending",
                                                                 "processing", 0, NULL, E));
    OK(minica_store_acme_challenge_set_error(f->store, "ord1-z0-c0",
                                             "{\"detail\":\"connection refused\"}", E));
    OK(minica_store_acme_challenge_get(f->store, "ord1-z0-c0", &ch, E));
    assert_string_equal(ch.status, "processing");
    assert_non_null(strstr(ch.error, "connection refused"));
    OK(minica_store_acme_challenge_transition(f->store, "ord1-z0-c0", "processing", "valid", NOW,
                                              "", E));
    OK(minica_store_acme_challenge_get(f->store, "ord1-z0-c0", &ch, E));
    assert_string_equal(ch.status, "valid");
    assert_int_equal(ch.validated_at, NOW);
    /* "" is not NULL: the error is cleared, not kept. */
    assert_string_equal(ch.error, "");

    OK(minica_store_acme_challenge_transition(f->store, "ord1-z1-c1", "pending", "invalid", 0,
                                              "{\"type\":\"incorrectResponse\"}", E));
    OK(minica_store_acme_challenge_get(f->store, "ord1-z1-c1", &ch, E));
    assert_string_equal(ch.status, "invalid");
    assert_int_equal(ch.validated_at, 0);
    assert_non_null(strstr(ch.error, "incorrectResponse"));
    REFUSED(MINICA_EINVAL, minica_store_acme_challenge_transition(f->store, "ord1-z1-c0", "pending",
                                                                  "done", 0, NULL, E));
    REFUSED(MINICA_ENOENT, minica_store_acme_challenge_transition(f->store, "nope", "pending",
                                                                  "processing", 0, NULL, E));
    REFUSED(MINICA_ENOENT, minica_store_acme_challenge_set_error(f->store, "nope", "{}", E));
    static char big[MINICA_ACME_ERROR_MAX + 1];
    memset(big, 'e', sizeof(big) - 1);
    REFUSED(MINICA_EINVAL, minica_store_acme_challenge_set_error(f->store, "ord1-z1-c1", big, E));
    REFUSED(MINICA_EINVAL, minica_store_acme_order_transition(f->store, "ord1", "pending",
                                                              "invalid", NULL, big, E));
    big[MINICA_ACME_ERROR_MAX - 1] = '\0'; /* the longest that fits */
    OK(minica_store_acme_challenge_set_error(f->store, "ord1-z1-c1", big, E));
    OK(minica_store_acme_challenge_get(f->store, "ord1-z1-c1", &ch, E));
    assert_int_equal(strlen(ch.error), MINICA_ACME_ERROR_MAX - 1);

    struct minica_acme_authz az;
    OK(minica_store_acme_authz_transition(f->store, "ord1-z1", "pending", "invalid", E));
    OK(minica_store_acme_authz_get(f->store, "ord1-z1", &az, E));
    assert_string_equal(az.status, "invalid");
    REFUSED(MINICA_EBUSY,
            minica_store_acme_authz_transition(f->store, "ord1-z1", "pending", "valid", E));
    REFUSED(MINICA_EINVAL,
            minica_store_acme_authz_transition(f->store, "ord1-z0", "pending", "ok", E));
    REFUSED(MINICA_ENOENT,
            minica_store_acme_authz_transition(f->store, "nope", "pending", "valid", E));
}

static void test_store_acme_order_sweep_keeps_valid_orders(void **state)
{
    struct fixture *f = *state;
    add_account(f->store, "acct1", "thumb1");
    add_order(f->store, "old", "acct1");
    add_order(f->store, "done", "acct1");
    add_cert(f->store, "02");
    OK(minica_store_acme_order_transition(f->store, "done", "pending", "valid", "02", NULL, E));
    int64_t swept = -1;
    OK(minica_store_acme_order_sweep(f->store, NOW, &swept, E));
    assert_int_equal(swept, 0);
    OK(minica_store_acme_order_sweep(f->store, NOW + 7 * 86400LL, &swept, E));
    assert_int_equal(swept, 1);
    struct minica_acme_order got;
    REFUSED(MINICA_ENOENT, minica_store_acme_order_get(f->store, "old", &got, E));
    OK(minica_store_acme_order_get(f->store, "done", &got, E));
    /* Its authorizations and challenges went with it; the valid one's stay. */
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM acme_authz"), 2);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM acme_challenges"), 4);
}

/* N processes, each with its own connection to the database file (as N
 * replicas or N serve workers would have), run fn at once; returns how
 * many of them got 0. A child that gets anything but 0 or refused is a
 * failure of the test, not a loser. */
#define RACERS 8
typedef int (*race_fn)(struct minica_store *store, int i, struct minica_err *err);

static int race(const char *path, race_fn fn, int refused)
{
    int gate[2];
    assert_int_equal(pipe(gate), 0);
    pid_t pids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(gate[1]);
            struct minica_store *store;
            struct minica_err err;
            if (minica_store_open(path, &store, &err) != 0)
                _exit(3);
            char c;
            /* Every child opens first, then all go when the gate closes. */
            if (read(gate[0], &c, 1) != 0)
                _exit(4);
            int ret = fn(store, i, &err);
            if (ret != 0 && ret != refused)
                fprintf(stderr, "racer %d: %d %s\n", i, ret, err.msg);
            minica_store_close(store);
            _exit(ret == 0 ? 0 : ret == refused ? 1 : 2);
        }
    }
    close(gate[0]);
    close(gate[1]);
    int wins = 0;
    for (int i = 0; i < RACERS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_true(WEXITSTATUS(status) <= 1);
        wins += WEXITSTATUS(status) == 0;
    }
    return wins;
}

static char race_nonce[16];

static int spend_race_nonce(struct minica_store *store, int i, struct minica_err *err)
{
    (void)i;
    return minica_store_acme_nonce_spend(store, race_nonce, NOW + 60, err);
}

static void test_store_acme_nonce_race_has_one_winner(void **state)
{
    struct fixture *f = *state;
    for (int round = 0; round < 5; round++) {
        snprintf(race_nonce, sizeof(race_nonce), "n%d", round);
        assert_int_equal(race(f->path, spend_race_nonce, MINICA_EFORBIDDEN), 1);
        REFUSED(MINICA_EFORBIDDEN,
                minica_store_acme_nonce_spend(f->store, race_nonce, NOW + 60, E));
    }
}

static int finalize_ord1(struct minica_store *store, int i, struct minica_err *err)
{
    (void)i;
    return minica_store_acme_order_transition(store, "ord1", "ready", "processing", NULL, NULL,
                                              err);
}

static void test_store_acme_finalize_race_has_one_winner(void **state)
{
    struct fixture *f = *state;
    add_account(f->store, "acct1", "thumb1");
    add_order(f->store, "ord1", "acct1");
    for (int round = 0; round < 5; round++) {
        OK(minica_store_acme_order_transition(
            f->store, "ord1", round == 0 ? "pending" : "processing", "ready", NULL, NULL, E));
        assert_int_equal(race(f->path, finalize_ord1, MINICA_EBUSY), 1);
        struct minica_acme_order got;
        OK(minica_store_acme_order_get(f->store, "ord1", &got, E));
        assert_string_equal(got.status, "processing");
    }
}

/* The order racers work on; set before the fork, so every child has it. */
static char race_order[MINICA_ACME_ID_MAX];

static int validate_and_check(struct minica_store *store, int i, struct minica_err *err)
{
    /* Two racers each finish one authorization's validation; all check. */
    if (i < 2) {
        char authz[MINICA_ACME_ID_MAX + 8];
        snprintf(authz, sizeof(authz), "%s-z%d", race_order, i);
        int ret = minica_store_acme_authz_transition(store, authz, "pending", "valid", err);
        if (ret != 0)
            return ret;
    }
    int moved = 0;
    int ret = minica_store_acme_order_ready_if_authorized(store, race_order, &moved, err);
    if (ret != 0)
        return ret;
    return moved ? 0 : MINICA_EBUSY;
}

static void test_store_acme_ready_race_moves_the_order_once(void **state)
{
    struct fixture *f = *state;
    add_account(f->store, "acct1", "thumb1");
    for (int round = 0; round < 5; round++) {
        snprintf(race_order, sizeof(race_order), "ord%d", round);
        add_order(f->store, race_order, "acct1");
        assert_int_equal(race(f->path, validate_and_check, MINICA_EBUSY), 1);
        struct minica_acme_order got;
        OK(minica_store_acme_order_get(f->store, race_order, &got, E));
        assert_string_equal(got.status, "ready");
    }
}

/* Two connections in one process, the interleaving spelled out: the
 * second one read "ready" before the first committed its finalize, and
 * still cannot finalize again. The UPDATE decides, not the earlier read. */
static void test_store_acme_finalize_after_a_stale_read_is_refused(void **state)
{
    struct fixture *f = *state;
    add_account(f->store, "acct1", "thumb1");
    add_order(f->store, "ord1", "acct1");
    OK(minica_store_acme_order_transition(f->store, "ord1", "pending", "ready", NULL, NULL, E));
    struct minica_store *other;
    OK(minica_store_open(f->path, &other, E));
    struct minica_acme_order seen;
    OK(minica_store_acme_order_get(other, "ord1", &seen, E));
    assert_string_equal(seen.status, "ready");

    OK(minica_store_begin(f->store, E));
    OK(minica_store_acme_order_transition(f->store, "ord1", "ready", "processing", NULL, NULL, E));
    /* Not committed yet: the other connection still reads the old row. */
    OK(minica_store_acme_order_get(other, "ord1", &seen, E));
    assert_string_equal(seen.status, "ready");
    OK(minica_store_commit(f->store, E));

    REFUSED(MINICA_EBUSY, minica_store_acme_order_transition(other, "ord1", "ready", "processing",
                                                             NULL, NULL, E));
    /* A nonce is spent once across both connections. */
    OK(minica_store_acme_nonce_spend(other, "n2", NOW + 60, E));
    REFUSED(MINICA_EFORBIDDEN, minica_store_acme_nonce_spend(f->store, "n2", NOW + 60, E));
    minica_store_close(other);
}

static int seen_eab(const struct minica_acme_eab_key *row, void *p)
{
    struct seen *s = p;
    snprintf(s->ids[s->n++], sizeof(s->ids[0]), "%s", row->kid);
    return 0;
}

static void test_store_acme_eab_insert_get_list_revoke(void **state)
{
    struct fixture *f = *state;
    add_eab(f->store, "k1", NOW + 60);
    add_eab(f->store, "k2", NOW + 60);
    struct minica_acme_eab_key k;
    memset(&k, 0, sizeof(k));
    snprintf(k.kid, sizeof(k.kid), "k1");
    REFUSED(MINICA_EEXIST, minica_store_acme_eab_insert(f->store, &k, E));
    OK(minica_store_acme_eab_get(f->store, "k1", &k, E));
    assert_string_equal(k.label, "web team");
    assert_string_equal(k.permit_dns, "web.internal");
    assert_string_equal(k.permit_ip, "");
    assert_int_equal(k.expires_at, NOW + 60);
    assert_int_equal(k.revoked_at, 0);
    assert_string_equal(k.account_id, "");
    REFUSED(MINICA_ENOENT, minica_store_acme_eab_get(f->store, "nope", &k, E));
    OK(minica_store_acme_eab_revoke(f->store, "k1", NOW, E));
    REFUSED(MINICA_EBUSY, minica_store_acme_eab_revoke(f->store, "k1", NOW + 1, E));
    REFUSED(MINICA_ENOENT, minica_store_acme_eab_revoke(f->store, "nope", NOW, E));
    OK(minica_store_acme_eab_get(f->store, "k1", &k, E));
    assert_int_equal(k.revoked_at, NOW);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM acme_eab_keys"), 2);
    struct seen kids = {0};
    OK(minica_store_acme_eab_list(f->store, seen_eab, &kids, E));
    assert_int_equal(kids.n, 2);
    assert_string_equal(kids.ids[0], "k1");
    assert_string_equal(kids.ids[1], "k2");
}

/* The key binds the first account, in the account's own insert; an
 * unusable key leaves no account behind. */
static void test_store_acme_eab_binds_once_with_the_account(void **state)
{
    struct fixture *f = *state;
    add_eab(f->store, "k1", NOW + 60);
    add_eab(f->store, "old", NOW);
    add_eab(f->store, "gone", NOW + 60);
    OK(minica_store_acme_eab_revoke(f->store, "gone", NOW, E));
    struct minica_acme_account a;
    make_account(&a, "acct1", "thumb1");
    snprintf(a.eab_kid, sizeof(a.eab_kid), "k1");
    OK(minica_store_acme_account_insert(f->store, &a, E));
    struct minica_acme_eab_key k;
    OK(minica_store_acme_eab_get(f->store, "k1", &k, E));
    assert_string_equal(k.account_id, "acct1");
    const char *refused[] = {"k1", "old", "gone", "unknown"};
    for (size_t i = 0; i < 4; i++) {
        make_account(&a, "acct2", "thumb2");
        snprintf(a.eab_kid, sizeof(a.eab_kid), "%s", refused[i]);
        REFUSED(MINICA_EFORBIDDEN, minica_store_acme_account_insert(f->store, &a, E));
    }
    REFUSED(MINICA_ENOENT, minica_store_acme_account_get(f->store, "acct2", &a, E));
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM acme_accounts"), 1);
}

static int seen_account(const struct minica_acme_account *row, int64_t orders, void *p)
{
    char *out = p;
    char line[128];
    snprintf(line, sizeof(line), "%s:%s:%lld;", row->id, row->eab_kid, (long long)orders);
    strcat(out, line);
    return 0;
}

static void test_store_acme_account_list_counts_orders(void **state)
{
    struct fixture *f = *state;
    add_eab(f->store, "k1", NOW + 60);
    struct minica_acme_account a;
    make_account(&a, "acct1", "thumb1");
    snprintf(a.eab_kid, sizeof(a.eab_kid), "k1");
    OK(minica_store_acme_account_insert(f->store, &a, E));
    add_account(f->store, "acct2", "thumb2");
    add_order(f->store, "o1", "acct2");
    add_order(f->store, "o2", "acct2");
    char out[512] = "";
    OK(minica_store_acme_account_list(f->store, seen_account, out, E));
    assert_string_equal(out, "acct1:k1:0;acct2::2;");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* Run twice by ctest: test_store_acme on SQLite, test_store_acme_pg with
 * MINICA_TEST_STORE=postgresql, races included: exactly one winner across
 * connections is the guarantee replicas rely on. The migrations from
 * crafted SQLite files run on SQLite only. */
int main(void)
{
    const struct CMUnitTest both[] = {
        T(test_store_acme_replaces_once_unless_invalid),
        T(test_store_acme_nonce_is_spent_exactly_once),
        T(test_store_acme_nonce_reuse_inside_a_transaction_keeps_it),
        T(test_store_acme_nonce_sweep_forgets_only_expired),
        T(test_store_acme_account_insert_and_lookups),
        T(test_store_acme_account_refuses_duplicates_and_bad_status),
        T(test_store_acme_account_update_until_deactivated),
        T(test_store_acme_account_key_change),
        T(test_store_acme_key_change_refused_inside_a_transaction_keeps_it),
        T(test_store_acme_order_insert_and_read_back),
        T(test_store_acme_order_insert_is_all_or_nothing),
        T(test_store_acme_order_list_pages_per_account),
        T(test_store_acme_order_transitions_are_conditional),
        T(test_store_acme_authz_and_challenge_transitions),
        T(test_store_acme_order_sweep_keeps_valid_orders),
        T(test_store_acme_nonce_race_has_one_winner),
        T(test_store_acme_finalize_race_has_one_winner),
        T(test_store_acme_ready_race_moves_the_order_once),
        T(test_store_acme_finalize_after_a_stale_read_is_refused),
        T(test_store_acme_eab_insert_get_list_revoke),
        T(test_store_acme_eab_binds_once_with_the_account),
        T(test_store_acme_account_list_counts_orders),
    };
    const struct CMUnitTest sqlite_only[] = {
        T(test_store_acme_migration_upgrades_a_v4_db),
        T(test_store_acme_migration_upgrades_a_v5_db),
    };
    if (tu_store_is_pg())
        return cmocka_run_group_tests_name("postgresql", both, NULL, NULL);
    int failed = cmocka_run_group_tests_name("sqlite", both, NULL, NULL);
    return failed + cmocka_run_group_tests_name("sqlite_only", sqlite_only, NULL, NULL);
}
