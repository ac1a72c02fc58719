#!/usr/bin/env bash
# Revocation seen by tools we did not write: minica revoke + minica crl, then
# openssl crl / openssl verify -crl_check and GnuTLS certtool on the result.
# Revoke by NAME (all its certificates), by serial, twice, unknown; cRLNumber
# growing across runs; the root's CRL; PEM and DER. A NAME or IP that is a
# SAN, not the first name, finds its certificates too (issue 13), in revoke,
# list and show. nginx is test_nginx_crl.
source "$SRCDIR/tests/integration/lib/common.sh"

ca=$T/ca
run "$MINICA" init --dir "$ca"
expect_ok "init a CA"
cat "$ca/intermediate.crt" "$ca/root.crt" >"$T/chain.pem"

run "$MINICA" issue web.internal.svc --dir "$ca" --out "$T/web1"
expect_ok "issue web (1)"
run "$MINICA" issue web.internal.svc --dir "$ca" --out "$T/web2"
expect_ok "issue web (2)"
run "$MINICA" issue db.internal.svc --dir "$ca" --out "$T/db"
expect_ok "issue db"
run "$MINICA" issue cache.internal.svc --dir "$ca" --out "$T/cache"
expect_ok "issue cache"
web1=$(serial_of "$T/web1/web.internal.svc.crt")
web2=$(serial_of "$T/web2/web.internal.svc.crt")
db=$(serial_of "$T/db/db.internal.svc.crt")

# A CRL before any revocation is valid and empty.
run "$MINICA" crl --dir "$ca" --out "$T/empty.pem"
expect_ok "crl with nothing revoked"
check "empty CRL: openssl crl -CAfile chain says verify OK" \
    sh -c "openssl crl -in '$T/empty.pem' -CAfile '$T/chain.pem' -noout 2>&1 | grep -qx 'verify OK'"
check_not "empty CRL lists no certificate" grep -q . <(openssl crl -in "$T/empty.pem" -noout -text | grep 'Serial Number')

# Revoke by NAME: both web certificates.
run "$MINICA" revoke web.internal.svc --dir "$ca" --reason keyCompromise
expect_ok "revoke web by name"
expect_out "Revoked 2 certificates for web.internal.svc" "says how many were revoked"
expect_out "$web1" "names the first serial"
expect_out "$web2" "names the second serial"

# Twice: harmless, exit 0, says so.
run "$MINICA" revoke web.internal.svc --dir "$ca"
expect_ok "revoking again is harmless"
expect_out "already revoked" "says it was already revoked"

# By serial, as openssl prints it (upper case).
run "$MINICA" revoke "$(echo "$db" | tr a-f A-F)" --dir "$ca" --reason superseded
expect_ok "revoke db by serial"
expect_out "Revoked 1 certificate " "one certificate by serial"

# Unknown: exit 1, one line naming it.
run "$MINICA" revoke nothing.internal.svc --dir "$ca"
expect_rc 1 "unknown name"
expect_err "^minica: revoke: .*nothing\.internal\.svc" "unknown name is named"
run "$MINICA" revoke --dir "$ca" --reason bogus web.internal.svc
expect_rc 2 "unknown reason is a usage error"

run "$MINICA" crl --dir "$ca" --out "$T/crl.pem"
expect_ok "crl"
expect_out "3 revoked" "crl reports the count"
check "openssl crl -CAfile chain says verify OK" \
    sh -c "openssl crl -in '$T/crl.pem' -CAfile '$T/chain.pem' -noout 2>&1 | grep -qx 'verify OK'"
text=$(openssl crl -in "$T/crl.pem" -noout -text)
for s in "$web1" "$web2" "$db"; do
    S=$(echo "$s" | tr a-f A-F)
    if printf '%s' "$text" | grep -q "Serial Number: 0*$S"; then pass "CRL lists $s"; else fail "CRL lacks $s"; fi
