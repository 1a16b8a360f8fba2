#!/usr/bin/env bash
# The main job, end to end, on one machine, the way a pod would run it:
#
#   model owner   seals a real GGUF llama model          (sealpod-init seal)
#   key broker    a Trustee KBS 0.4.0 stand-in on loopback, holding the
#                 model key and the sidecar's TLS key
#   store         an HTTPS artifact server on loopback with the sealed blobs
#   init          attests, gets the key, fetches and decrypts into tmpfs
#                                                          (sealpod-init run)
#   model server  an unmodified server loading the unsealed model
#   sidecar       HTTPS front door in front of it          (sealpod-sidecar)
#   client        curl, a streamed chat completion over HTTPS
#
# Everything listens on 127.0.0.1 only and is stopped on exit.
# SEALPOD_BUILD_DIR: where to build (default ./build).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
py=/usr/bin/python3

scripts/install-deps.sh
echo "== building"
bdir=${SEALPOD_BUILD_DIR:-build}
scripts/build.sh "$bdir" >/dev/null
init=$bdir/init/sealpod-init
sidecar=$bdir/sidecar/sealpod-sidecar

# Scratch (keys, the plaintext model, certificates) is removed at exit;
# only the logs are kept.
work=$(mktemp -d /tmp/sealpod-demo.XXXXXX)
logs=$(mktemp -d /tmp/sealpod-demo-logs.XXXXXX)
mkdir -p "$work/kbs/models/tiny-llama" "$work/model"
# The unsealed model must live in memory: /dev/shm is a tmpfs.
target=$(mktemp -d /dev/shm/sealpod-demo-models.XXXXXX)
tlsdir=$(mktemp -d /dev/shm/sealpod-demo-tls.XXXXXX)
pids=()

cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$target" "$tlsdir" "$work"
	echo "== stopped everything and removed keys and plaintext;" \
		"logs are in $logs"
}
trap cleanup EXIT

# wait_port FILE: until a peer has written its port, at most 20 s.
wait_port() {
	local i
	for i in $(seq 1 200); do
		if [ -s "$1" ]; then
			cat "$1"
			return 0
		fi
		sleep 0.1
	done
	echo "timed out waiting for $1" >&2
	return 1
}

echo "== model owner: make a model and seal it"
tests/peers/mkcerts.sh "$work/pki" >/dev/null
$py tests/peers/make_gguf.py "$work/model/tiny-llama.gguf"
ls -l "$work/model"
"$init" seal --key "$work/model.key" --in "$work/model" --out "$work/sealed" \
	--version 1 2>"$logs/seal.log"
echo "sealed store (no file names, only digests):"
find "$work/sealed" -type f | sed "s|$work/||"

echo "== key broker: provision the model key and the sidecar's TLS pair"
cp "$work/model.key" "$work/kbs/models/tiny-llama/key"
cp "$work/pki/sidecar-chain.crt" "$work/kbs/models/tiny-llama/tls-crt"
cp "$work/pki/sidecar.key" "$work/kbs/models/tiny-llama/tls-key"
# No TEE here: the dev "sample" evidence needs an allow-all policy, which
# a production KBS must never have.
$py tests/peers/kbs_standin.py --cert "$work/pki/kbs.crt" \
	--key "$work/pki/kbs.key" --resources "$work/kbs" --policy allow \
	--port-file "$work/kbs.port" --log "$logs/kbs.log" &
pids+=($!)
$py tests/peers/artifact_server.py --cert "$work/pki/artifacts.crt" \
	--key "$work/pki/artifacts.key" --root "$work/sealed" \
	--port-file "$work/store.port" --log "$logs/store.log" &
pids+=($!)
kbs_port=$(wait_port "$work/kbs.port")
store_port=$(wait_port "$work/store.port")

cat >"$work/init.yaml" <<YAML
tee: sample
kbs:
  url: https://127.0.0.1:$kbs_port
  ca: $work/pki/ca.crt
key: kbs:///models/tiny-llama/key
artifacts:
  source: https://127.0.0.1:$store_port
  ca: $work/pki/ca.crt
  min_version: 1
target: $target
tls:
  cert: kbs:///models/tiny-llama/tls-crt
  key: kbs:///models/tiny-llama/tls-key
  dir: $tlsdir
YAML

echo "== sealpod-init run"
if ! "$init" run --config "$work/init.yaml" 2>"$logs/init.log"; then
	echo "sealpod-init failed:" >&2
	cat "$logs/init.log" >&2
	exit 1
fi
tail -n 1 "$logs/init.log"
ls -la "$target" "$tlsdir"

echo "== model server on the unsealed model, sidecar in front"
$py tests/peers/model_server.py --model "$target/tiny-llama.gguf" \
	--port-file "$work/model.port" --log "$logs/model.log" &
pids+=($!)
model_port=$(wait_port "$work/model.port")

free_port() {
	$py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
https_port=$(free_port)
health_port=$(free_port)
cat >"$work/sidecar.yaml" <<YAML
listen: 127.0.0.1:$https_port
backend: 127.0.0.1:$model_port
tls:
  cert: $tlsdir/tls.crt
  key: $tlsdir/tls.key
health:
  listen: 127.0.0.1:$health_port
ready_file: $target/.sealpod-ready
YAML
"$sidecar" --config "$work/sidecar.yaml" 2>"$logs/sidecar.log" &
pids+=($!)
for i in $(seq 1 100); do
	curl -fs "http://127.0.0.1:$health_port/readyz" >/dev/null && break
	sleep 0.1
done
curl -fsS "http://127.0.0.1:$health_port/readyz"
echo

echo "== client: streamed chat completion over HTTPS through the sidecar"
curl -sS -N --cacert "$work/pki/ca.crt" \
	"https://localhost:$https_port/v1/chat/completions" \
	-H 'Content-Type: application/json' \
	-d '{"model":"tiny-llama","stream":true,"max_tokens":24,
	     "messages":[{"role":"user","content":"Tell me a story."}]}' |
	$py -u -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("data: ") or line == "data: [DONE]":
        continue
    delta = json.loads(line[6:])["choices"][0].get("delta", {})
    sys.stdout.write(delta.get("content", ""))
    sys.stdout.flush()
print()
'
echo "== access log line from the sidecar (metadata only):"
grep '"http.access"' "$logs/sidecar.log" | tail -n 1
