/* AVX-512 (F/BW/DQ/VL, VNNI) kernels. Compiled only into the avx512 variant module, which also
 * compiles quant/avx2.c and quant/avx2_kquants.c (variant.c includes them before this file): every
 * slot not filled here keeps its AVX2 kernel, and the AVX2 helpers (hsum_f32x8_avx2,
 * fp16x8_strided_avx2, scale_min_k4_avx2, bsums32_avx2, the *_block_avx2 dot products, the
 * prefetch helper, ...) are used here as they are.
 *
 * Integer dot products run on vpdpbusd (_mm512_dpbusd_epi32: unsigned bytes x signed bytes, four
 * products summed into each int32 lane, without saturation). The activation bytes are the signed
 * operand; the weights are made unsigned:
 * - Q4_0 / Q5_0: the codes q (0..15 / 0..31) as stored; the offset o (8 / 16) comes out through a
 *   second vpdpbusd of o with the activations: sum (q - o) * y = dpbusd(q, y) - dpbusd(o, y).
 * - Q8_0: x + 128 (= x ^ 0x80) is unsigned: sum x * y = dpbusd(x ^ 0x80, y) - dpbusd(128, y),
 *   exact for every byte on both sides (the sign trick would exclude y = -128).
 * - Q4_K / Q5_K / Q6_K: the unsigned codes; the per-sub-block mins (Q4_K / Q5_K) and the -32 of
 *   Q6_K come out through the activation's bsums, as in the AVX2 kernels. Each vpdpbusd lane holds
 *   one sub-block's partial sum, small enough for int16 (|p| <= 4 * 63 * 128 < 2^15), so
 *   vpmaddwd against int32 lanes holding the sub-block scale in their low half (high half 0)
 *   multiplies it by the scale exactly.
 * The legacy types take two 32-element blocks per 512-bit vector (lanes 0..7: the first block,
 * lanes 8..15: the second), eight blocks per loop step so that the eight scale products are made
 * in one vector; the k-quants take one 256-element super-block per step. Per block the integer
 * sums are exact; they are converted to float once and scaled with one FMA, so these kernels and
 * the scalar ones differ only in the order of the float sums.
 *
 * The activation quantizers reproduce the scalar bytes: vcvtps2dq in the default MXCSR mode rounds
 * half to even, the fp16 scale goes through F16C with round to nearest even.
 */
#include <immintrin.h>
#include "../kernels.h"

/* ---- helpers ---- */

/* Index rows for vpermps / vpermd. LL_PAIR_IDX_AVX512[p]: lane 2p of the source in lanes 0..7 and
 * lane 2p + 1 in lanes 8..15 (the scale of block 2p / 2p + 1 of eight; the scale of Q4_K / Q5_K
 * sub-block 2p / 2p + 1). LL_QUAD_IDX_AVX512[r]: lane 4r + l / 4 in lane l (the Q6_K scales of the
 * four 16-element sub-blocks that 64 elements cover). Tables, not set constants: the compiler then
 * takes them as memory operands instead of rebuilding them in the loop. */
#define LL_REP8(v) v, v, v, v, v, v, v, v
#define LL_REP4(v) v, v, v, v
static const int32_t LL_PAIR_IDX_AVX512[4][16] __attribute__((aligned(64))) = {
    {LL_REP8(0), LL_REP8(1)}, {LL_REP8(2), LL_REP8(3)}, {LL_REP8(4), LL_REP8(5)}, {LL_REP8(6), LL_REP8(7)},
};
static const int32_t LL_QUAD_IDX_AVX512[4][16] __attribute__((aligned(64))) = {
    {LL_REP4(0), LL_REP4(1), LL_REP4(2), LL_REP4(3)},     {LL_REP4(4), LL_REP4(5), LL_REP4(6), LL_REP4(7)},
    {LL_REP4(8), LL_REP4(9), LL_REP4(10), LL_REP4(11)},   {LL_REP4(12), LL_REP4(13), LL_REP4(14), LL_REP4(15)},
};
#undef LL_REP8
#undef LL_REP4

