#!/usr/bin/python3
"""TLS session resumption client for the sidecar's ticket tests.

Connects to 127.0.0.1:PORT (verifying the server against --ca), sends
one HTTP/1.1 request per connection and reads the whole response, so a
TLS 1.3 ticket sent after the handshake has certainly been read. Then
reconnects --n times offering the session it holds and counts the
connections the server resumed. Prints one JSON object on stdout:

  {"first_resumed": false, "attempts": N, "resumed": K, "renewed": R,
   "ports": [[local_port, resumed], ...]}

"renewed" counts resumed connections that brought a new ticket (the
session's id, which OpenSSL derives from the ticket, changed): clients
that use a ticket only once (RFC 8446 C.4; OpenSSL's own, e.g. wrk) need
one from every resumption, or their next connection is a full handshake.

The local ports let a tracer (strace on accept4) tell which worker
accepted each connection. Every socket has a timeout and every wait a
deadline.
"""

import argparse
import json
import os
import socket
import ssl
import sys
import time


def make_ctx(args):
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.check_hostname = False
    if args.tls == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def exchange(ctx, args, session):
    """One connection: handshake (offering session), GET, read to EOF."""
    raw = socket.create_connection(("127.0.0.1", args.port),
                                   timeout=args.timeout)
    port = raw.getsockname()[1]
    s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    try:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\n\r\n")
        got = b""
        while len(got) < 1 << 20:
            data = s.recv(65536)
            if not data:
                break
            got += data
        if not got.startswith(b"HTTP/1.1 200"):
            raise RuntimeError("unexpected response: %r" % got[:40])
        return s.session, s.session_reused, port
    finally:
        s.close()


def bare(ctx, args, session):
    """A handshake only (offering session), then close: for CPU figures."""
    raw = socket.create_connection(("127.0.0.1", args.port),
                                   timeout=args.timeout)
    port = raw.getsockname()[1]
    s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    reused = s.session_reused
    s.close()
    return session, reused, port


def wait_file(path, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--tls", choices=["1.2", "1.3"], default="1.3")
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--same-ticket", action="store_true",
                   help="offer the first session every time")
    p.add_argument("--bare", action="store_true",
                   help="reconnects only shake hands (implies "
                   "--same-ticket); no request")
    p.add_argument("--fresh", action="store_true",
                   help="reconnects offer no session (full handshakes)")
    p.add_argument("--ready-file",
                   help="touch this once the first session is held")
    p.add_argument("--wait-file",
                   help="then wait (at most 60 s) for this file")
    args = p.parse_args()

    ctx = make_ctx(args)
    first, first_resumed, _ = exchange(ctx, args, None)
    if args.ready_file:
        with open(args.ready_file, "w"):
            pass
    if args.wait_file and not wait_file(args.wait_file, 60):
        print(json.dumps({"error": "wait-file never appeared"}))
        return 1

    session = first
    resumed = 0
    renewed = 0
    ports = []
    for _ in range(args.n):
        offered = None if args.fresh else session
        if args.bare:
            new, reused, port = bare(ctx, args, offered)
        else:
            new, reused, port = exchange(ctx, args, offered)
        ports.append([port, reused])
        if reused:
            resumed += 1
            if offered is not None and new is not None and \
                    new.id != offered.id:
                renewed += 1
        if not args.same_ticket and not args.bare:
            session = new
    print(json.dumps({"first_resumed": first_resumed, "attempts": args.n,
                      "resumed": resumed, "renewed": renewed,
                      "ports": ports}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
