/* minica nginx: print the directives that make nginx verify minica
 * certificates (snippet), and check nginx configs for unverified TLS to
 * upstreams (check). Parsing and printing only; libminica does the work. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "minica/ca.h"
#include "minica/fsutil.h"
#include "minica/names.h"
#include "minica/nginx.h"
#include "minica/store.h"

static int run_snippet(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"client", required_argument, NULL, 'c'},
        {"certs", required_argument, NULL, 'C'},
        {"pem-bundle", no_argument, NULL, 'P'},
        {0, 0, 0, 0},
    };
    struct minica_nginx_snippet_opts opts = {NULL, NULL, NULL, 0, 1, NULL};
    const char *dir = NULL;
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("nginx", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'c':
            opts.client = optarg;
            break;
        case 'C':
            opts.certs_dir = optarg;
            break;
        case 'P':
            opts.pem_bundle = 1;
            break;
        default:
            return cli_bad_option("nginx", argc, argv);
        }
    }
    if (optind >= argc)
        return cli_usage("nginx", "snippet: missing NAME");
    if (optind + 1 < argc)
        return cli_usage("nginx", "snippet: unexpected argument '%s'", argv[optind + 1]);
    opts.name = argv[optind];
    struct minica_name name;
    if (minica_name_parse(opts.name, &name, &err) != 0)
        return cli_usage("nginx", "snippet: %s", err.msg);
    if (opts.client != NULL && minica_name_parse(opts.client, &name, &err) != 0)
        return cli_usage("nginx", "snippet: --client: %s", err.msg);
    /* Where a CA is at hand, its inventory knows every name. The default
     * state directory of another user (the proxy host's operator is not
     * the CA's) only means there is none to ask; an explicit --dir must
     * open. */
    struct minica_store *inventory = NULL;
    const char *state = cli_state_dir(dir);
    if (minica_state_has_store(state) && minica_state_open_store(state, &inventory, &err) != 0) {
        if (dir != NULL)
            return cli_fail("nginx", "snippet: %s", err.msg);
        inventory = NULL;
    }
    opts.inventory = inventory;
    char *text = NULL;
    int ret = minica_nginx_snippet(&opts, &text, &err);
    minica_store_close(inventory);
    if (ret != 0)
        return cli_fail("nginx", "snippet: %s", err.msg);
    fputs(text, stdout);
    free(text);
    return EXIT_OK;
}

static int run_check(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"conf-dir", required_argument, NULL, 'p'},
        {"root", required_argument, NULL, 'R'},
        {0, 0, 0, 0},
    };
    const char *conf_dir = NULL, *dir = NULL, *root_file = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("nginx", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'p':
            conf_dir = optarg;
            break;
        case 'R':
            root_file = optarg;
            break;
        default:
            return cli_bad_option("nginx", argc, argv);
        }
    }
    if (optind >= argc)
        return cli_usage("nginx", "check: missing FILE");
    /* minica's root: --root, else the CA's (--dir, or the default state
     * directory when it has one), else where minica bootstrap puts it on a
     * proxy host. Knowing it, the check can say that a trusted file is not
     * minica's at all. */
    char root_path[4200];
    struct minica_err rerr;
    if (root_file == NULL &&
        minica_path_join(root_path, sizeof(root_path), cli_state_dir(dir), "root.crt", &rerr) ==
            0 &&
        (dir != NULL || minica_file_exists(root_path)))
        root_file = root_path;
    if (root_file == NULL && minica_file_exists("/etc/minica/root.crt"))
        root_file = "/etc/minica/root.crt";
    char *root_pem = NULL;
    if (root_file != NULL && minica_read_file(root_file, 64 * 1024, &root_pem, NULL, &rerr) != 0)
        return cli_fail("nginx", "check: minica's root: %s", rerr.msg);
    size_t findings = 0, notes = 0, files = 0, https = 0;
    int failed = 0; /* FILEs that could not be checked */
    for (int i = optind; i < argc; i++) {
        struct minica_nginx_conf conf;
        struct minica_nginx_report rep;
        struct minica_err err;
        minica_nginx_conf_init(&conf);
        minica_nginx_report_init(&rep);
        int ret = minica_nginx_parse_file(&conf, argv[i], conf_dir, &err);
        files += conf.nfiles;
        if (ret != 0 && conf.err_line > 0) {
            /* A syntax error has a place: report it like a finding. */
            printf("%s\n", err.msg);
            findings++;
        } else if (ret != 0) {
            cli_fail("nginx", "check: %s", err.msg);
            failed++;
        } else if (minica_nginx_check(&conf, conf_dir, root_pem, &rep, &err) != 0) {
            cli_fail("nginx", "check: %s: %s", argv[i], err.msg);
            failed++;
        } else {
            for (size_t j = 0; j < rep.n; j++)
                printf("%s:%d: %s%s\n", rep.items[j].file, rep.items[j].line,
                       rep.items[j].note ? "note: " : "", rep.items[j].msg);
            findings += rep.n - rep.notes;
            notes += rep.notes;
            https += rep.https_upstreams;
        }
        minica_nginx_report_free(&rep);
        minica_nginx_conf_free(&conf);
    }
    printf("minica nginx check: %zu finding%s in %zu file%s (%zu proxy_pass https://)", findings,
           findings == 1 ? "" : "s", files, files == 1 ? "" : "s", https);
    if (notes > 0)
        printf(", %zu note%s", notes, notes == 1 ? "" : "s");
    /* "0 findings" alone would read as a clean config that was never read. */
    if (failed > 0)
        printf("; %d of %d FILE%s could not be checked", failed, argc - optind,
               argc - optind == 1 ? "" : "s");
    printf("\n");
    free(root_pem);
    return findings > 0 || failed ? EXIT_FAIL : EXIT_OK;
}

