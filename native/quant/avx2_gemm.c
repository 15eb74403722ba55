/* AVX2 prefill tiles (the kernel table's gemm_tile slot, 3 or more tokens) for the quantized
 * types: up to 32 weight rows x up to 32 activation rows per call. variant.c includes this file
 * after quant/avx2.c and quant/avx2_kquants.c, whose helpers it uses, and before quant/avx2_gemv.c,
 * which holds the 1-2 token paths, the per-type gemm_tile entry points and ll_fill_gemm_avx2.
 *
 * Layout: weight rows in lanes. A tile walks the rows' length in chunks of 256 elements. For each
 * chunk it packs its weight rows, 8 at a time ("panels"), into the transposed form
 *     u[group][step]: 32 bytes, int32 lane i = 4 consecutive unsigned weights of row i,
 * (group = 32 elements, step = 4 elements), with per-row scales as vectors. A token's activation
 * bytes are then broadcast 4 at a time and one _mm256_maddubs_epi16 multiplies them with 4
 * weights of each of 8 rows; up to 8 steps are summed in int16 (never saturating for the value
 * ranges below), one _mm256_madd_epi16 widens to int32 (applying the k-quants' integer sub-block
 * scales on the way), and one conversion + FMA per group or super-block scales 8 rows at once.
 * So the per-block float work and the unpacking are shared by 8 rows and by every token of the
 * tile, where a vec_dot loop redoes both for every (row, token) pair.
 *
 * Unsigned weights with an offset (Q4_0: q - 8, Q6_K: q - 32, ...) take the offset out through the
 * activation sums: sum_i (u_i - o) a_i = sum_i u_i a_i - o sum_i a_i, with sum_i a_i from the
 * Q8_K bsums, or computed once per (token, block) for Q8_0. Q8_0 weights w (signed) are split into
 * two unsigned nibble planes of w + 128 = 16 hi + lo.
 *
 * int16 headroom (|a| <= 128): maddubs pairs are <= 2 * umax * 128; 8 steps of umax = 15 reach
 * 30720, 4 steps of umax = 31 reach 31744, 2 steps of umax = 63 reach 32256.
 */

#define LL_GEMM_INLINE static inline __attribute__((always_inline)) /* specialize per type */
#define LL_GEMM_PANELS 4       /* panels of 8 weight rows computed together */
#define LL_GEMM_ROWS_AVX2 32   /* weight rows per tile: LL_GEMM_PANELS panels */
#define LL_GEMM_COLS_AVX2 32   /* activation rows (tokens) per tile */
#define LL_GEMM_CHUNK 256      /* elements per chunk: one k-quant super-block, 8 legacy blocks */

/* ---- packing helpers ---- */

/* r[i]: 32 bytes of row i -> s[k]: dword k of every row (int32 lane i = row i). */
static inline void transpose8x8_epi32_avx2(const __m256i r[8], __m256i s[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);     /* d0 d0 d1 d1 | d4 d4 d5 d5 */
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]); /* d2 d2 d3 d3 | d6 d6 d7 d7 */
    }
    for (int h = 0; h < 2; h++) { /* rows 0-3 (h = 0) and 4-7 (h = 1) */
        u[4 * h + 0] = _mm256_unpacklo_epi64(t[4 * h], t[4 * h + 2]);     /* d0 | d4 */
        u[4 * h + 1] = _mm256_unpackhi_epi64(t[4 * h], t[4 * h + 2]);     /* d1 | d5 */
        u[4 * h + 2] = _mm256_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]); /* d2 | d6 */
        u[4 * h + 3] = _mm256_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]); /* d3 | d7 */
    }
    for (int k = 0; k < 4; k++) {
        s[k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x20);
        s[k + 4] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x31);
    }
}

