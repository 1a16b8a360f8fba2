#!/bin/bash
# Request trailers (issue 4): fields a client sends after a chunked
# HTTP/1.1 body, or as trailing HEADERS on an HTTP/2 stream, reach the
# backend (h1: as a chunked trailer section; h2 -> h1: the body is sent
# chunked when the client gave no length, and a length is kept even with
# "te: trailers", which speaks only of the response; h2c:
# trailing HEADERS), under the head's count limit; a trailer that must
# not follow a body (Content-Length, Host, X-Forwarded-For, ...) refuses
# the request with 400 and the backend never sees it complete. Each case
# checks what the backend recorded, not only the reply.
. "$(dirname "$0")/sidecar_lib.sh"

"$PY" -c 'import h2' 2>/dev/null || skip "python3-h2 is not installed"

start_backend
SC_HEADERS=10 start_sidecar
mark_ready

# seen TARGET EXPR: evaluate EXPR over the backend's record "r" of the
# request to TARGET ("none" when it never arrived complete).
seen() {
	"$PY" -c 'import json, sys
r = None
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j["event"] == "request" and j["target"] == sys.argv[2]:
        r = j
print(eval(sys.argv[3]) if r is not None else "none")' \
		"$T/backend.jsonl" "$1" "$2"
}

# raw NAME FORMAT: send a printf format raw over TLS; sets $out, $status.
raw() {
	# shellcheck disable=SC2059
	printf "$2" >"$T/raw.req"
	out=$(client raw --file "$T/raw.req" --timeout 5)
	status=$(jget "$out" 'j["status"]')
}

h2t() {
	"$PY" "$HERE/h2_trailers_client.py" --port "$PORT" --ca "$T/ca.pem" "$@"
}

H='Host: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n'

# --- HTTP/1.1 ----------------------------------------------------------
raw h1-ok "POST /echo?t=1 HTTP/1.1\r\n${H}\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\ngrpc-timeout: 1S\r\n\r\n"
[ "$status" = 200 ] || fail "h1 trailers: $out"
[ "$(seen /echo?t=1 'r["trailers"]')" = "[['X-Checksum', 'abc'], ['grpc-timeout', '1S']]" ] ||
	fail "h1 trailers at the backend: $(seen /echo?t=1 'r')"
[ "$(seen /echo?t=1 'r["body_len"]')" = 5 ] || fail "h1 body with trailers"
ok "HTTP/1.1: trailers after a chunked body reach the backend as sent"

for f in 'Content-Length: 5' 'Transfer-Encoding: chunked' 'Host: evil' \
	'X-Forwarded-For: 10.9.9.9' 'Authorization: Bearer x' \
	'Proxy-Authorization: x' 'content-type: text/evil'; do
	n=$((${n:-1} + 1))
	raw "h1-$f" "POST /echo?t=$n HTTP/1.1\r\n${H}\r\n5\r\nhello\r\n0\r\nX-Ok: 1\r\n$f\r\n\r\n"
	[ "$status" = 400 ] || fail "trailer '$f': got $status: $out"
	[ "$(seen "/echo?t=$n" 'r')" = none ] ||
		fail "trailer '$f' reached the backend: $(seen "/echo?t=$n" 'r')"
done
grep -q '"reason":"forbidden_trailer"' "$T/sidecar.log" ||
	fail "no forbidden_trailer access line"
ok "HTTP/1.1: forbidden trailer fields get 400; the backend never sees them"

many=$(for i in $(seq 1 11); do printf 'X-T%d: 1\\r\\n' "$i"; done)
raw h1-many "POST /echo?t=many HTTP/1.1\r\n${H}\r\n1\r\na\r\n0\r\n${many}\r\n"
[ "$status" = 400 ] || fail "11 trailers with limits.headers 10: $status"
[ "$(seen /echo?t=many 'r')" = none ] || fail "too many trailers forwarded"
grep -q '"reason":"too_many_trailers"' "$T/sidecar.log" ||
	fail "no too_many_trailers access line"
raw h1-bad "POST /echo?t=bad HTTP/1.1\r\n${H}\r\n1\r\na\r\n0\r\nX-A : 1\r\n\r\n"
[ "$status" = 400 ] || fail "malformed trailer: $status"
[ "$(seen /echo?t=bad 'r')" = none ] || fail "malformed trailer forwarded"
ok "HTTP/1.1: trailers over limits.headers or malformed get 400"

# --- HTTP/2 to an HTTP/1.1 backend -----------------------------------
out=$(h2t --path '/echo?t=h2a' --body hello --header te=trailers \
	--header content-type=application/grpc --trailer x-checksum=abc \
	--trailer grpc-timeout=1S)
[ "$(jget "$out" 'j["status"]')" = 200 ] || fail "h2 trailers: $out"
[ "$(seen /echo?t=h2a 'r["trailers"]')" = "[['x-checksum', 'abc'], ['grpc-timeout', '1S']]" ] ||
	fail "h2 trailers at the backend: $(seen /echo?t=h2a 'r')"
