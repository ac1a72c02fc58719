/* The ACME tables of the inventory (RFC 8555): nonces, accounts, orders,
 * authorizations and challenges. Storage only: no JWS, no protocol, no
 * policy; serve's ACME front decides what a transition means. Every change
 * of status is one conditional statement (WHERE status = expected), so two
 * processes or replicas on one database cannot both move the same row. */
#ifndef MINICA_STORE_ACME_H
#define MINICA_STORE_ACME_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"
#include "minica/store.h"

/* Sizes of the row fields, with their terminating NUL. An id is made by
 * serve (base64url of random bytes); 63 characters leave room. */
#define MINICA_ACME_ID_MAX 64
#define MINICA_ACME_THUMBPRINT_MAX 64 /* RFC 7638 SHA-256, base64url: 43 */
#define MINICA_ACME_JWK_MAX 4096      /* an RSA-8192 public JWK is about 1,450 */
#define MINICA_ACME_CONTACT_MAX 1024  /* the "contact" JSON array, as received */
#define MINICA_ACME_IDENTIFIERS_MAX 8192
#define MINICA_ACME_ERROR_MAX 1024 /* an RFC 7807 problem document, JSON */
#define MINICA_ACME_STATUS_MAX 16
#define MINICA_ACME_TOKEN_MAX 64 /* RFC 8555 8.1: >= 128 bits, base64url */

/* Status and type columns are the RFC's own strings ("valid", "http-01").
 * The table's CHECK constraint refuses any other (MINICA_EINVAL), so a
 * typo in a caller fails at the first write rather than being stored.
 * A string argument longer than the row field it is read back into is
 * refused the same way, rather than stored and read back cut short. */

/* Spent nonces (RFC 8555 6.5). serve/acme_nonce.c makes and checks them
 * without the store; the store only remembers which were spent, until
 * they expire. A nonce is public (sent in Replay-Nonce) and worth nothing
 * without the account key's signature. */

/* Records value as spent; it would have expired at expires_at. Of any
 * number of concurrent spends (connections, processes, replicas), exactly
 * one returns 0; the others, and every later one, MINICA_EFORBIDDEN
 * (RFC 8555 badNonce). */
int minica_store_acme_nonce_spend(struct minica_store *store, const char *value, int64_t expires_at,
                                  struct minica_err *err);
/* Forgets every spent nonce with expires_at <= now (the check refuses
 * those anyway); *swept (may be NULL) is how many. */
int minica_store_acme_nonce_sweep(struct minica_store *store, int64_t now, int64_t *swept,
                                  struct minica_err *err);

/* Accounts (RFC 8555 7.1.2). The key is identified by its RFC 7638
 * thumbprint, UNIQUE: one account per key. */
struct minica_acme_account {
    char id[MINICA_ACME_ID_MAX];
    char thumbprint[MINICA_ACME_THUMBPRINT_MAX];
    char jwk[MINICA_ACME_JWK_MAX];         /* the public JWK, JSON */
    char status[MINICA_ACME_STATUS_MAX];   /* valid | deactivated | revoked */
    char contact[MINICA_ACME_CONTACT_MAX]; /* JSON array, or "" */
    char eab_kid[MINICA_ACME_ID_MAX];      /* External Account Binding key id, or "" */
    int64_t created_at;
};

/* MINICA_EEXIST when the id or the thumbprint is taken (the caller answers
 * newAccount with the existing account); MINICA_EINVAL for a status the
 * table does not know. With eab_kid set, the External Account Binding key
 * is bound to the new account in the same transaction, only if it is
 * unbound, unrevoked and unexpired at created_at: else MINICA_EFORBIDDEN
 * and no account (of concurrent first uses of one key, one wins). */
int minica_store_acme_account_insert(struct minica_store *store,
                                     const struct minica_acme_account *row, struct minica_err *err);
/* Every account, by creation; orders is how many orders it has. */
typedef int (*minica_acme_account_cb)(const struct minica_acme_account *row, int64_t orders,
                                      void *ctx);
