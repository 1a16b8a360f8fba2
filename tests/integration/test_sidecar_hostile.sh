#!/bin/bash
# Hostile clients: the request-smuggling corpus and malformed heads and
# bodies sent over real TLS connections get 4xx/5xx with Connection:
# close and never reach the backend; oversized heads get 431/414; a slow
# head gets 408 at timeouts.header_s; a silent TLS client is dropped. The
# sidecar keeps serving throughout.
. "$(dirname "$0")/sidecar_lib.sh"

start_backend
SC_HEADER_S=2 start_sidecar
mark_ready

# expect STATUS NAME BYTES: send BYTES (printf format) raw over TLS.
expect() {
	local want=$1 name=$2 out got reply
	# The request is a printf format on purpose: \r, \n, \0 escapes.
	# shellcheck disable=SC2059
	printf "$3" >"$T/raw.req"
	out=$(client raw --file "$T/raw.req" --timeout 5)
	got=$(jget "$out" 'j["status"]')
	[ "$got" = "$want" ] || fail "$name: got $got, want $want: $out"
	reply=$(jget "$out" 'j["reply"]')
	grep -qi '^Connection: close' <<<"$reply" ||
		fail "$name: reply without Connection: close"
}

P='POST /echo HTTP/1.1\r\nHost: a\r\n'
expect 400 "CL+TE" "${P}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
expect 400 "TE+CL" "${P}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"
expect 400 "TE chunked, chunked" "${P}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"
expect 400 "TE twice" "${P}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
expect 400 "TE gzip" "${P}Transfer-Encoding: gzip\r\n\r\n"
expect 400 "CL twice" "${P}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"
expect 400 "CL list" "${P}Content-Length: 1, 1\r\n\r\na"
expect 400 "CL +5" "${P}Content-Length: +5\r\n\r\nhello"
expect 400 "CL -1" "${P}Content-Length: -1\r\n\r\n"
expect 400 "CL huge" "${P}Content-Length: 99999999999999999999\r\n\r\n"
expect 400 "obs-fold" 'GET /echo HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n'
expect 400 "space before colon" 'GET /echo HTTP/1.1\r\nHost : a\r\n\r\n'
expect 400 "NUL in value" 'GET /echo HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n'
expect 400 "missing Host" 'GET /echo HTTP/1.1\r\n\r\n'
expect 400 "two Hosts" 'GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'
expect 400 "bare LF" 'GET /echo HTTP/1.1\nHost: a\n\n'
expect 400 "absolute form" 'GET http://backend.invalid/ HTTP/1.1\r\nHost: a\r\n\r\n'
expect 400 "Connection names CL" "${P}Connection: content-length\r\nContent-Length: 1\r\n\r\na"
expect 505 "HTTP/2.0 on h1" 'GET /echo HTTP/2.0\r\nHost: a\r\n\r\n'
expect 400 "chunk size overflow" "${P}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n"
expect 400 "chunk size 0x" "${P}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"
expect 400 "chunk data overrun" "${P}Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n"
ok "smuggling corpus refused with Connection: close"

big=$(head -c 40000 /dev/zero | tr '\0' a)
expect 431 "40 KB header" "GET /echo HTTP/1.1\r\nHost: a\r\nX-Big: $big\r\n\r\n"
many=$(for i in $(seq 1 101); do printf 'X-%d: 1\\r\\n' "$i"; done)
expect 431 "101 headers" "GET /echo HTTP/1.1\r\nHost: a\r\n$many\r\n"
long=$(head -c 9000 /dev/zero | tr '\0' a)
expect 414 "9 KB request line" "GET /$long HTTP/1.1\r\nHost: a\r\n\r\n"
ok "oversized heads: 431 and 414"

[ "$(backend_requests)" = 0 ] || fail "a hostile request reached the backend"
ok "no hostile request reached the backend"

out=$(client slow --timeout 6)
[ "$(jget "$out" 'j["status"]')" = 408 ] || fail "slow head: $out"
"$PY" -c 'import sys; a = float(sys.argv[1]); assert 1.5 < a < 3.5, a' \
	"$(jget "$out" 'j["after"]')" || fail "408 after $(jget "$out" 'j["after"]') s"
ok "a head still incomplete after header_s gets 408"

start=$(date +%s.%N)
"$PY" -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(6)
try:
    print(len(s.recv(10)))
except OSError as e:
    print("error", e)' "$PORT" >"$T/silent.out"
elapsed=$("$PY" -c "import time; print(time.time() - $start)")
"$PY" -c 'import sys; assert float(sys.argv[1]) < 4' "$elapsed" ||
	fail "silent client kept for $elapsed s"
curl -s "http://127.0.0.1:$HPORT/metrics" |
	grep -q 'handshake_failures_total{reason="timeout"} [1-9]' ||
	fail "silent client not counted as a handshake timeout"
ok "a client that never starts TLS is dropped at header_s"

[ "$(https /echo -o /dev/null -w '%{http_code}')" = 200 ] ||
	fail "sidecar stopped serving"
kill -0 "$SIDECAR_PID" || fail "sidecar died"
grep -q '"reason":"cl_and_te"' "$T/sidecar.log" ||
	fail "refusals not in the access log"
ok "still serving; refusals logged with their reason"

open_conns() {
	curl -s "http://127.0.0.1:$HPORT/metrics" |
		awk '$1 == "sealpod_sidecar_connections_open" {print $2}'
}
wait_for test "$(open_conns)" = 0 ||
	fail "connections left open after every client went: $(open_conns)"
start=$(date +%s)
stop_sidecar || fail "exit status"
[ $(($(date +%s) - start)) -le 3 ] || fail "drain waited on dead connections"
ok "every connection freed; the drain finishes at once"
