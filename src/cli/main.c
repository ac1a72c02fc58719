/* minica's entry point: the command table and dispatch, nothing else. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "minica/fsutil.h"
#include "minica/versions.h"
#include "output.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct cli_command cmd_version_def = {
    "version", cmd_version, "print minica's version (--json: and its libraries')",
    "Usage: minica version [--json]\n\nPrints the version of minica and exits. With --json, also "
    "the\n"
    "versions of the libraries it runs with, as loaded now: mbedTLS and SQLite\n"
    "(linked), GnuTLS, libmicrohttpd and libcurl (loaded on demand: a library\n"
    "that is not installed has version null and the error that says which\n"
    "package to install).\n"};
static const struct cli_command cmd_help_def = {
    "help", cmd_help, "show help for a command",
    "Usage: minica help [COMMAND]\n\nWithout COMMAND, lists the commands; with one, shows its "
    "help.\n"};

static const struct cli_command *const commands[] = {
    &cmd_init_def,    &cmd_issue_def,     &cmd_list_def,    &cmd_show_def,  &cmd_inspect_def,
    &cmd_export_def,  &cmd_trust_def,     &cmd_revoke_def,  &cmd_crl_def,   &cmd_log_def,
    &cmd_agent_def,   &cmd_nginx_def,     &cmd_metrics_def, &cmd_token_def, &cmd_acme_def,
    &cmd_serve_def,   &cmd_bootstrap_def, &cmd_ca_def,      &cmd_db_def,    &cmd_completion_def,
    &cmd_version_def, &cmd_help_def,
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

const struct cli_command *const *cli_commands(size_t *n)
{
    *n = N_COMMANDS;
    return commands;
}

const struct cli_command *cli_find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

static void vreport(const char *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "minica: %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, fmt, ap);
    va_end(ap);
    return EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "minica: %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'minica help %s')\n", cmd);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_bad_option(const char *cmd, int argc, char **argv)
{
    /* getopt's own "invalid option -- 'x'" names one letter of what was
     * typed; name the whole word. An unknown letter inside a word leaves
     * optind on that word, anything else has moved past it. */
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    if (optopt != 0 && optind < argc && argv[optind][0] == '-' && argv[optind][1] == optopt)
        arg = argv[optind];
    if (optopt != 0 && strncmp(arg, "--", 2) == 0)
        return cli_usage(cmd, "option '%s' needs a value", arg);
    if (strncmp(arg, "--", 2) == 0)
        return cli_usage(cmd, "unknown option '%s'", arg);
    return cli_usage(cmd,
                     "unknown option '%s' (an argument that starts with '-' goes after '--': "
                     "minica %s -- %s)",
                     arg, cmd, arg);
}

int cli_help(const char *cmd, FILE *out)
{
    const struct cli_command *c = cli_find(cmd);
    if (c == NULL)
        return cli_usage("help", "unknown command '%s'", cmd);
    fputs(c->help, out);
    return EXIT_OK;
}

const char *cli_state_dir(const char *opt_dir)
{
    return minica_default_state_dir(opt_dir);
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: minica [--db TARGET] COMMAND [OPTIONS]\n\n"
                 "A small internal certificate authority: a root, an intermediate and\n"
                 "short-lived certificates for nginx upstreams and clients.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\nEvery command takes --dir DIR (else $MINICA_DIR, else /var/lib/minica)\n"
                 "and --help. 'minica help COMMAND' shows a command's options; man minica\n"
                 "has the rest. Exit status: 0 success, 1 failure, 2 usage error.\n"
                 "Keywords are read in any case; an argument that starts with '-' goes\n"
                 "after '--'.\n\n"
                 "Before the command, --db TARGET (else $MINICA_DB) chooses the inventory\n"
                 "for that one command: a postgresql:// URI, instead of minica.conf's\n"
                 "[store] database or DIR/minica.db.\n");
}

static void add_version(cJSON *o, const char *key, const char *version, const char *missing)
{
    cJSON *lib = cJSON_AddObjectToObject(o, key);
    if (version[0] != '\0')
        cJSON_AddStringToObject(lib, "version", version);
    else
        cJSON_AddNullToObject(lib, "version");
    if (missing != NULL && missing[0] != '\0')
        cJSON_AddStringToObject(lib, "error", missing);
}

static int cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return cli_help("version", stdout);
    int json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 + json)
        return cli_usage("version", "unexpected argument '%s'", argv[1 + json]);
    if (!json) {
        printf("minica %s\n", MINICA_VERSION);
        return EXIT_OK;
    }
    struct minica_versions v;
    minica_versions_get(&v);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "minica", v.minica);
    cJSON *libs = cJSON_AddObjectToObject(o, "libraries");
    add_version(libs, "mbedtls", v.mbedtls, NULL);
    add_version(libs, "sqlite", v.sqlite, NULL);
    add_version(libs, "gnutls", v.gnutls, v.gnutls_missing);
    add_version(libs, "libmicrohttpd", v.microhttpd, v.microhttpd_missing);
    add_version(libs, "libcurl", v.curl, v.curl_missing);
    cli_print_json(o);
    return EXIT_OK;
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return EXIT_OK;
    }
    if (argc > 2)
        return cli_usage("help", "expected one command name");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return cli_help("help", stdout);
    return cli_help(argv[1], stdout);
}

int main(int argc, char **argv)
{
    /* A file size limit (or a full quota) must fail a write with EFBIG and
     * a clear message, not kill us between two renames. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    /* --db reaches the library as MINICA_DB, read wherever a state
     * directory's inventory is opened (minica/ca.h): one channel for every
     * command, serve's reload and the agent's local issuer included. */
    if (strcmp(argv[1], "--db") == 0 || strncmp(argv[1], "--db=", 5) == 0) {
        const char *target = argv[1][4] == '=' ? argv[1] + 5 : argv[2];
        int used = argv[1][4] == '=' ? 1 : 2;
        if (target == NULL || *target == '\0') {
            fprintf(stderr, "minica: --db needs a postgresql:// URI (see 'minica --help')\n");
            return EXIT_USAGE;
        }
        if (setenv("MINICA_DB", target, 1) != 0) {
            fprintf(stderr, "minica: --db: cannot set MINICA_DB\n");
            return EXIT_FAIL;
        }
        argc -= used;
        argv += used;
        if (argc < 2) {
            fprintf(stderr, "minica: --db: expected a command after it (see 'minica --help')\n");
            return EXIT_USAGE;
        }
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(1, argv + 1);
    const struct cli_command *c = cli_find(argv[1]);
    if (c == NULL) {
        fprintf(stderr, "minica: unknown command '%s' (see 'minica --help')\n", argv[1]);
        return EXIT_USAGE;
    }
    /* cli_bad_option says what getopt would, naming the whole word. */
    opterr = 0;
    return c->run(argc - 1, argv + 1);
}
