/* libcurl, GnuTLS, libmicrohttpd, libpq and p11-kit are loaded on demand: each loader must
 * resolve every call its users make, and hand out one table per process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/libload.h"

/* Every slot of a table is a function pointer, all of the same size. */
static void assert_all_resolved(const void *table, size_t size)
{
    void (*slot)(void);
    assert_int_equal(size % sizeof(slot), 0);
    for (size_t off = 0; off < size; off += sizeof(slot)) {
        memcpy(&slot, (const char *)table + off, sizeof(slot));
        assert_non_null(slot);
    }
}

static void test_curl_load_resolves_every_call(void **state)
{
    (void)state;
    struct minica_err err;
    const struct minica_curl *api = minica_curl_load(&err);
    assert_non_null(api);
    assert_all_resolved(api, sizeof(*api));
    assert_string_equal(api->easy_strerror(CURLE_OK), "No error");
    assert_ptr_equal(minica_curl_load(NULL), api);
}

static void test_gnutls_load_resolves_every_call(void **state)
{
    (void)state;
    struct minica_err err;
    const struct minica_gnutls *api = minica_gnutls_load(&err);
    assert_non_null(api);
    assert_all_resolved(api, sizeof(*api));
    assert_string_equal(api->strerror(GNUTLS_E_SUCCESS), "Success.");
    assert_ptr_equal(minica_gnutls_load(NULL), api);
}

/* gnutls_free is a variable, not a function: the loader must hand out the
 * function it holds, which frees what GnuTLS allocated. */
static void test_gnutls_free_releases_gnutls_memory(void **state)
{
    (void)state;
    const struct minica_gnutls *api = minica_gnutls_load(NULL);
    assert_non_null(api);
    gnutls_datum_t text = {NULL, 0};
    assert_int_equal(
        api->certificate_verification_status_print(GNUTLS_CERT_INVALID, GNUTLS_CRT_X509, &text, 0),
        0);
    assert_non_null(text.data);
    api->free_mem(text.data); /* LSan reports a leak if this frees nothing */
}

static void test_mhd_load_resolves_every_call(void **state)
{
    (void)state;
    struct minica_err err;
    const struct minica_mhd *api = minica_mhd_load(&err);
    assert_non_null(api);
    assert_all_resolved(api, sizeof(*api));
    assert_ptr_equal(minica_mhd_load(NULL), api);
}

static void test_pq_load_resolves_every_call(void **state)
{
    (void)state;
    struct minica_err err;
    const struct minica_pq *api = minica_pq_load(&err);
    assert_non_null(api);
    assert_all_resolved(api, sizeof(*api));
    /* No connection: libpq's own answers, no server needed. */
    assert_int_equal(api->status(NULL), CONNECTION_BAD);
    assert_int_equal(api->transaction_status(NULL), PQTRANS_UNKNOWN);
    assert_ptr_equal(minica_pq_load(NULL), api);
}

static void test_p11kit_load_resolves_every_call(void **state)
{
    (void)state;
    struct minica_err err;
    const struct minica_p11kit *api = minica_p11kit_load(&err);
    assert_non_null(api);
    assert_all_resolved(api, sizeof(*api));
    /* A URI parsed by p11-kit itself, no module needed. */
    P11KitUri *uri = api->uri_new();
    assert_non_null(uri);
    assert_int_equal(api->uri_parse("pkcs11:token=t;object=k", P11_KIT_URI_FOR_ANY, uri),
                     P11_KIT_URI_OK);
    assert_non_null(api->uri_get_attribute(uri, CKA_LABEL));
    api->uri_free(uri);
    assert_ptr_equal(minica_p11kit_load(NULL), api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curl_load_resolves_every_call),
        cmocka_unit_test(test_gnutls_load_resolves_every_call),
        cmocka_unit_test(test_gnutls_free_releases_gnutls_memory),
        cmocka_unit_test(test_mhd_load_resolves_every_call),
        cmocka_unit_test(test_pq_load_resolves_every_call),
        cmocka_unit_test(test_p11kit_load_resolves_every_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
