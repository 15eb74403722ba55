/* AVX-512 VNNI decode paths (1 or 2 tokens: the gemm_tile slot's nc <= LL_GEMV_COLS case) of the
 * quantized types. variant.c includes this file after quant/avx512.c and the AVX2 tile files.
 *
 * Contract: every (row, token) gets the bits the AVX2 tiles give (quant/avx2_gemm.c,
 * quant/avx2_gemv.c): the same exact integer sums per block / super-block, and the same float
 * operations in the same order, so that a token decoded alone, inside a prompt, or on the avx2
 * level has the same result.
 *
 * gemv_<type>_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc): nc <= LL_GEMV_COLS,
 * any nr.
 *
 * Layout. Rows go in groups of 16, and a group's float sums are one vector: lane = row (a tile's
 * last group ends at its last row, so it may recompute rows of the group before it, with the same
 * bits; tiles of fewer than 16 rows, or rows too far apart for 32-bit gather offsets, take the
 * AVX2 tile). The integer sums come from vpdpbusd (unsigned weight bytes x signed activation
 * bytes, 4 products per int32 lane), then are added across lanes exactly into one lane per row;
 * after that, per block (super-block) in order, the AVX2 tiles' two FMAs with the rows' fp16
 * factors, which one vpgatherdd per block fetches for the 16 rows. Widths (|a| <= 128):
 * - Legacy types, one 32-element block at a time. A "quad" vector holds 4 rows, row j in 128-bit
 *   lane j: the weights u of elements 0..15 in one vector, 16..31 in another, against the token's
 *   16 + 16 activation bytes broadcast to the 4 lanes. u is the panels' unsigned weight (nibble,
 *   | fifth bit << 4; Q8_0: w + 128 <= 255), so a row's block sum is at most 32 * 255 * 128 < 2^21
 *   in magnitude. The 4 quads' 4 lanes per row are added in 2 unpack levels (sum_quads_avx512),
 *   which leave row 4 q + j in lane 4 j + q: the scales are gathered, and the output written, in
 *   that order.
 * - K-quants, one 256-element super-block at a time, one row at a time: 4 vectors of 64 unsigned
 *   weights against the token's activations put in the same element order (once per tile). A
 *   vpdpbusd lane holds 4 products of one sub-block, |p| <= 4 * 63 * 128 < 2^15, so two such
 *   vectors pack to int16 (vpackssdw, exact) and vpmaddwd / vpdpwssd multiply them by the
 *   sub-block scales (|scale| <= 128): 16 lanes per row summing to isum (|isum| <= 256 * 63 *
 *   128 * 128 < 2^29), added across lanes by sum_quads_avx512 and 128-bit lane shuffles.
 *   msum = sum of mn * bsum, for 16 rows at once with lane = row: for Q4_K / Q5_K from the 6-bit
 *   mins (decoded from the gathered scale bytes, 16 rows at once) by vpdpbusd against the bsum
 *   pair sums split into bytes as B = 128 Bh + Bl (|B| <= 32 * 128); for the others from the
 *   rows' 16 min bytes (their scales), stored per row and multiplied by vpmaddwd with the bsums.
 *
 * Memory: a group reads its 16 rows side by side; each row's lines are asked for into L2
 * LL_GEMV_AHEAD_AVX512 bytes ahead of the block being computed, and past the rows' end the same
 * offsets of the next 16 rows (rows lie back to back: the next group or tile), so that short rows
 * keep the stream going too. Prefetches never fault. Measured here: with 16 streams a short
 * distance (320-768 bytes a row) keeps DRAM busiest; 1 KB or more ahead was 5-15 % slower. */

#define LL_GEMV_GROUP_AVX512 16    /* rows decoded together: one per lane of the float sums */
#define LL_GEMV_AHEAD_AVX512 512   /* bytes of each row asked for ahead of the block computed */
#define LL_GEMV_BLOCKS_AVX512 512  /* legacy blocks per activation-side chunk */
#define LL_GEMV_STEP_AVX512 4      /* the most legacy blocks per step (quads, then blocks) */
#define LL_GEMV_SUPER_AVX512 64    /* k-quant super-blocks per activation-side chunk */

/* The first row of group g of a tile of nr >= 16 rows: the last group ends at row nr. */
static inline int group_row_avx512(int g, int groups, int nr) {
    return g + 1 < groups ? g * LL_GEMV_GROUP_AVX512 : nr - LL_GEMV_GROUP_AVX512;
}

/* Asks for the lines at offsets [*pf, upto) of the 16 rows at w + i * s, one prefetch per line
 * and row; offsets past the rows' length s go to the next 16 rows. */
LL_GEMM_INLINE void prefetch_group_avx512(const uint8_t *w, int64_t s, size_t *pf, size_t upto) {
    for (; *pf < upto; *pf += 64) {
        const uint8_t *p = w + (*pf < (size_t)s ? *pf : *pf + (LL_GEMV_GROUP_AVX512 - 1) * s);
        for (int i = 0; i < LL_GEMV_GROUP_AVX512; i++) _mm_prefetch((const char *)(p + i * s), _MM_HINT_T1);
    }
}

