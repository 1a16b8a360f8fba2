#!/bin/bash
# The cleanup trap and the exported functions run indirectly; single
# quotes keep variables for the child bash that runs each contender.
# shellcheck disable=SC2317,SC2016
# bench-unseal.sh: how fast sealpod-init unseals, next to the tools that
# bound it (issue #5, "Speed, measured side by side").
#
# Seals a set of random files, then in the same run and on the same data
# times, best of --runs:
#   cp        the plaintext into tmpfs                (memory-write limit)
#   curl      the sealed blobs from a local HTTPS
#             server into tmpfs, one connection and
#             --parallel-max WORKERS                  (transfer limit)
#   age -d    the same plaintext sealed with age      (what users use today)
#   sealpod   unseal from file:// and from https://
# and prints times, ratios (file:// vs cp, https:// vs the faster curl),
# sealpod's peak RSS (/usr/bin/time %M) and whether the targets of the
# issue are met: file:// <= 1.25x cp, https:// <= 1.1x curl, peak RSS <=
# memory budget + 32 MiB.
#
# The HTTPS server is nginx from Debian with a throw-away self-signed
# certificate, bound to 127.0.0.1 on a free port, started and stopped by
# this script (tests/peers/artifact_server.py is Python and would be the
# bottleneck). Missing Debian packages (age, nginx-light, curl, openssl,
# time) are installed with apt-get.
#
# Usage: scripts/bench-unseal.sh [--size-mib N] [--files N] [--runs N]
#            [--workers N] [--memory-mib N] [--build DIR] [--work DIR]
#            [--skip-age] [--skip-https] [--strict] [--keep]
#   --size-mib   total plaintext, default 2048, split over --files (4)
#   --runs       repetitions of each measurement, best kept (3)
#   --workers    sealpod workers and curl's parallel transfers
#                (default: the number of CPUs)
#   --memory-mib sealpod's memory budget (64)
#   --build      build directory, configured and built here (./build-bench)
#   --work       where plaintext and sealed files go (a new directory
#                under /var/tmp); targets are always under /dev/shm
#   --strict     exit 1 when a target is missed
#   --keep       keep the work directory
set -u

SIZE_MIB=2048
FILES=4
RUNS=3
WORKERS=$(nproc)
MEMORY_MIB=64
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SEALPOD_BENCH_BUILD:-$SRC/build-bench}
WORK_BASE=/var/tmp
SKIP_AGE=0
SKIP_HTTPS=0
STRICT=0
KEEP=0
STEP_TIMEOUT=900 # seconds for any one step
PY=/usr/bin/python3

die() {
	echo "bench-unseal: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	--size-mib) SIZE_MIB=$2; shift ;;
	--files) FILES=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--workers) WORKERS=$2; shift ;;
	--memory-mib) MEMORY_MIB=$2; shift ;;
	--build) BUILD=$2; shift ;;
	--work) WORK_BASE=$2; shift ;;
	--skip-age) SKIP_AGE=1 ;;
	--skip-https) SKIP_HTTPS=1 ;;
	--strict) STRICT=1 ;;
	--keep) KEEP=1 ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d;s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1 (try --help)" ;;
	esac
	shift
done
for n in "$SIZE_MIB" "$FILES" "$RUNS" "$WORKERS" "$MEMORY_MIB"; do
	case $n in '' | *[!0-9]*) die "not a number: $n" ;; esac
	[ "$n" -gt 0 ] || die "must be positive: $n"
done

# ---- tools ----

need_pkgs=()
command -v age >/dev/null || need_pkgs+=(age)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v openssl >/dev/null || need_pkgs+=(openssl)
[ -x /usr/bin/time ] || need_pkgs+=(time)
if [ "$SKIP_HTTPS" = 0 ] && ! command -v nginx >/dev/null &&
	[ ! -x /usr/sbin/nginx ]; then
	need_pkgs+=(nginx-light)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
	echo "installing ${need_pkgs[*]} from Debian" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y \
		--no-install-recommends "${need_pkgs[@]}" >/dev/null 2>&1 || {
		apt-get update >/dev/null 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends "${need_pkgs[@]}" >/dev/null
	} || die "could not install ${need_pkgs[*]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# Build what is measured: a stale binary would time old code.
