"""Native matmul (ll_matmul, through backend.native.Context) vs numpy float64 on the dequantized weights.

y[t, r] = sum_i w_ri x_ti for every weight type and every kernel level this CPU runs, on odd shapes
(n_out prime or 1, so never a multiple of a chunk or tile size; n_tok from 1 to 67; n_in from one
block to 14336), with 1 and 2 threads, which must agree bit for bit; so must a token computed alone
(decode), in a pair or in a batch (prefill tiles). The thread pool also has a stress test of its own.

Each product is checked against two bounds, derived here (u = 2^-24, float32's unit roundoff):

1. The kernel's own arithmetic. The kernel multiplies W exactly as stored by x~, the row of W's
   vec_dot_type (Q8_0, Q8_K, F16, BF16 or F32) that the activation quantizer makes from x (the same
   kernel-table slot as native.quantize_row). Inside a block the products are summed as exact
   integers (quantized types: |sum| < 2^24) or are exact float products (fp16 x fp16, bf16 x bf16),
   so float rounding only enters when the kernel adds up k scaled block (or sub-block, or min) terms
   t_j, each made with at most 3 roundings. Summed in any order (SIMD lanes, tiles), the classic
   bound is |y - W x~| <= (k + 3) u sum_j |t_j|, and sum_j |t_j| <= M = sum_i (|s_ri| + |m_ri|) |x~_ti|,
   where w = s - m splits a weight into its scaled quant s and its min term m (m = 0 for types
   without mins). k <= n_in / 16 * 2 for quantized types (16-element sub-blocks, scale and min
   terms), k <= n_in for float types. We assert |y - W x~| <= (k + 64) u M.
2. The activation quantization, as the issue asks: |y - W x| <= |y - W x~| + sum_i |w_ri| e_ti with
   e the per-element error of x~:
     Q8_0: d = amax/127 over the 32-element block, q = round_half_even(x/d), stored scale fp16(d):
           |x - fp16(d) q| <= d/2 + 127 |d - fp16(d)|   (about amax/254 plus the scale's rounding,
           at most 0.563 d), + 1e-4 d for the float rounding of x/d;
     Q8_K: d = amax/127 (iscale = -127/max, as llama.cpp), q = min(127, round_half_even(x/d)):
           e <= d/2 = amax/254 (the clip to 127 only matters if float rounding lands past 127.5:
           then e = |x| - 127 d, still about d/2); + 1e-4 d for the float rounding of x * iscale
           and 1/iscale;
     F16 / BF16: round to nearest: e <= 2^-11 |x| / 2^-8 |x| (or half the smallest subnormal step);
     F32: e = 0.
   We assert |y - W x| <= sum_i |w_ri| e_ti + (k + 64) u M.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize as gguf_dequantize

from localllm.backend import native
from localllm.errors import NativeError, UnsupportedQuantError
from quant_blocks import FP16_FIELDS

LEVELS = native.supported_levels()
FLOAT_TYPES = (T.F32, T.F16, T.BF16)
TYPES = FLOAT_TYPES + (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K)
U = 2.0**-24

# Byte offsets of the fp16 fields that hold a block's min (the m of w = s - m); the other fp16
# fields (quant_blocks.FP16_FIELDS) are scales. Everything else in a block is valid whatever its
# bits, so random bytes with these fields set are random valid blocks.
MIN_FIELDS = {T.Q4_1: (2,), T.Q5_1: (2,), T.Q2_K: (82,), T.Q4_K: (2,), T.Q5_K: (2,)}
K_TYPES = (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K)

# (n_out, n_in in blocks of the type (float types: of 32 elements), n_tok)
SMALL_SHAPES = [(1, 1, 1), (7, 1, 2), (41, 2, 2), (37, 1, 67), (13, 3, 5), (61, 3, 1), (33, 3, 17),
                (5, 9, 3), (67, 9, 8), (19, 9, 64), (131, 5, 33), (3, 2, 4)]
# (n_out, n_in, n_tok): the full width of a 7B-class FFN (decode, a few tokens, a ragged batch),
# and the default model's widths
BIG_SHAPES = [(67, 14336, 1), (29, 14336, 3), (11, 14336, 67), (257, 2048, 1), (97, 2048, 19)]


@pytest.fixture(scope="module")
def contexts():
    """{(level, threads): Context}, made once per module."""
    made = {}

    def get(level: str, threads: int) -> native.Context:
        if (level, threads) not in made:
            made[level, threads] = native.Context(threads, level=level)
        return made[level, threads]

    yield get
    for ctx in made.values():
        ctx.close()


def block_size(ggml_type) -> int:
    return GGML_QUANT_SIZES[ggml_type][0]


def random_weights(ggml_type, n_out: int, n_in: int, rng: np.random.Generator) -> np.ndarray:
    """Raw bytes [n_out, row bytes] of random valid rows: float types from normal values, quantized
    types as random bytes whose fp16 scales (random sign) and mins are set to sane magnitudes."""
    if ggml_type == T.F32:
        return rng.standard_normal((n_out, n_in), dtype=np.float32).view(np.uint8)
    if ggml_type == T.F16:
        return rng.standard_normal((n_out, n_in)).astype(np.float16).view(np.uint8)
    if ggml_type == T.BF16:
        bits = rng.standard_normal((n_out, n_in), dtype=np.float32).view(np.uint32) >> 16
        return bits.astype(np.uint16).view(np.uint8)
    block_bytes = GGML_QUANT_SIZES[ggml_type][1]
    n_blocks = n_out * n_in // block_size(ggml_type)
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    magnitude = 0.004 if ggml_type in K_TYPES else 0.1
    mins = MIN_FIELDS.get(ggml_type, ())
    for offset in (f for f in FP16_FIELDS[ggml_type] if f not in mins):
        d = rng.uniform(0.5, 1.5, n_blocks) * rng.choice([-1.0, 1.0], n_blocks) * magnitude
        raw[:, offset : offset + 2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    for offset in mins:
        raw[:, offset : offset + 2] = (rng.uniform(0.0, 1.5, n_blocks) * magnitude).astype(np.float16).view(np.uint8).reshape(-1, 2)
    return raw.reshape(n_out, -1)


def dequantized(ggml_type, raw: np.ndarray, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """(s, m) in float64, [n_out, n_in]: the weights are s - m, m the min terms (0 without mins)."""
    w = gguf_dequantize(raw, ggml_type).reshape(raw.shape[0], n_in).astype(np.float64)
    mins = MIN_FIELDS.get(ggml_type, ())
    if not mins:
        return w, np.zeros_like(w)
    no_mins = raw.reshape(-1, GGML_QUANT_SIZES[ggml_type][1]).copy()
    for offset in mins:
        no_mins[:, offset : offset + 2] = 0
    s = gguf_dequantize(no_mins.reshape(raw.shape), ggml_type).reshape(w.shape).astype(np.float64)
    return s, s - w


def random_activations(n_tok: int, n_in: int, rng: np.random.Generator) -> np.ndarray:
    """Normal values with a random scale per row, a zero block (amax = 0) and an outlier."""
    x = rng.standard_normal((n_tok, n_in), dtype=np.float32) * np.exp(rng.standard_normal((n_tok, 1))).astype(np.float32)
    if n_in >= 512:
        x[0, 256:512] = 0.0
    x[-1, rng.integers(n_in)] *= 50.0
    return x


def activation_row_dequantized(vec_dot_type: int, x: np.ndarray, level: str) -> np.ndarray:
    """x~ in float64: the rows the kernel multiplies, from the native activation quantizer."""
    if vec_dot_type == T.F32:
        return x.astype(np.float64)
    rows = []
    for row in x:
        raw = native.quantize_row(vec_dot_type, row, level=level)
        if vec_dot_type == T.F16:
            rows.append(raw.view(np.float16).astype(np.float64))
        elif vec_dot_type == T.BF16:
            rows.append((raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64))
        elif vec_dot_type == T.Q8_0:
            blocks = raw.reshape(-1, 34)
            d = blocks[:, :2].copy().view(np.float16).astype(np.float64)
            rows.append((d * blocks[:, 2:].view(np.int8)).reshape(-1))
        else:  # Q8_K: float d, 256 int8, 16 int16 sums
            blocks = raw.reshape(-1, 292)
            d = blocks[:, :4].copy().view(np.float32).astype(np.float64)
            rows.append((d * blocks[:, 4:260].view(np.int8)).reshape(-1))
    return np.stack(rows)


def activation_error_bound(vec_dot_type: int, x: np.ndarray) -> np.ndarray:
    """Per-element bound e on |x~ - x| (see the module docstring)."""
    x64 = x.astype(np.float64)
    ax = np.abs(x64)
    if vec_dot_type == T.F32:
        return np.zeros_like(x64)
    if vec_dot_type == T.F16:
        return np.maximum(2.0**-11 * ax, 2.0**-25)
    if vec_dot_type == T.BF16:
        return np.maximum(2.0**-8 * ax, 2.0**-134)
    qk = 32 if vec_dot_type == T.Q8_0 else 256
    blocks = ax.reshape(x.shape[0], -1, qk)
    d = (blocks.max(axis=2, keepdims=True).astype(np.float32) / np.float32(127)).astype(np.float64)
    if vec_dot_type == T.Q8_0:
        e = d / 2 + 127 * np.abs(d - d.astype(np.float16).astype(np.float64)) + np.zeros_like(blocks)
    else:
        e = np.maximum(d / 2, blocks - 127 * d)
    return (e + 1e-4 * d).reshape(x.shape)


def check_matmul(ggml_type, n_out: int, n_in: int, n_tok: int, level: str, contexts, seed: int) -> None:
    rng = np.random.default_rng(seed)
    raw = random_weights(ggml_type, n_out, n_in, rng)
    x = random_activations(n_tok, n_in, rng)
    y1 = contexts(level, 1).matmul(ggml_type, raw, n_out, n_in, x)
    y2 = contexts(level, 2).matmul(ggml_type, raw, n_out, n_in, x)
    assert y1.shape == (n_tok, n_out) and y1.dtype == np.float32
    np.testing.assert_array_equal(y1.view(np.uint32), y2.view(np.uint32), err_msg="1 and 2 threads differ")

    vec_dot_type = native.type_info(ggml_type, level=level)[2]
    s, m = dequantized(ggml_type, raw, n_in)
    w = s - m
    x_q = activation_row_dequantized(vec_dot_type, x, level)
    k = n_in if ggml_type in FLOAT_TYPES else n_in // 16 * 2
    kernel_tol = (k + 64) * U * ((np.abs(x_q) @ (np.abs(s) + np.abs(m)).T))
    kernel_err = np.abs(y1 - x_q @ w.T)
    assert np.all(kernel_err <= kernel_tol), f"kernel error {np.max(kernel_err / kernel_tol):.3g} x its bound"

    quant_tol = activation_error_bound(vec_dot_type, x) @ np.abs(w).T + kernel_tol
    quant_err = np.abs(y1 - x.astype(np.float64) @ w.T)
    assert np.all(quant_err <= quant_tol), f"error {np.max(quant_err / quant_tol):.3g} x the quantization bound"


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("ggml_type", TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("n_out,n_blocks,n_tok", SMALL_SHAPES)
def test_small_shapes(ggml_type, n_out, n_blocks, n_tok, level, contexts):
    n_in = n_blocks * max(block_size(ggml_type), 32)
    check_matmul(ggml_type, n_out, n_in, n_tok, level, contexts, seed=n_out * 1000 + n_blocks * 100 + n_tok)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("ggml_type", TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("n_out,n_in,n_tok", BIG_SHAPES)
def test_big_shapes(ggml_type, n_out, n_in, n_tok, level, contexts):
    check_matmul(ggml_type, n_out, n_in, n_tok, level, contexts, seed=n_out + n_in + n_tok)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("ggml_type", (T.Q4_0, T.Q5_0, T.Q8_0, T.F16), ids=lambda t: t.name)
def test_default_model_width(ggml_type, level, contexts):
    """640 = the default model's embedding width: 20 legacy blocks, not a whole K super-block."""
    check_matmul(ggml_type, 41, 640, 9, level, contexts, seed=640)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("ggml_type", TYPES, ids=lambda t: t.name)
