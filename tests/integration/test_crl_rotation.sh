#!/usr/bin/env bash
# CRLs after `minica ca rotate`, as nginx and openssl enforce them. The
# previous intermediate still vouches for unexpired leaves, and nginx's
# ssl_crl sets CRL_CHECK_ALL: the file must hold a CRL for every CA of every
# chain it sees. A server with ssl_verify_client on and ssl_crl accepts a
# good client leaf of each intermediate and rejects a revoked leaf of the
# previous one; with only the active intermediate's CRL (all `minica crl`
# wrote before) the previous intermediate's good leaves are rejected too.
# Also openssl verify -crl_check_all, --der and --issuer, the audit rows, a
# revoked (compromised) previous intermediate, a rollover's two roots
# and a root key kept offline.
source "$SRCDIR/tests/integration/lib/common.sh"

ca=$T/ca
C=$T/certs
P=$T/nginx
mkdir -p "$C" "$P"
run "$MINICA" init --dir "$ca" --permit-dns internal.svc --permit-ip 127.0.0.0/8
expect_ok "init"
run "$MINICA" issue srv.internal.svc --dir "$ca" --out "$C" --san 127.0.0.1
expect_ok "issue the server's certificate"
for n in old-good old-bad; do
    run "$MINICA" issue $n.internal.svc --usage client --dir "$ca" --out "$C"
    expect_ok "issue client $n under the first intermediate"
done
old_int=$(serial_of "$ca/intermediate.crt")
cp "$ca/intermediate.crt" "$T/old-int.crt"

run "$MINICA" ca rotate --dir "$ca"
expect_ok "ca rotate"
new_int=$(serial_of "$ca/intermediate.crt")
check "the rotation made a new intermediate" test "$old_int" != "$new_int"
cp "$ca/intermediate.crt" "$T/new-int.crt"
run "$MINICA" issue new-good.internal.svc --usage client --dir "$ca" --out "$C"
expect_ok "issue client new-good under the new intermediate"
run "$MINICA" revoke old-bad.internal.svc --dir "$ca" --reason keyCompromise
expect_ok "revoke a leaf of the previous intermediate"
bad=$(serial_of "$C/old-bad.internal.svc.crt")

# --all: both intermediates' CRLs, then the root's, in one file.
run "$MINICA" crl --all --dir "$ca" --out "$T/crl.pem"
expect_ok "crl --all"
expect_out "^Wrote 3 CRLs to $T/crl.pem: intermediate $new_int \(active\) number [0-9]+: 0 revoked; intermediate $old_int number [0-9]+: 1 revoked; root [0-9a-f]+ \(active\) number [0-9]+: 0 revoked; next update in 7d$" \
    "crl --all names each issuer with its revoked count"
check "the file holds three CRLs" test "$(grep -c 'BEGIN X509 CRL' "$T/crl.pem")" -eq 3
expect_mode "$T/crl.pem" 644
# Each CRL of the file on its own, read by openssl.
csplit -s -z -f "$T/part" "$T/crl.pem" '/BEGIN X509 CRL/' '{*}'
issuers=$(for f in "$T"/part*; do openssl crl -in "$f" -noout -issuer; done)
check "CRL 1 is the new intermediate's" sh -c "openssl crl -in '$T/part00' -noout -issuer | grep -q 'Intermediate CA 2'"
check "CRL 1 verifies with the new intermediate" sh -c "openssl crl -in '$T/part00' -CAfile '$T/new-int.crt' -noout 2>&1 | grep -qx 'verify OK'"
check "CRL 2 verifies with the previous intermediate" sh -c "openssl crl -in '$T/part01' -CAfile '$T/old-int.crt' -noout 2>&1 | grep -qx 'verify OK'"
check "CRL 3 verifies with the root" sh -c "openssl crl -in '$T/part02' -CAfile '$ca/root.crt' -noout 2>&1 | grep -qx 'verify OK'"
check "certtool --verify-crl: CRL 2 with the previous intermediate" \
    certtool --verify-crl --load-ca-certificate "$T/old-int.crt" --infile "$T/part01"
