/* Internal: the element-wise and per-row ops of the program, as plain functions over one row.
 * program.c splits rows among threads; these know nothing of threads. */
#ifndef LL_OPS_H
#define LL_OPS_H
#include <stdint.h>

/* y[n] = x[n] normalized by the RMS of each group of `group` values, times w[group] (w may be NULL). */
void ll_rms_norm_row(const float *x, float *y, int64_t n, int64_t group, const float *w, float eps);
/* y[n] = (x - mean) / sqrt(var + eps) per group, times w[group], plus b[group] (either may be NULL). */
void ll_layer_norm_row(const float *x, float *y, int64_t n, int64_t group, const float *w, const float *b,
                       float eps);
/* Rotates, in place, n_head heads of head_dim values at position p (see enum ll_rope_mode). */
void ll_rope_row(float *x, int n_head, int64_t head_dim, float p, int mode, float base, float freq_scale,
                 const float *freq_factors);
/* Builds the tables the ops use (idempotent, thread-safe); call before running any op. */
void ll_ops_init(void);
/* y[n] = act(a[n]) * b[n] (b may be NULL: no product). GELU is the tanh form, through fp16 as ggml. */
void ll_gelu_mul_row(const float *a, const float *b, float *y, int64_t n);
/* y[n] = x * Phi(x) with the error function (HF's "gelu"), computed in f32. */
void ll_gelu_erf_row(const float *x, float *y, int64_t n);
void ll_silu_mul_row(const float *a, const float *b, float *y, int64_t n);
void ll_softcap_row(const float *x, float *y, int64_t n, float cap);

#endif
