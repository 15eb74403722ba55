/* The program executor: a model is a list of ops over weights and activation buffers; one
 * ll_forward call runs all of them for a batch as ONE thread-pool job, with a barrier between
 * consecutive ops (each op reads what the previous ones wrote). Row-wise ops split rows evenly,
 * attention hands out its units (attention.c) through the pool's counter, matmul does its own split.
 * Every row is computed by exactly one thread, the same way for any thread count. */
#include <stdlib.h>
#include <string.h>
#include "include/localllm.h"
#include "ops.h"
#include "program.h"

/* ---------------------------------------------------------------------------------------------
 * Checking a program once, at load. */

static int ll_buffer_ok(const ll_model *m, int id, int64_t width) {
    if (id == LL_BUF_LOGITS) return 1;
    return id >= 0 && id < m->n_buffers && m->buffer_width[id] == width; /* rows are packed */
}

static int ll_kernel_ok(int type, int need_vec_dot) {
    if (type < 0 || type >= LL_TYPE_COUNT || !LL_KERNELS[type].name) return 0;
    return !need_vec_dot || LL_KERNELS[type].vec_dot;
}

static int ll_op_ok(const ll_model *m, const ll_op *op) {
    const int64_t n = op->n;
    if (n <= 0) return 0;
    switch (op->kind) {
    case LL_OP_GET_ROWS:
    case LL_OP_GET_POS_ROWS:
        return op->w && ll_kernel_ok(op->w_type, 0) && n % LL_KERNELS[op->w_type].block_size == 0 &&
               op->w_rows > 0 && ll_buffer_ok(m, op->dst, n);
    case LL_OP_MATMUL:
        return op->w && ll_kernel_ok(op->w_type, 1) && n % LL_KERNELS[op->w_type].block_size == 0 &&
               op->w_rows > 0 && ll_buffer_ok(m, op->src0, n) && ll_buffer_ok(m, op->dst, op->w_rows) &&
               op->src0 != op->dst;
    case LL_OP_RMS_NORM:
    case LL_OP_LAYER_NORM:
        return op->group > 0 && n % op->group == 0 && ll_buffer_ok(m, op->src0, n) && ll_buffer_ok(m, op->dst, n);
    case LL_OP_ROPE:
        return op->group > 1 && op->group % 2 == 0 && op->n_head > 0 && op->n_head * op->group <= n &&
               op->rope_base > 0 && ll_buffer_ok(m, op->src0, n) && ll_buffer_ok(m, op->dst, n);
    case LL_OP_KV_STORE:
        return op->layer >= 0 && op->layer < m->kv.n_layer && n == m->kv.layers[op->layer].k_width &&
               op->n1 == m->kv.layers[op->layer].v_width && ll_buffer_ok(m, op->src0, n) &&
               ll_buffer_ok(m, op->src1, op->n1) && (op->rope_base == 0 || (op->group > 1 && n % op->group == 0));
    case LL_OP_ATTENTION:
        return op->layer >= 0 && op->layer < m->kv.n_layer && op->n_head_kv > 0 &&
               op->group % LL_KERNELS[m->kv.type_k].block_size == 0 &&              /* heads in whole K blocks */
               (m->kv.layers[op->layer].v_width / op->n_head_kv) % LL_KERNELS[m->kv.type_v].block_size == 0 &&
               op->layer >= 0 && op->layer < m->kv.n_layer && op->n_head > 0 && op->n_head_kv > 0 &&
               op->n_head % op->n_head_kv == 0 && op->group > 0 && (int64_t)op->n_head * op->group <= n &&
               m->kv.layers[op->layer].k_width == (int64_t)op->n_head_kv * op->group &&
               ll_buffer_ok(m, op->src0, n) && ll_buffer_ok(m, op->dst, op->n_head * (m->kv.layers[op->layer].v_width / op->n_head_kv)) &&
               op->src0 != op->dst;
    case LL_OP_ADD:
    case LL_OP_MUL:
        return ll_buffer_ok(m, op->src0, n) && ll_buffer_ok(m, op->src1, n) && ll_buffer_ok(m, op->dst, n);
    case LL_OP_GELU_ERF:
        return ll_buffer_ok(m, op->src0, n) && ll_buffer_ok(m, op->dst, n);
    case LL_OP_GELU_MUL:
    case LL_OP_SILU_MUL:
        return ll_buffer_ok(m, op->src0, n) && (op->src1 == LL_BUF_NONE || ll_buffer_ok(m, op->src1, n)) &&
               ll_buffer_ok(m, op->dst, n);
    case LL_OP_ADD_BIAS:
        return op->b && ll_buffer_ok(m, op->src0, n) && ll_buffer_ok(m, op->dst, n);
    case LL_OP_SCALE:
    case LL_OP_SOFTCAP:
        return ll_buffer_ok(m, op->src0, n) && ll_buffer_ok(m, op->dst, n) && (op->kind != LL_OP_SOFTCAP || op->softcap > 0);
    case LL_OP_LOGIT_ROWS:
        return ll_buffer_ok(m, op->src0, n) && ll_buffer_ok(m, op->dst, n) && op->src0 != op->dst;
    case LL_OP_OFFLOAD:
        return op->w && op->offload && op->offload_shift && (op->dst == LL_BUF_NONE || op->dst == LL_BUF_LOGITS);
    default:
        return 0;
    }
}

