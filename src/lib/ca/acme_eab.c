/* ACME External Account Binding keys (see acme_eab.h): the secret file
 * their MAC keys are derived from, creation and revocation with their
 * audit rows, and the per-key name lists. The inner JWS is serve/jws.c's,
 * the table store/store.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "base/b64url.h"
#include "base/util.h"
#include "ca/ca_internal.h"
#include "minica/acme_eab.h"
#include "minica/duration.h"
#include "minica/escape.h"
#include "minica/fsutil.h"
#include "minica/statedir.h"

#define SECRET_LEN 32
/* RFC 5869-style context: a MAC key made for this use, this version. */
static const char derive_label[] = "minica acme eab v1"; /* and its NUL */

static int read_secret(struct minica_ca *ca, struct minica_err *err)
{
    if (ca->has_eab_secret)
        return MINICA_OK;
    struct minica_statedir sd;
    char *buf = NULL;
    size_t len = 0, raw_len = 0;
    int ret = minica_statedir_open(&sd, ca->dir, err);
    if (ret == 0)
        ret = minica_statedir_read(&sd, MINICA_ACME_EAB_SECRET_FILE, 256, &buf, &len, err);
    minica_statedir_close(&sd);
    if (ret != 0)
        return ret;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (minica_b64url_decode(buf, len, ca->eab_secret, sizeof(ca->eab_secret), &raw_len) != 0 ||
        raw_len != SECRET_LEN)
        ret = minica_seterr(err, MINICA_EINVAL,
                            "%s/%s is not 32 octets in base64url; restore it from a backup (every "
                            "EAB key depends on it)",
                            ca->dir, MINICA_ACME_EAB_SECRET_FILE);
    else
        ca->has_eab_secret = 1;
    minica_free_secret(buf, len);
    return ret;
}

/* First key: the secret file, made once. NOREPLACE: a concurrent first
 * `minica acme eab create` loses the race and reads the winner's. */
static int ensure_secret(struct minica_ca *ca, struct minica_err *err)
{
    int ret = read_secret(ca, err);
    if (ret != MINICA_ENOENT)
        return ret;
    unsigned char raw[SECRET_LEN];
    char text[64], path[MINICA_PATH_MAX];
    if ((ret = minica_rng_bytes(&ca->rng, raw, sizeof(raw), err)) == 0 &&
        (ret = minica_b64url_encode(raw, sizeof(raw), text, sizeof(text) - 1)) == 0) {
        strcat(text, "\n");
        snprintf(path, sizeof(path), "%s/%s", ca->dir, MINICA_ACME_EAB_SECRET_FILE);
        ret = minica_write_file_atomic(path, text, strlen(text), 0600, MINICA_WRITE_NOREPLACE, err);
    }
    mbedtls_platform_zeroize(raw, sizeof(raw));
    mbedtls_platform_zeroize(text, sizeof(text));
    if (ret != 0 && ret != MINICA_EEXIST)
        return ret;
    return read_secret(ca, err);
}

int minica_acme_eab_mac_key(struct minica_ca *ca, const char *kid,
                            unsigned char key[MINICA_ACME_EAB_HMAC_LEN], struct minica_err *err)
{
    int ret = read_secret(ca, err);
    if (ret != 0)
        return ret;
    size_t kl = strlen(kid);
    unsigned char *msg = malloc(sizeof(derive_label) + kl);
    if (msg == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    memcpy(msg, derive_label, sizeof(derive_label)); /* with the NUL: no label/kid ambiguity */
    memcpy(msg + sizeof(derive_label), kid, kl);
    ret = mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), ca->eab_secret,
                          sizeof(ca->eab_secret), msg, sizeof(derive_label) + kl, key);
    free(msg);
    if (ret != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "cannot derive the EAB MAC key");
    return MINICA_OK;
}

enum minica_acme_eab_state minica_acme_eab_state(const struct minica_acme_eab_key *row, int64_t now)
{
    if (row->revoked_at != 0)
        return MINICA_ACME_EAB_REVOKED;
    if (row->account_id[0] != '\0')
        return MINICA_ACME_EAB_BOUND;
    if (row->expires_at <= now)
        return MINICA_ACME_EAB_EXPIRED;
    return MINICA_ACME_EAB_VALID;
}

