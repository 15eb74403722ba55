/* AVX-512 VNNI prefill tiles (3 or more tokens) of the k-quants Q2_K .. Q6_K against Q8_K.
 * variant.c includes this file after quant/avx512.c and the AVX2 tile files, whose helpers it uses.
 *
 * Contract: every (row, token) gets the bits the AVX2 panels give (quant/avx2_gemm.c): the same
 * exact integer sums per super-block (isum = sum sc u a, msum = sum mn bsum) and per super-block
 * the same two FMAs in the same order: acc = fma(cvt(isum), d * da, acc), then
 * acc = fma(cvt(msum), dm * da, acc), with u, sc, mn, d, dm as unpack_<type>_gemm_avx2 has them.
 *
 * gemm_panels_<type>_avx512(n, out, out_stride, w, w_stride, nr, a, a_stride, nc): nr <=
 * LL_GEMM_KQUANT_ROWS_AVX512, nc <= LL_GEMM_KQUANT_COLS_AVX512.
 *
 * Layout: weight rows in lanes, 16 rows per panel. For each 256-element super-block a tile packs
 * its rows, 16 at a time, into
 *     u[step]: int32 lane i = the 4 unsigned codes of elements 4 step .. 4 step + 3 of row i
 * (64 steps), by 16 x 16 dword transposes of the stored bits (each field is then cut out of the
 * transposed vectors: a shift and a mask per step), and the rows' scales, mins, d and dm as
 * vectors (transposed the same way, then spread to int16 lanes). A token's activation bytes are
 * then broadcast 4 at a time (a load, no shuffle): one vpdpbusd multiplies them with 4 codes of
 * each of 16 rows, 64 multiply-adds. The packing is shared by the tile's tokens (64), each
 * broadcast by 2 panels, each loaded code vector by 4 tokens (a register block of 2 panels x 4
 * tokens: 8 accumulators, 8 partial sums).
 *
 * Integer sums. A "piece" of K steps (4 K elements of one sub-block) is summed into a fresh
 * partial p, which one vpdpwssd then multiplies by its sub-block scale and adds to the row's isum:
 *   - vpdpbusd pieces (int32 lanes; the scale vector holds sc in the low int16 of each dword and 0
 *     in the high one, so p's high half, its sign extension, is multiplied by 0): p must fit int16,
 *     |p| <= 4 K * umax * 127 (|a| <= 127):
 *       Q2_K (u <= 3), Q3_K (u <= 7), Q4_K (u <= 15): K = 4, |p| <= 16 * 15 * 127 = 30480;
 *       Q5_K (u <= 31): K = 2, |p| <= 8 * 31 * 127 = 31496.
 *   - Q6_K (u <= 63): vpmaddubsw pieces of K = 2 steps (int16 lanes, each the sum of 2 products
 *     per step: |p| <= 2 * 2 * 63 * 127 = 32004, no saturation), sc in both halves of the dword.
 * isum stays well within int32 (|isum| <= 256 * 63 * 127 * 128 < 2^29). msum = sum mn * bsum is
 * one vpdpwssd per pair of sub-blocks against a broadcast pair of activation sums: the Q8_K bsums
 * (of 16), or for Q4_K / Q5_K, whose sub-blocks are 32 long, sums of 32 (|bsum32| <= 4064).
 *
 * Memory: the tile's activation rows lie a_stride apart (64 streams), too many for the hardware
 * prefetchers: the next token block's super-block is prefetched into L1 and the next super-block
 * into L2, as are the weight rows' next super-blocks.
 */

#define LL_GEMM_KQUANT_ROWS_AVX512 64
#define LL_GEMM_KQUANT_COLS_AVX512 128
#define LL_KQ_PANELS_AVX512 (LL_GEMM_KQUANT_ROWS_AVX512 / 16) /* panels of 16 rows per tile */
#define LL_KQ_INLINE static inline __attribute__((always_inline)) /* specialize per type */
#define LL_KQ_UNROLL _Pragma("GCC unroll 64") /* constant indices and shifts, arrays in registers */

