/* Scalar reference quantizers (quantize_row_<t>_ref), the float -> block side of quant/ref.c.
 *
 * - F16 / BF16: round to nearest even (ll_f32_to_fp16, ll_f32_to_bf16 in kernels.h).
 * - Q8_0 / Q8_K: the activation quantizers defined in native/kernels.h. They round half to even,
 *   as _mm256_cvtps_epi32 / vcvtnq_s32_f32 do, so every ISA reproduces them bit for bit.
 * - Q4_0 / Q4_1 / Q5_0 / Q5_1: ggml's reference quantizers (equal to gguf.quants.quantize).
 * - Q2_K .. Q6_K: llama.cpp's reference algorithms without an importance matrix: per sub-block a
 *   searched fit (affine scale + min for Q2_K / Q4_K / Q5_K, symmetric scale for Q3_K / Q6_K), the
 *   sub-block scales quantized against the largest one, then every value requantized with the
 *   scales as stored.
 * Every fp16 scale is rounded to nearest even. Static helpers carry the ref_ prefix (one
 * translation unit with every ISA file: native/variant.c). */
#include <math.h>
#include "../kernels.h"

/* round half to even, exact for |v| < 2^22 (adding 1.5 * 2^23 leaves no fraction bits); larger
 * magnitudes saturate to +-2^22, NaN gives -2^22. The rounding of nearbyintf in the default mode
 * and of _mm256_cvtps_epi32, without a libm call. */
static inline int ref_nearest_int(float v) {
    if (!(fabsf(v) < 4194304.0f)) return v > 0.0f ? 4194304 : -4194304;
    return (int)((v + 12582912.0f) - 12582912.0f);
}

static inline int ref_clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The element of largest magnitude with its sign (the first of equals; 0 for an all-zero x[n]). */
static float ref_signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

/* ---- float types ---- */

void quantize_row_f32_ref(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void quantize_row_f16_ref(const float *src, void *dst, int64_t n) {
    ll_fp16 *y = (ll_fp16 *)dst; /* [n] */
    for (int64_t i = 0; i < n; i++) y[i] = ll_f32_to_fp16(src[i]);
}

void quantize_row_bf16_ref(const float *src, void *dst, int64_t n) {
    ll_bf16 *y = (ll_bf16 *)dst; /* [n] */
    for (int64_t i = 0; i < n; i++) y[i] = ll_f32_to_bf16(src[i]);
}

/* ---- activation types ---- */

/* Q8_0: d = max|x| / 127, q = round_half_even(x * (127 / max|x|)), d stored as fp16 (as llama.cpp's x86
 * quantizer computes it, so activations quantize to the same bytes). */
void quantize_row_q8_0_ref(const float *src, void *dst, int64_t n) {
    block_q8_0 *y = (block_q8_0 *)dst; /* [n / 32] */
    for (int64_t b = 0; b < n / QK8_0; b++, src += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) amax = fabsf(src[j]) > amax ? fabsf(src[j]) : amax;
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = ll_f32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) y[b].qs[j] = (int8_t)ref_nearest_int(src[j] * id);
    }
}

/* Q8_K: iscale = -127 / max (max = signed absmax, as llama.cpp), q = min(127, round_half_even(iscale * x)),
 * d = 1 / iscale, bsums[j] = sum of q[16j .. 16j + 15]; an all-zero block is d = 0, q = 0. */
void quantize_row_q8_K_ref(const float *src, void *dst, int64_t n) {
    block_q8_K *y = (block_q8_K *)dst; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
        const float max = ref_signed_absmax(src, QK_K);
        memset(&y[b], 0, sizeof y[b]);
        if (max == 0.0f) continue;
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            const int v = ref_nearest_int(iscale * src[j]);
            y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
            y[b].bsums[j / 16] = (int16_t)(y[b].bsums[j / 16] + y[b].qs[j]);
        }
        y[b].d = 1.0f / iscale;
    }
}

/* ---- legacy 32-element types ---- */

/* (int)v clamped to 0..hi: ggml's MIN(hi, (int8_t)v) for the v >= 0 it produces. */
static inline uint8_t ref_trunc_level(float v, int hi) { return (uint8_t)ref_clamp((int)v, 0, hi); }

/* qs[16] from u[32] (0..15): element j < 16 in the low nibble of qs[j], j + 16 in its high nibble. */
static void ref_pack_nibbles32(const uint8_t *u, uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((u[j] & 0xF) | ((u[j + 16] & 0xF) << 4));
}

