#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2012
# sealpod-init fails closed on damaged or replayed artifacts: wrong key,
# a flipped bit in every part of a blob and in the manifest, truncated
# blobs, blobs swapped between paths, a manifest older than min_version,
# and a missing blob. Each must exit with its documented code, leave no
# plaintext and no partial file, log a reason, and print no key bytes.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture

INTEGRITY_RE='segment|header|digest|auth|tag|mismatch|decrypt|corrupt|verif'

sp_start_kbs --policy allow

# run_case LABEL WANT_RC REGEX SOURCE: fresh target, run, shared checks.
run_case() {
	sp_new_target
	CFG_SOURCE=$4 sp_run_init "$1"
	sp_expect_failed_closed "$1" "$2" "$3"
}

# Positive control on the same store, so the failures below are caused by
# the damage and not by the set-up.
sp_new_target
CFG_SOURCE=file://$SEALED CFG_MIN_VERSION=3 sp_run_init control
sp_expect_rc 0 "control (version 3 == min_version 3)"
sp_check "control: model not unsealed" cmp -s "$MODEL_FILE" \
	"$TARGET/model.gguf"
rm -rf "$TARGET" "$TLS_DIR"	# so the plaintext scans below start clean

# 1. A flipped bit anywhere in the model blob: the header (length byte,
# salt, nonce prefix), the first, a middle and the last segment, the
# last tag byte. Over file:// and, for one of them, over HTTPS.
sp_copy_store probe
size=$(stat -c %s "$(sp_model_blob)")
sp_log "model blob is $size bytes, $(((size + SEGMENT - 1) / SEGMENT)) segments"
for off in 0 5 36 1000 $((SEGMENT + 1000)) $((size - 200)) $((size - 1)); do
	sp_copy_store "flip$off"
	sp_flip_bit "$(sp_model_blob)" "$off"
	run_case "flip-blob@$off" "$EXIT_INTEGRITY" "$INTEGRITY_RE" \
		"file://$STORE"
done
sp_copy_store fliphttps
sp_flip_bit "$(sp_model_blob)" $((2 * SEGMENT + 7))
sp_start_store "$STORE"
run_case "flip-blob-https" "$EXIT_INTEGRITY" "$INTEGRITY_RE" "$STORE_URL"
sp_stop_peer store

# 2. A flipped bit in the sealed manifest (header and body).
for off in 3 60; do
	sp_copy_store "flipmanifest$off"
	sp_flip_bit "$STORE/manifest.sealed" "$off"
	run_case "flip-manifest@$off" "$EXIT_INTEGRITY" "$INTEGRITY_RE" \
		"file://$STORE"
done

# 3. Truncated blob: at a segment boundary (every remaining segment is
# whole, only the last-segment flag gives it away), one byte short,
# header only, empty; and a truncated manifest.
for cut in "$SEGMENT" $((size - 1)) 40 0; do
	sp_copy_store "cut$cut"
	truncate -s "$cut" "$(sp_model_blob)"
	run_case "truncated-blob@$cut" "$EXIT_INTEGRITY" \
		"$INTEGRITY_RE|trunc|short|size|length" "file://$STORE"
done
sp_copy_store cutmanifest
truncate -s 50 "$STORE/manifest.sealed"
run_case "truncated-manifest" "$EXIT_INTEGRITY" \
	"$INTEGRITY_RE|trunc|short|size|length" "file://$STORE"

# 4. Two blobs of the same size swapped between their paths.
sp_copy_store swap
mapfile -t small < <(ls -Sr "$STORE"/blobs/* | head -n 2)
if [ "$(stat -c %s "${small[0]}")" = "$(stat -c %s "${small[1]}")" ]; then
	mv "${small[0]}" "$STORE/tmp" && mv "${small[1]}" "${small[0]}" &&
		mv "$STORE/tmp" "${small[1]}"
	run_case "swapped-blobs" "$EXIT_INTEGRITY" "$INTEGRITY_RE" \
		"file://$STORE"
else
	sp_fail "swapped-blobs: side files did not seal to equal sizes"
fi

# 5. Rollback: the store's manifest (version 3) is older than min_version,
# and an older release (version 1) under the same key.
sp_new_target
CFG_SOURCE=file://$SEALED CFG_MIN_VERSION=4 sp_run_init rollback
sp_expect_failed_closed rollback "$EXIT_INTEGRITY" 'version|rollback|old'
OLD=$WORK/sealed-v1
sp_seal "$KEYFILE" "$MODEL_IN" "$OLD" 1 || sp_fail "seal v1"
CFG_MIN_VERSION=2 run_case "rollback-v1" "$EXIT_INTEGRITY" \
	'version|rollback|old' "file://$OLD"

# 6. A blob missing from the store.
sp_copy_store missing
rm -f "$(sp_model_blob)"
run_case "missing-blob" "$EXIT_NOTFOUND" 'not.?found|missing|no such|enoent' \
	"file://$STORE"

# 7. Wrong key: the KBS releases another 32-byte key.
sp_stop_peer kbs
WRONG=$WORK/kbs-wrong
mkdir -p "$WRONG/sealpod/model"
head -c 32 /dev/urandom >"$WRONG/sealpod/model/key"
KBS_RES=$WRONG sp_start_kbs --policy allow
run_case "wrong-key" "$EXIT_INTEGRITY" "$INTEGRITY_RE|key" "file://$SEALED"
sp_check "wrong-key: served key in output" \
	logcheck nosecret "$WRONG/sealpod/model/key" "$OUT" "$ERR"

sp_finish