/* One super-block of 16 weight rows. A weight is x = d * (sc[sub] * u) + dm * mn[sub]. */
typedef struct {
    __m512i u[64];  /* [step] lane i: codes of elements 4 step .. 4 step + 3 of row i, a byte each */
    __m512i sc[16]; /* [sub-block] lane i: scale of row i as int16, low half (high half 0; madd: both) */
    __m512i mn[8];  /* [pair q] lane i: (mn[2q], mn[2q + 1]) of row i as int16 */
    __m512 d, dm;   /* lane i: the factors of row i's isum and msum */
} ll_kq_panel_avx512;

/* How a type's super-block is read: piece = steps per partial, sub = steps per scale, pairs = mn
 * pairs (4: sub-blocks of 32 against sums of 32, 8: of 16 against the bsums), madd = partials by
 * vpmaddubsw (int16 pairs) rather than vpdpbusd (int32). */
typedef struct {
    int piece, sub, pairs, madd;
} ll_kq_shape_avx512;

static const uint8_t LL_KQ_ZERO_BLOCK_AVX512[256] __attribute__((aligned(64)));

/* ---- packing ---- */

/* Prefetch the n bytes at p into L1 (l1) or L2. Inlined: GCC takes a function made only of
 * prefetches as one without effects and drops its calls. */
LL_KQ_INLINE void kq_prefetch_avx512(const uint8_t *p, size_t n, int l1) {
    LL_KQ_UNROLL
    for (size_t off = 0; off < n; off += 64) {
        if (l1) _mm_prefetch((const char *)p + off, _MM_HINT_T0);
        else _mm_prefetch((const char *)p + off, _MM_HINT_T1);
    }
    if (l1) _mm_prefetch((const char *)p + n - 1, _MM_HINT_T0);
    else _mm_prefetch((const char *)p + n - 1, _MM_HINT_T1);
}

/* In place: r[i] dword k -> r[k] dword i (a 16 x 16 dword transpose, 64 shuffles). */
static inline void kq_transpose16_avx512(__m512i r[16]) {
    __m512i t[16];
    LL_KQ_UNROLL
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);     /* per 128 bits: a0 b0 a1 b1 */
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]); /* a2 b2 a3 b3 */
    }
    LL_KQ_UNROLL
    for (int q = 0; q < 4; q++) { /* rows 4q .. 4q + 3: r[4q + j] holds dword 4L + j in 128-bit lane L */
        r[4 * q + 0] = _mm512_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
        r[4 * q + 1] = _mm512_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
        r[4 * q + 2] = _mm512_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
        r[4 * q + 3] = _mm512_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
    }
    LL_KQ_UNROLL
    for (int j = 0; j < 4; j++) { /* 4 x 4 transpose of 128-bit lanes among r[j], r[4 + j], r[8 + j], r[12 + j] */
        const __m512i w0 = _mm512_shuffle_i32x4(r[j], r[4 + j], 0x88), w1 = _mm512_shuffle_i32x4(r[j], r[4 + j], 0xDD);
        const __m512i w2 = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0x88), w3 = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0xDD);
        t[j] = _mm512_shuffle_i32x4(w0, w2, 0x88);
        t[4 + j] = _mm512_shuffle_i32x4(w1, w3, 0x88);
        t[8 + j] = _mm512_shuffle_i32x4(w0, w2, 0xDD);
        t[12 + j] = _mm512_shuffle_i32x4(w1, w3, 0xDD);
    }
    LL_KQ_UNROLL
    for (int k = 0; k < 16; k++) r[k] = t[k];
}

/* t[k] lane i = dword k of the 64 bytes at row[i] + off. */
static inline void kq_t16_avx512(const uint8_t *const row[16], size_t off, __m512i t[16]) {
    LL_KQ_UNROLL
    for (int i = 0; i < 16; i++) t[i] = _mm512_loadu_si512(row[i] + off);
    kq_transpose16_avx512(t);
}

/* t[k] lane i = dword k of the 32 bytes at row[i] + off (k < 8): rows i and i + 8 share a vector,
 * whose halves are transposed as two 8 x 8 (24 shuffles). */
