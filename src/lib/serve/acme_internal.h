/* What the files of the ACME server (serve/acme.h) share. One file per job,
 * so that each reads on its own and none grows past a few hundred lines:
 *   acme.c          routing under /acme/, the directory and new-nonce;
 *   acme_reply.c    responses and problem documents, ids, the base URL,
 *                   nonces (made, spent, swept), the JWS every POST carries;
 *   acme_account.c  accounts, External Account Binding, key change, the
 *                   orders list;
 *   acme_order.c    orders, authorizations, challenges and the validation
 *                   gate;
 *   acme_cert.c     finalize, the certificate, revocation, renewal info.
 * Every handler is called with srv->ca_lock held and answers in resp.
 * Internal to the acme*.c files of src/lib/serve. */
#ifndef MINICA_SERVE_ACME_INTERNAL_H
#define MINICA_SERVE_ACME_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <mbedtls/pk.h>

#include "minica/error.h"
#include "minica/server.h"
#include "minica/store_acme.h"
#include "serve/jws.h"

struct minica_server;

#define MINICA_ACME_URN "urn:ietf:params:acme:error:"
#define MINICA_ACME_MAX_HOST 255
#define MINICA_ACME_MAX_BASE (MINICA_ACME_MAX_HOST + 16)

/* ---- responses (acme_reply.c) ---- */

void minica_acme_add_header(struct minica_http_response *resp, const char *name, const char *fmt,
                            ...) __attribute__((format(printf, 3, 4)));
void minica_acme_set_body(struct minica_http_response *resp, int status, const char *type,
                          char *text);
void minica_acme_respond_json(struct minica_http_response *resp, int status, cJSON *json);
/* A problem document with an RFC 8555 type ("malformed"). */
void minica_acme_problem_reply(struct minica_http_response *resp, int status, const char *type,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A refusal from serve/jws.c. */
void minica_acme_jws_problem_reply(struct minica_http_response *resp,
                                   const struct minica_acme_problem *p);
/* A failure of the CA's (ret, err): 500 serverInternal, its reason in the
 * log only; 503 with Retry-After when the inventory cannot be reached
 * (MINICA_EUNAVAILABLE), which the client retries. */
void minica_acme_internal_reply(struct minica_http_response *resp, int ret,
                                const struct minica_err *err);
/* A problem document as stored in a row's error (status 400). */
void minica_acme_problem_text(char *out, size_t size, const char *type, const char *detail);
void minica_acme_add_time(cJSON *o, const char *member, int64_t t);
/* A stored problem document (or "") as a member. */
void minica_acme_add_error(cJSON *o, const char *stored);

/* ---- ids, nonces, URLs (acme_reply.c) ---- */

/* n random octets as base64url into out. */
int minica_acme_random_id(size_t n, char *out, size_t out_size, struct minica_err *err);
/* A fresh nonce in the Replay-Nonce header. */
void minica_acme_add_nonce(struct minica_server *srv, struct minica_http_response *resp);
/* "https://HOST" from a plain Host header; -1 for any other. */
int minica_acme_base_url(const struct minica_http_request *req, char *out, size_t out_size);
/* The id after prefix in path, up to the next '/' (rest gets what follows). */
int minica_acme_path_id(const char *path, const char *prefix, char *id, const char **rest);

/* ---- the JWS every POST carries (acme_reply.c) ---- */

enum minica_acme_key_kind { MINICA_ACME_KEY_JWK, MINICA_ACME_KEY_KID, MINICA_ACME_KEY_EITHER };

struct minica_acme_post {
    struct minica_jws jws;
    struct minica_acme_account acct; /* for kid requests */
    int has_acct;
    mbedtls_pk_context acct_key;
    unsigned char thumbprint[32]; /* of the key that signed */
    cJSON *payload;               /* NULL for POST-as-GET */
};

void minica_acme_post_free(struct minica_acme_post *p);
/* The url, the key, the signature, the nonce, the payload. 0, or -1 with
 * resp filled. */
int minica_acme_check_post(struct minica_server *srv, const struct minica_http_request *req,
                           const char *base, enum minica_acme_key_kind kind,
                           struct minica_acme_post *p, struct minica_http_response *resp);

/* ---- accounts (acme_account.c) ---- */

/* Whether the account's EAB key still lets it act, on ids (may be NULL).
 * 0, or -1 with resp filled. */
int minica_acme_check_eab_account(struct minica_server *srv, const struct minica_acme_post *p,
                                  const cJSON *ids, struct minica_http_response *resp);
void minica_acme_handle_new_account(struct minica_server *srv, const char *base,
                                    struct minica_acme_post *p, struct minica_http_response *resp);
void minica_acme_handle_account(struct minica_server *srv, const char *base, const char *id,
                                const char *rest, struct minica_acme_post *p,
                                struct minica_http_response *resp);
void minica_acme_handle_key_change(struct minica_server *srv, const char *base,
                                   struct minica_acme_post *p, struct minica_http_response *resp);

/* ---- orders, authorizations, challenges (acme_order.c) ---- */

/* The order, owned by the requesting account. 0, or -1 with resp filled. */
int minica_acme_own_order(struct minica_server *srv, const struct minica_acme_post *p,
                          const char *id, struct minica_acme_order *o,
                          struct minica_http_response *resp);
void minica_acme_respond_order(struct minica_server *srv, const char *base,
                               const struct minica_acme_order *o, int status,
                               struct minica_http_response *resp);
void minica_acme_handle_new_order(struct minica_server *srv, const char *base,
                                  struct minica_acme_post *p, struct minica_http_response *resp);
void minica_acme_handle_authz(struct minica_server *srv, const char *base, const char *id,
                              struct minica_acme_post *p, struct minica_http_response *resp);
void minica_acme_handle_challenge(struct minica_server *srv, const char *base, const char *id,
                                  struct minica_acme_post *p, struct minica_http_response *resp);

/* ---- finalize, the certificate, revocation, renewal info (acme_cert.c) ---- */

void minica_acme_handle_finalize(struct minica_server *srv, const char *base, const char *id,
                                 struct minica_acme_post *p, struct minica_http_response *resp);
void minica_acme_handle_cert(struct minica_server *srv, const char *id, struct minica_acme_post *p,
                             struct minica_http_response *resp);
void minica_acme_handle_revoke(struct minica_server *srv, struct minica_acme_post *p,
                               struct minica_http_response *resp);
/* GET (or POST-as-GET) /acme/renewal-info/CERTID: serve/acme_ari.c. */
void minica_acme_handle_renewal_info(struct minica_server *srv, const char *certid,
                                     struct minica_http_response *resp);

#endif
