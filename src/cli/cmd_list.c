/* minica list: the inventory (or a NAME's part of it), as a table or JSON;
 * --expiring for monitoring. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ca_warn.h"
#include "cli.h"
#include "minica/ca.h"
#include "minica/duration.h"
#include "minica/names.h"
#include "output.h"

struct list_ctx {
    int json;
    int64_t now;
    size_t count;
    cJSON *array;
};

static int print_row(const struct minica_cert_row *row, void *p)
{
    struct list_ctx *ctx = p;
    ctx->count++;
    if (ctx->json) {
        cJSON_AddItemToArray(ctx->array, cli_json_cert_row(row, ctx->now));
        return 0;
    }
    char na[32];
    minica_time_rfc3339(row->not_after, na);
    if (ctx->count == 1)
        printf("%-32s  %-30s  %-7s  %-20s  %-6s  %s\n", "SERIAL", "NAME", "STATUS", "NOT_AFTER",
               "USAGE", "SANS");
    printf("%-32s  %-30s  %-7s  %-20s  %-6s  %s\n", row->serial, row->name,
           minica_cert_status_name(minica_cert_row_status(row, ctx->now)), na, row->usage,
           row->sans);
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"expiring", required_argument, NULL, 'e'},
        {"status", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL;
    struct minica_cert_filter filter;
    memset(&filter, 0, sizeof(filter));
    struct list_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    int64_t expiring = 0;
    unsigned status = MINICA_STATUS_VALID;
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("list", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'e':
            if (minica_duration_parse(optarg, &expiring, &err) != 0)
                return cli_usage("list", "--expiring: %s", err.msg);
            break;
        case 's':
            if (strcasecmp(optarg, "valid") == 0)
                status = MINICA_STATUS_VALID;
            else if (strcasecmp(optarg, "revoked") == 0)
                status = MINICA_STATUS_REVOKED;
            else if (strcasecmp(optarg, "expired") == 0)
                status = MINICA_STATUS_EXPIRED;
            else if (strcasecmp(optarg, "all") == 0)
                status = MINICA_STATUS_ALL;
            else
                return cli_usage("list",
                                 "--status: unknown status '%s' (use valid, revoked, "
                                 "expired or all)",
                                 optarg);
            break;
        case 'j':
            ctx.json = 1;
            break;
        default:
            return cli_bad_option("list", argc, argv);
        }
    }
    /* NAME is any of a certificate's names, as in revoke and show. */
    struct minica_name name;
    if (optind < argc) {
        if (minica_name_parse(argv[optind], &name, &err) != 0)
            return cli_usage("list", "%s", err.msg);
        filter.name = name.text;
        optind++;
    }
    if (optind < argc)
        return cli_usage("list", "unexpected argument '%s'", argv[optind]);

    struct minica_store *store;
    if (minica_state_open_store(cli_state_dir(dir), &store, &err) != 0)
        return cli_fail("list", "%s", err.msg);
    ctx.now = minica_time_now();
    filter.now = ctx.now;
    filter.status_mask = expiring ? MINICA_STATUS_VALID : status;
    if (expiring)
        filter.not_after_before = ctx.now + expiring;
    if (ctx.json)
        ctx.array = cJSON_CreateArray();
    int ret = minica_store_list_certs(store, &filter, print_row, &ctx, &err);
    minica_store_close(store);
    if (ret != 0) {
        cJSON_Delete(ctx.array);
        return cli_fail("list", "%s", err.msg);
    }
    if (ctx.json)
        cli_print_json(ctx.array);
    /* --expiring is a monitoring check: anything in the window is a
     * finding, and so is an intermediate that shortens every renewal. */
    char warning[1024];
    int short_ca = expiring && cli_warn_short_intermediate("list", cli_state_dir(dir), ctx.now,
                                                           warning, sizeof(warning));
    if (expiring && (ctx.count > 0 || short_ca))
        return EXIT_FAIL;
    return EXIT_OK;
}

const struct cli_command cmd_list_def = {
    "list", run, "list issued certificates",
    "Usage: minica list [NAME] [--status valid|revoked|expired|all]\n"
    "                   [--expiring DURATION] [--json] [--dir DIR]\n"
    "\n"
    "Lists the inventory, soonest expiry first (default: valid certificates).\n"
    "With NAME (a DNS name or an IP address), only the certificates that carry\n"
    "it as any of their names, the first or a SAN: what `minica revoke NAME`\n"
    "would revoke.\n"
    "\n"
    "  --status S          which certificates to list (default: valid)\n"
    "  --expiring DURATION only valid certificates expiring within DURATION; exits 1\n"
    "                      when there is any (for cron and monitoring), and also\n"
    "                      when the CA's intermediate has less than max_ttl left\n"
    "                      (renewals are shortened: one warning line on stderr;\n"
    "                      rotate it with minica ca rotate)\n"
    "  --json              an array of objects: serial, name, sans, usage, key_type,\n"
    "                      not_before, not_after (RFC 3339 UTC), status,\n"
    "                      fingerprint_sha256\n"};
