#!/bin/bash
# nginx checks an upstream's certificate against proxy_ssl_name (default: the
# host of proxy_pass) with host-name rules only (X509_check_host: DNS SANs,
# then the CN), never against IP SANs. Against a real nginx: proxy_pass to
# 127.0.0.1 with a DNS proxy_ssl_name is 200 and passes `minica nginx check`;
# an IP as the name is 502, logged as "does not match", and is a finding. The
# snippet refuses to print proxy_ssl_name IP. Parser corner cases: unit tests.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
C=$T/certs
run "$MINICA" init --dir "$CA" --permit-dns internal.svc --permit-ip 127.0.0.0/8
expect_ok "init a DNS- and IP-constrained CA"
run "$MINICA" issue upstream.internal.svc --san 127.0.0.1 --dir "$CA" --out "$C"
expect_ok "issue a DNS name with the address as a SAN"
run "$MINICA" issue 127.0.0.1 --dir "$CA" --out "$C"
expect_ok "issue an IP-only certificate"
check "the IP-only certificate has the address as an IP SAN" \
    sh -c "openssl x509 -in '$C/127.0.0.1.crt' -noout -ext subjectAltName | grep -q 'IP Address:127.0.0.1'"

# ---- the snippet refuses an IP NAME, with the fix ----
for ip in 127.0.0.1 ::1; do
    run "$MINICA" nginx snippet "$ip" --certs "$C"
    expect_rc 1 "snippet $ip is refused"
    expect_err "^minica: nginx: snippet: $ip: .*ignores IP SANs.*issue a DNS name" \
        "snippet $ip: one line with the fix"
    if [ -z "$OUT" ]; then pass "snippet $ip prints no config"; else fail "snippet $ip printed: $OUT"; fi
done
run "$MINICA" nginx snippet upstream.internal.svc --certs "$C"
expect_ok "snippet for the DNS name still works"
expect_out "proxy_ssl_name upstream.internal.svc;" "with that name as proxy_ssl_name"

# ---- one nginx: the proxy locations the check accepts and flags ----
P=$T/nginx
mkdir -p "$P/logs"
# ports: proxy accepted, proxy flagged, upstream with the DNS certificate (one
# per location: nginx shares a TLS session between locations that use the same
# upstream address), upstream with the IP-only certificate.
ports() { # ports N: N distinct free ports
    local got=() p
    while [ "${#got[@]}" -lt "$1" ]; do
        p=$(free_port)
        case " ${got[*]} " in *" $p "*) ;; *) got+=("$p") ;; esac
    done
    echo "${got[@]}"
}
write_conf() {
    read -r PA PF UD UD2 UI <<<"$(ports 5)"
    verify="proxy_ssl_verify on;
        proxy_ssl_verify_depth 2;
        proxy_ssl_trusted_certificate $C/ca.crt;"
    cat >"$P/accepted.conf" <<EOF
server {
    listen 127.0.0.1:$PA;
    location /dns {
        proxy_pass https://127.0.0.1:$UD;
        $verify
        proxy_ssl_server_name on;
        proxy_ssl_name upstream.internal.svc;
    }
}
EOF
    cat >"$P/flagged.conf" <<EOF
server {
    listen 127.0.0.1:$PF;
    location /ip-only {
        proxy_pass https://127.0.0.1:$UI;
        $verify
    }
    location /ip-name {
        proxy_pass https://127.0.0.1:$UI;
        $verify
        proxy_ssl_name 127.0.0.1;
    }
    location /ip-san {
        proxy_pass https://127.0.0.1:$UD2;
        $verify
    }
}
EOF
    cat >"$P/upstreams.conf" <<EOF
server {
    listen 127.0.0.1:$UD ssl;
    listen 127.0.0.1:$UD2 ssl;
    ssl_certificate $C/upstream.internal.svc.fullchain.crt;
    ssl_certificate_key $C/upstream.internal.svc.key;
    location / { return 200 "dns upstream\n"; }
}
server {
    listen 127.0.0.1:$UI ssl;
    ssl_certificate $C/127.0.0.1.fullchain.crt;
    ssl_certificate_key $C/127.0.0.1.key;
    location / { return 200 "ip upstream\n"; }
}
EOF
    cat >"$P/nginx.conf" <<EOF
$(nginx_conf_head)
http {
    access_log off;
    include accepted.conf;
    include flagged.conf;
    include upstreams.conf;
}
EOF
}
write_conf

