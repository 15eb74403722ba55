/* Building a GPU segment: checking that every op can run here, counting the GPU memory it needs
 * (a typed error before anything is allocated when it does not fit), uploading each weight once
 * in its GGUF form, and grouping the ops into launches (steps): matmuls sharing an input, chains
 * of row-local ops, attention, logit rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "segment.h"

#define LLC_GEMM_CHUNK_FLOATS (16LL << 20)   /* dequantized weight rows per SGEMM: 64 MB */
#define LLC_RESERVE_BYTES (256LL << 20)      /* CUDA context, cuBLAS workspace, graph: kept free */

static int llc_row_local(int kind) {
    switch (kind) {
    case LL_OP_RMS_NORM: case LL_OP_LAYER_NORM: case LL_OP_ROPE: case LL_OP_KV_STORE: case LL_OP_ADD: case LL_OP_MUL:
    case LL_OP_ADD_BIAS: case LL_OP_SCALE: case LL_OP_GELU_MUL: case LL_OP_SILU_MUL: case LL_OP_SOFTCAP:
    case LL_OP_GELU_ERF: return 1;
    default: return 0;
    }
}

static int llc_buffer_ok(int id, int n_buffers) { return id == LL_BUF_NONE || id == LL_BUF_LOGITS || (id >= 0 && id < n_buffers); }

static int llc_check_op(const ll_op *op, int n_buffers, const ll_kv_config *kv) {
    if (!llc_buffer_ok(op->src0, n_buffers) || !llc_buffer_ok(op->src1, n_buffers) || !llc_buffer_ok(op->dst, n_buffers))
        return LL_ERR_INVALID_ARG;
    if (op->kind == LL_OP_MATMUL)
        return op->w && op->n % 32 == 0 && llc_row_bytes(op->w_type, op->n) > 0 &&
               llc_matvec_smem(op->w_type, op->n) <= 200 * 1024 ? LL_OK : LL_ERR_UNSUPPORTED;
    if (op->kind == LL_OP_ATTENTION || op->kind == LL_OP_KV_STORE) {
        if (op->layer < 0 || op->layer >= kv->n_layer || kv->k_width[op->layer] <= 0) return LL_ERR_INVALID_ARG;
        if (kv->k_width[op->layer] != kv->v_width[op->layer]) return LL_ERR_UNSUPPORTED;
    }
    if (op->kind == LL_OP_ATTENTION)
        return op->group % 32 == 0 && op->group <= LLC_MAX_HEAD_DIM && op->n_head_kv > 0 && op->n_head % op->n_head_kv == 0
                   ? LL_OK : LL_ERR_UNSUPPORTED;
    if (op->kind == LL_OP_ROPE) return op->group > 1 && op->group % 2 == 0 ? LL_OK : LL_ERR_INVALID_ARG;
    return op->kind == LL_OP_LOGIT_ROWS || llc_row_local(op->kind) ? LL_OK : LL_ERR_INVALID_ARG;
}

/* ---- memory: counted first, then taken ---- */

typedef struct {
    const ll_op *ops;
    int n_ops;
    const int64_t *width;
    int n_buffers, n_batch_max;
    const ll_kv_config *kv;
} llc_plan;

static int64_t llc_logits_width(const llc_plan *p) {
    for (int i = 0; i < p->n_ops; i++)
        if (p->ops[i].dst == LL_BUF_LOGITS) return p->ops[i].kind == LL_OP_MATMUL ? p->ops[i].w_rows : p->ops[i].n;
    return 0;
}

static int llc_buffer_used(const llc_plan *p, int id, const int32_t *live, int n_live) {
    for (int i = 0; i < p->n_ops; i++)
        if (p->ops[i].src0 == id || p->ops[i].src1 == id || p->ops[i].dst == id) return 1;
    for (int i = 0; i < n_live; i++)
        if (live[i] == id) return 1;
    return 0;
}