/* Ops before the (single) LOGIT_ROWS op work on the batch's rows; ops after it on the rows that
 * want logits, so they may not use per-row batch data (tokens, positions, cells). The caller's
 * logits array is only written after it: first by one matmul or one norm reading another buffer
 * (hidden-state output; either fixes its width), then only by in-place ops of that width. */
static int ll_op_in_phase(ll_model *m, const ll_op *op, int after_logit_rows) {
    const int uses_logits = op->src0 == LL_BUF_LOGITS || op->src1 == LL_BUF_LOGITS || op->dst == LL_BUF_LOGITS;
    if (op->kind == LL_OP_OFFLOAD) { /* a segment runs before LOGIT_ROWS, or contains it and the output */
        if (after_logit_rows) return 0;
        if (op->dst == LL_BUF_LOGITS) m->logits_width = op->n;
        return 1;
    }
    if (op->kind == LL_OP_LOGIT_ROWS) return !after_logit_rows && !uses_logits;
    if (!after_logit_rows)
        return !uses_logits;
    switch (op->kind) {
    case LL_OP_GET_ROWS: case LL_OP_GET_POS_ROWS: case LL_OP_ROPE: case LL_OP_KV_STORE: case LL_OP_ATTENTION:
        return 0;
    default: break;
    }
    if (!uses_logits) return 1;
    const int first_writer = op->dst == LL_BUF_LOGITS && op->src0 != LL_BUF_LOGITS && !m->logits_width;
    if (first_writer && op->kind == LL_OP_MATMUL) {
        m->logits_width = op->w_rows;
        return 1;
    }
    if (first_writer && (op->kind == LL_OP_RMS_NORM || op->kind == LL_OP_LAYER_NORM)) {
        m->logits_width = op->n;
        return 1;
    }
    const int in_place = op->src0 == LL_BUF_LOGITS && op->dst == LL_BUF_LOGITS && op->src1 != LL_BUF_LOGITS;
    return in_place && m->logits_width && op->n == m->logits_width &&
           (op->kind == LL_OP_SCALE || op->kind == LL_OP_SOFTCAP);
}

/* After LOGIT_ROWS, and after a segment that contains it, ops work on the rows that want logits. */
static int ll_op_ends_batch_phase(const ll_op *op) {
    return op->kind == LL_OP_LOGIT_ROWS || (op->kind == LL_OP_OFFLOAD && op->dst == LL_BUF_LOGITS);
}

