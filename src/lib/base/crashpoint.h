/* Points between two renames where a crash leaves files half replaced. The
 * installed minica does nothing there; the test build (tests/support/
 * crashpoint_kill.c) may kill itself there, so that the tests can make each
 * of those crashes happen instead of hoping a random SIGKILL lands there. */
#ifndef MINICA_BASE_CRASHPOINT_H
#define MINICA_BASE_CRASHPOINT_H

/* Called after step (1, 2, ...) of site: "issue-deliver" (minica issue's
 * renames), "agent-replace" (the agent's renames of new files) and
 * "agent-restore" (its renames of NAME.prev back). */
void minica_crashpoint(const char *site, unsigned step);

#endif