/* x[q]: 128-bit lane j = 4 int32 partial sums of row 4 q + j -> lane 4 j + q: their sum. */
LL_GEMM_INLINE __m512i sum_quads_avx512(const __m512i x[4]) {
    const __m512i t0 = _mm512_add_epi32(_mm512_unpacklo_epi32(x[0], x[1]), _mm512_unpackhi_epi32(x[0], x[1]));
    const __m512i t1 = _mm512_add_epi32(_mm512_unpacklo_epi32(x[2], x[3]), _mm512_unpackhi_epi32(x[2], x[3]));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
}

/* The fp16 in the low (high = 0) or high 16 bits of each dword -> 16 floats (exact). */
LL_GEMM_INLINE __m512 halves_to_f32_avx512(__m512i dwords, int high) {
    if (high) dwords = _mm512_srli_epi32(dwords, 16);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dwords));
}

/* The gather offsets of rows row[k] * s (k < 16). */
static inline __m512i row_offsets_avx512(__m512i row, int64_t s) {
    return _mm512_mullo_epi32(row, _mm512_set1_epi32((int)s));
}

/* ---- legacy types ---- */

/* The 16-bit words at h + j * s (j < 4) side by side: bits 16 j .. 16 j + 15. */
static inline uint64_t quad_bits_avx512(const uint8_t *h, int64_t s) {
    uint16_t v[4];
    for (int j = 0; j < 4; j++) memcpy(&v[j], h + j * s, 2);
    return (uint64_t)(v[0] | (uint32_t)v[1] << 16) | (uint64_t)(v[2] | (uint32_t)v[3] << 16) << 32;
}

/* 16 bytes at q + j * s in 128-bit lane j (j < 4). */
static inline __m512i quad_load_avx512(const uint8_t *q, int64_t s) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)q));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(q + s)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(q + 2 * s)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(q + 3 * s)), 3);
}

/* The unsigned weights of 4 rows (row j's block at p + j * s) in 128-bit lane j: lo = elements
 * 0..15, hi = 16..31 (nibble | fifth bit << 4; Q8_0: w + 128). */
LL_GEMM_INLINE void quad_weights_avx512(const uint8_t *p, int64_t s, const ll_gemv_layout_avx2 L, __m512i *lo,
                                        __m512i *hi) {
    const __m512i v = quad_load_avx512(p + L.qs_off, s);
    if (L.q8) {
        *lo = _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
        *hi = _mm512_xor_si512(quad_load_avx512(p + L.qs_off + 16, s), _mm512_set1_epi8((char)0x80));
        return;
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    *lo = _mm512_and_si512(v, m4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    if (L.qh_off >= 0) { /* bit i of qh: the fifth bit of element i; bits 0..15 -> lo, 16..31 -> hi */
        const __m512i bit4 = _mm512_set1_epi8(0x10);
        *lo = _mm512_mask_add_epi8(*lo, _cvtu64_mask64(quad_bits_avx512(p + L.qh_off, s)), *lo, bit4);
        *hi = _mm512_mask_add_epi8(*hi, _cvtu64_mask64(quad_bits_avx512(p + L.qh_off + 2, s)), *hi, bit4);
    }
}

/* The token side of blocks [b0, b1) (b1 - b0 <= LL_GEMV_BLOCKS_AVX512), as the AVX2 tile makes
 * it: da and da * sum(a) per block. */
typedef struct {
    float da[LL_GEMV_COLS][LL_GEMV_BLOCKS_AVX512];   /* [token][block] */
    float dsum[LL_GEMV_COLS][LL_GEMV_BLOCKS_AVX512]; /* [token][block] */
} ll_lprep_avx512;

LL_GEMM_INLINE void legacy_prep_avx512(const block_q8_0 *const a[], int64_t b0, int64_t b1, ll_lprep_avx512 *prep,
                                       const int NC) {
    for (int c = 0; c < NC; c++) {
        for (int64_t b = b0; b < b1; b++) {
            prep->da[c][b - b0] = fp16_to_f32_avx2(a[c][b].d);
            prep->dsum[c][b - b0] = prep->da[c][b - b0] * (float)sum_q8_0_avx2(a[c] + b);
        }
    }
}

/* r[c] += blocks [b, b + nbk) (nbk <= LL_GEMV_STEP_AVX512; j: b's index in prep) of the 16 rows
 * at w + i * s against token c, lane 4 (i % 4) + i / 4 = row i. First the integer sums, one quad
 * of rows at a time; then per block the rows' factors (one gather of the dword at each row's
 * block: d, then m for Q4_1 / Q5_1) and the AVX2 tile's two FMAs. */
LL_GEMM_INLINE void legacy_step_avx512(const uint8_t *w, int64_t s, __m512i offsets, const block_q8_0 *const a[],
                                       int64_t b, int nbk, const ll_lprep_avx512 *prep, int64_t j, __m512 r[],
                                       const ll_gemv_layout_avx2 L, const int NC) {
    __m512i x[LL_GEMV_COLS][LL_GEMV_STEP_AVX512][4]; /* [token][block][quad] */
    for (int q = 0; q < 4; q++) {
        const uint8_t *p = w + 4 * q * s + (size_t)b * L.bb;
        for (int k = 0; k < nbk; k++) {
            __m512i lo, hi;
            quad_weights_avx512(p + (size_t)k * L.bb, s, L, &lo, &hi);
            for (int c = 0; c < NC; c++) {
                const int8_t *qa = a[c][b + k].qs;
                const __m512i alo = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qa));
                const __m512i ahi = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(qa + 16)));
                x[c][k][q] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, alo), hi, ahi);
            }
        }
    }
    for (int k = 0; k < nbk; k++) {
        const __m512i dm = _mm512_i32gather_epi32(offsets, w + (size_t)(b + k) * L.bb, 1);
        const __m512 d = halves_to_f32_avx512(dm, 0);
        const __m512 o = L.has_min ? halves_to_f32_avx512(dm, 1) : _mm512_mul_ps(d, _mm512_set1_ps(L.offset));
        for (int c = 0; c < NC; c++) {
            const __m512 isum = _mm512_cvtepi32_ps(sum_quads_avx512(x[c][k]));
            r[c] = _mm512_fmadd_ps(isum, _mm512_mul_ps(d, _mm512_set1_ps(prep->da[c][j + k])), r[c]);
            r[c] = _mm512_fmadd_ps(o, _mm512_set1_ps(prep->dsum[c][j + k]), r[c]);
        }
    }
}

