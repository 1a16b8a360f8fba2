#!/bin/bash
# Idle sockets cannot take the kubelet's probes away (h32 M3).
#
# One client holds 80 connections to the health port (more than its 64
# slots) that each sent one byte and then nothing, and a thread re-opens
# every one the sidecar closes. Meanwhile /healthz and /readyz are asked
# 30 times each, in turns: every one must get 200 within 2 s. Before the
# fix, every probe failed while the idle sockets were held.
# shellcheck source=tests/integration/sidecar_lib.sh
. "$(dirname "$0")/sidecar_lib.sh"

gen_ca
gen_leaf server
start_backend
start_sidecar
mark_ready
health /readyz >/dev/null

"$PY" - "$HPORT" <<'PYEOF' || fail "probes starved"
import socket, sys, threading, time

port = int(sys.argv[1])
HOLD, ROUNDS, LIMIT = 80, 30, 2.0
stop = time.time() + 60  # hard bound on the whole run
done = threading.Event()
socks = []
lock = threading.Lock()

def open_idle():
    s = socket.create_connection(("127.0.0.1", port), timeout=1)
    s.sendall(b"G")
    return s

def holder():
    # Keep HOLD idle sockets open: drop the closed ones, open new ones.
    while not done.is_set() and time.time() < stop:
        with lock:
            live = []
            for s in socks:
                s.setblocking(False)
                try:
                    gone = s.recv(64) == b""
                except BlockingIOError:
                    gone = False
                except OSError:
                    gone = True
                if gone:
                    s.close()
                else:
                    live.append(s)
            while len(live) < HOLD:
                try:
                    live.append(open_idle())
                except OSError:
                    break
            socks[:] = live
        time.sleep(0.05)

def probe(path):
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", port), timeout=LIMIT)
    try:
        s.sendall(b"GET " + path.encode() +
                  b" HTTP/1.1\r\nHost: probe\r\n\r\n")
        data = b""
        while time.time() - t0 < LIMIT:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        return "error %s" % e, time.time() - t0
    finally:
        s.close()
    return data.split(b"\r\n", 1)[0].decode(errors="replace"), \
        time.time() - t0

th = threading.Thread(target=holder, daemon=True)
th.start()
time.sleep(1.0)
with lock:
    held = len(socks)
print("holding", held, "idle sockets")
assert held >= 64, "could not open enough idle sockets: %d" % held
worst = 0.0
bad = []
for i in range(ROUNDS):
    for path in ("/healthz", "/readyz"):
        line, took = probe(path)
        worst = max(worst, took)
        if not line.startswith("HTTP/1.1 200") or took > LIMIT:
            bad.append((i, path, line, round(took, 2)))
    time.sleep(0.1)
done.set()
th.join(5)
with lock:
    for s in socks:
        s.close()
print("probes", 2 * ROUNDS, "failed", len(bad), "worst %.3f s" % worst)
assert not bad, bad[:5]
PYEOF
ok "60 probes answered 200 within 2 s while 80 idle sockets were held"

# Idle sockets end after the header deadline (about 2 s), not 5 s.
"$PY" - "$HPORT" <<'PYEOF' || fail "idle health socket kept too long"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=6)
s.sendall(b"G")
t0 = time.time()
try:
    s.recv(16)
except OSError:
    pass
took = time.time() - t0
print("idle socket closed after %.2f s" % took)
assert 1.0 <= took <= 3.5, took
PYEOF
ok "an idle health socket is closed after the header deadline"

[ "$(health /healthz)" = 200 ] || fail "healthz after the run"
echo "PASS"
