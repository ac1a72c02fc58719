/* libFuzzer harness for host names, IP addresses, DNS suffixes and CIDR
 * ranges: parsing never crashes, the canonical form parses to itself, and a
 * parsed name never contains what could escape an output directory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "minica/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct minica_err err;
    struct minica_name name, again;
    if (minica_name_parse(text, &name, &err) == 0) {
        FUZZ_ASSERT(strchr(name.text, '/') == NULL);
        FUZZ_ASSERT(strstr(name.text, "..") == NULL);
        FUZZ_ASSERT(strlen(name.text) <= MINICA_NAME_MAX);
        FUZZ_ASSERT(name.kind == MINICA_NAME_DNS || name.kind == MINICA_NAME_IP);
        if (name.kind == MINICA_NAME_IP)
            FUZZ_ASSERT(name.ip_len == 4 || name.ip_len == 16);
        FUZZ_ASSERT(minica_name_parse(name.text, &again, &err) == 0);
        FUZZ_ASSERT(strcmp(again.text, name.text) == 0);
        FUZZ_ASSERT(again.kind == name.kind && again.wildcard == name.wildcard);
    }

    struct minica_cidr cidr, cidr2;
    if (minica_cidr_parse(text, &cidr, &err) == 0) {
        FUZZ_ASSERT(cidr.addr_len == 4 || cidr.addr_len == 16);
        FUZZ_ASSERT(cidr.prefix <= cidr.addr_len * 8);
        FUZZ_ASSERT(minica_cidr_parse(cidr.text, &cidr2, &err) == 0);
        FUZZ_ASSERT(cidr2.prefix == cidr.prefix && cidr2.addr_len == cidr.addr_len);
        FUZZ_ASSERT(memcmp(cidr2.addr, cidr.addr, cidr.addr_len) == 0);
        /* A range contains its own base address. */
        FUZZ_ASSERT(minica_cidr_contains(&cidr, cidr.addr, cidr.addr_len) == 1);
    }

    char suffix[MINICA_NAME_MAX + 2];
    if (minica_dns_suffix_parse(text, suffix, sizeof(suffix), &err) == 0) {
        FUZZ_ASSERT(strchr(suffix, '/') == NULL);
        (void)minica_dns_suffix_matches(suffix, "a.b.internal.svc");
    }
    /* The input split at its first newline: suffix matching on arbitrary text. */
    char *nl = strchr(text, '\n');
    if (nl != NULL) {
        *nl = '\0';
        (void)minica_dns_suffix_matches(text, nl + 1);
    }
    free(text);
    return 0;
}
