#!/bin/bash
# An EC CA made before issue 13's fix reaches a chain that Chromium and
# webpki accept by lifecycle commands alone, without a new `minica init`
# (issue 15, "Done when"). Such a CA's root and intermediate carry
# ecdsa-with-SHA256 followed by NULL; the old binary is not at hand, so the
# test makes one: a fresh CA whose two certificates are rewritten in that
# encoding and signed again with the same keys (lib/legacy_sig.py).
#
# What it shows: the intermediate's bad signature is what strict clients
# refuse; the root's own bad self-signature does not matter, because a trust
# anchor's signature is never checked. So `minica ca rotate` is enough: the
# new intermediate is written the fixed way and signed by the old root key,
# and renewed leaves verify under the root every client already trusts. A
# rollover afterwards gets rid of the old encoding altogether, and is checked
# too, with the old root and with only the new root trusted.
#
# Chromium runs in a network namespace with loopback only, as in
# test_strict_verifier.sh (it calls Google at start whatever its flags say).
if [ -z "${MINICA_STRICT_NETNS:-}" ] && unshare --net true 2>/dev/null; then
    MINICA_STRICT_NETNS=1 exec unshare --net bash "$0" "$@"
fi
[ -n "${MINICA_STRICT_NETNS:-}" ] && ip link set lo up

source "$SRCDIR/tests/integration/lib/common.sh"
source "$SRCDIR/tests/integration/lib/der.sh"
source "$SRCDIR/tests/integration/lib/strict.sh"

if [ -n "${MINICA_STRICT_NETNS:-}" ]; then
    pass "running in a network namespace with loopback only"
else
    echo "# no network namespace (unshare --net failed): Chromium's own requests go to ~NOTFOUND only"
fi

# --- helpers ---------------------------------------------------------------------
# old_encoding FILE: both AlgorithmIdentifiers of FILE are ecdsa-with-SHA256
# followed by NULL.
old_encoding() {
    [ "$(sig_algs "$1" | tr '\n' ';')" = "tbs ecdsa-with-SHA256 NULL;outer ecdsa-with-SHA256 NULL;" ]
}
# split_pem FILE PREFIX: PREFIX.1.pem, PREFIX.2.pem... one per certificate.
split_pem() {
    rm -f "$2".*.pem
    awk -v p="$2" '/-----BEGIN/ { n++ } n { print > (p "." n ".pem") }' "$1"
}
# served NAME TAG: what a server for NAME sends, from the files minica
# wrote: $T/TAG.leaf.pem (the leaf) and $T/TAG.chain.pem (the rest of its
# fullchain: the intermediate, and the cross-certificate during a rollover),
# copied out of the output directory so that der() writes beside the copies.
served() {
    split_pem "$T/out/$1.fullchain.crt" "$T/$2"
    cp "$T/$2.1.pem" "$T/$2.leaf.pem"
    cat "$T/$2".[2-9].pem >"$T/$2.chain.pem"
    cp "$T/out/$1.key" "$T/$2.key"
}
# ossl_verify ROOT LEAF [CHAIN]: OpenSSL accepts the chain, checking the
# anchor's self-signature too (-check_ss_sig): the re-signing held.
ossl_verify() {
    local untrusted=()
    [ -n "${3:-}" ] && untrusted=(-untrusted "$3")
    openssl verify -x509_strict -check_ss_sig -CAfile "$1" "${untrusted[@]}" "$2"
}
# pem_count FILE
pem_count() { grep -c -- '-----BEGIN' "$1"; }

CHROMIUM=0
if chromium_ready; then
    CHROMIUM=1
else
    fail "Chromium: chromium and certutil (packages chromium, libnss3-tools) are needed: scripts/install-deps"
fi
WEBPKI=0
if webpki_ready; then
    WEBPKI=1
    pass "webpki verifier built offline from Debian's crates"
else
    fail "webpki verifier: cannot build it offline (packages cargo, librust-webpki-dev: scripts/install-deps): $(tail -n 3 "$T/cargo.log" 2>/dev/null | tr '\n' ' ')"