/* KV_STORE ops say how their layer's keys were rotated: kept for ll_kv_shift. */
static void ll_record_rope(ll_model *m, const ll_op *op) {
    ll_kv_layer *layer = &m->kv.layers[op->layer];
    layer->has_rope = op->rope_base > 0;
    layer->head_dim = op->group;
    layer->rope_mode = op->rope_mode;
    layer->rope_base = op->rope_base;
    layer->rope_freq_scale = op->rope_freq_scale;
    layer->rope_freq_factors = op->rope_freq_factors;
}

/* ---------------------------------------------------------------------------------------------
 * Creating and freeing a model. */

static int ll_alloc_buffers(ll_model *m, const int64_t *width) {
    m->buffer_width = malloc(sizeof(int64_t) * (size_t)m->n_buffers);
    m->buffers = calloc((size_t)m->n_buffers, sizeof(float *));
    if (!m->buffer_width || !m->buffers) return LL_ERR_NOMEM;
    for (int i = 0; i < m->n_buffers; i++) {
        if (width[i] <= 0) return LL_ERR_INVALID_ARG;
        m->buffer_width[i] = width[i];
        m->buffers[i] = aligned_alloc(64, ((size_t)width[i] * (size_t)m->n_batch_max * sizeof(float) + 63) / 64 * 64);
        if (!m->buffers[i]) return LL_ERR_NOMEM;
    }
    return LL_OK;
}

static int ll_alloc_attn_scratch(ll_model *m) {
    int64_t hd = 1;
    int max_group = 1;
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == LL_OP_ATTENTION) {
            const ll_op *op = &m->ops[i];
            const int64_t hd_v = m->kv.layers[op->layer].v_width / op->n_head_kv;
            if (op->group > hd) hd = op->group;
            if (hd_v > hd) hd = hd_v;
            if (op->n_head / op->n_head_kv > max_group) max_group = op->n_head / op->n_head_kv;
        }
    m->attn = calloc((size_t)m->n_threads, sizeof(ll_attn_scratch *));
    if (!m->attn) return LL_ERR_NOMEM;
    for (int t = 0; t < m->n_threads; t++)
        if (!(m->attn[t] = ll_attn_scratch_new(hd, max_group, m->kv.n_ctx))) return LL_ERR_NOMEM;
    return LL_OK;
}

/* Scratch bytes the largest matmul of the program needs at n_batch_max rows. */
static size_t ll_matmul_need(const ll_model *m) {
    size_t need = 0;
    static float dummy;
    for (int i = 0; i < m->n_ops; i++) {
        const ll_op *op = &m->ops[i];
        if (op->kind != LL_OP_MATMUL) continue;
        ll_matmul_op mm;
        if (ll_matmul_prepare(&mm, op->w_type, op->w, op->w_rows, op->n, &dummy, m->n_batch_max, &dummy) != LL_OK)
            continue;
        const size_t bytes = ll_matmul_scratch_bytes(&mm);
        if (bytes > need) need = bytes;
    }
    return need;
}

static int ll_model_setup(ll_ctx *ctx, ll_model *m, const ll_op *ops, const int64_t *buffer_width,
                          const ll_kv_config *kv, int *bad_op) {
    int status = ll_kv_init(&m->kv, kv->n_layer, kv->n_ctx, kv->type_k, kv->type_v, kv->k_width, kv->v_width);
    if (status != LL_OK) return status;
    if ((status = ll_alloc_buffers(m, buffer_width)) != LL_OK) return status;
    m->ops = malloc(sizeof(ll_op) * (size_t)m->n_ops);
    if (!m->ops) return LL_ERR_NOMEM;
    memcpy(m->ops, ops, sizeof(ll_op) * (size_t)m->n_ops);
    int after_logit_rows = 0;
    for (int i = 0; i < m->n_ops; i++) {
        if (!ll_op_ok(m, &m->ops[i]) || !ll_op_in_phase(m, &m->ops[i], after_logit_rows)) {
            *bad_op = i;
            return LL_ERR_INVALID_ARG;
        }
        if (m->ops[i].kind == LL_OP_KV_STORE) ll_record_rope(m, &m->ops[i]);
        if (ll_op_ends_batch_phase(&m->ops[i])) after_logit_rows = 1;
    }
    if (!after_logit_rows && m->logits_width) {
        *bad_op = -1;
        return LL_ERR_INVALID_ARG;
    }
    m->n_threads = ll_ctx_n_threads(ctx);
    if ((status = ll_alloc_attn_scratch(m)) != LL_OK) return status;
    m->matmul_scratch = ll_matmul_need(m);
    return LL_OK;
}

