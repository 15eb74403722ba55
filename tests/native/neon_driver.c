/* NEON kernels vs the scalar reference, on AArch64 (run under qemu-aarch64 by tests/test_kernels_neon.py).
 *
 * Built with native/build.py's common flags plus the neon level's (-march=armv8-a -DLL_WITH_NEON=1
 * -DLL_BUILD_LEVEL=3); it includes the whole core (native/variant.c), so the static kernels are visible.
 * Two kernel tables: `ref` filled by ll_fill_kernels_ref only, `neon` by ll_fill_kernels_ref and then
 * ll_fill_kernels_neon with this CPU's features, exactly as the runtime fills its table (so the dotprod
 * kernels are tested where the CPU has dotprod, the plain ones where it has not).
 *
 * Checks, on seeded random rows of 1, 7 and 33 blocks with ordinary and extreme scales:
 *   vec_dot      |neon - ref| <= 1e-6 * sum_i |x_i * y_i|: block sums are exact integers on both sides,
 *                so they may differ only by float summation order, whose error is a few float ulps of
 *                that sum (the natural scale of a dot product, also when it cancels to near zero);
 *   quantize_row Q8_0 and Q8_K: identical bytes (round half to even, fp16 rounded to nearest even);
 *   dequantize   identical bits (a NaN only has to be a NaN: SIMD conversions quiet signalling NaNs);
 *   selection    each vec_dot / quantize slot holds the NEON kernel of the detected path.
 * Prints the path ("path: dotprod" or "path: neon"), one line per type, and "N passed, M failed";
 * the exit status is 1 when anything failed.
 */
#include "variant.c"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define VEC_DOT_RTOL 1e-6
#define MAX_ELEMENTS (33 * QK_K)
#define TRIALS 4

static const int BLOCK_COUNTS[] = {1, 7, 33};
static const int FLOAT_LENGTHS[] = {1, 7, 33, 1001}; /* float types: blocks of 1; 1001 runs the wide loops */

/* One weight type: its geometry, its NEON kernels and where its fp16 scales sit in a block. */
typedef struct {
    int type;
    const char *name;
    int block_size;
    int block_bytes;
    ll_vec_dot_fn neon;
    ll_vec_dot_fn dotprod; /* NULL: no sdot flavour */
    int n_scales;
    size_t scale_offset[2]; /* byte offsets of the fp16 d / m / dmin fields */
} weight_case;

#define QUANT(T, name, blk, qk, dot, dp, ns, ...) \
    {T, name, qk, sizeof(blk), dot, dp, ns, {__VA_ARGS__}}
