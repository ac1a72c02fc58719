/* One-time enrollment tokens: creation (policy-checked, only the secret's
 * hash stored), revocation, and issuing a certificate in exchange for one.
 * The HTTP side lives in serve/handler.c; the table in store/store.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "ca/ca_internal.h"
#include "minica/duration.h"
#include "minica/escape.h"
#include "minica/names.h"
#include "minica/token.h"

#define SECRET_BYTES 32
#define SECRET_TEXT_LEN 43 /* base64url of 32 bytes, no padding */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void base64url(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < len)
            out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < len)
            out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
}

/* Splits "<id>.<secret>" after checking every character, and hashes the secret. */
static int token_split(const char *text, char id[MINICA_TOKEN_ID_LEN + 1], char hash[65],
                       struct minica_err *err)
{
    id[0] = '\0';
    size_t len = text ? strnlen(text, MINICA_TOKEN_TEXT_MAX + 1) : 0;
    if (len != MINICA_TOKEN_ID_LEN + 1 + SECRET_TEXT_LEN || text[MINICA_TOKEN_ID_LEN] != '.')
        return minica_seterr(err, MINICA_EFORBIDDEN, "invalid token: not a minica token");
    for (size_t i = 0; i < MINICA_TOKEN_ID_LEN; i++)
        if (strchr("0123456789abcdef", text[i]) == NULL || text[i] == '\0')
            return minica_seterr(err, MINICA_EFORBIDDEN, "invalid token: not a minica token");
    const char *secret = text + MINICA_TOKEN_ID_LEN + 1;
    for (size_t i = 0; i < SECRET_TEXT_LEN; i++)
        if (secret[i] == '\0' || strchr(b64url, secret[i]) == NULL)
            return minica_seterr(err, MINICA_EFORBIDDEN, "invalid token: not a minica token");
    memcpy(id, text, MINICA_TOKEN_ID_LEN);
    id[MINICA_TOKEN_ID_LEN] = '\0';
    if (hash != NULL)
        minica_sha256_hex((const unsigned char *)secret, SECRET_TEXT_LEN, hash);
    return MINICA_OK;
}

int minica_token_id(const char *text, char id[MINICA_TOKEN_ID_LEN + 1], struct minica_err *err)
{
    return token_split(text, id, NULL, err);
}

enum minica_token_state minica_token_state(const struct minica_token_row *row, int64_t now)
{
    if (row->revoked_at != 0)
        return MINICA_TOKEN_REVOKED;
    if (row->used_at != 0)
        return MINICA_TOKEN_USED;
    if (row->expires_at <= now)
        return MINICA_TOKEN_EXPIRED;
    return MINICA_TOKEN_VALID;
}

const char *minica_token_state_name(enum minica_token_state state)
{
    switch (state) {
    case MINICA_TOKEN_USED:
        return "used";
    case MINICA_TOKEN_EXPIRED:
        return "expired";
    case MINICA_TOKEN_REVOKED:
        return "revoked";
    default:
        return "valid";
    }
}

/* Canonical, de-duplicated, NAME first: the same form as the inventory's sans. */
static int token_names(const struct minica_policy *policy, const struct minica_token_request *req,
                       char *out, size_t outlen, char *name_out, size_t name_len,
                       struct minica_err *err)
{
    struct minica_name name;
    int ret = minica_name_parse(req->name, &name, err);
    if (ret != 0 || (ret = minica_policy_check_name(policy, &name, err)) != 0)
        return ret;
    snprintf(name_out, name_len, "%s", name.text);
    snprintf(out, outlen, "%s", name.text);
    if (req->n_sans + 1 > MINICA_MAX_SANS)
        return minica_seterr(err, MINICA_EINVAL, "too many names (at most %d)", MINICA_MAX_SANS);
    for (size_t i = 0; i < req->n_sans; i++) {
        if ((ret = minica_name_parse(req->sans[i], &name, err)) != 0 ||
            (ret = minica_policy_check_name(policy, &name, err)) != 0)
            return ret;
        /* Exact-item duplicate check on the comma list. */
        size_t nl = strlen(name.text);
        int dup = 0;
        for (const char *p = out; p && *p;) {
            const char *comma = strchr(p, ',');
            size_t il = comma ? (size_t)(comma - p) : strlen(p);
            if (il == nl && strncmp(p, name.text, nl) == 0)
                dup = 1;
            p = comma ? comma + 1 : NULL;
        }
        if (dup)
            continue;
        if (strlen(out) + 1 + nl + 1 > outlen)
            return minica_seterr(err, MINICA_EINVAL, "too many names");
        strcat(out, ",");
        strcat(out, name.text);
    }
    return MINICA_OK;
}

