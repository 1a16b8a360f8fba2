#!/usr/bin/python3
"""sealpod-init's documentation against its code.

    check_init_docs.py --src /work/main --help-text FILE

  keys     every key of init_config_keys (init/config.c) appears in the
           CONFIGURATION section of `sealpod-init --help` (FILE) and, in
           backquotes, in docs/configuration.md;
  reasons  every reason code the attestation path logs (the reason
           argument of log_event and of the helpers that pass one on,
           and every `why`/`reason` assignment, in the files listed in
           REASON_FILES) appears in backquotes somewhere under docs/.

Prints `FAIL <rule>: <what>` per problem and exits 1 when there is any.
"""

import argparse
import glob
import os
import re
import sys

KEY_ENTRY = re.compile(r'^\s*\{"([a-z0-9_.]+)",\s*CONF_', re.M)
LITERAL = re.compile(r'"([a-z][a-z0-9_]*)"')
ASSIGN = re.compile(r'\b(?:why|reason)\s*=\s*([^;]*);')
# Calls whose argument at this index (0-based) is a reason code.
REASON_ARGS = {"log_event": 2, "open_failed": 1, "log_transport": 1,
               "log_reply": 1, "log_bad_reply": 1, "verdict": 2}
# snp_report_from_json() sets *why to the JSON member that failed; that
# name is returned to its tests, never logged as a reason.
NOT_REASONS = {"attestation_report", "signature", "cpuid_fam_id",
               "launch_mit_vector"}
REASON_FILES = ("init/attest/*.c", "init/gpu.c", "init/kbs.c",
                "init/kbs_wire.c", "init/initdata.c", "init/jwe.c",
                "init/stop.c", "init/main.c", "init/evidence_cmd.c",
                "init/config.c", "init/tlsres.c", "init/exitcode.c",
                "init/source/source.c", "init/source/source_https.c",
                "init/source/source_file.c", "init/source/source_s3.c")


def call_args(text, start):
    """Top-level arguments of the call whose '(' is at start."""
    depth, args, cur, i = 0, [], [], start
    in_str = False
    while i < len(text):
        c = text[i]
        if in_str:
            cur.append(c)
            if c == "\\":
                cur.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            cur.append(c)
        elif c in "([{":
            depth += 1
            if depth > 1:
                cur.append(c)
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append("".join(cur))
                return args
            cur.append(c)
        elif c == "," and depth == 1:
            args.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    return args


def reason_codes(src):
    codes = {}
    files = sorted({f for pat in REASON_FILES
                    for f in glob.glob(os.path.join(src, pat))})
    for path in files:
        text = open(path, encoding="utf-8").read()
        rel = os.path.relpath(path, src)
        for name, idx in REASON_ARGS.items():
            for m in re.finditer(r"\b%s\s*\(" % name, text):
                args = call_args(text, m.end() - 1)
                if len(args) > idx:
                    for lit in LITERAL.findall(args[idx]):
                        codes.setdefault(lit, set()).add(rel)
        for m in ASSIGN.finditer(text):
            for lit in LITERAL.findall(m.group(1)):
                codes.setdefault(lit, set()).add(rel)
    return codes


def help_config(text):
    start = text.find("CONFIGURATION\n")
    end = text.find("\nEXIT STATUS", start)
    return text[start:end] if start >= 0 else ""


def check(src, help_path):
    fails = []
    config_c = open(os.path.join(src, "init/config.c"),
                    encoding="utf-8").read()
    keys = KEY_ENTRY.findall(config_c)
    if len(keys) < 20:
        fails.append(("keys", f"only {len(keys)} keys found in config.c"))
    helptext = help_config(open(help_path, encoding="utf-8").read())
    confdoc = open(os.path.join(src, "docs/configuration.md"),
                   encoding="utf-8").read()
    for key in keys:
        token = re.compile(r"(^|[\s,(])%s([\s,.)]|$)" % re.escape(key),
                           re.M)
        if not token.search(helptext):
            fails.append(("keys", f"{key} is not in --help CONFIGURATION"))
        if f"`{key}`" not in confdoc:
            fails.append(("keys", f"{key} is not in docs/configuration.md"))

    docs = "".join(open(f, encoding="utf-8").read()
                   for f in glob.glob(os.path.join(src, "docs/*.md")))
    codes = reason_codes(src)
    if len(codes) < 50:
        fails.append(("reasons", f"only {len(codes)} reason codes found"))
    for code, where in sorted(codes.items()):
        if code in NOT_REASONS:
            continue
        if f"`{code}`" not in docs:
            fails.append(("reasons", f"{code} ({', '.join(sorted(where))})"
                          " is not documented under docs/"))
    return fails, len(keys), len(codes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", required=True)
    ap.add_argument("--help-text", required=True)
    args = ap.parse_args()
    fails, nkeys, ncodes = check(args.src, args.help_text)
    for rule, what in fails:
        print(f"FAIL {rule}: {what}")
    if fails:
        return 1
    print(f"ok: {nkeys} keys in --help and the docs; {ncodes} reason codes "
          "documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
