#!/usr/bin/python3
"""HTTP/2 client for test_sidecar_h2.sh (python3-h2 over TLS, ALPN h2).

Modes (each prints one JSON object):
  rst    open PATH, wait for the first DATA, send RST_STREAM(CANCEL),
         keep the connection open a moment: {"got_data", "reset_at"}.
  flood  send --count HEADERS+RST_STREAM pairs as fast as possible, then
         read until GOAWAY or close: {"sent", "goaway", "error_code",
         "closed"}.
  sse    open PATH and stamp each DATA frame on arrival: {"events":
         [[t, text], ...], "status"}.
Every socket operation has a timeout; the whole run is bounded.
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


def connect(a):
    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    if s.selected_alpn_protocol() != "h2":
        raise SystemExit(json.dumps({"error": "no h2",
                                     "alpn": s.selected_alpn_protocol()}))
    c = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    s.sendall(c.data_to_send())
    return s, c


def headers(a, path):
    return [(":method", "GET"), (":scheme", "https"),
            (":authority", "localhost:%d" % a.port), (":path", path)]


def pump(s, c):
    """Read once; return the events (empty list on EOF)."""
    data = s.recv(65536)
    if not data:
        return None
    ev = c.receive_data(data)
    out = c.data_to_send()
    if out:
        s.sendall(out)
    return ev


def mode_rst(a):
    s, c = connect(a)
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, headers(a, a.path), end_stream=True)
    s.sendall(c.data_to_send())
    res = {"got_data": False}
    end = time.time() + a.timeout
    while time.time() < end and not res["got_data"]:
        ev = pump(s, c)
        if ev is None:
            break
        for e in ev:
            if isinstance(e, h2.events.DataReceived) and e.stream_id == sid:
                res["got_data"] = True
    c.reset_stream(sid, error_code=8)
    s.sendall(c.data_to_send())
    res["reset_at"] = time.time()
    time.sleep(a.hold)
    s.close()
    print(json.dumps(res))


def mode_flood(a):
    s, c = connect(a)
    res = {"sent": 0, "goaway": False, "error_code": None, "closed": False}
    try:
        for _ in range(a.count):
            sid = c.get_next_available_stream_id()
            c.send_headers(sid, headers(a, a.path), end_stream=True)
            c.reset_stream(sid, error_code=8)
            res["sent"] += 1
            if res["sent"] % 50 == 0:
                s.sendall(c.data_to_send())
        s.sendall(c.data_to_send())
    except (OSError, h2.exceptions.ProtocolError):
        res["closed"] = True
    end = time.time() + a.timeout
    try:
        while time.time() < end and not res["goaway"]:
            ev = pump(s, c)
            if ev is None:
                res["closed"] = True
                break
            for e in ev:
                if isinstance(e, h2.events.ConnectionTerminated):
                    res["goaway"] = True
                    res["error_code"] = int(e.error_code)
    except (OSError, h2.exceptions.ProtocolError):
        res["closed"] = True
    s.close()
    print(json.dumps(res))


def mode_sse(a):
    s, c = connect(a)
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, headers(a, a.path), end_stream=True)
    s.sendall(c.data_to_send())
    res = {"events": [], "status": None}
    end = time.time() + a.timeout
    done = False
    while time.time() < end and not done:
        ev = pump(s, c)
        if ev is None:
            break
        now = time.time()
        for e in ev:
            if isinstance(e, h2.events.ResponseReceived):
                res["status"] = dict(e.headers).get(b":status", b"").decode()
            elif isinstance(e, h2.events.DataReceived):
                c.acknowledge_received_data(e.flow_controlled_length, sid)
                for chunk in e.data.decode().split("\n\n"):
                    if chunk.strip():
                        res["events"].append([now, chunk.strip()])
            elif isinstance(e, h2.events.StreamEnded):
                done = True
        out = c.data_to_send()
        if out:
            s.sendall(out)
    s.close()
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["rst", "flood", "sse"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--path", default="/echo")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--hold", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    {"rst": mode_rst, "flood": mode_flood, "sse": mode_sse}[a.mode](a)


if __name__ == "__main__":
    main()