/* qs[16] and qh[4] from u[32] (0..31): low 4 bits as nibbles, bit 4 of element j in bit j of qh. */
static void ref_pack_5bit32(const uint8_t *u, uint8_t *qs, uint8_t *qh) {
    uint32_t high = 0;
    for (int j = 0; j < 32; j++) high |= (uint32_t)(u[j] >> 4) << j;
    ref_pack_nibbles32(u, qs);
    memcpy(qh, &high, sizeof high);
}

/* Symmetric legacy block x[32] (q4_0: levels = 16, q5_0: 32): d = max / -(levels / 2) with max the
 * signed absmax (which lands on level 0), u = trunc(x / d + levels / 2 + 0.5). Returns d. */
static float ref_quantize_symmetric32(const float *x, int levels, uint8_t *u) {
    const float d = ref_signed_absmax(x, 32) / (float)-(levels / 2);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const float offset = (float)(levels / 2) + 0.5f;
    for (int j = 0; j < 32; j++) u[j] = ref_trunc_level(x[j] * id + offset, levels - 1);
    return d;
}

/* Affine legacy block x[32] (q4_1: levels = 16, q5_1: 32): d = (max - min) / (levels - 1),
 * u = trunc((x - min) / d + 0.5). Returns d, sets *min to the block minimum. */
static float ref_quantize_affine32(const float *x, int levels, uint8_t *u, float *min) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < 32; j++) {
        lo = x[j] < lo ? x[j] : lo;
        hi = x[j] > hi ? x[j] : hi;
    }
    const float d = (hi - lo) / (float)(levels - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) u[j] = ref_trunc_level((x[j] - lo) * id + 0.5f, levels - 1);
    *min = lo;
    return d;
}

void quantize_row_q4_0_ref(const float *src, void *dst, int64_t n) {
    block_q4_0 *y = (block_q4_0 *)dst; /* [n / 32] */
    uint8_t u[QK4_0];
    for (int64_t b = 0; b < n / QK4_0; b++, src += QK4_0) {
        y[b].d = ll_f32_to_fp16(ref_quantize_symmetric32(src, 16, u));
        ref_pack_nibbles32(u, y[b].qs);
    }
}

void quantize_row_q4_1_ref(const float *src, void *dst, int64_t n) {
    block_q4_1 *y = (block_q4_1 *)dst; /* [n / 32] */
    uint8_t u[QK4_1];
    for (int64_t b = 0; b < n / QK4_1; b++, src += QK4_1) {
        float min;
        y[b].d = ll_f32_to_fp16(ref_quantize_affine32(src, 16, u, &min));
        y[b].m = ll_f32_to_fp16(min);
        ref_pack_nibbles32(u, y[b].qs);
    }
}

void quantize_row_q5_0_ref(const float *src, void *dst, int64_t n) {
    block_q5_0 *y = (block_q5_0 *)dst; /* [n / 32] */
    uint8_t u[QK5_0];
    for (int64_t b = 0; b < n / QK5_0; b++, src += QK5_0) {
        y[b].d = ll_f32_to_fp16(ref_quantize_symmetric32(src, 32, u));
        ref_pack_5bit32(u, y[b].qs, y[b].qh);
    }
}

void quantize_row_q5_1_ref(const float *src, void *dst, int64_t n) {
    block_q5_1 *y = (block_q5_1 *)dst; /* [n / 32] */
    uint8_t u[QK5_1];
    for (int64_t b = 0; b < n / QK5_1; b++, src += QK5_1) {
        float min;
        y[b].d = ll_f32_to_fp16(ref_quantize_affine32(src, 32, u, &min));
        y[b].m = ll_f32_to_fp16(min);
        ref_pack_5bit32(u, y[b].qs, y[b].qh);
    }
}

/* ---- k-quants: sub-block fits ---- */

/* The search of an affine fit x ~ scale * L + min (L in 0..nmax, min <= 0): the parameters of
 * llama.cpp's make_qkx2_quants. */
typedef struct {
    int nmax;     /* largest level */
    float rmin;   /* first grid tried: (nmax + rmin) / (max - min) levels per unit */
    float rdelta; /* grid density step */
    int nstep;    /* grids tried after the first: nstep + 1 */
    int use_mad;  /* error = sum w |diff| (1) or sum w diff^2 (0) */
} ref_affine_search;

