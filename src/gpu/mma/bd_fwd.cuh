/* bd_fwd.cuh - backward-data (groups 1) on the wgmma kernel (configurations 5 to 8), which reads
 * both operands K-major: as one forward convolution per stride class (gemm/bd_class.cuh).
 *
 * dx positions h = a + sh*i, w = b + sw*j (i < hc, j < wc) of class (a, b) take the taps
 * r = r0 + rr*rstep (rr < rc) at dy row p = pb0 + i - rr*dp, likewise s and q. Turning the class's
 * taps (rf = rc-1-rr) makes that the forward convolution of dy (N, P, Q, K: input of K channels)
 * with the class filter
 *   wt[c][rf][sf][k] = w[k][r0 + (rc-1-rf)*rstep][s0 + (sc-1-sf)*sstep][c]   (C x rc x sc x K)
 * at stride 1, dilation (dp, dq) and padding ((rc-1)*dp - pb0, (sc-1)*dq - qb0) (possibly
 * negative: the gathers test every tap's bounds), whose output row (n, i, j) is dx's pixel
 * (a + sh*i, b + sw*j) (MmaFwd's osh mode). Both operands are then K-major: dy's chunks run
 * along its channels, wt's rows along (rf, sf, k). At stride 1 the one class is the whole
 * filter turned 180 degrees and transposed (padding (R-1)*dil - pad), written as plain forward
 * rows. A class no tap reaches runs an empty reduction and writes zeros; a class with no dx
 * position is skipped.
 *
 * The class filters lie one after another at the start of the workspace (each class's taps are
 * its own, so they take at most the filter's size: sc_mma_wgmma_filter_bytes), the split slices
 * after them; the caller reduces the slices over all of dx once every class has run. */
#ifndef SC_GPU_MMA_BD_FWD_CUH
#define SC_GPU_MMA_BD_FWD_CUH

#include "op_fwd.cuh"

/* A filter copy: element i of the destination from element src(i) of w (K x R x S x C). TURN:
 * one stride class's turned filter (above), the destination C x rc x sc x K; otherwise w as it
 * is (TF32 forward's rounded copy). */
struct BdTurn {
    int K, R, S, C, r0, rstep, rc, s0, sstep, sc;
};
SC_HD i64 sc_bd_turn_src(const BdTurn &t, i64 i)
{
    int k = (int)(i % t.K);
    i64 u = i / t.K;
    int sf = (int)(u % t.sc);
    u /= t.sc;
    int rf = (int)(u % t.rc), c = (int)(u / t.rc);
    int r = t.r0 + (t.rc - 1 - rf) * t.rstep, s = t.s0 + (t.sc - 1 - sf) * t.sstep;
    return (((i64)k * t.R + r) * t.S + s) * t.C + c;
}

/* The split slices in the workspace ws of backward-data on configurations 5 to 8: after the
 * class filters. */
static inline float *sc_mma_bd_fwd_slices(const sc_kp &kp, float *ws)
{
    return (float *)((char *)ws + sc_mma_wgmma_filter_bytes(&kp, SC_DIR_BACKWARD_DATA));
}

/* Backward-data of kp (groups 1) as per-class forward operations: copy(turn, n, dst) writes the
 * n elements of a class filter to dst, run(op, grid) computes one class; each returns 0 or an
 * error, the first of which is returned. The caller reduces split slices afterwards. */
template <class E, class Copy, class Run>
static int sc_mma_bd_as_fwd(const sc_kp &kp, const sc_kplan &pl, const E *dy, E *dx, float *ws,
                            Copy copy, Run run)
{
    BdClass cls[BD_MAX_CLASSES];
    if (kp.g != 1 || kp.sh * kp.sw > BD_MAX_CLASSES) return (int)cudaErrorInvalidValue;
    sc_bd_classes(kp, cls);
    E *wt = (E *)ws;
    float *slices = sc_mma_bd_fwd_slices(kp, ws);
    const bool strided = kp.sh > 1 || kp.sw > 1;
    i64 woff = 0;
    for (int ci = 0; ci < kp.sh * kp.sw; ci++) {
        const BdClass &k = cls[ci];
        if (k.hc <= 0 || k.wc <= 0) continue; /* no dx position */
        const bool taps = k.rc > 0 && k.sc > 0;
        sc_kp f = kp; /* the forward convolution dy -> the class's dx pixels */
        f.h = kp.p, f.w = kp.q, f.c = f.cg = kp.k, f.k = f.kg = kp.c;
        f.p = k.hc, f.q = k.wc, f.sh = f.sw = 1;
        f.r = taps ? k.rc : 1, f.s = taps ? k.sc : 1;
        f.dh = taps ? k.dp : 1, f.dw = taps ? k.dq : 1;
        f.ph = taps ? (k.rc - 1) * k.dp - k.pb0 : 0, f.pw = taps ? (k.sc - 1) * k.dq - k.qb0 : 0;
        const i64 n = taps ? (i64)kp.c * k.rc * k.sc * kp.k : 0;
        if (taps) {
            BdTurn t = {kp.k, kp.r, kp.s, kp.c, k.r0, k.rstep, k.rc, k.s0, k.sstep, k.sc};
            if (int e = copy(t, n, wt + woff)) return e;
        }
        dim3 grid;
        MmaFwd<E, false> op =
            sc_mma_fwd_op<E, false>(f, pl, dy, wt + woff, nullptr, dx, slices, &grid);
        op.y_elems = (i64)kp.n * kp.h * kp.w * kp.c; /* the slices are dx's size */
        if (strided)
            op.osh = kp.sh, op.osw = kp.sw, op.oa = k.a, op.ob = k.b, op.OH = kp.h, op.OW = kp.w;
        if (!taps) op.Kred = op.chunk = 0; /* zeros */
        if (int e = run(op, grid)) return e;
        woff += n;
    }
    return 0;
}

#endif /* SC_GPU_MMA_BD_FWD_CUH */
