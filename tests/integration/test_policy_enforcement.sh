#!/usr/bin/env bash
# Issuance policy and name constraints, end to end: init with --permit-dns and
# --permit-ip; out-of-policy names and IPs are refused (message names the
# rule, exit 1, no files, no inventory row); certificates forged with the
# intermediate's key for other names fail OpenSSL and GnuTLS verification
# (while in-policy forgeries pass, so the check can fail); minica.conf errors
# name file and line.
source "$SRCDIR/tests/integration/lib/common.sh"

ca=$T/ca
run "$MINICA" init --dir "$ca" --permit-dns internal.svc --permit-ip 10.0.0.0/8
expect_ok "init with --permit-dns and --permit-ip"
check "minica.conf has permit_dns" grep -Eq '^permit_dns = internal\.svc$' "$ca/minica.conf"
check "minica.conf has permit_ip" grep -Eq '^permit_ip = 10\.0\.0\.0/8$' "$ca/minica.conf"
nc=$(openssl x509 -in "$ca/intermediate.crt" -noout -ext nameConstraints 2>/dev/null)
if printf '%s' "$nc" | grep -q "critical" && printf '%s' "$nc" | grep -q "DNS:internal.svc" &&
    printf '%s' "$nc" | grep -q "IP:10.0.0.0/255.0.0.0"; then
    pass "intermediate has critical nameConstraints"
else
    fail "intermediate nameConstraints: $nc"
fi

rows() { "$MINICA" list --dir "$ca" --status all --json | grep -o '"serial"' | wc -l; }

refused() { # refused NAME REGEX description [issue args...]
    local name=$1 regex=$2 what=$3
    shift 3
    local before
    before=$(rows)
    run "$MINICA" issue "$name" --dir "$ca" --out "$T/refused" "$@"
    expect_rc 1 "$what: refused"
    expect_err "$regex" "$what: message names the rule"
    if [ -e "$T/refused" ]; then fail "$what: files were written"; else pass "$what: no files"; fi
    if [ "$(rows)" = "$before" ]; then pass "$what: no inventory row"; else fail "$what: a row was added"; fi
}
refused www.example.com \
    '^minica: issue: www\.example\.com is outside the permitted DNS names \(internal\.svc\)$' \
    "public DNS name"
refused evil-internal.svc \
    '^minica: issue: evil-internal\.svc is outside the permitted DNS names \(internal\.svc\)$' \
    "suffix without a dot boundary"
refused 8.8.8.8 '^minica: issue: 8\.8\.8\.8 is outside the permitted IP ranges \(10\.0\.0\.0/8\)$' \
    "public IP"
refused ok.internal.svc '8\.8\.8\.8 is outside the permitted IP ranges' "bad --san" --san 8.8.8.8
refused '*.internal.svc' 'wildcard.*allow_wildcards = no' "wildcard"
refused ttl.internal.svc 'TTL 2y exceeds the policy.s maximum \(max_ttl = 1y\)' "TTL over max" --ttl 2y

# In policy: issued, and valid for OpenSSL and GnuTLS through the constrained chain.
run "$MINICA" issue web.internal.svc --dir "$ca" --out "$T/ok" --san 10.1.2.3
expect_ok "in-policy name"
run "$MINICA" issue 10.9.8.7 --dir "$ca" --out "$T/ok"
expect_ok "in-policy IP"
days=$(($(date -d "$(openssl x509 -in "$T/ok/web.internal.svc.crt" -noout -enddate | cut -d= -f2)" +%s) / 86400 - $(date +%s) / 86400))
if [ "$days" -ge 89 ] && [ "$days" -le 90 ]; then pass "default TTL is 90d"; else fail "default TTL gave $days days"; fi

ossl_ok() { openssl verify -CAfile "$ca/root.crt" -untrusted "$ca/intermediate.crt" "$1"; }
gnutls_ok() {
    cat "$1" "$ca/intermediate.crt" >"$T/gnutls-chain.pem"
    certtool --verify --load-ca-certificate "$ca/root.crt" --infile "$T/gnutls-chain.pem" 2>&1 |
        grep -q "Chain verification output: Verified"
}
for f in "$T/ok/web.internal.svc.crt" "$T/ok/10.9.8.7.crt"; do
    check "openssl accepts minica's $(basename "$f")" ossl_ok "$f"
    check "certtool accepts minica's $(basename "$f")" gnutls_ok "$f"
done

