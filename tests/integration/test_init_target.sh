#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2012
# sealpod-init refuses a target directory on a disk filesystem: the
# plaintext must only ever land on tmpfs or ramfs (R-C5, R-L3).
. "$(dirname "$0")/lib.sh"

sp_require
fstype=$(stat -f -c %T /var/tmp)
case $fstype in
tmpfs | ramfs) sp_skip "/var/tmp is $fstype here, not a disk filesystem" ;;
esac
sp_fixture
sp_start_kbs --policy allow

sp_new_target
sp_tmpdir TARGET /var/tmp
CFG_SOURCE=file://$SEALED CFG_TLS=1 sp_run_init disk-target
sp_expect_failed_closed disk-target "$EXIT_TARGET" \
	'tmpfs|ramfs|filesystem|target|fs'
# Refusing the target must come before asking for keys.
n=$(sp_audit_count endpoint=resource)
sp_check "disk-target: $n key requests before the target check" \
	test "$n" -eq 0

sp_finish
