# Encrypted CA key files (issue 18): init --passphrase-file writes [keys]
# and PKCS#8 keys (PBES2, AES-256-CBC) that openssl opens with the
# passphrase; issue, crl, serve enrollment and ca rotate work with them;
# openssl's own encrypted keys are read, other schemes refused by name;
# the passphrase file's mode, a wrong passphrase, ca encrypt-keys, systemd
# credentials, and the passphrase never in argv, environ or the logs.
source "$SRCDIR/tests/integration/lib/common.sh"

PASS="pass-$RANDOM$RANDOM-$(date +%N)-phrase"
PASSF=$T/ca.pass
(umask 077 && printf '%s\n' "$PASS" >"$PASSF")
CA=$T/ca

is_encrypted() { [ "$(head -n 1 "$1")" = "-----BEGIN ENCRYPTED PRIVATE KEY-----" ]; }
# opens KEY CERT: openssl decrypts KEY with the passphrase and it is CERT's.
opens() {
    local a b
    a=$(openssl pkey -in "$1" -passin "file:$PASSF" -pubout 2>/dev/null | sha256sum) || return 1
    b=$(openssl x509 -in "$2" -noout -pubkey | sha256sum)
    [ -n "$a" ] && [ "$a" = "$b" ]
}
# The state directory's files and their hashes, to see that nothing changed.
snapshot() { (cd "$1" && find . -type f ! -name '*-wal' ! -name '*-shm' -print0 | sort -z | xargs -0 sha256sum); }

# --- init ---------------------------------------------------------------------
run "$MINICA" init --dir "$CA" --passphrase-file ca.pass
expect_rc 2 "init: a relative passphrase file refused"
expect_err "absolute path" "init: says the path must be absolute"
check_not "init: nothing created after the refusal" test -e "$CA/root.key"

(umask 077 && printf 'x\n' >"$T/other.pass")
run "$MINICA" init --dir "$CA" --passphrase-file "$PASSF" --passphrase-credential c
expect_rc 2 "init: both passphrase sources refused"

run "$MINICA" init --dir "$CA" --passphrase-file "$PASSF"
expect_ok "init --passphrase-file"
expect_out "keys: +encrypted" "init says the keys are encrypted"
check "minica.conf names the passphrase file in [keys]" grep -qx "passphrase_file = $PASSF" "$CA/minica.conf"
for k in root intermediate; do
    check "$k.key is an encrypted PKCS#8 key" is_encrypted "$CA/$k.key"
    expect_mode "$CA/$k.key" 600
    check "openssl opens $k.key with the passphrase and it is $k.crt's" opens "$CA/$k.key" "$CA/$k.crt"
    check_not "$k.key holds no plaintext key" grep -Eq "BEGIN (EC |RSA )?PRIVATE KEY" "$CA/$k.key"
done
run "$MINICA" ca status --dir "$CA"
expect_out "key: +encrypted file intermediate.key \(0600\)" "ca status says the intermediate's key file is encrypted"
expect_out "key: +encrypted file root.key \(0600\)" "and the root's"
openssl asn1parse -in "$CA/intermediate.key" >"$T/asn1.txt"
for what in PBES2 PBKDF2 hmacWithSHA256 aes-256-cbc; do
    check "the key file's scheme names $what (openssl asn1parse)" grep -q "$what" "$T/asn1.txt"
done
check "16-byte salt and IV" test "$(grep -c 'OCTET STRING.*\[HEX DUMP\]:[0-9A-F]\{32\}$' "$T/asn1.txt")" = 2
check_not "openssl refuses a wrong passphrase" openssl pkey -in "$CA/root.key" -passin pass:wrong -noout

# --- issue and crl ------------------------------------------------------------------
run "$MINICA" issue www.internal --dir "$CA" --out "$T/out"
expect_ok "issue with the encrypted intermediate key"
check "the leaf verifies under the root" openssl verify -CAfile "$CA/root.crt" -untrusted "$CA/intermediate.crt" "$T/out/www.internal.crt"
run "$MINICA" crl --dir "$CA" --out "$T/crl.pem"
expect_ok "crl with the encrypted intermediate key"
check "the CRL verifies" openssl crl -in "$T/crl.pem" -CAfile <(cat "$CA/intermediate.crt" "$CA/root.crt") -noout
run "$MINICA" crl --root --dir "$CA" --out "$T/root-crl.pem"
expect_ok "crl --root with the encrypted root key"
check "the root's CRL verifies" openssl crl -in "$T/root-crl.pem" -CAfile "$CA/root.crt" -noout

