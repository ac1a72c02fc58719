/* minica revoke: placeholder until its issue lands. */
#include "cli.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("revoke", "not implemented yet");
}

const struct cli_command cmd_revoke_def = {"revoke", run, "(not implemented yet)",
                                           "Usage: minica revoke\n\nNot implemented yet.\n"};
