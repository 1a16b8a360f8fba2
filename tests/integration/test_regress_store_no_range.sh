#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2012
# Regression (found by h13): sealpod-init asks for every blob with a
# Range header, even from byte 0, and refuses a plain "200 OK" with the
# whole blob ("server ignored the byte range", exit 13 after 5 tries).
# RFC 9110 §14.2 lets a server ignore Range, and plain static servers do
# (Python's http.server, for one). For a request from offset 0 a 200
# carries exactly the bytes asked for, and every byte is still
# authenticated, so a store without range support should work; only a
# resume from a later offset needs a 206. The docs state no such
# requirement for artifacts.source.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture
sp_start_kbs --policy allow

# Python's SimpleHTTPRequestHandler over TLS: no Range support at all.
cat >"$WORK/norange_store.py" <<'EOF'
import functools, http.server, os, ssl, sys, threading

root, certs, portfile = sys.argv[1:4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                            directory=root)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
srv.daemon_threads = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(certs + "/artifacts.crt", certs + "/artifacts.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.replace(portfile + ".tmp", portfile)
threading.Timer(120, lambda: os._exit(0)).start()
srv.serve_forever()
EOF

pf=$WORK/norange.port
"$PY" "$WORK/norange_store.py" "$SEALED" "$CERTS" "$pf" \
	>"$WORK/norange.out" 2>&1 &
SP_PIDS+=("$!")
for _ in $(seq 100); do
	[ -s "$pf" ] && break
	sleep 0.1
done
[ -s "$pf" ] || {
	sp_log "no-range store did not start"
	exit 1
}

sp_new_target
CFG_SOURCE=https://127.0.0.1:$(cat "$pf") CFG_TLS=1 sp_run_init no-range
sp_expect_rc 0 no-range
sp_check "no-range: model differs or is missing" \
	cmp -s "$MODEL_FILE" "$TARGET/model.gguf"
sp_check "no-range: no ready marker" test -f "$TARGET/$READY_NAME"
sp_expect_no_secrets no-range

sp_finish
