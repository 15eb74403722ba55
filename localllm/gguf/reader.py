"""Fast mmap GGUF reader: parses and validates the header at open, never copies tensor data.

GGUF file layout (v2 and v3, little-endian; v1 used u32 counts and lengths and is not read):

    offset  size  field
    0       4     magic "GGUF" (bytes 0x47 0x47 0x55 0x46)
    4       4     u32 version (2 or 3; v3 only added big-endian files, which we reject)
    8       8     u64 n_tensors
    16      8     u64 n_kv
    24      ...   n_kv key/value pairs:
                    string key            (non-empty, unique; by convention "general.name" style)
                    u32    value type     (ValueType)
                    value                 (layout by type, below)
            ...   n_tensors tensor infos:
                    string name           (< 64 bytes: GGML_MAX_NAME counts the NUL)
                    u32    n_dims         (1..4)
                    i64    ne[n_dims]     (ne[0] = elements per row, fastest varying; >= 0)
                    u32    ggml type      (GGMLType)
                    u64    offset         (of the tensor's bytes from the data section start;
                                           a multiple of the alignment)
            ...   padding: zero bytes up to a multiple of the alignment
    data_offset   data section: tensor bytes, each tensor at data_offset + offset, padded
                  to the alignment. A tensor's size is ne[0]/block * bytes_per_block * ne[1]*...

    string: u64 length, then that many UTF-8 bytes (no NUL terminator)
    value by type:
        0 u8   1 i8   2 u16   3 i16   4 u32   5 i32   6 f32   7 bool (one byte, 0 or 1)
        8 string
        9 array: u32 element type, u64 count, then `count` elements of that type back to
                 back (an element of type array is itself: u32 type, u64 count, elements)
        10 u64   11 i64   12 f64
    alignment: the u32 value of "general.alignment" if present (a power of two), else 32.

Every count, length and offset is checked against the file size before it is used (see
values.py for the KV section); every failure is a `GGUFError` naming the field or tensor and the
byte offset. Tensor views are `np.frombuffer` over the read-only mmap (zero copy).
"""

from __future__ import annotations

import mmap
import os
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from localllm.errors import GGUFError, UnsupportedQuantError
from localllm.gguf.types import (
    GGML_TYPE_BY_ID, REMOVED_GGML_TYPES, TYPED_DTYPES, GGMLType, ValueType, type_info,
)
from localllm.gguf.values import Cursor, decode_utf8, read_value, read_value_type

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
HEADER_SIZE = 24  # magic + version + n_tensors + n_kv
MAX_NAME_BYTES = 63  # GGML_MAX_NAME (64) minus the NUL terminator
MAX_DIMS = 4  # GGML_MAX_DIMS
INT64_MAX = (1 << 63) - 1
# Fewest bytes a KV pair (u64 key length + 1 key byte + u32 type + a u8 value) and a tensor
# info (u64 name length + u32 n_dims + one i64 dim + u32 type + u64 offset) can take.
MIN_KV_BYTES = 8 + 1 + 4 + 1
MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8

# Magics of the pre-GGUF llama.cpp formats, as their u32 appears on disk (little-endian) and
# as the ASCII word.
LEGACY_MAGICS = {
    b"lmgg": "GGML", b"ggml": "GGML",
    b"fmgg": "GGMF", b"ggmf": "GGMF",
    b"tjgg": "GGJT", b"ggjt": "GGJT",
}


class TensorInfo:
    """One tensor's header entry, plus zero-copy views of its bytes.

    shape is in ggml order: shape[0] = ne0 = elements per row; the numpy view from `array()`
    has the reversed shape (..., ne1, ne0), C-contiguous.
    """

    __slots__ = ("name", "type", "shape", "n_elements", "n_bytes", "offset", "abs_offset", "info_offset", "_file")

    def __init__(self, name: str, type: GGMLType, shape: tuple[int, ...], n_elements: int,
                 n_bytes: int, offset: int, info_offset: int, abs_offset: int, file: "GGUFFile"):
        self.name = name
        self.type = type
        self.shape = shape  # (ne0, ne1, ...), ggml order
        self.n_elements = n_elements
        self.n_bytes = n_bytes
        self.offset = offset  # from the data section start
        self.abs_offset = abs_offset  # from the file start
        self.info_offset = info_offset  # of this tensor's info entry in the file
        self._file = file

    @property
    def row_bytes(self) -> int:
        block, size = type_info(self.type)
        return self.shape[0] // block * size

    @property
    def n_rows(self) -> int:
        return self.n_elements // self.shape[0] if self.shape[0] else _product(self.shape[1:])

    @property
    def data(self) -> np.ndarray:
        """uint8 [n_bytes], a read-only view of the file."""
        return np.frombuffer(self._file._buffer(), np.uint8, self.n_bytes, self.abs_offset)

    def rows(self) -> np.ndarray:
        """uint8 [n_rows, row_bytes]: one row = ne0 elements in the tensor's block format."""
        return self.data.reshape(self.n_rows, self.row_bytes)

    def array(self) -> np.ndarray:
        """Typed view, numpy shape = reversed ggml shape. F32/F16/F64/I8..I64; BF16 as uint16."""
        dtype = TYPED_DTYPES.get(self.type)
        if dtype is None:
            raise UnsupportedQuantError(
                f"tensor {self.name!r} is {self.type.name}, a block type with no element view; "
                f"use .rows() for its raw bytes")
        arr = np.frombuffer(self._file._buffer(), dtype, self.n_elements, self.abs_offset)
        return arr.reshape(self.shape[::-1])

    def __repr__(self) -> str:
        return (f"TensorInfo({self.name!r}, {self.type.name}, shape={self.shape}, "
                f"n_bytes={self.n_bytes}, offset={self.offset})")


