/* launch_cfg.cuh - a named tile configuration (gemm_cfg.h) to a kernel instance. The rules of
 * which kernels exist are gemm_cfg.h's, tested here at compile time: a configuration that is not
 * built for this operation instantiates nothing and returns cudaErrorInvalidValue (the planner
 * never plans it). */
#ifndef SC_GPU_GEMM_LAUNCH_CFG_CUH
#define SC_GPU_GEMM_LAUNCH_CFG_CUH

#include "kernel.cuh"

/* AK, BKF: the A and B loaders take the reduction as the fast index (kernel.cuh, Loader);
 * LM: epilogue lanes along M; NHWC: the layout of this instance (the build rules depend on it). */
template <int CFG, bool AK, bool BKF, bool LM, bool NHWC, class Op>
static int launch_one(dim3 grid, const Op &op, cudaStream_t st)
{
    constexpr int dtype = sc_dtype_of<typename Op::Elem>::value;
    if constexpr (!sc_gemm_cfg_built(CFG, Op::dir, NHWC, Op::gather, dtype)) {
        return (int)cudaErrorInvalidValue;
    } else {
        constexpr bool hip = SC_GPU_HIP != 0;
        constexpr bool SER = Op::dir == SC_DIR_BACKWARD_WEIGHT &&
                             sc_gemm_serial_built(CFG, NHWC, Op::gather, hip, dtype);
        gemm_kernel<sc_gemm_bm(CFG), sc_gemm_bn(CFG), sc_gemm_tm(CFG), sc_gemm_tn(CFG), AK, BKF, LM,
                    sc_gemm_minb(CFG, hip), SER, Op><<<grid, NT, 0, st>>>(op);
        return 0;
    }
}

template <bool AK, bool BKF, bool LM, bool NHWC, class Op>
static int launch_cfg(int cfg, dim3 grid, const Op &op, cudaStream_t st)
{
    switch (cfg) {
#define SC_GEMM_X_LAUNCH(id, bm, bn, tm, tn)                                                       \
    case id: return launch_one<id, AK, BKF, LM, NHWC, Op>(grid, op, st);
        SC_GEMM_CONFIGS(SC_GEMM_X_LAUNCH)
#undef SC_GEMM_X_LAUNCH
    }
    return (int)cudaErrorInvalidValue;
}

#endif /* SC_GPU_GEMM_LAUNCH_CFG_CUH */