const char *minica_acme_eab_state_name(enum minica_acme_eab_state state)
{
    switch (state) {
    case MINICA_ACME_EAB_BOUND:
        return "bound";
    case MINICA_ACME_EAB_EXPIRED:
        return "expired";
    case MINICA_ACME_EAB_REVOKED:
        return "revoked";
    default:
        return "valid";
    }
}

/* Canonical entries, comma-joined into out. */
static int join_list(const char *const *items, size_t n, int ip, char *out, size_t size,
                     struct minica_err *err)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char canon[MINICA_NAME_MAX + 1];
        struct minica_cidr c;
        int ret = ip ? minica_cidr_parse(items[i], &c, err)
                     : minica_dns_suffix_parse(items[i], canon, sizeof(canon), err);
        if (ret != 0) {
            minica_err_prefix(err, ip ? "--permit-ip" : "--permit-dns");
            return MINICA_EINVAL;
        }
        const char *t = ip ? c.text : canon;
        if (strlen(out) + strlen(t) + 2 > size)
            return minica_seterr(err, MINICA_EINVAL, "%s: too many entries",
                                 ip ? "--permit-ip" : "--permit-dns");
        if (i > 0)
            strcat(out, ",");
        strcat(out, t);
    }
    return MINICA_OK;
}

int minica_acme_eab_create(struct minica_ca *ca, const struct minica_acme_eab_request *req,
                           struct minica_acme_eab_key *row_out, char *hmac, size_t hmac_size,
                           struct minica_err *err)
{
    struct minica_acme_eab_key *row = calloc(1, sizeof(*row));
    unsigned char key[MINICA_ACME_EAB_HMAC_LEN], id[MINICA_ACME_EAB_KID_LEN / 2];
    char *summary = NULL;
    int ret;
    if (row == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    const char *label = req->label ? req->label : "";
    if (hmac_size < MINICA_ACME_EAB_HMAC_TEXT_MAX) {
        ret = minica_seterr(err, MINICA_EINVAL, "MAC key buffer too small");
        goto out;
    }
    if (strlen(label) >= sizeof(row->label)) {
        ret = minica_seterr(err, MINICA_EINVAL, "--label: longer than %zu characters",
                            sizeof(row->label) - 1);
        goto out;
    }
    for (const char *c = label; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            ret = minica_seterr(err, MINICA_EINVAL, "--label: no control characters");
            goto out;
        }
    int64_t expires_in = req->expires_in ? req->expires_in : MINICA_ACME_EAB_DEFAULT_EXPIRY;
    if (expires_in <= 0 || expires_in > MINICA_ACME_EAB_MAX_EXPIRY) {
        char max[32];
        minica_duration_format(MINICA_ACME_EAB_MAX_EXPIRY, max, sizeof(max));
        ret = minica_seterr(err, MINICA_EINVAL,
                            "--expires: an EAB key may stay unbound for at most %s", max);
        goto out;
    }
    if ((ret = join_list(req->permit_dns, req->n_permit_dns, 0, row->permit_dns,
                         sizeof(row->permit_dns), err)) != 0 ||
        (ret = join_list(req->permit_ip, req->n_permit_ip, 1, row->permit_ip,
                         sizeof(row->permit_ip), err)) != 0)
        goto out;
    snprintf(row->label, sizeof(row->label), "%s", label);
    row->created_at = minica_now();
    row->expires_at = row->created_at + expires_in;
    if ((ret = ensure_secret(ca, err)) != 0 ||
        (ret = minica_rng_bytes(&ca->rng, id, sizeof(id), err)) != 0)
        goto out;
    for (size_t i = 0; i < sizeof(id); i++)
        snprintf(row->kid + 2 * i, 3, "%02x", id[i]);
    if ((ret = minica_acme_eab_mac_key(ca, row->kid, key, err)) != 0)
        goto out;
    size_t slen = 4 * sizeof(row->label) + sizeof(row->permit_dns) + sizeof(row->permit_ip) + 256;
    if ((summary = malloc(slen)) == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    char qlabel[4 * MINICA_ACME_EAB_LABEL_MAX + 8], exp_text[32];
    minica_quote_text(row->label, sizeof(row->label), qlabel, sizeof(qlabel));
    minica_duration_format(expires_in, exp_text, sizeof(exp_text));
    snprintf(summary, slen,
             "acme eab key %s created label=%s permit_dns=%s permit_ip=%s expires=%s", row->kid,
             qlabel, row->permit_dns[0] ? row->permit_dns : "-",
             row->permit_ip[0] ? row->permit_ip : "-", exp_text);
    if ((ret = minica_store_begin(ca->store, err)) != 0)
        goto out;
    if ((ret = minica_store_acme_eab_insert(ca->store, row, err)) == 0 &&
        (ret = minica_ca_audit(ca, summary, err)) == 0)
        ret = minica_store_commit(ca->store, err);
    else
        minica_store_rollback(ca->store);
    if (ret != 0)
        goto out;
    if (minica_b64url_encode(key, sizeof(key), hmac, hmac_size) != 0) {
        ret = minica_seterr(err, MINICA_EINVAL, "MAC key buffer too small");
        goto out;
    }
    if (row_out != NULL)
        *row_out = *row;
out:
    mbedtls_platform_zeroize(key, sizeof(key));
    free(summary);
    free(row);
    return ret;
}

int minica_acme_eab_revoke(struct minica_ca *ca, const char *kid, struct minica_err *err)
{
    struct minica_acme_eab_key row;
    int ret = minica_store_acme_eab_get(ca->store, kid, &row, err);
    if (ret != 0)
        return ret;
    char summary[256];
    snprintf(summary, sizeof(summary), "acme eab key %s revoked (account %s)", kid,
             row.account_id[0] ? row.account_id : "none");
    if ((ret = minica_store_begin(ca->store, err)) != 0)
        return ret;
    if ((ret = minica_store_acme_eab_revoke(ca->store, kid, minica_now(), err)) == 0 &&
        (ret = minica_ca_audit(ca, summary, err)) == 0)
        return minica_store_commit(ca->store, err);
    minica_store_rollback(ca->store);
    return ret;
}

static int dns_listed(const char *list, const char *host)
{
    char suffix[MINICA_NAME_MAX + 2];
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n < sizeof(suffix)) {
            memcpy(suffix, p, n);
            suffix[n] = '\0';
            if (minica_dns_suffix_matches(suffix, host))
                return 1;
        }
        p += n;
        p += *p == ',';
    }
    return 0;
}

