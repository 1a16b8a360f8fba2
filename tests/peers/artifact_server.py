#!/usr/bin/python3
"""An HTTPS static file server over one directory, for sealed artifacts.

GET and HEAD; a single byte range per request (RFC 9110 14: 206 with
Content-Range, 416 with "bytes */size" when unsatisfiable; several ranges
are answered with the whole file, which the RFC allows); 404 for anything
missing or outside the directory. HTTP/1.1 keep-alive.

Fault injection, each applies to every response body:
  --truncate N      send at most N body bytes, then close the connection
                    (headers still announce the full length)
  --drop-after N    after N body bytes in total over the server's life,
                    cut every response (the store "dies" mid-download)
  --stall S         after the headers and the first body bytes, go silent
                    for S seconds (an idle-timeout test), then close
  --status PATH=CODE  answer CODE (e.g. 500, 503, 403) for that path
  --ignore-range    answer every GET with 200 and the whole file, as RFC
                    9110 14.2 lets a server do (no Accept-Ranges either)
  --drop-once N     cut the first response whose body gets past N bytes
                    there, once in the server's life (a broken
                    connection that a retry gets past)
  --ignore-range-for PATH  as --ignore-range, for that path only
  --alternate-range honour Range on the 1st, 3rd, ... ranged GET and answer
                    the others with 200 and the whole file (RFC 9110 14.2
                    lets any single response ignore Range: a CDN with
                    mixed edges)
  --short-range-once  the first 206 asked for more than 64 KiB carries only
                    the first half of its range, with Content-Range and
                    Content-Length saying so (a broken store: RFC 9110
                    14.4 wants the requested bytes that exist)
  --overrun N       every 206 carries N bytes more than its range (the
                    file's next bytes, zero bytes past its end), announced
                    in Content-Length (a broken store)
  --overrun-end N   as --overrun, for 206s that reach the file's end only

Every request is logged as a JSON line: path, range, status, bytes sent.
"""

import argparse
import http.server
import os
import re
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

CHUNK = 64 * 1024
MAX_PATH_BYTES = 4096
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class State:
    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.root = os.path.realpath(args.root)
        self.lock = threading.Lock()
        self.sent_total = 0
        self.dropped = False
        self.ignore_range = getattr(args, "ignore_range", False)
        self.ignore_for = set(getattr(args, "ignore_range_for", None) or [])
        self.ranged_gets = 0
        self.shorted = False
        self.status_for = {}
        for item in args.status or []:
            path, _, code = item.rpartition("=")
            self.status_for[path] = int(code)

    def drop_here(self, sent, take):
        """Bytes of `take` to send before --drop-once cuts this body."""
        n = getattr(self.args, "drop_once", None)   # wrappers may lack it
        if n is None or sent + take <= n:
            return take
        with self.lock:
            if self.dropped:
                return take
            self.dropped = True
            return max(n - sent, 0)

    def range_ignored(self, path, header):
        """Whether this GET's Range header goes unheeded."""
        if self.ignore_range or path in self.ignore_for:
            return True
        if not getattr(self.args, "alternate_range", False) or not header:
            return False
        with self.lock:
            self.ranged_gets += 1
            return self.ranged_gets % 2 == 0

    def short_once(self, length):
        """Whether this 206 is the one --short-range-once cuts."""
        if not getattr(self.args, "short_range_once", False):
            return False
        with self.lock:
            if self.shorted or length <= 64 * 1024:
                return False
            self.shorted = True
            return True

    def budget(self, want):
        """How many of `want` bytes --drop-after still lets through."""
        if self.args.drop_after is None:
            return want
        with self.lock:
            left = max(self.args.drop_after - self.sent_total, 0)
            take = min(want, left)
            self.sent_total += take
            return take


