/* localllm native core: the one header cffi sees.
 *
 * Rules for this file (native/build.py feeds it to cffi's cdef after dropping '#' lines):
 *   - only plain declarations: no macros inside declarations, no inline functions;
 *   - every function returns an ll_status (0 = LL_OK) or a plain value that cannot fail;
 *   - nothing here ever aborts the process.
 */
#ifndef LOCALLLM_H
#define LOCALLLM_H
#include <stddef.h>
#include <stdint.h>

/* Status codes returned by every fallible call. */
enum ll_status {
    LL_OK = 0,
    LL_ERR_INVALID_ARG = 1,   /* a size, pointer or enum value out of range */
    LL_ERR_UNSUPPORTED = 2,   /* no kernel for this ggml type */
    LL_ERR_NOMEM = 3,         /* an allocation failed */
    LL_ERR_ABORTED = 4        /* the abort flag was raised */
};

/* CPU feature bits reported by ll_cpu_features(). */
enum ll_cpu_feature {
    LL_CPU_SSE3 = 1,
    LL_CPU_SSSE3 = 2,
    LL_CPU_AVX = 4,
    LL_CPU_AVX2 = 8,
    LL_CPU_FMA = 16,
    LL_CPU_F16C = 32,
    LL_CPU_BMI2 = 64,
    LL_CPU_AVX512F = 128,
    LL_CPU_AVX512BW = 256,
    LL_CPU_AVX512DQ = 512,
    LL_CPU_AVX512VL = 1024,
    LL_CPU_AVX512VNNI = 2048,
    LL_CPU_AVX512BF16 = 4096,
    LL_CPU_AVXVNNI = 8192,
    LL_CPU_NEON = 16384,
    LL_CPU_DOTPROD = 32768
};

/* Kernel levels, one per compiled variant module (localllm._native_<level>). */
enum ll_isa_level {
    LL_ISA_SCALAR = 0,
    LL_ISA_AVX2 = 1,     /* AVX2 + FMA + F16C + BMI2 */
    LL_ISA_AVX512 = 2,   /* AVX-512 F/BW/DQ/VL + VNNI */
    LL_ISA_NEON = 3      /* AArch64 Advanced SIMD (dotprod chosen at run time) */
};

/* Bitmask of enum ll_cpu_feature, read once from cpuid (x86) or getauxval (arm64),
 * including the OS check that the wide registers are saved on context switch. */
uint32_t ll_cpu_features(void);

/* The kernel level this module was compiled for (enum ll_isa_level). */
int ll_isa_level(void);

/* Human-readable text for a status code; never NULL. */
const char *ll_status_str(int status);

/* 1 if `ggml_type` is known to the kernel table of this module, else 0. */
int ll_type_supported(int ggml_type);

/* Block geometry of a type and the activation type its vec_dot takes. */
int ll_type_info(int ggml_type, int *block_size, int *block_bytes, int *vec_dot_type);

/* Dequantize `n_elements` values of one row of ggml type `ggml_type` from `src` to `dst`.
 * n_elements must be a multiple of the type's block size.
 * src: [n_elements / block_size] blocks; dst: [n_elements] float. */
int ll_dequantize_row(int ggml_type, const void *src, float *dst, int64_t n_elements);

/* Quantize `n_elements` floats into one row of `ggml_type` (the reference quantizer of the type;
 * the SIMD one for the activation types). src: [n_elements]; dst: [n_elements / block_size] blocks. */
int ll_quantize_row(int ggml_type, const float *src, void *dst, int64_t n_elements);

/* *result = dot(x, y) over n_elements: x a row of `ggml_type`, y a row of its vec_dot_type. */
int ll_vec_dot(int ggml_type, int64_t n_elements, const void *x, const void *y, float *result);

/* ---- Context, thread pool and matmul ---- */

/* An opaque native context: a persistent pool of threads (the caller plus n_threads - 1 workers
 * that live until ll_ctx_free) and the scratch memory of the calls made through it. Calls on one
 * context from several threads are serialized. */
typedef struct ll_ctx ll_ctx;

/* *out = a new context that runs parallel work on n_threads threads (1 <= n_threads <= 256).
 * LL_ERR_INVALID_ARG for a bad count, LL_ERR_NOMEM when memory or a thread cannot be had. */
int ll_ctx_new(int n_threads, ll_ctx **out);

/* Stops the workers and frees the context. NULL is a no-op. */
void ll_ctx_free(ll_ctx *ctx);

/* The thread count the context was made with (0 for NULL). */
int ll_ctx_n_threads(const ll_ctx *ctx);

