/* NEON kernels (AArch64 Advanced SIMD). Compiled only into the neon variant module (-march=armv8-a).
 *
 * Every quantized vec_dot exists twice, generated from one always-inline body:
 *   vec_dot_<x>_<y>_neon          plain Advanced SIMD: smull/smull2 + sadalp (int8 x int8 -> int32 lanes)
 *   vec_dot_<x>_<y>_neon_dotprod  sdot (vdotq_s32), in a function compiled for armv8.2-a+dotprod
 * The body receives the 16-byte integer dot step as a function pointer to an always-inline function;
 * once the body is inlined into a wrapper the pointer is a constant, so each wrapper holds straight-line
 * code with its own instruction and no call. ll_fill_kernels_neon installs the dotprod twins only when
 * cpu_features has LL_CPU_DOTPROD, so this module also runs on cores without it (Cortex-A53/A57/A72).
 *
 * Within a block every integer sum is exact; the int32 lanes are scaled into float lanes and reduced
 * once per row, so results differ from the scalar reference only by float summation order.
 * The activation quantizers reproduce the reference bit for bit: vcvtnq_s32_f32 rounds half to even,
 * vcvt_f16_f32 rounds to nearest even (FPCR default mode).
 */
#include <arm_neon.h>
#include "../kernels.h"

#define LL_INLINE static inline __attribute__((always_inline))
/* GCC 12's arm_neon.h declares vdotq_s32 under "arch=armv8.2-a+dotprod": a bare "+dotprod" on an
 * armv8-a base does not match it, this spelling works in GCC and clang. */
#define LL_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

/* ---- building blocks ---- */

/* acc + the products a[i] * b[i], summed in groups of four into the four int32 lanes. */
typedef int32x4_t (*ll_dot16_fn)(int32x4_t acc, int8x16_t a, int8x16_t b);

LL_INLINE int32x4_t ll_dot16_neon(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b))); /* |a*b| <= 16384: int16 is exact */
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

LL_TARGET_DOTPROD LL_INLINE int32x4_t ll_dot16_dotprod(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vdotq_s32(acc, a, b);
}

/* dot of 16 + 16 bytes: a0 . b0 + a1 . b1 in int32 lanes */
LL_INLINE int32x4_t ll_dot32(int8x16_t a0, int8x16_t a1, const int8_t *b, ll_dot16_fn dot) {
    return dot(dot(vdupq_n_s32(0), a0, vld1q_s8(b)), a1, vld1q_s8(b + 16));
}

LL_INLINE float ll_neon_fp16_to_f32(ll_fp16 h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

LL_INLINE ll_fp16 ll_neon_f32_to_fp16(float f) { /* round to nearest even */
    return vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(f))), 0);
}

LL_INLINE int8x16_t ll_low4(uint8x16_t q) { return vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))); }
LL_INLINE int8x16_t ll_high4(uint8x16_t q) { return vreinterpretq_s8_u8(vshrq_n_u8(q, 4)); }

/* sum of a[0..16) + b[0..16) in int32 lanes (no dot instruction needed) */
LL_INLINE int32x4_t ll_sum32_i8(int8x16_t a, int8x16_t b) {
    return vpaddlq_s16(vaddq_s16(vpaddlq_s8(a), vpaddlq_s8(b)));
}

/* acc + isum * d, lane by lane */
LL_INLINE float32x4_t ll_scale_add(float32x4_t acc, int32x4_t isum, float d) {
    return vfmaq_n_f32(acc, vcvtq_f32_s32(isum), d);
}

/* One block of a quantized row against its activation block, added to float lanes. */
typedef float32x4_t (*ll_block_dot_fn)(float32x4_t acc, const void *x, const void *y, int64_t b, ll_dot16_fn dot);

/* sum over nb blocks; two independent accumulators hide the latency of the float adds */
LL_INLINE float ll_row_dot(int64_t nb, const void *x, const void *y, ll_block_dot_fn block, ll_dot16_fn dot) {
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        acc0 = block(acc0, x, y, b, dot);
        acc1 = block(acc1, x, y, b + 1, dot);
    }
    if (b < nb) acc0 = block(acc0, x, y, b, dot);
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

/* vec_dot_<xt>_<yt>_neon and vec_dot_<xt>_<yt>_neon_dotprod over rows of n / qk blocks, block by
 * ll_block_<xt>. */
