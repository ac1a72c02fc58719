/* minica inspect FILE|-: what any certificate, chain, CSR or CRL says, and
 * whether it is good (step certificate inspect). Reads files, never the
 * inventory: `minica show` is for what this CA issued. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "minica/duration.h"
#include "minica/fsutil.h"
#include "minica/inspect.h"
#include "output.h"

/* Revoked serials in text; --json lists them all. */
#define TEXT_REVOKED_MAX 20

struct input {
    const char *path;
    unsigned char *data;
    size_t len;
};

/* A remaining time as durations are typed, to the hour beyond a day and to
 * the minute beyond an hour: "89d23h", "5h12m", "42s". */
static void left_text(int64_t s, char *buf, size_t len)
{
    if (s >= 86400)
        s -= s % 3600;
    else if (s >= 3600)
        s -= s % 60;
    minica_duration_format(s, buf, len);
}

static void time_text(int64_t t, char out[32])
{
    minica_time_rfc3339(t, out);
}

/* ---- text ---- */

static void row(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void row(const char *label, const char *fmt, ...)
{
    char l[32];
    snprintf(l, sizeof(l), "%s:", label);
    printf("%-19s ", l);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* "a,b" -> "a, b", or "none". */
static void list_row(const char *label, const char *list)
{
    char out[MINICA_INSPECT_TEXT_MAX * 2];
    size_t o = 0;
    for (const char *p = list; *p && o + 3 < sizeof(out); p++) {
        out[o++] = *p;
        if (*p == ',')
            out[o++] = ' ';
    }
    out[o] = '\0';
    row(label, "%s", o ? out : "none");
}

static void names_row(const struct minica_inspect_name *v, size_t n, size_t omitted)
{
    printf("%-19s ", "sans:");
    if (n == 0)
        fputs("none", stdout);
    for (size_t i = 0; i < n; i++)
        printf("%s%s:%s", i ? ", " : "", minica_inspect_name_type_name(v[i].type), v[i].value);
    if (omitted)
        printf(" … and %zu more", omitted);
    putchar('\n');
}

static void key_row(const struct minica_inspect_key *k)
{
    if (k->curve[0])
        row("key", "%s %s (%zu bits)", k->type, k->curve, k->bits);
    else
        row("key", "%s %zu bits", k->type, k->bits);
}

static void validity_row(const struct minica_inspect_cert *c, int64_t now)
{
    char d[64];
    switch (c->validity) {
    case MINICA_VALIDITY_VALID:
        left_text(c->not_after - now, d, sizeof(d));
        row("validity", "valid, %s left", d);
        break;
    case MINICA_VALIDITY_EXPIRING:
        left_text(c->not_after - now, d, sizeof(d));
        row("validity", "expires soon, in %s", d);
        break;
    case MINICA_VALIDITY_EXPIRED:
        left_text(now - c->not_after, d, sizeof(d));
        row("validity", "EXPIRED %s ago", d);
        break;
    case MINICA_VALIDITY_NOT_YET_VALID:
        left_text(c->not_before - now, d, sizeof(d));
        row("validity", "NOT YET VALID, for another %s", d);
        break;
    }
}

static void print_cert(const struct minica_inspect_cert *c, int64_t now)
{
    char nb[32], na[32];
    time_text(c->not_before, nb);
    time_text(c->not_after, na);
    row("subject", "%s", c->subject);
    row("issuer", "%s", c->issuer);
    row("serial", "%s", c->serial);
    row("not before", "%s", nb);
    row("not after", "%s", na);
    validity_row(c, now);
    names_row(c->sans, c->n_sans, c->sans_omitted);
    key_row(&c->key);
    list_row("key usage", c->key_usage);
    list_row("ext key usage", c->ext_key_usage);
    if (!c->has_basic_constraints)
        row("basic constraints", "none");
    else if (!c->is_ca)
        row("basic constraints", "not a CA");
    else if (c->pathlen >= 0)
        row("basic constraints", "CA, pathlen %d", c->pathlen);
    else
        row("basic constraints", "CA, no pathlen");
    if (c->has_name_constraints) {
        list_row("permitted names", c->nc_permitted);
        list_row("excluded names", c->nc_excluded);
        if (c->nc_error[0])
            row("name constraints", "%s", c->nc_error);
    }
    row("signature", "%s", c->sig_alg);
    row("sha256", "%s", c->fingerprint_sha256);
    row("self-signed", "%s", c->self_signed ? "yes" : "no");
}

static void print_link(const struct minica_inspect_link *l, const char *what)
{
    if (l->names_match && l->signature == MINICA_SIG_VALID)
        row(what, "ok");
    else if (!l->names_match)
        row(what, "BROKEN: the issuer name is not the next certificate's subject");
    else if (l->signature == MINICA_SIG_UNKNOWN)
        row(what, "BROKEN: the signature algorithm cannot be verified here");
    else
        row(what, "BROKEN: the signature does not verify with the next certificate's key");
}

static void print_certs(const struct minica_inspect_report *r, const struct input *issuer,
                        const struct input *root)
{
    for (size_t i = 0; i < r->n_certs; i++) {
        if (r->n_certs > 1)
            printf("%scertificate %zu of %zu\n", i ? "\n" : "", i + 1, r->n_certs);
        print_cert(&r->certs[i], r->now);
    }
    if (r->n_certs > 1) {
        putchar('\n');
        for (size_t i = 0; i + 1 < r->n_certs; i++) {
            char what[32];
            snprintf(what, sizeof(what), "link %zu -> %zu", i + 1, i + 2);
            print_link(&r->links[i], what);
        }
        if (r->chain_ok)
            row("chain", "ok, every certificate is signed by the next");
        else
            row("chain", "BROKEN at link %zu -> %zu", r->broken_link + 1, r->broken_link + 2);
        const struct minica_inspect_cert *last = &r->certs[r->n_certs - 1];
        if (last->self_signed)
            row("root", "included (certificate %zu is self-signed)", r->n_certs);
        else
            row("root", "not included (the last certificate's issuer is %s)", last->issuer);
    }
    if (r->issuer_checked) {
        if (!r->issuer_found)
            row("issuer check", "BAD: no certificate in %s is %s", issuer->path,
                r->certs[r->n_certs - 1].issuer);
        else if (r->issuer_link.signature == MINICA_SIG_VALID)
            row("issuer check", "ok, signed by %s", issuer->path);
        else
            row("issuer check", "BAD: the signature does not verify with %s (%s)", issuer->path,
                minica_inspect_sig_name(r->issuer_link.signature));
    }
    if (r->root_checked) {
        if (r->root_ok) {
            row("root check", "ok, verifies up to %s", root->path);
        } else {
            char flags[sizeof(r->root_flags)];
            snprintf(flags, sizeof(flags), "%s", r->root_flags);
            for (char *p = flags; *p; p++)
                if (*p == '\n')
                    *p = ';';
            row("root check", "BAD against %s: %s", root->path, flags);
        }
    }
}

static void print_csr(const struct minica_inspect_report *r)
{
    const struct minica_inspect_csr *c = &r->csr;
    row("subject", "%s", c->subject[0] ? c->subject : "(empty)");
    names_row(c->sans, c->n_sans, c->sans_omitted);
    key_row(&c->key);
    row("signature", "%s", c->sig_alg);
    row("self-signature", "%s",
        c->signature == MINICA_SIG_VALID     ? "valid"
        : c->signature == MINICA_SIG_INVALID ? "INVALID"
                                             : "cannot be verified here (algorithm)");
}

static void print_crls(const struct minica_inspect_report *r, const struct input *by)
{
    for (size_t i = 0; i < r->n_crls; i++) {
        const struct minica_inspect_crl *c = &r->crls[i];
        char tu[32], nu[32], d[64];
        if (r->n_crls > 1)
            printf("%sCRL %zu of %zu\n", i ? "\n" : "", i + 1, r->n_crls);
        row("issuer", "%s", c->issuer);
        row("number", "%s", c->has_number ? c->number : "none");
        time_text(c->this_update, tu);
        row("this update", "%s", tu);
        if (c->next_update != 0) {
            time_text(c->next_update, nu);
            row("next update", "%s", nu);
        } else {
            row("next update", "none");
        }
        if (c->state == MINICA_CRL_STALE) {
            left_text(r->now - c->next_update, d, sizeof(d));
            row("freshness", "STALE, the next update was due %s ago", d);
        } else if (c->state == MINICA_CRL_NOT_YET_VALID) {
            left_text(c->this_update - r->now, d, sizeof(d));
            row("freshness", "NOT YET VALID, for another %s", d);
        } else if (c->next_update != 0) {
            left_text(c->next_update - r->now, d, sizeof(d));
            row("freshness", "current, next update in %s", d);
        } else {
            row("freshness", "current (no next update)");
        }
        row("signature", "%s", c->sig_alg);
        if (c->issuer_checked) {
            if (!c->issuer_found)
                row("issuer check", "BAD: no certificate in %s is %s", by->path, c->issuer);
            else if (c->signature == MINICA_SIG_VALID)
                row("issuer check", "ok, signed by %s", by->path);
            else
                row("issuer check", "BAD: the signature does not verify with %s (%s)", by->path,
                    minica_inspect_sig_name(c->signature));
        }
        row("revoked", "%zu", c->n_revoked);
        for (size_t j = 0; j < c->n_revoked && j < TEXT_REVOKED_MAX; j++) {
            char at[32];
            time_text(c->revoked[j].revoked_at, at);
            printf("  %s  %s  %s\n", c->revoked[j].serial, at,
                   c->revoked[j].reason < 0 ? "(no reason)"
                                            : minica_inspect_reason_name(c->revoked[j].reason));
        }
        if (c->n_revoked > TEXT_REVOKED_MAX)
            printf("  … and %zu more (--json lists them all)\n", c->n_revoked - TEXT_REVOKED_MAX);
    }
}

/* ---- JSON ---- */

static void add_time(cJSON *o, const char *key, int64_t t)
{
    char buf[32];
    time_text(t, buf);
    cJSON_AddStringToObject(o, key, buf);
}

static cJSON *json_list(const char *list)
{
    cJSON *a = cJSON_CreateArray();
    if (list[0] != '\0') {
        cJSON *parts = cli_json_sans(list); /* the same "a,b" splitting */
        cJSON_Delete(a);
        a = parts;
    }
    return a;
}

static cJSON *json_names(const struct minica_inspect_name *v, size_t n, size_t omitted)
{
    static const enum minica_inspect_name_type types[] = {
        MINICA_SAN_DNS, MINICA_SAN_IP, MINICA_SAN_EMAIL, MINICA_SAN_URI, MINICA_SAN_OTHER};
    static const char *const keys[] = {"dns", "ip", "email", "uri", "other"};
    cJSON *o = cJSON_CreateObject();
    for (size_t t = 0; t < 5; t++) {
        cJSON *a = cJSON_AddArrayToObject(o, keys[t]);
        for (size_t i = 0; i < n; i++)
            if (v[i].type == types[t])
                cJSON_AddItemToArray(a, cJSON_CreateString(v[i].value));
    }
    if (omitted)
        cJSON_AddNumberToObject(o, "omitted", (double)omitted);
    return o;
}

static cJSON *json_key(const struct minica_inspect_key *k)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", k->type);
    if (k->curve[0])
        cJSON_AddStringToObject(o, "curve", k->curve);
    cJSON_AddNumberToObject(o, "bits", (double)k->bits);
    return o;
}

static cJSON *json_cert(const struct minica_inspect_cert *c, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "subject", c->subject);
    cJSON_AddStringToObject(o, "issuer", c->issuer);
    cJSON_AddStringToObject(o, "serial", c->serial);
    cJSON_AddNumberToObject(o, "version", c->version);
    add_time(o, "not_before", c->not_before);
    add_time(o, "not_after", c->not_after);
    cJSON_AddStringToObject(o, "validity", minica_inspect_validity_name(c->validity));
    if (c->not_after >= now && c->not_before <= now) {
        char d[64];
        left_text(c->not_after - now, d, sizeof(d));
        cJSON_AddStringToObject(o, "remaining", d);
    } else {
        cJSON_AddNullToObject(o, "remaining");
    }
    cJSON_AddItemToObject(o, "sans", json_names(c->sans, c->n_sans, c->sans_omitted));
    cJSON_AddItemToObject(o, "key", json_key(&c->key));
    cJSON_AddItemToObject(o, "key_usage", json_list(c->key_usage));
    cJSON_AddItemToObject(o, "extended_key_usage", json_list(c->ext_key_usage));
    if (c->has_basic_constraints) {
        cJSON *bc = cJSON_AddObjectToObject(o, "basic_constraints");
        cJSON_AddBoolToObject(bc, "ca", c->is_ca);
        if (c->pathlen >= 0)
            cJSON_AddNumberToObject(bc, "pathlen", c->pathlen);
        else
            cJSON_AddNullToObject(bc, "pathlen");
    } else {
        cJSON_AddNullToObject(o, "basic_constraints");
    }
    if (c->has_name_constraints) {
        cJSON *nc = cJSON_AddObjectToObject(o, "name_constraints");
        cJSON_AddItemToObject(nc, "permitted", json_list(c->nc_permitted));
        cJSON_AddItemToObject(nc, "excluded", json_list(c->nc_excluded));
        if (c->nc_error[0])
            cJSON_AddStringToObject(nc, "note", c->nc_error);
    } else {
        cJSON_AddNullToObject(o, "name_constraints");
    }
    cJSON_AddStringToObject(o, "signature_algorithm", c->sig_alg);
    cJSON_AddStringToObject(o, "fingerprint_sha256", c->fingerprint_sha256);
    cJSON_AddBoolToObject(o, "self_signed", c->self_signed);
    return o;
}

