/* op_bd.cuh - backward-data on the matrix units, NHWC, per stride class (bd_class.cuh), group
 * and split (grid.z = split*(G*classes) + g*classes + class): M = N*Hc*Wc rows (n,i,j) of the
 * class, N = C/groups columns, reduction (rr,ss,k) over the class's taps, k fastest.
 *   A = dy (N,P,Q,K), K-major: a chunk is 8 (4) consecutive output channels of one dy pixel,
 *       zero where the tap falls outside dy;
 *   B = w (K,R,S,C/groups), row-major: a chunk is 8 (4) consecutive input channels of one
 *       (k, r, s);
 *   epilogue: dx (N,H,W,C) at h = a + sh*i, w = b + sw*j, or the split's fp32 slice. A class no
 *   tap reaches runs an empty reduction and writes zeros. */
#ifndef SC_GPU_MMA_OP_BD_CUH
#define SC_GPU_MMA_OP_BD_CUH

#include "common.cuh"

template <class E>
struct MmaBd {
    typedef E Elem;
    static constexpr bool A_KMAJOR = true, B_KMAJOR = false, A_PAD = false, B_PAD = false;
    static constexpr bool A_TAP = false, B_WALK = false; /* kernel.cuh: both k0-addressed */
    static constexpr bool STORE4 = false;                /* store8 only (sc_mma_tile_out) */
    static constexpr int DIR = SC_DIR_BACKWARD_DATA;
    static constexpr int V = 16 / sizeof(E);
    const E *dy, *w;
    E *dx;
    float *ws;
    int N, C, H, W, K, P, Q, R, S, Cg, Kg, sh, sw, G, classes, splits;
    int kb; /* the configuration's reduction step (sc_mma_kb): split chunks are multiples */
    i64 x_elems;
    sc_fdiv dkg;
    BdClass cls[BD_MAX_CLASSES];

    struct Block {
        int M, N, kbeg, kend, g;
        int a, b, hc, wc, sc, dp, dq, pb0, qb0, r0, rstep, s0, sstep;
        sc_fdiv dwc, dhc, ds;
        E *dx;
        float *dxf;
    };
    SC_HD bool block(int z, Block &b) const
    {
        int split = z / (G * classes);
        int zz = z - split * G * classes;
        int g = zz / classes, ci = zz - g * classes;
        const BdClass &k = cls[ci];
        if (k.hc <= 0 || k.wc <= 0) return false;
        b.g = g, b.M = N * k.hc * k.wc, b.N = Cg;
        b.a = k.a, b.b = k.b, b.hc = k.hc, b.wc = k.wc, b.sc = k.sc, b.dp = k.dp, b.dq = k.dq;
        b.pb0 = k.pb0, b.qb0 = k.qb0, b.r0 = k.r0, b.rstep = k.rstep, b.s0 = k.s0;
        b.sstep = k.sstep, b.dwc = k.dwc, b.dhc = k.dhc, b.ds = k.ds;
        int kred = Kg * k.rc * k.sc;
        int chunk = ((kred + splits - 1) / splits + kb - 1) / kb * kb;
        b.kbeg = split * chunk;
        b.kend = min(kred, b.kbeg + chunk);
        sc_split_out(dx, ws, x_elems, 0, split, splits, false, &b.dx, &b.dxf);
        return true;
    }

    struct AIter {
        const E *base; /* dy + n*P*Q*K + g*Kg */
        int pb, qb, kc;
        bool ok;
    };
    SC_HD void a_init(const Block &b, AIter &it, int m, int kc) const
    {
        it.ok = m < b.M;
        int mm = it.ok ? m : 0;
        int t = sc_div(mm, b.dwc), j = mm - t * b.wc;
        int n = sc_div(t, b.dhc), i = t - n * b.hc;
        it.base = dy + (i64)n * P * Q * K + (i64)b.g * Kg;
        it.pb = b.pb0 + i, it.qb = b.qb0 + j, it.kc = kc;
    }
    SC_HD const E *a_src(const Block &b, const AIter &it, int k0, bool &valid) const
    {
        int red = k0 + it.kc * V;
        int rs = sc_div(red, dkg), k = red - rs * Kg;
        int rr = sc_div(rs, b.ds), ss = rs - rr * b.sc;
        int p = it.pb - rr * b.dp, q = it.qb - ss * b.dq;
        valid = it.ok && red < b.kend && (unsigned)p < (unsigned)P && (unsigned)q < (unsigned)Q;
        return valid ? it.base + ((i64)p * Q + q) * K + k : dy;
    }

    struct BIter {
        int col, kk;
        bool ok;
    };
    SC_HD void b_init(const Block &b, BIter &it, int col, int kk) const
    {
        it.ok = col < Cg, it.col = col, it.kk = kk;
    }
    SC_HD const E *b_src(const Block &b, const BIter &it, int k0, bool &valid) const
    {
        int red = k0 + it.kk;
        int rs = sc_div(red, dkg), k = red - rs * Kg;
        int rr = sc_div(rs, b.ds), ss = rs - rr * b.sc;
        int r = b.r0 + rr * b.rstep, s = b.s0 + ss * b.sstep;
        valid = it.ok && red < b.kend;
        return valid ? w + ((((i64)b.g * Kg + k) * R + r) * S + s) * Cg + it.col : w;
    }

    SC_HD void store8(const Block &b, int m, int col, float *v) const
    {
        if (m >= b.M || col >= Cg) return;
        int t = sc_div(m, b.dwc), j = m - t * b.wc;
        int n = sc_div(t, b.dhc), i = t - n * b.hc;
        int h = b.a + sh * i, wi = b.b + sw * j;
        sc_mma_store8(b.dx, b.dxf, (((i64)n * H + h) * W + wi) * C + (i64)b.g * Cg + col, v,
                      Cg - col < 8 ? Cg - col : 8);
    }
};

/* The operation of a plan, and its grid (host); false when the stride has too many classes
 * (fam_gemm_mma.c never plans that). */
template <class E>
static bool sc_mma_bd_op(const sc_kp &kp, const sc_kplan &pl, const E *dy, const E *w, E *dx,
                         float *ws, MmaBd<E> *op, dim3 *grid)
{
    op->dy = dy, op->w = w, op->dx = dx, op->ws = ws;
    op->N = kp.n, op->C = kp.c, op->H = kp.h, op->W = kp.w, op->K = kp.k, op->P = kp.p;
    op->Q = kp.q, op->R = kp.r, op->S = kp.s, op->Cg = kp.cg, op->Kg = kp.kg, op->sh = kp.sh;
    op->sw = kp.sw, op->G = kp.g, op->classes = kp.sh * kp.sw;
    if (op->classes > BD_MAX_CLASSES) return false;
    sc_bd_classes(kp, op->cls);
    int splits = pl.splits < 1 ? 1 : pl.splits;
    op->splits = splits;
    op->kb = sc_mma_kb(pl.cfg, (int)sizeof(E));
    op->x_elems = (i64)kp.n * kp.h * kp.w * kp.c;
    op->dkg = sc_fdiv_make(kp.kg);
    i64 mmax = (i64)kp.n * ((kp.h + kp.sh - 1) / kp.sh) * ((kp.w + kp.sw - 1) / kp.sw);
    *grid = dim3(ceil_div(mmax, sc_mma_bm(pl.cfg)), ceil_div(kp.cg, sc_mma_bn(pl.cfg)),
                 kp.g * op->classes * splits);
    return true;
}

#endif /* SC_GPU_MMA_OP_BD_CUH */
