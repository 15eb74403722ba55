"""llama.cpp's reference k-quant quantizers (no importance matrix) in numpy, for tests.

An independent, vectorized rewrite of the algorithms in native/quant/ref_quantize.c: every float
operation is a float32 operation in the same order as the C code (sums run element by element,
rounding is round-half-to-even like ggml's nearest_int), so the values it reconstructs are equal
bit for bit to gguf's dequantization of the bytes the C quantizer writes. It returns the
reconstructed float32 values rather than packed bytes; the packing is checked by dequantizing the
C output with gguf.

Each function takes x[n_blocks, 256] float32 and returns float32[n_blocks, 256].
"""

from __future__ import annotations

import numpy as np

F32 = np.float32
GROUP_MAX_EPS = F32(1e-15)


def nearest(v: np.ndarray) -> np.ndarray:
    """Round half to even (ggml's nearest_int), as float32; -0.0 becomes 0.0 (the C levels are ints)."""
    return np.rint(v).astype(F32) + F32(0)


def to_fp16(v: np.ndarray) -> np.ndarray:
    """The float32 value of v stored as fp16 (round to nearest even)."""
    return np.asarray(v, dtype=F32).astype(np.float16).astype(F32)


def signed_absmax(x: np.ndarray) -> np.ndarray:
    """Per row, the element of largest magnitude with its sign (the first of equals)."""
    return np.take_along_axis(x, np.abs(x).argmax(axis=-1)[..., None], axis=-1)[..., 0]


def largest_magnitude(values: np.ndarray) -> np.ndarray:
    """Per row, the first value of largest magnitude, 0 where all are 0 (the C loop from 0)."""
    return np.where(np.abs(values).max(axis=-1) > 0, signed_absmax(values), F32(0))


def fit_affine(x, w, nmax, rmin, rdelta, nstep, use_mad):
    """make_qkx2_quants per row of x[rows, n]: (scale[rows], neg_min[rows], L[rows, n] float32)."""
    n = x.shape[1]
    lo, hi, sum_w, sum_x = x[:, 0].copy(), x[:, 0].copy(), w[:, 0].copy(), w[:, 0] * x[:, 0]
    for i in range(1, n):
        lo, hi = np.minimum(lo, x[:, i]), np.maximum(hi, x[:, i])
        sum_w, sum_x = sum_w + w[:, i], sum_x + w[:, i] * x[:, i]
    lo = np.where(lo > 0, F32(0), lo)
    flat = hi == lo
    span = np.where(flat, F32(1), hi - lo)

    def levels(iscale, mn):
        return np.clip(nearest(iscale[:, None] * (x - mn[:, None])), 0, nmax)

    def error(levels_, scale, mn):
        err = np.zeros(len(x), F32)
        for i in range(n):
            diff = scale * levels_[:, i] + mn - x[:, i]
            err = err + w[:, i] * (np.abs(diff) if use_mad else diff * diff)
        return err

    iscale = F32(nmax) / span
    scale, mn = F32(1) / iscale, lo
    L = levels(iscale, mn)
    best = error(L, scale, mn)
    for step in range(nstep + 1):  # as in ggml, a better fit's min moves the later grids
        span = np.where(flat, F32(1), hi - mn)
        trial = levels((F32(rmin) + F32(rdelta) * F32(step) + F32(nmax)) / span, mn)
        sum_l = sum_l2 = sum_xl = np.zeros(len(x), F32)
        for i in range(n):
            wl = w[:, i] * trial[:, i]
            sum_l, sum_l2, sum_xl = sum_l + wl, sum_l2 + wl * trial[:, i], sum_xl + wl * x[:, i]
        det = sum_w * sum_l2 - sum_l * sum_l
        ok = det > 0
        det = np.where(ok, det, F32(1))
        t_scale = (sum_w * sum_xl - sum_x * sum_l) / det
        t_min = (sum_l2 * sum_x - sum_l * sum_xl) / det
        positive = t_min > 0
        t_min = np.where(positive, F32(0), t_min)
        t_scale = np.where(positive, sum_xl / np.where(ok, sum_l2, F32(1)), t_scale)
        err = error(trial, t_scale, t_min)
        better = ok & (err < best)
        L = np.where(better[:, None], trial, L)
        best, scale, mn = np.where(better, err, best), np.where(better, t_scale, scale), np.where(better, t_min, mn)
    L = np.where(flat[:, None], F32(0), L)
    return np.where(flat, F32(0), scale), -np.where(flat, lo, mn), L


