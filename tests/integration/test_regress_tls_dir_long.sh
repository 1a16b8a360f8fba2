#!/bin/bash
# A tls.dir whose joined file names do not fit the path buffer (review
# h37, L1): the run fails as a configuration error, and its cleanup must
# not remove a file the cut path happens to name ("<tls.dir>/tls.").
# Exit 0 pass, 1 fail. Everything lives in temp dirs removed on exit.
set -u
init=${SEALPOD_BUILD:?}/init/sealpod-init
t=$(mktemp -d /tmp/sealpod-tlsdir.XXXXXX)
shm=$(mktemp -d /dev/shm/sealpod-tlsdir.XXXXXX)
trap 'rm -rf "$t" "$shm"' EXIT

# Components of 200 bytes up to about 4080, then one to reach 4090.
d=$shm
seg=$(printf 'd%.0s' $(seq 200))
while [ $((${#d} + 201)) -le 4080 ]; do
	d=$d/$seg
done
d=$d/$(printf 'e%.0s' $(seq $((4090 - ${#d} - 1))))
mkdir -p "$d" "$shm/target"
echo bystander >"$d/tls."

cat >"$t/init.yaml" <<YAML
tee: sample
kbs:
  url: https://127.0.0.1:9
key: kbs:///models/m1/key
artifacts:
  source: file://$t/sealed
target: $shm/target
tls:
  cert: kbs:///models/m1/crt
  key: kbs:///models/m1/tlskey
  dir: $d
YAML
rc=0
timeout 60 "$init" run --config "$t/init.yaml" 2>"$t/log" || rc=$?
fails=0
if [ "$rc" -eq 0 ]; then
	echo "FAIL: a run with an unusable tls.dir exited 0"
	fails=1
fi
if [ ! -e "$d/tls." ]; then
	echo "FAIL: cleanup removed <tls.dir>/tls., which the run never wrote"
	fails=1
fi
[ "$fails" -eq 0 ] && echo "ok: tls.dir of ${#d} bytes: exit $rc, bystander kept"
exit "$fails"
