/* Attention over the f16 KV cache (masks as attention.c: free cells, other sequences, later
 * positions (causal), outside the window; GQA/MQA map query head h to KV head
 * h / (n_head / n_head_kv)). Two kernels:
 *   parallel (the default): one block per (row, query head); its warps take every NW-th visible
 *     cell, each warp keeping a running max, sum and f32 V accumulator (online softmax; a lane holds
 *     D = head_dim / 32 dims of q and of the accumulator); the warps' states are merged at the end.
 *     Batches of fewer than LLC_ATTN_TILED_ROWS rows round q to fp16 as the CPU's per-cell path does;
 *   cpu_order (LOCALLLM_CUDA_DECODE_ATTENTION=cpu_order, batches of fewer than LLC_ATTN_TILED_ROWS
 *     rows): the CPU's per-cell path step for step, its fp16 accumulator included (see below). It
 *     agrees with the CPU more closely and is slower: the accumulator's rounding makes the V sum a
 *     chain as long as the number of cells. */
#include <limits.h>
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

/* ---- small batches: the CPU's per-cell path, in cell order ----
 * attention.c's decode path (ggml's CPU flash attention): the online softmax visits the visible
 * cells in cell order; a new maximum multiplies the V accumulator by its correction, and the fp16
 * accumulator is rounded after every step. Here one block per (row, head) runs that order with its
 * steps spread where they do not depend on each other: for each chunk of LLC_ORDER_CHUNK cells the
 * threads score one cell each (q rounded to fp16, the f16 cache's dot type), warp 0 turns the scores into the weights
 * and correction factors (a prefix maximum over the visible cells, in order), and thread d walks
 * the chunk's visible cells in order for dimension d of the accumulator. As on the CPU, once a sum
 * reaches the fp16 range the pass is run again with that step and the later ones left in f32. */
#define LLC_ORDER_CHUNK 256
#define LLC_ORDER_THREADS 256
#define LLC_HALF_LIMIT 65520.0f      /* the smallest magnitude that rounds to fp16 infinity */

__device__ __forceinline__ float llc_round_half(float x) { return __half2float(__float2half_rn(x)); }

struct llc_order_smem {
    float score[LLC_ORDER_CHUNK];    /* the chunk's logits (by cell) */
    bool visible[LLC_ORDER_CHUNK];
    int32_t cell[LLC_ORDER_CHUNK];   /* the chunk's visible cells, in order */
    float w[LLC_ORDER_CHUNK];        /* weight of each */
    float r[LLC_ORDER_CHUNK];        /* correction applied before it (1: none) */
    int n;                           /* visible cells in the chunk */
    int overflow;                    /* first step (visible-cell index) whose sum left the fp16 range */
    float sum;
    float q[LLC_MAX_HEAD_DIM];       /* the row's query head, rounded to fp16 */
};

/* Phase 1: score[i] / visible[i] of cell c0 + i, one thread per cell (q_sm: q rounded to fp16). */
__device__ void llc_order_scores(const llc_attention &a, const llc_batch_dev &b, int kv_head, const float *q_sm,
                                 int32_t c0, int32_t n_cells, int32_t qpos, int32_t qseq, llc_order_smem &sm) {
    const int i = threadIdx.x;
    if (i >= n_cells) return;
    const int32_t c = c0 + i;
    const int2 cell = b.cell[c];
    const bool vis = !(cell.x < 0 || cell.y != qseq || (a.causal && cell.x > qpos) ||
                       (a.window > 0 && qpos - cell.x >= a.window));
    float s = 0.0f;
    if (vis) {
        const uint4 *kr = (const uint4 *)(a.k + c * a.kv_width + kv_head * a.head_dim);  /* 8 halves each */
#pragma unroll 4
        for (int j = 0; j < a.head_dim / 8; j++) {
            const uint4 raw = kr[j];
            const __half2 *h = (const __half2 *)&raw;
            for (int u = 0; u < 4; u++) {
                const float2 k2 = __half22float2(h[u]);
                s += q_sm[8 * j + 2 * u] * k2.x;
                s += q_sm[8 * j + 2 * u + 1] * k2.y;
            }
        }
        s *= a.scale;
        if (a.softcap > 0.0f) s = a.softcap * tanhf(s / a.softcap);
    }
    sm.score[i] = s;
    sm.visible[i] = vis;
}

