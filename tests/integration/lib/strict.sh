# shellcheck shell=bash
# The strict verifiers for the integration tests, sourced after common.sh:
# headless Chromium (its own path builder, local roots from an NSS database)
# loading pages from `openssl s_server`, and webpki (the verifier behind
# rustls), built offline. Both refuse an ecdsa-with-SHA256
# AlgorithmIdentifier followed by NULL (issue 13), which OpenSSL, GnuTLS,
# NSS and mbedTLS accept.
#
# A script that runs Chromium re-executes itself in a network namespace
# before common.sh (see test_strict_verifier.sh): Chromium calls Google at
# start whatever its flags say.
#
#   chromium_ready    0 when chromium and certutil are here; HOME is then an
#                     empty NSS database for trust, browse, expect_browse
#                     (nss_fresh NAME switches to another one)
#   webpki_ready      0 when webpki-verify is built; then webpki_expect

: "${T:?source common.sh first}"

# --- Chromium ------------------------------------------------------------------
# browser_port: a free port Chromium agrees to connect to (it refuses a fixed
# list of "unsafe" ports; 10080 is the one in free_port's range).
browser_port() {
    local p
    while :; do
        p=$(free_port)
        [ "$p" != 10080 ] && echo "$p" && return
    done
}
# tls_serve CERT CHAIN KEY: `openssl s_server -www` on 127.0.0.1 with CERT and
# the intermediates in CHAIN; its port in $port (not printed: a command
# substitution would lose track_pid). s_server -cert reads one certificate
# only, so the chain goes to -cert_chain.
tls_serve() {
    local cert=$1 chain=$2 key=$3 pid
    for _ in 1 2 3; do
        port=$(browser_port)
        openssl s_server -accept "127.0.0.1:$port" -cert "$cert" -cert_chain "$chain" -key "$key" \
            -www -quiet </dev/null >/dev/null 2>>"$T/s_server.log" &
        pid=$!
        for _ in $(seq 1 50); do
            if ss -Htln "sport = :$port" | grep -q .; then
                track_pid "$pid"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null
    done
    port=0
    return 1
}
# trust ROOT NICK: the root becomes a trusted CA for TLS servers in Chromium's
# NSS database ($HOME/.pki/nssdb), as an administrator would add it.
trust() { certutil -A -d "sql:$HOME/.pki/nssdb" -n "$2" -t "C,," -i "$1"; }

# browse HOST PORT [PATH] [MARKER]: loads https://HOST:PORT/PATH in headless
# Chromium, HOST resolving to 127.0.0.1 and every other name to nothing.
# Prints "ok" when the page holds MARKER (default: s_server's -www page),
# else the net::ERR_ code Chromium gives. Each load has a fresh profile (no
# cached verification); its net log stays in $T/netlog.HOST.PORT.json.
browse() {
    local host=$1 port=$2 path=${3:-} marker=${4:-s_server} tag="$1.$2" err
    timeout 45 chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
        --no-default-browser-check --disable-background-networking --disable-component-update \
        --disable-sync --disable-default-apps --disable-domain-reliability --disable-breakpad \
        --no-pings --dns-prefetch-disable --user-data-dir="$T/profile.$tag" \
        --host-resolver-rules="MAP $host 127.0.0.1, MAP * ~NOTFOUND" \
        --log-net-log="$T/netlog.$tag.json" --dump-dom "https://$host:$port/$path" \
        >"$T/dom.$tag" 2>"$T/chromium.$tag.log"
    if grep -qF -- "$marker" "$T/dom.$tag"; then
        echo ok
        return
    fi
    err=$(grep -o 'net::ERR_[A-Z_]*' "$T/chromium.$tag.log" | head -n 1)
    echo "${err:-no page (see $T/chromium.$tag.log)}"
}
# why HOST PORT: Chromium's own reason for the last refusal, from its net log.
why() {
    grep -o 'ERROR: [^\\"]*' "$T/netlog.$1.$2.json" 2>/dev/null | sort -u | head -n 3 | tr '\n' ';'
}
# expect_browse DESCRIPTION WANT HOST PORT [PATH] [MARKER]: WANT is ok or a net::ERR_ code.
expect_browse() {
    local what=$1 want=$2 got
    shift 2
    got=$(browse "$@")
    if [ "$got" = "$want" ]; then
        pass "$what ($got)"
    else
        fail "$what: Chromium says $got, wanted $want; net log: $(why "$1" "$2")"
    fi
}
# ossl_chain DIR NAME: an OpenSSL-made EC root DIR/root.crt and a server
# leaf for NAME (DIR/leaf.crt, DIR/leaf.key) signed by it directly.
ossl_chain() {
    local d=$1 name=$2
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/root.key" \
        -out "$d/root.crt" -subj "/CN=strict control root $name" -days 2 \
        -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/leaf.key" \
            -out "$d/leaf.csr" -subj "/CN=$name" &&
        printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\n' \
            "$name" >"$d/ext" &&
        openssl x509 -req -in "$d/leaf.csr" -CA "$d/root.crt" -CAkey "$d/root.key" \
            -set_serial "0x$(openssl rand -hex 8)" -days 1 -extfile "$d/ext" -out "$d/leaf.crt"
} 2>/dev/null
# der PEM: the first certificate of PEM, in DER, next to it (PEM.der).
der() { openssl x509 -in "$1" -outform DER -out "$1.der" && echo "$1.der"; }

