#!/bin/bash
# minica init through the real binary: the CA files, their modes under
# umask 000, the root/intermediate profile as OpenSSL reads it, refusal to
# overwrite, bad options (exit 2, nothing created), and the help texts.
# Issuing leaves is test_issuance.sh.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
sha_all() { (cd "$1" && sha256sum -- * 2>/dev/null); }

# --- a CA under umask 000 ----------------------------------------------------
run bash -c 'umask 000 && exec "$@"' - "$MINICA" init --dir "$CA"
expect_ok "init under umask 000"
expect_mode "$CA" 700
expect_mode "$CA/root.key" 600
expect_mode "$CA/intermediate.key" 600
expect_mode "$CA/minica.db" 600
for f in root.crt intermediate.crt minica.conf; do
    m=$(mode_of "$CA/$f")
    if [ $((0$m & 022)) -eq 0 ]; then pass "$f is not group/world writable ($m)"; else fail "$f has mode $m"; fi
done
expect_out "$CA/root.crt" "init prints where the CA is"

# --- the profile, read by OpenSSL -------------------------------------------
root_text=$(openssl x509 -in "$CA/root.crt" -noout -text)
int_text=$(openssl x509 -in "$CA/intermediate.crt" -noout -text)
ext() { # ext TEXT HEADER: the line after "HEADER" in openssl -text output
    printf '%s\n' "$1" | grep -A1 -- "$2" | tail -1 | sed 's/^ *//'
}
check "root: basicConstraints critical" grep -q "X509v3 Basic Constraints: critical" <<<"$root_text"
[ "$(ext "$root_text" "Basic Constraints")" = "CA:TRUE" ] && pass "root: CA:TRUE without pathlen" ||
    fail "root: basicConstraints is '$(ext "$root_text" "Basic Constraints")'"
check "root: keyUsage critical" grep -q "X509v3 Key Usage: critical" <<<"$root_text"
[ "$(ext "$root_text" "Key Usage")" = "Certificate Sign, CRL Sign" ] && pass "root: keyCertSign + cRLSign" ||
    fail "root: keyUsage is '$(ext "$root_text" "Key Usage")'"
check "root: SKI" grep -q "Subject Key Identifier" <<<"$root_text"
check "root: self-signed, subject CN" grep -q "Subject: CN *= *minica Root CA" <<<"$root_text"
check "intermediate: basicConstraints critical" grep -q "X509v3 Basic Constraints: critical" <<<"$int_text"
[ "$(ext "$int_text" "Basic Constraints")" = "CA:TRUE, pathlen:0" ] && pass "intermediate: CA:TRUE pathlen:0" ||
    fail "intermediate: basicConstraints is '$(ext "$int_text" "Basic Constraints")'"
[ "$(ext "$int_text" "Key Usage")" = "Certificate Sign, CRL Sign" ] && pass "intermediate: keyCertSign + cRLSign" ||
    fail "intermediate: keyUsage is '$(ext "$int_text" "Key Usage")'"
check "intermediate: SKI" grep -q "Subject Key Identifier" <<<"$int_text"
check "intermediate: AKI" grep -q "Authority Key Identifier" <<<"$int_text"
check "intermediate: issued by the root" grep -q "Issuer: CN *= *minica Root CA" <<<"$int_text"
check "intermediate: no name constraints without --permit-*" bash -c "! grep -q 'Name Constraints' <<<\"\$0\"" "$int_text"
check "root is self-signed and valid" openssl verify -CAfile "$CA/root.crt" "$CA/root.crt"
check "intermediate verifies against the root" openssl verify -CAfile "$CA/root.crt" "$CA/intermediate.crt"
check "GnuTLS accepts the intermediate" certtool --verify --load-ca-certificate "$CA/root.crt" --infile "$CA/intermediate.crt"
check "root.key matches root.crt" key_matches "$CA/root.key" "$CA/root.crt"
check "intermediate.key matches intermediate.crt" key_matches "$CA/intermediate.key" "$CA/intermediate.crt"
check "default key type is ec-p256" grep -q "prime256v1\|P-256" <<<"$root_text"
# Default lifetimes: root 10y, intermediate 3y (365-day years), backdated 60s.
span() {
    local nb na
    nb=$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)
    na=$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)
    echo $(($(date -u -d "$na" +%s) - $(date -u -d "$nb" +%s)))
}
[ "$(span "$CA/root.crt")" -eq $((10 * 365 * 86400 + 60)) ] && pass "root lives 10y" || fail "root lives $(span "$CA/root.crt")s"
[ "$(span "$CA/intermediate.crt")" -eq $((3 * 365 * 86400 + 60)) ] && pass "intermediate lives 3y" ||
    fail "intermediate lives $(span "$CA/intermediate.crt")s"

