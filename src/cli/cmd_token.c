/* minica token: make a one-time enrollment token for `minica serve`, list
 * tokens, revoke one. Parsing and printing only; token.h does the work. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "minica/duration.h"
#include "minica/token.h"
#include "output.h"
#include "table.h"

/* The piped widths are what scripts have parsed since the first release. */
static const struct table_column token_columns[] = {
    {"ID", 16, 0},      {"STATE", 8, 0},    {"USAGE", 6, 0},
    {"EXPIRES", 20, 0}, {"USED BY", 32, 0}, {"NAMES", 0, 0},
};
#define N_TOKEN_COLUMNS (sizeof(token_columns) / sizeof(token_columns[0]))

struct token_list {
    cJSON *array; /* --json */
    struct table table;
};

static int print_row(const struct minica_token_row *row, void *ctx)
{
    struct token_list *tl = ctx;
    cJSON *array = tl->array;
    int64_t now = minica_time_now();
    const char *state = minica_token_state_name(minica_token_state(row, now));
    char expires[21];
    minica_time_rfc3339(row->expires_at, expires);
    if (array != NULL) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", row->id);
        cJSON_AddStringToObject(o, "name", row->name);
        cJSON_AddItemToObject(o, "sans", cli_json_sans(row->sans));
        cJSON_AddStringToObject(o, "usage", row->usage);
        cJSON_AddNumberToObject(o, "ttl_seconds", (double)row->ttl);
        cJSON_AddStringToObject(o, "state", state);
        char t[21];
        minica_time_rfc3339(row->created_at, t);
        cJSON_AddStringToObject(o, "created_at", t);
        cJSON_AddStringToObject(o, "expires_at", expires);
        if (row->used_at) {
            minica_time_rfc3339(row->used_at, t);
            cJSON_AddStringToObject(o, "used_at", t);
        }
        if (row->used_by[0])
            cJSON_AddStringToObject(o, "used_by", row->used_by);
        if (row->revoked_at) {
            minica_time_rfc3339(row->revoked_at, t);
            cJSON_AddStringToObject(o, "revoked_at", t);
        }
        cJSON_AddItemToArray(array, o);
        return 0;
    }
    const char *cells[N_TOKEN_COLUMNS] = {
        row->id, state, row->usage, expires, row->used_by[0] ? row->used_by : "-", row->sans};
    enum table_color colors[N_TOKEN_COLUMNS] = {TABLE_PLAIN};
    colors[1] = cli_status_color(state);
    /* Out of memory is kept in the table and reported by table_end. */
    table_row(&tl->table, cells, colors);
    return 0;
}

static int token_list(const char *dir, int json, enum cli_color_when color)
{
    struct minica_store *store = NULL;
    struct minica_err err;
    if (minica_state_open_store(cli_state_dir(dir), &store, &err) != 0)
        return cli_fail("token", "%s", err.msg);
    struct token_list tl;
    tl.array = json ? cJSON_CreateArray() : NULL;
    table_init_stdout(&tl.table, token_columns, N_TOKEN_COLUMNS, color);
    if (!json)
        table_header(&tl.table);
    int ret = minica_store_list_tokens(store, print_row, &tl, &err);
    minica_store_close(store);
    int table_ret = table_end(&tl.table);
    table_free(&tl.table);
    if (ret != 0) {
        cJSON_Delete(tl.array);
        return cli_fail("token", "%s", err.msg);
    }
    if (table_ret != 0)
        return cli_fail("token", "out of memory");
    if (json)
        cli_print_json(tl.array);
    return EXIT_OK;
}

