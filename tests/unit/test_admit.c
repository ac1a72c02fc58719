/* Unit tests for serve's connection slots (serve/admit.h): counting per
 * address, per /24 and /64 and in total, the busy and drop verdicts, the
 * reserve for small networks. Not for libmicrohttpd's side of it
 * (tests/integration/test_serve_fleet.sh). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "base/backoff.h"
#include "serve/admit.h"

struct addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

static struct addr ip(const char *text)
{
    struct addr a;
    memset(&a, 0, sizeof(a));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a.ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a.ss;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        a.len = sizeof(*v4);
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &v6->sin6_addr), 1);
        v6->sin6_family = AF_INET6;
        a.len = sizeof(*v6);
    }
    return a;
}

static struct minica_admit *table(unsigned max_conn, unsigned per_ip, unsigned per_net)
{
    struct minica_admit_limits l;
    minica_admit_limits_for(&l, max_conn, per_ip, per_net);
    struct minica_admit *a = NULL;
    assert_int_equal(minica_admit_new(&l, 99, &a, NULL), 0);
    return a;
}

/* Takes a connection from text; returns its verdict (DROP when judge says
 * so, and then nothing is counted, as the accept policy would close it). */
static enum minica_admit_verdict connect_from(struct minica_admit *a, const char *text,
                                              struct minica_admit_ticket *t)
{
    struct addr x = ip(text);
    memset(t, 0, sizeof(*t));
    if (minica_admit_judge(a, (struct sockaddr *)&x.ss, x.len) == MINICA_ADMIT_DROP)
        return MINICA_ADMIT_DROP;
    assert_int_equal(minica_admit_take(a, (struct sockaddr *)&x.ss, x.len, t), 0);
    return t->verdict;
}

static void test_admit_defaults(void **state)
{
    (void)state;
    struct minica_admit_limits l;
    minica_admit_limits_for(&l, 256, 16, 0);
    assert_int_equal(l.served, 256);
    assert_int_equal(l.served_per_ip, 16);
    assert_int_equal(l.served_per_net, 64);
    assert_int_equal(l.held, 512);
    assert_int_equal(l.held_per_net, 256);
    assert_int_equal(l.reserve_served, 32);
    assert_int_equal(l.reserve_held, 64);
    /* A tiny server: a network's share is never below one address's. */
    minica_admit_limits_for(&l, 4, 4, 0);
    assert_int_equal(l.served_per_net, 4);
    assert_int_equal(l.reserve_served, 0);
    minica_admit_limits_for(&l, 8, 20, 2);
    assert_int_equal(l.served_per_ip, 8);
    assert_int_equal(l.served_per_net, 8);
}

/* 200 machines behind one NAT: 16 are served at once, the others are told
 * to come back, none is closed. */
static void test_admit_one_address_gets_busy_not_dropped(void **state)
{
    (void)state;
    struct minica_admit *a = table(256, 16, 0);
    static struct minica_admit_ticket t[200];
    int served = 0, busy = 0;
    for (int i = 0; i < 200; i++) {
        enum minica_admit_verdict v = connect_from(a, "203.0.113.7", &t[i]);
        assert_int_not_equal(v, MINICA_ADMIT_DROP);
        served += v == MINICA_ADMIT_SERVE;
        busy += v == MINICA_ADMIT_BUSY;
    }
    assert_int_equal(served, 16);
    assert_int_equal(busy, 184);
    /* A served one finishing frees a served slot for the next. */
    assert_int_equal(t[0].verdict, MINICA_ADMIT_SERVE);
    minica_admit_release(a, &t[0]);
    assert_int_equal(connect_from(a, "203.0.113.7", &t[0]), MINICA_ADMIT_SERVE);
    for (int i = 0; i < 200; i++)
        minica_admit_release(a, &t[i]);
    minica_admit_free(a);
}

/* The review's attack: 17 addresses of one /24, 16 connections each. The
 * /24 is capped as one; a client from another network is served. */