static int run(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("nginx", "missing 'snippet' or 'check'");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return cli_help("nginx", stdout);
    if (strcmp(argv[1], "snippet") == 0)
        return run_snippet(argc - 1, argv + 1);
    if (strcmp(argv[1], "check") == 0)
        return run_check(argc - 1, argv + 1);
    return cli_usage("nginx", "unknown subcommand '%s' (snippet or check)", argv[1]);
}

const struct cli_command cmd_nginx_def = {
    "nginx", run, "print nginx directives for minica certs; check nginx configs",
    "Usage: minica nginx snippet NAME [--client CLIENTNAME] [--certs DIR]\n"
    "                           [--pem-bundle] [--dir DIR]\n"
    "       minica nginx check [--conf-dir DIR] [--root FILE] [--dir DIR] FILE...\n"
    "\n"
    "snippet prints, for an upstream NAME issued by minica, the proxy's\n"
    "location block (proxy_pass https://NAME, proxy_ssl_verify on,\n"
    "proxy_ssl_trusted_certificate ca.crt, proxy_ssl_verify_depth 2,\n"
    "proxy_ssl_server_name on, proxy_ssl_name NAME) and the upstream's server\n"
    "directives (listen 443 ssl, ssl_certificate NAME.fullchain.crt,\n"
    "ssl_certificate_key NAME.key).\n"
    "  --client NAME   mTLS: the proxy presents NAME.fullchain.crt / NAME.key\n"
    "                  (issued with --usage client) and the upstream requires a\n"
    "                  client certificate from minica's root (ssl_verify_client on)\n"
    "  --certs DIR     where the issued files are (default: the current\n"
    "                  directory); paths are printed absolute\n"
    "  --pem-bundle    the files are NAME.pem (minica issue --pem-bundle, or the\n"
    "                  agent's pem_bundle): ssl_certificate and\n"
    "                  ssl_certificate_key both name it, so a renewal replaces\n"
    "                  key and chain with one rename\n"
    "It looks first, and names the fix (exit 1): --certs and its ca.crt must\n"
    "exist, a certificate file there must fit its directive (not a\n"
    "client-only one as the upstream's), and with a CA inventory (--dir, or\n"
    "the default state directory when there is one) NAME and CLIENTNAME must\n"
    "have valid certificates of that usage. A host holds only its own\n"
    "side's files, so one missing there is not an error by itself. The\n"
    "comment's upstream block shows the certificate's IP SAN.\n"
    "NAME must be a DNS name: nginx checks proxy_ssl_name with host-name rules\n"
    "and ignores IP SANs, so an IP address is refused (exit 1); issue a DNS\n"
    "name with the address as --san and use that.\n"
    "\n"
    "check reads each nginx config FILE and the files it includes, and prints\n"
    "one line per problem, FILE:LINE: message, then a summary:\n"
    "  - proxy_pass https://... without proxy_ssl_verify on (inherited from\n"
    "    location, server or http, as nginx does)\n"
    "  - proxy_ssl_verify off\n"
    "  - proxy_ssl_verify on without proxy_ssl_trusted_certificate\n"
    "  - a trusted-certificate file that is missing, unparsable or expired,\n"
    "    or that does not hold minica's root (the system's ca-certificates.crt:\n"
    "    said first, as the cause of the 502; a bundle's expired public roots\n"
    "    are not listed)\n"
    "  - proxy_ssl_verify_depth 0 (a minica chain is upstream certificate,\n"
    "    intermediate, root: 0 rejects it, every request gets 502)\n"
    "  - an IP address as the name nginx verifies: proxy_pass https://IP\n"
    "    without a DNS proxy_ssl_name, or proxy_ssl_name IP (nginx ignores IP\n"
    "    SANs: 502, \"upstream SSL certificate does not match\")\n"
    "  - syntax errors (unbalanced braces, unterminated strings, include loops)\n"
    "  --conf-dir DIR  nginx's configuration prefix, against which relative\n"
    "                  include and certificate paths resolve (default: the\n"
    "                  directory of each FILE, as for nginx -c FILE); an include\n"
    "                  not found there is looked up next to the including file\n"
    "  --root FILE     minica's root (default: root.crt of --dir, or of the\n"
    "                  default state directory when it has one, else\n"
    "                  /etc/minica/root.crt from minica bootstrap); without\n"
    "                  one, a trusted file as large as a system bundle is a note\n"
    "  --dir DIR       the CA whose root.crt to use\n"
    "Lines with \"note:\" are advice, not findings: depth 1 (nginx's default)\n"
    "accepts a minica chain but leaves no room for a second intermediate.\n"
    "Exit status: 0 no findings (notes allowed), 1 findings (use it as a CI\n"
    "gate), 2 usage.\n"};
