#!/usr/bin/python3
"""Backend stand-in for the sidecar tests: a plain HTTP/1.1 server on
127.0.0.1 that records every request it sees (and every stream event and
disconnect) as JSON lines, so tests can check both what the client got and
what reached the model server.

Routes:
  /echo            any method; reads the body (Content-Length or chunked)
                   and answers JSON describing the request.
  /sse?n=N&gap=S   chunked text/event-stream: N events, S seconds apart;
                   records "sse_sent" per event and "client_closed" when
                   the proxy closes the connection mid-stream.
  /big?size=N      N bytes with Content-Length; X-Sha256 of the body.
  /chunked?size=N  N bytes chunked in 1000-byte chunks; X-Sha256.
  /eof?size=N      N bytes delimited by closing the connection.
  /hop             a response carrying hop-by-hop fields to be stripped.
  /wait?s=S        answers after S seconds (slow first byte).
  /late?s=S&size=N the head (Content-Length N) at once, the body S
                   seconds later; records "late_head_sent" and
                   "late_body_sent".
  /garbage         an invalid response head.
  /reset           closes the connection without answering.
  /die?size=N      chunked: N bytes, then the connection is cut with no
                   last chunk (a backend that dies mid-stream).
  /ws              WebSocket (RFC 6455) echo when asked to upgrade;
                   records "ws_open", "ws_message" and "ws_closed".
Any other path (/v1/..., /admin, ...) answers like the default below:
JSON describing the request.
"""

import argparse
import base64
import hashlib
import struct
import json
import os
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

RECORD_LOCK = threading.Lock()
RECORD = None
BODY_MAX = 64 * 1024 * 1024


def record(event, **fields):
    rec = {"t": time.time(), "event": event}
    rec.update(fields)
    line = json.dumps(rec, sort_keys=True)
    with RECORD_LOCK:
        RECORD.write(line + "\n")
        RECORD.flush()


