/* op_bw.cuh - backward-weight on the matrix units, NHWC, per group and split (grid.z =
 * split*G + g): M = K/groups rows (k), N = R*S*C/groups columns (r,s,c), reduction over the
 * split's slice of N*P*Q.
 *   A = dy (N,P,Q,K), row-major: a chunk is 8 (4) consecutive output channels of one dy pixel;
 *   B = x (N,H,W,C), row-major: a chunk is 8 (4) consecutive channels at one (r, s) of one
 *       pixel, zero outside the image;
 * PAD (C/groups not a multiple of the chunk): the columns are (r,s,c) with c padded to Cp; x's
 * chunks are loaded element by element, the padding columns zero and never stored.
 *   epilogue: dw (K,R,S,C/groups) or the split's fp32 slice (the reduction adds the slices in
 *   split order: the same bits every run). */
#ifndef SC_GPU_MMA_OP_BW_CUH
#define SC_GPU_MMA_OP_BW_CUH

#include "common.cuh"

template <class E, bool PAD>
struct MmaBw {
    typedef E Elem;
    static constexpr bool A_KMAJOR = false, B_KMAJOR = false, A_PAD = false, B_PAD = PAD;
    static constexpr int DIR = SC_DIR_BACKWARD_WEIGHT;
    const E *x, *dy;
    E *dw;
    float *ws;
    int H, W, C, K, P, Q, S, Cg, Cp, Kg, sh, sw, ph, pw, dh, dwl;
    int G, splits, chunk, npq, rscg, rscp; /* rscg = R*S*Cg (dw's rows), rscp = R*S*Cp */
    i64 wsize;
    sc_fdiv dq, dpq, dcg, ds;

    struct Block {
        int M, N, kbeg, kend, g;
        E *out;
        float *outf;
    };
    SC_HD bool block(int z, Block &b) const
    {
        int split = z / G;
        b.g = z - split * G;
        b.M = Kg, b.N = rscp;
        b.kbeg = split * chunk;
        b.kend = min(npq, b.kbeg + chunk);
        sc_split_out(dw, ws, wsize, (i64)b.g * Kg * rscg, split, splits, false, &b.out, &b.outf);
        return true;
    }

    struct AIter {
        const E *base; /* dy + g*Kg + k0 of the chunk */
        int kk;
        bool ok;
    };
    SC_HD void a_init(const Block &b, AIter &it, int col, int kk) const
    {
        it.ok = col < Kg;
        it.base = dy + (i64)b.g * Kg + (it.ok ? col : 0);
        it.kk = kk;
    }
    SC_HD const E *a_src(const Block &b, const AIter &it, int k0, bool &valid) const
    {
        int red = k0 + it.kk;
        valid = it.ok && red < b.kend;
        return valid ? it.base + (i64)red * K : dy;
    }

    struct BIter {
        const E *base; /* x + g*Cg + c */
        int roff, soff, kk, cnt;
        bool ok;
    };
    SC_HD void b_init(const Block &b, BIter &it, int col, int kk) const
    {
        it.ok = col < rscp;
        int cc = it.ok ? col : 0;
        int rs = sc_div(cc, dcg), c = cc - rs * Cp; /* dcg divides by Cp */
        it.cnt = Cg - c;
        int r = sc_div(rs, ds), s = rs - r * S;
        it.base = x + (i64)b.g * Cg + c;
        it.roff = r * dh - ph, it.soff = s * dwl - pw, it.kk = kk;
    }
    SC_HD const E *b_src(const Block &b, const BIter &it, int k0, bool &valid) const
    {
        int red = k0 + it.kk;
        int n = sc_div(red, dpq), pq = red - n * P * Q;
        int p = sc_div(pq, dq), q = pq - p * Q;
        int h = p * sh + it.roff, wi = q * sw + it.soff;
        valid = it.ok && red < b.kend && (unsigned)h < (unsigned)H && (unsigned)wi < (unsigned)W;
        return valid ? it.base + (((i64)n * H + h) * W + wi) * C : x;
    }
    SC_HD const E *b_src(const Block &b, const BIter &it, int k0, int &cnt) const
    {
        bool valid;
        const E *p = b_src(b, it, k0, valid);
        cnt = valid ? it.cnt : 0;
        return p;
    }

    SC_HD void store8(const Block &b, int m, int col, float *v) const
    {
        if (m >= Kg || col >= rscp) return;
        if constexpr (!PAD) {
            sc_mma_store8(b.out, b.outf, (i64)m * rscg + col, v, rscg - col < 8 ? rscg - col : 8);
        } else {
            for (int j = 0; j < 8 && col + j < rscp; j++) { /* padded column -> dw's, if real */
                int rs = sc_div(col + j, dcg), c = col + j - rs * Cp;
                if (c < Cg) sc_split_store(b.out, b.outf, (i64)m * rscg + rs * Cg + c, v[j]);
            }
        }
    }
};

/* The operation of a plan, and its grid (host). */
template <class E, bool PAD>
static MmaBw<E, PAD> sc_mma_bw_op(const sc_kp &kp, const sc_kplan &pl, const E *x, const E *dy,
                                  E *dw, float *ws, dim3 *grid)
{
    const int KB = sc_mma_kb(pl.cfg, (int)sizeof(E)), V = 16 / sizeof(E);
    MmaBw<E, PAD> op;
    op.x = x, op.dy = dy, op.dw = dw, op.ws = ws;
    op.H = kp.h, op.W = kp.w, op.C = kp.c, op.K = kp.k, op.P = kp.p, op.Q = kp.q, op.S = kp.s;
    op.Cg = kp.cg, op.Kg = kp.kg, op.sh = kp.sh, op.sw = kp.sw, op.ph = kp.ph, op.pw = kp.pw;
    op.dh = kp.dh, op.dwl = kp.dw, op.G = kp.g;
    int splits = pl.splits < 1 ? 1 : pl.splits;
    op.npq = kp.n * kp.p * kp.q;
    op.splits = splits;
    op.chunk = (ceil_div(op.npq, splits) + KB - 1) / KB * KB;
    op.Cp = (kp.cg + V - 1) / V * V;
    op.rscg = kp.r * kp.s * kp.cg;
    op.rscp = kp.r * kp.s * op.Cp;
    op.wsize = (i64)kp.k * op.rscg;
    op.dq = sc_fdiv_make(kp.q), op.dpq = sc_fdiv_make(kp.p * kp.q), op.dcg = sc_fdiv_make(op.Cp);
    op.ds = sc_fdiv_make(kp.s);
    *grid = dim3(ceil_div(kp.kg, sc_mma_bm(pl.cfg)), ceil_div(op.rscp, sc_mma_bn(pl.cfg)),
                 kp.g * splits);
    return op;
}

#endif /* SC_GPU_MMA_OP_BW_CUH */