static inline __m512i load512_avx512(const void *p) { return _mm512_loadu_si512(p); }
static inline __m512i idx_avx512(const int32_t *row) { return _mm512_load_si512((const void *)row); }

/* 32 bytes at a, then 32 bytes at b. */
static inline __m512i load2x256_avx512(const void *a, const void *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load256_avx2(a)), load256_avx2(b), 1);
}

/* 16 int32 lanes, each the sum of 4 products x[i] * y[i]: x unsigned bytes, y signed bytes. */
static inline __m512i dot_u8_i8_avx512(__m512i x, __m512i y) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), x, y);
}

/* The same for x - off (x, off unsigned bytes): dpbusd(x, y) - dpbusd(off, y). */
static inline __m512i dot_offset_avx512(__m512i x, __m512i off, __m512i y) {
    return _mm512_sub_epi32(dot_u8_i8_avx512(x, y), dot_u8_i8_avx512(off, y));
}

/* a | (b & c), bit by bit (one vpternlogd). */
static inline __m512i or_and_avx512(__m512i a, __m512i b, __m512i c) { return _mm512_ternarylogic_epi32(a, b, c, 0xF8); }

/* int32 lanes p (each within int16) times the int32 lanes sc (an int16 in the low half, 0 in the
 * high half): vpmaddwd gives p.lo * sc.lo + p.hi * 0 = p * sc exactly. */
static inline __m512i scale_lanes_avx512(__m512i p, __m512i sc) { return _mm512_madd_epi16(p, sc); }

/* ---- legacy 32-element types against Q8_0: two blocks per vector ---- */

/* Lanes 0..7: lane 2p of d8, lanes 8..15: lane 2p + 1 (the scales of blocks 2p, 2p + 1 of eight). */
static inline __m512 pair_scales_avx512(__m256 d8, int p) {
    return _mm512_permutexvar_ps(idx_avx512(LL_PAIR_IDX_AVX512[p]), _mm512_castps256_ps512(d8));
}

/* The packed nibbles of two blocks (16 bytes each) -> 64 bytes: block 0's 16 low nibbles and 16
 * high nibbles (its elements 0..31 in order), then block 1's. */
static inline __m512i nibbles2x32_avx512(const uint8_t *qs0, const uint8_t *qs1) { /* qs0, qs1: [16] */
    const __m256i b0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs0));
    const __m256i b1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs1));
    const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(b0), b1, 1);
    const __m512i shifted = _mm512_srlv_epi64(both, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
}

/* Each *_pair_avx512 returns the 16 int32 partial sums of blocks x[0], x[1] against y[0], y[1]. */
static inline __m512i q4_0_pair_avx512(const block_q4_0 *x, const block_q8_0 *y) { /* x, y: [2] */
    const __m512i q = nibbles2x32_avx512(x[0].qs, x[1].qs);
    return dot_offset_avx512(q, _mm512_set1_epi8(8), load2x256_avx512(y[0].qs, y[1].qs));
}

static inline __m512i q5_0_pair_avx512(const block_q5_0 *x, const block_q8_0 *y) { /* x, y: [2] */
    uint32_t h0, h1; /* bit i: the 5th bit of element i */
    memcpy(&h0, x[0].qh, sizeof h0);
    memcpy(&h1, x[1].qh, sizeof h1);
    const __mmask64 high = _cvtu64_mask64((uint64_t)h0 | ((uint64_t)h1 << 32));
    const __m512i low = nibbles2x32_avx512(x[0].qs, x[1].qs);
    const __m512i q = _mm512_mask_add_epi8(low, high, low, _mm512_set1_epi8(0x10));
    return dot_offset_avx512(q, _mm512_set1_epi8(16), load2x256_avx512(y[0].qs, y[1].qs));
}

