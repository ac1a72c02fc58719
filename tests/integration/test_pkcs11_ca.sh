# CA keys in a PKCS#11 token (issue 18), with SoftHSM2 in this test's temp
# dir: init --intermediate-key makes the key there (no key file), issue,
# crl, ca status, serve enrollment and renewal sign with it; ca rotate
# --intermediate-key moves a key-file CA into the token while the previous
# intermediate's file still signs its CRL; every certificate and CRL
# checked by openssl and GnuTLS; the operator's errors one line each; the
# PIN never in argv, the environment, the logs or the output. Also: both
# keys in the token with the PIN a systemd credential, p11-kit missing.
source "$SRCDIR/tests/integration/lib/common.sh"

MODULE=/usr/lib/softhsm/libsofthsm2.so
for tool in softhsm2-util pkcs11-tool certtool; do
    if ! command -v "$tool" >/dev/null || [ ! -r "$MODULE" ]; then
        echo "ok - skipped: $tool or $MODULE missing (scripts/install-deps --test: softhsm2 opensc)"
        exit 0
    fi
done

# The shared fixture's token (PIN 1234) only for its conf; the CA's token
# gets a PIN no log line could hold by chance.
export SOFTHSM2_CONF
SOFTHSM2_CONF=$(sh "$SRCDIR/tests/support/softhsm" "$T/hsm" | head -n 1) || {
    fail "tests/support/softhsm could not make a token"
    done_testing
}
PIN="pin$RANDOM$RANDOM$(date +%N)"
softhsm2-util --init-token --free --label minica-ca --pin "$PIN" --so-pin 87654321 >/dev/null
PINF=$T/token.pin
(umask 077 && printf '%s\n' "$PIN" >"$PINF")
TOK="pkcs11:token=minica-ca"
MP="module-path=$MODULE"
CA=$T/ca

# chain_ok LEAF CA: openssl with the CRLs (-crl_check_all), and certtool
# with the leaf's own intermediate.
chain_ok() {
    local leaf=$1 dir=$2 i
    openssl verify -crl_check_all -CAfile "$dir/root.crt" -CRLfile "$T/crls.pem" \
        -untrusted "$dir/chain.pem" "$leaf" >/dev/null 2>&1 || return 1
    for i in "$dir"/ca/intermediate-*.crt "$dir/intermediate.crt"; do
        [ -f "$i" ] || continue
        cat "$leaf" "$i" >"$T/full.pem"
        certtool --verify --load-ca-certificate "$dir/root.crt" --infile "$T/full.pem" 2>&1 |
            grep -q 'Chain verification output: Verified' && return 0
    done
    return 1
}
# crls DIR: every CRL of the CA into crls.pem, the root's too, each checked
# by certtool against one of the CA certificates; chain.pem: the
# intermediates, for openssl's -untrusted.
crls() {
    local dir=$1 c i ok
    "$MINICA" crl --all --dir "$dir" --out "$T/crls.pem" >/dev/null 2>&1 || return 1
    cat "$dir"/ca/intermediate-*.crt >"$dir/chain.pem" 2>/dev/null || cp "$dir/intermediate.crt" "$dir/chain.pem"
    rm -f "$T"/crl-part*
    csplit -s -z -f "$T/crl-part" "$T/crls.pem" '/-----BEGIN X509 CRL-----/' '{*}' || return 1
    for c in "$T"/crl-part*; do
        ok=0
        for i in "$dir"/ca/intermediate-*.crt "$dir/intermediate.crt" "$dir/root.crt"; do
            [ -f "$i" ] || continue
            certtool --verify-crl --load-ca-certificate "$i" --infile "$c" >/dev/null 2>&1 && ok=1
        done
        [ "$ok" = 1 ] || return 1
    done
}
no_pin_in() { ! grep -qaF -- "$PIN" "$@"; }

