/* gather_bw.cuh - backward-weight's operand gathers: A = dy at rows k, B = x at columns
 * (c,r,s) / (r,s,c), over the reduction (n,p,q); and their 32-bit-offset forms, NCHW and NHWC.
 * Included inside an element type's namespace (dir_*.cuh), where T is defined. */
/* The reduction index kk of backward-weight (n, p, q over N x P x Q, q fastest) as both plain
 * gathers below keep it: decoded once (two divisions), then stepped to kk + 1 without one. */
struct GBwPos {
    int n, p, q, kk;
};
template <class G>
__device__ GBwPos gbw_pos(const G &g, int kk)
{
    GBwPos k;
    k.kk = kk;
    k.n = sc_div(kk, g.dpq);
    int pq = kk - k.n * g.P * g.Q;
    k.p = sc_div(pq, g.dq);
    k.q = pq - k.p * g.Q;
    return k;
}
template <class G>
__device__ GBwPos gbw_pos_next(const G &g, GBwPos k)
{
    k.kk++;
    if (++k.q == g.Q) {
        k.q = 0;
        if (++k.p == g.P) {
            k.p = 0;
            k.n++;
        }
    }
    return k;
}

/* Backward-weight A: dy at rows k, reduction (n,p,q) in [kbeg, kend). */
struct GBwDy {
    static constexpr int gather = SC_GATHER_PLAIN;
    static constexpr bool cheap_row = true;
    const T *dy;
    int m_count, k_end;
    sc_fdiv dq, dpq;
    int K, P, Q, nhwc;
    i64 goff; /* g*Kg */
    struct Row {
        i64 off;
        bool ok;
    };
    typedef GBwPos Kst;
    __device__ Row row(int k) const
    {
        Row o;
        o.ok = k < m_count;
        i64 kc = goff + (o.ok ? k : 0);
        o.off = nhwc ? kc : kc * P * Q;
        return o;
    }
    __device__ Kst kdec(int kk) const { return gbw_pos(*this, kk); }
    __device__ Kst knext(Kst k) const { return gbw_pos_next(*this, k); }
    __device__ float load(const Row &o, const Kst &k) const
    {
        if (!o.ok || k.kk >= k_end) return 0.f;
        i64 pix = ((i64)k.n * P + k.p) * Q + k.q;
        i64 idx = nhwc ? pix * K + o.off : (i64)k.n * K * P * Q + o.off + (i64)k.p * Q + k.q;
        return sc_ldg(dy + idx);
    }
};

/* Backward-weight B: x at cols (c,r,s) NCHW / (r,s,c) NHWC, reduction (n,p,q). */
struct GBwX {
    static constexpr bool cheap_row = false;
    const T *x;
    int n_count, k_end;
    sc_fdiv dq, dpq, drs, ds, dcg;
    int C, H, W, R, S, Cg, P, Q, sh, sw, ph, pw, dh, dw, nhwc;
    i64 goff; /* g*Cg */
    struct Row {
        i64 coff;
        int hr, ws; /* hr = SC_ROW_NONE: a column past the GEMM */
    };
    typedef GBwPos Kst;
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
    __device__ Kst kdec(int kk) const { return gbw_pos(*this, kk); }
    __device__ Kst knext(Kst k) const { return gbw_pos_next(*this, k); }
    __device__ float load(const Row &o, const Kst &k) const
    {
        int h = k.p * sh + o.hr, w = k.q * sw + o.ws;
        if (k.kk >= k_end || (unsigned)h >= (unsigned)H || (unsigned)w >= (unsigned)W) return 0.f;
        i64 idx = nhwc ? (((i64)k.n * H + h) * W + w) * C + o.coff
                       : (i64)k.n * C * H * W + o.coff + (i64)h * W + w;
        return sc_ldg(x + idx);
    }
};

/* Backward-weight for NCHW with each image of x and dy under 2^31 elements (bw32_applies): the
 * two gathers above with the layout fixed at compile time, the image's base pointer taken once
 * per reduction index, and 32-bit offsets inside the image instead of 64-bit products per
 * element. Same elements, same order: the same bits as GBwDy / GBwX. */
