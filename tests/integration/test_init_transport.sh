#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2012
# sealpod-init over hostile or broken transport: a KBS or store whose
# certificate does not chain to the configured CA or does not name the
# host, a store that cuts transfers or answers errors. Never a plaintext
# file from a connection it could not trust or finish.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture
FETCH_RE='tls|certif|verif|ssl|peer|connect|fetch|unreach|http|status'
FETCH_RE+='|transfer|partial|recv|timeout'

# trans_case LABEL WANT REGEX: fresh target, run against STORE_URL.
trans_case() {
	sp_new_target
	CFG_SOURCE=$STORE_URL CFG_TLS=1 sp_run_init "$1"
	sp_expect_failed_closed "$1" "$2" "$3"
}

# 1. KBS certificate from another CA, or not naming 127.0.0.1.
sp_start_store "$SEALED"
sp_start_kbs --policy allow
CFG_KBS_CA=$CERTS/other-ca.crt trans_case kbs-wrong-ca "$EXIT_FETCH" \
	"$FETCH_RE"
n=$(sp_audit_count endpoint=auth)
sp_check "kbs-wrong-ca: $n requests reached the untrusted KBS" \
	test "$n" -eq 0
sp_stop_peer kbs
KBS_CERT=wrongname sp_start_kbs --policy allow
trans_case kbs-wrong-name "$EXIT_FETCH" "$FETCH_RE"
n=$(sp_audit_count endpoint=auth)
sp_check "kbs-wrong-name: $n requests reached the misnamed KBS" \
	test "$n" -eq 0
sp_stop_peer kbs
sp_stop_peer store

sp_start_kbs --policy allow

# 2. Store certificate from another CA, or not naming 127.0.0.1.
sp_start_store "$SEALED"
CFG_ARTIFACTS_CA=$CERTS/other-ca.crt trans_case store-wrong-ca \
	"$EXIT_FETCH" "$FETCH_RE"
sp_stop_peer store
STORE_CERT=wrongname sp_start_store "$SEALED"
trans_case store-wrong-name "$EXIT_FETCH" "$FETCH_RE"
sp_stop_peer store

# 3. The store dies part-way (every transfer cut once 1.5 MiB were sent).
sp_start_store "$SEALED" --drop-after $((3 * SEGMENT / 2))
trans_case store-drops "$EXIT_FETCH" "$FETCH_RE"
sp_stop_peer store

# 4. The store answers 500 for the manifest, 404 for it.
sp_start_store "$SEALED" --status /manifest.sealed=500
trans_case store-500 "$EXIT_FETCH" "$FETCH_RE|500"
sp_stop_peer store
sp_start_store "$SEALED" --status /manifest.sealed=404
trans_case store-404 "$EXIT_NOTFOUND" 'not.?found|missing|404'
sp_stop_peer store

# 5. Every response cut after 200 000 bytes (headers announce more). A
# client may resume with ranges and finish, or give up; it must never
# keep a short or unverified file.
sp_start_store "$SEALED" --truncate 200000
sp_new_target
CFG_SOURCE=$STORE_URL sp_run_init store-truncates
if [ "$RC" -eq 0 ]; then
	sp_check "store-truncates: exit 0 but model differs" \
		cmp -s "$MODEL_FILE" "$TARGET/model.gguf"
	sp_expect_no_secrets store-truncates
else
	sp_expect_failed_closed store-truncates "$EXIT_FETCH" "$FETCH_RE"
fi
sp_stop_peer store

sp_finish
