/* minica serve: run the CA's HTTPS enrollment API in the foreground (for
 * systemd). Parsing and the stderr log only; server.h does the work. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "minica/duration.h"
#include "minica/issue.h"
#include "minica/server.h"
#include "minica/signer_proc.h"

/* One line per event on stderr: journald adds the time, a terminal does not. */
static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    char when[21];
    minica_time_rfc3339((int64_t)time(NULL), when);
    fprintf(stderr, "%s minica serve: %s\n", when, line);
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"listen", required_argument, NULL, 'l'},
        {"san", required_argument, NULL, 's'},
        {"max-connections", required_argument, NULL, 'm'},
        {"max-per-ip", required_argument, NULL, 'p'},
        {"max-per-net", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},
        {"cert-ttl", required_argument, NULL, 'c'},
        {"signer", required_argument, NULL, 'S'},
        {"user", required_argument, NULL, 'u'},
        {0, 0, 0, 0},
    };
    struct minica_serve_options opts;
    memset(&opts, 0, sizeof(opts));
    const char *sans[MINICA_MAX_SANS];
    const char *dir = NULL;
    int in_process = 0;
    struct minica_err err;
    int64_t seconds;
    char *end;
    long n;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("serve", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'l':
            if (minica_server_check_listen(optarg, &err) != 0)
                return cli_usage("serve", "%s", err.msg);
            opts.listen = optarg;
            break;
        case 's':
            if (opts.n_sans == MINICA_MAX_SANS)
                return cli_usage("serve", "too many --san (at most %d)", MINICA_MAX_SANS);
            sans[opts.n_sans++] = optarg;
            break;
        case 'm':
        case 'p':
        case 'n':
            n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n < 1 || n > 100000)
                return cli_usage("serve", "--%s: expected a number from 1 to 100000, not '%s'",
                                 c == 'm'   ? "max-connections"
                                 : c == 'p' ? "max-per-ip"
                                            : "max-per-net",
                                 optarg);
            if (c == 'm')
                opts.max_connections = (unsigned)n;
            else if (c == 'p')
                opts.per_ip_connections = (unsigned)n;
            else
                opts.per_net_connections = (unsigned)n;
            break;
        case 't':
            if (minica_duration_parse(optarg, &seconds, &err) != 0)
                return cli_usage("serve", "--timeout: %s", err.msg);
            if (seconds > 3600)
                return cli_usage("serve", "--timeout: at most 1h");
            opts.timeout = (unsigned)seconds;
            break;
        case 'c':
            if (minica_duration_parse(optarg, &opts.cert_ttl, &err) != 0)
                return cli_usage("serve", "--cert-ttl: %s", err.msg);
            break;
        case 'S':
            if (strcasecmp(optarg, "process") == 0)
                in_process = 0;
            else if (strcasecmp(optarg, "in-process") == 0)
                in_process = 1;
            else
                return cli_usage("serve", "--signer: expected process or in-process, not '%s'",
                                 optarg);
            break;
        case 'u':
            if (*optarg == '\0')
                return cli_usage("serve", "--user: expected a user name");
            opts.user = optarg;
            break;
        default:
            return cli_bad_option("serve", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage("serve", "unexpected argument '%s'", argv[optind]);
    struct minica_name name;
    for (size_t i = 0; i < opts.n_sans; i++)
        if (minica_name_parse(sans[i], &name, &err) != 0)
            return cli_usage("serve", "--san: %s", err.msg);
    opts.sans = sans;
    opts.log = log_line;

    if (in_process && opts.user != NULL)
        return cli_usage("serve", "--user needs the signer process (not --signer in-process)");

    /* The signer first, while this process holds nothing: it is a fork. */
    struct minica_signer_proc *proc = NULL;
    struct minica_server *srv = NULL;
    int ret =
        in_process ? 0 : minica_signer_proc_start(cli_state_dir(dir), log_line, NULL, &proc, &err);
    if (ret == 0)
        ret = proc != NULL ? minica_server_open_signed_by(cli_state_dir(dir), proc, &srv, &err)
                           : minica_server_open(cli_state_dir(dir), &srv, &err);
    if (ret == 0)
        ret = minica_server_run(srv, &opts, &err);
    minica_server_close(srv);
    minica_signer_proc_stop(proc);
    if (ret != 0)
        return cli_fail("serve", "%s", err.msg);
    return EXIT_OK;
}

