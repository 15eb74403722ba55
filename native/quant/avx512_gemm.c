/* AVX-512 VNNI prefill tiles (3 or more tokens) of the legacy types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
 * against Q8_0. variant.c includes this file after quant/avx512.c and the AVX2 tile files.
 *
 * Contract: every (row, token) gets the bits the AVX2 panels give (quant/avx2_gemm.c): the same
 * exact integer sum per 32-element block, and per block, in block order, the same float ops:
 *     r = fma(cvt(isum), s_w * d_a, r);  r = fma(o_w, d_a * (float)sum(a), r)
 * (r starts at 0; s_w * d_a and d_a * (float)sum(a) are each rounded once, as products).
 *
 * gemm_panels_<type>_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc): nr <=
 * LL_GEMM_LEGACY_ROWS_AVX512, nc <= LL_GEMM_LEGACY_COLS_AVX512; w_stride * 15 < 2^31 (gathers
 * take int32 row offsets).
 *
 * Layout: weight rows in lanes, 16 rows per zmm (a "panel"). A tile walks the rows' length in
 * chunks of LL_LEGACY_CHUNK_AVX512 blocks. For each chunk it packs every panel into
 *     u[block][step]: int32 lane i = the 4 unsigned codes of elements 4 step .. 4 step + 3 of row i
 * (Q4_*: the nibbles q, Q5_*: q with its 5th bit, Q8_0: w + 128 = w ^ 0x80, a single plane), with
 * the per-row factors s_w (fp16 scale) and o_w (-8 s, -16 s, -128 s, or the fp16 min m) as
 * vectors: a 16 x 4 dword transpose of each 16-byte piece of the 16 rows (four 128-bit lanes, then
 * unpacks within lanes), the scalars by one gather per block and panel. d_a and
 * d_a * (float)sum(a) are computed once per (token, block) for all the panels. A kernel call then
 * takes LL_LEGACY_P_AVX512 panels x LL_LEGACY_T_AVX512 tokens over the chunk with its integer and
 * float sums in registers: per step, one packed vector per panel and one broadcast of 4 activation
 * bytes per token feed P x T vpdpbusd (8 steps a block), then the block's float ops (cvt, the mul
 * s_w * d_a, two FMAs) scale 16 rows at once. So each packed vector serves T tokens, each broadcast
 * P panels, and the packing is shared by the tile's nc tokens. The first panels' kernel calls
 * prefetch the tokens' next chunk, the packing the rows' next chunk. The sums (lane = row) are
 * stored as they are: a token's row of out holds the rows.
 *
 * Integer widths: vpdpbusd adds 4 products u * a (u <= 255 for Q8_0, <= 31 otherwise; |a| <= 128)
 * to an int32 lane without saturation: a block's isum is at most 32 * 255 * 128 = 1044480 in
 * magnitude, exact in int32 and in float. sum(a) of a block is at most 32 * 128 = 4096 in
 * magnitude (vpdpbusd of the bytes with ones), exact in both as well. */

#define LL_GEMM_LEGACY_ROWS_AVX512 64 /* weight rows per tile: 4 panels of 16 */
#define LL_GEMM_LEGACY_COLS_AVX512 128 /* tokens per tile */
#define LL_LEGACY_PANELS_AVX512 (LL_GEMM_LEGACY_ROWS_AVX512 / 16)
#define LL_LEGACY_CHUNK_AVX512 8      /* blocks per chunk (the activation sums take 8 at a time) */
#define LL_LEGACY_P_AVX512 2          /* panels per kernel call (the table below has 1..2) */
#define LL_LEGACY_T_AVX512 6          /* tokens per kernel call (the table below has 1..6) */
#define LL_LEGACY_INLINE_AVX512 static inline __attribute__((always_inline))

typedef struct {
    __m512i u[LL_LEGACY_CHUNK_AVX512][8]; /* [block][step] lane i: 4 unsigned codes of row i */
    __m512 s[LL_LEGACY_CHUNK_AVX512];     /* [block] lane i: s_w of row i */
    __m512 o[LL_LEGACY_CHUNK_AVX512];     /* [block] lane i: o_w of row i */
} ll_legacy_panel_avx512;

/* ---- packing ---- */

/* Lane v: byte j holds (bit j of v) << 4, for j < 4: the 5th bits of 4 codes (vpermd takes the
 * index from bits 0..3 of each lane, so the caller only shifts qh). */
