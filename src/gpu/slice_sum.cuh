/* slice_sum.cuh - the second pass of the backward-weight kernels that cut the reduction into
 * row slices (depthwise_bw.cu, small_c_bw.cu): part[slice][tap][K] (fp32, coalesced along k)
 * added in slice order into dw[k][tap], rounded once to the element type. `taps` is what one
 * output channel's filter holds (R*S for depthwise, Cg*R*S in the weight's own order for a
 * dense or grouped layer). The order of the additions depends on `slices` alone, so the same
 * plan gives the same bits on every run. */
#ifndef SC_GPU_SLICE_SUM_CUH
#define SC_GPU_SLICE_SUM_CUH

#include "dtype.cuh"

/* The first pass's write of one sum v for output channel k, tap `tap` of `taps` (k_count
 * output channels): with one slice (gridDim.y == 1) straight to dw[k][tap], rounded to T; else
 * to this slice's (blockIdx.y) fp32 row part[slice][tap][k], which the pass below adds.
 * dwb_rows (depthwise_bw.cu) writes the same layout in its own lines: it ran on the H200 in that
 * form, and this helper changes its instructions, not its values. */
template <class T>
__device__ __forceinline__ void sc_slice_put(T *dwt, float *part, long long k, int k_count,
                                             int taps, int tap, float v)
{
    if (gridDim.y == 1)
        sc_put(dwt + (k * taps + tap), v);
    else
        part[((long long)blockIdx.y * taps + tap) * k_count + k] = v;
}

/* The first pass's walk over its slice's output rows [r0, r1) (row = n*P + p) in shared-memory
 * stages, as dwb_plane (depthwise_bw.cu) and scw_bw (small_c_bw.cu) make it: stages of up to
 * rb rows of one image (rows(n, p0, nr) called once each), each cut into column chunks of up
 * to qw. For each chunk, between two barriers, stage(q0, qw) fills shared memory (every thread
 * of the block); then a thread of group grp < groups calls run(u, qa, qe) over its group's
 * equal share of the chunk's nr*qw positions, row by row (the chunk's row u, its columns qa ..
 * qe-1), in order. The order of a group's positions depends on the plan alone, so its sums are
 * the same bits on every run. */
template <class Rows, class Stage, class Run>
__device__ __forceinline__ void sc_slice_walk(int P, int Q, int r0, int r1, int rb, int qw_most,
                                              int grp, int groups, Rows rows, Stage stage, Run run)
{
    for (int row = r0; row < r1;) {
        const int n = row / P, p0 = row - n * P;
        const int nr = min(rb, min(r1 - row, P - p0)); /* rows of this stage, one image */
        rows(n, p0, nr);
        for (int q0 = 0; q0 < Q; q0 += qw_most) {
            const int qw = min(qw_most, Q - q0);
            __syncthreads(); /* the last stage's reads are done */
            stage(q0, qw);
            __syncthreads();
            if (grp >= groups) continue;
            /* this group's equal share of the nr*qw positions, row by row */
            const int total = nr * qw, per = (total + groups - 1) / groups;
            const int pe = min(total, (grp + 1) * per);
            for (int pos = grp * per; pos < pe;) {
                const int u = pos / qw, qa = pos - u * qw, qe = min(qw, qa + (pe - pos));
                run(u, qa, qe);
                pos += qe - qa;
            }
        }
        row += nr;
    }
}

/* A block per 32 consecutive (tap, k) entries i of part's rows (one lane each); warp j adds the
 * slices j, j + 8, j + 16, ... in that order (independent loads, four in flight), then warp 0
 * adds the eight warps' sums in warp order and rounds to dw[k][tap]. One long chain of
 * dependent loads per entry, as a thread per entry would make, leaves the GPU waiting on memory
 * latency with a few thousand threads. */
#define SC_SLICE_SUM_WARPS 8
template <class T>
__global__ __launch_bounds__(SC_SLICE_SUM_WARPS * 32) void sc_slice_sum_kernel(
    int k_count, int taps, int slices, const float *__restrict__ part, T *__restrict__ dwt)
{
    typedef long long i64;
    __shared__ float red[SC_SLICE_SUM_WARPS][32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const i64 per = (i64)taps * k_count;
    const i64 i = (i64)blockIdx.x * 32 + lane;
    float v = 0.f;
    if (i < per) {
        int s = warp;
        for (; s + 3 * SC_SLICE_SUM_WARPS < slices; s += 4 * SC_SLICE_SUM_WARPS) {
            float a = part[(i64)s * per + i], b = part[(i64)(s + SC_SLICE_SUM_WARPS) * per + i];
            float c = part[(i64)(s + 2 * SC_SLICE_SUM_WARPS) * per + i];
            float d = part[(i64)(s + 3 * SC_SLICE_SUM_WARPS) * per + i];
            v = (((v + a) + b) + c) + d;
        }
        for (; s < slices; s += SC_SLICE_SUM_WARPS) v += part[(i64)s * per + i];
    }
    red[warp][lane] = v;
    __syncthreads();
    if (warp != 0 || i >= per) return;
    v = red[0][lane];
    for (int u = 1; u < SC_SLICE_SUM_WARPS; u++) v += red[u][lane];
    const int tap = (int)(i / k_count), k = (int)(i - (i64)tap * k_count);
    sc_put(dwt + ((i64)k * taps + tap), v);
}

/* Launch the sum on `st` (no error check: the caller's cudaGetLastError sees it). */
template <class T>
static void sc_slice_sum(int k_count, int taps, int slices, const float *part, T *dwt,
                         cudaStream_t st)
{
    long long per = (long long)taps * k_count;
    sc_slice_sum_kernel<T><<<(unsigned)((per + 31) / 32), SC_SLICE_SUM_WARPS * 32, 0, st>>>(
        k_count, taps, slices, part, dwt);
}

#endif /* SC_GPU_SLICE_SUM_CUH */
