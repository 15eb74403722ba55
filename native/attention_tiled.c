/* The large-batch attention path (batches of LL_ATTN_TILED_ROWS rows or more), f32 throughout.
 *
 * A unit is a block of query rows x one KV head. The cache is walked in tiles of LL_ATTN_TILE
 * cells on a grid fixed by the cell index; a tile that some of the block's rows see is converted
 * to f32 once (K transposed to [hd_k, tile], V as [tile, hd_v]) and then used by every such row
 * and every query head of the KV head (GQA). A tile no row of the block sees is skipped from the
 * cells' position range alone, without a look at its data.
 *
 * Per (row, head) the arithmetic is ggml's tiled kernel's: each score is an fmaf chain over the
 * head dim (LL_ATTN_KERNELS.tile_dots, across the tile's cells), the tile's max rescales the state once, then the
 * visible cells' weights exp(score - max) and V rows are folded in cell order (tile_mix). The kernels
 * take several queries that see the same cells at once (the rows that see a whole tile, or one
 * row's query heads), which changes no query's arithmetic. Nothing of it depends on the block, the
 * unit or the thread, so results are the same for any thread count. */
#include <math.h>
#include <string.h>
#include "attention.h"

/* The positions and sequences of a tile's cells, summed up. */
typedef struct {
    int32_t min_pos, max_pos;
    int32_t seq;              /* the sequence of every cell when `uniform` */
    int32_t min_seq, max_seq; /* the sequences of the cells in use lie in [min_seq, max_seq] */
    int uniform;              /* every cell is in use and in sequence `seq` */
} ll_tile_span;

enum { LL_TILE_HIDDEN, LL_TILE_PARTLY, LL_TILE_VISIBLE };

typedef struct {
    float *acc;  /* [hd_v] */
    float *max, *sum;
} ll_query_state;

static ll_tile_span ll_tile_span_of(const ll_kv *kv, int32_t c0, int nc) {
    ll_tile_span t = {.min_pos = INT32_MAX, .max_pos = INT32_MIN, .seq = kv->seq[c0], .min_seq = INT32_MAX,
                      .max_seq = INT32_MIN, .uniform = 1};
    for (int i = 0; i < nc; i++) {
        const int32_t p = kv->pos[c0 + i], seq = kv->seq[c0 + i];
        t.uniform &= p >= 0 && seq == t.seq;
        t.min_pos = p < t.min_pos ? p : t.min_pos;
        t.max_pos = p > t.max_pos ? p : t.max_pos;
        if (p >= 0) {
            t.min_seq = seq < t.min_seq ? seq : t.min_seq;
            t.max_seq = seq > t.max_seq ? seq : t.max_seq;
        }
    }
    return t;
}

/* Which of a tile's cells a query at (qpos, qseq) sees: none, all, or some (then ask each cell). */
static int ll_tile_visibility(const ll_tile_span *t, const ll_op *op, int32_t qpos, int32_t qseq) {
    if (!t->uniform) { /* several sequences (packed batches of sentences) or free cells */
        const int other_seqs = qseq < t->min_seq || qseq > t->max_seq;
        return t->max_pos < 0 || other_seqs ? LL_TILE_HIDDEN : LL_TILE_PARTLY;
    }
    if (t->seq != qseq || (op->causal && t->min_pos > qpos)) return LL_TILE_HIDDEN;
    if (op->window > 0 && (int64_t)qpos - t->max_pos >= op->window) return LL_TILE_HIDDEN;
    const int causal_all = !op->causal || t->max_pos <= qpos;
    const int window_all = op->window <= 0 || (int64_t)qpos - t->min_pos < op->window;
    return causal_all && window_all ? LL_TILE_VISIBLE : LL_TILE_PARTLY;
}

/* The tile's visible cells (indices into the tile) for one query; returns their count. */
static int ll_tile_cells(const ll_kv *kv, const ll_op *op, int32_t c0, int nc, int visibility, int32_t qpos,
                         int32_t qseq, int32_t *cells) {
    int n = 0;
    for (int i = 0; i < nc; i++)
        if (visibility == LL_TILE_VISIBLE || ll_cell_visible(kv, op, c0 + i, qpos, qseq)) cells[n++] = i;
    return n;
}

/* kt[hd_k, LL_ATTN_TILE] <- the K heads of cells [c0, c0 + nc) (columns past nc: 0), and
 * vt[LL_ATTN_TILE, hd_v] <- their V heads. vt is first the staging area of K's rows. */
