/* dtype.cuh - the element types of the GPU kernels and their conversions, one source for CUDA
 * and HIP. Tensors are float (fp32), sc_half (fp16) or sc_bf16 (bf16); kernels compute in fp32:
 * a load widens (exact), a store rounds to nearest, ties to even (NaN stays NaN, overflow
 * gives infinity), as the host's conversions in src/common/half.h do. The 16-bit types are
 * plain bit holders, so no kernel depends on a toolkit's half or bfloat16 class.
 *   sc_ldg(p)    read-only data (the inputs): the read-only cache where the target has one
 *   sc_get(p)    a plain load (data this launch may also write, the bias)
 *   sc_put(p, v) a store of v rounded to the element type */
#ifndef SC_GPU_DTYPE_CUH
#define SC_GPU_DTYPE_CUH

#include "common/half.h"
#include "compat.h"
#include "safeconv.h"

#if SC_GPU_HIP
#include <hip/hip_fp16.h>
#else
#include <cuda_fp16.h>
#endif

struct sc_half {
    unsigned short bits;
};
struct sc_bf16 {
    unsigned short bits;
};

/* The sc_dtype of an element type (compile time). */
template <class T>
struct sc_dtype_of;
template <>
struct sc_dtype_of<float> {
    static constexpr sc_dtype value = SC_DTYPE_F32;
};
template <>
struct sc_dtype_of<sc_half> {
    static constexpr sc_dtype value = SC_DTYPE_F16;
};
template <>
struct sc_dtype_of<sc_bf16> {
    static constexpr sc_dtype value = SC_DTYPE_BF16;
};

/* Device code uses the hardware conversions; host code (kernel emulation in tests) the bit-exact
 * C ones of common/half.h: the same values. */
SC_HD float sc_widen(sc_half h)
{
#if SC_DEVICE_PASS
    return __half2float(__ushort_as_half(h.bits));
#else
    return sc_f16_to_f32(h.bits);
#endif
}
SC_HD float sc_widen(sc_bf16 h)
{
#if SC_DEVICE_PASS
    return __uint_as_float((unsigned)h.bits << 16);
#else
    return sc_bf16_to_f32(h.bits);
#endif
}

SC_HD sc_half sc_round_half(float v)
{
    sc_half h;
#if SC_DEVICE_PASS
    h.bits = __half_as_ushort(__float2half_rn(v));
#else
    h.bits = sc_f32_to_f16(v);
#endif
    return h;
}

SC_HD sc_bf16 sc_round_bf16(float v)
{
#if SC_DEVICE_PASS
    unsigned u = __float_as_uint(v);
#else
    unsigned u = sc__f32_bits(v);
#endif
    sc_bf16 h;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        h.bits = (unsigned short)((u >> 16) | 0x40u); /* quiet NaN */
    } else {
        u += 0x7fffu + ((u >> 16) & 1u); /* ties to even; overflow rounds to infinity */
        h.bits = (unsigned short)(u >> 16);
    }
    return h;
}

__device__ __forceinline__ float sc_ldg(const float *p) { return __ldg(p); }
__device__ __forceinline__ float sc_ldg(const sc_half *p)
{
    sc_half h;
    h.bits = __ldg((const unsigned short *)p);
    return sc_widen(h);
}
__device__ __forceinline__ float sc_ldg(const sc_bf16 *p)
{
    sc_bf16 h;
    h.bits = __ldg((const unsigned short *)p);
    return sc_widen(h);
}

SC_HD float sc_get(const float *p) { return *p; }
SC_HD float sc_get(const sc_half *p) { return sc_widen(*p); }
SC_HD float sc_get(const sc_bf16 *p) { return sc_widen(*p); }

SC_HD void sc_put(float *p, float v) { *p = v; }
SC_HD void sc_put(sc_half *p, float v) { *p = sc_round_half(v); }
SC_HD void sc_put(sc_bf16 *p, float v) { *p = sc_round_bf16(v); }

/* Two consecutive elements at p (p 2-element aligned): one 8- or 4-byte store. */
SC_HD void sc_put2(float *p, float v0, float v1) { *(float2 *)p = make_float2(v0, v1); }
SC_HD void sc_put2(sc_half *p, float v0, float v1)
{
    *(unsigned *)p = (unsigned)sc_round_half(v0).bits | ((unsigned)sc_round_half(v1).bits << 16);
}
SC_HD void sc_put2(sc_bf16 *p, float v0, float v1)
{
    *(unsigned *)p = (unsigned)sc_round_bf16(v0).bits | ((unsigned)sc_round_bf16(v1).bits << 16);
}

/* Host: call f(T{}) with the element type of `dtype`, e.g.
 *   return sc_with_dtype(kp.dtype, [&](auto t) { using T = decltype(t); return run<T>(...); });
 * cudaErrorInvalidValue for an unknown dtype. */
template <class F>
static int sc_with_dtype(int dtype, F f)
{
    switch (dtype) {
    case SC_DTYPE_F32: return f(float{});
    case SC_DTYPE_F16: return f(sc_half{});
    case SC_DTYPE_BF16: return f(sc_bf16{});
    }
    return (int)cudaErrorInvalidValue;
}

#endif /* SC_GPU_DTYPE_CUH */
