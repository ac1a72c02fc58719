#!/bin/bash
# The renewal agent against a real nginx: the self-signed upstream incident,
# the agent replacing it with mutually authenticated certificates, idempotent
# runs, --force under load, rollback on a failing check, and kill -9 at random
# points never leaving a key that does not match its certificate.
source "$SRCDIR/tests/integration/lib/common.sh"

P=$T/nginx
C=$P/certs
mkdir -p "$P/logs" "$C"
UP=$(free_port)
PX=$(free_port)
while [ "$PX" = "$UP" ]; do PX=$(free_port); done

run "$MINICA" init --dir "$T/ca"
expect_ok "init a CA"

# The seed's failing setup: the upstream and the proxy's client cert are
# self-signed; the proxy and the upstream trust minica's root.
selfsigned() { # selfsigned BASE CN
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=$2" -addext "subjectAltName=DNS:$2,IP:127.0.0.1" \
        -keyout "$C/$1.key" -out "$C/$1.fullchain.crt" 2>/dev/null
}
selfsigned up up.svc
selfsigned client client.svc
cp "$T/ca/root.crt" "$C/ca.crt"

NGINX_ARGS="-p $P -c $P/nginx.conf -e $P/logs/error.log"
{
    nginx_conf_head
    cat <<NGINX
http {
    access_log off;
    server {
        listen 127.0.0.1:$UP ssl;
        server_name up.svc;
        ssl_certificate $C/up.fullchain.crt;
        ssl_certificate_key $C/up.key;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_client_certificate $C/ca.crt;
        location / { return 200 "upstream ok\n"; }
    }
    server {
        listen 127.0.0.1:$PX;
        location / {
            proxy_pass https://127.0.0.1:$UP;
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 2;
            proxy_ssl_trusted_certificate $C/ca.crt;
            proxy_ssl_server_name on;
            proxy_ssl_name up.svc;
            proxy_ssl_certificate $C/client.fullchain.crt;
            proxy_ssl_certificate_key $C/client.key;
        }
    }
}
NGINX
} >"$P/nginx.conf"
nginx_start "$P" || {
    fail "nginx starts"
    cat "$P/logs/error.log"
    done_testing
}

# (1) The incident: 502 and the verify error in nginx's log.
code=$(http_code "http://127.0.0.1:$PX/")
if [ "$code" = 502 ]; then pass "self-signed upstream behind proxy_ssl_verify on: 502"; else fail "self-signed upstream: got $code, wanted 502"; fi
# nginx 1.22 says "upstream SSL certificate verify error: (18:self-signed
# certificate)"; other versions "certificate verify failed".
if grep -Eq "certificate verify (error|failed)" "$P/logs/error.log"; then
    pass "nginx logs the upstream certificate verify error"
else
    fail "nginx error log lacks the verify error: $(tail -3 "$P/logs/error.log")"
fi