int ll_model_new(ll_ctx *ctx, const ll_op *ops, int n_ops, const int64_t *buffer_width, int n_buffers,
                 int n_batch_max, const ll_kv_config *kv, ll_model **out, int *bad_op) {
    if (!out || !bad_op) return LL_ERR_INVALID_ARG;
    *out = NULL;
    *bad_op = -1;
    if (!ctx || !ops || n_ops <= 0 || !buffer_width || n_buffers <= 0 || n_batch_max <= 0 || !kv)
        return LL_ERR_INVALID_ARG;
    ll_kernels_init();
    ll_ops_init();
    ll_model *m = calloc(1, sizeof *m);
    if (!m) return LL_ERR_NOMEM;
    m->n_ops = n_ops;
    m->n_buffers = n_buffers;
    m->n_batch_max = n_batch_max;
    const int status = ll_model_setup(ctx, m, ops, buffer_width, kv, bad_op);
    if (status != LL_OK) {
        ll_model_free(m);
        return status;
    }
    *out = m;
    return LL_OK;
}

void ll_model_free(ll_model *m) {
    if (!m) return;
    for (int i = 0; m->buffers && i < m->n_buffers; i++) free(m->buffers[i]);
    for (int t = 0; m->attn && t < m->n_threads; t++) ll_attn_scratch_free(m->attn[t]);
    free(m->attn);
    free(m->op_ns);
    free(m->buffers);
    free(m->buffer_width);
    free(m->ops);
    ll_kv_release(&m->kv);
    free(m);
}

int64_t ll_model_kv_bytes(const ll_model *m) { return m ? ll_kv_bytes(&m->kv) : 0; }

int64_t ll_model_logits_width(const ll_model *m) { return m ? m->logits_width : 0; }

int64_t ll_model_buffer_bytes(const ll_model *m) {
    int64_t total = 0;
    for (int i = 0; m && i < m->n_buffers; i++) total += m->buffer_width[i] * m->n_batch_max * (int64_t)sizeof(float);
    return total;
}

/* ---------------------------------------------------------------------------------------------
 * Running the ops. */

static float *ll_buf(const ll_batch *b, int id) { return id == LL_BUF_LOGITS ? b->logits : b->model->buffers[id]; }

static int64_t ll_width(const ll_batch *b, int id, int64_t fallback) {
    return id == LL_BUF_LOGITS ? fallback : b->model->buffer_width[id];
}

/* Rows [r0, r1) of `rows` for thread ith of nth. */
static void ll_split(int32_t rows, int ith, int nth, int32_t *r0, int32_t *r1) {
    *r0 = (int32_t)((int64_t)rows * ith / nth);
    *r1 = (int32_t)((int64_t)rows * (ith + 1) / nth);
}

