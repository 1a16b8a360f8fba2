#!/usr/bin/python3
"""Self-test of the test peers against the reference documents.

The peers judge sealpod, so they are checked first, on their own, against
/work/shared/reference/kbs-protocol.md (test vectors of section 2.3, the
status codes of 1.8, the JWE recipe of 3.4) and the HTTP/GGUF rules they
claim. Each peer runs as a real process on 127.0.0.1.

Usage: selftest.py [unittest options]   (needs python3-cryptography/numpy)
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf  # noqa: E402
import kbs_standin  # noqa: E402
import peerlib  # noqa: E402

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap  # noqa
from cryptography.exceptions import InvalidTag  # noqa: E402

PY = sys.executable
WAIT_SECONDS = 15


class Peer:
    """One peer process with a port file and a log file."""

    def __init__(self, workdir, script, *args):
        self.port_file = os.path.join(workdir, "%s.%d.port" %
                                      (script, id(self)))
        self.log_file = self.port_file + ".log"
        cmd = [PY, os.path.join(HERE, script), "--port", "0",
               "--port-file", self.port_file, "--max-seconds", "120",
               "--log", self.log_file] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + WAIT_SECONDS
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (
                    script, self.proc.stderr.read().decode()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("%s did not start" % script)
            time.sleep(0.05)
        with open(self.port_file) as f:
            self.port = int(f.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stderr.close()

    def log_lines(self):
        with open(self.log_file) as f:
            return [json.loads(line) for line in f if line.strip()]


def make_certs(workdir):
    subprocess.run(["bash", os.path.join(HERE, "mkcerts.sh"),
                    os.path.join(workdir, "certs")], check=True,
                   timeout=60)
    return os.path.join(workdir, "certs")


# ---------------------------------------------------------------------------
# A minimal RCAR client written from the reference (section 9 checklist)
# ---------------------------------------------------------------------------

class RcarClient:
    def __init__(self, port, cafile=None):
        self.port = port
        self.cafile = cafile
        self.cookie = None
        self.key = ec.generate_private_key(ec.SECP256R1())
        n = self.key.public_key().public_numbers()
        self.jwk = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
                    "x": peerlib.b64url(n.x.to_bytes(32, "big")),
                    "y": peerlib.b64url(n.y.to_bytes(32, "big"))}

    def request(self, method, path, body=None, headers=None):
        if self.cafile:
            ctx = ssl.create_default_context(cafile=self.cafile)
            conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                               context=ctx, timeout=10)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                              timeout=10)
        hdrs = dict(headers or {})
        if self.cookie:
            hdrs["Cookie"] = "kbs-session-id=" + self.cookie
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        cookie = resp.getheader("Set-Cookie")
        conn.close()
        return resp.status, raw, cookie, resp

    def auth(self, version="0.4.0", tee="sample"):
        status, raw, cookie, _ = self.request("POST", "/kbs/v0/auth", {
            "version": version, "tee": tee,
            "extra-params": {"supported-hash-algorithms": ["sha384"]}})
        if status == 200:
            self.cookie = cookie.split(";")[0].split("=", 1)[1]
            return status, json.loads(raw), cookie
        return status, json.loads(raw), cookie

    def attest(self, nonce, jwk=None, report_data=None, extra_jwk=None,
               additional="", hashed_additional=None):
        jwk = dict(jwk or self.jwk)
        hashed = kbs_standin.parse_tee_pubkey(jwk)
        if extra_jwk:
            jwk.update(extra_jwk)
        if hashed_additional is None:
            hashed_additional = additional
        digest = hashlib.sha384(kbs_standin.jcs({
            "additional-evidence": hashed_additional, "nonce": nonce,
            "tee-pubkey": hashed}).encode()).digest()
        if report_data is None:
            report_data = base64.b64encode(digest).decode()
        body = {"init-data": None,
                "runtime-data": {"nonce": nonce, "tee-pubkey": jwk},
                "tee-evidence": {"primary_evidence": {
                    "svn": "1", "report_data": report_data},
                    "additional_evidence": additional}}
        status, raw, cookie, _ = self.request("POST", "/kbs/v0/attest",
                                              body)
        return status, json.loads(raw), cookie

    def decrypt(self, jwe):
        protected = jwe["protected"]
        header = json.loads(peerlib.b64url_decode(protected))
        assert header["alg"] == "ECDH-ES+A256KW"
        assert header["enc"] == "A256GCM"
        epk = header["epk"]
        if epk["crv"] != "P-256":
            raise ValueError("epk curve mismatch")
        pub = ec.EllipticCurvePublicNumbers(
            int.from_bytes(peerlib.b64url_decode(epk["x"]), "big"),
            int.from_bytes(peerlib.b64url_decode(epk["y"]), "big"),
            ec.SECP256R1()).public_key()
        z = self.key.exchange(ec.ECDH(), pub)
        # Concat KDF written again here, from ref 3.4, not imported.
        other = (struct.pack(">I", 14) + b"ECDH-ES+A256KW" +
                 struct.pack(">III", 0, 0, 256))
        kek = hashlib.sha256(b"\0\0\0\1" + z + other).digest()
        cek = aes_key_unwrap(kek, peerlib.b64url_decode(
            jwe["encrypted_key"]))
        return AESGCM(cek).decrypt(
            peerlib.b64url_decode(jwe["iv"]),
            peerlib.b64url_decode(jwe["ciphertext"]) +
            peerlib.b64url_decode(jwe["tag"]), protected.encode("ascii"))


# ---------------------------------------------------------------------------

class JcsVectors(unittest.TestCase):
    """ref 2.3"""

    def test_repository_vector(self):
        got = kbs_standin.jcs({"b": 1, "a": "test", "c": {"d": "e"}})
        self.assertEqual(got, '{"a":"test","b":1,"c":{"d":"e"}}')
        self.assertEqual(hashlib.sha384(got.encode()).hexdigest(),
                         "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e4"
                         "7157e0f3f525cd22c4597480a186427c813ca941da78870c3")

    def test_synthetic_kbs_vector(self):
        nonce = base64.b64encode(bytes(range(32))).decode()
        jwk = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
               "x": peerlib.b64url(b"\1" * 32),
               "y": peerlib.b64url(b"\2" * 32)}
        d = hashlib.sha384(kbs_standin.jcs({
            "additional-evidence": "", "nonce": nonce,
            "tee-pubkey": jwk}).encode()).digest()
        self.assertEqual(d.hex(), "d934ba73c76ad6ce42e80746cefb42b74c7e0af0"
                         "f0d30ace51557c3da2a8fe7608b3c6856f09e1f101fd459a"
                         "86b1c846")
        self.assertEqual(base64.b64encode(d).decode(),
                         "2TS6c8dq1s5C6AdGzvtCt0x+CvDw0wrOUVV8PaKo/nYIs8aF"
                         "bwnh8QH9RZqGschG")
        dev = hashlib.sha384(kbs_standin.jcs({
            "nonce": nonce, "tee-pubkey": jwk}).encode()).hexdigest()
        self.assertTrue(dev.startswith("2b951545aaaf961a11c38406887b6a13"))

    def test_numbers_and_escapes(self):
        self.assertEqual(kbs_standin.jcs([1e21, 1e-7, 0.5, -0.0, 100]),
                         "[1e+21,1e-7,0.5,0,100]")
        self.assertEqual(kbs_standin.jcs({"\u20ac": 1, "\r": 2}),
                         '{"\\r":2,"\u20ac":1}')


class KbsStandin(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="peers-kbs-")
        cls.certs = make_certs(cls.work)
        res = os.path.join(cls.work, "res", "sealpod", "model")
        os.makedirs(res)
        cls.secret = os.urandom(32)
        with open(os.path.join(res, "key"), "wb") as f:
            f.write(cls.secret)
        cls.peers = []

    @classmethod
    def tearDownClass(cls):
        for p in cls.peers:
            p.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def kbs(self, *flags, tls=True):
        args = ["--resources", os.path.join(self.work, "res")]
        if tls:
            args += ["--cert", os.path.join(self.certs, "kbs.crt"),
                     "--key", os.path.join(self.certs, "kbs.key")]
        peer = Peer(self.work, "kbs_standin.py", *(args + list(flags)))
        self.peers.append(peer)
        cafile = os.path.join(self.certs, "ca.crt") if tls else None
        return peer, RcarClient(peer.port, cafile)

    def assertError(self, status, body, want_status, variant, text=None):
        self.assertEqual(status, want_status, body)
        self.assertEqual(body["type"], kbs_standin.ERROR_TYPE_PREFIX +
                         variant)
        if text:
            self.assertIn(text, body["detail"])

    def test_auth_challenge_and_cookie(self):
        _, c = self.kbs()
        status, ch, cookie = c.auth()
        self.assertEqual(status, 200)
        self.assertEqual(len(ch["nonce"]), 44)
        self.assertEqual(len(base64.b64decode(ch["nonce"])), 32)
        self.assertEqual(ch["extra-params"], "")
        self.assertRegex(cookie, r"^kbs-session-id=[0-9a-f]{32}; "
                         r"Expires=\w{3}, \d{2} \w{3} \d{4} [0-9:]{8} GMT$")

    def test_version_mismatch(self):
        _, c = self.kbs()
        status, body, _ = c.auth(version="0.3.0")
        self.assertError(status, body, 401, "AttestationError",
                         "Version Mismatch: expect =0.4.0 while the request "
                         "is 0.3.0")
        _, c2 = self.kbs("--require-version", "0.5.0")
        status, body, _ = c2.auth()
        self.assertError(status, body, 401, "AttestationError",
                         "Version Mismatch")

    def test_unknown_tee_and_wrong_method(self):
        _, c = self.kbs()
        status, body, _ = c.auth(tee="nosuchtee")
        self.assertError(status, body, 401, "AttestationError")
        status, raw, _, _ = c.request("GET", "/kbs/v0/auth")
        self.assertError(status, json.loads(raw), 404, "PluginNotFound")
        status, raw, _, _ = c.request("GET", "/kbs/v0/nosuchplugin/x")
        self.assertError(status, json.loads(raw), 404, "PluginNotFound")

    def test_attest_needs_session_and_nonce(self):
        peer, c = self.kbs()
        status, body, _ = c.attest("AAAA")
        self.assertError(status, body, 401, "AttestationError")
        _, ch, _ = c.auth()
        # Another nonce for sure: the last data character (one of 16
        # for 32 bytes) may already be "A".
        other = "E" if ch["nonce"][-2] == "A" else "A"
        status, body, _ = c.attest(ch["nonce"][:-2] + other + "=")
        self.assertError(status, body, 401, "AttestationError")
        self.assertNotIn("nonce", body["detail"])   # reason only in log
        rec = [r for r in peer.log_lines() if r.get("endpoint") ==
               "attest"]
        self.assertFalse(rec[-1]["nonce_match"])

    def test_binding_checked_exactly(self):
        peer, c = self.kbs()
        _, ch, _ = c.auth()
        d = hashlib.sha384(b"wrong").digest()
        status, body, _ = c.attest(ch["nonce"],
                                   report_data=base64.b64encode(d).decode())
        self.assertError(status, body, 401, "AttestationError")
        # 64-byte padded digest must fail for sample (ref 2.2).
        c2 = RcarClient(peer.port, c.cafile)
        _, ch, _ = c2.auth()
        good = hashlib.sha384(kbs_standin.jcs({
            "additional-evidence": "", "nonce": ch["nonce"],
            "tee-pubkey": c2.jwk}).encode()).digest()
        padded = base64.b64encode(good + bytes(16)).decode()
        status, body, _ = c2.attest(ch["nonce"], report_data=padded)
        self.assertEqual(status, 401)
        # Extra JWK members are dropped before hashing (ref 1.4), so a
        # client that hashed them breaks the binding.
        c3 = RcarClient(peer.port, c.cafile)
        _, ch, _ = c3.auth()
        status, body, _ = c3.attest(ch["nonce"], extra_jwk={"use": "enc"})
        self.assertEqual(status, 200)   # we hashed without the extra
        recs = [r for r in peer.log_lines() if r.get("endpoint") ==
                "attest"]
        self.assertEqual([r["binding_held"] for r in recs],
                         [False, False, True])
        self.assertEqual(recs[1]["report_data_len"], 64)
        self.assertEqual(recs[2]["jwk_extra_members"], ["use"])

    @staticmethod
    def nvidia_evidence(nonce32):
        """ref 4.10 with an SPDM 1.1 GET_MEASUREMENTS request (DSP0274)
        opening each report: nonce at offset 4."""
        report = bytes([0x11, 0xE0, 0x01, 0xFF]) + nonce32 + bytes(60)
        pem = (b"-----BEGIN CERTIFICATE-----\nAA==\n"
               b"-----END CERTIFICATE-----\n")
        dev = {"arch": "HOPPER", "uuid": "GPU-1", "evidence": report.hex(),
               "certificate": base64.b64encode(pem).decode()}
        return json.dumps({"nvidia": {"device_evidence_list": [dev]}})

    def test_nvidia_device_nonce(self):
        peer, c = self.kbs("--accept-unsigned-tee")
        recs = []
        for case in ("good", "wrong_nonce", "unbound"):
            cl = RcarClient(peer.port, c.cafile)
            _, ch, _ = cl.auth()
            ddigest = hashlib.sha384(kbs_standin.jcs({
                "nonce": ch["nonce"], "tee-pubkey": cl.jwk}).encode()
            ).digest()
            nonce32 = ddigest[:32] if case != "wrong_nonce" else bytes(32)
            add = self.nvidia_evidence(nonce32)
            # unbound: the primary evidence hashed no additional evidence.
            status, body, _ = cl.attest(
                ch["nonce"], additional=add,
                hashed_additional="" if case == "unbound" else add)
            self.assertEqual(status, 200 if case == "good" else 401, body)
            recs.append([r for r in peer.log_lines()
                         if r.get("endpoint") == "attest"][-1])
        self.assertTrue(recs[0]["additional_bound"])
        self.assertEqual(recs[0]["devices"][0]["gpus"][0]["nonce_match"],
                         True)
        self.assertEqual(recs[1]["devices"][0]["gpus"][0]["nonce_match"],
                         False)
        self.assertFalse(recs[2]["binding_held"])

    def test_default_policy_denies_sample(self):
        peer, c = self.kbs()
        _, ch, _ = c.auth()
        status, body, cookie = c.attest(ch["nonce"])
        self.assertEqual(status, 200)
        self.assertEqual(len(body["token"].split(".")), 3)
        self.assertIn("kbs-session-id=" + c.cookie, cookie)
        status, raw, _, _ = c.request("GET",
                                      "/kbs/v0/resource/sealpod/model/key")
        self.assertError(status, json.loads(raw), 401, "PolicyDeny",
                         "Access denied by policy")
        rec = peer.log_lines()[-1]
        self.assertEqual((rec["endpoint"], rec["decision"]),
                         ("resource", "deny"))

    def test_resource_release_and_errors(self):
        peer, c = self.kbs("--policy", "allow")
        status, raw, _, _ = c.request("GET",
                                      "/kbs/v0/resource/sealpod/model/key")
        self.assertError(status, json.loads(raw), 401, "TokenNotFound")
        _, ch, _ = c.auth()
        status, tok, _ = c.attest(ch["nonce"])
        self.assertEqual(status, 200)
        status, raw, _, resp = c.request(
            "GET", "/kbs/v0/resource/sealpod/model/key")
        self.assertEqual(status, 200, raw)
        self.assertEqual(resp.getheader("Content-Type"), "application/json")
        jwe = json.loads(raw)
        self.assertEqual(sorted(jwe), ["ciphertext", "encrypted_key", "iv",
                                       "protected", "tag"])
        self.assertEqual(len(peerlib.b64url_decode(jwe["encrypted_key"])),
                         40)
        self.assertEqual(len(peerlib.b64url_decode(jwe["iv"])), 12)
        self.assertEqual(len(peerlib.b64url_decode(jwe["tag"])), 16)
        self.assertTrue(peerlib.b64url_decode(jwe["protected"]).startswith(
            b'{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"crv":'))
        self.assertEqual(c.decrypt(jwe), self.secret)
        status, raw, _, _ = c.request(
            "GET", "/kbs/v0/resource/sealpod/model/nokey")
        self.assertError(status, json.loads(raw), 401,
                         "PluginInternalError", "resource not found")
        for bad in ("sealpod/model", "a/b/c/d", ".x/b/c"):
            status, raw, _, _ = c.request("GET", "/kbs/v0/resource/" + bad)
            self.assertError(status, json.loads(raw), 401,
                             "PluginInternalError", "illegal")
        # Bearer path: a fresh client with only the token.
        b = RcarClient(peer.port, c.cafile)
        b.key = c.key
        status, raw, _, _ = b.request(
            "GET", "/kbs/v0/resource/sealpod/model/key",
            headers={"Authorization": "Bearer " + tok["token"]})
        self.assertEqual(status, 200)
        self.assertEqual(b.decrypt(json.loads(raw)), self.secret)
        status, raw, _, _ = b.request(
            "GET", "/kbs/v0/resource/sealpod/model/key",
            headers={"Authorization": "Bearer " + tok["token"][:-4] +
                     "AAAA"})
        self.assertError(status, json.loads(raw), 401, "TokenVerifierError")

    def test_reattest_returns_stored_token(self):
        _, c = self.kbs("--policy", "allow")
        _, ch, _ = c.auth()
        _, t1, _ = c.attest(ch["nonce"])
        status, t2, _ = c.attest("not the nonce")
        self.assertEqual(status, 200)
        self.assertEqual(t1["token"], t2["token"])

    def test_jwe_faults(self):
        for fault, exc in (("tag", InvalidTag), ("ciphertext", InvalidTag),
                           ("aad", InvalidTag), ("epk-curve", ValueError)):
            _, c = self.kbs("--policy", "allow", "--jwe-fault", fault,
                            tls=False)
            _, ch, _ = c.auth()
            c.attest(ch["nonce"])
            status, raw, _, _ = c.request(
                "GET", "/kbs/v0/resource/sealpod/model/key")
            self.assertEqual(status, 200)
            with self.assertRaises(exc, msg=fault):
                c.decrypt(json.loads(raw))

    def test_spaced_header_still_decrypts(self):
        _, c = self.kbs("--policy", "allow", "--jwe-header-style", "spaced",
                        tls=False)
        _, ch, _ = c.auth()
        c.attest(ch["nonce"])
        status, raw, _, _ = c.request(
            "GET", "/kbs/v0/resource/sealpod/model/key")
        jwe = json.loads(raw)
        self.assertIn(b'", "', peerlib.b64url_decode(jwe["protected"]))
        self.assertEqual(c.decrypt(jwe), self.secret)

    def test_short_coordinate_is_a_jwe_error(self):
        peer, c = self.kbs("--policy", "allow", tls=False)
        _, ch, _ = c.auth()
        jwk = dict(c.jwk, x=peerlib.b64url(
            peerlib.b64url_decode(c.jwk["x"])[1:]))
        status, _, _ = c.attest(ch["nonce"], jwk=jwk)
        self.assertEqual(status, 200)
        status, raw, _, _ = c.request(
            "GET", "/kbs/v0/resource/sealpod/model/key")
        self.assertError(status, json.loads(raw), 401, "JweError",
                         "invalid bytes length of coordinates X")
        rec = [r for r in peer.log_lines() if r.get("endpoint") ==
               "attest"][-1]
        self.assertFalse(rec["jwk_valid"])

    def test_expired_session(self):
        _, c = self.kbs("--policy", "allow", "--session-seconds", "0.5",
                        tls=False)
        _, ch, _ = c.auth()
        time.sleep(0.8)
        status, body, _ = c.attest(ch["nonce"])
        self.assertError(status, body, 401, "AttestationError")


class ArtifactServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="peers-art-")
        cls.certs = make_certs(cls.work)
        cls.root = os.path.join(cls.work, "root")
        os.makedirs(os.path.join(cls.root, "blobs"))
        cls.data = os.urandom(300000)
        with open(os.path.join(cls.root, "blobs", "b1"), "wb") as f:
            f.write(cls.data)
        with open(os.path.join(cls.work, "secret"), "w") as f:
            f.write("outside")
        cls.peers = []

    @classmethod
    def tearDownClass(cls):
        for p in cls.peers:
            p.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def server(self, *flags):
        peer = Peer(self.work, "artifact_server.py", "--root", self.root,
                    "--cert", os.path.join(self.certs, "artifacts.crt"),
                    "--key", os.path.join(self.certs, "artifacts.key"),
                    *flags)
        self.peers.append(peer)
        ctx = ssl.create_default_context(
            cafile=os.path.join(self.certs, "ca.crt"))
        return peer, lambda: http.client.HTTPSConnection(
            "127.0.0.1", peer.port, context=ctx, timeout=10)

    def get(self, conn, path, rng=None, method="GET"):
        conn.request(method, path, headers={"Range": rng} if rng else {})
        resp = conn.getresponse()
        return resp, resp.read()

    def test_ranges(self):
        _, connect = self.server()
        conn = connect()
        resp, body = self.get(conn, "/blobs/b1")
        self.assertEqual((resp.status, body), (200, self.data))
        resp, body = self.get(conn, "/blobs/b1", "bytes=10-19")
        self.assertEqual(resp.status, 206)
        self.assertEqual(body, self.data[10:20])
        self.assertEqual(resp.getheader("Content-Range"),
                         "bytes 10-19/300000")
        resp, body = self.get(conn, "/blobs/b1", "bytes=299990-")
        self.assertEqual(body, self.data[299990:])
        resp, body = self.get(conn, "/blobs/b1", "bytes=-5")
        self.assertEqual(body, self.data[-5:])
        resp, body = self.get(conn, "/blobs/b1", "bytes=299999-400000")
        self.assertEqual(body, self.data[-1:])
        resp, body = self.get(conn, "/blobs/b1", "bytes=300000-")
        self.assertEqual(resp.status, 416)
        self.assertEqual(resp.getheader("Content-Range"), "bytes */300000")
        resp, body = self.get(conn, "/blobs/b1", method="HEAD")
        self.assertEqual((resp.status, body), (200, b""))
        self.assertEqual(resp.getheader("Content-Length"), "300000")
        for missing in ("/blobs/nope", "/../secret", "/blobs/../../secret",
                        "/%2e%2e/secret", "/blobs"):
            resp, body = self.get(conn, missing)
            self.assertEqual(resp.status, 404, missing)
        conn.close()

    def test_truncate_and_drop(self):
        _, connect = self.server("--truncate", "1000")
        conn = connect()
        conn.request("GET", "/blobs/b1")
        resp = conn.getresponse()
        with self.assertRaises(http.client.IncompleteRead):
            resp.read()
        conn.close()
        _, connect = self.server("--drop-after", "150000")
        conn = connect()
        resp, body = self.get(conn, "/blobs/b1", "bytes=0-99999")
        self.assertEqual(len(body), 100000)
        conn.request("GET", "/blobs/b1")
        resp = conn.getresponse()
        with self.assertRaises(http.client.IncompleteRead):
            resp.read()
        conn.close()

    def test_stall(self):
        _, connect = self.server("--stall", "3")
        conn = connect()
        conn.timeout = 1
        conn.request("GET", "/blobs/b1")
        conn.sock.settimeout(1)
        resp = conn.getresponse()
        started = time.monotonic()
        with self.assertRaises((TimeoutError, OSError)):
            resp.read()
        self.assertLess(time.monotonic() - started, 2.5)
        conn.close()


class GgufAndModelServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="peers-gguf-")
        cls.model = os.path.join(cls.work, "m.gguf")
        subprocess.run([PY, os.path.join(HERE, "make_gguf.py"), cls.model],
                       check=True, timeout=120)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def test_layout(self):
        m = gguf.read(self.model)
        self.assertEqual(m.version, 3)
        self.assertEqual(m.metadata["general.architecture"], "llama")
        self.assertEqual(m.data_offset % 32, 0)
        self.assertIn("blk.0.ffn_gate.weight", m.tensors)
        self.assertGreater(len(m.metadata["tokenizer.ggml.tokens"]), 500)
        with open(self.model, "rb") as f:
            head = f.read(24)
        self.assertEqual(head[:4], b"GGUF")
        self.assertEqual(struct.unpack("<IQQ", head[4:]),
                         (3, len(m.tensors), len(m.metadata)))
        size = os.path.getsize(self.model)
        self.assertTrue(2 << 20 < size < 16 << 20, size)

    def run_server(self, path):
        port_file = os.path.join(self.work, "ms.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        proc = subprocess.Popen(
            [PY, os.path.join(HERE, "model_server.py"), "--model", path,
             "--port-file", port_file, "--max-seconds", "60",
             "--token-delay-ms", "5", "--log", path + ".log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return proc, port_file

    def test_refuses_damaged_models(self):
        with open(self.model, "rb") as f:
            data = f.read()
        m = gguf.read(self.model)
        cases = {
            "magic": b"GGML" + data[4:],
            "version": data[:4] + struct.pack("<I", 9) + data[8:],
            "truncated": data[:len(data) // 2],
            "header-only": data[:m.data_offset],
            "empty": b"",
            "nan": data[:-4] + struct.pack("<f", float("nan")),
        }
        for name, blob in cases.items():
            path = os.path.join(self.work, "bad-%s.gguf" % name)
            with open(path, "wb") as f:
                f.write(blob)
            proc, _ = self.run_server(path)
            try:
                rc = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self.fail("%s: model server started" % name)
            err = proc.stderr.read().decode()
            proc.stderr.close()
            self.assertEqual(rc, 3, name)
            self.assertIn("refusing to start", err, name)

    def test_serves_and_streams(self):
        proc, port_file = self.run_server(self.model)
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            while not os.path.exists(port_file):
                self.assertIsNone(proc.poll())
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            with open(port_file) as f:
                port = int(f.read())
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            req = {"messages": [{"role": "user", "content": "hello world"}],
                   "max_tokens": 8}
            conn.request("POST", "/v1/chat/completions", json.dumps(req))
            full = json.loads(conn.getresponse().read())
            text = full["choices"][0]["message"]["content"]
            self.assertTrue(text)
            conn.request("POST", "/v1/chat/completions",
                         json.dumps(dict(req, stream=True)))
            resp = conn.getresponse()
            self.assertEqual(resp.getheader("Content-Type"),
                             "text/event-stream")
            events = [e for e in resp.read().decode().split("\n\n") if e]
            self.assertEqual(events[-1], "data: [DONE]")
            parts = [json.loads(e[6:])["choices"][0]["delta"].get(
                "content", "") for e in events[:-1]]
            self.assertEqual("".join(parts), text)   # greedy = same text
            conn.request("GET", "/v1/models")
            models = json.loads(conn.getresponse().read())
            self.assertEqual(models["data"][0]["id"], "sealpod-tiny-llama")
            conn.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(10), 0)
            proc.stderr.close()


if __name__ == "__main__":
    unittest.main()
