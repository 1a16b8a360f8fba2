#!/bin/bash
# HTTP/2 backend connection reuse (issue 4): streams of one client
# connection reuse one kept-alive HTTP/1.1 backend connection; a backend
# that says "Connection: close", a stream whose response broke, and a
# response followed by stray bytes are never reused; two client
# connections never share a backend connection; a pooled connection the
# backend closed is not used again, and a request that meets such a
# close is sent again on a new connection only when it is a bodiless
# GET (a POST gets 502 and reaches the backend once).
. "$(dirname "$0")/sidecar_lib.sh"

"$PY" -c 'import h2' 2>/dev/null || skip "python3-h2 is not installed"
need h2load

"$PY" "$HERE/h2pool_backend.py" --port-file "$T/pool.port" \
	--record "$T/pool.jsonl" --max-seconds 120 2>"$T/pool.err" &
PIDS+=("$!")
wait_for test -s "$T/pool.port" || fail "pool backend did not start"
BACKEND_PORT=$(cat "$T/pool.port")
SC_WORKERS=1
start_sidecar
mark_ready

# run STEP...: one h2pool_client.py run; prints its JSON.
run() {
	local args=() st
	for st in "$@"; do
		args+=(--step "$st")
	done
	"$PY" "$HERE/h2pool_client.py" --port "$PORT" --ca "$T/ca.pem" \
		--sessions "${SESSIONS:-1}" --gap "${GAP:-0}" "${args[@]}"
}

# check JSON PYTHON-ASSERTION...: evaluate over "r" (the step list).
check() {
	local json=$1
	shift
	"$PY" -c 'import json, sys
r = json.loads(sys.argv[1])
for cond in sys.argv[2:]:
    assert eval(cond), "%s: %s" % (cond, r)' "$json" "$@"
}

connects() {
	grep -c '"event": "connect"' "$T/pool.jsonl"
}

# --- reuse ----------------------------------------------------------------
c0=$(connects)
out=$(run "0 GET /ok" "0 GET /chunked" "0 POST /ok 5000" "0 HEAD /ok" \
	"0 GET /ok") || fail "client failed: $out"
check "$out" 'all(x["status"] == 200 for x in r)' \
	'len({x["answer"]["conn"] for x in r if x["answer"]}) == 1' \
	'[x["answer"]["nreq"] for x in r if x["answer"]] == [1, 2, 3, 5]' ||
	fail "streams did not share one backend connection"
[ $(($(connects) - c0)) -eq 1 ] ||
	fail "backend accepted $(($(connects) - c0)) connections, not 1"
ok "5 sequential streams (length, chunked, POST, HEAD) used 1 connection"

c0=$(connects)
h2load -n 300 -c 1 -m 1 "https://127.0.0.1:$PORT/ok" >"$T/h2load.out" 2>&1 ||
	fail "h2load failed: $(tail -3 "$T/h2load.out")"
grep -q '300 succeeded, 0 failed' "$T/h2load.out" ||
	fail "h2load: $(grep 'requests:' "$T/h2load.out")"
[ $(($(connects) - c0)) -eq 1 ] ||
	fail "300 streams took $(($(connects) - c0)) backend connections"
ok "300 streams one after the other on one backend connection"

c0=$(connects)
h2load -n 400 -c 1 -m 8 "https://127.0.0.1:$PORT/ok" >"$T/h2load.out" 2>&1 ||
	fail "h2load failed: $(tail -3 "$T/h2load.out")"
grep -q '400 succeeded, 0 failed' "$T/h2load.out" ||
	fail "h2load: $(grep 'requests:' "$T/h2load.out")"
n=$(($(connects) - c0))
[ "$n" -le 8 ] || fail "8 concurrent streams took $n backend connections"
ok "400 streams, 8 at a time, took $n backend connections (at most 8)"

# --- never reused ---------------------------------------------------------
out=$(run "0 GET /close" "0 GET /close" "0 GET /ok") ||
	fail "client failed: $out"