static const weight_case CASES[] = {
    {LL_TYPE_F32, "F32", 1, 4, vec_dot_f32_f32_neon, NULL, 0, {0}},
    {LL_TYPE_F16, "F16", 1, 2, vec_dot_f16_f16_neon, NULL, 0, {0}},
    {LL_TYPE_BF16, "BF16", 1, 2, vec_dot_bf16_bf16_neon, NULL, 0, {0}},
    QUANT(LL_TYPE_Q4_0, "Q4_0", block_q4_0, QK4_0, vec_dot_q4_0_q8_0_neon, vec_dot_q4_0_q8_0_neon_dotprod, 1,
          offsetof(block_q4_0, d)),
    QUANT(LL_TYPE_Q4_1, "Q4_1", block_q4_1, QK4_1, vec_dot_q4_1_q8_0_neon, vec_dot_q4_1_q8_0_neon_dotprod, 2,
          offsetof(block_q4_1, d), offsetof(block_q4_1, m)),
    QUANT(LL_TYPE_Q5_0, "Q5_0", block_q5_0, QK5_0, vec_dot_q5_0_q8_0_neon, vec_dot_q5_0_q8_0_neon_dotprod, 1,
          offsetof(block_q5_0, d)),
    QUANT(LL_TYPE_Q5_1, "Q5_1", block_q5_1, QK5_1, vec_dot_q5_1_q8_0_neon, vec_dot_q5_1_q8_0_neon_dotprod, 2,
          offsetof(block_q5_1, d), offsetof(block_q5_1, m)),
    QUANT(LL_TYPE_Q8_0, "Q8_0", block_q8_0, QK8_0, vec_dot_q8_0_q8_0_neon, vec_dot_q8_0_q8_0_neon_dotprod, 1,
          offsetof(block_q8_0, d)),
    QUANT(LL_TYPE_Q2_K, "Q2_K", block_q2_K, QK_K, vec_dot_q2_K_q8_K_neon, vec_dot_q2_K_q8_K_neon_dotprod, 2,
          offsetof(block_q2_K, d), offsetof(block_q2_K, dmin)),
    QUANT(LL_TYPE_Q3_K, "Q3_K", block_q3_K, QK_K, vec_dot_q3_K_q8_K_neon, vec_dot_q3_K_q8_K_neon_dotprod, 1,
          offsetof(block_q3_K, d)),
    QUANT(LL_TYPE_Q4_K, "Q4_K", block_q4_K, QK_K, vec_dot_q4_K_q8_K_neon, vec_dot_q4_K_q8_K_neon_dotprod, 2,
          offsetof(block_q4_K, d), offsetof(block_q4_K, dmin)),
    QUANT(LL_TYPE_Q5_K, "Q5_K", block_q5_K, QK_K, vec_dot_q5_K_q8_K_neon, vec_dot_q5_K_q8_K_neon_dotprod, 2,
          offsetof(block_q5_K, d), offsetof(block_q5_K, dmin)),
    QUANT(LL_TYPE_Q6_K, "Q6_K", block_q6_K, QK_K, vec_dot_q6_K_q8_K_neon, vec_dot_q6_K_q8_K_neon_dotprod, 1,
          offsetof(block_q6_K, d)),
};
#define N_CASES ((int)(sizeof CASES / sizeof CASES[0]))

/* ---- bookkeeping ---- */

static int n_passed, n_failed;

static void check(int ok, const char *what, const char *type, int64_t n, int trial) {
    if (ok) {
        n_passed++;
        return;
    }
    n_failed++;
    printf("FAIL %s %s n=%lld trial=%d\n", what, type, (long long)n, trial);
}

/* ---- seeded random data (splitmix64) ---- */

static uint64_t rng_state;

static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; }

static float rng_normal(void) { /* Box-Muller */
    const double u = 1.0 - rng_uniform(), v = rng_uniform();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static void rng_bytes(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng_next();
}

/* largest, negated largest, smallest subnormal, zero, negative zero, largest subnormal, smallest normal */
static const ll_fp16 EXTREME_FP16[] = {0x7bff, 0xfbff, 0x0001, 0x0000, 0x8000, 0x03ff, 0x0400};

/* an fp16 scale: ordinary, or (when `extreme` and a coin says so) one of EXTREME_FP16 */
static ll_fp16 random_scale(int extreme) {
    if (extreme && (rng_next() & 1)) return EXTREME_FP16[rng_next() % 7];
    return ll_neon_f32_to_fp16(rng_normal());
}

/* ---- rows ---- */

/* a row of a quantized type: random quants, scales ordinary or extreme */
static void random_quant_row(const weight_case *c, uint8_t *row, int64_t nb, int extreme) {
    rng_bytes(row, (size_t)(nb * c->block_bytes));
    for (int64_t b = 0; b < nb; b++) {
        for (int k = 0; k < c->n_scales; k++) {
            const ll_fp16 s = random_scale(extreme);
            memcpy(row + b * c->block_bytes + c->scale_offset[k], &s, sizeof s);
        }
    }
}

/* a float row (F32 / F16 / BF16) of n values scaled by `scale`, a few set to fp16's extremes when asked */
static void random_float_row(int type, void *row, int64_t n, float scale, int extreme) {
    for (int64_t i = 0; i < n; i++) {
        float v = rng_normal() * scale;
        if (type == LL_TYPE_F16 && extreme && rng_next() % 8 == 0) v = ll_fp16_to_f32(EXTREME_FP16[rng_next() % 7]);
        if (type == LL_TYPE_F32) ((float *)row)[i] = v;
        if (type == LL_TYPE_F16) ((ll_fp16 *)row)[i] = ll_neon_f32_to_fp16(v);
        if (type == LL_TYPE_BF16) ((ll_bf16 *)row)[i] = (ll_bf16)(ll_f32_to_bits(v) >> 16);
    }
}

/* a Q8_0 activation row: every int8, fp16 scales ordinary or extreme */
static void random_q8_0_row(block_q8_0 *y, int64_t nb, int extreme) {
    for (int64_t b = 0; b < nb; b++) {
        rng_bytes((uint8_t *)y[b].qs, QK8_0);
        y[b].d = random_scale(extreme);
    }
}

/* a Q8_K activation row: every int8 with consistent bsums, float scales ordinary or extreme */
static void random_q8_K_row(block_q8_K *y, int64_t nb, int extreme) {
    static const float extremes[] = {1e20f, -1e20f, 1e-20f, 0.0f, -0.0f};
    for (int64_t b = 0; b < nb; b++) {
        rng_bytes((uint8_t *)y[b].qs, QK_K);
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += y[b].qs[16 * j + i];
            y[b].bsums[j] = (int16_t)sum;
        }
        y[b].d = extreme && (rng_next() & 1) ? extremes[rng_next() % 5] : rng_normal();
    }
}

/* the activation row's values, for the tolerance */
static void activation_values(int type, const void *y, int64_t n, double *out) {
    for (int64_t i = 0; i < n; i++) {
        if (type == LL_TYPE_Q8_0) {
            const block_q8_0 *b = (const block_q8_0 *)y + i / QK8_0;
            out[i] = (double)ll_fp16_to_f32(b->d) * b->qs[i % QK8_0];
        } else if (type == LL_TYPE_Q8_K) {
            const block_q8_K *b = (const block_q8_K *)y + i / QK_K;
            out[i] = (double)b->d * b->qs[i % QK_K];
        } else if (type == LL_TYPE_F32) {
            out[i] = ((const float *)y)[i];
        } else if (type == LL_TYPE_F16) {
            out[i] = ll_fp16_to_f32(((const ll_fp16 *)y)[i]);
        } else {
            out[i] = ll_bf16_to_f32(((const ll_bf16 *)y)[i]);
        }
    }
}

/* ---- checks ---- */

static ll_type_kernels REF[LL_TYPE_COUNT], NEON[LL_TYPE_COUNT];
static uint8_t xbuf[65536 * 4], ybuf[65536 * 4]; /* rows in bytes; F16's 65536 patterns fit */
static float fbuf[MAX_ELEMENTS], gbuf[MAX_ELEMENTS];
static double yval[MAX_ELEMENTS];

static int same_bits(const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i])) continue;
        if (ll_f32_to_bits(a[i]) != ll_f32_to_bits(b[i])) return 0;
    }
    return 1;
}

/* fills xbuf with a row of the case's type and ybuf with a row of its vec_dot_type */
static void random_operands(const weight_case *c, int vt, int64_t n, int trial) {
    static const float wide[] = {1.0f, 1e15f, 1e-15f}, half[] = {1.0f, 30.0f, 1e-3f}; /* F32 / BF16, F16 */
    const float *scales = c->type == LL_TYPE_F16 ? half : wide;
    const int extreme = trial > 0;
    if (c->block_size == 1) {
        random_float_row(c->type, xbuf, n, scales[trial % 3], extreme);
        random_float_row(vt, ybuf, n, scales[(trial + 1) % 3], extreme);
        return;
    }
    random_quant_row(c, xbuf, n / c->block_size, extreme);
    if (vt == LL_TYPE_Q8_0) random_q8_0_row((block_q8_0 *)ybuf, n / QK8_0, extreme);
    if (vt == LL_TYPE_Q8_K) random_q8_K_row((block_q8_K *)ybuf, n / QK_K, extreme);
}