# --- the passphrase file --------------------------------------------------------
for mode in 0640 0604 0644 0660; do
    chmod "$mode" "$PASSF"
    run "$MINICA" issue m.internal --dir "$CA" --out "$T/m"
    expect_rc 1 "passphrase file mode $mode refused"
    expect_err "ca.pass is open to group or others \\(mode $mode\\); fix it with: chmod 600" "mode $mode: says how to fix it"
done
chmod 0400 "$PASSF"
run "$MINICA" issue r.internal --dir "$CA" --out "$T/r"
expect_ok "a 0400 passphrase file is fine"
chmod 0600 "$PASSF"
ln -s "$PASSF" "$T/link.pass"
sed -i "s|^passphrase_file = .*|passphrase_file = $T/link.pass|" "$CA/minica.conf"
run "$MINICA" issue l.internal --dir "$CA" --out "$T/l"
expect_rc 1 "a symlinked passphrase file refused"
expect_err "symbolic link" "symlink: says so"
sed -i "s|^passphrase_file = .*|passphrase_file = $T/missing.pass|" "$CA/minica.conf"
run "$MINICA" issue l.internal --dir "$CA" --out "$T/l"
expect_rc 1 "a missing passphrase file refused"
expect_err "missing.pass" "missing file: named"
sed -i "s|^passphrase_file = .*|passphrase_file = $PASSF|" "$CA/minica.conf"

# No source at all: the refusal says what to set.
cp "$CA/minica.conf" "$T/conf.saved"
sed -i '/^\[keys\]/,$d' "$CA/minica.conf"
run "$MINICA" issue n.internal --dir "$CA" --out "$T/n"
expect_rc 1 "an encrypted key without [keys] refused"
expect_err "intermediate.key is encrypted: set \\[keys\\] passphrase_file or passphrase_credential in .*minica.conf" "no source: says what to set"
cp "$T/conf.saved" "$CA/minica.conf"
printf '[keys]\nfoo = bar\n' >>"$CA/minica.conf"
run "$MINICA" issue n.internal --dir "$CA" --out "$T/n"
expect_rc 1 "an unknown key in [keys] refused"
expect_err "unknown key 'foo' in \\[keys\\]" "unknown key: named"
cp "$T/conf.saved" "$CA/minica.conf"

# A wrong passphrase: one line, exit 1, nothing changed.
before=$(snapshot "$CA")
(umask 077 && printf 'not-the-passphrase\n' >"$PASSF")
run "$MINICA" issue w.internal --dir "$CA" --out "$T/w"
expect_rc 1 "wrong passphrase refused"
expect_err "wrong passphrase for .*intermediate.key" "wrong passphrase: says so, naming the file"
run "$MINICA" ca rotate --dir "$CA"
expect_rc 1 "rotate with a wrong passphrase refused"
check "nothing in the state directory changed" test "$before" = "$(snapshot "$CA")"
check_not "no leaf written" test -e "$T/w/w.internal.crt"
(umask 077 && printf '%s\n' "$PASS" >"$PASSF")

# --- serve: enrollment, and where the passphrase must never be ---------------------
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" --san ca.test --timeout 5s 2>"$T/serve.log" &
SERVE_PID=$!
track_pid "$SERVE_PID"
check "serve starts with the encrypted key" wait_health "$URL"
TOKEN=$("$MINICA" token web1.internal --san 127.0.0.1 --dir "$CA")
(umask 077 && printf '%s\n' "$TOKEN" >"$T/token")
run "$MINICA" issue web1.internal --san 127.0.0.1 --ca-url "$URL" --root "$CA/root.crt" \
    --token-file "$T/token" --out "$T/vm"
