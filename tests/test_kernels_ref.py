"""The scalar reference kernels (native/quant/ref.c, ref_quantize.c): the oracle of every SIMD kernel.

Dequantization of every type against gguf is in test_native_dequant.py (all levels, scalar
included). Here, at level "scalar":
- the kernel table: block geometry and vec_dot type of every type;
- quantize_row: F16 == numpy astype(float16), BF16 == gguf (ggml's fp32 -> bf16), Q8_0 / Q8_K ==
  a numpy implementation of the definition in native/kernels.h bit for bit (round half to even, ties
  constructed on purpose), Q4_0 / Q4_1 / Q5_0 / Q5_1 == gguf.quants.quantize bit for bit, the
  k-quants == a numpy rewrite of llama.cpp's reference algorithms (tests/kquant_numpy.py) bit for
  bit, with round-trip error bounds;
- vec_dot: == the float64 dot product of the dequantized rows, to float32 rounding.
"""

from __future__ import annotations

import kquant_numpy
import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize as gguf_quantize
from quant_blocks import (
    FLOAT_TYPES,
    K_TYPES,
    LEGACY_TYPES,
    VEC_DOT_TYPE,
    WEIGHT_TYPES,
    random_row,
    reference_dequantize,
    type_size,
)

from localllm.backend import native
from localllm.errors import NativeError

LEVEL = "scalar"
F32 = np.float32
BLOCK_COUNTS = (1, 7, 33)
FLOAT_ROW_LENGTHS = {1: 1, 7: 7, 33: 1000}  # float types have 1-element blocks


def ids(qtype: T) -> str:
    return qtype.name


def quantize(qtype: T, values: np.ndarray) -> np.ndarray:
    return native.quantize_row(qtype, np.asarray(values, dtype=F32), level=LEVEL)


def dequantize(qtype: T, raw: np.ndarray, n: int) -> np.ndarray:
    return native.dequantize_row(qtype, raw, n, level=LEVEL)


