/* minica agent: one renewal run over agent.conf, for cron and systemd timers.
 * Parses options and prints the library's action lines; no renewal logic. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent_status.h"
#include "cli.h"
#include "minica/agent.h"
#include "minica/duration.h"

static void report(void *ctx, int is_error, const char *line)
{
    (void)ctx;
    if (is_error) {
        fprintf(stderr, "minica: agent: %s\n", line);
    } else {
        printf("%s\n", line);
        fflush(stdout);
    }
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"config", required_argument, NULL, 'c'},
        {"once", no_argument, NULL, 'o'},
        {"dry-run", no_argument, NULL, 'n'},
        {"force", no_argument, NULL, 'f'},
        {"jitter", required_argument, NULL, 'j'},
        {"verify-only", no_argument, NULL, 'V'},
        {0, 0, 0, 0},
    };
    if (argc > 1 && strcmp(argv[1], "status") == 0) {
        argv[1] = argv[0]; /* getopt's prefix: "minica: agent" (see main) */
        return cli_agent_status(argc - 1, argv + 1);
    }
    int verify_only = 0;
    const char *dir = NULL, *config = MINICA_AGENT_DEFAULT_CONFIG;
    struct minica_agent_run r;
    memset(&r, 0, sizeof(r));
    struct minica_err err;
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
        case 'o':
            break; /* the only mode: one run, then exit */
        case 'n':
            r.dry_run = 1;
            break;
        case 'f':
            r.force = 1;
            break;
        case 'j':
            if (minica_duration_parse(optarg, &r.jitter, &err) != 0)
                return cli_usage("agent", "--jitter: %s", err.msg);
            if (r.jitter > MINICA_AGENT_JITTER_MAX)
                return cli_usage("agent", "--jitter: %s is longer than the maximum of 1d", optarg);
            break;
        case 'V':
            verify_only = 1;
            break;
        default:
            return cli_bad_option("agent", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage("agent", "unexpected argument '%s'", argv[optind]);

    struct minica_agent_config cfg;
    minica_agent_config_init(&cfg);
    int ret = minica_agent_config_load(&cfg, config, NULL, &err);
    if (ret == 0)
        ret = minica_agent_config_resolve(&cfg, dir, &err);
    if (ret != 0) {
        minica_agent_config_free(&cfg);
        return cli_fail("agent", "%s", err.msg);
    }
    /* A run that manages nothing is a config mistake (a wrong --config, a
     * file emptied by hand), not a quiet success for cron. */
    if (cfg.n_certs == 0) {
        minica_agent_config_free(&cfg);
        return cli_fail("agent", "%s has no [cert NAME] sections: nothing to renew", config);
    }
    r.report = report;
    ret = verify_only ? minica_agent_verify_only(&cfg, &r, &err) : minica_agent_run(&cfg, &r, &err);
    minica_agent_config_free(&cfg);
    if (ret != 0 && r.failed == 0)
        return cli_fail("agent", "%s", err.msg);
    return ret == 0 ? EXIT_OK : EXIT_FAIL;
}

const struct cli_command cmd_agent_def = {
    "agent", run, "renew managed certificates (run from cron or a systemd timer)",
    "Usage: minica agent [--config FILE] [--once] [--dry-run] [--force]\n"
    "                    [--jitter DURATION] [--dir DIR]\n"
    "       minica agent --verify-only [--config FILE] [--dir DIR]\n"
    "       minica agent status [--config FILE] [--json] [--dir DIR]\n"
    "\n"
    "Checks every [cert NAME] of the agent configuration and renews the ones\n"
    "that need it: files missing or unreadable, key not matching the\n"
    "certificate, certificate not issued by this CA's current intermediate\n"
    "(a self-signed one, say), names or usage changed in the config, revoked,\n"
    "expired, or less than renew_before of its lifetime left.\n"
    "\n"
    "New files are written next to the old ones with their final owner and\n"
    "mode, the old ones are kept as FILE.prev, then the new ones are renamed\n"
    "in place. check_command runs next; if it fails, the previous files are\n"
    "restored and nothing is reloaded. Then one reload (reload_command, or\n"
    "reload_signal to the pid in reload_pidfile); if that fails, the previous\n"
    "files are restored too. A previous key and certificate that do not match\n"
    "each other (a crash during an earlier restore) are never restored: the\n"
    "new files stay, the certificate is reported stuck (agent status, the\n"
    "minica_agent_stuck metric), and each run checks and reloads its group\n"
    "again until that goes through.\n"
    "\n"
    "With `verify = HOST:PORT[/SNI], ...` in a [cert], the agent then connects\n"
    "to each endpoint (trusting only this CA's root, SNI = the cert's NAME\n"
    "unless given) until it serves the new serial, for up to verify_timeout\n"
    "(default 10s). If it does not, the previous files are restored, the\n"
    "reload is run again, and the run fails naming the endpoint and the\n"
    "serial it served. check_command and reload_command set in a [cert]\n"
    "override [agent]'s; certificates with the same commands form a group,\n"
    "checked and reloaded once, and a failing group is rolled back alone.\n"
    "pem_bundle = FILE writes leaf + chain + key into one file (haproxy), 0600\n"
    "or the [cert]'s mode (at most 0640), like the key.\n"
    "Commands run with /usr/local/sbin, /usr/sbin and /sbin added to PATH, and\n"
    "are killed after command_timeout (default 60s).\n"
    "\n"
    "Silent when nothing is to be done; one line per action otherwise. Exit\n"
    "status 0 when every certificate is good, 1 when any failed (and for a\n"
    "configuration without [cert] sections). The agent\n"
    "runs once and exits: schedule it with cron or a systemd timer.\n"
    "\n"
    "Its commands run as root, so the configuration (and each token_file) is\n"
    "refused, with the chmod or chown that fixes it, unless the file and every\n"
    "directory above it are owned by root or the running user and not writable\n"
    "by group or others (sshd's StrictModes; a sticky directory like /tmp is\n"
    "fine). A symlink or a FIFO is refused too.\n"
    "\n"
    "  --config FILE      agent configuration (default /etc/minica/agent.conf)\n"
    "  --once             run once and exit (the only mode; accepted for clarity)\n"
    "  --dry-run          say what would be renewed, change nothing\n"
    "  --force            renew every certificate now\n"
    "  --jitter DURATION  first sleep a random time below DURATION, at most 1d\n"
    "                     (fleets in cron)\n"
    "  --verify-only      renew nothing: check that every verify endpoint serves\n"
    "                     the certificate on disk, that every key matches its\n"
    "                     certificate and fullchain, and that no certificate is\n"
    "                     past half of its renew_before window; exit 1 otherwise\n"
    "  --dir DIR          the CA's state directory (overrides state_dir)\n"
    "\n"
    "'minica agent status' shows, per [cert], the serial on disk, its expiry,\n"
    "the share of its lifetime left, the next renewal, the serial each verify\n"
    "endpoint serves right now and the last error (--json for machines). It\n"
    "exits 1 when a key does not match its certificate or fullchain (a crash\n"
    "between two renames; --json: key_matches false), when a certificate is\n"
    "stuck (--json: stuck), or, with the local CA, once its intermediate has\n"
    "less than max_ttl left (renewals are shortened): a warning line then\n"
    "names 'minica ca rotate' (--json: ca_warning).\n"};
