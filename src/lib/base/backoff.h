/* The wait between a client's attempts: exponential steps with jitter,
 * inside a deadline, at least what the server asked for (Retry-After). Pure
 * arithmetic on a seeded generator, so that a test can replay a schedule;
 * the sleeping and the clock are the caller's (serve/remote.c). The jitter
 * is not a secret: its generator is not the CA's. */
#ifndef MINICA_BASE_BACKOFF_H
#define MINICA_BASE_BACKOFF_H

#include <stdint.h>

/* The first step and the largest one, in milliseconds. */
#define MINICA_BACKOFF_BASE_MS 1000
#define MINICA_BACKOFF_CAP_MS 30000

struct minica_backoff {
    uint64_t state;   /* splitmix64 */
    unsigned attempt; /* waits handed out so far */
};

void minica_backoff_init(struct minica_backoff *b, uint64_t seed);

/* Uniform in [0, n) (n > 0). */
uint64_t minica_backoff_random(struct minica_backoff *b, uint64_t n);

/* The wait before the next attempt, in milliseconds, or -1 when now_ms is
 * at or past deadline_ms (give up). Step k (k = waits so far) is
 * BASE * 2^k, at most CAP; the wait is uniform in [step/2, step] ("equal
 * jitter": machines that failed together spread out, and none retries at
 * once). A server's Retry-After (retry_after_ms > 0) is a floor, with up to
 * half of it again as jitter, so that a fleet told "1s" does not come back
 * in the same millisecond. A wait that would pass the deadline is cut to
 * end at it: the last attempt is made at the deadline. */
int64_t minica_backoff_next(struct minica_backoff *b, int64_t now_ms, int64_t deadline_ms,
                            int64_t retry_after_ms);

#endif
