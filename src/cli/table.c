/* Aligned tables for a terminal and the unchanged fixed-width lines for a
 * pipe (see table.h), plus the colour decision. It prints what it is
 * given: what a cell says and which colour it gets is the command's. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "table.h"

int cli_color_parse(const char *arg, enum cli_color_when *when)
{
    if (strcasecmp(arg, "auto") == 0)
        *when = CLI_COLOR_AUTO;
    else if (strcasecmp(arg, "always") == 0)
        *when = CLI_COLOR_ALWAYS;
    else if (strcasecmp(arg, "never") == 0)
        *when = CLI_COLOR_NEVER;
    else
        return -1;
    return 0;
}

int cli_color_decide(enum cli_color_when when, int is_tty, const char *no_color, const char *term)
{
    if (when != CLI_COLOR_AUTO)
        return when == CLI_COLOR_ALWAYS;
    if (!is_tty || (no_color != NULL && no_color[0] != '\0'))
        return 0;
    /* As git does: no TERM at all is no better than a dumb one. */
    return term != NULL && term[0] != '\0' && strcmp(term, "dumb") != 0;
}

int cli_color_stdout(enum cli_color_when when)
{
    return cli_color_decide(when, isatty(STDOUT_FILENO), getenv("NO_COLOR"), getenv("TERM"));
}

size_t table_text_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) /* not a continuation byte */
            n++;
    return n;
}

static const char *sgr(enum table_color c)
{
    switch (c) {
    case TABLE_GREEN:
        return "\033[32m";
    case TABLE_YELLOW:
        return "\033[33m";
    case TABLE_RED:
        return "\033[31m";
    case TABLE_DIM:
        return "\033[2m";
    case TABLE_PLAIN:
        break;
    }
    return NULL;
}

void table_init(struct table *t, FILE *out, const struct table_column *cols, size_t n_cols,
                int aligned, int color)
{
    memset(t, 0, sizeof(*t));
    t->out = out;
    t->cols = cols;
    t->n_cols = n_cols;
    t->aligned = aligned;
    t->color = color;
}

void table_init_stdout(struct table *t, const struct table_column *cols, size_t n_cols,
                       enum cli_color_when when)
{
    table_init(t, stdout, cols, n_cols, isatty(STDOUT_FILENO), cli_color_stdout(when));
}

static void put_spaces(FILE *out, size_t n)
{
    while (n-- > 0)
        fputc(' ', out);
}

static void put_cell(const struct table *t, const char *cell, enum table_color c)
{
    const char *on = t->color ? sgr(c) : NULL;
    if (on != NULL && cell[0] != '\0')
        fprintf(t->out, "%s%s\033[0m", on, cell);
    else
        fputs(cell, t->out);
}

/* The piped form: what printf("%-32s  %-30s  ...  %s\n") has always made,
 * padding counted in bytes, trailing spaces and all. */
static void print_fixed(const struct table *t, const char *const *cells,
                        const enum table_color *colors)
{
    for (size_t i = 0; i < t->n_cols; i++) {
        size_t len = strlen(cells[i]);
        size_t pad = t->cols[i].width > 0 && (size_t)t->cols[i].width > len
                         ? (size_t)t->cols[i].width - len
                         : 0;
        if (i > 0)
            fputs("  ", t->out);
        if (t->cols[i].right)
            put_spaces(t->out, pad);
        put_cell(t, cells[i], colors ? colors[i] : TABLE_PLAIN);
        if (!t->cols[i].right)
            put_spaces(t->out, pad);
    }
    fputc('\n', t->out);
}

/* The terminal form: each column as wide as its widest cell. Spaces are
 * only written before something visible, so no line ends in them. */
static void print_aligned(const struct table *t, const size_t *widths, char *const *cells,
                          const enum table_color *colors)
{
    size_t pending = 0;
    for (size_t i = 0; i < t->n_cols; i++) {
        size_t w = table_text_width(cells[i]);
        size_t pad = widths[i] > w ? widths[i] - w : 0;
        if (i > 0)
            pending += 2;
        if (t->cols[i].right)
            pending += pad;
        if (cells[i][0] != '\0') {
            put_spaces(t->out, pending);
            pending = 0;
            put_cell(t, cells[i], colors[i]);
        }
        if (!t->cols[i].right)
            pending += pad;
    }
    fputc('\n', t->out);
}

static int keep_row(struct table *t, const char *const *cells, const enum table_color *colors)
{
    if (t->n_rows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char **nc = realloc(t->cells, cap * t->n_cols * sizeof(*nc));
        if (nc == NULL)
            return -1;
        t->cells = nc;
        enum table_color *ncol = realloc(t->colors, cap * t->n_cols * sizeof(*ncol));
        if (ncol == NULL)
            return -1;
        t->colors = ncol;
        t->cap = cap;
    }
    char **row = t->cells + t->n_rows * t->n_cols;
    enum table_color *rc = t->colors + t->n_rows * t->n_cols;
    for (size_t i = 0; i < t->n_cols; i++) {
        if ((row[i] = strdup(cells[i])) == NULL) {
            while (i-- > 0)
                free(row[i]);
            return -1;
        }
        rc[i] = colors ? colors[i] : TABLE_PLAIN;
    }
    t->n_rows++;
    return 0;
}

int table_row(struct table *t, const char *const *cells, const enum table_color *colors)
{
    if (!t->aligned) {
        print_fixed(t, cells, colors);
        return 0;
    }
    if (keep_row(t, cells, colors) != 0) {
        t->failed = 1;
        return -1;
    }
    return 0;
}

int table_header(struct table *t)
{
    const char **cells = calloc(t->n_cols ? t->n_cols : 1, sizeof(*cells));
    if (cells == NULL) {
        t->failed = 1;
        return -1;
    }
    for (size_t i = 0; i < t->n_cols; i++)
        cells[i] = t->cols[i].header;
    int ret = table_row(t, cells, NULL);
    free(cells);
    return ret;
}

int table_end(struct table *t)
{
    if (!t->aligned || t->n_rows == 0)
        return t->failed ? -1 : 0;
    size_t *widths = calloc(t->n_cols, sizeof(*widths));
    if (widths == NULL)
        return -1;
    for (size_t r = 0; r < t->n_rows; r++)
        for (size_t i = 0; i < t->n_cols; i++) {
            size_t w = table_text_width(t->cells[r * t->n_cols + i]);
            if (w > widths[i])
                widths[i] = w;
        }
    for (size_t r = 0; r < t->n_rows; r++)
        print_aligned(t, widths, t->cells + r * t->n_cols, t->colors + r * t->n_cols);
    free(widths);
    return t->failed ? -1 : 0;
}

void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->colors);
    t->cells = NULL;
    t->colors = NULL;
    t->n_rows = t->cap = 0;
}
