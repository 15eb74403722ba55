"""Every malformed-GGUF case gives a GGUFError naming the field or tensor and the byte offset.

Files are built with the raw writer in gguf_bytes.py (valid by default), then broken in one
place. Each case is parsed twice: from a real file (mmap path) and from bytes.
"""

from __future__ import annotations

import struct
import time

import pytest

from gguf_bytes import Arr, GGUFBuilder, full_builder
from localllm.errors import GGUFError
from localllm.gguf import GGMLType, GGUFFile, ValueType as VT, open_gguf
from localllm.gguf.types import REMOVED_GGML_TYPES
from localllm.gguf.values import MAX_ARRAY_DEPTH


@pytest.fixture
def reject(tmp_path):
    """reject(raw, match, where) -> the GGUFError; asserts `where` and 'byte' are in the message."""
    def check(raw: bytes, match: str, where: str) -> GGUFError:
        path = tmp_path / "bad.gguf"
        path.write_bytes(raw)
        with pytest.raises(GGUFError, match=match) as from_file:
            open_gguf(path)
        with pytest.raises(GGUFError, match=match) as from_bytes:
            GGUFFile.from_bytes(raw)
        assert str(from_file.value) == str(from_bytes.value)
        message = str(from_file.value)
        assert where in message and "byte" in message, message
        assert from_file.value.offset is not None and 0 <= from_file.value.offset <= len(raw)
        return from_file.value
    return check


def patch(raw: bytes, b: GGUFBuilder, label: str, value: int, fmt: str | None = None) -> bytes:
    """Overwrite the integer field `label` recorded by the builder with `value`."""
    (offset, width), = [(o, w) for name, o, w in b.fields if name == label]
    fmt = fmt or {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}[width]
    return raw[:offset] + struct.pack(fmt, value) + raw[offset + width:]


def one_kv(key, vtype, value) -> bytes:
    return GGUFBuilder().kv(key, vtype, value).to_bytes()


def one_tensor(name="t", shape=(32, 2), gtype=GGMLType.F32, **kw) -> bytes:
    return GGUFBuilder().tensor(name, shape, gtype, **kw).to_bytes()


# ---- file and header -----------------------------------------------------------------------

def test_empty_file(reject):
    reject(b"", "empty", "header")


def test_three_byte_file(reject):
    reject(b"GGU", "3 bytes", "header")


def test_bad_magic(reject):
    reject(b"XXXX" + bytes(40), "not a GGUF file", "magic")


@pytest.mark.parametrize("magic, name", [(b"lmgg", "GGML"), (b"fmgg", "GGMF"), (b"tjgg", "GGJT"), (b"ggjt", "GGJT")])
def test_legacy_magic_is_named(reject, magic, name):
    reject(magic + bytes(40), f"legacy {name} file", "magic")


@pytest.mark.parametrize("version, match", [(0, "unsupported GGUF version 0"), (1, "version 1 is not supported"),
                                            (4, "unsupported GGUF version 4")])
def test_bad_version(reject, version, match):
    reject(GGUFBuilder(version=version).to_bytes(), match, "version")


def test_big_endian_file_is_named(reject):
    raw = full_builder()
    raw.endian = ">"
    reject(raw.to_bytes(), "big-endian", "version")


def test_truncated_header(reject):
    raw = GGUFBuilder().to_bytes()
    reject(raw[:12], "24", "header")


def test_tensor_count_larger_than_file(reject):
    reject(GGUFBuilder().to_bytes(n_tensors=10**6), "tensor count 1000000 cannot fit", "n_tensors")


def test_kv_count_larger_than_file(reject):
    reject(GGUFBuilder().to_bytes(n_kv=2**63), "key/value count", "n_kv")


def test_counts_together_larger_than_file(reject):
    b = full_builder()
    raw = b.to_bytes()
    n = (len(raw) - 24) // 32  # that many tensors fit alone, but not with the KV pairs
    reject(b.to_bytes(n_tensors=n), "cannot fit", "n_tensors")


def test_kv_count_past_the_pairs(reject):
    b = GGUFBuilder().kv("a", VT.STRING, "x" * 100)
    reject(b.to_bytes(n_kv=2, pad=False), "key length needs 8 bytes but the file ends 0 bytes later", "kv[1].key")


# ---- key/value section ---------------------------------------------------------------------

def test_string_length_past_end_of_file(reject):
    b = GGUFBuilder().kv("general.name", VT.STRING, "abc")
    raw = patch(b.to_bytes(), b, "kv[0].value.len", 1000)
    reject(raw, "string of 1000 bytes", "general.name")