/* y[n_tok, n_out] = x[n_tok, n_in] @ W[n_out, n_in]^T on the context's threads.
 * w: n_out rows of ggml type w_type, each n_in values (n_in a whole number of blocks of w_type and
 * of its vec_dot_type); x: [n_tok, n_in] float; y: [n_tok, n_out] float (must not overlap x).
 * x is quantized once to the vec_dot_type (Q8_0 / Q8_K for quantized types), into scratch memory
 * the context owns. A row of y has the same bits for every thread count and whether its token is
 * computed alone or with others. LL_ERR_UNSUPPORTED when w_type has no vec_dot kernel. */
int ll_matmul(ll_ctx *ctx, int w_type, const void *w, int64_t n_out, int64_t n_in, const float *x,
              int64_t n_tok, float *y);

/* Reads buf[n_bytes] once, split among the context's threads as decode matmul splits its weight
 * rows, and stores a checksum of what it read in *checksum: the streaming read bandwidth that
 * bounds decode (benchmarks time this call). */
int ll_bench_read(ll_ctx *ctx, const void *buf, int64_t n_bytes, uint64_t *checksum);

/* ---- Sampling ---- */

/* The k largest of x[n] (NaN skipped), largest first and the lower index first on ties:
 * ids[*n_found], vals[*n_found] with *n_found = min(k, values that are not NaN). */
int ll_top_k(const float *x, int64_t n, int32_t k, int32_t *ids, float *vals, int32_t *n_found);

/* ---- Transformer program: ops over weights and activation buffers, run in one call ---- */

/* Status codes of the program calls (after the generic ones). */
enum ll_program_status {
    LL_ERR_KV_FULL = 5,         /* the KV cache has no free cell left for the batch */
    LL_ERR_DEVICE = 6           /* an offload device (GPU) failed; its library says why */
};

enum ll_op_kind {
    LL_OP_GET_ROWS = 1,     /* dst[t] = row tokens[t] of w (w_type, w_rows rows of n values) */
    LL_OP_RMS_NORM = 2,     /* dst = src0 / rms over each group of `group` values * w[group] (w may be NULL) */
    LL_OP_LAYER_NORM = 3,   /* dst = (src0 - mean) / std over groups * w + b (w, b may be NULL) */
    LL_OP_MATMUL = 4,       /* dst[t, w_rows] = src0[t, n] @ W[w_rows, n]^T */
    LL_OP_ADD_BIAS = 5,     /* dst[t] = src0[t] + b[n] */
    LL_OP_ROPE = 6,         /* dst = src0 rotated: n_head heads of `group` values at the rows' positions */
    LL_OP_KV_STORE = 7,     /* cache[layer] cells of the batch <- K = src0[t, n], V = src1[t, n1];
                               its group and rope_* say how K was rotated (for ll_kv_shift) */
    LL_OP_ATTENTION = 8,    /* dst[t, n_head * group] = attention of src0 (queries) over cache[layer] */
    LL_OP_ADD = 9,          /* dst = src0 + src1 */
    LL_OP_MUL = 10,         /* dst = src0 * src1 */
    LL_OP_SCALE = 11,       /* dst = src0 * scale */
    LL_OP_GELU_MUL = 12,    /* dst = gelu_tanh(src0) * src1 (src1 < 0: no product) */
    LL_OP_SILU_MUL = 13,    /* dst = silu(src0) * src1 (src1 < 0: no product) */
    LL_OP_SOFTCAP = 14,     /* dst = softcap * tanh(src0 / softcap) */
    LL_OP_LOGIT_ROWS = 15,  /* dst[i] = src0[logit_rows[i]]; later ops see n_logits rows */
    LL_OP_GELU_ERF = 16,    /* dst = gelu_erf(src0): the exact (erf) GELU, in f32 */
    LL_OP_GET_POS_ROWS = 17,/* dst[t] = row pos[t] of w (absolute position embeddings) */
    LL_OP_OFFLOAD = 18      /* runs a segment of the program on another device (see ll_offload_batch):
                               w = the segment, offload / offload_shift = its functions; dst =
                               LL_BUF_LOGITS when the segment ends the program (n = the logits'
                               width; later ops see n_logits rows), else LL_BUF_NONE */
};

enum ll_rope_mode {
    LL_ROPE_NORMAL = 0,     /* rotate pairs (2i, 2i+1) */
    LL_ROPE_NEOX = 2        /* rotate pairs (i, i + group/2) */
};