#define LL_SPREAD_AVX512(v) \
    (((v) & 1) << 4 | ((v) & 2) << 11 | ((v) & 4) << 18 | ((v) & 8) << 25)
static const int32_t LL_SPREAD4_AVX512[16] __attribute__((aligned(64))) = {
    LL_SPREAD_AVX512(0),  LL_SPREAD_AVX512(1),  LL_SPREAD_AVX512(2),  LL_SPREAD_AVX512(3),
    LL_SPREAD_AVX512(4),  LL_SPREAD_AVX512(5),  LL_SPREAD_AVX512(6),  LL_SPREAD_AVX512(7),
    LL_SPREAD_AVX512(8),  LL_SPREAD_AVX512(9),  LL_SPREAD_AVX512(10), LL_SPREAD_AVX512(11),
    LL_SPREAD_AVX512(12), LL_SPREAD_AVX512(13), LL_SPREAD_AVX512(14), LL_SPREAD_AVX512(15),
};
#undef LL_SPREAD_AVX512

/* The byte offsets of a panel's 16 rows from row 0 (rows past the last repeat it: their lanes are
 * computed, never stored), as int64 for addresses and int32 for gathers. */
typedef struct {
    int64_t off[16];
    int32_t off32[16] __attribute__((aligned(64)));
} ll_legacy_rows_avx512;

/* q[j] lane i = dword j of the 16 bytes at blk + off[i] + at (j < 4). */
static inline void transpose16x4_avx512(const uint8_t *blk, const ll_legacy_rows_avx512 *rows, int at, __m512i q[4]) {
    __m512i b[4]; /* [m] 128-bit lane l: the bytes of row 4 l + m */
    for (int m = 0; m < 4; m++) {
        b[m] = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(blk + rows->off[m] + at)));
        for (int l = 1; l < 4; l++)
            b[m] = _mm512_inserti32x4(b[m], _mm_loadu_si128((const __m128i *)(blk + rows->off[4 * l + m] + at)), l);
    }
    const __m512i t0 = _mm512_unpacklo_epi32(b[0], b[1]), t1 = _mm512_unpackhi_epi32(b[0], b[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(b[2], b[3]), t3 = _mm512_unpackhi_epi32(b[2], b[3]);
    q[0] = _mm512_unpacklo_epi64(t0, t2);
    q[1] = _mm512_unpackhi_epi64(t0, t2);
    q[2] = _mm512_unpacklo_epi64(t1, t3);
    q[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* Lane i: the 4 bytes at blk + off[i] + at. */
static inline __m512i gather_avx512(const uint8_t *blk, const ll_legacy_rows_avx512 *rows, int at) {
    return _mm512_i32gather_epi32(_mm512_load_si512(rows->off32), blk + at, 1);
}

/* The fp16 in the low (high) half of each int32 lane, as float. */
static inline __m512 low_halves_avx512(__m512i v) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v)); }
static inline __m512 high_halves_avx512(__m512i v) { return low_halves_avx512(_mm512_srli_epi32(v, 16)); }

/* u[step] from the packed nibbles q (transposed) and, if hi, the 5th bits (lane i: qh of row i). */
static inline void nibble_steps_avx512(const __m512i q[4], __m512i u[8], int hi, __m512i qh) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i spread = _mm512_load_si512(LL_SPREAD4_AVX512);
    for (int k = 0; k < 8; k++) {
        const __m512i nib = k < 4 ? q[k] : _mm512_srli_epi32(q[k - 4], 4); /* elements 4k .. 4k + 3 */
        if (hi) {
            u[k] = or_and_avx512(_mm512_permutexvar_epi32(_mm512_srli_epi32(qh, 4 * k), spread), nib, m4);
        } else {
            u[k] = _mm512_and_si512(nib, m4);
        }
    }
}

/* Block b of a panel of type TYPE: u from the nibbles (and 5th bits at QH, or -1 for none); s and
 * o from the scalars (o = OFFSET * s, or the fp16 min when OFFSET is 0). */
