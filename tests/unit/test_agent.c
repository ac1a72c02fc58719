/* Unit tests for the renewal agent: the decision for every trigger (pure and
 * on real files), agent.conf errors with file:line, and the replace / check /
 * reload / rollback cycle against a real local CA. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "minica/agent.h"
#include "minica/ca.h"
#include "minica/duration.h"
#include "minica/fsutil.h"
#include "minica/issuer.h"
#include "minica/lifecycle.h"
#include "minica/remote.h"
#include "minica/store.h"
#include "testutil.h"

/* ---- the pure decision ---- */

static const int64_t NOW = 1800000000;

static void good_facts(struct minica_agent_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->key_matches = 1;
    f->files_agree = 1;
    f->current_ca = 1;
    snprintf(f->serial, sizeof(f->serial), "abcd");
    snprintf(f->sans, sizeof(f->sans), "up.svc,10.0.0.1");
    f->usage = MINICA_USAGE_SERVER;
    f->key_type = MINICA_KEY_EC_P256;
    f->not_before = NOW - 10 * 86400;
    f->not_after = NOW + 80 * 86400; /* 90d lifetime, 80d left */
}

static void base_config(struct minica_agent_config *cfg, struct minica_agent_cert *c)
{
    minica_agent_config_init(cfg);
    minica_agent_cert_init(c);
    snprintf(c->name, sizeof(c->name), "up.svc");
    snprintf(c->sans, sizeof(c->sans), "up.svc,10.0.0.1");
    c->key = "/x/up.key";
}

static enum minica_renew_reason decide(const struct minica_agent_config *cfg,
                                       const struct minica_agent_cert *c,
                                       const struct minica_agent_facts *f, int force)
{
    char why[1024];
    enum minica_renew_reason r = minica_agent_decide(cfg, c, f, NOW, force, why, sizeof(why));
    assert_true(strlen(why) > 0);
    return r;
}

static void test_decide_keeps_a_good_cert(void **state)
{
    (void)state;
    struct minica_agent_config cfg;
    struct minica_agent_cert c;
    struct minica_agent_facts f;
    base_config(&cfg, &c);
    good_facts(&f);
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_NONE);
}

static void test_decide_force_renews_a_good_cert(void **state)
{
    (void)state;
    struct minica_agent_config cfg;
    struct minica_agent_cert c;
    struct minica_agent_facts f;
    base_config(&cfg, &c);
    good_facts(&f);
    assert_int_equal(decide(&cfg, &c, &f, 1), MINICA_RENEW_FORCED);
}

static void test_decide_each_trigger(void **state)
{
    (void)state;
    struct minica_agent_config cfg;
    struct minica_agent_cert c;
    struct minica_agent_facts f;
    base_config(&cfg, &c);

    good_facts(&f);
    f.missing = 1;
    snprintf(f.problem, sizeof(f.problem), "/x/up.key does not exist");
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_MISSING);

    good_facts(&f);
    f.unreadable = 1;
    snprintf(f.problem, sizeof(f.problem), "/x/up.crt holds no readable certificate");
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_UNREADABLE);

    good_facts(&f);
    f.key_matches = 0;
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_KEY_MISMATCH);

    good_facts(&f);
    f.current_ca = 0;
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_NOT_CURRENT_CA);

    good_facts(&f);
    f.files_agree = 0;
    snprintf(f.disagreement, sizeof(f.disagreement), "a and b differ");
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_FILES_DISAGREE);

    good_facts(&f);
    f.revoked = 1;
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_REVOKED);

    good_facts(&f);
    f.not_after = NOW - 1;
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_EXPIRED);

    good_facts(&f);
    snprintf(f.sans, sizeof(f.sans), "up.svc");
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_NAMES_CHANGED);

    good_facts(&f);
    snprintf(f.sans, sizeof(f.sans), "10.0.0.1,up.svc"); /* order does not matter */
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_NONE);

    good_facts(&f);
    f.usage = MINICA_USAGE_CLIENT;
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_USAGE_CHANGED);

    good_facts(&f);
    c.key_type = MINICA_KEY_RSA_2048;
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_KEY_TYPE_CHANGED);
    c.key_type = MINICA_KEY_DEFAULT;
}

static void test_decide_renew_before_percent_and_duration(void **state)
{
    (void)state;
    struct minica_agent_config cfg;
    struct minica_agent_cert c;
    struct minica_agent_facts f;
    base_config(&cfg, &c);
    good_facts(&f);
    /* 90d lifetime; 33% is 29.7d. */
    f.not_after = NOW + 30 * 86400;
    f.not_before = f.not_after - 90 * 86400;
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_NONE);
    f.not_after = NOW + 29 * 86400;
    f.not_before = f.not_after - 90 * 86400;
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_DUE);

    cfg.renew_before_percent = 0;
    cfg.renew_before_seconds = 10 * 86400;
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_NONE);
    f.not_after = NOW + 9 * 86400;
    assert_int_equal(decide(&cfg, &c, &f, 0), MINICA_RENEW_DUE);
}

/* ---- agent.conf ---- */

static int load(const char *text, struct minica_agent_config *cfg, struct minica_err *err)
{
    minica_agent_config_init(cfg);
    return minica_agent_config_load(cfg, "/etc/minica/agent.conf", text, err);
}

