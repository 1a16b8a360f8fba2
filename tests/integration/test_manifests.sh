#!/usr/bin/env bash
# test_manifests: the kustomize component, the example overlays and the
# Containerfiles, checked on what they render to.
#
#  1. Every manifests/examples/<name> overlay renders with the real
#     `kubectl kustomize`, and check_rendered.py finds every promise of
#     docs/deployment.md kept (against the base rendering, so the model
#     server container is proven unchanged).
#  2. A fixture where one Deployment opts out: it comes out untouched.
#  3. The checker can fail: every mutation from mutate_rendered.py, and a
#     hand-written hostPath document, must be reported with its rule.
#  4. The Containerfiles pass their static checks, and broken variants
#     do not (no container engine here to build them).
#  5. When the binaries are built ($SEALPOD_BUILD), the rendered init.yaml
#     and sidecar.yaml are accepted by the real configuration loaders, and
#     the sidecar's probes behave as the manifest assumes (/healthz up at
#     once, /readyz only with the ready marker and a backend).
#
# Exit 0 pass, 1 fail, 77 skip (no kubectl, no kustomize Components, or
# no python3-yaml). Everything it starts listens on 127.0.0.1 only and is
# stopped by its PID on exit.
set -euo pipefail

src=${SEALPOD_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${SEALPOD_BUILD:-}
py=/usr/bin/python3
here=$src/tests/integration
checker=$here/check_rendered.py
mutator=$here/mutate_rendered.py
cfcheck=$here/check_containerfile.py

failures=0
pids=()
work=

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$work" ]; then
		rm -rf "$work"
	fi
}
trap cleanup EXIT

skip() {
	echo "SKIP: $*"
	exit 77
}

bad() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# --- prerequisites -----------------------------------------------------------

command -v kubectl >/dev/null 2>&1 ||
	skip "kubectl not found; install kubectl >= 1.21 (kustomize with Components)"
[ -x "$py" ] || skip "$py not found"
"$py" -c 'import yaml' 2>/dev/null ||
	skip "python3-yaml missing for $py (apt-get install python3-yaml)"

kver=$(timeout 60 kubectl version --client 2>/dev/null |
	sed -n 's/^Kustomize Version: v\{0,1\}//p' | head -n 1)
[ -n "$kver" ] || skip "kubectl does not report an embedded kustomize"
# Components arrived in kustomize 3.7; 4.0 is the first in kubectl.
if [ "$(printf '%s\n%s\n' 4.0.0 "$kver" | sort -V | head -n 1)" != 4.0.0 ]; then
	skip "kubectl's kustomize $kver is older than 4.0 (no Components)"
fi
echo "kubectl kustomize $kver"
work=$(mktemp -d)

render() {
	if ! timeout 120 kubectl kustomize "$1" >"$2" 2>"$2.err"; then
		cat "$2.err"
		return 1
	fi
}

# --- 1. the examples ---------------------------------------------------------

