"""Bounds-checked decoding of GGUF metadata values (the KV section).

Every read goes through `Cursor`, which checks that the bytes exist before touching them, so a
malformed file ends in a `GGUFError` naming the field and byte offset, never in a read past the
end. Array element counts are checked against the bytes left in the file *before* any allocation
or loop: an element needs at least `MIN_ENCODED_SIZE` bytes, so a count of 10^18 strings in a
300 MB file is rejected at once.

Decoded forms (what `GGUFFile.metadata` holds):
  u8..i64, u64, f32, f64  -> int / float          bool -> bool          string -> str
  array of numbers/bools  -> read-only np.ndarray viewing the file bytes (no copy)
  array of strings        -> StringArray (bounds scanned once, decoded on access)
  array of arrays         -> list of the above, recursively (depth <= MAX_ARRAY_DEPTH)
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np

from localllm.errors import GGUFError
from localllm.gguf.types import SCALAR_FORMATS, ValueType

# Arrays nested inside arrays; ggml reads none, gguf-py writes them. Bounds Python recursion.
MAX_ARRAY_DEPTH = 8

# Fewest bytes one element of each type occupies: a string is at least its u64 length, an
# array at least its u32 element type and u64 count.
MIN_ENCODED_SIZE: dict[ValueType, int] = {t: size for t, (_, size) in SCALAR_FORMATS.items()}
MIN_ENCODED_SIZE[ValueType.STRING] = 8
MIN_ENCODED_SIZE[ValueType.ARRAY] = 4 + 8

VALUE_TYPE_BY_ID: dict[int, ValueType] = {int(t): t for t in ValueType}

_SCALAR_STRUCTS = {t: struct.Struct(fmt) for t, (fmt, _) in SCALAR_FORMATS.items()}
_ARRAY_DTYPES: dict[ValueType, np.dtype] = {
    ValueType.UINT8: np.dtype("<u1"),
    ValueType.INT8: np.dtype("<i1"),
    ValueType.UINT16: np.dtype("<u2"),
    ValueType.INT16: np.dtype("<i2"),
    ValueType.UINT32: np.dtype("<u4"),
    ValueType.INT32: np.dtype("<i4"),
    ValueType.FLOAT32: np.dtype("<f4"),
    ValueType.BOOL: np.dtype("?"),
    ValueType.UINT64: np.dtype("<u8"),
    ValueType.INT64: np.dtype("<i8"),
    ValueType.FLOAT64: np.dtype("<f8"),
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")


class Cursor:
    """A read position in `buf[0:end]`; every read checks the bytes are there first."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: Any, pos: int, end: int):
        self.buf = buf  # mmap or bytes, indexed by absolute file offset
        self.pos = pos
        self.end = end

    def need(self, n: int, what: str, field: str) -> None:
        left = self.end - self.pos
        if n > left:
            raise GGUFError(
                f"{what} needs {n} bytes but the file ends {left} bytes later, at byte {self.end}",
                field=field, offset=self.pos)

    def unpack(self, st: struct.Struct, what: str, field: str) -> Any:
        self.need(st.size, what, field)
        (value,) = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return value

    def u32(self, field: str, what: str = "u32") -> int:
        return self.unpack(_U32, what, field)

    def u64(self, field: str, what: str = "u64") -> int:
        return self.unpack(_U64, what, field)

    def i64(self, field: str, what: str = "i64") -> int:
        return self.unpack(_I64, what, field)

    def string_span(self, field: str, what: str = "string") -> tuple[int, int]:
        """Read a string's u64 length and skip its bytes; return (start, length) of the bytes."""
        n = self.u64(field, f"{what} length")
        self.need(n, f"{what} of {n} bytes", field)
        start = self.pos
        self.pos += n
        return start, n

    def string(self, field: str, what: str = "string") -> str:
        start, n = self.string_span(field, what)
        return decode_utf8(self.buf[start:start + n], field, start)


