/* AVX2 (+FMA, F16C) attention kernels (kernels.h: ll_attn_kernels). Each lane runs one of the
 * reference's fmaf chains (quant/ref_attention.c), so the results are its bits; a run of values
 * short of a whole register block goes through the reference's span functions. */
#include <immintrin.h>
#include "../kernels.h"

#define LL_ATTN_VECS_AVX2 8 /* registers of 8 floats held across a loop: 64 values */

static void attn_tile_dots_f32_avx2(int64_t hd, const float *q, const float *kt, float *dot) {
    __m256 acc[LL_ATTN_TILE / 8];
    for (int j = 0; j < LL_ATTN_TILE / 8; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t d = 0; d < hd; d++) {
        const __m256 qd = _mm256_broadcast_ss(q + d);
        const float *k = kt + d * LL_ATTN_TILE; /* [LL_ATTN_TILE] */
        for (int j = 0; j < LL_ATTN_TILE / 8; j++) acc[j] = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + 8 * j), acc[j]);
    }
    for (int j = 0; j < LL_ATTN_TILE / 8; j++) _mm256_storeu_ps(dot + 8 * j, acc[j]);
}

/* Values [d0, d0 + 64) of attn_tile_mix: 8 registers over all the cells. */
static inline void attn_tile_mix_block_avx2(int64_t d0, int64_t hd, const float *vt, const int32_t *cells,
                                            const float *w, int n, float *acc) {
    __m256 x[LL_ATTN_VECS_AVX2];
    for (int j = 0; j < LL_ATTN_VECS_AVX2; j++) x[j] = _mm256_loadu_ps(acc + d0 + 8 * j);
    for (int i = 0; i < n; i++) {
        const __m256 wi = _mm256_broadcast_ss(w + i);
        const float *v = vt + cells[i] * hd + d0; /* [64] */
        for (int j = 0; j < LL_ATTN_VECS_AVX2; j++) x[j] = _mm256_fmadd_ps(wi, _mm256_loadu_ps(v + 8 * j), x[j]);
    }
    for (int j = 0; j < LL_ATTN_VECS_AVX2; j++) _mm256_storeu_ps(acc + d0 + 8 * j, x[j]);
}

static void attn_tile_mix_f32_avx2(int64_t hd, const float *vt, const int32_t *cells, const float *w, int n,
                                   float *acc) {
    const int64_t whole = hd / (8 * LL_ATTN_VECS_AVX2) * (8 * LL_ATTN_VECS_AVX2);
    for (int64_t d0 = 0; d0 < whole; d0 += 8 * LL_ATTN_VECS_AVX2) attn_tile_mix_block_avx2(d0, hd, vt, cells, w, n, acc);
    attn_tile_mix_span_ref(whole, hd, hd, vt, cells, w, n, acc);
}

static inline __m256 round_f16_avx2(__m256 x) { return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)); }

/* Values [d0, d0 + 64) of attn_mix_f16; returns their first overflow step (or n). */
static int32_t attn_mix_f16_block_avx2(int64_t d0, const uint8_t *v, size_t v_stride, const int32_t *cells,
                                       const float *w, const float *rescale, int32_t n, int32_t round_until,
                                       float *acc) {
    __m256 x[LL_ATTN_VECS_AVX2];
    for (int j = 0; j < LL_ATTN_VECS_AVX2; j++) x[j] = _mm256_setzero_ps();
    const __m256 limit = _mm256_set1_ps(65520.0f), magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    int32_t overflow = n;
    for (int32_t t = 0; t < n; t++) {
        const ll_fp16 *row = (const ll_fp16 *)(v + (size_t)cells[t] * v_stride) + d0; /* [64] */
        if (rescale[t] != 1.0f) {
            const __m256 r = _mm256_set1_ps(rescale[t]);
            for (int j = 0; j < LL_ATTN_VECS_AVX2; j++) x[j] = _mm256_mul_ps(x[j], r);
            if (t <= round_until)
                for (int j = 0; j < LL_ATTN_VECS_AVX2; j++) x[j] = round_f16_avx2(x[j]);
        }
        const __m256 wt = _mm256_set1_ps(w[t]);
        for (int j = 0; j < LL_ATTN_VECS_AVX2; j++) {
            const __m256 vj = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 8 * j)));
            x[j] = _mm256_fmadd_ps(vj, wt, x[j]);
        }
        if (t >= round_until) continue;
        __m256 big = _mm256_setzero_ps();
        for (int j = 0; j < LL_ATTN_VECS_AVX2; j++) {
            big = _mm256_or_ps(big, _mm256_cmp_ps(_mm256_and_ps(x[j], magnitude), limit, _CMP_GE_OQ));
            x[j] = round_f16_avx2(x[j]);
        }
        if (overflow == n && _mm256_movemask_ps(big)) overflow = t;
    }
    for (int j = 0; j < LL_ATTN_VECS_AVX2; j++) _mm256_storeu_ps(acc + d0 + 8 * j, x[j]);
    return overflow;
}

static int32_t attn_mix_f16_avx2(int64_t hd, const uint8_t *v, size_t v_stride, const int32_t *cells, const float *w,
                                 const float *rescale, int32_t n, int32_t round_until, float *acc) {
    const int64_t whole = hd / (8 * LL_ATTN_VECS_AVX2) * (8 * LL_ATTN_VECS_AVX2);
    int32_t first = attn_mix_f16_span_ref(whole, hd, v, v_stride, cells, w, rescale, n, round_until, acc);
    for (int64_t d0 = 0; d0 < whole; d0 += 8 * LL_ATTN_VECS_AVX2) {
        const int32_t o = attn_mix_f16_block_avx2(d0, v, v_stride, cells, w, rescale, n, round_until, acc);
        first = o < first ? o : first;
    }
    return first;
}

void ll_fill_attn_kernels_avx2(ll_attn_kernels *k) {
    *k = (ll_attn_kernels){.tile_dots = attn_tile_dots_f32_avx2, .tile_mix = attn_tile_mix_f32_avx2,
                           .mix_f16 = attn_mix_f16_avx2};
}
