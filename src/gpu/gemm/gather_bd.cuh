/* gather_bd.cuh - backward-data's operand gathers: A = dy at rows (n,i,j) of one stride class,
 * B = w at columns c, over the class's taps (k,rr,ss) (the stride classes: bd_class.cuh).
 * Included inside an element type's namespace (dir_*.cuh), where T is defined. */
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

/* The step kk -> kk + 1 of a decoded index in the same orders, without a division. */
template <class Kst, class G>
__device__ Kst bd_knext(const G &g, Kst k, bool rsk)
{
    k.kk++;
    if (rsk) {
        if (++k.k == g.Kg) {
            k.k = 0;
            if (++k.ss == g.sc) {
                k.ss = 0;
                k.rr++;
            }
        }
    } else {
        if (++k.ss == g.sc) {
            k.ss = 0;
            if (++k.rr == g.rc) {
                k.rr = 0;
                k.k++;
            }
        }
    }
    return k;
}

/* Backward-data A: dy at rows m = (n,i,j), reduction (k,rr,ss) NCHW / (rr,ss,k) NHWC. */
struct GBdDy {
    static constexpr int gather = SC_GATHER_PLAIN;
    static constexpr bool cheap_row = false;
    const T *dy;
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
    __device__ Kst knext(Kst k) const { return bd_knext(*this, k, nhwc); }
    __device__ float load(const Row &o, const Kst &k) const
    {
        int p = o.pb - k.rr * dp, q = o.qb - k.ss * dq;
        if (k.kk >= k_count || (unsigned)p >= (unsigned)P || (unsigned)q >= (unsigned)Q) return 0.f;
        i64 off = nhwc ? ((i64)p * Q + q) * K + k.k : (i64)k.k * P * Q + (i64)p * Q + q;
        return sc_ldg(dy + o.base + off);
    }
};

/* Backward-data B: w at cols c, reduction as GBdDy. */
struct GBdW {
    static constexpr bool cheap_row = true;
    const T *w;
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
    __device__ Kst knext(Kst k) const { return bd_knext(*this, k, nhwc); }
    __device__ float load(const Row &o, const Kst &k) const
    {
        if (!o.ok || k.kk >= k_count) return 0.f;
        int r = r0 + k.rr * rstep, s = s0 + k.ss * sstep;
        i64 off = nhwc ? (((i64)k.k * R + r) * S + s) * Cg + o.c
                       : (((i64)k.k * Cg + o.c) * R + r) * S + s;
        return sc_ldg(w + goff + off);
    }
};

/* The channel-chunked gathers of backward-data (see gather_fwd.cuh on channel-chunked plans). */
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
        return sc_ldg(dy + o.base + (unsigned)((k.k * P + p) * Q + q));
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
        return o.ok ? sc_ldg(w + goff + (unsigned)(k.off + o.c)) : 0.f;
    }
};
