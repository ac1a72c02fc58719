/* What is on disk for one managed certificate (minica_agent_inspect): its
 * files, whether they parse, match each other and were issued by the CA,
 * and what they say. Deciding what to do with that is decide.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "ca/x509.h"
#include "minica/agent.h"
#include "minica/der.h"

#define CERT_FILE_MAX (256 * 1024)

static int read_optional(const char *path, char **buf, struct minica_agent_facts *f)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) {
            if (!f->missing && !f->unreadable)
                snprintf(f->problem, sizeof(f->problem), "%s does not exist", path);
            f->missing = 1;
        } else {
            if (!f->missing && !f->unreadable)
                snprintf(f->problem, sizeof(f->problem), "cannot read %s: %s", path,
                         strerror(errno));
            f->unreadable = 1;
        }
        return -1;
    }
    struct minica_err err;
    if (minica_read_file(path, CERT_FILE_MAX, buf, NULL, &err) != 0) {
        if (!f->missing && !f->unreadable)
            snprintf(f->problem, sizeof(f->problem), "%s", err.msg);
        f->unreadable = 1;
        return -1;
    }
    return 0;
}

static void unreadable(struct minica_agent_facts *f, const char *path, const char *what)
{
    if (!f->missing && !f->unreadable)
        snprintf(f->problem, sizeof(f->problem), "%s %s", path, what);
    f->unreadable = 1;
}

/* subjectAltName of a parsed certificate, canonical and comma-separated. */
static int leaf_sans(const mbedtls_x509_crt *crt, char *out, size_t outlen, struct minica_err *err)
{
    out[0] = '\0';
    if (crt->v3_ext.p == NULL || crt->v3_ext.len == 0)
        return MINICA_OK;
    return minica_der_find_san(crt->v3_ext.p, crt->v3_ext.len, out, outlen, err);
}

static enum minica_usage leaf_usage(const mbedtls_x509_crt *crt)
{
    int server = mbedtls_x509_crt_check_extended_key_usage(
                     crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) == 0;
    int client = mbedtls_x509_crt_check_extended_key_usage(
                     crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) == 0;
    if (server && client)
        return MINICA_USAGE_BOTH;
    return client ? MINICA_USAGE_CLIENT : MINICA_USAGE_SERVER;
}

static int same_der(const mbedtls_x509_crt *a, const mbedtls_x509_crt *b)
{
    return a != NULL && b != NULL && a->raw.len == b->raw.len &&
           memcmp(a->raw.p, b->raw.p, a->raw.len) == 0;
}

/* Every certificate of a equals b's, in order, and neither has more: a
 * fullchain that still sends a dropped cross-certificate, or a ca file
 * that still trusts a retired root, differs only after the first. */
static int same_chain(const mbedtls_x509_crt *a, const mbedtls_x509_crt *b)
{
    for (; a != NULL && a->raw.len > 0; a = a->next, b = b->next)
        if (!same_der(a, b))
            return 0;
    return b == NULL || b->raw.len == 0;
}

/* Through minica_crt_parse_pem: a name-constrained intermediate in a
 * fullchain file must parse (plain mbedtls_x509_crt_parse refuses it). */
static int parse_pem_chain(mbedtls_x509_crt *crt, const char *pem)
{
    return minica_crt_parse_pem(crt, pem, NULL);
}

int minica_agent_inspect(struct minica_issuer *issuer, const struct minica_agent_cert *cert,
                         struct minica_agent_facts *facts, struct minica_err *err)
{
    memset(facts, 0, sizeof(*facts));
    facts->files_agree = 1;
    char *key = NULL, *leaf_file = NULL, *fullchain = NULL, *ca = NULL;
    size_t key_len = 0;
    mbedtls_x509_crt leaf, chain, cafile, want;
    mbedtls_x509_crt_init(&leaf);
    mbedtls_x509_crt_init(&chain);
    mbedtls_x509_crt_init(&cafile);
    mbedtls_x509_crt_init(&want);
    int ret = MINICA_OK;
    char *bundle = NULL;
    mbedtls_x509_crt bundle_leaf;
    mbedtls_x509_crt_init(&bundle_leaf);
    /* A pem_bundle without key/fullchain is both (haproxy): judge it as such.
     * Next to them, it must hold the same leaf. */
    struct minica_agent_cert *alone = NULL;
    if (cert->hooks.pem_bundle[0] != '\0' &&
        (cert->key[0] == '\0' || (cert->fullchain[0] == '\0' && cert->cert[0] == '\0'))) {
        if ((alone = malloc(sizeof(*alone))) == NULL)
            return minica_seterr(err, MINICA_ENOMEM, "out of memory");
        *alone = *cert;
        if (alone->key[0] == '\0')
            alone->key = cert->hooks.pem_bundle;
        if (alone->fullchain[0] == '\0' && alone->cert[0] == '\0')
            alone->fullchain = cert->hooks.pem_bundle;
        cert = alone;
    } else if (cert->hooks.pem_bundle[0] != '\0') {
        read_optional(cert->hooks.pem_bundle, &bundle, facts);
    }

