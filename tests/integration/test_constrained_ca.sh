# A name-constrained CA (init --permit-dns/--permit-ip, what the README's demo
# makes) end to end. mbedTLS refuses certificates with a critical
# nameConstraints extension unless told otherwise, so every path that reads
# the intermediate (issuing, the agent's checks, the TLS probe, nginx check,
# enrollment) must work with one: this test is what keeps them honest.
source "$SRCDIR/tests/integration/lib/common.sh"

CA=$T/ca
run "$MINICA" init --dir "$CA" --permit-dns internal.svc --permit-ip 127.0.0.0/8
expect_ok "init a name-constrained CA"
check "the intermediate carries a critical nameConstraints extension" \
    sh -c "openssl x509 -in '$CA/intermediate.crt' -noout -text | grep -A2 'Name Constraints: critical' | grep -q 'DNS:internal.svc'"

run "$MINICA" issue up.internal.svc --san 127.0.0.1 --dir "$CA" --out "$T/out"
expect_ok "issue under the constraints"
check "openssl verifies it for the name" openssl verify -CAfile "$T/out/ca.crt" \
    -untrusted "$T/out/up.internal.svc.fullchain.crt" -verify_hostname up.internal.svc \
    "$T/out/up.internal.svc.crt"
check "openssl verifies it for the IP" openssl verify -CAfile "$T/out/ca.crt" \
    -untrusted "$T/out/up.internal.svc.fullchain.crt" -verify_ip 127.0.0.1 \
    "$T/out/up.internal.svc.crt"

run "$MINICA" issue 127.0.0.2 --dir "$CA" --out "$T/ip"
expect_ok "issue an IP-only certificate under the constraints"
check "openssl verifies the IP-only certificate" openssl verify -CAfile "$T/ip/ca.crt" \
    -untrusted "$T/ip/127.0.0.2.fullchain.crt" -verify_ip 127.0.0.2 "$T/ip/127.0.0.2.crt"
# OpenSSL and GnuTLS check a CN against dNSName constraints when there is no
# DNS SAN: under --permit-dns the subject is empty and the SAN critical
# (RFC 5280 4.2.1.6), the form the CA/B profile uses too.
check "the IP-only certificate has an empty subject" \
    sh -c "openssl x509 -in '$T/ip/127.0.0.2.crt' -noout -subject -nameopt RFC2253 | grep -qx 'subject='"
check "and a critical subjectAltName" \
    sh -c "openssl x509 -in '$T/ip/127.0.0.2.crt' -noout -text | grep -q 'Subject Alternative Name: critical'"
check "GnuTLS verifies the IP-only certificate" \
    sh -c "certtool --verify --load-ca-certificate '$T/ip/ca.crt' --infile '$T/ip/127.0.0.2.fullchain.crt' 2>&1 | grep -q 'Chain verification output: Verified'"

# nginx serves it and curl (GnuTLS here) verifies the address.
N=$T/nginx-ip
NPORT=$(free_port)
mkdir -p "$N"
{
    nginx_conf_head
    cat <<NGINX
http {
    access_log off;
    server {
        listen 127.0.0.2:$NPORT ssl;
        ssl_certificate $T/ip/127.0.0.2.fullchain.crt;
        ssl_certificate_key $T/ip/127.0.0.2.key;
        location / { return 200 "ip ok\n"; }
    }
}
NGINX
} >"$N/nginx.conf"
if nginx_start "$N"; then
    code=$(http_code "https://127.0.0.2:$NPORT/" --cacert "$T/ip/ca.crt")
    if [ "$code" = 200 ]; then pass "curl verifies the IP-only certificate nginx serves"; else
        fail "curl through nginx: $code"
    fi
    nginx_stop "$N"
else
    fail "nginx starts with the IP-only certificate"
fi

# The README says editing minica.conf cannot widen the constraints: the
# intermediate's own extension is checked at issuance too.
sed -i 's/^permit_dns = .*/permit_dns = internal.svc, example.com/' "$CA/minica.conf"
run "$MINICA" issue www.example.com --dir "$CA" --out "$T/widened"
expect_rc 1 "a name minica.conf allows but the intermediate forbids is refused"
expect_err "www.example.com is outside the intermediate certificate's name constraints \(permitted DNS: internal.svc\)" \
    "the refusal names the constraint"
