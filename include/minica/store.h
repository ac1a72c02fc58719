/* The inventory: every issued certificate, the audit log and CA counters, in
 * SQLite (WAL, busy timeout, foreign keys, user_version migrations). Every SQL
 * statement of minica lives behind this interface, so another backend
 * (PostgreSQL) can replace it without touching callers. */
#ifndef MINICA_STORE_H
#define MINICA_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "minica/error.h"

struct minica_store;

enum minica_cert_status {
    MINICA_STATUS_VALID = 1,
    MINICA_STATUS_REVOKED = 2,
    MINICA_STATUS_EXPIRED = 4,
    MINICA_STATUS_ALL = 7,
};

/* RFC 5280 CRLReason codes minica accepts. */
enum minica_revoke_reason {
    MINICA_REASON_UNSPECIFIED = 0,
    MINICA_REASON_KEY_COMPROMISE = 1,
    MINICA_REASON_AFFILIATION_CHANGED = 3,
    MINICA_REASON_SUPERSEDED = 4,
    MINICA_REASON_CESSATION_OF_OPERATION = 5,
};

#define MINICA_SERIAL_HEX_MAX 41
#define MINICA_SANS_MAX 2048

struct minica_cert_row {
    char serial[MINICA_SERIAL_HEX_MAX]; /* lowercase hex, no leading zero bytes */
    char name[256];
    char sans[MINICA_SANS_MAX]; /* comma-separated, canonical, NAME first */
    char usage[8];              /* server | client | both */
    char key_type[16];
    int64_t not_before;
    int64_t not_after;
    int64_t issued_at;
    int64_t revoked_at; /* 0 when not revoked */
    int revoke_reason;
    char fingerprint_sha256[65]; /* lowercase hex of the DER */
    char issuer_fingerprint_sha256[65];
    const char *pem; /* the certificate; valid only during a callback */
    /* With filter.mark_superseded: a newer certificate for the same name is
     * valid now, so this one is no longer what the name is served with. */
    int superseded;
};

/* Status of a row at time now. */
enum minica_cert_status minica_cert_row_status(const struct minica_cert_row *row, int64_t now);
const char *minica_cert_status_name(enum minica_cert_status status);

int minica_store_open(const char *path, struct minica_store **out, struct minica_err *err);
void minica_store_close(struct minica_store *store);
/* The SQLite library in use ("3.40.1"), for version --json. */
const char *minica_store_sqlite_version(void);
/* The inventory's name for messages and logs: the file's path, or the URI
 * without its password. */
const char *minica_store_name(const struct minica_store *store);

/* Whether a commit on this connection waits for the disk (the default: a CA
 * must not lose a serial). Off, a commit in WAL mode is not synced until
 * the next checkpoint or synced commit, and a power cut may lose it, never
 * corrupt the file: for rows that may be lost, such as counted refusals. */
int minica_store_set_full_sync(struct minica_store *store, int full, struct minica_err *err);
/* Group commit, for a server whose requests commit one after another
 * under its lock: with on, the commits that follow are written but not
 * synced (SQLite), until it is called again with 0; minica_store_sync then
 * returns once every commit made before it was called is on disk, and the
 * callers waiting at the same time share one sync. Returns 1 when
 * commits are deferred, 0 when the store's commits are always durable
 * (PostgreSQL: nothing to share, minica_store_sync is not needed), or an
 * error. minica_store_sync is the one store call that may run without the
 * caller's lock (from any thread). */
int minica_store_defer_sync(struct minica_store *store, int on, struct minica_err *err);
int minica_store_sync(struct minica_store *store, struct minica_err *err);

/* Write transactions (BEGIN IMMEDIATE: the writer lock is taken up front, so
 * concurrent writers wait in the busy handler instead of failing). */
int minica_store_begin(struct minica_store *store, struct minica_err *err);
int minica_store_commit(struct minica_store *store, struct minica_err *err);
/* Commits the transaction that recorded certificate serial (through
 * minica_store_insert_cert). A commit whose answer was lost with the
 * connection (PostgreSQL gone mid-COMMIT) may or may not have happened:
 * the row decides, read again after reconnecting; the caller never issues
 * again. 0 when the row is committed; MINICA_EUNAVAILABLE when it is not,
 * or when the server cannot be asked, and then nothing may be handed out. */
