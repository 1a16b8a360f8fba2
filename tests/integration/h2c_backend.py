#!/usr/bin/python3
"""gRPC-like h2c backend stand-in for test_sidecar_h2.sh.

A cleartext HTTP/2 server on 127.0.0.1 (python3-h2) that answers every
request with HEADERS (:status 200, content-type application/grpc), the
request body echoed back as DATA, then trailers (grpc-status: 0,
grpc-message: ok). A request to /fail answers trailers-only with
grpc-status 13. Each request is recorded as a JSON line with the headers
and body length it saw. Exits after --max-seconds.
"""

import argparse
import json
import socket
import threading
import time

import h2.config
import h2.connection
import h2.events

RECORD = None
LOCK = threading.Lock()


def record(**fields):
    fields["t"] = time.time()
    with LOCK, open(RECORD, "a") as f:
        f.write(json.dumps(fields) + "\n")


def answer(conn, sid, headers, body):
    path = headers.get(":path", "")
    if path == "/fail":
        conn.send_headers(sid, [(":status", "200"),
                                ("content-type", "application/grpc"),
                                ("grpc-status", "13"),
                                ("grpc-message", "failed")],
                          end_stream=True)
        return
    conn.send_headers(sid, [(":status", "200"),
                            ("content-type", "application/grpc")])
    conn.send_data(sid, body)
    conn.send_headers(sid, [("grpc-status", "0"), ("grpc-message", "ok")],
                      end_stream=True)


def serve(sock):
    sock.settimeout(30)
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    reqs = {}
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    reqs[ev.stream_id] = [
                        {k.decode() if isinstance(k, bytes) else k:
                         v.decode() if isinstance(v, bytes) else v
                         for k, v in ev.headers}, b""]
                elif isinstance(ev, h2.events.DataReceived):
                    reqs[ev.stream_id][1] += ev.data
                    conn.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.TrailersReceived):
                    reqs[ev.stream_id].append(
                        [[k.decode() if isinstance(k, bytes) else k,
                          v.decode() if isinstance(v, bytes) else v]
                         for k, v in ev.headers])
                elif isinstance(ev, h2.events.StreamEnded):
                    req = reqs.pop(ev.stream_id)
                    hdrs, body = req[0], req[1]
                    record(event="request", headers=hdrs,
                           body_len=len(body),
                           trailers=req[2] if len(req) > 2 else [])
                    answer(conn, ev.stream_id, hdrs, body)
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
    except (OSError, h2.exceptions.ProtocolError):
        pass
    finally:
        sock.close()


def main():
    global RECORD
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--max-seconds", type=float, default=120)
    a = ap.parse_args()
    RECORD = a.record
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    ls.settimeout(0.5)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    end = time.time() + a.max_seconds
    while time.time() < end:
        try:
            s, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(s,), daemon=True).start()


if __name__ == "__main__":
    main()
