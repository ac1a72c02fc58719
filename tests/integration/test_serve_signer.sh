# serve's privilege separation (issue 18), checked from outside: the
# network process's memory holds none of the intermediate key's bytes and
# maps no key file, the key files are covered in its mount namespace, it
# has no capability and no_new_privs; the signer process holds the key
# (the scan's own proof that it can find it, as it does in an in-process
# serve). A killed signer gives 503 with Retry-After and records nothing
# while it is down, then is restarted; after `ca rotate` and SIGHUP a new
# signer issues from the new intermediate, whose key is covered too.
# Certificates and CRLs are checked with openssl and GnuTLS certtool.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
mkdir -p "$T/out"
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"
CA=$(cd "$CA" && pwd -P)

start_serve() { # start_serve PORT [args]: pid in $SERVE_PID, log in $T/serve-PORT.log
    local port=$1
    shift
    "$MINICA" serve --dir "$CA" --listen "127.0.0.1:$port" "$@" 2>"$T/serve-$port.log" &
    SERVE_PID=$!
    track_pid "$SERVE_PID"
    wait_health "https://127.0.0.1:$port"
}
children() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . ; }
enroll() { # enroll PORT NAME: a token, then remote issuance into $T/out
    local token
    token=$("$MINICA" token "$2" --san 127.0.0.1 --dir "$CA") || return 1
    "$MINICA" issue "$2" --san 127.0.0.1 --ca-url "https://127.0.0.1:$1" --root "$CA/root.crt" \
        --token "$token" --out "$T/out" --retry-for 0 >/dev/null 2>&1
}
verified() { # verified NAME: openssl and certtool accept it under the root
    local c=$T/out/$1
    openssl verify -CAfile "$CA/root.crt" -untrusted "$c.fullchain.crt" "$c.crt" >/dev/null &&
        cat "$c.crt" "$c.fullchain.crt" >"$T/chain.pem" &&
        certtool --verify --load-ca-certificate "$CA/root.crt" --infile "$T/chain.pem" \
            >/dev/null 2>&1
}

# The intermediate key's private scalar, and a line of its PEM, as hex.
scalar_hex() {
    openssl pkey -in "$1" -noout -text | sed -n '/^priv:/,/^pub:/p' | grep -v '^priv:\|^pub:' |
        tr -d ' :\n' | tail -c 64
}
pem_line_hex() { sed -n 2p "$1" | head -c 48 | od -An -tx1 | tr -d ' \n'; }
# The scalar as mbedTLS holds it in memory: an mpi's limbs are machine
# words, least significant first, so on a little-endian host its bytes are
# the big-endian scalar reversed.
reversed_hex() { printf '%s' "$1" | sed 's/../& /g' | tr ' ' '\n' | grep . | tac | tr -d '\n'; }
cat >"$T/scan.py" <<'EOF'
# scan.py PID HEX...: exit 0 when any of the byte strings is in the
# process's readable memory, 1 when none is, 2 when nothing could be read.
# Regions over 1 GiB (a sanitizer's shadow memory) hold no heap.
import sys
pid, needles = sys.argv[1], [bytes.fromhex(h) for h in sys.argv[2:]]
step, overlap, read = 8 << 20, max(len(n) for n in needles), 0
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        addr, perms = line.split()[:2]
        if perms[0] != "r" or "[vvar" in line or "[vsyscall" in line:
            continue
        lo, hi = (int(x, 16) for x in addr.split("-"))
        if hi - lo > 1 << 30:
            continue
        at = lo
        while at < hi:
            try:
                mem.seek(at)
                chunk = mem.read(min(step + overlap, hi - at))
            except (OSError, OverflowError, ValueError):
                break
            read += len(chunk)
            if any(n in chunk for n in needles):
                sys.exit(0)
            at += step
sys.exit(1 if read > 0 else 2)
EOF
scan() { python3 "$T/scan.py" "$@"; }

KEY_HEX=$(scalar_hex "$CA/intermediate.key")
KEY_LE_HEX=$(reversed_hex "$KEY_HEX")
PEM_HEX=$(pem_line_hex "$CA/intermediate.key")
check "the key's scalar was read (64 hex digits)" test "${#KEY_HEX}" = 64

# --- the in-process arrangement: the scan finds the key -----------------
PORT0=$(free_port)
check "serve --signer in-process starts" start_serve "$PORT0" --signer in-process
check "in-process: enrollment works" enroll "$PORT0" inproc.internal
scan "$SERVE_PID" "$KEY_HEX" "$KEY_LE_HEX" "$PEM_HEX"
if [ $? = 0 ]; then pass "in-process: the scan finds the key in serve's memory"; else fail "in-process: the scan finds the key in serve's memory"; fi
kill "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null

