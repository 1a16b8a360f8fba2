#!/usr/bin/python3
"""A FUSE filesystem that behaves like the kernel's configfs-tsm report
interface, for end-to-end tests of sealpod-init on a platform root.

Written from /work/shared/reference/tee-guest-interfaces.md section 1
(layout, generation counting, provider names), never from sealpod code.
Mount it at <root>/sys/kernel/config; it shows tsm/report/, where mkdir
makes an entry with provider, generation, inblob, outblob (and, for
sev_guest, auxblob and privlevel). Each write bumps the generation; a
read of outblob returns a report template from the real test vectors
with the 64 inblob bytes patched in where the hardware puts REPORTDATA,
and the init-data register (MRCONFIGID / HOST_DATA) set as asked. The
result carries no valid signature: the KBS stand-in is told so with
--accept-unsigned-tee.

Bounded: it exits after --max-seconds even when nobody unmounts it.
"""

import argparse
import errno
import stat
import subprocess
import sys
import threading
import time

import fusepy as fuse

INBLOB_LEN = 64                    # ref 1.2 TSM_INBLOB_MAX
# Where the report data and the config register sit in each template.
LAYOUT = {
    # TDX quote v4 (ref 2.5): body at 0x30; REPORTDATA body+0x208,
    # MRCONFIGID body+0xB8.
    "tdx_guest": {"rd": 0x30 + 0x208, "reg": 0x30 + 0xB8, "reg_len": 48},
    # SNP report (ref 3.2): REPORT_DATA 0x50, host_data 0xC0, vmpl 0x30.
    "sev_guest": {"rd": 0x50, "reg": 0xC0, "reg_len": 32, "vmpl": 0x30},
}


class Entry:
    def __init__(self):
        self.inblob = b""
        self.generation = 0


class TsmFs(fuse.Operations):
    def __init__(self, provider, template, register):
        self.provider = provider
        self.template = template
        self.register = register
        self.entries = {}
        self._mutex = threading.Lock()
        self.reports = 0

    # -- helpers ---------------------------------------------------------
    def _split(self, path):
        parts = [p for p in path.split("/") if p]
        return parts

    def _attrs(self):
        names = ["provider", "generation", "inblob", "outblob"]
        if self.provider == "sev_guest":
            names += ["auxblob", "privlevel", "privlevel_floor"]
        return names

    def _report(self, entry):
        lay = LAYOUT[self.provider]
        out = bytearray(self.template)
        out[lay["rd"]:lay["rd"] + INBLOB_LEN] = entry.inblob.ljust(
            INBLOB_LEN, b"\0")
        reg = self.register.ljust(lay["reg_len"], b"\0")[:lay["reg_len"]]
        out[lay["reg"]:lay["reg"] + lay["reg_len"]] = reg
        if "vmpl" in lay:
            out[lay["vmpl"]:lay["vmpl"] + 4] = b"\0\0\0\0"
        return bytes(out)

    def _content(self, entry, name):
        if name == "provider":
            return (self.provider + "\n").encode()
        if name == "generation":
            return ("%d\n" % entry.generation).encode()
        if name == "privlevel_floor":
            return b"0\n"
        if name == "outblob":
            if len(entry.inblob) != INBLOB_LEN:
                raise fuse.FuseOSError(errno.EINVAL)   # ref 1.4
            self.reports += 1
            return self._report(entry)
        if name == "auxblob":
            return b""
        raise fuse.FuseOSError(errno.EACCES)           # write-only

    # -- FUSE operations -------------------------------------------------
    def getattr(self, path, fh=None):
        p = self._split(path)
        now = time.time()
        d = dict(st_mode=stat.S_IFDIR | 0o755, st_nlink=2, st_ctime=now,
                 st_mtime=now, st_atime=now, st_uid=0, st_gid=0)
        if p in ([], ["tsm"], ["tsm", "report"]):
            return d
        with self._mutex:
            if len(p) == 3 and p[:2] == ["tsm", "report"] and \
                    p[2] in self.entries:
                return d
            if len(p) == 4 and p[2] in self.entries and \
                    p[3] in self._attrs():
                return dict(d, st_mode=stat.S_IFREG | 0o644, st_nlink=1,
                            st_size=4096)
        raise fuse.FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        p = self._split(path)
        names = None
        with self._mutex:
            if p == []:
                names = ["tsm"]
            elif p == ["tsm"]:
                names = ["report"]
            elif p == ["tsm", "report"]:
                names = sorted(self.entries)
            elif len(p) == 3 and p[2] in self.entries:
                names = self._attrs()
        if names is None:
            raise fuse.FuseOSError(errno.ENOENT)
        return [".", ".."] + names

    def mkdir(self, path, mode):
        p = self._split(path)
        if len(p) != 3 or p[:2] != ["tsm", "report"]:
            raise fuse.FuseOSError(errno.EPERM)
        with self._mutex:
            if p[2] in self.entries:
                raise fuse.FuseOSError(errno.EEXIST)
            self.entries[p[2]] = Entry()

    def rmdir(self, path):
        p = self._split(path)
        with self._mutex:
            if len(p) != 3 or self.entries.pop(p[2], None) is None:
                raise fuse.FuseOSError(errno.ENOENT)

    def _entry(self, path):
        p = self._split(path)
        if len(p) != 4 or p[2] not in self.entries or \
                p[3] not in self._attrs():
            raise fuse.FuseOSError(errno.ENOENT)
        return self.entries[p[2]], p[3]

    def open(self, path, flags):
        with self._mutex:
            self._entry(path)
        return 0

    def truncate(self, path, length, fh=None):
        return 0

    def read(self, path, size, offset, fh):
        with self._mutex:
            entry, name = self._entry(path)
            data = self._content(entry, name)
        return data[offset:offset + size]

    def write(self, path, data, offset, fh):
        with self._mutex:
            entry, name = self._entry(path)
            if name == "inblob":
                if offset + len(data) > INBLOB_LEN:
                    raise fuse.FuseOSError(errno.EINVAL)
                entry.inblob = entry.inblob[:offset] + bytes(data)
            elif name != "privlevel":
                raise fuse.FuseOSError(errno.EACCES)
            entry.generation += 1                       # ref 1.3
        return len(data)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mountpoint")
    p.add_argument("--provider", choices=sorted(LAYOUT), required=True)
    p.add_argument("--template", required=True,
                   help="report/quote whose report data gets patched")
    p.add_argument("--register", default="",
                   help="hex of MRCONFIGID / HOST_DATA (zero-padded)")
    p.add_argument("--max-seconds", type=float, default=120)
    args = p.parse_args()
    with open(args.template, "rb") as f:
        template = f.read()
    fs = TsmFs(args.provider, template, bytes.fromhex(args.register))

    def stop():
        time.sleep(args.max_seconds)
        subprocess.run(["fusermount", "-u", args.mountpoint],
                       stderr=subprocess.DEVNULL, check=False)
    threading.Thread(target=stop, daemon=True).start()
    fuse.FUSE(fs, args.mountpoint, foreground=True, direct_io=True,
              attr_timeout=0, entry_timeout=0, default_permissions=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
