/* AVX2 decode paths (1 or 2 tokens) of the quantized types, and their gemm_tile entry points.
 * variant.c includes this file after quant/avx2_gemm.c (the packed-panel prefill path, whose
 * helpers it uses) and quant/avx2.c / quant/avx2_kquants.c; ll_fill_gemm_avx2 at the end is called
 * from ll_fill_kernels_avx2.
 *
 * A tile of 1 or 2 tokens would not reuse a packed panel, so these paths read the weights straight
 * from memory, prefetching ahead. They must still give every (row, token) the bits the panels give
 * (the gemm_tile contract: a token decoded alone or inside a prompt has the same result), so they
 * compute the panels' exact integer sums, in any order, and then the panels' float operations in
 * the panels' order.
 */

/* ---- decode (1 or 2 tokens) of the legacy types ----
 * With so few tokens a packed panel would not be reused, so each block of 8 rows goes from memory
 * straight to the integer dot products, row by row as vec_dot does (one maddubs per row and token;
 * Q8_0 by the sign trick), and the rows' 8 partial lanes are summed exactly into one lane per row.
 * The rows' fp16 scale and min come as one dword per row. The activation side (da, da * sum(a)
 * and sum(a) per block) is computed once per tile, for all its rows. */

#define LL_GEMV_COLS 2        /* at most this many tokens take the decode path */
#define LL_GEMV_CHUNK 256     /* blocks per activation-side chunk */

/* The low (high = 0) or high (1) fp16 halves of 8 dwords -> 8 floats. */
LL_GEMM_INLINE __m256 halves_to_f32_avx2(__m256i dwords, int high) {
    const __m256i pick = high ? _mm256_setr_epi8(2, 3, 6, 7, 10, 11, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, 2, 3, 6, 7,
                                                 10, 11, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1)
                              : _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5,
                                                 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(dwords, pick), 0x08); /* qwords 0, 2 */
    return _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
}

/* The dword at w + i * s in lane i. */
LL_GEMM_INLINE __m256i gather_rows_avx2(const uint8_t *w, int64_t s) {
    int32_t v[8];
    for (int i = 0; i < 8; i++) memcpy(&v[i], w + i * s, 4);
    return _mm256_setr_epi32(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
}

/* Lane i = the sum of the 8 lanes of v[i] (exact). */
LL_GEMM_INLINE __m256i hsum8_rows_epi32_avx2(const __m256i v[8]) {
    const __m256i lo = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    const __m256i hi = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(lo, hi, 0x20), _mm256_permute2x128_si256(lo, hi, 0x31));
}

typedef struct {
    float da[LL_GEMV_COLS][LL_GEMV_CHUNK];     /* activation scale of each block */
    float dsum[LL_GEMV_COLS][LL_GEMV_CHUNK];   /* da * sum of the block's 32 activations */
    int32_t sum[LL_GEMV_COLS][LL_GEMV_CHUNK];  /* sum of the block's 32 activations */
} ll_gemv_prep_avx2;

/* How a legacy block is laid out, for the decode path. */
typedef struct {
    size_t bb;        /* bytes per block */
    int qs_off;       /* offset of the quants: 16 nibble bytes, or Q8_0's 32 signed bytes */
    int qh_off;       /* offset of the 32 high bits (Q5_*), or -1 */
    int has_min;      /* m after d (Q4_1, Q5_1) */
    int q8;           /* Q8_0: signed quants; the panels' unsigned weights are w + 128 */
    float offset;     /* the weight offset of the types without a min: -8, -16, -128 */
} ll_gemv_layout_avx2;

/* 8 int32 lanes of sum(u * a) over one row's block, u = the panels' unsigned weights. Q8_0's
 * sum(w * a) by the sign trick lacks 128 * sum(a), which the caller adds to the row sums. */
LL_GEMM_INLINE __m256i gemv_row_lanes_avx2(const uint8_t *blk, __m256i a, const ll_gemv_layout_avx2 L) {
    if (L.q8) return dot_i8_i8_avx2(load256_avx2(blk + L.qs_off), a);
    __m256i u = nibbles32_avx2(blk + L.qs_off);
    if (L.qh_off >= 0) u = _mm256_or_si256(u, _mm256_and_si256(bits32_avx2(blk + L.qh_off), _mm256_set1_epi8(0x10)));
    return dot_u8_i8_avx2(u, a);
}

