/* "90d" <-> seconds. Units: y (365d), w, d, h, m, s; combinations such as
 * "1d12h" add up. Each unit at most once, largest first, so typos like
 * "1h1d" or "5dd" are caught rather than guessed at. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "minica/duration.h"

static const struct {
    char unit;
    int64_t seconds;
} units[] = {
    {'y', 365 * 86400LL}, {'w', 7 * 86400LL}, {'d', 86400LL},
    {'h', 3600LL},        {'m', 60LL},        {'s', 1LL},
};
#define N_UNITS (sizeof(units) / sizeof(units[0]))

/* 1000 years: beyond any certificate and far from int64 overflow. */
#define DURATION_MAX (1000 * 365 * 86400LL)

int minica_duration_parse(const char *text, int64_t *seconds, struct minica_err *err)
{
    if (text == NULL || *text == '\0')
        return minica_seterr(err, MINICA_EINVAL, "empty duration (expected e.g. 90d, 36h, 1d12h)");
    size_t len = strlen(text);
    if (len > 64)
        return minica_seterr(err, MINICA_EINVAL, "invalid duration '%.32s...': too long", text);

    int64_t total = 0;
    size_t next_unit = 0; /* index into units: each unit after the previous one */
    const char *p = text;
    while (*p != '\0') {
        if (!isdigit((unsigned char)*p))
            return minica_seterr(err, MINICA_EINVAL,
                                 "invalid duration '%s' (expected e.g. 90d, 36h, 1d12h, 1y)", text);
        int64_t value = 0;
        while (isdigit((unsigned char)*p)) {
            value = value * 10 + (*p - '0');
            if (value > DURATION_MAX)
                return minica_seterr(err, MINICA_EINVAL, "duration '%s' is too large", text);
            p++;
        }
        size_t u = next_unit;
        while (u < N_UNITS && units[u].unit != *p)
            u++;
        if (*p == '\0' || u == N_UNITS) {
            if (*p == '\0')
                return minica_seterr(
                    err, MINICA_EINVAL,
                    "invalid duration '%s': a number needs a unit (y, w, d, h, m, s)", text);
            return minica_seterr(err, MINICA_EINVAL,
                                 "invalid duration '%s': unknown or repeated unit '%c' "
                                 "(use y, w, d, h, m, s, largest first)",
                                 text, isprint((unsigned char)*p) ? *p : '?');
        }
        if (value > DURATION_MAX / units[u].seconds)
            return minica_seterr(err, MINICA_EINVAL, "duration '%s' is too large", text);
        total += value * units[u].seconds;
        if (total > DURATION_MAX)
            return minica_seterr(err, MINICA_EINVAL, "duration '%s' is too large", text);
        next_unit = u + 1;
        p++;
    }
    if (total <= 0)
        return minica_seterr(err, MINICA_EINVAL, "duration '%s' must be greater than zero", text);
    *seconds = total;
    return MINICA_OK;
}

int minica_ttl_parse(const char *text, int64_t *seconds, struct minica_err *err)
{
    int ret = minica_duration_parse(text, seconds, err);
    if (ret != 0)
        return ret;
    if (*seconds < MINICA_MIN_TTL)
        return minica_seterr(err, MINICA_EINVAL,
                             "'%s' is shorter than the minimum TTL of 5m: the certificate could "
                             "expire before it is deployed",
                             text);
    return MINICA_OK;
}

void minica_duration_format(int64_t seconds, char *buf, size_t buflen)
{
    if (buflen == 0)
        return;
    buf[0] = '\0';
    if (seconds <= 0) {
        snprintf(buf, buflen, "0s");
        return;
    }
    size_t used = 0;
    for (size_t i = 0; i < N_UNITS && seconds > 0; i++) {
        if (units[i].unit == 'w')
            continue; /* "13w" reads worse than "91d" */
        int64_t n = seconds / units[i].seconds;
        if (n == 0)
            continue;
        seconds -= n * units[i].seconds;
        /* Printed the way --ttl takes it: "1y35d", not "1y 35d". */
        int w = snprintf(buf + used, buflen - used, "%lld%c", (long long)n, units[i].unit);
        if (w < 0 || (size_t)w >= buflen - used)
            return;
        used += (size_t)w;
    }
}
