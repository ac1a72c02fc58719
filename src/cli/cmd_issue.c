/* minica issue: issue a leaf certificate and write its files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "minica/duration.h"
#include "minica/fsutil.h"
#include "minica/issue.h"
#include "minica/pkcs12.h"
#include "minica/policy.h"
#include "minica/remote.h"
#include "output.h"

/* Remote mode: the key is made here, a CSR goes to `minica serve` with the
 * token, and the same files as a local issue are written. */
/* What the files tell, the same for a local and a remote issue. */
static void print_issued(const struct minica_issued *issued,
                         const struct minica_output_paths *paths, unsigned flags, int json,
                         const char *headline)
{
    if (paths->found_mismatch[0] != '\0')
        fprintf(stderr, "minica: issue: warning: %s\n", paths->found_mismatch);
    if (json) {
        cJSON *o = cli_json_issued(issued, paths);
        cJSON *files = cJSON_GetObjectItemCaseSensitive(o, "files");
        if (flags & MINICA_DELIVER_PEM_BUNDLE) {
            cJSON_DeleteItemFromObjectCaseSensitive(files, "cert");
            cJSON_DeleteItemFromObjectCaseSensitive(files, "key");
            cJSON_DeleteItemFromObjectCaseSensitive(files, "fullchain");
            cJSON_AddStringToObject(files, "pem_bundle", paths->bundle);
        }
        if (flags & MINICA_DELIVER_PKCS12)
            cJSON_AddStringToObject(files, "pkcs12", paths->pkcs12);
        if (paths->found_mismatch[0] != '\0')
            cJSON_AddStringToObject(o, "warning", paths->found_mismatch);
        cli_print_json(o);
        return;
    }
    printf("%s\n", headline);
    if (flags & MINICA_DELIVER_PEM_BUNDLE) {
        printf("  key + chain: %s\n", paths->bundle);
    } else {
        printf("  certificate: %s\n", paths->cert);
        if (issued->key_pem != NULL)
            printf("  key:         %s\n", paths->key);
        printf("  fullchain:   %s\n", paths->fullchain);
    }
    if (flags & MINICA_DELIVER_PKCS12)
        printf("  pkcs12:      %s\n", paths->pkcs12);
    printf("  root CA:     %s\n", paths->ca);
}

static int issue_remote(const struct minica_issue_request *req, const char *ca_url,
                        const char *root, const char *token, enum minica_usage require_usage,
                        int64_t retry_for, const char *out,
                        const struct minica_deliver_options *opts, int json)
{
    unsigned flags = opts->flags;
    struct minica_remote_request rreq;
    memset(&rreq, 0, sizeof(rreq));
    rreq.ca_url = ca_url;
    rreq.root_file = root;
    rreq.token = token;
    rreq.name = req->name;
    rreq.sans = req->sans;
    rreq.n_sans = req->n_sans;
    rreq.usage = req->usage;
    rreq.require_usage = require_usage;
    rreq.key_type = req->key_type;
    rreq.retry_for = retry_for;
    struct minica_issued issued;
    struct minica_output_paths paths;
    struct minica_err err;
    /* A mistyped --out must fail before the token is spent. */
    if (!(flags & MINICA_DELIVER_PARENTS) && minica_mkdir_one_possible(out, &err) != 0)
        return cli_fail("issue", "%s: %s", req->name, err.msg);
    int ret = minica_remote_issue(&rreq, &issued, &err);
    if (ret == 0 && (ret = minica_deliver_files_opts(&issued, out, opts, &paths, &err)) != 0)
        minica_issued_free(&issued);
    if (ret != 0)
        return cli_fail("issue", "%s: %s", req->name, err.msg);
    char headline[1400];
    snprintf(headline, sizeof(headline), "Issued %s (serial %s) by %s, usage %s", issued.name,
             issued.serial, ca_url, minica_usage_name(issued.usage));
    print_issued(&issued, &paths, flags, json, headline);
    minica_issued_free(&issued);
    return EXIT_OK;
}

/* The passphrase for --pkcs12 into *pass, pointed at by opts; prints the
 * refusal. */
