/* Flash-style attention over the f16 KV cache: one block per (row, query head); its warps take
 * every NW-th visible cell, each warp keeping a running max, sum and V accumulator (online
 * softmax; a lane holds D = head_dim / 32 dims of q and of the accumulator); the warps' states are
 * merged at the end. GQA/MQA map query head h to KV head h / (n_head / n_head_kv). Masks as
 * attention.c: free cells, other sequences, later positions (causal), outside the window. Batches
 * of fewer than LLC_ATTN_TILED_ROWS rows round q to fp16 as the CPU's per-cell path does (the f16
 * cache's dot type); the CPU's fp16 V accumulator, rounded after each cell in cell order, has no
 * parallel equivalent: the accumulators here stay f32. */
#include <math.h>
#include "common.cuh"

template <int D>
__global__ void llc_attention_kernel(const __grid_constant__ llc_attention a, llc_batch_dev b) {
    extern __shared__ float sm[];  /* [NW] max, [NW] sum, [NW, head_dim] accumulators */
    const int row = blockIdx.x, head = blockIdx.y, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int nw = blockDim.x / 32, hd = a.head_dim;
    const int kv_head = head / (a.n_head / a.n_head_kv);
    llc_let_next_start();
    llc_wait_inputs();
    const int32_t qpos = b.pos[row], qseq = b.seq[row], extent = *b.extent;
    float q[D], acc[D];
    const float *qr = a.q + row * a.ldq + head * hd + lane * D;
    for (int i = 0; i < D; i++) {
        q[i] = a.round_q ? __half2float(__float2half_rn(qr[i])) : qr[i];
        acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int32_t c = warp; c < extent; c += nw) {
        const int2 cell = b.cell[c];
        if (cell.x < 0 || cell.y != qseq || (a.causal && cell.x > qpos) || (a.window > 0 && qpos - cell.x >= a.window))
            continue;
        const __half *kr = a.k + c * a.kv_width + kv_head * hd + lane * D;
        const __half *vr = a.v + c * a.kv_width + kv_head * hd + lane * D;
        float s = 0.0f, v[D];
        for (int i = 0; i < D; i++) v[i] = __half2float(vr[i]);  /* V in flight with K: one memory wait per cell */
        for (int i = 0; i < D; i++) s += q[i] * __half2float(kr[i]);
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        s *= a.scale;
        if (a.softcap > 0.0f) s = a.softcap * tanhf(s / a.softcap);
        const float m_new = fmaxf(m, s), correction = expf(m - m_new), p = expf(s - m_new);
        l = l * correction + p;
        for (int i = 0; i < D; i++) acc[i] = acc[i] * correction + p * v[i];
        m = m_new;
    }
    float *sm_m = sm, *sm_l = sm + nw, *sm_acc = sm + 2 * nw;
    if (lane == 0) { sm_m[warp] = m; sm_l[warp] = l; }
    for (int i = 0; i < D; i++) sm_acc[warp * hd + lane * D + i] = acc[i];
    __syncthreads();
    float m_all = -INFINITY;
    for (int w = 0; w < nw; w++) m_all = fmaxf(m_all, sm_m[w]);
    float l_all = 0.0f;
    for (int w = 0; w < nw; w++) l_all += sm_m[w] == -INFINITY ? 0.0f : sm_l[w] * expf(sm_m[w] - m_all);
    const float inv = l_all > 0.0f ? 1.0f / l_all : 0.0f;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float sum = 0.0f;
        for (int w = 0; w < nw; w++)
            if (sm_m[w] != -INFINITY) sum += sm_acc[w * hd + d] * expf(sm_m[w] - m_all);
        a.out[row * a.ldo + head * hd + d] = sum * inv;
    }
}

cudaError_t llc_attention_run(const llc_attention *a, int rows, llc_batch_dev b, cudaStream_t stream) {
    const int nw = rows == 1 ? 32 : 4;  /* decode: many warps share the few (row, head) units */
    llc_attention run = *a;
    run.round_q = rows < LLC_ATTN_TILED_ROWS;
    const dim3 grid((unsigned)rows, (unsigned)a->n_head);
    const size_t smem = sizeof(float) * (size_t)nw * (2 + a->head_dim);
    switch (a->head_dim / 32) {
    case 1: return llc_launch(llc_attention_kernel<1>, grid, dim3(nw * 32), smem, stream, run, b);
    case 2: return llc_launch(llc_attention_kernel<2>, grid, dim3(nw * 32), smem, stream, run, b);
    case 3: return llc_launch(llc_attention_kernel<3>, grid, dim3(nw * 32), smem, stream, run, b);
    case 4: return llc_launch(llc_attention_kernel<4>, grid, dim3(nw * 32), smem, stream, run, b);
    case 5: return llc_launch(llc_attention_kernel<5>, grid, dim3(nw * 32), smem, stream, run, b);
    case 6: return llc_launch(llc_attention_kernel<6>, grid, dim3(nw * 32), smem, stream, run, b);
    case 7: return llc_launch(llc_attention_kernel<7>, grid, dim3(nw * 32), smem, stream, run, b);
    case 8: return llc_launch(llc_attention_kernel<8>, grid, dim3(nw * 32), smem, stream, run, b);
    default: return cudaErrorInvalidValue;
    }
}