int minica_store_commit_cert(struct minica_store *store, const char *serial,
                             struct minica_err *err);
void minica_store_rollback(struct minica_store *store);

/* Records the row and each of its names (name and sans) atomically, inside
 * the caller's transaction if one is open. Returns MINICA_EEXIST when the
 * serial is already taken. */
int minica_store_insert_cert(struct minica_store *store, const struct minica_cert_row *row,
                             const char *pem, struct minica_err *err);
/* Removes a row that was inserted by an issuance that then failed. */
int minica_store_delete_cert(struct minica_store *store, const char *serial,
                             struct minica_err *err);

struct minica_cert_filter {
    const char *name;         /* one of the certificate's names (canonical, whole), or NULL */
    const char *serial;       /* normalized hex, or NULL */
    unsigned status_mask;     /* MINICA_STATUS_* bits; 0 = all */
    int64_t now;              /* for status */
    int64_t not_after_before; /* only rows with not_after < this (0 = no limit) */
    int64_t revoked_since_gt; /* reserved */
    int without_pem;          /* row->pem NULL: what counts rows need not read them */
    int any_order;            /* in the table's order: one pass, not a lookup per row */
    int mark_superseded;      /* fill row->superseded (one index probe per row) */
};

/* Calls cb for each matching row, ordered by not_after then serial (unless
 * any_order); a non-zero
 * return from cb stops the iteration and is returned. */
typedef int (*minica_cert_cb)(const struct minica_cert_row *row, void *ctx);
int minica_store_list_certs(struct minica_store *store, const struct minica_cert_filter *filter,
                            minica_cert_cb cb, void *ctx, struct minica_err *err);

/* Marks one cert revoked (no-op if it already is: the first time and reason stay). */
int minica_store_revoke(struct minica_store *store, const char *serial, int64_t when, int reason,
                        struct minica_err *err);

/* Per issuer (the intermediate's SHA-256 fingerprint), its leaves that
 * have not expired at now: how many, how many of them are revoked, and
 * when the last one expires. Issuers without any are not reported. */
struct minica_issuer_stats {
    char issuer_fingerprint_sha256[65];
    int64_t unexpired;
    int64_t unexpired_revoked;
    int64_t last_not_after;
};
typedef int (*minica_issuer_stats_cb)(const struct minica_issuer_stats *row, void *ctx);
int minica_store_issuer_stats(struct minica_store *store, int64_t now, minica_issuer_stats_cb cb,
                              void *ctx, struct minica_err *err);

/* The names with an unexpired, unrevoked certificate but none from any of
 * issuers (intermediates' fingerprints, 1 to 64): what still serves, and
 * was delivered with, an older chain and trust bundle. */
typedef int (*minica_name_cb)(const char *name, void *ctx);
int minica_store_names_not_issued_by(struct minica_store *store, int64_t now,
                                     const char *const *issuers, size_t n_issuers,
                                     minica_name_cb cb, void *ctx, struct minica_err *err);

/* A revoked CA certificate (an intermediate), for its root's CRL. */
struct minica_ca_revocation {
    char serial[MINICA_SERIAL_HEX_MAX];
    char fingerprint_sha256[65];
    char issuer_fingerprint_sha256[65]; /* the root that signed it */
    int64_t revoked_at;
    int reason;
};
/* Revoking twice keeps the first time and reason. */
int minica_store_revoke_ca(struct minica_store *store, const struct minica_ca_revocation *row,
                           struct minica_err *err);
typedef int (*minica_ca_revocation_cb)(const struct minica_ca_revocation *row, void *ctx);
int minica_store_list_ca_revocations(struct minica_store *store, minica_ca_revocation_cb cb,
                                     void *ctx, struct minica_err *err);

/* Allocates the next CRL number for the given issuer ("intermediate" or "root"). */
int minica_store_next_crl_number(struct minica_store *store, const char *issuer, int64_t *number,
                                 struct minica_err *err);

/* The CRLs serve publishes (minica_ca_crls_published), one per
 * intermediate, shared by every replica on one inventory. Every call
 * below runs in the caller's transaction; the lock serializes the
 * replicas that find the set stale, so only one signs a new one.
 * minica_store_revoke and minica_store_revoke_ca delete the set. */
