/* A program segment run on the CPU through the offload interface (ll_offload_fn): the CPU twin
 * of a GPU segment. It owns a context (its own threads: the host's are busy waiting for it), a
 * model of the segment's ops (activation buffers and the KV layers of the segment), and the
 * lists of buffers to copy in and out. The host's cell bookkeeping is mirrored into the
 * segment's cache before every run, so both caches use the same cells. */
#include <stdlib.h>
#include <string.h>
#include "include/localllm.h"
#include "program.h"

struct ll_segment {
    ll_ctx *ctx;
    ll_model *model;
    int32_t *live_in, *live_out;   /* [n_live_in], [n_live_out] buffer ids */
    int n_live_in, n_live_out;
    int ends_program;              /* the segment contains LOGIT_ROWS: live-outs hold n_logits rows */
};

static int32_t *ll_copy_ids(const int32_t *ids, int n) {
    int32_t *copy = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    if (copy && n > 0) memcpy(copy, ids, sizeof(int32_t) * (size_t)n);
    return copy;
}

static int ll_ids_ok(const int32_t *ids, int n, int n_buffers) {
    if (n < 0 || (n > 0 && !ids)) return 0;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_buffers) return 0;
    return 1;
}

int ll_segment_new(int n_threads, const ll_op *ops, int n_ops, const int64_t *buffer_width, int n_buffers,
                   int n_batch_max, const ll_kv_config *kv, const int32_t *live_in, int n_live_in,
                   const int32_t *live_out, int n_live_out, ll_segment **out, int *bad_op) {
    if (!out || !bad_op) return LL_ERR_INVALID_ARG;
    *out = NULL;
    *bad_op = -1;
    if (!ll_ids_ok(live_in, n_live_in, n_buffers) || !ll_ids_ok(live_out, n_live_out, n_buffers))
        return LL_ERR_INVALID_ARG;
    ll_segment *seg = calloc(1, sizeof *seg);
    if (!seg) return LL_ERR_NOMEM;
    int status = ll_ctx_new(n_threads, &seg->ctx);
    if (status == LL_OK)
        status = ll_model_new(seg->ctx, ops, n_ops, buffer_width, n_buffers, n_batch_max, kv, &seg->model, bad_op);
    seg->live_in = ll_copy_ids(live_in, n_live_in);
    seg->live_out = ll_copy_ids(live_out, n_live_out);
    seg->n_live_in = n_live_in;
    seg->n_live_out = n_live_out;
    if (status == LL_OK && (!seg->live_in || !seg->live_out)) status = LL_ERR_NOMEM;
    for (int i = 0; status == LL_OK && i < n_ops; i++)
        if (ops[i].kind == LL_OP_LOGIT_ROWS) seg->ends_program = 1;
    if (status != LL_OK) {
        ll_segment_free(seg);
        return status;
    }
    *out = seg;
    return LL_OK;
}

void ll_segment_free(ll_segment *seg) {
    if (!seg) return;
    ll_model_free(seg->model);
    ll_ctx_free(seg->ctx);
    free(seg->live_in);
    free(seg->live_out);
    free(seg);
}

/* The segment's cache takes the host's cell positions and sequences (cells past the host's
 * extent are free). */
static void ll_mirror_cells(ll_kv *kv, const int32_t *cell_pos, const int32_t *cell_seq, int32_t extent) {
    for (int32_t c = extent; c < kv->extent; c++) kv->pos[c] = -1;
    memcpy(kv->pos, cell_pos, sizeof(int32_t) * (size_t)extent);
    memcpy(kv->seq, cell_seq, sizeof(int32_t) * (size_t)extent);
    kv->extent = extent;
    kv->n_used = 0;
    for (int32_t c = 0; c < extent; c++) kv->n_used += kv->pos[c] >= 0;
}

/* rows of each listed buffer from `from` to `to` (both [n_batch_max, width] per buffer). */
static void ll_copy_rows(const ll_model *m, const int32_t *ids, int n_ids, float *const *from, float *const *to,
                         int32_t rows) {
    for (int i = 0; i < n_ids; i++)
        memcpy(to[ids[i]], from[ids[i]], sizeof(float) * (size_t)rows * (size_t)m->buffer_width[ids[i]]);
}

int ll_segment_run(void *segment, const ll_offload_batch *ob) {
    ll_segment *seg = segment;
    if (!seg || !ob) return LL_ERR_INVALID_ARG;
    ll_model *m = seg->model;
    if (ob->n <= 0 || ob->n > m->n_batch_max || ob->kv_extent > m->kv.n_ctx) return LL_ERR_INVALID_ARG;
    const int status = ll_ctx_reserve(seg->ctx, m->matmul_scratch);
    if (status != LL_OK) return status;
    ll_mirror_cells(&m->kv, ob->cell_pos, ob->cell_seq, ob->kv_extent);
    ll_copy_rows(m, seg->live_in, seg->n_live_in, ob->buffers, m->buffers, ob->n);
    ll_batch b = {.ctx = seg->ctx, .model = m, .tokens = ob->tokens, .pos = ob->pos, .seq = ob->seq, .n = ob->n,
                  .cells = (int32_t *)ob->cells, .logit_rows = ob->logit_rows, .n_logits = ob->n_logits,
                  .logits = ob->logits, .rows = ob->n};
    m->stop = 0;
    ll_pool_run(seg->ctx->pool, ll_program_job, &b);
    if (m->stop) return b.status != LL_OK ? b.status : LL_ERR_ABORTED;
    ll_copy_rows(m, seg->live_out, seg->n_live_out, m->buffers, ob->buffers, seg->ends_program ? ob->n_logits : ob->n);
    return LL_OK;
}

int ll_segment_kv_shift(void *segment, const int32_t *cell_pos, const int32_t *cell_seq, int32_t kv_extent,
                        int32_t seq, int32_t p0, int32_t p1, int32_t delta) {
    ll_segment *seg = segment;
    if (!seg || kv_extent > seg->model->kv.n_ctx) return LL_ERR_INVALID_ARG;
    ll_mirror_cells(&seg->model->kv, cell_pos, cell_seq, kv_extent);
    return ll_kv_shift(seg->model, seq, p0, p1, delta);
}
