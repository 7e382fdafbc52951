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

#endif /* SC_GPU_SMALL_C_H */