fi
# browser NAME WHAT WANT TAG: serves TAG's leaf and chain to Chromium (with
# the NSS database HOME now points at) as NAME.
browser() {
    [ "$CHROMIUM" = 1 ] || return 0
    if tls_serve "$T/$4.leaf.pem" "$T/$4.chain.pem" "$T/$4.key"; then
        expect_browse "Chromium: $2" "$3" "$1" "$port"
    else
        fail "Chromium: $2: openssl s_server did not start: $(tail -n 2 "$T/s_server.log" | tr '\n' ' ')"
    fi
}
# rust NAME WHAT WANT ROOT TAG: webpki on TAG's chain, ROOT the anchor.
rust() {
    [ "$WEBPKI" = 1 ] || return 0
    local chain=() f
    for f in "$T/$5".[2-9].pem; do chain+=("$f"); done
    webpki_expect "webpki: $2" "$3" server "$4" "$T/$5.leaf.pem" "${chain[@]}" --name "$1"
}

# --- 1. a CA from before the fix ----------------------------------------------------
CA=$T/legacy
NAME=web.legacy.test
"$MINICA" init --dir "$CA" --name legacy >/dev/null || fail "init the CA"
# root.key signs both: the root signs itself and the intermediate.
check "rewrite root.crt in the old encoding" legacy_encode "$CA/root.crt" "$CA/root.key"
check "rewrite intermediate.crt in the old encoding" legacy_encode "$CA/intermediate.crt" "$CA/root.key"
check "root.crt: ecdsa-with-SHA256 + NULL, TBS and outer (openssl asn1parse)" old_encoding "$CA/root.crt"
check "intermediate.crt: ecdsa-with-SHA256 + NULL, TBS and outer" old_encoding "$CA/intermediate.crt"
check "OpenSSL accepts the old root's self-signature" ossl_verify "$CA/root.crt" "$CA/root.crt"
check "OpenSSL accepts the old intermediate under the old root" ossl_verify "$CA/root.crt" \
    "$CA/intermediate.crt"
cp "$CA/root.crt" "$T/oldroot.crt"
cp "$CA/intermediate.crt" "$T/oldint.crt"

run "$MINICA" issue "$NAME" --dir "$CA" --out "$T/out"
expect_ok "minica issue from the old CA (mbedTLS loads the old encoding)"
served "$NAME" old
check "the leaf itself is in the fixed encoding" sig_alg_check "$T/old.leaf.pem" ec
check "its fullchain carries the old intermediate" cmp "$T/old.chain.pem" "$T/oldint.crt"
check "OpenSSL: leaf -> old intermediate -> old root" ossl_verify "$T/oldroot.crt" "$T/old.leaf.pem" \
    "$T/old.chain.pem"
check "GnuTLS: leaf -> old intermediate -> old root" certtool --verify --load-ca-certificate \
    "$T/oldroot.crt" --infile "$T/out/$NAME.fullchain.crt"

# --- 2. control: the strict clients refuse that chain --------------------------------
# A chain OpenSSL made keeps the harness honest: refusals below are minica's.
if [ "$CHROMIUM" = 1 ]; then
    ossl_chain "$T/ctl" ctl.test || fail "OpenSSL control chain"
    trust "$T/ctl/root.crt" ctl
    trust "$T/oldroot.crt" legacy
    tls_serve "$T/ctl/leaf.crt" "$T/ctl/root.crt" "$T/ctl/leaf.key"
    expect_browse "Chromium control: OpenSSL chain under a trusted root" ok ctl.test "$port"
fi
browser "$NAME" "the old CA's chain is refused" net::ERR_CERT_INVALID old
rust "$NAME" "the old CA's chain is refused" UnknownIssuer "$T/oldroot.crt" old

# --- 3. minica ca rotate alone ------------------------------------------------------
run "$MINICA" ca status --dir "$CA"
expect_rc 3 "ca status: the old encoding needs attention"
expect_out "intermediate .*old ECDSA encoding.*minica ca rotate" "ca status names the intermediate and the fix"
run "$MINICA" ca rotate --dir "$CA"
expect_ok "minica ca rotate on the old CA"
run "$MINICA" ca status --dir "$CA"
check_not "ca status: no encoding finding after the rotation" grep -q 'old ECDSA encoding' <<<"$OUT"
check "rotate leaves root.crt as it was: no trust store changes" cmp "$CA/root.crt" "$T/oldroot.crt"
check "the new intermediate is in the fixed encoding" sig_alg_check "$CA/intermediate.crt" ec
check "the old intermediate stays in ca/, unchanged" cmp "$T/oldint.crt" \
    "$CA/ca/intermediate-$(serial_of "$T/oldint.crt").crt"