static inline void kq_t8_avx512(const uint8_t *const row[16], size_t off, __m512i t[8]) {
    __m512i y[8], v[8];
    LL_KQ_UNROLL
    for (int i = 0; i < 8; i++)
        y[i] = _mm512_inserti64x4(_mm512_castsi256_si512(load256_avx2(row[i] + off)), load256_avx2(row[i + 8] + off), 1);
    LL_KQ_UNROLL
    for (int i = 0; i < 4; i++) {
        v[2 * i] = _mm512_unpacklo_epi32(y[2 * i], y[2 * i + 1]);
        v[2 * i + 1] = _mm512_unpackhi_epi32(y[2 * i], y[2 * i + 1]);
    }
    LL_KQ_UNROLL
    for (int q = 0; q < 2; q++) { /* y[4q + j], 128-bit lane L: rows 4q .. 4q + 3 (+ 8 if L >= 2), dword 4 (L % 2) + j */
        y[4 * q + 0] = _mm512_unpacklo_epi64(v[4 * q], v[4 * q + 2]);
        y[4 * q + 1] = _mm512_unpackhi_epi64(v[4 * q], v[4 * q + 2]);
        y[4 * q + 2] = _mm512_unpacklo_epi64(v[4 * q + 1], v[4 * q + 3]);
        y[4 * q + 3] = _mm512_unpackhi_epi64(v[4 * q + 1], v[4 * q + 3]);
    }
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    LL_KQ_UNROLL
    for (int j = 0; j < 4; j++) {
        t[j] = _mm512_permutex2var_epi64(y[j], lo, y[4 + j]);
        t[4 + j] = _mm512_permutex2var_epi64(y[j], hi, y[4 + j]);
    }
}

/* u |= bits [from, from + width) of each byte of v, moved to bit `to` (within bytes: shifts of
 * 32-bit lanes whose stray bits the mask removes). */
static inline __m512i kq_or_bits_avx512(__m512i u, __m512i v, int from, int to, int width) {
    const __m512i moved = from <= to ? _mm512_slli_epi32(v, (unsigned)(to - from)) : _mm512_srli_epi32(v, (unsigned)(from - to));
    return or_and_avx512(u, moved, _mm512_set1_epi8((char)(((1 << width) - 1) << to)));
}

/* The `width` bits at bit `from` of each byte of v. */
static inline __m512i kq_bits_avx512(__m512i v, int from, int width) {
    return _mm512_and_si512(from ? _mm512_srli_epi32(v, (unsigned)from) : v, _mm512_set1_epi8((char)((1 << width) - 1)));
}

/* Dwords of int16 lanes from the bytes of each dword of x: (byte lo, byte hi), sign-extended;
 * -1: 0. One in-lane byte shuffle (index 0x80: zero) and one arithmetic shift. */
static inline __m512i kq_words_avx512(__m512i x, int lo, int hi) {
    const int z = 0x80, l = lo < 0 ? z : lo, h = hi < 0 ? z : hi;
    const __m512i lane = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0); /* dword j of 4: bytes 4j .. */
    const __m512i ctrl = _mm512_add_epi8(_mm512_set1_epi32((int)((unsigned)z | (unsigned)l << 8 | (unsigned)z << 16 | (unsigned)h << 24)), lane);
    return _mm512_srai_epi16(_mm512_shuffle_epi8(x, ctrl), 8);
}

/* sc[t] from byte t % 4 of sb[t / 4] (t < nsub), alone in the low half (madd: in both halves);
 * mn[q] from bytes 2q, 2q + 1 of mb[]. */
static inline void kq_scales_avx512(ll_kq_panel_avx512 *p, const __m512i sb[4], const __m512i mb[4], int nsub, int madd) {
    LL_KQ_UNROLL
    for (int t = 0; t < nsub; t++) p->sc[t] = kq_words_avx512(sb[t / 4], t % 4, madd ? t % 4 : -1);
    LL_KQ_UNROLL
    for (int q = 0; q < nsub / 2; q++) p->mn[q] = kq_words_avx512(mb[q / 2], 2 * (q % 2), 2 * (q % 2) + 1);
}

/* lane i = the fp16 at row[i] + off, as float. */
static inline __m512 kq_fp16_lanes_avx512(const uint8_t *const row[16], size_t off) {
    uint16_t h[16];
    LL_KQ_UNROLL
    for (int i = 0; i < 16; i++) memcpy(&h[i], row[i] + off, sizeof h[i]);
    return _mm512_cvtph_ps(load256_avx2(h));
}

