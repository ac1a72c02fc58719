/* Issuing a leaf from the intermediate: validate the request against names,
 * policy and the intermediate's lifetime, make or take the key, sign, and
 * record the row and its audit entry in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/platform_util.h>

#include "ca/ca_internal.h"
#include "minica/der.h"
#include "minica/duration.h"
#include "minica/escape.h"
#include "minica/fsutil.h"
#include "minica/issue.h"
#include "minica/lifecycle.h"

/* Clock skew between hosts: a certificate valid "from now" fails on a peer
 * whose clock is a few seconds behind. */
#define BACKDATE_SECONDS 60

int minica_usage_parse(const char *text, enum minica_usage *out, struct minica_err *err)
{
    if (text != NULL && strcasecmp(text, "server") == 0)
        *out = MINICA_USAGE_SERVER;
    else if (text != NULL && strcasecmp(text, "client") == 0)
        *out = MINICA_USAGE_CLIENT;
    else if (text != NULL && strcasecmp(text, "both") == 0)
        *out = MINICA_USAGE_BOTH;
    else
        return minica_seterr(err, MINICA_EINVAL, "unknown usage '%s' (use server, client or both)",
                             text ? text : "");
    return MINICA_OK;
}

const char *minica_usage_name(enum minica_usage usage)
{
    switch (usage) {
    case MINICA_USAGE_CLIENT:
        return "client";
    case MINICA_USAGE_BOTH:
        return "both";
    default:
        return "server";
    }
}

void minica_issued_free(struct minica_issued *issued)
{
    if (issued == NULL)
        return;
    free(issued->cert_pem);
    free(issued->chain_pem);
    free(issued->root_pem);
    if (issued->key_pem != NULL)
        minica_free_secret(issued->key_pem, strlen(issued->key_pem));
    memset(issued, 0, sizeof(*issued));
}

/* Parses NAME and SANs into a de-duplicated list with NAME first. */
static int collect_names(const struct minica_issue_request *req, struct minica_name *names,
                         size_t *n, struct minica_err *err)
{
    *n = 0;
    int ret = minica_name_parse(req->name, &names[0], err);
    if (ret != 0)
        return ret;
    *n = 1;
    /* The inventory keeps the names as one comma-separated text: refuse
     * what it cannot hold rather than record a truncated list. */
    size_t joined = strlen(names[0].text);
    for (size_t i = 0; i < req->n_sans; i++) {
        struct minica_name name;
        if ((ret = minica_name_parse(req->sans[i], &name, err)) != 0)
            return ret;
        int dup = 0;
        for (size_t j = 0; j < *n; j++)
            if (strcmp(names[j].text, name.text) == 0)
                dup = 1;
        if (dup)
            continue;
        if (*n == MINICA_MAX_SANS)
            return minica_seterr(err, MINICA_EINVAL, "too many names (at most %d)",
                                 MINICA_MAX_SANS);
        joined += 1 + strlen(name.text);
        if (joined >= MINICA_SANS_MAX)
            return minica_seterr(err, MINICA_EINVAL,
                                 "too many names (at most %d characters in all)",
                                 MINICA_SANS_MAX - 1);
        names[(*n)++] = name;
    }
    return MINICA_OK;
}

static void join_names(const struct minica_name *names, size_t n, char *out, size_t outlen)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strncat(out, i ? "," : "", outlen - strlen(out) - 1);
        strncat(out, names[i].text, outlen - strlen(out) - 1);
    }
}

