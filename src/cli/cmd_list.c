/* minica list: the inventory (or a NAME's part of it), as a table or JSON;
 * --expiring for monitoring. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <stdlib.h>

#include "ca_warn.h"
#include "cli.h"
#include "minica/agent.h"
#include "minica/ca.h"
#include "minica/duration.h"
#include "minica/fsutil.h"
#include "minica/inspect.h"
#include "minica/names.h"
#include "output.h"
#include "table.h"

/* What list shows. superseded: valid, but a newer certificate of its name
 * is valid too (and it is not what a managed file here holds). */
enum { SHOW_VALID = 1, SHOW_REVOKED = 2, SHOW_EXPIRED = 4, SHOW_SUPERSEDED = 8, SHOW_ALL = 15 };

struct list_ctx {
    int json;
    int64_t now;
    size_t count;
    cJSON *array;
    unsigned show;
    char (*deployed)[MINICA_SERIAL_HEX_MAX]; /* sorted serials in managed files */
    size_t n_deployed;
    struct table table;
};

/* The piped widths are what scripts have parsed since the first release. */
static const struct table_column list_columns[] = {
    {"SERIAL", 32, 0},    {"NAME", 30, 0}, {"STATUS", 10, 0},
    {"NOT_AFTER", 20, 0}, {"USAGE", 6, 0}, {"SANS", 0, 0},
};
#define N_LIST_COLUMNS (sizeof(list_columns) / sizeof(list_columns[0]))

static int serial_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static const char *status_of(const struct list_ctx *ctx, const struct minica_cert_row *row,
                             unsigned *bit)
{
    enum minica_cert_status st = minica_cert_row_status(row, ctx->now);
    *bit = st == MINICA_STATUS_REVOKED   ? SHOW_REVOKED
           : st == MINICA_STATUS_EXPIRED ? SHOW_EXPIRED
                                         : SHOW_VALID;
    if (st == MINICA_STATUS_VALID && row->superseded &&
        (ctx->n_deployed == 0 || bsearch(row->serial, ctx->deployed, ctx->n_deployed,
                                         sizeof(ctx->deployed[0]), serial_cmp) == NULL)) {
        *bit = SHOW_SUPERSEDED;
        return "superseded";
    }
    return minica_cert_status_name(st);
}

/* As minica inspect says "expiring": within 30 days, or a third of the
 * lifetime when that is shorter. Only a colour: the word stays "valid". */
static int expiring_soon(const struct minica_cert_row *row, int64_t now)
{
    int64_t window = MINICA_INSPECT_EXPIRING_DEFAULT;
    if ((row->not_after - row->not_before) / 3 < window)
        window = (row->not_after - row->not_before) / 3;
    return row->not_after - now < window;
}

static int print_row(const struct minica_cert_row *row, void *p)
{
    struct list_ctx *ctx = p;
    unsigned bit;
    const char *status = status_of(ctx, row, &bit);
    if (!(ctx->show & bit))
        return 0;
    ctx->count++;
    if (ctx->json) {
        cJSON *o = cli_json_cert_row(row, ctx->now);
        cJSON_ReplaceItemInObjectCaseSensitive(o, "status", cJSON_CreateString(status));
        cJSON_AddItemToArray(ctx->array, o);
        return 0;
    }
    char na[32];
    minica_time_rfc3339(row->not_after, na);
    if (ctx->count == 1)
        table_header(&ctx->table);
    const char *cells[N_LIST_COLUMNS] = {row->serial, row->name, status, na, row->usage, row->sans};
    enum table_color colors[N_LIST_COLUMNS] = {TABLE_PLAIN};
    colors[2] =
        expiring_soon(row, ctx->now) && bit == SHOW_VALID ? TABLE_YELLOW : cli_status_color(status);
    /* Out of memory is kept in the table and reported by table_end. */
    table_row(&ctx->table, cells, colors);
    return 0;
}

/* The serials the agent's managed files hold on this host: still deployed,
 * so never hidden as superseded. No agent.conf, no managed files. */
