#!/bin/bash
# Hostile HTTP/2 clients (issue 4, Tests): a request-smuggling corpus for
# the h2 -> h1 bridge (connection-specific fields, Content-Length that
# disagrees with DATA, CR/LF or NUL in values, upper-case names, bad
# paths, a fragment in :path, client-sent forwarding fields), oversized
# header blocks, slow headers (a header block left
# open past timeouts.header_s ends the connection), a client that
# vanishes mid-stream (FIN or RST, no RST_STREAM) and a backend that
# dies mid-stream. Each checks the reply and what the backend saw.
. "$(dirname "$0")/sidecar_lib.sh"

"$PY" -c 'import h2' 2>/dev/null || skip "python3-h2 is not installed"

start_backend
SC_HEADER_S=2 SC_HEADERS=20 SC_HEADER_BYTES=4096 SC_REQUEST_LINE=2048 start_sidecar
mark_ready

h2t() {
	"$PY" "$HERE/h2_trailers_client.py" --port "$PORT" --ca "$T/ca.pem" "$@"
}
h2x() {
	"$PY" "$HERE/h2_hostile_client.py" "$@" --port "$PORT" --ca "$T/ca.pem"
}
# reached TARGET: how many requests to TARGET the backend recorded.
reached() {
	"$PY" -c 'import json, sys
print(sum(1 for l in open(sys.argv[1])
          if json.loads(l)["event"] == "request"
          and json.loads(l)["target"] == sys.argv[2]))' \
		"$T/backend.jsonl" "$1"
}

# refused NAME ARGS...: the request must get a 4xx or a stream/connection
# error, and never reach the backend.
n=0
refused() {
	local name=$1 out st
	shift
	n=$((n + 1))
	out=$(h2t --path "/echo?s=$n" "$@")
	st=$(jget "$out" 'j["status"]')
	# A 4xx, or no response at all (stream reset or connection error).
	case "$st" in
	4?? | None) ;;
	*) fail "$name: got status $st: $out" ;;
	esac
	[ "$(reached "/echo?s=$n")" = 0 ] || fail "$name reached the backend"
}

refused "transfer-encoding" --header transfer-encoding=chunked --body hello
refused "connection" --header connection=keep-alive --body hello
refused "keep-alive" --header keep-alive=5 --body hello
refused "upgrade" --header upgrade=websocket --body hello
refused "te gzip" --header te=gzip --body hello
refused "CL short" --header content-length=3 --body hello
refused "CL long" --header content-length=10 --body hello
refused "CL list" --header 'content-length=5, 5' --body hello
refused "CL sign" --header content-length=+5 --body hello
refused "CRLF in value" --header $'x-a=1\r\nx-injected: 1' --body hello
refused "LF in value" --header $'x-a=1\nx-injected: 1' --body hello
refused "NUL in value" --header $'x-a=1\x01b' --body hello
refused "upper-case name" --header X-Upper=1 --body hello
refused "space in name" --header 'x a=1' --body hello
refused "colon in name" --header 'x:a=1' --body hello
refused "host mismatch smuggle" --header 'host=a b' --body hello
refused "space in path" --path '/echo?s=x y' --body hello
grep -q '"reason":"malformed_request"' "$T/sidecar.log" ||
	fail "no malformed_request access line"
ok "h2 smuggling corpus: $n requests refused, none reached the backend"

# A Host field next to :authority is not forwarded twice.
out=$(h2t --path '/echo?s=host' --header host=other.example --body hi)
[ "$(jget "$out" 'j["status"]')" = 200 ] || fail "host+authority: $out"
"$PY" -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1])
     if json.loads(l).get("target") == "/echo?s=host"][-1]
hosts = [h[1] for h in r["headers"] if h[0].lower() == "host"]
assert hosts == ["localhost:%s" % sys.argv[2]], hosts' \
	"$T/backend.jsonl" "$PORT" || fail "backend saw a second Host"
ok "host next to :authority: the backend sees one Host, from :authority"

# A fragment in :path is refused as on HTTP/1.1 (h33 #6).
out=$(h2t --path '/echo?s=frag#/../admin' --body hi)
[ "$(jget "$out" 'j["status"]')" = 400 ] || fail "'#' in :path: $out"
grep '"event":"http.access"' "$T/sidecar.log" | tail -1 |
	grep -q '"reason":"bad_request_line"' || fail "'#' in :path: reason"
"$PY" -c 'import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["event"] == "request":
        assert "frag" not in r["target"], r["target"]' "$T/backend.jsonl" ||
	fail "a :path with a fragment reached the backend"
ok "'#' in :path: 400 bad_request_line, never forwarded"

# Client-sent Forwarded, X-Forwarded-Host, X-Real-IP never reach an h1
# backend; X-Forwarded-For and -Proto are ours (h33 #7).
out=$(h2t --path '/echo?s=fwd' --header 'forwarded=for=6.6.6.6;host=evil' \
	--header x-forwarded-host=evil --header x-real-ip=6.6.6.6 \
	--header x-forwarded-port=80 --header x-forwarded-prefix=/admin \
	--header x-forwarded-proto=http --body hi)
