/* minica db migrate: copy the inventory into a new database, SQLite to
 * PostgreSQL or back (the copy and its checks are store_copy.h's). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minica/ca.h"
#include "minica/policy.h"
#include "minica/store_copy.h"

struct totals {
    size_t tables;
    long long rows;
};

static void print_table(const struct minica_store_copy_table *t, void *ctx)
{
    struct totals *sum = ctx;
    sum->tables++;
    sum->rows += (long long)t->rows;
    printf("%-16s %8lld rows  sha256 %s\n", t->name, (long long)t->rows, t->sha256);
}

static int migrate(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"to", required_argument, NULL, 't'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL, *to = NULL;
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("db", stdout);
        case 'D':
            dir = optarg;
            break;
        case 't':
            to = optarg;
            break;
        default:
            return cli_bad_option("db", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage("db", "migrate: unexpected argument '%s'", argv[optind]);
    if (to == NULL || *to == '\0')
        return cli_usage("db", "migrate: --to TARGET is required (a postgresql:// URI or a new "
                               "SQLite file)");
    /* Anything with a scheme must be PostgreSQL's; the rest is a path. */
    if (strstr(to, "://") != NULL && minica_store_target_check(to, 0, &err) != 0)
        return cli_usage("db", "migrate: --to: %s", err.msg);

    struct minica_store *store = NULL;
    if (minica_state_open_store(cli_state_dir(dir), &store, &err) != 0)
        return cli_fail("db", "migrate: %s", err.msg);
    struct totals sum = {0, 0};
    char from[1024];
    snprintf(from, sizeof(from), "%s", minica_store_name(store));
    int ret = minica_store_copy(store, to, print_table, &sum, &err);
    minica_store_close(store);
    if (ret != 0)
        return cli_fail("db", "migrate: %s", err.msg);
    printf("Copied %zu tables, %lld rows, from %s; counts and checksums match.\n", sum.tables,
           sum.rows, from);
    return EXIT_OK;
}

static int run(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("db", "missing what to do (migrate)");
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0)
        return cli_help("db", stdout);
    if (strcmp(sub, "migrate") == 0)
        return migrate(argc - 1, argv + 1);
    return cli_usage("db", "unknown '%s' (use migrate)", sub);
}

const struct cli_command cmd_db_def = {
    "db", run, "copy the inventory into a new database (PostgreSQL or SQLite)",
    "Usage: minica db migrate --to TARGET [--dir DIR]\n"
    "\n"
    "migrate     copies the inventory this command would otherwise use (DIR/minica.db,\n"
    "            minica.conf's [store] database, or minica --db) into TARGET: a\n"
    "            postgresql:// URI or the path of a new SQLite file. Every table:\n"
    "            certificates, tokens, the audit log, counters (cRLNumbers go on\n"
    "            from where they were), the ACME tables and EAB keys. TARGET is\n"
    "            migrated to the same schema first and must then be empty: a\n"
    "            PostgreSQL database with no rows and no tables of others, or an\n"
    "            SQLite file that is missing (created 0600) or empty; anything\n"
    "            else is refused (exit 1) and left as it was. The copy is one\n"
    "            transaction, committed only when every table's row count and\n"
    "            checksum match the source's; one line per table shows them.\n"
    "            On failure TARGET is left empty (an SQLite file it created is\n"
    "            removed). Stop minica serve, agents and cron jobs first: rows\n"
    "            written meanwhile are not copied.\n"
    "\n"
    "  --to TARGET           where to copy to (required)\n"
    "\n"
    "Then point minica.conf's [store] database at TARGET. The way back is the\n"
    "same command from PostgreSQL into a new SQLite file, then moving it into\n"
    "place and removing [store] database:\n"
    "  minica --db postgresql://minica@db/minica db migrate --to DIR/minica.db.new\n"
    "  mv DIR/minica.db.new DIR/minica.db\n"
    "\n"
    "Exit status: 0 copied and verified, 1 refused or failed, 2 usage error.\n"};
