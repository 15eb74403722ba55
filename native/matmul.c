/* Matmul y[n_tok, n_out] = x[n_tok, n_in] @ W[n_out, n_in]^T over the kernel table (see matmul.h
 * for the plan), the public ll_matmul, and the read-bandwidth probe benchmarks compare decode to. */
#include <stdatomic.h>
#include "include/localllm.h"
#include "matmul.h"

#define LL_QUANT_PIECE 4096                /* elements of x quantized per work item */
#define LL_DECODE_CHUNKS_PER_THREAD 8      /* decode: work items per thread, for balance */
#define LL_DECODE_MIN_CHUNK_BYTES 32768    /* decode: fewer, longer streams below this */
#define LL_TILE_MAX 128                    /* largest gemm_tile_rows / gemm_tile_cols used */
#define LL_FALLBACK_ROWS 16                /* tile of the vec_dot loops: weight rows ... */
#define LL_FALLBACK_COLS 4                 /* ... x tokens */
#define LL_READ_CHUNK_BYTES (256 * 1024)   /* bandwidth probe: bytes per work item */

static int64_t ll_min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t ll_max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t ll_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ---------------------------------------------------------------------------------------------
 * Arguments */

static int ll_sizes_ok(int64_t n_out, int64_t n_in, int64_t n_tok, size_t w_row, size_t a_row) {
    int64_t total;
    if (n_out < 0 || n_in <= 0 || n_tok < 0) return 0;
    if (__builtin_mul_overflow(n_out, (int64_t)w_row, &total)) return 0;
    if (__builtin_mul_overflow(n_tok, (int64_t)a_row, &total)) return 0;
    if (__builtin_mul_overflow(n_tok, n_in * 4, &total)) return 0;
    return !__builtin_mul_overflow(n_tok, n_out * 4, &total);
}

int ll_matmul_prepare(ll_matmul_op *op, int w_type, const void *w, int64_t n_out, int64_t n_in,
                      const float *x, int64_t n_tok, float *y) {
    ll_kernels_init();
    if (w_type < 0 || w_type >= LL_TYPE_COUNT || !LL_KERNELS[w_type].name) return LL_ERR_UNSUPPORTED;
    const ll_type_kernels *wk = &LL_KERNELS[w_type];
    const ll_type_kernels *ak = &LL_KERNELS[wk->vec_dot_type];
    const int a_is_f32 = wk->vec_dot_type == LL_TYPE_F32;
    if (!wk->vec_dot || !ak->name || (!a_is_f32 && !ak->quantize_row)) return LL_ERR_UNSUPPORTED;
    if (n_in <= 0 || n_in > (INT64_MAX >> 8) || n_in % wk->block_size || n_in % ak->block_size)
        return LL_ERR_INVALID_ARG;
    const size_t w_row = (size_t)(n_in / wk->block_size) * (size_t)wk->block_bytes;
    const size_t a_row = (size_t)(n_in / ak->block_size) * (size_t)ak->block_bytes;
    if (!ll_sizes_ok(n_out, n_in, n_tok, w_row, a_row)) return LL_ERR_INVALID_ARG;
    if (n_out > 0 && n_tok > 0 && (!w || !x || !y)) return LL_ERR_INVALID_ARG;
    *op = (ll_matmul_op){.wk = wk, .ak = ak, .w = w, .w_row_bytes = w_row, .n_out = n_out, .n_in = n_in,
                         .n_tok = n_tok, .x = x, .xq = a_is_f32 ? (uint8_t *)x : NULL, .a_row_bytes = a_row,
                         .y = y};
    return LL_OK;
}

size_t ll_matmul_scratch_bytes(const ll_matmul_op *op) {
    return op->wk->vec_dot_type == LL_TYPE_F32 ? 0 : (size_t)op->n_tok * op->a_row_bytes;
}

/* ---------------------------------------------------------------------------------------------
 * Phase 1: x -> xq, in pieces of whole blocks (activation quantizers work block by block). */

