# Helpers for driving real ACME clients (certbot, lego, uacme from Debian)
# against `minica serve`'s /acme/ (issue 16). Source it, call acme_isolate,
# then source common.sh (its helpers are used here at call time). Every
# client keeps its state under $T, trusts minica's root only for the ACME
# connection (the way its users would give it a CA bundle), and is run with
# a time limit; servers started here are tracked and stopped at exit.

# The validator dials http-01 on port 80 and tls-alpn-01 on 443 (RFC 8555
# 8.3, RFC 8737 3). Two ways to let a test's clients answer there:
#
# 1. A network namespace of its own (root with unshare -n, see
#    acme_isolate): only this test's loopback, where 80 and 443 are free and
#    no other test's ports clash. The installed binary ($MINICA) is tested,
#    with the ports a real deployment has. Used whenever it is possible.
# 2. Otherwise the validator's test-only port setting: the test build
#    (minica-fakeclock, $MINICA_FAKECLOCK) reads these two environment
#    variables in serve (tests/support/acme_test_ports.c); the installed
#    binary has no such hook and dials 80 and 443 whatever they say.
acme_validator_env() { # acme_validator_env HTTP_PORT TLS_PORT: NAME=VALUE words for env(1)
    echo "MINICA_ACME_TEST_HTTP_PORT=$1 MINICA_ACME_TEST_TLS_PORT=$2"
}
# acme_isolate SCRIPT ARGS...: re-runs the test in a network namespace of
# its own with loopback up (way 1); returns when that is not possible, or
# with ACME_NETNS=no (to run way 2). Call before common.sh, with "$0" "$@".
acme_isolate() {
    case ${ACME_NETNS:-} in 1 | no) return 0 ;; esac
    [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null || return 0
    # shellcheck disable=SC2016 # expanded by the inner bash
    ACME_NETNS=1 exec unshare -n bash -c 'ip link set lo up && exec bash "$@"' bash "$@"
}
if [ "${ACME_NETNS:-}" = 1 ]; then
    ACME_SERVE_BIN=$MINICA
    ACME_CHALLENGE_HTTP_PORT=80
    ACME_CHALLENGE_TLS_PORT=443
else
    ACME_SERVE_BIN=${MINICA_FAKECLOCK:-$MINICA}
    ACME_CHALLENGE_HTTP_PORT=
    ACME_CHALLENGE_TLS_PORT=
fi

# A client run gets this long; a hung client is a failure, not a hung test.
ACME_CLIENT_TIMEOUT=${ACME_CLIENT_TIMEOUT:-180}

# ACME_HOSTS: "ADDRESS NAME" lines the validator (serve) resolves, for
# clients that refuse a dotless name like localhost (uacme). They are added
# to /etc/hosts in serve's own mount namespace only: the host's file is
# untouched and no other process sees them. Empty, or without unshare:
# serve runs as it is.
ACME_HOSTS=${ACME_HOSTS:-}
acme_with_hosts() { # acme_with_hosts CMD...: exec CMD, with ACME_HOSTS if set
    if [ -z "$ACME_HOSTS" ] || ! acme_can_unshare; then
        exec "$@"
    fi
    { cat /etc/hosts; printf '%s\n' "$ACME_HOSTS"; } >"$T/hosts"
    # shellcheck disable=SC2016 # expanded by the inner sh
    exec unshare -m sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$T/hosts" "$@"
}