check "the previous intermediate's CRL lists the revoked leaf" \
    sh -c "openssl crl -in '$T/part01' -noout -text | grep -qi 'serial number: 0*$bad\$'"
check_not "the new intermediate's CRL does not" \
    sh -c "openssl crl -in '$T/part00' -noout -text | grep -qi 'serial number: 0*$bad\$'"
check "three distinct issuers" test "$(printf '%s\n' "$issuers" | sort -u | wc -l)" -eq 3

# The two-step form gives the same set.
"$MINICA" crl --dir "$ca" >"$T/two.pem" && "$MINICA" crl --root --dir "$ca" >>"$T/two.pem"
check "crl > f && crl --root >> f: three CRLs too" test "$(grep -c 'BEGIN X509 CRL' "$T/two.pem")" -eq 3

# openssl verify with every level checked.
ov() { # ov LEAF INTERMEDIATE CRLFILE
    openssl verify -crl_check_all -CRLfile "$3" -CAfile "$ca/root.crt" -untrusted "$2" "$1" 2>&1
}
out=$(ov "$C/old-good.internal.svc.crt" "$T/old-int.crt" "$T/crl.pem")
if printf '%s' "$out" | grep -q ": OK$"; then pass "openssl -crl_check_all: good leaf of the previous intermediate OK"; else fail "old-good: $out"; fi
out=$(ov "$C/new-good.internal.svc.crt" "$T/new-int.crt" "$T/crl.pem")
if printf '%s' "$out" | grep -q ": OK$"; then pass "openssl -crl_check_all: good leaf of the new intermediate OK"; else fail "new-good: $out"; fi
out=$(ov "$C/old-bad.internal.svc.crt" "$T/old-int.crt" "$T/crl.pem")
if printf '%s' "$out" | grep -q "certificate revoked"; then pass "openssl -crl_check_all: revoked leaf of the previous intermediate rejected"; else fail "old-bad: $out"; fi

# Only the active intermediate's CRL and the root's, as before: openssl
# cannot check the previous intermediate's leaves at all.
"$MINICA" crl --issuer "$new_int" --dir "$ca" >"$T/active-only.pem" &&
    "$MINICA" crl --root --dir "$ca" >>"$T/active-only.pem"
out=$(ov "$C/old-good.internal.svc.crt" "$T/old-int.crt" "$T/active-only.pem")
if printf '%s' "$out" | grep -q "unable to get certificate CRL"; then pass "with the active intermediate's CRL only, the previous one's leaves fail (why all are needed)"; else fail "active-only: $out"; fi

# --der holds one CRL: refused (usage) when more would be written.
run "$MINICA" crl --der --dir "$ca" --out "$T/x.der"
expect_rc 2 "crl --der with two intermediates"
expect_err "^minica: crl: --der holds one CRL and 2 would be written \(intermediate $new_int \(active\), intermediate $old_int\); pick one with --issuer SERIAL" \
    "the refusal says why and what to do"
check_not "and writes nothing" test -e "$T/x.der"
run "$MINICA" crl --der --issuer "$old_int" --dir "$ca" --out "$T/old.der"
expect_ok "crl --der --issuer PREVIOUS"
check "the DER CRL is the previous intermediate's" \
    sh -c "openssl crl -inform DER -in '$T/old.der' -CAfile '$T/old-int.crt' -noout 2>&1 | grep -qx 'verify OK'"
run "$MINICA" crl --issuer 0123abcd --dir "$ca"
expect_rc 1 "crl --issuer with an unknown serial"
expect_err "^minica: crl: no CA certificate with serial 0123abcd" "the message names the serial"
run "$MINICA" crl --root --all --dir "$ca"
expect_rc 2 "crl --root --all"
run "$MINICA" crl --issuer "$old_int" --root --dir "$ca"
expect_rc 2 "crl --issuer with --root"

