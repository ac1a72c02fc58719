/* The test build's crash points: MINICA_TEST_CRASH_AT=SITE:STEP makes the
 * process kill itself with SIGKILL right after that step, as a power loss
 * there would leave the files. Linked into the unit tests and
 * minica-fakeclock in place of src/lib/base/crashpoint.c, never into the
 * installed binary. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/crashpoint.h"

void minica_crashpoint(const char *site, unsigned step)
{
    const char *at = getenv("MINICA_TEST_CRASH_AT");
    if (at == NULL)
        return;
    char want[128];
    snprintf(want, sizeof(want), "%s:%u", site, step);
    if (strcmp(at, want) == 0)
        kill(getpid(), SIGKILL);
}