static int load_deployed(struct list_ctx *ctx, const char *config, struct minica_err *err)
{
    int explicit = config != NULL;
    if (!explicit) {
        if (!minica_file_exists(MINICA_AGENT_DEFAULT_CONFIG))
            return MINICA_OK;
        config = MINICA_AGENT_DEFAULT_CONFIG;
    }
    struct minica_agent_config cfg;
    minica_agent_config_init(&cfg);
    int ret = minica_agent_config_load(&cfg, config, NULL, err);
    /* The default agent.conf is root's: `sudo -u minica minica list` on the
     * CA host cannot read it, and lists as if nothing were deployed. */
    if (ret != 0 && !explicit) {
        minica_agent_config_free(&cfg);
        return MINICA_OK;
    }
    if (ret == 0 && cfg.n_certs > 0 &&
        (ctx->deployed = calloc(cfg.n_certs, sizeof(ctx->deployed[0]))) == NULL)
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
    for (size_t i = 0; ret == 0 && i < cfg.n_certs; i++) {
        int64_t not_after;
        struct minica_err ferr;
        if (minica_agent_read_leaf(&cfg.certs[i], ctx->deployed[ctx->n_deployed], &not_after,
                                   &ferr) == 0)
            ctx->n_deployed++;
    }
    minica_agent_config_free(&cfg);
    if (ret == 0 && ctx->n_deployed > 1)
        qsort(ctx->deployed, ctx->n_deployed, sizeof(ctx->deployed[0]), serial_cmp);
    return ret;
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"expiring", required_argument, NULL, 'e'},
        {"status", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"all", no_argument, NULL, 'a'},
        {"config", required_argument, NULL, 'c'},
        {"color", required_argument, NULL, 'C'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL, *config = NULL;
    struct minica_cert_filter filter;
    memset(&filter, 0, sizeof(filter));
    struct list_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    int64_t expiring = 0;
    unsigned show = SHOW_VALID;
    enum cli_color_when color = CLI_COLOR_AUTO;
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
                show = SHOW_VALID;
            else if (strcasecmp(optarg, "superseded") == 0)
                show = SHOW_SUPERSEDED;
            else if (strcasecmp(optarg, "revoked") == 0)
                show = SHOW_REVOKED;
            else if (strcasecmp(optarg, "expired") == 0)
                show = SHOW_EXPIRED;
            else if (strcasecmp(optarg, "all") == 0)
                show = SHOW_ALL;
            else
                return cli_usage("list",
                                 "--status: unknown status '%s' (use valid, superseded, "
                                 "revoked, expired or all)",
                                 optarg);
            break;
        case 'a':
            show = SHOW_ALL;
            break;
        case 'c':
            config = optarg;
            break;
        case 'j':
            ctx.json = 1;
            break;
        case 'C':
            if (cli_color_parse(optarg, &color) != 0)
                return cli_usage("list", "--color: '%s' is not auto, always or never", optarg);
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
    int ret;
    if (minica_state_open_store(cli_state_dir(dir), &store, &err) != 0)
        return cli_fail("list", "%s", err.msg);
    ctx.now = minica_time_now();
    ctx.show = expiring ? SHOW_VALID : show;
    if ((ret = load_deployed(&ctx, config, &err)) != 0) {
        minica_store_close(store);
        return cli_fail("list", "%s", err.msg);
    }
    filter.now = ctx.now;
    filter.mark_superseded = 1;
    filter.status_mask = (ctx.show & (SHOW_VALID | SHOW_SUPERSEDED) ? MINICA_STATUS_VALID : 0) |
                         (ctx.show & SHOW_REVOKED ? MINICA_STATUS_REVOKED : 0) |
                         (ctx.show & SHOW_EXPIRED ? MINICA_STATUS_EXPIRED : 0);
    if (expiring)
        filter.not_after_before = ctx.now + expiring;
    if (ctx.json)
        ctx.array = cJSON_CreateArray();
    table_init_stdout(&ctx.table, list_columns, N_LIST_COLUMNS, color);
    ret = minica_store_list_certs(store, &filter, print_row, &ctx, &err);
    minica_store_close(store);
    free(ctx.deployed);
    /* What was read is printed, as the piped form always did row by row. */
    int table_ret = table_end(&ctx.table);
    table_free(&ctx.table);
    if (ret != 0) {
        cJSON_Delete(ctx.array);
        return cli_fail("list", "%s", err.msg);
    }
    if (table_ret != 0)
        return cli_fail("list", "out of memory");
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
    "Usage: minica list [NAME] [--status valid|superseded|revoked|expired|all]\n"
    "                   [--all] [--expiring DURATION] [--config FILE] [--json]\n"
    "                   [--color=WHEN] [--dir DIR]\n"
    "\n"
    "Lists the inventory, soonest expiry first. By default, what is current:\n"
    "the newest valid certificate of each name, plus any older one a managed\n"
    "file of this host still holds (the agent configuration: --config, or\n"
    "/etc/minica/agent.conf when it exists). A valid certificate with a newer\n"
    "valid one for its name is 'superseded' and shown with --all or\n"
    "--status superseded; a renewal the agent rolled back is revoked, reason\n"
    "superseded. With NAME (a DNS name or an IP address), only the\n"
    "certificates that carry it as any of their names, the first or a SAN:\n"
    "what `minica revoke NAME` would revoke.\n"
    "\n"
    "  --status S          which certificates to list (default: valid, the\n"
    "                      current ones)\n"
    "  --all               every certificate, with its status\n"
    "  --expiring DURATION only current certificates expiring within DURATION\n"
    "                      (a superseded one has been renewed); exits 1 when there\n"
    "                      is any (for cron and monitoring), and also when the\n"
    "                      CA's intermediate has less than max_ttl left (renewals\n"
    "                      are shortened: one warning line on stderr; rotate it\n"
    "                      with minica ca rotate)\n"
    "  --config FILE       the agent configuration whose files count as deployed\n"
    "                      (the default one is skipped when it cannot be read)\n"
    "  --json              an array of objects: serial, name, sans, usage, key_type,\n"
    "                      not_before, not_after (RFC 3339 UTC), status,\n"
    "                      fingerprint_sha256 (never coloured)\n"
    "  --color=WHEN        auto (the default: colour on a terminal, unless\n"
    "                      NO_COLOR is set, or TERM is unset or dumb), always\n"
    "                      (piped too, and over NO_COLOR), never\n"
    "\n"
    "On a terminal the columns are as wide as their widest entry, and the\n"
    "status is coloured: valid green (yellow when it expires within 30 days\n"
    "or a third of its lifetime), superseded dim, revoked and expired red.\n"
    "Piped, every line keeps its fixed-width form.\n"};
