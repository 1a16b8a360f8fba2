#!/usr/bin/python3
"""HTTPS (and plain HTTP) test peer for tests/unit/test_http.c.

Usage: http_server.py WORKDIR

Generates a CA and a server certificate for 127.0.0.1 with the openssl
CLI into WORKDIR, plus an unrelated CA, starts an HTTPS and a plain HTTP
server on 127.0.0.1 with ephemeral ports, and then writes
"HTTPS_PORT HTTP_PORT" to WORKDIR/ports. Exits by itself after
LIFETIME_S seconds so that a crashed test never leaves it running.
"""
import http.server
import os
import re
import ssl
import subprocess
import sys
import threading
import time

LIFETIME_S = 120
SLOW_STALL_S = 5


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=60)


def make_certs(d):
    for ca in ("ca", "otherca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                ca + ".key", "-out", ca + ".pem", "-days", "2",
                "-subj", "/CN=sealpod test " + ca, cwd=d)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
            "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
            "-days", "2", "-extfile", "ext.cnf", cwd=d)


def pattern(n):
    return bytes(i % 251 for i in range(n))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def ranged(self, data, honour=True):
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if not honour or m is None:
            self.reply(200, data)
            return
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else len(data) - 1
        b = min(b, len(data) - 1)
        if a >= len(data) or a > b:
            self.reply(416, b"", [("Content-Range", "bytes */%d" % len(data))])
            return
        cr = "bytes %d-%d/%d" % (a, b, len(data))
        if self.path.startswith("/badrange/"):
            cr = "bytes %d-%d/%d" % (a + 1, b, len(data))
        self.reply(206, data[a:b + 1], [("Content-Range", cr)])

    def chunked(self, data):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, len(data), 1000):
            piece = data[i:i + 1000]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self):
        p = self.path
        m = re.fullmatch(r"/(bytes|norange|badrange|chunked|status)/(\d+)", p)
        if m and m.group(1) == "status":
            code = int(m.group(2))
            self.reply(code, b"status %d" % code)
        elif m and m.group(1) == "chunked":
            self.chunked(pattern(int(m.group(2))))
        elif m:
            self.ranged(pattern(int(m.group(2))), m.group(1) != "norange")
        elif p == "/big-cookie":
            # One 200 KB header line: over libcurl's own line limit.
            self.reply(200, b"ok", [("Set-Cookie", "a=" + "x" * 200000)])
        elif p == "/many-headers":
            # 310 lines of 1 KB: over HTTP_HEADERS_MAX (common/http.h).
            self.reply(200, b"ok", [("X-Pad-%d" % i, "y" * 1000)
                                    for i in range(310)])
        elif p == "/some-headers":
            # 60 KB in all: well inside the ceiling.
            self.reply(200, b"ok", [("X-Pad-%d" % i, "y" * 1000)
                                    for i in range(60)])
        elif p == "/set-cookie":
            self.reply(200, b"ok", [("Set-Cookie",
                                     "sess=abc123; Path=/; HttpOnly")])
        elif p == "/echo-cookie":
            self.reply(200, (self.headers.get("Cookie") or "").encode())
        elif p == "/echo-header":
            self.reply(200, (self.headers.get("X-Test") or "").encode())
        elif p == "/echo-range":
            self.reply(200, (self.headers.get("Range") or "").encode())
        elif p == "/redirect":
            self.reply(302, b"moved", [("Location", "/bytes/10")])
        elif p == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"12345")
            self.wfile.flush()
            time.sleep(SLOW_STALL_S)
            self.wfile.write(b"67890")
        elif p == "/lie-length":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"short")
            self.wfile.flush()
            self.close_connection = True
        else:
            self.reply(404, b"no such thing")

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        if self.path == "/echo":
            self.reply(200, body)
        else:
            self.reply(404, b"")

    def do_PUT(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        self.reply(201, b"PUT " + body)

    def do_DELETE(self):
        self.reply(200, b"DELETE")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def main():
    d = sys.argv[1]
    make_certs(d)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.pem"),
                        os.path.join(d, "server.key"))
    tls = Server(("127.0.0.1", 0), Handler)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    plain = Server(("127.0.0.1", 0), Handler)
    for s in (tls, plain):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    tmp = os.path.join(d, "ports.tmp")
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (tls.server_address[1], plain.server_address[1]))
    os.rename(tmp, os.path.join(d, "ports"))
    time.sleep(LIFETIME_S)


if __name__ == "__main__":
    main()
