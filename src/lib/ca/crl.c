/* X.509 v2 CRLs (RFC 5280 section 5), which mbedTLS 2.28 can parse but not
 * write: the TBSCertList is built with mbedtls_asn1_write_* (backwards, as
 * those functions write) and signed through the compat layer. Which issuers
 * get one (every current intermediate with unexpired leaves, every root
 * whose key is here) is decided here too. Not a CRL distribution point or
 * OCSP responder. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>

#include "ca/ca_internal.h"
#include "minica/crl.h"
#include "minica/duration.h"
#include "minica/fsutil.h"

/* id-ce-cRLReasons { id-ce 21 } */
#define OID_CRL_REASON MBEDTLS_OID_ID_CE "\x15"

struct crl_entry {
    unsigned char serial[20];
    size_t serial_len;
    int64_t revoked_at;
    int reason;
};

struct entries {
    struct crl_entry *items;
    size_t n, cap;
    int64_t now;
    const char *issuer_fp;
};

/* Each writer returns the bytes it wrote (>= 0) or a negative mbedTLS code,
 * like mbedtls_asn1_write_*, so they nest with ADD(). */
#define ADD(len, expr)                                                                             \
    do {                                                                                           \
        int r_ = (expr);                                                                           \
        if (r_ < 0)                                                                                \
            return r_;                                                                             \
        (len) += (size_t)r_;                                                                       \
    } while (0)

static int write_header(unsigned char **p, unsigned char *start, size_t len, unsigned char tag)
{
    size_t n = 0;
    ADD(n, mbedtls_asn1_write_len(p, start, len));
    ADD(n, mbedtls_asn1_write_tag(p, start, tag));
    return (int)n;
}

