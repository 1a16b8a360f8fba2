#!/usr/bin/python3
"""Open --n TLS connections to a proxy, make one small request on each
(HTTP/1.1 keep-alive), keep them idle, and print the proxy's RSS growth
per connection in KiB. --pids: the proxy's processes (RSS summed)."""

import argparse
import socket
import ssl
import time


def rss_kib(pids):
    total = 0
    for p in pids:
        with open("/proc/%s/status" % p) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--path", default="/small")
    ap.add_argument("--pids", required=True)
    a = ap.parse_args()
    pids = a.pids.split(",")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    req = b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % a.path.encode()
    time.sleep(0.5)
    before = rss_kib(pids)
    socks = []
    for _ in range(a.n):
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", a.port),
                                                     timeout=10),
                            server_hostname="localhost")
        s.sendall(req)
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(65536)
        socks.append(s)
    time.sleep(1.0)
    after = rss_kib(pids)
    print("%.1f" % ((after - before) / a.n))
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
