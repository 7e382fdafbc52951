/* mma_emulate.cu - the matrix-unit GEMM's index math, run on the host (no GPU): for random NHWC
 * problems, element types, directions, tile configurations and splits, the operations of
 * src/gpu/mma/op_*.cuh (the same code the kernel runs: their functions are SC_HD) are driven
 * the way mma/kernel.cuh drives them: per block of the grid, the chunks of every stage of the
 * reduction by the thread-to-chunk assignment of the kernel, zero-filled where the operation
 * says invalid, multiplied in double, stored through the operation's epilogue, the split
 * slices added as the reduction kernel adds them. The result is compared with the library's
 * reference convolution. What this cannot check: the fragment layouts of ldmatrix and mma, the
 * cp.async pipeline and the barriers (the GPU machine's verify does).
 *
 * Built with nvcc as host code (make test-c, when nvcc is present); exit status 1 on a failure.
 * usage: mma-emulate [count] [seed] */
#include "mma/bd_fwd.cuh"
#include "mma/op_bd.cuh"
#include "mma/op_bw.cuh"
#include "mma/op_fwd.cuh"
#include "mma/wgmma_tf32_bw.cuh"
#include "winograd.cuh"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

static unsigned long long rng;
static int rnd(int a, int b)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return a + (int)(rng % (unsigned long long)(b - a + 1));
}
static float unit() { return (float)rnd(-1 << 20, 1 << 20) / (float)(1 << 20); }

template <class E>
static E from_float(float v);
template <>
float from_float<float>(float v)
{
    return v;
}
template <>
sc_half from_float<sc_half>(float v)
{
    return sc_round_half(v);
}
template <>
sc_bf16 from_float<sc_bf16>(float v)
{
    return sc_round_bf16(v);
}
static float to_float(float v) { return v; }
static float to_float(sc_half v) { return sc_widen(v); }
static float to_float(sc_bf16 v) { return sc_widen(v); }

/* A chunk's source and valid elements lo .. hi-1 (src points at element lo), as the kernel's
 * load_stage takes them: padded operands say which, the others all (V) or none. */
template <class Op>
static const typename Op::Elem *a_source(const Op &op, const typename Op::Block &b,
                                         const typename Op::AIter &it, int k0, int &lo, int &hi)
{
    if constexpr (Op::A_PAD) {
        return op.a_src(b, it, k0, lo, hi);
    } else {
        bool v;
        const typename Op::Elem *p = op.a_src(b, it, k0, v);
        lo = 0, hi = v ? 16 / (int)sizeof(typename Op::Elem) : 0;
        return p;
    }
}
/* B's: addressed from k0, or the next chunk of a walking iterator (Op::B_WALK) */
template <class Op>
static const typename Op::Elem *b_source(const Op &op, const typename Op::Block &b,
                                         typename Op::BIter &it, int k0, int &lo, int &hi)
{
    typedef typename Op::Elem E;
    if constexpr (Op::B_PAD) {
        if constexpr (Op::B_WALK)
            return op.b_next(b, it, lo, hi);
        else
            return op.b_src(b, it, k0, lo, hi);
    } else {
        bool v;
        const E *p;
        if constexpr (Op::B_WALK)
            p = op.b_next(b, it, v);
        else
            p = op.b_src(b, it, k0, v);
        lo = 0, hi = v ? 16 / (int)sizeof(E) : 0;
        return p;
    }
}

/* A's iterators of a block: per chunk (AIter), or per row and one filter tap per chunk column
 * (Op::A_TAP: kernel.cuh's and wgmma.cuh's walk, op_fwd.cuh). */
