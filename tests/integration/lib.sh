# shellcheck shell=bash
# Constants are for the sourcing scripts; NAME_PORT-style variables are set
# with printf -v; blob names are hex, so ls is safe.
# shellcheck disable=SC2034,SC2154,SC2012
# lib.sh: shared helpers for the sealpod-init integration scenarios.
#
# Source it from a test_*.sh script. It uses only sealpod-init's command
# line contract (seal / run --config, exit codes from init/exitcode.h, the
# ready marker from init/unseal.h) and the independent peers in
# tests/peers/. Everything it starts is killed, everything it mounts is
# unmounted and everything it creates is removed on exit.
#
# Environment: SEALPOD_BUILD (build dir), SEALPOD_SRC (source dir).

set -u

PY=/usr/bin/python3
SEALPOD_SRC=${SEALPOD_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." &&
	pwd)}
SEALPOD_BUILD=${SEALPOD_BUILD:-$SEALPOD_SRC/build}
PEERS=$SEALPOD_SRC/tests/peers
logcheck() { "$PY" "$SEALPOD_SRC/tests/integration/logcheck.py" "$@"; }
INIT=$SEALPOD_BUILD/init/sealpod-init

# Exit codes (init/exitcode.h) and names (init/unseal.h).
EXIT_USAGE=2
EXIT_ATTEST=10
EXIT_POLICY=11
EXIT_NOTFOUND=12
EXIT_FETCH=13
EXIT_INTEGRITY=14
EXIT_TARGET=15
EXIT_TERMINATED=16
EXIT_INTERNAL=20
READY_NAME=.sealpod-ready

PEER_WAIT_SECONDS=20
PEER_MAX_SECONDS=280
INIT_TIMEOUT=120
SEGMENT=$((1024 * 1024))	# default ciphertext segment (issue 2, 3)

SP_PIDS=()
SP_DIRS=()
SP_MOUNTS=()
SP_FAILS=0
SP_CHECKS=0

sp_log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

sp_cleanup() {
	local pid m d i
	for pid in "${SP_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${SP_PIDS[@]}"; do
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for m in "${SP_MOUNTS[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for d in "${SP_DIRS[@]}"; do
		rm -rf "$d"
	done
}
trap sp_cleanup EXIT
trap 'exit 130' INT TERM

sp_skip() {
	sp_log "SKIP: $*"
	exit 77
}

sp_fail() {
	sp_log "FAIL: $*"
	SP_FAILS=$((SP_FAILS + 1))
}

# sp_check LABEL CMD...: run CMD, count a failure when it fails.
sp_check() {
	local label=$1
	shift
	SP_CHECKS=$((SP_CHECKS + 1))
	if "$@"; then
		return 0
	fi
	sp_fail "$label"
	return 1
}

# sp_finish: exit status of the whole script.
sp_finish() {
	if [ "$SP_FAILS" -ne 0 ]; then
		sp_log "$SP_FAILS of $SP_CHECKS checks failed"
		exit 1
	fi
	sp_log "all $SP_CHECKS checks passed"
	exit 0
}

sp_require() {
	[ -x "$INIT" ] || {
		sp_log "FAIL: $INIT not built"
		exit 1
	}
	"$PY" -c 'import cryptography, numpy' 2>/dev/null ||
		sp_skip "needs python3-cryptography and python3-numpy"
	command -v openssl >/dev/null || sp_skip "needs openssl"
	command -v curl >/dev/null || sp_skip "needs curl"
	case $(stat -f -c %T /dev/shm 2>/dev/null) in
	tmpfs | ramfs) ;;
	*) sp_skip "/dev/shm is not a tmpfs here" ;;
	esac
}

# sp_free_port_pair: a loopback port P with P+1 free too (swtpm's
# server and control ports), both just released.
sp_free_port_pair() {
	"$PY" -c 'import socket
for _ in range(50):
    a = socket.socket()
    a.bind(("127.0.0.1", 0))
    p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1))
    except OSError:
        continue
    print(p)
    break'
}

