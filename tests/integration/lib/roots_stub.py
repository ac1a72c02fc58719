#!/usr/bin/env python3
# A stand-in for `minica serve` whose GET /v1/roots answers a PEM file the
# test writes (and may rewrite between runs): roots and cross-certificates
# made with openssl, to see which of them a client takes. Every other
# request is refused (HTTP 403). Not a CA; loopback only.
#
# Usage: roots_stub.py PORT CERT KEY ROOTS_PEM LOG
#   CERT, KEY  the server's TLS chain and key (issued by the real CA, so the
#              client's TLS verifies: the test is in the answer)
#   ROOTS_PEM  what /v1/roots answers, read at each request
#   LOG        one line per request: METHOD PATH
#   Exits 98 when PORT is taken, so the caller can pick another.
import http.server
import ssl
import sys

port, cert, key, roots, log = sys.argv[1:6]


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def record(self, method):
        with open(log, "a") as f:
            f.write("%s %s\n" % (method, self.path))

    def do_GET(self):
        self.record("GET")
        if self.path == "/v1/roots":
            with open(roots, "rb") as f:
                self.answer(200, f.read(), "application/x-pem-file")
        else:
            self.answer(403, b'{"error":"forbidden","detail":"stub"}', "application/json")

    def do_POST(self):
        self.record("POST")
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(min(n, 1 << 20))
        self.answer(403, b'{"error":"forbidden","detail":"stub"}', "application/json")

    def log_message(self, fmt, *args):
        pass


try:
    server = http.server.HTTPServer(("127.0.0.1", int(port)), Handler)
except OSError as e:
    sys.stderr.write("roots_stub: %s\n" % e)
    sys.exit(98)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.verify_mode = ssl.CERT_NONE
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("listening", flush=True)
server.serve_forever()
