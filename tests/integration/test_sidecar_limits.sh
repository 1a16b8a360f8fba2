#!/bin/bash
# limits.connections: beyond it new connections are accepted and closed at
# once, counted and logged (rate-limited); existing ones are unaffected,
# and capacity returns when connections close.
. "$(dirname "$0")/sidecar_lib.sh"

start_backend
SC_CONNECTIONS=3 SC_WORKERS=1 start_sidecar
mark_ready

HOLDS=()
for i in 1 2 3; do
	client hold --timeout 6 >"$T/hold$i.out" &
	HOLDS+=($!)
done
for i in 1 2 3; do
	wait_for grep -q idle "$T/hold$i.out" || fail "connection $i"
done

code=$(https /echo -o /dev/null -w '%{http_code}' 2>/dev/null)
[ "$code" = 000 ] || fail "fourth connection was served ($code)"
curl -s "http://127.0.0.1:$HPORT/metrics" >"$T/m.txt"
grep -q '^sealpod_sidecar_connections_rejected_total [1-9]' "$T/m.txt" ||
	fail "rejection not counted"
grep -q '^sealpod_sidecar_connections_open 3$' "$T/m.txt" ||
	fail "open gauge: $(grep connections_open "$T/m.txt")"
grep -q '"event":"conn.limit.reached"' "$T/sidecar.log" ||
	fail "rejection not logged"
ok "beyond limits.connections: closed at once, counted, logged"

for i in 1 2 3; do
	grep -q '"event": "closed"' "$T/hold$i.out" &&
		fail "existing connection $i was closed"
done
ok "existing connections unaffected"

wait "${HOLDS[@]}"
wait_for test "$(https /echo -o /dev/null -w '%{http_code}')" = 200 ||
	fail "capacity did not come back"
ok "capacity returns when connections close"
