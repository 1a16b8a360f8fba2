#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154
# NVIDIA GPU evidence end to end: sealpod-init run with `gpu:` against
# the KBS stand-in, NVML being the stand-in library built from
# tests/peers/nvml_standin.c (loaded through `gpu_library`, steered by
# SEALPOD_NVML_* in the environment). The KBS stand-in checks that each
# GPU's SPDM request carries the first 32 bytes of the device digest and
# records that the primary evidence binds the additional evidence.
#   required, 2 GPUs             -> attested, key released
#   required, CC off             -> exit 10, gpu_cc_off, KBS not contacted
#   required, no library         -> exit 10, gpu_evidence_unavailable,
#                                   KBS not contacted
#   optional, no library         -> attested without GPU evidence
#   required, oversized report   -> exit 10, gpu_report_size_invalid,
#                                   no /attest, no crash
#   bad gpu_library / azure.imds_url -> exit 2, both named
#   failing architecture / ready-state calls -> their own reasons, not
#                                   gpu_arch_unsupported / gpu_not_ready
#   NVML hangs (init, report) with attest_timeout_s: 2 -> exit 10 in a
#                                   few seconds, evidence_timeout, output
#                                   removed, no key requested
#   init.failed carries the specific cause; gpu_library is announced as
#   a test hook
. "$(dirname "$0")/lib.sh"

sp_require
NVML=$SEALPOD_BUILD/tests/nvml/libnvidia-ml.so
[ -f "$NVML" ] || {
	sp_log "FAIL: $NVML not built (target nvml_standin)"
	exit 1
}
sp_fixture
export SEALPOD_NVML_TRACE=$WORK/nvml.trace

# run_gpu LABEL MODE LIBRARY [ENV=VALUE...]: sealpod-init run, tee sample.
run_gpu() {
	local label=$1 mode=$2 lib=$3
	shift 3
	CONFIG=$WORK/$label.yaml
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	sp_new_target
	CFG_SOURCE=file://$SEALED CFG_TLS=1 sp_config "$CONFIG"
	printf 'gpu: %s\ngpu_library: %s\n' "$mode" "$lib" >>"$CONFIG"
	case " $* " in
	*" SEALPOD_NVML_CONFIG_EXTRA=1 "*)
		echo "attest_timeout_s: 2" >>"$CONFIG"
		;;
	esac
	: >"$SEALPOD_NVML_TRACE"
	env "$@" timeout "$INIT_TIMEOUT" "$INIT" run --config "$CONFIG" \
		>"$OUT" 2>"$ERR"
	RC=$?
	sp_log "$label: sealpod-init exited $RC"
}

requests() { sp_audit_count event=kbs.request; }

# shellcheck disable=SC2317 # called through sp_check
not_logged() { ! logcheck reason "$1" "$2" >/dev/null 2>&1; }

# gpu_attests N [UUIDS]: /attest records whose nvidia device entry held
# with N GPUs, each nonce matching, the primary evidence binding it.
gpu_attests() {
	"$PY" - "$KBS_AUDIT" "$1" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("endpoint") != "attest" or e.get("status") != 200:
        continue
    devs = [d for d in e.get("devices") or [] if d.get("tee") == "nvidia"]
    if len(devs) != 1 or devs[0].get("binding_held") is not True:
        continue
    gpus = devs[0].get("gpus") or []
    if len(gpus) == int(sys.argv[2]) and \
            all(g.get("nonce_match") is True for g in gpus) and \
            len({g.get("uuid") for g in gpus}) == len(gpus) and \
            e.get("binding_held") is True and \
            e.get("additional_bound") is True:
        n += 1
print(n)
EOF
}

# Shutdowns match inits in the NVML trace (nvmlShutdown on every path).
# shellcheck disable=SC2317 # called through sp_check
balanced() {
	local i s
	i=$(grep -c '^init$' "$SEALPOD_NVML_TRACE")
	s=$(grep -c '^shutdown$' "$SEALPOD_NVML_TRACE")
	[ "$i" -ge 1 ] && [ "$i" -eq "$s" ]
}

sp_start_kbs --policy allow --accept-unsigned-tee

# 1. required, two GPUs (Hopper, Blackwell): the key is released.
run_gpu two required "$NVML" SEALPOD_NVML_GPUS=2
sp_expect_rc 0 "required with 2 GPUs"
sp_check "two: no bound nvidia evidence for 2 GPUs in the audit" \
	test "$(gpu_attests 2)" -ge 1
sp_check "two: key not released" \
	test "$(sp_audit_count endpoint=resource status=200 \
		path=sealpod/model/key)" -ge 1
sp_check "two: model not unsealed" test -f "$TARGET/$READY_NAME"
sp_check "two: nvmlInit/nvmlShutdown unbalanced" balanced
sp_check "two: no gpu.nvidia.collected event" \
	grep -q '"event":"gpu.nvidia.collected".*"gpus":2' "$ERR"
sp_expect_no_secrets two
# The plaintext of a run that succeeded must not count against the
# failing ones below.
rm -rf "$TARGET" "$TLS_DIR"

# 2. required, confidential computing off: named, nothing requested.
before=$(requests)
run_gpu cc_off required "$NVML" SEALPOD_NVML_GPUS=2 SEALPOD_NVML_CC=off
sp_expect_failed_closed cc_off "$EXIT_ATTEST" '^gpu_cc_off$'
sp_check "cc_off: no gpu_evidence_unavailable" \
	logcheck reason '^gpu_evidence_unavailable$' "$ERR" >/dev/null
