# shellcheck shell=bash
# sidecar_lib.sh: shared setup for tests/integration/test_sidecar_*.sh.
#
# Sourced, not run. Gives each scenario a private temp dir, test
# certificates made with the openssl CLI, the backend stand-in
# (sidecar_backend.py) and a sealpod-sidecar on free loopback ports, and
# stops every process it started (by pid) on exit. Everything is bounded:
# waits poll with deadlines, curl has --max-time, peers have lifetimes.

set -u

PY=/usr/bin/python3
SP_BUILD=${SEALPOD_BUILD:?SEALPOD_BUILD must name the build directory}
SP_SRC=${SEALPOD_SRC:?SEALPOD_SRC must name the source directory}
SIDECAR=$SP_BUILD/sidecar/sealpod-sidecar
HERE=$SP_SRC/tests/integration
T=$(mktemp -d /tmp/sealpod-sidecar.XXXXXX)
PIDS=()
SIDECAR_PID=
BACKEND_PID=

sp_cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	if [ -z "${KEEP_TMP:-}" ]; then
		rm -rf "$T"
	fi
}
trap sp_cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	if [ -f "$T/sidecar.log" ]; then
		echo "--- sidecar log (last 30 lines)" >&2
		tail -n 30 "$T/sidecar.log" >&2
	fi
	exit 1
}

ok() {
	echo "ok: $*"
}

skip() {
	echo "SKIP: $*"
	exit 77
}

need() {
	command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed"
}

[ -x "$SIDECAR" ] || fail "no sidecar binary at $SIDECAR"
need openssl
need curl
[ -x "$PY" ] || skip "$PY is not installed"

