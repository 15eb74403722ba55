"""localllm.gguf reads what gguf.GGUFWriter and the raw writer write, and the default model."""

from __future__ import annotations

import mmap
import struct
import subprocess
import sys
from collections.abc import Sequence

import numpy as np
import pytest

import gguf
from gguf_bytes import Arr, GGUFBuilder, full_builder
from localllm.errors import GGUFError, UnsupportedQuantError
from localllm.gguf import GGMLType, GGUFFile, StringArray, TensorInfo, ValueType as VT, open_gguf, type_info

GVT = gguf.GGUFValueType


def write_with_gguf(path, fill, alignment: int | None = None, endian=gguf.GGUFEndian.LITTLE) -> None:
    """Write a file with gguf.GGUFWriter; `fill(writer)` adds KV pairs and tensors."""
    w = gguf.GGUFWriter(str(path), arch="test", endianess=endian)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    fill(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


SCALARS = [  # (key, gguf type, value, expected python type)
    ("t.u8", GVT.UINT8, 255, int), ("t.i8", GVT.INT8, -128, int), ("t.u16", GVT.UINT16, 65535, int),
    ("t.i16", GVT.INT16, -32768, int), ("t.u32", GVT.UINT32, 2**32 - 1, int), ("t.i32", GVT.INT32, -2**31, int),
    ("t.f32", GVT.FLOAT32, 0.1, float), ("t.bool", GVT.BOOL, True, bool), ("t.false", GVT.BOOL, False, bool),
    ("t.u64", GVT.UINT64, 2**64 - 1, int), ("t.i64", GVT.INT64, -2**63, int), ("t.f64", GVT.FLOAT64, 1e300, float),
    ("t.str", GVT.STRING, "ünïcødé ✓ \x00 end", str), ("t.empty", GVT.STRING, "", str),
]
NUMERIC_ARRAYS = [  # (key, element type, values, numpy dtype)
    ("a.u8", GVT.UINT8, [0, 1, 255], "<u1"), ("a.i8", GVT.INT8, [-128, 127], "<i1"),
    ("a.u16", GVT.UINT16, [1, 65535], "<u2"), ("a.i16", GVT.INT16, [-1, 2], "<i2"),
    ("a.u32", GVT.UINT32, [7, 2**32 - 1], "<u4"), ("a.i32", GVT.INT32, [-7, 3, 9], "<i4"),
    ("a.f32", GVT.FLOAT32, [0.5, -2.25, 1e-3], "<f4"), ("a.bool", GVT.BOOL, [True, False, True], "?"),
    ("a.u64", GVT.UINT64, [2**64 - 1], "<u8"), ("a.i64", GVT.INT64, [-2**63, 5], "<i8"),
    ("a.f64", GVT.FLOAT64, [3.25, -1e-300], "<f8"),
]


@pytest.fixture
def writer_file(tmp_path):
    """A gguf.GGUFWriter file with every value type, string/nested arrays and three tensors."""
    rng = np.random.default_rng(0)
    tensors = {
        "w.f32": rng.standard_normal((3, 64)).astype(np.float32),
        "w.f16": rng.standard_normal((2, 5, 32)).astype(np.float16),
        "w.q8_0": rng.integers(0, 256, (4, 2 * 34), dtype=np.uint8),  # 4 rows of 64 Q8_0 values
    }

    def fill(w):
        for key, vtype, value, _ in SCALARS:
            w.add_key_value(key, value, vtype)
        for key, vtype, values, _ in NUMERIC_ARRAYS:
            w.add_key_value(key, values, GVT.ARRAY, sub_type=vtype)
        w.add_array("a.str", ["<s>", "", "héllo", "日本語"])
        w.add_array("a.nested", [[1, 2, 3], ["x", "y"], [[True], [False, True]]])
        w.add_tensor("w.f32", tensors["w.f32"])
        w.add_tensor("w.f16", tensors["w.f16"])
        w.add_tensor("w.q8_0", tensors["w.q8_0"], raw_dtype=gguf.GGMLQuantizationType.Q8_0)

    path = tmp_path / "writer.gguf"
    write_with_gguf(path, fill, alignment=64)
    return path, tensors


def test_writer_scalars_round_trip(writer_file):
    with open_gguf(writer_file[0]) as f:
        assert f.version == 3 and f.alignment == 64 and f.get("general.architecture") == "test"
        for key, vtype, value, pytype in SCALARS:
            got = f.metadata[key]
            assert type(got) is pytype, key
            assert f.metadata_types[key] == (VT(vtype), None)
            expected = struct.unpack("<f", struct.pack("<f", value))[0] if vtype == GVT.FLOAT32 else value
            assert got == expected, key


def test_writer_arrays_round_trip(writer_file):
    with open_gguf(writer_file[0]) as f:
        for key, vtype, values, dtype in NUMERIC_ARRAYS:
            arr = f.metadata[key]
            assert isinstance(arr, np.ndarray) and arr.dtype == np.dtype(dtype), key
            np.testing.assert_array_equal(arr, np.array(values, dtype=dtype))
            assert f.metadata_types[key] == (VT.ARRAY, VT(vtype))
        strings = f.metadata["a.str"]
        assert isinstance(strings, StringArray) and strings.tolist() == ["<s>", "", "héllo", "日本語"]
        assert f.metadata_types["a.str"] == (VT.ARRAY, VT.STRING)
        ints, strs, bools = f.metadata["a.nested"]
        assert f.metadata_types["a.nested"] == (VT.ARRAY, VT.ARRAY)
        assert ints.tolist() == [1, 2, 3] and strs.tolist() == ["x", "y"]
        assert [b.tolist() for b in bools] == [[True], [False, True]]


def test_writer_tensors_round_trip(writer_file):
    path, tensors = writer_file
    with open_gguf(path) as f:
        assert [t.name for t in f.tensors] == ["w.f32", "w.f16", "w.q8_0"]
        assert f.data_offset % 64 == 0
        f32, f16, q8 = f.tensors
        assert (f32.type, f32.shape, f32.n_elements, f32.n_bytes) == (GGMLType.F32, (64, 3), 192, 768)
        np.testing.assert_array_equal(f32.array(), tensors["w.f32"])
        assert (f16.type, f16.shape) == (GGMLType.F16, (32, 5, 2))
        np.testing.assert_array_equal(f16.array(), tensors["w.f16"])
        assert f16.rows().shape == (10, 64)
        assert (q8.type, q8.shape, q8.n_bytes) == (GGMLType.Q8_0, (64, 4), 4 * 68)
        np.testing.assert_array_equal(q8.rows(), tensors["w.q8_0"])
        for t in f.tensors:
            assert t.offset % 64 == 0 and t.abs_offset == f.data_offset + t.offset
            assert f.tensor(t.name) is t


def test_writer_without_tensors(tmp_path):
    write_with_gguf(tmp_path / "kv.gguf", lambda w: w.add_uint32("x.y", 5))
    with open_gguf(tmp_path / "kv.gguf") as f:
        assert f.tensors == [] and f.metadata["x.y"] == 5 and f.n_params == 0


def test_writer_big_endian_file_is_rejected(tmp_path):
    write_with_gguf(tmp_path / "be.gguf", lambda w: w.add_uint32("x.y", 5), endian=gguf.GGUFEndian.BIG)
    with pytest.raises(GGUFError, match="big-endian"):
        open_gguf(tmp_path / "be.gguf")


def test_v2_file_from_raw_writer(tmp_path):
    b = full_builder()
    b.version = 2
    path = tmp_path / "v2.gguf"
    path.write_bytes(b.to_bytes())
    with open_gguf(path) as f:
        assert f.version == 2
        assert f.metadata["str"] == "héllo ✓" and f.metadata["u64"] == 2**64 - 1 and f.metadata["i8"] == -100
        assert f.metadata["tokens"].tolist() == ["<s>", "", "ab", "日本"]
        np.testing.assert_array_equal(f.tensor("a.weight").array(), np.arange(64, dtype=np.float32).reshape(2, 32))
        np.testing.assert_array_equal(f.tensor("c.bias").array(), np.arange(1, 6, dtype=np.float16))
        assert f.tensor("b.weight").data.tobytes() == bytes(range(204))


def test_custom_alignment_from_raw_writer():
    b = GGUFBuilder(alignment=256).kv("general.alignment", VT.UINT32, 256)
    b.tensor("a", (8,), GGMLType.F32, data=bytes(range(32))).tensor("b", (8,), GGMLType.F32, data=bytes(32))
    f = GGUFFile.from_bytes(b.to_bytes())
    assert f.alignment == 256 and f.data_offset == 256 and f.tensor("b").offset == 256
    assert f.tensor("a").data.tobytes() == bytes(range(32))


# ---- lazy string arrays ----------------------------------------------------------------------

def test_string_array_is_a_lazy_sequence():
    words = ["zero", "", "two", "ünï", "<0x0A>"]
    tokens = GGUFFile.from_bytes(GGUFBuilder().kv("t", VT.ARRAY, Arr(VT.STRING, words)).to_bytes()).metadata["t"]
    assert isinstance(tokens, Sequence) and len(tokens) == 5
    assert tokens[3] == "ünï" and tokens[-1] == "<0x0A>" and tokens[1:3] == ["", "two"]
    assert list(tokens) == words and tokens.tolist() == words and "two" in tokens and tokens.index("two") == 2
    assert tokens.get_bytes(3) == "ünï".encode() and tokens.lengths.tolist() == [4, 0, 3, 5, 6]
    with pytest.raises(IndexError):
        tokens[5]
    with pytest.raises(IndexError):
        tokens[-6]
    assert "5 strings" in repr(tokens)


def test_empty_arrays():
    b = GGUFBuilder().kv("s", VT.ARRAY, Arr(VT.STRING, [])).kv("n", VT.ARRAY, Arr(VT.FLOAT32, []))
    f = GGUFFile.from_bytes(b.kv("a", VT.ARRAY, Arr(VT.ARRAY, [])).to_bytes())
    assert len(f.metadata["s"]) == 0 and f.metadata["s"].tolist() == []
    assert f.metadata["n"].shape == (0,) and f.metadata["a"] == []


# ---- views, lifetime, errors -----------------------------------------------------------------

def test_tensor_views_are_zero_copy_and_read_only(tmp_path):
    path = tmp_path / "f.gguf"
    path.write_bytes(full_builder().to_bytes())
    with open_gguf(path) as f:
        t = f.tensor("a.weight")
        assert isinstance(t, TensorInfo)
        for view in (t.data, t.rows(), t.array(), f.metadata["scores"]):
            assert not view.flags.writeable
            assert isinstance(_owner(view), mmap.mmap)


def _owner(view):
    """The object at the bottom of a numpy view's base chain."""
    while isinstance(view, (np.ndarray, memoryview)):
        view = view.base if isinstance(view, np.ndarray) else view.obj
    return view


def test_close_and_context_manager(tmp_path):
    path = tmp_path / "f.gguf"
    path.write_bytes(full_builder().to_bytes())
    f = open_gguf(path)
    scores = f.metadata["scores"]
    early = f.tensor("a.weight").array()
    f.close()
    assert scores.tolist() == [0.0, -1.0, 2.5] and early[1, 0] == 32.0  # still mapped by their views
    assert f.metadata["tokens"][0] == "<s>"
    with pytest.raises(ValueError, match="closed"):
        f.tensor("a.weight").data
    f.close()  # twice is fine
    with open_gguf(path) as g:
        assert g.tensor("b.weight").n_bytes == 204
    with pytest.raises(ValueError, match="closed"):
        g.tensor("b.weight").rows()


def test_missing_tensor_is_keyerror_and_block_types_have_no_typed_view():
    f = GGUFFile.from_bytes(full_builder().to_bytes())
    with pytest.raises(KeyError, match="nope"):
        f.tensor("nope")
    with pytest.raises(UnsupportedQuantError, match="b.weight.*Q8_0"):
        f.tensor("b.weight").array()
    assert f.tensor("b.weight").rows().shape == (3, 68)
    assert f.get("missing", 7) == 7 and f.n_params == 64 + 192 + 5


def test_missing_file_is_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_gguf(tmp_path / "absent.gguf")


def test_bf16_view_is_uint16():
    raw = GGUFBuilder().tensor("b", (4,), GGMLType.BF16, data=struct.pack("<4H", 0x3F80, 0, 0xBF80, 1)).to_bytes()
    arr = GGUFFile.from_bytes(raw).tensor("b").array()
    assert arr.dtype == np.uint16 and arr.tolist() == [0x3F80, 0, 0xBF80, 1]


def test_type_info_covers_every_type():
    for t in GGMLType:
        block, size = type_info(t)
        assert block >= 1 and size >= 1
    assert type_info(GGMLType.Q4_K) == (256, 144) and type_info(GGMLType.Q8_0) == (32, 34)
    assert type_info(GGMLType.BF16) == (1, 2) and type_info(30) == (1, 2)


# ---- the default model -----------------------------------------------------------------------

@pytest.mark.slow
def test_default_model_facts(default_model_path):
    with open_gguf(default_model_path) as f:
        assert (f.version, f.alignment, len(f.metadata), len(f.tensors)) == (3, 32, 33, 236)
        assert f.get("general.architecture") == "gemma3"
        assert f.data_offset == 6525120 and f.file_size == 253113024
        assert f.n_params == 268098176
        tokens = f.metadata["tokenizer.ggml.tokens"]
        assert len(tokens) == 262144 and isinstance(tokens, StringArray)
        assert tokens[:3] == ["<pad>", "<eos>", "<bos>"] and tokens[106] == "<end_of_turn>"
        assert f.metadata["tokenizer.ggml.scores"].shape == (262144,)
        assert f.metadata["tokenizer.ggml.token_type"].dtype == np.int32
        assert "tokenizer.ggml.merges" not in f.metadata and "tokenizer.chat_template" not in f.metadata
        assert f.metadata["gemma3.attention.head_count_kv"] == 1 and f.metadata["gemma3.block_count"] == 18
        emb = f.tensor("token_embd.weight")
        assert (emb.type, emb.shape, emb.rows().shape) == (GGMLType.Q8_0, (640, 262144), (262144, 680))
        assert "output.weight" not in {t.name for t in f.tensors}  # tied to token_embd
        assert f.tensor("output_norm.weight").array().shape == (640,)
        assert sum(t.n_bytes for t in f.tensors) <= f.file_size - f.data_offset


@pytest.mark.slow
def test_default_model_opens_fast_in_a_fresh_process(default_model_path):
    code = ("import sys, time; import localllm.gguf as g; t = time.perf_counter(); "
            "f = g.open_gguf(sys.argv[1]); print(time.perf_counter() - t, 'gguf' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, default_model_path], capture_output=True, text=True, check=True)
    seconds, imported_gguf = out.stdout.split()
    assert float(seconds) < 1.0  # target 0.3 s; slack for a loaded 2-core CI machine
    assert imported_gguf == "False"  # `import gguf` alone costs ~0.4 s


def test_string_array_outlives_close(tmp_path):
    path = tmp_path / "s.gguf"
    path.write_bytes(GGUFBuilder().kv("t", VT.ARRAY, Arr(VT.STRING, ["a", "bc"])).to_bytes())
    f = open_gguf(path)
    tokens = f.metadata["t"]
    f.close()
    assert tokens.tolist() == ["a", "bc"] and tokens[1] == "bc"