/* r[c] += the dot products of one block of 8 rows (row i at blk + i * s) with the NC tokens'
 * block b (prep slot j). The integer sums equal the panels' and the two FMAs are theirs, in the
 * same order, so a token gets the same bits whether it is decoded or part of a batch. */
LL_GEMM_INLINE void gemv_block_avx2(const uint8_t *blk, int64_t s, const block_q8_0 *const a[], int64_t b, int64_t j,
                                    const ll_gemv_prep_avx2 *prep, __m256 r[], const ll_gemv_layout_avx2 L, const int NC) {
    const __m256 d = halves_to_f32_avx2(gather_rows_avx2(blk, s), 0);
    const __m256 o = L.has_min ? halves_to_f32_avx2(gather_rows_avx2(blk, s), 1) : _mm256_mul_ps(d, _mm256_set1_ps(L.offset));
    for (int c = 0; c < NC; c++) {
        const __m256i ac = load256_avx2(a[c][b].qs);
        __m256i lanes[8];
        for (int i = 0; i < 8; i++) lanes[i] = gemv_row_lanes_avx2(blk + i * s, ac, L);
        __m256i isum = hsum8_rows_epi32_avx2(lanes);
        if (L.q8) isum = _mm256_add_epi32(isum, _mm256_set1_epi32(128 * prep->sum[c][j]));
        r[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(d, _mm256_set1_ps(prep->da[c][j])), r[c]);
        r[c] = _mm256_fmadd_ps(o, _mm256_set1_ps(prep->dsum[c][j]), r[c]);
    }
}

/* Decode reads 8 rows at once, 8 slow streams the hardware prefetcher keeps too short: every line
 * of each row is asked for LL_PREFETCH_AHEAD_AVX2 bytes before it is read, into L2 (prefetches
 * never fault). Past a row's end that is the start of a later row, which is read soon after when
 * the rows are short. */

#define LL_GEMV_PREFETCH_EVERY 4 /* blocks between prefetch rounds */

/* Prefetches row i's lines (row i at w + i * s, pf[i] its next line to ask for) up to `upto`
 * bytes from the row's start. */
LL_GEMM_INLINE void gemv_prefetch_rows_avx2(const uint8_t *w, int64_t s, const char *pf[8], size_t upto) {
    for (int i = 0; i < 8; i++) {
        const char *end = (const char *)(w + i * s) + upto;
        for (; pf[i] < end; pf[i] += 64) _mm_prefetch(pf[i], _MM_HINT_T1);
    }
}

/* acc[c] += 8 rows (`rows` of them real, row i at w + i * s) against NC tokens over blocks [b0, b1).
 * A partial panel goes block by block through a copy padded with its last row. */
LL_GEMM_INLINE void gemv_panel_avx2(const uint8_t *w, int64_t s, int rows, int64_t b0, int64_t b1,
                                    const block_q8_0 *const a[], const ll_gemv_prep_avx2 *prep, __m256 acc[],
                                    const ll_gemv_layout_avx2 L, const int NC) {
    __m256 r[LL_GEMV_COLS];
    for (int c = 0; c < NC; c++) r[c] = acc[c];
    const char *pf[8];
    for (int i = 0; i < 8; i++) pf[i] = (const char *)(w + i * s + (size_t)b0 * L.bb + LL_PREFETCH_AHEAD_AVX2);
    for (int64_t b = b0; b < b1; b++) {
        if (rows == 8) {
            if ((b - b0) % LL_GEMV_PREFETCH_EVERY == 0)
                gemv_prefetch_rows_avx2(w, s, pf, (size_t)(b + LL_GEMV_PREFETCH_EVERY) * L.bb + LL_PREFETCH_AHEAD_AVX2);
            gemv_block_avx2(w + (size_t)b * L.bb, s, a, b, b - b0, prep, r, L, NC);
        } else {
            uint8_t padded[8][64]; /* [row][block bytes] */
            for (int i = 0; i < 8; i++) memcpy(padded[i], w + (i < rows ? i : rows - 1) * s + (size_t)b * L.bb, L.bb);
            gemv_block_avx2(padded[0], 64, a, b, b - b0, prep, r, L, NC);
        }
    }
    for (int c = 0; c < NC; c++) acc[c] = r[c];
}