static void expect_config_error(const char *text, const char *needle)
{
    struct minica_agent_config cfg;
    struct minica_err err;
    int ret = load(text, &cfg, &err);
    if (ret == 0 || strstr(err.msg, needle) == NULL)
        fail_msg("wanted an error with '%s', got %d '%s'", needle, ret, ret ? err.msg : "");
    minica_agent_config_free(&cfg);
}

static void test_config_parses_the_documented_example(void **state)
{
    (void)state;
    struct minica_agent_config cfg;
    struct minica_err err;
    int ret = load("[agent]\n"
                   "renew_before = 30d\n"
                   "check_command = nginx -t -q\n"
                   "reload_command = nginx -s reload   # or a pidfile\n"
                   "lock_file = /run/minica-agent.lock\n"
                   "\n"
                   "[cert upstream.internal.svc]\n"
                   "sans = upstream.internal.svc, 10.0.2.88\n"
                   "usage = both\n"
                   "ttl = 7d\n"
                   "key_type = ec-p384\n"
                   "fullchain = /etc/nginx/certs/upstream.fullchain.crt\n"
                   "key = /etc/nginx/certs/upstream.key\n"
                   "ca = /etc/nginx/certs/ca.crt\n"
                   "owner = root\n"
                   "group = 0\n"
                   "mode = 0640\n"
                   "[cert client.internal.svc]\n"
                   "usage = client\n"
                   "cert = /etc/nginx/certs/client.crt\n"
                   "key = /etc/nginx/certs/client.key\n",
                   &cfg, &err);
    if (ret != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(cfg.renew_before_percent, 0);
    assert_int_equal(cfg.renew_before_seconds, 30 * 86400);
    assert_string_equal(cfg.reload_command, "nginx -s reload");
    assert_int_equal(cfg.n_certs, 2);
    assert_string_equal(cfg.certs[0].sans, "upstream.internal.svc,10.0.2.88");
    assert_int_equal(cfg.certs[0].usage, MINICA_USAGE_BOTH);
    assert_int_equal(cfg.certs[0].ttl, 7 * 86400);
    assert_int_equal(cfg.certs[0].key_type, MINICA_KEY_EC_P384);
    assert_int_equal(cfg.certs[0].key_mode, 0640);
    assert_int_equal(cfg.certs[0].owner.uid, 0);
    assert_int_equal(cfg.certs[0].owner.gid, 0);
    assert_string_equal(cfg.certs[1].sans, "client.internal.svc"); /* defaults to NAME */
    assert_int_equal(cfg.certs[1].key_mode, 0600);
    ret = minica_agent_config_resolve(&cfg, "/srv/ca", &err);
    assert_int_equal(ret, 0);
    assert_string_equal(cfg.state_dir, "/srv/ca");
    assert_string_equal(cfg.lock_file, "/run/minica-agent.lock");
    assert_string_equal(cfg.status_file, "/srv/ca/agent.status");
    minica_agent_config_free(&cfg);
}

static void test_config_defaults_renew_before_to_a_third(void **state)
{
    (void)state;
    struct minica_agent_config cfg;
    struct minica_err err;
    assert_int_equal(load("[cert a.svc]\nkey = /k\nfullchain = /f\n", &cfg, &err), 0);
    assert_int_equal(cfg.renew_before_percent, 33);
    minica_agent_config_free(&cfg);
}

/* retry_for bounds how long a run waits for a busy remote CA: a
 * duration, or 0 for a single attempt; nonsense and days are refused. */
static void test_config_retry_for(void **state)
{
    (void)state;
    struct minica_agent_config cfg;
    struct minica_err err;
    assert_int_equal(load("[agent]\nca_url = https://ca:9443\nroot = /r\nretry_for = 90s\n"
                          "[cert a.svc]\nkey = /k\nfullchain = /f\n",
                          &cfg, &err),
                     0);
    assert_int_equal(cfg.retry_for, 90);
    minica_agent_config_free(&cfg);
    assert_int_equal(
        load("[agent]\nretry_for = 0\n[cert a.svc]\nkey = /k\nfullchain = /f\n", &cfg, &err), 0);
    assert_int_equal(cfg.retry_for, -1);
    minica_agent_config_free(&cfg);
    assert_int_equal(load("[cert a.svc]\nkey = /k\nfullchain = /f\n", &cfg, &err), 0);
    assert_int_equal(cfg.retry_for, 0); /* the default, 3m */
    minica_agent_config_free(&cfg);
    expect_config_error("[agent]\nretry_for = soon\n", "agent.conf:2: retry_for");
    expect_config_error("[agent]\nretry_for = 2d\n", "agent.conf:2: retry_for");
}

static void test_config_errors_name_file_and_line(void **state)
{
    (void)state;
    expect_config_error("[agent]\ncheck_command = x\nbogus = 1\n",
                        "/etc/minica/agent.conf:3: unknown key 'bogus'");
    expect_config_error("[agent]\n[cert a.svc]\nkey = /k\nfullchan = /f\n",
                        "agent.conf:4: unknown key 'fullchan' in [cert a.svc]");
    expect_config_error("[agent]\nrenew_before = 3x\n", "agent.conf:2: renew_before");
    expect_config_error("[agent]\nrenew_before = 150%\n", "agent.conf:2: renew_before");
    expect_config_error("[cert a.svc]\nkey = /k\nfullchain = /f\nttl = soon\n",
                        "agent.conf:4: ttl");
    expect_config_error("[cert a.svc]\nkey = /k\nfullchain = /f\nmode = 0644\n",
                        "agent.conf:4: mode");
    expect_config_error("[cert a.svc]\nkey = relative.key\n", "agent.conf:2: key");
    expect_config_error("[cert a.svc]\nkey = /k\nfullchain = /f\nusage = sometimes\n",
                        "agent.conf:4: usage");
    expect_config_error("[cert a.svc]\nkey = /k\nfullchain = /f\nowner = no-such-user-here\n",
                        "agent.conf:4: owner");
    expect_config_error("[agent]\ncheck_command = x\n\n[cert a.svc]\nsans = a.svc\n",
                        "agent.conf:4: [cert a.svc] needs key");
    expect_config_error("[cert a.svc]\nkey = /k\n", "agent.conf:1: [cert a.svc] needs fullchain");
    expect_config_error("[certs a.svc]\nkey = /k\n", "agent.conf:2: unknown section");
    expect_config_error("[cert bad name!]\nkey = /k\n", "agent.conf:2: [cert bad name!]");
    expect_config_error("[cert a.svc]\nkey = /k\nkey = /j\n", "agent.conf:3: key is set twice");
    expect_config_error("[cert a.svc]\nkey = /k\nfullchain = /f\n[cert b.svc]\nkey = /k\n"
                        "fullchain = /g\n",
                        "also used by [cert a.svc]");
    expect_config_error(
        "[cert a.svc]\nkey = /k\nfullchain = /f\nca = /ca\n[cert b.svc]\n"
        "key = /j\nfullchain = /g\nca = /ca\n",
        "agent.conf:5: [cert b.svc] writes /ca, which is also used by [cert a.svc]");
    expect_config_error("[agent]\nreload_command = x\nreload_pidfile = /run/x.pid\n",
                        "exclude each other");
    expect_config_error("[agent]\nreload_signal = KILL\n", "agent.conf:2: reload_signal");
}

static void test_config_writable_by_others_is_refused(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char path[4200];
    snprintf(path, sizeof(path), "%s/agent.conf", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("[agent]\nreload_command = true\n", fp);
    fclose(fp);
    struct minica_agent_config cfg;
    struct minica_err err;
    chmod(path, 0644);
    minica_agent_config_init(&cfg);
    assert_int_equal(minica_agent_config_load(&cfg, path, NULL, &err), 0);
    minica_agent_config_free(&cfg);
    chmod(path, 0666);
    minica_agent_config_init(&cfg);
    assert_int_equal(minica_agent_config_load(&cfg, path, NULL, &err), MINICA_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "may be changed by other users"));
    minica_agent_config_free(&cfg);
    /* A 0644 file in a 0777 directory: anyone may swap it for their own. */
    chmod(path, 0644);
    assert_int_equal(chmod(dir, 0777), 0);
    minica_agent_config_init(&cfg);
    assert_int_equal(minica_agent_config_load(&cfg, path, NULL, &err), MINICA_EFORBIDDEN);
    char fix[4300];
    snprintf(fix, sizeof(fix), "chmod go-w %s", dir);
    assert_non_null(strstr(err.msg, fix));
    minica_agent_config_free(&cfg);
    assert_int_equal(chmod(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/missing.conf", dir);
    minica_agent_config_init(&cfg);
    assert_int_not_equal(minica_agent_config_load(&cfg, path, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "missing.conf"));
    minica_agent_config_free(&cfg);
    tu_rmtree(dir);
    free(dir);
}

/* ---- against a real CA and real files ---- */

struct fixture {
    char *ca_dir;
    char *out;
    struct minica_issuer issuer;
    struct minica_agent_config cfg;
    char lines[32][1024];
    int n_lines;
    int n_errors;
};

static void collect(void *ctx, int is_error, const char *line)
{
    struct fixture *fx = ctx;
    if (fx->n_lines < 32)
        snprintf(fx->lines[fx->n_lines++], sizeof(fx->lines[0]), "%s", line);
    if (is_error)
        fx->n_errors++;
}

static void path_in(const struct fixture *fx, char *out, size_t len, const char *base)
{
    snprintf(out, len, "%s/%s", fx->out, base);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    fx->ca_dir = tu_make_ca();
    fx->out = tu_tempdir();
    struct minica_err err;
    if (minica_issuer_open_local(&fx->issuer, fx->ca_dir, "agent", &err) != 0)
        fail_msg("%s", err.msg);
    char text[8192];
    snprintf(text, sizeof(text),
             "[agent]\n"
             "check_command = test ! -e %s/check-fails\n"
             "reload_command = echo reload >> %s/reloads\n"
             "[cert up.svc]\n"
             "sans = up.svc, 10.0.0.1\n"
             "fullchain = %s/up.fullchain.crt\n"
             "key = %s/up.key\n"
             "cert = %s/up.crt\n"
             "ca = %s/ca.crt\n"
             "[cert client.svc]\n"
             "usage = client\n"
             "cert = %s/client.crt\n"
             "key = %s/client.key\n",
             fx->out, fx->out, fx->out, fx->out, fx->out, fx->out, fx->out, fx->out);
    minica_agent_config_init(&fx->cfg);
    if (minica_agent_config_load(&fx->cfg, "agent.conf", text, &err) != 0)
        fail_msg("%s", err.msg);
    snprintf(fx->cfg.status_file, sizeof(fx->cfg.status_file), "%s/agent.status", fx->out);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    minica_issuer_close(&fx->issuer);
    minica_agent_config_free(&fx->cfg);
    tu_rmtree(fx->out);
    tu_free_ca(fx->ca_dir);
    free(fx->out);
    free(fx);
    return 0;
}

static int run_agent(struct fixture *fx, int force)
{
    struct minica_agent_run run;
    memset(&run, 0, sizeof(run));
    run.force = force;
    run.report = collect;
    run.report_ctx = fx;
    fx->n_lines = 0;
    fx->n_errors = 0;
    struct minica_err err;
    return minica_agent_run_with(&fx->cfg, &fx->issuer, &run, &err);
}

static enum minica_renew_reason reason_of(struct fixture *fx, size_t i)
{
    struct minica_agent_facts f;
    struct minica_err err;
    if (minica_agent_inspect(&fx->issuer, &fx->cfg.certs[i], &f, &err) != 0)
        fail_msg("%s", err.msg);
    char why[1024];
    return minica_agent_decide(&fx->cfg, &fx->cfg.certs[i], &f, minica_time_now(), 0, why,
                               sizeof(why));
}

static int count_lines(const char *path)
{
    char *buf = tu_slurp(path);
    int n = 0;
    for (char *p = buf; p && *p; p++)
        n += *p == '\n';
    free(buf);
    return n;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_run_issues_missing_files_and_reloads_once(void **state)
{
    struct fixture *fx = *state;
    char p[4200];
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_MISSING);
    assert_int_equal(run_agent(fx, 0), 0);
    assert_int_equal(fx->n_errors, 0);
    path_in(fx, p, sizeof(p), "reloads");
    assert_int_equal(count_lines(p), 1); /* two certs, one reload */
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_NONE);
    assert_int_equal(reason_of(fx, 1), MINICA_RENEW_NONE);
    struct stat st;
    path_in(fx, p, sizeof(p), "up.key");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    path_in(fx, p, sizeof(p), "up.crt");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);

    /* Nothing to do: silent, no reload. */
    assert_int_equal(run_agent(fx, 0), 0);
    assert_int_equal(fx->n_lines, 0);
    path_in(fx, p, sizeof(p), "reloads");
    assert_int_equal(count_lines(p), 1);
}

static void test_inspect_sees_each_trigger_on_disk(void **state)
{
    struct fixture *fx = *state;
    char p[4200], q[4200];
    assert_int_equal(run_agent(fx, 0), 0);

    /* A key from another issuance: mismatch. */
    path_in(fx, p, sizeof(p), "up.key");
    char *saved_key = tu_slurp(p);
    path_in(fx, q, sizeof(q), "client.key");
    char *other = tu_slurp(q);
    write_text(p, other);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_KEY_MISMATCH);
    write_text(p, saved_key);
    free(other);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_NONE);

    /* Garbage in the cert file: unreadable. */
    path_in(fx, p, sizeof(p), "client.crt");
    char *saved_crt = tu_slurp(p);
    write_text(p, "not a certificate\n");
    assert_int_equal(reason_of(fx, 1), MINICA_RENEW_UNREADABLE);
    write_text(p, saved_crt);
    free(saved_crt);

    /* cert and fullchain disagree (a crash between two renames). */
    path_in(fx, p, sizeof(p), "up.crt");
    char *saved_up = tu_slurp(p);
    path_in(fx, q, sizeof(q), "client.crt");
    char *client = tu_slurp(q);
    write_text(p, client);
    enum minica_renew_reason r = reason_of(fx, 0);
    assert_true(r == MINICA_RENEW_FILES_DISAGREE || r == MINICA_RENEW_KEY_MISMATCH);
    write_text(p, saved_up);
    free(client);

    /* ca file that is not the root. */
    path_in(fx, p, sizeof(p), "ca.crt");
    write_text(p, saved_up);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_FILES_DISAGREE);
    write_text(p, minica_ca_roots_pem(fx->issuer.ctx));
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_NONE);

    /* Names and usage changed in the config. */
    snprintf(fx->cfg.certs[0].sans, sizeof(fx->cfg.certs[0].sans), "up.svc,10.0.0.2");
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_NAMES_CHANGED);
    snprintf(fx->cfg.certs[0].sans, sizeof(fx->cfg.certs[0].sans), "up.svc,10.0.0.1");
    fx->cfg.certs[0].usage = MINICA_USAGE_BOTH;
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_USAGE_CHANGED);
    fx->cfg.certs[0].usage = MINICA_USAGE_SERVER;

    /* Revoked in the inventory. */
    char serial[MINICA_SERIAL_HEX_MAX];
    int64_t not_after;
    struct minica_err err;
    assert_int_equal(minica_agent_read_leaf(&fx->cfg.certs[0], serial, &not_after, &err), 0);
    struct minica_store *store = minica_ca_store(fx->issuer.ctx);
    assert_int_equal(minica_store_revoke(store, serial, minica_time_now(), 1, &err), 0);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_REVOKED);

    /* A certificate from another CA. */
    char *other_ca = tu_make_ca();
    struct minica_issuer other_issuer;
    assert_int_equal(minica_issuer_open_local(&other_issuer, other_ca, "agent", &err), 0);
    struct minica_agent_run run;
    memset(&run, 0, sizeof(run));
    run.force = 1;
    assert_int_equal(minica_agent_run_with(&fx->cfg, &other_issuer, &run, &err), 0);
    minica_issuer_close(&other_issuer);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_NOT_CURRENT_CA);
    tu_free_ca(other_ca);

    /* Expired (time moved forward a year). */
    assert_int_equal(run_agent(fx, 0), 0);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_NONE);
    char fake[32];
    snprintf(fake, sizeof(fake), "%lld", (long long)(minica_time_now() + 400LL * 86400));
    setenv("MINICA_FAKE_NOW", fake, 1);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_EXPIRED);
    snprintf(fake, sizeof(fake), "%lld",
             (long long)(minica_time_now() - 400LL * 86400 + 70 * 86400));
    setenv("MINICA_FAKE_NOW", fake, 1);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_DUE);
    unsetenv("MINICA_FAKE_NOW");

    /* Missing. */
    path_in(fx, p, sizeof(p), "up.fullchain.crt");
    unlink(p);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_MISSING);
    free(saved_key);
    free(saved_up);
}

