#!/bin/bash
# The CA's own lifecycle under load (issue 15): a real nginx proxy talking
# mutual TLS to a real nginx upstream, both certificates and both trust
# bundles kept by the agent, while the CA rotates its intermediate, rolls
# its root over (cross-signed), drops the cross-certificate and retires the
# old root. A request loop runs through the proxy across every phase, the
# rollover's mixed state (upstream renewed, proxy not yet) included, and no
# request may fail. At each phase the old and the new leaves are checked
# with OpenSSL and GnuTLS against that phase's trust bundle; two more
# relying parties, a server that trusts only the first root and one that
# checks CRLs, take the client certificate; the refusals (retire or revoke
# what is still in use) are checked; and at the end `ca rotate` is killed
# with SIGKILL at random moments: the issuer is then the old or the new
# one, never half of each.
source "$SRCDIR/tests/integration/lib/common.sh"
source "$SRCDIR/tests/integration/lib/verifiers.sh"
source "$SRCDIR/tests/integration/lib/loadloop.sh"
# The two verifiers every relying party here stands for: OpenSSL (nginx,
# curl) and GnuTLS.
VERIFIERS="openssl gnutls"

CA=$T/ca
P=$T/nginx
C=$P/certs
L=$T/leaves # copies of served leaves and their chains, one per phase
mkdir -p "$P/logs" "$C" "$L"
UP=$(free_port)
PX=$(free_port)
while [ "$PX" = "$UP" ]; do PX=$(free_port); done
OT=$(free_port) # a server that trusts client certs under the first root only
while [ "$OT" = "$UP" ] || [ "$OT" = "$PX" ]; do OT=$(free_port); done
CR=$(free_port) # a server that checks client certs against minica's CRLs
while [ "$CR" = "$UP" ] || [ "$CR" = "$PX" ] || [ "$CR" = "$OT" ]; do CR=$(free_port); done
NGINX_ARGS="-p $P -c $P/nginx.conf -e $P/logs/error.log -g 'pid $P/nginx.pid;'"
# The upstream trusts client certificates under this bundle; the proxy
# trusts the upstream under its own. Each is the `ca =` file of the
# certificate the same side holds, as two machines' agents would write them.
UP_TRUST=$C/upstream-trust.crt
PX_TRUST=$C/proxy-trust.crt
# The CA certificates of each phase, as the phases find them (a phase that
# fails early leaves its files missing, and the checks using them fail).
ROOT1=$T/root1.pem ROOT1_SERIAL=
INT1=$T/int1.pem
INT2=$T/int2.pem               # (b) the rotated intermediate, same root
ROOT2=$T/root2.pem # (d) the new root
ROOTS=$T/roots-d.pem           # (d) export root: both roots
INT3=$T/int3.1.pem             # (d) the new root's intermediate
CROSS=$T/int3.2.pem            # (d) the new root, certified by the old

# ---------------------------------------------------------------- helpers ---

# split_pem FILE PREFIX: one file per certificate, PREFIX.1.pem, ...; prints
# how many.
split_pem() {
    rm -f "$2".*.pem
    awk -v p="$2" '/-----BEGIN CERTIFICATE-----/ { n++; f = p "." n ".pem" }
        f { print > f } /-----END CERTIFICATE-----/ { close(f); f = "" }
        END { print n + 0 }' "$1"
}
# count_certs FILE
count_certs() {
    local n
    n=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$1" 2>/dev/null)
    echo "${n:-0}"
}
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2; }
# fps FILE: the fingerprints of every certificate in FILE, sorted, one line.
fps() {
    local n i
    n=$(split_pem "$1" "$T/.fps")
    for i in $(seq 1 "$n"); do fp "$T/.fps.$i.pem"; done | sort | tr '\n' ' '
}
# same_certs A B: A and B hold the same certificates (in any order), and
# some: two missing files are no match.
same_certs() {
    local a b
    a=$(fps "$1") b=$(fps "$2")
    [ -n "$a" ] && [ "$a" = "$b" ]
}
# issued_by LEAF CA: CA's key signed LEAF (CA taken as the trust anchor).
issued_by() { openssl verify -partial_chain -CAfile "$2" "$1" >/dev/null 2>&1; }
# export_ca WHAT FILE: minica export WHAT into FILE.
export_ca() { "$MINICA" export "$1" --dir "$CA" >"$2" 2>"$T/.export.err"; }

