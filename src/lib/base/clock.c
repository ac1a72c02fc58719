/* The CA's one clock. Alone in its file so that the test build can link
 * tests/support/fake_clock.c in its place: a release binary has no way to
 * be told another time (notBefore, expiry checks, token expiry, audit). */
#include <time.h>

#include "base/util.h"

int64_t minica_now(void)
{
    return (int64_t)time(NULL);
}
