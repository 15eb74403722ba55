/* Per-row ops: norms, RoPE, gated activations, softcap. Float math follows ggml's CPU ops (sums
 * of squares in double, RMS norm's as partial sums; RoPE angles stepped by a float ratio) so
 * results track llama.cpp. */
#include <math.h>
#include <pthread.h>
#include "kernels.h"
#include "ops.h"

/* sum of (x[i] - c)^2 (each difference and square rounded to float, as ggml's) in double, as
 * LL_SQUARES_LANES interleaved partial sums added at the end: independent chains instead of one add
 * latency per value. The double sum's rounding error (about n * 2^-53 relative) is far below the
 * float mean taken of it. */
#define LL_SQUARES_LANES 8
static double ll_sum_of_squares(const float *x, int64_t n, float c) {
    double part[LL_SQUARES_LANES] = {0.0};
    int64_t i = 0;
    for (; i + LL_SQUARES_LANES <= n; i += LL_SQUARES_LANES)
        for (int l = 0; l < LL_SQUARES_LANES; l++) part[l] += (double)((x[i + l] - c) * (x[i + l] - c));
    double sum = 0.0;
    for (int l = 0; l < LL_SQUARES_LANES; l++) sum += part[l];
    for (; i < n; i++) sum += (double)((x[i] - c) * (x[i] - c));
    return sum;
}

/* sum of x[i] in double, in the same lanes. */
static double ll_sum(const float *x, int64_t n) {
    double part[LL_SQUARES_LANES] = {0.0};
    int64_t i = 0;
    for (; i + LL_SQUARES_LANES <= n; i += LL_SQUARES_LANES)
        for (int l = 0; l < LL_SQUARES_LANES; l++) part[l] += (double)x[i + l];
    double sum = 0.0;
    for (int l = 0; l < LL_SQUARES_LANES; l++) sum += part[l];
    for (; i < n; i++) sum += (double)x[i];
    return sum;
}

void ll_rms_norm_row(const float *x, float *y, int64_t n, int64_t group, const float *w, float eps) {
    for (int64_t g = 0; g < n; g += group) {
        const double sum = ll_sum_of_squares(x + g, group, 0.0f);
        const float scale = 1.0f / sqrtf((float)(sum / (double)group) + eps);
        for (int64_t i = 0; i < group; i++) y[g + i] = x[g + i] * scale * (w ? w[i] : 1.0f);
    }
}

void ll_layer_norm_row(const float *x, float *y, int64_t n, int64_t group, const float *w, const float *b,
                       float eps) {
    for (int64_t g = 0; g < n; g += group) {
        const float *xg = x + g;
        float *yg = y + g;
        const float mean = (float)(ll_sum(xg, group) / (double)group);
        const float scale = 1.0f / sqrtf((float)(ll_sum_of_squares(xg, group, mean) / (double)group) + eps);
        for (int64_t i = 0; i < group; i++) yg[i] = (xg[i] - mean) * scale;
        if (w)
            for (int64_t i = 0; i < group; i++) yg[i] *= w[i];
        if (b)
            for (int64_t i = 0; i < group; i++) yg[i] += b[i];
    }
}

/* x: [n_head, head_dim]. The angles depend on the position and the pair only, so each pair's
 * cos and sin are computed once and applied to every head. */
void ll_rope_row(float *x, int n_head, int64_t head_dim, float p, int mode, float base, float freq_scale,
                 const float *freq_factors) {
    const float theta_scale = powf(base, -2.0f / (float)head_dim);
    const int64_t half = head_dim / 2;
    float theta = p;
    for (int64_t i = 0; i < half; i++, theta *= theta_scale) {
        const float angle = freq_scale * (freq_factors ? theta / freq_factors[i] : theta);
        const float c = cosf(angle), s = sinf(angle);
        const int64_t a = mode == 2 ? i : 2 * i;        /* NEOX pairs (i, i+half), normal (2i, 2i+1) */
        const int64_t b = mode == 2 ? i + half : 2 * i + 1;
        for (int h = 0; h < n_head; h++) {
            float *v = x + (int64_t)h * head_dim;
            const float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

static float ll_gelu_tanh(float x) {
    const float k = 0.79788456080286535588f; /* sqrt(2 / pi) */
    return 0.5f * x * (1.0f + tanhf(k * x * (1.0f + 0.044715f * x * x)));
}

/* gelu of every half-precision input, rounded to half: ggml evaluates GELU through this table
 * (input and output in fp16), and the models are sensitive enough that matching llama.cpp's
 * logits needs the same rounding. */
static ll_fp16 ll_gelu_table[(1 << 16) + 1]; /* the last entry pads the SIMD kernels' 32-bit gathers */

static void ll_fill_gelu_table(void) {
    for (uint32_t h = 0; h < (1u << 16); h++) ll_gelu_table[h] = ll_f32_to_fp16(ll_gelu_tanh(ll_fp16_to_f32((ll_fp16)h)));
}

void ll_ops_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ll_fill_gelu_table);
}

void act_gelu_mul_ref(const ll_fp16 *table, const float *a, const float *b, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float x = a[i];
        float g;
        if (x <= -10.0f) g = 0.0f;
        else if (x >= 10.0f) g = x;
        else g = ll_fp16_to_f32(table[ll_f32_to_fp16(x)]);
        y[i] = b ? g * b[i] : g;
    }
}

/* kernels.h: erf's rational approximation, step by step. */
static float ll_erf_rational(float x) {
    x = fminf(fmaxf(x, -4.0f), 4.0f);
    const float x2 = x * x;
    float p = LL_ERF_P[0], q = LL_ERF_Q[0];
    for (int i = 1; i < 7; i++) p = fmaf(x2, p, LL_ERF_P[i]);
    for (int i = 1; i < 5; i++) q = fmaf(x2, q, LL_ERF_Q[i]);
    return x * p / q;
}

void act_gelu_erf_ref(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + ll_erf_rational(x[i] * LL_INV_SQRT2));
}

void ll_fill_act_kernels_ref(ll_act_kernels *k) {
    *k = (ll_act_kernels){.gelu_mul = act_gelu_mul_ref, .gelu_erf = act_gelu_erf_ref};
}

void ll_gelu_mul_row(const float *a, const float *b, float *y, int64_t n) {
    LL_ACT_KERNELS.gelu_mul(ll_gelu_table, a, b, y, n);
}

void ll_gelu_erf_row(const float *x, float *y, int64_t n) { LL_ACT_KERNELS.gelu_erf(x, y, n); }

void ll_silu_mul_row(const float *a, const float *b, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float s = a[i] / (1.0f + expf(-a[i]));
        y[i] = b ? s * b[i] : s;
    }
}

void ll_softcap_row(const float *x, float *y, int64_t n, float cap) {
    for (int64_t i = 0; i < n; i++) y[i] = cap * tanhf(x[i] / cap);
}
