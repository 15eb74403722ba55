/* Internal: the KV cache. Cells are shared by all layers: cell c holds, in every layer, the K and
 * V rows of one token, and knows that token's position and sequence (pos = -1: free). A batch
 * takes the first free cells (so after a remove or a context shift, a sequence's cells need not
 * be in position order: attention does not care). */
#ifndef LL_KV_CACHE_H
#define LL_KV_CACHE_H
#include <stddef.h>
#include <stdint.h>
#include "kernels.h"

typedef struct {
    int64_t k_width, v_width;          /* values per cell row */
    size_t k_row_bytes, v_row_bytes;   /* bytes per cell row in type_k / type_v */
    uint8_t *k;                        /* [n_ctx, k_row_bytes] */
    uint8_t *v;                        /* [n_ctx, v_row_bytes] */
    /* how K was rotated, for shifting positions (from the layer's KV_STORE op) */
    int64_t head_dim;
    int rope_mode;
    float rope_base, rope_freq_scale;
    const float *rope_freq_factors;    /* [head_dim / 2] or NULL */
    int has_rope;
} ll_kv_layer;

typedef struct {
    int n_layer, n_ctx;
    int type_k, type_v;
    int32_t *pos;                      /* [n_ctx] position of the token in each cell, -1 = free */
    int32_t *seq;                      /* [n_ctx] its sequence id */
    int32_t n_used;                    /* cells with pos >= 0 */
    int32_t extent;                    /* cells [0, extent) may be used; attention scans only these */
    ll_kv_layer *layers;               /* [n_layer] */
} ll_kv;

int ll_kv_init(ll_kv *kv, int n_layer, int n_ctx, int type_k, int type_v, const int64_t *k_width,
               const int64_t *v_width);
void ll_kv_release(ll_kv *kv);
int64_t ll_kv_bytes(const ll_kv *kv);

/* Claims n free cells for the batch (cells[i] for row i) and records their pos/seq.
 * LL_ERR_KV_FULL (nothing claimed) when fewer than n cells are free. */
int ll_kv_claim(ll_kv *kv, const int32_t *pos, const int32_t *seq, int32_t n, int32_t *cells);
/* Frees the given cells again (a batch that did not finish). */
void ll_kv_unclaim(ll_kv *kv, const int32_t *cells, int32_t n);


#endif
