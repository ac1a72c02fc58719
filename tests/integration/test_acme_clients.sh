# ACME (issue 16) with the real clients from Debian: certbot, lego and uacme
# each register an account, get a certificate by http-01 (lego also by
# tls-alpn-01), renew it and revoke it against `minica serve`'s /acme/ on
# loopback. What they get must verify under minica's root with openssl, be
# served by nginx to a proxy that checks it (proxy_ssl_verify on, minica's
# root only) and be in the inventory (minica list), revoked at the end. A
# name outside the policy is refused with rejectedIdentifier by each client,
# and nothing is issued.
#
# Names: what reaches this machine's loopback for the validator without
# touching /etc/hosts. certbot and lego get "localhost" (in every
# /etc/hosts). certbot 2.1 refuses IP identifiers ("will not issue
# certificates for a bare IP address") and lego 4.9 sends 127.0.0.1 as a
# dns identifier (which the server rightly refuses: rejectedIdentifier), so
# neither gets the IP. uacme refuses a dotless name ("has no dots"), so it
# gets acme.test (RFC 2606), which only serve resolves, to 127.0.0.1, from a
# hosts file in its own mount namespace (ACME_HOSTS), and the IP
# identifier 127.0.0.1 (RFC 8738), which it supports. nginx checks the DNS
# name (it ignores IP SANs, see test_nginx_ip_name.sh).
#
# Ports: as root the test runs in a network namespace of its own, where the
# validator dials the real 80 and 443 of a loopback nobody else shares, and
# the installed binary is tested; otherwise it moves them (lib/acme.sh).
#
# Each client's steps run in order and a client stops at its first failure;
# the summary at the end says which step each one reached and the last ACME
# request the server answered for it.
: "${SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
source "$SRCDIR/tests/integration/lib/acme.sh"
acme_isolate "$0" "$@"
source "$SRCDIR/tests/integration/lib/common.sh"

declare -A REACHED STOPPED
# step CLIENT WHAT: passes when the last run (RC) succeeded and records WHAT
# as reached; otherwise fails with the client's last words and the last ACME
# request the server logged since MARK, and returns 1.
step() {
    local client=$1 what=$2
    if [ "$RC" -eq 0 ]; then
        pass "$client: $what"
        REACHED[$client]="$what"
        return 0
    fi
    STOPPED[$client]="$what (server last answered: $(acme_reached "$LOG" "$MARK"))"
    fail "$client: $what: exit $RC; server last answered '$(acme_reached "$LOG" "$MARK")'; client: $(client_said)"
    return 1
}
# client_said: what the last run said about the error (problem types and
# details first), on one line.
client_said() {
    local all
    all=$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -v '^$')
    # certbot keeps the server's problem document in its log only.
    [ -n "${CLIENT_LOG:-}" ] && [ -f "$CLIENT_LOG" ] &&
        all=$(grep -Eo '\{"type": ?"urn:ietf:params:acme:error:[^}]*\}' "$CLIENT_LOG" | tail -n 1
            printf '%s\n' "$all")
    { printf '%s\n' "$all" | grep -E 'urn:ietf|[Dd]etail|"type"' | head -n 4
      printf '%s\n' "$all" | tail -n 2; } | tr '\n' ' '
}
# need CLIENT WHAT CMD...: a check that is also a step.
need() {
    local client=$1 what=$2
    shift 2
    OUT=$("$@" 2>&1)
    RC=$?
    ERR=
    step "$client" "$what"
}

CA=$T/ca
run "$MINICA" init --dir "$CA"
expect_ok "init the CA"
ROOT=$CA/root.crt
UNAME=acme.test
ACME_HOSTS="127.0.0.1 $UNAME"
if ! acme_serve_start "$CA" S; then
    fail "minica serve starts"
    done_testing
fi
LOG=$S_LOG
DIR_URL=$(acme_directory_url S)
echo "# ACME directory: $DIR_URL; validator ports http-01 $S_HTTP_PORT, tls-alpn-01 $S_TLS_PORT;" \
    "$([ "${ACME_NETNS:-}" = 1 ] && echo "a network namespace of its own, ")serve is $ACME_SERVE_BIN"
check "serve logs an ACME directory URL on its port" grep -Eq "ACME directory: https://[^ ]*:$S_PORT/acme/directory" "$LOG"
check "the directory is JSON naming newNonce, newAccount and newOrder" acme_directory_ok "$ROOT" "$DIR_URL"

