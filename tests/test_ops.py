"""The native ops and attention vs numpy float64, through real programs (DESIGN.md, tests layer 2).

Each test writes a tiny GGUF of F32 tables (tests/program_harness.py), builds ops with
`GraphBuilder`, runs them with `NativeModel(program=...)` and reads the result back exactly
through an identity F32 output matmul. The references below are written from the definitions
(RMSNorm, LayerNorm, RoPE, tanh-GELU, SiLU, softmax attention), in float64, not from the C code.

Bounds (u = 2^-24, float32's unit roundoff; u16 = 2^-11, float16's):
- rms_norm, silu, add/mul/scale/add_bias: a few roundings per value: |err| <= 8u |ref|
  (add/mul/scale/add_bias are one correctly rounded float op, so they must also equal numpy
  float32 bit for bit).
- layer_norm: 8u (|ref - b| + |b|) + 4u |mean| |w| / std (the mean is rounded before it is subtracted).
- RoPE: theta_i = p * base^(-2i/d) is stepped in float32 by i multiplications with a rounded ratio,
  so the angle is off by up to (i (|ln ratio| + 2) + 3) u |angle|; with sin/cos and the
  rotation: |err| <= (|x0| + |x1|) ((i (|ln ratio| + 2) + 3) u |angle| + 4u). It grows with the
  position, as in ggml (float32 angles).
- GELU: the C (like ggml) looks gelu up in a table indexed by the fp16 value of x, holding fp16
  outputs: llama.cpp's logits are only matched with the same rounding. So the error is that of
  two fp16 roundings: |err| <= |up| ((1.13 u16 + 8u) |x| + 1.01 u16 |gelu(x)| + 2^-23) (1.13 =
  max |gelu'|); every gelu value with |x| < 10 is an fp16 number, and nearly always the one
  nearest to gelu(fp16(x)) (which tells the tanh form from the erf form, 0.2 steps apart).
- softcap: cap tanh(x / cap): |err| <= 4u |ref| + u |x|.
- attention: see `attention_reference`: f32 arithmetic (scores, exp, online sums) plus, for f16 /
  q8_0 caches, the storage rounding of K and V (and of q, which the per-cell path converts to K's
  dot-product type), and for f16 V on the per-cell path the fp16 accumulator that ggml uses.
"""

from __future__ import annotations

import math
import re
import zlib

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize as gguf_dequantize

from localllm.backend import native
from localllm.backend.program import Aborted
from localllm.errors import ContextLengthExceeded, NativeError
from localllm.models.base import BUF_LOGITS, OP, ROPE_NEOX, ROPE_NORMAL
from program_harness import U, U16, OpProgram, Quantized, attention_program

TILED_ROWS = 64  # batches of at least this many rows take attention.c's 64-cell-tile path


