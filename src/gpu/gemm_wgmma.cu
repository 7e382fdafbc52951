/* gemm_wgmma.cu - configurations 5 to 8 of the matrix-unit GEMM: the kernels of mma/wgmma.cuh
 * (5, 6, 8), mma/wgmma_tf32_bw.cuh (5, TF32 backward-weight) and mma/wgmma_ws.cuh (7) for the
 * operations they compute (fp16/bf16 and TF32 forward, which backward-data also runs as, and
 * backward-weight on 5; without channel padding). mk/gpu.mk compiles this file for sm_90a where
 * the build targets sm_90 (wgmma exists only there) and then defines SC_WGMMA_SM90A=1; the
 * planner takes configurations 5 to 8 only on an sm_90 device of such a build (sc_wgmma_built,
 * sc_gpu_dev.wgmma). */
#include "knobs.h"
#include "launch.h"

#include <limits.h>

#ifndef SC_WGMMA_SM90A
#define SC_WGMMA_SM90A 0
#endif

#if !SC_GPU_HIP
#include "mma/op_bw.cuh"
#include "mma/op_fwd.cuh"
#include "mma/wgmma.cuh"
#include "mma/wgmma_tf32_bw.cuh"
#include "mma/wgmma_ws.cuh"

/* Configuration 7: one block an SM (at most SAFECONV_GPU_GEMM_PERSIST_BLOCKS of them) walks the
 * tiles of `grid` (mma/wgmma_ws.cuh). */
template <class Op>
static int sc_wgmma_ws_launch(const Op &op, dim3 grid, cudaStream_t st)
{
    constexpr int smem = sc_wgmma_ws_smem_bytes();
    if (int e = sc_smem_opt_in<wgmma_ws_kernel<Op>>(smem, smem)) return e;
    int dev = 0, sms = 0;
    if (int e = (int)cudaGetDevice(&dev)) return e;
    if (int e = (int)cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev)) return e;
    const int cap = sc_gpu_knobs_get()->gemm_persist_blocks;
    if (cap >= 1 && cap < sms) sms = cap;
    long long all = (long long)grid.x * grid.y * grid.z;
    if (all > INT_MAX) return (int)cudaErrorInvalidValue;
    if (all == 0) return 0;
    const int3 tiles = make_int3((int)grid.x, (int)grid.y, (int)grid.z);
    const dim3 blocks((unsigned)(all < sms ? all : sms), 1, 1);
    wgmma_ws_kernel<Op><<<blocks, SC_WGMMA_WS_THREADS, smem, st>>>(op, tiles);
    return (int)cudaGetLastError();
}

template <class Op, int BN, bool PERSIST>
int sc_wgmma_launch(const Op &op, dim3 grid, cudaStream_t st)
{
    if constexpr (PERSIST) {
        return sc_wgmma_ws_launch(op, grid, st);
    } else if constexpr (!Op::A_KMAJOR && sizeof(typename Op::Elem) == 4) {
        constexpr int smem = sc_wgmma_tf32_bw_smem_bytes();
        if (int e = sc_smem_opt_in<wgmma_tf32_bw_kernel<Op>>(smem, smem)) return e;
        wgmma_tf32_bw_kernel<Op><<<grid, 256, smem, st>>>(op);
        return (int)cudaGetLastError();
    } else {
        constexpr int smem = sc_wgmma_smem_bytes((int)sizeof(typename Op::Elem), BN);
        if (int e = sc_smem_opt_in<wgmma_kernel<Op, BN>>(smem, smem)) return e;
        wgmma_kernel<Op, BN><<<grid, 256, smem, st>>>(op);
        return (int)cudaGetLastError();
    }
}

/* configuration 5: forward (backward-data runs as forward, mma/bd_fwd.cuh) and backward-weight in
 * every type; configurations 6 and 8: forward only; configuration 7: forward, one split */
#define SC_WGMMA_INST(BN, P, ...)                                                                  \
    template int sc_wgmma_launch<__VA_ARGS__, BN, P>(const __VA_ARGS__ &, dim3, cudaStream_t);
SC_WGMMA_INST(128, false, MmaFwd<sc_half, false>)
SC_WGMMA_INST(128, false, MmaFwd<sc_bf16, false>)
SC_WGMMA_INST(128, false, MmaFwd<float, false>)
SC_WGMMA_INST(128, false, MmaBw<sc_half, false>)
SC_WGMMA_INST(128, false, MmaBw<sc_bf16, false>)
SC_WGMMA_INST(128, false, MmaBw<float, false>)
SC_WGMMA_INST(64, false, MmaFwd<sc_half, false>)
SC_WGMMA_INST(64, false, MmaFwd<sc_bf16, false>)
SC_WGMMA_INST(64, false, MmaFwd<float, false>)
SC_WGMMA_INST(256, false, MmaFwd<sc_half, false>)
SC_WGMMA_INST(256, false, MmaFwd<sc_bf16, false>)
SC_WGMMA_INST(256, false, MmaFwd<float, false>)
SC_WGMMA_INST(128, true, MmaFwd<sc_half, false>)
SC_WGMMA_INST(128, true, MmaFwd<sc_bf16, false>)
SC_WGMMA_INST(128, true, MmaFwd<float, false>)
#undef SC_WGMMA_INST
#endif

extern "C" bool sc_wgmma_built(void) { return SC_WGMMA_SM90A != 0; }
