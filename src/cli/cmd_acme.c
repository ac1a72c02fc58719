/* minica acme: External Account Binding keys for serve's ACME (make, list,
 * revoke) and the ACME accounts. Parsing and printing only; acme_eab.h
 * and store_acme.h do the work. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/platform_util.h>

#include "cli.h"
#include "minica/acme_eab.h"
#include "minica/duration.h"
#include "minica/store_acme.h"
#include "output.h"

#define MAX_LIST MINICA_POLICY_MAX_ENTRIES

static cJSON *json_list(const char *comma)
{
    cJSON *a = cJSON_CreateArray();
    for (const char *p = comma; *p;) {
        size_t n = strcspn(p, ",");
        char item[MINICA_ACME_EAB_LIST_MAX];
        snprintf(item, sizeof(item), "%.*s", (int)n, p);
        cJSON_AddItemToArray(a, cJSON_CreateString(item));
        p += n;
        p += *p == ',';
    }
    return a;
}

static void add_time(cJSON *o, const char *member, int64_t t)
{
    char text[21];
    minica_time_rfc3339(t, text);
    cJSON_AddStringToObject(o, member, text);
}

static void eab_json(cJSON *o, const struct minica_acme_eab_key *row)
{
    cJSON_AddStringToObject(o, "kid", row->kid);
    cJSON_AddStringToObject(o, "label", row->label);
    cJSON_AddItemToObject(o, "permit_dns", json_list(row->permit_dns));
    cJSON_AddItemToObject(o, "permit_ip", json_list(row->permit_ip));
    add_time(o, "created_at", row->created_at);
    add_time(o, "expires_at", row->expires_at);
}

static int print_eab(const struct minica_acme_eab_key *row, void *ctx)
{
    cJSON *array = ctx;
    const char *state = minica_acme_eab_state_name(minica_acme_eab_state(row, minica_time_now()));
    if (array != NULL) {
        cJSON *o = cJSON_CreateObject();
        eab_json(o, row);
        cJSON_AddStringToObject(o, "state", state);
        if (row->account_id[0])
            cJSON_AddStringToObject(o, "account", row->account_id);
        if (row->revoked_at)
            add_time(o, "revoked_at", row->revoked_at);
        cJSON_AddItemToArray(array, o);
        return 0;
    }
    char expires[21], lists[2 * MINICA_ACME_EAB_LIST_MAX + 8];
    minica_time_rfc3339(row->expires_at, expires);
    snprintf(lists, sizeof(lists), "%s%s%s", row->permit_dns,
             row->permit_dns[0] && row->permit_ip[0] ? "," : "", row->permit_ip);
    printf("%-16s  %-7s  %-20s  %-16s  %-16s  %s\n", row->kid, state, expires,
           row->account_id[0] ? row->account_id : "-", lists[0] ? lists : "-",
           row->label[0] ? row->label : "-");
    return 0;
}

static int eab_list(const char *dir, int json)
{
    struct minica_store *store = NULL;
    struct minica_err err;
    if (minica_state_open_store(cli_state_dir(dir), &store, &err) != 0)
        return cli_fail("acme", "%s", err.msg);
    cJSON *array = json ? cJSON_CreateArray() : NULL;
    if (!json)
        printf("%-16s  %-7s  %-20s  %-16s  %-16s  %s\n", "KID", "STATE", "EXPIRES", "ACCOUNT",
               "PERMITS", "LABEL");
    int ret = minica_store_acme_eab_list(store, print_eab, array, &err);
    minica_store_close(store);
    if (ret != 0) {
        cJSON_Delete(array);
        return cli_fail("acme", "eab list: %s", err.msg);
    }
    if (json)
        cli_print_json(array);
    return EXIT_OK;
}

static int eab_revoke(const char *dir, const char *kid)
{
    struct minica_ca *ca = NULL;
    struct minica_err err;
    int ret = minica_ca_open(cli_state_dir(dir), &ca, &err);
    if (ret == 0) {
        minica_ca_set_actor(ca, "acme", "local");
        ret = minica_acme_eab_revoke(ca, kid, &err);
    }
    minica_ca_close(ca);
    if (ret != 0)
        return cli_fail("acme", "eab revoke: %s", err.msg);
    printf("Revoked EAB key %s\n", kid);
    return EXIT_OK;
}

static int eab_create(const char *dir, const struct minica_acme_eab_request *req, int json)
{
    struct minica_ca *ca = NULL;
    struct minica_err err;
    struct minica_acme_eab_key *row = calloc(1, sizeof(*row));
    char hmac[MINICA_ACME_EAB_HMAC_TEXT_MAX];
    if (row == NULL)
        return cli_fail("acme", "out of memory");
    int ret = minica_ca_open(cli_state_dir(dir), &ca, &err);
    if (ret == 0) {
        minica_ca_set_actor(ca, "acme", "local");
        ret = minica_acme_eab_create(ca, req, row, hmac, sizeof(hmac), &err);
    }
    minica_ca_close(ca);
    if (ret != 0) {
        free(row);
        return cli_fail("acme", "eab create: %s", err.msg);
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        eab_json(o, row);
        cJSON_AddStringToObject(o, "hmac_key", hmac);
        cli_print_json(o);
    } else {
        printf("kid %s\nhmac %s\n", row->kid, hmac);
    }
    mbedtls_platform_zeroize(hmac, sizeof(hmac));
    free(row);
    return EXIT_OK;
}

static int print_account(const struct minica_acme_account *row, int64_t orders, void *ctx)
{
    cJSON *array = ctx;
    char created[21];
    minica_time_rfc3339(row->created_at, created);
    cJSON *contact = row->contact[0] ? cJSON_Parse(row->contact) : NULL;
    if (array != NULL) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", row->id);
        cJSON_AddStringToObject(o, "status", row->status);
        cJSON_AddItemToObject(o, "contact", contact ? contact : cJSON_CreateArray());
        if (row->eab_kid[0])
            cJSON_AddStringToObject(o, "eab_kid", row->eab_kid);
        cJSON_AddNumberToObject(o, "orders", (double)orders);
        cJSON_AddStringToObject(o, "created_at", created);
        cJSON_AddItemToArray(array, o);
        return 0;
    }
    /* The contacts as mailto: addresses, comma-joined. */
    char contacts[MINICA_ACME_CONTACT_MAX] = "";
    const cJSON *c;
    cJSON_ArrayForEach(c, contact)
    {
        if (!cJSON_IsString(c))
            continue;
        size_t l = strlen(contacts);
        snprintf(contacts + l, sizeof(contacts) - l, "%s%s", l ? "," : "", c->valuestring);
    }
    cJSON_Delete(contact);
    printf("%-16s  %-11s  %-16s  %6lld  %-20s  %s\n", row->id, row->status,
           row->eab_kid[0] ? row->eab_kid : "-", (long long)orders, created,
           contacts[0] ? contacts : "-");
    return 0;
}

