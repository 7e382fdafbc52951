/* gather_fwd.cuh - forward's operand gathers: A = x at rows (n,p,q), B = w at columns k, over
 * the reduction (c,r,s) (NCHW) or (r,s,c) (NHWC).
 * Included inside an element type's namespace (dir_*.cuh), where T is defined. */
/* Forward A: x at rows m = (n,p,q), reduction (c,r,s). */
struct GFwdX {
    static constexpr int gather = SC_GATHER_PLAIN;
    static constexpr bool cheap_row = false;
    const T *x;
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
        return sc_ldg(x + o.base + off);
    }
};

/* Forward B: w at cols k, reduction kk (already in the weight's own order). cheap_row: row()
 * is one multiply-add, so a KFAST loader recomputes it per tile instead of holding E row
 * descriptors in registers (the 128x128 tile's register budget). */
struct GFwdW {
    static constexpr bool cheap_row = true;
    const T *w;
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
        return (o.ok && k.kk < k_count) ? sc_ldg(w + o.base + k.kk) : 0.f;
    }
};

/* ---- channel-chunked gathers (NCHW forward and backward-data) ---------------------------------
 * The gathers above follow the weight's own (c,r,s) order for NCHW, so the 8 reduction indices
 * of one BK step are 8 taps spread over channels: every element needs its own tap decode,
 * bounds test and address. The "cc" plans (gather SC_GATHER_CC) reorder the NCHW reduction as
 * (r,s,c), channel fastest, like NHWC: with the channel count a multiple of BK (sc_gemm_cc_applies),
 * one BK step is 8 channels at one tap, so the E elements a row-loader thread takes share one
 * bounds test and differ only by a plane stride, and every step is full (no kk < k_count test);
 * offsets inside one image and group are 32-bit (sc_gemm_cc_applies), summed before they meet the
 * 64-bit base and unsigned (one add with carry per address instead of a sign extension and
 * two adds; loads with a negative offset are never issued). The weight is first copied into
 * the workspace in (k,r,s,c) order (transpose_krsc), the NHWC weight layout, so the B side is
 * the plain gathers reading contiguous channels: GFwdW as is (its reduction index is the copy's
 * own offset), GBdWt for backward-data. Only the summation order differs from the plain plans. */

/* Forward A, reduction (r,s,c): kdec is GFwdX's NHWC decode; knext only steps c (the E
 * elements of one thread never cross a tap: E divides BK, BK divides Cg). */
struct GFwdXc : GFwdX {
    static constexpr int gather = SC_GATHER_CC;
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
        return sc_ldg(x + o.base + (unsigned)((k.c * H + h) * W + w));
    }
};