/* d from the low and dm = -dmin from the high fp16 of each dword of x. */
static inline void kq_d_dmin_avx512(ll_kq_panel_avx512 *p, __m512i x) {
    p->d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(x));
    p->dm = _mm512_xor_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(x, 16))), _mm512_set1_ps(-0.0f));
}

/* Each kq_pack_<type>_avx512 fills a panel from 16 rows' super-blocks (row[i]: row i's block).
 * Q2_K: qs byte 32h + l, bits 2j -> element 128h + 32j + l (step 32h + 8j + l / 4); scales byte t:
 * sc (low nibble) and mn (high) of sub-block t. */
static void kq_pack_q2_K_avx512(ll_kq_panel_avx512 *p, const uint8_t *const row[16], int madd) {
    __m512i q[16], h[8], sb[4], mb[4];
    kq_t16_avx512(row, offsetof(block_q2_K, qs), q);
    LL_KQ_UNROLL
    for (int s = 0; s < 64; s++) p->u[s] = kq_bits_avx512(q[8 * (s / 32) + s % 8], 2 * (s / 8 % 4), 2);
    kq_t8_avx512(row, offsetof(block_q2_K, scales), h);
    LL_KQ_UNROLL
    for (int k = 0; k < 4; k++) {
        sb[k] = kq_bits_avx512(h[k], 0, 4);
        mb[k] = kq_bits_avx512(h[k], 4, 4);
    }
    kq_scales_avx512(p, sb, mb, 16, madd);
    p->d = kq_fp16_lanes_avx512(row, offsetof(block_q2_K, d));
    p->dm = _mm512_xor_ps(kq_fp16_lanes_avx512(row, offsetof(block_q2_K, dmin)), _mm512_set1_ps(-0.0f));
}

/* Q3_K: low bits as Q2_K's; hmask byte l, bit b -> bit 2 of element 32b + l (step 8b + l / 4);
 * 16 signed 6-bit scales (minus 32) packed in 12 bytes as scales_q3_K_avx2 reads them. */
static void kq_pack_q3_K_avx512(ll_kq_panel_avx512 *p, const uint8_t *const row[16], int madd) {
    __m512i q[16], hm[8], w[8], sb[4];
    kq_t16_avx512(row, offsetof(block_q3_K, qs), q);
    kq_t8_avx512(row, offsetof(block_q3_K, hmask), hm);
    LL_KQ_UNROLL
    for (int s = 0; s < 64; s++) p->u[s] = kq_or_bits_avx512(kq_bits_avx512(q[8 * (s / 32) + s % 8], 2 * (s / 8 % 4), 2), hm[s % 8], s / 8, 2, 1);
    kq_t8_avx512(row, offsetof(block_q3_K, scales) - 20, w); /* w[5 .. 7]: the 12 scale bytes */
    LL_KQ_UNROLL
    for (int k = 0; k < 4; k++) { /* low nibbles of bytes 0..3 (k = 0), 4..7 (1), high nibbles (2, 3); 2 bits of bytes 8..11 */
        const __m512i low = kq_bits_avx512(w[5 + k % 2], 4 * (k / 2), 4);
        sb[k] = _mm512_sub_epi8(kq_or_bits_avx512(low, w[7], 2 * k, 4, 2), _mm512_set1_epi8(32));
    }
    kq_scales_avx512(p, sb, sb, 16, madd); /* (u - 4) * sc: the offset term is sc * bsum */
    p->d = kq_fp16_lanes_avx512(row, offsetof(block_q3_K, d));
    p->dm = _mm512_mul_ps(_mm512_set1_ps(-4.0f), p->d);
}

/* Q4_K / Q5_K scales: 8 6-bit scales and mins packed in 12 bytes (as scale_min_k4_avx2 reads
 * them), after d, dmin: h[0] = (d, dmin), h[1 .. 3] the 12 bytes. */
