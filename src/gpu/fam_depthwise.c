/* fam_depthwise.c - the depthwise direct kernels (depthwise.cu, and depthwise_bw.cu for the
 * NHWC backward-weight of square 3/5/7 filters, the NCHW backward-weight of rows of 3, 5 or 7
 * taps and the backward-weight of long filter rows):
 * C/groups == 1 (any channel multiplier), forward, backward-data and backward-weight; 32-bit
 * indices within one image. */
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
 * thread per output loses to the others: forward goes to small-C (or the GEMM from 64 output
 * channels), backward-weight to the GEMM, whose split reduction over N*P*Q suits a filter of
 * K x S weights (measured: bench/NOTES.md, "Routing the slow layer classes"). Backward-data
 * and backward-weight of long filter rows have their own kernels (depthwise.cu's
 * dw_bwd_data_long, depthwise_bw.cu's dwb_long), which keep such layers here. */
static bool dw_preferred(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    if (kp->g == 1 && rq->dir == SC_DIR_FORWARD) return false;
    if (kp->g == 1 && rq->dir == SC_DIR_BACKWARD_WEIGHT && !sc_dwbl_applies(kp)) return false;
    return dw_applies(kp, rq, dev);
}

/* Backward-weight in row slices (depthwise.h): the NHWC sliced kernel of 3x3, 5x5 and 7x7
 * filters, the NCHW one of rows of 3, 5 or 7 taps and the long-row kernel; their slices in
 * `splits`, the partial sums in the workspace. */
static void dw_plan(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev, sc_kplan *out)
{
    sc_fam_plan_plain(SC_ALGO_GPU_DIRECT_DEPTHWISE, out);
    if (rq->dir != SC_DIR_BACKWARD_WEIGHT) return;
    int force = sc_gpu_knobs_get()->dw_slices;
    if (sc_dwb_applies(kp))
        out->splits = sc_dwb_slices(kp, dev->sm_count, force, rq->ws_limit);
    else if (sc_dwbl_applies(kp))
        out->splits = sc_dwbl_slices(kp, dev->sm_count, force, rq->ws_limit);
    else if (sc_dwbp_applies(kp))
        out->splits = sc_dwbp_slices(kp, dev->sm_count, force, rq->ws_limit);
    else
        return;
    out->ws_bytes = sc_dwb_ws_bytes(kp, out->splits);
}

const sc_gpu_family sc_fam_depthwise = {SC_ALGO_GPU_DIRECT_DEPTHWISE, dw_applies, dw_preferred,
                                        dw_plan};
