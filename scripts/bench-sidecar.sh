#!/usr/bin/env bash
# bench-sidecar.sh: sealpod-sidecar side by side with HAProxy and nginx.
#
# One nginx backend on loopback serves a small body from memory in one
# write (/small), the same body from a file with head and body in two
# writes (/split), and 1 MiB (/big); a Python backend streams
# server-sent events stamped with their send time (/sse). Each proxy
# terminates TLS with the same certificate, runs one worker thread
# pinned to CPU $PROXY_CPU, and forwards to the same backends with the
# same X-Forwarded-For and X-Forwarded-Proto fields sealpod adds; wrk
# and h2load run pinned to $LOAD_CPU (the backends too). hs/s and h2
# also ask for /small. (Before 2bd4cd2 /small was the file path, so
# older figures are not comparable.) Measured per proxy:
#   rps       requests/s, small body, kept-alive connections (wrk)
#   p50/p99   latency of those requests
#   busy      share of the proxy's core and of the load core in use
#             during that run (steal counts as busy; wrk's connection
#             set-up is inside the window): the one at 100 % is what
#             limits the rate.
#             /small is the backend's cheapest answer so that the proxy,
#             not wrk and nginx, is the limit (HAProxy's core is then
#             full); sealpod's core is always near full (busy polling)
#   split     the same on /split: nginx's file path (open, head by
#             writev then body by sendfile, close) made the load core
#             the limit for every proxy in our runs (see its busy rows),
#             so the rate measures what each proxy costs the client and
#             backend there (wake-ups), not its own speed
#   hs/s      new connections with a TLS handshake each (wrk with
#             Connection: close). wrk keeps each connection's session and
#             offers its ticket when it reconnects, so these are TLS 1.3
#             resumptions (PSK with a fresh ECDHE share, no certificate
#             sent or signed), for every proxy alike
#   cpu       proxy CPU time (utime+stime of its processes) per request
#             on kept-alive connections and per handshake: the cost of
#             the work itself, much less sensitive to other load on the
#             machine than the rates; for sealpod it includes the time its
#             worker spent busy polling (busy_poll_us), shown on its own
#             row from its /metrics counter
#   MiB/s     1 MiB bodies on 8 kept-alive connections
#   h2 rps    small body over HTTP/2, 10 connections x 10 streams (h2load)
#   KiB/conn  RSS growth per idle kept-alive TLS connection (N of them)
#   sse p50/p99  delay an event gains passing through (arrival - stamp)
# The rate measurements run in ROUNDS rounds, the proxies in a rotated
# order each round, so that drift in the machine's speed (other guests
# on the host, clocks) falls on all three alike; the table shows each
# rate's median over the rounds and the spread of sealpod's per-round
# ratios. Memory and SSE are measured once. Prints a table and ratios
# against HAProxy. Runs about 6 minutes with the defaults.
#
# Usage: scripts/bench-sidecar.sh [-d SECONDS] [-n IDLE_CONNS] [-r ROUNDS]
# Env: SEALPOD_BENCH_BUILD (build dir), SEALPOD_BENCH_SIDECAR (prebuilt
# binary, no build), PROXY_CPU, LOAD_CPU, SP_LOG_LEVEL, KEEP_TMP.
# Needs root for apt (skipped when the tools are present).
set -euo pipefail

DUR=4
IDLE_N=500
ROUNDS=3
while getopts "d:n:r:" o; do
	case $o in
	d) DUR=$OPTARG ;;
	n) IDLE_N=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	*)
		echo "usage: $0 [-d seconds] [-n idle_conns] [-r rounds]" >&2
		exit 2
		;;
	esac
done

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SEALPOD_BENCH_BUILD:-$SRC/build-bench}
PY=/usr/bin/python3
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
T=$(mktemp -d /tmp/sealpod-bench.XXXXXX)
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

# --- tools and build ---------------------------------------------------------
need=()
for pair in haproxy:haproxy nginx:nginx-light wrk:wrk h2load:nghttp2-client; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
	echo "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
