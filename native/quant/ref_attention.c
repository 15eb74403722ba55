/* Scalar attention kernels (kernels.h: ll_attn_kernels): the reference every SIMD file matches
 * bit for bit, and the kernels of the modules without one. Portable C: fmaf is exact everywhere. */
#include <math.h>
#include "../kernels.h"

/* Dims [d0, d1) of attn_tile_transpose. */
void attn_tile_transpose_span_ref(int64_t d0, int64_t d1, int64_t hd, int nc, const float *rows, float *kt) {
    for (int64_t d = d0; d < d1; d++) {
        float *dst = kt + d * LL_ATTN_TILE; /* [LL_ATTN_TILE] */
        for (int c = 0; c < nc; c++) dst[c] = rows[c * hd + d];
        for (int c = nc; c < LL_ATTN_TILE; c++) dst[c] = 0.0f;
    }
}

void attn_tile_transpose_ref(int64_t hd, int nc, const float *rows, float *kt) {
    for (int64_t d0 = 0; d0 < hd; d0 += 8) /* 8 dims x all cells: the rows' lines stay in L1 */
        attn_tile_transpose_span_ref(d0, d0 + 8 < hd ? d0 + 8 : hd, hd, nc, rows, kt);
}

static void attn_tile_dots_one_ref(int64_t hd, const float *q, const float *kt, float *dot) {
    float acc[LL_ATTN_TILE] = {0.0f};
    for (int64_t d = 0; d < hd; d++) {
        const float *k = kt + d * LL_ATTN_TILE; /* [LL_ATTN_TILE] dimension d of every cell */
        for (int c = 0; c < LL_ATTN_TILE; c++) acc[c] = fmaf(q[d], k[c], acc[c]);
    }
    for (int c = 0; c < LL_ATTN_TILE; c++) dot[c] = acc[c];
}

void attn_tile_dots_f32_ref(int64_t hd, int m, const float *const *q, const float *kt, float *dot) {
    for (int j = 0; j < m; j++) attn_tile_dots_one_ref(hd, q[j], kt, dot + j * LL_ATTN_TILE);
}

void attn_tile_mix_span_ref(int64_t d0, int64_t d1, int64_t hd, const float *vt, const int32_t *cells,
                            const float *w, int n, float *acc) {
    for (int i = 0; i < n; i++) {
        const float *v = vt + cells[i] * hd; /* [hd] */
        for (int64_t d = d0; d < d1; d++) acc[d] = fmaf(w[i], v[d], acc[d]);
    }
}

void attn_tile_mix_f32_ref(int64_t hd, int m, const float *vt, const int32_t *cells, const float *w, int n,
                           float *const *acc) {
    for (int j = 0; j < m; j++) attn_tile_mix_span_ref(0, hd, hd, vt, cells, w + j * LL_ATTN_TILE, n, acc[j]);
}

static float ref_round_f16(float x) { return ll_fp16_to_f32(ll_f32_to_fp16(x)); }

int32_t attn_mix_f16_span_ref(int64_t d0, int64_t d1, const uint8_t *v, size_t v_stride, const int32_t *cells,
                              const float *w, const float *rescale, int32_t n, int32_t round_until, float *acc) {
    int32_t overflow = n;
    for (int64_t d = d0; d < d1; d++) acc[d] = 0.0f;
    for (int32_t t = 0; t < n; t++) {
        const ll_fp16 *row = (const ll_fp16 *)(v + (size_t)cells[t] * v_stride); /* [d1] */
        float amax = 0.0f;
        for (int64_t d = d0; d < d1; d++) {
            float x = acc[d];
            if (rescale[t] != 1.0f) {
                x *= rescale[t];
                if (t <= round_until) x = ref_round_f16(x);
            }
            x = fmaf(ll_fp16_to_f32(row[d]), w[t], x);
            amax = fmaxf(amax, fabsf(x));
            acc[d] = t < round_until ? ref_round_f16(x) : x;
        }
        if (t < round_until && amax >= 65520.0f && overflow == n) overflow = t;
    }
    return overflow;
}

int32_t attn_mix_f16_ref(int64_t hd, const uint8_t *v, size_t v_stride, const int32_t *cells, const float *w,
                         const float *rescale, int32_t n, int32_t round_until, float *acc) {
    return attn_mix_f16_span_ref(0, hd, v, v_stride, cells, w, rescale, n, round_until, acc);
}

void ll_fill_attn_kernels_ref(ll_attn_kernels *k) {
    *k = (ll_attn_kernels){.tile_transpose = attn_tile_transpose_ref, .tile_dots = attn_tile_dots_f32_ref,
                           .tile_mix = attn_tile_mix_f32_ref, .mix_f16 = attn_mix_f16_ref};
}
