#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2012
# sealpod-init's command line and configuration errors exit with the usage
# code (2) and name the problem; --help documents the exit codes.
. "$(dirname "$0")/lib.sh"

sp_require
sp_tmpdir WORK

run() { # LABEL ARGS...
	local label=$1
	shift
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	timeout 30 "$INIT" "$@" >"$OUT" 2>"$ERR"
	RC=$?
}

run help --help
sp_expect_rc 0 "--help"
for code in 2 10 11 12 13 14 15 20; do
	sp_check "--help does not document exit code $code" \
		grep -qw -- "$code" "$OUT" "$ERR"
done

run noargs
sp_expect_rc "$EXIT_USAGE" "no arguments"

run badcmd frobnicate
sp_expect_rc "$EXIT_USAGE" "unknown command"

run noconfig run --config "$WORK/does-not-exist.yaml"
sp_expect_rc "$EXIT_USAGE" "missing config file"

cat >"$WORK/unknown.yaml" <<YAML
tee: sample
kbs:
  url: https://127.0.0.1:1
key: kbs:///a/b/c
artifacts:
  source: file:///nonexistent
  min_version: 1
target: /dev/shm
colour: blue
YAML
run unknownkey run --config "$WORK/unknown.yaml"
sp_expect_rc "$EXIT_USAGE" "unknown config key"
sp_check "unknown key not reported as file:line: key" \
	grep -q 'unknown.yaml:9.*colour' "$OUT" "$ERR"

sed -e '/^colour/d' -e 's|kbs:///a/b/c|kbs:///a/b/c/d|' \
	"$WORK/unknown.yaml" >"$WORK/badkey.yaml"
run badkey run --config "$WORK/badkey.yaml"
sp_expect_rc "$EXIT_USAGE" "key URI with 4 segments"

sed -e '/^colour/d' -e 's|^tee: sample|tee: nosuchtee|' \
	"$WORK/unknown.yaml" >"$WORK/badtee.yaml"
run badtee run --config "$WORK/badtee.yaml"
sp_expect_rc "$EXIT_USAGE" "unknown tee"

sp_finish
