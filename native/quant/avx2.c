/* AVX2 (+FMA, F16C) kernels. Compiled only into the avx2 and avx512 variant modules.
 *
 * This file: shared helpers, the float types, the legacy 32-element types and the activation
 * quantizers; quant/avx2_kquants.c (included right after this file by variant.c) holds the
 * k-quants and uses the helpers defined here.
 *
 * Dot products run on integers: a weight block is unpacked to 32 bytes and multiplied with the
 * activation bytes by _mm256_maddubs_epi16 (unsigned x signed -> pairs summed to int16, never
 * saturating for these value ranges), then _mm256_madd_epi16 sums pairs to int32. Each block's
 * int32 lanes are converted to float once and scaled with one FMA into a float accumulator.
 * Signed weights (Q4_0, Q5_0, Q8_0) use the sign trick: |x| * (y * sign(x)); this needs y != -128,
 * which holds for every Q8_0 row quantize_row makes (|q| <= 127).
 *
 * Dequantizers compute exactly what the scalar ones do (same float operations in the same order,
 * no FMA contraction), so their output is identical bit for bit.
 */
#include <immintrin.h>
#include "../kernels.h"

/* ---- helpers (also used by quant/avx2_kquants.c) ---- */

static inline float hsum_f32x8_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax_f32x8_avx2(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* fp16 bits -> float through F16C (exact for every finite value and infinity). */
static inline float fp16_to_f32_avx2(ll_fp16 h) { return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))); }

/* float -> fp16 bits, rounded to nearest even. */
static inline ll_fp16 f32_to_fp16_avx2(float f) {
    return (ll_fp16)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT), 0);
}

/* The float scale of a (weight block, activation block) pair, in every lane. */
static inline __m256 scale2_avx2(ll_fp16 dx, ll_fp16 dy) {
    return _mm256_set1_ps(fp16_to_f32_avx2(dx) * fp16_to_f32_avx2(dy));
}

/* 16 bytes of packed nibbles -> 32 bytes: [0..15] low nibbles, [16..31] high nibbles. */
static inline __m256i nibbles32_avx2(const uint8_t *qs) { /* qs: [16] */
    const __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes: byte i is 0xFF where bit i of qh is set, else 0. */
static inline __m256i bits32_avx2(const uint8_t *qh) { /* qh: [4] */
    uint32_t bits;
    memcpy(&bits, qh, sizeof bits);
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                             0x0101010101010101LL, 0x0000000000000000LL);
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
}

