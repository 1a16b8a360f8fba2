#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2012
# Regression (found by h13): a target on tmpfs that holds someone else's
# file (neither .sealpod-owned nor .sealpod-ready) is refused with exit
# 15 target_not_empty, as documented, but only at the unseal step: by
# then sealpod-init has attested, the KBS has released the model key
# and the sidecar's TLS key, and tls.crt/tls.key were written. A run
# that is bound to fail must not ask for keys (test_init_target.sh holds
# the same rule for a disk target). The foreign file must stay.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture
sp_start_kbs --policy allow

sp_new_target
printf 'not sealpod output\n' >"$TARGET/notes.txt"
CFG_SOURCE=file://$SEALED CFG_TLS=1 sp_run_init foreign-target
sp_expect_rc "$EXIT_TARGET" foreign-target
if line=$(logcheck reason 'target_not_empty|not_empty' "$OUT" "$ERR"); then
	SP_CHECKS=$((SP_CHECKS + 1))
	sp_log "foreign-target: logged $line"
else
	sp_fail "foreign-target: no target_not_empty reason logged"
fi
sp_check "foreign-target: the foreign file was touched" \
	test "$(cat "$TARGET/notes.txt")" = "not sealpod output"
sp_check "foreign-target: other files appeared in the target" \
	test "$(find "$TARGET" -mindepth 1 | wc -l)" -eq 1
sp_check "foreign-target: tls dir not empty" sp_dir_empty "$TLS_DIR"
sp_expect_no_secrets foreign-target
n=$(sp_audit_count endpoint=resource)
sp_check "foreign-target: $n resources released before the target check" \
	test "$n" -eq 0

sp_finish
