/* AVX2 kernels of the k-quants (Q2_K .. Q6_K against Q8_K). variant.c includes this file right
 * after quant/avx2.c, whose helpers it uses; ll_fill_kquants_avx2 is called from
 * ll_fill_kernels_avx2.
 *
 * Per 256-element super-block the integer part is summed exactly in 8 int32 lanes
 * (sum over sub-blocks of scale * dot(q, qy), at most ~2^29 in magnitude), then scaled once with
 * one FMA. Offsets that are the same for a whole sub-block (the -32 of Q6_K, the -4 of Q3_K, the
 * mins of Q2_K / Q4_K / Q5_K) are taken out of the inner loop through the activation's bsums:
 * sum_i s * (q_i - o) * y_i = s * sum_i q_i * y_i - s * o * bsum.
 */

/* Controls for _mm256_shuffle_epi8 that broadcast one int16 lane of each 128-bit half: rows 0..3
 * ("pair j"): lane 2j into the lower half, lane 2j + 1 into the upper half; rows 4..11 ("same k"):
 * lane k into both. A table rather than set1 constants: the compiler then takes them as memory
 * operands instead of rebuilding them in the loop when it runs out of registers. */
#define LL_REP8(b) b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1
static const uint8_t LL_PICK16_AVX2[12][32] __attribute__((aligned(32))) = {
    {LL_REP8(0), LL_REP8(2)},   {LL_REP8(4), LL_REP8(6)},   {LL_REP8(8), LL_REP8(10)},  {LL_REP8(12), LL_REP8(14)},
    {LL_REP8(0), LL_REP8(0)},   {LL_REP8(2), LL_REP8(2)},   {LL_REP8(4), LL_REP8(4)},   {LL_REP8(6), LL_REP8(6)},
    {LL_REP8(8), LL_REP8(8)},   {LL_REP8(10), LL_REP8(10)}, {LL_REP8(12), LL_REP8(12)}, {LL_REP8(14), LL_REP8(14)},
};
#undef LL_REP8

/* int16 lanes: (sc[2j] x 8 | sc[2j + 1] x 8) of an 8-scale vector in both halves. */
static inline __m256i pick_pair_avx2(__m256i sc, int j) {
    return _mm256_shuffle_epi8(sc, _mm256_load_si256((const __m256i *)LL_PICK16_AVX2[j]));
}

/* int16 lanes: sc[k] x 16. */
static inline __m256i pick_same_avx2(__m256i sc, int k) {
    return _mm256_shuffle_epi8(sc, _mm256_load_si256((const __m256i *)LL_PICK16_AVX2[4 + k]));
}

/* acc += d * isum over 8 lanes (d: the product of the weight and activation scales). */
static inline __m256 fma_scaled_avx2(float d, __m256i isum, __m256 acc) {
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
}

/* The 8 scales and 8 mins of a Q4_K / Q5_K super-block (6 bits each, packed in 12 bytes) as
 * 16 bytes: [0..7] scales, [8..15] mins. */
static inline __m128i scale_min_k4_avx2(const uint8_t *packed) { /* packed: [12] */
    uint64_t w01; /* bytes 0..7: low 6 bits sc0..3 then m0..3, top 2 bits the high bits of sc4..7 / m4..7 */
    uint32_t w2;  /* bytes 8..11: low nibble sc4..7, high nibble m4..7 */
    memcpy(&w01, packed, sizeof w01);
    memcpy(&w2, packed + 8, sizeof w2);
    const uint64_t low6 = 0x3f3f3f3f3f3f3f3fULL, low4 = 0x0f0f0f0f0f0f0f0fULL, low2 = 0x0303030303030303ULL;
    const uint64_t nibbles = (uint64_t)w2 | ((uint64_t)w2 << 28);            /* sc4..7 | (m4..7 << 32) */
    const uint64_t tops = (w01 >> 6) & low2;                                  /* bytes 0..3: sc, 4..7: m */
    const uint64_t low = w01 & low6;                                          /* sc0..3 | m0..3 */
    const uint64_t high = (nibbles & low4) | (tops << 4);                     /* sc4..7 | m4..7 */
    const uint64_t scales = (low & 0xffffffffULL) | (high << 32), mins = (low >> 32) | (high & ~0xffffffffULL);
    return _mm_set_epi64x((long long)mins, (long long)scales);
}

