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

/* Configurations 5 and 6's filter copy in the workspace (mma_cfg.h, sc_mma_wgmma_filter_bytes), one
 * thread per element of wc: backward-data's filter turned and transposed (TURN),
 * wc[c][r][s][k] = w[k][R-1-r][S-1-s][c], or forward's filter as it is, wc = w (K x R*S*C); fp32
 * elements rounded to TF32 (sc_tf32), since wgmma.cuh reads its B operand unrounded (in the
 * mutant, tests only, they are not). */
template <class T, bool TURN>
__global__ void mma_filter_copy(const T *__restrict__ w, T *__restrict__ wc, int K, int R, int S,
                                int C)
{
    i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (i64)K * R * S * C) return;
    i64 from = i;
    if (TURN) {
        int k = (int)(i % K);
        i64 t = i / K;
        int s = (int)(t % S);
        t /= S;
        int r = (int)(t % R), c = (int)(t / R);
        from = (((i64)k * R + (R - 1 - r)) * S + (S - 1 - s)) * C + c;
    }
    T v = w[from];
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800 && !SC_MMA_MUTANT /* cvt.rna.tf32: sm_80+ */
    if constexpr (sizeof(T) == 4) v = __uint_as_float(sc_tf32(v));
#endif
    wc[i] = v;
}

/* mma_filter_copy of a K x R x S x C filter w to wc, on stream st */
template <class T, bool TURN>
static void mma_filter_copy_launch(const T *w, T *wc, int K, int R, int S, int C, cudaStream_t st)
{
    i64 n = (i64)K * R * S * C;
    mma_filter_copy<T, TURN><<<(unsigned)((n + 255) / 256), 256, 0, st>>>(w, wc, K, R, S, C);
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
            mma_filter_copy_launch<E, false>(w, wc, kp.k, kp.r, kp.s, kp.cg, st);
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

/* Configurations 5 and 6 (wgmma) in backward-data: the filter turned and transposed into the
 * workspace (mma_filter_copy), then the forward convolution of dy with it (mma_cfg.h,
 * sc_mma_wgmma_applies). */
template <class T>
static int mma_bd_wgmma(const sc_kp &kp, const sc_kplan &pl, const T *dy, const T *w, T *dx,
                        float *ws, cudaStream_t st)
{
    T *wt = (T *)ws;
    mma_filter_copy_launch<T, true>(w, wt, kp.k, kp.r, kp.s, kp.c, st);
    float *slices = (float *)((char *)ws + sc_mma_wgmma_filter_bytes(&kp, SC_DIR_BACKWARD_DATA));
    sc_kp f = kp; /* the forward convolution dy -> dx */
    f.h = kp.p, f.w = kp.q, f.p = kp.h, f.q = kp.w, f.c = kp.k, f.k = kp.c;
    f.cg = kp.k, f.kg = kp.c, f.g = 1;
    f.ph = (kp.r - 1) * kp.dh - kp.ph, f.pw = (kp.s - 1) * kp.dw - kp.pw;
    dim3 grid;
    MmaFwd<T, false> op = sc_mma_fwd_op<T, false>(f, pl, dy, wt, nullptr, dx, slices, &grid);
    int e = mma_launch(pl.cfg, op, grid, st);
    int splits = pl.splits < 1 ? 1 : pl.splits;
    if (e || splits == 1) return e;
    return sc_gemm_launch_reduce<T>(slices, dx, (i64)kp.n * kp.h * kp.w * kp.c, splits, nullptr, 1,
                                    1, st);
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
