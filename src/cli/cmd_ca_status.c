/* minica ca status [--json]: every root, cross-certificate and intermediate
 * of the CA, which of them issues, and minica_ca_assess's findings, with an
 * exit code for cron and monitoring. Reads only; needs no CA key. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minica/ca.h"
#include "minica/duration.h"
#include "minica/lifecycle.h"
#include "minica/revoke.h"
#include "output.h"

static const char *health_name(enum minica_ca_health h)
{
    switch (h) {
    case MINICA_CA_HEALTHY:
        return "ok";
    case MINICA_CA_ATTENTION:
        return "attention";
    case MINICA_CA_CRITICAL:
        return "critical";
    }
    return "?";
}

static const char *state_of(const struct minica_ca_cert *c)
{
    if (c->retired)
        return "retired";
    if (c->revoked)
        return "revoked";
    if (c->staged)
        return "staged";
    return c->active ? "active" : "current";
}

/* The key file, as the hierarchy finds it: beside the archived
 * certificate, or at the top for a directory from before ca/. */
static void key_file(const struct minica_ca_cert *c, char *out, size_t len)
{
    size_t n = strlen(c->file);
    if (strchr(c->file, '/') != NULL && n > 4)
        snprintf(out, len, "%.*s.key", (int)(n - 4), c->file);
    else
        snprintf(out, len, "%s", c->role == MINICA_CA_ROOT ? "root.key" : "intermediate.key");
}

static void time_left(int64_t not_after, int64_t now, char *out, size_t len)
{
    char d[64];
    if (not_after > now) {
        minica_duration_format(not_after - now, d, sizeof(d));
        snprintf(out, len, "%s", d);
    } else {
        minica_duration_format(now - not_after > 0 ? now - not_after : 1, d, sizeof(d));
        snprintf(out, len, "expired %s ago", d);
    }
}

/* "permit DNS .a.svc, .b.svc; exclude IP 0.0.0.0/0" or "none". */
static void constraints_text(const struct minica_name_constraints *nc, char *out, size_t len)
{
    const struct {
        const char *label;
        const struct minica_dns_subtrees *dns;
        const struct minica_ip_subtrees *ip;
    } parts[] = {
        {"permit DNS", &nc->permit_dns, NULL},
        {"permit IP", NULL, &nc->permit_ip},
        {"exclude DNS", &nc->exclude_dns, NULL},
        {"exclude IP", NULL, &nc->exclude_ip},
    };
    size_t used = 0;
    out[0] = '\0';
    for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++) {
        size_t count = parts[p].dns ? parts[p].dns->n : parts[p].ip->n;
        if (count == 0)
            continue;
        used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s ", used ? "; " : "",
                                 parts[p].label);
        for (size_t i = 0; i < count && used < len; i++) {
            const char *v = parts[p].dns ? parts[p].dns->name[i] : parts[p].ip->cidr[i].text;
            used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "",
                                     v[0] ? v : "\"\" (every name)");
        }
        if (used >= len)
            break;
    }
    if (out[0] == '\0')
        snprintf(out, len, "none");
}

static void print_cert(const struct minica_ca_cert *c, int64_t now)
{
    char nb[32], na[32], left[80], nc[1024];
    minica_time_rfc3339(c->not_before, nb);
    minica_time_rfc3339(c->not_after, na);
    time_left(c->not_after, now, left, sizeof(left));
    printf("%s %s (%s)\n", minica_ca_role_name(c->role), c->serial, state_of(c));
    printf("  subject:      %s\n", c->subject);
    printf("  issuer:       %s\n", c->issuer);
    printf("  key type:     %s\n", c->key_type);
    if (c->role == MINICA_CA_INTERMEDIATE) {
        constraints_text(&c->nc, nc, sizeof(nc));
        printf("  constraints:  %s\n", nc);
    }
    printf("  not before:   %s\n", nb);
    printf("  not after:    %s\n", na);
    printf("  time left:    %s\n", left);
    if (c->revoked) {
        char ra[32];
        minica_time_rfc3339(c->revoked_at, ra);
        printf("  revoked at:   %s (%s)\n", ra, minica_revoke_reason_name(c->revoke_reason));
    }
    printf("  file:         %s\n", c->file);
    printf("  key:          %s\n", c->key_where);
    printf("  sha256:       %s\n", c->fingerprint);
    if (c->role == MINICA_CA_INTERMEDIATE) {
        if (c->leaves_unexpired > 0) {
            char last[32];
            minica_time_rfc3339(c->last_leaf_not_after, last);
            printf("  leaves:       %lld unexpired (%lld of them revoked), the last until %s\n",
                   (long long)c->leaves_unexpired, (long long)c->leaves_revoked, last);
        } else {
            printf("  leaves:       none unexpired\n");
        }
    }
}

static void add_time(cJSON *o, const char *key, int64_t t)
{
    char buf[32];
    minica_time_rfc3339(t, buf);
    cJSON_AddStringToObject(o, key, buf);
}

static cJSON *string_array(const char (*names)[MINICA_NAME_MAX + 1], size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
    return a;
}

static cJSON *cidr_array(const struct minica_ip_subtrees *t)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < t->n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(t->cidr[i].text));
    return a;
}

