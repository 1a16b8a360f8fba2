#!/bin/bash
# Certificate reload bookkeeping (h32 L5, L6):
# - one rotation followed by SIGHUP loads once, with the file watch on:
#   the watcher must not load the files SIGHUP already loaded, so
#   certificate_reloads_total{result="ok"} moves by exactly one;
# - a refused reload says why in "tls.reload.failed" (key_mismatch,
#   unsafe_permissions, ...) and names the file, on both triggers.
# shellcheck source=tests/integration/sidecar_lib.sh
. "$(dirname "$0")/sidecar_lib.sh"

ok_key='sealpod_sidecar_certificate_reloads_total{result="ok"}'
err_key='sealpod_sidecar_certificate_reloads_total{result="error"}'
# wait_for evaluates its arguments once: this re-reads on every try.
metric_is() {
	test "$(metric "$1")" = "$2"
}
count() {
	grep -c "\"event\":\"$1\"" "$T/sidecar.log"
}

gen_ca
gen_leaf server ec
start_backend
SC_WATCH_S=1 start_sidecar
mark_ready
sleep 1.5 # past the first poll, so the baseline is settled

# 1. Rotate by rename (as a Secret update does), then SIGHUP at once.
gen_leaf next ec
cp "$T/next.key" "$T/k.new" && mv "$T/k.new" "$T/server.key"
cp "$T/next.pem" "$T/c.new" && mv "$T/c.new" "$T/server.pem"
kill -HUP "$SIDECAR_PID"
# Four polls of watch_s 1: time for a second load if one were coming.
sleep 4
[ "$(metric "$ok_key")" = 1 ] ||
	fail "one rotation + SIGHUP: reloads_total ok = $(metric "$ok_key")"
[ "$(count tls.reload.done)" = 1 ] ||
	fail "tls.reload.done logged $(count tls.reload.done) times"
ok "one rotation followed by SIGHUP reloads once"

# 2. The watcher still sees the next change.
gen_leaf third ec
cp "$T/third.key" "$T/k.new" && mv "$T/k.new" "$T/server.key"
cp "$T/third.pem" "$T/c.new" && mv "$T/c.new" "$T/server.pem"
wait_for metric_is "$ok_key" 2 || fail "later change not loaded"
ok "a later change is still picked up by the watcher"

# 3. A key that does not match, renamed in: the watcher's reload says so.
gen_leaf other ec
cp "$T/other.key" "$T/k.new" && chmod 600 "$T/k.new" &&
	mv "$T/k.new" "$T/server.key"
wait_for metric_is "$err_key" 1 || fail "mismatch not counted"
line=$(grep '"event":"tls.reload.failed"' "$T/sidecar.log" | tail -n 1)
case "$line" in
*'"reason":"key_mismatch"'*'"file":"key"'*) ;;
*) fail "watch: reload failure without its reason: $line" ;;
esac
ok "watch: tls.reload.failed says key_mismatch, file key"

# 4. A world-readable key, then SIGHUP.
cp "$T/third.key" "$T/k.new" && chmod 644 "$T/k.new" &&
	mv "$T/k.new" "$T/server.key"
sleep 1.5 # let the watcher log its own failure first
n=$(metric "$err_key")
kill -HUP "$SIDECAR_PID"
wait_for metric_is "$err_key" "$((n + 1))" ||
	fail "SIGHUP: failure not counted"
line=$(grep '"event":"tls.reload.failed"' "$T/sidecar.log" | tail -n 1)
case "$line" in
*'"reason":"unsafe_permissions"'*'"file":"key"'*) ;;
*) fail "SIGHUP: reload failure without its reason: $line" ;;
esac
grep '"event":"tls.reload.failed"' "$T/sidecar.log" | grep -q '"usage"' &&
	fail "a reload failure still says usage"
ok "SIGHUP: tls.reload.failed says unsafe_permissions, file key"
echo "PASS"
