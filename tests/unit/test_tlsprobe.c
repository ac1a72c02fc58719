/* Unit tests for the TLS probe: "HOST:PORT[/SNI]" parsing, and handshakes
 * against a real `openssl s_server` on loopback serving a minica cert (what
 * it served, a foreign root, a wrong SNI, nothing listening, a silent peer). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "minica/ca.h"
#include "minica/fsutil.h"
#include "minica/issue.h"
#include "minica/tlsprobe.h"
#include "testutil.h"

static void parses(const char *text, const char *host, const char *port, const char *sni,
                   const char *canonical)
{
    struct minica_endpoint ep;
    struct minica_err err = {{0}};
    int ret = minica_endpoint_parse(text, &ep, &err);
    if (ret != 0)
        print_error("%s: %s\n", text, err.msg);
    assert_int_equal(ret, 0);
    assert_string_equal(ep.host, host);
    assert_string_equal(ep.port, port);
    assert_string_equal(ep.sni, sni);
    assert_string_equal(ep.text, canonical);
}

static void refuses(const char *text, const char *why)
{
    struct minica_endpoint ep;
    struct minica_err err = {{0}};
    assert_int_equal(minica_endpoint_parse(text, &ep, &err), MINICA_EINVAL);
    if (strstr(err.msg, why) == NULL)
        print_error("%s: '%s' lacks '%s'\n", text, err.msg, why);
    assert_non_null(strstr(err.msg, why));
}

static void test_endpoint_parses_host_ipv4_ipv6_and_sni(void **state)
{
    (void)state;
    parses("127.0.0.1:8443", "127.0.0.1", "8443", "", "127.0.0.1:8443");
    parses("Upstream.Internal.svc:443", "upstream.internal.svc", "443", "",
           "upstream.internal.svc:443");
    parses("[::1]:8443", "::1", "8443", "", "[::1]:8443");
    parses("[0:0::1]:1/api.internal", "::1", "1", "api.internal", "[::1]:1/api.internal");
    parses("10.0.2.88:65535/Upstream.svc", "10.0.2.88", "65535", "upstream.svc",
           "10.0.2.88:65535/upstream.svc");
}

static void test_endpoint_rejects_malformed(void **state)
{
    (void)state;
    refuses("127.0.0.1", "HOST:PORT");
    refuses("127.0.0.1:", "port");
    refuses("127.0.0.1:0", "port");
    refuses("127.0.0.1:65536", "port");
    refuses("127.0.0.1:44x", "port");
    refuses(":443", "host");
    refuses("::1:443", "brackets");
    refuses("[::1:443", "[IPv6]:PORT");
    refuses("[::1]443", "[IPv6]:PORT");
    refuses("[host.svc]:443", "brackets");
    refuses("bad host:443", "not a host name");
    refuses("*.svc:443", "not a host name");
    refuses("127.0.0.1:443/", "SNI");
    refuses("127.0.0.1:443/10.0.0.1", "SNI");
    refuses("127.0.0.1:443/a/b", "SNI");
}

static void test_endpoint_list_splits_on_commas(void **state)
{
    (void)state;
    struct minica_endpoint *eps = NULL;
    size_t n = 0;
    struct minica_err err;
    assert_int_equal(
        minica_endpoint_list_parse(" 127.0.0.1:443 ,[::1]:8443/a.svc,  h.svc:1 ", &eps, &n, &err),
        0);
    assert_int_equal(n, 3);
    assert_string_equal(eps[0].text, "127.0.0.1:443");
    assert_string_equal(eps[1].text, "[::1]:8443/a.svc");
    assert_string_equal(eps[2].text, "h.svc:1");
    free(eps);

    assert_int_equal(minica_endpoint_list_parse("", &eps, &n, &err), MINICA_EINVAL);
    assert_null(eps);
    assert_int_equal(minica_endpoint_list_parse("a.svc:1,", &eps, &n, &err), MINICA_EINVAL);
    assert_int_equal(minica_endpoint_list_parse("a.svc:1,,b.svc:2", &eps, &n, &err), MINICA_EINVAL);
    assert_int_equal(minica_endpoint_list_parse("a.svc:1,b.svc", &eps, &n, &err), MINICA_EINVAL);
    assert_non_null(strstr(err.msg, "b.svc"));
    assert_null(eps);
}

/* A CA, a cert for probe.test and an openssl s_server serving it. */
struct server {
    char *tmp;
    char *cadir;
    char root_pem[8192];
    char serial[41];
    int64_t not_after;
    char port[8];
    pid_t pid;
    char cert[4200], key[4200], chain[4200];
};

