/* Weight blocks in registers, 8 values at a time, and activations quantized as the CPU's vec_dot
 * types quantize them (so GPU and CPU multiply the same integers).
 *
 * A chunk is 8 consecutive values of a row: value_i = s * q_i - m, with q_i signed bytes packed in
 * two ints (values 0..3, 4..7). Every supported type has one scale (and min) per chunk: Q6_K's
 * 16-value scales and the K-quants' 32-value sub-blocks both align with chunks. Blocks are only
 * 2-byte aligned (18, 22, 34, 210 bytes), so words are read as two 16-bit halves. */
#pragma once
#include "common.cuh"

__device__ __forceinline__ uint32_t llc_u32(const uint8_t *p) {
    const uint16_t *h = (const uint16_t *)p;
    return (uint32_t)h[0] | ((uint32_t)h[1] << 16);
}

__device__ __forceinline__ float llc_half(const uint8_t *p) { return __half2float(*(const __half *)p); }

struct llc_chunk {
    int q0, q1;
    float s, m;
};

/* Q4_0 [32 values, 18 bytes]: d; qs[16]: value j = low nibble of qs[j] - 8, value j + 16 = high - 8. */
struct llc_q4_0 {
    static constexpr int QK = 32, BYTES = 18;
    static constexpr bool K_ACT = false;
    __device__ static llc_chunk get(const uint8_t *b, int c) {
        const uint8_t *qs = b + 2 + 8 * (c & 1);
        const int shift = (c >> 1) * 4;
        return {(int)__vsubss4((llc_u32(qs) >> shift) & 0x0F0F0F0F, 0x08080808),
                (int)__vsubss4((llc_u32(qs + 4) >> shift) & 0x0F0F0F0F, 0x08080808), llc_half(b), 0.0f};
    }
};

/* bit 4 of byte k <- bit k of the low 4 bits of `bits` */
__device__ __forceinline__ uint32_t llc_spread4(uint32_t bits) {
    return ((bits & 1) << 4) | ((bits & 2) << 11) | ((bits & 4) << 18) | ((bits & 8) << 25);
}

/* Q5_0 [32, 22 bytes]: d; qh (bit j: the fifth bit of value j); qs[16] as Q4_0; values - 16. */
struct llc_q5_0 {
    static constexpr int QK = 32, BYTES = 22;
    static constexpr bool K_ACT = false;
    __device__ static llc_chunk get(const uint8_t *b, int c) {
        const uint32_t hb = (llc_u32(b + 2) >> (8 * c)) & 0xFF;
        const uint8_t *qs = b + 6 + 8 * (c & 1);
        const int shift = (c >> 1) * 4;
        const uint32_t lo0 = (llc_u32(qs) >> shift) & 0x0F0F0F0F, lo1 = (llc_u32(qs + 4) >> shift) & 0x0F0F0F0F;
        return {(int)__vsubss4(lo0 | llc_spread4(hb), 0x10101010), (int)__vsubss4(lo1 | llc_spread4(hb >> 4), 0x10101010),
                llc_half(b), 0.0f};
    }
};

/* Q8_0 [32, 34 bytes]: d; qs[32] signed. */
struct llc_q8_0 {
    static constexpr int QK = 32, BYTES = 34;
    static constexpr bool K_ACT = false;
    __device__ static llc_chunk get(const uint8_t *b, int c) {
        return {(int)llc_u32(b + 2 + 8 * c), (int)llc_u32(b + 6 + 8 * c), llc_half(b), 0.0f};
    }
};

