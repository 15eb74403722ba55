/* localllm native core: the one header cffi sees.
 *
 * Rules for this file (native/build.py feeds it to cffi's cdef after dropping '#' lines):
 *   - only plain declarations: no macros inside declarations, no inline functions;
 *   - every function returns an ll_status (0 = LL_OK) or a plain value that cannot fail;
 *   - nothing here ever aborts the process.
 */
#ifndef LOCALLLM_H
#define LOCALLLM_H
#include <stddef.h>
#include <stdint.h>

/* Status codes returned by every fallible call. */
enum ll_status {
    LL_OK = 0,
    LL_ERR_INVALID_ARG = 1,   /* a size, pointer or enum value out of range */
    LL_ERR_UNSUPPORTED = 2,   /* no kernel for this ggml type */
    LL_ERR_NOMEM = 3,         /* an allocation failed */
    LL_ERR_ABORTED = 4        /* the abort flag was raised */
};

/* CPU feature bits reported by ll_cpu_features(). */
enum ll_cpu_feature {
    LL_CPU_SSE3 = 1,
    LL_CPU_SSSE3 = 2,
    LL_CPU_AVX = 4,
    LL_CPU_AVX2 = 8,
    LL_CPU_FMA = 16,
    LL_CPU_F16C = 32,
    LL_CPU_BMI2 = 64,
    LL_CPU_AVX512F = 128,
    LL_CPU_AVX512BW = 256,
    LL_CPU_AVX512DQ = 512,
    LL_CPU_AVX512VL = 1024,
    LL_CPU_AVX512VNNI = 2048,
    LL_CPU_AVX512BF16 = 4096,
    LL_CPU_AVXVNNI = 8192,
    LL_CPU_NEON = 16384,
    LL_CPU_DOTPROD = 32768
};

/* Kernel levels, one per compiled variant module (localllm._native_<level>). */
enum ll_isa_level {
    LL_ISA_SCALAR = 0,
    LL_ISA_AVX2 = 1,     /* AVX2 + FMA + F16C + BMI2 */
    LL_ISA_AVX512 = 2,   /* AVX-512 F/BW/DQ/VL + VNNI */
    LL_ISA_NEON = 3      /* AArch64 Advanced SIMD (dotprod chosen at run time) */
};

/* Bitmask of enum ll_cpu_feature, read once from cpuid (x86) or getauxval (arm64),
 * including the OS check that the wide registers are saved on context switch. */
uint32_t ll_cpu_features(void);

/* The kernel level this module was compiled for (enum ll_isa_level). */
int ll_isa_level(void);

/* Human-readable text for a status code; never NULL. */
const char *ll_status_str(int status);

/* 1 if `ggml_type` is known to the kernel table of this module, else 0. */
int ll_type_supported(int ggml_type);

/* Block geometry of a type and the activation type its vec_dot takes. */
int ll_type_info(int ggml_type, int *block_size, int *block_bytes, int *vec_dot_type);

/* Dequantize `n_elements` values of one row of ggml type `ggml_type` from `src` to `dst`.
 * n_elements must be a multiple of the type's block size.
 * src: [n_elements / block_size] blocks; dst: [n_elements] float. */
int ll_dequantize_row(int ggml_type, const void *src, float *dst, int64_t n_elements);

/* Quantize `n_elements` floats into one row of `ggml_type` (the reference quantizer of the type;
 * the SIMD one for the activation types). src: [n_elements]; dst: [n_elements / block_size] blocks. */
int ll_quantize_row(int ggml_type, const float *src, void *dst, int64_t n_elements);

/* *result = dot(x, y) over n_elements: x a row of `ggml_type`, y a row of its vec_dot_type. */
int ll_vec_dot(int ggml_type, int64_t n_elements, const void *x, const void *y, float *result);

/* ---- Context, thread pool and matmul ---- */

/* An opaque native context: a persistent pool of threads (the caller plus n_threads - 1 workers
 * that live until ll_ctx_free) and the scratch memory of the calls made through it. Calls on one
 * context from several threads are serialized. */
typedef struct ll_ctx ll_ctx;

/* *out = a new context that runs parallel work on n_threads threads (1 <= n_threads <= 256).
 * LL_ERR_INVALID_ARG for a bad count, LL_ERR_NOMEM when memory or a thread cannot be had. */
int ll_ctx_new(int n_threads, ll_ctx **out);

/* Stops the workers and frees the context. NULL is a no-op. */
void ll_ctx_free(ll_ctx *ctx);

/* The thread count the context was made with (0 for NULL). */
int ll_ctx_n_threads(const ll_ctx *ctx);

/* y[n_tok, n_out] = x[n_tok, n_in] @ W[n_out, n_in]^T on the context's threads.
 * w: n_out rows of ggml type w_type, each n_in values (n_in a whole number of blocks of w_type and
 * of its vec_dot_type); x: [n_tok, n_in] float; y: [n_tok, n_out] float (must not overlap x).
 * x is quantized once to the vec_dot_type (Q8_0 / Q8_K for quantized types), into scratch memory
 * the context owns. LL_ERR_UNSUPPORTED when w_type has no vec_dot kernel. */
int ll_matmul(ll_ctx *ctx, int w_type, const void *w, int64_t n_out, int64_t n_in, const float *x,
              int64_t n_tok, float *y);

/* Reads buf[n_bytes] once, split among the context's threads as decode matmul splits its weight
 * rows, and stores a checksum of what it read in *checksum: the streaming read bandwidth that
 * bounds decode (benchmarks time this call). */
int ll_bench_read(ll_ctx *ctx, const void *buf, int64_t n_bytes, uint64_t *checksum);

#endif
