/* fam_naive.c - the naive direct kernels (naive.cu): one thread per output element, 64-bit
 * index math, every direction and size the kernels' 32-bit fields take. The list's last entry:
 * it always applies. */
#include "gpu/family.h"

#include <string.h>

void sc_fam_plan_plain(sc_algo algo, sc_kplan *out)
{
    memset(out, 0, sizeof *out);
    out->algo = algo;
    out->cfg = -1;
    out->splits = 1;
}

static bool naive_applies(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    (void)kp, (void)rq, (void)dev;
    return true;
}

static void naive_plan(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev,
                       sc_kplan *out)
{
    (void)kp, (void)rq, (void)dev;
    sc_fam_plan_plain(SC_ALGO_GPU_NAIVE, out);
}

const sc_gpu_family sc_fam_naive = {SC_ALGO_GPU_NAIVE, naive_applies, naive_applies, naive_plan};