/* The tile for NC <= LL_GEMV_COLS tokens, 8 rows at a time. */
LL_GEMM_INLINE void gemv_legacy_avx2(int64_t n, float *out, int64_t out_stride, const uint8_t *w, int64_t w_stride,
                                     int nr, const uint8_t *a, int64_t a_stride, const ll_gemv_layout_avx2 L, const int NC) {
    ll_gemv_prep_avx2 prep;
    __m256 acc[LL_GEMM_ROWS_AVX2 / 8][LL_GEMV_COLS];
    const block_q8_0 *ac[LL_GEMV_COLS];
    for (int c = 0; c < NC; c++) ac[c] = (const block_q8_0 *)(a + c * a_stride);
    const int panels = (nr + 7) / 8;
    for (int p = 0; p < panels; p++) {
        for (int c = 0; c < NC; c++) acc[p][c] = _mm256_setzero_ps();
    }
    const int64_t nb = n / QK8_0;
    for (int64_t b0 = 0; b0 < nb; b0 += LL_GEMV_CHUNK) {
        const int64_t b1 = nb - b0 < LL_GEMV_CHUNK ? nb : b0 + LL_GEMV_CHUNK;
        for (int c = 0; c < NC; c++) {
            for (int64_t b = b0; b < b1; b++) {
                prep.da[c][b - b0] = fp16_to_f32_avx2(ac[c][b].d);
                prep.sum[c][b - b0] = sum_q8_0_avx2(ac[c] + b);
                prep.dsum[c][b - b0] = prep.da[c][b - b0] * (float)prep.sum[c][b - b0];
            }
        }
        for (int p = 0; p < panels; p++) {
            const int rows = nr - 8 * p < 8 ? nr - 8 * p : 8;
            gemv_panel_avx2(w + 8 * p * w_stride, w_stride, rows, b0, b1, ac, &prep, acc[p], L, NC);
        }
    }
    for (int r = 0; r < nr; r++) {
        float v[8];
        for (int c = 0; c < NC; c++) {
            _mm256_storeu_ps(v, acc[r / 8][c]);
            out[c * out_stride + r] = v[r % 8];
        }
    }
}

/* TYPE's tile: the decode path for nc <= LL_GEMV_COLS tokens, packed panels otherwise; both give
 * every (row, token) the same bits. QS_OFF, QH_OFF, HAS_MIN, Q8, OFFSET: ll_gemv_layout_avx2. */
#define LL_GEMM_LEGACY_AVX2(TYPE, BLOCK_T, PLANES, STEPS, QS_OFF, QH_OFF, HAS_MIN, Q8, OFFSET)                      \
    static void gemm_tile_##TYPE##_q8_0_avx2(int64_t n, float *out, int64_t out_stride, const void *w,              \
                                             int64_t w_stride, int nr, const void *a, int64_t a_stride, int nc) {   \
        const ll_gemv_layout_avx2 layout = {sizeof(BLOCK_T), QS_OFF, QH_OFF, HAS_MIN, Q8, OFFSET};                   \
        if (nc == 1) {                                                                                              \
            gemv_legacy_avx2(n, out, out_stride, w, w_stride, nr, a, a_stride, layout, 1);                          \
        } else if (nc == 2) {                                                                                       \
            gemv_legacy_avx2(n, out, out_stride, w, w_stride, nr, a, a_stride, layout, 2);                          \
        } else {                                                                                                    \
            gemm_tile_legacy_avx2(n, out, out_stride, w, w_stride, nr, a, a_stride, nc, sizeof(BLOCK_T), PLANES,     \
                                  STEPS, unpack_##TYPE##_gemm_avx2);                                                \
        }                                                                                                           \
    }

LL_GEMM_LEGACY_AVX2(q4_0, block_q4_0, 1, 8, 2, -1, 0, 0, -8.0f)
LL_GEMM_LEGACY_AVX2(q4_1, block_q4_1, 1, 8, 4, -1, 1, 0, 0.0f)
LL_GEMM_LEGACY_AVX2(q5_0, block_q5_0, 1, 4, 6, 2, 0, 0, -16.0f)
LL_GEMM_LEGACY_AVX2(q5_1, block_q5_1, 1, 4, 8, 4, 1, 0, 0.0f)
LL_GEMM_LEGACY_AVX2(q8_0, block_q8_0, 2, 8, 2, -1, 0, 1, -128.0f)

/* ---- decode (1 or 2 tokens) of the k-quants ----
 * A panel would be packed for one token only, so decode goes the vec_dot way, 4 rows at a time
 * (4 sequential streams, prefetched ahead): per super-block the avx2_kquants.c helpers give 8
 * partial int32 lanes of the panels' two integer sums (sum sc u a, sum mn bsum) per row, the 4
 * rows' lanes are summed exactly into one vector and scaled with the panels' two FMAs: the same
 * integers and the same float operations, so the same bits as in a batch. */

/* One super-block of one row against one token: the partial lanes of the two integer sums of
 * ll_kquant_panel_avx2 (isum: sum sc u a; msum: sum mn bsum) and the factors d, dm. */
typedef void (*ll_kquant_rowsum_avx2)(const void *blk, const block_q8_K *a, __m256i *isum, __m256i *msum, float *d,
                                      float *dm);

LL_GEMM_INLINE void rowsum_q2_K_avx2(const void *blk, const block_q8_K *a, __m256i *isum, __m256i *msum, float *d, float *dm) {
    const block_q2_K *x = blk;
    const __m128i packed = _mm_loadu_si128((const __m128i *)x->scales), m4 = _mm_set1_epi8(0x0F);
    const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), m4));
    *isum = q2_K_isum_avx2(x, a->qs, _mm256_cvtepu8_epi16(_mm_and_si128(packed, m4)));
    *msum = _mm256_madd_epi16(mins16, load256_avx2(a->bsums));
    *d = fp16_to_f32_avx2(x->d);
    *dm = -fp16_to_f32_avx2(x->dmin);
}

