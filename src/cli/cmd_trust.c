/* minica trust: install minica's roots in this host's trust stores, take
 * them out, or check them. Parsing and printing only; minica/truststore.h
 * does the work. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "minica/ca.h"
#include "minica/truststore.h"

#define NSSDB_MAX 32

static const struct {
    const char *name;
    unsigned bit;
} store_names[] = {
    {"system", MINICA_TRUST_SYSTEM},
    {"nss", MINICA_TRUST_NSS},
    {"java", MINICA_TRUST_JAVA},
    {"all", MINICA_TRUST_ALL},
};

/* "system,nss" (or one name per --store) to bits; 0 for a name we lack. */
static unsigned parse_stores(const char *text, char *bad, size_t badlen)
{
    unsigned bits = 0;
    while (*text != '\0') {
        size_t len = strcspn(text, ",");
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof(store_names) / sizeof(store_names[0]); i++)
            if (strlen(store_names[i].name) == len &&
                strncasecmp(text, store_names[i].name, len) == 0)
                bit = store_names[i].bit;
        if (bit == 0) {
            snprintf(bad, badlen, "%.*s", (int)len, text);
            return 0;
        }
        bits |= bit;
        text += len;
        if (*text == ',')
            text++;
    }
    return bits;
}

/* Failures are kept for the end: one is the error line itself, several
 * are listed with the others and the error line counts them. */
struct failures {
    char first[2100];
    size_t n;
};

static void print_report(const struct minica_trust_report *r, void *ctx)
{
    struct failures *failed = ctx;
    switch (r->outcome) {
    case MINICA_TRUST_FAILED:
        if (failed->n++ == 0)
            snprintf(failed->first, sizeof(failed->first), "%s: %s", r->store, r->text);
        else
            printf("%s: failed: %s\n", r->store, r->text);
        break;
    case MINICA_TRUST_SKIPPED:
        printf("%s: skipped: %s\n", r->store, r->text);
        break;
    default:
        printf("%s: %s\n", r->store, r->text);
        break;
    }
    fflush(stdout);
}

/* The roots: --root FILE (what a fleet host has), else the CA's own. */
static int read_roots(const char *root_file, const char *dir, char **pem)
{
    struct minica_err err;
    if (root_file != NULL) {
        if (minica_trust_read_roots(root_file, pem, &err) != 0)
            return cli_fail("trust", "%s", err.msg);
        return EXIT_OK;
    }
    struct minica_ca *ca = NULL;
    if (minica_ca_open_flags(cli_state_dir(dir), MINICA_CA_OPEN_NO_KEY, &ca, &err) != 0)
        return cli_fail("trust", "%s (on a host without the CA, name its root: --root FILE)",
                        err.msg);
    *pem = strdup(minica_ca_roots_pem(ca));
    minica_ca_close(ca);
    if (*pem == NULL)
        return cli_fail("trust", "out of memory");
    return EXIT_OK;
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"root", required_argument, NULL, 'r'},
        {"store", required_argument, NULL, 's'},
        {"nssdb", required_argument, NULL, 'n'},
        {"java-cacerts", required_argument, NULL, 'j'},
        {"java-storepass-file", required_argument, NULL, 'p'},
        {0, 0, 0, 0},
    };
    struct minica_trust_options opts;
    memset(&opts, 0, sizeof(opts));
    const char *dir = NULL, *root_file = NULL, *nssdbs[NSSDB_MAX];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("trust", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'r':
            root_file = optarg;
            break;
        case 's': {
            char bad[64];
            unsigned bits = parse_stores(optarg, bad, sizeof(bad));
            if (bits == 0)
                return cli_usage("trust", "--store: unknown store '%s' (system, nss, java or all)",
                                 bad);
            opts.stores |= bits;
            break;
        }
        case 'n':
            if (opts.n_nssdbs == NSSDB_MAX)
                return cli_usage("trust", "too many --nssdb (at most %d)", NSSDB_MAX);
            nssdbs[opts.n_nssdbs++] = optarg;
            break;
        case 'j':
            opts.java_cacerts = optarg;
            break;
        case 'p':
            opts.java_storepass_file = optarg;
            break;
        default:
            return cli_bad_option("trust", argc, argv);
        }
    }
    if (optind >= argc)
        return cli_usage("trust", "missing what to do (install, uninstall or check)");
    if (optind + 1 < argc)
        return cli_usage("trust", "unexpected argument '%s'", argv[optind + 1]);
    const char *what = argv[optind];
    if (strcmp(what, "install") == 0)
        opts.action = MINICA_TRUST_INSTALL;
    else if (strcmp(what, "uninstall") == 0)
        opts.action = MINICA_TRUST_UNINSTALL;
    else if (strcmp(what, "check") == 0)
        opts.action = MINICA_TRUST_CHECK;
    else
        return cli_usage("trust", "unknown '%s' (use install, uninstall or check)", what);
    if (root_file != NULL && dir != NULL)
        return cli_usage("trust", "--root and --dir exclude each other");
    /* Naming a store, or where it is, means it must be there. */
    opts.required = opts.stores;
    if (opts.stores == MINICA_TRUST_ALL)
        opts.required = 0;
    if (opts.n_nssdbs > 0)
        opts.required |= MINICA_TRUST_NSS;
    if (opts.java_cacerts != NULL || opts.java_storepass_file != NULL)
        opts.required |= MINICA_TRUST_JAVA;
    if (opts.stores != 0 && (opts.required & ~opts.stores) != 0)
        return cli_usage("trust", "--nssdb and --java-* need their store in --store");
    opts.nssdbs = nssdbs;

    char *pem = NULL;
    int ret = read_roots(root_file, dir, &pem);
    if (ret != EXIT_OK)
        return ret;
    struct minica_err err;
    struct failures failed = {"", 0};
    ret = minica_trust_apply(pem, &opts, print_report, &failed, &err);
    free(pem);
    if (ret == MINICA_EINVAL)
        return cli_fail("trust", "%s: %s", root_file ? root_file : "the CA's roots", err.msg);
    if (failed.n == 1)
        return cli_fail("trust", "%s", failed.first);
    if (failed.n > 1)
        return cli_fail("trust", "%s; and %zu more above", failed.first, failed.n - 1);
    if (ret != 0)
        return cli_fail("trust", "%s", err.msg);
    return EXIT_OK;
}

