/* Prometheus text exposition of certificate expiry (inventory and managed
 * files) and the agent's counters, for node_exporter's textfile collector.
 * Rendering only; the CLI writes it (atomically) or prints it. */
#ifndef MINICA_METRICS_H
#define MINICA_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "minica/agent.h"
#include "minica/error.h"

/* flags: also one series per valid certificate's serial. */
#define MINICA_METRICS_SERIALS 0x1

/* Renders the metrics into *out (malloc'd, NUL-terminated), in time
 * linear in the inventory:
 *   minica_cert_not_after_seconds{name}   one per name, sorted: for a name
 *       of cfg whose files are readable, its deployed certificate's expiry;
 *       otherwise the latest among the name's valid certificates in the
 *       inventory of state_dir (NULL: no inventory). A renewal extends it
 *       instead of starting another series;
 *   minica_cert_serial_not_after_seconds{name,serial}   with
 *       MINICA_METRICS_SERIALS, per valid certificate (once per serial);
 *   minica_ca_cert_not_after_seconds{role,serial,active} and
 *   minica_ca_cert_unexpired_leaves{role,serial,active} per current CA
 *       certificate of state_dir, minica_ca_max_ttl_seconds and
 *       minica_ca_health (0, 3, 4: enum minica_ca_health), when state_dir
 *       holds a CA;
 *   minica_agent_last_run_timestamp_seconds, _last_success_timestamp_seconds,
 *   minica_agent_renewals_total, minica_agent_failures_total from cfg's
 *       status file (cfg NULL: no agent metrics). */
int minica_metrics_render(const char *state_dir, const struct minica_agent_config *cfg, int64_t now,
                          unsigned flags, char **out, size_t *len, struct minica_err *err);

#endif
