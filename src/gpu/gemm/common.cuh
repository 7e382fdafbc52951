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
 * Files: gather_fwd/bd/bw/cc.cuh (one pair of operand gathers per direction, CUTLASS's
 * iterators), kernel.cuh (the tiled kernel and its loaders), op_fwd/bd/bw.cuh (per direction:
 * the block's slice of the GEMM and its epilogue), launch_cfg.cuh (a named configuration of
 * gemm_cfg.h to a kernel instance); gemm_fwd.cu, gemm_bd.cu and gemm_bw.cu instantiate one
 * direction each (parallel builds), gemm_launch.cu dispatches a plan (planner: gemm_plan.c). */
#ifndef SC_GPU_GEMM_COMMON_CUH
#define SC_GPU_GEMM_COMMON_CUH

#include "../gemm_cfg.h"
#include "../gemm_plan.h"
#include "../launch.h"

typedef long long i64;
#define BK SC_GEMM_BK /* reduction step */
#define NT 256        /* threads per block, every configuration */

static inline int ceil_div(i64 a, i64 b) { return (int)((a + b - 1) / b); }

/* out[i] += the split slices ws[s*n + i] in slice order (+ bias[channel of i]); gemm_launch.cu.
 * Channel of i: (i / inner) % K (NCHW: inner = P*Q; NHWC: inner = 1). */
int sc_gemm_launch_reduce(const float *ws, float *out, i64 n, int splits, const float *bias,
                          i64 inner, int K, cudaStream_t st);

/* The directions (gemm_fwd.cu, gemm_bd.cu, gemm_bw.cu), given the plan and, for a
 * channel-chunked plan, b = the (k,r,s,c) weight copy and ws past it. */
int sc_gemm_fwd(const sc_kp &kp, const sc_kplan &pl, const float *a, const float *b, const float *c,
                float *out, float *ws, cudaStream_t st);
int sc_gemm_bd(const sc_kp &kp, const sc_kplan &pl, const float *a, const float *b, float *out,
               float *ws, cudaStream_t st);
int sc_gemm_bw(const sc_kp &kp, const sc_kplan &pl, const float *a, const float *b, float *out,
               float *ws, cudaStream_t st);

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
