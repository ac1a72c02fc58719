/* Unit tests for the agent's verify/hooks module: the [agent] and [cert] keys
 * it adds (verify, verify_timeout, command_timeout, per-cert commands,
 * pem_bundle), the commands in effect per cert, the renewal time, and the
 * state file behind `agent status` and the metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "minica/agent.h"
#include "testutil.h"

static int load(struct minica_agent_config *cfg, const char *text, struct minica_err *err)
{
    minica_agent_config_init(cfg);
    return minica_agent_config_load(cfg, "/etc/minica/agent.conf", text, err);
}

static void refuses(const char *text, const char *why)
{
    struct minica_agent_config cfg;
    struct minica_err err = {{0}};
    assert_int_equal(load(&cfg, text, &err), MINICA_EINVAL);
    if (strstr(err.msg, why) == NULL)
        print_error("'%s' lacks '%s'\n", err.msg, why);
    assert_non_null(strstr(err.msg, why));
    minica_agent_config_free(&cfg);
}

static void test_config_takes_verify_hooks_and_timeouts(void **state)
{
    (void)state;
    struct minica_agent_config cfg;
    struct minica_err err = {{0}};
    const char *text = "[agent]\n"
                       "reload_command = nginx -s reload\n"
                       "check_command = nginx -t -q\n"
                       "verify_timeout = 3s\n"
                       "command_timeout = 2m\n"
                       "[cert a.svc]\n"
                       "fullchain = /x/a.crt\n"
                       "key = /x/a.key\n"
                       "verify = 127.0.0.1:443, [::1]:8443/a.svc\n"
                       "[cert h.svc]\n"
                       "pem_bundle = /x/h.pem\n"
                       "check_command =\n"
                       "reload_command = systemctl reload haproxy\n";
    int ret = load(&cfg, text, &err);
    if (ret != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(ret, 0);
    assert_int_equal(minica_agent_verify_timeout(&cfg), 3);
    assert_int_equal(minica_agent_command_timeout(&cfg), 120);
    assert_int_equal(cfg.n_certs, 2);
    assert_string_equal(cfg.certs[0].hooks.verify, "127.0.0.1:443, [::1]:8443/a.svc");
    /* a.svc uses [agent]'s commands; h.svc its own, with no check at all. */
    assert_string_equal(minica_agent_check_command(&cfg, &cfg.certs[0]), "nginx -t -q");
    assert_string_equal(minica_agent_reload_command(&cfg, &cfg.certs[0]), "nginx -s reload");
    assert_string_equal(minica_agent_check_command(&cfg, &cfg.certs[1]), "");
    assert_string_equal(minica_agent_reload_command(&cfg, &cfg.certs[1]),
                        "systemctl reload haproxy");
    assert_string_equal(cfg.certs[1].hooks.pem_bundle, "/x/h.pem");
    minica_agent_config_free(&cfg);
}

static void test_config_defaults_timeouts(void **state)
{
    (void)state;
    struct minica_agent_config cfg;
    struct minica_err err;
    assert_int_equal(load(&cfg, "[cert a.svc]\nfullchain = /x/a.crt\nkey = /x/a.key\n", &err), 0);
    assert_int_equal(minica_agent_verify_timeout(&cfg), 10);
    assert_int_equal(minica_agent_command_timeout(&cfg), 60);
    minica_agent_config_free(&cfg);
}