def rng_for(*key) -> np.random.Generator:
    """A generator seeded from the test's parameters (stable across runs and processes)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


STATS: dict[str, tuple[float, float]] = {}  # per check: largest err / bound, largest err (printed with -s)


def assert_within(got, ref, bound, what: str) -> float:
    """|got - ref| <= bound elementwise; returns the largest err / bound (recorded for the report)."""
    got, ref, bound = f64(got), f64(ref), f64(bound)
    assert np.all(np.isfinite(got)), f"{what}: non-finite output"
    err = np.abs(got - ref)
    bad = err > bound
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err - bound, -np.inf)), err.shape)
        raise AssertionError(f"{what}: {int(bad.sum())} values out of bound; worst at {i}: got {got[i]!r}, "
                             f"ref {ref[i]!r}, err {err[i]:.3g} > bound {bound[i]:.3g}")
    ratio = float(np.max(err / np.maximum(bound, 1e-300)))
    key = what.split("[")[0]
    old = STATS.get(key, (0.0, 0.0))
    STATS[key] = (max(old[0], ratio), max(old[1], float(err.max())))
    return ratio


# ---------------------------------------------------------------------------------------------
# numpy float64 references


def rms_norm_ref(x, w, group, eps):
    x = f64(x)
    g = x.reshape(x.shape[0], -1, group)
    y = g / np.sqrt(np.mean(g * g, axis=-1, keepdims=True) + eps)
    return (y * (1.0 if w is None else f64(w))).reshape(x.shape)


def rope_ref(x, pos, n_head, hd, *, mode, base, freq_scale=1.0, freq_factors=None):
    """RoPE from its definition: pair i of each head turns by freq_scale * p * base^(-2i/hd) / ff_i."""
    x = f64(x).copy()
    half = hd // 2
    i = np.arange(half)
    inv_freq = f64(np.float32(base)) ** (-2.0 * i / hd)
    if freq_factors is not None:
        inv_freq = inv_freq / f64(freq_factors)
    angle = f64(np.float32(freq_scale)) * f64(pos)[:, None] * inv_freq[None, :]      # [rows, half]
    c, s = np.cos(angle), np.sin(angle)
    for h in range(n_head):
        head = x[:, h * hd:(h + 1) * hd]
        a, b = (i, i + half) if mode == ROPE_NEOX else (2 * i, 2 * i + 1)
        x0, x1 = head[:, a].copy(), head[:, b].copy()
        head[:, a] = x0 * c - x1 * s
        head[:, b] = x0 * s + x1 * c
    return x, angle


def rope_pairs(x, n_head, hd, mode):
    """|x0| + |x1| of the pair each value belongs to (float64, x's shape)."""
    x = np.abs(f64(x))
    half = hd // 2
    i = np.arange(half)
    mag = np.zeros_like(x)
    for h in range(n_head):
        a, b = (i, i + half) if mode == ROPE_NEOX else (2 * i, 2 * i + 1)
        mag[:, h * hd + a] = mag[:, h * hd + b] = x[:, h * hd + a] + x[:, h * hd + b]
    return mag


def rope_bound(x, angle, n_head, hd, *, mode, base):
    """Per value: (|x0| + |x1|) ((i (|ln ratio| + 2) + 3) u |angle_i| + 4u) (see the module doc)."""
    i = np.arange(hd // 2)
    ln_ratio = abs(2.0 * math.log(float(np.float32(base))) / hd)
    per_pair = (i * (ln_ratio + 2) + 3)[None, :] * U * np.abs(angle) + 4 * U        # [rows, half]
    per_value = np.zeros((angle.shape[0], hd))
    if mode == ROPE_NEOX:
        per_value[:, :hd // 2] = per_value[:, hd // 2:] = per_pair
    else:
        per_value[:, 0::2] = per_value[:, 1::2] = per_pair
    return rope_pairs(x, n_head, hd, mode) * np.tile(per_value, (1, n_head))


def gelu_ref(x):
    x = f64(x)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def silu_ref(x):
    x = f64(x)
    return x / (1.0 + np.exp(-x))


# ---------------------------------------------------------------------------------------------
# Row ops


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("per_head,weighted", [(False, True), (True, True), (False, False), (True, False)])
def test_rms_norm(tmp_path, seed, per_head, weighted):
    rng = rng_for("rms", seed, per_head, weighted)
    group = int(rng.choice([32, 64, 96, 128, 256]))
    n_head = int(rng.integers(2, 6)) if per_head else 1
    width = group * n_head if per_head else int(rng.integers(1, 300))
    group = group if per_head else width
    rows = int(rng.integers(1, 20))
    x = (rng.standard_normal((rows, width)) * 10.0 ** rng.uniform(-3, 3, (rows, 1))).astype(np.float32)
    w = (rng.standard_normal(group) + 1).astype(np.float32)
    eps = float(np.float32(1e-6))
    prog = OpProgram(tmp_path, {"x": x}, weights={"norm_w": w}, out_widths=[width])
    g = prog.g
    xb = g.get_rows("x", "x", width)
    g.rms_norm(xb, xb, eps, "norm_w" if weighted else None, group=group if per_head else None)  # in place
    prog.finish([xb])
    (y,) = prog.model(n_batch=rows).run(range(rows))
    ref = rms_norm_ref(x, w if weighted else None, group, eps)
    assert_within(y, ref, 8 * U * np.abs(ref), f"rms_norm[group={group}]")


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(tmp_path, seed, affine):
    rng = rng_for("ln", seed, affine)
    width, rows = int(rng.integers(2, 400)), int(rng.integers(1, 20))
    x = (rng.standard_normal((rows, width)) + rng.uniform(-50, 50, (rows, 1))).astype(np.float32)
    w = rng.standard_normal(width).astype(np.float32)
    b = rng.standard_normal(width).astype(np.float32)
    eps = float(np.float32(1e-5))
    prog = OpProgram(tmp_path, {"x": x}, weights={"ln_w": w, "ln_b": b}, out_widths=[width])
    g = prog.g
    xb = g.get_rows("x", "x", width)
    y = g.buffer("y", width)
    g.layer_norm(xb, y, eps, "ln_w" if affine else None, "ln_b" if affine else None)
    prog.finish([y])
    (got,) = prog.model(n_batch=rows).run(range(rows))
    xd = f64(x)
    mean = xd.mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(((xd - mean) ** 2).mean(axis=1, keepdims=True) + eps)
    wd, bd = (f64(w), f64(b)) if affine else (1.0, 0.0)
    core = (xd - mean) * inv_std * wd
    ref = core + bd
    bound = 8 * U * (np.abs(core) + np.abs(bd)) + 4 * U * np.abs(mean) * inv_std * np.abs(wd)
    assert_within(got, ref, bound, "layer_norm")


ROPE_CASES = [  # (mode, head_dim, n_head, base, freq_scale, freq_factors, largest position)
    (ROPE_NORMAL, 64, 4, 10000.0, 1.0, False, 4096),
    (ROPE_NEOX, 64, 4, 10000.0, 1.0, False, 4096),
    (ROPE_NEOX, 128, 2, 1000000.0, 1.0, False, 40000),
    (ROPE_NORMAL, 128, 3, 500000.0, 1.0, True, 131072),    # llama3-style frequency factors
    (ROPE_NEOX, 256, 1, 10000.0, 0.125, False, 32768),     # linear scaling (gemma3 global layers)
    (ROPE_NORMAL, 96, 2, 10000.0, 1.0 / 3.0, True, 2048),  # a head dim whose ratio is not exact
    (ROPE_NEOX, 80, 3, 1000000.0, 0.25, True, 100),
]


@pytest.mark.parametrize("case", ROPE_CASES, ids=lambda c: f"{'neox' if c[0] else 'normal'}-hd{c[1]}-fs{c[4]:.3g}-ff{int(c[5])}")
def test_rope(tmp_path, case):
    mode, hd, n_head, base, freq_scale, with_factors, p_max = case
    rng = rng_for("rope", *case)
    rows = 24
    x = rng.standard_normal((rows, n_head * hd)).astype(np.float32)
    pos = np.concatenate([[0, 1, 2, p_max], rng.integers(0, p_max + 1, rows - 4)]).astype(np.int32)
    rng.shuffle(pos)
    ff = rng.uniform(1.0, 8.0, hd // 2).astype(np.float32) if with_factors else None
    prog = OpProgram(tmp_path, {"x": x}, out_widths=[n_head * hd])
    g = prog.g
    xb = g.get_rows("x", "x", n_head * hd)
    g.rope(xb, n_head, hd, base=base, mode=mode, freq_scale=freq_scale, freq_factors=ff)
    prog.finish([xb])
    (y,) = prog.model(n_batch=rows).run(range(rows), pos)
    ref, angle = rope_ref(x, pos, n_head, hd, mode=mode, base=base, freq_scale=freq_scale, freq_factors=ff)
    bound = rope_bound(x, angle, n_head, hd, mode=mode, base=base)
    assert_within(y, ref, bound, "rope")
    # position 0 is the identity, exactly
    assert np.array_equal(y[pos == 0], x[pos == 0])
    # a rotation keeps every row's norm
    assert np.allclose(np.linalg.norm(f64(y), axis=1), np.linalg.norm(f64(x), axis=1), rtol=1e-5)


@pytest.mark.parametrize("with_up", [True, False])
def test_gelu_mul(tmp_path, with_up):
    rng = rng_for("gelu", with_up)
    rows, width = 16, 384
    x = np.concatenate([rng.uniform(-12, 12, (rows // 2, width)), rng.standard_normal((rows // 2, width)) *
                        10.0 ** rng.uniform(-6, 0.5, (rows // 2, width))]).astype(np.float32)
    x[0, :8] = [-10.0, 10.0, -9.999, 9.999, 0.0, -0.0, 6e-5, -3e-8]
    up = rng.standard_normal((rows, width)).astype(np.float32)
    prog = OpProgram(tmp_path, {"gate": x, "up": up}, out_widths=[width])
    g = prog.g
    gate = g.get_rows("gate", "gate", width)
    upb = g.get_rows("up", "up", width) if with_up else None
    g.gated("gelu_mul", gate, upb, gate)
    prog.finish([gate])
    (y,) = prog.model(n_batch=rows).run(range(rows))
    up_d = f64(up) if with_up else 1.0
    ref = gelu_ref(x) * up_d
    bound = np.abs(up_d) * ((1.13 * U16 + 8 * U) * np.abs(f64(x)) + 1.01 * U16 * np.abs(gelu_ref(x)) + 2.0**-23)
    bound += U * np.abs(ref)
    assert_within(y, ref, bound, "gelu_mul")
    if not with_up:  # the fp16 table (ggml's): gelu(x) = fp16(gelu(fp16(x))) for |x| < 10, else x or 0
        inside = np.abs(x) < 10
        model = gelu_ref(x.astype(np.float16)).astype(np.float16)     # fp16 RNE of the float64 value
        assert np.array_equal(y[inside], y[inside].astype(np.float16).astype(np.float32))
        assert np.array_equal(y[x >= 10], x[x >= 10]) and np.all(y[x <= -10] == 0)
        # The C evaluates gelu in float32 before rounding, so its fp16 differs from this model where the
        # float32 value lands on the other side of a rounding midpoint: among fp16 subnormals
        # (|x| < 2^-14, gelu(x) ~ x / 2 sits on a tie) and for x < -3, where 1 + tanh cancels in
        # float32 (absolute error ~ u |x|, as in ggml). Elsewhere it is rare; the erf form of GELU
        # would differ on ~12 % of those values.
        differ = inside & (y != model.astype(np.float32))
        step = np.abs(np.spacing(model)).astype(np.float64)
        assert np.all((np.abs(f64(y) - f64(model)) <= step + 8 * U * np.abs(f64(x)))[differ])
        plain = inside & (np.abs(x) >= 2.0**-14) & (x >= -3)
        assert (differ & plain).sum() <= 0.002 * plain.sum(), (differ & plain).sum()


@pytest.mark.parametrize("with_up", [True, False])
def test_silu_mul(tmp_path, with_up):
    rng = rng_for("silu", with_up)
    rows, width = 12, 256
    x = (rng.standard_normal((rows, width)) * 10.0 ** rng.uniform(-4, 1.5, (rows, width))).astype(np.float32)
    x[0, :4] = [-100.0, 100.0, 0.0, -88.0]
    up = rng.standard_normal((rows, width)).astype(np.float32)
    prog = OpProgram(tmp_path, {"gate": x, "up": up}, out_widths=[width])
    g = prog.g
    gate = g.get_rows("gate", "gate", width)
    out = g.buffer("out", width)
    g.gated("silu_mul", gate, g.get_rows("up", "up", width) if with_up else None, out)
    prog.finish([out])
    (y,) = prog.model(n_batch=rows).run(range(rows))
    ref = silu_ref(x) * (f64(up) if with_up else 1.0)
    assert_within(y, ref, 8 * U * np.abs(ref) + 1e-36, "silu_mul")


def test_binary_and_scale(tmp_path):
    rng = rng_for("binary")
    rows, width = 9, 200
    a = (rng.standard_normal((rows, width)) * 1e3).astype(np.float32)
    b = (rng.standard_normal((rows, width)) * 1e-2).astype(np.float32)
    factor = 0.1234567
    bias = rng.standard_normal(width).astype(np.float32)
    prog = OpProgram(tmp_path, {"a": a, "b": b}, weights={"bias": bias}, out_widths=[width] * 4)
    g = prog.g
    ab, bb = g.get_rows("a", "a", width), g.get_rows("b", "b", width)
    s, p = g.buffer("sum", width), g.buffer("prod", width)
    g.binary("add", ab, bb, s)
    g.binary("mul", ab, bb, p)
    g.add_bias("bias", bb)
    g.scale(ab, factor)
    prog.finish([s, p, ab, bb])
    got_sum, got_prod, got_scaled, got_biased = prog.model(n_batch=rows).run(range(rows))
    f = np.float32(factor)
    # one correctly rounded float32 op each: numpy float32 exactly, and within u |ref| of float64
    assert np.array_equal(got_sum, a + b) and np.array_equal(got_prod, a * b) and np.array_equal(got_scaled, a * f)
    assert np.array_equal(got_biased, b + bias)
    for got, ref in ((got_sum, f64(a) + f64(b)), (got_prod, f64(a) * f64(b)), (got_scaled, f64(a) * f64(f)),
                     (got_biased, f64(b) + f64(bias))):
        assert_within(got, ref, U * np.abs(ref), "add/mul/scale/add_bias")


@pytest.mark.parametrize("cap", [30.0, 2.5])
def test_softcap_output(tmp_path, cap):
    rng = rng_for("softcap", cap)
    rows, width = 7, 100
    x = (rng.standard_normal((rows, width)) * cap * 2).astype(np.float32)
    prog = OpProgram(tmp_path, {"x": x}, out_widths=[width])
    xb = prog.g.get_rows("x", "x", width)
    prog.finish([xb], softcap=cap)             # GraphBuilder.output(..., softcap=) caps the logits
    (y,) = prog.model(n_batch=rows).run(range(rows))
    ref = cap * np.tanh(f64(x) / cap)
    assert_within(y, ref, 4 * U * np.abs(ref) + U * np.abs(f64(x)), "softcap")
    assert np.all(np.abs(y) <= cap)


@pytest.mark.parametrize("qtype", [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_K, T.Q6_K])
def test_get_rows_and_logit_rows(tmp_path, qtype):
    """get_rows from a quantized table equals gguf's numpy dequantizer; LOGIT_ROWS picks rows."""
    rng = rng_for("getrows", int(qtype))
    n_vocab, width = 40, 256
    table = rng.standard_normal((n_vocab, width)).astype(np.float32)
    prog = OpProgram(tmp_path, {"emb": table if qtype == T.F32 else Quantized(qtype, table)}, out_widths=[width])
    xb = prog.g.get_rows("emb", "x", width)
    prog.finish([xb])
    runner = prog.model(n_ctx=8, n_batch=8)
    tokens = rng.integers(0, n_vocab, 8)
    stored = table if qtype == T.F32 else gguf_dequantize(prog.gguf.tensor("emb").rows(), qtype)
    (y,) = runner.run(tokens, rows=np.array([0, 3, 7]))
    # dequantization is d * q (- m): a product or two of float32, exact up to the order of the two
    assert_within(y, stored[tokens[[0, 3, 7]]], 2 * U * np.abs(stored[tokens[[0, 3, 7]]]) + 1e-30, "get_rows")
    assert y.shape == (3, width)


# ---------------------------------------------------------------------------------------------
# Attention


def kv_stored(x, kv_type: str) -> np.ndarray:
    """What the cache holds for rows x (float64): f32 as is, f16 rounded (numpy's RNE, as the C's),
    q8_0 quantized by the native quantizer of this kernel level and dequantized by gguf's numpy."""
    x = np.asarray(x, np.float32)
    if kv_type == "f32":
        return f64(x)
    if kv_type == "f16":
        return f64(x.astype(np.float16))
    raw = native.quantize_row(T.Q8_0, x.reshape(-1))
    return f64(gguf_dequantize(raw.reshape(x.shape[0], -1), T.Q8_0)).reshape(x.shape)


def kv_storage_error(x, kv_type: str) -> np.ndarray:
    """A priori bound on |stored - x| per value: fp16 rounding, or q8_0's d/2 + 127 |d - fp16(d)|."""
    x = f64(x)
    if kv_type == "f32":
        return np.zeros_like(x)
    if kv_type == "f16":
        return U16 * np.abs(x) + 2.0**-25
    amax = np.abs(x.reshape(x.shape[0], -1, 32)).max(axis=-1, keepdims=True)
    d = amax / 127.0
    return np.broadcast_to(d * (0.5 + 127 * U16) + 1e-4 * d, x.reshape(x.shape[0], -1, 32).shape).reshape(x.shape)


def attention_reference(q, k, v, *, qpos, qseq, n_keys, kpos, kseq, n_head, n_head_kv, scale, softcap=0.0,
                        causal=True, window=0, type_k="f32", type_v="f32", tiled=None):
    """softmax(q k^T * scale [softcapped], masked) v in float64, and bounds for the native result.

    q: [rows, n_head*hd]; k, v: [cells, n_head_kv*hd(_v)] in cache order with kpos/kseq; row i sees
    the first n_keys[i] cells (the cache after its batch was stored). tiled[i]: row i ran in a
    batch of >= 64 rows (f32 query and accumulator) rather than the per-cell path (query in K's
    dot type; fp16 accumulator when V is f16).

    Returns (ref, bound, ref_stored, bound_stored, tight): the exact attention of the float32
    inputs with an a-priori bound, the attention of what the cache stores (q as the kernel sees it)
    with the worst-case bound of the f32 arithmetic (+ the fp16 accumulator) alone, and `tight`,
    the f32 arithmetic's error if its roundings add up like a random walk (sqrt(hd) and sqrt(n)
    instead of hd and n, no factor 4): what the f32 cache is held to.
    """
    rows = q.shape[0]
    hd = q.shape[1] // n_head
    hd_v = v.shape[1] // n_head_kv
    tiled = np.zeros(rows, bool) if tiled is None else np.asarray(tiled)
    k_st, v_st = kv_stored(k, type_k), kv_stored(v, type_v)
    dk, dv = kv_storage_error(k, type_k), kv_storage_error(v, type_v)
    q_cell = kv_stored(q, type_k)            # the per-cell path converts q to K's vec_dot type
    dq_cell = kv_storage_error(q, type_k)
    qd, kd, vd = f64(q), f64(k), f64(v)
    ref = np.zeros((rows, n_head * hd_v))
    ref_st, bound, bound_st, tight = np.zeros_like(ref), np.zeros_like(ref), np.zeros_like(ref), np.zeros_like(ref)
    group = n_head // n_head_kv
    for i in range(rows):
        nk = int(n_keys[i])
        vis = kseq[:nk] == qseq[i]
        if causal:
            vis &= kpos[:nk] <= qpos[i]
        if window:
            vis &= qpos[i] - kpos[:nk] < window
        idx = np.nonzero(vis)[0]
        assert idx.size, "every query must see at least one key"
        for h in range(n_head):
            kh = h // group
            ks, vs = slice(kh * hd, (kh + 1) * hd), slice(kh * hd_v, (kh + 1) * hd_v)
            os_ = slice(h * hd_v, (h + 1) * hd_v)
            qi = qd[i, h * hd:(h + 1) * hd]
            qk = q_cell[i, h * hd:(h + 1) * hd] if not tiled[i] else qi
            dqk = dq_cell[i, h * hd:(h + 1) * hd] if not tiled[i] else np.zeros(hd)

            def probs(qq, kk):
                s = kk[idx, ks] @ qq * scale
                if softcap:
                    s = softcap * np.tanh(s / softcap)
                e = np.exp(s - s.max())
                return e / e.sum(), s

            p, s = probs(qi, kd)
            p_st, s_st = probs(qk, k_st)
            ref[i, os_] = p @ vd[idx, vs]
            o_st = p_st @ v_st[idx, vs]
            ref_st[i, os_] = o_st
            # f32 arithmetic: each score is a dot of hd products (+ scale, softcap): relative errors
            # of (hd + 4) u on sum |q k|; exp adds 2u and |s| terms; the online sums add (n + 8) u.
            a = scale * (np.abs(k_st[idx, ks]) @ np.abs(qk)).max()
            m = np.abs(v_st[idx, vs]).max()
            e_s = (hd + 4) * U * a + 4 * U * np.abs(s_st).max() + 2 * U
            arith = (4 * e_s + (idx.size + 8) * U) * m
            tight[i, os_] = ((math.sqrt(hd) + 4) * U * a + 4 * U * np.abs(s_st).max() + (math.sqrt(idx.size) + 8) * U) * m
            b_st = np.full(hd_v, arith)
            if type_v == "f16" and not tiled[i]:
                # fp16 accumulator rounded after every cell (and after each rescale): the rounding at
                # cell t is <= u16 |acc_t|, which reaches the output as u16 |sum_{j<=t} p_j v_j|.
                partial = np.abs(np.cumsum(p_st[:, None] * v_st[idx, vs], axis=0)).sum(axis=0)
                b_st += 2 * U16 * partial + idx.size * 2.0**-24
            bound_st[i, os_] = b_st
            # storage of K (and of q on the per-cell path) moves every score by at most delta;
            # the softmax then moves the output by <= (e^(2 delta) - 1) max |v|; V itself by dv.
            delta = scale * ((np.abs(qi) + np.abs(dqk)) @ dk[idx, ks].T + np.abs(dqk) @ np.abs(kd[idx, ks]).T).max()
            storage = (math.expm1(2 * delta)) * np.abs(vd[idx, vs]).max() + dv[idx, vs].max()
            bound[i, os_] = b_st + storage
    return ref, bound, ref_st, bound_st, tight


def feed(runner, tokens, positions, seq_ids=None, chunk=64):
    """Runs the rows in consecutive batches of `chunk`; returns (outputs per layer, n_keys per row:
    the cache size after its batch, tiled per row: its batch took the >= 64-row path)."""
    tokens = np.asarray(tokens)
    outs = runner.run_chunks(tokens, positions, seq_ids, chunk=chunk)
    n_keys = np.minimum((np.arange(tokens.size) // chunk + 1) * chunk, tokens.size)
    batch_rows = n_keys - np.arange(tokens.size) // chunk * chunk
    return outs, n_keys, batch_rows >= TILED_ROWS


def random_qkv(rng, rows, n_head, n_head_kv, hd, hd_v=None, q_scale=2.0):
    hd_v = hd_v or hd
    q = (rng.standard_normal((rows, n_head * hd)) * q_scale).astype(np.float32)
    k = rng.standard_normal((rows, n_head_kv * hd)).astype(np.float32)
    v = rng.standard_normal((rows, n_head_kv * hd_v)).astype(np.float32)
    return q, k, v


def check_attention(out, q, k, v, *, layer_scale=1.0, what, **kw):
    ks, vs = k * np.float32(layer_scale), v * np.float32(layer_scale)
    ref, bound, ref_st, bound_st, tight = attention_reference(q, ks, vs, **kw)
    kv = f"{kw.get('type_k', 'f32')}/{kw.get('type_v', 'f32')}"
    path = "tile" if np.all(kw.get("tiled", False)) else "cell" if not np.any(kw.get("tiled", False)) else "both"
    tag = f"{what.split('[')[0]} {kv} {path}"
    assert_within(out, ref_st, bound_st, f"{tag} vs stored[{what}]")
    assert_within(out, ref, bound, f"{tag} vs exact[{what}]")
    if kv == "f32/f32":
        assert_within(out, ref, tight, f"{tag} vs exact, tight[{what}]")
    return ref


ATTN_HEADS = [(4, 4), (4, 2), (8, 2), (4, 1), (8, 1)]  # GQA ratios 1, 2, 4 and MQA


@pytest.mark.parametrize("kv", ["f32", "f16", "q8_0"])
@pytest.mark.parametrize("heads", ATTN_HEADS, ids=lambda h: f"h{h[0]}kv{h[1]}")
@pytest.mark.parametrize("hd", [64, 128])
@pytest.mark.parametrize("path", ["cell", "tile"])
def test_attention(tmp_path, kv, heads, hd, path):
    n_head, n_head_kv = heads
    rng = rng_for("attn", kv, heads, hd, path)
    rows, chunk = (45, 16) if path == "cell" else (140, 70)
    q, k, v = random_qkv(rng, rows, n_head, n_head_kv, hd)
    scale = 1.0 / math.sqrt(hd)
    prog = attention_program(tmp_path, q, k, v, n_head=n_head, n_head_kv=n_head_kv, head_dim=hd, scale=scale)
    runner = prog.model(n_ctx=rows + 3, n_batch=chunk, type_k=kv, type_v=kv)
    pos = np.arange(rows) + 7
    (out,), n_keys, tiled = feed(runner, range(rows), pos, chunk=chunk)
    assert np.all(tiled == (path == "tile"))
    assert runner.model.kv_used == rows and runner.model.kv_max_pos(0) == rows + 6
    check_attention(out, q, k, v, what=f"attention[{heads} hd{hd} {path}]", qpos=pos, qseq=np.zeros(rows, int),
                    n_keys=n_keys, kpos=pos, kseq=np.zeros(rows, int), n_head=n_head, n_head_kv=n_head_kv,
                    scale=scale, type_k=kv, type_v=kv, tiled=tiled)


MASK_CASES = [  # (window, softcap, causal, path)
    (7, 0.0, True, "cell"), (7, 0.0, True, "tile"), (1, 0.0, True, "cell"), (33, 0.0, True, "tile"),
    (0, 50.0, True, "cell"), (0, 1.5, True, "tile"), (16, 5.0, True, "cell"), (0, 0.0, False, "cell"),
    (0, 0.0, False, "tile"), (12, 0.0, False, "tile"),
]


@pytest.mark.parametrize("kv", ["f32", "f16"])
@pytest.mark.parametrize("case", MASK_CASES, ids=lambda c: f"w{c[0]}-cap{c[1]}-{'causal' if c[2] else 'bidir'}-{c[3]}")
def test_attention_masks_and_softcap(tmp_path, kv, case):
    window, softcap, causal, path = case
    rng = rng_for("mask", kv, case)
    n_head, n_head_kv, hd = 8, 2, 64
    rows, chunk = (50, 25) if path == "cell" else (130, 65)
    q, k, v = random_qkv(rng, rows, n_head, n_head_kv, hd, q_scale=4.0)
    prog = attention_program(tmp_path, q, k, v, n_head=n_head, n_head_kv=n_head_kv, head_dim=hd, scale=0.125,
                             window=window, softcap=softcap, causal=causal)
    runner = prog.model(n_ctx=rows, n_batch=chunk, type_k=kv, type_v=kv)
    pos = np.arange(rows)
    (out,), n_keys, tiled = feed(runner, range(rows), pos, chunk=chunk)
    assert np.all(tiled == (path == "tile"))
    zeros = np.zeros(rows, int)
    check_attention(out, q, k, v, what=f"masked attention[{case}]", qpos=pos, qseq=zeros, n_keys=n_keys, kpos=pos,
                    kseq=zeros, n_head=n_head, n_head_kv=n_head_kv, scale=0.125, softcap=softcap, causal=causal,
                    window=window, type_k=kv, type_v=kv, tiled=tiled)


@pytest.mark.parametrize("path", ["cell", "tile"])
def test_window_hides_far_keys_exactly(tmp_path, path):
    """Changing K/V of keys at distance >= window leaves the output bit-identical; changing the key at
    distance window - 1 changes it."""
    window, n_head, hd = 10, 2, 64
    rows = 30 if path == "cell" else 80
    rng = rng_for("window", path)
    q, k, v = random_qkv(rng, rows, n_head, n_head, hd)
    pos = np.arange(rows)
    last = rows - 1

    def run(k_, v_):
        prog = attention_program(tmp_path, q, k_, v_, n_head=n_head, n_head_kv=n_head, head_dim=hd, scale=0.125,
                                 window=window)
        return prog.model(n_ctx=rows, n_batch=rows).run(range(rows), pos)[0][last]

    base = run(k, v)
    far = pos <= last - window                          # distance >= window
    k2, v2 = k.copy(), v.copy()
    k2[far], v2[far] = rng.standard_normal(k2[far].shape) * 5, rng.standard_normal(v2[far].shape) * 5
    assert np.array_equal(run(k2, v2), base)
    k3, v3 = k.copy(), v.copy()
    v3[last - window + 1] += 3.0                         # distance window - 1: visible
    assert not np.array_equal(run(k3, v3), base)


@pytest.mark.parametrize("kv", ["f32", "f16", "q8_0"])
def test_long_context_in_chunks(tmp_path, kv):
    """600 tokens fed in chunks of 97 (positions continue): six chunks take the tiled path, the last
    (18 rows) the per-cell path over ~600 cells. Two layers: a sliding-window layer and a global one."""
    rows, chunk, n_head, n_head_kv, hd = 600, 97, 4, 2, 64
    rng = rng_for("long", kv)
    q, k, v = random_qkv(rng, rows, n_head, n_head_kv, hd, q_scale=1.5)
    prog = attention_program(tmp_path, q, k, v, n_head=n_head, n_head_kv=n_head_kv, head_dim=hd, scale=0.125,
                             n_layer=2, windows=[128, 0])
    runner = prog.model(n_ctx=rows, n_batch=chunk, type_k=kv, type_v=kv)
    pos = np.arange(rows) + 3
    outs, n_keys, tiled = feed(runner, range(rows), pos, chunk=chunk)
    assert tiled.sum() == 582 and not tiled[582:].any()
    zeros = np.zeros(rows, int)
    for il, (out, window) in enumerate(zip(outs, [128, 0])):
        check_attention(out, q, k, v, layer_scale=il + 1, what=f"long context[layer {il}]", qpos=pos, qseq=zeros,
                        n_keys=n_keys, kpos=pos, kseq=zeros, n_head=n_head, n_head_kv=n_head_kv, scale=0.125,
                        window=window, type_k=kv, type_v=kv, tiled=tiled)
    assert runner.model.kv_used == rows


def test_fp16_accumulator_does_not_overflow(tmp_path):
    """Per-cell path, f16 V: 200 equally scored keys with V = 500 sum to 100000, past the fp16 range
    (65504) of ggml's accumulator, which then gave inf/NaN. The result must stay finite and within the
    fp16-accumulator bound (f32 V: exactly 500)."""
    n, hd = 200, 64
    q = np.zeros((n + 1, hd), np.float32)
    k = np.zeros_like(q)
    v = np.full_like(q, 500.0)
    v[:, 1] = -300.0
    prog = attention_program(tmp_path, q, k, v, n_head=1, n_head_kv=1, head_dim=hd, scale=0.125)
    for type_v in ("f16", "f32"):
        m = prog.model(n_ctx=n + 1, n_batch=n, type_k="f16", type_v=type_v)
        m.run(range(n), np.arange(n))                     # tiled: f32 accumulator
        (out,) = m.run([n], [n])                          # decode: per-cell path
        assert np.all(np.isfinite(out)), out[0, :4]
        pos = np.arange(n + 1)
        check_attention(out, q[n:], k, v, what="fp16 accumulator overflow", qpos=pos[n:], qseq=[0],
                        n_keys=[n + 1], kpos=pos, kseq=np.zeros(n + 1, int), n_head=1, n_head_kv=1, scale=0.125,
                        type_k="f16", type_v=type_v)
        if type_v == "f32":
            assert np.array_equal(out[0, :2], [500.0, -300.0])


@pytest.mark.parametrize("path", ["cell", "tile"])
def test_two_sequences_in_one_batch(tmp_path, path):
    """Sequences 0 and 1 interleaved in one batch (seq 1 at lower positions): each sees only its own keys,
    and equals the same sequence run alone."""
    n_head, n_head_kv, hd = 4, 2, 64
    per_seq = 20 if path == "cell" else 40
    rows = 2 * per_seq
    rng = rng_for("seqs", path)
    q, k, v = random_qkv(rng, rows, n_head, n_head_kv, hd)
    seq = np.tile([0, 1], per_seq)
    pos = np.where(seq == 0, 50 + np.arange(rows) // 2, np.arange(rows) // 2)
    prog = attention_program(tmp_path, q, k, v, n_head=n_head, n_head_kv=n_head_kv, head_dim=hd, scale=0.125)
    runner = prog.model(n_ctx=rows, n_batch=rows)
    (out,) = runner.run(range(rows), pos, seq)
    check_attention(out, q, k, v, what="two sequences", qpos=pos, qseq=seq, n_keys=np.full(rows, rows), kpos=pos,
                    kseq=seq, n_head=n_head, n_head_kv=n_head_kv, scale=0.125, tiled=np.full(rows, path == "tile"))
    assert runner.model.kv_max_pos(0) == 50 + per_seq - 1 and runner.model.kv_max_pos(1) == per_seq - 1
    assert runner.model.kv_max_pos(-1) == 50 + per_seq - 1 and runner.model.kv_max_pos(2) == -1
    for s in (0, 1):  # alone, with fresh caches: same result within float32 rounding
        sel = seq == s
        alone = prog.model(n_ctx=rows, n_batch=rows).run(np.nonzero(sel)[0], pos[sel], np.full(per_seq, s))[0]
        assert np.abs(alone - out[sel]).max() <= 1e-5 * np.abs(v).max()
    # seq 1's rows in a batch of their own, after seq 0 filled the cache, see nothing of seq 0
    runner2 = prog.model(n_ctx=rows, n_batch=rows)
    runner2.run(np.nonzero(seq == 0)[0], pos[seq == 0], np.zeros(per_seq, int))
    late = runner2.run(np.nonzero(seq == 1)[0], pos[seq == 1], np.ones(per_seq, int))[0]
    assert np.abs(late - out[seq == 1]).max() <= 1e-5 * np.abs(v).max()




SIMD_LEVELS = [level for level in native.supported_levels() if level != "scalar"]


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("with_up", [True, False])
def test_gelu_mul_gives_the_scalar_bits(tmp_path, level, with_up):
    """The SIMD gelu_mul (hardware fp16 conversions, gathers from the table) gives the scalar bits:
    every fp16 input (so every table entry, NaNs, infinities and the +-10 edges included) and a
    width that leaves a tail of 5 values for the scalar loop."""
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
    extra = np.array([-10.0, 10.0, -9.999, 9.999, 10.001, -10.001, 1e30, -1e30, 70000.0, -70000.0, 65519.0],
                     np.float32)
    width = 1029
    x = np.concatenate([halves, extra])
    x = np.concatenate([x, np.zeros(-x.size % width, np.float32)]).reshape(-1, width)
    up = rng_for("gelu bits", with_up).standard_normal(x.shape).astype(np.float32)
    prog = OpProgram(tmp_path, {"gate": x, "up": up}, out_widths=[width])
    g = prog.g
    gate = g.get_rows("gate", "gate", width)
    upb = g.get_rows("up", "up", width) if with_up else None
    g.gated("gelu_mul", gate, upb, gate)
    prog.finish([gate])
    outs = {lvl: prog.model(n_batch=x.shape[0], level=lvl).run(range(x.shape[0]))[0] for lvl in ("scalar", level)}
    same = (outs[level] == outs["scalar"]) | (np.isnan(outs[level]) & np.isnan(outs["scalar"]))
    assert np.all(same)


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("kv,path", [("f32", "tile"), ("f16", "tile"), ("f16", "cell")])
def test_attention_kernels_give_the_scalar_bits(tmp_path, level, kv, path):
    """The attention kernels of every SIMD level (tile dots, tile V sums, the per-cell path's fp16 V
    sum) give the scalar reference's bits. Scores are exact on every level (one-hot queries; keys
    nonzero in that dimension only, small integers), so the per-cell path's K vec_dot, whose float
    order differs between levels, cannot hide a difference. Head dim 80 covers the kernels' tails
    (64 + 16 values); V values of 8000 in one dimension overflow the fp16 sum after a few dozen
    cells (in the SIMD block for KV head 0, in the tail for KV head 1), covering its f32 restart."""
    n_head, n_head_kv, hd = 4, 2, 80
    rows, chunk = (100, 100) if path == "tile" else (60, 12)
    rng = rng_for("simd attention", kv, path)
    q = np.zeros((rows, n_head * hd), np.float32)
    q[:, ::hd] = 1.0
    k = np.zeros((rows, n_head_kv * hd), np.float32)
    k[:, ::hd] = rng.integers(-4, 5, (rows, n_head_kv))
    v = rng.standard_normal((rows, n_head_kv * hd)).astype(np.float32)
    v[:, 5], v[:, hd + 75] = 8000.0, -8000.0
    prog = attention_program(tmp_path, q, k, v, n_head=n_head, n_head_kv=n_head_kv, head_dim=hd, scale=0.125)
    outs = {}
    for lvl in ("scalar", level):
        runner = prog.model(n_ctx=rows, n_batch=chunk, type_k=kv, type_v=kv, level=lvl)
        (outs[lvl],), _, tiled = feed(runner, range(rows), np.arange(rows), chunk=chunk)
        assert np.all(tiled == (path == "tile"))
    assert np.all(np.isfinite(outs[level])) and np.abs(outs[level]).max() > 4000
    assert outs[level].tobytes() == outs["scalar"].tobytes()


# ---------------------------------------------------------------------------------------------
# KV cache bookkeeping


def test_kv_remove_equals_fresh_cache(tmp_path):
    n_head, n_head_kv, hd, n_old = 4, 2, 64, 40
    rng = rng_for("remove")
    rows = n_old + 6
    q, k, v = random_qkv(rng, rows, n_head, n_head_kv, hd)
    prog = attention_program(tmp_path, q, k, v, n_head=n_head, n_head_kv=n_head_kv, head_dim=hd, scale=0.125)
    new = np.arange(n_old, rows)
    m = prog.model(n_ctx=rows, n_batch=rows)
    m.run(range(n_old), np.arange(n_old))
    m.model.kv_remove(0, 10, 25)
    assert m.model.kv_used == n_old - 15
    m.model.kv_remove(1, 0, -1)                          # another sequence: nothing to remove
    assert m.model.kv_used == n_old - 15
    (got,) = m.run(new, new)
    kept = np.concatenate([np.arange(10), np.arange(25, n_old)])
    fresh = prog.model(n_ctx=rows, n_batch=rows)
    fresh.run(kept, kept)
    (want,) = fresh.run(new, new)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(v).max()    # cells visited in another order
    order = np.concatenate([kept, new])
    check_attention(got, q[new], k[order], v[order], what="after kv_remove", qpos=new, qseq=np.zeros(6, int),
                    n_keys=np.full(6, order.size), kpos=order, kseq=np.zeros(order.size, int), n_head=n_head,
                    n_head_kv=n_head_kv, scale=0.125)
    # remove to the end (p1 < 0), then clear: a cleared cache gives what a fresh one gives, bit for bit
    m.model.kv_remove(0, 30, -1)
    assert m.model.kv_max_pos(0) == 29 and m.model.kv_used == 10 + 5
    m.model.kv_clear()
    assert m.model.kv_used == 0 and m.model.kv_max_pos(0) == -1
    (again,) = m.run(range(n_old), np.arange(n_old))
    (first,) = prog.model(n_ctx=rows, n_batch=rows).run(range(n_old), np.arange(n_old))
    assert np.array_equal(again, first)


SHIFT_CASES = [  # (rope mode, freq_scale, freq factors, type_k)
    (ROPE_NORMAL, 1.0, False, "f32"), (ROPE_NEOX, 1.0, False, "f32"), (ROPE_NORMAL, 0.5, True, "f32"),
    (ROPE_NEOX, 0.25, True, "f16"), (ROPE_NORMAL, 1.0, False, "f16"),
]


@pytest.mark.parametrize("case", SHIFT_CASES, ids=lambda c: f"{'neox' if c[0] else 'normal'}-fs{c[1]}-ff{int(c[2])}-{c[3]}")
def test_kv_shift_equals_fresh_evaluation(tmp_path, case):
    """Context shift: drop positions [4, 20) and shift [20, 48) by -16; the stored keys are re-rotated
    (RoPE angles add up), so new queries see what a fresh cache with the tokens at the shifted
    positions gives."""
    mode, freq_scale, with_ff, type_k = case
    n_head, n_head_kv, hd = 4, 2, 64
    rng = rng_for("shift", *case)
    n_old, n_new = 48, 6
    rows = n_old + n_new
    q, k, v = random_qkv(rng, rows, n_head, n_head_kv, hd)
    ff = rng.uniform(1.0, 4.0, hd // 2).astype(np.float32) if with_ff else None
    rope = {"base": 10000.0, "mode": mode, "freq_scale": freq_scale, "freq_factors": ff}
    prog = attention_program(tmp_path, q, k, v, n_head=n_head, n_head_kv=n_head_kv, head_dim=hd, scale=0.125,
                             rope=rope)
    shifted = prog.model(n_ctx=rows, n_batch=rows, type_k=type_k, type_v="f32")
    shifted.run(range(n_old), np.arange(n_old) + 1000)           # far positions: large angles
    shifted.model.kv_remove(0, 1004, 1020)
    shifted.model.kv_shift(0, 1020, -1, -16)
    assert shifted.model.kv_max_pos(0) == 1000 + n_old - 17 and shifted.model.kv_used == n_old - 16
    new = np.arange(n_old, rows)
    new_pos = new - 16 + 1000
    (got,) = shifted.run(new, new_pos)
    kept = np.concatenate([np.arange(4), np.arange(20, n_old)])
    kept_pos = np.concatenate([np.arange(4), np.arange(4, n_old - 16)]) + 1000
    fresh = prog.model(n_ctx=rows, n_batch=rows, type_k=type_k, type_v="f32")
    fresh.run(kept, kept_pos)
    (want,) = fresh.run(new, new_pos)
    # The exact attention at the shifted positions, which both approximate.
    rot = dict(mode=mode, base=10000.0, freq_scale=freq_scale, freq_factors=ff)
    order = np.concatenate([kept, new])
    order_pos = np.concatenate([kept_pos, new_pos])
    q_rot, _ = rope_ref(q[new], new_pos, n_head, hd, **rot)
    k_rot, _ = rope_ref(k[order], order_pos, n_head_kv, hd, **rot)
    ref = attention_reference(q_rot, k_rot, f64(v[order]), qpos=new_pos, qseq=np.zeros(n_new, int),
                              n_keys=np.full(n_new, order.size), kpos=order_pos, kseq=np.zeros(order.size, int),
                              n_head=n_head, n_head_kv=n_head_kv, scale=0.125)[0]

    def rope_err(x, p):
        _, ang = rope_ref(x, p, n_head_kv, hd, **rot)
        return rope_bound(x, ang, n_head_kv, hd, mode=mode, base=10000.0)

    def output_bound(dk):
        """Bound on the output change when key j moves by at most dk[j] (per value): each score by
        ds_j = scale sum |q| dk_j, so p_j by at most p_j expm1(ds_j + max ds), and the output by
        sum_j |dp_j| |v_j - o|; plus the f32 arithmetic of the two runs compared."""
        out = np.zeros_like(ref)
        for r in range(n_new):
            vis = order_pos <= new_pos[r]
            for h in range(n_head):
                kh = h // (n_head // n_head_kv)
                qh, ks, vs = q_rot[r, h * hd:(h + 1) * hd], slice(kh * hd, (kh + 1) * hd), slice(kh * hd, (kh + 1) * hd)
                sc = 0.125 * k_rot[vis, ks] @ qh
                p = np.exp(sc - sc.max())
                p /= p.sum()
                ds = 0.125 * dk[vis, ks] @ np.abs(qh)
                o = ref[r, h * hd:(h + 1) * hd]
                a = 0.125 * (np.abs(k_rot[vis, ks]) @ np.abs(qh)).max()
                arith = 2 * (4 * ((hd + 4) * U * a + 2 * U) + (vis.sum() + 8) * U) * np.abs(v).max()
                out[r, h * hd:(h + 1) * hd] = (p * np.expm1(ds + ds.max())) @ np.abs(f64(v[order][vis, vs]) - o) + arith
        return out

    # The caches differ only in the K of the shifted tokens: R(delta) R(p) k (rounded to fp16 after
    # each rotation for f16 K) against R(p + delta) k (rounded once). Each float32 rotation is within
    # rope_bound of the exact one; each fp16 rounding within u16 (|x0| + |x1|) of its pair.
    shifted_ids = np.arange(4, n_old - 16)                         # their rows in `order`
    k_s, p_old = k[kept[shifted_ids]], kept_pos[shifted_ids] + 16
    k_at_p, _ = rope_ref(k_s, p_old, n_head_kv, hd, **rot)
    dk_pair = np.zeros_like(k_rot)
    dk_pair[shifted_ids] = (rope_err(k_s, p_old) + rope_err(k_at_p, np.full(k_s.shape[0], -16)) +
                            rope_err(k_s, p_old - 16))
    dk_fresh = rope_err(k[order], order_pos)                       # fresh cache vs exact
    if type_k == "f16":
        dk_pair[shifted_ids] += 3 * U16 * rope_pairs(k_s, n_head_kv, hd, mode) + 3 * 2.0**-25
        dk_fresh += U16 * rope_pairs(k[order], n_head_kv, hd, mode) + 2.0**-25
    assert_within(got, want, output_bound(dk_pair), f"kv_shift {type_k} vs fresh")
    # and both vs numpy, keys rotated at their shifted positions. For f16 K the per-cell path also
    # rounds q to fp16: |dq_d| |k_d| <= |q_d| u16 |k_d|, i.e. u16 |k| more on every key.
    if type_k == "f16":
        dk_fresh += U16 * np.abs(k_rot) * 1.01
    bound_fresh = output_bound(dk_fresh)
    assert_within(want, ref, bound_fresh, f"kv_shift {type_k} fresh vs exact")
    assert_within(got, ref, bound_fresh + output_bound(dk_pair), f"kv_shift {type_k} shifted vs exact")


def test_kv_shift_before_start_drops_cells(tmp_path):
    rng = rng_for("shiftdrop")
    q, k, v = random_qkv(rng, 12, 2, 2, 64)
    prog = attention_program(tmp_path, q, k, v, n_head=2, n_head_kv=2, head_dim=64, scale=0.125,
                             rope={"base": 10000.0, "mode": ROPE_NEOX})
    m = prog.model(n_ctx=12, n_batch=12)
    m.run(range(10), np.arange(10))
    m.model.kv_shift(0, 0, 6, -3)                       # positions 0..2 would go negative: dropped
    assert m.model.kv_used == 7 and m.model.kv_max_pos(0) == 9
    m.model.kv_shift(0, 0, -1, -100)
    assert m.model.kv_used == 0 and m.model.kv_max_pos(0) == -1


def test_batch_that_does_not_fit(tmp_path):
    rng = rng_for("full")
    n_ctx = 16
    q, k, v = random_qkv(rng, 24, 2, 1, 64)
    prog = attention_program(tmp_path, q, k, v, n_head=2, n_head_kv=1, head_dim=64, scale=0.125)
    m = prog.model(n_ctx=n_ctx, n_batch=16)
    m.run(range(10), np.arange(10))
    with pytest.raises(ContextLengthExceeded) as info:
        m.run(range(10, 17), np.arange(10, 17))
    msg = str(info.value)
    assert re.search(r"\b16\b", msg) and re.search(r"\b7\b", msg), msg
    assert info.value.n_ctx == n_ctx and info.value.n_tokens == 17
    assert m.model.kv_used == 10 and m.model.kv_max_pos(0) == 9
    (after,) = m.run(range(10, 16), np.arange(10, 16))       # fills the cache exactly
    ref = prog.model(n_ctx=n_ctx, n_batch=16)
    ref.run(range(10), np.arange(10))
    assert np.array_equal(after, ref.run(range(10, 16), np.arange(10, 16))[0])
    with pytest.raises(ContextLengthExceeded):
        m.run([16], [16])


def test_abort_flag(tmp_path):
    rng = rng_for("abort")
    q, k, v = random_qkv(rng, 20, 4, 2, 64)
    prog = attention_program(tmp_path, q, k, v, n_head=4, n_head_kv=2, head_dim=64, scale=0.125)
    m = prog.model(n_ctx=20, n_batch=20, threads=2)
    m.model.set_abort(True)
    with pytest.raises(Aborted):
        m.run(range(8), np.arange(8))
    assert m.model.kv_used == 0 and m.model.kv_max_pos(0) == -1
    m.model.set_abort(False)
    (a,) = m.run(range(8), np.arange(8))
    m.model.set_abort(True)
    with pytest.raises(Aborted):
        m.run(range(8, 12), np.arange(8, 12))
    assert m.model.kv_used == 8 and m.model.kv_max_pos(0) == 7
    m.model.set_abort(False)
    (b,) = m.run(range(8, 12), np.arange(8, 12))
    ref = prog.model(n_ctx=20, n_batch=20)
    assert np.array_equal(a, ref.run(range(8), np.arange(8))[0])
    assert np.array_equal(b, ref.run(range(8, 12), np.arange(8, 12))[0])


# ---------------------------------------------------------------------------------------------
# Bad programs


def _valid_program(tmp_path, name):
    """x -> rms_norm -> matmul(wq) -> rope -> kv_store -> attention -> gelu -> logits; returns prog."""
    rng = rng_for("bad", name)
    width = 128
    prog = OpProgram(tmp_path, {"x": rng.standard_normal((4, width))}, out_widths=[width], name=name,
                     weights={"w": rng.standard_normal((width, width)), "norm": np.ones(width, np.float32)})
    g = prog.g
    x = g.get_rows("x", "x", width)
    h = g.buffer("h", width)
    g.rms_norm(x, h, 1e-6, "norm")
    qb = g.matmul("w", h, "q")
    g.rope(qb, 2, 64, base=10000.0, mode=ROPE_NEOX)
    g.kv_store(0, qb, h, head_dim=64, rope={"base": 10000.0, "mode": ROPE_NEOX})
    a = g.attention(0, qb, "attn", n_head=2, n_head_kv=2, head_dim=64, head_dim_v=64, scale=0.125)
    g.gated("gelu_mul", a, x, a)
    prog.finish([a], softcap=30.0)
    return prog


BAD = {  # what is wrong: (kind of the op to break, the fields it gets given the graph and the op)
    "matmul width": ("matmul", lambda g, op: {"n": 64}),                       # its src buffer is 128 wide
    "rope odd head dim": ("rope", lambda g, op: {"group": 63}),
    "rope heads exceed row": ("rope", lambda g, op: {"n_head": 3}),
    "attention gqa ratio": ("attention", lambda g, op: {"n_head_kv": 3}),
    "attention head dim": ("attention", lambda g, op: {"group": 32}),
    "attention in place": ("attention", lambda g, op: {"dst": op["src0"]}),
    "kv_store layer": ("kv_store", lambda g, op: {"layer": 3}),
    "kv_store v width": ("kv_store", lambda g, op: {"n1": 64}),
    "unknown kind": ("rms_norm", lambda g, op: {"kind": 99}),
    "buffer id": ("rms_norm", lambda g, op: {"dst": 40}),
    "norm group": ("rms_norm", lambda g, op: {"group": 100}),
    "gated src1 width": ("gelu_mul", lambda g, op: {"src1": g.buffer("narrow", 64)}),
    "gated src1 missing": ("gelu_mul", lambda g, op: {"src1": 7}),
    "softcap not positive": ("softcap", lambda g, op: {"softcap": -1.0}),
    "zero width": ("gelu_mul", lambda g, op: {"n": 0}),
    "logit_rows in place": ("logit_rows", lambda g, op: {"dst": op["src0"]}),
    "attention reads the logits": ("attention", lambda g, op: {"src0": BUF_LOGITS}),
    "logits written before logit_rows": ("rms_norm", lambda g, op: {"dst": BUF_LOGITS}),
    "second logit_rows": ("logit_rows", lambda g, op: None),
}


def _logit_rows_twice(g) -> None:
    """Appends another logit_rows op: the rows wanting logits may only be picked once."""
    src = g.ops[-1]["src0"] if g.ops[-1]["kind"] == OP["logit_rows"] else g.buffer("x", 128)
    g.ops.append({**next(op for op in g.ops if op["kind"] == OP["logit_rows"]), "src0": src,
                  "dst": g.buffer("again", g.width(src))})


@pytest.mark.parametrize("what", BAD)
def test_bad_program_is_rejected(tmp_path, what):
    """A program with one wrong op is refused at load with a NativeError naming the op, not run."""
    prog = _valid_program(tmp_path, "ok")
    prog.model(n_ctx=8, n_batch=4).run(range(4))   # the unbroken program runs
    prog = _valid_program(tmp_path, "bad")
    kind, change = BAD[what]
    i = next(i for i, op in enumerate(prog.g.ops) if op["kind"] == OP[kind])
    fields = change(prog.g, prog.g.ops[i])
    if fields is None:   # a structural break: a second logit_rows op after the program's own
        _logit_rows_twice(prog.g)
        i = len(prog.g.ops) - 1
    else:
        prog.g.ops[i].update(fields)
    with pytest.raises(NativeError) as info:
        prog.model(n_ctx=8, n_batch=4)
    msg = str(info.value)
    assert f"at op {i}:" in msg and f"'kind': {prog.g.ops[i]['kind']}" in msg and "invalid argument" in msg, msg


def test_ops_after_logit_rows_may_not_use_batch_rows(tmp_path):
    """After logit_rows, rows are the rows wanting logits: RoPE (which reads each row's position)
    there is refused at load instead of rotating by the wrong position."""
    prog = OpProgram(tmp_path, {"x": np.ones((4, 64), np.float32)}, out_widths=[64])
    g = prog.g
    last = g.logit_rows(g.get_rows("x", "x", 64), "last")
    g.rope(last, 1, 64, base=10000.0, mode=0)
    g.output("readback.eye", last)
    prog.own_output()
    with pytest.raises(NativeError, match="at op 2:"):
        prog.model(n_batch=4)


# ---------------------------------------------------------------------------------------------
# Threads


def test_one_and_two_threads_are_bit_identical(tmp_path):
    """A program with every op (quantized matmuls, per-head norm, NeoX RoPE with factors, f16 KV,
    GQA attention with window and softcap, gates, logit rows, softcapped output), run in batches
    taking both attention paths: 1 and 2 threads give the same bits."""
    rng = rng_for("threads")
    E, n_head, n_head_kv, hd, V = 256, 4, 2, 64, 256
    weights = {
        "wq": Quantized(T.Q4_K, rng.standard_normal((n_head * hd, E)) * 0.1),
        "wk": Quantized(T.Q8_0, rng.standard_normal((n_head_kv * hd, E)) * 0.1),
        "wv": rng.standard_normal((n_head_kv * hd, E)).astype(np.float32) * 0.1,
        "wo": Quantized(T.Q6_K, rng.standard_normal((E, n_head * hd)) * 0.1),
        "wg": Quantized(T.Q4_0, rng.standard_normal((E, E)) * 0.1),
        "norm": (1 + rng.standard_normal(E)).astype(np.float32),
        "qnorm": (1 + rng.standard_normal(hd)).astype(np.float32),
    }
    prog = OpProgram(tmp_path, {"emb": Quantized(T.Q8_0, rng.standard_normal((V, E)))}, weights=weights,
                     out_widths=[E], n_vocab=V)
    g = prog.g
    ff = rng.uniform(1, 3, hd // 2).astype(np.float32)
    rope = {"base": 10000.0, "mode": ROPE_NEOX, "freq_factors": ff}
    x = g.get_rows("emb", "x", E)
    h = g.buffer("h", E)
    g.rms_norm(x, h, 1e-6, "norm")
    qb, kb, vb = g.matmul("wq", h, "q"), g.matmul("wk", h, "k"), g.matmul("wv", h, "v")
    g.rms_norm(qb, qb, 1e-6, "qnorm", group=hd)
    g.rope(qb, n_head, hd, **rope)
    g.rope(kb, n_head_kv, hd, **rope)
    g.kv_store(0, kb, vb, head_dim=hd, rope=rope)
    g.scale(qb, 0.125)
    a = g.attention(0, qb, "attn", n_head=n_head, n_head_kv=n_head_kv, head_dim=hd, head_dim_v=hd, scale=1.0,
                    window=50, softcap=20.0)
    o = g.matmul("wo", a, "o")
    g.binary("add", x, o, x)
    gate, up = g.matmul("wg", x, "gate"), g.buffer("up", E)
    g.binary("mul", x, h, up)
    g.gated("gelu_mul", gate, up, gate)
    g.gated("silu_mul", gate, None, up)
    g.binary("add", x, up, x)
    last = g.logit_rows(x, "x_out")
    g.layer_norm(last, last, 1e-5, None, None)
    g.output("readback.eye", last, softcap=15.0)
    prog.own_output()
    results = []
    for threads in (1, 2):
        m = prog.model(n_ctx=160, n_batch=80, type_k="f16", type_v="f16", threads=threads).model
        tokens = rng_for("threads-tokens").integers(0, V, 150)
        chunks = [(0, 70), (70, 75), (75, 150)]                   # tiled, per-cell, tiled
        outs = [m.forward(tokens[a:b], np.arange(a, b), logit_rows=np.arange(0, b - a, 2)) for a, b in chunks]
        m.kv_shift(0, 10, -1, -5)
        outs.append(m.forward(tokens[:3], np.arange(145, 148), logit_rows=[0, 1, 2]))
        results.append(outs)
    for one, two in zip(*results):
        assert np.all(np.isfinite(one))
        assert one.tobytes() == two.tobytes()


@pytest.fixture(scope="module", autouse=True)
def _print_stats():
    """After the module: the largest measured error / bound per check (shown with pytest -s)."""
    yield
    for key, (ratio, err) in sorted(STATS.items()):
        print(f"\n{key:48s} max err {err:9.3g}   max err/bound {ratio:.3g}", end="")
