# PKCS#12 output for Java and Windows: issue --pkcs12 (local and remote)
# and export --pkcs12 write NAME.p12 that openssl, GnuTLS's certtool and
# Java 17's keytool open with the passphrase (one private key entry with
# its alias and chain), and openssl refuses without it; mode 0600 under
# umask 000; a passphrase file others can read refused before anything is
# issued; --csr, a missing passphrase and a key of another certificate
# refused.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
OUTD=$T/out
PASS="p12-$RANDOM$RANDOM-$(date +%N) phrase"
PASSF=$T/p12.pass
(umask 077 && printf '%s\n' "$PASS" >"$PASSF")

run "$MINICA" init --dir "$CA"
expect_ok "init the CA"

# p12_opens FILE CERT: openssl opens FILE with the passphrase, and its key
# is CERT's (the public keys compared).
p12_opens() {
    openssl pkcs12 -in "$1" -nodes -passin "file:$PASSF" -out "$T/p12.pem" 2>/dev/null || return 1
    local a b
    a=$(openssl pkey -in "$T/p12.pem" -pubout 2>/dev/null | sha256sum) || return 1
    b=$(openssl x509 -in "$2" -noout -pubkey | openssl pkey -pubin -pubout | sha256sum)
    [ -n "$a" ] && [ "$a" = "$b" ]
}
# certs_in FILE: how many certificates openssl finds in FILE.
certs_in() {
    openssl pkcs12 -in "$1" -nokeys -passin "file:$PASSF" 2>/dev/null | grep -c 'BEGIN CERTIFICATE'
}

# --- issue --pkcs12 ------------------------------------------------------------
run bash -c "umask 000 && exec '$MINICA' issue app.internal --dir '$CA' --out '$OUTD' --pkcs12 --passphrase-file '$PASSF'"
expect_ok "issue --pkcs12 with umask 000"
expect_out "pkcs12: +$OUTD/app.internal.p12" "issue names the p12 file"
P12=$OUTD/app.internal.p12
expect_mode "$P12" 600
expect_mode "$OUTD/app.internal.key" 600
check "the PEM files are written as usual" test -s "$OUTD/app.internal.crt" -a -s "$OUTD/app.internal.fullchain.crt"
check "openssl opens it, and its key is the certificate's" p12_opens "$P12" "$OUTD/app.internal.crt"
check "it holds the leaf and the intermediate" test "$(certs_in "$P12")" = 2
openssl pkcs12 -in "$P12" -info -noout -passin "file:$PASSF" >"$T/info.txt" 2>&1
check "MAC: HMAC-SHA256 at 100000 iterations" grep -q "MAC: sha256, Iteration 100000" "$T/info.txt"
check "both bags PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256, 100000 iterations" \
    test "$(grep -c 'PBES2, PBKDF2, AES-256-CBC, Iteration 100000, PRF hmacWithSHA256' "$T/info.txt")" = 2
openssl pkcs12 -in "$P12" -nodes -passin "file:$PASSF" 2>/dev/null >"$T/dump.txt"
check "friendlyName is NAME" grep -q "friendlyName: app.internal" "$T/dump.txt"
check "the key and the leaf share one localKeyID" test "$(grep 'localKeyID' "$T/dump.txt" | sort -u | wc -l)" = 1 -a "$(grep -c 'localKeyID' "$T/dump.txt")" = 2
check_not "openssl refuses a wrong passphrase" openssl pkcs12 -in "$P12" -noout -passin pass:wrong
check_not "openssl refuses no passphrase" openssl pkcs12 -in "$P12" -noout -passin pass:

# GnuTLS
if command -v certtool >/dev/null; then
    certtool --p12-info --inder --infile "$P12" --password "$PASS" >"$T/certtool.txt" 2>&1
    check "certtool --p12-info opens it" grep -q "BEGIN CERTIFICATE" "$T/certtool.txt"
    check "certtool: MAC SHA256" grep -q "MAC: SHA256" "$T/certtool.txt"
    # The key bag, decrypted by GnuTLS too: its public key is the leaf's.
    sed -n '/BEGIN ENCRYPTED PRIVATE KEY/,/END ENCRYPTED PRIVATE KEY/p' "$T/certtool.txt" >"$T/bag.key"
    want=$(openssl x509 -in "$OUTD/app.internal.crt" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
    check "certtool decrypts the key bag, and it is the leaf's key" \
        sh -c "certtool -k --pkcs8 --password '$PASS' --infile '$T/bag.key' | grep -qx '.*sha256:$want'"
    check "certtool: the friendly name" grep -q "Friendly name: app.internal" "$T/certtool.txt"
    check_not "certtool refuses a wrong passphrase" certtool --p12-info --inder --infile "$P12" --password wrong
else
    fail "certtool missing: install gnutls-bin (scripts/install-deps --test)"
fi

# Java 17
keytool_list() { keytool -list -v -storetype PKCS12 -keystore "$1" -storepass:file "$PASSF" 2>&1; }
if command -v keytool >/dev/null; then
    keytool_list "$P12" >"$T/keytool.txt"
    check "keytool: one entry" grep -q "Your keystore contains 1 entry" "$T/keytool.txt"
    check "keytool: the alias is NAME" grep -q "Alias name: app.internal" "$T/keytool.txt"
    check "keytool: a PrivateKeyEntry" grep -q "Entry type: PrivateKeyEntry" "$T/keytool.txt"
    len=$(sed -n 's/^Certificate chain length: //p' "$T/keytool.txt")
    check "keytool: chain length at least 2 (got ${len:-none})" test "${len:-0}" -ge 2
    check "keytool: the leaf is the certificate's owner" grep -q "Owner: CN=app.internal" "$T/keytool.txt"
    (umask 077 && printf 'wrong\n' >"$T/wrong.pass")
    check_not "keytool refuses a wrong passphrase" \
        keytool -list -storetype PKCS12 -keystore "$P12" -storepass:file "$T/wrong.pass"
else
    fail "keytool missing: install openjdk-17-jdk-headless (scripts/install-deps --test)"
fi

# --json names it
run "$MINICA" issue j.internal --dir "$CA" --out "$OUTD" --pkcs12 --passphrase-file "$PASSF" --json
expect_ok "issue --pkcs12 --json"
check "--json lists files.pkcs12" test "$(printf '%s' "$OUT" | jq -r .files.pkcs12)" = "$OUTD/j.internal.p12"
check "--json still lists the key" test "$(printf '%s' "$OUT" | jq -r .files.key)" = "$OUTD/j.internal.key"

# with --pem-bundle: both forms, one key
run "$MINICA" issue b.internal --dir "$CA" --out "$OUTD" --pem-bundle --pkcs12 --passphrase-file "$PASSF"
expect_ok "issue --pem-bundle --pkcs12"
check "the p12's key is the bundle's" p12_opens "$OUTD/b.internal.p12" "$OUTD/b.internal.pem"

# --- refusals before anything is issued ----------------------------------------
rows_before=$("$MINICA" list --dir "$CA" --json | jq length)
chmod 0644 "$PASSF"
run "$MINICA" issue bad.internal --dir "$CA" --out "$T/bad" --pkcs12 --passphrase-file "$PASSF"
expect_rc 1 "a passphrase file open to others refused"
expect_err "minica: issue: bad.internal: .*p12.pass is open to group or others \\(mode 0644\\); fix it with: chmod 600" "says which file and how to fix it"
check_not "nothing written: no bad.internal.p12" test -e "$T/bad/bad.internal.p12"
check_not "nothing written: no --out directory" test -e "$T/bad"
check "no inventory row: minica list has no bad.internal" test "$("$MINICA" list --dir "$CA" --json | jq length)" = "$rows_before"
check_not "minica list does not show bad.internal" sh -c "'$MINICA' list --dir '$CA' | grep -q bad.internal"
chmod 0600 "$PASSF"

ln -s "$PASSF" "$T/link.pass"
run "$MINICA" issue bad.internal --dir "$CA" --out "$T/bad" --pkcs12 --passphrase-file "$T/link.pass"
expect_rc 1 "a symlinked passphrase file refused"
expect_err "symbolic link" "says it is a symlink"
(umask 077 && : >"$T/empty.pass")
run "$MINICA" issue bad.internal --dir "$CA" --out "$T/bad" --pkcs12 --passphrase-file "$T/empty.pass"
expect_rc 1 "an empty passphrase refused"
expect_err "empty" "says it is empty"
run env -u CREDENTIALS_DIRECTORY "$MINICA" issue bad.internal --dir "$CA" --out "$T/bad" --pkcs12 --passphrase-credential p12
expect_rc 1 "a credential without \$CREDENTIALS_DIRECTORY refused"
expect_err "--passphrase-credential p12, but .CREDENTIALS_DIRECTORY is not set" "says what is missing"
check "still no row for bad.internal" test "$("$MINICA" list --dir "$CA" --json | jq length)" = "$rows_before"

"$MINICA" issue c.internal --dir "$CA" --out "$T/csrkey" >/dev/null
openssl req -new -key "$T/csrkey/c.internal.key" -subj /CN=c.internal -addext subjectAltName=DNS:c.internal -out "$T/c.csr" 2>/dev/null
run "$MINICA" issue c.internal --dir "$CA" --csr "$T/c.csr" --pkcs12 --passphrase-file "$PASSF" --out "$T/csr"
expect_rc 2 "--csr with --pkcs12 is a usage error"
expect_err "--pkcs12 and --csr exclude each other" "says why"
run "$MINICA" issue n.internal --dir "$CA" --pkcs12 --out "$T/n"
expect_rc 2 "--pkcs12 without a passphrase source is a usage error"
expect_err "needs --passphrase-file FILE or --passphrase-credential NAME \\(Java keystores" "says Java needs one"
run "$MINICA" issue n.internal --dir "$CA" --passphrase-file "$PASSF" --out "$T/n"
expect_rc 2 "--passphrase-file without --pkcs12 is a usage error"
run "$MINICA" issue n.internal --dir "$CA" --pkcs12 --passphrase-file "$PASSF" --passphrase-credential x --out "$T/n"
expect_rc 2 "both passphrase sources are a usage error"

# --- the passphrase from a systemd credential -----------------------------------
mkdir -m 700 "$T/creds"
(umask 077 && printf '%s\n' "$PASS" >"$T/creds/p12")
run env CREDENTIALS_DIRECTORY="$T/creds" "$MINICA" issue cred.internal --dir "$CA" --out "$OUTD" --pkcs12 --passphrase-credential p12
expect_ok "issue --pkcs12 --passphrase-credential"
check "that file opens with the passphrase" p12_opens "$OUTD/cred.internal.p12" "$OUTD/cred.internal.crt"

# --- export --pkcs12 ------------------------------------------------------------
run bash -c "umask 000 && exec '$MINICA' export --pkcs12 app.internal --certs '$OUTD' --out '$T/exp.p12' --passphrase-file '$PASSF' --name tomcat"
expect_ok "export --pkcs12 NAME --certs DIR with umask 000"
expect_mode "$T/exp.p12" 600
check "openssl opens the export, its key the certificate's" p12_opens "$T/exp.p12" "$OUTD/app.internal.crt"
check "the export holds the leaf and the intermediate" test "$(certs_in "$T/exp.p12")" = 2
if command -v keytool >/dev/null; then
    keytool_list "$T/exp.p12" >"$T/keytool2.txt"
    check "keytool: --name is the alias" grep -q "Alias name: tomcat" "$T/keytool2.txt"
    check "keytool: a PrivateKeyEntry again" grep -q "Entry type: PrivateKeyEntry" "$T/keytool2.txt"
fi
(cd "$OUTD" && "$MINICA" export --pkcs12 j.internal --out "$T/cwd.p12" --passphrase-file "$PASSF")
check "export without --certs reads the current directory" p12_opens "$T/cwd.p12" "$OUTD/j.internal.crt"
run "$MINICA" export --pkcs12 b.internal --certs "$OUTD" --out "$T/bundle.p12" --passphrase-file "$PASSF"
expect_ok "export from a PEM bundle"
check "the bundle's export opens" p12_opens "$T/bundle.p12" "$OUTD/b.internal.pem"
run "$MINICA" export --pkcs12 --cert "$OUTD/app.internal.crt" --key "$OUTD/app.internal.key" \
    --chain "$OUTD/app.internal.fullchain.crt" --out "$T/explicit.p12" --passphrase-file "$PASSF"
expect_ok "export --pkcs12 --cert --key --chain"
check "the explicit export opens, with two certificates" test "$(certs_in "$T/explicit.p12")" = 2

run "$MINICA" export --pkcs12 --cert "$OUTD/app.internal.crt" --key "$OUTD/j.internal.key" \
    --out "$T/mismatch.p12" --passphrase-file "$PASSF"
expect_rc 1 "export with a key of another certificate refused"
expect_err "minica: export: the key in .*j.internal.key does not match the certificate in .*app.internal.crt" "names both files"
check_not "nothing written for the mismatch" test -e "$T/mismatch.p12"
run "$MINICA" export --pkcs12 app.internal --certs "$OUTD" --passphrase-file "$PASSF"
expect_rc 2 "export --pkcs12 without --out is a usage error"
run "$MINICA" export --pkcs12 app.internal --certs "$OUTD" --out "$T/np.p12"
expect_rc 2 "export --pkcs12 without a passphrase is a usage error"
ln -s /dev/null "$T/devnull.p12"
run "$MINICA" export --pkcs12 app.internal --certs "$OUTD" --out "$T/devnull.p12" --passphrase-file "$PASSF"
expect_rc 1 "export onto a symlink to a device refused"
expect_err "devnull.p12 is not a regular file" "says it is not a regular file"
check "the symlink is left as it was" test -L "$T/devnull.p12"
run "$MINICA" export --pkcs12 missing.internal --certs "$OUTD" --out "$T/m.p12" --passphrase-file "$PASSF"
expect_rc 1 "export of a NAME with no files refused"
expect_err "no .*missing.internal.crt" "names what is missing"
run "$MINICA" export root --name x --dir "$CA"
expect_rc 2 "--name without --pkcs12 is a usage error"
run "$MINICA" export chain --dir "$CA"
check "export chain is unchanged: intermediate then root" test "$OUT" = "$(cat "$CA/intermediate.crt" "$CA/root.crt")"

# --- remote issue: the same delivery --------------------------------------------
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$PORT" --san ca.test --timeout 5s 2>"$T/serve.log" &
track_pid $!
check "serve answers" wait_health "$URL"
TOKEN=$("$MINICA" token web.internal --dir "$CA")
(umask 077 && printf '%s\n' "$TOKEN" >"$T/token")
chmod 0644 "$PASSF"
run "$MINICA" issue web.internal --ca-url "$URL" --root "$CA/root.crt" --token-file "$T/token" \
    --out "$T/remote" --pkcs12 --passphrase-file "$PASSF"
expect_rc 1 "remote: a passphrase file open to others refused"
chmod 0600 "$PASSF"
run "$MINICA" issue web.internal --ca-url "$URL" --root "$CA/root.crt" --token-file "$T/token" \
    --out "$T/remote" --pkcs12 --passphrase-file "$PASSF"
expect_ok "remote issue --pkcs12 (the token was not spent by the refusal)"
expect_mode "$T/remote/web.internal.p12" 600
check "the remote p12 opens, its key the certificate's" p12_opens "$T/remote/web.internal.p12" "$T/remote/web.internal.crt"
check "the remote p12 holds the chain" test "$(certs_in "$T/remote/web.internal.p12")" = 2

done_testing