/* The tile for NC <= LL_GEMV_COLS tokens and nr >= 16 rows at w + i * s (15 s < 2^31), STEP blocks
 * at a time. */
LL_GEMM_INLINE void gemv_legacy_avx512(int64_t n, float *out, int64_t out_stride, const uint8_t *w, int64_t s, int nr,
                                       const uint8_t *a, int64_t a_stride, const ll_gemv_layout_avx2 L, const int STEP,
                                       const int NC) {
    ll_lprep_avx512 prep;
    const block_q8_0 *ac[LL_GEMV_COLS];
    for (int c = 0; c < NC; c++) ac[c] = (const block_q8_0 *)(a + c * a_stride);
    const __m512i quad_order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i offsets = row_offsets_avx512(quad_order, s); /* lane 4 j + q: row 4 q + j */
    const int groups = (nr + LL_GEMV_GROUP_AVX512 - 1) / LL_GEMV_GROUP_AVX512;
    const int64_t nb = n / QK8_0;
    for (int g = 0; g < groups; g++) {
        const int r0 = group_row_avx512(g, groups, nr);
        const uint8_t *wg = w + r0 * s;
        __m512 acc[LL_GEMV_COLS] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
        size_t pf = LL_GEMV_AHEAD_AVX512;
        for (int64_t b0 = 0; b0 < nb; b0 += LL_GEMV_BLOCKS_AVX512) {
            const int64_t b1 = nb - b0 < LL_GEMV_BLOCKS_AVX512 ? nb : b0 + LL_GEMV_BLOCKS_AVX512;
            if (g == 0 || nb > LL_GEMV_BLOCKS_AVX512) legacy_prep_avx512(ac, b0, b1, &prep, NC);
            for (int64_t b = b0; b < b1; b += STEP) {
                const int nbk = b1 - b < STEP ? (int)(b1 - b) : STEP;
                prefetch_group_avx512(wg, s, &pf, (size_t)(b + nbk) * L.bb + LL_GEMV_AHEAD_AVX512);
                legacy_step_avx512(wg, s, offsets, ac, b, nbk, &prep, b - b0, acc, L, NC);
            }
        }
        for (int c = 0; c < NC; c++) {
            float v[16]; /* [lane] */
            _mm512_storeu_ps(v, acc[c]);
            for (int i = 0; i < 16; i++) out[c * out_stride + r0 + i] = v[4 * (i % 4) + i / 4];
        }
    }
}

/* The AVX2 decode tile (at most LL_GEMM_ROWS_AVX2 rows a call) on the rows, a piece at a time: for
 * fewer rows than a group, and rows too far apart for the gathers' int32 offsets. */
static void gemv_via_avx2_avx512(int64_t n, float *out, int64_t out_stride, const void *w, int64_t w_stride, int nr,
                                 const void *a, int64_t a_stride, int nc, ll_gemm_tile_fn avx2_tile) {
    for (int r = 0; r < nr; r += LL_GEMM_ROWS_AVX2) {
        const int rows = nr - r < LL_GEMM_ROWS_AVX2 ? nr - r : LL_GEMM_ROWS_AVX2;
        avx2_tile(n, out + r, out_stride, (const uint8_t *)w + r * w_stride, w_stride, rows, a, a_stride, nc);
    }
}

/* TYPE's decode path; QS_OFF, QH_OFF, HAS_MIN, Q8, OFFSET: ll_gemv_layout_avx2; STEP: blocks per
 * step, about a cache line of each row (measured: 2 lines were 5-10 % slower on short rows). */
