/* launch.h - the kernel launchers that backend.cu dispatches a plan to, one group per kernel
 * family (one .cu file each). Host C++, compiled by nvcc or hipcc. Each launcher checks the
 * launch and returns 0 or the CUDA/HIP error code; `ws` is device workspace of at least the
 * plan's ws_bytes. Operand roles are sc_call's (common/problem.h); the tensors' element type is
 * kp.dtype (fp32, fp16 or bf16), so pointers are untyped here. */
#ifndef SC_GPU_LAUNCH_H
#define SC_GPU_LAUNCH_H

#include "common/problem.h"
#include "compat.h"
#include "kparams.h"

/* Dynamic shared memory above 48 KiB needs an opt-in per kernel function and device (NVIDIA;
 * AMD allows its 64 KiB without one). The opt-in is made once per device, for `most`: the most
 * this Kernel is ever launched with, a constant of the kernel (its shapes' bound), never the
 * size of the launch at hand, since a later, larger launch would find the first opt-in too small
 * and fail. `bytes` above `most` is the caller's error (cudaErrorInvalidValue), whatever was
 * launched before. Remembered in a bitmap per Kernel. 0 or the error code. */
template <auto Kernel>
static int sc_smem_opt_in(int bytes, int most)
{
    if (bytes < 0 || bytes > most) return (int)cudaErrorInvalidValue;
#if SC_GPU_HIP
    return 0;
#else
    if (most <= 48 * 1024) return 0;
    static unsigned long long opted; /* bit d: the opt-in was made on device d */
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess) return (int)e;
    if (dev < 64 && (__atomic_load_n(&opted, __ATOMIC_RELAXED) >> dev & 1)) return 0;
    e = cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, most);
    if (e != cudaSuccess) return (int)e;
    if (dev < 64) __atomic_fetch_or(&opted, 1ull << dev, __ATOMIC_RELAXED);
    return 0;
#endif
}

/* naive.cu: every direction but the bias gradient. */
int sc_launch_naive(const sc_kp &kp, sc_direction dir, const void *a, const void *b, const void *c,
                    void *out, cudaStream_t st);
/* bias.cu: db[k] = sum over n, p, q of dy, in double, fixed order; `slices` > 1 (bias.h)
 * needs sc_bias_ws_bytes of workspace at ws. */
int sc_launch_bias_grad(const sc_kp &kp, int slices, const void *dy, void *db, void *ws,
                        cudaStream_t st);
/* depthwise.cu: forward, backward-data, backward-weight. */
int sc_launch_depthwise(const sc_kp &kp, sc_direction dir, const void *a, const void *b,
                        const void *c, void *out, cudaStream_t st);
/* depthwise_bw.cu: NHWC backward-weight in `slices` row slices (depthwise.h: where it applies,
 * the slices, sc_dwb_ws_bytes of workspace at ws). */
int sc_launch_depthwise_bw(const sc_kp &kp, int slices, const void *x, const void *dy, void *dw,
                           void *ws, cudaStream_t st);
/* small_c.cu: forward and backward-data. */
int sc_launch_small_c(const sc_kp &kp, sc_direction dir, const void *a, const void *b,
                      const void *c, void *out, cudaStream_t st);
/* small_c_phase.cu: backward-data of the layers sc_small_c_phase_applies takes (small_c.h);
 * small_c.cu's launcher decides when. */
int sc_launch_small_c_phase(const sc_kp &kp, const void *dy, const void *w, void *dx,
                            cudaStream_t st);
/* small_c_bw.cu: backward-weight of 3x3 layers with few input channels a group in `slices`
 * row slices (small_c.h: where it applies, sc_scw_ws_bytes of workspace at ws). */
int sc_launch_small_c_bw(const sc_kp &kp, int slices, const void *x, const void *dy, void *dw,
                         void *ws, cudaStream_t st);
/* small_c_bw1.cu: backward-weight of 1x1 layers with few channels (sc_small_c_bw1_applies) in
 * `slices` row slices, sc_scb1_ws_bytes of workspace at ws; sc_launch_small_c_bw passes them on. */
int sc_launch_small_c_bw1(const sc_kp &kp, int slices, const void *x, const void *dy, void *dw,
                          void *ws, cudaStream_t st);
/* gemm_launch.cu (the kernels: gemm_fwd.cu, gemm_bd.cu, gemm_bw.cu): the plan's tile
 * configuration, split and gathers. */
int sc_launch_gemm(const sc_kp &kp, sc_direction dir, const sc_kplan &pl, const void *a,
                   const void *b, const void *c, void *out, void *ws, cudaStream_t st);

/* gemm_wgmma.cu: whether configuration 5 (Hopper's wgmma) was compiled for sm_90a. */
extern "C" bool sc_wgmma_built(void);
/* gemm_mma_launch.cu (the kernels: gemm_mma_f16.cu, gemm_mma_bf16.cu, gemm_mma_tf32.cu): the
 * matrix-unit GEMM, NVIDIA sm_80+. */
int sc_launch_gemm_mma(const sc_kp &kp, sc_direction dir, const sc_kplan &pl, const void *a,
                       const void *b, const void *c, void *out, void *ws, cudaStream_t st);

/* winograd.cu: Winograd F(2x2,3x3), fp32 forward and backward-data (winograd.h) with tile
 * `tile` (the plan's cfg: -1 the FMA kernel, 4 the wgmma one, winograd_wg.cu); ws holds the
 * transformed filter (sc_wino_ws_bytes). */
int sc_launch_winograd(const sc_kp &kp, sc_direction dir, int tile, const void *a, const void *b,
                       const void *c, void *out, void *ws, cudaStream_t st);
/* winograd_bw.cu: Winograd backward-weight with tile `tile` (0 wide, 1 narrow, 2 wide in
 * 3xTF32, 3 F(3x3,4x4), 4 wide on wgmma in 3xTF32: winograd.h, the plan's cfg) in `splits`
 * reduction slices (ws holds them where splits > 1: sc_wino_bw_ws_bytes). */
int sc_launch_winograd_bw(const sc_kp &kp, int tile, int splits, const void *x, const void *dy,
                          void *dw, void *ws, cudaStream_t st);
/* winograd_bw4.cu: the F(3x3,4x4) kernel alone (tile 3), into dw (one slice) or the slices at
 * out; sc_launch_winograd_bw checks the problem and adds the slices. */
int sc_launch_winograd_bw4(const sc_kp &kp, int splits, const void *x, const void *dy, void *out,
                           cudaStream_t st);
/* winograd_bw_wg.cu: the wgmma 3xTF32 kernel alone (tile 4; sm_90a builds where x and dy have
 * fewer than 2^31 elements, sc_wino_wg_fits, else an error), the same way. */
int sc_launch_winograd_bw_wg(const sc_kp &kp, int splits, const void *x, const void *dy, void *out,
                             cudaStream_t st);

#endif /* SC_GPU_LAUNCH_H */
