"""One signed ACME request (RFC 8555 6.2) with an account key a real client
made (lego's EC P-256 key), for what the client itself cannot be made to
ask: POST-as-GET of an old order's certificate, newOrder with "replaces".
Python's ssl and cryptography only, not minica's code.

usage: acme_post.py ROOT KEY_PEM KID DIRECTORY_URL URL [PAYLOAD_JSON]
Without PAYLOAD_JSON the request is a POST-as-GET (empty payload). Prints
the HTTP status on the first line, then the body.
"""
import base64
import json
import ssl
import sys
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    root, key_pem, kid, directory, url = sys.argv[1:6]
    payload = sys.argv[6] if len(sys.argv) > 6 else None
    ctx = ssl.create_default_context(cafile=root)
    with open(key_pem, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with urllib.request.urlopen(directory, context=ctx, timeout=10) as r:
        new_nonce = json.load(r)["newNonce"]
    req = urllib.request.Request(new_nonce, method="HEAD")
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        nonce = r.headers["Replay-Nonce"]
    protected = b64(json.dumps({"alg": "ES256", "kid": kid, "nonce": nonce, "url": url}).encode())
    body = b64(payload.encode()) if payload is not None else ""
    der = key.sign(f"{protected}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    r_, s_ = decode_dss_signature(der)
    sig = b64(r_.to_bytes(32, "big") + s_.to_bytes(32, "big"))
    data = json.dumps({"protected": protected, "payload": body, "signature": sig}).encode()
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/jose+json"}
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    print(status)
    sys.stdout.write(text)


main()
