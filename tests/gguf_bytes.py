"""A small raw GGUF byte writer for tests: writes exactly what it is told, valid or not.

    b = GGUFBuilder(version=3)
    b.kv("general.architecture", VT.STRING, "llama")
    b.kv("tokens", VT.ARRAY, Arr(VT.STRING, ["a", "b"]))
    b.kv("nested", VT.ARRAY, Arr(VT.ARRAY, [Arr(VT.UINT8, [1, 2]), Arr(VT.INT32, [-1])]))
    b.tensor("w", (32, 2), GGMLType.F32, data=bytes(256))
    raw = b.to_bytes()

Every integer field written is recorded in `b.fields` as (label, byte offset, width) so tests
and the fuzzer can aim at counts, lengths and type tags. Override hooks (`n_tensors=`, `n_kv=`,
`pad=`, a tensor's `offset=`, a raw `type_id`, an `endian=">"` file) make malformed files.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from localllm.gguf.types import GGMLType, ValueType as VT, type_info

_SCALAR = {
    VT.UINT8: "B", VT.INT8: "b", VT.UINT16: "H", VT.INT16: "h", VT.UINT32: "I", VT.INT32: "i",
    VT.FLOAT32: "f", VT.BOOL: "B", VT.UINT64: "Q", VT.INT64: "q", VT.FLOAT64: "d",
}


@dataclass
class Arr:
    """An array value: element type (a ValueType or any raw int) and the items."""

    elem: int
    items: list
    count: int | None = None  # written instead of len(items) when set


@dataclass
class _Tensor:
    name: bytes
    shape: tuple[int, ...]
    type_id: int
    data: bytes
    offset: int | None
    n_dims: int | None


@dataclass
class GGUFBuilder:
    version: int = 3
    magic: bytes = b"GGUF"
    endian: str = "<"
    alignment: int = 32  # padding only; add the general.alignment KV yourself to change it
    kvs: list[tuple] = field(default_factory=list)  # (key, value type, value)
    tensors: list[_Tensor] = field(default_factory=list)
    fields: list[tuple[str, int, int]] = field(default_factory=list)

    # ---- encoding --------------------------------------------------------------------------
    def _int(self, out: bytearray, label: str, fmt: str, value: int) -> None:
        self.fields.append((label, len(out), struct.calcsize(fmt)))
        out += struct.pack(self.endian + fmt, value)

    def _string(self, out: bytearray, label: str, s: str | bytes, length: int | None = None) -> None:
        raw = s.encode("utf-8") if isinstance(s, str) else s
        self._int(out, label + ".len", "Q", len(raw) if length is None else length)
        out += raw

    def _value(self, out: bytearray, label: str, vtype: int, value: Any) -> None:
        if vtype in _SCALAR:
            self._int(out, label, _SCALAR[vtype], value)
        elif vtype == VT.STRING:
            self._string(out, label, value)
        elif vtype == VT.ARRAY:
            self._int(out, label + ".elem", "I", value.elem)
            self._int(out, label + ".count", "Q", len(value.items) if value.count is None else value.count)
            for i, item in enumerate(value.items):
                self._value(out, f"{label}[{i}]", value.elem, item)
        else:
            out += value  # an invalid type tag: caller supplies raw bytes

    # ---- building --------------------------------------------------------------------------
    def kv(self, key: str | bytes, vtype: int, value: Any) -> "GGUFBuilder":
        """Append a key/value pair; `vtype` may be an invalid raw int (value = raw bytes)."""
        self.kvs.append((key, vtype, value))
        return self

    def tensor(self, name: str | bytes, shape: tuple[int, ...], ggml_type: int, data: bytes | None = None,
               offset: int | None = None, n_dims: int | None = None) -> "GGUFBuilder":
        """Append a tensor info; data defaults to zeros of the right size (for known types)."""
        if data is None:
            data = bytes(_nbytes(ggml_type, shape))
        raw_name = name.encode("utf-8") if isinstance(name, str) else name
        self.tensors.append(_Tensor(raw_name, tuple(shape), int(ggml_type), data, offset, n_dims))
        return self

    def to_bytes(self, *, n_tensors: int | None = None, n_kv: int | None = None, pad: bool = True) -> bytes:
        """Serialize. pad=False omits the padding between tensor infos and data."""
        self.fields = []
        out = bytearray(self.magic)
        self._int(out, "version", "I", self.version)
        self._int(out, "n_tensors", "Q", len(self.tensors) if n_tensors is None else n_tensors)
        self._int(out, "n_kv", "Q", len(self.kvs) if n_kv is None else n_kv)
        for i, (key, vtype, value) in enumerate(self.kvs):
            self._string(out, f"kv[{i}].key", key)
            self._int(out, f"kv[{i}].type", "I", vtype)
            self._value(out, f"kv[{i}].value", vtype, value)
        offsets = self._layout()
        for t, off in zip(self.tensors, offsets):
            self._string(out, f"{t.name!r}.name", t.name)
            self._int(out, f"{t.name!r}.n_dims", "I", len(t.shape) if t.n_dims is None else t.n_dims)
            for d, ne in enumerate(t.shape):
                self._int(out, f"{t.name!r}.ne[{d}]", "q", ne)
            self._int(out, f"{t.name!r}.type", "I", t.type_id)
            self._int(out, f"{t.name!r}.offset", "Q", off)
        if pad:
            out += bytes(-len(out) % self.alignment)
        data_start = len(out)
        for t, off in zip(self.tensors, offsets):
            end = data_start + off + len(t.data)
            if len(out) < end:
                out += bytes(end - len(out))
            out[data_start + off:end] = t.data
        if self.tensors and pad:
            out += bytes(-(len(out) - data_start) % self.alignment)
        return bytes(out)

    def _layout(self) -> list[int]:
        """Data offsets: explicit ones as given, others packed after the previous tensor."""
        offsets, nxt = [], 0
        for t in self.tensors:
            off = nxt if t.offset is None else t.offset
            offsets.append(off)
            nxt = off + len(t.data)
            nxt += -nxt % self.alignment
        return offsets


def _nbytes(ggml_type: int, shape: tuple[int, ...]) -> int:
    block, size = type_info(GGMLType(ggml_type))
    n = 1
    for ne in shape:
        n *= ne
    return n // block * size


def full_builder() -> GGUFBuilder:
    """A valid small file with one KV of every type (string and nested arrays too) and tensors."""
    b = GGUFBuilder()
    b.kv("general.architecture", VT.STRING, "test")
    b.kv("u8", VT.UINT8, 200).kv("i8", VT.INT8, -100).kv("u16", VT.UINT16, 60000).kv("i16", VT.INT16, -30000)
    b.kv("u32", VT.UINT32, 4_000_000_000).kv("i32", VT.INT32, -2_000_000_000).kv("f32", VT.FLOAT32, 1.5)
    b.kv("bool", VT.BOOL, 1).kv("u64", VT.UINT64, 2**64 - 1).kv("i64", VT.INT64, -2**63).kv("f64", VT.FLOAT64, -0.25)
    b.kv("str", VT.STRING, "héllo ✓")
    b.kv("tokens", VT.ARRAY, Arr(VT.STRING, ["<s>", "", "ab", "日本"]))
    b.kv("scores", VT.ARRAY, Arr(VT.FLOAT32, [0.0, -1.0, 2.5]))
    b.kv("flags", VT.ARRAY, Arr(VT.BOOL, [1, 0, 1]))
    b.kv("ids", VT.ARRAY, Arr(VT.INT64, [-1, 7]))
    b.kv("nested", VT.ARRAY, Arr(VT.ARRAY, [Arr(VT.UINT8, [1, 2]), Arr(VT.STRING, ["x"]), Arr(VT.ARRAY, [])]))
    b.tensor("a.weight", (32, 2), GGMLType.F32, data=struct.pack("<64f", *range(64)))
    b.tensor("b.weight", (64, 3), GGMLType.Q8_0, data=bytes(range(204)))
    b.tensor("c.bias", (5,), GGMLType.F16, data=struct.pack("<5e", 1, 2, 3, 4, 5))
    return b
