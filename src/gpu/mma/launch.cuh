/* launch.cuh - a named configuration of the matrix-unit GEMM (mma_cfg.h) to a kernel instance,
 * with its dynamic shared memory (over 48 KiB: sc_smem_opt_in). */
#ifndef SC_GPU_MMA_LAUNCH_CUH
#define SC_GPU_MMA_LAUNCH_CUH

#include "../launch.h" /* sc_smem_opt_in */
#include "common.cuh"

template <int CFG, class Op>
static int mma_launch_built(const Op &op, dim3 grid, cudaStream_t st)
{
    constexpr int smem =
        sc_mma_smem_bytes(CFG, Op::A_KMAJOR, Op::B_KMAJOR, (int)sizeof(typename Op::Elem));
    if (int e = sc_smem_opt_in<mma_kernel<CFG, Op>>(smem, smem)) return e;
    mma_kernel<CFG, Op><<<grid, 256, smem, st>>>(op);
    return (int)cudaGetLastError();
}

/* A configuration not built for this operation (sc_mma_cfg_built) has no kernel instance: the
 * planner never picks it, and a plan that names it anyway is refused. */
template <int CFG, class Op>
static int mma_launch_one(const Op &op, dim3 grid, cudaStream_t st)
{
    if constexpr (!sc_mma_cfg_built(CFG, Op::DIR, Op::A_PAD || Op::B_PAD,
                                    (int)sizeof(typename Op::Elem)))
        return (int)cudaErrorInvalidValue;
    else if constexpr (CFG == SC_MMA_WGMMA_CFG) {
        /* both operands K-major, or both MN-major (backward-weight; TF32's is its own kernel,
         * wgmma_tf32_bw.cuh): backward-data reaches it as a forward op (mma/dir.cuh) */
        if constexpr (Op::A_KMAJOR == Op::B_KMAJOR)
            return sc_wgmma_launch<Op, 128>(op, grid, st);
        else
            return (int)cudaErrorInvalidValue;
    } else if constexpr (CFG == SC_MMA_WGMMA_N64_CFG || CFG == SC_MMA_WGMMA_N256_CFG) {
        /* 5's kernel with 64 or 256 columns: forward, or backward-data as forward */
        if constexpr (Op::A_KMAJOR && Op::B_KMAJOR)
            return sc_wgmma_launch<Op, sc_mma_bn(CFG)>(op, grid, st);
        else
            return (int)cudaErrorInvalidValue;
    } else if constexpr (CFG == SC_MMA_WGMMA_PERSIST_CFG) {
        /* one split: every tile of the launch has the same reduction (wgmma_ws.cuh) */
        if constexpr (Op::A_KMAJOR && Op::B_KMAJOR)
            return op.splits == 1 ? sc_wgmma_launch<Op, 128, true>(op, grid, st)
                                  : (int)cudaErrorInvalidValue;
        else
            return (int)cudaErrorInvalidValue;
    } else
        return mma_launch_built<CFG, Op>(op, grid, st);
}

template <class Op>
static int mma_launch(int cfg, const Op &op, dim3 grid, cudaStream_t st)
{
    switch (cfg) {
#define SC_MMA_X_LAUNCH(id, bm, bn, minb, stages, kb)                                              \
    case id: return mma_launch_one<id, Op>(op, grid, st);
        SC_MMA_CONFIGS(SC_MMA_X_LAUNCH)
#undef SC_MMA_X_LAUNCH
    }
    return (int)cudaErrorInvalidValue;
}

#endif /* SC_GPU_MMA_LAUNCH_CUH */
