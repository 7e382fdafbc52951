/* dir_bd.cuh - backward-data of the FMA implicit GEMM for one element type (included by
 * gemm_bd.cu, gemm_bd_f16.cu, gemm_bd_bf16.cu; see dir_fwd.cuh). */
#include "bd_class.cuh"
#include "launch_cfg.cuh"

namespace SC_GEMM_NS
{
typedef SC_GEMM_ELEM T;

#include "gather_bd.cuh"
#include "op_bd.cuh"

/* Backward-data with Op = OpBd, or OpBdC (CC: the channel-chunked gathers, NCHW only; b is
 * then the (k,r,s,c) weight copy, read by GBdWt). */
template <class Op, bool CC>
static int gemm_bd(const sc_kp &kp, const sc_kplan &pl, const T *a, const T *b, T *out, float *ws,
                   cudaStream_t st)
{
    int bm = sc_gemm_bm(pl.cfg), bn = sc_gemm_bn(pl.cfg);
    Op op;
    auto &ga = op.a;
    ga.dy = a;
    ga.m_count = kp.n; /* per-block: N * Hc * Wc */
    ga.k_count = 0;
    ga.dkg = sc_fdiv_make(kp.kg);
    ga.K = kp.k, ga.P = kp.p, ga.Q = kp.q, ga.Kg = kp.kg, ga.nhwc = kp.nhwc, ga.goff = 0;
    auto &gb = op.b;
    gb.w = b, gb.n_count = kp.cg, gb.k_count = 0, gb.dkg = ga.dkg;
    gb.Cg = kp.cg, gb.R = kp.r, gb.S = kp.s, gb.Kg = kp.kg, gb.nhwc = kp.nhwc, gb.goff = 0;
    op.dx = out;
    op.C = kp.c, op.H = kp.h, op.W = kp.w, op.K = kp.k, op.P = kp.p, op.Q = kp.q;
    op.R = kp.r, op.S = kp.s, op.Cg = kp.cg, op.Kg = kp.kg, op.sh = kp.sh, op.sw = kp.sw;
    op.ph = kp.ph, op.pw = kp.pw, op.dh = kp.dh, op.dw = kp.dw, op.nhwc = kp.nhwc;
    op.classes = kp.sh * kp.sw;
    if (op.classes > BD_MAX_CLASSES) return (int)cudaErrorInvalidValue; /* backend.cu checks */
    sc_bd_classes(kp, op.cls);
    i64 mmax = (i64)kp.n * ((kp.h + kp.sh - 1) / kp.sh) * ((kp.w + kp.sw - 1) / kp.sw);
    int splits = pl.splits < 1 ? 1 : pl.splits;
    /* Classes that no tap reaches (e.g. 1x1 stride 2): one contiguous memset instead of
     * scattered zero stores from GEMM tiles. Only without a split, whose reduction reads
     * every workspace element. */
    if (splits == 1) {
        bool any_zero = false;
        for (int ci = 0; ci < op.classes; ci++)
            if (op.cls[ci].hc > 0 && op.cls[ci].wc > 0 && op.cls[ci].rc * op.cls[ci].sc == 0)
                any_zero = true;
        if (any_zero) {
            cudaError_t me =
                cudaMemsetAsync(out, 0, (size_t)kp.n * kp.c * kp.h * kp.w * sizeof(T), st);
            if (me != cudaSuccess) return (int)me;
            for (int ci = 0; ci < op.classes; ci++)
                if (op.cls[ci].rc * op.cls[ci].sc == 0) op.cls[ci].hc = 0; /* skipped */
        }
    }
    op.G = kp.g, op.splits = splits;
    op.x_elems = (i64)kp.n * kp.c * kp.h * kp.w;
    op.ws = ws;
    dim3 grid(ceil_div(mmax, bm), ceil_div(kp.cg, bn), kp.g * op.classes * splits);
    /* NHWC: dy is contiguous along k (the reduction); NCHW: along the output position. The
     * channel-chunked A loads a row's E channels at one tap: one thread per row (AK false);
     * its B, the (k,r,s,c) copy, is contiguous along c, the rows, as NHWC's (BKF false). */
    int e;
    if constexpr (CC) {
        e = pl.lm ? launch_cfg<false, false, true, false>(pl.cfg, grid, op, st)
                  : launch_cfg<false, false, false, false>(pl.cfg, grid, op, st);
    } else {
        e = kp.nhwc ? launch_cfg<true, false, false, true>(pl.cfg, grid, op, st)
            : pl.lm ? launch_cfg<true, true, true, false>(pl.cfg, grid, op, st)
                    : launch_cfg<true, true, false, false>(pl.cfg, grid, op, st);
    }
    if (!e) e = (int)cudaGetLastError();
    if (e || splits == 1) return e;
    return sc_gemm_launch_reduce<T>(ws, out, op.x_elems, splits, nullptr, 1, 1, st);
}
} // namespace SC_GEMM_NS

template <>
int sc_gemm_bd<SC_GEMM_ELEM>(const sc_kp &kp, const sc_kplan &pl, const SC_GEMM_ELEM *a,
                             const SC_GEMM_ELEM *b, SC_GEMM_ELEM *out, float *ws, cudaStream_t st)
{
    using namespace SC_GEMM_NS;
    if (pl.gather == SC_GATHER_CC) return gemm_bd<OpBdC, true>(kp, pl, a, b, out, ws, st);
    return gemm_bd<OpBd, false>(kp, pl, a, b, out, ws, st);
}
