/* Flash-style attention over the KV cache: for one query head, visit the visible cells keeping a
 * running max and sum (online softmax), so memory is O(head_dim), never O(n^2). GQA/MQA map query
 * head h to KV head h / (n_head / n_head_kv); nothing is copied. The arithmetic follows ggml's CPU
 * flash attention step for step (query in the K type's dot-product type, one cell at a time,
 * fp16 accumulator for fp16 V) so results track llama.cpp's. */
#include <math.h>
#include "program.h"

#define LL_FP16_OVERFLOW 65520.0f  /* the smallest magnitude that rounds to an infinite half */

typedef struct {
    const ll_type_kernels *kk, *vk;  /* kernels of the K and V cache types */
    const uint8_t *k, *v;            /* this layer's cache: [n_ctx, k_row_bytes], [n_ctx, v_row_bytes] */
    size_t k_row_bytes, v_row_bytes;
    size_t k_off, v_off;             /* byte offset of the KV head inside a row */
    int64_t hd_k, hd_v;              /* head dims */
    float scale, softcap;
} ll_attn_view;

typedef struct {
    float max, sum;                  /* running max of the scores and sum of exp(score - max) */
    float *acc;                      /* [hd_v] running sum of exp(score - max) * V */
    ll_fp16 *acc16;                  /* [hd_v] acc rounded to half after every step (fp16 V only) */
} ll_softmax_state;

static int ll_cell_visible(const ll_kv *kv, const ll_op *op, int32_t c, int32_t qpos, int32_t qseq) {
    const int32_t p = kv->pos[c];
    if (p < 0 || kv->seq[c] != qseq) return 0;
    if (op->causal && p > qpos) return 0;
    return !(op->window > 0 && qpos - p >= op->window);
}

/* acc <- half(acc) when V is fp16: ggml accumulates fp16 V rows in an fp16 vector, and the
 * models are sensitive enough that matching llama.cpp's logits needs the same rounding. */
static void ll_round_acc(const ll_attn_view *a, ll_softmax_state *st) {
    if (!st->acc16) return;
    LL_KERNELS[LL_TYPE_F16].quantize_row(st->acc, st->acc16, a->hd_v);
    LL_KERNELS[LL_TYPE_F16].dequantize_row(st->acc16, st->acc, a->hd_v);
}

static float ll_attn_score(const ll_attn_view *a, int32_t cell, const void *q) {
    float score;
    a->kk->vec_dot(a->hd_k, &score, a->k + (size_t)cell * a->k_row_bytes + a->k_off, q);
    return score;
}

/* Folds one visible cell into the running state (online softmax, one cell at a time). */
static void ll_attn_cell(const ll_attn_view *a, int32_t cell, const void *q, ll_attn_scratch *s,
                         ll_softmax_state *st) {
    float score = ll_attn_score(a, cell, q);
    score *= a->scale;
    if (a->softcap > 0.0f) score = a->softcap * tanhf(score / a->softcap);
    float weight = 1.0f, correction = 1.0f;
    if (score > st->max) { /* new max: rescale what was summed so far */
        correction = expf(st->max - score); /* exp(-inf) = 0 on the first cell */
        st->max = score;
        for (int64_t d = 0; d < a->hd_v; d++) st->acc[d] *= correction;
        ll_round_acc(a, st);
    } else {
        weight = expf(score - st->max);
    }
    a->vk->dequantize_row(a->v + (size_t)cell * a->v_row_bytes + a->v_off, s->v, a->hd_v);
    float amax = 0.0f;
    for (int64_t d = 0; d < a->hd_v; d++) {
        st->acc[d] = fmaf(s->v[d], weight, st->acc[d]);
        amax = fmaxf(amax, fabsf(st->acc[d]));
    }
    /* ggml's fp16 accumulator overflows (inf, then NaN) once a sum reaches the fp16 range
     * (many near-max keys times large V values): from there on this unit sums in f32. */
    if (amax >= LL_FP16_OVERFLOW) st->acc16 = NULL;
    ll_round_acc(a, st);
    st->sum = st->sum * correction + weight;
}

