#!/bin/bash
# minica trust install|uninstall|check (issue 20): the root lands in the
# system store, the NSS databases and Java's cacerts, and real clients of
# each (curl and OpenSSL, headless Chromium, a Java application) then accept
# a minica certificate; a second install changes nothing; uninstall takes it
# all out and leaves the host's own CAs alone.
#
# The system store is the real one, changed by the real
# update-ca-certificates: the test runs in a private mount namespace where
# copies of /etc/ssl/certs, /usr/local/share/ca-certificates and
# /etc/ca-certificates.conf are mounted over the originals (and an empty
# hooks directory over /etc/ca-certificates/update.d, whose Java hook would
# run dpkg triggers), so nothing outside the test's temp dir changes.
: "${MINICA:?MINICA must point at the built minica binary}"
if [ "${MINICA_TRUST_NS:-}" != 1 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
        echo "FAIL - test_trust_store needs root and unshare (a private mount namespace)"
        exit 1
    fi
    exec unshare --mount --propagation private env MINICA_TRUST_NS=1 bash "$0" "$@"
fi
source "$SRCDIR/tests/integration/lib/common.sh"
source "$SRCDIR/tests/integration/lib/strict.sh"
unset JAVA_HOME

# ---- the namespace: copies over the stores ----
ns=$T/ns
mkdir -p "$ns/local" "$ns/certs" "$ns/hooks"
cp -a /etc/ssl/certs/. "$ns/certs/"
cp -a /usr/local/share/ca-certificates/. "$ns/local/"
cp /etc/ca-certificates.conf "$ns/ca-certificates.conf"
mount --bind "$ns/local" /usr/local/share/ca-certificates &&
    mount --bind "$ns/certs" /etc/ssl/certs &&
    mount --bind "$ns/ca-certificates.conf" /etc/ca-certificates.conf &&
    mount --bind "$ns/hooks" /etc/ca-certificates/update.d || {
    echo "Bail out! cannot mount the store copies"
    exit 1
}
touch "$ns/local/.inside" "$ns/certs/.inside"
if [ ! -e /usr/local/share/ca-certificates/.inside ] || [ ! -e /etc/ssl/certs/.inside ]; then
    echo "Bail out! the store copies are not where the stores are: refusing to touch the host"
    exit 1
fi
rm -f "$ns/local/.inside" "$ns/certs/.inside"
CACERTS=/etc/ssl/certs/java/cacerts
own_cas=$(grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt)

# ---- a CA, a server certificate for 127.0.0.1, and a server ----
CA=$T/ca
"$MINICA" init --dir "$CA" >/dev/null || exit 1
"$MINICA" issue trust.test --san 127.0.0.1 --dir "$CA" --out "$T/out" >/dev/null || exit 1
"$MINICA" export root --dir "$CA" --out "$T/root.crt" || exit 1
fp=$(openssl x509 -in "$T/root.crt" -outform DER | sha256sum | cut -c1-16)
NICK=minica-$fp
port=$(free_port)
# -cert_chain: s_server sends only the first certificate of -cert.
openssl s_server -quiet -accept "127.0.0.1:$port" -cert "$T/out/trust.test.crt" \
    -cert_chain "$T/out/trust.test.fullchain.crt" -key "$T/out/trust.test.key" -www \
    >/dev/null 2>&1 &
track_pid $!
for _ in $(seq 50); do ss -Htln "sport = :$port" | grep -q . && break; sleep 0.1; done
URL=https://127.0.0.1:$port/

nss_fresh home >/dev/null
NSSDB=$HOME/.pki/nssdb
curl_rc() { curl -s -o /dev/null --max-time 10 "$URL"; echo $?; }
java_says() { java "$SRCDIR/tests/integration/verifiers/TlsFetch.java" "$URL" >/dev/null 2>>"$T/java.err"; echo $?; }
trust() { run "$MINICA" trust "$@" --dir "$CA"; }
digest() { sha256sum "$@" | cut -d' ' -f1 | tr '\n' ' '; }

# ---- before ----
check "before: curl refuses the server (exit 60)" test "$(curl_rc)" = 60
check "before: a Java application refuses it" test "$(java_says)" = 1
expect_browse "before: Chromium refuses it" net::ERR_CERT_AUTHORITY_INVALID 127.0.0.1 "$port"
trust check
expect_rc 1 "check: not trusted yet"
check "in any of the three stores" test "$(grep -c 'not trusted' <<<"$OUT")" = 3

# ---- install ----
umask 077
trust install
umask 022
expect_ok "install"
expect_out "^system: added CN=minica Root CA as /usr/local/share/ca-certificates/$NICK.crt" \
    "the system store says what it added"
expect_out "^nss: added CN=minica Root CA to sql:$NSSDB \\(as $NICK\\)" "so does NSS"
expect_out "^java: added CN=minica Root CA to $CACERTS \\(as $NICK\\)" "and Java"
expect_mode "/usr/local/share/ca-certificates/$NICK.crt" 644
check "the installed file is the root" cmp -s "/usr/local/share/ca-certificates/$NICK.crt" "$T/root.crt"
check "curl accepts the server" test "$(curl_rc)" = 0
check "OpenSSL finds the root by hash in /etc/ssl/certs" \
    openssl verify -CApath /etc/ssl/certs -untrusted "$T/out/trust.test.fullchain.crt" \
    "$T/out/trust.test.crt"
check "the host's own CAs are all still in the bundle" \
    test "$(grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt)" = $((own_cas + 1))
check "NSS trusts it as a CA for TLS servers (C,,)" \
    grep -Eq "^$NICK +C,, *$" <<<"$(certutil -L -d "sql:$NSSDB")"
expect_browse "Chromium accepts the server" ok 127.0.0.1 "$port"
check "keytool lists it in cacerts" \
    keytool -list -keystore "$CACERTS" -storepass changeit -alias "$NICK"
check "a Java application accepts the server" test "$(java_says)" = 0
check "no temp file is left beside cacerts" test "$(ls /etc/ssl/certs/java)" = cacerts

# ---- idempotent ----
before=$(stat -c '%i %Y' /etc/ssl/certs/ca-certificates.crt)$(digest "$CACERTS" "$NSSDB/cert9.db")
trust install
expect_ok "a second install"
check "changes nothing and says so" test "$(grep -c 'already trusted' <<<"$OUT")" = 3
check_not "adds nothing" grep -q added <<<"$OUT"
after=$(stat -c '%i %Y' /etc/ssl/certs/ca-certificates.crt)$(digest "$CACERTS" "$NSSDB/cert9.db")
check "the bundle, cacerts and the NSS database are untouched" test "$before" = "$after"
trust check
expect_ok "check: trusted everywhere"

# A Firefox profile appears: only it is changed.
ff=$HOME/.mozilla/firefox/abcd1234.default-release
mkdir -p "$ff" && certutil -N -d "sql:$ff" --empty-password
trust install --store nss
expect_ok "install after a Firefox profile appeared"
expect_out "^nss: added CN=minica Root CA to sql:$ff " "the profile gets the root"
expect_out "^nss: CN=minica Root CA already trusted in sql:$NSSDB$" "Chromium's is left alone"

# ---- uninstall ----
trust uninstall
expect_ok "uninstall"
check "removes it from every store" test "$(grep -c '^[a-z]*: removed' <<<"$OUT")" = 4
check "curl refuses the server again" test "$(curl_rc)" = 60
check "so does Java" test "$(java_says)" = 1
expect_browse "and Chromium" net::ERR_CERT_AUTHORITY_INVALID 127.0.0.1 "$port"
check "nothing of it is left in /etc/ssl/certs, not even a dangling link" \
    test -z "$(find /etc/ssl/certs -maxdepth 1 \( -name "$NICK*" -o -xtype l \))"
check "the host's own CAs are all still in the bundle" \
    test "$(grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt)" = "$own_cas"
trust uninstall
expect_ok "a second uninstall"
check_not "removes nothing" grep -q removed <<<"$OUT"
check "and says it was not there" test "$(grep -c 'was not' <<<"$OUT")" = 4

# ---- the roots come from a file on a host without the CA ----
cp "$CACERTS" "$T/cacerts"
run "$MINICA" trust install --root "$T/root.crt" --store java --java-cacerts "$T/cacerts"
expect_ok "--root FILE with --java-cacerts"
check "that keystore has it" keytool -list -keystore "$T/cacerts" -storepass changeit -alias "$NICK"
check_not "the default one does not" \
    keytool -list -keystore "$CACERTS" -storepass changeit -alias "$NICK"

# ---- refusals ----
run "$MINICA" trust install --root "$T/out/trust.test.crt"
expect_rc 1 "a leaf is refused"
expect_err "^minica: trust: .*trust.test.crt: certificate 1 \\(CN=trust.test\\) is not a CA certificate" \
    "as not a CA"
"$MINICA" export intermediate --dir "$CA" --out "$T/intermediate.crt"
run "$MINICA" trust install --root "$T/intermediate.crt"
expect_rc 1 "an intermediate is refused"
expect_err "is not a root \\(it is not self-signed\\)" "as not self-signed"
cp "$T/root.crt" "$T/writable.crt" && chmod 664 "$T/writable.crt"
run "$MINICA" trust install --root "$T/writable.crt"
expect_rc 1 "a root file others may write is refused"
check "and nothing was installed" test ! -e "/usr/local/share/ca-certificates/$NICK.crt"
run "$MINICA" trust install --store bogus --dir "$CA"
expect_rc 2 "an unknown store is a usage error"
expect_err "unknown store 'bogus'" "named"
run "$MINICA" trust frob --dir "$CA"
expect_rc 2 "an unknown action is a usage error"
run env HOME="$T/empty" "$MINICA" trust install --store nss --dir "$CA"
expect_rc 1 "--store nss with no NSS database is a failure"
expect_err "no NSS database under $T/empty" "that names where it looked"
run env HOME="$T/empty" "$MINICA" trust install --dir "$CA"
expect_out "^nss: skipped: no NSS database" "without --store it is a skip"
"$MINICA" trust uninstall --dir "$CA" >/dev/null
other=$T/otherdb
mkdir -p "$other" && certutil -N -d "sql:$other" --empty-password && chown -R nobody "$other"
run "$MINICA" trust install --store nss --nssdb "$other" --dir "$CA"
expect_rc 1 "a database another user owns is refused"
expect_err "belongs to uid $(id -u nobody), not to this user" "naming its owner"
check_not "and is not changed" grep -q "$NICK" <<<"$(certutil -L -d "sql:$other")"
echo wrong >"$T/storepass" && chmod 600 "$T/storepass"
sum=$(digest "$T/cacerts")
"$MINICA" trust uninstall --root "$T/root.crt" --store java --java-cacerts "$T/cacerts" >/dev/null
sum=$(digest "$T/cacerts")
run "$MINICA" trust install --root "$T/root.crt" --store java --java-cacerts "$T/cacerts" \
    --java-storepass-file "$T/storepass"
expect_rc 1 "a wrong keystore password fails"
expect_err "password was incorrect" "with keytool's reason"
check "and leaves the keystore as it was" test "$(digest "$T/cacerts")" = "$sum"
chmod 711 "$T"
run setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$MINICA" trust install --root "$T/root.crt" --store system
chmod 700 "$T"
expect_rc 1 "the system store refuses a user who is not root"
expect_err "needs root: run it with sudo" "and says sudo"

done_testing
