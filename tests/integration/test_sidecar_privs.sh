#!/bin/bash
# Privileges after binding: no capabilities in any thread (effective,
# permitted, inheritable, ambient, and the bounding set when we had the
# right to empty it), no_new_privs, not dumpable, and the configured user.
. "$(dirname "$0")/sidecar_lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root to show capabilities being dropped"
id nobody >/dev/null 2>&1 || skip "no user 'nobody'"

start_backend
# The key must stay readable after the switch (for SIGHUP reloads).
chown nobody "$T/server.key"
chmod 755 "$T"
SC_USER=nobody start_sidecar
mark_ready

[ "$(https /echo -o /dev/null -w '%{http_code}')" = 200 ] ||
	fail "not serving after the privilege drop"

nobody_uid=$(id -u nobody)
threads=0
for st in /proc/"$SIDECAR_PID"/task/*/status; do
	threads=$((threads + 1))
	for f in CapInh CapPrm CapEff CapBnd CapAmb; do
		v=$(awk -v f="$f:" '$1 == f {print $2}' "$st")
		[ "$v" = 0000000000000000 ] || fail "$st: $f is $v"
	done
	grep -q '^NoNewPrivs:[[:space:]]*1' "$st" || fail "$st: no_new_privs"
	awk -v u="$nobody_uid" \
		'$1 == "Uid:" {exit !($2 == u && $3 == u && $4 == u)}' "$st" ||
		fail "$st: uid not nobody"
done
[ "$threads" -ge 3 ] || fail "expected main and worker threads, saw $threads"
ok "$threads threads: no capabilities, no_new_privs, running as nobody"

grep -q '"event":"priv.dropped","uid":'"$nobody_uid" "$T/sidecar.log" ||
	fail "no priv.dropped event"

kill -HUP "$SIDECAR_PID"
wait_for grep -q '"event":"tls.reload.done"' "$T/sidecar.log" ||
	fail "reload after the drop failed"
ok "certificate reload still works without privileges"

# Started as nobody (the usual pod): no uid change happens inside, so
# only our PR_SET_DUMPABLE can make the files in /proc/PID belong to
# root instead of nobody.
need setpriv
stop_for_restart
write_config
sed -i '/^user:/d' "$T/sidecar.yaml"
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
	"$SIDECAR" --config "$T/sidecar.yaml" 2>>"$T/sidecar.log" &
SIDECAR_PID=$!
PIDS+=("$SIDECAR_PID")
wait_for curl -sf --max-time 1 "http://127.0.0.1:$HPORT/healthz" ||
	fail "sidecar as nobody did not start"
[ "$(stat -c %u /proc/"$SIDECAR_PID"/environ)" = 0 ] ||
	fail "process is dumpable"
[ "$(https /echo -o /dev/null -w '%{http_code}')" = 200 ] ||
	fail "not serving when started unprivileged"
ok "started unprivileged: serving, and not dumpable"
