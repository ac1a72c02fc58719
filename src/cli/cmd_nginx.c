/* minica nginx: placeholder until its issue lands. */
#include "cli.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("nginx", "not implemented yet");
}

const struct cli_command cmd_nginx_def = {"nginx", run, "(not implemented yet)",
                                          "Usage: minica nginx\n\nNot implemented yet.\n"};