examples=()
for dir in "$src"/manifests/examples/*/; do
	[ -f "$dir/kustomization.yaml" ] || continue
	examples+=("$(basename "$dir")")
done
[ "${#examples[@]}" -ge 2 ] ||
	bad "want at least two example overlays, found ${#examples[@]}"

for name in "${examples[@]}"; do
	dir=$src/manifests/examples/$name
	if ! render "$dir" "$work/$name.yaml"; then
		bad "$name: kubectl kustomize failed"
		continue
	fi
	if ! render "$dir/base" "$work/$name.base.yaml"; then
		bad "$name: kubectl kustomize of its base failed"
		continue
	fi
	if "$py" "$checker" --rendered "$work/$name.yaml" \
		--base "$work/$name.base.yaml" >"$work/$name.out"; then
		echo "example $name: $(cat "$work/$name.out")"
	else
		cat "$work/$name.out"
		bad "$name: rendered objects break the rules above"
	fi
done

# --- 2. opting out -----------------------------------------------------------

fixture=$here/manifests/optout
if render "$fixture" "$work/optout.yaml" &&
	render "$fixture/base" "$work/optout.base.yaml"; then
	if ! "$py" "$checker" --rendered "$work/optout.yaml" \
		--base "$work/optout.base.yaml"; then
		bad "opt-out fixture: the sealed Deployment breaks the rules"
	fi
	if ! "$py" - "$work/optout.yaml" "$work/optout.base.yaml" <<'EOF'; then
import sys
import yaml

def index(path):
    with open(path) as f:
        return {(d["kind"], d["metadata"]["name"]): d
                for d in yaml.safe_load_all(f) if d}

now, base = index(sys.argv[1]), index(sys.argv[2])
ok = True
for key in (("Deployment", "plain"), ("Service", "plain")):
    if now.get(key) != base.get(key):
        print(f"{key[0]}/{key[1]} was changed although it opted out")
        ok = False
inits = [c["name"] for c in now[("Deployment", "served")]["spec"]
         ["template"]["spec"]["initContainers"]]
if "warmup" not in inits:
    print(f"the user's own init container is gone: {inits}")
    ok = False
sys.exit(0 if ok else 1)
EOF
		bad "opt-out fixture: an opted-out object changed"
	else
		echo "opt-out: untouched"
	fi
else
	bad "opt-out fixture: kubectl kustomize failed"
fi

# --- 3. the checker can fail -------------------------------------------------

good=$work/${examples[0]:-none}.yaml
goodbase=$work/${examples[0]:-none}.base.yaml
caught=0
if [ -s "$good" ]; then
	while read -r mutation rule; do
		"$py" "$mutator" "$mutation" <"$good" >"$work/bad.yaml"
		rc=0
		"$py" "$checker" --rendered "$work/bad.yaml" \
			--base "$goodbase" >"$work/bad.out" || rc=$?
		if [ "$rc" -ne 1 ] || ! grep -q "^FAIL $rule:" "$work/bad.out"; then
			cat "$work/bad.out"
			bad "mutation $mutation: checker did not report $rule"
		else
			caught=$((caught + 1))
		fi
	done < <("$py" "$mutator" --list)
	echo "negative: $caught mutations caught"
	[ "$caught" -ge 20 ] || bad "only $caught mutations ran"
fi

cat >"$work/hostpath.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: leaky
spec:
  selector:
    matchLabels: {app: leaky}
  template:
    metadata:
      labels: {app: leaky}
    spec:
      containers:
        - name: server
          image: registry.example.com/server:1
          volumeMounts:
            - {name: weights, mountPath: /models}
      volumes:
        - name: weights
          hostPath: {path: /srv/models}
EOF
rc=0
"$py" "$checker" --rendered "$work/hostpath.yaml" >"$work/hp.out" || rc=$?
if [ "$rc" -eq 1 ] && grep -q '^FAIL no-hostpath:' "$work/hp.out" &&
	grep -q '^FAIL sealed-deployment:' "$work/hp.out"; then
	echo "negative: hand-written hostPath document rejected"
else
	cat "$work/hp.out"
	bad "checker accepted a hostPath Deployment without sealpod"
fi

: >"$work/empty.yaml"
rc=0
"$py" "$checker" --rendered "$work/empty.yaml" >"$work/empty.out" || rc=$?
[ "$rc" -eq 1 ] || bad "checker accepted an empty rendering"

# --- 4. Containerfiles -------------------------------------------------------

for pair in init:sealpod-init sidecar:sealpod-sidecar; do
	file=$src/images/${pair%%:*}.Containerfile
	bin=${pair#*:}
	if ! "$py" "$cfcheck" --binary "$bin" "$file"; then
		bad "$file: static checks"
		continue
	fi
	# Each broken variant must be refused with its rule.
	while IFS='|' read -r rule script; do
		sed -e "$script" "$file" >"$work/broken.Containerfile"
		rc=0
		"$py" "$cfcheck" --binary "$bin" "$work/broken.Containerfile" \
			>"$work/cf.out" || rc=$?
		if [ "$rc" -ne 1 ] || ! grep -q "^FAIL $rule:" "$work/cf.out"; then
			cat "$work/cf.out"
			bad "$file: variant '$script' not reported as $rule"
		fi
	done <<'EOF'
user|/^USER /d
user|s/^USER .*/USER root/
no-url-add|$a ADD https://example.invalid/tool /usr/local/bin/tool
no-url-add|/^RUN cmake/i RUN curl -fsSL https://example.invalid/x | sh
final-base|s|^FROM gcr.io/distroless/base-debian12:nonroot|FROM docker.io/library/debian:12|
final-shell|/^USER /i RUN ["/bin/true"]
final-copy|/^USER /i COPY . /src
entrypoint|s|^ENTRYPOINT .*|ENTRYPOINT /usr/local/bin/x --config /etc/x|
pinned-base|s|^FROM docker.io/library/debian:12 AS build|FROM docker.io/library/debian AS build|
multi-stage|/^FROM gcr.io/,$d
EOF
done
echo "containerfiles: checked"

# --- 5. the rendered configuration against the real binaries -----------------

init_bin=${build:+$build/init/sealpod-init}
side_bin=${build:+$build/sidecar/sealpod-sidecar}

# A loopback listener of our own that accepts and closes: a peer that is
# there but speaks no TLS, so nothing leaves this machine.
start_sink() {
	"$py" - "$work/sink.port" >/dev/null 2>&1 <<'EOF' &
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
s.settimeout(0.5)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
end = time.time() + 120
while time.time() < end:
    try:
        c, _ = s.accept()
        c.close()
    except socket.timeout:
        pass
EOF
	pids+=("$!")
	for _ in $(seq 1 50); do
		[ -s "$work/sink.port" ] && break
		sleep 0.1
	done
	sink=$(cat "$work/sink.port")
}