/* The host pointers and sizes of an op's weights (at most 3). */
static int llc_op_weights(const ll_op *op, const void **ptr, size_t *bytes) {
    int n = 0;
    if (op->kind == LL_OP_MATMUL) { ptr[n] = op->w; bytes[n++] = (size_t)(op->w_rows * llc_row_bytes(op->w_type, op->n)); }
    if ((op->kind == LL_OP_RMS_NORM || op->kind == LL_OP_LAYER_NORM) && op->w) { ptr[n] = op->w; bytes[n++] = (size_t)op->group * 4; }
    if (op->kind == LL_OP_LAYER_NORM && op->b) { ptr[n] = op->b; bytes[n++] = (size_t)op->group * 4; }
    if (op->kind == LL_OP_ADD_BIAS) { ptr[n] = op->b; bytes[n++] = (size_t)op->n * 4; }
    if ((op->kind == LL_OP_ROPE || op->kind == LL_OP_KV_STORE) && op->rope_freq_factors) {
        ptr[n] = op->rope_freq_factors;
        bytes[n++] = (size_t)op->group / 2 * 4;
    }
    return n;
}

static int64_t llc_weight_bytes(const llc_plan *p) {
    int64_t total = 0;
    for (int i = 0; i < p->n_ops; i++) {
        const void *ptr[3];
        size_t bytes[3];
        const int n = llc_op_weights(&p->ops[i], ptr, bytes);
        for (int j = 0; j < n; j++) {
            int seen = 0; /* a weight used twice (tied embeddings) is uploaded once */
            for (int k = 0; k < i && !seen; k++) {
                const void *other[3];
                size_t ob[3];
                const int m = llc_op_weights(&p->ops[k], other, ob);
                for (int q = 0; q < m; q++) seen |= other[q] == ptr[j];
            }
            if (!seen) total += (int64_t)bytes[j];
        }
    }
    return total;
}

static void llc_gemm_sizes(const llc_plan *p, int64_t *w_floats, int64_t *x_floats) {
    *w_floats = *x_floats = 0;
    if (p->n_batch_max <= LLC_MATVEC_ROWS) return;
    for (int i = 0; i < p->n_ops; i++) {
        const ll_op *op = &p->ops[i];
        if (op->kind != LL_OP_MATMUL) continue;
        *w_floats = llc_max(*w_floats, llc_min(op->w_rows * op->n, LLC_GEMM_CHUNK_FLOATS));
        *x_floats = llc_max(*x_floats, op->n * p->n_batch_max);
    }
}

static int64_t llc_needed_bytes(const llc_plan *p, const int32_t *live, int n_live) {
    int64_t total = llc_weight_bytes(p) + LLC_RESERVE_BYTES, w_floats, x_floats;
    for (int id = 0; id < p->n_buffers; id++)
        if (llc_buffer_used(p, id, live, n_live)) total += p->width[id] * p->n_batch_max * 4;
    total += llc_logits_width(p) * p->n_batch_max * 4;
    for (int l = 0; l < p->kv->n_layer; l++) total += (int64_t)p->kv->n_ctx * (p->kv->k_width[l] + p->kv->v_width[l]) * 2;
    llc_gemm_sizes(p, &w_floats, &x_floats);
    total += (w_floats + x_floats) * 8 + (int64_t)p->n_ops * (int64_t)sizeof(llc_rowop);
    return total + (4 + 4LL * p->n_batch_max) * 4 + (int64_t)p->kv->n_ctx * 8;
}

static int llc_malloc(llc_segment *seg, void **out, size_t bytes) {
    *out = NULL;
    LLC_CUDA(cudaMalloc(out, bytes ? bytes : 1));
    seg->allocations[seg->n_allocations++] = *out;
    return LL_OK;
}

/* ---- uploading ---- */

static void *llc_device_weight(const llc_segment *seg, const void *host) {
    for (int i = 0; i < seg->n_weights; i++)
        if (seg->weights[i].host == host) return seg->weights[i].dev;
    return NULL;
}

static int llc_upload_weights(llc_segment *seg, const llc_plan *p) {
    for (int i = 0; i < p->n_ops; i++) {
        const void *ptr[3];
        size_t bytes[3];
        const int n = llc_op_weights(&p->ops[i], ptr, bytes);
        for (int j = 0; j < n; j++) {
            if (llc_device_weight(seg, ptr[j])) continue;
            llc_weight *w = &seg->weights[seg->n_weights];
            int status = llc_malloc(seg, &w->dev, bytes[j]);
            if (status != LL_OK) return status;
            LLC_CUDA(cudaMemcpy(w->dev, ptr[j], bytes[j], cudaMemcpyHostToDevice));
            w->host = ptr[j];
            w->bytes = bytes[j];
            seg->n_weights++;
        }
    }
    return LL_OK;
}

