#!/bin/bash
# Limits beyond the head parser: limits.body_bytes (413 for a declared or
# a chunked body), request line (414), header block and count (431),
# Expect: 100-continue (forwarded; refused at once when too large), safe
# pipelining (the second request reaches the backend only after the first
# response is complete), a slowloris client trickling bytes (408 at
# timeouts.header_s, not extended), limits.connections, and a backend that
# dies mid-stream (the client sees the chunked body cut, logged as a
# backend error).
. "$(dirname "$0")/sidecar_lib.sh"

# HTTP/1.1 on purpose: this scenario is about the HTTP/1 path (HTTP/2 has
# its own scenario), so curl must not negotiate h2.
https() {
	local path=$1
	shift
	curl -sS --http1.1 --max-time 15 --cacert "$T/ca.pem" \
		--resolve "localhost:$PORT:127.0.0.1" "$@" \
		"https://localhost:$PORT$path"
}

# pyc SCRIPT: run Python with the port and CA in the environment.
pyc() {
	SP_PORT=$PORT SP_CA=$T/ca.pem "$PY" -c "$1"
}
PYCONN='import os, socket, ssl, time, json
ctx = ssl.create_default_context(cafile=os.environ["SP_CA"])
def conn():
    raw = socket.create_connection(("127.0.0.1", int(os.environ["SP_PORT"])), timeout=15)
    return ctx.wrap_socket(raw, server_hostname="localhost")
def read_all(s, limit):
    out = b""
    end = time.time() + limit
    while time.time() < end:
        try:
            s.settimeout(max(0.05, end - time.time()))
            d = s.recv(65536)
        except (socket.timeout, OSError):
            break
        if not d:
            break
        out += d
    return out
'

start_backend
SC_BODY_BYTES=100000 SC_HEADER_S=3 SC_REQUEST_LINE=1024 SC_HEADER_BYTES=4096 \
	SC_HEADERS=20 SC_CONNECTIONS=4 SC_WORKERS=1 start_sidecar
mark_ready

head -c 100000 /dev/zero >"$T/ok.bin"
head -c 100001 /dev/zero >"$T/big.bin"
n0=$(backend_requests)
code=$(https /echo -o /dev/null -w '%{http_code}' --data-binary @"$T/ok.bin")
[ "$code" = 200 ] || fail "body at the limit: $code"
code=$(https /echo -o /dev/null -w '%{http_code}' --data-binary @"$T/big.bin")
[ "$code" = 413 ] || fail "declared body over the limit: $code"
code=$(https /echo -o /dev/null -w '%{http_code}' --data-binary @"$T/big.bin" \
	-H 'Transfer-Encoding: chunked')
[ "$code" = 413 ] || fail "chunked body over the limit: $code"
sleep 0.3
[ "$(($(backend_requests) - n0))" = 1 ] ||
	fail "an oversized body was answered by the backend"
grep -q '"reason":"body_too_large"' "$T/sidecar.log" || fail "413 not logged"
ok "limits.body_bytes: 413 for Content-Length and chunked bodies"

# Expect: 100-continue is forwarded; the backend's 100 reaches curl.
code=$(https /echo -o "$T/exp.body" -w '%{http_code}' \
	--data-binary @"$T/ok.bin" -H 'Expect: 100-continue')
