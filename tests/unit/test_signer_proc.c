/* Unit tests for serve's signer process (signer_proc.c): a CA opened
 * without its keys issues and makes CRLs through it; the worker refuses a
 * malformed message and a TBS of another issuer, written raw to its
 * socket; a dead worker makes signing unavailable (and records nothing)
 * until the supervisor has started another; a reload keeps it serving;
 * a state directory without the intermediate's key does not start. */
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <mbedtls/x509_crt.h>

#include "ca/ca_internal.h"
#include "ca/signer_wire.h"
#include "minica/ca.h"
#include "minica/crl.h"
#include "minica/der.h"
#include "minica/issue.h"
#include "minica/signer_proc.h"
#include "testutil.h"

struct fixture {
    char *dir, *other_dir;
    struct minica_signer_proc *proc;
    struct minica_ca *ca;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct minica_err err;
    if (f == NULL)
        return -1;
    f->dir = tu_make_ca();
    struct minica_init_options other = {.name = "other"};
    f->other_dir = tu_make_ca_with(&other);
    if (minica_signer_proc_start(f->dir, NULL, NULL, &f->proc, &err) != 0)
        fail_msg("start: %s", err.msg);
    if (minica_ca_open_signed_by(f->dir, f->proc, &f->ca, &err) != 0)
        fail_msg("open: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    minica_ca_close(f->ca);
    minica_signer_proc_stop(f->proc);
    tu_free_ca(f->dir);
    tu_free_ca(f->other_dir);
    free(f);
    return 0;
}

static int issue(struct minica_ca *ca, const char *name, struct minica_issued *out,
                 struct minica_err *err)
{
    struct minica_issue_request req;
    memset(&req, 0, sizeof(req));
    req.name = name;
    return minica_ca_issue(ca, &req, out, err);
}

static long long cert_rows(const char *dir)
{
    char target[4096];
    tu_ca_target(dir, target, sizeof(target));
    return tu_store_query_int(target, "SELECT count(*) FROM certs");
}

/* The leaf verifies under the CA's root: the worker signed it with the
 * intermediate's key, which this process never read. */
static void test_issues_and_signs_crls(void **state)
{
    struct fixture *f = *state;
    struct minica_issued out;
    struct minica_err err;
    if (issue(f->ca, "web.internal", &out, &err) != 0)
        fail_msg("issue: %s", err.msg);
    char path[4096];
    mbedtls_x509_crt chain, root;
    mbedtls_x509_crt_init(&chain);
    mbedtls_x509_crt_init(&root);
    assert_int_equal(mbedtls_x509_crt_parse(&chain, (const unsigned char *)out.cert_pem,
                                            strlen(out.cert_pem) + 1),
                     0);
    assert_int_equal(mbedtls_x509_crt_parse(&chain, (const unsigned char *)out.chain_pem,
                                            strlen(out.chain_pem) + 1),
                     0);
    snprintf(path, sizeof(path), "%s/root.crt", f->dir);
    assert_int_equal(mbedtls_x509_crt_parse_file(&root, path), 0);
    uint32_t flags = 0;
    assert_int_equal(mbedtls_x509_crt_verify(&chain, &root, NULL, NULL, &flags, NULL, NULL), 0);
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&root);
    minica_issued_free(&out);

    struct minica_crl crl;
    minica_crl_init(&crl);
    if (minica_ca_crl(f->ca, NULL, &crl, &err) != 0)
        fail_msg("crl: %s", err.msg);
    assert_true(crl.der_len > 0);
    minica_crl_free(&crl);
    assert_true(minica_signer_proc_worker(f->proc) > 0);
}

/* One message written raw, its answer read raw. */
static void exchange(int sock, const unsigned char *msg, size_t len,
                     struct minica_wire_response *resp, unsigned char *buf)
{
    assert_int_equal(send(sock, msg, len, MSG_NOSIGNAL), (ssize_t)len);
    struct pollfd pfd = {sock, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    ssize_t n = recv(sock, buf, MINICA_WIRE_RESPONSE_MAX, 0);
    assert_true(n > 0);
    struct minica_err err;
    if (minica_wire_decode_response(buf, (size_t)n, resp, &err) != 0)
        fail_msg("decode: %s", err.msg);
}

static unsigned char *tbs_of(const char *pem, size_t *len)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1), 0);
    struct minica_der_signed s;
    struct minica_err err;
    assert_int_equal(minica_der_split_signed(crt.raw.p, crt.raw.len, &s, &err), 0);
    unsigned char *b = malloc(s.body.len);
    assert_non_null(b);
    memcpy(b, s.body.p, s.body.len);
    *len = s.body.len;
    mbedtls_x509_crt_free(&crt);
    return b;
}

static void request(int sock, uint32_t id, enum minica_wire_profile profile,
                    const unsigned char *tbs, size_t len, struct minica_wire_response *resp,
                    unsigned char *buf)
{
    size_t size = minica_wire_request_size(len), n = 0;
    unsigned char *msg = malloc(size);
    struct minica_err err;
    assert_non_null(msg);
    struct minica_wire_request req = {id, profile, tbs, len};
    assert_int_equal(minica_wire_encode_request(&req, msg, size, &n, &err), 0);
    exchange(sock, msg, n, resp, buf);
    free(msg);
}