static void ll_tile_load(const ll_attn_view *a, int32_t c0, int nc, float *kt, float *vt) {
    const int64_t hd = a->hd_k;
    for (int i = 0; i < nc; i++)
        a->kk->dequantize_row(a->k + (size_t)(c0 + i) * a->k_row_bytes + a->k_off, vt + i * hd, hd);
    LL_ATTN_KERNELS.tile_transpose(hd, nc, vt, kt);
    for (int i = 0; i < nc; i++)
        a->vk->dequantize_row(a->v + (size_t)(c0 + i) * a->v_row_bytes + a->v_off, vt + i * a->hd_v, a->hd_v);
}

static ll_query_state ll_state_of(const ll_attn_scratch *s, int q, int64_t hd_v) {
    return (ll_query_state){.acc = s->block_acc + q * hd_v, .max = s->block_max + q, .sum = s->block_sum + q};
}

/* The online softmax's scalar side for one query and tile: w[n] <- exp(logit - max) of its visible
 * cells (dot: [LL_ATTN_TILE] its raw scores), after the state's max has taken the tile's in (the
 * sum of p * V rescaled once). */
static void ll_tile_weights(const ll_attn_view *a, const float *dot, const int32_t *cells, int n, ll_query_state st,
                            float *w) {
    float tile_max = -INFINITY;
    for (int i = 0; i < n; i++) {
        w[i] = ll_attn_logit(a, dot[cells[i]]);
        if (w[i] > tile_max) tile_max = w[i]; /* fmaxf's result (NaNs skipped), without its call */
    }
    if (tile_max > *st.max) {
        const float correction = expf(*st.max - tile_max);
        for (int64_t d = 0; d < a->hd_v; d++) st.acc[d] *= correction;
        *st.sum *= correction;
        *st.max = tile_max;
    }
    double tile_sum = 0.0;
    for (int i = 0; i < n; i++) {
        w[i] = expf(w[i] - *st.max);
        tile_sum += w[i];
    }
    *st.sum += (float)tile_sum;
}

/* Queries of a unit that see the same cells of a tile, folded in together. */
typedef struct {
    const float *q[LL_ATTN_BLOCK_QUERIES]; /* [hd_k] each */
    int state[LL_ATTN_BLOCK_QUERIES];      /* the query's index among the unit's states */
    int m;
} ll_query_set;

/* Folds one tile's visible cells (the same for every query of the set) into the set's states,
 * and empties the set. */
static void ll_tile_fold(const ll_attn_view *a, ll_query_set *set, const float *kt, const float *vt,
                         const int32_t *cells, int n, const ll_attn_scratch *s) {
    float dot[LL_ATTN_BLOCK_QUERIES * LL_ATTN_TILE], w[LL_ATTN_BLOCK_QUERIES * LL_ATTN_TILE]; /* [m, LL_ATTN_TILE] */
    float *acc[LL_ATTN_BLOCK_QUERIES];
    LL_ATTN_KERNELS.tile_dots(a->hd_k, set->m, set->q, kt, dot);
    for (int j = 0; j < set->m; j++) {
        const ll_query_state st = ll_state_of(s, set->state[j], a->hd_v);
        ll_tile_weights(a, dot + j * LL_ATTN_TILE, cells, n, st, w + j * LL_ATTN_TILE);
        acc[j] = st.acc;
    }
    LL_ATTN_KERNELS.tile_mix(a->hd_v, set->m, vt, cells, w, n, acc);
    set->m = 0;
}

/* ---------------------------------------------------------------------------------------------
 * Units: row blocks x KV heads, the blocks of the latest rows (which see the most cells) first. */

static int32_t ll_block_rows(const ll_op *op) {
    const int group = op->n_head / op->n_head_kv;
    return group >= LL_ATTN_BLOCK_QUERIES ? 1 : LL_ATTN_BLOCK_QUERIES / group;
}

int64_t ll_attention_tiled_units(const ll_op *op, const ll_batch *b) {
    const int32_t rows = ll_block_rows(op);
    return (int64_t)((b->rows + rows - 1) / rows) * op->n_head_kv;
}

/* Folds a loaded tile into the states of the block's rows [r0, r0 + nr): first every row that sees
 * all its cells, in sets of up to LL_ATTN_BLOCK_QUERIES queries, then the rows that see some: each
 * alone, or, when a row's cells depend on its sequence only (bidirectional, no window: an encoder's
 * packed sentences), the consecutive rows of one sequence together. */
