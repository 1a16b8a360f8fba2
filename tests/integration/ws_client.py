#!/usr/bin/python3
"""Minimal WebSocket client (RFC 6455) over TLS for the sidecar tests,
stdlib only. Sends an upgrade request, checks the 101 and the accept key,
then sends messages and reads their echoes. Prints one JSON object:
{"status": N, "accept_ok": bool, "echoes": [...], "closed": bool}.
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            raise EOFError("connection closed")
        data += part
    return data


def send_frame(sock, op, data):
    mask = os.urandom(4)
    head = bytes([0x80 | op])
    if len(data) < 126:
        head += bytes([0x80 | len(data)])
    elif len(data) < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", len(data))
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", len(data))
    body = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
    sock.sendall(head + mask + body)


def read_frame(sock):
    b0, b1 = read_exact(sock, 2)
    size = b1 & 0x7f
    if size == 126:
        size = struct.unpack("!H", read_exact(sock, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", read_exact(sock, 8))[0]
    if b1 & 0x80:
        raise ValueError("server frames must not be masked")
    return b0 & 0x0f, read_exact(sock, size)


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(1)
        if not part:
            break
        data += part
        if len(data) > 65536:
            break
    return data.decode("latin-1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--path", default="/ws")
    ap.add_argument("--messages", type=int, default=3)
    ap.add_argument("--size", type=int, default=10)
    ap.add_argument("--linger", type=float, default=0,
                    help="seconds to stay silent before closing")
    ap.add_argument("--no-close", action="store_true",
                    help="drop the TCP connection instead of a close frame")
    ap.add_argument("--timeout", type=float, default=10)
    args = ap.parse_args()

    ctx = ssl.create_default_context(cafile=args.ca)
    raw = socket.create_connection(("127.0.0.1", args.port),
                                   timeout=args.timeout)
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                  "\r\n" % (args.path, key)).encode())
    head = read_head(sock)
    lines = head.split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines[0] else 0
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.strip()
    want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
    out = {"status": status,
           "accept_ok": fields.get("sec-websocket-accept") == want.decode(),
           "upgrade": fields.get("upgrade", ""),
           "echoes": [], "closed": False}
    if status == 101:
        for i in range(args.messages):
            msg = (b"m%d-" % i) + b"x" * args.size
            send_frame(sock, 1 if i % 2 == 0 else 2, msg)
            op, data = read_frame(sock)
            out["echoes"].append(data == msg)
        if args.linger > 0:
            sock.settimeout(args.linger + 5)
            try:
                read_frame(sock)
            except (EOFError, OSError, ssl.SSLError):
                out["cut"] = True
        elif args.no_close:
            sock.shutdown(socket.SHUT_RDWR)
        else:
            send_frame(sock, 8, struct.pack("!H", 1000))
            try:
                op, _ = read_frame(sock)
                out["closed"] = op == 8
            except (EOFError, OSError, ssl.SSLError):
                pass
    sock.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
