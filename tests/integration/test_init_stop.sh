#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154
# SIGTERM/SIGINT at every stage of `sealpod-init run` (init/stop.h):
# while the KBS handshake hangs, while the store's manifest hangs, and
# mid-unseal. Each time init exits EXIT_TERMINATED within the grace
# period (STOP_GRACE_S = 10 s, plus slack), logs init.signal.received
# and one init.failed with reason "terminated", and leaves the target
# and tls.dir empty.
. "$(dirname "$0")/lib.sh"

GRACE_S=10
SLACK_S=4

sp_require
sp_fixture
sp_start_kbs --policy allow
sp_start_store "$SEALED" --stall 60

# A TCP peer that accepts and then says nothing (bounded to 60 s).
SILENT_PF=$WORK/silent.port
"$PY" -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
s.settimeout(0.5)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
end = time.time() + 60
while time.time() < end:
    try:
        held.append(s.accept()[0])
    except OSError:
        pass
' "$SILENT_PF" &
SP_PIDS+=("$!")
for _ in $(seq 50); do
	[ -s "$SILENT_PF" ] && break
	sleep 0.1
done
[ -s "$SILENT_PF" ] || {
	sp_log "FAIL: silent peer did not start"
	exit 1
}
SILENT_URL=https://127.0.0.1:$(cat "$SILENT_PF")

# stop_case LABEL SIGNAL WAIT_FOR STEP: start init, wait (bounded) for
# the file WAIT_FOR to exist ("" = 1.5 s), send SIGNAL, check the exit.
stop_case() {
	local label=$1 sig=$2 wait_for=$3 step=$4 pid t0 t1 line
	CONFIG=$WORK/$label.yaml
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	sp_config "$CONFIG"
	# A script's background job starts with SIGINT ignored; init takes
	# SIGINT and SIGTERM back (stop.c), so case 3 tests init, not bash.
	"$INIT" run --config "$CONFIG" >"$OUT" 2>"$ERR" &
	pid=$!
	SP_PIDS+=("$pid")
	if [ -n "$wait_for" ]; then
		for _ in $(seq 100); do
			[ -e "$wait_for" ] && break
			sleep 0.1
		done
		sp_check "$label: never reached the stage" test -e "$wait_for"
		sleep 0.5
	else
		sleep 1.5
	fi
	sp_check "$label: exited before the signal" kill -0 "$pid"
	t0=$(date +%s.%N)
	kill -"$sig" "$pid"
	for _ in $(seq $(((GRACE_S + SLACK_S) * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	t1=$(date +%s.%N)
	kill -KILL "$pid" 2>/dev/null
	wait "$pid"
	RC=$?
	sp_log "$label: exited $RC after $(echo "$t1 - $t0" | bc)s"
	sp_expect_rc "$EXIT_TERMINATED" "$label"
	sp_check "$label: took longer than the grace period" \
		test "$(echo "$t1 - $t0 < $GRACE_S + $SLACK_S" | bc)" = 1
	sp_check "$label: no init.signal.received" \
		grep -q '"event":"init.signal.received"' "$ERR"
	if line=$(grep '"event":"init.failed"' "$ERR" | tail -n 1) &&
		[ -n "$line" ]; then
		SP_CHECKS=$((SP_CHECKS + 1))
		case $line in
		*'"reason":"terminated"'*) ;;
		*) sp_fail "$label: init.failed without reason terminated" ;;
		esac
		case $line in
		*"\"step\":\"$step\""* | *'"forced":true'*) ;;
		*) sp_fail "$label: init.failed not at step $step: $line" ;;
		esac
	else
		sp_fail "$label: no init.failed event"
	fi
	sp_check "$label: more than one init.failed" \
		test "$(grep -c '"event":"init.failed"' "$ERR")" -eq 1
	sp_check "$label: target not empty" sp_dir_empty "$TARGET" ||
		sp_show_dir "$TARGET"
	sp_check "$label: tls dir not empty" sp_dir_empty "$TLS_DIR" ||
		sp_show_dir "$TLS_DIR"
	sp_expect_no_secrets "$label"
}

# 1. The KBS accepts and never answers: stopped in the handshake,
#    before any key exists (curl's progress callback sees the flag).
sp_new_target
CFG_KBS_URL=$SILENT_URL CFG_SOURCE=$STORE_URL CFG_TLS=1 \
	stop_case kbs-hang TERM "" attest

# 2. The store never answers: stopped while the manifest is fetched,
#    with the TLS files already written.
sp_new_target
CFG_SOURCE=$SILENT_URL CFG_TLS=1 \
	stop_case store-hang TERM "$TLS_DIR/tls.key" unseal

# 3. Mid-unseal (the store stalls after the first bytes), by SIGINT.
sp_new_target
CFG_SOURCE=$STORE_URL CFG_TLS=1 \
	stop_case unseal-int INT "$TARGET/.sealpod-owned" unseal

sp_finish
