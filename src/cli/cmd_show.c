/* minica show: one certificate (by serial) or every one carrying a NAME. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minica/ca.h"
#include "minica/duration.h"
#include "minica/names.h"
#include "output.h"

enum show_format { SHOW_TEXT, SHOW_JSON, SHOW_PEM };

struct show_ctx {
    enum show_format format;
    int64_t now;
    size_t count;
    cJSON *array;
    char last_pem[16384];
    int64_t last_issued_at;
};

static int show_row(const struct minica_cert_row *row, void *p)
{
    struct show_ctx *ctx = p;
    ctx->count++;
    if (ctx->format == SHOW_JSON) {
        cJSON_AddItemToArray(ctx->array, cli_json_cert_row(row, ctx->now));
    } else if (ctx->format == SHOW_PEM) {
        /* Rows come soonest expiry first, which is not issuance order when
         * TTLs differ: keep the most recently issued one. */
        if (ctx->count == 1 || row->issued_at >= ctx->last_issued_at) {
            snprintf(ctx->last_pem, sizeof(ctx->last_pem), "%s", row->pem);
            ctx->last_issued_at = row->issued_at;
        }
    } else {
        char nb[32], na[32];
        minica_time_rfc3339(row->not_before, nb);
        minica_time_rfc3339(row->not_after, na);
        printf("%sserial:      %s\nname:        %s\nsans:        %s\nusage:       %s\n"
               "key type:    %s\nnot before:  %s\nnot after:   %s\nstatus:      %s\n"
               "sha256:      %s\n",
               ctx->count > 1 ? "\n" : "", row->serial, row->name, row->sans, row->usage,
               row->key_type, nb, na,
               minica_cert_status_name(minica_cert_row_status(row, ctx->now)),
               row->fingerprint_sha256);
        if (row->revoked_at) {
            char ra[32];
            minica_time_rfc3339(row->revoked_at, ra);
            printf("revoked at:  %s (reason %d)\n", ra, row->revoke_reason);
        }
    }
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"json", no_argument, NULL, 'j'},
        {"pem", no_argument, NULL, 'p'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL;
    struct show_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("show", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'j':
        case 'p':
            if (ctx.format != SHOW_TEXT && ctx.format != (c == 'j' ? SHOW_JSON : SHOW_PEM))
                return cli_usage("show", "--json and --pem exclude each other");
            ctx.format = c == 'j' ? SHOW_JSON : SHOW_PEM;
            break;
        default:
            return cli_bad_option("show", argc, argv);
        }
    }
    if (optind >= argc)
        return cli_usage("show", "missing NAME or SERIAL");
    if (optind + 1 < argc)
        return cli_usage("show", "unexpected argument '%s'", argv[optind + 1]);
    const char *what = argv[optind];

    struct minica_store *store;
    if (minica_state_open_store(cli_state_dir(dir), &store, &err) != 0)
        return cli_fail("show", "%s", err.msg);
    ctx.now = minica_time_now();
    if (ctx.format == SHOW_JSON)
        ctx.array = cJSON_CreateArray();
    struct minica_cert_filter filter;
    memset(&filter, 0, sizeof(filter));
    filter.now = ctx.now;
    char serial[MINICA_SERIAL_HEX_MAX];
    int ret = 0;
    /* A serial first (hex, with or without colons), then a name. */
    if (minica_serial_normalize(what, serial, sizeof(serial), NULL) == 0) {
        filter.serial = serial;
        ret = minica_store_list_certs(store, &filter, show_row, &ctx, &err);
    }
    struct minica_name name;
    if (ret == 0 && ctx.count == 0 && minica_name_parse(what, &name, NULL) == 0) {
        filter.serial = NULL;
        filter.name = name.text;
        ret = minica_store_list_certs(store, &filter, show_row, &ctx, &err);
    }
    minica_store_close(store);
    if (ret != 0) {
        cJSON_Delete(ctx.array);
        return cli_fail("show", "%s", err.msg);
    }
    if (ctx.count == 0) {
        cJSON_Delete(ctx.array);
        return cli_fail("show", "%s: no such certificate in the inventory", what);
    }
    if (ctx.format == SHOW_JSON)
        cli_print_json(ctx.array);
    else if (ctx.format == SHOW_PEM)
        fputs(ctx.last_pem, stdout);
    return EXIT_OK;
}

const struct cli_command cmd_show_def = {
    "show", run, "show a certificate from the inventory",
    "Usage: minica show NAME|SERIAL [--json | --pem] [--dir DIR]\n"
    "\n"
    "Shows the certificate with SERIAL (hex, any case, colons allowed), or every\n"
    "certificate that carries NAME (a DNS name or an IP address) as any of its\n"
    "names, the first or a SAN.\n"
    "\n"
    "  --json   an array of objects, as 'minica list --json'\n"
    "  --pem    the PEM certificate (for NAME: the newest one carrying it)\n"};
