/* Running a GPU segment: the batch and the cache's cell bookkeeping uploaded in one copy, the
 * live-in rows copied in, the steps launched (a decode batch of one row replays a CUDA graph
 * captured the first time), the live-out rows and the logits copied back. Also the context shift
 * and the device queries. */
#include <stdio.h>
#include <string.h>
#include "segment.h"

static char llc_error_text[512] = "no error";

int llc_fail(const char *what, const char *detail) {
    snprintf(llc_error_text, sizeof llc_error_text, "%s: %s", what, detail);
    return LL_ERR_DEVICE;
}

extern "C" const char *llc_last_error(void) { return llc_error_text; }

extern "C" int llc_device_count(int *count) {
    if (!count) return LL_ERR_INVALID_ARG;
    const cudaError_t err = cudaGetDeviceCount(count);
    if (err != cudaSuccess) {
        *count = 0;
        return llc_fail("cudaGetDeviceCount", cudaGetErrorString(err));
    }
    return *count > 0 ? LL_OK : llc_fail("cudaGetDeviceCount", "no CUDA device");
}

extern "C" int llc_device_info(char *name, int name_len, int64_t *free_bytes, int64_t *total_bytes) {
    if (!name || name_len <= 0 || !free_bytes || !total_bytes) return LL_ERR_INVALID_ARG;
    cudaDeviceProp prop;
    LLC_CUDA(cudaGetDeviceProperties(&prop, 0));
    snprintf(name, (size_t)name_len, "%s", prop.name);
    size_t f = 0, t = 0;
    LLC_CUDA(cudaSetDevice(0));
    LLC_CUDA(cudaMemGetInfo(&f, &t));
    *free_bytes = (int64_t)f;
    *total_bytes = (int64_t)t;
    return LL_OK;
}

int llc_step_bucket(const llc_step *step) {
    if (step->kind != LLC_STEP_MATMULS) return step->kind;
    return step->mm.m[0].n_out >= 65536 ? 4 : 0;
}

static int llc_run_step(llc_segment *seg, const llc_step *step, int *rows, int n_logits);

int llc_enqueue(llc_segment *seg, int n, int n_logits) {
    int rows = n;
    for (int i = 0; i < seg->n_steps && rows > 0; i++) {  /* rows 0: no row wants logits, nothing left */
        if (seg->profile) LLC_CUDA(cudaEventRecord(seg->start, seg->stream));
        const int status = llc_run_step(seg, &seg->steps[i], &rows, n_logits);
        if (status != LL_OK) return status;
        if (seg->profile) {
            float ms = 0.0f;
            LLC_CUDA(cudaEventRecord(seg->stop, seg->stream));
            LLC_CUDA(cudaEventSynchronize(seg->stop));
            LLC_CUDA(cudaEventElapsedTime(&ms, seg->start, seg->stop));
            seg->profile_ms[llc_step_bucket(&seg->steps[i])] += ms;
        }
    }
    return LL_OK;
}

static int llc_run_step(llc_segment *seg, const llc_step *step, int *rows_io, int n_logits) {
    int rows = *rows_io;
    {
        switch (step->kind) {
        case LLC_STEP_MATMULS:
            if (rows <= LLC_MATVEC_ROWS) {
                LLC_CUDA(llc_matvec(&step->mm, rows, seg->stream));
            } else {
                for (int m = 0; m < step->mm.count; m++) {
                    const int status = llc_gemm(&step->mm, m, rows, &seg->gemm, seg->stream);
                    if (status != LL_OK) return status;
                }
            }
            break;
        case LLC_STEP_ROWCHAIN: LLC_CUDA(llc_rowchain(step->rowops, step->n_rowops, rows, seg->view, seg->stream)); break;
        case LLC_STEP_ATTENTION: LLC_CUDA(llc_attention_run(&step->attn, rows, seg->view, seg->stream)); break;
        case LLC_STEP_LOGIT_ROWS:
            rows = n_logits;
            if (rows) LLC_CUDA(llc_logit_rows(step->src, step->lds, step->dst, step->ldd, step->n, rows, seg->view, seg->stream));
            break;
        }
    }
    *rows_io = rows;
    return LL_OK;
}

/* Stages the cells [0, extent) as (position, sequence) pairs after the header and uploads both. */
static int llc_upload_cells(llc_segment *seg, const int32_t *cell_pos, const int32_t *cell_seq, int32_t extent) {
    int32_t *h = seg->batch_host;
    h[0] = extent;
    int2 *cells = (int2 *)(h + seg->header_ints);
    for (int32_t c = 0; c < extent; c++) cells[c] = make_int2(cell_pos[c], cell_seq[c]);
    LLC_CUDA(cudaMemcpyAsync(seg->batch_dev, h, (size_t)seg->header_ints * 4 + (size_t)extent * 8, cudaMemcpyHostToDevice,
                             seg->stream));
    return LL_OK;
}

static void llc_stage_batch(llc_segment *seg, const ll_offload_batch *b) {
    int32_t *h = seg->batch_host + 4;
    const size_t row_bytes = sizeof(int32_t) * (size_t)b->n;
    memcpy(h, b->pos, row_bytes);
    memcpy(h + seg->n_batch_max, b->seq, row_bytes);
    memcpy(h + 2 * seg->n_batch_max, b->cells, row_bytes);
    if (b->n_logits > 0) memcpy(h + 3 * seg->n_batch_max, b->logit_rows, sizeof(int32_t) * (size_t)b->n_logits);
}

