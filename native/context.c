/* The context: a persistent thread pool plus the scratch memory of calls made through it. */
#include <stdlib.h>
#include "include/localllm.h"
#include "matmul.h"

#define LL_SCRATCH_ALIGN 64

int ll_ctx_new(int n_threads, ll_ctx **out) {
    if (!out) return LL_ERR_INVALID_ARG;
    *out = NULL;
    ll_kernels_init();
    ll_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return LL_ERR_NOMEM;
    const int status = ll_pool_new(n_threads, &ctx->pool);
    if (status != LL_OK) {
        free(ctx);
        return status;
    }
    pthread_mutex_init(&ctx->lock, NULL);
    *out = ctx;
    return LL_OK;
}

void ll_ctx_free(ll_ctx *ctx) {
    if (!ctx) return;
    ll_pool_free(ctx->pool);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx->scratch);
    free(ctx);
}

int ll_ctx_n_threads(const ll_ctx *ctx) { return ctx ? ll_pool_n_threads(ctx->pool) : 0; }

int ll_ctx_reserve(ll_ctx *ctx, size_t bytes) {
    if (bytes <= ctx->scratch_bytes) return LL_OK;
    if (bytes > SIZE_MAX - 2 * LL_SCRATCH_ALIGN) return LL_ERR_NOMEM;
    size_t grown = bytes + bytes / 4;                 /* +25 %: a growing batch reallocates rarely */
    if (grown < bytes) grown = bytes;
    grown = (grown + LL_SCRATCH_ALIGN - 1) / LL_SCRATCH_ALIGN * LL_SCRATCH_ALIGN;
    void *fresh = aligned_alloc(LL_SCRATCH_ALIGN, grown);
    if (!fresh) return LL_ERR_NOMEM;
    free(ctx->scratch);
    ctx->scratch = fresh;
    ctx->scratch_bytes = grown;
    return LL_OK;
}
