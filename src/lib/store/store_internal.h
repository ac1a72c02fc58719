/* What the store shows its own tests and its other modules, nothing else:
 * the query plan of an inventory lookup, so a test can prove that a lookup
 * by name is an indexed search and not a scan (not part of store.h: another
 * backend has its own planner and its own way to show it), and the
 * connection under a store, for copy.c's statements. */
#ifndef MINICA_STORE_INTERNAL_H
#define MINICA_STORE_INTERNAL_H

#include <stddef.h>

#include "minica/store.h"
#include "store/db.h"

/* SQLite's EXPLAIN QUERY PLAN for the statement minica_store_list_certs
 * runs with filter: one line per step ("SEARCH n USING COVERING INDEX ..."). */
int minica_store_list_plan(struct minica_store *store, const struct minica_cert_filter *filter,
                           char *out, size_t outlen, struct minica_err *err);

/* The store's connection, for SQL of the store layer outside store.c
 * (copy.c reads the catalog and copies whole tables). */
struct minica_db *minica_store_db(struct minica_store *store);

#endif