static int account_list(const char *dir, int json)
{
    struct minica_store *store = NULL;
    struct minica_err err;
    if (minica_state_open_store(cli_state_dir(dir), &store, &err) != 0)
        return cli_fail("acme", "%s", err.msg);
    cJSON *array = json ? cJSON_CreateArray() : NULL;
    if (!json)
        printf("%-16s  %-11s  %-16s  %6s  %-20s  %s\n", "ID", "STATUS", "EAB KID", "ORDERS",
               "CREATED", "CONTACT");
    int ret = minica_store_acme_account_list(store, print_account, array, &err);
    minica_store_close(store);
    if (ret != 0) {
        cJSON_Delete(array);
        return cli_fail("acme", "account list: %s", err.msg);
    }
    if (json)
        cli_print_json(array);
    return EXIT_OK;
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"label", required_argument, NULL, 'l'},
        {"permit-dns", required_argument, NULL, 'n'},
        {"permit-ip", required_argument, NULL, 'i'},
        {"expires", required_argument, NULL, 'e'},
        {"json", no_argument, NULL, 'j'},
        {0, 0, 0, 0},
    };
    struct minica_acme_eab_request req;
    memset(&req, 0, sizeof(req));
    const char *dns[MAX_LIST], *ips[MAX_LIST];
    const char *dir = NULL;
    int json = 0, create_opts = 0;
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("acme", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'l':
            req.label = optarg;
            create_opts = 1;
            break;
        case 'n':
            if (req.n_permit_dns == MAX_LIST)
                return cli_usage("acme", "too many --permit-dns (at most %d)", MAX_LIST);
            dns[req.n_permit_dns++] = optarg;
            create_opts = 1;
            break;
        case 'i':
            if (req.n_permit_ip == MAX_LIST)
                return cli_usage("acme", "too many --permit-ip (at most %d)", MAX_LIST);
            ips[req.n_permit_ip++] = optarg;
            create_opts = 1;
            break;
        case 'e':
            if (minica_duration_parse(optarg, &req.expires_in, &err) != 0)
                return cli_usage("acme", "--expires: %s", err.msg);
            create_opts = 1;
            break;
        case 'j':
            json = 1;
            break;
        default:
            return cli_bad_option("acme", argc, argv);
        }
    }
    req.permit_dns = dns;
    req.permit_ip = ips;
    int left = argc - optind;
    const char *what = left > 0 ? argv[optind] : NULL;
    const char *verb = left > 1 ? argv[optind + 1] : NULL;
    if (what == NULL)
        return cli_usage("acme", "missing 'eab' or 'account'");
    if (strcmp(what, "account") == 0) {
        if (verb == NULL || strcmp(verb, "list") != 0)
            return cli_usage("acme", "account: expected 'list'");
        if (create_opts)
            return cli_usage("acme", "account list takes only --json and --dir");
        if (left > 2)
            return cli_usage("acme", "unexpected argument '%s'", argv[optind + 2]);
        return account_list(dir, json);
    }
    if (strcmp(what, "eab") != 0)
        return cli_usage("acme", "unknown '%s' (expected 'eab' or 'account')", what);
    if (verb == NULL)
        return cli_usage("acme", "eab: missing 'create', 'list' or 'revoke KID'");
    if (strcmp(verb, "create") == 0) {
        if (left > 2)
            return cli_usage("acme", "unexpected argument '%s'", argv[optind + 2]);
        return eab_create(dir, &req, json);
    }
    if (strcmp(verb, "list") == 0) {
        if (create_opts)
            return cli_usage("acme", "eab list takes only --json and --dir");
        if (left > 2)
            return cli_usage("acme", "unexpected argument '%s'", argv[optind + 2]);
        return eab_list(dir, json);
    }
    if (strcmp(verb, "revoke") == 0) {
        if (create_opts || json)
            return cli_usage("acme", "eab revoke takes only KID and --dir");
        if (left < 3)
            return cli_usage("acme", "eab revoke: missing KID");
        if (left > 3)
            return cli_usage("acme", "unexpected argument '%s'", argv[optind + 3]);
        return eab_revoke(dir, argv[optind + 2]);
    }
    return cli_usage("acme", "eab: unknown '%s' (expected create, list or revoke)", verb);
}