static inline __m512i q8_0_pair_avx512(const block_q8_0 *x, const block_q8_0 *y) { /* x, y: [2] */
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    const __m512i q = _mm512_xor_si512(load2x256_avx512(x[0].qs, x[1].qs), bias); /* x + 128 */
    return dot_offset_avx512(q, bias, load2x256_avx512(y[0].qs, y[1].qs));
}

/* The row loop: 8 blocks per step (the 8 products dx * dy in one vector, four block pairs, two
 * accumulators), then the last n / 32 % 8 blocks one at a time through the AVX2 block kernel. */
#define LL_VEC_DOT_SYM_AVX512(TYPE, BLOCK_T)                                                             \
    static void vec_dot_##TYPE##_q8_0_avx512(int64_t n, float *s, const void *vx, const void *vy) {      \
        const BLOCK_T *x = (const BLOCK_T *)vx;       /* [n / 32] */                                     \
        const block_q8_0 *y = (const block_q8_0 *)vy; /* [n / 32] */                                     \
        const int64_t nb = n / QK8_0;                                                                    \
        __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};                                      \
        __m256 tail = _mm256_setzero_ps();                                                               \
        const char *pf = (const char *)vx + LL_PREFETCH_AHEAD_AVX2;                                      \
        int64_t b = 0;                                                                                   \
        for (; b + 8 <= nb; b += 8) {                                                                    \
            pf = prefetch_ahead_avx2(pf, x + b + 8);                                                     \
            const __m256 d = _mm256_mul_ps(fp16x8_strided_avx2((const uint8_t *)&x[b].d, sizeof(BLOCK_T)), \
                                           q8_0_scales8_avx2(y + b));                                    \
            for (int p = 0; p < 4; p++) {                                                                \
                const __m512i isum = TYPE##_pair_avx512(x + b + 2 * p, y + b + 2 * p);                   \
                acc[p & 1] = _mm512_fmadd_ps(pair_scales_avx512(d, p), _mm512_cvtepi32_ps(isum), acc[p & 1]); \
            }                                                                                            \
        }                                                                                                \
        for (; b < nb; b++) {                                                                            \
            const __m256 d = _mm256_set1_ps(fp16_to_f32_avx2(x[b].d) * fp16_to_f32_avx2(y[b].d));        \
            tail = fma_i32_avx2(d, TYPE##_block_avx2(x + b, y + b), tail);                               \
        }                                                                                                \
        *s = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1])) + hsum_f32x8_avx2(tail);                \
    }

LL_VEC_DOT_SYM_AVX512(q4_0, block_q4_0)
LL_VEC_DOT_SYM_AVX512(q5_0, block_q5_0)
LL_VEC_DOT_SYM_AVX512(q8_0, block_q8_0)

/* ---- k-quants against Q8_K: one super-block per step ---- */

/* 32 bytes of packed nibbles -> 64 bytes: [0..31] the low nibbles, [32..63] the high nibbles. */
static inline __m512i nibbles64_avx512(const uint8_t *qs) { /* qs: [32] */
    const __m512i both = _mm512_broadcast_i64x4(load256_avx2(qs));
    const __m512i shifted = _mm512_srlv_epi64(both, _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4));
    return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
}

/* Q4_K / Q5_K chunk j (elements 64j .. 64j + 63, sub-blocks 2j and 2j + 1) of unsigned weights q:
 * 16 int32 lanes summing sc[sub-block] * q * qy; sc32: the 8 scales in int32 lanes 0..7. */
static inline __m512i k4_chunk_avx512(__m512i q, const int8_t *qy, __m512i sc32, int j) { /* qy: [64] */
    const __m512i p = dot_u8_i8_avx512(q, load512_avx512(qy));
    return scale_lanes_avx512(p, _mm512_permutexvar_epi32(idx_avx512(LL_PAIR_IDX_AVX512[j]), sc32));
}

/* The Q4_K / Q5_K super-block tail shared by both: acc += d * dy * isum; acc_min -= dmin * dy *
 * (sum over sub-blocks of min * bsum), through the AVX2 helper of the mins. */
