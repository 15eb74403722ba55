/* Scalar reference kernels: the oracle every SIMD kernel is tested against, and the fallback
 * for any type an ISA file does not cover. Plain C, no intrinsics.
 *
 * - dequantize_row_<t>_ref: the float operations of gguf.quants.dequantize in its order (each
 *   product rounded to float: q4_K is (d * sc) * q - dmin * m), so the rows are equal bit for bit.
 * - vec_dot_<t>_<vt>_ref: exact integer sums per (sub-)block, then the block scales; the scale
 *   products and the sum over blocks are taken in double and rounded to float once, so the result
 *   is the dot product of the two rows as the formats define them, to float precision.
 * - quantize_row_<t>_ref: in quant/ref_quantize.c.
 *
 * Unpacking a block into small integers (ref_unpack_*) is shared by dequantize and vec_dot, so each
 * bit layout is written once. Static helpers carry the ref_ prefix: every ISA file lands in the
 * same translation unit (native/variant.c). */
#include "../kernels.h"

/* ---- unpacking: one block -> its integer values ---- */

/* u[32]: the nibbles of a legacy block; element j < 16 is the low nibble of qs[j], element j + 16
 * its high nibble. */
static void ref_unpack_nibbles32(const uint8_t *qs, uint8_t *u) {
    for (int j = 0; j < 16; j++) {
        u[j] = qs[j] & 0xF;
        u[j + 16] = qs[j] >> 4;
    }
}

/* u[32]: the 5-bit values of a q5_0 / q5_1 block: nibbles as above, bit 4 of element j = bit j of qh. */
static void ref_unpack_5bit32(const uint8_t *qs, const uint8_t *qh, uint8_t *u) {
    uint32_t high;
    memcpy(&high, qh, sizeof high);
    ref_unpack_nibbles32(qs, u);
    for (int j = 0; j < 32; j++) u[j] |= (uint8_t)(((high >> j) & 1u) << 4);
}

/* q[32] = nibble - 8, in -8..7 */
static void ref_unpack_q4_0(const block_q4_0 *b, int8_t *q) {
    uint8_t u[QK4_0];
    ref_unpack_nibbles32(b->qs, u);
    for (int j = 0; j < QK4_0; j++) q[j] = (int8_t)(u[j] - 8);
}

/* q[32] = 5-bit value - 16, in -16..15 */
static void ref_unpack_q5_0(const block_q5_0 *b, int8_t *q) {
    uint8_t u[QK5_0];
    ref_unpack_5bit32(b->qs, b->qh, u);
    for (int j = 0; j < QK5_0; j++) q[j] = (int8_t)(u[j] - 16);
}

/* u[256] of q2_K, 0..3: element 128h + 32s + l is bits 2s, 2s+1 of qs[32h + l]. */
static void ref_unpack_q2_K(const block_q2_K *b, uint8_t *u) {
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) u[128 * h + 32 * s + l] = (b->qs[32 * h + l] >> (2 * s)) & 3;
}

/* q[256] of q3_K, -4..3: the 2 low bits as in q2_K, minus 4 where bit 4h + s of hmask[l] is clear
 * (that is: bit e / 32 of hmask[e % 32] for element e). */
static void ref_unpack_q3_K(const block_q3_K *b, int8_t *q) {
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) {
                const int low = (b->qs[32 * h + l] >> (2 * s)) & 3;
                const int high = (b->hmask[l] >> (4 * h + s)) & 1;
                q[128 * h + 32 * s + l] = (int8_t)(low - (high ? 0 : 4));
            }
}

/* sc[16]: the 6-bit scales of q3_K minus 32: low nibble from scales[j] (j < 8) or the high nibble
 * of scales[j - 8], top 2 bits from bits 2(j/4), 2(j/4)+1 of scales[8 + j%4]. */
static void ref_unpack_q3_K_scales(const uint8_t *scales, int8_t *sc) {
    for (int j = 0; j < 16; j++) {
        const int low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
        const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = (int8_t)((low | (high << 4)) - 32);
    }
}

/* u[256] of q4_K, 0..15: element 64c + l is the low nibble of qs[32c + l], 64c + 32 + l its high one. */
static void ref_unpack_q4_K(const uint8_t *qs, uint8_t *u) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            u[64 * c + l] = qs[32 * c + l] & 0xF;
            u[64 * c + 32 + l] = qs[32 * c + l] >> 4;
        }
}

