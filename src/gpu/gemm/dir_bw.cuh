/* dir_bw.cuh - backward-weight of the FMA implicit GEMM for one element type (included by
 * gemm_bw.cu, gemm_bw_f16.cu, gemm_bw_bf16.cu; see dir_fwd.cuh). */
#include "launch_cfg.cuh"

namespace SC_GEMM_NS
{
typedef SC_GEMM_ELEM T;

#include "gather_bw.cuh"
#include "op_bw.cuh"

/* Backward-weight with Op = OpBw, OpBwN (N32: NCHW with 32-bit offsets in an image) or OpBwH
 * (NHWC with 32-bit offsets in an image). */
template <class Op, bool N32>
static int gemm_bw(const sc_kp &kp, const sc_kplan &pl, const T *a, const T *b, T *out, float *ws,
                   cudaStream_t st)
{
    int bm = sc_gemm_bm(pl.cfg), bn = sc_gemm_bn(pl.cfg);
    int rs = kp.r * kp.s;
    Op op;
    int npq = kp.n * kp.p * kp.q;
    int splits = pl.splits < 1 ? 1 : pl.splits;
    int chunk = ceil_div(npq, splits);
    chunk = (chunk + BK - 1) / BK * BK;
    auto &ga = op.a;
    ga.dy = b; /* roles: a = x, b = dy */
    ga.m_count = kp.kg, ga.k_end = npq;
    ga.dq = sc_fdiv_make(kp.q), ga.dpq = sc_fdiv_make(kp.p * kp.q);
    ga.K = kp.k, ga.P = kp.p, ga.Q = kp.q, ga.nhwc = kp.nhwc, ga.goff = 0;
    auto &gb = op.b;
    gb.x = a;
    gb.n_count = kp.cg * rs, gb.k_end = npq;
    gb.dq = ga.dq, gb.dpq = ga.dpq, gb.drs = sc_fdiv_make(rs), gb.ds = sc_fdiv_make(kp.s);
    gb.dcg = sc_fdiv_make(kp.cg);
    gb.C = kp.c, gb.H = kp.h, gb.W = kp.w, gb.R = kp.r, gb.S = kp.s, gb.Cg = kp.cg;
    gb.P = kp.p, gb.Q = kp.q, gb.sh = kp.sh, gb.sw = kp.sw, gb.ph = kp.ph, gb.pw = kp.pw;
    gb.dh = kp.dh, gb.dw = kp.dw, gb.nhwc = kp.nhwc, gb.goff = 0;
    op.G = kp.g, op.Cg = kp.cg, op.Kg = kp.kg, op.splits = splits, op.chunk = chunk;
    op.npq = npq, op.nhwc = kp.nhwc, op.H = kp.h, op.W = kp.w, op.P = kp.p, op.Q = kp.q;
    op.crs = (i64)kp.cg * rs;
    op.wsize = (i64)kp.k * op.crs;
    op.out = out;
    op.ws = ws;
    op.sem = nullptr;
    dim3 grid(ceil_div(kp.kg, bm), ceil_div(op.crs, bn), kp.g * splits);
    bool serial = splits > 1 && pl.serial;
    if (serial && !sc_gemm_serial_built(pl.cfg, kp.nhwc != 0, pl.gather, SC_GPU_HIP != 0, kp.dtype))
        return (int)cudaErrorInvalidValue; /* not built: the planner never plans it */
    if (serial) { /* the tiles' counters (bw_sem_bytes), zeroed in stream order */
        op.sem = (unsigned *)ws;
        cudaError_t me =
            cudaMemsetAsync(op.sem, 0, (size_t)grid.x * grid.y * kp.g * sizeof(unsigned), st);
        if (me != cudaSuccess) return (int)me;
    }
    /* NCHW: both along q (the reduction); NHWC: dy along k, x along c (the rows). */
    int e;
    if constexpr (N32)
        e = launch_cfg<true, true, false, false>(pl.cfg, grid, op, st);
    else
        e = kp.nhwc ? launch_cfg<false, false, false, true>(pl.cfg, grid, op, st)
                    : launch_cfg<true, true, false, false>(pl.cfg, grid, op, st);
    if (!e) e = (int)cudaGetLastError();
    if (e) return e;
    if (splits > 1 && !serial)
        return sc_gemm_launch_reduce<T>(ws, out, op.wsize, splits, nullptr, 1, 1, st);
    return (int)cudaGetLastError();
}
} // namespace SC_GEMM_NS

template <>
int sc_gemm_bw<SC_GEMM_ELEM>(const sc_kp &kp, const sc_kplan &pl, const SC_GEMM_ELEM *a,
                             const SC_GEMM_ELEM *b, SC_GEMM_ELEM *out, float *ws, cudaStream_t st)
{
    using namespace SC_GEMM_NS;
    if (pl.gather == SC_GATHER_N32) {
        if (kp.nhwc) return (int)cudaErrorInvalidValue;
        return gemm_bw<OpBwN, true>(kp, pl, a, b, out, ws, st);
    }
    if (pl.gather == SC_GATHER_H32) {
        if (!kp.nhwc) return (int)cudaErrorInvalidValue;
        return gemm_bw<OpBwH, false>(kp, pl, a, b, out, ws, st);
    }
    return gemm_bw<OpBw, false>(kp, pl, a, b, out, ws, st);
}