static inline void k4_accumulate_avx512(float d, float dmin, const block_q8_K *y, __m128i scale_min, __m512i isum,
                                        __m512 *acc, __m256 *acc_min) {
    *acc = _mm512_fmadd_ps(_mm512_set1_ps(d * y->d), _mm512_cvtepi32_ps(isum), *acc);
    *acc_min = fma_scaled_avx2(-dmin * y->d, k4_min_sum_avx2(scale_min, y->bsums), *acc_min);
}

static void vec_dot_q4_K_q8_K_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = (const block_q4_K *)vx; /* [n / 256] */
    const block_q8_K *y = (const block_q8_K *)vy; /* [n / 256] */
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_min = _mm256_setzero_ps();
    const char *pf = (const char *)vx + LL_PREFETCH_AHEAD_AVX2;
    for (int64_t b = 0; b < n / QK_K; b++) {
        pf = prefetch_ahead_avx2(pf, x + b + 1);
        const __m128i scale_min = scale_min_k4_avx2(x[b].scales); /* [0..7] scales, [8..15] mins */
        const __m512i sc32 = _mm512_cvtepu8_epi32(scale_min);
        __m512i isum = _mm512_setzero_si512();
        for (int j = 0; j < 4; j++) {
            const __m512i q = nibbles64_avx512(x[b].qs + 32 * j);
            isum = _mm512_add_epi32(isum, k4_chunk_avx512(q, y[b].qs + 64 * j, sc32, j));
        }
        k4_accumulate_avx512(fp16_to_f32_avx2(x[b].d), fp16_to_f32_avx2(x[b].dmin), y + b, scale_min, isum, &acc, &acc_min);
    }
    *s = _mm512_reduce_add_ps(acc) + hsum_f32x8_avx2(acc_min);
}

static void vec_dot_q5_K_q8_K_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = (const block_q5_K *)vx; /* [n / 256] */
    const block_q8_K *y = (const block_q8_K *)vy; /* [n / 256] */
    const __m512i bit4 = _mm512_set1_epi8(0x10);
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_min = _mm256_setzero_ps();
    const char *pf = (const char *)vx + LL_PREFETCH_AHEAD_AVX2;
    for (int64_t b = 0; b < n / QK_K; b++) {
        pf = prefetch_ahead_avx2(pf, x + b + 1);
        const __m128i scale_min = scale_min_k4_avx2(x[b].scales);
        const __m512i sc32 = _mm512_cvtepu8_epi32(scale_min);
        /* bit 2j of qh[l]: 5th bit of element 64j + l; bit 2j + 1: of element 64j + 32 + l. hb holds
         * qh in its lower half and qh >> 1 in its upper half, so that after j shifts by 2 bit 0 of
         * each byte is the 5th bit of the element in the same byte of chunk j. */
        const __m256i qh = load256_avx2(x[b].qh);
        __m512i hb = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 1), 1);
        __m512i isum = _mm512_setzero_si512();
        for (int j = 0; j < 4; j++) {
            const __m512i q = or_and_avx512(nibbles64_avx512(x[b].qs + 32 * j), _mm512_slli_epi16(hb, 4), bit4);
            hb = _mm512_srli_epi16(hb, 2);
            isum = _mm512_add_epi32(isum, k4_chunk_avx512(q, y[b].qs + 64 * j, sc32, j));
        }
        k4_accumulate_avx512(fp16_to_f32_avx2(x[b].d), fp16_to_f32_avx2(x[b].dmin), y + b, scale_min, isum, &acc, &acc_min);
    }
    *s = _mm512_reduce_add_ps(acc) + hsum_f32x8_avx2(acc_min);
}