/* u[256] of q5_K, 0..31: nibbles as q4_K, plus 16 where bit e / 32 of qh[e % 32] is set (element e). */
static void ref_unpack_q5_K(const block_q5_K *b, uint8_t *u) {
    ref_unpack_q4_K(b->qs, u);
    for (int e = 0; e < QK_K; e++) u[e] |= (uint8_t)(((b->qh[e % 32] >> (e / 32)) & 1) << 4);
}

/* q[256] of q6_K, -32..31: element 128h + 32s + l has its low 4 bits in nibble s / 2 of
 * ql[64h + 32(s % 2) + l] and its top 2 bits in bits 2s, 2s+1 of qh[32h + l]. */
static void ref_unpack_q6_K(const block_q6_K *b, int8_t *q) {
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) {
                const int low = (b->ql[64 * h + 32 * (s % 2) + l] >> (4 * (s / 2))) & 0xF;
                const int high = (b->qh[32 * h + l] >> (2 * s)) & 3;
                q[128 * h + 32 * s + l] = (int8_t)((low | (high << 4)) - 32);
            }
}

/* ---- dequantize_row ---- */

void dequantize_row_f32_ref(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void dequantize_row_f16_ref(const void *src, float *dst, int64_t n) {
    const ll_fp16 *x = (const ll_fp16 *)src; /* [n] */
    for (int64_t i = 0; i < n; i++) dst[i] = ll_fp16_to_f32(x[i]);
}

void dequantize_row_bf16_ref(const void *src, float *dst, int64_t n) {
    const ll_bf16 *x = (const ll_bf16 *)src; /* [n] */
    for (int64_t i = 0; i < n; i++) dst[i] = ll_bf16_to_f32(x[i]);
}

void dequantize_row_q4_0_ref(const void *src, float *dst, int64_t n) {
    const block_q4_0 *x = (const block_q4_0 *)src; /* [n / 32] */
    int8_t q[QK4_0];
    for (int64_t b = 0; b < n / QK4_0; b++, dst += QK4_0) {
        const float d = ll_fp16_to_f32(x[b].d);
        ref_unpack_q4_0(&x[b], q);
        for (int j = 0; j < QK4_0; j++) dst[j] = d * (float)q[j];
    }
}

void dequantize_row_q4_1_ref(const void *src, float *dst, int64_t n) {
    const block_q4_1 *x = (const block_q4_1 *)src; /* [n / 32] */
    uint8_t u[QK4_1];
    for (int64_t b = 0; b < n / QK4_1; b++, dst += QK4_1) {
        const float d = ll_fp16_to_f32(x[b].d), m = ll_fp16_to_f32(x[b].m);
        ref_unpack_nibbles32(x[b].qs, u);
        for (int j = 0; j < QK4_1; j++) dst[j] = d * (float)u[j] + m;
    }
}

void dequantize_row_q5_0_ref(const void *src, float *dst, int64_t n) {
    const block_q5_0 *x = (const block_q5_0 *)src; /* [n / 32] */
    int8_t q[QK5_0];
    for (int64_t b = 0; b < n / QK5_0; b++, dst += QK5_0) {
        const float d = ll_fp16_to_f32(x[b].d);
        ref_unpack_q5_0(&x[b], q);
        for (int j = 0; j < QK5_0; j++) dst[j] = d * (float)q[j];
    }
}

void dequantize_row_q5_1_ref(const void *src, float *dst, int64_t n) {
    const block_q5_1 *x = (const block_q5_1 *)src; /* [n / 32] */
    uint8_t u[QK5_1];
    for (int64_t b = 0; b < n / QK5_1; b++, dst += QK5_1) {
        const float d = ll_fp16_to_f32(x[b].d), m = ll_fp16_to_f32(x[b].m);
        ref_unpack_5bit32(x[b].qs, x[b].qh, u);
        for (int j = 0; j < QK5_1; j++) dst[j] = d * (float)u[j] + m;
    }
}

void dequantize_row_q8_0_ref(const void *src, float *dst, int64_t n) {
    const block_q8_0 *x = (const block_q8_0 *)src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK8_0; b++, dst += QK8_0) {
        const float d = ll_fp16_to_f32(x[b].d);
        for (int j = 0; j < QK8_0; j++) dst[j] = d * (float)x[b].qs[j];
    }
}

