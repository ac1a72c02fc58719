#!/bin/bash
# minica metrics (Prometheus text for node_exporter's textfile collector) and
# list --expiring as a monitoring probe: values checked against openssl and
# the agent's own runs.
source "$SRCDIR/tests/integration/lib/common.sh"

run "$MINICA" init --dir "$T/ca"
expect_ok "init"
mkdir -p "$T/out" "$T/managed"

# list --expiring: 0 while nothing is in the window, 1 once something is.
run "$MINICA" issue long.svc --ttl 90d --out "$T/out" --dir "$T/ca"
expect_ok "issue a 90d cert"
run "$MINICA" list --expiring 30d --dir "$T/ca"
expect_rc 0 "list --expiring 30d with only a 90d cert"
run "$MINICA" issue short.svc --ttl 10d --out "$T/out" --dir "$T/ca"
expect_ok "issue a 10d cert"
run "$MINICA" list --expiring 30d --dir "$T/ca"
expect_rc 1 "list --expiring 30d with a 10d cert"
expect_out "short.svc" "the expiring cert is listed"
if printf '%s' "$OUT" | grep -q long.svc; then fail "the 90d cert is listed as expiring"; else pass "the 90d cert is not listed"; fi

epoch_of() { date -d "$(openssl x509 -in "$1" -noout -enddate | sed 's/notAfter=//')" +%s; }

# Inventory only (--dir, no agent config).
run "$MINICA" metrics --dir "$T/ca"
expect_ok "metrics --dir"
S=$(serial_of "$T/out/short.svc.crt")
expect_out "^minica_cert_not_after_seconds\{name=\"short.svc\"\} $(epoch_of "$T/out/short.svc.crt")$" \
    "short.svc's not_after matches openssl's"
check_not "no serial label without --serials" grep -q 'serial=".*} [0-9]*$' <<<"$(printf '%s\n' "$OUT" | grep '^minica_cert_')"

# A renewal moves the name's one series forward: no new series per serial.
FIRST_LONG=$(epoch_of "$T/out/long.svc.crt")
FIRST_LONG_SERIAL=$(serial_of "$T/out/long.svc.crt")
run "$MINICA" issue long.svc --ttl 100d --out "$T/out" --dir "$T/ca"
expect_ok "renew long.svc (100d)"
run "$MINICA" metrics --dir "$T/ca"
check "long.svc has one series after its renewal" \
    test "$(printf '%s\n' "$OUT" | grep -c '^minica_cert_not_after_seconds{name="long.svc"}')" = 1
expect_out "^minica_cert_not_after_seconds\{name=\"long.svc\"\} $(epoch_of "$T/out/long.svc.crt")$" \
    "carrying the latest expiry (the renewal's, not $FIRST_LONG)"
check "the names come sorted" test "$(printf '%s\n' "$OUT" | grep '^minica_cert_not_after' | sort -c 2>&1; echo $?)" = 0
run "$MINICA" metrics --dir "$T/ca" --serials
expect_ok "metrics --serials"
S_NEW=$(serial_of "$T/out/long.svc.crt")
expect_out "^minica_cert_serial_not_after_seconds\{name=\"long.svc\",serial=\"$S_NEW\"\} $(epoch_of "$T/out/long.svc.crt")$" \
    "--serials: the renewal's own series"
check "--serials: both valid long.svc certificates" \
    test "$(printf '%s\n' "$OUT" | grep -c '^minica_cert_serial_not_after_seconds{name="long.svc"')" = 2
expect_out "# TYPE minica_cert_serial_not_after_seconds gauge" "--serials: TYPE line"
run "$MINICA" metrics --dir "$T/ca"
expect_out "# TYPE minica_cert_not_after_seconds gauge" "TYPE line"
if printf '%s' "$OUT" | grep -q minica_agent_; then fail "agent metrics without an agent config"; else pass "no agent metrics without an agent config"; fi

# The CA's own certificates: expiry as openssl reads it, leaves, health.
IS=$(serial_of "$T/ca/intermediate.crt")
RS=$(serial_of "$T/ca/root.crt")
INA=$(epoch_of "$T/ca/intermediate.crt")
expect_out "^minica_ca_cert_not_after_seconds\{role=\"intermediate\",serial=\"$IS\",active=\"1\"\} $INA$" \
    "the active intermediate's not_after matches openssl's"
expect_out "^minica_ca_cert_not_after_seconds\{role=\"root\",serial=\"$RS\",active=\"1\"\} $(epoch_of "$T/ca/root.crt")$" \
    "the root's not_after matches openssl's"
expect_out "^minica_ca_cert_unexpired_leaves\{role=\"intermediate\",serial=\"$IS\",active=\"1\"\} 3$" \
    "the intermediate's three unexpired leaves (one a renewal)"
