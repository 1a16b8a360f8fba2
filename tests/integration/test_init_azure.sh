#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154
# Azure confidential VMs end to end: sealpod-init run with tee
# az-snp-vtpm and az-tdx-vtpm against the KBS stand-in, the vTPM being
# a real swtpm behind tests/peers/az_paravisor.py, which plays the
# paravisor (rebuilds the HCL report in NV 0x01400001 around the user
# data the guest writes to NV 0x01400002, with the swtpm AK at
# 0x81000003 as HCLAkPub), and IMDS being tests/peers/az_imds_standin.py
# (reached through azure.imds_url; nothing is aimed at 169.254.x).
# The KBS stand-in checks the binding as kbs-protocol.md §4.5/§4.6 say:
# quote extraData = digest, signature with HCLAkPub, PCR digest,
# user-data starts with the digest, SHA-256(var data) = hardware
# REPORT_DATA[0:32] (the SNP report in the HCL, or the TD quote).
#   az-snp-vtpm                        -> attested, key released
#   az-tdx-vtpm, paravisor lags 2 reads -> attested (we poll), released
#   a paravisor that never refreshes   -> exit 10, hcl_user_data_stale,
#                                         no /attest, after 15 reads
#   a paravisor 5 reads behind         -> attested, user data written once
#   a paravisor 20 reads behind        -> exit 10 within the bound
#   an IMDS reply over 64 KiB          -> exit 10, imds_request, status 200
# Skips (77) when swtpm or tpm2-tools are missing.
. "$(dirname "$0")/lib.sh"

sp_require
for tool in swtpm tpm2_createek tpm2_createak tpm2_evictcontrol \
	tpm2_nvdefine tpm2_nvwrite tpm2_nvundefine; do
	command -v "$tool" >/dev/null || sp_skip "$tool missing"
done
sp_fixture
AZ=/work/shared/testdata/tee/azure-hcl
[ -d "$AZ" ] || AZ=$SEALPOD_SRC/../shared/testdata/tee/azure-hcl
[ -f "$AZ/trustee-snp/hcl-report.bin" ] || sp_skip "no Azure HCL samples"

STATE=$WORK/swtpm
mkdir -p "$STATE"
sp_start_swtpm "$STATE" || {
	sp_log "FAIL: swtpm did not start"
	exit 1
}
export TPM2TOOLS_TCTI=$SWTPM_TCTI
TPM_PORT=$SWTPM_PORT

# The vTPM's AK at 0x81000003, as on Azure.
tpm() { timeout 30 "$@" >>"$WORK/tpm2.log" 2>&1; }
if ! { tpm tpm2_createek -c "$WORK/ek.ctx" -G rsa -u "$WORK/ek.pub" &&
	tpm tpm2_createak -C "$WORK/ek.ctx" -c "$WORK/ak.ctx" -G rsa \
		-g sha256 -s rsassa -u "$WORK/ak.pem" -f pem -n "$WORK/ak.name" &&
	tpm tpm2_flushcontext -t &&
	tpm tpm2_evictcontrol -C o -c "$WORK/ak.ctx" 0x81000003 &&
	tpm tpm2_flushcontext -t; }; then
	sp_log "FAIL: could not make the AK"
	cat "$WORK/tpm2.log" >&2
	exit 1
fi

sp_start_kbs --policy allow --accept-unsigned-tee
sp_start_peer imds az_imds_standin.py --vcek "$AZ/trustee-snp/vcek.pem" \
	--td-quote "$AZ/trustee-tdx/td-quote.bin"

# provision TYPE SAMPLE: the first HCL report (user data zero) in NV
# 0x01400001; no user-data index (the guest defines it).
provision() {
	"$PY" "$PEERS/az_paravisor.py" --type "$1" --sample "$2" \
		--ak-pem "$WORK/ak.pem" --initial "$WORK/hcl-$1.bin" || exit 1
	tpm tpm2_nvundefine -C o 0x01400001
	tpm tpm2_nvundefine -C o 0x01400002
	if ! { tpm tpm2_nvdefine 0x01400001 -C o -s 2048 \
		-a "ownerread|ownerwrite" &&
		tpm tpm2_nvwrite 0x01400001 -C o -i "$WORK/hcl-$1.bin"; }; then
		sp_log "FAIL: could not provision the HCL report"
		exit 1
	fi
}

# run_az LABEL TEE TYPE LAG: paravisor in front of swtpm, then
# sealpod-init run through it.
run_az() {
	local label=$1 tee=$2 type=$3 lag=$4 sample
	sample=$AZ/trustee-$type/hcl-report.bin
	provision "$type" "$sample"
	sp_start_peer pv az_paravisor.py --tpm-port "$TPM_PORT" \
		--type "$type" --sample "$sample" --ak-pem "$WORK/ak.pem" \
		--lag "$lag"
	CONFIG=$WORK/$label.yaml
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	sp_new_target
	CFG_SOURCE=file://$SEALED CFG_TLS=1 sp_config "$CONFIG"
	sed -i "s/^tee: sample$/tee: $tee/" "$CONFIG"
	cat >>"$CONFIG" <<YAML
tpm:
  tcti: swtpm:host=127.0.0.1,port=$pv_PORT
azure:
  imds_url: http://127.0.0.1:$imds_PORT
YAML
	timeout "$INIT_TIMEOUT" "$INIT" run --config "$CONFIG" >"$OUT" 2>"$ERR"
	RC=$?
	sp_log "$label: sealpod-init exited $RC"
	sp_stop_peer pv
}

