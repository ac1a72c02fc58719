/* Helpers shared by the unit tests. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_csr.h>

#include "ca/x509.h"
#include "minica/ca.h"
#include "minica/der.h"
#include "minica/fsutil.h"
#include "minica/names.h"
#include "store/db.h"
#include "testutil.h"

char *tu_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof(tmpl), "%s/minica-unit.XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    if (dir == NULL)
        abort();
    char *copy = malloc(strlen(dir) + 1);
    if (copy == NULL)
        abort();
    strcpy(copy, dir);
    return copy;
}

void tu_rmtree(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
}

char *tu_make_ca(void)
{
    struct minica_init_options opts;
    memset(&opts, 0, sizeof(opts));
    return tu_make_ca_with(&opts);
}

void tu_free_ca(char *cadir)
{
    char conf[4200];
    snprintf(conf, sizeof(conf), "%s/minica.conf", cadir);
    if (tu_store_is_pg() && access(conf, R_OK) == 0) {
        char target[2048];
        tu_ca_target(cadir, target, sizeof(target));
        tu_store_drop(target);
    }
    char *slash = strrchr(cadir, '/');
    if (slash != NULL && strcmp(slash, "/ca") == 0)
        *slash = '\0';
    tu_rmtree(cadir);
    free(cadir);
}

int tu_ca_setup(void **state)
{
    struct tu_ca *f = calloc(1, sizeof(*f));
    struct minica_err err;
    if (f == NULL)
        return -1;
    f->dir = tu_make_ca();
    if (minica_ca_open(f->dir, &f->ca, &err) != 0) {
        fprintf(stderr, "tu_ca_setup: %s\n", err.msg);
        tu_free_ca(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

int tu_ca_teardown(void **state)
{
    struct tu_ca *f = *state;
    unsetenv("MINICA_FAKE_NOW");
    minica_ca_close(f->ca);
    tu_free_ca(f->dir);
    free(f);
    return 0;
}

void tu_write_policy(const char *cadir, const char *text)
{
    char path[4200], target[2048] = "";
    /* On PostgreSQL the CA's inventory is named in its minica.conf (see
     * tu_make_ca_with): a new policy keeps it. */
    if (tu_store_is_pg())
        tu_ca_target(cadir, target, sizeof(target));
    snprintf(path, sizeof(path), "%s/minica.conf", cadir);
    FILE *fp = fopen(path, "w");
    if (fp == NULL || fputs(text, fp) < 0)
        abort();
    if (target[0] != '\0' && fprintf(fp, "\n[store]\ndatabase = %s\n", target) < 0)
        abort();
    if (fclose(fp) != 0)
        abort();
}

#define CONF_DATABASE "database = "

void tu_ca_target(const char *cadir, char *out, size_t size)
{
    if (!tu_store_is_pg()) {
        snprintf(out, size, "%s/minica.db", cadir);
        return;
    }
    char path[4200];
    snprintf(path, sizeof(path), "%s/minica.conf", cadir);
    FILE *f = fopen(path, "r");
    char line[4200];
    int found = 0;
    while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL)
        found = strncmp(line, CONF_DATABASE "postgresql://", strlen(CONF_DATABASE) + 13) == 0;
    if (f != NULL)
        fclose(f);
    if (!found) {
        fprintf(stderr, "%s: no [store] database (not made by tu_make_ca?)\n", path);
        abort();
    }
    snprintf(out, size, "%.*s", (int)strcspn(line + strlen(CONF_DATABASE), "\n"),
             line + strlen(CONF_DATABASE));
}

