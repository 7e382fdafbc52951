/* small_c_phase.cu - small-C backward-data in stride phases: dx of an fp32 stem (groups 1,
 * C <= 4, dilation 1; where it applies: small_c.h) with each dy value loaded once for 16 output
 * rows and all C channels, where small_c.cu's kernel loads it once for C outputs.
 *
 *   dx[n][c][h][w] = sum over k, r, s with h + ph - r = sh*p, w + pw - s = sw*q (p, q in range)
 *                    of dy[n][k][p][q] * w[k][c][r][s]
 *
 * Phases: with u = h + ph, the taps of row h are r = (u mod sh) + sh*i at p = (u div sh) - i,
 * i = 0 .. NR-1 (NR = ceil(R / sh); taps past R dropped). Rows of one class a (h = a + sh*t)
 * share u mod sh and step u div sh by one: so JH of them need dy rows p0 - (NR-1) .. p0 + JH-1,
 * JH + NR - 1 values of one column, each used by up to NR of the JH rows. Columns likewise:
 * w = b + sw*j shares the column taps s = ((b + pw) mod sw) + sw*i_s at q = ((w + pw) div sw)
 * - i_s. So a thread takes JH rows of a row class at one column of a column class, all C
 * channels (acc[JH][C]); consecutive lanes take consecutive columns of the class, so a warp
 * shares its row class, row block and column class: its dy loads are 32 consecutive q, and its
 * weights one 16-byte broadcast a tap (wt[(k*R + r)*S + s] = the C weights, zero-padded to 4).
 *
 * Threads: (n, row class a, row block, column class b, column j), j fastest and padded to a
 * multiple of 32 per (n, a, block, b). Summation order fixed: k, then column tap, then row
 * tap. A tap outside dy (p or q out of range) is skipped, not multiplied by zero, so a
 * non-finite weight reaches only the outputs it belongs to, as in small_c.cu.
 *
 * NHWC (dy[n][p][q][k], w[k][r][s][c], dx[n][h][w][c]): a column's K values of one dy position
 * are consecutive, 32 consecutive q are K floats apart. So SCP_KL = 8 lanes share a column and
 * its JH rows, lane l taking k = l, l + 8, ...: a warp's dy load is 4 columns x 8 consecutive
 * k (four whole 32-byte sectors), and the filter sits in shared memory as [R][S][K] (8
 * consecutive entries a load). Each lane sums its k (k, then column tap, then row tap) and the
 * 8 lanes' sums are added by an xor butterfly (1, 2, 4): the same additions for every lane, so
 * all 8 hold the same bits; lane l writes rows jj = l, l + 8. Threads: (n, a, block, b, j, l), l
 * fastest, j padded to a multiple of 4. */
#include "knobs.h"
#include "launch.h"
#include "small_c.h"

typedef long long i64;
/* dy's step from one row to the next (NHWC: Q*K < 2^31, sc_small_c_phase_applies): 64-bit on
 * NVIDIA (the H200-checked code), 32-bit on AMD, where hipcc (ROCm 5.2, gfx1010) gave the NCHW
 * kernel up to 2x the VGPRs for the 64-bit step */
#if SC_GPU_HIP
typedef int scp_step;
#else
typedef i64 scp_step;
#endif

enum {
    JH = SCP_JH
};

struct scp_args {
    int n, c, h, w, k, p, q, r, s, sh, sw, ph, pw;
    int nib; /* row blocks per row class: ceil(ceil(H / sh) / JH) */
    int wcp; /* columns per column class, padded (sc_small_c_phase_wcp) */
};

/* One column tap: acc[jj][c] += dy[p0 - (NR-1) + jj + NR-1-ir][q] * wt[r][s][c] over the row
 * taps ir of this row phase; col is dy's first row at this column and k, `rstep` floats from
 * one row to the next; the tap (r, s) at wrs[r * wstep]. CHECK: some of the JH + NR - 1 dy rows
 * are outside dy (bit e of rmask clear), and their taps are skipped. NHWC only keeps each
 * layout's kernel its own instance: hipcc (ROCm 5.2) gave the NCHW kernel up to 2.1x the VGPRs
 * (gfx1010) when both shared one. */