#define LL_VEC_DOT_PAIR(xt, yt, qk)                                                                  \
    static void vec_dot_##xt##_##yt##_neon(int64_t n, float *s, const void *x, const void *y) {      \
        *s = ll_row_dot(n / (qk), x, y, ll_block_##xt, ll_dot16_neon);                              \
    }                                                                                               \
    LL_TARGET_DOTPROD static void vec_dot_##xt##_##yt##_neon_dotprod(int64_t n, float *s, const void *x, \
                                                                     const void *y) {               \
        *s = ll_row_dot(n / (qk), x, y, ll_block_##xt, ll_dot16_dotprod);                           \
    }

/* ---- float rows: F32, F16, BF16 (widened to f32, fused multiply-add) ---- */

typedef float32x4_t (*ll_load4_fn)(const void *row, int64_t i); /* elements i .. i+3 as floats */
typedef float (*ll_load1_fn)(const void *row, int64_t i);

LL_INLINE float32x4_t ll_load4_f32(const void *row, int64_t i) { return vld1q_f32((const float *)row + i); }
LL_INLINE float ll_load1_f32(const void *row, int64_t i) { return ((const float *)row)[i]; }
LL_INLINE float32x4_t ll_load4_f16(const void *row, int64_t i) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const ll_fp16 *)row + i)));
}
LL_INLINE float ll_load1_f16(const void *row, int64_t i) { return ll_fp16_to_f32(((const ll_fp16 *)row)[i]); }
LL_INLINE float32x4_t ll_load4_bf16(const void *row, int64_t i) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const ll_bf16 *)row + i), 16));
}
LL_INLINE float ll_load1_bf16(const void *row, int64_t i) { return ll_bf16_to_f32(((const ll_bf16 *)row)[i]); }

LL_INLINE float ll_float_row_dot(int64_t n, const void *x, const void *y, ll_load4_fn load4, ll_load1_fn load1) {
    float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int k = 0; k < 4; k++) acc[k] = vfmaq_f32(acc[k], load4(x, i + 4 * k), load4(y, i + 4 * k));
    }
    for (; i + 4 <= n; i += 4) acc[0] = vfmaq_f32(acc[0], load4(x, i), load4(y, i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; i < n; i++) sum += load1(x, i) * load1(y, i);
    return sum;
}

static void vec_dot_f32_f32_neon(int64_t n, float *s, const void *x, const void *y) {
    *s = ll_float_row_dot(n, x, y, ll_load4_f32, ll_load1_f32); /* x, y: [n] float */
}

static void vec_dot_f16_f16_neon(int64_t n, float *s, const void *x, const void *y) {
    *s = ll_float_row_dot(n, x, y, ll_load4_f16, ll_load1_f16); /* x, y: [n] fp16 */
}

static void vec_dot_bf16_bf16_neon(int64_t n, float *s, const void *x, const void *y) {
    *s = ll_float_row_dot(n, x, y, ll_load4_bf16, ll_load1_bf16); /* x, y: [n] bf16 */
}

/* ---- legacy 32-element blocks against Q8_0 ---- */

