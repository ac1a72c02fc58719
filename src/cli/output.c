/* JSON and table output for certificates. Field names are a stable interface:
 * scripts and monitoring read them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minica/duration.h"
#include "output.h"

cJSON *cli_json_sans(const char *sans)
{
    cJSON *arr = cJSON_CreateArray();
    char copy[MINICA_SANS_MAX];
    snprintf(copy, sizeof(copy), "%s", sans);
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        cJSON_AddItemToArray(arr, cJSON_CreateString(t));
    return arr;
}

static void add_time(cJSON *o, const char *key, int64_t t)
{
    char buf[32];
    minica_time_rfc3339(t, buf);
    cJSON_AddStringToObject(o, key, buf);
}

cJSON *cli_json_cert_row(const struct minica_cert_row *row, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "serial", row->serial);
    cJSON_AddStringToObject(o, "name", row->name);
    cJSON_AddItemToObject(o, "sans", cli_json_sans(row->sans));
    cJSON_AddStringToObject(o, "usage", row->usage);
    cJSON_AddStringToObject(o, "key_type", row->key_type);
    add_time(o, "not_before", row->not_before);
    add_time(o, "not_after", row->not_after);
    cJSON_AddStringToObject(o, "status", minica_cert_status_name(minica_cert_row_status(row, now)));
    if (row->revoked_at) {
        add_time(o, "revoked_at", row->revoked_at);
        cJSON_AddNumberToObject(o, "revoke_reason", row->revoke_reason);
    }
    cJSON_AddStringToObject(o, "fingerprint_sha256", row->fingerprint_sha256);
    return o;
}

cJSON *cli_json_issued(const struct minica_issued *issued, const struct minica_output_paths *paths)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "serial", issued->serial);
    cJSON_AddStringToObject(o, "name", issued->name);
    cJSON_AddItemToObject(o, "sans", cli_json_sans(issued->sans));
    cJSON_AddStringToObject(o, "usage", minica_usage_name(issued->usage));
    cJSON_AddStringToObject(o, "key_type", minica_key_type_name(issued->key_type));
    add_time(o, "not_before", issued->not_before);
    add_time(o, "not_after", issued->not_after);
    cJSON_AddStringToObject(o, "fingerprint_sha256", issued->fingerprint_sha256);
    if (paths != NULL) {
        cJSON *files = cJSON_AddObjectToObject(o, "files");
        cJSON_AddStringToObject(files, "cert", paths->cert);
        if (issued->key_pem != NULL)
            cJSON_AddStringToObject(files, "key", paths->key);
        cJSON_AddStringToObject(files, "fullchain", paths->fullchain);
        cJSON_AddStringToObject(files, "ca", paths->ca);
    }
    return o;
}

enum table_color cli_status_color(const char *status)
{
    if (strcmp(status, "valid") == 0)
        return TABLE_GREEN;
    if (strcmp(status, "revoked") == 0 || strcmp(status, "expired") == 0)
        return TABLE_RED;
    if (strcmp(status, "superseded") == 0 || strcmp(status, "used") == 0)
        return TABLE_DIM;
    return TABLE_PLAIN;
}

void cli_print_json(cJSON *json)
{
    char *text = cJSON_Print(json);
    if (text != NULL) {
        puts(text);
        free(text);
    }
    cJSON_Delete(json);
}