# --- init with the intermediate in the token ------------------------------------
run "$MINICA" init --dir "$CA" --intermediate-key "$TOK;object=int-1;pin-value=$PIN?$MP" --pin-file "$PINF"
expect_rc 2 "init: a URI with pin-value refused"
expect_err "pin-value" "init: the refusal names pin-value"
check_not "init: nothing made after the refusal" test -e "$CA/intermediate.crt"
run "$MINICA" init --dir "$CA" --intermediate-key "$TOK;object=int-1?$MP" --pin-file "$PINF"
expect_ok "init --intermediate-key pkcs11:..."
no_pin_in <<<"$OUT$ERR" && pass "init prints no PIN" || fail "init printed the PIN"
check_not "no intermediate.key for the token key" test -e "$CA/intermediate.key"
check "root.key is a file" test -f "$CA/root.key"
check "minica.conf names the token key" grep -qxF "intermediate = $TOK;object=int-1?$MP" "$CA/minica.conf"
check "minica.conf names the PIN file" grep -qxF "pin_file = $PINF" "$CA/minica.conf"
check_not "minica.conf holds no PIN" grep -qF -- "$PIN" "$CA/minica.conf"
check "the token holds the private key int-1" sh -c \
    "pkcs11-tool --module '$MODULE' --token-label minica-ca --login --pin '$PIN' -O 2>/dev/null | grep -A2 'Private Key' | grep -q 'label: *int-1'"
pkcs11-tool --module "$MODULE" --token-label minica-ca --read-object --type pubkey --label int-1 \
    -o "$T/int1.pub.der" >/dev/null 2>&1
check "the certificate's public key is the token's" sh -c \
    "openssl x509 -in '$CA/intermediate.crt' -noout -pubkey | openssl pkey -pubin -outform DER | cmp -s - '$T/int1.pub.der'"
run "$MINICA" init --dir "$T/again" --intermediate-key "$TOK;object=int-1?$MP" --pin-file "$PINF"
expect_rc 1 "init with a label the token already holds refused"
expect_err "already holds an object labelled int-1" "the refusal names the label"

# --- issue, crl, ca status -----------------------------------------------------
run "$MINICA" issue web.internal --dir "$CA" --out "$T/leaf"
expect_ok "issue from the token's intermediate"
no_pin_in <<<"$OUT$ERR" && pass "issue prints no PIN" || fail "issue printed the PIN"
check "CRLs made and verified by certtool" crls "$CA"
check "the leaf verifies with the CRLs (openssl -crl_check_all, certtool)" chain_ok "$T/leaf/web.internal.crt" "$CA"
run "$MINICA" ca status --dir "$CA"
expect_out "key: +$TOK;object=int-1\\?$MP" "ca status says the intermediate's key is in the token"
expect_out "key: +file root.key" "ca status says the root key is a file"
no_pin_in <<<"$OUT" && pass "ca status shows no PIN" || fail "ca status showed the PIN"
run "$MINICA" ca status --json --dir "$CA"
check "ca status --json has the URI" sh -c "printf '%s' '$OUT' | jq -e '.certs[] | select(.key == \"$TOK;object=int-1?$MP\")'"
run "$MINICA" revoke "$(serial_of "$T/leaf/web.internal.crt")" --dir "$CA"
expect_ok "revoke the leaf"
check "CRLs after the revocation" crls "$CA"
check "openssl now says revoked" sh -c "openssl verify -crl_check_all -CAfile '$CA/root.crt' \
    -CRLfile '$T/crls.pem' -untrusted '$CA/chain.pem' '$T/leaf/web.internal.crt' 2>&1 | grep -q 'certificate revoked'"

# --- serve: enrollment and renewal, where the PIN must never be -------------------
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" --san ca.test --timeout 5s 2>"$T/serve.log" &
SERVE_PID=$!
track_pid "$SERVE_PID"
check "serve starts with the key in the token" wait_health "$URL"
TOKEN=$("$MINICA" token web1.internal --san 127.0.0.1 --dir "$CA")
(umask 077 && printf '%s\n' "$TOKEN" >"$T/enroll.token")
run "$MINICA" issue web1.internal --san 127.0.0.1 --ca-url "$URL" --root "$CA/root.crt" \
    --token-file "$T/enroll.token" --out "$T/vm"