const struct cli_command cmd_trust_def = {
    "trust", run, "install the root in this host's trust stores, or take it out",
    "Usage: minica trust install|uninstall|check [--root FILE | --dir DIR]\n"
    "                    [--store system,nss,java] [--nssdb DIR]...\n"
    "                    [--java-cacerts FILE] [--java-storepass-file FILE]\n"
    "\n"
    "Makes this host's TLS clients trust minica's roots (install), stop\n"
    "trusting them (uninstall), or says where they are trusted (check; exit 1\n"
    "when a root is missing somewhere). Each store is changed only when it\n"
    "needs to be, so a second run changes nothing; every store says what it\n"
    "did, and a store that is not on this host is skipped.\n"
    "  system  /usr/local/share/ca-certificates/minica-FINGERPRINT.crt, then\n"
    "          update-ca-certificates (OpenSSL, GnuTLS, curl, nginx, Python,\n"
    "          and Java through Debian's ca-certificates-java); needs root\n"
    "  nss     the NSS databases of Chromium (~/.pki/nssdb) and Firefox\n"
    "          (profiles under ~/.mozilla/firefox) of the user running it,\n"
    "          with certutil (libnss3-tools); run it as that user, not sudo\n"
    "  java    $JAVA_HOME/lib/security/cacerts, else\n"
    "          /etc/ssl/certs/java/cacerts, with keytool; replaced atomically\n"
    "\n"
    "  --root FILE     the roots to trust (PEM: minica export root, or an\n"
    "                  agent's ca.crt); default: the CA of --dir / $MINICA_DIR\n"
    "  --store LIST    only these stores; a store named here must be present\n"
    "  --nssdb DIR     this NSS database (a directory with cert9.db) instead of\n"
    "                  the ones found under $HOME; repeatable\n"
    "  --java-cacerts FILE        the Java keystore to change\n"
    "  --java-storepass-file FILE its password (default: the JDK's \"changeit\")\n"
    "\n"
    "Every root is named minica-FINGERPRINT (16 hex digits of its SHA-256) in\n"
    "every store. Exit status: 0 done (check: trusted everywhere), 1 a store\n"
    "failed or (check) lacks a root, 2 usage.\n"};