static int llc_launch_decode_graph(llc_segment *seg) {
    if (!seg->decode_graph) {
        cudaGraph_t graph;
        LLC_CUDA(cudaStreamBeginCapture(seg->stream, cudaStreamCaptureModeThreadLocal));
        const int status = llc_enqueue(seg, 1, 1);
        const cudaError_t end = cudaStreamEndCapture(seg->stream, &graph);
        if (status != LL_OK) return status;
        LLC_CUDA(end);
        const cudaError_t inst = cudaGraphInstantiate(&seg->decode_graph, graph, 0);
        cudaGraphDestroy(graph);
        LLC_CUDA(inst);
    }
    LLC_CUDA(cudaGraphLaunch(seg->decode_graph, seg->stream));
    return LL_OK;
}

static int llc_copy_rows(llc_segment *seg, const int32_t *ids, int n_ids, float *const *host, int32_t rows, int to_device) {
    for (int i = 0; i < n_ids; i++) {
        const size_t bytes = sizeof(float) * (size_t)rows * (size_t)seg->width[ids[i]];
        float *dev = seg->buf[ids[i]];
        LLC_CUDA(cudaMemcpyAsync(to_device ? (void *)dev : (void *)host[ids[i]], to_device ? (void *)host[ids[i]] : (void *)dev,
                                 bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, seg->stream));
    }
    return LL_OK;
}

static int llc_run(llc_segment *seg, const ll_offload_batch *b) {
    llc_stage_batch(seg, b);
    int status = llc_upload_cells(seg, b->cell_pos, b->cell_seq, b->kv_extent);
    if (status == LL_OK) status = llc_copy_rows(seg, seg->live_in, seg->n_live_in, b->buffers, b->n, 1);
    if (status != LL_OK) return status;
    if (!seg->profile) LLC_CUDA(cudaEventRecord(seg->start, seg->stream));
    const int decode = b->n == 1 && b->n_logits == 1 && seg->use_graphs;
    status = decode ? llc_launch_decode_graph(seg) : llc_enqueue(seg, b->n, b->n_logits);
    if (status != LL_OK) return status;
    if (!seg->profile) LLC_CUDA(cudaEventRecord(seg->stop, seg->stream));
    status = llc_copy_rows(seg, seg->live_out, seg->n_live_out, b->buffers, seg->ends_program ? b->n_logits : b->n, 0);
    if (status != LL_OK) return status;
    if (seg->logits && b->n_logits > 0)
        LLC_CUDA(cudaMemcpyAsync(b->logits, seg->logits, sizeof(float) * (size_t)b->n_logits * (size_t)seg->logits_width,
                                 cudaMemcpyDeviceToHost, seg->stream));
    LLC_CUDA(cudaStreamSynchronize(seg->stream));
    if (!seg->profile) LLC_CUDA(cudaEventElapsedTime(&seg->last_ms, seg->start, seg->stop));
    return LL_OK;
}

extern "C" int llc_segment_run(void *segment, const ll_offload_batch *b) {
    llc_segment *seg = (llc_segment *)segment;
    if (!seg || !b || b->n <= 0 || b->n > seg->n_batch_max || b->n_logits < 0 || b->n_logits > b->n ||
        b->kv_extent < 0 || b->kv_extent > seg->n_ctx)
        return LL_ERR_INVALID_ARG;
    return llc_run(seg, b);
}

extern "C" int llc_segment_kv_shift(void *segment, const int32_t *cell_pos, const int32_t *cell_seq, int32_t kv_extent,
                                    int32_t seq, int32_t p0, int32_t p1, int32_t delta) {
    llc_segment *seg = (llc_segment *)segment;
    if (!seg || kv_extent < 0 || kv_extent > seg->n_ctx) return LL_ERR_INVALID_ARG;
    const int status = llc_upload_cells(seg, cell_pos, cell_seq, kv_extent);
    if (status != LL_OK) return status;
    for (int l = 0; l < seg->n_layer; l++) {
        const llc_kv_layer *layer = &seg->layers[l];
        if (!layer->k || !layer->has_rope) continue;
        LLC_CUDA(llc_rerotate(layer->k, layer->k_width, layer->head_dim, layer->rope_mode, layer->theta_scale,
                              layer->freq_scale, layer->freq_factors, seg->view.cell, kv_extent, seq, p0, p1, delta,
                              seg->stream));
    }
    LLC_CUDA(cudaStreamSynchronize(seg->stream));
    return LL_OK;
}

extern "C" float llc_segment_last_ms(const llc_segment *seg) { return seg ? seg->last_ms : 0.0f; }

extern "C" int llc_segment_profile(llc_segment *seg, float *ms) {
    if (!seg || !ms) return LL_ERR_INVALID_ARG;
    for (int i = 0; i < LLC_PROFILE_KINDS; i++) {
        ms[i] = seg->profile_ms[i];
        seg->profile_ms[i] = 0.0f;
    }
    return LL_OK;
}
