/* Refused requests into the audit log without letting a client fill it: the
 * first refusal of a kind from one client in a minute is written at once,
 * its repeats are only counted and written as one row when the minute is
 * over (or at shutdown). Rows go through a store connection of their own,
 * off the CA's lock, and without waiting for the disk. Not a rate limiter:
 * every request is still answered. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "minica/ca.h"
#include "serve/serve_internal.h"

#define WINDOW_SECONDS 60
/* Clients (address and kind) counted at once. A client beyond that shares
 * one slot with every other: at most 2 * (SLOTS + 1) rows a minute in all,
 * whatever the number of addresses. */
#define SLOTS 256
#define KIND_MAX 160
#define LINE_MAX_LEN 2048
#define OTHER_CLIENTS "other clients"

struct slot {
    int used;
    char client[INET6_ADDRSTRLEN + 8]; /* an IPv4 address or an IPv6 /64 */
    char kind[KIND_MAX];
    char command[32];
    int64_t start;
    uint64_t more;           /* refusals after the first, in this window */
    char last[LINE_MAX_LEN]; /* the latest of them */
};

struct minica_refusals {
    pthread_mutex_t lock;       /* the slots */
    pthread_mutex_t write_lock; /* the store connection */
    struct minica_store *store;
    int64_t next_end; /* the earliest end of a window in use */
    struct slot slots[SLOTS];
    struct slot other;
};

/* One row to write: the command, and the summary (malloc'd). */
struct row {
    char command[32];
    char *text;
};

int minica_refusals_open(const char *dir, struct minica_refusals **out, struct minica_err *err)
{
    *out = NULL;
    struct minica_refusals *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    int ret = minica_state_open_store(dir, &r->store, err);
    /* A lost refusal row is no lost serial: its commits need not wait for
     * the disk (a synced commit of the CA's syncs them too). */
    if (ret == 0)
        ret = minica_store_set_full_sync(r->store, 0, err);
    if (ret != 0) {
        minica_store_close(r->store);
        free(r);
        return ret;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->write_lock, NULL);
    r->next_end = INT64_MAX;
    *out = r;
    return MINICA_OK;
}

/* An IPv6 client is its /64: one host has a whole /64 to pick from. */
static void client_of(const char *addr, char *out, size_t outlen)
{
    struct in6_addr a6;
    if (addr != NULL && inet_pton(AF_INET6, addr, &a6) == 1) {
        memset(&a6.s6_addr[8], 0, 8);
        char text[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &a6, text, sizeof(text));
        snprintf(out, outlen, "%s/64", text);
        return;
    }
    snprintf(out, outlen, "%s", addr && addr[0] ? addr : "?");
}

/* The row that closes a window with repeats; NULL when there were none or
 * without memory (then the count is lost, not the service). */
static char *count_row(const struct slot *s, int64_t now)
{
    if (s->more == 0)
        return NULL;
    int64_t span = now - s->start;
    if (span < 1)
        span = 1;
    size_t size = strlen(s->last) + 128;
    char *text = malloc(size);
    if (text != NULL)
        snprintf(text, size, "refused %llu more from %s in %llds: %s", (unsigned long long)s->more,
                 s->client, (long long)span, s->last);
    return text;
}

static void add_row(struct row *rows, size_t *n, const char *command, char *text)
{
    if (text == NULL)
        return;
    snprintf(rows[*n].command, sizeof(rows[*n].command), "%s", command);
    rows[(*n)++].text = text;
}

/* Writes rows in one transaction and frees them. Best effort: a refusal is
 * answered even when its row cannot be written. */
static void write_rows(struct minica_refusals *r, struct row *rows, size_t n)
{
    if (n == 0)
        return;
    struct minica_err err;
    pthread_mutex_lock(&r->write_lock);
    int tx = n > 1 && minica_store_begin(r->store, &err) == 0;
    for (size_t i = 0; i < n; i++)
        minica_store_audit(r->store, rows[i].command, rows[i].text, &err);
    if (tx)
        minica_store_commit(r->store, &err);
    pthread_mutex_unlock(&r->write_lock);
    for (size_t i = 0; i < n; i++)
        free(rows[i].text);
}

