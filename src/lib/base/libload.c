/* Loading libcurl, GnuTLS, libmicrohttpd, libpq and p11-kit on demand (see
 * libload.h for why). Nothing else: the calls themselves are
 * serve/remote.c's, agent/tlsprobe.c's, serve/https.c's,
 * serve/acme_validate.c's, store/db_pg.c's and ca/pkcs11.c's. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "base/libload.h"

/* Debian's sonames. libcurl is the GnuTLS build (libcurl3-gnutls), so that
 * one TLS library serves libmicrohttpd, libcurl and the agent's probe. */
#define LIBCURL_SONAME "libcurl-gnutls.so.4"
#define LIBGNUTLS_SONAME "libgnutls.so.30"
#define LIBMHD_SONAME "libmicrohttpd.so.12"
#define LIBPQ_SONAME "libpq.so.5"
#define LIBP11KIT_SONAME "libp11-kit.so.0"

struct symbol {
    const char *name;
    void **slot;
};

/* &api->member, or a compile error when the member's type is not the
 * library function's: the tables cannot drift from the libraries' headers.
 * Only types are taken from the headers, so nothing links against them. */
#define SYMBOL(api, member, function)                                                              \
    {                                                                                              \
#function,                                                                                 \
            (void **)__builtin_choose_expr(                                                        \
                __builtin_types_compatible_p(__typeof__(&function), __typeof__((api)->member)),    \
                &(api)->member, (void)0)                                                           \
    }

/* The outcome of one library's load, decided once per process. */
struct loaded {
    void *handle;
    char error[256];
};

static void load(struct loaded *lib, const char *soname, const char *package,
                 const struct symbol *symbols, size_t n)
{
    lib->handle = dlopen(minica_libload_path(soname), RTLD_NOW | RTLD_LOCAL);
    if (lib->handle == NULL) {
        snprintf(lib->error, sizeof(lib->error), "cannot load %s (%s): install the %s package",
                 soname, dlerror(), package);
        (void)dlerror(); /* frees the record (minica_dl_clear_error) */
        return;
    }
    for (size_t i = 0; i < n; i++) {
        *symbols[i].slot = dlsym(lib->handle, symbols[i].name);
        if (*symbols[i].slot == NULL) {
            minica_dl_clear_error();
            snprintf(lib->error, sizeof(lib->error), "%s lacks %s: the %s package is too old",
                     soname, symbols[i].name, package);
            dlclose(lib->handle);
            lib->handle = NULL;
            return;
        }
    }
}

static const void *loaded_or_error(const struct loaded *lib, const void *api, int code,
                                   struct minica_err *err)
{
    if (lib->handle != NULL)
        return api;
    minica_seterr(err, code, "%s", lib->error);
    return NULL;
}

static struct minica_curl curl_api;
static struct loaded curl_lib;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void load_curl(void)
{
    struct minica_curl *api = &curl_api;
    const struct symbol symbols[] = {
        SYMBOL(api, global_init, curl_global_init),
        SYMBOL(api, global_cleanup, curl_global_cleanup),
        SYMBOL(api, easy_init, curl_easy_init),
        SYMBOL(api, easy_setopt, curl_easy_setopt),
        SYMBOL(api, easy_perform, curl_easy_perform),
        SYMBOL(api, easy_getinfo, curl_easy_getinfo),
        SYMBOL(api, easy_cleanup, curl_easy_cleanup),
        SYMBOL(api, easy_strerror, curl_easy_strerror),
        SYMBOL(api, slist_append, curl_slist_append),
        SYMBOL(api, slist_free_all, curl_slist_free_all),
        SYMBOL(api, free_mem, curl_free),
        SYMBOL(api, url, curl_url),
        SYMBOL(api, url_cleanup, curl_url_cleanup),
        SYMBOL(api, url_set, curl_url_set),
        SYMBOL(api, url_get, curl_url_get),
        SYMBOL(api, version_info, curl_version_info),
    };
    load(&curl_lib, LIBCURL_SONAME, "libcurl3-gnutls", symbols,
         sizeof(symbols) / sizeof(symbols[0]));
}

const struct minica_curl *minica_curl_load(struct minica_err *err)
{
    pthread_once(&curl_once, load_curl);
    return loaded_or_error(&curl_lib, &curl_api, MINICA_ENET, err);
}

static struct minica_gnutls gnutls_api;
static struct loaded gnutls_lib;
static pthread_once_t gnutls_once = PTHREAD_ONCE_INIT;

