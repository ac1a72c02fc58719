/* libcurl is loaded on demand: the loader must resolve every call remote.c
 * makes, and the binary must not be linked against libcurl at all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "curl_dl.h"

static void test_curl_open_resolves_every_call(void **state)
{
    (void)state;
    struct minica_curl api;
    struct minica_err err;
    assert_int_equal(minica_curl_open(&api, &err), 0);
    assert_non_null(api.handle);
    assert_non_null(api.global_init);
    assert_non_null(api.easy_init);
    assert_non_null(api.easy_setopt);
    assert_non_null(api.easy_perform);
    assert_non_null(api.easy_getinfo);
    assert_non_null(api.easy_cleanup);
    assert_non_null(api.easy_strerror);
    assert_non_null(api.slist_append);
    assert_non_null(api.slist_free_all);
    assert_string_equal(api.easy_strerror(CURLE_OK), "No error");
    minica_curl_close(&api);
    assert_null(api.handle);
}

static void test_curl_close_is_safe_on_a_zeroed_struct(void **state)
{
    (void)state;
    struct minica_curl api;
    memset(&api, 0, sizeof(api));
    minica_curl_close(&api);
    assert_null(api.handle);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curl_open_resolves_every_call),
        cmocka_unit_test(test_curl_close_is_safe_on_a_zeroed_struct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
