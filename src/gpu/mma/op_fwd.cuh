/* op_fwd.cuh - forward on the matrix units, NHWC: M = N*P*Q rows (n,p,q), N = K/groups columns,
 * reduction (r,s,c) with c fastest, per group and split (grid.z = split*G + g).
 *   A = x, K-major: a chunk is 8 (4) consecutive channels of one input pixel, zero outside the
 *       image (padding);
 *   B = w (K,R,S,C/groups), K-major: a chunk is 8 (4) consecutive elements of one output
 *       channel's (r,s,c) row;
 * PAD (C/groups not a multiple of the chunk, e.g. a 3-channel stem): the reduction runs over
 * (r,s,c) with c padded to Cp, a multiple of the chunk; both operands' chunks are then loaded
 * element by element, the padding channels zero (their rows are not 16-byte aligned).
 * ROW (PAD with groups 1 and an undilated filter width, sc_mma_row_fused): a filter row's S*C
 * elements (s, c) are one contiguous run of x's row, x[h][w0 .. w0+S-1][0 .. C-1], and of w's
 * row, so the reduction runs over (r, j) with j = s*C + c padded once per row (Jp): the op is
 * PAD's with Cg = S*C, S = 1, and x's elements outside the image found per element (left and
 * right of the row) rather than per chunk. A 7x7 stem on 3 channels reduces over 7*24 = 168
 * instead of 7*7*8 = 392.
 *   epilogue: bias, y (N,P,Q,K) or the split's fp32 slice; or, for backward-data computed as
 *   forward convolutions per stride class (bd_fwd.cuh, osh > 0), row (n,i,j) of the class to
 *   y (N,OH,OW,K) at pixel (oa + osh*i, ob + osw*j). */
#ifndef SC_GPU_MMA_OP_FWD_CUH
#define SC_GPU_MMA_OP_FWD_CUH

#include "common.cuh"

template <class E, bool PAD, bool ROW = false>
struct MmaFwd {
    typedef E Elem;
    static constexpr bool A_KMAJOR = true, B_KMAJOR = true, A_PAD = PAD, B_PAD = PAD;
    static constexpr bool A_TAP = !PAD, B_WALK = false; /* kernel.cuh: A walks its tap */
    static constexpr bool STORE4 = sizeof(E) == 4;      /* fp32: store4 (sc_mma_tile_out) */
    static constexpr int DIR = SC_DIR_FORWARD;
    static constexpr int V = 16 / sizeof(E);
    const E *x, *w, *bias;
    E *y;
    float *ws;
    int H, W, C, K, P, Q, S, Cg, Cp, Kg, sh, sw, ph, pw, dh, dw;
    int M, Kred, rscg, G, splits, chunk; /* Kred = R*S*Cp; rscg = R*S*Cg, a weight row */
    i64 y_elems;
    sc_fdiv dq, dp, dcg, ds;
    int osh, osw, oa, ob, OH, OW; /* osh = 0: y's pixels are the rows (n,p,q) */

    struct Block {
        int M, N, kbeg, kend, g;
        E *y;
        float *yf;
        const E *bias;
    };
    SC_HD bool block(int z, Block &b) const
    {
        int split = z / G;
        b.g = z - split * G;
        b.M = M, b.N = Kg;
        b.kbeg = split * chunk;
        b.kend = min(Kred, b.kbeg + chunk);
        b.bias = splits > 1 ? nullptr : bias; /* added by the reduction instead */
        sc_split_out(y, ws, y_elems, 0, split, splits, false, &b.y, &b.yf);
        return true;
    }