# --- separated (the default) ---------------------------------------------
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
check "serve starts" start_serve "$PORT"
NET=$SERVE_PID
SUP=$(children "$NET" | head -1)
WORKER=$(children "$SUP" | head -1)
check "serve has a supervisor and a signer process" test -n "$SUP" -a -n "$WORKER"
check "enrollment through the signer process" enroll "$PORT" web1.internal
check "openssl and certtool verify the leaf" verified web1.internal
curl -s --cacert "$CA/root.crt" "$URL/v1/crl" -o "$T/crl.der"
check "openssl verifies the served CRL under the intermediate" \
    openssl crl -inform DER -in "$T/crl.der" -noout -CAfile "$CA/intermediate.crt"
openssl crl -inform DER -in "$T/crl.der" -out "$T/crl.pem"
check "certtool verifies the served CRL" \
    certtool --verify-crl --load-ca-certificate "$CA/intermediate.crt" --infile "$T/crl.pem"

scan "$NET" "$KEY_HEX" "$KEY_LE_HEX" "$PEM_HEX"
case $? in
1) pass "the network process's memory holds none of the key's bytes" ;;
*) fail "the network process's memory holds none of the key's bytes" ;;
esac
scan "$WORKER" "$KEY_LE_HEX"
if [ $? = 0 ]; then pass "the signer process holds the key (as mbedTLS does)"; else fail "the signer process holds the key (as mbedTLS does)"; fi
check_not "the network process maps no .key file" grep -q '\.key' "/proc/$NET/maps"
check "the network process has no_new_privs" grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$NET/status"
check "the network process has no capability but file access" \
    grep -q '^CapEff:[[:space:]]*0000000000000006' "/proc/$NET/status"
check "the network process cannot open the intermediate key" \
    bash -c "! nsenter -t $NET -m cat '$CA/intermediate.key' 2>/dev/null | grep -q KEY"
check "nor the root key" bash -c "! nsenter -t $NET -m cat '$CA/root.key' 2>/dev/null | grep -q KEY"
check "outside it the key file is untouched" grep -q 'PRIVATE KEY' "$CA/intermediate.key"

# --- a killed signer: 503 while it is down, nothing recorded --------------
rows() { "$MINICA" list --dir "$CA" --all 2>/dev/null | wc -l; }
BEFORE=$(rows)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/down.key" \
    -subj /CN=down.internal -addext subjectAltName=DNS:down.internal -out "$T/down.csr" 2>/dev/null
TOKEN=$("$MINICA" token down.internal --dir "$CA")
jq -n --arg t "$TOKEN" --rawfile c "$T/down.csr" '{token: $t, csr: $c}' >"$T/down.json"
sign() {
    curl -s -D "$T/headers" -o "$T/resp" -w '%{http_code}' --max-time 60 --cacert "$CA/root.crt" \
        -H 'Content-Type: application/json' --data-binary "@$T/down.json" "$URL/v1/sign"
}
kill -STOP "$SUP"
kill -KILL "$WORKER"
CODE=$(sign)
check "a sign request while the signer is down gets 503 (got $CODE)" test "$CODE" = 503
check "with Retry-After" grep -qi '^Retry-After:' "$T/headers"
check "and error unavailable" test "$(jq -r .error "$T/resp")" = unavailable
check "nothing was recorded" test "$(rows)" = "$BEFORE"
kill -CONT "$SUP"
CODE=000
for i in $(seq 1 50); do
    CODE=$(sign)
    [ "$CODE" = 200 ] && break
    sleep 0.2
done
check "the same token works once the signer is back (got $CODE)" test "$CODE" = 200
check "the restart is logged" grep -q "signer process $WORKER ended (signal 9); starting another" \
    "$T/serve-$PORT.log"
NEW_WORKER=$(children "$SUP" | head -1)
check "by a new signer process" test -n "$NEW_WORKER" -a "$NEW_WORKER" != "$WORKER"

# A kill without the supervisor stopped: the next request is served.
kill -KILL "$NEW_WORKER"
sleep 0.3
check "after another kill, enrollment works again" enroll "$PORT" web2.internal

# --- rotation and SIGHUP -----------------------------------------------------
run "$MINICA" ca rotate --dir "$CA"
expect_ok "ca rotate"
kill -HUP "$NET"
for i in $(seq 1 50); do
    grep -q "SIGHUP: reloaded the CA" "$T/serve-$PORT.log" && break
    sleep 0.1
done
check "serve reloaded" grep -q "SIGHUP: reloaded the CA" "$T/serve-$PORT.log"
check "enrollment after the rotation" enroll "$PORT" web3.internal
check "issued by the new intermediate" \
    bash -c "openssl x509 -in '$T/out/web3.internal.crt' -noout -issuer | grep -q 'Intermediate CA 2'"
