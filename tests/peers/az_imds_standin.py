#!/usr/bin/python3
"""An Azure instance metadata service (IMDS) stand-in, on 127.0.0.1.

The two calls an Azure CVM attester makes (tee-guest-interfaces.md
section 4.4 step 6), both requiring the header "Metadata: true":

  GET  /metadata/THIM/amd/certification
       -> {"vcekCert": PEM, "certificateChain": PEM, "tcbm": str}
          from --vcek (and --chain, optional)
  POST /acc/tdquote  {"report": base64url(TDREPORT, 1024 bytes)}
       -> {"quote": base64url(TD quote)}: the --td-quote sample (a v4
          quote) with its REPORTDATA (body 0x30 + 0x208) replaced by
          the TDREPORT's REPORTDATA (offset 0x80), so the quote speaks
          for the report it was asked about. Nothing is re-signed.

Everything else is 404; a missing header is 400. Each request is one
JSON line in --log (event imds.request: method, path, status,
metadata_header).
"""

import argparse
import base64
import http.server
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

TDREPORT_LEN = 1024
TDREPORT_REPORTDATA = 0x80
QUOTE_V4_REPORTDATA = 0x30 + 0x208
REPORTDATA_LEN = 64
BODY_MAX = 64 * 1024


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_any(text):
    """base64url with or without padding; raises ValueError."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    text = text.rstrip("=")
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_",
                            validate=True)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "imds-standin"
    sys_version = ""
    timeout = 30
    args = None
    log = None

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.log.write("imds.request", method=self.command,
                       path=self.path, status=status,
                       metadata_header=self._metadata())

    def _metadata(self):
        return self.headers.get("Metadata") == "true"

    def do_GET(self):
        if not self._metadata():
            self._send(400, {"error": "Metadata header required"})
        elif self.path == "/metadata/THIM/amd/certification":
            self._thim()
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or "0")
        body = self.rfile.read(n) if 0 <= n <= BODY_MAX else b""
        if not self._metadata():
            self._send(400, {"error": "Metadata header required"})
        elif self.path == "/acc/tdquote":
            self._tdquote(body)
        else:
            self._send(404, {"error": "not found"})

    def _thim(self):
        if not self.args.vcek:
            self._send(404, {"error": "no VCEK configured"})
            return
        with open(self.args.vcek, encoding="ascii") as f:
            vcek = f.read()
        chain = ""
        if self.args.chain:
            with open(self.args.chain, encoding="ascii") as f:
                chain = f.read()
        reply = {"vcekCert": vcek, "certificateChain": chain,
                 "tcbm": "standin"}
        if self.args.pad_kib:
            reply["padding"] = "x" * (1024 * self.args.pad_kib)
        self._send(200, reply)

    def _tdquote(self, body):
        try:
            report = b64url_any(json.loads(body).get("report"))
        except (ValueError, AttributeError):
            self._send(400, {"error": "bad request"})
            return
        if len(report) != TDREPORT_LEN or not self.args.td_quote:
            self._send(400, {"error": "not a TDREPORT"})
            return
        with open(self.args.td_quote, "rb") as f:
            quote = bytearray(f.read())
        rd = report[TDREPORT_REPORTDATA:TDREPORT_REPORTDATA + REPORTDATA_LEN]
        quote[QUOTE_V4_REPORTDATA:QUOTE_V4_REPORTDATA + REPORTDATA_LEN] = rd
        self._send(200, {"quote": b64url(bytes(quote))})


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    peerlib.add_common_args(p)
    p.add_argument("--vcek", help="VCEK PEM served by THIM")
    p.add_argument("--chain", help="ASK/ARK PEM served by THIM")
    p.add_argument("--td-quote", help="v4 TD quote sample for /acc/tdquote")
    p.add_argument("--pad-kib", type=int, default=0,
                   help="pad the THIM reply with this many KiB (a reply "
                   "over the client's ceiling)")
    args = p.parse_args()
    log = peerlib.JsonLog(args.log)
    Handler.args = args
    Handler.log = log
    server = peerlib.make_server(Handler, args.port)
    return peerlib.serve(server, args, log, "imds")


if __name__ == "__main__":
    sys.exit(main())
