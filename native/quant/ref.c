/* Scalar reference kernels: the oracle every SIMD kernel is tested against, and the fallback
 * for any type an ISA file does not cover. Plain C, no intrinsics. */
#include "../kernels.h"

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

void dequantize_row_q8_0_ref(const void *src, float *dst, int64_t n) {
    const block_q8_0 *blocks = (const block_q8_0 *)src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float d = ll_fp16_to_f32(blocks[b].d);
        for (int j = 0; j < QK8_0; j++) dst[b * QK8_0 + j] = d * (float)blocks[b].qs[j];
    }
}

static void ll_set_type(ll_type_kernels *t, int type, const char *name, int block_size, int block_bytes,
                        int vec_dot_type, ll_dequantize_row_fn dequantize) {
    t[type] = (ll_type_kernels){.name = name, .block_size = block_size, .block_bytes = block_bytes,
                                .vec_dot_type = vec_dot_type, .dequantize_row = dequantize};
}

void ll_fill_kernels_ref(ll_type_kernels *t) {
    ll_set_type(t, LL_TYPE_F32, "F32", 1, 4, LL_TYPE_F32, dequantize_row_f32_ref);
    ll_set_type(t, LL_TYPE_F16, "F16", 1, 2, LL_TYPE_F16, dequantize_row_f16_ref);
    ll_set_type(t, LL_TYPE_BF16, "BF16", 1, 2, LL_TYPE_BF16, dequantize_row_bf16_ref);
    ll_set_type(t, LL_TYPE_Q8_0, "Q8_0", QK8_0, sizeof(block_q8_0), LL_TYPE_Q8_0, dequantize_row_q8_0_ref);
}
