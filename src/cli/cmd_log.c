/* minica log: placeholder until its issue lands. */
#include "cli.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("log", "not implemented yet");
}

const struct cli_command cmd_log_def = {"log", run, "(not implemented yet)",
                                        "Usage: minica log\n\nNot implemented yet.\n"};