/* L[n] = clamp(round(iscale * (x - min)), 0, nmax) */
static void ref_affine_levels(int n, int nmax, const float *x, float iscale, float min, uint8_t *L) {
    for (int i = 0; i < n; i++) L[i] = (uint8_t)ref_clamp(ref_nearest_int(iscale * (x[i] - min)), 0, nmax);
}

/* sum_i w_i err(scale * L_i + min - x_i) */
static float ref_affine_error(int n, const float *x, const float *w, const uint8_t *L, float scale, float min,
                              int use_mad) {
    float err = 0.0f;
    for (int i = 0; i < n; i++) {
        const float diff = scale * (float)L[i] + min - x[i];
        err += w[i] * (use_mad ? fabsf(diff) : diff * diff);
    }
    return err;
}

/* Weighted least squares scale and min for fixed levels L (a positive min is replaced by 0 and the
 * scale refit through the origin). sum_w, sum_x: sums of w and w x. Returns 0 when L is degenerate. */
static int ref_affine_refit(int n, const float *x, const float *w, const uint8_t *L, float sum_w, float sum_x,
                            float *scale, float *min) {
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < n; i++) {
        const float wl = w[i] * (float)L[i];
        sum_l += wl;
        sum_l2 += wl * (float)L[i];
        sum_xl += wl * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0.0f)) return 0;
    *scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    *min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (*min > 0.0f) {
        *min = 0.0f;
        *scale = sum_xl / sum_l2;
    }
    return 1;
}

/* Affine fit of x[n] (n <= 32) with weights w[n]: the min/max grid first, then nstep + 1 slightly
 * denser or sparser grids, each refit by least squares, keeping the lowest weighted error.
 * L[n] = levels; returns the scale and sets *neg_min = -min >= 0. */
static float ref_fit_affine(int n, const float *x, const float *w, const ref_affine_search *p, uint8_t *L,
                            float *neg_min) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; i++) {
        min = x[i] < min ? x[i] : min;
        max = x[i] > max ? x[i] : max;
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0.0f) min = 0.0f;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.0f;
    }
    const float iscale = (float)p->nmax / (max - min);
    float scale = 1.0f / iscale;
    ref_affine_levels(n, p->nmax, x, iscale, min, L);
    float best = ref_affine_error(n, x, w, L, scale, min, p->use_mad);
    for (int step = 0; step <= p->nstep; step++) {
        uint8_t trial[32];
        float trial_scale, trial_min;
        const float trial_iscale = (p->rmin + p->rdelta * (float)step + (float)p->nmax) / (max - min);
        ref_affine_levels(n, p->nmax, x, trial_iscale, min, trial);
        if (!ref_affine_refit(n, x, w, trial, sum_w, sum_x, &trial_scale, &trial_min)) continue;
        const float err = ref_affine_error(n, x, w, trial, trial_scale, trial_min, p->use_mad);
        if (err < best) {
            memcpy(L, trial, (size_t)n);
            best = err;
            scale = trial_scale;
            min = trial_min;
        }
    }
    *neg_min = -min;
    return scale;
}

#define REF_GROUP_MAX_EPS 1e-15f /* below this absmax a sub-block counts as all zero (ggml's GROUP_MAX_EPS) */

/* Symmetric fit of x[n] (n <= 16) on levels -nmax..nmax-1 weighted by x^2 (llama.cpp's
 * make_q3_quants with rmse): round at scale max / -nmax, then up to 5 passes moving single levels
 * where that raises sumlx^2 / suml2 (= lowers the weighted error at the best scale).
 * L[n] = level + nmax; returns the scale (0 for an all-zero x). */
