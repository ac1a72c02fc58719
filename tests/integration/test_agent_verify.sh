#!/bin/bash
# Verified reloads with real servers: a real nginx and Debian's haproxy on
# loopback, an agent whose reload does nothing (caught by `verify`), a
# reload that works, --verify-only, two groups rolled back independently,
# cron's environment, missing and hanging commands, and `agent status`.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"

# served_serial PORT NAME: the serial the server on 127.0.0.1:PORT presents for SNI NAME.
served_serial() {
    openssl s_client -connect "127.0.0.1:$1" -servername "$2" </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | sed 's/serial=//' | tr 'A-F' 'a-f' |
        sed 's/^\(00\)*//'
}
# wait_served PORT NAME SERIAL: up to 10s for a reload to take effect.
wait_served() {
    local i
    for i in $(seq 1 100); do
        [ "$(served_serial "$1" "$2")" = "$3" ] && return 0
        sleep 0.1
    done
    return 1
}
# expect_minica_err REGEX description: minica's own error is one line matching
# REGEX (the commands it runs may add their own lines to stderr).
expect_minica_err() {
    local mine
    mine=$(printf '%s\n' "$ERR" | grep '^minica: ')
    if printf '%s' "$mine" | grep -Eq -- "$1"; then pass "$2"; else fail "$2: stderr '$ERR' does not match /$1/"; fi
    if [ "$(printf '%s\n' "$mine" | wc -l)" -ne 1 ]; then fail "$2: error is not one line: $mine"; fi
}
# pem_serial FILE: serial of the first certificate in FILE (bundle or fullchain).
pem_serial() { serial_of "$1"; }

# ---- nginx serving up.test from files the agent manages ----
NG=$T/nginx
CERTS=$T/certs
mkdir -p "$NG" "$CERTS"
run "$MINICA" issue up.test --dir "$CA" --out "$CERTS" --ttl 30d
expect_ok "issue the first up.test"
NGPORT=$(free_port)
{
    nginx_conf_head
    cat <<NGINX
http {
    access_log off;
    server {
        listen 127.0.0.1:$NGPORT ssl;
        server_name up.test;
        ssl_certificate $CERTS/up.test.fullchain.crt;
        ssl_certificate_key $CERTS/up.test.key;
        location / { return 200 "up\n"; }
    }
}
NGINX
} >"$NG/nginx.conf"
nginx_start "$NG" || { fail "nginx starts"; done_testing; }
pass "nginx serves up.test on 127.0.0.1:$NGPORT"
NGINX_RELOAD="nginx -p $NG -c $NG/nginx.conf -e $NG/logs/error.log -g 'pid $NG/nginx.pid;' -s reload"

OLD=$(pem_serial "$CERTS/up.test.fullchain.crt")
wait_served "$NGPORT" up.test "$OLD"
check "nginx serves the first serial" wait_served "$NGPORT" up.test "$OLD"

agent_conf() { # agent_conf FILE RELOAD [extra [agent] lines]
    local file=$1 reload=$2
    shift 2
    {
        echo "[agent]"
        echo "state_dir = $CA"
        echo "verify_timeout = 2s"
        echo "reload_command = $reload"
        for l in "$@"; do echo "$l"; done
        echo
        echo "[cert up.test]"
        echo "fullchain = $CERTS/up.test.fullchain.crt"
        echo "key = $CERTS/up.test.key"
        echo "verify = 127.0.0.1:$NGPORT"
    } >"$file"
}

# ---- 1. a reload that does nothing is caught and rolled back ----
agent_conf "$T/noop.conf" true
run "$MINICA" agent --config "$T/noop.conf" --once --force
expect_rc 1 "a reload that does nothing fails the run"
expect_err "127\.0\.0\.1:$NGPORT.*serial $OLD" "the error names the endpoint and the serial it served"
check "the files on disk are the previous ones" test "$(pem_serial "$CERTS/up.test.fullchain.crt")" = "$OLD"
check "key and certificate on disk still match" key_matches "$CERTS/up.test.key" "$CERTS/up.test.fullchain.crt"
check "nginx still serves the previous serial" test "$(served_serial "$NGPORT" up.test)" = "$OLD"

