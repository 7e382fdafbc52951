/* bias.cu - the deterministic bias gradient db[k] = sum over n, p, q of dy: one kernel that
 * serves every GPU family (the backward-bias direction, and backward-weight's dbias). No
 * atomics: each db[k] is one block's fixed-order reduction. */
#include "dtype.cuh"
#include "launch.h"

typedef long long i64;

/* ---- bias gradient: db[k] = sum_{n,p,q} dy[n,k,p,q], fixed order -------------------------- */
#define BIAS_T 256
/* NCHW: one block per k; thread t sums pq = t, t+256, ... of every n in order; then a fixed
 * tree over the block. Sums in double: a bias gradient is one number from up to N*P*Q terms
 * of both signs, where float partial sums lose the small result to cancellation; the kernel
 * is memory-bound, so double adds cost nothing measurable. */
template <class T>
__global__ __launch_bounds__(BIAS_T) void bias_nchw(sc_kp kp, const T *__restrict__ dy,
                                                    T *__restrict__ db)
{
    __shared__ double red[BIAS_T];
    int k = blockIdx.x;
    i64 pq = (i64)kp.p * kp.q;
    double acc = 0.0;
    for (i64 n = 0; n < kp.n; n++) {
        const T *row = dy + (n * kp.k + k) * pq;
        for (i64 j = threadIdx.x; j < pq; j += BIAS_T) acc += sc_get(row + j);
    }
    red[threadIdx.x] = acc;
    __syncthreads();
    for (int o = BIAS_T / 2; o > 0; o >>= 1) {
        if ((int)threadIdx.x < o) red[threadIdx.x] += red[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) sc_put(db + k, (float)red[0]);
}

/* NHWC: block (32 channels) x (8 row-walkers); walker ty sums rows ty, ty+8, ... */
template <class T>
__global__ __launch_bounds__(BIAS_T) void bias_nhwc(sc_kp kp, const T *__restrict__ dy,
                                                    T *__restrict__ db)
{
    __shared__ double red[8][33];
    int tx = threadIdx.x % 32, ty = threadIdx.x / 32;
    int k = blockIdx.x * 32 + tx;
    i64 rows = (i64)kp.n * kp.p * kp.q;
    double acc = 0.0;
    if (k < kp.k)
        for (i64 j = ty; j < rows; j += 8) acc += sc_get(dy + j * kp.k + k);
    red[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && k < kp.k) {
        double s = red[0][tx];
        for (int i = 1; i < 8; i++) s += red[i][tx];
        sc_put(db + k, (float)s);
    }
}

int sc_launch_bias_grad(const sc_kp &kp, const void *dy, void *db, cudaStream_t st)
{
    return sc_with_dtype(kp.dtype, [&](auto t) {
        using T = decltype(t);
        if (kp.nhwc)
            bias_nhwc<T><<<(kp.k + 31) / 32, BIAS_T, 0, st>>>(kp, (const T *)dy, (T *)db);
        else
            bias_nchw<T><<<kp.k, BIAS_T, 0, st>>>(kp, (const T *)dy, (T *)db);
        return (int)cudaGetLastError();
    });
}
