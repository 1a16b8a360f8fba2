#!/bin/bash
# TLS sessions (tickets) of client certificates (review h33, finding 1).
# With client_auth: required, a session resumes while nothing changed
# (TLS 1.3 and 1.2), but it must not carry a client identity past:
#  - the expiry of the client certificate in it: a resumption after
#    notAfter is refused (full handshake, which fails), also for the
#    renewed ticket a resumption handed out (tickets.c re-verifies);
#  - a change of tls.client_ca: CA A replaced by CA B and a reload
#    (SIGHUP); a fresh handshake with the A certificate is refused, as
#    docs/sidecar.md promises, and so is resuming a ticket from before
#    the reload (the session-id context digests the bundle, tlsctx.c).
# In neither case does the request reach the backend.
. "$(dirname "$0")/sidecar_lib.sh"

"$PY" -c 'import cryptography' 2>/dev/null ||
	skip "python3-cryptography is not installed"

mkca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$1.key" -out "$T/$1.pem" -days 2 \
		-subj "/CN=$1" 2>/dev/null || fail "CA $1"
}
mkca caA
mkca caB
printf '%s\n' "basicConstraints=CA:FALSE" "extendedKeyUsage=clientAuth" \
	"subjectAltName=DNS:gw.example" >"$T/cli.ext"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/cliA.key" -out "$T/cliA.csr" -subj "/CN=gw" \
	2>/dev/null || fail "client key"
openssl x509 -req -in "$T/cliA.csr" -CA "$T/caA.pem" -CAkey "$T/caA.key" \
	-CAcreateserial -days 2 -extfile "$T/cli.ext" -out "$T/cliA.pem" \
	2>/dev/null || fail "client certificate"
cp "$T/caA.pem" "$T/clientca.pem"

start_backend
SC_TLS_EXTRA='  client_ca: "'"$T/clientca.pem"'"
  client_auth: required' start_sidecar
mark_ready

mtls() {
	timeout 90 "$PY" "$HERE/tickets_mtls_client.py" "$@" --port "$PORT" \
		--ca "$T/ca.pem"
}

# ---- expiry: a certificate valid for a few seconds ----------------------
# Made last, so that the handshakes below happen well before notAfter.
not_after=$("$PY" "$HERE/mkcert_short.py" "$T/caA.pem" "$T/caA.key" \
	"$T/cliE.pem" "$T/cliE.key" 6) || fail "short-lived certificate"
before=$(backend_requests)
out=$(mtls expiry --cert "$T/cliE.pem" --key "$T/cliE.key" \
	--path "/echo?exp=1" --not-after "$not_after") ||
	fail "expiry client: $out"
for tls in 1.3 1.2; do
	[ "$(jget "$out" "j['${tls}_first']")" = 200 ] ||
		fail "TLS $tls: first request with a valid certificate: $out"
	[ "$(jget "$out" "j['${tls}_resume']")" = 200 ] ||
		fail "TLS $tls: a resumption while nothing changed: $out"
	[ "$(jget "$out" "j['${tls}_resume_reused']")" = True ] ||
		fail "TLS $tls: an mTLS session did not resume while" \
			"nothing changed: $out"
	[ "$(jget "$out" "j['${tls}_late_fresh']")" != 200 ] ||
		fail "TLS $tls: an expired certificate was accepted: $out"
	[ "$(jget "$out" "j['${tls}_late_resume_reused']")" = False ] ||
		fail "TLS $tls: a session resumed past its client" \
			"certificate's notAfter (status" \
			"$(jget "$out" "j['${tls}_late_resume']")): $out"
	[ "$(jget "$out" "j['${tls}_late_resume']")" != 200 ] ||
		fail "TLS $tls: an expired client got 200: $out"
	ok "TLS $tls: mTLS sessions resume, but not past the certificate's expiry"
done
[ "$(($(backend_requests) - before))" = 4 ] ||
	fail "expired clients reached the backend: $out"
grep -q '"event":"tls.resume.refused"' "$T/sidecar.log" ||
	fail "no tls.resume.refused event for the expired tickets"
ok "expired: no request reached the backend, tls.resume.refused logged"

# ---- client CA change ---------------------------------------------------
reload_count() {
	grep -c '"event":"tls.reload.done"' "$T/sidecar.log"
}
# reloaded_since N: more than N reloads done (re-counted on every try).
reloaded_since() {
	test "$(reload_count)" -gt "$1"
}
# use_ca NAME: make CA NAME the client CA bundle and reload (SIGHUP).
use_ca() {
	local reloads
	reloads=$(reload_count)
	cp "$T/$1.pem" "$T/clientca.new" && mv "$T/clientca.new" "$T/clientca.pem"
	kill -HUP "$SIDECAR_PID"
	wait_for reloaded_since "$reloads" || fail "client CA $1 not loaded"
}

# through TLS: one client across one CA change; its JSON in $T/client.json.
through() {
	local tls=$1 client
	rm -f "$T/held" "$T/go"
	use_ca caA
	mtls hold --cert "$T/cliA.pem" --key "$T/cliA.key" --tls "$tls" \
		--path "/echo?tls=$tls" --held "$T/held" --go "$T/go" \
		>"$T/client.json" &
	client=$!
	PIDS+=("$client")
	wait_for test -f "$T/held" || fail "TLS $tls: no first session"
	use_ca caB
	touch "$T/go"
	wait "$client" || fail "TLS $tls: client failed"
}

for tls in 1.3 1.2; do
	before=$(backend_requests)
	through "$tls"
	out=$(cat "$T/client.json")
	[ "$(jget "$out" 'j["first"]')" = 200 ] ||
		fail "TLS $tls: first request: $out"
	[ "$(jget "$out" 'j["fresh"]')" != 200 ] ||
		fail "TLS $tls: a withdrawn CA's certificate was accepted: $out"
	[ "$(jget "$out" 'j["resume_reused"]')" = False ] ||
		fail "TLS $tls: a ticket from before the client-CA change" \
			"resumed (status $(jget "$out" 'j["resume"]')): $out"
	[ "$(($(backend_requests) - before))" = 1 ] ||
		fail "TLS $tls: the withdrawn client reached the backend: $out"
	ok "TLS $tls: a withdrawn client CA also ends its tickets"
done