# sp_start_swtpm STATE_DIR: a swtpm on a free loopback port pair with
# its state in STATE_DIR; sets SWTPM_PORT, SWTPM_PID and SWTPM_TCTI, or
# returns 1. A try that does not answer within 10 s (slow under a
# sanitizer build on a busy machine) is stopped before the next one,
# which would otherwise find the state locked.
sp_start_swtpm() {
	local state=$1 try i log=$WORK/swtpm.log
	for try in 1 2 3; do
		SWTPM_PORT=$(sp_free_port_pair)
		[ -n "$SWTPM_PORT" ] || continue
		swtpm socket --tpm2 \
			--server "type=tcp,port=$SWTPM_PORT,bindaddr=127.0.0.1" \
			--ctrl "type=tcp,port=$((SWTPM_PORT + 1)),bindaddr=127.0.0.1" \
			--tpmstate "dir=$state" \
			--flags not-need-init,startup-clear >"$log" 2>&1 &
		SWTPM_PID=$!
		SP_PIDS+=("$SWTPM_PID")
		SWTPM_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT"
		for i in $(seq 100); do
			kill -0 "$SWTPM_PID" 2>/dev/null || break
			TPM2TOOLS_TCTI=$SWTPM_TCTI timeout 5 \
				tpm2_getcap properties-fixed >/dev/null 2>&1 &&
				return 0
			sleep 0.1
		done
		sp_log "swtpm try $try did not answer ($i polls):"
		cat "$log" >&2
		kill "$SWTPM_PID" 2>/dev/null
		wait "$SWTPM_PID" 2>/dev/null
	done
	return 1
}

# sp_tmpdir VAR [BASE]: a fresh directory (under /tmp by default),
# removed on exit.
sp_tmpdir() {
	local d
	d=$(mktemp -d "${2:-/tmp}/sealpod-it.XXXXXX") || exit 1
	SP_DIRS+=("$d")
	printf -v "$1" '%s' "$d"
}

