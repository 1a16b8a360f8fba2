#!/bin/bash
# WebSocket upgrades over HTTP/1.1: tunnelled both ways only on a route
# with websocket: true; after the backend's 101 bytes pass unexamined;
# the idle timeout applies; the access line is written at close with the
# bytes of the whole tunnel.
. "$(dirname "$0")/sidecar_lib.sh"

# HTTP/1.1 on purpose: this scenario is about the HTTP/1 path (HTTP/2 has
# its own scenario), so curl must not negotiate h2.
https() {
	local path=$1
	shift
	curl -sS --http1.1 --max-time 15 --cacert "$T/ca.pem" \
		--resolve "localhost:$PORT:127.0.0.1" "$@" \
		"https://localhost:$PORT$path"
}

ws() {
	"$PY" "$HERE/ws_client.py" --port "$PORT" --ca "$T/ca.pem" "$@"
}

start_backend
SC_IDLE_S=2 SC_ROUTES='[{prefix: /ws, methods: [GET], websocket: true},
  {prefix: /plain, methods: [GET]}]' start_sidecar
mark_ready

out=$(ws --path /ws --messages 4 --size 3000) || fail "client: $out"
[ "$(jget "$out" 'j["status"]')" = 101 ] || fail "no 101: $out"
[ "$(jget "$out" 'j["accept_ok"]')" = True ] || fail "accept key: $out"
[ "$(jget "$out" 'all(j["echoes"]) and len(j["echoes"]) == 4')" = True ] ||
	fail "echoes: $out"
[ "$(jget "$out" 'j["closed"]')" = True ] || fail "close handshake: $out"
ok "upgrade, echo of text and binary frames both ways, close handshake"

wait_for grep -q '"event": "ws_closed"' "$T/backend.jsonl" ||
	fail "backend did not see the close"
n=$(grep -c '"event": "ws_message"' "$T/backend.jsonl")
[ "$n" = 4 ] || fail "backend saw $n messages"
grep '"target": "/ws"' "$T/backend.jsonl" | grep -q '"Upgrade", "websocket"' ||
	fail "backend did not see Upgrade: websocket"
ok "backend saw the upgrade request and every frame, masked"

wait_for grep -q '"event":"http.access".*"path":"/ws".*"status":101' \
	"$T/sidecar.log" || fail "no access line at close"
line=$(grep '"event":"http.access".*"status":101' "$T/sidecar.log" | tail -1)
bin=$(jget "$line" 'j["bytes_in"]')
bout=$(jget "$line" 'j["bytes_out"]')
[ "$bin" -gt 12000 ] && [ "$bout" -gt 12000 ] ||
	fail "tunnel bytes not counted: $line"
ok "access line at close with the tunnel's bytes ($bin in, $bout out)"

# A route without websocket: true forwards a plain GET, no Upgrade.
out=$(ws --path /plain/ws --messages 1) || true
[ "$(jget "$out" 'j["status"]')" != 101 ] || fail "upgraded on /plain"
last=$(grep '"target": "/plain/ws"' "$T/backend.jsonl" | tail -1)
echo "$last" | grep -qi '"upgrade"' && fail "Upgrade reached the backend"
ok "no upgrade where the route does not allow it (Upgrade stripped)"

# Idle timeout: a silent tunnel is cut after timeouts.idle_s.
start=$(date +%s)
out=$(ws --path /ws --messages 1 --linger 6) || fail "client: $out"
took=$(($(date +%s) - start))
[ "$(jget "$out" 'j.get("cut", False)')" = True ] || fail "not cut: $out"
[ "$took" -le 6 ] || fail "cut after ${took}s, idle_s is 2"
wait_for grep -q '"status":101.*"reason":"idle_timeout"\|"reason":"idle_timeout".*"status":101' \
	"$T/sidecar.log" || fail "idle cut not logged"
ok "idle tunnel cut after timeouts.idle_s"

# The client vanishing closes the backend side too.
closes() {
	grep -c '"event": "ws_closed"' "$T/backend.jsonl"
}
more_closes() {
	test "$(closes)" -gt "$1"
}
n0=$(closes)
ws --path /ws --messages 1 --no-close >/dev/null || fail "client"
wait_for more_closes "$n0" ||
	fail "backend side not closed after the client left"
ok "client gone: backend connection closed"