template <int C, int NR, bool CHECK, bool NHWC>
__device__ __forceinline__ void scp_tap(float (&acc)[JH][C], const float *__restrict__ col,
                                        scp_step rstep, unsigned rmask, const float4 *wrs,
                                        int wstep, int r0, int sh, int R)
{
    float d[JH + NR - 1];
#pragma unroll
    for (int e = 0; e < JH + NR - 1; e++)
        d[e] = !CHECK || (rmask >> e & 1) ? __ldg(col + (i64)e * rstep) : 0.f;
#pragma unroll
    for (int ir = 0; ir < NR; ir++) {
        const int r = r0 + sh * ir;
#ifdef SC_SCP_MUTANT /* a broken variant the checks must catch: the last row tap dropped */
        if (ir == NR - 1 && NR > 1) break;
#endif
        if (r >= R) break; /* the same for the whole warp (one row phase) */
        const float4 wv = wrs[r * wstep];
        const float wc[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
        for (int jj = 0; jj < JH; jj++) {
            const int e = jj + NR - 1 - ir; /* dy row p0 + jj - ir */
            if (CHECK && !(rmask >> e & 1)) continue;
#pragma unroll
            for (int c = 0; c < C; c++) acc[jj][c] = fmaf(d[e], wc[c], acc[jj][c]);
        }
    }
}

/* The filter staged in shared memory as one float4 per (k, r, s): its C weights, zero past C.
 * NCHW's kernel reads it as [K][R][S] (from w in KCRS), NHWC's as [R][S][K] (from KRSC), so a
 * warp's taps are one broadcast (NCHW) or 8 consecutive k (NHWC). Ends with the barrier. */
template <int C, bool NHWC>
__device__ __forceinline__ void scp_stage(float4 *wt, const float *__restrict__ w,
                                          const scp_args &a)
{
    const int RS = a.r * a.s;
    for (int i = threadIdx.x; i < a.k * RS; i += SCP_T) {
        float v[4] = {0.f, 0.f, 0.f, 0.f};
        if (NHWC) {
            const int rs = i / a.k, k = i - rs * a.k;
#pragma unroll
            for (int c = 0; c < C; c++) v[c] = w[((i64)k * RS + rs) * C + c];
        } else {
            const int k = i / RS, rs = i - k * RS;
#pragma unroll
            for (int c = 0; c < C; c++) v[c] = w[((i64)k * C + c) * RS + rs];
        }
        wt[i] = make_float4(v[0], v[1], v[2], v[3]);
    }
    __syncthreads();
}

/* Where one thread (or, in NHWC, one column's SCP_KL lanes) works: image n, row class ra, the
 * class's rows i0 .. i0 + JH-1 (of `rows`), output column wcol (past W for a padding column);
 * then (scp_row_phase) the first column tap bw at dy column qb, the first row tap ah, and the dy
 * rows pfirst .. pfirst + JH+NR-2 the rows need (bit e of rmask: row pfirst + e exists). */
struct scp_place {
    int n, ra, i0, rows, wcol;
    int bw, qb, ah, pfirst;
    unsigned rmask;
    bool all_rows;
};

/* The place of thread index t (j fastest, then b, row block, ra, n); false when it has no rows
 * (past the last image, or a row block past its class's rows) or, with SKIP_PAD, no column (a
 * padding column: NHWC's lanes keep theirs for the shuffle). */
template <bool SKIP_PAD>
__device__ __forceinline__ bool scp_place_of(int t, const scp_args &a, scp_place &p)
{
    const int j = t % a.wcp;
    t /= a.wcp;
    const int b = t % a.sw;
    t /= a.sw;
    const int ib = t % a.nib;
    t /= a.nib;
    p.ra = t % a.sh, p.n = t / a.sh;
    if (p.n >= a.n) return false;
    p.wcol = b + a.sw * j, p.rows = (a.h - p.ra + a.sh - 1) / a.sh, p.i0 = ib * JH;
    return SKIP_PAD ? !(p.wcol >= a.w || p.i0 >= p.rows) : p.i0 < p.rows;
}

template <int NR>
__device__ __forceinline__ void scp_row_phase(const scp_args &a, scp_place &p)
{
    const int v = p.wcol + a.pw;
    p.bw = v % a.sw, p.qb = v / a.sw;
    const int u0 = p.ra + a.sh * p.i0 + a.ph;
    p.ah = u0 % a.sh, p.pfirst = u0 / a.sh - (NR - 1);
    unsigned rmask = 0;
#pragma unroll
    for (int e = 0; e < JH + NR - 1; e++)
        rmask |= (unsigned)((unsigned)(p.pfirst + e) < (unsigned)a.p) << e;
    p.rmask = rmask;
    p.all_rows = rmask == (1u << (JH + NR - 1)) - 1;
}

template <int C, int NR>
__global__ __launch_bounds__(SCP_T) void smallc_bd_phase(scp_args a, const float *__restrict__ dy,
                                                         const float *__restrict__ w,
                                                         float *__restrict__ dx)
{
    extern __shared__ float4 smem4[];
    float4 *wt = smem4; /* [K][R][S] */
    scp_stage<C, false>(wt, w, a);
    const int RS = a.r * a.s;

    scp_place p;
    /* thread index < 2^31 (sc_small_c_phase_applies) */
    if (!scp_place_of<true>(blockIdx.x * SCP_T + threadIdx.x, a, p)) return;
    scp_row_phase<NR>(a, p);
    const int n = p.n, wcol = p.wcol, rows = p.rows, i0 = p.i0;

    float acc[JH][C];
#pragma unroll
    for (int jj = 0; jj < JH; jj++)
#pragma unroll
        for (int c = 0; c < C; c++) acc[jj][c] = 0.f;
    for (int k = 0; k < a.k; k++) {
        const float *dyk = dy + ((i64)n * a.k + k) * a.p * a.q + (i64)p.pfirst * a.q;
        const float4 *wk = wt + k * RS; /* the tap (r, s) at wk[r * S + s] */
        for (int s = p.bw, q = p.qb; s < a.s; s += a.sw, q--) {
            if (q < 0) break; /* q only falls */
            if (q >= a.q) continue;
            if (p.all_rows)
                scp_tap<C, NR, false, false>(acc, dyk + q, a.q, p.rmask, wk + s, a.s, p.ah, a.sh,
                                             a.r);
            else
                scp_tap<C, NR, true, false>(acc, dyk + q, a.q, p.rmask, wk + s, a.s, p.ah, a.sh,
                                            a.r);
        }
    }
#pragma unroll
    for (int jj = 0; jj < JH; jj++) {
        if (i0 + jj >= rows) break;
        const int h = p.ra + a.sh * (i0 + jj);
#pragma unroll
        for (int c = 0; c < C; c++) dx[(((i64)n * C + c) * a.h + h) * a.w + wcol] = acc[jj][c];
    }
}

/* Before sm_90 one block an SM is asked for: without it ptxas held the NHWC kernel to 128
 * registers on sm_86 and sm_89 and spilled (C = 3, NR = 4); sm_90 keeps the bound the H200 ran. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#define SCP_NHWC_BOUNDS __launch_bounds__(SCP_T, 1)
#else
#define SCP_NHWC_BOUNDS __launch_bounds__(SCP_T)
#endif

template <int C, int NR>
__global__ SCP_NHWC_BOUNDS void smallc_bd_phase_nhwc(scp_args a, const float *__restrict__ dy,
                                                     const float *__restrict__ w,
                                                     float *__restrict__ dx)
{
    extern __shared__ float4 smem4[];
    float4 *wt = smem4; /* [R][S][K] */
    scp_stage<C, true>(wt, w, a);

    const int t = blockIdx.x * SCP_T + threadIdx.x; /* < 2^31 (sc_small_c_phase_applies) */
    const int l = t % SCP_KL;
    /* n, ra, ib, b are the same across a warp of 32 (wcp a multiple of 32 / SCP_KL), so this
     * return takes whole warps on NVIDIA, whose shuffle names all 32 lanes; a wave64 spans two
     * such runs, but AMD's shuffle needs only the 8 lanes of a column, which share j too */
    scp_place p;
    if (!scp_place_of<false>(t / SCP_KL, a, p)) return;
    const bool live = p.wcol < a.w; /* not a padding column */
    scp_row_phase<NR>(a, p);
    const int n = p.n, wcol = p.wcol, rows = p.rows, i0 = p.i0;
    const scp_step rstep = (scp_step)a.q * a.k; /* dy: one row to the next */

    float acc[JH][C];
#pragma unroll
    for (int jj = 0; jj < JH; jj++)
#pragma unroll
        for (int c = 0; c < C; c++) acc[jj][c] = 0.f;
    for (int k = l; live && k < a.k; k += SCP_KL) {
        const float *dyk = dy + ((i64)n * a.p + p.pfirst) * rstep + k;
        const float4 *wk = wt + k; /* the tap (r, s) at wk[(r * S + s) * K] */
        for (int s = p.bw, q = p.qb; s < a.s; s += a.sw, q--) {
            if (q < 0) break; /* q only falls */
            if (q >= a.q) continue;
            const float *col = dyk + (i64)q * a.k;
            if (p.all_rows)
                scp_tap<C, NR, false, true>(acc, col, rstep, p.rmask, wk + s * a.k, a.s * a.k, p.ah,
                                            a.sh, a.r);
            else
                scp_tap<C, NR, true, true>(acc, col, rstep, p.rmask, wk + s * a.k, a.s * a.k, p.ah,
                                           a.sh, a.r);
        }
    }
#pragma unroll
    for (int m = 1; m < SCP_KL; m *= 2)
#pragma unroll
        for (int jj = 0; jj < JH; jj++)
#pragma unroll
            for (int c = 0; c < C; c++) acc[jj][c] += sc_shfl_xor(acc[jj][c], m, SCP_KL);
    if (!live) return;
#pragma unroll
    for (int jj = 0; jj < JH; jj++) {
        if (jj % SCP_KL != l) continue;
        if (i0 + jj >= rows) break;
        const int h = p.ra + a.sh * (i0 + jj);
#pragma unroll
        for (int c = 0; c < C; c++) dx[(((i64)n * a.h + h) * a.w + wcol) * C + c] = acc[jj][c];
    }
}