"$SRC/scripts/install-deps.sh" >/dev/null || echo "warning: install-deps.sh failed" >&2
# SEALPOD_BENCH_SIDECAR: a prebuilt binary to measure instead (A/B runs).
SIDECAR=${SEALPOD_BENCH_SIDECAR:-}
if [ -z "$SIDECAR" ]; then
	cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DSEALPOD_TESTS=OFF >/dev/null
	cmake --build "$BUILD" -j2 --target sealpod-sidecar >/dev/null
	SIDECAR=$BUILD/sidecar/sealpod-sidecar
fi

free_port() {
	"$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
	local i
	for i in $(seq 1 100); do
		if "$PY" -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" \
			2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "port $1 did not open" >&2
	return 1
}

# --- certificate (one for all three) ----------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
chmod 600 "$T/key.pem"
cat "$T/cert.pem" "$T/key.pem" >"$T/combined.pem"

# --- backends ------------------------------------------------------------------
BPORT=$(free_port)
SSE_PORT=$(free_port)
mkdir -p "$T/www" "$T/nb"
# nginx workers run as an unprivileged user: let them read the files.
chmod 755 "$T" "$T/www"
head -c 1048576 /dev/urandom >"$T/www/big"
printf 'hello from the backend\n' >"$T/www/split"
cat >"$T/nb/nginx.conf" <<EOF
worker_processes 1;
pid $T/nb/nginx.pid;
error_log $T/nb/error.log;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  sendfile on;
  server {
    listen 127.0.0.1:$BPORT reuseport;
    root $T/www;
    location = /small {
      default_type text/plain;
      return 200 "hello from the backend\n";
    }
    location = /split { default_type text/plain; }
    location = /big { default_type application/octet-stream; }
  }
}
EOF
taskset -c "$LOAD_CPU" nginx -p "$T/nb" -c "$T/nb/nginx.conf" &
PIDS+=($!)
taskset -c "$LOAD_CPU" "$PY" "$SRC/scripts/bench/sse_backend.py" \
	--port "$SSE_PORT" --n 300 --gap 0.005 --max-seconds 900 &
PIDS+=($!)
wait_port "$BPORT"
wait_port "$SSE_PORT"

# --- proxy configurations ----------------------------------------------------
PORT_HA=$(free_port)
PORT_NG=$(free_port)
PORT_SP=$(free_port)
HPORT_SP=$(free_port)

cat >"$T/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
frontend fe
  bind 127.0.0.1:$PORT_HA ssl crt $T/combined.pem alpn h2,http/1.1 ssl-min-ver TLSv1.2
  # The same forwarding work as sealpod's (docs/sidecar.md, Forwarding):
  # the client's address appended to X-Forwarded-For, its own
  # X-Forwarded-Proto replaced, so every backend parses the same head.
  option forwardfor
  http-request set-header X-Forwarded-Proto https
  use_backend sse if { path_beg /sse }
  default_backend be
backend be
  # HAProxy's default: a client connection's first request never rides
  # a backend connection another client used, as in sealpod (which never
  # shares them at all). "always" would measure weaker isolation.
  http-reuse safe
  server s1 127.0.0.1:$BPORT
backend sse
  server s2 127.0.0.1:$SSE_PORT
EOF

mkdir -p "$T/np"
cat >"$T/np/nginx.conf" <<EOF
worker_processes 1;
pid $T/np/nginx.pid;
error_log $T/np/error.log;
daemon off;
worker_rlimit_nofile 16000;
events { worker_connections 8000; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream be { server 127.0.0.1:$BPORT; keepalive 64; }
  upstream sse { server 127.0.0.1:$SSE_PORT; }
  server {
    listen 127.0.0.1:$PORT_NG ssl http2;
    ssl_certificate $T/cert.pem;
    ssl_certificate_key $T/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
    }
    location /sse { proxy_pass http://sse; proxy_http_version 1.1; }
  }
}
EOF

# sealpod has one backend per process; /sse goes to a second instance
# with the same settings (measured separately, like the others' /sse).
sp_config() {
	cat <<EOF
listen: "127.0.0.1:$1"
backend: "127.0.0.1:$2"
tls:
  cert: "$T/cert.pem"
  key: "$T/key.pem"
health:
  listen: "127.0.0.1:$3"
workers: 1
limits:
  connections: 8000
routes: [{prefix: /, methods: ['*']}]
log:
  level: ${SP_LOG_LEVEL:-warn}
EOF
}
sp_config "$PORT_SP" "$BPORT" "$HPORT_SP" >"$T/sp.yaml"
PORT_SPS=$(free_port)
sp_config "$PORT_SPS" "$SSE_PORT" "$(free_port)" >"$T/sps.yaml"