/* Sorted comparison of two comma lists. */
static int same_name_set(const char *a, const char *b)
{
    char ca[MINICA_SANS_MAX], cb[MINICA_SANS_MAX];
    snprintf(ca, sizeof(ca), "%s", a);
    snprintf(cb, sizeof(cb), "%s", b);
    char *la[MINICA_MAX_SANS + 1] = {NULL}, *lb[MINICA_MAX_SANS + 1] = {NULL};
    size_t na = 0, nb = 0;
    char *save;
    for (char *t = strtok_r(ca, ",", &save); t && na <= MINICA_MAX_SANS;
         t = strtok_r(NULL, ",", &save))
        la[na++] = t;
    for (char *t = strtok_r(cb, ",", &save); t && nb <= MINICA_MAX_SANS;
         t = strtok_r(NULL, ",", &save))
        lb[nb++] = t;
    for (size_t i = 0; i < na; i++) {
        int found = 0;
        for (size_t j = 0; j < nb; j++)
            if (strcmp(la[i], lb[j]) == 0)
                found = 1;
        if (!found)
            return 0;
    }
    for (size_t j = 0; j < nb; j++) {
        int found = 0;
        for (size_t i = 0; i < na; i++)
            if (strcmp(la[i], lb[j]) == 0)
                found = 1;
        if (!found)
            return 0;
    }
    return 1;
}

static int check_csr_names(const char *cn, const char *csr_sans, const struct minica_name *names,
                           size_t n, struct minica_err *err)
{
    char wanted[MINICA_SANS_MAX];
    join_names(names, n, wanted, sizeof(wanted));
    /* The CN, if any, must be one of the names (a client whose first name is
     * longer than a CN may be puts another there). */
    if (cn[0] != '\0') {
        struct minica_name parsed;
        size_t i = minica_name_parse(cn, &parsed, NULL) == 0 ? 0 : n;
        while (i < n && strcmp(parsed.text, names[i].text) != 0)
            i++;
        if (i == n) {
            /* The CN is the client's text: quoted as data. */
            char qcn[4 * MINICA_CN_MAX + 8];
            minica_quote_text(cn, MINICA_CN_MAX, qcn, sizeof(qcn));
            return minica_seterr(err, MINICA_EINVAL,
                                 "the CSR's common name %s is not one of the requested names (%s)",
                                 qcn, wanted);
        }
    }
    if (csr_sans[0] != '\0' && !same_name_set(csr_sans, wanted))
        return minica_seterr(err, MINICA_EINVAL,
                             "the CSR asks for names (%s) that differ from the requested ones (%s)",
                             csr_sans, wanted);
    return MINICA_OK;
}

