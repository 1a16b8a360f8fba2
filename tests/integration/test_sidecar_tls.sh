#!/bin/bash
# TLS front: 1.3 and 1.2 work (ECDSA and RSA certificates), 1.1 and 1.0
# are refused by the server (not just by the client's own policy), 1.2
# offers only ECDHE+AEAD suites, ALPN picks http/1.1, a client offering
# only h2 is refused, plain HTTP on the TLS port fails cleanly.
. "$(dirname "$0")/sidecar_lib.sh"

start_backend
start_sidecar
mark_ready

sclient() {
	timeout 10 openssl s_client -connect "127.0.0.1:$PORT" \
		-servername localhost -CAfile "$T/ca.pem" "$@" </dev/null 2>&1
}

out=$(sclient -tls1_3)
grep -q "^New, TLSv1.3, " <<<"$out" || fail "TLS 1.3 handshake"
grep -q "Verify return code: 0 (ok)" <<<"$out" || fail "chain did not verify"
ok "TLS 1.3 with a verified chain"

out=$(sclient -tls1_2)
grep -q "^New, TLSv1.2, " <<<"$out" || fail "TLS 1.2 handshake"
grep -q "Cipher  *: ECDHE-ECDSA-AES.*GCM\|Cipher  *: ECDHE-ECDSA-CHACHA20" \
	<<<"$out" || fail "TLS 1.2 did not pick ECDHE+AEAD: $(grep Cipher <<<"$out")"
ok "TLS 1.2 with ECDHE+AEAD"

[ "$(https /echo --tlsv1.3 -o /dev/null -w '%{http_code}')" = 200 ] ||
	fail "curl over TLS 1.3"
[ "$(https /echo --tlsv1.2 --tls-max 1.2 -o /dev/null -w '%{http_code}')" = 200 ] ||
	fail "curl over TLS 1.2"
ok "curl over TLS 1.3 and TLS 1.2"

# Old versions: lower the client's security level so that the client
# really offers them; the server must refuse.
fails_before=$(curl -s "http://127.0.0.1:$HPORT/metrics" |
	awk '/handshake_failures_total\{reason="version"\}/ {print $2}')
for v in -tls1_1 -tls1; do
	out=$(sclient "$v" -cipher 'DEFAULT:@SECLEVEL=0')
	grep -q "^New, TLSv" <<<"$out" && fail "server accepted $v"
	grep -q "alert protocol version" <<<"$out" ||
		fail "no protocol_version alert for $v"
done
fails_after=$(curl -s "http://127.0.0.1:$HPORT/metrics" |
	awk '/handshake_failures_total\{reason="version"\}/ {print $2}')
[ "$fails_after" -ge $((fails_before + 2)) ] ||
	fail "TLS 1.1/1.0 attempts did not reach the server ($fails_before -> $fails_after)"
ok "TLS 1.1 and 1.0 refused by the server"

out=$(sclient -tls1_2 -cipher 'AES128-GCM-SHA256:AES128-SHA:ECDHE-ECDSA-AES128-SHA')
grep -q "^New, TLSv" <<<"$out" && fail "non-ECDHE or CBC suite accepted"
ok "TLS 1.2 refuses RSA key exchange and CBC suites"

# Issue 4: h2 is preferred when offered (http2.enabled defaults to on;
# test_sidecar_h2.sh checks the fallback when it is off).
out=$(sclient -alpn h2,http/1.1)
grep -q "ALPN protocol: h2" <<<"$out" || fail "ALPN did not pick h2"
out=$(sclient -alpn spdy/3,http/1.1)
grep -q "ALPN protocol: http/1.1" <<<"$out" || fail "ALPN did not pick http/1.1"
out=$(sclient -alpn spdy/3)
grep -q "^New, TLSv" <<<"$out" && fail "a client with no common protocol was accepted"
ok "ALPN: h2 preferred, then http/1.1; no common protocol refused"

for v in -tls1_3 -tls1_2; do
	rm -f "$T/sess"
	# The pause lets the client read the session ticket before it quits.
	sleep 0.5 | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" \
		-CAfile "$T/ca.pem" "$v" -sess_out "$T/sess" >/dev/null 2>&1
	out=$(sleep 0.5 | timeout 10 openssl s_client -connect \
		"127.0.0.1:$PORT" -CAfile "$T/ca.pem" "$v" -sess_in "$T/sess" 2>&1)
	grep -q "^Reused, TLSv" <<<"$out" || fail "no resumption with $v"
done
ok "session resumption with TLS 1.3 and 1.2"

code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
	"http://127.0.0.1:$PORT/echo")
[ "$code" = 000 ] || fail "plain HTTP on the TLS port answered $code"
ok "plain HTTP on the TLS port fails"

[ "$(backend_requests)" -eq 2 ] || fail "backend saw $(backend_requests) requests, want 2"
ok "only the two curl requests reached the backend"

# An RSA certificate works for both versions too.
stop_sidecar || fail "stop"
gen_leaf rsa rsa
PORT=$(free_port)
HPORT=$(free_port)
SC_CERT=$T/rsa.pem SC_KEY=$T/rsa.key start_sidecar
out=$(sclient -tls1_2)
grep -q "Cipher  *: ECDHE-RSA-" <<<"$out" || fail "RSA certificate over TLS 1.2"
out=$(sclient -tls1_3)
grep -q "^New, TLSv1.3, " <<<"$out" || fail "RSA certificate over TLS 1.3"
ok "RSA certificate over TLS 1.2 and 1.3"