ulimit -n 65536 2>/dev/null || true

start_proxy() {
	case $1 in
	haproxy)
		taskset -c "$PROXY_CPU" haproxy -db -f "$T/haproxy.cfg" \
			2>"$T/haproxy.log" &
		PROXY_PID=$!
		PORT=$PORT_HA
		SSE=$PORT_HA
		;;
	nginx)
		taskset -c "$PROXY_CPU" nginx -p "$T/np" -c "$T/np/nginx.conf" \
			2>"$T/nginx.log" &
		PROXY_PID=$!
		PORT=$PORT_NG
		SSE=$PORT_NG
		;;
	sealpod)
		taskset -c "$PROXY_CPU" "$SIDECAR" --config "$T/sp.yaml" \
			2>"$T/sealpod.log" &
		PROXY_PID=$!
		taskset -c "$PROXY_CPU" "$SIDECAR" --config "$T/sps.yaml" \
			2>"$T/sealpod-sse.log" &
		SSE_PID=$!
		PIDS+=("$SSE_PID")
		PORT=$PORT_SP
		SSE=$PORT_SPS
		;;
	esac
	PIDS+=("$PROXY_PID")
	wait_port "$PORT"
	wait_port "$SSE"
}

stop_proxy() {
	kill "$PROXY_PID" 2>/dev/null || true
	wait "$PROXY_PID" 2>/dev/null || true
	if [ "$1" = sealpod ]; then
		kill "$SSE_PID" 2>/dev/null || true
		wait "$SSE_PID" 2>/dev/null || true
	fi
}

# All processes of the proxy (nginx: master and worker).
proxy_pids() {
	local kids
	kids=$(pgrep -P "$PROXY_PID" | paste -sd, || true)
	echo "$PROXY_PID${kids:+,$kids}"
}

# wrk_run OUT ARGS...: wrk pinned to the load core, bounded.
wrk_run() {
	local out=$1
	shift
	timeout $((DUR + 30)) taskset -c "$LOAD_CPU" wrk -t1 -d"${DUR}s" \
		--latency "$@" >"$out" 2>&1 || true
}

# Milliseconds from a wrk latency token (e.g. 512.00us, 1.20ms, 1.01s).
to_ms() {
	"$PY" -c 'import re, sys
v = sys.argv[1]
m = re.match(r"([0-9.]+)(us|ms|s)$", v)
if not m:
    print("nan")
else:
    f = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    print("%.3f" % f)' "$1"
}

# Requests/s, or nan (with a warning) when any reply was not 2xx/3xx or
# a socket error happened: a fast error page must not count as speed.
wrk_rps() {
	if grep -q 'Non-2xx\|Socket errors' "$1"; then
		echo "warning: $(basename "$1"): $(grep 'Non-2xx\|Socket' "$1")" >&2
		echo nan
	else
		awk '/^Requests\/sec:/ {print $2}' "$1"
	fi
}
wrk_pct() { to_ms "$(awk -v p="$2" '$1 == p {print $2}' "$1")"; }

# CPU clock ticks (utime + stime) of the comma-separated pids in $1.
cpu_ticks() {
	local p t=0
	for p in ${1//,/ }; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null ||
			echo 0)))
	done
	echo "$t"
}

# "busy total" clock ticks of CPU $1 so far (/proc/stat user .. steal;
# guest time is already inside user and nice; idle and iowait are not
# busy).
core_ticks() {
	awk -v c="cpu$1" '$1 == c {
		t = 0; for (i = 2; i <= 9; i++) t += $i
		print t - $5 - $6, t }' /proc/stat
}

# Percent busy between two core_ticks readings: "B0 T0" "B1 T1".
core_busy() {
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x); split(b, y)
		if (y[2] > x[2]) printf "%.1f\n", 100 * (y[1] - x[1]) / (y[2] - x[2])
		else print "nan" }'
}