    read_optional(cert->key, &key, facts);
    if (cert->cert[0] != '\0')
        read_optional(cert->cert, &leaf_file, facts);
    if (cert->fullchain[0] != '\0')
        read_optional(cert->fullchain, &fullchain, facts);
    if (cert->ca[0] != '\0')
        read_optional(cert->ca, &ca, facts);
    if (facts->missing || facts->unreadable)
        goto out;
    key_len = strlen(key);

    const char *leaf_path = leaf_file ? cert->cert : cert->fullchain;
    /* Each file is parsed once: without a cert file, the fullchain's first
     * certificate is the leaf (a no-op run over 1,000 certificates is mostly
     * base64 decoding). */
    if (leaf_file != NULL && parse_pem_chain(&leaf, leaf_file) != 0) {
        unreadable(facts, leaf_path, "holds no readable certificate");
        goto out;
    }
    /* Its intermediate is compared as text below, and parsed only then. */
    if (fullchain != NULL && minica_crt_parse_pem_first(&chain, fullchain, NULL) != 0) {
        unreadable(facts, cert->fullchain, "holds no readable certificate");
        goto out;
    }
    const mbedtls_x509_crt *lc = leaf_file != NULL ? &leaf : &chain;
    struct minica_err kerr;
    int match = minica_key_matches_crt(key, lc, &kerr);
    if (match < 0) {
        unreadable(facts, cert->key, "holds no readable private key");
        goto out;
    }
    facts->key_matches = match == 1;

    minica_serial_to_hex(lc->serial.p, lc->serial.len, facts->serial, sizeof(facts->serial));
    facts->not_before = minica_x509_time_to_unix(&lc->valid_from);
    facts->not_after = minica_x509_time_to_unix(&lc->valid_to);
    facts->usage = leaf_usage(lc);
    minica_key_type_of(&lc->pk, &facts->key_type);
    struct minica_err serr;
    if (leaf_sans(lc, facts->sans, sizeof(facts->sans), &serr) != 0)
        facts->sans[0] = '\0'; /* unknown names: the comparison will ask for a renewal */

    struct minica_issuer_verdict verdict;
    char *pem = leaf_file ? leaf_file : fullchain;
    ret = issuer->ops->verdict(issuer->ctx, pem, &verdict, err);
    if (ret != 0)
        goto out;
    facts->current_ca = verdict.current;
    facts->revoked = verdict.revoked;
    /* After the verdict: the first request to a remote CA may have taught
     * the issuer a new root (issuer.h, begin_run). */
    const char *root_pem = issuer->ops->root_pem(issuer->ctx);
    int ca_is_root = ca != NULL && root_pem != NULL && strcmp(ca, root_pem) == 0;
    if (ca != NULL && !ca_is_root && parse_pem_chain(&cafile, ca) != 0) {
        unreadable(facts, cert->ca, "holds no readable certificate");
        goto out;
    }

