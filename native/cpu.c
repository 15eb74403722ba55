/* CPU feature detection: cpuid + xgetbv on x86-64, getauxval on AArch64. Read once. */
#include "include/localllm.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>

static uint64_t ll_xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static uint32_t ll_detect_features(void) {
    unsigned a, b, c, d;
    uint32_t f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (c & (1u << 0)) f |= LL_CPU_SSE3;
    if (c & (1u << 9)) f |= LL_CPU_SSSE3;
    const int os_avx = (c & (1u << 27)) && (ll_xgetbv0() & 0x6) == 0x6;     /* XMM + YMM saved */
    const int os_avx512 = os_avx && (ll_xgetbv0() & 0xe0) == 0xe0;          /* opmask + ZMM saved */
    if (os_avx && (c & (1u << 28))) f |= LL_CPU_AVX;
    if (os_avx && (c & (1u << 12))) f |= LL_CPU_FMA;
    if (os_avx && (c & (1u << 29))) f |= LL_CPU_F16C;
    if (__get_cpuid_max(0, 0) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    if (os_avx && (b & (1u << 5))) f |= LL_CPU_AVX2;
    if (b & (1u << 8)) f |= LL_CPU_BMI2;
    if (os_avx512 && (b & (1u << 16))) f |= LL_CPU_AVX512F;
    if (os_avx512 && (b & (1u << 17))) f |= LL_CPU_AVX512DQ;
    if (os_avx512 && (b & (1u << 30))) f |= LL_CPU_AVX512BW;
    if (os_avx512 && (b & (1u << 31))) f |= LL_CPU_AVX512VL;
    if (os_avx512 && (c & (1u << 11))) f |= LL_CPU_AVX512VNNI;
    __cpuid_count(7, 1, a, b, c, d);
    if (os_avx && (a & (1u << 4))) f |= LL_CPU_AVXVNNI;
    if (os_avx512 && (a & (1u << 5))) f |= LL_CPU_AVX512BF16;
    return f;
}

#elif defined(__aarch64__)
#include <sys/auxv.h>
#define LL_HWCAP_ASIMD (1u << 1)
#define LL_HWCAP_ASIMDDP (1u << 20)

static uint32_t ll_detect_features(void) {
    unsigned long hw = getauxval(AT_HWCAP);
    uint32_t f = 0;
    if (hw & LL_HWCAP_ASIMD) f |= LL_CPU_NEON;
    if (hw & LL_HWCAP_ASIMDDP) f |= LL_CPU_DOTPROD;
    return f;
}

#else
static uint32_t ll_detect_features(void) { return 0; }
#endif

uint32_t ll_cpu_features(void) {
    static uint32_t features;
    static int known;
    if (!known) { /* benign race: every thread computes the same value */
        features = ll_detect_features();
        known = 1;
    }
    return features;
}
