#!/usr/bin/python3
"""A stand-in for an unmodified model server (think llama.cpp's server).

It refuses to start (exit 3, one clear line on stderr) unless the GGUF file
given with --model parses (magic, version, metadata, tensor infos, data
offsets inside the file) and every tensor loads with finite values and the
shapes a llama model needs. Then, on 127.0.0.1 over plain HTTP/1.1:

  POST /v1/chat/completions   OpenAI-style; "stream": true gives
                              server-sent events, one token per event,
                              --token-delay-ms apart, then "data: [DONE]"
  GET  /v1/models             the one model
  GET  /health                {"status": "ok"}

Tokens come from a real forward pass of the tiny llama in numpy (RMSNorm,
RoPE, grouped-query attention, SwiGLU), greedy by default or sampled with
a seed, detokenised with the GGUF vocabulary. A client that goes away
mid-stream is logged as event "model.client_disconnected" so tests can
check that a proxy in front propagates aborts.
"""

import argparse
import codecs
import json
import os
import select
import socket
import sys
import time
import uuid
import http.server

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402
import peerlib  # noqa: E402

EXIT_BAD_MODEL = 3
SPACE = "\u2581"
MAX_BODY_BYTES = 1024 * 1024
MAX_MESSAGES = 64
DEFAULT_MAX_TOKENS = 32
MAX_TOKENS_CEILING = 512
BYTE_TOKEN_TYPE = 6
REQUIRED_KEYS = (
    "general.architecture", "llama.context_length",
    "llama.embedding_length", "llama.block_count",
    "llama.feed_forward_length", "llama.attention.head_count",
    "llama.attention.head_count_kv", "llama.rope.dimension_count",
    "llama.attention.layer_norm_rms_epsilon", "tokenizer.ggml.model",
    "tokenizer.ggml.tokens", "tokenizer.ggml.scores",
    "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
)


class LoadError(Exception):
    pass


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------

