#!/usr/bin/python3
"""A stand-in for a Trustee KBS speaking RCAR protocol 0.4.0.

Written only from /work/shared/reference/kbs-protocol.md (section numbers
in comments refer to it), never from sealpod's own code, so that it
catches sealpod's mistakes instead of sharing them.

What it does:
  POST /kbs/v0/auth      -> Challenge + kbs-session-id cookie     (ref 1.2-1.6)
  POST /kbs/v0/attest    -> {"token": ES256 JWT}                  (ref 1.4-1.5)
      recomputes the runtime-data digest itself (JCS, SHA-384, ref 2.1)
      and checks the evidence binds it (ref 2.2, 4.1)
  GET  /kbs/v0/resource/<repo>/<type>/<tag>
      -> flattened JWE, ECDH-ES+A256KW + A256GCM (or RSA-OAEP-256),
         encrypted to the tee-pubkey inside the token (ref 1.7, 3)
  Errors use Trustee's status codes and bodies (ref 1.8): 401 for all but
  PluginNotFound / InvalidRequestPath (404).

Every request is written to an audit log (JSON lines) with endpoint, tee,
decision and, for /attest, whether the report-data binding held, so
integration tests can assert what the client actually did.

Resources are files <dir>/<repo>/<type>/<tag>.
"""

import argparse
import base64
import email.utils
import decimal
import hashlib
import http.server
import json
import os
import re
import secrets
import struct
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa
from cryptography.hazmat.primitives.asymmetric.utils import (  # noqa: E402
    decode_dss_signature, encode_dss_signature)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from cryptography.hazmat.primitives.keywrap import aes_key_wrap  # noqa: E402

PROTOCOL_VERSION = "0.4.0"                       # ref 0, 1.10
ERROR_TYPE_PREFIX = "https://github.com/confidential-containers/kbs/errors/"
COOKIE_NAME = "kbs-session-id"                   # ref 1.6
DEFAULT_SESSION_SECONDS = 5 * 60                 # ref 1.6 DEFAULT_TIMEOUT
DEFAULT_TOKEN_SECONDS = 5 * 60                   # ref 1.5 duration_min
MAX_BODY_BYTES = 2 * 1024 * 1024                 # ref 1.8 payload limit
MAX_HEAD_BYTES = 128 * 1024                      # ref 1.8 head limit
MAX_RESOURCE_BYTES = 16 * 1024 * 1024            # stand-in ceiling
NONCE_BYTES = 32                                 # ref 1.3

# ref 1.2: the Tee enum of kbs-types, serialized names.
KNOWN_TEES = ("az-snp-vtpm", "az-tdx-vtpm", "nvidia", "sgx", "snp", "tdx",
              "cca", "csv", "se", "hygondcu", "tpm", "sample",
              "sampledevice")

# ref 1.1: each resource path segment.
SEGMENT_RE = re.compile(r"^[A-Za-z0-9_-]+[A-Za-z0-9_.-]*$")

# ref 3.3: coordinate length per curve for ECDH-ES+A256KW.
EC_CURVES = {"P-256": (ec.SECP256R1, 32), "P-521": (ec.SECP521R1, 66)}


class KbsError(Exception):
    """A Trustee error: variant name (the `type` suffix), detail, status,
    and a private reason that goes to the audit log only (ref 1.8: the
    real KBS keeps attest failure reasons out of the response body)."""

    def __init__(self, variant, detail, reason=None):
        super().__init__(detail)
        self.variant = variant
        self.detail = detail
        self.reason = reason or detail
        if variant in ("PluginNotFound", "InvalidRequestPath"):
            self.status = 404
        else:
            self.status = 401


def attest_failed(reason):
    return KbsError("AttestationError",
                    "Attestation error: RCAR handshake Attest failed",
                    reason)


# ---------------------------------------------------------------------------
# RFC 8785 JSON Canonicalization Scheme (ref 2.1 step 3)
# ---------------------------------------------------------------------------

def _jcs_string(s):
    out = ['"']
    for ch in s:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            raise ValueError("lone surrogate in string")
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20:
            short = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}
            out.append(short.get(code, "\\u%04x" % code))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _jcs_number(value):
    """ECMAScript Number.prototype.toString of a finite double (RFC 8785
    3.2.2.3): shortest round-trip digits, then ES6 layout rules."""
    f = float(value)
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError("non-finite number")
    if f == 0:
        return "0"
    sign = "-" if f < 0 else ""
    _, digit_tuple, exp = decimal.Decimal(repr(abs(f))).as_tuple()
    digits = "".join(str(d) for d in digit_tuple).lstrip("0")
    stripped = digits.rstrip("0")
    exp += len(digits) - len(stripped)
    digits = stripped
    k = len(digits)
    n = k + exp          # value = 0.digits * 10^n
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        frac = ("." + digits[1:]) if k > 1 else ""
        body = "%s%se%s%d" % (digits[0], frac, "+" if e >= 0 else "-",
                              abs(e))
    return sign + body


