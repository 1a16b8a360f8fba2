#!/usr/bin/env bash
# test_image_configure: each Containerfile's build stage, configured the
# way the image build does it, on this machine (no container engine).
#
#  1. check_image_configure.py copies exactly the stage's COPY set into a
#     fresh directory and runs its `cmake -S` line (configure only, with
#     SEALPOD_TESTS and SEALPOD_TEST_HOOKS off); every pkg-config module
#     configure looks for must come from a package the stage installs;
#     the init image copies the device TCTI by name and no other.
#  2. The check can fail: a package dropped from the apt list, a COPY
#     dropped, a TCTI glob, and a test-only target outside the
#     SEALPOD_TESTS guard of tests/CMakeLists.txt are each reported.
#
# Exit 0 pass, 1 fail, 77 skip (no cmake, pkg-config or dpkg).
set -euo pipefail

src=${SEALPOD_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
py=/usr/bin/python3
checker=$src/tests/integration/check_image_configure.py
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

for tool in cmake pkg-config dpkg "$py"; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "SKIP: $tool not found"
		exit 77
	}
done
work=$(mktemp -d)

# expect_fail RULE FILE BINARY [SRC]: the checker reports RULE.
expect_fail() {
	local rc=0
	timeout 300 "$py" "$checker" --src "${4:-$src}" --binary "$3" "$2" \
		>"$work/out" 2>&1 || rc=$?
	if [ "$rc" -ne 1 ] || ! grep -q "^FAIL $1:" "$work/out"; then
		cat "$work/out"
		bad "$2 ($3): not reported as $1"
	fi
}

# --- 1. the real Containerfiles ----------------------------------------------

for pair in init:sealpod-init sidecar:sealpod-sidecar; do
	file=$src/images/${pair%%:*}.Containerfile
	bin=${pair#*:}
	if ! timeout 300 "$py" "$checker" --src "$src" --binary "$bin" \
		"$file"; then
		bad "$file: its build stage does not configure as shipped"
	fi
done

# --- 2. the check can fail ---------------------------------------------------

init=$src/images/init.Containerfile
sed -e 's/ libkmod-dev//' "$init" >"$work/no-kmod.Containerfile"
expect_fail apt "$work/no-kmod.Containerfile" sealpod-init
sed -e '/^COPY sidecar\//d' "$init" >"$work/no-sidecar.Containerfile"
expect_fail configure "$work/no-sidecar.Containerfile" sealpod-init
sed -e 's/libtss2-tcti-device\.so\.0/libtss2-tcti-*.so.0/' "$init" \
	>"$work/glob.Containerfile"
expect_fail tcti "$work/glob.Containerfile" sealpod-init

# A test-only target outside the guard: the stand-in's source is not in
# the COPY set, so configure must fail (h20 F2a).
mkdir -p "$work/tree/tests"
cp -r "$src/CMakeLists.txt" "$src/common" "$src/init" "$src/sidecar" \
	"$work/tree/"
sed -e '/^if(NOT SEALPOD_TESTS AND NOT SEALPOD_FUZZ)/,/^endif()/d' \
	"$src/tests/CMakeLists.txt" >"$work/tree/tests/CMakeLists.txt"
if cmp -s "$src/tests/CMakeLists.txt" "$work/tree/tests/CMakeLists.txt"; then
	bad "tests/CMakeLists.txt has no SEALPOD_TESTS guard to remove"
fi
expect_fail configure "$init" sealpod-init "$work/tree"

if [ "$failures" -ne 0 ]; then
	echo "test_image_configure: $failures failure(s)"
	exit 1
fi
echo "test_image_configure: ok"
