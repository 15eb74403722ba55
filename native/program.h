/* Internal: a runnable program (struct ll_model) and the per-batch state its ops read. */
#ifndef LL_PROGRAM_H
#define LL_PROGRAM_H
#include <stdint.h>
#include "include/localllm.h"
#include "kv_cache.h"
#include "matmul.h"

#define LL_ATTN_TILE 64        /* KV cells per tile in the large-batch attention path */
#define LL_ATTN_TILED_ROWS 64 /* batches of at least this many rows take that path (as ggml's) */

typedef struct {
    float *scores;  /* [LL_ATTN_TILE] */
    void *q;        /* [4 * max head_dim bytes] one head's query in the K type's vec_dot_type */
    float *acc;     /* [max head_dim] running sum of p * V */
    ll_fp16 *acc16; /* [max head_dim] the same in half precision (fp16 V) */
    float *v;       /* [max head_dim] one V row as floats */
} ll_attn_scratch;

struct ll_model {
    ll_op *ops;                 /* [n_ops] */
    int n_ops;
    int n_buffers;
    int64_t *buffer_width;      /* [n_buffers] floats per row */
    float **buffers;            /* [n_buffers] each [n_batch_max, width] */
    int n_batch_max;
    ll_kv kv;
    ll_attn_scratch *attn;      /* [n_threads] */
    int n_threads;
    size_t matmul_scratch;      /* bytes of ctx->scratch the largest matmul needs */
    int64_t logits_width;       /* floats per row of the caller's logits array (0: no logits) */
    volatile int stop;          /* copied from the context's abort flag by thread 0 between ops */
    int64_t *op_ns;             /* [n_ops] wall ns of each op (its barrier included), summed over calls;
                                   NULL while profiling is off */
};

/* What one forward call works on; shared by all threads of the job. */
typedef struct {
    ll_ctx *ctx;
    ll_model *model;
    const int32_t *tokens, *pos, *seq;  /* [n] */
    int32_t n;
    int32_t *cells;                     /* [n] KV cell of each row */
    const int32_t *logit_rows;          /* [n_logits] */
    int32_t n_logits;
    float *logits;                      /* [n_logits, vocab] */
    int32_t rows;                       /* rows the current op works on (n, then n_logits) */
    int status;                         /* LL_OK, or what an offloaded segment returned */
} ll_batch;

/* The thread-pool job of a forward pass: every thread runs the model's ops over the batch `arg`
 * (an ll_batch whose cells are claimed), with a barrier after each op. */
void ll_program_job(void *arg, int ith, int nth);

/* Attention for one (row, head) unit: out[head_dim] over the layer's cache. */
void ll_attention_unit(const ll_op *op, const ll_batch *batch, int32_t row, int head, ll_attn_scratch *s,
                       float *out);

#endif
