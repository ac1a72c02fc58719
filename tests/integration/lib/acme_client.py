#!/usr/bin/env python3
"""A small raw ACME (RFC 8555) client for minica's refusal tests.

Real clients (certbot, lego) refuse to misbehave; this one can: reuse a
nonce, sign with another key than the kid's, send a CSR with other names,
answer http-01 with a wrong key authorization or a redirect. Each command
prints one JSON object on stdout: what the server answered (status, the
problem type without its urn prefix, detail, Replay-Nonce, Location, body).
State (account keys and kids, the last unused nonce) lives in --state DIR,
so a test can chain commands and look at the CA between them.

  acme_client.py --directory URL --cafile ROOT --state DIR CMD ...
    account [--key NAME]                 newAccount (key made on first use)
    order [--key NAME] ID...             newOrder; ID is dns:NAME or ip:ADDR
    authorize [--key NAME] ORDER_URL --port P --listen ADDR... [--answer MODE]
        [--type tls-alpn-01]
        answers every authorization's http-01 with a responder on each ADDR:P
        (MODE good | wrong | redirect=URL, URL may hold {token}; a redirect
        is answered on the first ADDR only, the others answer good) and
        reports the challenges, authorizations, order and every TCP
        connection the responder accepted. --type tls-alpn-01 asks for that
        challenge instead, with only a listener that records connections
        and closes them (for checking that nothing is dialed)
    finalize [--key NAME] ORDER_URL --names N,... [--cn CN] [--out CHAIN]
    post [--key NAME] URL [--payload JSON] [--sign-key NAME] [--nonce N]
        [--save FILE] [--alg ALG] [--jws-url URL] [--kid URL]
                                         one signed POST (no payload:
                                         POST-as-GET); --sign-key signs with
                                         another key under NAME's kid, --alg
                                         names another alg in the header,
                                         --jws-url another url, --kid
                                         another kid (URL: a
                                         directory member's name or a URL)
    send URL FILE                        sends FILE's bytes as the body (a replay)
    nonce                                a fresh nonce from newNonce
"""
import argparse
import base64
import http.client
import http.server
import ipaddress
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

