#!/usr/bin/env python3
# Rewrites an EC certificate into the encoding minica wrote before issue 13's
# fix: ecdsa-with-SHA256 followed by NULL, in the TBS signature field and in
# the outer signatureAlgorithm, re-signed so that the signature still holds
# (mbedTLS, OpenSSL and GnuTLS accept the result; Chromium and webpki do not).
# It makes a "pre-fix" CA out of a fresh one, for the upgrade tests: the old
# binary is not at hand, and the only difference is these two bytes.
#
# Usage: legacy_sig.py IN.der SIGNER.key OUT.der
#   SIGNER.key signs the new TBS (the issuer's key: root.key for the root and
#   the intermediate). Only DER lengths are rewritten; nothing else changes.
# Exits 1 when IN is not an ecdsa-with-SHA256 certificate without parameters.
import subprocess
import sys

ECDSA_SHA256 = bytes.fromhex("06082a8648ce3d040302")  # OID 1.2.840.10045.4.3.2
NULL = b"\x05\x00"


def tlv(buf, pos):
    """(tag, header length, content length) of the element at pos."""
    tag, n = buf[pos], buf[pos + 1]
    if n < 0x80:
        return tag, 2, n
    k = n & 0x7F
    return tag, 2 + k, int.from_bytes(buf[pos + 2 : pos + 2 + k], "big")


def children(content):
    """The complete encodings (header and content) of a constructed value's children."""
    out, pos = [], 0
    while pos < len(content):
        _, h, n = tlv(content, pos)
        out.append(content[pos : pos + h + n])
        pos += h + n
    return out


def enc(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + content


def body(elem):
    _, h, n = tlv(elem, 0)
    return elem[h : h + n]


def main():
    src, key, dst = sys.argv[1:4]
    cert = open(src, "rb").read()
    tbs, alg, _sig = children(body(cert))
    if alg != enc(0x30, ECDSA_SHA256):
        sys.exit("legacy_sig.py: %s: not ecdsa-with-SHA256 without parameters" % src)
    old = enc(0x30, ECDSA_SHA256 + NULL)
    fields = children(body(tbs))
    # TBSCertificate: [0] version, serial, signature AlgorithmIdentifier, ...
    i = 2 if fields[0][0] == 0xA0 else 1
    if fields[i] != alg:
        sys.exit("legacy_sig.py: %s: TBS and outer algorithms differ" % src)
    fields[i] = old
    new_tbs = enc(0x30, b"".join(fields))
    # openssl dgst -sign writes the DER ECDSA-Sig-Value a BIT STRING holds.
    sig = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", key],
        input=new_tbs,
        capture_output=True,
        check=True,
    ).stdout
    with open(dst, "wb") as f:
        f.write(enc(0x30, new_tbs + old + enc(0x03, b"\x00" + sig)))


main()
