/* Unit tests for base/util.c's minica_array_grow: room for one more, by
 * doubling from a first size, and no change at all when it cannot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/util.h"

static void test_array_grows_by_doubling(void **state)
{
    (void)state;
    int *items = NULL;
    size_t cap = 0, n = 0;
    for (int i = 0; i < 1000; i++) {
        int *grown = minica_array_grow(items, &cap, n, sizeof(*grown), 16);
        assert_non_null(grown);
        items = grown;
        items[n++] = i;
        assert_true(cap >= n);
    }
    assert_int_equal(cap, 1024); /* 16, 32, ... 1024 */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(items[i], i);
    /* Room left: the same array, untouched. */
    assert_ptr_equal(minica_array_grow(items, &cap, 1000, sizeof(*items), 16), items);
    assert_int_equal(cap, 1024);
    /* A size that would overflow: NULL, and nothing changed. */
    size_t big = 1024;
    assert_null(minica_array_grow(items, &big, 1024, SIZE_MAX / 1024, 16));
    assert_int_equal(big, 1024);
    free(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_grows_by_doubling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
