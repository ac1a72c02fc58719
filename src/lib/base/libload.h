/* The shared libraries minica loads only when a command needs them:
 * libcurl (talking to a remote CA), GnuTLS (the agent's TLS probe, serve),
 * libmicrohttpd (serve), libpq (a PostgreSQL store) and p11-kit (a CA key in a
 * PKCS#11 token). Linked in, they and their dependencies
 * (some thirty libraries) would be loaded by every minica process, each `minica issue` and each
 * cron run of the agent: about 3 ms for libcurl and 1.3 ms for GnuTLS with libmicrohttpd, more than
 * a P-256 key and signature cost.
 *
 * Each loader resolves its library once per process and returns the same
 * table on every later call, from any thread. The libraries then stay
 * loaded until the process exits: serve's threads run inside them. */
#ifndef MINICA_LIBLOAD_H
#define MINICA_LIBLOAD_H

#include <curl/curl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <libpq-fe.h>
#include <microhttpd.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>

#include "minica/error.h"

/* The libcurl calls serve/remote.c and serve/acme_validate.c make. */
struct minica_curl {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *h, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *h);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *h);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *text);
    void (*slist_free_all)(struct curl_slist *list);
    void (*free_mem)(void *p); /* curl_free */
    CURLU *(*url)(void);
    void (*url_cleanup)(CURLU *handle);
    CURLUcode (*url_set)(CURLU *handle, CURLUPart what, const char *part, unsigned int flags);
    CURLUcode (*url_get)(CURLU *handle, CURLUPart what, char **part, unsigned int flags);
    curl_version_info_data *(*version_info)(CURLversion age); /* version --json */
};

/* GnuTLS declares gnutls_strerror and gnutls_error_is_fatal const (the
 * result depends on the argument alone), and the compiler checks the
 * tables below against the headers' types, attribute included. cppcheck
 * cannot parse the attribute on a function pointer. */
#if defined(__GNUC__) && !defined(__CPPCHECK__)
#define MINICA_GNUTLS_CONST __attribute__((const))
#else
#define MINICA_GNUTLS_CONST
#endif

