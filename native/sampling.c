/* Sampling helpers on a logits row: the k largest values in one pass (the first and most costly
 * step of the default sampler chain over a 262,144-token vocabulary). */
#include <math.h>
#include "include/localllm.h"

#define LL_TOPK_BLOCK 16 /* values tested against the current k-th best at once (vectorizes) */

/* 1 if a comes before b in the result: larger first, the lower index on ties. */
static int ll_before(float va, int32_t ia, float vb, int32_t ib) { return va > vb || (va == vb && ia < ib); }

/* Inserts (v, i) into the sorted list vals/ids of length *len (capacity k), dropping the last. */
static void ll_insert(float *vals, int32_t *ids, int32_t *len, int32_t k, float v, int32_t i) {
    int32_t j;
    if (*len < k) {
        j = (*len)++;
    } else {
        if (!ll_before(v, i, vals[k - 1], ids[k - 1])) return;
        j = k - 1;
    }
    while (j > 0 && ll_before(v, i, vals[j - 1], ids[j - 1])) {
        vals[j] = vals[j - 1];
        ids[j] = ids[j - 1];
        j--;
    }
    vals[j] = v;
    ids[j] = i;
}

static int ll_block_has_candidate(const float *x, int64_t n, float threshold) {
    int any = 0;
    for (int64_t j = 0; j < n; j++) any |= x[j] >= threshold;
    return any;
}

int ll_top_k(const float *x, int64_t n, int32_t k, int32_t *ids, float *vals, int32_t *n_found) {
    if (!x || !ids || !vals || !n_found || n < 0 || n > INT32_MAX || k <= 0) return LL_ERR_INVALID_ARG;
    int32_t len = 0;
    for (int64_t b = 0; b < n; b += LL_TOPK_BLOCK) {
        const int64_t m = n - b < LL_TOPK_BLOCK ? n - b : LL_TOPK_BLOCK;
        if (len == k && !ll_block_has_candidate(x + b, m, vals[k - 1])) continue;
        for (int64_t j = 0; j < m; j++) {
            const float v = x[b + j];
            if (isnan(v)) continue; /* never a candidate; the caller checks finiteness */
            if (len < k || v >= vals[k - 1]) ll_insert(vals, ids, &len, k, v, (int32_t)(b + j));
        }
    }
    *n_found = len;
    return LL_OK;
}
