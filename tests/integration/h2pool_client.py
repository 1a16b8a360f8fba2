#!/usr/bin/python3
"""HTTP/2 client for test_sidecar_h2pool.sh (python3-h2 over TLS).

Opens --sessions TLS connections (ALPN h2) and runs the --step requests
one after the other, each to its end, --gap seconds apart. A step is
"SESSION METHOD PATH [BODYLEN]", e.g. "0 GET /ok" or "1 POST /ok 100".
Prints one JSON list, one object per step: {"session", "status" (None
when the stream was reset), "reset", "answer" (the backend's JSON, or
None)}. Every socket operation has a timeout; the run is bounded.
"""

import argparse
import json
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events


def connect(a):
    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    if s.selected_alpn_protocol() != "h2":
        raise SystemExit("no h2: %r" % s.selected_alpn_protocol())
    c = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    s.sendall(c.data_to_send())
    return s, c


def run_step(a, sess, method, path, body_len):
    s, c = sess
    sid = c.get_next_available_stream_id()
    hdrs = [(":method", method), (":scheme", "https"),
            (":authority", "localhost:%d" % a.port), (":path", path)]
    body = b"x" * body_len
    if body:
        hdrs.append(("content-length", str(len(body))))
    c.send_headers(sid, hdrs, end_stream=not body)
    if body:
        c.send_data(sid, body, end_stream=True)
    s.sendall(c.data_to_send())
    res = {"status": None, "reset": False, "answer": None}
    data = b""
    end = time.time() + a.timeout
    done = False
    while time.time() < end and not done:
        got = s.recv(65536)
        if not got:
            break
        for e in c.receive_data(got):
            if getattr(e, "stream_id", None) != sid:
                continue
            if isinstance(e, h2.events.ResponseReceived):
                res["status"] = int(dict(e.headers)[b":status"])
            elif isinstance(e, h2.events.DataReceived):
                c.acknowledge_received_data(e.flow_controlled_length, sid)
                data += e.data
            elif isinstance(e, h2.events.StreamEnded):
                done = True
            elif isinstance(e, h2.events.StreamReset):
                res["reset"] = True
                done = True
        out = c.data_to_send()
        if out:
            s.sendall(out)
    if done and not res["reset"]:
        try:
            res["answer"] = json.loads(data)
        except ValueError:
            res["answer"] = None
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--sessions", type=int, default=1)
    ap.add_argument("--step", action="append", default=[])
    ap.add_argument("--gap", type=float, default=0.0)
    ap.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    sessions = [connect(a) for _ in range(a.sessions)]
    out = []
    for i, step in enumerate(a.step):
        if i > 0 and a.gap > 0:
            time.sleep(a.gap)
        parts = step.split()
        k = int(parts[0])
        body_len = int(parts[3]) if len(parts) > 3 else 0
        res = run_step(a, sessions[k], parts[1], parts[2], body_len)
        res["session"] = k
        out.append(res)
    for s, _ in sessions:
        s.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
