#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154
# The model identity (h22 F2). Whoever holds the store can serve another
# model sealed under the same key, with a higher version, in place of
# this one: it authenticates and passes min_version. With
# `artifacts.model_id` (`unseal --model-id`) a manifest naming another
# model, or none, is refused with exit 14, reason
# manifest_model_mismatch, before any blob is fetched; without it
# nothing changes. `seal` keeps a store's model on update, and
# `import-kserve --model-id` writes one too.
#
# Exit 0 pass, 1 fail, 77 skip.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture

# Model A, this pod's, sealed with its identity; model B, another
# model under the same key with a higher version.
STORE_A=$WORK/store-a
STORE_B=$WORK/store-b
B_IN=$WORK/in-b
mkdir -p "$B_IN"
"$PY" "$PEERS/make_gguf.py" --seed "$(($$ + 1))" "$B_IN/model.gguf" ||
	exit 1
printf '{"name":"other"}\n' >"$B_IN/config.json"

# seal_model LABEL IN OUT VERSION ARGS...: sets RC, OUT, ERR.
seal_model() {
	local label=$1 in=$2 out=$3 version=$4
	shift 4
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	timeout "$INIT_TIMEOUT" "$INIT" seal --key "$KEYFILE" --in "$in" \
		--out "$out" --version "$version" "$@" >"$OUT" 2>"$ERR"
	RC=$?
	sp_log "$label: sealpod-init seal exited $RC"
}

seal_model seal-a "$MODEL_IN" "$STORE_A" 3 --model-id model-a
sp_expect_rc 0 seal-a || exit 1
seal_model seal-b "$B_IN" "$STORE_B" 7 --model-id model-b
sp_expect_rc 0 seal-b || exit 1

# unseal_case LABEL STORE ARGS...: `sealpod-init unseal` from STORE over
# file:// into a fresh target; sets RC, OUT, ERR.
unseal_case() {
	local label=$1 store=$2
	shift 2
	sp_new_target
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	timeout "$INIT_TIMEOUT" "$INIT" unseal --key "$KEYFILE" \
		--source "file://$store" --target "$TARGET" "$@" \
		>"$OUT" 2>"$ERR"
	RC=$?
	sp_log "$label: sealpod-init unseal exited $RC"
}

# same_tree LABEL IN: every file under IN is in TARGET, identical; then
# the plaintext goes, so later scans for leftovers see none of it.
same_tree() {
	local label=$1 in=$2 f
	while IFS= read -r f; do
		sp_check "$label: ${f#"$in"/} differs or is missing" \
			cmp -s "$f" "$TARGET/${f#"$in"/}"
	done < <(find "$in" -type f)
	rm -rf "$TARGET"
}

# 1. The pinned model opens; so does it unpinned.
unseal_case pinned "$STORE_A" --model-id model-a --min-version 3
sp_expect_rc 0 pinned && same_tree pinned "$MODEL_IN"
sp_check "pinned: unseal.manifest.ok without model_pinned" \
	grep -q '"event":"unseal.manifest.ok".*"model_pinned":true' "$ERR"
unseal_case unpinned "$STORE_A" --min-version 3
sp_expect_rc 0 unpinned && same_tree unpinned "$MODEL_IN"

# 2. The store holder swaps in model B (same key, version 7): refused
# when pinned, with nothing fetched but the manifest; accepted unpinned,
# as the docs say.
SWAP=$WORK/store-swapped
cp -a "$STORE_B" "$SWAP"
unseal_case swapped "$SWAP" --model-id model-a --min-version 3
sp_expect_failed_closed swapped "$EXIT_INTEGRITY" '^manifest_model_mismatch$'
sp_check "swapped: model identities logged" \
	sh -c "! grep -q 'model-[ab]' '$ERR'"
# No blob read: with blobs/ gone the answer must stay the same.
mv "$SWAP/blobs" "$SWAP/blobs.away"
unseal_case swapped-noblobs "$SWAP" --model-id model-a --min-version 3
sp_expect_failed_closed swapped-noblobs "$EXIT_INTEGRITY" \
	'^manifest_model_mismatch$'
mv "$SWAP/blobs.away" "$SWAP/blobs"
unseal_case swapped-unpinned "$SWAP" --min-version 3
sp_expect_rc 0 swapped-unpinned && same_tree swapped-unpinned "$B_IN"

# 3. A manifest without a model under a pin: refused. Unpinned: as today.
unseal_case absent "$SEALED" --model-id model-a
sp_expect_failed_closed absent "$EXIT_INTEGRITY" '^manifest_model_mismatch$'
sp_check "absent: manifest_has_model not false" \
	grep -q '"manifest_has_model":false' "$ERR"
unseal_case not-configured "$SEALED"
sp_expect_rc 0 not-configured && same_tree not-configured "$MODEL_IN"

# 4. A malformed identity is a usage error.
unseal_case bad-id "$STORE_A" --model-id 'model a'
sp_expect_rc "$EXIT_USAGE" bad-id

# 5. `run`: artifacts.model_id end to end, the store over HTTPS.
sp_start_kbs --policy allow

