/* Copies a whole inventory into a new, empty one (store_copy.h): `minica
 * db migrate`, SQLite to PostgreSQL and back. The tables, their columns
 * and the order their foreign keys impose are read from each side's
 * catalog, not from a list here, so a table a later migration adds is
 * copied without a change to this file; both sides are at the same schema
 * version and must show the same tables and columns, or nothing is copied.
 * Values travel as text (a BIGINT as its decimal digits), which each
 * backend converts back by the column's type, and the checksum hashes the
 * same text on both sides. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/compat.h"
#include "base/util.h"
#include "minica/store_copy.h"
#include "store/db.h"
#include "store/store_internal.h"

#define MAX_TABLES 64
#define MAX_COLS 48
#define MAX_REFS 16
#define NAME_LEN 64

struct table {
    char name[NAME_LEN];
    size_t ncols;
    char col[MAX_COLS][NAME_LEN];
    /* The tables its foreign keys point at: copied before it. */
    size_t nrefs;
    char ref[MAX_REFS][NAME_LEN];
};

struct schema {
    size_t n;
    struct table t[MAX_TABLES];
};

static int db_fail(struct minica_db *db, struct minica_err *err, const char *what)
{
    return minica_seterr(err, MINICA_EDB, "%s: %s: %s", minica_db_name(db), what,
                         minica_db_errmsg(db));
}

/* Names from the catalog go into SQL (quoted) and messages: only what
 * minica's migrations write, lowercase letters, digits and '_'. */
static int plain_name(const char *name)
{
    if (name == NULL || name[0] == '\0' || strlen(name) >= NAME_LEN)
        return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return 0;
    return 1;
}

/* The names one catalog query returns (its first column), arg bound to
 * its one placeholder when set. */
static int query_names(struct minica_db *db, const char *sql, const char *arg,
                       char (*out)[NAME_LEN], size_t max, size_t *n, const char *what,
                       struct minica_err *err)
{
    struct minica_db_stmt *st;
    *n = 0;
    if (minica_db_prepare(db, sql, &st, err) != 0)
        return db_fail(db, err, what);
    if (arg != NULL)
        minica_db_bind_text(st, 1, arg);
    int rc, ret = MINICA_OK;
    while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        const char *name = minica_db_column_text(st, 0);
        if (!plain_name(name)) {
            ret = minica_seterr(err, MINICA_EDB, "%s: %s: unexpected name '%.64s'",
                                minica_db_name(db), what, name ? name : "");
            break;
        }
        if (*n == max) {
            ret = minica_seterr(err, MINICA_EDB, "%s: %s: more than %zu", minica_db_name(db), what,
                                max);
            break;
        }
        snprintf(out[(*n)++], NAME_LEN, "%s", name);
    }
    if (ret == 0 && rc != MINICA_DB_DONE)
        ret = db_fail(db, err, what);
    minica_db_finalize(st);
    return ret;
}

static int cmp_table(const void *a, const void *b)
{
    return strcmp(((const struct table *)a)->name, ((const struct table *)b)->name);
}

/* minica's tables on db, with their columns and references. Left out:
 * SQLite's own (sqlite_sequence follows the copied ids by itself) and
 * minica_schema, the PostgreSQL driver's version row, which the target's
 * migrations wrote. PostgreSQL's are those of the current schema, where
 * the migrations create them. */