void dequantize_row_q2_K_ref(const void *src, float *dst, int64_t n) {
    const block_q2_K *x = (const block_q2_K *)src; /* [n / 256] */
    uint8_t u[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K) {
        const float d = ll_fp16_to_f32(x[b].d), dmin = ll_fp16_to_f32(x[b].dmin);
        ref_unpack_q2_K(&x[b], u);
        for (int j = 0; j < QK_K / 16; j++) { /* sub-block j: low nibble = scale, high nibble = min */
            const float dl = d * (float)(x[b].scales[j] & 0xF), ml = dmin * (float)(x[b].scales[j] >> 4);
            for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * (float)u[16 * j + l] - ml;
        }
    }
}

void dequantize_row_q3_K_ref(const void *src, float *dst, int64_t n) {
    const block_q3_K *x = (const block_q3_K *)src; /* [n / 256] */
    int8_t q[QK_K], sc[QK_K / 16];
    for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K) {
        const float d = ll_fp16_to_f32(x[b].d);
        ref_unpack_q3_K(&x[b], q);
        ref_unpack_q3_K_scales(x[b].scales, sc);
        for (int j = 0; j < QK_K / 16; j++) {
            const float dl = d * (float)sc[j];
            for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * (float)q[16 * j + l];
        }
    }
}

/* q4_K and q5_K share the scale layout: value = (d * sc) * u - dmin * m per 32-element sub-block. */
static void ref_dequantize_k4_block(float d, float dmin, const uint8_t *scales, const uint8_t *u, float *dst) {
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        ll_get_scale_min_k4(j, scales, &sc, &m);
        const float dl = d * (float)sc, ml = dmin * (float)m;
        for (int l = 0; l < 32; l++) dst[32 * j + l] = dl * (float)u[32 * j + l] - ml;
    }
}

void dequantize_row_q4_K_ref(const void *src, float *dst, int64_t n) {
    const block_q4_K *x = (const block_q4_K *)src; /* [n / 256] */
    uint8_t u[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K) {
        ref_unpack_q4_K(x[b].qs, u);
        ref_dequantize_k4_block(ll_fp16_to_f32(x[b].d), ll_fp16_to_f32(x[b].dmin), x[b].scales, u, dst);
    }
}

void dequantize_row_q5_K_ref(const void *src, float *dst, int64_t n) {
    const block_q5_K *x = (const block_q5_K *)src; /* [n / 256] */
    uint8_t u[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K) {
        ref_unpack_q5_K(&x[b], u);
        ref_dequantize_k4_block(ll_fp16_to_f32(x[b].d), ll_fp16_to_f32(x[b].dmin), x[b].scales, u, dst);
    }
}

void dequantize_row_q6_K_ref(const void *src, float *dst, int64_t n) {
    const block_q6_K *x = (const block_q6_K *)src; /* [n / 256] */
    int8_t q[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K) {
        const float d = ll_fp16_to_f32(x[b].d);
        ref_unpack_q6_K(&x[b], q);
        for (int j = 0; j < QK_K / 16; j++) {
            const float dl = d * (float)x[b].scales[j];
            for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * (float)q[16 * j + l];
        }
    }
}

void dequantize_row_q8_K_ref(const void *src, float *dst, int64_t n) {
    const block_q8_K *x = (const block_q8_K *)src; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K) {
        for (int j = 0; j < QK_K; j++) dst[j] = x[b].d * (float)x[b].qs[j];
    }
}

/* ---- vec_dot ---- */

static int32_t ref_dot_i8(const int8_t *a, const int8_t *b, int n) {
    int32_t sum = 0;
    for (int i = 0; i < n; i++) sum += (int32_t)a[i] * b[i];
    return sum;
}

static int32_t ref_dot_u8_i8(const uint8_t *a, const int8_t *b, int n) {
    int32_t sum = 0;
    for (int i = 0; i < n; i++) sum += (int32_t)a[i] * b[i];
    return sum;
}

static int32_t ref_sum_i8(const int8_t *a, int n) {
    int32_t sum = 0;
    for (int i = 0; i < n; i++) sum += a[i];
    return sum;
}

