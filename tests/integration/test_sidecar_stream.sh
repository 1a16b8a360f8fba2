#!/bin/bash
# Streaming: a server-sent event reaches the client before the backend
# has even produced the next one (no buffering); a client that vanishes
# mid-stream (FIN or RST) makes the sidecar close the backend connection
# within a second; the idle timeout is measured between bytes, so a long
# stream outlives it while a silent backend does not.
. "$(dirname "$0")/sidecar_lib.sh"

start_backend
start_sidecar
mark_ready

# backend_t EVENT INDEX: time the backend recorded an event.
backend_t() {
	"$PY" -c 'import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["event"] == sys.argv[2] and r.get("index") == int(sys.argv[3]):
        print(r["t"])
        break' "$T/backend.jsonl" "$1" "$2"
}

out=$(client sse --path '/sse?n=2&gap=1' --timeout 10)
n=$(jget "$out" 'len(j["events"])')
[ "$n" = 2 ] || fail "got $n events: $out"
got0=$(jget "$out" 'j["events"][0][0]')
sent0=$(backend_t sse_sent 0)
sent1=$(backend_t sse_sent 1)
"$PY" -c 'import sys
got0, sent0, sent1 = map(float, sys.argv[1:])
assert got0 < sent1 - 0.5, "first event only arrived with the second"
assert got0 - sent0 < 0.25, "first event delayed %.3f s" % (got0 - sent0)
print("first event: +%.1f ms after the backend sent it, %.0f ms before "
      "the second was sent" % ((got0 - sent0) * 1e3, (sent1 - got0) * 1e3))
' "$got0" "$sent0" "$sent1" || fail "event timing"
ok "server-sent events are forwarded as they arrive"

disconnect_case() {
	local flag=$1 name=$2 out closed seen
	out=$(client disconnect --path '/sse?n=40&gap=0.5' ${flag:+"$flag"})
	[ "$(jget "$out" 'j["got_event"]')" = True ] || fail "$name: no event"
	closed=$(jget "$out" 'j["closed_at"]')
	for _ in $(seq 1 30); do
		seen=$("$PY" -c 'import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1])
     if json.loads(l)["event"] == "client_closed"]
print(t[-1] if len(t) >= int(sys.argv[2]) else "")' "$T/backend.jsonl" "$3")
		[ -n "$seen" ] && break
		sleep 0.1
	done
	[ -n "$seen" ] || fail "$name: backend never saw its connection close"
	"$PY" -c 'import sys
d = float(sys.argv[2]) - float(sys.argv[1])
assert d < 1.0, "backend saw the close after %.3f s" % d
print("backend saw the close %.0f ms after the client left" % (d * 1e3))
' "$closed" "$seen" || fail "$name: too slow"
}

disconnect_case "" "FIN" 1
ok "client close (FIN) mid-stream closes the backend connection within 1 s"
disconnect_case "--rst" "RST" 2
ok "client reset (RST) mid-stream closes the backend connection within 1 s"
grep -q '"event":"http.access","reason":"client_abort"' "$T/sidecar.log" ||
	fail "access log does not say client_abort"
ok "aborted streams are logged with reason client_abort"

# Idle timeout of 1 s: a stream with bytes every 0.4 s runs for 2 s,
# a backend silent for 3 s gets 504.
stop_for_restart
SC_IDLE_S=1 start_sidecar
out=$(client sse --path '/sse?n=6&gap=0.4' --timeout 10)
[ "$(jget "$out" 'len(j["events"])')" = 6 ] ||
	fail "long stream cut by the idle timeout: $out"
ok "a 2 s stream outlives a 1 s idle timeout (no total timeout)"
code=$(https '/wait?s=3' -o /dev/null -w '%{http_code}')
[ "$code" = 504 ] || fail "silent backend gave $code, want 504"
ok "a backend silent beyond the idle timeout gets 504"
