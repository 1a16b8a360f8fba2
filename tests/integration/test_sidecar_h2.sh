#!/bin/bash
# HTTP/2 from clients (issue 4): ALPN picks h2 (and http/1.1 when h2 is
# off); GET and POST with bodies reach an HTTP/1.1 backend intact; SSE
# events arrive one by one over h2; many concurrent streams (h2load);
# RST_STREAM mid-stream closes that stream's backend connection at once;
# a rapid-reset flood gets GOAWAY and the process keeps serving; an h2c
# (gRPC-like) backend gets the request and its trailers reach the client.
. "$(dirname "$0")/sidecar_lib.sh"

need nghttp
need h2load
"$PY" -c 'import h2' 2>/dev/null || skip "python3-h2 is not installed"

h2c() {
	"$PY" "$HERE/h2_client.py" "$@" --port "$PORT" --ca "$T/ca.pem"
}

gen_ca
gen_leaf server
start_backend
start_sidecar
mark_ready

# --- ALPN and simple exchanges ------------------------------------------
v=$(https '/echo?q=1' --http2 -sS -o "$T/get.json" -w '%{http_version}')
[ "$v" = 2 ] || fail "curl --http2 negotiated HTTP/$v"
[ "$(jget "$(cat "$T/get.json")" 'j["target"]')" = "/echo?q=1" ] ||
	fail "backend saw the wrong target: $(cat "$T/get.json")"
jget "$(cat "$T/get.json")" '[h for h in j["headers"] if h[0] == "X-Forwarded-Proto"][0][1]' |
	grep -qx https || fail "no X-Forwarded-Proto"
ok "ALPN h2; GET reaches the backend as HTTP/1.1 with its query"

head -c 300000 /dev/urandom >"$T/up.bin"
want=$(sha256sum "$T/up.bin" | cut -d' ' -f1)
out=$(https /echo --http2 --data-binary @"$T/up.bin")
[ "$(jget "$out" 'j["body_sha256"]')" = "$want" ] ||
	fail "POST with Content-Length: body changed"
out=$(https /echo --http2 -X POST -T - <"$T/up.bin")
[ "$(jget "$out" 'j["body_sha256"]')" = "$want" ] ||
	fail "POST without length: body changed"
jget "$out" '[h[1] for h in j["headers"] if h[0].lower() == "transfer-encoding"]' |
	grep -q chunked || fail "POST without length was not sent chunked"
ok "POST bodies (300 kB, with and without length) arrive intact"

for p in '/big?size=1048576' '/chunked?size=100000' '/eof?size=70000'; do
	https "$p" --http2 -D "$T/h" -o "$T/body" || fail "$p failed"
	sum=$(sha256sum "$T/body" | cut -d' ' -f1)
	grep -qi "^x-sha256: $sum" "$T/h" || fail "$p: body differs"
	grep -qi '^transfer-encoding' "$T/h" && fail "$p: transfer-encoding in h2"
done
ok "length, chunked and close-delimited responses become DATA intact"

code=$(https /garbage --http2 -o /dev/null -w '%{http_code}')
[ "$code" = 502 ] || fail "bad backend head gave $code"
ok "a broken backend response gives 502 on that stream"

# --- SSE over h2 arrives incrementally -----------------------------------
out=$(h2c sse --path '/sse?n=3&gap=0.5' --timeout 10)
n=$(jget "$out" 'len(j["events"])')
[ "$n" = 3 ] || fail "got $n events over h2: $out"
"$PY" -c 'import json, sys
ev = json.loads(sys.argv[1])["events"]
gaps = [b[0] - a[0] for a, b in zip(ev, ev[1:])]
assert all(g > 0.3 for g in gaps), "events bunched: %r" % gaps
print("event gaps over h2: %s s" % ", ".join("%.2f" % g for g in gaps))
' "$out" || fail "SSE over h2 was buffered"
ok "server-sent events arrive one by one over h2"