static void test_failing_check_restores_previous_files_and_skips_reload(void **state)
{
    struct fixture *fx = *state;
    char p[4200], flag[4200], reloads[4200];
    assert_int_equal(run_agent(fx, 0), 0);
    path_in(fx, reloads, sizeof(reloads), "reloads");
    assert_int_equal(count_lines(reloads), 1);
    const char *files[] = {"up.key", "up.crt",     "up.fullchain.crt",
                           "ca.crt", "client.key", "client.crt"};
    char *before[6];
    for (int i = 0; i < 6; i++) {
        path_in(fx, p, sizeof(p), files[i]);
        before[i] = tu_slurp(p);
        assert_non_null(before[i]);
    }
    path_in(fx, flag, sizeof(flag), "check-fails");
    write_text(flag, "");
    assert_int_not_equal(run_agent(fx, 1), 0);
    assert_true(fx->n_errors >= 1);
    assert_non_null(strstr(fx->lines[0], "check_command failed"));
    assert_non_null(strstr(fx->lines[0], "restored the previous files"));
    for (int i = 0; i < 6; i++) {
        path_in(fx, p, sizeof(p), files[i]);
        char *now = tu_slurp(p);
        assert_string_equal(now, before[i]);
        free(now);
        free(before[i]);
    }
    assert_int_equal(count_lines(reloads), 1); /* no reload */
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_NONE);

    /* With the check passing again, --force replaces and keeps .prev. */
    unlink(flag);
    path_in(fx, p, sizeof(p), "up.crt");
    char *old = tu_slurp(p);
    assert_int_equal(run_agent(fx, 1), 0);
    assert_int_equal(count_lines(reloads), 2);
    path_in(fx, p, sizeof(p), "up.crt.prev");
    char *prev = tu_slurp(p);
    assert_string_equal(prev, old);
    free(prev);
    free(old);
}