template <class Op, bool TAP>
struct AState {
    std::vector<typename Op::AIter> it;
    void init(const Op &op, const typename Op::Block &b, int m0, int BM, int KB, int V, bool AK)
    {
        int n = AK ? BM * (KB / V) : KB * (BM / V);
        it.resize((size_t)n);
        for (int id = 0; id < n; id++) {
            if (AK)
                op.a_init(b, it[(size_t)id], m0 + id / (KB / V), id % (KB / V));
            else
                op.a_init(b, it[(size_t)id], m0 + (id % (BM / V)) * V, id / (BM / V));
        }
    }
    const typename Op::Elem *src(const Op &op, const typename Op::Block &b, int id, int k0, int KB,
                                 int V, int &lo, int &hi)
    {
        return a_source(op, b, it[(size_t)id], k0, lo, hi);
    }
    void step(const Op &, int) {}
};
template <class Op>
struct AState<Op, true> {
    std::vector<typename Op::ARow> rows;
    std::vector<typename Op::ATap> taps; /* one per chunk column, at its next k */
    void init(const Op &op, const typename Op::Block &b, int m0, int BM, int KB, int V, bool)
    {
        rows.resize((size_t)BM), taps.resize((size_t)(KB / V));
        for (int r = 0; r < BM; r++) op.a_row_init(b, rows[(size_t)r], m0 + r);
        for (int kc = 0; kc < KB / V; kc++) op.a_tap_init(b.kbeg + kc * V, taps[(size_t)kc]);
    }
    const typename Op::Elem *src(const Op &op, const typename Op::Block &b, int id, int k0, int KB,
                                 int V, int &lo, int &hi)
    {
        int kc = id % (KB / V);
        bool v;
        const typename Op::Elem *p =
            op.a_src_tap(rows[(size_t)(id / (KB / V))], taps[(size_t)kc], k0 + kc * V < b.kend, v);
        lo = 0, hi = v ? V : 0;
        return p;
    }
    void step(const Op &op, int KB)
    {
        for (auto &t : taps) op.a_tap_step(t, KB);
    }
};

/* Drive op over its grid as mma_kernel does (configuration cfg), accumulating in double. The
 * stages of a block are loaded in k order, once each, through iterators made once per block,
 * as the kernels do (the walking ones depend on it). */
