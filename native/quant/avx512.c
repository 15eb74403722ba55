/* AVX-512 (F/BW/DQ/VL, VNNI) kernels. Compiled only into the avx512 variant module. */
#include <immintrin.h>
#include "../kernels.h"

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

void ll_fill_kernels_avx512(ll_type_kernels *t) {
    t[LL_TYPE_F16].dequantize_row = dequantize_row_f16_avx512;
    t[LL_TYPE_BF16].dequantize_row = dequantize_row_bf16_avx512;
    t[LL_TYPE_Q8_0].dequantize_row = dequantize_row_q8_0_avx512;
}
