/* Internal: the kernel table and what every ISA file provides.
 *
 * Each ISA file (quant/ref.c, quant/avx2.c, quant/avx512.c, quant/neon.c) defines its kernels with
 * its suffix (vec_dot_q4_K_q8_K_avx2, dequantize_row_q8_0_ref, ...) and one fill function that
 * writes the slots it implements into the table. dispatch.c calls ll_fill_kernels_ref first (every
 * slot gets its scalar twin), then the fill function of each ISA this module was compiled for.
 */
#ifndef LL_KERNELS_H
#define LL_KERNELS_H
#include <stdint.h>
#include <string.h>
#include "quant/blocks.h"

/* dst[n] = the n values of a row of this type. n is a multiple of block_size. */
typedef void (*ll_dequantize_row_fn)(const void *src, float *dst, int64_t n);
/* The row of this type closest to src[n] (the reference quantizer; for the activation types
 * Q8_0 / Q8_K also the fast path used by matmul). n is a multiple of block_size.
 * The activation quantizers are defined so every ISA reproduces them byte for byte, and as
 * llama.cpp's x86 code computes them (so activations quantize to the bytes llama.cpp multiplies):
 *   Q8_0: amax = max|x|, d = amax / 127, id = amax ? 127 / amax : 0, q = round_half_even(x * id),
 *         stored d = fp16(d) rounded to nearest even;
 *   Q8_K: max = the signed value of the first element of largest |x|; all-zero block: d = 0, q = 0;
 *         else iscale = -127 / max, q = min(127, round_half_even(iscale * x)), d = 1 / iscale,
 *         bsums[j] = sum of q[16j .. 16j + 15]. */
typedef void (*ll_quantize_row_fn)(const float *src, void *dst, int64_t n);
/* *s = sum_i x[i] * y[i] over n elements; x: a row of this type, y: a row of its vec_dot_type. */
typedef void (*ll_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);
/* A tile of a matmul, for prefill: out[c * out_stride + r] = dot(w_r, a_c) for r < nr, c < nc (the
 * layout of y, so tiles write the result in place), with w_r = w + r * w_stride bytes (this type)
 * and a_c = a + c * a_stride bytes (vec_dot_type).
 * Each out value must have the same bits for any nr, nc (1 included: matmul also decodes through
 * it) and position in the tile, so that results depend neither on the thread count nor on the
 * batching. Optional: NULL means matmul loops vec_dot. */
typedef void (*ll_gemm_tile_fn)(int64_t n, float *out, int64_t out_stride, const void *w, int64_t w_stride,
                                int nr, const void *a, int64_t a_stride, int nc);

typedef struct {
    const char *name;                    /* "Q4_K" ... (NULL: type unknown to the table) */
    int block_size;                      /* elements per block */
    int block_bytes;                     /* bytes per block */
    int vec_dot_type;                    /* enum ll_ggml_type of the activation row vec_dot takes */
    ll_dequantize_row_fn dequantize_row;
    ll_quantize_row_fn quantize_row;
    ll_vec_dot_fn vec_dot;
    ll_gemm_tile_fn gemm_tile;
    int gemm_tile_rows;                  /* most weight rows gemm_tile takes at once (nr <= this) */
    int gemm_tile_cols;                  /* most activation rows gemm_tile takes at once (nc <= this) */
} ll_type_kernels;

extern ll_type_kernels LL_KERNELS[LL_TYPE_COUNT];
void ll_kernels_init(void); /* idempotent, thread-safe (fills LL_ATTN_KERNELS too) */

/* ---- attention kernels (quant/ref_attention.c, quant/avx2_attention.c, quant/avx512_attention.c) ----
 * Each float result is the same chain of roundings on every ISA: the SIMD kernels only compute
 * several independent chains at once. */
#define LL_ATTN_TILE 64 /* KV cells per tile of the large-batch path */

/* For m queries q[j] (each [hd]) at once: dot[j * LL_ATTN_TILE + c] = q[j] . k_c for the
 * c < LL_ATTN_TILE cells of a tile, kt = [hd, LL_ATTN_TILE] (k_c a column): each an fmaf chain over
 * d = 0, 1, ... starting from 0, whatever m is. */