[ "$code" = 200 ] || fail "expect: $code"
grep -q '"body_len": 100000' "$T/exp.body" || fail "expect body lost"
# Too large: 413 before any body byte is sent.
out=$(pyc "$PYCONN"'
s = conn()
s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\nExpect: 100-continue\r\n\r\n")
print(read_all(s, 3).decode("latin-1").split("\r\n")[0])')
[ "$out" = "HTTP/1.1 413 Content Too Large" ] || fail "expect + too large: $out"
ok "Expect: 100-continue forwarded; too large refused before the body"

# Request line, header block, header count.
long=$(head -c 1100 /dev/zero | tr '\0' a)
code=$(https "/echo?$long" -o /dev/null -w '%{http_code}')
[ "$code" = 414 ] || fail "request line: $code"
code=$(https /echo -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 4200 /dev/zero | tr '\0' b)")
[ "$code" = 431 ] || fail "header block: $code"
args=()
for i in $(seq 1 25); do args+=(-H "X-H$i: v"); done
code=$(https /echo -o /dev/null -w '%{http_code}' "${args[@]}")
[ "$code" = 431 ] || fail "header count: $code"
ok "request line 414, header block 431, header count 431"

# Pipelining: two requests in one write; the second must not reach the
# backend before the first response is complete.
out=$(pyc "$PYCONN"'
s = conn()
s.sendall(b"GET /wait?s=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
r = read_all(s, 6).decode("latin-1")
print(json.dumps({"n": r.count("HTTP/1.1 200 "), "order": r.find("waited") < r.find("second")}))')
[ "$(jget "$out" 'j["n"]')" = 2 ] || fail "pipelined replies: $out"
[ "$(jget "$out" 'j["order"]')" = True ] || fail "pipelined order: $out"
gap=$("$PY" -c 'import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
t = {r["target"]: r["t"] for r in recs if r["event"] == "request"}
print("%.2f" % (t["/echo?second"] - t["/wait?s=1"]))' "$T/backend.jsonl")
"$PY" -c "import sys; sys.exit(0 if $gap >= 0.95 else 1)" ||
	fail "second request reached the backend ${gap}s after the first"
ok "pipelining: sequential, second request held back ${gap}s"

# Slowloris: one byte every 0.4 s does not extend timeouts.header_s (3).
out=$(pyc "$PYCONN"'
s = conn()
start = time.time()
s.setblocking(False)
req = b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 40
status = ""
for b in req:
    try:
        s.send(bytes([b]))
    except (ssl.SSLWantWriteError, OSError):
        break
    time.sleep(0.4)
    try:
        d = s.recv(4096)
        status = d.decode("latin-1").split("\r\n")[0]
        break
    except ssl.SSLWantReadError:
        pass
    except OSError:
        break
    if time.time() - start > 8:
        break
print(json.dumps({"status": status, "after": time.time() - start}))')
[ "$(jget "$out" '"408" in j["status"]')" = True ] || fail "slowloris: $out"
[ "$(jget "$out" 'j["after"] < 4.5')" = True ] ||
	fail "slowloris timeout extended: $out"
ok "slowloris: trickled head cut with 408 after timeouts.header_s"

# limits.connections (4): the fifth is closed at once.
HOLDS=()
for i in 1 2 3 4; do
	client hold --timeout 5 >"$T/hold$i.out" &
	HOLDS+=($!)
done
for i in 1 2 3 4; do
	wait_for grep -q idle "$T/hold$i.out" || fail "connection $i"
done
code=$(https /echo -o /dev/null -w '%{http_code}' 2>/dev/null)
[ "$code" = 000 ] || fail "fifth connection served ($code)"
wait "${HOLDS[@]}"
served() {
	test "$(https /echo -o /dev/null -w '%{http_code}')" = 200
}
wait_for served || fail "capacity did not come back"
ok "limits.connections enforced and released"

# A backend that dies mid-stream: the chunked body is cut, not ended.
https "/die?size=5000" -o "$T/die.body" 2>"$T/die.err"
rc=$?
[ "$rc" = 18 ] || [ "$rc" = 56 ] || [ "$rc" = 92 ] ||
	fail "curl did not see a cut stream (exit $rc: $(cat "$T/die.err"))"
[ "$(wc -c <"$T/die.body")" -ge 5000 ] || fail "bytes before the cut lost"
wait_for grep -q '"event":"backend.failed","reason":"backend_closed"' \
	"$T/sidecar.log" || fail "backend death not logged"
curl -s "http://127.0.0.1:$HPORT/metrics" >"$T/m.txt"
grep -q 'backend_errors_by_kind_total{kind="closed"} [1-9]' "$T/m.txt" ||
	fail "backend death not counted by kind"
ok "backend dies mid-stream: client stream cut (curl exit $rc), logged, counted"