int minica_token_create(struct minica_ca *ca, const struct minica_token_request *req, char *text,
                        size_t textlen, struct minica_token_row *row_out, struct minica_err *err)
{
    struct minica_token_row row;
    memset(&row, 0, sizeof(row));
    int ret;
    if (textlen < MINICA_TOKEN_TEXT_MAX)
        return minica_seterr(err, MINICA_EINVAL, "token buffer too small");
    if ((ret = token_names(&ca->policy, req, row.sans, sizeof(row.sans), row.name, sizeof(row.name),
                           err)) != 0)
        return ret;
    int64_t ttl = req->ttl ? req->ttl : ca->policy.default_ttl;
    if (req->ttl < 0 || (ret = minica_policy_check_ttl(&ca->policy, ttl, err)) != 0)
        return req->ttl < 0 ? minica_seterr(err, MINICA_EINVAL, "negative TTL") : ret;
    int64_t expires_in = req->expires_in ? req->expires_in : MINICA_TOKEN_DEFAULT_EXPIRY;
    if (expires_in <= 0 || expires_in > MINICA_TOKEN_MAX_EXPIRY) {
        char max[32];
        minica_duration_format(MINICA_TOKEN_MAX_EXPIRY, max, sizeof(max));
        return minica_seterr(err, MINICA_EINVAL,
                             "a token may stay usable for at most %s (a long-lived token is a "
                             "long-lived credential)",
                             max);
    }
    int64_t now = minica_now();
    if (now + ttl > ca->intermediate_not_after)
        return minica_seterr(err, MINICA_EPOLICY,
                             "the certificate's TTL exceeds the intermediate's remaining validity");
    snprintf(row.usage, sizeof(row.usage), "%s",
             minica_usage_name(req->usage ? req->usage : MINICA_USAGE_SERVER));
    row.ttl = ttl; /* the effective TTL: what the token was checked for */
    row.created_at = now;
    row.expires_at = now + expires_in;

    unsigned char id_raw[MINICA_TOKEN_ID_LEN / 2], secret[SECRET_BYTES];
    char secret_text[SECRET_TEXT_LEN + 1];
    if ((ret = minica_rng_bytes(&ca->rng, id_raw, sizeof(id_raw), err)) != 0 ||
        (ret = minica_rng_bytes(&ca->rng, secret, sizeof(secret), err)) != 0)
        goto out;
    for (size_t i = 0; i < sizeof(id_raw); i++)
        snprintf(row.id + 2 * i, 3, "%02x", id_raw[i]);
    base64url(secret, sizeof(secret), secret_text);
    minica_sha256_hex((const unsigned char *)secret_text, SECRET_TEXT_LEN, row.secret_sha256);

    char summary[MINICA_SANS_MAX + 256], ttl_text[32], exp_text[32];
    minica_duration_format(ttl, ttl_text, sizeof(ttl_text));
    minica_duration_format(expires_in, exp_text, sizeof(exp_text));
    snprintf(summary, sizeof(summary), "token %s created for %s sans=%s usage=%s ttl=%s expires=%s",
             row.id, row.name, row.sans, row.usage, ttl_text, exp_text);
    if ((ret = minica_store_begin(ca->store, err)) != 0)
        goto out;
    if ((ret = minica_store_insert_token(ca->store, &row, err)) == 0 &&
        (ret = minica_ca_audit(ca, summary, err)) == 0)
        ret = minica_store_commit(ca->store, err);
    else
        minica_store_rollback(ca->store);
    if (ret != 0)
        goto out;
    snprintf(text, textlen, "%s.%s", row.id, secret_text);
    if (row_out != NULL)
        *row_out = row;
out:
    mbedtls_platform_zeroize(secret, sizeof(secret));
    mbedtls_platform_zeroize(secret_text, sizeof(secret_text));
    return ret;
}

int minica_token_revoke(struct minica_ca *ca, const char *id, int64_t *revoked_before,
                        struct minica_err *err)
{
    struct minica_token_row row;
    if (revoked_before != NULL)
        *revoked_before = 0;
    int ret = minica_store_get_token(ca->store, id, &row, err);
    if (ret != 0)
        return ret;
    /* Once is enough: a second revocation would move its time and audit
     * an act that changed nothing. */
    if (row.revoked_at != 0) {
        if (revoked_before != NULL)
            *revoked_before = row.revoked_at;
        return MINICA_OK;
    }
    if (row.used_at != 0 && row.revoked_at == 0)
        return minica_seterr(err, MINICA_EINVAL,
                             "token %s was already used (certificate %s); revoke the certificate "
                             "instead",
                             id, row.used_by[0] ? row.used_by : "?");
    char summary[128];
    snprintf(summary, sizeof(summary), "token %s revoked (was for %s)", id, row.name);
    if ((ret = minica_store_begin(ca->store, err)) != 0)
        return ret;
    if ((ret = minica_store_revoke_token(ca->store, id, minica_now(), err)) == 0 &&
        (ret = minica_ca_audit(ca, summary, err)) == 0)
        return minica_store_commit(ca->store, err);
    minica_store_rollback(ca->store);
    return ret;
}