# One audit row per CRL, naming its issuer.
"$MINICA" log --dir "$ca" --json >"$T/log.json"
check "audit: one row per CRL of crl --all, each with its issuer" python3 - "$T/log.json" "$new_int" "$old_int" <<'PY'
import json, sys
rows = [r["summary"] for r in json.load(open(sys.argv[1])) if r["command"] == "crl"]
new, old = sys.argv[2], sys.argv[3]
assert any(s.startswith("crl intermediate number=") and f"issuer={new} (active)" in s for s in rows), rows
assert any(s.startswith("crl intermediate number=") and "revoked=1" in s and f"issuer={old}" in s for s in rows), rows
assert any(s.startswith("crl root number=") for s in rows), rows
PY

# nginx: mutual TLS with ssl_crl, clients of both intermediates.
write_conf() {
    {
        nginx_conf_head
        cat <<NGINX
http {
    access_log off;
    server {
        listen 127.0.0.1:$PORT ssl;
        server_name srv.internal.svc;
        ssl_certificate $C/srv.internal.svc.fullchain.crt;
        ssl_certificate_key $C/srv.internal.svc.key;
        ssl_client_certificate $ca/root.crt;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_crl $T/nginx-crl.pem;
        # A client's failed verification is logged at info.
        error_log $P/logs/error.log info;
        location / { return 200 "ok \$ssl_client_s_dn\n"; }
    }
}
NGINX
    } >"$P/nginx.conf"
}
cp "$T/crl.pem" "$T/nginx-crl.pem"
started=0
for _ in 1 2 3 4 5; do
    PORT=$(free_port)
    write_conf
    rm -f "$P/logs/error.log"
    if nginx_start "$P" 2>"$T/nginx-start.err"; then
        started=1
        break
    fi
    grep -q "Address already in use" "$T/nginx-start.err" || break
done
if [ "$started" = 1 ]; then pass "nginx starts with the CRL file"; else
    fail "nginx starts"
    cat "$T/nginx-start.err" "$P/logs/error.log"
    done_testing
