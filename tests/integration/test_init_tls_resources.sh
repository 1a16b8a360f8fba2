#!/bin/bash
# sealpod-init checks the sidecar's TLS resources before it writes them
# (first a regression from the h32 review: swapped tls.cert / tls.key
# put the PEM private key into the world-readable tls.crt and exited 0).
#
# Each bad case must exit 14 with its named reason, leave target and
# tls.dir empty, and never log key material. A good pair is written
# (0644 chain, 0600 key); a later failed run into the same tls.dir then
# removes those files too (a revoked key must not stay on the tmpfs).
set -u
PY=/usr/bin/python3
SRC=${SEALPOD_SRC:?}
BUILD=${SEALPOD_BUILD:?}
INIT=$BUILD/init/sealpod-init
PEERS=$SRC/tests/peers
[ -x "$INIT" ] || { echo "FAIL: no $INIT"; exit 1; }
[ -x "$PY" ] || { echo "SKIP: no $PY"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: no openssl"; exit 77; }

T=$(mktemp -d /tmp/sealpod-tlsres.XXXXXX)
TARGET=$(mktemp -d /dev/shm/sealpod-tlsres-target.XXXXXX)
TLSDIR=$(mktemp -d /dev/shm/sealpod-tlsres-tls.XXXXXX)
KBS_PID=
cleanup() {
	if [ -n "$KBS_PID" ]; then
		kill "$KBS_PID" 2>/dev/null
		wait "$KBS_PID" 2>/dev/null
	fi
	rm -rf "$T" "$TARGET" "$TLSDIR"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	[ -f "$T/init.log" ] && tail -n 5 "$T/init.log" >&2
	exit 1
}

"$PEERS/mkcerts.sh" "$T/pki" >/dev/null || fail "mkcerts"
R=$T/kbs/models/m1
mkdir -p "$T/model" "$R"
head -c 4096 /dev/urandom >"$T/model/weights.bin"
"$INIT" seal --key "$T/model.key" --in "$T/model" --out "$T/sealed" \
	--version 1 2>"$T/seal.log" || fail "seal"
cp "$T/model.key" "$R/key"
cp "$T/pki/sidecar-chain.crt" "$R/tls-crt"
cp "$T/pki/sidecar.key" "$R/tls-key"
# The bad resources.
cat "$T/pki/sidecar-chain.crt" "$T/pki/sidecar.key" >"$R/crt-with-key"
echo garbage >"$R/garbage"
cp "$T/pki/kbs.key" "$R/other-key"
openssl pkey -in "$T/pki/sidecar.key" -aes256 -passout pass:x \
	-out "$R/enc-key" 2>/dev/null || fail "openssl pkey"

"$PY" "$PEERS/kbs_standin.py" --cert "$T/pki/kbs.crt" \
	--key "$T/pki/kbs.key" --resources "$T/kbs" --policy allow \
	--port-file "$T/kbs.port" --log "$T/kbs.log" --max-seconds 300 &
KBS_PID=$!
for _ in $(seq 1 200); do
	[ -s "$T/kbs.port" ] && break
	sleep 0.1
done
[ -s "$T/kbs.port" ] || fail "KBS stand-in did not start"

# run CERT KEY [MODEL_KEY]: one sealpod-init run, exit code in $rc.
run() {
	cat >"$T/init.yaml" <<EOF
tee: sample
kbs:
  url: https://127.0.0.1:$(cat "$T/kbs.port")
  ca: $T/pki/ca.crt
key: kbs:///models/m1/${3:-key}
artifacts:
  source: file://$T/sealed
  min_version: 1
target: $TARGET
tls:
  cert: kbs:///models/m1/$1
  key: kbs:///models/m1/$2
  dir: $TLSDIR
EOF
	timeout 120 "$INIT" run --config "$T/init.yaml" 2>"$T/init.log"
	rc=$?
}

# Nothing of the key in the log, and both output dirs empty.
clean_after() {
	if grep -q 'PRIVATE KEY' "$T/init.log"; then
		fail "$1: key material in the log"
	fi
	[ -z "$(ls -A "$TARGET")" ] || fail "$1: target not emptied"
	[ -z "$(ls -A "$TLSDIR")" ] || fail "$1: tls.dir not emptied:" \
		"$(ls -A "$TLSDIR")"
}

# bad CERT KEY REASON
bad() {
	run "$1" "$2"
	if [ -f "$TLSDIR/tls.crt" ] && grep -q 'PRIVATE KEY' "$TLSDIR/tls.crt"
	then
		fail "$1/$2: a private key was written to tls.crt, exit $rc"
	fi
	[ "$rc" -eq 14 ] || fail "$1/$2: exit $rc, want 14"
	grep -q "\"event\":\"init.tls.invalid\",\"reason\":\"$3\"" \
		"$T/init.log" || fail "$1/$2: no init.tls.invalid $3"
	grep -q "\"event\":\"init.failed\".*\"cause\":\"$3\"" "$T/init.log" ||
		fail "$1/$2: init.failed cause is not $3"
	clean_after "$1/$2"
	echo "ok: $1 / $2 -> $3"
}

bad tls-key tls-crt tls_resource_not_certificate   # swapped (h32 M2)
bad crt-with-key tls-key tls_resource_not_certificate
bad garbage tls-key tls_resource_not_certificate
bad tls-crt garbage tls_resource_not_private_key
bad tls-crt tls-crt tls_resource_not_private_key
bad tls-crt enc-key tls_resource_not_private_key
bad tls-crt other-key tls_resource_key_mismatch

# A good pair is written with the documented modes.
run tls-crt tls-key
[ "$rc" -eq 0 ] || fail "good pair: exit $rc"
[ "$(stat -c %a "$TLSDIR/tls.crt")" = 644 ] || fail "tls.crt mode"
[ "$(stat -c %a "$TLSDIR/tls.key")" = 600 ] || fail "tls.key mode"
cmp -s "$TLSDIR/tls.key" "$R/tls-key" || fail "tls.key differs"
echo "ok: good pair written"

# The next run into the same tls.dir fails (the key resource is gone, as
# after a revocation): the earlier run's files go too.
run tls-crt tls-key no-such-key
[ "$rc" -eq 12 ] || fail "revoked: exit $rc, want 12"
clean_after "revoked"
echo "ok: a failed run removed the earlier run's TLS files"

# A link planted as tls.key is removed, not followed.
echo victim >"$T/victim"
ln -s "$T/victim" "$TLSDIR/tls.key"
run tls-crt tls-key no-such-key
[ "$rc" -eq 12 ] || fail "link: exit $rc, want 12"
[ "$(cat "$T/victim")" = victim ] || fail "the link's target changed"
clean_after "link"
echo "ok: a planted link was removed, its target left alone"
echo "PASS"