static int read_schema(struct minica_db *db, struct schema *s, struct minica_err *err)
{
    int pg = minica_db_kind(db) == MINICA_DB_POSTGRESQL;
    const char *tables_sql =
        pg ? "SELECT table_name FROM information_schema.tables WHERE table_schema = "
             "current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'minica_schema'"
           : "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' "
             "ESCAPE '!' AND name <> 'minica_schema'";
    const char *cols_sql =
        pg ? "SELECT column_name FROM information_schema.columns WHERE table_schema = "
             "current_schema() AND table_name = ? ORDER BY ordinal_position"
           : "SELECT name FROM pragma_table_info(?) ORDER BY cid";
    const char *refs_sql =
        pg ? "SELECT DISTINCT r.relname FROM pg_catalog.pg_constraint c"
             " JOIN pg_catalog.pg_class t ON t.oid = c.conrelid"
             " JOIN pg_catalog.pg_class r ON r.oid = c.confrelid"
             " WHERE c.contype = 'f' AND t.relname = ? AND t.relnamespace ="
             " (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = current_schema())"
           : "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)";
    char names[MAX_TABLES][NAME_LEN];
    memset(s, 0, sizeof(*s));
    int ret =
        query_names(db, tables_sql, NULL, names, MAX_TABLES, &s->n, "listing the tables", err);
    for (size_t i = 0; ret == 0 && i < s->n; i++)
        snprintf(s->t[i].name, NAME_LEN, "%s", names[i]);
    qsort(s->t, s->n, sizeof(s->t[0]), cmp_table);
    for (size_t i = 0; ret == 0 && i < s->n; i++) {
        struct table *t = &s->t[i];
        ret = query_names(db, cols_sql, t->name, t->col, MAX_COLS, &t->ncols,
                          "listing a table's columns", err);
        if (ret == 0)
            ret = query_names(db, refs_sql, t->name, t->ref, MAX_REFS, &t->nrefs,
                              "listing a table's foreign keys", err);
    }
    return ret;
}

static const struct table *find_table(const struct schema *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0)
            return &s->t[i];
    return NULL;
}

static int has_col(const struct table *t, const char *col)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->col[i], col) == 0)
            return 1;
    return 0;
}

/* The same tables with the same columns (in any order: each side's ALTER
 * TABLE appends where it does). Anything else would drop or invent data. */
static int same_schema(const struct schema *src, const char *src_name, const struct schema *dst,
                       const char *dst_name, struct minica_err *err)
{
    for (size_t i = 0; i < src->n; i++) {
        const struct table *a = &src->t[i], *b = find_table(dst, a->name);
        if (b == NULL)
            return minica_seterr(err, MINICA_EDB,
                                 "%s has table %s, which %s lacks: nothing was copied", src_name,
                                 a->name, dst_name);
        for (size_t c = 0; c < a->ncols; c++)
            if (!has_col(b, a->col[c]))
                return minica_seterr(err, MINICA_EDB,
                                     "%s has column %s.%s, which %s lacks: nothing was copied",
                                     src_name, a->name, a->col[c], dst_name);
        for (size_t c = 0; c < b->ncols; c++)
            if (!has_col(a, b->col[c]))
                return minica_seterr(err, MINICA_EDB,
                                     "%s has column %s.%s, which %s lacks: nothing was copied",
                                     dst_name, b->name, b->col[c], src_name);
    }
    for (size_t i = 0; i < dst->n; i++)
        if (find_table(src, dst->t[i].name) == NULL)
            return minica_seterr(err, MINICA_EDB,
                                 "%s has table %s, which is not in %s: migrate into a database "
                                 "of minica's own",
                                 dst_name, dst->t[i].name, src_name);
    return MINICA_OK;
}

/* Referenced tables first, so that each row's foreign keys hold when it
 * is inserted (PostgreSQL checks them at once; minica's are not
 * deferrable). A table referring to itself needs nothing first. */
static int copy_order(const struct schema *s, size_t *order, struct minica_err *err)
{
    int done[MAX_TABLES] = {0};
    for (size_t k = 0; k < s->n; k++) {
        size_t pick = s->n;
        for (size_t i = 0; i < s->n && pick == s->n; i++) {
            if (done[i])
                continue;
            int ready = 1;
            for (size_t r = 0; r < s->t[i].nrefs && ready; r++) {
                const struct table *ref = find_table(s, s->t[i].ref[r]);
                if (ref != NULL && ref != &s->t[i] && !done[ref - s->t])
                    ready = 0;
            }
            if (ready)
                pick = i;
        }
        if (pick == s->n)
            return minica_seterr(err, MINICA_EDB,
                                 "the tables' foreign keys form a cycle: no order to copy them in");
        done[pick] = 1;
        order[k] = pick;
    }
    return MINICA_OK;
}

