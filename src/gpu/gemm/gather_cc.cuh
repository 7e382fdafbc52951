/* gather_cc.cuh - the channel-chunked gathers of NCHW forward and backward-data (plans with
 * gather SC_GATHER_CC). */
#ifndef SC_GPU_GEMM_GATHER_CC_CUH
#define SC_GPU_GEMM_GATHER_CC_CUH

#include "gather_bd.cuh"
#include "gather_fwd.cuh"

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
        return __ldg(x + o.base + (unsigned)((k.c * H + h) * W + w));
    }
};

/* Backward-data A, reduction (rr,ss,k): GBdDy's NHWC decode, NCHW addresses. */
struct GBdDyc : GBdDy {
    static constexpr int gather = SC_GATHER_CC;
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

#endif /* SC_GPU_GEMM_GATHER_CC_CUH */
