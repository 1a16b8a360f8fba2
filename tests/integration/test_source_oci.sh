#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2317
# sealpod-init against an OCI registry (tests/peers/oci_standin.py, which
# lays the sealed store out as `oras push` does): anonymous pulls by tag,
# bearer tokens traded with credentials from a Docker config.json, Basic
# auth, pinned digests, blobs redirected to storage on another host; and
# a registry that lies or breaks: a corrupted blob, a layer whose title
# and digest disagree, a manifest that is not the pinned or announced
# one, an index, compressed layers, wrong credentials, dropped
# connections.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture

REPO=models/tiny
TAG=v3
USER_NAME=puller
PASSWORD='s3cret-registry-pass'
printf '%s' "$PASSWORD" >"$WORK/registry-password"

sp_start_kbs --policy allow

absent() { ! grep -q "$@"; } # ARGS...: grep finds nothing

# oci_start ARGS...: the registry stand-in over TLS; sets REG (host:port)
# and DIGEST (the artifact manifest's digest).
oci_start() {
	sp_start_peer oci oci_standin.py --store "$SEALED" --repo "$REPO" \
		--tag "$TAG" --digest-file "$WORK/digest" \
		--cert "$CERTS/artifacts.crt" --key "$CERTS/artifacts.key" "$@"
	REG=127.0.0.1:$oci_PORT
	DIGEST=$(cat "$WORK/digest")
}

# oci_authfile HOST USER PASS: a Docker config.json, mode 0600.
oci_authfile() {
	"$PY" - "$WORK/auth.json" "$1" "$2" "$3" <<'EOF'
import base64, json, os, sys
path, host, user, pw = sys.argv[1:5]
auth = base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
doc = {"auths": {"other.example": {"auth": "b3RoZXI6b3RoZXI="},
                 "https://" + host: {"auth": auth}}}
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(doc, f)
EOF
	AUTH_FILE=$WORK/auth.json
}

# oci_run LABEL: run sealpod-init on OCI_SOURCE (default by tag) with
# AUTH_FILE when set, and OCI_MEMORY as memory_mib for two workers when
# set; sets RC, OUT, ERR.
oci_run() {
	local label=$1
	CONFIG=$WORK/$label.yaml
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	sp_new_target
	{
		echo "tee: sample"
		echo "kbs:"
		echo "  url: $KBS_URL"
		echo "  ca: $CERTS/ca.crt"
		echo "key: kbs:///sealpod/model/key"
		echo "artifacts:"
		echo "  source: ${OCI_SOURCE:-oci://$REG/$REPO:$TAG}"
		echo "  ca: $CERTS/ca.crt"
		echo "  min_version: 1"
		if [ -n "${OCI_MEMORY:-}" ]; then
			echo "  memory_mib: $OCI_MEMORY"
			echo "  workers: 2"
		fi
		if [ -n "${AUTH_FILE:-}" ]; then
			echo "  oci:"
			echo "    auth_file: $AUTH_FILE"
		fi
		echo "target: $TARGET"
	} >"$CONFIG"
	timeout "$INIT_TIMEOUT" "$INIT" run --config "$CONFIG" \
		>"$OUT" 2>"$ERR"
	RC=$?
	sp_log "$label: sealpod-init exited $RC"
}