#define LL_PACK_NIBBLES_AVX512(TYPE, QH, OFFSET)                                                             \
    LL_LEGACY_INLINE_AVX512 void pack_##TYPE##_avx512(ll_legacy_panel_avx512 *p, int b, const uint8_t *blk,   \
                                                      const ll_legacy_rows_avx512 *rows) {                    \
        __m512i q[4];                                                                                         \
        transpose16x4_avx512(blk, rows, offsetof(block_##TYPE, qs), q);                                      \
        const __m512i qh = QH >= 0 ? gather_avx512(blk, rows, QH) : _mm512_setzero_si512();                 \
        nibble_steps_avx512(q, p->u[b], QH >= 0, qh);                                                         \
        const __m512i dm = gather_avx512(blk, rows, 0);                                                       \
        p->s[b] = low_halves_avx512(dm);                                                                      \
        p->o[b] = OFFSET ? _mm512_mul_ps(_mm512_set1_ps(OFFSET), p->s[b]) : high_halves_avx512(dm);          \
    }
LL_PACK_NIBBLES_AVX512(q4_0, -1, -8.0f)
LL_PACK_NIBBLES_AVX512(q4_1, -1, 0.0f)
LL_PACK_NIBBLES_AVX512(q5_0, (int)offsetof(block_q5_0, qh), -16.0f)
LL_PACK_NIBBLES_AVX512(q5_1, (int)offsetof(block_q5_1, qh), 0.0f)
#undef LL_PACK_NIBBLES_AVX512

LL_LEGACY_INLINE_AVX512 void pack_q8_0_avx512(ll_legacy_panel_avx512 *p, int b, const uint8_t *blk,
                                              const ll_legacy_rows_avx512 *rows) {
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    for (int h = 0; h < 2; h++) {
        __m512i q[4];
        transpose16x4_avx512(blk, rows, offsetof(block_q8_0, qs) + 16 * h, q);
        for (int j = 0; j < 4; j++) p->u[b][4 * h + j] = _mm512_xor_si512(q[j], bias); /* w + 128 */
    }
    p->s[b] = low_halves_avx512(gather_avx512(blk, rows, 0));
    p->o[b] = _mm512_mul_ps(_mm512_set1_ps(-128.0f), p->s[b]);
}

/* Blocks 0 .. nb - 1 from w (row 0's first block) of a panel's rows; then prefetches their next
 * 8 blocks. */
typedef void (*ll_legacy_pack_avx512)(ll_legacy_panel_avx512 *p, const uint8_t *w, const ll_legacy_rows_avx512 *rows,
                                      int nb);
#define LL_PACK_PANEL_AVX512(TYPE)                                                                            \
    static __attribute__((noinline)) void pack_panel_##TYPE##_avx512(                                         \
        ll_legacy_panel_avx512 *p, const uint8_t *w, const ll_legacy_rows_avx512 *rows, int nb) {             \
        for (int b = 0; b < nb; b++) pack_##TYPE##_avx512(p, b, w + b * sizeof(block_##TYPE), rows);          \
        const uint8_t *next = w + LL_LEGACY_CHUNK_AVX512 * sizeof(block_##TYPE);                              \
        for (int i = 0; i < 16; i++) {                                                                        \
            for (size_t l = 0; l < LL_LEGACY_CHUNK_AVX512 * sizeof(block_##TYPE); l += 64)                    \
                _mm_prefetch((const char *)next + rows->off[i] + l, _MM_HINT_T0);                             \
        }                                                                                                     \
    }
LL_PACK_PANEL_AVX512(q4_0)
LL_PACK_PANEL_AVX512(q4_1)
LL_PACK_PANEL_AVX512(q5_0)
LL_PACK_PANEL_AVX512(q5_1)
LL_PACK_PANEL_AVX512(q8_0)
#undef LL_PACK_PANEL_AVX512

/* The row offsets of the panel of `rows` (1..16) rows. */
static void legacy_rows_avx512(ll_legacy_rows_avx512 *r, int64_t w_stride, int rows) {
    for (int i = 0; i < 16; i++) {
        r->off[i] = (i < rows ? i : rows - 1) * w_stride;
        r->off32[i] = (int32_t)r->off[i];
    }
}

/* ---- activation factors ---- */

/* Lane j = v[2j] + v[2j + 1], where v is the 32 lanes of x, then y. */
static inline __m512i pair_sums_avx512(__m512i x, __m512i y) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    return _mm512_add_epi32(_mm512_permutex2var_epi32(x, even, y), _mm512_permutex2var_epi32(x, odd, y));
}

/* da[b] = d_a and dasum[b] = d_a * (float)sum(a) of blocks a[b], b < 8 (blocks past nb repeat the
 * last one). */
static void token_factors_avx512(const block_q8_0 *a, int nb, float *da, float *dasum) {
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i z[4]; /* [pair] lanes 0..7: 8 partial sums of block 2j, 8..15: of block 2j + 1 */
    for (int j = 0; j < 4; j++) {
        const block_q8_0 *lo = a + (2 * j < nb ? 2 * j : nb - 1), *hi = a + (2 * j + 1 < nb ? 2 * j + 1 : nb - 1);
        z[j] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, load2x256_avx512(lo->qs, hi->qs));
    }
    const __m512i quads = pair_sums_avx512(pair_sums_avx512(z[0], z[1]), pair_sums_avx512(z[2], z[3]));
    const __m256i sums = _mm512_castsi512_si256(pair_sums_avx512(quads, quads)); /* [block] */
    const __m256i block = _mm256_min_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(nb - 1));
    const __m256i offset = _mm256_mullo_epi32(block, _mm256_set1_epi32((int)sizeof(block_q8_0)));
    const __m256i dbits = _mm256_i32gather_epi32((const int *)a, offset, 1);
    const __m256 d = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(dbits));
    _mm256_storeu_ps(da, d);
    _mm256_storeu_ps(dasum, _mm256_mul_ps(d, _mm256_cvtepi32_ps(sums)));
}