# acme_serve_start CA_DIR NAME [SAN]: starts `minica serve` for CA_DIR on a
# free port with its own TLS certificate (for 127.0.0.1 and SAN, default
# localhost); the validator dials the ports chosen above. Sets, prefixed
# NAME_: PORT, URL, DIRECTORY (the ACME directory URL), HTTP_PORT (where
# http-01 is dialed), TLS_PORT (tls-alpn-01), LOG (serve's stderr), PID.
# Retries on a port race.
# ACME is switched on in CA_DIR/minica.conf unless it already has an [acme]
# section: EAB optional, the validator allowed to dial loopback only.
acme_serve_start() {
    local ca=$1 name=$2 san=${3:-localhost} port http tls log pid
    grep -q '^\[acme\]' "$ca/minica.conf" ||
        printf '[acme]\nenabled = yes\neab = optional\nvalidate_ip = 127.0.0.0/8, ::1/128\n' \
            >>"$ca/minica.conf"
    for _ in 1 2 3; do
        port=$(free_port)
        http=${ACME_CHALLENGE_HTTP_PORT:-$(free_port)}
        tls=${ACME_CHALLENGE_TLS_PORT:-$(free_port)}
        log=$T/serve-$name.log
        # shellcheck disable=SC2046
        acme_with_hosts env $(acme_validator_env "$http" "$tls") "$ACME_SERVE_BIN" serve \
            --dir "$ca" --listen "127.0.0.1:$port" --san "$san" --timeout 10s 2>"$log" &
        pid=$!
        track_pid "$pid"
        for _ in $(seq 1 100); do
            if [ "$(http_code "https://127.0.0.1:$port/v1/health" --cacert "$ca/root.crt")" = 200 ]; then
                printf -v "${name}_PORT" %s "$port"
                printf -v "${name}_URL" %s "https://127.0.0.1:$port"
                printf -v "${name}_DIRECTORY" %s "https://127.0.0.1:$port/acme/directory"
                printf -v "${name}_HTTP_PORT" %s "$http"
                printf -v "${name}_TLS_PORT" %s "$tls"
                printf -v "${name}_LOG" %s "$log"
                printf -v "${name}_PID" %s "$pid"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        grep -q "in use" "$log" || break
    done
    echo "# serve did not start: $(tail -n 3 "$log" | tr '\n' ' ')"
    return 1
}

# acme_directory_url NAME: the directory URL of the server started as NAME.
acme_directory_url() {
    local v=${1}_DIRECTORY
    echo "${!v}"
}

# acme_directory_ok ROOT URL: the directory answers 200 with JSON naming
# newNonce, newAccount and newOrder.
acme_directory_ok() {
    local body
    body=$(curl -sf --max-time 10 --cacert "$1" "$2") || return 1
    printf '%s' "$body" | jq -e '.newNonce and .newAccount and .newOrder' >/dev/null
}

# acme_log_mark LOG: the current length of a serve log, for acme_log_since.
acme_log_mark() { wc -l <"$1"; }
# acme_log_since LOG MARK: the ACME requests logged after MARK, one
# "METHOD PATH STATUS" a line with the ids cut to their kind: which
# endpoint a client got to and what it was answered.
acme_log_since() {
    tail -n "+$(($2 + 1))" "$1" | grep -Eo '(GET|POST|HEAD) /acme/[^ ]* [0-9]{3}' |
        sed -E 's#(/acme/[a-z-]+/)[A-Za-z0-9_-]+#\1ID#' | uniq -c | sed 's/^ *//'
}
# acme_reached LOG MARK: the last ACME request logged after MARK, e.g.
# "POST /acme/new-order 404" (or "no ACME request").
acme_reached() {
    local last
    last=$(acme_log_since "$1" "$2" | tail -n 1 | cut -d' ' -f2-)
    echo "${last:-no ACME request}"
}

# --- certbot: the CA bundle in REQUESTS_CA_BUNDLE (python-requests), as a
# certbot user with a private CA sets it, for every run including renew.
# certbot_run ROOT STATE ARGS...: every directory certbot writes is in STATE.
certbot_run() {
    local root=$1 state=$2
    shift 2
    mkdir -p "$state"
    REQUESTS_CA_BUNDLE=$root timeout "$ACME_CLIENT_TIMEOUT" certbot --non-interactive \
        --config-dir "$state/config" --work-dir "$state/work" --logs-dir "$state/logs" "$@"
}

# --- lego: the CA bundle in LEGO_CA_CERTIFICATES; state in --path.
# lego_run ROOT STATE ARGS...
lego_run() {
    local root=$1 state=$2
    shift 2
    mkdir -p "$state"
    LEGO_CA_CERTIFICATES=$root timeout "$ACME_CLIENT_TIMEOUT" lego --path "$state" "$@"
}

# --- uacme: it has no CA-file option and its libcurl (GnuTLS) reads only
# the compiled-in bundle, /etc/ssl/certs/ca-certificates.crt; a uacme user
# adds the root to the system store. Here that store is replaced by
# minica's root in a private mount namespace, so the host's is untouched.
acme_can_unshare() { unshare -m true 2>/dev/null; }
# uacme_run ROOT CONFDIR ARGS...
uacme_run() {
    local root=$1 confdir=$2
    shift 2
    mkdir -p "$confdir"
    # shellcheck disable=SC2016 # expanded by the inner sh
    timeout "$ACME_CLIENT_TIMEOUT" unshare -m sh -c \
        'mount --bind "$1" /etc/ssl/certs/ca-certificates.crt && shift && exec "$@"' \
        sh "$root" uacme --confdir "$confdir" "$@"
}
# acme_uacme_hook FILE WEBROOT: writes uacme's hook (uacme(1) "hook"): for
# http-01 it puts the key authorization where the webroot server serves
# it; other challenge types are declined (exit 1), so uacme picks http-01.
acme_uacme_hook() {
    local file=$1 webroot=$2
    mkdir -p "$webroot/.well-known/acme-challenge"
    cat >"$file" <<HOOK
#!/bin/sh
# uacme hook: METHOD TYPE IDENT TOKEN AUTH
[ "\$2" = http-01 ] || exit 1
f="$webroot/.well-known/acme-challenge/\$4"
case "\$1" in
begin) printf '%s' "\$5" >"\$f" ;;
done | failed) rm -f "\$f" ;;
*) exit 1 ;;
esac
HOOK
    chmod 755 "$file"
}
# acme_webroot_start WEBROOT PORT: a python3 http server for WEBROOT on
# 127.0.0.1:PORT (tracked); fails when it does not answer within 10 s.
acme_webroot_start() {
    local webroot=$1 port=$2
    python3 -m http.server "$port" --bind 127.0.0.1 --directory "$webroot" \
        >"$T/webroot-$port.log" 2>&1 &
    ACME_WEBROOT_PID=$!
    track_pid "$ACME_WEBROOT_PID"
    for _ in $(seq 1 100); do
        [ "$(http_code "http://127.0.0.1:$port/")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}
acme_webroot_stop() {
    kill "$ACME_WEBROOT_PID" 2>/dev/null
    wait "$ACME_WEBROOT_PID" 2>/dev/null
}

# --- checks of what a client got, with tools we did not write

# acme_leaf CHAIN OUT: the first certificate of a PEM chain.
acme_leaf() { openssl x509 -in "$1" -out "$2" 2>/dev/null; }
# acme_verify ROOT CHAIN NAME: the chain's leaf verifies under ROOT with the
# rest as intermediates, for NAME (a DNS name or an IP address).
acme_verify() {
    local root=$1 chain=$2 name=$3 leaf
    leaf=$(mktemp "$T/leaf.XXXXXX")
    acme_leaf "$chain" "$leaf" || return 1
    case $name in
    *[!0-9.]* | '') openssl verify -CAfile "$root" -untrusted "$chain" -verify_hostname "$name" "$leaf" ;;
    *) openssl verify -CAfile "$root" -untrusted "$chain" -verify_ip "$name" "$leaf" ;;
    esac
}
# acme_serial CHAIN: the leaf's serial as minica list prints it.
acme_serial() {
    local leaf
    leaf=$(mktemp "$T/leaf.XXXXXX")
    acme_leaf "$1" "$leaf" && serial_of "$leaf"
}
# acme_status CA SERIAL: the inventory's status for SERIAL (valid, revoked,
# ...), empty when minica never issued it.
acme_status() {
    "$MINICA" list --dir "$1" --status all --json |
        jq -r --arg s "$2" '.[] | select((.serial | ascii_downcase | sub("^0+"; "")) == ($s | sub("^0+"; ""))) | .status'
}
# acme_audited CA SERIAL WORDS: an audit row names SERIAL and WORDS (the
# origin serve gives ACME: "acme ACCOUNT order ID", "acme ... revokeCert").
acme_audited() {
    "$MINICA" log --dir "$1" | grep -F -- "$2" | grep -Eq -- "$3"
}
# acme_nothing_issued CA NAME: no certificate in the inventory carries NAME.
acme_nothing_issued() {
    [ "$("$MINICA" list "$2" --dir "$1" --status all --json | jq length)" = 0 ]
}