/* A crash during an earlier restore left the old certificate beside the
 * new key. When the next renewal's group fails, putting that pair back
 * would break the server's next reload: the new files stay, the
 * certificate is stuck, and a later run that gets the group through
 * clears it. */
static void test_failing_group_never_restores_a_mismatched_pair(void **state)
{
    struct fixture *fx = *state;
    struct minica_agent_state st;
    minica_agent_state_init(&st);
    char p[4200], flag[4200], marker[4200];
    assert_int_equal(run_agent(fx, 0), 0);
    char *old_cert = NULL;
    path_in(fx, p, sizeof(p), "up.crt");
    old_cert = tu_slurp(p);
    assert_int_equal(run_agent(fx, 1), 0);
    write_text(p, old_cert); /* the restore that stopped half way */
    free(old_cert);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_KEY_MISMATCH);

    path_in(fx, flag, sizeof(flag), "check-fails");
    write_text(flag, "");
    struct minica_agent_run run;
    memset(&run, 0, sizeof(run));
    run.report = collect;
    run.report_ctx = fx;
    run.state = &st;
    fx->n_lines = fx->n_errors = 0;
    struct minica_err err;
    assert_int_not_equal(minica_agent_run_with(&fx->cfg, &fx->issuer, &run, &err), 0);
    assert_non_null(strstr(fx->lines[0], "up.svc: check_command failed"));
    assert_non_null(strstr(fx->lines[0], "not rolled back: the key in"));
    char why[1024];
    assert_int_equal(minica_agent_key_check(&fx->cfg.certs[0], why, sizeof(why)), 1);
    assert_int_equal(minica_agent_state_any_stuck(&st), 1);
    snprintf(marker, sizeof(marker), "%s.reload-pending", fx->cfg.status_file);
    assert_int_equal(access(marker, F_OK), 0); /* the next run checks again */

    unlink(flag);
    fx->n_lines = fx->n_errors = 0;
    assert_int_equal(minica_agent_run_with(&fx->cfg, &fx->issuer, &run, &err), 0);
    int said = 0;
    for (int i = 0; i < fx->n_lines; i++)
        said |= strstr(fx->lines[i], "up.svc: no longer stuck") != NULL;
    assert_true(said);
    assert_int_equal(minica_agent_state_any_stuck(&st), 0);
    assert_int_not_equal(access(marker, F_OK), 0);
    minica_agent_state_free(&st);
}