class GGUFFile:
    """A parsed, validated GGUF file. Use `open_gguf(path)` or `GGUFFile.from_bytes(data)`.

    Metadata values stay usable after `close()` (array views keep the mapping alive until they
    are dropped); tensor data access after `close()` raises ValueError.
    """

    def __init__(self, buf: Any, path: str, mm: mmap.mmap | None = None):
        self.path = path
        self.file_size = len(buf)
        self._buf = buf  # mmap (or bytes) of the whole file
        self._mm = mm
        cur = Cursor(buf, 0, self.file_size)
        self.version, n_tensors, n_kv = _read_header(cur)
        meta, types, value_at = _read_metadata(cur, n_kv)
        self.metadata: Mapping[str, Any] = MappingProxyType(meta)
        self.metadata_types: Mapping[str, tuple[ValueType, ValueType | None]] = MappingProxyType(types)
        self.alignment = _alignment(meta, types, value_at)
        infos = _read_tensor_infos(cur, n_tensors)
        self.data_offset = _align_up(cur.pos, self.alignment)
        self.tensors: list[TensorInfo] = [
            TensorInfo(*info, abs_offset=self.data_offset + info[5], file=self) for info in infos]
        _check_data_layout(self.tensors, self.data_offset, self.alignment, self.file_size)
        self._by_name = {t.name: t for t in self.tensors}

    @property
    def mapped(self) -> bool:
        """Whether tensor data comes from a memory map of the file (else from bytes in memory)."""
        return self._mm is not None

    @classmethod
    def from_bytes(cls, data: bytes, path: str = "<memory>") -> "GGUFFile":
        return cls(bytes(data), path)

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    def tensor(self, name: str) -> TensorInfo:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no tensor named {name!r} in {self.path}") from None

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    def _buffer(self) -> Any:
        if self._buf is None:
            raise ValueError(f"GGUF file {self.path} is closed")
        return self._buf

    def close(self) -> None:
        """Drop the mapping; it is unmapped now, or when the last view of it is gone."""
        mm, self._mm, self._buf = self._mm, None, None
        if mm is not None:
            _close_quietly(mm)

    def __enter__(self) -> "GGUFFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"GGUFFile({self.path!r}, v{self.version}, {len(self.metadata)} keys, "
                f"{len(self.tensors)} tensors)")


def open_gguf(path: str | os.PathLike, use_mmap: bool = True) -> GGUFFile:
    """Map `path` read-only (or read it whole into memory when use_mmap is False), parse and
    validate it. OSError if it cannot be opened."""
    path = os.fsdecode(path)
    with open(path, "rb") as fh:
        if not use_mmap:
            return GGUFFile(fh.read(), path)
        if os.fstat(fh.fileno()).st_size == 0:  # mmap cannot map an empty file
            return GGUFFile(b"", path)  # raises: file is empty
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return GGUFFile(mm, path, mm)
    except BaseException:
        _close_quietly(mm)
        raise


def _close_quietly(mm: mmap.mmap) -> None:
    try:
        mm.close()
    except BufferError:
        pass  # numpy views of it are still alive; the mapping goes with the last of them


# ---- header ------------------------------------------------------------------------------

