/* Matrix products y[rows, n_out] = x[rows, n_in] @ W^T with W in its GGUF quantized form.
 *   decode (rows <= LLC_MATVEC_ROWS): matvec; each block quantizes its x row into shared memory
 *     as the CPU does (Q8_0 / Q8_K), then one warp per weight row unpacks 8 values per lane in
 *     registers and multiplies them with dp4a; up to LLC_GROUP_MAX matrices sharing x in one launch;
 *   prefill: the weights dequantized to f32 in row chunks, x rounded as the CPU rounds it, and
 *     cuBLAS SGEMM on the tensor cores: by default three TF32 products of the operands split into
 *     high and low parts, which keeps f32 accuracy (see enum llc_gemm_mode). */
#include "quant.cuh"

#define LLC_MV_WARPS 4

__device__ __forceinline__ float llc_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* x row -> xq [n_in] int8, xd [n_in / 32] scale of each 32 values, xs [n_in / 8] d * sum(q) of each 8. */
template <bool K_ACT>
__device__ void llc_quantize_row_smem(const float *x, int64_t n_in, int8_t *xq, float *xd, float *xs) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int64_t base = (int64_t)warp * 256; base < n_in; base += (int64_t)LLC_MV_WARPS * 256) {
        const int64_t at = base + lane * 8;
        const bool active = at < n_in;
        float v[8];
        for (int i = 0; i < 8; i++) v[i] = active ? x[at + i] : 0.0f;
        int8_t q[8];
        const float d = llc_quantize8(v, K_ACT, lane, q);
        if (!active) continue;
        int sum = 0;
        for (int i = 0; i < 8; i++) {
            xq[at + i] = q[i];
            sum += q[i];
        }
        xs[at / 8] = d * (float)sum;
        if ((lane & 3) == 0) xd[at / 32] = d;
    }
}

template <typename T>
__global__ void __launch_bounds__(LLC_MV_WARPS * 32) llc_matvec_q(const __grid_constant__ llc_matmul_group g, int rows_per_block) {
    extern __shared__ __align__(16) uint8_t smem[];
    const int64_t n_in = g.n_in;
    int8_t *xq = (int8_t *)smem;
    float *xd = (float *)(smem + n_in), *xs = xd + n_in / 32;
    const llc_matrix mat = g.m[blockIdx.y];
    const int64_t row0 = (int64_t)blockIdx.x * rows_per_block, row_bytes = n_in / T::QK * T::BYTES;
    llc_let_next_start();
    if (row0 < mat.n_out) llc_prefetch_l2(mat.w + row0 * row_bytes, (min(row0 + rows_per_block, mat.n_out) - row0) * row_bytes);
    llc_wait_inputs();
    if (row0 >= mat.n_out) return;
    llc_quantize_row_smem<T::K_ACT>(g.x + blockIdx.z * g.ldx, n_in, xq, xd, xs);
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, cpb = T::QK / 8;
    const int64_t n_chunks = n_in / 8;
    const int64_t row_end = min(row0 + rows_per_block, mat.n_out);
    for (int64_t row = row0 + warp; row < row_end; row += LLC_MV_WARPS) {
        const uint8_t *wr = mat.w + row * row_bytes;
        float acc = 0.0f;
        for (int64_t c = lane; c < n_chunks; c += 32) {
            const llc_chunk k = T::get(wr + (c / cpb) * T::BYTES, (int)(c % cpb));
            const int2 xv = *(const int2 *)(xq + 8 * c);
            const int sumi = __dp4a(k.q0, xv.x, __dp4a(k.q1, xv.y, 0));
            acc += k.s * (xd[c >> 2] * (float)sumi) - k.m * xs[c];
        }
        acc = llc_warp_sum(acc);
        if (lane == 0) mat.y[blockIdx.z * mat.ldy + row] = acc;
    }
}

