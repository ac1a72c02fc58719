#!/bin/bash
# The CA lifecycle seen from a remote VM (issue 15): `minica serve` and an
# agent with ca_url and a root pinned at bootstrap. The VM renews across an
# intermediate rotation and a root rollover (serve reloaded with SIGHUP) and
# ends up trusting the new root, learnt from /v1/roots through the
# cross-certificate the old root signed. A stand-in server whose /v1/roots
# offers a root nobody vouched for (and a forged cross) gets nothing in.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
VM=$T/vm   # the VM that follows the CA through every phase
VM2=$T/vm2 # the VM the rogue server tries to fool
# The CA certificates of each phase (missing while a phase failed early).
ROOT1=$T/root1.pem
INT1=$T/int1.pem   # the first intermediate
INT2=$T/int2.pem   # the rotated intermediate
ROOT2=$T/root2.pem # the new root
INT3=$T/int3.1.pem # its intermediate
CROSS=$T/int3.2.pem
mkdir -p "$VM/certs" "$VM/state" "$VM2/certs" "$VM2/state"

# ---------------------------------------------------------------- helpers ---
split_pem() { # split_pem FILE PREFIX: PREFIX.1.pem ...; prints how many
    rm -f "$2".*.pem
    awk -v p="$2" '/-----BEGIN CERTIFICATE-----/ { n++; f = p "." n ".pem" }
        f { print > f } /-----END CERTIFICATE-----/ { close(f); f = "" }
        END { print n + 0 }' "$1"
}
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2; }
# holds FILE CERT: one of FILE's certificates is CERT.
holds() {
    local n i want
    want=$(fp "$2")
    [ -n "$want" ] || return 1
    n=$(split_pem "$1" "$T/.holds")
    for i in $(seq 1 "$n"); do [ "$(fp "$T/.holds.$i.pem")" = "$want" ] && return 0; done
    return 1
}
issued_by() { openssl verify -partial_chain -CAfile "$2" "$1" >/dev/null 2>&1; }
# serve_chain PREFIX: the chain serve sends now; prints how many certs.
serve_chain() {
    openssl s_client -connect "127.0.0.1:$PORT" -showcerts </dev/null 2>/dev/null >"$T/.served"
    split_pem "$T/.served" "$1"
}
# wait_serve_issuer CA [N]: after SIGHUP serve re-issues its certificate;
# poll (bounded) until its leaf is signed by CA (and its chain has N certs).
wait_serve_issuer() {
    local i n
    for i in $(seq 1 100); do
        n=$(serve_chain "$T/serve-now")
        if issued_by "$T/serve-now.1.pem" "$1" && { [ -z "${2:-}" ] || [ "$n" = "$2" ]; }; then return 0; fi
        sleep 0.1
    done
    return 1
}
# must_ok WHAT: expect_ok, and false when it failed: a phase whose own
# command failed stops there instead of checking the previous state again.
must_ok() {
    expect_ok "$1"
    [ "$RC" -eq 0 ] && return 0
    echo "# skipping the rest of this phase"
    return 1
}
vm_conf() { # vm_conf DIR URL NAME TOKEN
    cat >"$1/agent.conf" <<EOF
[agent]
state_dir = $1/state
ca_url = $2
root = $1/root.crt
retry_for = 5s

[cert $3]
sans = 127.0.0.1
fullchain = $1/certs/$3.fullchain.crt
key = $1/certs/$3.key
ca = $1/certs/ca.crt
token_file = $4
EOF
    chmod 600 "$1/agent.conf"
}
vm_agent() { # vm_agent DIR WHAT [agent args]
    local d=$1 what=$2
    shift 2
    run "$MINICA" agent --once --config "$d/agent.conf" "$@"
    expect_ok "$what"
}

# ----------------------------------------------------------------- phases ---

