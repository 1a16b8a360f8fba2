#!/bin/bash
# Routing allowlist: the default table lets through only the OpenAI-style
# inference paths; everything else is 404 and never reaches the backend.
# Paths are normalised before matching (dot segments, %2e, //, encoded
# slashes), and the backend receives the normalised path. A configured
# table replaces the defaults, with per-route methods.
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

start_backend
SC_ROUTES=default start_sidecar
mark_ready

# raw PATH [METHOD]: status of a request sent with the path as is.
raw() {
	https "$1" --path-as-is -o "$T/raw.body" -w '%{http_code}' \
		-X "${2:-GET}" 2>/dev/null
}

n0=$(backend_requests)
for p in /v1/models /v1/models/llama /health; do
	[ "$(raw "$p")" = 200 ] || fail "GET $p not forwarded"
done
for p in /v1/chat/completions /v1/completions /v1/embeddings; do
	code=$(https "$p" -o /dev/null -w '%{http_code}' -d '{}' \
		-H 'Content-Type: application/json')
	[ "$code" = 200 ] || fail "POST $p: $code"
done
[ "$(($(backend_requests) - n0))" = 6 ] || fail "allowed requests missing"
ok "default routes: the inference paths are forwarded"

n0=$(backend_requests)
for p in /admin /metrics /debug/pprof /v1 /v1/modelsx /healthz \
	/v1/../admin /v1/%2e%2e/admin /v1/%2E%2E/%2e%2e/admin \
	//admin /v1/models/../../admin; do
	code=$(raw "$p")
	[ "$code" = 404 ] || fail "$p: expected 404, got $code"
done
# Methods: GET on a POST-only path and POST on a GET-only one.
[ "$(raw /v1/chat/completions GET)" = 404 ] || fail "GET completions"
[ "$(raw /v1/models DELETE)" = 404 ] || fail "DELETE models"
# An encoded slash never stands for a '/' of a prefix.
[ "$(raw /v1%2Fmodels)" = 404 ] || fail "encoded slash in the prefix"
[ "$(raw /v1/models/..%2F..%2Fadmin)" = 400 ] ||
	fail "dot segment behind an encoded slash"
[ "$(raw '/v1/models/%00')" = 400 ] || fail "encoded NUL"
[ "$(raw '/v1/models/a%zz')" = 400 ] || fail "bad escape"
sleep 0.3
[ "$(backend_requests)" = "$n0" ] || fail "a refused path reached the backend"
ok "everything else is 404 (or 400) and never reaches the backend"

# Normalisation: what the backend sees is what was matched.
[ "$(raw '/v1//models/./a/../llama%2Dx?q=1')" = 200 ] || fail "normalised"
target=$(tail -n 1 "$T/backend.jsonl" | "$PY" -c \
	'import json,sys; print(json.loads(sys.stdin.read())["target"])')
[ "$target" = "/v1/models/llama-x?q=1" ] ||
	fail "backend saw $target, not the normalised path"
[ "$(raw /v1/models/org%2Fmodel)" = 200 ] ||
	fail "an encoded slash after the prefix is allowed"
ok "paths normalised before matching; the backend gets the normal form"

grep -q '"event":"http.access".*"reason":"no_route"' "$T/sidecar.log" ||
	fail "no_route not in the access log"
grep -q '"event":"http.access".*"reason":"method_not_allowed"' \
	"$T/sidecar.log" || fail "method_not_allowed not in the access log"
ok "refusals are in the access log"
stop_sidecar

# A configured table replaces the defaults.
SC_ROUTES='[{prefix: /v1/, methods: [GET, POST]}, {prefix: /up, methods: [PUT]}]'
PORT=$(free_port)
HPORT=$(free_port)
start_sidecar
n0=$(backend_requests)
[ "$(raw /v1/anything POST)" = 200 ] || fail "configured /v1/ POST"
[ "$(raw /v1/anything PUT)" = 404 ] || fail "configured /v1/ PUT"
[ "$(raw /up PUT)" = 200 ] || fail "configured /up PUT"
[ "$(raw /up/x PUT)" = 200 ] || fail "configured /up/x PUT"
[ "$(raw /upx PUT)" = 404 ] || fail "configured /upx"
[ "$(raw /health)" = 404 ] || fail "defaults still active"
[ "$(($(backend_requests) - n0))" = 3 ] || fail "configured routes count"
ok "configured routes replace the defaults, methods per route"
stop_sidecar

# Bad route configurations are refused at start.
for bad in '[{prefix: v1}]' '[{prefix: /v1/../x}]' '[{prefix: /v1, methods: [BREW]}]' \
	'[{methods: [GET]}]' '[{prefix: /a, colour: red}]' '[/v1/]'; do
	SC_ROUTES=$bad write_config
	if "$SIDECAR" --config "$T/sidecar.yaml" --check 2>"$T/check.err"; then
		fail "accepted routes: $bad"
	fi
	grep -q 'config.invalid' "$T/check.err" || fail "no config.invalid: $bad"
done
ok "invalid routes refused with config.invalid"