# ---- 1b. each line of a rolled-back group is true for its own certificate ----
agent_conf "$T/group.conf" true
cat >>"$T/group.conf" <<EOF
[cert proxy.test]
usage = client
fullchain = $CERTS/proxy.test.fullchain.crt
key = $CERTS/proxy.test.key
EOF
run "$MINICA" agent --config "$T/group.conf" --once --force
expect_rc 1 "a group whose upstream is not served fails"
up_line=$(printf '%s\n' "$ERR" | grep '^minica: agent: up.test: ')
proxy_line=$(printf '%s\n' "$ERR" | grep '^minica: agent: proxy.test: ')
check "up.test's line names its endpoint and serial" grep -q "not served after the reload: 127\.0\.0\.1:$NGPORT.*serial $OLD" <<<"$up_line"
check "proxy.test's line says its group was rolled back because of up.test" \
    grep -q "^minica: agent: proxy.test: its group was rolled back: up.test was not served after the reload; restored the previous files and reloaded$" <<<"$proxy_line"
check_not "proxy.test's line does not claim up.test's endpoint" grep -q "$NGPORT" <<<"$proxy_line"

# ---- 2. a real reload passes, and --verify-only agrees ----
agent_conf "$T/real.conf" "$NGINX_RELOAD"
run "$MINICA" agent --config "$T/real.conf" --once --force
expect_ok "a real reload is verified"
NEW=$(pem_serial "$CERTS/up.test.fullchain.crt")
check "the files changed" test "$NEW" != "$OLD"
check "nginx serves the new serial (openssl s_client)" wait_served "$NGPORT" up.test "$NEW"
run "$MINICA" agent --config "$T/real.conf" --verify-only
expect_ok "--verify-only passes when the endpoint serves the files"

# ---- 3. files replaced by hand, not reloaded: --verify-only notices ----
run "$MINICA" issue up.test --dir "$CA" --out "$T/byhand" --ttl 30d
cp "$T/byhand/up.test.fullchain.crt" "$CERTS/up.test.fullchain.crt"
cp "$T/byhand/up.test.key" "$CERTS/up.test.key"
HAND=$(pem_serial "$CERTS/up.test.fullchain.crt")
run "$MINICA" agent --config "$T/real.conf" --verify-only
expect_rc 1 "--verify-only fails when the server was not reloaded"
expect_err "127\.0\.0\.1:$NGPORT serves serial $NEW.*$HAND" "--verify-only names the endpoint and both serials"
nginx_reload "$NG"
wait_served "$NGPORT" up.test "$HAND"
run "$MINICA" agent --config "$T/real.conf" --verify-only
expect_ok "--verify-only passes again after the reload"
# A day before expiry the agent should long have renewed: --verify-only says so.
NA=$(date -u -d "$(openssl x509 -in "$CERTS/up.test.fullchain.crt" -noout -enddate | cut -d= -f2)" +%s)
MINICA_FAKE_NOW=$((NA - 86400)) run "$MINICA_FAKECLOCK" agent --config "$T/real.conf" --verify-only
expect_rc 1 "--verify-only fails when the served certificate is close to expiry"
check "the message says it is about to expire" grep -q "127.0.0.1:$NGPORT serves serial $HAND, which expires at" <<<"$ERR"

# ---- 4. cron's environment: env -i, reload_command = nginx ... ----
run env -i "$MINICA" agent --config "$T/real.conf" --once --force
expect_ok "the agent under env -i runs nginx"
check "and nginx serves the renewed serial" wait_served "$NGPORT" up.test "$(pem_serial "$CERTS/up.test.fullchain.crt")"
# cron sets PATH=/usr/bin:/bin, where nginx (in /usr/sbin) is not.
run env -i PATH=/usr/bin:/bin "$MINICA" agent --config "$T/real.conf" --once --force
expect_ok "the agent under cron's PATH=/usr/bin:/bin finds nginx in sbin"
check "and nginx serves that renewed serial" wait_served "$NGPORT" up.test "$(pem_serial "$CERTS/up.test.fullchain.crt")"

# ---- 5. a missing command and a hanging one ----
BEFORE=$(pem_serial "$CERTS/up.test.fullchain.crt")
agent_conf "$T/missing.conf" "no-such-reloader-xyz --now"
run "$MINICA" agent --config "$T/missing.conf" --once --force
expect_rc 1 "a missing reload command fails the run"
expect_minica_err "command not found.*no-such-reloader-xyz" "the message says command not found and names it"
check "files restored after the missing command" test "$(pem_serial "$CERTS/up.test.fullchain.crt")" = "$BEFORE"

