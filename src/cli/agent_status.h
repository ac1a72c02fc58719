/* `minica agent status`: a subcommand of `minica agent`, dispatched from
 * cmd_agent.c. Only parsing and printing; the facts come from libminica. */
#ifndef MINICA_CLI_AGENT_STATUS_H
#define MINICA_CLI_AGENT_STATUS_H

/* argv[0] is the prefix getopt uses ("minica: agent"), argv[1] the first option. */
int cli_agent_status(int argc, char **argv);

#endif