/* "a", "b", ... or ?, ?, ...: quoted, since "user" is reserved. */
static void col_list(const struct table *t, int placeholders, char *out, size_t size)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < t->ncols && at < size; i++) {
        int n = placeholders ? snprintf(out + at, size - at, "%s?", i ? ", " : "")
                             : snprintf(out + at, size - at, "%s\"%s\"", i ? ", " : "", t->col[i]);
        if (n < 0)
            break;
        at += (size_t)n;
    }
}

static int select_all(struct minica_db *db, const struct table *t, struct minica_db_stmt **st,
                      struct minica_err *err)
{
    char cols[MAX_COLS * (NAME_LEN + 4)], sql[sizeof(cols) + 2 * NAME_LEN];
    col_list(t, 0, cols, sizeof(cols));
    snprintf(sql, sizeof(sql), "SELECT %s FROM \"%s\"", cols, t->name);
    if (minica_db_prepare(db, sql, st, err) != 0)
        return db_fail(db, err, "reading a table");
    return MINICA_OK;
}

static int has_rows(struct minica_db *db, const char *table, int *rows, struct minica_err *err)
{
    char sql[2 * NAME_LEN];
    snprintf(sql, sizeof(sql), "SELECT 1 FROM \"%s\" LIMIT 1", table);
    struct minica_db_stmt *st;
    if (minica_db_prepare(db, sql, &st, err) != 0)
        return db_fail(db, err, "reading a table");
    int rc = minica_db_step(st, err);
    minica_db_finalize(st);
    if (rc < 0)
        return db_fail(db, err, "reading a table");
    *rows = rc == MINICA_DB_ROW;
    return MINICA_OK;
}

static int check_empty(struct minica_db *db, const struct schema *s, struct minica_err *err)
{
    for (size_t i = 0; i < s->n; i++) {
        int rows = 0;
        int ret = has_rows(db, s->t[i].name, &rows, err);
        if (ret != 0)
            return ret;
        if (rows)
            return minica_seterr(err, MINICA_EEXIST,
                                 "%s is not empty (table %s has rows): migrate into a new, "
                                 "empty database",
                                 minica_db_name(db), s->t[i].name);
    }
    return MINICA_OK;
}

/* PostgreSQL's identity columns: the ids were copied over the sequence,
 * which must now continue after the largest, or the next insert would
 * take an id that is already there. SQLite's AUTOINCREMENT follows the
 * largest id inserted by itself. */