static void ll_run_row_op(const ll_op *op, const ll_batch *b, int32_t r) {
    const int64_t ws = ll_width(b, op->src0, op->n), wd = ll_width(b, op->dst, op->n);
    const float *x = ll_buf(b, op->src0) + r * ws;
    float *y = ll_buf(b, op->dst) + r * wd;
    const float *x1 = op->src1 >= 0 ? ll_buf(b, op->src1) + r * ll_width(b, op->src1, op->n) : NULL;
    switch (op->kind) {
    case LL_OP_RMS_NORM: ll_rms_norm_row(x, y, op->n, op->group, op->w, op->eps); break;
    case LL_OP_LAYER_NORM: ll_layer_norm_row(x, y, op->n, op->group, op->w, op->b, op->eps); break;
    case LL_OP_ADD: for (int64_t i = 0; i < op->n; i++) y[i] = x[i] + x1[i]; break;
    case LL_OP_MUL: for (int64_t i = 0; i < op->n; i++) y[i] = x[i] * x1[i]; break;
    case LL_OP_ADD_BIAS: for (int64_t i = 0; i < op->n; i++) y[i] = x[i] + op->b[i]; break;
    case LL_OP_SCALE: for (int64_t i = 0; i < op->n; i++) y[i] = x[i] * op->scale; break;
    case LL_OP_GELU_MUL: ll_gelu_mul_row(x, x1, y, op->n); break;
    case LL_OP_SILU_MUL: ll_silu_mul_row(x, x1, y, op->n); break;
    case LL_OP_SOFTCAP: ll_softcap_row(x, y, op->n, op->softcap); break;
    case LL_OP_GELU_ERF: ll_gelu_erf_row(x, y, op->n); break;
    case LL_OP_ROPE:
        if (y != x) memcpy(y, x, sizeof(float) * (size_t)op->n);
        ll_rope_row(y, op->n_head, op->group, (float)b->pos[r], op->rope_mode, op->rope_base,
                    op->rope_freq_scale, op->rope_freq_factors);
        break;
    default: break;
    }
}

static void ll_run_get_rows(const ll_op *op, const ll_batch *b, int32_t r) {
    const ll_type_kernels *k = &LL_KERNELS[op->w_type];
    const size_t row_bytes = (size_t)(op->n / k->block_size) * (size_t)k->block_bytes;
    const int32_t index = op->kind == LL_OP_GET_POS_ROWS ? b->pos[r] : b->tokens[r];
    k->dequantize_row((const uint8_t *)op->w + (size_t)index * row_bytes,
                      ll_buf(b, op->dst) + r * ll_width(b, op->dst, op->n), op->n);
}

static void ll_run_kv_store(const ll_op *op, const ll_batch *b, int32_t r) {
    const ll_kv *kv = &b->model->kv;
    const ll_kv_layer *layer = &kv->layers[op->layer];
    const size_t cell = (size_t)b->cells[r];
    LL_KERNELS[kv->type_k].quantize_row(ll_buf(b, op->src0) + r * ll_width(b, op->src0, op->n),
                                        layer->k + cell * layer->k_row_bytes, op->n);
    LL_KERNELS[kv->type_v].quantize_row(ll_buf(b, op->src1) + r * ll_width(b, op->src1, op->n1),
                                        layer->v + cell * layer->v_row_bytes, op->n1);
}

static void ll_run_logit_rows(const ll_op *op, const ll_batch *b, int32_t i) {
    memcpy(ll_buf(b, op->dst) + i * ll_width(b, op->dst, op->n),
           ll_buf(b, op->src0) + b->logit_rows[i] * ll_width(b, op->src0, op->n), sizeof(float) * (size_t)op->n);
}

static void ll_run_attention(const ll_op *op, ll_batch *b, int ith) {
    const int64_t units = ll_attention_units(op, b);
    for (int64_t u; (u = ll_pool_next_chunk(b->ctx->pool)) < units;) ll_attention_run(op, b, u, b->model->attn[ith]);
}

/* A matmul with `bias` (NULL: none) added to its rows; xq_ready: the scratch already holds its
 * input in its activation type. */
static void ll_run_matmul(const ll_op *op, ll_batch *b, int ith, int nth, const float *bias, int xq_ready) {
    ll_matmul_op mm;
    if (ll_matmul_prepare(&mm, op->w_type, op->w, op->w_rows, op->n, ll_buf(b, op->src0), b->rows,
                          ll_buf(b, op->dst)) != LL_OK)
        return; /* checked at load: cannot happen */
    mm.bias = bias;
    mm.xq_ready = xq_ready;
    if (ll_matmul_scratch_bytes(&mm)) mm.xq = b->ctx->scratch; /* else x is used as is (F32) */
    ll_matmul_run(&mm, b->ctx->pool, ith, nth);
}

