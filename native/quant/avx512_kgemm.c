/* AVX-512 VNNI prefill tiles (3 or more tokens) of the k-quants Q2_K .. Q6_K against Q8_K.
 * variant.c includes this file after quant/avx512.c and the AVX2 tile files.
 *
 * Contract: every (row, token) gets the bits the AVX2 panels give (quant/avx2_gemm.c): the same
 * exact integer sums per super-block (isum = sum sc u a, msum = sum mn bsum) and per super-block
 * the same two FMAs in the same order.
 *
 * gemm_panels_<type>_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc): nr <=
 * LL_GEMM_KQUANT_ROWS_AVX512, nc <= LL_GEMM_KQUANT_COLS_AVX512. */

#define LL_GEMM_KQUANT_ROWS_AVX512 32
#define LL_GEMM_KQUANT_COLS_AVX512 32

#define LL_KPANELS_VIA_AVX2_AVX512(TYPE)                                                                            \
    static void gemm_panels_##TYPE##_avx512(int64_t n, float *out, int64_t out_stride, const void *w,              \
                                            int64_t w_stride, int nr, const void *a, int64_t a_stride, int nc) {   \
        gemm_tile_##TYPE##_q8_K_avx2(n, out, out_stride, w, w_stride, nr, a, a_stride, nc);                        \
    }

LL_KPANELS_VIA_AVX2_AVX512(q2_K)
LL_KPANELS_VIA_AVX2_AVX512(q3_K)
LL_KPANELS_VIA_AVX2_AVX512(q4_K)
LL_KPANELS_VIA_AVX2_AVX512(q5_K)
LL_KPANELS_VIA_AVX2_AVX512(q6_K)
