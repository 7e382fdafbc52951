/* gemm.cu - implicit GEMM for forward, backward-data and backward-weight, fp32 on the FMA units.
 *
 * Each direction is one GEMM  C[M][N] = sum_k A[m][k] * B[k][n]  (DESIGN.md, "Kernels"), with
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
 * Index math is 32-bit with multiply-high division by the run-time sizes (backend.cu keeps
 * every GEMM size under 2^31); addresses are 64-bit: a 64-bit base plus, in the channel-chunked
 * and bw32 gathers, a 32-bit in-image offset. */
#include "kern.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <type_traits>

typedef long long i64;
#define BK 8
#define NT 256
#ifndef SC_GEMM_LM_DEFAULT
#define SC_GEMM_LM_DEFAULT 1
#endif

/* ---- operand gathers ---------------------------------------------------------------------- */
/* A row descriptor's coordinate set to SC_ROW_NONE marks a row past the GEMM: every coordinate
 * derived from it (the sentinel plus or minus a tap offset below 2^30, by make_kp's size limits
 * in backend.cu) is negative without overflowing, so it fails the unsigned bounds test and the
 * row reads 0 without a separate flag (rows are 16 bytes: one shared-memory load). */
#define SC_ROW_NONE (-(1 << 30))
/* Each gather has: Row (per tile row, fixed over the reduction), Kst (per reduction index),
 * row(idx), kdec(kk), knext(Kst) (the state of kk+1; by value, so no compiler puts it in
 * scratch), and load(Row, Kst) returning 0 outside the tensor. */

/* Forward A: x at rows m = (n,p,q), reduction (c,r,s). */
struct GFwdX {
    static constexpr bool cheap_row = false;
    const float *x;
    int m_count, k_count;
    sc_fdiv dq, dp, drs, ds, dcg;
    int C, H, W, R, S, Cg, Q, P, sh, sw, ph, pw, dh, dw, nhwc;
    i64 goff; /* g*Cg*(H*W) or g*Cg */
    struct Row {
        i64 base;
        int h0, w0; /* h0 = SC_ROW_NONE: a row past the GEMM (every load reads 0) */
    };
    struct Kst {
        int c, r, s, kk;
    };
    __device__ Row row(int m) const
    {
        Row o;
        bool ok = m < m_count;
        int mm = ok ? m : 0;
        int t = sc_div(mm, dq), q = mm - t * Q;
        int n = sc_div(t, dp), p = t - n * P;
        o.base = (i64)n * C * H * W + goff;
        o.h0 = ok ? p * sh - ph : SC_ROW_NONE;
        o.w0 = q * sw - pw;
        return o;
    }
    /* kk in (r,s,c) order: NHWC, and the channel-chunked GFwdXc */
    __device__ Kst kdec_rsc(int kk) const
    {
        Kst k;
        int rs = sc_div(kk, dcg);
        k.kk = kk;
        k.c = kk - rs * Cg;
        k.r = sc_div(rs, ds);
        k.s = rs - k.r * S;
        return k;
    }
    __device__ Kst kdec(int kk) const
    {
        if (nhwc) return kdec_rsc(kk);
        Kst k;
        k.kk = kk;
        k.c = sc_div(kk, drs);
        int rs = kk - k.c * R * S;
        k.r = sc_div(rs, ds);
        k.s = rs - k.r * S;
        return k;
    }
    __device__ Kst knext(Kst k) const
    {
        k.kk++;
        if (nhwc) {
            if (++k.c == Cg) {
                k.c = 0;
                if (++k.s == S) {
                    k.s = 0;
                    k.r++;
                }
            }
        } else {
            if (++k.s == S) {
                k.s = 0;
                if (++k.r == R) {
                    k.r = 0;
                    k.c++;
                }
            }
        }
        return k;
    }
    __device__ float load(const Row &o, const Kst &k) const
    {
        int h = o.h0 + k.r * dh, w = o.w0 + k.s * dw;
        if (k.kk >= k_count || (unsigned)h >= (unsigned)H || (unsigned)w >= (unsigned)W) return 0.f;
        i64 off = nhwc ? ((i64)h * W + w) * C + k.c : (i64)k.c * H * W + (i64)h * W + w;
        return __ldg(x + o.base + off);
    }
};

/* Forward B: w at cols k, reduction kk (already in the weight's own order). cheap_row: row()
 * is one multiply-add, so a KFAST loader recomputes it per tile instead of holding E row
 * descriptors in registers (the 128x128 tile's register budget). */
struct GFwdW {
    static constexpr bool cheap_row = true;
    const float *w;
    int n_count, k_count;
    i64 goff; /* g*Kg*CgRS */
    struct Row {
        i64 base;
        bool ok;
    };
    struct Kst {
        int kk;
    };
    __device__ Row row(int k) const
    {
        Row o;
        o.ok = k < n_count;
        o.base = goff + (i64)(o.ok ? k : 0) * k_count;
        return o;
    }
    __device__ Kst kdec(int kk) const
    {
        Kst k;
        k.kk = kk;
        return k;
    }
    __device__ Kst knext(Kst k) const
    {
        k.kk++;
        return k;
    }
    __device__ float load(const Row &o, const Kst &k) const
    {
        return (o.ok && k.kk < k_count) ? __ldg(w + o.base + k.kk) : 0.f;
    }
};

/* Backward-data stride class: output positions h = a + sh*i, w = b + sw*j; taps
 * r = r0 + rr*rstep (rr < Rc), p = pb0 + i - rr*dp; likewise s, q. */
#define BD_MAX_CLASSES 16
struct BdClass {
    int a, b, hc, wc;
    int r0, rstep, rc, dp, pb0;
    int s0, sstep, sc, dq, qb0;
    sc_fdiv dwc, dhc, drs, ds;
};

