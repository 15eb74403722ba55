/* Internal: a runnable program (struct ll_model) and the per-batch state its ops read. */
#ifndef LL_PROGRAM_H
#define LL_PROGRAM_H
#include <stdint.h>
#include "include/localllm.h"
#include "kv_cache.h"
#include "matmul.h"

typedef struct ll_attn_scratch ll_attn_scratch; /* attention.h */

struct ll_model {
    ll_op *ops;                 /* [n_ops] */
    int n_ops;
    int n_buffers;
    int64_t *buffer_width;      /* [n_buffers] floats per row */
    float **buffers;            /* [n_buffers] each [n_batch_max, width] */
    int n_batch_max;
    ll_kv kv;
    ll_attn_scratch **attn;     /* [n_threads] */
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

/* Attention is computed in units handed out through the pool's counter: how many the op has for
 * this batch, and running one of them (writing its rows' and heads' outputs). */
int64_t ll_attention_units(const ll_op *op, const ll_batch *batch);
void ll_attention_run(const ll_op *op, const ll_batch *batch, int64_t unit, ll_attn_scratch *s);
/* Scratch for one thread: hd = the largest head dim, max_group = the most query heads per KV head
 * of the program's attention ops, n_ctx = the cache's cells. NULL when out of memory. */
ll_attn_scratch *ll_attn_scratch_new(int64_t hd, int max_group, int32_t n_ctx);
void ll_attn_scratch_free(ll_attn_scratch *s);

/* The thread-pool job of a forward pass: every thread runs the model's ops over the batch `arg`
 * (an ll_batch whose cells are claimed), with a barrier after each op. */
void ll_program_job(void *arg, int ith, int nth);

#endif