static int token_revoke(const char *dir, const char *id)
{
    struct minica_ca *ca = NULL;
    struct minica_err err;
    int64_t before = 0;
    int ret = minica_ca_open(cli_state_dir(dir), &ca, &err);
    if (ret == 0) {
        minica_ca_set_actor(ca, "token", "local");
        ret = minica_token_revoke(ca, id, &before, &err);
    }
    minica_ca_close(ca);
    if (ret != 0)
        return cli_fail("token", "revoke: %s", err.msg);
    if (before != 0) {
        char when[32];
        minica_time_rfc3339(before, when);
        printf("Token %s was already revoked at %s; nothing changed\n", id, when);
    } else {
        printf("Revoked token %s\n", id);
    }
    return EXIT_OK;
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"san", required_argument, NULL, 's'},
        {"ttl", required_argument, NULL, 't'},
        {"usage", required_argument, NULL, 'u'},
        {"expires", required_argument, NULL, 'e'},
        {"json", no_argument, NULL, 'j'},
        {"color", required_argument, NULL, 'C'},
        {0, 0, 0, 0},
    };
    struct minica_token_request req;
    memset(&req, 0, sizeof(req));
    const char *sans[MINICA_MAX_SANS];
    const char *dir = NULL;
    int json = 0, only_json = 1, color_given = 0;
    enum cli_color_when color = CLI_COLOR_AUTO;
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("token", stdout);
        case 'D':
            dir = optarg;
            break;
        case 's':
            if (req.n_sans == MINICA_MAX_SANS)
                return cli_usage("token", "too many --san (at most %d)", MINICA_MAX_SANS);
            sans[req.n_sans++] = optarg;
            only_json = 0;
            break;
        case 't':
            if (minica_ttl_parse(optarg, &req.ttl, &err) != 0)
                return cli_usage("token", "--ttl: %s", err.msg);
            only_json = 0;
            break;
        case 'u':
            if (minica_usage_parse(optarg, &req.usage, &err) != 0)
                return cli_usage("token", "--usage: %s", err.msg);
            only_json = 0;
            break;
        case 'e':
            if (minica_duration_parse(optarg, &req.expires_in, &err) != 0)
                return cli_usage("token", "--expires: %s", err.msg);
            only_json = 0;
            break;
        case 'j':
            json = 1;
            break;
        case 'C':
            if (cli_color_parse(optarg, &color) != 0)
                return cli_usage("token", "--color: '%s' is not auto, always or never", optarg);
            color_given = 1;
            break;
        default:
            return cli_bad_option("token", argc, argv);
        }
    }
    if (optind >= argc)
        return cli_usage("token", "missing NAME (or 'list', 'revoke ID')");
    const char *first = argv[optind];
    if (strcmp(first, "list") == 0) {
        if (!only_json)
            return cli_usage("token", "list takes only --json, --color and --dir");
        if (optind + 1 < argc)
            return cli_usage("token", "unexpected argument '%s'", argv[optind + 1]);
        return token_list(dir, json, color);
    }
    if (strcmp(first, "revoke") == 0) {
        if (!only_json || json || color_given)
            return cli_usage("token", "revoke takes only ID and --dir");
        if (optind + 1 >= argc)
            return cli_usage("token", "revoke: missing ID");
        if (optind + 2 < argc)
            return cli_usage("token", "unexpected argument '%s'", argv[optind + 2]);
        return token_revoke(dir, argv[optind + 1]);
    }
    if (optind + 1 < argc)
        return cli_usage("token", "unexpected argument '%s'", argv[optind + 1]);
    if (color_given)
        return cli_usage("token", "--color is for token list");
    req.name = first;
    req.sans = sans;
    struct minica_name name;
    if (minica_name_parse(req.name, &name, &err) != 0)
        return cli_usage("token", "%s", err.msg);
    for (size_t i = 0; i < req.n_sans; i++)
        if (minica_name_parse(sans[i], &name, &err) != 0)
            return cli_usage("token", "--san: %s", err.msg);

    struct minica_ca *ca = NULL;
    struct minica_token_row row;
    char text[MINICA_TOKEN_TEXT_MAX];
    int ret = minica_ca_open(cli_state_dir(dir), &ca, &err);
    if (ret == 0) {
        minica_ca_set_actor(ca, "token", "local");
        ret = minica_token_create(ca, &req, text, sizeof(text), &row, &err);
    }
    minica_ca_close(ca);
    if (ret != 0)
        return cli_fail("token", "%s: %s", req.name, err.msg);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "token", text);
        cJSON_AddStringToObject(o, "id", row.id);
        cJSON_AddStringToObject(o, "name", row.name);
        cJSON_AddItemToObject(o, "sans", cli_json_sans(row.sans));
        cJSON_AddStringToObject(o, "usage", row.usage);
        cJSON_AddNumberToObject(o, "ttl_seconds", (double)row.ttl);
        char t[21];
        minica_time_rfc3339(row.expires_at, t);
        cJSON_AddStringToObject(o, "expires_at", t);
        cli_print_json(o);
    } else {
        printf("%s\n", text);
    }
    memset(text, 0, sizeof(text));
    return EXIT_OK;
}

const struct cli_command cmd_token_def = {
    "token", run, "make, list or revoke one-time enrollment tokens",
    "Usage: minica token NAME [--san DNS-or-IP]... [--usage server|client|both]\n"
    "                    [--ttl DURATION] [--expires DURATION] [--json] [--dir DIR]\n"
    "       minica token list [--json] [--color=WHEN] [--dir DIR]\n"
    "       minica token revoke ID [--dir DIR]\n"
    "\n"
    "Makes a one-time enrollment token for a machine that will ask 'minica serve'\n"
    "for its certificate (minica issue --ca-url, or the agent with token_file).\n"
    "The token is printed alone on one line; hand it over like a password (for\n"
    "example in cloud-init user-data). It carries 256 random bits; the CA keeps\n"
    "only their SHA-256. It is bound to NAME, the --san names, the usage and the\n"
    "TTL, all checked against the policy now, and is spent by its first\n"
    "successful use. Later renewals use the certificate itself (mutual TLS).\n"
    "\n"
    "  --san NAME        another DNS name or IP address (repeatable)\n"
    "  --usage U         server (default), client or both\n"
    "  --ttl DURATION    the certificate's validity (default: the policy's)\n"
    "  --expires DURATION\n"
    "                    how long the token stays usable (default 1h, at most 30d)\n"
    "  --json            print the token with its id, names and expiry as JSON\n"
    "\n"
    "list shows every token with its state (valid, used, expired, revoked) and\n"
    "the serial it was used for; revoke ID makes an unused token worthless\n"
    "(again on a revoked token: says when it was revoked, changes nothing).\n"
    "On a terminal its columns are as wide as their widest entry and the state\n"
    "is coloured (valid green, used dim, expired and revoked red); piped, every\n"
    "line keeps its fixed-width form.\n"
    "\n"
    "  --color=WHEN      for list: auto (the default: colour on a terminal,\n"
    "                    unless NO_COLOR is set, or TERM is unset or dumb),\n"
    "                    always (piped too, and over NO_COLOR), never\n"};