#define LL_GEMV_LEGACY_AVX512(TYPE, BLOCK_T, QS_OFF, QH_OFF, HAS_MIN, Q8, OFFSET, STEP)                            \
    static void gemv_##TYPE##_avx512(int64_t n, float *out, int64_t out_stride, const void *w, int64_t w_stride,  \
                                     int nr, const void *a, int64_t a_stride, int nc) {                           \
        const ll_gemv_layout_avx2 layout = {sizeof(BLOCK_T), QS_OFF, QH_OFF, HAS_MIN, Q8, OFFSET};                 \
        if (nr < LL_GEMV_GROUP_AVX512 || w_stride > INT32_MAX / LL_GEMV_GROUP_AVX512) {                           \
            gemv_via_avx2_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc, gemm_tile_##TYPE##_q8_0_avx2);   \
        } else if (nc == 1) {                                                                                     \
            gemv_legacy_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, layout, STEP, 1);                   \
        } else {                                                                                                  \
            gemv_legacy_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, layout, STEP, 2);                   \
        }                                                                                                         \
    }

LL_GEMV_LEGACY_AVX512(q4_0, block_q4_0, 2, -1, 0, 0, -8.0f, 4)
LL_GEMV_LEGACY_AVX512(q4_1, block_q4_1, 4, -1, 1, 0, 0.0f, 4)
LL_GEMV_LEGACY_AVX512(q5_0, block_q5_0, 6, 2, 0, 0, -16.0f, 4)
LL_GEMV_LEGACY_AVX512(q5_1, block_q5_1, 8, 4, 1, 0, 0.0f, 4)
LL_GEMV_LEGACY_AVX512(q8_0, block_q8_0, 2, -1, 0, 1, -128.0f, 2)

/* ---- k-quants ---- */

/* One super-block of one row: u[k] = 64 unsigned weights, in the order of the token's prepared
 * part k; s[h] = the int16 sub-block scales for vpackssdw(p[2 h], p[2 h + 1]), p[k] =
 * vpdpbusd(u[k], part k); m = the 16 bytes that multiply the bsums in msum (not for Q4_K, Q5_K,
 * whose scales and mins come per group). */
typedef struct {
    __m512i u[4];
    __m512i s[2];
    __m128i m;
} ll_ksuper_avx512;

typedef void (*ll_kunpack_avx512)(const uint8_t *blk, ll_ksuper_avx512 *k);

/* vpshufb controls that spread scale bytes into the int16 order of s[h]. p[k] lane j holds
 * sub-block 4 k + j for the 16 sub-blocks of 16; for the 8 sub-blocks of 32 of Q4_K / Q5_K, p[2 t]
 * lanes 0, 1 hold sub-block 4 t, lanes 2, 3: 4 t + 2, and p[2 t + 1]: 4 t + 1, 4 t + 3. Unsigned
 * scales go straight to int16 (0x80: a zero high byte) from a 128-bit broadcast; signed ones
 * (Q3_K, Q6_K) to bytes in a 256-bit broadcast, then sign-extended. */
#define LL_Z4(v) v, 0x80, v, 0x80, v, 0x80, v, 0x80
#define LL_ZL(a, b) LL_Z4(a), LL_Z4(b)
static const uint8_t LL_KSCALE_U16_AVX512[4][64] __attribute__((aligned(64))) = {
    {LL_ZL(0, 4), LL_ZL(1, 5), LL_ZL(2, 6), LL_ZL(3, 7)},
    {LL_ZL(8, 12), LL_ZL(9, 13), LL_ZL(10, 14), LL_ZL(11, 15)},
    {LL_ZL(0, 1), LL_ZL(0, 1), LL_ZL(2, 3), LL_ZL(2, 3)},
    {LL_ZL(4, 5), LL_ZL(4, 5), LL_ZL(6, 7), LL_ZL(6, 7)},
};
#undef LL_ZL
#undef LL_Z4
#define LL_Q4(v) v, v, v, v
static const uint8_t LL_KSCALE_I8_AVX512[2][32] __attribute__((aligned(32))) = {
    {LL_Q4(0), LL_Q4(4), LL_Q4(1), LL_Q4(5), LL_Q4(2), LL_Q4(6), LL_Q4(3), LL_Q4(7)},
    {LL_Q4(8), LL_Q4(12), LL_Q4(9), LL_Q4(13), LL_Q4(10), LL_Q4(14), LL_Q4(11), LL_Q4(15)},
};
#undef LL_Q4

/* s[0], s[1] from unsigned scale bytes b (the same 16 in each 128-bit lane); controls `first`,
 * `first` + 1 of LL_KSCALE_U16_AVX512. */
LL_GEMM_INLINE void kscales_u8_avx512(__m512i b, int first, __m512i s[2]) {
    for (int h = 0; h < 2; h++) s[h] = _mm512_shuffle_epi8(b, _mm512_load_si512(LL_KSCALE_U16_AVX512[first + h]));
}

/* s[0], s[1] from 16 signed scale bytes. */
LL_GEMM_INLINE void kscales_i8_avx512(__m128i sc, __m512i s[2]) {
    const __m256i b = _mm256_broadcastsi128_si256(sc);
    for (int h = 0; h < 2; h++) {
        const __m256i ctrl = _mm256_load_si256((const __m256i *)LL_KSCALE_I8_AVX512[h]);
        s[h] = _mm512_cvtepi8_epi16(_mm256_shuffle_epi8(b, ctrl));
    }
}

