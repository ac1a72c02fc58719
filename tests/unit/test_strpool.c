/* Unit tests for base/strpool.c: every string stays intact and apart from
 * the others however many there are and however long, until the pool is
 * freed (ASan holds the frees to account). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/strpool.h"

static void test_strings_stay_intact(void **state)
{
    (void)state;
    struct minica_strpool *pool = minica_strpool_new();
    assert_non_null(pool);
    enum { N = 5000 };
    const char **kept = calloc(N, sizeof(*kept));
    char *long_one = malloc(100000);
    memset(long_one, 'x', 99999);
    long_one[99999] = '\0';
    char text[64];
    for (int i = 0; i < N; i++) {
        if (i % 1000 == 500) { /* now and then one longer than a block */
            kept[i] = minica_strpool_dup(pool, long_one);
            continue;
        }
        snprintf(text, sizeof(text), "/etc/ssl/minica/%d.fullchain.crt", i);
        kept[i] = minica_strpool_dup(pool, text);
    }
    kept[0] = minica_strpool_dup(pool, "");
    for (int i = 0; i < N; i++) {
        assert_non_null(kept[i]);
        if (i == 0) {
            assert_string_equal(kept[i], "");
        } else if (i % 1000 == 500) {
            assert_string_equal(kept[i], long_one);
        } else {
            snprintf(text, sizeof(text), "/etc/ssl/minica/%d.fullchain.crt", i);
            assert_string_equal(kept[i], text);
        }
    }
    free(long_one);
    free(kept);
    minica_strpool_free(pool);
    minica_strpool_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_stay_intact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