# --- refuses to overwrite ----------------------------------------------------
before=$(sha_all "$CA")
run "$MINICA" init --dir "$CA"
expect_rc 1 "init over an existing CA"
expect_err "^minica: init: .*refusing to overwrite" "init over an existing CA: message"
[ "$(sha_all "$CA")" = "$before" ] && pass "existing CA untouched" || fail "existing CA changed"
run "$MINICA" init --dir "$CA" --key-type rsa-2048 --name other
expect_rc 1 "init over an existing CA with other options"
[ "$(sha_all "$CA")" = "$before" ] && pass "existing CA untouched" || fail "existing CA changed"
# A partial CA (one file left behind) is also refused.
mkdir -p "$T/partial" && echo junk >"$T/partial/intermediate.key"
run "$MINICA" init --dir "$T/partial"
expect_rc 1 "init over a partial CA"
[ "$(cat "$T/partial/intermediate.key")" = junk ] && pass "partial CA file untouched" || fail "partial CA file changed"

# --- $MINICA_DIR, --name, --key-type ----------------------------------------
run env MINICA_DIR="$T/envca" "$MINICA" init --name "Acme Test" --key-type ec-p384 --root-ttl 5y --intermediate-ttl 1y
expect_ok "init with \$MINICA_DIR"
check "\$MINICA_DIR used" test -f "$T/envca/root.crt"
check "--name sets the root CN" bash -c "openssl x509 -in '$T/envca/root.crt' -noout -subject | grep -q 'Acme Test Root CA'"
check "--name sets the intermediate CN" bash -c "openssl x509 -in '$T/envca/intermediate.crt' -noout -subject | grep -q 'Acme Test Intermediate CA'"
check "--key-type ec-p384" bash -c "openssl x509 -in '$T/envca/root.crt' -noout -text | grep -q 'secp384r1\|P-384'"
check "P-384 CA signs with SHA-384" bash -c "openssl x509 -in '$T/envca/intermediate.crt' -noout -text | grep -q 'ecdsa-with-SHA384'"
[ "$(span "$T/envca/root.crt")" -eq $((5 * 365 * 86400 + 60)) ] && pass "--root-ttl 5y" || fail "--root-ttl: $(span "$T/envca/root.crt")s"
[ "$(span "$T/envca/intermediate.crt")" -eq $((365 * 86400 + 60)) ] && pass "--intermediate-ttl 1y" ||
    fail "--intermediate-ttl: $(span "$T/envca/intermediate.crt")s"
check "P-384 chain verifies" openssl verify -CAfile "$T/envca/root.crt" "$T/envca/intermediate.crt"

# --- --permit-* becomes critical name constraints -----------------------------
run "$MINICA" init --dir "$T/constrained" --permit-dns internal.svc --permit-ip 10.0.0.0/8
expect_ok "init with --permit-dns and --permit-ip"
nc_text=$(openssl x509 -in "$T/constrained/intermediate.crt" -noout -text)
check "name constraints are critical" grep -q "X509v3 Name Constraints: critical" <<<"$nc_text"
check "permitted DNS suffix" grep -q "DNS:internal.svc" <<<"$nc_text"
check "permitted IP range" grep -q "IP:10.0.0.0/255.0.0.0" <<<"$nc_text"

# --- bad options: exit 2, one line, nothing created ---------------------------
bad_init() { # bad_init REGEX description args...
    local re=$1 what=$2
    shift 2
    rm -rf "$T/bad"
    run "$MINICA" init --dir "$T/bad" "$@"
    expect_rc 2 "$what"
    expect_err "^minica: init: .*$re" "$what: message"
    if [ -e "$T/bad" ]; then fail "$what: $T/bad was created"; else pass "$what: nothing created"; fi
}
bad_init "key type 'dsa'" "unknown --key-type" --key-type dsa
bad_init "0d" "zero --root-ttl" --root-ttl 0d
bad_init "-1d" "negative --intermediate-ttl" --intermediate-ttl -1d
bad_init "abc" "garbage --root-ttl" --root-ttl abc
bad_init "intermediate" "intermediate outliving the root" --root-ttl 1y --intermediate-ttl 2y
bad_init "name" "--name with DN syntax" --name "a,CN=b"
bad_init "suffix" "bad --permit-dns" --permit-dns "a/b"
bad_init "CIDR" "bad --permit-ip" --permit-ip 10.0.0.1/8
bad_init "unexpected argument" "stray argument" extra
run "$MINICA" init --dir "$T/bad" --no-such-option
expect_rc 2 "unknown option"

# --- help ----------------------------------------------------------------------
run "$MINICA" init --help
expect_ok "init --help"
expect_out "^Usage: minica init" "init --help shows the usage"
help_text=$OUT
run "$MINICA" help init
expect_ok "help init"
[ "$OUT" = "$help_text" ] && pass "help init = init --help" || fail "help init differs from init --help"
expect_out "--permit-dns" "init help mentions --permit-dns"

# Every command pays for the libraries it is linked against: libcurl,
# GnuTLS and libmicrohttpd (and their thirty dependencies) are loaded only by
# the commands that use them (src/lib/base/libload.c).
for lib in libcurl libgnutls libmicrohttpd; do
    check_not "minica is not linked against $lib" sh -c "ldd '$MINICA' | grep -q $lib"
done

# Every command answers --help and 'minica help COMMAND' with exit 0.
for cmd in init issue list show export revoke crl log agent nginx metrics token serve bootstrap \
    version help; do
    check "minica $cmd --help" "$MINICA" "$cmd" --help
    check "minica help $cmd" "$MINICA" help "$cmd"
done
run "$MINICA" help nosuchcommand
expect_rc 2 "help for an unknown command is a usage error"

done_testing
