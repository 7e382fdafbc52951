/* gemm_wgmma.cu - configuration 5 of the matrix-unit GEMM: the kernel of mma/wgmma.cuh for the
 * operations it computes (fp16/bf16 and TF32 forward, fp16/bf16 backward-weight, without channel
 * padding). mk/gpu.mk compiles this file for sm_90a where the build targets sm_90 (wgmma exists
 * only there) and then defines SC_WGMMA_SM90A=1; the planner takes configuration 5 only on an
 * sm_90 device of such a build (sc_wgmma_built, sc_gpu_dev.wgmma). */
#include "launch.h"

#ifndef SC_WGMMA_SM90A
#define SC_WGMMA_SM90A 0
#endif

#if !SC_GPU_HIP
#include "mma/op_bw.cuh"
#include "mma/op_fwd.cuh"
#include "mma/wgmma.cuh"

template <class Op>
int sc_wgmma_launch(const Op &op, dim3 grid, cudaStream_t st)
{
    constexpr int smem = sc_wgmma_smem_bytes((int)sizeof(typename Op::Elem));
    if (int e = sc_smem_opt_in<wgmma_kernel<Op>>(smem)) return e;
    wgmma_kernel<Op><<<grid, 256, smem, st>>>(op);
    return (int)cudaGetLastError();
}

template int sc_wgmma_launch<MmaFwd<sc_half, false>>(const MmaFwd<sc_half, false> &, dim3,
                                                     cudaStream_t);
template int sc_wgmma_launch<MmaFwd<sc_bf16, false>>(const MmaFwd<sc_bf16, false> &, dim3,
                                                     cudaStream_t);
template int sc_wgmma_launch<MmaFwd<float, false>>(const MmaFwd<float, false> &, dim3,
                                                   cudaStream_t);
template int sc_wgmma_launch<MmaBw<sc_half, false>>(const MmaBw<sc_half, false> &, dim3,
                                                    cudaStream_t);
template int sc_wgmma_launch<MmaBw<sc_bf16, false>>(const MmaBw<sc_bf16, false> &, dim3,
                                                    cudaStream_t);
#endif

extern "C" bool sc_wgmma_built(void) { return SC_WGMMA_SM90A != 0; }
