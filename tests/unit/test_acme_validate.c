/* Unit tests for the ACME validator: the pure parts (token and key
 * authorization shapes, the http-01 body rule, which addresses may be
 * dialed, the RFC 8738 reverse name, the tls-alpn-01 certificate rules on
 * certificates openssl makes), and both challenges against python3 stand-in
 * servers on loopback, including every refusal the SSRF rules ask for. */
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "serve/acme_validate.h"
#include "testutil.h"

#define THUMB "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

/* The stand-in servers. http: /.well-known/acme-challenge/T answers by T's
 * prefix (good, wrong, huge, slow, redir*); /target/T answers T.THUMB.
 * tls: a TLS server with the given cert, ALPN acme-tls/1 or none (alpn12:
 * acme-tls/1 and at most TLS 1.2, which ECDHE then signs). silent:
 * accepts and never says a word. Each prints its port once it listens. */
static const char SERVERS_PY[] =
    "import socket, ssl, sys, threading, time\n"
    "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
    "def ready(port):\n"
    "    sys.stdout.write('%d\\n' % port); sys.stdout.flush()\n"
    "mode = sys.argv[1]\n"
    "if mode == 'http':\n"
    "    thumb = sys.argv[2]\n"
    "    class H(BaseHTTPRequestHandler):\n"
    "        protocol_version = 'HTTP/1.1'\n"
    "        def log_message(self, *a): pass\n"
    "        def send(self, code, body, loc=None):\n"
    "            self.send_response(code)\n"
    "            if loc: self.send_header('Location', loc)\n"
    "            self.send_header('Content-Length', str(len(body)))\n"
    "            self.end_headers(); self.wfile.write(body)\n"
    "        def do_GET(self):\n"
    "            port = self.server.server_address[1]\n"
    "            p = self.path; pre = '/.well-known/acme-challenge/'\n"
    "            if p.startswith('/target/'):\n"
    "                return self.send(200, (p[8:] + '.' + thumb).encode())\n"
    "            if not p.startswith(pre): return self.send(404, b'')\n"
    "            t = p[len(pre):]\n"
    "            ka = (t + '.' + thumb).encode()\n"
    "            other = port + 1 if port < 65535 else port - 1\n"
    "            here = 'http://127.0.0.1:%d/target/%s' % (port, t)\n"
    "            if t.startswith('good'): return self.send(200, ka + b'\\r\\n')\n"
    "            if t.startswith('wrong'): return self.send(200, (t + '.wrong').encode())\n"
    "            if t.startswith('huge'): return self.send(200, ka + b' ' * 100000)\n"
    "            if t.startswith('slow'):\n"
    "                time.sleep(30); return self.send(200, ka)\n"
    "            if t.startswith('trickle'):\n"
    "                self.send_response(200); self.send_header('Content-Length', '4000')\n"
    "                self.end_headers()\n"
    "                for _ in range(4000):\n"
    "                    self.wfile.write(b' '); self.wfile.flush(); time.sleep(0.2)\n"
    "                return\n"
    "            if t.startswith('redirok'): return self.send(302, b'', here)\n"
    "            if t.startswith('redirrel'): return self.send(301, b'', '/target/' + t)\n"
    "            if t.startswith('redirip'):\n"
    "                return self.send(302, b'', 'http://10.255.0.1:%d/target/%s' % (port, t))\n"
    "            if t.startswith('redirzero'):\n"
    "                return self.send(307, b'', 'http://0.0.0.0:%d/target/%s' % (port, t))\n"
    "            if t.startswith('redirport'):\n"
    "                return self.send(302, b'', 'http://127.0.0.1:%d/target/%s' % (other, t))\n"
    "            if t.startswith('redirname'):\n"
    "                return self.send(302, b'', 'http://evil.test:%d/target/%s' % (port, t))\n"
    "            if t.startswith('redirftp'): return self.send(302, b'', 'ftp://127.0.0.1/x')\n"
    "            if t.startswith('redirloop'): return self.send(302, b'', p)\n"
    "            if t.startswith('redirlong'): return self.send(302, b'', here + 'x' * 3000)\n"
    "            return self.send(404, b'')\n"
    "    class S(ThreadingHTTPServer):\n"
    "        address_family = socket.AF_INET6 if sys.argv[3] == '6' else socket.AF_INET\n"
    "    srv = S(('::1' if sys.argv[3] == '6' else '127.0.0.1', 0), H)\n"
    "    srv.daemon_threads = True\n"
    "    ready(srv.server_address[1]); srv.serve_forever()\n"
    "ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen(64)\n"
    "if mode == 'silent':\n"
    "    ready(ls.getsockname()[1]); held = []\n"
    "    while True: held.append(ls.accept()[0])\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(sys.argv[2], sys.argv[3])\n"
    "if sys.argv[4].startswith('alpn'): ctx.set_alpn_protocols(['acme-tls/1'])\n"
    "if sys.argv[4] == 'alpn12': ctx.maximum_version = ssl.TLSVersion.TLSv1_2\n"
    "def serve(c):\n"
    "    try:\n"
    "        c.settimeout(10); s = ctx.wrap_socket(c, server_side=True); s.recv(1)\n"
    "    except Exception: pass\n"
    "    finally: c.close()\n"
    "ready(ls.getsockname()[1])\n"
    "while True:\n"
    "    c = ls.accept()[0]\n"
    "    threading.Thread(target=serve, args=(c,), daemon=True).start()\n";