# Forgeries signed directly with the intermediate key, bypassing minica.
forge() { # forge OUT SUBJECT SAN
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" \
        -subj "$2" -addext "subjectAltName=$3" -out "$T/$1.csr" 2>/dev/null &&
        openssl x509 -req -in "$T/$1.csr" -CA "$ca/intermediate.crt" -CAkey "$ca/intermediate.key" \
            -CAcreateserial -days 1 -copy_extensions copy -out "$T/$1.crt" 2>/dev/null
}
forge evil "/CN=www.example.com" "DNS:www.example.com" || fail "could not forge"
forge evilip "/OU=8.8.8.8" "IP:8.8.8.8" || fail "could not forge"
forge good "/CN=a.internal.svc" "DNS:a.internal.svc" || fail "could not forge"
forge goodip "/OU=10.1.1.1" "IP:10.1.1.1" || fail "could not forge"
out=$(ossl_ok "$T/evil.crt" 2>&1)
if printf '%s' "$out" | grep -q "permitted subtree violation"; then pass "openssl refuses forged www.example.com (name constraints)"; else fail "openssl on forged www.example.com: $out"; fi
out=$(ossl_ok "$T/evilip.crt" 2>&1)
if printf '%s' "$out" | grep -q "permitted subtree violation"; then pass "openssl refuses forged 8.8.8.8 (name constraints)"; else fail "openssl on forged 8.8.8.8: $out"; fi
check_not "certtool refuses forged www.example.com" gnutls_ok "$T/evil.crt"
check_not "certtool refuses forged 8.8.8.8" gnutls_ok "$T/evilip.crt"
check "openssl accepts an in-policy forgery (the check can fail)" ossl_ok "$T/good.crt"
check "certtool accepts an in-policy forgery (the check can fail)" gnutls_ok "$T/good.crt"
check "openssl accepts an in-policy IP forgery" ossl_ok "$T/goodip.crt"
check "certtool accepts an in-policy IP forgery" gnutls_ok "$T/goodip.crt"

# Wildcards once allowed, still inside the permitted names.
sed -i 's/^allow_wildcards = no$/allow_wildcards = yes/' "$ca/minica.conf"
run "$MINICA" issue '*.internal.svc' --dir "$ca" --out "$T/wild"
expect_ok "wildcard allowed by allow_wildcards = yes"
check "openssl accepts the wildcard cert" ossl_ok "$T/wild/_wildcard.internal.svc.crt"
sed -i 's/^allow_wildcards = yes$/allow_wildcards = no/' "$ca/minica.conf"

# minica.conf errors: file and line, exit 1, and an audit row.
cp "$ca/minica.conf" "$T/minica.conf.good"
line=$(($(wc -l <"$ca/minica.conf") + 1))
echo "colour = blue" >>"$ca/minica.conf"
run "$MINICA" issue a.internal.svc --dir "$ca" --out "$T/x"
expect_rc 1 "unknown key in minica.conf"
expect_err "^minica: issue: .*$ca/minica\.conf:$line: unknown key 'colour'" "unknown key: file:line"
run "$MINICA" log --dir "$ca" --json
if printf '%s' "$OUT" | grep -q "policy load error: .*minica.conf:$line: unknown key"; then pass "policy load error is audited"; else fail "no policy load error in the log: $OUT"; fi
cp "$T/minica.conf.good" "$ca/minica.conf"
sed -i 's/^default_ttl = .*/default_ttl = 90 days/' "$ca/minica.conf"
line=$(grep -n '^default_ttl' "$ca/minica.conf" | cut -d: -f1)
run "$MINICA" issue a.internal.svc --dir "$ca" --out "$T/x"
expect_rc 1 "bad duration in minica.conf"
expect_err "minica\.conf:$line: default_ttl" "bad duration: file:line"
cp "$T/minica.conf.good" "$ca/minica.conf"
sed -i 's|^permit_ip = .*|permit_ip = 10.0.0.0/33|' "$ca/minica.conf"
line=$(grep -n '^permit_ip' "$ca/minica.conf" | cut -d: -f1)
run "$MINICA" issue a.internal.svc --dir "$ca" --out "$T/x"
expect_rc 1 "bad CIDR in minica.conf"
expect_err "minica\.conf:$line: permit_ip: .*10\.0\.0\.0/33" "bad CIDR: file:line"
cp "$T/minica.conf.good" "$ca/minica.conf"
printf '[limits]\nmax = 1\n' >>"$ca/minica.conf"
run "$MINICA" issue a.internal.svc --dir "$ca" --out "$T/x"
expect_rc 1 "unknown section in minica.conf"
expect_err "minica\.conf:[0-9]+: unknown section \[limits\]" "unknown section: file:line"
cp "$T/minica.conf.good" "$ca/minica.conf"
sed -i 's/^default_ttl = .*/default_ttl = 2y/' "$ca/minica.conf"
run "$MINICA" issue a.internal.svc --dir "$ca" --out "$T/x"
expect_rc 1 "default_ttl above max_ttl"
expect_err "default_ttl \(2y\) exceeds max_ttl \(1y\)" "default_ttl > max_ttl is named"
cp "$T/minica.conf.good" "$ca/minica.conf"
run "$MINICA" issue a.internal.svc --dir "$ca" --out "$T/x"
expect_ok "the restored minica.conf works again"

done_testing
