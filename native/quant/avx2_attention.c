/* AVX2 (+FMA, F16C) attention kernels (kernels.h: ll_attn_kernels). Each lane runs one of the
 * reference's fmaf chains (quant/ref_attention.c), so the results are its bits; a run of values
 * short of a whole register block goes through the reference's span functions.
 *
 * The tile kernels are register-blocked: LL_ATTN_BLOCK_M queries x 16 values (two registers) per
 * step, so each loaded K or V value serves LL_ATTN_BLOCK_M queries and each query value 16 cells
 * or dims, from registers. A step's 8 accumulators are 8 independent chains, enough to keep both
 * FMA ports busy. */
#include <immintrin.h>
#include "../kernels.h"

#define LL_ATTN_VECS_AVX2 8 /* per-cell fp16 sum: registers of 8 floats held across a loop, 64 values */
#define LL_ATTN_BLOCK_M 4   /* tile kernels: queries per register block */
#define LL_ATTN_BLOCK_N 16  /* tile kernels: cells (dots) or dims (mix) per register block */
#define LL_ALWAYS_INLINE static inline __attribute__((always_inline))

/* t[k] = column k of the 8 x 8 block whose row i is r[i]. */
static inline void attn_transpose8x8_ps_avx2(const __m256 r[8], __m256 t[8]) {
    __m256 a[8], b[8];
    for (int i = 0; i < 8; i += 2) {
        a[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);     /* r_i0 r_j0 r_i1 r_j1 | r_i4 r_j4 r_i5 r_j5 */
        a[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]); /* r_i2 r_j2 r_i3 r_j3 | r_i6 r_j6 r_i7 r_j7 */
    }
    for (int i = 0; i < 8; i += 4) {
        b[i] = _mm256_shuffle_ps(a[i], a[i + 2], 0x44);     /* columns 0 | 4 of rows i .. i + 3 */
        b[i + 1] = _mm256_shuffle_ps(a[i], a[i + 2], 0xEE); /* columns 1 | 5 */
        b[i + 2] = _mm256_shuffle_ps(a[i + 1], a[i + 3], 0x44); /* columns 2 | 6 */
        b[i + 3] = _mm256_shuffle_ps(a[i + 1], a[i + 3], 0xEE); /* columns 3 | 7 */
    }
    for (int k = 0; k < 4; k++) {
        t[k] = _mm256_permute2f128_ps(b[k], b[4 + k], 0x20);
        t[k + 4] = _mm256_permute2f128_ps(b[k], b[4 + k], 0x31);
    }
}

/* 8 x 8 blocks of whole cells and dims; the rest (a cell count short of 8 and the padding, a head
 * dim short of 8) through the reference. */
