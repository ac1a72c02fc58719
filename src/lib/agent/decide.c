/* Whether a managed certificate must be renewed, and why: a pure function
 * of the config, the facts inspect.c gathered and the clock. */
#include <stdio.h>
#include <string.h>

#include "minica/agent.h"
#include "minica/duration.h"

static int same_name_set(const char *a, const char *b)
{
    char ca[MINICA_SANS_MAX], cb[MINICA_SANS_MAX];
    for (int pass = 0; pass < 2; pass++) {
        snprintf(ca, sizeof(ca), "%s", pass ? b : a);
        snprintf(cb, sizeof(cb), "%s", pass ? a : b);
        char *save = NULL;
        for (char *t = strtok_r(ca, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int found = 0;
            size_t tl = strlen(t);
            for (const char *q = cb; *q;) {
                const char *comma = strchr(q, ',');
                size_t ql = comma ? (size_t)(comma - q) : strlen(q);
                if (ql == tl && memcmp(q, t, tl) == 0)
                    found = 1;
                q += ql + (comma ? 1 : 0);
            }
            if (!found)
                return 0;
        }
    }
    return 1;
}

enum minica_renew_reason minica_agent_decide(const struct minica_agent_config *cfg,
                                             const struct minica_agent_cert *cert,
                                             const struct minica_agent_facts *f, int64_t now,
                                             int force, char *why, size_t whylen)
{
    char when[32];
    minica_time_rfc3339(f->not_after, when);
    if (force) {
        snprintf(why, whylen, "forced (--force)");
        return MINICA_RENEW_FORCED;
    }
    if (f->missing) {
        snprintf(why, whylen, "%s", f->problem);
        return MINICA_RENEW_MISSING;
    }
    if (f->unreadable) {
        snprintf(why, whylen, "%s", f->problem);
        return MINICA_RENEW_UNREADABLE;
    }
    if (!f->key_matches) {
        snprintf(why, whylen, "the key in %s does not match the certificate", cert->key);
        return MINICA_RENEW_KEY_MISMATCH;
    }
    if (!f->current_ca) {
        snprintf(why, whylen,
                 "the certificate (serial %s) was not issued by this CA's current intermediate",
                 f->serial);
        return MINICA_RENEW_NOT_CURRENT_CA;
    }
    if (!f->files_agree) {
        snprintf(why, whylen, "%s", f->disagreement);
        return MINICA_RENEW_FILES_DISAGREE;
    }
    if (f->revoked) {
        snprintf(why, whylen, "the certificate (serial %s) is revoked", f->serial);
        return MINICA_RENEW_REVOKED;
    }
    if (f->not_after <= now) {
        snprintf(why, whylen, "the certificate (serial %s) expired at %s", f->serial, when);
        return MINICA_RENEW_EXPIRED;
    }
    if (!same_name_set(f->sans, cert->sans)) {
        snprintf(why, whylen, "the names changed (certificate: %s; config: %s)", f->sans,
                 cert->sans);
        return MINICA_RENEW_NAMES_CHANGED;
    }
    enum minica_usage want =
        cert->usage == MINICA_USAGE_DEFAULT ? MINICA_USAGE_SERVER : cert->usage;
    if (f->usage != want) {
        snprintf(why, whylen, "the usage changed (certificate: %s; config: %s)",
                 minica_usage_name(f->usage), minica_usage_name(want));
        return MINICA_RENEW_USAGE_CHANGED;
    }
    if (cert->key_type != MINICA_KEY_DEFAULT && f->key_type != cert->key_type) {
        snprintf(why, whylen, "the key type changed (certificate: %s; config: %s)",
                 minica_key_type_name(f->key_type), minica_key_type_name(cert->key_type));
        return MINICA_RENEW_KEY_TYPE_CHANGED;
    }
    int64_t left = f->not_after - now;
    int64_t lifetime = f->not_after - f->not_before;
    int64_t threshold = cfg->renew_before_percent > 0
                            ? lifetime / 100 * cfg->renew_before_percent +
                                  lifetime % 100 * cfg->renew_before_percent / 100
                            : cfg->renew_before_seconds;
    if (left < threshold) {
        char l[64], t[64];
        minica_duration_format(left > 0 ? left : 1, l, sizeof(l));
        if (cfg->renew_before_percent > 0)
            snprintf(t, sizeof(t), "%d%% of its lifetime", cfg->renew_before_percent);
        else
            minica_duration_format(threshold, t, sizeof(t));
        snprintf(why, whylen, "%s left until %s, less than renew_before (%s)", l, when, t);
        return MINICA_RENEW_DUE;
    }
    snprintf(why, whylen, "valid until %s", when);
    return MINICA_RENEW_NONE;
}

const char *minica_renew_reason_name(enum minica_renew_reason reason)
{
    switch (reason) {
    case MINICA_RENEW_NONE:
        return "none";
    case MINICA_RENEW_FORCED:
        return "forced";
    case MINICA_RENEW_MISSING:
        return "missing";
    case MINICA_RENEW_UNREADABLE:
        return "unreadable";
    case MINICA_RENEW_KEY_MISMATCH:
        return "key-mismatch";
    case MINICA_RENEW_NOT_CURRENT_CA:
        return "not-current-ca";
    case MINICA_RENEW_FILES_DISAGREE:
        return "files-disagree";
    case MINICA_RENEW_REVOKED:
        return "revoked";
    case MINICA_RENEW_EXPIRED:
        return "expired";
    case MINICA_RENEW_NAMES_CHANGED:
        return "names-changed";
    case MINICA_RENEW_USAGE_CHANGED:
        return "usage-changed";
    case MINICA_RENEW_KEY_TYPE_CHANGED:
        return "key-type-changed";
    case MINICA_RENEW_DUE:
        return "due";
    }
    return "unknown";
}
