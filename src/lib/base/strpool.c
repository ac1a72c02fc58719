#include "base/strpool.h"

#include <stdlib.h>
#include <string.h>

/* Blocks are chained, the one being filled first; a long string gets a
 * block of its own. */
#define BLOCK_SIZE 65536

struct block {
    struct block *next;
    size_t used, size;
    char data[];
};

struct minica_strpool {
    struct block *head;
};

struct minica_strpool *minica_strpool_new(void)
{
    return calloc(1, sizeof(struct minica_strpool));
}

const char *minica_strpool_dup(struct minica_strpool *pool, const char *s)
{
    size_t n = strlen(s) + 1;
    struct block *b = pool->head;
    if (b == NULL || b->size - b->used < n) {
        int own = n > BLOCK_SIZE / 4; /* behind the head, which keeps filling */
        size_t size = own ? n : BLOCK_SIZE;
        if ((b = malloc(sizeof(*b) + size)) == NULL)
            return NULL;
        b->used = 0;
        b->size = size;
        if (own && pool->head != NULL) {
            b->next = pool->head->next;
            pool->head->next = b;
        } else {
            b->next = pool->head;
            pool->head = b;
        }
    }
    char *copy = b->data + b->used;
    memcpy(copy, s, n);
    b->used += n;
    return copy;
}

void minica_strpool_free(struct minica_strpool *pool)
{
    if (pool == NULL)
        return;
    for (struct block *b = pool->head, *next; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    free(pool);
}