expect_ok "enrollment over serve with a token"
check "the enrolled leaf verifies" openssl verify -CAfile "$CA/root.crt" -untrusted "$CA/intermediate.crt" "$T/vm/web1.internal.crt"
check_not "the passphrase is not in serve's /proc/PID/cmdline" grep -qaF -- "$PASS" "/proc/$SERVE_PID/cmdline"
check_not "the passphrase is not in serve's /proc/PID/environ" grep -qaF -- "$PASS" "/proc/$SERVE_PID/environ"
check_not "serve's argv does not name the passphrase file either" grep -qaF -- "ca.pass" "/proc/$SERVE_PID/cmdline"
kill "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
"$MINICA" log --dir "$CA" >"$T/audit.txt"
check "the audit log has the enrollment" grep -q web1.internal "$T/audit.txt"
check_not "the passphrase is not in the audit log" grep -qF -- "$PASS" "$T/audit.txt"
check_not "the passphrase is not in serve's log" grep -qF -- "$PASS" "$T/serve.log"
check_not "the passphrase is not in the inventory" grep -qaF -- "$PASS" "$CA/minica.db"

# --- ca rotate writes the new key encrypted -----------------------------------
run "$MINICA" ca rotate --dir "$CA"
expect_ok "ca rotate"
check "the new intermediate.key is encrypted" is_encrypted "$CA/intermediate.key"
check "openssl opens the new intermediate.key: it is the new intermediate.crt's" opens "$CA/intermediate.key" "$CA/intermediate.crt"
n=0
for k in "$CA"/ca/*.key; do
    n=$((n + 1))
    check "archived $(basename "$k") is encrypted" is_encrypted "$k"
    expect_mode "$k" 600
done
check "the archive holds the keys (root, two intermediates)" test "$n" -ge 3
run "$MINICA" issue after.internal --dir "$CA" --out "$T/after"
expect_ok "issue from the rotated intermediate"
check "it verifies" openssl verify -CAfile "$CA/root.crt" -untrusted "$CA/intermediate.crt" "$T/after/after.internal.crt"

# --- keys openssl encrypted: read; other schemes: refused by name ------------------
openssl pkey -in "$CA/intermediate.key" -passin "file:$PASSF" -out "$T/plain.pem"
reencrypt() { # reencrypt OPENSSL-PKCS8-ARGS...: intermediate.key as openssl writes it
    (umask 077 && openssl pkcs8 -topk8 -in "$T/plain.pem" -passout "file:$PASSF" "$@" -out "$CA/intermediate.key")
}
cp "$CA/intermediate.key" "$T/ours.key"
reencrypt -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 100000
run "$MINICA" issue o1.internal --dir "$CA" --out "$T/o1"
expect_ok "a key openssl encrypted (aes-256-cbc, hmacWithSHA256, 100000 iterations) is read"
reencrypt -v2 aes-256-cbc
run "$MINICA" issue o2.internal --dir "$CA" --out "$T/o2"
expect_ok "openssl's defaults for -v2 aes-256-cbc are read"
reencrypt -v2 des3 -v2prf hmacWithSHA256
run "$MINICA" issue o3.internal --dir "$CA" --out "$T/o3"
expect_rc 1 "des-ede3-cbc refused"
expect_err "des-ede3-cbc.*openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256" "des-ede3-cbc: named, with the command to re-encrypt"
reencrypt -scrypt
run "$MINICA" issue o4.internal --dir "$CA" --out "$T/o4"
expect_rc 1 "scrypt refused"
expect_err "scrypt.*openssl pkcs8 -topk8" "scrypt: named, with the command"
reencrypt -v1 PBE-SHA1-3DES
run "$MINICA" issue o5.internal --dir "$CA" --out "$T/o5"
expect_rc 1 "PKCS#12 PBE (openssl -v1) refused"
expect_err "pbeWithSHAAnd3-KeyTripleDES-CBC.*openssl pkcs8 -topk8" "-v1 PBE-SHA1-3DES: named"
reencrypt -v2 aes-256-cbc -v2prf hmacWithSHA1
run "$MINICA" issue o6.internal --dir "$CA" --out "$T/o6"
expect_rc 1 "PBKDF2 with hmacWithSHA1 refused"
expect_err "hmacWithSHA1" "hmacWithSHA1: named"
cp "$T/ours.key" "$CA/intermediate.key"
rm -f "$T/plain.pem"

# --- ca encrypt-keys ----------------------------------------------------------------
P=$T/plain
"$MINICA" init --dir "$P" >/dev/null
"$MINICA" ca rotate --dir "$P" >/dev/null
run "$MINICA" ca encrypt-keys --dir "$P"
expect_rc 1 "encrypt-keys without [keys] refused"
expect_err "no passphrase source: set \\[keys\\] passphrase_file or passphrase_credential" "encrypt-keys: says what to set"
check_not "nothing encrypted" is_encrypted "$P/intermediate.key"
printf '\n[keys]\npassphrase_file = %s\n' "$PASSF" >>"$P/minica.conf"
"$MINICA" issue before.internal --dir "$P" --out "$T/pb" >/dev/null
check "plain keys still work with [keys] set" test -s "$T/pb/before.internal.crt"
run "$MINICA" ca encrypt-keys --dir "$P"
expect_ok "ca encrypt-keys"
expect_out "Encrypted [0-9]+ CA key files \\(0 already encrypted\\)" "encrypt-keys counts them"
for k in "$P"/root.key "$P"/intermediate.key "$P"/ca/*.key; do
    check "$(basename "$k") encrypted" is_encrypted "$k"
    expect_mode "$k" 600
done
check "openssl opens the encrypted intermediate.key: intermediate.crt's" opens "$P/intermediate.key" "$P/intermediate.crt"
run "$MINICA" issue enc.internal --dir "$P" --out "$T/pe"
expect_ok "issue after encrypt-keys"
run "$MINICA" ca encrypt-keys --dir "$P"
expect_ok "encrypt-keys again"
expect_out "Encrypted 0 CA key files \\([0-9]+ already encrypted\\)" "the second run finds them encrypted"
before=$(snapshot "$P")
sed -i "s|^passphrase_file = .*|passphrase_file = $T/other.pass|" "$P/minica.conf"
run "$MINICA" ca encrypt-keys --dir "$P"
expect_rc 1 "encrypt-keys with another passphrase than the files' refused"
expect_err "wrong passphrase for" "another passphrase: says so"
sed -i "s|^passphrase_file = .*|passphrase_file = $PASSF|" "$P/minica.conf"
check "nothing changed after the refusal" test "$before" = "$(snapshot "$P")"

# --- systemd credentials -------------------------------------------------------------
CRED=$T/creds
mkdir -m 700 "$CRED"
(umask 077 && printf '%s\n' "$PASS" >"$CRED/minica-pass")
chmod 0400 "$CRED/minica-pass"
S=$T/sd
CREDENTIALS_DIRECTORY=$CRED run "$MINICA" init --dir "$S" --passphrase-credential minica-pass
expect_ok "init --passphrase-credential"
check "minica.conf names the credential" grep -qx "passphrase_credential = minica-pass" "$S/minica.conf"
check "openssl opens its intermediate.key with the credential's passphrase" opens "$S/intermediate.key" "$S/intermediate.crt"
CREDENTIALS_DIRECTORY=$CRED run "$MINICA" issue cred.internal --dir "$S" --out "$T/sc"
expect_ok "issue with the passphrase from \$CREDENTIALS_DIRECTORY"
run "$MINICA" issue cred.internal --dir "$S" --out "$T/sc"
expect_rc 1 "without \$CREDENTIALS_DIRECTORY refused"
expect_err "CREDENTIALS_DIRECTORY is not set.*LoadCredentialEncrypted=minica-pass" "says to run it under systemd"
chmod 0440 "$CRED/minica-pass"
CREDENTIALS_DIRECTORY=$CRED run "$MINICA" issue cred2.internal --dir "$S" --out "$T/sc"
expect_rc 1 "a group-readable credential refused"
run "$MINICA" init --dir "$T/bad" --passphrase-credential ../x
expect_rc 2 "a credential name with a / refused"

done_testing
