#!/bin/bash
# SIGTERM drain: readiness fails at once, new connections are refused,
# an in-flight event stream runs to its end, idle keep-alive connections
# are closed instead of holding the drain up, and the process exits 0.
# With a short drain timeout the remaining stream is cut, the backend
# connection closed, and the exit is still 0.
. "$(dirname "$0")/sidecar_lib.sh"

start_backend
start_sidecar
mark_ready

client hold --timeout 20 >"$T/hold.out" &
PIDS+=($!)
client sse --path '/sse?n=4&gap=0.7' --timeout 15 >"$T/stream.out" &
STREAM=$!
PIDS+=("$STREAM")
wait_for grep -q idle "$T/hold.out" || fail "idle client did not start"
wait_for grep -q '"event": "sse_sent"' "$T/backend.jsonl" ||
	fail "stream did not start"

kill -TERM "$SIDECAR_PID"
term_at=$(date +%s.%N)
sleep 0.3
[ "$(health /readyz)" = 503 ] || fail "/readyz still 200 while draining"
[ "$(jget "$(cat "$T/health.body")" 'j["failed"]')" = "['serving']" ] ||
	fail "/readyz body while draining: $(cat "$T/health.body")"
ok "SIGTERM: /readyz fails at once naming serving"

https /echo -o /dev/null 2>/dev/null
rc=$?
[ "$rc" = 7 ] || fail "new connection while draining: curl exit $rc, want 7"
ok "new connections are refused while draining"

wait "$STREAM"
[ "$(jget "$(cat "$T/stream.out")" 'len(j["events"])')" = 4 ] ||
	fail "in-flight stream was cut: $(cat "$T/stream.out")"
ok "the in-flight stream ran to its end"

status=
for _ in $(seq 1 50); do
	if ! kill -0 "$SIDECAR_PID" 2>/dev/null; then
		wait "$SIDECAR_PID"
		status=$?
		break
	fi
	sleep 0.1
done
[ "$status" = 0 ] || fail "exit status after drain: '$status'"
"$PY" -c 'import sys, time
d = time.time() - float(sys.argv[1])
assert d < 6, "drain took %.1f s" % d' "$term_at" || fail "drain too slow"
wait_for grep -q '"event": "closed"' "$T/hold.out" ||
	fail "idle keep-alive connection not closed: $(cat "$T/hold.out")"
grep -q '"event":"sidecar.stopped"' "$T/sidecar.log" || fail "no stopped event"
grep -q 'sidecar.drain.cut' "$T/sidecar.log" && fail "drain was cut"
ok "exit 0 once the stream ended; idle connections closed"

# Drain timeout: 1 s, against a 20 s stream.
PORT=$(free_port)
HPORT=$(free_port)
SC_DRAIN_S=1 start_sidecar
client sse --path '/sse?n=40&gap=0.5' --timeout 15 >"$T/long.out" &
STREAM=$!
PIDS+=("$STREAM")
sleep 0.8
kill -TERM "$SIDECAR_PID"
term_at=$(date +%s.%N)
wait "$STREAM"
wait "$SIDECAR_PID"
status=$?
[ "$status" = 0 ] || fail "exit status after drain timeout: $status"
"$PY" -c 'import sys, time
d = time.time() - float(sys.argv[1])
assert 0.8 < d < 3, "exit %.1f s after SIGTERM" % d' "$term_at" ||
	fail "drain timeout not honoured"
n=$(jget "$(cat "$T/long.out")" 'len(j["events"])')
[ "$n" -lt 40 ] || fail "stream was not cut"
grep -q '"event":"sidecar.drain.cut","reason":"drain_timeout"' \
	"$T/sidecar.log" || fail "no drain_timeout event"
wait_for grep -q '"event": "client_closed"' "$T/backend.jsonl" ||
	fail "backend connection not closed at the drain timeout"
ok "drain timeout cuts the stream, closes the backend, exits 0"

# drain_delay_s: readiness fails at once but new connections are still
# served for the delay (endpoint removal takes a moment to propagate).
PORT=$(free_port)
HPORT=$(free_port)
SC_DRAIN_DELAY_S=2 start_sidecar
kill -TERM "$SIDECAR_PID"
sleep 0.3
[ "$(health /readyz)" = 503 ] || fail "/readyz during the drain delay"
[ "$(https /echo -o /dev/null -w '%{http_code}')" = 200 ] ||
	fail "new connection refused during the drain delay"
ok "during drain_delay_s: /readyz 503, new connections still served"
sleep 2.5
https /echo -o /dev/null 2>/dev/null
[ $? = 7 ] || fail "connections still accepted after the delay"
wait "$SIDECAR_PID" || fail "exit status after delayed drain"
ok "after drain_delay_s: listeners closed, exit 0"