/* 8 int32 lanes, each the sum of 4 products x[i] * y[i]: x unsigned bytes, y signed bytes. */
static inline __m256i dot_u8_i8_avx2(__m256i x, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

/* Same for signed x (the sign trick; y must not hold -128). */
static inline __m256i dot_i8_i8_avx2(__m256i x, __m256i y) {
    return dot_u8_i8_avx2(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* 8 int32 lanes summing the 32 signed bytes of y in fours. */
static inline __m256i sum_i8_avx2(__m256i y) { return dot_u8_i8_avx2(_mm256_set1_epi8(1), y); }

static inline __m256i load256_avx2(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* 32 signed bytes -> four vectors of 8 floats, in element order. */
static inline void widen_i8x32_avx2(__m256i q, __m256 out[4]) {
    const __m128i lo = _mm256_castsi256_si128(q);
    const __m128i hi = _mm256_extracti128_si256(q, 1);
    out[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    out[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
    out[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    out[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

/* dst[0..31] = d * q[i]; d0 for the first 16 elements, d1 for the last 16. */
static inline void store_scaled32_avx2(float *dst, __m256i q, float d0, float d1) {
    __m256 v[4];
    widen_i8x32_avx2(q, v);
    const __m256 a = _mm256_set1_ps(d0), b = _mm256_set1_ps(d1);
    _mm256_storeu_ps(dst + 0, _mm256_mul_ps(a, v[0]));
    _mm256_storeu_ps(dst + 8, _mm256_mul_ps(a, v[1]));
    _mm256_storeu_ps(dst + 16, _mm256_mul_ps(b, v[2]));
    _mm256_storeu_ps(dst + 24, _mm256_mul_ps(b, v[3]));
}

/* dst[0..31] = d * q[i] - m (one scale and one min for all 32). */
static inline void store_scaled_sub32_avx2(float *dst, __m256i q, float d, float m) {
    __m256 v[4];
    widen_i8x32_avx2(q, v);
    const __m256 dv = _mm256_set1_ps(d), mv = _mm256_set1_ps(m);
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(dst + 8 * k, _mm256_sub_ps(_mm256_mul_ps(dv, v[k]), mv));
}

/* dst[0..31] = d * q[i] + m. */
static inline void store_scaled_add32_avx2(float *dst, __m256i q, float d, float m) {
    __m256 v[4];
    widen_i8x32_avx2(q, v);
    const __m256 dv = _mm256_set1_ps(d), mv = _mm256_set1_ps(m);
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(dst + 8 * k, _mm256_add_ps(_mm256_mul_ps(dv, v[k]), mv));
}

/* ---- float types ---- */

static void vec_dot_f32_f32_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = (const float *)vx; /* [n] */
    const float *y = (const float *)vy; /* [n] */
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int k = 0; k < 4; k++) {
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
        }
    }
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc[0]);
    float sum = hsum_f32x8_avx2(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) sum += x[i] * y[i];
    *s = sum;
}

static inline __m256 load_f16x8_avx2(const ll_fp16 *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static void vec_dot_f16_f16_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const ll_fp16 *x = (const ll_fp16 *)vx; /* [n] */
    const ll_fp16 *y = (const ll_fp16 *)vy; /* [n] */
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int k = 0; k < 4; k++) {
            acc[k] = _mm256_fmadd_ps(load_f16x8_avx2(x + i + 8 * k), load_f16x8_avx2(y + i + 8 * k), acc[k]);
        }
    }
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load_f16x8_avx2(x + i), load_f16x8_avx2(y + i), acc[0]);
    float sum = hsum_f32x8_avx2(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) sum += ll_fp16_to_f32(x[i]) * ll_fp16_to_f32(y[i]);
    *s = sum;
}

static inline __m256 load_bf16x8_avx2(const ll_bf16 *p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

static void vec_dot_bf16_bf16_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const ll_bf16 *x = (const ll_bf16 *)vx; /* [n] */
    const ll_bf16 *y = (const ll_bf16 *)vy; /* [n] */
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int k = 0; k < 4; k++) {
            acc[k] = _mm256_fmadd_ps(load_bf16x8_avx2(x + i + 8 * k), load_bf16x8_avx2(y + i + 8 * k), acc[k]);
        }
    }
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load_bf16x8_avx2(x + i), load_bf16x8_avx2(y + i), acc[0]);
    float sum = hsum_f32x8_avx2(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) sum += ll_bf16_to_f32(x[i]) * ll_bf16_to_f32(y[i]);
    *s = sum;
}

static void dequantize_row_f16_avx2(const void *src, float *dst, int64_t n) {
    const ll_fp16 *x = (const ll_fp16 *)src; /* [n] */
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_f16x8_avx2(x + i));
    for (; i < n; i++) dst[i] = ll_fp16_to_f32(x[i]);
}

static void dequantize_row_bf16_avx2(const void *src, float *dst, int64_t n) {
    const ll_bf16 *x = (const ll_bf16 *)src; /* [n] */
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_bf16x8_avx2(x + i));
    for (; i < n; i++) dst[i] = ll_bf16_to_f32(x[i]);
}

/* ---- legacy 32-element types against Q8_0 ----
 * Each *_block function returns the 8 int32 partial sums of one block's integer dot product
 * (and, for the types with a minimum, the partial sums of the activation bytes). */

static inline __m256i q4_0_block_avx2(const block_q4_0 *x, const block_q8_0 *y) {
    const __m256i q = _mm256_sub_epi8(nibbles32_avx2(x->qs), _mm256_set1_epi8(8));
    return dot_i8_i8_avx2(q, load256_avx2(y->qs));
}

/* Q5_0 weights as signed bytes q - 16: a clear 5th bit turns the nibble into nibble - 16. */
static inline __m256i q5_0_weights_avx2(const block_q5_0 *x) {
    const __m256i minus16 = _mm256_andnot_si256(bits32_avx2(x->qh), _mm256_set1_epi8((char)0xF0));
    return _mm256_or_si256(nibbles32_avx2(x->qs), minus16);
}

