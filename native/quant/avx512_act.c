/* AVX-512 activation kernels (kernels.h: ll_act_kernels), the reference's results exactly: the
 * same single roundings, lane by lane. The slots not filled here keep their AVX2 kernels. */
#include <immintrin.h>
#include "../kernels.h"

/* ll_erf_rational (ops.c) on 16 lanes: the same clamp, Horner steps, product and division. */
static inline __m512 act_erf_rational_avx512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-4.0f)), _mm512_set1_ps(4.0f)); /* NaN -> -4, as fmaxf */
    const __m512 x2 = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(LL_ERF_P[0]), q = _mm512_set1_ps(LL_ERF_Q[0]);
    for (int i = 1; i < 7; i++) p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(LL_ERF_P[i]));
    for (int i = 1; i < 5; i++) q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(LL_ERF_Q[i]));
    return _mm512_div_ps(_mm512_mul_ps(x, p), q);
}

static void act_gelu_erf_avx512(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __m512 e = act_erf_rational_avx512(_mm512_mul_ps(v, _mm512_set1_ps(LL_INV_SQRT2)));
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(_mm512_set1_ps(1.0f), e)));
    }
    act_gelu_erf_ref(x + i, y + i, n - i);
}

/* Called after ll_fill_act_kernels_avx2 (dispatch.c). */
void ll_fill_act_kernels_avx512(ll_act_kernels *k) { k->gelu_erf = act_gelu_erf_avx512; }