expect_ok "enrollment over serve with a token"
check "CRLs with serve's leaves" crls "$CA"
check "the enrolled leaf verifies (openssl -crl_check_all, certtool)" chain_ok "$T/vm/web1.internal.crt" "$CA"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/w2.key" \
    -subj /CN=web1.internal -addext "subjectAltName=DNS:web1.internal,IP:127.0.0.1" \
    -out "$T/w2.csr" 2>/dev/null
jq -n --rawfile c "$T/w2.csr" '{csr: $c}' >"$T/renew.json"
code=$(curl -s -o "$T/resp" -w '%{http_code}' --max-time 30 --cacert "$CA/root.crt" -X POST \
    -H 'Content-Type: application/json' --data-binary "@$T/renew.json" \
    --cert "$T/vm/web1.internal.crt" --key "$T/vm/web1.internal.key" "$URL/v1/renew" || true)
check "renewal over mutual TLS: 200" test "$code" = 200
jq -r .certificate "$T/resp" >"$T/renewed.crt"
check "the renewed leaf verifies (openssl -crl_check_all, certtool)" chain_ok "$T/renewed.crt" "$CA"
check "the renewed leaf carries the new key" key_matches "$T/w2.key" "$T/renewed.crt"
check "serve's /proc/PID/cmdline has no PIN" no_pin_in "/proc/$SERVE_PID/cmdline"
check "serve's /proc/PID/environ has no PIN" no_pin_in "/proc/$SERVE_PID/environ"
check "no process's argv holds the PIN (ps)" sh -c "! ps -eo args | grep -v grep | grep -qF -- '$PIN'"
kill "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
"$MINICA" log --dir "$CA" >"$T/audit.txt"
check "the audit log has the enrollment" grep -q web1.internal "$T/audit.txt"
check "the audit log has no PIN" no_pin_in "$T/audit.txt"
check "serve's log has no PIN" no_pin_in "$T/serve.log"
db_dump "$CA" >"$T/db.sql"
check "the inventory has no PIN" no_pin_in "$T/db.sql"
check "no .key file in the state directory but root.key and serve.key" \
    test "$(find "$CA" -name '*.key' | sort | tr '\n' ' ')" = "$CA/root.key $CA/serve.key "

# --- the operator's errors: one line, exit 1 ---------------------------------------
conf_keep=$(cat "$CA/minica.conf")
with_conf() { printf '%s\n' "$conf_keep" | sed "$1" >"$CA/minica.conf"; }
(umask 077 && printf 'wrong-%s\n' "$PIN" >"$T/wrong.pin")
with_conf "s|^pin_file = .*|pin_file = $T/wrong.pin|"
run "$MINICA" issue e1.internal --dir "$CA" --out "$T/e"
expect_rc 1 "a wrong PIN refused"
expect_err "wrong PIN for token minica-ca" "it says: wrong PIN for token minica-ca"
chmod 644 "$PINF"
with_conf "s|^x||"
run "$MINICA" issue e1.internal --dir "$CA" --out "$T/e"
expect_rc 1 "a PIN file others can read refused"
expect_err "open to group or others.*chmod 600" "it says how to fix the mode"
chmod 600 "$PINF"
with_conf "s|token=minica-ca;|token=no-such-token;|"
run "$MINICA" issue e1.internal --dir "$CA" --out "$T/e"
expect_rc 1 "a token that is not there"
expect_err "no PKCS#11 token matches pkcs11:token=no-such-token" "it names the URI"
with_conf "s|object=int-1|object=int-404|"
run "$MINICA" issue e1.internal --dir "$CA" --out "$T/e"
expect_rc 1 "a key that is not in the token"
expect_err "token minica-ca holds no private key" "it says the key is missing"
pkcs11-tool --module "$MODULE" --token-label minica-ca --login --pin "$PIN" --keypairgen \
    --key-type EC:prime256v1 --label stranger --id 5157 >/dev/null 2>&1