def test_batching_does_not_change_bits(ggml_type, level, contexts):
    """A token's row of y has the same bits whether it is decoded alone, in a pair or in a batch
    (prefill tiles and decode paths do the same arithmetic per row and token): a model evaluated
    token by token or a prompt at a time agrees exactly (models amplify 1e-7 differences)."""
    n_in = 2 * max(block_size(ggml_type), 256)
    rng = np.random.default_rng(9)
    raw = random_weights(ggml_type, 45, n_in, rng)  # 5 panels of 8 rows + a partial one
    x = random_activations(35, n_in, rng)           # 32 + 3 tokens: two column tiles
    ctx = contexts(level, 2)
    batch = ctx.matmul(ggml_type, raw, 45, n_in, x)
    pairs = np.concatenate([ctx.matmul(ggml_type, raw, 45, n_in, x[i : i + 2]) for i in range(0, 34, 2)])
    alone = np.stack([ctx.matmul(ggml_type, raw, 45, n_in, row) for row in x])
    np.testing.assert_array_equal(alone.view(np.uint32), batch.view(np.uint32))
    np.testing.assert_array_equal(pairs.view(np.uint32), batch[:34].view(np.uint32))


X86_SIMD_LEVELS = [level for level in ("avx2", "avx512") if level in LEVELS]
QUANT_TYPES = tuple(t for t in TYPES if t not in FLOAT_TYPES)