/* one vec_dot comparison; returns |neon - ref| / tolerance */
static double check_vec_dot(const weight_case *c, int64_t n, int trial) {
    const int vt = REF[c->type].vec_dot_type;
    random_operands(c, vt, n, trial);
    REF[c->type].dequantize_row(xbuf, fbuf, n);
    activation_values(vt, ybuf, n, yval);
    double scale = 0.0;
    for (int64_t i = 0; i < n; i++) scale += fabs((double)fbuf[i] * yval[i]);
    float s_ref = NAN, s_neon = NAN;
    REF[c->type].vec_dot(n, &s_ref, xbuf, ybuf);
    NEON[c->type].vec_dot(n, &s_neon, xbuf, ybuf);
    const double err = fabs((double)s_neon - (double)s_ref), tol = VEC_DOT_RTOL * scale;
    const int ok = err <= tol;
    if (!ok) printf("  %s n=%lld: neon %.9g ref %.9g |diff| %.3g > tol %.3g\n", c->name, (long long)n, s_neon, s_ref, err, tol);
    check(ok, "vec_dot", c->name, n, trial);
    return tol > 0 ? err / tol : (err > 0 ? INFINITY : 0.0);
}

/* dequantize of random rows (scales may be inf / NaN here) and of extreme-scale rows */
static void check_dequantize(const weight_case *c, int64_t n, int trial) {
    if (trial == 0 || c->block_size == 1) rng_bytes(xbuf, (size_t)(n / c->block_size * c->block_bytes));
    else random_quant_row(c, xbuf, n / c->block_size, 1);
    REF[c->type].dequantize_row(xbuf, fbuf, n);
    NEON[c->type].dequantize_row(xbuf, gbuf, n);
    check(same_bits(fbuf, gbuf, n), "dequantize", c->name, n, trial);
}

/* has the scalar reference what the comparison needs? */
static int ref_ready(const weight_case *c) {
    const ll_type_kernels *k = &REF[c->type];
    if (k->name && k->vec_dot && k->dequantize_row && k->block_size == c->block_size && k->block_bytes == c->block_bytes)
        return 1;
    printf("FAIL %s: ll_fill_kernels_ref lacks %s\n", c->name,
           !k->name ? "the type" : !k->vec_dot ? "vec_dot" : !k->dequantize_row ? "dequantize_row" : "its block geometry");
    n_failed++;
    return 0;
}

static void check_type(const weight_case *c, int dotprod) {
    const ll_vec_dot_fn expected = dotprod && c->dotprod ? c->dotprod : c->neon;
    check(NEON[c->type].vec_dot == expected, "kernel selection", c->name, 0, 0);
    if (!ref_ready(c)) return;
    double worst = 0.0;
    int checks = 0;
    const int n_lengths = c->block_size == 1 ? 4 : 3;
    for (int li = 0; li < n_lengths; li++) {
        const int64_t n = c->block_size == 1 ? FLOAT_LENGTHS[li] : (int64_t)BLOCK_COUNTS[li] * c->block_size;
        for (int trial = 0; trial < TRIALS; trial++, checks++) {
            const double r = check_vec_dot(c, n, trial);
            if (r > worst) worst = r;
            check_dequantize(c, n, trial);
        }
    }
    printf("%-5s vec_dot %s: %d rows, worst |neon-ref| = %.3f of tolerance\n", c->name,
           expected == c->dotprod ? "sdot" : c->block_size == 1 ? "f32 fma" : "smull/sadalp", checks, worst);
}

/* F16 dequantize of all 65536 bit patterns */
static void check_f16_every_pattern(void) {
    ll_fp16 *h = (ll_fp16 *)xbuf;
    for (int i = 0; i < 65536; i++) h[i] = (ll_fp16)i;
    static float a[65536], b[65536];
    REF[LL_TYPE_F16].dequantize_row(h, a, 65536);
    NEON[LL_TYPE_F16].dequantize_row(h, b, 65536);
    check(same_bits(a, b, 65536), "dequantize (every bit pattern)", "F16", 65536, 0);
}

