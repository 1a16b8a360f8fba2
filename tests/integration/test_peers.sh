#!/bin/bash
# The independent test peers checked on their own against the reference
# documents (tests/peers/selftest.py) before they judge sealpod.
PY=/usr/bin/python3
SRC=${SEALPOD_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! "$PY" -c 'import cryptography, numpy' 2>/dev/null; then
	echo "SKIP: needs python3-cryptography and python3-numpy" >&2
	exit 77
fi
exec timeout 240 "$PY" "$SRC/tests/peers/selftest.py" -v