/* ---- the kernel: P panels x T tokens over a chunk ---- */

#define LL_LEGACY_FIRST_AVX512 1    /* kernel flag: the first chunk (the sums start at 0, r is not read) */
#define LL_LEGACY_PREFETCH_AVX512 2 /* kernel flag: prefetch the tokens' next chunk */

typedef struct {
    float da[LL_GEMM_LEGACY_COLS_AVX512][LL_LEGACY_CHUNK_AVX512];    /* [token][block] d_a */
    float dasum[LL_GEMM_LEGACY_COLS_AVX512][LL_LEGACY_CHUNK_AVX512]; /* [token][block] d_a * sum(a) */
} ll_legacy_acts_avx512;

/* isum[p][t] = sum(u * a) of block b for panels pn[p < P] and the tokens' qs at at[t < T]: per
 * step one packed vector per panel and one broadcast per token. */
LL_LEGACY_INLINE_AVX512 void legacy_isums_avx512(const ll_legacy_panel_avx512 *pn, int b, const int8_t *const *at,
                                                 __m512i isum[][LL_LEGACY_T_AVX512], const int P, const int T) {
#pragma GCC unroll 8
    for (int p = 0; p < P; p++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) isum[p][t] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        __m512i u[LL_LEGACY_P_AVX512];
#pragma GCC unroll 8
        for (int p = 0; p < P; p++) u[p] = _mm512_load_si512(&pn[p].u[b][k]);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            int32_t v;
            memcpy(&v, at[t] + sizeof(block_q8_0) * b + 4 * k, sizeof v);
            const __m512i bc = _mm512_set1_epi32(v);
#pragma GCC unroll 8
            for (int p = 0; p < P; p++) isum[p][t] = _mm512_dpbusd_epi32(isum[p][t], u[p], bc);
        }
    }
}

/* r[t * LL_LEGACY_PANELS_AVX512 + p] (lane i: row 16 p + i, token t) += the chunk's nb blocks, for
 * panels pn[p < P] and tokens a + t * a_stride (at the chunk's first block), t < T; da, dasum:
 * [t * LL_LEGACY_CHUNK_AVX512 + block]. The P x T float and integer sums stay in registers. */