template <int C, int NR>
static int scp_launch(const scp_args &a, long long threads, bool nhwc, const float *dy,
                      const float *w, float *dx, cudaStream_t st)
{
    const int smem = a.k * a.r * a.s * (int)sizeof(float4), most = SCP_MAX_TAPS * sizeof(float4);
    const unsigned blocks = (unsigned)((threads + SCP_T - 1) / SCP_T);
    if (nhwc) {
        if (int e = sc_smem_opt_in<smallc_bd_phase_nhwc<C, NR>>(smem, most)) return e;
        smallc_bd_phase_nhwc<C, NR><<<blocks, SCP_T, smem, st>>>(a, dy, w, dx);
    } else {
        if (int e = sc_smem_opt_in<smallc_bd_phase<C, NR>>(smem, most)) return e;
        smallc_bd_phase<C, NR><<<blocks, SCP_T, smem, st>>>(a, dy, w, dx);
    }
    return (int)cudaGetLastError();
}

template <int C>
static int scp_launch_c(const scp_args &a, int nr, long long threads, bool nhwc, const float *dy,
                        const float *w, float *dx, cudaStream_t st)
{
    switch (nr) {
    case 1: return scp_launch<C, 1>(a, threads, nhwc, dy, w, dx, st);
    case 2: return scp_launch<C, 2>(a, threads, nhwc, dy, w, dx, st);
    case 3: return scp_launch<C, 3>(a, threads, nhwc, dy, w, dx, st);
    case 4: return scp_launch<C, 4>(a, threads, nhwc, dy, w, dx, st);
    }
    return (int)cudaErrorInvalidValue;
}

