/* The installed minica's crash points: none. In a file of its own so that
 * the test build links tests/support/crashpoint_kill.c in its place. */
#include "base/crashpoint.h"

void minica_crashpoint(const char *site, unsigned step)
{
    (void)site;
    (void)step;
}