/* Buffer id of the caller's logits array in an op's dst. */
enum ll_buffer_special { LL_BUF_LOGITS = -2, LL_BUF_NONE = -1 };

/* What an offloaded segment gets for one batch: the batch, the cache's cell bookkeeping (the
 * segment keeps K/V of its own layers in the same cells) and the host's activation buffers, from
 * which it copies the rows it reads before writing and into which it copies the rows the host
 * reads after it. */
typedef struct {
    int32_t n;                          /* rows of the batch */
    const int32_t *tokens, *pos, *seq;  /* [n] */
    const int32_t *cells;               /* [n] KV cell of each row */
    const int32_t *logit_rows;          /* [n_logits] */
    int32_t n_logits;
    const int32_t *cell_pos;            /* [kv_extent] position of each cell's token (-1: free) */
    const int32_t *cell_seq;            /* [kv_extent] its sequence */
    int32_t kv_extent;                  /* cells [0, kv_extent) may be in use */
    float *const *buffers;              /* [n_buffers] the host's buffers, each [n_batch_max, width] */
    float *logits;                      /* [n_logits, logits width] the caller's array */
} ll_offload_batch;

/* Runs a segment for a batch (called by one thread of the host's job; returns an ll_status). */
typedef int (*ll_offload_fn)(void *segment, const ll_offload_batch *batch);
/* Re-rotates the keys of the segment's layers as ll_kv_shift does, for the cells of `seq` with
 * positions in [p0, p1) (p1 < 0: to the end), before the host moves their positions by delta. */
typedef int (*ll_offload_shift_fn)(void *segment, const int32_t *cell_pos, const int32_t *cell_seq,
                                   int32_t kv_extent, int32_t seq, int32_t p0, int32_t p1, int32_t delta);

/* One step of the program. Fields an op kind does not use are 0 / NULL. Rows are tokens of the
 * batch; `n` is the width (floats per row) of src0 and, unless noted, of dst. */
typedef struct {
    int kind;                          /* enum ll_op_kind */
    int src0, src1, dst;               /* activation buffer ids (enum ll_buffer_special) */
    int64_t n;                         /* floats per row of src0 */
    int64_t n1;                        /* floats per row of src1 (KV_STORE: V width) */
    int64_t group;                     /* norms: values per normalized group; rope/attention: head dim */
    const void *w;                     /* matmul/get_rows: [w_rows] rows of w_type; norms: float[group] */
    int w_type;                        /* ggml type of w */
    int64_t w_rows;                    /* matmul: output width; get_rows: rows in w */
    const float *b;                    /* bias [n] (ADD_BIAS) or layer-norm beta [group] */
    float eps;                         /* norms */
    float scale;                       /* SCALE; ATTENTION: multiplier of q.k */
    float softcap;                     /* SOFTCAP, ATTENTION (0: none) */
    int layer;                         /* KV_STORE / ATTENTION: cache layer */
    int n_head;                        /* ROPE: heads in the row; ATTENTION: query heads */
    int n_head_kv;                     /* ATTENTION: key/value heads (GQA/MQA) */
    int rope_mode;                     /* enum ll_rope_mode */
    float rope_base;                   /* theta base */
    float rope_freq_scale;             /* positions are multiplied by this (linear scaling) */
    const float *rope_freq_factors;    /* [group / 2] divisors of each frequency, or NULL */
    int window;                        /* ATTENTION: sliding window (0: none); key visible if pos_q - pos_k < window */
    int causal;                        /* ATTENTION: 1 = keys at later positions are hidden */
    ll_offload_fn offload;             /* OFFLOAD: runs the segment w */
    ll_offload_shift_fn offload_shift; /* OFFLOAD: ll_kv_shift for the segment's layers */
} ll_op;

/* Shape of the KV cache: per layer, K rows of k_width and V rows of v_width values in
 * n_ctx cells, stored as type_k / type_v (F16 default; Q8_0 or F32 allowed). A layer with both
 * widths 0 has no storage here (an offloaded layer: its segment keeps it). */
typedef struct {
    int n_layer;
    int n_ctx;
    int type_k, type_v;
    const int64_t *k_width;            /* [n_layer] n_head_kv * head_dim_k */
    const int64_t *v_width;            /* [n_layer] n_head_kv * head_dim_v */
} ll_kv_config;

typedef struct ll_model ll_model;

/* A runnable program: copies the ops, allocates the activation buffers (n_buffers of
 * buffer_width[i] floats per row, n_batch_max rows) and the KV cache. Checks every op: on
 * LL_ERR_INVALID_ARG, *bad_op is the index of the first op that is wrong (-1: not an op). */
