"""Random valid rows of every ggml type the native kernels know, and their reference dequantization.

Random bytes are a valid block of every quantized type, except that the fp16 (or, for Q8_K,
float32) scale fields must be finite and Q8_K's bsums must be the sums of its quants: these helpers
write such fields, including extreme scales (+-65504, fp16 subnormals, +-0) in the first blocks.
"""

from __future__ import annotations

import numpy as np
from gguf import GGML_QUANT_SIZES
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize as gguf_dequantize

FLOAT_TYPES = (T.F32, T.F16, T.BF16)
LEGACY_TYPES = (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0)
K_TYPES = (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K)
WEIGHT_TYPES = FLOAT_TYPES + LEGACY_TYPES + K_TYPES
BLOCK_TYPES = LEGACY_TYPES + K_TYPES + (T.Q8_K,)  # every type with multi-element blocks

# the activation type each weight type's vec_dot takes (native/kernels.h)
VEC_DOT_TYPE = {
    **{t: t for t in FLOAT_TYPES},
    **{t: T.Q8_0 for t in LEGACY_TYPES},
    **{t: T.Q8_K for t in K_TYPES},
}

# byte offsets of the fp16 scale fields in each block
FP16_FIELDS = {
    T.Q4_0: (0,), T.Q4_1: (0, 2), T.Q5_0: (0,), T.Q5_1: (0, 2), T.Q8_0: (0,),
    T.Q2_K: (80, 82), T.Q3_K: (108,), T.Q4_K: (0, 2), T.Q5_K: (0, 2), T.Q6_K: (208,),
}

# largest, smallest subnormal, largest subnormal, smallest normal, zeros, one
EXTREME_HALVES = np.array(
    [65504.0, -65504.0, 2.0**-24, -(2.0**-24), 6.097555e-05, 6.1035156e-05, 0.0, -0.0, 1.0], dtype=np.float16
)
EXTREME_FLOATS = np.array([0.0, -0.0, 1e-40, -3e-39, 1e30, -1e30, 1.0], dtype=np.float32)


def type_size(qtype: T) -> tuple[int, int]:
    """(elements per block, bytes per block)."""
    return GGML_QUANT_SIZES[qtype]


def finite_halves(rng: np.random.Generator, n: int, shift: int = 0) -> np.ndarray:
    """n random finite fp16 values over the whole range; EXTREME_HALVES (rolled by shift) come first."""
    bits = rng.integers(0, 1 << 16, size=n, dtype=np.uint16)
    bits[(bits & 0x7C00) == 0x7C00] ^= 0x4000  # inf / NaN exponent -> an ordinary one
    halves = bits.view(np.float16)
    k = min(n, len(EXTREME_HALVES))
    halves[:k] = np.roll(EXTREME_HALVES, shift)[:k]
    return halves


def random_blocks(qtype: T, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """uint8[n_blocks * bytes per block]: random quants with finite scales (extremes first)."""
    _, size = type_size(qtype)
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    if qtype == T.Q8_K:
        d = (rng.standard_normal(n_blocks) * 10.0 ** rng.uniform(-3, 3, n_blocks)).astype(np.float32)
        k = min(n_blocks, len(EXTREME_FLOATS))
        d[:k] = EXTREME_FLOATS[:k]
        raw[:, :4] = d.view(np.uint8).reshape(n_blocks, 4)
        bsums = raw[:, 4:260].view(np.int8).reshape(n_blocks, 16, 16).sum(axis=-1, dtype=np.int16)
        raw[:, 260:] = bsums.view(np.uint8).reshape(n_blocks, 32)
        return raw.reshape(-1)
    for shift, offset in enumerate(FP16_FIELDS[qtype]):
        raw[:, offset : offset + 2] = finite_halves(rng, n_blocks, shift).view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(-1)


def random_row(qtype: T, n_elements: int, rng: np.random.Generator) -> np.ndarray:
    """The raw bytes of a random valid row of any type (float types: finite values of moderate size)."""
    if qtype == T.F32:
        return (rng.standard_normal(n_elements) * 10.0 ** rng.uniform(-8, 8, n_elements)).astype(np.float32).view(np.uint8)
    if qtype == T.F16:
        return finite_halves(rng, n_elements).view(np.uint8)
    if qtype == T.BF16:
        wide = (rng.standard_normal(n_elements) * 10.0 ** rng.uniform(-8, 8, n_elements)).astype(np.float32)
        return (wide.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
    block, _ = type_size(qtype)
    return random_blocks(qtype, n_elements // block, rng)


def reference_dequantize(raw: np.ndarray, qtype: T) -> np.ndarray:
    """float32 values of a row: gguf.quants.dequantize, or d * q for Q8_K (which gguf lacks)."""
    if qtype == T.Q8_K:
        blocks = raw.reshape(-1, type_size(T.Q8_K)[1])
        d = blocks[:, :4].copy().view(np.float32)
        return (d * blocks[:, 4:260].view(np.int8).astype(np.float32)).reshape(-1)
    return np.asarray(gguf_dequantize(raw, qtype), dtype=np.float32).reshape(-1)
