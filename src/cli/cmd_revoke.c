/* minica revoke: mark certificates revoked in the inventory. Publishing the
 * revocation (the CRL nginx reads) is `minica crl`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minica/ca.h"
#include "minica/revoke.h"

static void print_matches(const struct minica_revoke_result *res,
                          enum minica_revoke_outcome outcome)
{
    for (size_t i = 0; i < res->n_matches; i++)
        if (res->matches[i].outcome == outcome)
            printf("  %-32s  %s\n", res->matches[i].serial, res->matches[i].sans);
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"reason", required_argument, NULL, 'r'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL;
    enum minica_revoke_reason reason = MINICA_REASON_UNSPECIFIED;
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("revoke", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'r':
            if (minica_revoke_reason_parse(optarg, &reason, &err) != 0)
                return cli_usage("revoke", "--reason: %s", err.msg);
            break;
        default:
            return cli_bad_option("revoke", argc, argv);
        }
    }
    if (optind >= argc)
        return cli_usage("revoke", "missing NAME or SERIAL");
    if (optind + 1 < argc)
        return cli_usage("revoke", "unexpected argument '%s'", argv[optind + 1]);
    const char *target = argv[optind];

    struct minica_ca *ca = NULL;
    struct minica_revoke_result res = {0};
    int ret = minica_ca_open(cli_state_dir(dir), &ca, &err);
    if (ret == 0) {
        minica_ca_set_actor(ca, "revoke", "local");
        ret = minica_ca_revoke(ca, target, reason, &res, &err);
    }
    minica_ca_close(ca);
    if (ret < 0) {
        minica_revoke_result_free(&res);
        return cli_fail("revoke", "%s", err.msg);
    }
    /* One line per certificate, with all its names: revoking a NAME also
     * revokes certificates where it is only a SAN, and the operator sees
     * which. */
    /* By serial, the one match says whose certificate it was. */
    char serial[MINICA_SERIAL_HEX_MAX];
    const char *whose = target;
    if (res.n_matches == 1 && minica_serial_normalize(target, serial, sizeof(serial), NULL) == 0 &&
        strcmp(serial, res.matches[0].serial) == 0)
        whose = res.matches[0].name;
    if (res.revoked > 0) {
        printf("Revoked %zu certificate%s for %s, reason %s:\n", res.revoked,
               res.revoked == 1 ? "" : "s", whose, minica_revoke_reason_name(reason));
        print_matches(&res, MINICA_REVOKE_DONE);
    }
    if (res.already_revoked > 0) {
        printf("%s%zu certificate%s already revoked; left unchanged:\n",
               res.revoked > 0 ? "" : "Nothing to do: ", res.already_revoked,
               res.already_revoked == 1 ? " was" : "s were");
        print_matches(&res, MINICA_REVOKE_ALREADY);
    }
    if (res.expired > 0) {
        printf("%s%zu expired certificate%s for %s left alone (revoke one by serial if needed):\n",
               res.revoked > 0 || res.already_revoked > 0 ? "" : "Nothing to do: ", res.expired,
               res.expired == 1 ? "" : "s", whose);
        print_matches(&res, MINICA_REVOKE_EXPIRED);
    }
    if (res.revoked > 0)
        printf("Publish it with: minica crl --all --out FILE (then reload nginx)\n");
    minica_revoke_result_free(&res);
    return EXIT_OK;
}

const struct cli_command cmd_revoke_def = {
    "revoke", run, "revoke certificates by NAME or serial",
    "Usage: minica revoke NAME|SERIAL [--reason REASON] [--dir DIR]\n"
    "\n"
    "Marks certificates revoked in the inventory, with the current time and a\n"
    "reason. NAME (a DNS name or an IP address) revokes every unexpired\n"
    "certificate that carries it as any of its names, the first or a SAN; SERIAL\n"
    "(hex, colons allowed) revokes exactly that one. Each certificate revoked is\n"
    "listed with its serial and all its names. Revoking again is harmless: the\n"
    "first time and reason stay.\n"
    "nginx and openssl only see a revocation once a new CRL is published with\n"
    "`minica crl` and nginx is reloaded.\n"
    "\n"
    "  --reason REASON  unspecified (default), keyCompromise, affiliationChanged,\n"
    "                   superseded or cessationOfOperation\n"
    "\n"
    "Exit status: 0 when revoked or already revoked, 1 when nothing matches.\n"};