/* 0x10 in byte j where bit (16 * half + j) of qh is set, j < 16 (the 5th bit of Q5_0 / Q5_1) */
LL_INLINE uint8x16_t ll_q5_high_bits(uint32_t qh, int half) {
    static const uint8_t index[2][16] = {{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
                                         {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3}};
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bytes = vqtbl1q_u8(vreinterpretq_u8_u32(vdupq_n_u32(qh)), vld1q_u8(index[half]));
    return vandq_u8(vtstq_u8(bytes, vld1q_u8(bit)), vdupq_n_u8(0x10));
}

/* Q4_0: x = d * (q - 8) */
LL_INLINE float32x4_t ll_block_q4_0(float32x4_t acc, const void *vx, const void *vy, int64_t b, ll_dot16_fn dot) {
    const block_q4_0 *x = (const block_q4_0 *)vx + b;
    const block_q8_0 *y = (const block_q8_0 *)vy + b;
    const uint8x16_t q = vld1q_u8(x->qs); /* low nibbles: elements 0..15, high: 16..31 */
    const int8x16_t eight = vdupq_n_s8(8);
    const int32x4_t isum = ll_dot32(vsubq_s8(ll_low4(q), eight), vsubq_s8(ll_high4(q), eight), y->qs, dot);
    return ll_scale_add(acc, isum, ll_neon_fp16_to_f32(x->d) * ll_neon_fp16_to_f32(y->d));
}

/* Q4_1: x = d * q + m, so x . y = d dy sum(q yq) + m dy sum(yq) */
LL_INLINE float32x4_t ll_block_q4_1(float32x4_t acc, const void *vx, const void *vy, int64_t b, ll_dot16_fn dot) {
    const block_q4_1 *x = (const block_q4_1 *)vx + b;
    const block_q8_0 *y = (const block_q8_0 *)vy + b;
    const uint8x16_t q = vld1q_u8(x->qs);
    const float dy = ll_neon_fp16_to_f32(y->d);
    acc = ll_scale_add(acc, ll_dot32(ll_low4(q), ll_high4(q), y->qs, dot), ll_neon_fp16_to_f32(x->d) * dy);
    const int32x4_t ysum = ll_sum32_i8(vld1q_s8(y->qs), vld1q_s8(y->qs + 16));
    return ll_scale_add(acc, ysum, ll_neon_fp16_to_f32(x->m) * dy);
}

/* Q5_0: x = d * (q - 16), q = low 4 bits | 5th bit << 4 */
LL_INLINE float32x4_t ll_block_q5_0(float32x4_t acc, const void *vx, const void *vy, int64_t b, ll_dot16_fn dot) {
    const block_q5_0 *x = (const block_q5_0 *)vx + b;
    const block_q8_0 *y = (const block_q8_0 *)vy + b;
    uint32_t qh;
    memcpy(&qh, x->qh, sizeof qh);
    const uint8x16_t q = vld1q_u8(x->qs);
    const int8x16_t sixteen = vdupq_n_s8(16);
    const int8x16_t lo = vsubq_s8(vorrq_s8(ll_low4(q), vreinterpretq_s8_u8(ll_q5_high_bits(qh, 0))), sixteen);
    const int8x16_t hi = vsubq_s8(vorrq_s8(ll_high4(q), vreinterpretq_s8_u8(ll_q5_high_bits(qh, 1))), sixteen);
    return ll_scale_add(acc, ll_dot32(lo, hi, y->qs, dot), ll_neon_fp16_to_f32(x->d) * ll_neon_fp16_to_f32(y->d));
}

/* Q5_1: x = d * q + m */
LL_INLINE float32x4_t ll_block_q5_1(float32x4_t acc, const void *vx, const void *vy, int64_t b, ll_dot16_fn dot) {
    const block_q5_1 *x = (const block_q5_1 *)vx + b;
    const block_q8_0 *y = (const block_q8_0 *)vy + b;
    uint32_t qh;
    memcpy(&qh, x->qh, sizeof qh);
    const uint8x16_t q = vld1q_u8(x->qs);
    const int8x16_t lo = vorrq_s8(ll_low4(q), vreinterpretq_s8_u8(ll_q5_high_bits(qh, 0)));
    const int8x16_t hi = vorrq_s8(ll_high4(q), vreinterpretq_s8_u8(ll_q5_high_bits(qh, 1)));
    const float dy = ll_neon_fp16_to_f32(y->d);
    acc = ll_scale_add(acc, ll_dot32(lo, hi, y->qs, dot), ll_neon_fp16_to_f32(x->d) * dy);
    const int32x4_t ysum = ll_sum32_i8(vld1q_s8(y->qs), vld1q_s8(y->qs + 16));
    return ll_scale_add(acc, ysum, ll_neon_fp16_to_f32(x->m) * dy);
}

/* Q8_0: x = d * q */
LL_INLINE float32x4_t ll_block_q8_0(float32x4_t acc, const void *vx, const void *vy, int64_t b, ll_dot16_fn dot) {
    const block_q8_0 *x = (const block_q8_0 *)vx + b;
    const block_q8_0 *y = (const block_q8_0 *)vy + b;
    const int32x4_t isum = ll_dot32(vld1q_s8(x->qs), vld1q_s8(x->qs + 16), y->qs, dot);
    return ll_scale_add(acc, isum, ll_neon_fp16_to_f32(x->d) * ll_neon_fp16_to_f32(y->d));
}

LL_VEC_DOT_PAIR(q4_0, q8_0, QK4_0)
LL_VEC_DOT_PAIR(q4_1, q8_0, QK4_1)
LL_VEC_DOT_PAIR(q5_0, q8_0, QK5_0)
LL_VEC_DOT_PAIR(q5_1, q8_0, QK5_1)
LL_VEC_DOT_PAIR(q8_0, q8_0, QK8_0)

/* ---- k-quants: 256-element super-blocks against Q8_K ----
 * x . y = dy * (d * sum_s scale_s * sum_{i in s} q_i yq_i  -  dmin * sum_s min_s * bsum_s), where the
 * min terms use the activation's precomputed 16-element sums (bsums). */

/* sum_j m[j] * bsums[j] over 16 sub-blocks, in int32 lanes */
LL_INLINE int32x4_t ll_mins16(uint8x16_t m, const int16_t *bsums) {
    const int16x8_t m0 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(m)));
    const int16x8_t m1 = vreinterpretq_s16_u16(vmovl_high_u8(m));
    const int16x8_t b0 = vld1q_s16(bsums), b1 = vld1q_s16(bsums + 8);
    int32x4_t r = vmull_s16(vget_low_s16(m0), vget_low_s16(b0));
    r = vmlal_high_s16(r, m0, b0);
    r = vmlal_s16(r, vget_low_s16(m1), vget_low_s16(b1));
    return vmlal_high_s16(r, m1, b1);
}

