/* dir.cuh - the three directions of the matrix-unit GEMM for one element type: gemm_mma_f16.cu,
 * gemm_mma_bf16.cu and gemm_mma_tf32.cu define SC_MMA_ELEM and include this file. NVIDIA only:
 * a HIP build compiles none of it (fam_gemm_mma.c never plans it there). */
#include "../compat.h"

#if !SC_GPU_HIP
#include "launch.cuh"
#include "op_bd.cuh"
#include "op_bw.cuh"
#include "op_fwd.cuh"

typedef SC_MMA_ELEM E;

template <>
int sc_mma_fwd<E>(const sc_kp &kp, const sc_kplan &pl, const E *x, const E *w, const E *bias, E *y,
                  float *ws, cudaStream_t st)
{
    dim3 grid;
    int e;
    if (kp.cg % (16 / sizeof(E))) {
        MmaFwd<E, true> op = sc_mma_fwd_op<E, true>(kp, pl, x, w, bias, y, ws, &grid);
        e = mma_launch(pl.cfg, op, grid, st);
    } else {
        MmaFwd<E, false> op = sc_mma_fwd_op<E, false>(kp, pl, x, w, bias, y, ws, &grid);
        e = mma_launch(pl.cfg, op, grid, st);
    }
    int splits = pl.splits < 1 ? 1 : pl.splits;
    if (e || splits == 1) return e;
    return sc_gemm_launch_reduce<E>(ws, y, (i64)kp.n * kp.p * kp.q * kp.k, splits, bias, 1, kp.k,
                                    st);
}

template <>
int sc_mma_bd<E>(const sc_kp &kp, const sc_kplan &pl, const E *dy, const E *w, E *dx, float *ws,
                 cudaStream_t st)
{
    dim3 grid;
    MmaBd<E> op;
    if (!sc_mma_bd_op<E>(kp, pl, dy, w, dx, ws, &op, &grid)) return (int)cudaErrorInvalidValue;
    int e = mma_launch(pl.cfg, op, grid, st);
    if (e || op.splits == 1) return e;
    return sc_gemm_launch_reduce<E>(ws, dx, op.x_elems, op.splits, nullptr, 1, 1, st);
}

template <>
int sc_mma_bw<E>(const sc_kp &kp, const sc_kplan &pl, const E *x, const E *dy, E *dw, float *ws,
                 cudaStream_t st)
{
    dim3 grid;
    int e;
    if (kp.cg % (16 / sizeof(E))) {
        MmaBw<E, true> op = sc_mma_bw_op<E, true>(kp, pl, x, dy, dw, ws, &grid);
        e = mma_launch(pl.cfg, op, grid, st);
    } else {
        MmaBw<E, false> op = sc_mma_bw_op<E, false>(kp, pl, x, dy, dw, ws, &grid);
        e = mma_launch(pl.cfg, op, grid, st);
    }
    int splits = pl.splits < 1 ? 1 : pl.splits;
    if (e || splits == 1) return e;
    return sc_gemm_launch_reduce<E>(ws, dw, (i64)kp.k * kp.r * kp.s * kp.cg, splits, nullptr, 1, 1,
                                    st);
}
#endif