/* Phase 2 (warp 0): the chunk's visible cells compacted in order with their weights and
 * corrections (ll_cell_weights: a cell above the running max gets weight 1 and rescales what came
 * before by exp(max - score); the others get exp(score - max)). *max carries the running max. */
__device__ void llc_order_weights(int32_t c0, int32_t n_cells, float *max, llc_order_smem &sm) {
    const int lane = threadIdx.x % 32;
    int n = 0;
    for (int base = 0; base < n_cells; base += 32) {
        const int i = base + lane;
        const bool vis = i < n_cells && sm.visible[i];
        const float s = vis ? sm.score[i] : -INFINITY;
        float incl = s;  /* inclusive prefix max over the lanes */
        for (int o = 1; o < 32; o <<= 1) {
            const float other = __shfl_up_sync(0xffffffffu, incl, o);
            if (lane >= o) incl = fmaxf(incl, other);
        }
        float before = __shfl_up_sync(0xffffffffu, incl, 1);
        before = lane == 0 ? *max : fmaxf(before, *max);
        const unsigned ballot = __ballot_sync(0xffffffffu, vis);
        if (vis) {
            const int at = n + __popc(ballot & ((1u << lane) - 1u));
            const bool new_max = s > before;
            sm.cell[at] = c0 + i;
            sm.w[at] = new_max ? 1.0f : expf(s - before);
            sm.r[at] = new_max ? expf(before - s) : 1.0f;  /* exp(-inf) = 0 on the first cell */
        }
        n += __popc(ballot);
        *max = fmaxf(*max, __shfl_sync(0xffffffffu, incl, 31));
    }
    if (lane == 0) sm.n = n;
}

/* Phase 3: dimension d of the accumulator over the chunk's visible cells, steps t0 .. t0 + n - 1
 * of the whole walk; steps before round_until are rounded to fp16 (attn_mix_f16_span_ref). Returns
 * the first step at which |acc| reached the fp16 limit (INT_MAX: none). */
__device__ int llc_order_mix(const llc_attention &a, int kv_head, int d, int t0, int round_until, float *acc,
                             const llc_order_smem &sm) {
    const __half *v = a.v + kv_head * a.head_dim + d;
    int overflow = INT_MAX;
    float x = *acc, next[8];
    for (int u = 0; u < 8; u++) next[u] = u < sm.n ? __half2float(v[sm.cell[u] * a.kv_width]) : 0.0f;
    for (int t = 0; t < sm.n; t += 8) {
        float vals[8];
        for (int u = 0; u < 8; u++) vals[u] = next[u];
        for (int u = 0; u < 8; u++)  /* the next 8 cells' values in flight while these are summed */
            next[u] = t + 8 + u < sm.n ? __half2float(v[sm.cell[t + 8 + u] * a.kv_width]) : 0.0f;
        for (int u = 0; u < 8 && t + u < sm.n; u++) {
            const int step = t0 + t + u;
            const float r = sm.r[t + u];
            if (r != 1.0f) {
                x *= r;
                if (step <= round_until) x = llc_round_half(x);
            }
            x = fmaf(vals[u], sm.w[t + u], x);
            if (step < round_until) {
                if (fabsf(x) >= LLC_HALF_LIMIT && overflow == INT_MAX) overflow = step;
                x = llc_round_half(x);
            }
        }
    }
    *acc = x;
    return overflow;
}

