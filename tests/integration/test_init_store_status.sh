#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2012
# An https:// store's HTTP status reaches the log, and only what a retry
# may mend is retried (h32 review M4, L1, L2, L4):
#   - source.fetch.failed carries "status"; 401/403 and 3xx (we follow no
#     redirect) fail at once with a named reason; 5xx and 429 are retried
#     and logged as warnings until the final error;
#   - init.failed's cause is the specific reason, not the transport's
#     generic source_transfer_failed;
#   - a missing blob or manifest has the same cause as over file://.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture
sp_start_kbs --policy allow
BLOB=/blobs/$(ls -S "$SEALED/blobs" | head -n 1)

# status_case LABEL PATH CODE: a store that answers CODE for PATH, two
# attempts allowed; sets RC and ERR.
status_case() {
	rm -f "$WORK/store.log"
	sp_start_store "$SEALED" --status "$2=$3"
	sp_new_target
	CFG_SOURCE=$STORE_URL CFG_TLS=1 sp_config "$WORK/$1.yaml"
	sed -i 's/^  min_version:.*/&\n  attempts: 2/' "$WORK/$1.yaml"
	ERR=$WORK/$1.stderr
	OUT=$WORK/$1.stdout
	timeout "$INIT_TIMEOUT" "$INIT" run --config "$WORK/$1.yaml" \
		>"$OUT" 2>"$ERR"
	RC=$?
	sp_log "$1: sealpod-init exited $RC"
	REQS=$(grep -c "\"path\": *\"$2\"" "$store_LOG")
	sp_stop_peer store
}

# final_cause LABEL CAUSE: init.failed names CAUSE.
final_cause() {
	sp_check "$1: init.failed cause is not $2 ($(grep init.failed "$ERR"))" \
		grep -q "\"event\":\"init.failed\".*\"cause\":\"$2\"" "$ERR"
}

# refused LABEL PATH CODE REASON: not retried, named, status logged.
refused() {
	status_case "$1" "$2" "$3"
	sp_expect_failed_closed "$1" "$EXIT_FETCH" "$4"
	sp_check "$1: no status $3 in source.fetch.failed" \
		grep -q "\"level\":\"error\".*\"event\":\"source.fetch.failed\",\"reason\":\"$4\".*\"status\":$3" \
		"$ERR"
	sp_check "$1: $REQS requests for $2, want 1 (retried)" \
		test "$REQS" -eq 1
	final_cause "$1" "$4"
}

# transient LABEL PATH CODE CAUSE: retried, warnings until the end.
transient() {
	status_case "$1" "$2" "$3"
	sp_expect_failed_closed "$1" "$EXIT_FETCH" "$4"
	sp_check "$1: $REQS requests for $2, want 2 (not retried)" \
		test "$REQS" -eq 2
	sp_check "$1: a retried failure logged as error" \
		grep -q "\"level\":\"warn\".*\"event\":\"source.fetch.failed\".*\"status\":$3" \
		"$ERR"
	sp_check "$1: source.fetch.failed logged as error" \
		sh -c "! grep -q '\"level\":\"error\".*\"event\":\"source.fetch.failed\"' '$ERR'"
	final_cause "$1" "$4"
}

refused blob-401 "$BLOB" 401 source_access_denied
refused manifest-403 /manifest.sealed 403 source_access_denied
refused blob-302 "$BLOB" 302 source_redirect_refused
sp_check "blob-302: redirect not named" \
	grep -q 'redirect not followed' "$ERR"
refused blob-400 "$BLOB" 400 source_request_refused
transient blob-503 "$BLOB" 503 blob_fetch_failed
transient blob-429 "$BLOB" 429 blob_fetch_failed
transient manifest-500 /manifest.sealed 500 manifest_fetch_failed

# Missing objects: the same causes as file:// (sealed-format.md).
status_case blob-404 "$BLOB" 404
sp_expect_failed_closed blob-404 "$EXIT_NOTFOUND" blob_missing
final_cause blob-404 blob_missing
status_case manifest-404 /manifest.sealed 404
sp_expect_failed_closed manifest-404 "$EXIT_NOTFOUND" manifest_missing
final_cause manifest-404 manifest_missing

# A store that breaks the range rules: the cause names the breach, not
# the transport (h32 L1). A 20 MiB blob is read in ranged chunks.
mkdir -p "$WORK/big-in"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$WORK/big-in/big.bin"
sp_seal "$KEYFILE" "$WORK/big-in" "$WORK/big-sealed" 3 || sp_fail "seal big"
big_case() { # LABEL WANT CAUSE ARGS...
	local label=$1 want=$2 cause=$3
	shift 3
	sp_start_store "$WORK/big-sealed" "$@"
	sp_new_target
	CFG_SOURCE=$STORE_URL CFG_TLS=1 sp_run_init "$label"
	sp_stop_peer store
	sp_expect_rc "$want" "$label"
	sp_check "$label: tls dir not empty" sp_dir_empty "$TLS_DIR"
	sp_check "$label: target not empty" sp_dir_empty "$TARGET"
	final_cause "$label" "$cause"
}
big_case overrun "$EXIT_INTERNAL" store_range_overrun --overrun 100
big_case overrun-end "$EXIT_INTEGRITY" blob_too_long --overrun-end 100

# A transfer that fails once and then succeeds is a healthy run: the
# retried failure is a warning, no error-level line at all (h32 L2).
sp_start_store "$WORK/big-sealed" --drop-once 3000000
sp_new_target
CFG_SOURCE=$STORE_URL CFG_TLS=1 sp_run_init drop-once
sp_stop_peer store
sp_expect_rc 0 "drop-once"
sp_check "drop-once: the retried failure was not logged" \
	grep -q '"level":"warn".*"event":"source.fetch.failed"' "$ERR"
sp_check "drop-once: error-level lines in a run that succeeded" \
	sh -c "! grep -q '\"level\":\"error\"' '$ERR'"

sp_finish
