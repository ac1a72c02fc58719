/* Which file libload.c opens for a soname: the soname itself. In a file of
 * its own so that the test build links tests/support/libload_missing.c in
 * its place (a library made to look uninstalled, for the tests of the
 * missing-library errors); the installed minica has only this. */
#include "base/libload.h"

const char *minica_libload_path(const char *soname)
{
    return soname;
}