typedef void (*ll_attn_tile_dots_fn)(int64_t hd, int m, const float *const *q, const float *kt, float *dot);
/* For m queries that see the same cells: acc[j][hd] += w[j * LL_ATTN_TILE + i] * vt[cells[i] * hd ...]
 * for i < n in order (an fmaf chain per value, whatever m is). */
typedef void (*ll_attn_tile_mix_fn)(int64_t hd, int m, const float *vt, const int32_t *cells, const float *w, int n,
                                    float *const *acc);
/* The per-cell path's V sum for an F16 cache, kept as ggml keeps it: in an fp16 vector.
 * acc[hd] (zeroed here) folds in step t < n: the hd halves v_t at v + cells[t] * v_stride bytes,
 * with weight w[t], after the running sum's rescale factor rescale[t] (1: none):
 *   if rescale[t] != 1: acc *= rescale[t], rounded to fp16 if t <= round_until;
 *   acc = fmaf(v_t, w[t], acc), rounded to fp16 if t < round_until.
 * Returns the first step t < round_until whose acc reached 65520 in magnitude before its rounding
 * (where fp16 overflows), else n: the caller then runs it again with round_until = that step, so
 * that the sum goes on in f32 from there (ggml's would be inf, then NaN). */
typedef int32_t (*ll_attn_mix_f16_fn)(int64_t hd, const uint8_t *v, size_t v_stride, const int32_t *cells,
                                      const float *w, const float *rescale, int32_t n, int32_t round_until,
                                      float *acc);
/* kt[d * LL_ATTN_TILE + c] = rows[c * hd + d] for d < hd, c < nc, and 0 for nc <= c < LL_ATTN_TILE. */
typedef void (*ll_attn_tile_transpose_fn)(int64_t hd, int nc, const float *rows, float *kt);
typedef struct {
    ll_attn_tile_transpose_fn tile_transpose;
    ll_attn_tile_dots_fn tile_dots;
    ll_attn_tile_mix_fn tile_mix;
    ll_attn_mix_f16_fn mix_f16;
} ll_attn_kernels;

extern ll_attn_kernels LL_ATTN_KERNELS;
void ll_fill_attn_kernels_ref(ll_attn_kernels *k);
void ll_fill_attn_kernels_avx2(ll_attn_kernels *k);
void ll_fill_attn_kernels_avx512(ll_attn_kernels *k);

/* ---- activation kernels (ops.c: the reference, quant/avx2_act.c, quant/avx512_act.c) ---- */
/* y[i] = gelu(a[i]) * (b ? b[i] : 1) for i < n, gelu read as table[fp16(a[i])] (fp16 in and out,
 * table: [(1 << 16) + 1], the last entry padding) for -10 < a[i] < 10, else 0 or a[i]. */
typedef void (*ll_gelu_mul_fn)(const ll_fp16 *table, const float *a, const float *b, float *y, int64_t n);
/* y[i] = 0.5 x[i] (1 + erf(x[i] / sqrt 2)) for i < n (BERT's GELU), with erf the rational
 * approximation below (|error| < 1e-6 relative to libm's erff), whose operations every ISA
 * repeats exactly: the same bits on every level, 10x the speed of erff calls. */
typedef void (*ll_gelu_erf_fn)(const float *x, float *y, int64_t n);
typedef struct {
    ll_gelu_mul_fn gelu_mul;
    ll_gelu_erf_fn gelu_erf;
} ll_act_kernels;

/* erf(x) ~= x p(x^2) / q(x^2) on x clamped to [-4, 4] (beyond, erf is +-1 in float): p of degree
 * 6 (LL_ERF_P[0] the top coefficient), q of degree 4, each by Horner's rule with fmaf, then one
 * division. The SIMD kernels evaluate the same steps lane by lane. */
static const float LL_ERF_P[7] = {-2.72614225801306e-10f, 2.77068142495902e-08f, -2.10102402082508e-06f,
                                  -5.69250639462346e-05f, -7.34990630326855e-04f, -2.95459980854025e-03f,
                                  -1.60960333262415e-02f};
static const float LL_ERF_Q[5] = {-1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f,
                                  -7.37332916720468e-03f, -1.42647390514189e-02f};
#define LL_INV_SQRT2 0.70710678118654752440f