static int read_pkcs12_pass(const struct minica_issue_request *req, const char *file,
                            const char *credential, struct minica_pkcs12_passphrase *pass,
                            struct minica_deliver_options *opts)
{
    struct minica_err err;
    if (minica_pkcs12_passphrase_read(file, credential, pass, &err) != 0)
        return cli_fail("issue", "%s: %s", req->name, err.msg);
    opts->pkcs12_pass = pass->buf;
    opts->pkcs12_pass_len = pass->len;
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"san", required_argument, NULL, 's'},
        {"ttl", required_argument, NULL, 't'},
        {"usage", required_argument, NULL, 'u'},
        {"key-type", required_argument, NULL, 'k'},
        {"csr", required_argument, NULL, 'c'},
        {"out", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},
        {"ca-url", required_argument, NULL, 'U'},
        {"root", required_argument, NULL, 'R'},
        {"token", required_argument, NULL, 'T'},
        {"token-file", required_argument, NULL, 'F'},
        {"retry-for", required_argument, NULL, 'r'},
        {"pem-bundle", no_argument, NULL, 'P'},
        {"parents", no_argument, NULL, 'p'},
        {"pkcs12", no_argument, NULL, '1'},
        {"passphrase-file", required_argument, NULL, 'f'},
        {"passphrase-credential", required_argument, NULL, 'C'},
        {0, 0, 0, 0},
    };
    struct minica_issue_request req;
    memset(&req, 0, sizeof(req));
    const char *sans[MINICA_MAX_SANS];
    const char *dir = NULL, *out = ".", *csr_path = NULL;
    const char *ca_url = NULL, *root = NULL, *token = NULL, *token_file = NULL;
    int usage_given = 0;
    int json = 0;
    unsigned flags = 0;
    int64_t retry_for = 0;
    int retry_given = 0;
    const char *pass_file = NULL, *pass_cred = NULL;
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("issue", stdout);
        case 'D':
            dir = optarg;
            break;
        case 's':
            if (req.n_sans == MINICA_MAX_SANS)
                return cli_usage("issue", "too many --san (at most %d)", MINICA_MAX_SANS);
            sans[req.n_sans++] = optarg;
            break;
        case 't':
            if (minica_ttl_parse(optarg, &req.ttl, &err) != 0)
                return cli_usage("issue", "--ttl: %s", err.msg);
            break;
        case 'u':
            if (minica_usage_parse(optarg, &req.usage, &err) != 0)
                return cli_usage("issue", "--usage: %s", err.msg);
            usage_given = 1;
            break;
        case 'k':
            if (minica_key_type_parse(optarg, &req.key_type, &err) != 0)
                return cli_usage("issue", "--key-type: %s", err.msg);
            break;
        case 'c':
            csr_path = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'P':
            flags |= MINICA_DELIVER_PEM_BUNDLE;
            break;
        case 'p':
            flags |= MINICA_DELIVER_PARENTS;
            break;
        case '1':
            flags |= MINICA_DELIVER_PKCS12;
            break;
        case 'f':
            pass_file = optarg;
            break;
        case 'C':
            pass_cred = optarg;
            break;
        case 'U':
            ca_url = optarg;
            break;
        case 'R':
            root = optarg;
            break;
        case 'T':
            token = optarg;
            break;
        case 'F':
            token_file = optarg;
            break;
        case 'r':
            if (minica_remote_retry_for_parse(optarg, &retry_for, &err) != 0)
                return cli_usage("issue", "--retry-for: %s", err.msg);
            retry_given = 1;
            break;
        default:
            return cli_bad_option("issue", argc, argv);
        }
    }
    if (optind >= argc)
        return cli_usage("issue", "missing NAME");
    /* issue a b c, as mkcert takes it: NAME a, then b and c as SANs. */
    for (int i = optind + 1; i < argc; i++) {
        if (req.n_sans == MINICA_MAX_SANS)
            return cli_usage("issue", "too many names (at most %d besides NAME)", MINICA_MAX_SANS);
        sans[req.n_sans++] = argv[i];
    }
    if (csr_path != NULL && req.key_type != MINICA_KEY_DEFAULT)
        return cli_usage("issue", "--key-type and --csr exclude each other (the CSR has the key)");
    if (csr_path != NULL && (flags & MINICA_DELIVER_PEM_BUNDLE))
        return cli_usage("issue", "--pem-bundle and --csr exclude each other (the bundle holds "
                                  "the key, which a CSR keeps elsewhere)");
    if (flags & MINICA_DELIVER_PKCS12) {
        if (csr_path != NULL)
            return cli_usage("issue", "--pkcs12 and --csr exclude each other (the PKCS#12 file "
                                      "holds the key, which a CSR keeps elsewhere)");
        if (pass_file != NULL && pass_cred != NULL)
            return cli_usage("issue",
                             "--passphrase-file and --passphrase-credential exclude each other");
        if (pass_file == NULL && pass_cred == NULL)
            return cli_usage("issue", "--pkcs12 needs --passphrase-file FILE or "
                                      "--passphrase-credential NAME (Java keystores open none "
                                      "without a passphrase)");
        if (pass_cred != NULL && minica_keys_check_credential(pass_cred, &err) != 0)
            return cli_usage("issue", "--passphrase-credential: %s", err.msg);
    } else if (pass_file != NULL || pass_cred != NULL) {
        return cli_usage("issue", "--%s goes with --pkcs12",
                         pass_file ? "passphrase-file" : "passphrase-credential");
    }
    req.name = argv[optind];
    req.sans = sans;

    /* Validate NAME and SANs before touching the CA, so usage errors stay usage errors. */
    struct minica_name name;
    if (minica_name_parse(req.name, &name, &err) != 0)
        return cli_usage("issue", "%s", err.msg);
    for (size_t i = 0; i < req.n_sans; i++)
        if (minica_name_parse(sans[i], &name, &err) != 0)
            return cli_usage("issue", "--san: %s", err.msg);

    struct minica_pkcs12_passphrase pass;
    struct minica_deliver_options opts = {flags, NULL, 0};
    memset(&pass, 0, sizeof(pass));
    if (ca_url != NULL || root != NULL || token != NULL || token_file != NULL || retry_given) {
        if (token != NULL && token_file != NULL)
            return cli_usage("issue", "--token and --token-file exclude each other");
        if (ca_url == NULL || root == NULL || (token == NULL && token_file == NULL))
            return cli_usage(
                "issue", "remote issuance needs --ca-url, --root and --token-file (or --token)");
        if (csr_path != NULL || req.ttl != 0)
            return cli_usage("issue", "--csr and --ttl do not apply to remote issuance (the "
                                      "token decides the TTL)");
        /* Before the token is spent. */
        if ((flags & MINICA_DELIVER_PKCS12) &&
            read_pkcs12_pass(&req, pass_file, pass_cred, &pass, &opts) != 0)
            return EXIT_FAIL;
        char *from_file = NULL;
        if (token_file != NULL && minica_token_file_read(token_file, &from_file, &err) != 0) {
            minica_pkcs12_passphrase_wipe(&pass);
            return cli_fail("issue", "%s", err.msg);
        }
        /* The token decides the usage; an explicit --usage must match it. */
        int ret = issue_remote(&req, ca_url, root, from_file ? from_file : token,
                               usage_given ? req.usage : 0, retry_for, out, &opts, json);
        if (from_file != NULL)
            minica_free_secret(from_file, strlen(from_file));
        minica_pkcs12_passphrase_wipe(&pass);
        return ret;
    }

    /* Before the CA is opened or anything signed: a passphrase file others
     * can read leaves no half issue behind. */
    if ((flags & MINICA_DELIVER_PKCS12) &&
        read_pkcs12_pass(&req, pass_file, pass_cred, &pass, &opts) != 0)
        return EXIT_FAIL;
    char *csr = NULL;
    if (csr_path != NULL && minica_read_file(csr_path, 64 * 1024, &csr, NULL, &err) != 0)
        return cli_fail("issue", "%s", err.msg);
    req.csr_pem = csr;

    struct minica_ca *ca = NULL;
    struct minica_issued issued;
    struct minica_output_paths paths;
    memset(&issued, 0, sizeof(issued));
    int ret = minica_ca_open(cli_state_dir(dir), &ca, &err);
    if (ret == 0) {
        minica_ca_set_actor(ca, "issue", "local");
        ret = minica_ca_issue_to_dir_opts(ca, &req, out, &opts, &issued, &paths, &err);
    }
    free(csr);
    minica_pkcs12_passphrase_wipe(&pass);
    if (ret != 0) {
        minica_ca_close(ca);
        /* Policy refusals already start with the name they refuse. */
        size_t nl = strlen(req.name);
        if (strncasecmp(err.msg, req.name, nl) == 0 && err.msg[nl] == ' ')
            return cli_fail("issue", "%s", err.msg);
        return cli_fail("issue", "%s: %s", req.name, err.msg);
    }
    char left[64], headline[1400];
    minica_duration_format(issued.not_after - issued.not_before - 60, left, sizeof(left));
    snprintf(headline, sizeof(headline), "Issued %s (serial %s), valid for %s, usage %s",
             issued.name, issued.serial, left, minica_usage_name(issued.usage));
    print_issued(&issued, &paths, flags, json, headline);
    minica_issued_free(&issued);
    minica_ca_close(ca);
    return EXIT_OK;
}