/* sum_j m[j] * (bsums[2j] + bsums[2j+1]) over 8 sub-blocks of 32, in int32 lanes */
LL_INLINE int32x4_t ll_mins8(const uint8_t *m, const int16_t *bsums) {
    const int16x8_t m16 = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(m)));
    const int16x8_t b32 = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8)); /* |sum| <= 4096 */
    return vmlal_high_s16(vmull_s16(vget_low_s16(m16), vget_low_s16(b32)), m16, b32);
}

/* acc + dy * (d * isum - dmin * msum), lane by lane */
LL_INLINE float32x4_t ll_k_finish(float32x4_t acc, int32x4_t isum, int32x4_t msum, float dy, ll_fp16 d, ll_fp16 dmin) {
    acc = ll_scale_add(acc, isum, dy * ll_neon_fp16_to_f32(d));
    return vfmsq_n_f32(acc, vcvtq_f32_s32(msum), dy * ll_neon_fp16_to_f32(dmin));
}

/* Q2_K: element 128h + 32j + l is bits 2j..2j+1 of qs[32h + l]; 16-element sub-block 8h + 2j + l/16
 * has scale = low nibble, min = high nibble of scales[]. */
LL_INLINE float32x4_t ll_block_q2_K(float32x4_t acc, const void *vx, const void *vy, int64_t b, ll_dot16_fn dot) {
    const block_q2_K *x = (const block_q2_K *)vx + b;
    const block_q8_K *y = (const block_q8_K *)vy + b;
    const uint8x16_t packed = vld1q_u8(x->scales);
    uint8_t scale[16];
    vst1q_u8(scale, vandq_u8(packed, vdupq_n_u8(0x0f)));
    const uint8x16_t three = vdupq_n_u8(3);
    int32x4_t isum = vdupq_n_s32(0);
    for (int h = 0; h < 2; h++) {
        uint8x16_t q0 = vld1q_u8(x->qs + 32 * h), q1 = vld1q_u8(x->qs + 32 * h + 16);
        for (int j = 0; j < 4; j++) {
            const int8_t *yq = y->qs + 128 * h + 32 * j;
            const int8x16_t a0 = vreinterpretq_s8_u8(vandq_u8(q0, three));
            const int8x16_t a1 = vreinterpretq_s8_u8(vandq_u8(q1, three));
            isum = vmlaq_n_s32(isum, dot(vdupq_n_s32(0), a0, vld1q_s8(yq)), scale[8 * h + 2 * j]);
            isum = vmlaq_n_s32(isum, dot(vdupq_n_s32(0), a1, vld1q_s8(yq + 16)), scale[8 * h + 2 * j + 1]);
            q0 = vshrq_n_u8(q0, 2);
            q1 = vshrq_n_u8(q1, 2);
        }
    }
    const int32x4_t msum = ll_mins16(vshrq_n_u8(packed, 4), y->bsums);
    return ll_k_finish(acc, isum, msum, y->d, x->d, x->dmin);
}

