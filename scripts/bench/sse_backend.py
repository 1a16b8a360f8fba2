#!/usr/bin/python3
"""SSE backend for bench-sidecar.sh: every request gets a chunked
text/event-stream of --n events, --gap seconds apart, each carrying the
wall-clock time it was written ("data: <t>"). Bounded by --max-seconds."""

import argparse
import socket
import threading
import time


def serve(c, n, gap):
    c.settimeout(10)
    try:
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(4096)
            if not d:
                return
            buf += d
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  b"Cache-Control: no-cache\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        for _ in range(n):
            ev = b"data: %.6f\n\n" % time.time()
            c.sendall(b"%x\r\n%s\r\n" % (len(ev), ev))
            time.sleep(gap)
        c.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--gap", type=float, default=0.005)
    ap.add_argument("--max-seconds", type=float, default=600)
    a = ap.parse_args()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.port))
    ls.listen(64)
    ls.settimeout(0.5)
    end = time.time() + a.max_seconds
    while time.time() < end:
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(c, a.n, a.gap),
                         daemon=True).start()


if __name__ == "__main__":
    main()
