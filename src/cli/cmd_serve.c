/* minica serve: placeholder until its issue lands. */
#include "cli.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("serve", "not implemented yet");
}

const struct cli_command cmd_serve_def = {"serve", run, "(not implemented yet)",
                                          "Usage: minica serve\n\nNot implemented yet.\n"};