seen /echo?t=h2a '[h[1] for h in r["headers"] if h[0].lower() == "transfer-encoding"]' |
	grep -q chunked || fail "h2 body with trailers not sent chunked"
[ "$(seen /echo?t=h2a 'r["body_len"]')" = 5 ] || fail "h2 body changed"
ok "HTTP/2 -> h1: te: trailers; body sent chunked, trailers after it"

out=$(h2t --path '/echo?t=h2b' --body hello --header te=trailers \
	--header content-length=5 --trailer x-sum=7)
[ "$(jget "$out" 'j["status"]')" = 200 ] || fail "h2 cl+te: $out"
# "te: trailers" speaks of the response; the length framing stays.
[ "$(seen /echo?t=h2b '[h[1] for h in r["headers"] if h[0].lower() == "content-length"]')" = "['5']" ] ||
	fail "content-length not kept with te: trailers: $(seen /echo?t=h2b 'r')"
[ "$(seen /echo?t=h2b 'r["trailers"]')" = "[]" ] ||
	fail "h2 cl+te: trailers on a Content-Length body: $(seen /echo?t=h2b 'r')"
ok "HTTP/2 -> h1: content-length and te: trailers keep the length framing"

out=$(h2t --path '/echo?t=h2c' --body hello --trailer x-sum=8)
[ "$(jget "$out" 'j["status"]')" = 200 ] || fail "h2 no length: $out"
[ "$(seen /echo?t=h2c 'r["trailers"]')" = "[['x-sum', '8']]" ] ||
	fail "h2 trailers without length: $(seen /echo?t=h2c 'r')"
ok "HTTP/2 -> h1: no length, no te: trailers still forwarded"

out=$(h2t --path '/echo?t=h2d' --body hello --header content-length=5 \
	--trailer x-sum=9)
[ "$(jget "$out" 'j["status"]')" = 200 ] || fail "h2 length only: $out"
[ "$(seen /echo?t=h2d 'r["trailers"]')" = "[]" ] ||
	fail "trailers on a Content-Length body: $(seen /echo?t=h2d 'r')"
[ "$(seen /echo?t=h2d 'r["body_len"]')" = 5 ] || fail "h2d body"
ok "HTTP/2 -> h1: a Content-Length body without te: trailers drops them"

i=0
for f in content-length=5 host=evil x-forwarded-for=10.9.9.9 \
	authorization=x proxy-authorization=x; do
	i=$((i + 1))
	out=$(h2t --path "/echo?t=h2f$i" --body hello --header te=trailers \
		--trailer x-ok=1 --trailer "$f")
	st=$(jget "$out" 'j["status"]')
	rs=$(jget "$out" 'j["reset"]')
	[ "$st" = 400 ] || [ "$rs" != None ] ||
		fail "h2 trailer $f: neither 400 nor reset: $out"
	[ "$(seen "/echo?t=h2f$i" 'r')" = none ] ||
		fail "h2 trailer $f reached the backend: $(seen "/echo?t=h2f$i" 'r')"
done
ok "HTTP/2 -> h1: forbidden trailers refused (400 or reset), never forwarded"

many=()
for i in $(seq 1 11); do many+=(--trailer "x-t$i=1"); done
out=$(h2t --path '/echo?t=h2many' --body hello "${many[@]}")
[ "$(jget "$out" 'j["status"]')" = 400 ] || fail "h2 11 trailers: $out"
[ "$(seen /echo?t=h2many 'r')" = none ] || fail "h2 too many trailers forwarded"
ok "HTTP/2: more trailers than limits.headers: 400"

v=$(https /echo -o /dev/null -w '%{http_code}')
[ "$v" = 200 ] || fail "sidecar stopped serving: $v"
kill -0 "$SIDECAR_PID" || fail "sidecar died"

# --- HTTP/2 to an h2c backend ------------------------------------------
stop_sidecar || fail "stop"
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
out=$(h2t --path /pkg.Svc/Call --body 'grpc-bytes' --header te=trailers \
	--header content-type=application/grpc --trailer x-client-sum=42)
[ "$(jget "$out" 'j["status"]')" = 200 ] || fail "h2c: $out"
[ "$(jget "$(tail -1 "$T/h2c.jsonl")" 'j["trailers"]')" = "[['x-client-sum', '42']]" ] ||
	fail "h2c backend trailers: $(tail -1 "$T/h2c.jsonl")"
jget "$out" 'j["trailers"]' | grep -q "grpc-status" ||
	fail "response trailers lost: $out"
ok "h2c backend: the client's trailers arrive as trailing HEADERS"

before=$(wc -l <"$T/h2c.jsonl")
out=$(h2t --path /pkg.Svc/Call --body x --header te=trailers \
	--trailer content-length=1)
[ "$(jget "$out" 'j["status"]')" = 400 ] || [ "$(jget "$out" 'j["reset"]')" != None ] ||
	fail "h2c forbidden trailer: $out"
sleep 0.3
[ "$(wc -l <"$T/h2c.jsonl")" = "$before" ] ||
	fail "h2c backend got a request with a forbidden trailer"
ok "h2c backend: a forbidden trailer never reaches it"
exit 0