# wrk_ka NAME KEY URL ROUND: a kept-alive run; its rate, p99 and both
# cores' busy share go to R[NAME.KEY.ROUND], R[NAME.KEY_p99.ROUND], ...
wrk_ka() {
	local name=$1 key=$2 url=$3 k=$4 c0 c1 l0 l1
	c0=$(core_ticks "$PROXY_CPU")
	l0=$(core_ticks "$LOAD_CPU")
	wrk_run "$T/$name.$key" -c50 "$url"
	c1=$(core_ticks "$PROXY_CPU")
	l1=$(core_ticks "$LOAD_CPU")
	R[$name.$key.$k]=$(wrk_rps "$T/$name.$key")
	R[$name.${key}_p99.$k]=$(wrk_pct "$T/$name.$key" 99%)
	R[$name.${key}_pbusy.$k]=$(core_busy "$c0" "$c1")
	R[$name.${key}_lbusy.$k]=$(core_busy "$l0" "$l1")
}

# Microseconds of CPU per request: TICKS_BEFORE TICKS_AFTER WRK_OUTPUT.
cpu_per_req() {
	local n
	n=$(awk '/ requests in / {print $1}' "$3")
	awk -v a="$1" -v b="$2" -v n="${n:-0}" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { if (n > 0) printf "%.2f\n", (b - a) * 1e6 / hz / n;
		         else print "nan" }'
}

# Seconds sealpod's workers spent busy polling (its /metrics counter);
# 0 for the others, which do not poll.
poll_seconds() {
	if [ "$1" = sealpod ]; then
		curl -s --max-time 5 "http://127.0.0.1:$HPORT_SP/metrics" |
			awk '$1 == "sealpod_sidecar_busy_poll_seconds_total" \
				{ print $2; found = 1 } END { if (!found) print "nan" }'
	else
		echo 0
	fi
}

declare -A R

# measure_rates NAME ROUND: the rates and CPU costs, keys NAME.KEY.ROUND.
measure_rates() {
	local name=$1 k=$2 url pids t0 t1 p0 p1
	start_proxy "$name"
	url="https://127.0.0.1:$PORT"
	# warm up
	timeout 10 taskset -c "$LOAD_CPU" wrk -t1 -c10 -d1s "$url/small" \
		>/dev/null 2>&1 || true

	pids=$(proxy_pids)
	p0=$(poll_seconds "$name")
	t0=$(cpu_ticks "$pids")
	wrk_ka "$name" rps "$url/small" "$k"
	t1=$(cpu_ticks "$pids")
	p1=$(poll_seconds "$name")
	R[$name.cpu_rq.$k]=$(cpu_per_req "$t0" "$t1" "$T/$name.rps")
	R[$name.poll_rq.$k]=$(awk -v a="$p0" -v b="$p1" \
		-v n="$(awk '/ requests in / {print $1}' "$T/$name.rps")" \
		'BEGIN { if (n > 0 && a != "nan" && b != "nan")
		             printf "%.2f\n", (b - a) * 1e6 / n;
		         else print "nan" }')
	R[$name.p50.$k]=$(wrk_pct "$T/$name.rps" 50%)
	R[$name.p99.$k]=${R[$name.rps_p99.$k]}
	wrk_ka "$name" split "$url/split" "$k"

	t0=$(cpu_ticks "$pids")
	wrk_run "$T/$name.hs" -c20 -H "Connection: close" "$url/small"
	t1=$(cpu_ticks "$pids")
	R[$name.cpu_hs.$k]=$(cpu_per_req "$t0" "$t1" "$T/$name.hs")
	R[$name.hs.$k]=$(wrk_rps "$T/$name.hs")

	wrk_run "$T/$name.big" -c8 "$url/big"
	R[$name.mib.$k]=$(wrk_rps "$T/$name.big")

	timeout $((DUR + 30)) taskset -c "$LOAD_CPU" h2load -D "$DUR" -c10 \
		-m10 -t1 "$url/small" >"$T/$name.h2" 2>&1 || true
	if grep -q ' 0 failed, 0 errored' "$T/$name.h2"; then
		R[$name.h2.$k]=$(awk '/^finished in/ {print $4}' "$T/$name.h2")
	else
		echo "warning: $name h2load: $(grep 'requests:' "$T/$name.h2")" >&2
		R[$name.h2.$k]=nan
	fi
	stop_proxy "$name"
	echo "round $k: measured $name" >&2
}

