/* minica completion bash|zsh|fish: shell completion generated from the
 * command table, so it cannot fall behind the commands. Each command's
 * options are the --words of its help text, its subcommands the words
 * after "minica NAME" in its Usage lines; an option written "--opt ARG"
 * takes a value, which the shells complete as a file name. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_WORDS 64
#define WORD_MAX 40

struct words {
    char w[MAX_WORDS][WORD_MAX];
    int takes_value[MAX_WORDS];
    size_t n;
};

static void add_word(struct words *ws, const char *p, size_t len, int takes_value)
{
    if (len == 0 || len >= WORD_MAX)
        return;
    for (size_t i = 0; i < ws->n; i++)
        if (strlen(ws->w[i]) == len && memcmp(ws->w[i], p, len) == 0) {
            ws->takes_value[i] |= takes_value;
            return;
        }
    if (ws->n == MAX_WORDS)
        return;
    memcpy(ws->w[ws->n], p, len);
    ws->w[ws->n][len] = '\0';
    ws->takes_value[ws->n++] = takes_value;
}

/* One --word at p: added, and whether "--out DIR" (or "--out=DIR") says
 * it takes a value. Returns where the word ends. */
static const char *option_at(const char *p, struct words *ws)
{
    const char *s = p + 2, *e = s;
    while (islower((unsigned char)*e) || isdigit((unsigned char)*e) || *e == '-')
        e++;
    int value = (*e == ' ' || *e == '=') && isupper((unsigned char)e[1]);
    if (e > s && islower((unsigned char)*s))
        add_word(ws, p, (size_t)(e - p), value);
    return e;
}

/* The options a command documents: those of its Usage lines (up to the
 * first blank line) and those that start a line of its option list; a
 * --word in prose ("cmake --install") is not one of them. */
static void options_of(const struct cli_command *c, struct words *ws)
{
    add_word(ws, "--help", 6, 0);
    const char *usage_end = strstr(c->help, "\n\n");
    for (const char *line = c->help; *line;) {
        const char *end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        const char *p = line;
        while (*p == ' ')
            p++;
        if (usage_end != NULL && line < usage_end) {
            for (p = line; p < end && (p = strstr(p, "--")) != NULL && p < end;)
                p = option_at(p, ws);
        } else if (p[0] == '-' && p[1] == '-') {
            option_at(p, ws);
        }
        line = *end ? end + 1 : end;
    }
}

/* The words after "minica NAME " in the Usage lines: "status", or each of
 * "root|intermediate|chain". */
static void subcommands_of(const struct cli_command *c, struct words *ws)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "minica %s ", c->name);
    size_t pl = strlen(prefix);
    for (const char *p = c->help; (p = strstr(p, prefix)) != NULL; p += pl) {
        const char *s = p + pl;
        while (*s && *s != ' ' && *s != '\n' && *s != '[') {
            const char *e = s;
            while (islower((unsigned char)*e) || (e > s && *e == '-'))
                e++;
            if (e > s && (*e == '|' || *e == ' ' || *e == '\n' || *e == '\0'))
                add_word(ws, s, (size_t)(e - s), 0);
            if (*e != '|')
                break;
            s = e + 1;
        }
    }
}

static void print_list(const struct words *ws, int values)
{
    int first = 1;
    for (size_t i = 0; i < ws->n; i++) {
        if (values >= 0 && ws->takes_value[i] != values)
            continue;
        printf("%s%s", first ? "" : " ", ws->w[i]);
        first = 0;
    }
}

