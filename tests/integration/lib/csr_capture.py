#!/usr/bin/env python3
# A stand-in for `minica serve` that keeps what a client POSTs and refuses it
# (HTTP 403). minica's clients (issue --ca-url, the agent's enrollment and
# renewal) make their CSRs in memory and only send them over TLS; minica
# serve does not store them, so this is how a test gets one to inspect.
# Not a CA: it signs nothing. Loopback only.
#
# Usage: csr_capture.py PORT CERT KEY CLIENT_CA OUTDIR
#   CERT: the server's certificate chain (PEM), KEY its key; CLIENT_CA: roots
#   a client certificate may chain to (renewal sends one; it is not required).
#   Each request body is written to OUTDIR/N.json and its path (/v1/sign,
#   /v1/renew) to OUTDIR/N.path, N counting from 1.
#   Exits 98 when PORT is taken, so the caller can pick another.
import http.server
import os
import ssl
import sys

port, cert, key, client_ca, outdir = sys.argv[1:6]
count = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(n, 1 << 20))
        count += 1
        with open(os.path.join(outdir, "%d.path" % count), "w") as f:
            f.write(self.path + "\n")
        tmp = os.path.join(outdir, ".%d.tmp" % count)
        with open(tmp, "wb") as f:
            f.write(body)
        # Renamed whole, so a reader never sees half a body.
        os.rename(tmp, os.path.join(outdir, "%d.json" % count))
        answer = b'{"error":"forbidden","detail":"captured by the test"}'
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, fmt, *args):
        sys.stderr.write("csr_capture: " + (fmt % args) + "\n")


try:
    server = http.server.HTTPServer(("127.0.0.1", int(port)), Handler)
except OSError as e:
    sys.stderr.write("csr_capture: %s\n" % e)
    sys.exit(98)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(client_ca)
ctx.verify_mode = ssl.CERT_OPTIONAL
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
