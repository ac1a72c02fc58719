#!/bin/bash
# minica issue / list / show / export through the real binary, checked with
# OpenSSL and GnuTLS: the "done when" case (upstream.internal.svc + 10.0.2.88,
# 90d, server auth only), usages, all five key types, CSRs, reissue, and every
# bad input with its one-line error, exit code, no files and no new row.
# CA creation itself is test_init.sh; in-process issuance is tests/unit/test_issue.c.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
OUTD=$T/out
NAME=upstream.internal.svc
"$MINICA" init --dir "$CA" >/dev/null || { fail "init"; done_testing; }

# Number of rows in the inventory (every status).
rows() {
    "$MINICA" list --dir "$CA" --status all --json |
        python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'
}
# json_get JSON EXPR: evaluates a python expression on the parsed JSON (as j).
json_get() { python3 -c "import json, sys; j = json.loads(sys.argv[1]); print($2)" "$1"; }
fingerprint_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f'; }
epoch() { date -u -d "$1" +%s; }
span_of() {
    local nb na
    nb=$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)
    na=$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)
    echo $(($(epoch "$na") - $(epoch "$nb")))
}
ossl_verify() { # ossl_verify DIR NAME [openssl verify options...]
    local dir=$1 name=$2
    shift 2
    openssl verify -CAfile "$dir/ca.crt" -untrusted "$dir/$name.fullchain.crt" "$@" "$dir/$name.crt"
}
gnutls_verify() { # gnutls_verify DIR NAME [certtool options...]
    local dir=$1 name=$2
    shift 2
    certtool --verify --load-ca-certificate "$dir/ca.crt" --infile "$dir/$name.fullchain.crt" "$@"
}
SERVER_AUTH=1.3.6.1.5.5.7.3.1
CLIENT_AUTH=1.3.6.1.5.5.7.3.2

# --- the "done when" certificate ------------------------------------------------
t0=$(date -u +%s)
# umask 000: the modes below are the ones minica chose, not the umask's.
run bash -c 'umask 000 && exec "$@"' - "$MINICA" issue "$NAME" --san 10.0.2.88 --ttl 90d --dir "$CA" --out "$OUTD"
t1=$(date -u +%s)
expect_ok "issue $NAME --san 10.0.2.88 --ttl 90d (umask 000)"
expect_out "serial [0-9a-f]+" "issue prints the serial"
for f in "$NAME.crt" "$NAME.key" "$NAME.fullchain.crt" ca.crt; do
    check "$f written" test -s "$OUTD/$f"
done
expect_mode "$OUTD" 700
expect_mode "$OUTD/$NAME.key" 600
expect_mode "$OUTD/$NAME.crt" 644
expect_mode "$OUTD/$NAME.fullchain.crt" 644
expect_mode "$OUTD/ca.crt" 644
check "ca.crt is the root" cmp "$OUTD/ca.crt" "$CA/root.crt"
check "fullchain = leaf + intermediate" cmp "$OUTD/$NAME.fullchain.crt" <(cat "$OUTD/$NAME.crt" "$CA/intermediate.crt")
check "key matches cert" key_matches "$OUTD/$NAME.key" "$OUTD/$NAME.crt"

check "openssl: sslserver + hostname" ossl_verify "$OUTD" "$NAME" -purpose sslserver -verify_hostname "$NAME"
check "openssl: sslserver + IP" ossl_verify "$OUTD" "$NAME" -purpose sslserver -verify_ip 10.0.2.88
check_not "openssl: foreign host name refused" ossl_verify "$OUTD" "$NAME" -purpose sslserver -verify_hostname foreign.internal.svc
check_not "openssl: sibling-suffix host refused" ossl_verify "$OUTD" "$NAME" -verify_hostname evil-upstream.internal.svc
check_not "openssl: foreign IP refused" ossl_verify "$OUTD" "$NAME" -verify_ip 10.0.2.89
check_not "openssl: sslclient refused for a server cert" ossl_verify "$OUTD" "$NAME" -purpose sslclient
check_not "openssl: leaf alone without the intermediate refused" \
    openssl verify -CAfile "$OUTD/ca.crt" "$OUTD/$NAME.crt"
check "gnutls: chain verifies" gnutls_verify "$OUTD" "$NAME"
check "gnutls: host name" gnutls_verify "$OUTD" "$NAME" --verify-hostname "$NAME"
check_not "gnutls: foreign host name refused" gnutls_verify "$OUTD" "$NAME" --verify-hostname foreign.internal.svc
check "gnutls: serverAuth purpose" gnutls_verify "$OUTD" "$NAME" --verify-purpose "$SERVER_AUTH"
check_not "gnutls: clientAuth purpose refused" gnutls_verify "$OUTD" "$NAME" --verify-purpose "$CLIENT_AUTH"

# Validity: 90 days plus the one-minute backdating; notBefore ~ now - 60.
[ "$(span_of "$OUTD/$NAME.crt")" -eq $((90 * 86400 + 60)) ] && pass "notAfter - notBefore = 90d + 60s" ||
    fail "notAfter - notBefore = $(span_of "$OUTD/$NAME.crt")s"
nb=$(epoch "$(openssl x509 -in "$OUTD/$NAME.crt" -noout -startdate | cut -d= -f2)")
if [ "$nb" -ge $((t0 - 60 - 2)) ] && [ "$nb" -le $((t1 - 60 + 2)) ]; then pass "notBefore = now - 60s"; else
    fail "notBefore $nb not within [$((t0 - 60)), $((t1 - 60))]"; fi

