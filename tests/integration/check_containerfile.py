#!/usr/bin/python3
"""Static checks of a sealpod Containerfile (no container engine needed).

    check_containerfile.py --binary sealpod-init images/init.Containerfile

Prints `FAIL <rule>: <what>` per problem and exits 1 when there is any.
The rules are what R-L1 and R-N4 ask of the image: a multi-stage build
from pinned bases, a final stage without a shell or package manager that
only receives the build stage's output, a non-root USER, an exec-form
ENTRYPOINT of the expected binary, and nothing fetched from a URL by ADD
or piped into a shell.
"""

import argparse
import json
import re
import sys

FINAL_BASES = ("gcr.io/distroless/base-debian12",
               "gcr.io/distroless/cc-debian12")
BUILD_BASES = ("docker.io/library/debian:12", "debian:12")
URL = re.compile(r"\b(https?|ftp|git)://|git@")
FETCH_PIPE = re.compile(r"\b(curl|wget)\b[^|]*\|\s*(ba|da|z)?sh\b")


def instructions(text):
    """(line, keyword, argument) per instruction, continuations joined."""
    out = []
    buf, start = "", None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        if start is None:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, arg = buf.strip().partition(" ")
        out.append((start, word.upper(), arg.strip()))
        buf, start = "", None
    if buf:
        out.append((start, "UNTERMINATED", buf))
    return out


def stages(instrs):
    """Split into stages: list of (from_line, from_arg, [instrs])."""
    result = []
    for ins in instrs:
        if ins[1] == "FROM":
            result.append((ins[0], ins[2], []))
        elif result:
            result[-1][2].append(ins)
    return result


def image_of(from_arg):
    words = [w for w in from_arg.split() if not w.startswith("--")]
    return words[0] if words else ""


def pinned(image):
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    return ":" in name and not name.endswith(":latest")


def check(text, binary):
    fails = []
    instrs = instructions(text)
    for n, word, arg in instrs:
        if word == "UNTERMINATED":
            fails.append(("syntax", f"line {n}: continuation never ends"))
        if word == "ADD" and URL.search(arg):
            fails.append(("no-url-add", f"line {n}: ADD of a URL"))
        if word == "RUN" and FETCH_PIPE.search(arg):
            fails.append(("no-url-add", f"line {n}: download piped to a "
                          "shell"))
    st = stages(instrs)
    if len(st) < 2:
        fails.append(("multi-stage", f"{len(st)} stage(s); want a build "
                      "stage and a final stage"))
        return fails
    for n, arg, _ in st:
        img = image_of(arg)
        if not pinned(img):
            fails.append(("pinned-base", f"line {n}: {img!r} has no tag "
                          "or digest (or is :latest)"))
    if not image_of(st[0][1]).startswith(BUILD_BASES):
        fails.append(("build-base", f"line {st[0][0]}: build stage is not "
                      "Debian 12"))
    n, arg, body = st[-1]
    img = image_of(arg)
    if not img.startswith(FINAL_BASES):
        fails.append(("final-base", f"line {n}: final stage {img!r} is not "
                      "distroless (no shell, no package manager)"))
    check_final(body, binary, fails)
    return fails


def check_final(body, binary, fails):
    users = [(n, a) for n, w, a in body if w == "USER"]
    if not users:
        fails.append(("user", "final stage sets no USER"))
    else:
        n, user = users[-1]
        name = user.split(":", 1)[0]
        if name in ("0", "root", ""):
            fails.append(("user", f"line {n}: USER {user} is root"))
    for n, word, arg in body:
        # A RUN in the final stage needs a shell that must not be there.
        if word in ("RUN", "SHELL"):
            fails.append(("final-shell", f"line {n}: {word} in the final "
                          "stage"))
        if word in ("COPY", "ADD") and "--from=" not in arg:
            fails.append(("final-copy", f"line {n}: {word} from the build "
                          "context into the final stage"))
    entries = [(n, a) for n, w, a in body if w == "ENTRYPOINT"]
    if not entries:
        fails.append(("entrypoint", "final stage has no ENTRYPOINT"))
        return
    n, arg = entries[-1]
    try:
        argv = json.loads(arg)
    except ValueError:
        argv = None
    if not isinstance(argv, list) or not argv:
        fails.append(("entrypoint", f"line {n}: ENTRYPOINT is not exec "
                      "form (shell form needs /bin/sh)"))
    elif not argv[0].endswith("/" + binary):
        fails.append(("entrypoint", f"line {n}: ENTRYPOINT runs "
                      f"{argv[0]!r}, want {binary}"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("file")
    args = ap.parse_args()
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        print(f"FAIL read: {e}")
        return 1
    fails = check(text, args.binary)
    for rule, what in fails:
        print(f"FAIL {rule}: {args.file}: {what}")
    if fails:
        return 1
    print(f"ok: {args.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
