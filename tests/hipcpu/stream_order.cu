/* stream_order.cu - the one property of HIP-CPU the HIP-CPU build relies on beyond running
 * kernels: work on one stream runs in order, each launch after the one before has finished.
 * Built by tests/hipcpu/run.sh with hipcc-cpu (so with shim.h) and run before the verify.
 *
 * Kernel W marks each of its blocks done; kernel R, launched next on the same stream, counts
 * a start that finds W unfinished, and W counts a block that finds R started. The host waits
 * 0-49 us between the two launches (the window in which HIP-CPU's scheduler picks up work).
 *   the stream every src/gpu launch uses (shim.h's, for the null stream): must never overlap;
 *   HIP-CPU's own null stream, for the record (not checked): overlaps in a fraction of the
 *   iterations, which is why shim.h replaces it.
 * Exit status 1 if the first overlaps. */
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

static std::atomic<int> w_done{0}, r_started{0}, overlap{0};

__global__ void mark_w(float *a, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) a[i] = 1.f;
    if (threadIdx.x == 0) {
        if (r_started.load()) overlap++;
        w_done++;
    }
}

__global__ void mark_r(float *a, int n, int w_blocks)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (threadIdx.x == 0) {
        r_started = 1;
        if (w_done.load() != w_blocks) overlap++;
    }
    if (i < n) a[i] += 1.f;
}

/* Iterations in which W and R overlapped (or were unfinished at the synchronize). */
static int run(bool raw_null, int iters)
{
    const int n = 1 << 15, blocks = n / 256;
    float *d = nullptr;
    if (hipMalloc(&d, n * sizeof(float)) != hipSuccess) return iters;
    int bad = 0;
    for (int it = 0; it < iters; it++) {
        w_done = 0, r_started = 0, overlap = 0;
        if (raw_null)
            hipLaunchKernelGGL(mark_w, dim3(blocks), dim3(256), 0, nullptr, d, n);
        else
            mark_w<<<blocks, 256, 0, nullptr>>>(d, n);
        std::this_thread::sleep_for(std::chrono::microseconds(it % 50));
        if (raw_null) {
            hipLaunchKernelGGL(mark_r, dim3(blocks), dim3(256), 0, nullptr, d, n, blocks);
            (hipStreamSynchronize)(nullptr); /* parenthesized: HIP-CPU's own, not shim.h's */
        } else {
            mark_r<<<blocks, 256, 0, nullptr>>>(d, n, blocks);
            hipStreamSynchronize(nullptr);
        }
        if (overlap.load() || w_done.load() != blocks || !r_started.load()) bad++;
    }
    hipFree(d);
    return bad;
}

int main()
{
    const int iters = 300;
    int ours = run(false, iters);
    int raw = run(true, iters);
    printf("stream order: %d of %d iterations overlapped on the stream src/gpu uses (must be 0); "
           "HIP-CPU's own null stream: %d of %d (not checked)\n",
           ours, iters, raw, iters);
    return ours != 0;
}
