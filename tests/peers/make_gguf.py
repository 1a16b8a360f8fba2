#!/usr/bin/python3
"""Write a small but valid GGUF v3 llama model with a real vocabulary.

The architecture is llama (RMSNorm, RoPE, grouped-query attention, SwiGLU
feed-forward); the tokenizer is a SentencePiece-style ("llama") vocabulary
of control tokens, the 256 byte-fallback tokens and a few hundred English
words and punctuation marks. Weights are deterministic pseudo-random
numbers from --seed, so the same arguments give the same bytes.

Default: dim 128, 4 layers, 4 heads (2 KV heads), about 4 MiB.
--min-mib N adds layers until the file is at least N MiB (benchmarks).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402

SPACE = "\u2581"   # SentencePiece's visible space

WORDS = """
the of and to a in is it you that he was for on are with as I his they be
at one have this from or had by hot word but what some we can out other
were all there when up use your how said an each she which do their time
if will way about many then them write would like so these her long make
thing see him two has look more day could go come did number sound no most
people my over know water than call first who may down side been now find
any new work part take get place made live where after back little only
round man year came show every good me give our under name very through
just form sentence great think say help low line differ turn cause much
mean before move right boy old too same tell does set three want air well
also play small end put home read hand port large spell add even land here
must big high such follow act why ask men change went light kind off need
house picture try us again animal point mother world near build self earth
father head stand own page should country found answer school grow study
still learn plant cover food sun four between state keep eye never last let
thought city tree cross farm hard start might story saw far sea draw left
late run while press close night real life few north open seem together
next white children begin got walk example ease paper group always music
those both mark often letter until mile river car feet care second book
carry took science eat room friend began idea fish mountain stop once base
hear horse cut sure watch color face wood main enough plain girl usual
young ready above ever red list though feel talk bird soon body dog family
direct pose leave song measure door product black short numeral class wind
question happen complete ship area half rock order fire south problem piece
told knew pass since top whole king space heard best hour better true
during hundred five remember step early hold west ground interest reach
fast verb sing listen six table travel less morning ten simple several
vowel toward war lay against pattern slow center love person money serve
appear road map rain rule govern pull cold notice voice unit power town
fine certain fly fall lead cry dark machine note wait plan figure star box
noun field rest correct able pound done beauty drive stood contain front
teach week final gave green oh quick develop ocean warm free minute strong
special mind behind clear tail produce fact street inch multiply nothing
course stay wheel full force blue object decide surface deep moon island
foot system busy test record boat common gold possible plane stead dry
wonder laugh thousand ago ran check game shape equate miss brought heat
snow tire bring yes distant fill east paint language among model secure
key seal pod trust token stream
""".split()

PUNCTUATION = [".", ",", "!", "?", "'", ":", ";", "-", "(", ")", '"',
               "\n", SPACE]

TYPE_NORMAL, TYPE_UNKNOWN, TYPE_CONTROL, TYPE_BYTE = 1, 2, 3, 6


def vocabulary():
    """(tokens, scores, types, whole) with ids 0 <unk>, 1 <s>, 2 </s>.

    SentencePiece merges two adjacent pieces only when their concatenation
    is itself a piece, so every word comes with its chain of prefixes
    ("▁t", "▁th", "▁the"); otherwise no word could ever be
    formed from its letters and prompts would fall back to bytes. `whole`
    marks the complete words and punctuation, the pieces generation should
    prefer."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [TYPE_UNKNOWN, TYPE_CONTROL, TYPE_CONTROL]
    scores = [0.0, 0.0, 0.0]
    for b in range(256):
        tokens.append("<0x%02X>" % b)
        types.append(TYPE_BYTE)
        scores.append(0.0)
    seen = set(tokens)
    pieces = [SPACE + w for w in WORDS]
    pieces += [SPACE + w.capitalize() for w in WORDS[:60]]
    pieces += PUNCTUATION
    whole = set(pieces)
    prefixes = []
    for piece in pieces:
        prefixes += [piece[:n] for n in range(2, len(piece))]
    for rank, piece in enumerate(pieces + prefixes):
        if piece in seen:
            continue
        seen.add(piece)
        tokens.append(piece)
        types.append(TYPE_NORMAL)
        scores.append(-float(rank))
    return tokens, scores, types, [t in whole for t in tokens]


