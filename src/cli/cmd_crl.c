/* minica crl: publish the certificate revocation lists (the file nginx's
 * ssl_crl and proxy_ssl_crl read), one per issuer that needs one. Revoking
 * is `minica revoke` (leaves) and `minica ca revoke` (intermediates). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "minica/ca.h"
#include "minica/crl.h"
#include "minica/duration.h"

static void print_warnings(const struct minica_crl_plan *plan)
{
    for (size_t i = 0; i < plan->n_warnings; i++)
        fprintf(stderr, "minica: crl: warning: %s\n", plan->warning[i]);
}

/* "intermediate 0a1b.. (active), root 2c3d..": what --der would have to hold. */
static void list_issuers(const struct minica_crl_plan *plan, char *out, size_t outlen)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < plan->n && at < outlen; i++) {
        int n = snprintf(out + at, outlen - at, "%s%s %s%s", i ? ", " : "",
                         minica_ca_role_name(plan->issuer[i].role), plan->issuer[i].serial,
                         plan->issuer[i].active ? " (active)" : "");
        if (n < 0)
            break;
        at += (size_t)n;
    }
}

static void print_summary(const struct minica_crl_set *set, const char *out)
{
    char next[64];
    minica_duration_format(set->crl[0].next_update - set->crl[0].this_update, next, sizeof(next));
    printf("Wrote %zu CRL%s to %s:", set->n, set->n == 1 ? "" : "s", out);
    for (size_t i = 0; i < set->n; i++) {
        const struct minica_crl *c = &set->crl[i];
        printf("%s %s %s%s number %lld: %zu revoked", i ? ";" : "",
               minica_ca_role_name(c->issuer_role), c->issuer_serial,
               c->issuer_active ? " (active)" : "", (long long)c->number, c->n_revoked);
    }
    printf("; next update in %s\n", next);
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_OPT_HELP,
        CLI_OPT_DIR,
        {"out", required_argument, NULL, 'o'},
        {"der", no_argument, NULL, 'd'},
        {"next-update", required_argument, NULL, 'n'},
        {"root", no_argument, NULL, 'r'},
        {"all", no_argument, NULL, 'a'},
        {"issuer", required_argument, NULL, 'i'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL, *out = NULL;
    int der = 0, root = 0, all = 0;
    struct minica_crl_options opts;
    memset(&opts, 0, sizeof(opts));
    struct minica_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("crl", stdout);
        case 'D':
            dir = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'd':
            der = 1;
            break;
        case 'n':
            if (minica_duration_parse(optarg, &opts.next_update, &err) != 0)
                return cli_usage("crl", "--next-update: %s", err.msg);
            break;
        case 'r':
            root = 1;
            break;
        case 'a':
            all = 1;
            break;
        case 'i':
            opts.issuer_serial = optarg;
            break;
        default:
            return cli_bad_option("crl", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage("crl", "unexpected argument '%s'", argv[optind]);
    if (root && all)
        return cli_usage("crl", "--root and --all: --all already holds the roots' CRLs");
    if (opts.issuer_serial != NULL && (root || all))
        return cli_usage("crl", "--issuer names one CA certificate; leave out --%s",
                         root ? "root" : "all");
    opts.scope = all ? MINICA_CRL_ALL : root ? MINICA_CRL_ROOTS : MINICA_CRL_INTERMEDIATES;

    struct minica_ca *ca = NULL;
    struct minica_crl_set set;
    minica_crl_set_init(&set);
    int ret = minica_ca_open(cli_state_dir(dir), &ca, &err);
    if (ret == 0 && der) {
        /* Checked before anything is signed: no cRLNumber or audit row is
         * spent on a run that cannot be written. */
        struct minica_crl_plan plan;
        ret = minica_ca_crl_plan(ca, &opts, &plan, &err);
        if (ret == 0 && plan.n != 1) {
            char which[2048];
            list_issuers(&plan, which, sizeof(which));
            size_t n = plan.n;
            minica_crl_plan_free(&plan);
            minica_ca_close(ca);
            return cli_usage("crl",
                             "--der holds one CRL and %zu would be written (%s); pick one with "
                             "--issuer SERIAL, or leave out --der for one PEM file",
                             n, which);
        }
        minica_crl_plan_free(&plan);
    }
    if (ret == 0) {
        minica_ca_set_actor(ca, "crl", "local");
        ret = minica_ca_crls(ca, &opts, &set, &err);
    }
    minica_ca_close(ca);
    if (ret == 0)
        print_warnings(&set.plan);
    if (ret == 0 && out != NULL)
        ret = minica_crl_set_write(&set, out, der, &err);
    if (ret != 0) {
        minica_crl_set_free(&set);
        return cli_fail("crl", "%s", err.msg);
    }
    if (out == NULL) {
        const void *data = der ? (const void *)set.crl[0].der : (const void *)set.pem;
        size_t len = der ? set.crl[0].der_len : strlen(set.pem);
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
            minica_crl_set_free(&set);
            return cli_fail("crl", "cannot write the CRLs to standard output");
        }
    } else {
        print_summary(&set, out);
    }
    minica_crl_set_free(&set);
    return EXIT_OK;
}

const struct cli_command cmd_crl_def = {
    "crl", run, "write the certificate revocation lists",
    "Usage: minica crl [--root | --all | --issuer SERIAL] [--out FILE] [--der]\n"
    "                  [--next-update DURATION] [--dir DIR]\n"
    "\n"
    "Writes one PEM file with an X.509 v2 CRL for each issuer that needs one:\n"
    "the active intermediate, and every previous intermediate (after `minica ca\n"
    "rotate`) that is not retired and still has unexpired leaves. Each is\n"
    "signed by its intermediate and lists the revoked, unexpired leaves it\n"
    "signed, with revocation date and reason, a cRLNumber and the issuer's key\n"
    "identifier. cRLNumbers come from one counter for intermediates and one\n"
    "for roots, so each issuer's grow with every run. Without --out the PEM\n"
    "goes to standard output; with --out, one line says which CRLs were\n"
    "written.\n"
    "\n"
    "nginx (ssl_crl, proxy_ssl_crl) checks every CA of a chain and wants a CRL\n"
    "for each in the one file, intermediates and roots: use --all, or\n"
    "  minica crl > crl.pem && minica crl --root >> crl.pem\n"
    "\n"
    "  --root                the roots' CRLs instead: one for each current root\n"
    "                        whose key is here (the active one first, two during\n"
    "                        a rollover), listing the intermediates it signed\n"
    "                        that were revoked (minica ca revoke)\n"
    "  --all                 the intermediates' CRLs, then the roots'\n"
    "  --issuer SERIAL       only the CRL of this root or intermediate (serial as\n"
    "                        minica ca status shows it)\n"
    "  --out FILE            replace FILE atomically (mode 0644)\n"
    "  --der                 DER instead of PEM; DER holds one CRL, so only when\n"
    "                        one is written (else exit 2: use --issuer)\n"
    "  --next-update D       how long the CRLs stay valid (default 7d); publish\n"
    "                        new ones well before, e.g. daily from cron: nginx\n"
    "                        rejects every upstream once a CRL has expired\n"
    "\n"
    "A root key kept offline: a root whose key is not here gets no CRL and a\n"
    "warning on stderr (an error when no root's key is here). Make the roots'\n"
    "CRLs where the key is kept, with a long --next-update (e.g. 1y), and\n"
    "append that file to the intermediates' CRLs published here:\n"
    "  minica crl --out int.pem && cat int.pem root-crl.pem > crl.pem\n"
    "A previous intermediate whose key is missing is skipped with a warning\n"
    "(a revoked one silently: its root's CRL rejects its leaves anyway).\n"};
