/* op_bd.cuh - backward-data as one GEMM per group, stride class and split: the block's slice
 * and its epilogue (dx).
 * Included inside an element type's namespace (dir_*.cuh), where T is defined. */
/* GA, GB: GBdDy, GBdW, or the channel-chunked GBdDyc, GBdWt (b.w the weight copy). */
template <class GA, class GB>
struct OpBdT {
    static constexpr sc_direction dir = SC_DIR_BACKWARD_DATA;
    typedef T Elem;
    static constexpr int gather = GA::gather; /* SC_GATHER_PLAIN or _CC */
    typedef GA A;
    typedef GB B;
    GA a;
    GB b;
    T *dx;
    int C, H, W, K, P, Q, R, S, Cg, Kg, sh, sw, ph, pw, dh, dw, nhwc, classes;
    int G, splits; /* z = split*(G*classes) + g*classes + class */
    i64 x_elems;   /* fp32: split 0 writes dx, split s > 0 writes ws + (s-1)*x_elems; 16-bit T:
                    * split s writes the fp32 slice ws + s*x_elems */
    float *ws;
    BdClass cls[BD_MAX_CLASSES];
    struct Block {
        GA a;
        GB b;
        int kbeg, kend;
        T *dx;
        float *dxf; /* 16-bit T, split plans: this split's fp32 slice (else nullptr) */
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
            sc_split_store(dx, dxf, o.base + (nhwc ? (i64)c : (i64)c * H * W), v);
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
        sc_split_out(dx, ws, x_elems, 0, split, splits, false, &bl.dx, &bl.dxf);
        bl.C = C, bl.H = H, bl.W = W, bl.sh = sh, bl.sw = sw, bl.cls_a = k.a, bl.cls_b = k.b;
        bl.hc = k.hc, bl.wc = k.wc, bl.nhwc = nhwc, bl.cg0 = g * Cg;
        bl.dwc = k.dwc, bl.dhc = k.dhc;
        return true;
    }
};

typedef OpBdT<GBdDy, GBdW> OpBd;
typedef OpBdT<GBdDyc, GBdWt> OpBdC;