struct GBwDyN : GBwDy {
    static constexpr int gather = SC_GATHER_N32;
    struct Row {
        int off; /* (g*Kg + k) * P*Q */
        bool ok;
    };
    struct Kst {
        const T *img; /* dy + n*K*P*Q */
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
        return (o.ok && k.kk < k_end) ? sc_ldg(k.img + (unsigned)(o.off + k.pq)) : 0.f;
    }
};

struct GBwXN : GBwX {
    struct Row {
        int coff;   /* (g*Cg + c) * H*W */
        int hr, ws; /* hr = SC_ROW_NONE: a column past the GEMM */
        int pad;
    };
    struct Kst {
        const T *img;   /* x + n*C*H*W */
        int hq, wq, kk; /* p*sh, q*sw */
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
        return sc_ldg(k.img + (unsigned)(o.coff + h * W + w));
    }
};

/* Backward-weight for NHWC with each image of x and dy under 2^31 elements: GBwDy / GBwX with the
 * layout fixed at compile time, the image's base pointer kept per reduction index and moved on
 * when the index passes an image, and 32-bit offsets inside the image, where the plain gathers
 * test the layout and form 64-bit products per element. The loaders take E consecutive
 * reduction indices (kdec, then knext), so knext steps q, p and the image without a division.
 * Same elements, same order: the same bits as GBwDy / GBwX. */
struct GBwDyH : GBwDy {
    static constexpr int gather = SC_GATHER_H32;
    struct Row {
        int off; /* g*Kg + k */
        bool ok;
    };
    struct Kst {
        const T *img; /* dy + n*P*Q*K */
        int pq, kk;
    };
    __device__ Row row(int k) const
    {
        Row o;
        o.ok = k < m_count;
        o.off = (int)goff + (o.ok ? k : 0);
        return o;
    }
    __device__ Kst kdec(int kk) const
    {
        Kst k;
        int n = sc_div(kk, dpq);
        k.kk = kk;
        k.pq = kk - n * P * Q;
        k.img = dy + (i64)n * P * Q * K;
        return k;
    }
    __device__ Kst knext(Kst k) const
    {
        k.kk++;
        if (++k.pq == P * Q) {
            k.pq = 0;
            k.img += (i64)P * Q * K;
        }
        return k;
    }
    __device__ float load(const Row &o, const Kst &k) const
    {
        return (o.ok && k.kk < k_end) ? sc_ldg(k.img + (unsigned)(k.pq * K + o.off)) : 0.f;
    }
};

struct GBwXH : GBwX {
    struct Row {
        int coff;   /* g*Cg + c */
        int hr, ws; /* hr = SC_ROW_NONE: a column past the GEMM */
        int pad;
    };
    struct Kst {
        const T *img; /* x + n*H*W*C */
        int p, q, kk; /* the output position */
        int hq, wq;   /* p*sh, q*sw */
    };
    __device__ Row row(int col) const
    {
        Row o;
        bool ok = col < n_count;
        int cc = ok ? col : 0;
        int rs = sc_div(cc, dcg);
        int c = cc - rs * Cg;
        int r = sc_div(rs, ds), s = rs - r * S;
        o.coff = (int)goff + c;
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
        k.p = sc_div(pq, dq);
        k.q = pq - k.p * Q;
        k.kk = kk;
        k.hq = k.p * sh;
        k.wq = k.q * sw;
        k.img = x + (i64)n * H * W * C;
        return k;
    }
    __device__ Kst knext(Kst k) const
    {
        k.kk++;
        k.wq += sw;
        if (++k.q == Q) {
            k.q = 0, k.wq = 0;
            k.hq += sh;
            if (++k.p == P) {
                k.p = 0, k.hq = 0;
                k.img += (i64)H * W * C;
            }
        }
        return k;
    }
    __device__ float load(const Row &o, const Kst &k) const
    {
        int h = k.hq + o.hr, w = k.wq + o.ws;
        if (k.kk >= k_end || (unsigned)h >= (unsigned)H || (unsigned)w >= (unsigned)W) return 0.f;
        return sc_ldg(k.img + (unsigned)((h * W + w) * C + o.coff));
    }
};
