#!/bin/bash
# TLS session tickets (issue 4): with two workers, every one of 20
# reconnects resumes, whichever worker accepts it (TLS 1.3 and 1.2),
# and each TLS 1.3 resumption brings a fresh ticket;
# a ticket issued before a certificate reload (SIGHUP, new certificate)
# still resumes after it; a ticket the process never made (one from
# before a restart, one with a random key name, one with a broken MAC)
# gets a full handshake that works, and the sidecar stays up.
. "$(dirname "$0")/sidecar_lib.sh"

N=20
# shellcheck disable=SC2034 # read by write_config (sidecar_lib.sh)
SC_WORKERS=2
start_backend
start_sidecar
mark_ready

resume() {
	timeout 120 "$PY" "$HERE/tls_resume_client.py" --port "$PORT" \
		--ca "$T/ca.pem" "$@"
}

# For failure messages: is the backend stand-in still there?
backend_state() {
	if kill -0 "$BACKEND_PID" 2>/dev/null; then
		echo "backend up"
	else
		echo "backend gone: $(tail -n 3 "$T/backend.err" 2>/dev/null)"
	fi
}

# With strace, see which worker thread accepted each connection (the
# client reports its local ports): proof that tickets cross workers.
TRACE=
if command -v strace >/dev/null 2>&1; then
	timeout 200 strace -f -qq -e trace=accept4 -p "$SIDECAR_PID" \
		-o "$T/accepts" 2>/dev/null &
	TRACE=$!
	PIDS+=("$TRACE")
	# Attached once a connection shows up in the trace.
	for _ in $(seq 1 50); do
		https /echo -o /dev/null
		if grep -q 'accept4(.*sin_port' "$T/accepts" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	grep -q 'accept4(.*sin_port' "$T/accepts" || TRACE=
fi

# workers_used JSON: distinct accepting threads of the resumed reconnects.
workers_used() {
	"$PY" - "$1" "$T/accepts" <<'EOF'
import json, re, sys
ports = {p for p, r in json.loads(sys.argv[1])["ports"] if r}
tids = set()
for line in open(sys.argv[2]):
    m = re.match(r"(\d+)\s+accept4\(.*sin_port=htons\((\d+)\)", line)
    if m and int(m.group(2)) in ports:
        tids.add(m.group(1))
print(len(tids))
EOF
}

for v in 1.3 1.2; do
	out=$(resume --n "$N" --tls "$v") ||
		fail "TLS $v client: $out ($(backend_state))"
	got=$(jget "$out" 'j["resumed"]')
	[ "$(jget "$out" 'j["first_resumed"]')" = False ] ||
		fail "TLS $v: the first connection claims a resumption"
	[ "$got" = "$N" ] || fail "TLS $v: $got of $N reconnects resumed"
	# Each resumption hands out a fresh ticket, so that clients that
	# use a ticket once (wrk, browsers) keep resuming.
	fresh=$(jget "$out" 'j["renewed"]')
	if [ "$v" = 1.3 ] && [ "$fresh" != "$N" ]; then
		fail "TLS $v: only $fresh of $N resumptions brought a new ticket"
	fi
	if [ -n "$TRACE" ]; then
		sleep 0.2
		used=$(workers_used "$out")
		[ "$used" = 2 ] ||
			fail "TLS $v: resumed on $used worker(s), want both"
		ok "TLS $v: $N/$N reconnects resumed, on both workers"
	else
		ok "TLS $v: $N/$N reconnects resumed (no strace: workers not shown)"
	fi
done
if [ -n "$TRACE" ]; then
	kill "$TRACE" 2>/dev/null
	wait "$TRACE" 2>/dev/null
fi

# A ticket from before a reload, offered again after it.
fp() {
	timeout 10 openssl s_client -connect "127.0.0.1:$PORT" \
		-servername localhost </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
resume --n "$N" --same-ticket --ready-file "$T/held" \
	--wait-file "$T/go" >"$T/reload.json" &
CLIENT=$!
PIDS+=("$CLIENT")
wait_for test -f "$T/held" || fail "client got no first session"
serve_leaf next
kill -HUP "$SIDECAR_PID"
want=$(openssl x509 -in "$T/next.pem" -noout -fingerprint -sha256)
wait_for test "$(fp)" = "$want" || fail "new certificate not served"
touch "$T/go"
wait "$CLIENT" || fail "client across the reload: $(cat "$T/reload.json")"
got=$(jget "$(cat "$T/reload.json")" 'j["resumed"]')
[ "$got" = "$N" ] || fail "after a reload $got of $N reconnects resumed"
ok "a ticket from before a certificate reload resumes after it ($N/$N)"

# Tickets the sidecar cannot read: random key name, broken MAC.
sclient() {
	sleep 0.5 | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" \
		-servername localhost -CAfile "$T/ca.pem" -tls1_3 "$@" 2>&1
}
sclient -sess_out "$T/sess.pem" >/dev/null
[ -s "$T/sess.pem" ] || fail "s_client saved no session"
grep -q "^Reused, TLSv1.3" <<<"$(sclient -sess_in "$T/sess.pem")" ||
	fail "the genuine ticket did not resume"
for edit in name mac; do
	"$PY" "$HERE/ticket_forge.py" --in "$T/sess.pem" \
		--out "$T/forged-$edit.pem" --edit "$edit" >/dev/null ||
		fail "could not forge a ticket ($edit)"
	out=$(sclient -sess_in "$T/forged-$edit.pem")
	grep -q "^New, TLSv1.3" <<<"$out" ||
		fail "forged ticket ($edit): no full handshake: $(head -3 <<<"$out")"
	grep -q "Verify return code: 0 (ok)" <<<"$out" ||
		fail "forged ticket ($edit): handshake did not complete"
done
[ "$(https /echo -o /dev/null -w '%{http_code}')" = 200 ] ||
	fail "not serving after forged tickets"
ok "tickets with an unknown key name or a bad MAC: full handshake"

# A ticket from before a restart: the new process has new keys.
resume --n 3 --same-ticket --ready-file "$T/held2" \
	--wait-file "$T/go2" >"$T/restart.json" &
CLIENT=$!
PIDS+=("$CLIENT")
wait_for test -f "$T/held2" || fail "client got no session before restart"
stop_sidecar
start_sidecar
touch "$T/go2"
wait "$CLIENT" || fail "client across the restart: $(cat "$T/restart.json")"
got=$(jget "$(cat "$T/restart.json")" 'j["resumed"]')
[ "$got" = 0 ] || fail "a restarted sidecar resumed $got old tickets"
ok "tickets from before a restart: full handshakes, requests served"

kill -0 "$SIDECAR_PID" || fail "sidecar died"
if grep -q '"level":"error"' "$T/sidecar.log"; then
	fail "errors logged: $(grep '"level":"error"' "$T/sidecar.log" | head -3)"
fi
ok "no errors logged"
