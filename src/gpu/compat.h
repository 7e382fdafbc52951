/* compat.h - one source for CUDA and HIP. The .cu files in this folder use the CUDA runtime
 * names; compiled by hipcc (__HIP_PLATFORM_AMD__) they map to HIP's. Same idea as llama.cpp's
 * ggml-cuda/vendors/hip.h. Only the names this backend uses are mapped.
 *
 * SC_WARP: threads per warp/wavefront as a compile-time constant, never a literal in kernels:
 * 32 on NVIDIA and RDNA (wave32, hipcc's default for gfx10/gfx11), 64 on GCN/CDNA. */
#ifndef SC_GPU_COMPAT_H
#define SC_GPU_COMPAT_H

#if defined(__HIP_PLATFORM_AMD__) || defined(__HIPCC__)
#include <hip/hip_runtime.h>
#define SC_GPU_HIP                     1
#define cudaError_t                    hipError_t
#define cudaSuccess                    hipSuccess
#define cudaErrorMemoryAllocation      hipErrorOutOfMemory
#define cudaErrorInvalidValue          hipErrorInvalidValue
#define cudaStream_t                   hipStream_t
#define cudaDeviceProp                 hipDeviceProp_t
#define cudaGetDeviceCount             hipGetDeviceCount
#define cudaGetDeviceProperties        hipGetDeviceProperties
#define cudaSetDevice                  hipSetDevice
#define cudaGetDevice                  hipGetDevice
#define cudaMalloc                     hipMalloc
#define cudaFree                       hipFree
#define cudaMemcpyAsync                hipMemcpyAsync
#define cudaMemsetAsync                hipMemsetAsync
#define cudaMemcpyHostToDevice         hipMemcpyHostToDevice
#define cudaMemcpyDeviceToHost         hipMemcpyDeviceToHost
#define cudaStreamSynchronize          hipStreamSynchronize
#define cudaGetLastError               hipGetLastError
#define cudaGetErrorString             hipGetErrorString
#define cudaDriverGetVersion           hipDriverGetVersion
#define cudaRuntimeGetVersion          hipRuntimeGetVersion
#define cudaDeviceGetAttribute         hipDeviceGetAttribute
#define cudaDevAttrMultiProcessorCount hipDeviceAttributeMultiprocessorCount
#define cudaFuncSetAttribute           hipFuncSetAttribute
#else
#include <cuda_runtime.h>
#define SC_GPU_HIP 0
#endif

/* SC_HD: a function kernels call that host code may call too (tests emulate kernels' index
 * math on the host: tests/gpu/mma_emulate.cu). SC_DEVICE_PASS: compiling device code. */
#define SC_HD __host__ __device__ __forceinline__
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
#define SC_DEVICE_PASS 1
#else
#define SC_DEVICE_PASS 0
#endif

/* Warp (wavefront) width the kernels are compiled for. */
#if SC_GPU_HIP && defined(__AMDGCN_WAVEFRONT_SIZE)
#define SC_WARP __AMDGCN_WAVEFRONT_SIZE
#elif SC_GPU_HIP && (defined(__GFX9__) || defined(__gfx900__) || defined(__gfx906__) ||            \
                     defined(__gfx908__) || defined(__gfx90a__))
#define SC_WARP 64
#else
#define SC_WARP 32
#endif

/* sc_shfl_xor(v, m, w): v as held by lane (lane ^ m), within aligned groups of w lanes (w a
 * power of two, at most 32; m < w). NVIDIA: every lane of the warp must take part (the sync
 * mask is the whole warp's); AMD: every lane of the caller's group. */
#if SC_GPU_HIP
#define sc_shfl_xor(v, m, w) __shfl_xor((v), (m), (w))
#else
#define sc_shfl_xor(v, m, w) __shfl_xor_sync(0xffffffffu, (v), (m), (w))
#endif

/* The hand-over of OpBwT's serial splits: a block waits for a flag another block set after
 * __threadfence(), then reads that block's data.
 * sc_ld_acquire_u32: the flag read. CUDA: a volatile load, then __threadfence() (the
 * threadFenceReduction / CUTLASS semaphore pattern). HIP: an agent-scope acquire atomic load
 * (a volatile load is not an atomic in HIP's C++ model).
 * sc_ld_l2: the data read, past this SM's L1 (CUDA's L1 is not coherent between SMs). On AMD
 * the agent-scope acquire (thread 0's fence) invalidates the CU's vector caches, and the
 * workgroup acquire of the __syncthreads() after it covers the other CU of a WGP, so a plain
 * load sees the data. */
#if SC_GPU_HIP
#define sc_ld_l2(p)          (*(p))
#define sc_ld_acquire_u32(p) __hip_atomic_load((p), __ATOMIC_ACQUIRE, __HIP_MEMORY_SCOPE_AGENT)
#else
#define sc_ld_l2(p)          __ldcg(p)
#define sc_ld_acquire_u32(p) (*(volatile unsigned *)(p))
#endif

#endif /* SC_GPU_COMPAT_H */
