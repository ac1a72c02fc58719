/* Helpers shared by the libFuzzer harnesses: turn the raw input into a
 * NUL-terminated string the parsers expect. Not part of libminica. */
#ifndef MINICA_FUZZ_COMMON_H
#define MINICA_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A malloc'd copy of data with a NUL appended (embedded NULs stay: the
 * parser then sees a shorter string, as it would from a C caller). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Fuzzer-found bugs are reported by crashing; so are broken invariants. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#endif