static void test_refuses_what_it_must_not_sign(void **state)
{
    struct fixture *f = *state;
    int sock = minica_signer_proc_socket(f->proc);
    unsigned char buf[MINICA_WIRE_RESPONSE_MAX];
    struct minica_wire_response resp;
    struct minica_err err;

    /* Not a message at all. */
    exchange(sock, (const unsigned char *)"hello there", 11, &resp, buf);
    assert_int_equal(resp.status, MINICA_WIRE_REFUSED);

    /* A well-formed request whose TBS another CA's intermediate issued. */
    struct minica_ca *other;
    struct minica_issued out;
    if (minica_ca_open(f->other_dir, &other, &err) != 0)
        fail_msg("open other: %s", err.msg);
    if (issue(other, "web.internal", &out, &err) != 0)
        fail_msg("issue other: %s", err.msg);
    size_t len;
    unsigned char *tbs = tbs_of(out.cert_pem, &len);
    request(sock, 7, MINICA_WIRE_LEAF, tbs, len, &resp, buf);
    assert_int_equal(resp.id, 7);
    assert_int_equal(resp.status, MINICA_WIRE_REFUSED);
    assert_non_null(strstr(resp.reason, "issuer"));
    free(tbs);
    minica_issued_free(&out);
    minica_ca_close(other);

    /* This CA's own leaf TBS, sent as a CRL. */
    if (issue(f->ca, "mine.internal", &out, &err) != 0)
        fail_msg("issue: %s", err.msg);
    tbs = tbs_of(out.cert_pem, &len);
    request(sock, 8, MINICA_WIRE_CRL, tbs, len, &resp, buf);
    assert_int_equal(resp.id, 8);
    assert_int_equal(resp.status, MINICA_WIRE_REFUSED);
    /* ... and as what it is: signed. */
    request(sock, 9, MINICA_WIRE_LEAF, tbs, len, &resp, buf);
    assert_int_equal(resp.id, 9);
    assert_int_equal(resp.status, MINICA_WIRE_OK);
    assert_true(resp.sig_len > 0);
    free(tbs);
    minica_issued_free(&out);
}

/* With its supervisor stopped, a killed worker is not replaced: signing
 * is unavailable at once, not after a timeout, and nothing is recorded.
 * Once the supervisor runs again, it is. */
static void test_dead_worker_is_unavailable_then_restarted(void **state)
{
    struct fixture *f = *state;
    struct minica_issued out;
    struct minica_err err;
    pid_t sup = minica_signer_proc_supervisor(f->proc), worker = minica_signer_proc_worker(f->proc);
    long long before = cert_rows(f->dir);
    assert_int_equal(kill(sup, SIGSTOP), 0);
    assert_int_equal(kill(worker, SIGKILL), 0);
    int ret = issue(f->ca, "down.internal", &out, &err);
    assert_int_equal(ret, MINICA_EUNAVAILABLE);
    assert_non_null(strstr(err.msg, "signer process"));
    assert_int_equal(cert_rows(f->dir), before);
    assert_int_equal(kill(sup, SIGCONT), 0);

    ret = MINICA_EUNAVAILABLE;
    for (int i = 0; i < 100 && ret == MINICA_EUNAVAILABLE; i++) {
        ret = issue(f->ca, "down.internal", &out, &err);
        if (ret == MINICA_EUNAVAILABLE) {
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (ret != 0)
        fail_msg("after the restart: %s", err.msg);
    minica_issued_free(&out);
    assert_int_equal(cert_rows(f->dir), before + 1);
    assert_int_not_equal(minica_signer_proc_worker(f->proc), worker);
}

static void test_reload_replaces_the_worker(void **state)
{
    struct fixture *f = *state;
    struct minica_issued out;
    struct minica_err err;
    pid_t worker = minica_signer_proc_worker(f->proc);
    if (minica_signer_proc_reload(f->proc, &err) != 0)
        fail_msg("reload: %s", err.msg);
    assert_int_not_equal(minica_signer_proc_worker(f->proc), worker);
    if (issue(f->ca, "after.internal", &out, &err) != 0)
        fail_msg("issue: %s", err.msg);
    minica_issued_free(&out);
}

static void test_no_intermediate_key_does_not_start(void **state)
{
    (void)state;
    char *dir = tu_make_ca();
    char path[4096];
    snprintf(path, sizeof(path), "%s/intermediate.key", dir);
    assert_int_equal(unlink(path), 0);
    struct minica_signer_proc *proc = NULL;
    struct minica_err err;
    assert_int_not_equal(minica_signer_proc_start(dir, NULL, NULL, &proc, &err), 0);
    assert_null(proc);
    assert_non_null(strstr(err.msg, "intermediate"));
    tu_free_ca(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_issues_and_signs_crls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_what_it_must_not_sign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_worker_is_unavailable_then_restarted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reload_replaces_the_worker, setup, teardown),
        cmocka_unit_test(test_no_intermediate_key_does_not_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
