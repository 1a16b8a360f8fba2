#!/bin/bash
# sealpod-sidecar command line: --help, --version, configuration errors,
# key-file permissions, --check, flag overrides and bind failures, each
# with its documented exit status.
. "$(dirname "$0")/sidecar_lib.sh"

out=$("$SIDECAR" --help) || fail "--help exit status"
for section in NAME SYNOPSIS DESCRIPTION OPTIONS CONFIGURATION SIGNALS \
	"EXIT STATUS" EXAMPLES; do
	grep -q "^$section\$" <<<"$out" || fail "--help lacks $section"
done
ok "--help has every man-page section"

# --help describes the sidecar as built (h32 L7): every configuration key
# of the keyword table, both ALPN protocols, WebSockets, the file watch.
keys=$(sed -n '/^static const struct conf_key sidecar_keys/,/^};/p' \
	"$SP_SRC/sidecar/sidecar_config.c" | grep -o '{"[a-z0-9_.]*"' | tr -d '{"')
[ "$(wc -w <<<"$keys")" -ge 30 ] || fail "could not read the key table"
for k in $keys; do
	case $k in
	tls.cert | tls.key) pat="tls.cert, tls.key" ;;
	*) pat=$k ;;
	esac
	grep -qF -- "$pat" <<<"$out" || fail "--help lacks key $k"
done
for phrase in "ALPN h2" "http/1.1" "HTTP/2" "WebSocket" "file watch" \
	"tls.watch_s" "SIGHUP"; do
	grep -qF -- "$phrase" <<<"$out" || fail "--help lacks '$phrase'"
done
grep -q "ALPN http/1.1) and forwards" <<<"$out" &&
	fail "--help still describes an HTTP/1.1-only sidecar"
awk 'length > 80 { bad = 1 } END { exit bad }' <<<"$out" ||
	fail "--help has lines over 80 columns"
ok "--help names every key, h2 and http/1.1, WebSocket and the file watch"

"$SIDECAR" --version | grep -q '^sealpod-sidecar [0-9]' || fail "--version"
ok "--version"

"$SIDECAR" --bogus 2>/dev/null
[ $? -eq 2 ] || fail "unknown option should exit 2"
ok "unknown option exits 2"

start_backend
PORT=$(free_port)
HPORT=$(free_port)
write_config

"$SIDECAR" --config "$T/sidecar.yaml" --check 2>"$T/check.log" ||
	fail "--check on a good config: $(cat "$T/check.log")"
ok "--check accepts a good configuration"

printf 'listen: "127.0.0.1:1"\nbakend: "127.0.0.1:2"\n' >"$T/typo.yaml"
"$SIDECAR" --config "$T/typo.yaml" 2>"$T/typo.log"
[ $? -eq 2 ] || fail "unknown key should exit 2"
# One shape for every config.invalid (h32 L8): file, line, key, problem
# fields and init's reason name.
grep -q '"reason":"config_invalid","file":"[^"]*typo.yaml","line":2,"key":"bakend","problem":"unknown key"' \
	"$T/typo.log" || fail "no file, line, key, problem fields: $(cat "$T/typo.log")"
grep -q '"reason":"usage"' "$T/typo.log" && fail "config error with reason usage"
ok "unknown key rejected with file, line and key"

printf 'listen: "127.0.0.1:1"\nbackend: "10.1.2.3:80"\ntls:\n  cert: a\n  key: b\n' \
	>"$T/remote.yaml"
"$SIDECAR" --config "$T/remote.yaml" 2>"$T/remote.log"
[ $? -eq 2 ] || fail "non-loopback backend should exit 2"
grep -q "must be a loopback address" "$T/remote.log" || fail "loopback message"
ok "non-loopback backend refused"

"$SIDECAR" --listen 127.0.0.1:1 2>"$T/missing.log"
[ $? -eq 2 ] || fail "missing keys should exit 2"
grep -q '"key":"backend"' "$T/missing.log" || fail "missing backend not named"
grep -q '"key":"tls.cert"' "$T/missing.log" || fail "missing cert not named"
ok "missing required keys named"

cp "$T/server.key" "$T/open.key"
chmod 644 "$T/open.key"
"$SIDECAR" --config "$T/sidecar.yaml" --key "$T/open.key" --check \
	2>"$T/perm.log"
[ $? -eq 3 ] || fail "group/world-readable key should exit 3"
grep -q unsafe_permissions "$T/perm.log" || fail "no unsafe_permissions reason"
ok "group/world-readable key refused"

gen_leaf other ec
"$SIDECAR" --config "$T/sidecar.yaml" --key "$T/other.key" --check \
	2>"$T/mismatch.log"
[ $? -eq 3 ] || fail "mismatched key should exit 3"
grep -q key_mismatch "$T/mismatch.log" || fail "no key_mismatch reason"
ok "key that does not match the certificate refused"

"$SIDECAR" --config "$T/sidecar.yaml" --cert "$T/nonexistent.pem" --check \
	2>/dev/null
[ $? -eq 3 ] || fail "missing certificate should exit 3"
ok "missing certificate exits 3"

# A port already taken: exit 4.
"$PY" -c 'import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(30)' "$PORT" &
PIDS+=($!)
sleep 0.5
"$SIDECAR" --config "$T/sidecar.yaml" 2>"$T/bind.log"
[ $? -eq 4 ] || fail "bind conflict should exit 4"
grep -q server.bind.failed "$T/bind.log" || fail "no bind event"
ok "bind failure exits 4"

# Flags override the file: the file's listen port is taken, --listen wins.
NEWPORT=$(free_port)
"$SIDECAR" --config "$T/sidecar.yaml" --listen "127.0.0.1:$NEWPORT" \
	2>>"$T/sidecar.log" &
SIDECAR_PID=$!
PIDS+=("$SIDECAR_PID")
wait_for curl -sf --max-time 1 "http://127.0.0.1:$HPORT/healthz" ||
	fail "override run did not start"
PORT=$NEWPORT
mark_ready
[ "$(https /echo -o /dev/null -w '%{http_code}')" = 200 ] ||
	fail "request on the --listen port"
ok "--listen overrides the file"
stop_sidecar || fail "exit status after SIGTERM"
ok "SIGTERM on an idle sidecar exits 0"
