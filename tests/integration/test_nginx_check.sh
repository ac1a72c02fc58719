#!/bin/bash
# minica nginx check and snippet through the real binary: each problem in a
# sample config is reported with file:line and exit 1; the snippet's output
# and conf/nginx/*.conf pass the check, `nginx -t`, and a real nginx serving
# proxy -> upstream with mTLS. Not for the parser's corner cases (unit tests).
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
C=$T/certs
run "$MINICA" init --dir "$CA" --permit-dns internal.svc --permit-ip 127.0.0.0/8
expect_ok "init"
run "$MINICA" issue upstream.internal.svc --san 127.0.0.1 --dir "$CA" --out "$C"
expect_ok "issue the upstream's certificate"
run "$MINICA" issue proxy.internal.svc --usage client --dir "$CA" --out "$C"
expect_ok "issue the proxy's client certificate"

# check_file FILE... : runs the check, keeps OUT/RC
check_conf() { run "$MINICA" nginx check "$@"; }
# expect_finding FILE LINE REGEX description
expect_finding() {
    if printf '%s\n' "$OUT" | grep -Eq -- "^$1:$2: .*$3"; then
        pass "$4"
    else
        fail "$4: no '$1:$2: ...$3' in: $OUT"
    fi
}

# ---- each problem, with file:line and exit 1 ----
S=$T/samples
mkdir -p "$S/conf.d"
cat >"$S/noverify.conf" <<EOF
http {
    server {
        listen 127.0.0.1:8080;
        location / {
            proxy_pass https://upstream.internal.svc;
        }
    }
}
EOF
check_conf "$S/noverify.conf"
expect_rc 1 "proxy_pass https without proxy_ssl_verify is a finding"
expect_finding "$S/noverify.conf" 5 "without proxy_ssl_verify on" "reported at the proxy_pass line"
expect_out "1 finding in 1 file" "summary counts it"