[ "$(jget "$out" 'j["status"]')" = 200 ] || fail "forwarding fields: $out"
"$PY" -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1])
     if json.loads(l).get("target") == "/echo?s=fwd"][-1]
h = [(k.lower(), v) for k, v in r["headers"]]
for k in ("forwarded", "x-forwarded-host", "x-forwarded-port",
          "x-forwarded-prefix", "x-real-ip"):
    assert k not in dict(h), (k, h)
assert [v for k, v in h if k == "x-forwarded-proto"] == ["https"], h
assert [v for k, v in h if k == "x-forwarded-for"] == ["127.0.0.1"], h' \
	"$T/backend.jsonl" || fail "the backend saw a client's forwarding field"
ok "h2 -> h1: client-sent Forwarded/X-Forwarded-Host/X-Real-IP dropped"

# --- oversized header blocks -----------------------------------------
big=$(head -c 5000 /dev/zero | tr '\0' a)
out=$(h2t --path '/echo?s=big' --header "x-big=$big" --body hi)
st=$(jget "$out" 'j["status"]')
[ "$st" = 431 ] || [ "$st" = None ] || fail "5 KB header block: $out"
[ "$(reached /echo?s=big)" = 0 ] || fail "oversized head reached the backend"
many=()
for i in $(seq 1 25); do many+=(--header "x-h$i=1"); done
out=$(h2t --path '/echo?s=many' "${many[@]}" --body hi)
[ "$(jget "$out" 'j["status"]')" = 431 ] || fail "25 fields: $out"
[ "$(reached /echo?s=many)" = 0 ] || fail "25 fields reached the backend"
ok "h2 header block over limits.header_bytes or limits.headers: refused"

# --- slow headers ------------------------------------------------------
before=$(grep -c '"event":"request"' "$T/backend.jsonl")
out=$(h2x slow --timeout 8)
after=$(grep -c '"event":"request"' "$T/backend.jsonl")
"$PY" -c 'import json, sys
r = json.loads(sys.argv[1])
assert r["closed_after"] is not None, "never closed: %r" % r
assert 1.5 < r["closed_after"] < 4.5, "closed after %.2f s" % r["closed_after"]
print("open header block: GOAWAY=%s, closed after %.2f s" %
      (r["goaway"], r["closed_after"]))' "$out" || fail "slow headers: $out"
[ "$before" = "$after" ] || fail "a half-sent head reached the backend"
grep -q '"event":"h2.header.timeout"' "$T/sidecar.log" ||
	fail "no h2.header.timeout event"
ok "h2 slow headers: connection ended at timeouts.header_s"

# --- client vanishes mid-stream (no RST_STREAM) ----------------------
vanish() {
	local flag=$1 want=$2 out closed seen
	out=$(h2x vanish --path '/sse?n=40&gap=0.3' ${flag:+"$flag"})
	[ "$(jget "$out" 'j["got_data"]')" = True ] || fail "vanish: $out"
	closed=$(jget "$out" 'j["closed_at"]')
	for _ in $(seq 1 30); do
		seen=$("$PY" -c 'import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1])
     if json.loads(l)["event"] == "client_closed"]
print(t[-1] if len(t) >= int(sys.argv[2]) else "")' "$T/backend.jsonl" "$want")
		[ -n "$seen" ] && break
		sleep 0.1
	done
	[ -n "$seen" ] || fail "vanish $flag: the backend kept streaming"
	"$PY" -c 'import sys
d = float(sys.argv[2]) - float(sys.argv[1])
assert d < 1.0, "backend saw the close after %.3f s" % d
print("backend saw the close %.0f ms after the client vanished" % (d * 1e3))
' "$closed" "$seen" || fail "vanish $flag: too slow"
}
vanish "" 1
vanish --rst 2
ok "h2 client vanishing mid-stream (FIN, RST) closes the backend within 1 s"

# --- backend dies mid-stream --------------------------------------------
out=$(h2x get --path '/die?size=5000' --timeout 8)
[ "$(jget "$out" 'j["status"]')" = 200 ] || fail "die: $out"
[ "$(jget "$out" 'j["ended"]')" = False ] ||
	fail "a truncated body ended cleanly on h2: $out"
[ "$(jget "$out" 'j["reset"] is not None or j["goaway"]')" = True ] ||
	fail "die: no reset: $out"
grep -q '"event": "died"' "$T/backend.jsonl" || fail "backend did not die"
ok "backend dying mid-stream: the h2 stream is reset, never ended cleanly"

[ "$(https /echo --http2 -o /dev/null -w '%{http_code}')" = 200 ] ||
	fail "sidecar stopped serving"
kill -0 "$SIDECAR_PID" || fail "sidecar died"
ok "still serving"
exit 0