/* Q2_K / Q3_K low bits: elements 128 h + 64 t + [0..63] (u[2 h + t]) from bits 4 t .. 4 t + 3 of
 * qs[32 h + l] (bits 2 j, 2 j + 1 of byte l: element 128 h + 32 j + l). */
LL_GEMM_INLINE __m512i crumbs64_avx512(const uint8_t *qs, int t) { /* qs: [32] */
    const long long lo = 4 * t, hi = 4 * t + 2;
    const __m512i both = _mm512_broadcast_i64x4(load256_avx2(qs));
    const __m512i shifted = _mm512_srlv_epi64(both, _mm512_setr_epi64(lo, lo, lo, lo, hi, hi, hi, hi));
    return _mm512_and_si512(shifted, _mm512_set1_epi8(3));
}

static inline void unpack_q2_K_avx512(const uint8_t *blk, ll_ksuper_avx512 *k) {
    const block_q2_K *x = (const block_q2_K *)blk;
    for (int i = 0; i < 4; i++) k->u[i] = crumbs64_avx512(x->qs + 32 * (i / 2), i % 2);
    const __m128i packed = _mm_loadu_si128((const __m128i *)x->scales); /* low nibble: scale, high: min */
    kscales_u8_avx512(_mm512_and_si512(_mm512_broadcast_i32x4(packed), _mm512_set1_epi8(0x0F)), 0, k->s);
    k->m = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F));
}

static inline void unpack_q3_K_avx512(const uint8_t *blk, ll_ksuper_avx512 *k) {
    const block_q3_K *x = (const block_q3_K *)blk;
    const __m512i hm = _mm512_broadcast_i64x4(load256_avx2(x->hmask)), bit2 = _mm512_set1_epi8(4);
    for (int i = 0; i < 4; i++) { /* the third bit of element 128 h + 32 j + l: bit 4 h + j of hmask[l] */
        const long long j0 = 2 * i, j1 = 2 * i + 1;
        const __m512i hb = _mm512_srlv_epi64(hm, _mm512_setr_epi64(j0, j0, j0, j0, j1, j1, j1, j1));
        k->u[i] = or_and_avx512(crumbs64_avx512(x->qs + 32 * (i / 2), i % 2), _mm512_slli_epi16(hb, 2), bit2);
    }
    k->m = scales_q3_K_avx2(x->scales); /* (u - 4) * sc: the offset term sc * bsum */
    kscales_i8_avx512(k->m, k->s);
}

/* Q4_K / Q5_K weights: u[2 t] = qs[64 t .. 64 t + 63] & 15: elements 128 t + [0..31 | 64..95]
 * (sub-blocks 4 t | 4 t + 2), u[2 t + 1] = the high nibbles: 128 t + [32..63 | 96..127]
 * (4 t + 1 | 4 t + 3); qh (Q5_K): bit 2 j of qh[l] is the fifth bit of element 64 j + l, bit
 * 2 j + 1 that of 64 j + 32 + l. */
LL_GEMM_INLINE void unpack_k4_avx512(const uint8_t *qs, const uint8_t *qh, ll_ksuper_avx512 *k) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int t = 0; t < 2; t++) {
        const __m512i bits = load512_avx512(qs + 64 * t);
        k->u[2 * t] = _mm512_and_si512(bits, m4);
        k->u[2 * t + 1] = _mm512_and_si512(_mm512_srli_epi16(bits, 4), m4);
    }
    if (qh) { /* hb: qh in the low half, qh >> 2 in the high half */
        const __m512i hb = _mm512_srlv_epi64(_mm512_broadcast_i64x4(load256_avx2(qh)),
                                             _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2));
        const __m512i bit4 = _mm512_set1_epi8(0x10);
        k->u[0] = or_and_avx512(k->u[0], _mm512_slli_epi16(hb, 4), bit4); /* bits 0 | 2 */
        k->u[1] = or_and_avx512(k->u[1], _mm512_slli_epi16(hb, 3), bit4); /* bits 1 | 3 */
        k->u[2] = or_and_avx512(k->u[2], hb, bit4);                       /* bits 4 | 6 */
        k->u[3] = or_and_avx512(k->u[3], _mm512_srli_epi16(hb, 1), bit4); /* bits 5 | 7 */
    }
}

static inline void unpack_q4_K_avx512(const uint8_t *blk, ll_ksuper_avx512 *k) {
    unpack_k4_avx512(((const block_q4_K *)blk)->qs, NULL, k);
}

static inline void unpack_q5_K_avx512(const uint8_t *blk, ll_ksuper_avx512 *k) {
    const block_q5_K *x = (const block_q5_K *)blk;
    unpack_k4_avx512(x->qs, x->qh, k);
}

static inline void unpack_q6_K_avx512(const uint8_t *blk, ll_ksuper_avx512 *k) {
    const block_q6_K *x = (const block_q6_K *)blk;
    q6_K_weights_avx512(x, 0, k->u);
    q6_K_weights_avx512(x, 1, k->u + 2);
    k->m = _mm_loadu_si128((const __m128i *)x->scales); /* (u - 32) * sc: the offset term sc * bsum */
    kscales_i8_avx512(k->m, k->s);
}