/* the sixteen 6-bit scales of Q3_K, minus 32: low 4 bits in scales[0..8) (low nibbles for s < 8,
 * high nibbles for s >= 8), high 2 bits at bit 2 * (s / 4) of scales[8 + s % 4] */
LL_INLINE void ll_scales_q3_K(const uint8_t *packed /* [12] */, int8_t *scale /* [16] */) {
    for (int s = 0; s < 16; s++) {
        const int low = s < 8 ? packed[s] & 0x0f : packed[s - 8] >> 4;
        const int high = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
        scale[s] = (int8_t)((low | high << 4) - 32);
    }
}

/* Q3_K: element 128h + 32j + l = (bits 2j..2j+1 of qs[32h + l]) - (bit 4h + j of hmask[l] ? 0 : 4),
 * in 16-element sub-block 8h + 2j + l/16 */
LL_INLINE float32x4_t ll_block_q3_K(float32x4_t acc, const void *vx, const void *vy, int64_t b, ll_dot16_fn dot) {
    const block_q3_K *x = (const block_q3_K *)vx + b;
    const block_q8_K *y = (const block_q8_K *)vy + b;
    int8_t scale[16];
    ll_scales_q3_K(x->scales, scale);
    const uint8x16_t three = vdupq_n_u8(3), four = vdupq_n_u8(4);
    uint8x16_t m0 = vld1q_u8(x->hmask), m1 = vld1q_u8(x->hmask + 16); /* bit 0 = the current high bit */
    int32x4_t isum = vdupq_n_s32(0);
    for (int h = 0; h < 2; h++) {
        uint8x16_t q0 = vld1q_u8(x->qs + 32 * h), q1 = vld1q_u8(x->qs + 32 * h + 16);
        for (int j = 0; j < 4; j++) {
            const int8_t *yq = y->qs + 128 * h + 32 * j;
            const int8x16_t a0 = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(q0, three), vbicq_u8(four, vshlq_n_u8(m0, 2))));
            const int8x16_t a1 = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(q1, three), vbicq_u8(four, vshlq_n_u8(m1, 2))));
            isum = vmlaq_n_s32(isum, dot(vdupq_n_s32(0), a0, vld1q_s8(yq)), scale[8 * h + 2 * j]);
            isum = vmlaq_n_s32(isum, dot(vdupq_n_s32(0), a1, vld1q_s8(yq + 16)), scale[8 * h + 2 * j + 1]);
            q0 = vshrq_n_u8(q0, 2);
            q1 = vshrq_n_u8(q1, 2);
            m0 = vshrq_n_u8(m0, 1);
            m1 = vshrq_n_u8(m1, 1);
        }
    }
    return ll_scale_add(acc, isum, y->d * ll_neon_fp16_to_f32(x->d));
}

/* the eight 6-bit scales and mins of Q4_K / Q5_K (ggml's get_scale_min_k4) */
LL_INLINE void ll_scales_k4(const uint8_t *q /* [12] */, uint8_t *scale /* [8] */, uint8_t *min /* [8] */) {
    for (int j = 0; j < 4; j++) {
        scale[j] = q[j] & 63;
        min[j] = q[j + 4] & 63;
        scale[j + 4] = (q[j + 8] & 0x0f) | (uint8_t)((q[j] >> 6) << 4);
        min[j + 4] = (q[j + 8] >> 4) | (uint8_t)((q[j + 4] >> 6) << 4);
    }
}

/* Q4_K: chunk j of 64 elements: low nibbles of qs[32j..32j+32) (scale 2j), then high nibbles
 * (scale 2j+1); x = d * scale * q - dmin * min */