/* F32 / F16 weights: x in shared memory as the CPU's vec_dot type holds it (f32, or rounded to f16). */
template <bool F16W>
__global__ void __launch_bounds__(LLC_MV_WARPS * 32) llc_matvec_f(const __grid_constant__ llc_matmul_group g, int rows_per_block) {
    extern __shared__ __align__(16) float xf[];
    const int64_t n_in = g.n_in;
    const llc_matrix mat = g.m[blockIdx.y];
    const int64_t row0 = (int64_t)blockIdx.x * rows_per_block, row_bytes = n_in * (F16W ? 2 : 4);
    llc_let_next_start();
    if (row0 < mat.n_out) llc_prefetch_l2(mat.w + row0 * row_bytes, (min(row0 + rows_per_block, mat.n_out) - row0) * row_bytes);
    llc_wait_inputs();
    if (row0 >= mat.n_out) return;
    const float *x = g.x + blockIdx.z * g.ldx;
    for (int64_t j = threadIdx.x; j < n_in; j += blockDim.x) xf[j] = F16W ? __half2float(__float2half_rn(x[j])) : x[j];
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t row_end = min(row0 + rows_per_block, mat.n_out);
    for (int64_t row = row0 + warp; row < row_end; row += LLC_MV_WARPS) {
        float acc = 0.0f;
        for (int64_t c = lane; c < n_in / 8; c += 32) {
            float w[8];
            if (F16W) {
                const uint4 raw = ((const uint4 *)(mat.w + row * n_in * 2))[c];
                const __half2 *h = (const __half2 *)&raw;
                for (int i = 0; i < 4; i++) { const float2 f = __half22float2(h[i]); w[2 * i] = f.x; w[2 * i + 1] = f.y; }
            } else {
                const float4 *p = (const float4 *)(mat.w + row * n_in * 4) + 2 * c;
                const float4 a = p[0], b = p[1];
                w[0] = a.x; w[1] = a.y; w[2] = a.z; w[3] = a.w; w[4] = b.x; w[5] = b.y; w[6] = b.z; w[7] = b.w;
            }
            for (int i = 0; i < 8; i++) acc += w[i] * xf[8 * c + i];
        }
        acc = llc_warp_sum(acc);
        if (lane == 0) mat.y[blockIdx.z * mat.ldy + row] = acc;
    }
}

int64_t llc_row_bytes(int type, int64_t n) {
    switch (type) {
    case LLC_F32: return n * 4;
    case LLC_F16: return n * 2;
    case LLC_Q4_0: return n / 32 * 18;
    case LLC_Q5_0: return n / 32 * 22;
    case LLC_Q8_0: return n / 32 * 34;
    case LLC_Q4_K: return n % 256 ? 0 : n / 256 * 144;
    case LLC_Q5_K: return n % 256 ? 0 : n / 256 * 176;
    case LLC_Q6_K: return n % 256 ? 0 : n / 256 * 210;
    default: return 0;
    }
}

size_t llc_matvec_smem(int type, int64_t n_in) {
    if (type == LLC_F32 || type == LLC_F16) return (size_t)n_in * 4;
    return (size_t)n_in + (size_t)n_in / 32 * 4 + (size_t)n_in / 8 * 4;
}

/* Calls f(kernel) with the matvec kernel of `type`. */
template <typename F>
static cudaError_t llc_with_matvec(int type, F f) {
    switch (type) {
    case LLC_F32: return f(llc_matvec_f<false>);
    case LLC_F16: return f(llc_matvec_f<true>);
    case LLC_Q4_0: return f(llc_matvec_q<llc_q4_0>);
    case LLC_Q5_0: return f(llc_matvec_q<llc_q5_0>);
    case LLC_Q8_0: return f(llc_matvec_q<llc_q8_0>);
    case LLC_Q4_K: return f(llc_matvec_q<llc_q4_K>);
    case LLC_Q5_K: return f(llc_matvec_q<llc_q5_K>);
    case LLC_Q6_K: return f(llc_matvec_q<llc_q6_K>);
    default: return cudaErrorInvalidValue;
    }
}

cudaError_t llc_matvec_prepare(int type, int64_t n_in) {
    const int smem = (int)llc_matvec_smem(type, n_in);
    return llc_with_matvec(type, [&](auto kernel) {
        return smem > 48 * 1024 ? cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem)
                                : cudaSuccess;
    });
}

