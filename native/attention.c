/* Flash-style attention over the KV cache: for each query, visit the visible cells keeping a
 * running max and sum (online softmax), so memory is O(head_dim) per query, never O(n^2). GQA/MQA
 * map query head h to KV head h / (n_head / n_head_kv); nothing is copied.
 *
 * Batches of LL_ATTN_TILED_ROWS rows or more take the tiled path (attention_tiled.c). Smaller
 * ones (decode) take this file's per-cell path, one (row, head) per unit, whose arithmetic follows
 * ggml's CPU flash attention step for step (query in the K type's dot-product type, one cell at a
 * time, fp16 accumulator for fp16 V) so results track llama.cpp's. The steps are split by what
 * they depend on: first every visible cell's score (the K type's vec_dot), then the running max,
 * weights and rescale factors (scalar, in cell order), then the V sum over all cells at once (a
 * kernel for fp16 V that keeps ggml's rounding after every step). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "attention.h"

/* The visible cells of a query, in cell order; returns their count. */
static int32_t ll_visible_cells(const ll_kv *kv, const ll_op *op, int32_t qpos, int32_t qseq, int32_t *cells) {
    int32_t n = 0;
    for (int32_t c = 0; c < kv->extent; c++)
        if (ll_cell_visible(kv, op, c, qpos, qseq)) cells[n++] = c;
    return n;
}

/* scores[i] = the logit of cells[i] for query q (in the K type's vec_dot_type). */
static void ll_cell_scores(const ll_attn_view *a, const void *q, const int32_t *cells, int32_t n, float *scores) {
    for (int32_t i = 0; i < n; i++) {
        float dot;
        a->kk->vec_dot(a->hd_k, &dot, a->k + (size_t)cells[i] * a->k_row_bytes + a->k_off, q);
        scores[i] = ll_attn_logit(a, dot);
    }
}

/* The online softmax's scalar side, one cell at a time: w[i] <- the weight of cell i (in place of
 * its score), rescale[i] <- the factor the running sum is multiplied by first (1: none).
 * Returns the final running sum of the weights. */
static float ll_cell_weights(float *w, float *rescale, int32_t n) {
    float max = -INFINITY, sum = 0.0f;
    for (int32_t i = 0; i < n; i++) {
        const float score = w[i];
        float weight = 1.0f, correction = 1.0f;
        if (score > max) { /* new max: rescale what was summed so far */
            correction = expf(max - score); /* exp(-inf) = 0 on the first cell */
            max = score;
        } else {
            weight = expf(score - max);
        }
        w[i] = weight;
        rescale[i] = correction;
        sum = sum * correction + weight;
    }
    return sum;
}

/* acc[hd_v] = the V sum of the cells, in f32 (V types other than F16). */
static void ll_cell_mix(const ll_attn_view *a, const int32_t *cells, const float *w, const float *rescale, int32_t n,
                        float *v, float *acc) {
    for (int32_t i = 0; i < n; i++) {
        if (rescale[i] != 1.0f)
            for (int64_t d = 0; d < a->hd_v; d++) acc[d] *= rescale[i];
        a->vk->dequantize_row(a->v + (size_t)cells[i] * a->v_row_bytes + a->v_off, v, a->hd_v);
        for (int64_t d = 0; d < a->hd_v; d++) acc[d] = fmaf(v[d], w[i], acc[d]);
    }
}

/* acc[hd_v] = the V sum of the cells with ggml's fp16 accumulator (F16 V). Once a sum reaches the
 * fp16 range, ggml's accumulator overflows (inf, then NaN: many near-max keys times large V
 * values): from that step on this sum goes on in f32. */
static void ll_cell_mix_f16(const ll_attn_view *a, const int32_t *cells, const float *w, const float *rescale,
                            int32_t n, float *acc) {
    const ll_attn_mix_f16_fn mix = LL_ATTN_KERNELS.mix_f16;
    const uint8_t *v = a->v + a->v_off;
    const int32_t overflow = mix(a->hd_v, v, a->v_row_bytes, cells, w, rescale, n, n, acc);
    if (overflow < n) mix(a->hd_v, v, a->v_row_bytes, cells, w, rescale, n, overflow, acc);
}

