/* dir_fwd.cuh - forward of the FMA implicit GEMM for one element type. gemm_fwd.cu (fp32),
 * gemm_fwd_f16.cu and gemm_fwd_bf16.cu define SC_GEMM_ELEM and SC_GEMM_NS and include this
 * file: the gathers and the operation live in that type's namespace, so each type's kernels
 * have their own names, from one source. */
#include "launch_cfg.cuh"

namespace SC_GEMM_NS
{
typedef SC_GEMM_ELEM T;

#include "gather_fwd.cuh"
#include "op_fwd.cuh"

/* Forward with Op = OpFwd, or OpFwdC (CC: the channel-chunked gathers, NCHW only; b is then
 * the (k,r,s,c) weight copy). */
template <class Op, bool CC>
static int gemm_fwd(const sc_kp &kp, const sc_kplan &pl, const T *a, const T *b, const T *c, T *out,
                    float *ws, cudaStream_t st)
{
    int bm = sc_gemm_bm(pl.cfg), bn = sc_gemm_bn(pl.cfg);
    int rs = kp.r * kp.s;
    Op op;
    auto &ga = op.a;
    ga.x = a;
    ga.m_count = kp.n * kp.p * kp.q;
    ga.k_count = kp.cg * rs;
    ga.dq = sc_fdiv_make(kp.q), ga.dp = sc_fdiv_make(kp.p), ga.drs = sc_fdiv_make(rs);
    ga.ds = sc_fdiv_make(kp.s), ga.dcg = sc_fdiv_make(kp.cg);
    ga.C = kp.c, ga.H = kp.h, ga.W = kp.w, ga.R = kp.r, ga.S = kp.s, ga.Cg = kp.cg;
    ga.Q = kp.q, ga.P = kp.p, ga.sh = kp.sh, ga.sw = kp.sw, ga.ph = kp.ph, ga.pw = kp.pw;
    ga.dh = kp.dh, ga.dw = kp.dw, ga.nhwc = kp.nhwc, ga.goff = 0;
    op.b.w = b, op.b.n_count = kp.kg, op.b.k_count = kp.cg * rs, op.b.goff = 0;
    op.bias = c, op.y = out;
    op.K = kp.k, op.Kg = kp.kg, op.P = kp.p, op.Q = kp.q, op.Cg = kp.cg, op.H = kp.h;
    op.W = kp.w, op.nhwc = kp.nhwc;
    op.kgoff_mult_w = (i64)kp.kg * kp.cg * rs;
    int splits = pl.splits < 1 ? 1 : pl.splits;
    op.G = kp.g, op.splits = splits;
    op.chunk = (ceil_div(ga.k_count, splits) + BK - 1) / BK * BK;
    op.y_elems = (i64)kp.n * kp.k * kp.p * kp.q;
    op.ws = ws;
    dim3 grid(ceil_div(ga.m_count, bm), ceil_div(kp.kg, bn), kp.g * splits);
    int e;
    if constexpr (CC) {
        e = pl.lm ? launch_cfg<false, true, true, false>(pl.cfg, grid, op, st)
                  : launch_cfg<false, true, false, false>(pl.cfg, grid, op, st);
    } else {
        e = kp.nhwc ? launch_cfg<true, true, false, true>(pl.cfg, grid, op, st)
            : pl.lm ? launch_cfg<false, true, true, false>(pl.cfg, grid, op, st)
                    : launch_cfg<false, true, false, false>(pl.cfg, grid, op, st);
    }
    if (!e) e = (int)cudaGetLastError();
    if (e || splits == 1) return e;
    return sc_gemm_launch_reduce<T>(ws, out, op.y_elems, splits, c, kp.nhwc ? 1 : (i64)kp.p * kp.q,
                                    kp.k, st);
}
} // namespace SC_GEMM_NS

template <>
int sc_gemm_fwd<SC_GEMM_ELEM>(const sc_kp &kp, const sc_kplan &pl, const SC_GEMM_ELEM *a,
                              const SC_GEMM_ELEM *b, const SC_GEMM_ELEM *c, SC_GEMM_ELEM *out,
                              float *ws, cudaStream_t st)
{
    using namespace SC_GEMM_NS;
    if (pl.gather == SC_GATHER_CC) return gemm_fwd<OpFwdC, true>(kp, pl, a, b, c, out, ws, st);
    return gemm_fwd<OpFwd, false>(kp, pl, a, b, c, out, ws, st);
}