/* The 16 signed 6-bit scales of a Q3_K super-block (already minus 32) as 16 bytes. */
static inline __m128i scales_q3_K_avx2(const uint8_t *packed) { /* packed: [12] */
    uint32_t w[3];
    memcpy(w, packed, sizeof w);
    const uint32_t low4 = 0x0f0f0f0fu, low2 = 0x03030303u;
    const __m128i s = _mm_setr_epi32((int)((w[0] & low4) | ((w[2] & low2) << 4)),
                                     (int)((w[1] & low4) | (((w[2] >> 2) & low2) << 4)),
                                     (int)(((w[0] >> 4) & low4) | (((w[2] >> 4) & low2) << 4)),
                                     (int)(((w[1] >> 4) & low4) | (((w[2] >> 6) & low2) << 4)));
    return _mm_sub_epi8(s, _mm_set1_epi8(32));
}

/* ---- Q2_K: x = d * sc * q - dmin * m, q 2 bits, 16 sub-blocks of 16 ---- */

/* sum over 256 elements of sc[e / 16] * q[e] * qy[e], 8 int32 lanes. */
static inline __m256i q2_K_isum_avx2(const block_q2_K *x, const int8_t *qy, __m256i scales16) {
    __m256i sum = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i bits = load256_avx2(x->qs + 32 * h);
        /* scales of sub-blocks 8h .. 8h+7 in both 128-bit halves */
        const __m256i sc = _mm256_permute2x128_si256(scales16, scales16, h ? 0x11 : 0x00);
        for (int j = 0; j < 4; j++) {
            const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * j), _mm256_set1_epi8(3));
            const __m256i p = _mm256_maddubs_epi16(q, load256_avx2(qy + 128 * h + 32 * j));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, pick_pair_avx2(sc, j)));
        }
    }
    return sum;
}

static void vec_dot_q2_K_q8_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = (const block_q2_K *)vx; /* [n / 256] */
    const block_q8_K *y = (const block_q8_K *)vy; /* [n / 256] */
    __m256 acc = _mm256_setzero_ps();
    const char *pf = (const char *)vx + LL_PREFETCH_AHEAD_AVX2;
    for (int64_t b = 0; b < n / QK_K; b++) {
        pf = prefetch_ahead_avx2(pf, x + b + 1);
        const __m128i packed = _mm_loadu_si128((const __m128i *)x[b].scales);
        const __m128i m4 = _mm_set1_epi8(0x0F);
        const __m256i scales16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, m4));
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), m4));
        const __m256i min_sum = _mm256_madd_epi16(mins16, load256_avx2(y[b].bsums));
        acc = fma_scaled_avx2(fp16_to_f32_avx2(x[b].d) * y[b].d, q2_K_isum_avx2(x + b, y[b].qs, scales16), acc);
        acc = fma_scaled_avx2(-fp16_to_f32_avx2(x[b].dmin) * y[b].d, min_sum, acc);
    }
    *s = hsum_f32x8_avx2(acc);
}

/* dst[0..31] = d * q[i] - m with (d0, m0) for the first 16 elements and (d1, m1) for the last 16. */
static inline void store_scaled_sub16x2_avx2(float *dst, __m256i q, float d0, float m0, float d1, float m1) {
    __m256 v[4];
    widen_i8x32_avx2(q, v);
    for (int k = 0; k < 4; k++) {
        const __m256 d = _mm256_set1_ps(k < 2 ? d0 : d1), m = _mm256_set1_ps(k < 2 ? m0 : m1);
        _mm256_storeu_ps(dst + 8 * k, _mm256_sub_ps(_mm256_mul_ps(d, v[k]), m));
    }
}

static void dequantize_row_q2_K_avx2(const void *src, float *dst, int64_t n) {
    const block_q2_K *x = (const block_q2_K *)src; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K) {
        const float d = fp16_to_f32_avx2(x[b].d), dmin = fp16_to_f32_avx2(x[b].dmin);
        const uint8_t *sc = x[b].scales; /* [16] low nibble: scale, high nibble: min */
        for (int h = 0; h < 2; h++) {
            const __m256i bits = load256_avx2(x[b].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * j), _mm256_set1_epi8(3));
                const int sb = 8 * h + 2 * j; /* sub-blocks sb, sb + 1 */
                store_scaled_sub16x2_avx2(dst + 128 * h + 32 * j, q, d * (float)(sc[sb] & 0xF), dmin * (float)(sc[sb] >> 4),
                                          d * (float)(sc[sb + 1] & 0xF), dmin * (float)(sc[sb + 1] >> 4));
            }
        }
    }
}

