"""SIMD kernels (every kernel level this CPU runs, other than scalar) against the scalar references.

- vec_dot, every type against its activation type, on random rows of 1, 7 and 33 blocks with
  ordinary and extreme scales. Tolerance: |simd - scalar| <= 1e-6 * sum_i |x_i * y_i|, the natural
  scale of a dot product (x_i, y_i the dequantized values): both sides sum the same exact
  per-block integer dot products and differ only in the order and rounding of the float sums.
- quantize_row of the activation types Q8_0 / Q8_K: identical bytes at every level, and identical
  to the definition (round half to even, fp16 scale rounded to nearest even) written in numpy here.
- dequantize_row: identical bits at every level (the SIMD dequantizers do the scalar float
  operations in the same order).
"""

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize as gguf_dequantize

from localllm.backend import native

SIMD_LEVELS = [level for level in native.supported_levels() if level != "scalar"]
BLOCK_COUNTS = (1, 7, 33)
QK_K = 256

# weight type -> (elements per block, bytes per block, byte offsets of its fp16 scale fields)
QUANT_LAYOUT = {
    T.Q4_0: (32, 18, (0,)),
    T.Q4_1: (32, 20, (0, 2)),
    T.Q5_0: (32, 22, (0,)),
    T.Q5_1: (32, 24, (0, 2)),
    T.Q8_0: (32, 34, (0,)),
    T.Q2_K: (256, 84, (80, 82)),
    T.Q3_K: (256, 110, (108,)),
    T.Q4_K: (256, 144, (0, 2)),
    T.Q5_K: (256, 176, (0, 2)),
    T.Q6_K: (256, 210, (208,)),
}
FLOAT_TYPES = (T.F32, T.F16, T.BF16)
# fp16 scales no SIMD shortcut may get wrong: largest, smallest subnormal, signed zeros, tiny
EXTREME_SCALES = np.array([65504.0, -65504.0, 6e-8, 0.0, -0.0, 1e-4], dtype=np.float16)


# ---- the activation quantizers, as native/kernels.h defines them ----

