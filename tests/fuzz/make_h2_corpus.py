#!/usr/bin/python3
"""Write the seed corpus of tests/fuzz/fuzz_h2.c: real HTTP/2 client
openings (preface, SETTINGS, then requests) built frame by frame with
python3-hyperframe and python3-hpack, the libraries python3-h2 uses.

Each file is one option byte (see fuzz_h2.c; 0x00 = h1 backend, routes
"/" for every method, preface included below, whole-buffer reads)
followed by the bytes a client sends. Run from anywhere:
    /usr/bin/python3 tests/fuzz/make_h2_corpus.py tests/fuzz/corpus/h2
"""

import os
import sys

from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, HeadersFrame,
                              PingFrame, RstStreamFrame, SettingsFrame,
                              WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Client:
    def __init__(self):
        self.enc = Encoder()
        self.out = bytearray(PREFACE)
        self.out += SettingsFrame(0, settings={
            SettingsFrame.ENABLE_PUSH: 0,
            SettingsFrame.INITIAL_WINDOW_SIZE: 65535}).serialize()

    def headers(self, sid, fields, end=True, split=0):
        block = self.enc.encode(fields)
        flags = {"END_STREAM"} if end else set()
        if split and len(block) > split:
            self.out += HeadersFrame(sid, data=block[:split],
                                     flags=flags).serialize()
            rest = block[split:]
            while rest:
                part, rest = rest[:split], rest[split:]
                cf = ContinuationFrame(sid, data=part)
                if not rest:
                    cf.flags.add("END_HEADERS")
                self.out += cf.serialize()
        else:
            flags.add("END_HEADERS")
            self.out += HeadersFrame(sid, data=block,
                                     flags=flags).serialize()

    def data(self, sid, payload, end=False):
        self.out += DataFrame(sid, data=payload,
                              flags={"END_STREAM"} if end else set()
                              ).serialize()

    def rst(self, sid, code=8):
        self.out += RstStreamFrame(sid, error_code=code).serialize()


def req(method, path, *extra):
    return [(":method", method), (":scheme", "https"),
            (":authority", "localhost"), (":path", path)] + list(extra)


def seeds():
    c = Client()
    c.headers(1, req("GET", "/v1/models?x=1",
                     ("user-agent", "seed"), ("accept", "*/*")))
    yield "get", 0x00, c.out

    c = Client()
    c.headers(1, req("POST", "/v1/chat/completions",
                     ("content-type", "application/json"),
                     ("content-length", "17")), end=False)
    c.data(1, b'{"messages": []}\n', end=True)
    yield "post_data", 0x04, c.out

    c = Client()
    c.headers(1, req("POST", "/v1/completions"), end=False)
    c.data(1, b"part one ")
    c.data(1, b"part two", end=True)
    yield "post_chunked", 0x00, c.out

    c = Client()
    for sid in range(1, 40, 2):
        c.headers(sid, req("GET", "/echo"))
        c.rst(sid)
    yield "rst_burst", 0x02, c.out

    c = Client()
    c.headers(1, req("GET", "/v1/models", *[("x-field-%d" % i, "v" * 40)
                                            for i in range(20)]), split=200)
    yield "continuation", 0x70, c.out

    c = Client()
    c.headers(1, req("POST", "/grpc.Svc/Call", ("te", "trailers"),
                     ("content-type", "application/grpc")), end=False)
    c.data(1, b"\0\0\0\0\x05hello")
    c.headers(1, [("grpc-timeout", "1S"), ("x-checksum", "abc")])
    yield "trailers", 0x30, c.out

    c = Client()
    c.headers(1, req("POST", "/grpc.Svc/Call", ("te", "trailers"),
                     ("content-length", "4")), end=False)
    c.data(1, b"abcd")
    c.headers(1, [("x-sum", "1")])
    yield "trailers_cl_te", 0x00, c.out

    c = Client()
    c.headers(1, req("POST", "/grpc.Svc/Call", ("te", "trailers")),
              end=False)
    c.data(1, b"abcd")
    c.headers(1, [("content-length", "99"), ("host", "evil")])
    yield "trailers_forbidden", 0x00, c.out

    c = Client()
    c.headers(1, req("POST", "/grpc.Svc/Call", ("te", "trailers"),
                     ("content-type", "application/grpc")), end=False)
    c.data(1, b"\0\0\0\0\x01x")
    c.headers(1, [("grpc-status", "0")])
    yield "trailers_h2c", 0x01, c.out

    c = Client()
    c.headers(1, req("GET", "//v1/../admin/%2e%2e/x", ("cookie", "a=1"),
                     ("cookie", "b=2"), ("x-forwarded-for", "10.0.0.1")))
    c.headers(3, req("OPTIONS", "*"))
    c.out += PingFrame(0, opaque_data=b"12345678").serialize()
    c.out += WindowUpdateFrame(0, window_increment=1000).serialize()
    yield "odd_paths", 0x40, c.out


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "h2")
    os.makedirs(out, exist_ok=True)
    for name, opt, data in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([opt]) + bytes(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
