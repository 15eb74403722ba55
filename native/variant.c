/* One translation unit per kernel level (a unity build). native/build.py compiles this file once
 * per variant module with that level's compiler flags and LL_WITH_* switches, so the same function
 * names exist in every module and no object file is shared between differently-flagged builds.
 *
 * Why whole-module variants rather than per-function target attributes: every op (norms, softmax,
 * attention) is then also compiled, and auto-vectorized, for the level the CPU runs, and choosing
 * a level is choosing one module at import time (localllm/backend/native.py). */
#include "cpu.c"
#include "quant/ref.c"
#include "quant/ref_quantize.c"
#include "quant/ref_attention.c"
#if LL_WITH_AVX2
#include "quant/avx2.c"
#include "quant/avx2_kquants.c"
#include "quant/avx2_gemm.c"
#include "quant/avx2_gemv.c"
#include "quant/avx2_attention.c"
#include "quant/avx2_act.c"
#endif
#if LL_WITH_AVX512
#include "quant/avx512.c"
#include "quant/avx512_gemv.c"
#include "quant/avx512_gemm.c"
#include "quant/avx512_kgemm.c"
#include "quant/avx512_ftile.c"
#include "quant/avx512_tiles.c"
#include "quant/avx512_attention.c"
#include "quant/avx512_act.c"
#endif
#if LL_WITH_NEON
#include "quant/neon.c"
#endif
#include "dispatch.c"
#include "threadpool.c"
#include "context.c"
#include "matmul.c"
#include "ops.c"
#include "kv_cache.c"
#include "kv_state.c"
#include "attention.c"
#include "attention_tiled.c"
#include "program.c"
#include "segment.c"
#include "sampling.c"