cat >"$S/off.conf" <<EOF
http {
    proxy_ssl_verify off;
    server {
        location / { proxy_pass https://a.internal.svc; }
        location /b { proxy_pass https://b.internal.svc; }
    }
}
EOF
check_conf "$S/off.conf"
expect_rc 1 "proxy_ssl_verify off is a finding"
expect_finding "$S/off.conf" 2 "proxy_ssl_verify off" "reported once where it is written"
if [ "$(printf '%s\n' "$OUT" | grep -c "^$S")" -eq 1 ]; then pass "off: one finding"; else fail "off: $OUT"; fi

cat >"$S/notrust.conf" <<EOF
http {
    proxy_ssl_verify on;
    proxy_ssl_verify_depth 2;
    server {
        location / { proxy_pass https://a.internal.svc; }
    }
}
EOF
check_conf "$S/notrust.conf"
expect_rc 1 "verify on without a trusted certificate is a finding"
expect_finding "$S/notrust.conf" 5 "without proxy_ssl_trusted_certificate" "reported at proxy_pass"
# nginx agrees that this is broken
cat >"$T/wrap.conf" <<EOF
$(nginx_conf_head)
include $S/notrust.conf;
EOF
mkdir -p "$T/wrap/logs"
check_not "nginx -t refuses verify on without a trusted certificate" \
    nginx -t -p "$T/wrap" -c "$T/wrap.conf" -e "$T/wrap/logs/error.log" -g "pid $T/wrap/nginx.pid;"

echo "not a certificate" >"$S/garbage.pem"
MINICA_FAKE_NOW=$(($(date +%s) - 2 * 365 * 86400)) \
    "$MINICA_FAKECLOCK" init --dir "$T/oldca" --root-ttl 1y --intermediate-ttl 30d >/dev/null 2>&1
check_not "the old root has expired (openssl)" openssl x509 -in "$T/oldca/root.crt" -noout -checkend 0
cat "$C/ca.crt" "$T/oldca/root.crt" >"$S/mixed.pem"
cat >"$S/trusted.conf" <<EOF
http {
    proxy_ssl_verify on;
    proxy_ssl_verify_depth 2;
    server {
        location /missing {
            proxy_ssl_trusted_certificate $S/nonexistent.pem;
            proxy_pass https://a.internal.svc;
        }
        location /garbage {
            proxy_ssl_trusted_certificate $S/garbage.pem;
            proxy_pass https://b.internal.svc;
        }
        location /expired {
            proxy_ssl_trusted_certificate $S/mixed.pem;
            proxy_pass https://c.internal.svc;
        }
        location /good {
            proxy_ssl_trusted_certificate $C/ca.crt;
            proxy_pass https://d.internal.svc;
        }
    }
}
EOF
check_conf "$S/trusted.conf"
expect_rc 1 "bad trusted-certificate files are findings"
expect_finding "$S/trusted.conf" 6 "nonexistent.pem does not exist" "a missing file"
expect_finding "$S/trusted.conf" 10 "garbage.pem holds no certificate" "an unparsable file"
expect_finding "$S/trusted.conf" 14 'certificate "CN=minica Root CA" expired on 20' \
    "an expired certificate, named, in a file with a valid one"
if [ "$(printf '%s\n' "$OUT" | grep -c "^$S")" -eq 3 ]; then pass "trusted: the good file is not reported"; else fail "trusted: $OUT"; fi

cat >"$S/depth.conf" <<EOF
http {
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate $C/ca.crt;
    server {
        location /default { proxy_pass https://a.internal.svc; }
        location /one { proxy_ssl_verify_depth 1; proxy_pass https://b.internal.svc; }
        location /zero { proxy_ssl_verify_depth 0; proxy_pass https://c.internal.svc; }
        location /two { proxy_ssl_verify_depth 2; proxy_pass https://d.internal.svc; }
    }
}
EOF
check_conf "$S/depth.conf"
expect_rc 1 "short verify depths are findings"
expect_finding "$S/depth.conf" 5 "nginx's default of 1" "the default depth, at the proxy_pass"
expect_finding "$S/depth.conf" 6 "proxy_ssl_verify_depth 1 allows exactly one" "depth 1"
expect_finding "$S/depth.conf" 7 "proxy_ssl_verify_depth 0 is shorter" "depth 0"
if [ "$(printf '%s\n' "$OUT" | grep -c "^$S")" -eq 3 ]; then pass "depth 2 is not reported"; else fail "depth: $OUT"; fi

# Findings inside included files carry the included file's name and line;
# relative includes resolve against the main file's directory, like nginx -c.
cat >"$S/main.conf" <<EOF
http {
    proxy_ssl_verify on;
    include conf.d/*.conf;
}
EOF
cat >"$S/conf.d/site.conf" <<EOF
# a site

server { location / { proxy_ssl_verify off; proxy_pass https://x.internal.svc; } }
EOF
check_conf "$S/main.conf"
expect_rc 1 "findings in an included file"
expect_finding "$S/conf.d/site.conf" 3 "proxy_ssl_verify off" "reported with the included file's path:line"
expect_out "in 2 files" "the summary counts the included file"

# Syntax errors and include loops are reported with file:line, exit 1.
printf 'http {\n    server {\n        return 200 "unterminated;\n    }\n}\n' >"$S/syntax.conf"
check_conf "$S/syntax.conf"
expect_rc 1 "a syntax error fails the check"
expect_finding "$S/syntax.conf" 3 "unterminated double-quoted string" "the string's line"
printf 'include loop2.conf;\n' >"$S/loop1.conf"
printf '\ninclude loop1.conf;\n' >"$S/loop2.conf"
check_conf "$S/loop1.conf"
expect_rc 1 "an include loop fails the check"
expect_finding "$S/loop2.conf" 2 "include loop" "where the loop closes"

# Usage errors exit 2.
run "$MINICA" nginx check
expect_rc 2 "check without FILE"
expect_err "^minica: nginx: check: missing FILE" "one line naming what is missing"
run "$MINICA" nginx frobnicate
expect_rc 2 "unknown subcommand"
run "$MINICA" nginx snippet
expect_rc 2 "snippet without NAME"
run "$MINICA" nginx snippet 'bad name;'
expect_rc 2 "snippet with an invalid NAME"
run "$MINICA" nginx check "$T/does-not-exist.conf"
expect_rc 1 "a missing config file"
expect_err "^minica: nginx: check: .*does-not-exist.conf" "one line naming the file"

# ---- a trusted file that is not minica's (issue 20) ----
# The system bundle: the cause of the 502 is that minica's root is not in
# it, said once and first, not one finding per expired public root.
cat >"$T/sysbundle.conf" <<EOF
http { server { listen 80; location / {
    proxy_pass https://upstream.internal.svc;
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;
    proxy_ssl_verify_depth 2;
    proxy_ssl_server_name on;
    proxy_ssl_name upstream.internal.svc;
} } }
EOF
run "$MINICA" nginx check --dir "$CA" "$T/sysbundle.conf"
expect_rc 1 "the system CA bundle as proxy_ssl_trusted_certificate, minica's root known"
check "one finding: minica's root is not in it" test "$(printf '%s\n' "$OUT" | grep -c "sysbundle.conf:")" = 1
expect_out "ca-certificates.crt does not hold minica's root \"CN=minica Root CA\" \(it holds [0-9]+ other certificates: a system CA bundle\?\): .*502.*point it at minica's ca.crt" \
    "it says the file is not minica's root"
check_not "no expired public roots listed" grep -q expired <<<"$OUT"
run "$MINICA" nginx check --root /dev/null "$T/sysbundle.conf"
expect_rc 1 "an unreadable --root is an error"
MINICA_DIR=$T/none run "$MINICA" nginx check "$T/sysbundle.conf"
if [ -e /etc/minica/root.crt ]; then
    pass "(this host has /etc/minica/root.crt: the no-root case is not checked)"
else
    expect_ok "without minica's root the bundle is only a note"
    expect_out "note: .*holds [0-9]+ certificates, like a system CA bundle" "saying what it looks like"
fi
# Names print as the UTF-8 they are, never '?'.
if python3 -c 'import cryptography' 2>/dev/null; then
    python3 - "$T/expired-utf8.crt" <<'PYEOF2'
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "E-Tu\u011fra Test")])
start = datetime.datetime(2020, 1, 1)
crt = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
       .public_key(key.public_key()).serial_number(1).not_valid_before(start)
       .not_valid_after(start + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
open(sys.argv[1], "wb").write(crt.public_bytes(serialization.Encoding.PEM))
PYEOF2
    cat "$C/ca.crt" "$T/expired-utf8.crt" >"$T/mixed.crt"
    sed "s|/etc/ssl/certs/ca-certificates.crt|$T/mixed.crt|" "$T/sysbundle.conf" >"$T/utf8.conf"
    run "$MINICA" nginx check --dir "$CA" "$T/utf8.conf"
    expect_rc 1 "an expired certificate next to minica's root"
    expect_out "certificate \"CN=E-Tuğra Test\" expired on 2020-01-02" "its name is printed as UTF-8"
    check_not "no '?' in its place" grep -q 'E-Tu?' <<<"$OUT"
else
    fail "python3-cryptography (certbot's dependency) is needed to make the expired UTF-8 certificate"
fi

# ---- the snippet: passes the check, nginx -t, and works ----
UPORT=$(free_port)
PPORT=$(free_port)
while [ "$PPORT" = "$UPORT" ]; do PPORT=$(free_port); done
run "$MINICA" nginx snippet upstream.internal.svc --client proxy.internal.svc --certs "$C" --dir "$CA"
expect_ok "nginx snippet"
SNIP=$OUT
expect_out "proxy_ssl_trusted_certificate $C/ca.crt;" "absolute path to the root"
expect_out "proxy_ssl_certificate $C/proxy.internal.svc.fullchain.crt;" "client certificate"
expect_out "ssl_certificate_key $C/upstream.internal.svc.key;" "the upstream's key"
expect_out "^#   upstream upstream.internal.svc \{ server 127\.0\.0\.1:443; \}$" \
    "the comment's upstream block has the certificate's own IP SAN"

# The snippet reads the files it names (issue 20): what nginx would only
# find at a reload, or as a 502, is an error here.
run "$MINICA" nginx snippet unknown.internal.svc --certs "$C" --dir "$CA"
expect_rc 1 "snippet for a name the inventory does not know"
expect_err "^minica: nginx: snippet: unknown.internal.svc has no valid certificate for server use in the inventory: issue it first \(minica issue unknown.internal.svc\)$" \
    "says so, with the command that fixes it"
run "$MINICA" nginx snippet upstream.internal.svc --client upstream.internal.svc --dir "$CA" \
    --certs "$T/proxy-only"
expect_rc 1 "a proxy directory without ca.crt"
expect_err "$T/proxy-only does not exist" "names it"
mkdir -p "$T/proxy-only"
cp "$C/ca.crt" "$C/proxy.internal.svc.fullchain.crt" "$C/proxy.internal.svc.key" "$T/proxy-only/"
run "$MINICA" nginx snippet upstream.internal.svc --client proxy.internal.svc --certs "$T/proxy-only"
expect_ok "the proxy host holds only its own side's files: fine"
rm "$T/proxy-only/ca.crt"
run "$MINICA" nginx snippet upstream.internal.svc --client proxy.internal.svc --certs "$T/proxy-only"
expect_rc 1 "but ca.crt must be there"
expect_err "proxy-only/ca.crt does not exist" "names ca.crt"
run "$MINICA" nginx snippet upstream.internal.svc --certs "$T/no-such-dir"
expect_rc 1 "snippet with a missing --certs directory"
expect_err "$T/no-such-dir does not exist" "names the directory"
run "$MINICA" nginx snippet proxy.internal.svc --certs "$C"
expect_rc 1 "a client-only certificate as the upstream's"
expect_err "is not for server use: issue proxy.internal.svc with --usage server \(or both\)" \
    "says which usage it needs"
run "$MINICA" nginx snippet upstream.internal.svc --client upstream.internal.svc --certs "$C"
expect_rc 1 "a server-only certificate as the proxy's client certificate"
expect_err "is not for client use" "says so"
# default --certs: the current directory, printed absolute
OUT=$(cd "$C" && "$MINICA" nginx snippet upstream.internal.svc)
expect_out "ssl_certificate $C/upstream.internal.svc.fullchain.crt;" "--certs defaults to the cwd"

P=$T/snip
mkdir -p "$P/logs"
location=$(printf '%s\n' "$SNIP" | sed -n '/^location \/ {/,/^}/p')
upstream=$(printf '%s\n' "$SNIP" | sed -n '/^# nginx on the upstream/,$p' |
    sed "s/^listen 443 ssl;/listen 127.0.0.1:$UPORT ssl;/")
cat >"$P/site.conf" <<EOF
upstream upstream.internal.svc { server 127.0.0.1:$UPORT; }
server {
    listen 127.0.0.1:$PPORT;
$location
}
server {
$upstream
    location / { return 200 "snippet upstream\n"; }
}
EOF
cat >"$P/nginx.conf" <<EOF
$(nginx_conf_head)
http {
    access_log off;
    include site.conf;
}
EOF
check_conf "$P/nginx.conf"
expect_ok "the snippet's own output passes the check"
expect_out "0 findings in 2 files \\(1 proxy_pass https://\\)" "it saw the proxy_pass"
run nginx -t -p "$P" -c "$P/nginx.conf" -e "$P/logs/error.log" -g "pid $P/nginx.pid;"
expect_ok "nginx -t accepts the snippet"
if nginx_start "$P"; then
    pass "nginx starts with the snippet"
    code=$(http_code "http://127.0.0.1:$PPORT/")
    if [ "$code" = 200 ]; then pass "proxy -> upstream over verified mTLS: 200"; else fail "snippet proxy: $code; $(tail -3 "$P/logs/error.log")"; fi
    code=$(http_code "https://upstream.internal.svc:$UPORT/" --cacert "$C/ca.crt" \
        --resolve "upstream.internal.svc:$UPORT:127.0.0.1")
    if [ "$code" = 400 ]; then pass "the upstream refuses a client without a certificate: 400"; else fail "no client cert: $code"; fi
    nginx_stop "$P"
else
    fail "nginx starts with the snippet: $(cat "$P/logs/error.log")"
fi

# ---- proxy_ssl_verify_depth against a real nginx ----
# OpenSSL counts neither the leaf nor the root: depth 1 (nginx's default)
# accepts leaf <- intermediate <- root, 0 rejects it. The check must agree:
# 1 and the default are notes (exit 0, a CI gate passes), 0 is a finding.
DP=$T/depth
mkdir -p "$DP/logs"
DUP=$(free_port)
DPP=$(free_port)
while [ "$DPP" = "$DUP" ]; do DPP=$(free_port); done
DZP=$(free_port)
while [ "$DZP" = "$DUP" ] || [ "$DZP" = "$DPP" ]; do DZP=$(free_port); done
depth_location() { # depth_location PATH DIRECTIVE: the snippet's location at /PATH
    printf '%s\n' "$location" | sed -e "s|^location / {|location /$1 {|" \
        -e "s|^ *proxy_ssl_verify_depth 2;|    $2|"
}
cat >"$DP/works.conf" <<EOF
upstream upstream.internal.svc { server 127.0.0.1:$DUP; }
server {
    listen 127.0.0.1:$DPP;
$(depth_location default "")
$(depth_location one "proxy_ssl_verify_depth 1;")
$(depth_location two "proxy_ssl_verify_depth 2;")
}
server {
$(printf '%s\n' "$upstream" | sed "s/127.0.0.1:$UPORT/127.0.0.1:$DUP/")
    location / { return 200 "depth upstream\n"; }
}
EOF
# Its own upstream block: nginx keeps one TLS session per upstream peer for
# every location, and a resumed session carries the first handshake's
# verify result, whatever the next location's depth.
cat >"$DP/zero.conf" <<EOF
upstream depth-zero { server 127.0.0.1:$DUP; }
server {
    listen 127.0.0.1:$DZP;
$(depth_location zero "proxy_ssl_verify_depth 0;" | sed 's|proxy_pass https://upstream.internal.svc;|proxy_pass https://depth-zero;|')
}
EOF
printf 'http {\n    include works.conf;\n}\n' >"$DP/check.conf"
cat >"$DP/nginx.conf" <<EOF
$(nginx_conf_head)
http {
    access_log off;
    include works.conf;
    include zero.conf;
}
EOF
check_conf "$DP/check.conf"
expect_ok "depth 1 and nginx's default are not findings (a CI gate passes)"
expect_out "0 findings in 2 files \\(3 proxy_pass https://\\), 2 notes" "the summary counts two notes"
expect_finding "$DP/works.conf" '[0-9]+' "note: .*nginx's default of 1" "the default depth is a note"
expect_finding "$DP/works.conf" '[0-9]+' "note: proxy_ssl_verify_depth 1 allows" "depth 1 is a note"
check_conf "$DP/zero.conf"
expect_rc 1 "depth 0 is a finding"
expect_finding "$DP/zero.conf" '[0-9]+' "proxy_ssl_verify_depth 0 is shorter" "depth 0, not as a note"
check_not "depth 0 is not a note" grep -q "note:" <<<"$OUT"
if nginx_start "$DP"; then
    code=$(http_code "http://127.0.0.1:$DZP/zero")
    if [ "$code" = 502 ]; then pass "real nginx, depth 0: 502"; else fail "depth 0: $code"; fi
    check "nginx logs the verify error for depth 0" grep -q "upstream SSL certificate verify error" "$DP/logs/error.log"
    for path in default one two; do
        code=$(http_code "http://127.0.0.1:$DPP/$path")
        if [ "$code" = 200 ]; then pass "real nginx, depth $path: 200"; else fail "depth $path: $code; $(tail -2 "$DP/logs/error.log")"; fi
    done
    nginx_stop "$DP"
else
    fail "nginx starts with the depth configs: $(tail -3 "$DP/logs/error.log")"
fi

# ---- conf/nginx examples, with test paths and ports ----
E=$T/examples
mkdir -p "$E/logs"
UPORT=$(free_port)
PPORT=$(free_port)
while [ "$PPORT" = "$UPORT" ]; do PPORT=$(free_port); done
for f in proxy.conf upstream-mtls.conf; do
    sed -e "s|/etc/nginx/certs|$C|g" -e "s|server 10.0.2.88:443;|server 127.0.0.1:$UPORT;|" \
        -e "s|listen 443 ssl;|listen 127.0.0.1:$UPORT ssl;|" -e "s|listen 80;|listen 127.0.0.1:$PPORT;|" \
        "$SRCDIR/conf/nginx/$f" >"$E/$f"
done
check "the examples were substituted" grep -q "127.0.0.1:$UPORT" "$E/proxy.conf"
cat >"$E/nginx.conf" <<EOF
$(nginx_conf_head)
http {
    access_log off;
    include proxy.conf;
    include upstream-mtls.conf;
}
EOF
check_conf "$E/nginx.conf"
expect_ok "conf/nginx examples pass the check"
expect_out "0 findings in 3 files \\(1 proxy_pass https://\\)" "the check read both examples"
run nginx -t -p "$E" -c "$E/nginx.conf" -e "$E/logs/error.log" -g "pid $E/nginx.pid;"
expect_ok "nginx -t accepts conf/nginx examples"
if nginx_start "$E"; then
    pass "nginx starts with the examples"
    code=$(http_code "http://127.0.0.1:$PPORT/")
    if [ "$code" = 200 ]; then pass "example proxy -> upstream with mTLS: 200"; else fail "example proxy: $code; $(tail -3 "$E/logs/error.log")"; fi
    up="https://upstream.internal.svc:$UPORT/"
    res=(--cacert "$C/ca.crt" --resolve "upstream.internal.svc:$UPORT:127.0.0.1")
    code=$(http_code "$up" "${res[@]}")
    if [ "$code" = 400 ]; then pass "example upstream without a client certificate: 400"; else fail "example upstream, no cert: $code"; fi
    code=$(http_code "$up" "${res[@]}" --cert "$C/proxy.internal.svc.fullchain.crt" --key "$C/proxy.internal.svc.key")
    if [ "$code" = 200 ]; then pass "example upstream with the proxy's certificate: 200"; else fail "example upstream, proxy cert: $code"; fi
    run "$MINICA" issue other.internal.svc --usage client --dir "$CA" --out "$C"
    code=$(http_code "$up" "${res[@]}" --cert "$C/other.internal.svc.fullchain.crt" --key "$C/other.internal.svc.key")
    if [ "$code" = 403 ]; then pass "example upstream admits only the proxy's name: 403"; else fail "example upstream, other cert: $code"; fi
    nginx_stop "$E"
else
    fail "nginx starts with the examples: $(cat "$E/logs/error.log")"
fi

done_testing
