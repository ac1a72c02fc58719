/* minica export: the CA certificates, for trust stores and nginx. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minica/ca.h"
#include "minica/fsutil.h"
#include "minica/statedir.h"

/* Through the state directory's trust check: an exported root is what
 * every relying party will trust, so one another user could have replaced
 * is refused like a policy they could have edited. */
static int read_state_file(const char *dir, const char *base, char **out, struct minica_err *err)
{
    struct minica_statedir sd;
    int ret = minica_statedir_open(&sd, dir, err);
    if (ret == 0)
        ret = minica_statedir_read(&sd, base, 64 * 1024, out, NULL, err);
    minica_statedir_close(&sd);
    return ret;
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"out", required_argument, NULL, 'o'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL, *out = NULL;
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("export", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        default:
            return cli_bad_option("export");
        }
    }
    if (optind >= argc)
        return cli_usage("export", "missing what to export (root, intermediate or chain)");
    if (optind + 1 < argc)
        return cli_usage("export", "unexpected argument '%s'", argv[optind + 1]);
    const char *what = argv[optind];
    int root = strcmp(what, "root") == 0 || strcmp(what, "chain") == 0;
    int inter = strcmp(what, "intermediate") == 0 || strcmp(what, "chain") == 0;
    if (!root && !inter)
        return cli_usage("export", "unknown '%s' (use root, intermediate or chain)", what);

    dir = cli_state_dir(dir);
    char *root_pem = NULL, *int_pem = NULL;
    if ((root && read_state_file(dir, "root.crt", &root_pem, &err) != 0) ||
        (inter && read_state_file(dir, "intermediate.crt", &int_pem, &err) != 0)) {
        free(root_pem);
        free(int_pem);
        return cli_fail("export", "%s", err.msg);
    }
    /* A chain file is leaf-most first: intermediate, then root. */
    size_t len = (int_pem ? strlen(int_pem) : 0) + (root_pem ? strlen(root_pem) : 0);
    char *text = malloc(len + 1);
    if (text == NULL) {
        free(root_pem);
        free(int_pem);
        return cli_fail("export", "out of memory");
    }
    snprintf(text, len + 1, "%s%s", int_pem ? int_pem : "", root_pem ? root_pem : "");
    free(root_pem);
    free(int_pem);
    int ret = EXIT_OK;
    if (out == NULL)
        fputs(text, stdout);
    else if (minica_write_file_atomic(out, text, len, 0644, 0, &err) != 0)
        ret = cli_fail("export", "%s", err.msg);
    free(text);
    return ret;
}

const struct cli_command cmd_export_def = {
    "export", run, "export the root, the intermediate or the chain",
    "Usage: minica export root|intermediate|chain [--out FILE] [--dir DIR]\n"
    "\n"
    "Prints a CA certificate in PEM, or writes it atomically to FILE (0644).\n"
    "  root          what clients trust (nginx proxy_ssl_trusted_certificate,\n"
    "                update-ca-certificates)\n"
    "  intermediate  the issuing CA\n"
    "  chain         intermediate followed by root\n"};
