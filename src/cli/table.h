/* The tables of the read commands (list, token list, log): on a terminal,
 * columns as wide as their widest cell, optionally coloured; piped, the
 * fixed-width lines scripts already parse, unchanged. Not for JSON, which
 * never has colour. Also the one place that decides whether to colour. */
#ifndef MINICA_CLI_TABLE_H
#define MINICA_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

/* --color=WHEN */
enum cli_color_when { CLI_COLOR_AUTO, CLI_COLOR_ALWAYS, CLI_COLOR_NEVER };

/* "auto", "always" or "never", in any case. 0, or -1 for anything else. */
int cli_color_parse(const char *arg, enum cli_color_when *when);
/* Whether to colour: always and never say so; auto colours only a terminal
 * whose TERM is set and not "dumb", and only while NO_COLOR is unset or empty
 * (https://no-color.org: an explicit --color=always still wins). */
int cli_color_decide(enum cli_color_when when, int is_tty, const char *no_color, const char *term);
/* The same for stdout and this process's environment. */
int cli_color_stdout(enum cli_color_when when);

enum table_color { TABLE_PLAIN, TABLE_GREEN, TABLE_YELLOW, TABLE_RED, TABLE_DIM };

struct table_column {
    const char *header;
    /* Piped: the printf minimum width (in bytes, as printf counts) that the
     * line format has always had; 0 for the last column. */
    int width;
    int right; /* right-aligned (numbers) */
};

struct table {
    FILE *out;
    const struct table_column *cols;
    size_t n_cols;
    int aligned; /* widths from the cells, rows kept until table_end */
    int color;
    char **cells; /* aligned: n_rows * n_cols copies */
    enum table_color *colors;
    size_t n_rows, cap;
    int failed; /* out of memory while keeping a row */
};

/* aligned: a terminal (rows are kept and printed by table_end, so that
 * each column is as wide as its widest cell, in code points); else each
 * row is printed at once in the fixed widths. color: SGR codes around
 * coloured cells, never counted in a width. */
void table_init(struct table *t, FILE *out, const struct table_column *cols, size_t n_cols,
                int aligned, int color);
/* The row of headers. */
int table_header(struct table *t);
/* n_cols cells; colors is NULL or n_cols entries. 0, or -1 out of memory. */
int table_row(struct table *t, const char *const *cells, const enum table_color *colors);
/* A table on stdout: aligned when it is a terminal, coloured as
 * cli_color_stdout(when) says. */
void table_init_stdout(struct table *t, const struct table_column *cols, size_t n_cols,
                       enum cli_color_when when);
/* Prints the kept rows. 0, or -1 when a row could not be kept. */
int table_end(struct table *t);
/* Safe on a table that was only initialised. */
void table_free(struct table *t);

/* Display width of UTF-8 text: its code points. */
size_t table_text_width(const char *s);

#endif