# --- many concurrent streams ---------------------------------------------
before=$(backend_requests)
h2load -n 400 -c 2 -m 50 "https://127.0.0.1:$PORT/echo" \
	>"$T/h2load.out" 2>&1 || fail "h2load failed: $(tail -5 "$T/h2load.out")"
grep -q '400 succeeded, 0 failed' "$T/h2load.out" ||
	fail "h2load: $(grep -E 'requests:|status codes' "$T/h2load.out")"
after=$(backend_requests)
[ $((after - before)) -eq 400 ] ||
	fail "backend saw $((after - before)) requests, not 400"
ok "400 requests on 2 connections, 50 concurrent streams each"

# --- RST_STREAM closes the backend at once -------------------------------
out=$(h2c rst --path '/sse?n=40&gap=0.3' --hold 2)
[ "$(jget "$out" 'j["got_data"]')" = True ] || fail "rst: no data: $out"
reset_at=$(jget "$out" 'j["reset_at"]')
seen=$("$PY" -c 'import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1])
     if json.loads(l)["event"] == "client_closed"]
print(t[-1] if t else "")' "$T/backend.jsonl")
[ -n "$seen" ] || fail "backend never saw its connection close after RST"
"$PY" -c 'import sys
d = float(sys.argv[2]) - float(sys.argv[1])
assert d < 1.0, "backend closed %.3f s after RST_STREAM" % d
print("backend saw the close %.0f ms after RST_STREAM" % (d * 1e3))
' "$reset_at" "$seen" || fail "RST_STREAM did not close the backend"
grep -q '"reason":"client_reset"\|"client_reset"' "$T/sidecar.log" ||
	fail "no client_reset access-log line"
ok "RST_STREAM mid-stream closes that stream's backend connection"

# --- rapid-reset flood ---------------------------------------------------
out=$(h2c flood --path /echo --count 3000 --timeout 10)
"$PY" -c 'import json, sys
r = json.loads(sys.argv[1])
assert r["goaway"], r
print("flood: %d pairs sent, goaway=%s error_code=%s" %
      (r["sent"], r["goaway"], r["error_code"]))' "$out" ||
	fail "rapid reset flood was not stopped: $out"
kill -0 "$SIDECAR_PID" || fail "sidecar died under the flood"
grep -q '"event":"h2.reset_flood"\|"event":"h2.session.failed"' \
	"$T/sidecar.log" || fail "the flood was not logged"
v=$(https /echo --http2 -o /dev/null -w '%{http_code}')
[ "$v" = 200 ] || fail "after the flood: $v"
ok "rapid-reset flood gets GOAWAY; the sidecar keeps serving"

# --- access log ------------------------------------------------------------
grep '"event":"http.access"' "$T/sidecar.log" | grep -q '"protocol":"h2"' ||
	fail "no h2 access-log line"
grep '"protocol":"h2"' "$T/sidecar.log" | grep -q 'q=1' &&
	fail "query string in the access log"
ok "one access-log line per stream, protocol h2, no query"

# --- h2 disabled: ALPN falls back ---------------------------------------
kill "$SIDECAR_PID"
wait "$SIDECAR_PID" 2>/dev/null
PORT=$(free_port)
HPORT=$(free_port)
write_config
printf 'http2:\n  enabled: false\n' >>"$T/sidecar.yaml"
"$SIDECAR" --config "$T/sidecar.yaml" 2>>"$T/sidecar.log" &
SIDECAR_PID=$!
PIDS+=("$SIDECAR_PID")
wait_for curl -sf --max-time 1 "http://127.0.0.1:$HPORT/healthz" ||
	fail "sidecar (h2 off) did not come up"
v=$(https /echo --http2 -o /dev/null -w '%{http_version}')
[ "$v" = 1.1 ] || fail "http2.enabled false still negotiated HTTP/$v"
ok "http2.enabled: false keeps ALPN to http/1.1"