static void test_failing_reload_restores_previous_files(void **state)
{
    struct fixture *fx = *state;
    char p[4200];
    assert_int_equal(run_agent(fx, 0), 0);
    path_in(fx, p, sizeof(p), "up.fullchain.crt");
    char *before = tu_slurp(p);
    snprintf(fx->cfg.reload_command, sizeof(fx->cfg.reload_command), "exit 3");
    assert_int_not_equal(run_agent(fx, 1), 0);
    assert_non_null(strstr(fx->lines[0], "reload failed"));
    assert_non_null(strstr(fx->lines[0], "status 3"));
    char *after = tu_slurp(p);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static mode_t mode_at(const struct fixture *fx, const char *base)
{
    char p[4200];
    struct stat st;
    path_in(fx, p, sizeof(p), base);
    if (lstat(p, &st) != 0)
        fail_msg("%s: cannot stat", p);
    return st.st_mode & 07777;
}

static void chmod_at(const struct fixture *fx, const char *base, mode_t mode)
{
    char p[4200];
    path_in(fx, p, sizeof(p), base);
    assert_int_equal(chmod(p, mode), 0);
}

/* An old self-signed setup's key was 0644: once replaced, it lives on as
 * up.key.prev, which must not stay readable by everyone. */
static void test_prev_key_is_narrowed_after_a_successful_group(void **state)
{
    struct fixture *fx = *state;
    char p[4200];
    assert_int_equal(run_agent(fx, 0), 0);
    chmod_at(fx, "up.key", 0644);
    chmod_at(fx, "client.key", 0640);
    path_in(fx, p, sizeof(p), "up.key");
    char *old_key = tu_slurp(p);
    assert_non_null(old_key);

    assert_int_equal(run_agent(fx, 1), 0);
    assert_int_equal(fx->n_errors, 0);
    assert_int_equal(mode_at(fx, "up.key"), 0600);
    assert_int_equal(mode_at(fx, "up.key.prev"), 0600);
    assert_int_equal(mode_at(fx, "client.key.prev"), 0600);
    /* Certificates are public: their .prev keep 0644. */
    assert_int_equal(mode_at(fx, "up.crt.prev"), 0644);
    path_in(fx, p, sizeof(p), "up.key.prev");
    char *prev = tu_slurp(p);
    assert_non_null(prev);
    assert_string_equal(prev, old_key); /* the retired key itself, narrowed */
    free(prev);
    free(old_key);
}

/* The rollback puts the original key back with its original mode: the
 * .prev must not be narrowed before the group is known to be good. */
static void test_rollback_restores_the_key_with_its_original_mode(void **state)
{
    struct fixture *fx = *state;
    char p[4200], flag[4200];
    assert_int_equal(run_agent(fx, 0), 0);
    chmod_at(fx, "up.key", 0644);
    path_in(fx, p, sizeof(p), "up.key");
    char *old_key = tu_slurp(p);
    path_in(fx, flag, sizeof(flag), "check-fails");
    write_text(flag, "");
    assert_int_not_equal(run_agent(fx, 1), 0);
    assert_non_null(strstr(fx->lines[0], "restored the previous files"));
    assert_int_equal(mode_at(fx, "up.key"), 0644);
    char *now = tu_slurp(p);
    assert_string_equal(now, old_key);
    free(now);
    free(old_key);
}

/* A .prev that cannot be narrowed is a warning line, not a failed renewal.
 * Here the old key was a symlink (link() keeps it as one): the file it
 * points to is not the agent's and must not be chmod'ed through it. */
static void test_prev_key_that_cannot_be_narrowed_only_warns(void **state)
{
    struct fixture *fx = *state;
    char p[4200], target[4200];
    path_in(fx, target, sizeof(target), "snakeoil.key");
    write_text(target, "not really a key\n");
    assert_int_equal(chmod(target, 0644), 0);
    path_in(fx, p, sizeof(p), "up.key");
    assert_int_equal(symlink(target, p), 0);
    assert_int_equal(run_agent(fx, 1), 0);
    int warned = 0;
    for (int i = 0; i < fx->n_lines; i++)
        if (strncmp(fx->lines[i], "warning: up.svc: ", 17) == 0 &&
            strstr(fx->lines[i], "up.key.prev is a symbolic link") != NULL)
            warned = 1;
    assert_true(warned);
    assert_int_equal(mode_at(fx, "snakeoil.key"), 0644);
    assert_int_equal(mode_at(fx, "up.key"), 0600);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_NONE);
}