@pytest.mark.skipif(len(X86_SIMD_LEVELS) < 2, reason="needs a CPU that runs both avx2 and avx512")
@pytest.mark.parametrize("ggml_type", QUANT_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("n_out,n_in,n_tok", [(131, 2048, 1), (131, 2048, 2), (131, 2048, 3), (77, 512, 70),
                                              (200, 1536, 129), (5, 256, 33)])
def test_avx512_tiles_give_the_avx2_bits(ggml_type, n_out, n_in, n_tok, contexts):
    """The AVX-512 decode paths and prefill tiles compute the AVX2 tiles' integer sums and float
    operations in the same order: the same bits on both levels, for every tile shape."""
    rng = np.random.default_rng(n_out + n_in + n_tok)
    raw = random_weights(ggml_type, n_out, n_in, rng)
    x = random_activations(n_tok, n_in, rng)
    avx2 = contexts("avx2", 2).matmul(ggml_type, raw, n_out, n_in, x)
    avx512 = contexts("avx512", 2).matmul(ggml_type, raw, n_out, n_in, x)
    np.testing.assert_array_equal(avx512.view(np.uint32), avx2.view(np.uint32))


@pytest.mark.skipif(len(X86_SIMD_LEVELS) < 2, reason="needs a CPU that runs both avx2 and avx512")
@pytest.mark.parametrize("ggml_type", FLOAT_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("n_out,n_in,n_tok", [(131, 384, 1), (131, 384, 2), (77, 203, 70), (200, 1536, 129),
                                              (5, 40, 33), (3, 7, 4), (66, 31, 5)])
def test_avx512_float_tiles_give_the_avx2_bits(ggml_type, n_out, n_in, n_tok, contexts):
    """The AVX-512 float tiles keep the AVX2 vec_dot's accumulator lanes and final sum order, over
    32-element steps, 8-element steps and a scalar tail (n_in 203 = 6 x 32 + 8 + 3)."""
    rng = np.random.default_rng(n_out + n_in + n_tok)
    raw = random_weights(ggml_type, n_out, n_in, rng)
    x = random_activations(n_tok, n_in, rng)
    avx2 = contexts("avx2", 2).matmul(ggml_type, raw, n_out, n_in, x)
    avx512 = contexts("avx512", 2).matmul(ggml_type, raw, n_out, n_in, x)
    np.testing.assert_array_equal(avx512.view(np.uint32), avx2.view(np.uint32))


@pytest.mark.parametrize("level", LEVELS)
def test_more_threads_than_cores_and_rows(level):
    """Oversubscribed pools (threads sleep after spinning) give the same bits as one thread."""
    rng = np.random.default_rng(5)
    raw = random_weights(T.Q8_0, 3, 64, rng)
    x = random_activations(7, 64, rng)
    with native.Context(1, level=level) as one, native.Context(5, level=level) as five:
        for n_tok in (1, 7):
            expected = one.matmul(T.Q8_0, raw, 3, 64, x[:n_tok])
            np.testing.assert_array_equal(five.matmul(T.Q8_0, raw, 3, 64, x[:n_tok]), expected)


@pytest.mark.parametrize("level", LEVELS)
def test_many_calls_reuse_the_pool(level):
    """Back-to-back calls (the decode loop) wake the same workers every time; none is lost."""
    rng = np.random.default_rng(6)
    raw = random_weights(T.Q8_0, 9, 96, rng)
    x = random_activations(2, 96, rng)
    with native.Context(2, level=level) as ctx:
        batch = ctx.matmul(T.Q8_0, raw, 9, 96, x)  # prefill path
        rows = [ctx.matmul(T.Q8_0, raw, 9, 96, x[j]) for j in range(2)]  # decode path
        for i in range(3000):
            if i % 3:
                np.testing.assert_array_equal(ctx.matmul(T.Q8_0, raw, 9, 96, x[i % 2]), rows[i % 2])
            else:
                np.testing.assert_array_equal(ctx.matmul(T.Q8_0, raw, 9, 96, x), batch)


def test_python_threads_share_a_context():
    """Calls from several Python threads at once are serialized in C and all correct."""
    rng = np.random.default_rng(7)
    raw = random_weights(T.Q8_0, 33, 256, rng)
    xs = [random_activations(n, 256, rng) for n in (1, 2, 5, 8)]
    errors = []
    with native.Context(2) as ctx:
        expected = [ctx.matmul(T.Q8_0, raw, 33, 256, x) for x in xs]

        def hammer(j: int) -> None:
            for _ in range(200):
                if not np.array_equal(ctx.matmul(T.Q8_0, raw, 33, 256, xs[j]), expected[j]):
                    errors.append(j)

        threads = [threading.Thread(target=hammer, args=(j,)) for j in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors


def test_contexts_come_and_go():
    for _ in range(100):
        with native.Context(2) as ctx:
            assert ctx.threads == 2
    assert "closed" in repr(ctx)
    with pytest.raises(ValueError, match="closed"):
        ctx.matmul(T.F32, np.zeros(4, np.float32), 1, 1, np.zeros((1, 1), np.float32))


def test_empty_shapes():
    with native.Context(2) as ctx:
        assert ctx.matmul(T.Q8_0, np.zeros(0, np.uint8), 0, 32, np.ones((3, 32), np.float32)).shape == (3, 0)
        assert ctx.matmul(T.Q8_0, np.zeros(34, np.uint8), 1, 32, np.ones((0, 32), np.float32)).shape == (0, 1)


def test_vector_in_vector_out():
    rng = np.random.default_rng(8)
    raw = random_weights(T.F32, 4, 8, rng)
    x = rng.standard_normal(8, dtype=np.float32)
    with native.Context(1) as ctx:
        y = ctx.matmul(T.F32, raw, 4, 8, x)
    assert y.shape == (4,)
    np.testing.assert_allclose(y, raw.view(np.float32).reshape(4, 8) @ x, rtol=1e-5)


def test_bad_arguments_are_typed():
    with native.Context(1) as ctx:
        with pytest.raises(UnsupportedQuantError):
            ctx.matmul(T.IQ2_XXS, np.zeros(66, np.uint8), 1, 256, np.zeros(256, np.float32))
        with pytest.raises(ValueError, match="whole number"):
            ctx.matmul(T.Q8_0, np.zeros(68, np.uint8), 1, 48, np.zeros(48, np.float32))
        with pytest.raises(ValueError, match="bytes"):
            ctx.matmul(T.Q8_0, np.zeros(33, np.uint8), 1, 32, np.zeros(32, np.float32))
        with pytest.raises(ValueError, match=r"x must be"):
            ctx.matmul(T.Q8_0, np.zeros(34, np.uint8), 1, 32, np.zeros(31, np.float32))
    for threads in (0, -1, 257):
        with pytest.raises(ValueError, match="threads"):
            native.Context(threads)


def test_c_entry_points_return_status_codes():
    """The C API refuses bad input with a status, never a crash (NULLs, sizes, thread counts)."""
    nat = native.load()
    ffi, lib = nat.ffi, nat.lib
    out = ffi.new("ll_ctx **")
    assert lib.ll_ctx_new(0, out) == lib.LL_ERR_INVALID_ARG and out[0] == ffi.NULL
    assert lib.ll_ctx_new(1, ffi.NULL) == lib.LL_ERR_INVALID_ARG
    assert lib.ll_ctx_new(2, out) == lib.LL_OK
    ctx = out[0]
    x = ffi.new("float[32]")
    y = ffi.new("float[4]")
    w = ffi.new("uint8_t[136]")
    try:
        assert lib.ll_matmul(ffi.NULL, T.Q8_0, w, 4, 32, x, 1, y) == lib.LL_ERR_INVALID_ARG
        assert lib.ll_matmul(ctx, T.Q8_0, ffi.NULL, 4, 32, x, 1, y) == lib.LL_ERR_INVALID_ARG
        assert lib.ll_matmul(ctx, T.Q8_0, w, 4, 33, x, 1, y) == lib.LL_ERR_INVALID_ARG
        assert lib.ll_matmul(ctx, T.Q8_0, w, -1, 32, x, 1, y) == lib.LL_ERR_INVALID_ARG
        assert lib.ll_matmul(ctx, T.Q8_0, w, 4, 32, x, -1, y) == lib.LL_ERR_INVALID_ARG
        assert lib.ll_matmul(ctx, T.Q8_0, w, 1 << 60, 32, x, 1, y) == lib.LL_ERR_INVALID_ARG
        assert lib.ll_matmul(ctx, 999, w, 4, 32, x, 1, y) == lib.LL_ERR_UNSUPPORTED
        assert lib.ll_matmul(ctx, T.Q8_0, w, 4, 32, x, 1, y) == lib.LL_OK
        assert lib.ll_bench_read(ctx, ffi.NULL, 8, ffi.new("uint64_t *")) == lib.LL_ERR_INVALID_ARG
    finally:
        lib.ll_ctx_free(ctx)
    lib.ll_ctx_free(ffi.NULL)
    assert lib.ll_ctx_n_threads(ffi.NULL) == 0


def test_read_probe_reads_every_byte():
    buf = np.arange(3 * 256 * 1024 + 77, dtype=np.uint64).astype(np.uint8)  # chunks + ragged tail
    whole = buf.size // 128 * 128  # summed as 64-bit words, the rest byte by byte
    expected = (int(buf[:whole].view(np.uint64).sum(dtype=np.uint64)) + int(buf[whole:].sum())) % 2**64
    with native.Context(2) as ctx:
        assert ctx.read_bandwidth_probe(buf) == expected


def test_native_errors_are_typed():
    """A status the Python side cannot pre-check still arrives as NativeError."""
    nat = native.load()
    with pytest.raises(NativeError, match="invalid argument"):
        native.check(nat, nat.lib.LL_ERR_INVALID_ARG)


def test_thread_pool_stress(tmp_path):
    """native/threadpool.c on its own (tests/native/threadpool_driver.c, built with the host C
    compiler): jobs of several barrier-separated phases on 1, 2, 3, 4 and 8 threads (more than this
    machine's cores, so the sleep path runs too); every work item claimed exactly once per phase,
    no thread let through a barrier early, bad pool sizes refused."""
    root = Path(__file__).resolve().parent.parent
    exe = tmp_path / "threadpool_driver"
    build = [os.environ.get("CC", "cc"), "-O2", "-std=gnu11", "-pthread", "-Wall", "-Werror",
             "-I", str(root / "native"), "-I", str(root / "native" / "include"),
             str(root / "tests" / "native" / "threadpool_driver.c"), "-o", str(exe)]
    subprocess.run(build, check=True, capture_output=True, text=True, timeout=120)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr
