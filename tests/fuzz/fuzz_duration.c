/* libFuzzer harness for durations ("90d", "1d12h"): parsing never crashes,
 * accepted values are in range, and formatting then re-parsing (spaces
 * removed) gives the same number of seconds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minica/duration.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct minica_err err;
    int64_t seconds = 0;
    if (minica_duration_parse(text, &seconds, &err) == 0) {
        FUZZ_ASSERT(seconds > 0);
        FUZZ_ASSERT(seconds <= 1000 * 365 * 86400LL);
        char formatted[128], compact[128];
        minica_duration_format(seconds, formatted, sizeof(formatted));
        size_t j = 0;
        for (size_t i = 0; formatted[i] != '\0'; i++)
            if (formatted[i] != ' ')
                compact[j++] = formatted[i];
        compact[j] = '\0';
        int64_t again = 0;
        FUZZ_ASSERT(minica_duration_parse(compact, &again, &err) == 0);
        FUZZ_ASSERT(again == seconds);
    } else {
        FUZZ_ASSERT(err.msg[0] != '\0');
    }
    free(text);
    return 0;
}