static int ip_listed(const char *list, const struct minica_name *name)
{
    char text[64];
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        struct minica_cidr c;
        struct minica_err e;
        if (n < sizeof(text)) {
            memcpy(text, p, n);
            text[n] = '\0';
            if (minica_cidr_parse(text, &c, &e) == 0 &&
                minica_cidr_contains(&c, name->ip, name->ip_len))
                return 1;
        }
        p += n;
        p += *p == ',';
    }
    return 0;
}

/* A key with either list allows only what its lists name (a key for DNS
 * names orders no IP); with neither, whatever the CA's policy allows. */
int minica_acme_eab_check_name(const struct minica_acme_eab_key *row,
                               const struct minica_name *name, struct minica_err *err)
{
    if (row->permit_dns[0] == '\0' && row->permit_ip[0] == '\0')
        return MINICA_OK;
    if (name->kind == MINICA_NAME_DNS
            ? dns_listed(row->permit_dns, name->wildcard ? name->text + 2 : name->text)
            : ip_listed(row->permit_ip, name))
        return MINICA_OK;
    return minica_seterr(err, MINICA_EPOLICY,
                         "%s is outside what this account's external account binding key %s "
                         "permits (permit_dns: %s; permit_ip: %s)",
                         name->text, row->kid, row->permit_dns[0] ? row->permit_dns : "none",
                         row->permit_ip[0] ? row->permit_ip : "none");
}