static inline void kq_k4_scales_avx512(ll_kq_panel_avx512 *p, const __m512i h[8], int madd) {
    __m512i sb[4], mb[4];
    sb[0] = kq_bits_avx512(h[1], 0, 6);
    mb[0] = kq_bits_avx512(h[2], 0, 6);
    sb[1] = kq_or_bits_avx512(kq_bits_avx512(h[3], 0, 4), h[1], 6, 4, 2);
    mb[1] = kq_or_bits_avx512(kq_bits_avx512(h[3], 4, 4), h[2], 6, 4, 2);
    kq_scales_avx512(p, sb, mb, 8, madd);
    kq_d_dmin_avx512(p, h[0]);
}

/* Q4_K (has_qh 0) / Q5_K: qs byte 32j + l: low nibble -> element 64j + l, high -> 64j + 32 + l;
 * Q5_K's qh byte l, bit b -> bit 4 of element 32b + l (step 8b + l / 4). */
static inline void kq_pack_k4_avx512(ll_kq_panel_avx512 *p, const uint8_t *const row[16], size_t qs_off, size_t qh_off,
                                     int has_qh, int madd) {
    __m512i q[16], hb[8], h[8];
    if (has_qh) kq_t8_avx512(row, qh_off, hb);
    LL_KQ_UNROLL
    for (int half = 0; half < 2; half++) { /* qs dwords 16 half + k */
        kq_t16_avx512(row, qs_off + 64 * half, q);
        LL_KQ_UNROLL
        for (int k = 0; k < 16; k++) {
            const int dw = 16 * half + k, s = 16 * (dw / 8) + dw % 8; /* low nibbles: step s, high: s + 8 */
            p->u[s] = kq_bits_avx512(q[k], 0, 4);
            p->u[s + 8] = kq_bits_avx512(q[k], 4, 4);
            if (has_qh) p->u[s] = kq_or_bits_avx512(p->u[s], hb[s % 8], s / 8, 4, 1);
            if (has_qh) p->u[s + 8] = kq_or_bits_avx512(p->u[s + 8], hb[s % 8], s / 8 + 1, 4, 1);
        }
    }
    kq_t8_avx512(row, 0, h);
    kq_k4_scales_avx512(p, h, madd);
}

static void kq_pack_q4_K_avx512(ll_kq_panel_avx512 *p, const uint8_t *const row[16], int madd) {
    kq_pack_k4_avx512(p, row, offsetof(block_q4_K, qs), 0, 0, madd);
}

static void kq_pack_q5_K_avx512(ll_kq_panel_avx512 *p, const uint8_t *const row[16], int madd) {
    kq_pack_k4_avx512(p, row, offsetof(block_q5_K, qs), offsetof(block_q5_K, qh), 1, madd);
}

/* Bits 0..3 of lo, bits 4..7 of hi (one vpternlogd). */
static inline __m512i kq_merge_nibble_avx512(__m512i lo, __m512i hi) {
    return _mm512_ternarylogic_epi32(_mm512_set1_epi8(0x0F), lo, hi, 0xCA); /* mask ? lo : hi */
}

/* Q6_K: ql byte 64h + l: low nibble -> element 128h + l, high -> 128h + 64 + l; qh byte 32h + l,
 * bits 2k, 2k + 1 -> bits 4, 5 of element 128h + 32k + l (step 32h + 8k + l / 4); 16 int8 scales.
 * Per qh dword e: its bits 0, 1, 4, 5 (k = 0, 2) and 2, 3, 6, 7 (k = 1, 3), shifted to bits 4, 5,
 * leave 0 in bits 6, 7, so one select merges them with a nibble. */
