/* op_bw.cuh - backward-weight on the matrix units, NHWC, per group and split (grid.z =
 * split*G + g): M = K/groups rows (k), N = R*S*C/groups columns (r,s,c), reduction over the
 * split's slice of N*P*Q.
 *   A = dy (N,P,Q,K), row-major: a chunk is 8 (4) consecutive output channels of one dy pixel;
 *   B = x (N,H,W,C), row-major: a chunk is 8 (4) consecutive channels at one (r, s) of one
 *       pixel, zero outside the image;
 * PAD (C/groups not a multiple of the chunk): the columns are (r,s,c) with c padded to Cp; x's
 * chunks are loaded element by element, the padding columns zero and never stored. (Forward's
 * ROW mode, op_fwd.cuh, is not used here: it ran slower than this per-tap padding in three of
 * four stem cases, bench/NOTES.md.)
 *   epilogue: dw (K,R,S,C/groups) or the split's fp32 slice (the reduction adds the slices in
 *   split order: the same bits every run). */
#ifndef SC_GPU_MMA_OP_BW_CUH
#define SC_GPU_MMA_OP_BW_CUH

#include "common.cuh"

template <class E, bool PAD>
struct MmaBw {
    typedef E Elem;
    static constexpr bool A_KMAJOR = false, B_KMAJOR = false, A_PAD = false, B_PAD = PAD;
    static constexpr bool A_TAP = false, B_WALK = true;
    static constexpr bool STORE4 = false; /* store8 only (sc_mma_tile_out) */
    static constexpr int DIR = SC_DIR_BACKWARD_WEIGHT;
    const E *x, *dy;
    E *dw;
    float *ws;
    int H, W, C, K, P, Q, S, Cg, Cp, Kg, sh, sw, ph, pw, dh, dwl;
    int G, splits, chunk, npq, rscg, rscp; /* rscg = R*S*Cg (dw's rows), rscp = R*S*Cp */
    i64 wsize;
    sc_fdiv dq, dpq, dcg, ds;
    /* x's walk (b_next): a step of kb = a*Q + b reduction indices moves a pixel by st_q = b*sw
     * columns, st_p = (a mod P)*sh rows and kb / (P*Q) images (st_pix elements in all), then
     * carries: wrap_q = (sh*W - Q*sw)*C, wrap_p = (H - P*sh)*W*C */
    int kb, st_q, st_p, Qsw, Psh;
    i64 st_pix, wrap_q, wrap_p;

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

    /* x's chunks walk the reduction (kernel.cuh, B_WALK): each chunk keeps the pixel (n, p, q)
     * of its reduction index and is stepped kb (one stage) at a time, so a chunk is two bounds
     * checks and an add instead of two divisions and a 64-bit address product. The column's tap
     * (r, s, c) is fixed for the whole reduction. Stages are loaded in order, once each. */
    struct BIter {
        i64 toff;   /* g*Cg + c + (roff*W + soff)*C: the column's tap, relative to the pixel */
        i64 pix;    /* ((n*H + p*sh)*W + q*sw)*C: the pixel of the next chunk */
        int hp, wq; /* p*sh, q*sw of that pixel */
        int roff, soff, red, cnt;
        bool ok;
    };
    SC_HD void b_init(const Block &b, BIter &it, int col, int kk) const
    {
        it.ok = col < rscp;
        int cc = it.ok ? col : 0;
        int rs = sc_div(cc, dcg), c = cc - rs * Cp; /* dcg divides by Cp */
        it.cnt = Cg - c;
        int r = sc_div(rs, ds), s = rs - r * S;
        it.roff = r * dh - ph, it.soff = s * dwl - pw;
        it.toff = (i64)b.g * Cg + c + ((i64)it.roff * W + it.soff) * C;
        it.red = b.kbeg + kk;
        int n = sc_div(it.red, dpq), pq = it.red - n * P * Q;
        int p = sc_div(pq, dq), q = pq - p * Q;
        it.hp = p * sh, it.wq = q * sw;
        it.pix = (((i64)n * H + it.hp) * W + it.wq) * C;
    }
    /* the chunk at the iterator's reduction index, its elements lo .. hi-1 inside the tensor (none:
     * lo >= hi; the pointer is element lo's); then it moves kb further */
    SC_HD const E *b_next(const Block &b, BIter &it, int &lo, int &hi) const
    {
        int h = it.hp + it.roff, wi = it.wq + it.soff;
        bool ok =
            it.ok && it.red < b.kend && (unsigned)h < (unsigned)H && (unsigned)wi < (unsigned)W;
        lo = 0, hi = ok ? it.cnt : 0;
        const E *src = ok ? x + (it.pix + it.toff) : x;
        it.red += kb, it.hp += st_p, it.wq += st_q, it.pix += st_pix;
        if (it.wq >= Qsw) it.wq -= Qsw, it.hp += sh, it.pix += wrap_q; /* q passed Q: p + 1 */
        if (it.hp >= Psh) it.hp -= Psh, it.pix += wrap_p;              /* p passed P: n + 1 */
        return src;
    }
    SC_HD const E *b_next(const Block &b, BIter &it, bool &valid) const
    {
        int lo, hi;
        const E *p = b_next(b, it, lo, hi);
        valid = hi > lo;
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
    op.kb = KB;
    op.st_q = KB % kp.q * kp.sw, op.st_p = KB / kp.q % kp.p * kp.sh;
    op.Qsw = kp.q * kp.sw, op.Psh = kp.p * kp.sh;
    op.st_pix = ((i64)(KB / (kp.p * kp.q)) * kp.h * kp.w + (i64)op.st_p * kp.w + op.st_q) * kp.c;
    op.wrap_q = ((i64)kp.sh * kp.w - op.Qsw) * kp.c;
    op.wrap_p = (i64)(kp.h - op.Psh) * kp.w * kp.c;
    *grid = dim3(ceil_div(kp.kg, sc_mma_bm(pl.cfg)), ceil_div(op.rscp, sc_mma_bn(pl.cfg)),
                 kp.g * splits);
    return op;
}

#endif /* SC_GPU_MMA_OP_BW_CUH */
