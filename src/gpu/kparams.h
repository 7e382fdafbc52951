/* kparams.h - the problem as GPU kernels take it (sc_kp, by value, 32-bit fields), and division
 * by run-time constants. Plain C on the host (the planner's .c files) and C++ in the kernels
 * (the .cu files): one definition for both. */
#ifndef SC_GPU_KPARAMS_H
#define SC_GPU_KPARAMS_H

#include "common/problem.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The problem in the form every kernel takes. Every field fits in 31 bits, with the offsets
 * inside the kernels (h + pad, r*dil, p*stride) too (sc_kp_make checks); the naive kernels
 * recompute 64-bit products from these. */
typedef struct sc_kp {
    int n, c, h, w, k, r, s, p, q;
    int sh, sw, ph, pw, dh, dw;
    int g, cg, kg;
    int nhwc;
    int dtype; /* sc_dtype of every tensor */
} sc_kp;

/* Fill kp from a validated problem; false if a size does not fit the kernels' 32-bit fields. */
bool sc_kp_make(const sc_problem *pb, sc_kp *kp);

/* Division by a run-time constant d >= 1 for 0 <= n < 2^31: q = (umulhi(n, m) + n) >> l
 * (Granlund-Montgomery with the 33rd bit folded into the add). */
typedef struct sc_fdiv {
    uint32_t d, m, l;
} sc_fdiv;

static inline sc_fdiv sc_fdiv_make(uint32_t d)
{
    sc_fdiv f;
    f.d = d;
    uint32_t l = 0;
    while (l < 32 && (1ull << l) < d) l++;
    f.l = l;
    f.m = (uint32_t)(((1ull << 32) * ((1ull << l) - d)) / d + 1);
    return f;
}

#ifdef __cplusplus
}
#endif

#if defined(__CUDACC__) || defined(__HIPCC__)
#include "gpu/compat.h"

SC_HD int sc_div(int n, const sc_fdiv &f)
{
#if SC_DEVICE_PASS
    return (int)((__umulhi((uint32_t)n, f.m) + (uint32_t)n) >> f.l);
#else
    return (int)(((uint32_t)(((uint64_t)(uint32_t)n * f.m) >> 32) + (uint32_t)n) >> f.l);
#endif
}
#endif

#endif /* SC_GPU_KPARAMS_H */
