/* Block formats of the ggml types, declared once. Each struct's size is checked at compile time
 * against the bytes-per-block that GGUF files use (the same table lives in localllm/gguf/types.py).
 *
 * A quantized row of n elements is n / QK blocks laid out back to back; a block holds QK values
 * as small integers plus the scale(s) that turn them back into floats.
 */
#ifndef LL_BLOCKS_H
#define LL_BLOCKS_H
#include <assert.h>
#include <stdint.h>

/* ggml type ids as stored in GGUF tensor infos. */
enum ll_ggml_type {
    LL_TYPE_F32 = 0,
    LL_TYPE_F16 = 1,
    LL_TYPE_Q4_0 = 2,
    LL_TYPE_Q4_1 = 3,
    LL_TYPE_Q5_0 = 6,
    LL_TYPE_Q5_1 = 7,
    LL_TYPE_Q8_0 = 8,
    LL_TYPE_Q8_1 = 9,
    LL_TYPE_Q2_K = 10,
    LL_TYPE_Q3_K = 11,
    LL_TYPE_Q4_K = 12,
    LL_TYPE_Q5_K = 13,
    LL_TYPE_Q6_K = 14,
    LL_TYPE_Q8_K = 15,
    LL_TYPE_BF16 = 30,
    LL_TYPE_COUNT = 42 /* one past the largest id the table may hold */
};

typedef uint16_t ll_fp16; /* IEEE half, stored as bits */
typedef uint16_t ll_bf16; /* bfloat16, stored as bits */

/* ---- legacy 32-element blocks ---- */
#define QK4_0 32
typedef struct {
    ll_fp16 d;              /* scale */
    uint8_t qs[QK4_0 / 2];  /* [16] nibbles: low nibble = element j, high nibble = element j+16; value = d * (q - 8) */
} block_q4_0;
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");

#define QK4_1 32
typedef struct {
    ll_fp16 d;              /* scale */
    ll_fp16 m;              /* minimum */
    uint8_t qs[QK4_1 / 2];  /* [16] nibbles as in q4_0; value = d * q + m */
} block_q4_1;
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");

#define QK5_0 32
typedef struct {
    ll_fp16 d;              /* scale */
    uint8_t qh[4];          /* [32 bits] 5th bit of element j is bit j */
    uint8_t qs[QK5_0 / 2];  /* [16] low 4 bits as in q4_0; value = d * (q - 16) */
} block_q5_0;
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");

#define QK5_1 32
typedef struct {
    ll_fp16 d;              /* scale */
    ll_fp16 m;              /* minimum */
    uint8_t qh[4];          /* [32 bits] 5th bits */
    uint8_t qs[QK5_1 / 2];  /* [16] low 4 bits; value = d * q + m */
} block_q5_1;
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");

#define QK8_0 32
typedef struct {
    ll_fp16 d;          /* scale */
    int8_t qs[QK8_0];   /* [32] value = d * qs[i] */
} block_q8_0;
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");

/* ---- k-quants: 256-element super-blocks of 16 or 8 sub-blocks ---- */
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct {
    uint8_t scales[QK_K / 16];  /* [16] low nibble: scale, high nibble: min, of each 16-element sub-block */
    uint8_t qs[QK_K / 4];       /* [64] 2-bit quants */
    ll_fp16 d;                  /* super-block scale for the scales */
    ll_fp16 dmin;               /* super-block scale for the mins */
} block_q2_K;
static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");

typedef struct {
    uint8_t hmask[QK_K / 8];       /* [32] high bit of each 3-bit quant */
    uint8_t qs[QK_K / 4];          /* [64] low 2 bits */
    uint8_t scales[K_SCALE_SIZE];  /* [12] sixteen 6-bit signed scales, packed */
    ll_fp16 d;                     /* super-block scale */
} block_q3_K;
static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");

typedef struct {
    ll_fp16 d;                     /* super-block scale for the scales */
    ll_fp16 dmin;                  /* super-block scale for the mins */
    uint8_t scales[K_SCALE_SIZE];  /* [12] eight 6-bit scales and eight 6-bit mins, packed */
    uint8_t qs[QK_K / 2];          /* [128] 4-bit quants */
} block_q4_K;
static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");

typedef struct {
    ll_fp16 d;                     /* super-block scale for the scales */
    ll_fp16 dmin;                  /* super-block scale for the mins */
    uint8_t scales[K_SCALE_SIZE];  /* [12] as in q4_K */
    uint8_t qh[QK_K / 8];          /* [32] 5th bits */
    uint8_t qs[QK_K / 2];          /* [128] low 4 bits */
} block_q5_K;
static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");

typedef struct {
    uint8_t ql[QK_K / 2];      /* [128] low 4 bits */
    uint8_t qh[QK_K / 4];      /* [64] high 2 bits */
    int8_t scales[QK_K / 16];  /* [16] 8-bit scales of 16-element sub-blocks */
    ll_fp16 d;                 /* super-block scale */
} block_q6_K;
static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");

/* Activation side of the k-quant dot products. */
typedef struct {
    float d;                   /* scale */
    int8_t qs[QK_K];           /* [256] quants */
    int16_t bsums[QK_K / 16];  /* [16] sum of each 16 quants (for the min terms) */
} block_q8_K;
static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

#endif