static int gcd_h(int a, int b)
{
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Taps of one dimension for residue a: r*dil == a + pad (mod stride). Host side. */
static void bd_dim(int a, int pad, int stride, int dil, int R, int &r0, int &rstep, int &rc,
                   int &dp, int &pb0)
{
    rstep = stride / gcd_h(stride, dil);
    r0 = -1;
    for (int r = 0; r < rstep && r < R; r++)
        if ((((long long)a + pad - (long long)r * dil) % stride + stride) % stride == 0) {
            r0 = r;
            break;
        }
    if (r0 < 0) {
        r0 = 0;
        rc = 0;
    } else
        rc = (R - 1 - r0) / rstep + 1;
    dp = rstep * dil / stride;
    long long num = (long long)a + pad - (long long)r0 * dil; /* divisible when rc > 0 */
    pb0 = rc > 0 ? (int)(num >= 0 ? num / stride : -((-num) / stride)) : 0;
}

/* Backward-data reduction index kk -> (k, rr, ss) for GBdDy, GBdW and their channel-chunked
 * forms (fields dkg, Kg, ds, sc, drs, rc): (rr,ss,k) order when rsk (NHWC, channel-chunked),
 * else (k,rr,ss). */
template <class Kst, class G>
__device__ __forceinline__ Kst bd_kdec(const G &g, int kk, bool rsk)
{
    Kst k;
    k.kk = kk;
    if (rsk) {
        int rs = sc_div(kk, g.dkg);
        k.k = kk - rs * g.Kg;
        k.rr = sc_div(rs, g.ds);
        k.ss = rs - k.rr * g.sc;
    } else {
        k.k = sc_div(kk, g.drs);
        int rs = kk - k.k * g.rc * g.sc;
        k.rr = sc_div(rs, g.ds);
        k.ss = rs - k.rr * g.sc;
    }
    return k;
}

/* Backward-data A: dy at rows m = (n,i,j), reduction (k,rr,ss) NCHW / (rr,ss,k) NHWC. */
struct GBdDy {
    static constexpr bool cheap_row = false;
    const float *dy;
    int m_count, k_count;
    sc_fdiv dwc, dhc, drs, ds, dkg; /* drs/ds: by Rc*Sc, Sc */
    int K, P, Q, Kg, rc, sc, dp, dq, pb0, qb0, hc, wc, nhwc;
    i64 goff; /* g*Kg*P*Q (NCHW) or g*Kg */
    struct Row {
        i64 base;
        int pb, qb; /* pb = SC_ROW_NONE: a row past the GEMM */
    };
    struct Kst {
        int k, rr, ss, kk;
    };
    __device__ Row row(int m) const
    {
        Row o;
        bool ok = m < m_count;
        int mm = ok ? m : 0;
        int t = sc_div(mm, dwc), j = mm - t * wc;
        int n = sc_div(t, dhc), i = t - n * hc;
        o.base = (i64)n * K * P * Q + goff;
        o.pb = ok ? pb0 + i : SC_ROW_NONE;
        o.qb = qb0 + j;
        return o;
    }
    __device__ Kst kdec(int kk) const { return bd_kdec<Kst>(*this, kk, nhwc); }
    __device__ Kst knext(Kst k) const
    {
        k.kk++;
        if (nhwc) {
            if (++k.k == Kg) {
                k.k = 0;
                if (++k.ss == sc) {
                    k.ss = 0;
                    k.rr++;
                }
            }
        } else {
            if (++k.ss == sc) {
                k.ss = 0;
                if (++k.rr == rc) {
                    k.rr = 0;
                    k.k++;
                }
            }
        }
        return k;
    }
    __device__ float load(const Row &o, const Kst &k) const
    {
        int p = o.pb - k.rr * dp, q = o.qb - k.ss * dq;
        if (k.kk >= k_count || (unsigned)p >= (unsigned)P || (unsigned)q >= (unsigned)Q) return 0.f;
        i64 off = nhwc ? ((i64)p * Q + q) * K + k.k : (i64)k.k * P * Q + (i64)p * Q + q;
        return __ldg(dy + o.base + off);
    }
};

/* Backward-data B: w at cols c, reduction as GBdDy. */
struct GBdW {
    static constexpr bool cheap_row = true;
    const float *w;
    int n_count, k_count;
    sc_fdiv drs, ds, dkg;
    int Cg, R, S, Kg, rc, sc, r0, rstep, s0, sstep, nhwc;
    i64 goff; /* g*Kg*Cg*R*S */
    struct Row {
        int c;
        bool ok;
    };
    struct Kst {
        int k, rr, ss, kk;
    };
    __device__ Row row(int c) const
    {
        Row o;
        o.ok = c < n_count;
        o.c = o.ok ? c : 0;
        return o;
    }
    __device__ Kst kdec(int kk) const { return bd_kdec<Kst>(*this, kk, nhwc); }
    __device__ Kst knext(Kst k) const
    {
        k.kk++;
        if (nhwc) {
            if (++k.k == Kg) {
                k.k = 0;
                if (++k.ss == sc) {
                    k.ss = 0;
                    k.rr++;
                }
            }
        } else {
            if (++k.ss == sc) {
                k.ss = 0;
                if (++k.rr == rc) {
                    k.rr = 0;
                    k.k++;
                }
            }
        }
        return k;
    }
    __device__ float load(const Row &o, const Kst &k) const
    {
        if (!o.ok || k.kk >= k_count) return 0.f;
        int r = r0 + k.rr * rstep, s = s0 + k.ss * sstep;
        i64 off = nhwc ? (((i64)k.k * R + r) * S + s) * Cg + o.c
                       : (((i64)k.k * Cg + o.c) * R + r) * S + s;
        return __ldg(w + goff + off);
    }
};

/* ---- channel-chunked gathers (NCHW forward and backward-data) ---------------------------------
 * The gathers above follow the weight's own (c,r,s) order for NCHW, so the 8 reduction indices
 * of one BK step are 8 taps spread over channels: every element needs its own tap decode,
 * bounds test and address. The "cc" plans (sc_gemm_plan::cc) reorder the NCHW reduction as
 * (r,s,c), channel fastest, like NHWC: with the channel count a multiple of BK (cc_applies),
 * one BK step is 8 channels at one tap, so the E elements a row-loader thread takes share one
 * bounds test and differ only by a plane stride, and every step is full (no kk < k_count test);
 * offsets inside one image and group are 32-bit (cc_applies), summed before they meet the
 * 64-bit base and unsigned (one add with carry per address instead of a sign extension and
 * two adds; loads with a negative offset are never issued). The weight is first copied into
 * the workspace in (k,r,s,c) order (transpose_krsc), the NHWC weight layout, so the B side is
 * the plain gathers reading contiguous channels: GFwdW as is (its reduction index is the copy's
 * own offset), GBdWt for backward-data. Only the summation order differs from the plain plans. */

/* Forward A, reduction (r,s,c): kdec is GFwdX's NHWC decode; knext only steps c (the E
 * elements of one thread never cross a tap: E divides BK, BK divides Cg). */
struct GFwdXc : GFwdX {
    __device__ Kst kdec(int kk) const { return kdec_rsc(kk); }
    __device__ Kst knext(Kst k) const
    {
        k.c++;
        return k;
    }
    __device__ float load(const Row &o, const Kst &k) const
    {
        int h = o.h0 + k.r * dh, w = o.w0 + k.s * dw;
        if ((unsigned)h >= (unsigned)H || (unsigned)w >= (unsigned)W) return 0.f;
        return __ldg(x + o.base + (unsigned)((k.c * H + h) * W + w));
    }
};

/* Backward-data A, reduction (rr,ss,k): GBdDy's NHWC decode, NCHW addresses. */
struct GBdDyc : GBdDy {
    __device__ Kst kdec(int kk) const { return bd_kdec<Kst>(*this, kk, true); }
    __device__ Kst knext(Kst k) const
    {
        k.k++;
        return k;
    }
    __device__ float load(const Row &o, const Kst &k) const
    {
        int p = o.pb - k.rr * dp, q = o.qb - k.ss * dq;
        if ((unsigned)p >= (unsigned)P || (unsigned)q >= (unsigned)Q) return 0.f;
        return __ldg(dy + o.base + (unsigned)((k.k * P + p) * Q + q));
    }
};

/* Backward-data B on the (k,r,s,c) copy, reduction (rr,ss,k) as GBdDyc: one thread per row c
 * takes E consecutive k at one tap (a plane of Cg*R*S floats apart), a warp 32 consecutive c.
 * 32-bit offsets inside one group's weights (cc_applies). */
struct GBdWt : GBdW {
    struct Kst {
        int off; /* ((k*R + r)*S + s) * Cg */
    };
    __device__ Kst kdec(int kk) const
    {
        GBdW::Kst t = bd_kdec<GBdW::Kst>(*this, kk, true);
        Kst o;
        o.off = ((t.k * R + r0 + t.rr * rstep) * S + s0 + t.ss * sstep) * Cg;
        return o;
    }
    __device__ Kst knext(Kst k) const
    {
        k.off += R * S * Cg;
        return k;
    }
    __device__ float load(const Row &o, const Kst &k) const
    {
        return o.ok ? __ldg(w + goff + (unsigned)(k.off + o.c)) : 0.f;
    }
};

/* Backward-weight A: dy at rows k, reduction (n,p,q) in [kbeg, kend). */
struct GBwDy {
    static constexpr bool cheap_row = true;
    const float *dy;
    int m_count, k_end;
    sc_fdiv dq, dpq;
    int K, P, Q, nhwc;
    i64 goff; /* g*Kg */
    struct Row {
        i64 off;
        bool ok;
    };
    struct Kst {
        int n, p, q, kk;
    };
    __device__ Row row(int k) const
    {
        Row o;
        o.ok = k < m_count;
        i64 kc = goff + (o.ok ? k : 0);
        o.off = nhwc ? kc : kc * P * Q;
        return o;
    }
    __device__ Kst kdec(int kk) const
    {
        Kst k;
        k.kk = kk;
        k.n = sc_div(kk, dpq);
        int pq = kk - k.n * P * Q;
        k.p = sc_div(pq, dq);
        k.q = pq - k.p * Q;
        return k;
    }
    __device__ Kst knext(Kst k) const
    {
        k.kk++;
        if (++k.q == Q) {
            k.q = 0;
            if (++k.p == P) {
                k.p = 0;
                k.n++;
            }
        }
        return k;
    }
    __device__ float load(const Row &o, const Kst &k) const
    {
        if (!o.ok || k.kk >= k_end) return 0.f;
        i64 pix = ((i64)k.n * P + k.p) * Q + k.q;
        i64 idx = nhwc ? pix * K + o.off : (i64)k.n * K * P * Q + o.off + (i64)k.p * Q + k.q;
        return __ldg(dy + idx);
    }
};

/* Backward-weight B: x at cols (c,r,s) NCHW / (r,s,c) NHWC, reduction (n,p,q). */
struct GBwX {
    static constexpr bool cheap_row = false;
    const float *x;
    int n_count, k_end;
    sc_fdiv dq, dpq, drs, ds, dcg;
    int C, H, W, R, S, Cg, P, Q, sh, sw, ph, pw, dh, dw, nhwc;
    i64 goff; /* g*Cg */
    struct Row {
        i64 coff;
        int hr, ws; /* hr = SC_ROW_NONE: a column past the GEMM */
    };
    struct Kst {
        int n, p, q, kk;
    };
    __device__ Row row(int col) const
    {
        Row o;
        bool ok = col < n_count;
        int cc = ok ? col : 0, c, r, s;
        if (nhwc) {
            int rs = sc_div(cc, dcg);
            c = cc - rs * Cg;
            r = sc_div(rs, ds);
            s = rs - r * S;
        } else {
            c = sc_div(cc, drs);
            int rs = cc - c * R * S;
            r = sc_div(rs, ds);
            s = rs - r * S;
        }
        o.coff = nhwc ? goff + c : (goff + c) * H * W;
        o.hr = ok ? r * dh - ph : SC_ROW_NONE;
        o.ws = s * dw - pw;
        return o;
    }
    __device__ Kst kdec(int kk) const
    {
        Kst k;
        k.kk = kk;
        k.n = sc_div(kk, dpq);
        int pq = kk - k.n * P * Q;
        k.p = sc_div(pq, dq);
        k.q = pq - k.p * Q;
        return k;
    }
    __device__ Kst knext(Kst k) const
    {
        k.kk++;
        if (++k.q == Q) {
            k.q = 0;
            if (++k.p == P) {
                k.p = 0;
                k.n++;
            }
        }
        return k;
    }
    __device__ float load(const Row &o, const Kst &k) const
    {
        int h = k.p * sh + o.hr, w = k.q * sw + o.ws;
        if (k.kk >= k_end || (unsigned)h >= (unsigned)H || (unsigned)w >= (unsigned)W) return 0.f;
        i64 idx = nhwc ? (((i64)k.n * H + h) * W + w) * C + o.coff
                       : (i64)k.n * C * H * W + o.coff + (i64)h * W + w;
        return __ldg(x + idx);
    }
};

/* Backward-weight for NCHW with each image of x and dy under 2^31 elements (bw32_applies): the
 * two gathers above with the layout fixed at compile time, the image's base pointer taken once
 * per reduction index, and 32-bit offsets inside the image instead of 64-bit products per
 * element. Same elements, same order: the same bits as GBwDy / GBwX. */
struct GBwDyN : GBwDy {
    struct Row {
        int off; /* (g*Kg + k) * P*Q */
        bool ok;
    };
    struct Kst {
        const float *img; /* dy + n*K*P*Q */
        int pq, kk;
    };
    __device__ Row row(int k) const
    {
        Row o;
        o.ok = k < m_count;
        o.off = ((int)goff + (o.ok ? k : 0)) * P * Q;
        return o;
    }
    __device__ Kst kdec(int kk) const
    {
        Kst k;
        int n = sc_div(kk, dpq);
        k.kk = kk;
        k.pq = kk - n * P * Q;
        k.img = dy + (i64)n * K * P * Q;
        return k;
    }
    __device__ Kst knext(Kst k) const { return kdec(k.kk + 1); }
    __device__ float load(const Row &o, const Kst &k) const
    {
        return (o.ok && k.kk < k_end) ? __ldg(k.img + (unsigned)(o.off + k.pq)) : 0.f;
    }
};

struct GBwXN : GBwX {
    struct Row {
        int coff;   /* (g*Cg + c) * H*W */
        int hr, ws; /* hr = SC_ROW_NONE: a column past the GEMM */
        int pad;
    };
    struct Kst {
        const float *img; /* x + n*C*H*W */
        int hq, wq, kk;   /* p*sh, q*sw */
    };
    __device__ Row row(int col) const
    {
        Row o;
        bool ok = col < n_count;
        int cc = ok ? col : 0;
        int c = sc_div(cc, drs);
        int rs = cc - c * R * S;
        int r = sc_div(rs, ds), s = rs - r * S;
        o.coff = ((int)goff + c) * H * W;
        o.hr = ok ? r * dh - ph : SC_ROW_NONE;
        o.ws = s * dw - pw;
        o.pad = 0;
        return o;
    }
    __device__ Kst kdec(int kk) const
    {
        Kst k;
        int n = sc_div(kk, dpq);
        int pq = kk - n * P * Q;
        int p = sc_div(pq, dq);
        k.kk = kk;
        k.hq = p * sh;
        k.wq = (pq - p * Q) * sw;
        k.img = x + (i64)n * C * H * W;
        return k;
    }
    __device__ Kst knext(Kst k) const { return kdec(k.kk + 1); }
    __device__ float load(const Row &o, const Kst &k) const
    {
        int h = k.hq + o.hr, w = k.wq + o.ws;
        if (k.kk >= k_end || (unsigned)h >= (unsigned)H || (unsigned)w >= (unsigned)W) return 0.f;
        return __ldg(k.img + (unsigned)(o.coff + h * W + w));
    }
};

/* ---- the tiled kernel ------------------------------------------------------------------------ */
/* Fragment row of micro-tile element i for thread coordinate ty: TM = 8 is split into two
 * groups of 4 half a tile apart (fewer bank conflicts, 16-byte shared loads). */
template <int TM, int BMx>
__device__ __forceinline__ int frag_row(int ty, int i)
{
    return TM == 8 ? (i / 4) * (BMx / 2) + ty * 4 + (i % 4) : ty * TM + i;
}

/* Loader for one operand tile (ROWS x BK) with NT threads.
 * KFAST: thread t takes reduction index t % BK and rows t/BK + j*(NT/BK): one reduction decode
 * per step, row decodes hoisted out of the loop (good when the reduction is the contiguous
 * dimension). Otherwise: row t % ROWS, E consecutive reduction indices from (t/ROWS)*E:
 * one row decode in all, one decode plus E-1 cheap increments per step.
 * PTM > 0 (the A tile with lanes along M, TM = PTM): tile row r is stored at the position
 * where frag_row puts element r / (ROWS/PTM) of thread r % (ROWS/PTM), so each thread's TM
 * rows, BM/TM apart in the tile, sit together in shared memory and load as 16-byte vectors. */
template <int ROWS, bool KFAST, class G, int PTM = 0>
struct Loader {
    static constexpr int E = (ROWS * BK + NT - 1) / NT; /* elements per thread */
    /* Row descriptors are not held in registers through the mainloop (the 128x128 tiles' register
     * budget): cheap ones are recomputed per fetch; costly ones are computed once into shared
     * memory (srows, ROWS entries; a __syncthreads before the first fetch) and read per fetch. */
    static constexpr bool SROWS = !G::cheap_row;
    static constexpr int SROW_N = SROWS ? ROWS : 1; /* shared descriptors the kernel provides */
    const typename G::Row *srow;                    /* this thread's first descriptor (SROWS) */
    int row0;                                       /* this thread's first row (cheap rows) */
    int kl;   /* this thread's first reduction index within the tile */
    bool act; /* this thread loads anything (ROWS*BK may be < NT) */
    float v[E];

    __device__ void init(const G &g, int row0, typename G::Row *srows)
    {
        int t = threadIdx.x;
        if (SROWS)
            for (int r = t; r < ROWS; r += NT) srows[r] = g.row(row0 + r);
        if (KFAST) {
            kl = t % BK;
            act = true;
            this->row0 = row0 + t / BK;
            srow = srows + t / BK;
        } else {
            act = t < ROWS * (BK / E);
            kl = (t / ROWS) * E;
            this->row0 = row0 + t % ROWS;
            srow = srows + t % ROWS;
        }
    }
    /* descriptor of this thread's j-th row (KFAST) or its one row */
    __device__ typename G::Row rowd(const G &g, int j) const
    {
        if (SROWS) return srow[j * (NT / BK)];
        return g.row(row0 + j * (NT / BK));
    }
    __device__ void fetch(const G &g, int k0)
    {
        if (KFAST) {
            typename G::Kst ks = g.kdec(k0 + kl);
#pragma unroll
            for (int j = 0; j < E; j++) v[j] = g.load(rowd(g, j), ks);
        } else if (act) {
            typename G::Kst ks = g.kdec(k0 + kl);
            typename G::Row o = rowd(g, 0);
#pragma unroll
            for (int j = 0; j < E; j++) {
                if (j) ks = g.knext(ks);
                v[j] = g.load(o, ks);
            }
        }
    }
    static __device__ __forceinline__ int pos(int r)
    {
        constexpr int T = ROWS / (PTM ? PTM : 1); /* threads along the tile's rows */
        return PTM ? frag_row<PTM, ROWS>(r % T, r / T) : r;
    }
    /* smem tile is [BK][ROWS + 4] */
    __device__ void store(float *s) const
    {
        int t = threadIdx.x;
        if (KFAST) {
#pragma unroll
            for (int j = 0; j < E; j++) {
                int r = t / BK + j * (NT / BK);
                if (r < ROWS) s[kl * (ROWS + 4) + pos(r)] = v[j];
            }
        } else if (act) {
            int p = pos(t % ROWS);
#pragma unroll
            for (int j = 0; j < E; j++) s[(kl + j) * (ROWS + 4) + p] = v[j];
        }
    }
};

/* LM ("lanes along M"): consecutive threads take consecutive tile rows and a thread's rows are
 * BM/TM apart, so a warp's epilogue stores hit consecutive m: coalesced for NCHW outputs (y of
 * forward, dx of backward-data, contiguous along m). The A loader stores rows permuted
 * (Loader's PTM), so the A fragments still load as vectors from frag_row positions.
 * Otherwise consecutive threads take consecutive columns (coalesced for NHWC outputs and dw). */
template <int TM, int BMx, bool LM>
__device__ __forceinline__ int frag_row_m(int ty, int i)
{
    return LM ? i * (BMx / TM) + ty : frag_row<TM, BMx>(ty, i);
}

/* MINB: blocks per SM the kernel is compiled for (registers <= 65536 / (256 x MINB)). The
 * smaller tiles fit two. 128x128 fits two (128 registers, no spill on sm_75..sm_90: row
 * descriptors live in shared memory, Loader) as cfg 6; cfg 0 is the same tile compiled for
 * one block per SM (more registers, fewer co-resident warps), which wins when there are too
 * few tiles to give every SM two. HIP builds keep one for 128x128 (SC_GEMM_BIG_MINB). */
#if !defined(SC_GEMM_BIG_MINB) && defined(SC_GEMM_BIG_LM_MINB) /* the old name (NOTES run 6) */
#define SC_GEMM_BIG_MINB SC_GEMM_BIG_LM_MINB
#endif
#ifndef SC_GEMM_BIG_MINB
#if defined(__HIP_PLATFORM_AMD__) || defined(__HIPCC__)
#define SC_GEMM_BIG_MINB 1
#else
#define SC_GEMM_BIG_MINB 2
#endif
#endif

/* Backward-weight with the plain (64-bit offset) gathers GBwDy/GBwX (OpBwT::PLAIN). */
template <class Op>
__host__ __device__ constexpr bool bw_plain_gathers()
{
    if constexpr (Op::dir == 2)
        return Op::PLAIN;
    else
        return false;
}

template <int BM, int BN, int TM, int TN, bool AK, bool BKF, bool LM, int MINB, class Op>
__global__ __launch_bounds__(NT, MINB) void gemm_kernel(Op op)
{
    static_assert((BM / TM) * (BN / TN) == NT, "tile/thread mismatch");
    __shared__ __align__(16) float As[2][BK * (BM + 4)];
    __shared__ __align__(16) float Bs[2][BK * (BN + 4)];
    typedef Loader<BM, AK, typename Op::A, LM ? TM : 0> LA;
    typedef Loader<BN, BKF, typename Op::B> LB;
    __shared__ __align__(16) typename Op::A::Row arows[LA::SROW_N];
    __shared__ __align__(16) typename Op::B::Row brows[LB::SROW_N];

    typename Op::Block blk;
    if (!op.block(blockIdx.z, blk)) return;
    int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    if (m0 >= blk.a.m_count || n0 >= blk.b.n_count) return;

    LA la;
    LB lb;
    la.init(blk.a, m0, arows);
    lb.init(blk.b, n0, brows);
    if (LA::SROWS || LB::SROWS) __syncthreads(); /* descriptors visible before the first fetch */

    const int tx = LM ? threadIdx.x / (BM / TM) : threadIdx.x % (BN / TN);
    const int ty = LM ? threadIdx.x % (BM / TM) : threadIdx.x / (BN / TN);
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.f;

    int kbeg = blk.kbeg, kend = blk.kend;
    if (kbeg < kend) {
        la.fetch(blk.a, kbeg);
        lb.fetch(blk.b, kbeg);
        la.store(As[0]);
        lb.store(Bs[0]);
        __syncthreads();
        int cur = 0;
        for (int k0 = kbeg; k0 < kend; k0 += BK) {
            bool more = k0 + BK < kend;
            if (more) {
                la.fetch(blk.a, k0 + BK);
                lb.fetch(blk.b, k0 + BK);
            }
            const float *as = As[cur], *bs = Bs[cur];
#pragma unroll
            for (int kk = 0; kk < BK; kk++) {
                float af[TM], bf[TN];
#pragma unroll
                for (int i = 0; i < TM; i++) af[i] = as[kk * (BM + 4) + frag_row<TM, BM>(ty, i)];
#pragma unroll
                for (int j = 0; j < TN; j++) bf[j] = bs[kk * (BN + 4) + frag_row<TN, BN>(tx, j)];
#pragma unroll
                for (int i = 0; i < TM; i++)
#pragma unroll
                    for (int j = 0; j < TN; j++) acc[i][j] += af[i] * bf[j];
            }
            if (more) {
                la.store(As[cur ^ 1]);
                lb.store(Bs[cur ^ 1]);
            }
            __syncthreads();
            cur ^= 1;
        }
    }

    /* Serial backward-weight splits (OpBwT); compiled out where they would spill (NCHW 64x256,
     * and NCHW 128x128 at two blocks/SM with the plain gathers); bw_serial_for never plans
     * them there. */
    constexpr bool SER = Op::dir == 2 && !(AK && BM == 64 && BN == 256) &&
                         !(AK && bw_plain_gathers<Op>() && BM == 128 && BN == 128 && MINB == 2);
    if constexpr (SER) blk.serial_wait();
#pragma unroll
    for (int i = 0; i < TM; i++) {
        int m = m0 + frag_row_m<TM, BM, LM>(ty, i);
        if (m >= blk.a.m_count) continue;
        typename Op::Block::Out o = blk.out_row(m);
#pragma unroll
        for (int j = 0; j < TN; j++) {
            int n = n0 + frag_row<TN, BN>(tx, j);
            /* serial: the row's TN earlier sums are read first, all in flight together, then
             * added (a read after each store would wait out one L2 round trip per element) */
            if constexpr (SER) {
                if (n < blk.b.n_count) acc[i][j] += blk.serial_prev(o, n);
            } else if (n < blk.b.n_count) {
                blk.store(o, n, acc[i][j]);
            }
        }
        if constexpr (SER) {
#pragma unroll
            for (int j = 0; j < TN; j++) {
                int n = n0 + frag_row<TN, BN>(tx, j);
                if (n < blk.b.n_count) blk.store(o, n, acc[i][j]);
            }
        }
    }
    if constexpr (SER) blk.serial_signal();
}

/* ---- per-direction ops ------------------------------------------------------------------------ */
/* GA: the plain gather GFwdX or the channel-chunked GFwdXc (with the weight copy as b.w). */
template <class GA, class GB>
struct OpFwdT {
    static constexpr int dir = 0;
    typedef GA A;
    typedef GB B;
    GA a;
    GB b;
    const float *bias;
    float *y;
    int K, Kg, P, Q, Cg, H, W, nhwc;
    int G, splits, chunk; /* reduction split: z = split*G + g; chunk is a multiple of BK */
    i64 kgoff_mult_w;     /* Kg * CgRS */
    i64 y_elems;          /* split 0 writes y, split s > 0 writes ws + (s-1)*y_elems */
    float *ws;
    struct Block {
        GA a;
        GB b;
        int kbeg, kend;
        const float *bias;
        float *y;
        int K, P, Q, nhwc, kg0;
        sc_fdiv dq, dp;
        struct Out {
            i64 base;
        };
        __device__ Out out_row(int m) const
        {
            int t = sc_div(m, dq), q = m - t * Q;
            int n = sc_div(t, dp), p = t - n * P;
            Out o;
            o.base = nhwc ? (((i64)n * P + p) * Q + q) * K + kg0
                          : ((i64)n * K + kg0) * P * Q + (i64)p * Q + q;
            return o;
        }
        __device__ void store(const Out &o, int k, float v) const
        {
            if (bias) v += bias[kg0 + k];
            y[o.base + (nhwc ? (i64)k : (i64)k * P * Q)] = v;
        }
    };
    __device__ bool block(int z, Block &bl) const
    {
        int split = z / G, g = z - split * G;
        bl.a = a;
        bl.b = b;
        bl.a.goff = nhwc ? (i64)g * Cg : (i64)g * Cg * H * W;
        bl.b.goff = (i64)g * kgoff_mult_w;
        bl.kbeg = split * chunk;
        bl.kend = min(a.k_count, bl.kbeg + chunk);
        bl.bias = splits > 1 ? nullptr : bias; /* added by the reduction instead */
        bl.y = split == 0 ? y : ws + (i64)(split - 1) * y_elems;
        bl.K = K, bl.P = P, bl.Q = Q, bl.nhwc = nhwc;
        bl.kg0 = g * Kg;
        bl.dq = a.dq, bl.dp = a.dp;
        return true;
    }
};

typedef OpFwdT<GFwdX, GFwdW> OpFwd;
typedef OpFwdT<GFwdXc, GFwdW> OpFwdC;

/* GA, GB: GBdDy, GBdW, or the channel-chunked GBdDyc, GBdWt (b.w the weight copy). */
template <class GA, class GB>
struct OpBdT {
    static constexpr int dir = 1;
    typedef GA A;
    typedef GB B;
    GA a;
    GB b;
    float *dx;
    int C, H, W, K, P, Q, R, S, Cg, Kg, sh, sw, ph, pw, dh, dw, nhwc, classes;
    int G, splits; /* z = split*(G*classes) + g*classes + class */
    i64 x_elems;   /* split 0 writes dx, split s > 0 writes ws + (s-1)*x_elems */
    float *ws;
    BdClass cls[BD_MAX_CLASSES];
    struct Block {
        GA a;
        GB b;
        int kbeg, kend;
        float *dx;
        int C, H, W, sh, sw, cls_a, cls_b, hc, wc, nhwc, cg0;
        sc_fdiv dwc, dhc;
        struct Out {
            i64 base;
        };
        __device__ Out out_row(int m) const
        {
            int t = sc_div(m, dwc), j = m - t * wc;
            int n = sc_div(t, dhc), i = t - n * hc;
            int h = cls_a + sh * i, w = cls_b + sw * j;
            Out o;
            o.base = nhwc ? (((i64)n * H + h) * W + w) * C + cg0
                          : ((i64)n * C + cg0) * H * W + (i64)h * W + w;
            return o;
        }
        __device__ void store(const Out &o, int c, float v) const
        {
            dx[o.base + (nhwc ? (i64)c : (i64)c * H * W)] = v;
        }
    };
    __device__ bool block(int z, Block &bl) const
    {
        int split = z / (G * classes);
        int zz = z - split * G * classes;
        int g = zz / classes, ci = zz - g * classes;
        const BdClass &k = cls[ci];
        if (k.hc <= 0 || k.wc <= 0) return false;
        bl.a = a;
        bl.b = b;
        bl.a.m_count = a.m_count * k.hc * k.wc; /* a.m_count holds N */
        bl.a.k_count = Kg * k.rc * k.sc;
        bl.a.dwc = k.dwc, bl.a.dhc = k.dhc, bl.a.drs = k.drs, bl.a.ds = k.ds;
        bl.a.rc = k.rc, bl.a.sc = k.sc, bl.a.dp = k.dp, bl.a.dq = k.dq, bl.a.pb0 = k.pb0;
        bl.a.qb0 = k.qb0, bl.a.hc = k.hc, bl.a.wc = k.wc;
        bl.a.goff = nhwc ? (i64)g * Kg : (i64)g * Kg * P * Q;
        bl.b.k_count = bl.a.k_count;
        bl.b.drs = k.drs, bl.b.ds = k.ds;
        bl.b.rc = k.rc, bl.b.sc = k.sc, bl.b.r0 = k.r0, bl.b.rstep = k.rstep, bl.b.s0 = k.s0;
        bl.b.sstep = k.sstep;
        bl.b.goff = (i64)g * Kg * Cg * R * S;
        int chunk = (bl.a.k_count + splits - 1) / splits;
        chunk = (chunk + BK - 1) / BK * BK;
        bl.kbeg = split * chunk;
        bl.kend = min(bl.a.k_count, bl.kbeg + chunk);
        bl.dx = split == 0 ? dx : ws + (i64)(split - 1) * x_elems;
        bl.C = C, bl.H = H, bl.W = W, bl.sh = sh, bl.sw = sw, bl.cls_a = k.a, bl.cls_b = k.b;
        bl.hc = k.hc, bl.wc = k.wc, bl.nhwc = nhwc, bl.cg0 = g * Cg;
        bl.dwc = k.dwc, bl.dhc = k.dhc;
        return true;
    }
};

typedef OpBdT<GBdDy, GBdW> OpBd;
typedef OpBdT<GBdDyc, GBdWt> OpBdC;

/* GA, GB: GBwDy, GBwX, or their NCHW 32-bit-offset forms GBwDyN, GBwXN. */
template <class GA, class GB>
struct OpBwT {
    static constexpr int dir = 2;
    static constexpr bool PLAIN = std::is_same<GA, GBwDy>::value;
    typedef GA A;
    typedef GB B;
    GA a;
    GB b;
    float *out; /* dw: split 0 writes here, split s > 0 to ws + (s-1)*wsize (slices) */
    float *ws;
    unsigned *sem; /* serial splits: one counter per output tile (zeroed), else nullptr */
    int G, Cg, Kg, splits, chunk, npq, nhwc, H, W, P, Q;
    i64 crs;   /* Cg*R*S */
    i64 wsize; /* K*Cg*R*S: one split's slice of the workspace */
    /* Serial splits (sem != nullptr): every split adds into dw itself, in split order: split s
     * waits until its tile's counter says s, adds its partial sums to what splits 0..s-1 left
     * there, then sets the counter to s+1. The sum is ((p0 + p1) + p2) + ..., the order the
     * slice reduction (reduce_splits) uses, so both give the same bits. A waiting block's
     * predecessor has a lower block index (the split is the slowest grid dimension), so it was
     * dispatched first and is running or done: no block waits on one that cannot start. Every
     * backward-weight block reaches the epilogue (its grid has no empty tiles). */
    struct Block {
        GA a;
        GB b;
        int kbeg, kend;
        float *out;
        i64 crs;
        unsigned *sem; /* this tile's counter (serial), else nullptr */
        int split;
        struct Out {
            i64 base;
        };
        __device__ Out out_row(int k) const
        {
            Out o;
            o.base = (i64)k * crs;
            return o;
        }
        __device__ void store(const Out &o, int col, float v) const { out[o.base + col] = v; }
        /* serial splits: what splits 0..split-1 left at (o, col), read from L2 (never a stale
         * L1 line); 0 for split 0 or slices */
        __device__ float serial_prev(const Out &o, int col) const
        {
            return sem && split > 0 ? sc_ld_l2(out + o.base + col) : 0.f;
        }
        __device__ void serial_wait() const
        {
            if (!sem) return;
            if (threadIdx.x == 0 && split > 0)
                while (sc_ld_acquire_u32(sem) != (unsigned)split) {}
            __threadfence();
            __syncthreads();
        }
        __device__ void serial_signal() const
        {
            if (!sem) return;
            __threadfence(); /* this block's stores visible before the counter moves */
            __syncthreads();
            if (threadIdx.x == 0) atomicExch(sem, (unsigned)(split + 1));
        }
    };
    __device__ bool block(int z, Block &bl) const
    {
        int split = z / G, g = z - split * G;
        bl.a = a;
        bl.b = b;
        bl.a.goff = (i64)g * Kg;
        bl.b.goff = (i64)g * Cg;
        bl.kbeg = split * chunk;
        bl.kend = min(npq, bl.kbeg + chunk);
        bl.a.k_end = bl.kend;
        bl.b.k_end = bl.kend;
        bl.crs = crs;
        bl.split = split;
        bl.sem = sem ? sem + ((i64)g * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x : nullptr;
        bl.out = (split == 0 || sem ? out : ws + (i64)(split - 1) * wsize) + (i64)g * Kg * crs;
        return true;
    }
};

typedef OpBwT<GBwDy, GBwX> OpBw;
typedef OpBwT<GBwDyN, GBwXN> OpBwN;

/* out[i] = out[i] + sum_{s < splits-1} ws[s*n + i] (+ bias[channel of i]), in slice order
 * (split 0 wrote out itself).
 * Channel of i: (i / inner) % K (NCHW: inner = P*Q; NHWC: inner = 1). */
__global__ void reduce_splits(const float *__restrict__ ws, float *__restrict__ out, i64 n,
                              int splits, const float *__restrict__ bias, i64 inner, int K)
{
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        float s = out[i]; /* split 0 */
        for (int j = 0; j < splits - 1; j++) s += ws[(i64)j * n + i];
        if (bias) s += bias[(i / inner) % K];
        out[i] = s;
    }
}

static int launch_reduce(const float *ws, float *out, i64 n, int splits, const float *bias,
                         i64 inner, int K, cudaStream_t st)
{
    unsigned blocks = (unsigned)((n + 255) / 256);
    if (blocks > 65535u * 4) blocks = 65535u * 4;
    reduce_splits<<<blocks, 256, 0, st>>>(ws, out, n, splits, bias, inner, K);
    return (int)cudaGetLastError();
}

/* ---- configurations and launch ------------------------------------------------------------- */
/* cfg: 0 = 128x128 (8x8), 1 = 128x64 (8x4), 2 = 64x128 (4x8), 3 = 64x64 (4x4), 4 = 128x32 (8x2)
 * 5 = 32x128 (2x8), 6 = 128x128 (8x8) compiled for two blocks/SM (SC_GEMM_BIG_MINB; otherwise
 * the same kernel as 0), 7 = 256x64 (8x8) and 8 = 64x256 (8x8), both for two blocks/SM: the
 * 8x8 micro-tile (64 FMAs per 16 shared loads) for GEMMs with 64 columns (rows), e.g. a
 * 64-channel layer's forward and backward-data, which 128x128 pads by half (cfg_built: where
 * they exist). All 256 threads. */
#define SC_GEMM_NCFG 9
struct CfgShape {
    int bm, bn, tm, tn;
};
static const CfgShape cfg_shape[SC_GEMM_NCFG] = {
    {128, 128, 8, 8}, {128, 64, 8, 4},  {64, 128, 4, 8}, {64, 64, 4, 4}, {128, 32, 8, 2},
    {32, 128, 2, 8},  {128, 128, 8, 8}, {256, 64, 8, 8}, {64, 256, 8, 8}};

/* Configurations a direction and layout can use. Not built, because they would need more than
 * 128 registers and spill: 256x64 for NCHW backward-weight (256 rows of dy recomputed per
 * fetch), and 64x256 for forward (on sm_75..sm_89). */
static bool cfg_built(int c, int dir, bool nhwc)
{
    return !(c == 7 && dir == 2 && !nhwc) && !(c == 8 && dir == 0);
}

/* Launch configuration cfg; returns 0, or cudaErrorInvalidValue for one not built for this
 * direction and layout (cfg_built), which launches nothing. */
template <bool AK, bool BKF, bool LM, class Op>
static int launch_cfg(int cfg, dim3 grid, const Op &op, cudaStream_t st)
{
    constexpr int M2 = SC_GEMM_BIG_MINB;
    switch (cfg) {
    case 0: gemm_kernel<128, 128, 8, 8, AK, BKF, LM, 1, Op><<<grid, NT, 0, st>>>(op); break;
    case 1: gemm_kernel<128, 64, 8, 4, AK, BKF, LM, 2, Op><<<grid, NT, 0, st>>>(op); break;
    case 2: gemm_kernel<64, 128, 4, 8, AK, BKF, LM, 2, Op><<<grid, NT, 0, st>>>(op); break;
    case 3: gemm_kernel<64, 64, 4, 4, AK, BKF, LM, 2, Op><<<grid, NT, 0, st>>>(op); break;
    case 4: gemm_kernel<128, 32, 8, 2, AK, BKF, LM, 2, Op><<<grid, NT, 0, st>>>(op); break;
    case 6: gemm_kernel<128, 128, 8, 8, AK, BKF, LM, M2, Op><<<grid, NT, 0, st>>>(op); break;
    case 7:
        /* not built for NCHW backward-weight (cfg_built) */
        if constexpr (!(Op::dir == 2 && AK))
            gemm_kernel<256, 64, 8, 8, AK, BKF, LM, M2, Op><<<grid, NT, 0, st>>>(op);
        else
            return (int)cudaErrorInvalidValue;
        break;
    case 8:
        /* not for forward; nor OpBwN, which would spill (sc_launch_gemm runs OpBw instead) */
        if constexpr (Op::dir != 0 && !std::is_same<Op, OpBwN>::value)
            gemm_kernel<64, 256, 8, 8, AK, BKF, LM, M2, Op><<<grid, NT, 0, st>>>(op);
        else
            return (int)cudaErrorInvalidValue;
        break;
    default: gemm_kernel<32, 128, 2, 8, AK, BKF, LM, 2, Op><<<grid, NT, 0, st>>>(op); break;
    }
    return 0;
}

static int ceil_div(i64 a, i64 b) { return (int)((a + b - 1) / b); }

/* Where a channel-chunked plan can run: NCHW forward with Cg a multiple of BK, backward-data
 * with Kg a multiple of BK, the gathers' 32-bit offsets inside one image and group (Cg*H*W
 * forward; Kg*P*Q and the group's weights backward-data) in range. */
static bool cc_applies(const sc_kp &kp, int dir)
{
    const i64 lim = (i64)1 << 31;
    if (kp.nhwc) return false;
    if (dir == 0) return kp.cg % BK == 0 && (i64)kp.cg * kp.h * kp.w < lim;
    if (dir == 1)
        return kp.kg % BK == 0 && (i64)kp.kg * kp.p * kp.q < lim &&
               (i64)kp.kg * kp.cg * kp.r * kp.s < lim;
    return false;
}

/* Bytes of the (k,r,s,c) weight copy at the start of a channel-chunked plan's workspace,
 * rounded up to 256 so the split slices after it stay aligned. */
static size_t cc_wt_bytes(const sc_kp &kp)
{
    size_t b = (size_t)kp.k * kp.cg * kp.r * kp.s * sizeof(float);
    return (b + 255) / 256 * 256;
}

/* w[k][c][rs] -> wt[k][rs][c] (per output channel k over all groups: K rows of Cg*RS), one
 * block per k. A warp reads 32 channels RS floats apart inside one k's Cg*RS block, which the
 * RS passes over it reuse from cache, and writes 32 consecutive floats. */
__global__ void transpose_krsc(const float *__restrict__ w, float *__restrict__ wt, int Cg, int RS)
{
    i64 base = (i64)blockIdx.x * Cg * RS;
    int n = Cg * RS;
    for (int o = threadIdx.x; o < n; o += blockDim.x) {
        int rs = o / Cg, c = o - rs * Cg;
        wt[base + o] = __ldg(w + base + (i64)c * RS + rs);
    }
}

/* GEMM sizes of a direction (bwd-data: the largest stride class). */
static void gemm_dims(const sc_kp &kp, int dir, i64 &M, i64 &N, i64 &Kr)
{
    if (dir == 0) {
        M = (i64)kp.n * kp.p * kp.q, N = kp.kg, Kr = (i64)kp.cg * kp.r * kp.s;
    } else if (dir == 1) {
        M = (i64)kp.n * ((kp.h + kp.sh - 1) / kp.sh) * ((kp.w + kp.sw - 1) / kp.sw);
        N = kp.cg;
        Kr = (i64)kp.kg * ((kp.r + kp.sh - 1) / kp.sh + 1) * ((kp.s + kp.sw - 1) / kp.sw + 1);
    } else {
        M = kp.kg, N = (i64)kp.cg * kp.r * kp.s, Kr = (i64)kp.n * kp.p * kp.q;
    }
}

/* Optional overrides for tuning and experiments (read once): SAFECONV_GPU_GEMM_CFG = tile
 * configuration 0..8 (those cfg_built allows), SAFECONV_GPU_GEMM_SPLITS = reduction split
 * (used where it fits the workspace limit, as slices or serial splits, else no split; see
 * gemm_enumerate). Unset: the heuristic decides. */
static int env_int(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : -1;
}

/* Backward-weight reduction splits add into dw in split order (serial, see OpBwT) and need only
 * a counter per output tile; SAFECONV_GPU_GEMM_SERIAL=0 goes back to a workspace slice per
 * split and reduce_splits (the same bits, more workspace: dw-sized slices cap the split count
 * under the workspace limit, e.g. 2 for a 512x512x3x3 weight in 16 MiB). */
#define SC_GEMM_SERIAL_MAX 16 /* longer chains cost more than they fill (NOTES run 26) */
static bool bw_serial()
{
    static int v = -2;
    if (v == -2) v = env_int("SAFECONV_GPU_GEMM_SERIAL");
    return v != 0;
}

/* Backward-weight's NCHW gathers with 32-bit in-image offsets (GBwDyN, GBwXN): where each
 * image of dy and x is under 2^31 elements. SAFECONV_GPU_GEMM_BW32=0 turns them off
 * (experiments; the results are the same bits). */
static bool bw32_applies(const sc_kp &kp)
{
    static int force = -2;
    if (force == -2) force = env_int("SAFECONV_GPU_GEMM_BW32");
    const i64 lim = (i64)1 << 31;
    return force != 0 && !kp.nhwc && (i64)kp.k * kp.p * kp.q < lim && (i64)kp.c * kp.h * kp.w < lim;
}

/* Serial splits for this tile shape and gather: not where the serial epilogue would make the
 * kernel spill, so gemm_kernel compiles it out (SER there): NCHW 64x256 (cfg 8), and NCHW
 * 128x128 two blocks/SM (cfg 6) with the plain gathers (large images, !bw32_applies). */
static bool bw_serial_for(const sc_kp &kp, int cfg)
{
    if (kp.nhwc) return bw_serial();
    if (cfg == 8) return false;
    if (cfg == 6 && SC_GEMM_BIG_MINB == 2 && !bw32_applies(kp)) return false;
    return bw_serial();
}

static size_t bw_sem_bytes(const sc_kp &kp, int cfg)
{
    i64 tiles = (i64)ceil_div((i64)kp.kg, (i64)cfg_shape[cfg].bm) *
                ceil_div((i64)kp.cg * kp.r * kp.s, (i64)cfg_shape[cfg].bn) * kp.g;
    return (size_t)(tiles * 4 + 255) / 256 * 256;
}

/* Heuristic, no timing: a time model per tile shape, reduction split and gather kind (cc), the
 * smallest wins.
 *   GEMM:   padded FLOPs / (SMs x rate(tile) x wave efficiency); the rate per SM grows with
 *           the FMAs per shared-memory load of the tile (128x128 = 1, 64x64 = 0.5);
 *           128x128 (cfg 0) runs one block per SM (registers); the 8x8 micro-tiles compiled
 *           for two blocks/SM (cfg 6, 7, 8) get 1.2x the rate and a per-SM load model
 *           (below); the others (cfg 1-5) two blocks/SM at the plain rate.
 *   reduce: split > 1 reads (split-1) partial outputs and reads + writes the output once,
 *           plus a launch.
 *   cc:     channel-chunked plans at 0.85x the GEMM time (fitted on forward, NOTES run 13)
 *           plus the weight copy (read and write at 1.5 TB/s, plus a launch).
 *   serial: backward-weight splits adding into dw in order: 2s-1 output passes and a chain of
 *           s-1 hand-overs, hidden in proportion to the waves (H200, NOTES runs 26-27).
 * The constants are rough fits to H100 measurements (bench/NOTES.md, GPU section); only their ratios
 * matter. */
/* Every (tile, split, cc, serial) the model scores for this problem, within the workspace limit and the
 * environment overrides: up to `max` of them into out[] (in enumeration order), with their
 * modelled times. Returns how many. */
struct sc_gemm_scored {
    sc_gemm_plan pl;
    double t;
};
static int gemm_enumerate(const sc_kp &kp, int dir, int sm_count, size_t ws_limit,
                          sc_gemm_scored *out, int max, int fs_override = -2)
{
    static int force_cfg = -2, force_splits = -2, force_lm = -2, force_cc = -2;
    if (force_cfg == -2) {
        force_splits = env_int("SAFECONV_GPU_GEMM_SPLITS");
        force_lm = env_int("SAFECONV_GPU_GEMM_LM");
        force_cc = env_int("SAFECONV_GPU_GEMM_CC");
        force_cfg = env_int("SAFECONV_GPU_GEMM_CFG");
    }
    /* A forced split count (SAFECONV_GPU_GEMM_SPLITS) is scored only where it fits (slices
     * within the limit, or serial); where it fits nowhere, unsplit plans are scored instead
     * (the call below). So a smaller limit only removes candidates, and the call, which
     * replans with limit = the workspace it was given, runs the plan the query chose. */
    int fs = fs_override != -2 ? fs_override : force_splits;
    i64 M, N, Kr;
    gemm_dims(kp, dir, M, N, Kr);
    i64 zmul = dir == 1 ? (i64)kp.g * kp.sh * kp.sw : kp.g;
    i64 out_elems = dir == 0   ? (i64)kp.n * kp.k * kp.p * kp.q
                    : dir == 1 ? (i64)kp.n * kp.c * kp.h * kp.w
                               : (i64)kp.k * kp.cg * kp.r * kp.s;
    double out_bytes = 4.0 * (double)out_elems;
    static const int cand[] = {1,  2,  3,  4,   6,   8,   12,  16,  24,  32,
                               48, 64, 96, 128, 192, 256, 384, 512, 768, 1024};
    /* NCHW forward / backward-data outputs are contiguous along M: lanes along M. */
    int lm = (dir != 2 && !kp.nhwc) ? SC_GEMM_LM_DEFAULT : 0;
    if (force_lm >= 0 && dir != 2 && !kp.nhwc) lm = force_lm ? 1 : 0;
    /* Channel-chunked plans where they apply and their weight copy fits (SAFECONV_GPU_GEMM_CC:
     * 0 never, 1 only those), then the plain ones. */
    bool cc_ok = cc_applies(kp, dir) && force_cc != 0 && cc_wt_bytes(kp) <= ws_limit;
    int n = 0;
    for (int cc = cc_ok ? 1 : 0; cc >= 0; cc--) {
        if (!cc && cc_ok && force_cc == 1) continue;
        size_t fixed = cc ? cc_wt_bytes(kp) : 0;
        /* split 0 writes the output itself: s splits need s-1 output-sized slices; serial
         * backward-weight splits need only their counters (per tile shape, below) */
        i64 smax_slices =
            1 + (i64)((ws_limit - fixed) / (size_t)(out_elems * 4 > 0 ? out_elems * 4 : 1));
        i64 smax_any = Kr / (8 * BK);
        if (smax_any > 65535 / zmul) smax_any = 65535 / zmul;
        if (smax_any > 1024) smax_any = 1024;
        if (smax_any < 1) smax_any = 1;
        /* cc: 0.85 of the plain plan's time (forward, NOTES run 13), plus the weight copy */
        double cc_mul = cc ? 0.85 : 1.0;
        double cc_add = cc ? 2.0 * (double)fixed / 1.5e12 + 3e-6 : 0.0;
        for (int c = 0; c < SC_GEMM_NCFG; c++) {
            if (force_cfg >= 0 && force_cfg < SC_GEMM_NCFG && c != force_cfg) continue;
            /* 6 only where it differs from 0: two blocks/SM (SC_GEMM_BIG_MINB) */
            bool two = c >= 6 && SC_GEMM_BIG_MINB == 2;
            if (c == 6 && !two && c != force_cfg) continue;
            if (!cfg_built(c, dir, kp.nhwc != 0)) continue;
            int bm = cfg_shape[c].bm, bn = cfg_shape[c].bn;
            i64 mt = ceil_div(M, bm), nt = ceil_div(N, bn);
            i64 tiles = mt * nt * zmul;
            double flops = 2.0 * (double)(mt * bm) * (double)(nt * bn) * (double)Kr * (double)zmul;
            /* FMAs per shared load of the thread's micro-tile, 8x8 = 1 */
            int tm = cfg_shape[c].tm, tn = cfg_shape[c].tn;
            double eff = (tm * tn) / (double)(tm + tn) / 4.0;
            double rate = 0.19e12 * (0.55 + 0.45 * eff) * (two ? 1.2 : 1.0);
            /* blocks per SM (launch_cfg's MINB) */
            i64 slots = (i64)sm_count * (c == 0 || (c >= 6 && !two) ? 1 : 2);
            /* backward-weight: slices (within the limit) and serial plans (their counters
             * within it, at most SC_GEMM_SERIAL_MAX splits) are both scored */
            bool ser_ok = dir == 2 && bw_serial_for(kp, c) && bw_sem_bytes(kp, c) <= ws_limit;
            for (int serial = ser_ok ? 1 : 0; serial >= 0; serial--) {
                i64 smax = serial ? (SC_GEMM_SERIAL_MAX < smax_any ? SC_GEMM_SERIAL_MAX : smax_any)
                                  : (smax_slices < smax_any ? smax_slices : smax_any);
                if (smax < 1) smax = 1;
                for (size_t ci = 0; ci < sizeof cand / sizeof cand[0]; ci++) {
                    i64 sp = fs >= 1 ? fs : cand[ci];
                    if (sp > smax) break;
                    if (serial && sp == 1) { /* the unsplit plan is scored as serial 0 */
                        if (fs >= 1) break;
                        continue;
                    }
                    i64 blocks = tiles * sp;
                    i64 waves = (blocks + slots - 1) / slots;
                    double wave_eff = (double)blocks / ((double)waves * slots);
                    if (two) {
                        /* The busiest SM runs mx blocks: pairs, then a lone block in 0.7 of a pair's
                         * time (fitted on the H100 sweep, bench/NOTES.md, GPU section, run 6). */
                        i64 mx = (blocks + sm_count - 1) / sm_count;
                        double units = (double)(mx / 2) + (mx % 2 ? 0.7 : 0.0);
                        wave_eff = (double)blocks / (2.0 * sm_count) / units;
                    }
                    double t = flops / ((double)sm_count * rate * wave_eff) * cc_mul + cc_add;
                    /* slices: a reduce kernel reads them all; serial: each split reads and writes
                     * the output in its epilogue, one split after another per tile: a chain of
                     * sp-1 hand-overs of 3 us + 1.5 us per micro-tile row (NOTES runs 26-27: ~30
                     * us for 3 splits in one wave), hidden behind other blocks' work in
                     * proportion to the waves */
                    double waves_f = (double)blocks / (double)slots;
                    if (sp > 1 && serial)
                        t += (double)(2 * sp - 1) * out_bytes / 4.0e12 +
                             (double)(sp - 1) * (3e-6 + 1.5e-6 * tm) /
                                 (waves_f > 1.0 ? waves_f : 1.0);
                    else if (sp > 1)
                        t += (double)(sp + 1) * out_bytes / 2.0e12 + 3e-6;
                    if (n < max) {
                        out[n].pl.cfg = c, out[n].pl.splits = (int)sp, out[n].pl.lm = lm;
                        out[n].pl.cc = cc;
                        out[n].pl.serial = serial;
                        out[n].t = t;
                        n++;
                    }
                    if (fs >= 1) break;
                }
            }
        }
    }
    if (n == 0 && fs > 1) return gemm_enumerate(kp, dir, sm_count, ws_limit, out, max, 1);
    return n;
}

#define SC_GEMM_MAX_SCORED (3 * SC_GEMM_NCFG * 20)

/* The model's best plan, ignoring tuned plans. */
static sc_gemm_plan model_best(const sc_kp &kp, int dir, int sm_count, size_t ws_limit)
{
    sc_gemm_scored all[SC_GEMM_MAX_SCORED];
    int n = gemm_enumerate(kp, dir, sm_count, ws_limit, all, SC_GEMM_MAX_SCORED);
    sc_gemm_plan best = {3, 1, (dir != 2 && !kp.nhwc) ? SC_GEMM_LM_DEFAULT : 0, 0, 0};
    double best_t = 1e30;
    for (int i = 0; i < n; i++)
        if (all[i].t < best_t * (1 - 1e-9)) best_t = all[i].t, best = all[i].pl;
    return best;
}

/* Plans measured faster by sc_conv2d_tune, per problem, direction and SM count: in memory for
 * the life of the process. A tuned plan is used only when its workspace fits the limit asked
 * for, so the plan chosen at select time (the context's limit) and re-derived at run time (the
 * workspace given) agree. */
struct tuned_plan {
    sc_kp kp;
    int dir, sm_count;
    sc_gemm_plan pl;
};
static pthread_mutex_t tuned_mu = PTHREAD_MUTEX_INITIALIZER;
static tuned_plan tuned[512];
static int ntuned;

static bool tuned_lookup(const sc_kp &kp, int dir, int sm_count, sc_gemm_plan *pl)
{
    bool found = false;
    pthread_mutex_lock(&tuned_mu);
    for (int i = 0; i < ntuned && !found; i++)
        if (tuned[i].dir == dir && tuned[i].sm_count == sm_count &&
            !memcmp(&tuned[i].kp, &kp, sizeof kp))
            *pl = tuned[i].pl, found = true;
    pthread_mutex_unlock(&tuned_mu);
    return found;
}

void sc_gemm_remember(const sc_kp &kp, int dir, int sm_count, const sc_gemm_plan &pl)
{
    pthread_mutex_lock(&tuned_mu);
    int i = 0;
    while (i < ntuned && !(tuned[i].dir == dir && tuned[i].sm_count == sm_count &&
                           !memcmp(&tuned[i].kp, &kp, sizeof kp)))
        i++;
    if (i == ntuned && ntuned < (int)(sizeof tuned / sizeof tuned[0])) ntuned++;
    if (i < ntuned)
        tuned[i].kp = kp, tuned[i].dir = dir, tuned[i].sm_count = sm_count, tuned[i].pl = pl;
    pthread_mutex_unlock(&tuned_mu);
}

sc_gemm_plan sc_gemm_choose(const sc_kp &kp, int dir, int sm_count, size_t ws_limit)
{
    sc_gemm_plan pl;
    if (tuned_lookup(kp, dir, sm_count, &pl) && sc_gemm_ws_bytes(kp, dir, pl) <= ws_limit)
        return pl;
    return model_best(kp, dir, sm_count, ws_limit);
}

int sc_gemm_candidates(const sc_kp &kp, int dir, int sm_count, size_t ws_limit, sc_gemm_plan *out,
                       int max)
{
    sc_gemm_scored all[SC_GEMM_MAX_SCORED];
    int n = gemm_enumerate(kp, dir, sm_count, ws_limit, all, SC_GEMM_MAX_SCORED);
    /* Selection sort by modelled time: n is at most a few dozen. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (all[j].t < all[i].t) {
                sc_gemm_scored t = all[i];
                all[i] = all[j], all[j] = t;
            }
    int k = n < max ? n : max;
    for (int i = 0; i < k; i++) out[i] = all[i].pl;
    return k;
}

size_t sc_gemm_ws_bytes(const sc_kp &kp, int dir, const sc_gemm_plan &pl)
{
    size_t b = pl.cc ? cc_wt_bytes(kp) : 0;
    if (pl.splits <= 1) return b;
    if (dir == 2 && pl.serial)
        return pl.cfg >= 0 && pl.cfg < SC_GEMM_NCFG ? bw_sem_bytes(kp, pl.cfg) : 0;
    i64 out_elems = dir == 0   ? (i64)kp.n * kp.k * kp.p * kp.q
                    : dir == 1 ? (i64)kp.n * kp.c * kp.h * kp.w
                               : (i64)kp.k * kp.cg * kp.r * kp.s;
    return b + (size_t)(pl.splits - 1) * (size_t)out_elems * sizeof(float);
}

/* Forward with Op = OpFwd, or OpFwdC (CC: the channel-chunked gathers, NCHW only; b is then
 * the (k,r,s,c) weight copy). */
template <class Op, bool CC>
static int gemm_fwd(const sc_kp &kp, const sc_gemm_plan &pl, const float *a, const float *b,
                    const float *c, float *out, float *ws, cudaStream_t st)
{
    int bm = cfg_shape[pl.cfg].bm, bn = cfg_shape[pl.cfg].bn;
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
        e = pl.lm ? launch_cfg<false, true, true>(pl.cfg, grid, op, st)
                  : launch_cfg<false, true, false>(pl.cfg, grid, op, st);
    } else {
        e = kp.nhwc ? launch_cfg<true, true, false>(pl.cfg, grid, op, st)
            : pl.lm ? launch_cfg<false, true, true>(pl.cfg, grid, op, st)
                    : launch_cfg<false, true, false>(pl.cfg, grid, op, st);
    }
    if (!e) e = (int)cudaGetLastError();
    if (e || splits == 1) return e;
    return launch_reduce(ws, out, op.y_elems, splits, c, kp.nhwc ? 1 : (i64)kp.p * kp.q, kp.k, st);
}

/* Backward-data with Op = OpBd, or OpBdC (CC: the channel-chunked gathers, NCHW only; b is
 * then the (k,r,s,c) weight copy, read by GBdWt). */
template <class Op, bool CC>
static int gemm_bd(const sc_kp &kp, const sc_gemm_plan &pl, const float *a, const float *b,
                   const float *c, float *out, float *ws, cudaStream_t st)
{
    int bm = cfg_shape[pl.cfg].bm, bn = cfg_shape[pl.cfg].bn;
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
    for (int ci = 0; ci < op.classes; ci++) {
        BdClass &k = op.cls[ci];
        k.a = ci / kp.sw, k.b = ci % kp.sw;
        k.hc = k.a < kp.h ? (kp.h - k.a + kp.sh - 1) / kp.sh : 0;
        k.wc = k.b < kp.w ? (kp.w - k.b + kp.sw - 1) / kp.sw : 0;
        bd_dim(k.a, kp.ph, kp.sh, kp.dh, kp.r, k.r0, k.rstep, k.rc, k.dp, k.pb0);
        bd_dim(k.b, kp.pw, kp.sw, kp.dw, kp.s, k.s0, k.sstep, k.sc, k.dq, k.qb0);
        k.dwc = sc_fdiv_make(k.wc > 0 ? k.wc : 1), k.dhc = sc_fdiv_make(k.hc > 0 ? k.hc : 1);
        k.drs = sc_fdiv_make(k.rc * k.sc > 0 ? k.rc * k.sc : 1);
        k.ds = sc_fdiv_make(k.sc > 0 ? k.sc : 1);
    }
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
                cudaMemsetAsync(out, 0, (size_t)kp.n * kp.c * kp.h * kp.w * sizeof(float), st);
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
        e = pl.lm ? launch_cfg<false, false, true>(pl.cfg, grid, op, st)
                  : launch_cfg<false, false, false>(pl.cfg, grid, op, st);
    } else {
        e = kp.nhwc ? launch_cfg<true, false, false>(pl.cfg, grid, op, st)
            : pl.lm ? launch_cfg<true, true, true>(pl.cfg, grid, op, st)
                    : launch_cfg<true, true, false>(pl.cfg, grid, op, st);
    }
    if (!e) e = (int)cudaGetLastError();
    if (e || splits == 1) return e;
    return launch_reduce(ws, out, op.x_elems, splits, nullptr, 1, 1, st);
}

