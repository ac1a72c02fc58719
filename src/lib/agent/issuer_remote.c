/* The issuer interface over a remote `minica serve`: the first certificate
 * with the one-time token from token_file (then deleted), renewals over
 * mutual TLS with the current certificate and key; verdicts from the
 * bootstrapped root and the CA's CRL. The HTTP client is remote.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#include "base/trustfile.h"
#include "ca/x509.h"
#include "minica/agent.h"
#include "minica/fsutil.h"
#include "minica/remote.h"

struct remote_cert {
    char *name;
    char *cert_file;
    char *key_file;
    char *token_file;
    char *chain_pem; /* what follows the leaf in its files at open, or NULL */
};

struct remote_ctx {
    char *ca_url;
    char *root_file;
    int64_t retry_for;   /* the run's budget for waiting on the CA (remote.h) */
    int64_t deadline_ms; /* set by the first request; 0 before */
    char *root_pem;
    char *root_pem_before; /* what root_pem was before learn_roots: callers may hold it */
    char *chain_pem;       /* the intermediate: from the last answer, else from the files */
    struct remote_cert *certs;
    size_t n_certs;
    int crl_tried;
    int crl_ok;
    mbedtls_x509_crl crl;
    /* Roots from /v1/roots: once per run that may change files. */
    int learn;
    int learnt;
    void (*say)(void *say_ctx, int is_error, const char *line);
    void *say_ctx;
};

static void remote_close(void *p)
{
    struct remote_ctx *ctx = p;
    if (ctx == NULL)
        return;
    for (size_t i = 0; i < ctx->n_certs; i++) {
        free(ctx->certs[i].name);
        free(ctx->certs[i].cert_file);
        free(ctx->certs[i].key_file);
        free(ctx->certs[i].token_file);
        free(ctx->certs[i].chain_pem);
    }
    free(ctx->certs);
    free(ctx->ca_url);
    free(ctx->root_file);
    free(ctx->root_pem);
    free(ctx->root_pem_before);
    free(ctx->chain_pem);
    mbedtls_x509_crl_free(&ctx->crl);
    free(ctx);
}

/* 1 when the certificate in path is unexpired and its key file exists. */
static int usable_cert(const struct remote_cert *c)
{
    if (c->cert_file == NULL || c->key_file == NULL || !minica_file_exists(c->key_file))
        return 0;
    char *pem = NULL;
    if (minica_read_file(c->cert_file, 256 * 1024, &pem, NULL, NULL) != 0)
        return 0;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int ok = minica_crt_parse_pem(&crt, pem, NULL) == 0 &&
             minica_x509_time_to_unix(&crt.valid_to) > minica_now();
    mbedtls_x509_crt_free(&crt);
    free(pem);
    return ok;
}

/* The token is a bearer secret the agent (root, from cron) sends to the CA:
 * minica_token_file_read refuses it when group or others may read it (as
 * for `issue --token-file`), when it is a symlink, which would make the
 * agent send whatever file it points to, and when anyone else could swap it. */
