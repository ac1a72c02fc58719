# The root key kept offline (issue 18): a state directory without root.key
# and ca/root-*.key issues, renews, revokes, serves enrollments and makes
# the intermediates' CRLs; only what the root signs (a new intermediate, a
# rollover, the root CRL) is refused, in one line naming the missing files
# and what needs them, with nothing changed. With the key back each works.
# Everything is checked with openssl.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
OFF=$T/offline
mkdir -p "$OFF"
# key_id EXT CERT: the keyid openssl reads from CERT's extension.
key_id() { openssl x509 -in "$2" -noout -ext "$1" | sed -n 's/^ *\(keyid:\)\{0,1\}\([0-9A-F:]\{59\}\)$/\2/p'; }
# aki_is_ski CERT ISSUER: the AKI sign.c writes is the issuer's SKI.
aki_is_ski() {
    local a s
    a=$(key_id authorityKeyIdentifier "$1") s=$(key_id subjectKeyIdentifier "$2")
    [ -n "$a" ] && [ "$a" = "$s" ]
}
run "$MINICA" init --dir "$CA"
expect_ok "init"
check "init: the root's self-signature verifies" openssl verify -check_ss_sig -CAfile "$CA/root.crt" \
    "$CA/root.crt"
check "init: the intermediate's AKI is the root's SKI" aki_is_ski "$CA/intermediate.crt" "$CA/root.crt"
run "$MINICA" issue old.svc --dir "$CA" --out "$T/old"
expect_ok "a leaf of the first intermediate"
PREV=$(serial_of "$CA/intermediate.crt")
# A rotation archives the root key in ca/ too: both copies go offline.
run "$MINICA" ca rotate --dir "$CA"
expect_ok "rotate while the root key is here"
ROOT_SERIAL=$(serial_of "$CA/root.crt")
INT_SERIAL=$(serial_of "$CA/intermediate.crt")
check "the root key is archived" test -e "$CA/ca/root-$ROOT_SERIAL.key"
mv "$CA/root.key" "$OFF/root.key"
mv "$CA/ca/root-$ROOT_SERIAL.key" "$OFF/archived.key"
check_not "no root key is left in the state directory" sh -c "ls '$CA' '$CA/ca' | grep -q '^root.*\\.key\$'"

# --- ca status says where each key lives -----------------------------------
run "$MINICA" ca status --dir "$CA"
expect_out "^  key:          offline \(not in this state directory\)$" "the root's key: offline"
expect_out "^  key:          file ca/intermediate-$INT_SERIAL\.key \(0600\)$" \
    "the active intermediate's key: its file and mode"
run "$MINICA" ca status --json --dir "$CA"
printf '%s' "$OUT" >"$T/status.json"
check "--json: the root's key is offline" jq -e --arg s "$ROOT_SERIAL" \
    '.certs[] | select(.serial == $s) | .key == "offline (not in this state directory)" and .key_file == null' \
    "$T/status.json"
check "--json: the intermediate's key is a file" jq -e --arg s "$INT_SERIAL" \
    '.certs[] | select(.serial == $s) | .key == "file ca/intermediate-\($s).key (0600)"' "$T/status.json"

# --- what needs only the intermediate's key --------------------------------
cp -a "$CA/intermediate.crt" "$T/int-before.crt"
run "$MINICA" issue new.svc --dir "$CA" --out "$T/new"
expect_ok "issue without the root key"
check "the leaf verifies under the root" openssl verify -x509_strict -CAfile "$CA/root.crt" \
    -untrusted "$T/new/new.svc.fullchain.crt" "$T/new/new.svc.crt"
check "the leaf's AKI is the intermediate's SKI" aki_is_ski "$T/new/new.svc.crt" "$CA/intermediate.crt"
run "$MINICA" issue new.svc --dir "$CA" --out "$T/new2"
expect_ok "issue the same name again (a renewal) without the root key"
check "the renewed leaf verifies" openssl verify -CAfile "$CA/root.crt" \
    -untrusted "$T/new2/new.svc.fullchain.crt" "$T/new2/new.svc.crt"