LL_LEGACY_INLINE_AVX512 void legacy_kernel_avx512(const ll_legacy_panel_avx512 *pn, int nb, const uint8_t *a,
                                                  int64_t a_stride, const float *da, const float *dasum, __m512 *r,
                                                  int flags, const int P, const int T) {
    const int8_t *at[LL_LEGACY_T_AVX512];
    __m512 acc[LL_LEGACY_P_AVX512][LL_LEGACY_T_AVX512];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        at[t] = (const int8_t *)(a + t * a_stride) + offsetof(block_q8_0, qs);
#pragma GCC unroll 8
        for (int p = 0; p < P; p++)
            acc[p][t] = flags & LL_LEGACY_FIRST_AVX512 ? _mm512_setzero_ps() : r[t * LL_LEGACY_PANELS_AVX512 + p];
    }
    for (int b = 0; b < nb; b++) {
        if ((flags & LL_LEGACY_PREFETCH_AVX512) && 64 * b < LL_LEGACY_CHUNK_AVX512 * (int)sizeof(block_q8_0)) {
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) /* a line of the next chunk per block */
                _mm_prefetch((const char *)(a + t * a_stride) + LL_LEGACY_CHUNK_AVX512 * sizeof(block_q8_0) + 64 * b,
                             _MM_HINT_T0);
        }
        __m512i isum[LL_LEGACY_P_AVX512][LL_LEGACY_T_AVX512];
        legacy_isums_avx512(pn, b, at, isum, P, T);
#pragma GCC unroll 8
        for (int p = 0; p < P; p++) {
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) { /* the AVX2 tiles' float sequence */
                const float *f = da + t * LL_LEGACY_CHUNK_AVX512 + b, *fs = dasum + t * LL_LEGACY_CHUNK_AVX512 + b;
                const __m512 sd = _mm512_mul_ps(pn[p].s[b], _mm512_set1_ps(*f));
                acc[p][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[p][t]), sd, acc[p][t]);
                acc[p][t] = _mm512_fmadd_ps(pn[p].o[b], _mm512_set1_ps(*fs), acc[p][t]);
            }
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
#pragma GCC unroll 8
        for (int p = 0; p < P; p++) r[t * LL_LEGACY_PANELS_AVX512 + p] = acc[p][t];
}

typedef void (*ll_legacy_kernel_avx512)(const ll_legacy_panel_avx512 *pn, int nb, const uint8_t *a, int64_t a_stride,
                                        const float *da, const float *dasum, __m512 *r, int flags);

#define LL_LEGACY_KERNEL_AVX512(P, T)                                                                          \
    static void legacy_kernel_##P##x##T##_avx512(const ll_legacy_panel_avx512 *pn, int nb, const uint8_t *a,   \
                                                 int64_t a_stride, const float *da, const float *dasum,        \
                                                 __m512 *r, int flags) {                                       \
        legacy_kernel_avx512(pn, nb, a, a_stride, da, dasum, r, flags, P, T);                                  \
    }
#define LL_LEGACY_KERNELS_AVX512(P)                                                                            \
    LL_LEGACY_KERNEL_AVX512(P, 1) LL_LEGACY_KERNEL_AVX512(P, 2) LL_LEGACY_KERNEL_AVX512(P, 3)                  \
    LL_LEGACY_KERNEL_AVX512(P, 4) LL_LEGACY_KERNEL_AVX512(P, 5) LL_LEGACY_KERNEL_AVX512(P, 6)