static void ll_quantize_x(const ll_matmul_op *op, ll_pool *pool) {
    const int64_t bs = op->ak->block_size;
    const int64_t piece = ll_max64(LL_QUANT_PIECE / bs, 1) * bs;         /* elements */
    const size_t piece_bytes = (size_t)(piece / bs) * op->ak->block_bytes;
    const int64_t pieces = ll_cdiv(op->n_in, piece);                     /* per row */
    for (int64_t i; (i = ll_pool_next_chunk(pool)) < op->n_tok * pieces;) {
        const int64_t t = i / pieces, p = i % pieces;
        const int64_t n = ll_min64(piece, op->n_in - p * piece);
        op->ak->quantize_row(op->x + t * op->n_in + p * piece, op->xq + t * op->a_row_bytes + p * piece_bytes, n);
    }
}

/* The type's gemm_tile when it has one of a size matmul handles, else NULL (vec_dot loops). */
static ll_gemm_tile_fn ll_gemm_tile_of(const ll_type_kernels *k) {
    const int sane = k->gemm_tile_rows >= 1 && k->gemm_tile_rows <= LL_TILE_MAX && k->gemm_tile_cols >= 1 &&
                     k->gemm_tile_cols <= LL_TILE_MAX;
    return sane ? k->gemm_tile : NULL;
}

/* y[c, r] += bias[r] for rows [r0, r0 + nr) of tokens [c0, c0 + nc), once they are computed: the
 * same single rounding as a separate bias op, without its pass over y and its barrier. */
static void ll_add_bias(const ll_matmul_op *op, int64_t r0, int64_t nr, int64_t c0, int64_t nc) {
    const float *restrict bias = op->bias ? op->bias + r0 : NULL; /* [nr], in locals: a vectorized loop */
    if (!bias) return;
    for (int64_t c = c0; c < c0 + nc; c++) {
        float *restrict y = op->y + c * op->n_out + r0; /* [nr] */
        for (int64_t r = 0; r < nr; r++) y[r] += bias[r];
    }
}

/* ---------------------------------------------------------------------------------------------
 * Decode: one activation row; threads take chunks of consecutive weight rows, computed a tile
 * (gemm_tile_rows x 1 token) at a time when the type has a gemm_tile, else row by row. */

static int64_t ll_decode_chunk_rows(int64_t n_out, size_t row_bytes, int nth, int tile_rows) {
    const int64_t balanced = ll_cdiv(n_out, (int64_t)nth * LL_DECODE_CHUNKS_PER_THREAD);
    const int64_t long_enough = ll_cdiv(LL_DECODE_MIN_CHUNK_BYTES, (int64_t)row_bytes);
    const int64_t rows = ll_max64(1, ll_min64(ll_max64(balanced, long_enough), ll_cdiv(n_out, nth)));
    return ll_cdiv(rows, tile_rows) * tile_rows; /* whole tiles: the grid does not depend on nth */
}

/* The chunk behind the c-th hand-out: the chunks form nth parts that the threads walk side by
 * side, each part front to back, so that a thread's chunks follow each other in memory (its
 * prefetches run on into its next chunk) while a thread that is done early still takes the next
 * chunk handed out. Returns `chunks` for a hand-out that has no chunk behind it. */
static int64_t ll_decode_chunk_at(int64_t c, int64_t chunks, int nth) {
    const int64_t per_part = ll_cdiv(chunks, nth), k = c % nth * per_part + c / nth;
    return c / nth < per_part && k < chunks ? k : chunks;
}