/* The unsigned 6-bit Q6_K weights of half h: q[0] = elements 128h + [0..63], q[1] = 128h + [64..127].
 * ql[64h .. 64h + 63]: low nibbles -> q[0], high nibbles -> q[1]; qh[32h + l] holds the top 2 bits
 * of elements 128h + l (bits 0..1), + 32 (2..3), + 64 (4..5), + 96 (6..7). */
static inline void q6_K_weights_avx512(const block_q6_K *x, int h, __m512i q[2]) {
    const __m512i ql = load512_avx512(x->ql + 64 * h);
    const __m256i qh = load256_avx2(x->qh + 32 * h);
    /* lower half qh, upper half qh >> 2: bits 0..1 / 4..5 of each byte are the top bits of q[0] / q[1] */
    const __m512i hb = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x30);
    q[0] = or_and_avx512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(hb, 4), m2);
    q[1] = or_and_avx512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), hb, m2);
}

static void vec_dot_q6_K_q8_K_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = (const block_q6_K *)vx; /* [n / 256] */
    const block_q8_K *y = (const block_q8_K *)vy; /* [n / 256] */
    __m512 acc = _mm512_setzero_ps();
    const char *pf = (const char *)vx + LL_PREFETCH_AHEAD_AVX2;
    for (int64_t b = 0; b < n / QK_K; b++) {
        pf = prefetch_ahead_avx2(pf, x + b + 1);
        const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[b].scales));
        const __m512i sc32 = _mm512_cvtepu16_epi32(scales16); /* signed int16 scale, 0 in the high half */
        __m512i isum = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i q[2];
            q6_K_weights_avx512(x + b, h, q);
            for (int t = 0; t < 2; t++) {
                const __m512i p = dot_u8_i8_avx512(q[t], load512_avx512(y[b].qs + 128 * h + 64 * t));
                const __m512i sc = _mm512_permutexvar_epi32(idx_avx512(LL_QUAD_IDX_AVX512[2 * h + t]), sc32);
                isum = _mm512_add_epi32(isum, scale_lanes_avx512(p, sc));
            }
        }
        /* the -32 of every weight: 32 * sum over sub-blocks of sc * bsum */
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(scales16, load256_avx2(y[b].bsums)), 5);
        isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(offset));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(fp16_to_f32_avx2(x[b].d) * y[b].d), _mm512_cvtepi32_ps(isum), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* ---- activation quantizers (bit-identical to the scalar ones) ---- */

/* x[0..15] * scale rounded half to even (MXCSR default), clamped to at most 127, as 16 bytes
 * (vpmovsdb; the values lie in -127..127 for finite input, so its saturation never acts). */
static inline __m128i round_scaled16_avx512(const float *x, __m512 scale) { /* x: [16] */
    const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x), scale));
    return _mm512_cvtsepi32_epi8(_mm512_min_epi32(q, _mm512_set1_epi32(127)));
}

static void quantize_row_q8_0_avx512(const float *src, void *dst, int64_t n) {
    block_q8_0 *y = (block_q8_0 *)dst; /* [n / 32] */
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float *x = src + b * QK8_0; /* [32] */
        const __m512 amax = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x)), _mm512_abs_ps(_mm512_loadu_ps(x + 16)));
        const float max = _mm512_reduce_max_ps(amax);
        const float d = max / 127.0f;
        const float id = max != 0.0f ? 127.0f / max : 0.0f;
        y[b].d = f32_to_fp16_avx2(d);
        const __m512 vid = _mm512_set1_ps(id);
        _mm_storeu_si128((__m128i *)y[b].qs, round_scaled16_avx512(x, vid));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), round_scaled16_avx512(x + 16, vid));
    }
}

/* The signed value of the first element of x[0..255] whose magnitude is amax (amax > 0). */
static inline float first_at_amax_avx512(const float *x, float amax) { /* x: [256] */
    const __m512 target = _mm512_set1_ps(amax);
    for (int i = 0; i < QK_K; i += 16) {
        const __mmask16 hits = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + i)), target, _CMP_EQ_OQ);
        if (hits) return x[i + __builtin_ctz((unsigned)hits)];
    }
    return amax; /* unreachable for finite input */
}

