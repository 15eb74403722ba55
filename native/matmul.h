/* Internal: matmul as an op that runs inside a thread-pool job, and the context that owns the pool.
 *
 * y[n_tok, n_out] = x[n_tok, n_in] @ W[n_out, n_in]^T. ll_matmul_run is called by every thread
 * of a job (right after a barrier, or at the start of the job): it quantizes x once into the
 * activation type of W's vec_dot (rows split among threads), barriers, then computes y:
 *   - n_tok == 1 (decode, memory-bound): output rows in chunks through the pool's counter, so every
 *     weight byte is streamed once with every thread busy; a chunk is whole tiles of
 *     gemm_tile_rows x 1 token when the type has a gemm_tile, else one vec_dot per row;
 *   - n_tok > 1 (prefill, compute-bound): a grid of tiles of gemm_tile_rows weight rows x
 *     gemm_tile_cols tokens through the counter (the type's gemm_tile, which reuses each loaded
 *     weight block for all the tile's tokens; vec_dot loops for types without one).
 * Tiles sit on a grid fixed by the shapes and the kernel, never by the thread count, and a tile's
 * values do not depend on its size (the gemm_tile contract), so a row of y has the same bits for
 * every thread count and whether its token comes alone (decode) or in a batch (prefill).
 * It ends without a barrier: a later op that reads y must barrier first (ll_pool_run does).
 */
#ifndef LL_MATMUL_H
#define LL_MATMUL_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "kernels.h"
#include "threadpool.h"

struct ll_ctx {
    ll_pool *pool;
    pthread_mutex_t lock;  /* one public call at a time */
    void *scratch;         /* [scratch_bytes], 64-byte aligned: quantized activations */
    size_t scratch_bytes;
    int abort_flag;        /* raised by ll_ctx_set_abort (any thread); polled between program ops */
};

/* Makes ctx->scratch at least `bytes` long (contents not kept). LL_ERR_NOMEM if it cannot. */
int ll_ctx_reserve(struct ll_ctx *ctx, size_t bytes);

typedef struct {
    const ll_type_kernels *wk;  /* kernels of the weight type */
    const ll_type_kernels *ak;  /* kernels of its vec_dot_type: the activation rows */
    const uint8_t *w;           /* [n_out, w_row_bytes] */
    size_t w_row_bytes;
    int64_t n_out, n_in, n_tok;
    const float *x;             /* [n_tok, n_in] */
    uint8_t *xq;                /* [n_tok, a_row_bytes]: x in the vec_dot_type (x itself for F32) */
    size_t a_row_bytes;
    float *y;                   /* [n_tok, n_out] */
    const float *bias;          /* [n_out] added to every row of y, or NULL (set after prepare) */
    int xq_ready;               /* xq already holds x in the vec_dot_type (set after prepare) */
} ll_matmul_op;

/* Checks the arguments and fills `op` except xq. LL_ERR_UNSUPPORTED when the type has no
 * vec_dot, LL_ERR_INVALID_ARG for NULL pointers, negative sizes or n_in not in whole blocks. */
int ll_matmul_prepare(ll_matmul_op *op, int w_type, const void *w, int64_t n_out, int64_t n_in,
                      const float *x, int64_t n_tok, float *y);

/* Bytes of scratch xq must point to (0 when x is used as is). */
size_t ll_matmul_scratch_bytes(const ll_matmul_op *op);

/* Every thread of a job calls this with its ith / nth (see the contract above). */
void ll_matmul_run(const ll_matmul_op *op, ll_pool *pool, int ith, int nth);

#endif
