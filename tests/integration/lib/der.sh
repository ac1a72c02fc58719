# shellcheck shell=bash
# DER helpers for the integration tests: read the signature
# AlgorithmIdentifiers of a certificate, CRL or CSR by walking its structure
# with `openssl asn1parse -strparse`, not by grepping a dump. Sourced after
# common.sh. Not a general ASN.1 library: it knows the three shapes
#   Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
#   CertificateList and CertificationRequest: the same outer shape;
# in the first two the tbs part holds a second AlgorithmIdentifier (its first
# SEQUENCE child: version, if any, and serial are INTEGER / [0]).

# to_der IN OUT: OUT is IN in DER (IN may be PEM or DER; certificate, CRL or CSR).
to_der() {
    local in=$1 out=$2 t
    if ! grep -q -- '-----BEGIN' "$in" 2>/dev/null; then
        cp "$in" "$out"
        return
    fi
    for t in x509 crl req; do
        openssl "$t" -in "$in" -outform DER -out "$out" 2>/dev/null && return 0
    done
    return 1
}

# _asn1_children DER [OFFSET]...: one line "OFFSET|KIND|TYPE|VALUE" per
# direct child of the element reached by drilling down the OFFSETs
# (KIND is prim or cons; offsets are relative to that element).
_asn1_children() {
    local der=$1 o args=()
    shift
    for o in "$@"; do args+=(-strparse "$o"); done
    openssl asn1parse -inform DER -in "$der" "${args[@]}" 2>/dev/null |
        sed -nE 's/^ *([0-9]+):d=1 +hl= *[0-9]+ +l= *[0-9]+ +(prim|cons): *([^:]*[^: ])? *(:(.*))?$/\1|\2|\3|\5/p'
}

# _alg_describe DER OFFSET...: "OID PARAMS" for the AlgorithmIdentifier at
# that path. PARAMS is "absent", "NULL" (an empty NULL) or "other:TYPE".
_alg_describe() {
    local der=$1 oid="" params=absent n=0 off kind type val
    shift
    while IFS="|" read -r off kind type val; do
        n=$((n + 1))
        if [ "$n" = 1 ]; then
            [ "$type" = OBJECT ] || {
                echo "not-an-AlgorithmIdentifier -"
                return
            }
            oid=$val
        elif [ "$n" = 2 ] && [ "$type" = NULL ]; then
            params=NULL
        else
            params="other:$type"
        fi
    done < <(_asn1_children "$der" "$@")
    if [ -z "$oid" ]; then
        echo "not-an-AlgorithmIdentifier -"
    else
        echo "$oid $params"
    fi
}

# sig_algs FILE: the signature AlgorithmIdentifiers of FILE, one per line:
#   "tbs OID PARAMS" (certificate and CRL only) then "outer OID PARAMS".
# Prints "malformed" when the outer shape is not SEQUENCE, SEQUENCE, BIT STRING.
sig_algs() {
    local der
    der=$(mktemp "$T/der.XXXXXX")
    if ! to_der "$1" "$der"; then
        echo malformed
        return 1
    fi
    local offs=() types=() off kind type val
    while IFS="|" read -r off kind type val; do
        offs+=("$off")
        types+=("$kind/$type")
    done < <(_asn1_children "$der")
    if [ "${#offs[@]}" != 3 ] || [ "${types[0]}" != cons/SEQUENCE ] ||
        [ "${types[1]}" != cons/SEQUENCE ] || [ "${types[2]}" != "prim/BIT STRING" ]; then
        echo malformed
        return 1
    fi
    # CertificationRequestInfo has no signature field: its first SEQUENCE is
    # the subject Name, whose children are SETs, not an OBJECT.
    local toff=""
    while IFS="|" read -r off kind type val; do
        if [ "$kind/$type" = cons/SEQUENCE ]; then
            toff=$off
            break
        fi
    done < <(_asn1_children "$der" "${offs[0]}")
    if [ -n "$toff" ]; then
        local tbs
        tbs=$(_alg_describe "$der" "${offs[0]}" "$toff")
        case $tbs in not-an-AlgorithmIdentifier*) ;; *) echo "tbs $tbs" ;; esac
    fi
    echo "outer $(_alg_describe "$der" "${offs[1]}")"
}

# sig_alg_check FILE WANT: WANT is "ec" (ecdsa-with-SHA*, parameters absent:
# RFC 5758 section 3.2) or "rsa" (sha*WithRSAEncryption with a NULL: RFC 4055
# section 5, RFC 8017 A.2.4). Every AlgorithmIdentifier of FILE must be so,
# and for a certificate or CRL the two must be equal (RFC 5280 4.1.1.2).
# On failure prints what was found.
sig_alg_check() {
    local file=$1 want=$2 lines where oid params first="" ok=1
    lines=$(sig_algs "$file") || {
        echo "$file: $lines"
        return 1
    }
    while read -r where oid params; do
        case $want in
        ec) [[ $oid =~ ^ecdsa-with-SHA(256|384|512)$ ]] && [ "$params" = absent ] || ok=0 ;;
        rsa) [[ $oid =~ ^sha(256|384|512)WithRSAEncryption$ ]] && [ "$params" = NULL ] || ok=0 ;;
        *) ok=0 ;;
        esac
        if [ -z "$first" ]; then first="$oid $params"; elif [ "$first" != "$oid $params" ]; then ok=0; fi
    done <<<"$lines"
    [ "$ok" = 1 ] && return 0
    printf '%s\n' "$lines" | tr '\n' ';'
    echo
    return 1
}

# legacy_encode CERT KEY: rewrites the EC certificate CERT (PEM, in place) in
# the encoding minica wrote before issue 13's fix: ecdsa-with-SHA256 followed
# by NULL in both AlgorithmIdentifiers, signed again by KEY (its issuer's
# key) so that the signature still holds. See legacy_sig.py.
legacy_encode() {
    local cert=$1 key=$2 tmp
    tmp=$(mktemp "$T/legacy.XXXXXX")
    openssl x509 -in "$cert" -outform DER -out "$tmp.in" &&
        python3 "$SRCDIR/tests/integration/lib/legacy_sig.py" "$tmp.in" "$key" "$tmp.out" &&
        openssl x509 -inform DER -in "$tmp.out" -out "$tmp.pem" &&
        cat "$tmp.pem" >"$cert" # keeps its mode
}
