/* minica ca: the CA's own lifecycle. status shows it (cmd_ca_status.c);
 * rotate, rollover, drop-cross, retire and revoke change it. Parsing and
 * printing only; minica/lifecycle.h does the work. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minica/duration.h"
#include "minica/lifecycle.h"
#include "minica/policy.h"
#include "minica/revoke.h"
#include "output.h"

#define PERMIT_MAX 64

static void print_when(const char *label, int64_t t)
{
    char text[21];
    minica_time_rfc3339(t, text);
    printf("%s%s\n", label, text);
}

static int ca_rotate(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"ttl", required_argument, NULL, 't'},
        {"key-type", required_argument, NULL, 'k'},
        {"permit-dns", required_argument, NULL, 'p'},
        {"permit-ip", required_argument, NULL, 'i'},
        {"if-due", no_argument, NULL, 'f'},
        {"intermediate-key", required_argument, NULL, 'K'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL, *dns[PERMIT_MAX], *ips[PERMIT_MAX];
    struct minica_rotate_options opts;
    memset(&opts, 0, sizeof(opts));
    struct minica_err err;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("ca", stdout);
        case 'D':
            dir = optarg;
            break;
        case 't':
            if (minica_duration_parse(optarg, &opts.ttl, &err) != 0)
                return cli_usage("ca", "--ttl: %s", err.msg);
            break;
        case 'k':
            if (minica_key_type_parse(optarg, &opts.key_type, &err) != 0)
                return cli_usage("ca", "--key-type: %s", err.msg);
            break;
        case 'p':
            if (opts.n_permit_dns == PERMIT_MAX)
                return cli_usage("ca", "too many --permit-dns (at most %d)", PERMIT_MAX);
            dns[opts.n_permit_dns++] = optarg;
            opts.permit_dns = dns;
            break;
        case 'i':
            if (opts.n_permit_ip == PERMIT_MAX)
                return cli_usage("ca", "too many --permit-ip (at most %d)", PERMIT_MAX);
            ips[opts.n_permit_ip++] = optarg;
            opts.permit_ip = ips;
            break;
        case 'f':
            opts.if_due = 1;
            break;
        case 'K':
            if (minica_keys_check_uri(optarg, &err) != 0)
                return cli_usage("ca", "rotate: --intermediate-key: %s", err.msg);
            opts.intermediate_key = optarg;
            break;
        default:
            return cli_bad_option("ca", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage("ca", "rotate: unexpected argument '%s'", argv[optind]);
    struct minica_rotate_result res;
    if (minica_ca_rotate(cli_state_dir(dir), &opts, &res, &err) != 0)
        return cli_fail("ca", "rotate: %s", err.msg);
    char left[64];
    minica_duration_format(res.left, left, sizeof(left));
    if (!res.rotated) {
        printf("Not due: intermediate %s has %s left (rotation is due below %d x max_ttl)\n",
               res.serial, left, MINICA_ROTATE_DUE_FACTOR);
        return EXIT_OK;
    }
    printf("Rotated: intermediate %s (%s) now issues\n", res.serial, res.subject);
    if (opts.intermediate_key != NULL)
        printf("  key:         in the token (%s), added to [keys] intermediate\n",
               opts.intermediate_key);
    print_when("  valid until: ", res.not_after);
    printf("  previous:    %s (%s left), still vouching for %lld unexpired leaves until they "
           "expire\n",
           res.previous_serial, left, (long long)res.previous_leaves);
    printf("Next: renew the leaves (minica agent; send SIGHUP to minica serve), then publish the "
           "CRLs (minica crl)\n");
    return EXIT_OK;
}

static int ca_rollover(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"root-ttl", required_argument, NULL, 'r'},
        {"intermediate-ttl", required_argument, NULL, 'i'},
        {"key-type", required_argument, NULL, 'k'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL;
    struct minica_rollover_options opts;
    memset(&opts, 0, sizeof(opts));
    struct minica_err err;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("ca", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'r':
            if (minica_duration_parse(optarg, &opts.root_ttl, &err) != 0)
                return cli_usage("ca", "--root-ttl: %s", err.msg);
            break;
        case 'i':
            if (minica_duration_parse(optarg, &opts.intermediate_ttl, &err) != 0)
                return cli_usage("ca", "--intermediate-ttl: %s", err.msg);
            break;
        case 'k':
            if (minica_key_type_parse(optarg, &opts.key_type, &err) != 0)
                return cli_usage("ca", "--key-type: %s", err.msg);
            break;
        default:
            return cli_bad_option("ca", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage("ca", "rollover: unexpected argument '%s'", argv[optind]);
    struct minica_rollover_result res;
    if (minica_ca_rollover(cli_state_dir(dir), &opts, &res, &err) != 0)
        return cli_fail("ca", "rollover: %s", err.msg);
    printf("Rolled over: new root %s (%s)\n", res.root_serial, res.root_subject);
    printf("  cross-certificate %s: the previous root %s vouches for it\n", res.cross_serial,
           res.previous_root_serial);
    printf("  intermediate %s under the new root now issues\n", res.intermediate_serial);
    printf("Next: renew every leaf so every trust bundle gets both roots, then: minica ca "
           "drop-cross, and later: minica ca retire %s\n",
           res.previous_root_serial);
    return EXIT_OK;
}

/* drop-cross, retire, revoke: SERIAL (except drop-cross) and a flag or two. */
static int ca_simple(const char *sub, int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"force", no_argument, NULL, 'f'},
        {"reason", required_argument, NULL, 'r'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL;
    int force = 0, have_reason = 0;
    enum minica_revoke_reason reason = MINICA_REASON_UNSPECIFIED;
    struct minica_err err;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("ca", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'f':
            force = 1;
            break;
        case 'r':
            if (minica_revoke_reason_parse(optarg, &reason, &err) != 0)
                return cli_usage("ca", "--reason: %s", err.msg);
            have_reason = 1;
            break;
        default:
            return cli_bad_option("ca", argc, argv);
        }
    }
    int is_drop = strcmp(sub, "drop-cross") == 0, is_revoke = strcmp(sub, "revoke") == 0;
    if ((force && !is_drop) || (have_reason && !is_revoke))
        return cli_usage("ca", "%s: %s is not an option of it", sub,
                         force ? "--force" : "--reason");
    if (is_drop && optind < argc)
        return cli_usage("ca", "drop-cross: unexpected argument '%s'", argv[optind]);
    if (!is_drop && optind >= argc)
        return cli_usage("ca", "%s: missing SERIAL (see minica ca status)", sub);
    if (!is_drop && optind + 1 < argc)
        return cli_usage("ca", "%s: unexpected argument '%s'", sub, argv[optind + 1]);
    const char *state = cli_state_dir(dir);
    int ret;
    if (is_drop)
        ret = minica_ca_drop_cross(state, force, &err);
    else if (is_revoke)
        ret = minica_ca_revoke_intermediate(state, argv[optind], reason, &err);
    else
        ret = minica_ca_retire(state, argv[optind], &err);
    if (ret != 0)
        return cli_fail("ca", "%s: %s", sub, err.msg);
    if (is_drop)
        printf("Dropped the cross-certificate: chains now end at the new root\n");
    else if (is_revoke)
        printf("Revoked intermediate %s (%s); publish the root's CRL: minica crl --root\n",
               argv[optind], minica_revoke_reason_name(reason));
    else
        printf("Retired %s\n", argv[optind]);
    return EXIT_OK;
}

