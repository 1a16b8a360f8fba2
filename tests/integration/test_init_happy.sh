#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2012
# sealpod-init happy paths: seal a real GGUF model, attest to the KBS
# stand-in (policy allow), fetch over HTTPS and from file://, and check the
# plaintext is byte-identical, the ready marker is there, the sidecar's TLS
# files are written (key mode 0600), and the model server stand-in loads
# the unsealed file and answers.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture

# sp_expect_unsealed LABEL: every input file is in TARGET, identical.
sp_expect_unsealed() {
	local label=$1 f rel
	while IFS= read -r f; do
		rel=${f#"$MODEL_IN"/}
		sp_check "$label: $rel differs or is missing" \
			cmp -s "$f" "$TARGET/$rel"
	done < <(find "$MODEL_IN" -type f)
	sp_check "$label: ready marker missing" test -f "$TARGET/$READY_NAME"
	# Nothing but the plaintext files, their directories, the marker and
	# small .sealpod-* bookkeeping files (not partial plaintext).
	local extra
	extra=$(cd "$TARGET" && find . -mindepth 1 -type f ! -name "$READY_NAME" \
		! \( -name '.sealpod-*' -size -4k \) -printf '%P\n' | sort |
		comm -13 <(cd "$MODEL_IN" && find . -type f -printf '%P\n' |
		sort) -)
	sp_check "$label: unexpected files in target: $extra" test -z "$extra"
}

# 1. HTTPS store, TLS material from the KBS.
sp_start_kbs --policy allow
sp_start_store "$SEALED"
sp_new_target
CFG_SOURCE=$STORE_URL CFG_TLS=1 sp_run_init https
if sp_expect_rc 0 https; then
	sp_expect_unsealed https
	sp_check "https: tls.crt differs" \
		cmp -s "$TLS_DIR/tls.crt" "$CERTS/sidecar-chain.crt"
	sp_check "https: tls.key differs" \
		cmp -s "$TLS_DIR/tls.key" "$CERTS/sidecar.key"
	mode=$(stat -c %a "$TLS_DIR/tls.key" 2>/dev/null)
	sp_check "https: tls.key mode is $mode, want 600" test "$mode" = 600
fi
sp_expect_no_secrets https
n=$(sp_audit_count endpoint=attest status=200 binding_held=true)
sp_check "https: KBS saw no bound attestation" test "$n" -ge 1
n=$(sp_audit_count endpoint=attest binding_held=false)
sp_check "https: KBS saw $n attestations with a broken binding" \
	test "$n" -eq 0
n=$(sp_audit_count endpoint=resource decision=allow)
sp_check "https: KBS released $n resources, want 3" test "$n" -eq 3
n=$(sp_audit_count endpoint=attest jwk_extra_members='[]' jwk_valid=true \
	nonce_match=true)
sp_check "https: tee-pubkey not a clean P-256 JWK, or nonce not echoed" \
	test "$n" -ge 1
n=$("$PY" -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("path", "")
          .startswith("/blobs/") and json.loads(l).get("status") in (200, 206)))
' "$store_LOG")
sp_check "https: no blob fetched over HTTPS" test "$n" -ge 1

# 2. The model server stand-in starts on the unsealed file and answers.
if [ -f "$TARGET/model.gguf" ]; then
	sp_start_peer model model_server.py --model "$TARGET/model.gguf" \
		--token-delay-ms 5
	reply=$(curl -sS --max-time 30 \
		"http://127.0.0.1:$model_PORT/v1/chat/completions" \
		-H 'Content-Type: application/json' \
		-d '{"messages":[{"role":"user","content":"hello"}],"max_tokens":4}')
	sp_check "model server did not answer: $reply" \
		"$PY" -c 'import json, sys
sys.exit(0 if json.loads(sys.argv[1])["choices"][0]["message"]["content"]
         else 1)' "$reply"
	sp_stop_peer model
fi
sp_stop_peer kbs
sp_stop_peer store

# 3. file:// store, no TLS material; the KBS sends a protected header with
# other spacing and member order, which must still open (AAD = the
# received string, ref 3.1).
sp_start_kbs --policy allow --jwe-header-style spaced
sp_new_target
CFG_SOURCE=file://$SEALED sp_run_init file
if sp_expect_rc 0 file; then
	sp_expect_unsealed file
	sp_check "file: TLS files written although not configured" \
		sp_dir_empty "$TLS_DIR"
fi
sp_expect_no_secrets file

# 4. Run again into the same target: the earlier plaintext and marker are
# replaced, the result is the same.
if [ "$RC" -eq 0 ]; then
	CFG_SOURCE=file://$SEALED sp_run_init again
	if sp_expect_rc 0 again; then
		sp_expect_unsealed again
	fi
fi

sp_finish