int minica_store_acme_account_list(struct minica_store *store, minica_acme_account_cb cb, void *ctx,
                                   struct minica_err *err);

/* External Account Binding keys (RFC 8555 7.3.4). No MAC key here: it is
 * derived from a secret outside the database (ca/acme_eab.c), so a copy
 * of the database binds nothing. The lists narrow what the bound account
 * may order: comma-separated DNS suffixes and CIDRs, "" for no narrowing. */
#define MINICA_ACME_EAB_LABEL_MAX 256
#define MINICA_ACME_EAB_LIST_MAX 2048
struct minica_acme_eab_key {
    char kid[MINICA_ACME_ID_MAX];
    char label[MINICA_ACME_EAB_LABEL_MAX];
    char permit_dns[MINICA_ACME_EAB_LIST_MAX];
    char permit_ip[MINICA_ACME_EAB_LIST_MAX];
    int64_t created_at;
    int64_t expires_at;
    int64_t revoked_at;                  /* 0 when not revoked */
    char account_id[MINICA_ACME_ID_MAX]; /* "" until first used */
};
/* MINICA_EEXIST when the kid is taken. */
int minica_store_acme_eab_insert(struct minica_store *store, const struct minica_acme_eab_key *row,
                                 struct minica_err *err);
/* MINICA_ENOENT when there is no such key. */
int minica_store_acme_eab_get(struct minica_store *store, const char *kid,
                              struct minica_acme_eab_key *row, struct minica_err *err);
/* Every key, by creation. */
typedef int (*minica_acme_eab_cb)(const struct minica_acme_eab_key *row, void *ctx);
int minica_store_acme_eab_list(struct minica_store *store, minica_acme_eab_cb cb, void *ctx,
                               struct minica_err *err);
/* Sets revoked_at = when, once: MINICA_EBUSY when already revoked,
 * MINICA_ENOENT when there is no such key. */
int minica_store_acme_eab_revoke(struct minica_store *store, const char *kid, int64_t when,
                                 struct minica_err *err);
/* MINICA_ENOENT when there is no such account. */
int minica_store_acme_account_get(struct minica_store *store, const char *id,
                                  struct minica_acme_account *row, struct minica_err *err);
/* The account of a key (newAccount, onlyReturnExisting, revokeCert by key
 * lookups). MINICA_ENOENT when no account has this thumbprint. */
int minica_store_acme_account_by_thumbprint(struct minica_store *store, const char *thumbprint,
                                            struct minica_acme_account *row,
                                            struct minica_err *err);
/* Sets contact and/or status (NULL keeps the column) of an account that is
 * still "valid": deactivated and revoked are final (RFC 8555 7.1.6).
 * MINICA_ENOENT when there is no such account, MINICA_EBUSY when it is no
 * longer valid, MINICA_EINVAL for an unknown status. */
int minica_store_acme_account_update(struct minica_store *store, const char *id,
                                     const char *contact, const char *status,
                                     struct minica_err *err);
/* keyChange (RFC 8555 7.3.5): replaces thumbprint and JWK together, only
 * if the account is valid and its thumbprint is still old_thumbprint (a
 * concurrent key change wins once). MINICA_EEXIST when another account
 * holds the new key (the RFC's 409 Conflict), MINICA_EBUSY when the account
 * is not valid or its key already changed, MINICA_ENOENT when there is no
 * such account. */
int minica_store_acme_account_key_change(struct minica_store *store, const char *id,
                                         const char *old_thumbprint, const char *new_thumbprint,
                                         const char *new_jwk, struct minica_err *err);

/* Orders (RFC 8555 7.1.3), their authorizations (7.1.4) and challenges
 * (7.1.5, 8). An authorization belongs to one order here: no sharing. */