/* Starts openssl s_server on accept ("127.0.0.1:P" or "[::1]:P"). */
static pid_t start_s_server(const struct server *s, const char *accept)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr) ||
            !freopen("/dev/null", "r", stdin))
            _exit(127);
        execlp("openssl", "openssl", "s_server", "-quiet", "-accept", accept, "-cert", s->cert,
               "-key", s->key, "-cert_chain", s->chain, "-www", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Probes until the server answers (it is up when a handshake completes). */
static int wait_up(const struct server *s, const char *text)
{
    struct minica_endpoint ep;
    struct minica_err err;
    struct minica_probe_result res;
    assert_int_equal(minica_endpoint_parse(text, &ep, &err), 0);
    for (int i = 0; i < 100; i++) {
        if (minica_tls_probe(&ep, "probe.test", s->root_pem, 1000, &res, &err) != MINICA_ENET)
            return 1;
        usleep(100 * 1000);
    }
    print_error("openssl s_server on %s did not come up: %s\n", text, err.msg);
    return 0;
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(s, (struct sockaddr *)&sa, &sl) != 0)
        abort();
    close(s);
    return ntohs(sa.sin_port);
}

static void write_text(const char *path, const char *text)
{
    struct minica_err err;
    if (minica_write_file_atomic(path, text, strlen(text), 0600, 0, &err) != 0) {
        print_error("%s\n", err.msg);
        abort();
    }
}

static int setup_with(void **state, const struct minica_init_options *opts)
{
    struct server *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->cadir = tu_make_ca_with(opts);
    s->tmp = tu_tempdir();
    struct minica_ca *ca = NULL;
    struct minica_err err;
    assert_int_equal(minica_ca_open(s->cadir, &ca, &err), 0);
    struct minica_issue_request req = {.name = "probe.test"};
    struct minica_issued issued;
    struct minica_output_paths paths;
    memset(&issued, 0, sizeof(issued));
    if (minica_ca_issue_to_dir(ca, &req, s->tmp, 0, &issued, &paths, &err) != 0) {
        print_error("%s\n", err.msg);
        abort();
    }
    snprintf(s->root_pem, sizeof(s->root_pem), "%s", minica_ca_roots_pem(ca));
    snprintf(s->serial, sizeof(s->serial), "%s", issued.serial);
    s->not_after = issued.not_after;
    snprintf(s->chain, sizeof(s->chain), "%s/chain.crt", s->tmp);
    write_text(s->chain, issued.chain_pem);
    snprintf(s->cert, sizeof(s->cert), "%s", paths.cert);
    snprintf(s->key, sizeof(s->key), "%s", paths.key);
    minica_issued_free(&issued);
    minica_ca_close(ca);

    snprintf(s->port, sizeof(s->port), "%d", free_port());
    char accept[32];
    snprintf(accept, sizeof(accept), "127.0.0.1:%s", s->port);
    s->pid = start_s_server(s, accept);
    assert_true(wait_up(s, accept));
    *state = s;
    return 0;
}

static int server_setup(void **state)
{
    struct minica_init_options opts;
    memset(&opts, 0, sizeof(opts));
    return setup_with(state, &opts);
}

/* What `minica init --permit-dns` makes: an intermediate with a critical
 * nameConstraints extension, which mbedTLS refuses in a handshake (the
 * reason the probe uses GnuTLS). */
static int constrained_setup(void **state)
{
    static const char *const dns[] = {"test"};
    static const char *const ip[] = {"127.0.0.0/8"};
    struct minica_init_options opts;
    memset(&opts, 0, sizeof(opts));
    opts.permit_dns = dns;
    opts.n_permit_dns = 1;
    opts.permit_ip = ip;
    opts.n_permit_ip = 1;
    return setup_with(state, &opts);
}