def test_key_length_past_end_of_file(reject):
    b = GGUFBuilder().kv("general.name", VT.STRING, "abc")
    raw = patch(b.to_bytes(), b, "kv[0].key.len", 2**64 - 1)
    reject(raw, "key of 18446744073709551615 bytes", "kv[0].key")


def test_empty_key(reject):
    reject(one_kv("", VT.UINT8, 1), "empty key", "kv[0].key")


def test_duplicate_key(reject):
    raw = GGUFBuilder().kv("a.b", VT.UINT8, 1).kv("a.b", VT.UINT32, 2).to_bytes()
    reject(raw, "duplicate key 'a.b'", "a.b")


def test_key_not_utf8(reject):
    reject(one_kv(b"a\xff", VT.UINT8, 1), "not valid UTF-8", "kv[0].key")


def test_string_value_not_utf8(reject):
    reject(one_kv("k", VT.STRING, b"\xc3("), "not valid UTF-8", "k")


@pytest.mark.parametrize("vtype", [13, 255, 2**32 - 1])
def test_invalid_value_type(reject, vtype):
    reject(one_kv("k", vtype, b""), f"invalid value type {vtype}", "k")


def test_invalid_array_element_type(reject):
    reject(one_kv("k", VT.ARRAY, Arr(13, [])), "invalid array element type 13", "k")


def _nested(depth: int) -> Arr:
    value = Arr(VT.UINT8, [7])
    for _ in range(depth - 1):
        value = Arr(VT.ARRAY, [value])
    return value


def test_nesting_at_the_limit_is_read():
    f = GGUFFile.from_bytes(one_kv("k", VT.ARRAY, _nested(MAX_ARRAY_DEPTH)))
    value = f.metadata["k"]
    for _ in range(MAX_ARRAY_DEPTH - 1):
        (value,) = value
    assert value.tolist() == [7]


def test_nested_arrays_too_deep(reject):
    reject(one_kv("k", VT.ARRAY, _nested(MAX_ARRAY_DEPTH + 1)), f"nested more than {MAX_ARRAY_DEPTH}", "k[0]")


@pytest.mark.parametrize("elem", [VT.UINT32, VT.STRING, VT.ARRAY, VT.FLOAT64])
def test_array_count_past_end_of_file_rejected_up_front(reject, elem):
    b = GGUFBuilder().kv("k", VT.ARRAY, Arr(elem, []))
    raw = patch(b.to_bytes(), b, "kv[0].value.count", 10**18)
    t0 = time.perf_counter()
    reject(raw, f"array of 1000000000000000000 {elem.name} elements", "k")
    assert time.perf_counter() - t0 < 0.5  # no loop over the count


def test_string_array_element_past_end_of_file(reject):
    b = GGUFBuilder().kv("tokens", VT.ARRAY, Arr(VT.STRING, ["a", "b", "c"]))
    raw = patch(b.to_bytes(), b, "kv[0].value[1].len", 100)
    reject(raw, "string 1 of 3", "tokens[1]")


def test_bool_not_0_or_1(reject):
    reject(one_kv("flag", VT.BOOL, 2), "bool byte is 2", "flag")


def test_bool_array_element_not_0_or_1(reject):
    err = reject(one_kv("flags", VT.ARRAY, Arr(VT.BOOL, [1, 0, 255])), "bool element 2 is 255", "flags[2]")
    assert err.offset == 24 + 8 + 5 + 4 + 4 + 8 + 2


@pytest.mark.parametrize("vtype, value", [(VT.UINT64, 32), (VT.INT32, 32), (VT.STRING, "32")])
def test_alignment_wrong_type(reject, vtype, value):
    reject(one_kv("general.alignment", vtype, value), "must be a u32", "general.alignment")


@pytest.mark.parametrize("value", [0, 48, 3])
def test_alignment_not_power_of_two(reject, value):
    reject(one_kv("general.alignment", VT.UINT32, value), f"alignment {value} is not a non-zero power of two",
           "general.alignment")


# ---- tensor infos --------------------------------------------------------------------------

def test_tensor_name_too_long(reject):
    GGUFFile.from_bytes(one_tensor("x" * 63))  # the longest ggml accepts
    reject(one_tensor("y" * 64), "is 64 bytes; ggml allows at most 63", "tensors[0].name")


def test_duplicate_tensor_name(reject):
    raw = GGUFBuilder().tensor("w", (32,), GGMLType.F32).tensor("w", (32,), GGMLType.F32).to_bytes()
    reject(raw, "duplicate tensor name 'w'", "w")


@pytest.mark.parametrize("shape", [(), (1, 1, 1, 1, 1)])
def test_n_dims_out_of_range(reject, shape):
    reject(one_tensor("w", shape, data=b""), f"n_dims {len(shape)}, expected 1..4", "w")