static void bash(const struct cli_command *const *cmds, size_t n)
{
    printf("# bash completion for minica (minica completion bash)\n"
           "_minica() {\n"
           "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
           "    local opts='' valued='' subs=''\n"
           "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
           "        COMPREPLY=($(compgen -W '");
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? " " : "", cmds[i]->name);
    printf("' -- \"$cur\"))\n"
           "        return\n"
           "    fi\n"
           "    case ${COMP_WORDS[1]} in\n");
    for (size_t i = 0; i < n; i++) {
        struct words opts = {0}, subs = {0};
        options_of(cmds[i], &opts);
        subcommands_of(cmds[i], &subs);
        printf("    %s) opts='", cmds[i]->name);
        print_list(&opts, -1);
        printf("' valued='");
        print_list(&opts, 1);
        printf("' subs='");
        print_list(&subs, -1);
        printf("' ;;\n");
    }
    printf("    esac\n"
           "    # An option's value: a file or directory name (complete -o default).\n"
           "    case \" $valued \" in *\" $prev \"*) COMPREPLY=(); return ;; esac\n"
           "    if [ \"$COMP_CWORD\" -eq 2 ] && [ -n \"$subs\" ] && [[ $cur != -* ]]; then\n"
           "        COMPREPLY=($(compgen -W \"$subs\" -- \"$cur\"))\n"
           "        return\n"
           "    fi\n"
           "    if [[ $cur == -* ]]; then\n"
           "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
           "    fi\n"
           "}\n"
           "complete -o default -F _minica minica\n");
}

static void fish_quote(const char *s)
{
    putchar('\'');
    for (; *s; s++) {
        if (*s == '\'' || *s == '\\')
            putchar('\\');
        putchar(*s);
    }
    putchar('\'');
}

static void fish(const struct cli_command *const *cmds, size_t n)
{
    printf("# fish completion for minica (minica completion fish)\n"
           "complete -c minica -f\n");
    for (size_t i = 0; i < n; i++) {
        printf("complete -c minica -n __fish_use_subcommand -a %s -d ", cmds[i]->name);
        fish_quote(cmds[i]->summary);
        putchar('\n');
        struct words opts = {0}, subs = {0};
        options_of(cmds[i], &opts);
        subcommands_of(cmds[i], &subs);
        for (size_t j = 0; j < subs.n; j++)
            printf("complete -c minica -n '__fish_seen_subcommand_from %s' -a %s\n", cmds[i]->name,
                   subs.w[j]);
        for (size_t j = 0; j < opts.n; j++)
            printf("complete -c minica -n '__fish_seen_subcommand_from %s' -l %s%s\n",
                   cmds[i]->name, opts.w[j] + 2, opts.takes_value[j] ? " -r -F" : "");
    }
}

static int run(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return cli_help("completion", stdout);
    if (argc != 2)
        return cli_usage("completion", "expected one shell: bash, zsh or fish");
    size_t n;
    const struct cli_command *const *cmds = cli_commands(&n);
    if (strcmp(argv[1], "bash") == 0) {
        bash(cmds, n);
    } else if (strcmp(argv[1], "zsh") == 0) {
        /* zsh runs the bash function through its bashcompinit. */
        printf("#compdef minica\n"
               "autoload -U +X bashcompinit && bashcompinit\n");
        bash(cmds, n);
    } else if (strcmp(argv[1], "fish") == 0) {
        fish(cmds, n);
    } else {
        return cli_usage("completion", "unknown shell '%s' (use bash, zsh or fish)", argv[1]);
    }
    if (fflush(stdout) != 0)
        return cli_fail("completion", "cannot write to standard output");
    return EXIT_OK;
}

const struct cli_command cmd_completion_def = {
    "completion", run, "print shell completion (bash, zsh, fish)",
    "Usage: minica completion bash|zsh|fish\n"
    "\n"
    "Prints the completion script for the shell, made from minica's own\n"
    "command table: commands, their subcommands and options, and file names\n"
    "for an option's value. cmake --install puts them where the shells look:\n"
    "  bash  share/bash-completion/completions/minica\n"
    "  zsh   share/zsh/vendor-completions/_minica\n"
    "  fish  share/fish/vendor_completions.d/minica.fish\n"
    "By hand: minica completion bash > ~/.local/share/bash-completion/completions/minica\n"};