URN = "urn:ietf:params:acme:error:"
HTTP_TIMEOUT = 20


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def canon(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


class Key:
    """An ES256 account key kept as PEM in the state directory."""

    def __init__(self, path):
        if os.path.exists(path):
            with open(path, "rb") as f:
                self.priv = serialization.load_pem_private_key(f.read(), None)
        else:
            self.priv = ec.generate_private_key(ec.SECP256R1())
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(self.priv.private_bytes(serialization.Encoding.PEM,
                                                serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
        nums = self.priv.public_key().public_numbers()
        self.jwk = {"crv": "P-256", "kty": "EC",
                    "x": b64u(nums.x.to_bytes(32, "big")),
                    "y": b64u(nums.y.to_bytes(32, "big"))}
        digest = hashes.Hash(hashes.SHA256())
        digest.update(canon(self.jwk).encode())
        self.thumbprint = b64u(digest.finalize())

    def sign(self, data):
        r, s = decode_dss_signature(self.priv.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())

    def report(self):
        j = self.json if isinstance(self.json, dict) else {}
        t = j.get("type", "") if self.status >= 400 else ""
        return {"status": self.status,
                "content_type": self.header("content-type"),
                "type": t[len(URN):] if isinstance(t, str) and t.startswith(URN) else t,
                "detail": j.get("detail", "") if self.status >= 400 else "",
                "nonce": self.header("replay-nonce"),
                "location": self.header("location"),
                "body": self.json if self.json is not None else self.raw.decode("latin-1")}


class Client:
    def __init__(self, directory, cafile, state):
        self.directory_url = directory
        self.state = state
        os.makedirs(state, mode=0o700, exist_ok=True)
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.dir = self.request("GET", directory).json

    # --- transport
    def request(self, method, url, body=None, content_type="application/jose+json"):
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=self.ctx,
                                           timeout=HTTP_TIMEOUT)
        headers = {"User-Agent": "minica-test-acme-client"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            conn.request(method, u.path + ("?" + u.query if u.query else ""), body=body,
                         headers=headers)
            r = conn.getresponse()
            a = Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()
        if a.header("replay-nonce"):
            self.save_nonce(a.header("replay-nonce"))
        return a

    def nonce_path(self):
        return os.path.join(self.state, "nonce")

    def save_nonce(self, n):
        with open(self.nonce_path(), "w") as f:
            f.write(n)

    def take_nonce(self):
        """The last Replay-Nonce received and not yet used, or a new one."""
        try:
            with open(self.nonce_path()) as f:
                n = f.read().strip()
            os.unlink(self.nonce_path())
            if n:
                return n
        except FileNotFoundError:
            pass
        return self.fresh_nonce()

    def fresh_nonce(self):
        a = self.request("HEAD", self.dir["newNonce"])
        n = a.header("replay-nonce")
        try:
            os.unlink(self.nonce_path())
        except FileNotFoundError:
            pass
        return n

    # --- keys and accounts
    def key(self, name):
        return Key(os.path.join(self.state, name + ".key"))

    def kid(self, name):
        try:
            with open(os.path.join(self.state, name + ".kid")) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def jws(self, url, payload, key, kid=None, signer=None, nonce=None, alg="ES256"):
        """The flattened JWS. key gives the jwk (no kid) ; signer signs
        (default key): a signer other than the kid's key is the misbehaviour
        the server must catch."""
        prot = {"alg": alg, "nonce": nonce or self.take_nonce(), "url": url}
        if kid:
            prot["kid"] = kid
        else:
            prot["jwk"] = key.jwk
        p64 = b64u(canon(prot).encode())
        pay64 = "" if payload is None else b64u(json.dumps(payload).encode())
        sig = (signer or key).sign((p64 + "." + pay64).encode())
        return json.dumps({"protected": p64, "payload": pay64, "signature": b64u(sig)}).encode()

    def post(self, name, url, payload, signer=None, nonce=None, save=None, use_jwk=False,
             alg="ES256", jws_url=None, kid=None):
        """jws_url: the url the JWS names, if not the one it is sent to;
        kid: another kid than NAME's account URL."""
        key = self.key(name)
        kid = None if use_jwk else kid or self.kid(name)
        body = self.jws(jws_url or url, payload, key, kid=kid, signer=signer, nonce=nonce,
                        alg=alg)
        if save:
            with open(save, "wb") as f:
                f.write(body)
        return self.request("POST", url, body)

    def new_account(self, name):
        a = self.post(name, self.dir["newAccount"], {"termsOfServiceAgreed": True},
                      use_jwk=True)
        if a.status in (200, 201) and a.header("location"):
            with open(os.path.join(self.state, name + ".kid"), "w") as f:
                f.write(a.header("location"))
        return a


def identifier(text):
    kind, _, value = text.partition(":")
    if kind not in ("dns", "ip") or not value:
        raise SystemExit("acme_client: an identifier is dns:NAME or ip:ADDR, not " + text)
    return {"type": kind, "value": value}


def make_csr(names, cn):
    key = ec.generate_private_key(ec.SECP256R1())
    sans = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    csr = (x509.CertificateSigningRequestBuilder().subject_name(subject)
           .add_extension(x509.SubjectAlternativeName(sans), critical=False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.DER)


# --- the http-01 responder

class Responder:
    """Answers /.well-known/acme-challenge/TOKEN on every address given and
    records every TCP connection accepted (before any HTTP is read), so a
    test can prove the validator never reached an address."""

    def __init__(self, addrs, port, answers, redirect):
        self.hits = []
        self.lock = threading.Lock()
        self.servers = []
        first = addrs[0]
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                local = self.connection.getsockname()[0]
                token = self.path.rsplit("/", 1)[-1]
                with outer.lock:
                    outer.hits.append({"local": local, "path": self.path,
                                       "user_agent": self.headers.get("User-Agent", "")})
                if not self.path.startswith("/.well-known/acme-challenge/") or \
                        token not in answers:
                    self.send_response(404)
                    self.end_headers()
                    return
                if redirect and local == first:
                    self.send_response(302)
                    self.send_header("Location", redirect.replace("{token}", token))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = answers[token].encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        for addr in addrs:
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET

            class Server(http.server.ThreadingHTTPServer):
                address_family = family
                daemon_threads = True
                allow_reuse_address = True

                def verify_request(self, request, client_address):
                    with outer.lock:
                        outer.hits.append({"local": request.getsockname()[0],
                                           "connect_from": client_address[0]})
                    return True

            srv = Server((addr, port), Handler)
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            self.servers.append(srv)

    def stop(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()


class Trap:
    """A TCP listener on each address that records and closes every
    connection: where no validator may connect at all."""

    def __init__(self, addrs, port):
        self.hits = []
        self.socks = []
        for addr in addrs:
            s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.listen(16)
            s.settimeout(0.2)
            self.socks.append(s)
        self.done = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.done:
            for s in self.socks:
                try:
                    conn, peer = s.accept()
                except (socket.timeout, OSError):
                    continue
                self.hits.append({"local": conn.getsockname()[0], "connect_from": peer[0]})
                conn.close()

    def stop(self):
        self.done = True
        self.thread.join()
        for s in self.socks:
            s.close()


def authorize(c, name, order_url, port, listen, mode, ctype="http-01"):
    key = c.key(name)
    order = c.post(name, order_url, None)
    out = {"order_before": order.report(), "authz": [], "challenge": [], "hits": []}
    if order.status != 200:
        return out
    todo = []
    for url in order.json.get("authorizations", []):
        az = c.post(name, url, None)
        ch = [x for x in (az.json or {}).get("challenges", []) if x.get("type") == ctype]
        if az.status != 200 or not ch:
            out["authz"].append(az.report())
            continue
        todo.append((url, ch[0]))
    answers, redirect = {}, None
    for _, ch in todo:
        ka = ch["token"] + "." + key.thumbprint
        if mode == "wrong":  # the right token, another key's thumbprint
            ka = ch["token"] + "." + b64u(b"\0" * 32)
        answers[ch["token"]] = ka
    if mode.startswith("redirect="):
        redirect = mode[len("redirect="):]
    elif mode not in ("good", "wrong"):
        raise SystemExit("acme_client: --answer is good, wrong or redirect=URL")
    if ctype == "http-01":
        resp = Responder(listen, port, answers, redirect)
    else:
        resp = Trap(listen, port)
    try:
        for url, ch in todo:
            r = c.post(name, ch["url"], {})
            rep = r.report()
            # The server may validate later: poll the authorization.
            deadline = time.monotonic() + 30
            az = c.post(name, url, None)
            while az.status == 200 and az.json.get("status") == "pending" and \
                    time.monotonic() < deadline:
                time.sleep(0.2)
                az = c.post(name, url, None)
            out["challenge"].append(rep)
            out["authz"].append(az.report())
    finally:
        resp.stop()
    out["hits"] = resp.hits
    out["order"] = c.post(name, order_url, None).report()
    return out


def finalize(c, name, order_url, names, cn, out_path):
    order = c.post(name, order_url, None)
    if order.status != 200:
        return {"order_before": order.report()}
    csr = make_csr(names, cn)
    f = c.post(name, order.json["finalize"], {"csr": b64u(csr)})
    rep = f.report()
    if f.status != 200:
        return rep
    o = f
    deadline = time.monotonic() + 30
    while o.json.get("status") == "processing" and time.monotonic() < deadline:
        time.sleep(0.2)
        o = c.post(name, order_url, None)
    rep["order"] = o.report()
    if o.json.get("status") == "valid" and o.json.get("certificate"):
        cert = c.post(name, o.json["certificate"], None)
        rep["certificate"] = {"status": cert.status, "content_type": cert.header("content-type")}
        if cert.status == 200 and out_path:
            with open(out_path, "wb") as fh:
                fh.write(cert.raw)
    return rep


def main():
    ap = argparse.ArgumentParser(description="a raw ACME client for tests")
    ap.add_argument("--directory", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--state", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("account")
    p.add_argument("--key", default="a")
    p = sub.add_parser("order")
    p.add_argument("--key", default="a")
    p.add_argument("ids", nargs="+")
    p = sub.add_parser("authorize")
    p.add_argument("--key", default="a")
    p.add_argument("order_url")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--listen", action="append", required=True)
    p.add_argument("--answer", default="good")
    p.add_argument("--type", default="http-01", choices=["http-01", "tls-alpn-01"])
    p = sub.add_parser("finalize")
    p.add_argument("--key", default="a")
    p.add_argument("order_url")
    p.add_argument("--names", required=True)
    p.add_argument("--cn")
    p.add_argument("--out")
    p = sub.add_parser("post")
    p.add_argument("--key", default="a")
    p.add_argument("url")
    p.add_argument("--payload")
    p.add_argument("--sign-key")
    p.add_argument("--nonce")
    p.add_argument("--save")
    p.add_argument("--alg", default="ES256")
    p.add_argument("--jws-url")
    p.add_argument("--kid")
    p = sub.add_parser("send")
    p.add_argument("url")
    p.add_argument("file")
    sub.add_parser("nonce")
    a = ap.parse_args()

    c = Client(a.directory, a.cafile, a.state)
    if a.cmd == "account":
        out = c.new_account(a.key).report()
    elif a.cmd == "order":
        out = c.post(a.key, c.dir["newOrder"],
                     {"identifiers": [identifier(i) for i in a.ids]}).report()
    elif a.cmd == "authorize":
        out = authorize(c, a.key, a.order_url, a.port, a.listen, a.answer, a.type)
    elif a.cmd == "finalize":
        out = finalize(c, a.key, a.order_url, a.names.split(","), a.cn, a.out)
    elif a.cmd == "post":
        url = c.dir.get(a.url, a.url)  # a directory member's name or a URL
        payload = None if a.payload is None else json.loads(a.payload)
        signer = c.key(a.sign_key) if a.sign_key else None
        out = c.post(a.key, url, payload, signer=signer, nonce=a.nonce, save=a.save,
                     alg=a.alg, jws_url=c.dir.get(a.jws_url, a.jws_url),
                     kid=a.kid).report()
    elif a.cmd == "send":
        with open(a.file, "rb") as f:
            out = c.request("POST", c.dir.get(a.url, a.url), f.read()).report()
    else:
        out = {"nonce": c.fresh_nonce()}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
