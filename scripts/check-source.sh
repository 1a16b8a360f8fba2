#!/usr/bin/env bash
# The house rules a machine can check: clang-format, 80 columns, calls
# the house style bans, and the known-shortcoming marker.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null ||
	find common init sidecar tests -name '*.[ch]')
fail=0

for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "$f: not clang-formatted (clang-format -i $f)"
		fail=1
	fi
done

# Tabs count as eight columns, as the reader's editor shows them.
wide=$(for f in "${files[@]}"; do
	expand -t 8 "$f" | awk -v f="$f" \
		'length > 80 { print f ":" FNR ": over 80 columns" }'
done)
if [ -n "$wide" ]; then
	echo "$wide"
	fail=1
fi

banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok)[[:space:]]*\('
if grep -nE "$banned" "${files[@]}"; then
	echo "^ calls the house style bans"
	fail=1
fi

if grep -nE '\b(TODO|FIXME)\b' "${files[@]}"; then
	echo "^ use 'XXX: reason' for known shortcomings"
	fail=1
fi

# Raw memcmp on anything named like a secret must be ct_memeq instead.
if grep -nE 'memcmp\([^)]*(key|tag|mac|secret|digest)' "${files[@]}" |
	grep -v '^tests/'; then
	echo "^ compare secrets and MACs with ct_memeq"
	fail=1
fi

[ "$fail" -eq 0 ] && echo "source checks: ok (${#files[@]} files)"
exit "$fail"
