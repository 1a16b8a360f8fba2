#!/usr/bin/python3
"""HTTP/2 client for test_sidecar_trailers.sh (python3-h2 over TLS, ALPN
h2): one request whose body is followed by trailing HEADERS.

  h2_trailers_client.py --port P --ca CA --path /echo --body TEXT
      [--header name=value ...] [--trailer name=value ...]

Sends HEADERS (without END_STREAM), the body as one DATA frame, then
the trailers as HEADERS with END_STREAM (or END_STREAM on the DATA when
no --trailer is given). Prints one JSON object: {"status", "body",
"reset", "trailers"} (reset: the RST_STREAM error code, or null).
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


def pairs(items):
    out = []
    for item in items or []:
        name, _, value = item.partition("=")
        out.append((name, value))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--path", default="/echo")
    ap.add_argument("--method", default="POST")
    ap.add_argument("--body", default="hello")
    ap.add_argument("--header", action="append")
    ap.add_argument("--trailer", action="append")
    ap.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()

    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
    # Our own validation off: the point is to send what a hostile
    # client would, and see what the sidecar lets through.
    c = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=True, validate_outbound_headers=False,
        normalize_outbound_headers=False))
    c.initiate_connection()
    sid = c.get_next_available_stream_id()
    head = [(":method", a.method), (":scheme", "https"),
            (":authority", "localhost:%d" % a.port),
            (":path", a.path)] + pairs(a.header)
    trailers = pairs(a.trailer)
    c.send_headers(sid, head)
    c.send_data(sid, a.body.encode(), end_stream=not trailers)
    if trailers:
        c.send_headers(sid, trailers, end_stream=True)
    s.sendall(c.data_to_send())

    res = {"status": None, "body": "", "reset": None, "trailers": []}
    body = b""
    end = time.time() + a.timeout
    done = False
    while time.time() < end and not done:
        try:
            data = s.recv(65536)
        except (socket.timeout, ssl.SSLError, OSError):
            break
        if not data:
            break
        try:
            events = c.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            res["error"] = str(e)
            break
        for e in events:
            if isinstance(e, h2.events.ResponseReceived):
                res["status"] = int(dict(e.headers)[b":status"])
            elif isinstance(e, h2.events.DataReceived):
                body += e.data
                c.acknowledge_received_data(e.flow_controlled_length,
                                            e.stream_id)
            elif isinstance(e, h2.events.TrailersReceived):
                res["trailers"] = [[k.decode(), v.decode()]
                                   for k, v in e.headers]
            elif isinstance(e, h2.events.StreamEnded):
                done = True
            elif isinstance(e, h2.events.StreamReset):
                res["reset"] = int(e.error_code)
                done = done or res["status"] is None
            elif isinstance(e, h2.events.ConnectionTerminated):
                done = True
        out = c.data_to_send()
        if out:
            s.sendall(out)
    s.close()
    res["body"] = body.decode("latin-1")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