sp_check "cc_off: the KBS was contacted" test "$(requests)" -eq "$before"
sp_check "cc_off: nvmlInit/nvmlShutdown unbalanced" balanced

# 3. required, no library: fails closed before the KBS.
before=$(requests)
run_gpu no_lib required /nonexistent/libnvidia-ml.so.1
sp_expect_failed_closed no_lib "$EXIT_ATTEST" '^gpu_evidence_unavailable$'
sp_check "no_lib: no gpu_library_missing" \
	logcheck reason '^gpu_library_missing$' "$ERR" >/dev/null
sp_check "no_lib: the KBS was contacted" test "$(requests)" -eq "$before"

# 4. optional, no library: attests without device evidence.
run_gpu optional_no_lib optional /nonexistent/libnvidia-ml.so.1
sp_expect_rc 0 "optional without the library"
sp_check "optional_no_lib: attested with device evidence" \
	test "$(sp_audit_count endpoint=attest status=200 'devices=[]')" -ge 1
sp_check "optional_no_lib: no warning naming the library" \
	logcheck reason '^gpu_library_missing$' "$ERR" >/dev/null
rm -rf "$TARGET" "$TLS_DIR"

# 4b. optional, a GPU in devtools mode: a GPU is there and cannot be
# trusted, so optional must not attest as if it were absent.
attests_before=$(sp_audit_count endpoint=attest)
resources_before=$(sp_audit_count endpoint=resource)
run_gpu optional_devtools optional "$NVML" SEALPOD_NVML_DEVTOOLS=on
sp_expect_failed_closed optional_devtools "$EXIT_ATTEST" \
	'^gpu_cc_devtools$'
sp_check "optional_devtools: evidence sent without the GPU" \
	test "$(sp_audit_count endpoint=attest)" -eq "$attests_before"
sp_check "optional_devtools: a resource was requested" \
	test "$(sp_audit_count endpoint=resource)" -eq "$resources_before"

# 5. required, the library claims a report larger than its buffer.
before=$(sp_audit_count endpoint=attest)
run_gpu oversize required "$NVML" SEALPOD_NVML_FAULT=oversize-report
sp_expect_failed_closed oversize "$EXIT_ATTEST" '^gpu_report_size_invalid$'
sp_check "oversize: /attest was sent" \
	test "$(sp_audit_count endpoint=attest)" -eq "$before"
sp_check "oversize: nvmlInit/nvmlShutdown unbalanced" balanced

# 6. The overrides are checked like every key: usage errors, named.
run_gpu bad_keys required relative/libnvidia-ml.so
printf 'azure:\n  imds_url: ftp://127.0.0.1/x\n' >>"$CONFIG"
timeout "$INIT_TIMEOUT" "$INIT" run --config "$CONFIG" >"$OUT" 2>"$ERR"
RC=$?
sp_expect_rc "$EXIT_USAGE" "relative gpu_library, ftp imds_url"
for key in gpu_library azure.imds_url; do
	sp_check "bad_keys: no problem reported for $key" \
		grep -q "\"problem\":\"[^\"]*: $key: " "$ERR"
done

# 7. A failing NVML call is named as such, not as the GPU's answer.
run_gpu arch_fails required "$NVML" SEALPOD_NVML_FAULT=arch-fails
sp_expect_failed_closed arch_fails "$EXIT_ATTEST" '^gpu_arch_unavailable$'
sp_check "arch_fails: logged gpu_arch_unsupported" \
	not_logged '^gpu_arch_unsupported$' "$ERR"
run_gpu ready_fails required "$NVML" SEALPOD_NVML_FAULT=ready-fails
sp_expect_failed_closed ready_fails "$EXIT_ATTEST" \
	'^gpu_ready_state_unavailable$'
sp_check "ready_fails: logged gpu_not_ready" \
	not_logged '^gpu_not_ready$' "$ERR"

# 8. init.failed keeps the category as reason and names the cause; the
# test hook in effect is announced.
sp_check "cc_off: init.failed without cause gpu_cc_off" \
	grep -q '"event":"init.failed","reason":"attestation","cause":"gpu_cc_off"' \
	"$WORK/cc_off.stderr"
sp_check "two: no init.test_hook.used for gpu_library" \
	grep -q '"event":"init.test_hook.used","key":"gpu_library"' \
	"$WORK/two.stderr"

# 9. A wedged driver: attest_timeout_s ends the run, closed, with no
# signal from outside (preflight: nvmlInit; collect: the report call).
for where in init report; do
	before=$(sp_audit_count endpoint=resource)
	start=$(date +%s)
	run_gpu "hang_$where" required "$NVML" SEALPOD_NVML_HANG=$where \
		SEALPOD_NVML_HANG_S=60 SEALPOD_NVML_CONFIG_EXTRA=1
	took=$(($(date +%s) - start))
	sp_expect_failed_closed "hang_$where" "$EXIT_ATTEST" \
		'^evidence_timeout$'
	sp_check "hang_$where: took ${took}s, want under 15" \
		test "$took" -lt 15
	sp_check "hang_$where: no forced init.failed with the cause" \
		grep -q '"event":"init.failed","reason":"attestation","cause":"evidence_timeout"' \
		"$ERR"
	sp_check "hang_$where: a resource was requested" \
		test "$(sp_audit_count endpoint=resource)" -eq "$before"
done

sp_finish