static float ref_fit_symmetric_iterative(int n, int nmax, const float *x, int8_t *L) {
    const float max = ref_signed_absmax(x, n);
    if (fabsf(max) < REF_GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    const float iscale = (float)-nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        L[i] = (int8_t)ref_clamp(ref_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)L[i];
        suml2 += w * (float)L[i] * (float)L[i];
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (!(slx > 0.0f)) continue;
            float sl2 = suml2 - w * (float)L[i] * (float)L[i];
            const int level = ref_clamp(ref_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (level == L[i]) continue;
            slx += w * x[i] * (float)level;
            sl2 += w * (float)level * (float)level;
            if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)level;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* sumlx = sum x^2 x l, suml2 = sum x^2 l^2 over the levels l of x[n] at iscale; L (unless NULL)
 * gets l + nmax. */
static void ref_symmetric_sums(int n, int nmax, const float *x, float iscale, int8_t *L, float *sumlx,
                               float *suml2) {
    *sumlx = *suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = ref_clamp(ref_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        const float w = x[i] * x[i];
        *sumlx += w * x[i] * (float)l;
        *suml2 += w * (float)l * (float)l;
        if (L) L[i] = (int8_t)(l + nmax);
    }
}

/* Symmetric fit of x[n] on levels -nmax..nmax-1 weighted by x^2 (llama.cpp's make_qx_quants,
 * rmse_type 1): the grid at max / -nmax and 18 grids at max / -(nmax + 0.1 k), k = +-1..9, each with
 * its least squares scale; keeps the largest sumlx^2 / suml2. L[n] = level + nmax. */
static float ref_fit_symmetric_search(int n, int nmax, const float *x, int8_t *L) {
    const float max = ref_signed_absmax(x, n);
    if (fabsf(max) < REF_GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float sumlx, suml2;
    ref_symmetric_sums(n, nmax, x, (float)-nmax / max, L, &sumlx, &suml2);
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int k = -9; k <= 9; k++) {
        if (k == 0) continue;
        const float iscale = -((float)nmax + 0.1f * (float)k) / max;
        ref_symmetric_sums(n, nmax, x, iscale, NULL, &sumlx, &suml2);
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            ref_symmetric_sums(n, nmax, x, iscale, L, &sumlx, &suml2);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* ---- k-quants: super-blocks ---- */

/* qs[64] from L[256] (0..3): element 128h + 32s + l in bits 2s, 2s+1 of qs[32h + l]. */
static void ref_pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *e = L + 128 * h + l; /* e[32 s] = element 128h + 32s + l */
            qs[32 * h + l] = (uint8_t)(e[0] | (e[32] << 2) | (e[64] << 4) | (e[96] << 6));
        }
}

/* The level of x on the affine grid d * l - dm, l in 0..nmax. */
static uint8_t ref_requantize_affine(float x, float d, float dm, int nmax) {
    return (uint8_t)ref_clamp(ref_nearest_int((x + dm) / d), 0, nmax);
}

void quantize_row_q2_K_ref(const float *src, void *dst, int64_t n) {
    static const ref_affine_search search = {.nmax = 3, .rmin = -0.5f, .rdelta = 0.1f, .nstep = 15, .use_mad = 1};
    block_q2_K *y = (block_q2_K *)dst; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
        uint8_t L[QK_K];
        float scales[QK_K / 16], mins[QK_K / 16], w[16], max_scale = 0.0f, max_min = 0.0f;
        for (int j = 0; j < QK_K / 16; j++) { /* 16 sub-blocks of 16, weights |x| */
            for (int l = 0; l < 16; l++) w[l] = fabsf(src[16 * j + l]);
            scales[j] = ref_fit_affine(16, src + 16 * j, w, &search, L + 16 * j, &mins[j]);
            max_scale = scales[j] > max_scale ? scales[j] : max_scale;
            max_min = mins[j] > max_min ? mins[j] : max_min;
        }
        /* 4-bit scales and mins relative to the largest of each */
        const float iscale = max_scale > 0.0f ? 15.0f / max_scale : 0.0f;
        const float imin = max_min > 0.0f ? 15.0f / max_min : 0.0f;
        for (int j = 0; j < QK_K / 16; j++) {
            const int ls = ref_clamp(ref_nearest_int(iscale * scales[j]), 0, 15);
            const int lm = ref_clamp(ref_nearest_int(imin * mins[j]), 0, 15);
            y[b].scales[j] = (uint8_t)(ls | (lm << 4));
        }
        y[b].d = ll_f32_to_fp16(max_scale > 0.0f ? max_scale / 15.0f : 0.0f);
        y[b].dmin = ll_f32_to_fp16(max_min > 0.0f ? max_min / 15.0f : 0.0f);
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = ll_fp16_to_f32(y[b].d) * (float)(y[b].scales[j] & 0xF);
            if (d == 0.0f) continue; /* the fit's levels stay: every value decodes to -dm anyway */
            const float dm = ll_fp16_to_f32(y[b].dmin) * (float)(y[b].scales[j] >> 4);
            for (int l = 0; l < 16; l++) L[16 * j + l] = ref_requantize_affine(src[16 * j + l], d, dm, 3);
        }
        ref_pack_2bit(L, y[b].qs);
    }
}

/* The 12 scale bytes of q3_K from sc[16] in -32..31 (the inverse of its unpacking in quant/ref.c). */
static void ref_pack_q3_K_scales(const int *sc, uint8_t *scales) {
    memset(scales, 0, K_SCALE_SIZE);
    for (int j = 0; j < QK_K / 16; j++) {
        const int l = sc[j] + 32;
        scales[j % 8] |= (uint8_t)((l & 0xF) << (4 * (j / 8)));
        scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
    }
}