static int continue_ids(struct minica_db *db, const struct table *t, struct minica_err *err)
{
    static const char sql[] =
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = ? AND (is_identity = 'YES' OR column_default LIKE "
        "'nextval(%')";
    char ids[MAX_COLS][NAME_LEN];
    size_t n = 0;
    int ret = query_names(db, sql, t->name, ids, MAX_COLS, &n, "listing identity columns", err);
    for (size_t i = 0; ret == 0 && i < n; i++) {
        char set[6 * NAME_LEN + 128], quoted[NAME_LEN + 2];
        snprintf(quoted, sizeof(quoted), "\"%s\"", t->name);
        /* No row: the sequence stays at its start. */
        snprintf(set, sizeof(set),
                 "SELECT setval(pg_get_serial_sequence(?, ?), max(\"%s\")) FROM \"%s\" "
                 "HAVING max(\"%s\") IS NOT NULL",
                 ids[i], t->name, ids[i]);
        struct minica_db_stmt *st;
        if (minica_db_prepare(db, set, &st, err) != 0)
            return db_fail(db, err, "continuing an identity column");
        minica_db_bind_text(st, 1, quoted);
        minica_db_bind_text(st, 2, ids[i]);
        int rc;
        while ((rc = minica_db_step(st, err)) == MINICA_DB_ROW)
            ;
        if (rc != MINICA_DB_DONE)
            ret = db_fail(db, err, "continuing an identity column");
        minica_db_finalize(st);
    }
    return ret;
}

/* Every row of t from src into dst, each value as text or NULL. */
static int copy_table(struct minica_db *src, struct minica_db *dst, const struct table *t,
                      struct minica_err *err)
{
    char cols[MAX_COLS * (NAME_LEN + 4)], params[MAX_COLS * 3 + 1];
    char sql[sizeof(cols) + sizeof(params) + 2 * NAME_LEN + 64];
    col_list(t, 0, cols, sizeof(cols));
    col_list(t, 1, params, sizeof(params));
    /* An identity column GENERATED ALWAYS takes a given id only when told;
     * the clause is harmless on a table without one. */
    snprintf(sql, sizeof(sql), "INSERT INTO \"%s\" (%s)%s VALUES (%s)", t->name, cols,
             minica_db_kind(dst) == MINICA_DB_POSTGRESQL ? " OVERRIDING SYSTEM VALUE" : "", params);
    struct minica_db_stmt *in = NULL, *out = NULL;
    int ret = select_all(src, t, &out, err);
    if (ret == 0 && minica_db_prepare(dst, sql, &in, err) != 0)
        ret = db_fail(dst, err, "writing a table");
    int rc = MINICA_DB_DONE;
    while (ret == 0 && (rc = minica_db_step(out, err)) == MINICA_DB_ROW) {
        for (size_t c = 0; c < t->ncols; c++) {
            int i = (int)c;
            if (minica_db_column_is_null(out, i))
                minica_db_bind_null(in, i + 1);
            else
                minica_db_bind_text(in, i + 1, minica_db_column_text(out, i));
        }
        if (minica_db_step(in, err) != MINICA_DB_DONE) {
            ret = minica_seterr(err, MINICA_EDB, "%s: copying table %s: %s", minica_db_name(dst),
                                t->name, minica_db_errmsg(dst));
            break;
        }
        minica_db_reset(in);
    }
    if (ret == 0 && rc != MINICA_DB_DONE)
        ret = db_fail(src, err, "reading a table");
    minica_db_finalize(in);
    minica_db_finalize(out);
    return ret;
}

static int cmp_digest(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* Appends len bytes to a growing buffer. */
static int append(unsigned char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
    if (*len + n > *cap) {
        size_t want = *cap ? *cap : 4096;
        while (want < *len + n)
            want *= 2;
        unsigned char *p = realloc(*buf, want);
        if (p == NULL)
            return MINICA_ENOMEM;
        *buf = p;
        *cap = want;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    return MINICA_OK;
}

/* The count and checksum of t on db, by the same code on either side:
 * each row's values in t's column order, NULL as one byte 0 and a value
 * as byte 1, its length (8 bytes, big-endian) and its text, hashed; the
 * row hashes sorted, concatenated and hashed. */
static int digest_table(struct minica_db *db, const struct table *t, int64_t *rows, char hex[65],
                        struct minica_err *err)
{
    struct minica_db_stmt *st;
    int ret = select_all(db, t, &st, err);
    if (ret != 0)
        return ret;
    unsigned char *row = NULL, *all = NULL;
    size_t row_len = 0, row_cap = 0, all_len = 0, all_cap = 0;
    int rc;
    *rows = 0;
    while (ret == 0 && (rc = minica_db_step(st, err)) == MINICA_DB_ROW) {
        row_len = 0;
        for (size_t c = 0; c < t->ncols && ret == 0; c++) {
            const char *v =
                minica_db_column_is_null(st, (int)c) ? NULL : minica_db_column_text(st, (int)c);
            unsigned char head[9] = {v != NULL};
            uint64_t n = v != NULL ? strlen(v) : 0;
            for (int b = 0; b < 8; b++)
                head[1 + b] = (unsigned char)(n >> (56 - 8 * b));
            ret = append(&row, &row_len, &row_cap, head, v != NULL ? 9 : 1);
            if (ret == 0 && n > 0)
                ret = append(&row, &row_len, &row_cap, v, (size_t)n);
        }
        unsigned char d[32];
        if (ret == 0 && minica_compat_sha256(row, row_len, d) != 0)
            ret = minica_seterr(err, MINICA_ECRYPTO, "SHA-256 failed");
        if (ret == 0)
            ret = append(&all, &all_len, &all_cap, d, sizeof(d));
        (*rows)++;
    }
    if (ret == MINICA_ENOMEM)
        minica_seterr(err, ret, "out of memory");
    else if (ret == 0 && rc != MINICA_DB_DONE)
        ret = db_fail(db, err, "reading a table");
    minica_db_finalize(st);
    if (ret == 0) {
        if (all_len > 0)
            qsort(all, all_len / 32, 32, cmp_digest);
        minica_sha256_hex(all != NULL ? all : (const unsigned char *)"", all_len, hex);
    }
    free(row);
    free(all);
    return ret;
}

/* A read of the source that sees one moment, whatever commits meanwhile:
 * SQLite's deferred BEGIN takes no lock until the first read and holds its
 * snapshot; PostgreSQL needs REPEATABLE READ for one. */
static int source_begin(struct minica_db *db, struct minica_err *err)
{
    const char *sql = minica_db_kind(db) == MINICA_DB_POSTGRESQL
                          ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
                            "SET LOCAL statement_timeout = 0"
                          : "BEGIN";
    if (minica_db_exec(db, sql, err) != 0)
        return db_fail(db, err, "cannot read the inventory");
    return MINICA_OK;
}

/* One transaction for the whole copy; a big table takes longer than the
 * driver's statement timeout, which guards requests, not this. */
static int target_begin(struct minica_db *db, struct minica_err *err)
{
    if (minica_db_begin(db, err) != 0 ||
        (minica_db_kind(db) == MINICA_DB_POSTGRESQL &&
         minica_db_exec(db, "SET LOCAL statement_timeout = 0", err) != 0))
        return db_fail(db, err, "cannot write");
    return MINICA_OK;
}

static int is_uri(const char *target)
{
    return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}

/* Before the target is migrated: an SQLite file must be missing (created
 * is set) or empty; a PostgreSQL database must have no rows, so that
 * neither is changed when it will be refused. */
static int precheck_target(const char *target, int *created, struct minica_err *err)
{
    *created = 0;
    if (!is_uri(target)) {
        struct stat st;
        /* A log left by an earlier file of that name would be replayed
         * into the new one. */
        static const char *const logs[] = {"-wal", "-journal"};
        for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
            char log[4200];
            snprintf(log, sizeof(log), "%s%s", target, logs[i]);
            if (lstat(log, &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size > 0))
                return minica_seterr(err, MINICA_EEXIST,
                                     "%s is left from an earlier database: remove it, or migrate "
                                     "into a new file",
                                     log);
        }
        if (lstat(target, &st) != 0) {
            if (errno != ENOENT)
                return minica_seterr(err, MINICA_EIO, "cannot use %s: %s", target, strerror(errno));
            *created = 1;
            return MINICA_OK;
        }
        if (!S_ISREG(st.st_mode))
            return minica_seterr(err, MINICA_EINVAL, "%s is not a regular file", target);
        if (st.st_size > 0)
            return minica_seterr(err, MINICA_EEXIST,
                                 "%s is not empty: migrate into a new file (a missing or empty "
                                 "one)",
                                 target);
        return MINICA_OK;
    }
    struct minica_db *db;
    int ret = minica_db_open(target, &db, err);
    if (ret != 0)
        return ret;
    struct schema *s = malloc(sizeof(*s));
    if (s == NULL)
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
    if (ret == 0)
        ret = read_schema(db, s, err);
    if (ret == 0)
        ret = check_empty(db, s, err);
    free(s);
    minica_db_close(db);
    return ret;
}

/* An SQLite target this call created goes again when the copy fails. */
static void remove_created(const char *target)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char path[4200];
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", target, suffix[i]);
        (void)unlink(path);
    }
}

