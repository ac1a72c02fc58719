/* Durations as operators type them: "90d", "36h", "1d12h", "1y", "2w", "30m", "45s". */
#ifndef MINICA_DURATION_H
#define MINICA_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"

/* Parses a strictly positive duration into seconds. A year is 365 days.
 * Zero, negative, overflow, unknown units and garbage are refused with a
 * message that names the bad value. */
int minica_duration_parse(const char *text, int64_t *seconds, struct minica_err *err);

/* The shortest validity an operator may ask for (step-ca's too): below it
 * a certificate can expire before it is deployed and loaded. */
#define MINICA_MIN_TTL (5 * 60)
/* minica_duration_parse for a certificate's TTL: also refuses less than
 * MINICA_MIN_TTL, saying so. */
int minica_ttl_parse(const char *text, int64_t *seconds, struct minica_err *err);

/* Formats seconds the same way, largest units first ("2y 364d", "90d", "1d 12h"). */
void minica_duration_format(int64_t seconds, char *buf, size_t buflen);

/* The current time (UNIX seconds); the test build may move it with MINICA_FAKE_NOW. */
int64_t minica_time_now(void);
/* RFC 3339 UTC, "2026-11-24T08:45:00Z" (out: at least 21 bytes). */
void minica_time_rfc3339(int64_t t, char *out);

#endif
