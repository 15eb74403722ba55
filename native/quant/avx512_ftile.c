/* AVX-512 prefill tiles of the float types F32, F16 and BF16 (the activations come in the weight's
 * type, as vec_dot takes them). variant.c includes this file after quant/avx2.c and quant/avx512.c.
 *
 * Contract: every (row, token) gets the bits of vec_dot_<type>_<type>_avx2 (quant/avx2.c): per
 * 32-element step, element i + 8 k + j (k < 4, j < 8) is FMA'd into lane j of accumulator k; then 8
 * elements at a time into accumulator 0; then hsum((acc0 + acc1) + (acc2 + acc3)); then the
 * remaining elements one product and one add at a time. Here accumulators 0 and 1 are the two
 * halves of one zmm register ("lo"), 2 and 3 of another ("hi"), so the lanes see the same FMAs in
 * the same order, and the final sums are taken in the AVX2 order.
 *
 * gemm_tile_<type>_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc): nr <=
 * LL_FTILE_ROWS_AVX512, nc <= LL_FTILE_COLS_AVX512; decode (nc <= LL_GEMV_COLS) takes the vec_dot
 * loop, which is memory-bound either way.
 *
 * Layout: the tile's nr rows and nc tokens are first copied, F16 / BF16 widened to f32 (exact), into
 * a per-thread buffer with 64-byte aligned rows: each is converted once per tile, not once per use,
 * and no vector load straddles two cache lines. A kernel call then takes LL_FTILE_R rows x LL_FTILE_T tokens over the
 * whole row length with its 2 R T accumulators in registers: per 16 elements, R row loads, T token
 * loads, R T FMAs. The rows of a call stay in L1 while the tile's tokens stream from L2. */

#define LL_FTILE_ROWS_AVX512 64 /* weight rows per tile */
#define LL_FTILE_COLS_AVX512 64 /* tokens per tile */
#define LL_FTILE_R 4            /* rows per kernel call (the table below has 1..4) */
#define LL_FTILE_T 3            /* tokens per kernel call (the table below has 1..3) */
#define LL_FTILE_INLINE static inline __attribute__((always_inline))

/* ---- the kernel: R rows x T tokens ---- */

/* The AVX2 vec_dot's final sum of one (row, token): lo = accumulators 0 | 1, hi = 2 | 3. */
LL_FTILE_INLINE float ftile_sum_avx512(__m512 lo, __m512 hi) {
    const __m256 s01 = _mm256_add_ps(_mm512_castps512_ps256(lo), _mm512_extractf32x8_ps(lo, 1));
    const __m256 s23 = _mm256_add_ps(_mm512_castps512_ps256(hi), _mm512_extractf32x8_ps(hi, 1));
    return hsum_f32x8_avx2(_mm256_add_ps(s01, s23));
}

/* out[t * os + r] = dot(w_r, a_t) for r < R, t < T; w_r = w + r * ws, a_t = a + t * as ([n] floats). */
LL_FTILE_INLINE void ftile_kernel_avx512(int64_t n, const float *w, int64_t ws, const float *a, int64_t as, float *out,
                                         int64_t os, const int R, const int T) {
    __m512 lo[LL_FTILE_R][LL_FTILE_T], hi[LL_FTILE_R][LL_FTILE_T];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) lo[r][t] = hi[r][t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 wv[LL_FTILE_R];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            wv[r] = _mm512_loadu_ps(w + r * ws + i);
            __asm__("" : "+v"(wv[r])); /* in a register: one load per row, not one per FMA */
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const __m512 av = _mm512_loadu_ps(a + t * as + i);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) lo[r][t] = _mm512_fmadd_ps(wv[r], av, lo[r][t]);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            wv[r] = _mm512_loadu_ps(w + r * ws + i + 16);
            __asm__("" : "+v"(wv[r]));
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const __m512 av = _mm512_loadu_ps(a + t * as + i + 16);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) hi[r][t] = _mm512_fmadd_ps(wv[r], av, hi[r][t]);
        }
    }
    for (; i + 8 <= n; i += 8) { /* accumulator 0 only: the low 8 lanes of lo */
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const __m512 wv = _mm512_maskz_loadu_ps(0x00FF, w + r * ws + i);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                lo[r][t] = _mm512_mask3_fmadd_ps(wv, _mm512_maskz_loadu_ps(0x00FF, a + t * as + i), lo[r][t], 0x00FF);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            float sum = ftile_sum_avx512(lo[r][t], hi[r][t]);
            for (int64_t j = i; j < n; j++) sum += w[r * ws + j] * a[t * as + j];
            out[t * os + r] = sum;
        }
    }
}

typedef void (*ll_ftile_kernel_avx512)(int64_t n, const float *w, int64_t ws, const float *a, int64_t as, float *out,
                                       int64_t os);

#define LL_FTILE_KERNEL_AVX512(R, T)                                                                           \
    static void ftile_kernel_##R##x##T##_avx512(int64_t n, const float *w, int64_t ws, const float *a,        \
                                                int64_t as, float *out, int64_t os) {                         \
        ftile_kernel_avx512(n, w, ws, a, as, out, os, R, T);                                                  \
    }
#define LL_FTILE_KERNELS_AVX512(R) LL_FTILE_KERNEL_AVX512(R, 1) LL_FTILE_KERNEL_AVX512(R, 2) LL_FTILE_KERNEL_AVX512(R, 3)
LL_FTILE_KERNELS_AVX512(1)
LL_FTILE_KERNELS_AVX512(2)
LL_FTILE_KERNELS_AVX512(3)
LL_FTILE_KERNELS_AVX512(4)
#define LL_FTILE_ROW_AVX512(R) {ftile_kernel_##R##x1_avx512, ftile_kernel_##R##x2_avx512, ftile_kernel_##R##x3_avx512}