/* The 6-bit scales and mins of a Q4_K / Q5_K super-block of 16 rows (lane i: row i) from their 12
 * packed bytes (ll_get_scale_min_k4), gathered as 3 dwords: scales 0..3 = w0 & 63, mins 0..3 =
 * w1 & 63, scales 4..7 = w2 & 15 | the top 2 bits of w0's bytes << 4, mins 4..7 = w2 >> 4 | those
 * of w1's. sc[h], mn[h]: the scales, mins 4 h .. 4 h + 3 as bytes. */
LL_GEMM_INLINE void k4_decode_avx512(const uint8_t *packed, __m512i offsets, __m512i sc[2], __m512i mn[2]) {
    const __m512i w0 = _mm512_i32gather_epi32(offsets, packed, 1);
    const __m512i w1 = _mm512_i32gather_epi32(offsets, packed + 4, 1);
    const __m512i w2 = _mm512_i32gather_epi32(offsets, packed + 8, 1);
    const __m512i low6 = _mm512_set1_epi8(0x3F), low4 = _mm512_set1_epi8(0x0F), top2 = _mm512_set1_epi8(0x30);
    sc[0] = _mm512_and_si512(w0, low6);
    mn[0] = _mm512_and_si512(w1, low6);
    sc[1] = _mm512_ternarylogic_epi32(w2, low4, _mm512_and_si512(_mm512_srli_epi32(w0, 2), top2), 0xEA); /* a & b | c */
    mn[1] = _mm512_ternarylogic_epi32(_mm512_srli_epi32(w2, 4), low4, _mm512_and_si512(_mm512_srli_epi32(w1, 2), top2),
                                      0xEA);
}

/* How a k-quant type decodes: its unpacker, the Q4_K / Q5_K ways (k4), and its fp16 factors: the
 * dword at d_off holds d in its low (d_high 0) or high half, and dmin in its high half (dmin 1:
 * dm = -dmin), else dm = dm_scale * d (the AVX2 unpackers' d, dm). */
typedef struct {
    ll_kunpack_avx512 unpack;
    size_t bb;
    int k4, d_off, d_high, dmin;
    float dm_scale;
} ll_ktype_avx512;

/* The token side of a chunk of super-blocks: the activation bytes in the weights' order (Q4_K /
 * Q5_K: part k = the 32 + 32 bytes that u[k] multiplies; the others: as stored), and the bsums
 * (Q4_K / Q5_K: the 8 pair sums B = 128 Bh + Bl, 0 <= Bl < 128, as bytes Bh[0..7], Bl[0..7]; the
 * others: the 16 bsums in both 256-bit halves). */
typedef struct {
    __m512i a[LL_GEMV_COLS][LL_GEMV_SUPER_AVX512][4]; /* [token][super-block][part] */
    __m512i b[LL_GEMV_COLS][LL_GEMV_SUPER_AVX512];    /* [token][super-block] */
} ll_kprep_avx512;

LL_GEMM_INLINE void kprep_avx512(const block_q8_K *const a[], int64_t s0, int64_t s1, ll_kprep_avx512 *prep, int k4,
                                 const int NC) {
    for (int c = 0; c < NC; c++) {
        for (int64_t sb = s0; sb < s1; sb++) {
            const int8_t *qs = a[c][sb].qs;
            for (int k = 0; k < 4; k++) {
                const int8_t *q = qs + 128 * (k / 2) + 32 * (k % 2);
                prep->a[c][sb - s0][k] = k4 ? load2x256_avx512(q, q + 64) : load512_avx512(qs + 64 * k);
            }
            const __m256i bs = load256_avx2(a[c][sb].bsums);
            const __m128i pairs = _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_hadd_epi16(bs, bs), 0x08));
            const __m128i hl = _mm_packs_epi16(_mm_srai_epi16(pairs, 7), _mm_and_si128(pairs, _mm_set1_epi16(127)));
            prep->b[c][sb - s0] = k4 ? _mm512_castsi128_si512(hl) : _mm512_broadcast_i64x4(bs);
        }
    }
}

/* One row's 16 int32 lanes summing to its isum = sum over sub-blocks of scale * sum(u * a). */
LL_GEMM_INLINE __m512i krow_avx512(const ll_ksuper_avx512 *k, const __m512i part[4]) {
    __m512i p[4];
    for (int i = 0; i < 4; i++) p[i] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), k->u[i], part[i]);
    const __m512i lo = _mm512_madd_epi16(_mm512_packs_epi32(p[0], p[1]), k->s[0]);
    return _mm512_dpwssd_epi32(lo, _mm512_packs_epi32(p[2], p[3]), k->s[1]);
}

/* u[q]: sum_quads_avx512 of the rows 4 q .. 4 q + 3 -> lane i = the sum of row i's 16 lanes. */
LL_GEMM_INLINE __m512i sum_rows_avx512(const __m512i u[4]) {
    const __m512i z0 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], 0x88), _mm512_shuffle_i32x4(u[0], u[1], 0xDD));
    const __m512i z1 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2], u[3], 0x88), _mm512_shuffle_i32x4(u[2], u[3], 0xDD));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(z0, z1, 0x88), _mm512_shuffle_i32x4(z0, z1, 0xDD));
}

