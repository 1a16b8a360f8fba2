#!/bin/bash
# HTTP/2 requests are as visible as HTTP/1.1 ones (h32 M1, L17).
#
# docs/sidecar.md promises, for every request on either protocol: the
# per-route counter sealpod_sidecar_route_requests_total{route,class},
# the ttfb and duration histograms, client_aborts_total when the client
# leaves mid-response (an h2 client may just close its TCP connection,
# without RST_STREAM), and one access line with the same fields:
# protocol, route and, with mutual TLS, peer and peer_rule (the peer also
# on a refused identity), bytes_in counting the request head, ttfb_ms on
# answers the sidecar gives itself. Each case runs over both protocols.
# (Was test_regress_h2_observability.sh, which failed before the fix.)
# shellcheck source=tests/integration/sidecar_lib.sh
. "$(dirname "$0")/sidecar_lib.sh"

curl --version | grep -q HTTP2 || skip "curl without HTTP/2"
"$PY" -c 'import h2.connection' 2>/dev/null || skip "python3-h2 missing"

gen_ca
gen_leaf server
# client_cert CN: a client certificate signed by the test CA.
client_cert() {
	printf '%s\n' "basicConstraints=CA:FALSE" \
		"extendedKeyUsage=clientAuth" >"$T/$1.ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$1.key" -out "$T/$1.csr" -subj "/CN=$1" \
		2>/dev/null || fail "client key $1"
	openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
		-CAcreateserial -days 2 -extfile "$T/$1.ext" \
		-out "$T/$1.pem" 2>/dev/null || fail "client certificate $1"
}
client_cert gateway
client_cert intruder

start_backend
# SC_* are read by sidecar_lib.sh (write_config).
# shellcheck disable=SC2034
SC_ROUTES='[{prefix: /v1/models, methods: [GET]}, {prefix: /sse, methods: [GET]}]'
# shellcheck disable=SC2034
SC_TLS_EXTRA="  client_ca: \"$T/ca.pem\"
  client_auth: required
  allow:
    - cn: gateway"
start_sidecar
mark_ready


# req VERSION CN PATH: GET PATH as client CN; prints "code version".
req() {
	curl -sS -o /dev/null -w '%{http_code} %{http_version}' --max-time 15 \
		"$1" --cacert "$T/ca.pem" --cert "$T/$2.pem" --key "$T/$2.key" \
		--resolve "localhost:$PORT:127.0.0.1" \
		"https://localhost:$PORT$3"
}

# last_access: the newest access line (after a short settle).
last_access() {
	sleep 0.3
	grep '"http.access"' "$T/sidecar.log" | tail -n 1
}

# check_line LINE PYTHON-ASSERTIONS: evaluate over the parsed line "l".
check_line() {
	"$PY" -c 'import json, sys
l = json.loads(sys.argv[1])
exec(sys.argv[2])' "$1" "$2" || fail "access line: $1"
}

vers() { [ "$1" = --http2 ] && echo 2 || echo 1.1; }
proto() { [ "$1" = --http2 ] && echo h2 || echo http/1.1; }

route_key='sealpod_sidecar_route_requests_total{route="/v1/models",class="2xx"}'
none_key='sealpod_sidecar_route_requests_total{route="none",class="4xx"}'
declare -A BYTES_IN
for v in --http1.1 --http2; do
	# 1. An admitted caller: counted per route, in both histograms.
	r0=$(metric "$route_key")
	t0=$(metric sealpod_sidecar_ttfb_seconds_count)
	d0=$(metric sealpod_sidecar_duration_seconds_count)
	got=$(req "$v" gateway /v1/models)
	[ "$got" = "200 $(vers "$v")" ] ||
		fail "$v: expected 200 over the asked version, got '$got'"
	line=$(last_access)
	r1=$(metric "$route_key")
	t1=$(metric sealpod_sidecar_ttfb_seconds_count)
	d1=$(metric sealpod_sidecar_duration_seconds_count)
	[ "$((${r1:-0} - ${r0:-0}))" = 1 ] ||
		fail "$v: route_requests_total for /v1/models went ${r0:-0} -> ${r1:-0}"
	[ "$((${t1:-0} - ${t0:-0}))" = 1 ] ||
		fail "$v: ttfb_seconds_count went ${t0:-0} -> ${t1:-0}"
	[ "$((${d1:-0} - ${d0:-0}))" = 1 ] ||
		fail "$v: duration_seconds_count went ${d0:-0} -> ${d1:-0}"
	check_line "$line" "
