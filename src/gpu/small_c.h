/* small_c.h - the small-C direct kernels' sizes (small_c.cu) and where they apply
 * (fam_small_c.c): one definition for both. */
#ifndef SC_GPU_SMALL_C_H
#define SC_GPU_SMALL_C_H

#include "gpu/kparams.h"

#include <stdbool.h>

#define SMALLC_T           128   /* forward: threads per block, one output pixel each */
#define SMALLC_KC          16    /* forward: output channels per pass */
#define SMALLC_SMEM_FLOATS 12288 /* the filter in shared memory, both kernels */
#define SMALLC_BD_T        128   /* backward-data: threads per block */
#define SBD_PIX            4     /* backward-data: pixels per thread for large images */

/* Forward: groups 1, C <= 4, the transposed filter (K padded to SMALLC_KC) in shared memory,
 * N*P*Q outputs under 2^31. */
static inline bool sc_small_c_fwd_applies(const sc_kp *kp)
{
    int kpad = (kp->k + SMALLC_KC - 1) / SMALLC_KC * SMALLC_KC;
    return kp->g == 1 && kp->c <= 4 &&
           (long long)kp->c * kp->r * kp->s * kpad <= SMALLC_SMEM_FLOATS &&
           (long long)kp->n * kp->p * kp->q < (1ll << 31) - SMALLC_T;
}

/* Backward-data: groups 1, C <= 4, the filter in shared memory, the thread count under 2^31. */
static inline bool sc_small_c_bwd_applies(const sc_kp *kp)
{
    long long wcb = (kp->w + kp->sw - 1) / kp->sw;
    return kp->g == 1 && kp->c <= 4 &&
           (long long)kp->k * kp->r * kp->s * kp->c <= SMALLC_SMEM_FLOATS &&
           (long long)kp->n * kp->h * kp->sw * wcb < (1ll << 31) - SMALLC_BD_T;
}

/* Backward-data in stride phases (small_c_phase.cu): threads per block, output rows per thread,
 * and the filter's taps (K*R*S, 16 bytes each in shared memory: at most 56 KiB). */
#define SCP_T        128
#define SCP_JH       16
#define SCP_MAX_TAPS 3584

/* Its row blocks per row class, ceil(ceil(H / sh) / SCP_JH), and threads per column class,
 * ceil(W / sw) rounded up to a whole warp of 32. */
static inline int sc_small_c_phase_blocks(const sc_kp *kp)
{
    int rows = (kp->h + kp->sh - 1) / kp->sh;
    return (rows + SCP_JH - 1) / SCP_JH;
}
static inline int sc_small_c_phase_wcp(const sc_kp *kp)
{
    int cols = (kp->w + kp->sw - 1) / kp->sw;
    return (cols + 31) / 32 * 32;
}

/* fp32 NCHW, groups 1, C <= 4, dilation 1, at most 4 row taps a phase (ceil(R / sh) <= 4), the
 * filter within SCP_MAX_TAPS, a thread count in (0, 2^31). */
static inline bool sc_small_c_phase_applies(const sc_kp *kp)
{
    if (kp->dtype != SC_DTYPE_F32 || kp->nhwc || kp->g != 1 || kp->c > 4 || kp->dh != 1 ||
        kp->dw != 1 || (kp->r + kp->sh - 1) / kp->sh > 4 ||
        (long long)kp->k * kp->r * kp->s > SCP_MAX_TAPS)
        return false;
    long long threads =
        (long long)kp->n * kp->sh * sc_small_c_phase_blocks(kp) * kp->sw * sc_small_c_phase_wcp(kp);
    return threads > 0 && threads < (1ll << 31) - SCP_T;
}

#endif /* SC_GPU_SMALL_C_H */