def jcs(value):
    """Canonical JSON text of a parsed JSON value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _jcs_string(value)
    if isinstance(value, (int, float)):
        return _jcs_number(value)
    if isinstance(value, list):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(_jcs_string(k) + ":" + jcs(value[k])
                              for k in keys) + "}"
    raise ValueError("not a JSON value")


def strict_json(raw):
    """Parse JSON rejecting duplicate keys and NaN/Infinity."""

    def pairs(items):
        obj = {}
        for k, v in items:
            if k in obj:
                raise ValueError("duplicate key %r" % k)
            obj[k] = v
        return obj

    def bad_constant(name):
        raise ValueError("invalid constant " + name)

    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return json.loads(text, object_pairs_hook=pairs,
                      parse_constant=bad_constant)


# ---------------------------------------------------------------------------
# tee-pubkey (ref 2.1 last paragraph, 3.3)
# ---------------------------------------------------------------------------

def parse_tee_pubkey(jwk):
    """Mimic kbs-types TeePubKey: tagged by kty, all members strings,
    unknown members dropped. Returns the re-serialized object that the
    KBS hashes, or raises ValueError (deserialization failure)."""
    if not isinstance(jwk, dict):
        raise ValueError("tee-pubkey is not an object")
    kty = jwk.get("kty")
    if kty == "EC":
        names = ("crv", "alg", "x", "y")
    elif kty == "RSA":
        names = ("alg", "n", "e")
    else:
        raise ValueError("unsupported kty %r" % (kty,))
    out = {"kty": kty}
    for name in names:
        if not isinstance(jwk.get(name), str):
            raise ValueError("tee-pubkey member %s missing or not a "
                             "string" % name)
        out[name] = jwk[name]
    return out


def load_tee_pubkey(jwk):
    """Build the public key the JWE goes to; raise KbsError JweError the
    way the KBS does (ref 1.8, 3.2, 3.3)."""
    alg = jwk.get("alg")
    if jwk["kty"] == "EC":
        crv = jwk["crv"]
        if crv not in EC_CURVES or alg != "ECDH-ES+A256KW":
            raise KbsError("JweError", "JWE error: curve %s and algorithm "
                           "%s is not supported" % (crv, alg))
        curve, size = EC_CURVES[crv]
        try:
            x = peerlib.b64url_decode(jwk["x"])
            y = peerlib.b64url_decode(jwk["y"])
        except ValueError:
            raise KbsError("JweError", "JWE error: bad base64url in "
                           "coordinates") from None
        if len(x) != size:
            raise KbsError("JweError", "JWE error: invalid bytes length "
                           "of coordinates X")
        if len(y) != size:
            raise KbsError("JweError", "JWE error: invalid bytes length "
                           "of coordinates Y")
        nums = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"),
                                             int.from_bytes(y, "big"),
                                             curve())
        try:
            return ("EC", alg, crv, nums.public_key())
        except ValueError:
            raise KbsError("JweError", "JWE error: point is not on "
                           "the curve") from None
    if alg not in ("RSA-OAEP-256", "RSA1_5"):
        raise KbsError("JweError", "JWE error: algorithm %s is not "
                       "supported" % alg)
    try:
        n = int.from_bytes(peerlib.b64url_decode(jwk["n"]), "big")
        e = int.from_bytes(peerlib.b64url_decode(jwk["e"]), "big")
        return ("RSA", alg, None, rsa.RSAPublicNumbers(e, n).public_key())
    except ValueError:
        raise KbsError("JweError", "JWE error: bad RSA key") from None


def jwk_problem(jwk):
    """None when the JWK would work for a JWE, else why not (audit)."""
    try:
        load_tee_pubkey(jwk)
    except KbsError as err:
        return err.detail
    return None


# ---------------------------------------------------------------------------
# JWE (ref 3.1, 3.4)
# ---------------------------------------------------------------------------

def concat_kdf(z, alg, bits=256):
    """RFC 7518 4.6.2 with empty apu/apv; one SHA-256 round is enough for
    a 256-bit key."""
    other = (struct.pack(">I", len(alg)) + alg.encode("ascii") +
             struct.pack(">I", 0) + struct.pack(">I", 0) +
             struct.pack(">I", bits))
    return hashlib.sha256(struct.pack(">I", 1) + z + other).digest()


def _flip(data):
    return bytes([data[0] ^ 0x01]) + data[1:]


def build_jwe(jwk, plaintext, faults, header_style):
    """Flattened JWE of plaintext to jwk. faults: set of names from
    --jwe-fault; header_style: compact (what Trustee emits) or spaced
    (same members, different bytes, to prove the client uses the received
    protected string as AAD)."""
    kind, alg, crv, pub = load_tee_pubkey(jwk)
    cek = secrets.token_bytes(32)
    header = {"alg": alg, "enc": "A256GCM"}
    if kind == "EC":
        curve, size = EC_CURVES[crv]
        eph = ec.generate_private_key(curve())
        z = eph.exchange(ec.ECDH(), pub)
        kek = concat_kdf(z, alg)
        wrapped = aes_key_wrap(kek, cek)
        en = eph.public_key().public_numbers()
        header["epk"] = {
            "crv": "P-384" if "epk-curve" in faults else crv,
            "kty": "EC",
            "x": peerlib.b64url(en.x.to_bytes(size, "big")),
            "y": peerlib.b64url(en.y.to_bytes(size, "big")),
        }
    elif alg == "RSA-OAEP-256":
        wrapped = pub.encrypt(cek, padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()),
            algorithm=hashes.SHA256(), label=None))
    else:
        wrapped = pub.encrypt(cek, padding.PKCS1v15())
    if header_style == "spaced":
        epk = header.pop("epk", None)
        if epk is not None:
            header = {"epk": dict(reversed(list(epk.items()))), **header}
        header_text = json.dumps(header, separators=(", ", ": "))
    else:
        header_text = json.dumps(header, separators=(",", ":"))
    protected = peerlib.b64url(header_text.encode("utf-8"))
    iv = secrets.token_bytes(12)
    aad = protected.encode("ascii")
    if "aad" in faults:
        aad = peerlib.b64url(json.dumps(
            {"alg": alg, "enc": "A256GCM"}).encode()).encode("ascii")
    sealed = AESGCM(cek).encrypt(iv, plaintext, aad)
    ciphertext, tag = sealed[:-16], sealed[-16:]
    if "tag" in faults:
        tag = _flip(tag)
    if "ciphertext" in faults and ciphertext:
        ciphertext = _flip(ciphertext)
    if "encrypted-key" in faults:
        wrapped = _flip(wrapped)
    return {
        "protected": protected,
        "encrypted_key": peerlib.b64url(wrapped),
        "iv": peerlib.b64url(iv),
        "ciphertext": peerlib.b64url(ciphertext),
        "tag": peerlib.b64url(tag),
    }


# ---------------------------------------------------------------------------
# Evidence verifiers (ref 2.2, 4). One function per tee; each returns the
# claims for the token or raises ValueError. `binding` is filled in so the
# audit log can say whether the report-data binding held.
# ---------------------------------------------------------------------------

def verify_sample(evidence, digest, binding):
    """ref 4.1: {"svn": str, "report_data": std base64 of the digest
    exactly as computed, 48 bytes for SHA-384, no padding to 64}."""
    if not isinstance(evidence, dict) or not isinstance(
            evidence.get("svn"), str):
        raise ValueError("sample evidence: svn missing or not a string")
    report_data = evidence.get("report_data", "")
    if not isinstance(report_data, str):
        raise ValueError("sample evidence: report_data not a string")
    try:
        got = peerlib.b64std_decode(report_data)
    except ValueError:
        raise ValueError("sample evidence: report_data not base64") \
            from None
    binding["report_data_len"] = len(got)
    binding["held"] = secrets.compare_digest(got, digest)
    if not binding["held"]:
        raise ValueError("sample evidence: report_data != runtime digest")
    return {"svn": evidence["svn"], "report_data": report_data}


def _padded64(digest):
    """ref 2.2 tdx/snp/cca: digest zero-padded (or cut) to 64 bytes."""
    return (digest + bytes(64))[:64]


# Set from the command line in main(): see --accept-unsigned-tee and
# --tpm-report-data-len.
OPTIONS = {"accept_unsigned": False, "tpm_report_data_len": 32}


def _unsigned(tee, binding):
    """The stand-in checks bindings, never vendor signatures: after a
    binding that held it refuses, unless --accept-unsigned-tee."""
    binding["signature_checked"] = False
    if not OPTIONS["accept_unsigned"]:
        raise ValueError("%s evidence: signature verification is not "
                         "implemented in the stand-in" % tee)
    binding["accepted_unsigned"] = True


def _byte_list(value, n, what):
    if not (isinstance(value, list) and len(value) == n and
            all(isinstance(b, int) and 0 <= b < 256 for b in value)):
        raise ValueError("%s not %d byte numbers" % (what, n))
    return bytes(value)


def verify_snp(evidence, digest, binding):
    """ref 4.4: report_data == digest zero-padded to 64 (ref 2.2), vmpl 0,
    version 3..5; host_data is the init-data register (32 bytes)."""
    report = evidence.get("attestation_report") if isinstance(
        evidence, dict) else None
    if not isinstance(report, dict):
        raise ValueError("snp evidence: attestation_report missing")
    rd = _byte_list(report.get("report_data"), 64,
                    "snp evidence: report_data")
    binding["report_data_len"] = 64
    binding["held"] = secrets.compare_digest(rd, _padded64(digest))
    if not binding["held"]:
        raise ValueError("snp evidence: report_data != padded digest")
    binding["config_register"] = ("host_data", _byte_list(
        report.get("host_data"), 32, "snp evidence: host_data"))
    if report.get("vmpl") != 0:
        raise ValueError("snp evidence: vmpl is not 0")
    if report.get("version") not in (3, 4, 5):
        raise ValueError("snp evidence: report version not in 3..5")
    _unsigned("snp", binding)
    return {"report_data": rd.hex(), "vmpl": 0}


def _td_quote_fields(raw):
    """ref tee-guest-interfaces 2.5: header 48 bytes; v4 body at 0x30,
    v5 body at 0x36 (after u16 body_type, u32 body_size); REPORTDATA at
    body+0x208 (64), MRCONFIGID at body+0xB8 (48)."""
    if len(raw) < 0x36 + 0x248:
        raise ValueError("tdx quote too short")
    version = struct.unpack_from("<H", raw, 0)[0]
    tee_type = struct.unpack_from("<I", raw, 4)[0]
    if version not in (4, 5) or tee_type != 0x81:
        raise ValueError("not a TDX v4/v5 quote (version %d, tee 0x%x)"
                         % (version, tee_type))
    body = 0x30 if version == 4 else 0x36
    return (raw[body + 0x208:body + 0x248], raw[body + 0xB8:body + 0xE8])


def verify_tdx(evidence, digest, binding):
    """ref 4.3 and 2.2: REPORTDATA of the quote == digest padded to 64;
    MRCONFIGID is the init-data register."""
    if not isinstance(evidence, dict) or not isinstance(
            evidence.get("quote"), str):
        raise ValueError("tdx evidence: quote missing")
    binding["expected_report_data"] = _padded64(digest).hex()
    try:
        raw = peerlib.b64std_decode(evidence["quote"])
    except ValueError:
        raise ValueError("tdx evidence: quote not base64") from None
    rd, mrconfigid = _td_quote_fields(raw)
    binding["report_data_len"] = 64
    binding["held"] = secrets.compare_digest(rd, _padded64(digest))
    if not binding["held"]:
        raise ValueError("tdx evidence: REPORTDATA != padded digest")
    binding["config_register"] = ("mrconfigid", mrconfigid)
    _unsigned("tdx", binding)
    return {"report_data": rd.hex()}


def _tpms_attest_extra(msg):
    """TPMS_ATTEST (TPM 2.0 part 2): u32 magic 0xFF544347, u16 type
    0x8018 (quote), TPM2B_NAME qualifiedSigner, TPM2B_DATA extraData."""
    if len(msg) < 10:
        raise ValueError("TPMS_ATTEST too short")
    magic, typ = struct.unpack_from(">IH", msg, 0)
    if magic != 0xFF544347 or typ != 0x8018:
        raise ValueError("not a TPM quote (magic/type)")
    off = 6
    (n,) = struct.unpack_from(">H", msg, off)
    off += 2 + n
    if off + 2 > len(msg):
        raise ValueError("TPMS_ATTEST truncated")
    (n,) = struct.unpack_from(">H", msg, off)
    if off + 2 + n > len(msg):
        raise ValueError("TPMS_ATTEST truncated")
    return msg[off + 2:off + 2 + n]


def _tpms_attest_pcrs(msg):
    """The PCR selection and pcrDigest of a quote's TPMS_ATTEST (TPM 2.0
    part 2): after extraData come clockInfo (17 bytes) and
    firmwareVersion (8), then TPMS_QUOTE_INFO: TPML_PCR_SELECTION (u32
    count; u16 hash, u8 sizeofSelect, select bytes) and TPM2B_DIGEST."""
    off = 6
    for _ in range(2):                       # qualifiedSigner, extraData
        (n,) = struct.unpack_from(">H", msg, off)
        off += 2 + n
    off += 17 + 8
    (count,) = struct.unpack_from(">I", msg, off)
    off += 4
    sel = []
    for _ in range(count):
        alg, size = struct.unpack_from(">HB", msg, off)
        off += 3
        sel.append((alg, msg[off:off + size]))
        off += size
    (n,) = struct.unpack_from(">H", msg, off)
    if off + 2 + n > len(msg):
        raise ValueError("TPMS_ATTEST truncated")
    return sel, msg[off + 2:off + 2 + n]


def _hcl_akpub(var):
    """The RSA key of the var data's HCLAkPub JWK (ref 4.5: the quote is
    verified with AKpub taken from the HCL report)."""
    for key in var.get("keys", []) if isinstance(var, dict) else []:
        if isinstance(key, dict) and key.get("kid") == "HCLAkPub":
            n = int.from_bytes(peerlib.b64url_decode(key.get("n")), "big")
            e = int.from_bytes(peerlib.b64url_decode(key.get("e")), "big")
            return rsa.RSAPublicNumbers(e, n).public_key()
    raise ValueError("hcl_report: no HCLAkPub in var data")


def _az_quote_checks(q, msg, var, binding):
    """ref 4.5 checks on our side of the TPM: the quote's signature with
    HCLAkPub (RSASSA-PKCS1-v1_5, SHA-256) and pcrDigest == SHA-256 of
    the 24 SHA-256 PCRs sent."""
    try:
        sig = bytes.fromhex(q.get("signature", ""))
        _hcl_akpub(var).verify(sig, msg, padding.PKCS1v15(),
                               hashes.SHA256())
        binding["quote_signature"] = True
    except (ValueError, TypeError, InvalidSignature):
        binding["quote_signature"] = False
    pcrs = q.get("pcrs")
    try:
        sel, pcr_digest = _tpms_attest_pcrs(msg)
        values = b"".join(bytes.fromhex(p) for p in pcrs)
        binding["pcr_digest"] = (
            sel == [(0x000B, b"\xff\xff\xff")] and len(pcrs) == 24 and
            len(values) == 24 * 32 and
            hashlib.sha256(values).digest() == pcr_digest)
    except (ValueError, TypeError, struct.error):
        binding["pcr_digest"] = False


def _pcr8(quote, decode):
    pcrs = quote.get("pcrs") if isinstance(quote, dict) else None
    if not isinstance(pcrs, list) or len(pcrs) <= 8:
        raise ValueError("tpm_quote.pcrs has no PCR8")
    return ("pcr8", decode(pcrs[8]))


def _resized(digest, n):
    return (digest + bytes(n))[:n]


def verify_tpm(evidence, digest, binding):
    """ref 4.7 and 2.2: extraData == digest resized to 32 bytes (cut or
    zero-padded). XXX: the reference says 32; a colleague read Trustee's
    current tpm verifier as resizing to 64. --tpm-report-data-len picks
    the expectation; the audit says which form the quote carried."""
    if not isinstance(evidence, dict) or not isinstance(
            evidence.get("ak_public"), str) or not isinstance(
            evidence.get("tpm_quote"), dict):
        raise ValueError("tpm evidence: ak_public or tpm_quote missing")
    q = evidence["tpm_quote"]
    try:
        msg = peerlib.b64std_decode(q.get("message", ""))
        peerlib.b64std_decode(q.get("signature", ""))
    except ValueError:
        raise ValueError("tpm evidence: message/signature not base64") \
            from None
    extra = _tpms_attest_extra(msg)
    want = _resized(digest, OPTIONS["tpm_report_data_len"])
    binding["report_data_len"] = len(extra)
    binding["tpm_nonce_form"] = next(
        (f for f, v in (("resized32", _resized(digest, 32)),
                        ("resized64", _resized(digest, 64)),
                        ("exact", digest)) if extra == v), "none")
    binding["held"] = secrets.compare_digest(extra, want)
    if not binding["held"]:
        raise ValueError("tpm evidence: extraData != digest resized to "
                         "%d" % len(want))
    binding["config_register"] = _pcr8(q, bytes.fromhex)
    _unsigned("tpm", binding)
    return {"ak_public": evidence["ak_public"]}


def _b64url_padding_optional(text):
    """base64url with or without "=" padding. ref 4.5 says "base64url,
    no pad"; Trustee's verifier fields are serde_with Base64<UrlSafe>,
    whose default (Padded) emits padding and whose decoder takes both
    forms, so an attester may send either."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    stripped = text[:len(text.rstrip("="))]
    if len(text) - len(stripped) > 2 or (len(text) != len(stripped) and
                                        len(text) % 4 != 0):
        raise ValueError("bad base64url padding")
    return peerlib.b64url_decode(stripped)