free_port() {
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# wait_for CMD...: retry a command for up to 10 s.
wait_for() {
	for _ in $(seq 1 100); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# gen_ca: a throwaway CA in $T/ca.pem / $T/ca.key.
gen_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/ca.key" -out "$T/ca.pem" -days 2 \
		-subj "/CN=sealpod test CA" 2>/dev/null || fail "CA generation"
}

# gen_leaf NAME [ec|rsa]: $T/NAME.pem (leaf, then the CA) and $T/NAME.key
# (mode 0600), for localhost and 127.0.0.1.
gen_leaf() {
	local name=$1 kind=${2:-ec} keyopt
	if [ "$kind" = rsa ]; then
		keyopt="-newkey rsa:2048"
	else
		keyopt="-newkey ec -pkeyopt ec_paramgen_curve:P-256"
	fi
	printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		"basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" \
		>"$T/$name.ext"
	# shellcheck disable=SC2086
	openssl req $keyopt -nodes -keyout "$T/$name.key" -out "$T/$name.csr" \
		-subj "/CN=localhost" 2>/dev/null || fail "key generation"
	openssl x509 -req -in "$T/$name.csr" -CA "$T/ca.pem" \
		-CAkey "$T/ca.key" -CAcreateserial -days 2 \
		-extfile "$T/$name.ext" -out "$T/$name.leaf" 2>/dev/null ||
		fail "certificate signing"
	cat "$T/$name.leaf" "$T/ca.pem" >"$T/$name.pem"
	chmod 600 "$T/$name.key"
}

start_backend() {
	"$PY" "$HERE/sidecar_backend.py" --port-file "$T/backend.port" \
		--record "$T/backend.jsonl" --max-seconds 250 \
		2>"$T/backend.err" &
	BACKEND_PID=$!
	PIDS+=("$BACKEND_PID")
	wait_for test -s "$T/backend.port" || fail "backend did not start"
	BACKEND_PORT=$(cat "$T/backend.port")
}

# start_stuck_backend SECONDS: a backend that accepts nothing for that
# long. Its queue (backlog 0) is filled at once, so every further connect
# waits for a SYN the kernel drops: each /readyz check waits out its 1 s.
# Sets BACKEND_PORT.
start_stuck_backend() {
	"$PY" - "$T/stuck.port" "$1" <<'PYEOF' &
import socket, sys, time
end = time.time() + float(sys.argv[2])
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(0)
fill = []
for _ in range(4):
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex(ls.getsockname())
    fill.append(c)
with open(sys.argv[1], "w") as f:
    f.write(str(ls.getsockname()[1]))
while time.time() < end:
    time.sleep(0.5)
PYEOF
	PIDS+=("$!")
	wait_for test -s "$T/stuck.port" || fail "stuck backend did not start"
	BACKEND_PORT=$(cat "$T/stuck.port")
}

# write_config: $T/sidecar.yaml from the SC_* variables (defaults below).
write_config() {
	cat >"$T/sidecar.yaml" <<EOF
listen: "127.0.0.1:${PORT}"
backend: "127.0.0.1:${BACKEND_PORT}"
tls:
  cert: "${SC_CERT:-$T/server.pem}"
  key: "${SC_KEY:-$T/server.key}"
  watch_s: ${SC_WATCH_S:-0}
${SC_TLS_EXTRA:-}
health:
  listen: "127.0.0.1:${HPORT}"
ready_file: "$T/ready"
workers: ${SC_WORKERS:-2}
limits:
  header_bytes: ${SC_HEADER_BYTES:-32768}
  headers: ${SC_HEADERS:-100}
  request_line: ${SC_REQUEST_LINE:-8192}
  connections: ${SC_CONNECTIONS:-4096}
timeouts:
  header_s: ${SC_HEADER_S:-10}
  idle_s: ${SC_IDLE_S:-300}
  connect_s: 2
  drain_s: ${SC_DRAIN_S:-30}
  drain_delay_s: ${SC_DRAIN_DELAY_S:-0}
log:
  level: ${SC_LOG_LEVEL:-info}
EOF
	if [ -n "${SC_USER:-}" ]; then
		echo "user: $SC_USER" >>"$T/sidecar.yaml"
	fi
	# SC_EXTRA: more top-level YAML lines, as written.
	if [ -n "${SC_EXTRA:-}" ]; then
		printf '%s\n' "$SC_EXTRA" >>"$T/sidecar.yaml"
	fi
	# Routes: SC_ROUTES=default keeps the built-in inference allowlist;
	# otherwise it is the YAML list (the older scenarios use every path).
	local all_paths="[{prefix: /, methods: ['*']}]"
	if [ "${SC_ROUTES:-}" != default ]; then
		echo "routes: ${SC_ROUTES:-$all_paths}" >>"$T/sidecar.yaml"
	fi
	if [ -n "${SC_BODY_BYTES:-}" ]; then
		sed -i "s/^limits:$/limits:\n  body_bytes: $SC_BODY_BYTES/" \
			"$T/sidecar.yaml"
	fi
}

# start_sidecar: ports, config, process; waits for /healthz.
start_sidecar() {
	PORT=${PORT:-$(free_port)}
	HPORT=${HPORT:-$(free_port)}
	write_config
	"$SIDECAR" --config "$T/sidecar.yaml" 2>>"$T/sidecar.log" &
	SIDECAR_PID=$!
	PIDS+=("$SIDECAR_PID")
	wait_for curl -sf --max-time 1 "http://127.0.0.1:$HPORT/healthz" ||
		fail "sidecar did not come up"
}

# stop_for_restart: stop the sidecar and pick new ports for the next
# start (the old ones may linger in TIME_WAIT).
stop_for_restart() {
	stop_sidecar || fail "stop"
	PORT=$(free_port)
	HPORT=$(free_port)
}

# serve_leaf NAME: make a new EC leaf NAME the configured certificate,
# each file replaced by a rename (as a ConfigMap update does).
serve_leaf() {
	gen_leaf "$1" ec
	cp "$T/$1.key" "$T/server.key.new"
	cp "$T/$1.pem" "$T/server.pem.new"
	mv "$T/server.key.new" "$T/server.key"
	mv "$T/server.pem.new" "$T/server.pem"
}

# metric NAME: the value of one sample on the health port's /metrics
# (NAME with its labels, as printed), or nothing.
metric() {
	curl -s --max-time 5 "http://127.0.0.1:$HPORT/metrics" |
		awk -v k="$1" '$1 == k {print $2}'
}

mark_ready() {
	touch "$T/ready"
}

# https PATH [curl args...]: a request through the sidecar.
https() {
	local path=$1
	shift
	# HTTP/1.1 unless the caller asks otherwise (--http2 after it wins):
	# curl offers h2 by default, and these scenarios test the h1 path.
	curl -sS --max-time 15 --cacert "$T/ca.pem" --http1.1 \
		--resolve "localhost:$PORT:127.0.0.1" "$@" \
		"https://localhost:$PORT$path"
}

# health PATH: status code and body of the health port, "CODE BODY".
health() {
	curl -s --max-time 5 -o "$T/health.body" -w '%{http_code}' \
		"http://127.0.0.1:$HPORT$1"
}

backend_requests() {
	if [ -f "$T/backend.jsonl" ]; then
		grep -c '"event": "request"' "$T/backend.jsonl"
	else
		echo 0
	fi
}

client() {
	"$PY" "$HERE/sidecar_client.py" "$@" --port "$PORT" --ca "$T/ca.pem"
}

# jget JSON EXPR: evaluate a Python expression over the parsed JSON "j".
jget() {
	"$PY" -c 'import json, sys
j = json.loads(sys.argv[1])
print(eval(sys.argv[2]))' "$1" "$2"
}

# stop_sidecar: SIGTERM and wait (bounded) for the exit status.
stop_sidecar() {
	kill -TERM "$SIDECAR_PID" 2>/dev/null
	for _ in $(seq 1 100); do
		if ! kill -0 "$SIDECAR_PID" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	wait "$SIDECAR_PID"
}

gen_ca
gen_leaf server ec