class Llama:
    """Hyper-parameters, weights (float32) and vocabulary of one model."""

    def __init__(self, path):
        try:
            g = gguf.read(path)
        except gguf.GGUFError as err:
            raise LoadError(str(err)) from None
        md = g.metadata
        for key in REQUIRED_KEYS:
            if key not in md:
                raise LoadError("metadata key %s missing" % key)
        if md["general.architecture"] != "llama":
            raise LoadError("architecture %r is not llama" %
                            md["general.architecture"])
        if md["tokenizer.ggml.model"] != "llama":
            raise LoadError("tokenizer model is not llama")
        self.name = md.get("general.name", "model")
        self.dim = md["llama.embedding_length"]
        self.layers = md["llama.block_count"]
        self.ff = md["llama.feed_forward_length"]
        self.heads = md["llama.attention.head_count"]
        self.kv_heads = md["llama.attention.head_count_kv"]
        self.ctx = md["llama.context_length"]
        self.eps = md["llama.attention.layer_norm_rms_epsilon"]
        self.rope_base = md.get("llama.rope.freq_base", 10000.0)
        self.rope_dim = md["llama.rope.dimension_count"]
        if self.heads <= 0 or self.kv_heads <= 0 or \
                self.dim % self.heads or self.heads % self.kv_heads:
            raise LoadError("head counts do not divide the width")
        self.head_dim = self.dim // self.heads
        if self.rope_dim > self.head_dim or self.rope_dim % 2:
            raise LoadError("rope dimension does not fit a head")
        self.tokens = md["tokenizer.ggml.tokens"]
        self.scores = md["tokenizer.ggml.scores"]
        self.types = md["tokenizer.ggml.token_type"]
        if not (len(self.tokens) == len(self.scores) == len(self.types)):
            raise LoadError("tokenizer arrays differ in length")
        self.vocab = len(self.tokens)
        self.bos = md["tokenizer.ggml.bos_token_id"]
        self.eos = md["tokenizer.ggml.eos_token_id"]
        if not (0 <= self.bos < self.vocab and 0 <= self.eos < self.vocab):
            raise LoadError("bos/eos ids outside the vocabulary")
        self.piece_id = {t: i for i, t in enumerate(self.tokens)}
        self.w = self._load_tensors(g.tensors)

    def _load_tensors(self, tensors):
        kv = self.head_dim * self.kv_heads
        want = {"token_embd.weight": (self.vocab, self.dim),
                "output_norm.weight": (self.dim,),
                "output.weight": (self.vocab, self.dim)}
        for i in range(self.layers):
            p = "blk.%d." % i
            want.update({
                p + "attn_norm.weight": (self.dim,),
                p + "attn_q.weight": (self.dim, self.dim),
                p + "attn_k.weight": (kv, self.dim),
                p + "attn_v.weight": (kv, self.dim),
                p + "attn_output.weight": (self.dim, self.dim),
                p + "ffn_norm.weight": (self.dim,),
                p + "ffn_gate.weight": (self.ff, self.dim),
                p + "ffn_up.weight": (self.ff, self.dim),
                p + "ffn_down.weight": (self.dim, self.ff)})
        out = {}
        for name, shape in want.items():
            t = tensors.get(name)
            if t is None:
                raise LoadError("tensor %s missing" % name)
            if tuple(t.shape) != shape:
                raise LoadError("tensor %s has shape %s, want %s" %
                                (name, tuple(t.shape), shape))
            arr = np.array(t, dtype=np.float32)   # reads every byte
            if not np.isfinite(arr).all():
                raise LoadError("tensor %s has non-finite values" % name)
            out[name] = arr
        return out

    # -- tokenizer (SentencePiece-style merges by score) -----------------
    def encode(self, text):
        text = SPACE + text.replace(" ", SPACE)
        syms = list(text)
        while len(syms) > 1:
            best, best_i = None, -1
            for i in range(len(syms) - 1):
                tid = self.piece_id.get(syms[i] + syms[i + 1])
                if tid is not None and (best is None or
                                        self.scores[tid] > best):
                    best, best_i = self.scores[tid], i
            if best_i < 0:
                break
            syms[best_i:best_i + 2] = [syms[best_i] + syms[best_i + 1]]
        ids = []
        for s in syms:
            tid = self.piece_id.get(s)
            if tid is not None:
                ids.append(tid)
                continue
            for b in s.encode("utf-8"):    # byte fallback
                ids.append(self.piece_id.get("<0x%02X>" % b, 0))
        return ids

    def piece_bytes(self, tid):
        piece = self.tokens[tid]
        if self.types[tid] == BYTE_TOKEN_TYPE and len(piece) == 6:
            return bytes([int(piece[3:5], 16)])
        if tid in (self.bos, self.eos):
            return b""
        return piece.replace(SPACE, " ").encode("utf-8")

    # -- forward pass ----------------------------------------------------
    @staticmethod
    def _rmsnorm(x, weight, eps):
        return x / np.sqrt(np.mean(x * x) + eps) * weight

    def _rope(self, x, pos):
        """llama's "normal" RoPE: rotate adjacent pairs of each head."""
        d = self.rope_dim
        inv = self.rope_base ** (-np.arange(0, d, 2, dtype=np.float32) / d)
        ang = pos * inv
        cos, sin = np.cos(ang), np.sin(ang)
        x = x.copy()
        a, b = x[:, 0:d:2].copy(), x[:, 1:d:2].copy()
        x[:, 0:d:2] = a * cos - b * sin
        x[:, 1:d:2] = a * sin + b * cos
        return x

    def step(self, tid, pos, cache):
        """Logits for the next token after token tid at position pos;
        cache is a list (per layer) of [keys, values] lists."""
        w = self.w
        x = w["token_embd.weight"][tid].copy()
        group = self.heads // self.kv_heads
        scale = 1.0 / np.sqrt(self.head_dim)
        for i in range(self.layers):
            p = "blk.%d." % i
            h = self._rmsnorm(x, w[p + "attn_norm.weight"], self.eps)
            q = (w[p + "attn_q.weight"] @ h).reshape(self.heads, -1)
            k = (w[p + "attn_k.weight"] @ h).reshape(self.kv_heads, -1)
            v = (w[p + "attn_v.weight"] @ h).reshape(self.kv_heads, -1)
            q, k = self._rope(q, pos), self._rope(k, pos)
            cache[i][0].append(k)
            cache[i][1].append(v)
            keys = np.stack(cache[i][0], axis=1)     # (kv, t, hd)
            vals = np.stack(cache[i][1], axis=1)
            out = np.empty((self.heads, self.head_dim), dtype=np.float32)
            for hd in range(self.heads):
                kvh = hd // group
                s = keys[kvh] @ q[hd] * scale
                s = np.exp(s - s.max())
                out[hd] = (s / s.sum()) @ vals[kvh]
            x = x + w[p + "attn_output.weight"] @ out.reshape(-1)
            h = self._rmsnorm(x, w[p + "ffn_norm.weight"], self.eps)
            g = w[p + "ffn_gate.weight"] @ h
            u = w[p + "ffn_up.weight"] @ h
            x = x + w[p + "ffn_down.weight"] @ (g / (1 + np.exp(-g)) * u)
        x = self._rmsnorm(x, w["output_norm.weight"], self.eps)
        return w["output.weight"] @ x

    def generate(self, prompt_ids, max_tokens, temperature, seed):
        """Yield token ids one at a time (stops at eos or max_tokens)."""
        cache = [[[], []] for _ in range(self.layers)]
        rng = np.random.default_rng(seed)
        logits = None
        for pos, tid in enumerate(prompt_ids):
            logits = self.step(tid, pos, cache)
        pos = len(prompt_ids)
        for _ in range(max_tokens):
            if temperature <= 0:
                nxt = int(np.argmax(logits))
            else:
                z = logits / temperature
                prob = np.exp(z - z.max())
                nxt = int(rng.choice(self.vocab, p=prob / prob.sum()))
            yield nxt
            if nxt == self.eos or pos + 1 >= self.ctx:
                return
            logits = self.step(nxt, pos, cache)
            pos += 1


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class BadRequest(Exception):
    pass