agent_conf "$T/hang.conf" "sleep 600" "command_timeout = 2s"
run timeout 60 "$MINICA" agent --config "$T/hang.conf" --once --force
expect_rc 1 "a hanging reload command is killed and fails the run"
expect_minica_err "'sleep 600' did not finish within 2s" "the message says it timed out"
check "files restored after the hanging command" test "$(pem_serial "$CERTS/up.test.fullchain.crt")" = "$BEFORE"
check_not "no sleep 600 is left behind" pgrep -f "^sleep 600$"

agent_conf "$T/signal.conf" 'kill -TERM $$'
run "$MINICA" agent --config "$T/signal.conf" --once --force
expect_rc 1 "a reload command killed by a signal fails the run"
expect_minica_err "SIGTERM" "the message names the signal"

# ---- 6. two groups: nginx and haproxy (pem_bundle); haproxy's check fails ----
HP=$T/haproxy
mkdir -p "$HP"
run "$MINICA" issue hap.test --dir "$CA" --out "$HP/init" --ttl 30d
cat "$HP/init/hap.test.fullchain.crt" "$HP/init/hap.test.key" >"$HP/hap.pem"
chmod 600 "$HP/hap.pem"
# Other tests on this machine pick free ports too: on a lost race, another.
for _ in 1 2 3; do
HPPORT=$(free_port)
cat >"$HP/haproxy.cfg" <<HAP
global
    maxconn 64
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:$HPPORT ssl crt $HP/hap.pem
    http-request return status 200 content-type text/plain string ok
HAP
hap_rc=0
haproxy -f "$HP/haproxy.cfg" -D -p "$HP/haproxy.pid" 2>"$HP/haproxy.err" || hap_rc=$?
[ $hap_rc -ne 0 ] && grep -q "cannot bind" "$HP/haproxy.err" || break
done
if [ $hap_rc -eq 0 ]; then
    pass "haproxy serves hap.test on 127.0.0.1:$HPPORT"
else
    fail "haproxy starts: $(tail -2 "$HP/haproxy.err")"
fi
for i in $(seq 1 50); do [ -s "$HP/haproxy.pid" ] && break; sleep 0.1; done
[ -s "$HP/haproxy.pid" ] && track_pid "$(cat "$HP/haproxy.pid")"
HAPOLD=$(pem_serial "$HP/hap.pem")
wait_served "$HPPORT" hap.test "$HAPOLD"
check "haproxy serves the bundle's serial" wait_served "$HPPORT" hap.test "$HAPOLD"
HAP_RELOAD="haproxy -f $HP/haproxy.cfg -D -p $HP/haproxy.pid -sf \$(cat $HP/haproxy.pid)"

# A check that fails: a configuration haproxy refuses.
printf 'frontend broken\n    bind 127.0.0.1:%s ssl crt %s/missing.pem\n' "$HPPORT" "$HP" >"$HP/broken.cfg"
cat >"$T/groups.conf" <<CONF
[agent]
state_dir = $CA
verify_timeout = 3s
check_command = nginx -t -q -p $NG -c $NG/nginx.conf -e $NG/logs/error.log
reload_command = $NGINX_RELOAD

[cert up.test]
fullchain = $CERTS/up.test.fullchain.crt
key = $CERTS/up.test.key
verify = 127.0.0.1:$NGPORT

[cert hap.test]
pem_bundle = $HP/hap.pem
check_command = haproxy -c -q -f $HP/broken.cfg
reload_command = $HAP_RELOAD
verify = 127.0.0.1:$HPPORT
CONF
UPBEFORE=$(pem_serial "$CERTS/up.test.fullchain.crt")
run "$MINICA" agent --config "$T/groups.conf" --once --force
expect_rc 1 "the run fails when one group fails"
UPAFTER=$(pem_serial "$CERTS/up.test.fullchain.crt")
check "the nginx group renewed" test "$UPAFTER" != "$UPBEFORE"
check "nginx serves its new certificate" wait_served "$NGPORT" up.test "$UPAFTER"
check "the haproxy bundle is the previous one" test "$(pem_serial "$HP/hap.pem")" = "$HAPOLD"
check "haproxy keeps serving its previous certificate" test "$(served_serial "$HPPORT" hap.test)" = "$HAPOLD"
if printf '%s\n' "$ERR" | grep -q "hap.test: check_command failed"; then
    pass "the failure names the haproxy cert and its check"
else
    fail "the failure names the haproxy cert and its check: $ERR"
fi