static int ca_encrypt_keys(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {0, 0, 0, 0},
    };
    const char *dir = NULL;
    struct minica_err err;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("ca", stdout);
        case 'D':
            dir = optarg;
            break;
        default:
            return cli_bad_option("ca", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage("ca", "encrypt-keys: unexpected argument '%s'", argv[optind]);
    struct minica_encrypt_keys_result res;
    if (minica_ca_encrypt_keys(cli_state_dir(dir), &res, &err) != 0)
        return cli_fail("ca", "encrypt-keys: %s", err.msg);
    printf("Encrypted %zu CA key file%s (%zu already encrypted)\n", res.encrypted,
           res.encrypted == 1 ? "" : "s", res.already);
    return EXIT_OK;
}

static int run(int argc, char **argv)
{
    optind = 1;
    if (argc < 2)
        return cli_usage("ca", "missing what to do (status, rotate, rollover, drop-cross, retire, "
                               "revoke or encrypt-keys)");
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0)
        return cli_help("ca", stdout);
    /* getopt sees the subcommand as argv[0]. */
    argc--;
    argv++;
    optind = 1;
    if (strcmp(sub, "status") == 0)
        return cmd_ca_status(argc, argv);
    if (strcmp(sub, "rotate") == 0)
        return ca_rotate(argc, argv);
    if (strcmp(sub, "rollover") == 0)
        return ca_rollover(argc, argv);
    if (strcmp(sub, "drop-cross") == 0 || strcmp(sub, "retire") == 0 || strcmp(sub, "revoke") == 0)
        return ca_simple(sub, argc, argv);
    if (strcmp(sub, "encrypt-keys") == 0)
        return ca_encrypt_keys(argc, argv);
    return cli_usage("ca",
                     "unknown '%s' (use status, rotate, rollover, drop-cross, retire, revoke "
                     "or encrypt-keys)",
                     sub);
}

