#!/bin/bash
# More of the HTTP/1.1 request-smuggling corpus (issue 4, Tests), with
# the built-in route allowlist: framing fields that two parsers could
# read differently are refused, the harmless spellings are accepted and
# re-written normalised, and a request hidden in a body, a trailer or a
# pipelined follower never reaches a path the allowlist refuses, and a
# request-target with a fragment ('#') is refused. Each
# case checks what the backend recorded, not only the status.
. "$(dirname "$0")/sidecar_lib.sh"

start_backend
SC_ROUTES=default start_sidecar
mark_ready

# send FORMAT: raw bytes (printf format) over TLS; sets $out, $status.
send() {
	local before
	before=$(lines)
	# shellcheck disable=SC2059
	printf "$1" >"$T/raw.req"
	out=$(client raw --file "$T/raw.req" --timeout 4)
	status=$(jget "$out" 'j["status"]')
	wait_for test "$(lines)" -gt "$before" || fail "no access line"
	reason=$(grep '"event":"http.access"' "$T/sidecar.log" | tail -1 |
		"$PY" -c 'import json, sys; print(json.load(sys.stdin).get("reason", "-"))')
}
# seen TARGET EXPR: EXPR over the backend's records "rs" of TARGET.
seen() {
	"$PY" -c 'import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
rs = [r for r in rs if r["event"] == "request" and r["target"] == sys.argv[2]]
print(eval(sys.argv[3]))' "$T/backend.jsonl" "$1" "$2"
}

P='POST /v1/completions?c=CASE HTTP/1.1\r\nHost: a\r\nConnection: close\r\n'
# send then sets $reason: the access-log reason of that request.
lines() {
	grep -c '"event":"http.access"' "$T/sidecar.log"
}

# Refused: 400 for the intended reason, and nothing at the backend.
i=0
while IFS='|' read -r hdr want; do
	i=$((i + 1))
	send "${P/CASE/r$i}${hdr}\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	[ "$status" = 400 ] || fail "'$hdr': got $status"
	[ "$reason" = "$want" ] || fail "'$hdr': reason $reason, want $want"
	[ "$(seen "/v1/completions?c=r$i" 'len(rs)')" = 0 ] ||
		fail "'$hdr' reached the backend"
done <<'EOF'
Transfer-Encoding: chunked;q=1|bad_transfer_encoding
Transfer-Encoding: identity|bad_transfer_encoding
Transfer-Encoding: chunked, identity|bad_transfer_encoding
Transfer-Encoding: \x0bchunked|bad_header_value
Transfer-Encoding: xchunked|bad_transfer_encoding
Content-Length: 5\r\nContent-Length: 05|duplicate_content_length
Content-Length: 5.0|bad_content_length
Content-Length: 0x5|bad_content_length
X-Foo|bad_header_name
Transfer-Encoding : chunked|space_before_colon
Transfer-Encoding: chunked\r\nContent-Length: 5|cl_and_te
EOF
ok "ambiguous framing fields: $i cases refused, none reached the backend"

# Chunk lines two parsers could split differently.
i=0
while IFS='|' read -r body want; do
	i=$((i + 1))
	send "${P/CASE/k$i}Transfer-Encoding: chunked\r\n\r\n${body}"
	[ "$status" = 400 ] || fail "chunk case $i: got $status: $out"
	[ "$reason" = "$want" ] || fail "chunk case $i: reason $reason, want $want"
	[ "$(seen "/v1/completions?c=k$i" 'len(rs)')" = 0 ] ||
		fail "chunk case $i reached the backend complete"
done <<'EOF'
 5\r\nhello\r\n0\r\n\r\n|bad_chunk_size
5 \r\nhello\r\n0\r\n\r\n|bad_chunk_size
5;a="x\r\ny"\r\nhello\r\n0\r\n\r\n|chunk_data_overrun
5\nhello\r\n0\r\n\r\n|bad_chunk_size
5\r\nhello\n0\r\n\r\n|chunk_data_overrun
0\r\nGET /admin HTTP/1.1\r\n\r\n|bad_trailer
5\r\nhello\r\n0\r\n\n|bad_trailer
EOF
ok "ambiguous chunk lines: $i cases refused, none reached the backend"

