#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154
# A store that ignores Range (RFC 9110 allows it) behind a connection
# that breaks: a blob read whole is restarted from byte 0, since a 200
# to a request from a later offset means resume is impossible; a blob
# split into ranged chunks (small memory budget) is read as one stream
# once the store is seen to ignore Range (said once, reason
# store_ignores_range), not failed and not retried as if it were a
# transport failure.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture
sp_start_kbs --policy allow

# Ignores Range; the first GET of each blob sends half of it and then
# drops the connection, later ones send it whole. Counts requests.
cat >"$WORK/flaky_store.py" <<'PYEOF'
import functools, http.server, json, os, ssl, sys, threading

root, certs, portfile, countfile = sys.argv[1:5]
seen = {}
lock = threading.Lock()

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = os.path.join(root, self.path.lstrip("/"))
        if ".." in self.path or not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            data = f.read()
        with lock:
            n = seen.get(self.path, 0) + 1
            seen[self.path] = n
            with open(countfile, "w") as f:
                json.dump(seen, f)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.path.startswith("/blobs/") and n == 1:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(certs + "/artifacts.crt", certs + "/artifacts.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.replace(portfile + ".tmp", portfile)
threading.Timer(120, lambda: os._exit(0)).start()
srv.serve_forever()
PYEOF

# start_flaky LABEL: a fresh store (fresh "first GET" memory); sets URL.
start_flaky() {
	local pf=$WORK/$1.port
	COUNT=$WORK/$1.count
	"$PY" "$WORK/flaky_store.py" "$SEALED" "$CERTS" "$pf" "$COUNT" \
		>"$WORK/$1.out" 2>&1 &
	SP_PIDS+=("$!")
	for _ in $(seq 100); do
		[ -s "$pf" ] && break
		sleep 0.1
	done
	[ -s "$pf" ] || {
		sp_log "$1: store did not start"
		exit 1
	}
	URL=https://127.0.0.1:$(cat "$pf")
}

# 1. Default budget: every blob fits one slot and is read whole; the
#    broken first transfer is restarted from 0 and the model arrives.
start_flaky restart
sp_new_target
CFG_SOURCE=$URL CFG_TLS=1 sp_run_init restart
sp_expect_rc 0 restart
sp_check "restart: model differs or is missing" \
	cmp -s "$MODEL_FILE" "$TARGET/model.gguf"
sp_check "restart: no ready marker" test -f "$TARGET/$READY_NAME"
sp_check "restart: no restart logged" \
	grep -q '"reason":"store_ignores_range"' "$ERR"
sp_expect_no_secrets restart

# 2. A 2 MiB budget for 2 workers: 1 MiB slots, so the 4 MiB model is
#    cut into ranged chunks, which this store cannot serve: the first 200
#    to a range switches to one stream per blob (said once, as
#    store_ignores_range), and the broken first transfer is resumed
#    from a new stream, skipping what already arrived.
start_flaky chunked
sp_new_target
CONFIG=$WORK/chunked.yaml
OUT=$WORK/chunked.stdout
ERR=$WORK/chunked.stderr
CFG_SOURCE=$URL CFG_TLS=1 sp_config "$CONFIG"
sed -i 's/^  min_version:.*/&\n  memory_mib: 2\n  workers: 2/' "$CONFIG"
timeout "$INIT_TIMEOUT" "$INIT" run --config "$CONFIG" >"$OUT" 2>"$ERR"
RC=$?
sp_log "chunked: sealpod-init exited $RC"
sp_expect_rc 0 chunked
sp_check "chunked: model differs or is missing" \
	cmp -s "$MODEL_FILE" "$TARGET/model.gguf"
sp_check "chunked: no store_ignores_range reason" \
	grep -q '"event":"unseal.store.range_ignored".*"reason":"store_ignores_range"' \
	"$ERR"
sp_check "chunked: switch logged more than once" \
	test "$(grep -c '"event":"unseal.store.range_ignored"' "$ERR")" -eq 1
sp_expect_no_secrets chunked

sp_finish