const struct cli_command cmd_ca_def = {
    "ca", run, "show the CA, rotate its intermediate, roll its root over",
    "Usage: minica ca status [--json] [--dir DIR]\n"
    "       minica ca rotate [--ttl D] [--key-type T] [--permit-dns D]...\n"
    "                        [--permit-ip CIDR]... [--if-due]\n"
    "                        [--intermediate-key pkcs11:URI] [--dir DIR]\n"
    "       minica ca rollover [--root-ttl D] [--intermediate-ttl D] [--key-type T]\n"
    "                          [--dir DIR]\n"
    "       minica ca drop-cross [--force] [--dir DIR]\n"
    "       minica ca retire SERIAL [--dir DIR]\n"
    "       minica ca revoke SERIAL [--reason R] [--dir DIR]\n"
    "       minica ca encrypt-keys [--dir DIR]\n"
    "\n"
    "status      every root, cross-certificate and intermediate, one block each:\n"
    "            role, serial, state (active/current/retired/revoked), subject,\n"
    "            issuer, key type, name constraints, not before/after (UTC), time\n"
    "            left, file, where its key lives (\"file ca/...key (0600)\",\n"
    "            \"pkcs11:token=...;object=...\" for a token key, or \"offline\"\n"
    "            when not in this directory), SHA-256 and the\n"
    "            unexpired leaves it signed; then the health and\n"
    "            one line per finding, each naming the command that answers it.\n"
    "            Reads no key, changes nothing.\n"
    "              --json           one object: health, exit_code, max_ttl_seconds,\n"
    "                               active_intermediate, active_root, certs[],\n"
    "                               findings[] (fields in minica(1))\n"
    "            Exit 0: nothing to do; 3: a rotation is due (the intermediate has\n"
    "            less than 2 x max_ttl left) or a step is left to finish (a\n"
    "            cross-certificate still sent, a revoked intermediate with live\n"
    "            leaves); 4: renewals are already shortened (less than max_ttl\n"
    "            left) or a CA certificate of the chain expired; 1: error.\n"
    "rotate      a new intermediate (new key) under the same root becomes the\n"
    "            issuer. The previous one stays, read-only: its leaves keep\n"
    "            verifying, can be revoked and get a CRL until they expire.\n"
    "            Default: the same lifetime, key type and name constraints.\n"
    "              --ttl D          the new intermediate's lifetime\n"
    "              --permit-dns D, --permit-ip CIDR\n"
    "                               new name constraints (minica.conf must fit)\n"
    "              --if-due         only when less than 2 x max_ttl is left;\n"
    "                               for a daily cron line on the CA host\n"
    "              --intermediate-key pkcs11:URI\n"
    "                               make the new key in that PKCS#11 token (no\n"
    "                               key file; the PIN from [keys] pin_file or\n"
    "                               pin_credential) and add the URI first to\n"
    "                               [keys] intermediate in minica.conf. Moves a\n"
    "                               CA into a token: the previous intermediate's\n"
    "                               key file still signs its CRL. Refused when\n"
    "                               the token holds that label or id already.\n"
    "rollover    a new root, a cross-certificate of it signed by the current root,\n"
    "            and a new intermediate under it, which becomes the issuer.\n"
    "            Chains then carry the cross-certificate, so relying parties\n"
    "            that trust only the old root keep verifying; root.crt and every\n"
    "            trust bundle (export root, the agent's ca = files, /v1/roots)\n"
    "            carry both roots.\n"
    "drop-cross  stops sending the cross-certificate, once every name has been\n"
    "            renewed under the new root (refused before; --force skips it).\n"
    "retire      takes a root or a previous intermediate out of use (moved to\n"
    "            ca/retired). Refused while it issues, while unexpired leaves\n"
    "            chain to it, or for a root while its cross-certificate is sent.\n"
    "revoke      revokes a previous intermediate, say after its key leaked; the\n"
    "            root's CRL (minica crl --root) lists it. Rotate first.\n"
    "encrypt-keys\n"
    "            encrypts every plain CA key file (root.key, intermediate.key,\n"
    "            ca/*.key, ca/retired/*.key) with the passphrase minica.conf's\n"
    "            [keys] names (passphrase_file or passphrase_credential), each\n"
    "            replaced atomically, 0600. Refused, with nothing written, without\n"
    "            [keys] or when a file already encrypted does not open with that\n"
    "            passphrase. With [keys] set, rotate and rollover write their new\n"
    "            keys encrypted too.\n"
    "\n"
    "The root key can stay offline (no root.key, no ca/root-*.key): issue,\n"
    "renew, revoke, serve and the intermediates' CRLs need only the\n"
    "intermediate's key. rotate, rollover and minica crl --root ask for it.\n"
    "\n"
    "Every step is safe to interrupt: intermediate.crt switches in one rename,\n"
    "and the next step finishes what a crash left. After rotate or rollover,\n"
    "send SIGHUP to minica serve. The README's runbooks give each step with\n"
    "what to check and how to roll back.\n"};
