#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2317
# sealpod-init import-kserve: a KServe confidential model directory
# (per-file JWE compact, A256KW + A256GCM; made here with
# python3-cryptography by kserve_jwe.py, and cross-checked with jwcrypto,
# KServe's own JOSE library, when installed) becomes a sealed store that
# `run` unseals to the original bytes; memory stays bounded on a large
# file; a damaged file, the wrong KEK, an unsupported header, a cut file
# or a public KEK file fail, and nothing unauthenticated is kept.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture
JWE_PY=$SEALPOD_SRC/tests/integration/kserve_jwe.py
jwe() { "$PY" "$JWE_PY" "$@"; }
absent() { ! grep -q "$@"; } # ARGS...: grep finds nothing

KEK=$WORK/kserve.kek
jwe kek "$KEK" || exit 1

# The plaintext model: the fixture's files, an empty one, and one that
# KServe recognises by its first bytes rather than a ".jwe" name.
SRC=$WORK/kserve-src
cp -a "$MODEL_IN" "$SRC"
: >"$SRC/empty.bin"
KS_IN=$WORK/kserve-in
jwe tree "$KEK" "$SRC" "$KS_IN" --plain config.json || exit 1
mv "$KS_IN/tokenizer/extra.json.jwe" "$KS_IN/tokenizer/extra.json"

# ks_import LABEL IN OUT [KEK]: run import-kserve; sets RC, OUT, ERR.
ks_import() {
	local label=$1 in=$2 out=$3 kek=${4:-$KEK}
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	rm -rf "$out"
	timeout "$INIT_TIMEOUT" "$INIT" import-kserve --kek "$kek" --in "$in" \
		--key "$KEYFILE" --out "$out" --version 3 >"$OUT" 2>"$ERR"
	RC=$?
	sp_log "$label: import-kserve exited $RC"
}

# ks_refused LABEL WANT REGEX DIR: the import failed as it should and
# left no manifest, no temporary blob, no plaintext.
ks_refused() {
	local label=$1 want=$2 regex=$3 dir=$4 line
	sp_expect_rc "$want" "$label"
	if line=$(logcheck reason "$regex" "$OUT" "$ERR"); then
		SP_CHECKS=$((SP_CHECKS + 1))
		sp_log "$label: logged $line"
	else
		sp_fail "$label: no reason /$regex/ logged"
	fi
	sp_check "$label: manifest written" test ! -e "$dir/manifest.sealed"
	sp_check "$label: temporary blob left" \
		test -z "$(find "$dir" -name '.tmp-*' 2>/dev/null)"
	sp_check "$label: plaintext left" logcheck plaintext-scan \
		"$MODEL_FILE" "$STAMP" "$WORK/kserve-src" "$dir"
	ks_no_secrets "$label"
}

ks_no_secrets() {
	sp_check "$1: KEK in output" logcheck nosecret "$KEK" "$OUT" "$ERR"
	sp_check "$1: model key in output" \
		logcheck nosecret "$KEYFILE" "$OUT" "$ERR"
	sp_check "$1: non-JSON log lines" logcheck jsonlines "$ERR"
	sp_check "$1: a file name in the log" \
		absent "model.gguf\|extra.json\|vocab" "$ERR"
}

# 0. The generator makes what KServe's library decrypts.
jwe check "$KEK" "$KS_IN/model.gguf.jwe" "$SRC/model.gguf"
case $? in
0) SP_CHECKS=$((SP_CHECKS + 1)) ;;
77) sp_log "jwcrypto not installed: generator cross-check skipped" ;;
*) sp_fail "jwcrypto does not decrypt our JWE to the plaintext" ;;
esac