/* Backward-weight with Op = OpBw, or OpBwN (N32: NCHW with 32-bit offsets in an image). */
template <class Op, bool N32>
static int gemm_bw(const sc_kp &kp, const sc_gemm_plan &pl, const float *a, const float *b,
                   float *out, float *ws, cudaStream_t st)
{
    int bm = cfg_shape[pl.cfg].bm, bn = cfg_shape[pl.cfg].bn;
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
    if (serial && !bw_serial_for(kp, pl.cfg)) return (int)cudaErrorInvalidValue; /* not built */
    if (serial) { /* the tiles' counters (bw_sem_bytes), zeroed in stream order */
        op.sem = (unsigned *)ws;
        cudaError_t me =
            cudaMemsetAsync(op.sem, 0, (size_t)grid.x * grid.y * kp.g * sizeof(unsigned), st);
        if (me != cudaSuccess) return (int)me;
    }
    /* NCHW: both along q (the reduction); NHWC: dy along k, x along c (the rows). */
    int e;
    if constexpr (N32)
        e = launch_cfg<true, true, false>(pl.cfg, grid, op, st);
    else
        e = kp.nhwc ? launch_cfg<false, false, false>(pl.cfg, grid, op, st)
                    : launch_cfg<true, true, false>(pl.cfg, grid, op, st);
    if (!e) e = (int)cudaGetLastError();
    if (e) return e;
    if (splits > 1 && !serial) return launch_reduce(ws, out, op.wsize, splits, nullptr, 1, 1, st);
    return (int)cudaGetLastError();
}

