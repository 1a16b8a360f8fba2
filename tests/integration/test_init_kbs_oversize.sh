#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2154
# A KBS whose reply breaks our ceilings (a body over KBS_REPLY_MAX, a
# header block over HTTP_HEADERS_MAX, one 200 KB Set-Cookie line) broke
# the protocol: exit EXIT_INTERNAL with reason kbs_reply_too_large after
# one request, not kbs_unreachable (exit 13) after five.
. "$(dirname "$0")/lib.sh"

sp_require
sp_tmpdir WORK
sp_new_target

# oversize_kbs MODE COUNTFILE PORTFILE: plain-HTTP stand-in that answers
# every request with the fault and counts the requests (60 s at most).
oversize_kbs() {
	"$PY" - "$@" 2>"$WORK/$1.server.log" <<'PYEOF' &
import http.server, sys, threading, time
mode, count_path, port_path = sys.argv[1:4]
count = [0]

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        count[0] += 1
        with open(count_path, "w") as f:
            f.write(str(count[0]))
        body = b"{}"
        self.send_response(200)
        if mode == "body":
            body = b"{\"nonce\":\"" + b"a" * (3 * 1024 * 1024) + b"\"}"
        elif mode == "headers":
            for i in range(310):
                self.send_header("X-Pad-%d" % i, "y" * 1000)
        elif mode == "cookie":
            self.send_header("Set-Cookie", "kbs-session-id=" + "x" * 200000)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Timer(60, srv.shutdown).start()
with open(port_path, "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
PYEOF
	SP_PIDS+=("$!")
}

for mode in body headers cookie; do
	count=$WORK/$mode.count
	pf=$WORK/$mode.port
	oversize_kbs "$mode" "$count" "$pf"
	for _ in $(seq 50); do
		[ -s "$pf" ] && break
		sleep 0.1
	done
	[ -s "$pf" ] || {
		sp_log "FAIL: $mode stand-in did not start"
		exit 1
	}
	CONFIG=$WORK/$mode.yaml
	ERR=$WORK/$mode.stderr
	cat >"$CONFIG" <<CFG
tee: sample
kbs:
  url: http://127.0.0.1:$(cat "$pf")
  insecure_http: true
key: kbs:///sealpod/model/key
artifacts:
  source: file://$WORK
target: $TARGET
CFG
	timeout "$INIT_TIMEOUT" "$INIT" run --config "$CONFIG" \
		>/dev/null 2>"$ERR"
	RC=$?
	sp_log "$mode: sealpod-init exited $RC after $(cat "$count") request(s)"
	sp_expect_rc "$EXIT_INTERNAL" "$mode"
	sp_check "$mode: no kbs_reply_too_large reason" \
		grep -q '"reason":"kbs_reply_too_large"' "$ERR"
	sp_check "$mode: retried" test "$(cat "$count")" -eq 1
	sp_check "$mode: target not empty" sp_dir_empty "$TARGET"
done

sp_finish
