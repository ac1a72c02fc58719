/* The test build's clock: MINICA_FAKE_NOW (UNIX seconds) moves it, so tests
 * can check expiry and renewal decisions. Linked into the unit tests and
 * minica-fakeclock in place of src/lib/base/clock.c, never into the
 * installed binary (test_release_clock.sh checks that). */
#include <stdlib.h>
#include <time.h>

#include "base/util.h"

int64_t minica_now(void)
{
    const char *fake = getenv("MINICA_FAKE_NOW");
    if (fake != NULL && *fake != '\0') {
        char *end;
        long long v = strtoll(fake, &end, 10);
        if (*end == '\0')
            return (int64_t)v;
    }
    return (int64_t)time(NULL);
}