const struct cli_command cmd_acme_def = {
    "acme", run, "ACME External Account Binding keys and accounts",
    "Usage: minica acme eab create [--label TEXT] [--permit-dns SUFFIX]...\n"
    "                              [--permit-ip CIDR]... [--expires DURATION]\n"
    "                              [--json] [--dir DIR]\n"
    "       minica acme eab list [--json] [--dir DIR]\n"
    "       minica acme eab revoke KID [--dir DIR]\n"
    "       minica acme account list [--json] [--dir DIR]\n"
    "\n"
    "External Account Binding (RFC 8555 7.3.4) ties each ACME account of\n"
    "'minica serve' to a key made here. With [acme] eab = required in\n"
    "minica.conf (the default) an ACME client cannot open an account without\n"
    "one: give it the kid and the MAC key, e.g. lego --eab --kid KID --hmac KEY,\n"
    "certbot --eab-kid KID --eab-hmac-key KEY.\n"
    "\n"
    "eab create prints 'kid KID' and 'hmac KEY' (base64url), the key once: the\n"
    "CA does not store it but derives it from DIR/acme-eab.key (made 0600 by\n"
    "the first create), so a copy of the database cannot use it. A key binds\n"
    "the first account that uses it and no other.\n"
    "\n"
    "  --label TEXT        who or what the key is for (shown by list)\n"
    "  --permit-dns SUFFIX the account may order these DNS names and the names\n"
    "                      below them only (repeatable)\n"
    "  --permit-ip CIDR    the account may order these addresses only\n"
    "                      (repeatable); with either list, what it does not\n"
    "                      name is refused (rejectedIdentifier), on top of\n"
    "                      [policy]\n"
    "  --expires DURATION  how long the key may wait for its account (default\n"
    "                      30d, at most 366d); a bound key does not expire\n"
    "  --json              print the kid, MAC key, lists and expiry as JSON\n"
    "\n"
    "eab list shows every key: kid, state (valid, bound, expired, revoked),\n"
    "expiry, its account, its lists and label. eab revoke KID makes the key\n"
    "useless and refuses its account's new orders, finalizations and\n"
    "challenges (unauthorized); a second revoke is refused. account list shows\n"
    "every ACME account: id, status, EAB kid, number of orders, creation and\n"
    "contacts. create and revoke are in the audit log (minica log).\n"};
