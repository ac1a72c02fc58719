/* minica log: show the audit log (who did what to the CA, and when). It only
 * reads the inventory, so it needs no CA key. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "minica/ca.h"
#include "minica/duration.h"
#include "minica/escape.h"
#include "minica/store.h"
#include "output.h"
#include "table.h"

struct log_ctx {
    int json;
    cJSON *array;
    size_t rows;
    struct table table;
};

/* The piped widths are what scripts have parsed since the first release. */
static const struct table_column log_columns[] = {
    {"TIME", 20, 0}, {"UID", 6, 1}, {"USER", 12, 0}, {"COMMAND", 8, 0}, {"SUMMARY", 0, 0},
};
#define N_LOG_COLUMNS (sizeof(log_columns) / sizeof(log_columns[0]))

static int print_row(const struct minica_audit_row *row, void *ctx)
{
    struct log_ctx *lc = ctx;
    char when[32];
    minica_time_rfc3339(row->time, when);
    lc->rows++;
    /* Escaped again here, in both forms: a row written by an older minica
     * (or by hand into the database) may hold a raw newline or ESC. Text
     * escaped when it was stored comes out unchanged. */
    char user[4 * sizeof(row->user)], command[4 * sizeof(row->command)];
    size_t summary_size = 4 * strlen(row->summary) + 1;
    char *summary = malloc(summary_size);
    if (summary == NULL)
        return -1;
    minica_escape_text(row->user, user, sizeof(user));
    minica_escape_text(row->command, command, sizeof(command));
    minica_escape_text(row->summary, summary, summary_size);
    if (lc->json) {
        cJSON *o = cJSON_CreateObject();
        if (o == NULL) {
            free(summary);
            return -1;
        }
        cJSON_AddStringToObject(o, "time", when);
        cJSON_AddNumberToObject(o, "uid", (double)row->uid);
        cJSON_AddStringToObject(o, "user", user);
        cJSON_AddStringToObject(o, "command", command);
        cJSON_AddStringToObject(o, "summary", summary);
        cJSON_AddItemToArray(lc->array, o);
        free(summary);
        return 0;
    }
    if (lc->rows == 1)
        table_header(&lc->table);
    char uid[24];
    snprintf(uid, sizeof(uid), "%lld", (long long)row->uid);
    const char *cells[N_LOG_COLUMNS] = {when, uid, user, command, summary};
    /* A refusal is what someone reading the log on a terminal looks for. */
    enum table_color colors[N_LOG_COLUMNS] = {TABLE_PLAIN};
    colors[4] = strncmp(summary, "refused", 7) == 0 ? TABLE_RED : TABLE_PLAIN;
    /* Out of memory is kept in the table and reported by table_end. */
    table_row(&lc->table, cells, colors);
    free(summary);
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"since", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"color", required_argument, NULL, 'C'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL;
    int64_t since = 0;
    enum cli_color_when color = CLI_COLOR_AUTO;
    struct log_ctx lc = {0};
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("log", stdout);
        case 'D':
            dir = optarg;
            break;
        case 's':
            if (minica_duration_parse(optarg, &since, &err) != 0)
                return cli_usage("log", "--since: %s", err.msg);
            break;
        case 'j':
            lc.json = 1;
            break;
        case 'C':
            if (cli_color_parse(optarg, &color) != 0)
                return cli_usage("log", "--color: '%s' is not auto, always or never", optarg);
            break;
        default:
            return cli_bad_option("log", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage("log", "unexpected argument '%s'", argv[optind]);

    struct minica_store *store = NULL;
    int ret = minica_state_open_store(cli_state_dir(dir), &store, &err);
    if (ret != 0)
        return cli_fail("log", "%s", err.msg);
    if (lc.json && (lc.array = cJSON_CreateArray()) == NULL) {
        minica_store_close(store);
        return cli_fail("log", "out of memory");
    }
    table_init_stdout(&lc.table, log_columns, N_LOG_COLUMNS, color);
    ret =
        minica_store_list_audit(store, since ? minica_time_now() - since : 0, print_row, &lc, &err);
    minica_store_close(store);
    int table_ret = table_end(&lc.table);
    table_free(&lc.table);
    if (ret != 0) {
        cJSON_Delete(lc.array);
        return cli_fail("log", "%s", ret == -1 ? "out of memory" : err.msg);
    }
    if (table_ret != 0)
        return cli_fail("log", "out of memory");
    if (lc.json)
        cli_print_json(lc.array);
    else if (lc.rows == 0)
        printf("No audit entries%s.\n", since ? " in that period" : "");
    return EXIT_OK;
}

const struct cli_command cmd_log_def = {
    "log", run, "show the audit log",
    "Usage: minica log [--since DURATION] [--json] [--color=WHEN] [--dir DIR]\n"
    "\n"
    "Shows every state-changing action on the CA, oldest first: init, issue\n"
    "(and refused issues), renew, revoke, crl and policy load errors, with the\n"
    "UTC time, the uid and user name that ran it, the command and a summary\n"
    "(names, serials, reasons; never key material).\n"
    "\n"
    "A summary is one printable line: client text in it (a CSR's common name)\n"
    "is quoted, and every byte outside printable ASCII is shown escaped (\\n,\n"
    "\\t, \\xNN), UTF-8 included. minica serve writes the first refusal of a\n"
    "kind from one client at once and counts its repeats for a minute into one\n"
    "row: \"refused N more from ADDR in Ns: ...\".\n"
    "\n"
    "  --since DURATION  only entries newer than this, e.g. 1h, 7d\n"
    "  --json            a JSON array of {time (RFC 3339), uid, user, command,\n"
    "                    summary}, never coloured\n"
    "  --color=WHEN      auto (the default: colour on a terminal, unless\n"
    "                    NO_COLOR is set, or TERM is unset or dumb), always\n"
    "                    (piped too, and over NO_COLOR), never\n"
    "\n"
    "On a terminal the columns are as wide as their widest entry and refusals\n"
    "are red; piped, every line keeps its fixed-width form.\n"};
