#!/bin/bash
# http2.max_resets_per_s (review h33, finding 2) must also bound streams that
# the client gets the *server* to reset ("MadeYouReset", CVE-2025-8671).
# A client opens GET streams (each reaches the model server) and then
# sends each stream a WINDOW_UPDATE that overflows its window, a stream
# error that makes nghttp2 send RST_STREAM(FLOW_CONTROL_ERROR); or it
# opens POST streams with content-length: 1 and sends 2 bytes, which
# nghttp2 resets as malformed (PROTOCOL_ERROR). Either way the backend
# connection is closed at once, as for a client reset. Client
# resets are capped (GOAWAY ENHANCE_YOUR_CALM past the limit, checked
# first as a control); resets the client provokes must be capped the
# same way, or one connection makes the model server start and drop
# requests at any rate.
. "$(dirname "$0")/sidecar_lib.sh"

"$PY" -c 'import hpack' 2>/dev/null || skip "python3-hpack is not installed"

LIMIT=50
start_backend
SC_EXTRA="http2:
  max_resets_per_s: $LIMIT" start_sidecar
mark_ready

# provoke MODE TAG: 1000 streams in rounds of 20; after each round the
# client resets them (rst), overflows their windows (wu), or sends more
# DATA than their content-length (cl, POST streams).
provoke() {
	timeout 60 "$PY" - --port "$PORT" --ca "$T/ca.pem" --mode "$1" \
		--tag "$2" <<'EOF'
import argparse, json, select, socket, ssl, struct, time
import hpack
ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int)
ap.add_argument("--ca")
ap.add_argument("--mode")
ap.add_argument("--tag")
a = ap.parse_args()
def frame(t, fl, sid, pl=b""):
    return struct.pack(">I", len(pl))[1:] + bytes([t, fl]) + \
        struct.pack(">I", sid) + pl
ctx = ssl.create_default_context(cafile=a.ca)
ctx.check_hostname = False
ctx.set_alpn_protocols(["h2"])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", a.port),
                                             timeout=5),
                    server_hostname="localhost")
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0))
enc = hpack.Encoder()
st = {"sent": 0, "server_resets": 0, "goaway": None, "closed": False}
buf = b""
def pump(wait):
    global buf
    end = time.time() + wait
    while not st["closed"]:
        if s.pending() == 0:
            r, _, _ = select.select([s], [], [], max(0, end - time.time()))
            if not r:
                return
        try:
            d = s.recv(65536)
        except ssl.SSLWantReadError:
            continue
        except OSError:
            d = b""
        if not d:
            st["closed"] = True
            return
        buf += d
        while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
            n = int.from_bytes(buf[:3], "big")
            if buf[3] == 3:
                st["server_resets"] += 1
            if buf[3] == 7:
                st["goaway"] = int.from_bytes(buf[13:17], "big")
            buf = buf[9 + n:]
sid = 1
t0 = time.time()
try:
    while st["sent"] < 1000 and not st["closed"] and time.time() - t0 < 20:
        ids, out = [], b""
        for _ in range(20):
            hs = [(":method", "POST" if a.mode == "cl" else "GET"),
                  (":scheme", "https"),
                  (":path", "/echo?%s=%d" % (a.tag, sid)),
                  (":authority", "localhost")]
            if a.mode == "cl":
                hs.append(("content-length", "1"))
            out += frame(1, 0x4 if a.mode == "cl" else 0x5, sid,
                         enc.encode(hs))
            ids.append(sid)
            sid += 2
        s.sendall(out)
        pump(0.01)
        out = b""
        for i in ids:
            if a.mode == "rst":
                out += frame(3, 0, i, struct.pack(">I", 8))
            elif a.mode == "cl":
                out += frame(0, 0x1, i, b"xx")
            else:
                out += frame(8, 0, i, struct.pack(">I", 0x7FFFFFFF))
        s.sendall(out)
        st["sent"] += len(ids)
        pump(0)
except OSError:
    st["closed"] = True
pump(1.0)
print(json.dumps(st))
EOF
}

# reached TAG: requests of that run the backend recorded.
reached() {
	"$PY" -c 'import json, sys
print(sum(1 for l in open(sys.argv[1])
          if json.loads(l)["event"] == "request"
          and json.loads(l)["target"].startswith("/echo?" + sys.argv[2] + "=")))' \
		"$T/backend.jsonl" "$1"
}

out=$(provoke rst ctl) || fail "control client: $out"
sleep 1
[ "$(jget "$out" 'j["goaway"]')" = 11 ] ||
	fail "control: client resets past the limit got no ENHANCE_YOUR_CALM: $out"
ctl=$(reached ctl)
ok "control: client resets end the connection ($ctl streams reached the backend)"

for mode in wu cl; do
	out=$(provoke "$mode" "p$mode") || fail "provoking client ($mode): $out"
	sleep 1
	got=$(reached "p$mode")
	[ "$(jget "$out" 'j["goaway"]')" = 11 ] ||
		fail "$mode: server resets provoked by the client were not" \
			"limited ($got streams reached the backend, limit" \
			"$LIMIT/s): $out"
	[ "$got" -le $((ctl * 2 + 100)) ] ||
		fail "$mode: $got provoked streams reached the backend" \
			"(control: $ctl)"
	ok "$mode: provoked resets are limited like client resets ($got streams)"
done

# Those resets are ours, for the client's broken frames: logged as
# stream_error and counted as bad requests, never as client aborts.
grep -q '"reason":"stream_error"' "$T/sidecar.log" ||
	fail "no access line with reason stream_error for a provoked reset"
aborts=$(curl -s --max-time 5 "http://127.0.0.1:$HPORT/metrics" |
	awk '$1 == "sealpod_sidecar_client_aborts_total" {print $2}')
client_ends=$(grep -c '"reason":"client_\(reset\|abort\|closed\)"' \
	"$T/sidecar.log" || true)
[ -n "$aborts" ] && [ "$aborts" -le "$client_ends" ] ||
	fail "client_aborts_total $aborts, but $client_ends client ends logged"
ok "provoked resets are stream_error, not client aborts ($aborts aborts)"