void vec_dot_f32_f32_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = (const float *)vx, *y = (const float *)vy; /* [n], [n] */
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * (double)y[i];
    *s = (float)sum;
}

void vec_dot_f16_f16_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const ll_fp16 *x = (const ll_fp16 *)vx, *y = (const ll_fp16 *)vy; /* [n], [n] */
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)ll_fp16_to_f32(x[i]) * (double)ll_fp16_to_f32(y[i]);
    *s = (float)sum;
}

void vec_dot_bf16_bf16_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const ll_bf16 *x = (const ll_bf16 *)vx, *y = (const ll_bf16 *)vy; /* [n], [n] */
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)ll_bf16_to_f32(x[i]) * (double)ll_bf16_to_f32(y[i]);
    *s = (float)sum;
}

/* The product of two fp16 scales, exact in double. */
static double ref_scale2(ll_fp16 a, ll_fp16 b) { return (double)ll_fp16_to_f32(a) * (double)ll_fp16_to_f32(b); }

void vec_dot_q4_0_q8_0_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = (const block_q4_0 *)vx; /* [n / 32] */
    const block_q8_0 *y = (const block_q8_0 *)vy; /* [n / 32] */
    int8_t q[QK4_0];
    double sum = 0.0;
    for (int64_t b = 0; b < n / QK4_0; b++) {
        ref_unpack_q4_0(&x[b], q);
        sum += ref_scale2(x[b].d, y[b].d) * ref_dot_i8(q, y[b].qs, QK4_0);
    }
    *s = (float)sum;
}

/* value = d * u + m, so a block adds d dy sum(u qy) + m dy sum(qy). */
void vec_dot_q4_1_q8_0_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = (const block_q4_1 *)vx; /* [n / 32] */
    const block_q8_0 *y = (const block_q8_0 *)vy; /* [n / 32] */
    uint8_t u[QK4_1];
    double sum = 0.0;
    for (int64_t b = 0; b < n / QK4_1; b++) {
        ref_unpack_nibbles32(x[b].qs, u);
        sum += ref_scale2(x[b].d, y[b].d) * ref_dot_u8_i8(u, y[b].qs, QK4_1) +
               ref_scale2(x[b].m, y[b].d) * ref_sum_i8(y[b].qs, QK8_0);
    }
    *s = (float)sum;
}

void vec_dot_q5_0_q8_0_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = (const block_q5_0 *)vx; /* [n / 32] */
    const block_q8_0 *y = (const block_q8_0 *)vy; /* [n / 32] */
    int8_t q[QK5_0];
    double sum = 0.0;
    for (int64_t b = 0; b < n / QK5_0; b++) {
        ref_unpack_q5_0(&x[b], q);
        sum += ref_scale2(x[b].d, y[b].d) * ref_dot_i8(q, y[b].qs, QK5_0);
    }
    *s = (float)sum;
}

void vec_dot_q5_1_q8_0_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = (const block_q5_1 *)vx; /* [n / 32] */
    const block_q8_0 *y = (const block_q8_0 *)vy; /* [n / 32] */
    uint8_t u[QK5_1];
    double sum = 0.0;
    for (int64_t b = 0; b < n / QK5_1; b++) {
        ref_unpack_5bit32(x[b].qs, x[b].qh, u);
        sum += ref_scale2(x[b].d, y[b].d) * ref_dot_u8_i8(u, y[b].qs, QK5_1) +
               ref_scale2(x[b].m, y[b].d) * ref_sum_i8(y[b].qs, QK8_0);
    }
    *s = (float)sum;
}

void vec_dot_q8_0_q8_0_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = (const block_q8_0 *)vx; /* [n / 32] */
    const block_q8_0 *y = (const block_q8_0 *)vy; /* [n / 32] */
    double sum = 0.0;
    for (int64_t b = 0; b < n / QK8_0; b++) sum += ref_scale2(x[b].d, y[b].d) * ref_dot_i8(x[b].qs, y[b].qs, QK8_0);
    *s = (float)sum;
}

/* The k-quant dots: per super-block isum = sum_j scale_j * dot(q_j, qy_j) (exact in int32) and, for
 * the types with mins, imin = sum_j min_j * (bsums of sub-block j); the block adds
 * d * dy * isum - dmin * dy * imin. */

