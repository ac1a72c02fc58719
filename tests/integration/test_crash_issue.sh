#!/usr/bin/env bash
# Crash safety of `minica issue`: the process is killed with SIGKILL at
# random points (within one issuance's time, at most 30 ms) at least 100
# times. Afterwards the DB opens cleanly and passes integrity_check, every row has its certificate,
# every file under a final name is whole, every certificate on disk is in the
# inventory, and the agent's next run (and the next issuance) leaves every
# key matching its certificate. (Killing the agent itself is tested with the agent.)
source "$SRCDIR/tests/integration/lib/common.sh"

KILLS_WANTED=100
MAX_ATTEMPTS=600
ca=$T/ca
out=$T/out
names=(a.crash.internal.svc b.crash.internal.svc c.crash.internal.svc 10.9.8.7)
run "$MINICA" init --dir "$ca"
expect_ok "init a CA"

# Kill within the time one issuance takes here (at most 30 ms): a faster
# minica must not make the kills miss.
t0=$(date +%s%N)
"$MINICA" issue "${names[0]}" --dir "$ca" --out "$out" >/dev/null
window_us=$((($(date +%s%N) - t0) / 1000))
[ "$window_us" -le 30000 ] || window_us=30000
kills=0
completed=0
attempts=0
killed_asan=$(asan_options_for_killed)
while [ "$kills" -lt "$KILLS_WANTED" ] && [ "$attempts" -lt "$MAX_ATTEMPTS" ]; do
    attempts=$((attempts + 1))
    name=${names[RANDOM % ${#names[@]}]}
    ASAN_OPTIONS=$killed_asan "$MINICA" issue "$name" --dir "$ca" --out "$out" \
        >/dev/null 2>>"$T/stderr" &
    pid=$!
    sleep "$(printf '0.%06d' $(((RANDOM * 32768 + RANDOM) % (window_us + 1))))"
    kill -KILL "$pid" 2>/dev/null
    # (braces: keeps bash's "Killed" job notice out of the log)
    { wait "$pid"; } 2>/dev/null
    case $? in
    137) kills=$((kills + 1)) ;;
    0) completed=$((completed + 1)) ;;
    *) fail "an uninterrupted issuance failed: $(tail -n 1 "$T/stderr")" ;;
    esac
done
echo "# $attempts attempts: $kills killed, $completed completed"
[ "$kills" -ge "$KILLS_WANTED" ] && pass "killed $kills issuances with SIGKILL" ||
    fail "only $kills kills in $attempts attempts"

# The DB opens (minica first: it recovers the WAL) and is consistent.
run "$MINICA" list --dir "$ca"
expect_ok "minica list after the crashes"
run "$MINICA" list --json --dir "$ca"
expect_ok "minica list --json after the crashes"
check "PRAGMA integrity_check is ok" test "$(sqlite3 "$ca/minica.db" 'PRAGMA integrity_check')" = ok
rows=$(sqlite3 "$ca/minica.db" "SELECT count(*) FROM certs")
echo "# $rows rows in the inventory"
check "no row without its certificate" test "$(sqlite3 "$ca/minica.db" \
    "SELECT count(*) FROM certs WHERE pem IS NULL OR pem NOT LIKE '-----BEGIN CERTIFICATE-----%'")" \
    -eq 0
bad_pem=0
sqlite3 "$ca/minica.db" "SELECT serial FROM certs" >"$T/db_serials"
while read -r serial; do
    sqlite3 "$ca/minica.db" "SELECT pem FROM certs WHERE serial = '$serial'" >"$T/row.pem"
    [ "$(serial_of "$T/row.pem")" = "$serial" ] || bad_pem=$((bad_pem + 1))
done <"$T/db_serials"
[ "$bad_pem" -eq 0 ] && pass "every row's PEM parses and carries its serial" ||
    fail "$bad_pem rows whose PEM does not match their serial"

# Files under their final names are whole, and every certificate is known.
partial=0
unknown=0
mismatched=0
for name in "${names[@]}"; do
    base=$out/$name
    [ -e "$base.key" ] && { openssl pkey -in "$base.key" -noout 2>/dev/null || partial=$((partial + 1)); }
    for f in "$base.crt" "$base.fullchain.crt"; do
        [ -e "$f" ] || continue
        if ! openssl x509 -in "$f" -noout 2>/dev/null; then
            partial=$((partial + 1))
            continue
        fi
        grep -qx "$(serial_of "$f")" "$T/db_serials" || unknown=$((unknown + 1))
    done
    if [ -e "$base.key" ] && [ -e "$base.crt" ] && ! key_matches "$base.key" "$base.crt"; then
        mismatched=$((mismatched + 1))
    fi
done
[ -e "$out/ca.crt" ] && { openssl x509 -in "$out/ca.crt" -noout 2>/dev/null || partial=$((partial + 1)); }
[ "$partial" -eq 0 ] && pass "no partial file under a final name" ||
    fail "$partial partial files under final names"
[ "$unknown" -eq 0 ] && pass "every certificate on disk is in the inventory" ||
    fail "$unknown certificates on disk are not in the inventory"
# A kill between the key's rename and the certificate's can leave a new key
# next to the old certificate; the agent (or the next issue) repairs it.
echo "# $mismatched key/certificate pairs left mismatched by a kill"
leftovers=$(find "$out" -name '.*.tmp-*' | wc -l)
echo "# $leftovers staged temp files left by kills (never under a final name)"

# The agent's next run repairs every pair (and sweeps the temp files).
{
    echo "[agent]"
    echo "check_command = true"
    echo "reload_command = true"
    for name in "${names[@]}"; do
        echo "[cert $name]"
        echo "cert = $out/$name.crt"
        echo "key = $out/$name.key"
        echo "fullchain = $out/$name.fullchain.crt"
        # ca.crt is shared by all names; the agent lets one section own it.
        [ "$name" = "${names[0]}" ] && echo "ca = $out/ca.crt"
    done
} >"$T/agent.conf"
run "$MINICA" agent --once --config "$T/agent.conf" --dir "$ca"
expect_ok "minica agent --once after the crashes"
for name in "${names[@]}"; do
    check "after the agent: $name key matches certificate" \
        key_matches "$out/$name.key" "$out/$name.crt"
    check "after the agent: $name fullchain starts with the certificate" test \
        "$(serial_of "$out/$name.fullchain.crt")" = "$(serial_of "$out/$name.crt")"
done
run "$MINICA" agent --once --config "$T/agent.conf" --dir "$ca"
expect_ok "a second agent run"
check "the second agent run has nothing to do" test -z "$OUT"
leftovers=$(find "$out" -name '.*.tmp-*' | wc -l)
[ "$leftovers" -eq 0 ] && pass "no staged temp files left after the agent run" ||
    fail "$leftovers staged temp files left after the agent run"

# The next (uninterrupted) issuance of each name leaves a matching pair too.
for name in "${names[@]}"; do
    run "$MINICA" issue "$name" --dir "$ca" --out "$out"
    expect_ok "re-issue $name after the crashes"
    check "$name: key matches certificate" key_matches "$out/$name.key" "$out/$name.crt"
    check "$name: fullchain starts with the certificate" test \
        "$(serial_of "$out/$name.fullchain.crt")" = "$(serial_of "$out/$name.crt")"
    check "$name: chain verifies" openssl verify -CAfile "$out/ca.crt" \
        -untrusted "$ca/intermediate.crt" "$out/$name.crt"
done

done_testing