def fit_symmetric_iterative(x, nmax):
    """make_q3_quants(do_rmse) per row of x[rows, n]: (scale[rows], L[rows, n] = level + nmax)."""
    n = x.shape[1]
    mx = signed_absmax(x)
    zero = np.abs(mx) < GROUP_MAX_EPS
    iscale = F32(-nmax) / np.where(zero, F32(1), mx)
    L = np.clip(nearest(iscale[:, None] * x), -nmax, nmax - 1)
    sumlx = suml2 = np.zeros(len(x), F32)
    for i in range(n):
        w = x[:, i] * x[:, i]
        sumlx, suml2 = sumlx + w * x[:, i] * L[:, i], suml2 + w * L[:, i] * L[:, i]
    for _ in range(5):  # a pass that changes nothing leaves the state as it was: extra passes are no-ops
        for i in range(n):
            xi, li = x[:, i], L[:, i]
            w = xi * xi
            slx = sumlx - w * xi * li
            active = slx > 0
            sl2 = suml2 - w * li * li
            level = np.clip(nearest(xi * sl2 / np.where(active, slx, F32(1))), -nmax, nmax - 1)
            slx2, sl22 = slx + w * xi * level, sl2 + w * level * level
            accept = active & (level != li) & (sl22 > 0) & (slx2 * slx2 * suml2 > sumlx * sumlx * sl22)
            L[:, i] = np.where(accept, level, li)
            sumlx, suml2 = np.where(accept, slx2, sumlx), np.where(accept, sl22, suml2)
    scale = np.where(suml2 > 0, sumlx / np.where(suml2 > 0, suml2, F32(1)), F32(0))
    return np.where(zero, F32(0), scale), np.where(zero[:, None], F32(0), L + nmax)


def fit_symmetric_search(x, nmax):
    """make_qx_quants(rmse_type=1) per row of x[rows, n]: (scale[rows], L[rows, n] = level + nmax)."""
    n = x.shape[1]
    mx = signed_absmax(x)
    zero = np.abs(mx) < GROUP_MAX_EPS
    mx = np.where(zero, F32(1), mx)

    def sums(iscale):
        levels = np.clip(nearest(iscale[:, None] * x), -nmax, nmax - 1)
        sumlx = suml2 = np.zeros(len(x), F32)
        for i in range(n):
            w = x[:, i] * x[:, i]
            sumlx, suml2 = sumlx + w * x[:, i] * levels[:, i], suml2 + w * levels[:, i] * levels[:, i]
        return levels + nmax, sumlx, suml2

    L, sumlx, suml2 = sums(F32(-nmax) / mx)
    scale = np.where(suml2 != 0, sumlx / np.where(suml2 != 0, suml2, F32(1)), F32(0))
    best = scale * sumlx
    for k in [k for k in range(-9, 10) if k]:
        trial, sumlx, suml2 = sums(-(F32(nmax) + F32(0.1) * F32(k)) / mx)
        accept = (suml2 > 0) & (sumlx * sumlx > best * suml2)
        L = np.where(accept[:, None], trial, L)
        scale = np.where(accept, sumlx / np.where(accept, suml2, F32(1)), scale)
        best = np.where(accept, scale * sumlx, best)
    return np.where(zero, F32(0), scale), np.where(zero[:, None], F32(0), L)


def _requantize(x, d, dm, L, lo, hi):
    """Levels of x on the grid d * l - dm (clipped to lo..hi) where d != 0; L where d == 0."""
    nonzero = d != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        fresh = np.clip(nearest((x + dm[..., None]) / d[..., None]), lo, hi)
    return np.where(nonzero[..., None], fresh, L)