def _hcl_var_data(hcl):
    """ref tee-guest-interfaces 4.4: 32-byte header, hardware report at
    0x20, IGVM request data at 0x4C0 (u32 data_size, version,
    report_type, hash_type, var_data_size), var data at 0x4D4."""
    if len(hcl) < 0x4D4 or hcl[0:4] != b"HCLA":
        raise ValueError("hcl_report: not an HCL report")
    size = struct.unpack_from("<I", hcl, 0x4D0)[0]
    if 0x4D4 + size > len(hcl):
        raise ValueError("hcl_report: var data truncated")
    return hcl[0x4D4:0x4D4 + size]


def _verify_az(tee, evidence, digest, binding):
    """ref 4.5 / 4.6 and 2.2: extraData == digest exactly; v2 var-data
    user-data starts with the digest; SHA-256(var data) ==
    hardware report_data[0:32]."""
    if not isinstance(evidence, dict) or evidence.get("version") != 2 \
            or not isinstance(evidence.get("tpm_quote"), dict):
        raise ValueError("%s evidence: not version 2 with tpm_quote" % tee)
    q = evidence["tpm_quote"]
    try:
        extra = _tpms_attest_extra(bytes.fromhex(q.get("message", "")))
        hcl = _b64url_padding_optional(evidence.get("hcl_report", ""))
    except (ValueError, TypeError):
        raise ValueError("%s evidence: message/hcl_report encoding" % tee) \
            from None
    binding["report_data_len"] = len(extra)
    var = _hcl_var_data(hcl)
    try:
        user = json.loads(var.decode("utf-8")).get("user-data", "")
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise ValueError("%s evidence: var data not JSON" % tee) from None
    hw_rd = _az_hw_report_data(tee, evidence, hcl)
    try:
        var_json = json.loads(var.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        var_json = {}
    _az_quote_checks(q, bytes.fromhex(q.get("message", "")), var_json,
                     binding)
    if not (binding["quote_signature"] and binding["pcr_digest"]):
        raise ValueError("%s evidence: TPM quote signature %s, PCR digest "
                         "%s" % (tee, binding["quote_signature"],
                                 binding["pcr_digest"]))
    binding["quote_extra_data"] = secrets.compare_digest(extra, digest)
    binding["user_data_prefix"] = isinstance(user, str) and \
        user.lower().startswith(digest.hex())
    binding["var_data_hash"] = secrets.compare_digest(
        hashlib.sha256(var).digest(), hw_rd[:32])
    binding["held"] = binding["quote_extra_data"] and \
        binding["user_data_prefix"] and binding["var_data_hash"]
    if not binding["held"]:
        raise ValueError("%s evidence: binding failed (extraData %s, "
                         "user-data %s, var-data hash %s)" % (
                             tee, binding["quote_extra_data"],
                             binding["user_data_prefix"],
                             binding["var_data_hash"]))
    binding["config_register"] = _pcr8(q, bytes.fromhex)
    _unsigned(tee, binding)
    return {"report_data": hw_rd.hex()}


def _az_hw_report_data(tee, evidence, hcl):
    if tee == "az-snp-vtpm":
        return hcl[0x20 + 0x50:0x20 + 0x90]      # SNP REPORT_DATA
    try:
        raw = _b64url_padding_optional(evidence.get("td_quote", ""))
    except (ValueError, TypeError):
        raise ValueError("az-tdx-vtpm evidence: td_quote encoding") \
            from None
    return _td_quote_fields(raw)[0]


def verify_az_snp(evidence, digest, binding):
    return _verify_az("az-snp-vtpm", evidence, digest, binding)


def verify_az_tdx(evidence, digest, binding):
    return _verify_az("az-tdx-vtpm", evidence, digest, binding)


def toml_algorithm(body):
    """The top-level `algorithm = "..."` of an init-data TOML (ref 2.2),
    read minimally: lines before the first [table]."""
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("["):
            break
        m = re.match(r"""^algorithm\s*=\s*["']([^"']+)["']""", line)
        if m:
            return m.group(1)
    return None


def init_data_expected(body, register):
    """What the register must hold for this init-data (ref 2.2)."""
    alg = toml_algorithm(body)
    if alg not in ("sha256", "sha384", "sha512"):
        raise ValueError("init-data: algorithm %r unsupported" % alg)
    d = hashlib.new(alg, body.encode("utf-8")).digest()
    name = register[0]
    if name == "pcr8":
        return hashlib.sha256(bytes(32) + d).digest()
    return _resized(d, len(register[1]))


# ref 4.10: the architectures the NVIDIA verifier knows.
NVIDIA_ARCHES = ("HOPPER", "BLACKWELL", "LS10")
SPDM_NONCE_LEN = 32   # ref 2.2 nvidia row


def _spdm_nonce(report):
    """The nonce of the SPDM 1.1 GET_MEASUREMENTS request that opens a
    GPU attestation report (DMTF DSP0274: version 0x11, code 0xE0,
    param1, param2, nonce[32] at offset 4, slot id)."""
    if len(report) < 4 + SPDM_NONCE_LEN + 1:
        raise ValueError("nvidia evidence: report shorter than an SPDM "
                         "GET_MEASUREMENTS request")
    if report[0] != 0x11 or report[1] != 0xE0:
        raise ValueError("nvidia evidence: report does not open with an "
                         "SPDM 1.1 GET_MEASUREMENTS request")
    return report[4:4 + SPDM_NONCE_LEN]


def _nvidia_report(text):
    """ref 4.10: evidence is hex or base64 of the SPDM report; hex is
    tried first, as a hex string is never meant as base64."""
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    try:
        return peerlib.b64std_decode(text)
    except ValueError:
        raise ValueError("nvidia evidence: evidence neither hex nor "
                         "base64") from None


def verify_nvidia(evidence, digest, binding):
    """ref 4.10 and 2.2: {"device_evidence_list": [{arch, uuid, evidence,
    certificate}]}; each GPU's SPDM nonce == the device digest resized to
    32 bytes. Certificates must be base64 of a PEM chain; NVIDIA's
    signatures are not checked (see _unsigned)."""
    devices = evidence.get("device_evidence_list") if isinstance(
        evidence, dict) else None
    if not isinstance(devices, list) or not devices:
        raise ValueError("nvidia evidence: device_evidence_list missing "
                         "or empty")
    want = _resized(digest, SPDM_NONCE_LEN)
    binding["gpus"] = []
    for dev in devices:
        if not isinstance(dev, dict) or not all(
                isinstance(dev.get(k), str) for k in
                ("arch", "uuid", "evidence", "certificate")):
            raise ValueError("nvidia evidence: device entry needs string "
                             "arch, uuid, evidence, certificate")
        if dev["arch"] not in NVIDIA_ARCHES:
            raise ValueError("nvidia evidence: unknown arch %r" %
                             dev["arch"])
        try:
            chain = peerlib.b64std_decode(dev["certificate"])
        except ValueError:
            raise ValueError("nvidia evidence: certificate not base64") \
                from None
        if not chain.startswith(b"-----BEGIN CERTIFICATE-----"):
            raise ValueError("nvidia evidence: certificate is not a PEM "
                             "chain")
        held = secrets.compare_digest(
            _spdm_nonce(_nvidia_report(dev["evidence"])), want)
        binding["gpus"].append({"arch": dev["arch"], "uuid": dev["uuid"],
                                "nonce_match": held})
    binding["held"] = all(g["nonce_match"] for g in binding["gpus"])
    if not binding["held"]:
        raise ValueError("nvidia evidence: SPDM nonce != device digest")
    _unsigned("nvidia", binding)
    return {"gpus": [{"arch": g["arch"], "uuid": g["uuid"]}
                     for g in binding["gpus"]]}


VERIFIERS = {"sample": verify_sample, "snp": verify_snp, "tdx": verify_tdx,
             "tpm": verify_tpm, "az-snp-vtpm": verify_az_snp,
             "az-tdx-vtpm": verify_az_tdx}

# Additional devices (ref 2.1 step 5, 4.2): evidence over the device
# digest, which leaves out the additional-evidence key.
DEVICE_VERIFIERS = {"sampledevice": verify_sample, "nvidia": verify_nvidia}


# ---------------------------------------------------------------------------
# The KBS state
# ---------------------------------------------------------------------------

class Session:
    def __init__(self, tee, nonce, expires):
        self.tee = tee
        self.nonce = nonce
        self.expires = expires
        self.token = None
        self.claims = None


class Kbs:
    def __init__(self, args, audit):
        self.args = args
        self.audit = audit
        self.lock = threading.Lock()
        self.sessions = {}
        self.sign_key = ec.generate_private_key(ec.SECP256R1())
        self.faults = set(args.jwe_fault or [])
        if args.corrupt_jwe_tag:
            self.faults.add("tag")

    # -- sessions --------------------------------------------------------
    def new_session(self, tee, nonce):
        sid = uuid.uuid4().hex
        expires = time.time() + self.args.session_seconds
        with self.lock:
            self._sweep()
            self.sessions[sid] = Session(tee, nonce, expires)
        return sid, expires

    def session(self, sid):
        with self.lock:
            self._sweep()
            return self.sessions.get(sid)

    def _sweep(self):
        now = time.time()
        for sid in [s for s, v in self.sessions.items()
                    if v.expires <= now]:
            del self.sessions[sid]

    # -- tokens (ref 1.5, 7.1): ES256 JWT with the signing JWK ------------
    def issue_token(self, claims):
        pub = self.sign_key.public_key().public_numbers()
        header = {"alg": "ES256", "typ": "JWT", "jwk": {
            "kty": "EC", "crv": "P-256",
            "x": peerlib.b64url(pub.x.to_bytes(32, "big")),
            "y": peerlib.b64url(pub.y.to_bytes(32, "big"))}}
        signing_input = (peerlib.b64url(json.dumps(header).encode()) + "." +
                         peerlib.b64url(json.dumps(claims).encode()))
        der = self.sign_key.sign(signing_input.encode("ascii"),
                                 ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing_input + "." + peerlib.b64url(sig)

    def verify_token(self, token):
        """Claims of a token we issued and that has not expired."""
        try:
            head, body, sig = token.split(".")
            raw = peerlib.b64url_decode(sig)
            if len(raw) != 64:
                raise ValueError("bad signature length")
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                       int.from_bytes(raw[32:], "big"))
            self.sign_key.public_key().verify(
                der, (head + "." + body).encode("ascii"),
                ec.ECDSA(hashes.SHA256()))
            claims = json.loads(peerlib.b64url_decode(body))
        except (ValueError, InvalidSignature):
            raise KbsError("TokenVerifierError", "Token verifier error: "
                           "invalid token") from None
        if claims.get("exp", 0) <= time.time():
            raise KbsError("TokenVerifierError", "Token verifier error: "
                           "token expired")
        return claims

    # -- policy (ref 5.4) ------------------------------------------------
    def policy_allows(self, claims, path):
        mode = self.args.policy
        if mode == "allow":
            return True
        if mode == "deny":
            return False
        evidence = _annotated(claims)
        # default.rego: allow only when cpu0 has no `sample` key.
        return "sample" not in evidence

    # -- resources -------------------------------------------------------
    def load_resource(self, segments):
        path = os.path.join(self.args.resources, *segments)
        try:
            size = os.path.getsize(path)
            if size > MAX_RESOURCE_BYTES:
                raise KbsError("PluginInternalError", "Plugin internal "
                               "error: resource too large")
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            raise KbsError("PluginInternalError", "Plugin internal error: "
                           "failed to get resource: resource not found") \
                from None


def _annotated(claims):
    try:
        return claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]
    except (KeyError, TypeError):
        return {}


