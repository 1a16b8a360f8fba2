#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2012
# sealpod-init refuses a tmpfs target that lacks room for the manifest's
# total size, and leaves it empty. Needs mount(2); skips (77) without it.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture
sp_start_kbs --policy allow

sp_new_target
sp_tmpdir SMALL /dev/shm
if ! mount -t tmpfs -o size=1m,mode=0700 sealpod-it "$SMALL" 2>/dev/null; then
	sp_skip "mount -t tmpfs is not permitted here"
fi
SP_MOUNTS+=("$SMALL")
CFG_TARGET=$SMALL CFG_SOURCE=file://$SEALED CFG_TLS=1 sp_run_init no-room
TARGET=$SMALL sp_expect_failed_closed no-room "$EXIT_TARGET" \
	'room|space|full|size|enospc|target'

# Room for most but not all of it (model is ~4 MiB): still refused up
# front rather than by running out half-way.
umount "$SMALL"
mount -t tmpfs -o size=3m,mode=0700 sealpod-it "$SMALL" ||
	sp_fail "remount"
CFG_TARGET=$SMALL CFG_SOURCE=file://$SEALED sp_run_init almost-room
TARGET=$SMALL sp_expect_failed_closed almost-room "$EXIT_TARGET" \
	'room|space|full|size|enospc|target'

sp_finish