# measure_once NAME: memory per idle connection and SSE delay.
measure_once() {
	local name=$1
	start_proxy "$name"
	R[$name.idle.1]=$(timeout 120 taskset -c "$LOAD_CPU" "$PY" \
		"$SRC/scripts/bench/idle_conns.py" --port "$PORT" \
		--n "$IDLE_N" --pids "$(proxy_pids)" || echo nan)

	read -r a b _ < <(timeout 60 "$PY" "$SRC/scripts/bench/sse_probe.py" \
		--port "$SSE" --path /sse || echo "nan nan 0")
	R[$name.sse50.1]=$a
	R[$name.sse99.1]=$b
	stop_proxy "$name"
	echo "measured $name (memory, SSE)" >&2
}

ORDER=(haproxy nginx sealpod)
for k in $(seq 1 "$ROUNDS"); do
	for i in 0 1 2; do
		measure_rates "${ORDER[$(((i + k - 1) % 3))]}" "$k"
	done
done
for p in "${ORDER[@]}"; do
	measure_once "$p"
done

# --- report ------------------------------------------------------------------
# What the figures depend on, so that runs can be compared fairly.
echo "openssl: $(openssl version); kernel: $(uname -r); cpus: $(nproc);" \
	"load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$ROUNDS" "$(declare -p R)" <<'EOF'
import math, re, statistics, sys
rounds = int(sys.argv[1])
R = dict(re.findall(r'\[([^]]+)\]="([^"]*)"', sys.argv[2]))


def val(k):
    try:
        return float(R.get(k, "nan"))
    except ValueError:
        return float("nan")


def med(name, key):
    v = [val("%s.%s.%d" % (name, key, k)) for k in range(1, rounds + 1)]
    v = [x for x in v if not math.isnan(x)]
    return statistics.median(v) if v else float("nan")


def spread(key):
    """Lowest and highest sealpod/HAProxy ratio over the rounds."""
    r = []
    for k in range(1, rounds + 1):
        a = val("haproxy.%s.%d" % (key, k))
        b = val("sealpod.%s.%d" % (key, k))
        if a == a and b == b and a:
            r.append(b / a)
    return "%.2f-%.2f" % (min(r), max(r)) if r else "-"


rows = [("rps", "req/s keep-alive (small)"),
        ("p50", "p50 latency ms"),
        ("p99", "p99 latency ms"),
        ("rps_pbusy", "  proxy core busy %"),
        ("rps_lbusy", "  load core busy %"),
        ("split", "req/s /split (2 writes)"),
        ("split_p99", "  p99 latency ms"),
        ("split_pbusy", "  proxy core busy %"),
        ("split_lbusy", "  load core busy %"),
        ("cpu_rq", "proxy CPU us/request"),
        ("poll_rq", "  of which busy polling"),
        ("hs", "new TLS handshakes/s"),
        ("cpu_hs", "proxy CPU us/handshake"),
        ("mib", "1 MiB bodies, MiB/s"),
        ("h2", "h2 req/s (h2load)"),
        ("idle", "KiB per idle TLS conn"),
        ("sse50", "SSE added delay p50 ms"),
        ("sse99", "SSE added delay p99 ms")]
once = {"idle", "sse50", "sse99"}
names = ["haproxy", "nginx", "sealpod"]
print()
print("medians of %d rounds (memory and SSE: one run)" % rounds)
print("%-26s %11s %11s %11s %9s %10s %10s" % (
    "metric", *names, "nginx/HA", "sealpod/HA", "per round"))
for key, label in rows:
    v = [med(n, key) for n in names]
    base = v[0]
    busy = key.endswith("busy")  # a share, not a figure of merit
    rat = ["%.2fx" % (x / base) if base and base == base and x == x
           and not busy else "-" for x in v[1:]]
    print("%-26s %11.2f %11.2f %11.2f %9s %10s %10s" % (
        label, *v, *rat, "" if key in once or busy else spread(key)))
print("\n(ratios: higher is better for rates, lower for latency, "
      "memory and delay; 'per round': lowest and highest sealpod/HA)")
EOF