with_conf "s|object=int-1|object=stranger|"
run "$MINICA" issue e1.internal --dir "$CA" --out "$T/e"
expect_rc 1 "a token key that is not the certificate's"
expect_err "does not match .*intermediate.crt" "it says the key does not match the certificate"
with_conf "s|object=int-1|object=int-1;pin-value=$PIN|"
run "$MINICA" issue e1.internal --dir "$CA" --out "$T/e"
expect_rc 1 "a pin-value in minica.conf refused"
expect_err "pin-value.*pin_file or pin_credential" "it says to use pin_file"
check_not "the refusal does not echo the PIN" sh -c "printf '%s' \"\$1\" | grep -qF -- '$PIN'" _ "$ERR"
printf '%s\n' "$conf_keep" >"$CA/minica.conf"
# p11-kit missing: its library hidden in a private mount namespace.
P11KIT=$(readlink -f /usr/lib/x86_64-linux-gnu/libp11-kit.so.0 2>/dev/null || true)
if [ -n "$P11KIT" ] && unshare -m true 2>/dev/null; then
    # glibc keeps the name of a file dlopen refused as no ELF object (38
    # bytes, rtld's strdup): its leak, not minica's, for LeakSanitizer.
    run env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        unshare -m sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' _ "$P11KIT" \
        "$MINICA" issue e1.internal --dir "$CA" --out "$T/e"
    expect_rc 1 "without libp11-kit the token key cannot be reached"
    expect_err "cannot load libp11-kit.so.0 .*install the p11-kit package" "it says which package to install"
else
    echo "ok - skipped: p11-kit missing (needs unshare -m to hide the library)"
fi

check_not "no leaf written by any refusal" test -e "$T/e/e1.internal.crt"
run "$MINICA" issue e2.internal --dir "$CA" --out "$T/e"
expect_ok "with minica.conf back, issuing works again"

# --- the PIN as a systemd credential; the root in the token too ----------------------
mkdir -m 700 "$T/creds"
cp "$PINF" "$T/creds/minica-pin"
export CREDENTIALS_DIRECTORY=$T/creds
run "$MINICA" init --dir "$T/ca3" --root-key "$TOK;object=root-3?$MP" \
    --intermediate-key "$TOK;object=int-3a?$MP" --pin-credential minica-pin
expect_ok "init with both keys in the token, the PIN a credential"
check "minica.conf names the credential" grep -qxF "pin_credential = minica-pin" "$T/ca3/minica.conf"
check "minica.conf names the root's token key" grep -qxF "root = $TOK;object=root-3?$MP" "$T/ca3/minica.conf"
check "no key file at all" test -z "$(find "$T/ca3" -name '*.key')"
run "$MINICA" issue both.internal --dir "$T/ca3" --out "$T/both"
expect_ok "issue with both keys in the token"
check "CRLs, the root's signed in the token" crls "$T/ca3"
check "the leaf verifies (openssl -crl_check_all, certtool)" chain_ok "$T/both/both.internal.crt" "$T/ca3"
run env -u CREDENTIALS_DIRECTORY "$MINICA" issue nocred.internal --dir "$T/ca3" --out "$T/both"
expect_rc 1 "without \$CREDENTIALS_DIRECTORY refused"
expect_err "pin_credential = minica-pin, but .CREDENTIALS_DIRECTORY is not set" "it says to run it under systemd"
run "$MINICA" ca status --dir "$T/ca3"
expect_out "key: +$TOK;object=root-3" "ca status: the root's key is in the token"
run "$MINICA" ca rotate --dir "$T/ca3"
expect_ok "ca rotate with the root key in the token (the new key a file)"
check "the new intermediate's key is a file" test -f "$T/ca3/intermediate.key"
check "CRLs after it" crls "$T/ca3"
unset CREDENTIALS_DIRECTORY

