/* The KV cache: storage per layer, cell bookkeeping, and the public clear / remove / shift calls. */
#include <stdlib.h>
#include "include/localllm.h"
#include "kv_cache.h"
#include "ops.h"
#include "program.h"

static size_t ll_row_size(int type, int64_t width) {
    const ll_type_kernels *k = &LL_KERNELS[type];
    return (size_t)(width / k->block_size) * (size_t)k->block_bytes;
}

static int ll_kv_type_ok(int type, int64_t width) {
    if (type != LL_TYPE_F16 && type != LL_TYPE_F32 && type != LL_TYPE_Q8_0) return 0;
    return width > 0 && width % LL_KERNELS[type].block_size == 0;
}

int ll_kv_init(ll_kv *kv, int n_layer, int n_ctx, int type_k, int type_v, const int64_t *k_width,
               const int64_t *v_width) {
    *kv = (ll_kv){.n_layer = n_layer, .n_ctx = n_ctx, .type_k = type_k, .type_v = type_v};
    if (n_layer < 0 || n_ctx <= 0 || (n_layer > 0 && (!k_width || !v_width))) return LL_ERR_INVALID_ARG;
    kv->pos = malloc(sizeof(int32_t) * (size_t)n_ctx);
    kv->seq = malloc(sizeof(int32_t) * (size_t)n_ctx);
    kv->layers = calloc((size_t)(n_layer ? n_layer : 1), sizeof(ll_kv_layer));
    if (!kv->pos || !kv->seq || !kv->layers) return LL_ERR_NOMEM;
    for (int i = 0; i < n_ctx; i++) kv->pos[i] = -1;
    for (int l = 0; l < n_layer; l++) {
        ll_kv_layer *layer = &kv->layers[l];
        if (k_width[l] == 0 && v_width[l] == 0) continue; /* offloaded: kept by its segment */
        if (!ll_kv_type_ok(type_k, k_width[l]) || !ll_kv_type_ok(type_v, v_width[l])) return LL_ERR_INVALID_ARG;
        layer->k_width = k_width[l];
        layer->v_width = v_width[l];
        layer->k_row_bytes = ll_row_size(type_k, k_width[l]);
        layer->v_row_bytes = ll_row_size(type_v, v_width[l]);
        layer->k = calloc((size_t)n_ctx, layer->k_row_bytes);
        layer->v = calloc((size_t)n_ctx, layer->v_row_bytes);
        if (!layer->k || !layer->v) return LL_ERR_NOMEM;
    }
    return LL_OK;
}

void ll_kv_release(ll_kv *kv) {
    for (int l = 0; kv->layers && l < kv->n_layer; l++) {
        free(kv->layers[l].k);
        free(kv->layers[l].v);
    }
    free(kv->layers);
    free(kv->pos);
    free(kv->seq);
    *kv = (ll_kv){0};
}

int64_t ll_kv_bytes(const ll_kv *kv) {
    int64_t total = 0;
    for (int l = 0; l < kv->n_layer; l++)
        total += (int64_t)kv->n_ctx * (int64_t)(kv->layers[l].k_row_bytes + kv->layers[l].v_row_bytes);
    return total;
}

int ll_kv_claim(ll_kv *kv, const int32_t *pos, const int32_t *seq, int32_t n, int32_t *cells) {
    if (n > kv->n_ctx - kv->n_used) return LL_ERR_KV_FULL;
    int32_t c = 0;
    for (int32_t i = 0; i < n; i++, c++) {
        while (kv->pos[c] >= 0) c++; /* there are enough free cells: this stops inside the cache */
        cells[i] = c;
        kv->pos[c] = pos[i];
        kv->seq[c] = seq[i];
        if (c + 1 > kv->extent) kv->extent = c + 1;
    }
    kv->n_used += n;
    return LL_OK;
}

static void ll_kv_free_cell(ll_kv *kv, int32_t c) {
    if (kv->pos[c] < 0) return;
    kv->pos[c] = -1;
    kv->n_used--;
}

static void ll_kv_trim_extent(ll_kv *kv) {
    while (kv->extent > 0 && kv->pos[kv->extent - 1] < 0) kv->extent--;
}

