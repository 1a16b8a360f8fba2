#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2012,SC2317
# The parallel unseal pipeline over HTTPS against the artifact server
# peer: many files through a small budget on many workers; a store that
# cuts every response (resumed where the data stopped); a store that
# dies for good (bounded retries, then the blob named by digest); a store
# that restarts mid-download (resumed, finished); a stall (idle timeout
# naming the digest); the overall deadline; then `run` with the pipeline
# keys, a signed manifest, and http:// only when declared trusted.
#
# Most scenarios use `sealpod-init unseal --key` (the same unseal_run()
# as `run`, without a KBS); the last ones go through `run` and the KBS
# stand-in to check the configuration keys end to end.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture

# A second model: many small files and the GGUF model, 64 KiB segments.
MANY_IN=$WORK/many-in
MANY=$WORK/many-sealed
mkdir -p "$MANY_IN/weights"
cp "$MODEL_FILE" "$MANY_IN/weights/model.gguf"
for i in $(seq 1 60); do
	d=$MANY_IN/part$((i % 7))
	mkdir -p "$d"
	head -c $((i * 1531)) "$MODEL_FILE" >"$d/file-$i.bin"
done
timeout "$INIT_TIMEOUT" "$INIT" seal --key "$KEYFILE" --in "$MANY_IN" \
	--out "$MANY" --segment-size 65536 --version 2 \
	>"$WORK/many-seal.out" 2>&1 || {
	cat "$WORK/many-seal.out" >&2
	exit 1
}

# unseal_case LABEL ARGS...: `sealpod-init unseal` into a fresh target;
# sets RC, OUT, ERR and SECS.
unseal_case() {
	local label=$1 t0 t1
	shift
	sp_new_target
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	t0=$(date +%s%N)
	timeout "$INIT_TIMEOUT" "$INIT" unseal --key "$KEYFILE" \
		--target "$TARGET" "$@" >"$OUT" 2>"$ERR"
	RC=$?
	t1=$(date +%s%N)
	SECS=$(((t1 - t0) / 1000000000))
	sp_log "$label: sealpod-init unseal exited $RC after ${SECS}s"
}

# same_tree LABEL IN: every file under IN is in TARGET, identical.
same_tree() {
	local label=$1 in=$2 f
	while IFS= read -r f; do
		sp_check "$label: ${f#"$in"/} differs or is missing" \
			cmp -s "$f" "$TARGET/${f#"$in"/}"
	done < <(find "$in" -type f)
	sp_check "$label: ready marker missing" test -f "$TARGET/$READY_NAME"
	# Plaintext must not outlive the check: later scenarios scan for it.
	rm -rf "$TARGET"
}

# count_events FILE EVENT: how many log lines carry that event.
count_events() {
	"$PY" - "$1" "$2" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    try:
        if json.loads(line).get("event") == sys.argv[2]:
            n += 1
    except ValueError:
        pass
print(n)
EOF
}

# final_names_digest FILE: the unseal.blob.failed line names a blob by
# its full digest (a blob of the store) and holds no model path.
final_names_digest() {
	"$PY" - "$1" "$2" <<'EOF'
import json, os, sys
blobs = set(os.listdir(sys.argv[2]))
ok = False
for line in open(sys.argv[1]):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    for word in ("model.gguf", "weights", "file-", "part", "config.json"):
        if word in line:
            print("path-like text in log:", line.strip(), file=sys.stderr)
            sys.exit(1)
    if o.get("event") == "unseal.blob.failed" and o.get("digest") in blobs:
        ok = True
sys.exit(0 if ok else 1)
EOF
}

# 1. Many files, 64 KiB segments, a 2 MiB budget, 4 workers.
sp_start_store "$MANY"
unseal_case many --source "$STORE_URL" --ca "$CERTS/ca.crt" --workers 4 \
	--memory-mib 2
sp_expect_rc 0 many && same_tree many "$MANY_IN"
sp_expect_no_secrets many
sp_stop_peer store