fi
client() { # client NAME: the HTTP status for a request with NAME's leaf + chain
    http_code "https://127.0.0.1:$PORT/" --cacert "$ca/root.crt" --resolve "srv.internal.svc:$PORT:127.0.0.1" \
        --cert "$C/$1.internal.svc.fullchain.crt" --key "$C/$1.internal.svc.key"
}
wait_client() { # wait_client NAME CODE
    local _
    for _ in $(seq 1 50); do
        [ "$(client "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
if wait_client old-good 200; then pass "nginx: good leaf of the previous intermediate: 200"; else fail "old-good: $(client old-good)"; fi
if wait_client new-good 200; then pass "nginx: good leaf of the new intermediate: 200"; else fail "new-good: $(client new-good)"; fi
code=$(client old-bad)
if [ "$code" = 400 ]; then pass "nginx: revoked leaf of the previous intermediate: 400"; else fail "old-bad: $code"; fi
check "nginx logs the revocation" grep -q "certificate revoked" "$P/logs/error.log"

# The file `minica crl` used to write (the active intermediate's CRL and the root's).
cp "$T/active-only.pem" "$T/nginx-crl.pem"
nginx_reload_settled "$P" || fail "nginx reload settles"
code=$(client old-good)
if [ "$code" = 400 ]; then pass "nginx with the active intermediate's CRL only: the previous one's good leaf is rejected"; else fail "old-good with active-only: $code"; fi
check "nginx logs the missing CRL" grep -q "unable to get certificate CRL" "$P/logs/error.log"
if [ "$(client new-good)" = 200 ]; then pass "while the new intermediate's leaf passes"; else fail "new-good with active-only: $(client new-good)"; fi
cp "$T/crl.pem" "$T/nginx-crl.pem"
nginx_reload_settled "$P" || fail "nginx reload settles"
if wait_client old-good 200; then pass "every CRL again: 200"; else fail "old-good again: $(client old-good)"; fi
nginx_stop "$P"

# The root key kept offline: the intermediates' CRLs are still made here,
# the roots' are an error, and so is --all (nginx needs the root's too).
mkdir -m 700 "$T/offline"
mv "$ca/root.key" "$T/offline/"
for k in "$ca"/ca/root-*.key; do [ -e "$k" ] && mv "$k" "$T/offline/"; done
run "$MINICA" crl --root --dir "$ca" --out "$T/r.pem"
expect_rc 1 "crl --root without the root key"
expect_err "^minica: crl: the root CRL needs a root's key and none is here" "the message says the root key is needed"
run "$MINICA" crl --all --dir "$ca" --out "$T/r.pem"
expect_rc 1 "crl --all without the root key"
run "$MINICA" crl --dir "$ca" --out "$T/int.pem"
expect_ok "crl (intermediates) without the root key"
check "two CRLs" test "$(grep -c 'BEGIN X509 CRL' "$T/int.pem")" -eq 2
mv "$T"/offline/*.key "$ca/"
for k in "$ca"/root-*.key; do [ -e "$k" ] && mv "$k" "$ca/ca/"; done

# The previous intermediate compromised: revoked, its leaves are refused
# for that reason (it keeps its own CRL, or a verifier checking every
# level would stop at the leaf's missing CRL instead).
run "$MINICA" ca revoke "$old_int" --reason keyCompromise --dir "$ca"
expect_ok "ca revoke the previous intermediate"
run "$MINICA" crl --all --dir "$ca" --out "$T/crl.pem"
expect_ok "crl --all after ca revoke"
expect_out "intermediate $old_int number [0-9]+: 1 revoked; root [0-9a-f]+ \(active\) number [0-9]+: 1 revoked;" \
    "the root's CRL lists the revoked intermediate"
out=$(ov "$C/old-good.internal.svc.crt" "$T/old-int.crt" "$T/crl.pem")
if printf '%s' "$out" | grep -q "error 23 at 1 depth lookup: certificate revoked"; then pass "openssl -crl_check_all: a leaf of the revoked intermediate fails on the intermediate"; else fail "old-good after ca revoke: $out"; fi
out=$(ov "$C/new-good.internal.svc.crt" "$T/new-int.crt" "$T/crl.pem")
if printf '%s' "$out" | grep -q ": OK$"; then pass "openssl -crl_check_all: the new intermediate's leaf still OK"; else fail "new-good after ca revoke: $out"; fi

# A rollover: two current roots, each with its CRL, the new (active) one
# first; the old one still lists the intermediate revoked above.
old_root=$(serial_of "$ca/root.crt")
run "$MINICA" ca rollover --dir "$ca"
expect_ok "ca rollover"
new_root=$(serial_of "$ca/root.crt")
run "$MINICA" crl --root --dir "$ca" --out "$T/roots.pem"
expect_ok "crl --root with two roots"
expect_out "^Wrote 2 CRLs to $T/roots.pem: root $new_root \(active\) number [0-9]+: 0 revoked; root $old_root number [0-9]+: 1 revoked;" \
    "both roots, the active one first"
# The old root's key taken offline: a warning, and the active root's CRL.
mkdir -m 700 "$T/offline2"
mv "$ca/ca/root-$old_root.key" "$T/offline2/"
run "$MINICA" crl --root --dir "$ca" --out "$T/roots.pem"
expect_ok "crl --root with the old root's key offline"
expect_err "^minica: crl: warning: no CRL for root $old_root .* \(kept offline\?\); make it where the key is: minica crl --issuer $old_root$" \
    "a warning names the root left out and how to make its CRL"
check "one root CRL" test "$(grep -c 'BEGIN X509 CRL' "$T/roots.pem")" -eq 1

done_testing
