# Independent verifiers for the integration tests (bash, sourced after
# common.sh): does OpenSSL, GnuTLS, NSS, Go or Java accept this chain? Name
# constraints are where they disagree, so a CA's output is checked by all of
# them, not by the one that happens to be at hand. Not a hostname check:
# each one verifies the path only (signatures, validity, basicConstraints,
# nameConstraints).
#
# verify_NAME ROOT INTERMEDIATES LEAF: 0 when NAME accepts the chain, 1 when
# it rejects it (its reason in $VERIFY_WHY), 2 when it cannot run. ROOT is
# the trust anchor, INTERMEDIATES one PEM file holding one or more
# untrusted CA certificates, leaf first in signing order; LEAF the end
# entity. The trust anchor has to stay apart: Java and NSS ignore the
# constraints of a certificate they are told to trust.
#
# check_chain ROOT INTERMEDIATES LEAF accept|reject [WHAT]: one pass/fail per
# verifier in $VERIFIERS.

: "${T:?source common.sh first}"
VERIFIERS=${VERIFIERS:-"openssl gnutls nss nss_pkix go java"}
VERIFIER_DIR=$T/verifiers
VERIFY_WHY=

# One line of a verifier's complaint, for the test output.
_verify_reason() { grep -v '^\s*$' "$1" | tr '\n' ' ' | cut -c1-300; }

verify_openssl() {
    command -v openssl >/dev/null || { VERIFY_WHY="openssl missing"; return 2; }
    # -x509_strict: the RFC 5280 checks a strict client makes.
    if openssl verify -x509_strict -CAfile "$1" -untrusted "$2" "$3" >"$T/.verify" 2>&1; then
        return 0
    fi
    VERIFY_WHY=$(_verify_reason "$T/.verify")
    return 1
}

verify_gnutls() {
    command -v certtool >/dev/null || { VERIFY_WHY="certtool missing (gnutls-bin)"; return 2; }
    cat "$3" "$2" >"$T/.chain.pem"
    certtool --verify --load-ca-certificate "$1" --infile "$T/.chain.pem" >"$T/.verify" 2>&1
    if grep -q 'Chain verification output: Verified' "$T/.verify"; then return 0; fi
    VERIFY_WHY=$(grep -E 'Not verified|error|Error' "$T/.verify" | sort -u | tr '\n' ' ' | cut -c1-300)
    return 1
}

# _nss_split PEM PREFIX: one file per certificate (vfychain takes one each).
_nss_split() {
    rm -f "$2".*.pem
    awk -v p="$2" '/-----BEGIN CERTIFICATE-----/ { n++; f = p "." n ".pem" }
        f { print > f } /-----END CERTIFICATE-----/ { close(f); f = "" }' "$1"
}

# NSS has two path builders. CERT_VerifyCert (the classic one, with the
# root trusted in a database) is what NSS's own TLS code calls;
# CERT_PKIXVerifyCert (libpkix, vfychain -pp) is the RFC 5280 one.
verify_nss() {
    command -v vfychain >/dev/null || { VERIFY_WHY="vfychain missing (libnss3-tools)"; return 2; }
    local db=$T/.nssdb args=() f
    rm -rf "$db" && mkdir -p "$db"
    if ! certutil -N -d "sql:$db" --empty-password >/dev/null 2>&1 ||
        ! certutil -A -d "sql:$db" -n root -t C,, -a -i "$1" >/dev/null 2>&1; then
        VERIFY_WHY="certutil cannot import the root"
        return 2
    fi
    _nss_split "$2" "$T/.inter"
    for f in "$T"/.inter.*.pem; do args+=(-a "$f"); done
    # -u 1: an SSL server certificate, NSS's usage for what minica issues.
    if vfychain -d "sql:$db" -u 1 -a "$3" "${args[@]}" >"$T/.verify" 2>&1; then return 0; fi
    VERIFY_WHY=$(_verify_reason "$T/.verify")
    return 1
}

verify_nss_pkix() {
    command -v vfychain >/dev/null || { VERIFY_WHY="vfychain missing (libnss3-tools)"; return 2; }
    local args=() f
    _nss_split "$2" "$T/.inter"
    for f in "$T"/.inter.*.pem; do args+=(-a "$f"); done
    if vfychain -pp -u 1 -a "$3" "${args[@]}" -t -a "$1" >"$T/.verify" 2>&1; then return 0; fi
    VERIFY_WHY=$(_verify_reason "$T/.verify")
    return 1
}

# The Go and Java programs are built once per test run, on first use. They
# exit 1 for a rejected chain; anything else but 0 means they did not run.
_verify_program_rc() {
    VERIFY_WHY=$(_verify_reason "$T/.verify")
    case $1 in
    0) return 0 ;;
    1) return 1 ;;
    *) VERIFY_WHY="exit $1: $VERIFY_WHY" && return 2 ;;
    esac
}

_verifier_src() { echo "${SRCDIR:?}/tests/integration/verifiers/$1"; }

verify_go() {
    local bin=$VERIFIER_DIR/verify_chain
    if [ ! -x "$bin" ]; then
        command -v go >/dev/null || { VERIFY_WHY="go missing (golang-go)"; return 2; }
        mkdir -p "$VERIFIER_DIR"
        # Standard library only: builds offline, with a cache of its own.
        if ! (cd "$VERIFIER_DIR" && GOCACHE=$VERIFIER_DIR/gocache GOPATH=$VERIFIER_DIR/gopath \
            GO111MODULE=off GOFLAGS='' go build -o "$bin" "$(_verifier_src verify_chain.go)") \
            >"$T/.verify" 2>&1; then
            VERIFY_WHY="go build: $(_verify_reason "$T/.verify")"
            return 2
        fi
    fi
    "$bin" "$1" "$2" "$3" >"$T/.verify" 2>&1
    _verify_program_rc $?
}

verify_java() {
    if [ ! -f "$VERIFIER_DIR/VerifyChain.class" ]; then
        command -v javac >/dev/null || { VERIFY_WHY="javac missing (openjdk-17-jdk-headless)"; return 2; }
        mkdir -p "$VERIFIER_DIR"
        if ! javac -d "$VERIFIER_DIR" "$(_verifier_src VerifyChain.java)" >"$T/.verify" 2>&1; then
            VERIFY_WHY="javac: $(_verify_reason "$T/.verify")"
            return 2
        fi
    fi
    # C1 only and the shared archive: the JVM starts in a fraction of the
    # time, and one validation needs no more.
    command -v java >/dev/null || { VERIFY_WHY="java missing (openjdk-17-jdk-headless)"; return 2; }
    java -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$VERIFIER_DIR" VerifyChain \
        "$1" "$2" "$3" >"$T/.verify" 2>&1
    _verify_program_rc $?
}

# check_chain ROOT INTERMEDIATES LEAF accept|reject [WHAT]
check_chain() {
    local root=$1 inter=$2 leaf=$3 expect=$4 what=${5:-$(basename "$3")} v rc
    for v in $VERIFIERS; do
        VERIFY_WHY=
        "verify_$v" "$root" "$inter" "$leaf"
        rc=$?
        case $expect:$rc in
        accept:0) pass "$v accepts $what" ;;
        reject:1) pass "$v rejects $what" ;;
        *:2) fail "$v cannot run: $VERIFY_WHY" ;;
        accept:*) fail "$v rejects $what: $VERIFY_WHY" ;;
        reject:*) fail "$v accepts $what" ;;
        esac
    done
}