/* Hands the batch to an offloaded segment (thread 0 only; the others wait at the barrier). */
static void ll_run_offload(const ll_op *op, ll_batch *b) {
    const ll_kv *kv = &b->model->kv;
    const ll_offload_batch ob = {
        .n = b->n, .tokens = b->tokens, .pos = b->pos, .seq = b->seq, .cells = b->cells,
        .logit_rows = b->logit_rows, .n_logits = b->n_logits, .cell_pos = kv->pos, .cell_seq = kv->seq,
        .kv_extent = kv->extent, .buffers = b->model->buffers, .logits = b->logits,
    };
    b->status = op->offload((void *)op->w, &ob);
}

/* The bias of op i + 1 when it only adds a bias to op i's matmul output in place (the two then
 * run as one op), else NULL. */
static const float *ll_fused_bias(const ll_model *m, int i) {
    const ll_op *op = &m->ops[i], *next = &m->ops[i + 1];
    if (op->kind != LL_OP_MATMUL || i + 1 >= m->n_ops || next->kind != LL_OP_ADD_BIAS) return NULL;
    return next->src0 == op->dst && next->dst == op->dst && next->n == op->w_rows ? next->b : NULL;
}

/* Whether matmul op `i` reads what matmul op `prev`, run just before it, read, with the same
 * activation type: the scratch then still holds that input quantized (Q, K and V; gate and up). */
static int ll_same_matmul_input(const ll_model *m, int prev, int i) {
    if (prev < 0) return 0;
    const ll_op *a = &m->ops[prev], *op = &m->ops[i];
    return a->kind == LL_OP_MATMUL && op->kind == LL_OP_MATMUL && a->src0 == op->src0 && a->n == op->n &&
           a->dst != a->src0 && !ll_op_ends_batch_phase(a) &&
           LL_KERNELS[a->w_type].vec_dot_type == LL_KERNELS[op->w_type].vec_dot_type;
}

static void ll_run_op(const ll_op *op, ll_batch *b, int ith, int nth, const float *bias, int xq_ready) {
    int32_t r0, r1;
    switch (op->kind) {
    case LL_OP_OFFLOAD:
        if (ith == 0) ll_run_offload(op, b);
        return;
    case LL_OP_MATMUL: ll_run_matmul(op, b, ith, nth, bias, xq_ready); return;
    case LL_OP_ATTENTION: ll_run_attention(op, b, ith); return;
    case LL_OP_LOGIT_ROWS:
        ll_split(b->n_logits, ith, nth, &r0, &r1);
        for (int32_t i = r0; i < r1; i++) ll_run_logit_rows(op, b, i);
        return;
    default: break;
    }
    ll_split(b->rows, ith, nth, &r0, &r1);
    for (int32_t r = r0; r < r1; r++) {
        if (op->kind == LL_OP_GET_ROWS || op->kind == LL_OP_GET_POS_ROWS) ll_run_get_rows(op, b, r);
        else if (op->kind == LL_OP_KV_STORE) ll_run_kv_store(op, b, r);
        else ll_run_row_op(op, b, r);
    }
}

void ll_program_job(void *arg, int ith, int nth) {
    ll_batch *b = arg;
    ll_model *m = b->model;
    int64_t start = ith == 0 && m->op_ns ? ll_now_ns() : 0;
    for (int i = 0, prev = -1; i < m->n_ops; i++) {
        const int op_index = i;
        const float *bias = ll_fused_bias(m, i);
        ll_run_op(&m->ops[i], b, ith, nth, bias, ll_same_matmul_input(m, prev, i));
        prev = i;
        i += bias != NULL; /* the bias op ran inside the matmul */
        if (ith == 0) {
            m->stop = __atomic_load_n(&b->ctx->abort_flag, __ATOMIC_RELAXED) || b->status != LL_OK;
            if (ll_op_ends_batch_phase(&m->ops[i])) b->rows = b->n_logits;
        }
        ll_pool_barrier(b->ctx->pool);
        if (ith == 0 && m->op_ns) { /* the op's time until every thread finished it */
            const int64_t now = ll_now_ns();
            m->op_ns[op_index] += now - start;
            start = now;
        }
        if (m->stop) return;
    }
}