static int window_over(const struct slot *s, int64_t now)
{
    /* A clock set back also ends it. */
    return now - s->start >= WINDOW_SECONDS || now < s->start;
}

static void start_window(struct minica_refusals *r, struct slot *s, const char *client,
                         const char *kind, const char *command, int64_t now)
{
    memset(s, 0, sizeof(*s));
    s->used = 1;
    snprintf(s->client, sizeof(s->client), "%s", client);
    snprintf(s->kind, sizeof(s->kind), "%s", kind);
    snprintf(s->command, sizeof(s->command), "%s", command);
    s->start = now;
    if (now + WINDOW_SECONDS < r->next_end)
        r->next_end = now + WINDOW_SECONDS;
}

void minica_refusals_note(struct minica_refusals *r, const char *addr, const char *kind,
                          const char *command, const char *line)
{
    char client[sizeof(((struct slot *)0)->client)];
    client_of(addr, client, sizeof(client));
    struct row rows[2];
    size_t n = 0;
    int64_t now = minica_now();
    pthread_mutex_lock(&r->lock);
    struct slot *s = NULL, *free_slot = NULL;
    for (size_t i = 0; i < SLOTS && s == NULL; i++) {
        struct slot *c = &r->slots[i];
        if (!c->used) {
            if (free_slot == NULL)
                free_slot = c;
        } else if (strcmp(c->client, client) == 0 && strncmp(c->kind, kind, KIND_MAX - 1) == 0) {
            s = c;
        } else if (free_slot == NULL && window_over(c, now)) {
            /* A finished window makes room once its count is written. */
            add_row(rows, &n, c->command, count_row(c, now));
            c->used = 0;
            free_slot = c;
        }
    }
    int fresh = 0;
    if (s == NULL && free_slot != NULL) {
        s = free_slot;
        start_window(r, s, client, kind, command, now);
        fresh = 1;
    } else if (s == NULL) {
        s = &r->other;
        if (s->used && window_over(s, now))
            add_row(rows, &n, s->command, count_row(s, now));
        if (!s->used || window_over(s, now)) {
            start_window(r, s, OTHER_CLIENTS, "", command, now);
            fresh = 1;
        }
    } else if (window_over(s, now)) {
        add_row(rows, &n, s->command, count_row(s, now));
        start_window(r, s, client, kind, command, now);
        fresh = 1;
    }
    if (fresh) {
        add_row(rows, &n, command, minica_strdup(line));
    } else {
        s->more++;
        snprintf(s->last, sizeof(s->last), "%s", line);
    }
    pthread_mutex_unlock(&r->lock);
    write_rows(r, rows, n);
}

/* Collects the count rows of every window over at now (all of them when
 * all is set) and frees their slots. */
static void sweep(struct minica_refusals *r, int64_t now, int all)
{
    size_t cap = SLOTS + 1, n = 0;
    struct row *rows = NULL;
    pthread_mutex_lock(&r->lock);
    /* Nothing to do before the earliest window ends (unless the clock went
     * back): one comparison per request. */
    if (!all &&
        (r->next_end == INT64_MAX || (now < r->next_end && now >= r->next_end - WINDOW_SECONDS))) {
        pthread_mutex_unlock(&r->lock);
        return;
    }
    rows = calloc(cap, sizeof(*rows));
    r->next_end = INT64_MAX;
    for (size_t i = 0; i <= SLOTS; i++) {
        struct slot *s = i < SLOTS ? &r->slots[i] : &r->other;
        if (!s->used)
            continue;
        if (all || window_over(s, now)) {
            if (rows != NULL)
                add_row(rows, &n, s->command, count_row(s, now));
            s->used = 0;
        } else if (s->start + WINDOW_SECONDS < r->next_end) {
            r->next_end = s->start + WINDOW_SECONDS;
        }
    }
    pthread_mutex_unlock(&r->lock);
    if (rows != NULL)
        write_rows(r, rows, n);
    free(rows);
}

void minica_refusals_sweep(struct minica_refusals *r)
{
    if (r != NULL)
        sweep(r, minica_now(), 0);
}

void minica_refusals_close(struct minica_refusals *r)
{
    if (r == NULL)
        return;
    sweep(r, minica_now(), 1);
    minica_store_close(r->store);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->write_lock);
    free(r);
}