cudaError_t llc_matvec(const llc_matmul_group *g, int rows, cudaStream_t stream) {
    int64_t widest = 0;
    for (int i = 0; i < g->count; i++) widest = max(widest, g->m[i].n_out);
    const int rows_per_block = widest >= 16384 ? 32 : LLC_MV_WARPS;  /* big matrices: x quantized fewer times */
    const dim3 grid((unsigned)((widest + rows_per_block - 1) / rows_per_block), (unsigned)g->count, (unsigned)rows);
    const size_t smem = llc_matvec_smem(g->type, g->n_in);
    return llc_with_matvec(g->type, [&](auto kernel) {
        return llc_launch(kernel, grid, dim3(LLC_MV_WARPS * 32), smem, stream, *g, rows_per_block);
    });
}

/* ---- prefill: dequantize + SGEMM ---- */

template <typename T>
__global__ void llc_dequantize(const uint8_t *w, int64_t n_rows, int64_t n_in, float *out) {
    const int64_t n_chunks = n_in / 8, idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n_rows * n_chunks) return;
    const int64_t row = idx / n_chunks, c = idx % n_chunks, cpb = T::QK / 8;
    const llc_chunk k = T::get(w + row * (n_in / T::QK * T::BYTES) + (c / cpb) * T::BYTES, (int)(c % cpb));
    float4 lo, hi;
    float *v = &lo.x, *u = &hi.x;
    for (int i = 0; i < 4; i++) {
        v[i] = k.s * (float)(int8_t)(k.q0 >> (8 * i)) - k.m;
        u[i] = k.s * (float)(int8_t)(k.q1 >> (8 * i)) - k.m;
    }
    float4 *o = (float4 *)(out + row * n_in + 8 * c);
    o[0] = lo;
    o[1] = hi;
}

__global__ void llc_dequantize_f16(const __half *w, int64_t n, float *out) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __half2float(w[i]);
}

enum { LLC_ACT_F16 = 1, LLC_ACT_Q8_0 = 2, LLC_ACT_Q8_K = 3 };

/* out[rows, n_in] = x rounded as the CPU's vec_dot type of the weights rounds it (dequantized back). */
template <int MODE>
__global__ void llc_round_activations(const float *x, int64_t ldx, int64_t n_in, float *out) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t at = ((int64_t)blockIdx.x * 4 + warp) * 256 + lane * 8;
    if (((int64_t)blockIdx.x * 4 + warp) * 256 >= n_in) return;  /* whole warps only: shuffles below */
    const bool active = at < n_in;
    float v[8];
    for (int i = 0; i < 8; i++) v[i] = active ? x[blockIdx.y * ldx + at + i] : 0.0f;
    float r[8];
    if (MODE == LLC_ACT_F16) {
        for (int i = 0; i < 8; i++) r[i] = __half2float(__float2half_rn(v[i]));
    } else {
        int8_t q[8];
        const float d = llc_quantize8(v, MODE == LLC_ACT_Q8_K, lane, q);
        for (int i = 0; i < 8; i++) r[i] = d * (float)q[i];
    }
    if (active)
        for (int i = 0; i < 8; i++) out[blockIdx.y * n_in + at + i] = r[i];
}