/* hmask[32], qs[64] from L[256] (0..7): bit 2 of element e in bit e / 32 of hmask[e % 32], bits
 * 0-1 as in q2_K. */
static void ref_pack_q3_K(const int8_t *L, uint8_t *hmask, uint8_t *qs) {
    uint8_t low[QK_K];
    memset(hmask, 0, QK_K / 8);
    for (int e = 0; e < QK_K; e++) {
        hmask[e % 32] |= (uint8_t)(((L[e] >> 2) & 1) << (e / 32));
        low[e] = (uint8_t)(L[e] & 3);
    }
    ref_pack_2bit(low, qs);
}

void quantize_row_q3_K_ref(const float *src, void *dst, int64_t n) {
    block_q3_K *y = (block_q3_K *)dst; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
        int8_t L[QK_K];
        float scales[QK_K / 16], max_scale = 0.0f;
        for (int j = 0; j < QK_K / 16; j++) { /* 16 sub-blocks of 16 on levels -4..3 */
            scales[j] = ref_fit_symmetric_iterative(16, 4, src + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > fabsf(max_scale)) max_scale = scales[j];
        }
        /* 6-bit signed scales: the largest one maps to -32 */
        int sc[QK_K / 16] = {0};
        memset(y[b].scales, 0, sizeof y[b].scales);
        const float iscale = max_scale != 0.0f ? -32.0f / max_scale : 0.0f;
        if (iscale != 0.0f) {
            for (int j = 0; j < QK_K / 16; j++) sc[j] = ref_clamp(ref_nearest_int(iscale * scales[j]), -32, 31);
            ref_pack_q3_K_scales(sc, y[b].scales);
        }
        y[b].d = ll_f32_to_fp16(iscale != 0.0f ? 1.0f / iscale : 0.0f);
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = ll_fp16_to_f32(y[b].d) * (float)sc[j];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++) {
                L[16 * j + l] = (int8_t)(ref_clamp(ref_nearest_int(src[16 * j + l] / d), -4, 3) + 4);
            }
        }
        ref_pack_q3_K(L, y[b].hmask, y[b].qs);
    }
}

/* The 12 scale bytes of q4_K / q5_K from ls[8], lm[8] (0..63): the inverse of ll_get_scale_min_k4. */
static void ref_pack_scale_min_k4(const uint8_t *ls, const uint8_t *lm, uint8_t *scales) {
    for (int j = 0; j < 4; j++) {
        scales[j] = (uint8_t)(ls[j] | ((ls[j + 4] >> 4) << 6));
        scales[j + 4] = (uint8_t)(lm[j] | ((lm[j + 4] >> 4) << 6));
        scales[j + 8] = (uint8_t)((ls[j + 4] & 0xF) | ((lm[j + 4] & 0xF) << 4));
    }
}

/* The common part of q4_K (nmax 15) and q5_K (nmax 31) for one super-block x[256]: per 32-element
 * sub-block an affine fit weighted by rms(sub-block) + |x|; 6-bit scales and mins relative to the
 * largest of each; then every value requantized with the stored scales. Sets d, dmin,
 * packed_scales[12] and L[256] (0..nmax). */
static void ref_quantize_k4_super(const float *x, const ref_affine_search *p, ll_fp16 *d_out, ll_fp16 *dmin_out,
                                  uint8_t *packed_scales, uint8_t *L) {
    float scales[QK_K / 32], mins[QK_K / 32], w[32], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < QK_K / 32; j++) {
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32.0f);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = ref_fit_affine(32, x + 32 * j, w, p, L + 32 * j, &mins[j]);
        max_scale = scales[j] > max_scale ? scales[j] : max_scale;
        max_min = mins[j] > max_min ? mins[j] : max_min;
    }
    const float iscale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float imin = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    uint8_t ls[QK_K / 32], lm[QK_K / 32];
    for (int j = 0; j < QK_K / 32; j++) {
        ls[j] = (uint8_t)ref_clamp(ref_nearest_int(iscale * scales[j]), 0, 63);
        lm[j] = (uint8_t)ref_clamp(ref_nearest_int(imin * mins[j]), 0, 63);
    }
    ref_pack_scale_min_k4(ls, lm, packed_scales);
    *d_out = ll_f32_to_fp16(max_scale / 63.0f);
    *dmin_out = ll_f32_to_fp16(max_min / 63.0f);
    for (int j = 0; j < QK_K / 32; j++) {
        const float d = ll_fp16_to_f32(*d_out) * (float)ls[j];
        if (d == 0.0f) continue;
        const float dm = ll_fp16_to_f32(*dmin_out) * (float)lm[j];
        for (int l = 0; l < 32; l++) L[32 * j + l] = ref_requantize_affine(x[32 * j + l], d, dm, p->nmax);
    }
}

