#!/usr/bin/env python3
# A stand-in for `minica serve` that tries to sneak a root past a client:
# GET /v1/roots answers a PEM bundle the test made (a root nobody vouched
# for, a forged cross-certificate), read at each request so the test may
# rewrite it between runs. With a signer, POST /v1/sign and /v1/renew
# answer a certificate for the client's CSR signed by the test's rogue CA,
# with the rogue chain; without one, every POST is refused (403). GET
# /v1/health answers ok; other paths 404. A client that pins the real root
# must accept none of it. Not a CA; loopback only.
#
# Usage: fake_roots.py PORT CERT KEY ROOTS_PEM LOG [SIGN_CRT SIGN_KEY CHAIN_PEM]
#   CERT, KEY    the server's TLS chain and key (issued by the real CA, so
#                the client connects: the trick is in the answers)
#   ROOTS_PEM    what /v1/roots answers
#   LOG          one line per request: METHOD PATH
#   SIGN_CRT/KEY the rogue intermediate that signs CSRs (openssl x509 -req)
#   CHAIN_PEM    the "chain" member of the answer
#   Exits 98 when PORT is taken.
import http.server
import json
import os
import ssl
import subprocess
import sys
import tempfile

port, cert, key, roots, log = sys.argv[1:6]
sign_crt, sign_key, chain = (sys.argv[6:9] + [None, None, None])[:3]


def record(line):
    with open(log, "a") as f:
        f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        record("GET " + self.path)
        if self.path == "/v1/roots":
            with open(roots, "rb") as f:
                self.answer(200, f.read(), "application/x-pem-file")
        elif self.path == "/v1/health":
            self.answer(200, b'{"status":"ok"}', "application/json")
        else:
            self.answer(404, b'{"error":"not_found","detail":"fake"}', "application/json")

    def do_POST(self):
        record("POST " + self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(n, 1 << 20))
        if sign_crt is None:
            self.answer(403, b'{"error":"forbidden","detail":"fake"}', "application/json")
            return
        try:
            csr = json.loads(body)["csr"]
        except (ValueError, KeyError, TypeError):
            self.answer(400, b'{"error":"bad_request","detail":"fake"}', "application/json")
            return
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "req.csr"), "w") as f:
                f.write(csr)
            with open(os.path.join(d, "ext"), "w") as f:
                f.write("basicConstraints=critical,CA:FALSE\n"
                        "keyUsage=critical,digitalSignature\n"
                        "extendedKeyUsage=serverAuth,clientAuth\n")
            r = subprocess.run(["openssl", "x509", "-req", "-in", os.path.join(d, "req.csr"),
                                "-CA", sign_crt, "-CAkey", sign_key, "-set_serial", "4242",
                                "-copy_extensions", "copy",
                                "-days", "1", "-extfile", os.path.join(d, "ext")],
                               capture_output=True, text=True)
        if r.returncode != 0:
            record("sign failed: " + r.stderr.strip().replace("\n", " "))
            self.answer(500, b'{"error":"internal","detail":"fake"}', "application/json")
            return
        with open(chain) as f:
            out = {"certificate": r.stdout, "chain": f.read(), "serial": "1092",
                   "not_after": "2099-01-01T00:00:00Z"}
        self.answer(200, json.dumps(out).encode(), "application/json")

    def log_message(self, fmt, *args):
        pass


try:
    server = http.server.HTTPServer(("127.0.0.1", int(port)), Handler)
except OSError as e:
    sys.stderr.write("fake_roots: %s\n" % e)
    sys.exit(98)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.verify_mode = ssl.CERT_NONE
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("listening", flush=True)
server.serve_forever()
