/* gemm_fwd_bf16.cu - forward of the FMA implicit GEMM, bf16 tensors (gemm/dir_fwd.cuh). */
#define SC_GEMM_ELEM sc_bf16
#define SC_GEMM_NS   gemm_bf16
#include "gemm/dir_fwd.cuh"
