/* Copying a whole inventory into a new one, on either backend: `minica db
 * migrate`, SQLite to PostgreSQL and back. Every table the catalog shows is
 * copied, so a table a later migration adds travels without a change here;
 * the copy is verified before it is committed. */
#ifndef MINICA_STORE_COPY_H
#define MINICA_STORE_COPY_H

#include <stdint.h>

#include "minica/error.h"
#include "minica/store.h"

/* One copied table, as verified on both sides. sha256 is over the table's
 * rows, each row hashed from its values as text (NULL apart) and the row
 * hashes sorted, so neither the row order nor a collation can change it. */
struct minica_store_copy_table {
    char name[64];
    int64_t rows;
    char sha256[65];
};
typedef void (*minica_store_copy_cb)(const struct minica_store_copy_table *table, void *ctx);

/* Copies every row of source (open, hence at the current schema) into
 * target: a postgresql:// URI or an SQLite file path. The target is
 * migrated first and must then hold no row in any table: an SQLite path
 * must be missing (it is created 0600) or an empty file; a PostgreSQL
 * database (its current schema) must have no rows and no table minica
 * does not make. All of it is one transaction on the target, committed
 * only when every table's row count and checksum match the source's, so a
 * failure leaves the target empty (an SQLite file it created is removed).
 * Identity columns continue after the copied ids. cb, if set, is called
 * once per table after the commit, in name order. MINICA_EEXIST for a
 * target that is not empty, MINICA_EDB for a differing schema or a copy
 * that does not verify. Stop every writer of source first: rows written
 * to it during the copy are not in the target. */
int minica_store_copy(struct minica_store *source, const char *target, minica_store_copy_cb cb,
                      void *ctx, struct minica_err *err);

#endif
