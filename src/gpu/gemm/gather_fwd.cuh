/* gather_fwd.cuh - forward's operand gathers: A = x at rows (n,p,q), B = w at columns k, over
 * the reduction (c,r,s) (NCHW) or (r,s,c) (NHWC). */
#ifndef SC_GPU_GEMM_GATHER_FWD_CUH
#define SC_GPU_GEMM_GATHER_FWD_CUH

#include "common.cuh"

/* Forward A: x at rows m = (n,p,q), reduction (c,r,s). */
struct GFwdX {
    static constexpr int gather = SC_GATHER_PLAIN;
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

#endif /* SC_GPU_GEMM_GATHER_FWD_CUH */
