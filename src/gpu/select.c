/* select.c - selection among the GPU kernel families (family.h) and the GPU backend's planning
 * entry points of gpu.h: sc_gpu_plan, the tuning candidates, remembered plans. Plain C. */
#include "gpu/bias.h"
#include "gpu/family.h"
#include "gpu/gemm_plan.h"
#include "gpu/gpu.h"
#include "gpu/knobs.h"

#include <string.h>

/* Selection order: the first family that can implement a problem and prefers it wins. The
 * direct kernels come first because where they apply the GEMM's shape is wrong (a reduction
 * of R*S per channel, or a handful of columns); then the matrix units where the dtype, the
 * math mode, the device and the layout let them run; naive last, as it always applies. */
static const sc_gpu_family *const families[] = {&sc_fam_depthwise, &sc_fam_small_c,
                                                &sc_fam_gemm_mma,  &sc_fam_winograd,
                                                &sc_fam_gemm,      &sc_fam_naive};
#define NFAM (sizeof families / sizeof families[0])

const sc_gpu_family *sc_gpu_family_of(sc_algo a)
{
    for (size_t i = 0; i < NFAM; i++)
        if (families[i]->algo == a) return families[i];
    return NULL;
}

/* The bias gradient's slices, for the directions that compute it (backward-bias, and
 * backward-weight, whose call may ask for dbias): its partials reuse the family's workspace
 * once the family's kernels are done, so the plan needs the larger of the two; one slice (no
 * workspace) where that would pass the limit. */
static void plan_bias(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev,
                      sc_kplan *out)
{
    out->bias_slices = 1;
    if (rq->dir != SC_DIR_BACKWARD_BIAS && rq->dir != SC_DIR_BACKWARD_WEIGHT) return;
    int s = sc_bias_slices(kp, dev->sm_count, sc_gpu_knobs_get()->bias_slices);
    size_t b = sc_bias_ws_bytes(kp, s);
    size_t need = b > out->ws_bytes ? b : out->ws_bytes;
    if (s > 1 && need <= rq->ws_limit) out->bias_slices = s, out->ws_bytes = need;
}

sc_status sc_gpu_select_plan(const sc_problem *pb, const sc_gpu_request *rq, sc_algo want,
                             const sc_gpu_dev *dev, sc_kplan *out)
{
    sc_kp kp;
    if (!sc_kp_make(pb, &kp))
        return sc__fail(SC_STATUS_UNSUPPORTED,
                        "desc: a size is too large for the GPU kernels' 32-bit fields");
    const sc_gpu_family *f = NULL;
    if (want != SC_ALGO_NONE) {
        f = sc_gpu_family_of(want);
        /* The bias gradient is one reduction kernel that serves every GPU family. */
        if (f && rq->dir == SC_DIR_BACKWARD_BIAS) {
            sc_fam_plan_plain(want, out);
            plan_bias(&kp, rq, dev, out);
            return SC_STATUS_OK;
        }
        if (!f || !f->can_implement(&kp, rq, dev))
            return sc__fail(SC_STATUS_UNSUPPORTED,
                            "options.algo: %s does not apply to this problem", sc_algo_name(want));
    } else if (rq->dir == SC_DIR_BACKWARD_BIAS) {
        sc_fam_plan_plain(SC_ALGO_GPU_NAIVE, out);
        plan_bias(&kp, rq, dev, out);
        return SC_STATUS_OK;
    } else {
        for (size_t i = 0; i < NFAM && !f; i++)
            if (families[i]->can_implement(&kp, rq, dev) && families[i]->preferred(&kp, rq, dev))
                f = families[i];
        if (!f) return sc__fail(SC_STATUS_INTERNAL, "gpu: no kernel family applies");
    }
    f->plan(&kp, rq, dev, out);
    plan_bias(&kp, rq, dev, out);
    return SC_STATUS_OK;
}

sc_status sc_gpu_plan(const sc_problem *pb, sc_direction dir, sc_algo want, sc_math_mode math,
                      size_t ws_limit, int align, sc_kplan *plan)
{
    sc_gpu_dev dev;
    sc_status st = sc_gpu_current_device(&dev);
    if (st) return st;
    sc_gpu_request rq = {dir, math, ws_limit, align};
    return sc_gpu_select_plan(pb, &rq, want, &dev, plan);
}

int sc_gpu_tune_candidates(const sc_problem *pb, sc_direction dir, sc_math_mode math,
                           size_t ws_limit, sc_kplan *plans, int max)
{
    sc_kplan def;
    sc_gpu_dev dev;
    sc_kp kp;
    if (max <= 0 || dir == SC_DIR_BACKWARD_BIAS || sc_gpu_current_device(&dev) ||
        sc_gpu_plan(pb, dir, SC_ALGO_NONE, math, ws_limit, 16, &def) ||
        def.algo != SC_ALGO_GPU_IMPLICIT_GEMM || !sc_kp_make(pb, &kp))
        return 0;
    return sc_gemm_candidates(&kp, dir, dev.sm_count, dev.hip, ws_limit, plans, max);
}

void sc_gpu_remember_plan(const sc_problem *pb, sc_direction dir, const sc_kplan *plan)
{
    sc_gpu_dev dev;
    sc_kp kp;
    if (plan->algo != SC_ALGO_GPU_IMPLICIT_GEMM || sc_gpu_current_device(&dev) ||
        !sc_kp_make(pb, &kp))
        return;
    sc_gemm_remember(&kp, dir, dev.sm_count, plan);
}

unsigned sc_gpu_plan_generation(void) { return sc_gemm_tuned_generation(); }