/* qs[128] from the low 4 bits of L[256]: element 64c + l in the low nibble of qs[32c + l],
 * 64c + 32 + l in its high nibble. */
static void ref_pack_q4_K(const uint8_t *L, uint8_t *qs) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) qs[32 * c + l] = (uint8_t)((L[64 * c + l] & 0xF) | ((L[64 * c + 32 + l] & 0xF) << 4));
}

void quantize_row_q4_K_ref(const float *src, void *dst, int64_t n) {
    static const ref_affine_search search = {.nmax = 15, .rmin = -1.0f, .rdelta = 0.1f, .nstep = 20, .use_mad = 0};
    block_q4_K *y = (block_q4_K *)dst; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
        uint8_t L[QK_K];
        ref_quantize_k4_super(src, &search, &y[b].d, &y[b].dmin, y[b].scales, L);
        ref_pack_q4_K(L, y[b].qs);
    }
}

void quantize_row_q5_K_ref(const float *src, void *dst, int64_t n) {
    static const ref_affine_search search = {.nmax = 31, .rmin = -0.5f, .rdelta = 0.1f, .nstep = 15, .use_mad = 0};
    block_q5_K *y = (block_q5_K *)dst; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
        uint8_t L[QK_K];
        ref_quantize_k4_super(src, &search, &y[b].d, &y[b].dmin, y[b].scales, L);
        ref_pack_q4_K(L, y[b].qs);
        memset(y[b].qh, 0, sizeof y[b].qh); /* bit 4 of element e in bit e / 32 of qh[e % 32] */
        for (int e = 0; e < QK_K; e++) y[b].qh[e % 32] |= (uint8_t)((L[e] >> 4) << (e / 32));
    }
}

/* ql[128], qh[64] from L[256] (0..63): element 128h + 32s + l keeps its low 4 bits in nibble s / 2
 * of ql[64h + 32(s % 2) + l] and its top 2 bits in bits 2s, 2s+1 of qh[32h + l]. */
static void ref_pack_q6_K(const int8_t *L, uint8_t *ql, uint8_t *qh) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const int8_t *e = L + 128 * h + l; /* e[32 s] = element 128h + 32s + l */
            ql[64 * h + l] = (uint8_t)((e[0] & 0xF) | ((e[64] & 0xF) << 4));
            ql[64 * h + 32 + l] = (uint8_t)((e[32] & 0xF) | ((e[96] & 0xF) << 4));
            qh[32 * h + l] = (uint8_t)((e[0] >> 4) | ((e[32] >> 4) << 2) | ((e[64] >> 4) << 4) | ((e[96] >> 4) << 6));
        }
}

void quantize_row_q6_K_ref(const float *src, void *dst, int64_t n) {
    block_q6_K *y = (block_q6_K *)dst; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
        int8_t L[QK_K];
        float scales[QK_K / 16], max_scale = 0.0f;
        for (int j = 0; j < QK_K / 16; j++) { /* 16 sub-blocks of 16 on levels -32..31 */
            scales[j] = ref_fit_symmetric_search(16, 32, src + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > fabsf(max_scale)) max_scale = scales[j];
        }
        memset(&y[b], 0, sizeof y[b]);
        if (fabsf(max_scale) < REF_GROUP_MAX_EPS) continue;
        /* 8-bit signed scales: the largest one maps to -128 */
        const float iscale = -128.0f / max_scale;
        y[b].d = ll_f32_to_fp16(1.0f / iscale);
        for (int j = 0; j < QK_K / 16; j++) {
            y[b].scales[j] = (int8_t)ref_clamp(ref_nearest_int(iscale * scales[j]), -128, 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = ll_fp16_to_f32(y[b].d) * (float)y[b].scales[j];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++) {
                L[16 * j + l] = (int8_t)(ref_clamp(ref_nearest_int(src[16 * j + l] / d), -32, 31) + 32);
            }
        }
        ref_pack_q6_K(L, y[b].ql, y[b].qh);
    }
}
