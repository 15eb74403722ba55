/* AVX2 (+FMA, F16C) kernels. Compiled only into the avx2 and avx512 variant modules.
 *
 * This file: shared helpers, the float types, the legacy 32-element types and the activation
 * quantizers; quant/avx2_kquants.c (included right after this file by variant.c) holds the
 * k-quants and uses the helpers defined here.
 *
 * The helpers in the first section are shared with quant/avx2_kquants.c and quant/avx2_gemm.c
 * (the prefill tiles in quant/avx2_gemm.c): keep their names and signatures.
 *
 * Dot products run on integers: a weight block is unpacked to 32 unsigned bytes and multiplied
 * with the activation bytes by _mm256_maddubs_epi16 (unsigned x signed -> pairs summed to int16,
 * never saturating for these value ranges), then _mm256_madd_epi16 sums pairs to int32. Each
 * block's int32 lanes are converted to float once and scaled with one FMA into a float
 * accumulator. Offsets (Q4_0: q - 8, Q5_0: q - 16) are one more maddubs of the offset with the
 * activations, subtracted in int16. Q8_0 weights are signed and use the sign trick,
 * |x| * (y * sign(x)), which needs y != -128: true of every Q8_0 row quantize_row makes.
 *
 * Dequantizers compute exactly what the scalar ones do (same float operations in the same order,
 * no FMA contraction), so their output is identical bit for bit.
 */
#include <immintrin.h>
#include "../kernels.h"

/* ---- helpers (also used by quant/avx2_kquants.c and quant/avx2_gemm.c) ---- */

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

/* 16 bytes of packed nibbles -> 32 bytes: [0..15] low nibbles, [16..31] high nibbles. */
static inline __m256i nibbles32_avx2(const uint8_t *qs) { /* qs: [16] */
    const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    const __m256i shifted = _mm256_srlv_epi32(both, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4));
    return _mm256_and_si256(shifted, _mm256_set1_epi8(0x0F));
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

/* Decode streams a weight row from memory once; the hardware prefetcher alone leaves the core
 * waiting (measured here: a Q6_K / F16 row loop reached ~55 % of a plain read's rate, ~80 % with
 * this). So the vec_dot loops also prefetch into L2, LL_PREFETCH_AHEAD_AVX2 bytes ahead of what
 * they have consumed: one prefetch per cache line, `next` being the first line not yet asked for
 * (start: row + LL_PREFETCH_AHEAD_AVX2). Rows of a matrix lie back to back, so running past a
 * row's end fetches the start of the next row; prefetches never fault. */
#define LL_PREFETCH_AHEAD_AVX2 8192

static inline const char *prefetch_ahead_avx2(const char *next, const void *consumed_end) {
    const char *upto = (const char *)consumed_end + LL_PREFETCH_AHEAD_AVX2;
    for (; next < upto; next += 64) _mm_prefetch(next, _MM_HINT_T1);
    return next;
}

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

static inline __m256 load_f32x8_avx2(const float *p) { return _mm256_loadu_ps(p); }
static inline __m256 load_f16x8_avx2(const ll_fp16 *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline __m256 load_bf16x8_avx2(const ll_bf16 *p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
static inline float same_f32_avx2(float v) { return v; }

/* dot of two rows of one float type: 32 elements per step into 4 accumulators, then 8, then
 * a scalar tail. */
#define LL_VEC_DOT_FLOAT_AVX2(NAME, ELEM_T, LOAD8, TO_F32)                                         \
    static void NAME(int64_t n, float *s, const void *vx, const void *vy) {                      \
        const ELEM_T *x = (const ELEM_T *)vx; /* [n] */                                           \
        const ELEM_T *y = (const ELEM_T *)vy; /* [n] */                                           \
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}; \
        const char *pf = (const char *)vx + LL_PREFETCH_AHEAD_AVX2;                               \
        int64_t i = 0;                                                                            \
        for (; i + 32 <= n; i += 32) {                                                            \
            pf = prefetch_ahead_avx2(pf, x + i + 32);                                             \
            for (int k = 0; k < 4; k++) {                                                         \
                acc[k] = _mm256_fmadd_ps(LOAD8(x + i + 8 * k), LOAD8(y + i + 8 * k), acc[k]);     \
            }                                                                                     \
        }                                                                                         \
        for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(LOAD8(x + i), LOAD8(y + i), acc[0]);  \
        float sum = hsum_f32x8_avx2(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]))); \
        for (; i < n; i++) sum += TO_F32(x[i]) * TO_F32(y[i]);                                    \
        *s = sum;                                                                                 \
    }

