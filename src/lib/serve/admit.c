/* Connection slots of minica serve (admit.h): a chained hash table of the
 * addresses and networks that hold connections, and the verdict rules.
 * Not the network side (https.c calls this under its lock). */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "serve/admit.h"

/* An address or a network: 16 bytes (IPv4 as ::ffff:a.b.c.d, a network
 * with its host bits zeroed) and which of the two it is. */
struct key {
    unsigned char b[16];
    unsigned char is_net;
};

struct node {
    struct key key;
    unsigned served;
    unsigned held;
    uint32_t next; /* index + 1 in the chain or the free list; 0 ends it */
};

struct minica_admit {
    struct minica_admit_limits l;
    uint64_t seed;
    unsigned served;
    unsigned held;
    struct node *nodes;
    uint32_t n_nodes;
    uint32_t free_list;
    uint32_t *buckets; /* n_buckets, a power of two */
    uint32_t mask;
};

void minica_admit_limits_for(struct minica_admit_limits *l, unsigned max_conn, unsigned per_ip,
                             unsigned per_net)
{
    if (max_conn == 0)
        max_conn = 1;
    if (per_ip == 0)
        per_ip = 1;
    if (per_ip > max_conn)
        per_ip = max_conn;
    if (per_net == 0)
        per_net = max_conn / 4 > per_ip ? max_conn / 4 : per_ip;
    if (per_net < per_ip)
        per_net = per_ip;
    if (per_net > max_conn)
        per_net = max_conn;
    l->served = max_conn;
    l->served_per_ip = per_ip;
    l->served_per_net = per_net;
    l->held = 2 * max_conn;
    l->held_per_net = max_conn;
    l->reserve_served = max_conn / 8;
    l->reserve_held = l->held / 8;
}

/* The address and its network. Anything that is not IP shares the zero
 * key (a Unix socket in a test, say). */
static void keys_of(const struct sockaddr *sa, socklen_t len, struct key *addr, struct key *net)
{
    memset(addr, 0, sizeof(*addr));
    int v4 = 0;
    if (sa != NULL && sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        addr->b[10] = addr->b[11] = 0xff;
        memcpy(&addr->b[12], &in->sin_addr, 4);
        v4 = 1;
    } else if (sa != NULL && sa->sa_family == AF_INET6 &&
               len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(addr->b, &in6->sin6_addr, 16);
        /* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d. */
        v4 = IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
    }
    *net = *addr;
    net->is_net = 1;
    if (v4)
        net->b[15] = 0; /* /24 */
    else
        memset(&net->b[8], 0, 8); /* /64 */
}

/* FNV-1a over the key, started from the seed, then mixed (splitmix64's
 * finaliser) so that the low bits the mask keeps depend on every byte. */
static uint32_t bucket_of(const struct minica_admit *a, const struct key *k)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ a->seed;
    for (size_t i = 0; i < sizeof(k->b); i++)
        h = (h ^ k->b[i]) * 0x100000001b3ULL;
    h = (h ^ k->is_net) * 0x100000001b3ULL;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)(h ^ (h >> 31)) & a->mask;
}

static struct node *find(const struct minica_admit *a, const struct key *k)
{
    for (uint32_t i = a->buckets[bucket_of(a, k)]; i != 0; i = a->nodes[i - 1].next) {
        struct node *n = &a->nodes[i - 1];
        if (n->key.is_net == k->is_net && memcmp(n->key.b, k->b, sizeof(k->b)) == 0)
            return n;
    }
    return NULL;
}

/* The node's index + 1, inserted when missing; 0 when the table is full. */
static uint32_t find_or_add(struct minica_admit *a, const struct key *k)
{
    struct node *n = find(a, k);
    if (n != NULL)
        return (uint32_t)(n - a->nodes) + 1;
    uint32_t i = a->free_list;
    if (i == 0)
        return 0;
    n = &a->nodes[i - 1];
    a->free_list = n->next;
    memset(n, 0, sizeof(*n));
    n->key = *k;
    uint32_t *head = &a->buckets[bucket_of(a, k)];
    n->next = *head;
    *head = i;
    return i;
}

static void drop_if_unused(struct minica_admit *a, uint32_t i)
{
    struct node *n = &a->nodes[i - 1];
    if (n->held != 0)
        return;
    for (uint32_t *p = &a->buckets[bucket_of(a, &n->key)]; *p != 0; p = &a->nodes[*p - 1].next)
        if (*p == i) {
            *p = n->next;
            break;
        }
    n->next = a->free_list;
    a->free_list = i;
}