static inline __m256i q5_0_block_avx2(const block_q5_0 *x, const block_q8_0 *y) {
    return dot_i8_i8_avx2(q5_0_weights_avx2(x), load256_avx2(y->qs));
}

static inline __m256i q5_1_weights_avx2(const block_q5_1 *x) {
    const __m256i high = _mm256_and_si256(bits32_avx2(x->qh), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(nibbles32_avx2(x->qs), high);
}

static inline __m256i q8_0_block_avx2(const block_q8_0 *x, const block_q8_0 *y) {
    return dot_i8_i8_avx2(load256_avx2(x->qs), load256_avx2(y->qs));
}

/* acc += d * (float)isum, lane by lane. */
static inline __m256 fma_i32_avx2(__m256 d, __m256i isum, __m256 acc) {
    return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
}

/* The row loop of the symmetric legacy types: two blocks per step, one accumulator each. */
#define LL_VEC_DOT_SYM_AVX2(TYPE, BLOCK_T)                                                          \
    static void vec_dot_##TYPE##_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {   \
        const BLOCK_T *x = (const BLOCK_T *)vx;       /* [n / 32] */                                \
        const block_q8_0 *y = (const block_q8_0 *)vy; /* [n / 32] */                                \
        const int64_t nb = n / QK8_0;                                                               \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                              \
        int64_t b = 0;                                                                              \
        for (; b + 2 <= nb; b += 2) {                                                               \
            acc0 = fma_i32_avx2(scale2_avx2(x[b].d, y[b].d), TYPE##_block_avx2(x + b, y + b), acc0); \
            acc1 = fma_i32_avx2(scale2_avx2(x[b + 1].d, y[b + 1].d),                                \
                                TYPE##_block_avx2(x + b + 1, y + b + 1), acc1);                      \
        }                                                                                           \
        if (b < nb) acc0 = fma_i32_avx2(scale2_avx2(x[b].d, y[b].d), TYPE##_block_avx2(x + b, y + b), acc0); \
        *s = hsum_f32x8_avx2(_mm256_add_ps(acc0, acc1));                                            \
    }

LL_VEC_DOT_SYM_AVX2(q4_0, block_q4_0)
LL_VEC_DOT_SYM_AVX2(q5_0, block_q5_0)
LL_VEC_DOT_SYM_AVX2(q8_0, block_q8_0)

/* Q4_1 / Q5_1: x = d * q + m, so dot = dx * dy * sum(q * qy) + m * dy * sum(qy). */
static inline __m256 affine_block_avx2(__m256i q, ll_fp16 dx, ll_fp16 mx, const block_q8_0 *y, __m256 acc) {
    const __m256i qy = load256_avx2(y->qs);
    const float dy = fp16_to_f32_avx2(y->d);
    acc = fma_i32_avx2(_mm256_set1_ps(fp16_to_f32_avx2(dx) * dy), dot_u8_i8_avx2(q, qy), acc);
    return fma_i32_avx2(_mm256_set1_ps(fp16_to_f32_avx2(mx) * dy), sum_i8_avx2(qy), acc);
}

static void vec_dot_q4_1_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = (const block_q4_1 *)vx; /* [n / 32] */
    const block_q8_0 *y = (const block_q8_0 *)vy; /* [n / 32] */
    const int64_t nb = n / QK4_1;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        acc0 = affine_block_avx2(nibbles32_avx2(x[b].qs), x[b].d, x[b].m, y + b, acc0);
        acc1 = affine_block_avx2(nibbles32_avx2(x[b + 1].qs), x[b + 1].d, x[b + 1].m, y + b + 1, acc1);
    }
    if (b < nb) acc0 = affine_block_avx2(nibbles32_avx2(x[b].qs), x[b].d, x[b].m, y + b, acc0);
    *s = hsum_f32x8_avx2(_mm256_add_ps(acc0, acc1));
}

static void vec_dot_q5_1_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = (const block_q5_1 *)vx; /* [n / 32] */
    const block_q8_0 *y = (const block_q8_0 *)vy; /* [n / 32] */
    const int64_t nb = n / QK5_1;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        acc0 = affine_block_avx2(q5_1_weights_avx2(x + b), x[b].d, x[b].m, y + b, acc0);
        acc1 = affine_block_avx2(q5_1_weights_avx2(x + b + 1), x[b + 1].d, x[b + 1].m, y + b + 1, acc1);
    }
    if (b < nb) acc0 = affine_block_avx2(q5_1_weights_avx2(x + b), x[b].d, x[b].m, y + b, acc0);
    *s = hsum_f32x8_avx2(_mm256_add_ps(acc0, acc1));
}