LL_VEC_DOT_FLOAT_AVX2(vec_dot_f32_f32_avx2, float, load_f32x8_avx2, same_f32_avx2)
LL_VEC_DOT_FLOAT_AVX2(vec_dot_f16_f16_avx2, ll_fp16, load_f16x8_avx2, ll_fp16_to_f32)
LL_VEC_DOT_FLOAT_AVX2(vec_dot_bf16_bf16_avx2, ll_bf16, load_bf16x8_avx2, ll_bf16_to_f32)

static void dequantize_row_f16_avx2(const void *src, float *dst, int64_t n) {
    const ll_fp16 *x = (const ll_fp16 *)src; /* [n] */
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_f16x8_avx2(x + i));
    for (; i < n; i++) dst[i] = ll_fp16_to_f32(x[i]);
}

/* Rounds to nearest even, as quantize_row_f16_ref (F16C's rounding equals it bit for bit). */
static void quantize_row_f16_avx2(const float *src, void *dst, int64_t n) {
    ll_fp16 *y = (ll_fp16 *)dst; /* [n] */
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = ll_f32_to_fp16(src[i]);
}

static void dequantize_row_bf16_avx2(const void *src, float *dst, int64_t n) {
    const ll_bf16 *x = (const ll_bf16 *)src; /* [n] */
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_bf16x8_avx2(x + i));
    for (; i < n; i++) dst[i] = ll_bf16_to_f32(x[i]);
}

/* ---- legacy 32-element types against Q8_0 ----
 * The row loops take 8 blocks per step: the 8 scale products dx * dy are made in one vector
 * (fp16 fields gathered through general registers, one F16C conversion each side) and each
 * block takes its own with one lane broadcast (vpermps), not a chain of scalar conversions.
 * Each *_block function returns the 8 int32 partial sums of one block's integer dot product. */

/* 8 fp16 fields at p, p + stride, ..., p + 7 * stride -> 8 floats. The fields are packed in
 * general registers (cheap scalar work beside the vector pipes); the empty asm keeps the
 * compiler from turning that packing into a slower chain of vector inserts. */
static inline __m256 fp16x8_strided_avx2(const uint8_t *p, size_t stride) {
    uint64_t half[2] = {0, 0};
    for (int k = 0; k < 8; k++) {
        uint16_t h;
        memcpy(&h, p + k * stride, sizeof h);
        half[k / 4] |= (uint64_t)h << (16 * (k % 4));
    }
    __asm__("" : "+r"(half[0]), "+r"(half[1]));
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)half[1], (long long)half[0]));
}

/* The activation scales of blocks y[0..7]. */
static inline __m256 q8_0_scales8_avx2(const block_q8_0 *y) {
    return fp16x8_strided_avx2((const uint8_t *)&y->d, sizeof(block_q8_0));
}

/* x: unsigned weights 0..15 (or 0..31); returns the 8 int32 partial sums of (x - off) * y. */
static inline __m256i dot_offset_avx2(__m256i x, __m256i off, __m256i y) {
    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(x, y), _mm256_maddubs_epi16(off, y));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

