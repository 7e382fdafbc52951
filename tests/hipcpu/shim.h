/* shim.h - what the HIP side of src/gpu uses that HIP-CPU (AMD's header-only HIP runtime for
 * CPUs) lacks or spells differently. tests/hipcpu/hipcc-cpu force-includes it (g++ -include)
 * before every src/gpu/*.cu it compiles for the HIP-CPU build (docs/gpu.md, "The HIP source on
 * the CPU"); nothing else includes it. Each entry stands in for one hipcc built-in or HIP
 * runtime function with the meaning HIP gives it on an AMD GPU, nothing more. */
#ifndef SC_HIPCPU_SHIM_H
#define SC_HIPCPU_SHIM_H

#include <hip/hip_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#define SC_HIPCPU 1 /* this build runs the HIP source on CPU threads */

/* HIP-CPU leaves __forceinline__ empty unless NDEBUG is defined: a __device__ function defined
 * in a header (kparams.h's sc_div) would then be an ordinary function defined in every object.
 * Redefined as HIP-CPU's NDEBUG branch has it, so assert() stays on. */
#undef __forceinline__
#define __forceinline__ __attribute__((always_inline)) inline

#define __align__(n) __attribute__((aligned(n)))

/* The high 32 bits of a 32x32-bit product (a hipcc device built-in). */
static inline unsigned __umulhi(unsigned a, unsigned b)
{
    return (unsigned)(((unsigned long long)a * b) >> 32);
}

/* Bit casts between float and unsigned (hipcc device built-ins; dtype.cuh's bf16). */
static inline float __uint_as_float(unsigned u)
{
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}
static inline unsigned __float_as_uint(float f)
{
    unsigned u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

/* Clang's scoped atomic load (compat.h's sc_ld_acquire_u32 on HIP): on one CPU every scope is
 * the whole machine, so the scope is dropped and the memory order kept. */
#define __HIP_MEMORY_SCOPE_AGENT           3
#define __hip_atomic_load(p, order, scope) __atomic_load_n((p), (order))

/* Device-side min/max of the HIP math headers. */
using std::max;
using std::min;

/* hipDeviceGetAttribute (HIP-CPU has hipGetDeviceProperties only): the attributes backend.cu
 * asks for. */
enum {
    hipDeviceAttributeMultiprocessorCount = 1
};
static inline hipError_t hipDeviceGetAttribute(int *v, int attr, int dev)
{
    hipDeviceProp_t p;
    hipError_t e = hipGetDeviceProperties(&p, dev);
    if (e != hipSuccess) return e;
    *v = attr == hipDeviceAttributeMultiprocessorCount ? p.multiProcessorCount : 0;
    return hipSuccess;
}

/* HIP-CPU's hipDeviceProp_t has no gcnArchName (backend.cu reads the architecture from it). */
#define gcnArchName name

/* The null stream. HIP-CPU's does not keep its work in order: its scheduler drains the null
 * stream from two threads at once (Runtime::wait_all_streams_ takes it in a std::async task and
 * again in the loop over all streams, which includes it), so a launch can run while the one
 * before it is still running (tests/hipcpu/stream_order.cu shows it). A created stream is
 * drained by one thread, in order: the order CUDA and HIP give the null stream. So the null
 * stream is replaced by one created stream of the process (an inline function: one instance
 * across the objects of a link) in everything src/gpu puts on a stream: launches, async copies
 * and sets, synchronizes. */
inline hipStream_t sc_hipcpu_stream(hipStream_t st)
{
#ifdef SC_HIPCPU_RAW_NULL_STREAM
    return st; /* the experiment below: HIP-CPU's own null stream */
#endif
    if (st) return st;
    static hipStream_t own = [] {
        hipStream_t s = nullptr;
        if (hipStreamCreate(&s) != hipSuccess) s = nullptr;
        return s;
    }();
    return own;
}
#define hipMemcpyAsync(dst, src, bytes, kind, st)                                                  \
    ::hipMemcpyAsync(dst, src, bytes, kind, sc_hipcpu_stream(st))
#define hipMemsetAsync(dst, v, bytes, st) ::hipMemsetAsync(dst, v, bytes, sc_hipcpu_stream(st))
#define hipStreamSynchronize(st)          ::hipStreamSynchronize(sc_hipcpu_stream(st))

/* Kernel launches. g++ has no <<< >>>: hipcc-cpu rewrites  K<<<g, b, smem, st>>>(args)  into
 *   K | sc_hipcpu_launch(g, b, smem, st)(args)
 * which needs no parsing of the kernel's name (template arguments and all): the call binds
 * first and collects the arguments, then operator| launches K with them, as
 * hipLaunchKernelGGL does. */
template <class... A>
struct sc_hipcpu_pending {
    dim3 grid, block;
    unsigned smem;
    hipStream_t st;
    std::tuple<A...> args;
};
struct sc_hipcpu_cfg {
    dim3 grid, block;
    unsigned smem;
    hipStream_t st;
    template <class... A>
    sc_hipcpu_pending<std::decay_t<A>...> operator()(A &&...a) const
    {
        return {grid, block, smem, st, std::tuple<std::decay_t<A>...>(std::forward<A>(a)...)};
    }
};
static inline sc_hipcpu_cfg sc_hipcpu_launch(dim3 grid, dim3 block, size_t smem = 0,
                                             hipStream_t st = nullptr)
{
    return {grid, block, (unsigned)smem, st};
}
/* SC_HIPCPU_RAW_NULL_STREAM=us (an experiment, docs/gpu.md "The HIP source on the CPU"): HIP-CPU's
 * own null stream, and the host pauses that many microseconds before each launch, which widens
 * the window in which HIP-CPU overlaps a launch with the one before. */
#ifdef SC_HIPCPU_RAW_NULL_STREAM
#include <chrono>
#include <thread>
#define SC_HIPCPU_PAUSE()                                                                          \
    std::this_thread::sleep_for(std::chrono::microseconds(SC_HIPCPU_RAW_NULL_STREAM))
#else
#define SC_HIPCPU_PAUSE() ((void)0)
#endif
template <class... P, class... A>
static inline void operator|(void (*kernel)(P...), const sc_hipcpu_pending<A...> &l)
{
    SC_HIPCPU_PAUSE();
    ::hip::detail::launch(
        l.grid, l.block, l.smem, sc_hipcpu_stream(l.st),
        [=](auto &&...xs) noexcept { kernel(std::forward<decltype(xs)>(xs)...); }, l.args);
}

#endif /* SC_HIPCPU_SHIM_H */