    /* The files must tell one story: the cert file's leaf is the
     * fullchain's, the fullchain goes on with the CA's intermediate, ca is the
     * CA's root. A crash between two renames shows up here. */
    if (leaf_file != NULL && fullchain != NULL && !same_der(lc, &chain)) {
        facts->files_agree = 0;
        snprintf(facts->disagreement, sizeof(facts->disagreement),
                 "%s and %s hold different certificates", cert->cert, cert->fullchain);
    } else if (fullchain != NULL && facts->current_ca) {
        const char *inter =
            verdict.chain_pem != NULL ? verdict.chain_pem : issuer->ops->chain_pem(issuer->ctx);
        /* minica writes fullchain = leaf PEM + the CA's intermediate PEM, so
         * the text usually matches; only a reformatted file needs parsing. */
        const char *second = strstr(fullchain + 1, "-----BEGIN CERTIFICATE-----");
        int same_text = inter != NULL && second != NULL && strcmp(second, inter) == 0;
        mbedtls_x509_crt full;
        mbedtls_x509_crt_init(&full);
        int agree = same_text || (inter != NULL && parse_pem_chain(&full, fullchain) == 0 &&
                                  parse_pem_chain(&want, inter) == 0 && full.next != NULL &&
                                  same_chain(full.next, &want));
        mbedtls_x509_crt_free(&full);
        if (!agree) {
            facts->files_agree = 0;
            snprintf(facts->disagreement, sizeof(facts->disagreement),
                     "%s does not continue with the CA's intermediate", cert->fullchain);
        }
    }
    if (facts->files_agree && bundle != NULL &&
        (parse_pem_chain(&bundle_leaf, bundle) != 0 || !same_der(&bundle_leaf, lc))) {
        facts->files_agree = 0;
        snprintf(facts->disagreement, sizeof(facts->disagreement),
                 "%s does not hold the certificate of %s", cert->hooks.pem_bundle, leaf_path);
    }
    if (facts->files_agree && ca != NULL) {
        mbedtls_x509_crt_free(&want);
        mbedtls_x509_crt_init(&want);
        if (!ca_is_root && (root_pem == NULL || parse_pem_chain(&want, root_pem) != 0 ||
                            !same_chain(&cafile, &want))) {
            facts->files_agree = 0;
            snprintf(facts->disagreement, sizeof(facts->disagreement),
                     "%s does not hold the CA's current roots", cert->ca);
        }
    }
out:
    if (bundle != NULL)
        minica_free_secret(bundle, strlen(bundle));
    mbedtls_x509_crt_free(&bundle_leaf);
    free(alone);
    if (key != NULL)
        minica_free_secret(key, key_len ? key_len : strlen(key));
    free(leaf_file);
    free(fullchain);
    free(ca);
    mbedtls_x509_crt_free(&leaf);
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&cafile);
    mbedtls_x509_crt_free(&want);
    return ret;
}

int minica_agent_read_leaf(const struct minica_agent_cert *cert, char serial[MINICA_SERIAL_HEX_MAX],
                           int64_t *not_after, struct minica_err *err)
{
    const char *path = cert->cert[0] != '\0'        ? cert->cert
                       : cert->fullchain[0] != '\0' ? cert->fullchain
                                                    : cert->hooks.pem_bundle;
    char *pem = NULL;
    int ret = minica_read_file(path, CERT_FILE_MAX, &pem, NULL, err);
    if (ret != 0)
        return ret;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    if (parse_pem_chain(&crt, pem) != 0) {
        ret = minica_seterr(err, MINICA_EINVAL, "%s holds no readable certificate", path);
    } else {
        minica_serial_to_hex(crt.serial.p, crt.serial.len, serial, MINICA_SERIAL_HEX_MAX);
        *not_after = minica_x509_time_to_unix(&crt.valid_to);
    }
    mbedtls_x509_crt_free(&crt);
    minica_free_secret(pem, strlen(pem)); /* may be a pem_bundle, with the key */
    return ret;
}

int minica_agent_key_check(const struct minica_agent_cert *cert, char *why, size_t whylen)
{
    const char *bundle = cert->hooks.pem_bundle;
    int verdict = 1;
    if (cert->key[0] != '\0') {
        const char *certs[2] = {cert->cert, cert->fullchain};
        verdict = minica_key_files_match(cert->key, certs, 2, why, whylen);
    }
    /* The bundle is one file, but one planted or restored from elsewhere
     * can still hold a key that is not its certificate's. */
    if (verdict == 1 && bundle[0] != '\0')
        verdict = minica_key_files_match(bundle, &bundle, 1, why, whylen);
    return verdict;
}
