/* Row-local ops fused into one launch: a chain of consecutive RMS_NORM, LAYER_NORM, ROPE,
 * KV_STORE, ADD, MUL, ADD_BIAS, SCALE, GELU_MUL, SILU_MUL, SOFTCAP, GELU_ERF ops, one block per
 * row, a barrier between ops (each op only reads rows the block itself wrote). The float math
 * follows native/ops.c: RoPE angles stepped by the host-computed ratio, GELU rounded through fp16. */
#include <math.h>
#include "common.cuh"

#define LLC_ROW_THREADS 256

/* The sum of every thread's v over the block (red: LLC_ROW_THREADS / 32 slots of shared memory). */
template <typename T>
__device__ T llc_block_sum(T v, T *red) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();  /* red may still be read from the previous sum */
    if (lane == 0) red[warp] = v;
    __syncthreads();
    T total = 0;
    for (int i = 0; i < LLC_ROW_THREADS / 32; i++) total += red[i];
    return total;
}

/* As ll_rms_norm_row / ll_layer_norm_row: squares (and the mean's terms) rounded to float, summed in double. */
__device__ void llc_norm_row(const llc_rowop &op, const float *x, float *y, double *red, bool layer_norm) {
    for (int64_t g = 0; g < op.n; g += op.group) {
        float mean = 0.0f;
        if (layer_norm) {
            double s = 0.0;
            for (int64_t i = threadIdx.x; i < op.group; i += LLC_ROW_THREADS) s += (double)x[g + i];
            mean = (float)(llc_block_sum(s, red) / (double)op.group);
        }
        double ss = 0.0;
        for (int64_t i = threadIdx.x; i < op.group; i += LLC_ROW_THREADS) {
            const float d = x[g + i] - mean;
            ss += (double)(d * d);
        }
        const float scale = 1.0f / sqrtf((float)(llc_block_sum(ss, red) / (double)op.group) + op.eps);
        for (int64_t i = threadIdx.x; i < op.group; i += LLC_ROW_THREADS) {
            const float v = (x[g + i] - mean) * scale;
            y[g + i] = layer_norm ? __fadd_rn(__fmul_rn(v, op.w ? op.w[i] : 1.0f), op.b ? op.b[i] : 0.0f)
                                  : v * (op.w ? op.w[i] : 1.0f);
        }
    }
}

/* Rotates pair i of a head by angle p * theta_scale^i (as ll_rope_row: theta stepped by products). */
__device__ __forceinline__ void llc_rope_pair(float *v, int64_t head_dim, int64_t i, int mode, float p, float theta_scale,
                                              float freq_scale, const float *freq_factors) {
    float theta = p;
    for (int64_t k = 0; k < i; k++) theta *= theta_scale;
    const float angle = freq_scale * (freq_factors ? theta / freq_factors[i] : theta);
    const float c = (float)cos((double)angle), s = (float)sin((double)angle);  /* correctly rounded, as the C library's */
    const int64_t half = head_dim / 2;
    const int64_t a = mode == 2 ? i : 2 * i, b = mode == 2 ? i + half : 2 * i + 1;
    const float x0 = v[a], x1 = v[b];
    v[a] = x0 * c - x1 * s;
    v[b] = x0 * s + x1 * c;
}

__device__ void llc_rope_row(const llc_rowop &op, const float *x, float *y, float p) {
    if (x != y) {
        for (int64_t j = threadIdx.x; j < op.n; j += LLC_ROW_THREADS) y[j] = x[j];
        __syncthreads();
    }
    const int64_t half = op.group / 2;
    for (int64_t u = threadIdx.x; u < op.n_head * half; u += LLC_ROW_THREADS)
        llc_rope_pair(y + (u / half) * op.group, op.group, u % half, op.rope_mode, p, op.rope_theta_scale,
                      op.rope_freq_scale, op.freq_factors);
}

__device__ __forceinline__ float llc_gelu(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    const float h = __half2float(__float2half_rn(x));
    const float g = 0.5f * h * (1.0f + tanhf(0.79788456080286535588f * h * (1.0f + 0.044715f * h * h)));
    return __half2float(__float2half_rn(g));
}

__device__ void llc_elementwise_row(const llc_rowop &op, const float *x, const float *x1, float *y) {
    for (int64_t j = threadIdx.x; j < op.n; j += LLC_ROW_THREADS) {
        const float v = x[j];
        float r;
        switch (op.kind) {
        case LL_OP_ADD: r = v + x1[j]; break;
        case LL_OP_MUL: r = v * x1[j]; break;
        case LL_OP_ADD_BIAS: r = v + op.b[j]; break;
        case LL_OP_SCALE: r = v * op.scale; break;
        case LL_OP_GELU_MUL: r = x1 ? llc_gelu(v) * x1[j] : llc_gelu(v); break;
        case LL_OP_SILU_MUL: r = x1 ? v / (1.0f + expf(-v)) * x1[j] : v / (1.0f + expf(-v)); break;
        case LL_OP_SOFTCAP: r = op.softcap * tanhf(v / op.softcap); break;
        case LL_OP_GELU_ERF: r = 0.5f * v * (1.0f + erff(v * 0.70710678118654752440f)); break;
        default: r = v; break;
        }
        y[j] = r;
    }
}