static void test_admit_a_network_counts_as_one(void **state)
{
    (void)state;
    struct minica_admit *a = table(256, 16, 0);
    static struct minica_admit_ticket t[17 * 16];
    int served = 0, busy = 0, dropped = 0;
    char text[32];
    for (int h = 1; h <= 17; h++)
        for (int j = 0; j < 16; j++) {
            snprintf(text, sizeof(text), "127.0.0.%d", h);
            enum minica_admit_verdict v = connect_from(a, text, &t[(h - 1) * 16 + j]);
            served += v == MINICA_ADMIT_SERVE;
            busy += v == MINICA_ADMIT_BUSY;
            dropped += v == MINICA_ADMIT_DROP;
        }
    assert_int_equal(served, 64);     /* the /24's served share */
    assert_int_equal(busy, 256 - 64); /* the rest of its held share */
    assert_int_equal(dropped, 16);
    struct minica_admit_ticket fresh, same_net;
    assert_int_equal(connect_from(a, "127.1.0.1", &fresh), MINICA_ADMIT_SERVE);
    assert_int_equal(connect_from(a, "127.0.0.200", &same_net), MINICA_ADMIT_DROP);
    minica_admit_release(a, &fresh);
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        minica_admit_release(a, &t[i]);
    struct minica_admit_counts c;
    struct addr x = ip("127.0.0.1");
    minica_admit_counts(a, (struct sockaddr *)&x.ss, x.len, &c);
    assert_int_equal(c.held, 0);
    assert_int_equal(c.net_held, 0);
    minica_admit_free(a);
}

static void test_admit_ipv6_counts_per_64(void **state)
{
    (void)state;
    struct minica_admit *a = table(64, 4, 8);
    struct minica_admit_ticket t[12], other;
    char text[64];
    int served = 0;
    for (int i = 0; i < 12; i++) {
        /* Twelve addresses of one /64: one host's share of IPv6. */
        snprintf(text, sizeof(text), "2001:db8:1:2::%x", i + 1);
        served += connect_from(a, text, &t[i]) == MINICA_ADMIT_SERVE;
    }
    assert_int_equal(served, 8);
    assert_int_equal(connect_from(a, "2001:db8:1:3::1", &other), MINICA_ADMIT_SERVE);
    minica_admit_release(a, &other);
    for (int i = 0; i < 12; i++)
        minica_admit_release(a, &t[i]);
    minica_admit_free(a);
}

/* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d: the same
 * address and /24 as the plain IPv4 form. */
static void test_admit_v4_mapped_is_ipv4(void **state)
{
    (void)state;
    struct minica_admit *a = table(64, 2, 3);
    struct minica_admit_ticket t[4];
    assert_int_equal(connect_from(a, "198.51.100.1", &t[0]), MINICA_ADMIT_SERVE);
    assert_int_equal(connect_from(a, "::ffff:198.51.100.1", &t[1]), MINICA_ADMIT_SERVE);
    assert_int_equal(connect_from(a, "::ffff:198.51.100.1", &t[2]), MINICA_ADMIT_BUSY);
    assert_int_equal(connect_from(a, "::ffff:198.51.100.9", &t[3]), MINICA_ADMIT_SERVE);
    struct minica_admit_ticket u;
    assert_int_equal(connect_from(a, "198.51.100.10", &u), MINICA_ADMIT_BUSY); /* /24 full */
    minica_admit_release(a, &u);
    for (int i = 0; i < 4; i++)
        minica_admit_release(a, &t[i]);
    minica_admit_free(a);
}

/* Big networks fill the served slots up to the reserve; after that only
 * networks holding fewer than MINICA_ADMIT_SMALL are served, so a health
 * check or a renewal from elsewhere still is. */
static void test_admit_reserve_is_for_small_networks(void **state)
{
    (void)state;
    struct minica_admit *a = table(256, 64, 64);
    static struct minica_admit_ticket t[256];
    char text[32];
    size_t n = 0;
    for (int net = 0; net < 4; net++)
        for (int j = 0; j < 64; j++) {
            snprintf(text, sizeof(text), "10.0.%d.1", net);
            connect_from(a, text, &t[n++]);
        }
    struct minica_admit_counts c;
    struct addr x = ip("10.0.3.1");
    minica_admit_counts(a, (struct sockaddr *)&x.ss, x.len, &c);
    assert_int_equal(c.served, 256 - 32); /* the fourth net stopped at the reserve */
    assert_int_equal(c.net_served, 64 - 32);
    struct minica_admit_ticket small[MINICA_ADMIT_SMALL + 1];
    for (int i = 0; i < MINICA_ADMIT_SMALL; i++)
        assert_int_equal(connect_from(a, "192.0.2.1", &small[i]), MINICA_ADMIT_SERVE);
    /* Past "small", that network waits like the big ones. */
    assert_int_equal(connect_from(a, "192.0.2.1", &small[MINICA_ADMIT_SMALL]), MINICA_ADMIT_BUSY);
    for (int i = 0; i <= MINICA_ADMIT_SMALL; i++)
        minica_admit_release(a, &small[i]);
    for (size_t i = 0; i < n; i++)
        minica_admit_release(a, &t[i]);
    minica_admit_free(a);
}