"$SRC/scripts/install-deps.sh" >/dev/null ||
	echo "warning: install-deps.sh failed" >&2
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DSEALPOD_TESTS=OFF >/dev/null || die "cmake configure failed in $BUILD"
cmake --build "$BUILD" -j"$(nproc)" --target sealpod-init >/dev/null ||
	die "cmake build failed in $BUILD"
INIT=$BUILD/init/sealpod-init

case $(stat -f -c %T /dev/shm 2>/dev/null) in
tmpfs | ramfs) ;;
*) die "/dev/shm is not a tmpfs" ;;
esac
# Two copies at most live in /dev/shm at once (a target and its run).
shm_free=$(($(stat -f -c '%a * %S' /dev/shm) / 1048576))
[ "$shm_free" -gt $((SIZE_MIB * 2 + 64)) ] ||
	die "/dev/shm has ${shm_free} MiB free, need $((SIZE_MIB * 2 + 64))"

# ---- work area and cleanup ----

WORK=$(mktemp -d "$WORK_BASE/sealpod-bench.XXXXXX") || die "mktemp"
SHM=$(mktemp -d /dev/shm/sealpod-bench.XXXXXX) || die "mktemp shm"
NGINX_PID=
cleanup() {
	if [ -n "$NGINX_PID" ]; then
		kill -TERM "$NGINX_PID" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$NGINX_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$NGINX_PID" 2>/dev/null
	fi
	rm -rf "$SHM"
	if [ "$KEEP" = 1 ]; then
		echo "kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# ---- data ----

per_file=$((SIZE_MIB / FILES))
[ "$per_file" -gt 0 ] || die "--size-mib must be at least --files"
log "plaintext: $FILES files of $per_file MiB in $WORK/in"
mkdir -p "$WORK/in"
for i in $(seq 1 "$FILES"); do
	# AES-CTR output: random-looking and much faster than /dev/urandom.
	openssl enc -aes-256-ctr -nosalt -pass "pass:bench$i" \
		-in /dev/zero 2>/dev/null |
		head -c $((per_file * 1048576)) >"$WORK/in/shard-$i.bin"
done
TOTAL=$((per_file * FILES * 1048576))

log "sealing with sealpod-init seal"
timeout "$STEP_TIMEOUT" "$INIT" seal --key "$WORK/model.key" \
	--in "$WORK/in" --out "$WORK/sealed" 2>"$WORK/seal.log" ||
	die "seal failed: $(tail -n 3 "$WORK/seal.log")"

if [ "$SKIP_AGE" = 0 ]; then
	log "sealing the same files with age"
	mkdir -p "$WORK/age"
	age-keygen -o "$WORK/age.id" 2>/dev/null || die "age-keygen"
	recipient=$(age-keygen -y "$WORK/age.id")
	for f in "$WORK"/in/*; do
		timeout "$STEP_TIMEOUT" age -r "$recipient" \
			-o "$WORK/age/$(basename "$f").age" "$f" ||
			die "age -e failed"
	done
fi

# ---- the HTTPS server ----

free_port() {
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

start_nginx() {
	local conf=$WORK/nginx.conf i
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 \
		-keyout "$WORK/tls.key" -out "$WORK/tls.crt" \
		>/dev/null 2>&1 || die "openssl req"
	PORT=$(free_port)
	# nginx's workers drop to an unprivileged user: let them in (the
	# sealed store is meant to be public; the key stays 0600).
	chmod 755 "$WORK"
	chmod -R a+rX "$WORK/sealed"
	mkdir -p "$WORK/nginx"
	cat >"$conf" <<EOF
daemon off;
worker_processes $WORKERS;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    types { }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$PORT ssl;
        ssl_certificate $WORK/tls.crt;
        ssl_certificate_key $WORK/tls.key;
        ssl_protocols TLSv1.3;
        root $WORK/sealed;
    }
}
EOF
	"$NGINX" -c "$conf" -e "$WORK/nginx/error.log" \
		>"$WORK/nginx/out.log" 2>&1 &
	NGINX_PID=$!
	for i in $(seq 100); do
		curl -sf --cacert "$WORK/tls.crt" -o /dev/null \
			"https://127.0.0.1:$PORT/manifest.sealed" && return 0
		kill -0 "$NGINX_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$WORK/nginx/out.log" "$WORK/nginx/error.log" >&2
	die "nginx did not come up"
}

if [ "$SKIP_HTTPS" = 0 ]; then
	start_nginx
	URL=https://127.0.0.1:$PORT
	log "nginx on $URL (pid $NGINX_PID, $WORKERS workers)"
fi

# ---- measuring ----

# Warm the page cache, so every contender reads from memory.
cat "$WORK"/in/* "$WORK"/sealed/blobs/* >/dev/null
[ "$SKIP_AGE" = 0 ] && cat "$WORK"/age/* >/dev/null

# timed NAME CMD...: run CMD with a fresh $SHM/out, append "wall maxrss_kib"
# to $WORK/times.NAME. The output is removed afterwards, so each
# contender writes into an empty tmpfs directory.
timed() {
	local name=$1 rc
	shift
	rm -rf "$SHM/out"
	mkdir "$SHM/out"
	/usr/bin/time -f '%e %M %U %S' -o "$WORK/time.out" \
		timeout "$STEP_TIMEOUT" "$@" >"$WORK/$name.out" \
		2>"$WORK/$name.err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -n 5 "$WORK/$name.err" >&2
		die "$name failed (exit $rc)"
	fi
	tail -n 1 "$WORK/time.out" >>"$WORK/times.$name"
	if [ "${CHECK:-0}" = 1 ]; then
		verify_out "$name"
	fi
	rm -rf "$SHM/out"
}

# The unsealed files must equal the plaintext.
verify_out() {
	local f
	for f in "$WORK"/in/*; do
		cmp -s "$f" "$SHM/out/$(basename "$f")" ||
			die "$1: $(basename "$f") differs from the plaintext"
	done
}

run_cp() { cp "$WORK"/in/* "$SHM/out/"; }

run_curl1() {
	local p b
	for p in "$WORK"/sealed/blobs/*; do
		b=${p##*/}
		curl -sSf --cacert "$WORK/tls.crt" -o "$SHM/out/$b" \
			"$URL/blobs/$b" || return 1
	done
}

