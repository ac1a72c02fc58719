/* libFuzzer harness for agent.conf (the renewal agent's INI file): parsing
 * never crashes or leaks, every refusal has a message, and what is accepted
 * respects the documented limits (key mode never wider than 0640). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "minica/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = fuzz_cstr(data, size);
    struct minica_agent_config cfg;
    struct minica_err err;
    minica_agent_config_init(&cfg);
    if (minica_agent_config_load(&cfg, "agent.conf", text, &err) == 0) {
        for (size_t i = 0; i < cfg.n_certs; i++) {
            FUZZ_ASSERT(cfg.certs[i].name[0] != '\0');
            FUZZ_ASSERT((cfg.certs[i].key_mode & ~(mode_t)0640) == 0);
        }
    } else {
        FUZZ_ASSERT(err.msg[0] != '\0');
    }
    minica_agent_config_free(&cfg);
    free(text);
    return 0;
}