/* ---- Q3_K: x = d * sc * (q3 - 4), q3 = low 2 bits | hmask bit << 2, 16 sub-blocks of 16 ---- */

/* The 32 unsigned 3-bit weights of elements 128h + 32j + [0..31]; hm: hmask >> (4h + j) (as
 * 16-bit lanes: bit 0 of every byte is then the wanted hmask bit). Also used by avx2_gemm.c. */
static inline __m256i q3_K_weights_avx2(__m256i bits, __m256i hm, int j) {
    const __m256i low = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * j), _mm256_set1_epi8(3));
    return _mm256_or_si256(low, _mm256_and_si256(_mm256_slli_epi16(hm, 2), _mm256_set1_epi8(4)));
}

/* sum over 256 elements of sc[e / 16] * q3[e] * qy[e] (q3 unsigned 0..7), 8 int32 lanes. */
static inline __m256i q3_K_isum_avx2(const block_q3_K *x, const int8_t *qy, __m256i scales16) {
    __m256i sum = _mm256_setzero_si256();
    __m256i hm = load256_avx2(x->hmask);
    for (int h = 0; h < 2; h++) {
        const __m256i bits = load256_avx2(x->qs + 32 * h);
        const __m256i sc = _mm256_permute2x128_si256(scales16, scales16, h ? 0x11 : 0x00);
        for (int j = 0; j < 4; j++) {
            const __m256i p = _mm256_maddubs_epi16(q3_K_weights_avx2(bits, hm, j), load256_avx2(qy + 128 * h + 32 * j));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, pick_pair_avx2(sc, j)));
            hm = _mm256_srli_epi16(hm, 1);
        }
    }
    return sum;
}

static void vec_dot_q3_K_q8_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = (const block_q3_K *)vx; /* [n / 256] */
    const block_q8_K *y = (const block_q8_K *)vy; /* [n / 256] */
    __m256 acc = _mm256_setzero_ps();
    const char *pf = (const char *)vx + LL_PREFETCH_AHEAD_AVX2;
    for (int64_t b = 0; b < n / QK_K; b++) {
        pf = prefetch_ahead_avx2(pf, x + b + 1);
        const __m256i scales16 = _mm256_cvtepi8_epi16(scales_q3_K_avx2(x[b].scales));
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(scales16, load256_avx2(y[b].bsums)), 2);
        const __m256i isum = _mm256_sub_epi32(q3_K_isum_avx2(x + b, y[b].qs, scales16), offset);
        acc = fma_scaled_avx2(fp16_to_f32_avx2(x[b].d) * y[b].d, isum, acc);
    }
    *s = hsum_f32x8_avx2(acc);
}

static void dequantize_row_q3_K_avx2(const void *src, float *dst, int64_t n) {
    const block_q3_K *x = (const block_q3_K *)src; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K) {
        const float d = fp16_to_f32_avx2(x[b].d);
        int8_t sc[16];
        _mm_storeu_si128((__m128i *)sc, scales_q3_K_avx2(x[b].scales));
        __m256i hm = load256_avx2(x[b].hmask);
        for (int h = 0; h < 2; h++) {
            const __m256i bits = load256_avx2(x[b].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const __m256i q = _mm256_sub_epi8(q3_K_weights_avx2(bits, hm, j), _mm256_set1_epi8(4));
                const int sb = 8 * h + 2 * j;
                store_scaled32_avx2(dst + 128 * h + 32 * j, q, d * (float)sc[sb], d * (float)sc[sb + 1]);
                hm = _mm256_srli_epi16(hm, 1);
            }
        }
    }
}

/* ---- Q4_K / Q5_K: x = d * sc * q - dmin * m, 8 sub-blocks of 32 ---- */

/* Scales [0..7] as int16 in both 128-bit halves; mins duplicated per 16-element bsum. */
static inline __m256i k4_scales16_avx2(__m128i scale_min) {
    return _mm256_cvtepu8_epi16(_mm_shuffle_epi8(scale_min, _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7)));
}

static inline __m256i k4_min_sum_avx2(__m128i scale_min, const int16_t *bsums) { /* bsums: [16] */
    const __m128i dup = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    return _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_shuffle_epi8(scale_min, dup)), load256_avx2(bsums));
}