/* ---- the remote issuer's token_file ---- */

/* A loopback "CA" that never answers: whether the agent connected to it
 * says whether it got as far as sending the token. */
static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int pending_connections(int lfd)
{
    int n = 0, c;
    while ((c = accept(lfd, NULL, NULL)) >= 0) {
        close(c);
        n++;
    }
    return n;
}

/* One agent run over a remote issuer whose CA listens on port: one
 * attempt, since these CAs hang up or never answer. */
static int run_remote(struct fixture *fx, int port, const char *token)
{
    char text[8192];
    snprintf(text, sizeof(text),
             "[agent]\n"
             "ca_url = https://127.0.0.1:%d\n"
             "root = %s/root.crt\n"
             "retry_for = 0\n"
             "[cert web.svc]\n"
             "fullchain = %s/web.fullchain.crt\n"
             "key = %s/web.key\n"
             "token_file = %s\n",
             port, fx->ca_dir, fx->out, fx->out, token);
    struct minica_agent_config cfg;
    struct minica_err err;
    minica_agent_config_init(&cfg);
    if (minica_agent_config_load(&cfg, "agent.conf", text, &err) != 0)
        fail_msg("%s", err.msg);
    struct minica_issuer issuer;
    if (minica_issuer_open_remote_agent(&issuer, &cfg, &err) != 0)
        fail_msg("%s", err.msg);
    struct minica_agent_run run;
    memset(&run, 0, sizeof(run));
    run.report = collect;
    run.report_ctx = fx;
    fx->n_lines = 0;
    fx->n_errors = 0;
    int ret = minica_agent_run_with(&cfg, &issuer, &run, &err);
    minica_issuer_close(&issuer);
    minica_agent_config_free(&cfg);
    return ret;
}