static int write_seq(unsigned char **p, unsigned char *start, size_t len)
{
    return write_header(p, start, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
}

/* A positive INTEGER from big-endian bytes, in its minimal DER form. */
static int write_uint_bytes(unsigned char **p, unsigned char *start, const unsigned char *b,
                            size_t blen)
{
    size_t n = 0;
    while (blen > 1 && b[0] == 0) {
        b++;
        blen--;
    }
    ADD(n, mbedtls_asn1_write_raw_buffer(p, start, b, blen));
    if (b[0] & 0x80) {
        if (*p - start < 1)
            return MBEDTLS_ERR_ASN1_BUF_TOO_SMALL;
        *--(*p) = 0;
        n++;
    }
    ADD(n, write_header(p, start, n, MBEDTLS_ASN1_INTEGER));
    return (int)n;
}

static int write_uint64(unsigned char **p, unsigned char *start, uint64_t v)
{
    unsigned char b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    return write_uint_bytes(p, start, b, sizeof(b));
}

/* RFC 5280 5.1.2.4: UTCTime through 2049, GeneralizedTime from 2050. */
static int write_time(unsigned char **p, unsigned char *start, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char s[20];
    gmtime_r(&tt, &tm);
    int year = tm.tm_year + 1900;
    if (year < 2050) {
        snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02dZ", year % 100, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        return mbedtls_asn1_write_tagged_string(p, start, MBEDTLS_ASN1_UTC_TIME, s, strlen(s));
    }
    snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ", year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    return mbedtls_asn1_write_tagged_string(p, start, MBEDTLS_ASN1_GENERALIZED_TIME, s, strlen(s));
}

/* Extension ::= SEQUENCE { extnID, extnValue OCTET STRING } around the
 * value_len bytes just written (non-critical: the BOOLEAN DEFAULT is omitted). */
static int wrap_ext(unsigned char **p, unsigned char *start, size_t value_len, const char *oid,
                    size_t oid_len)
{
    size_t n = 0;
    ADD(n, write_header(p, start, value_len, MBEDTLS_ASN1_OCTET_STRING));
    ADD(n, mbedtls_asn1_write_oid(p, start, oid, oid_len));
    ADD(n, write_seq(p, start, value_len + n));
    return (int)n;
}

static int write_entry(unsigned char **p, unsigned char *start, const struct crl_entry *e)
{
    size_t n = 0;
    if (e->reason != MINICA_REASON_UNSPECIFIED) {
        /* RFC 5280 5.3.1: reasonCode unspecified SHOULD be absent. */
        size_t v = 0, ext = 0;
        ADD(v, mbedtls_asn1_write_enum(p, start, e->reason));
        ADD(ext, wrap_ext(p, start, v, OID_CRL_REASON, MBEDTLS_OID_SIZE(OID_CRL_REASON)));
        ext += v;
        ADD(n, write_seq(p, start, ext));
        n += ext;
    }
    ADD(n, write_time(p, start, e->revoked_at));
    ADD(n, write_uint_bytes(p, start, e->serial, e->serial_len));
    ADD(n, write_seq(p, start, n));
    return (int)n;
}

/* AlgorithmIdentifier: ECDSA without parameters (RFC 5758 3.2), RSA with NULL. */
static int write_sig_alg(unsigned char **p, unsigned char *start, mbedtls_pk_type_t pk,
                         mbedtls_md_type_t md)
{
    const char *oid;
    size_t oid_len, n = 0;
    int r = mbedtls_oid_get_oid_by_sig_alg(pk, md, &oid, &oid_len);
    if (r != 0)
        return r;
    if (pk != MBEDTLS_PK_ECDSA)
        ADD(n, mbedtls_asn1_write_null(p, start));
    ADD(n, mbedtls_asn1_write_oid(p, start, oid, oid_len));
    ADD(n, write_seq(p, start, n));
    return (int)n;
}

struct tbs_params {
    const mbedtls_x509_crt *issuer;
    const unsigned char *key_id;
    size_t key_id_len;
    mbedtls_pk_type_t pk;
    mbedtls_md_type_t md;
    int64_t this_update, next_update, number;
    const struct entries *entries;
};

static int write_tbs(unsigned char **p, unsigned char *start, const struct tbs_params *t)
{
    size_t n = 0, exts = 0, v;

    /* crlExtensions [0] EXPLICIT Extensions: cRLNumber, authorityKeyIdentifier. */
    v = 0;
    ADD(v, write_uint64(p, start, (uint64_t)t->number));
    ADD(exts,
        wrap_ext(p, start, v, MBEDTLS_OID_CRL_NUMBER, MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_NUMBER)));
    exts += v;
    v = 0;
    ADD(v, mbedtls_asn1_write_raw_buffer(p, start, t->key_id, t->key_id_len));
    ADD(v, write_header(p, start, v, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0)); /* keyIdentifier [0] */
    ADD(v, write_seq(p, start, v));
    ADD(exts, wrap_ext(p, start, v, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
                       MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER)));
    exts += v;
    ADD(exts, write_seq(p, start, exts));
    ADD(exts,
        write_header(p, start, exts, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0));
    n += exts;

    /* revokedCertificates is absent, not empty, when nothing is revoked (5.1.2.6). */
    if (t->entries->n > 0) {
        size_t list = 0;
        for (size_t i = t->entries->n; i-- > 0;)
            ADD(list, write_entry(p, start, &t->entries->items[i]));
        ADD(list, write_seq(p, start, list));
        n += list;
    }
    ADD(n, write_time(p, start, t->next_update));
    ADD(n, write_time(p, start, t->this_update));
    /* The issuer's subject byte for byte, so name matching cannot differ. */
    ADD(n, mbedtls_asn1_write_raw_buffer(p, start, t->issuer->subject_raw.p,
                                         t->issuer->subject_raw.len));
    ADD(n, write_sig_alg(p, start, t->pk, t->md));
    ADD(n, mbedtls_asn1_write_int(p, start, 1)); /* v2 */
    ADD(n, write_seq(p, start, n));
    return (int)n;
}

/* The issuer's key identifier as mbedTLS computes it for the certificates'
 * SKI/AKI: SHA-1 of the subjectPublicKey BIT STRING's contents (RFC 5280
 * 4.2.1.2 method 1). */
static int key_id_of(const mbedtls_x509_crt *crt, unsigned char out[20], struct minica_err *err)
{
    unsigned char *p = crt->pk_raw.p;
    const unsigned char *end = p + crt->pk_raw.len;
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0 ||
        mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "cannot read the issuer's public key");
    p += len;
    if (mbedtls_asn1_get_bitstring_null(&p, end, &len) != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "cannot read the issuer's public key");
    const mbedtls_md_info_t *sha1 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
    if (sha1 == NULL || minica_compat_md(sha1, p, len, out) != 0)
        return minica_seterr(err, MINICA_ECRYPTO, "cannot hash the issuer's public key");
    return MINICA_OK;
}