static inline __m256i q4_0_block_avx2(const block_q4_0 *x, const block_q8_0 *y) {
    return dot_offset_avx2(nibbles32_avx2(x->qs), _mm256_set1_epi8(8), load256_avx2(y->qs));
}

/* The 5-bit weights of a Q5_0 / Q5_1 block, unsigned 0..31. */
static inline __m256i q5_weights_avx2(const uint8_t *qs, const uint8_t *qh) { /* qs: [16]; qh: [4] */
    return _mm256_or_si256(nibbles32_avx2(qs), _mm256_and_si256(bits32_avx2(qh), _mm256_set1_epi8(0x10)));
}

static inline __m256i q5_0_block_avx2(const block_q5_0 *x, const block_q8_0 *y) {
    return dot_offset_avx2(q5_weights_avx2(x->qs, x->qh), _mm256_set1_epi8(16), load256_avx2(y->qs));
}

static inline __m256i q8_0_block_avx2(const block_q8_0 *x, const block_q8_0 *y) {
    return dot_i8_i8_avx2(load256_avx2(x->qs), load256_avx2(y->qs));
}

/* acc += d * (float)isum, lane by lane. */
static inline __m256 fma_i32_avx2(__m256 d, __m256i isum, __m256 acc) {
    return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
}

/* Lane k of v in all 8 lanes. */
static inline __m256 lane_avx2(__m256 v, int k) { return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(k)); }

/* The row loop of the legacy types without a minimum (value = d * q): 8 blocks per step, two
 * accumulators, then one block at a time. */
#define LL_VEC_DOT_SYM_AVX2(TYPE, BLOCK_T)                                                               \
    static void vec_dot_##TYPE##_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {        \
        const BLOCK_T *x = (const BLOCK_T *)vx;       /* [n / 32] */                                     \
        const block_q8_0 *y = (const block_q8_0 *)vy; /* [n / 32] */                                     \
        const int64_t nb = n / QK8_0;                                                                    \
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};                                      \
        const char *pf = (const char *)vx + LL_PREFETCH_AHEAD_AVX2;                                      \
        int64_t b = 0;                                                                                   \
        for (; b + 8 <= nb; b += 8) {                                                                    \
            pf = prefetch_ahead_avx2(pf, x + b + 8);                                                     \
            const __m256 d = _mm256_mul_ps(fp16x8_strided_avx2((const uint8_t *)&x[b].d, sizeof(BLOCK_T)), \
                                           q8_0_scales8_avx2(y + b));                                    \
            for (int k = 0; k < 8; k++) {                                                                \
                const __m256i isum = TYPE##_block_avx2(x + b + k, y + b + k);                            \
                acc[k & 1] = fma_i32_avx2(lane_avx2(d, k), isum, acc[k & 1]);                            \
            }                                                                                            \
        }                                                                                                \
        for (; b < nb; b++) {                                                                            \
            const __m256 d = _mm256_set1_ps(fp16_to_f32_avx2(x[b].d) * fp16_to_f32_avx2(y[b].d));        \
            acc[0] = fma_i32_avx2(d, TYPE##_block_avx2(x + b, y + b), acc[0]);                           \
        }                                                                                                \
        *s = hsum_f32x8_avx2(_mm256_add_ps(acc[0], acc[1]));                                             \
    }

LL_VEC_DOT_SYM_AVX2(q4_0, block_q4_0)
LL_VEC_DOT_SYM_AVX2(q5_0, block_q5_0)
LL_VEC_DOT_SYM_AVX2(q8_0, block_q8_0)

/* Q4_1 / Q5_1: x = d * q + m, so dot = dx * dy * sum(q * qy) + m * dy * sum(qy). */
static inline __m256 affine_block_avx2(__m256i q, const block_q8_0 *y, __m256 d, __m256 m, __m256 acc) {
    const __m256i qy = load256_avx2(y->qs);
    acc = fma_i32_avx2(d, dot_u8_i8_avx2(q, qy), acc);
    return fma_i32_avx2(m, sum_i8_avx2(qy), acc);
}

