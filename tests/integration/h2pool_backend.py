#!/usr/bin/python3
"""HTTP/1.1 backend for test_sidecar_h2pool.sh: it numbers every TCP
connection it accepts and tells, in each answer, which connection and
which request on it carried the request, so a test can see whether the
sidecar reused a backend connection.

Every answer is JSON {"conn": C, "nreq": K, "method": M, "path": P,
"body_len": N}, except where a path says otherwise:
  /ok          200 with Content-Length, keep-alive.
  /chunked     200 chunked, keep-alive.
  /close       200 with Content-Length and "Connection: close"; the
               connection is then closed.
  /badchunk    200 chunked, then an invalid chunk size (a broken
               response); the connection stays open.
  /extra       200 with Content-Length, followed by stray bytes.
  /idleclose   200 keep-alive, then the connection is closed after
               0.2 s without a word (the backend's keep-alive timeout).
  /flaky       like /ok, but the second request on any connection is
               read and the connection closed without an answer (a
               backend closing just as a request arrives).
Every accepted connection and request is also appended to --record as a
JSON line. The server ends itself after --max-seconds.
"""

import argparse
import json
import os
import socket
import threading
import time

LOCK = threading.Lock()
RECORD = None
NEXT_CONN = [0]
HEAD_MAX = 64 * 1024
BODY_MAX = 16 * 1024 * 1024


def record(event, **fields):
    rec = {"t": time.time(), "event": event}
    rec.update(fields)
    with LOCK:
        RECORD.write(json.dumps(rec, sort_keys=True) + "\n")
        RECORD.flush()


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > HEAD_MAX:
                raise ValueError("line too long")
            self.fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def request(self):
        """(method, path, headers dict lower-cased, body) or EOFError."""
        first = self.line()
        method, path, _ = first.decode("latin-1").split(" ", 2)
        headers = {}
        while True:
            ln = self.line()
            if not ln:
                break
            k, v = ln.decode("latin-1").split(":", 1)
            headers[k.strip().lower()] = v.strip()
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.line().split(b";")[0], 16)
                if size == 0:
                    while self.line():
                        pass
                    break
                body += self.take(size)
                self.take(2)
                if len(body) > BODY_MAX:
                    raise ValueError("body too large")
        elif "content-length" in headers:
            n = int(headers["content-length"])
            if n > BODY_MAX:
                raise ValueError("body too large")
            body = self.take(n)
        return method, path, headers, body


def answer(sock, body, extra=b"", chunked=False, head=False):
    if head:
        # HEAD: the length of the body a GET would get, and no body.
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json"
                     b"\r\nContent-Length: %d\r\n\r\n" % len(body))
    elif chunked:
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n" + extra + b"\r\n")
        sock.sendall(head + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    else:
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n" % len(body) + extra + b"\r\n")
        sock.sendall(head + body)


def serve(sock, cid):
    c = Conn(sock)
    nreq = 0
    try:
        while True:
            method, path, _, body = c.request()
            nreq += 1
            record("request", conn=cid, nreq=nreq, method=method, path=path,
                   body_len=len(body))
            route = path.split("?")[0]
            info = json.dumps({"conn": cid, "nreq": nreq, "method": method,
                               "path": path,
                               "body_len": len(body)}).encode() + b"\n"
            if route == "/flaky" and nreq == 2:
                record("dropped", conn=cid)
                break
            if route == "/chunked":
                answer(sock, info, chunked=True)
            elif route == "/close":
                answer(sock, info, b"Connection: close\r\n")
                break
            elif route == "/badchunk":
                sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                             b"\r\n\r\n5\r\nhello\r\nzz\r\n")
            elif route == "/extra":
                # One write, so the stray bytes arrive with the answer.
                stray = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                             b"\r\n" % len(info) + info + stray)
            elif route == "/idleclose":
                answer(sock, info)
                time.sleep(0.2)
                break
            else:
                answer(sock, info, head=method == "HEAD")
    except (EOFError, OSError, ValueError):
        pass
    record("closed", conn=cid)
    try:
        sock.close()
    except OSError:
        pass


def main():
    global RECORD
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--max-seconds", type=float, default=120)
    a = ap.parse_args()
    RECORD = open(a.record, "a", encoding="utf-8")
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(128)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.replace(tmp, a.port_file)
    timer = threading.Timer(a.max_seconds, lambda: os._exit(3))
    timer.daemon = True
    timer.start()
    while True:
        s, _ = ls.accept()
        s.settimeout(a.max_seconds)
        with LOCK:
            NEXT_CONN[0] += 1
            cid = NEXT_CONN[0]
        record("connect", conn=cid)
        threading.Thread(target=serve, args=(s, cid), daemon=True).start()


if __name__ == "__main__":
    main()