int ll_model_new(ll_ctx *ctx, const ll_op *ops, int n_ops, const int64_t *buffer_width, int n_buffers,
                 int n_batch_max, const ll_kv_config *kv, ll_model **out, int *bad_op);
void ll_model_free(ll_model *model);

/* Floats per row of the caller's output array ll_forward writes: the vocabulary size, or the
 * hidden size when the first writer of LL_BUF_LOGITS is a norm (embedding output); 0: none. */
int64_t ll_model_logits_width(const ll_model *model);

/* Bytes of the KV cache and of the activation buffers. */
int64_t ll_model_kv_bytes(const ll_model *model);
int64_t ll_model_buffer_bytes(const ll_model *model);

/* Runs the program for a batch of n tokens (n <= n_batch_max) in one call on the context's
 * threads: token ids, positions and sequence ids per row; the rows listed in logit_rows
 * ([n_logits], ascending) get their logits written to logits_out [n_logits, vocab].
 * LL_ERR_KV_FULL when the cache has fewer than n free cells; LL_ERR_ABORTED if the abort flag was
 * raised (the batch then leaves nothing in the cache). */
int ll_forward(ll_ctx *ctx, ll_model *model, const int32_t *tokens, const int32_t *pos, const int32_t *seq,
               int32_t n, const int32_t *logit_rows, int32_t n_logits, float *logits_out);

/* Per-op timing: copies the ns each op took (summed over the forward calls since the last
 * ll_model_profile call; zeros when profiling was off) to op_ns_out [n_ops] if not NULL, then
 * restarts the counts with profiling on (on = 1) or turns it off (on = 0). */
int ll_model_profile(ll_model *model, int on, int64_t *op_ns_out);

/* Raise (1) or clear (0) the abort flag polled between ops. Safe from any thread. */
void ll_ctx_set_abort(ll_ctx *ctx, int flag);

/* KV cache bookkeeping. seq < 0 means every sequence; p1 < 0 means "to the end". */
int ll_kv_clear(ll_model *model);
int ll_kv_remove(ll_model *model, int32_t seq, int32_t p0, int32_t p1);
/* Adds delta to the positions in [p0, p1) of seq, re-rotating the stored keys to match. */
int ll_kv_shift(ll_model *model, int32_t seq, int32_t p0, int32_t p1, int32_t delta);
/* Cells in use, and the largest position held for seq (-1 if none). */
int32_t ll_kv_used(const ll_model *model);
int32_t ll_kv_max_pos(const ll_model *model, int32_t seq);

/* The whole KV cache (cells, positions, sequences, K/V rows) as bytes, and back. ll_kv_state_save
 * needs exactly ll_kv_state_size bytes; ll_kv_state_load takes a state saved from a model of the
 * same shape and cache types (LL_ERR_INVALID_ARG otherwise, leaving the cache as it was). */
int64_t ll_kv_state_size(const ll_model *model);
int ll_kv_state_save(const ll_model *model, void *dst, int64_t size);
int ll_kv_state_load(ll_model *model, const void *src, int64_t size);

/* ---- A program segment run on the CPU through the offload interface ----
 * The CPU twin of a GPU segment: its own context (n_threads threads), activation buffers and KV
 * layers; each run copies the live-in buffers (rows the segment reads before writing) from the
 * host, runs the ops and copies the live-out buffers back. Split programs are tested through it,
 * and it is the reference every device backend is compared with. */
typedef struct ll_segment ll_segment;

/* ops: the segment's ops (buffer ids as the host's); buffer_width: the host's widths; kv: the
 * segment's layers (other layers with widths 0). On LL_ERR_INVALID_ARG, *bad_op as ll_model_new. */
int ll_segment_new(int n_threads, const ll_op *ops, int n_ops, const int64_t *buffer_width, int n_buffers,
                   int n_batch_max, const ll_kv_config *kv, const int32_t *live_in, int n_live_in,
                   const int32_t *live_out, int n_live_out, ll_segment **out, int *bad_op);
void ll_segment_free(ll_segment *segment);
/* The ll_offload_fn and ll_offload_shift_fn of a CPU segment (segment: an ll_segment *). */
int ll_segment_run(void *segment, const ll_offload_batch *batch);
int ll_segment_kv_shift(void *segment, const int32_t *cell_pos, const int32_t *cell_seq, int32_t kv_extent,
                        int32_t seq, int32_t p0, int32_t p1, int32_t delta);

#endif
