#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154
# Chunks of one blob finish reading in any order: with a pinned header
# no digest orders them, so a later chunk may be ready to decrypt before
# the first chunk's reader has created the blob's partial file. With 8
# workers on a 48 MiB blob (six chunks in flight at once) this used to
# end in EBADF, exit 15 target_write_failed, on a good store about one
# run in four. Each run must now give the right answer: a good store
# unseals, and a store with one bit flipped in the first segment fails
# with exit 14 and blob_segment_invalid (not a target error).
# A blob from another sealing run (same key, same path, same size, other
# bytes) must fail as blob_header_mismatch every time: its header is
# compared before any later chunk of it is opened, so no worker opening
# chunk 3 first can make it blob_segment_invalid (h22 F6).
. "$(dirname "$0")/lib.sh"

sp_require
sp_tmpdir WORK
RUNS=12

IN=$WORK/in
mkdir -p "$IN"
head -c $((48 * 1024 * 1024)) /dev/urandom >"$IN/a.bin"
head -c $((30 * 1024 * 1024)) /dev/urandom >"$IN/b.bin"
KEY=$WORK/key
GOOD=$WORK/good
"$INIT" seal --key "$KEY" --in "$IN" --out "$GOOD" 2>"$WORK/seal.log" ||
	sp_fail "seal failed"
BIG=$(find "$GOOD/blobs" -type f -size +40M | head -1)
BAD=$WORK/bad
cp -a "$GOOD" "$BAD"
# Flip one bit at offset 1000: inside segment 0, after the header.
"$PY" -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(1000)
    c = f.read(1)
    f.seek(1000)
    f.write(bytes([c[0] ^ 1]))
' "$BAD/blobs/$(basename "$BIG")"

# FOREIGN: a.bin's blob replaced by a.bin's from another sealing.
IN2=$WORK/in2
mkdir -p "$IN2"
head -c $((48 * 1024 * 1024)) /dev/urandom >"$IN2/a.bin"
cp "$IN/b.bin" "$IN2/b.bin"
OTHER=$WORK/other
"$INIT" seal --key "$KEY" --in "$IN2" --out "$OTHER" 2>"$WORK/seal2.log" ||
	sp_fail "second seal failed"
FOREIGN=$WORK/foreign
cp -a "$GOOD" "$FOREIGN"
cp "$(find "$OTHER/blobs" -type f -size +40M | head -1)" \
	"$FOREIGN/blobs/$(basename "$BIG")"

# unseal_once STORE: one unseal into a fresh target; sets RC and ERR.
unseal_once() {
	[ -n "${TARGET:-}" ] && rm -rf "$TARGET"
	sp_new_target
	ERR=$WORK/unseal.stderr
	timeout "$INIT_TIMEOUT" "$INIT" unseal --key "$KEY" \
		--source "file://$1" --target "$TARGET" --workers 8 \
		--memory-mib 64 >/dev/null 2>"$ERR"
	RC=$?
}

for i in $(seq 1 "$RUNS"); do
	unseal_once "$GOOD"
	sp_check "good run $i: exit $RC, want 0" test "$RC" -eq 0
	if [ "$RC" -eq 0 ]; then
		sp_check "good run $i: a.bin differs" \
			cmp -s "$IN/a.bin" "$TARGET/a.bin"
	fi
	unseal_once "$BAD"
	sp_check "bad run $i: exit $RC, want 14" test "$RC" -eq 14
	sp_check "bad run $i: no blob_segment_invalid" \
		grep -q '"reason":"blob_segment_invalid"' "$ERR"
	sp_check "bad run $i: a file left in the target" \
		test -z "$(find "$TARGET" -mindepth 1 -not -name '.sealpod-*')"
	unseal_once "$FOREIGN"
	sp_check "foreign run $i: exit $RC, want 14" test "$RC" -eq 14
	sp_check "foreign run $i: not blob_header_mismatch" \
		grep -q '"unseal.blob.failed","reason":"blob_header_mismatch"' \
		"$ERR"
	sp_check "foreign run $i: a file left in the target" \
		test -z "$(find "$TARGET" -mindepth 1 -not -name '.sealpod-*')"
done
rm -rf "$TARGET"
sp_finish
