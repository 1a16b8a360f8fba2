#!/bin/bash
# Mutual TLS: tls.client_ca with client_auth required / optional and
# tls.allow rules on CN, DNS SAN and URI SAN (SPIFFE) with wildcards.
# A certificate that does not verify gets a TLS alert; one that verifies
# but matches no rule gets 403. Neither reaches the backend. The matched
# identity and rule are in the access log.
. "$(dirname "$0")/sidecar_lib.sh"

# The identity checks run once per protocol (VER: --http1.1, then
# --http2): an HTTP/2 caller is admitted, refused and logged the same way.
VER=--http1.1
https() {
	local path=$1
	shift
	curl -sS "$VER" --max-time 15 --cacert "$T/ca.pem" \
		--resolve "localhost:$PORT:127.0.0.1" "$@" \
		"https://localhost:$PORT$path"
}

# gen_client NAME CN SAN [CA]: $T/NAME.pem/.key, signed by CA (default ca).
gen_client() {
	local name=$1 cn=$2 san=$3 ca=${4:-ca}
	printf '%s\n' "basicConstraints=CA:FALSE" \
		"extendedKeyUsage=clientAuth" >"$T/$name.ext"
	if [ -n "$san" ]; then
		echo "subjectAltName=$san" >>"$T/$name.ext"
	fi
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$name.key" -out "$T/$name.csr" -subj "/CN=$cn" \
		2>/dev/null || fail "client key"
	openssl x509 -req -in "$T/$name.csr" -CA "$T/$ca.pem" \
		-CAkey "$T/$ca.key" -CAcreateserial -days 2 \
		-extfile "$T/$name.ext" -out "$T/$name.pem" 2>/dev/null ||
		fail "client certificate"
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/other.key" -out "$T/other.pem" -days 2 \
	-subj "/CN=other CA" 2>/dev/null || fail "second CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/clientca.key" -out "$T/clientca.pem" -days 2 \
	-subj "/CN=client CA" 2>/dev/null || fail "client CA"

gen_client gw gateway "URI:spiffe://gw.example/ns/prod/sa/gateway" clientca
gen_client gwdeep gateway2 \
	"URI:spiffe://gw.example/ns/prod/extra/sa/gateway" clientca
gen_client web web "DNS:api.gw.example" clientca
gen_client webdeep web2 "DNS:a.api.gw.example" clientca
gen_client named batch-runner "" clientca
gen_client stranger stranger "DNS:evil.example" clientca
gen_client forged gateway "URI:spiffe://gw.example/ns/prod/sa/gateway" other

# as NAME PATH: curl with client certificate NAME, prints the status.
as() {
	local name=$1 path=$2
	shift 2
	https "$path" --cert "$T/$name.pem" --key "$T/$name.key" \
		-o "$T/as.body" -w '%{http_code}' "$@" 2>"$T/as.err"
}

start_backend
SC_TLS_EXTRA='  client_ca: "'"$T/clientca.pem"'"
  client_auth: required
  allow:
    - {uri: "spiffe://gw.example/ns/*/sa/gateway"}
    - {dns: "*.gw.example"}
    - {cn: "batch-*"}' start_sidecar
mark_ready

curl --version | grep -q HTTP2 || skip "curl without HTTP/2"
# round_log MARK: this round's access lines (after line MARK of the log),
# so that the h2 round cannot pass on the h1 round's lines.
round_log() {
	sleep 0.3
	tail -n +"$(($1 + 1))" "$T/sidecar.log" |
		grep '"event":"http.access"' >"$T/round.log"
}
for VER in --http1.1 --http2; do
	proto=http/1.1
	[ "$VER" = --http2 ] && proto=h2
	mark=$(wc -l <"$T/sidecar.log")
	n0=$(backend_requests)
	got=$(as gw /echo -w '%{http_code} %{http_version}')
	[ "$got" = "200 ${VER#--http}" ] ||
		fail "$VER: SPIFFE identity refused or another protocol"
	[ "$(as web /echo)" = 200 ] || fail "$VER: DNS identity refused"
	[ "$(as named /echo)" = 200 ] || fail "$VER: CN identity refused"
	[ "$(($(backend_requests) - n0))" = 3 ] || fail "$VER: backend count"
	ok "$VER: allowed by URI SAN, DNS SAN and CN wildcards"

	round_log "$mark"
	grep -v "\"protocol\":\"$proto\"" "$T/round.log" &&
		fail "$VER: an access line of another protocol"
	grep -q '"peer":"spiffe://gw.example/ns/prod/sa/gateway","peer_rule":"uri:spiffe://gw.example/ns/\*/sa/gateway"' \
		"$T/round.log" || fail "$VER: identity not in the access log"
	grep -q '"peer":"api.gw.example","peer_rule":"dns:\*.gw.example"' \
		"$T/round.log" || fail "$VER: dns identity not logged"
	grep -q '"peer":"batch-runner","peer_rule":"cn:batch-\*"' \
		"$T/round.log" || fail "$VER: cn identity not logged"
	ok "$VER: matched identity and rule in the access log"

	mark=$(wc -l <"$T/sidecar.log")
	n0=$(backend_requests)
	for who in gwdeep webdeep stranger; do
		code=$(as "$who" /echo)
		[ "$code" = 403 ] || fail "$VER: $who: expected 403, got $code"
	done
	round_log "$mark"
	[ "$(backend_requests)" = "$n0" ] ||
		fail "$VER: a refused identity reached the backend"
	[ "$(grep -c '"status":403.*"reason":"identity_denied"\|"reason":"identity_denied".*"status":403' \
		"$T/round.log")" = 3 ] || fail "$VER: identity_denied not logged"
	# The refused caller is named: who knocked matters for the audit.
	grep -q '"peer":"evil.example","peer_rule":"-"' "$T/round.log" ||
		fail "$VER: refused identity not named"
	ok "$VER: a wildcard covers one segment or label only; no match is 403"
done
VER=--http1.1
n0=$(backend_requests)

code=$(as forged /echo)
[ "$code" = 000 ] || fail "certificate from another CA: $code"
code=$(https /echo -o /dev/null -w '%{http_code}' 2>/dev/null)
[ "$code" = 000 ] || fail "no certificate: $code"
# openssl s_client sees the alert.
echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" \
	-CAfile "$T/ca.pem" -cert "$T/forged.pem" -key "$T/forged.key" \
	-servername localhost -tls1_2 >"$T/sclient.out" 2>&1
grep -qi 'alert unknown ca' "$T/sclient.out" ||
	fail "no unknown_ca alert for a forged cert"
sleep 0.3
[ "$(backend_requests)" = "$n0" ] || fail "a refused client reached the backend"
curl -s "http://127.0.0.1:$HPORT/metrics" >"$T/m.txt"
grep -q 'tls_handshake_failures_total{reason="client_cert"} [1-9]' \
	"$T/m.txt" || fail "client_cert handshake failures not counted"
ok "unverified or missing certificate: TLS alert, counted; nothing forwarded"

# One backend connection per client identity: two clients, keep-alive.
n0=$(grep -c '"event": "connect"' "$T/backend.jsonl")
as gw /echo -o /dev/null --next --http1.1 \
	--cert "$T/gw.pem" --key "$T/gw.key" --cacert "$T/ca.pem" \
	--resolve "localhost:$PORT:127.0.0.1" "https://localhost:$PORT/echo" \
	>/dev/null
as web /echo >/dev/null
n1=$(grep -c '"event": "connect"' "$T/backend.jsonl")
[ "$((n1 - n0))" = 2 ] || fail "expected 2 backend connections, $((n1 - n0))"
ok "backend connections never shared across client identities"
stop_sidecar

# Optional: no certificate is anonymous; a bad one still fails.
PORT=$(free_port)
HPORT=$(free_port)
SC_TLS_EXTRA='  client_ca: "'"$T/clientca.pem"'"
  client_auth: optional' start_sidecar
[ "$(https /echo -o /dev/null -w '%{http_code}')" = 200 ] ||
	fail "optional: anonymous client refused"
[ "$(as stranger /echo)" = 200 ] || fail "optional: any CA-signed cert"
[ "$(as forged /echo)" = 000 ] || fail "optional: forged cert accepted"
grep -q '"peer":"evil.example","peer_rule":"any"' "$T/sidecar.log" ||
	fail "optional: identity not logged"
ok "client_auth optional: anonymous allowed, presented certs verified"
stop_sidecar

# Configuration errors.
for extra in '  client_auth: required' '  client_auth: sometimes
  client_ca: /x' '  allow: [{dns: a.example}]'; do
	SC_TLS_EXTRA=$extra write_config
	"$SIDECAR" --config "$T/sidecar.yaml" --check 2>"$T/check.err" &&
		fail "accepted: $extra"
	grep -q config.invalid "$T/check.err" || fail "no config.invalid: $extra"
done
SC_TLS_EXTRA='  client_ca: "'"$T/missing.pem"'"' write_config
"$SIDECAR" --config "$T/sidecar.yaml" --check 2>"$T/check.err" &&
	fail "accepted a missing client CA"
grep -q '"file":"client_ca"' "$T/check.err" || fail "missing CA not named"
ok "inconsistent mTLS settings refused"
