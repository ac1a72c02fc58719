/* The warning `list --expiring` and `agent status` give once the CA's
 * active intermediate has less than max_ttl left: from then on every
 * renewal comes out shorter than asked, and they all fall due together. */
#ifndef MINICA_CLI_CA_WARN_H
#define MINICA_CLI_CA_WARN_H

#include <stddef.h>
#include <stdint.h>

/* Prints "minica: CMD: warning: ..." (one line) and returns 1 when the CA
 * in dir has that problem at now; 0 otherwise, and when dir holds no CA
 * that opens (list reads an inventory alone; ca status reports why).
 * line gets the warning without its prefix. */
int cli_warn_short_intermediate(const char *cmd, const char *dir, int64_t now, char *line,
                                size_t linelen);

#endif