/* One 64-element chunk j: 32 bytes of low (sub-block 2j) and high (2j + 1) weights. */
static inline __m256i k4_chunk_avx2(__m256i lo, __m256i hi, const int8_t *qy, __m256i scales16, int j) {
    const __m256i pl = _mm256_maddubs_epi16(lo, load256_avx2(qy));
    const __m256i ph = _mm256_maddubs_epi16(hi, load256_avx2(qy + 32));
    const __m256i sl = _mm256_madd_epi16(pl, pick_same_avx2(scales16, 2 * j));
    const __m256i sh = _mm256_madd_epi16(ph, pick_same_avx2(scales16, 2 * j + 1));
    return _mm256_add_epi32(sl, sh);
}

static void vec_dot_q4_K_q8_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = (const block_q4_K *)vx; /* [n / 256] */
    const block_q8_K *y = (const block_q8_K *)vy; /* [n / 256] */
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    const char *pf = (const char *)vx + LL_PREFETCH_AHEAD_AVX2;
    for (int64_t b = 0; b < n / QK_K; b++) {
        pf = prefetch_ahead_avx2(pf, x + b + 1);
        const __m128i scale_min = scale_min_k4_avx2(x[b].scales);
        const __m256i scales16 = k4_scales16_avx2(scale_min);
        __m256i isum = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i bits = load256_avx2(x[b].qs + 32 * j);
            const __m256i lo = _mm256_and_si256(bits, m4), hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            isum = _mm256_add_epi32(isum, k4_chunk_avx2(lo, hi, y[b].qs + 64 * j, scales16, j));
        }
        acc = fma_scaled_avx2(fp16_to_f32_avx2(x[b].d) * y[b].d, isum, acc);
        acc = fma_scaled_avx2(-fp16_to_f32_avx2(x[b].dmin) * y[b].d, k4_min_sum_avx2(scale_min, y[b].bsums), acc);
    }
    *s = hsum_f32x8_avx2(acc);
}

static void vec_dot_q5_K_q8_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = (const block_q5_K *)vx; /* [n / 256] */
    const block_q8_K *y = (const block_q8_K *)vy; /* [n / 256] */
    const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    const char *pf = (const char *)vx + LL_PREFETCH_AHEAD_AVX2;
    for (int64_t b = 0; b < n / QK_K; b++) {
        pf = prefetch_ahead_avx2(pf, x + b + 1);
        const __m128i scale_min = scale_min_k4_avx2(x[b].scales);
        const __m256i scales16 = k4_scales16_avx2(scale_min);
        __m256i hb = load256_avx2(x[b].qh); /* bit 2j / 2j+1 of byte l: 5th bit of element 64j + l / 64j+32+l */
        __m256i isum = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i bits = load256_avx2(x[b].qs + 32 * j);
            __m256i lo = _mm256_and_si256(bits, m4), hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hb, 4), bit4));
            hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hb, 3), bit4));
            hb = _mm256_srli_epi16(hb, 2);
            isum = _mm256_add_epi32(isum, k4_chunk_avx2(lo, hi, y[b].qs + 64 * j, scales16, j));
        }
        acc = fma_scaled_avx2(fp16_to_f32_avx2(x[b].d) * y[b].d, isum, acc);
        acc = fma_scaled_avx2(-fp16_to_f32_avx2(x[b].dmin) * y[b].d, k4_min_sum_avx2(scale_min, y[b].bsums), acc);
    }
    *s = hsum_f32x8_avx2(acc);
}

/* Q4_K / Q5_K dequantization of one super-block; qh NULL for Q4_K. */
static inline void dequantize_k4_avx2(float *dst, ll_fp16 d16, ll_fp16 dmin16, const uint8_t *packed,
                                      const uint8_t *qs, const uint8_t *qh) { /* dst: [256]; qs: [128]; qh: [32] */
    const float d = fp16_to_f32_avx2(d16), dmin = fp16_to_f32_avx2(dmin16);
    uint8_t sm[16]; /* [0..7] scales, [8..15] mins */
    _mm_storeu_si128((__m128i *)sm, scale_min_k4_avx2(packed));
    const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
    __m256i hb = qh ? load256_avx2(qh) : _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
        const __m256i bits = load256_avx2(qs + 32 * j);
        const __m256i lo = _mm256_or_si256(_mm256_and_si256(bits, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), bit4));
        const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
                                           _mm256_and_si256(_mm256_slli_epi16(hb, 3), bit4));
        hb = _mm256_srli_epi16(hb, 2);
        store_scaled_sub32_avx2(dst + 64 * j, lo, d * (float)sm[2 * j], dmin * (float)sm[8 + 2 * j]);
        store_scaled_sub32_avx2(dst + 64 * j + 32, hi, d * (float)sm[2 * j + 1], dmin * (float)sm[9 + 2 * j]);
    }
}