static void attn_tile_transpose_avx2(int64_t hd, int nc, const float *rows, float *kt) {
    const int64_t whole_d = hd / 8 * 8;
    const int whole_c = nc / 8 * 8;
    for (int64_t d0 = 0; d0 < whole_d; d0 += 8) {
        for (int c0 = 0; c0 < whole_c; c0 += 8) {
            __m256 r[8], t[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(rows + (c0 + i) * hd + d0);
            attn_transpose8x8_ps_avx2(r, t);
            for (int k = 0; k < 8; k++) _mm256_storeu_ps(kt + (d0 + k) * LL_ATTN_TILE + c0, t[k]);
        }
        for (int64_t d = d0; d < d0 + 8; d++) {
            float *dst = kt + d * LL_ATTN_TILE; /* [LL_ATTN_TILE] */
            for (int c = whole_c; c < nc; c++) dst[c] = rows[c * hd + d];
            for (int c = nc; c < LL_ATTN_TILE; c++) dst[c] = 0.0f;
        }
    }
    attn_tile_transpose_span_ref(whole_d, hd, hd, nc, rows, kt);
}

/* dot[j * LL_ATTN_TILE + c0 + c] for j < m <= LL_ATTN_BLOCK_M, c < 16. */
LL_ALWAYS_INLINE void attn_tile_dots_block_avx2(int64_t hd, const int m, const float *const *q, const float *kt,
                                                int c0, float *dot) {
    __m256 acc[LL_ATTN_BLOCK_M][2];
    for (int j = 0; j < m; j++) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
    for (int64_t d = 0; d < hd; d++) {
        const float *k = kt + d * LL_ATTN_TILE + c0; /* [16] dimension d of cells c0.. */
        const __m256 k0 = _mm256_loadu_ps(k), k1 = _mm256_loadu_ps(k + 8);
        for (int j = 0; j < m; j++) {
            const __m256 qd = _mm256_broadcast_ss(q[j] + d);
            acc[j][0] = _mm256_fmadd_ps(qd, k0, acc[j][0]);
            acc[j][1] = _mm256_fmadd_ps(qd, k1, acc[j][1]);
        }
    }
    for (int j = 0; j < m; j++) {
        _mm256_storeu_ps(dot + j * LL_ATTN_TILE + c0, acc[j][0]);
        _mm256_storeu_ps(dot + j * LL_ATTN_TILE + c0 + 8, acc[j][1]);
    }
}

/* Cells outer, queries inner: a 16-cell slice of kt (hd x 64 bytes) stays in L1 across the queries. */
static void attn_tile_dots_f32_avx2(int64_t hd, int m, const float *const *q, const float *kt, float *dot) {
    for (int c0 = 0; c0 < LL_ATTN_TILE; c0 += LL_ATTN_BLOCK_N) {
        for (int j = 0; j < m; j += LL_ATTN_BLOCK_M) {
            const float *const *qj = q + j;
            float *dj = dot + j * LL_ATTN_TILE;
            switch (m - j < LL_ATTN_BLOCK_M ? m - j : LL_ATTN_BLOCK_M) {
            case 1: attn_tile_dots_block_avx2(hd, 1, qj, kt, c0, dj); break;
            case 2: attn_tile_dots_block_avx2(hd, 2, qj, kt, c0, dj); break;
            case 3: attn_tile_dots_block_avx2(hd, 3, qj, kt, c0, dj); break;
            default: attn_tile_dots_block_avx2(hd, LL_ATTN_BLOCK_M, qj, kt, c0, dj); break;
            }
        }
    }
}

/* acc[j][d0, d0 + 16) for j < m <= LL_ATTN_BLOCK_M, over all the cells. */
LL_ALWAYS_INLINE void attn_tile_mix_block_avx2(int64_t d0, int64_t hd, const int m, const float *vt,
                                               const int32_t *cells, const float *w, int n, float *const *acc) {
    __m256 x[LL_ATTN_BLOCK_M][2];
    for (int j = 0; j < m; j++) {
        x[j][0] = _mm256_loadu_ps(acc[j] + d0);
        x[j][1] = _mm256_loadu_ps(acc[j] + d0 + 8);
    }
    for (int i = 0; i < n; i++) {
        const float *v = vt + cells[i] * hd + d0; /* [16] */
        const __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8);
        for (int j = 0; j < m; j++) {
            const __m256 wi = _mm256_broadcast_ss(w + j * LL_ATTN_TILE + i);
            x[j][0] = _mm256_fmadd_ps(wi, v0, x[j][0]);
            x[j][1] = _mm256_fmadd_ps(wi, v1, x[j][1]);
        }
    }
    for (int j = 0; j < m; j++) {
        _mm256_storeu_ps(acc[j] + d0, x[j][0]);
        _mm256_storeu_ps(acc[j] + d0 + 8, x[j][1]);
    }
}

/* Dims outer, queries inner: a 16-dim slice of the tile's V rows (n x 64 bytes) stays in L1. */
static void attn_tile_mix_f32_avx2(int64_t hd, int m, const float *vt, const int32_t *cells, const float *w, int n,
                                   float *const *acc) {
    const int64_t whole = hd / LL_ATTN_BLOCK_N * LL_ATTN_BLOCK_N;
    for (int64_t d0 = 0; d0 < whole; d0 += LL_ATTN_BLOCK_N) {
        for (int j = 0; j < m; j += LL_ATTN_BLOCK_M) {
            float *const *aj = acc + j;
            const float *wj = w + j * LL_ATTN_TILE;
            switch (m - j < LL_ATTN_BLOCK_M ? m - j : LL_ATTN_BLOCK_M) {
            case 1: attn_tile_mix_block_avx2(d0, hd, 1, vt, cells, wj, n, aj); break;
            case 2: attn_tile_mix_block_avx2(d0, hd, 2, vt, cells, wj, n, aj); break;
            case 3: attn_tile_mix_block_avx2(d0, hd, 3, vt, cells, wj, n, aj); break;
            default: attn_tile_mix_block_avx2(d0, hd, LL_ATTN_BLOCK_M, vt, cells, wj, n, aj); break;
            }
        }
    }
    for (int j = 0; j < m; j++) attn_tile_mix_span_ref(whole, hd, hd, vt, cells, w + j * LL_ATTN_TILE, n, acc[j]);
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
    *k = (ll_attn_kernels){.tile_transpose = attn_tile_transpose_avx2, .tile_dots = attn_tile_dots_f32_avx2,
                           .tile_mix = attn_tile_mix_f32_avx2, .mix_f16 = attn_mix_f16_avx2};
}