/* ---- activation quantizers ---- */

/* input rows: kind 0 ordinary; 1 blocks scaled by extremes (incl. all-zero, subnormal d, fp16 overflow);
 * 2 ties: integers + 0.5 at scale 1, equal magnitudes of both signs, the Q8_K clamp at +128 */
static void quantize_input(float *x, int64_t n, int block, int kind) {
    /* 4e-37: Q8_0's d and Q8_K's d are float subnormals, 1 / d still finite; 1e30: fp16(d) overflows to
     * inf; 1e-5: fp16(d) is an fp16 subnormal */
    static const float block_scales[] = {1.0f, 1e-30f, 4e-37f, 1e30f, 0.0f, 3e5f, 1e-5f};
    for (int64_t i = 0; i < n; i++) x[i] = rng_normal();
    for (int64_t b = 0; kind > 0 && b < n / block; b++) {
        float *xb = x + b * block;
        if (kind == 1) {
            for (int i = 0; i < block; i++) xb[i] *= block_scales[(b + i / 32) % 7];
            continue;
        }
        const float top = block == QK8_0 ? 127.0f : 128.0f; /* scale 1 / d = 1 exactly */
        for (int i = 0; i < block; i++) xb[i] = (float)((int)(rng_next() % 200) - 100) + 0.5f;
        const int first = (int)(rng_next() % (uint64_t)(block / 2));
        xb[first] = b % 2 ? top : -top;
        xb[first + 1 + (int)(rng_next() % (uint64_t)(block / 2 - 1))] = -xb[first];
    }
}

static void check_quantize(int type, const char *name, size_t block_bytes, int block) {
    check(NEON[type].quantize_row == (type == LL_TYPE_Q8_0 ? quantize_row_q8_0_neon : quantize_row_q8_K_neon),
          "kernel selection (quantize_row)", name, 0, 0);
    if (!REF[type].quantize_row) {
        printf("FAIL %s: ll_fill_kernels_ref lacks quantize_row\n", name);
        n_failed++;
        return;
    }
    for (int li = 0; li < 3; li++) {
        const int64_t n = (int64_t)BLOCK_COUNTS[li] * block;
        for (int kind = 0; kind < 3; kind++) {
            quantize_input(fbuf, n, block, kind);
            memset(xbuf, 0xa5, sizeof xbuf);
            memset(ybuf, 0x5a, sizeof ybuf);
            REF[type].quantize_row(fbuf, xbuf, n);
            NEON[type].quantize_row(fbuf, ybuf, n);
            check(memcmp(xbuf, ybuf, (size_t)(n / block) * block_bytes) == 0, "quantize_row", name, n, kind);
        }
    }
    printf("%-5s quantize_row: 9 rows compared byte for byte\n", name);
}

int main(void) {
    const uint32_t features = ll_cpu_features();
    const int dotprod = (features & LL_CPU_DOTPROD) != 0;
    printf("cpu features:%s%s\n", features & LL_CPU_NEON ? " neon" : "", dotprod ? " dotprod" : "");
    printf("path: %s\n", dotprod ? "dotprod (sdot kernels)" : "neon (no dotprod: smull/sadalp kernels)");
    printf("vec_dot tolerance: |neon - ref| <= %g * sum_i |x_i * y_i|\n", VEC_DOT_RTOL);
    ll_fill_kernels_ref(REF);
    ll_fill_kernels_ref(NEON);
    ll_fill_kernels_neon(NEON, features);
    rng_state = 20240601;
    for (int i = 0; i < N_CASES; i++) check_type(&CASES[i], dotprod);
    if (REF[LL_TYPE_F16].dequantize_row) check_f16_every_pattern();
    check_quantize(LL_TYPE_Q8_0, "Q8_0", sizeof(block_q8_0), QK8_0);
    check_quantize(LL_TYPE_Q8_K, "Q8_K", sizeof(block_q8_K), QK_K);
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed ? 1 : 0;
}