# --- rotate a key-file CA into the token -------------------------------------------
CA2=$T/ca2
run "$MINICA" init --dir "$CA2"
expect_ok "init a key-file CA"
run "$MINICA" issue old.internal --dir "$CA2" --out "$T/old"
expect_ok "issue from the key-file intermediate"
OLD_INT=$(serial_of "$CA2/intermediate.crt")
printf '\n[keys]\npin_file = %s\n' "$PINF" >>"$CA2/minica.conf"
run "$MINICA" ca rotate --dir "$CA2" --intermediate-key "$TOK;object=int-2?$MP"
expect_ok "ca rotate --intermediate-key pkcs11:..."
no_pin_in <<<"$OUT$ERR" && pass "rotate prints no PIN" || fail "rotate printed the PIN"
NEW_INT=$(serial_of "$CA2/intermediate.crt")
check "a new intermediate is active" test "$NEW_INT" != "$OLD_INT"
check "minica.conf names the new token key" grep -qxF "intermediate = $TOK;object=int-2?$MP" "$CA2/minica.conf"
check "the previous intermediate's key file is kept" test -f "$CA2/ca/intermediate-$OLD_INT.key"
check_not "no key file for the new intermediate" test -e "$CA2/ca/intermediate-$NEW_INT.key"
check_not "no top intermediate.key (the previous key's copy) left" test -e "$CA2/intermediate.key"
# A crash between the switch and the removal leaves the previous key's
# top copy: the next lifecycle step takes it away.
cp -p "$CA2/ca/intermediate-$OLD_INT.key" "$CA2/intermediate.key"
run "$MINICA" ca rotate --if-due --dir "$CA2"
expect_ok "a lifecycle step after such a crash (not due)"
check_not "it removed the stale top intermediate.key" test -e "$CA2/intermediate.key"
check "the previous key stays in ca/" test -f "$CA2/ca/intermediate-$OLD_INT.key"
run "$MINICA" ca status --dir "$CA2"
expect_out "key: +file ca/intermediate-$OLD_INT.key" "ca status: the previous intermediate's key is a file"
expect_out "key: +$TOK;object=int-2" "ca status: the new one's is in the token"
run "$MINICA" issue new.internal --dir "$CA2" --out "$T/new"
expect_ok "issue from the token after the rotation"
run "$MINICA" revoke "$(serial_of "$T/old/old.internal.crt")" --dir "$CA2"
expect_ok "revoke the previous intermediate's leaf"
check "CRLs of both intermediates (the previous one's signed by its key file)" crls "$CA2"
check "the CRL file holds the previous intermediate's CRL too" test "$(grep -c 'BEGIN X509 CRL' "$T/crls.pem")" -ge 3
check "the new leaf verifies (openssl -crl_check_all, certtool)" chain_ok "$T/new/new.internal.crt" "$CA2"
check "the old leaf is revoked by the previous intermediate's CRL" sh -c "openssl verify -crl_check_all \
    -CAfile '$CA2/root.crt' -CRLfile '$T/crls.pem' -untrusted '$CA2/chain.pem' '$T/old/old.internal.crt' 2>&1 | grep -q 'certificate revoked'"

# --- and from one token key to the next ----------------------------------------------
run "$MINICA" ca rotate --dir "$CA2" --intermediate-key "$TOK;object=int-3?$MP"
expect_ok "a second rotation, token to token"
check "int-3's line comes first in [keys]" sh -c \
    "grep '^intermediate = ' '$CA2/minica.conf' | head -n 1 | grep -qF 'object=int-3'"
check "int-2's line is kept" grep -qxF "intermediate = $TOK;object=int-2?$MP" "$CA2/minica.conf"
run "$MINICA" issue newer.internal --dir "$CA2" --out "$T/newer"
expect_ok "issue from int-3"
check "CRLs of the three intermediates, int-2's found by its public key" crls "$CA2"
check "the int-3 leaf verifies" chain_ok "$T/newer/newer.internal.crt" "$CA2"
check "the int-2 leaf still verifies" chain_ok "$T/new/new.internal.crt" "$CA2"
"$MINICA" log --dir "$CA2" >"$T/audit2.txt"
check "the second CA's audit log has no PIN" no_pin_in "$T/audit2.txt"

done_testing