static int hex_to_bytes(const char *hex, unsigned char *out, size_t outlen, size_t *len)
{
    size_t n = strlen(hex);
    if (n == 0 || n % 2 || n / 2 > outlen)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    *len = n / 2;
    return 0;
}

static int add_entry(struct entries *e, const char *serial, int64_t revoked_at, int reason)
{
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 16;
        struct crl_entry *items = realloc(e->items, ncap * sizeof(*items));
        if (items == NULL)
            return MINICA_ENOMEM;
        e->items = items;
        e->cap = ncap;
    }
    struct crl_entry *it = &e->items[e->n];
    memset(it, 0, sizeof(*it));
    if (hex_to_bytes(serial, it->serial, sizeof(it->serial), &it->serial_len) != 0)
        return MINICA_EINVAL;
    it->revoked_at = revoked_at;
    it->reason = reason;
    e->n++;
    return 0;
}

static int collect_revoked(const struct minica_cert_row *row, void *ctx)
{
    struct entries *e = ctx;
    /* Expired certificates fail on their own; RFC 5280 5.1.2.6 lets them go. */
    if (row->not_after < e->now)
        return 0;
    /* Only what this intermediate signed belongs on its CRL. */
    if (strcmp(row->issuer_fingerprint_sha256, e->issuer_fp) != 0)
        return 0;
    return add_entry(e, row->serial, row->revoked_at, row->revoke_reason);
}

static int index_of_fp(const struct minica_hierarchy *h, const char *fp)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->e[i].fp, fp) == 0)
            return (int)i;
    return -1;
}

struct ca_entries {
    struct entries *e;
    const struct minica_hierarchy *h;
    int root; /* index of the root whose CRL this is */
};

/* A root's CRL lists the intermediates it signed that were revoked. */
static int collect_revoked_ca(const struct minica_ca_revocation *row, void *ctx)
{
    struct ca_entries *c = ctx;
    int i = index_of_fp(c->h, row->fingerprint_sha256);
    int signed_by_this =
        strcmp(row->issuer_fingerprint_sha256, c->e->issuer_fp) == 0 ||
        (row->issuer_fingerprint_sha256[0] == '\0' && i >= 0 && c->h->e[i].issuer == c->root);
    if (!signed_by_this)
        return 0;
    if (i >= 0 && c->h->info[i].not_after < c->e->now)
        return 0;
    return add_entry(c->e, row->serial, row->revoked_at, row->reason);
}

void minica_crl_init(struct minica_crl *crl)
{
    memset(crl, 0, sizeof(*crl));
}

void minica_crl_free(struct minica_crl *crl)
{
    if (crl == NULL)
        return;
    free(crl->der);
    free(crl->pem);
    memset(crl, 0, sizeof(*crl));
}

void minica_crl_plan_init(struct minica_crl_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
}

void minica_crl_plan_free(struct minica_crl_plan *plan)
{
    if (plan == NULL)
        return;
    free(plan->issuer);
    memset(plan, 0, sizeof(*plan));
}

void minica_crl_set_init(struct minica_crl_set *set)
{
    memset(set, 0, sizeof(*set));
}

void minica_crl_set_free(struct minica_crl_set *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++)
        minica_crl_free(&set->crl[i]);
    free(set->crl);
    free(set->pem);
    minica_crl_plan_free(&set->plan);
    memset(set, 0, sizeof(*set));
}