static ll_attn_view ll_attn_view_of(const ll_op *op, const ll_kv *kv, int head) {
    const ll_kv_layer *layer = &kv->layers[op->layer];
    const ll_type_kernels *kk = &LL_KERNELS[kv->type_k], *vk = &LL_KERNELS[kv->type_v];
    const int kv_head = head / (op->n_head / op->n_head_kv);
    const int64_t hd_v = layer->v_width / op->n_head_kv;
    return (ll_attn_view){
        .kk = kk, .vk = vk, .k = layer->k, .v = layer->v,
        .k_row_bytes = layer->k_row_bytes, .v_row_bytes = layer->v_row_bytes,
        .k_off = (size_t)(kv_head * op->group / kk->block_size) * (size_t)kk->block_bytes,
        .v_off = (size_t)(kv_head * hd_v / vk->block_size) * (size_t)vk->block_bytes,
        .hd_k = op->group, .hd_v = hd_v, .scale = op->scale, .softcap = op->softcap,
    };
}

/* One tile of up to LL_ATTN_TILE cells (f32 query; scores, exp and V in f32): the tile's max
 * rescales the state once, then every cell's weight and V row are folded in order. */
static void ll_attn_tile(const ll_attn_view *a, const int32_t *cells, int nc, const float *q, ll_attn_scratch *s,
                         ll_softmax_state *st) {
    float tile_max = -INFINITY;
    for (int i = 0; i < nc; i++) {
        a->kk->dequantize_row(a->k + (size_t)cells[i] * a->k_row_bytes + a->k_off, s->v, a->hd_k);
        float dot = 0.0f;
        for (int64_t d = 0; d < a->hd_k; d++) dot = fmaf(q[d], s->v[d], dot);
        dot *= a->scale;
        if (a->softcap > 0.0f) dot = a->softcap * tanhf(dot / a->softcap);
        s->scores[i] = dot;
        tile_max = fmaxf(tile_max, dot);
    }
    if (tile_max > st->max) {
        const float correction = expf(st->max - tile_max);
        for (int64_t d = 0; d < a->hd_v; d++) st->acc[d] *= correction;
        st->sum *= correction;
        st->max = tile_max;
    }
    double tile_sum = 0.0;
    for (int i = 0; i < nc; i++) {
        const float weight = expf(s->scores[i] - st->max);
        tile_sum += weight;
        a->vk->dequantize_row(a->v + (size_t)cells[i] * a->v_row_bytes + a->v_off, s->v, a->hd_v);
        for (int64_t d = 0; d < a->hd_v; d++) st->acc[d] = fmaf(weight, s->v[d], st->acc[d]);
    }
    st->sum += (float)tile_sum;
}

/* The large-batch path (ggml's tiled kernel, used for batches of LL_ATTN_TILED_ROWS rows or more). */
static void ll_attention_tiled(const ll_attn_view *a, const ll_op *op, const ll_kv *kv, const float *q,
                               int32_t qpos, int32_t qseq, ll_attn_scratch *s, ll_softmax_state *st) {
    int32_t cells[LL_ATTN_TILE];
    for (int32_t t0 = 0; t0 < kv->extent; t0 += LL_ATTN_TILE) {
        int nc = 0;
        for (int32_t c = t0; c < kv->extent && c < t0 + LL_ATTN_TILE; c++)
            if (ll_cell_visible(kv, op, c, qpos, qseq)) cells[nc++] = c;
        if (nc) ll_attn_tile(a, cells, nc, q, s, st);
    }
}

void ll_attention_unit(const ll_op *op, const ll_batch *batch, int32_t row, int head, ll_attn_scratch *s,
                       float *out) {
    const ll_kv *kv = &batch->model->kv;
    const ll_attn_view a = ll_attn_view_of(op, kv, head);
    const float *q = batch->model->buffers[op->src0] + (int64_t)row * op->n + (int64_t)head * op->group;
    const int tiled = batch->n >= LL_ATTN_TILED_ROWS;
    ll_softmax_state st = {.max = -INFINITY, .sum = 0.0f, .acc = s->acc,
                           .acc16 = !tiled && kv->type_v == LL_TYPE_F16 ? s->acc16 : NULL};
    for (int64_t d = 0; d < a.hd_v; d++) st.acc[d] = 0.0f;
    const int32_t qpos = batch->pos[row], qseq = batch->seq[row];
    if (tiled) {
        ll_attention_tiled(&a, op, kv, q, qpos, qseq, s, &st);
    } else {
        LL_KERNELS[a.kk->vec_dot_type].quantize_row(q, s->q, a.hd_k);
        for (int32_t c = 0; c < kv->extent; c++)
            if (ll_cell_visible(kv, op, c, qpos, qseq)) ll_attn_cell(&a, c, s->q, s, &st);
    }
    const float inv = st.sum > 0.0f ? 1.0f / st.sum : 0.0f;
    for (int64_t d = 0; d < a.hd_v; d++) out[d] = st.acc[d] * inv;
}