struct minica_acme_order {
    char id[MINICA_ACME_ID_MAX];
    char account_id[MINICA_ACME_ID_MAX];
    char status[MINICA_ACME_STATUS_MAX]; /* pending | ready | processing | valid | invalid */
    char identifiers[MINICA_ACME_IDENTIFIERS_MAX]; /* JSON array, as the order shows it */
    int64_t not_before;                            /* requested; 0 when not */
    int64_t not_after;                             /* requested; 0 when not */
    int64_t expires_at;
    char cert_serial[MINICA_SERIAL_HEX_MAX]; /* "" until valid; a certs row */
    char error[MINICA_ACME_ERROR_MAX];       /* problem JSON, or "" */
    int64_t created_at;
    char replaces[MINICA_SERIAL_HEX_MAX]; /* RFC 9773 5: a certs row, or "" */
};

struct minica_acme_authz {
    char id[MINICA_ACME_ID_MAX];
    char order_id[MINICA_ACME_ID_MAX];
    char type[8];                        /* dns | ip (RFC 8738) */
    char value[256];                     /* the name without "*.", or the IP address */
    int wildcard;                        /* 1 for "*.value" (RFC 8555 7.1.3) */
    char status[MINICA_ACME_STATUS_MAX]; /* pending | valid | invalid | deactivated | expired |
                                            revoked */
    int64_t expires_at;
};

struct minica_acme_challenge {
    char id[MINICA_ACME_ID_MAX];
    char authz_id[MINICA_ACME_ID_MAX];
    char type[16];                       /* http-01 | tls-alpn-01 | dns-01 */
    char token[MINICA_ACME_TOKEN_MAX];   /* UNIQUE */
    char status[MINICA_ACME_STATUS_MAX]; /* pending | processing | valid | invalid */
    int64_t validated_at;                /* 0 until valid */
    char error[MINICA_ACME_ERROR_MAX];   /* problem JSON, or "" */
};

/* Records an order, its n_authz authorizations and their n_chall
 * challenges (each names its authz_id) all or nothing, inside the caller's
 * transaction if one is open. MINICA_ENOENT for an unknown account (or a
 * challenge of an authorization not in the list), MINICA_EEXIST for a
 * taken id or challenge token, MINICA_EINVAL for an unknown status or type.
 * The authz and challenge order_id / authz_id fields are used as given.
 * An order with replaces set goes in only while no other order that is not
 * "invalid" replaces the same certificate, decided by the insert itself
 * (RFC 9773 5): MINICA_EBUSY when one does, MINICA_ENOENT when no such
 * certificate. */
int minica_store_acme_order_insert(struct minica_store *store,
                                   const struct minica_acme_order *order,
                                   const struct minica_acme_authz *authz, size_t n_authz,
                                   const struct minica_acme_challenge *chall, size_t n_chall,
                                   struct minica_err *err);
/* MINICA_ENOENT when there is no such order. */
int minica_store_acme_order_get(struct minica_store *store, const char *id,
                                struct minica_acme_order *row, struct minica_err *err);
/* The order whose certificate is serial (the first, should two name it).
 * MINICA_ENOENT when no order issued it (a certificate from `minica
 * issue`, or serve's /v1/). */
int minica_store_acme_order_by_cert(struct minica_store *store, const char *serial,
                                    struct minica_acme_order *row, struct minica_err *err);
/* The order, not "invalid", that replaces certificate serial (RFC 9773 5).
 * MINICA_ENOENT when none does. */
int minica_store_acme_order_replacement(struct minica_store *store, const char *serial,
                                        struct minica_acme_order *row, struct minica_err *err);
/* The account's orders (RFC 8555 7.1.2.1), by id, one page at a time: at
 * most limit rows with id > after ("" or NULL: from the start). Keyset
 * paging, so a page costs the same however deep: ask for limit + 1 to know
 * whether a "next" Link is due, and pass the last id shown as after. A
 * non-zero return from cb stops the iteration and is returned. */
typedef int (*minica_acme_order_cb)(const struct minica_acme_order *row, void *ctx);
int minica_store_acme_order_list(struct minica_store *store, const char *account_id,
                                 const char *after, size_t limit, minica_acme_order_cb cb,
                                 void *ctx, struct minica_err *err);
