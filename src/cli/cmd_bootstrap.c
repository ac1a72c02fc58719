/* minica bootstrap: placeholder until its issue lands. */
#include "cli.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("bootstrap", "not implemented yet");
}

const struct cli_command cmd_bootstrap_def = {"bootstrap", run, "(not implemented yet)",
                                              "Usage: minica bootstrap\n\nNot implemented yet.\n"};