static void kq_pack_q6_K_avx512(ll_kq_panel_avx512 *p, const uint8_t *const row[16], int madd) {
    __m512i ql[16], qh[8], w[8];
    LL_KQ_UNROLL
    for (int h = 0; h < 2; h++) {
        kq_t16_avx512(row, offsetof(block_q6_K, ql) + 64 * h, ql);
        kq_t8_avx512(row, offsetof(block_q6_K, qh) + 32 * h, qh);
        LL_KQ_UNROLL
        for (int e = 0; e < 8; e++) { /* steps 32h + 8k + e: ql dword e (k = 0, 2) or e + 8 (k = 1, 3) */
            const __m512i even = _mm512_and_si512(qh[e], _mm512_set1_epi8(0x33)), odd = _mm512_and_si512(qh[e], _mm512_set1_epi8((char)0xCC));
            p->u[32 * h + e] = kq_merge_nibble_avx512(ql[e], _mm512_slli_epi32(even, 4));
            p->u[32 * h + 8 + e] = kq_merge_nibble_avx512(ql[e + 8], _mm512_slli_epi32(odd, 2));
            p->u[32 * h + 16 + e] = kq_merge_nibble_avx512(_mm512_srli_epi32(ql[e], 4), even);
            p->u[32 * h + 24 + e] = kq_merge_nibble_avx512(_mm512_srli_epi32(ql[e + 8], 4), _mm512_srli_epi32(odd, 2));
        }
    }
    kq_t8_avx512(row, offsetof(block_q6_K, scales) - 16, w); /* w[4 .. 7]: the 16 scales */
    kq_scales_avx512(p, w + 4, w + 4, 16, madd); /* (u - 32) * sc: the offset term is sc * bsum */
    p->d = kq_fp16_lanes_avx512(row, offsetof(block_q6_K, d));
    p->dm = _mm512_mul_ps(_mm512_set1_ps(-32.0f), p->d);
}

typedef void (*ll_kq_pack_avx512)(ll_kq_panel_avx512 *p, const uint8_t *const row[16], int madd);

/* Packs super-block sb of `rows` (<= 16) weight rows; missing rows read as a zero block. next:
 * prefetch the rows' next super-block into L2. */
LL_KQ_INLINE void kq_pack_avx512(ll_kq_panel_avx512 *p, const uint8_t *w, int64_t w_stride, int rows, int64_t sb,
                                 size_t block_bytes, ll_kq_pack_avx512 pack, int next, int madd) {
    const uint8_t *row[16];
    LL_KQ_UNROLL
    for (int i = 0; i < 16; i++) row[i] = i < rows ? w + i * w_stride + (size_t)sb * block_bytes : LL_KQ_ZERO_BLOCK_AVX512;
    for (int i = 0; i < rows && next; i++) kq_prefetch_avx512(row[i] + block_bytes, block_bytes, 0);
    pack(p, row, madd);
}

/* ---- the product ---- */

#define LL_KQ_R_MAX 2 /* panels per register block, at most */
#define LL_KQ_T_MAX 4 /* tokens per register block, at most */

static inline __m512i kq_bcast4_avx512(const void *p) { /* the 4 bytes at p in every lane */
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

/* The 4 pairs (bsum32[2q], bsum32[2q + 1]) of a token's sums of 32 as int16 (|sum| <= 4064). */
static inline void kq_bsum32_pairs_avx512(const block_q8_K *a, int32_t pairs[4]) {
    const __m256i s = _mm256_madd_epi16(load256_avx2(a->bsums), _mm256_set1_epi16(1));
    _mm_storeu_si128((__m128i *)pairs, _mm_packs_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)));
}

/* isum[p][t] = sum over the super-block of sc * u * a, for panels pn[p < R] and tokens a[t < T]. */
LL_KQ_INLINE void kq_isum_avx512(const ll_kq_panel_avx512 *pn, const block_q8_K *const a[], ll_kq_shape_avx512 sh,
                                 __m512i isum[LL_KQ_R_MAX][LL_KQ_T_MAX], const int R, const int T) {
    for (int p = 0; p < R; p++)
        for (int t = 0; t < T; t++) isum[p][t] = _mm512_setzero_si512();
    LL_KQ_UNROLL
    for (int s0 = 0; s0 < 64; s0 += sh.piece) {
        __m512i part[LL_KQ_R_MAX][LL_KQ_T_MAX];
        for (int p = 0; p < R; p++)
            for (int t = 0; t < T; t++) part[p][t] = _mm512_setzero_si512();
        for (int s = s0; s < s0 + sh.piece; s++) {
            __m512i bc[LL_KQ_T_MAX];
            for (int t = 0; t < T; t++) bc[t] = kq_bcast4_avx512(a[t]->qs + 4 * s);
            for (int p = 0; p < R; p++) {
                const __m512i u = pn[p].u[s];
                for (int t = 0; t < T; t++) {
                    if (!sh.madd) part[p][t] = _mm512_dpbusd_epi32(part[p][t], u, bc[t]);
                    else if (s == s0) part[p][t] = _mm512_maddubs_epi16(u, bc[t]);
                    else part[p][t] = _mm512_add_epi16(part[p][t], _mm512_maddubs_epi16(u, bc[t]));
                }
            }
        }
        for (int p = 0; p < R; p++)
            for (int t = 0; t < T; t++) isum[p][t] = _mm512_dpwssd_epi32(isum[p][t], part[p][t], pn[p].sc[s0 / sh.sub]);
    }
}