static inline __m256i bcast4_avx2(const void *p) { /* the 4 bytes at p in every int32 lane */
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

/* ---- legacy types (32-element blocks, against Q8_0) ---- */

typedef struct {
    __m256i u[2][8][8];  /* [plane][group][step]: plane 0 = the weights (Q8_0: high nibbles), 1 = Q8_0's low */
    __m256 s[8];         /* [group] per-row scale of sum(u * a) */
    __m256 o[8];         /* [group] per-row coefficient of sum(a) (offset or min) */
} ll_legacy_panel_avx2;

/* One block of one row: its 32 unsigned weights (planes) and the two per-row factors. */
typedef void (*ll_legacy_unpack_avx2)(const void *block, __m256i u[2], float *s, float *o);

static void unpack_q4_0_gemm_avx2(const void *blk, __m256i u[2], float *s, float *o) {
    const block_q4_0 *x = blk;
    u[0] = nibbles32_avx2(x->qs);
    *s = fp16_to_f32_avx2(x->d);
    *o = -8.0f * *s;
}

static void unpack_q4_1_gemm_avx2(const void *blk, __m256i u[2], float *s, float *o) {
    const block_q4_1 *x = blk;
    u[0] = nibbles32_avx2(x->qs);
    *s = fp16_to_f32_avx2(x->d);
    *o = fp16_to_f32_avx2(x->m);
}

static void unpack_q5_0_gemm_avx2(const void *blk, __m256i u[2], float *s, float *o) {
    const block_q5_0 *x = blk;
    u[0] = _mm256_or_si256(nibbles32_avx2(x->qs), _mm256_and_si256(bits32_avx2(x->qh), _mm256_set1_epi8(0x10)));
    *s = fp16_to_f32_avx2(x->d);
    *o = -16.0f * *s;
}

static void unpack_q5_1_gemm_avx2(const void *blk, __m256i u[2], float *s, float *o) {
    const block_q5_1 *x = blk;
    u[0] = q5_1_weights_avx2(x);
    *s = fp16_to_f32_avx2(x->d);
    *o = fp16_to_f32_avx2(x->m);
}

static void unpack_q8_0_gemm_avx2(const void *blk, __m256i u[2], float *s, float *o) {
    const block_q8_0 *x = blk;
    const __m256i biased = _mm256_xor_si256(load256_avx2(x->qs), _mm256_set1_epi8((char)0x80)); /* w + 128 */
    u[0] = _mm256_and_si256(_mm256_srli_epi16(biased, 4), _mm256_set1_epi8(0x0F));
    u[1] = _mm256_and_si256(biased, _mm256_set1_epi8(0x0F));
    *s = fp16_to_f32_avx2(x->d);
    *o = -128.0f * *s;
}

/* Packs blocks b0 .. b0 + ng - 1 of `rows` (<= 8) weight rows; missing rows are zeros. */
LL_GEMM_INLINE void pack_legacy_avx2(ll_legacy_panel_avx2 *p, const uint8_t *w, int64_t w_stride, int rows,
                                    int64_t b0, int ng, size_t block_bytes, int planes, ll_legacy_unpack_avx2 unpack) {
    for (int g = 0; g < ng; g++) {
        __m256i r[2][8];
        float s[8] = {0}, o[8] = {0};
        for (int i = 0; i < 8; i++) {
            __m256i u[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
            if (i < rows) unpack(w + i * w_stride + (size_t)(b0 + g) * block_bytes, u, &s[i], &o[i]);
            r[0][i] = u[0];
            r[1][i] = u[1];
        }
        for (int pl = 0; pl < planes; pl++) transpose8x8_epi32_avx2(r[pl], p->u[pl][g]);
        p->s[g] = _mm256_loadu_ps(s);
        p->o[g] = _mm256_loadu_ps(o);
    }
}

/* int32 sum(u * a) of one group for one panel, per row. steps: maddubs summed in int16 before
 * widening (8 for u <= 15, 4 for u <= 31); planes == 2: Q8_0's 16 * hi + lo. */
LL_GEMM_INLINE __m256i legacy_isum_avx2(const ll_legacy_panel_avx2 *p, int g, const __m256i bc[8], int planes, int steps) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i total = _mm256_setzero_si256();
    for (int pl = 0; pl < planes; pl++) {
        const __m256i weight = pl == 0 && planes == 2 ? _mm256_set1_epi16(16) : ones;
        for (int k0 = 0; k0 < 8; k0 += steps) {
            __m256i acc = _mm256_maddubs_epi16(p->u[pl][g][k0], bc[k0]);
            for (int k = k0 + 1; k < k0 + steps; k++) acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(p->u[pl][g][k], bc[k]));
            total = _mm256_add_epi32(total, _mm256_madd_epi16(acc, weight));
        }
    }
    return total;
}