const struct cli_command cmd_serve_def = {
    "serve", run, "serve enrollment and renewal over HTTPS",
    "Usage: minica serve [--listen ADDR:PORT] [--san NAME|IP]... [--max-connections N]\n"
    "                    [--max-per-ip N] [--max-per-net N] [--timeout DURATION]\n"
    "                    [--cert-ttl DURATION] [--signer process|in-process]\n"
    "                    [--user NAME] [--dir DIR]\n"
    "\n"
    "Runs the CA's HTTPS API in the foreground until SIGTERM or SIGINT, logging\n"
    "one line per request on stderr. Machines enroll with a one-time token\n"
    "(minica token; minica issue --ca-url; the agent's token_file) and renew\n"
    "with their current certificate as TLS client certificate.\n"
    "\n"
    "  GET  /v1/health  {\"status\":\"ok\"}\n"
    "  GET  /v1/roots   the current roots, then the cross-certificates in use (PEM)\n"
    "  POST /v1/sign    {\"token\": T, \"csr\": PEM} -> {\"certificate\", \"chain\",\n"
    "                   \"serial\", \"not_after\"}\n"
    "  POST /v1/renew   {\"csr\": PEM} over mutual TLS: same names and usage\n"
    "  GET  /v1/crls    every current intermediate's CRL (PEM, the active one\n"
    "                   first; the agent reads this one)\n"
    "  GET  /v1/crl     the active intermediate's CRL only (DER)\n"
    "  /acme/directory  ACME (RFC 8555) for certbot, lego and other ACME clients:\n"
    "                   accounts, orders for dns and ip names the policy permits,\n"
    "                   http-01 and tls-alpn-01 (the CA dials only addresses\n"
    "                   [acme] validate_ip allows, default permit_ip), finalize,\n"
    "                   certificate (with the chain of the intermediate that\n"
    "                   signed it), revokeCert, keyChange, renewalInfo (RFC 9773:\n"
    "                   renew from 2/3 of the life, at once when revoked or after\n"
    "                   a rotation) and newOrder's replaces. POSTs must be\n"
    "                   application/jose+json. Off unless minica.conf has [acme]\n"
    "                   enabled = yes; External Account Binding keys (minica acme\n"
    "                   eab) are required unless eab = optional. URLs follow the\n"
    "                   Host the client used; the directory URL is logged at start.\n"
    "\n"
    "TLS 1.2 or 1.3 with forward-secret AEAD suites only. The server's own\n"
    "certificate comes from this CA (the host's name, every --san, and the\n"
    "--listen address when it is a specific IP), is kept in DIR/serve.crt and\n"
    "DIR/serve.key, and is re-issued when two thirds of its life are gone,\n"
    "without a restart.\n"
    "\n"
    "SIGHUP reloads the CA after 'minica ca rotate', 'ca rollover' or 'ca\n"
    "drop-cross': requests in flight finish with the CA they started with, new\n"
    "ones get the new issuer, the server's certificate is re-issued at once\n"
    "when its chain is not the CA's of now (serve then sends leaf, intermediate\n"
    "and, during a rollover, the cross-certificate), and client certificates\n"
    "of every current intermediate are asked for and renewed. A reload that\n"
    "fails (the CA cannot be opened) keeps the CA in use and logs one line.\n"
    "\n"
    "Every issuance and refusal is in the audit log (minica log): the first\n"
    "refusal of a kind from one client at once, its repeats counted for a\n"
    "minute into one row.\n"
    "\n"
    "  --listen ADDR:PORT  where to listen (default :9443, every address;\n"
    "                      IPv6 as [::1]:9443)\n"
    "  --san NAME|IP       another name for the server's certificate (repeatable)\n"
    "  --max-connections N requests served at once (default 256); twice as many\n"
    "                      connections are held in all, the busy ones included\n"
    "  --max-per-ip N      served at once from one address (default 16, at most\n"
    "                      --max-connections)\n"
    "  --max-per-net N     served at once from one /24 (IPv4) or /64 (IPv6)\n"
    "                      (default: a quarter of --max-connections, at least\n"
    "                      --max-per-ip)\n"
    "  --timeout DURATION  close a connection idle this long (default 30s); the TLS\n"
    "                      handshake and the request's headers get at most 10s\n"
    "  --cert-ttl DURATION validity of the server's certificate (default: the\n"
    "                      policy's default TTL)\n"
    "  --signer process    (the default) the CA keys live in a separate signer\n"
    "                      process; in-process keeps them in the network process,\n"
    "                      for comparison only\n"
    "  --user NAME         started as root: the network process becomes NAME\n"
    "                      (which must be able to reach the inventory, e.g. a\n"
    "                      PostgreSQL one); without it, uid 0 without capabilities\n"
    "\n"
    "Privilege separation. The process that parses the network (TLS, HTTP,\n"
    "JSON, CSRs, JWS) holds no CA key: a signer process forked at start reads\n"
    "them (key files, encrypted ones, PKCS#11 tokens), and signs only leaf\n"
    "certificates and CRLs of its own CA that pass its checks, one request at\n"
    "a time over a socketpair. Started as root, the network process covers the\n"
    "CA key files in a mount namespace of its own, then drops every capability\n"
    "(or becomes --user); it always runs with no_new_privs. The signer process\n"
    "is restarted when it dies; meanwhile signing requests get 503 with\n"
    "Retry-After and nothing is recorded. SIGHUP makes a new signer read the\n"
    "keys again before the CA is reloaded.\n"
    "\n"
    "A connection beyond its address's or network's share (machines behind one\n"
    "NAT share an address) is answered 503 with Retry-After, before its body\n"
    "is read and without the CA, and the client retries (minica issue\n"
    "--retry-for, the agent's retry_for); /v1/health and /v1/roots are\n"
    "answered anyway. A network may hold at most\n"
    "--max-connections connections, busy ones included, and the last eighth of\n"
    "the slots go only to networks holding fewer than 4, so that a health\n"
    "check or a renewal from elsewhere still gets through; past that, new\n"
    "connections are closed at once.\n"
    "\n"
    "When a PostgreSQL inventory cannot be reached (down or restarting), a\n"
    "request that needs it is answered 503 {\"error\":\"unavailable\"} with\n"
    "Retry-After: 5 (ACME: 503 serverInternal); serve reconnects by itself\n"
    "once the database is back. At start it exits 1 when it cannot reach it.\n"
    "\n"
    "Request bodies are limited to 64 KiB (413 from the Content-Length, before\n"
    "reading the body; a longer chunked body gets its connection closed) and\n"
    "headers to 32 KiB.\n"};