def _read_header(cur: Cursor) -> tuple[int, int, int]:
    size = cur.end
    if size == 0:
        raise GGUFError(f"file is empty (0 bytes); a GGUF header needs {HEADER_SIZE}", field="header", offset=0)
    magic = bytes(cur.buf[0:4])
    if len(magic) == 4 and magic != GGUF_MAGIC:
        _raise_bad_magic(magic)
    if size < HEADER_SIZE:
        raise GGUFError(f"file is {size} bytes; a GGUF header needs {HEADER_SIZE}", field="header", offset=0)
    cur.pos = 4
    version = cur.u32("version")
    _check_version(version)
    n_tensors = cur.u64("n_tensors")
    n_kv = cur.u64("n_kv")
    left = size - HEADER_SIZE
    if n_tensors > left // MIN_TENSOR_INFO_BYTES:
        raise GGUFError(f"tensor count {n_tensors} cannot fit in a {size}-byte file "
                        f"({MIN_TENSOR_INFO_BYTES} bytes each at least)", field="n_tensors", offset=8)
    if n_kv > left // MIN_KV_BYTES:
        raise GGUFError(f"key/value count {n_kv} cannot fit in a {size}-byte file "
                        f"({MIN_KV_BYTES} bytes each at least)", field="n_kv", offset=16)
    if n_tensors * MIN_TENSOR_INFO_BYTES + n_kv * MIN_KV_BYTES > left:
        raise GGUFError(f"{n_tensors} tensors and {n_kv} key/value pairs cannot fit in a {size}-byte file",
                        field="n_tensors", offset=8)
    return version, n_tensors, n_kv


def _raise_bad_magic(magic: bytes) -> None:
    legacy = LEGACY_MAGICS.get(magic)
    if legacy:
        raise GGUFError(f"this is a legacy {legacy} file (pre-GGUF llama.cpp format); "
                        f"convert it to GGUF with llama.cpp's convert scripts", field="magic", offset=0)
    raise GGUFError(f"not a GGUF file: magic is {magic!r}, expected b'GGUF'", field="magic", offset=0)


def _check_version(version: int) -> None:
    if version in SUPPORTED_VERSIONS:
        return
    swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
    if version and swapped in (1, 2, 3):
        raise GGUFError(f"big-endian GGUF file (version field reads {version:#010x}, byte-swapped "
                        f"{swapped}); only little-endian files are supported", field="version", offset=4)
    if version == 1:
        raise GGUFError("GGUF version 1 is not supported (it used 32-bit counts); re-convert the file",
                        field="version", offset=4)
    raise GGUFError(f"unsupported GGUF version {version} (supported: 2, 3)", field="version", offset=4)


# ---- metadata ----------------------------------------------------------------------------

def _read_metadata(cur: Cursor, n_kv: int) -> tuple[dict, dict, dict]:
    """-> (key -> value, key -> (type, element type), key -> byte offset of the value)."""
    meta: dict[str, Any] = {}
    types: dict[str, tuple[ValueType, ValueType | None]] = {}
    value_at: dict[str, int] = {}
    for i in range(n_kv):
        key_at = cur.pos
        key = cur.string(f"kv[{i}].key", "key")
        if not key:
            raise GGUFError(f"key/value pair {i} has an empty key", field=f"kv[{i}].key", offset=key_at)
        if key in meta:
            raise GGUFError(f"duplicate key {key!r}", field=key, offset=key_at)
        vtype = read_value_type(cur, key)
        value_at[key] = cur.pos
        meta[key], elem = read_value(cur, vtype, key)
        types[key] = (vtype, elem)
    return meta, types, value_at


def _alignment(meta: dict, types: dict, value_at: dict) -> int:
    key = "general.alignment"
    if key not in meta:
        return DEFAULT_ALIGNMENT
    vtype, _ = types[key]
    value = meta[key]
    if vtype is not ValueType.UINT32:
        raise GGUFError(f"general.alignment must be a u32, found {vtype.name}", field=key, offset=value_at[key])
    if value == 0 or value & (value - 1):
        raise GGUFError(f"general.alignment {value} is not a non-zero power of two", field=key,
                        offset=value_at[key])
    return value


# ---- tensor infos --------------------------------------------------------------------------

def _read_tensor_infos(cur: Cursor, n_tensors: int) -> list[tuple]:
    """-> [(name, type, shape, n_elements, n_bytes, offset, info_offset)], each entry validated."""
    infos = []
    seen: set[str] = set()
    for i in range(n_tensors):
        info = _read_tensor_info(cur, i)
        if info[0] in seen:
            raise GGUFError(f"duplicate tensor name {info[0]!r}", field=info[0], offset=info[6])
        seen.add(info[0])
        infos.append(info)
    return infos