check "$out" 'all(x["status"] == 200 for x in r)' \
	'len({x["answer"]["conn"] for x in r}) == 3' ||
	fail "a connection the backend closed was reused"
ok "a response with Connection: close ends its backend connection"

out=$(run "0 GET /ok" "0 GET /badchunk" "0 GET /ok") ||
	fail "client failed: $out"
check "$out" 'r[0]["status"] == 200 and r[2]["status"] == 200' \
	'r[1]["reset"]' \
	'r[0]["answer"]["conn"] != r[2]["answer"]["conn"]' ||
	fail "the connection of a broken response was reused"
ok "a broken chunked response resets its stream; its connection is closed"

out=$(run "0 GET /extra" "0 GET /ok") || fail "client failed: $out"
check "$out" 'all(x["status"] == 200 for x in r)' \
	'r[0]["answer"]["conn"] != r[1]["answer"]["conn"]' \
	'r[1]["answer"]["nreq"] == 1' ||
	fail "a connection with stray bytes after a response was reused"
ok "stray bytes after a response: that connection is not reused"

# --- client connections never share ---------------------------------------
out=$(SESSIONS=2 run "0 GET /ok" "1 GET /ok" "0 GET /ok" "1 GET /ok" \
	"0 GET /ok") || fail "client failed: $out"
check "$out" 'all(x["status"] == 200 for x in r)' \
	'len({x["answer"]["conn"] for x in r if x["session"] == 0}) == 1' \
	'len({x["answer"]["conn"] for x in r if x["session"] == 1}) == 1' \
	'not ({x["answer"]["conn"] for x in r if x["session"] == 0} &
	     {x["answer"]["conn"] for x in r if x["session"] == 1})' ||
	fail "two client connections shared a backend connection"
ok "two client connections, interleaved: each keeps its own connection"

# --- a pooled connection the backend closes --------------------------------
out=$(GAP=0.6 run "0 GET /idleclose" "0 GET /ok") ||
	fail "client failed: $out"
check "$out" 'all(x["status"] == 200 for x in r)' \
	'r[0]["answer"]["conn"] != r[1]["answer"]["conn"]' ||
	fail "a pooled connection closed by the backend was used"
ok "a pooled connection the backend closed is dropped, not used"

# /flaky drops the second request on a connection unanswered: the GET is
# sent again on a new connection (its first request), the POST that
# follows on that connection is not, and the next POST opens a new one.
r0=$(grep -c '"path": "/flaky"' "$T/pool.jsonl")
out=$(run "0 GET /flaky" "0 GET /flaky" "0 POST /flaky 10" \
	"0 POST /flaky 10") ||
	fail "client failed: $out"
check "$out" 'r[0]["status"] == 200 and r[1]["status"] == 200' \
	'r[1]["answer"]["nreq"] == 1' \
	'r[2]["status"] == 502 and r[3]["status"] == 200' ||
	fail "retry rule broken"
n=$(($(grep -c '"path": "/flaky"' "$T/pool.jsonl") - r0))
[ "$n" -eq 5 ] || fail "the backend saw $n /flaky requests, not 5"
ok "a GET meeting a closed reused connection is retried once; a POST gets 502"

# --- the pool ends with the client connection ------------------------------
sleep 0.3
open_now=$("$PY" -c 'import json, sys
c = set(); z = set()
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j["event"] == "connect":
        c.add(j["conn"])
    elif j["event"] == "closed":
        z.add(j["conn"])
print(len(c - z))' "$T/pool.jsonl")
[ "$open_now" -eq 0 ] ||
	fail "$open_now backend connections still open after every client left"
ok "every backend connection is closed once its client connection ends"

kill -0 "$SIDECAR_PID" || fail "sidecar died"
stop_sidecar
rc=$?
[ "$rc" -eq 0 ] || fail "sidecar exited with status $rc after SIGTERM"
ok "clean exit (status 0) after SIGTERM"
exit 0
