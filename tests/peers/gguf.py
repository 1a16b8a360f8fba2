"""GGUF v3 reading and writing for the sealpod test peers.

Layout (GGUF spec, ggml docs/gguf.md), all little-endian:
  header      magic "GGUF", u32 version, u64 tensor_count, u64 kv_count
  metadata    kv_count x (string key, u32 value type, value)
  tensor info tensor_count x (string name, u32 n_dims, u64 dims[n_dims],
              u32 ggml type, u64 offset relative to the data section)
  padding     to general.alignment (default 32)
  data        tensors, each starting at a multiple of the alignment
Strings are u64 length + UTF-8 bytes (no terminator). Arrays are
u32 element type + u64 count + elements. dims[0] varies fastest, so a
matrix with dims [cols, rows] is a row-major numpy array (rows, cols).

The reader checks every length and offset against the file size and
named ceilings before trusting it.
"""

import struct

import numpy as np

MAGIC = b"GGUF"
VERSION = 3
DEFAULT_ALIGNMENT = 32

# Metadata value types.
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32 = 0, 1, 2, 3, 4, 5
T_FLOAT32, T_BOOL, T_STRING, T_ARRAY = 6, 7, 8, 9
T_UINT64, T_INT64, T_FLOAT64 = 10, 11, 12

SCALARS = {
    T_UINT8: "<B", T_INT8: "<b", T_UINT16: "<H", T_INT16: "<h",
    T_UINT32: "<I", T_INT32: "<i", T_FLOAT32: "<f", T_BOOL: "<?",
    T_UINT64: "<Q", T_INT64: "<q", T_FLOAT64: "<d",
}

# ggml tensor types this code handles.
GGML_F32, GGML_F16 = 0, 1
GGML_DTYPES = {GGML_F32: np.dtype("<f4"), GGML_F16: np.dtype("<f2")}

# Ceilings for the reader (a test model is far below all of them).
MAX_TENSORS = 65536
MAX_KV = 65536
MAX_STRING = 1 << 20
MAX_ARRAY = 1 << 24
MAX_DIMS = 4


class GGUFError(Exception):
    pass


# ---------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------

class Writer:
    """Collect metadata and tensors, then write() one file."""

    def __init__(self, alignment=DEFAULT_ALIGNMENT):
        self.alignment = alignment
        self.kv = []
        self.tensors = []

    def add(self, key, vtype, value, elem_type=None):
        self.kv.append((key, vtype, value, elem_type))

    def add_tensor(self, name, shape, make, ggml_type=GGML_F32):
        """shape in numpy order (rows, cols); make() returns the array
        when the file is written, so big models never sit in memory."""
        self.tensors.append((name, tuple(shape), make, ggml_type))

    @staticmethod
    def _string(s):
        raw = s.encode("utf-8")
        return struct.pack("<Q", len(raw)) + raw

    def _value(self, vtype, value, elem_type):
        if vtype == T_STRING:
            return self._string(value)
        if vtype == T_ARRAY:
            out = [struct.pack("<IQ", elem_type, len(value))]
            if elem_type in SCALARS and elem_type != T_BOOL:
                fmt = SCALARS[elem_type][1]
                out.append(struct.pack("<%d%s" % (len(value), fmt), *value))
            else:
                out.extend(self._value(elem_type, v, None) for v in value)
            return b"".join(out)
        return struct.pack(SCALARS[vtype], value)

    def write(self, path):
        head = [MAGIC, struct.pack("<IQQ", VERSION, len(self.tensors),
                                   len(self.kv))]
        for key, vtype, value, elem_type in self.kv:
            head.append(self._string(key))
            head.append(struct.pack("<I", vtype))
            head.append(self._value(vtype, value, elem_type))
        offset = 0
        for name, shape, _, ggml_type in self.tensors:
            dims = list(reversed(shape))
            nbytes = int(np.prod(shape)) * GGML_DTYPES[ggml_type].itemsize
            head.append(self._string(name))
            head.append(struct.pack("<I", len(dims)))
            head.append(struct.pack("<%dQ" % len(dims), *dims))
            head.append(struct.pack("<IQ", ggml_type, offset))
            offset = _align(offset + nbytes, self.alignment)
        blob = b"".join(head)
        with open(path, "wb") as f:
            f.write(blob)
            f.write(bytes(_align(len(blob), self.alignment) - len(blob)))
            for name, shape, make, ggml_type in self.tensors:
                arr = np.ascontiguousarray(make(),
                                           dtype=GGML_DTYPES[ggml_type])
                if arr.shape != shape:
                    raise GGUFError("tensor %s: made %s, declared %s" %
                                    (name, arr.shape, shape))
                f.write(arr.tobytes())
                pad = _align(arr.nbytes, self.alignment) - arr.nbytes
                f.write(bytes(pad))


def _align(n, a):
    return (n + a - 1) // a * a