/* The GnuTLS calls agent/tlsprobe.c, serve/https.c and serve/acme_validate.c make. */
struct minica_gnutls {
    const char *(*strerror)(int error)MINICA_GNUTLS_CONST;
    const char *(*check_version)(const char *req_version)MINICA_GNUTLS_CONST; /* version --json */
    int (*error_is_fatal)(int error) MINICA_GNUTLS_CONST;
    void (*free_mem)(void *ptr); /* gnutls_free */
    int (*certificate_allocate_credentials)(gnutls_certificate_credentials_t *res);
    void (*certificate_free_credentials)(gnutls_certificate_credentials_t sc);
    int (*certificate_set_x509_trust_mem)(gnutls_certificate_credentials_t res,
                                          const gnutls_datum_t *ca, gnutls_x509_crt_fmt_t type);
    void (*certificate_set_retrieve_function2)(gnutls_certificate_credentials_t cred,
                                               gnutls_certificate_retrieve_function2 *func);
    int (*certificate_verify_peers3)(gnutls_session_t session, const char *hostname,
                                     unsigned int *status);
    int (*certificate_verification_status_print)(unsigned int status,
                                                 gnutls_certificate_type_t type,
                                                 gnutls_datum_t *out, unsigned int flags);
    const gnutls_datum_t *(*certificate_get_peers)(gnutls_session_t session,
                                                   unsigned int *list_size);
    int (*init)(gnutls_session_t *session, unsigned int flags);
    void (*deinit)(gnutls_session_t session);
    int (*set_default_priority)(gnutls_session_t session);
    int (*credentials_set)(gnutls_session_t session, gnutls_credentials_type_t type, void *cred);
    int (*server_name_set)(gnutls_session_t session, gnutls_server_name_type_t type,
                           const void *name, size_t name_length);
    void (*transport_set_int2)(gnutls_session_t session, int recv_fd, int send_fd);
    void (*handshake_set_timeout)(gnutls_session_t session, unsigned int ms);
    int (*handshake)(gnutls_session_t session);
    int (*bye)(gnutls_session_t session, gnutls_close_request_t how);
    void (*session_set_ptr)(gnutls_session_t session, void *ptr);
    void *(*session_get_ptr)(gnutls_session_t session);
    int (*pcert_list_import_x509_raw)(gnutls_pcert_st *pcerts, unsigned int *pcert_max,
                                      const gnutls_datum_t *data, gnutls_x509_crt_fmt_t format,
                                      unsigned int flags);
    void (*pcert_deinit)(gnutls_pcert_st *pcert);
    int (*privkey_init)(gnutls_privkey_t *key);
    void (*privkey_deinit)(gnutls_privkey_t key);
    int (*privkey_import_x509_raw)(gnutls_privkey_t pkey, const gnutls_datum_t *data,
                                   gnutls_x509_crt_fmt_t format, const char *password,
                                   unsigned int flags);
    int (*priority_set_direct)(gnutls_session_t session, const char *priorities,
                               const char **err_pos);
    int (*alpn_set_protocols)(gnutls_session_t session, const gnutls_datum_t *protocols,
                              unsigned protocols_size, unsigned int flags);
    int (*alpn_get_selected_protocol)(gnutls_session_t session, gnutls_datum_t *protocol);
    /* serve/jws.c: ACME request signatures. */
    int (*pubkey_init)(gnutls_pubkey_t *key);
    void (*pubkey_deinit)(gnutls_pubkey_t key);
    int (*pubkey_import)(gnutls_pubkey_t key, const gnutls_datum_t *data,
                         gnutls_x509_crt_fmt_t format);
    int (*pubkey_verify_data2)(gnutls_pubkey_t pubkey, gnutls_sign_algorithm_t algo,
                               unsigned int flags, const gnutls_datum_t *data,
                               const gnutls_datum_t *signature);
};

/* The libmicrohttpd calls serve/https.c makes. */
struct minica_mhd {
    struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
                                       MHD_AcceptPolicyCallback apc, void *apc_cls,
                                       MHD_AccessHandlerCallback dh, void *dh_cls, ...);
    MHD_socket (*quiesce_daemon)(struct MHD_Daemon *daemon);
    void (*stop_daemon)(struct MHD_Daemon *daemon);
    const union MHD_ConnectionInfo *(*get_connection_info)(struct MHD_Connection *connection,
                                                           enum MHD_ConnectionInfoType info_type,
                                                           ...);
    enum MHD_Result (*set_connection_option)(struct MHD_Connection *connection,
                                             enum MHD_CONNECTION_OPTION option, ...);
    const char *(*lookup_connection_value)(struct MHD_Connection *connection,
                                           enum MHD_ValueKind kind, const char *key);
    struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
                                                        enum MHD_ResponseMemoryMode mode);
    enum MHD_Result (*add_response_header)(struct MHD_Response *response, const char *header,
                                           const char *content);
    enum MHD_Result (*queue_response)(struct MHD_Connection *connection, unsigned int status_code,
                                      struct MHD_Response *response);
    void (*destroy_response)(struct MHD_Response *response);
    const char *(*get_version)(void); /* version --json */
};