# The profile as OpenSSL prints it.
text=$(openssl x509 -in "$OUTD/$NAME.crt" -noout -text)
after() { printf '%s\n' "$text" | grep -A1 -- "$1" | tail -1 | sed 's/^ *//'; }
check "subject CN = NAME" bash -c "openssl x509 -in '$OUTD/$NAME.crt' -noout -subject | grep -q 'CN *= *$NAME\$'"
check "basicConstraints critical" grep -q "X509v3 Basic Constraints: critical" <<<"$text"
[ "$(after "Basic Constraints")" = "CA:FALSE" ] && pass "CA:FALSE" || fail "basicConstraints: $(after "Basic Constraints")"
check "keyUsage critical" grep -q "X509v3 Key Usage: critical" <<<"$text"
[ "$(after "Key Usage: critical")" = "Digital Signature" ] && pass "EC leaf: digitalSignature only" ||
    fail "keyUsage: $(after "Key Usage: critical")"
[ "$(after "Extended Key Usage")" = "TLS Web Server Authentication" ] && pass "EKU serverAuth only" ||
    fail "EKU: $(after "Extended Key Usage")"
[ "$(after "Subject Alternative Name")" = "DNS:$NAME, IP Address:10.0.2.88" ] && pass "SAN = NAME, IP" ||
    fail "SAN: $(after "Subject Alternative Name")"
check "SKI" grep -q "Subject Key Identifier" <<<"$text"
check "AKI" grep -q "Authority Key Identifier" <<<"$text"
# 128-bit positive serial: at most 16 significant bytes (openssl adds 00 for the sign).
serial=$(serial_of "$OUTD/$NAME.crt")
[ "${#serial}" -le 32 ] && [ "${#serial}" -ge 16 ] && pass "serial has up to 128 bits ($serial)" || fail "serial '$serial'"

# --- list --json -------------------------------------------------------------------
run "$MINICA" list --dir "$CA" --json
expect_ok "list --json"
check "list --json is a JSON array" python3 -c 'import json, sys; assert isinstance(json.loads(sys.argv[1]), list)' "$OUT"
LIST=$OUT
entry="[e for e in j if e['serial'] == '$serial'][0]"
[ "$(json_get "$LIST" "len([e for e in j if e['serial'] == '$serial'])")" = 1 ] && pass "list shows the serial (lowercase hex)" ||
    fail "serial $serial not in list: $LIST"
