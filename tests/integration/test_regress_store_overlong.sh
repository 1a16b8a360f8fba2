#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154,SC2012
# Regression (found by h13): an HTTPS store that answers the ranged GET
# for a blob with 206 and the right Content-Range, but sends more bytes
# than the range (a larger Content-Length, or an endless body), made
# sealpod-init exit 2 "usage" with reason "usage", as if the operator's
# configuration were wrong. A store that sends too much is a hostile or
# broken store: docs/sealed-format.md says integrity (blob_too_long), so
# exit 14; fetch (13) or protocol (20) would at least name the store.
# Whatever the code, it must not be 2 and must fail closed.
. "$(dirname "$0")/lib.sh"

sp_require
sp_fixture
sp_start_kbs --policy allow

# A tiny store of our own: honest 206 replies, except that the largest
# blob (the model) gets EXTRA bytes after its real content. Bounded: it
# stops writing after EXTRA bytes and exits after 120 s.
cat >"$WORK/overlong_store.py" <<'EOF'
import http.server, os, ssl, sys, threading

root, certs, portfile, mode = sys.argv[1:5]
EXTRA = 4 * 1024 * 1024
blobs = os.path.join(root, "blobs")
big = max(os.listdir(blobs), key=lambda n: os.path.getsize(os.path.join(blobs, n)))


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        rel = self.path.split("?")[0].lstrip("/")
        path = os.path.join(root, rel)
        if ".." in rel.split("/") or not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with open(path, "rb") as f:
            data = f.read()
        start = 0
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" %
                             (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
        body = data[start:]
        extra = EXTRA if rel.endswith(big) else 0
        if mode == "close" and extra:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body) + extra))
        self.end_headers()
        try:
            self.wfile.write(body)
            left = extra
            while left > 0:
                n = min(left, 65536)
                self.wfile.write(b"\0" * n)
                left -= n
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True


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
EOF

# overlong_case LABEL MODE: start the store in MODE, run init against it.
overlong_case() {
	local label=$1 mode=$2 pf=$WORK/overlong-$2.port pid
	"$PY" "$WORK/overlong_store.py" "$SEALED" "$CERTS" "$pf" "$mode" \
		>"$WORK/overlong-$mode.out" 2>&1 &
	pid=$!
	SP_PIDS+=("$pid")
	for _ in $(seq 100); do
		[ -s "$pf" ] && break
		sleep 0.1
	done
	[ -s "$pf" ] || {
		sp_log "overlong store ($mode) did not start"
		exit 1
	}
	sp_new_target
	CFG_SOURCE=https://127.0.0.1:$(cat "$pf") CFG_TLS=1 sp_run_init "$label"
	SP_CHECKS=$((SP_CHECKS + 1))
	if [ "$RC" -eq "$EXIT_USAGE" ]; then
		sp_fail "$label: a store sending too many bytes exits $RC" \
			"(usage), blaming the configuration"
	fi
	sp_expect_failed_closed "$label" \
		"$EXIT_INTEGRITY|$EXIT_FETCH|$EXIT_INTERNAL" \
		'too_long|more than|integrity|protocol|fetch'
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

overlong_case overlong-content-length length
overlong_case overlong-until-close close

sp_finish