template <class Op>
static void emulate(const Op &op, int cfg, dim3 grid)
{
    typedef typename Op::Elem E;
    const int BM = sc_mma_bm(cfg), BN = sc_mma_bn(cfg), ES = sizeof(E), V = 16 / ES,
              KB = sc_mma_kb(cfg, ES);
    const bool AK = Op::A_KMAJOR, BKM = Op::B_KMAJOR;
    const int a_ch = AK ? BM * (KB / V) : KB * (BM / V), b_ch = BKM ? BN * (KB / V) : KB * (BN / V);
    std::vector<double> A((size_t)BM * KB), B((size_t)KB * BN), acc((size_t)BM * BN);
    /* the blocks in grid order, or (configuration 7) the tiles as the persistent kernel walks
     * them, each block of a grid of 3 its share (sc_wgmma_tile): every tile once */
    std::vector<dim3> order;
    const int all = (int)(grid.x * grid.y * grid.z), pg = 3;
    if (cfg == SC_MMA_WGMMA_PERSIST_CFG) {
        for (int b = 0; b < pg; b++)
            for (int i = 0; i < sc_wgmma_tiles_of(b, pg, all); i++) {
                int bx, by, bz;
                sc_wgmma_tile(b + i * pg, (int)grid.x, (int)grid.y, bx, by, bz);
                order.push_back(dim3((unsigned)bx, (unsigned)by, (unsigned)bz));
            }
    } else {
        for (unsigned z = 0; z < grid.z; z++)
            for (unsigned bx = 0; bx < grid.x; bx++)
                for (unsigned by = 0; by < grid.y; by++) order.push_back(dim3(bx, by, z));
    }
    for (const dim3 &o : order) {
        const unsigned z = o.z, bx = o.x, by = o.y;
        typename Op::Block blk;
        if (!op.block((int)z, blk)) continue;
        int m0 = (int)bx * BM, n0 = (int)by * BN;
        if (m0 >= blk.M || n0 >= blk.N) continue;
        std::fill(acc.begin(), acc.end(), 0.0);
        AState<Op, Op::A_TAP> as;
        as.init(op, blk, m0, BM, KB, V, AK);
        std::vector<typename Op::BIter> bi((size_t)b_ch);
        for (int id = 0; id < b_ch; id++) {
            if (BKM)
                op.b_init(blk, bi[(size_t)id], n0 + id / (KB / V), id % (KB / V));
            else
                op.b_init(blk, bi[(size_t)id], n0 + (id % (BN / V)) * V, id / (BN / V));
        }
        int nk = blk.kend > blk.kbeg ? (blk.kend - blk.kbeg + KB - 1) / KB : 0;
        for (int kt = 0; kt < nk; kt++) {
            int k0 = blk.kbeg + kt * KB;
            for (int id = 0; id < a_ch; id++) {
                int row, kc, base;
                if (AK)
                    row = id / (KB / V), kc = id % (KB / V);
                else
                    kc = id / (BM / V), row = (id % (BM / V)) * V;
                int lo, hi;
                const E *src = as.src(op, blk, id, k0, KB, V, lo, hi);
                for (int e = 0; e < V; e++) {
                    double v = e >= lo && e < hi ? (double)to_float(src[e - lo]) : 0.0;
                    if (AK)
                        base = row * KB + kc * V + e; /* A[row][k] */
                    else
                        base = (row + e) * KB + kc; /* A[m][kk] */
                    A[(size_t)base] = v;
                }
            }
            as.step(op, KB);
            for (int id = 0; id < b_ch; id++) {
                int col, kc;
                if (BKM)
                    col = id / (KB / V), kc = id % (KB / V);
                else
                    kc = id / (BN / V), col = (id % (BN / V)) * V;
                int lo, hi;
                const E *src = b_source(op, blk, bi[(size_t)id], k0, lo, hi);
                for (int e = 0; e < V; e++) {
                    double v = e >= lo && e < hi ? (double)to_float(src[e - lo]) : 0.0;
                    if (BKM)
                        B[(size_t)(kc * V + e) * BN + col] = v; /* B[k][n] */
                    else
                        B[(size_t)kc * BN + col + e] = v;
                }
            }
            for (int r = 0; r < BM; r++)
                for (int k = 0; k < KB; k++) {
                    double a = A[(size_t)r * KB + k];
                    if (a == 0.0) continue;
                    for (int c = 0; c < BN; c++)
                        acc[(size_t)r * BN + c] += a * B[(size_t)k * BN + c];
                }
        }
        /* the epilogue as sc_mma_tile_out writes it: runs of 4 columns through store4 where the
         * operation has it (fp32 forward), of 8 through store8 otherwise */
        constexpr int RUN = Op::STORE4 ? 4 : 8;
        for (int r = 0; r < BM; r++)
            for (int c = 0; c < BN; c += RUN) {
                float v[RUN];
                for (int j = 0; j < RUN; j++) v[j] = (float)acc[(size_t)r * BN + c + j];
                if constexpr (RUN == 4)
                    op.store4(blk, m0 + r, n0 + c, v);
                else
                    op.store8(blk, m0 + r, n0 + c, v);
            }
    }
}

/* The split reduction as gemm_launch.cu's kernels compute it. */
template <class E>
static void reduce(const float *ws, E *out, long long n, int splits, const E *bias, int K)
{
    for (long long i = 0; i < n; i++) {
        float s;
        if (sizeof(E) == 4) {
            s = to_float(out[i]);
            for (int j = 0; j < splits - 1; j++) s += ws[(long long)j * n + i];
        } else {
            s = ws[i];
            for (int j = 1; j < splits; j++) s += ws[(long long)j * n + i];
        }
        if (bias) s += to_float(bias[i % K]);
        out[i] = from_float<E>(s);
    }
}

static int failures;

