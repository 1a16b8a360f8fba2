#!/bin/bash
# Deny until ready: before the ready marker exists every request is 503
# with Retry-After and nothing reaches the backend; /healthz and /readyz
# transitions (with the failing check named); /metrics families.
. "$(dirname "$0")/sidecar_lib.sh"

start_backend
start_sidecar

[ "$(health /healthz)" = 200 ] || fail "/healthz before ready"
ok "/healthz is 200 while not ready"

[ "$(health /readyz)" = 503 ] || fail "/readyz before the marker"
body=$(cat "$T/health.body")
[ "$(jget "$body" 'j["failed"]')" = "['ready_file']" ] ||
	fail "/readyz body: $body"
[ "$(jget "$body" 'j["checks"]["backend"]')" = ok ] || fail "backend check"
ok "/readyz is 503 naming ready_file"

https /echo -D "$T/nr.head" -o /dev/null
grep -q '^HTTP/1.1 503' "$T/nr.head" || fail "GET before ready was not 503"
grep -qi '^Retry-After:' "$T/nr.head" || fail "503 without Retry-After"
grep -qi '^Connection: close' "$T/nr.head" || fail "503 without close"
code=$(https /v1/chat/completions -o /dev/null -w '%{http_code}' \
	-H 'Content-Type: application/json' --data-binary '{"stream":true}')
[ "$code" = 503 ] || fail "POST before ready gave $code"
code=$(https /upload -o /dev/null -w '%{http_code}' \
	-H 'Transfer-Encoding: chunked' --data-binary @"$SIDECAR")
[ "$code" = 503 ] || fail "chunked POST before ready gave $code"
# (/readyz's TCP probe connects and closes; no request is ever sent.)
[ "$(backend_requests)" = 0 ] || fail "a request reached the backend"
ok "before ready: 503 with Retry-After, backend untouched"

mark_ready
[ "$(health /readyz)" = 200 ] || fail "/readyz after the marker: $(cat "$T/health.body")"
[ "$(jget "$(cat "$T/health.body")" 'j["ready"]')" = True ] || fail "ready flag"
[ "$(https /echo -o /dev/null -w '%{http_code}')" = 200 ] ||
	fail "GET after ready"
[ "$(backend_requests)" = 1 ] || fail "backend count after ready"
ok "after the marker: /readyz 200 and requests pass"

rm "$T/ready"
sleep 1.5
[ "$(https /echo -o /dev/null -w '%{http_code}')" = 503 ] ||
	fail "marker removed but requests still pass"
[ "$(health /readyz)" = 503 ] || fail "/readyz with the marker removed"
mark_ready
ok "a removed marker closes the gate again"

curl -s "http://127.0.0.1:$HPORT/metrics" >"$T/metrics.txt"
for family in requests_total received_bytes_total sent_bytes_total \
	connections_open connections_accepted_total connections_rejected_total \
	tls_handshake_failures_total backend_errors_total client_aborts_total \
	not_ready_total bad_requests_total certificate_reloads_total \
	ready_marker draining; do
	grep -q "^# TYPE sealpod_sidecar_$family " "$T/metrics.txt" ||
		fail "metrics lack $family"
done
grep -q '^sealpod_sidecar_requests_total{class="5xx"} 4$' "$T/metrics.txt" ||
	fail "5xx count: $(grep 'class="5xx"' "$T/metrics.txt")"
grep -q '^sealpod_sidecar_not_ready_total 4$' "$T/metrics.txt" ||
	fail "not_ready count"
ok "/metrics has every family and the right counts"

[ "$(health /nope)" = 404 ] || fail "unknown health path"
ok "unknown health path is 404"

kill "$BACKEND_PID"
wait "$BACKEND_PID" 2>/dev/null
[ "$(health /readyz)" = 503 ] || fail "/readyz with the backend down"
[ "$(jget "$(cat "$T/health.body")" 'j["failed"]')" = "['backend']" ] ||
	fail "/readyz body: $(cat "$T/health.body")"
[ "$(health /healthz)" = 200 ] || fail "/healthz must not depend on the backend"
ok "backend down: /readyz 503 naming backend, /healthz still 200"

# Without ready_file there is no gate: /readyz says "disabled", not "ok"
# (h32 L12). A relative ready_file or an empty route list is refused.
stop_sidecar || fail "stop"
rm -f "$T/backend.port" # start_backend waits for a new one
start_backend
# shellcheck disable=SC2034 # read by write_config (sidecar_lib.sh)
PORT=$(free_port)
HPORT=$(free_port)
write_config
sed -i '/^ready_file:/d' "$T/sidecar.yaml"
"$SIDECAR" --config "$T/sidecar.yaml" 2>>"$T/sidecar.log" &
SIDECAR_PID=$!
PIDS+=("$SIDECAR_PID")
wait_for curl -sf --max-time 1 "http://127.0.0.1:$HPORT/healthz" ||
	fail "sidecar without ready_file did not come up"
[ "$(health /readyz)" = 200 ] ||
	fail "/readyz without ready_file: $(cat "$T/health.body")"
[ "$(jget "$(cat "$T/health.body")" 'j["checks"]["ready_file"]')" = disabled ] ||
	fail "/readyz body without ready_file: $(cat "$T/health.body")"
ok "without ready_file: /readyz 200 with ready_file \"disabled\""
for bad in 'ready_file: "relative/marker"' 'routes: []'; do
	write_config
	sed -i '/^ready_file:/d; /^routes:/d' "$T/sidecar.yaml"
	echo "$bad" >>"$T/sidecar.yaml"
	"$SIDECAR" --config "$T/sidecar.yaml" --check 2>"$T/check.err" &&
		fail "accepted: $bad"
	grep -q '"reason":"config_invalid"' "$T/check.err" ||
		fail "no config_invalid for: $bad"
done
ok "relative ready_file and empty routes refused by --check"
