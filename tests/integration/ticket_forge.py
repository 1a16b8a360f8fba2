#!/usr/bin/python3
"""Rewrite the session ticket inside an OpenSSL session file.

Reads a PEM "SSL SESSION PARAMETERS" file (openssl s_client -sess_out),
finds the ticket (the [10] EXPLICIT OCTET STRING of the session's DER
SEQUENCE), changes it in place and writes the result as PEM:

  name  the 16-byte key name becomes random bytes (a key never made)
  mac   the last byte (inside the HMAC) is flipped, the name kept

The length never changes, so no DER length needs rewriting. Prints the
original key name in hex on stdout.
"""

import argparse
import base64
import os
import sys

NAME_LEN = 16
BEGIN = "-----BEGIN SSL SESSION PARAMETERS-----"
END = "-----END SSL SESSION PARAMETERS-----"


def read_len(der, i):
    """DER length at der[i]: (length, index after it)."""
    first = der[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    if n == 0 or n > 4:
        raise ValueError("unsupported DER length")
    return int.from_bytes(der[i + 1:i + 1 + n], "big"), i + 1 + n


def find_ticket(der):
    """(offset, length) of the ticket bytes in a session's DER."""
    if der[0] != 0x30:
        raise ValueError("not a SEQUENCE")
    total, i = read_len(der, 1)
    end = i + total
    while i < end:
        tag = der[i]
        length, body = read_len(der, i + 1)
        if tag == 0xAA:  # [10] constructed: the ticket
            if der[body] != 0x04:
                raise ValueError("ticket is not an OCTET STRING")
            tlen, tbody = read_len(der, body + 1)
            return tbody, tlen
        i = body + length
    raise ValueError("no ticket in the session")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--in", dest="inp", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--edit", choices=["name", "mac"], required=True)
    args = p.parse_args()

    with open(args.inp) as f:
        text = f.read()
    b64 = text.split(BEGIN)[1].split(END)[0]
    der = bytearray(base64.b64decode("".join(b64.split())))
    off, tlen = find_ticket(der)
    if tlen <= 2 * NAME_LEN:
        raise ValueError("ticket too short")
    print(der[off:off + NAME_LEN].hex())
    if args.edit == "name":
        der[off:off + NAME_LEN] = os.urandom(NAME_LEN)
    else:
        der[off + tlen - 1] ^= 0x01
    enc = base64.b64encode(bytes(der)).decode()
    lines = [enc[i:i + 64] for i in range(0, len(enc), 64)]
    with open(args.out, "w") as f:
        f.write(BEGIN + "\n" + "\n".join(lines) + "\n" + END + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