/* The slot of row i's 16 min bytes in kmsum_avx512's buffer, such that it gives lane i = row i. */
static inline int kmin_slot_avx512(int i) { return 8 * (i / 8) + 2 * (i % 4) + (i / 4) % 2; }

/* msum of 16 rows (lane = row) from their min bytes (m: [slot][16]) and the bsums b. */
LL_GEMM_INLINE __m512i kmsum_avx512(const uint8_t m[16][16], __m512i b) {
    __m512i y[8]; /* 256-bit half h of y[q]: slot 2 q + h's 8 partial sums */
    for (int q = 0; q < 8; q++) y[q] = _mm512_madd_epi16(_mm512_cvtepi8_epi16(load256_avx2(m[2 * q])), b);
    const __m512i u0 = sum_quads_avx512(y), u1 = sum_quads_avx512(y + 4);
    return _mm512_add_epi32(_mm512_shuffle_i32x4(u0, u1, 0x88), _mm512_shuffle_i32x4(u0, u1, 0xDD));
}

/* Q4_K / Q5_K msum of 16 rows (lane = row) from their mins (k4_decode_avx512) and the prepared
 * pair sums: 128 * sum mn Bh + sum mn Bl. */
LL_GEMM_INLINE __m512i k4_msum_avx512(const __m512i mn[2], __m512i b) {
    __m512i bd[4]; /* Bh[0..3], Bh[4..7], Bl[0..3], Bl[4..7] in every dword */
    for (int i = 0; i < 4; i++) bd[i] = _mm512_permutexvar_epi32(_mm512_set1_epi32(i), b);
    const __m512i bh = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), mn[0], bd[0]), mn[1], bd[1]);
    const __m512i bl = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), mn[0], bd[2]), mn[1], bd[3]);
    return _mm512_add_epi32(_mm512_slli_epi32(bh, 7), bl);
}

/* The Q4_K / Q5_K rows' s[] for krow_avx512: row i's 8 scale bytes are qword k4_sc_slot_avx512(i)
 * of sq, which sc[0], sc[1] (k4_decode_avx512) interleave into. */
static inline int k4_sc_slot_avx512(int i) { return 8 * ((i % 4) / 2) + 2 * (i / 4) + i % 2; }

LL_GEMM_INLINE void k4_scale_qwords_avx512(const __m512i sc[2], uint64_t sq[16]) {
    _mm512_storeu_si512(sq, _mm512_unpacklo_epi32(sc[0], sc[1]));     /* rows 4 L, 4 L + 1 */
    _mm512_storeu_si512(sq + 8, _mm512_unpackhi_epi32(sc[0], sc[1])); /* rows 4 L + 2, 4 L + 3 */
}

/* quads[c][q] = sum_quads_avx512 of rows 4 q .. 4 q + 3 (row i at w + i * s + at) against token
 * c's part of prepared super-block j; m: the rows' min bytes (16-sub-block types). */
LL_GEMM_INLINE void ksuper_rows_avx512(const uint8_t *w, int64_t s, size_t at, const ll_kprep_avx512 *prep, int64_t j,
                                       const uint64_t sq[16], uint8_t m[16][16], __m512i quads[][4],
                                       const ll_ktype_avx512 T, const int NC) {
    for (int q = 0; q < 4; q++) {
        __m512i v[LL_GEMV_COLS][4]; /* [token][row] */
        for (int i = 0; i < 4; i++) {
            ll_ksuper_avx512 k;
            T.unpack(w + (4 * q + i) * s + at, &k);
            if (T.k4) {
                kscales_u8_avx512(_mm512_set1_epi64((long long)sq[k4_sc_slot_avx512(4 * q + i)]), 2, k.s);
            } else {
                _mm_storeu_si128((__m128i *)m[kmin_slot_avx512(4 * q + i)], k.m);
            }
            for (int c = 0; c < NC; c++) v[c][i] = krow_avx512(&k, prep->a[c][j]);
        }
        for (int c = 0; c < NC; c++) quads[c][q] = sum_quads_avx512(v[c]);
    }
}

/* acc[c] += super-block sb (j in prep) of the 16 rows at w + i * s against token c, lane i = row
 * i: the panels' isum and msum, and the AVX2 tile's two FMAs. */