char *tu_make_ca_with(const struct minica_init_options *opts)
{
    char *dir = tu_tempdir();
    char cadir[4200];
    snprintf(cadir, sizeof(cadir), "%s/ca", dir);
    struct minica_err err;
    /* On PostgreSQL each CA gets a schema of its own, made through MINICA_DB
     * and then named in its minica.conf, so that every later open of the
     * directory (the CA, serve, the agent's local issuer) finds it. */
    char target[2048] = "";
    if (tu_store_is_pg()) {
        tu_store_target(dir, target, sizeof(target));
        if (setenv("MINICA_DB", target, 1) != 0)
            abort();
    }
    int ret = minica_ca_init(cadir, opts, &err);
    if (target[0] != '\0')
        unsetenv("MINICA_DB");
    if (ret != 0) {
        fprintf(stderr, "tu_make_ca: %s\n", err.msg);
        abort();
    }
    if (target[0] != '\0') {
        char path[4200];
        snprintf(path, sizeof(path), "%s/minica.conf", cadir);
        FILE *fp = fopen(path, "a");
        if (fp == NULL || fprintf(fp, "\n[store]\ndatabase = %s\n", target) < 0 || fclose(fp) != 0)
            abort();
    }
    free(dir);
    char *out = malloc(strlen(cadir) + 1);
    if (out == NULL)
        abort();
    strcpy(out, cadir);
    return out;
}

/* See testutil.h. */
char *tu_make_csr(const char *names_csv, int break_signature)
{
    struct minica_rng rng;
    struct minica_err err;
    if ((minica_rng_init(&rng, &err)) != 0)
        abort();
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    if ((minica_key_generate(&pk, MINICA_KEY_EC_P256, &rng, &err)) != 0)
        abort();
    struct minica_name names[8];
    size_t n = 0;
    char copy[512], *save = NULL;
    snprintf(copy, sizeof(copy), "%s", names_csv);
    for (char *t = strtok_r(copy, ",", &save); t && n < 8; t = strtok_r(NULL, ",", &save))
        if (minica_name_parse(t, &names[n++], &err) != 0)
            abort();
    mbedtls_x509write_csr csr;
    mbedtls_x509write_csr_init(&csr);
    mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&csr, &pk);
    char subject[300];
    snprintf(subject, sizeof(subject), "CN=%s", names[0].text);
    if ((mbedtls_x509write_csr_set_subject_name(&csr, subject)) != 0)
        abort();
    unsigned char ext[2048], *der = NULL;
    size_t len = 0;
    if ((minica_der_san(names, n, ext, sizeof(ext), &der, &len, &err)) != 0)
        abort();
    if (minica_compat_csr_set_extension(&csr, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), der,
                                        len) != 0)
        abort();
    unsigned char buf[4096];
    int dlen =
        mbedtls_x509write_csr_der(&csr, buf, sizeof(buf), mbedtls_ctr_drbg_random, &rng.drbg);
    if (dlen <= 0)
        abort();
    unsigned char *start = buf + sizeof(buf) - dlen;
    if (break_signature)
        start[dlen - 3] ^= 0x55; /* inside the signature's INTEGERs */
    char *pem = NULL;
    if ((minica_der_to_pem(start, (size_t)dlen, "CERTIFICATE REQUEST", &pem, &err)) != 0)
        abort();
    mbedtls_x509write_csr_free(&csr);
    mbedtls_pk_free(&pk);
    minica_rng_free(&rng);
    return pem;
}

char *tu_slurp(const char *path)
{
    char *buf = NULL;
    struct minica_err err;
    if (minica_read_file(path, 1 << 20, &buf, NULL, &err) != 0) {
        fprintf(stderr, "tu_slurp: %s\n", err.msg);
        abort();
    }
    return buf;
}

mode_t tu_mode_of(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return (mode_t)07777;
    return st.st_mode & 07777;
}

