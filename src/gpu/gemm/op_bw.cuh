/* op_bw.cuh - backward-weight as one GEMM per group and split: the block's slice and its
 * epilogue (dw: slices in the workspace, or serial splits adding in order).
 * Included inside an element type's namespace (dir_*.cuh), where T is defined. */
/* GA, GB: GBwDy, GBwX, or their 32-bit-offset forms GBwDyN, GBwXN (NCHW), GBwDyH, GBwXH (NHWC). */
template <class GA, class GB>
struct OpBwT {
    static constexpr sc_direction dir = SC_DIR_BACKWARD_WEIGHT;
    typedef T Elem;
    static constexpr int gather = GA::gather; /* SC_GATHER_PLAIN, _N32 or _H32 */
    typedef GA A;
    typedef GB B;
    GA a;
    GB b;
    T *out; /* dw. fp32: split 0 writes here, split s > 0 to ws + (s-1)*wsize (slices);
             * 16-bit T: split s to the fp32 slice ws + s*wsize; no serial splits */
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
        T *out;
        float *outf; /* 16-bit T, split plans: this split's fp32 slice (else nullptr) */
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
        __device__ void store(const Out &o, int col, float v) const
        {
            sc_split_store(out, outf, o.base + col, v);
        }
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
        sc_split_out(out, ws, wsize, (i64)g * Kg * crs, split, splits, sem != nullptr, &bl.out,
                     &bl.outf);
        return true;
    }
};

typedef OpBwT<GBwDy, GBwX> OpBw;
typedef OpBwT<GBwDyN, GBwXN> OpBwN;
typedef OpBwT<GBwDyH, GBwXH> OpBwH;