void ll_kv_unclaim(ll_kv *kv, const int32_t *cells, int32_t n) {
    for (int32_t i = 0; i < n; i++) ll_kv_free_cell(kv, cells[i]);
    ll_kv_trim_extent(kv);
}

static int ll_cell_in(const ll_kv *kv, int32_t c, int32_t seq, int32_t p0, int32_t p1) {
    return kv->pos[c] >= 0 && (seq < 0 || kv->seq[c] == seq) && kv->pos[c] >= p0 && (p1 < 0 || kv->pos[c] < p1);
}

int ll_kv_clear(ll_model *model) {
    if (!model) return LL_ERR_INVALID_ARG;
    return ll_kv_remove(model, -1, 0, -1);
}

int ll_kv_remove(ll_model *model, int32_t seq, int32_t p0, int32_t p1) {
    if (!model) return LL_ERR_INVALID_ARG;
    ll_kv *kv = &model->kv;
    for (int32_t c = 0; c < kv->extent; c++)
        if (ll_cell_in(kv, c, seq, p0, p1)) ll_kv_free_cell(kv, c);
    ll_kv_trim_extent(kv);
    return LL_OK;
}

/* Re-rotates the K rows of cell c in every layer by delta positions (RoPE angles add up). */
static void ll_kv_rerotate_cell(ll_kv *kv, int32_t c, int32_t delta, float *tmp) {
    for (int l = 0; l < kv->n_layer; l++) {
        ll_kv_layer *layer = &kv->layers[l];
        if (!layer->has_rope || !layer->k) continue;
        uint8_t *row = layer->k + (size_t)c * layer->k_row_bytes;
        LL_KERNELS[kv->type_k].dequantize_row(row, tmp, layer->k_width);
        ll_rope_row(tmp, (int)(layer->k_width / layer->head_dim), layer->head_dim, (float)delta, layer->rope_mode,
                    layer->rope_base, layer->rope_freq_scale, layer->rope_freq_factors);
        LL_KERNELS[kv->type_k].quantize_row(tmp, row, layer->k_width);
    }
}

/* Offloaded segments re-rotate the keys of their layers first, while the positions are unchanged. */
static int ll_kv_shift_segments(ll_model *model, int32_t seq, int32_t p0, int32_t p1, int32_t delta) {
    const ll_kv *kv = &model->kv;
    for (int i = 0; i < model->n_ops; i++) {
        const ll_op *op = &model->ops[i];
        if (op->kind != LL_OP_OFFLOAD) continue;
        const int status = op->offload_shift((void *)op->w, kv->pos, kv->seq, kv->extent, seq, p0, p1, delta);
        if (status != LL_OK) return status;
    }
    return LL_OK;
}

int ll_kv_shift(ll_model *model, int32_t seq, int32_t p0, int32_t p1, int32_t delta) {
    if (!model) return LL_ERR_INVALID_ARG;
    const int status = ll_kv_shift_segments(model, seq, p0, p1, delta);
    if (status != LL_OK) return status;
    ll_kv *kv = &model->kv;
    int64_t widest = 1;
    for (int l = 0; l < kv->n_layer; l++)
        if (kv->layers[l].k_width > widest) widest = kv->layers[l].k_width;
    float *tmp = malloc(sizeof(float) * (size_t)widest);
    if (!tmp) return LL_ERR_NOMEM;
    for (int32_t c = 0; c < kv->extent; c++) {
        if (!ll_cell_in(kv, c, seq, p0, p1)) continue;
        if (kv->pos[c] + delta < 0) { /* shifted before the start: gone */
            ll_kv_free_cell(kv, c);
            continue;
        }
        ll_kv_rerotate_cell(kv, c, delta, tmp);
        kv->pos[c] += delta;
    }
    free(tmp);
    ll_kv_trim_extent(kv);
    return LL_OK;
}

int32_t ll_kv_used(const ll_model *model) { return model ? model->kv.n_used : 0; }

int32_t ll_kv_max_pos(const ll_model *model, int32_t seq) {
    if (!model) return -1;
    int32_t best = -1;
    for (int32_t c = 0; c < model->kv.extent; c++)
        if (ll_cell_in(&model->kv, c, seq, 0, -1) && model->kv.pos[c] > best) best = model->kv.pos[c];
    return best;
}
