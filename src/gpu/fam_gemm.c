/* fam_gemm.c - the implicit GEMM on the FMA units (gemm_*.cu; planner gemm_plan.c): every
 * direction, layout, stride, dilation and group count whose GEMM sizes fit 31 bits and whose
 * grid fits the launch limits. */
#include "gpu/family.h"
#include "gpu/gemm_plan.h"

#include <limits.h>

static bool gemm_applies(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    (void)dev;
    typedef long long i64;
    const i64 lim = INT_MAX - 4096; /* GEMM sizes stay in 31 bits with tile slack */
    i64 rs = (i64)kp->r * kp->s;
    i64 npq = (i64)kp->n * kp->p * kp->q, nhw = (i64)kp->n * kp->h * kp->w;
    if (npq > lim || nhw > lim || (i64)kp->cg * rs > lim || (i64)kp->kg * rs > lim) return false;
    switch (rq->dir) {
    case SC_DIR_FORWARD: return kp->g <= 65535 && kp->kg / 32 < 65535;
    case SC_DIR_BACKWARD_DATA: /* one launch covers at most 16 stride classes */
        return kp->sh * kp->sw <= 16 && (i64)kp->g * kp->sh * kp->sw <= 65535 &&
               kp->cg / 32 < 65535;
    case SC_DIR_BACKWARD_WEIGHT:
        return kp->g <= 65535 && (i64)kp->cg * rs / 32 < 65535 && (i64)kp->k * kp->cg * rs <= lim;
    default: return false;
    }
}

static void gemm_plan(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev,
                      sc_kplan *out)
{
    sc_gemm_choose(kp, rq->dir, dev->sm_count, dev->hip, rq->ws_limit, out);
}

const sc_gpu_family sc_fam_gemm = {SC_ALGO_GPU_IMPLICIT_GEMM, gemm_applies, gemm_applies,
                                   gemm_plan};