static void json_link(cJSON *o, const struct minica_inspect_link *l)
{
    cJSON_AddBoolToObject(o, "issuer_matches", l->names_match);
    cJSON_AddStringToObject(o, "signature", minica_inspect_sig_name(l->signature));
    cJSON_AddBoolToObject(o, "ok", l->names_match && l->signature == MINICA_SIG_VALID);
}

static void json_certs(cJSON *o, const struct minica_inspect_report *r)
{
    cJSON *certs = cJSON_AddArrayToObject(o, "certificates");
    for (size_t i = 0; i < r->n_certs; i++)
        cJSON_AddItemToArray(certs, json_cert(&r->certs[i], r->now));
    if (r->kind == MINICA_INSPECT_CHAIN) {
        cJSON *ch = cJSON_AddObjectToObject(o, "chain");
        cJSON_AddBoolToObject(ch, "ok", r->chain_ok);
        cJSON *links = cJSON_AddArrayToObject(ch, "links");
        for (size_t i = 0; i + 1 < r->n_certs; i++) {
            cJSON *l = cJSON_CreateObject();
            cJSON_AddNumberToObject(l, "from", (double)(i + 1));
            cJSON_AddNumberToObject(l, "to", (double)(i + 2));
            json_link(l, &r->links[i]);
            cJSON_AddItemToArray(links, l);
        }
        if (r->chain_ok)
            cJSON_AddNullToObject(ch, "broken_link");
        else
            cJSON_AddNumberToObject(ch, "broken_link", (double)(r->broken_link + 1));
        cJSON_AddBoolToObject(ch, "root_included", r->certs[r->n_certs - 1].self_signed);
    }
    if (r->issuer_checked) {
        cJSON *is = cJSON_AddObjectToObject(o, "issuer_check");
        cJSON_AddBoolToObject(is, "found", r->issuer_found);
        if (r->issuer_found)
            json_link(is, &r->issuer_link);
        else
            cJSON_AddBoolToObject(is, "ok", 0);
    }
    if (r->root_checked) {
        cJSON *rc = cJSON_AddObjectToObject(o, "root_check");
        cJSON_AddBoolToObject(rc, "ok", r->root_ok);
        cJSON *flags = cJSON_AddArrayToObject(rc, "flags");
        char copy[sizeof(r->root_flags)];
        snprintf(copy, sizeof(copy), "%s", r->root_flags);
        char *save = NULL;
        for (char *t = strtok_r(copy, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
            cJSON_AddItemToArray(flags, cJSON_CreateString(t));
    }
}

static cJSON *json_report(const struct minica_inspect_report *r)
{
    static const char *const kinds[] = {"", "certificate", "chain", "csr", "crl"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", kinds[r->kind]);
    cJSON_AddBoolToObject(o, "ok", r->ok);
    if (r->kind == MINICA_INSPECT_CERT || r->kind == MINICA_INSPECT_CHAIN) {
        json_certs(o, r);
    } else if (r->kind == MINICA_INSPECT_CSR) {
        cJSON *c = cJSON_AddObjectToObject(o, "csr");
        cJSON_AddStringToObject(c, "subject", r->csr.subject);
        cJSON_AddItemToObject(c, "sans",
                              json_names(r->csr.sans, r->csr.n_sans, r->csr.sans_omitted));
        cJSON_AddItemToObject(c, "key", json_key(&r->csr.key));
        cJSON_AddStringToObject(c, "signature_algorithm", r->csr.sig_alg);
        cJSON_AddStringToObject(c, "signature", minica_inspect_sig_name(r->csr.signature));
    } else {
        cJSON *crls = cJSON_AddArrayToObject(o, "crls");
        for (size_t i = 0; i < r->n_crls; i++) {
            const struct minica_inspect_crl *c = &r->crls[i];
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "issuer", c->issuer);
            if (c->has_number)
                cJSON_AddStringToObject(j, "number", c->number);
            else
                cJSON_AddNullToObject(j, "number");
            add_time(j, "this_update", c->this_update);
            if (c->next_update != 0)
                add_time(j, "next_update", c->next_update);
            else
                cJSON_AddNullToObject(j, "next_update");
            cJSON_AddStringToObject(j, "state", minica_inspect_crl_state_name(c->state));
            cJSON_AddStringToObject(j, "signature_algorithm", c->sig_alg);
            if (c->issuer_checked) {
                cJSON *is = cJSON_AddObjectToObject(j, "issuer_check");
                cJSON_AddBoolToObject(is, "found", c->issuer_found);
                cJSON_AddStringToObject(is, "signature", minica_inspect_sig_name(c->signature));
                cJSON_AddBoolToObject(is, "ok", c->signature == MINICA_SIG_VALID);
            }
            cJSON_AddNumberToObject(j, "revoked_count", (double)c->n_revoked);
            cJSON *rv = cJSON_AddArrayToObject(j, "revoked");
            for (size_t k = 0; k < c->n_revoked; k++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "serial", c->revoked[k].serial);
                add_time(e, "revoked_at", c->revoked[k].revoked_at);
                if (c->revoked[k].reason >= 0)
                    cJSON_AddStringToObject(e, "reason",
                                            minica_inspect_reason_name(c->revoked[k].reason));
                else
                    cJSON_AddNullToObject(e, "reason");
                cJSON_AddItemToArray(rv, e);
            }
            cJSON_AddItemToArray(crls, j);
        }
    }
    return o;
}

/* ---- the command ---- */

static int read_input(struct input *in, struct minica_err *err)
{
    return minica_inspect_read(in->path, &in->data, &in->len, err);
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        {"json", no_argument, NULL, 'j'},
        {"root", required_argument, NULL, 'r'},
        {"issuer", required_argument, NULL, 'i'},
        {"expiring", required_argument, NULL, 'e'},
        {0, 0, 0, 0},
    };
    struct input in = {0}, root = {0}, issuer = {0};
    struct minica_inspect_options opts;
    memset(&opts, 0, sizeof(opts));
    struct minica_err err;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("inspect", stdout);
        case 'j':
            json = 1;
            break;
        case 'r':
            root.path = optarg;
            break;
        case 'i':
            issuer.path = optarg;
            break;
        case 'e':
            if (minica_duration_parse(optarg, &opts.expiring, &err) != 0)
                return cli_usage("inspect", "--expiring: %s", err.msg);
            break;
        default:
            return cli_bad_option("inspect", argc, argv);
        }
    }
    if (optind >= argc)
        return cli_usage("inspect", "missing FILE (or - for standard input)");
    if (optind + 1 < argc)
        return cli_usage("inspect", "unexpected argument '%s'", argv[optind + 1]);
    in.path = argv[optind];
    int stdin_users = (strcmp(in.path, "-") == 0) + (root.path && strcmp(root.path, "-") == 0) +
                      (issuer.path && strcmp(issuer.path, "-") == 0);
    if (stdin_users > 1)
        return cli_usage("inspect", "only one of FILE, --root and --issuer can be '-'");

    int ret = EXIT_FAIL;
    struct minica_inspect_report report;
    minica_inspect_report_init(&report);
    if (read_input(&in, &err) != 0 || (root.path && read_input(&root, &err) != 0) ||
        (issuer.path && read_input(&issuer, &err) != 0)) {
        ret = cli_fail("inspect", "%s", err.msg);
        goto out;
    }
    opts.now = minica_time_now();
    opts.root = root.data;
    opts.root_len = root.len;
    opts.issuer = issuer.data;
    opts.issuer_len = issuer.len;
    if (minica_inspect(in.data, in.len, &opts, &report, &err) != 0) {
        if (report.failed == MINICA_INSPECT_IN_ROOT)
            ret = cli_fail("inspect", "--root %s: %s", root.path, err.msg);
        else if (report.failed == MINICA_INSPECT_IN_ISSUER)
            ret = cli_fail("inspect", "--issuer %s: %s", issuer.path, err.msg);
        else
            ret = cli_fail("inspect", "%s: %s", in.path, err.msg);
        goto out;
    }
    if (report.kind == MINICA_INSPECT_CSR && (root.path || issuer.path)) {
        ret = cli_usage("inspect", "%s is a CSR: --root and --issuer check certificates and CRLs",
                        in.path);
        goto out;
    }
    if (json) {
        cli_print_json(json_report(&report));
    } else {
        if (report.kind == MINICA_INSPECT_CSR)
            print_csr(&report);
        else if (report.kind == MINICA_INSPECT_CRL)
            print_crls(&report, issuer.path ? &issuer : &root);
        else
            print_certs(&report, &issuer, &root);
        row("verdict", "%s", report.ok ? "ok" : "BAD (see above)");
    }
    ret = report.ok ? EXIT_OK : EXIT_FAIL;
