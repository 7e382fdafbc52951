/* fam_depthwise.c - the depthwise direct kernels (depthwise.cu, and depthwise_bw.cu for the
 * NHWC backward-weight of square 3/5/7 filters): C/groups == 1 (any channel multiplier),
 * forward, backward-data and backward-weight; 32-bit indices within one image. */
#include "gpu/depthwise.h"
#include "gpu/family.h"
#include "gpu/knobs.h"

#include <limits.h>

static bool dw_applies(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    (void)dev;
    const long long lim = INT_MAX - 4096;
    if (kp->cg != 1 || kp->g != kp->c || kp->n > 65535) return false;
    if ((long long)kp->k * kp->p * kp->q > lim || (long long)kp->c * kp->h * kp->w > lim)
        return false;
    return rq->dir <= SC_DIR_BACKWARD_WEIGHT && kp->g <= 65535;
}

/* One input channel and groups 1 (an EEG-style temporal layer: 1 -> 16 channels, a 1x64
 * filter) also counts as depthwise with a channel multiplier of K, but there the kernel's one
 * thread per output loses to the others except in backward-data: forward goes to small-C (or
 * the GEMM from 64 output channels), backward-weight to the GEMM, whose split reduction over
 * N*P*Q suits a filter of K x S weights (measured: bench/NOTES.md, "Routing the slow layer
 * classes"). */
static bool dw_preferred(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    if (kp->g == 1 && rq->dir != SC_DIR_BACKWARD_DATA) return false;
    return dw_applies(kp, rq, dev);
}

/* NHWC backward-weight of a 3x3, 5x5 or 7x7 filter: the sliced kernel (depthwise.h), its
 * slices in `splits`, their partial sums in the workspace. */
static void dw_plan(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev, sc_kplan *out)
{
    sc_fam_plan_plain(SC_ALGO_GPU_DIRECT_DEPTHWISE, out);
    if (rq->dir != SC_DIR_BACKWARD_WEIGHT || !sc_dwb_applies(kp)) return;
    out->splits = sc_dwb_slices(kp, dev->sm_count, sc_gpu_knobs_get()->dw_slices, rq->ws_limit);
    out->ws_bytes = sc_dwb_ws_bytes(kp, out->splits);
}

const sc_gpu_family sc_fam_depthwise = {SC_ALGO_GPU_DIRECT_DEPTHWISE, dw_applies, dw_preferred,
                                        dw_plan};