struct copy_state {
    struct schema src, dst;
    size_t order[MAX_TABLES];
    struct minica_store_copy_table result[MAX_TABLES];
};

static int copy_all(struct minica_db *src, struct minica_db *dst, struct copy_state *cs,
                    struct minica_err *err)
{
    int ret = read_schema(src, &cs->src, err);
    if (ret == 0)
        ret = read_schema(dst, &cs->dst, err);
    if (ret == 0)
        ret = same_schema(&cs->src, minica_db_name(src), &cs->dst, minica_db_name(dst), err);
    if (ret == 0)
        ret = check_empty(dst, &cs->dst, err);
    if (ret == 0)
        ret = copy_order(&cs->src, cs->order, err);
    for (size_t k = 0; ret == 0 && k < cs->src.n; k++)
        ret = copy_table(src, dst, &cs->src.t[cs->order[k]], err);
    for (size_t k = 0; ret == 0 && k < cs->src.n; k++)
        if (minica_db_kind(dst) == MINICA_DB_POSTGRESQL)
            ret = continue_ids(dst, &cs->src.t[k], err);
    /* Verified inside the target's transaction: a mismatch commits nothing. */
    for (size_t k = 0; ret == 0 && k < cs->src.n; k++) {
        const struct table *t = &cs->src.t[k];
        struct minica_store_copy_table *r = &cs->result[k], theirs;
        snprintf(r->name, sizeof(r->name), "%s", t->name);
        ret = digest_table(src, t, &r->rows, r->sha256, err);
        if (ret == 0)
            ret = digest_table(dst, t, &theirs.rows, theirs.sha256, err);
        if (ret == 0 && (r->rows != theirs.rows || strcmp(r->sha256, theirs.sha256) != 0))
            ret = minica_seterr(err, MINICA_EDB,
                                "table %s does not verify: %lld rows, sha256 %.16s... in %s, "
                                "%lld rows, sha256 %.16s... in the copy",
                                t->name, (long long)r->rows, r->sha256, minica_db_name(src),
                                (long long)theirs.rows, theirs.sha256);
    }
    return ret;
}