struct server {
    pid_t pid;
    unsigned port;
};

struct fixture {
    char *tmp;
    char script[4200];
    struct server http, http6, tls_good, tls_digest, tls_noalpn, tls_ip, tls_rsa_ke, tls_rsa_ke12,
        silent;
};

static struct fixture fx;

static void run(const char *cmd)
{
    if (system(cmd) != 0) {
        print_error("failed: %s\n", cmd);
        abort();
    }
}

/* Starts the stand-in server and waits (at most 20 s) for its port. */
static void start_server(struct server *s, const char *mode, const char *a2, const char *a3,
                         const char *a4)
{
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "r", stdin))
            _exit(127);
        execlp("python3", "python3", fx.script, mode, a2, a3, a4, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[32] = "";
    size_t used = 0;
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    while (used < sizeof(line) - 1 && poll(&pfd, 1, 20000) == 1) {
        ssize_t r = read(fds[0], line + used, 1);
        if (r <= 0 || line[used] == '\n')
            break;
        used++;
    }
    line[used] = '\0';
    close(fds[0]);
    s->pid = pid;
    s->port = (unsigned)atoi(line);
    if (s->port == 0) {
        print_error("python3 %s server did not start\n", mode);
        abort();
    }
}

static void stop_server(struct server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

/* A tls-alpn-01 certificate made by openssl with a key as newkey says
 * (-newkey options): SAN san, and extensions ext ("" for none) as -addext
 * values. */
static void make_cert_with(const char *name, const char *newkey, const char *san, const char *ext,
                           const char *ext2)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "cd %s && openssl req -x509 -newkey %s -nodes "
             "-keyout %s.key -out %s.pem -days 1 -subj /CN=acme -addext 'subjectAltName=%s' "
             "%s%s%s %s%s%s 2>/dev/null && openssl x509 -in %s.pem -outform DER -out %s.der",
             fx.tmp, newkey, name, name, san, ext[0] ? "-addext '" : "", ext, ext[0] ? "'" : "",
             ext2[0] ? "-addext '" : "", ext2, ext2[0] ? "'" : "", name, name);
    run(cmd);
}

static void make_cert(const char *name, const char *san, const char *ext)
{
    make_cert_with(name, "ec -pkeyopt ec_paramgen_curve:P-256", san, ext, "");
}

/* "critical,DER:04:20:<SHA-256 of key_authz, colon-separated>", hashed by openssl. */
static void acme_ext(const char *key_authz, const char *prefix, char *out, size_t outlen)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "printf %%s '%s' | openssl dgst -sha256 -r | cut -c1-64 | sed 's/../&:/g; s/:$//'",
             key_authz);
    FILE *p = popen(cmd, "r");
    char hex[128] = "";
    if (p == NULL || fgets(hex, sizeof(hex), p) == NULL)
        abort();
    pclose(p);
    hex[strcspn(hex, "\n")] = '\0';
    snprintf(out, outlen, "%sDER:04:20:%s", prefix, hex);
}

static unsigned char *read_der(const char *name, size_t *len)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s.der", fx.tmp, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = malloc(65536);
    assert_non_null(buf);
    *len = fread(buf, 1, 65536, f);
    fclose(f);
    return buf;
}

static void cert_path(const char *name, const char *ext, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s.%s", fx.tmp, name, ext);
}

#define TLS_KA "tlstoken." THUMB