assert l['protocol'] == '$(proto "$v")', l
assert l['route'] == '/v1/models', l
assert l['peer'] == 'gateway' and l['peer_rule'] == 'cn:gateway', l
assert l['status'] == 200 and l['ttfb_ms'] >= 0, l
assert l['bytes_in'] > 40 and l['bytes_out'] > 0, l"
	BYTES_IN[$v]=$(jget "$line" 'j["bytes_in"]')
	ok "$v: counted per route, in both histograms, identity logged"

	# 2. A refused identity: 403, named in the line, route "none".
	n0=$(metric "$none_key")
	got=$(req "$v" intruder /v1/models)
	[ "$got" = "403 $(vers "$v")" ] || fail "$v: intruder got '$got'"
	line=$(last_access)
	n1=$(metric "$none_key")
	[ "$((${n1:-0} - ${n0:-0}))" = 1 ] ||
		fail "$v: route none 4xx went ${n0:-0} -> ${n1:-0}"
	check_line "$line" "
assert l['protocol'] == '$(proto "$v")', l
assert l['reason'] == 'identity_denied' and l['status'] == 403, l
assert l['peer'] == 'intruder' and l['peer_rule'] == '-', l
assert l['route'] == '-' and l['ttfb_ms'] >= 0, l"
	ok "$v: a refused identity is logged by name and counted"

	# 3. Not routed: 404 answered here still has a time to first byte.
	got=$(req "$v" gateway /admin)
	[ "$got" = "404 $(vers "$v")" ] || fail "$v: /admin got '$got'"
	check_line "$(last_access)" "
assert l['protocol'] == '$(proto "$v")' and l['reason'] == 'no_route', l
assert l['status'] == 404 and l['ttfb_ms'] >= 0 and l['bytes_in'] > 40, l
assert l['bytes_out'] > 20, l"
	ok "$v: a local 404 has ttfb_ms and bytes_in"
done

# The same GET counts about the same head bytes on both protocols.
h1b=${BYTES_IN[--http1.1]}
h2b=${BYTES_IN[--http2]}
if [ "$h2b" -gt $((2 * h1b)) ] || [ "$h1b" -gt $((2 * h2b)) ]; then
	fail "bytes_in differs too much: http/1.1 $h1b, h2 $h2b"
fi
ok "bytes_in comparable: http/1.1 $h1b, h2 $h2b"

# 4. The client closes its TCP connection mid-stream (no RST_STREAM).
a0=$(metric sealpod_sidecar_client_aborts_total)
# Straight to TCP after the first DATA: no RST_STREAM, no GOAWAY.
out=$("$PY" "$HERE/h2_hostile_client.py" vanish --port "$PORT" \
	--ca "$T/ca.pem" --cert "$T/gateway.pem" --key "$T/gateway.key" \
	--path "/sse?n=20&gap=0.2") || fail "h2 close client"
check_line "$out" "assert l['got_data'], l"
sleep 0.5
a1=$(metric sealpod_sidecar_client_aborts_total)
[ "$((${a1:-0} - ${a0:-0}))" = 1 ] ||
	fail "h2 TCP close: client_aborts_total went ${a0:-0} -> ${a1:-0}"
line=$(grep '"http.access"' "$T/sidecar.log" | grep '"/sse"' | tail -n 1)
check_line "$line" "
assert l['protocol'] == 'h2' and l['reason'] == 'client_abort', l
assert l['route'] == '/sse' and l['peer'] == 'gateway', l"
ok "h2: a TCP close mid-stream counts as a client abort"

# Every access line names its protocol.
grep '"http.access"' "$T/sidecar.log" | grep -v '"protocol":' &&
	fail "an access line without protocol"
ok "every access line carries protocol"
echo "PASS"