int sc_launch_gemm(const sc_kp &kp, int dir, const sc_gemm_plan &pl, const float *a, const float *b,
                   const float *c, float *out, float *ws, cudaStream_t st)
{
    if (pl.cfg < 0 || pl.cfg >= SC_GEMM_NCFG || !cfg_built(pl.cfg, dir, kp.nhwc != 0))
        return (int)cudaErrorInvalidValue;
    if (pl.cc) {
        if (!cc_applies(kp, dir) || !ws) return (int)cudaErrorInvalidValue;
        /* the weight copy first; the split slices, if any, after it */
        float *wt = ws;
        ws += cc_wt_bytes(kp) / sizeof(float);
        transpose_krsc<<<kp.k, 256, 0, st>>>(b, wt, kp.cg, kp.r * kp.s);
        int e = (int)cudaGetLastError();
        if (e) return e;
        return dir == 0 ? gemm_fwd<OpFwdC, true>(kp, pl, a, wt, c, out, ws, st)
                        : gemm_bd<OpBdC, true>(kp, pl, a, wt, c, out, ws, st);
    }
    if (dir == 0) return gemm_fwd<OpFwd, false>(kp, pl, a, b, c, out, ws, st);
    if (dir == 1) return gemm_bd<OpBd, false>(kp, pl, a, b, c, out, ws, st);
    /* OpBwN has no 64x256 tile (cfg 8: it would spill); OpBw computes the same bits there */
    if (bw32_applies(kp) && pl.cfg != 8) return gemm_bw<OpBwN, true>(kp, pl, a, b, out, ws, st);
    return gemm_bw<OpBw, false>(kp, pl, a, b, out, ws, st);
}
