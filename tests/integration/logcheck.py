#!/usr/bin/python3
"""Checks on sealpod-init's output for the integration scenarios.

  logcheck.py reason REGEX FILE...      some JSON log line has a field whose
                                        name contains "reason" matching REGEX
                                        (case-insensitive); prints that line
  logcheck.py jsonlines FILE...         every non-empty line is a JSON object
  logcheck.py nosecret SECRETFILE FILE...
                                        no encoding of the secret (raw, hex,
                                        base64, base64url, PEM body lines,
                                        or of its first 15/16 bytes) occurs
  logcheck.py plaintext-scan MODEL STAMP EXCLUDE DIR...
                                        no regular file under DIR (but not
                                        under EXCLUDE) newer than STAMP holds
                                        MODEL's bytes at the probe offset (a
                                        leftover plaintext or partial copy)
  logcheck.py audit FILE KEY=VALUE...   count audit records matching all
                                        KEY=VALUE pairs (values compared as
                                        JSON text or plain strings); prints
                                        the count

Exit 0 when the check holds, 1 with a message on stderr when it does not.
"""

import base64
import json
import os
import re
import sys

PROBE_OFFSET = 65536
PROBE_LEN = 64
MAX_SCAN_DEPTH = 6


def read_lines(paths):
    for path in paths:
        with open(path, "rb") as f:
            for raw in f:
                yield path, raw.decode("utf-8", "replace").rstrip("\n")


def json_objects(paths):
    for path, line in read_lines(paths):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            yield line, obj


def cmd_reason(regex, paths):
    pat = re.compile(regex, re.I)
    seen = []
    for line, obj in json_objects(paths):
        for key, value in obj.items():
            if "reason" in key.lower() and isinstance(value, str):
                seen.append(value)
                if pat.search(value):
                    print(line)
                    return 0
    sys.stderr.write("no log line with a reason matching /%s/; reasons "
                     "seen: %s\n" % (regex, seen or "none"))
    return 1


def cmd_jsonlines(paths):
    bad = []
    for path, line in read_lines(paths):
        if not line.strip():
            continue
        try:
            ok = isinstance(json.loads(line), dict)
        except ValueError:
            ok = False
        if not ok:
            bad.append("%s: %s" % (os.path.basename(path), line[:200]))
    if bad:
        sys.stderr.write("non-JSON output lines:\n  " + "\n  ".join(bad[:10])
                         + "\n")
        return 1
    return 0


def encodings(secret):
    """Printable forms a leaked secret could take."""
    forms = set()
    if secret.startswith(b"-----BEGIN"):
        for line in secret.decode("ascii", "replace").splitlines():
            if line and not line.startswith("-----") and len(line) >= 16:
                forms.add(line)
        return forms
    if len(secret) < 15:
        return forms
    # Whole secret, and a prefix long enough to be damning: 16 bytes in
    # hex, 15 bytes in base64 (a multiple of 3, so it is also a prefix of
    # the whole secret's base64 text).
    for part in (secret, secret[:16]):
        forms.add(part.hex())
        forms.add(part.hex().upper())
    for part in (secret, secret[:15]):
        b64 = base64.b64encode(part).decode()
        forms.add(b64.rstrip("="))
        forms.add(base64.urlsafe_b64encode(part).decode().rstrip("="))
    return forms


def cmd_nosecret(secret_path, paths):
    with open(secret_path, "rb") as f:
        secret = f.read()
    forms = encodings(secret)
    found = []
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        if len(secret) >= 16 and not secret.startswith(b"-----") and \
                secret in data:
            found.append("%s: raw bytes" % path)
        text = data.decode("utf-8", "replace")
        for form in forms:
            if form in text:
                found.append("%s: %s..." % (path, form[:8]))
    if found:
        sys.stderr.write("secret material in output: %s\n" % found)
        return 1
    return 0


def cmd_plaintext_scan(model, stamp, exclude, dirs):
    with open(model, "rb") as f:
        f.seek(PROBE_OFFSET)
        probe = f.read(PROBE_LEN)
    if len(probe) != PROBE_LEN:
        sys.stderr.write("model too small for the probe\n")
        return 1
    since = os.stat(stamp).st_mtime
    hits = []
    for top in dirs:
        base_depth = top.rstrip("/").count("/")
        for root, subdirs, files in os.walk(top):
            if root.count("/") - base_depth >= MAX_SCAN_DEPTH:
                subdirs[:] = []
            subdirs[:] = [d for d in subdirs if os.path.join(root, d) !=
                          exclude.rstrip("/")]
            for name in files:
                path = os.path.join(root, name)
                try:
                    st = os.lstat(path)
                    if not os.path.isfile(path) or os.path.islink(path):
                        continue
                    if st.st_mtime < since or \
                            st.st_size < PROBE_OFFSET + PROBE_LEN:
                        continue
                    with open(path, "rb") as f:
                        f.seek(PROBE_OFFSET)
                        if f.read(PROBE_LEN) == probe:
                            hits.append(path)
                except OSError:
                    continue
    if hits:
        sys.stderr.write("plaintext copies left: %s\n" % hits)
        return 1
    return 0


def cmd_audit(path, pairs):
    want = dict(p.split("=", 1) for p in pairs)
    n = 0
    for _, obj in json_objects([path]):
        if all(json.dumps(obj.get(k)) == v or str(obj.get(k)) == v
               for k, v in want.items()):
            n += 1
    print(n)
    return 0


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    cmd, rest = argv[1], argv[2:]
    if cmd == "reason":
        return cmd_reason(rest[0], rest[1:])
    if cmd == "jsonlines":
        return cmd_jsonlines(rest)
    if cmd == "nosecret":
        return cmd_nosecret(rest[0], rest[1:])
    if cmd == "plaintext-scan":
        return cmd_plaintext_scan(rest[0], rest[1], rest[2], rest[3:])
    if cmd == "audit":
        return cmd_audit(rest[0], rest[1:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
