#!/bin/bash
# /readyz callers against a slow model server cannot lock /healthz out
# (review h37, M2). The backend's accept queue is full, so every /readyz
# backend check waits its whole 1 s; a client keeps 70 /readyz requests
# in flight (more than the port's 64 slots), re-sending each as it is
# answered. Meanwhile /healthz is asked 20 times: every one must get 200
# within 2 s. Before the fix, running checks were never evicted and
# every /healthz was refused.
# shellcheck source=tests/integration/sidecar_lib.sh
. "$(dirname "$0")/sidecar_lib.sh"

gen_ca
gen_leaf server

start_stuck_backend 90

start_sidecar
mark_ready

"$PY" - "$HPORT" <<'PYEOF' || fail "/healthz locked out by /readyz callers"
import socket, sys, threading, time

port = int(sys.argv[1])
HOLD, ROUNDS, LIMIT = 70, 20, 2.0
stop = time.time() + 40  # hard bound on the flood
done = threading.Event()

def ask(path, limit):
    t0 = time.time()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=limit)
        s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: probe\r\n\r\n")
        data = b""
        while time.time() - t0 < limit:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
    except OSError as e:
        return "error %s" % e
    return data.split(b"\r\n", 1)[0].decode(errors="replace")

def flooder():
    while not done.is_set() and time.time() < stop:
        ask(b"/readyz", 3.0)

threads = [threading.Thread(target=flooder, daemon=True)
           for _ in range(HOLD)]
for t in threads:
    t.start()
time.sleep(1.5)  # every slot is taken by now
bad = []
for i in range(ROUNDS):
    t0 = time.time()
    line = ask(b"/healthz", LIMIT)
    if " 200 " not in line + " ":
        bad.append("%d: %r after %.2f s" % (i, line, time.time() - t0))
    time.sleep(0.2)
done.set()
print("healthz: %d of %d answered 200 beside %d /readyz callers"
      % (ROUNDS - len(bad), ROUNDS, HOLD))
for b in bad[:5]:
    print("  " + b)
sys.exit(1 if bad else 0)
PYEOF
ok "/healthz answered beside 70 /readyz callers on a stuck backend"

# And /readyz itself still answers (503: the backend check fails).
code=$(health /readyz | cut -d' ' -f1)
[ "$code" = 503 ] || fail "/readyz on a stuck backend: $code"
ok "/readyz reports the stuck backend (503)"
echo "PASS"
