/* Helpers shared by the cmocka unit tests: temp directories and a test CA. */
#ifndef MINICA_TESTUTIL_H
#define MINICA_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* mkdtemp under $TMPDIR; the path is malloc'd. */
char *tu_tempdir(void);
/* rm -rf */
void tu_rmtree(const char *path);
/* Creates a CA in a new temp dir (ec-p256 unless key_type says otherwise). */
char *tu_make_ca(void);
/* The same with explicit init options (e.g. a short intermediate TTL, name
 * constraints); aborts on failure. */
struct minica_init_options;
char *tu_make_ca_with(const struct minica_init_options *opts);
/* Removes a CA made by tu_make_ca* (and its temp parent) and frees the path. */
void tu_free_ca(char *cadir);
/* A cmocka fixture: a new CA, opened. tu_ca_setup puts a struct tu_ca in
 * *state; tu_ca_teardown closes it, removes the CA with its temp parent and
 * unsets MINICA_FAKE_NOW (tests that move the clock). */
struct minica_ca;
struct tu_ca {
    char *dir;
    struct minica_ca *ca;
};
int tu_ca_setup(void **state);
int tu_ca_teardown(void **state);
/* Replaces DIR/minica.conf with text (a [policy] section); on PostgreSQL
 * the CA's [store] database is kept. */
void tu_write_policy(const char *cadir, const char *text);
/* The inventory of a CA made by tu_make_ca*: DIR/minica.db, or with
 * MINICA_TEST_STORE=postgresql the URI of its own schema, which
 * tu_make_ca_with names in DIR/minica.conf. */
void tu_ca_target(const char *cadir, char *out, size_t size);

/* A PEM CSR with a fresh P-256 key for names (comma-separated; the first is
 * also the CN), as a client would send; break_signature flips a byte inside
 * the signature. Malloc'd; aborts on failure. */
char *tu_make_csr(const char *names_csv, int break_signature);

/* A whole file, malloc'd and NUL-terminated; aborts when it cannot be read. */
char *tu_slurp(const char *path);
/* The permission bits of path itself (lstat); all ones when it is missing. */
mode_t tu_mode_of(const char *path);
/* How many staging temp files (".NAME.tmp-XXXXXXXX") dir holds; each is
 * named on stderr. */
int tu_count_temp_files(const char *dir);

/* The store the store's tests open (test_store, test_store_acme). With
 * MINICA_TEST_STORE=postgresql (ctest's *_pg entries) it is a new, empty
 * schema of the pgcluster fixture's database, reached through a URI
 * whose search_path names it, so that every test starts from nothing and
 * forked racers reach the same tables; otherwise DIR/minica.db. */
int tu_store_is_pg(void);
/* The target of a new empty store into out; aborts, saying why, when
 * PostgreSQL is wanted and cannot be reached. */
void tu_store_target(const char *dir, char *out, size_t size);
/* Drops a PostgreSQL target's schema; nothing for SQLite (the caller
 * removes DIR). */
void tu_store_drop(const char *target);
/* The one integer sql returns, over a connection of its own. */
long long tu_store_query_int(const char *target, const char *sql);
/* The first column of sql's first row as a malloc'd string (NULL as ""),
 * over a connection of its own. */
char *tu_store_query_text(const char *target, const char *sql);
/* Statements without results (DDL: a trigger that injects a fault), over a
 * connection of its own; aborts on failure. */
void tu_store_exec(const char *target, const char *sql);

#endif