# ---------------------------------------------------------------------------
# Reader
# ---------------------------------------------------------------------------

class _Cursor:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n, what):
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError("truncated file while reading %s at offset %d"
                            % (what, self.pos))
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def scalar(self, fmt, what):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what):
        n = self.scalar("<Q", what + " length")
        if n > MAX_STRING:
            raise GGUFError("%s longer than %d bytes" % (what, MAX_STRING))
        try:
            return bytes(self.take(n, what)).decode("utf-8")
        except UnicodeDecodeError:
            raise GGUFError("%s is not UTF-8" % what) from None

    def value(self, vtype, what, depth=0):
        if vtype in SCALARS:
            return self.scalar(SCALARS[vtype], what)
        if vtype == T_STRING:
            return self.string(what)
        if vtype == T_ARRAY and depth == 0:
            etype = self.scalar("<I", what + " element type")
            count = self.scalar("<Q", what + " count")
            if count > MAX_ARRAY:
                raise GGUFError("%s: array of %d elements" % (what, count))
            if etype in SCALARS and etype != T_BOOL:
                fmt = SCALARS[etype]
                size = struct.calcsize(fmt)
                raw = self.take(size * count, what)
                return list(struct.unpack("<%d%s" % (count, fmt[1]), raw))
            return [self.value(etype, what, depth + 1)
                    for _ in range(count)]
        raise GGUFError("%s: unknown value type %d" % (what, vtype))


class Model:
    """A parsed GGUF file: .version, .metadata (dict), .tensors (dict of
    name -> numpy array view into the mapped file), .data_offset."""

    def __init__(self, version, metadata, tensors, data_offset):
        self.version = version
        self.metadata = metadata
        self.tensors = tensors
        self.data_offset = data_offset


def read(path):
    """Parse and map a GGUF file; raise GGUFError naming the problem."""
    try:
        buf = np.memmap(path, dtype=np.uint8, mode="r")
    except (OSError, ValueError) as err:
        raise GGUFError("cannot map file: %s" % err) from None
    mv = memoryview(buf)
    cur = _Cursor(mv)
    if bytes(cur.take(4, "magic")) != MAGIC:
        raise GGUFError("bad magic (not a GGUF file)")
    version = cur.scalar("<I", "version")
    if version not in (2, 3):
        raise GGUFError("unsupported GGUF version %d" % version)
    n_tensors = cur.scalar("<Q", "tensor count")
    n_kv = cur.scalar("<Q", "metadata count")
    if n_tensors > MAX_TENSORS or n_kv > MAX_KV:
        raise GGUFError("tensor or metadata count over the ceiling")
    metadata = {}
    for i in range(n_kv):
        key = cur.string("metadata key %d" % i)
        vtype = cur.scalar("<I", "type of " + key)
        if key in metadata:
            raise GGUFError("duplicate metadata key " + key)
        metadata[key] = cur.value(vtype, key)
    infos = []
    for i in range(n_tensors):
        name = cur.string("tensor name %d" % i)
        n_dims = cur.scalar("<I", "dims of " + name)
        if not 1 <= n_dims <= MAX_DIMS:
            raise GGUFError("tensor %s has %d dimensions" % (name, n_dims))
        dims = [cur.scalar("<Q", "dim of " + name) for _ in range(n_dims)]
        ggml_type = cur.scalar("<I", "type of " + name)
        offset = cur.scalar("<Q", "offset of " + name)
        infos.append((name, dims, ggml_type, offset))
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or \
            alignment & (alignment - 1):
        raise GGUFError("general.alignment is not a power of two")
    data_offset = _align(cur.pos, alignment)
    tensors = {}
    spans = []
    for name, dims, ggml_type, offset in infos:
        if name in tensors:
            raise GGUFError("duplicate tensor " + name)
        if ggml_type not in GGML_DTYPES:
            raise GGUFError("tensor %s has unsupported ggml type %d" %
                            (name, ggml_type))
        if offset % alignment:
            raise GGUFError("tensor %s offset not aligned" % name)
        count = 1
        for d in dims:
            if d == 0 or d > MAX_ARRAY * 64:
                raise GGUFError("tensor %s has a bad dimension" % name)
            count *= d
        dtype = GGML_DTYPES[ggml_type]
        start = data_offset + offset
        end = start + count * dtype.itemsize
        if end > len(buf):
            raise GGUFError("tensor %s data [%d, %d) lies outside the "
                            "file (%d bytes)" % (name, start, end,
                                                 len(buf)))
        spans.append((start, end, name))
        arr = np.frombuffer(buf, dtype=dtype, count=count, offset=start)
        tensors[name] = arr.reshape(list(reversed(dims)))
    spans.sort()
    for (_, end, a), (start, _, b) in zip(spans, spans[1:]):
        if start < end:
            raise GGUFError("tensors %s and %s overlap" % (a, b))
    return Model(version, metadata, tensors, data_offset)
