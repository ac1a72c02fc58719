/* Unit tests for the client's retry schedule (base/backoff.h): steps,
 * jitter, Retry-After as a floor, the deadline. Not for the HTTP client
 * that sleeps on it (tests/integration/test_serve_fleet.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/backoff.h"

#define FAR (INT64_C(1) << 40) /* a deadline nothing reaches */

static void test_backoff_same_seed_same_schedule(void **state)
{
    (void)state;
    struct minica_backoff a, b, c;
    minica_backoff_init(&a, 42);
    minica_backoff_init(&b, 42);
    minica_backoff_init(&c, 43);
    int differs = 0;
    for (int i = 0; i < 10; i++) {
        int64_t wa = minica_backoff_next(&a, 0, FAR, 0);
        assert_int_equal(wa, minica_backoff_next(&b, 0, FAR, 0));
        differs |= wa != minica_backoff_next(&c, 0, FAR, 0);
    }
    assert_true(differs);
}

static void test_backoff_steps_double_up_to_the_cap(void **state)
{
    (void)state;
    for (uint64_t seed = 0; seed < 200; seed++) {
        struct minica_backoff b;
        minica_backoff_init(&b, seed);
        int64_t step = MINICA_BACKOFF_BASE_MS;
        for (int i = 0; i < 40; i++) {
            int64_t w = minica_backoff_next(&b, 0, FAR, 0);
            assert_true(w >= step / 2);
            assert_true(w <= step);
            step = step * 2 > MINICA_BACKOFF_CAP_MS ? MINICA_BACKOFF_CAP_MS : step * 2;
        }
    }
}

/* A fleet that failed at the same moment must not come back at the same
 * moment: the first waits of 1,000 clients cover their interval. */
static void test_backoff_jitter_spreads_a_fleet(void **state)
{
    (void)state;
    int64_t lo = FAR, hi = 0;
    int buckets[10] = {0};
    for (uint64_t seed = 1; seed <= 1000; seed++) {
        struct minica_backoff b;
        minica_backoff_init(&b, seed * 7919);
        int64_t w = minica_backoff_next(&b, 0, FAR, 0);
        lo = w < lo ? w : lo;
        hi = w > hi ? w : hi;
        int k = (int)((w - MINICA_BACKOFF_BASE_MS / 2) * 10 / (MINICA_BACKOFF_BASE_MS / 2 + 1));
        buckets[k]++;
    }
    assert_true(lo < MINICA_BACKOFF_BASE_MS / 2 + 50);
    assert_true(hi > MINICA_BACKOFF_BASE_MS - 50);
    for (int k = 0; k < 10; k++)
        assert_true(buckets[k] > 50); /* 100 expected in each tenth */
}

static void test_backoff_retry_after_is_a_floor(void **state)
{
    (void)state;
    for (uint64_t seed = 0; seed < 200; seed++) {
        struct minica_backoff b;
        minica_backoff_init(&b, seed);
        /* Larger than the first step: the server's word wins, jittered. */
        int64_t w = minica_backoff_next(&b, 0, FAR, 5000);
        assert_true(w >= 5000);
        assert_true(w <= 7500);
    }
    /* Smaller than a later step: the step wins. */
    struct minica_backoff b;
    minica_backoff_init(&b, 7);
    for (int i = 0; i < 5; i++)
        minica_backoff_next(&b, 0, FAR, 0);
    int64_t w = minica_backoff_next(&b, 0, FAR, 1000); /* step 32s, capped at 30s */
    assert_true(w >= MINICA_BACKOFF_CAP_MS / 2);
    assert_true(w <= MINICA_BACKOFF_CAP_MS);
}

static void test_backoff_stops_at_the_deadline(void **state)
{
    (void)state;
    struct minica_backoff b;
    minica_backoff_init(&b, 1);
    /* 300 ms left: the wait ends at the deadline, for one last attempt. */
    assert_int_equal(minica_backoff_next(&b, 10000, 10300, 0), 300);
    assert_int_equal(minica_backoff_next(&b, 10000, 10300, 60000), 300);
    assert_int_equal(minica_backoff_next(&b, 10300, 10300, 0), -1);
    assert_int_equal(minica_backoff_next(&b, 20000, 10300, 0), -1);
}

/* A three-minute budget from a busy CA: about ten attempts, not hundreds
 * and not two. */
static void test_backoff_attempts_in_a_budget(void **state)
{
    (void)state;
    struct minica_backoff b;
    minica_backoff_init(&b, 2026);
    int64_t now = 0, deadline = 180000;
    int attempts = 1;
    for (;;) {
        int64_t w = minica_backoff_next(&b, now, deadline, 1000);
        if (w < 0)
            break;
        now += w;
        attempts++;
    }
    assert_int_equal(now, deadline);
    assert_true(attempts >= 8);
    assert_true(attempts <= 14);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_same_seed_same_schedule),
        cmocka_unit_test(test_backoff_steps_double_up_to_the_cap),
        cmocka_unit_test(test_backoff_jitter_spreads_a_fleet),
        cmocka_unit_test(test_backoff_retry_after_is_a_floor),
        cmocka_unit_test(test_backoff_stops_at_the_deadline),
        cmocka_unit_test(test_backoff_attempts_in_a_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
