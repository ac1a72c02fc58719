/* Strings that live as long as one owner and are freed with it: a config
 * that holds thousands of paths keeps them in a few blocks instead of a
 * fixed PATH_MAX array per field (a 1,000-certificate agent.conf was 37 MB
 * of mostly zeros, written and unmapped on every agent run). */
#ifndef MINICA_BASE_STRPOOL_H
#define MINICA_BASE_STRPOOL_H

#include <stddef.h>

struct minica_strpool;

/* NULL when out of memory. */
struct minica_strpool *minica_strpool_new(void);
/* A copy of s, owned by the pool; NULL when out of memory. */
const char *minica_strpool_dup(struct minica_strpool *pool, const char *s);
/* Frees every string of the pool and the pool. NULL is a no-op. */
void minica_strpool_free(struct minica_strpool *pool);

#endif
