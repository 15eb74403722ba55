/* AVX-512 decode paths (1 or 2 tokens: the gemm_tile slot's nc <= LL_GEMV_COLS case) of the
 * quantized types. variant.c includes this file after quant/avx512.c and the AVX2 tile files.
 *
 * Contract: every (row, token) gets the bits the AVX2 tiles give (quant/avx2_gemm.c,
 * quant/avx2_gemv.c): the same exact integer sums per block / super-block, and the same float
 * operations in the same order, so that a token decoded alone, inside a prompt, or on the avx2
 * level has the same result.
 *
 * gemv_<type>_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc): nc <= LL_GEMV_COLS,
 * any nr <= LL_TILE_MAX. */

/* The AVX2 decode tile on rows [r, r + 32) at a time (it holds at most LL_GEMM_ROWS_AVX2 rows). */
#define LL_GEMV_VIA_AVX2_AVX512(TYPE, ATYPE)                                                                        \
    static void gemv_##TYPE##_avx512(int64_t n, float *out, int64_t out_stride, const void *w, int64_t w_stride,  \
                                     int nr, const void *a, int64_t a_stride, int nc) {                           \
        for (int r = 0; r < nr; r += LL_GEMM_ROWS_AVX2) {                                                          \
            const int rows = nr - r < LL_GEMM_ROWS_AVX2 ? nr - r : LL_GEMM_ROWS_AVX2;                              \
            gemm_tile_##TYPE##_##ATYPE##_avx2(n, out + r, out_stride,                                               \
                                              (const uint8_t *)w + r * w_stride, w_stride, rows, a, a_stride, nc); \
        }                                                                                                          \
    }

LL_GEMV_VIA_AVX2_AVX512(q4_0, q8_0)
LL_GEMV_VIA_AVX2_AVX512(q4_1, q8_0)
LL_GEMV_VIA_AVX2_AVX512(q5_0, q8_0)
LL_GEMV_VIA_AVX2_AVX512(q5_1, q8_0)
LL_GEMV_VIA_AVX2_AVX512(q8_0, q8_0)
LL_GEMV_VIA_AVX2_AVX512(q2_K, q8_K)
LL_GEMV_VIA_AVX2_AVX512(q3_K, q8_K)
LL_GEMV_VIA_AVX2_AVX512(q4_K, q8_K)
LL_GEMV_VIA_AVX2_AVX512(q5_K, q8_K)
LL_GEMV_VIA_AVX2_AVX512(q6_K, q8_K)