static int llc_alloc_state(llc_segment *seg, const llc_plan *p) {
    int status = LL_OK;
    for (int id = 0; status == LL_OK && id < p->n_buffers; id++)
        if (llc_buffer_used(p, id, seg->live_in, seg->n_live_in) || llc_buffer_used(p, id, seg->live_out, seg->n_live_out))
            status = llc_malloc(seg, (void **)&seg->buf[id], (size_t)(p->width[id] * p->n_batch_max * 4));
    if (status == LL_OK && seg->logits_width)
        status = llc_malloc(seg, (void **)&seg->logits, (size_t)(seg->logits_width * p->n_batch_max * 4));
    for (int l = 0; status == LL_OK && l < p->kv->n_layer; l++) {
        llc_kv_layer *layer = &seg->layers[l];
        layer->k_width = p->kv->k_width[l];
        layer->v_width = p->kv->v_width[l];
        if (!layer->k_width) continue;
        status = llc_malloc(seg, (void **)&layer->k, (size_t)(p->kv->n_ctx * layer->k_width * 2));
        if (status == LL_OK) status = llc_malloc(seg, (void **)&layer->v, (size_t)(p->kv->n_ctx * layer->v_width * 2));
        if (status == LL_OK) LLC_CUDA(cudaMemset(layer->k, 0, (size_t)(p->kv->n_ctx * layer->k_width * 2)));
        if (status == LL_OK) LLC_CUDA(cudaMemset(layer->v, 0, (size_t)(p->kv->n_ctx * layer->v_width * 2)));
    }
    int64_t w_floats, x_floats;
    llc_gemm_sizes(p, &w_floats, &x_floats);
    seg->gemm.w_floats = w_floats;
    if (status == LL_OK && w_floats) status = llc_malloc(seg, (void **)&seg->gemm.w, (size_t)w_floats * 4);
    if (status == LL_OK && w_floats) status = llc_malloc(seg, (void **)&seg->gemm.w_lo, (size_t)w_floats * 4);
    if (status == LL_OK && x_floats) status = llc_malloc(seg, (void **)&seg->gemm.x, (size_t)x_floats * 4);
    if (status == LL_OK && x_floats) status = llc_malloc(seg, (void **)&seg->gemm.x_lo, (size_t)x_floats * 4);
    return status;
}

static int llc_alloc_batch(llc_segment *seg) {
    seg->header_ints = 4 + 4LL * seg->n_batch_max;
    const size_t bytes = (size_t)seg->header_ints * 4 + (size_t)seg->n_ctx * 8;
    LLC_CUDA(cudaMallocHost((void **)&seg->batch_host, bytes));
    const int status = llc_malloc(seg, (void **)&seg->batch_dev, bytes);
    if (status != LL_OK) return status;
    const int32_t *d = seg->batch_dev;
    const int64_t nb = seg->n_batch_max;
    seg->view = (llc_batch_dev){.pos = d + 4, .seq = d + 4 + nb, .cells = d + 4 + 2 * nb, .logit_rows = d + 4 + 3 * nb,
                                .cell = (const int2 *)(d + seg->header_ints), .extent = d};
    return LL_OK;
}

/* ---- steps ---- */

static float *llc_dev_buffer(const llc_segment *seg, int id, int64_t *stride) {
    if (id == LL_BUF_LOGITS) { *stride = seg->logits_width; return seg->logits; }
    if (id < 0) { *stride = 0; return NULL; }
    *stride = seg->width[id];
    return seg->buf[id];
}