static int server_teardown(void **state)
{
    struct server *s = *state;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    tu_rmtree(s->tmp);
    free(s->tmp);
    tu_free_ca(s->cadir);
    free(s);
    return 0;
}

static void endpoint_of(const struct server *s, const char *sni, struct minica_endpoint *ep)
{
    char text[128];
    snprintf(text, sizeof(text), "127.0.0.1:%s%s%s", s->port, sni ? "/" : "", sni ? sni : "");
    struct minica_err err;
    assert_int_equal(minica_endpoint_parse(text, ep, &err), 0);
}

static void test_probe_reports_served_serial_and_expiry(void **state)
{
    struct server *s = *state;
    struct minica_endpoint ep;
    endpoint_of(s, NULL, &ep);
    struct minica_probe_result res;
    struct minica_err err = {{0}};
    int ret = minica_tls_probe(&ep, "probe.test", s->root_pem, 5000, &res, &err);
    if (ret != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(ret, 0);
    assert_true(res.answered);
    assert_true(res.verified);
    assert_string_equal(res.serial, s->serial);
    assert_int_equal(res.not_after, s->not_after);
}

static void test_probe_explicit_sni_overrides_default(void **state)
{
    struct server *s = *state;
    struct minica_endpoint ep;
    endpoint_of(s, "probe.test", &ep);
    struct minica_probe_result res;
    struct minica_err err = {{0}};
    assert_int_equal(minica_tls_probe(&ep, "other.test", s->root_pem, 5000, &res, &err), 0);
    assert_string_equal(res.serial, s->serial);
}

static void test_probe_rejects_cert_from_another_root(void **state)
{
    struct server *s = *state;
    char *other = tu_make_ca();
    char path[4200];
    snprintf(path, sizeof(path), "%s/root.crt", other);
    char *pem = NULL;
    size_t len;
    struct minica_err err = {{0}};
    assert_int_equal(minica_read_file(path, 65536, &pem, &len, &err), 0);
    struct minica_endpoint ep;
    endpoint_of(s, NULL, &ep);
    struct minica_probe_result res;
    assert_int_equal(minica_tls_probe(&ep, "probe.test", pem, 5000, &res, &err), MINICA_ECRYPTO);
    /* What was served is still known, and the message names the endpoint. */
    assert_true(res.answered);
    assert_false(res.verified);
    assert_string_equal(res.serial, s->serial);
    assert_non_null(strstr(err.msg, ep.text));
    assert_non_null(strstr(err.msg, s->serial));
    free(pem);
    tu_free_ca(other);
}

static void test_probe_rejects_name_mismatch(void **state)
{
    struct server *s = *state;
    struct minica_endpoint ep;
    endpoint_of(s, NULL, &ep);
    struct minica_probe_result res;
    struct minica_err err = {{0}};
    assert_int_equal(minica_tls_probe(&ep, "not-probe.test", s->root_pem, 5000, &res, &err),
                     MINICA_ECRYPTO);
    assert_true(res.answered);
    assert_false(res.verified);
}

static void test_probe_fails_when_nothing_listens(void **state)
{
    (void)state;
    struct minica_endpoint ep;
    char text[64];
    snprintf(text, sizeof(text), "127.0.0.1:%d", free_port());
    struct minica_err err = {{0}};
    assert_int_equal(minica_endpoint_parse(text, &ep, &err), 0);
    struct minica_probe_result res;
    struct server *s = *state;
    assert_int_equal(minica_tls_probe(&ep, "probe.test", s->root_pem, 2000, &res, &err),
                     MINICA_ENET);
    assert_false(res.answered);
    assert_string_equal(res.serial, "");
    assert_non_null(strstr(err.msg, text));
    assert_non_null(strstr(err.msg, "connect"));
}

static void test_probe_times_out_on_silent_peer(void **state)
{
    struct server *s = *state;
    /* Listening but never accepting: the kernel completes the TCP handshake
     * and nobody ever speaks TLS. */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(l, 4), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
    char text[64];
    snprintf(text, sizeof(text), "127.0.0.1:%d", ntohs(sa.sin_port));
    struct minica_endpoint ep;
    struct minica_err err = {{0}};
    assert_int_equal(minica_endpoint_parse(text, &ep, &err), 0);
    struct minica_probe_result res;
    assert_int_equal(minica_tls_probe(&ep, "probe.test", s->root_pem, 300, &res, &err),
                     MINICA_ENET);
    assert_false(res.answered);
    assert_non_null(strstr(err.msg, "no TLS handshake"));
    close(l);
}

static void test_wait_for_serial_accepts_the_served_serial(void **state)
{
    struct server *s = *state;
    struct minica_endpoint ep;
    endpoint_of(s, NULL, &ep);
    struct minica_probe_result res;
    struct minica_err err = {{0}};
    assert_int_equal(
        minica_tls_wait_for_serial(&ep, "probe.test", s->root_pem, s->serial, 3000, &res, &err), 0);
    assert_string_equal(res.serial, s->serial);
}

static void test_wait_for_serial_names_endpoint_and_old_serial(void **state)
{
    struct server *s = *state;
    struct minica_endpoint ep;
    endpoint_of(s, NULL, &ep);
    struct minica_probe_result res;
    struct minica_err err = {{0}};
    const char *wanted = "7fffffffffffffffffffffffffffffff";
    assert_int_not_equal(
        minica_tls_wait_for_serial(&ep, "probe.test", s->root_pem, wanted, 500, &res, &err), 0);
    assert_string_equal(res.serial, s->serial);
    assert_non_null(strstr(err.msg, ep.text));
    assert_non_null(strstr(err.msg, s->serial));
    assert_non_null(strstr(err.msg, wanted));
}

static void test_probe_reaches_ipv6_loopback(void **state)
{
    struct server *s = *state;
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t sl = sizeof(sa);
    if (probe < 0 || bind(probe, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(probe, (struct sockaddr *)&sa, &sl) != 0) {
        if (probe >= 0)
            close(probe);
        skip(); /* no IPv6 loopback on this host */
    }
    close(probe);
    char text[64];
    snprintf(text, sizeof(text), "[::1]:%d", ntohs(sa.sin6_port));
    pid_t pid = start_s_server(s, text);
    int up = wait_up(s, text);
    struct minica_endpoint ep;
    struct minica_probe_result res;
    struct minica_err err = {{0}};
    int ret = up ? (minica_endpoint_parse(text, &ep, &err) == 0
                        ? minica_tls_probe(&ep, "probe.test", s->root_pem, 5000, &res, &err)
                        : -1)
                 : -1;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    if (ret != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(ret, 0);
    assert_string_equal(res.serial, s->serial);
}

static void test_probe_verifies_a_name_constrained_chain(void **state)
{
    test_probe_reports_served_serial_and_expiry(state);
}

int main(void)
{
    const struct CMUnitTest parsing[] = {
        cmocka_unit_test(test_endpoint_parses_host_ipv4_ipv6_and_sni),
        cmocka_unit_test(test_endpoint_rejects_malformed),
        cmocka_unit_test(test_endpoint_list_splits_on_commas),
    };
    const struct CMUnitTest probing[] = {
        cmocka_unit_test(test_probe_reports_served_serial_and_expiry),
        cmocka_unit_test(test_probe_explicit_sni_overrides_default),
        cmocka_unit_test(test_probe_rejects_cert_from_another_root),
        cmocka_unit_test(test_probe_rejects_name_mismatch),
        cmocka_unit_test(test_probe_fails_when_nothing_listens),
        cmocka_unit_test(test_probe_times_out_on_silent_peer),
        cmocka_unit_test(test_wait_for_serial_accepts_the_served_serial),
        cmocka_unit_test(test_wait_for_serial_names_endpoint_and_old_serial),
        cmocka_unit_test(test_probe_reaches_ipv6_loopback),
    };
    int failed = cmocka_run_group_tests_name("endpoint parsing", parsing, NULL, NULL);
    failed += cmocka_run_group_tests_name("probing openssl s_server", probing, server_setup,
                                          server_teardown);
    const struct CMUnitTest constrained[] = {
        cmocka_unit_test(test_probe_verifies_a_name_constrained_chain),
    };
    failed += cmocka_run_group_tests_name("probing a name-constrained CA", constrained,
                                          constrained_setup, server_teardown);
    return failed;
}
