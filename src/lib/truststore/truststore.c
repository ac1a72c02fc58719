/* minica_trust_apply: checks that what is to be trusted is roots, then runs
 * each store's driver. The drivers never stop at a failed store: an
 * operator wants every store done that can be, and told which could not. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/pem.h>
#include <mbedtls/x509_crt.h>

#include "base/compat.h"
#include "base/trustfile.h"
#include "base/util.h"
#include "ca/x509.h"
#include "truststore/truststore_internal.h"

void trust_say(struct trust_run *run, const char *store, enum minica_trust_outcome outcome,
               const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (outcome == MINICA_TRUST_FAILED)
        run->failed++;
    if (outcome == MINICA_TRUST_MISSING)
        run->missing++;
    struct minica_trust_report r = {store, outcome, text};
    run->report(&r, run->ctx);
}

void trust_absent(struct trust_run *run, unsigned store_bit, const char *store, const char *why)
{
    int named = (run->opts->required & store_bit) != 0;
    trust_say(run, store, named ? MINICA_TRUST_FAILED : MINICA_TRUST_SKIPPED, "%s", why);
}

/* The base64 body of the first PEM certificate in text, without whitespace. */
static size_t pem_body(const char *text, char *out, size_t outlen)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    const char *p = text ? strstr(text, begin) : NULL;
    if (p == NULL)
        return 0;
    p += sizeof(begin) - 1;
    const char *end = strstr(p, "-----END CERTIFICATE-----");
    if (end == NULL)
        return 0;
    size_t n = 0;
    for (; p < end; p++)
        if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t') {
            if (n + 1 >= outlen)
                return 0;
            out[n++] = *p;
        }
    out[n] = '\0';
    return n;
}

int trust_pem_is(const char *text, const struct trust_root *root)
{
    size_t cap = root->pem_len + 1;
    char *a = malloc(cap), *b = malloc(cap * 2 + 64);
    int same = a != NULL && b != NULL && pem_body(root->pem, a, cap) > 0 &&
               pem_body(text, b, cap * 2 + 64) > 0 && strcmp(a, b) == 0;
    free(a);
    free(b);
    return same;
}

/* A trust anchor must be a root: a CA certificate that its own key signed.
 * Trusting an intermediate or a leaf as an anchor would pass checks that
 * the real chain fails, and hide a broken deployment. */
static int check_root(mbedtls_x509_crt *crt, size_t index, struct trust_root *root,
                      struct minica_err *err)
{
    minica_dn_to_text(&crt->subject, root->subject, sizeof(root->subject));
    if (!minica_compat_crt_is_ca(crt))
        return minica_seterr(err, MINICA_EINVAL,
                             "certificate %zu (%s) is not a CA certificate: only a root can be "
                             "trusted (minica export root)",
                             index, root->subject);
    uint32_t flags = 0;
    if (crt->subject_raw.len != crt->issuer_raw.len ||
        memcmp(crt->subject_raw.p, crt->issuer_raw.p, crt->subject_raw.len) != 0 ||
        mbedtls_x509_crt_verify(crt, crt, NULL, NULL, &flags, NULL, NULL) != 0)
        return minica_seterr(err, MINICA_EINVAL,
                             "certificate %zu (%s) is not a root (it is not self-signed): trust "
                             "the root above it (minica export root)",
                             index, root->subject);
    return MINICA_OK;
}

static int root_forms(const mbedtls_x509_crt *crt, struct trust_root *root, struct minica_err *err)
{
    root->der = malloc(crt->raw.len);
    size_t cap = crt->raw.len * 2 + 128, olen = 0;
    root->pem = malloc(cap);
    if (root->der == NULL || root->pem == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    memcpy(root->der, crt->raw.p, crt->raw.len);
    root->der_len = crt->raw.len;
    if (mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n",
                                 root->der, root->der_len, (unsigned char *)root->pem, cap,
                                 &olen) != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "cannot write a root as PEM");
    root->pem_len = strlen(root->pem);
    unsigned char sum[32];
    if (minica_compat_sha256(root->der, root->der_len, sum) != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "cannot hash a root");
    for (size_t i = 0; i < sizeof(sum); i++)
        snprintf(root->fingerprint + 2 * i, 3, "%02x", sum[i]);
    snprintf(root->nick, sizeof(root->nick), "minica-%.16s", root->fingerprint);
    return MINICA_OK;
}

static void roots_free(struct trust_root *roots, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(roots[i].der);
        free(roots[i].pem);
    }
    free(roots);
}

static int roots_read(const char *pem, struct trust_root **out, size_t *n_out,
                      struct minica_err *err)
{
    mbedtls_x509_crt chain;
    mbedtls_x509_crt_init(&chain);
    *out = NULL;
    *n_out = 0;
    /* Whatever does not parse is bad input here, not a crypto failure. */
    int ret = minica_crt_parse_pem(&chain, pem, err) == 0 ? 0 : MINICA_EINVAL;
    size_t n = 0;
    for (const mbedtls_x509_crt *c = &chain; ret == 0 && c != NULL && c->raw.len > 0; c = c->next)
        n++;
    if (ret == 0 && n == 0)
        ret = minica_seterr(err, MINICA_EINVAL, "no certificate in it");
    struct trust_root *roots = ret == 0 ? calloc(n, sizeof(*roots)) : NULL;
    if (ret == 0 && roots == NULL)
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
    size_t i = 0;
    for (mbedtls_x509_crt *c = &chain; ret == 0 && i < n; c = c->next, i++) {
        ret = check_root(c, i + 1, &roots[i], err);
        if (ret == 0)
            ret = root_forms(c, &roots[i], err);
    }
    mbedtls_x509_crt_free(&chain);
    if (ret != 0) {
        roots_free(roots, roots ? n : 0);
        return ret;
    }
    *out = roots;
    *n_out = n;
    return MINICA_OK;
}

int minica_trust_read_roots(const char *path, char **pem, struct minica_err *err)
{
    return minica_read_trusted_file(path, 1024 * 1024, "root file", 0, pem, NULL, err);
}

int minica_trust_apply(const char *roots_pem, const struct minica_trust_options *opts,
                       minica_trust_report_fn report, void *ctx, struct minica_err *err)
{
    struct trust_run run;
    memset(&run, 0, sizeof(run));
    run.opts = opts;
    run.report = report;
    run.ctx = ctx;
    int ret = roots_read(roots_pem, &run.roots, &run.n_roots, err);
    if (ret != 0)
        return ret;
    unsigned stores = opts->stores ? opts->stores : MINICA_TRUST_ALL;
    /* The system store first: on Debian its update hook also fills the
     * Java cacerts, which the Java driver then finds already done. */
    if (stores & MINICA_TRUST_SYSTEM)
        trust_system(&run);
    if (stores & MINICA_TRUST_NSS)
        trust_nss(&run);
    if (stores & MINICA_TRUST_JAVA)
        trust_java(&run);
    roots_free(run.roots, run.n_roots);
    if (run.failed > 0)
        return minica_seterr(err, MINICA_EIO, "%u store%s could not be %s", run.failed,
                             run.failed == 1 ? "" : "s",
                             opts->action == MINICA_TRUST_CHECK ? "checked" : "updated");
    if (run.missing > 0)
        return minica_seterr(err, MINICA_ENOENT, "not trusted in %u place%s", run.missing,
                             run.missing == 1 ? "" : "s");
    return MINICA_OK;
}
