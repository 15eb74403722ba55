/* localllm CUDA backend: the C ABI of the optional shared library localllm/_localllm_cuda.so.
 *
 * A segment is the device part of a split program (localllm/backend/split.py): the ops of the last
 * N layers (and, for -ngl all, the output head) with their weights uploaded once in their GGUF
 * quantized form, their activation buffers and the KV cache of their layers (f16) in GPU memory.
 * llc_segment_run and llc_segment_kv_shift are an ll_offload_fn and an ll_offload_shift_fn: the
 * CPU program's OFFLOAD op calls them. localllm/backend/cuda.py loads this library with cffi's
 * ABI mode (its cdef mirrors this file, with void * for the structs of localllm.h).
 * Every function returns an ll_status; llc_last_error() gives the CUDA error text of the last
 * LL_ERR_DEVICE. */
#ifndef LOCALLLM_CUDA_H
#define LOCALLLM_CUDA_H
#include <stdint.h>
#include "../include/localllm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of CUDA devices (0 when the driver finds none: the status is then LL_ERR_DEVICE). */
int llc_device_count(int *count);
/* Name and memory of device 0 (the one segments use). */
int llc_device_info(char *name, int name_len, int64_t *free_bytes, int64_t *total_bytes);
/* The text of the last CUDA / cuBLAS error (never NULL). */
const char *llc_last_error(void);

typedef struct llc_segment llc_segment;

/* Uploads the segment: ops [n_ops] (buffer ids as the host program's, widths buffer_width
 * [n_buffers]), at most n_batch_max rows per batch, kv: the cache with the segment's layers
 * (others: widths 0; type f16). live_in / live_out: buffers copied from / to the host per batch.
 * memory_limit > 0 caps the GPU memory the segment may take (else: the device's free memory).
 * *bytes_needed and *bytes_free are always filled; LL_ERR_NOMEM when needed > free (nothing
 * allocated), LL_ERR_UNSUPPORTED / LL_ERR_INVALID_ARG with *bad_op for an op the GPU cannot run. */
int llc_segment_new(const ll_op *ops, int n_ops, const int64_t *buffer_width, int n_buffers, int n_batch_max,
                    const ll_kv_config *kv, const int32_t *live_in, int n_live_in, const int32_t *live_out,
                    int n_live_out, int64_t memory_limit, llc_segment **out, int *bad_op, int64_t *bytes_needed,
                    int64_t *bytes_free);
void llc_segment_free(llc_segment *segment);

/* ll_offload_fn: one batch (decode batches of one row replay a captured CUDA graph). */
int llc_segment_run(void *segment, const ll_offload_batch *batch);
/* ll_offload_shift_fn: re-rotates the keys of the segment's layers (see ll_kv_shift). */
int llc_segment_kv_shift(void *segment, const int32_t *cell_pos, const int32_t *cell_seq, int32_t kv_extent,
                         int32_t seq, int32_t p0, int32_t p1, int32_t delta);

/* Milliseconds the last llc_segment_run spent on the GPU (CUDA events around its work). */
float llc_segment_last_ms(const llc_segment *segment);

/* With LOCALLLM_CUDA_PROFILE=1 (every step timed on its own, no graphs): ms spent since the last
 * call in ms[5]: small matmuls, fused row ops, attention, logit rows, the output head. */
int llc_segment_profile(llc_segment *segment, float *ms);

#ifdef __cplusplus
}
#endif
#endif
