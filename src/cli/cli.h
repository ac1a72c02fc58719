/* What every subcommand shares: the command table entry, exit codes, and the
 * one-line error format "minica: COMMAND: reason". The CLI parses and prints;
 * the work is done by libminica. */
#ifndef MINICA_CLI_H
#define MINICA_CLI_H

#include <stddef.h>
#include <stdio.h>

/* Documented in minica(1). */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;               /* one line for `minica --help` */
    const char *help;                  /* full text for `minica help NAME` */
};

/* One definition per src/cli/cmd_<name>.c; listed in main.c's table. */
extern const struct cli_command cmd_init_def, cmd_issue_def, cmd_list_def, cmd_show_def,
    cmd_export_def, cmd_revoke_def, cmd_crl_def, cmd_log_def, cmd_agent_def, cmd_metrics_def,
    cmd_nginx_def, cmd_token_def, cmd_acme_def, cmd_serve_def, cmd_bootstrap_def, cmd_ca_def,
    cmd_db_def, cmd_completion_def, cmd_inspect_def, cmd_trust_def;

const struct cli_command *cli_find(const char *name);
/* The whole table, in `minica --help` order (completion). */
const struct cli_command *const *cli_commands(size_t *n);

/* `minica ca status` (cmd_ca_status.c), dispatched by cmd_ca.c: argv[0] is
 * "status". Returns the exit code: enum minica_ca_health, or 1 or 2. */
int cmd_ca_status(int argc, char **argv);

/* Prints "minica: CMD: reason" and returns EXIT_FAIL. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "minica: CMD: reason" plus a pointer to the help, returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the command's help to out and returns EXIT_OK. */
int cli_help(const char *cmd, FILE *out);
/* After getopt_long returned '?' for argv: one line naming the option that
 * is unknown or lacks its value, returns EXIT_USAGE. */
int cli_bad_option(const char *cmd, int argc, char **argv);

/* Resolves --dir / $MINICA_DIR / default. */
const char *cli_state_dir(const char *opt_dir);

/* Common long options. */
#define CLI_OPT_HELP                                                                               \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }
#define CLI_OPT_DIR                                                                                \
    {                                                                                              \
        "dir", required_argument, NULL, 'D'                                                        \
    }

#endif