RELOADS=$T/reloads
write_conf() { # write_conf FILE [extra [agent] lines]
    local f=$1
    shift
    {
        echo "[agent]"
        echo "state_dir = $T/ca"
        echo "check_command = nginx -t -q $NGINX_ARGS -g 'pid $P/nginx.pid;' && test ! -e $T/check-fails"
        if [ $# -gt 0 ]; then printf '%s\n' "$@"; else
            echo "reload_command = echo reload >> $RELOADS; nginx $NGINX_ARGS -g 'pid $P/nginx.pid;' -s reload"
        fi
        cat <<CONF

[cert up.svc]
sans = up.svc, 127.0.0.1
fullchain = $C/up.fullchain.crt
key = $C/up.key
ca = $C/ca.crt

[cert client.svc]
usage = client
fullchain = $C/client.fullchain.crt
key = $C/client.key
CONF
    } >"$f"
}
CONF=$T/agent.conf
write_conf "$CONF"

served_serial() { # the serial the upstream serves now
    openssl s_client -connect "127.0.0.1:$UP" -servername up.svc </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | sed 's/serial=//' | tr 'A-F' 'a-f' | sed 's/^\(00\)*//'
}
# wait_served SERIAL: nginx reloads asynchronously; poll (bounded) until the
# upstream serves SERIAL.
wait_served() {
    local i
    for i in $(seq 1 50); do
        [ "$(served_serial)" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
wait_code() { # wait_code CODE URL [curl args]
    local want=$1 i
    shift
    for i in $(seq 1 50); do
        [ "$(http_code "$@")" = "$want" ] && return 0
        sleep 0.1
    done
    return 1
}

# (2) The agent replaces both self-signed certs in place and reloads.
run "$MINICA" agent --once --config "$CONF"
expect_ok "agent --once repairs the setup"
expect_out "renewed up.svc .*not issued by this CA's current intermediate" "says why up.svc was renewed"
expect_out "renewed client.svc" "renews the client cert"
expect_out "reloaded" "says it reloaded"
if [ "$(wc -l <"$RELOADS")" -eq 1 ]; then pass "one reload for two certs"; else fail "reloads: $(wc -l <"$RELOADS")"; fi
check "up.svc verifies under the root" openssl verify -CAfile "$T/ca/root.crt" -untrusted "$T/ca/intermediate.crt" -purpose sslserver "$C/up.fullchain.crt"
check "client.svc verifies as a client cert" openssl verify -CAfile "$T/ca/root.crt" -untrusted "$T/ca/intermediate.crt" -purpose sslclient "$C/client.fullchain.crt"
check "up.key matches" key_matches "$C/up.key" "$C/up.fullchain.crt"
check "client.key matches" key_matches "$C/client.key" "$C/client.fullchain.crt"
expect_mode "$C/up.key" 600
check "ca.crt is the root" cmp -s "$C/ca.crt" "$T/ca/root.crt"
check "the previous upstream cert is kept as .prev" openssl x509 -in "$C/up.fullchain.crt.prev" -noout
S1=$(serial_of "$C/up.fullchain.crt")
check "nginx serves the new upstream cert" wait_served "$S1"
if wait_code 200 "http://127.0.0.1:$PX/"; then pass "proxy answers 200 through verified mTLS"; else fail "proxy: $(http_code "http://127.0.0.1:$PX/")"; fi
code=$(http_code "https://up.svc:$UP/" --cacert "$T/ca/root.crt" --resolve "up.svc:$UP:127.0.0.1")
if [ "$code" = 400 ]; then pass "upstream without a client cert: 400"; else fail "upstream without a client cert: $code"; fi
code=$(http_code "https://up.svc:$UP/" --cacert "$T/ca/root.crt" --resolve "up.svc:$UP:127.0.0.1" \
    --cert "$C/client.fullchain.crt" --key "$C/client.key")
if [ "$code" = 200 ]; then pass "upstream with minica's client cert: 200"; else fail "upstream with client cert: $code"; fi

# (3) Nothing to do: silent, no reload.
run "$MINICA" agent --once --config "$CONF"
expect_ok "second run"
if [ -z "$OUT$ERR" ]; then pass "second run prints nothing"; else fail "second run printed: $OUT $ERR"; fi
if [ "$(wc -l <"$RELOADS")" -eq 1 ]; then pass "second run does not reload"; else fail "second run reloaded"; fi

# --dry-run says what it would do and changes nothing.
# SQLite's shared-memory index (minica.db-shm) is left out: every
# connection, a reader's too, re-initialises it, and it holds no data.
snapshot() { # every file's name, mtime (ns), mode and checksum, certs and CA
    find "$C" "$T/ca" -type f ! -name agent.lock ! -name '*.db-shm' -printf '%p %T@ %m ' \
        -exec md5sum {} \; | sort
}
snapshot >"$T/before-dry"
run "$MINICA" agent --config "$CONF" --dry-run --force
expect_ok "dry run"
expect_out "would renew up.svc: forced" "dry run says what it would renew"
if [ "$(serial_of "$C/up.fullchain.crt")" = "$S1" ] && [ "$(wc -l <"$RELOADS")" -eq 1 ]; then
    pass "dry run changes nothing"
else fail "dry run changed something"; fi
snapshot >"$T/after-dry"
if cmp -s "$T/before-dry" "$T/after-dry"; then
    pass "dry run leaves every file, .prev, database and status as they were (mtimes too)"
else
    fail "dry run touched: $(diff "$T/before-dry" "$T/after-dry" | grep '^>' | head -3)"
fi

# The lock: a second run while one holds it exits 1 with one line.
run flock "$T/ca/agent.lock" "$MINICA" agent --once --config "$CONF"
expect_rc 1 "a run while another holds the lock"
expect_err "^minica: agent: another agent run holds $T/ca/agent.lock$" "one line naming the lock file"

# --jitter: bounded by its value (this run ends), refused above 1d.
run "$MINICA" agent --once --jitter 1s --config "$CONF"
expect_ok "--jitter 1s"
if [ -z "$OUT$ERR" ]; then pass "--jitter run with nothing to do is silent"; else fail "jitter run printed: $OUT $ERR"; fi
run "$MINICA" agent --once --jitter 2d --config "$CONF"
expect_rc 2 "--jitter above 1d is a usage error"
expect_err "^minica: agent: --jitter: 2d is longer than the maximum of 1d" "and says the maximum"
run "$MINICA" agent --once --jitter 5x --config "$CONF"
expect_rc 2 "--jitter with a bad duration"

# (4) --force under a bounded request loop: no request fails.
: >"$T/codes"
(
    for i in $(seq 1 200); do
        [ -e "$T/stop" ] && break
        http_code "http://127.0.0.1:$PX/" >>"$T/codes"
        echo >>"$T/codes"
    done
) &
loop=$!
track_pid $loop
sleep 0.3
run "$MINICA" agent --once --force --config "$CONF"
expect_ok "agent --force under load"
S2=$(serial_of "$C/up.fullchain.crt")
check "nginx serves the forced renewal" wait_served "$S2"
sleep 0.3
touch "$T/stop"
wait $loop
total=$(grep -c . "$T/codes")
bad=$(grep -vc '^200$' "$T/codes")
if [ "$S2" != "$S1" ]; then pass "--force issued a new serial"; else fail "--force kept serial $S1"; fi
if [ "$total" -gt 5 ] && [ "$bad" -eq 0 ]; then
    pass "$total requests during the renewal, none failed"
else
    fail "$bad of $total requests failed during the renewal: $(sort "$T/codes" | uniq -c | tr '\n' ' ')"
fi

# (5) A failing check_command: exit 1, previous files on disk and served.
for f in up.fullchain.crt up.key client.fullchain.crt client.key ca.crt; do cp "$C/$f" "$T/before.$f"; done
reloads_before=$(wc -l <"$RELOADS")
touch "$T/check-fails"
run "$MINICA" agent --once --force --config "$CONF"
expect_rc 1 "agent with a failing check_command"
if printf '%s' "$ERR" | grep -q "check_command failed.*restored the previous files"; then pass "says it restored the previous files"; else fail "stderr: $ERR"; fi
same=1
for f in up.fullchain.crt up.key client.fullchain.crt client.key ca.crt; do cmp -s "$C/$f" "$T/before.$f" || same=0; done
if [ $same = 1 ]; then pass "files on disk are the previous ones"; else fail "files changed after a failed check"; fi
if [ "$(wc -l <"$RELOADS")" -eq "$reloads_before" ]; then pass "no reload after a failed check"; else fail "reloaded after a failed check"; fi
if [ "$(served_serial)" = "$S2" ]; then pass "nginx still serves the previous cert"; else fail "served $(served_serial), wanted $S2"; fi
rm -f "$T/check-fails"

# The state a crash between the key's rename and the certificate's leaves
# (a new key next to the old certificate; random kills rarely land in that
# millisecond): the next run repairs it.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/new.key" 2>/dev/null
cp "$T/new.key" "$C/up.key"
run "$MINICA" agent --once --config "$CONF"
expect_ok "run after a simulated crash between renames"
expect_out "renewed up.svc .*does not match" "the mismatched key is the reason"
check "key matches again" key_matches "$C/up.key" "$C/up.fullchain.crt"
check "nginx serves the repaired cert" wait_served "$(serial_of "$C/up.fullchain.crt")"

# (6) kill -9 at random points during a forced renewal, then a normal run:
# the key always matches its certificate and nginx serves what is on disk.
# This config reloads by signal, through the pidfile.
KCONF=$T/agent-kill.conf
write_conf "$KCONF" "reload_pidfile = $P/nginx.pid" "reload_signal = HUP"
# Kill points are spread over the whole run: its length is measured here
# (on this machine, under this load), not assumed.
run_ms=0
for i in 1 2; do
    start=$(date +%s%N)
    "$MINICA" agent --once --force --config "$KCONF" >/dev/null 2>&1
    ms=$((($(date +%s%N) - start) / 1000000))
    [ $ms -gt $run_ms ] && run_ms=$ms
done
[ $run_ms -ge 20 ] || run_ms=20
[ $run_ms -le 5000 ] || run_ms=5000
bad_pairs=0
bad_runs=0
bad_served=0
killed=0
mid_replace=0
killed_asan=$(asan_options_for_killed)
for i in $(seq 1 40); do
    ASAN_OPTIONS=$killed_asan "$MINICA" agent --once --force --config "$KCONF" >/dev/null 2>&1 &
    pid=$!
    ms=$((RANDOM % run_ms))
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    if [ $? -eq 137 ]; then
        killed=$((killed + 1))
        # The marker exists from the first issuance to the end of the reload.
        [ -e "$T/ca/agent.status.reload-pending" ] && mid_replace=$((mid_replace + 1))
    fi
    # A child the killed run forked holds the lock until it execs (flock
    # locks belong to the open file, which fork shares): on a loaded machine
    # that can outlast the parent by a moment. Wait for it, boundedly.
    flock -w 10 "$T/ca/agent.lock" true
    if ! "$MINICA" agent --once --config "$KCONF" >"$T/kill.out" 2>&1; then
        bad_runs=$((bad_runs + 1))
        echo "# iteration $i: $(cat "$T/kill.out")"
    fi
    key_matches "$C/up.key" "$C/up.fullchain.crt" || bad_pairs=$((bad_pairs + 1))
    key_matches "$C/client.key" "$C/client.fullchain.crt" || bad_pairs=$((bad_pairs + 1))
    wait_served "$(serial_of "$C/up.fullchain.crt")" || bad_served=$((bad_served + 1))
done
if [ $bad_runs -eq 0 ]; then pass "the run after each kill -9 succeeds"; else fail "$bad_runs runs after kill -9 failed"; fi
if [ $killed -gt 0 ]; then pass "$killed of 40 runs were killed mid-run (runs take ~${run_ms}ms)"; else fail "no run was killed before it finished"; fi
if [ $mid_replace -gt 0 ]; then pass "$mid_replace kills landed between issuance and reload"; else fail "no kill landed while files were being replaced"; fi
if [ $bad_pairs -eq 0 ]; then pass "after each kill every key matches its certificate"; else fail "$bad_pairs mismatched pairs after kill -9"; fi
if [ $bad_served -eq 0 ]; then pass "after each kill nginx serves the certificate on disk"; else fail "$bad_served times nginx served another cert than the one on disk"; fi
leftover=$(find "$C" -name '.*.tmp-*' | wc -l)
if [ "$leftover" -eq 0 ]; then pass "no temp files left behind"; else fail "$leftover temp files left in $C"; fi
check "proxy still answers 200" wait_code 200 "http://127.0.0.1:$PX/"

nginx_stop "$P"
done_testing