static cudaError_t llc_dequantize_rows(int type, const uint8_t *w, int64_t n_rows, int64_t n_in, float *out,
                                       cudaStream_t s) {
    const int64_t units = n_rows * n_in / 8;
    const unsigned blocks = (unsigned)((units + 255) / 256);
    switch (type) {
    case LLC_F16: llc_dequantize_f16<<<(unsigned)((n_rows * n_in + 255) / 256), 256, 0, s>>>((const __half *)w, n_rows * n_in, out); break;
    case LLC_Q4_0: llc_dequantize<llc_q4_0><<<blocks, 256, 0, s>>>(w, n_rows, n_in, out); break;
    case LLC_Q5_0: llc_dequantize<llc_q5_0><<<blocks, 256, 0, s>>>(w, n_rows, n_in, out); break;
    case LLC_Q8_0: llc_dequantize<llc_q8_0><<<blocks, 256, 0, s>>>(w, n_rows, n_in, out); break;
    case LLC_Q4_K: llc_dequantize<llc_q4_K><<<blocks, 256, 0, s>>>(w, n_rows, n_in, out); break;
    case LLC_Q5_K: llc_dequantize<llc_q5_K><<<blocks, 256, 0, s>>>(w, n_rows, n_in, out); break;
    case LLC_Q6_K: llc_dequantize<llc_q6_K><<<blocks, 256, 0, s>>>(w, n_rows, n_in, out); break;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

static cudaError_t llc_round_rows(int type, const float *x, int64_t ldx, int64_t n_in, int rows, float *out,
                                  cudaStream_t s) {
    const dim3 grid((unsigned)((n_in + 1023) / 1024), (unsigned)rows);
    if (type == LLC_F16) llc_round_activations<LLC_ACT_F16><<<grid, 128, 0, s>>>(x, ldx, n_in, out);
    else if (type == LLC_Q4_K || type == LLC_Q5_K || type == LLC_Q6_K)
        llc_round_activations<LLC_ACT_Q8_K><<<grid, 128, 0, s>>>(x, ldx, n_in, out);
    else llc_round_activations<LLC_ACT_Q8_0><<<grid, 128, 0, s>>>(x, ldx, n_in, out);
    return cudaGetLastError();
}

/* hi = v rounded to TF32 (10 mantissa bits), lo = v - hi (exact). */
__global__ void llc_split_tf32(float *hi, float *lo, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float v = hi[i], h = __uint_as_float((__float_as_uint(v) + 0x1000u) & 0xFFFFE000u);
    hi[i] = h;
    lo[i] = v - h;
}

static cudaError_t llc_split(float *hi, float *lo, int64_t n, cudaStream_t s) {
    llc_split_tf32<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(hi, lo, n);
    return cudaGetLastError();
}

/* y[rows, n_rows] (+)= x @ w^T for one chunk; TF32X3: w_hi x_hi + w_hi x_lo + w_lo x_hi. */
static int llc_sgemm(const llc_gemm_scratch *s, int64_t n_rows, int rows, int64_t n_in, const float *x, int64_t ldx,
                     float *y, int64_t ldy) {
    const float one = 1.0f, zero = 0.0f;
    const float *ws[3] = {s->w, s->w, s->w_lo}, *xs[3] = {x, s->x_lo, x};
    const int products = s->mode == LLC_GEMM_TF32X3 ? 3 : 1;
    for (int p = 0; p < products; p++) {
        const cublasStatus_t st = cublasSgemm(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)n_rows, rows, (int)n_in, &one, ws[p],
                                              (int)n_in, xs[p], (int)(p == 1 ? n_in : ldx), p ? &one : &zero, y, (int)ldy);
        if (st != CUBLAS_STATUS_SUCCESS) return llc_fail("cublasSgemm", cublasGetStatusString(st));
    }
    return LL_OK;
}

int llc_gemm(const llc_matmul_group *g, int index, int rows, const llc_gemm_scratch *s, cudaStream_t stream) {
    const llc_matrix *m = &g->m[index];
    const int64_t n_in = g->n_in, row_bytes = llc_row_bytes(g->type, n_in);
    if (g->type == LLC_F32) {
        LLC_CUDA(cudaMemcpy2DAsync(s->x, (size_t)n_in * 4, g->x, (size_t)g->ldx * 4, (size_t)n_in * 4, (size_t)rows,
                                   cudaMemcpyDeviceToDevice, stream));
    } else {
        LLC_CUDA(llc_round_rows(g->type, g->x, g->ldx, n_in, rows, s->x, stream));
    }
    if (s->mode == LLC_GEMM_TF32X3) LLC_CUDA(llc_split(s->x, s->x_lo, n_in * rows, stream));
    const int64_t chunk = max((int64_t)1, min(m->n_out, s->w_floats / n_in));
    for (int64_t row0 = 0; row0 < m->n_out; row0 += chunk) {
        const int64_t n_rows = min(chunk, m->n_out - row0);
        if (g->type == LLC_F32)
            LLC_CUDA(cudaMemcpyAsync(s->w, m->w + row0 * row_bytes, (size_t)(n_rows * row_bytes), cudaMemcpyDeviceToDevice, stream));
        else
            LLC_CUDA(llc_dequantize_rows(g->type, m->w + row0 * row_bytes, n_rows, n_in, s->w, stream));
        if (s->mode == LLC_GEMM_TF32X3) LLC_CUDA(llc_split(s->w, s->w_lo, n_rows * n_in, stream));
        const int status = llc_sgemm(s, n_rows, rows, n_in, s->x, n_in, m->y + row0, m->ldy);
        if (status != LL_OK) return status;
    }
    return LL_OK;
}