# --- h2c backend (gRPC-like) ---------------------------------------------
kill "$SIDECAR_PID"
wait "$SIDECAR_PID" 2>/dev/null
"$PY" "$HERE/h2c_backend.py" --port-file "$T/h2c.port" \
	--record "$T/h2c.jsonl" --max-seconds 60 2>"$T/h2c.err" &
PIDS+=("$!")
wait_for test -s "$T/h2c.port" || fail "h2c backend did not start"
BACKEND_PORT=$(cat "$T/h2c.port")
PORT=$(free_port)
HPORT=$(free_port)
write_config
echo "backend_protocol: h2c" >>"$T/sidecar.yaml"
"$SIDECAR" --config "$T/sidecar.yaml" 2>>"$T/sidecar.log" &
SIDECAR_PID=$!
PIDS+=("$SIDECAR_PID")
wait_for curl -sf --max-time 1 "http://127.0.0.1:$HPORT/healthz" ||
	fail "sidecar (h2c) did not come up"
printf 'grpc-frame-bytes' >"$T/g.bin"
nghttp -v -d "$T/g.bin" -H 'content-type: application/grpc' \
	-H 'te: trailers' "https://127.0.0.1:$PORT/pkg.Svc/Call" \
	>"$T/nghttp.out" 2>&1 || fail "nghttp to the h2c backend failed"
grep -q 'recv (stream_id=[0-9]*) grpc-status: 0' "$T/nghttp.out" ||
	fail "no grpc-status trailer: $(tail -20 "$T/nghttp.out")"
grep -q 'grpc-frame-bytes' "$T/nghttp.out" || fail "body not echoed"
[ "$(jget "$(tail -1 "$T/h2c.jsonl")" 'j["body_len"]')" = 16 ] ||
	fail "h2c backend saw $(tail -1 "$T/h2c.jsonl")"
jget "$(tail -1 "$T/h2c.jsonl")" 'j["headers"].get("te")' | grep -qx trailers ||
	fail "te: trailers did not reach the h2c backend"
ok "h2c backend: request, body and te pass; grpc-status trailer returns"

# Forwarding fields on h2c are ours, as on h1 (h33 #7).
nghttp -d "$T/g.bin" -H 'content-type: application/grpc' \
	-H 'forwarded: for=6.6.6.6;host=evil' -H 'x-forwarded-host: evil' \
	-H 'x-real-ip: 6.6.6.6' -H 'x-forwarded-proto: http' \
	-H 'x-forwarded-port: 80' -H 'x-forwarded-prefix: /admin' \
	"https://127.0.0.1:$PORT/pkg.Svc/Fwd" >"$T/nghttp.out" 2>&1 ||
	fail "nghttp (forwarding fields) to the h2c backend failed"
"$PY" -c 'import json, sys
r = json.loads(open(sys.argv[1]).readlines()[-1])
h = r["headers"]
assert h.get(":path") == "/pkg.Svc/Fwd", h
for k in ("forwarded", "x-forwarded-host", "x-forwarded-port",
          "x-forwarded-prefix", "x-real-ip"):
    assert k not in h, (k, h)
assert h.get("x-forwarded-proto") == "https", h
assert h.get("x-forwarded-for") == "127.0.0.1", h' "$T/h2c.jsonl" ||
	fail "h2c backend saw client forwarding fields: $(tail -1 "$T/h2c.jsonl")"
ok "h2c: client-sent Forwarded/X-Forwarded-Host/X-Real-IP dropped, XFF/XFP set"

nghttp -v -d "$T/g.bin" "https://127.0.0.1:$PORT/fail" >"$T/nghttp.out" 2>&1
grep -q 'grpc-status: 13' "$T/nghttp.out" || fail "trailers-only reply lost"
ok "h2c trailers-only reply (grpc-status 13) reaches the client"
exit 0