    struct AIter {
        const E *base; /* x + n*H*W*C + g*Cg */
        int h0, w0, kc;
        bool ok;
    };
    SC_HD void a_init(const Block &b, AIter &it, int m, int kc) const
    {
        it.ok = m < M;
        int mm = it.ok ? m : 0;
        int t = sc_div(mm, dq), q = mm - t * Q;
        int n = sc_div(t, dp), p = t - n * P;
        it.base = x + (i64)n * H * W * C + (i64)b.g * Cg;
        it.h0 = p * sh - ph, it.w0 = q * sw - pw, it.kc = kc;
    }
    /* The chunk's elements lo .. hi-1 are inside the tensor (none: lo >= hi), the returned
     * pointer is element lo's. */
    SC_HD const E *a_src(const Block &b, const AIter &it, int k0, int &lo, int &hi) const
    {
        int k = k0 + it.kc * V;
        int rs = sc_div(k, dcg), c = k - rs * Cp; /* dcg divides by Cp */
        int r = sc_div(rs, ds), s = rs - r * S;
        int h = it.h0 + r * dh, wi = it.w0 + s * dw;
        bool ok = it.ok && k < b.kend && (unsigned)h < (unsigned)H;
        lo = 0, hi = Cg - c;
        if constexpr (ROW) { /* s = 0: elements c.. of the run from pixel wi on */
            lo = max(0, -wi * C - c), hi = min(hi, (W - wi) * C - c);
        } else {
            ok = ok && (unsigned)wi < (unsigned)W;
        }
        if (!ok || lo >= min(hi, V)) {
            lo = hi = 0;
            return x;
        }
        return it.base + (((i64)h * W + wi) * C + c + lo);
    }
    SC_HD const E *a_src(const Block &b, const AIter &it, int k0, bool &valid) const
    {
        int lo, hi;
        const E *p = a_src(b, it, k0, lo, hi);
        valid = hi > lo;
        return p;
    }

    /* wgmma.cuh's gathers, and kernel.cuh's without channel padding (Cp = Cg). Every chunk a
     * thread copies in a stage sits at the same reduction index k (its chunk column), so the tap
     * (r, s, c) of k is kept per thread and walked a stage at a time instead of divided out per
     * chunk, and each row keeps its pixel's offset: a chunk is then two adds, two bounds checks
     * and a pointer add. The address generation of the divided form was most of the wgmma
     * kernel's issue slots. */
    struct ATap {
        int c, s, r, hd, wd; /* hd = r*dh, wd = s*dw */
        i64 off;             /* (hd*W + wd)*C + c */
    };
    SC_HD void a_tap_fix(ATap &t) const
    {
        t.hd = t.r * dh, t.wd = t.s * dw;
        t.off = ((i64)t.hd * W + t.wd) * C + t.c;
    }
    SC_HD void a_tap_init(int k, ATap &t) const
    {
        int rs = sc_div(k, dcg);
        t.c = k - rs * Cp;
        t.r = sc_div(rs, ds), t.s = rs - t.r * S;
        a_tap_fix(t);
    }
    SC_HD void a_tap_step(ATap &t, int kb) const /* k += kb */
    {
        t.c += kb;
        while (t.c >= Cp) {
            t.c -= Cp;
            if (++t.s == S) t.s = 0, t.r++;
        }
        a_tap_fix(t);
    }
    struct ARow {
        i64 pix; /* n*H*W*C + g*Cg + (h0*W + w0)*C: the row's pixel at tap (0, 0) */
        int h0, w0;
        bool ok;
    };
    SC_HD void a_row_init(const Block &b, ARow &it, int m) const
    {
        it.ok = m < M;
        int mm = it.ok ? m : 0;
        int t = sc_div(mm, dq), q = mm - t * Q;
        int n = sc_div(t, dp), p = t - n * P;
        it.h0 = p * sh - ph, it.w0 = q * sw - pw;
        it.pix = (i64)n * H * W * C + (i64)b.g * Cg + ((i64)it.h0 * W + it.w0) * C;
    }
    /* kin: the tap's k is inside the block's reduction */
    SC_HD const E *a_src_tap(const ARow &it, const ATap &t, bool kin, bool &valid) const
    {
        valid = it.ok && kin && (unsigned)(it.h0 + t.hd) < (unsigned)H &&
                (unsigned)(it.w0 + t.wd) < (unsigned)W;
        return valid ? x + (it.pix + t.off) : x;
    }

