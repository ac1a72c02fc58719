#!/bin/bash
# The libraries minica loads on demand (src/lib/base/libload.c), missing:
# each command that needs one says which Debian package to install, in one
# line, and exits 1 (issue 21). The test build's seam
# (tests/support/libload_missing.c) makes a library look uninstalled; the
# installed binary has no such seam, which the last check shows.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init"
# missing LIB CMD...: CMD run by the test build with LIB not loadable. A
# serve that starts anyway is stopped after 10 s (exit 124), not waited for.
missing() {
    local lib=$1
    shift
    run env MINICA_TEST_MISSING_LIB="$lib" timeout 10 "$MINICA_FAKECLOCK" "$@"
}

# ---- serve: GnuTLS and libmicrohttpd ----
port=$(free_port)
missing libgnutls serve --listen "127.0.0.1:$port" --dir "$CA"
expect_rc 1 "serve without GnuTLS"
expect_err '^minica: serve: cannot load libgnutls\.so\.30 .*: install the libgnutls30 package$' \
    "it names the package"
missing libmicrohttpd serve --listen "127.0.0.1:$port" --dir "$CA"
expect_rc 1 "serve without libmicrohttpd"
expect_err '^minica: serve: cannot load libmicrohttpd\.so\.12 .*: install the libmicrohttpd12 package$' \
    "it names the package"
check_not "nothing listens" curl -sfk --max-time 2 "https://127.0.0.1:$port/v1/health"

# ---- remote issuance: libcurl ----
missing libcurl issue a.svc --ca-url "https://127.0.0.1:$port" --root "$CA/root.crt" \
    --token x.y --out "$T/out"
expect_rc 1 "remote issuance without libcurl"
expect_err '^minica: issue: a\.svc: cannot load libcurl-gnutls\.so\.4 .*: install the libcurl3-gnutls package$' \
    "it names the package"
check "and writes nothing" test ! -e "$T/out/a.svc.key"

# ---- the agent's probe: GnuTLS ----
A=$T/agent
mkdir -m 700 "$A"
run "$MINICA" issue up.svc --dir "$CA" --out "$A"
expect_ok "files to probe for"
cat >"$A/agent.conf" <<EOF2
[agent]
state_dir = $CA
lock_file = $A/agent.lock
status_file = $A/agent.status

[cert up.svc]
fullchain = $A/up.svc.fullchain.crt
key = $A/up.svc.key
verify = 127.0.0.1:$port
EOF2
missing libgnutls agent --verify-only --config "$A/agent.conf"
expect_rc 1 "the probe without GnuTLS"
check "it names the package" grep -q 'cannot load libgnutls\.so\.30 .*install the libgnutls30 package' \
    <<<"$OUT$ERR"
missing libgnutls agent status --config "$A/agent.conf"
check "agent status says so for the endpoint" \
    grep -q "127.0.0.1:$port: cannot load libgnutls.so.30 .*install the libgnutls30 package" <<<"$OUT"

# ---- the installed binary has no seam ----
port2=$(free_port)
MINICA_TEST_MISSING_LIB=libmicrohttpd "$MINICA" serve --listen "127.0.0.1:$port2" --dir "$CA" \
    2>"$T/serve.log" &
track_pid $!
check "the installed minica ignores the variable and serves" wait_health "https://127.0.0.1:$port2"

done_testing