# run_with LABEL STORE EXTRA_YAML: `run` against an HTTPS store of STORE
# (a peer of its own, so its request log is this run's alone) with more
# artifacts keys; sets RC, OUT, ERR, STORE_LOG.
RUNS=0
run_with() {
	local label=$1 store=$2 extra=$3 peer port
	RUNS=$((RUNS + 1))
	peer=store$RUNS
	sp_start_peer "$peer" artifact_server.py --root "$store" \
		--cert "$CERTS/artifacts.crt" --key "$CERTS/artifacts.key"
	port=${peer}_PORT
	STORE_URL=https://127.0.0.1:${!port}
	STORE_LOG=$WORK/$peer.log
	sp_new_target
	CONFIG=$WORK/$label.yaml
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	CFG_SOURCE=$STORE_URL CFG_MIN_VERSION=3 sp_config "$CONFIG"
	printf '%s\n' "$extra" | sed 's/^/  /' >"$WORK/extra"
	sed -i "/^artifacts:/r $WORK/extra" "$CONFIG"
	timeout "$INIT_TIMEOUT" "$INIT" run --config "$CONFIG" >"$OUT" \
		2>"$ERR"
	RC=$?
	sp_stop_peer "$peer"
	sp_log "$label: sealpod-init run exited $RC"
}

run_with run-pinned "$STORE_A" "model_id: model-a"
sp_expect_rc 0 run-pinned && same_tree run-pinned "$MODEL_IN"
sp_expect_no_secrets run-pinned

run_with run-swapped "$SWAP" "model_id: model-a"
sp_expect_failed_closed run-swapped "$EXIT_INTEGRITY" \
	'^manifest_model_mismatch$'
sp_check "run-swapped: init.failed cause not manifest_model_mismatch" \
	grep -q '"event":"init.failed".*"cause":"manifest_model_mismatch"' \
	"$ERR"
sp_check "run-swapped: no manifest request in the store log" \
	grep -q 'manifest.sealed' "$STORE_LOG"
sp_check "run-swapped: a blob was fetched" \
	sh -c "! grep -q 'blobs/' '$STORE_LOG'"

run_with run-absent "$SEALED" "model_id: model-a"
sp_expect_failed_closed run-absent "$EXIT_INTEGRITY" \
	'^manifest_model_mismatch$'

run_with run-bad-id "$STORE_A" "model_id: model/a"
sp_expect_rc "$EXIT_USAGE" run-bad-id
sp_check "run-bad-id: no config problem named" \
	grep -q 'artifacts.model_id: must be 1-128 characters' "$ERR"

# 6. seal keeps a store's model: another one, or none, is refused and
# the store left as it was; the same one updates it.
cp "$STORE_A/manifest.sealed" "$WORK/manifest-a.before"
blobs_before=$(find "$STORE_A/blobs" -type f | wc -l)
seal_model seal-other "$B_IN" "$STORE_A" 8 --model-id model-b
sp_expect_rc "$EXIT_USAGE" seal-other
sp_check "seal-other: reason out_dir_holds_other_model not logged" \
	grep -q '"reason":"out_dir_holds_other_model"' "$ERR"
seal_model seal-none "$MODEL_IN" "$STORE_A" 8
sp_expect_rc "$EXIT_USAGE" seal-none
sp_check "seal-none: reason out_dir_holds_other_model not logged" \
	grep -q '"reason":"out_dir_holds_other_model"' "$ERR"
sp_check "refused seals changed the manifest" \
	cmp -s "$STORE_A/manifest.sealed" "$WORK/manifest-a.before"
sp_check "refused seals left blobs behind" \
	test "$(find "$STORE_A/blobs" -type f | wc -l)" -eq "$blobs_before"
seal_model seal-same "$MODEL_IN" "$STORE_A" 8 --model-id model-a
sp_expect_rc 0 seal-same
unseal_case after-update "$STORE_A" --model-id model-a --min-version 8
sp_expect_rc 0 after-update && same_tree after-update "$MODEL_IN"
seal_model seal-bad-id "$MODEL_IN" "$WORK/store-bad" 1 --model-id 'a b'
sp_expect_rc "$EXIT_USAGE" seal-bad-id
sp_check "seal-bad-id: store created" test ! -e "$WORK/store-bad"

# 7. import-kserve writes the identity too.
JWE_PY=$SEALPOD_SRC/tests/integration/kserve_jwe.py
KEK=$WORK/kserve.kek
KS_IN=$WORK/kserve-in
KS_OUT=$WORK/kserve-out
"$PY" "$JWE_PY" kek "$KEK" || exit 1
"$PY" "$JWE_PY" tree "$KEK" "$MODEL_IN" "$KS_IN" || exit 1
timeout "$INIT_TIMEOUT" "$INIT" import-kserve --kek "$KEK" --in "$KS_IN" \
	--key "$KEYFILE" --out "$KS_OUT" --version 4 --model-id model-k \
	>"$WORK/ks.stdout" 2>"$WORK/ks.stderr"
RC=$?
ERR=$WORK/ks.stderr
sp_expect_rc 0 import-kserve
unseal_case ks-pinned "$KS_OUT" --model-id model-k
sp_expect_rc 0 ks-pinned && same_tree ks-pinned "$MODEL_IN"
unseal_case ks-other "$KS_OUT" --model-id model-a
sp_expect_failed_closed ks-other "$EXIT_INTEGRITY" '^manifest_model_mismatch$'
timeout "$INIT_TIMEOUT" "$INIT" import-kserve --kek "$KEK" --in "$KS_IN" \
	--key "$KEYFILE" --out "$WORK/kserve-bad" --model-id 'k/1' \
	>"$WORK/ks-bad.stdout" 2>"$WORK/ks-bad.stderr"
RC=$?
ERR=$WORK/ks-bad.stderr
sp_expect_rc "$EXIT_USAGE" import-kserve-bad-id
sp_check "import-kserve-bad-id: store created" test ! -e "$WORK/kserve-bad"

sp_finish
