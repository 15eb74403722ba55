"""Native dequantize_row (every built kernel level this CPU runs) == gguf's numpy dequantizers, bit for bit.

Every block type is checked on random blocks (tests/quant_blocks.py: random quants, finite scales
with the extremes +-65504, fp16 subnormals and +-0 in the first blocks) of 1, 7 and 33 blocks.
"""

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize as gguf_dequantize
from quant_blocks import BLOCK_TYPES, random_blocks, reference_dequantize, type_size

from localllm.backend import native
from localllm.errors import ISAError, UnsupportedQuantError

LEVELS = native.supported_levels()
BLOCK_COUNTS = (1, 7, 33)


def same_bits(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal bit patterns, except that a NaN only has to be a NaN (SIMD converters quiet them)."""
    assert actual.shape == expected.shape
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(actual), nan)
    np.testing.assert_array_equal(actual[~nan].view(np.uint32), expected[~nan].view(np.uint32))


@pytest.mark.parametrize("level", LEVELS)
def test_f16_every_bit_pattern(level):
    raw = np.arange(65536, dtype=np.uint16).view(np.uint8)
    same_bits(native.dequantize_row(T.F16, raw, 65536, level=level), gguf_dequantize(raw, T.F16))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("n", (1, 7, 33, 1000))
def test_bf16_matches_gguf(level, n):
    raw = np.random.default_rng(n).integers(0, 65536, size=n, dtype=np.uint16).view(np.uint8)
    same_bits(native.dequantize_row(T.BF16, raw, n, level=level), gguf_dequantize(raw, T.BF16).reshape(-1))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("qtype", BLOCK_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("n_blocks", BLOCK_COUNTS)
def test_block_type_matches_gguf(level, qtype, n_blocks):
    """gguf has no Q8_K dequantizer: reference_dequantize uses d * q for it."""
    raw = random_blocks(qtype, n_blocks, np.random.default_rng([int(qtype), n_blocks]))
    n = n_blocks * type_size(qtype)[0]
    same_bits(native.dequantize_row(qtype, raw, n, level=level), reference_dequantize(raw, qtype))


@pytest.mark.parametrize("level", LEVELS)
def test_f32_is_a_copy(level):
    values = np.random.default_rng(0).standard_normal(33).astype(np.float32)
    same_bits(native.dequantize_row(T.F32, values.view(np.uint8), 33, level=level), values)


def test_best_level_is_default(monkeypatch):
    monkeypatch.delenv("LOCALLLM_ISA", raising=False)
    assert native.choose_level() == LEVELS[0]


def test_forced_level_must_exist(monkeypatch):
    monkeypatch.setenv("LOCALLLM_ISA", "avx9000")
    with pytest.raises(ISAError, match="not a kernel level"):
        native.choose_level()


def test_forced_level_the_cpu_lacks_is_a_clear_error():
    lacking = [lv for lv in native.LEVEL_REQUIREMENTS if lv not in LEVELS]
    assert lacking, "some level is always missing: x86 has no neon, arm has no avx2"
    with pytest.raises(ISAError, match=f"LOCALLLM_ISA={lacking[0]} cannot run here"):
        native.choose_level(lacking[0])


def test_unsupported_type_is_typed():
    with pytest.raises(UnsupportedQuantError):
        native.dequantize_row(T.IQ2_XXS, np.zeros(66, np.uint8), 256)


def test_short_buffer_is_rejected_before_c():
    with pytest.raises(ValueError, match="33 bytes, 34 needed"):
        native.dequantize_row(T.Q8_0, np.zeros(33, np.uint8), 32)