LL_GEMM_INLINE void rowsum_q3_K_avx2(const void *blk, const block_q8_K *a, __m256i *isum, __m256i *msum, float *d, float *dm) {
    const block_q3_K *x = blk;
    const __m256i scales16 = _mm256_cvtepi8_epi16(scales_q3_K_avx2(x->scales));
    *isum = q3_K_isum_avx2(x, a->qs, scales16);
    *msum = _mm256_madd_epi16(scales16, load256_avx2(a->bsums));
    *d = fp16_to_f32_avx2(x->d);
    *dm = -4.0f * *d;
}

/* Q4_K (qh NULL) and Q5_K. */
LL_GEMM_INLINE void rowsum_k4_avx2(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, const block_q8_K *a,
                                  __m256i *isum, __m256i *msum) {
    const __m128i scale_min = scale_min_k4_avx2(scales);
    const __m256i scales16 = k4_scales16_avx2(scale_min), m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
    __m256i hb = qh ? load256_avx2(qh) : _mm256_setzero_si256(), sum = _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
        const __m256i bits = load256_avx2(qs + 32 * j);
        const __m256i lo = _mm256_or_si256(_mm256_and_si256(bits, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), bit4));
        const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
                                           _mm256_and_si256(_mm256_slli_epi16(hb, 3), bit4));
        hb = _mm256_srli_epi16(hb, 2);
        sum = _mm256_add_epi32(sum, k4_chunk_avx2(lo, hi, a->qs + 64 * j, scales16, j));
    }
    *isum = sum;
    *msum = k4_min_sum_avx2(scale_min, a->bsums);
}

LL_GEMM_INLINE void rowsum_q4_K_avx2(const void *blk, const block_q8_K *a, __m256i *isum, __m256i *msum, float *d, float *dm) {
    const block_q4_K *x = blk;
    rowsum_k4_avx2(x->scales, x->qs, NULL, a, isum, msum);
    *d = fp16_to_f32_avx2(x->d);
    *dm = -fp16_to_f32_avx2(x->dmin);
}

LL_GEMM_INLINE void rowsum_q5_K_avx2(const void *blk, const block_q8_K *a, __m256i *isum, __m256i *msum, float *d, float *dm) {
    const block_q5_K *x = blk;
    rowsum_k4_avx2(x->scales, x->qs, x->qh, a, isum, msum);
    *d = fp16_to_f32_avx2(x->d);
    *dm = -fp16_to_f32_avx2(x->dmin);
}

LL_GEMM_INLINE void rowsum_q6_K_avx2(const void *blk, const block_q8_K *a, __m256i *isum, __m256i *msum, float *d, float *dm) {
    const block_q6_K *x = blk;
    const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
    __m256i sum = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        __m256i q[4];
        q6_K_weights_avx2(x, h, q);
        const __m256i sc = _mm256_permute2x128_si256(scales16, scales16, h ? 0x11 : 0x00);
        for (int k = 0; k < 4; k++) {
            const __m256i p = _mm256_maddubs_epi16(q[k], load256_avx2(a->qs + 128 * h + 32 * k));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, pick_pair_avx2(sc, k)));
        }
    }
    *isum = sum;
    *msum = _mm256_madd_epi16(scales16, load256_avx2(a->bsums));
    *d = fp16_to_f32_avx2(x->d);
    *dm = -32.0f * *d;
}

