#!/usr/bin/env bash
# Build and run every test: the source checks, then the whole ctest suite
# twice, once on a normal build and once under AddressSanitizer and
# UndefinedBehaviorSanitizer. Exits non-zero on any failure.
#
#   scripts/test.sh            everything
#   scripts/test.sh -R unit    pass ctest filters through (both builds)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

scripts/install-deps.sh

echo "== source checks"
scripts/check-source.sh

echo "== build (release)"
scripts/build.sh build
echo "== build (ASan+UBSan)"
scripts/build.sh build-asan -DSEALPOD_SANITIZE=ON

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

status=0
for dir in build build-asan; do
	echo "== ctest ($dir)"
	if ! ctest --test-dir "$dir" --output-on-failure -j2 "$@"; then
		status=1
	fi
done
exit "$status"
