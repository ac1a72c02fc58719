/* minica init: create the root and the intermediate in the state directory. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minica/ca.h"
#include "minica/duration.h"
#include "minica/policy.h"

#define MAX_PERMITS MINICA_POLICY_MAX_ENTRIES

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"name", required_argument, NULL, 'n'},
        {"key-type", required_argument, NULL, 'k'},
        {"root-ttl", required_argument, NULL, 'r'},
        {"intermediate-ttl", required_argument, NULL, 'i'},
        {"permit-dns", required_argument, NULL, 'P'},
        {"permit-ip", required_argument, NULL, 'I'},
        {"passphrase-file", required_argument, NULL, 'F'},
        {"passphrase-credential", required_argument, NULL, 'C'},
        {"intermediate-key", required_argument, NULL, 'K'},
        {"root-key", required_argument, NULL, 'R'},
        {"pin-file", required_argument, NULL, 'p'},
        {"pin-credential", required_argument, NULL, 'c'},
        {0, 0, 0, 0},
    };
    struct minica_init_options opts;
    memset(&opts, 0, sizeof(opts));
    const char *dns[MAX_PERMITS], *ips[MAX_PERMITS];
    const char *dir = NULL;
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("init", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'n':
            opts.name = optarg;
            break;
        case 'k':
            if (minica_key_type_parse(optarg, &opts.key_type, &err) != 0)
                return cli_usage("init", "--key-type: %s", err.msg);
            break;
        case 'r':
            if (minica_duration_parse(optarg, &opts.root_ttl, &err) != 0)
                return cli_usage("init", "--root-ttl: %s", err.msg);
            break;
        case 'i':
            if (minica_duration_parse(optarg, &opts.intermediate_ttl, &err) != 0)
                return cli_usage("init", "--intermediate-ttl: %s", err.msg);
            break;
        case 'P':
            if (opts.n_permit_dns == MAX_PERMITS)
                return cli_usage("init", "too many --permit-dns (at most %d)", MAX_PERMITS);
            dns[opts.n_permit_dns++] = optarg;
            break;
        case 'I':
            if (opts.n_permit_ip == MAX_PERMITS)
                return cli_usage("init", "too many --permit-ip (at most %d)", MAX_PERMITS);
            ips[opts.n_permit_ip++] = optarg;
            break;
        case 'F':
            opts.passphrase_file = optarg;
            break;
        case 'C':
            opts.passphrase_credential = optarg;
            break;
        case 'K':
            opts.intermediate_key = optarg;
            break;
        case 'R':
            opts.root_key = optarg;
            break;
        case 'p':
            opts.pin_file = optarg;
            break;
        case 'c':
            opts.pin_credential = optarg;
            break;
        default:
            return cli_bad_option("init", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage("init", "unexpected argument '%s'", argv[optind]);
    opts.permit_dns = dns;
    opts.permit_ip = ips;
    dir = cli_state_dir(dir);
    int ret = minica_ca_init(dir, &opts, &err);
    if (ret == MINICA_EINVAL)
        return cli_usage("init", "%s", err.msg);
    if (ret != 0)
        return cli_fail("init", "%s", err.msg);
    printf("Created a CA in %s\n"
           "  root:         %s/root.crt\n"
           "  intermediate: %s/intermediate.crt\n"
           "  policy:       %s/minica.conf\n",
           dir, dir, dir, dir);
    if (opts.root_key != NULL)
        printf("  root key:     in the token, %s\n", opts.root_key);
    if (opts.intermediate_key != NULL)
        printf("  intermediate key: in the token, %s\n", opts.intermediate_key);
    if (opts.passphrase_file != NULL || opts.passphrase_credential != NULL)
        printf("  keys:         encrypted (PKCS#8, AES-256-CBC); passphrase from %s%s\n",
               opts.passphrase_file ? "" : "credential ",
               opts.passphrase_file ? opts.passphrase_file : opts.passphrase_credential);
    if (opts.n_permit_dns > 0 && opts.n_permit_ip == 0)
        printf("Note: no --permit-ip given, so IP addresses are not constrained.\n");
    if (opts.n_permit_ip > 0 && opts.n_permit_dns == 0)
        printf("Note: no --permit-dns given, so DNS names are not constrained.\n");
    return EXIT_OK;
}

const struct cli_command cmd_init_def = {
    "init", run, "create a root and an intermediate CA",
    "Usage: minica init [--dir DIR] [--name CN] [--key-type TYPE] [--root-ttl DURATION]\n"
    "                   [--intermediate-ttl DURATION] [--permit-dns SUFFIX]...\n"
    "                   [--permit-ip CIDR]...\n"
    "                   [--passphrase-file FILE | --passphrase-credential NAME]\n"
    "                   [--intermediate-key pkcs11:URI] [--root-key pkcs11:URI]\n"
    "                   [--pin-file FILE | --pin-credential NAME]\n"
    "\n"
    "Creates DIR (mode 0700) with a self-signed root (root.crt, root.key), an\n"
    "intermediate signed by it (intermediate.crt, intermediate.key), the policy\n"
    "(minica.conf) and the inventory (minica.db). Keys are 0600. Refuses to touch a\n"
    "directory that already holds a CA. An existing DIR is narrowed to 0700; one\n"
    "owned by another user is refused. Every command refuses a state directory\n"
    "that someone other than root or its user could have written (see minica(1)).\n"
    "\n"
    "  --name CN              name for the CA subjects (default: minica)\n"
    "  --key-type TYPE        ec-p256 (default), ec-p384, rsa-2048, rsa-3072, rsa-4096\n"
    "  --root-ttl DURATION    root validity (default: 10y)\n"
    "  --intermediate-ttl D   intermediate validity (default: 3y, at least 1d); the\n"
    "                         policy's TTLs are kept within it\n"
    "  --permit-dns SUFFIX    only names under SUFFIX may be issued; written into the\n"
    "                         intermediate as a critical name constraint (repeatable)\n"
    "  --permit-ip CIDR       only addresses in CIDR may be issued (repeatable)\n"
    "                         Given only one of the two, the intermediate excludes\n"
    "                         the other form: no IP addresses, or no DNS names.\n"
    "  --passphrase-file FILE encrypt root.key and intermediate.key (PKCS#8, PBES2,\n"
    "                         AES-256-CBC) with the first line of FILE, an absolute\n"
    "                         path, mode 0600 or 0400, owned by root or you; written\n"
    "                         as [keys] passphrase_file into minica.conf, so every\n"
    "                         later command reads it there (never from argv)\n"
    "  --passphrase-credential NAME\n"
    "                         the same with the systemd credential NAME\n"
    "                         ($CREDENTIALS_DIRECTORY/NAME, LoadCredentialEncrypted=)\n"
    "  --intermediate-key pkcs11:URI\n"
    "                         make the intermediate's key in the PKCS#11 token the\n"
    "                         RFC 7512 URI names (object= is its label; id= or a\n"
    "                         random CKA_ID): no intermediate.key; the URI goes\n"
    "                         into minica.conf as [keys] intermediate. Refused when\n"
    "                         the token already holds that label or id, or when the\n"
    "                         URI holds a pin-value\n"
    "  --root-key pkcs11:URI  the same for the root ([keys] root, no root.key)\n"
    "  --pin-file FILE        the token's user PIN: the first line of FILE, under the\n"
    "                         passphrase file's rules; written as [keys] pin_file\n"
    "  --pin-credential NAME  the same with a systemd credential ([keys]\n"
    "                         pin_credential)\n"
    "  --dir DIR              state directory (default: $MINICA_DIR or /var/lib/minica)\n"};