# served_chain PREFIX: the chain the upstream sends (PREFIX.1.pem is the
# leaf); prints how many certificates. No client certificate is sent: the
# handshake completes and nginx answers 400, which is all this needs.
served_chain() {
    openssl s_client -connect "127.0.0.1:$UP" -servername up.svc -showcerts </dev/null 2>/dev/null >"$T/.served"
    split_pem "$T/.served" "$1"
}
served_serial() {
    openssl s_client -connect "127.0.0.1:$UP" -servername up.svc </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | sed 's/serial=//' | tr 'A-F' 'a-f' | sed 's/^\(00\)*//'
}
# wait_served SERIAL: nginx reloads asynchronously; poll (bounded).
wait_served() {
    local i
    for i in $(seq 1 100); do
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

# keep_leaf NAME: the upstream's fullchain on disk now, as $L/NAME.leaf and
# the chain delivered with it as $L/NAME.chain; also its trust bundle at
# that moment, $L/NAME.bundle.
keep_leaf() {
    local n i
    n=$(split_pem "$C/up.fullchain.crt" "$L/$1")
    cp "$L/$1.1.pem" "$L/$1.leaf"
    : >"$L/$1.chain"
    for i in $(seq 2 "$n"); do cat "$L/$1.$i.pem" >>"$L/$1.chain"; done
    cp "$UP_TRUST" "$L/$1.bundle"
}
# verify_leaf NAME BUNDLE accept|reject WHAT: OpenSSL and GnuTLS on the kept
# leaf NAME with the chain it came with, against BUNDLE.
verify_leaf() { check_chain "$2" "$L/$1.chain" "$L/$1.leaf" "$3" "$4"; }

# old_trust_code: the answer of the never-updated server to the proxy's
# client certificate (200 accepted, 400 refused).
old_trust_code() {
    http_code "https://up.svc:$OT/" --cacert "$UP_TRUST" --resolve "up.svc:$OT:127.0.0.1" \
        --cert "$C/client.fullchain.crt" --key "$C/client.key"
}
# publish_crl WHAT: minica crl --all into the CRL-checking server's file,
# and a reload that has taken effect.
publish_crl() {
    run "$MINICA" crl --all --out "$C/crl.pem" --dir "$CA"
    expect_ok "$1: crl --all"
    check "$1: nginx reloads with the new CRLs" nginx_reload_settled "$P"
}
# crl_code: the CRL-checking server's answer to the proxy's client cert.
crl_code() {
    http_code "https://up.svc:$CR/" --cacert "$UP_TRUST" --resolve "up.svc:$CR:127.0.0.1" \
        --cert "$C/client.fullchain.crt" --key "$C/client.key"
}
# agent_run WHAT [agent args]: one agent run (of $AGENT_CONF, default the
# configuration with both certificates), which must succeed and leave nginx
# serving the upstream certificate on disk.
agent_run() {
    local what=$1
    shift
    run "$MINICA" agent --once --config "${AGENT_CONF:-$CONF}" "$@"
    expect_ok "$what"
    [ "$RC" -eq 0 ] || echo "# agent said: $OUT"
    check "$what: nginx serves the upstream cert on disk" wait_served "$(serial_of "$C/up.fullchain.crt")"
    check "$what: up.key matches" key_matches "$C/up.key" "$C/up.fullchain.crt"
    check "$what: client.key matches" key_matches "$C/client.key" "$C/client.fullchain.crt"
    local code
    code=$(crl_code)
    check "$what: the CRL-checking server accepts the client cert ($code)" test "$code" = 200
}
# must_ok WHAT: expect_ok, and false when it failed: a phase whose own
# command failed stops there instead of checking the previous state again.
must_ok() {
    expect_ok "$1"
    [ "$RC" -eq 0 ] && return 0
    echo "# skipping the rest of this phase"
    return 1
}
# expect_status_rc ALLOWED WHAT: `ca status` exits with one of ALLOWED.
expect_status_rc() {
    run "$MINICA" ca status --dir "$CA"
    case " $1 " in
    *" $RC "*) pass "$2: ca status exits $RC" ;;
    *) fail "$2: ca status exits $RC, wanted one of $1; $ERR" ;;
    esac
}
# phase_end WHAT: the loop gets a second in the phase's final state too.
phase_end() {
    sleep 1
    echo "# after $1: requests $(loadloop_counts)"
}