void vec_dot_q2_K_q8_K_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = (const block_q2_K *)vx; /* [n / 256] */
    const block_q8_K *y = (const block_q8_K *)vy; /* [n / 256] */
    uint8_t u[QK_K];
    double sum = 0.0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int32_t isum = 0, imin = 0;
        ref_unpack_q2_K(&x[b], u);
        for (int j = 0; j < QK_K / 16; j++) {
            isum += (x[b].scales[j] & 0xF) * ref_dot_u8_i8(u + 16 * j, y[b].qs + 16 * j, 16);
            imin += (x[b].scales[j] >> 4) * y[b].bsums[j];
        }
        const double dy = y[b].d;
        sum += (double)ll_fp16_to_f32(x[b].d) * dy * isum - (double)ll_fp16_to_f32(x[b].dmin) * dy * imin;
    }
    *s = (float)sum;
}

void vec_dot_q3_K_q8_K_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = (const block_q3_K *)vx; /* [n / 256] */
    const block_q8_K *y = (const block_q8_K *)vy; /* [n / 256] */
    int8_t q[QK_K], sc[QK_K / 16];
    double sum = 0.0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int32_t isum = 0;
        ref_unpack_q3_K(&x[b], q);
        ref_unpack_q3_K_scales(x[b].scales, sc);
        for (int j = 0; j < QK_K / 16; j++) isum += sc[j] * ref_dot_i8(q + 16 * j, y[b].qs + 16 * j, 16);
        sum += (double)ll_fp16_to_f32(x[b].d) * (double)y[b].d * isum;
    }
    *s = (float)sum;
}

/* One q4_K / q5_K super-block after unpacking (u[256]): 8 sub-blocks of 32 with 6-bit scales and mins. */
static double ref_dot_k4_block(ll_fp16 d, ll_fp16 dmin, const uint8_t *scales, const uint8_t *u, const block_q8_K *y) {
    int32_t isum = 0, imin = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        ll_get_scale_min_k4(j, scales, &sc, &m);
        isum += sc * ref_dot_u8_i8(u + 32 * j, y->qs + 32 * j, 32);
        imin += m * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    const double dy = y->d;
    return (double)ll_fp16_to_f32(d) * dy * isum - (double)ll_fp16_to_f32(dmin) * dy * imin;
}

void vec_dot_q4_K_q8_K_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = (const block_q4_K *)vx; /* [n / 256] */
    const block_q8_K *y = (const block_q8_K *)vy; /* [n / 256] */
    uint8_t u[QK_K];
    double sum = 0.0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        ref_unpack_q4_K(x[b].qs, u);
        sum += ref_dot_k4_block(x[b].d, x[b].dmin, x[b].scales, u, &y[b]);
    }
    *s = (float)sum;
}

void vec_dot_q5_K_q8_K_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = (const block_q5_K *)vx; /* [n / 256] */
    const block_q8_K *y = (const block_q8_K *)vy; /* [n / 256] */
    uint8_t u[QK_K];
    double sum = 0.0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        ref_unpack_q5_K(&x[b], u);
        sum += ref_dot_k4_block(x[b].d, x[b].dmin, x[b].scales, u, &y[b]);
    }
    *s = (float)sum;
}

void vec_dot_q6_K_q8_K_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = (const block_q6_K *)vx; /* [n / 256] */
    const block_q8_K *y = (const block_q8_K *)vy; /* [n / 256] */
    int8_t q[QK_K];
    double sum = 0.0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int32_t isum = 0;
        ref_unpack_q6_K(&x[b], q);
        for (int j = 0; j < QK_K / 16; j++) isum += x[b].scales[j] * ref_dot_i8(q + 16 * j, y[b].qs + 16 * j, 16);
        sum += (double)ll_fp16_to_f32(x[b].d) * (double)y[b].d * isum;
    }
    *s = (float)sum;
}

/* ---- the table ---- */

static void ref_set_type(ll_type_kernels *t, int type, const char *name, int block_size, int block_bytes,
                         int vec_dot_type, ll_dequantize_row_fn dequantize, ll_quantize_row_fn quantize,
                         ll_vec_dot_fn vec_dot) {
    t[type] = (ll_type_kernels){.name = name, .block_size = block_size, .block_bytes = block_bytes,
                                .vec_dot_type = vec_dot_type, .dequantize_row = dequantize,
                                .quantize_row = quantize, .vec_dot = vec_dot};
}