/* token_file is a bearer secret: at 0644 (cloud-init's default) or behind
 * a symlink the agent refuses it, says the fix, and never contacts the CA,
 * so the token is neither sent nor spent. At 0600 it is sent. */
static void test_token_file_readable_by_others_is_refused_and_not_sent(void **state)
{
    struct fixture *fx = *state;
    char token[4200], real[4200];
    int port;
    int lfd = listen_loopback(&port);
    path_in(fx, token, sizeof(token), "web.token");
    write_text(token, "0123456789abcdef\n");

    assert_int_equal(chmod(token, 0644), 0);
    assert_int_not_equal(run_remote(fx, port, token), 0);
    assert_int_equal(fx->n_errors, 1);
    char fix[4300];
    snprintf(fix, sizeof(fix), "chmod 600 %s", token);
    assert_non_null(strstr(fx->lines[0], "web.svc: token file"));
    assert_non_null(strstr(fx->lines[0], fix));
    assert_int_equal(pending_connections(lfd), 0);
    assert_true(minica_file_exists(token));

    assert_int_equal(chmod(token, 0640), 0); /* group-readable is refused too */
    assert_int_not_equal(run_remote(fx, port, token), 0);
    assert_non_null(strstr(fx->lines[0], fix));
    assert_int_equal(pending_connections(lfd), 0);

    /* A symlink to a 0600 file: the agent would send whatever it points to. */
    path_in(fx, real, sizeof(real), "web.token.real");
    assert_int_equal(rename(token, real), 0);
    assert_int_equal(chmod(real, 0600), 0);
    assert_int_equal(symlink(real, token), 0);
    assert_int_not_equal(run_remote(fx, port, token), 0);
    assert_non_null(strstr(fx->lines[0], "is a symbolic link"));
    assert_int_equal(pending_connections(lfd), 0);
    assert_int_equal(unlink(token), 0);
    assert_int_equal(rename(real, token), 0);

    /* 0600: sent. The "CA" hangs up at once, so the run fails, but on the
     * network, not on the token file (which a failed request leaves). */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        int flags = fcntl(lfd, F_GETFL);
        fcntl(lfd, F_SETFL, flags & ~O_NONBLOCK);
        int c = accept(lfd, NULL, NULL);
        _exit(c >= 0 ? 0 : 1);
    }
    assert_int_not_equal(run_remote(fx, port, token), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* it connected */
    assert_null(strstr(fx->lines[0], "token file"));
    assert_true(minica_file_exists(token));
    close(lfd);
}

static void test_interrupted_run_reloads_next_time(void **state)
{
    struct fixture *fx = *state;
    char p[4200], reloads[4200];
    assert_int_equal(run_agent(fx, 0), 0);
    path_in(fx, reloads, sizeof(reloads), "reloads");
    assert_int_equal(count_lines(reloads), 1);
    /* A run killed after renaming leaves its marker behind. */
    snprintf(p, sizeof(p), "%s.reload-pending", fx->cfg.status_file);
    write_text(p, "");
    assert_int_equal(run_agent(fx, 0), 0);
    assert_int_equal(count_lines(reloads), 2);
    assert_false(minica_file_exists(p));
    assert_int_equal(run_agent(fx, 0), 0);
    assert_int_equal(count_lines(reloads), 2);
}

static void test_run_removes_temp_files_a_killed_run_left(void **state)
{
    struct fixture *fx = *state;
    char p[4200], other[4200];
    path_in(fx, p, sizeof(p), ".up.key.tmp-0badf00d");
    write_text(p, "half a key");
    path_in(fx, other, sizeof(other), ".unrelated.tmp-0badf00d");
    write_text(other, "not ours");
    assert_int_equal(run_agent(fx, 0), 0);
    assert_false(minica_file_exists(p));
    assert_true(minica_file_exists(other));
}

/* renew_before = 30d with ttl = 7d: each new certificate is already due, so
 * every cron run would renew and reload. The run fails instead. */
static void test_run_refuses_ttl_inside_renew_before(void **state)
{
    struct fixture *fx = *state;
    char p[4200];
    fx->cfg.renew_before_percent = 0;
    fx->cfg.renew_before_seconds = 30 * 86400;
    fx->cfg.certs[0].ttl = 7 * 86400;
    assert_int_not_equal(run_agent(fx, 0), 0);
    assert_true(fx->n_errors >= 1);
    assert_non_null(strstr(fx->lines[0], "up.svc: ttl 7d is not longer than renew_before 30d"));
    path_in(fx, p, sizeof(p), "up.key");
    assert_false(minica_file_exists(p));
    /* The other certificate is renewed as usual. */
    path_in(fx, p, sizeof(p), "client.key");
    assert_true(minica_file_exists(p));
    fx->cfg.renew_before_seconds = 2 * 86400;
    assert_int_equal(run_agent(fx, 0), 0);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_NONE);
}

