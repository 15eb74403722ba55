/* Internal to the CUDA backend: ggml type ids, the device-side views the kernels take, the
 * launchers each .cu file provides, and error bookkeeping. */
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <stdint.h>
#include "localllm_cuda.h"

enum llc_type { LLC_F32 = 0, LLC_F16 = 1, LLC_Q4_0 = 2, LLC_Q5_0 = 6, LLC_Q8_0 = 8, LLC_Q4_K = 12, LLC_Q5_K = 13,
                LLC_Q6_K = 14 };

#define LLC_MATVEC_ROWS 8      /* batches of at most this many rows multiply through matvec, larger through GEMM */
#define LLC_MAX_HEAD_DIM 256   /* attention: head dims are multiples of 32 up to this */
#define LLC_GROUP_MAX 3        /* matmuls sharing an input fused into one matvec launch */
#define LLC_CHAIN_MAX 12       /* row ops per fused launch (they are copied to shared memory) */
#define LLC_PROFILE_KINDS 5    /* small matmuls, row chains, attention, logit rows, the output head */

/* The batch as kernels read it: fixed device addresses (a captured decode graph replays with the
 * values llc_segment_run uploads before each launch). */
typedef struct {
    const int32_t *pos, *seq, *cells, *logit_rows;  /* [n_batch_max] */
    const int2 *cell;                               /* [n_ctx] (position, sequence) of each cell; -1: free */
    const int32_t *extent;                          /* [1] cells [0, extent) may be in use */
} llc_batch_dev;

/* One row-local op of a fused chain (RMS_NORM ... KV_STORE): pointers are device buffers. */
typedef struct {
    int kind;                         /* enum ll_op_kind */
    int64_t n, n1, group;
    const float *src0, *src1;         /* [rows, s0], [rows, s1] (src1 may be NULL) */
    float *dst;                       /* [rows, sd] */
    int64_t s0, s1, sd;
    const float *w, *b;               /* norm weight [group] / bias [n] or beta [group] */
    float eps, scale, softcap;
    int n_head, rope_mode;
    float rope_theta_scale, rope_freq_scale;  /* theta_scale = base^(-2/group), computed on the host */
    const float *freq_factors;        /* [group / 2] or NULL */
    __half *k_cache, *v_cache;        /* KV_STORE: [n_ctx, n], [n_ctx, n1] */
} llc_rowop;

typedef struct {
    const uint8_t *w;                 /* [n_out, row bytes] */
    float *y;                         /* [rows, ldy] */
    int64_t n_out, ldy;
} llc_matrix;

/* 1..LLC_GROUP_MAX matmuls of one weight type over the same input x [rows, ldx], n_in wide. */
typedef struct {
    int type;
    int count;
    int64_t n_in, ldx;
    const float *x;
    llc_matrix m[LLC_GROUP_MAX];
} llc_matmul_group;

typedef struct {
    const float *q;                   /* [rows, ldq]: head h at h * head_dim */
    float *out;                       /* [rows, ldo] */
    int64_t ldq, ldo;
    const __half *k, *v;              /* [n_ctx, kv_width] */
    int64_t kv_width;
    int n_head, n_head_kv, head_dim, window, causal;
    float scale, softcap;
    int round_q;                      /* q rounded to fp16, the f16 cache's dot type (the CPU's decode path) */
    int cpu_order;                    /* small batches in the CPU's cell order (LOCALLLM_CUDA_DECODE_ATTENTION) */
} llc_attention;

#define LLC_ATTN_TILED_ROWS 64        /* the CPU's attention takes f32 tiles from this many rows (per-cell below) */

/* How prefill GEMMs use the tensor cores (LOCALLLM_CUDA_GEMM): TF32X3 splits both operands into a
 * TF32 part and the rest and sums three TF32 products (about f32 accuracy), TF32 one product,
 * F32 no tensor cores. */
enum llc_gemm_mode { LLC_GEMM_F32 = 0, LLC_GEMM_TF32 = 1, LLC_GEMM_TF32X3 = 2 };

/* GEMM scratch: dequantized weight rows and activations rounded as the CPU's vec_dot types round
 * them; for TF32X3 also the low parts of both. */
typedef struct {
    cublasHandle_t blas;
    int mode;                         /* enum llc_gemm_mode */
    float *w, *w_lo;                  /* [w_floats] */
    int64_t w_floats;
    float *x, *x_lo;                  /* [n_batch_max * max n_in] */
} llc_gemm_scratch;

/* ---- launchers (each returns cudaSuccess or the launch error) ---- */
size_t llc_matvec_smem(int type, int64_t n_in);
cudaError_t llc_matvec_prepare(int type, int64_t n_in);   /* raises the kernel's shared-memory limit */
cudaError_t llc_matvec(const llc_matmul_group *g, int rows, cudaStream_t stream);
int llc_gemm(const llc_matmul_group *g, int index, int rows, const llc_gemm_scratch *s, cudaStream_t stream);
int64_t llc_row_bytes(int type, int64_t n);               /* 0: type not supported on the GPU */
cudaError_t llc_rowchain(const llc_rowop *ops, int n_ops, int rows, llc_batch_dev b, cudaStream_t stream);
cudaError_t llc_logit_rows(const float *src, int64_t lds, float *dst, int64_t ldd, int64_t n, int n_logits,
                           llc_batch_dev b, cudaStream_t stream);
cudaError_t llc_attention_run(const llc_attention *a, int rows, llc_batch_dev b, cudaStream_t stream);
cudaError_t llc_rerotate(__half *k, int64_t width, int head_dim, int rope_mode, float theta_scale, float freq_scale,
                         const float *freq_factors, const int2 *cell, int32_t extent, int32_t seq, int32_t p0, int32_t p1,
                         int32_t delta, cudaStream_t stream);

/* Records a failed CUDA / cuBLAS call's text for llc_last_error; returns LL_ERR_DEVICE. */
int llc_fail(const char *what, const char *detail);
#define LLC_CUDA(call)                                                                    \
    do {                                                                                  \
        const cudaError_t llc_err_ = (call);                                              \
        if (llc_err_ != cudaSuccess) return llc_fail(#call, cudaGetErrorString(llc_err_)); \
    } while (0)

/* Programmatic dependent launch (sm_90+): every kernel lets the next one on the stream start as
 * soon as all its own blocks run (llc_let_next_start), and waits for the previous kernel to finish
 * and flush its writes (llc_wait_inputs) before it reads an activation or writes anything. What
 * does not depend on earlier kernels (weights, the op table) may be fetched before the wait, so the
 * launch and the first memory latency overlap the previous kernel's tail. Without the launch
 * attribute (or before sm_90) both are no-ops and the stream orders kernels as usual. */
__device__ __forceinline__ void llc_let_next_start() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void llc_wait_inputs() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

/* Brings bytes [p, p + n) into L2, one 128-byte line per thread of the block at a time. */
__device__ __forceinline__ void llc_prefetch_l2(const uint8_t *p, int64_t n) {
    for (int64_t at = (int64_t)threadIdx.x * 128; at < n; at += (int64_t)blockDim.x * 128)
        asm volatile("prefetch.global.L2 [%0];" ::"l"(p + at));
}

/* kernel<<<grid, block, smem, stream>>>(args...) as a programmatic dependent launch (see above). */
template <typename... Params, typename... Args>
static cudaError_t llc_launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                              Args &&...args) {
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    return cudaLaunchKernelEx(&cfg, kernel, static_cast<Args &&>(args)...);
}

static inline int64_t llc_min(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t llc_max(int64_t a, int64_t b) { return a > b ? a : b; }