def _teepubkey_from_claims(claims):
    """ref 1.7: the JWE goes to the key inside the token, EAR path."""
    try:
        return _annotated(claims)["runtime_data_claims"]["tee-pubkey"]
    except (KeyError, TypeError):
        raise KbsError("TokenVerifierError", "Token verifier error: no "
                       "tee-pubkey claim") from None


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kbs-standin"
    sys_version = ""
    timeout = 30
    kbs = None   # set in main()

    def log_message(self, fmt, *args):   # quiet: the audit log says it all
        pass

    def handle(self):
        if peerlib.handshake(self):
            super().handle()

    # -- plumbing --------------------------------------------------------
    def _send(self, status, body=b"", headers=None):
        self.send_response(status)
        for name, value in (headers or []):
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(self, err):
        # ref 1.8: no explicit content type on error bodies.
        body = json.dumps({"type": ERROR_TYPE_PREFIX + err.variant,
                           "detail": err.detail}).encode()
        self._send(err.status, body)

    def _body(self):
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            raise KbsError("AttestationError", "chunked bodies are not "
                           "supported by the stand-in")
        try:
            n = int(length or "0")
        except ValueError:
            n = -1
        if n < 0 or n > MAX_BODY_BYTES:
            raise _TooLarge()
        return self.rfile.read(n)

    def _cookie(self):
        raw = self.headers.get("Cookie") or ""
        for part in raw.split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE_NAME:
                return value
        return None

    def _set_cookie(self, sid, expires):
        stamp = email.utils.formatdate(expires, usegmt=True)
        return ("Set-Cookie", "%s=%s; Expires=%s" % (COOKIE_NAME, sid,
                                                      stamp))

    def _audit(self, endpoint, status, **fields):
        self.kbs.audit.write("kbs.request", endpoint=endpoint,
                             method=self.command, status=status, **fields)

    # -- dispatch (ref 1.1) ----------------------------------------------
    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz" and self.command == "GET":
            self._send(200, b"")
            return
        prefix = "/kbs/v0/"
        if not url.path.startswith(prefix):
            self._audit("other", 404, decision="error")
            self._send(404, b"")
            return
        rest = url.path[len(prefix):]
        segments = rest.split("/")
        plugin = segments[0]
        audit = {}
        try:
            if plugin == "auth" and self.command == "POST":
                self._auth(audit)
            elif plugin == "attest" and self.command == "POST":
                self._attest(audit)
            elif plugin == "resource":
                self._resource(segments[1:], url.query, audit)
            elif plugin in ("resource-policy", "attestation-policy",
                            "reference-value"):
                raise KbsError("AdminAuth", "Admin auth error: admin "
                               "endpoints are disabled in the stand-in")
            else:
                raise KbsError("PluginNotFound", "Plugin %s not found" %
                               plugin)
        except _TooLarge:
            self._audit(plugin, 413, decision="error", **audit)
            self._send(413, b"request body too large")
            self.close_connection = True
        except KbsError as err:
            self._audit(plugin, err.status, decision="deny"
                        if err.variant == "PolicyDeny" else "error",
                        error=err.variant, reason=err.reason, **audit)
            self._send_error(err)
        except OSError:
            raise
        except Exception as err:   # a stand-in bug: say so, loudly
            self.kbs.audit.write("kbs.standin_bug", error=repr(err),
                                 trace=traceback.format_exc())
            self._send(500, b"kbs stand-in internal error")
            self.close_connection = True

    # -- POST /auth (ref 1.2, 1.3, 1.6, 1.10) ----------------------------
    def _auth(self, audit):
        def auth_failed(why):
            return KbsError("AttestationError", "Attestation error: RCAR "
                            "handshake Auth failed: " + why)

        try:
            req = strict_json(self._body())
        except (ValueError, UnicodeDecodeError) as err:
            raise auth_failed("deserialize Request failed: %s" % err) \
                from None
        if not isinstance(req, dict):
            raise auth_failed("deserialize Request failed: not an object")
        version = req.get("version")
        tee = req.get("tee")
        audit["tee"] = tee
        audit["version"] = version
        if not isinstance(version, str) or not isinstance(tee, str) or \
                "extra-params" not in req:
            raise auth_failed("deserialize Request failed: missing field")
        if tee not in KNOWN_TEES:
            raise auth_failed("deserialize Request failed: unknown "
                              "variant `%s`" % tee)
        want = self.kbs.args.require_version
        if version != want:
            raise auth_failed("KBS Client Protocol Version Mismatch: "
                              "expect =%s while the request is %s" %
                              (want, version))
        nonce = base64.b64encode(
            secrets.token_bytes(NONCE_BYTES)).decode("ascii")
        sid, expires = self.kbs.new_session(tee, nonce)
        audit["session"] = sid[:8]
        body = json.dumps({"nonce": nonce, "extra-params": ""}).encode()
        self._audit("auth", 200, decision="challenge", **audit)
        self._send(200, body, [("Content-Type", "application/json"),
                               self._set_cookie(sid, expires)])

    # -- POST /attest (ref 1.4, 1.5, 2) ----------------------------------
    def _attest(self, audit):
        sid = self._cookie()
        sess = self.kbs.session(sid) if sid else None
        if sess is None:
            raise attest_failed("no cookie, or session not found/expired")
        audit["session"] = sid[:8]
        audit["tee"] = sess.tee
        if sess.token is not None:
            # ref 1.5: already attested -> the stored token, no re-check.
            audit["reused_token"] = True
            self._attest_reply(sid, sess, audit)
            return
        try:
            att = strict_json(self._body())
        except (ValueError, UnicodeDecodeError) as err:
            raise attest_failed("bad JSON: %s" % err) from None
        claims = self._verify_attestation(sess, att, audit)
        now = int(time.time())
        sess.claims = {
            "eat_profile": "tag:github.com,2024:confidential-containers/"
                           "Trustee",
            "iat": now, "exp": now + self.kbs.args.token_seconds,
            "iss": "kbs-standin",
            "submods": {"cpu0": {
                "ear.status": "warning" if sess.tee == "sample"
                else "affirming",
                "ear.appraisal-policy-id": "default",
                "ear.veraison.annotated-evidence": claims}},
        }
        sess.token = self.kbs.issue_token(sess.claims)
        self._attest_reply(sid, sess, audit)

    def _attest_reply(self, sid, sess, audit):
        body = json.dumps({"token": sess.token}).encode()
        self._audit("attest", 200, decision="attested", **audit)
        self._send(200, body, [("Content-Type", "application/json"),
                               self._set_cookie(sid, sess.expires)])

    def _verify_attestation(self, sess, att, audit):
        if not isinstance(att, dict):
            raise attest_failed("Attestation is not an object")
        rd = att.get("runtime-data")
        ev = att.get("tee-evidence")
        init = att.get("init-data")
        if not isinstance(rd, dict) or not isinstance(ev, dict):
            raise attest_failed("runtime-data or tee-evidence missing")
        if init is not None:
            if not isinstance(init, dict) or init.get("format") != "toml" \
                    or not isinstance(init.get("body"), str):
                raise attest_failed("Unsupported initdata format")
        nonce = rd.get("nonce")
        audit["nonce_match"] = isinstance(nonce, str) and \
            secrets.compare_digest(nonce.encode(), sess.nonce.encode())
        if not audit["nonce_match"]:
            raise attest_failed("nonce mismatch")
        try:
            jwk = parse_tee_pubkey(rd.get("tee-pubkey"))
        except ValueError as err:
            raise attest_failed("tee-pubkey: %s" % err) from None
        problem = jwk_problem(jwk)
        audit["jwk_valid"] = problem is None
        if problem:
            audit["jwk_problem"] = problem
        extra = rd.get("tee-pubkey", {})
        audit["jwk_extra_members"] = sorted(set(extra) - set(jwk))
        additional = ev.get("additional_evidence")
        if not isinstance(additional, str) or \
                "primary_evidence" not in ev:
            raise attest_failed("tee-evidence members missing")
        digest = hashlib.sha384(jcs({
            "additional-evidence": additional, "nonce": nonce,
            "tee-pubkey": jwk}).encode("utf-8")).digest()
        binding = {"held": False}
        verifier = VERIFIERS.get(sess.tee)
        try:
            if self.kbs.args.reject_evidence:
                raise ValueError("--reject-evidence")
            if verifier is None:
                raise ValueError("no verifier for tee %s" % sess.tee)
            claims = {sess.tee: verifier(ev["primary_evidence"], digest,
                                         binding)}
            claims.update(self._verify_devices(additional, nonce, jwk,
                                               audit))
            # The primary digest above covers the additional_evidence
            # string byte for byte (ref 2.1 step 2): record that the
            # device evidence was bound by the CPU evidence too.
            audit["additional_bound"] = binding["held"] and \
                additional != ""
            self._verify_init_data(init, binding, audit)
        except ValueError as err:
            raise attest_failed(str(err)) from None
        finally:
            audit["binding_held"] = binding["held"]
            audit["report_data_len"] = binding.get("report_data_len")
            for k in ("tpm_nonce_form", "quote_extra_data",
                      "quote_signature", "pcr_digest",
                      "user_data_prefix", "var_data_hash",
                      "signature_checked", "accepted_unsigned"):
                if k in binding:
                    audit[k] = binding[k]
        claims["runtime_data_claims"] = {
            "nonce": nonce, "tee-pubkey": jwk,
            "additional-evidence": additional}
        claims["init_data"] = init.get("body") if init else None
        return claims

    @staticmethod
    def _verify_init_data(init, binding, audit):
        """ref 2.2 Init-data: the register must hold the init-data digest
        in the TEE's form; a TEE without a register only logs it."""
        if init is None:
            return
        reg = binding.get("config_register")
        audit["init_data_register"] = reg[0] if reg else None
        if reg is None:
            return
        audit["init_data_held"] = secrets.compare_digest(
            reg[1], init_data_expected(init["body"], reg))
        if not audit["init_data_held"]:
            raise ValueError("init-data digest does not match %s" % reg[0])

    def _verify_devices(self, additional, nonce, jwk, audit):
        audit["devices"] = []
        if additional == "":
            return {}
        devices = strict_json(additional)
        if not isinstance(devices, dict):
            raise ValueError("additional_evidence is not a JSON object")
        digest = hashlib.sha384(jcs({"nonce": nonce, "tee-pubkey": jwk})
                                .encode("utf-8")).digest()
        claims = {}
        for tee, evidence in devices.items():
            check = DEVICE_VERIFIERS.get(tee)
            if check is None:
                raise ValueError("no verifier for device %s" % tee)
            dev = {"held": False}
            try:
                claims[tee] = check(evidence, digest, dev)
            finally:
                entry = {"tee": tee, "binding_held": dev["held"]}
                for k in ("gpus", "accepted_unsigned"):
                    if k in dev:
                        entry[k] = dev[k]
                audit["devices"].append(entry)
        return claims

    # -- GET /resource (ref 1.1, 1.7, 3) ---------------------------------
    def _resource(self, segments, query, audit):
        if self.command in ("POST", "DELETE"):
            raise KbsError("AdminAuth", "Admin auth error: admin "
                           "endpoints are disabled in the stand-in")
        if self.command != "GET":
            raise KbsError("PluginInternalError", "Plugin internal error: "
                           "method not allowed")
        self._body()   # drain anything sent, within the ceiling
        claims = self._token_claims(audit)
        audit["path"] = "/".join(segments)
        audit["tee"] = next((k for k in _annotated(claims)
                             if k in KNOWN_TEES), None)
        if not self.kbs.policy_allows(claims, segments):
            raise KbsError("PolicyDeny", "Access denied by policy")
        if len(segments) != 3 or not all(SEGMENT_RE.match(s)
                                         for s in segments):
            raise KbsError("PluginInternalError", "Plugin internal error: "
                           "illegal ResourceDesc format")
        plaintext = self.kbs.load_resource(segments)
        jwe = build_jwe(_teepubkey_from_claims(claims), plaintext,
                        self.kbs.faults, self.kbs.args.jwe_header_style)
        body = json.dumps(jwe).encode()
        self._audit("resource", 200, decision="allow",
                    faults=sorted(self.kbs.faults), **audit)
        self._send(200, body, [("Content-Type", "application/json")])

    def _token_claims(self, audit):
        sid = self._cookie()
        sess = self.kbs.session(sid) if sid else None
        if sess is not None and sess.token is not None:
            audit["auth"] = "cookie"
            audit["session"] = sid[:8]
            return self.kbs.verify_token(sess.token)
        bearer = self.headers.get("Authorization") or ""
        if bearer.startswith("Bearer "):
            audit["auth"] = "bearer"
            return self.kbs.verify_token(bearer[len("Bearer "):].strip())
        raise KbsError("TokenNotFound", "Token not found: no attested "
                       "session and no bearer token")


