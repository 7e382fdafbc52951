/* bias.cu - the deterministic bias gradient db[k] = sum over n, p, q of dy: one kernel pair
 * that serves every GPU family (the backward-bias direction, and backward-weight's dbias). No
 * atomics: the rows are cut into fixed slices (bias.h), each (slice, channel) is one block's
 * fixed-order reduction, and the slices' partial sums are added in slice order. Sums in
 * double: a bias gradient is one number from up to N*P*Q terms of both signs, where float
 * partial sums lose the small result to cancellation; the kernels are memory-bound, so double
 * adds cost nothing measurable. */
#include "bias.h"
#include "dtype.cuh"
#include "launch.h"

typedef long long i64;

/* One block's result: db[k] (one slice) or the partial part[slice * K + k]. */
template <class T>
__device__ __forceinline__ void bias_store(const sc_kp &kp, int slices, int slice, int k, double v,
                                           T *__restrict__ db, double *__restrict__ part)
{
    if (slices == 1)
        sc_put(db + k, (float)v);
    else
        part[(i64)slice * kp.k + k] = v;
}

/* NCHW: block (k, slice). The slice's rows are a range of the flattened (n, p*q); thread t sums
 * the elements t, t+256, ... of each contiguous run (one image's plane) in order, then a fixed
 * tree over the block. */
template <class T>
__global__ __launch_bounds__(BIAS_T) void bias_nchw(sc_kp kp, int slices, i64 per,
                                                    const T *__restrict__ dy, T *__restrict__ db,
                                                    double *__restrict__ part)
{
    __shared__ double red[BIAS_T];
    int k = blockIdx.x, slice = blockIdx.y;
    i64 pq = (i64)kp.p * kp.q, rows = (i64)kp.n * pq;
    i64 lo = slice * per, hi = lo + per < rows ? lo + per : rows;
    double acc = 0.0;
    if (lo < hi) {
        i64 n = lo / pq, j = lo - n * pq;
        for (i64 at = lo; at < hi; n++, j = 0) {
            i64 len = pq - j < hi - at ? pq - j : hi - at; /* the run inside image n */
            const T *row = dy + (n * kp.k + k) * pq + j;
            for (i64 t = threadIdx.x; t < len; t += BIAS_T) acc += sc_get(row + t);
            at += len;
        }
    }
    red[threadIdx.x] = acc;
    __syncthreads();
    for (int o = BIAS_T / 2; o > 0; o >>= 1) {
        if ((int)threadIdx.x < o) red[threadIdx.x] += red[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) bias_store(kp, slices, slice, k, red[0], db, part);
}

/* NHWC: block (32 channels, slice) of 32 lanes x 8 row-walkers; walker ty sums the slice's
 * rows ty, ty+8, ... in order, then the 8 walkers are added in order. */
template <class T>
__global__ __launch_bounds__(BIAS_T) void bias_nhwc(sc_kp kp, int slices, i64 per,
                                                    const T *__restrict__ dy, T *__restrict__ db,
                                                    double *__restrict__ part)
{
    constexpr int WALK = BIAS_T / BIAS_NHWC_CH;
    __shared__ double red[WALK][BIAS_NHWC_CH + 1];
    int tx = threadIdx.x % BIAS_NHWC_CH, ty = threadIdx.x / BIAS_NHWC_CH;
    int k = blockIdx.x * BIAS_NHWC_CH + tx, slice = blockIdx.y;
    i64 rows = (i64)kp.n * kp.p * kp.q;
    i64 lo = slice * per, hi = lo + per < rows ? lo + per : rows;
    double acc = 0.0;
    if (k < kp.k)
        for (i64 j = lo + ty; j < hi; j += WALK) acc += sc_get(dy + j * kp.k + k);
    red[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && k < kp.k) {
        double s = red[0][tx];
        for (int i = 1; i < WALK; i++) s += red[i][tx];
        bias_store(kp, slices, slice, k, s, db, part);
    }
}

/* Pass 2: db[k] = the partials of channel k added in slice order. */
template <class T>
__global__ __launch_bounds__(BIAS_T) void bias_sum(int kk, int slices,
                                                   const double *__restrict__ part,
                                                   T *__restrict__ db)
{
    int k = blockIdx.x * BIAS_T + threadIdx.x;
    if (k >= kk) return;
    double s = 0.0;
    for (int i = 0; i < slices; i++) s += part[(i64)i * kk + k];
#ifdef SC_BIAS_MUTANT /* a deliberately broken variant for the tests: the last slice dropped */
    s -= slices > 1 ? part[(i64)(slices - 1) * kk + k] : 0.0;
#endif
    sc_put(db + k, (float)s);
}

int sc_launch_bias_grad(const sc_kp &kp, int slices, const void *dy, void *db, void *ws,
                        cudaStream_t st)
{
    if (slices < 1) slices = 1;
    i64 per = sc_bias_rows_per_slice(&kp, slices);
    double *part = (double *)ws;
    return sc_with_dtype(kp.dtype, [&](auto t) {
        using T = decltype(t);
        dim3 grid((unsigned)sc_bias_cblocks(&kp), (unsigned)slices);
        if (kp.nhwc)
            bias_nhwc<T><<<grid, BIAS_T, 0, st>>>(kp, slices, per, (const T *)dy, (T *)db, part);
        else
            bias_nchw<T><<<grid, BIAS_T, 0, st>>>(kp, slices, per, (const T *)dy, (T *)db, part);
        if (slices > 1)
            bias_sum<T>
                <<<(kp.k + BIAS_T - 1) / BIAS_T, BIAS_T, 0, st>>>(kp.k, slices, part, (T *)db);
        return (int)cudaGetLastError();
    });
}
