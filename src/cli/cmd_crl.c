/* minica crl: placeholder until its issue lands. */
#include "cli.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("crl", "not implemented yet");
}

const struct cli_command cmd_crl_def = {"crl", run, "(not implemented yet)",
                                        "Usage: minica crl\n\nNot implemented yet.\n"};