void ll_fill_kernels_ref(ll_type_kernels *t) {
    ref_set_type(t, LL_TYPE_F32, "F32", 1, sizeof(float), LL_TYPE_F32,
                 dequantize_row_f32_ref, quantize_row_f32_ref, vec_dot_f32_f32_ref);
    ref_set_type(t, LL_TYPE_F16, "F16", 1, sizeof(ll_fp16), LL_TYPE_F16,
                 dequantize_row_f16_ref, quantize_row_f16_ref, vec_dot_f16_f16_ref);
    ref_set_type(t, LL_TYPE_BF16, "BF16", 1, sizeof(ll_bf16), LL_TYPE_BF16,
                 dequantize_row_bf16_ref, quantize_row_bf16_ref, vec_dot_bf16_bf16_ref);
    ref_set_type(t, LL_TYPE_Q4_0, "Q4_0", QK4_0, sizeof(block_q4_0), LL_TYPE_Q8_0,
                 dequantize_row_q4_0_ref, quantize_row_q4_0_ref, vec_dot_q4_0_q8_0_ref);
    ref_set_type(t, LL_TYPE_Q4_1, "Q4_1", QK4_1, sizeof(block_q4_1), LL_TYPE_Q8_0,
                 dequantize_row_q4_1_ref, quantize_row_q4_1_ref, vec_dot_q4_1_q8_0_ref);
    ref_set_type(t, LL_TYPE_Q5_0, "Q5_0", QK5_0, sizeof(block_q5_0), LL_TYPE_Q8_0,
                 dequantize_row_q5_0_ref, quantize_row_q5_0_ref, vec_dot_q5_0_q8_0_ref);
    ref_set_type(t, LL_TYPE_Q5_1, "Q5_1", QK5_1, sizeof(block_q5_1), LL_TYPE_Q8_0,
                 dequantize_row_q5_1_ref, quantize_row_q5_1_ref, vec_dot_q5_1_q8_0_ref);
    ref_set_type(t, LL_TYPE_Q8_0, "Q8_0", QK8_0, sizeof(block_q8_0), LL_TYPE_Q8_0,
                 dequantize_row_q8_0_ref, quantize_row_q8_0_ref, vec_dot_q8_0_q8_0_ref);
    ref_set_type(t, LL_TYPE_Q2_K, "Q2_K", QK_K, sizeof(block_q2_K), LL_TYPE_Q8_K,
                 dequantize_row_q2_K_ref, quantize_row_q2_K_ref, vec_dot_q2_K_q8_K_ref);
    ref_set_type(t, LL_TYPE_Q3_K, "Q3_K", QK_K, sizeof(block_q3_K), LL_TYPE_Q8_K,
                 dequantize_row_q3_K_ref, quantize_row_q3_K_ref, vec_dot_q3_K_q8_K_ref);
    ref_set_type(t, LL_TYPE_Q4_K, "Q4_K", QK_K, sizeof(block_q4_K), LL_TYPE_Q8_K,
                 dequantize_row_q4_K_ref, quantize_row_q4_K_ref, vec_dot_q4_K_q8_K_ref);
    ref_set_type(t, LL_TYPE_Q5_K, "Q5_K", QK_K, sizeof(block_q5_K), LL_TYPE_Q8_K,
                 dequantize_row_q5_K_ref, quantize_row_q5_K_ref, vec_dot_q5_K_q8_K_ref);
    ref_set_type(t, LL_TYPE_Q6_K, "Q6_K", QK_K, sizeof(block_q6_K), LL_TYPE_Q8_K,
                 dequantize_row_q6_K_ref, quantize_row_q6_K_ref, vec_dot_q6_K_q8_K_ref);
    /* the activation side of the k-quant dots: no vec_dot of its own */
    ref_set_type(t, LL_TYPE_Q8_K, "Q8_K", QK_K, sizeof(block_q8_K), LL_TYPE_Q8_K,
                 dequantize_row_q8_K_ref, quantize_row_q8_K_ref, NULL);
}
