/* dir.cuh - the three directions of the matrix-unit GEMM for one element type: gemm_mma_f16.cu,
 * gemm_mma_bf16.cu and gemm_mma_tf32.cu define SC_MMA_ELEM and include this file. NVIDIA only:
 * a HIP build compiles none of it (fam_gemm_mma.c never plans it there). */
#include "../compat.h"

#if !SC_GPU_HIP
#include "bd_fwd.cuh"
#include "launch.cuh"
#include "op_bd.cuh"
#include "op_bw.cuh"
#include "op_fwd.cuh"

typedef SC_MMA_ELEM E;

/* Configurations 5 to 8's filter copies in the workspace (mma_cfg.h, sc_mma_wgmma_filter_bytes),
 * one thread per element of wc (n of them): a stride class's turned filter for backward-data
 * (TURN, bd_fwd.cuh) or forward's filter as it is, wc = w; fp32 elements rounded to TF32
 * (sc_tf32), since wgmma.cuh reads its B operand unrounded (in the mutant, tests only, they are
 * not). */
template <class T, bool TURN>
__global__ void mma_filter_copy(const T *__restrict__ w, T *__restrict__ wc, i64 n, BdTurn t)
{
    i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    T v = w[TURN ? sc_bd_turn_src(t, i) : i];
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800 && !SC_MMA_MUTANT /* cvt.rna.tf32: sm_80+ */
    if constexpr (sizeof(T) == 4) v = __uint_as_float(sc_tf32(v));
#endif
    wc[i] = v;
}

/* mma_filter_copy of n elements to wc, on stream st */
template <class T, bool TURN>
static int mma_filter_copy_launch(const T *w, T *wc, i64 n, const BdTurn &t, cudaStream_t st)
{
    mma_filter_copy<T, TURN><<<(unsigned)((n + 255) / 256), 256, 0, st>>>(w, wc, n, t);
    return (int)cudaGetLastError();
}

template <>
int sc_mma_fwd<E>(const sc_kp &kp, const sc_kplan &pl, const E *x, const E *w, const E *bias, E *y,
                  float *ws, cudaStream_t st)
{
    dim3 grid;
    int e;
    if (sc_mma_row_fused(&kp)) {
        MmaFwd<E, true, true> op = sc_mma_fwd_op<E, true, true>(kp, pl, x, w, bias, y, ws, &grid);
        e = mma_launch(pl.cfg, op, grid, st);
    } else if (kp.cg % (16 / sizeof(E))) {
        MmaFwd<E, true> op = sc_mma_fwd_op<E, true>(kp, pl, x, w, bias, y, ws, &grid);
        e = mma_launch(pl.cfg, op, grid, st);
    } else {
        size_t wb = sc_mma_is_wgmma(pl.cfg) ? sc_mma_wgmma_filter_bytes(&kp, SC_DIR_FORWARD) : 0;
        if (wb) { /* wgmma, TF32: the filter rounded into the workspace */
            E *wc = (E *)ws;
            if (int e2 = mma_filter_copy_launch<E, false>(w, wc, (i64)kp.k * kp.r * kp.s * kp.cg,
                                                          BdTurn{}, st))
                return e2;
            w = wc, ws = (float *)((char *)ws + wb);
        }
        MmaFwd<E, false> op = sc_mma_fwd_op<E, false>(kp, pl, x, w, bias, y, ws, &grid);
        e = mma_launch(pl.cfg, op, grid, st);
    }
    int splits = pl.splits < 1 ? 1 : pl.splits;
    if (e || splits == 1) return e;
    return sc_gemm_launch_reduce<E>(ws, y, (i64)kp.n * kp.p * kp.q * kp.k, splits, bias, 1, kp.k,
                                    st);
}

/* Configurations 5 to 8 (wgmma) in backward-data (groups 1): each stride class's turned filter
 * into the workspace, then the forward convolution of dy with it (bd_fwd.cuh), then the split
 * slices reduced over dx. */
template <class T>
static int mma_bd_wgmma(const sc_kp &kp, const sc_kplan &pl, const T *dy, const T *w, T *dx,
                        float *ws, cudaStream_t st)
{
    int e = sc_mma_bd_as_fwd<T>(
        kp, pl, dy, dx, ws,
        [&](const BdTurn &t, i64 n, T *wt) {
            return mma_filter_copy_launch<T, true>(w, wt, n, t, st);
        },
        [&](const MmaFwd<T, false> &op, dim3 grid) { return mma_launch(pl.cfg, op, grid, st); });
    int splits = pl.splits < 1 ? 1 : pl.splits;
    if (e || splits == 1) return e;
    return sc_gemm_launch_reduce<T>(sc_mma_bd_fwd_slices(kp, ws), dx,
                                    (i64)kp.n * kp.h * kp.w * kp.c, splits, nullptr, 1, 1, st);
}

template <>
int sc_mma_bd<E>(const sc_kp &kp, const sc_kplan &pl, const E *dy, const E *w, E *dx, float *ws,
                 cudaStream_t st)
{
    if (sc_mma_is_wgmma(pl.cfg)) return mma_bd_wgmma<E>(kp, pl, dy, w, dx, ws, st);
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
