/* Saving and restoring the KV cache as one byte string (Llama.save_state / load_state).
 *
 * Layout (native byte order; only read back by the same build on the same machine):
 *   ll_kv_state_header
 *   int32 pos[extent], int32 seq[extent]
 *   per layer: K rows [extent, k_row_bytes], V rows [extent, v_row_bytes]
 * Only cells [0, extent) are stored: a cache holding 30 tokens saves 30 rows per layer. */
#include <string.h>
#include "include/localllm.h"
#include "kv_cache.h"
#include "program.h"

#define LL_KV_STATE_MAGIC 0x564b4c4cu /* "LLKV" */

typedef struct {
    uint32_t magic;
    int32_t n_layer, n_ctx, type_k, type_v;
    int32_t extent;
} ll_kv_state_header;

static int64_t ll_kv_state_bytes(const ll_kv *kv, int32_t extent) {
    int64_t total = (int64_t)sizeof(ll_kv_state_header) + 2 * (int64_t)sizeof(int32_t) * extent;
    for (int l = 0; l < kv->n_layer; l++)
        total += (int64_t)extent * (int64_t)(kv->layers[l].k_row_bytes + kv->layers[l].v_row_bytes);
    return total;
}

int64_t ll_kv_state_size(const ll_model *model) {
    return model ? ll_kv_state_bytes(&model->kv, model->kv.extent) : 0;
}

/* Copies n bytes between the cache and the state string, advancing the string cursor. */
static void ll_copy_out(uint8_t **cursor, const void *src, size_t n) { memcpy(*cursor, src, n); *cursor += n; }
static void ll_copy_in(void *dst, const uint8_t **cursor, size_t n) { memcpy(dst, *cursor, n); *cursor += n; }

int ll_kv_state_save(const ll_model *model, void *dst, int64_t size) {
    if (!model || !dst || size != ll_kv_state_size(model)) return LL_ERR_INVALID_ARG;
    const ll_kv *kv = &model->kv;
    const ll_kv_state_header h = {LL_KV_STATE_MAGIC, kv->n_layer, kv->n_ctx, kv->type_k, kv->type_v,
                                  kv->extent};
    uint8_t *cursor = dst;
    ll_copy_out(&cursor, &h, sizeof h);
    ll_copy_out(&cursor, kv->pos, sizeof(int32_t) * (size_t)kv->extent);
    ll_copy_out(&cursor, kv->seq, sizeof(int32_t) * (size_t)kv->extent);
    for (int l = 0; l < kv->n_layer; l++) {
        const ll_kv_layer *layer = &kv->layers[l];
        ll_copy_out(&cursor, layer->k, (size_t)kv->extent * layer->k_row_bytes);
        ll_copy_out(&cursor, layer->v, (size_t)kv->extent * layer->v_row_bytes);
    }
    return LL_OK;
}

/* A saved state fits this cache: same shape and types, a consistent cell count, the right size. */
static int ll_kv_state_fits(const ll_kv *kv, const ll_kv_state_header *h, int64_t size) {
    if (h->magic != LL_KV_STATE_MAGIC || h->n_layer != kv->n_layer || h->type_k != kv->type_k ||
        h->type_v != kv->type_v || h->extent < 0 || h->extent > kv->n_ctx)
        return 0;
    return size == ll_kv_state_bytes(kv, h->extent);
}

int ll_kv_state_load(ll_model *model, const void *src, int64_t size) {
    if (!model || !src || size < (int64_t)sizeof(ll_kv_state_header)) return LL_ERR_INVALID_ARG;
    ll_kv *kv = &model->kv;
    ll_kv_state_header h;
    memcpy(&h, src, sizeof h);
    if (!ll_kv_state_fits(kv, &h, size)) return LL_ERR_INVALID_ARG;
    const uint8_t *cursor = (const uint8_t *)src + sizeof h;
    for (int32_t c = 0; c < kv->n_ctx; c++) kv->pos[c] = -1;
    ll_copy_in(kv->pos, &cursor, sizeof(int32_t) * (size_t)h.extent);
    ll_copy_in(kv->seq, &cursor, sizeof(int32_t) * (size_t)h.extent);
    int32_t used = 0;
    for (int32_t c = 0; c < h.extent; c++) used += kv->pos[c] >= 0;
    for (int l = 0; l < kv->n_layer; l++) {
        ll_kv_layer *layer = &kv->layers[l];
        ll_copy_in(layer->k, &cursor, (size_t)h.extent * layer->k_row_bytes);
        ll_copy_in(layer->v, &cursor, (size_t)h.extent * layer->v_row_bytes);
    }
    kv->extent = h.extent;
    kv->n_used = used; /* counted, not trusted: the cell bookkeeping must match the pos array */
    return LL_OK;
}
