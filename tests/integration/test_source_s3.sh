#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2317
# sealpod-init against an S3-compatible store (tests/peers/s3_standin.py,
# which verifies every SigV4 signature itself): static keys, web identity
# through STS with credential refresh, anonymous reads, virtual-hosted
# addressing; and the failures an operator must be able to tell apart:
# a wrong secret, an unknown key id, a wrong region, a missing object,
# STS refusing the role, a store that drops connections.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture

BUCKET=sealpod-models
PREFIX=models/tiny-v3
REGION=eu-central-1
AKID=AKIASEALPODTEST0001
SKEY='wJalrXUtnFEMI/K7MDENG+bPxRfiCYSEALPODKEY'
ROLE=arn:aws:iam::123456789012:role/sealpod-reader
BUCKET_ROOT=$WORK/bucket
mkdir -p "$BUCKET_ROOT/$PREFIX"
cp -a "$SEALED/." "$BUCKET_ROOT/$PREFIX/"
printf '%s' "$SKEY" >"$WORK/secret-key"
printf 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bW9kZWxz'\
'OnNlYWxwb2QifQ.c2lnbmF0dXJl\n' >"$WORK/web-token"

sp_start_kbs --policy allow

absent() { ! grep -q "$@"; } # ARGS...: grep finds nothing

# s3_start ARGS...: the stand-in over TLS with our bucket; sets S3_URL.
s3_start() {
	sp_start_peer s3 s3_standin.py --root "$BUCKET_ROOT" \
		--bucket "$BUCKET" --region "$REGION" \
		--cert "$CERTS/artifacts.crt" --key "$CERTS/artifacts.key" "$@"
	S3_URL=https://127.0.0.1:$s3_PORT
}

# s3_config FILE: init config for S3_SOURCE (default our bucket), with
# S3_REGION_CFG, S3_ENDPOINT (default S3_URL), S3_PATH_STYLE (true),
# S3_STS (an STS endpoint, optional), S3_MEMORY (memory_mib with two
# workers, optional).
s3_config() {
	{
		echo "tee: sample"
		echo "kbs:"
		echo "  url: $KBS_URL"
		echo "  ca: $CERTS/ca.crt"
		echo "key: kbs:///sealpod/model/key"
		echo "artifacts:"
		echo "  source: ${S3_SOURCE:-s3://$BUCKET/$PREFIX}"
		echo "  ca: $CERTS/ca.crt"
		echo "  min_version: 1"
		if [ -n "${S3_MEMORY:-}" ]; then
			echo "  memory_mib: $S3_MEMORY"
			echo "  workers: 2"
		fi
		echo "  s3:"
		echo "    region: ${S3_REGION_CFG:-$REGION}"
		echo "    endpoint: ${S3_ENDPOINT:-$S3_URL}"
		echo "    path_style: ${S3_PATH_STYLE:-true}"
		[ -n "${S3_STS:-}" ] && echo "    sts_endpoint: $S3_STS"
		echo "target: $TARGET"
	} >"$1"
}

# s3_run LABEL ENV...: run sealpod-init with only the given AWS_*
# variables in its environment; sets RC, OUT, ERR.
s3_run() {
	local label=$1
	shift
	CONFIG=$WORK/$label.yaml
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	sp_new_target
	s3_config "$CONFIG"
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
		-u AWS_SESSION_TOKEN -u AWS_WEB_IDENTITY_TOKEN_FILE \
		-u AWS_ROLE_ARN -u AWS_REGION -u AWS_DEFAULT_REGION \
		-u AWS_PROFILE "$@" \
		timeout "$INIT_TIMEOUT" "$INIT" run --config "$CONFIG" \
		>"$OUT" 2>"$ERR"
	RC=$?
	sp_log "$label: sealpod-init exited $RC"
}