# The same with a check that passes: the bundle is renewed and served.
sed -i "s|haproxy -c -q -f $HP/broken.cfg|haproxy -c -q -f $HP/haproxy.cfg|" "$T/groups.conf"
run "$MINICA" agent --config "$T/groups.conf" --once --force
expect_ok "both groups renew when both checks pass"
HAPNEW=$(pem_serial "$HP/hap.pem")
check "the bundle is new" test "$HAPNEW" != "$HAPOLD"
expect_mode "$HP/hap.pem" 600
check "the bundle's key matches its certificate" key_matches "$HP/hap.pem" "$HP/hap.pem"
check "haproxy serves the new bundle" wait_served "$HPPORT" hap.test "$HAPNEW"
track_pid "$(cat "$HP/haproxy.pid")"

# ---- 7. agent status --json: renewed, untouched and failing certs ----
run "$MINICA" issue idle.test --dir "$CA" --out "$T/idle" --ttl 30d
run "$MINICA" issue bad.test --dir "$CA" --out "$T/bad" --ttl 30d
cat >"$T/status.conf" <<CONF
[agent]
state_dir = $CA
verify_timeout = 2s
reload_command = $NGINX_RELOAD

[cert up.test]
fullchain = $CERTS/up.test.fullchain.crt
key = $CERTS/up.test.key
verify = 127.0.0.1:$NGPORT

[cert idle.test]
fullchain = $T/idle/idle.test.fullchain.crt
key = $T/idle/idle.test.key

# The names changed, so it renews; its own reload fails.
[cert bad.test]
sans = bad.test, more.bad.test
fullchain = $T/bad/bad.test.fullchain.crt
key = $T/bad/bad.test.key
reload_command = false
CONF
rm -f "$CERTS/up.test.key" # up.test renews (missing key), idle.test is left alone
run "$MINICA" agent --config "$T/status.conf" --once
expect_rc 1 "the status run has one failing cert"
UPS=$(pem_serial "$CERTS/up.test.fullchain.crt")
wait_served "$NGPORT" up.test "$UPS" # the old workers of the reload are gone
run "$MINICA" agent status --config "$T/status.conf" --json
expect_ok "agent status --json"
printf '%s' "$OUT" >"$T/status.json"
jqc() { jq -e "$1" "$T/status.json" >/dev/null; }
check "status: up.test's serial on disk" jqc ".certs[] | select(.name==\"up.test\") | .serial == \"$UPS\""
check "status: up.test served serial at its endpoint" jqc ".certs[] | select(.name==\"up.test\") | .endpoints[0].endpoint == \"127.0.0.1:$NGPORT\" and .endpoints[0].served_serial == \"$UPS\" and .endpoints[0].matches"
check "status: up.test was renewed, no error" jqc '.certs[] | select(.name=="up.test") | (.last_renewal != null) and (.last_error == null)'
check "status: not_after, lifetime_left and next_renewal" jqc '.certs[] | select(.name=="up.test") | (.not_after|test("Z$")) and .lifetime_left > 0.9 and (.next_renewal|test("Z$"))'
check "status: idle.test untouched" jqc ".certs[] | select(.name==\"idle.test\") | .serial == \"$(pem_serial "$T/idle/idle.test.fullchain.crt")\" and .last_renewal == null and .last_error == null"
check "status: bad.test's last error" jqc '.certs[] | select(.name=="bad.test") | (.last_error|test("reload failed")) and (.last_error_time != null)'
run "$MINICA" agent status --config "$T/status.conf"
expect_ok "agent status (text)"
expect_out "up\.test" "the text status lists the certs"

# ---- 8. metrics: verify failures and served expiry ----
run "$MINICA" metrics --config "$T/real.conf"
expect_ok "metrics with the agent config"
expect_out "^minica_agent_verify_failures_total [1-9]" "verify failures are counted"
expect_out "minica_served_cert_not_after_seconds\{name=\"up.test\",endpoint=\"127.0.0.1:$NGPORT\"" "served expiry per endpoint"

# ---- 9. the commented examples in conf/ are valid configurations ----
for f in agent agent-haproxy agent-postgresql agent-nginx-systemd; do
    # The PostgreSQL example names the postgres user, which this host may lack.
    grep -v '^\(owner\|group\) = postgres$' "$SRCDIR/conf/$f.conf" >"$T/$f.conf"
    run "$MINICA" agent --config "$T/$f.conf" --dir "$CA" --dry-run
    expect_ok "conf/$f.conf parses (dry run)"
    expect_out "would renew" "conf/$f.conf: its certificates would be issued"
done

[ -s "$HP/haproxy.pid" ] && kill "$(cat "$HP/haproxy.pid")" 2>/dev/null
done_testing
