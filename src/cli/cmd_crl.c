/* minica crl: publish the certificate revocation list (the file nginx's
 * proxy_ssl_crl reads). Revoking is `minica revoke`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minica/ca.h"
#include "minica/crl.h"
#include "minica/duration.h"

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"out", required_argument, NULL, 'o'},
        {"der", no_argument, NULL, 'd'},
        {"next-update", required_argument, NULL, 'n'},
        {"root", no_argument, NULL, 'r'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL, *out = NULL;
    int der = 0;
    struct minica_crl_options opts;
    memset(&opts, 0, sizeof(opts));
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("crl", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'd':
            der = 1;
            break;
        case 'n':
            if (minica_duration_parse(optarg, &opts.next_update, &err) != 0)
                return cli_usage("crl", "--next-update: %s", err.msg);
            break;
        case 'r':
            opts.root = 1;
            break;
        default:
            return cli_bad_option("crl");
        }
    }
    if (optind < argc)
        return cli_usage("crl", "unexpected argument '%s'", argv[optind]);

    struct minica_ca *ca = NULL;
    struct minica_crl crl;
    minica_crl_init(&crl);
    int ret = minica_ca_open(cli_state_dir(dir), &ca, &err);
    if (ret == 0) {
        minica_ca_set_actor(ca, "crl", "local");
        ret = minica_ca_crl(ca, &opts, &crl, &err);
    }
    minica_ca_close(ca);
    if (ret == 0 && out != NULL)
        ret = minica_crl_write(&crl, out, der, &err);
    if (ret != 0) {
        minica_crl_free(&crl);
        return cli_fail("crl", "%s", err.msg);
    }
    if (out == NULL) {
        const void *data = der ? (const void *)crl.der : (const void *)crl.pem;
        size_t len = der ? crl.der_len : strlen(crl.pem);
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
            minica_crl_free(&crl);
            return cli_fail("crl", "cannot write the CRL to standard output");
        }
    } else {
        char next[64];
        minica_duration_format(crl.next_update - crl.this_update, next, sizeof(next));
        printf("Wrote %s CRL number %lld to %s: %zu revoked, next update in %s\n",
               opts.root ? "root" : "intermediate", (long long)crl.number, out, crl.n_revoked,
               next);
    }
    minica_crl_free(&crl);
    return EXIT_OK;
}

const struct cli_command cmd_crl_def = {
    "crl", run, "write the certificate revocation list",
    "Usage: minica crl [--out FILE] [--der] [--next-update DURATION] [--root]\n"
    "                  [--dir DIR]\n"
    "\n"
    "Writes an X.509 v2 CRL signed by the intermediate, listing every revoked\n"
    "certificate that has not expired yet, with its revocation date and reason,\n"
    "a cRLNumber that grows with every run and the issuer's key identifier.\n"
    "Without --out the CRL goes to standard output.\n"
    "\n"
    "  --out FILE            replace FILE atomically (mode 0644)\n"
    "  --der                 DER instead of PEM\n"
    "  --next-update D       how long the CRL stays valid (default 7d); publish a\n"
    "                        new one well before, e.g. daily from cron: nginx\n"
    "                        rejects every upstream once its CRL has expired\n"
    "  --root                the root's CRL instead (signed with root.key), covering\n"
    "                        the intermediate; nginx's proxy_ssl_crl needs a CRL for\n"
    "                        each CA of the chain, so give it both in one file:\n"
    "                          minica crl > crl.pem && minica crl --root >> crl.pem\n"};