LL_GEMM_INLINE void ksuper_avx512(const uint8_t *w, int64_t s, __m512i offsets, const block_q8_K *const a[], int64_t sb,
                                  const ll_kprep_avx512 *prep, int64_t j, __m512 acc[], const ll_ktype_avx512 T,
                                  const int NC) {
    const size_t at = (size_t)sb * T.bb;
    uint8_t m[16][16]; /* [slot] the rows' min bytes (16-sub-block types) */
    uint64_t sq[16];   /* [slot] the rows' scale bytes (Q4_K, Q5_K) */
    __m512i sc[2], mn[2], quads[LL_GEMV_COLS][4];
    if (T.k4) {
        k4_decode_avx512(w + at + 4, offsets, sc, mn);
        k4_scale_qwords_avx512(sc, sq);
    }
    ksuper_rows_avx512(w, s, at, prep, j, sq, m, quads, T, NC);
    const __m512i dd = _mm512_i32gather_epi32(offsets, w + at + T.d_off, 1);
    const __m512 d = halves_to_f32_avx512(dd, T.d_high);
    const __m512 dm = T.dmin ? _mm512_xor_ps(halves_to_f32_avx512(dd, 1), _mm512_set1_ps(-0.0f))
                             : _mm512_mul_ps(d, _mm512_set1_ps(T.dm_scale));
    for (int c = 0; c < NC; c++) {
        const __m512i isum = sum_rows_avx512(quads[c]);
        const __m512i msum = T.k4 ? k4_msum_avx512(mn, prep->b[c][j]) : kmsum_avx512(m, prep->b[c][j]);
        const __m512 da = _mm512_set1_ps(a[c][sb].d);
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, da), acc[c]);
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dm, da), acc[c]);
    }
}

/* The tile for NC <= LL_GEMV_COLS tokens and nr >= 16 rows at w + i * s (15 s < 2^31). */
LL_GEMM_INLINE void gemv_kquant_avx512(int64_t n, float *out, int64_t out_stride, const uint8_t *w, int64_t s, int nr,
                                       const uint8_t *a, int64_t a_stride, const ll_ktype_avx512 T, const int NC) {
    ll_kprep_avx512 prep;
    const block_q8_K *ac[LL_GEMV_COLS];
    for (int c = 0; c < NC; c++) ac[c] = (const block_q8_K *)(a + c * a_stride);
    const __m512i rows = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i offsets = row_offsets_avx512(rows, s);
    const int groups = (nr + LL_GEMV_GROUP_AVX512 - 1) / LL_GEMV_GROUP_AVX512;
    const int64_t ns = n / QK_K;
    for (int g = 0; g < groups; g++) {
        const int r0 = group_row_avx512(g, groups, nr);
        const uint8_t *wg = w + r0 * s;
        __m512 acc[LL_GEMV_COLS] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
        size_t pf = LL_GEMV_AHEAD_AVX512;
        for (int64_t s0 = 0; s0 < ns; s0 += LL_GEMV_SUPER_AVX512) {
            const int64_t s1 = ns - s0 < LL_GEMV_SUPER_AVX512 ? ns : s0 + LL_GEMV_SUPER_AVX512;
            if (g == 0 || ns > LL_GEMV_SUPER_AVX512) kprep_avx512(ac, s0, s1, &prep, T.k4, NC);
            for (int64_t sb = s0; sb < s1; sb++) {
                prefetch_group_avx512(wg, s, &pf, (size_t)(sb + 1) * T.bb + LL_GEMV_AHEAD_AVX512);
                ksuper_avx512(wg, s, offsets, ac, sb, &prep, sb - s0, acc, T, NC);
            }
        }
        for (int c = 0; c < NC; c++) _mm512_storeu_ps(out + c * out_stride + r0, acc[c]); /* lane i = row r0 + i */
    }
}

/* TYPE's decode path; K4, D_OFF, D_HIGH, DMIN, DM_SCALE: ll_ktype_avx512. */
#define LL_GEMV_KQUANT_AVX512(TYPE, BLOCK_T, K4, D_OFF, D_HIGH, DMIN, DM_SCALE)                                   \
    static void gemv_##TYPE##_avx512(int64_t n, float *out, int64_t out_stride, const void *w, int64_t w_stride, \
                                     int nr, const void *a, int64_t a_stride, int nc) {                          \
        const ll_ktype_avx512 T = {unpack_##TYPE##_avx512, sizeof(BLOCK_T), K4, D_OFF, D_HIGH, DMIN, DM_SCALE};   \
        if (nr < LL_GEMV_GROUP_AVX512 || w_stride > INT32_MAX / LL_GEMV_GROUP_AVX512) {                          \
            gemv_via_avx2_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc, gemm_tile_##TYPE##_q8_K_avx2);   \
        } else if (nc == 1) {                                                                                    \
            gemv_kquant_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, T, 1);                          \
        } else {                                                                                                 \
            gemv_kquant_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, T, 2);                          \
        }                                                                                                        \
    }

LL_GEMV_KQUANT_AVX512(q2_K, block_q2_K, 0, 80, 0, 1, 0.0f)     /* d, dmin at 80 */
LL_GEMV_KQUANT_AVX512(q3_K, block_q3_K, 0, 106, 1, 0, -4.0f)   /* d at 108 */
LL_GEMV_KQUANT_AVX512(q4_K, block_q4_K, 1, 0, 0, 1, 0.0f)      /* d, dmin at 0 */
LL_GEMV_KQUANT_AVX512(q5_K, block_q5_K, 1, 0, 0, 1, 0.0f)      /* d, dmin at 0 */
LL_GEMV_KQUANT_AVX512(q6_K, block_q6_K, 0, 206, 1, 0, -32.0f)  /* d at 208 */