int tu_count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        abort();
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".tmp-") != NULL) {
            fprintf(stderr, "leftover temp file %s/%s\n", dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

int tu_store_is_pg(void)
{
    const char *kind = getenv("MINICA_TEST_STORE");
    return kind != NULL && strcmp(kind, "postgresql") == 0;
}

#define PG_HINT "install postgresql (scripts/install-deps --test)"

/* The fixture cluster's URI, from MINICA_TEST_PG_URI or the file
 * MINICA_TEST_PG_URI_FILE names (tests/CMakeLists.txt). */
static void pg_base_uri(char *out, size_t size)
{
    const char *env = getenv("MINICA_TEST_PG_URI");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, size, "%s", env);
        return;
    }
    const char *file = getenv("MINICA_TEST_PG_URI_FILE");
    FILE *f = file != NULL ? fopen(file, "r") : NULL;
    if (f == NULL || fgets(out, (int)size, f) == NULL) {
        fprintf(stderr,
                "MINICA_TEST_STORE=postgresql: no URI in MINICA_TEST_PG_URI or the file "
                "MINICA_TEST_PG_URI_FILE names (%s): run through ctest, whose pgcluster fixture "
                "starts PostgreSQL, or " PG_HINT "\n",
                file != NULL ? file : "unset");
        abort();
    }
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

#define SEARCH_PATH "options=-csearch_path%3D"

static void pg_run(const char *uri, const char *sql)
{
    struct minica_db *db;
    struct minica_err err;
    if (minica_db_open(uri, &db, &err) != 0) {
        fprintf(stderr, "%s (" PG_HINT ")\n", err.msg);
        abort();
    }
    if (minica_db_exec(db, sql, &err) != 0) {
        fprintf(stderr, "%s: %s\n", sql, err.msg);
        abort();
    }
    minica_db_close(db);
}

void tu_store_target(const char *dir, char *out, size_t size)
{
    if (!tu_store_is_pg()) {
        snprintf(out, size, "%s/minica.db", dir);
        return;
    }
    static unsigned n;
    char base[2048], schema[64], sql[256];
    pg_base_uri(base, sizeof(base));
    /* Unique across the processes that share the cluster (test_db too). */
    snprintf(schema, sizeof(schema), "unit_%ld_%u", (long)getpid(), n++);
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema,
             schema);
    pg_run(base, sql);
    snprintf(out, size, "%s%c%s%s", base, strchr(base, '?') != NULL ? '&' : '?', SEARCH_PATH,
             schema);
}

void tu_store_drop(const char *target)
{
    const char *opt = strstr(target, SEARCH_PATH);
    if (opt == NULL || opt == target)
        return;
    char base[2048], sql[256];
    snprintf(base, sizeof(base), "%.*s", (int)(opt - 1 - target), target);
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", opt + strlen(SEARCH_PATH));
    pg_run(base, sql);
}

long long tu_store_query_int(const char *target, const char *sql)
{
    struct minica_db *db;
    struct minica_db_stmt *st;
    struct minica_err err = {{0}};
    if (minica_db_open(target, &db, &err) != 0 || minica_db_prepare(db, sql, &st, &err) != 0 ||
        minica_db_step(st, &err) != MINICA_DB_ROW) {
        fprintf(stderr, "%s: %s\n", sql, err.msg);
        abort();
    }
    long long v = (long long)minica_db_column_int64(st, 0);
    minica_db_finalize(st);
    minica_db_close(db);
    return v;
}

void tu_store_exec(const char *target, const char *sql)
{
    struct minica_db *db;
    struct minica_err err = {{0}};
    if (minica_db_open(target, &db, &err) != 0 || minica_db_exec(db, sql, &err) != 0) {
        fprintf(stderr, "%s: %s\n", sql, err.msg);
        abort();
    }
    minica_db_close(db);
}

char *tu_store_query_text(const char *target, const char *sql)
{
    struct minica_db *db;
    struct minica_db_stmt *st;
    struct minica_err err = {{0}};
    if (minica_db_open(target, &db, &err) != 0 || minica_db_prepare(db, sql, &st, &err) != 0 ||
        minica_db_step(st, &err) != MINICA_DB_ROW) {
        fprintf(stderr, "%s: %s\n", sql, err.msg);
        abort();
    }
    const char *v = minica_db_column_text(st, 0);
    char *out = malloc(strlen(v != NULL ? v : "") + 1);
    if (out == NULL)
        abort();
    strcpy(out, v != NULL ? v : "");
    minica_db_finalize(st);
    minica_db_close(db);
    return out;
}
