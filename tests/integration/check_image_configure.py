#!/usr/bin/python3
"""Configure a Containerfile's build stage the way the image build would.

    check_image_configure.py --src /work/main --binary sealpod-init \
        images/init.Containerfile

Copies exactly what the build stage COPYs from the context into a fresh
directory, runs the stage's `cmake -S` line there (configure only, no
build, with the stage's -D flags), and checks that the stage's apt-get
install list holds the Debian package of every pkg-config module that
configure looked for. For sealpod-init it also checks that the device
TCTI, which tpm2-tss loads with dlopen, is copied by name and that no
other TCTI (or a glob) is. Prints `FAIL <rule>: <what>` per problem and
exits 1 when there is any. Needs cmake, pkg-config and dpkg.
"""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_containerfile import instructions, stages  # noqa: E402

CONFIGURE_TIMEOUT_S = 120
MODULE_LINE = re.compile(r"Checking for modules? '([^']*)'")
TCTI_DEVICE = "libtss2-tcti-device.so.0"
TCTI_OTHER = re.compile(r"libtss2-tcti-(?!device\.so\.0\b)|tcti-\*")


def copy_set(body, src, dest_root, fails):
    """Copy each build-stage COPY (not --from) into dest_root."""
    workdir = "/"
    for n, word, arg in body:
        if word == "WORKDIR":
            workdir = arg
        if word != "COPY" or "--from=" in arg:
            continue
        words = [w for w in shlex.split(arg) if not w.startswith("--")]
        if len(words) < 2:
            fails.append(("copy", f"line {n}: COPY without a destination"))
            continue
        dest = os.path.join(workdir, words[-1])
        dest = os.path.join(dest_root, os.path.relpath(dest, "/src"))
        for s in words[:-1]:
            path = os.path.join(src, s)
            if os.path.isdir(path):
                shutil.copytree(path, dest, dirs_exist_ok=True)
            elif os.path.isfile(path):
                target = dest
                if words[-1].endswith("/") or len(words) > 2:
                    os.makedirs(dest, exist_ok=True)
                    target = os.path.join(dest, os.path.basename(s))
                shutil.copy2(path, target)
            else:
                fails.append(("copy", f"line {n}: {s} is not in the "
                              "context"))


def cmake_flags(body):
    """The -D flags of the stage's `cmake -S` command."""
    for _, word, arg in body:
        if word == "RUN" and "cmake -S" in arg:
            first = arg.split("&&")[0]
            return [w for w in shlex.split(first) if w.startswith("-D")]
    return None


def apt_packages(body):
    pkgs = set()
    for _, word, arg in body:
        if word == "RUN" and "apt-get install" in arg:
            for part in arg.split("&&"):
                if "apt-get install" in part:
                    pkgs.update(w for w in shlex.split(part)
                                if not w.startswith("-"))
    return pkgs


def module_package(module):
    """The Debian package shipping module's .pc file, or None."""
    name = re.split(r"[<>=]", module, maxsplit=1)[0].strip()
    try:
        pcdir = subprocess.run(
            ["pkg-config", "--variable=pcfiledir", name],
            capture_output=True, text=True, timeout=30).stdout.strip()
        out = subprocess.run(
            ["dpkg", "-S", os.path.join(pcdir, name + ".pc")],
            capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    pkg = out.split(":", 1)[0].strip()
    return pkg or None


def configure(tree, flags, fails):
    """Run cmake; return the modules it looked for."""
    cmd = ["cmake", "-S", tree, "-B", os.path.join(tree, "build")] + flags
    try:
        res = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=CONFIGURE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        fails.append(("configure", "cmake did not finish in time"))
        return []
    if res.returncode != 0:
        tail = (res.stdout + res.stderr).strip().splitlines()[-8:]
        fails.append(("configure", "cmake -S on the COPY set failed: " +
                      " | ".join(tail)))
    mods = []
    for m in MODULE_LINE.finditer(res.stdout):
        mods.extend(x for x in m.group(1).split(";") if x)
    return mods


def check_tcti(text, fails):
    if TCTI_DEVICE not in text:
        fails.append(("tcti", f"{TCTI_DEVICE} is not copied into the "
                      "image (tpm2-tss dlopens it; ldd does not list it)"))
    if TCTI_OTHER.search(text):
        fails.append(("tcti", "a TCTI other than the device one, or a "
                      "glob, is named"))


def check(path, src, binary):
    fails = []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    st = stages(instructions(text))
    if not st:
        return [("stage", "no FROM")]
    body = st[0][2]
    flags = cmake_flags(body)
    if flags is None:
        return [("configure", "the build stage runs no `cmake -S`")]
    pkgs = apt_packages(body)
    with tempfile.TemporaryDirectory() as tree:
        copy_set(body, src, tree, fails)
        mods = configure(tree, flags, fails)
    if not mods and not fails:
        fails.append(("apt", "configure looked for no pkg-config module"))
    for mod in mods:
        pkg = module_package(mod)
        if pkg is None:
            fails.append(("apt", f"no Debian package found for {mod}"))
        elif pkg not in pkgs:
            fails.append(("apt", f"{mod} comes from {pkg}, which the build "
                          "stage does not install"))
    if binary == "sealpod-init":
        check_tcti(text, fails)
    return fails


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", required=True)
    ap.add_argument("--binary", required=True)
    ap.add_argument("file")
    args = ap.parse_args()
    fails = check(args.file, args.src, args.binary)
    for rule, what in fails:
        print(f"FAIL {rule}: {args.file}: {what}")
    if fails:
        return 1
    print(f"ok: {args.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
