/* gemm_mma_bf16.cu - the matrix-unit implicit GEMM, bf16 tensors (mma/dir.cuh). */
#define SC_MMA_ELEM sc_bf16
#include "mma/dir.cuh"