static void test_config_rejects_bad_hook_values_with_line(void **state)
{
    (void)state;
    refuses("[cert a.svc]\nfullchain = /x/a.crt\nkey = /x/a.key\nverify = localhost\n",
            "agent.conf:4: verify: endpoint 'localhost': expected HOST:PORT");
    refuses("[cert a.svc]\nfullchain = /x/a.crt\nkey = /x/a.key\nverify = ::1:443\n", "brackets");
    refuses("[cert a.svc]\npem_bundle = x.pem\n", "pem_bundle: 'x.pem' is not an absolute");
    refuses("[agent]\nverify_timeout = soon\n", "agent.conf:2: verify_timeout");
    refuses("[agent]\ncommand_timeout = 0s\n", "command_timeout");
    refuses("[agent]\ncommand_timeout = 5s\ncommand_timeout = 6s\n", "set twice");
    refuses("[cert a.svc]\nfullchain = /x/a.crt\nkey = /x/a.key\nverify = a:1\nverify = b:2\n",
            "set twice");
    refuses("[cert a.svc]\nfullchain = /x/a.crt\nkey = /x/a.key\nverifyy = a:1\n",
            "unknown key 'verifyy'");
    /* Without a bundle, key and certificate files are still required. */
    refuses("[cert a.svc]\nverify = a.svc:443\n", "needs key");
    refuses("[cert a.svc]\nkey = /x/a.key\npem_bundle = /x/a.key\n", "also used by");
}

static void test_renewal_time_follows_renew_before(void **state)
{
    (void)state;
    struct minica_agent_config cfg;
    minica_agent_config_init(&cfg);
    /* 33% of 90 days before the end: 60.3 days after the start. */
    assert_int_equal(minica_agent_renewal_time(&cfg, 0, 90 * 86400), 90 * 86400 - 2566080);
    cfg.renew_before_percent = 0;
    cfg.renew_before_seconds = 86400;
    assert_int_equal(minica_agent_renewal_time(&cfg, 0, 10 * 86400), 9 * 86400);
}

static void test_state_round_trips_and_feeds_metrics(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char status[4200], path[4300];
    snprintf(status, sizeof(status), "%s/agent.status", dir);
    minica_agent_state_path(status, path, sizeof(path));
    struct minica_agent_state st;
    struct minica_err err;
    assert_int_equal(minica_agent_state_load(&st, path, &err), 0); /* missing: empty */
    assert_int_equal(st.n_certs, 0);
    minica_agent_state_error(&st, "a.svc", "reload failed: boom", 100);
    minica_agent_state_served(&st, "a.svc", "127.0.0.1:443", "0a1b", 5000, "", 100);
    minica_agent_state_served(&st, "a.svc", "127.0.0.1:444", "", 0, "cannot connect", 100);
    minica_agent_state_renewed(&st, "b.svc", 200);
    st.verify_failures_total = 4;
    assert_int_equal(minica_agent_state_save(&st, path, &err), 0);
    minica_agent_state_free(&st);

    assert_int_equal(minica_agent_state_load(&st, path, &err), 0);
    assert_int_equal(st.verify_failures_total, 4);
    struct minica_agent_cert_state *a = minica_agent_state_cert(&st, "a.svc");
    assert_string_equal(a->last_error, "reload failed: boom");
    assert_int_equal(a->last_error_time, 100);
    assert_int_equal(a->n_served, 2);
    assert_string_equal(a->served[0].serial, "0a1b");
    assert_int_equal(a->served[0].not_after, 5000);
    assert_string_equal(a->served[1].error, "cannot connect");
    assert_int_equal(minica_agent_state_cert(&st, "b.svc")->last_renewal, 200);
    /* A renewal clears the error. */
    minica_agent_state_renewed(&st, "a.svc", 300);
    assert_string_equal(minica_agent_state_cert(&st, "a.svc")->last_error, "");
    minica_agent_state_free(&st);

    char *text = NULL;
    assert_int_equal(minica_agent_verify_metrics(status, &text, &err), 0);
    assert_non_null(strstr(text, "\nminica_agent_verify_failures_total 4\n"));
    assert_non_null(strstr(text, "minica_served_cert_not_after_seconds{name=\"a.svc\","
                                 "endpoint=\"127.0.0.1:443\",serial=\"0a1b\"} 5000\n"));
    /* An endpoint that did not answer has no served certificate to report. */
    assert_null(strstr(text, "127.0.0.1:444"));
    free(text);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_takes_verify_hooks_and_timeouts),
        cmocka_unit_test(test_config_defaults_timeouts),
        cmocka_unit_test(test_config_rejects_bad_hook_values_with_line),
        cmocka_unit_test(test_renewal_time_follows_renew_before),
        cmocka_unit_test(test_state_round_trips_and_feeds_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
