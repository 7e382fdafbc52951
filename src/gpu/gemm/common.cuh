/* common.cuh - the implicit GEMM on the FMA units (forward, backward-data, backward-weight): what
 * its files share, and the picture of the whole family.
 *
 * Each direction is one GEMM  C[M][N] = sum_k A[m][k] * B[k][n]  (docs/architecture.md), with
 * A and B gathered from the tensors on the fly (no im2col buffer):
 *
 *   direction        M (rows)          N (cols)        K (reduction)      grid.z
 *   forward          N*P*Q  (n,p,q)    Kg  (k)         Cg*R*S             group
 *   backward-data    N*Hc*Wc (n,i,j)   Cg  (c)         Kg*Rc*Sc           group x stride class
 *   backward-weight  Kg  (k)           Cg*R*S          N*P*Q (a slice)    group x split
 *
 * The reduction order of (c,r,s) follows the weight layout: (c,r,s) for NCHW, (r,s,c) for NHWC,
 * so weight rows are contiguous along k; channel-chunked plans (NCHW, channel counts a multiple
 * of BK) run (r,s,c) on a (k,r,s,c) copy of the weight instead (see "channel-chunked gathers").
 * Backward-data is split into sh*sw classes of output
 * positions (h mod sh, w mod sw); inside one class only the taps r = r0 + i*rstep can hit an
 * output row, so zero taps of strided convolutions are skipped, not multiplied. Positions with
 * no tap at all get a zero reduction, so dx is fully written.
 *
 * Split reduction (backward-weight over N*P*Q; forward and backward-data when there are too
 * few tiles to fill the machine): slice 0 writes the output, slices 1.. write partial sums to
 * the workspace (after the weight copy of a channel-chunked plan), and reduce_splits adds them
 * in slice order (then the bias): no atomics, identical bits every run.
 *
 * Kernel: BM x BN tile per block, 256 threads, TM x TN register micro-tile per thread, BK = 8,
 * two shared-memory stages with the next tile's global loads in registers during the FMAs.
 * Index math is 32-bit with multiply-high division by the run-time sizes (fam_gemm.c keeps
 * every GEMM size under 2^31); addresses are 64-bit: a 64-bit base plus, in the channel-chunked
 * and bw32 gathers, a 32-bit in-image offset.
 *
 * Element types: fp32, and fp16/bf16 loaded as 16-bit and computed in fp32 (dtype.cuh); split
 * slices are fp32 partial sums either way.
 *
 * Files: gather_fwd/bd/bw.cuh (one set of operand gathers per direction, CUTLASS's iterators),
 * kernel.cuh (the tiled kernel and its loaders), op_fwd/bd/bw.cuh (per direction: the block's
 * slice of the GEMM and its epilogue), launch_cfg.cuh (a named configuration of gemm_cfg.h to
 * a kernel instance), dir_fwd/bd/bw.cuh (a direction for one element type); the files
 * gemm_{fwd,bd,bw}{,_f16,_bf16}.cu instantiate one direction and type each (parallel builds),
 * gemm_launch.cu dispatches a plan (planner: gemm_plan.c). */
#ifndef SC_GPU_GEMM_COMMON_CUH
#define SC_GPU_GEMM_COMMON_CUH

#include "../dtype.cuh"
#include "../gemm_cfg.h"
#include "../gemm_plan.h"
#include "../launch.h"

#include <type_traits>

typedef long long i64;
#define BK SC_GEMM_BK /* reduction step */
#define NT 256        /* threads per block, every configuration */

static inline int ceil_div(i64 a, i64 b) { return (int)((a + b - 1) / b); }

/* The split reduction (gemm_launch.cu): out[i] = the slices' fp32 partial sums added in
 * slice order (+ bias[channel of i]), rounded once to T. fp32 (split 0 wrote out itself):
 * out[i] + ws[0..splits-2]; 16-bit T: ws[0..splits-1] (every split wrote a slice).
 * Channel of i: (i / inner) % K (NCHW: inner = P*Q; NHWC: inner = 1). */
template <class T>
int sc_gemm_launch_reduce(const float *ws, T *out, i64 n, int splits, const T *bias, i64 inner,
                          int K, cudaStream_t st);

/* Where split `split` of a plan with `splits` writes (op_*.cuh), n the output's elements, off
 * the block's offset in it. fp32: split 0 (or every split of a serial plan) to the output, split
 * s > 0 to the fp32 slice ws + (s-1)*n. 16-bit T: the output when unsplit, else every split to
 * the fp32 slice ws + s*n (*yf), so the reduction rounds once. Overloads, not if constexpr: the
 * operations are templates whose element type is not a template parameter. */
SC_HD void sc_split_out(float *out, float *ws, i64 n, i64 off, int split, int splits, bool in_place,
                        float **y, float **yf)
{
    *y = (split == 0 || in_place ? out : ws + (i64)(split - 1) * n) + off;
    *yf = nullptr;
}
template <class T>
SC_HD void sc_split_out(T *out, float *ws, i64 n, i64 off, int split, int splits, bool in_place,
                        T **y, float **yf)
{
    *y = out + off;
    *yf = splits > 1 ? ws + (i64)split * n + off : nullptr;
}
/* Store v at y[off] (fp32), or at the slice yf[off] / rounded to y[off] (16-bit T). */
SC_HD void sc_split_store(float *y, float *yf, i64 off, float v) { y[off] = v; }
template <class T>
SC_HD void sc_split_store(T *y, float *yf, i64 off, float v)
{
    if (yf)
        yf[off] = v;
    else
        sc_put(y + off, v);
}

/* The directions for element type T (gemm_{fwd,bd,bw}{,_f16,_bf16}.cu, from dir_*.cuh), given
 * the plan and, for a channel-chunked plan, b = the (k,r,s,c) weight copy and ws past it. */
template <class T>
int sc_gemm_fwd(const sc_kp &kp, const sc_kplan &pl, const T *a, const T *b, const T *c, T *out,
                float *ws, cudaStream_t st);
template <class T>
int sc_gemm_bd(const sc_kp &kp, const sc_kplan &pl, const T *a, const T *b, T *out, float *ws,
               cudaStream_t st);
template <class T>
int sc_gemm_bw(const sc_kp &kp, const sc_kplan &pl, const T *a, const T *b, T *out, float *ws,
               cudaStream_t st);

/* ---- operand gathers ---------------------------------------------------------------------- */
/* A row descriptor's coordinate set to SC_ROW_NONE marks a row past the GEMM: every coordinate
 * derived from it (the sentinel plus or minus a tap offset below 2^30, by sc_kp_make's size
 * limits) is negative without overflowing, so it fails the unsigned bounds test and the
 * row reads 0 without a separate flag (rows are 16 bytes: one shared-memory load). */
#define SC_ROW_NONE (-(1 << 30))
/* Each gather has: Row (per tile row, fixed over the reduction), Kst (per reduction index),
 * row(idx), kdec(kk), knext(Kst) (the state of kk+1; by value, so no compiler puts it in
 * scratch), and load(Row, Kst) returning 0 outside the tensor. */

#endif /* SC_GPU_GEMM_COMMON_CUH */