static void load_gnutls(void)
{
    struct minica_gnutls *api = &gnutls_api;
    /* gnutls_free is a variable holding the function (and a macro). */
    gnutls_free_function *free_var = NULL;
    const struct symbol symbols[] = {
        {"gnutls_free", (void **)&free_var},
        SYMBOL(api, strerror, gnutls_strerror),
        SYMBOL(api, check_version, gnutls_check_version),
        SYMBOL(api, error_is_fatal, gnutls_error_is_fatal),
        SYMBOL(api, certificate_allocate_credentials, gnutls_certificate_allocate_credentials),
        SYMBOL(api, certificate_free_credentials, gnutls_certificate_free_credentials),
        SYMBOL(api, certificate_set_x509_trust_mem, gnutls_certificate_set_x509_trust_mem),
        SYMBOL(api, certificate_set_retrieve_function2, gnutls_certificate_set_retrieve_function2),
        SYMBOL(api, certificate_verify_peers3, gnutls_certificate_verify_peers3),
        SYMBOL(api, certificate_verification_status_print,
               gnutls_certificate_verification_status_print),
        SYMBOL(api, certificate_get_peers, gnutls_certificate_get_peers),
        SYMBOL(api, init, gnutls_init),
        SYMBOL(api, deinit, gnutls_deinit),
        SYMBOL(api, set_default_priority, gnutls_set_default_priority),
        SYMBOL(api, credentials_set, gnutls_credentials_set),
        SYMBOL(api, server_name_set, gnutls_server_name_set),
        SYMBOL(api, transport_set_int2, gnutls_transport_set_int2),
        SYMBOL(api, handshake_set_timeout, gnutls_handshake_set_timeout),
        SYMBOL(api, handshake, gnutls_handshake),
        SYMBOL(api, bye, gnutls_bye),
        SYMBOL(api, session_set_ptr, gnutls_session_set_ptr),
        SYMBOL(api, session_get_ptr, gnutls_session_get_ptr),
        SYMBOL(api, pcert_list_import_x509_raw, gnutls_pcert_list_import_x509_raw),
        SYMBOL(api, pcert_deinit, gnutls_pcert_deinit),
        SYMBOL(api, privkey_init, gnutls_privkey_init),
        SYMBOL(api, privkey_deinit, gnutls_privkey_deinit),
        SYMBOL(api, privkey_import_x509_raw, gnutls_privkey_import_x509_raw),
        SYMBOL(api, priority_set_direct, gnutls_priority_set_direct),
        SYMBOL(api, alpn_set_protocols, gnutls_alpn_set_protocols),
        SYMBOL(api, alpn_get_selected_protocol, gnutls_alpn_get_selected_protocol),
        SYMBOL(api, pubkey_init, gnutls_pubkey_init),
        SYMBOL(api, pubkey_deinit, gnutls_pubkey_deinit),
        SYMBOL(api, pubkey_import, gnutls_pubkey_import),
        SYMBOL(api, pubkey_verify_data2, gnutls_pubkey_verify_data2),
    };
    load(&gnutls_lib, LIBGNUTLS_SONAME, "libgnutls30", symbols,
         sizeof(symbols) / sizeof(symbols[0]));
    if (gnutls_lib.handle != NULL)
        api->free_mem = *free_var;
}

const struct minica_gnutls *minica_gnutls_load(struct minica_err *err)
{
    pthread_once(&gnutls_once, load_gnutls);
    return loaded_or_error(&gnutls_lib, &gnutls_api, MINICA_ENET, err);
}

static struct minica_mhd mhd_api;
static struct loaded mhd_lib;
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;

static void load_mhd(void)
{
    struct minica_mhd *api = &mhd_api;
    const struct symbol symbols[] = {
        SYMBOL(api, start_daemon, MHD_start_daemon),
        SYMBOL(api, quiesce_daemon, MHD_quiesce_daemon),
        SYMBOL(api, stop_daemon, MHD_stop_daemon),
        SYMBOL(api, get_connection_info, MHD_get_connection_info),
        SYMBOL(api, set_connection_option, MHD_set_connection_option),
        SYMBOL(api, lookup_connection_value, MHD_lookup_connection_value),
        SYMBOL(api, create_response_from_buffer, MHD_create_response_from_buffer),
        SYMBOL(api, add_response_header, MHD_add_response_header),
        SYMBOL(api, queue_response, MHD_queue_response),
        SYMBOL(api, destroy_response, MHD_destroy_response),
        SYMBOL(api, get_version, MHD_get_version),
    };
    load(&mhd_lib, LIBMHD_SONAME, "libmicrohttpd12", symbols, sizeof(symbols) / sizeof(symbols[0]));
}

const struct minica_mhd *minica_mhd_load(struct minica_err *err)
{
    pthread_once(&mhd_once, load_mhd);
    return loaded_or_error(&mhd_lib, &mhd_api, MINICA_ENET, err);
}

static struct minica_pq pq_api;
static struct loaded pq_lib;
static pthread_once_t pq_once = PTHREAD_ONCE_INIT;