/* ---- legacy dequantizers ---- */

static void dequantize_row_q4_0_avx2(const void *src, float *dst, int64_t n) {
    const block_q4_0 *x = (const block_q4_0 *)src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK4_0; b++) {
        const float d = fp16_to_f32_avx2(x[b].d);
        store_scaled32_avx2(dst + b * QK4_0, _mm256_sub_epi8(nibbles32_avx2(x[b].qs), _mm256_set1_epi8(8)), d, d);
    }
}

static void dequantize_row_q4_1_avx2(const void *src, float *dst, int64_t n) {
    const block_q4_1 *x = (const block_q4_1 *)src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK4_1; b++) {
        store_scaled_add32_avx2(dst + b * QK4_1, nibbles32_avx2(x[b].qs), fp16_to_f32_avx2(x[b].d),
                                fp16_to_f32_avx2(x[b].m));
    }
}

static void dequantize_row_q5_0_avx2(const void *src, float *dst, int64_t n) {
    const block_q5_0 *x = (const block_q5_0 *)src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK5_0; b++) {
        const float d = fp16_to_f32_avx2(x[b].d);
        store_scaled32_avx2(dst + b * QK5_0, q5_0_weights_avx2(x + b), d, d);
    }
}

static void dequantize_row_q5_1_avx2(const void *src, float *dst, int64_t n) {
    const block_q5_1 *x = (const block_q5_1 *)src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK5_1; b++) {
        store_scaled_add32_avx2(dst + b * QK5_1, q5_1_weights_avx2(x + b), fp16_to_f32_avx2(x[b].d),
                                fp16_to_f32_avx2(x[b].m));
    }
}

static void dequantize_row_q8_0_avx2(const void *src, float *dst, int64_t n) {
    const block_q8_0 *x = (const block_q8_0 *)src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float d = fp16_to_f32_avx2(x[b].d);
        store_scaled32_avx2(dst + b * QK8_0, load256_avx2(x[b].qs), d, d);
    }
}

/* ---- activation quantizers (bit-identical to the scalar ones) ---- */

/* Four vectors of 8 int32 (each in -128..127) -> 32 bytes in element order. */
static inline __m256i pack_i32x32_avx2(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    return _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline __m256 abs_ps_avx2(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

/* x[0..31] * id rounded half to even, as 32 bytes. */
static inline __m256i round_scaled32_avx2(const float *x, __m256 id) {
    __m256i q[4];
    for (int k = 0; k < 4; k++) q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id));
    return pack_i32x32_avx2(q[0], q[1], q[2], q[3]);
}

static void quantize_row_q8_0_avx2(const float *src, void *dst, int64_t n) {
    block_q8_0 *y = (block_q8_0 *)dst; /* [n / 32] */
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float *x = src + b * QK8_0; /* [32] */
        __m256 amax = abs_ps_avx2(_mm256_loadu_ps(x));
        for (int k = 1; k < 4; k++) amax = _mm256_max_ps(amax, abs_ps_avx2(_mm256_loadu_ps(x + 8 * k)));
        const float d = hmax_f32x8_avx2(amax) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16_avx2(d);
        _mm256_storeu_si256((__m256i *)y[b].qs, round_scaled32_avx2(x, _mm256_set1_ps(id)));
    }
}

/* The signed value of the first element of x[0..255] whose magnitude is amax (amax > 0). */
static inline float first_at_amax_avx2(const float *x, float amax) {
    const __m256 target = _mm256_set1_ps(amax);
    for (int i = 0; i < QK_K; i += 8) {
        const int hits = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps_avx2(_mm256_loadu_ps(x + i)), target, _CMP_EQ_OQ));
        if (hits) return x[i + __builtin_ctz((unsigned)hits)];
    }
    return amax; /* unreachable for finite input */
}

