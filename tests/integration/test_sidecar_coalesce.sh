#!/bin/bash
# Holding a response head for its body, and busy polling, never cost a
# client anything: a head whose body is announced (Content-Length) but
# comes late still reaches the client at once, over HTTP/1.1 and HTTP/2,
# and the body follows intact; with busy_poll_us: 0 no time is spent
# polling, with the default a busy worker polls (the metric grows) and an
# idle one stops, and a client dribbling bytes that make no request
# does not start it; over HTTP/2 a slow stream never holds back another
# stream's response; an out-of-range busy_poll_us or coalesce_us is
# refused by name.
. "$(dirname "$0")/sidecar_lib.sh"
need h2load
need nghttp

start_backend
start_sidecar
mark_ready


# late PROTO: the head must arrive long before the body's 1 s delay.
late() {
	local proto=$1 out
	out=$(https '/late?s=1&size=5000' "$proto" -o "$T/late.bin" \
		-w '%{http_version} %{time_starttransfer} %{time_total} %{size_download}')
	"$PY" -c 'import sys
ver, ttfb, total, size = sys.argv[1].split()
ttfb, total = float(ttfb), float(total)
assert size == "5000", "body of %s bytes" % size
assert ttfb < 0.5, "head arrived after %.3f s (held for the body)" % ttfb
assert total >= 0.9, "whole response in %.3f s: body not late?" % total
print("HTTP/%s head after %.1f ms, body after %.0f ms" % (ver, ttfb * 1e3,
      total * 1e3))' "$out" || fail "$proto: late body"
}
late --http1.1
ok "HTTP/1.1: a head whose body is late goes out at once"

# The same while load keeps the workers from running out of work: the
# park's own time bound, not an idle worker, lets the head go.
timeout 20 h2load --h1 -c 8 -D 4 "https://127.0.0.1:$PORT/big?size=100" \
	>"$T/busy.out" 2>&1 &
BUSY=$!
sleep 1
late --http1.1
wait "$BUSY" || fail "load during the busy case: $(tail -3 "$T/busy.out")"
ok "HTTP/1.1: on a busy worker too, a late body does not hold its head"
late --http2
ok "HTTP/2: a head whose body is late goes out at once"

# HTTP/2: a stream's response waits for others that are due, but a slow
# one (a long generation) never holds the rest back.
timeout 20 nghttp -ns "https://127.0.0.1:$PORT/wait?s=1" \
	"https://127.0.0.1:$PORT/big?size=100" >"$T/nghttp.out" 2>&1 ||
	fail "nghttp: $(tail -3 "$T/nghttp.out")"
"$PY" - "$T/nghttp.out" <<'PYEOF' || fail "a slow stream held another back"
import re, sys
ends = {}
for line in open(sys.argv[1]):
    m = re.match(r"\s*\d+\s+\+([0-9.]+)(us|ms|s)\s.*\s(/\S+)$", line)
    if m:
        v = float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]
        ends[m.group(3).split("?")[0]] = v
assert set(ends) == {"/wait", "/big"}, ends
assert ends["/big"] < 0.1, "small response after %.3f s" % ends["/big"]
assert ends["/wait"] >= 0.9, "slow response after %.3f s" % ends["/wait"]
print("beside a 1 s stream, a small one ended after %.1f ms" %
      (ends["/big"] * 1e3))
PYEOF
ok "HTTP/2: a slow stream does not hold another stream's response back"

# Many small responses on kept-alive connections, both protocols: every
# body intact (a held head must never lose or reorder bytes).
h2load -n 800 -c 4 -m 10 "https://127.0.0.1:$PORT/big?size=700" \
	>"$T/h2load.out" 2>&1 || fail "h2load: $(tail -3 "$T/h2load.out")"
grep -q '800 succeeded, 0 failed' "$T/h2load.out" ||
	fail "h2load: $(grep -E 'requests:|status codes' "$T/h2load.out")"
h2load --h1 -n 800 -c 4 "https://127.0.0.1:$PORT/big?size=700" \
	>"$T/h1load.out" 2>&1 || fail "h2load --h1: $(tail -3 "$T/h1load.out")"
grep -q '800 succeeded, 0 failed' "$T/h1load.out" ||
	fail "h2load --h1: $(grep -E 'requests:|status codes' "$T/h1load.out")"
ok "1600 small responses over HTTP/1.1 and HTTP/2, none failed"

polled=$(metric sealpod_sidecar_busy_poll_seconds_total)
"$PY" -c "import sys; sys.exit(0 if float('$polled') > 0 else 1)" ||
	fail "a busy worker never polled ($polled s)"
ok "busy workers poll before sleeping ($polled s in all)"
sleep 2
a=$(metric sealpod_sidecar_busy_poll_seconds_total)
sleep 1
b=$(metric sealpod_sidecar_busy_poll_seconds_total)
"$PY" -c "import sys; sys.exit(0 if float('$b') - float('$a') < 0.01 else 1)" ||
	fail "an idle sidecar kept polling: $a -> $b s"
ok "an idle worker stops polling"

# A client that dribbles bytes which never make a request (here a TLS
# record declared 16 KiB long, one byte at a time) must not keep a
# worker spinning: polling is for the answers of forwarded requests.
a=$(metric sealpod_sidecar_busy_poll_seconds_total)
"$PY" - "$PORT" <<'PYEOF' || fail "the dribbling client"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(bytes([22, 3, 1, 0x40, 0]))  # handshake record, 16384 bytes
# A byte every 30 us: closer than the poll budget, too close for sleep().
end, sent = time.monotonic() + 1.5, 0
due = time.monotonic()
while due < end and sent < 16000:
    while time.monotonic() < due:
        pass
    s.send(b"\x01")
    sent += 1
    due += 0.00003
s.close()
print("dribbled %d bytes in 1.5 s" % sent)
PYEOF
b=$(metric sealpod_sidecar_busy_poll_seconds_total)
"$PY" -c "import sys; sys.exit(0 if float('$b') - float('$a') < 0.05 else 1)" ||
	fail "a dribbling client kept the worker polling: $a -> $b s"
ok "bytes that make no request do not start busy polling ($a -> $b s)"

stop_for_restart
SC_EXTRA=$'busy_poll_us: 0\ncoalesce_us: 0' start_sidecar
h2load -n 400 -c 4 -m 10 "https://127.0.0.1:$PORT/big?size=700" \
	>"$T/h2load0.out" 2>&1 || fail "h2load (no polling)"
grep -q '400 succeeded, 0 failed' "$T/h2load0.out" || fail "h2load (no polling)"
late --http1.1
[ "$(metric sealpod_sidecar_busy_poll_seconds_total)" = 0.000000 ] ||
	fail "busy_poll_us: 0 still polled"
ok "busy_poll_us: 0 and coalesce_us: 0: no polling, heads still go out"

stop_for_restart
for bad in "busy_poll_us: 1001" "coalesce_us: 1001"; do
	SC_EXTRA=$bad write_config
	if "$SIDECAR" --config "$T/sidecar.yaml" --check >"$T/check.out" 2>&1; then
		fail "$bad accepted"
	fi
	grep -q "${bad%%:*}" "$T/check.out" ||
		fail "the refusal does not name the key: $(cat "$T/check.out")"
done
ok "busy_poll_us and coalesce_us above 1000 are refused, naming the key"