# write_conf FILE RELOAD_COMMAND [up] [px]: an agent configuration for the
# upstream's certificate (up.svc), the proxy's (client.svc), or both.
write_conf() {
    local f=$1 reload=$2 which
    shift 2
    which=" ${*:-up px} "
    cat >"$f" <<CONF
[agent]
state_dir = $CA
check_command = nginx -t -q $NGINX_ARGS
reload_command = $reload
CONF
    # Leaves live a day: the old root's last leaves have expired two days on
    # (the fake clock of phase f), the new ones are irrelevant to its retirement.
    case $which in *" up "*) cat >>"$f" <<CONF ;; esac

[cert up.svc]
sans = up.svc, 127.0.0.1
ttl = 1d
fullchain = $C/up.fullchain.crt
key = $C/up.key
ca = $UP_TRUST
verify = 127.0.0.1:$UP/up.svc
CONF
    case $which in *" px "*) cat >>"$f" <<CONF ;; esac

[cert client.svc]
usage = client
ttl = 1d
fullchain = $C/client.fullchain.crt
key = $C/client.key
ca = $PX_TRUST
CONF
}

# ----------------------------------------------------------------- phases ---

# The CA, the agent's first run (nothing to reload yet), nginx started on
# the agent's files, and the request loop.
setup() {
    run "$MINICA" init --dir "$CA"
    expect_ok "init a CA"
    write_conf "$T/first.conf" true
    # Nothing runs yet: nothing to check, reload or probe.
    sed -i -e '/^verify = /d' -e 's/^check_command = .*/check_command = true/' "$T/first.conf"
    run "$MINICA" agent --once --config "$T/first.conf"
    expect_ok "first agent run writes both certs and bundles"
    CONF=$T/agent.conf
    write_conf "$CONF" "nginx $NGINX_ARGS -s reload"
    # The upstream's and the proxy's certificates alone: two machines whose
    # agents run at different times.
    write_conf "$T/agent-up.conf" "nginx $NGINX_ARGS -s reload" up
    write_conf "$T/agent-px.conf" "nginx $NGINX_ARGS -s reload" px
    cp "$CA/root.crt" "$ROOT1"
    ROOT1_SERIAL=$(serial_of "$ROOT1")
    cp "$CA/intermediate.crt" "$INT1"
    cp "$ROOT1" "$C/first-root-only.crt"
    run "$MINICA" crl --all --out "$C/crl.pem" --dir "$CA"
    expect_ok "the first CRLs"
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
        ssl_client_certificate $UP_TRUST;
        location / { return 200 "upstream ok\n"; }
    }
    # A relying party never updated: client certs under the first root only.
    server {
        listen 127.0.0.1:$OT ssl;
        ssl_certificate $C/up.fullchain.crt;
        ssl_certificate_key $C/up.key;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_client_certificate $C/first-root-only.crt;
        location / { return 200 "old trust ok\n"; }
    }
    # A relying party with CRL checks: nginx wants a CRL for every CA of
    # the chain in ssl_crl, so each step that adds a CA must publish first.
    server {
        listen 127.0.0.1:$CR ssl;
        ssl_certificate $C/up.fullchain.crt;
        ssl_certificate_key $C/up.key;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_client_certificate $UP_TRUST;
        ssl_crl $C/crl.pem;
        location / { return 200 "crl ok\n"; }
    }
    server {
        listen 127.0.0.1:$PX;
        location / {
            proxy_pass https://127.0.0.1:$UP;
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 2;
            proxy_ssl_trusted_certificate $PX_TRUST;
            proxy_ssl_server_name on;
            proxy_ssl_name up.svc;
            proxy_ssl_certificate $C/client.fullchain.crt;
            proxy_ssl_certificate_key $C/client.key;
            # Every request a full handshake: each one checks the chains
            # served at that moment, not a resumed session's.
            proxy_ssl_session_reuse off;
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
    if wait_code 200 "http://127.0.0.1:$PX/"; then pass "proxy answers 200 over verified mTLS"; else
        fail "proxy: $(http_code "http://127.0.0.1:$PX/")"
        tail -5 "$P/logs/error.log"
        done_testing
    fi
    if loadloop_start "http://127.0.0.1:$PX/" 30; then pass "request loop started (30/s)"; else
        fail "request loop did not start"
        done_testing
    fi
    keep_leaf setup
}

# (a) Plain renewals under the first intermediate: the baseline the later
# phases are compared with.
phase_renewals() {
    agent_run "(a) agent --force" --force
    keep_leaf a
    check "(a) leaf issued by the first intermediate" issued_by "$L/a.leaf" "$INT1"
    verify_leaf setup "$ROOT1" accept "(a) the first leaf under the root"
    verify_leaf a "$L/a.bundle" accept "(a) the renewed leaf under its bundle"
    expect_status_rc "0" "(a)"
    phase_end "(a) renewals"
}

# (b) A new intermediate under the same root. Nothing changes for relying
# parties (same root); the agent renews on its own because its certificates
# are no longer from the current intermediate.
phase_rotate() {
    run "$MINICA" ca rotate --dir "$CA"
    must_ok "(b) ca rotate" || return
    export_ca intermediate "$INT2"
    check "(b) export intermediate is one certificate" test "$(count_certs "$INT2")" = 1
    check_not "(b) the active intermediate changed" cmp -s "$INT2" "$INT1"
    check "(b) intermediate.crt is the exported one" cmp -s "$INT2" "$CA/intermediate.crt"
    check "(b) the new intermediate is under the same root" issued_by "$INT2" "$ROOT1"
    check "(b) root.crt unchanged" cmp -s "$CA/root.crt" "$ROOT1"
    check "(b) ca/ holds both intermediates" test -e "$CA/ca/intermediate-$(serial_of "$INT1").crt" \
        -a -e "$CA/ca/intermediate-$(serial_of "$INT2").crt"
    expect_mode "$CA/ca" 700
    local k bad=0
    for k in "$CA"/ca/*.key; do [ "$(mode_of "$k")" = 600 ] || bad=1; done
    check "(b) every key in ca/ is 0600" test $bad = 0
    expect_status_rc "0" "(b) after rotate"
    run "$MINICA" ca status --dir "$CA" --json
    check "(b) ca status --json is JSON" sh -c 'printf "%s" "$1" | jq -e . >/dev/null' _ "$OUT"
    check "(b) ca status --json: active_intermediate is the new one" \
        test "$(printf '%s' "$OUT" | jq -r .active_intermediate)" = "$(serial_of "$INT2")"
    check "(b) ca status names the active intermediate's serial" \
        sh -c 'printf "%s" "$1" | grep -qi "$2"' _ "$OUT" "$(serial_of "$INT2")"

    # What still depends on the old intermediate keeps it.
    run "$MINICA" ca retire "$(serial_of "$INT1")" --dir "$CA"
    expect_rc 1 "(b) retire of the previous intermediate, its leaves unexpired, refused"
    expect_err "^minica: ca.*unexpired" "(b) the refusal names the unexpired leaves"
    run "$MINICA" ca retire "$(serial_of "$INT2")" --dir "$CA"
    expect_rc 1 "(b) retire of the active intermediate refused"
    expect_err "^minica: ca.*active" "(b) the refusal says it is the active one"
    run "$MINICA" ca revoke "$(serial_of "$INT2")" --dir "$CA"
    expect_rc 1 "(b) revoke of the active intermediate refused"
    expect_err "^minica: ca.*active" "(b) the refusal says it is the active one"

    # The new intermediate's CRL is out before any leaf of it is: a
    # CRL-checking nginx refuses a chain with a CA it has no CRL for.
    publish_crl "(b) after rotate"
    # Leaves of the previous intermediate are still current: the agent
    # leaves them to their own schedule (no fleet-wide renewal the night of
    # a rotation); --force moves them now, as the runbook says.
    local before
    before=$(serial_of "$C/up.fullchain.crt")
    run "$MINICA" agent --once --config "$CONF"
    expect_ok "(b) agent run after rotate"
    check "(b) it renews nothing: the previous intermediate's leaves are current" \
        test "$(serial_of "$C/up.fullchain.crt")" = "$before"
    agent_run "(b) agent --force after rotate" --force
    keep_leaf b
    served_chain "$T/served-b" >/dev/null
    check "(b) served leaf's issuer is the new intermediate" issued_by "$T/served-b.1.pem" "$INT2"
    check "(b) served chain's intermediate is the new one" same_certs "$T/served-b.2.pem" "$INT2"
    check "(b) client cert from the new intermediate" issued_by "$C/client.fullchain.crt" "$INT2"
    verify_leaf a "$ROOT1" accept "(b) the old intermediate's leaf"
    verify_leaf b "$L/b.bundle" accept "(b) the new intermediate's leaf"
    phase_end "(b) rotate"
}

# (c) Renewals under the new intermediate, the steady state after a rotation.
phase_renewals_rotated() {
    agent_run "(c) agent --force" --force
    keep_leaf c
    served_chain "$T/served-c" >/dev/null
    check "(c) served leaf's issuer is the new intermediate" issued_by "$T/served-c.1.pem" "$INT2"
    verify_leaf a "$L/c.bundle" accept "(c) a leaf of the first intermediate"
    verify_leaf c "$L/c.bundle" accept "(c) a leaf of the new intermediate"
    phase_end "(c) renewals after rotate"
}

# (d) A new root, cross-signed by the old one, and an intermediate under it.
# Trust bundles then carry both roots and chains the cross-certificate, so a
# relying party that has only the old root keeps verifying. drop-cross and
# retiring the old root are refused until the bundles are updated.
phase_rollover() {
    run "$MINICA" ca rollover --dir "$CA"
    must_ok "(d) ca rollover" || return
    export_ca root "$ROOTS"
    check "(d) export root holds two roots" test "$(count_certs "$ROOTS")" = 2
    # The new root: the one in the bundle that is not the old one.
    local n i
    n=$(split_pem "$ROOTS" "$T/roots-d")
    for i in $(seq 1 "$n"); do
        [ "$(fp "$T/roots-d.$i.pem")" = "$(fp "$ROOT1")" ] || cp "$T/roots-d.$i.pem" "$ROOT2"
    done
    cat "$ROOT1" "$ROOT2" >"$T/both-roots.pem"
    check "(d) export root is the old root and the new one" same_certs "$ROOTS" "$T/both-roots.pem"
    check "(d) root.crt is the trust bundle of both roots" same_certs "$CA/root.crt" "$ROOTS"
    check_not "(d) the new root has its own name" test \
        "$(openssl x509 -in "$ROOT1" -noout -subject)" = "$(openssl x509 -in "$ROOT2" -noout -subject)"
    INT3CHAIN=$T/int3-chain.pem
    export_ca intermediate "$INT3CHAIN"
    check "(d) export intermediate is intermediate + cross" test "$(split_pem "$INT3CHAIN" "$T/int3")" = 2
    check "(d) the new intermediate is under the new root" issued_by "$INT3" "$ROOT2"
    check "(d) the cross-certificate is signed by the old root" issued_by "$CROSS" "$ROOT1"
    check "(d) the cross-certificate carries the new root's key" sh -c \
        '[ "$(openssl x509 -in "$1" -noout -pubkey)" = "$(openssl x509 -in "$2" -noout -pubkey)" ]' _ "$CROSS" "$ROOT2"
    expect_status_rc "0 3" "(d) after rollover"
    run "$MINICA" ca status --dir "$CA" --json
    check "(d) ca status --json: active_root is the new root" \
        test "$(printf '%s' "$OUT" | jq -r .active_root)" = "$(serial_of "$ROOT2")"
    check "(d) ca status --json: active_intermediate is the new root's" \
        test "$(printf '%s' "$OUT" | jq -r .active_intermediate)" = "$(serial_of "$INT3")"

    # The agent's leaves still chain to the old root and its bundles hold
    # only that root: nothing may be dropped or retired yet.
    run "$MINICA" ca drop-cross --dir "$CA"
    expect_rc 1 "(d) drop-cross before any renewal refused"
    expect_err "^minica: ca.*(up\.svc|client\.svc)" "(d) the refusal names a certificate that needs the cross"
    run "$MINICA" ca retire "$ROOT1_SERIAL" --dir "$CA"
    expect_rc 1 "(d) retire of the old root refused"
    expect_err "^minica: ca.*cross-certificate $(serial_of "$CROSS")" "(d) the refusal names the cross-certificate"

    publish_crl "(d) after rollover"
    # The upstream's machine renews first: it serves leaf + intermediate +
    # cross while the proxy, not yet renewed, still trusts only the old root
    # (the depth-3 path through the cross, inside proxy_ssl_verify_depth 2),
    # and presents a client cert of the old root, which the upstream's new
    # bundle still trusts. The loop runs through that mixed state.
    AGENT_CONF=$T/agent-up.conf agent_run "(d) the upstream's agent --force after rollover" --force
    check "(d) mixed state: the proxy still trusts the old root alone" same_certs "$PX_TRUST" "$ROOT1"
    check "(d) mixed state: the upstream's bundle holds both roots" same_certs "$UP_TRUST" "$ROOTS"
    check "(d) mixed state: the proxy gets 200" wait_code 200 "http://127.0.0.1:$PX/"
    sleep 1
    echo "# in the mixed state: requests $(loadloop_counts)"
    AGENT_CONF=$T/agent-px.conf agent_run "(d) the proxy's agent --force after rollover" --force
    keep_leaf d
    code=$(old_trust_code)
    check "(d) a server trusting only the old root accepts the new client chain via the cross ($code)" test "$code" = 200
    check "(d) upstream bundle holds both roots" same_certs "$UP_TRUST" "$ROOTS"
    check "(d) proxy bundle holds both roots" same_certs "$PX_TRUST" "$ROOTS"
    n=$(served_chain "$T/served-d")
    check "(d) served chain is leaf + intermediate + cross ($n certs)" test "$n" = 3
    check "(d) served leaf's issuer is the new root's intermediate" issued_by "$T/served-d.1.pem" "$INT3"
    check "(d) served second cert is the new intermediate" same_certs "$T/served-d.2.pem" "$INT3"
    check "(d) served third cert is the cross-certificate" same_certs "$T/served-d.3.pem" "$CROSS"
    verify_leaf d "$L/d.bundle" accept "(d) the new root's leaf under both roots"
    verify_leaf d "$ROOT1" accept "(d) the new root's leaf under only the old root (via the cross)"
    verify_leaf d "$ROOT2" accept "(d) the new root's leaf under only the new root"
    verify_leaf c "$L/d.bundle" accept "(d) the old root's last leaf under both roots"
    check "(d) openssl verify -CAfile oldroot -untrusted chain leaf" \
        openssl verify -CAfile "$ROOT1" -untrusted "$L/d.chain" "$L/d.leaf"
    # A real client that has only the old root talks to the upstream.
    code=$(http_code "https://up.svc:$UP/" --cacert "$ROOT1" --resolve "up.svc:$UP:127.0.0.1" \
        --cert "$C/client.fullchain.crt" --key "$C/client.key")
    check "(d) curl trusting only the old root gets 200 from the upstream ($code)" test "$code" = 200

    # Renewals during the rollover.
    agent_run "(d) agent --force during the rollover" --force
    keep_leaf d2
    verify_leaf d2 "$L/d2.bundle" accept "(d) a renewal during the rollover"
    verify_leaf d2 "$ROOT1" accept "(d) a renewal during the rollover, only the old root"
    phase_end "(d) rollover"
}

# (e) Every name has a leaf issued after the new root and bundles with both
# roots: the cross-certificate goes. Chains shrink to leaf + intermediate,
# and a relying party with only the old root no longer verifies them (which
# is why drop-cross waits).
phase_drop_cross() {
    run "$MINICA" ca drop-cross --dir "$CA"
    must_ok "(e) ca drop-cross after the renewals" || return
    export_ca intermediate "$T/int-e.pem"
    check "(e) export intermediate is the intermediate alone" same_certs "$T/int-e.pem" "$INT3"
    agent_run "(e) agent --force after drop-cross" --force
    keep_leaf e
    code=$(old_trust_code)
    check "(e) without the cross, a server trusting only the old root refuses the client cert ($code)" test "$code" = 400
    local n
    n=$(served_chain "$T/served-e")
    check "(e) served chain is leaf + intermediate ($n certs)" test "$n" = 2
    check "(e) served second cert is the new intermediate" same_certs "$T/served-e.2.pem" "$INT3"
    check "(e) bundles still hold both roots" same_certs "$UP_TRUST" "$ROOTS"
    verify_leaf e "$L/e.bundle" accept "(e) a leaf after drop-cross under both roots"
    verify_leaf e "$ROOT2" accept "(e) a leaf after drop-cross under the new root"
    verify_leaf e "$ROOT1" reject "(e) a leaf after drop-cross under only the old root"
    verify_leaf c "$L/e.bundle" accept "(e) the old root's last leaf under both roots"
    phase_end "(e) drop-cross"
}

# (f) The old root goes. Refused while leaves of its intermediates are
# unexpired; two days on (the fake clock; the leaves live a day) it is
# accepted. Bundles then carry the new root only.
phase_retire() {
    run "$MINICA" ca retire "$ROOT1_SERIAL" --dir "$CA"
    expect_rc 1 "(f) retire of the old root while its leaves are unexpired refused"
    expect_err "^minica: ca.*unexpired" "(f) the refusal names the unexpired leaves"
    export_ca root "$T/roots-f0.pem"
    check "(f) nothing retired" same_certs "$T/roots-f0.pem" "$ROOTS"

    local later=$(($(date +%s) + 2 * 86400)) s
    for s in "$(serial_of "$INT1")" "$(serial_of "$INT2")"; do
        run env MINICA_FAKE_NOW=$later "$MINICA_FAKECLOCK" ca retire "$s" --dir "$CA"
        expect_ok "(f) retire old intermediate $s once its leaves expired"
    done
    run env MINICA_FAKE_NOW=$later "$MINICA_FAKECLOCK" ca retire "$ROOT1_SERIAL" --dir "$CA"
    # Not must_ok: what a failed retire left behind is worth checking too.
    expect_ok "(f) retire the old root once its leaves expired"
    export_ca root "$T/roots-f.pem"
    check "(f) export root is the new root alone" same_certs "$T/roots-f.pem" "$ROOT2"
    check "(f) retired/ holds the old root" test -e "$CA/ca/retired/root-$ROOT1_SERIAL.crt"
    check "(f) the old root's retirement is in the audit log" \
        sh -c '"$1" log --dir "$2" | grep -q "ca retire root=$3"' _ "$MINICA" "$CA" "$ROOT1_SERIAL"

    publish_crl "(f) after retire"
    agent_run "(f) agent --force after retire" --force
    keep_leaf f
    check "(f) upstream bundle is the new root alone" same_certs "$UP_TRUST" "$ROOT2"
    check "(f) proxy bundle is the new root alone" same_certs "$PX_TRUST" "$ROOT2"
    verify_leaf f "$L/f.bundle" accept "(f) a leaf after the retirement under the new root"
    verify_leaf e "$L/f.bundle" accept "(f) the drop-cross phase's leaf under the new root"
    verify_leaf c "$L/f.bundle" reject "(f) the old root's leaf under the new root alone"
    expect_status_rc "0" "(f) after retire"
    phase_end "(f) retire"
}

# The loop ran through every phase: not one request may have failed.
check_loop() {
    local t0=$1 secs counts total failed
    loadloop_stop
    secs=$(($(date +%s) - t0))
    counts=$(loadloop_counts)
    total=$(loadloop_total)
    failed=$(loadloop_failed)
    echo "# request loop: $counts in ${secs}s (about $((total / (secs > 0 ? secs : 1)))/s)"
    check "the request loop ran ($total requests)" test "$total" -gt 100
    if [ "$failed" = 0 ]; then pass "no request failed across all phases"; else
        fail "$failed of $total requests failed; first ones: $(loadloop_failures | head -5 | tr '\n' ';')"
        tail -5 "$P/logs/error.log"
    fi
}

# The control: the same loop does see a broken trust bundle (the upstream
# trusting an unrelated CA refuses the proxy's client certificate), so its
# zero above is a measurement, not a blind spot.
control_loop_sees_failures() {
    cp "$UP_TRUST" "$T/up-trust.saved"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=unrelated" \
        -keyout "$T/unrelated.key" -out "$UP_TRUST" 2>/dev/null
    nginx_reload_settled "$P"
    loadloop_start "http://127.0.0.1:$PX/" 30
    sleep 1
    loadloop_stop
    check "control: the loop counts failures when the upstream distrusts the proxy ($(loadloop_counts))" \
        test "$(loadloop_failed)" -gt 0
    cp "$T/up-trust.saved" "$UP_TRUST"
    nginx_reload_settled "$P"
}

# The CRL-checking server's 200s above mean something only if it does read
# the CRLs: revoke the proxy's client cert (the loop is over) and publish.
control_crl_revokes() {
    run "$MINICA" revoke client.svc --dir "$CA"
    expect_ok "control: revoke client.svc"
    publish_crl "control"
    local code
    code=$(crl_code)
    check "control: the CRL-checking server refuses the revoked client cert ($code)" test "$code" = 400
    check "control: openssl verify -crl_check_all says revoked" sh -c \
        'openssl verify -crl_check_all -CAfile "$1" -CRLfile "$2" -untrusted "$3" "$3" 2>&1 | grep -q "certificate revoked"' \
        _ "$PX_TRUST" "$C/crl.pem" "$C/client.fullchain.crt"
}

# SIGKILL during `ca rotate`: after each kill the CA works and the issuer
# is whole (its certificate and key belong together and chain to the root),
# old or new. A CA of its own, so that the half-made intermediates of
# killed runs do not mix with the phases above.
crash_safety() {
    local K=$T/crash o i pid ms start run_ms=0 killed=0 bad_status=0 bad_issue=0 bad_verify=0 statuses=
    local before kept=0 switched=0
    run "$MINICA" init --dir "$K"
    expect_ok "crash: init a second CA"
    # Kill points spread over a whole run, its length measured here (the
    # shortest of three: the first one also archives the legacy pair).
    run_ms=5000
    for i in 1 2 3; do
        start=$(date +%s%N)
        run "$MINICA" ca rotate --dir "$K"
        ms=$((($(date +%s%N) - start) / 1000000))
        must_ok "crash: an unhurried rotation ($ms ms)" || return
        [ $ms -lt $run_ms ] && run_ms=$ms
    done
    [ $run_ms -ge 5 ] || run_ms=5
    local killed_asan
    killed_asan=$(asan_options_for_killed)
    for i in $(seq 1 20); do
        before=$(serial_of "$K/intermediate.crt")
        ASAN_OPTIONS=$killed_asan "$MINICA" ca rotate --dir "$K" >/dev/null 2>&1 &
        pid=$!
        ms=$((RANDOM % run_ms))
        sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null
        [ $? -eq 137 ] && killed=$((killed + 1))
        if [ "$(serial_of "$K/intermediate.crt")" = "$before" ]; then kept=$((kept + 1)); else switched=$((switched + 1)); fi
        "$MINICA" ca status --dir "$K" >/dev/null 2>"$T/crash.err"
        o=$?
        statuses="$statuses $o"
        case $o in 0 | 3) ;; *)
            bad_status=$((bad_status + 1))
            echo "# kill $i: ca status exit $o: $(cat "$T/crash.err")"
            ;;
        esac
        if ! "$MINICA" issue "probe$i.svc" --ttl 1h --dir "$K" --out "$T/crash-out" >/dev/null 2>"$T/crash.err"; then
            bad_issue=$((bad_issue + 1))
            echo "# kill $i: issue failed: $(cat "$T/crash.err")"
            continue
        fi
        "$MINICA" export root --dir "$K" >"$T/crash-root.pem" 2>/dev/null
        "$MINICA" export intermediate --dir "$K" >"$T/crash-int.pem" 2>/dev/null
        if ! openssl verify -CAfile "$T/crash-root.pem" -untrusted "$T/crash-int.pem" \
            "$T/crash-out/probe$i.svc.crt" >"$T/crash.err" 2>&1 ||
            ! cmp -s "$T/crash-int.pem" "$K/intermediate.crt" ||
            ! openssl verify -CAfile "$T/crash-root.pem" -untrusted "$T/crash-out/probe$i.svc.fullchain.crt" \
                "$T/crash-out/probe$i.svc.crt" >/dev/null 2>&1; then
            bad_verify=$((bad_verify + 1))
            echo "# kill $i: the leaf does not verify under root + export intermediate: $(cat "$T/crash.err" | tr '\n' ' ')"
        fi
    done
    echo "# crash: $killed of 20 rotations killed (runs take ~${run_ms}ms);"\
        "the old issuer stayed $kept times, the new one took over $switched times; ca status exits:$statuses"
    check "crash: some rotations were killed mid-run" test $killed -gt 0
    check "crash: after each kill ca status exits 0 or 3" test $bad_status = 0
    check "crash: after each kill minica issue works" test $bad_issue = 0
    check "crash: after each kill the leaf verifies under root + export intermediate" test $bad_verify = 0
    run "$MINICA" ca rotate --dir "$K"
    expect_ok "crash: a rotation after the kills completes"
    run "$MINICA" ca status --dir "$K"
    expect_ok "crash: and the CA is healthy"
}

setup
t0=$(date +%s)
phase_renewals
phase_rotate
phase_renewals_rotated
phase_rollover
phase_drop_cross
phase_retire
check_loop "$t0"
control_loop_sees_failures
control_crl_revokes
check "proxy still answers 200" wait_code 200 "http://127.0.0.1:$PX/"
nginx_stop "$P"
crash_safety
done_testing