# s3_ok LABEL: exit 0, the model identical, no credential in the output.
s3_ok() {
	if sp_expect_rc 0 "$1"; then
		sp_check "$1: model differs" \
			cmp -s "$MODEL_FILE" "$TARGET/model.gguf"
		sp_check "$1: config.json differs" \
			cmp -s "$MODEL_IN/config.json" "$TARGET/config.json"
		sp_check "$1: ready marker missing" \
			test -f "$TARGET/$READY_NAME"
	fi
	s3_no_credentials "$1"
	# Later failure cases scan /dev/shm for leftover plaintext.
	rm -rf "${TARGET:?}"/* "$TARGET"/.sealpod-*
}

s3_no_credentials() {
	sp_expect_no_secrets "$1"
	sp_check "$1: secret access key in output" \
		logcheck nosecret "$WORK/secret-key" "$OUT" "$ERR"
	sp_check "$1: web identity token in output" \
		logcheck nosecret "$WORK/web-token" "$OUT" "$ERR"
	sp_check "$1: signature in output" \
		absent "Signature=" "$OUT" "$ERR"
}

# s3_count FIELD=VALUE...: requests in the stand-in's log matching all.
s3_count() {
	"$PY" - "$s3_LOG" "$@" <<'EOF'
import json, sys
want = dict(a.split("=", 1) for a in sys.argv[2:])
n = 0
for line in open(sys.argv[1]):
    rec = json.loads(line)
    if all(str(rec.get(k)).lower() == v.lower() for k, v in want.items()):
        n += 1
print(n)
EOF
}

STATIC=("AWS_ACCESS_KEY_ID=$AKID" "AWS_SECRET_ACCESS_KEY=$SKEY")

# 1. Static keys, path style: every GET signed and verified.
s3_start --access-key "$AKID" --secret-key "$SKEY"
s3_run static "${STATIC[@]}"
s3_ok static
n=$(s3_count event=s3.request auth=static status=206)
m=$(s3_count event=s3.request auth=static status=200)
sp_check "static: no signed GET reached the store ($n 206, $m 200)" \
	test $((n + m)) -ge 3
n=$(s3_count event=s3.request status=403)
sp_check "static: $n requests refused" test "$n" -eq 0

# 2. The secret is wrong: 403 SignatureDoesNotMatch, named in the log.
s3_run wrong-secret AWS_ACCESS_KEY_ID=$AKID \
	"AWS_SECRET_ACCESS_KEY=${SKEY%?}X"
sp_expect_failed_closed wrong-secret "$EXIT_FETCH" s3_access_denied
sp_check "wrong-secret: code not logged" \
	grep -q '"code":"SignatureDoesNotMatch"' "$ERR"
sp_check "wrong-secret: retried" \
	test "$(grep -c '"event":"source.fetch.failed"' "$ERR")" -eq 1
s3_no_credentials wrong-secret

# 3. An unknown key id: 403 InvalidAccessKeyId.
s3_run wrong-id AWS_ACCESS_KEY_ID=AKIANOSUCHKEY00000 \
	"AWS_SECRET_ACCESS_KEY=$SKEY"
sp_expect_failed_closed wrong-id "$EXIT_FETCH" s3_access_denied
sp_check "wrong-id: code not logged" \
	grep -q '"code":"InvalidAccessKeyId"' "$ERR"

# 4. The wrong region in the configuration.
S3_REGION_CFG=us-west-2 s3_run wrong-region "${STATIC[@]}"
sp_expect_failed_closed wrong-region "$EXIT_FETCH" \
	s3_wrong_region_or_endpoint
sp_check "wrong-region: code not logged" \
	grep -q '"code":"AuthorizationHeaderMalformed"' "$ERR"
# A deterministic 4xx is the same on a retry: one attempt (h32 L23).
sp_check "wrong-region: retried ($(grep -c '"event":"source.fetch.failed"' \
	"$ERR") attempts)" \
	test "$(grep -c '"event":"source.fetch.failed"' "$ERR")" -eq 1
sp_check "wrong-region: init.failed cause not the S3 reason" \
	grep -q '"event":"init.failed".*"cause":"s3_wrong_region_or_endpoint"' \
	"$ERR"

# 5. Nothing under the prefix: not found.
S3_SOURCE=s3://$BUCKET/models/absent s3_run missing "${STATIC[@]}"
sp_expect_failed_closed missing "$EXIT_NOTFOUND" 'not.?found|missing'
sp_check "missing: code not logged" grep -q '"code":"NoSuchKey"' "$ERR"

# 6. Unsigned requests to a store that wants signatures.
s3_run no-credentials
sp_expect_failed_closed no-credentials "$EXIT_FETCH" s3_access_denied
sp_stop_peer s3

# 7. Web identity (IRSA): the token file is traded at STS; credentials
# that expire within the refresh margin are traded again before a GET.
s3_start --sts-role-arn "$ROLE" --sts-token-file "$WORK/web-token" \
	--sts-duration 200
S3_STS=$S3_URL/ s3_run web-identity \
	AWS_WEB_IDENTITY_TOKEN_FILE="$WORK/web-token" AWS_ROLE_ARN="$ROLE"
s3_ok web-identity
n=$(s3_count event=s3.sts.issued)
sp_check "web-identity: STS traded $n times, want a refresh (>= 2)" \
	test "$n" -ge 2
n=$(s3_count event=s3.request auth=sts token=true)
sp_check "web-identity: no GET with the session token" test "$n" -ge 2

# 8. STS refuses the role: AccessDenied, named in the log.
S3_STS=$S3_URL/ s3_run sts-refused \
	AWS_WEB_IDENTITY_TOKEN_FILE="$WORK/web-token" \
	AWS_ROLE_ARN=arn:aws:iam::123456789012:role/other
sp_expect_failed_closed sts-refused "$EXIT_FETCH" s3_sts_refused
sp_check "sts-refused: code not logged" \
	grep -q '"code":"AccessDenied"' "$ERR"
s3_no_credentials sts-refused
sp_stop_peer s3

# 9. A public bucket: anonymous GETs.
s3_start --anonymous
s3_run anonymous
s3_ok anonymous
n=$(s3_count event=s3.request auth=anonymous)
sp_check "anonymous: $n anonymous GETs" test "$n" -ge 3
sp_stop_peer s3

# 10. Virtual-hosted style (bucket.<endpoint host>): libcurl resolves
# *.localhost to the loopback address itself; the leaf names the bucket.
"$PY" - "$CERTS" "$BUCKET" <<'EOF' || exit 1
import subprocess, sys
d, bucket = sys.argv[1], sys.argv[2]
ext = d + "/vhost.ext"
with open(ext, "w") as f:
    f.write("basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectAltName=DNS:%s.localhost,DNS:localhost\n" % bucket)
run = lambda *a: subprocess.run(a, check=True, capture_output=True)
run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
    "ec_paramgen_curve:P-256", "-out", d + "/vhost.key")
run("openssl", "req", "-new", "-key", d + "/vhost.key", "-subj",
    "/CN=vhost", "-out", d + "/vhost.csr")
run("openssl", "x509", "-req", "-in", d + "/vhost.csr", "-CA",
    d + "/ca.crt", "-CAkey", d + "/ca.key", "-CAcreateserial", "-days",
    "2", "-extfile", ext, "-out", d + "/vhost.crt")
EOF
sp_start_peer s3 s3_standin.py --root "$BUCKET_ROOT" --bucket "$BUCKET" \
	--region "$REGION" --cert "$CERTS/vhost.crt" --key "$CERTS/vhost.key" \
	--access-key "$AKID" --secret-key "$SKEY"
S3_ENDPOINT=https://localhost:$s3_PORT S3_PATH_STYLE=false \
	s3_run virtual-host "${STATIC[@]}"
s3_ok virtual-host
n=$(s3_count event=s3.request "host=$BUCKET.localhost:$s3_PORT" \
	auth=static)
sp_check "virtual-host: $n GETs addressed to the bucket host" \
	test "$n" -ge 3
sp_stop_peer s3

# 11. The store drops one connection mid-blob: the pipeline resumes.
s3_start --access-key "$AKID" --secret-key "$SKEY" \
	--drop-once $((SEGMENT + 4096))
s3_run drop-once "${STATIC[@]}"
s3_ok drop-once
sp_stop_peer s3

# 11b. A gateway that ignores Range, with 1 MiB chunks (a 2 MiB budget
# for two workers): the model comes as one stream once the first 200
# to a ranged GET is seen.
s3_start --access-key "$AKID" --secret-key "$SKEY" --ignore-range
S3_MEMORY=2 s3_run norange "${STATIC[@]}"
s3_ok norange
sp_check "norange: switch to streaming not logged" \
	grep -q '"event":"unseal.store.range_ignored"' "$ERR"
sp_stop_peer s3

# 12. The store dies for good after 1.5 MiB: fail closed.
s3_start --access-key "$AKID" --secret-key "$SKEY" \
	--drop-after $((3 * SEGMENT / 2))
s3_run drops "${STATIC[@]}"
sp_expect_failed_closed drops "$EXIT_FETCH" \
	'fetch|transfer|partial|recv|timeout|http'
sp_stop_peer s3

# 13. The stand-in against an independent SigV4 signer (the AWS CLI),
# when one is installed: our verifier must accept what AWS's SDK signs.
if command -v aws >/dev/null 2>&1; then
	s3_start --access-key "$AKID" --secret-key "$SKEY"
	if env AWS_ACCESS_KEY_ID=$AKID "AWS_SECRET_ACCESS_KEY=$SKEY" \
		AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null \
		AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout 60 \
		aws s3api get-object --endpoint-url "$S3_URL" \
		--ca-bundle "$CERTS/ca.crt" --region "$REGION" \
		--bucket "$BUCKET" --key "$PREFIX/manifest.sealed" \
		--range bytes=0-99 "$WORK/aws-range" >"$WORK/aws.out" 2>&1; then
		sp_check "aws-cli: range differs" cmp -s "$WORK/aws-range" \
			<(head -c 100 "$BUCKET_ROOT/$PREFIX/manifest.sealed")
	else
		sp_fail "aws-cli: the stand-in refused AWS's own signature"
		cat "$WORK/aws.out" >&2
	fi
	sp_stop_peer s3
else
	sp_log "aws CLI not installed: stand-in cross-check skipped"
fi

sp_finish