def _affine_superblock(x, sub, nmax, scale_max, search):
    """Shared q2_K / q4_K / q5_K: (d * ls) * L - dmin * lm per sub-block, shape (blocks, subs, sub)."""
    blocks = x.reshape(len(x), -1, sub)
    n_sub = blocks.shape[1]
    rows = blocks.reshape(-1, sub)
    if sub == 16:
        w = np.abs(rows)
    else:
        sum_x2 = np.zeros(len(rows), F32)
        for i in range(sub):
            sum_x2 = sum_x2 + rows[:, i] * rows[:, i]
        w = np.sqrt(sum_x2 / F32(sub))[:, None] + np.abs(rows)
    scales, mins, L = fit_affine(rows, w, nmax, *search)
    scales, mins, L = scales.reshape(-1, n_sub), mins.reshape(-1, n_sub), L.reshape(blocks.shape)
    max_scale = np.maximum(scales.max(axis=1), 0)
    max_min = np.maximum(mins.max(axis=1), 0)
    with np.errstate(divide="ignore"):
        iscale = np.where(max_scale > 0, F32(scale_max) / max_scale, F32(0))
        imin = np.where(max_min > 0, F32(scale_max) / max_min, F32(0))
    ls = np.clip(nearest(iscale[:, None] * scales), 0, scale_max)
    lm = np.clip(nearest(imin[:, None] * mins), 0, scale_max)
    d = to_fp16(np.where(max_scale > 0, max_scale / F32(scale_max), F32(0)))
    dmin = to_fp16(np.where(max_min > 0, max_min / F32(scale_max), F32(0)))
    dl, ml = d[:, None] * ls, dmin[:, None] * lm
    L = _requantize(blocks, dl, ml, L, 0, nmax)
    return (dl[..., None] * L - ml[..., None]).reshape(len(x), -1)


def q2_K(x):
    return _affine_superblock(x, 16, 3, 15, (-0.5, 0.1, 15, True))


def q4_K(x):
    return _affine_superblock(x, 32, 15, 63, (-1.0, 0.1, 20, False))


def q5_K(x):
    return _affine_superblock(x, 32, 31, 63, (-0.5, 0.1, 15, False))


def _symmetric_superblock(x, nmax, fit):
    """Shared q3_K / q6_K: the sub-block fits, their scales and the one of largest magnitude."""
    blocks = x.reshape(len(x), 16, 16)
    scales, L = fit(blocks.reshape(-1, 16), nmax)
    scales, L = scales.reshape(-1, 16), L.reshape(blocks.shape)
    max_scale = largest_magnitude(scales)
    return blocks, scales, L, max_scale


def q3_K(x):
    blocks, scales, L, max_scale = _symmetric_superblock(x, 4, fit_symmetric_iterative)
    live = max_scale != 0
    with np.errstate(divide="ignore"):
        iscale = np.where(live, F32(-32) / max_scale, F32(0))
        d = to_fp16(np.where(live, F32(1) / iscale, F32(0)))
    sc = np.clip(nearest(iscale[:, None] * scales), -32, 31)
    dl = d[:, None] * sc
    L = np.where(dl[..., None] != 0, _requantize(blocks, dl, np.zeros_like(dl), L, -4, 3) + 4, L)
    stored = np.where(live[:, None], sc, F32(-32))  # all scales 0: zero bytes, which decode to -32
    return ((d[:, None] * stored)[..., None] * (L - 4)).reshape(len(x), -1)


def q6_K(x):
    blocks, scales, L, max_scale = _symmetric_superblock(x, 32, fit_symmetric_search)
    live = np.abs(max_scale) >= GROUP_MAX_EPS
    with np.errstate(divide="ignore"):
        iscale = np.where(live, F32(-128) / max_scale, F32(0))
        d = to_fp16(np.where(live, F32(1) / iscale, F32(0)))
    sc = np.clip(nearest(iscale[:, None] * scales), -128, 127)
    dl = d[:, None] * sc
    L = np.where(dl[..., None] != 0, _requantize(blocks, dl, np.zeros_like(dl), L, -32, 31) + 32, L)
    L = np.where(live[:, None, None], L, F32(0))  # an all-zero block is stored as zero bytes
    return (dl[..., None] * (L - 32)).reshape(len(x), -1)
