/* op_fwd.cuh - forward as one GEMM per group and split: the block's slice, its epilogue
 * (bias, NCHW/NHWC y, split slices in the workspace).
 * Included inside an element type's namespace (dir_*.cuh), where T is defined. */
/* GA: the plain gather GFwdX or the channel-chunked GFwdXc (with the weight copy as b.w). */
template <class GA, class GB>
struct OpFwdT {
    static constexpr sc_direction dir = SC_DIR_FORWARD;
    typedef T Elem;
    static constexpr int gather = GA::gather; /* SC_GATHER_PLAIN or _CC */
    typedef GA A;
    typedef GB B;
    GA a;
    GB b;
    const T *bias;
    T *y;
    int K, Kg, P, Q, Cg, H, W, nhwc;
    int G, splits, chunk; /* reduction split: z = split*G + g; chunk is a multiple of BK */
    i64 kgoff_mult_w;     /* Kg * CgRS */
    i64 y_elems; /* fp32: split 0 writes y, split s > 0 writes ws + (s-1)*y_elems; 16-bit T:
                  * split s writes the fp32 slice ws + s*y_elems (one rounding, in the reduce) */
    float *ws;
    struct Block {
        GA a;
        GB b;
        int kbeg, kend;
        const T *bias;
        T *y;
        float *yf; /* 16-bit T, split plans: this split's fp32 slice (else nullptr) */
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
            if (bias) v += sc_get(bias + kg0 + k);
            sc_split_store(y, yf, o.base + (nhwc ? (i64)k : (i64)k * P * Q), v);
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
        sc_split_out(y, ws, y_elems, 0, split, splits, false, &bl.y, &bl.yf);
        bl.K = K, bl.P = P, bl.Q = Q, bl.nhwc = nhwc;
        bl.kg0 = g * Kg;
        bl.dq = a.dq, bl.dp = a.dp;
        return true;
    }
};

typedef OpFwdT<GFwdX, GFwdW> OpFwd;
typedef OpFwdT<GFwdXc, GFwdW> OpFwdC;
