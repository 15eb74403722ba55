/* Internal: what the two attention paths share (attention.c: small batches, one (row, head) at a
 * time; attention_tiled.c: large batches, a block of rows x one KV head at a time). */
#ifndef LL_ATTENTION_H
#define LL_ATTENTION_H
#include <stdint.h>
#include "program.h"

#define LL_ATTN_TILED_ROWS 64     /* batches of at least this many rows take that path (as ggml's) */
#define LL_ATTN_BLOCK_QUERIES 64  /* large-batch path: (row, head) queries per unit, at least */

/* Per-thread scratch; hd = the largest head dim of the program's attention ops. */
struct ll_attn_scratch {
    /* small-batch path */
    void *q;          /* [4 * hd bytes] one head's query in the K type's vec_dot_type */
    float *acc;       /* [hd] running sum of p * V */
    float *v;         /* [hd] one V row as floats */
    float *scores;    /* [n_ctx] the visible cells' scores, then their weights */
    float *rescale;   /* [n_ctx] the state's rescale factor at each visible cell (1: none) */
    int32_t *cells;   /* [n_ctx] the visible cells */
    /* large-batch path */
    float *kt;        /* [hd, LL_ATTN_TILE] one tile's K heads as floats, transposed */
    float *vt;        /* [LL_ATTN_TILE, hd] one tile's V heads as floats */
    float *block_acc; /* [block queries, hd] running sums of p * V of the unit's queries */
    float *block_max; /* [block queries] running max of their scores */
    float *block_sum; /* [block queries] running sum of exp(score - max) */
};

/* One head's view of a layer's cache. */
typedef struct {
    const ll_type_kernels *kk, *vk;  /* kernels of the K and V cache types */
    const uint8_t *k, *v;            /* this layer's cache: [n_ctx, k_row_bytes], [n_ctx, v_row_bytes] */
    size_t k_row_bytes, v_row_bytes;
    size_t k_off, v_off;             /* byte offset of the KV head inside a row */
    int64_t hd_k, hd_v;              /* head dims */
    float scale, softcap;
} ll_attn_view;

static inline ll_attn_view ll_attn_view_of(const ll_op *op, const ll_kv *kv, int kv_head) {
    const ll_kv_layer *layer = &kv->layers[op->layer];
    const ll_type_kernels *kk = &LL_KERNELS[kv->type_k], *vk = &LL_KERNELS[kv->type_v];
    const int64_t hd_v = layer->v_width / op->n_head_kv;
    return (ll_attn_view){
        .kk = kk, .vk = vk, .k = layer->k, .v = layer->v,
        .k_row_bytes = layer->k_row_bytes, .v_row_bytes = layer->v_row_bytes,
        .k_off = (size_t)(kv_head * op->group / kk->block_size) * (size_t)kk->block_bytes,
        .v_off = (size_t)(kv_head * hd_v / vk->block_size) * (size_t)vk->block_bytes,
        .hd_k = op->group, .hd_v = hd_v, .scale = op->scale, .softcap = op->softcap,
    };
}

static inline int ll_cell_visible(const ll_kv *kv, const ll_op *op, int32_t c, int32_t qpos, int32_t qseq) {
    const int32_t p = kv->pos[c];
    if (p < 0 || kv->seq[c] != qseq) return 0;
    if (op->causal && p > qpos) return 0;
    return !(op->window > 0 && qpos - p >= op->window);
}

/* A raw score q.k scaled and softcapped. */
static inline float ll_attn_logit(const ll_attn_view *a, float dot) {
    dot *= a->scale;
    return a->softcap > 0.0f ? a->softcap * tanhf(dot / a->softcap) : dot;
}

/* The large-batch path: units of a batch, and one unit. */
int64_t ll_attention_tiled_units(const ll_op *op, const ll_batch *b);
void ll_attention_tiled_unit(const ll_op *op, const ll_batch *b, int64_t unit, ll_attn_scratch *s);

#endif
