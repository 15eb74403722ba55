/* The kernel table: filled once per module. ll_fill_kernels_ref gives every slot its scalar
 * kernel; then the fill function of each ISA this variant was compiled for (LL_WITH_AVX2 /
 * LL_WITH_AVX512 / LL_WITH_NEON, set by native/build.py) overrides the slots it implements, so a
 * missing SIMD kernel falls back to the scalar one. */
#include <pthread.h>
#include "include/localllm.h"
#include "kernels.h"

ll_type_kernels LL_KERNELS[LL_TYPE_COUNT];
ll_attn_kernels LL_ATTN_KERNELS;
ll_act_kernels LL_ACT_KERNELS;

static void ll_fill_table(void) {
    ll_fill_kernels_ref(LL_KERNELS);
    ll_fill_attn_kernels_ref(&LL_ATTN_KERNELS);
    ll_fill_act_kernels_ref(&LL_ACT_KERNELS);
#if LL_WITH_AVX2
    ll_fill_kernels_avx2(LL_KERNELS);
    ll_fill_attn_kernels_avx2(&LL_ATTN_KERNELS);
    ll_fill_act_kernels_avx2(&LL_ACT_KERNELS);
#endif
#if LL_WITH_AVX512
    ll_fill_kernels_avx512(LL_KERNELS);
    ll_fill_attn_kernels_avx512(&LL_ATTN_KERNELS);
    ll_fill_act_kernels_avx512(&LL_ACT_KERNELS);
#endif
#if LL_WITH_NEON
    ll_fill_kernels_neon(LL_KERNELS, ll_cpu_features());
#endif
}

void ll_kernels_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ll_fill_table);
}

int ll_isa_level(void) { return LL_BUILD_LEVEL; }

const char *ll_status_str(int status) {
    switch (status) {
    case LL_OK: return "ok";
    case LL_ERR_INVALID_ARG: return "invalid argument";
    case LL_ERR_UNSUPPORTED: return "unsupported ggml type";
    case LL_ERR_NOMEM: return "out of memory";
    case LL_ERR_ABORTED: return "aborted";
    case LL_ERR_KV_FULL: return "the KV cache is full";
    case LL_ERR_DEVICE: return "the offload device failed";
    default: return "unknown status";
    }
}

/* The table entry of a type, or NULL when the id is out of range or has no kernels. */
static const ll_type_kernels *ll_kernels_for(int ggml_type) {
    ll_kernels_init();
    if (ggml_type < 0 || ggml_type >= LL_TYPE_COUNT) return NULL;
    return LL_KERNELS[ggml_type].name ? &LL_KERNELS[ggml_type] : NULL;
}

static int ll_row_ok(const ll_type_kernels *k, int64_t n) { return n >= 0 && n % k->block_size == 0; }

int ll_type_supported(int ggml_type) { return ll_kernels_for(ggml_type) != NULL; }

int ll_type_info(int ggml_type, int *block_size, int *block_bytes, int *vec_dot_type) {
    const ll_type_kernels *k = ll_kernels_for(ggml_type);
    if (!k) return LL_ERR_UNSUPPORTED;
    *block_size = k->block_size;
    *block_bytes = k->block_bytes;
    *vec_dot_type = k->vec_dot_type;
    return LL_OK;
}

int ll_dequantize_row(int ggml_type, const void *src, float *dst, int64_t n_elements) {
    const ll_type_kernels *k = ll_kernels_for(ggml_type);
    if (!k || !k->dequantize_row) return LL_ERR_UNSUPPORTED;
    if (!src || !dst || !ll_row_ok(k, n_elements)) return LL_ERR_INVALID_ARG;
    k->dequantize_row(src, dst, n_elements);
    return LL_OK;
}

int ll_quantize_row(int ggml_type, const float *src, void *dst, int64_t n_elements) {
    const ll_type_kernels *k = ll_kernels_for(ggml_type);
    if (!k || !k->quantize_row) return LL_ERR_UNSUPPORTED;
    if (!src || !dst || !ll_row_ok(k, n_elements)) return LL_ERR_INVALID_ARG;
    k->quantize_row(src, dst, n_elements);
    return LL_OK;
}

int ll_vec_dot(int ggml_type, int64_t n_elements, const void *x, const void *y, float *result) {
    const ll_type_kernels *k = ll_kernels_for(ggml_type);
    if (!k || !k->vec_dot) return LL_ERR_UNSUPPORTED;
    if (!x || !y || !result || !ll_row_ok(k, n_elements)) return LL_ERR_INVALID_ARG;
    if (!ll_row_ok(&LL_KERNELS[k->vec_dot_type], n_elements)) return LL_ERR_INVALID_ARG;
    k->vec_dot(n_elements, result, x, y);
    return LL_OK;
}