out:
    minica_inspect_report_free(&report);
    free(in.data);
    free(root.data);
    free(issuer.data);
    return ret;
}

const struct cli_command cmd_inspect_def = {
    "inspect", run, "show what a certificate, chain, CSR or CRL file says",
    "Usage: minica inspect FILE|- [--json] [--root FILE] [--issuer FILE]\n"
    "                      [--expiring DURATION]\n"
    "\n"
    "Reads a certificate, a chain (several PEM certificates, leaf first), a\n"
    "certificate request (PKCS#10) or CRLs from FILE, or standard input for -,\n"
    "in PEM or DER, and prints what it says: names, serial, validity, SANs,\n"
    "key, usages, constraints, SHA-256 fingerprint, signature algorithm; for a\n"
    "chain whether each certificate is signed by the next; for a CSR whether\n"
    "its self-signature verifies; for a CRL its updates and revoked serials.\n"
    "Reads files only, never the inventory (that is 'minica show').\n"
    "\n"
    "  --json               one object: \"type\" (certificate, chain, csr, crl),\n"
    "                       \"ok\", and what was read (minica(1) lists the fields)\n"
    "  --root FILE          verify the certificates up to this trusted root (or\n"
    "                       check a CRL's signature with it)\n"
    "  --issuer FILE        check that a certificate in FILE (PEM or DER) signed\n"
    "                       the CRL, or the last certificate\n"
    "  --expiring DURATION  call a certificate that expires within DURATION\n"
    "                       \"expires soon\" (default 30d, or a third of its\n"
    "                       lifetime when that is shorter)\n"
    "\n"
    "Exit status: 0 when everything parsed and every verdict is good (one that\n"
    "expires soon included); 1 when a verdict is bad (expired or not yet valid,\n"
    "a broken chain, a bad signature, a stale CRL, a failed --root or --issuer\n"
    "check) or FILE cannot be read or is none of these; 2 for a usage error.\n"};