/* Moves the order from status from to status to, in one conditional
 * statement: of concurrent callers expecting the same from, exactly one
 * returns 0 (finalize: "ready" -> "processing"). cert_serial and error,
 * when not NULL, are set in the same statement ("processing" -> "valid"
 * with the serial, or -> "invalid" with the problem; "" clears). MINICA_EBUSY when the
 * order is not in status from, MINICA_ENOENT when there is no such order
 * or no such certificate, MINICA_EINVAL for an unknown status. Once an
 * order names a certificate, minica_store_delete_cert refuses to remove it
 * (MINICA_EDB): withdraw a failed issuance by rolling back instead. */
int minica_store_acme_order_transition(struct minica_store *store, const char *id, const char *from,
                                       const char *to, const char *cert_serial, const char *error,
                                       struct minica_err *err);
/* "pending" -> "ready" when every authorization of the order is valid, in
 * one statement (RFC 8555 7.1.6). Call it after the authorization's own
 * transition has committed, not in the same transaction: then of two
 * validations finishing at once (two replicas), the later check sees both
 * and the order cannot stay pending. (In one transaction each, a
 * PostgreSQL READ COMMITTED check would not see the other's uncommitted
 * row: write skew.) *moved is 1 when this call moved it, else 0 (still
 * pending, not pending, or no such order). */
int minica_store_acme_order_ready_if_authorized(struct minica_store *store, const char *id,
                                                int *moved, struct minica_err *err);
/* Deletes orders (with their authorizations and challenges) that expired
 * at or before now and never became valid; valid ones stay, as their
 * certificate URL must keep answering. *swept (may be NULL) is how many. */
int minica_store_acme_order_sweep(struct minica_store *store, int64_t now, int64_t *swept,
                                  struct minica_err *err);

/* MINICA_ENOENT when there is no such authorization. */
int minica_store_acme_authz_get(struct minica_store *store, const char *id,
                                struct minica_acme_authz *row, struct minica_err *err);
/* The order's authorizations, by id. */
typedef int (*minica_acme_authz_cb)(const struct minica_acme_authz *row, void *ctx);
int minica_store_acme_authz_list(struct minica_store *store, const char *order_id,
                                 minica_acme_authz_cb cb, void *ctx, struct minica_err *err);
/* Conditional, as minica_store_acme_order_transition: MINICA_EBUSY when
 * not in status from, MINICA_ENOENT when there is no such authorization. */
int minica_store_acme_authz_transition(struct minica_store *store, const char *id, const char *from,
                                       const char *to, struct minica_err *err);

/* MINICA_ENOENT when there is no such challenge. */
int minica_store_acme_challenge_get(struct minica_store *store, const char *id,
                                    struct minica_acme_challenge *row, struct minica_err *err);
/* The authorization's challenges, by id. */
typedef int (*minica_acme_challenge_cb)(const struct minica_acme_challenge *row, void *ctx);
int minica_store_acme_challenge_list(struct minica_store *store, const char *authz_id,
                                     minica_acme_challenge_cb cb, void *ctx,
                                     struct minica_err *err);
/* Conditional, as minica_store_acme_order_transition ("pending" ->
 * "processing" starts one validation, whoever asks twice). validated_at,
 * when not 0, and error, when not NULL ("" clears), are set in the same
 * statement.
 * MINICA_EBUSY when not in status from, MINICA_ENOENT when there is no
 * such challenge. */
int minica_store_acme_challenge_transition(struct minica_store *store, const char *id,
                                           const char *from, const char *to, int64_t validated_at,
                                           const char *error, struct minica_err *err);
/* Records why the last validation attempt failed (a problem document)
 * without moving the challenge, for a validator that retries while the
 * challenge stays "processing" (RFC 8555 8.2). MINICA_ENOENT when there is
 * no such challenge. */
int minica_store_acme_challenge_set_error(struct minica_store *store, const char *id,
                                          const char *error, struct minica_err *err);

#endif