/* sum of the 32 signed bytes of a Q8_0 block. */
static inline int sum_q8_0_avx2(const block_q8_0 *a) {
    const __m256i biased = _mm256_xor_si256(load256_avx2(a->qs), _mm256_set1_epi8((char)0x80));
    const __m256i sad = _mm256_sad_epu8(biased, _mm256_setzero_si256()); /* 4 x sum of 8 (a + 128) */
    const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
    return (int)(_mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1)) - 32 * 128;
}

/* acc[p] += this chunk's part of token a's dot products with the rows of panels[p], p < P. */
LL_GEMM_INLINE void legacy_token_avx2(const ll_legacy_panel_avx2 *panels, int ng, const block_q8_0 *a, __m256 *acc,
                                      int planes, int steps, const int P) {
    __m256 r[LL_GEMM_PANELS];
    for (int p = 0; p < P; p++) r[p] = acc[p];
    for (int g = 0; g < ng; g++) {
        __m256i bc[8];
        for (int k = 0; k < 8; k++) bc[k] = bcast4_avx2(a[g].qs + 4 * k);
        const float da = fp16_to_f32_avx2(a[g].d);
        const __m256 dav = _mm256_set1_ps(da), dasum = _mm256_set1_ps(da * (float)sum_q8_0_avx2(a + g));
        for (int p = 0; p < P; p++) {
            const __m256i isum = legacy_isum_avx2(panels + p, g, bc, planes, steps);
            r[p] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(panels[p].s[g], dav), r[p]);
            r[p] = _mm256_fmadd_ps(panels[p].o[g], dasum, r[p]);
        }
    }
    for (int p = 0; p < P; p++) acc[p] = r[p];
}

/* out[c * out_stride + 8 p + i] = lane i of acc[c][p], for the first `rows` rows and nc tokens. */
static inline void store_rows_avx2(float *out, int64_t out_stride, int rows, int nc, __m256 acc[][LL_GEMM_PANELS]) {
    for (int c = 0; c < nc; c++) {
        float *dst = out + c * out_stride; /* [rows] */
        int p = 0;
        for (; 8 * p + 8 <= rows; p++) _mm256_storeu_ps(dst + 8 * p, acc[c][p]);
        if (8 * p < rows) {
            float v[8];
            _mm256_storeu_ps(v, acc[c][p]);
            memcpy(dst + 8 * p, v, sizeof(float) * (size_t)(rows - 8 * p));
        }
    }
}

/* Rows [0, rows) (rows <= 8 P) of a tile against its nc tokens, P panels at a time. */
LL_GEMM_INLINE void legacy_rows_avx2(int64_t n, float *out, int64_t out_stride, const uint8_t *w, int64_t w_stride,
                                     int rows, const uint8_t *a, int64_t a_stride, int nc, size_t block_bytes,
                                     int planes, int steps, ll_legacy_unpack_avx2 unpack, const int P) {
    ll_legacy_panel_avx2 panels[LL_GEMM_PANELS];
    __m256 acc[LL_GEMM_COLS_AVX2][LL_GEMM_PANELS];
    for (int c = 0; c < nc; c++) {
        for (int p = 0; p < P; p++) acc[c][p] = _mm256_setzero_ps();
    }
    const int64_t nb = n / QK8_0;
    for (int64_t b0 = 0; b0 < nb; b0 += LL_GEMM_CHUNK / QK8_0) {
        const int ng = (int)(nb - b0 < 8 ? nb - b0 : 8);
        for (int p = 0; p < P; p++) {
            const int in_panel = rows - 8 * p < 8 ? rows - 8 * p : 8;
            pack_legacy_avx2(panels + p, w + 8 * p * w_stride, w_stride, in_panel, b0, ng, block_bytes, planes, unpack);
        }
        for (int c = 0; c < nc; c++) {
            legacy_token_avx2(panels, ng, (const block_q8_0 *)(a + c * a_stride) + b0, acc[c], planes, steps, P);
        }
    }
    store_rows_avx2(out, out_stride, rows, nc, acc);
}