struct minica_published_crl {
    char issuer_serial[MINICA_SERIAL_HEX_MAX];
    int64_t number;
    int64_t this_update;
    int64_t next_update;
    int64_t revoked; /* entries */
    char *pem;       /* "X509 CRL" */
};
void minica_published_crl_free(struct minica_published_crl *row);
int minica_store_lock_published_crls(struct minica_store *store, struct minica_err *err);
/* MINICA_ENOENT when the issuer has none. */
int minica_store_get_published_crl(struct minica_store *store, const char *issuer_serial,
                                   struct minica_published_crl *out, struct minica_err *err);
/* The set becomes rows[0..n): the rows of issuers not in it go. */
int minica_store_replace_published_crls(struct minica_store *store,
                                        const struct minica_published_crl *rows, size_t n,
                                        struct minica_err *err);

/* Audit log: UTC time, uid and user name are filled in here. Never pass key
 * material. Every byte outside printable ASCII of command and summary is
 * stored escaped (minica_escape_text): a row is always one printable line. */
int minica_store_audit(struct minica_store *store, const char *command, const char *summary,
                       struct minica_err *err);

struct minica_audit_row {
    int64_t id;
    int64_t time;
    int64_t uid;
    char user[64];
    char command[64];
    /* Whole, however long (a revoke lists every serial); valid only during
     * the callback. */
    const char *summary;
};
typedef int (*minica_audit_cb)(const struct minica_audit_row *row, void *ctx);
int minica_store_list_audit(struct minica_store *store, int64_t since, minica_audit_cb cb,
                            void *ctx, struct minica_err *err);

/* Normalizes a serial as typed (any case, colons, leading zeros) to the stored form. */
int minica_serial_normalize(const char *text, char *out, size_t outlen, struct minica_err *err);

int minica_store_schema_version(struct minica_store *store);

/* One-time enrollment tokens (token.h has the logic; this is their table). */
struct minica_token_row {
    char id[33];
    char secret_sha256[65]; /* lowercase hex; the secret itself is never stored */
    char name[256];
    char sans[MINICA_SANS_MAX]; /* comma-separated, canonical, NAME first */
    char usage[8];
    int64_t ttl; /* of the certificate, seconds */
    int64_t created_at;
    int64_t expires_at;
    int64_t used_at;                     /* 0 when unused */
    int64_t revoked_at;                  /* 0 when not revoked */
    char used_by[MINICA_SERIAL_HEX_MAX]; /* serial issued with it, or "" */
};
int minica_store_insert_token(struct minica_store *store, const struct minica_token_row *row,
                              struct minica_err *err);
/* MINICA_ENOENT when there is no such id. */
int minica_store_get_token(struct minica_store *store, const char *id, struct minica_token_row *row,
                           struct minica_err *err);
typedef int (*minica_token_cb)(const struct minica_token_row *row, void *ctx);
int minica_store_list_tokens(struct minica_store *store, minica_token_cb cb, void *ctx,
                             struct minica_err *err);
/* Marks the token used at now by certificate used_by if, in that same
 * statement, the hash matches and it is unused, unrevoked and unexpired;
 * else MINICA_EFORBIDDEN. Meant for the transaction that records used_by. */
int minica_store_use_token(struct minica_store *store, const char *id, const char *secret_sha256,
                           int64_t now, const char *used_by, struct minica_err *err);
/* MINICA_ENOENT when there is no such id; revoking twice keeps the first time. */
int minica_store_revoke_token(struct minica_store *store, const char *id, int64_t when,
                              struct minica_err *err);

/* A secret every process on this inventory shares (serve replicas: the
 * ACME nonce key, "acme-nonce"), made once. Returns in out the secret
 * stored under name; when there is none yet, fresh (text the caller made
 * from new random bytes) is stored at now and returned. Of concurrent
 * first calls on one database, one's fresh is kept and all return it.
 * MINICA_EINVAL when the stored secret does not fit out_size. A secret
 * here is readable by whoever reads the database: keep in it only what a
 * database reader could do no harm with (a nonce key: a nonce is public
 * and spent once). */
int minica_store_secret(struct minica_store *store, const char *name, const char *fresh,
                        int64_t now, char *out, size_t out_size, struct minica_err *err);

#endif