done
if printf '%s' "$text" | grep -q "Key Compromise"; then pass "reasonCode keyCompromise"; else fail "no keyCompromise reason"; fi
if printf '%s' "$text" | grep -q "Superseded"; then pass "reasonCode superseded"; else fail "no superseded reason"; fi
if printf '%s' "$text" | grep -q "Version 2"; then pass "CRL is v2"; else fail "CRL is not v2"; fi
ski=$(openssl x509 -in "$ca/intermediate.crt" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')
aki=$(printf '%s\n' "$text" | grep -A1 'Authority Key Identifier' | tail -1 | tr -d ' ' | sed 's/^keyid://')
if [ -n "$ski" ] && [ "$ski" = "$aki" ]; then pass "AKI is the intermediate's SKI"; else fail "AKI '$aki' != SKI '$ski'"; fi
# nextUpdate is 7 days after thisUpdate by default.
last=$(date -d "$(openssl crl -in "$T/crl.pem" -noout -lastupdate | cut -d= -f2)" +%s)
next=$(date -d "$(openssl crl -in "$T/crl.pem" -noout -nextupdate | cut -d= -f2)" +%s)
if [ $((next - last)) -eq $((7 * 86400)) ]; then pass "nextUpdate defaults to 7d"; else fail "nextUpdate - thisUpdate = $((next - last))"; fi

# openssl verify with the CRL: revoked ones say so, the valid one is OK.
vfy() {
    openssl verify -crl_check -CRLfile "$T/crl.pem" -CAfile "$ca/root.crt" \
        -untrusted "$ca/intermediate.crt" "$1" 2>&1
}
for f in "$T/web1/web.internal.svc.crt" "$T/web2/web.internal.svc.crt" "$T/db/db.internal.svc.crt"; do
    out=$(vfy "$f")
    if printf '%s' "$out" | grep -q "certificate revoked"; then pass "openssl: $(basename "$(dirname "$f")") is revoked"; else fail "openssl did not see $f revoked: $out"; fi
done
out=$(vfy "$T/cache/cache.internal.svc.crt")
if printf '%s' "$out" | grep -q ": OK$"; then pass "openssl: the valid cert is OK with the CRL"; else fail "valid cert: $out"; fi

# GnuTLS parses it and checks its signature; PEM and DER.
check "certtool --crl-info parses the PEM CRL" certtool --crl-info --infile "$T/crl.pem"
check "certtool --verify-crl with the intermediate" \
    certtool --verify-crl --load-ca-certificate "$ca/intermediate.crt" --infile "$T/crl.pem"
check_not "certtool --verify-crl fails with the wrong CA (the test can fail)" \
    certtool --verify-crl --load-ca-certificate "$ca/root.crt" --infile "$T/crl.pem"
run "$MINICA" crl --dir "$ca" --der --out "$T/crl.der"
expect_ok "crl --der"
check "certtool --crl-info --inder parses the DER CRL" certtool --crl-info --inder --infile "$T/crl.der"
check "openssl reads the DER CRL" openssl crl -inform DER -in "$T/crl.der" -noout
count=$(certtool --crl-info --inder --infile "$T/crl.der" | sed -n 's/.*Revoked certificates (\([0-9]*\)).*/\1/p')
if [ "$count" = 3 ]; then pass "certtool counts 3 revoked"; else fail "certtool counts '$count'"; fi

# stdout without --out; cRLNumber grows across runs.
num() { openssl crl -in "$1" -noout -crlnumber | cut -d= -f2; }
"$MINICA" crl --dir "$ca" >"$T/a.pem" && "$MINICA" crl --dir "$ca" >"$T/b.pem"
check "crl to stdout is a PEM CRL" openssl crl -in "$T/a.pem" -noout
# openssl prints "crlNumber=0x0A".
n1=$(printf '%d' "$(num "$T/crl.pem")")
na=$(printf '%d' "$(num "$T/a.pem")")
nb=$(printf '%d' "$(num "$T/b.pem")")
if [ "$n1" -lt "$na" ] && [ "$na" -lt "$nb" ]; then pass "cRLNumber increases ($n1 < $na < $nb)"; else fail "cRLNumber $n1 $na $nb"; fi

# --next-update
run "$MINICA" crl --dir "$ca" --next-update 1d --out "$T/short.pem"
expect_ok "crl --next-update 1d"
last=$(date -d "$(openssl crl -in "$T/short.pem" -noout -lastupdate | cut -d= -f2)" +%s)
next=$(date -d "$(openssl crl -in "$T/short.pem" -noout -nextupdate | cut -d= -f2)" +%s)
if [ $((next - last)) -eq 86400 ]; then pass "--next-update 1d"; else fail "--next-update 1d gave $((next - last))"; fi
run "$MINICA" crl --dir "$ca" --next-update soon --out "$T/never.pem"
expect_rc 2 "bad --next-update is a usage error"
expect_err "^minica: crl: --next-update: invalid duration 'soon'" "bad --next-update: the message names the value"
check "bad --next-update: no file" test ! -e "$T/never.pem"
run "$MINICA" crl --dir "$ca" --next-update 0d
expect_rc 2 "zero --next-update is a usage error"
expect_err "^minica: crl: --next-update: duration '0d' must be greater than zero" "zero --next-update: message"

# The root's CRL: signed by the root, verifies against the root alone.
run "$MINICA" crl --root --dir "$ca" --out "$T/root-crl.pem"
expect_ok "crl --root"
check "root CRL: openssl crl -CAfile root says verify OK" \
    sh -c "openssl crl -in '$T/root-crl.pem' -CAfile '$ca/root.crt' -noout 2>&1 | grep -qx 'verify OK'"
issuer=$(openssl crl -in "$T/root-crl.pem" -noout -issuer)
if printf '%s' "$issuer" | grep -q "Root CA"; then pass "root CRL issuer is the root"; else fail "root CRL issuer: $issuer"; fi
check "certtool --verify-crl with the root" \
    certtool --verify-crl --load-ca-certificate "$ca/root.crt" --infile "$T/root-crl.pem"
# With both CRLs, -crl_check_all checks every level of the chain.
cat "$T/crl.pem" "$T/root-crl.pem" >"$T/all.pem"
out=$(openssl verify -crl_check_all -CRLfile "$T/all.pem" -CAfile "$ca/root.crt" \
    -untrusted "$ca/intermediate.crt" "$T/cache/cache.internal.svc.crt" 2>&1)
if printf '%s' "$out" | grep -q ": OK$"; then pass "crl_check_all with both CRLs: valid cert OK"; else fail "crl_check_all: $out"; fi
out=$(openssl verify -crl_check_all -CRLfile "$T/crl.pem" -CAfile "$ca/root.crt" \
    -untrusted "$ca/intermediate.crt" "$T/cache/cache.internal.svc.crt" 2>&1)
if printf '%s' "$out" | grep -q "unable to get certificate CRL"; then pass "without the root CRL, crl_check_all fails (why nginx needs both)"; else fail "crl_check_all without root CRL: $out"; fi

# Files: the CRL is world-readable, no temp files left.
expect_mode "$T/crl.pem" 644
leftover=$(find "$T" -maxdepth 1 -name '.*.tmp-*' | head -1)
if [ -n "$leftover" ]; then fail "temp file left: $leftover"; else pass "no temp files left"; fi

# A NAME is any of a certificate's names (issue 13): revoking b must revoke
# the certificate for a that also carries b, and say so, serial by serial.
# Same for an IP SAN. A CA of its own, so the counts above stay as they are.
ca2=$T/ca2
run "$MINICA" init --dir "$ca2" --permit-dns internal.svc --permit-ip 10.0.0.0/8
expect_ok "init a second CA"
run "$MINICA" issue b.internal.svc --dir "$ca2" --out "$T/b"
expect_ok "issue b"
run "$MINICA" issue a.internal.svc --san b.internal.svc --dir "$ca2" --out "$T/a"
expect_ok "issue a with SAN b"
run "$MINICA" issue bb.internal.svc --san internal-b.internal.svc --dir "$ca2" --out "$T/bb"
expect_ok "issue bb (a near name, not b)"
sb=$(serial_of "$T/b/b.internal.svc.crt")
sa=$(serial_of "$T/a/a.internal.svc.crt")
sbb=$(serial_of "$T/bb/bb.internal.svc.crt")

run "$MINICA" list b.internal.svc --dir "$ca2"
expect_ok "list NAME"
expect_out "$sa" "list NAME finds the cert where NAME is a SAN"
expect_out "$sb" "list NAME finds the cert where NAME is the first name"
if printf '%s' "$OUT" | grep -q "$sbb"; then fail "list b lists bb's cert: $OUT"; else pass "list NAME matches whole names only"; fi
run "$MINICA" show b.internal.svc --dir "$ca2"
expect_ok "show NAME"
expect_out "serial: +$sa" "show NAME shows the cert where NAME is a SAN"
expect_out "serial: +$sb" "show NAME shows the cert where NAME is the first name"

run "$MINICA" revoke b.internal.svc --dir "$ca2" --reason keyCompromise
expect_ok "revoke b"
expect_out "^Revoked 2 certificates for b\.internal\.svc" "revoke b counts both certificates"
expect_out "^  $sb +b\.internal\.svc$" "revoke b lists b's serial and names"
expect_out "^  $sa +a\.internal\.svc,b\.internal\.svc$" "revoke b lists a's serial and names"
if printf '%s' "$OUT" | grep -q "$sbb"; then fail "revoke b revoked bb: $OUT"; else pass "revoke b leaves bb alone"; fi
run "$MINICA" list --status all --dir "$ca2"
if printf '%s\n' "$OUT" | grep "a.internal.svc,b.internal.svc" | grep -q " valid "; then
    fail "a,b still listed valid after revoke b: $OUT"
else
    pass "a,b is no longer listed valid"
fi
run "$MINICA" list --status valid --dir "$ca2"
expect_out "$sbb" "bb is still valid"
if printf '%s' "$OUT" | grep -Eq "$sa|$sb"; then fail "revoked certs listed valid: $OUT"; else pass "neither revoked cert is listed valid"; fi
run "$MINICA" list b.internal.svc --status revoked --dir "$ca2"
expect_out "$sa" "list NAME --status revoked: a's cert"
expect_out "$sb" "list NAME --status revoked: b's cert"

# IP SANs: an IP-only certificate and one that carries the IP beside a DNS name.
run "$MINICA" issue 10.0.2.88 --dir "$ca2" --out "$T/ip"
expect_ok "issue an IP-only certificate"
run "$MINICA" issue web.internal.svc --san 10.0.2.88 --dir "$ca2" --out "$T/ipweb"
expect_ok "issue web with IP SAN"
run "$MINICA" issue db.internal.svc --san 10.0.2.89 --dir "$ca2" --out "$T/ipdb"
expect_ok "issue db with another IP"
sip=$(serial_of "$T/ip/10.0.2.88.crt")
sipweb=$(serial_of "$T/ipweb/web.internal.svc.crt")
sipdb=$(serial_of "$T/ipdb/db.internal.svc.crt")
run "$MINICA" show 10.0.2.88 --json --dir "$ca2"
expect_ok "show IP"
n=$(printf '%s' "$OUT" | grep -c '"serial"')
if [ "$n" = 2 ]; then pass "show IP --json finds both certificates"; else fail "show 10.0.2.88 --json: $n objects: $OUT"; fi
run "$MINICA" revoke 10.0.2.88 --dir "$ca2"
expect_ok "revoke by IP"
expect_out "^Revoked 2 certificates for 10\.0\.2\.88" "revoke IP counts both certificates"
expect_out "^  $sip " "revoke IP lists the IP-only cert"
expect_out "^  $sipweb +web\.internal\.svc,10\.0\.2\.88$" "revoke IP lists the cert carrying it as a SAN"
if printf '%s' "$OUT" | grep -q "$sipdb"; then fail "revoke 10.0.2.88 revoked db: $OUT"; else pass "revoke IP leaves another IP alone"; fi

# The CRL, read by openssl, lists every one of them; the rest verify.
run "$MINICA" crl --dir "$ca2" --out "$T/crl2.pem"
expect_ok "crl of the second CA"
expect_out "4 revoked" "crl counts the four"
cat "$ca2/intermediate.crt" "$ca2/root.crt" >"$T/chain2.pem"
check "second CRL: openssl crl -CAfile chain says verify OK" \
    sh -c "openssl crl -in '$T/crl2.pem' -CAfile '$T/chain2.pem' -noout 2>&1 | grep -qx 'verify OK'"
text=$(openssl crl -in "$T/crl2.pem" -noout -text)
for s in "$sb" "$sa" "$sip" "$sipweb"; do
    S=$(echo "$s" | tr a-f A-F)
    if printf '%s' "$text" | grep -q "Serial Number: 0*$S"; then pass "second CRL lists $s"; else fail "second CRL lacks $s"; fi
done
vfy2() {
    openssl verify -crl_check -CRLfile "$T/crl2.pem" -CAfile "$ca2/root.crt" \
        -untrusted "$ca2/intermediate.crt" "$1" 2>&1
}
for f in "$T/b/b.internal.svc.crt" "$T/a/a.internal.svc.crt" "$T/ip/10.0.2.88.crt" \
    "$T/ipweb/web.internal.svc.crt"; do
    out=$(vfy2 "$f")
    if printf '%s' "$out" | grep -q "certificate revoked"; then pass "openssl: $(basename "$f") is revoked"; else fail "openssl did not see $f revoked: $out"; fi
done
for f in "$T/bb/bb.internal.svc.crt" "$T/ipdb/db.internal.svc.crt"; do
    out=$(vfy2 "$f")
    if printf '%s' "$out" | grep -q ": OK$"; then pass "openssl: $(basename "$f") is OK with the CRL"; else fail "$f: $out"; fi
done

done_testing
