/* What `ca status`, `metrics`, `list --expiring` and `agent status` say
 * about the CA's own certificates: one health verdict and one line per
 * finding, each naming the command that answers it. Reads the open CA
 * only; nothing here changes the state directory. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ca/ca_internal.h"
#include "minica/duration.h"
#include "minica/lifecycle.h"

static void note(struct minica_ca_findings *out, enum minica_ca_health level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(struct minica_ca_findings *out, enum minica_ca_health level, const char *fmt, ...)
{
    if (level > out->health)
        out->health = level;
    if (out->n >= MINICA_CA_NOTES_MAX)
        return; /* the verdict still counts; the first findings are the worst */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->note[out->n++], sizeof(out->note[0]), fmt, ap);
    va_end(ap);
}

/* "14d", or "2y364d" */
static void left_text(int64_t seconds, char *buf, size_t len)
{
    if (seconds <= 0)
        snprintf(buf, len, "0s");
    else
        minica_duration_format(seconds, buf, len);
}

static int expired(const struct minica_ca_cert *c, int64_t now)
{
    return c->not_after <= now;
}

/* The counts are as of the open; by a later now, the last leaf may be gone. */
static int64_t leaves_at(const struct minica_ca_cert *c, int64_t now)
{
    return c->last_leaf_not_after > now ? c->leaves_unexpired : 0;
}

/* The active chain: the issuer, its root and the cross-certificate sent
 * with them. If any has expired, relying parties refuse every new leaf. */
static void assess_chain(const struct minica_ca_cert *certs, size_t n, int64_t now,
                         struct minica_ca_findings *out)
{
    for (size_t i = 0; i < n; i++) {
        const struct minica_ca_cert *c = &certs[i];
        if (!c->active || !expired(c, now))
            continue;
        char when[32];
        minica_time_rfc3339(c->not_after, when);
        note(out, MINICA_CA_CRITICAL,
             "the active %s %s (serial %s) expired at %s: no leaf it vouches for verifies; %s",
             minica_ca_role_name(c->role), c->subject, c->serial, when,
             c->role == MINICA_CA_INTERMEDIATE ? "rotate now: minica ca rotate"
                                               : "roll the root over: minica ca rollover");
    }
}

/* Issuance caps a leaf at the intermediate's notAfter: once less than
 * max_ttl is left, every renewal comes out shorter than asked, and renewals
 * bunch up towards the same night. */
static void assess_issuer(const struct minica_ca_cert *ai, int64_t max_ttl, int64_t now,
                          struct minica_ca_findings *out)
{
    /* Only where the files lag the inventory: a replica of a shared
     * database that missed a rotation made on another host. */
    if (ai->revoked) {
        note(out, MINICA_CA_CRITICAL,
             "the issuing intermediate %s (serial %s) is revoked in the inventory, so nothing is "
             "issued here; copy the CA files of the host that rotated (intermediate.crt, "
             "intermediate.key, ca/) and reload",
             ai->subject, ai->serial);
        return;
    }
    if (expired(ai, now) || max_ttl <= 0)
        return;
    int64_t left = ai->not_after - now;
    char l[64], m[64], d[64];
    left_text(left, l, sizeof(l));
    minica_duration_format(max_ttl, m, sizeof(m));
    if (left < max_ttl) {
        note(out, MINICA_CA_CRITICAL,
             "renewals are shortened: the intermediate %s (serial %s) expires in %s, less than "
             "max_ttl %s; rotate now: minica ca rotate",
             ai->subject, ai->serial, l, m);
    } else if (left < MINICA_ROTATE_DUE_FACTOR * max_ttl) {
        minica_duration_format(MINICA_ROTATE_DUE_FACTOR * max_ttl, d, sizeof(d));
        note(out, MINICA_CA_ATTENTION,
             "rotation due: the intermediate %s (serial %s) expires in %s, less than %d x "
             "max_ttl (%s); rotate it: minica ca rotate",
             ai->subject, ai->serial, l, MINICA_ROTATE_DUE_FACTOR, d);
    }
}

/* A new intermediate cannot outlive its root: a root near its end leaves
 * rotation nothing to gain, only a rollover does. */
static void assess_root(const struct minica_ca_cert *ar, int64_t max_ttl, int64_t now,
                        struct minica_ca_findings *out)
{
    if (expired(ar, now) || max_ttl <= 0)
        return;
    int64_t left = ar->not_after - now;
    if (left >= MINICA_ROTATE_DUE_FACTOR * max_ttl)
        return;
    char l[64], d[64];
    left_text(left, l, sizeof(l));
    minica_duration_format(MINICA_ROTATE_DUE_FACTOR * max_ttl, d, sizeof(d));
    note(out, left < max_ttl ? MINICA_CA_CRITICAL : MINICA_CA_ATTENTION,
         "the root %s (serial %s) expires in %s, less than %d x max_ttl (%s); roll it over: "
         "minica ca rollover",
         ar->subject, ar->serial, l, MINICA_ROTATE_DUE_FACTOR, d);
}

