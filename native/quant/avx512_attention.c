/* AVX-512 attention tile kernels (kernels.h: ll_attn_kernels): the large-batch path's scores and
 * V sums with 16-float registers. Each lane runs one of the reference's fmaf chains
 * (quant/ref_attention.c), so the results are its bits. The slots not filled here (the K tile
 * transpose and the per-cell fp16 V sum) keep their AVX2 kernels.
 *
 * Register blocking: LL_ATTN_BLOCK_M_AVX512 queries x 32 values (two registers) per step, so each
 * loaded K or V value serves 8 queries and each broadcast query value or weight 32 cells or dims:
 * 16 independent accumulator chains, enough to keep both FMA ports busy, in 16 + 3 registers. */
#include <immintrin.h>
#include "../kernels.h"

#define LL_ATTN_BLOCK_M_AVX512 8 /* queries per register block */

/* dot[j * LL_ATTN_TILE + c0 + c] for j < m <= LL_ATTN_BLOCK_M_AVX512, c < 32. */
LL_ALWAYS_INLINE void attn_tile_dots_block_avx512(int64_t hd, const int m, const float *const *q, const float *kt,
                                                  int c0, float *dot) {
    __m512 acc[LL_ATTN_BLOCK_M_AVX512][2]; /* [query][cells c0 .. c0 + 15, c0 + 16 .. c0 + 31] */
    for (int j = 0; j < m; j++) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    for (int64_t d = 0; d < hd; d++) {
        const float *k = kt + d * LL_ATTN_TILE + c0; /* [32] dimension d of cells c0.. */
        const __m512 k0 = _mm512_loadu_ps(k), k1 = _mm512_loadu_ps(k + 16);
        for (int j = 0; j < m; j++) {
            const __m512 qd = _mm512_set1_ps(q[j][d]);
            acc[j][0] = _mm512_fmadd_ps(qd, k0, acc[j][0]);
            acc[j][1] = _mm512_fmadd_ps(qd, k1, acc[j][1]);
        }
    }
    for (int j = 0; j < m; j++) {
        _mm512_storeu_ps(dot + j * LL_ATTN_TILE + c0, acc[j][0]);
        _mm512_storeu_ps(dot + j * LL_ATTN_TILE + c0 + 16, acc[j][1]);
    }
}

/* Cells outer, queries inner: a 32-cell slice of kt (hd x 128 bytes) stays in L1 across the queries. */
static void attn_tile_dots_f32_avx512(int64_t hd, int m, const float *const *q, const float *kt, float *dot) {
    for (int c0 = 0; c0 < LL_ATTN_TILE; c0 += 32) {
        for (int j = 0; j < m; j += LL_ATTN_BLOCK_M_AVX512) {
            const float *const *qj = q + j;
            float *dj = dot + j * LL_ATTN_TILE;
            switch (m - j < LL_ATTN_BLOCK_M_AVX512 ? m - j : LL_ATTN_BLOCK_M_AVX512) {
            case 1: attn_tile_dots_block_avx512(hd, 1, qj, kt, c0, dj); break;
            case 2: attn_tile_dots_block_avx512(hd, 2, qj, kt, c0, dj); break;
            case 3: attn_tile_dots_block_avx512(hd, 3, qj, kt, c0, dj); break;
            case 4: attn_tile_dots_block_avx512(hd, 4, qj, kt, c0, dj); break;
            case 5: attn_tile_dots_block_avx512(hd, 5, qj, kt, c0, dj); break;
            case 6: attn_tile_dots_block_avx512(hd, 6, qj, kt, c0, dj); break;
            case 7: attn_tile_dots_block_avx512(hd, 7, qj, kt, c0, dj); break;
            default: attn_tile_dots_block_avx512(hd, LL_ATTN_BLOCK_M_AVX512, qj, kt, c0, dj); break;
            }
        }
    }
}