template <class E>
static void check_one(const sc_conv2d_desc &d, sc_direction dir, int cfg, int splits)
{
    sc_problem pb;
    sc_kp kp;
    if (sc__problem_init(&d, &pb) || !sc_kp_make(&pb, &kp)) return;
    kp.dtype = sc_dtype_of<E>::value;
    long long xe = pb.x_elems, we = pb.w_elems, ye = pb.y_elems;
    std::vector<E> x(xe), w(we), y(ye), bias(d.k);
    std::vector<float> xf(xe), wf(we), yf(ye), bf(d.k),
        ref(dir == SC_DIR_BACKWARD_WEIGHT ? we
            : dir == SC_DIR_BACKWARD_DATA ? xe
                                          : ye);
    auto fill = [](std::vector<E> &v, std::vector<float> &f) {
        for (size_t i = 0; i < v.size(); i++) v[i] = from_float<E>(unit()), f[i] = to_float(v[i]);
    };
    fill(x, xf), fill(w, wf), fill(y, yf), fill(bias, bf);
    sc_kplan pl;
    memset(&pl, 0, sizeof pl);
    pl.algo = SC_ALGO_GPU_IMPLICIT_GEMM_MMA, pl.cfg = cfg, pl.splits = splits;
    long long outn = (long long)ref.size();
    std::vector<float> ws((size_t)outn * splits + 1);
    std::vector<E> out(outn, from_float<E>(NAN));
    dim3 grid;
    bool pad = kp.cg % (16 / (int)sizeof(E)) != 0, row = sc_mma_row_fused(&kp);
    if (dir == SC_DIR_FORWARD && row) { /* as mma/dir.cuh chooses */
        MmaFwd<E, true, true> op = sc_mma_fwd_op<E, true, true>(
            kp, pl, x.data(), w.data(), bias.data(), out.data(), ws.data(), &grid);
        emulate(op, cfg, grid);
        if (splits > 1) reduce<E>(ws.data(), out.data(), outn, splits, bias.data(), kp.k);
    } else if (dir == SC_DIR_FORWARD && pad) {
        MmaFwd<E, true> op = sc_mma_fwd_op<E, true>(kp, pl, x.data(), w.data(), bias.data(),
                                                    out.data(), ws.data(), &grid);
        emulate(op, cfg, grid);
        if (splits > 1) reduce<E>(ws.data(), out.data(), outn, splits, bias.data(), kp.k);
    } else if (dir == SC_DIR_FORWARD) {
        MmaFwd<E, false> op = sc_mma_fwd_op<E, false>(kp, pl, x.data(), w.data(), bias.data(),
                                                      out.data(), ws.data(), &grid);
        emulate(op, cfg, grid);
        if (splits > 1) reduce<E>(ws.data(), out.data(), outn, splits, bias.data(), kp.k);
    } else if (dir == SC_DIR_BACKWARD_DATA && sc_mma_is_wgmma(cfg) &&
               sc_mma_wgmma_applies(&kp, dir)) { /* as mma/dir.cuh: per stride class */
        if (pad) return;
        ws.assign(sc_mma_wgmma_filter_bytes(&kp, dir) / sizeof(float) + (size_t)outn * splits + 1,
                  0.f);
        int e = sc_mma_bd_as_fwd<E>(
            kp, pl, y.data(), out.data(), ws.data(),
            [&](const BdTurn &t, i64 n, E *dst) {
                for (i64 i = 0; i < n; i++) dst[i] = w[(size_t)sc_bd_turn_src(t, i)];
                return 0;
            },
            [&](const MmaFwd<E, false> &op, dim3 g) {
                emulate(op, cfg, g);
                return 0;
            });
        if (e) {
            printf("FAIL bd as forward: error %d\n", e);
            failures++;
            return;
        }
        if (splits > 1)
            reduce<E>(sc_mma_bd_fwd_slices(kp, ws.data()), out.data(), outn, splits,
                      (const E *)nullptr, 1);
    } else if (dir == SC_DIR_BACKWARD_DATA) {
        if (pad) return;
        MmaBd<E> op;
        if (!sc_mma_bd_op<E>(kp, pl, y.data(), w.data(), out.data(), ws.data(), &op, &grid)) return;
        emulate(op, cfg, grid);
        if (splits > 1) reduce<E>(ws.data(), out.data(), outn, splits, (const E *)nullptr, 1);
    } else if (pad) {
        MmaBw<E, true> op =
            sc_mma_bw_op<E, true>(kp, pl, x.data(), y.data(), out.data(), ws.data(), &grid);
        emulate(op, cfg, grid);
        if (splits > 1) reduce<E>(ws.data(), out.data(), outn, splits, (const E *)nullptr, 1);
    } else {
        MmaBw<E, false> op =
            sc_mma_bw_op<E, false>(kp, pl, x.data(), y.data(), out.data(), ws.data(), &grid);
        emulate(op, cfg, grid);
        if (splits > 1) reduce<E>(ws.data(), out.data(), outn, splits, (const E *)nullptr, 1);
    }
    /* The reference on the widened inputs (fp32 descriptor). */
    sc_conv2d_desc df = d;
    df.dtype = SC_DTYPE_F32;
    sc_context_options o;
    sc_context_options_init(&o);
    o.algo = SC_ALGO_CPU_REFERENCE;
    sc_context *ctx;
    if (sc_context_create(&o, &ctx)) return;
    if (dir == SC_DIR_FORWARD)
        sc_conv2d_forward(ctx, &df, xf.data(), wf.data(), bf.data(), ref.data(), NULL, 0);
    else if (dir == SC_DIR_BACKWARD_DATA)
        sc_conv2d_backward_data(ctx, &df, yf.data(), wf.data(), ref.data(), NULL, 0);
    else
        sc_conv2d_backward_weight(ctx, &df, xf.data(), yf.data(), ref.data(), NULL, NULL, 0);
    sc_context_destroy(ctx);
    double e2 = 0, r2 = 0;
    long long bad = 0;
    for (long long i = 0; i < outn; i++) {
        double v = to_float(out[i]);
        if (!isfinite(v)) {
            bad++;
            continue;
        }
        e2 += (v - ref[i]) * (v - ref[i]), r2 += (double)ref[i] * ref[i];
    }
    double rel = sqrt(e2 / (r2 > 0 ? r2 : 1));
    double tol = sizeof(E) == 4 ? 1e-5 : kp.dtype == SC_DTYPE_F16 ? 2e-3 : 1e-2;
    if (bad || rel > tol) {
        if (failures++ < 10)
            printf(
                "FAIL %s dir %d cfg %d splits %d: n%lld c%lld %lldx%lld k%lld %lldx%lld s%lld,%lld "
                "p%lld,%lld d%lld,%lld g%lld: rel %.3g, %lld unwritten\n",
                sizeof(E) == 4             ? "tf32"
                : kp.dtype == SC_DTYPE_F16 ? "f16"
                                           : "bf16",
                (int)dir, cfg, splits, (long long)d.n, (long long)d.c, (long long)d.h,
                (long long)d.w, (long long)d.k, (long long)d.r, (long long)d.s,
                (long long)d.stride_h, (long long)d.stride_w, (long long)d.pad_h,
                (long long)d.pad_w, (long long)d.dil_h, (long long)d.dil_w, (long long)d.groups,
                rel, bad);
    }
}