static void quantize_block_q8_K_avx512(const float *x, block_q8_K *y) { /* x: [256] */
    __m512 vmax = _mm512_abs_ps(_mm512_loadu_ps(x));
    for (int i = 16; i < QK_K; i += 16) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
    const float amax = _mm512_reduce_max_ps(vmax);
    if (amax == 0.0f) {
        memset(y, 0, sizeof *y);
        return;
    }
    const float iscale = -127.0f / first_at_amax_avx512(x, amax);
    const __m512 vscale = _mm512_set1_ps(iscale);
    for (int i = 0; i < QK_K; i += 32) {
        const __m256i packed = _mm256_set_m128i(round_scaled16_avx512(x + i + 16, vscale), round_scaled16_avx512(x + i, vscale));
        _mm256_storeu_si256((__m256i *)(y->qs + i), packed);
        bsums32_avx2(packed, y->bsums + i / 16);
    }
    y->d = 1.0f / iscale;
}

static void quantize_row_q8_K_avx512(const float *src, void *dst, int64_t n) {
    block_q8_K *y = (block_q8_K *)dst; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++) quantize_block_q8_K_avx512(src + b * QK_K, y + b);
}

/* ---- dequantizers ---- */

static void dequantize_row_f16_avx512(const void *src, float *dst, int64_t n) {
    const ll_fp16 *x = (const ll_fp16 *)src; /* [n] */
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
    }
    for (; i < n; i++) dst[i] = ll_fp16_to_f32(x[i]);
}

static void dequantize_row_bf16_avx512(const void *src, float *dst, int64_t n) {
    const ll_bf16 *x = (const ll_bf16 *)src; /* [n] */
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(x + i)));
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
    }
    for (; i < n; i++) dst[i] = ll_bf16_to_f32(x[i]);
}

static void dequantize_row_q8_0_avx512(const void *src, float *dst, int64_t n) {
    const block_q8_0 *blocks = (const block_q8_0 *)src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const __m512 d = _mm512_set1_ps(ll_fp16_to_f32(blocks[b].d));
        for (int j = 0; j < QK8_0; j += 16) {
            __m128i q8 = _mm_loadu_si128((const __m128i *)(blocks[b].qs + j));
            __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q8));
            _mm512_storeu_ps(dst + b * QK8_0 + j, _mm512_mul_ps(d, q));
        }
    }
}

static void ll_fill_gemm_avx512(ll_type_kernels *t); /* quant/avx512_tiles.c */

/* Called after ll_fill_kernels_avx2 (dispatch.c): overrides the slots it has kernels for. */
void ll_fill_kernels_avx512(ll_type_kernels *t) {
    t[LL_TYPE_F16].dequantize_row = dequantize_row_f16_avx512;
    t[LL_TYPE_BF16].dequantize_row = dequantize_row_bf16_avx512;
    t[LL_TYPE_Q4_0].vec_dot = vec_dot_q4_0_q8_0_avx512;
    t[LL_TYPE_Q5_0].vec_dot = vec_dot_q5_0_q8_0_avx512;
    t[LL_TYPE_Q8_0].vec_dot = vec_dot_q8_0_q8_0_avx512;
    t[LL_TYPE_Q8_0].dequantize_row = dequantize_row_q8_0_avx512;
    t[LL_TYPE_Q8_0].quantize_row = quantize_row_q8_0_avx512;
    t[LL_TYPE_Q8_K].quantize_row = quantize_row_q8_K_avx512;
    t[LL_TYPE_Q4_K].vec_dot = vec_dot_q4_K_q8_K_avx512;
    t[LL_TYPE_Q5_K].vec_dot = vec_dot_q5_K_q8_K_avx512;
    t[LL_TYPE_Q6_K].vec_dot = vec_dot_q6_K_q8_K_avx512;
    ll_fill_gemm_avx512(t);
}