def _read_tensor_info(cur: Cursor, i: int) -> tuple:
    at = cur.pos
    name = _read_tensor_name(cur, i)
    dims_at = cur.pos
    n_dims = cur.u32(name, "n_dims")
    if not 1 <= n_dims <= MAX_DIMS:
        raise GGUFError(f"tensor {name!r} has n_dims {n_dims}, expected 1..{MAX_DIMS}", field=name, offset=dims_at)
    shape = tuple(_read_dim(cur, name, d) for d in range(n_dims))
    type_at = cur.pos
    gtype = _ggml_type(cur.u32(name, "ggml type"), name, type_at)
    n_elements, n_bytes = _tensor_size(name, gtype, shape, dims_at)
    offset = cur.u64(name, "data offset")
    return name, gtype, shape, n_elements, n_bytes, offset, at


def _read_tensor_name(cur: Cursor, i: int) -> str:
    field = f"tensors[{i}].name"
    start, n = cur.string_span(field, "tensor name")
    raw = cur.buf[start:start + n]
    if n > MAX_NAME_BYTES:
        shown = raw[:MAX_NAME_BYTES].decode("utf-8", "replace")
        raise GGUFError(f"tensor name {shown!r}... is {n} bytes; ggml allows at most {MAX_NAME_BYTES}",
                        field=field, offset=start - 8)
    return decode_utf8(raw, field, start)


def _read_dim(cur: Cursor, name: str, d: int) -> int:
    at = cur.pos
    ne = cur.i64(name, f"ne[{d}]")
    if ne < 0:
        raise GGUFError(f"tensor {name!r} has negative dimension ne[{d}] = {ne}", field=name, offset=at)
    return ne


def _ggml_type(raw: int, name: str, at: int) -> GGMLType:
    gtype = GGML_TYPE_BY_ID.get(raw)
    if gtype is not None:
        return gtype
    if raw in REMOVED_GGML_TYPES:
        raise GGUFError(f"tensor {name!r} has ggml type {raw} ({REMOVED_GGML_TYPES[raw]}), which was removed "
                        f"from ggml; re-convert the model", field=name, offset=at)
    raise GGUFError(f"tensor {name!r} has unknown ggml type {raw}", field=name, offset=at)


def _tensor_size(name: str, gtype: GGMLType, shape: tuple[int, ...], at: int) -> tuple[int, int]:
    """-> (n_elements, n_bytes), both checked to fit in a signed 64-bit integer."""
    n_elements = _product(shape)
    if n_elements > INT64_MAX:
        raise GGUFError(f"tensor {name!r} shape {shape} has {n_elements} elements, overflowing 64 bits",
                        field=name, offset=at)
    block, size = type_info(gtype)
    if shape[0] % block:
        raise GGUFError(f"tensor {name!r} row length ne[0] = {shape[0]} is not a multiple of "
                        f"{gtype.name}'s block size {block}", field=name, offset=at)
    n_bytes = n_elements // block * size
    if n_bytes > INT64_MAX:
        raise GGUFError(f"tensor {name!r} size {n_bytes} bytes overflows 64 bits", field=name, offset=at)
    return n_elements, n_bytes


# ---- data section --------------------------------------------------------------------------

def _check_data_layout(tensors: list[TensorInfo], data_offset: int, alignment: int, file_size: int) -> None:
    """Offsets aligned, every tensor inside the file (first misfit in file order), no overlaps."""
    if tensors and data_offset > file_size:
        raise GGUFError(f"tensor data section starts at byte {data_offset}, beyond the end of the "
                        f"{file_size}-byte file", field="data section", offset=file_size)
    for t in tensors:
        if t.offset % alignment:
            raise GGUFError(f"tensor {t.name!r} data offset {t.offset} is not a multiple of the "
                            f"alignment {alignment}", field=t.name, offset=t.info_offset)
        if t.abs_offset + t.n_bytes > file_size:
            raise GGUFError(f"tensor {t.name!r} ({t.n_bytes} bytes at byte {t.abs_offset}) runs past the "
                            f"end of the {file_size}-byte file (truncated?)", field=t.name, offset=t.info_offset)
    by_offset = sorted((t for t in tensors if t.n_bytes), key=lambda t: t.offset)
    for a, b in zip(by_offset, by_offset[1:]):
        if a.offset + a.n_bytes > b.offset:
            raise GGUFError(f"tensor {b.name!r} at data offset {b.offset} overlaps tensor {a.name!r} "
                            f"(bytes {a.offset}..{a.offset + a.n_bytes})", field=b.name, offset=b.info_offset)


def _align_up(x: int, alignment: int) -> int:
    return (x + alignment - 1) // alignment * alignment


def _product(xs: tuple[int, ...]) -> int:
    n = 1
    for x in xs:
        n *= x
    return n