LL_LEGACY_KERNELS_AVX512(1)
LL_LEGACY_KERNELS_AVX512(2)
#define LL_LEGACY_ROW_AVX512(P)                                                                                \
    {legacy_kernel_##P##x1_avx512, legacy_kernel_##P##x2_avx512, legacy_kernel_##P##x3_avx512,                 \
     legacy_kernel_##P##x4_avx512, legacy_kernel_##P##x5_avx512, legacy_kernel_##P##x6_avx512}

/* [P - 1][T - 1] */
static const ll_legacy_kernel_avx512 LL_LEGACY_KERNEL_TABLE_AVX512[LL_LEGACY_P_AVX512][LL_LEGACY_T_AVX512] = {
    LL_LEGACY_ROW_AVX512(1),
    LL_LEGACY_ROW_AVX512(2),
};
#undef LL_LEGACY_KERNELS_AVX512
#undef LL_LEGACY_KERNEL_AVX512
#undef LL_LEGACY_ROW_AVX512

/* ---- the tile ---- */

/* out[c * out_stride + 16 p + i] = lane i of acc[c][p], for rows < nr and tokens < nc: a panel's
 * 16 rows are consecutive in a token's row of out (masked for a last partial panel). */
static void store_legacy_avx512(float *out, int64_t out_stride, int nr, int nc,
                                __m512 acc[][LL_LEGACY_PANELS_AVX512]) {
    for (int c = 0; c < nc; c++) {
        for (int p = 0; 16 * p < nr; p++) {
            const int rows = nr - 16 * p < 16 ? nr - 16 * p : 16;
            _mm512_mask_storeu_ps(out + c * out_stride + 16 * p, (__mmask16)((1u << rows) - 1), acc[c][p]);
        }
    }
}

/* One chunk (blocks b0 .. b0 + nb - 1) of every panel (np) against every token (nc). */
static void legacy_chunk_avx512(const ll_legacy_panel_avx512 *panels, int np, int nb, const uint8_t *a,
                                int64_t a_stride, int nc, const ll_legacy_acts_avx512 *f,
                                __m512 acc[][LL_LEGACY_PANELS_AVX512], int first) {
    for (int t0 = 0; t0 < nc; t0 += LL_LEGACY_T_AVX512) {
        const int t = nc - t0 < LL_LEGACY_T_AVX512 ? nc - t0 : LL_LEGACY_T_AVX512;
        for (int p0 = 0; p0 < np; p0 += LL_LEGACY_P_AVX512) {
            const int p = np - p0 < LL_LEGACY_P_AVX512 ? np - p0 : LL_LEGACY_P_AVX512;
            const int flags = (first ? LL_LEGACY_FIRST_AVX512 : 0) | (p0 == 0 ? LL_LEGACY_PREFETCH_AVX512 : 0);
            LL_LEGACY_KERNEL_TABLE_AVX512[p - 1][t - 1](panels + p0, nb, a + t0 * a_stride, a_stride, f->da[t0],
                                                        f->dasum[t0], &acc[t0][p0], flags);
        }
    }
}

/* The tile: for each chunk, pack the panels and the tokens' factors, then run the kernels. */
static void gemm_legacy_avx512(int64_t n, float *out, int64_t out_stride, const void *w, int64_t w_stride, int nr,
                               const void *a, int64_t a_stride, int nc, size_t block_bytes, ll_legacy_pack_avx512 pack) {
    ll_legacy_panel_avx512 panels[LL_LEGACY_PANELS_AVX512];
    ll_legacy_rows_avx512 rows[LL_LEGACY_PANELS_AVX512];
    ll_legacy_acts_avx512 f;
    __m512 acc[LL_GEMM_LEGACY_COLS_AVX512][LL_LEGACY_PANELS_AVX512]; /* [token][panel] */
    const int np = (nr + 15) / 16;
    for (int p = 0; p < np; p++) legacy_rows_avx512(&rows[p], w_stride, nr - 16 * p < 16 ? nr - 16 * p : 16);
    const int64_t n_blocks = n / QK8_0;
    for (int64_t b0 = 0; b0 < n_blocks; b0 += LL_LEGACY_CHUNK_AVX512) {
        const int nb = (int)(n_blocks - b0 < LL_LEGACY_CHUNK_AVX512 ? n_blocks - b0 : LL_LEGACY_CHUNK_AVX512);
        const uint8_t *wb = (const uint8_t *)w + b0 * block_bytes, *ab = (const uint8_t *)a + b0 * sizeof(block_q8_0);
        for (int p = 0; p < np; p++) pack(panels + p, wb + 16 * p * w_stride, &rows[p], nb);
        for (int c = 0; c < nc; c++) token_factors_avx512((const block_q8_0 *)(ab + c * a_stride), nb, f.da[c], f.dasum[c]);
        legacy_chunk_avx512(panels, np, nb, ab, a_stride, nc, &f, acc, b0 == 0);
    }
    store_legacy_avx512(out, out_stride, nr, nc, acc);
}

#define LL_LEGACY_PANELS_FN_AVX512(TYPE)                                                                             \
    static void gemm_panels_##TYPE##_avx512(int64_t n, float *out, int64_t out_stride, const void *w,              \
                                            int64_t w_stride, int nr, const void *a, int64_t a_stride, int nc) {   \
        gemm_legacy_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc, sizeof(block_##TYPE),             \
                           pack_panel_##TYPE##_avx512);                                                            \
    }

LL_LEGACY_PANELS_FN_AVX512(q4_0)
LL_LEGACY_PANELS_FN_AVX512(q4_1)
LL_LEGACY_PANELS_FN_AVX512(q5_0)
LL_LEGACY_PANELS_FN_AVX512(q5_1)
LL_LEGACY_PANELS_FN_AVX512(q8_0)
#undef LL_LEGACY_PANELS_FN_AVX512