/* The 6-bit scale and min of sub-block j of a Q4_K / Q5_K block (ggml's get_scale_min_k4). */
__device__ __forceinline__ void llc_scale_min_k4(int j, const uint8_t *q, float *sc, float *m) {
    if (j < 4) {
        *sc = (float)(q[j] & 63);
        *m = (float)(q[j + 4] & 63);
    } else {
        *sc = (float)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (float)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q4_K [256, 144 bytes]: d, dmin, scales[12], qs[128]: sub-blocks 2i, 2i+1 are the low and high
 * nibbles of qs[32i .. 32i + 31]; value = d * sc * q - dmin * m. */
struct llc_q4_K {
    static constexpr int QK = 256, BYTES = 144;
    static constexpr bool K_ACT = true;
    __device__ static llc_chunk get(const uint8_t *b, int c) {
        const int sub = c >> 2, part = c & 3, shift = (sub & 1) * 4;
        const uint8_t *qs = b + 16 + 32 * (sub >> 1) + 8 * part;
        float sc, m;
        llc_scale_min_k4(sub, b + 4, &sc, &m);
        return {(int)((llc_u32(qs) >> shift) & 0x0F0F0F0F), (int)((llc_u32(qs + 4) >> shift) & 0x0F0F0F0F),
                llc_half(b) * sc, llc_half(b + 2) * m};
    }
};

/* Q5_K [256, 176 bytes]: d, dmin, scales[12], qh[32] (bit j of qh[l]: fifth bit of value l of
 * sub-block j), qs[128] as Q4_K. */
struct llc_q5_K {
    static constexpr int QK = 256, BYTES = 176;
    static constexpr bool K_ACT = true;
    __device__ static llc_chunk get(const uint8_t *b, int c) {
        const int sub = c >> 2, part = c & 3, shift = (sub & 1) * 4;
        const uint8_t *ql = b + 48 + 32 * (sub >> 1) + 8 * part, *qh = b + 16 + 8 * part;
        const uint32_t h0 = ((llc_u32(qh) >> sub) & 0x01010101) << 4, h1 = ((llc_u32(qh + 4) >> sub) & 0x01010101) << 4;
        float sc, m;
        llc_scale_min_k4(sub, b + 4, &sc, &m);
        return {(int)(((llc_u32(ql) >> shift) & 0x0F0F0F0F) | h0), (int)(((llc_u32(ql + 4) >> shift) & 0x0F0F0F0F) | h1),
                llc_half(b) * sc, llc_half(b + 2) * m};
    }
};

/* Q6_K [256, 210 bytes]: ql[128], qh[64], int8 scales[16], d. In half h (128 values), quarter qq,
 * value l: low 4 bits in ql[64h + 32(qq & 1) + l] (nibble qq >> 1), high 2 bits at 2qq of
 * qh[32h + l], scale scales[8h + l / 16 + 2qq]; value = d * scale * (q - 32). */
struct llc_q6_K {
    static constexpr int QK = 256, BYTES = 210;
    static constexpr bool K_ACT = true;
    __device__ static llc_chunk get(const uint8_t *b, int c) {
        const int sub = c >> 2, part = c & 3, h = sub >> 2, qq = sub & 3;
        const uint8_t *ql = b + 64 * h + 32 * (qq & 1) + 8 * part, *qh = b + 128 + 32 * h + 8 * part;
        const int shift = (qq >> 1) * 4;
        const uint32_t q0 = ((llc_u32(ql) >> shift) & 0x0F0F0F0F) | (((llc_u32(qh) >> (2 * qq)) & 0x03030303) << 4);
        const uint32_t q1 = ((llc_u32(ql + 4) >> shift) & 0x0F0F0F0F) | (((llc_u32(qh + 4) >> (2 * qq)) & 0x03030303) << 4);
        const float scale = (float)((const int8_t *)b)[192 + 8 * h + (part >> 1) + 2 * qq];
        return {(int)__vsubss4(q0, 0x20202020), (int)__vsubss4(q1, 0x20202020), llc_half(b + 208) * scale, 0.0f};
    }
};

/* Activations: 8 values per lane, a warp covering 256 values. The CPU quantizes them to Q8_0
 * (blocks of 32 = 4 lanes; d = max|x| / 127 stored in fp16, q = rint(x * 127 / max|x|)) for the
 * 32-value types, and to Q8_K (one block of 256; q = min(127, rint(x * -127 / max)) where max is
 * the signed first value of largest magnitude, d = 1 / (-127 / max)) for the K-quants. Returns the
 * block scale d; q[8] are the lane's quantized values. Inactive lanes (past the row) pass zeros. */
__device__ __forceinline__ float llc_quantize8(const float v[8], bool k_act, int lane, int8_t q[8]) {
    float amax = 0.0f, first = 0.0f;
    int where = 1 << 30;
    for (int i = 0; i < 8; i++)
        if (fabsf(v[i]) > amax) { amax = fabsf(v[i]); first = v[i]; where = lane * 8 + i; }
    if (!k_act) {
        for (int o = 1; o < 4; o <<= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        for (int i = 0; i < 8; i++) q[i] = (int8_t)rintf(v[i] * id);
        return __half2float(__float2half_rn(amax / 127.0f));
    }
    for (int o = 1; o < 32; o <<= 1) { /* the first element of largest magnitude, and its sign */
        const float a2 = __shfl_xor_sync(0xffffffffu, amax, o), f2 = __shfl_xor_sync(0xffffffffu, first, o);
        const int w2 = __shfl_xor_sync(0xffffffffu, where, o);
        if (a2 > amax || (a2 == amax && w2 < where)) { amax = a2; first = f2; where = w2; }
    }
    if (amax == 0.0f) {
        for (int i = 0; i < 8; i++) q[i] = 0;
        return 0.0f;
    }
    const float iscale = -127.0f / first;
    for (int i = 0; i < 8; i++) q[i] = (int8_t)fminf(127.0f, rintf(iscale * v[i]));
    return 1.0f / iscale;
}