int ll_model_profile(ll_model *m, int on, int64_t *op_ns_out) {
    if (!m) return LL_ERR_INVALID_ARG;
    if (op_ns_out && m->op_ns) memcpy(op_ns_out, m->op_ns, sizeof(int64_t) * (size_t)m->n_ops);
    else if (op_ns_out) memset(op_ns_out, 0, sizeof(int64_t) * (size_t)m->n_ops);
    free(m->op_ns);
    m->op_ns = on ? calloc((size_t)m->n_ops, sizeof(int64_t)) : NULL;
    return on && !m->op_ns ? LL_ERR_NOMEM : LL_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The public call. */

static int ll_batch_ok(const ll_model *m, const int32_t *tokens, const int32_t *pos, const int32_t *seq, int32_t n,
                       const int32_t *logit_rows, int32_t n_logits, const float *logits) {
    if (!tokens || !pos || !seq || n <= 0 || n > m->n_batch_max) return 0;
    if (n_logits < 0 || n_logits > n || (n_logits > 0 && (!logit_rows || !logits))) return 0;
    for (int32_t i = 0; i < n_logits; i++)
        if (logit_rows[i] < 0 || logit_rows[i] >= n || (i > 0 && logit_rows[i] <= logit_rows[i - 1])) return 0;
    for (int32_t r = 0; r < n; r++)
        if (pos[r] < 0 || seq[r] < 0) return 0;
    for (int i = 0; i < m->n_ops; i++) {
        const int by_pos = m->ops[i].kind == LL_OP_GET_POS_ROWS;
        if (m->ops[i].kind != LL_OP_GET_ROWS && !by_pos) continue;
        for (int32_t r = 0; r < n; r++) {
            const int32_t index = by_pos ? pos[r] : tokens[r];
            if (index < 0 || index >= m->ops[i].w_rows) return 0;
        }
    }
    return 1;
}

static int ll_forward_locked(ll_ctx *ctx, ll_batch *b) {
    ll_model *m = b->model;
    int status = ll_ctx_reserve(ctx, m->matmul_scratch);
    if (status != LL_OK) return status;
    int32_t *cells = malloc(sizeof(int32_t) * (size_t)b->n);
    if (!cells) return LL_ERR_NOMEM;
    status = ll_kv_claim(&m->kv, b->pos, b->seq, b->n, cells);
    if (status == LL_OK) {
        b->cells = cells;
        m->stop = 0;
        ll_pool_run(ctx->pool, ll_program_job, b);
        if (m->stop) {
            ll_kv_unclaim(&m->kv, cells, b->n);
            status = b->status != LL_OK ? b->status : LL_ERR_ABORTED;
        }
    }
    free(cells);
    return status;
}

int ll_forward(ll_ctx *ctx, ll_model *model, const int32_t *tokens, const int32_t *pos, const int32_t *seq,
               int32_t n, const int32_t *logit_rows, int32_t n_logits, float *logits_out) {
    if (!ctx || !model || ll_ctx_n_threads(ctx) > model->n_threads) return LL_ERR_INVALID_ARG;
    if (!ll_batch_ok(model, tokens, pos, seq, n, logit_rows, n_logits, logits_out)) return LL_ERR_INVALID_ARG;
    ll_batch b = {.ctx = ctx, .model = model, .tokens = tokens, .pos = pos, .seq = seq, .n = n,
                  .logit_rows = logit_rows, .n_logits = n_logits, .logits = logits_out, .rows = n};
    pthread_mutex_lock(&ctx->lock);
    const int status = ll_forward_locked(ctx, &b);
    pthread_mutex_unlock(&ctx->lock);
    return status;
}

void ll_ctx_set_abort(ll_ctx *ctx, int flag) {
    if (ctx) __atomic_store_n(&ctx->abort_flag, flag, __ATOMIC_RELAXED);
}