# The check's verdict on each file, as operators run it.
run "$MINICA" nginx check "$P/accepted.conf"
expect_ok "check accepts proxy_pass to 127.0.0.1 with a DNS proxy_ssl_name"
expect_out "0 findings in 1 file \\(1 proxy_pass https://\\)$" "no finding, no note"
run "$MINICA" nginx check "$P/flagged.conf"
expect_rc 1 "check flags IP names"
expect_out "3 findings in 1 file \\(3 proxy_pass https://\\)$" "three findings, not notes"
check_not "no IP name is a mere note" grep -q "note:" <<<"$OUT"
expect_line() { # expect_line LINE REGEX description
    if printf '%s\n' "$OUT" | grep -Eq -- "^$P/flagged.conf:$1: $2"; then pass "$3"; else fail "$3: no '$1: $2' in: $OUT"; fi
}
fix='.*ignores IP SANs.*issue a DNS name for the upstream.*set proxy_ssl_name NAME'
expect_line 4 "proxy_pass https://127.0.0.1:$UI without a DNS proxy_ssl_name$fix" \
    "proxy_pass to an IP without proxy_ssl_name: at the proxy_pass, with the fix"
expect_line 14 "proxy_ssl_name 127.0.0.1 is an IP address$fix" \
    "proxy_ssl_name IP: at the directive, with the fix"
expect_line 17 "proxy_pass https://127.0.0.1:$UD2 without a DNS proxy_ssl_name" \
    "an IP SAN on the certificate does not help: still a finding"
run "$MINICA" nginx check "$P/nginx.conf"
expect_rc 1 "the whole config fails the gate"
run nginx -t -p "$P" -c "$P/nginx.conf" -e "$P/logs/error.log" -g "pid $P/nginx.pid;"
expect_ok "nginx -t accepts both (the mismatch only shows per request)"

# The grep the README's troubleshooting section gives operators.
readme_grep=$(grep -o "grep -E '[^']*' /var/log/nginx/error.log" "$SRCDIR/README.md" | head -1 |
    sed -e "s/^grep -E '//" -e "s/' .*//")
if [ -n "$readme_grep" ]; then pass "the README gives a grep: $readme_grep"; else fail "no grep -E '...' /var/log/nginx/error.log in README.md"; fi

# A port picked by another test in between: try fresh ones.
for _ in 1 2 3; do
    if nginx_start "$P"; then break; fi
    grep -q "Address already in use" "$P/logs/error.log" 2>/dev/null || break
    : >"$P/logs/error.log"
    write_conf
done
if [ -s "$P/nginx.pid" ]; then
    pass "nginx starts"
    code=$(http_code "http://127.0.0.1:$PA/dns")
    if [ "$code" = 200 ]; then pass "accepted config: 200 through the proxy"; else fail "accepted: $code; $(tail -3 "$P/logs/error.log")"; fi
    for loc in ip-only ip-name ip-san; do
        : >"$P/logs/error.log"
        code=$(http_code "http://127.0.0.1:$PF/$loc")
        if [ "$code" = 502 ]; then pass "flagged /$loc: 502"; else fail "flagged /$loc: $code"; fi
        # The log line the README's troubleshooting greps for.
        if grep -q 'upstream SSL certificate does not match "127.0.0.1"' "$P/logs/error.log"; then
            pass "/$loc: nginx logs 'upstream SSL certificate does not match \"127.0.0.1\"'"
        else
            fail "/$loc: no does-not-match line in: $(cat "$P/logs/error.log")"
        fi
        check "/$loc: the README's grep finds it" grep -Eq -- "${readme_grep:-^$}" "$P/logs/error.log"
        check_not "/$loc: no verify error: the chain is fine, only the name fails" \
            grep -q "certificate verify error" "$P/logs/error.log"
    done
    nginx_stop "$P"
else
    fail "nginx starts: $(tail -3 "$P/logs/error.log")"
fi

done_testing