LL_INLINE float32x4_t ll_block_q4_K(float32x4_t acc, const void *vx, const void *vy, int64_t b, ll_dot16_fn dot) {
    const block_q4_K *x = (const block_q4_K *)vx + b;
    const block_q8_K *y = (const block_q8_K *)vy + b;
    uint8_t scale[8], min[8];
    ll_scales_k4(x->scales, scale, min);
    int32x4_t isum = vdupq_n_s32(0);
    for (int j = 0; j < 4; j++) {
        const uint8x16_t q0 = vld1q_u8(x->qs + 32 * j), q1 = vld1q_u8(x->qs + 32 * j + 16);
        const int8_t *yq = y->qs + 64 * j;
        isum = vmlaq_n_s32(isum, ll_dot32(ll_low4(q0), ll_low4(q1), yq, dot), scale[2 * j]);
        isum = vmlaq_n_s32(isum, ll_dot32(ll_high4(q0), ll_high4(q1), yq + 32, dot), scale[2 * j + 1]);
    }
    return ll_k_finish(acc, isum, ll_mins8(min, y->bsums), y->d, x->d, x->dmin);
}

/* Q5_K: as Q4_K, plus the 5th bit of element 64j + 32i + l at bit 2j + i of qh[l] */
LL_INLINE float32x4_t ll_block_q5_K(float32x4_t acc, const void *vx, const void *vy, int64_t b, ll_dot16_fn dot) {
    const block_q5_K *x = (const block_q5_K *)vx + b;
    const block_q8_K *y = (const block_q8_K *)vy + b;
    uint8_t scale[8], min[8];
    ll_scales_k4(x->scales, scale, min);
    const uint8x16_t bit4 = vdupq_n_u8(0x10);
    uint8x16_t h0 = vld1q_u8(x->qh), h1 = vld1q_u8(x->qh + 16); /* bits 0, 1 = the current chunk */
    int32x4_t isum = vdupq_n_s32(0);
    for (int j = 0; j < 4; j++) {
        const uint8x16_t q0 = vld1q_u8(x->qs + 32 * j), q1 = vld1q_u8(x->qs + 32 * j + 16);
        const int8_t *yq = y->qs + 64 * j;
        const int8x16_t lo0 = vorrq_s8(ll_low4(q0), vreinterpretq_s8_u8(vandq_u8(vshlq_n_u8(h0, 4), bit4)));
        const int8x16_t lo1 = vorrq_s8(ll_low4(q1), vreinterpretq_s8_u8(vandq_u8(vshlq_n_u8(h1, 4), bit4)));
        const int8x16_t hi0 = vorrq_s8(ll_high4(q0), vreinterpretq_s8_u8(vandq_u8(vshlq_n_u8(h0, 3), bit4)));
        const int8x16_t hi1 = vorrq_s8(ll_high4(q1), vreinterpretq_s8_u8(vandq_u8(vshlq_n_u8(h1, 3), bit4)));
        isum = vmlaq_n_s32(isum, ll_dot32(lo0, lo1, yq, dot), scale[2 * j]);
        isum = vmlaq_n_s32(isum, ll_dot32(hi0, hi1, yq + 32, dot), scale[2 * j + 1]);
        h0 = vshrq_n_u8(h0, 2);
        h1 = vshrq_n_u8(h1, 2);
    }
    return ll_k_finish(acc, isum, ll_mins8(min, y->bsums), y->d, x->d, x->dmin);
}

/* Q6_K: half h of 128 elements, 16-element sub-block k (scale scales[8h + k]):
 *   k = 0..3: low nibbles of ql[64h + 16k ..], k = 4..7: high nibbles of ql[64h + 16(k-4) ..];
 *   bits 4..5 from qh[32h + 16(k%2) ..] >> 2(k/2); value q - 32 */