[ "$(json_get "$LIST" "${entry}['name']")" = "$NAME" ] && pass "list: name" || fail "list: name"
[ "$(json_get "$LIST" "','.join(${entry}['sans'])")" = "$NAME,10.0.2.88" ] && pass "list: sans" || fail "list: sans"
[ "$(json_get "$LIST" "${entry}['usage']")" = server ] && pass "list: usage" || fail "list: usage"
[ "$(json_get "$LIST" "${entry}['status']")" = valid ] && pass "list: status" || fail "list: status"
[ "$(json_get "$LIST" "${entry}['key_type']")" = ec-p256 ] && pass "list: key_type" || fail "list: key_type"
nb_json=$(json_get "$LIST" "${entry}['not_before']")
na_json=$(json_get "$LIST" "${entry}['not_after']")
[[ "$nb_json" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] && pass "not_before is RFC 3339 UTC" || fail "not_before '$nb_json'"
[ "$(epoch "$nb_json")" = "$nb" ] && pass "not_before matches the certificate" || fail "not_before $nb_json vs $nb"
na=$(epoch "$(openssl x509 -in "$OUTD/$NAME.crt" -noout -enddate | cut -d= -f2)")
[ "$(epoch "$na_json")" = "$na" ] && pass "not_after matches the certificate" || fail "not_after $na_json vs $na"
[ "$(json_get "$LIST" "${entry}['fingerprint_sha256']")" = "$(fingerprint_of "$OUTD/$NAME.crt")" ] &&
    pass "fingerprint_sha256 = openssl's" || fail "fingerprint differs from openssl's"
run env MINICA_DIR="$CA" "$MINICA" list --json
expect_ok "list with \$MINICA_DIR instead of --dir"
[ "$(json_get "$OUT" "len([e for e in j if e['serial'] == '$serial'])")" = 1 ] && pass "\$MINICA_DIR is the state directory" ||
    fail "\$MINICA_DIR not honoured: $OUT"
run "$MINICA" list --dir "$CA"
expect_ok "list (table)"
expect_out "$serial +$NAME +valid" "table lists the cert"

# --- show ---------------------------------------------------------------------------
run "$MINICA" show "$NAME" --dir "$CA"
expect_ok "show NAME"
expect_out "serial: +$serial" "show NAME: serial"
expect_out "sans: +$NAME,10.0.2.88" "show NAME: sans"
run "$MINICA" show "$serial" --dir "$CA"
expect_ok "show SERIAL"
expect_out "name: +$NAME" "show SERIAL: name"
# As openssl prints it: upper case with colons.
colon_serial=$(openssl x509 -in "$OUTD/$NAME.crt" -noout -serial | cut -d= -f2 | sed 's/../&:/g; s/:$//')
run "$MINICA" show "$colon_serial" --dir "$CA"
expect_ok "show SERIAL in openssl's notation ($colon_serial)"
expect_out "name: +$NAME" "show colon SERIAL: name"
run "$MINICA" show "$NAME" --pem --dir "$CA"
expect_ok "show --pem"
[ "$OUT" = "$(cat "$OUTD/$NAME.crt")" ] && pass "show --pem = NAME.crt" || fail "show --pem differs"
run "$MINICA" show "$serial" --json --dir "$CA"
expect_ok "show --json"
[ "$(json_get "$OUT" "j[0]['fingerprint_sha256']")" = "$(fingerprint_of "$OUTD/$NAME.crt")" ] &&
    pass "show --json fingerprint" || fail "show --json fingerprint"
run "$MINICA" show nothing.internal.svc --dir "$CA"
expect_rc 1 "show of an unknown name"
expect_err "^minica: show: nothing.internal.svc: no such certificate" "show unknown: message"
run "$MINICA" show --dir "$CA"
expect_rc 2 "show without NAME"

# --- export ---------------------------------------------------------------------------
run "$MINICA" export root --dir "$CA"
expect_ok "export root"
[ "$OUT" = "$(cat "$CA/root.crt")" ] && pass "export root = root.crt" || fail "export root differs"
run "$MINICA" export intermediate --dir "$CA"
expect_ok "export intermediate"
[ "$OUT" = "$(cat "$CA/intermediate.crt")" ] && pass "export intermediate = intermediate.crt" || fail "export intermediate differs"
run "$MINICA" export chain --dir "$CA" --out "$T/chain.pem"
expect_ok "export chain --out"
check "chain = intermediate + root" cmp "$T/chain.pem" <(cat "$CA/intermediate.crt" "$CA/root.crt")
check "exported chain verifies the leaf" openssl verify -CAfile "$T/chain.pem" "$OUTD/$NAME.crt"
run "$MINICA" export leaf --dir "$CA"
expect_rc 2 "export of an unknown kind"
expect_err "^minica: export: " "export unknown: message"
run "$MINICA" export root --dir "$T/nowhere"
expect_rc 1 "export without a CA"

# --- reissue: atomic replacement, new serial, old row kept ----------------------------
old_serial=$serial
old_key=$(sha256sum <"$OUTD/$NAME.key")
old_inode=$(stat -c %i "$OUTD/$NAME.crt")
run "$MINICA" issue "$NAME" --san 10.0.2.88 --dir "$CA" --out "$OUTD"
expect_ok "reissue"
new_serial=$(serial_of "$OUTD/$NAME.crt")
[ "$new_serial" != "$old_serial" ] && pass "reissue: new serial" || fail "reissue: same serial"
[ "$(sha256sum <"$OUTD/$NAME.key")" != "$old_key" ] && pass "reissue: new key" || fail "reissue: same key"
[ "$(stat -c %i "$OUTD/$NAME.crt")" != "$old_inode" ] && pass "reissue: file replaced by rename" || fail "reissue: rewritten in place"
check "reissue: key matches the new cert" key_matches "$OUTD/$NAME.key" "$OUTD/$NAME.crt"
expect_mode "$OUTD/$NAME.key" 600
check "reissue: no temp files left" bash -c "! ls -A '$OUTD' | grep -q tmp"
LIST=$("$MINICA" list --all --dir "$CA" --json)
[ "$(json_get "$LIST" "len([e for e in j if e['serial'] in ('$old_serial', '$new_serial')])")" = 2 ] &&
    pass "old and new serial both in the inventory" || fail "list after reissue: $LIST"
[ "$(json_get "$LIST" "[e['status'] for e in j if e['serial'] == '$old_serial'][0]")" = superseded ] &&
    pass "the old one is superseded" || fail "list after reissue, old status: $LIST"

# show --pem is the most recently issued certificate, even when an older one
# (issued 100 s "earlier" with a longer TTL) expires later.
MINICA_FAKE_NOW=$(($(date -u +%s) - 100)) "$MINICA_FAKECLOCK" issue pem.internal.svc --ttl 90d --dir "$CA" --out "$OUTD" >/dev/null
"$MINICA" issue pem.internal.svc --ttl 1d --dir "$CA" --out "$OUTD" >/dev/null
run "$MINICA" show pem.internal.svc --pem --dir "$CA"
[ "$OUT" = "$(cat "$OUTD/pem.internal.svc.crt")" ] && pass "show --pem NAME = the newest issued" ||
    fail "show --pem NAME is not the certificate issued last"

# --- usages ------------------------------------------------------------------------------
run "$MINICA" issue client.internal.svc --usage client --dir "$CA" --out "$OUTD"
expect_ok "issue --usage client"
check "client cert accepted for sslclient" ossl_verify "$OUTD" client.internal.svc -purpose sslclient
check_not "client cert refused for sslserver" ossl_verify "$OUTD" client.internal.svc -purpose sslserver
check "gnutls: clientAuth purpose" gnutls_verify "$OUTD" client.internal.svc --verify-purpose "$CLIENT_AUTH"
run "$MINICA" issue both.internal.svc --usage both --dir "$CA" --out "$OUTD"
expect_ok "issue --usage both"
check "both: sslserver" ossl_verify "$OUTD" both.internal.svc -purpose sslserver -verify_hostname both.internal.svc
check "both: sslclient" ossl_verify "$OUTD" both.internal.svc -purpose sslclient
[ "$("$MINICA" show both.internal.svc --json --dir "$CA" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["usage"])')" = both ] &&
    pass "inventory records usage both" || fail "usage both not recorded"

# --- the five key types (RSA-4096 once: it is slow) -------------------------------------
for kt in ec-p256 ec-p384 rsa-2048 rsa-3072 rsa-4096; do
    n=$kt.internal.svc
    run "$MINICA" issue "$n" --key-type "$kt" --ttl 1d --dir "$CA" --out "$OUTD/kt"
    expect_ok "issue --key-type $kt"
    check "$kt: openssl verifies" ossl_verify "$OUTD/kt" "$n" -purpose sslserver -verify_hostname "$n"
    check "$kt: gnutls verifies" gnutls_verify "$OUTD/kt" "$n" --verify-hostname "$n"
    check "$kt: key matches cert" key_matches "$OUTD/kt/$n.key" "$OUTD/kt/$n.crt"
    ktext=$(openssl x509 -in "$OUTD/kt/$n.crt" -noout -text)
    bits=${kt#*-}
    bits=${bits#p}
    check "$kt: $bits-bit key" grep -q "Public-Key: ($bits bit)" <<<"$ktext"
    ku=$(printf '%s\n' "$ktext" | grep -A1 "Key Usage: critical" | tail -1 | sed 's/^ *//')
    case $kt in
    rsa-*) [ "$ku" = "Digital Signature, Key Encipherment" ] && pass "$kt: keyEncipherment" || fail "$kt: keyUsage '$ku'" ;;
    *) [ "$ku" = "Digital Signature" ] && pass "$kt: no keyEncipherment" || fail "$kt: keyUsage '$ku'" ;;
    esac
done

# --- list filters: --expiring, --status (status is computed from the clock) ---------------
one_day=$("$MINICA" list --dir "$CA" --json | python3 -c '
import json, sys, datetime
soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
print(sum(1 for e in json.load(sys.stdin)
          if datetime.datetime.strptime(e["not_after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc) < soon))')
[ "$one_day" -ge 5 ] && pass "five 1-day certificates in the inventory" || fail "expected 1-day certs, found $one_day"
run "$MINICA" list --dir "$CA" --expiring 2d --json
expect_rc 1 "list --expiring 2d finds them (exit 1)"
[ "$(json_get "$OUT" "len(j)")" = "$one_day" ] && pass "list --expiring 2d lists exactly them" || fail "list --expiring 2d: $OUT"
run "$MINICA" list --dir "$CA" --expiring 1m --json
expect_ok "list --expiring 1m finds nothing (exit 0)"
[ "$(json_get "$OUT" "len(j)")" = 0 ] && pass "list --expiring 1m is empty" || fail "list --expiring 1m: $OUT"
run env MINICA_FAKE_NOW=$(($(date -u +%s) + 2 * 86400)) "$MINICA_FAKECLOCK" list --dir "$CA" --status expired --json
expect_ok "list --status expired, two days later"
[ "$(json_get "$OUT" "len(j)")" = "$one_day" ] && pass "two days later the 1-day certs are expired" || fail "expired: $OUT"
[ "$(json_get "$OUT" "set(e['status'] for e in j)")" = "{'expired'}" ] && pass "their status reads expired" || fail "status: $OUT"
run "$MINICA" list --dir "$CA" --status sideways
expect_rc 2 "list --status of an unknown status"
expect_err "^minica: list: .*sideways" "list --status unknown: message"
run "$MINICA" list --dir "$CA" --expiring soon
expect_rc 2 "list --expiring garbage"
expect_err "^minica: list: --expiring: invalid duration 'soon'" "list --expiring garbage: message names the value"
run "$MINICA" list --dir "$CA" --expiring 99999999999y
expect_rc 2 "list --expiring overflow"
expect_err "^minica: list: --expiring: duration '99999999999y' is too large" "list --expiring overflow: message"

# --- CSR -------------------------------------------------------------------------------------
mkdir -p "$T/csr"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/csr/own.key" \
    -subj /CN=csr.internal.svc -addext "subjectAltName=DNS:csr.internal.svc,IP:10.0.2.88" \
    -out "$T/csr/good.csr" 2>/dev/null
run "$MINICA" issue csr.internal.svc --san 10.0.2.88 --csr "$T/csr/good.csr" --dir "$CA" --out "$OUTD/csr"
expect_ok "issue --csr"
check "--csr: no key written" test ! -e "$OUTD/csr/csr.internal.svc.key"
check "--csr: cert carries the CSR's key" key_matches "$T/csr/own.key" "$OUTD/csr/csr.internal.svc.crt"
check "--csr: openssl verifies" ossl_verify "$OUTD/csr" csr.internal.svc -purpose sslserver -verify_ip 10.0.2.88

# --- bad input: one line, right exit code, no files, no new row ----------------------------
bad_issue() { # bad_issue RC REGEX description args...
    local want=$1 re=$2 what=$3 before
    shift 3
    before=$(rows)
    rm -rf "$T/bad"
    run "$MINICA" issue --dir "$CA" --out "$T/bad" "$@"
    expect_rc "$want" "$what"
    expect_err "^minica: issue: .*$re" "$what: message"
    if [ -e "$T/bad" ]; then fail "$what: files appeared in --out: $(ls -A "$T/bad")"; else pass "$what: no files"; fi
    [ "$(rows)" = "$before" ] && pass "$what: no new row" || fail "$what: the inventory changed"
}
bad_issue 2 "\.\./x" "name ../x" ../x
bad_issue 2 "a/b" "name a/b" a/b
bad_issue 2 "empty name" "empty name" ""
bad_issue 2 "10.0.2.888" "IP typo as a name" 10.0.2.888
bad_issue 2 "wildcard" "*.x (a one-label wildcard)" "*.x"
bad_issue 1 "allow_wildcards" "*.x.internal.svc without a policy allowing wildcards" "*.x.internal.svc"
l63=$(printf 'a%.0s' $(seq 63))
bad_issue 2 "not a host name" "a 64-character label" "${l63}a.internal.svc"
bad_issue 2 "longer than 253 characters" "a 255-character name" "$l63.$l63.$l63.$l63.svc"
bad_issue 2 "'a b.internal.svc': not a host name" "a name with a space" "a b.internal.svc"
bad_issue 2 "'a_b.internal.svc': not a host name" "a name with an underscore" a_b.internal.svc
bad_issue 2 "'a-.internal.svc': not a host name" "a label ending in a hyphen" a-.internal.svc
bad_issue 2 "trailing dot" "a trailing dot" ok.internal.svc.
bad_issue 2 "not a host name" "a double wildcard" "*.*.internal.svc"
bad_issue 2 "control characters" "a name with a newline" "$(printf 'a\nb.internal.svc')"
bad_issue 2 "'1.2.3': not a valid IP address" "a short IPv4 address" 1.2.3
bad_issue 2 "'10.0.2.0/24': not a host name" "a CIDR as a name" 10.0.2.0/24
bad_issue 2 "\.\./y" "--san ../y" ok.internal.svc --san ../y
bad_issue 2 "'0d'" "--ttl 0d" ok.internal.svc --ttl 0d
bad_issue 2 "'-1d'" "--ttl -1d" ok.internal.svc --ttl -1d
bad_issue 2 "99999999999y" "--ttl 99999999999y" ok.internal.svc --ttl 99999999999y
bad_issue 2 "'abc'" "--ttl abc" ok.internal.svc --ttl abc
bad_issue 2 "'1h1d'" "--ttl 1h1d (out of order)" ok.internal.svc --ttl 1h1d
bad_issue 2 "unknown usage 'admin'" "unknown --usage" ok.internal.svc --usage admin
bad_issue 2 "unknown key type 'ed25519'" "unknown --key-type" ok.internal.svc --key-type ed25519
bad_issue 1 "max_ttl" "--ttl beyond the policy's max_ttl (1y)" ok.internal.svc --ttl 2y
bad_issue 2 "missing NAME" "no NAME" --ttl 1d
bad_issue 2 "unknown option '--frobnicate'" "unknown option" ok.internal.svc --frobnicate
bad_issue 2 "option '--ttl' needs a value" "--ttl without a value" ok.internal.svc --ttl
bad_issue 2 "unknown option '-x.internal.svc' .*goes after '--'" "a NAME that starts with '-'" -x.internal.svc
bad_issue 2 "exclude" "--csr with --key-type" csr.internal.svc --csr "$T/csr/good.csr" --key-type rsa-2048
bad_issue 1 "no-such.csr" "--csr of a missing file" csr.internal.svc --csr "$T/csr/no-such.csr"

# A CSR whose names differ from the requested ones.
openssl req -new -key "$T/csr/own.key" -subj /CN=csr.internal.svc \
    -addext "subjectAltName=DNS:csr.internal.svc,DNS:evil.internal.svc" -out "$T/csr/other.csr" 2>/dev/null
bad_issue 1 "evil.internal.svc" "CSR with other names" csr.internal.svc --csr "$T/csr/other.csr"
openssl req -new -key "$T/csr/own.key" -subj /CN=other.internal.svc -out "$T/csr/cn.csr" 2>/dev/null
bad_issue 1 "other.internal.svc" "CSR with another CN" csr.internal.svc --csr "$T/csr/cn.csr"
# A key on a curve minica does not issue for (256 bits, but secp256k1).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:secp256k1 -nodes -keyout "$T/csr/k1.key" \
    -subj /CN=csr.internal.svc -out "$T/csr/k1.csr" 2>/dev/null
bad_issue 1 "the CSR.s key: EC curve other than P-256 and P-384" "CSR with a secp256k1 key" csr.internal.svc --csr "$T/csr/k1.csr"
# A CSR with a broken signature: flip a byte of the signature.
python3 - "$T/csr/good.csr" "$T/csr/tampered.csr" <<'PY'
import base64, sys
lines = open(sys.argv[1]).read().split("\n")
der = bytearray(base64.b64decode("".join(l for l in lines if l and not l.startswith("-----"))))
der[-1] ^= 1
b64 = base64.b64encode(bytes(der)).decode()
body = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
open(sys.argv[2], "w").write("-----BEGIN CERTIFICATE REQUEST-----\n" + body + "\n-----END CERTIFICATE REQUEST-----\n")
PY
bad_issue 1 "signature" "CSR with a tampered signature" csr.internal.svc --san 10.0.2.88 --csr "$T/csr/tampered.csr"

# --- the intermediate's lifetime bounds every TTL ---------------------------------------------
"$MINICA" init --dir "$T/shortca" --intermediate-ttl 30d >/dev/null
check "init fits default_ttl into a short intermediate" grep -qx 'default_ttl = 15d' "$T/shortca/minica.conf"
check "and max_ttl" grep -qx 'max_ttl = 30d' "$T/shortca/minica.conf"
run "$MINICA" issue plain.internal.svc --dir "$T/shortca" --out "$T/short-plain"
expect_ok "a plain issue works under a 30d intermediate"
# A policy that allows more than the intermediate (an older init, or an edit):
# the intermediate still bounds the TTL, and the refusal says what to change.
sed -i 's/^max_ttl = .*/max_ttl = 1y/; s/^default_ttl = .*/default_ttl = 90d/' "$T/shortca/minica.conf"
run "$MINICA" issue plain2.internal.svc --dir "$T/shortca" --out "$T/bad"
expect_rc 1 "default TTL beyond the intermediate"
expect_err "lower default_ttl in minica.conf" "default TTL beyond the intermediate: the fix"
rm -rf "$T/bad"
before=$("$MINICA" list --dir "$T/shortca" --status all --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
rm -rf "$T/bad"
run "$MINICA" issue ok.internal.svc --ttl 60d --dir "$T/shortca" --out "$T/bad"
expect_rc 1 "TTL beyond the intermediate"
expect_err "^minica: issue: .*60d exceeds the intermediate's remaining validity" "TTL beyond the intermediate: message"
check "TTL beyond the intermediate: no files" test ! -e "$T/bad"
after=$("$MINICA" list --dir "$T/shortca" --status all --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$before" = "$after" ] && pass "TTL beyond the intermediate: no new row" || fail "TTL beyond the intermediate: row added"
run "$MINICA" issue ok.internal.svc --ttl 29d --dir "$T/shortca" --out "$T/short-ok"
expect_ok "TTL within the intermediate"

# --- no CA, and --out that is not a directory ----------------------------------------------------
rm -rf "$T/bad"
run "$MINICA" issue ok.internal.svc --dir "$T/no-ca" --out "$T/bad"
expect_rc 1 "issue without a CA"
expect_err "^minica: issue: .*minica init" "issue without a CA: message points at init"
check "issue without a CA: no files" test ! -e "$T/bad"
check "issue without a CA: no state dir created" test ! -e "$T/no-ca"
echo "not a directory" >"$T/file-out"
before=$(rows)
run "$MINICA" issue undelivered.internal.svc --dir "$CA" --out "$T/file-out"
expect_rc 1 "--out is a regular file"
expect_err "^minica: issue: " "--out is a regular file: message"
[ "$(rows)" = "$before" ] && pass "--out is a regular file: row withdrawn" || fail "--out is a regular file: row left behind"
[ "$(cat "$T/file-out")" = "not a directory" ] && pass "--out file untouched" || fail "--out file changed"

# A target that cannot be replaced (a directory where the chain goes): nothing
# is replaced, not even the key, and the row is withdrawn.
"$MINICA" issue dirclash.internal.svc --dir "$CA" --out "$T/clash" >/dev/null
rm "$T/clash/dirclash.internal.svc.fullchain.crt" && mkdir "$T/clash/dirclash.internal.svc.fullchain.crt"
old_key=$(sha256sum <"$T/clash/dirclash.internal.svc.key")
old_crt=$(sha256sum <"$T/clash/dirclash.internal.svc.crt")
before=$(rows)
run "$MINICA" issue dirclash.internal.svc --dir "$CA" --out "$T/clash"
expect_rc 1 "a directory in the way of NAME.fullchain.crt"
expect_err "^minica: issue: .*is a directory" "directory in the way: message"
[ "$(sha256sum <"$T/clash/dirclash.internal.svc.key")" = "$old_key" ] && pass "directory in the way: key kept" ||
    fail "directory in the way: the key was replaced"
[ "$(sha256sum <"$T/clash/dirclash.internal.svc.crt")" = "$old_crt" ] && pass "directory in the way: cert kept" ||
    fail "directory in the way: the cert was replaced"
[ "$(rows)" = "$before" ] && pass "directory in the way: row withdrawn" || fail "directory in the way: row left behind"
check "directory in the way: no temp files left" bash -c "! ls -A '$T/clash' | grep -q tmp"

# A rename that fails after others succeeded (ca.crt immutable, renamed last):
# NAME.key, NAME.crt and NAME.fullchain.crt already hold the new certificate,
# so its row must stay, or a certificate in use could be neither listed nor
# revoked. With NAME.key immutable (renamed first) nothing is replaced and the
# row is withdrawn. chattr needs a file system with the immutable flag.
"$MINICA" issue partial.internal.svc --dir "$CA" --out "$T/partial" >/dev/null
printf '\n' >>"$T/partial/ca.crt" # an identical ca.crt would be left alone, not renamed
if chattr +i "$T/partial/ca.crt" 2>/dev/null; then
    before=$(rows)
    run "$MINICA" issue partial.internal.svc --dir "$CA" --out "$T/partial"
    chattr -i "$T/partial/ca.crt"
    expect_rc 1 "a rename fails after the key and cert were replaced"
    expect_err "^minica: issue: partial.internal.svc: cannot replace .*ca.crt: .*partial.internal.svc.key, partial.internal.svc.crt, partial.internal.svc.fullchain.crt already replaced, serial [0-9a-f]+ kept in the inventory" \
        "partly replaced: the message names the replaced files and the serial"
    [ "$(rows)" = "$((before + 1))" ] && pass "partly replaced: the row stays" || fail "partly replaced: the row was withdrawn"
    disk=$(serial_of "$T/partial/partial.internal.svc.crt")
    run "$MINICA" show "$disk" --dir "$CA"
    expect_ok "partly replaced: the certificate on disk is in the inventory (show SERIAL)"
    check "partly replaced: key matches the certificate on disk" \
        key_matches "$T/partial/partial.internal.svc.key" "$T/partial/partial.internal.svc.crt"
    check "partly replaced: the failure is in the audit log" \
        bash -c "'$MINICA' log --dir '$CA' | grep -q 'delivering partial.internal.svc serial=$disk failed after'"
    run "$MINICA" revoke "$disk" --dir "$CA"
    expect_ok "partly replaced: the certificate on disk can be revoked"

    chattr +i "$T/partial/partial.internal.svc.key"
    old_crt=$(sha256sum <"$T/partial/partial.internal.svc.crt")
    before=$(rows)
    run "$MINICA" issue partial.internal.svc --dir "$CA" --out "$T/partial"
    chattr -i "$T/partial/partial.internal.svc.key"
    expect_rc 1 "the first rename (the key) fails"
    expect_err "^minica: issue: partial.internal.svc: cannot replace .*partial.internal.svc.key: [^;]*$" \
        "key not replaceable: message"
    [ "$(rows)" = "$before" ] && pass "key not replaceable: row withdrawn" || fail "key not replaceable: row left behind"
    [ "$(sha256sum <"$T/partial/partial.internal.svc.crt")" = "$old_crt" ] && pass "key not replaceable: cert kept" ||
        fail "key not replaceable: the cert was replaced"
else
    echo "# skipped: partial delivery (chattr +i not supported under $T)"
fi

# Never into the state directory: there "intermediate" would replace the CA's own files.
ca_sums=$(cd "$CA" && sha256sum root.key root.crt intermediate.key intermediate.crt)
before=$(rows)
run bash -c 'cd "$1" && exec "$2" issue intermediate --dir .' - "$CA" "$(readlink -f "$MINICA")"
expect_rc 1 "issue into the state directory (default --out .)"
expect_err "^minica: issue: .*state directory" "issue into the state directory: message"
run "$MINICA" issue root --dir "$CA" --out "$CA/"
expect_rc 1 "issue --out STATEDIR/"
[ "$(cd "$CA" && sha256sum root.key root.crt intermediate.key intermediate.crt)" = "$ca_sums" ] &&
    pass "the CA's files are untouched" || fail "the CA's files were replaced"
[ "$(rows)" = "$before" ] && pass "issue into the state directory: no new row" || fail "issue into the state directory: row added"
check "issue into the state directory: no leaf files" test ! -e "$CA/ca.crt"

# A damaged inventory: a clear one-line error from every command, no files.
cp -r "$CA" "$T/damaged"
head -c 8192 /dev/urandom >"$T/damaged/minica.db"
rm -f "$T/damaged/minica.db-wal" "$T/damaged/minica.db-shm"
for cmd in list "show $NAME" "issue x.internal.svc --out $T/damaged-out"; do
    run "$MINICA" $cmd --dir "$T/damaged"
    expect_rc 1 "$cmd on a damaged minica.db"
    expect_err "^minica: ${cmd%% *}: .*minica.db is damaged or not a minica database" "$cmd on a damaged minica.db: message"
done
check "damaged minica.db: no files" test ! -e "$T/damaged-out"

# --- issue --json --------------------------------------------------------------------------------------
run "$MINICA" issue json.internal.svc --san ::1 --json --dir "$CA" --out "$OUTD"
expect_ok "issue --json"
[ "$(json_get "$OUT" "j['serial']")" = "$(serial_of "$OUTD/json.internal.svc.crt")" ] && pass "issue --json: serial" || fail "issue --json: serial"
[ "$(json_get "$OUT" "','.join(j['sans'])")" = "json.internal.svc,::1" ] && pass "issue --json: sans" || fail "issue --json: sans"
[ "$(json_get "$OUT" "j['files']['key']")" = "$OUTD/json.internal.svc.key" ] && pass "issue --json: key path" || fail "issue --json: key path"

# --- help and dispatch ------------------------------------------------------------------------------------
run "$MINICA" --help
expect_ok "minica --help"
expect_out "issue" "--help lists issue"
run "$MINICA" help issue
expect_ok "minica help issue"
expect_out "^Usage: minica issue" "help issue shows the usage"
help_text=$OUT
run "$MINICA" issue --help
expect_ok "minica issue --help"
[ "$OUT" = "$help_text" ] && pass "issue --help = help issue" || fail "issue --help differs"
for opt in --san --ttl --usage --key-type --csr --out --json --dir; do
    printf '%s' "$help_text" | grep -q -- "$opt" && pass "issue help documents $opt" || fail "issue help lacks $opt"
done
for cmd in list show export; do
    run "$MINICA" help "$cmd"
    expect_ok "minica help $cmd"
    run "$MINICA" "$cmd" --help
    expect_ok "minica $cmd --help"
done
run "$MINICA" frobnicate
expect_rc 2 "unknown command"
expect_err "^minica: unknown command 'frobnicate'" "unknown command: message"
run "$MINICA"
expect_rc 2 "no command"
run "$MINICA" help frobnicate
expect_rc 2 "help for an unknown command"
run "$MINICA" version
expect_ok "version"
expect_out "^minica [0-9]" "version prints it"

# ca.crt in --out: left alone when it already holds this CA's root (same
# inode, same mtime), replaced when it differs or is a symlink. Every other
# file is replaced with its exact mode, and no temp file is left behind.
CAD=$T/cadeliver
"$MINICA" init --dir "$CAD" >/dev/null || fail "init the CA for the ca.crt checks"
DOUT=$T/deliver-out
run bash -c 'umask 000 && exec "$@"' - "$MINICA" issue one.internal.svc --dir "$CAD" --out "$DOUT"
expect_ok "issue one.internal.svc into a fresh --out (umask 000)"
touch -d @1000000000 "$DOUT/ca.crt"
ca_id=$(stat -c '%i %Y' "$DOUT/ca.crt")
run bash -c 'umask 000 && exec "$@"' - "$MINICA" issue two.internal.svc --dir "$CAD" --out "$DOUT"
expect_ok "issue two.internal.svc into the same --out"
[ "$(stat -c '%i %Y' "$DOUT/ca.crt")" = "$ca_id" ] &&
    pass "an identical ca.crt is not rewritten (inode and mtime unchanged)" ||
    fail "an identical ca.crt was rewritten: $ca_id -> $(stat -c '%i %Y' "$DOUT/ca.crt")"
check "ca.crt still holds the root" cmp -s "$DOUT/ca.crt" "$CAD/root.crt"
key_id=$(stat -c %i "$DOUT/two.internal.svc.key")
run "$MINICA" issue two.internal.svc --dir "$CAD" --out "$DOUT"
expect_ok "reissue two.internal.svc"
check_not "the key of a reissue is a new file" test "$(stat -c %i "$DOUT/two.internal.svc.key")" = "$key_id"
expect_mode "$DOUT/two.internal.svc.key" 600
expect_mode "$DOUT/two.internal.svc.crt" 644
expect_mode "$DOUT/two.internal.svc.fullchain.crt" 644
expect_mode "$DOUT/ca.crt" 644
check "two.internal.svc verifies against the delivered ca.crt" \
    openssl verify -CAfile "$DOUT/ca.crt" -untrusted "$CAD/intermediate.crt" "$DOUT/two.internal.svc.crt"
check "two.internal.svc key matches its certificate" \
    key_matches "$DOUT/two.internal.svc.key" "$DOUT/two.internal.svc.crt"
# A second CA delivering into the same --out replaces ca.crt with its root.
CAD2=$T/cadeliver2
"$MINICA" init --dir "$CAD2" >/dev/null || fail "init the second CA"
touch -d @1000000000 "$DOUT/ca.crt"
ca_id=$(stat -c '%i %Y' "$DOUT/ca.crt")
run "$MINICA" issue three.internal.svc --dir "$CAD2" --out "$DOUT"
expect_ok "issue from a second CA into the same --out"
check_not "a different ca.crt is replaced" test "$(stat -c '%i %Y' "$DOUT/ca.crt")" = "$ca_id"
check "ca.crt now holds the second CA's root" cmp -s "$DOUT/ca.crt" "$CAD2/root.crt"
check "three.internal.svc verifies against the new ca.crt" \
    openssl verify -CAfile "$DOUT/ca.crt" -untrusted "$CAD2/intermediate.crt" "$DOUT/three.internal.svc.crt"
# A hand-edited ca.crt is put back.
printf '# edited\n' >>"$DOUT/ca.crt"
run "$MINICA" issue three.internal.svc --dir "$CAD2" --out "$DOUT"
expect_ok "issue over a hand-edited ca.crt"
check "the hand-edited ca.crt is replaced by the root" cmp -s "$DOUT/ca.crt" "$CAD2/root.crt"
# A symlink at ca.crt, even to a file holding the very same root, is replaced
# by a regular file and its target is left untouched.
cp "$CAD2/root.crt" "$T/linked-root.crt"
touch -d @1000000000 "$T/linked-root.crt"
target_id=$(stat -c '%i %Y %a' "$T/linked-root.crt")
rm -f "$DOUT/ca.crt"
ln -s "$T/linked-root.crt" "$DOUT/ca.crt"
run "$MINICA" issue three.internal.svc --dir "$CAD2" --out "$DOUT"
expect_ok "issue over a symlink at ca.crt"
check_not "the symlink at ca.crt was replaced" test -L "$DOUT/ca.crt"
check "ca.crt is a regular file holding the root" cmp -s "$DOUT/ca.crt" "$CAD2/root.crt"
[ "$(stat -c '%i %Y %a' "$T/linked-root.crt")" = "$target_id" ] &&
    pass "the symlink's target is untouched" || fail "the symlink's target was touched"
check "the symlink's target still holds the root" cmp -s "$T/linked-root.crt" "$CAD2/root.crt"
leftover=$(find "$DOUT" -name '*.tmp-*')
[ -z "$leftover" ] && pass "no temp files left in --out" || fail "temp files left: $leftover"

# Once no minica process has the inventory open, minica.db alone holds every
# row: the WAL file is kept between processes but emptied (README: back up
# minica.db). A copy of the state directory without -wal and -shm lists the
# certificate just issued.
run "$MINICA" issue backup.internal.svc --dir "$CAD2" --out "$DOUT"
expect_ok "issue before copying the inventory"
check "minica.db-wal is left, emptied" test -f "$CAD2/minica.db-wal" -a ! -s "$CAD2/minica.db-wal"
check "minica.db-wal is 0600 like minica.db" test "$(stat -c %a "$CAD2/minica.db-wal")" = 600
mkdir -m 700 "$T/copy"
cp "$CAD2"/root.crt "$CAD2"/intermediate.crt "$CAD2"/intermediate.key "$CAD2"/minica.db "$T/copy/"
run "$MINICA" list --dir "$T/copy"
expect_out "backup.internal.svc" "a copy of minica.db alone lists the newest certificate"

done_testing
