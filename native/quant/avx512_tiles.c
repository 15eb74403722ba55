/* The AVX-512 gemm_tile entry points: the decode path (quant/avx512_gemv.c) for nc <= LL_GEMV_COLS
 * tokens, the prefill panels (quant/avx512_gemm.c, quant/avx512_kgemm.c) otherwise; the float
 * types' tiles (quant/avx512_ftile.c) take both. Both give every
 * (row, token) the AVX2 tiles' bits, so batching, thread count and the avx2 / avx512 choice leave
 * results unchanged. ll_fill_gemm_avx512 is called from ll_fill_kernels_avx512. */

#define LL_GEMM_TILE_AVX512(TYPE, ATYPE)                                                                             \
    static void gemm_tile_##TYPE##_##ATYPE##_avx512(int64_t n, float *out, int64_t out_stride, const void *w,        \
                                                    int64_t w_stride, int nr, const void *a, int64_t a_stride,       \
                                                    int nc) {                                                        \
        if (nc <= LL_GEMV_COLS) {                                                                                    \
            gemv_##TYPE##_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc);                              \
        } else {                                                                                                     \
            gemm_panels_##TYPE##_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc);                       \
        }                                                                                                            \
    }

LL_GEMM_TILE_AVX512(q4_0, q8_0)
LL_GEMM_TILE_AVX512(q4_1, q8_0)
LL_GEMM_TILE_AVX512(q5_0, q8_0)
LL_GEMM_TILE_AVX512(q5_1, q8_0)
LL_GEMM_TILE_AVX512(q8_0, q8_0)
LL_GEMM_TILE_AVX512(q2_K, q8_K)
LL_GEMM_TILE_AVX512(q3_K, q8_K)
LL_GEMM_TILE_AVX512(q4_K, q8_K)
LL_GEMM_TILE_AVX512(q5_K, q8_K)
LL_GEMM_TILE_AVX512(q6_K, q8_K)

static void ll_set_gemm_avx512(ll_type_kernels *t, int type, ll_gemm_tile_fn fn, int rows, int cols) {
    t[type].gemm_tile = fn;
    t[type].gemm_tile_rows = rows;
    t[type].gemm_tile_cols = cols;
}

static void ll_fill_gemm_avx512(ll_type_kernels *t) {
    const int lr = LL_GEMM_LEGACY_ROWS_AVX512, lc = LL_GEMM_LEGACY_COLS_AVX512;
    const int kr = LL_GEMM_KQUANT_ROWS_AVX512, kc = LL_GEMM_KQUANT_COLS_AVX512;
    const int fr = LL_FTILE_ROWS_AVX512, fc = LL_FTILE_COLS_AVX512;
    ll_set_gemm_avx512(t, LL_TYPE_F32, gemm_tile_f32_avx512, fr, fc);
    ll_set_gemm_avx512(t, LL_TYPE_F16, gemm_tile_f16_avx512, fr, fc);
    ll_set_gemm_avx512(t, LL_TYPE_BF16, gemm_tile_bf16_avx512, fr, fc);
    ll_set_gemm_avx512(t, LL_TYPE_Q4_0, gemm_tile_q4_0_q8_0_avx512, lr, lc);
    ll_set_gemm_avx512(t, LL_TYPE_Q4_1, gemm_tile_q4_1_q8_0_avx512, lr, lc);
    ll_set_gemm_avx512(t, LL_TYPE_Q5_0, gemm_tile_q5_0_q8_0_avx512, lr, lc);
    ll_set_gemm_avx512(t, LL_TYPE_Q5_1, gemm_tile_q5_1_q8_0_avx512, lr, lc);
    ll_set_gemm_avx512(t, LL_TYPE_Q8_0, gemm_tile_q8_0_q8_0_avx512, lr, lc);
    ll_set_gemm_avx512(t, LL_TYPE_Q2_K, gemm_tile_q2_K_q8_K_avx512, kr, kc);
    ll_set_gemm_avx512(t, LL_TYPE_Q3_K, gemm_tile_q3_K_q8_K_avx512, kr, kc);
    ll_set_gemm_avx512(t, LL_TYPE_Q4_K, gemm_tile_q4_K_q8_K_avx512, kr, kc);
    ll_set_gemm_avx512(t, LL_TYPE_Q5_K, gemm_tile_q5_K_q8_K_avx512, kr, kc);
    ll_set_gemm_avx512(t, LL_TYPE_Q6_K, gemm_tile_q6_K_q8_K_avx512, kr, kc);
}