int sc_launch_small_c_phase(const sc_kp &kp, const void *dy, const void *w, void *dx,
                            cudaStream_t st)
{
    if (!sc_small_c_phase_applies(&kp)) return (int)cudaErrorInvalidValue;
    scp_args a;
    a.n = kp.n, a.c = kp.c, a.h = kp.h, a.w = kp.w, a.k = kp.k, a.p = kp.p, a.q = kp.q;
    a.r = kp.r, a.s = kp.s, a.sh = kp.sh, a.sw = kp.sw, a.ph = kp.ph, a.pw = kp.pw;
    a.nib = sc_small_c_phase_blocks(&kp);
    a.wcp = sc_small_c_phase_wcp(&kp);
    const int nr = (kp.r + kp.sh - 1) / kp.sh;
    const long long threads = sc_small_c_phase_threads(&kp);
    const float *d = (const float *)dy, *f = (const float *)w;
    float *o = (float *)dx;
    switch (kp.c) {
    case 1: return scp_launch_c<1>(a, nr, threads, kp.nhwc, d, f, o, st);
    case 2: return scp_launch_c<2>(a, nr, threads, kp.nhwc, d, f, o, st);
    case 3: return scp_launch_c<3>(a, nr, threads, kp.nhwc, d, f, o, st);
    case 4: return scp_launch_c<4>(a, nr, threads, kp.nhwc, d, f, o, st);
    }
    return (int)cudaErrorInvalidValue;
}