check "and nothing was written" test ! -e "$T/widened/www.example.com.crt"
run "$MINICA" list --dir "$CA"
check "nor recorded" sh -c "! printf '%s' \"\$1\" | grep -q www.example.com" _ "$OUT"

# With iPAddress constraints only, every DNS name is excluded: the subject
# stays empty for the same reason.
run "$MINICA" init --dir "$T/ipca" --permit-ip 127.0.0.0/8
expect_ok "init a CA constrained to IP ranges only"
run "$MINICA" issue 127.0.0.3 --dir "$T/ipca" --out "$T/ip3"
expect_ok "issue an IP-only certificate under IP-only constraints"
check "its subject is empty" \
    sh -c "openssl x509 -in '$T/ip3/127.0.0.3.crt' -noout -subject -nameopt RFC2253 | grep -qx 'subject='"
check "openssl verifies it for the IP" openssl verify -CAfile "$T/ip3/ca.crt" \
    -untrusted "$T/ip3/127.0.0.3.fullchain.crt" -verify_ip 127.0.0.3 "$T/ip3/127.0.0.3.crt"
check "GnuTLS verifies it" \
    sh -c "certtool --verify --load-ca-certificate '$T/ip3/ca.crt' --infile '$T/ip3/127.0.0.3.fullchain.crt' 2>&1 | grep -q 'Chain verification output: Verified'"

# The agent reads the fullchain (intermediate included) and probes a server
# that sends the constrained intermediate in its handshake.
PORT=$(free_port)
openssl s_server -accept "127.0.0.1:$PORT" -cert "$T/out/up.internal.svc.crt" \
    -cert_chain "$CA/intermediate.crt" -key "$T/out/up.internal.svc.key" -www -quiet \
    >/dev/null 2>&1 &
track_pid $!
cat >"$T/agent.conf" <<CONF
[agent]
state_dir = $CA
reload_command = true

[cert up.internal.svc]
sans = up.internal.svc, 127.0.0.1
fullchain = $T/out/up.internal.svc.fullchain.crt
key = $T/out/up.internal.svc.key
verify = 127.0.0.1:$PORT
CONF
chmod 600 "$T/agent.conf"
for _ in $(seq 1 50); do
    ss -Htln "sport = :$PORT" | grep -q . && break
    sleep 0.1
done
run "$MINICA" agent --once --config "$T/agent.conf"
expect_ok "the agent finds nothing to do with a constrained chain on disk"
check "and says nothing" test -z "$OUT$ERR"
run "$MINICA" agent --verify-only --config "$T/agent.conf"
expect_ok "the TLS probe verifies a server sending the constrained intermediate"

# nginx check reads a trusted file holding the chain.
cat "$CA/intermediate.crt" "$CA/root.crt" >"$T/chain.pem"
cat >"$T/proxy.conf" <<CONF
http {
    server {
        listen 127.0.0.1:8443;
        location / {
            proxy_pass https://up.internal.svc;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $T/chain.pem;
            proxy_ssl_verify_depth 2;
        }
    }
}
CONF
run "$MINICA" nginx check "$T/proxy.conf"
expect_ok "nginx check parses a constrained intermediate in a trusted file"

# Enrollment over the network with a constrained CA.
SPORT=$(free_port)
"$MINICA" serve --dir "$CA" --listen "127.0.0.1:$SPORT" 2>"$T/serve.log" &
track_pid $!
for _ in $(seq 1 100); do
    [ "$(http_code "https://127.0.0.1:$SPORT/v1/health" -k)" = 200 ] && break
    sleep 0.1
done
FP=$(openssl x509 -in "$CA/root.crt" -noout -fingerprint -sha256)
run "$MINICA" bootstrap --ca-url "https://127.0.0.1:$SPORT" --fingerprint "$FP" --out "$T/vm"
expect_ok "bootstrap from a constrained CA"
TOKEN=$("$MINICA" token vm.internal.svc --dir "$CA")
run "$MINICA" issue vm.internal.svc --ca-url "https://127.0.0.1:$SPORT" --root "$T/vm/root.crt" \
    --token "$TOKEN" --out "$T/vm"
expect_ok "remote issuance from a constrained CA"
check "the remote certificate verifies" openssl verify -CAfile "$T/vm/root.crt" \
    -untrusted "$T/vm/vm.internal.svc.fullchain.crt" -verify_hostname vm.internal.svc \
    "$T/vm/vm.internal.svc.crt"

done_testing
