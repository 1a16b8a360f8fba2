#!/usr/bin/python3
"""Measure the delay each server-sent event gains through a TLS proxy:
read the stream over HTTP/1.1 and compare each event's arrival with the
time the backend stamped in it. Prints "p50_ms p99_ms count"."""

import argparse
import socket
import ssl
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/sse")
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", a.port),
                                                 timeout=a.timeout),
                        server_hostname="localhost")
    s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n"
              % a.path.encode())
    delays = []
    buf = b""
    end = time.time() + a.timeout
    while time.time() < end:
        d = s.recv(65536)
        now = time.time()
        if not d:
            break
        buf += d
        while b"data: " in buf:
            i = buf.index(b"data: ")
            j = buf.find(b"\n", i)
            if j < 0:
                break
            delays.append(now - float(buf[i + 6:j]))
            buf = buf[j:]
        if buf.endswith(b"0\r\n\r\n"):
            break
    s.close()
    delays.sort()
    if not delays:
        print("nan nan 0")
        return
    p50 = delays[len(delays) // 2] * 1e3
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1e3
    print("%.3f %.3f %d" % (p50, p99, len(delays)))


if __name__ == "__main__":
    main()