static llc_rowop llc_make_rowop(llc_segment *seg, const ll_op *op) {
    llc_rowop r;
    memset(&r, 0, sizeof r);
    r.kind = op->kind;
    r.n = op->n;
    r.n1 = op->n1;
    r.group = op->group;
    r.src0 = llc_dev_buffer(seg, op->src0, &r.s0);
    r.src1 = llc_dev_buffer(seg, op->src1, &r.s1);
    r.dst = llc_dev_buffer(seg, op->dst, &r.sd);
    r.w = (const float *)llc_device_weight(seg, op->w);
    r.b = (const float *)llc_device_weight(seg, op->b);
    r.eps = op->eps;
    r.scale = op->scale;
    r.softcap = op->softcap;
    r.n_head = op->n_head;
    r.rope_mode = op->rope_mode;
    r.rope_theta_scale = op->group > 0 ? powf(op->rope_base, -2.0f / (float)op->group) : 0.0f;
    r.rope_freq_scale = op->rope_freq_scale;
    r.freq_factors = (const float *)llc_device_weight(seg, op->rope_freq_factors);
    if (op->kind == LL_OP_KV_STORE) {
        llc_kv_layer *layer = &seg->layers[op->layer];
        r.k_cache = layer->k;
        r.v_cache = layer->v;
        layer->has_rope = op->rope_base > 0;
        layer->head_dim = (int)op->group;
        layer->rope_mode = op->rope_mode;
        layer->theta_scale = r.rope_theta_scale;
        layer->freq_scale = op->rope_freq_scale;
        layer->freq_factors = r.freq_factors;
    }
    return r;
}

static int llc_joins_group(const llc_matmul_group *g, const ll_op *first, const ll_op *op) {
    if (op->kind != LL_OP_MATMUL || g->count == LLC_GROUP_MAX) return 0;
    return op->src0 == first->src0 && op->w_type == first->w_type && op->n == first->n && op->dst != first->src0;
}

static int llc_matmul_step(llc_segment *seg, const ll_op *ops, int n_ops, int i, llc_step *step) {
    step->kind = LLC_STEP_MATMULS;
    llc_matmul_group *g = &step->mm;
    g->type = ops[i].w_type;
    g->n_in = ops[i].n;
    g->x = llc_dev_buffer(seg, ops[i].src0, &g->ldx);
    int j = i;
    for (; j < n_ops && (j == i || llc_joins_group(g, &ops[i], &ops[j])); j++) {
        llc_matrix *m = &g->m[g->count++];
        m->w = (const uint8_t *)llc_device_weight(seg, ops[j].w);
        m->n_out = ops[j].w_rows;
        m->y = llc_dev_buffer(seg, ops[j].dst, &m->ldy);
    }
    return j;
}

static int llc_attention_step(llc_segment *seg, const ll_op *op, llc_step *step) {
    step->kind = LLC_STEP_ATTENTION;
    llc_attention *a = &step->attn;
    const llc_kv_layer *layer = &seg->layers[op->layer];
    a->q = llc_dev_buffer(seg, op->src0, &a->ldq);
    a->out = llc_dev_buffer(seg, op->dst, &a->ldo);
    a->k = layer->k;
    a->v = layer->v;
    a->kv_width = layer->k_width;
    a->n_head = op->n_head;
    a->n_head_kv = op->n_head_kv;
    a->head_dim = (int)op->group;
    a->window = op->window;
    a->causal = op->causal;
    a->scale = op->scale;
    a->softcap = op->softcap;
    const char *order = getenv("LOCALLLM_CUDA_DECODE_ATTENTION");
    a->cpu_order = order && !strcmp(order, "cpu_order");
    return LL_OK;
}

static int llc_build_steps(llc_segment *seg, const ll_op *ops, int n_ops) {
    llc_rowop *staged = (llc_rowop *)calloc((size_t)n_ops, sizeof(llc_rowop));
    int n_staged = 0, status = staged ? llc_malloc(seg, (void **)&seg->rowops, sizeof(llc_rowop) * (size_t)n_ops) : LL_ERR_NOMEM;
    for (int i = 0; status == LL_OK && i < n_ops;) {
        llc_step *step = &seg->steps[seg->n_steps++];
        memset(step, 0, sizeof *step);
        if (ops[i].kind == LL_OP_MATMUL) {
            i = llc_matmul_step(seg, ops, n_ops, i, step);
        } else if (ops[i].kind == LL_OP_ATTENTION) {
            status = llc_attention_step(seg, &ops[i++], step);
        } else if (ops[i].kind == LL_OP_LOGIT_ROWS) {
            step->kind = LLC_STEP_LOGIT_ROWS;
            step->src = llc_dev_buffer(seg, ops[i].src0, &step->lds);
            step->dst = llc_dev_buffer(seg, ops[i].dst, &step->ldd);
            step->n = ops[i++].n;
        } else {
            step->kind = LLC_STEP_ROWCHAIN;
            step->rowops = seg->rowops + n_staged;
            for (; i < n_ops && llc_row_local(ops[i].kind) && step->n_rowops < LLC_CHAIN_MAX; i++, step->n_rowops++)
                staged[n_staged++] = llc_make_rowop(seg, &ops[i]);
        }
    }
    if (status == LL_OK && n_staged)
        status = cudaMemcpy(seg->rowops, staged, sizeof(llc_rowop) * (size_t)n_staged, cudaMemcpyHostToDevice) == cudaSuccess
                     ? LL_OK : llc_fail("cudaMemcpy", "row ops");
    free(staged);
    return status;
}

