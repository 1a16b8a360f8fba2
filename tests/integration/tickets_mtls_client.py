"""tickets_mtls_client.py: TLS sessions of a client certificate.

Used by test_sidecar_tickets_mtls.sh. Modes:

hold: one request with a fresh handshake, keep the session, touch
--held, wait (bounded) for --go, then one fresh handshake and one
resumption of the held session. Prints {"first", "fresh",
"fresh_reused", "resume", "resume_reused"}.

expiry: for TLS 1.3 and 1.2, a fresh handshake and a resumption (both
must work: nothing changed), then wait until --not-after (epoch
seconds) has passed and try a resumption of the newest session and a
fresh handshake again. Prints {"<tls>_<step>": status, and
"<tls>_<step>_reused": bool}.

A status is the HTTP status, "none" (no HTTP answer) or
"error:<Exception>" (the handshake failed). Every socket has a timeout
and every wait a deadline.
"""
import argparse
import json
import os
import socket
import ssl
import sys
import time

READ_MAX = 1 << 16


def make_ctx(a, tls):
    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.check_hostname = False
    ctx.load_cert_chain(a.cert, a.key)
    if tls == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def get(a, ctx, session, path):
    """One request; returns (status, session, reused)."""
    raw = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost",
                            session=session)
    except (OSError, ssl.SSLError) as e:
        raw.close()
        return "error:" + type(e).__name__, None, False
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\n\r\n" % path.encode())
        got = b""
        while len(got) < READ_MAX:
            d = s.recv(READ_MAX)
            if not d:
                break
            got += d
        st = got.split(b" ", 2)[1].decode() if got.startswith(b"HTTP/") \
            else "none"
        return st, s.session, s.session_reused
    except (OSError, ssl.SSLError) as e:
        return "error:" + type(e).__name__, None, False
    finally:
        s.close()


def put(out, key, res):
    out[key] = res[0]
    out[key + "_reused"] = res[2]


def cmd_hold(a):
    ctx = make_ctx(a, a.tls)
    out = {}
    st, sess, _ = get(a, ctx, None, a.path)
    out["first"] = st
    open(a.held, "w").close()
    end = time.time() + 60
    while not os.path.exists(a.go) and time.time() < end:
        time.sleep(0.05)
    put(out, "fresh", get(a, ctx, None, a.path))
    put(out, "resume", get(a, ctx, sess, a.path))
    return out


def cmd_expiry(a):
    out = {}
    held = {}
    for tls in ("1.3", "1.2"):
        ctx = make_ctx(a, tls)
        res = get(a, ctx, None, a.path + "&tls=" + tls)
        put(out, tls + "_first", res)
        res2 = get(a, ctx, res[1], a.path + "&tls=" + tls)
        put(out, tls + "_resume", res2)
        # The newest session: what a client that keeps coming back holds.
        held[tls] = (ctx, res2[1] if res2[1] is not None else res[1])
    wait = a.not_after + 1.5 - time.time()
    if wait > 30:
        sys.exit("not-after too far away")
    time.sleep(max(0, wait))
    for tls in ("1.3", "1.2"):
        ctx, sess = held[tls]
        put(out, tls + "_late_resume",
            get(a, ctx, sess, a.path + "&late=" + tls))
        put(out, tls + "_late_fresh",
            get(a, ctx, None, a.path + "&late=" + tls))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["hold", "expiry"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--tls", default="1.3")
    ap.add_argument("--path", default="/echo?t=1")
    ap.add_argument("--held")
    ap.add_argument("--go")
    ap.add_argument("--not-after", type=float, default=0)
    a = ap.parse_args()
    out = cmd_hold(a) if a.mode == "hold" else cmd_expiry(a)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
