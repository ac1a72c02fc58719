/* minica agent status [--config FILE] [--json]: per managed certificate what
 * is on disk, when it renews, what each verify endpoint serves right now and
 * the last error. What an operator looks at first; changes nothing. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agent_status.h"
#include "ca_warn.h"
#include "cli.h"
#include "minica/agent.h"
#include "minica/duration.h"
#include "output.h"

static void add_time(cJSON *o, const char *key, int64_t t)
{
    if (t <= 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    char buf[32];
    minica_time_rfc3339(t, buf);
    cJSON_AddStringToObject(o, key, buf);
}

static void add_text(cJSON *o, const char *key, const char *text)
{
    if (text[0] == '\0')
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddStringToObject(o, key, text);
}

static cJSON *report_json(const struct minica_agent_cert_report *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->name);
    add_text(o, "serial", r->serial);
    add_text(o, "disk_error", r->disk_error);
    add_time(o, "not_after", r->serial[0] ? r->not_after : 0);
    if (r->serial[0])
        cJSON_AddNumberToObject(o, "lifetime_left", (double)(int)(r->lifetime_left * 1000) / 1000);
    else
        cJSON_AddNullToObject(o, "lifetime_left");
    add_time(o, "next_renewal", r->serial[0] ? r->next_renewal : 0);
    if (r->key_matches < 0)
        cJSON_AddNullToObject(o, "key_matches");
    else
        cJSON_AddBoolToObject(o, "key_matches", r->key_matches == 1);
    add_text(o, "key_error", r->key_matches == 1 ? "" : r->key_error);
    cJSON *eps = cJSON_AddArrayToObject(o, "endpoints");
    for (size_t i = 0; i < r->n_served; i++) {
        const struct minica_agent_served *s = &r->served[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "endpoint", s->endpoint);
        add_text(e, "served_serial", s->serial);
        add_time(e, "served_not_after", s->not_after);
        cJSON_AddBoolToObject(e, "matches", s->error[0] == '\0');
        add_text(e, "error", s->error);
        cJSON_AddItemToArray(eps, e);
    }
    add_text(o, "last_error", r->last_error);
    add_time(o, "last_error_time", r->last_error_time);
    add_time(o, "last_renewal", r->last_renewal);
    add_text(o, "stuck", r->stuck);
    add_time(o, "stuck_since", r->stuck[0] ? r->stuck_since : 0);
    return o;
}

static void print_text(const struct minica_agent_cert_report *r, int64_t now)
{
    char when[32], next[32];
    printf("%s\n", r->name);
    if (r->serial[0] == '\0') {
        printf("  on disk:       unreadable: %s\n", r->disk_error);
    } else {
        minica_time_rfc3339(r->not_after, when);
        minica_time_rfc3339(r->next_renewal, next);
        printf("  on disk:       serial %s, valid until %s (%d%% of its lifetime left)\n",
               r->serial, when, (int)(r->lifetime_left * 100));
        printf("  next renewal:  %s%s\n", next, r->next_renewal <= now ? " (due now)" : "");
    }
    if (r->key_matches == 0)
        printf("  key:           MISMATCH: %s; a reload would fail on it\n", r->key_error);
    else if (r->key_matches < 0 && r->serial[0] != '\0')
        printf("  key:           %s\n", r->key_error);
    for (size_t i = 0; i < r->n_served; i++) {
        const struct minica_agent_served *s = &r->served[i];
        if (s->serial[0] == '\0')
            printf("  serves:        %s: %s\n", s->endpoint, s->error);
        else
            printf("  serves:        %s: serial %s%s%s\n", s->endpoint, s->serial,
                   s->error[0] ? " -- " : " (matches)", s->error);
    }
    if (r->last_error[0] != '\0') {
        minica_time_rfc3339(r->last_error_time, when);
        printf("  last error:    %s: %s\n", when, r->last_error);
    }
    if (r->stuck[0] != '\0') {
        minica_time_rfc3339(r->stuck_since, when);
        printf("  STUCK since:   %s: %s\n", when, r->stuck);
    }
}

int cli_agent_status(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL, *config = MINICA_AGENT_DEFAULT_CONFIG;
    int json = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("agent", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'j':
            json = 1;
            break;
        default:
            return cli_bad_option("agent", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage("agent", "status: unexpected argument '%s'", argv[optind]);

    struct minica_err err;
    struct minica_agent_config cfg;
    minica_agent_config_init(&cfg);
    struct minica_agent_cert_report *reports = NULL;
    size_t n = 0;
    int ret = minica_agent_config_load(&cfg, config, NULL, &err);
    if (ret == 0)
        ret = minica_agent_config_resolve(&cfg, dir, &err);
    if (ret == 0 && cfg.n_certs == 0)
        ret = minica_seterr(&err, MINICA_EINVAL, "%s has no [cert NAME] sections", config);
    if (ret == 0)
        ret = minica_agent_status_collect(&cfg, &reports, &n, &err);
    if (ret != 0) {
        minica_agent_config_free(&cfg);
        return cli_fail("agent", "status: %s", err.msg);
    }
    int64_t now = minica_time_now();
    /* With the local CA, its intermediate is what every renewal here hits
     * first; a remote CA's is for its own host's ca status and metrics. */
    char warning[1024] = "";
    int short_ca = cfg.ca_url[0] == '\0' && cli_warn_short_intermediate("agent", cfg.state_dir, now,
                                                                        warning, sizeof(warning));
    minica_agent_config_free(&cfg);
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON *certs = cJSON_AddArrayToObject(root, "certs");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(certs, report_json(&reports[i]));
        add_text(root, "ca_warning", warning);
        cli_print_json(root);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                putchar('\n');
            print_text(&reports[i], now);
        }
    }
    /* A pair nginx would refuse, or a group left half done, is an alert. */
    int broken = 0;
    for (size_t i = 0; i < n; i++)
        broken |= reports[i].key_matches == 0 || reports[i].stuck[0] != '\0';
    minica_agent_status_reports_free(reports, n);
    return short_ca || broken ? EXIT_FAIL : EXIT_OK;
}