def parse_chat(body, model):
    """(prompt ids, max_tokens, temperature, seed, stream)."""
    try:
        req = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body is not JSON") from None
    if not isinstance(req, dict):
        raise BadRequest("body is not an object")
    msgs = req.get("messages")
    if not isinstance(msgs, list) or not msgs or len(msgs) > MAX_MESSAGES:
        raise BadRequest("messages must be a non-empty list")
    parts = []
    for m in msgs:
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            raise BadRequest("each message needs string content")
        parts.append(m["content"])
    max_tokens = req.get("max_tokens", DEFAULT_MAX_TOKENS)
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise BadRequest("max_tokens must be a positive integer")
    max_tokens = min(max_tokens, MAX_TOKENS_CEILING)
    temperature = req.get("temperature", 0)
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise BadRequest("temperature must be a number >= 0")
    seed = req.get("seed", 0)
    if not isinstance(seed, int):
        raise BadRequest("seed must be an integer")
    ids = [model.bos] + model.encode("\n".join(parts))
    room = model.ctx - 1
    ids = ids[-max(room - max_tokens, 1):]
    return ids, max_tokens, float(temperature), seed, bool(
        req.get("stream", False))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "model-server-standin"
    sys_version = ""
    timeout = 60
    model = None
    args = None
    log = None

    def log_message(self, fmt, *args):
        pass

    def _json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.log.write("model.request", method=self.command,
                       path=self.path.split("?")[0], status=status)

    def _error(self, status, message):
        self._json(status, {"error": {"message": message,
                                      "type": "invalid_request_error"}})

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/health":
            self._json(200, {"status": "ok"})
        elif path == "/v1/models":
            self._json(200, {"object": "list", "data": [{
                "id": self.args.model_id or self.model.name,
                "object": "model", "created": 0,
                "owned_by": "sealpod-tests"}]})
        else:
            self._error(404, "not found")

    def do_POST(self):
        path = self.path.split("?")[0]
        if path != "/v1/chat/completions":
            self._error(404, "not found")
            return
        try:
            n = int(self.headers.get("Content-Length") or "-1")
        except ValueError:
            n = -1
        if n < 0 or n > MAX_BODY_BYTES:
            self.close_connection = True
            self._error(413 if n > 0 else 411, "bad request body length")
            return
        try:
            ids, max_tokens, temp, seed, stream = parse_chat(
                self.rfile.read(n), self.model)
        except BadRequest as err:
            self._error(400, str(err))
            return
        gen = self.model.generate(ids, max_tokens, temp, seed)
        if stream:
            self._stream(gen, len(ids))
        else:
            self._complete(gen, len(ids))

    def _chunk_base(self, cid):
        return {"id": cid, "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": self.args.model_id or self.model.name}

    def _complete(self, gen, n_prompt):
        out, n, finish = bytearray(), 0, "length"
        for tid in gen:
            n += 1
            if tid == self.model.eos:
                finish = "stop"
                break
            out += self.model.piece_bytes(tid)
        text = out.decode("utf-8", "replace").lstrip(" ")
        self._json(200, {
            "id": "chatcmpl-" + uuid.uuid4().hex[:24],
            "object": "chat.completion", "created": int(time.time()),
            "model": self.args.model_id or self.model.name,
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": n_prompt, "completion_tokens": n,
                      "total_tokens": n_prompt + n}})

    def _peer_gone(self):
        """True when the client has closed its side (readable + EOF)."""
        try:
            ready, _, _ = select.select([self.connection], [], [], 0)
            if ready:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True
        return False

    def _event(self, obj):
        data = b"data: " + (obj if isinstance(obj, bytes) else
                            json.dumps(obj).encode()) + b"\n\n"
        if self.args.stream_framing == "chunked":
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self.wfile.write(data)
        self.wfile.flush()

    def _stream(self, gen, n_prompt):
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if self.args.stream_framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        sent, finish, first = 0, "length", True
        delay = self.args.token_delay_ms / 1000.0
        try:
            base = self._chunk_base(cid)
            self._event(dict(base, choices=[{
                "index": 0, "delta": {"role": "assistant", "content": ""},
                "finish_reason": None}]))
            for tid in gen:
                if self._peer_gone():
                    raise BrokenPipeError()
                if tid == self.model.eos:
                    finish = "stop"
                    break
                text = decoder.decode(self.model.piece_bytes(tid))
                if first:
                    text, first = text.lstrip(" "), False
                self._event(dict(base, choices=[{
                    "index": 0, "delta": {"content": text},
                    "finish_reason": None}]))
                sent += 1
                time.sleep(delay)
            self._event(dict(base, choices=[{
                "index": 0, "delta": {}, "finish_reason": finish}]))
            self._event(b"[DONE]")
            if self.args.stream_framing == "chunked":
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
            self.log.write("model.client_disconnected", tokens_sent=sent)
            return
        self.log.write("model.stream.completed", tokens_sent=sent,
                       prompt_tokens=n_prompt, finish_reason=finish)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    peerlib.add_common_args(p)
    p.add_argument("--model", required=True, help="GGUF file to serve")
    p.add_argument("--model-id", help="id shown by /v1/models (default: "
                   "general.name)")
    p.add_argument("--token-delay-ms", type=float, default=50)
    p.add_argument("--stream-framing", choices=("chunked", "close"),
                   default="chunked", help="how SSE bodies are delimited")
    args = p.parse_args()
    log = peerlib.JsonLog(args.log)
    started = time.monotonic()
    try:
        model = Llama(args.model)
    except LoadError as err:
        print("model_server: refusing to start: cannot load model: %s" %
              err, file=sys.stderr)
        log.write("model.load_failed", reason=str(err))
        return EXIT_BAD_MODEL
    log.write("model.loaded", layers=model.layers, dim=model.dim,
              vocab=model.vocab, seconds=round(time.monotonic() - started,
                                               3))
    Handler.model, Handler.args, Handler.log = model, args, log
    server = peerlib.make_server(Handler, args.port)
    return peerlib.serve(server, args, log, "model")


if __name__ == "__main__":
    sys.exit(main())
