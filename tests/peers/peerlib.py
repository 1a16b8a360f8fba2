"""Small helpers shared by the sealpod test peers.

Every peer binds 127.0.0.1 only, writes the port it got to --port-file
(atomically, so a waiting test never reads half a number), stops on
SIGTERM and never lives longer than --max-seconds.
"""

import base64
import json
import os
import signal
import sys
import threading
import time

LOOPBACK = "127.0.0.1"
DEFAULT_MAX_SECONDS = 600


def add_common_args(parser):
    """Options every peer understands."""
    parser.add_argument("--port", type=int, default=0,
                        help="TCP port on 127.0.0.1 (0 = pick a free one)")
    parser.add_argument("--port-file",
                        help="write the chosen port here once listening")
    parser.add_argument("--max-seconds", type=float,
                        default=DEFAULT_MAX_SECONDS,
                        help="exit after this many seconds whatever happens")
    parser.add_argument("--log", help="append JSON lines here (default "
                        "stderr)")


def write_port_file(path, port):
    """Write port to path via a rename so readers see all or nothing."""
    if not path:
        return
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


class JsonLog:
    """Thread-safe JSON-lines writer (one object per line, flushed)."""

    def __init__(self, path):
        self._lock = threading.Lock()
        if path:
            self._f = open(path, "a", encoding="utf-8")
        else:
            self._f = sys.stderr

    def write(self, event, **fields):
        rec = {"time": round(time.time(), 3), "event": event}
        rec.update(fields)
        line = json.dumps(rec, sort_keys=True)
        with self._lock:
            self._f.write(line + "\n")
            self._f.flush()


def serve(server, args, log, name):
    """Run server until SIGTERM, SIGINT or --max-seconds, then close it."""
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.write(name + ".signal", signal=signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    write_port_file(args.port_file, port)
    log.write(name + ".listening", port=port)
    deadline = time.monotonic() + max(args.max_seconds, 0.1)
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            log.write(name + ".lifetime_cap", max_seconds=args.max_seconds)
            break
        stop.wait(min(left, 0.2))
    server.shutdown()
    server.server_close()
    log.write(name + ".stopped")
    return 0


def b64url(data):
    """base64url without padding (JOSE)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    """Strict base64url without padding; raises ValueError."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    if "=" in text or "+" in text or "/" in text:
        raise ValueError("not unpadded base64url")
    pad = "=" * (-len(text) % 4)
    return base64.b64decode(text + pad, altchars=b"-_", validate=True)


def b64std_decode(text):
    """Strict standard base64 with padding; raises ValueError."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    return base64.b64decode(text, validate=True)


class _TLSServerMixin:
    """Wrap accepted sockets in TLS; the handshake runs in the handler
    thread so one slow client never blocks accept()."""

    tls_context = None

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls_context is not None:
            sock = self.tls_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


def make_server(handler_cls, port, cert=None, key=None):
    """A threading HTTP server on 127.0.0.1:port, TLS when cert is given."""
    import http.server
    import ssl

    class Server(_TLSServerMixin, http.server.ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server((LOOPBACK, port), handler_cls)
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        server.tls_context = ctx
    return server


def handshake(handler):
    """Finish the TLS handshake of a handler's connection, if any.
    Returns False (and the caller should give up) when it fails."""
    import ssl

    sock = handler.connection
    if not isinstance(sock, ssl.SSLSocket):
        return True
    try:
        sock.do_handshake()
    except (ssl.SSLError, OSError):
        return False
    return True
