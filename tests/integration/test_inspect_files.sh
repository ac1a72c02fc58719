#!/bin/bash
# minica inspect (issue 20): what it says about certificates, chains, CSRs
# and CRLs, made by minica and by openssl, must be what OpenSSL and GnuTLS
# say about the same files (serials, fingerprints, dates, SANs, revoked
# serials), and its verdicts must go bad, with exit status 1, for an
# expired leaf, a broken chain, a bad signature and a stale CRL.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init"
run "$MINICA" issue web.test api.test 10.0.0.7 --dir "$CA" --out "$T/o"
expect_ok "issue a leaf with three names"
LEAF=$T/o/web.test.crt
FULL=$T/o/web.test.fullchain.crt
ROOT=$T/o/ca.crt
awk '/BEGIN/{n++} n==2' "$FULL" >"$T/intermediate.pem"

rfc3339() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
# field JSON KEY: one value out of stdin's JSON.
jqr() { printf '%s' "$OUT" | jq -r "$1"; }

# ---- a certificate, against openssl and certtool ----
run "$MINICA" inspect "$LEAF"
expect_ok "inspect a leaf"
expect_out "^verdict: +ok$" "the verdict is ok"
expect_out "^validity: +valid, [0-9]+d([0-9]+h)? left$" "the remaining lifetime prints as a duration"
run "$MINICA" inspect "$LEAF" --json
expect_ok "inspect --json"
check "type certificate" test "$(jqr .type)" = certificate
check "serial is openssl's" test "$(jqr '.certificates[0].serial')" = "$(serial_of "$LEAF")"
check "serial is certtool's" test "$(jqr '.certificates[0].serial')" = \
    "$(certtool -i --infile "$LEAF" | sed -n 's/.*Serial Number (hex): \(00\)*//p')"
fp=$(openssl x509 -in "$LEAF" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f)
check "SHA-256 fingerprint is openssl's" test "$(jqr '.certificates[0].fingerprint_sha256')" = "$fp"
check "and certtool's" sh -c "certtool -i --infile '$LEAF' | grep -q 'sha256:$fp'"
check "not after is openssl's" test "$(jqr '.certificates[0].not_after')" = \
    "$(rfc3339 "$(openssl x509 -in "$LEAF" -noout -enddate | cut -d= -f2)")"
check "not before is openssl's" test "$(jqr '.certificates[0].not_before')" = \
    "$(rfc3339 "$(openssl x509 -in "$LEAF" -noout -startdate | cut -d= -f2)")"
ossl_sans=$(openssl x509 -in "$LEAF" -noout -ext subjectAltName | tail -n 1 | sed 's/^ *//; s/IP Address:/IP:/g')
check "SANs are openssl's ($ossl_sans)" test \
    "$(jqr '[(.certificates[0].sans.dns[] | "DNS:" + .), (.certificates[0].sans.ip[] | "IP:" + .)] | join(", ")')" = "$ossl_sans"
check "key is EC P-256" test "$(jqr '.certificates[0].key | "\(.type) \(.curve) \(.bits)"')" = "EC P-256 256"
check "signature algorithm is openssl's name" test "$(jqr '.certificates[0].signature_algorithm')" = \
    "$(openssl x509 -in "$LEAF" -noout -text | sed -n 's/^ *Signature Algorithm: //p' | head -n 1)"
check "a leaf is no CA" test "$(jqr '.certificates[0].basic_constraints.ca')" = false

# DER on standard input, auto-detected.
openssl x509 -in "$LEAF" -outform DER -out "$T/leaf.der"
OUT=$("$MINICA" inspect - --json <"$T/leaf.der" 2>"$T/err")
RC=$?
expect_ok "DER on standard input"
check "the same certificate" test "$(jqr '.certificates[0].fingerprint_sha256')" = "$fp"

# ---- a chain ----
run "$MINICA" inspect "$FULL"
expect_ok "the fullchain file"
expect_out "^link 1 -> 2: +ok$" "link 1 -> 2 is good"
expect_out "^root: +not included" "and says the root is not in it"
run "$MINICA" inspect "$FULL" --root "$ROOT" --json
expect_ok "--root verifies the chain up to the root"
check "type chain" test "$(jqr .type)" = chain
check "root_check ok" test "$(jqr .root_check.ok)" = true
check "openssl agrees" openssl verify -CAfile "$ROOT" -untrusted "$T/intermediate.pem" "$LEAF"
cat "$FULL" "$ROOT" >"$T/three.pem"
run "$MINICA" inspect "$T/three.pem" --json
expect_ok "leaf, intermediate and root"
check "the root is included" test "$(jqr .chain.root_included)" = true
check "the intermediate is a CA with pathlen 0" test "$(jqr '.certificates[1].basic_constraints | "\(.ca) \(.pathlen)"')" = "true 0"