static int read_token(const char *path, char **token, struct minica_err *err)
{
    return minica_token_file_read(path, token, err);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What is left of the run's budget, as a retry_for: one run waits for a
 * busy or unreachable CA retry_for in all, not once per certificate and
 * once more for the CRL; with nothing left, each request is one attempt. */
static int64_t retry_left(struct remote_ctx *ctx)
{
    if (ctx->retry_for < 0)
        return -1;
    int64_t budget = ctx->retry_for ? ctx->retry_for : MINICA_REMOTE_DEFAULT_RETRY_FOR;
    int64_t now = monotonic_ms();
    if (ctx->deadline_ms == 0)
        ctx->deadline_ms = now + budget * 1000;
    int64_t left = (ctx->deadline_ms - now + 999) / 1000;
    return left > 0 ? left : -1;
}

static void learn_roots(struct remote_ctx *ctx);

static int remote_issue(void *p, const struct minica_issue_request *req, struct minica_issued *out,
                        struct minica_err *err)
{
    struct remote_ctx *ctx = p;
    const struct remote_cert *c = NULL;
    for (size_t i = 0; i < ctx->n_certs; i++)
        if (strcmp(ctx->certs[i].name, req->name) == 0)
            c = &ctx->certs[i];
    struct minica_remote_request r;
    memset(&r, 0, sizeof(r));
    r.ca_url = ctx->ca_url;
    r.root_file = ctx->root_file;
    r.name = req->name;
    r.sans = req->sans;
    r.n_sans = req->n_sans;
    r.usage = req->usage;
    r.key_type = req->key_type;
    int have_token = c != NULL && c->token_file != NULL && c->token_file[0] != '\0' &&
                     minica_file_exists(c->token_file);
    int ret;
    if (c != NULL && usable_cert(c)) {
        r.client_cert_file = c->cert_file;
        r.client_key_file = c->key_file;
        learn_roots(ctx);
        r.retry_for = retry_left(ctx);
        ret = minica_remote_issue(&r, out, err);
        /* A revoked certificate cannot renew; a token still can. */
        if (ret != MINICA_EFORBIDDEN || !have_token)
            goto done;
        r.client_cert_file = r.client_key_file = NULL;
    } else if (!have_token) {
        if (c != NULL && c->cert_file != NULL && minica_file_exists(c->cert_file))
            return minica_seterr(err, MINICA_EFORBIDDEN,
                                 "certificate too old to renew (%s has expired or is unreadable): "
                                 "a new token is needed (token_file)",
                                 c->cert_file);
        return minica_seterr(err, MINICA_EFORBIDDEN,
                             "no certificate yet and no token: set token_file for [cert %s]",
                             req->name);
    }
    char *token = NULL;
    if ((ret = read_token(c->token_file, &token, err)) != 0)
        return ret;
    r.token = token;
    learn_roots(ctx);
    r.retry_for = retry_left(ctx);
    ret = minica_remote_issue(&r, out, err);
    minica_free_secret(token, strlen(token));
    /* Spent: the file is worthless now. A failure to remove it (a read-only
     * sandbox) must not throw away the certificate the token paid for; the
     * next runs renew over mutual TLS and never read it again. */
    if (ret == 0)
        (void)unlink(c->token_file);
done:
    if (ret == 0 && out->chain_pem != NULL) {
        char *copy = minica_strdup(out->chain_pem);
        if (copy != NULL) {
            free(ctx->chain_pem);
            ctx->chain_pem = copy;
        }
    }
    return ret;
}

/* Learns the CA's roots (GET /v1/roots, over TLS verified by the roots
 * trusted now) before the run's first request to the CA, so that the
 * answers are checked, and the ca = files written, with what it leaves in
 * root_file. A CA that cannot be reached changes nothing: the request
 * that follows reports it. */
static void learn_roots(struct remote_ctx *ctx)
{
    if (!ctx->learn || ctx->learnt)
        return;
    ctx->learnt = 1;
    struct minica_roots_update u;
    struct minica_err e;
    char line[2048];
    line[0] = '\0';
    if (minica_remote_update_roots(ctx->ca_url, ctx->root_file, retry_left(ctx), &u, &e) != 0)
        return;
    if (u.refused[0] != '\0')
        snprintf(line, sizeof(line), "%s: %s", ctx->root_file, u.refused);
    else if (u.changed)
        snprintf(line, sizeof(line),
                 "%s: now trusts %d more root%s of the CA (vouched for by a cross-certificate), "
                 "%d fewer (no longer listed)",
                 ctx->root_file, u.added, u.added == 1 ? "" : "s", u.dropped);
    if (line[0] != '\0' && ctx->say != NULL)
        ctx->say(ctx->say_ctx, u.refused[0] != '\0', line);
    if (u.roots_pem != NULL) {
        free(ctx->root_pem_before);
        ctx->root_pem_before = ctx->root_pem;
        ctx->root_pem = u.roots_pem;
        u.roots_pem = NULL;
    }
    minica_roots_update_free(&u);
}

static void remote_begin_run(void *p, void (*say)(void *, int, const char *), void *say_ctx)
{
    struct remote_ctx *ctx = p;
    ctx->learn = 1;
    ctx->say = say;
    ctx->say_ctx = say_ctx;
}

/* The CRLs are fetched once per run; without them nothing is called
 * revoked (an unreachable CA must not make good certificates look bad).
 * Every current intermediate's: after a rotation a leaf may be the
 * previous intermediate's, and the active one's CRL says nothing of it. */
static void load_crl(struct remote_ctx *ctx)
{
    if (ctx->crl_tried)
        return;
    ctx->crl_tried = 1;
    char *pem = NULL;
    if (minica_remote_fetch_crls(ctx->ca_url, ctx->root_file, retry_left(ctx), &pem, NULL) == 0 &&
        mbedtls_x509_crl_parse(&ctx->crl, (const unsigned char *)pem, strlen(pem) + 1) == 0)
        ctx->crl_ok = 1;
    free(pem);
}

static int remote_verdict(void *p, const char *cert_pem, struct minica_issuer_verdict *out,
                          struct minica_err *err)
{
    struct remote_ctx *ctx = p;
    memset(out, 0, sizeof(*out));
    learn_roots(ctx);
    mbedtls_x509_crt chain, root;
    mbedtls_x509_crt_init(&chain);
    mbedtls_x509_crt_init(&root);
    int ret = minica_crt_parse_pem_first(&chain, cert_pem, err);
    if (ret != 0)
        goto out;
    if (minica_crt_parse_pem(&root, ctx->root_pem, NULL) != 0)
        goto out;
    /* The chain that follows the leaf: its own file's, the last answer's,
     * or one of the other certificates' (after a rotation the leaves of a
     * VM may come from different intermediates, all of them current). */
    const char *own = strstr(cert_pem + 1, "-----BEGIN CERTIFICATE-----");
    const char *tries[2 + 64];
    size_t n_tries = 0;
    if (own != NULL)
        tries[n_tries++] = own;
    if (ctx->chain_pem != NULL)
        tries[n_tries++] = ctx->chain_pem;
    for (size_t i = 0; i < ctx->n_certs && n_tries < sizeof(tries) / sizeof(tries[0]); i++)
        if (ctx->certs[i].chain_pem != NULL)
            tries[n_tries++] = ctx->certs[i].chain_pem;
    uint32_t flags = 0;
    for (size_t i = 0; i < n_tries && !out->current; i++) {
        mbedtls_x509_crt_free(&chain);
        mbedtls_x509_crt_init(&chain);
        if (minica_crt_parse_pem_first(&chain, cert_pem, NULL) != 0 ||
            minica_crt_parse_pem(&chain, tries[i], NULL) != 0)
            continue;
        flags = 0;
        mbedtls_x509_crt_verify(&chain, &root, NULL, NULL, &flags, NULL, NULL);
        flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE |
                             MBEDTLS_X509_BADCERT_CN_MISMATCH);
        out->current = flags == 0;
        if (out->current && tries[i] != ctx->chain_pem)
            out->chain_pem = tries[i];
    }
    if (out->current) {
        load_crl(ctx);
        /* Verified again with the CRLs: each is matched to the leaf's own
         * issuer by name and checked against its key, so a serial on
         * another intermediate's CRL does not count. */
        if (ctx->crl_ok) {
            flags = 0;
            mbedtls_x509_crt_verify(&chain, &root, &ctx->crl, NULL, &flags, NULL, NULL);
            out->revoked = (flags & MBEDTLS_X509_BADCERT_REVOKED) != 0;
        }
    }
out:
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&root);
    return ret;
}

