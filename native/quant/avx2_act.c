/* AVX2 (+F16C) activation kernels (kernels.h: ll_act_kernels), the reference's results exactly:
 * the fp16 conversions are the hardware's round-to-nearest-even ones, the table is read with
 * 32-bit gathers (hence its padding entry), and the products are the same single roundings. */
#include <immintrin.h>
#include "../kernels.h"

/* The table's entries at the fp16 bits of x's 8 values, as 8 floats. */
static inline __m256 act_gelu_lookup_avx2(const ll_fp16 *table, __m256 x) {
    const __m256i index = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
    const __m256i pairs = _mm256_i32gather_epi32((const int *)table, index, 2); /* entry, next entry */
    const __m256i low = _mm256_and_si256(pairs, _mm256_set1_epi32(0xffff));
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(low, low), 0x08); /* [8 x u16] */
    return _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
}

static void act_gelu_mul_avx2(const ll_fp16 *table, const float *a, const float *b, float *y, int64_t n) {
    const __m256 low = _mm256_set1_ps(-10.0f), high = _mm256_set1_ps(10.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(a + i);
        __m256 g = act_gelu_lookup_avx2(table, x);
        g = _mm256_blendv_ps(g, _mm256_setzero_ps(), _mm256_cmp_ps(x, low, _CMP_LE_OQ));
        g = _mm256_blendv_ps(g, x, _mm256_cmp_ps(x, high, _CMP_GE_OQ));
        if (b) g = _mm256_mul_ps(g, _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(y + i, g);
    }
    act_gelu_mul_ref(table, a + i, b ? b + i : NULL, y + i, n - i);
}

/* ll_erf_rational (ops.c) on 8 lanes: the same clamp, Horner steps, product and division. */
static inline __m256 act_erf_rational_avx2(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-4.0f)), _mm256_set1_ps(4.0f)); /* NaN -> -4, as fmaxf */
    const __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(LL_ERF_P[0]), q = _mm256_set1_ps(LL_ERF_Q[0]);
    for (int i = 1; i < 7; i++) p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(LL_ERF_P[i]));
    for (int i = 1; i < 5; i++) q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(LL_ERF_Q[i]));
    return _mm256_div_ps(_mm256_mul_ps(x, p), q);
}

static void act_gelu_erf_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 e = act_erf_rational_avx2(_mm256_mul_ps(v, _mm256_set1_ps(LL_INV_SQRT2)));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(_mm256_set1_ps(1.0f), e)));
    }
    act_gelu_erf_ref(x + i, y + i, n - i);
}

void ll_fill_act_kernels_avx2(ll_act_kernels *k) {
    k->gelu_mul = act_gelu_mul_avx2;
    k->gelu_erf = act_gelu_erf_avx2;
}
