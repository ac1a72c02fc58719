/* minica export: the CA certificates, for trust stores and nginx. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minica/ca.h"
#include "minica/fsutil.h"

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
            return cli_bad_option("export", argc, argv);
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
    /* Through the CA's loader, which holds the state directory to its
     * trust rule: an exported root is what every relying party will trust. */
    struct minica_ca *ca = NULL;
    if (minica_ca_open_flags(dir, MINICA_CA_OPEN_NO_KEY, &ca, &err) != 0)
        return cli_fail("export", "%s", err.msg);
    const char *int_pem = inter ? minica_ca_chain_pem(ca) : "";
    const char *root_pem = root ? minica_ca_roots_pem(ca) : "";
    size_t len = strlen(int_pem) + strlen(root_pem);
    char *text = malloc(len + 1);
    if (text == NULL) {
        minica_ca_close(ca);
        return cli_fail("export", "out of memory");
    }
    snprintf(text, len + 1, "%s%s", int_pem, root_pem);
    minica_ca_close(ca);
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
    "                update-ca-certificates): every current root, so two\n"
    "                during a rollover (minica ca rollover)\n"
    "  intermediate  what follows a leaf: the issuing intermediate, and during\n"
    "                a rollover the cross-certificate after it\n"
    "  chain         intermediate followed by root\n"};
