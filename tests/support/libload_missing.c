/* The test build's libload seam: MINICA_TEST_MISSING_LIB names the start
 * of a soname ("libmicrohttpd", "libgnutls", "libcurl"), and that library
 * then fails to load as one that is not installed does, so the "install
 * the ... package" errors can be tested. Linked into the unit tests and
 * minica-fakeclock in place of src/lib/base/libload_path.c, never into the
 * installed binary. */
#include <stdlib.h>
#include <string.h>

#include "base/libload.h"

const char *minica_libload_path(const char *soname)
{
    const char *missing = getenv("MINICA_TEST_MISSING_LIB");
    if (missing != NULL && *missing != '\0' && strncmp(soname, missing, strlen(missing)) == 0)
        return "libminica-test-not-installed.so.0";
    return soname;
}