oci_ok() {
	if sp_expect_rc 0 "$1"; then
		sp_check "$1: model differs" \
			cmp -s "$MODEL_FILE" "$TARGET/model.gguf"
		sp_check "$1: tokenizer/extra.json differs" \
			cmp -s "$MODEL_IN/tokenizer/extra.json" \
			"$TARGET/tokenizer/extra.json"
		sp_check "$1: ready marker missing" \
			test -f "$TARGET/$READY_NAME"
	fi
	oci_no_credentials "$1"
	# Later failure cases scan /dev/shm for leftover plaintext.
	rm -rf "${TARGET:?}"/* "$TARGET"/.sealpod-*
}

oci_no_credentials() {
	sp_expect_no_secrets "$1"
	sp_check "$1: registry password in output" \
		logcheck nosecret "$WORK/registry-password" "$OUT" "$ERR"
	sp_check "$1: a token or credential in output" \
		absent -i "bearer \|basic " "$OUT" "$ERR"
}

# oci_count FIELD=VALUE...: requests in the stand-in's log matching all.
oci_count() {
	"$PY" - "$oci_LOG" "$@" <<'EOF'
import json, sys
want = dict(a.split("=", 1) for a in sys.argv[2:])
n = 0
for line in open(sys.argv[1]):
    rec = json.loads(line)
    ok = True
    for k, v in want.items():
        got = rec.get(k)
        if k == "path" and v.endswith("*"):
            ok = ok and str(got).startswith(v[:-1])
        else:
            ok = ok and str(got).lower() == v.lower()
    n += ok
print(n)
EOF
}

fail_case() { # LABEL WANT REGEX
	oci_run "$1"
	sp_expect_failed_closed "$1" "$2" "$3"
	oci_no_credentials "$1"
}

# 1. Anonymous, by tag.
oci_start
oci_run anonymous
oci_ok anonymous
n=$(oci_count event=oci.request "path=/v2/$REPO/blobs/*" status=200)
sp_check "anonymous: $n whole blob GETs" test "$n" -ge 3

# 2. Pinned by digest.
OCI_SOURCE=oci://$REG/$REPO@$DIGEST oci_run by-digest
oci_ok by-digest

# 3. A tag that does not exist.
OCI_SOURCE=oci://$REG/$REPO:v9 fail_case no-tag "$EXIT_NOTFOUND" \
	oci_manifest_not_found
sp_stop_peer oci

# 4. Bearer tokens for credentials from the auth file, blobs redirected
# to storage on another host name: the token must stay with the registry.
oci_start --auth bearer --user "$USER_NAME" --password "$PASSWORD" \
	--redirect-blobs
oci_authfile "$REG" "$USER_NAME" "$PASSWORD"
AUTH_FILE=$WORK/auth.json oci_run bearer
oci_ok bearer
n=$(oci_count event=oci.request path=/token status=200)
sp_check "bearer: $n tokens issued" test "$n" -ge 1
n=$(oci_count event=oci.request "path=/v2/$REPO/blobs/*" status=307 \
	authorization=bearer)
sp_check "bearer: $n blob GETs with the token" test "$n" -ge 3
n=$(oci_count event=oci.request "path=/_storage/*" auth_leaked=true)
sp_check "bearer: Authorization sent to the storage host $n times" \
	test "$n" -eq 0
n=$(oci_count event=oci.request "path=/_storage/*" auth_leaked=false)
sp_check "bearer: $n blob GETs reached the storage host" test "$n" -ge 3

# 5. Wrong password: the token service refuses.
oci_authfile "$REG" "$USER_NAME" wrong-password
AUTH_FILE=$WORK/auth.json fail_case bearer-wrong-password "$EXIT_FETCH" \
	oci_token_refused

# 6. An auth file that is readable by others is refused up front.
oci_authfile "$REG" "$USER_NAME" "$PASSWORD"
chmod 0644 "$WORK/auth.json"
AUTH_FILE=$WORK/auth.json fail_case auth-file-public "$EXIT_USAGE" \
	'config'
chmod 0600 "$WORK/auth.json"
sp_stop_peer oci

# 7. Basic auth at the registry itself; and without credentials.
oci_start --auth basic --user "$USER_NAME" --password "$PASSWORD"
oci_authfile "$REG" "$USER_NAME" "$PASSWORD"
AUTH_FILE=$WORK/auth.json oci_run basic
oci_ok basic
n=$(oci_count event=oci.request "path=/v2/$REPO/blobs/*" \
	authorization=basic status=200)
sp_check "basic: $n blob GETs with Basic" test "$n" -ge 3
AUTH_FILE='' fail_case basic-no-credentials "$EXIT_FETCH" \
	oci_credentials_missing
sp_stop_peer oci

# 8. The registry serves a corrupted blob.
oci_start --corrupt-blob
fail_case corrupt-blob "$EXIT_INTEGRITY" \
	'oci_blob_digest_mismatch|blob_segment_invalid|blob_digest_mismatch'
sp_stop_peer oci

# 9. A blob layer titled with another blob's name.
oci_start --mislabel
fail_case mislabel "$EXIT_INTEGRITY" oci_layer_digest_mismatch
sp_stop_peer oci

# 10. The manifest is not the one announced, or not the one pinned.
oci_start --wrong-dcd
fail_case wrong-dcd "$EXIT_INTEGRITY" oci_manifest_digest_mismatch
sp_stop_peer oci
oci_start --any-digest
OCI_SOURCE=oci://$REG/$REPO@sha256:$(printf '%064d' 7) \
	fail_case pinned-mismatch "$EXIT_INTEGRITY" \
	oci_manifest_digest_mismatch
sp_stop_peer oci

# 11. An index instead of a manifest; compressed layers.
oci_start --serve-index
fail_case index "$EXIT_INTERNAL" oci_index_unsupported
sp_stop_peer oci
oci_start --layer-media-type application/vnd.oci.image.layer.v1.tar+gzip
fail_case gzip-layers "$EXIT_INTERNAL" oci_layer_media_type
sp_stop_peer oci

# 12. One dropped connection mid-blob: the pipeline resumes.
oci_start --drop-once $((SEGMENT + 4096))
oci_run drop-once
oci_ok drop-once
sp_stop_peer oci

# 12b. A registry that ignores Range (the distribution spec makes it
# optional), with 1 MiB chunks (a 2 MiB budget for two workers): the
# model comes as one stream, and a whole layer is digest-checked.
oci_start --ignore-range
OCI_MEMORY=2 oci_run norange
oci_ok norange
sp_check "norange: switch to streaming not logged" \
	grep -q '"event":"unseal.store.range_ignored"' "$ERR"
sp_stop_peer oci

# 13. The registry dies for good after 1.5 MiB.
oci_start --drop-after $((3 * SEGMENT / 2))
fail_case drops "$EXIT_FETCH" 'fetch|transfer|partial|recv|timeout|http'
sp_stop_peer oci

sp_finish
