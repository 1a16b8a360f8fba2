#!/usr/bin/python3
"""An OCI distribution (registry) stand-in serving one sealed artifact.

Written from the OCI Distribution Specification 1.1 (pull: /v2/,
manifests by tag and by digest, blobs, error bodies), the OCI Image
Specification 1.1 (image manifest, descriptors, the title annotation, the
empty config) and Docker's token authentication documentation (the
WWW-Authenticate Bearer challenge and the token endpoint), not from
sealpod's code.

At start it builds the artifact from a sealed store directory the way
`oras push` does: one layer per file (manifest.sealed, manifest.sig when
present, blobs/<hex>), each with the annotation
org.opencontainers.image.title = its relative path, the empty config
(application/vnd.oci.empty.v1+json, "{}"), artifactType
application/vnd.sealpod.model.v1, tagged --tag in repository --repo. The
manifest's digest is written to --digest-file.

  GET  /v2/                              200 (401 + challenge with auth)
  GET|HEAD /v2/<repo>/manifests/<ref>    by tag or digest; 404
                                         MANIFEST_UNKNOWN
  GET|HEAD /v2/<repo>/blobs/<digest>     one Range (206/416); 404
                                         BLOB_UNKNOWN
  GET  /token?service=&scope=            bearer tokens (--auth bearer)
  GET  /_storage/<digest>                the redirect target of
                                         --redirect-blobs (no auth)

Auth (--auth): none; basic (401 "Basic realm=..." unless the request
carries --user/--password); bearer (401 with a Bearer challenge; the
token endpoint wants Basic --user/--password when they are set, and its
tokens last --token-seconds and are good for "repository:<repo>:pull").

Faults:
  --redirect-blobs     307 every blob GET to https://localhost:<port>/
                       _storage/<digest> (another host name, so a client
                       must not forward Authorization; logged)
  --corrupt-blob       serve the largest blob with one byte flipped
  --mislabel           give the largest blob layer the title of another
  --wrong-dcd          a Docker-Content-Digest that is not the manifest's
  --any-digest         answer a manifest GET by any digest with the
                       manifest (whose digest is another)
  --content-type T     the manifest's Content-Type
  --serve-index        answer the tag with an image index instead
  --layer-media-type T the layers' mediaType
  --drop-once N        cut the first blob response after N body bytes
  --drop-after N       cut blob responses once N bytes were sent in all
  --stall S            after the first blob chunk, go silent S seconds
  --ignore-range       answer every blob GET with 200 and the whole blob
                       (range support is optional for registries)

Every request is logged as one JSON line.
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

CHUNK = 64 * 1024
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_EMPTY = "application/vnd.oci.empty.v1+json"
ORAS_LAYER = "application/vnd.oci.image.layer.v1.tar"
TITLE = "org.opencontainers.image.title"
SERVICE = "sealpod-test-registry"
NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
                     r"(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Artifact:
    """The blobs (digest -> bytes or path) and manifests of one repo."""

    def __init__(self, args):
        self.blobs = {}          # digest -> (path or None, bytes or None)
        files = []
        for rel in ["manifest.sealed", "manifest.sig"]:
            if os.path.isfile(os.path.join(args.store, rel)):
                files.append(rel)
        bdir = os.path.join(args.store, "blobs")
        files += ["blobs/" + n for n in sorted(os.listdir(bdir))]
        layers = []
        for rel in files:
            path = os.path.join(args.store, rel)
            with open(path, "rb") as f:
                digest = sha256_digest(f.read())
            self.blobs[digest] = (path, None)
            layers.append({"mediaType": args.layer_media_type,
                           "digest": digest,
                           "size": os.path.getsize(path),
                           "annotations": {TITLE: rel}})
        blob_layers = [la for la in layers
                       if la["annotations"][TITLE].startswith("blobs/")]
        self.largest = max(blob_layers, key=lambda la: la["size"])["digest"]
        if args.mislabel:
            other = [la for la in blob_layers
                     if la["digest"] != self.largest][0]
            for la in layers:
                if la["digest"] == self.largest:
                    la["annotations"][TITLE] = other["annotations"][TITLE]
                elif la is other:
                    la["annotations"][TITLE] = "blobs/" + "0" * 64
        config = b"{}"
        self.blobs[sha256_digest(config)] = (None, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "artifactType": "application/vnd.sealpod.model.v1",
            "config": {"mediaType": MT_EMPTY,
                       "digest": sha256_digest(config), "size": 2},
            "layers": layers,
            "annotations": {"org.opencontainers.image.created":
                            "2026-01-01T00:00:00Z"},
        }
        self.manifest = json.dumps(manifest, indent=2).encode()
        self.manifest_digest = sha256_digest(self.manifest)
        index = {"schemaVersion": 2, "mediaType": MT_INDEX,
                 "manifests": [{"mediaType": MT_MANIFEST,
                                "digest": self.manifest_digest,
                                "size": len(self.manifest)}]}
        self.index = json.dumps(index).encode()


class State:
    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.art = Artifact(args)
        self.lock = threading.Lock()
        self.tokens = {}        # token -> expiry
        self.sent_total = 0
        self.dropped_once = False
        self.port = None
        if args.digest_file:
            with open(args.digest_file, "w", encoding="ascii") as f:
                f.write(self.art.manifest_digest + "\n")

    def budget(self, want):
        with self.lock:
            if self.args.drop_after is not None:
                want = min(want, max(self.args.drop_after -
                                     self.sent_total, 0))
            self.sent_total += want
        return want

    def basic_ok(self, header):
        a = self.args
        if not a.user:
            return True
        want = "Basic " + base64.b64encode(
            ("%s:%s" % (a.user, a.password)).encode()).decode()
        return header is not None and hmac.compare_digest(header, want)

    def token_ok(self, header):
        if header is None or not header.startswith("Bearer "):
            return False
        with self.lock:
            expiry = self.tokens.get(header[7:])
        return expiry is not None and time.time() < expiry


def parse_range(header, size):
    if not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].partition("-")
    if not first.isdigit():
        return None
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = size - 1 if last == "" else min(int(last), size - 1)
    return (start, end) if end >= start else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oci-standin"
    sys_version = ""
    timeout = 30
    state = None

    def log_message(self, fmt, *args):
        pass

    def handle(self):
        if peerlib.handshake(self):
            super().handle()

    def _log(self, status, sent=0, **extra):
        self.state.log.write("oci.request", method=self.command,
                             path=urllib.parse.urlsplit(self.path).path,
                             range=self.headers.get("Range"), status=status,
                             sent=sent,
                             authorization=self._auth_kind(), **extra)

    def _auth_kind(self):
        h = self.headers.get("Authorization")
        return h.split(" ")[0].lower() if h else "none"

    def _send(self, status, body, ctype, extra=()):
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._log(status)

    def _error(self, status, code, message, extra=()):
        body = json.dumps({"errors": [{"code": code, "message": message,
                                       "detail": None}]}).encode()
        self._send(status, body, "application/json", extra)

    def _challenge(self, repo):
        a = self.state.args
        if a.auth == "basic":
            return 'Basic realm="%s"' % SERVICE
        realm = "https://127.0.0.1:%d/token" % self.state.port
        if not a.cert:
            realm = "http://127.0.0.1:%d/token" % self.state.port
        scope = ',scope="repository:%s:pull"' % repo if repo else ""
        return 'Bearer realm="%s",service="%s"%s' % (realm, SERVICE, scope)

    def _authorized(self, repo):
        a = self.state.args
        h = self.headers.get("Authorization")
        if a.auth == "none":
            return True
        if a.auth == "basic":
            return h is not None and self.state.basic_ok(h)
        return self.state.token_ok(h)

    def _deny(self, repo):
        self._error(401, "UNAUTHORIZED", "authentication required",
                    [("WWW-Authenticate", self._challenge(repo)),
                     ("Docker-Distribution-API-Version", "registry/2.0")])

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        if path == "/token":
            self._token(urllib.parse.parse_qs(split.query))
            return
        if path.startswith("/_storage/"):
            self._storage(path[len("/_storage/"):])
            return
        if path == "/v2/" or path == "/v2":
            if not self._authorized(None):
                self._deny(None)
                return
            self._send(200, b"{}", "application/json")
            return
        m = re.match(r"^/v2/(.+)/(manifests|blobs)/([^/]+)$", path)
        if not m or not NAME_RE.match(m.group(1)):
            self._error(404, "NAME_UNKNOWN", "no such repository")
            return
        repo, kind, ref = m.groups()
        if not self._authorized(repo):
            self._deny(repo)
            return
        if repo != self.state.args.repo:
            self._error(404, "NAME_UNKNOWN", "no such repository")
        elif kind == "manifests":
            self._manifest(ref)
        else:
            self._blob(ref)

    # ---- tokens ----

    def _token(self, query):
        a = self.state.args
        if a.auth != "bearer":
            self._error(404, "UNSUPPORTED", "no token service")
            return
        scope = (query.get("scope") or [""])[0]
        service = (query.get("service") or [""])[0]
        if not self.state.basic_ok(self.headers.get("Authorization")):
            self._error(401, "UNAUTHORIZED", "bad credentials",
                        [("WWW-Authenticate", 'Basic realm="token"')])
            return
        if service != SERVICE or scope != "repository:%s:pull" % a.repo:
            self._error(403, "DENIED", "scope refused")
            return
        tok = secrets.token_urlsafe(32)
        with self.state.lock:
            self.state.tokens[tok] = time.time() + a.token_seconds
        body = json.dumps({"token": tok, "access_token": tok,
                           "expires_in": a.token_seconds}).encode()
        self._send(200, body, "application/json")

    # ---- manifests ----

    def _manifest(self, ref):
        art = self.state.art
        a = self.state.args
        if ref not in (a.tag, art.manifest_digest) and not (
                a.any_digest and DIGEST_RE.match(ref)):
            self._error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            return
        body, ctype = art.manifest, a.content_type or MT_MANIFEST
        digest = art.manifest_digest
        if a.serve_index and ref == a.tag:
            body, ctype, digest = art.index, MT_INDEX, sha256_digest(
                art.index)
        if a.wrong_dcd:
            digest = sha256_digest(b"not this manifest")
        self._send(200, body, ctype, [("Docker-Content-Digest", digest)])

    # ---- blobs ----

    def _blob(self, digest):
        art = self.state.art
        if not DIGEST_RE.match(digest) or digest not in art.blobs:
            self._error(404, "BLOB_UNKNOWN", "blob unknown")
            return
        if self.state.args.redirect_blobs:
            loc = "https://localhost:%d/_storage/%s" % (self.state.port,
                                                        digest)
            self.send_response(307)
            self.send_header("Location", loc)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self._log(307)
            return
        self._serve_blob(digest)

    def _storage(self, digest):
        leaked = self.headers.get("Authorization") is not None
        if not DIGEST_RE.match(digest) or digest not in self.state.art.blobs:
            self._error(404, "BLOB_UNKNOWN", "blob unknown")
            return
        self._serve_blob(digest, auth_leaked=leaked)

    def _blob_bytes(self, digest, start, length):
        path, data = self.state.art.blobs[digest]
        if data is None:
            with open(path, "rb") as f:
                f.seek(start)
                chunk = bytearray(f.read(length))
        else:
            chunk = bytearray(data[start:start + length])
        if (self.state.args.corrupt_blob and
                digest == self.state.art.largest):
            flip = self._size(digest) // 2
            if start <= flip < start + len(chunk):
                chunk[flip - start] ^= 0x01
        return bytes(chunk)

    def _size(self, digest):
        path, data = self.state.art.blobs[digest]
        return len(data) if data is not None else os.path.getsize(path)

    def _serve_blob(self, digest, **extra):
        size = self._size(digest)
        rng_header = self.headers.get("Range")
        if self.state.args.ignore_range:
            rng_header = None      # RFC 9110 14.2: a server may
        rng = parse_range(rng_header, size) if rng_header else None
        if rng == "unsatisfiable":
            self._error(416, "RANGE_INVALID", "range not satisfiable",
                        [("Content-Range", "bytes */%d" % size)])
            return
        start, end = rng if rng else (0, size - 1)
        length = end - start + 1 if size else 0
        status = 206 if rng else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Docker-Content-Digest", digest)
        self.send_header("Content-Length", str(length))
        if rng:
            self.send_header("Content-Range",
                             "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        sent = 0
        if self.command != "HEAD":
            sent = self._body(digest, start, length)
        self._log(status, sent, **extra)

    def _limit(self, length):
        a = self.state.args
        if a.drop_once is not None:
            with self.state.lock:
                if not self.state.dropped_once and length > a.drop_once:
                    self.state.dropped_once = True
                    return a.drop_once
        return length

    def _body(self, digest, start, length):
        a = self.state.args
        limit = self._limit(length)
        sent = 0
        while sent < limit:
            take = self.state.budget(min(CHUNK, limit - sent))
            if take == 0:
                break
            self.wfile.write(self._blob_bytes(digest, start + sent, take))
            sent += take
            if a.stall:
                break
        self.wfile.flush()
        if a.stall:
            time.sleep(a.stall)
        if sent < length:
            self.close_connection = True
        return sent


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    peerlib.add_common_args(p)
    p.add_argument("--store", required=True,
                   help="sealed store: manifest.sealed and blobs/")
    p.add_argument("--repo", required=True)
    p.add_argument("--tag", default="v1")
    p.add_argument("--digest-file")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth", choices=["none", "basic", "bearer"],
                   default="none")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--token-seconds", type=float, default=300)
    p.add_argument("--redirect-blobs", action="store_true")
    p.add_argument("--corrupt-blob", action="store_true")
    p.add_argument("--mislabel", action="store_true")
    p.add_argument("--wrong-dcd", action="store_true")
    p.add_argument("--any-digest", action="store_true")
    p.add_argument("--content-type")
    p.add_argument("--serve-index", action="store_true")
    p.add_argument("--layer-media-type", default=ORAS_LAYER)
    p.add_argument("--drop-once", type=int, metavar="BYTES")
    p.add_argument("--drop-after", type=int, metavar="BYTES")
    p.add_argument("--stall", type=float, metavar="SECONDS")
    p.add_argument("--ignore-range", action="store_true")
    args = p.parse_args()
    if args.max_seconds <= 0:
        p.error("--max-seconds must be positive")
    if not NAME_RE.match(args.repo):
        p.error("--repo is not a repository name")
    log = peerlib.JsonLog(args.log)
    Handler.state = State(args, log)
    server = peerlib.make_server(Handler, args.port, args.cert, args.key)
    Handler.state.port = server.server_address[1]
    return peerlib.serve(server, args, log, "oci")


if __name__ == "__main__":
    sys.exit(main())
