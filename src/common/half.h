/* half.h - fp16 and bf16 <-> fp32 on the host, bit-exact and portable C (no compiler half
 * types): round to nearest, ties to even, as the GPU's conversions do; infinities and NaN kept
 * (a NaN stays a NaN); fp16 subnormals handled. Used by the CPU backend (which widens
 * fp16/bf16 tensors, computes in fp32 and rounds the results) and by the checker. */
#ifndef SC_COMMON_HALF_H
#define SC_COMMON_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t sc__f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float sc__bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float sc_bf16_to_f32(uint16_t h) { return sc__bits_f32((uint32_t)h << 16); }

static inline uint16_t sc_f32_to_bf16(float f)
{
    uint32_t u = sc__f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u); /* ties to even; overflow rounds to infinity */
    return (uint16_t)(u >> 16);
}

static inline float sc_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return sc__bits_f32(sign | 0x7f800000u | (man << 13)); /* inf, NaN */
    if (exp == 0) {                                                         /* zero, subnormal */
        float v = (float)man * (1.0f / 16777216.0f);                        /* man * 2^-24 */
        return sign ? -v : v;
    }
    return sc__bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t sc_f32_to_f16(float f)
{
    uint32_t u = sc__f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520: infinity */
    if (a < 0x38800000u) {                                   /* below 2^-14: subnormal or 0 */
        if (a < 0x33000000u) return sign;                    /* below 2^-25: rounds to 0 */
        uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* value = m * 2^(e-150); result units of 2^-24 */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u); /* ties to even at bit 13 */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

/* fp32 rounded to TF32 (10-bit mantissa) the way the tensor cores' cvt.rna.tf32.f32 does:
 * to nearest, ties away from zero; the result is an fp32 value with 13 low zero bits. */
static inline float sc_f32_round_tf32(float f)
{
    uint32_t u = sc__f32_bits(f);
    if ((u & 0x7fffffffu) >= 0x7f800000u) return f; /* inf, NaN */
    u = (u + 0x1000u) & ~0x1fffu;
    return sc__bits_f32(u);
}

#endif /* SC_COMMON_HALF_H */