# 2. Every response cut after 1.5 MiB: each range resumes where its
# data stopped (a segment's worth of progress renews the attempts), and
# the run finishes.
sp_start_store "$SEALED" --truncate $((3 * SEGMENT / 2))
unseal_case truncating --source "$STORE_URL" --ca "$CERTS/ca.crt" \
	--attempts 3
if sp_expect_rc 0 truncating; then
	same_tree truncating "$MODEL_IN"
	n=$(count_events "$ERR" unseal.blob.retry)
	sp_check "truncating: no retry logged" test "$n" -ge 1
	sp_check "truncating: summary without seconds, rate and retries" \
		"$PY" -c 'import json, sys
ok = any(o.get("event") == "unseal.done" and o.get("retries", 0) >= 1 and
         "seconds" in o and "mib_per_s" in o
         for o in map(json.loads, open(sys.argv[1])))
sys.exit(0 if ok else 1)' "$ERR"
	n=$("$PY" -c 'import json, sys
print(sum(1 for l in open(sys.argv[1])
          if json.loads(l).get("range") and
          int(json.loads(l)["range"].split("=")[1].split("-")[0]) %
          (1 << 20) not in (0,)))' "$store_LOG")
	sp_check "truncating: no range resumed mid-chunk" test "$n" -ge 1
fi
sp_stop_peer store

# 3. A store that dies for good after 1.5 MiB: a few bounded attempts,
# then exit 13 naming the blob by digest, never by path.
sp_start_store "$SEALED" --drop-after $((3 * SEGMENT / 2))
unseal_case dead --source "$STORE_URL" --ca "$CERTS/ca.crt" --attempts 3
sp_expect_failed_closed dead "$EXIT_FETCH" 'fetch|deadline'
sp_check "dead: final error does not name the blob's digest" \
	final_names_digest "$ERR" "$SEALED/blobs"
n=$(count_events "$ERR" unseal.blob.retry)
sp_check "dead: $n retries, want 1..10" test "$n" -ge 1 -a "$n" -le 10
sp_check "dead: took ${SECS}s, want < 30" test "$SECS" -lt 30
sp_stop_peer store

# 4. The store restarts mid-download on the same port: resumed, done.
port=$(sp_free_port)
sp_start_store "$SEALED" --port "$port" --drop-after $((2 * SEGMENT))
sp_new_target
OUT=$WORK/restart.stdout
ERR=$WORK/restart.stderr
timeout "$INIT_TIMEOUT" "$INIT" unseal --key "$KEYFILE" --target "$TARGET" \
	--source "https://127.0.0.1:$port" --ca "$CERTS/ca.crt" \
	--attempts 8 >"$OUT" 2>"$ERR" &
unseal_pid=$!
for _ in $(seq 100); do
	[ "$(count_events "$ERR" unseal.blob.retry)" -ge 1 ] && break
	sleep 0.1
done
sp_stop_peer store
sp_start_peer store artifact_server.py --root "$SEALED" \
	--cert "$CERTS/artifacts.crt" --key "$CERTS/artifacts.key" \
	--port "$port"
wait "$unseal_pid"
RC=$?
sp_log "restart: sealpod-init unseal exited $RC"
sp_expect_rc 0 restart && same_tree restart "$MODEL_IN"
n=$(count_events "$ERR" unseal.blob.retry)
sp_check "restart: no retry logged" test "$n" -ge 1
sp_stop_peer store

# 5. A stall after the first bytes: the idle timeout ends each attempt,
# and the final error names the digest and the cause.
sp_start_store "$SEALED" --stall 60
unseal_case stall --source "$STORE_URL" --ca "$CERTS/ca.crt" \
	--idle-timeout 2 --attempts 2
sp_expect_failed_closed stall "$EXIT_FETCH" 'fetch'
sp_check "stall: final error does not name the digest" \
	final_names_digest "$ERR" "$SEALED/blobs"
sp_check "stall: cause 'idle timeout' not logged" \
	grep -q '"error":"idle timeout"' "$ERR"
sp_check "stall: took ${SECS}s, want < 40" test "$SECS" -lt 40

# 6. The same stall with a long idle timeout: the deadline cuts it.
# Progress events come every second meanwhile.
unseal_case deadline --source "$STORE_URL" --ca "$CERTS/ca.crt" \
	--idle-timeout 60 --deadline 3 --progress-s 1
sp_expect_failed_closed deadline "$EXIT_FETCH" 'deadline'
sp_check "deadline: took ${SECS}s, want < 15" test "$SECS" -lt 15
sp_check "deadline: no unseal.progress with bytes, rate and ETA" \
	"$PY" -c 'import json, sys
ok = any(o.get("event") == "unseal.progress" and
         all(k in o for k in ("bytes", "total", "mib_per_s", "eta_s"))
         for o in map(json.loads, open(sys.argv[1])))
sys.exit(0 if ok else 1)' "$ERR"

# 6b. Killed outright mid-unseal (SIGKILL: no cleanup possible), then run
# again into the same target: the stale partial files and marker are
# wiped first and the second run completes.
sp_new_target
OUT=$WORK/crash.stdout
ERR=$WORK/crash.stderr
"$INIT" unseal --key "$KEYFILE" --target "$TARGET" --source "$STORE_URL" \
	--ca "$CERTS/ca.crt" --idle-timeout 60 >"$OUT" 2>"$ERR" &
crash_pid=$!
SP_PIDS+=("$crash_pid")
for _ in $(seq 100); do
	ls "$TARGET"/.*.partial >/dev/null 2>&1 && break
	sleep 0.1
done
kill -KILL "$crash_pid" 2>/dev/null
wait "$crash_pid" 2>/dev/null
sp_check "crash: no partial file left to wipe" \
	sh -c "ls '$TARGET'/.*.partial >/dev/null 2>&1"
sp_check "crash: no owner marker left" test -e "$TARGET/.sealpod-owned"
sp_stop_peer store
sp_start_store "$SEALED"
OUT=$WORK/crash2.stdout
ERR=$WORK/crash2.stderr
timeout "$INIT_TIMEOUT" "$INIT" unseal --key "$KEYFILE" --target "$TARGET" \
	--source "$STORE_URL" --ca "$CERTS/ca.crt" >"$OUT" 2>"$ERR"
RC=$?
sp_log "crash-rerun: sealpod-init unseal exited $RC"
sp_check "crash-rerun: partial files survived" \
	sh -c "! ls '$TARGET'/.*.partial >/dev/null 2>&1"
sp_expect_rc 0 crash-rerun && same_tree crash-rerun "$MODEL_IN"
sp_stop_peer store

# 7. `run` with the pipeline keys and a signed manifest.
SIGNED=$WORK/signed
if ! { openssl ecparam -name prime256v1 -genkey -noout \
	-out "$WORK/owner.key" 2>/dev/null && chmod 600 "$WORK/owner.key" &&
	openssl ec -in "$WORK/owner.key" -pubout -out "$WORK/owner.pub" \
		2>/dev/null; }; then
	sp_fail "owner key"
fi
timeout "$INIT_TIMEOUT" "$INIT" seal --key "$KEYFILE" --in "$MODEL_IN" \
	--out "$SIGNED" --version 3 --sign-key "$WORK/owner.key" \
	>"$WORK/signed-seal.out" 2>&1 || sp_fail "seal --sign-key"
sp_check "seal --sign-key wrote no manifest.sig" test -s "$SIGNED/manifest.sig"
sp_start_kbs --policy allow
sp_start_store "$SIGNED"

# run_with LABEL EXTRA_YAML: sp_run_init with more artifacts keys.
run_with() {
	local label=$1 extra=$2
	CONFIG=$WORK/$label.yaml
	OUT=$WORK/$label.stdout
	ERR=$WORK/$label.stderr
	sp_new_target
	CFG_SOURCE=${SRC_URL:-$STORE_URL} sp_config "$CONFIG"
	printf '%s\n' "$extra" | sed 's/^/  /' >"$WORK/extra"
	sed -i "/^artifacts:/r $WORK/extra" "$CONFIG"
	timeout "$INIT_TIMEOUT" "$INIT" run --config "$CONFIG" >"$OUT" \
		2>"$ERR"
	RC=$?
	sp_log "$label: sealpod-init run exited $RC"
}

run_with signed "workers: 3
memory_mib: 8
attempts: 2
idle_timeout_s: 10
deadline_s: 120
signing_key: $WORK/owner.pub"
sp_expect_rc 0 signed && same_tree signed "$MODEL_IN"
sp_check "signed: signature check not logged" \
	grep -q '"event":"unseal.manifest.signed"' "$ERR"
sp_expect_no_secrets signed

if ! { openssl ecparam -name prime256v1 -genkey -noout \
	-out "$WORK/other.key" 2>/dev/null && openssl ec -in "$WORK/other.key" \
	-pubout -out "$WORK/other.pub" 2>/dev/null; }; then
	sp_fail "other key"
fi
run_with wrong-signer "signing_key: $WORK/other.pub"
sp_expect_failed_closed wrong-signer "$EXIT_INTEGRITY" 'sig'
sp_stop_peer store

# A store without manifest.sig while a key is pinned.
sp_start_store "$SEALED"
run_with unsigned "signing_key: $WORK/owner.pub"
sp_expect_failed_closed unsigned "$EXIT_INTEGRITY" 'sig'
sp_stop_peer store

# 8. http:// only when the configuration says the network is trusted.
sp_start_peer plain artifact_server.py --root "$SEALED"
SRC_URL=http://127.0.0.1:$plain_PORT run_with http-refused "workers: 2"
sp_expect_rc "$EXIT_USAGE" http-refused
SRC_URL=http://127.0.0.1:$plain_PORT run_with http-trusted \
	"insecure_http: true"
sp_expect_rc 0 http-trusted && same_tree http-trusted "$MODEL_IN"
sp_stop_peer plain

# 9. Extra request headers from a private file (a bearer token the store
# demands): sent on every request, never logged; refused when the file
# is readable by others.
TOKEN_FILE=$WORK/token
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$TOKEN_FILE"
printf 'Authorization: Bearer %s\n' "$(cat "$TOKEN_FILE")" >"$WORK/headers"
chmod 600 "$WORK/headers"
PEERS=$SEALPOD_SRC/tests/integration sp_start_peer auth auth_store.py \
	--root "$SEALED" --cert "$CERTS/artifacts.crt" \
	--key "$CERTS/artifacts.key" --token-file "$TOKEN_FILE"
AUTH_URL=https://127.0.0.1:$auth_PORT
unseal_case headers --source "$AUTH_URL" --ca "$CERTS/ca.crt" \
	--headers-file "$WORK/headers"
sp_expect_rc 0 headers && same_tree headers "$MODEL_IN"
sp_check "headers: token in output" logcheck nosecret "$TOKEN_FILE" "$OUT" \
	"$ERR"
n=$(grep -c '"auth": "ok"' "$auth_LOG")
sp_check "headers: only $n authorised requests" test "$n" -ge 4
n=$(grep -c '"auth": "missing"\|"auth": "wrong"' "$auth_LOG")
sp_check "headers: $n requests without the token" test "$n" -eq 0
unseal_case no-headers --source "$AUTH_URL" --ca "$CERTS/ca.crt" \
	--attempts 1
sp_expect_failed_closed no-headers "$EXIT_FETCH" 'fetch|transfer'
chmod 644 "$WORK/headers"
unseal_case public-headers --source "$AUTH_URL" --ca "$CERTS/ca.crt" \
	--headers-file "$WORK/headers"
sp_expect_rc "$EXIT_USAGE" public-headers
sp_check "public-headers: token in output" logcheck nosecret "$TOKEN_FILE" \
	"$OUT" "$ERR"
sp_stop_peer auth

sp_finish
