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

# Every usage error ends with the final init.failed (reason usage, exit
# 2), and stderr holds JSON lines only when it is not a terminal (h32 L19).
last_failed() { # LABEL
	sp_check "$1: last line is not init.failed reason usage" \
		sh -c "tail -n 1 '$ERR' | grep -q '\"event\":\"init.failed\",\"reason\":\"usage\".*\"exit_code\":2'"
	sp_check "$1: non-JSON lines on stderr" logcheck jsonlines "$ERR"
}
run badcmd2 frobnicate
sp_expect_rc "$EXIT_USAGE" "unknown command"
last_failed badcmd2
run badopt run --frobnicate
sp_expect_rc "$EXIT_USAGE" "unknown run option"
last_failed badopt

# A repeated --config is refused, not silently the last one.
sed -e '/^colour/d' "$WORK/unknown.yaml" >"$WORK/good.yaml"
run twoconfigs run --config "$WORK/good.yaml" --config "$WORK/badtee.yaml"
sp_expect_rc "$EXIT_USAGE" "--config twice"
sp_check "--config twice: not named" grep -q 'config given twice' "$ERR"
last_failed twoconfigs

# The store URL's shape is checked with the configuration, before
# anything runs (h32 L9): a query on a file:// source.
sed -e 's|^  source: .*|  source: "file:///nonexistent?x=1"|' \
	"$WORK/good.yaml" >"$WORK/query.yaml"
run query run --config "$WORK/query.yaml"
sp_expect_rc "$EXIT_USAGE" "file:// source with a query"
sp_check "query: not a config.invalid for artifacts.source" \
	grep -q '"event":"config.invalid".*artifacts.source.*query' "$ERR"
sp_check "query: something ran after the configuration" \
	grep -q '"event":"init.failed".*"step":"config"' "$ERR"

# kbs.ca that is a private key, not a bundle: a configuration error.
bash "$PEERS/mkcerts.sh" "$WORK/pki" >/dev/null || exit 1
sed -e "s|^  url: https://127.0.0.1:1|&\n  ca: $WORK/pki/ca.key|" \
	"$WORK/good.yaml" >"$WORK/caiskey.yaml"
run caiskey run --config "$WORK/caiskey.yaml"
sp_expect_rc "$EXIT_USAGE" "kbs.ca is a private key"
sp_check "caiskey: not named as a bad certificate bundle" \
	grep -q '"event":"config.invalid".*kbs.ca: is not a PEM certificate bundle' \
	"$ERR"
sp_check "caiskey: key material in the log" \
	sh -c "! grep -q 'PRIVATE' '$ERR'"
sed -e "s|^  url: https://127.0.0.1:1|&\n  ca: $WORK/pki/ca.crt|" \
	"$WORK/good.yaml" >"$WORK/caok.yaml"
run caok run --config "$WORK/caok.yaml"
sp_check "caok: a good bundle refused ($RC)" \
	sh -c "! grep -q '\"event\":\"config.invalid\"' '$ERR'"

# `unseal` with a bad --source leaves an earlier good target alone
# (h32 L10).
mkdir -p "$WORK/model"
head -c 5000 /dev/urandom >"$WORK/model/w.bin"
timeout 30 "$INIT" seal --key "$WORK/model.key" --in "$WORK/model" \
	--out "$WORK/sealed" 2>"$WORK/seal.stderr" || sp_fail "seal"
sp_tmpdir UTARGET /dev/shm
run unseal-good unseal --key "$WORK/model.key" \
	--source "file://$WORK/sealed" --target "$UTARGET"
sp_expect_rc 0 "unseal into a fresh target"
run unseal-noscheme unseal --key "$WORK/model.key" \
	--source "$WORK/sealed" --target "$UTARGET"
sp_expect_rc "$EXIT_USAGE" "unseal --source without a scheme"
sp_check "unseal-noscheme: the earlier good target was wiped" \
	cmp -s "$WORK/model/w.bin" "$UTARGET/w.bin"
last_failed unseal-noscheme

# seal names the option of a directory it cannot use, the reason for an
# input it refuses (its path only on a terminal), and refuses an empty
# --in unless --allow-empty (h32 L11, h37 L5).
run seal-noin seal --key "$WORK/s.key" --in "$WORK/no-such-in" \
	--out "$WORK/s-out"
sp_expect_rc "$EXIT_USAGE" "seal --in missing"
sp_check "seal-noin: --in not named" \
	grep -q '"reason":"dir_unusable","option":"--in"' "$ERR"
run seal-noout seal --key "$WORK/s.key" --in "$WORK/model" \
	--out "$WORK/no-such-parent/out"
sp_expect_rc "$EXIT_USAGE" "seal --out parent missing"
sp_check "seal-noout: --out's parent not named" \
	grep -q "\"reason\":\"dir_unusable\",\"option\":\"--out's parent\"" \
	"$ERR"
mkdir -p "$WORK/empty-in" "$WORK/fifo-in/sub"
run seal-empty seal --key "$WORK/s.key" --in "$WORK/empty-in" \
	--out "$WORK/s-out"
sp_expect_rc "$EXIT_USAGE" "seal of an empty --in"
sp_check "seal-empty: not refused as input_empty" \
	grep -q '"reason":"input_empty"' "$ERR"
sp_check "seal-empty: output left behind" test ! -e "$WORK/s-out"
run seal-empty-ok seal --key "$WORK/s.key" --in "$WORK/empty-in" \
	--out "$WORK/s-out" --allow-empty
sp_expect_rc 0 "seal --allow-empty of an empty --in"
mkfifo "$WORK/fifo-in/sub/pipe"
run seal-fifo seal --key "$WORK/s.key" --in "$WORK/fifo-in" \
	--out "$WORK/s-out2"
sp_expect_rc "$EXIT_USAGE" "seal of a FIFO"
sp_check "seal-fifo: not refused as input_not_regular_file" \
	grep -q '"reason":"input_not_regular_file"' "$ERR"
# Model file names never reach a log, not even seal's (only a terminal
# is shown the path; this stderr is a file).
sp_check "seal-fifo: the input's name reached the log" \
	sh -c "! grep -q 'pipe' '$ERR'"

sp_finish