def payload(size):
    """Deterministic bytes, so the client can check a digest."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(b"%d" % i).digest()
        i += 1
    return bytes(out[:size])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def read_trailers(self):
        """The trailer section, kept for the record; a section cut short
        by EOF is not a complete request."""
        while True:
            line = self.rfile.readline(8192)
            if line == b"\r\n":
                return
            if not line.endswith(b"\r\n"):
                raise ValueError("truncated trailers")
            name, _, value = line[:-2].decode("latin-1").partition(":")
            self.trailers.append([name, value.strip()])
            if len(self.trailers) > 1000:
                raise ValueError("too many trailers")

    def read_body(self):
        self.trailers = []
        te = self.headers.get("Transfer-Encoding")
        cl = self.headers.get("Content-Length")
        if te is not None:
            if te.lower() != "chunked":
                raise ValueError("bad te")
            body = bytearray()
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    self.read_trailers()
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline(4)
                if len(body) > BODY_MAX:
                    raise ValueError("too big")
        if cl is not None:
            return self.rfile.read(int(cl))
        return b""

    def note(self, body):
        record("request", method=self.command, target=self.path,
               version=self.request_version,
               peer_port=self.client_address[1],
               headers=[[k, v] for k, v in self.headers.items()],
               body_len=len(body),
               body_sha256=hashlib.sha256(body).hexdigest(),
               trailers=getattr(self, "trailers", []))

    def send_bytes(self, status, body, ctype="application/octet-stream",
                   extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def peer_gone(self, timeout):
        """Wait up to timeout; True if the peer closed the connection."""
        r, _, _ = select.select([self.connection], [], [], timeout)
        if not r:
            return False
        try:
            data = self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True
        return data == b""

    def do_sse(self, q):
        n = int(q.get("n", ["2"])[0])
        gap = float(q.get("gap", ["1"])[0])
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for i in range(n):
            data = b"data: event-%d\n\n" % i
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            except OSError:
                record("client_closed", during="write", index=i)
                return
            record("sse_sent", index=i)
            if i + 1 < n:
                deadline = time.time() + gap
                while time.time() < deadline:
                    if self.peer_gone(min(0.02, deadline - time.time())):
                        record("client_closed", during="wait", index=i)
                        self.close_connection = True
                        return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        record("sse_done", n=n)

    def do_chunked(self, size):
        body = payload(size)
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Sha256", hashlib.sha256(body).hexdigest())
        self.end_headers()
        for off in range(0, size, 1000):
            part = body[off:off + 1000]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")

    def do_eof(self, size):
        body = payload(size)
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Sha256: %s\r\n"
                         b"Connection: close\r\n\r\n"
                         % hashlib.sha256(body).hexdigest().encode())
        self.wfile.write(body)
        self.close_connection = True

    def do_die(self, size):
        body = payload(size)
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
        self.wfile.flush()
        time.sleep(0.2)
        record("died", sent=size)
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def ws_read(self, n):
        data = b""
        while len(data) < n:
            part = self.rfile.read(n - len(data))
            if not part:
                raise OSError("eof")
            data += part
        return data

    def ws_frame(self):
        b0, b1 = self.ws_read(2)
        size = b1 & 0x7f
        if size == 126:
            size = struct.unpack("!H", self.ws_read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self.ws_read(8))[0]
        if size > 1 << 20:
            raise OSError("frame too large")
        mask = self.ws_read(4) if b1 & 0x80 else b"\0\0\0\0"
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(self.ws_read(size)))
        return b0 & 0x0f, bool(b1 & 0x80), data

    def ws_send(self, op, data):
        head = bytes([0x80 | op])
        if len(data) < 126:
            head += bytes([len(data)])
        elif len(data) < 65536:
            head += bytes([126]) + struct.pack("!H", len(data))
        else:
            head += bytes([127]) + struct.pack("!Q", len(data))
        self.wfile.write(head + data)
        self.wfile.flush()

    def do_ws(self):
        key = self.headers.get("Sec-WebSocket-Key")
        if (self.headers.get("Upgrade", "").lower() != "websocket"
                or key is None):
            self.send_bytes(426, b"upgrade required\n", "text/plain")
            return
        accept = base64.b64encode(hashlib.sha1(
            key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
            .digest()).decode()
        self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\n"
                         b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: %s\r\n\r\n"
                         % accept.encode())
        self.wfile.flush()
        record("ws_open")
        self.close_connection = True
        self.connection.settimeout(30)
        try:
            while True:
                op, masked, data = self.ws_frame()
                if op == 8:
                    self.ws_send(8, data[:2])
                    record("ws_closed", by="client")
                    return
                record("ws_message", op=op, masked=masked, len=len(data))
                if op in (1, 2):
                    self.ws_send(op, data)
                elif op == 9:
                    self.ws_send(10, data)
        except OSError:
            record("ws_closed", by="eof")

    def handle_any(self):
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        self.note(body)
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        size = int(q.get("size", ["0"])[0])
        if url.path == "/sse":
            self.do_sse(q)
        elif url.path == "/big":
            data = payload(size)
            self.send_bytes(200, data, extra=[
                ("X-Sha256", hashlib.sha256(data).hexdigest())])
        elif url.path == "/chunked":
            self.do_chunked(size)
        elif url.path == "/eof":
            self.do_eof(size)
        elif url.path == "/hop":
            self.send_bytes(200, b"hop\n", "text/plain", extra=[
                ("Connection", "X-Private"), ("X-Private", "secret"),
                ("Keep-Alive", "timeout=5"), ("Proxy-Thing", "x"),
                ("X-Kept", "yes")])
        elif url.path == "/wait":
            time.sleep(float(q.get("s", ["1"])[0]))
            self.send_bytes(200, b"waited\n", "text/plain")
        elif url.path == "/late":
            data = payload(size)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            record("late_head_sent")
            time.sleep(float(q.get("s", ["1"])[0]))
            self.wfile.write(data)
            record("late_body_sent")
        elif url.path == "/garbage":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                             b"Content-Length: 2\r\n\r\nxx")
            self.close_connection = True
        elif url.path == "/reset":
            self.close_connection = True
        elif url.path == "/die":
            self.do_die(size)
        elif url.path == "/ws":
            self.do_ws()
        else:
            info = {"method": self.command, "target": self.path,
                    "headers": [[k, v] for k, v in self.headers.items()],
                    "body_len": len(body),
                    "body_sha256": hashlib.sha256(body).hexdigest()}
            self.send_bytes(200, json.dumps(info).encode() + b"\n",
                            "application/json")

    do_GET = handle_any
    do_POST = handle_any
    do_PUT = handle_any
    do_HEAD = handle_any
    do_DELETE = handle_any
    do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # HTTP/2 opens one backend connection per stream (h2 tests).
    request_queue_size = 128

    def server_bind(self):
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        super().server_bind()

    def get_request(self):
        conn, addr = super().get_request()
        record("connect", peer_port=addr[1])
        return conn, addr


def main():
    global RECORD
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--max-seconds", type=float, default=240)
    args = ap.parse_args()
    RECORD = open(args.record, "a", encoding="utf-8")
    srv = Server(("127.0.0.1", args.port), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, args.port_file)
    timer = threading.Timer(args.max_seconds, lambda: os._exit(3))
    timer.daemon = True
    timer.start()
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