static void assess_others(const struct minica_ca_cert *certs, size_t n,
                          const struct minica_ca_cert *ai, int64_t now,
                          struct minica_ca_findings *out)
{
    int64_t vouched = 0;
    size_t previous = 0;
    for (size_t i = 0; i < n; i++) {
        const struct minica_ca_cert *c = &certs[i];
        if (c->retired)
            continue;
        if (c->role == MINICA_CA_ROOT && c->staged)
            note(out, MINICA_CA_ATTENTION,
                 "the root %s (serial %s) was never made active (a rollover stopped before its "
                 "switch); nothing trusts or sends it: run minica ca rollover again, or retire "
                 "it: minica ca retire %s",
                 c->subject, c->serial, c->serial);
        if (c->role == MINICA_CA_CROSS && c->active && !expired(c, now))
            note(out, MINICA_CA_ATTENTION,
                 "rollover in progress: the cross-certificate %s (serial %s, signed by %s) is "
                 "sent with the chain; once every trust bundle has the new root, next step: "
                 "minica ca drop-cross",
                 c->subject, c->serial, c->issuer);
        if (c->role != MINICA_CA_INTERMEDIATE || c == ai)
            continue;
        /* Its leaves stop verifying for whoever checks the root's CRL. */
        if (c->revoked && leaves_at(c, now) > 0)
            note(out, MINICA_CA_ATTENTION,
                 "the revoked intermediate %s (serial %s) still has %lld unexpired leaves; "
                 "renew them under the active one (minica agent --force on their hosts, or "
                 "minica issue)",
                 c->subject, c->serial, (long long)leaves_at(c, now));
        if (c->staged) {
            note(
                out, MINICA_CA_HEALTHY,
                "the intermediate %s (serial %s) in %s was never made active (a rotation or "
                "rollover stopped before its switch); run minica ca rotate (or rollover) again, or "
                "retire it: "
                "minica ca retire %s",
                c->subject, c->serial, c->file, c->serial);
            continue;
        }
        if (!c->revoked && leaves_at(c, now) > 0) {
            vouched += leaves_at(c, now);
            previous++;
        } else if (leaves_at(c, now) == 0) {
            note(out, MINICA_CA_HEALTHY,
                 "the previous intermediate %s (serial %s) has no unexpired leaves left; "
                 "retire it: minica ca retire %s",
                 c->subject, c->serial, c->serial);
        }
    }
    if (previous > 0)
        note(out, MINICA_CA_HEALTHY,
             "%zu previous intermediate%s still vouch%s for %lld unexpired leaves; %s read-only "
             "until they expire or renew",
             previous, previous == 1 ? "" : "s", previous == 1 ? "es" : "", (long long)vouched,
             previous == 1 ? "it stays" : "they stay");
}

/* Whether c's signatureAlgorithm is ecdsa-with-SHA* followed by NULL, as
 * minica wrote it before issue 13: Chromium and rustls refuse every chain
 * through such a CA certificate (a trusted root's own signature they never
 * check). The outer field follows the TBS in the DER. */
static int legacy_ecdsa_encoding(const mbedtls_x509_crt *c)
{
    static const unsigned char ecdsa_with[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03};
    const unsigned char *p = c->tbs.p + c->tbs.len, *end = c->raw.p + c->raw.len;
    if (end - p < 4 || p[0] != 0x30 || p[1] >= 0x80 || p[2] != 0x06)
        return 0;
    size_t oid_len = p[3];
    const unsigned char *oid = p + 4;
    if ((size_t)(end - oid) < oid_len + 2 || oid_len < sizeof(ecdsa_with) ||
        memcmp(oid, ecdsa_with, sizeof(ecdsa_with)) != 0)
        return 0;
    return oid[oid_len] == 0x05 && oid[oid_len + 1] == 0x00;
}

static void assess_encoding(const struct minica_ca *ca, struct minica_ca_findings *out)
{
    const struct minica_hierarchy *h = &ca->hier;
    for (size_t i = 0; i < h->n; i++) {
        const struct minica_hier_entry *e = &h->e[i];
        if (!e->active || e->role == MINICA_CA_ROOT || !legacy_ecdsa_encoding(&e->crt))
            continue;
        note(out, MINICA_CA_ATTENTION,
             "the %s %s (serial %s) is signed with the old ECDSA encoding (a NULL after the "
             "algorithm) that Chromium and rustls refuse; rotate it: minica ca rotate, then "
             "renew every leaf",
             minica_ca_role_name(e->role), h->info[i].subject, h->info[i].serial);
    }
}

void minica_ca_assess(const struct minica_ca *ca, int64_t now, struct minica_ca_findings *out)
{
    memset(out, 0, sizeof(*out));
    const struct minica_ca_cert *certs;
    size_t n;
    minica_ca_certs(ca, &certs, &n);
    const struct minica_ca_cert *ai = minica_ca_active_intermediate(ca);
    const struct minica_ca_cert *ar = minica_ca_active_root(ca);
    int64_t max_ttl = minica_ca_policy(ca)->max_ttl;

    /* Worst first: what already breaks renewals, then what soon will. */
    assess_chain(certs, n, now, out);
    assess_issuer(ai, max_ttl, now, out);
    assess_root(ar, max_ttl, now, out);
    assess_encoding(ca, out);
    assess_others(certs, n, ai, now, out);
    if (!ar->has_key)
        note(out, MINICA_CA_HEALTHY,
             "the key of the root %s (serial %s) is not here (kept offline?); ca rotate and "
             "ca rollover need it",
             ar->subject, ar->serial);
}