__global__ void __launch_bounds__(LLC_ORDER_THREADS) llc_attention_ordered_kernel(const __grid_constant__ llc_attention a,
                                                                                  llc_batch_dev b) {
    __shared__ llc_order_smem sm;
    const int row = blockIdx.x, head = blockIdx.y, d = threadIdx.x;
    const int kv_head = head / (a.n_head / a.n_head_kv);
    llc_let_next_start();
    llc_wait_inputs();
    const int32_t qpos = b.pos[row], qseq = b.seq[row], extent = *b.extent;
    if (d < a.head_dim) sm.q[d] = llc_round_half(a.q[row * a.ldq + head * a.head_dim + d]);
    if (threadIdx.x == 0) sm.overflow = INT_MAX;
    int round_until = INT_MAX;
    float acc = 0.0f, sum = 0.0f;
    for (int pass = 0; pass < 2; pass++) {  /* the second pass only when the first left the fp16 range */
        float max = -INFINITY;
        int steps = 0, overflow = INT_MAX;
        acc = sum = 0.0f;
        for (int32_t c0 = 0; c0 < extent; c0 += LLC_ORDER_CHUNK) {
            const int32_t n_cells = min(LLC_ORDER_CHUNK, extent - c0);
            __syncthreads();  /* the previous chunk's lists are read */
            llc_order_scores(a, b, kv_head, sm.q, c0, n_cells, qpos, qseq, sm);
            __syncthreads();
            if (threadIdx.x < 32) llc_order_weights(c0, n_cells, &max, sm);
            __syncthreads();
            if (d < a.head_dim) overflow = min(overflow, llc_order_mix(a, kv_head, d, steps, round_until, &acc, sm));
            if (threadIdx.x == 0)
                for (int t = 0; t < sm.n; t++) sum = sum * sm.r[t] + sm.w[t];
            steps += sm.n;
        }
        if (overflow != INT_MAX) atomicMin(&sm.overflow, overflow);
        __syncthreads();
        if (sm.overflow == INT_MAX || pass == 1) break;
        round_until = sm.overflow;
    }
    if (threadIdx.x == 0) sm.sum = sum;
    __syncthreads();
    const float inv = sm.sum > 0.0f ? 1.0f / sm.sum : 0.0f;
    if (d < a.head_dim) a.out[row * a.ldo + head * a.head_dim + d] = acc * inv;
}

/* Calls f(kernel) with the kernel template of head_dim / 32 dims per lane. */
template <template <int> class K, typename F>
static cudaError_t llc_with_head_dim(int head_dim, F f) {
    switch (head_dim / 32) {
    case 1: return f(K<1>::kernel);
    case 2: return f(K<2>::kernel);
    case 3: return f(K<3>::kernel);
    case 4: return f(K<4>::kernel);
    case 5: return f(K<5>::kernel);
    case 6: return f(K<6>::kernel);
    case 7: return f(K<7>::kernel);
    case 8: return f(K<8>::kernel);
    default: return cudaErrorInvalidValue;
    }
}

template <int D> struct llc_parallel_attention { static constexpr auto kernel = llc_attention_kernel<D>; };

cudaError_t llc_attention_run(const llc_attention *a, int rows, llc_batch_dev b, cudaStream_t stream) {
    const dim3 grid((unsigned)rows, (unsigned)a->n_head);
    const bool small = rows < LLC_ATTN_TILED_ROWS;  /* the CPU's per-cell path */
    if (small && a->cpu_order)
        return llc_launch(llc_attention_ordered_kernel, grid, dim3(LLC_ORDER_THREADS), 0, stream, *a, b);
    llc_attention run = *a;
    run.round_q = small;
    const int nw = rows == 1 ? 32 : 4;  /* decode: many warps share the few (row, head) units */
    const size_t smem = sizeof(float) * (size_t)nw * (2 + a->head_dim);
    return llc_with_head_dim<llc_parallel_attention>(a->head_dim, [&](auto kernel) {
        return llc_launch(kernel, grid, dim3(nw * 32), smem, stream, run, b);
    });
}
