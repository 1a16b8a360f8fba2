#!/usr/bin/python3
"""Make and check KServe-style encrypted model files for the tests.

KServe's confidential model serving encrypts each model file as one JWE
in compact serialization (RFC 7516 section 7.1) with alg A256KW (RFC 7518
section 4.4: the content key wrapped with AES key wrap under a 32-byte
key-encryption key) and enc A256GCM (section 5.3: AAD = the ASCII of the
encoded protected header). Written from the RFCs with
python3-cryptography, streaming, so large files need little memory.

  kserve_jwe.py kek FILE
        32 random bytes, mode 0600
  kserve_jwe.py encrypt KEK IN OUT [--alg A] [--header-json J]
        OUT = JWE compact of IN's bytes (--alg only changes the header,
        for "unsupported algorithm" tests; --header-json replaces it)
  kserve_jwe.py tree KEK SRC DST [--plain NAME]...
        every file under SRC into DST as NAME.jwe, except the --plain
        ones, copied as they are
  kserve_jwe.py check KEK JWE PLAIN
        with jwcrypto (what KServe decrypts with), when it is installed:
        exit 0 if JWE decrypts to PLAIN, 1 if not, 77 without jwcrypto
  kserve_jwe.py jwcrypto-encrypt KEK IN OUT
        OUT made by jwcrypto itself (exit 77 without it)
"""

import argparse
import base64
import json
import os
import shutil
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

CHUNK = 3 * 65536  # bytes per step: a multiple of 3 keeps base64 aligned


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def encrypt(kek, src, dst, header=None):
    if header is None:
        header = {"alg": "A256KW", "enc": "A256GCM"}
    hdr = b64url(json.dumps(header, separators=(",", ":")).encode())
    cek = os.urandom(32)
    iv = os.urandom(12)
    enc = Cipher(algorithms.AES(cek), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(hdr)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fout.write(hdr + b"." + b64url(aes_key_wrap(kek, cek)) + b"." +
                   b64url(iv) + b".")
        pending = b""
        while True:
            data = fin.read(CHUNK)
            if not data:
                break
            pending += enc.update(data)
            cut = len(pending) - len(pending) % 3
            fout.write(base64.urlsafe_b64encode(pending[:cut]))
            pending = pending[cut:]
        pending += enc.finalize()
        fout.write(b64url(pending) + b"." + b64url(enc.tag))


def read_kek(path):
    with open(path, "rb") as f:
        kek = f.read()
    if len(kek) != 32:
        sys.exit("KEK must be 32 bytes")
    return kek


def cmd_kek(args):
    fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(32))


def cmd_encrypt(args):
    header = None
    if args.header_json:
        header = json.loads(args.header_json)
    elif args.alg:
        header = {"alg": args.alg, "enc": "A256GCM"}
    encrypt(read_kek(args.kek), args.input, args.output, header)


def cmd_tree(args):
    kek = read_kek(args.kek)
    for root, _dirs, files in os.walk(args.src):
        rel = os.path.relpath(root, args.src)
        out_dir = os.path.normpath(os.path.join(args.dst, rel))
        os.makedirs(out_dir, exist_ok=True)
        for name in files:
            src = os.path.join(root, name)
            relname = os.path.normpath(os.path.join(rel, name))
            if relname in (args.plain or []):
                shutil.copyfile(src, os.path.join(out_dir, name))
            else:
                encrypt(kek, src, os.path.join(out_dir, name + ".jwe"))


def jwcrypto_or_skip():
    try:
        from jwcrypto import jwe, jwk
    except ImportError:
        sys.exit(77)
    return jwe, jwk


def cmd_check(args):
    jwe, jwk = jwcrypto_or_skip()
    key = jwk.JWK(kty="oct", k=b64url(read_kek(args.kek)).decode())
    token = jwe.JWE()
    with open(args.jwe, encoding="ascii") as f:
        token.deserialize(f.read())
    token.decrypt(key)
    with open(args.plain, "rb") as f:
        sys.exit(0 if token.payload == f.read() else 1)


def cmd_jwcrypto_encrypt(args):
    jwe, jwk = jwcrypto_or_skip()
    key = jwk.JWK(kty="oct", k=b64url(read_kek(args.kek)).decode())
    with open(args.input, "rb") as f:
        token = jwe.JWE(f.read(), json.dumps({"alg": "A256KW",
                                              "enc": "A256GCM"}))
    token.add_recipient(key)
    with open(args.output, "w", encoding="ascii") as f:
        f.write(token.serialize(compact=True))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("kek")
    s.add_argument("file")
    s.set_defaults(fn=cmd_kek)
    s = sub.add_parser("encrypt")
    for a in ("kek", "input", "output"):
        s.add_argument(a)
    s.add_argument("--alg")
    s.add_argument("--header-json")
    s.set_defaults(fn=cmd_encrypt)
    s = sub.add_parser("tree")
    for a in ("kek", "src", "dst"):
        s.add_argument(a)
    s.add_argument("--plain", action="append")
    s.set_defaults(fn=cmd_tree)
    s = sub.add_parser("check")
    for a in ("kek", "jwe", "plain"):
        s.add_argument(a)
    s.set_defaults(fn=cmd_check)
    s = sub.add_parser("jwcrypto-encrypt")
    for a in ("kek", "input", "output"):
        s.add_argument(a)
    s.set_defaults(fn=cmd_jwcrypto_encrypt)
    args = p.parse_args()
    args.fn(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