__device__ void llc_kv_store_row(const llc_rowop &op, const float *k, const float *v, int32_t cell) {
    for (int64_t j = threadIdx.x; j < op.n; j += LLC_ROW_THREADS) op.k_cache[cell * op.n + j] = __float2half_rn(k[j]);
    for (int64_t j = threadIdx.x; j < op.n1; j += LLC_ROW_THREADS) op.v_cache[cell * op.n1 + j] = __float2half_rn(v[j]);
}

__global__ void __launch_bounds__(LLC_ROW_THREADS) llc_rowchain_kernel(const llc_rowop *ops, int n_ops, llc_batch_dev b) {
    __shared__ double red[LLC_ROW_THREADS / 32];
    __shared__ llc_rowop chain[LLC_CHAIN_MAX];  /* one coalesced load instead of a dependent load per op */
    for (int i = threadIdx.x; i < n_ops * (int)(sizeof(llc_rowop) / 4); i += LLC_ROW_THREADS)
        ((int *)chain)[i] = ((const int *)ops)[i];
    llc_let_next_start();
    llc_wait_inputs();
    __syncthreads();
    const int r = blockIdx.x;
    for (int i = 0; i < n_ops; i++) {
        const llc_rowop &op = chain[i];
        const float *x = op.src0 + r * op.s0, *x1 = op.src1 ? op.src1 + r * op.s1 : nullptr;
        float *y = op.dst ? op.dst + r * op.sd : nullptr;
        switch (op.kind) {
        case LL_OP_RMS_NORM: llc_norm_row(op, x, y, red, false); break;
        case LL_OP_LAYER_NORM: llc_norm_row(op, x, y, red, true); break;
        case LL_OP_ROPE: llc_rope_row(op, x, y, (float)b.pos[r]); break;
        case LL_OP_KV_STORE: llc_kv_store_row(op, x, x1, b.cells[r]); break;
        default: llc_elementwise_row(op, x, x1, y); break;
        }
        __syncthreads();
    }
}

cudaError_t llc_rowchain(const llc_rowop *ops, int n_ops, int rows, llc_batch_dev b, cudaStream_t stream) {
    return llc_launch(llc_rowchain_kernel, dim3((unsigned)rows), dim3(LLC_ROW_THREADS), 0, stream, ops, n_ops, b);
}

__global__ void llc_logit_rows_kernel(const float *src, int64_t lds, float *dst, int64_t ldd, int64_t n, llc_batch_dev b) {
    llc_let_next_start();
    llc_wait_inputs();
    const float *x = src + b.logit_rows[blockIdx.x] * lds;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) dst[blockIdx.x * ldd + j] = x[j];
}

cudaError_t llc_logit_rows(const float *src, int64_t lds, float *dst, int64_t ldd, int64_t n, int n_logits,
                           llc_batch_dev b, cudaStream_t stream) {
    return llc_launch(llc_logit_rows_kernel, dim3((unsigned)n_logits), dim3(256), 0, stream, src, lds, dst, ldd, n, b);
}

/* Context shift: the keys of selected cells rotated by delta more positions (RoPE angles add). */
__global__ void llc_rerotate_kernel(__half *k, int64_t width, int head_dim, int mode, float theta_scale, float freq_scale,
                                    const float *freq_factors, const int2 *cell, int32_t seq, int32_t p0, int32_t p1,
                                    int32_t delta) {
    const int32_t c = blockIdx.x;
    const int2 info = cell[c];
    if (info.x < 0 || (seq >= 0 && info.y != seq) || info.x < p0 || (p1 >= 0 && info.x >= p1) || info.x + delta < 0) return;
    __half *row = k + c * width;
    const int64_t half = head_dim / 2;
    for (int64_t u = threadIdx.x; u < width / 2; u += blockDim.x) {
        const int64_t head = u / half, i = u % half;
        const int64_t a = mode == 2 ? i : 2 * i, bb = mode == 2 ? i + half : 2 * i + 1;
        float pair[2] = {__half2float(row[head * head_dim + a]), __half2float(row[head * head_dim + bb])};
        float theta = (float)delta;
        for (int64_t s = 0; s < i; s++) theta *= theta_scale;
        const float angle = freq_scale * (freq_factors ? theta / freq_factors[i] : theta);
        const float cs = cosf(angle), sn = sinf(angle);
        row[head * head_dim + a] = __float2half_rn(pair[0] * cs - pair[1] * sn);
        row[head * head_dim + bb] = __float2half_rn(pair[0] * sn + pair[1] * cs);
    }
}

cudaError_t llc_rerotate(__half *k, int64_t width, int head_dim, int rope_mode, float theta_scale, float freq_scale,
                         const float *freq_factors, const int2 *cell, int32_t extent, int32_t seq, int32_t p0, int32_t p1,
                         int32_t delta, cudaStream_t stream) {
    if (extent <= 0) return cudaSuccess;
    llc_rerotate_kernel<<<extent, 128, 0, stream>>>(k, width, head_dim, rope_mode, theta_scale, freq_scale, freq_factors,
                                                    cell, seq, p0, p1, delta);
    return cudaGetLastError();
}
