/* family.h - the GPU kernel families as selection sees them (oneDNN's ordered implementation
 * list, CUTLASS's can_implement): each family says whether its kernels can compute a problem,
 * whether the default selection should take them for it, and what its plan is. Selection
 * (select.c) walks the list in order; adding a family is one new fam_*.c file and one entry in
 * that list. Plain C: planning needs no GPU runtime. */
#ifndef SC_GPU_FAMILY_H
#define SC_GPU_FAMILY_H

#include "common/problem.h"
#include "gpu/kparams.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What planning needs to know of the device. */
typedef struct sc_gpu_dev {
    int sm_count; /* multiprocessors (CUs on AMD) */
    int cc;       /* NVIDIA compute capability as 10*major + minor (90 = sm_90); 0 on AMD */
    bool hip;     /* the kernels were built by hipcc */
    bool wgmma;   /* an sm_90 device, and the build has the sm_90a kernels (gemm_wgmma.cu) */
} sc_gpu_dev;

/* The request a plan answers besides the problem. */
typedef struct sc_gpu_request {
    sc_direction dir;
    sc_math_mode math; /* fp32 tensors: exact, or TF32 allowed */
    size_t ws_limit;   /* the context's workspace limit */
    int align;         /* bytes every tensor pointer of the call is aligned to (a power of two,
                        * at most 16); the size query, which has no pointers, assumes 16 */
} sc_gpu_request;

typedef struct sc_gpu_family {
    sc_algo algo;
    /* The family's kernels compute this problem and direction on this device (forced or not). */
    bool (*can_implement)(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev);
    /* The default selection takes the first family of the list that can implement the problem
     * and prefers it. */
    bool (*preferred)(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev);
    /* Fill the plan (called only where can_implement holds): the family's choices and the
     * workspace, which must not exceed rq->ws_limit where the family can avoid it. */
    void (*plan)(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev, sc_kplan *out);
} sc_gpu_family;

/* The families, in selection order (fam_*.c). */
extern const sc_gpu_family sc_fam_depthwise, sc_fam_small_c, sc_fam_gemm_mma, sc_fam_winograd,
    sc_fam_gemm, sc_fam_naive;

/* A plan with no family options and no workspace (the direct kernels). */
void sc_fam_plan_plain(sc_algo algo, sc_kplan *out);

/* Selection: the plan for (pb, rq) on `dev`, of family `want` (SC_ALGO_NONE: the first
 * preferred family of the list). UNSUPPORTED with a message naming the field when the problem
 * cannot run on this backend or `want` does not apply. */
sc_status sc_gpu_select_plan(const sc_problem *pb, const sc_gpu_request *rq, sc_algo want,
                             const sc_gpu_dev *dev, sc_kplan *out);

/* The family of an algorithm id, or NULL when it is not a GPU family. */
const sc_gpu_family *sc_gpu_family_of(sc_algo a);

#ifdef __cplusplus
}
#endif

#endif /* SC_GPU_FAMILY_H */
