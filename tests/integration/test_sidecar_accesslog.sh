#!/bin/bash
# Access log: one "http.access" line per request with the metadata fields
# (time, client, TLS version, method, path without query, status, bytes,
# ttfb, duration), and no query string, Authorization, cookie or body
# anywhere in the sidecar's output.
. "$(dirname "$0")/sidecar_lib.sh"

start_backend
start_sidecar
mark_ready

https '/v1/chat/completions?api_key=QUERYSECRET1' -o /dev/null \
	-H 'Authorization: Bearer TOKENSECRET2' -H 'Cookie: s=COOKIESECRET3' \
	--data-binary '{"prompt": "BODYSECRET4"}' || fail "POST"
https '/wait?s=1&x=QUERYSECRET5' -o /dev/null || fail "slow GET"
https '/echo?QUERYSECRET6' -o /dev/null -H 'X-Api-Key: HEADERSECRET7' ||
	fail "GET"
printf 'GET /bad?QUERYSECRET8 HTTP/1.1\r\nHost : a\r\n\r\n' >"$T/bad.req"
client raw --file "$T/bad.req" >/dev/null
client disconnect --path '/sse?n=10&gap=0.3&k=QUERYSECRET9' >/dev/null
sleep 0.5

grep '"event":"http.access"' "$T/sidecar.log" >"$T/access.jsonl"
[ "$(wc -l <"$T/access.jsonl")" = 5 ] ||
	fail "want 5 access lines, got $(wc -l <"$T/access.jsonl")"
"$PY" - "$T/access.jsonl" <<'PYEOF' || fail "access line fields"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
fields = {"ts", "level", "component", "event", "client", "tls", "method",
          "path", "status", "bytes_in", "bytes_out", "ttfb_ms",
          "duration_ms", "protocol"}
for l in lines:
    missing = fields - set(l)
    assert not missing, ("missing", missing, l)
    # route, peer, peer_rule: routing and mutual TLS (issue 4).
    extra = set(l) - fields - {"reason", "route", "peer", "peer_rule",
                               "stream"}
    assert not extra, ("unexpected", extra, l)
    assert "?" not in l["path"], l
    assert l["protocol"] == "http/1.1" and "stream" not in l, l
    assert l["client"] == "127.0.0.1" and l["tls"] == "TLSv1.3", l
by_path = {l["path"]: l for l in lines}
post = by_path["/v1/chat/completions"]
assert post["method"] == "POST" and post["status"] == 200, post
assert post["bytes_in"] > 25 and post["bytes_out"] > 0, post
slow = by_path["/wait"]
assert slow["ttfb_ms"] >= 900 and slow["duration_ms"] >= 900, slow
bad = [l for l in lines if l["status"] == 400][0]
assert bad["reason"] == "space_before_colon" and bad["method"] == "GET", bad
assert bad["path"] == "/bad", bad
sse = by_path["/sse"]
assert sse["reason"] == "client_abort" and sse["status"] == 200, sse
PYEOF
ok "one line per request with exactly the metadata fields"

for s in QUERYSECRET TOKENSECRET COOKIESECRET BODYSECRET HEADERSECRET \
	Bearer api_key; do
	grep -q "$s" "$T/sidecar.log" && fail "log contains $s"
done
ok "no query string, credential, cookie, header value or body logged"
grep -q TOKENSECRET2 "$T/backend.jsonl" || fail "Authorization not forwarded"
grep -q 'QUERYSECRET1' "$T/backend.jsonl" || fail "query not forwarded"
ok "the backend still got them"