run "$MINICA" issue "$NAME" --dir "$CA" --out "$T/out"
expect_ok "renew $NAME under the new intermediate"
served "$NAME" rot
check "the renewed fullchain carries the new intermediate" cmp "$T/rot.chain.pem" "$CA/intermediate.crt"
check "OpenSSL: leaf -> new intermediate -> old root" ossl_verify "$T/oldroot.crt" "$T/rot.leaf.pem" \
    "$T/rot.chain.pem"
# The old root stays the anchor, its own signature still the old encoding.
browser "$NAME" "after rotate: leaf -> new intermediate -> old root (trusted)" ok rot
rust "$NAME" "after rotate: leaf -> new intermediate -> old root (anchor)" ok "$T/oldroot.crt" rot
# A server that also sends the root: Chromium still stops at the anchor.
cat "$T/oldroot.crt" >>"$T/rot.chain.pem"
browser "$NAME" "after rotate, the old root sent too" ok rot
# Leaves from before the rotation are not repaired: each one has to renew.
browser "$NAME" "after rotate, a leaf issued before it is still refused" net::ERR_CERT_INVALID old

# --- 4. then a rollover: no old encoding left ----------------------------------------
run "$MINICA" ca rollover --dir "$CA"
expect_ok "minica ca rollover on the rotated CA"
check "root.crt holds the new root and the old one" test "$(pem_count "$CA/root.crt")" = 2
split_pem "$CA/root.crt" "$T/roots"
NEWROOT=$T/newroot.crt
if old_encoding "$T/roots.1.pem"; then cp "$T/roots.2.pem" "$NEWROOT"; else cp "$T/roots.1.pem" "$NEWROOT"; fi
check "the new root is in the fixed encoding" sig_alg_check "$NEWROOT" ec
check "the new root is self-signed (OpenSSL)" ossl_verify "$NEWROOT" "$NEWROOT"
run "$MINICA" issue "$NAME" --dir "$CA" --out "$T/out"
expect_ok "renew $NAME under the new root"
served "$NAME" roll
check "the fullchain carries the intermediate and the cross-certificate" test "$(pem_count "$T/roll.chain.pem")" = 2
check "the cross-certificate is in the fixed encoding" sig_alg_check "$T/roll.3.pem" ec
check "OpenSSL: leaf -> intermediate -> cross -> old root" ossl_verify "$T/oldroot.crt" "$T/roll.leaf.pem" \
    "$T/roll.chain.pem"
browser "$NAME" "after rollover, only the old root trusted (through the cross-certificate)" ok roll
rust "$NAME" "after rollover, the old root as anchor" ok "$T/oldroot.crt" roll
[ "$CHROMIUM" = 1 ] && nss_fresh home-new && trust "$NEWROOT" legacy-2
browser "$NAME" "after rollover, only the new root trusted" ok roll
rust "$NAME" "after rollover, the new root as anchor" ok "$NEWROOT" roll

# Every name has renewed since the rollover; --force because a leaf from the
# rollover's own second counts as older than the new root (rotate.c).
run "$MINICA" ca drop-cross --force --dir "$CA"
expect_ok "minica ca drop-cross"
run "$MINICA" issue "$NAME" --dir "$CA" --out "$T/out"
expect_ok "renew $NAME after drop-cross"
served "$NAME" final
check "the final fullchain is the leaf and the intermediate" test "$(pem_count "$T/final.chain.pem")" = 1
check "OpenSSL: leaf -> intermediate -> new root" ossl_verify "$NEWROOT" "$T/final.leaf.pem" "$T/final.chain.pem"
browser "$NAME" "the final chain, only the new root trusted" ok final
rust "$NAME" "the final chain, the new root as anchor" ok "$NEWROOT" final
for f in "$T/final.leaf.pem" "$T/final.chain.pem" "$NEWROOT"; do
    check "no old encoding left in the final chain: ${f##*/}" sig_alg_check "$f" ec
done

done_testing