# --- certbot: standalone http-01, the CA bundle in REQUESTS_CA_BUNDLE ---------
certbot_flow() {
    local st=$T/certbot live serial renewed
    live=$st/config/live/localhost
    CLIENT_LOG=$st/logs/letsencrypt.log
    MARK=$(acme_log_mark "$LOG")
    REACHED[certbot]="nothing"
    run certbot_run "$ROOT" "$st" register --server "$DIR_URL" --agree-tos \
        --register-unsafely-without-email
    step certbot "register an account" || return
    run certbot_run "$ROOT" "$st" certonly --server "$DIR_URL" --standalone \
        --http-01-address 127.0.0.1 --http-01-port "$S_HTTP_PORT" -d localhost
    step certbot "issue for localhost (http-01)" || return
    need certbot "the certificate verifies under minica's root for localhost" \
        acme_verify "$ROOT" "$live/fullchain.pem" localhost || return
    need certbot "its key is the one certbot made" key_matches "$live/privkey.pem" "$live/cert.pem" || return
    serial=$(acme_serial "$live/cert.pem")
    need certbot "minica list has it valid" test "$(acme_status "$CA" "$serial")" = valid || return
    need certbot "audited as an ACME order" acme_audited "$CA" "$serial" "acme [^ ]+ order " || return
    need certbot "nginx serves it and a verifying proxy gets 200" \
        acme_nginx_proxy "$ROOT" "$live/fullchain.pem" "$live/privkey.pem" localhost || return
    # renew reads the server and port from certbot's renewal file; the CA
    # bundle comes from the environment again, as under certbot.timer.
    # Without a terminal certbot first sleeps up to 8 minutes at random
    # (spreading renewals out): past the client timeout.
    run certbot_run "$ROOT" "$st" renew --force-renewal --no-random-sleep-on-renew
    step certbot "renew" || return
    renewed=$(acme_serial "$live/cert.pem")
    need certbot "renewal is a new certificate" test -n "$renewed" -a "$renewed" != "$serial" || return
    need certbot "the renewed certificate verifies" acme_verify "$ROOT" "$live/fullchain.pem" localhost || return
    run certbot_run "$ROOT" "$st" revoke --server "$DIR_URL" --cert-path "$live/cert.pem" \
        --reason keycompromise --no-delete-after-revoke
    step certbot "revoke" || return
    need certbot "minica list has the renewed certificate revoked" \
        test "$(acme_status "$CA" "$renewed")" = revoked || return
    need certbot "the revocation is audited as ACME's" acme_audited "$CA" "$renewed" "acme .*revokeCert" || return
    need certbot "the first certificate is still valid" test "$(acme_status "$CA" "$serial")" = valid
}
certbot_flow
CLIENT_LOG=

# --- lego: http-01 and tls-alpn-01, the CA bundle in LEGO_CA_CERTIFICATES -------
lego_flow() {
    local st=$T/lego c serial renewed
    local common=(--server "$DIR_URL" --accept-tos --email lego@example.com)
    c=$st/certificates
    MARK=$(acme_log_mark "$LOG")
    REACHED[lego]="nothing"
    run lego_run "$ROOT" "$st" "${common[@]}" --http --http.port "127.0.0.1:$S_HTTP_PORT" \
        -d localhost run
    # lego registers inside run; its account file says whether that part worked.
    if compgen -G "$st/accounts/*/lego@example.com/account.json" >/dev/null; then
        pass "lego: register an account"
        REACHED[lego]="register an account"
    fi
    step lego "issue for localhost (http-01)" || return
    need lego "the certificate verifies for localhost" acme_verify "$ROOT" "$c/localhost.crt" localhost || return
    need lego "its key is the one lego made" key_matches "$c/localhost.key" "$c/localhost.crt" || return
    serial=$(acme_serial "$c/localhost.crt")
    need lego "minica list has it valid" test "$(acme_status "$CA" "$serial")" = valid || return
    need lego "audited as an ACME order" acme_audited "$CA" "$serial" "acme [^ ]+ order " || return
    need lego "nginx serves it and a verifying proxy gets 200" \
        acme_nginx_proxy "$ROOT" "$c/localhost.crt" "$c/localhost.key" localhost || return
    run lego_run "$ROOT" "$st" "${common[@]}" --http --http.port "127.0.0.1:$S_HTTP_PORT" \
        -d localhost renew --days 3650 --no-random-sleep
    step lego "renew" || return
    renewed=$(acme_serial "$c/localhost.crt")
    need lego "renewal is a new certificate" test -n "$renewed" -a "$renewed" != "$serial" || return
    need lego "the renewed certificate verifies" acme_verify "$ROOT" "$c/localhost.crt" localhost || return
    run lego_run "$ROOT" "$st" "${common[@]}" -d localhost revoke --keep --reason 4
    step lego "revoke" || return
    need lego "minica list has the renewed certificate revoked" \
        test "$(acme_status "$CA" "$renewed")" = revoked || return
    need lego "the revocation is audited as ACME's" acme_audited "$CA" "$renewed" "acme .*revokeCert"
}
lego_flow