/* [R - 1][T - 1] */
static const ll_ftile_kernel_avx512 LL_FTILE_KERNEL_TABLE_AVX512[LL_FTILE_R][LL_FTILE_T] = {
    LL_FTILE_ROW_AVX512(1), LL_FTILE_ROW_AVX512(2), LL_FTILE_ROW_AVX512(3), LL_FTILE_ROW_AVX512(4),
};
#undef LL_FTILE_KERNELS_AVX512
#undef LL_FTILE_KERNEL_AVX512
#undef LL_FTILE_ROW_AVX512

/* ---- widening to f32 ---- */

static void f16_to_f32_row_avx512(const void *src, float *dst, int64_t n) {
    const ll_fp16 *x = (const ll_fp16 *)src; /* [n] */
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
    for (; i < n; i++) dst[i] = ll_fp16_to_f32(x[i]);
}

static void bf16_to_f32_row_avx512(const void *src, float *dst, int64_t n) {
    const ll_bf16 *x = (const ll_bf16 *)src; /* [n] */
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(x + i)));
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
    }
    for (; i < n; i++) dst[i] = ll_bf16_to_f32(x[i]);
}

typedef void (*ll_widen_row_fn)(const void *src, float *dst, int64_t n);

static void f32_row_avx512(const void *src, float *dst, int64_t n) { memcpy(dst, src, sizeof(float) * (size_t)n); }

/* A thread's buffer for the widened rows and tokens of its tile, 64-byte aligned (a vector load
 * that straddles two cache lines costs two): grows, never shrinks. */
static __thread float *ll_ftile_buf_avx512;
static __thread size_t ll_ftile_buf_floats_avx512;

static float *ftile_buffer_avx512(size_t floats) {
    if (floats > ll_ftile_buf_floats_avx512) {
        free(ll_ftile_buf_avx512);
        ll_ftile_buf_avx512 = aligned_alloc(64, sizeof(float) * floats);
        ll_ftile_buf_floats_avx512 = ll_ftile_buf_avx512 ? floats : 0;
    }
    return ll_ftile_buf_avx512;
}

/* ---- the tile ---- */

/* The kernels over [rows nr] x [tokens nc] of f32 rows w (stride ws floats) and tokens a (stride as). */
static void ftile_run_avx512(int64_t n, float *out, int64_t os, const float *w, int64_t ws, int nr, const float *a,
                             int64_t as, int nc) {
    for (int r0 = 0; r0 < nr; r0 += LL_FTILE_R) {
        const int r = nr - r0 < LL_FTILE_R ? nr - r0 : LL_FTILE_R;
        for (int t0 = 0; t0 < nc; t0 += LL_FTILE_T) {
            const int t = nc - t0 < LL_FTILE_T ? nc - t0 : LL_FTILE_T;
            LL_FTILE_KERNEL_TABLE_AVX512[r - 1][t - 1](n, w + r0 * ws, ws, a + t0 * as, as, out + t0 * os + r0, os);
        }
    }
}

/* Every (row, token) through vec_dot: decode, or a tile whose buffer could not be had. */
static void ftile_vec_dots_avx512(int64_t n, float *out, int64_t os, const uint8_t *w, int64_t w_stride, int nr,
                                  const uint8_t *a, int64_t a_stride, int nc, ll_vec_dot_fn vec_dot) {
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++) vec_dot(n, out + c * os + r, w + r * w_stride, a + c * a_stride);
}

static void gemm_float_avx512(int64_t n, float *out, int64_t os, const void *w, int64_t w_stride, int nr, const void *a,
                              int64_t a_stride, int nc, ll_widen_row_fn widen, ll_vec_dot_fn vec_dot) {
    const int64_t stride = (n + 15) / 16 * 16; /* floats per buffer row: every row 64-byte aligned */
    float *buf = nc > LL_GEMV_COLS ? ftile_buffer_avx512((size_t)(nr + nc) * (size_t)stride) : NULL;
    if (!buf) {
        ftile_vec_dots_avx512(n, out, os, w, w_stride, nr, a, a_stride, nc, vec_dot);
        return;
    }
    float *wf = buf, *af = buf + (size_t)nr * (size_t)stride; /* [nr, stride], [nc, stride] */
    for (int r = 0; r < nr; r++) widen((const uint8_t *)w + r * w_stride, wf + r * stride, n);
    for (int c = 0; c < nc; c++) widen((const uint8_t *)a + c * a_stride, af + c * stride, n);
    ftile_run_avx512(n, out, os, wf, stride, nr, af, stride, nc);
}

static void gemm_tile_f32_avx512(int64_t n, float *out, int64_t out_stride, const void *w, int64_t w_stride, int nr,
                                 const void *a, int64_t a_stride, int nc) {
    gemm_float_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc, f32_row_avx512, vec_dot_f32_f32_avx2);
}

static void gemm_tile_f16_avx512(int64_t n, float *out, int64_t out_stride, const void *w, int64_t w_stride, int nr,
                                 const void *a, int64_t a_stride, int nc) {
    gemm_float_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc, f16_to_f32_row_avx512, vec_dot_f16_f16_avx2);
}

static void gemm_tile_bf16_avx512(int64_t n, float *out, int64_t out_stride, const void *w, int64_t w_stride, int nr,
                                  const void *a, int64_t a_stride, int nc) {
    gemm_float_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc, bf16_to_f32_row_avx512,
                      vec_dot_bf16_bf16_avx2);
}