static void test_dry_run_changes_nothing(void **state)
{
    struct fixture *fx = *state;
    char p[4200];
    struct minica_agent_run run;
    memset(&run, 0, sizeof(run));
    run.dry_run = 1;
    run.report = collect;
    run.report_ctx = fx;
    struct minica_err err;
    assert_int_equal(minica_agent_run_with(&fx->cfg, &fx->issuer, &run, &err), 0);
    assert_int_equal(fx->n_lines, 2);
    assert_non_null(strstr(fx->lines[0], "would renew up.svc"));
    path_in(fx, p, sizeof(p), "up.key");
    assert_false(minica_file_exists(p));
    path_in(fx, p, sizeof(p), "reloads");
    assert_false(minica_file_exists(p));
}

static void test_second_run_is_refused_while_locked_and_status_counts(void **state)
{
    struct fixture *fx = *state;
    struct minica_err err;
    snprintf(fx->cfg.state_dir, sizeof(fx->cfg.state_dir), "%s", fx->ca_dir);
    snprintf(fx->cfg.lock_file, sizeof(fx->cfg.lock_file), "%s/agent.lock", fx->out);
    struct minica_agent_run run;
    memset(&run, 0, sizeof(run));
    assert_int_equal(minica_agent_run(&fx->cfg, &run, &err), 0);
    assert_int_equal(run.renewed, 2);
    struct minica_agent_status st;
    assert_int_equal(minica_agent_status_load(fx->cfg.status_file, &st, &err), 0);
    assert_int_equal(st.renewals_total, 2);
    assert_int_equal(st.failures_total, 0);
    assert_true(st.last_success > 0);
    assert_int_equal(st.last_success, st.last_run);

    int fd = open(fx->cfg.lock_file, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    memset(&run, 0, sizeof(run));
    assert_int_equal(minica_agent_run(&fx->cfg, &run, &err), MINICA_EEXIST);
    assert_non_null(strstr(err.msg, "another agent run holds"));
    close(fd);

    char flag[4200];
    path_in(fx, flag, sizeof(flag), "check-fails");
    write_text(flag, "");
    memset(&run, 0, sizeof(run));
    run.force = 1;
    assert_int_not_equal(minica_agent_run(&fx->cfg, &run, &err), 0);
    assert_int_equal(minica_agent_status_load(fx->cfg.status_file, &st, &err), 0);
    assert_int_equal(st.renewals_total, 2);
    assert_int_equal(st.failures_total, 2);
    assert_true(st.last_success <= st.last_run);
}

/* After a rotation the previous intermediate's leaves renew on their own
 * schedule, not all in the next run; once it is revoked they renew now. */
static void test_previous_intermediate_leaves_stay_current_until_it_is_revoked(void **state)
{
    struct fixture *fx = *state;
    struct minica_err err;
    assert_int_equal(run_agent(fx, 0), 0);
    minica_issuer_close(&fx->issuer);
    struct minica_rotate_options opts;
    memset(&opts, 0, sizeof(opts));
    struct minica_rotate_result res;
    if (minica_ca_rotate(fx->ca_dir, &opts, &res, &err) != 0)
        fail_msg("%s", err.msg);
    if (minica_issuer_open_local(&fx->issuer, fx->ca_dir, "agent", &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_NONE); /* fullchain, cert and ca */
    assert_int_equal(reason_of(fx, 1), MINICA_RENEW_NONE);

    minica_issuer_close(&fx->issuer);
    if (minica_ca_revoke_intermediate(fx->ca_dir, res.previous_serial, 1, &err) != 0)
        fail_msg("%s", err.msg);
    if (minica_issuer_open_local(&fx->issuer, fx->ca_dir, "agent", &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_REVOKED);
    assert_int_equal(reason_of(fx, 1), MINICA_RENEW_REVOKED);
    assert_int_equal(run_agent(fx, 0), 0);
    assert_int_equal(reason_of(fx, 0), MINICA_RENEW_NONE);
    assert_int_equal(reason_of(fx, 1), MINICA_RENEW_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide_keeps_a_good_cert),
        cmocka_unit_test(test_decide_force_renews_a_good_cert),
        cmocka_unit_test(test_decide_each_trigger),
        cmocka_unit_test(test_decide_renew_before_percent_and_duration),
        cmocka_unit_test(test_config_parses_the_documented_example),
        cmocka_unit_test(test_config_defaults_renew_before_to_a_third),
        cmocka_unit_test(test_config_retry_for),
        cmocka_unit_test(test_config_errors_name_file_and_line),
        cmocka_unit_test(test_config_writable_by_others_is_refused),
        cmocka_unit_test_setup_teardown(test_run_issues_missing_files_and_reloads_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_inspect_sees_each_trigger_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_check_restores_previous_files_and_skips_reload,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_group_never_restores_a_mismatched_pair, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failing_reload_restores_previous_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prev_key_is_narrowed_after_a_successful_group, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rollback_restores_the_key_with_its_original_mode,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_prev_key_that_cannot_be_narrowed_only_warns, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_token_file_readable_by_others_is_refused_and_not_sent,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_run_reloads_next_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_removes_temp_files_a_killed_run_left, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_refuses_ttl_inside_renew_before, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_run_is_refused_while_locked_and_status_counts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_previous_intermediate_leaves_stay_current_until_it_is_revoked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