static cJSON *cert_json(const struct minica_ca_cert *c, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    char key[200];
    cJSON_AddStringToObject(o, "role", minica_ca_role_name(c->role));
    cJSON_AddStringToObject(o, "serial", c->serial);
    cJSON_AddStringToObject(o, "subject", c->subject);
    cJSON_AddStringToObject(o, "issuer", c->issuer);
    cJSON_AddStringToObject(o, "key_type", c->key_type);
    add_time(o, "not_before", c->not_before);
    add_time(o, "not_after", c->not_after);
    cJSON_AddNumberToObject(o, "seconds_left", (double)(c->not_after - now));
    cJSON_AddStringToObject(o, "state", state_of(c));
    cJSON_AddBoolToObject(o, "active", c->active);
    if (c->revoked) {
        add_time(o, "revoked_at", c->revoked_at);
        cJSON_AddStringToObject(o, "revoke_reason", minica_revoke_reason_name(c->revoke_reason));
    }
    cJSON_AddStringToObject(o, "file", c->file);
    if (c->role == MINICA_CA_CROSS || !c->has_key) {
        cJSON_AddNullToObject(o, "key_file");
    } else {
        key_file(c, key, sizeof(key));
        cJSON_AddStringToObject(o, "key_file", key);
    }
    cJSON_AddStringToObject(o, "key", c->key_where);
    cJSON_AddStringToObject(o, "fingerprint_sha256", c->fingerprint);
    if (c->issuer_fingerprint[0])
        cJSON_AddStringToObject(o, "issuer_fingerprint_sha256", c->issuer_fingerprint);
    else
        cJSON_AddNullToObject(o, "issuer_fingerprint_sha256");
    if (c->role == MINICA_CA_INTERMEDIATE) {
        cJSON *nc = cJSON_AddObjectToObject(o, "constraints");
        cJSON_AddItemToObject(nc, "permit_dns",
                              string_array(c->nc.permit_dns.name, c->nc.permit_dns.n));
        cJSON_AddItemToObject(nc, "permit_ip", cidr_array(&c->nc.permit_ip));
        cJSON_AddItemToObject(nc, "exclude_dns",
                              string_array(c->nc.exclude_dns.name, c->nc.exclude_dns.n));
        cJSON_AddItemToObject(nc, "exclude_ip", cidr_array(&c->nc.exclude_ip));
        cJSON_AddNumberToObject(o, "leaves_unexpired", (double)c->leaves_unexpired);
        cJSON_AddNumberToObject(o, "leaves_unexpired_revoked", (double)c->leaves_revoked);
        if (c->last_leaf_not_after > 0)
            add_time(o, "last_leaf_not_after", c->last_leaf_not_after);
        else
            cJSON_AddNullToObject(o, "last_leaf_not_after");
    }
    return o;
}

int cmd_ca_status(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"json", no_argument, NULL, 'j'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("ca", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'j':
            json = 1;
            break;
        default:
            return cli_bad_option("ca", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage("ca", "status: unexpected argument '%s'", argv[optind]);

    struct minica_err err;
    struct minica_ca *ca = NULL;
    if (minica_ca_open_flags(cli_state_dir(dir), MINICA_CA_OPEN_NO_KEY, &ca, &err) != 0)
        return cli_fail("ca", "status: %s", err.msg);
    int64_t now = minica_time_now();
    struct minica_ca_findings f;
    minica_ca_assess(ca, now, &f);
    const struct minica_ca_cert *certs;
    size_t n;
    minica_ca_certs(ca, &certs, &n);
    const struct minica_policy *policy = minica_ca_policy(ca);
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "dir", minica_ca_dir(ca));
        cJSON_AddStringToObject(root, "health", health_name(f.health));
        cJSON_AddNumberToObject(root, "exit_code", f.health);
        add_time(root, "now", now);
        cJSON_AddNumberToObject(root, "max_ttl_seconds", (double)policy->max_ttl);
        cJSON_AddNumberToObject(root, "rotate_due_seconds",
                                (double)(MINICA_ROTATE_DUE_FACTOR * policy->max_ttl));
        cJSON_AddStringToObject(root, "active_intermediate",
                                minica_ca_active_intermediate(ca)->serial);
        cJSON_AddStringToObject(root, "active_root", minica_ca_active_root(ca)->serial);
        cJSON *arr = cJSON_AddArrayToObject(root, "certs");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, cert_json(&certs[i], now));
        cJSON *notes = cJSON_AddArrayToObject(root, "findings");
        for (size_t i = 0; i < f.n; i++)
            cJSON_AddItemToArray(notes, cJSON_CreateString(f.note[i]));
        cli_print_json(root);
    } else {
        for (size_t i = 0; i < n; i++) {
            print_cert(&certs[i], now);
            putchar('\n');
        }
        char m[64];
        minica_duration_format(policy->max_ttl, m, sizeof(m));
        printf("health: %s (max_ttl %s)\n", health_name(f.health), m);
        for (size_t i = 0; i < f.n; i++)
            printf("  - %s\n", f.note[i]);
    }
    minica_ca_close(ca);
    if (fflush(stdout) != 0)
        return cli_fail("ca", "status: cannot write to standard output");
    return (int)f.health;
}
