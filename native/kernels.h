/* Internal: the kernel table and what every ISA file provides.
 *
 * Each ISA file (quant/ref.c, quant/avx2.c, quant/avx512.c, quant/neon.c) defines its kernels with
 * its suffix (vec_dot_q4_K_q8_K_avx2, dequantize_row_q8_0_ref, ...) and one fill function that
 * writes the slots it implements into the table. dispatch.c calls ll_fill_kernels_ref first (every
 * slot gets its scalar twin), then the fill function of each ISA this module was compiled for.
 */
#ifndef LL_KERNELS_H
#define LL_KERNELS_H
#include <stdint.h>
#include <string.h>
#include "quant/blocks.h"

/* dst[n] = the n values of a row of this type. n is a multiple of block_size. */
typedef void (*ll_dequantize_row_fn)(const void *src, float *dst, int64_t n);
/* The row of this type closest to src[n] (the reference quantizer; for the activation types
 * Q8_0 / Q8_K also the fast path used by matmul). n is a multiple of block_size. */
typedef void (*ll_quantize_row_fn)(const float *src, void *dst, int64_t n);
/* *s = sum_i x[i] * y[i] over n elements; x: a row of this type, y: a row of its vec_dot_type. */
typedef void (*ll_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);
/* A tile of a matmul, for prefill: out[r * out_stride + c] = dot(w_r, a_c) for r < nr, c < nc,
 * with w_r = w + r * w_stride bytes (this type) and a_c = a + c * a_stride bytes (vec_dot_type).
 * Optional: NULL means matmul loops vec_dot. */
typedef void (*ll_gemm_tile_fn)(int64_t n, float *out, int64_t out_stride, const void *w, int64_t w_stride,
                                int nr, const void *a, int64_t a_stride, int nc);

typedef struct {
    const char *name;                    /* "Q4_K" ... (NULL: type unknown to the table) */
    int block_size;                      /* elements per block */
    int block_bytes;                     /* bytes per block */
    int vec_dot_type;                    /* enum ll_ggml_type of the activation row vec_dot takes */
    ll_dequantize_row_fn dequantize_row;
    ll_quantize_row_fn quantize_row;
    ll_vec_dot_fn vec_dot;
    ll_gemm_tile_fn gemm_tile;
    int gemm_tile_rows;                  /* most weight rows gemm_tile takes at once (nr <= this) */
    int gemm_tile_cols;                  /* most activation rows gemm_tile takes at once (nc <= this) */
} ll_type_kernels;

extern ll_type_kernels LL_KERNELS[LL_TYPE_COUNT];
void ll_kernels_init(void); /* idempotent, thread-safe */

void ll_fill_kernels_ref(ll_type_kernels *table);
void ll_fill_kernels_avx2(ll_type_kernels *table);
void ll_fill_kernels_avx512(ll_type_kernels *table);
void ll_fill_kernels_neon(ll_type_kernels *table, uint32_t cpu_features);

/* ---- scalar conversions shared by every file ---- */
static inline float ll_bits_to_f32(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint32_t ll_f32_to_bits(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* IEEE half -> float, exact for every input (subnormals, inf, NaN payloads). */
static inline float ll_fp16_to_f32(ll_fp16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0x1f) return ll_bits_to_f32(sign | 0x7f800000u | (mantissa << 13));
    if (exponent != 0) return ll_bits_to_f32(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    if (mantissa == 0) return ll_bits_to_f32(sign);
    uint32_t shift = 0; /* subnormal: renormalize so the leading 1 lands on bit 10 */
    while (!(mantissa & 0x400u)) {
        mantissa <<= 1;
        shift++;
    }
    return ll_bits_to_f32(sign | ((113u - shift) << 23) | ((mantissa & 0x3ffu) << 13));
}

static inline float ll_bf16_to_f32(ll_bf16 h) { return ll_bits_to_f32((uint32_t)h << 16); }

/* The scalar twins every SIMD file may call for row tails. */
void dequantize_row_f16_ref(const void *src, float *dst, int64_t n);
void dequantize_row_bf16_ref(const void *src, float *dst, int64_t n);

#endif