/* The shared-memory layouts of TF32 backward-weight on wgmma (mma/wgmma_tf32_bw.cuh), by its own
 * address functions and thread assignments: one stage of labelled values is copied in, the
 * transpose and the A fragment loads run as every thread of the block would, and the results
 * are read back through the layouts the hardware defines (wgmma's K-major 128-byte swizzle for
 * B, the register-A fragment of m64nNk8 for A). Also: the copies of a stage fill each tile once
 * (no two chunks at one address), and no 16-byte access of a quarter warp (8 lanes: cp.async,
 * the transpose) nor 4-byte access of a warp (the A loads) shares a bank. */
static int bank_conflicts(const unsigned *addr, int lanes, int bytes)
{
    int bad = 0; /* lanes of one phase whose accesses fall in a used bank (distinct words) */
    for (int a = 0; a < lanes; a++)
        for (int b = 0; b < a; b++) {
            unsigned wa = addr[a] / 4, wb = addr[b] / 4;
            for (int x = 0; x < bytes / 4; x++)
                for (int y = 0; y < bytes / 4; y++)
                    if ((wa + x) % 32 == (wb + y) % 32 && wa + x != wb + y) bad++;
        }
    return bad;
}

static void check_wtb_layout(void)
{
    const int KB = SC_WTB_KB, SLOT = SC_WTB_A_BYTES + SC_WTB_B_BYTES;
    /* values: A[k][m] = 1 + k * 1000 + m, B[k][n] = -(1 + k * 1000 + n) (exact in float) */
    std::vector<float> slot(SLOT / 4, 0.f), bt(SC_WTB_BT_BYTES / 4, 0.f);
    std::vector<int> owner(SLOT / 16, -1);
    int bad = 0;
    for (int id = 0; id < 4 * 256; id++) { /* the kernel's copies: r = id / 32, rc = id % 32 */
        const int r = id >> 5, rc = id & 31;
        const unsigned da = sc_wtb_a_dst(r, rc), db = sc_wtb_b_dst(r, rc);
        if (da % 16 || db % 16 || da + 16 > (unsigned)SC_WTB_A_BYTES || db < SC_WTB_A_BYTES ||
            db + 16 > (unsigned)SLOT || owner[da / 16] >= 0 || owner[db / 16] >= 0) {
            bad++;
            continue;
        }
        owner[da / 16] = owner[db / 16] = id;
        for (int e = 0; e < 4; e++) {
            slot[da / 4 + e] = (float)(1 + r * 1000 + 4 * rc + e);
            slot[db / 4 + e] = -(float)(1 + r * 1000 + 4 * rc + e);
        }
    }
    unsigned ad[32];
    for (int j = 0; j < 4; j++) /* a warp's copies of one j: 4 phases of 8 lanes */
        for (int w = 0; w < 8; w++)
            for (int ph = 0; ph < 4; ph++) {
                for (int l = 0; l < 8; l++) {
                    int id = w * 32 + ph * 8 + l + j * 256;
                    ad[l] = sc_wtb_b_dst(id >> 5, id & 31);
                }
                bad += bank_conflicts(ad, 8, 16) > 0;
                for (int l = 0; l < 8; l++) {
                    int id = w * 32 + ph * 8 + l + j * 256;
                    ad[l] = sc_wtb_a_dst(id >> 5, id & 31);
                }
                bad += bank_conflicts(ad, 8, 16) > 0;
            }
    for (int w = 0; w < 8; w++) /* the transpose, as transpose_b */
        for (int l = 0; l < 32; l++) {
            const int kq = sc_wtb_kq(l), nq = sc_wtb_nq(w, l);
            float v[4][4];
            for (int i = 0; i < 4; i++)
                for (int e = 0; e < 4; e++)
                    v[i][e] = slot[(sc_wtb_tr_src(kq, nq) + i * 512) / 4 + e];
            for (int i = 0; i < 4; i++)
                for (int e = 0; e < 4; e++) bt[sc_wtb_bt_dst(4 * nq + i, kq) / 4 + e] = v[e][i];
        }
    for (int i = 0; i < 4; i++)
        for (int w = 0; w < 8; w++)
            for (int ph = 0; ph < 4; ph++) {
                unsigned rd[8], wr[8];
                for (int l = 0; l < 8; l++) {
                    int kq = sc_wtb_kq(ph * 8 + l), nq = sc_wtb_nq(w, ph * 8 + l);
                    rd[l] = sc_wtb_tr_src(kq, nq) + (unsigned)i * 512;
                    wr[l] = sc_wtb_bt_dst(4 * nq + i, kq);
                }
                bad += (bank_conflicts(rd, 8, 16) > 0) + (bank_conflicts(wr, 8, 16) > 0);
            }
    for (int n = 0; n < 128; n++) /* wgmma's K-major tile: chunk c of row n at c ^ (n % 8) */
        for (int k = 0; k < KB; k++)
            if (bt[(n * 128 + (((k / 4) ^ (n % 8)) << 4)) / 4 + k % 4] !=
                -(float)(1 + k * 1000 + n))
                bad++;
    for (int w = 0; w < 8; w++) /* register A: rows m, m + 8 at k = 8ks + t, 8ks + t + 4 */
        for (int ks = 0; ks < 4; ks++)
            for (int reg = 0; reg < 4; reg++) {
                unsigned wd[32];
                for (int l = 0; l < 32; l++) {
                    int m = sc_wtb_a_m(w, l) + 8 * (reg & 1), k = 8 * ks + (l & 3) + 4 * (reg >> 1);
                    int want_m = (w >> 2) * 64 + (w & 3) * 16 + l / 4 + 8 * (reg & 1);
                    wd[l] = 4u * (unsigned)sc_wtb_a_word(k, m);
                    if (m != want_m ||
                        slot[(size_t)sc_wtb_a_word(k, m)] != (float)(1 + k * 1000 + m))
                        bad++;
                }
                bad += bank_conflicts(wd, 32, 4) > 0;
            }
    if (bad) {
        printf("FAIL wgmma_tf32_bw layouts: %d mismatches or conflicts\n", bad);
        failures++;
    }
}