# tls-alpn-01 in a lego state of its own, so that its certificate for
# localhost does not replace the http-01 one.
lego_tls_flow() {
    local st=$T/lego-tls serial
    local common=(--server "$DIR_URL" --accept-tos --email lego@example.com)
    MARK=$(acme_log_mark "$LOG")
    REACHED[lego-tls-alpn]="nothing"
    run lego_run "$ROOT" "$st" "${common[@]}" --tls --tls.port "127.0.0.1:$S_TLS_PORT" -d localhost run
    step lego-tls-alpn "issue for localhost (tls-alpn-01)" || return
    need lego-tls-alpn "the certificate verifies for localhost" \
        acme_verify "$ROOT" "$st/certificates/localhost.crt" localhost || return
    serial=$(acme_serial "$st/certificates/localhost.crt")
    need lego-tls-alpn "minica list has it valid" test "$(acme_status "$CA" "$serial")" = valid
}
lego_tls_flow

# --- uacme: a hook writes the token, python3 serves it; the root in the
# system store of a private mount namespace (uacme has no CA option) ----------
uacme_flow() {
    local conf=$T/uacme hook=$T/uacme-hook serial renewed
    local common=(--acme-url "$DIR_URL" --type EC --verbose --no-ocsp)
    MARK=$(acme_log_mark "$LOG")
    REACHED[uacme]="nothing"
    run uacme_run "$ROOT" "$conf" "${common[@]}" --yes new
    step uacme "register an account" || return
    run uacme_run "$ROOT" "$conf" "${common[@]}" --hook "$hook" issue "$UNAME" 127.0.0.1
    step uacme "issue for $UNAME and 127.0.0.1 (http-01 by hook)" || return
    need uacme "the certificate verifies for $UNAME" acme_verify "$ROOT" "$conf/$UNAME/cert.pem" "$UNAME" || return
    need uacme "the certificate verifies for 127.0.0.1" acme_verify "$ROOT" "$conf/$UNAME/cert.pem" 127.0.0.1 || return
    need uacme "its key is the one uacme made" key_matches "$conf/private/$UNAME/key.pem" "$conf/$UNAME/cert.pem" || return
    serial=$(acme_serial "$conf/$UNAME/cert.pem")
    need uacme "minica list has it valid" test "$(acme_status "$CA" "$serial")" = valid || return
    need uacme "audited as an ACME order" acme_audited "$CA" "$serial" "acme [^ ]+ order " || return
    need uacme "nginx serves it and a verifying proxy gets 200" \
        acme_nginx_proxy "$ROOT" "$conf/$UNAME/cert.pem" "$conf/private/$UNAME/key.pem" "$UNAME" || return
    run uacme_run "$ROOT" "$conf" "${common[@]}" --hook "$hook" --force issue "$UNAME" 127.0.0.1
    step uacme "renew (--force)" || return
    renewed=$(acme_serial "$conf/$UNAME/cert.pem")
    need uacme "renewal is a new certificate" test -n "$renewed" -a "$renewed" != "$serial" || return
    need uacme "the renewed certificate verifies" acme_verify "$ROOT" "$conf/$UNAME/cert.pem" "$UNAME" || return
    run uacme_run "$ROOT" "$conf" "${common[@]}" --reason 5 revoke "$conf/$UNAME/cert.pem"
    step uacme "revoke" || return
    need uacme "minica list has the renewed certificate revoked" \
        test "$(acme_status "$CA" "$renewed")" = revoked || return
    need uacme "the revocation is audited as ACME's" acme_audited "$CA" "$renewed" "acme .*revokeCert"
}
if ! acme_can_unshare; then
    echo "skip - uacme: needs a private mount namespace (root with CAP_SYS_ADMIN) to trust the root"
    REACHED[uacme]="skipped (no unshare)"