# Accepted spellings arrive normalised, with the body intact.
i=0
for hdr in 'Transfer-Encoding:\tchunked' 'Transfer-Encoding: chunked\t ' \
	'Transfer-Encoding: CHUNKED'; do
	i=$((i + 1))
	send "${P/CASE/a$i}${hdr}\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n"
	[ "$status" = 200 ] || fail "'$hdr': got $status: $out"
	[ "$(seen "/v1/completions?c=a$i" '[h[1] for r in rs for h in r["headers"] if h[0].lower() == "transfer-encoding"]')" = "['chunked']" ] ||
		fail "'$hdr' not normalised: $(seen "/v1/completions?c=a$i" 'rs')"
	[ "$(seen "/v1/completions?c=a$i" 'rs[0]["body_len"]')" = 5 ] ||
		fail "'$hdr': body changed"
done
ok "harmless spellings of chunked accepted and forwarded as 'chunked'"

# A request inside a body stays a body.
inner='GET /admin HTTP/1.1\r\nHost: a\r\n\r\n'
len=$(printf "$inner" | wc -c)
send "${P/CASE/body}Content-Length: $len\r\n\r\n$inner"
[ "$status" = 200 ] || fail "request in a body: $status"
[ "$(seen /v1/completions?c=body 'len(rs)')" = 1 ] || fail "body request"
[ "$(seen /v1/completions?c=body 'rs[0]["body_len"]')" = "$len" ] ||
	fail "the inner request was not kept as the body"
[ "$(seen /admin 'len(rs)')" = 0 ] || fail "/admin reached the backend"
ok "a request inside a Content-Length body stays the body"

# A pipelined follower for a refused path is answered here, not forwarded.
send 'POST /v1/completions?c=pipe HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /admin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'
grep -q 'HTTP/1.1 404' <<<"$(jget "$out" 'j["reply"]')" ||
	fail "pipelined /admin not answered 404: $out"
[ "$(seen /v1/completions?c=pipe 'len(rs)')" = 1 ] || fail "first request"
[ "$(seen /admin 'len(rs)')" = 0 ] || fail "pipelined /admin reached the backend"
ok "a pipelined request for a refused path gets 404 here"

# Dot segments and doubled slashes cannot reach a refused path.
for t in '//admin' '/v1/completions/../../admin' '/v1/completions/%%2e%%2e/%%2e%%2e/admin' \
	'/v1/models/..%%2F..%%2Fadmin'; do
	send "GET $t HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	case "$status" in
	400 | 404) ;;
	*) fail "$t: got $status" ;;
	esac
done
[ "$(seen /admin 'len(rs)')" = 0 ] || fail "a path trick reached /admin"
"$PY" -c 'import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["event"] == "request":
        assert "admin" not in r["target"], r["target"]' "$T/backend.jsonl" ||
	fail "an admin path reached the backend"
ok "path tricks towards /admin: 400 or 404, never forwarded"

# A fragment ('#') is no part of any request-target (RFC 9112 §3.2).
for t in '/v1/models?x=1#/../../admin' '/v1/models/#/../x' \
	'/v1/models#/../../admin' '/health#x' '/v1/models#'; do
	send "GET $t HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	[ "$status" = 400 ] || fail "$t: got $status"
	[ "$reason" = bad_request_line ] || fail "$t: reason $reason"
done
"$PY" -c 'import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["event"] == "request":
        assert "#" not in r["target"], r["target"]
        assert not r["target"].startswith("/v1/models/x"), r["target"]' \
	"$T/backend.jsonl" || fail "a target with a fragment reached the backend"
ok "'#' in the request-target: 400 bad_request_line, never forwarded"

kill -0 "$SIDECAR_PID" || fail "sidecar died"
exit 0
