#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2012
# sealpod-init against a KBS that says no or misbehaves: the default policy
# denying tee sample (no blind retry), an unreachable KBS, a KBS that
# demands another protocol version, evidence the verifier rejects, a JWE
# whose tag (or wrapped key, or epk curve) fails, and a missing key
# resource. Each fails closed with its documented exit code.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture

# kbs_case LABEL WANT_RC REGEX KBS-FLAGS...: a fresh KBS with the flags,
# fresh target, run against the file:// store, shared checks.
kbs_case() {
	local label=$1 want=$2 regex=$3
	shift 3
	: >"$WORK/kbs-audit.log"
	sp_start_kbs "$@"
	sp_new_target
	CFG_SOURCE=file://$SEALED CFG_TLS=1 sp_run_init "$label"
	sp_expect_failed_closed "$label" "$want" "$regex"
	sp_stop_peer kbs
}

# 1. Trustee's default resource policy denies tee sample (ref 5.4). The
# client must not retry a policy denial blindly (ref 1.9 recommendation):
# exactly one denied resource request.
kbs_case policy-deny "$EXIT_POLICY" 'polic|den'
n=$(sp_audit_count endpoint=resource decision=deny)
sp_check "policy-deny: $n denied resource requests, want 1" test "$n" -eq 1
n=$(sp_audit_count endpoint=attest status=200 binding_held=true)
sp_check "policy-deny: attestation itself should have succeeded" \
	test "$n" -ge 1

# 2. Nothing listens on the KBS port.
sp_new_target
CFG_KBS_URL=https://127.0.0.1:$(sp_free_port) CFG_SOURCE=file://$SEALED \
	sp_run_init unreachable
sp_expect_failed_closed unreachable "$EXIT_FETCH" \
	'connect|unreach|refused|fetch|kbs'

# 3. The KBS demands another protocol version (exact match, ref 1.10).
kbs_case wrong-version "$EXIT_ATTEST" 'version|attest' \
	--require-version 0.5.0
n=$(sp_audit_count endpoint=auth version='"0.4.0"')
sp_check "wrong-version: client did not send version 0.4.0" test "$n" -ge 1

# 4. The verifier rejects the evidence.
kbs_case evidence-rejected "$EXIT_ATTEST" 'attest|evidence|verif' \
	--policy allow --reject-evidence

# 5. JWE damage: tag, wrapped key, ciphertext, epk on another curve.
kbs_case jwe-tag "$EXIT_INTEGRITY" 'jwe|tag|auth|decrypt' \
	--policy allow --corrupt-jwe-tag
for fault in encrypted-key ciphertext; do
	kbs_case "jwe-$fault" "$EXIT_INTEGRITY" \
		'jwe|tag|auth|decrypt|unwrap' \
		--policy allow --jwe-fault "$fault"
done
# A peer that breaks the protocol may be reported as either category.
kbs_case jwe-epk-curve "$EXIT_INTEGRITY|$EXIT_INTERNAL" \
	'jwe|curve|epk|protocol' --policy allow --jwe-fault epk-curve

# 6. The key resource does not exist (401 PluginInternalError "resource
# not found", ref 1.8): not found, not a policy denial.
sp_start_kbs --policy allow
sp_new_target
CFG_KEY=kbs:///sealpod/model/nokey CFG_SOURCE=file://$SEALED \
	sp_run_init missing-key
sp_expect_failed_closed missing-key "$EXIT_NOTFOUND" 'not.?found|missing'
sp_stop_peer kbs

sp_finish