elif ! acme_uacme_hook "$T/uacme-hook" "$T/uacme-web" || ! acme_webroot_start "$T/uacme-web" "$S_HTTP_PORT"; then
    fail "uacme: the python3 http-01 server starts on $S_HTTP_PORT"
else
    uacme_flow
    acme_webroot_stop
fi

# --- refusals: a name outside the policy ---------------------------------------
# A CA for internal.svc and 127.0.0.0/8 only (its server's own certificate is
# for ca.internal.svc and 127.0.0.1): example.com must be refused at the
# order with rejectedIdentifier by whichever client asks, and nothing issued.
RCA=$T/rca
run "$MINICA" init --dir "$RCA" --permit-dns internal.svc --permit-ip 127.0.0.0/8
expect_ok "init a CA for internal.svc only"
if acme_serve_start "$RCA" R ca.internal.svc; then
    LOG=$R_LOG
    RDIR=$(acme_directory_url R)
    # refused CLIENT WHAT NAME: the last run failed, said rejectedIdentifier
    # (its output, or FILE), and the inventory has nothing for NAME.
    refused() {
        local client=$1 what=$2 name=$3 said=${4:-}
        if [ "$RC" -ne 0 ] && printf '%s\n%s\n' "$OUT" "$ERR" | cat - ${said:+"$said"} 2>/dev/null |
            grep -q 'rejectedIdentifier'; then
            pass "$client: $what is refused with rejectedIdentifier"
        else
            fail "$client: $what: exit $RC without rejectedIdentifier; server last answered '$(acme_reached "$LOG" "$MARK")'; client: $(client_said)"
        fi
        check "$client: nothing issued for $name" acme_nothing_issued "$RCA" "$name"
    }
    ROOT_R=$RCA/root.crt
    MARK=$(acme_log_mark "$LOG")
    run certbot_run "$ROOT_R" "$T/certbot-r" register --server "$RDIR" --agree-tos \
        --register-unsafely-without-email
    if step certbot-refusal "register at the internal.svc CA"; then
        run certbot_run "$ROOT_R" "$T/certbot-r" certonly --server "$RDIR" --standalone \
            --http-01-address 127.0.0.1 --http-01-port "$R_HTTP_PORT" -d example.com
        refused certbot "example.com" example.com "$T/certbot-r/logs/letsencrypt.log"
    fi

    MARK=$(acme_log_mark "$LOG")
    run lego_run "$ROOT_R" "$T/lego-r" --server "$RDIR" --accept-tos --email lego@example.com \
        --http --http.port "127.0.0.1:$R_HTTP_PORT" -d example.com run
    refused lego "example.com" example.com
    run lego_run "$ROOT_R" "$T/lego-r" --server "$RDIR" --accept-tos --email lego@example.com \
        --http --http.port "127.0.0.1:$R_HTTP_PORT" -d 10.9.9.9 run
    refused lego "10.9.9.9 (outside permit_ip)" 10.9.9.9

    if acme_can_unshare; then
        MARK=$(acme_log_mark "$LOG")
        acme_uacme_hook "$T/uacme-r-hook" "$T/uacme-r-web"
        run uacme_run "$ROOT_R" "$T/uacme-r" --acme-url "$RDIR" --type EC --verbose --yes new
        if step uacme-refusal "register at the internal.svc CA"; then
            run uacme_run "$ROOT_R" "$T/uacme-r" --acme-url "$RDIR" --type EC --verbose \
                --hook "$T/uacme-r-hook" issue example.com
            refused uacme "example.com" example.com
        fi
    fi
else
    fail "minica serve starts for the internal.svc CA"
fi

for c in certbot lego lego-tls-alpn uacme certbot-refusal uacme-refusal; do
    echo "# $c reached: ${REACHED[$c]:-nothing}${STOPPED[$c]:+; failed at: ${STOPPED[$c]}}"
done
done_testing
