#!/usr/bin/env python3
"""Runs a command with its standard output on a pseudo-terminal, as a user
at a terminal would, and writes the bytes it printed to our standard output
unchanged (no \\n -> \\r\\n). Exits with the command's exit status.

  ptyrun.py [--cols N] [--rows N] [--timeout S] -- CMD [ARG...]

Standard error and the environment are passed through; standard input is
/dev/null. Only for tests: what a program does when isatty(1) is true."""
import argparse
import errno
import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cols", type=int, default=200)
    ap.add_argument("--rows", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command")

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", args.rows, args.cols, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST  # the bytes as written
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave)
    os.close(slave)

    out = bytearray()
    deadline = time.monotonic() + args.timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            proc.wait()
            sys.stderr.write("ptyrun: %s timed out after %gs\n" % (cmd[0], args.timeout))
            sys.exit(124)
        ready, _, _ = select.select([master], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError as e:
            if e.errno == errno.EIO:  # Linux: every slave descriptor is closed
                break
            raise
        if not chunk:
            break
        out += chunk
    os.close(master)
    rc = proc.wait()
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    sys.exit(rc if rc >= 0 else 128 - rc)


if __name__ == "__main__":
    main()