def quantize_q8_0(values: np.ndarray) -> np.ndarray:
    """Q8_0 row: d = max|x| / 127, q = round_half_even(x * (127 / max|x|)), d stored as fp16."""
    x = values.astype(np.float32).reshape(-1, 32)
    amax = np.abs(x).max(axis=1)
    with np.errstate(divide="ignore"):
        inv = np.where(amax != 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
    q = np.rint(x * inv[:, None]).astype(np.int8)
    d = (amax / np.float32(127)).astype(np.float16)
    return np.concatenate([d.view(np.uint8).reshape(-1, 2), q.view(np.uint8)], axis=1).reshape(-1)


def quantize_q8_K(values: np.ndarray) -> np.ndarray:
    """Q8_K row: iscale = -127 / (the signed value of largest magnitude, first one),
    q = min(127, round_half_even(iscale * x)), d = 1 / iscale, bsums = sums of 16."""
    blocks = []
    for x in values.astype(np.float32).reshape(-1, QK_K):
        peak = x[int(np.argmax(np.abs(x)))]
        if peak == 0:
            d, q = np.float32(0), np.zeros(QK_K, np.int8)
        else:
            iscale = np.float32(-127) / peak
            q = np.minimum(127, np.rint(iscale * x)).astype(np.int8)
            d = np.float32(1) / iscale
        bsums = q.reshape(16, 16).sum(axis=1, dtype=np.int16)
        blocks += [np.float32(d).reshape(1).view(np.uint8), q.view(np.uint8), bsums.view(np.uint8)]
    return np.concatenate(blocks)


def dequantize_activation(vec_dot_type: int, raw: np.ndarray) -> np.ndarray:
    if vec_dot_type == T.Q8_0:
        b = raw.reshape(-1, 34)
        return (b[:, :2].copy().view(np.float16).astype(np.float64) * b[:, 2:].view(np.int8)).reshape(-1)
    b = raw.reshape(-1, 292)
    return (b[:, :4].copy().view(np.float32).astype(np.float64) * b[:, 4:260].view(np.int8)).reshape(-1)


# ---- random rows ----

def quant_row(rng: np.random.Generator, ggml_type: int, n_blocks: int, extreme: bool) -> np.ndarray:
    """Random blocks: random bits everywhere but in the fp16 scales (finite; extreme ones first)."""
    _, block_bytes, scale_offsets = QUANT_LAYOUT[ggml_type]
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for k, offset in enumerate(scale_offsets):
        scales = (rng.standard_normal(n_blocks) * 0.01).astype(np.float16)
        if extreme:
            chosen = np.roll(EXTREME_SCALES, k)[:n_blocks]
            scales[: len(chosen)] = chosen
        raw[:, offset:offset + 2] = scales.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(-1)


def float_row(ggml_type: int, values: np.ndarray) -> np.ndarray:
    if ggml_type == T.F32:
        return values.astype(np.float32).view(np.uint8)
    if ggml_type == T.F16:
        return values.astype(np.float16).view(np.uint8)
    return (values.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)  # BF16


def activations(rng: np.random.Generator, n: int, magnitude: float) -> np.ndarray:
    """Gaussian values times `magnitude`, with one all-zero 32-element block when n allows."""
    values = (rng.standard_normal(n) * magnitude).astype(np.float32)
    if n >= 64:
        values[32:64] = 0
    return values


def assert_close_dot(actual: float, expected: float, x: np.ndarray, y: np.ndarray) -> None:
    bound = 1e-6 * float(np.abs(x * y).sum())
    assert abs(actual - expected) <= bound, f"simd {actual!r} vs scalar {expected!r}: off by more than {bound!r}"


# ---- vec_dot ----

# activation magnitudes: ordinary, tiny (fp16 subnormal Q8_0 scales), large
MAGNITUDES = (1.0, 1e-6, 1e4)


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("ggml_type", list(QUANT_LAYOUT), ids=lambda t: t.name)
@pytest.mark.parametrize("n_blocks", BLOCK_COUNTS)
@pytest.mark.parametrize("magnitude", MAGNITUDES)
def test_quant_vec_dot_matches_scalar(level, ggml_type, n_blocks, magnitude):
    rng = np.random.default_rng([int(ggml_type), n_blocks, MAGNITUDES.index(magnitude)])
    block_size = QUANT_LAYOUT[ggml_type][0]
    n = n_blocks * block_size
    vec_dot_type = native.type_info(ggml_type, level="scalar")[2]
    quantize = quantize_q8_0 if vec_dot_type == T.Q8_0 else quantize_q8_K
    y = quantize(activations(rng, n, magnitude))
    yd = dequantize_activation(vec_dot_type, y)
    for extreme in (False, True):
        x = quant_row(rng, ggml_type, n_blocks, extreme)
        xd = gguf_dequantize(x, ggml_type).reshape(-1).astype(np.float64)
        expected = native.vec_dot(ggml_type, n, x, y, level="scalar")
        assert_close_dot(native.vec_dot(ggml_type, n, x, y, level=level), expected, xd, yd)


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("ggml_type", FLOAT_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("n", (1, 7, 33, 1000, 4099))
def test_float_vec_dot_matches_scalar(level, ggml_type, n):
    rng = np.random.default_rng([int(ggml_type), n])
    x = float_row(ggml_type, rng.standard_normal(n) * 100)
    y = float_row(ggml_type, rng.standard_normal(n) * 0.01)
    xd = gguf_dequantize(x, ggml_type).reshape(-1).astype(np.float64)
    yd = gguf_dequantize(y, ggml_type).reshape(-1).astype(np.float64)
    expected = native.vec_dot(ggml_type, n, x, y, level="scalar")
    assert_close_dot(native.vec_dot(ggml_type, n, x, y, level=level), expected, xd, yd)


def test_q8_0_vec_dot_weight_minus_128():
    """Q8_0 weights of -128 (the edge of the SIMD sign trick) against activations of -127: exact."""
    x = np.zeros((8, 34), np.uint8)
    x[:, :2] = np.full(8, 0.5, np.float16).view(np.uint8).reshape(8, 2)
    x[:, 2:] = np.int8(-128).view(np.uint8)
    y = quantize_q8_0(np.full(256, -127.0))
    for level in ("scalar", *SIMD_LEVELS):
        assert native.vec_dot(T.Q8_0, 256, x.reshape(-1), y, level=level) == 0.5 * 128 * 127 * 256


# ---- quantize_row of the activation types ----

def tricky_activations(rng: np.random.Generator, n_blocks: int, block: int) -> np.ndarray:
    """Random values, plus blocks whose scaled values land exactly on .5 (round half to even),
    whose largest magnitude appears with both signs (the first one sets the Q8_K scale), all zeros,
    and tiny / huge magnitudes."""
    values = rng.standard_normal(n_blocks * block).astype(np.float32).reshape(n_blocks, block)
    ties = np.arange(block, dtype=np.float32) % 9 - 4.5
    if n_blocks > 1:
        values[1] = ties
        values[1, 0] = 127.0 if block == 32 else -127.0  # scale 1: x * id is x itself
    if n_blocks > 2:
        values[2] = rng.standard_normal(block).astype(np.float32)
        values[2, 3], values[2, 9] = 7.0, -7.0
    if n_blocks > 3:
        values[3] = 0.0
    if n_blocks > 4:
        values[4] *= np.float32(1e-30)
    if n_blocks > 5:
        values[5] *= np.float32(1e30 if block == QK_K else 1e4)
    return values.reshape(-1)


@pytest.mark.parametrize("n_blocks", BLOCK_COUNTS)
@pytest.mark.parametrize(
    "ggml_type, block, reference", [(T.Q8_0, 32, quantize_q8_0), (T.Q8_K, QK_K, quantize_q8_K)], ids=["Q8_0", "Q8_K"]
)
def test_activation_quantizers_identical_across_levels(ggml_type, block, reference, n_blocks):
    values = tricky_activations(np.random.default_rng([block, n_blocks]), n_blocks, block)
    expected = reference(values)
    np.testing.assert_array_equal(native.quantize_row(ggml_type, values, level="scalar"), expected)
    for level in SIMD_LEVELS:
        np.testing.assert_array_equal(native.quantize_row(ggml_type, values, level=level), expected)


# ---- dequantize_row ----

def same_bits(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal bit patterns, except that a NaN only has to be a NaN (SIMD converters quiet them)."""
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(actual), nan)
    np.testing.assert_array_equal(actual[~nan].view(np.uint32), expected[~nan].view(np.uint32))


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("ggml_type", list(QUANT_LAYOUT), ids=lambda t: t.name)
@pytest.mark.parametrize("n_blocks", BLOCK_COUNTS)
def test_dequantize_identical_to_scalar(level, ggml_type, n_blocks):
    rng = np.random.default_rng([int(ggml_type), n_blocks])
    n = n_blocks * QUANT_LAYOUT[ggml_type][0]
    for extreme in (False, True):
        x = quant_row(rng, ggml_type, n_blocks, extreme)
        same_bits(native.dequantize_row(ggml_type, x, n, level=level), native.dequantize_row(ggml_type, x, n, level="scalar"))


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("ggml_type", (T.F16, T.BF16), ids=lambda t: t.name)
def test_float_dequantize_every_bit_pattern(level, ggml_type):
    raw = np.arange(65536, dtype=np.uint16).view(np.uint8)
    same_bits(native.dequantize_row(ggml_type, raw, 65536, level=level), native.dequantize_row(ggml_type, raw, 65536, level="scalar"))
