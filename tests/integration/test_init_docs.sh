#!/usr/bin/env bash
# test_init_docs: sealpod-init's help text and docs cannot drift from the
# code (h20 F6, F8). check_init_docs.py checks that every key of
# init_config_keys is in `sealpod-init --help` and docs/configuration.md,
# and that every reason code the attestation path logs is documented;
# then that the check fails on a key dropped from the help text and on a
# reason code dropped from the docs.
#
# Exit 0 pass, 1 fail, 77 skip (sealpod-init not built).
set -euo pipefail

src=${SEALPOD_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${SEALPOD_BUILD:-}
py=/usr/bin/python3
checker=$src/tests/integration/check_init_docs.py
init=${build:+$build/init/sealpod-init}
failures=0
work=

cleanup() {
	if [ -n "$work" ]; then
		rm -rf "$work"
	fi
}
trap cleanup EXIT

bad() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

if [ -z "$init" ] || [ ! -x "$init" ]; then
	echo "SKIP: no sealpod-init in '${build:-unset}'"
	exit 77
fi
work=$(mktemp -d)
timeout 30 "$init" --help >"$work/help.txt"

# 1. As shipped.
if ! "$py" "$checker" --src "$src" --help-text "$work/help.txt"; then
	bad "help text or docs out of step with the code"
fi

# 2. The check can fail: a key gone from the help text ...
grep -v 'tpm.qualifying_bytes' "$work/help.txt" >"$work/help-short.txt"
rc=0
"$py" "$checker" --src "$src" --help-text "$work/help-short.txt" \
	>"$work/out" || rc=$?
if [ "$rc" -ne 1 ] ||
	! grep -q '^FAIL keys: tpm.qualifying_bytes is not in --help' \
		"$work/out"; then
	cat "$work/out"
	bad "a key missing from --help was not reported"
fi

# ... and a reason code gone from the docs.
mkdir -p "$work/tree/docs"
cp -r "$src/init" "$work/tree/"
for f in "$src"/docs/*.md; do
	# shellcheck disable=SC2016 # the backquotes are literal
	sed -e 's/`hcl_hash_unsupported`/hcl_hash_unsupported/g' "$f" \
		>"$work/tree/docs/$(basename "$f")"
done
rc=0
"$py" "$checker" --src "$work/tree" --help-text "$work/help.txt" \
	>"$work/out" || rc=$?
if [ "$rc" -ne 1 ] ||
	! grep -q '^FAIL reasons: hcl_hash_unsupported ' "$work/out"; then
	cat "$work/out"
	bad "an undocumented reason code was not reported"
fi

if [ "$failures" -ne 0 ]; then
	echo "test_init_docs: $failures failure(s)"
	exit 1
fi
echo "test_init_docs: ok"