expect_out "^minica_ca_max_ttl_seconds 31536000$" "max_ttl (1y)"
expect_out "^minica_ca_health 0$" "a fresh CA is healthy"
expect_out "# TYPE minica_ca_health gauge" "TYPE line for the health"
# Moved to less than max_ttl before the intermediate's end: critical, as ca status says.
run env MINICA_FAKE_NOW=$((INA - 20 * 86400)) "$MINICA_FAKECLOCK" metrics --dir "$T/ca"
expect_ok "metrics with 20d left on the intermediate"
expect_out "^minica_ca_health 4$" "health 4 (renewals shortened)"
expect_out "^minica_ca_cert_unexpired_leaves\{role=\"intermediate\",serial=\"$IS\",active=\"1\"\} 0$" \
    "its leaves have expired by then"
run env MINICA_FAKE_NOW=$((INA - 500 * 86400)) "$MINICA_FAKECLOCK" metrics --dir "$T/ca"
expect_out "^minica_ca_health 3$" "health 3 (rotation due) under 2 x max_ttl"

# A revoked cert is not a valid one (when revoke is available).
run "$MINICA" revoke "$(serial_of "$T/out/long.svc.crt")" --dir "$T/ca"
expect_ok "revoke long.svc's newest certificate"
run "$MINICA" metrics --dir "$T/ca"
expect_out "^minica_cert_not_after_seconds\{name=\"long.svc\"\} $FIRST_LONG$" \
    "long.svc falls back to its other valid certificate"
run "$MINICA" revoke "$FIRST_LONG_SERIAL" --dir "$T/ca"
expect_ok "revoke the other one"
run "$MINICA" metrics --dir "$T/ca"
if printf '%s' "$OUT" | grep -q 'name="long.svc"'; then fail "revoked cert in metrics"; else pass "revoked cert not in metrics"; fi

# A managed cert (self-signed at first: not in the inventory) and the agent's counters.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 5 -subj /CN=m.svc \
    -keyout "$T/managed/m.key" -out "$T/managed/m.crt" 2>/dev/null
cat >"$T/agent.conf" <<CONF
[agent]
state_dir = $T/ca
check_command = test ! -e $T/check-fails
[cert m.svc]
cert = $T/managed/m.crt
key = $T/managed/m.key
CONF
run "$MINICA" metrics --config "$T/agent.conf" --out "$T/m.prom"
expect_ok "metrics before any agent run"
SS=$(serial_of "$T/managed/m.crt")
check "the self-signed managed cert is reported" grep -q "^minica_cert_not_after_seconds{name=\"m.svc\"} $(epoch_of "$T/managed/m.crt")$" "$T/m.prom"
check "last run 0 before any run" grep -qx "minica_agent_last_run_timestamp_seconds 0" "$T/m.prom"
expect_mode "$T/m.prom" 644

run "$MINICA" agent --config "$T/agent.conf"
expect_ok "agent run"
touch "$T/check-fails"
run "$MINICA" agent --config "$T/agent.conf" --force
expect_rc 1 "agent run with a failing check"
rm -f "$T/check-fails"
run "$MINICA" metrics --config "$T/agent.conf" --out "$T/m.prom"
expect_ok "metrics after two runs"
check "renewals_total counts the renewal" grep -qx "minica_agent_renewals_total 1" "$T/m.prom"
check "failures_total counts the failure" grep -qx "minica_agent_failures_total 1" "$T/m.prom"
last_run=$(sed -n 's/^minica_agent_last_run_timestamp_seconds //p' "$T/m.prom")
last_ok=$(sed -n 's/^minica_agent_last_success_timestamp_seconds //p' "$T/m.prom")
now=$(date +%s)
if [ "$last_ok" -gt 0 ] && [ "$last_ok" -le "$last_run" ] && [ "$last_run" -le "$now" ]; then
    pass "last success ($last_ok) <= last run ($last_run) <= now"
else
    fail "last success $last_ok, last run $last_run, now $now"
fi
n=$(grep -c '^minica_cert_not_after_seconds{name="m.svc"}' "$T/m.prom")
if [ "$n" -eq 1 ]; then pass "a managed name also in the inventory is reported once"; else fail "m.svc reported $n times"; fi
check "with the deployed certificate's expiry" \
    grep -q "^minica_cert_not_after_seconds{name=\"m.svc\"} $(epoch_of "$T/managed/m.crt")$" "$T/m.prom"

# Exposition format: every sample is NAME{labels} INTEGER and has a TYPE.
bad=$(grep -v '^#' "$T/m.prom" | grep -Evc '^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9]+$')
if [ "$bad" -eq 0 ]; then pass "every sample line is well-formed"; else fail "$bad malformed lines"; fi
for m in $(grep -v '^#' "$T/m.prom" | sed 's/[{ ].*//' | sort -u); do
    grep -q "^# TYPE $m " "$T/m.prom" || fail "no TYPE for $m"
done
leftover=$(find "$T" -maxdepth 1 -name '.m.prom*' | wc -l)
if [ "$leftover" -eq 0 ]; then pass "no temp file left next to --out"; else fail "temp files left"; fi

run "$MINICA" metrics --dir "$T/nowhere"
expect_rc 1 "metrics --dir without a CA"
expect_err "^minica: metrics: " "one-line error"
run "$MINICA" metrics --config "$T/nope.conf"
expect_rc 1 "metrics with a missing config"
expect_err "nope.conf" "the error names the config"

done_testing