int minica_admit_new(const struct minica_admit_limits *l, uint64_t seed, struct minica_admit **out,
                     struct minica_err *err)
{
    *out = NULL;
    struct minica_admit *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    a->l = *l;
    a->seed = seed;
    /* Every held connection names at most two nodes; take() may count a
     * few beyond the limit (see admit.h), hence the margin. */
    uint64_t n = 2 * (uint64_t)l->held + 64;
    uint64_t buckets = 64;
    while (buckets < n)
        buckets *= 2;
    if (n > UINT32_MAX / 2) {
        free(a);
        return minica_seterr(err, MINICA_EINVAL, "too many connections");
    }
    a->n_nodes = (uint32_t)n;
    a->mask = (uint32_t)buckets - 1;
    a->nodes = calloc(a->n_nodes, sizeof(*a->nodes));
    a->buckets = calloc((size_t)buckets, sizeof(*a->buckets));
    if (a->nodes == NULL || a->buckets == NULL) {
        minica_admit_free(a);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    for (uint32_t i = a->n_nodes; i > 0; i--) {
        a->nodes[i - 1].next = a->free_list;
        a->free_list = i;
    }
    *out = a;
    return MINICA_OK;
}

void minica_admit_free(struct minica_admit *a)
{
    if (a == NULL)
        return;
    free(a->nodes);
    free(a->buckets);
    free(a);
}

/* The rules, on the counts as they stand (docs/design.md). */
static enum minica_admit_verdict verdict(const struct minica_admit *a, const struct node *addr,
                                         const struct node *net)
{
    const struct minica_admit_limits *l = &a->l;
    unsigned addr_served = addr ? addr->served : 0;
    unsigned net_served = net ? net->served : 0, net_held = net ? net->held : 0;
    if (a->held >= l->held || net_held >= l->held_per_net ||
        (a->held >= l->held - l->reserve_held && net_held >= MINICA_ADMIT_SMALL))
        return MINICA_ADMIT_DROP;
    if (a->served >= l->served || addr_served >= l->served_per_ip ||
        net_served >= l->served_per_net ||
        (a->served >= l->served - l->reserve_served && net_served >= MINICA_ADMIT_SMALL))
        return MINICA_ADMIT_BUSY;
    return MINICA_ADMIT_SERVE;
}

enum minica_admit_verdict minica_admit_judge(const struct minica_admit *a,
                                             const struct sockaddr *sa, socklen_t len)
{
    struct key ka, kn;
    keys_of(sa, len, &ka, &kn);
    return verdict(a, find(a, &ka), find(a, &kn));
}

int minica_admit_take(struct minica_admit *a, const struct sockaddr *sa, socklen_t len,
                      struct minica_admit_ticket *t)
{
    memset(t, 0, sizeof(*t));
    struct key ka, kn;
    keys_of(sa, len, &ka, &kn);
    enum minica_admit_verdict v = verdict(a, find(a, &ka), find(a, &kn));
    uint32_t ia = find_or_add(a, &ka);
    uint32_t in = ia != 0 ? find_or_add(a, &kn) : 0;
    if (in == 0) {
        if (ia != 0)
            drop_if_unused(a, ia);
        return MINICA_ENOMEM;
    }
    t->addr = ia;
    t->net = in;
    t->verdict = v == MINICA_ADMIT_SERVE ? MINICA_ADMIT_SERVE : MINICA_ADMIT_BUSY;
    int served = t->verdict == MINICA_ADMIT_SERVE;
    a->nodes[ia - 1].held++;
    a->nodes[in - 1].held++;
    a->held++;
    if (served) {
        a->nodes[ia - 1].served++;
        a->nodes[in - 1].served++;
        a->served++;
    }
    return MINICA_OK;
}

void minica_admit_release(struct minica_admit *a, struct minica_admit_ticket *t)
{
    if (t->addr == 0)
        return;
    int served = t->verdict == MINICA_ADMIT_SERVE;
    uint32_t idx[2] = {t->addr, t->net};
    for (int i = 0; i < 2; i++) {
        struct node *n = &a->nodes[idx[i] - 1];
        n->held--;
        if (served)
            n->served--;
        drop_if_unused(a, idx[i]);
    }
    a->held--;
    if (served)
        a->served--;
    memset(t, 0, sizeof(*t));
}

void minica_admit_counts(const struct minica_admit *a, const struct sockaddr *sa, socklen_t len,
                         struct minica_admit_counts *out)
{
    struct key ka, kn;
    keys_of(sa, len, &ka, &kn);
    const struct node *na = find(a, &ka), *nn = find(a, &kn);
    out->served = a->served;
    out->held = a->held;
    out->addr_served = na ? na->served : 0;
    out->net_served = nn ? nn->served : 0;
    out->net_held = nn ? nn->held : 0;
}