LL_INLINE float32x4_t ll_block_q6_K(float32x4_t acc, const void *vx, const void *vy, int64_t b, ll_dot16_fn dot) {
    const block_q6_K *x = (const block_q6_K *)vx + b;
    const block_q8_K *y = (const block_q8_K *)vy + b;
    const uint8x16_t bits45 = vdupq_n_u8(0x30);
    int32x4_t isum = vdupq_n_s32(0);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
        const uint8x16_t l0 = vld1q_u8(ql), l1 = vld1q_u8(ql + 16), l2 = vld1q_u8(ql + 32), l3 = vld1q_u8(ql + 48);
        const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
        const uint8x16_t q[8] = {
            vorrq_u8(vandq_u8(l0, vdupq_n_u8(0x0f)), vandq_u8(vshlq_n_u8(h0, 4), bits45)),
            vorrq_u8(vandq_u8(l1, vdupq_n_u8(0x0f)), vandq_u8(vshlq_n_u8(h1, 4), bits45)),
            vorrq_u8(vandq_u8(l2, vdupq_n_u8(0x0f)), vandq_u8(vshlq_n_u8(h0, 2), bits45)),
            vorrq_u8(vandq_u8(l3, vdupq_n_u8(0x0f)), vandq_u8(vshlq_n_u8(h1, 2), bits45)),
            vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(h0, bits45)),
            vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(h1, bits45)),
            vorrq_u8(vshrq_n_u8(l2, 4), vandq_u8(vshrq_n_u8(h0, 2), bits45)),
            vorrq_u8(vshrq_n_u8(l3, 4), vandq_u8(vshrq_n_u8(h1, 2), bits45)),
        };
        for (int k = 0; k < 8; k++) {
            const int8x16_t a = vsubq_s8(vreinterpretq_s8_u8(q[k]), vdupq_n_s8(32));
            const int32x4_t d = dot(vdupq_n_s32(0), a, vld1q_s8(y->qs + 128 * h + 16 * k));
            isum = vmlaq_n_s32(isum, d, x->scales[8 * h + k]);
        }
    }
    return ll_scale_add(acc, isum, y->d * ll_neon_fp16_to_f32(x->d));
}

LL_VEC_DOT_PAIR(q2_K, q8_K, QK_K)
LL_VEC_DOT_PAIR(q3_K, q8_K, QK_K)
LL_VEC_DOT_PAIR(q4_K, q8_K, QK_K)
LL_VEC_DOT_PAIR(q5_K, q8_K, QK_K)
LL_VEC_DOT_PAIR(q6_K, q8_K, QK_K)

/* ---- activation quantizers ---- */

LL_INLINE float ll_amax(const float *x, int64_t n) { /* max |x[i]|, n a multiple of 4 */
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n; i += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + i)));
    return vmaxvq_f32(m);
}

/* q[i] = round_half_even(x[i] * scale), clamped to [-128, hi], i < 16 */
LL_INLINE int8x16_t ll_round16(const float *x, float scale, int32_t hi) {
    const int32x4_t top = vdupq_n_s32(hi);
    int32x4_t q[4];
    for (int k = 0; k < 4; k++) q[k] = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4 * k), scale)), top);
    const int16x8_t q01 = vcombine_s16(vqmovn_s32(q[0]), vqmovn_s32(q[1]));
    const int16x8_t q23 = vcombine_s16(vqmovn_s32(q[2]), vqmovn_s32(q[3]));
    return vcombine_s8(vqmovn_s16(q01), vqmovn_s16(q23));
}

/* Q8_0: d = amax / 127, q = round_half_even(x * (127 / amax)), stored d = fp16(d) */
static void quantize_row_q8_0_neon(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = (block_q8_0 *)dst; /* [n / 32] */
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float *xb = x + b * QK8_0;
        const float amax = ll_amax(xb, QK8_0);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = ll_neon_f32_to_fp16(d);
        vst1q_s8(y[b].qs, ll_round16(xb, id, 127));
        vst1q_s8(y[b].qs + 16, ll_round16(xb + 16, id, 127));
    }
}

/* the signed value of the first element with |x[i]| == amax (amax > 0 is in the row) */
LL_INLINE float ll_first_at_amax(const float *x, int64_t n, float amax) {
    int64_t i = 0;
    while (i + 4 <= n && vmaxvq_u32(vceqq_f32(vabsq_f32(vld1q_f32(x + i)), vdupq_n_f32(amax))) == 0) i += 4;
    while (__builtin_fabsf(x[i]) != amax) i++;
    return x[i];
}

/* Q8_K: iscale = -127 / (the signed value of largest magnitude), q = min(127, round_half_even(iscale * x)),
 * d = 1 / iscale, bsums = sums of 16 */
static void quantize_row_q8_K_neon(const float *x, void *dst, int64_t n) {
    block_q8_K *y = (block_q8_K *)dst; /* [n / 256] */
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float *xb = x + b * QK_K;
        const float amax = ll_amax(xb, QK_K);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -127.0f / ll_first_at_amax(xb, QK_K, amax);
        for (int j = 0; j < QK_K / 16; j++) {
            const int8x16_t q = ll_round16(xb + 16 * j, iscale, 127);
            vst1q_s8(y[b].qs + 16 * j, q);
            y[b].bsums[j] = (int16_t)vaddlvq_s8(q);
        }
        y[b].d = 1.0f / iscale;
    }
}

