/* minica agent: placeholder until its issue lands. */
#include "cli.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("agent", "not implemented yet");
}

const struct cli_command cmd_agent_def = {"agent", run, "(not implemented yet)",
                                          "Usage: minica agent\n\nNot implemented yet.\n"};