free_port() {
	"$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Rewrite the rendered configuration's paths and peers for this machine,
# keeping its keys: the point is that the loaders accept them.
local_config() {
	"$py" - "$good" "$work" "$1" "$2" "$3" "$4" <<'EOF'
import sys
import yaml

rendered, work, sink, side_port, health_port, which = sys.argv[1:7]
cm = [d for d in yaml.safe_load_all(open(rendered))
      if d and d["kind"] == "ConfigMap"][0]
cfg = yaml.safe_load(cm["data"][which + ".yaml"])
if which == "init":
    cfg["kbs"]["url"] = f"https://127.0.0.1:{sink}"
    cfg["kbs"]["timeout_s"] = 5
    cfg["artifacts"]["source"] = f"file://{work}/store"
    cfg["target"] = f"{work}/models"
    if "tls" in cfg:
        cfg["tls"]["dir"] = f"{work}/tls"
else:
    cfg["listen"] = f"127.0.0.1:{side_port}"
    cfg["backend"] = f"127.0.0.1:{sink}"
    cfg["tls"] = {"cert": f"{work}/cert/tls.crt",
                  "key": f"{work}/cert/tls.key"}
    cfg["health"]["listen"] = f"127.0.0.1:{health_port}"
    cfg["ready_file"] = f"{work}/models/.sealpod-ready"
yaml.safe_dump(cfg, open(f"{work}/{which}.yaml", "w"))
EOF
}

http_code() {
	curl --noproxy '*' -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true
}

# Poll until url answers code, for up to 10 s.
wait_code() {
	for _ in $(seq 1 50); do
		[ "$(http_code "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}

try_init() {
	local rc=0
	local_config "$sink" "$sport" "$hport" init
	timeout 60 "$init_bin" run --config "$work/init.yaml" \
		>"$work/init.log" 2>&1 || rc=$?
	if grep -q 'config.invalid' "$work/init.log" || [ "$rc" -eq 2 ] ||
		[ "$rc" -eq 124 ]; then
		cat "$work/init.log"
		bad "sealpod-init refused the rendered init.yaml (exit $rc)"
	elif [ "$rc" -eq 0 ]; then
		bad "sealpod-init succeeded without a KBS"
	else
		echo "init.yaml: accepted by sealpod-init (then exit $rc here:" \
			"disk target, no KBS)"
	fi

	# And the way this is told apart works: an unknown key is refused.
	echo "sealpod_unknown_key: 1" >>"$work/init.yaml"
	rc=0
	timeout 60 "$init_bin" run --config "$work/init.yaml" \
		>"$work/init.log" 2>&1 || rc=$?
	if [ "$rc" -ne 2 ] || ! grep -q 'config.invalid' "$work/init.log"; then
		cat "$work/init.log"
		bad "sealpod-init accepted an unknown key (exit $rc)"
	fi
}

try_sidecar() {
	local side_pid code health
	local_config "$sink" "$sport" "$hport" sidecar
	(umask 077 && openssl req -x509 -newkey ec \
		-pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=localhost -keyout "$work/cert/tls.key" \
		-out "$work/cert/tls.crt" >/dev/null 2>&1)
	"$side_bin" --config "$work/sidecar.yaml" >"$work/sidecar.log" 2>&1 &
	side_pid=$!
	pids+=("$side_pid")
	health=http://127.0.0.1:$hport
	if ! wait_code "$health/healthz" 200; then
		cat "$work/sidecar.log"
		bad "sealpod-sidecar with the rendered sidecar.yaml: /healthz" \
			"never answered 200"
	else
		# The startup probe passes before the model server exists; the
		# readiness probe waits for the ready marker.
		code=$(http_code "$health/readyz")
		[ "$code" = 503 ] ||
			bad "/readyz answered $code before the ready marker"
		echo '{"format":"sealpod/1","version":1,"files":0}' \
			>"$work/models/.sealpod-ready"
		if wait_code "$health/readyz" 200; then
			echo "sidecar.yaml: accepted; /healthz and /readyz as" \
				"the probes expect"
		else
			cat "$work/sidecar.log"
			bad "/readyz not 200 with the marker and a backend"
		fi
	fi
	kill "$side_pid" 2>/dev/null || true
	for _ in $(seq 1 50); do
		kill -0 "$side_pid" 2>/dev/null || break
		sleep 0.2
	done
}

if [ ! -s "$good" ]; then
	echo "note: no rendering to try on the binaries"
else
	mkdir -p "$work/models" "$work/tls" "$work/store" "$work/cert"
	start_sink
	sport=$(free_port)
	hport=$(free_port)
	if [ -n "$build" ] && [ -x "$init_bin" ]; then
		try_init
	else
		echo "note: no sealpod-init in '${build:-unset}'; init.yaml" \
			"not tried on it"
	fi
	if [ -n "$build" ] && [ -x "$side_bin" ]; then
		try_sidecar
	else
		echo "note: no sealpod-sidecar in '${build:-unset}';" \
			"sidecar.yaml not tried on it"
	fi
fi

if [ "$failures" -ne 0 ]; then
	echo "test_manifests: $failures failure(s)"
	exit 1
fi
echo "test_manifests: ok"