class Shape:
    def __init__(self, args, n_vocab):
        self.dim = args.dim
        self.layers = args.layers
        self.ff = args.ff or (8 * args.dim // 3 + 7) // 8 * 8
        self.heads = args.heads
        self.kv_heads = args.kv_heads
        self.head_dim = args.dim // args.heads
        self.kv_dim = self.head_dim * args.kv_heads
        self.vocab = n_vocab
        self.ctx = args.context
        self.itemsize = 2 if args.dtype == "f16" else 4

    def layer_bytes(self):
        mats = (2 * self.dim * self.dim + 2 * self.dim * self.kv_dim +
                3 * self.dim * self.ff)
        return mats * self.itemsize + 2 * self.dim * 4

    def fixed_bytes(self):
        return 2 * self.vocab * self.dim * 4 + self.dim * 4 + 64 * 1024


def add_metadata(w, s, tokens, scores, types, args):
    w.add("general.architecture", gguf.T_STRING, "llama")
    w.add("general.name", gguf.T_STRING, args.name)
    w.add("general.alignment", gguf.T_UINT32, w.alignment)
    w.add("general.file_type", gguf.T_UINT32,
          1 if args.dtype == "f16" else 0)
    w.add("llama.context_length", gguf.T_UINT32, s.ctx)
    w.add("llama.embedding_length", gguf.T_UINT32, s.dim)
    w.add("llama.block_count", gguf.T_UINT32, s.layers)
    w.add("llama.feed_forward_length", gguf.T_UINT32, s.ff)
    w.add("llama.attention.head_count", gguf.T_UINT32, s.heads)
    w.add("llama.attention.head_count_kv", gguf.T_UINT32, s.kv_heads)
    w.add("llama.rope.dimension_count", gguf.T_UINT32, s.head_dim)
    w.add("llama.rope.freq_base", gguf.T_FLOAT32, 10000.0)
    w.add("llama.attention.layer_norm_rms_epsilon", gguf.T_FLOAT32, 1e-5)
    w.add("llama.vocab_size", gguf.T_UINT32, s.vocab)
    w.add("tokenizer.ggml.model", gguf.T_STRING, "llama")
    w.add("tokenizer.ggml.tokens", gguf.T_ARRAY, tokens, gguf.T_STRING)
    w.add("tokenizer.ggml.scores", gguf.T_ARRAY, scores, gguf.T_FLOAT32)
    w.add("tokenizer.ggml.token_type", gguf.T_ARRAY, types, gguf.T_INT32)
    w.add("tokenizer.ggml.bos_token_id", gguf.T_UINT32, 1)
    w.add("tokenizer.ggml.eos_token_id", gguf.T_UINT32, 2)
    w.add("tokenizer.ggml.unknown_token_id", gguf.T_UINT32, 0)
    w.add("tokenizer.ggml.add_bos_token", gguf.T_BOOL, True)


def add_tensors(w, s, whole, seed, dtype):
    """Tensor i draws from its own generator seeded (seed, i), so the
    bytes do not depend on writing order."""
    mat_type = gguf.GGML_F16 if dtype == "f16" else gguf.GGML_F32
    counter = [0]

    def normal(shape, scale, offset=0.0):
        counter[0] += 1
        ident = counter[0]

        def make():
            rng = np.random.default_rng([seed, ident])
            return (rng.standard_normal(shape, dtype=np.float32) * scale +
                    offset)
        return make

    def output_matrix():
        make = normal((s.vocab, s.dim), 3.0 / np.sqrt(s.dim))

        def damp():
            # Byte, control and word-prefix tokens are rarely chosen, so
            # generated text reads as words; end-of-sequence stays
            # reachable.
            out = make()
            mask = np.logical_not(whole)
            mask[2] = False
            out[mask] *= 0.1
            return out
        return damp

    w.add_tensor("token_embd.weight", (s.vocab, s.dim),
                 normal((s.vocab, s.dim), 1.0))
    for i in range(s.layers):
        p = "blk.%d." % i
        lin = 1.0 / np.sqrt(s.dim)
        w.add_tensor(p + "attn_norm.weight", (s.dim,),
                     normal((s.dim,), 0.05, 1.0))
        w.add_tensor(p + "attn_q.weight", (s.dim, s.dim),
                     normal((s.dim, s.dim), lin), mat_type)
        w.add_tensor(p + "attn_k.weight", (s.kv_dim, s.dim),
                     normal((s.kv_dim, s.dim), lin), mat_type)
        w.add_tensor(p + "attn_v.weight", (s.kv_dim, s.dim),
                     normal((s.kv_dim, s.dim), lin), mat_type)
        w.add_tensor(p + "attn_output.weight", (s.dim, s.dim),
                     normal((s.dim, s.dim), lin), mat_type)
        w.add_tensor(p + "ffn_norm.weight", (s.dim,),
                     normal((s.dim,), 0.05, 1.0))
        w.add_tensor(p + "ffn_gate.weight", (s.ff, s.dim),
                     normal((s.ff, s.dim), lin), mat_type)
        w.add_tensor(p + "ffn_up.weight", (s.ff, s.dim),
                     normal((s.ff, s.dim), lin), mat_type)
        w.add_tensor(p + "ffn_down.weight", (s.dim, s.ff),
                     normal((s.dim, s.ff), 1.0 / np.sqrt(s.ff)), mat_type)
    w.add_tensor("output_norm.weight", (s.dim,),
                 normal((s.dim,), 0.05, 1.0))
    w.add_tensor("output.weight", (s.vocab, s.dim), output_matrix())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("output", help="path of the .gguf file to write")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--ff", type=int, default=0,
                   help="feed-forward width (default about 8/3 dim)")
    p.add_argument("--context", type=int, default=512)
    p.add_argument("--dtype", choices=("f32", "f16"), default="f32",
                   help="type of the big matrices (norms, embeddings and "
                   "output stay F32)")
    p.add_argument("--min-mib", type=float, default=0,
                   help="add layers until the file is at least this big")
    p.add_argument("--name", default="sealpod-tiny-llama")
    args = p.parse_args()
    if args.dim % args.heads or args.heads % args.kv_heads or \
            (args.dim // args.heads) % 2:
        p.error("dim must split into heads of even size, and heads into "
                "kv-heads")
    tokens, scores, types, whole = vocabulary()
    shape = Shape(args, len(tokens))
    want = int(args.min_mib * 1024 * 1024)
    while shape.fixed_bytes() + shape.layers * shape.layer_bytes() < want:
        shape.layers += 1
    w = gguf.Writer()
    add_metadata(w, shape, tokens, scores, types, args)
    add_tensors(w, shape, np.array(whole), args.seed, args.dtype)
    tmp = args.output + ".tmp"
    w.write(tmp)
    os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
