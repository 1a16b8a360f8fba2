#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154
# Stores that do not keep to Range, with several blobs, several workers
# and small budgets (h22 F1, F3, F8, F9). A 3-blob store (40 MB, 20 MB,
# tiny) over HTTPS:
#   - Range ignored always, on every other GET, or for one blob only,
#     workers {2,4,8} x memory_mib {1,2,16}: an intact store unseals to
#     the same bytes every time, within the budget, with no error-level
#     event, one range_ignored warning, and never hangs (each run is
#     bounded). This used to fail as blob_segment_invalid /
#     blob_truncated or hang: a stream read the chunk number of a slot
#     it had already handed on, which another worker could by then have
#     reused for another blob;
#   - a 206 carrying more than its range: blob_too_long at the blob's
#     end, store_range_overrun inside it, never retried (F3);
#   - a 206 that leaves out part of its range: retried and resumed, not
#     blob_truncated; a blob really shorter than sealed still is (F9).
. "$(dirname "$0")/lib.sh"

sp_require
sp_tmpdir WORK
CERTS=$WORK/certs
bash "$PEERS/mkcerts.sh" "$CERTS" >/dev/null 2>&1 || {
	sp_log "FAIL: mkcerts"
	exit 1
}
RUN_TIMEOUT=25
MIB=$((1024 * 1024))

IN=$WORK/in
mkdir -p "$IN"
head -c 40000000 /dev/urandom >"$IN/big.bin"
head -c 20000000 /dev/urandom >"$IN/mid.bin"
echo tiny >"$IN/tiny.txt"
KEY=$WORK/key
SEALED=$WORK/sealed
"$INIT" seal --key "$KEY" --in "$IN" --out "$SEALED" --version 3 \
	>"$WORK/seal.log" 2>&1 || {
	sp_log "FAIL: seal"
	cat "$WORK/seal.log" >&2
	exit 1
}
MID_BLOB=$(find "$SEALED/blobs" -type f -size +15M -size -30M | head -1)
[ -n "$MID_BLOB" ] || {
	sp_log "FAIL: no mid-sized blob"
	exit 1
}

# unseal_with LABEL WORKERS MEMORY_MIB: unseal from STORE_URL into a
# fresh target; sets RC and LOG.
unseal_with() {
	[ -n "${TARGET:-}" ] && rm -rf "$TARGET"
	sp_new_target
	LOG=$WORK/$1.log
	timeout "$RUN_TIMEOUT" "$INIT" unseal --key "$KEY" \
		--source "$STORE_URL" --ca "$CERTS/ca.crt" --target "$TARGET" \
		--workers "$2" --memory-mib "$3" >"$LOG" 2>&1
	RC=$?
}

# expect_intact LABEL MEMORY_MIB: exit 0, every file the same, within
# the budget, nothing said at error level.
expect_intact() {
	local f peak
	sp_check "$1: exit $RC, want 0" test "$RC" -eq 0 || {
		grep -v '"unseal.progress"' "$LOG" | tail -5 >&2
		return
	}
	for f in big.bin mid.bin tiny.txt; do
		sp_check "$1: $f differs" cmp -s "$IN/$f" "$TARGET/$f"
	done
	peak=$(grep -o '"buffers_peak":[0-9]*' "$LOG" | cut -d: -f2)
	sp_check "$1: buffers_peak ${peak:-none} over $2 MiB" \
		test -n "$peak" -a "${peak:-0}" -le $(($2 * MIB))
	sp_check "$1: an error-level event in a run that succeeded" \
		test "$(grep -c '"level":"error"' "$LOG")" -eq 0
	sp_check "$1: range_ignored not warned exactly once" \
		test "$(grep -c '"event":"unseal.store.range_ignored"' \
			"$LOG")" -eq 1
}

# 1. Range ignored always, on every other GET, for the mid blob only.
for mode in ignore alternate one; do
	case $mode in
	ignore) sp_start_store "$SEALED" --ignore-range ;;
	alternate) sp_start_store "$SEALED" --alternate-range ;;
	one)
		sp_start_store "$SEALED" --ignore-range-for \
			"/blobs/$(basename "$MID_BLOB")"
		;;
	esac
	for w in 2 4 8; do
		for m in 1 2 16; do
			unseal_with "$mode-w$w-m$m" "$w" "$m"
			expect_intact "$mode w=$w m=$m" "$m"
		done
	done
	sp_stop_peer store
done

# expect_refused LABEL EXIT REASON: failed closed, with that reason,
# and no range asked for again.
expect_refused() {
	sp_check "$1: exit $RC, want $2" test "$RC" -eq "$2"
	sp_check "$1: no $3" grep -q "\"reason\":\"$3\"" "$LOG"
	sp_check "$1: retried" \
		test "$(grep -c '"event":"unseal.blob.retry"' "$LOG")" -eq 0
	sp_check "$1: a file left in the target" \
		test -z "$(find "$TARGET" -mindepth 1 -not -name '.sealpod-*')"
}

# 2. More than the range: at the end of each blob (7 zero bytes), then
#    inside it (the file's next 4096 bytes).
sp_start_store "$SEALED" --overrun-end 7
for w in 1 4; do
	unseal_with "overrun-end-w$w" "$w" 16
	expect_refused "overrun-end w=$w" "$EXIT_INTEGRITY" blob_too_long
done
sp_stop_peer store
sp_start_store "$SEALED" --overrun 4096
for w in 1 4; do
	unseal_with "overrun-mid-w$w" "$w" 16
	expect_refused "overrun-mid w=$w" "$EXIT_INTERNAL" store_range_overrun
done
sp_stop_peer store

# 3. One 206 with half its range: resumed, the model intact.
sp_start_store "$SEALED" --short-range-once
unseal_with short-reply 2 16
sp_check "short-reply: exit $RC, want 0" test "$RC" -eq 0
sp_check "short-reply: big.bin differs" cmp -s "$IN/big.bin" "$TARGET/big.bin"
sp_check "short-reply: no retry logged" \
	grep -q '"event":"unseal.blob.retry"' "$LOG"
sp_check "short-reply: called blob_truncated" \
	test "$(grep -c '"blob_truncated"' "$LOG")" -eq 0
sp_stop_peer store

# 4. A blob one segment shorter than sealed, served honestly with
#    ranges: still blob_truncated.
SHORT=$WORK/store-short
cp -a "$SEALED" "$SHORT"
truncate -s $(($(stat -c %s "$MID_BLOB") - MIB)) \
	"$SHORT/blobs/$(basename "$MID_BLOB")"
sp_start_store "$SHORT"
unseal_with truncated 4 16
expect_refused truncated "$EXIT_INTEGRITY" blob_truncated
sp_stop_peer store

rm -rf "$TARGET"
sp_finish