# A leaf paired with another CA's intermediate: the first link is broken.
CA2=$T/ca2
run "$MINICA" init --dir "$CA2"
run "$MINICA" issue other.test --dir "$CA2" --out "$T/o2"
awk '/BEGIN/{n++} n==2' "$T/o2/other.test.fullchain.crt" >"$T/other-intermediate.pem"
cat "$LEAF" "$T/other-intermediate.pem" >"$T/broken.pem"
run "$MINICA" inspect "$T/broken.pem"
expect_rc 1 "a broken chain is a bad verdict"
expect_out "^chain: +BROKEN at link 1 -> 2$" "and names the broken link"
expect_out "^link 1 -> 2: +BROKEN: the signature does not verify" "the same names, another key"
check_not "openssl refuses it too" openssl verify -CAfile "$T/o2/ca.crt" -untrusted "$T/other-intermediate.pem" "$LEAF"
run "$MINICA" inspect "$FULL" --root "$T/o2/ca.crt"
expect_rc 1 "--root of another CA"
expect_out "^root check: +BAD against $T/o2/ca.crt: The certificate is not correctly signed" "says why, in mbedTLS's words"

# ---- an expired certificate (a CA of its own, made 400 days ago) ----
OLD=$T/old
old_now=$(($(date +%s) - 400 * 86400))
MINICA_FAKE_NOW=$old_now run "$MINICA_FAKECLOCK" init --dir "$OLD" --intermediate-ttl 3y
MINICA_FAKE_NOW=$old_now run "$MINICA_FAKECLOCK" issue old.test --ttl 30d --dir "$OLD" --out "$T/old-o"
check "openssl says it expired" sh -c "! openssl x509 -in '$T/old-o/old.test.crt' -noout -checkend 0"
run "$MINICA" inspect "$T/old-o/old.test.crt"
expect_rc 1 "an expired certificate is a bad verdict"
expect_out "^validity: +EXPIRED [0-9ydh]+ ago$" "and says how long ago"
run "$MINICA" inspect "$T/old-o/old.test.crt" --json
check "validity expired, remaining null" test "$(jqr '.certificates[0] | "\(.validity) \(.remaining)"')" = "expired null"
# An openssl certificate that expires in a day: expiring soon is no failure.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$T/self.key" \
    -subj /CN=self.test -days 1 -addext "subjectAltName=DNS:self.test,email:ops@self.test,URI:https://self.test/x" \
    -out "$T/self.pem" 2>/dev/null
run "$MINICA" inspect "$T/self.pem" --json
expect_ok "a self-signed openssl certificate that expires in a day"
check "valid: a day is more than a third of its lifetime" test "$(jqr '.certificates[0].validity')" = valid
check "is self-signed" test "$(jqr '.certificates[0].self_signed')" = true
check "email and URI SANs" test "$(jqr '.certificates[0].sans | "\(.email[0]) \(.uri[0])"')" = \
    "ops@self.test https://self.test/x"
check "P-384" test "$(jqr '.certificates[0].key.curve')" = P-384
run "$MINICA" inspect "$T/self.pem" --expiring 2d
expect_ok "--expiring 2d: expiring soon is no failure"
expect_out "^validity: +expires soon, in (1d|23h[0-9]+m)$" "expires soon"

# ---- CSRs ----
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/req.key" \
    -subj /CN=req.test -addext "subjectAltName=DNS:req.test,IP:10.1.1.1" -out "$T/req.csr" 2>/dev/null
run "$MINICA" inspect "$T/req.csr"
expect_ok "an openssl CSR"
expect_out "^self-signature: +valid$" "its self-signature verifies"
expect_out "^sans: +DNS:req.test, IP:10.1.1.1$" "requested SANs"
# OpenSSL 3.0's req -verify exits 0 either way: read what it says.
check "openssl agrees" sh -c "openssl req -in '$T/req.csr' -noout -verify 2>&1 | grep -q 'verify OK'"
openssl req -in "$T/req.csr" -outform DER -out "$T/req.der"
# The last byte is inside the signature's s.
size=$(stat -c %s "$T/req.der")
last=$(tail -c 1 "$T/req.der" | od -An -tu1 | tr -d ' ')
{ head -c $((size - 1)) "$T/req.der"; printf "\\$(printf '%03o' $(((last + 1) % 256)))"; } >"$T/bad.der"
run "$MINICA" inspect "$T/bad.der" --json
expect_rc 1 "a CSR with a broken signature"
check "signature invalid" test "$(jqr .csr.signature)" = invalid
check "openssl refuses it too" sh -c "openssl req -in '$T/bad.der' -inform DER -noout -verify 2>&1 | grep -q 'verify failure'"
run "$MINICA" inspect "$T/req.csr" --root "$ROOT"
expect_rc 2 "--root with a CSR is a usage error"

# ---- CRLs ----
for i in $(seq 1 22); do
    "$MINICA" issue "r$i.test" --dir "$CA" --out "$T/r" >/dev/null || fail "issue r$i.test"