/* Some CI containers have no ::1; the IPv6 test is skipped there. */
static int have_ipv6_loopback(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static int group_setup(void **state)
{
    (void)state;
    fx.tmp = tu_tempdir();
    snprintf(fx.script, sizeof(fx.script), "%s/servers.py", fx.tmp);
    FILE *f = fopen(fx.script, "w");
    if (f == NULL || fputs(SERVERS_PY, f) < 0 || fclose(f) != 0)
        abort();

    char ext[256], bad[256], plain[256];
    acme_ext(TLS_KA, "critical,", ext, sizeof(ext));
    acme_ext("tlstoken.other", "critical,", bad, sizeof(bad));
    acme_ext(TLS_KA, "", plain, sizeof(plain));
    char full[300];
    snprintf(full, sizeof(full), "1.3.6.1.5.5.7.1.31=%s", ext);
    make_cert("good", "DNS:good.test", full);
    make_cert("ip", "IP:127.0.0.1", full);
    make_cert("twosans", "DNS:good.test,DNS:other.test", full);
    make_cert("othersan", "DNS:other.test", full);
    make_cert("noext", "DNS:good.test", "");
    snprintf(full, sizeof(full), "1.3.6.1.5.5.7.1.31=%s", bad);
    make_cert("digest", "DNS:good.test", full);
    snprintf(full, sizeof(full), "1.3.6.1.5.5.7.1.31=%s", plain);
    make_cert("noncritical", "DNS:good.test", full);
    make_cert("notoctet", "DNS:good.test", "1.3.6.1.5.5.7.1.31=critical,DER:05:00");
    /* As lego makes it: RSA, keyUsage keyEncipherment alone. */
    snprintf(full, sizeof(full), "1.3.6.1.5.5.7.1.31=%s", ext);
    make_cert_with("rsake", "rsa:2048", "DNS:good.test", full, "keyUsage=critical,keyEncipherment");

    char c[4200], k[4200];
    start_server(&fx.http, "http", THUMB, "4", "");
    if (have_ipv6_loopback())
        start_server(&fx.http6, "http", THUMB, "6", "");
    cert_path("good", "pem", c, sizeof(c));
    cert_path("good", "key", k, sizeof(k));
    start_server(&fx.tls_good, "tls", c, k, "alpn");
    start_server(&fx.tls_noalpn, "tls", c, k, "none");
    cert_path("digest", "pem", c, sizeof(c));
    cert_path("digest", "key", k, sizeof(k));
    start_server(&fx.tls_digest, "tls", c, k, "alpn");
    cert_path("ip", "pem", c, sizeof(c));
    cert_path("ip", "key", k, sizeof(k));
    start_server(&fx.tls_ip, "tls", c, k, "alpn");
    cert_path("rsake", "pem", c, sizeof(c));
    cert_path("rsake", "key", k, sizeof(k));
    start_server(&fx.tls_rsa_ke, "tls", c, k, "alpn");
    start_server(&fx.tls_rsa_ke12, "tls", c, k, "alpn12");
    start_server(&fx.silent, "silent", "", "", "");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_server(&fx.http);
    stop_server(&fx.http6);
    stop_server(&fx.tls_good);
    stop_server(&fx.tls_digest);
    stop_server(&fx.tls_noalpn);
    stop_server(&fx.tls_ip);
    stop_server(&fx.tls_rsa_ke);
    stop_server(&fx.tls_rsa_ke12);
    stop_server(&fx.silent);
    tu_rmtree(fx.tmp);
    free(fx.tmp);
    return 0;
}

static void policy_with(struct minica_policy *p, const char *permit_ip)
{
    struct minica_err err;
    char text[512];
    minica_policy_init(p);
    if (permit_ip[0] == '\0')
        return;
    snprintf(text, sizeof(text), "[policy]\npermit_ip = %s\n", permit_ip);
    if (minica_policy_load_text(p, "test", text, &err) != 0) {
        print_error("%s\n", err.msg);
        abort();
    }
}

static struct minica_name name_of(const char *text)
{
    struct minica_name n;
    struct minica_err err;
    if (minica_name_parse(text, &n, &err) != 0)
        abort();
    return n;
}

/* ---- pure parts ---- */

static void test_token_and_key_authz_must_be_base64url(void **state)
{
    (void)state;
    struct minica_err err;
    assert_int_equal(minica_acme_check_token("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", &err),
                     0);
    assert_int_equal(minica_acme_check_token("", &err), MINICA_EINVAL);
    assert_int_equal(minica_acme_check_token("../../etc/passwd", &err), MINICA_EINVAL);
    assert_int_equal(minica_acme_check_token("a?b=c", &err), MINICA_EINVAL);
    assert_int_equal(minica_acme_check_token("abc=", &err), MINICA_EINVAL);
    assert_int_equal(minica_acme_check_key_authz("tok", "tok." THUMB, &err), 0);
    assert_int_equal(minica_acme_check_key_authz("tok", "tok" THUMB, &err), MINICA_EINVAL);
    assert_int_equal(minica_acme_check_key_authz("tok", "other." THUMB, &err), MINICA_EINVAL);
    assert_int_equal(minica_acme_check_key_authz("tok", "tok.", &err), MINICA_EINVAL);
    assert_int_equal(minica_acme_check_key_authz("tok", "tok.ab cd", &err), MINICA_EINVAL);
    assert_int_equal(minica_acme_check_key_authz("tok", "tok.ab\n", &err), MINICA_EINVAL);
}

static void test_http01_body_allows_only_trailing_whitespace(void **state)
{
    (void)state;
    const char *ka = "tok." THUMB;
    char b[256];
    snprintf(b, sizeof(b), "%s", ka);
    assert_true(minica_acme_http01_body_matches(b, strlen(b), ka));
    snprintf(b, sizeof(b), "%s \t\r\n\n", ka);
    assert_true(minica_acme_http01_body_matches(b, strlen(b), ka));
    snprintf(b, sizeof(b), " %s", ka);
    assert_false(minica_acme_http01_body_matches(b, strlen(b), ka));
    snprintf(b, sizeof(b), "%s\nx", ka);
    assert_false(minica_acme_http01_body_matches(b, strlen(b), ka));
    snprintf(b, sizeof(b), "%s", ka);
    assert_false(minica_acme_http01_body_matches(b, strlen(b) - 1, ka));
    b[strlen(ka)] = '\0';
    b[strlen(ka) + 1] = '\0';
    assert_false(minica_acme_http01_body_matches(b, strlen(ka) + 1, ka)); /* a NUL is not space */
}

static int permitted(const struct minica_policy *p, const char *ip)
{
    struct minica_name n = name_of(ip);
    struct minica_acme_addr a;
    memcpy(a.ip, n.ip, n.ip_len);
    a.len = n.ip_len;
    struct minica_err err;
    return minica_acme_addr_permitted(p, &a, &err) == 0;
}

static void test_addr_permitted_follows_permit_ip(void **state)
{
    (void)state;
    struct minica_policy p;
    policy_with(&p, "10.0.0.0/8, fd00::/8");
    assert_true(permitted(&p, "10.1.2.3"));
    assert_true(permitted(&p, "fd00::1"));
    assert_false(permitted(&p, "127.0.0.1"));
    assert_false(permitted(&p, "169.254.169.254"));
    assert_false(permitted(&p, "::1"));
    assert_true(permitted(&p, "::ffff:10.0.0.1")); /* the IPv4 address it reaches */

    /* A v6-wide range does not let a mapped address past a v4 rule. */
    policy_with(&p, "::/0");
    assert_false(permitted(&p, "::ffff:127.0.0.1"));
    assert_true(permitted(&p, "::1"));

    /* No permit_ip permits every address, except those never a peer. */
    policy_with(&p, "");
    assert_true(permitted(&p, "127.0.0.1"));
    assert_false(permitted(&p, "0.0.0.0"));
    assert_false(permitted(&p, "0.1.2.3"));
    assert_false(permitted(&p, "224.0.0.1"));
    assert_false(permitted(&p, "255.255.255.255"));
    assert_false(permitted(&p, "::"));
    assert_false(permitted(&p, "ff02::1"));
    assert_false(permitted(&p, "::ffff:0.0.0.0"));
}

static void test_reverse_name_follows_rfc8738(void **state)
{
    (void)state;
    char out[128];
    struct minica_name n = name_of("192.0.2.5");
    assert_int_equal(minica_acme_reverse_name(&n, out, sizeof(out)), 0);
    assert_string_equal(out, "5.2.0.192.in-addr.arpa");
    n = name_of("2001:db8::1");
    assert_int_equal(minica_acme_reverse_name(&n, out, sizeof(out)), 0);
    assert_string_equal(out,
                        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    assert_int_equal(minica_acme_reverse_name(&n, out, 20), MINICA_EINVAL);
    n = name_of("good.test");
    assert_int_equal(minica_acme_reverse_name(&n, out, sizeof(out)), MINICA_EINVAL);
}

static void cert_says(const char *file, const char *id, int want, const char *why)
{
    size_t len;
    unsigned char *der = read_der(file, &len);
    struct minica_name n = name_of(id);
    struct minica_err err = {{0}};
    int ret = minica_acme_tls_alpn01_check_cert(der, len, &n, TLS_KA, &err);
    if (ret != want || (why && strstr(err.msg, why) == NULL))
        print_error("%s for %s: %d '%s', want %d '%s'\n", file, id, ret, err.msg, want,
                    why ? why : "");
    assert_int_equal(ret, want);
    if (why)
        assert_non_null(strstr(err.msg, why));
    /* Every truncation is refused, never read past. */
    for (size_t cut = 0; cut < len; cut += 7)
        assert_int_not_equal(minica_acme_tls_alpn01_check_cert(der, cut, &n, TLS_KA, &err), 0);
    free(der);
}

static void test_tls_alpn01_cert_rules(void **state)
{
    (void)state;
    cert_says("good", "good.test", 0, NULL);
    cert_says("good", "GOOD.test", 0, NULL);
    cert_says("ip", "127.0.0.1", 0, NULL);
    cert_says("good", "other.test", MINICA_EFORBIDDEN, "something else");
    cert_says("ip", "127.0.0.2", MINICA_EFORBIDDEN, "something else");
    cert_says("good", "127.0.0.1", MINICA_EFORBIDDEN, "something else");
    cert_says("twosans", "good.test", MINICA_EFORBIDDEN, "more than one");
    cert_says("othersan", "good.test", MINICA_EFORBIDDEN, "something else");
    cert_says("noext", "good.test", MINICA_EFORBIDDEN, "no acmeIdentifier");
    cert_says("digest", "good.test", MINICA_EFORBIDDEN, "not SHA-256");
    cert_says("noncritical", "good.test", MINICA_EFORBIDDEN, "not critical");
    cert_says("notoctet", "good.test", MINICA_EFORBIDDEN, "32-byte OCTET STRING");
}

/* ---- against the stand-in servers ---- */

/* TEST ONLY resolver: names the tests need, pointing at loopback or not. */
static int test_resolve(void *arg, const char *host, struct minica_acme_addr *out, size_t max,
                        size_t *n, struct minica_err *err)
{
    (void)arg;
    const char *list;
    if (strcmp(host, "good.test") == 0)
        list = "127.0.0.1";
    else if (strcmp(host, "evil.test") == 0)
        list = "10.9.9.9";
    else if (strcmp(host, "rebind.test") == 0)
        list = "10.9.9.9,127.0.0.1";
    else if (strcmp(host, "v6.test") == 0)
        list = "::1";
    else if (strcmp(host, "mapped.test") == 0)
        list = "::ffff:127.0.0.1";
    else
        return minica_seterr(err, MINICA_ENOENT, "%s: no such test name", host);
    char copy[128];
    snprintf(copy, sizeof(copy), "%s", list);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && *n < max;
         tok = strtok_r(NULL, ",", &save)) {
        struct minica_name ip = name_of(tok);
        memcpy(out[*n].ip, ip.ip, ip.ip_len);
        out[*n].len = ip.ip_len;
        (*n)++;
    }
    return 0;
}

static void settings_for(struct minica_acme_validate_settings *s, unsigned http_port,
                         unsigned tls_port)
{
    minica_acme_validate_settings_init(s);
    s->http_port = http_port;
    s->tls_port = tls_port;
    s->total_timeout_ms = 2000;
    s->connect_timeout_ms = 1000;
    s->resolve = test_resolve;
}

/* One http-01 validation of token against a stand-in http server. */
static int http01_on(unsigned port, const char *permit_ip, const char *id, const char *token,
                     enum minica_acme_vproblem *problem, struct minica_err *err)
{
    struct minica_policy p;
    policy_with(&p, permit_ip);
    struct minica_acme_validate_settings s;
    settings_for(&s, port, fx.tls_good.port);
    struct minica_acme_validator v;
    assert_int_equal(minica_acme_validator_init(&v, &p, &s, err), 0);
    char ka[512];
    snprintf(ka, sizeof(ka), "%s.%s", token, THUMB);
    struct minica_name n = name_of(id);
    memset(err, 0, sizeof(*err));
    int ret = minica_acme_validate_http01(&v, &n, token, ka, problem, err);
    minica_acme_validator_free(&v);
    return ret;
}

static int http01(const char *permit_ip, const char *id, const char *token,
                  enum minica_acme_vproblem *problem, struct minica_err *err)
{
    return http01_on(fx.http.port, permit_ip, id, token, problem, err);
}

static void http01_refused(const char *permit_ip, const char *id, const char *token, int code,
                           enum minica_acme_vproblem want, const char *why)
{
    enum minica_acme_vproblem problem = MINICA_ACME_VP_NONE;
    struct minica_err err;
    int ret = http01(permit_ip, id, token, &problem, &err);
    if (ret != code || problem != want || strstr(err.msg, why) == NULL)
        print_error("%s %s: %d %s '%s'\n", id, token, ret, minica_acme_vproblem_type(problem),
                    err.msg);
    assert_int_equal(ret, code);
    assert_int_equal(problem, want);
    assert_non_null(strstr(err.msg, why));
}

static void http01_valid(const char *permit_ip, const char *id, const char *token)
{
    enum minica_acme_vproblem problem = MINICA_ACME_VP_CONNECTION;
    struct minica_err err;
    int ret = http01(permit_ip, id, token, &problem, &err);
    if (ret != 0)
        print_error("%s %s: %s\n", id, token, err.msg);
    assert_int_equal(ret, 0);
    assert_int_equal(problem, MINICA_ACME_VP_NONE);
}

static void test_http01_accepts_the_key_authorization(void **state)
{
    (void)state;
    http01_valid("127.0.0.0/8", "127.0.0.1", "good1");
    http01_valid("127.0.0.0/8", "good.test", "good2");
    http01_valid("", "good.test", "good3");
    /* Of a name's addresses, only the permitted one is dialed. */
    http01_valid("127.0.0.0/8", "rebind.test", "good4");
    /* Redirects to permitted targets are followed, relative ones too. */
    http01_valid("127.0.0.0/8", "good.test", "redirok");
    http01_valid("127.0.0.0/8", "good.test", "redirrel");
}

/* A proxy from the environment would be a way around every check here: it
 * is never used, and the socket callback refuses to dial it. */
static void test_http01_ignores_an_environment_proxy(void **state)
{
    (void)state;
    setenv("http_proxy", "http://10.9.9.9:3128", 1);
    setenv("HTTP_PROXY", "http://10.9.9.9:3128", 1);
    setenv("ALL_PROXY", "http://10.9.9.9:3128", 1);
    http01_valid("127.0.0.0/8", "good.test", "goodproxy");
}

static int unset_proxy(void **state)
{
    (void)state;
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("ALL_PROXY");
    return 0;
}

/* IPv6: the literal in the URL, and a name pinned to a bracketed address. */
static void test_http01_over_ipv6(void **state)
{
    (void)state;
    if (fx.http6.port == 0)
        skip();
    const char *ids[] = {"::1", "v6.test"};
    for (size_t i = 0; i < 2; i++) {
        enum minica_acme_vproblem problem = MINICA_ACME_VP_CONNECTION;
        struct minica_err err;
        int ret = http01_on(fx.http6.port, "::1/128", ids[i], "good6", &problem, &err);
        if (ret != 0)
            print_error("%s: %s\n", ids[i], err.msg);
        assert_int_equal(ret, 0);
    }
    enum minica_acme_vproblem problem;
    struct minica_err err;
    assert_int_equal(http01_on(fx.http6.port, "127.0.0.0/8", "v6.test", "good6", &problem, &err),
                     MINICA_EPOLICY);
    assert_int_equal(problem, MINICA_ACME_VP_REJECTED_IDENTIFIER);
}

static void test_http01_refuses_a_wrong_answer(void **state)
{
    (void)state;
    http01_refused("127.0.0.0/8", "good.test", "wrong", MINICA_EFORBIDDEN,
                   MINICA_ACME_VP_INCORRECT_RESPONSE, "not the key authorization");
    http01_refused("127.0.0.0/8", "good.test", "missing", MINICA_EFORBIDDEN,
                   MINICA_ACME_VP_INCORRECT_RESPONSE, "HTTP 404");
    /* The key authorization padded with 100000 spaces would match: only
     * the cap refuses it. */
    http01_refused("127.0.0.0/8", "good.test", "huge", MINICA_EFORBIDDEN,
                   MINICA_ACME_VP_INCORRECT_RESPONSE, "larger than 8192");
}

static void test_http01_dials_nothing_outside_permit_ip(void **state)
{
    (void)state;
    http01_refused("10.0.0.0/8", "127.0.0.1", "good", MINICA_EPOLICY,
                   MINICA_ACME_VP_REJECTED_IDENTIFIER, "outside the permitted IP ranges");
    http01_refused("10.0.0.0/8", "good.test", "good", MINICA_EPOLICY,
                   MINICA_ACME_VP_REJECTED_IDENTIFIER, "not dialing good.test");
    http01_refused("127.0.0.0/8", "evil.test", "good", MINICA_EPOLICY,
                   MINICA_ACME_VP_REJECTED_IDENTIFIER, "10.9.9.9");
    http01_refused("::/0", "mapped.test", "good", MINICA_EPOLICY,
                   MINICA_ACME_VP_REJECTED_IDENTIFIER, "127.0.0.1");
    http01_refused("127.0.0.0/8", "nowhere.test", "good", MINICA_ENOENT, MINICA_ACME_VP_DNS,
                   "no such test name");
}

static void test_http01_follows_no_redirect_outside_policy(void **state)
{
    (void)state;
    http01_refused("127.0.0.0/8", "good.test", "redirip", MINICA_EPOLICY, MINICA_ACME_VP_CONNECTION,
                   "10.255.0.1");
    http01_refused("127.0.0.0/8", "good.test", "redirname", MINICA_EPOLICY,
                   MINICA_ACME_VP_CONNECTION, "not dialing evil.test");
    http01_refused("", "good.test", "redirzero", MINICA_EPOLICY, MINICA_ACME_VP_CONNECTION,
                   "never a validation target");
    http01_refused("127.0.0.0/8", "good.test", "redirport", MINICA_EPOLICY,
                   MINICA_ACME_VP_CONNECTION, "port");
    http01_refused("127.0.0.0/8", "good.test", "redirftp", MINICA_EPOLICY,
                   MINICA_ACME_VP_CONNECTION, "redirect");
    http01_refused("127.0.0.0/8", "good.test", "redirloop", MINICA_EPOLICY,
                   MINICA_ACME_VP_CONNECTION, "more than 10 redirects");
    http01_refused("127.0.0.0/8", "good.test", "redirlong", MINICA_EPOLICY,
                   MINICA_ACME_VP_CONNECTION, "a redirect longer than");
}

static void test_http01_gives_up_on_a_slow_server(void **state)
{
    (void)state;
    http01_refused("127.0.0.0/8", "good.test", "slow", MINICA_ENET, MINICA_ACME_VP_CONNECTION,
                   "no answer within 2000 ms");
    /* Slowloris: a byte now and then keeps no per-read timeout from firing. */
    http01_refused("127.0.0.0/8", "good.test", "trickle", MINICA_ENET, MINICA_ACME_VP_CONNECTION,
                   "no answer within 2000 ms");
}

static int tls_alpn01(const struct server *srv, const char *permit_ip, const char *id,
                      enum minica_acme_vproblem *problem, struct minica_err *err)
{
    struct minica_policy p;
    policy_with(&p, permit_ip);
    struct minica_acme_validate_settings s;
    settings_for(&s, fx.http.port, srv->port);
    struct minica_acme_validator v;
    assert_int_equal(minica_acme_validator_init(&v, &p, &s, err), 0);
    struct minica_name n = name_of(id);
    memset(err, 0, sizeof(*err));
    int ret = minica_acme_validate_tls_alpn01(&v, &n, TLS_KA, problem, err);
    minica_acme_validator_free(&v);
    return ret;
}

static void tls_refused(const struct server *srv, const char *permit_ip, const char *id, int code,
                        enum minica_acme_vproblem want, const char *why)
{
    enum minica_acme_vproblem problem = MINICA_ACME_VP_NONE;
    struct minica_err err;
    int ret = tls_alpn01(srv, permit_ip, id, &problem, &err);
    if (ret != code || problem != want || strstr(err.msg, why) == NULL)
        print_error("%s: %d %s '%s'\n", id, ret, minica_acme_vproblem_type(problem), err.msg);
    assert_int_equal(ret, code);
    assert_int_equal(problem, want);
    assert_non_null(strstr(err.msg, why));
}

static void test_tls_alpn01_accepts_the_acme_certificate(void **state)
{
    (void)state;
    enum minica_acme_vproblem problem = MINICA_ACME_VP_CONNECTION;
    struct minica_err err;
    int ret = tls_alpn01(&fx.tls_good, "127.0.0.0/8", "good.test", &problem, &err);
    if (ret != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(ret, 0);
    assert_int_equal(problem, MINICA_ACME_VP_NONE);
    ret = tls_alpn01(&fx.tls_ip, "127.0.0.0/8", "127.0.0.1", &problem, &err);
    if (ret != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(ret, 0);
}

/* RFC 8737 judges the certificate by its SAN and acmeIdentifier only: its
 * key usage is none of the validator's business, in TLS 1.3 or 1.2. */
static void test_tls_alpn01_ignores_the_key_usage(void **state)
{
    (void)state;
    const struct server *servers[] = {&fx.tls_rsa_ke, &fx.tls_rsa_ke12};
    for (size_t i = 0; i < 2; i++) {
        enum minica_acme_vproblem problem = MINICA_ACME_VP_CONNECTION;
        struct minica_err err;
        int ret = tls_alpn01(servers[i], "127.0.0.0/8", "good.test", &problem, &err);
        if (ret != 0)
            print_error("%s: %s\n", i == 0 ? "TLS 1.3" : "TLS 1.2", err.msg);
        assert_int_equal(ret, 0);
        assert_int_equal(problem, MINICA_ACME_VP_NONE);
    }
}

static void test_tls_alpn01_refusals(void **state)
{
    (void)state;
    tls_refused(&fx.tls_digest, "127.0.0.0/8", "good.test", MINICA_EFORBIDDEN,
                MINICA_ACME_VP_INCORRECT_RESPONSE, "not SHA-256");
    tls_refused(&fx.tls_noalpn, "127.0.0.0/8", "good.test", MINICA_EFORBIDDEN, MINICA_ACME_VP_TLS,
                "did not negotiate ALPN acme-tls/1");
    tls_refused(&fx.tls_good, "127.0.0.0/8", "127.0.0.1", MINICA_EFORBIDDEN,
                MINICA_ACME_VP_INCORRECT_RESPONSE, "something else");
    tls_refused(&fx.tls_good, "10.0.0.0/8", "good.test", MINICA_EPOLICY,
                MINICA_ACME_VP_REJECTED_IDENTIFIER, "outside the permitted IP ranges");
    tls_refused(&fx.tls_good, "127.0.0.0/8", "evil.test", MINICA_EPOLICY,
                MINICA_ACME_VP_REJECTED_IDENTIFIER, "10.9.9.9");
    tls_refused(&fx.silent, "127.0.0.0/8", "good.test", MINICA_ENET, MINICA_ACME_VP_CONNECTION,
                "no TLS handshake within");
}

/* A full gate makes a validation wait, then give up without dialing. */
static void test_validations_beyond_the_cap_wait_then_give_up(void **state)
{
    (void)state;
    struct minica_policy p;
    policy_with(&p, "127.0.0.0/8");
    struct minica_acme_validate_settings s;
    settings_for(&s, fx.http.port, fx.tls_good.port);
    s.max_concurrent = 1;
    s.total_timeout_ms = 200;
    struct minica_acme_validator v;
    struct minica_err err;
    assert_int_equal(minica_acme_validator_init(&v, &p, &s, &err), 0);
    v.active = 1; /* one validation in flight */
    struct minica_name n = name_of("good.test");
    enum minica_acme_vproblem problem;
    assert_int_equal(minica_acme_validate_http01(&v, &n, "good", "good." THUMB, &problem, &err),
                     MINICA_EBUSY);
    assert_int_equal(problem, MINICA_ACME_VP_SERVER_INTERNAL);
    v.active = 0;
    assert_int_equal(minica_acme_validate_http01(&v, &n, "good", "good." THUMB, &problem, &err), 0);
    assert_int_equal(v.active, 0);
    minica_acme_validator_free(&v);
}

static void test_validator_refuses_bad_settings(void **state)
{
    (void)state;
    struct minica_policy p;
    policy_with(&p, "");
    struct minica_acme_validate_settings s;
    struct minica_acme_validator v;
    struct minica_err err;
    minica_acme_validate_settings_init(&s);
    s.http_port = 0;
    assert_int_equal(minica_acme_validator_init(&v, &p, &s, &err), MINICA_EINVAL);
    minica_acme_validator_free(&v);
    minica_acme_validate_settings_init(&s);
    s.max_concurrent = 0;
    assert_int_equal(minica_acme_validator_init(&v, &p, &s, &err), MINICA_EINVAL);
    minica_acme_validator_free(&v);
    assert_int_equal(minica_acme_validator_init(&v, &p, NULL, &err), 0);
    assert_int_equal(v.settings.http_port, 80);
    assert_int_equal(v.settings.tls_port, 443);
    assert_int_equal((int)v.settings.max_body, 8192);
    minica_acme_validator_free(&v);
    assert_string_equal(minica_acme_vproblem_type(MINICA_ACME_VP_INCORRECT_RESPONSE),
                        "urn:ietf:params:acme:error:incorrectResponse");
}

int main(void)
{
    /* A stand-in server closing mid-write must not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_and_key_authz_must_be_base64url),
        cmocka_unit_test(test_http01_body_allows_only_trailing_whitespace),
        cmocka_unit_test(test_addr_permitted_follows_permit_ip),
        cmocka_unit_test(test_reverse_name_follows_rfc8738),
        cmocka_unit_test(test_tls_alpn01_cert_rules),
        cmocka_unit_test(test_validator_refuses_bad_settings),
        cmocka_unit_test(test_http01_accepts_the_key_authorization),
        cmocka_unit_test_teardown(test_http01_ignores_an_environment_proxy, unset_proxy),
        cmocka_unit_test(test_http01_over_ipv6),
        cmocka_unit_test(test_http01_refuses_a_wrong_answer),
        cmocka_unit_test(test_http01_dials_nothing_outside_permit_ip),
        cmocka_unit_test(test_http01_follows_no_redirect_outside_policy),
        cmocka_unit_test(test_http01_gives_up_on_a_slow_server),
        cmocka_unit_test(test_tls_alpn01_accepts_the_acme_certificate),
        cmocka_unit_test(test_tls_alpn01_ignores_the_key_usage),
        cmocka_unit_test(test_tls_alpn01_refusals),
        cmocka_unit_test(test_validations_beyond_the_cap_wait_then_give_up),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
