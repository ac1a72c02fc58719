/* Presentation shared by the read commands: JSON objects for certificates
 * and issuance results, the list table. */
#ifndef MINICA_CLI_OUTPUT_H
#define MINICA_CLI_OUTPUT_H

#include <cjson/cJSON.h>

#include "minica/issue.h"
#include "minica/store.h"
#include "table.h"

cJSON *cli_json_cert_row(const struct minica_cert_row *row, int64_t now);
cJSON *cli_json_issued(const struct minica_issued *issued, const struct minica_output_paths *paths);
/* Splits "a,b" into a JSON array. */
cJSON *cli_json_sans(const char *sans);
/* The colour of a status word of list and token list: valid green,
 * revoked and expired red, superseded and used dim, anything else none. */
enum table_color cli_status_color(const char *status);
/* Prints and frees. */
void cli_print_json(cJSON *json);

#endif
