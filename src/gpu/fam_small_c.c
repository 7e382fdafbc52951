/* fam_small_c.c - the small-C direct kernels (small_c.cu, small_c_phase.cu): forward and
 * backward-data of stems with C <= 4 input channels, where the GEMM would have a reduction
 * (forward) or columns (backward-data) of a handful. */
#include "gpu/family.h"
#include "gpu/small_c.h"

static bool sc_applies(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    (void)dev;
    return (rq->dir == SC_DIR_FORWARD && sc_small_c_fwd_applies(kp)) ||
           (rq->dir == SC_DIR_BACKWARD_DATA && sc_small_c_bwd_applies(kp));
}

/* Forward only below 64 output channels: from 64 on the implicit GEMM is faster (H200:
 * ResNet's 7x7 stem 1.16 -> 0.68 ms, 3->64 3x3 0.031 -> 0.014 ms; the YOLO stem, 3->16, stays
 * faster on small-C, 0.052 vs 0.088 ms; bench/NOTES.md, run 16). */
static bool sc_preferred(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    (void)dev;
    if (rq->dir == SC_DIR_FORWARD) return kp->c <= 4 && kp->k < 64 && sc_small_c_fwd_applies(kp);
    return rq->dir == SC_DIR_BACKWARD_DATA && kp->c <= 4 && sc_small_c_bwd_applies(kp);
}

static void sc_plan(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev, sc_kplan *out)
{
    (void)kp, (void)rq, (void)dev;
    sc_fam_plan_plain(SC_ALGO_GPU_DIRECT_SMALL_C, out);
}

const sc_gpu_family sc_fam_small_c = {SC_ALGO_GPU_DIRECT_SMALL_C, sc_applies, sc_preferred,
                                      sc_plan};