int minica_store_copy(struct minica_store *source, const char *target, minica_store_copy_cb cb,
                      void *ctx, struct minica_err *err)
{
    struct minica_db *src = minica_store_db(source);
    int created = 0;
    int ret = precheck_target(target, &created, err);
    if (ret != 0)
        return ret;
    /* The store's open creates an SQLite file 0600 and runs the migrations. */
    struct minica_store *ts = NULL;
    if ((ret = minica_store_open(target, &ts, err)) != 0) {
        if (created)
            remove_created(target);
        return ret;
    }
    struct minica_db *dst = minica_store_db(ts);
    struct copy_state *cs = calloc(1, sizeof(*cs));
    int sv = -1, tv = -1;
    if (cs == NULL)
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
    if (ret == 0 && minica_db_schema_version(src, &sv, err) != 0)
        ret = db_fail(src, err, "cannot read the schema version");
    if (ret == 0 && minica_db_schema_version(dst, &tv, err) != 0)
        ret = db_fail(dst, err, "cannot read the schema version");
    if (ret == 0 && sv != tv)
        ret =
            minica_seterr(err, MINICA_EDB, "%s has schema version %d and %s %d: nothing was copied",
                          minica_db_name(src), sv, minica_db_name(dst), tv);
    int src_open = 0, dst_open = 0;
    if (ret == 0 && (ret = source_begin(src, err)) == 0)
        src_open = 1;
    if (ret == 0 && (ret = target_begin(dst, err)) == 0)
        dst_open = 1;
    if (ret == 0)
        ret = copy_all(src, dst, cs, err);
    if (ret == 0) {
        dst_open = 0;
        if (minica_db_commit(dst, err) != 0) {
            ret = db_fail(dst, err, "cannot commit the copy");
            minica_db_rollback(dst);
        }
    }
    if (dst_open)
        minica_db_rollback(dst);
    if (src_open)
        minica_db_rollback(src);
    if (ret == 0 && cb != NULL)
        for (size_t k = 0; k < cs->src.n; k++)
            cb(&cs->result[k], ctx);
    free(cs);
    minica_store_close(ts);
    if (ret != 0 && created)
        remove_created(target);
    return ret;
}