done
run "$MINICA" revoke r1.test --reason keyCompromise --dir "$CA"
run "$MINICA" revoke r2.test --reason superseded --dir "$CA"
for i in $(seq 3 22); do "$MINICA" revoke "r$i.test" --dir "$CA" >/dev/null; done
run "$MINICA" crl --dir "$CA" --out "$T/crl.pem"
expect_ok "crl"
run "$MINICA" inspect "$T/crl.pem" --issuer "$T/intermediate.pem" --json
expect_ok "the CRL, checked against the intermediate"
check "type crl" test "$(jqr .type)" = crl
check "22 revoked" test "$(jqr '.crls[0].revoked_count')" = 22
check "JSON lists all of them" test "$(jqr '.crls[0].revoked | length')" = 22
openssl crl -in "$T/crl.pem" -noout -text | sed -n 's/^ *Serial Number: //p' | tr A-F a-f | sed 's/^\(00\)*//' | sort >"$T/ossl-serials"
jqr '.crls[0].revoked[].serial' | sort >"$T/our-serials"
check "revoked serials are openssl's" cmp -s "$T/ossl-serials" "$T/our-serials"
certtool --crl-info --infile "$T/crl.pem" | sed -n 's/.*Serial Number (hex): \(00\)*//p' | sort >"$T/gnutls-serials"
check "and certtool's" cmp -s "$T/gnutls-serials" "$T/our-serials"
s1=$(serial_of "$T/r/r1.test.crt")
check "r1's reason is keyCompromise" test \
    "$(printf '%s' "$OUT" | jq -r --arg s "$s1" '.crls[0].revoked[] | select(.serial == $s) | .reason')" = keyCompromise
check "the number is openssl's (which prints hex)" test "$(jqr '.crls[0].number')" = \
    "$((16#$(openssl crl -in "$T/crl.pem" -noout -crlnumber | sed 's/.*=//')))"
check "next update is openssl's" test "$(jqr '.crls[0].next_update')" = \
    "$(rfc3339 "$(openssl crl -in "$T/crl.pem" -noout -nextupdate | cut -d= -f2)")"
check "the signature verifies" test "$(jqr '.crls[0].issuer_check.ok')" = true
check "openssl agrees" openssl crl -in "$T/crl.pem" -noout -CAfile "$T/intermediate.pem"
run "$MINICA" inspect "$T/crl.pem"
expect_ok "text"
expect_out "^freshness: +current, next update in (7d|6d23h)$" "current, with the next update as a duration"
expect_out "… and 2 more \(--json lists them all\)" "text caps the list"
run "$MINICA" inspect "$T/crl.pem" --issuer "$T/other-intermediate.pem"
expect_rc 1 "against another CA's intermediate"
# Both CAs are called minica: the names match, the signature does not.
expect_out "^issuer check: +BAD: the signature does not verify with " "the signature does not verify"
MINICA_FAKE_NOW=$(($(date +%s) + 8 * 86400)) run "$MINICA_FAKECLOCK" inspect "$T/crl.pem"
expect_rc 1 "eight days later the CRL is stale"
expect_out "^freshness: +STALE, the next update was due 1d" "and says since when"
openssl crl -in "$T/crl.pem" -outform DER -out "$T/crl.der"
run "$MINICA" inspect "$T/crl.der" --root "$T/intermediate.pem" --json
expect_ok "DER CRL, --root as its issuer"

# ---- garbage, usage, help ----
head -c 2000 /dev/urandom >"$T/junk"
run "$MINICA" inspect "$T/junk"
expect_rc 1 "garbage"
expect_err "^minica: inspect: $T/junk: not a certificate, chain, CSR or CRL \(PEM or DER\)$" "one clear line"
cat "$T/req.key" >"$T/key-only.pem"
run "$MINICA" inspect "$T/key-only.pem"
expect_rc 1 "a private key alone is none of them"
check "and its key never reaches the output" sh -c "! printf '%s%s' \"\$1\" \"\$2\" | grep -q PRIVATE" _ "$OUT" "$ERR"
cat "$LEAF" "$T/req.csr" >"$T/mixed.pem"
run "$MINICA" inspect "$T/mixed.pem"
expect_rc 1 "a certificate and a CSR in one file"
OUT=$(head -c 1100000 /dev/zero | "$MINICA" inspect - 2>"$T/err")
RC=$?
ERR=$(cat "$T/err")
expect_rc 1 "more than 1 MiB on standard input"
expect_err "^minica: inspect: standard input is too large" "is refused before parsing"
run "$MINICA" inspect "$T"
expect_rc 1 "a directory"
run "$MINICA" inspect "$T/missing.pem"
expect_rc 1 "a missing file"
expect_err "^minica: inspect: cannot read $T/missing.pem" "names it"
run "$MINICA" inspect
expect_rc 2 "no FILE"
run "$MINICA" inspect "$LEAF" "$LEAF"
expect_rc 2 "two FILEs"
run "$MINICA" inspect "$LEAF" --expiring soon
expect_rc 2 "a bad --expiring"
run "$MINICA" inspect "$LEAF" --pem
expect_rc 2 "an unknown option"
run "$MINICA" help inspect
expect_ok "help inspect"
expect_out "^Usage: minica inspect FILE\|-" "shows the usage"
run "$MINICA" --help
expect_out "^  inspect " "inspect is in the command list"

done_testing
