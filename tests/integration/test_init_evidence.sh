#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154
# `sealpod-init evidence` and `tee: auto` on this machine, which has no
# TEE: the sample evidence carries the report data given; tdx, snp and
# auto fail with the attestation exit code and a reason naming what is
# missing, on empty platform trees and on trees that only look like a
# TEE (a /dev/sev-guest that is a plain file, a configfs-tsm directory
# without a kernel behind it), leaving no configfs entry behind; a
# config with `tee: auto` is accepted and fails at detection, before
# any KBS is contacted. The hardware paths themselves are covered by
# tests/unit/test_attest_tee.c with a fake kernel.
. "$(dirname "$0")/lib.sh"

[ -x "$INIT" ] || {
	sp_log "FAIL: $INIT not built"
	exit 1
}
sp_tmpdir WORK

run() { # LABEL ARGS...
	local label=$1
	shift
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	timeout 30 "$INIT" "$@" >"$OUT" 2>"$ERR"
	RC=$?
}

reason() { # REGEX: some log line on stderr has that reason
	logcheck reason "$1" "$ERR" >/dev/null
}

RD=$(printf '%02x' $(seq 0 47) | tr -d '\n')
run sample evidence --tee sample --report-data "$RD"
sp_expect_rc 0 "sample evidence"
sp_check "sample evidence is not one JSON line binding the report data" \
	"$PY" -c '
import base64, json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
ev = json.loads(lines[0])
assert base64.b64decode(ev["report_data"]) == bytes(range(48)), ev
' "$OUT"
sp_check "stderr is not JSON lines" logcheck jsonlines "$ERR"

EMPTY=$WORK/empty
mkdir -p "$EMPTY"
run auto_empty evidence --tee auto --root "$EMPTY"
sp_expect_rc "$EXIT_ATTEST" "auto on an empty tree"
sp_check "auto: no no_tee_detected reason" reason '^no_tee_detected$'
sp_check "auto printed evidence" test ! -s "$OUT"
# What auto looked for: every platform provider, never sample.
sp_check "auto: 'tried' names sample or misses tdx" sh -c \
	"grep '\"tried\":' '$ERR' | grep -q 'tdx, snp' &&
	 ! grep '\"tried\":' '$ERR' | grep -q 'sample'"

run tdx_empty evidence --tee tdx --root "$EMPTY"
sp_expect_rc "$EXIT_ATTEST" "tdx on an empty tree"
sp_check "tdx: no configfs_tsm_missing reason" \
	reason '^configfs_tsm_missing$'

run snp_empty evidence --tee snp --root "$EMPTY"
sp_expect_rc "$EXIT_ATTEST" "snp on an empty tree"
sp_check "snp: no snp_no_interface reason" reason '^snp_no_interface$'

# A device node that is a plain file: the real ioctl answers ENOTTY,
# which on a real guest means a wiped VMPCK or no driver.
FAKEDEV=$WORK/fakedev
mkdir -p "$FAKEDEV/dev"
: >"$FAKEDEV/dev/sev-guest"
run snp_file evidence --tee snp --root "$FAKEDEV"
sp_expect_rc "$EXIT_ATTEST" "snp with a plain-file device"
sp_check "snp: no ENOTTY reason" \
	reason '^snp_vmpck_disabled_or_no_driver$'
run auto_dev evidence --tee auto --root "$FAKEDEV"
sp_expect_rc "$EXIT_ATTEST" "auto with a plain-file device"
sp_check "auto did not choose snp from the device node" \
	grep -q '"event":"attest.detect.chosen".*"tee":"snp"' "$ERR"

# configfs-tsm as a plain directory: our entry is made, no attributes
# appear, and the entry is removed again.
TSM=$WORK/tsm
REPORTS=$TSM/sys/kernel/config/tsm/report
mkdir -p "$REPORTS"
run tdx_plain evidence --tee tdx --root "$TSM"
sp_expect_rc "$EXIT_ATTEST" "tdx on a kernel-less configfs tree"
sp_check "tdx: no attest.tsm.failed event" \
	grep -q '"event":"attest.tsm.failed"' "$ERR"
sp_check "a configfs-tsm entry was left behind" sp_dir_empty "$REPORTS"

run rd_odd evidence --tee sample --report-data abc
sp_expect_rc "$EXIT_USAGE" "odd-length report data"
run rd_long evidence --tee sample --report-data "$(printf '%0130d' 0)"
sp_expect_rc "$EXIT_USAGE" "65 bytes of report data"
run no_tee evidence
sp_expect_rc "$EXIT_USAGE" "evidence without --tee"
run bad_tee evidence --tee nosuchtee
sp_expect_rc "$EXIT_USAGE" "unknown tee"
run extra evidence --tee sample stray
sp_expect_rc "$EXIT_USAGE" "stray argument"

# tee: auto in a configuration. Only meaningful where this machine has
# no TEE interface of its own for detection to find.
if [ -e /dev/tdx_guest ] || [ -e /dev/sev-guest ] ||
	[ -e /sys/kernel/config/tsm ] || ls /dev/tpm* >/dev/null 2>&1; then
	sp_log "this machine has a TEE or TPM interface: config check skipped"
else
	cat >"$WORK/auto.yaml" <<YAML
tee: auto
kbs:
  url: https://127.0.0.1:1
key: kbs:///a/b/c
artifacts:
  source: file:///nonexistent
target: /dev/shm
YAML
	run config_auto run --config "$WORK/auto.yaml"
	sp_expect_rc "$EXIT_ATTEST" "run with tee: auto and no TEE"
	sp_check "run: no no_tee_detected reason" reason '^no_tee_detected$'
	sp_check "run contacted the KBS before detecting a TEE" \
		sh -c "! grep -q '\"event\":\"kbs\\.' '$ERR'"
fi

sp_finish
