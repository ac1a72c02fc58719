/* minica token: placeholder until its issue lands. */
#include "cli.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("token", "not implemented yet");
}

const struct cli_command cmd_token_def = {"token", run, "(not implemented yet)",
                                          "Usage: minica token\n\nNot implemented yet.\n"};
