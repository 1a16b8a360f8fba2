#!/bin/bash
# HTTP/1.1 forwarding: what the backend sees (X-Forwarded-*, no hop-by-hop
# fields, no client-sent Forwarded/X-Forwarded-Host/X-Real-IP, the query
# string), what the client sees (no hop-by-hop fields),
# keep-alive on both sides, Content-Length and chunked bodies both ways,
# close-delimited responses, HEAD, pipelining, 100-continue, HTTP/1.0,
# and 502s for a broken or absent backend.
. "$(dirname "$0")/sidecar_lib.sh"

start_backend
start_sidecar
mark_ready

# last_request EXPR: a field of the backend's last recorded request.
last_request() {
	"$PY" -c 'import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
r = [x for x in recs if x["event"] == "request"][-1]
h = {k.lower(): v for k, v in r["headers"]}
print(eval(sys.argv[2]))' "$T/backend.jsonl" "$1"
}

https '/echo?a=1&b=2' -o /dev/null \
	-H 'Connection: keep-alive, X-Secret-Hop' -H 'X-Secret-Hop: 1' \
	-H 'Keep-Alive: timeout=9' -H 'TE: trailers' \
	-H 'Proxy-Authorization: Basic eDp5' -H 'X-Forwarded-Proto: http' \
	-H 'X-Forwarded-For: 10.9.9.9' -H 'Upgrade: websocket' \
	-H 'Forwarded: for=6.6.6.6;proto=http;host=evil' \
	-H 'X-Forwarded-Host: evil' -H 'X-Real-IP: 6.6.6.6' \
	-H 'X-Forwarded-Port: 80' -H 'X-Forwarded-Prefix: /admin' ||
	fail "request with hop-by-hop fields"
[ "$(last_request 'r["target"]')" = "/echo?a=1&b=2" ] ||
	fail "backend target was $(last_request 'r["target"]')"
[ "$(last_request 'h.get("x-forwarded-for")')" = "10.9.9.9, 127.0.0.1" ] ||
	fail "X-Forwarded-For was $(last_request 'h.get("x-forwarded-for")')"
[ "$(last_request 'h.get("x-forwarded-proto")')" = https ] ||
	fail "X-Forwarded-Proto"
for f in connection keep-alive te x-secret-hop proxy-authorization upgrade; do
	[ "$(last_request "h.get('$f')")" = None ] ||
		fail "backend saw hop-by-hop field $f"
done
# Who the client is and what it asked for: only we may say (h33 #7).
for f in forwarded x-forwarded-host x-forwarded-port x-forwarded-prefix \
	x-real-ip; do
	[ "$(last_request "h.get('$f')")" = None ] ||
		fail "backend saw the client's own $f"
done
ok "backend sees X-Forwarded-*, the query, and no hop-by-hop fields"

https /hop -D "$T/hop.head" -o /dev/null || fail "GET /hop"
grep -qi '^X-Kept: yes' "$T/hop.head" || fail "end-to-end field lost"
for f in X-Private Keep-Alive Proxy-Thing; do
	grep -qi "^$f:" "$T/hop.head" && fail "client saw hop-by-hop field $f"
done
grep -qi '^Connection: X-Private' "$T/hop.head" && fail "Connection passed"
ok "client sees no hop-by-hop response fields"

# two URL1 URL2 [curl args for the first]: two requests in one curl run.
two() {
	local u1=$1 u2=$2
	shift 2
	# HTTP/1.1: keep-alive reuse is what is tested (h2: one backend
	# connection per stream, test_sidecar_h2.sh).
	curl -sS --max-time 15 --cacert "$T/ca.pem" --http1.1 \
		--resolve "localhost:$PORT:127.0.0.1" "$@" \
		"https://localhost:$PORT$u1" \
		--next --max-time 15 --cacert "$T/ca.pem" --http1.1 \
		--resolve "localhost:$PORT:127.0.0.1" -o "$T/second.out" \
		"https://localhost:$PORT$u2"
}

before=$(backend_requests)
two /echo?first /echo?second -v -o /dev/null 2>"$T/ka.log" ||
	fail "two requests"
grep -q "Re-using existing connection" "$T/ka.log" ||
	fail "client connection was not reused"