int minica_ca_issue(struct minica_ca *ca, const struct minica_issue_request *req,
                    struct minica_issued *out, struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    struct minica_name *names = calloc(MINICA_MAX_SANS, sizeof(*names));
    mbedtls_pk_context key;
    mbedtls_x509_csr csr;
    mbedtls_pk_init(&key);
    mbedtls_x509_csr_init(&csr);
    unsigned char *der = NULL;
    size_t der_len = 0, n = 0;
    int ret;
    if (names == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");

    if ((ret = collect_names(req, names, &n, err)) != 0)
        goto out;
    /* The intermediate's own constraints too: minica.conf cannot widen them. */
    for (size_t i = 0; i < n; i++)
        if ((ret = minica_policy_check_name(&ca->policy, &names[i], err)) != 0 ||
            (ret = minica_constraints_check(&ca->intermediate_nc, &names[i], err)) != 0)
            goto refused;

    /* `ca revoke` refuses the active intermediate, but the revocation is
     * in the inventory and the files are per host: a replica not yet given
     * the files of a rotation made elsewhere still has the revoked one as
     * its issuer once it reloads. */
    const struct minica_ca_cert *issuer = minica_ca_active_intermediate(ca);
    if (issuer->revoked) {
        ret = minica_seterr(err, MINICA_EPOLICY,
                            "the issuing intermediate %s is revoked in the inventory; copy the "
                            "CA files of the host that rotated (intermediate.crt, "
                            "intermediate.key, ca/) here and reload",
                            issuer->serial);
        goto refused;
    }
    int64_t ttl = req->ttl ? req->ttl : ca->policy.default_ttl;
    if ((ret = minica_policy_check_ttl(&ca->policy, ttl, err)) != 0)
        goto refused;
    int64_t now = minica_now();
    if (now + ttl > ca->intermediate_not_after) {
        char want[64], left[64];
        minica_duration_format(ttl, want, sizeof(want));
        minica_duration_format(ca->intermediate_not_after - now, left, sizeof(left));
        if (ca->intermediate_not_after <= now)
            ret = minica_seterr(err, MINICA_EPOLICY,
                                "the intermediate certificate has expired; a new CA is needed");
        else
            ret = minica_seterr(err, MINICA_EPOLICY,
                                "TTL %s exceeds the intermediate's remaining validity (%s); %s",
                                want, left,
                                req->ttl ? "ask for a shorter --ttl"
                                         : "ask for a shorter --ttl, or lower default_ttl in "
                                           "minica.conf");
        goto refused;
    }
    enum minica_usage usage = req->usage ? req->usage : MINICA_USAGE_SERVER;

    mbedtls_pk_context *subject_key = &key;
    enum minica_key_type key_type = req->key_type ? req->key_type : ca->policy.default_key_type;
    if (req->csr_pem != NULL) {
        char cn[MINICA_NAME_MAX + 1], csr_sans[MINICA_SANS_MAX];
        if ((ret = minica_csr_parse_verified(&csr, req->csr_pem, req->csr_receipt, cn, sizeof(cn),
                                             csr_sans, sizeof(csr_sans), err)) != 0 ||
            (ret = check_csr_names(cn, csr_sans, names, n, err)) != 0)
            goto refused;
        subject_key = &csr.pk;
        minica_key_type_of(&csr.pk, &key_type);
    } else {
        size_t key_len = 0;
        if ((ret = minica_key_generate(&key, key_type, &ca->rng, err)) != 0 ||
            (ret = minica_key_to_pem(&key, &out->key_pem, &key_len, err)) != 0)
            goto out;
    }

    char subject[MINICA_NAME_MAX + 8] = "";
    /* The subject is CN=<first name>, except where a CN would be wrong; then
     * it is empty and the SAN, critical, carries the names (RFC 5280 4.2.1.6):
     * a first name longer than ub-common-name (64), or an IP-only leaf under
     * a DNS constraint, which OpenSSL and GnuTLS would check the CN against. */
    int has_dns = 0;
    for (size_t i = 0; i < n; i++)
        has_dns |= names[i].kind == MINICA_NAME_DNS;
    int cn_is_constrained_ip = !has_dns && minica_constraints_cover_dns(&ca->intermediate_nc);
    if (strlen(names[0].text) <= MINICA_CN_MAX && !cn_is_constrained_ip)
        snprintf(subject, sizeof(subject), "CN=%s", names[0].text);
    int server = usage == MINICA_USAGE_SERVER || usage == MINICA_USAGE_BOTH;
    int client = usage == MINICA_USAGE_CLIENT || usage == MINICA_USAGE_BOTH;
    int is_rsa = mbedtls_pk_get_type(subject_key) == MBEDTLS_PK_RSA;
    struct minica_tbs tbs = {
        .subject = subject,
        .issuer = ca->intermediate_subject,
        .subject_key = subject_key,
        .signer = ca->intermediate_key,
        .not_before = now - BACKDATE_SECONDS,
        .not_after = now + ttl,
        .is_ca = 0,
        .pathlen = -1,
        /* keyEncipherment only where RSA key transport is possible. */
        .key_usage = MINICA_KU_DIGITAL_SIGNATURE | (is_rsa ? MINICA_KU_KEY_ENCIPHERMENT : 0),
        .server_auth = server,
        .client_auth = client,
        .sans = names,
        .n_sans = n,
        .san_critical = subject[0] == '\0',
        .with_aki = 1,
    };

    struct minica_cert_row row;
    memset(&row, 0, sizeof(row));
    /* A 128-bit collision is not expected; the UNIQUE constraint is the proof. */
    for (int attempt = 0; attempt < 3; attempt++) {
        free(der);
        der = NULL;
        free(out->cert_pem);
        out->cert_pem = NULL;
        if ((ret = minica_serial_generate(&ca->rng, tbs.serial, err)) != 0 ||
            (ret = minica_sign_cert(&tbs, &ca->scratch, &ca->rng, &der, &der_len, err)) != 0 ||
            (ret = minica_der_to_pem(der, der_len, "CERTIFICATE", &out->cert_pem, err)) != 0)
            goto out;
        minica_serial_to_hex(tbs.serial, sizeof(tbs.serial), row.serial, sizeof(row.serial));
        snprintf(row.name, sizeof(row.name), "%s", names[0].text);
        join_names(names, n, row.sans, sizeof(row.sans));
        snprintf(row.usage, sizeof(row.usage), "%s", minica_usage_name(usage));
        snprintf(row.key_type, sizeof(row.key_type), "%s", minica_key_type_name(key_type));
        row.not_before = tbs.not_before;
        row.not_after = tbs.not_after;
        row.issued_at = now;
        minica_sha256_hex(der, der_len, row.fingerprint_sha256);
        memcpy(row.issuer_fingerprint_sha256, ca->intermediate_fp, sizeof(ca->intermediate_fp));

        char summary[MINICA_SANS_MAX + 256], ttl_text[64];
        minica_duration_format(ttl, ttl_text, sizeof(ttl_text));
        snprintf(summary, sizeof(summary), "issued %s serial=%s sans=%s usage=%s ttl=%s%s",
                 row.name, row.serial, row.sans, row.usage, ttl_text, req->csr_pem ? " csr" : "");
        if ((ret = minica_store_begin(ca->store, err)) != 0)
            goto out;
        ret = minica_store_insert_cert(ca->store, &row, out->cert_pem, err);
        if (ret == 0 && req->on_record != NULL)
            ret = req->on_record(req->on_record_ctx, row.serial, err);
        if (ret == 0)
            ret = minica_ca_audit(ca, summary, err);
        /* A commit whose outcome is unknown is resolved by the row, never
         * by issuing again: an EEXIST below is a serial collision only. */
        if (ret == 0)
            ret = minica_store_commit_cert(ca->store, row.serial, err);
        else
            minica_store_rollback(ca->store);
        if (ret != MINICA_EEXIST)
            break;
    }
    if (ret != 0)
        goto out;

    snprintf(out->serial, sizeof(out->serial), "%s", row.serial);
    snprintf(out->name, sizeof(out->name), "%s", row.name);
    snprintf(out->sans, sizeof(out->sans), "%s", row.sans);
    memcpy(out->fingerprint_sha256, row.fingerprint_sha256, sizeof(out->fingerprint_sha256));
    out->usage = usage;
    out->key_type = key_type;
    out->not_before = row.not_before;
    out->not_after = row.not_after;
    out->chain_pem = minica_strdup(minica_ca_chain_pem(ca));
    out->root_pem = minica_strdup(minica_ca_roots_pem(ca));
    if (out->chain_pem == NULL || out->root_pem == NULL)
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
    goto out;

refused:
    /* Refusals leave a trace too; a failing audit must not hide the refusal. */
    {
        char summary[sizeof(err->msg) + 4 * 64 + 16], name[4 * 64 + 8];
        struct minica_name parsed;
        /* A name that is no name is quoted, as data, not a part of the line. */
        if (req->name != NULL && minica_name_parse(req->name, &parsed, NULL) == 0)
            snprintf(name, sizeof(name), "%s", req->name);
        else
            minica_quote_text(req->name, 64, name, sizeof(name));
        snprintf(summary, sizeof(summary), "refused %s: %s", name, err ? err->msg : "");
        minica_ca_audit_refusal(ca, summary, NULL);
    }
out:
    if (ret != 0)
        minica_issued_free(out);
    free(der);
    free(names);
    mbedtls_pk_free(&key);
    mbedtls_x509_csr_free(&csr);
    return ret;
}