    struct BIter {
        const E *row; /* w + (g*Kg + k)*Kred */
        int kc;
        bool ok;
    };
    SC_HD void b_init(const Block &b, BIter &it, int col, int kc) const
    {
        it.ok = col < Kg;
        it.row = w + ((i64)b.g * Kg + (it.ok ? col : 0)) * rscg;
        it.kc = kc;
    }
    /* the chunk at reduction index k (kin: k inside the block's reduction) */
    SC_HD const E *b_src_k(const BIter &it, int k, bool kin, bool &valid) const
    {
        valid = it.ok && kin;
        return valid ? it.row + k : w;
    }
    SC_HD const E *b_src(const Block &b, const BIter &it, int k0, bool &valid) const
    {
        int k = k0 + it.kc * V;
        return b_src_k(it, k, k < b.kend, valid);
    }
    SC_HD const E *b_src(const Block &b, const BIter &it, int k0, int &lo, int &hi) const
    {
        int k = k0 + it.kc * V;
        int rs = sc_div(k, dcg), c = k - rs * Cp;
        bool ok = it.ok && k < b.kend;
        lo = 0, hi = ok ? Cg - c : 0;
        return ok ? it.row + rs * Cg + c : w;
    }

    /* the offset in y (or the split slice) of output row m, column col; bias added to v's n */
    SC_HD i64 out_at(const Block &b, int m, int col, float *v, int n) const
    {
        if (b.bias)
            for (int j = 0; j < n; j++) v[j] += sc_get(b.bias + b.g * Kg + col + j);
        i64 pix = m;
        if (osh) { /* a stride class's row (n, i, j) */
            int t = sc_div(m, dq), j = m - t * Q;
            int nn = sc_div(t, dp), i = t - nn * P;
            pix = ((i64)nn * OH + oa + osh * i) * OW + ob + osw * j;
        }
        return pix * K + (i64)b.g * Kg + col;
    }
    SC_HD void store8(const Block &b, int m, int col, float *v) const
    {
        if (m >= M || col >= Kg) return;
        int n = Kg - col < 8 ? Kg - col : 8;
        sc_mma_store8(b.y, b.yf, out_at(b, m, col, v, n), v, n);
    }
    /* 4 columns of an fp32 output (sc_mma_tile_out), whose rows are a multiple of 4 wide
     * (fam_gemm_mma.c, mma_applies: Kg, and backward-data's Cg, multiples of 16 bytes) */
    SC_HD void store4(const Block &b, int m, int col, float *v) const
    {
        if (m >= M || col >= Kg) return;
        sc_mma_store4(b.y, out_at(b, m, col, v, 4), v);
    }
};

/* The operation of a plan, and its grid (host). */
template <class E, bool PAD, bool ROW = false>
static MmaFwd<E, PAD, ROW> sc_mma_fwd_op(const sc_kp &kp, const sc_kplan &pl, const E *x,
                                         const E *w, const E *bias, E *y, float *ws, dim3 *grid)
{
    static_assert(PAD || !ROW, "ROW is a padded mode");
    const int KB = sc_mma_kb(pl.cfg, (int)sizeof(E)), V = 16 / sizeof(E);
    MmaFwd<E, PAD, ROW> op;
    op.x = x, op.w = w, op.bias = bias, op.y = y, op.ws = ws;
    op.H = kp.h, op.W = kp.w, op.C = kp.c, op.K = kp.k, op.P = kp.p, op.Q = kp.q;
    op.S = ROW ? 1 : kp.s, op.Cg = ROW ? kp.s * kp.cg : kp.cg; /* ROW: (s, c) fused */
    op.Kg = kp.kg, op.sh = kp.sh, op.sw = kp.sw, op.ph = kp.ph, op.pw = kp.pw;
    op.dh = kp.dh, op.dw = kp.dw;
    op.Cp = (op.Cg + V - 1) / V * V;
    op.M = kp.n * kp.p * kp.q, op.Kred = op.Cp * kp.r * op.S, op.G = kp.g;
    op.rscg = kp.cg * kp.r * kp.s;
    int splits = pl.splits < 1 ? 1 : pl.splits;
    op.splits = splits;
    op.chunk = (ceil_div(op.Kred, splits) + KB - 1) / KB * KB;
    op.y_elems = (i64)kp.n * kp.p * kp.q * kp.k;
    op.dq = sc_fdiv_make(kp.q), op.dp = sc_fdiv_make(kp.p), op.dcg = sc_fdiv_make(op.Cp);
    op.ds = sc_fdiv_make(op.S);
    op.osh = op.osw = op.oa = op.ob = op.OH = op.OW = 0;
    *grid =
        dim3(ceil_div(op.M, sc_mma_bm(pl.cfg)), ceil_div(kp.kg, sc_mma_bn(pl.cfg)), kp.g * splits);
    return op;
}

#endif /* SC_GPU_MMA_OP_FWD_CUH */