/* Full groups of LL_GEMM_PANELS panels, then the rest one panel at a time. */
LL_GEMM_INLINE void gemm_tile_legacy_avx2(int64_t n, float *out, int64_t out_stride, const void *w, int64_t w_stride,
                                          int nr, const void *a, int64_t a_stride, int nc, size_t block_bytes,
                                          int planes, int steps, ll_legacy_unpack_avx2 unpack) {
    int r = 0;
    for (; r + 8 * LL_GEMM_PANELS <= nr; r += 8 * LL_GEMM_PANELS) {
        legacy_rows_avx2(n, out + r, out_stride, (const uint8_t *)w + r * w_stride, w_stride,
                         8 * LL_GEMM_PANELS, a, a_stride, nc, block_bytes, planes, steps, unpack, LL_GEMM_PANELS);
    }
    for (; r < nr; r += 8) {
        legacy_rows_avx2(n, out + r, out_stride, (const uint8_t *)w + r * w_stride, w_stride,
                         nr - r < 8 ? nr - r : 8, a, a_stride, nc, block_bytes, planes, steps, unpack, 1);
    }
}

/* ---- k-quants (256-element super-blocks, against Q8_K) ---- */

/* One super-block of 8 rows. A weight is x = d * (sc[e / 16] * u[e]) + dm * (mn[e / 16]), and
 * the mn term meets the activations through the Q8_K bsums (sums of 16). */
typedef struct {
    __m256i u[8][8];   /* [group][step] */
    __m256i sc[16];    /* [sub-block of 16] lane i: (sc, sc) of row i as int16 */
    __m256i mn[8];     /* [pair p] lane i: (mn[2p], mn[2p + 1]) of row i as int16 */
    __m256 d, dm;      /* per-row factors of the two integer sums */
} ll_kquant_panel_avx2;

/* One super-block of one row: u[8] (element order, 32 per vector), its 16 sub-block scales and
 * mins as int16 (sc16, mn16: element t = sub-block t), d and dm. */
typedef void (*ll_kquant_unpack_avx2)(const void *block, __m256i u[8], __m256i *sc16, __m256i *mn16, float *d, float *dm);

static void unpack_q2_K_gemm_avx2(const void *blk, __m256i u[8], __m256i *sc16, __m256i *mn16, float *d, float *dm) {
    const block_q2_K *x = blk;
    for (int h = 0; h < 2; h++) {
        const __m256i bits = load256_avx2(x->qs + 32 * h);
        for (int j = 0; j < 4; j++) u[4 * h + j] = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * j), _mm256_set1_epi8(3));
    }
    const __m128i packed = _mm_loadu_si128((const __m128i *)x->scales), m4 = _mm_set1_epi8(0x0F);
    *sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, m4));
    *mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), m4));
    *d = fp16_to_f32_avx2(x->d);
    *dm = -fp16_to_f32_avx2(x->dmin);
}

static void unpack_q3_K_gemm_avx2(const void *blk, __m256i u[8], __m256i *sc16, __m256i *mn16, float *d, float *dm) {
    const block_q3_K *x = blk;
    __m256i hm = load256_avx2(x->hmask);
    for (int h = 0; h < 2; h++) {
        const __m256i bits = load256_avx2(x->qs + 32 * h);
        for (int j = 0; j < 4; j++) {
            u[4 * h + j] = q3_K_weights_avx2(bits, hm, j);
            hm = _mm256_srli_epi16(hm, 1);
        }
    }
    *sc16 = *mn16 = _mm256_cvtepi8_epi16(scales_q3_K_avx2(x->scales)); /* (u - 4) * sc: offset term sc * bsum */
    *d = fp16_to_f32_avx2(x->d);
    *dm = -4.0f * *d;
}

