/* Jittered exponential backoff inside a deadline (see backoff.h). No clock
 * and no sleeping here: the caller has both. */
#include "base/backoff.h"

void minica_backoff_init(struct minica_backoff *b, uint64_t seed)
{
    b->state = seed;
    b->attempt = 0;
}

/* splitmix64 (Steele, Lea, Flood 2014): every seed, 0 included, gives a
 * full-period sequence, which is all jitter needs. */
static uint64_t next64(struct minica_backoff *b)
{
    uint64_t z = (b->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t minica_backoff_random(struct minica_backoff *b, uint64_t n)
{
    /* The modulo bias is below 2^-40 for the spans used here. */
    return next64(b) % n;
}

int64_t minica_backoff_next(struct minica_backoff *b, int64_t now_ms, int64_t deadline_ms,
                            int64_t retry_after_ms)
{
    if (now_ms >= deadline_ms)
        return -1;
    int64_t step = MINICA_BACKOFF_CAP_MS;
    if (b->attempt < 15) {
        step = (int64_t)MINICA_BACKOFF_BASE_MS << b->attempt;
        if (step > MINICA_BACKOFF_CAP_MS)
            step = MINICA_BACKOFF_CAP_MS;
    }
    b->attempt++;
    int64_t half = step / 2;
    int64_t wait = half + (int64_t)minica_backoff_random(b, (uint64_t)(step - half) + 1);
    if (retry_after_ms > 0) {
        int64_t floor =
            retry_after_ms + (int64_t)minica_backoff_random(b, (uint64_t)(retry_after_ms / 2) + 1);
        if (floor > wait)
            wait = floor;
    }
    if (wait > deadline_ms - now_ms)
        wait = deadline_ms - now_ms;
    return wait;
}
