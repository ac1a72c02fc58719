/* minica metrics: Prometheus text for node_exporter's textfile collector,
 * printed or written atomically. Rendering is in src/lib/agent/metrics.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minica/agent.h"
#include "minica/duration.h"
#include "minica/fsutil.h"
#include "minica/metrics.h"

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"out", required_argument, NULL, 'o'},
        {"config", required_argument, NULL, 'c'},
        {"serials", no_argument, NULL, 's'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL, *out = NULL, *config = NULL;
    unsigned flags = 0;
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("metrics", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 's':
            flags |= MINICA_METRICS_SERIALS;
            break;
        default:
            return cli_bad_option("metrics", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage("metrics", "unexpected argument '%s'", argv[optind]);

    /* Without --config, the default agent.conf is used when there is one. */
    if (config == NULL && minica_file_exists(MINICA_AGENT_DEFAULT_CONFIG))
        config = MINICA_AGENT_DEFAULT_CONFIG;
    struct minica_agent_config cfg;
    minica_agent_config_init(&cfg);
    int ret = 0;
    if (config != NULL) {
        ret = minica_agent_config_load(&cfg, config, NULL, &err);
        if (ret == 0)
            ret = minica_agent_config_resolve(&cfg, dir, &err);
        if (ret != 0) {
            minica_agent_config_free(&cfg);
            return cli_fail("metrics", "%s", err.msg);
        }
    }
    /* The inventory: --dir must have one; otherwise it is read when present
     * (a host that only runs the agent has none). */
    const char *state_dir = config != NULL ? cfg.state_dir : cli_state_dir(dir);
    int have_db = minica_state_has_store(state_dir);
    if (dir != NULL && !have_db) {
        minica_agent_config_free(&cfg);
        return cli_fail("metrics", "no CA inventory in %s", state_dir);
    }
    char *text = NULL;
    size_t len = 0;
    ret = minica_metrics_render(have_db ? state_dir : NULL, config != NULL ? &cfg : NULL,
                                minica_time_now(), flags, &text, &len, &err);
    minica_agent_config_free(&cfg);
    if (ret != 0)
        return cli_fail("metrics", "%s", err.msg);
    if (out != NULL) {
        ret = minica_write_file_atomic(out, text, len, 0644, 0, &err);
    } else if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
        ret = MINICA_EIO;
        snprintf(err.msg, sizeof(err.msg), "cannot write to standard output");
    }
    free(text);
    if (ret != 0)
        return cli_fail("metrics", "%s", err.msg);
    return EXIT_OK;
}

const struct cli_command cmd_metrics_def = {
    "metrics", run, "write Prometheus metrics (certificate expiry, agent runs)",
    "Usage: minica metrics [--out FILE] [--config FILE] [--serials] [--dir DIR]\n"
    "\n"
    "Prints, or with --out writes atomically (for node_exporter's textfile\n"
    "collector, e.g. --out /var/lib/node_exporter/textfile/minica.prom),\n"
    "metrics in the Prometheus text format:\n"
    "  minica_cert_not_after_seconds{name}           one per name (UNIX time):\n"
    "      for a name the agent manages, the certificate deployed; otherwise\n"
    "      the latest valid one in the inventory. A renewal moves it forward\n"
    "      instead of starting another series\n"
    "  minica_cert_serial_not_after_seconds{name,serial}  with --serials: each\n"
    "      valid certificate's own (a new series at every renewal)\n"
    "  minica_agent_last_run_timestamp_seconds       last agent run\n"
    "  minica_agent_last_success_timestamp_seconds   last run that ended well\n"
    "  minica_agent_renewals_total                   certificates renewed\n"
    "  minica_agent_failures_total                   renewals or runs that failed\n"
    "  minica_agent_verify_failures_total            verify endpoints found not\n"
    "      serving the certificate on disk\n"
    "  minica_served_cert_not_after_seconds{name,endpoint,serial}  expiry of what\n"
    "      each verify endpoint served at the last check\n"
    "  minica_agent_key_mismatch{name}  1 when a managed key does not match its\n"
    "      certificate or fullchain (a crash between two renames): the next\n"
    "      reload fails on it\n"
    "  minica_agent_stuck{name}         1 while a failed renewal could not be\n"
    "      rolled back (its previous key and certificate do not match)\n"
    "With a CA in the state directory, also:\n"
    "  minica_ca_cert_not_after_seconds{role,serial,active}  expiry of each\n"
    "      current root, cross-certificate and intermediate (active=\"1\": the\n"
    "      issuing intermediate, its root, the cross-certificate sent with them)\n"
    "  minica_ca_cert_unexpired_leaves{role,serial,active}   leaves each current\n"
    "      intermediate signed that have not expired\n"
    "  minica_ca_max_ttl_seconds     the policy's max_ttl: renewals are shortened\n"
    "      once the active intermediate has less left\n"
    "  minica_ca_health              0 ok, 3 attention, 4 critical, as the exit\n"
    "      status of 'minica ca status'\n"
    "The agent metrics come from the status file of the agent configuration\n"
    "(status_file, default STATE_DIR/agent.status).\n"
    "\n"
    "  --out FILE      write to FILE (0644, replaced atomically) instead of stdout\n"
    "  --config FILE   agent configuration (default /etc/minica/agent.conf when it\n"
    "                  exists)\n"
    "  --serials       also one series per valid certificate\n"
    "  --dir DIR       the CA's state directory, whose inventory is read when it\n"
    "                  exists (a host that only runs the agent has none)\n"};