def decode_utf8(raw: bytes, field: str, offset: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GGUFError(f"string is not valid UTF-8 ({e.reason})", field=field, offset=offset + e.start) from None


def read_value_type(cur: Cursor, field: str, what: str = "value type") -> ValueType:
    at = cur.pos
    raw = cur.u32(field, what)
    vtype = VALUE_TYPE_BY_ID.get(raw)
    if vtype is None:
        raise GGUFError(f"invalid {what} {raw} (valid: 0..12)", field=field, offset=at)
    return vtype


def read_value(cur: Cursor, vtype: ValueType, field: str) -> tuple[Any, ValueType | None]:
    """Decode one value of type `vtype`; returns (value, element type for arrays else None)."""
    if vtype is ValueType.STRING:
        return cur.string(field), None
    if vtype is ValueType.ARRAY:
        return read_array(cur, field, depth=1)
    at = cur.pos
    value = cur.unpack(_SCALAR_STRUCTS[vtype], vtype.name.lower(), field)
    if vtype is ValueType.BOOL:
        if value > 1:
            raise GGUFError(f"bool byte is {value}, expected 0 or 1", field=field, offset=at)
        value = bool(value)
    return value, None


def read_array(cur: Cursor, field: str, depth: int) -> tuple[Any, ValueType]:
    """Array layout: u32 element type, u64 count, then `count` elements back to back."""
    at = cur.pos
    if depth > MAX_ARRAY_DEPTH:
        raise GGUFError(f"arrays nested more than {MAX_ARRAY_DEPTH} deep", field=field, offset=at)
    elem = read_value_type(cur, field, "array element type")
    count_at = cur.pos
    count = cur.u64(field, "array count")
    min_bytes = count * MIN_ENCODED_SIZE[elem]
    if min_bytes > cur.end - cur.pos:
        raise GGUFError(
            f"array of {count} {elem.name} elements needs at least {min_bytes} bytes but the file "
            f"ends {cur.end - cur.pos} bytes later", field=field, offset=count_at)
    if elem is ValueType.STRING:
        return _read_string_array(cur, count, field), elem
    if elem is ValueType.ARRAY:
        items = [read_array(cur, f"{field}[{i}]", depth + 1)[0] for i in range(count)]
        return items, elem
    return _read_numeric_array(cur, elem, count, field), elem


def _read_numeric_array(cur: Cursor, elem: ValueType, count: int, field: str) -> np.ndarray:
    dtype = _ARRAY_DTYPES[elem]
    start = cur.pos
    if elem is ValueType.BOOL:  # validate the raw bytes before viewing them as bool
        raw = np.frombuffer(cur.buf, np.uint8, count, start)
        bad = np.flatnonzero(raw > 1)
        if bad.size:
            i = int(bad[0])
            raise GGUFError(f"bool element {i} is {raw[i]}, expected 0 or 1", field=f"{field}[{i}]",
                            offset=start + i)
    arr = np.frombuffer(cur.buf, dtype, count, start)  # [count], read-only view of the file
    cur.pos = start + count * dtype.itemsize
    return arr


def _read_string_array(cur: Cursor, count: int, field: str) -> "StringArray":
    """Scan `count` strings once, recording where each starts; no bytes are decoded here.

    bounds: int64 [count + 1]; string i's u64 length sits at bounds[i] and its bytes fill
    bounds[i] + 8 .. bounds[i + 1]. `count` was already checked to fit (8 bytes each), so this
    allocation is at most the file size and the loop ends.
    """
    buf, end = cur.buf, cur.end
    pos = cur.pos
    bounds = array("q", [0]) * (count + 1)  # int64 [count + 1], filled below
    unpack = _U64.unpack_from
    for i in range(count):
        if pos + 8 > end:
            raise GGUFError(f"string {i} of {count}: length field past the end of the file",
                            field=f"{field}[{i}]", offset=pos)
        bounds[i] = pos
        n = unpack(buf, pos)[0]
        pos += 8 + n
        if pos > end:
            raise GGUFError(f"string {i} of {count}: {n} bytes run past the end of the file at byte {end}",
                            field=f"{field}[{i}]", offset=pos - n)
    bounds[count] = pos
    cur.pos = pos
    return StringArray(buf, np.frombuffer(bounds, np.int64), field)


class StringArray(Sequence):
    """A GGUF array of strings, decoded to `str` only when an element is asked for.

    Indexing (an int gives a str, a slice a list), iteration and `tolist()` decode UTF-8
    strictly; an invalid element raises `GGUFError` naming `field[i]` and its byte offset.
    `get_bytes(i)` returns the raw bytes. Holds a memoryview of the file, which keeps the mapping
    alive after `GGUFFile.close()`, like a numpy view would.
    """

    __slots__ = ("_view", "_bounds", "field")

    def __init__(self, buf: Any, bounds: np.ndarray, field: str):
        self._view = memoryview(buf)  # the whole file, indexed by absolute offset
        self._bounds = bounds  # int64 [n + 1], see _read_string_array
        self.field = field

    def __len__(self) -> int:
        return len(self._bounds) - 1

    def _span(self, i: int) -> tuple[int, int, int]:
        """(index, start, end): element i's bytes are file[start:end]; negative i counts from the end."""
        n = len(self)
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError(f"{self.field}: index {i} out of range for {n} strings")
        return j, int(self._bounds[j]) + 8, int(self._bounds[j + 1])

    def get_bytes(self, i: int) -> bytes:
        _, start, end = self._span(i)
        return bytes(self._view[start:end])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        j, start, end = self._span(i)
        return decode_utf8(bytes(self._view[start:end]), f"{self.field}[{j}]", start)

    def __iter__(self):
        return iter(self.tolist())

    def tolist(self) -> list[str]:
        """Decode every element (the default model's 262k tokens take about 0.1 s)."""
        b = self._bounds.tolist()
        base = b[0]
        blob = bytes(self._view[base:b[-1]])  # one copy of the array's bytes, then slices of it
        try:
            return [blob[b[i] + 8 - base:b[i + 1] - base].decode("utf-8") for i in range(len(b) - 1)]
        except UnicodeDecodeError:
            for j in range(len(b) - 1):  # find and name the bad element
                self[j]
            raise

    @property
    def lengths(self) -> np.ndarray:
        """Byte length of every element: int64 [n]."""
        return np.diff(self._bounds) - 8

    def __repr__(self) -> str:
        head = ", ".join(repr(self[i]) for i in range(min(3, len(self))))
        more = ", ..." if len(self) > 3 else ""
        return f"StringArray({self.field}: {len(self)} strings [{head}{more}])"