/* acc[t][p] += the super-block's part of token a[t]'s dot products with the rows of pn[p]. */
LL_KQ_INLINE void kq_block_avx512(const ll_kq_panel_avx512 *pn, const block_q8_K *const a[], const uint8_t *const bp[],
                                  __m512 (*acc)[LL_KQ_PANELS_AVX512], ll_kq_shape_avx512 sh, const int R, const int T) {
    __m512i isum[LL_KQ_R_MAX][LL_KQ_T_MAX], msum[LL_KQ_R_MAX][LL_KQ_T_MAX];
    kq_isum_avx512(pn, a, sh, isum, R, T);
    for (int p = 0; p < R; p++)
        for (int t = 0; t < T; t++) msum[p][t] = _mm512_setzero_si512();
    for (int q = 0; q < sh.pairs; q++) {
        for (int t = 0; t < T; t++) {
            const __m512i bs = kq_bcast4_avx512(bp[t] + 4 * q);
            for (int p = 0; p < R; p++) msum[p][t] = _mm512_dpwssd_epi32(msum[p][t], pn[p].mn[q], bs);
        }
    }
    for (int t = 0; t < T; t++) {
        const __m512 da = _mm512_set1_ps(a[t]->d);
        for (int p = 0; p < R; p++) {
            __m512 r = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[p][t]), _mm512_mul_ps(pn[p].d, da), acc[t][p]);
            acc[t][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum[p][t]), _mm512_mul_ps(pn[p].dm, da), r);
        }
    }
}

/* Token block [t0, t0 + T) of super-block sb: at[t], and bp[t]: its mn pair operands. Tokens past nc
 * repeat the last one (their results land in spare accumulators). pf: prefetch the blocks the
 * next token block (into L1) and the next super-block (into L2) will read. */
LL_KQ_INLINE void kq_tokens_avx512(const uint8_t *a, int64_t a_stride, int nc, int64_t sb, int t0, int pf, int next,
                                   const block_q8_K *at[], const uint8_t *bp[], int32_t (*pairs)[4], ll_kq_shape_avx512 sh,
                                   const int T) {
    for (int t = 0; t < T; t++) {
        const int c = t0 + t < nc ? t0 + t : nc - 1;
        at[t] = (const block_q8_K *)(a + c * a_stride) + sb;
        if (sh.pairs == 4) kq_bsum32_pairs_avx512(at[t], pairs[t]);
        bp[t] = sh.pairs == 4 ? (const uint8_t *)pairs[t] : (const uint8_t *)at[t]->bsums;
        if (pf && next && t0 + t < nc) kq_prefetch_avx512((const uint8_t *)(at[t] + 1), sizeof(block_q8_K), 0);
        if (pf && t0 + T + t < nc) kq_prefetch_avx512(a + (t0 + T + t) * a_stride + sb * sizeof(block_q8_K), sizeof(block_q8_K), 1);
    }
}

/* Super-block sb of the R panels at pn against tokens [0, nc), T at a time. */
LL_KQ_INLINE void kq_panels_avx512(const ll_kq_panel_avx512 *pn, const uint8_t *a, int64_t a_stride, int nc, int64_t sb,
                                   int pf, int next, __m512 (*acc)[LL_KQ_PANELS_AVX512], ll_kq_shape_avx512 sh, const int R,
                                   const int T) {
    for (int t0 = 0; t0 < nc; t0 += T) {
        const block_q8_K *at[LL_KQ_T_MAX];
        const uint8_t *bp[LL_KQ_T_MAX];
        int32_t pairs[LL_KQ_T_MAX][4];
        const ll_kq_panel_avx512 *panels = pn;
        __asm__("" : "+r"(panels)); /* opaque: GCC would hoist all the panels' loads out of this loop, and spill */
        kq_tokens_avx512(a, a_stride, nc, sb, t0, pf, next, at, bp, pairs, sh, T);
        kq_block_avx512(panels, at, bp, acc + t0, sh, R, T);
    }
}