chromium_ready() {
    command -v chromium >/dev/null && command -v certutil >/dev/null || return 1
    nss_fresh home
}
# nss_fresh NAME: HOME becomes $T/NAME, with an NSS database that trusts
# nothing yet: a relying party that has not heard of any root.
nss_fresh() {
    export HOME=$T/$1
    mkdir -p "$HOME/.pki/nssdb"
    certutil -N -d "sql:$HOME/.pki/nssdb" --empty-password
}

# --- webpki ----------------------------------------------------------------------
# Built offline from Debian's packaged crates (librust-webpki-dev installs
# them as a directory registry); crates.io is never asked. Built in the build
# tree so that later runs reuse it.
WV_TARGET=${BUILDDIR:-$T}/webpki-verify
WV=$WV_TARGET/release/webpki-verify
build_webpki_verify() {
    mkdir -p "$T/cargo-home" "$T/wv"
    printf '[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "/usr/share/cargo/registry"\n[net]\noffline = true\n' \
        >"$T/cargo-home/config.toml"
    # A copy, so that Cargo.lock is not written into the source tree.
    cp -r "$SRCDIR/tests/strict/webpki-verify/Cargo.toml" "$SRCDIR/tests/strict/webpki-verify/src" "$T/wv/"
    CARGO_HOME=$T/cargo-home RUSTC=/usr/bin/rustc /usr/bin/cargo build --quiet --release --offline \
        --manifest-path "$T/wv/Cargo.toml" --target-dir "$WV_TARGET" >"$T/cargo.log" 2>&1
}
webpki_ready() {
    [ -x /usr/bin/cargo ] && [ -d /usr/share/cargo/registry ] && build_webpki_verify
}
# webpki_expect DESCRIPTION WANT server|client ROOT LEAF [INTERMEDIATE] [--name DNS]
webpki_expect() {
    local what=$1 want=$2 mode=$3 root leaf got
    root=$(der "$4") && leaf=$(der "$5") || {
        fail "$what: cannot read the certificates"
        return
    }
    shift 5
    local rest=()
    while [ $# -gt 0 ]; do
        if [ "$1" = --name ]; then rest+=("$1" "$2") && shift 2; else rest+=("$(der "$1")") && shift; fi
    done
    got=$("$WV" "$mode" "$root" "$leaf" "${rest[@]}" 2>&1)
    if [ "$got" = "$want" ]; then pass "$what ($got)"; else fail "$what: webpki says $got, wanted $want"; fi
}
