/* libFuzzer harness for minica.conf through the INI reader and the policy
 * rules: parsing never crashes, every refusal has a message, and an accepted
 * policy rendered back to text (what `minica init` writes) parses to the same policy. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minica/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t joined_len(const struct minica_policy *p)
{
    size_t dns = 0, ip = 0;
    for (size_t i = 0; i < p->n_permit_dns; i++)
        dns += strlen(p->permit_dns[i]) + 2;
    for (size_t i = 0; i < p->n_permit_ip; i++)
        ip += strlen(p->permit_ip[i].text) + 2;
    return dns > ip ? dns : ip;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = fuzz_cstr(data, size);
    struct minica_err err;
    struct minica_policy *policy = malloc(sizeof(*policy));
    struct minica_policy *again = malloc(sizeof(*again));
    FUZZ_ASSERT(policy != NULL && again != NULL);
    if (minica_policy_load_text(policy, "minica.conf", text, &err) == 0) {
        FUZZ_ASSERT(policy->default_ttl > 0 && policy->default_ttl <= policy->max_ttl);
        FUZZ_ASSERT(policy->n_permit_dns <= MINICA_POLICY_MAX_ENTRIES);
        FUZZ_ASSERT(policy->n_permit_ip <= MINICA_POLICY_MAX_ENTRIES);
        char *rendered = minica_policy_render(policy);
        FUZZ_ASSERT(rendered != NULL);
        /* Lists longer than one INI line are cut by render; the rest must round-trip. */
        if (joined_len(policy) < 8000) {
            FUZZ_ASSERT(minica_policy_load_text(again, "rendered", rendered, &err) == 0);
            FUZZ_ASSERT(again->n_permit_dns == policy->n_permit_dns);
            FUZZ_ASSERT(again->n_permit_ip == policy->n_permit_ip);
            FUZZ_ASSERT(again->allow_wildcards == policy->allow_wildcards);
            FUZZ_ASSERT(again->default_ttl == policy->default_ttl);
            FUZZ_ASSERT(again->max_ttl == policy->max_ttl);
            FUZZ_ASSERT(again->default_key_type == policy->default_key_type);
            for (size_t i = 0; i < policy->n_permit_dns; i++)
                FUZZ_ASSERT(strcmp(again->permit_dns[i], policy->permit_dns[i]) == 0);
        }
        free(rendered);
    } else {
        FUZZ_ASSERT(err.msg[0] != '\0');
    }
    free(again);
    free(policy);
    free(text);
    return 0;
}