/* bsums[2j], bsums[2j+1] = sums of the two 16-byte halves of 32 signed bytes. */
static inline void bsums32_avx2(__m256i q, int16_t *bsums) {
    /* unsigned byte sums of q ^ 0x80 count each byte 128 too high */
    const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
    bsums[0] = (int16_t)(_mm256_extract_epi64(sad, 0) + _mm256_extract_epi64(sad, 1) - 16 * 128);
    bsums[1] = (int16_t)(_mm256_extract_epi64(sad, 2) + _mm256_extract_epi64(sad, 3) - 16 * 128);
}

static void quantize_block_q8_K_avx2(const float *x, block_q8_K *y) { /* x: [256] */
    __m256 vmax = abs_ps_avx2(_mm256_loadu_ps(x));
    for (int i = 8; i < QK_K; i += 8) vmax = _mm256_max_ps(vmax, abs_ps_avx2(_mm256_loadu_ps(x + i)));
    const float amax = hmax_f32x8_avx2(vmax);
    if (amax == 0.0f) {
        memset(y, 0, sizeof *y);
        return;
    }
    const float iscale = -128.0f / first_at_amax_avx2(x, amax);
    const __m256 vscale = _mm256_set1_ps(iscale);
    const __m256i top = _mm256_set1_epi32(127);
    for (int i = 0; i < QK_K; i += 32) {
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            const __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), vscale);
            q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(scaled), top);
        }
        const __m256i packed = pack_i32x32_avx2(q[0], q[1], q[2], q[3]);
        _mm256_storeu_si256((__m256i *)(y->qs + i), packed);
        bsums32_avx2(packed, y->bsums + i / 16);
    }
    y->d = 1.0f / iscale;
}

static void quantize_row_q8_K_avx2(const float *src, void *dst, int64_t n) {
    block_q8_K *y = (block_q8_K *)dst; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++) quantize_block_q8_K_avx2(src + b * QK_K, y + b);
}

/* Defined in quant/avx2_kquants.c, which variant.c includes right after this file. */
static void ll_fill_kquants_avx2(ll_type_kernels *t);

void ll_fill_kernels_avx2(ll_type_kernels *t) {
    t[LL_TYPE_F32].vec_dot = vec_dot_f32_f32_avx2;
    t[LL_TYPE_F16].vec_dot = vec_dot_f16_f16_avx2;
    t[LL_TYPE_F16].dequantize_row = dequantize_row_f16_avx2;
    t[LL_TYPE_BF16].vec_dot = vec_dot_bf16_bf16_avx2;
    t[LL_TYPE_BF16].dequantize_row = dequantize_row_bf16_avx2;
    t[LL_TYPE_Q4_0].vec_dot = vec_dot_q4_0_q8_0_avx2;
    t[LL_TYPE_Q4_0].dequantize_row = dequantize_row_q4_0_avx2;
    t[LL_TYPE_Q4_1].vec_dot = vec_dot_q4_1_q8_0_avx2;
    t[LL_TYPE_Q4_1].dequantize_row = dequantize_row_q4_1_avx2;
    t[LL_TYPE_Q5_0].vec_dot = vec_dot_q5_0_q8_0_avx2;
    t[LL_TYPE_Q5_0].dequantize_row = dequantize_row_q5_0_avx2;
    t[LL_TYPE_Q5_1].vec_dot = vec_dot_q5_1_q8_0_avx2;
    t[LL_TYPE_Q5_1].dequantize_row = dequantize_row_q5_1_avx2;
    t[LL_TYPE_Q8_0].vec_dot = vec_dot_q8_0_q8_0_avx2;
    t[LL_TYPE_Q8_0].dequantize_row = dequantize_row_q8_0_avx2;
    t[LL_TYPE_Q8_0].quantize_row = quantize_row_q8_0_avx2;
    t[LL_TYPE_Q8_K].quantize_row = quantize_row_q8_K_avx2;
    ll_fill_kquants_avx2(t);
}