static const char *remote_root(void *p)
{
    return ((struct remote_ctx *)p)->root_pem;
}

static const char *remote_chain(void *p)
{
    return ((struct remote_ctx *)p)->chain_pem;
}

static const struct minica_issuer_ops remote_ops = {
    .kind = "remote",
    .issue = remote_issue,
    .verdict = remote_verdict,
    .root_pem = remote_root,
    .chain_pem = remote_chain,
    .begin_run = remote_begin_run,
    .close = remote_close,
};

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? minica_strdup(s) : NULL;
}

/* The chain in a fullchain file on disk: every certificate after the leaf
 * (the intermediate, and the cross-certificate during a root rollover). */
static char *intermediate_from(const char *path)
{
    char *pem = NULL, *result = NULL;
    if (path == NULL || minica_read_file(path, 256 * 1024, &pem, NULL, NULL) != 0)
        return NULL;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    size_t len = 0;
    if (minica_crt_parse_pem(&crt, pem, NULL) == 0)
        for (const mbedtls_x509_crt *x = crt.next; x != NULL && x->raw.len > 0; x = x->next) {
            char *one = NULL;
            if (minica_der_to_pem(x->raw.p, x->raw.len, "CERTIFICATE", &one, NULL) != 0)
                break;
            char *grown = realloc(result, len + strlen(one) + 1);
            if (grown == NULL) {
                free(one);
                break;
            }
            memcpy(grown + len, one, strlen(one) + 1);
            result = grown;
            len += strlen(one);
            free(one);
        }
    mbedtls_x509_crt_free(&crt);
    free(pem);
    return result;
}