static int sign_crl(const struct tbs_params *t, struct minica_signer *key, struct minica_crl *out,
                    struct minica_err *err)
{
    size_t size = 2048 + t->entries->n * 96;
    unsigned char *tbs_buf = malloc(size), alg_buf[32];
    int ret;
    if (tbs_buf == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    unsigned char *p = tbs_buf + size, *a = alg_buf + sizeof(alg_buf);
    int tbs_len = write_tbs(&p, tbs_buf, t);
    int alg_len = write_sig_alg(&a, alg_buf, t->pk, t->md);
    if (tbs_len < 0 || alg_len < 0) {
        ret = minica_seterr_mbedtls(err, MINICA_ECRYPTO, tbs_len < 0 ? tbs_len : alg_len,
                                    "cannot encode the CRL");
        goto out;
    }
    struct minica_der_part body = {p, (size_t)tbs_len}, alg = {a, (size_t)alg_len};
    if ((ret = minica_sign_body(MINICA_WIRE_CRL, &body, &alg, key, &out->der, &out->der_len,
                                err)) != 0)
        goto out;
    ret = minica_der_to_pem(out->der, out->der_len, "X509 CRL", &out->pem, err);
out:
    free(tbs_buf);
    return ret;
}

/* What the store says now, not when the CA was opened: serve keeps its CA
 * open for days, and a CRL must follow revocations made meanwhile. */
struct fresh {
    int64_t now;
    int64_t *unexpired; /* per hierarchy entry: unexpired leaves it signed */
    int *revoked;       /* per hierarchy entry: revoked by `ca revoke` */
    const struct minica_hierarchy *h;
};

static int fresh_stats(const struct minica_issuer_stats *row, void *ctx)
{
    struct fresh *f = ctx;
    int i = index_of_fp(f->h, row->issuer_fingerprint_sha256);
    if (i >= 0)
        f->unexpired[i] = row->unexpired;
    return 0;
}

static int fresh_revocation(const struct minica_ca_revocation *row, void *ctx)
{
    struct fresh *f = ctx;
    int i = index_of_fp(f->h, row->fingerprint_sha256);
    if (i >= 0)
        f->revoked[i] = 1;
    return 0;
}

static int fresh_load(struct minica_ca *ca, struct fresh *f, struct minica_err *err)
{
    memset(f, 0, sizeof(*f));
    f->now = minica_now();
    f->h = &ca->hier;
    f->unexpired = calloc(ca->hier.n, sizeof(*f->unexpired));
    f->revoked = calloc(ca->hier.n, sizeof(*f->revoked));
    if (f->unexpired == NULL || f->revoked == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    int ret = minica_store_issuer_stats(ca->store, f->now, fresh_stats, f, err);
    if (ret == 0)
        ret = minica_store_list_ca_revocations(ca->store, fresh_revocation, f, err);
    return ret;
}

static void fresh_free(struct fresh *f)
{
    free(f->unexpired);
    free(f->revoked);
}

static int plan_add(struct minica_ca *ca, struct minica_crl_plan *plan, size_t i,
                    struct minica_err *err)
{
    struct minica_crl_issuer *n = realloc(plan->issuer, (plan->n + 1) * sizeof(*n));
    if (n == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    plan->issuer = n;
    const struct minica_ca_cert *info = &ca->hier.info[i];
    struct minica_crl_issuer *it = &n[plan->n++];
    memset(it, 0, sizeof(*it));
    it->index = i;
    it->role = info->role;
    it->active = info->active;
    snprintf(it->serial, sizeof(it->serial), "%s", info->serial);
    snprintf(it->subject, sizeof(it->subject), "%s", info->subject);
    return MINICA_OK;
}

static void plan_warn(struct minica_crl_plan *plan, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void plan_warn(struct minica_crl_plan *plan, const char *fmt, ...)
{
    if (plan->n_warnings == MINICA_CRL_WARNINGS_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(plan->warning[plan->n_warnings++], sizeof(plan->warning[0]), fmt, ap);
    va_end(ap);
}

/* Whether the key of entry i can be read here: MINICA_ENOENT (with the
 * file in err) is an issuer to skip; any other error (a key others can
 * read, one that does not match) stops the run. */
/* Whether entry i's key is here, as the hierarchy found it at open. A key
 * that is there is not loaded: serve plans at every CRL request, and an
 * encrypted key costs a second of PBKDF2 to open, which anyone could then
 * make the CA spend. It is read, and checked, when a CRL is signed. */
static int key_present(struct minica_ca *ca, size_t i, struct minica_err *err)
{
    if ((int)i == ca->hier.active_int && ca->intermediate_key != NULL)
        return MINICA_OK;
    if (ca->hier.e[i].has_key)
        return MINICA_OK;
    /* Missing: the load fails at once, naming the files it looked for. */
    struct minica_signer *s = NULL;
    int ret = minica_ca_load_ca_key(ca, i, &s, err);
    minica_signer_free(s);
    return ret;
}

static int plan_one(struct minica_ca *ca, const char *text, struct minica_crl_plan *plan,
                    struct minica_err *err)
{
    char serial[MINICA_SERIAL_HEX_MAX];
    int ret = minica_serial_normalize(text, serial, sizeof(serial), err);
    if (ret != 0)
        return ret;
    int i = minica_hierarchy_find_serial(&ca->hier, serial);
    if (i < 0)
        return minica_seterr(err, MINICA_ENOENT,
                             "no CA certificate with serial %s in %s (see minica ca status)",
                             serial, ca->dir);
    const struct minica_ca_cert *info = &ca->hier.info[i];
    if (info->role == MINICA_CA_CROSS)
        return minica_seterr(err, MINICA_EINVAL,
                             "%s is a cross-certificate; its root's CRL is made with --issuer "
                             "and the root's serial",
                             serial);
    if (info->retired)
        return minica_seterr(err, MINICA_EINVAL, "%s %s is retired: it gets no CRL",
                             minica_ca_role_name(info->role), serial);
    if ((ret = key_present(ca, (size_t)i, err)) != 0) {
        minica_err_prefix(err, "the CRL of %s %s needs its key", minica_ca_role_name(info->role),
                          serial);
        return ret;
    }
    return plan_add(ca, plan, (size_t)i, err);
}

static int plan_intermediates(struct minica_ca *ca, const struct fresh *f,
                              struct minica_crl_plan *plan, struct minica_err *err)
{
    /* The active one always: nginx needs a CRL for it from its first leaf. */
    int ret = key_present(ca, (size_t)ca->hier.active_int, err);
    if (ret != 0 || (ret = plan_add(ca, plan, (size_t)ca->hier.active_int, err)) != 0)
        return ret;
    for (size_t i = 0; i < ca->hier.n; i++) {
        const struct minica_ca_cert *info = &ca->hier.info[i];
        if (info->role != MINICA_CA_INTERMEDIATE || (int)i == ca->hier.active_int ||
            info->retired || f->unexpired[i] == 0)
            continue;
        /* A revoked intermediate gets one too, while its key is here: its
         * leaves are rejected through the root's CRL either way, but a
         * verifier checking every level reports the leaf's missing CRL
         * (OpenSSL: "unable to get certificate CRL") before the revoked
         * intermediate, which hides the reason. Once its key is gone
         * nothing is lost, so that says nothing. */
        struct minica_err why;
        ret = key_present(ca, i, &why);
        if (ret == MINICA_ENOENT && f->revoked[i])
            continue;
        if (ret == MINICA_ENOENT) {
            plan_warn(plan,
                      "no CRL for intermediate %s (%s), which still has %lld unexpired leaves: "
                      "%s; a relying party that checks CRLs rejects its leaves",
                      info->serial, info->subject, (long long)f->unexpired[i], why.msg);
            continue;
        }
        if (ret != 0) {
            *err = why;
            return ret;
        }
        if ((ret = plan_add(ca, plan, i, err)) != 0)
            return ret;
    }
    return MINICA_OK;
}

static int plan_roots(struct minica_ca *ca, struct minica_crl_plan *plan, struct minica_err *err)
{
    size_t before = plan->n, active = (size_t)ca->hier.active_root;
    struct minica_err why;
    char first_missing[sizeof(why.msg)] = "";
    for (size_t k = 0; k <= ca->hier.n; k++) {
        /* The active root first, then the others in the hierarchy's order. */
        size_t i = k == 0 ? active : k - 1;
        const struct minica_ca_cert *info = &ca->hier.info[i];
        if (k > 0 && i == active)
            continue;
        if (info->role != MINICA_CA_ROOT || info->retired)
            continue;
        int ret = key_present(ca, i, &why);
        if (ret == MINICA_ENOENT) {
            if (first_missing[0] == '\0')
                snprintf(first_missing, sizeof(first_missing), "%s", why.msg);
            plan_warn(plan,
                      "no CRL for root %s (%s): %s (kept offline?); make it where the key is: "
                      "minica crl --issuer %s",
                      info->serial, info->subject, why.msg, info->serial);
            continue;
        }
        if (ret != 0) {
            *err = why;
            return ret;
        }
        if ((ret = plan_add(ca, plan, i, err)) != 0)
            return ret;
    }
    if (plan->n == before)
        return minica_seterr(err, MINICA_ENOENT,
                             "the root CRL needs a root's key and none is here (%s); make it "
                             "where the root key is kept",
                             first_missing);
    return MINICA_OK;
}

int minica_ca_crl_plan(struct minica_ca *ca, const struct minica_crl_options *opts,
                       struct minica_crl_plan *plan, struct minica_err *err)
{
    minica_crl_plan_init(plan);
    struct fresh f;
    int ret = fresh_load(ca, &f, err);
    if (ret == 0) {
        unsigned scope = opts && opts->scope ? opts->scope : MINICA_CRL_INTERMEDIATES;
        if (opts && opts->issuer_serial)
            ret = plan_one(ca, opts->issuer_serial, plan, err);
        else if (scope & MINICA_CRL_INTERMEDIATES)
            ret = plan_intermediates(ca, &f, plan, err);
        if (ret == 0 && !(opts && opts->issuer_serial) && (scope & MINICA_CRL_ROOTS))
            ret = plan_roots(ca, plan, err);
    }
    fresh_free(&f);
    if (ret != 0)
        minica_crl_plan_free(plan);
    return ret;
}

/* Signs the CRL of one issuer; the caller holds the transaction. */
static int sign_one(struct minica_ca *ca, const struct minica_crl_issuer *is, int64_t now,
                    int64_t next, struct minica_crl *out, struct minica_err *err)
{
    const struct minica_hier_entry *e = &ca->hier.e[is->index];
    int root = is->role == MINICA_CA_ROOT;
    struct entries entries = {.now = now, .issuer_fp = e->fp};
    struct minica_signer *loaded = NULL, *key = ca->intermediate_key;
    unsigned char key_id[20];
    int ret;

    if ((int)is->index != ca->hier.active_int || key == NULL) {
        if ((ret = minica_ca_load_ca_key(ca, is->index, &loaded, err)) != 0)
            goto out;
        key = loaded;
    }

    if (root) {
        struct ca_entries c = {&entries, &ca->hier, (int)is->index};
        ret = minica_store_list_ca_revocations(ca->store, collect_revoked_ca, &c, err);
    } else {
        struct minica_cert_filter filter;
        memset(&filter, 0, sizeof(filter));
        filter.status_mask = MINICA_STATUS_REVOKED;
        filter.now = now;
        ret = minica_store_list_certs(ca->store, &filter, collect_revoked, &entries, err);
    }
    if (ret == MINICA_ENOMEM || ret == MINICA_EINVAL) {
        ret = minica_seterr(err, ret,
                            ret == MINICA_ENOMEM ? "out of memory"
                                                 : "a serial in the inventory is malformed");
        goto out;
    }
    if (ret != 0 || (ret = key_id_of(&e->crt, key_id, err)) != 0)
        goto out;

    int64_t number = 0;
    if ((ret = minica_store_next_crl_number(ca->store, root ? "root" : "intermediate", &number,
                                            err)) != 0)
        goto out;
    struct tbs_params t = {
        .issuer = &e->crt,
        .key_id = key_id,
        .key_id_len = sizeof(key_id),
        .pk = mbedtls_pk_can_do(&key->pub, MBEDTLS_PK_ECDSA) ? MBEDTLS_PK_ECDSA : MBEDTLS_PK_RSA,
        .md = minica_key_md(&key->pub),
        .this_update = now,
        .next_update = now + next,
        .number = number,
        .entries = &entries,
    };
    if ((ret = sign_crl(&t, key, out, err)) != 0)
        goto out;
    out->number = number;
    out->n_revoked = entries.n;
    out->this_update = t.this_update;
    out->next_update = t.next_update;
    out->issuer_role = is->role;
    out->issuer_active = is->active;
    snprintf(out->issuer_serial, sizeof(out->issuer_serial), "%s", is->serial);
    snprintf(out->issuer_subject, sizeof(out->issuer_subject), "%s", is->subject);

    char summary[512], next_text[64];
    minica_duration_format(next, next_text, sizeof(next_text));
    snprintf(summary, sizeof(summary), "crl %s number=%lld revoked=%zu next_update=%s issuer=%s%s",
             root ? "root" : "intermediate", (long long)number, entries.n, next_text, is->serial,
             is->active ? " (active)" : "");
    ret = minica_ca_audit(ca, summary, err);
out:
    free(entries.items);
    minica_signer_free(loaded);
    return ret;
}

/* out->pem: every CRL of the set, in order. */
static int join_pem(struct minica_crl_set *out, struct minica_err *err)
{
    size_t pem_len = 0;
    for (size_t k = 0; k < out->n; k++)
        pem_len += strlen(out->crl[k].pem);
    if ((out->pem = malloc(pem_len + 1)) == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    out->pem[0] = '\0';
    for (size_t k = 0, at = 0; k < out->n; k++) {
        size_t len = strlen(out->crl[k].pem);
        memcpy(out->pem + at, out->crl[k].pem, len + 1);
        at += len;
    }
    return MINICA_OK;
}

/* Signs a CRL for every issuer of out->plan, in the caller's transaction. */
static int sign_planned(struct minica_ca *ca, int64_t next, struct minica_crl_set *out,
                        struct minica_err *err)
{
    /* One thisUpdate for the whole file: its CRLs were made together. */
    int64_t now = minica_now();
    for (size_t k = 0; k < out->plan.n; k++) {
        int ret = sign_one(ca, &out->plan.issuer[k], now, next, &out->crl[k], err);
        if (ret != 0)
            return ret;
        out->n++;
    }
    return join_pem(out, err);
}

/* The plan of opts, and room for one CRL per issuer in it. */
static int plan_set(struct minica_ca *ca, const struct minica_crl_options *opts,
                    struct minica_crl_set *out, struct minica_err *err)
{
    minica_crl_set_init(out);
    int ret = minica_ca_crl_plan(ca, opts, &out->plan, err);
    if (ret == 0 && out->plan.n > 0 && (out->crl = calloc(out->plan.n, sizeof(*out->crl))) == NULL)
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
    return ret;
}

int minica_ca_crls(struct minica_ca *ca, const struct minica_crl_options *opts,
                   struct minica_crl_set *out, struct minica_err *err)
{
    int64_t next = opts && opts->next_update ? opts->next_update : MINICA_CRL_DEFAULT_NEXT_UPDATE;
    int ret = plan_set(ca, opts, out, err);
    if (ret == 0 && (ret = minica_store_begin(ca->store, err)) == 0) {
        if ((ret = sign_planned(ca, next, out, err)) == 0)
            ret = minica_store_commit(ca->store, err);
        else
            minica_store_rollback(ca->store);
    }
    if (ret != 0)
        minica_crl_set_free(out);
    return ret;
}

/* out->crl[k] from the published row of plan issuer k. */
static int crl_of_row(const struct minica_crl_issuer *is, struct minica_published_crl *row,
                      struct minica_crl *out, struct minica_err *err)
{
    mbedtls_pem_context pem;
    mbedtls_pem_init(&pem);
    size_t used = 0, len = 0;
    int rc = mbedtls_pem_read_buffer(&pem, "-----BEGIN X509 CRL-----", "-----END X509 CRL-----",
                                     (const unsigned char *)row->pem, NULL, 0, &used);
    const unsigned char *der = rc == 0 ? minica_compat_pem_der(&pem, &len) : NULL;
    int ret = MINICA_OK;
    if (der == NULL || len == 0)
        ret = minica_seterr_mbedtls(err, MINICA_EINVAL, rc,
                                    "the published CRL of %s in the inventory is not PEM",
                                    is->serial);
    else if ((out->der = malloc(len)) == NULL)
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
    if (ret == 0) {
        memcpy(out->der, der, len);
        out->der_len = len;
        out->pem = row->pem;
        row->pem = NULL;
        out->number = row->number;
        out->n_revoked = (size_t)row->revoked;
        out->this_update = row->this_update;
        out->next_update = row->next_update;
        out->issuer_role = is->role;
        out->issuer_active = is->active;
        snprintf(out->issuer_serial, sizeof(out->issuer_serial), "%s", is->serial);
        snprintf(out->issuer_subject, sizeof(out->issuer_subject), "%s", is->subject);
    }
    mbedtls_pem_free(&pem);
    return ret;
}

/* The published set when every planned issuer has a CRL in it younger
 * than max_age, all of one signing (one thisUpdate): 1, out filled; 0,
 * out emptied but for its plan, when it must be signed anew. */
static int published_fresh(struct minica_ca *ca, int64_t max_age, struct minica_crl_set *out,
                           struct minica_err *err)
{
    int64_t now = minica_now();
    int ret = 1;
    for (size_t k = 0; k < out->plan.n && ret == 1; k++) {
        const struct minica_crl_issuer *is = &out->plan.issuer[k];
        struct minica_published_crl row;
        int rc = minica_store_get_published_crl(ca->store, is->serial, &row, err);
        if (rc == MINICA_ENOENT)
            ret = 0;
        else if (rc != 0)
            ret = rc;
        else if (row.this_update > now || now - row.this_update >= max_age ||
                 (k > 0 && row.this_update != out->crl[0].this_update))
            ret = 0;
        else if ((rc = crl_of_row(is, &row, &out->crl[k], err)) != 0)
            ret = rc;
        else
            out->n++;
        minica_published_crl_free(&row);
    }
    if (ret == 1 && (ret = join_pem(out, err)) == 0)
        return 1;
    for (size_t k = 0; k < out->n; k++)
        minica_crl_free(&out->crl[k]);
    out->n = 0;
    return ret;
}

static int publish(struct minica_ca *ca, const struct minica_crl_set *set, struct minica_err *err)
{
    struct minica_published_crl *rows = calloc(set->n ? set->n : 1, sizeof(*rows));
    if (rows == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    for (size_t k = 0; k < set->n; k++) {
        const struct minica_crl *c = &set->crl[k];
        snprintf(rows[k].issuer_serial, sizeof(rows[k].issuer_serial), "%s", c->issuer_serial);
        rows[k].number = c->number;
        rows[k].this_update = c->this_update;
        rows[k].next_update = c->next_update;
        rows[k].revoked = (int64_t)c->n_revoked;
        rows[k].pem = c->pem;
    }
    int ret = minica_store_replace_published_crls(ca->store, rows, set->n, err);
    free(rows);
    return ret;
}

int minica_ca_crls_published(struct minica_ca *ca, int64_t max_age, struct minica_crl_set *out,
                             struct minica_err *err)
{
    struct minica_crl_options opts;
    memset(&opts, 0, sizeof(opts));
    opts.scope = MINICA_CRL_INTERMEDIATES;
    int ret = plan_set(ca, &opts, out, err);
    /* Most answers read the set without a transaction: on SQLite a
     * BEGIN IMMEDIATE would queue every CRL fetch behind issuance. */
    int fresh = ret == 0 ? published_fresh(ca, max_age, out, err) : ret;
    if (fresh == 0 && (ret = minica_store_begin(ca->store, err)) == 0) {
        /* Another replica may have signed while this one waited. */
        if ((ret = minica_store_lock_published_crls(ca->store, err)) == 0 &&
            (fresh = published_fresh(ca, max_age, out, err)) == 0 &&
            (ret = sign_planned(ca, MINICA_CRL_DEFAULT_NEXT_UPDATE, out, err)) == 0)
            ret = publish(ca, out, err);
        if (ret == 0 && fresh >= 0)
            ret = minica_store_commit(ca->store, err);
        else
            minica_store_rollback(ca->store);
    }
    if (ret == 0 && fresh < 0)
        ret = fresh;
    if (ret == 0 && out->n == 0)
        ret = minica_seterr(err, MINICA_ENOENT, "no current intermediate to sign a CRL");
    if (ret != 0)
        minica_crl_set_free(out);
    return ret;
}

int minica_ca_crl(struct minica_ca *ca, const struct minica_crl_options *opts,
                  struct minica_crl *out, struct minica_err *err)
{
    minica_crl_init(out);
    int root = opts && opts->root;
    struct minica_crl_options one;
    memset(&one, 0, sizeof(one));
    one.next_update = opts ? opts->next_update : 0;
    one.issuer_serial =
        root ? minica_ca_active_root(ca)->serial : minica_ca_active_intermediate(ca)->serial;
    struct minica_crl_set set;
    int ret = minica_ca_crls(ca, &one, &set, err);
    if (ret == 0) {
        *out = set.crl[0];
        minica_crl_init(&set.crl[0]);
    }
    minica_crl_set_free(&set);
    return ret;
}

int minica_crl_write(const struct minica_crl *crl, const char *path, int der,
                     struct minica_err *err)
{
    if (der)
        return minica_write_file_atomic(path, crl->der, crl->der_len, 0644, 0, err);
    return minica_write_file_atomic(path, crl->pem, strlen(crl->pem), 0644, 0, err);
}

int minica_crl_set_write(const struct minica_crl_set *set, const char *path, int der,
                         struct minica_err *err)
{
    if (der) {
        if (set->n != 1)
            return minica_seterr(err, MINICA_EINVAL,
                                 "DER holds one CRL and there are %zu; write PEM or pick one "
                                 "issuer",
                                 set->n);
        return minica_crl_write(&set->crl[0], path, 1, err);
    }
    return minica_write_file_atomic(path, set->pem, strlen(set->pem), 0644, 0, err);
}
