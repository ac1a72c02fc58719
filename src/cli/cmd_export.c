/* minica export: the CA certificates, for trust stores and nginx; and a
 * leaf's key and chain as a PKCS#12 file, for Java and Windows services. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minica/ca.h"
#include "minica/fsutil.h"
#include "minica/pkcs12.h"
#include "minica/policy.h"

struct pkcs12_opts {
    const char *certs, *cert, *key, *chain, *name, *pass_file, *pass_cred;
};

/* The key never goes to a terminal or a pipe: --out names a file, which is
 * written 0600 and atomically. */
static int export_pkcs12(int argc, char **argv, const struct pkcs12_opts *o, const char *out)
{
    struct minica_err err;
    struct minica_pkcs12_files *files = calloc(1, sizeof(*files));
    if (files == NULL)
        return cli_fail("export", "out of memory");
    int explicit = o->cert != NULL || o->key != NULL || o->chain != NULL;
    int ret = EXIT_OK;
    if (explicit) {
        if (optind < argc) {
            ret = cli_usage("export", "--pkcs12 takes NAME or --cert and --key, not both");
        } else if (o->cert == NULL || o->key == NULL) {
            ret = cli_usage("export", "--pkcs12 --cert FILE --key FILE: both are needed");
        } else if (o->certs != NULL) {
            ret = cli_usage("export", "--certs DIR goes with NAME, not with --cert and --key");
        } else {
            snprintf(files->cert, sizeof(files->cert), "%s", o->cert);
            snprintf(files->key, sizeof(files->key), "%s", o->key);
            snprintf(files->chain, sizeof(files->chain), "%s", o->chain ? o->chain : "");
        }
    } else if (optind >= argc) {
        ret = cli_usage("export", "--pkcs12: missing NAME (or --cert FILE --key FILE)");
    } else if (optind + 1 < argc) {
        ret = cli_usage("export", "unexpected argument '%s'", argv[optind + 1]);
    }
    if (ret == EXIT_OK && out == NULL)
        ret = cli_usage("export", "--pkcs12 needs --out FILE (the file holds the private key)");
    if (ret == EXIT_OK && strcmp(out, "-") == 0)
        ret = cli_usage("export", "--pkcs12 writes a file, not standard output: --out FILE");
    if (ret == EXIT_OK && o->pass_file != NULL && o->pass_cred != NULL)
        ret =
            cli_usage("export", "--passphrase-file and --passphrase-credential exclude each other");
    if (ret == EXIT_OK && o->pass_file == NULL && o->pass_cred == NULL)
        ret =
            cli_usage("export", "--pkcs12 needs --passphrase-file FILE or --passphrase-credential "
                                "NAME (Java keystores open none without a passphrase)");
    if (ret == EXIT_OK && o->pass_cred != NULL && minica_keys_check_credential(o->pass_cred, &err))
        ret = cli_usage("export", "--passphrase-credential: %s", err.msg);
    if (ret != EXIT_OK) {
        free(files);
        return ret;
    }
    struct minica_pkcs12_passphrase pass;
    if (!explicit &&
        minica_pkcs12_files_in_dir(o->certs ? o->certs : ".", argv[optind], files, &err) != 0)
        ret = cli_fail("export", "%s", err.msg);
    else if (minica_pkcs12_passphrase_read(o->pass_file, o->pass_cred, &pass, &err) != 0)
        ret = cli_fail("export", "%s", err.msg);
    else {
        if (minica_pkcs12_export(files, o->name, pass.buf, pass.len, out, &err) != 0)
            ret = cli_fail("export", "%s", err.msg);
        minica_pkcs12_passphrase_wipe(&pass);
    }
    free(files);
    return ret;
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"out", required_argument, NULL, 'o'},
        {"pkcs12", no_argument, NULL, 'P'},
        {"certs", required_argument, NULL, 'C'},
        {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"chain", required_argument, NULL, 'a'},
        {"name", required_argument, NULL, 'n'},
        {"passphrase-file", required_argument, NULL, 'f'},
        {"passphrase-credential", required_argument, NULL, 'r'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL, *out = NULL;
    struct pkcs12_opts p12 = {0};
    int pkcs12 = 0, p12_only = 0;
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
        case 'P':
            pkcs12 = 1;
            break;
        case 'C':
            p12.certs = optarg, p12_only = c;
            break;
        case 'c':
            p12.cert = optarg, p12_only = c;
            break;
        case 'k':
            p12.key = optarg, p12_only = c;
            break;
        case 'a':
            p12.chain = optarg, p12_only = c;
            break;
        case 'n':
            p12.name = optarg, p12_only = c;
            break;
        case 'f':
            p12.pass_file = optarg, p12_only = c;
            break;
        case 'r':
            p12.pass_cred = optarg, p12_only = c;
            break;
        default:
            return cli_bad_option("export", argc, argv);
        }
    }
    if (pkcs12) {
        if (dir != NULL)
            return cli_usage("export", "--pkcs12 reads a leaf's files, not the CA: no --dir");
        return export_pkcs12(argc, argv, &p12, out);
    }
    if (p12_only) {
        for (size_t i = 0; options[i].name != NULL; i++)
            if (options[i].val == p12_only)
                return cli_usage("export", "--%s goes with --pkcs12", options[i].name);
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
    "       minica export --pkcs12 NAME [--certs DIR] --out FILE\n"
    "                     --passphrase-file FILE|--passphrase-credential NAME [--name ALIAS]\n"
    "       minica export --pkcs12 --cert FILE --key FILE [--chain FILE] --out FILE\n"
    "                     --passphrase-file FILE|--passphrase-credential NAME [--name ALIAS]\n"
    "\n"
    "Prints a CA certificate in PEM, or writes it atomically to FILE (0644).\n"
    "  root          what clients trust (nginx proxy_ssl_trusted_certificate,\n"
    "                update-ca-certificates): every current root, so two\n"
    "                during a rollover (minica ca rollover)\n"
    "  intermediate  what follows a leaf: the issuing intermediate, and during\n"
    "                a rollover the cross-certificate after it\n"
    "  chain         intermediate followed by root\n"
    "\n"
    "With --pkcs12, writes a leaf's key, certificate and chain as one PKCS#12\n"
    "file (0600, atomically) for Java (keytool -storetype PKCS12) and Windows:\n"
    "key and certificates encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC),\n"
    "an HMAC-SHA256 MAC, 100000 iterations for each. The key must be the\n"
    "certificate's.\n"
    "  NAME          NAME.key, NAME.crt and NAME.fullchain.crt (or NAME.pem) as\n"
    "                minica issue wrote them\n"
    "  --certs DIR   where those are (default: the current directory, as\n"
    "                minica issue's --out)\n"
    "  --cert FILE, --key FILE, --chain FILE\n"
    "                the files themselves (PEM; the chain: the intermediates,\n"
    "                a fullchain file will do)\n"
    "  --out FILE    the file to write (required: never standard output)\n"
    "  --passphrase-file FILE\n"
    "                its first line is the passphrase; FILE must be a regular\n"
    "                file owned by root or you, no symlink, closed to group and\n"
    "                others (chmod 600)\n"
    "  --passphrase-credential NAME\n"
    "                the systemd credential NAME ($CREDENTIALS_DIRECTORY)\n"
    "  --name ALIAS  the entry's friendlyName, keytool's alias (default: the\n"
    "                certificate's CN)\n"};
