/* gemm_wgmma.cu - configurations 5 and 6 of the matrix-unit GEMM: the kernel of mma/wgmma.cuh
 * for the operations it computes (fp16/bf16 and TF32 forward, which backward-data also runs as,
 * and fp16/bf16 backward-weight on 5; without channel padding). mk/gpu.mk compiles this file for
 * sm_90a where the build targets sm_90 (wgmma exists only there) and then defines
 * SC_WGMMA_SM90A=1; the planner takes configurations 5 and 6 only on an sm_90 device of such a
 * build (sc_wgmma_built, sc_gpu_dev.wgmma). */
#include "launch.h"

#ifndef SC_WGMMA_SM90A
#define SC_WGMMA_SM90A 0
#endif

#if !SC_GPU_HIP
#include "mma/op_bw.cuh"
#include "mma/op_fwd.cuh"
#include "mma/wgmma.cuh"

template <class Op, int BN>
int sc_wgmma_launch(const Op &op, dim3 grid, cudaStream_t st)
{
    constexpr int smem = sc_wgmma_smem_bytes((int)sizeof(typename Op::Elem), BN);
    if (int e = sc_smem_opt_in<wgmma_kernel<Op, BN>>(smem)) return e;
    wgmma_kernel<Op, BN><<<grid, 256, smem, st>>>(op);
    return (int)cudaGetLastError();
}

/* configuration 5: forward (backward-data runs as forward, mma/bd_fwd.cuh) in every type, 16-bit
 * backward-weight; configuration 6: forward only */
#define SC_WGMMA_INST(BN, ...)                                                                     \
    template int sc_wgmma_launch<__VA_ARGS__, BN>(const __VA_ARGS__ &, dim3, cudaStream_t);
SC_WGMMA_INST(128, MmaFwd<sc_half, false>)
SC_WGMMA_INST(128, MmaFwd<sc_bf16, false>)
SC_WGMMA_INST(128, MmaFwd<float, false>)
SC_WGMMA_INST(128, MmaBw<sc_half, false>)
SC_WGMMA_INST(128, MmaBw<sc_bf16, false>)
SC_WGMMA_INST(64, MmaFwd<sc_half, false>)
SC_WGMMA_INST(64, MmaFwd<sc_bf16, false>)
SC_WGMMA_INST(64, MmaFwd<float, false>)
#undef SC_WGMMA_INST
#endif

extern "C" bool sc_wgmma_built(void) { return SC_WGMMA_SM90A != 0; }