# 1. Import, then unseal with run: the original bytes come back.
sp_start_kbs --policy allow
ks_import import "$KS_IN" "$WORK/ks-out"
if sp_expect_rc 0 import; then
	n=$(find "$WORK/ks-out/blobs" -type f | wc -l)
	want=$(find "$SRC" -type f | wc -l)
	sp_check "import: $n blobs, want $want" test "$n" -eq "$want"
	sp_check "import: temporary blob left" \
		test -z "$(find "$WORK/ks-out" -name '.tmp-*')"
	sp_check "import: plaintext in the store" logcheck plaintext-scan \
		"$MODEL_FILE" "$STAMP" "$WORK/kserve-src" "$WORK/ks-out"
	sp_new_target
	CFG_SOURCE=file://$WORK/ks-out CFG_MIN_VERSION=3 sp_run_init ks-run
	if sp_expect_rc 0 ks-run; then
		while IFS= read -r f; do
			rel=${f#"$SRC"/}
			sp_check "ks-run: $rel differs" cmp -s "$f" "$TARGET/$rel"
		done < <(find "$SRC" -type f)
		sp_check "ks-run: a .jwe name in the target" \
			test -z "$(find "$TARGET" -name '*.jwe')"
		# Imported blobs have their headers pinned, like sealed ones.
		sp_check "ks-run: a blob bound by digest, not header" \
			absent '"bound":"digest"' "$ERR"
		sp_check "ks-run: no blob bound by header" \
			grep -q '"bound":"header"' "$ERR"
	fi
	rm -rf "${TARGET:?}"/* "$TARGET"/.sealpod-*
fi
ks_no_secrets import

# 2. A file that jwcrypto itself encrypted.
mkdir -p "$WORK/ks-jwcrypto"
jwe jwcrypto-encrypt "$KEK" "$SRC/config.json" \
	"$WORK/ks-jwcrypto/config.json.jwe"
if [ $? -eq 77 ]; then
	sp_log "jwcrypto not installed: its own JWE not tried"
else
	ks_import jwcrypto "$WORK/ks-jwcrypto" "$WORK/ks-out-jwcrypto"
	if sp_expect_rc 0 jwcrypto; then
		sp_new_target
		CFG_SOURCE=file://$WORK/ks-out-jwcrypto CFG_MIN_VERSION=3 \
			sp_run_init jwcrypto-run
		sp_expect_rc 0 jwcrypto-run &&
			sp_check "jwcrypto-run: config.json differs" \
				cmp -s "$SRC/config.json" "$TARGET/config.json"
		rm -rf "${TARGET:?}"/* "$TARGET"/.sealpod-*
	fi
fi
sp_stop_peer kbs

# 3. Bounded memory: 48 MiB of plaintext (64 MiB of JWE text).
BIG=$WORK/ks-big
mkdir -p "$BIG"
head -c $((48 * 1024 * 1024)) /dev/urandom >"$WORK/big.bin"
jwe encrypt "$KEK" "$WORK/big.bin" "$BIG/big.bin.jwe" || exit 1
rm -f "$WORK/big.bin"
OUT=$WORK/big.stdout
ERR=$WORK/big.stderr
# Peak RSS of the child in KiB (ru_maxrss); its exit code is ours.
"$PY" - "$WORK/big.rss" timeout "$INIT_TIMEOUT" "$INIT" import-kserve \
	--kek "$KEK" --in "$BIG" --key "$KEYFILE" --out "$WORK/ks-big-out" \
	>"$OUT" 2>"$ERR" <<'EOF'
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)
EOF
RC=$?
rss=$(cat "$WORK/big.rss")
sp_log "big: exit $RC, peak RSS ${rss} KiB"
sp_expect_rc 0 big
sp_check "big: peak RSS ${rss} KiB, want < 32 MiB" test "$rss" -lt 32768
rm -rf "$BIG" "$WORK/ks-big-out"

# 4. One character of a ciphertext changed: the tag fails.
BAD=$WORK/ks-bad
cp -a "$KS_IN" "$BAD"
"$PY" - "$BAD/model.gguf.jwe" <<'EOF'
import sys
path = sys.argv[1]
with open(path, "r+b") as f:
    data = f.read()
    parts = data.split(b".")
    mid = len(parts[0]) + len(parts[1]) + len(parts[2]) + 3 + \
        len(parts[3]) // 2
    f.seek(mid)
    f.write(b"A" if data[mid:mid + 1] != b"A" else b"B")
EOF
ks_import tampered "$BAD" "$WORK/ks-out-bad"
ks_refused tampered "$EXIT_INTEGRITY" jwe_tag_mismatch "$WORK/ks-out-bad"

# 5. The wrong KEK: the key unwrap fails.
jwe kek "$WORK/other.kek" || exit 1
ks_import wrong-kek "$KS_IN" "$WORK/ks-out-kek" "$WORK/other.kek"
ks_refused wrong-kek "$EXIT_INTEGRITY" jwe_unwrap_failed "$WORK/ks-out-kek"

# 6. Headers we do not honour: another algorithm, compression.
ALG=$WORK/ks-alg
mkdir -p "$ALG"
jwe encrypt "$KEK" "$SRC/config.json" "$ALG/config.json.jwe" \
	--alg A128KW || exit 1
ks_import alg "$ALG" "$WORK/ks-out-alg"
ks_refused alg "$EXIT_USAGE" jwe_algorithm_unsupported "$WORK/ks-out-alg"
jwe encrypt "$KEK" "$SRC/config.json" "$ALG/config.json.jwe" \
	--header-json '{"alg":"A256KW","enc":"A256GCM","zip":"DEF"}' || exit 1
ks_import zip "$ALG" "$WORK/ks-out-zip"
ks_refused zip "$EXIT_USAGE" jwe_feature_unsupported "$WORK/ks-out-zip"

# 7. A file cut short (the tag is gone).
CUT=$WORK/ks-cut
cp -a "$KS_IN" "$CUT"
truncate -s -30 "$CUT/model.gguf.jwe"
ks_import cut "$CUT" "$WORK/ks-out-cut"
ks_refused cut "$EXIT_USAGE|$EXIT_INTEGRITY" \
	'jwe_tag|jwe_ciphertext' "$WORK/ks-out-cut"

# 8. A KEK file others can read.
chmod 0644 "$KEK"
ks_import kek-public "$KS_IN" "$WORK/ks-out-public"
ks_refused kek-public "$EXIT_USAGE" key_file_not_private \
	"$WORK/ks-out-public"
chmod 0600 "$KEK"

sp_finish
