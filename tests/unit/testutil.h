/* Helpers shared by the cmocka unit tests: temp directories and a test CA. */
#ifndef MINICA_TESTUTIL_H
#define MINICA_TESTUTIL_H

#include <stddef.h>

/* mkdtemp under $TMPDIR; the path is malloc'd. */
char *tu_tempdir(void);
/* rm -rf */
void tu_rmtree(const char *path);
/* Creates a CA in a new temp dir (ec-p256 unless key_type says otherwise). */
char *tu_make_ca(void);

#endif