/* The libpq calls store/db_pg.c makes. */
struct minica_pq {
    PGconn *(*connectdb_params)(const char *const *keywords, const char *const *values,
                                int expand_dbname);
    ConnStatusType (*status)(const PGconn *conn);
    char *(*error_message)(const PGconn *conn);
    void (*finish)(PGconn *conn);
    void (*reset)(PGconn *conn);
    PQnoticeProcessor (*set_notice_processor)(PGconn *conn, PQnoticeProcessor proc, void *arg);
    PGTransactionStatusType (*transaction_status)(const PGconn *conn);
    PGresult *(*exec)(PGconn *conn, const char *query);
    PGresult *(*exec_params)(PGconn *conn, const char *command, int nparams, const Oid *param_types,
                             const char *const *param_values, const int *param_lengths,
                             const int *param_formats, int result_format);
    ExecStatusType (*result_status)(const PGresult *res);
    char *(*result_error_field)(const PGresult *res, int fieldcode);
    char *(*result_error_message)(const PGresult *res);
    void (*clear)(PGresult *res);
    int (*ntuples)(const PGresult *res);
    int (*nfields)(const PGresult *res);
    char *(*getvalue)(const PGresult *res, int tup_num, int field_num);
    int (*getisnull)(const PGresult *res, int tup_num, int field_num);
    char *(*cmd_status)(PGresult *res);
    char *(*cmd_tuples)(PGresult *res);
};

/* The p11-kit calls ca/pkcs11.c makes: RFC 7512 URIs and finding and
 * initialising modules. The PKCS#11 calls themselves go through the
 * module's own CK_FUNCTION_LIST. */
struct minica_p11kit {
    P11KitUri *(*uri_new)(void);
    int (*uri_parse)(const char *string, P11KitUriType uri_type, P11KitUri *uri);
    void (*uri_free)(P11KitUri *uri);
    const char *(*uri_message)(int code);
    int (*uri_any_unrecognized)(P11KitUri *uri);
    int (*uri_match_module_info)(const P11KitUri *uri, const CK_INFO *info);
    int (*uri_match_slot_info)(const P11KitUri *uri, const CK_SLOT_INFO *slot_info);
    CK_SLOT_ID (*uri_get_slot_id)(P11KitUri *uri);
    int (*uri_match_token_info)(const P11KitUri *uri, const CK_TOKEN_INFO *token_info);
    CK_ATTRIBUTE_PTR (*uri_get_attribute)(P11KitUri *uri, CK_ATTRIBUTE_TYPE attr_type);
    const char *(*uri_get_pin_value)(const P11KitUri *uri);
    void (*uri_set_pin_value)(P11KitUri *uri, const char *pin);
    const char *(*uri_get_pin_source)(const P11KitUri *uri);
    const char *(*uri_get_module_name)(const P11KitUri *uri);
    const char *(*uri_get_module_path)(const P11KitUri *uri);
    CK_FUNCTION_LIST *(*module_load)(const char *module_path, int flags);
    CK_RV (*module_initialize)(CK_FUNCTION_LIST *module);
    CK_RV (*module_finalize)(CK_FUNCTION_LIST *module);
    void (*module_release)(CK_FUNCTION_LIST *module);
    char *(*module_get_name)(CK_FUNCTION_LIST *module);
    CK_FUNCTION_LIST **(*modules_load_and_initialize)(int flags);
    void (*modules_finalize_and_release)(CK_FUNCTION_LIST **modules);
    const char *(*message)(void);
};

/* NULL, with the missing package named in err, when the library or one of
 * its calls cannot be found. err may be NULL once a load has succeeded. */
const struct minica_curl *minica_curl_load(struct minica_err *err);
const struct minica_gnutls *minica_gnutls_load(struct minica_err *err);
const struct minica_mhd *minica_mhd_load(struct minica_err *err);
const struct minica_pq *minica_pq_load(struct minica_err *err);
const struct minica_p11kit *minica_p11kit_load(struct minica_err *err);

/* The file dlopen'ed for soname: soname itself (libload_path.c). The test
 * build's replaces it, to make a library look uninstalled. */
const char *minica_libload_path(const char *soname);

/* Drops this thread's pending dlerror() state. A library that probes for
 * optional symbols (p11-kit asks each module for C_GetInterface, which
 * PKCS#11 2.40 modules lack) leaves glibc's error record behind, held
 * only by a thread-local pointer: LeakSanitizer, which minica's sanitizer
 * run tells not to scan TLS, reports it as a leak in every process. */
void minica_dl_clear_error(void);

#endif
