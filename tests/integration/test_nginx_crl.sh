#!/usr/bin/env bash
# Revocation as nginx enforces it: a proxy with proxy_ssl_verify and
# proxy_ssl_crl in front of an upstream using a minica certificate. Valid:
# 200. nginx sets CRL_CHECK_ALL, so the CRL file must hold a CRL for every CA
# of the chain (intermediate and root); with only the intermediate's: 502.
# Revoke the upstream, publish, reload: 502. Re-issue: 200 again.
source "$SRCDIR/tests/integration/lib/common.sh"

ca=$T/ca
C=$T/certs
P=$T/nginx
mkdir -p "$C" "$P"
run "$MINICA" init --dir "$ca" --permit-dns internal.svc --permit-ip 127.0.0.0/8
expect_ok "init"
run "$MINICA" issue up.internal.svc --dir "$ca" --out "$C" --san 127.0.0.1
expect_ok "issue the upstream's certificate"

publish() { # publish FILE [--no-root]: the intermediate's CRL, then the root's
    "$MINICA" crl --dir "$ca" --out "$T/int-crl.pem" >/dev/null || return 1
    "$MINICA" crl --root --dir "$ca" --out "$T/root-crl.pem" >/dev/null || return 1
    if [ "${2:-}" = --no-root ]; then
        cp "$T/int-crl.pem" "$1.new"
    else
        cat "$T/int-crl.pem" "$T/root-crl.pem" >"$1.new"
    fi
    mv "$1.new" "$1"
}

write_conf() { # write_conf: nginx.conf for ports $UP (upstream) and $PX (proxy)
    {
        nginx_conf_head
        cat <<NGINX
http {
    access_log off;
    server {
        listen 127.0.0.1:$UP ssl;
        server_name up.internal.svc;
        ssl_certificate $C/up.internal.svc.fullchain.crt;
        ssl_certificate_key $C/up.internal.svc.key;
        location / { return 200 "upstream ok\n"; }
    }
    server {
        listen 127.0.0.1:$PX;
        location / {
            proxy_pass https://127.0.0.1:$UP;
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 2;
            proxy_ssl_trusted_certificate $ca/root.crt;
            proxy_ssl_server_name on;
            proxy_ssl_name up.internal.svc;
            proxy_ssl_crl $T/crl.pem;
        }
    }
}
NGINX
    } >"$P/nginx.conf"
}

# A reload is asynchronous: for a while old and new workers both answer, so
# every reload waits until the old workers are gone (nginx_reload_settled)
# before the next check; wait_code then only bounds a slow first request.
wait_code() { # wait_code CODE URL
    local want=$1 _
    for _ in $(seq 1 50); do
        [ "$(http_code "$2")" = "$want" ] && return 0
        sleep 0.1
    done
    return 1
}

publish "$T/crl.pem" || fail "publish the CRLs"
check "the published file holds two CRLs" test "$(grep -c 'BEGIN X509 CRL' "$T/crl.pem")" -eq 2
# Ports below the ephemeral range; a port another test grabbed between the
# pick and the bind is retried with new ones (a bounded number of times).
started=0
for _ in 1 2 3 4 5; do
    UP=$(free_port)
    PX=$(free_port)
    while [ "$PX" = "$UP" ]; do PX=$(free_port); done
    write_conf
    rm -f "$P/logs/error.log"
    if nginx_start "$P" 2>"$T/nginx-start.err"; then
        started=1
        break
    fi
    grep -q "Address already in use" "$T/nginx-start.err" || break
done
if [ "$started" = 1 ]; then pass "nginx starts"; else
    fail "nginx starts"
    cat "$T/nginx-start.err" "$P/logs/error.log"
    done_testing
fi
if wait_code 200 "http://127.0.0.1:$PX/"; then pass "valid upstream with proxy_ssl_crl: 200"; else fail "valid upstream: $(http_code "http://127.0.0.1:$PX/")"; fi

# Only the intermediate's CRL: nginx cannot check the intermediate itself.
publish "$T/crl.pem" --no-root || fail "publish the intermediate CRL"
nginx_reload_settled "$P" || fail "nginx reload settles"
if wait_code 502 "http://127.0.0.1:$PX/"; then pass "without the root's CRL: 502"; else fail "without root CRL: $(http_code "http://127.0.0.1:$PX/")"; fi
check "nginx logs the missing CRL" grep -q "unable to get certificate CRL" "$P/logs/error.log"
publish "$T/crl.pem" || fail "publish both CRLs"
nginx_reload_settled "$P" || fail "nginx reload settles"
if wait_code 200 "http://127.0.0.1:$PX/"; then pass "both CRLs again: 200"; else fail "both CRLs again: $(http_code "http://127.0.0.1:$PX/")"; fi

# Revoke the upstream: the old CRL still says 200 until a new one is published.
run "$MINICA" revoke up.internal.svc --dir "$ca" --reason keyCompromise
expect_ok "revoke the upstream"
code=$(http_code "http://127.0.0.1:$PX/")
if [ "$code" = 200 ]; then pass "before publishing, nginx still accepts (200)"; else fail "before publishing: $code"; fi
publish "$T/crl.pem" || fail "publish after revoke"
nginx_reload_settled "$P" || fail "nginx reload settles"
if wait_code 502 "http://127.0.0.1:$PX/"; then pass "revoked upstream after reload: 502"; else fail "revoked upstream: $(http_code "http://127.0.0.1:$PX/")"; fi
check "nginx logs the revocation" grep -q "certificate revoked" "$P/logs/error.log"

# A fresh certificate for the upstream restores service.
run "$MINICA" issue up.internal.svc --dir "$ca" --out "$C" --san 127.0.0.1
expect_ok "re-issue the upstream's certificate"
publish "$T/crl.pem" || fail "publish after re-issue"
nginx_reload_settled "$P" || fail "nginx reload settles"
if wait_code 200 "http://127.0.0.1:$PX/"; then pass "re-issued upstream: 200"; else fail "re-issued upstream: $(http_code "http://127.0.0.1:$PX/")"; fi

nginx_stop "$P"
done_testing
