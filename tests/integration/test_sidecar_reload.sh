#!/bin/bash
# SIGHUP reload: a new certificate is served on new handshakes while an
# established connection stays up; a malformed certificate, a key file
# others can read, or a mismatched pair is refused, the old certificate
# kept, and the failure logged and counted.
. "$(dirname "$0")/sidecar_lib.sh"

start_backend
start_sidecar
mark_ready

served_fp() {
	timeout 10 openssl s_client -connect "127.0.0.1:$PORT" \
		-servername localhost </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
file_fp() {
	openssl x509 -in "$1" -noout -fingerprint -sha256
}

fp_a=$(file_fp "$T/server.pem")
[ "$(served_fp)" = "$fp_a" ] || fail "initial certificate"

client hold --timeout 4 >"$T/hold.out" &
HOLD=$!
PIDS+=("$HOLD")
wait_for grep -q idle "$T/hold.out" || fail "held connection"

serve_leaf next
kill -HUP "$SIDECAR_PID"
fp_b=$(file_fp "$T/next.pem")
wait_for test "$(served_fp)" = "$fp_b" || fail "new certificate not served"
grep -q '"event":"tls.reload.done"' "$T/sidecar.log" || fail "no reload event"
[ "$(metric 'sealpod_sidecar_certificate_reloads_total{result="ok"}')" = 1 ] ||
	fail "reload not counted"
ok "SIGHUP serves the new certificate on new handshakes"

wait "$HOLD"
grep -q '"event": "open"' "$T/hold.out" ||
	fail "established connection was closed by the reload: $(cat "$T/hold.out")"
ok "an established connection survives the reload"

bad_reload() {
	local name=$1
	kill -HUP "$SIDECAR_PID"
	wait_for test "$(metric 'sealpod_sidecar_certificate_reloads_total{result="error"}')" = "$2" ||
		fail "$name: failure not counted"
	[ "$(served_fp)" = "$fp_b" ] || fail "$name: old certificate not kept"
	[ "$(https /echo -o /dev/null -w '%{http_code}')" = 200 ] ||
		fail "$name: not serving"
}

cp "$T/server.pem" "$T/good.pem"
echo "not a certificate" >"$T/server.pem"
bad_reload "garbage certificate" 1
cp "$T/good.pem" "$T/server.pem"
chmod 644 "$T/server.key"
bad_reload "readable key" 2
chmod 600 "$T/server.key"
gen_leaf third ec
cp "$T/third.pem" "$T/server.pem"
bad_reload "mismatched pair" 3
[ "$(grep -c '"event":"tls.reload.failed"' "$T/sidecar.log")" = 3 ] ||
	fail "failures not logged"
ok "bad certificate, readable key, mismatched pair: refused, old one kept"
kill -0 "$SIDECAR_PID" || fail "sidecar died"
