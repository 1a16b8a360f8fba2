#!/usr/bin/python3
"""Hostile HTTP/2 clients for test_sidecar_h2_hostile.sh (python3-h2 and
hyperframe over TLS, ALPN h2). Each mode prints one JSON object.

  slow    preface, SETTINGS, then a HEADERS frame without END_HEADERS and
          nothing more: {"closed_after", "goaway"} (when the server
          closed or sent GOAWAY, seconds after the HEADERS frame).
  vanish  GET --path, wait for the first DATA, then close the TCP
          connection without RST_STREAM or GOAWAY: {"got_data",
          "closed_at"}.
  get     GET --path and read to the end of the stream: {"status",
          "bytes", "ended", "reset", "goaway"} (ended: END_STREAM seen).
--cert and --key present a client certificate. Every socket operation
has a timeout; the whole run is bounded.
"""

import argparse
import json
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from hpack import Encoder
from hyperframe.frame import HeadersFrame, SettingsFrame

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def tls(a):
    ctx = ssl.create_default_context(cafile=a.ca)
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    assert s.selected_alpn_protocol() == "h2"
    return s


def req_headers(a):
    return [(":method", "GET"), (":scheme", "https"),
            (":authority", "localhost:%d" % a.port), (":path", a.path)]


def mode_slow(a):
    s = tls(a)
    block = Encoder().encode(req_headers(a) + [("x-pad", "a" * 100)])
    s.sendall(PREFACE + SettingsFrame(0).serialize() +
              HeadersFrame(1, data=block[:20],
                           flags={"END_STREAM"}).serialize())
    start = time.time()
    res = {"closed_after": None, "goaway": False}
    end = start + a.timeout
    while time.time() < end:
        try:
            s.settimeout(max(0.05, end - time.time()))
            data = s.recv(65536)
        except socket.timeout:
            break
        except (ssl.SSLError, OSError):
            data = b""
        if not data:
            res["closed_after"] = time.time() - start
            break
        # A GOAWAY frame (type 7) anywhere in what came back.
        i = 0
        while i + 9 <= len(data):
            length = int.from_bytes(data[i:i + 3], "big")
            if data[i + 3] == 7:
                res["goaway"] = True
            i += 9 + length
    s.close()
    print(json.dumps(res))


def connect_h2(a):
    s = tls(a)
    c = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    s.sendall(c.data_to_send())
    return s, c


def mode_vanish(a):
    s, c = connect_h2(a)
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, req_headers(a), end_stream=True)
    s.sendall(c.data_to_send())
    got = False
    end = time.time() + a.timeout
    while time.time() < end and not got:
        data = s.recv(65536)
        if not data:
            break
        for e in c.receive_data(data):
            if isinstance(e, h2.events.DataReceived):
                got = True
    if a.rst:
        # Abortive close: the peer sees a TCP reset instead of a FIN.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\0\0\0\0\0\0\0")
    closed = time.time()
    # Straight to TCP: no RST_STREAM, no GOAWAY, no close_notify.
    s.close()
    print(json.dumps({"got_data": got, "closed_at": closed}))


def mode_get(a):
    s, c = connect_h2(a)
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, req_headers(a), end_stream=True)
    s.sendall(c.data_to_send())
    res = {"status": None, "bytes": 0, "ended": False, "reset": None,
           "goaway": False}
    end = time.time() + a.timeout
    done = False
    while time.time() < end and not done:
        try:
            data = s.recv(65536)
        except (socket.timeout, ssl.SSLError, OSError):
            break
        if not data:
            break
        for e in c.receive_data(data):
            if isinstance(e, h2.events.ResponseReceived):
                res["status"] = int(dict(e.headers)[b":status"])
            elif isinstance(e, h2.events.DataReceived):
                res["bytes"] += len(e.data)
                c.acknowledge_received_data(e.flow_controlled_length,
                                            e.stream_id)
            elif isinstance(e, h2.events.StreamEnded):
                res["ended"] = True
                done = True
            elif isinstance(e, h2.events.StreamReset):
                res["reset"] = int(e.error_code)
                done = True
            elif isinstance(e, h2.events.ConnectionTerminated):
                res["goaway"] = True
                done = True
        out = c.data_to_send()
        if out:
            s.sendall(out)
    s.close()
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["slow", "vanish", "get"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--path", default="/echo")
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--rst", action="store_true")
    ap.add_argument("--cert", help="client certificate (mutual TLS)")
    ap.add_argument("--key", help="its private key")
    a = ap.parse_args()
    {"slow": mode_slow, "vanish": mode_vanish, "get": mode_get}[a.mode](a)


if __name__ == "__main__":
    main()
