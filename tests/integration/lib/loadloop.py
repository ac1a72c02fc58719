#!/usr/bin/env python3
# A steady request loop for the integration tests: GET URL about RATE times
# a second, each on a new connection (so every request through a proxy is a
# new TLS handshake to its upstream, with whatever certificates are served
# at that moment), until SIGTERM. Counts answers; anything but HTTP 200,
# a connection error or a timeout included, is a failure.
#
# Usage: loadloop.py URL RATE OUT
#   OUT        "total N ok N failed N" (replaced whole, about once a second
#              and at exit)
#   OUT.fail   one line per failed request: time, what happened
#   OUT.done   written last, at exit, so a reader knows OUT is final
# Loopback only; no test asserts its timing, only its failure count.
import http.client
import os
import signal
import sys
import time
import urllib.parse

url, rate, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
u = urllib.parse.urlsplit(url)
host, port, path = u.hostname, u.port or 80, u.path or "/"
stop = False


def on_term(signum, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)
total = ok = failed = 0


def write_counts():
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write("total %d ok %d failed %d\n" % (total, ok, failed))
    os.rename(tmp, out)


def one():
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        r = conn.getresponse()
        r.read()
        return r.status, ""
    except (OSError, http.client.HTTPException) as e:
        return 0, "%s: %s" % (type(e).__name__, e)
    finally:
        conn.close()


fails = open(out + ".fail", "a", buffering=1)
interval = 1.0 / rate
next_at = time.monotonic()
last_write = 0.0
while not stop:
    status, why = one()
    total += 1
    if status == 200:
        ok += 1
    else:
        failed += 1
        fails.write("%s HTTP %d %s\n" % (time.strftime("%H:%M:%S"), status, why))
    now = time.monotonic()
    if now - last_write >= 1.0:
        write_counts()
        last_write = now
    # Paced, not bursting: a slow request delays the next one, and the loop
    # does not try to catch up on the ones it missed.
    next_at = max(next_at + interval, now)
    if next_at > now:
        time.sleep(next_at - now)
write_counts()
fails.close()
open(out + ".done", "w").close()