static void ll_matmul_decode(const ll_matmul_op *op, ll_pool *pool, int nth) {
    const ll_gemm_tile_fn gemm_tile = ll_gemm_tile_of(op->wk);
    const int tile = gemm_tile ? op->wk->gemm_tile_rows : 1;
    const int64_t rows = ll_decode_chunk_rows(op->n_out, op->w_row_bytes, nth, tile);
    const int64_t chunks = ll_cdiv(op->n_out, rows);
    for (int64_t c; (c = ll_pool_next_chunk(pool)) < nth * ll_cdiv(chunks, nth);) {
        const int64_t k = ll_decode_chunk_at(c, chunks, nth);
        if (k == chunks) continue;
        const int64_t r1 = ll_min64(op->n_out, (k + 1) * rows);
        for (int64_t r = k * rows; r < r1; r += tile) {
            const uint8_t *w = op->w + r * op->w_row_bytes;
            if (gemm_tile) {
                gemm_tile(op->n_in, op->y + r, 1, w, (int64_t)op->w_row_bytes, (int)ll_min64(tile, r1 - r), op->xq, 0, 1);
            } else {
                op->wk->vec_dot(op->n_in, op->y + r, w, op->xq);
            }
        }
        ll_add_bias(op, k * rows, r1 - k * rows, 0, 1);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Prefill: a grid of tiles [tile_rows weight rows x tile_cols tokens], handed out in row-major
 * order, so the threads work on neighbouring tiles of the same weight rows (kept in L2) while the
 * activations stream from L3. Each tile computes its dot products over the whole row. */

typedef struct {
    int64_t row_tiles, col_tiles;
    int tile_rows, tile_cols;     /* the kernel's tile (or the vec_dot fallback's) */
    ll_gemm_tile_fn gemm_tile;    /* NULL: vec_dot loops */
} ll_prefill_plan;

static ll_prefill_plan ll_plan_prefill(const ll_matmul_op *op) {
    const ll_gemm_tile_fn gemm_tile = ll_gemm_tile_of(op->wk);
    ll_prefill_plan p = {.tile_rows = gemm_tile ? op->wk->gemm_tile_rows : LL_FALLBACK_ROWS,
                         .tile_cols = gemm_tile ? op->wk->gemm_tile_cols : LL_FALLBACK_COLS,
                         .gemm_tile = gemm_tile};
    p.col_tiles = ll_cdiv(op->n_tok, p.tile_cols);
    p.tile_cols = (int)ll_cdiv(op->n_tok, p.col_tiles); /* equal widths: 67 tokens = 23 + 22 + 22 */
    p.row_tiles = ll_cdiv(op->n_out, p.tile_rows);
    return p;
}

/* y[c0 + c, r0 + r] = dot(w_(r0 + r), xq_(c0 + c)) through the type's gemm_tile, in place. */
static void ll_tile_gemm(const ll_matmul_op *op, const ll_prefill_plan *p, int64_t r0, int nr, int64_t c0, int nc) {
    p->gemm_tile(op->n_in, op->y + c0 * op->n_out + r0, op->n_out, op->w + r0 * op->w_row_bytes,
                 (int64_t)op->w_row_bytes, nr, op->xq + c0 * op->a_row_bytes, (int64_t)op->a_row_bytes, nc);
}

/* The same through vec_dot, one (row, token) at a time. */
static void ll_tile_vec_dot(const ll_matmul_op *op, int64_t r0, int nr, int64_t c0, int nc) {
    const ll_vec_dot_fn vec_dot = op->wk->vec_dot;
    for (int64_t r = r0; r < r0 + nr; r++) {
        const uint8_t *w_row = op->w + r * op->w_row_bytes;
        for (int64_t c = c0; c < c0 + nc; c++) vec_dot(op->n_in, op->y + c * op->n_out + r, w_row, op->xq + c * op->a_row_bytes);
    }
}

static void ll_matmul_prefill(const ll_matmul_op *op, ll_pool *pool) {
    const ll_prefill_plan p = ll_plan_prefill(op);
    for (int64_t t; (t = ll_pool_next_chunk(pool)) < p.row_tiles * p.col_tiles;) {
        const int64_t r0 = t / p.col_tiles * p.tile_rows, c0 = t % p.col_tiles * p.tile_cols;
        const int nr = (int)ll_min64(p.tile_rows, op->n_out - r0), nc = (int)ll_min64(p.tile_cols, op->n_tok - c0);
        if (p.gemm_tile) {
            ll_tile_gemm(op, &p, r0, nr, c0, nc);
        } else {
            ll_tile_vec_dot(op, r0, nr, c0, nc);
        }
        ll_add_bias(op, r0, nr, c0, nc);
    }
}

/* ---------------------------------------------------------------------------------------------
 * The op and the public entry point */

void ll_matmul_run(const ll_matmul_op *op, ll_pool *pool, int ith, int nth) {
    (void)ith;
    if (op->n_out == 0 || op->n_tok == 0) return;
    if (op->wk->vec_dot_type != LL_TYPE_F32 && !op->xq_ready) {
        ll_quantize_x(op, pool);
        ll_pool_barrier(pool);
    }
    if (op->n_tok == 1) {
        ll_matmul_decode(op, pool, nth);
    } else {
        ll_matmul_prefill(op, pool);
    }
}

typedef struct {
    const ll_matmul_op *op;
    ll_pool *pool;
} ll_matmul_job;

static void ll_matmul_job_fn(void *arg, int ith, int nth) {
    const ll_matmul_job *job = arg;
    ll_matmul_run(job->op, job->pool, ith, nth);
}

int ll_matmul(ll_ctx *ctx, int w_type, const void *w, int64_t n_out, int64_t n_in, const float *x, int64_t n_tok,
              float *y) {
    if (!ctx) return LL_ERR_INVALID_ARG;
    ll_matmul_op op;
    int status = ll_matmul_prepare(&op, w_type, w, n_out, n_in, x, n_tok, y);
    if (status != LL_OK || n_out == 0 || n_tok == 0) return status;
    pthread_mutex_lock(&ctx->lock);
    const size_t scratch = ll_matmul_scratch_bytes(&op);
    status = ll_ctx_reserve(ctx, scratch);
    if (status == LL_OK) {
        if (scratch) op.xq = ctx->scratch;
        ll_matmul_job job = {.op = &op, .pool = ctx->pool};
        ll_pool_run(ctx->pool, ll_matmul_job_fn, &job);
    }
    pthread_mutex_unlock(&ctx->lock);
    return status;
}

/* ---------------------------------------------------------------------------------------------
 * Read-bandwidth probe: the decode access pattern without the arithmetic. */

typedef struct {
    ll_pool *pool;
    const uint8_t *buf;  /* [n_bytes] */
    int64_t n_bytes;
    uint64_t sums[LL_MAX_THREADS][8]; /* per thread, one cache line apart */
} ll_read_job;

/* Sum of the 64-bit words of p[n], n a multiple of 128, in four 32-byte vector accumulators
 * (GCC vector extensions: AVX2, SSE2 or NEON code as the module's flags allow), so the loop
 * outruns memory. */
typedef uint64_t ll_u64x4 __attribute__((vector_size(32)));

static uint64_t ll_sum_words(const uint8_t *p, int64_t n) {
    ll_u64x4 acc[4] = {{0}};
    for (int64_t i = 0; i < n; i += 128) {
        for (int k = 0; k < 4; k++) {
            ll_u64x4 w;
            memcpy(&w, p + i + 32 * k, sizeof w);
            acc[k] += w;
        }
    }
    const ll_u64x4 total = acc[0] + acc[1] + acc[2] + acc[3];
    return total[0] + total[1] + total[2] + total[3];
}

static void ll_read_job_fn(void *arg, int ith, int nth) {
    ll_read_job *job = arg;
    (void)nth;
    const int64_t chunks = job->n_bytes / LL_READ_CHUNK_BYTES;
    uint64_t sum = 0;
    for (int64_t c; (c = ll_pool_next_chunk(job->pool)) < chunks;)
        sum += ll_sum_words(job->buf + c * LL_READ_CHUNK_BYTES, LL_READ_CHUNK_BYTES);
    if (ith == 0) { /* the tail: whole 128-byte blocks, then bytes */
        const int64_t tail = chunks * LL_READ_CHUNK_BYTES, words_end = tail + (job->n_bytes - tail) / 128 * 128;
        sum += ll_sum_words(job->buf + tail, words_end - tail);
        for (int64_t i = words_end; i < job->n_bytes; i++) sum += job->buf[i];
    }
    job->sums[ith][0] = sum;
}

int ll_bench_read(ll_ctx *ctx, const void *buf, int64_t n_bytes, uint64_t *checksum) {
    if (!ctx || !checksum || n_bytes < 0 || (n_bytes > 0 && !buf)) return LL_ERR_INVALID_ARG;
    ll_read_job job = {.pool = ctx->pool, .buf = buf, .n_bytes = n_bytes}; /* 16 KiB of sums */
    pthread_mutex_lock(&ctx->lock);
    ll_pool_run(ctx->pool, ll_read_job_fn, &job);
    pthread_mutex_unlock(&ctx->lock);
    uint64_t total = 0;
    for (int i = 0; i < ll_pool_n_threads(ctx->pool); i++) total += job.sums[i][0];
    *checksum = total;
    return LL_OK;
}
