#!/usr/bin/python3
"""TLS client for sidecar tests where curl cannot say enough: event
arrival times, disconnecting mid-stream, raw hostile bytes, slow heads.

Every command connects to 127.0.0.1:PORT, verifies the server against
--ca, has a hard --timeout, and prints one JSON object on stdout.
"""

import argparse
import json
import socket
import ssl
import sys
import time


def connect(args):
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", args.port),
                                   timeout=args.timeout)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def get_head(path):
    return ("GET %s HTTP/1.1\r\nHost: localhost\r\n"
            "Accept: text/event-stream\r\n\r\n" % path).encode()


def cmd_sse(args):
    """Stream events; record when each one arrived."""
    s = connect(args)
    s.sendall(get_head(args.path))
    events = []
    buf = b""
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        now = time.time()
        buf += data
        while b"data: " in buf:
            start = buf.index(b"data: ")
            end = buf.find(b"\n", start)
            if end < 0:
                break
            events.append([now, buf[start + 6:end].decode()])
            buf = buf[end:]
        if buf.endswith(b"0\r\n\r\n"):
            break
    s.close()
    print(json.dumps({"events": events}))


def cmd_disconnect(args):
    """Read the first event, then vanish; report when we closed."""
    s = connect(args)
    s.sendall(get_head(args.path))
    buf = b""
    deadline = time.time() + args.timeout
    while b"data: " not in buf and time.time() < deadline:
        data = s.recv(65536)
        if not data:
            break
        buf += data
    got = b"data: " in buf
    if args.rst:
        # Abortive close: the peer sees a reset instead of a FIN.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\0\0\0\0\0\0\0")
    closed = time.time()
    s.close()
    print(json.dumps({"got_event": got, "closed_at": closed}))


def read_all(s, timeout):
    out = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            s.settimeout(max(0.05, deadline - time.time()))
            data = s.recv(65536)
        except (socket.timeout, ssl.SSLError, OSError):
            break
        if not data:
            break
        out += data
    return out


def cmd_raw(args):
    """Send the bytes of --file (\\n kept as is) and print the reply."""
    with open(args.file, "rb") as f:
        req = f.read()
    s = connect(args)
    s.sendall(req)
    out = read_all(s, args.timeout)
    s.close()
    text = out.decode("latin-1")
    status = 0
    if text.startswith("HTTP/1.1 "):
        status = int(text[9:12])
    print(json.dumps({"status": status, "reply": text}))


def cmd_slow(args):
    """Send half a head, then nothing; report what came back and when."""
    s = connect(args)
    start = time.time()
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    out = read_all(s, args.timeout)
    text = out.decode("latin-1")
    status = int(text[9:12]) if text.startswith("HTTP/1.1 ") else 0
    print(json.dumps({"status": status, "after": time.time() - start,
                      "reply": text}))


def cmd_hold(args):
    """One request, then keep the connection idle; report when the
    server closed it (or that it did not within --timeout)."""
    s = connect(args)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        body += s.recv(65536)
    print(json.dumps({"event": "idle", "t": time.time()}), flush=True)
    start = time.time()
    closed = None
    s.settimeout(args.timeout)
    try:
        if s.recv(1) == b"":
            closed = time.time()
    except socket.timeout:
        pass
    except (ssl.SSLError, OSError):
        closed = time.time()
    print(json.dumps({"event": "closed" if closed else "open",
                      "t": closed or time.time(),
                      "idle_for": (closed or time.time()) - start}))


def cmd_pipeline(args):
    """Two requests in one write; print both replies."""
    s = connect(args)
    req = ("GET /echo?one HTTP/1.1\r\nHost: localhost\r\n\r\n"
           "GET /echo?two HTTP/1.1\r\nHost: localhost\r\n"
           "Connection: close\r\n\r\n").encode()
    s.sendall(req)
    out = read_all(s, args.timeout).decode("latin-1")
    s.close()
    print(json.dumps({"count": out.count("HTTP/1.1 200 "), "reply": out}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["sse", "disconnect", "raw", "slow",
                                        "pipeline", "hold"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--path", default="/sse?n=2&gap=1")
    ap.add_argument("--file")
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--rst", action="store_true")
    args = ap.parse_args()
    {"sse": cmd_sse, "disconnect": cmd_disconnect, "raw": cmd_raw,
     "slow": cmd_slow, "pipeline": cmd_pipeline,
     "hold": cmd_hold}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