# attested LABEL TEE: the checks every good run shares.
attested() {
	local label=$1 tee=$2
	sp_expect_rc 0 "$label"
	sp_check "$label: the stand-in did not confirm the binding" \
		test "$(sp_audit_count endpoint=attest status=200 tee="$tee" \
			binding_held=true quote_extra_data=true \
			user_data_prefix=true var_data_hash=true \
			quote_signature=true pcr_digest=true)" -ge 1
	sp_check "$label: key not released" \
		test "$(sp_audit_count endpoint=resource status=200 \
			path=sealpod/model/key tee="$tee")" -ge 1
	sp_check "$label: model not unsealed" test -f "$TARGET/$READY_NAME"
	sp_check "$label: the paravisor did not regenerate the report" \
		grep -q '"event": "paravisor.report.regenerated"' "$pv_LOG"
	sp_expect_no_secrets "$label"
	rm -rf "$TARGET" "$TLS_DIR"
}

# 1. SNP: the VCEK from THIM.
run_az snp az-snp-vtpm snp 0
attested snp az-snp-vtpm
thim='"metadata_header": true.*"path": "/metadata/THIM/amd/certification"'
sp_check "snp: no THIM request with Metadata: true" \
	grep -q "$thim.*\"status\": 200" "$imds_LOG"

# 2. TDX: the TD quote from IMDS, for the HCL's TDREPORT; the paravisor
# lags two whole reads behind the user-data write.
run_az tdx az-tdx-vtpm tdx 2
attested tdx az-tdx-vtpm
sp_check "tdx: no /acc/tdquote request" \
	grep -q '"path": "/acc/tdquote".*"status": 200' "$imds_LOG"
sp_check "tdx: the paravisor never served a stale report" \
	grep -q '"event": "paravisor.report.stale_read"' "$pv_LOG"

# 3. A paravisor that never catches up: we refuse to send a report that
# does not carry our user data, within the documented 15 reads (~3 s).
before=$(sp_audit_count endpoint=attest)
start=$(date +%s)
run_az stale az-snp-vtpm snp 1000
took=$(($(date +%s) - start))
sp_expect_failed_closed stale "$EXIT_ATTEST" '^hcl_user_data_stale$'
sp_check "stale: /attest was sent" \
	test "$(sp_audit_count endpoint=attest)" -eq "$before"
sp_check "stale: not given up after 15 reads" \
	grep -q '"reason":"hcl_user_data_stale","tries":15' "$ERR"
sp_check "stale: took ${took}s, want under 20" test "$took" -lt 20

# 4. A slow paravisor (5 reads behind, restarting on every write) is
# waited for: our own read-back must not rewrite and restart it (h20 F3).
pv_seen=$(wc -l <"$pv_LOG")
run_az lag5 az-snp-vtpm snp 5
attested lag5 az-snp-vtpm
sp_check "lag5: user data written more than once" \
	test "$(tail -n +"$((pv_seen + 1))" "$pv_LOG" |
		grep -c '"event": "paravisor.user_data.written"')" -eq 1

# 5. Slower than the documented patience: refused, within it.
start=$(date +%s)
run_az lag20 az-snp-vtpm snp 20
took=$(($(date +%s) - start))
sp_expect_failed_closed lag20 "$EXIT_ATTEST" '^hcl_user_data_stale$'
sp_check "lag20: took ${took}s, want under 20" test "$took" -lt 20

# 6. An IMDS reply over its ceiling: refused, with the status IMDS sent
# (h20 F8), not 0.
sp_stop_peer imds
sp_start_peer imds az_imds_standin.py --vcek "$AZ/trustee-snp/vcek.pem" \
	--pad-kib 70
run_az imds_big az-snp-vtpm snp 0
sp_expect_failed_closed imds_big "$EXIT_ATTEST" '^imds_request$'
sp_check "imds_big: the refused reply's status 200 not logged" \
	grep -q '"reason":"imds_request",.*"status":200,"oversize":true' "$ERR"

# 7. Test hooks in effect are announced, and the failure names its cause.
for key in tpm.tcti azure.imds_url; do
	sp_check "snp: no init.test_hook.used for $key" \
		grep -q "\"event\":\"init.test_hook.used\",\"key\":\"$key\"" \
		"$WORK/snp.stderr"
done
sp_check "stale: init.failed without cause hcl_user_data_stale" \
	grep -q '"event":"init.failed","reason":"attestation","cause":"hcl_user_data_stale"' \
	"$WORK/stale.stderr"

sp_finish