run_curlp() {
	local args=() p b
	for p in "$WORK"/sealed/blobs/*; do
		b=${p##*/}
		args+=(-o "$SHM/out/$b" "$URL/blobs/$b")
	done
	curl -sSf --cacert "$WORK/tls.crt" --parallel \
		--parallel-max "$WORKERS" "${args[@]}"
}

run_age() {
	local f
	for f in "$WORK"/age/*.age; do
		age -d -i "$WORK/age.id" \
			-o "$SHM/out/$(basename "$f" .age)" "$f" || return 1
	done
}

run_sealpod() { # SOURCE [ARGS...]
	"$INIT" unseal --key "$WORK/model.key" --source "$1" \
		--target "$SHM/out" --workers "$WORKERS" \
		--memory-mib "$MEMORY_MIB" "${@:2}"
}

# /usr/bin/time runs programs, so the contenders run in a child bash.
export WORK SHM URL WORKERS MEMORY_MIB INIT
export -f run_cp run_curl1 run_curlp run_age run_sealpod

CONTENDERS=(cp sealpod_file)
[ "$SKIP_AGE" = 0 ] && CONTENDERS+=(age)
[ "$SKIP_HTTPS" = 0 ] && CONTENDERS+=(curl1 curlp sealpod_https)

for r in $(seq 1 "$RUNS"); do
	log "run $r of $RUNS"
	# Interleaved, so a noisy neighbour hurts every contender alike.
	for c in "${CONTENDERS[@]}"; do
		CHECK=0
		[ "$r" = 1 ] && case $c in sealpod* | age) CHECK=1 ;; esac
		case $c in
		cp) timed cp bash -c run_cp ;;
		age) CHECK=$CHECK timed age bash -c run_age ;;
		curl1) timed curl1 bash -c run_curl1 ;;
		curlp) timed curlp bash -c run_curlp ;;
		sealpod_file)
			CHECK=$CHECK timed sealpod_file bash -c \
				'run_sealpod "file://$WORK/sealed"'
			;;
		sealpod_https)
			CHECK=$CHECK timed sealpod_https bash -c \
				'run_sealpod "$URL" --ca "$WORK/tls.crt"'
			;;
		esac
	done
done

# ---- report ----

# best NAME: the lowest wall time; peak NAME: the highest max RSS (KiB).
best() { sort -n "$WORK/times.$1" | head -n 1 | cut -d' ' -f1; }
median() {
	sort -n "$WORK/times.$1" | cut -d' ' -f1 |
		awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
peak() { sort -k2 -n "$WORK/times.$1" | tail -n 1 | cut -d' ' -f2; }
# CPU seconds (user + system) of the best run.
cpu() {
	sort -n "$WORK/times.$1" | head -n 1 |
		awk '{printf "%.2f", $3 + $4}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }
rate() { awk -v t="$1" -v n="$TOTAL" 'BEGIN {printf "%.0f", (t > 0) ? n / 1048576 / t : 0}'; }

printf '\nsealpod unseal benchmark: %d MiB in %d files, %d workers, ' \
	$((TOTAL / 1048576)) "$FILES" "$WORKERS"
printf 'budget %d MiB, %d CPUs, best of %d\n' "$MEMORY_MIB" "$(nproc)" \
	"$RUNS"
printf '%-16s %8s %9s %8s %8s %11s\n' contender "best s" "median s" \
	"MiB/s" "CPU s" "peak RSS"
for c in "${CONTENDERS[@]}"; do
	printf '%-16s %8s %9s %8s %8s %7s MiB\n' "$c" "$(best "$c")" \
		"$(median "$c")" "$(rate "$(best "$c")")" "$(cpu "$c")" \
		$(($(peak "$c") / 1024))
done
echo "(CPU s: user + system of the contender's own processes; the"
echo " HTTPS server's share is not counted)"

misses=0
verdict() { # LABEL VALUE LIMIT
	if awk -v v="$2" -v l="$3" 'BEGIN {exit !(v <= l)}'; then
		printf '  %-40s %8s (target <= %s) met\n' "$1" "$2" "$3"
	else
		printf '  %-40s %8s (target <= %s) MISSED\n' "$1" "$2" "$3"
		misses=$((misses + 1))
	fi
}
echo
r_file=$(ratio "$(best sealpod_file)" "$(best cp)")
verdict "sealpod file:// / cp" "$r_file" 1.25
if [ "$SKIP_HTTPS" = 0 ]; then
	curl_best=$(printf '%s\n%s\n' "$(best curl1)" "$(best curlp)" |
		sort -n | head -n 1)
	verdict "sealpod https:// / fastest curl" \
		"$(ratio "$(best sealpod_https)" "$curl_best")" 1.1
fi
if [ "$SKIP_AGE" = 0 ]; then
	printf '  %-40s %8s\n' "sealpod file:// / age -d" \
		"$(ratio "$(best sealpod_file)" "$(best age)")"
fi
rss_limit=$((MEMORY_MIB + 32))
for c in sealpod_file sealpod_https; do
	[ -f "$WORK/times.$c" ] || continue
	verdict "$c peak RSS (MiB)" $(($(peak "$c") / 1024)) "$rss_limit"
done
echo "  (ratios use best times; load: $(cut -d' ' -f1-3 /proc/loadavg))"

if [ "$STRICT" = 1 ] && [ "$misses" -gt 0 ]; then
	exit 1
fi
exit 0