class _TooLarge(Exception):
    pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    peerlib.add_common_args(p)
    p.add_argument("--cert", help="TLS certificate chain (PEM); plain HTTP "
                   "when absent")
    p.add_argument("--key", help="TLS private key (PEM)")
    p.add_argument("--resources", required=True,
                   help="directory of <repo>/<type>/<tag> files")
    p.add_argument("--policy", choices=("default", "allow", "deny"),
                   default="default", help="default denies tee sample "
                   "(ref 5.4)")
    p.add_argument("--audit", help="audit log, JSON lines (default: --log)")
    p.add_argument("--require-version", default=PROTOCOL_VERSION,
                   help="protocol version demanded at /auth (fault "
                   "injection: set another one)")
    p.add_argument("--session-seconds", type=float,
                   default=DEFAULT_SESSION_SECONDS)
    p.add_argument("--token-seconds", type=int,
                   default=DEFAULT_TOKEN_SECONDS)
    p.add_argument("--corrupt-jwe-tag", action="store_true",
                   help="flip a bit of every JWE tag")
    p.add_argument("--jwe-fault", action="append",
                   choices=("tag", "ciphertext", "encrypted-key", "aad",
                            "epk-curve"),
                   help="damage every JWE this way (repeatable)")
    p.add_argument("--jwe-header-style", choices=("compact", "spaced"),
                   default="compact")
    p.add_argument("--reject-evidence", action="store_true",
                   help="the verifier refuses every attestation")
    p.add_argument("--accept-unsigned-tee", action="store_true",
                   help="tests: after the report-data binding held, "
                   "accept tdx/snp/tpm/az-* evidence whose vendor "
                   "signatures the stand-in cannot check")
    p.add_argument("--tpm-report-data-len", type=int, choices=(32, 64),
                   default=32, help="tpm extraData = digest resized to "
                   "this (ref 2.2 and 4.7 say 32)")
    args = p.parse_args()
    if args.max_seconds <= 0:
        p.error("--max-seconds must be positive")
    OPTIONS["accept_unsigned"] = args.accept_unsigned_tee
    OPTIONS["tpm_report_data_len"] = args.tpm_report_data_len
    log = peerlib.JsonLog(args.log)
    audit = peerlib.JsonLog(args.audit) if args.audit else log
    Handler.kbs = Kbs(args, audit)
    server = peerlib.make_server(Handler, args.port, args.cert, args.key)
    return peerlib.serve(server, args, log, "kbs")


if __name__ == "__main__":
    sys.exit(main())
