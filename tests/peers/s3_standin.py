#!/usr/bin/python3
"""An S3-compatible object store stand-in that verifies SigV4, with STS.

Written from AWS's public documentation of Signature Version 4 (canonical
request, string to sign, signing key), the S3 REST GetObject and error
responses, and STS AssumeRoleWithWebIdentity, not from sealpod's code.

Objects are the files under --root: key "a/b" is ROOT/a/b, in the one
bucket --bucket. Both addressing styles are understood: path style
(/bucket/key, Host = the endpoint) and virtual-hosted style
(Host = bucket.<anything>, /key).

GET and HEAD, one byte range (206 + Content-Range, 416 InvalidRange).
Every request must carry a valid "AWS4-HMAC-SHA256" Authorization header
unless --anonymous is given:
  - key id known: the static --access-key, or temporary credentials this
    stand-in issued through STS (then x-amz-security-token must be sent,
    signed, and match, and the credentials must not have expired);
  - scope <day>/<--region>/s3/aws4_request, day = that of x-amz-date;
  - x-amz-date within 15 minutes of our clock;
  - signed headers include host, x-amz-date and x-amz-content-sha256;
  - x-amz-content-sha256 is the SHA-256 of the (empty) body or
    UNSIGNED-PAYLOAD;
  - the signature, recomputed from the request as received, matches.
Failures answer S3 XML error documents: 403 SignatureDoesNotMatch,
InvalidAccessKeyId, AccessDenied, RequestTimeTooSkewed, ExpiredToken,
InvalidToken; 400 AuthorizationHeaderMalformed; 404 NoSuchKey,
NoSuchBucket.

STS: a POST (any path) with a form body Action=AssumeRoleWithWebIdentity
is answered as STS would: RoleArn must equal --sts-role-arn and
WebIdentityToken the contents of --sts-token-file; the request must be
unsigned. Credentials last --sts-duration seconds.

Fault injection:
  --drop-after N   cut every object response after N body bytes in total
                   over the server's life (the store dies mid-download)
  --drop-once N    cut the first object response after N body bytes, then
                   serve normally (a transient drop)
  --stall S        after the first body chunk, go silent for S seconds
  --skew S         pretend our clock is S seconds ahead
  --ignore-range   answer every GET with 200 and the whole object, as a
                   gateway without range support may

Each request is logged as one JSON line: method, path, range, status,
sent, auth ("anonymous", "static", "sts", "none"), error code.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import http.server
import os
import secrets
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

CHUNK = 64 * 1024
MAX_FORM = 64 * 1024
MAX_SKEW = 15 * 60
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
UNRESERVED = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
              "0123456789-._~")


class Denied(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def uri_encode(data, keep_slash):
    """SigV4 UriEncode: unreserved bytes stay, others %XX (upper)."""
    out = []
    for b in data:
        c = chr(b)
        if c in UNRESERVED or (keep_slash and c == "/"):
            out.append(c)
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def hmac_sha256(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret, day, region, service):
    k = hmac_sha256(("AWS4" + secret).encode("utf-8"), day)
    k = hmac_sha256(k, region)
    k = hmac_sha256(k, service)
    return hmac_sha256(k, "aws4_request")


def canonical_query(raw):
    pairs = []
    for item in raw.split("&") if raw else []:
        name, _, value = item.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote_to_bytes(name), False),
                      uri_encode(urllib.parse.unquote_to_bytes(value),
                                 False)))
    pairs.sort()
    return "&".join("%s=%s" % p for p in pairs)


def parse_authorization(value):
    """{'id','day','region','service','signed','signature'} or Denied."""
    algo, _, rest = value.partition(" ")
    if algo != "AWS4-HMAC-SHA256":
        raise Denied(400, "InvalidArgument", "unsupported algorithm")
    fields = {}
    for part in rest.split(","):
        name, _, val = part.strip().partition("=")
        fields[name] = val
    try:
        cred = fields["Credential"].split("/")
        out = {"signed": fields["SignedHeaders"].split(";"),
               "signature": fields["Signature"]}
    except KeyError:
        raise Denied(400, "AuthorizationHeaderMalformed", "fields missing")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise Denied(400, "AuthorizationHeaderMalformed", "bad credential")
    out.update(id=cred[0], day=cred[1], region=cred[2], service=cred[3])
    return out


class State:
    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.root = os.path.realpath(args.root)
        self.lock = threading.Lock()
        self.sent_total = 0
        self.dropped_once = False
        self.temp = {}           # key id -> (secret, token, expires)
        self.sts_calls = 0
        self.web_token = None
        if args.sts_token_file:
            with open(args.sts_token_file, encoding="ascii") as f:
                self.web_token = f.read().strip()

    def now(self):
        return time.time() + (self.args.skew or 0)

    def budget(self, want):
        args = self.args
        with self.lock:
            if args.drop_after is not None:
                left = max(args.drop_after - self.sent_total, 0)
                want = min(want, left)
            self.sent_total += want
        return want

    def secret_for(self, key_id, token):
        """(secret, kind) for a key id, or Denied."""
        args = self.args
        if args.access_key and key_id == args.access_key:
            if token is not None and not args.accept_stray_token:
                raise Denied(403, "InvalidToken", "token with static key")
            return args.secret_key, "static"
        with self.lock:
            temp = self.temp.get(key_id)
        if temp is None:
            raise Denied(403, "InvalidAccessKeyId", "unknown key id")
        secret, want_token, expires = temp
        if token is None:
            raise Denied(403, "InvalidToken", "session token missing")
        if not hmac.compare_digest(token, want_token):
            raise Denied(403, "InvalidToken", "session token wrong")
        if self.now() >= expires:
            raise Denied(400, "ExpiredToken", "credentials expired")
        return secret, "sts"

    def issue(self, duration):
        key_id = "ASIA" + secrets.token_hex(8).upper()
        secret = base64.b64encode(secrets.token_bytes(30)).decode()
        token = base64.b64encode(secrets.token_bytes(600)).decode()
        expires = self.now() + duration
        with self.lock:
            self.temp[key_id] = (secret, token, expires)
            self.sts_calls += 1
        return key_id, secret, token, expires


def parse_range(header, size):
    """(start, end) inclusive; None to serve all; "unsatisfiable"."""
    if not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].partition("-")
    if not first.isdigit():
        return None
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    if last == "":
        return (start, size - 1)
    if not last.isdigit() or int(last) < start:
        return None
    return (start, min(int(last), size - 1))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3-standin"
    sys_version = ""
    timeout = 30
    state = None

    def log_message(self, fmt, *args):
        pass

    def handle(self):
        if peerlib.handshake(self):
            super().handle()

    # ---- helpers ----

    def _log(self, status, sent=0, auth="none", code=None):
        self.state.log.write("s3.request", method=self.command,
                             path=urllib.parse.urlsplit(self.path).path,
                             range=self.headers.get("Range"), status=status,
                             sent=sent, auth=auth, code=code,
                             token=self.headers.get("x-amz-security-token")
                             is not None,
                             host=self.headers.get("Host"))

    def _xml(self, status, body, auth="none", code=None, extra=()):
        data = body.encode("utf-8")
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self._log(status, 0, auth, code)

    def _error(self, status, code, message, auth="none", extra=()):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s'
                '</Code><Message>%s</Message><RequestId>%s</RequestId>'
                '</Error>' % (code, message, secrets.token_hex(8)))
        self._xml(status, body, auth, code, extra)

    # ---- SigV4 ----

    def _canonical_headers(self, names):
        lines = []
        for name in names:
            values = self.headers.get_all(name)
            if not values:
                raise Denied(403, "SignatureDoesNotMatch",
                             "signed header %s not sent" % name)
            folded = [" ".join(v.split()) for v in values]
            lines.append("%s:%s\n" % (name, ",".join(folded)))
        return "".join(lines)

    def _verify(self):
        """Returns the auth kind, or raises Denied."""
        auth = self.headers.get("Authorization")
        if auth is None:
            if self.state.args.anonymous:
                return "anonymous"
            raise Denied(403, "AccessDenied", "anonymous access refused")
        a = parse_authorization(auth)
        amz_date = self.headers.get("x-amz-date", "")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError:
            raise Denied(403, "AccessDenied", "x-amz-date missing or bad")
        when = when.replace(tzinfo=datetime.timezone.utc).timestamp()
        if abs(self.state.now() - when) > MAX_SKEW:
            raise Denied(403, "RequestTimeTooSkewed", "clock skew")
        if a["day"] != amz_date[:8] or a["service"] != "s3":
            raise Denied(403, "SignatureDoesNotMatch", "scope")
        if a["region"] != self.state.args.region:
            raise Denied(400, "AuthorizationHeaderMalformed",
                         "the region is wrong; expecting '%s'"
                         % self.state.args.region)
        signed = a["signed"]
        if signed != sorted(signed) or len(set(signed)) != len(signed):
            raise Denied(403, "SignatureDoesNotMatch", "signed headers")
        for need in ("host", "x-amz-date", "x-amz-content-sha256"):
            if need not in signed:
                raise Denied(403, "AccessDenied", need + " not signed")
        token = self.headers.get("x-amz-security-token")
        if token is not None and "x-amz-security-token" not in signed:
            raise Denied(403, "AccessDenied", "token not signed")
        payload = self.headers.get("x-amz-content-sha256")
        if payload not in (EMPTY_SHA256, UNSIGNED):
            raise Denied(400, "XAmzContentSHA256Mismatch", "payload hash")
        secret, kind = self.state.secret_for(a["id"], token)

        split = urllib.parse.urlsplit(self.path)
        path = uri_encode(urllib.parse.unquote_to_bytes(split.path), True)
        creq = "\n".join([self.command, path or "/",
                          canonical_query(split.query),
                          self._canonical_headers(signed),
                          ";".join(signed), payload])
        to_sign = "\n".join([
            "AWS4-HMAC-SHA256", amz_date,
            "%s/%s/s3/aws4_request" % (a["day"], a["region"]),
            hashlib.sha256(creq.encode("utf-8")).hexdigest()])
        key = signing_key(secret, a["day"], a["region"], "s3")
        want = hmac.new(key, to_sign.encode("utf-8"),
                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, a["signature"]):
            raise Denied(403, "SignatureDoesNotMatch",
                         "The request signature we calculated does not "
                         "match the signature you provided.")
        return kind

    # ---- objects ----

    def _locate(self):
        """(bucket, key) from Host and path."""
        split = urllib.parse.urlsplit(self.path)
        raw = urllib.parse.unquote(split.path)
        host = self.headers.get("Host", "").split(":")[0]
        bucket = self.state.args.bucket
        if host.startswith(bucket + "."):
            return bucket, raw.lstrip("/")
        first, _, key = raw.lstrip("/").partition("/")
        return first, key

    def _object(self, key):
        if not key or len(key) > 1024 or "\0" in key:
            return None
        full = os.path.realpath(os.path.join(self.state.root, key))
        if not full.startswith(self.state.root + os.sep):
            return None
        return full if os.path.isfile(full) else None

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        try:
            kind = self._verify()
        except Denied as d:
            self._error(d.status, d.code, d.message)
            return
        bucket, key = self._locate()
        if bucket != self.state.args.bucket:
            self._error(404, "NoSuchBucket", "no such bucket", kind)
            return
        full = self._object(key)
        if full is None:
            self._error(404, "NoSuchKey", "no such key", kind)
            return
        self._serve(full, kind)

    def _serve(self, full, kind):
        size = os.path.getsize(full)
        rng_header = self.headers.get("Range")
        if self.state.args.ignore_range:
            rng_header = None      # RFC 9110 14.2: a server may
        rng = parse_range(rng_header, size) if rng_header else None
        if rng == "unsatisfiable":
            self._error(416, "InvalidRange", "range not satisfiable", kind,
                        [("Content-Range", "bytes */%d" % size)])
            return
        start, end = rng if rng else (0, size - 1)
        length = end - start + 1 if size else 0
        status = 206 if rng else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if not self.state.args.ignore_range:
            self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(length))
        if rng:
            self.send_header("Content-Range",
                             "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        sent = 0
        if self.command != "HEAD":
            sent = self._body(full, start, length)
        self._log(status, sent, kind)

    def _limit(self, length):
        args = self.state.args
        if args.drop_once is not None:
            with self.state.lock:
                if not self.state.dropped_once:
                    self.state.dropped_once = True
                    return min(length, args.drop_once)
        return length

    def _body(self, full, start, length):
        args = self.state.args
        limit = self._limit(length)
        sent = 0
        with open(full, "rb") as f:
            f.seek(start)
            while sent < limit:
                take = self.state.budget(min(CHUNK, limit - sent))
                if take == 0:
                    break
                data = f.read(take)
                if not data:
                    break
                self.wfile.write(data)
                sent += len(data)
                if args.stall:
                    break
        self.wfile.flush()
        if args.stall:
            time.sleep(args.stall)
        if sent < length:
            self.close_connection = True
        return sent

    # ---- STS ----

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0") or "0")
        if n > MAX_FORM:
            self._error(413, "RequestEntityTooLarge", "form too large")
            return
        form = urllib.parse.parse_qs(self.rfile.read(n).decode("ascii"),
                                     strict_parsing=False)

        def one(name):
            v = form.get(name, [])
            return v[0] if len(v) == 1 else None

        if one("Action") != "AssumeRoleWithWebIdentity":
            self._sts_error(400, "InvalidAction", "unknown action")
        elif one("Version") != "2011-06-15":
            self._sts_error(400, "InvalidParameterValue", "version")
        elif self.headers.get("Authorization") is not None:
            self._sts_error(400, "InvalidParameterCombination",
                            "AssumeRoleWithWebIdentity is unsigned")
        elif self.state.web_token is None or not one("RoleSessionName"):
            self._sts_error(400, "MissingParameter", "RoleSessionName")
        elif one("RoleArn") != self.state.args.sts_role_arn:
            self._sts_error(403, "AccessDenied", "not authorized")
        elif not hmac.compare_digest(one("WebIdentityToken") or "",
                                     self.state.web_token):
            self._sts_error(400, "InvalidIdentityToken", "token refused")
        else:
            self._sts_ok(form)

    def _sts_error(self, status, code, message):
        body = ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/'
                '2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code>'
                '<Message>%s</Message></Error><RequestId>%s</RequestId>'
                '</ErrorResponse>' % (code, message, secrets.token_hex(8)))
        self._xml(status, body, "sts-call", code)

    def _sts_ok(self, form):
        key_id, secret, token, expires = self.state.issue(
            self.state.args.sts_duration)
        stamp = datetime.datetime.fromtimestamp(
            expires, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = ('<AssumeRoleWithWebIdentityResponse xmlns="https://sts.'
                'amazonaws.com/doc/2011-06-15/">\n'
                '  <AssumeRoleWithWebIdentityResult>\n'
                '    <SubjectFromWebIdentityToken>system:serviceaccount:'
                'models:sealpod</SubjectFromWebIdentityToken>\n'
                '    <Credentials>\n'
                '      <AccessKeyId>%s</AccessKeyId>\n'
                '      <SecretAccessKey>%s</SecretAccessKey>\n'
                '      <SessionToken>%s</SessionToken>\n'
                '      <Expiration>%s</Expiration>\n'
                '    </Credentials>\n'
                '  </AssumeRoleWithWebIdentityResult>\n'
                '</AssumeRoleWithWebIdentityResponse>\n'
                % (key_id, secret, token, stamp))
        self.state.log.write("s3.sts.issued", key_id=key_id,
                             duration=self.state.args.sts_duration,
                             session=form.get("RoleSessionName", [""])[0])
        self._xml(200, body, "sts-call")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    peerlib.add_common_args(p)
    p.add_argument("--root", required=True, help="the bucket's objects")
    p.add_argument("--bucket", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--cert", help="TLS certificate chain; plain HTTP "
                   "when absent")
    p.add_argument("--key", help="TLS private key")
    p.add_argument("--access-key", help="static access key id")
    p.add_argument("--secret-key", help="its secret access key")
    p.add_argument("--accept-stray-token", action="store_true",
                   help="ignore a session token sent with the static key")
    p.add_argument("--anonymous", action="store_true",
                   help="serve unsigned requests too")
    p.add_argument("--sts-role-arn")
    p.add_argument("--sts-token-file",
                   help="the web identity token STS accepts")
    p.add_argument("--sts-duration", type=int, default=3600)
    p.add_argument("--drop-after", type=int, metavar="BYTES")
    p.add_argument("--drop-once", type=int, metavar="BYTES")
    p.add_argument("--stall", type=float, metavar="SECONDS")
    p.add_argument("--skew", type=float, metavar="SECONDS")
    p.add_argument("--ignore-range", action="store_true")
    args = p.parse_args()
    if args.max_seconds <= 0:
        p.error("--max-seconds must be positive")
    if bool(args.access_key) != bool(args.secret_key):
        p.error("--access-key and --secret-key go together")
    log = peerlib.JsonLog(args.log)
    Handler.state = State(args, log)
    server = peerlib.make_server(Handler, args.port, args.cert, args.key)
    return peerlib.serve(server, args, log, "s3")


if __name__ == "__main__":
    sys.exit(main())