/* acc[j][d0, d0 + 16 nv) for j < m <= LL_ATTN_BLOCK_M_AVX512 (nv = 1 or 2 registers), over all the cells. */
LL_ALWAYS_INLINE void attn_tile_mix_block_avx512(int64_t d0, int64_t hd, const int m, const int nv, const float *vt,
                                                 const int32_t *cells, const float *w, int n, float *const *acc) {
    __m512 x[LL_ATTN_BLOCK_M_AVX512][2]; /* [query][dims d0 .. d0 + 15, d0 + 16 .. d0 + 31] */
    for (int j = 0; j < m; j++) {
        for (int h = 0; h < nv; h++) x[j][h] = _mm512_loadu_ps(acc[j] + d0 + 16 * h);
    }
    for (int i = 0; i < n; i++) {
        const float *v = vt + cells[i] * hd + d0; /* [16 nv] */
        __m512 vv[2];
        for (int h = 0; h < nv; h++) vv[h] = _mm512_loadu_ps(v + 16 * h);
        for (int j = 0; j < m; j++) {
            const __m512 wi = _mm512_set1_ps(w[j * LL_ATTN_TILE + i]);
            for (int h = 0; h < nv; h++) x[j][h] = _mm512_fmadd_ps(wi, vv[h], x[j][h]);
        }
    }
    for (int j = 0; j < m; j++) {
        for (int h = 0; h < nv; h++) _mm512_storeu_ps(acc[j] + d0 + 16 * h, x[j][h]);
    }
}

/* The dims [d0, d0 + 16 nv) of every query, LL_ATTN_BLOCK_M_AVX512 queries at a time. */
LL_ALWAYS_INLINE void attn_tile_mix_dims_avx512(int64_t d0, int64_t hd, int m, const int nv, const float *vt,
                                                const int32_t *cells, const float *w, int n, float *const *acc) {
    for (int j = 0; j < m; j += LL_ATTN_BLOCK_M_AVX512) {
        float *const *aj = acc + j;
        const float *wj = w + j * LL_ATTN_TILE;
        switch (m - j < LL_ATTN_BLOCK_M_AVX512 ? m - j : LL_ATTN_BLOCK_M_AVX512) {
        case 1: attn_tile_mix_block_avx512(d0, hd, 1, nv, vt, cells, wj, n, aj); break;
        case 2: attn_tile_mix_block_avx512(d0, hd, 2, nv, vt, cells, wj, n, aj); break;
        case 3: attn_tile_mix_block_avx512(d0, hd, 3, nv, vt, cells, wj, n, aj); break;
        case 4: attn_tile_mix_block_avx512(d0, hd, 4, nv, vt, cells, wj, n, aj); break;
        case 5: attn_tile_mix_block_avx512(d0, hd, 5, nv, vt, cells, wj, n, aj); break;
        case 6: attn_tile_mix_block_avx512(d0, hd, 6, nv, vt, cells, wj, n, aj); break;
        case 7: attn_tile_mix_block_avx512(d0, hd, 7, nv, vt, cells, wj, n, aj); break;
        default: attn_tile_mix_block_avx512(d0, hd, LL_ATTN_BLOCK_M_AVX512, nv, vt, cells, wj, n, aj); break;
        }
    }
}

/* Dims outer, queries inner: a 32-dim slice of the tile's V rows (n x 128 bytes) stays in L1.
 * Whole 32-dim slices, then one of 16, then the last dims through the reference. */
static void attn_tile_mix_f32_avx512(int64_t hd, int m, const float *vt, const int32_t *cells, const float *w, int n,
                                     float *const *acc) {
    int64_t d0 = 0;
    for (; d0 + 32 <= hd; d0 += 32) attn_tile_mix_dims_avx512(d0, hd, m, 2, vt, cells, w, n, acc);
    if (d0 + 16 <= hd) {
        attn_tile_mix_dims_avx512(d0, hd, m, 1, vt, cells, w, n, acc);
        d0 += 16;
    }
    for (int j = 0; j < m && d0 < hd; j++) attn_tile_mix_span_ref(d0, hd, hd, vt, cells, w + j * LL_ATTN_TILE, n, acc[j]);
}

/* Called after ll_fill_attn_kernels_avx2 (dispatch.c). */
void ll_fill_attn_kernels_avx512(ll_attn_kernels *k) {
    k->tile_dots = attn_tile_dots_f32_avx512;
    k->tile_mix = attn_tile_mix_f32_avx512;
}
