/* Who gets a connection slot of minica serve: counts per address, per
 * network (/24 for IPv4, /64 for IPv6) and in total, and the verdict for a
 * new connection: served, told "busy, retry" (503 + Retry-After, without
 * touching the CA), or closed at once. Pure bookkeeping: no sockets, no
 * locks (https.c holds one around every call), no clock. The rules and
 * their numbers are in docs/design.md, "Connection slots". */
#ifndef MINICA_SERVE_ADMIT_H
#define MINICA_SERVE_ADMIT_H

#include <stdint.h>
#include <sys/socket.h>

#include "minica/error.h"

/* A network holding fewer connections than this counts as small: the
 * reserve is for it (a health check, one VM renewing). */
#define MINICA_ADMIT_SMALL 4

struct minica_admit_limits {
    unsigned served;         /* connections whose requests reach the CA */
    unsigned served_per_ip;  /* of them, from one address */
    unsigned served_per_net; /* of them, from one network */
    unsigned held;           /* connections at all, the "busy" ones included */
    unsigned held_per_net;   /* of them, from one network */
    /* The last reserve_* slots of served and of held go only to networks
     * holding fewer than MINICA_ADMIT_SMALL there. */
    unsigned reserve_served;
    unsigned reserve_held;
};

/* The limits for --max-connections, --max-per-ip (at most max_conn) and
 * --max-per-net (0 = the default: the larger of per_ip and a quarter of
 * max_conn; never below per_ip). held is twice max_conn, a network may
 * hold max_conn of it, and each reserve is an eighth. */
void minica_admit_limits_for(struct minica_admit_limits *l, unsigned max_conn, unsigned per_ip,
                             unsigned per_net);

enum minica_admit_verdict {
    MINICA_ADMIT_DROP = 0, /* close at once */
    MINICA_ADMIT_BUSY,     /* accept, answer 503 + Retry-After */
    MINICA_ADMIT_SERVE,
};

/* One connection's place in the counts, from take to release. */
struct minica_admit_ticket {
    uint32_t addr; /* node indexes + 1; 0: not counted */
    uint32_t net;
    enum minica_admit_verdict verdict;
};

struct minica_admit;

/* seed keys the hash of addresses, so that nobody can choose addresses
 * that all fall into one chain. */
int minica_admit_new(const struct minica_admit_limits *l, uint64_t seed, struct minica_admit **out,
                     struct minica_err *err);
void minica_admit_free(struct minica_admit *a);

/* The verdict for a connection from sa, counting nothing (the accept
 * policy, before libmicrohttpd sets the connection up). Addresses that are
 * neither IPv4 nor IPv6 share one bucket. */
enum minica_admit_verdict minica_admit_judge(const struct minica_admit *a,
                                             const struct sockaddr *sa, socklen_t len);

/* Counts a connection from sa: MINICA_ADMIT_SERVE or MINICA_ADMIT_BUSY in
 * t->verdict (never DROP: what judge would drop is counted as busy, since
 * the connection exists by now). Fails only when the table is full, which
 * the limits rule out; t is then not counted and must not be released. */
int minica_admit_take(struct minica_admit *a, const struct sockaddr *sa, socklen_t len,
                      struct minica_admit_ticket *t);
void minica_admit_release(struct minica_admit *a, struct minica_admit_ticket *t);

/* Totals, for tests and the log. */
struct minica_admit_counts {
    unsigned served, held, addr_served, net_served, net_held;
};
/* The totals, and those of sa's address and network. */
void minica_admit_counts(const struct minica_admit *a, const struct sockaddr *sa, socklen_t len,
                         struct minica_admit_counts *out);

#endif