static void dequantize_row_q4_K_avx2(const void *src, float *dst, int64_t n) {
    const block_q4_K *x = (const block_q4_K *)src; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++) dequantize_k4_avx2(dst + b * QK_K, x[b].d, x[b].dmin, x[b].scales, x[b].qs, NULL);
}

static void dequantize_row_q5_K_avx2(const void *src, float *dst, int64_t n) {
    const block_q5_K *x = (const block_q5_K *)src; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++) {
        dequantize_k4_avx2(dst + b * QK_K, x[b].d, x[b].dmin, x[b].scales, x[b].qs, x[b].qh);
    }
}

/* ---- Q6_K: x = d * sc * (q6 - 32), q6 = 4 low bits | 2 high bits << 4, 16 sub-blocks of 16 ---- */

/* The 4 x 32 unsigned 6-bit weights of half h (elements 128h + 32k + [0..31], k = 0..3). */
static inline void q6_K_weights_avx2(const block_q6_K *x, int h, __m256i q[4]) {
    const __m256i ql0 = load256_avx2(x->ql + 64 * h), ql1 = load256_avx2(x->ql + 64 * h + 32);
    const __m256i qh = load256_avx2(x->qh + 32 * h);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2));
    q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m2));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2));
}

static void vec_dot_q6_K_q8_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = (const block_q6_K *)vx; /* [n / 256] */
    const block_q8_K *y = (const block_q8_K *)vy; /* [n / 256] */
    __m256 acc = _mm256_setzero_ps();
    const char *pf = (const char *)vx + LL_PREFETCH_AHEAD_AVX2;
    for (int64_t b = 0; b < n / QK_K; b++) {
        pf = prefetch_ahead_avx2(pf, x + b + 1);
        const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[b].scales));
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q[4];
            q6_K_weights_avx2(x + b, h, q);
            const __m256i sc = _mm256_permute2x128_si256(scales16, scales16, h ? 0x11 : 0x00);
            for (int k = 0; k < 4; k++) {
                const __m256i p = _mm256_maddubs_epi16(q[k], load256_avx2(y[b].qs + 128 * h + 32 * k));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, pick_pair_avx2(sc, k)));
            }
        }
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(scales16, load256_avx2(y[b].bsums)), 5);
        acc = fma_scaled_avx2(fp16_to_f32_avx2(x[b].d) * y[b].d, _mm256_sub_epi32(isum, offset), acc);
    }
    *s = hsum_f32x8_avx2(acc);
}

static void dequantize_row_q6_K_avx2(const void *src, float *dst, int64_t n) {
    const block_q6_K *x = (const block_q6_K *)src; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K) {
        const float d = fp16_to_f32_avx2(x[b].d);
        for (int h = 0; h < 2; h++) {
            __m256i q[4];
            q6_K_weights_avx2(x + b, h, q);
            for (int k = 0; k < 4; k++) {
                const int sb = 8 * h + 2 * k;
                store_scaled32_avx2(dst + 128 * h + 32 * k, _mm256_sub_epi8(q[k], _mm256_set1_epi8(32)),
                                    d * (float)x[b].scales[sb], d * (float)x[b].scales[sb + 1]);
            }
        }
    }
}

static void ll_fill_kquants_avx2(ll_type_kernels *t) {
    t[LL_TYPE_Q2_K].vec_dot = vec_dot_q2_K_q8_K_avx2;
    t[LL_TYPE_Q2_K].dequantize_row = dequantize_row_q2_K_avx2;
    t[LL_TYPE_Q3_K].vec_dot = vec_dot_q3_K_q8_K_avx2;
    t[LL_TYPE_Q3_K].dequantize_row = dequantize_row_q3_K_avx2;
    t[LL_TYPE_Q4_K].vec_dot = vec_dot_q4_K_q8_K_avx2;
    t[LL_TYPE_Q4_K].dequantize_row = dequantize_row_q4_K_avx2;
    t[LL_TYPE_Q5_K].vec_dot = vec_dot_q5_K_q8_K_avx2;
    t[LL_TYPE_Q5_K].dequantize_row = dequantize_row_q5_K_avx2;
    t[LL_TYPE_Q6_K].vec_dot = vec_dot_q6_K_q8_K_avx2;
    t[LL_TYPE_Q6_K].dequantize_row = dequantize_row_q6_K_avx2;
}
