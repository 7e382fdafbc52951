/* gemm_mma_launch.cu - a plan of the matrix-unit implicit GEMM to its launch, by element type
 * (fp16, bf16, fp32 as TF32). On HIP there are no such kernels: the planner never plans them. */
#include "launch.h"
#if !SC_GPU_HIP
#include "mma/common.cuh"
#endif

int sc_launch_gemm_mma(const sc_kp &kp, sc_direction dir, const sc_kplan &pl, const void *a,
                       const void *b, const void *c, void *out, void *ws, cudaStream_t st)
{
#if SC_GPU_HIP
    (void)kp, (void)dir, (void)pl, (void)a, (void)b, (void)c, (void)out, (void)ws, (void)st;
    return (int)cudaErrorInvalidValue;
#else
    if (pl.cfg < 0 || pl.cfg >= SC_MMA_NCFG || !kp.nhwc) return (int)cudaErrorInvalidValue;
    if ((kp.dtype == SC_DTYPE_F32) != (pl.tf32 != 0)) return (int)cudaErrorInvalidValue;
    return sc_with_dtype(kp.dtype, [&](auto t) {
        using E = decltype(t);
        float *w = (float *)ws;
        switch (dir) {
        case SC_DIR_FORWARD:
            return sc_mma_fwd<E>(kp, pl, (const E *)a, (const E *)b, (const E *)c, (E *)out, w, st);
        case SC_DIR_BACKWARD_DATA:
            return sc_mma_bd<E>(kp, pl, (const E *)a, (const E *)b, (E *)out, w, st);
        case SC_DIR_BACKWARD_WEIGHT:
            return sc_mma_bw<E>(kp, pl, (const E *)a, (const E *)b, (E *)out, w, st);
        default: return (int)cudaErrorInvalidValue;
        }
    });
#endif
}