[ "$(backend_requests)" -eq $((before + 2)) ] || fail "backend count"
ports=$("$PY" -c 'import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
r = [x for x in recs if x["event"] == "request"][-2:]
print(len({x["peer_port"] for x in r}))' "$T/backend.jsonl")
[ "$ports" = 1 ] || fail "backend connection was not reused"
ok "keep-alive: two requests on one client and one backend connection"

head -c 300000 /dev/urandom >"$T/up.bin"
want=$(sha256sum "$T/up.bin" | cut -d' ' -f1)
https /upload -o /dev/null -H 'Transfer-Encoding: chunked' \
	--data-binary @"$T/up.bin" || fail "chunked upload"
[ "$(last_request 'r["body_sha256"]')" = "$want" ] || fail "chunked body differs"
[ "$(last_request 'h.get("transfer-encoding")')" = chunked ] ||
	fail "backend did not see a chunked body"
ok "chunked request body arrives intact"

head -c 1048576 /dev/urandom >"$T/up2.bin"
want=$(sha256sum "$T/up2.bin" | cut -d' ' -f1)
https /upload -o /dev/null -H 'Expect: 100-continue' \
	--data-binary @"$T/up2.bin" || fail "Content-Length upload"
[ "$(last_request 'r["body_sha256"]')" = "$want" ] || fail "CL body differs"
ok "Content-Length body with Expect: 100-continue arrives intact"

for route in big chunked eof; do
	https "/$route?size=3000000" -D "$T/$route.head" -o "$T/$route.out" ||
		fail "GET /$route"
	want=$(grep -i '^X-Sha256:' "$T/$route.head" | tr -d '\r' | cut -d' ' -f2)
	got=$(sha256sum "$T/$route.out" | cut -d' ' -f1)
	if [ -z "$want" ] || [ "$want" != "$got" ]; then
		fail "/$route body differs"
	fi
done
grep -qi '^Connection: close' "$T/eof.head" ||
	fail "close-delimited response without Connection: close"
ok "3 MB responses intact: Content-Length, chunked, close-delimited"

two '/big?size=100' /echo -I -o "$T/head.out" -v 2>"$T/head.log" ||
	fail "HEAD then GET"
grep -qi '^Content-Length: 100' "$T/head.out" || fail "HEAD lost its head"
grep -q '"method": "GET"' "$T/second.out" || fail "GET after HEAD"
grep -q "Re-using existing connection" "$T/head.log" ||
	fail "connection not reused after HEAD"
ok "HEAD response has no body and the connection stays usable"

out=$(client pipeline)
[ "$(jget "$out" 'j["count"]')" = 2 ] || fail "pipelined replies: $out"
"$PY" -c 'import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
t = [x["target"] for x in recs if x["event"] == "request"][-2:]
assert t == ["/echo?one", "/echo?two"], t' "$T/backend.jsonl" ||
	fail "pipelined order at the backend"
ok "pipelined requests answered in order"

printf 'GET /echo HTTP/1.0\r\n\r\n' >"$T/h10.req"
out=$(client raw --file "$T/h10.req")
[ "$(jget "$out" 'j["status"]')" = 200 ] || fail "HTTP/1.0 request: $out"
[ "$(last_request 'r["version"]')" = HTTP/1.0 ] || fail "forwarded version"
ok "HTTP/1.0 request forwarded as HTTP/1.0"

for route in garbage reset; do
	code=$(https "/$route" -o /dev/null -w '%{http_code}')
	[ "$code" = 502 ] || fail "/$route gave $code, want 502"
done
grep -q '"event":"backend.failed","reason":"duplicate_content_length"' \
	"$T/sidecar.log" || fail "invalid backend head not logged"
ok "invalid or vanished backend response: 502"

kill "$BACKEND_PID"
wait "$BACKEND_PID" 2>/dev/null
code=$(https /echo -o /dev/null -w '%{http_code}')
[ "$code" = 502 ] || fail "backend down gave $code, want 502"
curl -s "http://127.0.0.1:$HPORT/metrics" >"$T/metrics.txt"
errs=$(awk '/^sealpod_sidecar_backend_errors_total/ {print $2}' "$T/metrics.txt")
[ "$errs" -ge 3 ] || fail "backend_errors_total is $errs"
ok "backend down: 502 and counted"
