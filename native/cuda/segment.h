/* Internal: a GPU segment (struct llc_segment) as segment.cu builds it and forward.cu runs it. */
#pragma once
#include "common.cuh"

enum llc_step_kind { LLC_STEP_MATMULS, LLC_STEP_ROWCHAIN, LLC_STEP_ATTENTION, LLC_STEP_LOGIT_ROWS };

typedef struct {
    int kind;                       /* enum llc_step_kind */
    llc_matmul_group mm;            /* MATMULS */
    const llc_rowop *rowops;        /* ROWCHAIN: [n_rowops] in device memory */
    int n_rowops;
    llc_attention attn;             /* ATTENTION */
    const float *src;               /* LOGIT_ROWS: src [rows, lds] -> dst [n_logits, ldd], n wide */
    float *dst;
    int64_t lds, ldd, n;
} llc_step;

typedef struct {
    __half *k, *v;                  /* [n_ctx, k_width], [n_ctx, v_width]; NULL: not a layer of the segment */
    int64_t k_width, v_width;
    int has_rope, head_dim, rope_mode;
    float theta_scale, freq_scale;
    const float *freq_factors;      /* device [head_dim / 2] or NULL */
} llc_kv_layer;

typedef struct {
    const void *host;               /* where the weight is in the host's memory map */
    void *dev;
    size_t bytes;
} llc_weight;

struct llc_segment {
    int n_batch_max, n_ctx, n_buffers, n_layer;
    int64_t *width;                 /* [n_buffers] floats per row */
    float **buf;                    /* [n_buffers] device [n_batch_max, width]; NULL when the segment never uses it */
    float *logits;                  /* device [n_batch_max, logits_width] when the segment writes the logits */
    int64_t logits_width;
    int32_t *live_in, *live_out;
    int n_live_in, n_live_out;
    int ends_program;               /* contains LOGIT_ROWS: live-outs have n_logits rows */
    llc_weight *weights;
    int n_weights;
    llc_kv_layer *layers;           /* [n_layer] */
    llc_step *steps;
    int n_steps;
    llc_rowop *rowops;              /* device: every chain's ops */
    int32_t *batch_host;            /* pinned: [header_ints] then int2 [n_ctx] cells */
    int32_t *batch_dev;             /* the same layout in device memory */
    int64_t header_ints;
    llc_batch_dev view;
    llc_gemm_scratch gemm;
    cudaStream_t stream;
    cudaEvent_t start, stop;
    float last_ms;
    cudaGraphExec_t decode_graph;   /* one row, one logit row: captured on first use */
    int use_graphs;
    int profile;                    /* LOCALLLM_CUDA_PROFILE=1: every step timed (no graphs) */
    float profile_ms[LLC_PROFILE_KINDS];
    void **allocations;             /* every cudaMalloc of the segment */
    int n_allocations;
};

/* The profile bucket of a step: 0 small matmuls, 1 row chains, 2 attention, 3 logit rows, 4 the output head. */
int llc_step_bucket(const llc_step *step);

/* Enqueues every step on the segment's stream for a batch of n rows (n_logits after LOGIT_ROWS). */
int llc_enqueue(llc_segment *seg, int n, int n_logits);