static inline void unpack_k4_gemm_avx2(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, __m256i u[8],
                                       __m256i *sc16, __m256i *mn16) { /* qh NULL for Q4_K */
    const __m128i sm = scale_min_k4_avx2(scales); /* [0..7] scales, [8..15] mins, of 32-element sub-blocks */
    *sc16 = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(sm, _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7)));
    *mn16 = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(sm, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15)));
    const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
    __m256i hb = qh ? load256_avx2(qh) : _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
        const __m256i bits = load256_avx2(qs + 32 * j);
        u[2 * j] = _mm256_or_si256(_mm256_and_si256(bits, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), bit4));
        u[2 * j + 1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
                                       _mm256_and_si256(_mm256_slli_epi16(hb, 3), bit4));
        hb = _mm256_srli_epi16(hb, 2);
    }
}

static void unpack_q4_K_gemm_avx2(const void *blk, __m256i u[8], __m256i *sc16, __m256i *mn16, float *d, float *dm) {
    const block_q4_K *x = blk;
    unpack_k4_gemm_avx2(x->scales, x->qs, NULL, u, sc16, mn16);
    *d = fp16_to_f32_avx2(x->d);
    *dm = -fp16_to_f32_avx2(x->dmin);
}

static void unpack_q5_K_gemm_avx2(const void *blk, __m256i u[8], __m256i *sc16, __m256i *mn16, float *d, float *dm) {
    const block_q5_K *x = blk;
    unpack_k4_gemm_avx2(x->scales, x->qs, x->qh, u, sc16, mn16);
    *d = fp16_to_f32_avx2(x->d);
    *dm = -fp16_to_f32_avx2(x->dmin);
}

static void unpack_q6_K_gemm_avx2(const void *blk, __m256i u[8], __m256i *sc16, __m256i *mn16, float *d, float *dm) {
    const block_q6_K *x = blk;
    q6_K_weights_avx2(x, 0, u);
    q6_K_weights_avx2(x, 1, u + 4);
    *sc16 = *mn16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales)); /* (u - 32) * sc */
    *d = fp16_to_f32_avx2(x->d);
    *dm = -32.0f * *d;
}

/* Packs super-block sb of `rows` (<= 8) weight rows; missing rows are zeros. The int16 scales of
 * the 8 rows, transposed as dwords, give lane i = (v[2q], v[2q + 1]) of row i: the mn pairs as
 * they are, and the (sc, sc) pairs by duplicating one half of each dword. */
LL_GEMM_INLINE void pack_kquant_avx2(ll_kquant_panel_avx2 *p, const uint8_t *w, int64_t w_stride, int rows, int64_t sb,
                                     size_t block_bytes, ll_kquant_unpack_avx2 unpack) {
    __m256i r[8][8], sc16[8], mn16[8], pairs[8]; /* r: [group][row]; sc16, mn16: [row] */
    float d[8] = {0}, dm[8] = {0};
    for (int i = 0; i < 8; i++) {
        __m256i u[8];
        if (i < rows) {
            unpack(w + i * w_stride + (size_t)sb * block_bytes, u, &sc16[i], &mn16[i], &d[i], &dm[i]);
        } else {
            for (int g = 0; g < 8; g++) u[g] = _mm256_setzero_si256();
            sc16[i] = mn16[i] = _mm256_setzero_si256();
        }
        for (int g = 0; g < 8; g++) r[g][i] = u[g];
    }
    for (int g = 0; g < 8; g++) transpose8x8_epi32_avx2(r[g], p->u[g]);
    transpose8x8_epi32_avx2(mn16, p->mn);
    transpose8x8_epi32_avx2(sc16, pairs);
    const __m256i even = _mm256_set_epi64x(0x0d0c0d0c09080908LL, 0x0504050401000100LL, 0x0d0c0d0c09080908LL, 0x0504050401000100LL);
    const __m256i odd = _mm256_add_epi8(even, _mm256_set1_epi8(2));
    for (int q = 0; q < 8; q++) {
        p->sc[2 * q] = _mm256_shuffle_epi8(pairs[q], even);
        p->sc[2 * q + 1] = _mm256_shuffle_epi8(pairs[q], odd);
    }
    p->d = _mm256_loadu_ps(d);
    p->dm = _mm256_loadu_ps(dm);
}

/* acc[p] += super-block part of token a's dot products with the rows of panels[p], p < P:
 * d * sum_e sc[e / 16] u[e] a[e] + dm * sum_t mn[t] bsum[t]. steps: maddubs summed in int16 before
 * widening (8: u <= 15 with one scale per 32 (Q4_K); 4: u <= 31, one madd per 16; 2: u <= 63). */