extern ll_act_kernels LL_ACT_KERNELS;
void act_gelu_mul_ref(const ll_fp16 *table, const float *a, const float *b, float *y, int64_t n);
void act_gelu_erf_ref(const float *x, float *y, int64_t n);
void ll_fill_act_kernels_ref(ll_act_kernels *k);
void ll_fill_act_kernels_avx2(ll_act_kernels *k);
void ll_fill_act_kernels_avx512(ll_act_kernels *k);

void ll_fill_kernels_ref(ll_type_kernels *table);
void ll_fill_kernels_avx2(ll_type_kernels *table);
void ll_fill_kernels_avx512(ll_type_kernels *table);
void ll_fill_kernels_neon(ll_type_kernels *table, uint32_t cpu_features);

/* ---- scalar conversions shared by every file ---- */
static inline float ll_bits_to_f32(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint32_t ll_f32_to_bits(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* IEEE half -> float, exact for every input (subnormals, inf, NaN payloads). */
static inline float ll_fp16_to_f32(ll_fp16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0x1f) return ll_bits_to_f32(sign | 0x7f800000u | (mantissa << 13));
    if (exponent != 0) return ll_bits_to_f32(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    if (mantissa == 0) return ll_bits_to_f32(sign);
    uint32_t shift = 0; /* subnormal: renormalize so the leading 1 lands on bit 10 */
    while (!(mantissa & 0x400u)) {
        mantissa <<= 1;
        shift++;
    }
    return ll_bits_to_f32(sign | ((113u - shift) << 23) | ((mantissa & 0x3ffu) << 13));
}

static inline float ll_bf16_to_f32(ll_bf16 h) { return ll_bits_to_f32((uint32_t)h << 16); }

/* float -> IEEE half, round to nearest even; >= 65520 in magnitude becomes inf, NaN stays NaN with
 * the quiet bit set. Equal to F16C's vcvtps2ph (_MM_FROUND_TO_NEAREST_INT) and numpy's
 * astype(float16) for every non-NaN input. */
static inline ll_fp16 ll_f32_to_fp16(float f) {
    const uint32_t x = ll_f32_to_bits(f);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return (ll_fp16)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) return (ll_fp16)(sign | 0x7c00u);
    if (a >= 0x38800000u) { /* normal half: rebias the exponent by -112, round off 13 mantissa bits */
        a += 0xc8000fffu + ((a >> 13) & 1u);
        return (ll_fp16)(sign | (a >> 13));
    }
    if (a <= 0x33000000u) return sign; /* <= 2^-25 (a tie at 2^-25 goes to the even 0) */
    /* subnormal half: the value in units of 2^-24, rounded to nearest even */
    const uint32_t mantissa = (a & 0x7fffffu) | 0x800000u, shift = 126u - (a >> 23); /* 14..24 */
    const uint32_t rest = mantissa & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    uint32_t q = mantissa >> shift;
    q += rest > half || (rest == half && (q & 1u));
    return (ll_fp16)(sign | q);
}

/* float -> bfloat16, round to nearest even, NaN made quiet: ggml_compute_fp32_to_bf16. */
static inline ll_bf16 ll_f32_to_bf16(float f) {
    const uint32_t u = ll_f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ll_bf16)((u >> 16) | 64u);
    return (ll_bf16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* The 6-bit scale and min of sub-block j (0..7) of a q4_K / q5_K block from its 12 packed bytes:
 * j < 4: low 6 bits of scales[j] and scales[j + 4]; j >= 4: a nibble of scales[j + 4] plus the
 * top 2 bits of scales[j - 4] (scale) or scales[j] (min). */
static inline void ll_get_scale_min_k4(int j, const uint8_t *scales, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = scales[j] & 63;
        *m = scales[j + 4] & 63;
    } else {
        *sc = (uint8_t)((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
        *m = (uint8_t)((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }
}

/* ---- the scalar reference kernels (quant/ref.c): every SIMD file may call them for tails ----
 * dequantize_row: gguf.quants.dequantize bit for bit. quantize_row: the reference quantizer
 * (Q8_0 / Q8_K: the activation semantics every ISA reproduces bit for bit). vec_dot: exact
 * integer sums per block, block scales and the sum over blocks in double, rounded once. */
void dequantize_row_f32_ref(const void *src, float *dst, int64_t n);
void dequantize_row_f16_ref(const void *src, float *dst, int64_t n);
void dequantize_row_bf16_ref(const void *src, float *dst, int64_t n);
void dequantize_row_q4_0_ref(const void *src, float *dst, int64_t n);
void dequantize_row_q4_1_ref(const void *src, float *dst, int64_t n);
void dequantize_row_q5_0_ref(const void *src, float *dst, int64_t n);
void dequantize_row_q5_1_ref(const void *src, float *dst, int64_t n);
void dequantize_row_q8_0_ref(const void *src, float *dst, int64_t n);
void dequantize_row_q2_K_ref(const void *src, float *dst, int64_t n);
void dequantize_row_q3_K_ref(const void *src, float *dst, int64_t n);
void dequantize_row_q4_K_ref(const void *src, float *dst, int64_t n);
void dequantize_row_q5_K_ref(const void *src, float *dst, int64_t n);
void dequantize_row_q6_K_ref(const void *src, float *dst, int64_t n);
void dequantize_row_q8_K_ref(const void *src, float *dst, int64_t n);

void quantize_row_f32_ref(const float *src, void *dst, int64_t n);
void quantize_row_f16_ref(const float *src, void *dst, int64_t n);
void quantize_row_bf16_ref(const float *src, void *dst, int64_t n);
void quantize_row_q4_0_ref(const float *src, void *dst, int64_t n);
void quantize_row_q4_1_ref(const float *src, void *dst, int64_t n);
void quantize_row_q5_0_ref(const float *src, void *dst, int64_t n);
void quantize_row_q5_1_ref(const float *src, void *dst, int64_t n);
void quantize_row_q8_0_ref(const float *src, void *dst, int64_t n);
void quantize_row_q2_K_ref(const float *src, void *dst, int64_t n);
void quantize_row_q3_K_ref(const float *src, void *dst, int64_t n);
void quantize_row_q4_K_ref(const float *src, void *dst, int64_t n);
void quantize_row_q5_K_ref(const float *src, void *dst, int64_t n);
void quantize_row_q6_K_ref(const float *src, void *dst, int64_t n);
void quantize_row_q8_K_ref(const float *src, void *dst, int64_t n);

void vec_dot_f32_f32_ref(int64_t n, float *s, const void *x, const void *y);
void vec_dot_f16_f16_ref(int64_t n, float *s, const void *x, const void *y);
void vec_dot_bf16_bf16_ref(int64_t n, float *s, const void *x, const void *y);
void vec_dot_q4_0_q8_0_ref(int64_t n, float *s, const void *x, const void *y);
void vec_dot_q4_1_q8_0_ref(int64_t n, float *s, const void *x, const void *y);
void vec_dot_q5_0_q8_0_ref(int64_t n, float *s, const void *x, const void *y);
void vec_dot_q5_1_q8_0_ref(int64_t n, float *s, const void *x, const void *y);
void vec_dot_q8_0_q8_0_ref(int64_t n, float *s, const void *x, const void *y);
void vec_dot_q2_K_q8_K_ref(int64_t n, float *s, const void *x, const void *y);
void vec_dot_q3_K_q8_K_ref(int64_t n, float *s, const void *x, const void *y);
void vec_dot_q4_K_q8_K_ref(int64_t n, float *s, const void *x, const void *y);
void vec_dot_q5_K_q8_K_ref(int64_t n, float *s, const void *x, const void *y);
void vec_dot_q6_K_q8_K_ref(int64_t n, float *s, const void *x, const void *y);

/* The attention kernels over values [d0, d1) of the rows only (SIMD kernels' tails; the fp16 sum's
 * overflow test then looks at those values only). */
void attn_tile_transpose_span_ref(int64_t d0, int64_t d1, int64_t hd, int nc, const float *rows, float *kt);
void attn_tile_mix_span_ref(int64_t d0, int64_t d1, int64_t hd, const float *vt, const int32_t *cells,
                            const float *w, int n, float *acc);
int32_t attn_mix_f16_span_ref(int64_t d0, int64_t d1, const uint8_t *v, size_t v_stride, const int32_t *cells,
                              const float *w, const float *rescale, int32_t n, int32_t round_until, float *acc);

#endif