def test_negative_dimension(reject):
    reject(one_tensor("w", (32, -1), data=b""), r"negative dimension ne\[1\] = -1", "w")


def test_element_count_overflow(reject):
    reject(one_tensor("w", (2**32, 2**31, 2), data=b""), "elements, overflowing 64 bits", "w")


def test_byte_size_overflow(reject):
    reject(one_tensor("w", (2**62,), GGMLType.F32, data=b""), "bytes overflows 64 bits", "w")


@pytest.mark.parametrize("type_id", [99, 42, 2**32 - 1])
def test_unknown_ggml_type(reject, type_id):
    reject(one_tensor("w", (32,), type_id, data=bytes(32)), f"unknown ggml type {type_id}", "w")


@pytest.mark.parametrize("type_id, name", sorted(REMOVED_GGML_TYPES.items()))
def test_removed_ggml_type_is_named(reject, type_id, name):
    reject(one_tensor("w", (256,), type_id, data=bytes(256)), rf"ggml type {type_id} \({name}\), which was removed",
           "w")


@pytest.mark.parametrize("gtype, ne0", [(GGMLType.Q4_K, 100), (GGMLType.Q8_0, 48), (GGMLType.Q4_0, 1)])
def test_row_length_not_multiple_of_block(reject, gtype, ne0):
    reject(one_tensor("w", (ne0, 2), gtype, data=b""), rf"ne\[0\] = {ne0} is not a multiple", "w")


def test_tensor_info_truncated(reject):
    b = full_builder()
    raw = b.to_bytes()
    (offset, _), = [(o, w) for name, o, w in b.fields if name == "b'b.weight'.type"]
    reject(raw[:offset + 2], "ggml type needs 4 bytes but the file ends 2 bytes later", "b.weight")


# ---- data section --------------------------------------------------------------------------

def test_tensor_offset_misaligned(reject):
    raw = GGUFBuilder().tensor("a", (8,), GGMLType.F32).tensor("b", (8,), GGMLType.F32, offset=40).to_bytes()
    reject(raw, "offset 40 is not a multiple of the alignment 32", "b")


def test_tensor_overlaps_another(reject):
    raw = GGUFBuilder().tensor("a", (32,), GGMLType.F32).tensor("b", (32,), GGMLType.F32, offset=96).tensor(
        "c", (8,), GGMLType.F32, offset=64).to_bytes()
    reject(raw, "tensor 'c' at data offset 64 overlaps tensor 'a'", "c")


def test_tensor_past_end_of_file(reject):
    b = GGUFBuilder().tensor("a", (8,), GGMLType.F32)
    raw = patch(b.to_bytes(), b, "b'a'.offset", 2**40)
    reject(raw, "runs past the end", "a")


def test_tensor_offset_near_2_64(reject):
    b = GGUFBuilder().tensor("a", (8,), GGMLType.F32)
    raw = patch(b.to_bytes(), b, "b'a'.offset", 2**64 - 32)
    reject(raw, "runs past the end", "a")


def test_truncated_file_names_first_tensor_that_does_not_fit(reject):
    b = full_builder()
    raw = b.to_bytes()
    f = GGUFFile.from_bytes(raw)
    b_weight = f.tensor("b.weight")
    cut = b_weight.abs_offset + 10  # inside b.weight: b.weight and c.bias both no longer fit
    reject(raw[:cut], "tensor 'b.weight'", "b.weight")


def test_data_section_beyond_file(reject):
    # zero-byte tensor, no padding: the aligned data section starts after the last byte
    raw = GGUFBuilder().tensor("e", (0,), GGMLType.F32, data=b"").to_bytes(pad=False)
    assert len(raw) % 32
    reject(raw, "data section starts at byte", "data section")


def test_no_tensors_and_no_padding_is_valid():
    raw = GGUFBuilder().kv("k", VT.UINT8, 1).to_bytes(pad=False)
    f = GGUFFile.from_bytes(raw)
    assert f.tensors == [] and f.metadata["k"] == 1


# ---- lazy decoding still validates ---------------------------------------------------------

def test_lazy_string_element_not_utf8_raises_on_access():
    raw = one_kv("tokens", VT.ARRAY, Arr(VT.STRING, ["ok", b"\xff\xfe", "fine"]))
    tokens = GGUFFile.from_bytes(raw).metadata["tokens"]
    assert tokens[0] == "ok" and tokens[2] == "fine" and tokens.get_bytes(1) == b"\xff\xfe"
    with pytest.raises(GGUFError, match="not valid UTF-8") as e:
        tokens[1]
    assert "tokens[1]" in str(e.value) and "byte" in str(e.value)
    assert raw[e.value.offset] == 0xFF
    with pytest.raises(GGUFError, match=r"tokens\[1\]"):
        tokens.tolist()