LL_GEMM_INLINE void kquant_token_avx2(const ll_kquant_panel_avx2 *panels, const block_q8_K *a, __m256 *acc, int steps,
                                      const int P) {
    __m256i isum[LL_GEMM_PANELS], msum[LL_GEMM_PANELS];
    for (int p = 0; p < P; p++) isum[p] = msum[p] = _mm256_setzero_si256();
    for (int g = 0; g < 8; g++) {
        __m256i bc[8];
        for (int k = 0; k < 8; k++) bc[k] = bcast4_avx2(a->qs + 32 * g + 4 * k);
        for (int p = 0; p < P; p++) {
            for (int k0 = 0; k0 < 8; k0 += steps) {
                __m256i s16 = _mm256_maddubs_epi16(panels[p].u[g][k0], bc[k0]);
                for (int k = k0 + 1; k < k0 + steps; k++) s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(panels[p].u[g][k], bc[k]));
                isum[p] = _mm256_add_epi32(isum[p], _mm256_madd_epi16(s16, panels[p].sc[2 * g + k0 / 4]));
            }
        }
    }
    for (int q = 0; q < 8; q++) {
        const __m256i bs = bcast4_avx2(a->bsums + 2 * q);
        for (int p = 0; p < P; p++) msum[p] = _mm256_add_epi32(msum[p], _mm256_madd_epi16(panels[p].mn[q], bs));
    }
    const __m256 da = _mm256_set1_ps(a->d);
    for (int p = 0; p < P; p++) {
        acc[p] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[p]), _mm256_mul_ps(panels[p].d, da), acc[p]);
        acc[p] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum[p]), _mm256_mul_ps(panels[p].dm, da), acc[p]);
    }
}

/* Rows [0, rows) (rows <= 8 P) of a tile against its nc tokens, P panels at a time. */
LL_GEMM_INLINE void kquant_rows_avx2(int64_t n, float *out, int64_t out_stride, const uint8_t *w, int64_t w_stride,
                                     int rows, const uint8_t *a, int64_t a_stride, int nc, size_t block_bytes,
                                     int steps, ll_kquant_unpack_avx2 unpack, const int P) {
    ll_kquant_panel_avx2 panels[LL_GEMM_PANELS];
    __m256 acc[LL_GEMM_COLS_AVX2][LL_GEMM_PANELS];
    for (int c = 0; c < nc; c++) {
        for (int p = 0; p < P; p++) acc[c][p] = _mm256_setzero_ps();
    }
    for (int64_t sb = 0; sb < n / QK_K; sb++) {
        for (int p = 0; p < P; p++) {
            const int in_panel = rows - 8 * p < 8 ? rows - 8 * p : 8;
            pack_kquant_avx2(panels + p, w + 8 * p * w_stride, w_stride, in_panel, sb, block_bytes, unpack);
        }
        for (int c = 0; c < nc; c++) kquant_token_avx2(panels, (const block_q8_K *)(a + c * a_stride) + sb, acc[c], steps, P);
    }
    store_rows_avx2(out, out_stride, rows, nc, acc);
}

LL_GEMM_INLINE void gemm_tile_kquant_avx2(int64_t n, float *out, int64_t out_stride, const void *w, int64_t w_stride,
                                          int nr, const void *a, int64_t a_stride, int nc, size_t block_bytes, int steps,
                                          ll_kquant_unpack_avx2 unpack) {
    int r = 0;
    for (; r + 8 * LL_GEMM_PANELS <= nr; r += 8 * LL_GEMM_PANELS) {
        kquant_rows_avx2(n, out + r, out_stride, (const uint8_t *)w + r * w_stride, w_stride,
                         8 * LL_GEMM_PANELS, a, a_stride, nc, block_bytes, steps, unpack, LL_GEMM_PANELS);
    }
    for (; r < nr; r += 8) {
        kquant_rows_avx2(n, out + r, out_stride, (const uint8_t *)w + r * w_stride, w_stride,
                         nr - r < 8 ? nr - r : 8, a, a_stride, nc, block_bytes, steps, unpack, 1);
    }
}