static inline __m256i q4_1_weights_avx2(const block_q4_1 *x) { return nibbles32_avx2(x->qs); }
static inline __m256i q5_1_weights_avx2(const block_q5_1 *x) { return q5_weights_avx2(x->qs, x->qh); }

/* The row loop of Q4_1 / Q5_1, structured like LL_VEC_DOT_SYM_AVX2. */
#define LL_VEC_DOT_AFFINE_AVX2(TYPE, BLOCK_T)                                                            \
    static void vec_dot_##TYPE##_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {        \
        const BLOCK_T *x = (const BLOCK_T *)vx;       /* [n / 32] */                                     \
        const block_q8_0 *y = (const block_q8_0 *)vy; /* [n / 32] */                                     \
        const int64_t nb = n / QK8_0;                                                                    \
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};                                      \
        const char *pf = (const char *)vx + LL_PREFETCH_AHEAD_AVX2;                                      \
        int64_t b = 0;                                                                                   \
        for (; b + 8 <= nb; b += 8) {                                                                    \
            pf = prefetch_ahead_avx2(pf, x + b + 8);                                                     \
            const __m256 dy = q8_0_scales8_avx2(y + b);                                                  \
            const __m256 d = _mm256_mul_ps(fp16x8_strided_avx2((const uint8_t *)&x[b].d, sizeof(BLOCK_T)), dy); \
            const __m256 m = _mm256_mul_ps(fp16x8_strided_avx2((const uint8_t *)&x[b].m, sizeof(BLOCK_T)), dy); \
            for (int k = 0; k < 8; k++) {                                                                \
                acc[k & 1] = affine_block_avx2(TYPE##_weights_avx2(x + b + k), y + b + k, lane_avx2(d, k),   \
                                               lane_avx2(m, k), acc[k & 1]);                              \
            }                                                                                            \
        }                                                                                                \
        for (; b < nb; b++) {                                                                            \
            const float dy = fp16_to_f32_avx2(y[b].d);                                                   \
            const __m256 d = _mm256_set1_ps(fp16_to_f32_avx2(x[b].d) * dy);                             \
            const __m256 m = _mm256_set1_ps(fp16_to_f32_avx2(x[b].m) * dy);                              \
            acc[0] = affine_block_avx2(TYPE##_weights_avx2(x + b), y + b, d, m, acc[0]);                 \
        }                                                                                                \
        *s = hsum_f32x8_avx2(_mm256_add_ps(acc[0], acc[1]));                                             \
    }

LL_VEC_DOT_AFFINE_AVX2(q4_1, block_q4_1)
LL_VEC_DOT_AFFINE_AVX2(q5_1, block_q5_1)

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
        const __m256i q = _mm256_sub_epi8(q5_weights_avx2(x[b].qs, x[b].qh), _mm256_set1_epi8(16));
        store_scaled32_avx2(dst + b * QK5_0, q, d, d);
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
        const float max = hmax_f32x8_avx2(amax);
        const float d = max / 127;
        const float id = max != 0.0f ? 127.0f / max : 0.0f;
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
    const float iscale = -127.0f / first_at_amax_avx2(x, amax);
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
/* Defined in quant/avx2_gemv.c (the matmul tiles), included after avx2_kquants.c. */
static void ll_fill_gemm_avx2(ll_type_kernels *t);

void ll_fill_kernels_avx2(ll_type_kernels *t) {
    t[LL_TYPE_F32].vec_dot = vec_dot_f32_f32_avx2;
    t[LL_TYPE_F16].vec_dot = vec_dot_f16_f16_avx2;
    t[LL_TYPE_F16].dequantize_row = dequantize_row_f16_avx2;
    t[LL_TYPE_F16].quantize_row = quantize_row_f16_avx2;
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
    ll_fill_gemm_avx2(t);
}