# A CA, serve, and two VMs bootstrapped by the first root's fingerprint and
# enrolled with one-time tokens.
setup() {
    run "$MINICA" init --dir "$CA"
    expect_ok "init the CA"
    cp "$CA/root.crt" "$ROOT1"
    cp "$CA/intermediate.crt" "$INT1"
    PORT=$(free_port)
    URL=https://127.0.0.1:$PORT
    # serve's own certificates live a day like the VMs': two days on (the
    # fake clock of the retirement) none under the old root is unexpired.
    "$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" --cert-ttl 1d 2>"$T/serve.log" &
    SERVE_PID=$!
    track_pid "$SERVE_PID"
    check "serve answers /v1/health" wait_health "$URL"
    local fpr v
    fpr=$(openssl x509 -in "$ROOT1" -noout -fingerprint -sha256)
    for v in "$VM:app.internal" "$VM2:app2.internal"; do
        run "$MINICA" bootstrap --ca-url "$URL" --fingerprint "$fpr" --out "${v%%:*}"
        expect_ok "bootstrap ${v#*:} pinned to the first root"
        "$MINICA" token "${v#*:}" --san 127.0.0.1 --ttl 1d --dir "$CA" >"${v%%:*}/token"
        chmod 600 "${v%%:*}/token"
        vm_conf "${v%%:*}" "$URL" "${v#*:}" "${v%%:*}/token"
        vm_agent "${v%%:*}" "${v#*:} enrolls with its token"
    done
    check "the VM's leaf verifies under the pinned root" openssl verify -CAfile "$VM/root.crt" \
        -untrusted "$VM/certs/app.internal.fullchain.crt" "$VM/certs/app.internal.fullchain.crt"
    # serve's identity under the first root, for the rogue server below.
    cp "$CA/serve.crt" "$T/serve-old.crt"
    cp "$CA/serve.key" "$T/serve-old.key"
}

# A new intermediate: serve switches on SIGHUP, the VM's renewal comes from it.
phase_rotate() {
    run "$MINICA" ca rotate --dir "$CA"
    must_ok "ca rotate" || return
    "$MINICA" export intermediate --dir "$CA" >"$INT2"
    kill -HUP "$SERVE_PID"
    check "after SIGHUP serve's certificate is from the new intermediate" wait_serve_issuer "$INT2"
    check "serve is still up" wait_health "$URL"
    vm_agent "$VM" "the VM renews after the rotation" --force
    check "the VM's leaf is from the new intermediate" issued_by "$VM/certs/app.internal.fullchain.crt" "$INT2"
    check "and verifies under the pinned root" openssl verify -CAfile "$VM/root.crt" \
        -untrusted "$VM/certs/app.internal.fullchain.crt" "$VM/certs/app.internal.fullchain.crt"
    check "the pinned root is unchanged" cmp -s "$VM/root.crt" "$ROOT1"
}

# A new root, cross-signed: the VM learns it from /v1/roots, vouched for by
# the cross-certificate, and keeps renewing.
phase_rollover() {
    run "$MINICA" ca rollover --dir "$CA"
    must_ok "ca rollover" || return
    cp "$CA/root.crt" "$ROOT2"
    check "a new root" test "$(fp "$ROOT2")" != "$(fp "$ROOT1")"
    "$MINICA" export intermediate --dir "$CA" >"$T/int3-chain.pem"
    split_pem "$T/int3-chain.pem" "$T/int3" >/dev/null
    kill -HUP "$SERVE_PID"
    check "after SIGHUP serve sends leaf + intermediate + cross" wait_serve_issuer "$INT3" 3
    # A client that has only the old root reaches serve through the cross.
    curl -s --max-time 10 --cacert "$ROOT1" "$URL/v1/roots" >"$T/v1roots.pem"
    check "/v1/roots holds the old root" holds "$T/v1roots.pem" "$ROOT1"
    check "/v1/roots holds the new root" holds "$T/v1roots.pem" "$ROOT2"
    check "/v1/roots holds the cross-certificate" holds "$T/v1roots.pem" "$CROSS"
    vm_agent "$VM" "the VM renews after the rollover" --force
    check "the VM's leaf is from the new root's intermediate" \
        issued_by "$VM/certs/app.internal.fullchain.crt" "$INT3"
    check "the VM's root file holds the new root" holds "$VM/root.crt" "$ROOT2"
    check "the VM's ca = bundle holds the new root" holds "$VM/certs/ca.crt" "$ROOT2"
    check "the VM's ca = bundle holds the old root" holds "$VM/certs/ca.crt" "$ROOT1"
    check "the VM's leaf verifies under the new root alone" openssl verify -CAfile "$ROOT2" \
        -untrusted "$VM/certs/app.internal.fullchain.crt" "$VM/certs/app.internal.fullchain.crt"
}

