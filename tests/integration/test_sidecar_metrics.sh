#!/bin/bash
# /metrics on the health port (never on the TLS port): latency histograms
# (time to first byte, duration), handshake failures by reason, backend
# errors by kind, requests by route and status class. Values are checked
# against what the test itself caused.
. "$(dirname "$0")/sidecar_lib.sh"

# The counted part runs once per protocol (VER: --http1.1, then --http2):
# an HTTP/2 request must move the same counters as an HTTP/1.1 one.
VER=--http1.1
https() {
	local path=$1
	shift
	curl -sS "$VER" --max-time 15 --cacert "$T/ca.pem" \
		--resolve "localhost:$PORT:127.0.0.1" "$@" \
		"https://localhost:$PORT$path"
}

curl --version | grep -q HTTP2 || skip "curl without HTTP/2"
start_backend

metrics() {
	curl -s --max-time 5 "http://127.0.0.1:$HPORT/metrics" >"$T/m.txt" ||
		fail "scrape"
}
val() {
	awk -v k="$1" '$1 == k {print $2}' "$T/m.txt"
}

# counted VER: fresh sidecar, known requests, then every counter checked.
counted() {
VER=$1
PORT=$(free_port)
HPORT=$(free_port)
SC_ROUTES='[{prefix: /v1/, methods: [GET, POST]}, {prefix: /wait}, {prefix: /garbage}]' \
	start_sidecar
mark_ready
got=$(https /v1/models -o /dev/null -w '%{http_version}')
case "$VER:$got" in
--http1.1:1.1 | --http2:2) ;;
*) fail "$VER: negotiated HTTP version '$got'" ;;
esac
for _ in 1 2; do https /v1/models -o /dev/null; done
https '/wait?s=0.3' -o /dev/null
https /admin -o /dev/null
https /garbage -o /dev/null
# A TLS 1.1 client: a handshake failure by version.
echo | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -tls1_1 \
	>/dev/null 2>&1
metrics

[ "$(val 'sealpod_sidecar_route_requests_total{route="/v1/",class="2xx"}')" = 3 ] ||
	fail "$VER: route /v1/ 2xx: $(grep route_requests "$T/m.txt")"
[ "$(val 'sealpod_sidecar_route_requests_total{route="/wait",class="2xx"}')" = 1 ] ||
	fail "route /wait"
[ "$(val 'sealpod_sidecar_route_requests_total{route="none",class="4xx"}')" = 1 ] ||
	fail "unrouted 404"
[ "$(val 'sealpod_sidecar_route_requests_total{route="/garbage",class="5xx"}')" = 1 ] ||
	fail "route /garbage 5xx"
ok "requests by route and status class"

[ "$(val 'sealpod_sidecar_ttfb_seconds_count')" = 6 ] ||
	fail "$VER: ttfb count $(val sealpod_sidecar_ttfb_seconds_count)"
[ "$(val 'sealpod_sidecar_duration_seconds_count')" = 6 ] || fail "$VER: duration count"
# The 0.3 s wait lands above 0.25 and within 0.5.
b025=$(val 'sealpod_sidecar_ttfb_seconds_bucket{le="0.25"}')
b05=$(val 'sealpod_sidecar_ttfb_seconds_bucket{le="0.5"}')
[ "$((b05 - b025))" -ge 1 ] || fail "0.3 s request not in (0.25, 0.5]"
inf=$(val 'sealpod_sidecar_ttfb_seconds_bucket{le="+Inf"}')
[ "$inf" = 6 ] || fail "+Inf bucket $inf"
sum=$(val 'sealpod_sidecar_duration_seconds_sum')
"$PY" -c "import sys; sys.exit(0 if 0.3 <= $sum < 5 else 1)" ||
	fail "duration sum $sum"
grep -q '^# TYPE sealpod_sidecar_ttfb_seconds histogram$' "$T/m.txt" ||
	fail "ttfb TYPE line"
# Cumulative buckets never decrease.
awk -F'[ ]' '/^sealpod_sidecar_duration_seconds_bucket/ {
	if ($2 < prev) bad = 1; prev = $2 } END { exit bad }' "$T/m.txt" ||
	fail "buckets not cumulative"
ok "time-to-first-byte and duration histograms"

[ "$(val 'sealpod_sidecar_tls_handshake_failures_total{reason="version"}')" -ge 1 ] ||
	fail "handshake failure by reason"
[ "$(val 'sealpod_sidecar_backend_errors_by_kind_total{kind="bad_response"}')" = 1 ] ||
	fail "backend error kind bad_response"
[ "$(val 'sealpod_sidecar_backend_errors_total')" = 1 ] || fail "backend total"
ok "handshake failures by reason, backend errors by kind"
stop_sidecar
}

for v in --http1.1 --http2; do
	counted "$v"
	ok "$v: all counters moved as expected"
done
VER=--http1.1

# Backend down: connect errors by kind.
kill "$BACKEND_PID"
wait "$BACKEND_PID" 2>/dev/null
PORT=$(free_port)
HPORT=$(free_port)
SC_ROUTES=default start_sidecar
code=$(https /v1/models -o /dev/null -w '%{http_code}')
[ "$code" = 502 ] || fail "backend down: $code"
metrics
[ "$(val 'sealpod_sidecar_backend_errors_by_kind_total{kind="connect"}')" = 1 ] ||
	fail "connect error kind"
ok "backend connect failure counted as kind connect"

# /metrics is not served on the TLS port (it goes through routing: 404).
code=$(https /metrics -o /dev/null -w '%{http_code}')
[ "$code" = 404 ] || fail "/metrics on the TLS port: $code"
ok "/metrics only on the health port"