/* The same for the held slots: two networks at their share fill all but
 * the reserve, which small networks still get. */
static void test_admit_held_reserve(void **state)
{
    (void)state;
    struct minica_admit *a = table(64, 16, 0); /* held 128, a net 64, reserve 16 */
    static struct minica_admit_ticket t[200];
    size_t n = 0;
    int dropped = 0;
    for (int i = 0; i < 64; i++)
        assert_int_not_equal(connect_from(a, "10.1.1.1", &t[n++]), MINICA_ADMIT_DROP);
    for (int i = 0; i < 64; i++)
        dropped += connect_from(a, "10.2.2.2", &t[n++]) == MINICA_ADMIT_DROP;
    assert_int_equal(dropped, 16); /* stopped at held - reserve = 112 */
    char text[32];
    int in = 0;
    for (int net = 0; net < 8; net++)
        for (int j = 0; j < 3; j++) {
            snprintf(text, sizeof(text), "172.16.%d.1", net);
            in += connect_from(a, text, &t[n++]) != MINICA_ADMIT_DROP;
        }
    assert_int_equal(in, 16); /* the reserve, to the last slot */
    for (size_t i = 0; i < n; i++)
        minica_admit_release(a, &t[i]);
    minica_admit_free(a);
}

/* Random connects and closes against a plain model of the counts: every
 * ticket released leaves the table as it was, nodes are reused. */
static void test_admit_counts_match_a_model(void **state)
{
    (void)state;
    struct minica_admit *a = table(32, 4, 0);
    struct minica_backoff rng; /* its generator, for a seeded sequence */
    minica_backoff_init(&rng, 5);
    struct minica_admit_ticket t[64];
    int live[64] = {0};
    int model_held = 0, model_served = 0;
    char text[32];
    for (int step = 0; step < 20000; step++) {
        int i = (int)minica_backoff_random(&rng, 64);
        if (live[i]) {
            model_held--;
            model_served -= t[i].verdict == MINICA_ADMIT_SERVE;
            minica_admit_release(a, &t[i]);
            live[i] = 0;
            continue;
        }
        snprintf(text, sizeof(text), "10.%d.%d.%d", (int)minica_backoff_random(&rng, 2),
                 (int)minica_backoff_random(&rng, 3), (int)minica_backoff_random(&rng, 5));
        if (connect_from(a, text, &t[i]) == MINICA_ADMIT_DROP)
            continue;
        live[i] = 1;
        model_held++;
        model_served += t[i].verdict == MINICA_ADMIT_SERVE;
        struct minica_admit_counts c;
        struct addr x = ip(text);
        minica_admit_counts(a, (struct sockaddr *)&x.ss, x.len, &c);
        assert_int_equal(c.held, model_held);
        assert_int_equal(c.served, model_served);
        assert_true(c.served <= 32 && c.addr_served <= 4 && c.net_served <= 8);
        assert_true(c.held <= 64 && c.net_held <= 32);
    }
    for (int i = 0; i < 64; i++)
        if (live[i])
            minica_admit_release(a, &t[i]);
    struct minica_admit_counts c;
    struct addr x = ip("10.0.0.0");
    minica_admit_counts(a, (struct sockaddr *)&x.ss, x.len, &c);
    assert_int_equal(c.held, 0);
    assert_int_equal(c.served, 0);
    minica_admit_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admit_defaults),
        cmocka_unit_test(test_admit_one_address_gets_busy_not_dropped),
        cmocka_unit_test(test_admit_a_network_counts_as_one),
        cmocka_unit_test(test_admit_ipv6_counts_per_64),
        cmocka_unit_test(test_admit_v4_mapped_is_ipv4),
        cmocka_unit_test(test_admit_reserve_is_for_small_networks),
        cmocka_unit_test(test_admit_held_reserve),
        cmocka_unit_test(test_admit_counts_match_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