const struct cli_command cmd_issue_def = {
    "issue", run, "issue a short-lived certificate",
    "Usage: minica issue NAME [NAME2...] [--san DNS-or-IP]... [--ttl DURATION]\n"
    "                    [--usage server|client|both] [--key-type TYPE] [--csr FILE]\n"
    "                    [--out DIR [--parents]] [--pem-bundle] [--json] [--dir DIR]\n"
    "                    [--pkcs12 --passphrase-file FILE|--passphrase-credential NAME]\n"
    "       minica issue NAME --ca-url URL --root FILE --token-file FILE\n"
    "                    [--san ...] [--usage U] [--key-type TYPE] [--retry-for DURATION]\n"
    "                    [--out DIR [--parents]] [--pem-bundle] [--json]\n"
    "                    [--pkcs12 --passphrase-file FILE|--passphrase-credential NAME]\n"
    "\n"
    "Issues a certificate for NAME (a host name or an IP address) from the\n"
    "intermediate and writes, into --out (default: the current directory):\n"
    "  NAME.crt            the certificate\n"
    "  NAME.key            its private key (0600; not written with --csr)\n"
    "  NAME.fullchain.crt  certificate + intermediate (nginx ssl_certificate)\n"
    "  ca.crt              the root (nginx proxy_ssl_trusted_certificate)\n"
    "Existing files are replaced atomically; the previous certificate stays in\n"
    "the inventory until it expires or is revoked. A crash between two renames\n"
    "can leave a new key beside the old certificate: the next issue into the\n"
    "same --out says so on stderr (a warning line; --json: warning) and writes\n"
    "a matching pair.\n"
    "\n"
    "  NAME2...          more names, as mkcert takes them: the same as --san for\n"
    "                    each (minica issue a.svc b.svc 10.0.0.5); files are\n"
    "                    named after the first\n"
    "  --san NAME        another DNS name or IP address (repeatable); NAME is\n"
    "                    always the first subjectAltName\n"
    "  --ttl DURATION    validity, e.g. 90d, 36h, 1d12h (default: the policy's, 90d)\n"
    "  --usage U         server (default), client (nginx proxy_ssl_certificate),\n"
    "                    or both\n"
    "  --key-type TYPE   ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096\n"
    "                    (default: the policy's default_key_type, ec-p256)\n"
    "  --csr FILE        sign this PKCS#10 request instead of making a key; its names\n"
    "                    must equal NAME and --san\n"
    "  --out DIR         where to write the files (created 0700 if missing; its\n"
    "                    parent must exist, so a typo fails instead of making a\n"
    "                    tree)\n"
    "  --parents         also create the missing directories above --out\n"
    "  --pem-bundle      write NAME.pem (key, certificate and intermediate; 0600)\n"
    "                    and ca.crt instead of the three NAME files: key and\n"
    "                    chain are then replaced by one rename. nginx takes it as\n"
    "                    both ssl_certificate and ssl_certificate_key (minica\n"
    "                    nginx snippet --pem-bundle); not with --csr\n"
    "  --pkcs12          also write NAME.p12 (0600): key, certificate and\n"
    "                    intermediate as PKCS#12 for Java (keytool, the alias is\n"
    "                    NAME) and Windows, PBES2 AES-256-CBC and an HMAC-SHA256\n"
    "                    MAC; needs a passphrase; not with --csr. The PEM files\n"
    "                    are written as usual (minica export --pkcs12 makes one\n"
    "                    later)\n"
    "  --passphrase-file FILE\n"
    "                    the PKCS#12 passphrase: FILE's first line; FILE must be\n"
    "                    a regular file owned by root or you, no symlink, closed\n"
    "                    to group and others (chmod 600). Checked before\n"
    "                    anything is issued\n"
    "  --passphrase-credential NAME\n"
    "                    the passphrase from the systemd credential NAME\n"
    "                    ($CREDENTIALS_DIRECTORY, LoadCredentialEncrypted=)\n"
    "  --json            print the result as JSON\n"
    "\n"
    "Remote issuance (no local CA needed): with --ca-url URL --root FILE and a\n"
    "one-time token (minica token), the key is generated here and a CSR for NAME\n"
    "and --san is sent to 'minica serve' at URL; only the root in FILE (minica\n"
    "bootstrap) is trusted. The token decides the names, usage and TTL; NAME and\n"
    "--san must be exactly its names, and --usage, if given, its usage, or the\n"
    "CA refuses with one line, the token stays unspent and nothing is written.\n"
    "The same files as a local issue are written.\n"
    "  --token-file FILE one-time token read from FILE (whitespace trimmed); FILE\n"
    "                    must not be readable by group or others (chmod 600),\n"
    "                    be owned by root or you, sit in directories only root\n"
    "                    or you can write, and be no symlink or FIFO\n"
    "  --token TOKEN     the token itself: visible to every local user in ps and\n"
    "                    /proc while minica runs; prefer --token-file\n"
    "  --retry-for DURATION\n"
    "                    while the CA is unreachable or answers busy (machines\n"
    "                    behind one NAT enrolling at once), try again with\n"
    "                    growing, jittered waits for this long (default 3m; 0: a\n"
    "                    single attempt); then fail with \"the CA at URL is busy or\n"
    "                    refusing connections\"\n"};