/* The small-batch path: out[hd_v] for one (row, head). */
static void ll_attention_cell_unit(const ll_op *op, const ll_batch *b, int32_t row, int head, ll_attn_scratch *s) {
    const ll_kv *kv = &b->model->kv;
    const ll_attn_view a = ll_attn_view_of(op, kv, head / (op->n_head / op->n_head_kv));
    const float *q = b->model->buffers[op->src0] + (int64_t)row * op->n + (int64_t)head * op->group;
    float *out = b->model->buffers[op->dst] + (int64_t)row * b->model->buffer_width[op->dst] + (int64_t)head * a.hd_v;
    LL_KERNELS[a.kk->vec_dot_type].quantize_row(q, s->q, a.hd_k);
    const int32_t n = ll_visible_cells(kv, op, b->pos[row], b->seq[row], s->cells);
    ll_cell_scores(&a, s->q, s->cells, n, s->scores);
    const float sum = ll_cell_weights(s->scores, s->rescale, n);
    memset(s->acc, 0, sizeof(float) * (size_t)a.hd_v);
    if (kv->type_v == LL_TYPE_F16) {
        ll_cell_mix_f16(&a, s->cells, s->scores, s->rescale, n, s->acc);
    } else {
        ll_cell_mix(&a, s->cells, s->scores, s->rescale, n, s->v, s->acc);
    }
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int64_t d = 0; d < a.hd_v; d++) out[d] = s->acc[d] * inv;
}

/* ---------------------------------------------------------------------------------------------
 * Units and scratch (program.h). */

static int ll_attention_tiled(const ll_batch *b) { return b->n >= LL_ATTN_TILED_ROWS; }

int64_t ll_attention_units(const ll_op *op, const ll_batch *b) {
    return ll_attention_tiled(b) ? ll_attention_tiled_units(op, b) : (int64_t)b->rows * op->n_head;
}

void ll_attention_run(const ll_op *op, const ll_batch *b, int64_t unit, ll_attn_scratch *s) {
    if (ll_attention_tiled(b)) {
        ll_attention_tiled_unit(op, b, unit, s);
    } else {
        ll_attention_cell_unit(op, b, (int32_t)(unit / op->n_head), (int)(unit % op->n_head), s);
    }
}

ll_attn_scratch *ll_attn_scratch_new(int64_t hd, int max_group, int32_t n_ctx) {
    ll_attn_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    const size_t queries = (size_t)(max_group > LL_ATTN_BLOCK_QUERIES ? max_group : LL_ATTN_BLOCK_QUERIES);
    const size_t f = sizeof(float), tile = (size_t)hd * LL_ATTN_TILE;
    s->q = malloc((size_t)hd * 4);
    s->acc = malloc(f * (size_t)hd);
    s->v = malloc(f * (size_t)hd);
    s->scores = malloc(f * (size_t)n_ctx);
    s->rescale = malloc(f * (size_t)n_ctx);
    s->cells = malloc(sizeof(int32_t) * (size_t)n_ctx);
    s->kt = aligned_alloc(64, f * tile);
    s->vt = aligned_alloc(64, f * tile);
    s->block_acc = malloc(f * queries * (size_t)hd);
    s->block_max = malloc(f * queries);
    s->block_sum = malloc(f * queries);
    if (!s->q || !s->acc || !s->v || !s->scores || !s->rescale || !s->cells || !s->kt || !s->vt || !s->block_acc ||
        !s->block_max || !s->block_sum) {
        ll_attn_scratch_free(s);
        return NULL;
    }
    return s;
}

void ll_attn_scratch_free(ll_attn_scratch *s) {
    if (!s) return;
    free(s->q);
    free(s->acc);
    free(s->v);
    free(s->scores);
    free(s->rescale);
    free(s->cells);
    free(s->kt);
    free(s->vt);
    free(s->block_acc);
    free(s->block_max);
    free(s->block_sum);
    free(s);
}