run "$MINICA" revoke old.svc --dir "$CA"
expect_ok "revoke a leaf of the previous intermediate without the root key"
run "$MINICA" crl --dir "$CA" --out "$T/int-crls.pem"
expect_ok "the intermediates' CRLs without the root key"
check_not "no warning about the root (its CRL was not asked for)" grep -q root <<<"$ERR"
check "openssl: the old leaf is revoked by its intermediate's CRL" sh -c \
    "openssl verify -crl_check -CAfile '$CA/root.crt' -untrusted '$T/old/old.svc.fullchain.crt' \
     -CRLfile '$T/int-crls.pem' '$T/old/old.svc.crt' 2>&1 | grep -q 'certificate revoked'"
check "openssl: the new leaf passes its intermediate's CRL" openssl verify -crl_check \
    -CAfile "$CA/root.crt" -untrusted "$T/new/new.svc.fullchain.crt" -CRLfile "$T/int-crls.pem" \
    "$T/new/new.svc.crt"

# --- serve: enrollment with a token, renewal over mutual TLS, the CRL -------
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" --timeout 5s 2>"$T/serve.log" &
track_pid $!
up() {
    local i
    for i in $(seq 1 100); do
        [ "$(http_code "$URL/v1/health" -k)" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}
check "serve starts without the root key" up
run "$MINICA" token web.svc --dir "$CA"
expect_ok "a token without the root key"
TOKEN=$OUT
run "$MINICA" issue web.svc --ca-url "$URL" --root "$CA/root.crt" --token "$TOKEN" --out "$T/vm"
expect_ok "enrollment through serve"
W=$T/vm/web.svc
check "the enrolled leaf verifies under the root" openssl verify -CAfile "$CA/root.crt" \
    -untrusted "$W.fullchain.crt" "$W.crt"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/w2.key" \
    -subj /CN=web.svc -addext subjectAltName=DNS:web.svc -out "$T/w2.csr" 2>/dev/null
jq -n --rawfile c "$T/w2.csr" '{csr: $c}' >"$T/renew.json"
code=$(curl -s -o "$T/renewed.json" -w '%{http_code}' --max-time 30 --cacert "$CA/root.crt" \
    --cert "$W.crt" --key "$W.key" -H 'Content-Type: application/json' \
    --data-binary "@$T/renew.json" "$URL/v1/renew" || true)
check "renewal over mutual TLS: 200" test "$code" = 200
jq -r .certificate "$T/renewed.json" >"$T/renewed.crt"
check "the renewed leaf verifies" openssl verify -CAfile "$CA/root.crt" -untrusted "$W.fullchain.crt" \
    "$T/renewed.crt"
curl -s --max-time 30 --cacert "$CA/root.crt" -o "$T/served.crl" "$URL/v1/crl"
check "GET /v1/crl: signed by the intermediate" sh -c \
    "openssl crl -inform DER -in '$T/served.crl' -CAfile '$CA/intermediate.crt' -noout 2>&1 | grep -qx 'verify OK'"
check_not "serve logged no key error" grep -qi "root.key" "$T/serve.log"

# --- root operations are refused, in one line, and change nothing -----------
# Every file but the inventory (which gets the audit rows).
snapshot() { (cd "$CA" && find . -name 'minica.db*' -prune -o -type f -print0 | sort -z |
    xargs -0 sha256sum); }
unchanged() { snapshot | cmp - "$T/before.sum"; }
snapshot >"$T/before.sum"
missing="$CA/root.key and $CA/ca/root-$ROOT_SERIAL.key are missing"

run "$MINICA" ca rotate --dir "$CA"
expect_rc 1 "rotate without the root key"
expect_err "^minica: ca: rotate: a new intermediate needs the root key: $missing$" \
    "rotate names what needs the key and the missing files"
run "$MINICA" ca rollover --dir "$CA"
expect_rc 1 "rollover without the root key"
expect_err "^minica: ca: rollover: a rollover needs the current root's key: $missing$" \
    "rollover names what needs the key and the missing files"
run "$MINICA" crl --root --dir "$CA" --out "$T/root-crl.pem"
expect_rc 1 "crl --root without the root key"
expect_err "^minica: crl: the root CRL needs a root's key and none is here \($missing\); make it where the root key is kept$" \
    "crl --root names the missing files"
check_not "crl --root wrote nothing" test -e "$T/root-crl.pem"
run "$MINICA" crl --issuer "$ROOT_SERIAL" --dir "$CA" --out "$T/root-crl.pem"
expect_rc 1 "crl --issuer ROOT without the root key"
expect_err "^minica: crl: the CRL of root $ROOT_SERIAL needs its key: $missing$" \
    "crl --issuer ROOT names the missing files"
check "nothing in the state directory changed" unchanged
check "intermediate.crt is unchanged" cmp "$CA/intermediate.crt" "$T/int-before.crt"

# ca revoke only records the revocation (the root's CRL lists it later):
# it works offline, and the root CRL made where the key is carries it.
run "$MINICA" ca revoke "$PREV" --dir "$CA"
expect_ok "ca revoke of the previous intermediate without the root key"
expect_out "minica crl --root" "it says the root's CRL is to be published"

# --- with the key back, each root operation works ----------------------------
mv "$OFF/root.key" "$CA/root.key"
mv "$OFF/archived.key" "$CA/ca/root-$ROOT_SERIAL.key"
run "$MINICA" crl --root --dir "$CA" --out "$T/root-crl.pem"
expect_ok "crl --root with the key back"
check "the root CRL verifies under the root" sh -c \
    "openssl crl -in '$T/root-crl.pem' -CAfile '$CA/root.crt' -noout 2>&1 | grep -qx 'verify OK'"
check "the root CRL lists the revoked intermediate" sh -c \
    "openssl crl -in '$T/root-crl.pem' -noout -text | grep -qi 'serial number: 0*$PREV\$'"
run "$MINICA" ca rotate --dir "$CA"
expect_ok "rotate with the key back"
check "the new intermediate verifies under the root" openssl verify -x509_strict -check_ss_sig \
    -CAfile "$CA/root.crt" "$CA/intermediate.crt"
check "rotate: the new intermediate's AKI is the root's SKI" aki_is_ski "$CA/intermediate.crt" \
    "$CA/root.crt"
openssl x509 -in "$CA/root.crt" -out "$T/oldroot.pem"
run "$MINICA" ca rollover --dir "$CA"
expect_ok "rollover with the key back"
check "the new intermediate verifies under the new root" openssl verify -check_ss_sig \
    -CAfile "$CA/root.crt" "$CA/intermediate.crt"
openssl x509 -in "$CA/root.crt" -out "$T/newroot.pem"
CROSS=$(ls "$CA"/ca/cross-*.crt)
check "rollover: the new root's self-signature verifies" openssl verify -check_ss_sig \
    -CAfile "$T/newroot.pem" "$T/newroot.pem"
check "rollover: the cross-certificate verifies under the old root" openssl verify -x509_strict \
    -CAfile "$T/oldroot.pem" "$CROSS"
check "rollover: the cross-certificate's AKI is the old root's SKI" aki_is_ski "$CROSS" "$T/oldroot.pem"
check "rollover: the new intermediate's AKI is the new root's SKI" aki_is_ski "$CA/intermediate.crt" \
    "$T/newroot.pem"
run "$MINICA" issue last.svc --dir "$CA" --out "$T/last"
expect_ok "issue after the rollover"
check "the leaf verifies under the new root only" openssl verify -x509_strict -CAfile "$T/newroot.pem" \
    -untrusted "$T/last/last.svc.fullchain.crt" "$T/last/last.svc.crt"
check "and through the cross-certificate under the old root" sh -c "cat '$T/last/last.svc.fullchain.crt' '$CROSS' >'$T/via-cross.pem' &&
    openssl verify -x509_strict -CAfile '$T/oldroot.pem' -untrusted '$T/via-cross.pem' '$T/last/last.svc.crt'"

done_testing