static int llc_prepare_kernels(llc_segment *seg, const ll_op *ops, int n_ops) {
    for (int i = 0; i < n_ops; i++)
        if (ops[i].kind == LL_OP_MATMUL) LLC_CUDA(llc_matvec_prepare(ops[i].w_type, ops[i].n));
    LLC_CUDA(cudaStreamCreateWithFlags(&seg->stream, cudaStreamNonBlocking));
    LLC_CUDA(cudaEventCreate(&seg->start));
    LLC_CUDA(cudaEventCreate(&seg->stop));
    cublasStatus_t st = cublasCreate(&seg->gemm.blas);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasSetStream(seg->gemm.blas, seg->stream);
    const char *mode = getenv("LOCALLLM_CUDA_GEMM");
    seg->gemm.mode = !mode || !strcmp(mode, "tf32x3") ? LLC_GEMM_TF32X3 : !strcmp(mode, "tf32") ? LLC_GEMM_TF32 : LLC_GEMM_F32;
    if (st == CUBLAS_STATUS_SUCCESS && seg->gemm.mode != LLC_GEMM_F32)
        st = cublasSetMathMode(seg->gemm.blas, CUBLAS_TF32_TENSOR_OP_MATH);
    const char *graphs = getenv("LOCALLLM_CUDA_GRAPHS"), *profile = getenv("LOCALLLM_CUDA_PROFILE");
    seg->profile = profile && !strcmp(profile, "1");
    seg->use_graphs = !(graphs && !strcmp(graphs, "0")) && !seg->profile;
    return st == CUBLAS_STATUS_SUCCESS ? LL_OK : llc_fail("cublas setup", cublasGetStatusString(st));
}

/* ---- the public calls ---- */

static int llc_copy_ids(int32_t **dst, const int32_t *src, int n) {
    *dst = (int32_t *)malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    if (!*dst) return LL_ERR_NOMEM;
    if (n > 0) memcpy(*dst, src, sizeof(int32_t) * (size_t)n);
    return LL_OK;
}

static int llc_segment_alloc_host(llc_segment *seg, const llc_plan *p, const int32_t *live_in, int n_in,
                                  const int32_t *live_out, int n_out) {
    seg->n_batch_max = p->n_batch_max;
    seg->n_ctx = p->kv->n_ctx;
    seg->n_buffers = p->n_buffers;
    seg->n_layer = p->kv->n_layer;
    seg->n_live_in = n_in;
    seg->n_live_out = n_out;
    seg->logits_width = llc_logits_width(p);
    for (int i = 0; i < p->n_ops; i++) seg->ends_program |= p->ops[i].kind == LL_OP_LOGIT_ROWS;
    const int max_allocations = 3 * p->n_ops + p->n_buffers + 2 * p->kv->n_layer + 8;
    seg->width = (int64_t *)malloc(sizeof(int64_t) * (size_t)p->n_buffers);
    seg->buf = (float **)calloc((size_t)p->n_buffers, sizeof(float *));
    seg->weights = (llc_weight *)calloc((size_t)(3 * p->n_ops), sizeof(llc_weight));
    seg->layers = (llc_kv_layer *)calloc((size_t)(p->kv->n_layer > 0 ? p->kv->n_layer : 1), sizeof(llc_kv_layer));
    seg->steps = (llc_step *)calloc((size_t)p->n_ops, sizeof(llc_step));
    seg->allocations = (void **)calloc((size_t)max_allocations, sizeof(void *));
    if (!seg->width || !seg->buf || !seg->weights || !seg->layers || !seg->steps || !seg->allocations) return LL_ERR_NOMEM;
    memcpy(seg->width, p->width, sizeof(int64_t) * (size_t)p->n_buffers);
    int status = llc_copy_ids(&seg->live_in, live_in, n_in);
    return status == LL_OK ? llc_copy_ids(&seg->live_out, live_out, n_out) : status;
}

