#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154
# A ~20 MiB model (three 8 MiB chunks) from HTTPS stores that do not
# keep to ranges:
#   - a store that ignores Range (200 and the whole body to every GET):
#     the blob comes as one stream, also with a small memory budget and
#     a single worker (the streaming worker must open chunks itself to
#     free slots), and after a broken connection, resumed by skipping
#     what already arrived;
#   - a blob longer than its sealed size, from a store that honours Range
#     and from one that ignores it: refused as blob_too_long;
#   - a blob shorter than its sealed size from a store that ignores
#     Range: blob_truncated.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture
sp_start_kbs --policy allow

# The fixture's model is small; seal a larger one under the same key.
BIG_IN=$WORK/in-big
mkdir -p "$BIG_IN"
"$PY" "$PEERS/make_gguf.py" --seed "$$" --min-mib 20 "$BIG_IN/model.gguf" ||
	exit 1
cp "$MODEL_IN/config.json" "$BIG_IN/config.json"
MODEL_FILE=$BIG_IN/model.gguf
SEALED=$WORK/sealed-big
sp_seal "$KEYFILE" "$BIG_IN" "$SEALED" 3 || exit 1
STORE=$SEALED
BLOB=$(sp_model_blob)
BLOB_NAME=/blobs/$(basename "$BLOB")
SIZE=$(stat -c %s "$BLOB")
sp_log "model blob: $SIZE bytes"
[ "$SIZE" -gt $((16 * 1024 * 1024)) ] || {
	sp_fail "model blob is only $SIZE bytes, want more than two chunks"
	sp_finish
}

# run_with LABEL [memory_mib workers]: run init against STORE_URL.
run_with() {
	local label=$1
	sp_new_target
	CONFIG=$WORK/$label.yaml
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	CFG_SOURCE=$STORE_URL CFG_TLS=1 sp_config "$CONFIG"
	if [ $# -ge 3 ]; then
		sed -i "s/^  min_version:.*/&\n  memory_mib: $2\n  workers: $3/" \
			"$CONFIG"
	fi
	timeout "$INIT_TIMEOUT" "$INIT" run --config "$CONFIG" >"$OUT" 2>"$ERR"
	RC=$?
	sp_log "$label: sealpod-init exited $RC"
}

# expect_ok LABEL: the model arrived, whole; then it goes, so that the
# plaintext scans of the failure cases start clean.
expect_ok() {
	sp_expect_rc 0 "$1"
	sp_check "$1: model differs or is missing" \
		cmp -s "$MODEL_FILE" "$TARGET/model.gguf"
	sp_check "$1: no ready marker" test -f "$TARGET/$READY_NAME"
	sp_expect_no_secrets "$1"
	rm -rf "$TARGET" "$TLS_DIR"
}

# big_gets: GETs of the model blob in the store's log.
big_gets() {
	grep -c "\"path\": *\"$BLOB_NAME\"" "$store_LOG"
}

# 1. Ignores Range, default budget (8 MiB chunks): one stream per blob,
#    switched to on the first 200, and said once.
sp_start_store "$SEALED" --ignore-range
run_with norange
expect_ok norange
sp_check "norange: switch to streaming not logged" \
	grep -q '"event":"unseal.store.range_ignored".*"reason":"store_ignores_range"' \
	"$ERR"
n=$(big_gets)
sp_log "norange: $n GETs of the model blob"
# Each GET carries the whole blob; one per chunk at most (a chunk in
# flight when the switch came is read from its own stream).
sp_check "norange: $n GETs of a 3-chunk blob" test "$n" -le 3

# 2. The same with 2 MiB for 1 worker: 1 MiB slots, two of them; the
#    one worker streams and opens in turn.
run_with norange-small 2 1
expect_ok norange-small
run_with norange-small2 2 2
expect_ok norange-small2
sp_stop_peer store

# 3. Ignores Range and breaks the first long transfer after 12 MiB: the
#    stream resumes, skipping what it had, and says so.
sp_start_store "$SEALED" --ignore-range --drop-once $((12 * 1024 * 1024))
run_with norange-drop
expect_ok norange-drop
sp_check "norange-drop: no retry logged" \
	grep -q '"event":"unseal.blob.retry"' "$ERR" || {
	cat "$store_LOG" >&2
	grep -v progress "$ERR" >&2
}
sp_stop_peer store

# 4. A blob longer than sealed: from a store that keeps to ranges (the
#    last range asks for one byte more) and from one that ignores them.
sp_copy_store long
printf 'tail' >>"$(sp_model_blob)"
sp_start_store "$STORE"
run_with long-ranged
sp_expect_failed_closed long-ranged "$EXIT_INTEGRITY" 'blob_too_long'
sp_stop_peer store
sp_start_store "$STORE" --ignore-range
run_with long-norange
sp_expect_failed_closed long-norange "$EXIT_INTEGRITY" 'blob_too_long'
sp_stop_peer store

# 5. A blob shorter than sealed (one segment's worth) from a store that
#    ignores Range.
sp_copy_store short
truncate -s $((SIZE - 1048576)) "$(sp_model_blob)"
sp_start_store "$STORE" --ignore-range
run_with short-norange
sp_expect_failed_closed short-norange "$EXIT_INTEGRITY" 'blob_truncated'
sp_stop_peer store

# 6. Control: the intact store over a server that honours Range.
sp_start_store "$SEALED"
run_with ranged
expect_ok ranged
sp_stop_peer store

sp_finish