/* out[c * out_stride + 16 p + i] = lane i of acc[c][p] (row 16 p + i against token c), for rows < nr
 * and tokens < nc: a panel's 16 rows are consecutive in a token's row of out (masked for a last
 * partial panel). */
static inline void kq_store_avx512(float *out, int64_t out_stride, int nr, int nc, __m512 (*acc)[LL_KQ_PANELS_AVX512]) {
    for (int c = 0; c < nc; c++) {
        for (int p = 0; 16 * p < nr; p++) {
            const int rows = nr - 16 * p < 16 ? nr - 16 * p : 16;
            _mm512_mask_storeu_ps(out + c * out_stride + 16 * p, (__mmask16)((1u << rows) - 1), acc[c][p]);
        }
    }
}

/* A tile: for each super-block, pack the rows' panels (np, rounded up to R with zero panels),
 * then run every token over them, R panels at a time. */
LL_KQ_INLINE void kq_tile_avx512(int64_t n, float *out, int64_t out_stride, const uint8_t *w, int64_t w_stride, int nr,
                                 const uint8_t *a, int64_t a_stride, int nc, size_t block_bytes, ll_kq_pack_avx512 pack,
                                 ll_kq_shape_avx512 sh, const int R, const int T) {
    ll_kq_panel_avx512 pn[LL_KQ_PANELS_AVX512];
    __m512 acc[LL_GEMM_KQUANT_COLS_AVX512 + LL_KQ_T_MAX][LL_KQ_PANELS_AVX512]; /* [token][panel] */
    const int np = (nr + 16 * R - 1) / (16 * R) * R;
    for (int c = 0; c < nc + T; c++)
        for (int p = 0; p < np; p++) acc[c][p] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < n / QK_K; sb++) {
        const int next = sb + 1 < n / QK_K;
        for (int p = 0; p < np; p++) {
            const int rows = nr - 16 * p < 0 ? 0 : nr - 16 * p < 16 ? nr - 16 * p : 16;
            kq_pack_avx512(pn + p, rows ? w + 16 * p * w_stride : w, w_stride, rows, sb, block_bytes, pack, next, sh.madd);
        }
        for (int p0 = 0; p0 < np; p0 += R) kq_panels_avx512(pn + p0, a, a_stride, nc, sb, p0 == 0, next, (void *)&acc[0][p0], sh, R, T);
    }
    kq_store_avx512(out, out_stride, nr, nc, acc);
}

/* Per type: piece (steps per partial), sub (steps per scale), pairs (mn pairs), madd (partials by
 * vpmaddubsw in int16 pairs, scales in both halves), panels and tokens per register block. */
#define LL_KQ_PANELS_DEF_AVX512(TYPE, PIECE, SUB, PAIRS, MADD, R, T)                                                  \
    static void gemm_panels_##TYPE##_avx512(int64_t n, float *out, int64_t out_stride, const void *w,              \
                                            int64_t w_stride, int nr, const void *a, int64_t a_stride, int nc) {   \
        const ll_kq_shape_avx512 sh = {PIECE, SUB, PAIRS, MADD};                                                    \
        kq_tile_avx512(n, out, out_stride, (const uint8_t *)w, w_stride, nr, (const uint8_t *)a, a_stride, nc,     \
                       sizeof(block_##TYPE), kq_pack_##TYPE##_avx512, sh, R, T);                                   \
    }

LL_KQ_PANELS_DEF_AVX512(q2_K, 4, 4, 8, 0, 2, 4)
LL_KQ_PANELS_DEF_AVX512(q3_K, 4, 4, 8, 0, 2, 4)
LL_KQ_PANELS_DEF_AVX512(q4_K, 4, 8, 4, 0, 2, 4)
LL_KQ_PANELS_DEF_AVX512(q5_K, 2, 8, 4, 0, 2, 4)
LL_KQ_PANELS_DEF_AVX512(q6_K, 2, 4, 8, 1, 2, 4)