/* Lanes [sum of v0's 8 lanes, sum of v1's, sum of v2's, sum of v3's] (exact) from h01 = hadd(v0, v1)
 * and h23 = hadd(v2, v3). */
static inline __m128i hsum4_epi32_avx2(__m256i h01, __m256i h23) {
    const __m256i c = _mm256_hadd_epi32(h01, h23);
    return _mm_add_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
}

#define LL_GEMV_KROWS 4 /* rows decoded together: 4 streams, one reduction for all */

/* acc += one super-block of the 4 rows (row j at row[j] + at) against one token's super-block ac;
 * lane j = row j. Straight-line code: the rows' partial lanes stay in registers. */
LL_GEMM_INLINE __m128 gemv_kquant_superblock_avx2(const uint8_t *const row[LL_GEMV_KROWS], size_t at,
                                                  const block_q8_K *ac, __m128 acc, ll_kquant_rowsum_avx2 rowsum) {
    __m256i i0, m0, i1, m1, i2, m2, i3, m3;
    float d0, dm0, d1, dm1, d2, dm2, d3, dm3;
    rowsum(row[0] + at, ac, &i0, &m0, &d0, &dm0);
    rowsum(row[1] + at, ac, &i1, &m1, &d1, &dm1);
    const __m256i hi01 = _mm256_hadd_epi32(i0, i1), hm01 = _mm256_hadd_epi32(m0, m1);
    rowsum(row[2] + at, ac, &i2, &m2, &d2, &dm2);
    rowsum(row[3] + at, ac, &i3, &m3, &d3, &dm3);
    const __m128i isum = hsum4_epi32_avx2(hi01, _mm256_hadd_epi32(i2, i3));
    const __m128i msum = hsum4_epi32_avx2(hm01, _mm256_hadd_epi32(m2, m3));
    const __m128 da = _mm_set1_ps(ac->d);
    const __m128 dv = _mm_setr_ps(d0, d1, d2, d3), dmv = _mm_setr_ps(dm0, dm1, dm2, dm3);
    acc = _mm_fmadd_ps(_mm_cvtepi32_ps(isum), _mm_mul_ps(dv, da), acc);
    return _mm_fmadd_ps(_mm_cvtepi32_ps(msum), _mm_mul_ps(dmv, da), acc);
}

/* Asks for each row's lines (row j at row[j], pf[j] its next line to ask for) up to `upto` bytes
 * from the row's start, into L2 (prefetches never fault). */
LL_GEMM_INLINE void gemv_kquant_prefetch_avx2(const uint8_t *const row[LL_GEMV_KROWS], const char *pf[LL_GEMV_KROWS],
                                              size_t upto) {
    for (int j = 0; j < LL_GEMV_KROWS; j++) {
        for (; pf[j] < (const char *)row[j] + upto; pf[j] += 64) _mm_prefetch(pf[j], _MM_HINT_T1);
    }
}

/* The tile for NC <= LL_GEMV_COLS tokens, LL_GEMV_KROWS rows at a time (the last group padded with
 * its last row); every token reads the rows from L1. Lane j of acc = row r + j. */
