/* minica bootstrap: fetch a remote CA's root and keep it only if its
 * fingerprint is the one the operator gave. Parsing and printing only. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minica/fsutil.h"
#include "minica/remote.h"

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"ca-url", required_argument, NULL, 'u'},
        {"fingerprint", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {"install-trust", no_argument, NULL, 'i'},
        {"retry-for", required_argument, NULL, 'r'},
        {0, 0, 0, 0},
    };
    const char *ca_url = NULL, *fingerprint = NULL, *out = "/etc/minica";
    int install = 0;
    int64_t retry_for = 0;
    struct minica_err err;
    char fp[65];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("bootstrap", stdout);
        case 'D':
            break; /* accepted like everywhere; bootstrap needs no state dir */
        case 'u':
            ca_url = optarg;
            break;
        case 'f':
            fingerprint = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'i':
            install = 1;
            break;
        case 'r':
            if (minica_remote_retry_for_parse(optarg, &retry_for, &err) != 0)
                return cli_usage("bootstrap", "--retry-for: %s", err.msg);
            break;
        default:
            return cli_bad_option("bootstrap", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage("bootstrap", "unexpected argument '%s'", argv[optind]);
    if (ca_url == NULL)
        return cli_usage("bootstrap", "missing --ca-url");
    if (fingerprint == NULL)
        return cli_usage("bootstrap", "missing --fingerprint");
    if (minica_fingerprint_normalize(fingerprint, fp, &err) != 0)
        return cli_usage("bootstrap", "--fingerprint: %s", err.msg);

    char *root = NULL;
    char path[MINICA_PATH_MAX];
    if (minica_remote_fetch_root(ca_url, fp, retry_for, &root, &err) != 0)
        return cli_fail("bootstrap", "%s", err.msg);
    int ret = minica_mkdir(out, 0755, &err);
    if (ret == 0)
        ret = minica_path_join(path, sizeof(path), out, "root.crt", &err);
    if (ret == 0)
        ret = minica_write_file_atomic(path, root, strlen(root), 0644, 0, &err);
    if (ret == 0 && install)
        ret = minica_remote_install_trust(root, &err);
    free(root);
    if (ret != 0)
        return cli_fail("bootstrap", "%s", err.msg);
    printf("Trusted the root of %s (SHA-256 %s)\n  root: %s\n", ca_url, fp, path);
    if (install)
        printf("  also installed into the system trust store\n");
    return EXIT_OK;
}

const struct cli_command cmd_bootstrap_def = {
    "bootstrap", run, "fetch a remote CA's root, checked by fingerprint",
    "Usage: minica bootstrap --ca-url URL --fingerprint SHA256 [--out DIR]\n"
    "                        [--install-trust] [--retry-for DURATION]\n"
    "\n"
    "Fetches URL/v1/roots from a 'minica serve' and keeps the root whose\n"
    "SHA-256 fingerprint is SHA256 (any case, with or without colons, as\n"
    "'openssl x509 -noout -fingerprint -sha256 -in root.crt' prints it on the CA\n"
    "host); during a root rollover the answer holds both roots and either may\n"
    "be pinned. It is written to DIR/root.crt (default /etc/minica/root.crt);\n"
    "later requests to the CA (minica issue --ca-url, the agent) trust only that\n"
    "file. A wrong fingerprint writes nothing and exits 1.\n"
    "\n"
    "The agent keeps that file current: each run that talks to the CA fetches\n"
    "/v1/roots over TLS verified by the file, adds a new root only when a\n"
    "cross-certificate in the answer, signed by a root the file holds, has\n"
    "exactly the new root's subject and key, drops a root the CA no longer\n"
    "lists while another remains, and refuses any other root in one line.\n"
    "\n"
    "  --ca-url URL          the CA, e.g. https://ca.internal:9443\n"
    "  --fingerprint SHA256  the root's SHA-256 fingerprint\n"
    "  --out DIR             where root.crt goes (default /etc/minica)\n"
    "  --install-trust       also add the root to the system trust store\n"
    "                        (/usr/local/share/ca-certificates, update-ca-certificates)\n"
    "  --retry-for DURATION  while the CA is unreachable or busy, try again for\n"
    "                        this long (default 3m; 0: a single attempt)\n"};