/* Winograd backward-weight's 3xTF32 GEMM step (winograd.cuh, wino_gemm_step_tf32x3): one
 * transformed point's staged tiles, As (WINO_BC rows of VS_LD, the A side's 32 rows along a
 * row) and Bs (WINO_BC rows of the wide tile's pitch, 64 columns), filled with small integers;
 * each lane's fragment words taken through the kernel's own wino_mma_a_word / b_word; every
 * mma.sync.m16n8k8 emulated with the PTX ISA's fragment layouts (A: a0 (g, t), a1 (g + 8, t),
 * a2 (g, t + 4), a3 (g + 8, t + 4); B: b0 (t, g), b1 (t + 4, g); C: c0 (g, 2t), c1 (g, 2t + 1),
 * c2 (g + 8, 2t), c3 (g + 8, 2t + 1)); then each accumulator, placed by wino_mma_c_row /
 * c_col, must hold its element of the step's product, and every element must be held once.
 * (The splitting into big and small halves and the instruction itself run on the GPU only.) */
static void check_wino_mma_layout(unsigned long long seed)
{
    constexpr int BLD = WINO_BK + 4;
    static double As[WINO_BC * VS_LD], Bs[WINO_BC * BLD];
    const unsigned long long saved = rng; /* its own stream: main's problems stay as they were */
    rng = seed;
    for (double &v : As) v = rnd(-8, 8);
    for (double &v : Bs) v = rnd(-8, 8);
    rng = saved;
    static double acc[32][2][8][4];
    memset(acc, 0, sizeof acc);
    for (int mt = 0; mt < 2; mt++)
        for (int nt = 0; nt < 8; nt++) {
            double A[16][8], B[8][8];
            for (int lane = 0; lane < 32; lane++) { /* the lanes' fragments into the matrices */
                const int g = lane >> 2, t = lane & 3;
                const int ar[4] = {g, g + 8, g, g + 8}, ak[4] = {t, t, t + 4, t + 4};
                for (int e = 0; e < 4; e++) A[ar[e]][ak[e]] = As[wino_mma_a_word(mt, e, g, t)];
                B[t][g] = Bs[wino_mma_b_word(nt, 0, g, t, BLD)];
                B[t + 4][g] = Bs[wino_mma_b_word(nt, 1, g, t, BLD)];
            }
            for (int lane = 0; lane < 32; lane++) { /* D = A B back into the lanes */
                const int g = lane >> 2, t = lane & 3;
                const int cr[4] = {g, g, g + 8, g + 8},
                          cc[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
                for (int e = 0; e < 4; e++)
                    for (int k = 0; k < 8; k++) acc[lane][mt][nt][e] += A[cr[e]][k] * B[k][cc[e]];
            }
        }
    int bad = 0;
    static int seen[32][64];
    memset(seen, 0, sizeof seen);
    for (int lane = 0; lane < 32; lane++)
        for (int mt = 0; mt < 2; mt++)
            for (int nt = 0; nt < 8; nt++)
                for (int e = 0; e < 4; e++) {
                    const int g = lane >> 2, t = lane & 3;
                    const int r = wino_mma_c_row(mt, e, g), c = wino_mma_c_col(nt, e, t);
                    if (r < 0 || r >= WINO_BT || c < 0 || c >= WINO_BK) {
                        bad++;
                        continue;
                    }
                    seen[r][c]++;
                    double want = 0;
                    for (int i = 0; i < WINO_BC; i++) want += As[i * VS_LD + r] * Bs[i * BLD + c];
                    bad += acc[lane][mt][nt][e] != want;
                }
    for (int r = 0; r < WINO_BT; r++)
        for (int c = 0; c < WINO_BK; c++) bad += seen[r][c] != 1;
    if (bad) {
        printf("FAIL winograd 3xTF32 step layouts: %d mismatches\n", bad);
        failures++;
    }
}

int main(int argc, char **argv)
{
    check_wtb_layout();
    for (unsigned long long i = 1; i <= 4; i++) check_wino_mma_layout(0x9e3779b97f4a7c15ull * i);
    int count = argc > 1 ? atoi(argv[1]) : 60;
    rng = argc > 2 ? strtoull(argv[2], NULL, 0) : 88172645463325252ull;
    int checked = 0;
    for (int i = 0; i < count; i++) {
        sc_conv2d_desc d;
        sc_conv2d_desc_init(&d);
        int v = rnd(0, 2) ? 8 : 16;
        d.groups = rnd(0, 3) ? 1 : 2;
        d.c = (long long)v * rnd(1, 3) * d.groups, d.k = (long long)v * rnd(1, 3) * d.groups;
        if (rnd(0, 2) == 0) d.c = (long long)rnd(1, 20) * d.groups; /* padded channels */
        d.n = rnd(1, 2), d.h = rnd(1, 11), d.w = rnd(1, 11);
        d.r = rnd(1, 3), d.s = rnd(1, 3);
        d.stride_h = rnd(1, 2), d.stride_w = rnd(1, 2), d.pad_h = rnd(0, 2), d.pad_w = rnd(0, 2);
        d.dil_h = rnd(1, 2), d.dil_w = rnd(1, 2);
        d.layout = SC_NHWC;
        if (sc_conv2d_validate(&d)) continue;
        int cfg = rnd(0, SC_MMA_NCFG - 1), splits = rnd(0, 2) ? 1 : rnd(2, 3);
        if (cfg == SC_MMA_WGMMA_PERSIST_CFG) splits = 1; /* its launcher takes no split */
        for (int dir = 0; dir < 3; dir++) {
            check_one<sc_half>(d, (sc_direction)dir, cfg, splits);
            check_one<sc_bf16>(d, (sc_direction)dir, cfg, splits);
            check_one<float>(d, (sc_direction)dir, cfg, splits);
            checked += 3;
        }
    }
    printf("mma_emulate: %d checks, %d failed\n", checked, failures);
    return failures ? 1 : 0;
}