static void ll_fold_rows(const ll_attn_view *a, const ll_op *op, const ll_batch *b, const float *q, int kv_head,
                         int32_t r0, int32_t nr, int32_t c0, int nc, const int *visibility, ll_attn_scratch *s) {
    const ll_kv *kv = &b->model->kv;
    const int group = op->n_head / op->n_head_kv;
    const int by_seq = !op->causal && op->window <= 0;
    int32_t cells[LL_ATTN_TILE], cells_seq = -1; /* cells: the visible cells of sequence cells_seq (by_seq) */
    ll_query_set set = {.m = 0};
    for (int pass = LL_TILE_VISIBLE; pass >= LL_TILE_PARTLY; pass--) {
        int n = pass == LL_TILE_VISIBLE ? ll_tile_cells(kv, op, c0, nc, LL_TILE_VISIBLE, 0, 0, cells) : 0;
        for (int32_t r = 0; r < nr; r++) {
            if (visibility[r] != pass) continue;
            if (pass == LL_TILE_PARTLY && !(by_seq && b->seq[r0 + r] == cells_seq)) {
                if (set.m) ll_tile_fold(a, &set, s->kt, s->vt, cells, n, s);
                n = ll_tile_cells(kv, op, c0, nc, pass, b->pos[r0 + r], b->seq[r0 + r], cells);
                cells_seq = b->seq[r0 + r];
            }
            if (!n) continue;
            for (int h = 0; h < group; h++) {
                set.q[set.m] = q + (int64_t)(r0 + r) * op->n + (int64_t)(kv_head * group + h) * op->group;
                set.state[set.m++] = r * group + h;
                if (set.m == LL_ATTN_BLOCK_QUERIES) ll_tile_fold(a, &set, s->kt, s->vt, cells, n, s);
            }
        }
        if (set.m) ll_tile_fold(a, &set, s->kt, s->vt, cells, n, s);
    }
}

void ll_attention_tiled_unit(const ll_op *op, const ll_batch *b, int64_t unit, ll_attn_scratch *s) {
    const ll_kv *kv = &b->model->kv;
    const int group = op->n_head / op->n_head_kv, kv_head = (int)(unit % op->n_head_kv);
    const int32_t block_rows = ll_block_rows(op), n_blocks = (b->rows + block_rows - 1) / block_rows;
    const int32_t r0 = (n_blocks - 1 - (int32_t)(unit / op->n_head_kv)) * block_rows;
    const int32_t nr = b->rows - r0 < block_rows ? b->rows - r0 : block_rows;
    const ll_attn_view a = ll_attn_view_of(op, kv, kv_head);
    const float *q = b->model->buffers[op->src0]; /* [rows, op->n] */
    for (int i = 0; i < nr * group; i++) {
        const ll_query_state st = ll_state_of(s, i, a.hd_v);
        memset(st.acc, 0, sizeof(float) * (size_t)a.hd_v);
        *st.max = -INFINITY;
        *st.sum = 0.0f;
    }
    int visibility[LL_ATTN_BLOCK_QUERIES];
    for (int32_t c0 = 0; c0 < kv->extent; c0 += LL_ATTN_TILE) {
        const int nc = kv->extent - c0 < LL_ATTN_TILE ? kv->extent - c0 : LL_ATTN_TILE;
        const ll_tile_span span = ll_tile_span_of(kv, c0, nc);
        int seen = 0;
        for (int32_t r = 0; r < nr; r++) {
            visibility[r] = ll_tile_visibility(&span, op, b->pos[r0 + r], b->seq[r0 + r]);
            seen |= visibility[r] != LL_TILE_HIDDEN;
        }
        if (!seen) continue;
        ll_tile_load(&a, c0, nc, s->kt, s->vt);
        ll_fold_rows(&a, op, b, q, kv_head, r0, nr, c0, nc, visibility, s);
    }
    const int64_t width = b->model->buffer_width[op->dst];
    for (int32_t r = 0; r < nr; r++) {
        for (int h = 0; h < group; h++) {
            const ll_query_state st = ll_state_of(s, r * group + h, a.hd_v);
            float *out = b->model->buffers[op->dst] + (int64_t)(r0 + r) * width + (int64_t)(kv_head * group + h) * a.hd_v;
            const float inv = *st.sum > 0.0f ? 1.0f / *st.sum : 0.0f;
            for (int64_t d = 0; d < a.hd_v; d++) out[d] = st.acc[d] * inv;
        }
    }
}