check "openssl and certtool verify it" verified web3.internal
NEW_KEY_HEX=$(scalar_hex "$CA/intermediate.key")
check "the new key is covered in the network process" \
    bash -c "! nsenter -t $NET -m cat '$CA/intermediate.key' 2>/dev/null | grep -q KEY"
scan "$NET" "$NEW_KEY_HEX" "$(reversed_hex "$NEW_KEY_HEX")" "$KEY_HEX" "$KEY_LE_HEX"
case $? in
1) pass "the network process holds neither key after the reload" ;;
*) fail "the network process holds neither key after the reload" ;;
esac
curl -s --cacert "$CA/root.crt" "$URL/v1/crls" -o "$T/crls.pem"
check "both intermediates' CRLs are served" test "$(grep -c 'BEGIN X509 CRL' "$T/crls.pem")" = 2

# --- stopping ----------------------------------------------------------------
kill -TERM "$NET"
wait "$NET" 2>/dev/null
sleep 0.3
check "the signer processes end with serve" bash -c "! kill -0 $SUP 2>/dev/null"

# --- the supervisor killed: nothing would restart a signer, so serve stops --
PORT3=$(free_port)
check "another serve starts" start_serve "$PORT3"
SUP3=$(children "$SERVE_PID" | head -1)
kill -KILL "$SUP3"
for i in $(seq 1 100); do
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -KILL "$SERVE_PID"
    RC="none: still running after 10s"
else
    wait "$SERVE_PID"
    RC=$?
fi
check "serve exits 1 when the signer's supervisor is killed (exit $RC)" test "$RC" = 1
check "and says why" grep -q "supervisor ended (signal 9): stopping" "$T/serve-$PORT3.log"

# --- not root: the same covers, from a user namespace of serve's own --------
AS_NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups --"
chmod 755 "$T"
mkdir "$T/nr"
cp "$MINICA" "$T/nr/minica"
chown -R nobody:nogroup "$T/nr"
NR=$T/nr/ca
if ! $AS_NOBODY unshare -U -m true 2>/dev/null; then
    pass "not root: skipped, this kernel gives an unprivileged user no user namespace"
else
    $AS_NOBODY "$T/nr/minica" init --dir "$NR" >/dev/null 2>&1
    check "not root: init" test -f "$NR/intermediate.key"
    PORT2=$(free_port)
    $AS_NOBODY "$T/nr/minica" serve --dir "$NR" --listen "127.0.0.1:$PORT2" 2>"$T/serve-nr.log" &
    NR_PID=$!
    track_pid "$NR_PID"
    check "not root: serve starts" wait_health "https://127.0.0.1:$PORT2"
    check "not root: the key files are covered" grep -q "2 CA key files covered" "$T/serve-nr.log"
    check "not root: no capability, no_new_privs" \
        bash -c "grep -q '^CapEff:[[:space:]]*0000000000000000' /proc/$NR_PID/status &&
                 grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$NR_PID/status"
    # Its mount table: the key files are mount points, of /dev/null.
    covered() { grep -q " $1 .*nodev" "/proc/$NR_PID/mountinfo"; }
    check "not root: the intermediate key is covered in its namespace" covered "$NR/intermediate.key"
    check "not root: so is the root key" covered "$NR/root.key"
    check_not "not root: minica.conf is not" covered "$NR/minica.conf"
    TOKEN=$($AS_NOBODY "$T/nr/minica" token nr.internal --dir "$NR")
    check "not root: enrollment" $AS_NOBODY "$T/nr/minica" issue nr.internal \
        --ca-url "https://127.0.0.1:$PORT2" --root "$NR/root.crt" --token "$TOKEN" \
        --out "$T/nr/out" --retry-for 0
    $AS_NOBODY "$T/nr/minica" ca rotate --dir "$NR" >/dev/null 2>&1
    kill -HUP "$NR_PID"
    for i in $(seq 1 50); do
        grep -q "SIGHUP: reloaded the CA" "$T/serve-nr.log" && break
        sleep 0.1
    done
    check "not root: reloaded after ca rotate" grep -q "SIGHUP: reloaded the CA" "$T/serve-nr.log"
    NEWEST=$(ls "$NR"/ca/intermediate-*.key | xargs ls -t | head -1)
    check "not root: the new intermediate's key is covered too" covered "$NEWEST"
    check "not root: and intermediate.key, written anew by the rotation" covered "$NR/intermediate.key"
    kill -TERM "$NR_PID"
    wait "$NR_PID" 2>/dev/null
fi

done_testing