def assert_same_bytes(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_array_equal(np.asarray(actual, np.uint8), np.ascontiguousarray(expected).view(np.uint8).reshape(-1))


def gaussian_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """n values in rows of 256 with assorted scales and special rows: zero, constant, one-signed,
    sparse, tiny, huge, an outlier."""
    x = rng.standard_normal(n).astype(F32).reshape(-1, 256)
    special = [
        np.zeros(256), np.full(256, 0.75), np.abs(x[0]) + 1, -np.abs(x[0]), np.where(np.arange(256) % 3, 0, x[0]),
        x[0] * 1e-6, x[0] * 1e3, np.where(np.arange(256) == 77, 40.0, x[0]), rng.standard_t(2, 256), rng.uniform(-1, 1, 256),
    ]
    k = min(len(x), len(special))
    x[:k] = np.asarray(special[:k], dtype=F32)
    scales = (10.0 ** rng.uniform(-3, 3, len(x))).astype(F32)
    scales[:k] = 1
    return (x * scales[:, None]).reshape(-1)


# ---- the table ----


@pytest.mark.parametrize("qtype", WEIGHT_TYPES + (T.Q8_K,), ids=ids)
def test_type_info(qtype):
    block, size = type_size(qtype)
    expected_vec_dot = VEC_DOT_TYPE.get(qtype, T.Q8_K)
    assert native.type_info(qtype, level=LEVEL) == (block, size, int(expected_vec_dot))


def test_q8_k_has_no_vec_dot():
    with pytest.raises(NativeError, match="unsupported"):
        native.vec_dot(T.Q8_K, 256, np.zeros(292, np.uint8), np.zeros(292, np.uint8), level=LEVEL)


# ---- quantize_row: float types ----


def f16_boundary_values() -> np.ndarray:
    """Every finite half, the midpoints between neighbours (ties: exact in float32) and the float32
    values either side of each midpoint, including the overflow boundary 65520, with both signs."""
    halves = np.arange(0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)
    mids = np.append((halves[:-1] + halves[1:]) / 2, 65520.0).astype(F32)
    near = [mids, np.nextafter(mids, F32(np.inf)), np.nextafter(mids, F32(0)), halves.astype(F32)]
    values = np.concatenate(near)
    return np.concatenate([values, -values])


def test_f32_quantize_is_a_copy():
    x = np.random.default_rng(0).standard_normal(33).astype(F32)
    assert_same_bytes(quantize(T.F32, x), x)


def to_f16(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # beyond 65520: inf, as intended
        return x.astype(np.float16)


def test_f16_quantize_rounds_like_numpy_at_every_boundary():
    x = f16_boundary_values()
    assert_same_bytes(quantize(T.F16, x), to_f16(x))


def test_f16_quantize_random_bits():
    """Random float32 bit patterns: huge values become inf; NaN stays NaN (its payload is F16C's)."""
    x = np.random.default_rng(1).integers(0, 1 << 32, size=1 << 18, dtype=np.uint32).view(F32)
    got = quantize(T.F16, x).view(np.float16)
    nan = np.isnan(x)
    assert np.isnan(got[nan]).all()
    assert_same_bytes(got[~nan].view(np.uint8), to_f16(x[~nan]))


def test_bf16_quantize_matches_gguf():
    """gguf's BF16 quantizer is ggml's fp32 -> bf16: round to nearest even, NaN made quiet."""
    rng = np.random.default_rng(2)
    bits = rng.integers(0, 1 << 32, size=1 << 18, dtype=np.uint32)
    bits[:4096] = (bits[:4096] & 0xFFFF0000) | 0x8000  # exact ties, odd and even
    x = bits.view(F32)
    assert_same_bytes(quantize(T.BF16, x), gguf_quantize(x, T.BF16))


# ---- quantize_row: the activation types (defined in native/kernels.h) ----


def q8_0_numpy(x: np.ndarray) -> np.ndarray:
    """d = max|x| / 127; id = 127 / max|x| (0 if max is 0); q = round_half_even(x * id); d as fp16.
    (llama.cpp's x86 quantizer, so the activations quantize to the bytes llama.cpp multiplies.)"""
    b = x.reshape(-1, 32)
    amax = np.abs(b).max(axis=1)
    d = amax / F32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(amax != 0, F32(127) / amax, F32(0))
    q = np.rint(b * inv[:, None]).astype(np.int8)
    return np.concatenate([to_f16(d)[:, None].view(np.uint8), q.view(np.uint8)], axis=1)


def q8_k_numpy(x: np.ndarray) -> np.ndarray:
    """max = signed value of largest |x| (first); iscale = -127 / max; q = min(127, rint(iscale x));
    d = 1 / iscale; bsums = sums of 16; all-zero block: d = 0, q = 0."""
    b = x.reshape(-1, 256)
    mx = kquant_numpy.signed_absmax(b)
    zero = mx == 0
    iscale = np.where(zero, F32(0), F32(-127) / np.where(zero, F32(1), mx))
    q = np.minimum(127, np.rint(iscale[:, None] * b)).astype(np.int8)
    with np.errstate(divide="ignore"):
        d = np.where(zero, F32(0), F32(1) / iscale).astype(F32)
    bsums = q.reshape(-1, 16, 16).sum(axis=-1, dtype=np.int16)
    return np.concatenate([d[:, None].view(np.uint8), q.view(np.uint8), bsums.view(np.uint8)], axis=1)


def q8_0_tie_blocks() -> np.ndarray:
    """Blocks whose x * id lands on .5: amax 127 (id = 1) and amax 63.5 (id = 2)."""
    halves = np.arange(-127, 127, dtype=F32) + F32(0.5)  # -126.5 .. 126.5
    first = np.concatenate([[127.0], halves[:31]])
    second = np.concatenate([[-127.0], halves[-31:]])
    third = np.concatenate([[63.5], (np.arange(31, dtype=F32) - 15) * F32(0.75)])  # x * 2 = 1.5 k
    return np.concatenate([first, second, third]).astype(F32)


def q8_k_tie_blocks() -> np.ndarray:
    """max -127 (iscale 1) and 127 (iscale -1) with .5 values; a block where +5 comes before -5
    (so +5 maps to -127 and -5 to 127); an all-zero block."""
    ties = np.concatenate([np.arange(254, dtype=F32) - F32(126.5), [0.0]])
    first = np.concatenate([[-127.0], ties])
    second = np.concatenate([[127.0], -ties])
    third = np.zeros(256, F32)
    third[[3, 9]] = (5.0, -5.0)
    return np.concatenate([first, second, third, np.zeros(256)]).astype(F32)


def activation_inputs(rng: np.random.Generator, tie_blocks: np.ndarray, n: int) -> np.ndarray:
    extremes = np.array([1e7, -3e-6, 1e-30, 0.0], dtype=F32)  # d beyond fp16 range, fp16 subnormal d, ...
    body = gaussian_rows(rng, n)
    body[:: len(body) // 8] = np.resize(extremes, len(body[:: len(body) // 8]))
    return np.concatenate([tie_blocks, body])


def test_q8_0_quantize_matches_definition():
    x = activation_inputs(np.random.default_rng(3), q8_0_tie_blocks(), 256 * 40)
    assert_same_bytes(quantize(T.Q8_0, x), q8_0_numpy(x))


def test_q8_0_ties_round_to_even_unlike_ggml():
    """localllm's Q8_0 rounds half to even (what SIMD conversions do); ggml / gguf use roundf."""
    x = q8_0_tie_blocks()
    q = quantize(T.Q8_0, x).reshape(-1, 34)[:, 2:].view(np.int8)
    assert q[0, 1:4].tolist() == [-126, -126, -124]  # -126.5, -125.5, -124.5
    assert not np.array_equal(quantize(T.Q8_0, x), gguf_quantize(x, T.Q8_0).reshape(-1))


def test_q8_0_quantize_nearly_equals_gguf_away_from_ties():
    """gguf scales by 1 / d, llama.cpp's x86 code (and localllm) by 127 / max: the products differ
    in the last bit now and then, which moves a rounding only when x * id is that close to k + .5."""
    x = np.random.default_rng(4).standard_normal(32 * 500).astype(F32)
    ours, theirs = quantize(T.Q8_0, x).reshape(-1, 34), gguf_quantize(x, T.Q8_0).reshape(-1, 34)
    assert_same_bytes(ours[:, :2].reshape(-1), theirs[:, :2])
    differ = ours[:, 2:].view(np.int8).astype(int) - theirs[:, 2:].view(np.int8)
    assert np.abs(differ).max() <= 1 and np.count_nonzero(differ) <= 3


def test_q8_k_quantize_matches_definition():
    x = activation_inputs(np.random.default_rng(5), q8_k_tie_blocks(), 256 * 40)
    got = quantize(T.Q8_K, x)
    assert_same_bytes(got, q8_k_numpy(x))
    q = got.reshape(-1, 292)[:, 4:260].view(np.int8)
    assert q[2, 3] == -127 and q[2, 9] == 127


# ---- quantize_row: the weight types ----


@pytest.mark.parametrize("qtype", (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1), ids=ids)
def test_legacy_quantize_matches_gguf(qtype):
    x = gaussian_rows(np.random.default_rng(int(qtype)), 256 * 64)
    assert_same_bytes(quantize(qtype, x), gguf_quantize(x, qtype))


K_NUMPY = {T.Q2_K: kquant_numpy.q2_K, T.Q3_K: kquant_numpy.q3_K, T.Q4_K: kquant_numpy.q4_K,
           T.Q5_K: kquant_numpy.q5_K, T.Q6_K: kquant_numpy.q6_K}


@pytest.mark.parametrize("qtype", K_TYPES, ids=ids)
def test_k_quantize_matches_numpy_rewrite_of_llama_cpp(qtype):
    """Dequantizing the C quantizer's bytes with gguf gives exactly the values of the numpy rewrite:
    the search, the scale quantization and the bit packing all agree."""
    x = gaussian_rows(np.random.default_rng(10 + int(qtype)), 256 * 96)
    got = reference_dequantize(quantize(qtype, x), qtype)
    expected = K_NUMPY[qtype](x.reshape(-1, 256)).reshape(-1)
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))


# (sub-block size, largest level, affine): the grid each k-quant fits per sub-block
K_GRID = {T.Q2_K: (16, 3, True), T.Q3_K: (16, 4, False), T.Q4_K: (32, 15, True), T.Q5_K: (32, 31, True),
          T.Q6_K: (16, 32, False)}
# measured RMSE / that bound on N(0, 1): Q2_K 0.85, Q3_K 0.98, Q4_K 0.88, Q5_K 0.93, Q6_K 0.92
K_RMSE_SIGMA = {T.Q2_K: 0.30, T.Q3_K: 0.155, T.Q4_K: 0.073, T.Q5_K: 0.037, T.Q6_K: 0.018}


@pytest.mark.parametrize("qtype", K_TYPES, ids=ids)
def test_k_quantize_round_trip_error(qtype):
    """On N(0, 1) data the round-trip RMSE is at most that of plain rounding on each sub-block's
    own min/max grid with exact float scales: step / sqrt(12), step = (max - min(min, 0)) / nmax for
    the affine types and max|x| / nmax for the symmetric ones. The searched fit must beat it even
    after its scales are quantized to 4 / 6 / 8 bits and the super-block scales to fp16. Also below
    the measured values (in units of sigma, with ~2 % margin) so a weaker search shows up."""
    x = np.random.default_rng(20 + int(qtype)).standard_normal(256 * 256).astype(F32)
    rmse = np.sqrt(np.mean((dequantize(qtype, quantize(qtype, x), x.size) - x).astype(np.float64) ** 2))
    sub, nmax, affine = K_GRID[qtype]
    b = x.reshape(-1, sub).astype(np.float64)
    step = (b.max(1) - np.minimum(b.min(1), 0)) / nmax if affine else np.abs(b).max(1) / nmax
    assert rmse <= np.sqrt(np.mean(step**2 / 12))
    assert rmse <= K_RMSE_SIGMA[qtype]


# llama.cpp tests/test-quantize-fns.cpp: data 0.1 + 2 cos(i), n = 4096, error sqrt(sum diff^2) / n
LLAMA_CPP_MAX_ERROR = {T.Q2_K: 0.0075, T.Q3_K: 0.0040}


@pytest.mark.parametrize("qtype", LEGACY_TYPES + K_TYPES + (T.Q8_K,), ids=ids)
def test_llama_cpp_total_quantization_error(qtype):
    n = 4096
    x = (0.1 + 2 * np.cos(np.arange(n, dtype=F32))).astype(F32)
    err = np.sqrt(np.sum((dequantize(qtype, quantize(qtype, x), n) - x).astype(np.float64) ** 2)) / n
    assert err < LLAMA_CPP_MAX_ERROR.get(qtype, 0.002)


# ---- vec_dot ----

# The reference computes the exact dot product of the two rows as their formats define them
# (integer sums per block, block scales and block sum in double) and rounds it to float32 once.
# The oracle is the float64 dot product of the dequantized rows; their float32 rounding (e.g. q4_K's
# d*sc*q - dmin*m, Q8_K's d * q) moves each product by <= 2^-24 |x_i y_i| per side. So
# |ref - oracle| <= 2^-24 |oracle| + 2 * 2^-24 * sum |x_i y_i|: we allow 4 * 2^-24 * sum |x_i y_i|.
VEC_DOT_RTOL = 4 * 2.0**-24


def check_vec_dot(qtype: T, n: int, x: np.ndarray, y: np.ndarray) -> None:
    xd = reference_dequantize(x, qtype).astype(np.float64)
    yd = reference_dequantize(y, VEC_DOT_TYPE[qtype]).astype(np.float64)
    expected, scale = np.dot(xd, yd), np.sum(np.abs(xd * yd))
    got = native.vec_dot(qtype, n, x, y, level=LEVEL)
    assert abs(got - expected) <= VEC_DOT_RTOL * scale, (got, expected, scale)


def row_elements(qtype: T, count: int) -> int:
    return FLOAT_ROW_LENGTHS[count] if qtype in FLOAT_TYPES else count * type_size(qtype)[0]


@pytest.mark.parametrize("qtype", WEIGHT_TYPES, ids=ids)
@pytest.mark.parametrize("count", BLOCK_COUNTS)
def test_vec_dot_random_blocks(qtype, count):
    """Random valid rows on both sides, extreme scales included (float types: 1 to 1000 elements)."""
    rng = np.random.default_rng([int(qtype), count])
    n = row_elements(qtype, count)
    check_vec_dot(qtype, n, random_row(qtype, n, rng), random_row(VEC_DOT_TYPE[qtype], n, rng))


@pytest.mark.parametrize("qtype", WEIGHT_TYPES, ids=ids)
def test_vec_dot_quantized_rows(qtype):
    """Rows made by the reference quantizers, as matmul makes them (including a negative-sum case)."""
    rng = np.random.default_rng(30 + int(qtype))
    n = 256 * 33
    x, y = rng.standard_normal(n).astype(F32), rng.standard_normal(n).astype(F32)
    for y_row in (y, -x + F32(0.01) * y):  # the second nearly cancels
        check_vec_dot(qtype, n, quantize(qtype, x), quantize(VEC_DOT_TYPE[qtype], y_row))


@pytest.mark.parametrize("qtype", LEGACY_TYPES + K_TYPES, ids=ids)
def test_vec_dot_of_zero_row_is_zero(qtype):
    n = type_size(qtype)[0] * 2
    x = quantize(qtype, np.zeros(n, F32))
    y = quantize(VEC_DOT_TYPE[qtype], np.random.default_rng(0).standard_normal(n).astype(F32))
    assert native.vec_dot(qtype, n, x, y, level=LEVEL) == 0.0