# acme_nginx_proxy ROOT CHAIN KEY NAME: nginx serves CHAIN/KEY on TLS and a
# second nginx server proxies to it with proxy_ssl_verify on, trusting only
# ROOT and checking NAME; succeeds when a request through the proxy is 200.
acme_nginx_proxy() {
    local root=$1 chain=$2 key=$3 name=$4 np up px code
    np=$(mktemp -d "$T/nginx.XXXXXX")
    up=$(free_port)
    px=$(free_port)
    {
        nginx_conf_head
        cat <<NGINX
http {
    access_log off;
    server {
        listen 127.0.0.1:$up ssl;
        ssl_certificate $chain;
        ssl_certificate_key $key;
        location / { return 200 "upstream ok\n"; }
    }
    server {
        listen 127.0.0.1:$px;
        location / {
            proxy_pass https://127.0.0.1:$up;
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 2;
            proxy_ssl_trusted_certificate $root;
            proxy_ssl_server_name on;
            proxy_ssl_name $name;
        }
    }
}
NGINX
    } >"$np/nginx.conf"
    nginx_start "$np" || {
        echo "# nginx: $(tail -n 3 "$np/logs/error.log" | tr '\n' ' ')"
        return 1
    }
    code=$(http_code "http://127.0.0.1:$px/")
    nginx_stop "$np"
    [ "$code" = 200 ] || {
        echo "# nginx proxy answered $code: $(tail -n 2 "$np/logs/error.log" | tr '\n' ' ')"
        return 1
    }
}