LL_GEMM_INLINE void gemv_kquant_avx2(int64_t n, float *out, int64_t out_stride, const uint8_t *w, int64_t w_stride,
                                     int nr, const uint8_t *a, int64_t a_stride, const int NC, size_t block_bytes,
                                     ll_kquant_rowsum_avx2 rowsum) {
    const block_q8_K *ac[LL_GEMV_COLS];
    for (int c = 0; c < NC; c++) ac[c] = (const block_q8_K *)(a + c * a_stride);
    for (int r = 0; r < nr; r += LL_GEMV_KROWS) {
        const uint8_t *row[LL_GEMV_KROWS];
        const char *pf[LL_GEMV_KROWS];
        for (int j = 0; j < LL_GEMV_KROWS; j++) {
            row[j] = w + (r + j < nr ? r + j : nr - 1) * w_stride;
            pf[j] = (const char *)row[j] + LL_PREFETCH_AHEAD_AVX2;
        }
        __m128 acc[LL_GEMV_COLS] = {_mm_setzero_ps(), _mm_setzero_ps()};
        for (int64_t sb = 0; sb < n / QK_K; sb++) {
            const size_t at = (size_t)sb * block_bytes;
            gemv_kquant_prefetch_avx2(row, pf, at + block_bytes + LL_PREFETCH_AHEAD_AVX2);
            for (int c = 0; c < NC; c++) acc[c] = gemv_kquant_superblock_avx2(row, at, ac[c] + sb, acc[c], rowsum);
        }
        for (int c = 0; c < NC; c++) {
            float v[4];
            _mm_storeu_ps(v, acc[c]);
            for (int j = 0; j < LL_GEMV_KROWS && r + j < nr; j++) out[c * out_stride + r + j] = v[j];
        }
    }
}

/* TYPE's tile: the decode path for nc <= LL_GEMV_COLS tokens, packed panels otherwise; both give
 * every (row, token) the same bits. */
#define LL_GEMM_KQUANT_AVX2(TYPE, BLOCK_T, STEPS)                                                                   \
    static void gemm_tile_##TYPE##_q8_K_avx2(int64_t n, float *out, int64_t out_stride, const void *w,             \
                                             int64_t w_stride, int nr, const void *a, int64_t a_stride, int nc) {  \
        if (nc == 1) {                                                                                             \
            gemv_kquant_avx2(n, out, out_stride, w, w_stride, nr, a, a_stride, 1, sizeof(BLOCK_T),                  \
                             rowsum_##TYPE##_avx2);                                                                 \
        } else if (nc == 2) {                                                                                      \
            gemv_kquant_avx2(n, out, out_stride, w, w_stride, nr, a, a_stride, 2, sizeof(BLOCK_T),                  \
                             rowsum_##TYPE##_avx2);                                                                 \
        } else {                                                                                                   \
            gemm_tile_kquant_avx2(n, out, out_stride, w, w_stride, nr, a, a_stride, nc, sizeof(BLOCK_T), STEPS,     \
                                  unpack_##TYPE##_gemm_avx2);                                                       \
        }                                                                                                          \
    }

LL_GEMM_KQUANT_AVX2(q2_K, block_q2_K, 4)
LL_GEMM_KQUANT_AVX2(q3_K, block_q3_K, 4)
LL_GEMM_KQUANT_AVX2(q4_K, block_q4_K, 8)
LL_GEMM_KQUANT_AVX2(q5_K, block_q5_K, 4)
LL_GEMM_KQUANT_AVX2(q6_K, block_q6_K, 2)

static void ll_set_gemm_avx2(ll_type_kernels *t, int type, ll_gemm_tile_fn fn) {
    t[type].gemm_tile = fn;
    t[type].gemm_tile_rows = LL_GEMM_ROWS_AVX2;
    t[type].gemm_tile_cols = LL_GEMM_COLS_AVX2;
}

static void ll_fill_gemm_avx2(ll_type_kernels *t) {
    ll_set_gemm_avx2(t, LL_TYPE_Q4_0, gemm_tile_q4_0_q8_0_avx2);
    ll_set_gemm_avx2(t, LL_TYPE_Q4_1, gemm_tile_q4_1_q8_0_avx2);
    ll_set_gemm_avx2(t, LL_TYPE_Q5_0, gemm_tile_q5_0_q8_0_avx2);
    ll_set_gemm_avx2(t, LL_TYPE_Q5_1, gemm_tile_q5_1_q8_0_avx2);
    ll_set_gemm_avx2(t, LL_TYPE_Q8_0, gemm_tile_q8_0_q8_0_avx2);
    ll_set_gemm_avx2(t, LL_TYPE_Q2_K, gemm_tile_q2_K_q8_K_avx2);
    ll_set_gemm_avx2(t, LL_TYPE_Q3_K, gemm_tile_q3_K_q8_K_avx2);
    ll_set_gemm_avx2(t, LL_TYPE_Q4_K, gemm_tile_q4_K_q8_K_avx2);
    ll_set_gemm_avx2(t, LL_TYPE_Q5_K, gemm_tile_q5_K_q8_K_avx2);
    ll_set_gemm_avx2(t, LL_TYPE_Q6_K, gemm_tile_q6_K_q8_K_avx2);
}