int minica_issuer_open_remote(struct minica_issuer *issuer, const char *ca_url,
                              const char *root_file, int64_t retry_for,
                              const struct minica_remote_cert *certs, size_t n_certs,
                              struct minica_err *err)
{
    memset(issuer, 0, sizeof(*issuer));
    struct remote_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    mbedtls_x509_crl_init(&ctx->crl);
    int ret;
    if (ca_url == NULL || ca_url[0] == '\0' || root_file == NULL || root_file[0] == '\0') {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "a remote CA needs ca_url and root (see minica bootstrap)");
        goto fail;
    }
    ctx->ca_url = minica_strdup(ca_url);
    ctx->root_file = minica_strdup(root_file);
    ctx->retry_for = retry_for;
    ctx->certs = calloc(n_certs ? n_certs : 1, sizeof(*ctx->certs));
    if (ctx->ca_url == NULL || ctx->root_file == NULL || ctx->certs == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto fail;
    }
    if ((ret = minica_read_trusted_file(root_file, 256 * 1024, "root certificate", 0,
                                        &ctx->root_pem, NULL, err)) != 0) {
        minica_err_prefix(err, "the CA's root (run minica bootstrap first)");
        goto fail;
    }
    for (size_t i = 0; i < n_certs; i++, ctx->n_certs++) {
        struct remote_cert *c = &ctx->certs[i];
        c->name = minica_strdup(certs[i].name);
        c->cert_file = dup_or_null(certs[i].cert_file);
        c->key_file = dup_or_null(certs[i].key_file);
        c->token_file = dup_or_null(certs[i].token_file);
        if (c->name == NULL) {
            ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
            goto fail;
        }
        c->chain_pem = intermediate_from(certs[i].fullchain_file);
        if (c->chain_pem == NULL)
            c->chain_pem = intermediate_from(c->cert_file);
        if (ctx->chain_pem == NULL && c->chain_pem != NULL &&
            (ctx->chain_pem = minica_strdup(c->chain_pem)) == NULL) {
            ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
            goto fail;
        }
    }
    issuer->ops = &remote_ops;
    issuer->ctx = ctx;
    return MINICA_OK;
fail:
    remote_close(ctx);
    return ret;
}

int minica_issuer_open_remote_agent(struct minica_issuer *issuer,
                                    const struct minica_agent_config *cfg, struct minica_err *err)
{
    struct minica_remote_cert *certs = calloc(cfg->n_certs ? cfg->n_certs : 1, sizeof(*certs));
    if (certs == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    for (size_t i = 0; i < cfg->n_certs; i++) {
        const struct minica_agent_cert *c = &cfg->certs[i];
        certs[i].name = c->name;
        certs[i].cert_file = c->cert[0] ? c->cert : c->fullchain;
        certs[i].fullchain_file = c->fullchain;
        certs[i].key_file = c->key;
        certs[i].token_file = c->token_file;
    }
    int ret = minica_issuer_open_remote(issuer, cfg->ca_url, cfg->root, cfg->retry_for, certs,
                                        cfg->n_certs, err);
    free(certs);
    return ret;
}