/* ---- dequantize ---- */

static void dequantize_row_f16_neon(const void *src, float *dst, int64_t n) {
    const ll_fp16 *x = (const ll_fp16 *)src; /* [n] */
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
    }
    for (; i < n; i++) dst[i] = ll_fp16_to_f32(x[i]);
}

static void dequantize_row_bf16_neon(const void *src, float *dst, int64_t n) {
    const ll_bf16 *x = (const ll_bf16 *)src; /* [n] */
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(x + i), 16)));
    }
    for (; i < n; i++) dst[i] = ll_bf16_to_f32(x[i]);
}

static void dequantize_row_q8_0_neon(const void *src, float *dst, int64_t n) {
    const block_q8_0 *blocks = (const block_q8_0 *)src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float d = ll_fp16_to_f32(blocks[b].d);
        for (int j = 0; j < QK8_0; j += 8) {
            int16x8_t q16 = vmovl_s8(vld1_s8(blocks[b].qs + j));
            float32x4_t lo = vcvtq_f32_s32(vmovl_s16(vget_low_s16(q16)));
            float32x4_t hi = vcvtq_f32_s32(vmovl_s16(vget_high_s16(q16)));
            vst1q_f32(dst + b * QK8_0 + j, vmulq_n_f32(lo, d));
            vst1q_f32(dst + b * QK8_0 + j + 4, vmulq_n_f32(hi, d));
        }
    }
}

void ll_fill_kernels_neon(ll_type_kernels *t, uint32_t cpu_features) {
    const int sdot = (cpu_features & LL_CPU_DOTPROD) != 0;
    t[LL_TYPE_F16].dequantize_row = dequantize_row_f16_neon;
    t[LL_TYPE_BF16].dequantize_row = dequantize_row_bf16_neon;
    t[LL_TYPE_Q8_0].dequantize_row = dequantize_row_q8_0_neon;

    t[LL_TYPE_Q8_0].quantize_row = quantize_row_q8_0_neon;
    t[LL_TYPE_Q8_K].quantize_row = quantize_row_q8_K_neon;

    t[LL_TYPE_F32].vec_dot = vec_dot_f32_f32_neon;
    t[LL_TYPE_F16].vec_dot = vec_dot_f16_f16_neon;
    t[LL_TYPE_BF16].vec_dot = vec_dot_bf16_bf16_neon;
    t[LL_TYPE_Q4_0].vec_dot = sdot ? vec_dot_q4_0_q8_0_neon_dotprod : vec_dot_q4_0_q8_0_neon;
    t[LL_TYPE_Q4_1].vec_dot = sdot ? vec_dot_q4_1_q8_0_neon_dotprod : vec_dot_q4_1_q8_0_neon;
    t[LL_TYPE_Q5_0].vec_dot = sdot ? vec_dot_q5_0_q8_0_neon_dotprod : vec_dot_q5_0_q8_0_neon;
    t[LL_TYPE_Q5_1].vec_dot = sdot ? vec_dot_q5_1_q8_0_neon_dotprod : vec_dot_q5_1_q8_0_neon;
    t[LL_TYPE_Q8_0].vec_dot = sdot ? vec_dot_q8_0_q8_0_neon_dotprod : vec_dot_q8_0_q8_0_neon;
    t[LL_TYPE_Q2_K].vec_dot = sdot ? vec_dot_q2_K_q8_K_neon_dotprod : vec_dot_q2_K_q8_K_neon;
    t[LL_TYPE_Q3_K].vec_dot = sdot ? vec_dot_q3_K_q8_K_neon_dotprod : vec_dot_q3_K_q8_K_neon;
    t[LL_TYPE_Q4_K].vec_dot = sdot ? vec_dot_q4_K_q8_K_neon_dotprod : vec_dot_q4_K_q8_K_neon;
    t[LL_TYPE_Q5_K].vec_dot = sdot ? vec_dot_q5_K_q8_K_neon_dotprod : vec_dot_q5_K_q8_K_neon;
    t[LL_TYPE_Q6_K].vec_dot = sdot ? vec_dot_q6_K_q8_K_neon_dotprod : vec_dot_q6_K_q8_K_neon;
}
