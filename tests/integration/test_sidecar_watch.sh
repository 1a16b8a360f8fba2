#!/bin/bash
# Reload on file change (tls.watch_s): replacing the certificate and key
# files is noticed by the poll on the main thread and served on new
# handshakes while established connections keep theirs; a bad new
# certificate keeps the old one with one error logged (not one per poll);
# Kubernetes' atomic "..data" symlink swap is noticed too.
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

served_fp() {
	timeout 10 openssl s_client -connect "127.0.0.1:$PORT" \
		-servername localhost </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
file_fp() {
	openssl x509 -in "$1" -noout -fingerprint -sha256
}
# wait_for evaluates its arguments once: these re-run on every try.
served_is() {
	test "$(served_fp)" = "$1"
}
metric_is() {
	test "$(metric "$1")" = "$2"
}

start_backend
SC_WATCH_S=1 start_sidecar
mark_ready
[ "$(served_fp)" = "$(file_fp "$T/server.pem")" ] || fail "initial cert"

client hold --timeout 6 >"$T/hold.out" &
HOLD=$!
PIDS+=("$HOLD")
wait_for grep -q idle "$T/hold.out" || fail "held connection"

gen_leaf next ec
cp "$T/next.key" "$T/k.new" && mv "$T/k.new" "$T/server.key"
cp "$T/next.pem" "$T/c.new" && mv "$T/c.new" "$T/server.pem"
fp_b=$(file_fp "$T/next.pem")
wait_for served_is "$fp_b" || fail "changed files not picked up"
grep -q '"event":"tls.reload.changed"' "$T/sidecar.log" ||
	fail "no file-change event"
[ "$(metric 'sealpod_sidecar_certificate_reloads_total{result="ok"}')" -ge 1 ] ||
	fail "reload not counted"
ok "changed certificate files served on new handshakes (no signal)"

wait "$HOLD"
grep -q '"event": "open"' "$T/hold.out" ||
	fail "established connection closed by the reload"
ok "established connection kept its session"

cp "$T/server.pem" "$T/good.pem"
# One atomic change (as a ConfigMap update is): "echo >" would truncate
# and then write, two changes a poll can see apart.
echo "not a certificate" >"$T/bad.new" && mv "$T/bad.new" "$T/server.pem"
wait_for metric_is 'sealpod_sidecar_certificate_reloads_total{result="error"}' 1 ||
	fail "bad certificate not reported"
sleep 3
[ "$(grep -c '"event":"tls.reload.failed"' "$T/sidecar.log")" = 1 ] ||
	fail "a bad file is logged on every poll"
[ "$(served_fp)" = "$fp_b" ] || fail "old certificate not kept"
[ "$(https /echo -o /dev/null -w '%{http_code}')" = 200 ] || fail "not serving"
ok "bad new certificate: old one kept, one error logged"
cp "$T/good.pem" "$T/server.pem"
stop_sidecar

# Kubernetes Secret volume layout: tls.crt -> ..data/tls.crt, and ..data
# -> a timestamped directory, swapped atomically by rename.
K=$T/secret
mkdir -p "$K/..v1"
cp "$T/server.pem" "$K/..v1/tls.crt"
cp "$T/server.key" "$K/..v1/tls.key"
chmod 600 "$K/..v1/tls.key"
ln -s ..v1 "$K/..data"
ln -s ..data/tls.crt "$K/tls.crt"
ln -s ..data/tls.key "$K/tls.key"
PORT=$(free_port)
HPORT=$(free_port)
SC_WATCH_S=1 SC_CERT=$K/tls.crt SC_KEY=$K/tls.key start_sidecar
fp_1=$(file_fp "$K/tls.crt")
[ "$(served_fp)" = "$fp_1" ] || fail "k8s: initial cert"

gen_leaf third rsa
mkdir -p "$K/..v2"
cp "$T/third.pem" "$K/..v2/tls.crt"
cp "$T/third.key" "$K/..v2/tls.key"
chmod 600 "$K/..v2/tls.key"
ln -s ..v2 "$K/..data_tmp"
mv -T "$K/..data_tmp" "$K/..data"
rm -rf "$K/..v1"
fp_2=$(file_fp "$T/third.pem")
wait_for served_is "$fp_2" || fail "k8s: ..data swap not noticed"
[ "$(https /echo -o /dev/null -w '%{http_code}')" = 200 ] || fail "k8s: serving"
ok "Kubernetes ..data symlink swap picked up (ECDSA to RSA)"