# The refusal: a server that serves the pinned root's TLS identity (it has
# serve's old key) but offers, in /v1/roots, a self-signed root with the new
# root's name and a "cross-certificate" for it that the pinned root did not
# sign; renewals are answered with a leaf under that rogue root. The VM
# keeps its root, its certificate and its key.
phase_rogue_roots() {
    local R=$T/rogue
    mkdir -p "$R"
    k() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$R/$1.key" 2>/dev/null; }
    k root
    k fakeold
    k int
    printf '%s\n' "basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign,cRLSign" \
        "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$R/ca.ext"
    local rootsubj oldsubj
    rootsubj=$(openssl x509 -in "$ROOT2" -noout -subject -nameopt compat 2>/dev/null | sed 's/^subject=//')
    [ -n "$rootsubj" ] || rootsubj="/CN=minica Root CA 2"
    oldsubj=$(openssl x509 -in "$ROOT1" -noout -subject -nameopt compat | sed 's/^subject=//')
    # The rogue root, named like the real new root.
    openssl req -x509 -key "$R/root.key" -subj "$rootsubj" -days 30 -out "$R/root.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    # A "cross" naming the old root as issuer, signed by another key.
    openssl req -x509 -key "$R/fakeold.key" -subj "$oldsubj" -days 30 -out "$R/fakeold.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl req -new -key "$R/root.key" -subj "$rootsubj" -out "$R/root.csr" 2>/dev/null
    openssl x509 -req -in "$R/root.csr" -CA "$R/fakeold.pem" -CAkey "$R/fakeold.key" -set_serial 7 \
        -days 30 -extfile "$R/ca.ext" -out "$R/cross.pem" 2>/dev/null
    openssl req -new -key "$R/int.key" -subj "/CN=minica Intermediate CA" -out "$R/int.csr" 2>/dev/null
    openssl x509 -req -in "$R/int.csr" -CA "$R/root.pem" -CAkey "$R/root.key" -set_serial 8 \
        -days 30 -extfile "$R/ca.ext" -out "$R/int.pem" 2>/dev/null
    check "the rogue cross-certificate names the old root as issuer" test \
        "$(openssl x509 -in "$R/cross.pem" -noout -issuer)" = "$(openssl x509 -in "$ROOT1" -noout -subject | sed 's/^subject/issuer/')"
    check_not "and the old root did not sign it" issued_by "$R/cross.pem" "$ROOT1"
    cat "$ROOT1" "$R/root.pem" "$R/cross.pem" >"$R/roots.pem"
    cat "$R/int.pem" "$R/cross.pem" >"$R/chain.pem"
    cat "$T/serve-old.crt" >"$R/tls.crt"

    local fport tries=0
    while :; do
        fport=$(free_port)
        python3 "$SRCDIR/tests/integration/lib/fake_roots.py" "$fport" "$R/tls.crt" "$T/serve-old.key" \
            "$R/roots.pem" "$R/log" "$R/int.pem" "$R/int.key" "$R/chain.pem" >"$R/out" 2>&1 &
        FAKE=$!
        track_pid "$FAKE"
        local i
        for i in $(seq 1 100); do
            grep -q listening "$R/out" && break
            kill -0 "$FAKE" 2>/dev/null || break
            sleep 0.1
        done
        grep -q listening "$R/out" && break
        tries=$((tries + 1))
        [ $tries -lt 5 ] || break
    done
    check "the rogue server is up" grep -q listening "$R/out"
    sed -i "s|^ca_url = .*|ca_url = https://127.0.0.1:$fport|" "$VM2/agent.conf"
    local before
    before=$(sha256sum "$VM2/root.crt" "$VM2/certs/"*)
    run "$MINICA" agent --once --config "$VM2/agent.conf" --force
    expect_rc 1 "the VM refuses the rogue server's renewal"
    echo "# the agent said: $ERR"
    check "the refusal says no cross-certificate vouches for the offered root" \
        sh -c 'printf "%s" "$1" | grep -q "vouch"' _ "$ERR"
    echo "# the rogue server was asked: $(tr '\n' ';' <"$R/log" 2>/dev/null)"
    check "the rogue server was asked for /v1/roots" grep -q '^GET /v1/roots' "$R/log"
    check "the VM's root file is the pinned root alone" cmp -s "$VM2/root.crt" "$ROOT1"
    check_not "the rogue root is in no file of the VM" sh -c \
        'grep -rqF "$(sed -n 2p "$1")" "$2"' _ "$R/root.pem" "$VM2"
    check "the VM's files are untouched" test "$(sha256sum "$VM2/root.crt" "$VM2/certs/"*)" = "$before"
    kill "$FAKE" 2>/dev/null
    wait "$FAKE" 2>/dev/null
    # Back to the real CA: the genuine cross-certificate is accepted.
    sed -i "s|^ca_url = .*|ca_url = $URL|" "$VM2/agent.conf"
}

