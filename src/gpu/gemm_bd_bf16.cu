/* gemm_bd_bf16.cu - backward-data of the FMA implicit GEMM, bf16 tensors (gemm/dir_bd.cuh). */
#define SC_GEMM_ELEM sc_bf16
#define SC_GEMM_NS   gemm_bf16
#include "gemm/dir_bd.cuh"