def parse_range(header, size):
    """(start, end) inclusive, None for "no usable range" (serve all),
    or "unsatisfiable"."""
    m = RANGE_RE.match(header.strip())
    if not m:
        return None          # several ranges or junk: ignore (RFC allows)
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":
        n = int(last)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return (max(size - n, 0), size - 1)
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = size - 1 if last == "" else min(int(last), size - 1)
    if end < start:
        return None          # invalid range: ignore the header
    return (start, end)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "artifact-server"
    sys_version = ""
    timeout = 30
    state = None

    def log_message(self, fmt, *args):
        pass

    def handle(self):
        if peerlib.handshake(self):
            super().handle()

    def do_HEAD(self):
        self._serve()

    def do_GET(self):
        self._serve()

    def _log(self, status, sent, rng=None):
        self.state.log.write("artifact.request", method=self.command,
                             path=self._path, status=status, sent=sent,
                             range=rng)

    def _plain(self, status, text, extra=None):
        body = text.encode()
        self.send_response(status)
        for name, value in extra or []:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._log(status, 0, self.headers.get("Range"))

    def _resolve(self):
        """Absolute path inside the root, or None."""
        rel = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if len(rel) > MAX_PATH_BYTES or "\0" in rel:
            return None
        full = os.path.realpath(os.path.join(self.state.root,
                                             rel.lstrip("/")))
        if not full.startswith(self.state.root + os.sep):
            return None
        if not os.path.isfile(full):
            return None
        return full

    def _serve(self):
        self._path = urllib.parse.urlsplit(self.path).path
        forced = self.state.status_for.get(self._path)
        if forced:
            self._plain(forced, "forced status\n")
            return
        full = self._resolve()
        if full is None:
            self._plain(404, "not found\n")
            return
        size = os.path.getsize(full)
        rng_header = self.headers.get("Range")
        ignored = self.state.range_ignored(self._path, rng_header)
        if ignored:
            rng_header = None
        rng = parse_range(rng_header, size) if rng_header else None
        if rng == "unsatisfiable":
            self._plain(416, "range not satisfiable\n",
                        [("Content-Range", "bytes */%d" % size)])
            return
        start, end = rng if rng else (0, size - 1)
        if rng and self.state.short_once(end - start + 1):
            end = start + (end - start + 1) // 2 - 1
        length = end - start + 1 if size else 0
        extra = self._extra(rng, end, size)
        self.send_response(206 if rng else 200)
        self.send_header("Content-Type", "application/octet-stream")
        if not ignored:
            self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(length + len(extra)))
        if rng:
            self.send_header("Content-Range", "bytes %d-%d/%d" %
                             (start, end, size))
        self.end_headers()
        sent = 0
        if self.command != "HEAD":
            sent = self._body(full, start, length, extra)
        self._log(206 if rng else 200, sent, self.headers.get("Range"))

    def _extra(self, rng, end, size):
        """Bytes past the range that --overrun(-end) adds to a 206."""
        args = self.state.args
        n = getattr(args, "overrun", None)
        if n is None and end == size - 1:
            n = getattr(args, "overrun_end", None)
        if not rng or not n:
            return b""
        with open(self._resolve(), "rb") as f:
            f.seek(end + 1)
            data = f.read(n)
        return data + b"\0" * (n - len(data))

    def _body(self, full, start, length, tail=b""):
        """Send [start, start+length) of full; tail goes out in the same
        write as the last piece, so the surplus shares its packet."""
        args = self.state.args
        limit = length
        if args.truncate is not None:
            limit = min(limit, args.truncate)
        sent = 0
        with open(full, "rb") as f:
            f.seek(start)
            while sent < limit:
                want = min(CHUNK, limit - sent)
                cut = self.state.drop_here(sent, want)
                take = self.state.budget(cut)
                if take == 0:
                    break
                data = f.read(take)
                if not data:
                    break
                if sent + len(data) == length and tail:
                    data += tail
                    sent -= len(tail)
                self.wfile.write(data)
                sent += len(data)
                if cut < want:
                    break        # --drop-once cut this body here
                if args.stall:
                    break        # one chunk, then go silent below
        self.wfile.flush()
        if args.stall:
            time.sleep(args.stall)
        if sent < length:
            self.close_connection = True
        return sent


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    peerlib.add_common_args(p)
    p.add_argument("--root", required=True, help="directory to serve")
    p.add_argument("--cert", help="TLS certificate chain (PEM); plain HTTP "
                   "when absent")
    p.add_argument("--key", help="TLS private key (PEM)")
    p.add_argument("--truncate", type=int, metavar="BYTES")
    p.add_argument("--drop-after", type=int, metavar="BYTES")
    p.add_argument("--stall", type=float, metavar="SECONDS")
    p.add_argument("--status", action="append", metavar="PATH=CODE")
    p.add_argument("--ignore-range", action="store_true")
    p.add_argument("--drop-once", type=int, metavar="BYTES")
    p.add_argument("--ignore-range-for", action="append", metavar="PATH")
    p.add_argument("--alternate-range", action="store_true")
    p.add_argument("--short-range-once", action="store_true")
    p.add_argument("--overrun", type=int, metavar="BYTES")
    p.add_argument("--overrun-end", type=int, metavar="BYTES")
    args = p.parse_args()
    if args.max_seconds <= 0:
        p.error("--max-seconds must be positive")
    log = peerlib.JsonLog(args.log)
    Handler.state = State(args, log)
    server = peerlib.make_server(Handler, args.port, args.cert, args.key)
    return peerlib.serve(server, args, log, "artifact")


if __name__ == "__main__":
    sys.exit(main())