# drop-cross waits for the VM that has not renewed since the rollover;
# once it has, the cross goes and the VMs renew on the new root alone.
phase_drop_cross() {
    run "$MINICA" ca drop-cross --dir "$CA"
    expect_rc 1 "drop-cross while a VM's newest leaf predates the new root: refused"
    expect_err "^minica: ca.*app2\.internal" "the refusal names the certificate"
    vm_agent "$VM2" "the second VM renews from the real CA" --force
    check "the second VM's root file holds the new root" holds "$VM2/root.crt" "$ROOT2"
    run "$MINICA" ca drop-cross --dir "$CA"
    must_ok "drop-cross once every VM renewed" || return
    kill -HUP "$SERVE_PID"
    check "after SIGHUP serve sends leaf + intermediate" wait_serve_issuer "$INT3" 2
    vm_agent "$VM" "the VM renews without the cross-certificate" --force
    check "the VM's leaf verifies under its root file" openssl verify -CAfile "$VM/root.crt" \
        -untrusted "$VM/certs/app.internal.fullchain.crt" "$VM/certs/app.internal.fullchain.crt"
    check "the VM ends trusting the new root" holds "$VM/root.crt" "$ROOT2"
}

# The old root goes once nothing under it is unexpired (two days on: every
# leaf here, serve's own included, lives a day). serve, reloaded, sends the
# new root alone, and the VM's bundle ends with the new root alone.
phase_retire() {
    local later=$(($(date +%s) + 2 * 86400)) s
    for s in "$(serial_of "$INT1")" "$(serial_of "$INT2")" "$(serial_of "$ROOT1")"; do
        run env MINICA_FAKE_NOW=$later "$MINICA_FAKECLOCK" ca retire "$s" --dir "$CA"
        must_ok "retire $s (two days on)" || return
    done
    kill -HUP "$SERVE_PID"
    check "after SIGHUP serve sends leaf + intermediate" wait_serve_issuer "$INT3" 2
    curl -s --max-time 10 --cacert "$ROOT2" "$URL/v1/roots" >"$T/v1roots-retired.pem"
    check "/v1/roots holds the new root" holds "$T/v1roots-retired.pem" "$ROOT2"
    check_not "/v1/roots no longer holds the old root" holds "$T/v1roots-retired.pem" "$ROOT1"
    vm_agent "$VM" "the VM renews after the old root's retirement" --force
    check "the VM's ca = bundle is the new root alone" sh -c \
        '[ "$(grep -c BEGIN "$1")" = 1 ]' _ "$VM/certs/ca.crt"
    check "the VM's ca = bundle holds the new root" holds "$VM/certs/ca.crt" "$ROOT2"
    check "the VM's root file holds the new root" holds "$VM/root.crt" "$ROOT2"
    local n i
    n=$(split_pem "$VM/certs/ca.crt" "$T/cab")
    echo "# the VM's root file holds $(grep -c BEGIN "$VM/root.crt") certificate(s); its ca = bundle $n:"
    for i in $(seq 1 "$n"); do echo "#   $(openssl x509 -in "$T/cab.$i.pem" -noout -subject -serial | tr '\n' ' ')"; done
}

setup
phase_rotate
phase_rollover
phase_rogue_roots
phase_drop_cross
phase_retire
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
check "serve stops cleanly" test $? = 0
done_testing
