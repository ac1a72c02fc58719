/* See ca_warn.h. The threshold is the one minica_ca_assess calls critical;
 * the wording names the command that ends it. */
#include <stddef.h>
#include <stdio.h>

#include "ca_warn.h"
#include "minica/ca.h"
#include "minica/duration.h"
#include "minica/lifecycle.h"

int cli_warn_short_intermediate(const char *cmd, const char *dir, int64_t now, char *line,
                                size_t linelen)
{
    struct minica_ca *ca = NULL;
    struct minica_err err;
    if (minica_ca_open_flags(dir, MINICA_CA_OPEN_NO_KEY, &ca, &err) != 0)
        return 0;
    const struct minica_ca_cert *ai = minica_ca_active_intermediate(ca);
    int64_t max_ttl = minica_ca_policy(ca)->max_ttl, left = ai->not_after - now;
    int warn = left < max_ttl;
    if (warn) {
        char l[64], m[64], when[32];
        minica_duration_format(max_ttl, m, sizeof(m));
        if (left > 0) {
            minica_duration_format(left, l, sizeof(l));
            snprintf(line, linelen,
                     "the intermediate %s (serial %s) expires in %s, less than max_ttl %s; "
                     "renewals are shortened; rotate it: minica ca rotate",
                     ai->subject, ai->serial, l, m);
        } else {
            minica_time_rfc3339(ai->not_after, when);
            snprintf(line, linelen,
                     "the intermediate %s (serial %s) expired at %s; nothing it issues "
                     "verifies; rotate it: minica ca rotate",
                     ai->subject, ai->serial, when);
        }
        fprintf(stderr, "minica: %s: warning: %s\n", cmd, line);
    }
    minica_ca_close(ca);
    return warn;
}
