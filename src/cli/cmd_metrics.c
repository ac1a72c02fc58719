/* minica metrics: placeholder until its issue lands. */
#include "cli.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("metrics", "not implemented yet");
}

const struct cli_command cmd_metrics_def = {"metrics", run, "(not implemented yet)",
                                            "Usage: minica metrics\n\nNot implemented yet.\n"};