static void load_pq(void)
{
    struct minica_pq *api = &pq_api;
    const struct symbol symbols[] = {
        SYMBOL(api, connectdb_params, PQconnectdbParams),
        SYMBOL(api, status, PQstatus),
        SYMBOL(api, error_message, PQerrorMessage),
        SYMBOL(api, finish, PQfinish),
        SYMBOL(api, reset, PQreset),
        SYMBOL(api, set_notice_processor, PQsetNoticeProcessor),
        SYMBOL(api, transaction_status, PQtransactionStatus),
        SYMBOL(api, exec, PQexec),
        SYMBOL(api, exec_params, PQexecParams),
        SYMBOL(api, result_status, PQresultStatus),
        SYMBOL(api, result_error_field, PQresultErrorField),
        SYMBOL(api, result_error_message, PQresultErrorMessage),
        SYMBOL(api, clear, PQclear),
        SYMBOL(api, ntuples, PQntuples),
        SYMBOL(api, nfields, PQnfields),
        SYMBOL(api, getvalue, PQgetvalue),
        SYMBOL(api, getisnull, PQgetisnull),
        SYMBOL(api, cmd_status, PQcmdStatus),
        SYMBOL(api, cmd_tuples, PQcmdTuples),
    };
    load(&pq_lib, LIBPQ_SONAME, "libpq5", symbols, sizeof(symbols) / sizeof(symbols[0]));
}

/* MINICA_EDB rather than MINICA_ENET: the store is what cannot open. */
const struct minica_pq *minica_pq_load(struct minica_err *err)
{
    pthread_once(&pq_once, load_pq);
    return loaded_or_error(&pq_lib, &pq_api, MINICA_EDB, err);
}

static struct minica_p11kit p11kit_api;
static struct loaded p11kit_lib;
static pthread_once_t p11kit_once = PTHREAD_ONCE_INIT;

static void load_p11kit(void)
{
    struct minica_p11kit *api = &p11kit_api;
    const struct symbol symbols[] = {
        SYMBOL(api, uri_new, p11_kit_uri_new),
        SYMBOL(api, uri_parse, p11_kit_uri_parse),
        SYMBOL(api, uri_free, p11_kit_uri_free),
        SYMBOL(api, uri_message, p11_kit_uri_message),
        SYMBOL(api, uri_any_unrecognized, p11_kit_uri_any_unrecognized),
        SYMBOL(api, uri_match_module_info, p11_kit_uri_match_module_info),
        SYMBOL(api, uri_match_slot_info, p11_kit_uri_match_slot_info),
        SYMBOL(api, uri_get_slot_id, p11_kit_uri_get_slot_id),
        SYMBOL(api, uri_match_token_info, p11_kit_uri_match_token_info),
        SYMBOL(api, uri_get_attribute, p11_kit_uri_get_attribute),
        SYMBOL(api, uri_get_pin_value, p11_kit_uri_get_pin_value),
        SYMBOL(api, uri_set_pin_value, p11_kit_uri_set_pin_value),
        SYMBOL(api, uri_get_pin_source, p11_kit_uri_get_pin_source),
        SYMBOL(api, uri_get_module_name, p11_kit_uri_get_module_name),
        SYMBOL(api, uri_get_module_path, p11_kit_uri_get_module_path),
        SYMBOL(api, module_load, p11_kit_module_load),
        SYMBOL(api, module_initialize, p11_kit_module_initialize),
        SYMBOL(api, module_finalize, p11_kit_module_finalize),
        SYMBOL(api, module_release, p11_kit_module_release),
        SYMBOL(api, module_get_name, p11_kit_module_get_name),
        SYMBOL(api, modules_load_and_initialize, p11_kit_modules_load_and_initialize),
        SYMBOL(api, modules_finalize_and_release, p11_kit_modules_finalize_and_release),
        SYMBOL(api, message, p11_kit_message),
    };
    /* The package that brings libp11-kit0 together with the module
     * configuration (/usr/share/p11-kit/modules) p11-kit finds tokens by. */
    load(&p11kit_lib, LIBP11KIT_SONAME, "p11-kit", symbols, sizeof(symbols) / sizeof(symbols[0]));
}

void minica_dl_clear_error(void)
{
    /* glibc: the first call hands the message out, the second frees it. */
    if (dlerror() != NULL)
        (void)dlerror();
}

/* MINICA_ECRYPTO: what cannot be reached is the CA key. */
const struct minica_p11kit *minica_p11kit_load(struct minica_err *err)
{
    pthread_once(&p11kit_once, load_p11kit);
    return loaded_or_error(&p11kit_lib, &p11kit_api, MINICA_ECRYPTO, err);
}