/* Constant time, so a timing probe learns nothing about stored hashes. */
static int same_hash(const char *a, const char *b)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < 64; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0 && a[64] == '\0' && b[64] == '\0';
}

static int in_list(const char *list, const char *item)
{
    size_t nl = strlen(item);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t il = comma ? (size_t)(comma - p) : strlen(p);
        if (il == nl && strncmp(p, item, nl) == 0)
            return 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* Every item of a is in b. */
static int list_subset(const char *a, const char *b)
{
    char copy[MINICA_SANS_MAX];
    snprintf(copy, sizeof(copy), "%s", a);
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (!in_list(b, t))
            return 0;
    return 1;
}

/* The CSR must ask for exactly the allowed names: its SANs (or, without
 * SANs, its CN) as a set, and a CN, if any, among them. */
static int check_names(const char *allowed, const char *cn, const char *csr_sans,
                       struct minica_err *err)
{
    char asked[MINICA_SANS_MAX];
    /* The CN is the client's text: quoted as data into the error, which
     * reaches the audit log and the client. */
    char qcn[4 * MINICA_CN_MAX + 8];
    minica_quote_text(cn, MINICA_CN_MAX, qcn, sizeof(qcn));
    if (csr_sans[0] != '\0')
        snprintf(asked, sizeof(asked), "%s", csr_sans);
    else if (cn[0] != '\0') {
        struct minica_name n;
        if (minica_name_parse(cn, &n, NULL) != 0)
            return minica_seterr(err, MINICA_EFORBIDDEN,
                                 "the CSR's common name %s is not a host name or IP", qcn);
        snprintf(asked, sizeof(asked), "%s", n.text);
    } else
        return minica_seterr(err, MINICA_EFORBIDDEN, "the CSR asks for no name (allowed: %s)",
                             allowed);
    if (cn[0] != '\0') {
        struct minica_name n;
        /* The certificate's CN is its NAME (the first allowed name). */
        size_t first = strcspn(allowed, ",");
        if (minica_name_parse(cn, &n, NULL) != 0 || strlen(n.text) != first ||
            strncmp(n.text, allowed, first) != 0)
            return minica_seterr(err, MINICA_EFORBIDDEN,
                                 "the CSR's common name %s is not the allowed name '%.*s'", qcn,
                                 (int)first, allowed);
    }
    if (!list_subset(asked, allowed) || !list_subset(allowed, asked))
        return minica_seterr(err, MINICA_EFORBIDDEN,
                             "the CSR asks for names (%s) other than the allowed ones (%s)", asked,
                             allowed);
    return MINICA_OK;
}

int minica_csr_names_match(const char *allowed, const char *csr_pem, struct minica_err *err)
{
    char cn[MINICA_NAME_MAX + 1], csr_sans[MINICA_SANS_MAX];
    if (csr_pem == NULL)
        return minica_seterr(err, MINICA_EINVAL, "no CSR");
    int ret = minica_csr_names_unverified(csr_pem, cn, sizeof(cn), csr_sans, sizeof(csr_sans), err);
    if (ret == 0)
        ret = check_names(allowed, cn, csr_sans, err);
    return ret;
}

struct token_use {
    struct minica_store *store;
    const char *id;
    const char *hash;
    int64_t now;
    int refused; /* the token was spent meanwhile (another process) */
};

static int use_token_in_tx(void *p, const char *serial, struct minica_err *err)
{
    struct token_use *u = p;
    int ret = minica_store_use_token(u->store, u->id, u->hash, u->now, serial, err);
    if (ret == MINICA_EFORBIDDEN) {
        u->refused = 1;
        minica_seterr(err, MINICA_EFORBIDDEN, "token %s was already used", u->id);
    }
    return ret;
}

int minica_ca_token_usable(struct minica_ca *ca, const char *token)
{
    char id[MINICA_TOKEN_ID_LEN + 1], hash[65];
    struct minica_token_row row;
    memset(&row, 0, sizeof(row));
    return token_split(token, id, hash, NULL) == 0 &&
           minica_store_get_token(ca->store, id, &row, NULL) == 0 &&
           same_hash(row.secret_sha256, hash) &&
           minica_token_state(&row, minica_now()) == MINICA_TOKEN_VALID;
}

int minica_ca_issue_with_token(struct minica_ca *ca, const char *token, const char *csr_pem,
                               enum minica_usage usage, struct minica_issued *out,
                               struct minica_err *err)
{
    return minica_ca_issue_with_token_checked(ca, token, csr_pem, NULL, usage, out, err);
}

int minica_ca_issue_with_token_checked(struct minica_ca *ca, const char *token, const char *csr_pem,
                                       const struct minica_csr_receipt *receipt,
                                       enum minica_usage usage, struct minica_issued *out,
                                       struct minica_err *err)
{
    memset(out, 0, sizeof(*out));
    char id[MINICA_TOKEN_ID_LEN + 1], hash[65];
    struct minica_token_row row;
    memset(&row, 0, sizeof(row));
    const char **sans = NULL;
    char *sans_copy = NULL;
    int64_t now = minica_now();
    int proven = 0;
    int ret = token_split(token, id, hash, err);
    if (ret != 0)
        goto refused;
    ret = minica_store_get_token(ca->store, id, &row, err);
    if (ret == MINICA_ENOENT || (ret == 0 && !same_hash(row.secret_sha256, hash))) {
        ret = minica_seterr(err, MINICA_EFORBIDDEN, "invalid token: unknown id or wrong secret");
        goto refused;
    }
    if (ret != 0)
        goto out;
    /* From here on the client has shown the token's secret: its refusals
     * are told apart by the token, not by their reason. */
    proven = 1;
    switch (minica_token_state(&row, now)) {
    case MINICA_TOKEN_USED:
        ret = minica_seterr(err, MINICA_EFORBIDDEN, "token %s was already used", id);
        goto refused;
    case MINICA_TOKEN_REVOKED:
        ret = minica_seterr(err, MINICA_EFORBIDDEN, "token %s was revoked", id);
        goto refused;
    case MINICA_TOKEN_EXPIRED: {
        char when[21];
        minica_unix_to_rfc3339(row.expires_at, when);
        ret = minica_seterr(err, MINICA_EFORBIDDEN, "token %s expired at %s", id, when);
        goto refused;
    }
    default:
        break;
    }

    enum minica_usage granted = MINICA_USAGE_SERVER;
    minica_usage_parse(row.usage, &granted, NULL);
    /* A client that asked for a usage must not get another one silently,
     * and must keep its token to ask again. */
    if (usage != 0 && usage != granted) {
        ret = minica_seterr(err, MINICA_EFORBIDDEN,
                            "token %s grants usage %s, not %s (the token was not spent)", id,
                            minica_usage_name(granted), minica_usage_name(usage));
        goto refused;
    }
    /* Names first, cheaply: a CSR for other names must not spend the token.
     * Its signature is checked by minica_ca_issue below. */
    if ((ret = minica_csr_names_match(row.sans, csr_pem, err)) != 0)
        goto refused;

    sans_copy = minica_strdup(row.sans);
    sans = calloc(MINICA_MAX_SANS, sizeof(*sans));
    if (sans_copy == NULL || sans == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    struct minica_issue_request req;
    memset(&req, 0, sizeof(req));
    char *save = NULL;
    for (char *t = strtok_r(sans_copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (req.name == NULL)
            req.name = t;
        else if (req.n_sans < MINICA_MAX_SANS)
            sans[req.n_sans++] = t;
    }
    req.sans = sans;
    req.ttl = row.ttl;
    req.usage = granted;
    req.csr_pem = csr_pem;
    req.csr_receipt = receipt;
    /* The token is spent in the transaction that records the certificate:
     * one commit, so a crash leaves either both or neither, and of two
     * racing uses (even from two processes) exactly one commits. */
    struct token_use use = {.store = ca->store, .id = id, .hash = hash, .now = now};
    req.on_record = use_token_in_tx;
    req.on_record_ctx = &use;
    ret = minica_ca_issue(ca, &req, out, err);
    if (ret != 0 && use.refused)
        goto refused;
    goto out; /* minica_ca_issue audited its own refusals */

refused : {
    char summary[sizeof(err->msg) + 64];
    snprintf(summary, sizeof(summary), "refused token %s%s%s: %s", id[0] ? id : "(malformed)",
             proven ? " for " : "", proven ? row.name : "", err ? err->msg : "");
    minica_ca_audit_refusal(ca, summary, proven ? NULL : err ? err->msg : "invalid token");
}
out:
    free(sans);
    free(sans_copy);
    return ret;
}
