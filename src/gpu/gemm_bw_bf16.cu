/* gemm_bw_bf16.cu - backward-weight of the FMA implicit GEMM, bf16 tensors (gemm/dir_bw.cuh). */
#define SC_GEMM_ELEM sc_bf16
#define SC_GEMM_NS   gemm_bf16
#include "gemm/dir_bw.cuh"