static int llc_check_program(const llc_plan *p, int *bad_op) {
    if (p->kv->n_layer > 0 && (p->kv->type_k != LLC_F16 || p->kv->type_v != LLC_F16)) return LL_ERR_UNSUPPORTED;
    for (int i = 0; i < p->n_ops; i++) {
        const int status = llc_check_op(&p->ops[i], p->n_buffers, p->kv);
        if (status != LL_OK) {
            *bad_op = i;
            return status;
        }
    }
    return LL_OK;
}

extern "C" int llc_segment_new(const ll_op *ops, int n_ops, const int64_t *buffer_width, int n_buffers, int n_batch_max,
                               const ll_kv_config *kv, const int32_t *live_in, int n_live_in, const int32_t *live_out,
                               int n_live_out, int64_t memory_limit, llc_segment **out, int *bad_op,
                               int64_t *bytes_needed, int64_t *bytes_free) {
    if (!out || !bad_op || !bytes_needed || !bytes_free) return LL_ERR_INVALID_ARG;
    *out = NULL;
    *bad_op = -1;
    *bytes_needed = *bytes_free = 0;
    if (!ops || n_ops <= 0 || !buffer_width || n_buffers <= 0 || n_batch_max <= 0 || !kv || n_live_in < 0 || n_live_out < 0)
        return LL_ERR_INVALID_ARG;
    const llc_plan p = {ops, n_ops, buffer_width, n_buffers, n_batch_max, kv};
    int status = llc_check_program(&p, bad_op);
    if (status != LL_OK) return status;
    size_t free_bytes = 0, total_bytes = 0;
    LLC_CUDA(cudaSetDevice(0));
    LLC_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    *bytes_free = memory_limit > 0 ? llc_min((int64_t)free_bytes, memory_limit) : (int64_t)free_bytes;
    *bytes_needed = llc_needed_bytes(&p, live_in, n_live_in);
    if (*bytes_needed > *bytes_free) return LL_ERR_NOMEM;
    llc_segment *seg = (llc_segment *)calloc(1, sizeof *seg);
    if (!seg) return LL_ERR_NOMEM;
    status = llc_segment_alloc_host(seg, &p, live_in, n_live_in, live_out, n_live_out);
    if (status == LL_OK) status = llc_upload_weights(seg, &p);
    if (status == LL_OK) status = llc_alloc_state(seg, &p);
    if (status == LL_OK) status = llc_alloc_batch(seg);
    if (status == LL_OK) status = llc_build_steps(seg, ops, n_ops);
    if (status == LL_OK) status = llc_prepare_kernels(seg, ops, n_ops);
    if (status != LL_OK) {
        llc_segment_free(seg);
        return status;
    }
    *out = seg;
    return LL_OK;
}

extern "C" void llc_segment_free(llc_segment *seg) {
    if (!seg) return;
    if (seg->decode_graph) cudaGraphExecDestroy(seg->decode_graph);
    if (seg->gemm.blas) cublasDestroy(seg->gemm.blas);
    if (seg->start) cudaEventDestroy(seg->start);
    if (seg->stop) cudaEventDestroy(seg->stop);
    if (seg->stream) cudaStreamDestroy(seg->stream);
    for (int i = 0; i < seg->n_allocations; i++) cudaFree(seg->allocations[i]);
    if (seg->batch_host) cudaFreeHost(seg->batch_host);
    free(seg->allocations);
    free(seg->steps);
    free(seg->layers);
    free(seg->weights);
    free(seg->buf);
    free(seg->width);
    free(seg->live_in);
    free(seg->live_out);
    free(seg);
}
