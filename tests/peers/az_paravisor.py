#!/usr/bin/python3
"""An Azure CVM paravisor stand-in: a TPM proxy in front of swtpm.

On an Azure confidential VM the paravisor (HCL) owns two vTPM NV
indexes: the guest writes 64 bytes of user data to NV 0x01400002, and
the paravisor regenerates the HCL report in NV 0x01400001 around it
(tee-guest-interfaces.md section 4.4). swtpm has no paravisor, so this
proxy plays its part. It sits between a client's swtpm TCTI and a real
swtpm, passes every TPM command through unchanged, and:

  * watches TPM2_NV_Write to 0x01400002 (password sessions only, so the
    data is in clear) and keeps the user data the guest wrote;
  * before the next TPM2_NV_Read of 0x01400001 at offset 0 (the start
    of a whole read), and after --lag such reads, writes a rebuilt HCL
    report into 0x01400001 on the same swtpm connection: the sample's
    layout, its var-data JSON with HCLAkPub set to the vTPM's AK (the
    key at 0x81000003, given as --ak-pem) and "user-data" set to the
    hex of the user data, and the hardware report's REPORT_DATA set to
    SHA-256(var data) followed by 32 zero bytes (SNP report_data at
    0x50 of the report; TDREPORT REPORTDATA at 0x80).

Like the real index, the report has a fixed size with a zero tail:
--index-size, 2048 by default because swtpm (libtpms) refuses larger NV
indexes than that, where Azure's is about 2.6 KiB. To fit, the rebuilt
var data drops every key but HCLAkPub (the sample's HCLEkPub is not
part of the binding). `--initial FILE` writes the first report (user
data all zero) for the test to provision with tpm2-tools.

Written from the reference documents and the TPM 2.0 specification
(Part 3 command layouts), never from sealpod's sources. Nothing here
signs anything: the hardware report's signature no longer verifies,
which the KBS stand-in does not check (--accept-unsigned-tee).

The libtss2 swtpm TCTI uses two ports, the command port P and the
control port P+1; the proxy listens on both (127.0.0.1 only) and
forwards the control channel byte for byte to swtpm's.
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

from cryptography.hazmat.primitives import serialization  # noqa: E402

NV_REPORT = 0x01400001
NV_USER_DATA = 0x01400002
USER_DATA_LEN = 64
TPM_RH_OWNER = 0x40000001
TPM_RS_PW = 0x40000009
TPM_ST_SESSIONS = 0x8002
CC_NV_WRITE = 0x137
CC_NV_READ = 0x14E
TPM_HEADER = 10
TPM_COMMAND_MAX = 8192          # swtpm's buffer is 4 KiB; generous
WRITE_CHUNK = 512               # below any TPM2_PT_NV_BUFFER_MAX

# tee-guest-interfaces.md 4.4: HCL report layout.
HCL_HW_OFFSET = 0x20
HCL_IGVM_OFFSET = 0x4C0
HCL_VAR_OFFSET = 0x4D4
HCL_TYPES = {"snp": 2, "tdx": 4}
REPORT_DATA_OFFSET = {"snp": 0x50, "tdx": 0x80}   # inside the hw report


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class HclBuilder:
    """The sample report, re-bound to our AK and the given user data."""

    def __init__(self, sample, ak_pem, kind, size):
        with open(sample, "rb") as f:
            self.base = f.read()
        if self.base[:4] != b"HCLA" or len(self.base) < HCL_VAR_OFFSET:
            raise ValueError("sample is not an HCL report")
        rtype = struct.unpack_from("<I", self.base, HCL_IGVM_OFFSET + 8)[0]
        if rtype != HCL_TYPES[kind]:
            raise ValueError("sample is a type %d report, not %s" %
                             (rtype, kind))
        vsize = struct.unpack_from("<I", self.base, HCL_IGVM_OFFSET + 16)[0]
        self.var = json.loads(self.base[HCL_VAR_OFFSET:HCL_VAR_OFFSET +
                                        vsize])
        with open(ak_pem, "rb") as f:
            pub = serialization.load_pem_public_key(f.read())
        nums = pub.public_numbers()
        n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
        e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
        keys = [k for k in self.var.get("keys", [])
                if k.get("kid") == "HCLAkPub"]
        if len(keys) != 1:
            raise ValueError("sample var data has no HCLAkPub")
        keys[0]["n"] = b64url(n)
        keys[0]["e"] = b64url(e)
        self.var["keys"] = keys
        self.kind = kind
        self.size = size

    def build(self, user_data):
        var = dict(self.var)
        var["user-data"] = user_data.hex().upper()
        vbytes = json.dumps(var, separators=(",", ":")).encode("utf-8")
        total = HCL_VAR_OFFSET + len(vbytes)
        if total > self.size:
            raise ValueError("rebuilt report does not fit the index")
        out = bytearray(self.base[:HCL_VAR_OFFSET]) + vbytes
        out += bytes(self.size - len(out))
        struct.pack_into("<I", out, 8, total)                 # report size
        struct.pack_into("<I", out, HCL_IGVM_OFFSET, len(vbytes) + 20)
        struct.pack_into("<I", out, HCL_IGVM_OFFSET + 16, len(vbytes))
        rd = HCL_HW_OFFSET + REPORT_DATA_OFFSET[self.kind]
        out[rd:rd + 64] = hashlib.sha256(vbytes).digest() + bytes(32)
        return bytes(out)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("peer closed")
        buf += chunk
    return buf


def recv_message(sock):
    """One TPM command or response: 10-byte header with a u32 size."""
    head = recv_exact(sock, TPM_HEADER)
    size = struct.unpack_from(">I", head, 2)[0]
    if size < TPM_HEADER or size > TPM_COMMAND_MAX:
        raise ValueError("TPM message size %d" % size)
    return head + recv_exact(sock, size - TPM_HEADER)


def nv_params(cmd):
    """(nv index, parameter bytes) of an NV command with two handles
    (authHandle, nvIndex) and, with TPM_ST_SESSIONS, an auth area."""
    tag = struct.unpack_from(">H", cmd, 0)[0]
    index = struct.unpack_from(">I", cmd, TPM_HEADER + 4)[0]
    off = TPM_HEADER + 8
    if tag == TPM_ST_SESSIONS:
        auth_size = struct.unpack_from(">I", cmd, off)[0]
        off += 4 + auth_size
    return index, cmd[off:]


def nv_write_command(index, data, offset):
    """TPM2_NV_Write with owner authorization, empty password."""
    auth = struct.pack(">IHBH", TPM_RS_PW, 0, 0, 0)
    body = (struct.pack(">II", TPM_RH_OWNER, index) +
            struct.pack(">I", len(auth)) + auth +
            struct.pack(">H", len(data)) + data +
            struct.pack(">H", offset))
    return struct.pack(">HII", TPM_ST_SESSIONS, TPM_HEADER + len(body),
                       CC_NV_WRITE) + body


class Paravisor:
    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.builder = HclBuilder(args.sample, args.ak_pem, args.type,
                                  args.index_size)
        self.lock = threading.Lock()
        self.user_data = bytearray(USER_DATA_LEN)
        self.pending = False
        self.reads_left = 0

    def on_command(self, cmd, upstream):
        """Called before cmd goes upstream; may refresh the report."""
        cc = struct.unpack_from(">I", cmd, 6)[0]
        if cc != CC_NV_READ:
            return
        index, params = nv_params(cmd)
        if index != NV_REPORT or len(params) < 4:
            return
        offset = struct.unpack_from(">H", params, 2)[0]
        with self.lock:
            if not self.pending or offset != 0:
                return
            if self.reads_left > 0:
                self.reads_left -= 1
                self.log.write("paravisor.report.stale_read")
                return
            report = self.builder.build(bytes(self.user_data))
            self.pending = False
        self.write_report(upstream, report)

    def on_reply(self, cmd, reply):
        """After a command succeeded: remember user data written."""
        cc = struct.unpack_from(">I", cmd, 6)[0]
        rc = struct.unpack_from(">I", reply, 6)[0]
        if cc != CC_NV_WRITE or rc != 0:
            return
        index, params = nv_params(cmd)
        if index != NV_USER_DATA or len(params) < 2:
            return
        n = struct.unpack_from(">H", params, 0)[0]
        data = params[2:2 + n]
        offset = struct.unpack_from(">H", params, 2 + n)[0]
        with self.lock:
            end = min(offset + len(data), USER_DATA_LEN)
            if offset < end:
                self.user_data[offset:end] = data[:end - offset]
            self.pending = True
            self.reads_left = self.args.lag
        self.log.write("paravisor.user_data.written", bytes=len(data),
                       offset=offset)

    def write_report(self, upstream, report):
        for off in range(0, len(report), WRITE_CHUNK):
            upstream.sendall(nv_write_command(
                NV_REPORT, report[off:off + WRITE_CHUNK], off))
            rc = struct.unpack_from(">I", recv_message(upstream), 6)[0]
            if rc != 0:
                self.log.write("paravisor.report.write_failed",
                               tpm_rc="0x%x" % rc)
                return
        self.log.write("paravisor.report.regenerated", bytes=len(report),
                       user_data=bytes(self.user_data).hex())


def serve_commands(client, paravisor, args, log):
    try:
        upstream = socket.create_connection((peerlib.LOOPBACK,
                                             args.tpm_port), timeout=30)
    except OSError as err:
        log.write("paravisor.upstream_failed", error=str(err))
        client.close()
        return
    try:
        while True:
            cmd = recv_message(client)
            paravisor.on_command(cmd, upstream)
            upstream.sendall(cmd)
            reply = recv_message(upstream)
            paravisor.on_reply(cmd, reply)
            client.sendall(reply)
    except (EOFError, OSError, ValueError, struct.error) as err:
        if not isinstance(err, EOFError):
            log.write("paravisor.connection_error", error=repr(err))
    finally:
        upstream.close()
        client.close()


def pipe(src, dst):
    try:
        while True:
            data = src.recv(4096)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve_control(client, args, log):
    try:
        upstream = socket.create_connection((peerlib.LOOPBACK,
                                             args.tpm_port + 1), timeout=30)
    except OSError as err:
        log.write("paravisor.control_upstream_failed", error=str(err))
        client.close()
        return
    t = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
    t.start()
    pipe(client, upstream)
    t.join(5)
    upstream.close()
    client.close()


def listen_pair(port):
    """Two listening sockets on port and port + 1 (port 0: find a pair)."""
    for _ in range(50):
        a = socket.socket()
        a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        a.bind((peerlib.LOOPBACK, port))
        p = a.getsockname()[1]
        b = socket.socket()
        b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            b.bind((peerlib.LOOPBACK, p + 1))
        except OSError:
            a.close()
            b.close()
            if port:
                raise
            continue
        a.listen(8)
        b.listen(8)
        return a, b
    raise OSError("no free pair of ports")


def accept_loop(sock, handler, stop):
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            client, _ = sock.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        client.settimeout(60)
        threading.Thread(target=handler, args=(client,),
                         daemon=True).start()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    peerlib.add_common_args(p)
    p.add_argument("--tpm-port", type=int,
                   help="swtpm command port (control = this + 1)")
    p.add_argument("--sample", required=True, help="HCL report sample")
    p.add_argument("--ak-pem", required=True,
                   help="the AK at 0x81000003, PEM public key")
    p.add_argument("--type", choices=("snp", "tdx"), required=True)
    p.add_argument("--lag", type=int, default=0,
                   help="whole reads of the report that still see the old "
                   "one after a user-data write")
    p.add_argument("--index-size", type=int, default=2048,
                   help="size of NV 0x01400001 (swtpm allows 2048)")
    p.add_argument("--initial", help="write the first report (user data "
                   "zero) to this file and exit")
    args = p.parse_args()
    if args.initial:
        report = HclBuilder(args.sample, args.ak_pem, args.type,
                            args.index_size).build(bytes(USER_DATA_LEN))
        with open(args.initial, "wb") as f:
            f.write(report)
        return 0
    if not args.tpm_port:
        p.error("--tpm-port is required")
    log = peerlib.JsonLog(args.log)
    paravisor = Paravisor(args, log)
    cmd_sock, ctrl_sock = listen_pair(args.port)
    stop = threading.Event()
    threads = [
        threading.Thread(target=accept_loop, daemon=True, args=(
            cmd_sock, lambda c: serve_commands(c, paravisor, args, log),
            stop)),
        threading.Thread(target=accept_loop, daemon=True, args=(
            ctrl_sock, lambda c: serve_control(c, args, log), stop)),
    ]
    for t in threads:
        t.start()
    port = cmd_sock.getsockname()[1]
    peerlib.write_port_file(args.port_file, port)
    log.write("paravisor.listening", port=port, control_port=port + 1)
    deadline = time.monotonic() + max(args.max_seconds, 0.1)
    try:
        while time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    stop.set()
    cmd_sock.close()
    ctrl_sock.close()
    log.write("paravisor.stopped")
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.exit(main())