# sp_free_port: a loopback port that nothing listens on (just released).
sp_free_port() {
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# sp_start_peer NAME SCRIPT ARGS...: start tests/peers/SCRIPT, wait for its
# port file; sets NAME_PORT, NAME_PID, NAME_LOG.
sp_start_peer() {
	local name=$1 script=$2 pidv portv i
	shift 2
	local pf=$WORK/$name.port log=$WORK/$name.log
	rm -f "$pf"
	"$PY" "$PEERS/$script" --port 0 --port-file "$pf" \
		--max-seconds "$PEER_MAX_SECONDS" --log "$log" "$@" \
		>"$WORK/$name.out" 2>&1 &
	pidv=$!
	SP_PIDS+=("$pidv")
	for i in $(seq $((PEER_WAIT_SECONDS * 10))); do
		[ -s "$pf" ] && break
		if ! kill -0 "$pidv" 2>/dev/null; then
			sp_log "peer $name exited early:"
			cat "$WORK/$name.out" >&2
			exit 1
		fi
		sleep 0.1
	done
	[ -s "$pf" ] || {
		sp_log "peer $name did not start in ${PEER_WAIT_SECONDS}s"
		exit 1
	}
	portv=$(cat "$pf")
	printf -v "${name}_PORT" '%s' "$portv"
	printf -v "${name}_PID" '%s' "$pidv"
	printf -v "${name}_LOG" '%s' "$log"
}

# sp_stop_peer NAME: SIGTERM it and wait (bounded).
sp_stop_peer() {
	local pidv="${1}_PID" i
	pidv=${!pidv}
	kill -TERM "$pidv" 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$pidv" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pidv" 2>/dev/null
	wait "$pidv" 2>/dev/null
	return 0
}

# sp_fixture: certificates, a GGUF model (seeded per script so leftovers
# from parallel scripts never match), a model directory with small side
# files, its sealed store and the KBS resource tree. Sets WORK, CERTS,
# MODEL_IN, MODEL_FILE, SEALED, KEYFILE, KBS_RES, STAMP.
sp_fixture() {
	sp_tmpdir WORK
	STAMP=$WORK/stamp
	touch "$STAMP"
	CERTS=$WORK/certs
	bash "$PEERS/mkcerts.sh" "$CERTS" || exit 1
	MODEL_IN=$WORK/in
	mkdir -p "$MODEL_IN/tokenizer"
	MODEL_FILE=$MODEL_IN/model.gguf
	"$PY" "$PEERS/make_gguf.py" --seed "$$" "$MODEL_FILE" || exit 1
	# Two side files of equal size (for the swap scenario).
	printf '{"name":"tiny","layers":4,"note":"aaaa"}\n' \
		>"$MODEL_IN/config.json"
	printf '{"name":"tiny","layers":4,"note":"bbbb"}\n' \
		>"$MODEL_IN/tokenizer/extra.json"
	KEYFILE=$WORK/model.key
	SEALED=$WORK/sealed
	sp_seal "$KEYFILE" "$MODEL_IN" "$SEALED" 3 || {
		sp_log "FAIL: seal did not work"
		exit 1
	}
	KBS_RES=$WORK/kbs-res
	mkdir -p "$KBS_RES/sealpod/model"
	cp "$KEYFILE" "$KBS_RES/sealpod/model/key"
	cp "$CERTS/sidecar-chain.crt" "$KBS_RES/sealpod/model/tls-crt"
	cp "$CERTS/sidecar.key" "$KBS_RES/sealpod/model/tls-key"
}

# sp_seal KEY IN OUT VERSION
sp_seal() {
	timeout "$INIT_TIMEOUT" "$INIT" seal --key "$1" --in "$2" --out "$3" \
		--version "$4" >"$WORK/seal.out" 2>&1
	local rc=$?
	[ $rc -eq 0 ] || {
		sp_log "seal exited $rc:"
		cat "$WORK/seal.out" >&2
	}
	return $rc
}

# sp_copy_store NAME: a private copy of the sealed store to damage; sets
# STORE.
sp_copy_store() {
	STORE=$WORK/store-$1
	rm -rf "$STORE"
	cp -a "$SEALED" "$STORE"
}

# sp_blob_of SIZE_HINT: the blob in STORE whose length is the largest
# (the model), printed as a path.
sp_model_blob() {
	ls -S "$STORE"/blobs/* | head -n 1
}

# sp_start_kbs ARGS...: KBS stand-in over TLS with our resources
# (KBS_CERT=name picks another leaf from mkcerts.sh).
sp_start_kbs() {
	local leaf=${KBS_CERT:-kbs}
	sp_start_peer kbs kbs_standin.py --cert "$CERTS/$leaf.crt" \
		--key "$CERTS/$leaf.key" --resources "$KBS_RES" \
		--audit "$WORK/kbs-audit.log" "$@"
	KBS_AUDIT=$WORK/kbs-audit.log
	KBS_URL=https://127.0.0.1:$kbs_PORT
}

# sp_start_store DIR ARGS...: HTTPS artifact server over DIR
# (STORE_CERT=name picks another leaf from mkcerts.sh).
sp_start_store() {
	local root=$1 leaf=${STORE_CERT:-artifacts}
	shift
	sp_start_peer store artifact_server.py --root "$root" \
		--cert "$CERTS/$leaf.crt" --key "$CERTS/$leaf.key" "$@"
	STORE_URL=https://127.0.0.1:$store_PORT
}

# sp_new_target: fresh TARGET and TLS_DIR directories on tmpfs.
sp_new_target() {
	sp_tmpdir TARGET /dev/shm
	sp_tmpdir TLS_DIR /dev/shm
}

# sp_config FILE: write the init config from the CFG_* variables.
# CFG_SOURCE (required), CFG_KBS_URL, CFG_KBS_CA, CFG_ARTIFACTS_CA (default
# the test CA), CFG_MIN_VERSION (default 1),
# CFG_KEY (default kbs:///sealpod/model/key), CFG_TLS=1 to ask for the
# sidecar's TLS material, CFG_TARGET (default $TARGET).
sp_config() {
	local f=$1
	{
		echo "tee: sample"
		echo "kbs:"
		echo "  url: ${CFG_KBS_URL:-$KBS_URL}"
		echo "  ca: ${CFG_KBS_CA:-$CERTS/ca.crt}"
		echo "key: ${CFG_KEY:-kbs:///sealpod/model/key}"
		echo "artifacts:"
		echo "  source: $CFG_SOURCE"
		case $CFG_SOURCE in
		https:*) echo "  ca: ${CFG_ARTIFACTS_CA:-$CERTS/ca.crt}" ;;
		esac
		echo "  min_version: ${CFG_MIN_VERSION:-1}"
		echo "target: ${CFG_TARGET:-$TARGET}"
		if [ "${CFG_TLS:-0}" = 1 ]; then
			echo "tls:"
			echo "  cert: kbs:///sealpod/model/tls-crt"
			echo "  key: kbs:///sealpod/model/tls-key"
			echo "  dir: $TLS_DIR"
		fi
	} >"$f"
}

# sp_run_init LABEL: write the config and run sealpod-init; sets RC, OUT,
# ERR (files).
sp_run_init() {
	local label=$1
	CONFIG=$WORK/$label.yaml
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	sp_config "$CONFIG"
	timeout "$INIT_TIMEOUT" "$INIT" run --config "$CONFIG" >"$OUT" 2>"$ERR"
	RC=$?
	sp_log "$label: sealpod-init exited $RC"
}

sp_expect_rc() { # WANT[|WANT...] LABEL
	local alt w ok=0
	SP_CHECKS=$((SP_CHECKS + 1))
	IFS='|' read -ra alt <<<"$1"
	for w in "${alt[@]}"; do
		[ "$RC" -eq "$w" ] && ok=1
	done
	if [ $ok -eq 0 ]; then
		sp_fail "$2: exit $RC, want $1"
		sp_log "stderr was:"
		tail -n 20 "$ERR" >&2
		return 1
	fi
}

sp_dir_empty() { # DIR
	[ -d "$1" ] && [ -z "$(find "$1" -mindepth 1 -print -quit)" ]
}

sp_show_dir() {
	find "$1" -mindepth 1 -printf '  %P (%s bytes)\n' >&2
}

# sp_expect_failed_closed LABEL WANT_RC REASON_REGEX: the checks every
# bad-input scenario shares (issue 2, "Bad input that must fail closed").
sp_expect_failed_closed() {
	local label=$1 want=$2 regex=$3
	sp_expect_rc "$want" "$label"
	sp_check "$label: target not empty" sp_dir_empty "$TARGET" ||
		sp_show_dir "$TARGET"
	sp_check "$label: tls dir not empty" sp_dir_empty "$TLS_DIR" ||
		sp_show_dir "$TLS_DIR"
	local line
	if line=$(logcheck reason "$regex" "$OUT" "$ERR"); then
		SP_CHECKS=$((SP_CHECKS + 1))
		sp_log "$label: logged $line"
	else
		sp_fail "$label: no reason /$regex/ logged"
	fi
	sp_expect_no_secrets "$label"
	sp_check "$label: plaintext left behind" \
		logcheck plaintext-scan "$MODEL_FILE" "$STAMP" "$WORK" \
		/dev/shm /var/tmp /tmp
}

sp_expect_no_secrets() { # LABEL
	sp_check "$1: model key in output" \
		logcheck nosecret "$KEYFILE" "$OUT" "$ERR"
	sp_check "$1: TLS key in output" \
		logcheck nosecret "$CERTS/sidecar.key" "$OUT" "$ERR"
	sp_check "$1: non-JSON log lines" logcheck jsonlines "$ERR"
}

# sp_flip_bit FILE OFFSET: flip the lowest bit of one byte in place.
sp_flip_bit() {
	"$PY" - "$1" "$2" <<'EOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 1]))
EOF
}

sp_audit_count() { # KEY=VALUE...
	logcheck audit "$KBS_AUDIT" "$@"
}
