/* gemm_mma_f16.cu - the matrix-unit implicit GEMM, f16 tensors (mma/dir.cuh). */
#define SC_MMA_ELEM sc_half
#include "mma/dir.cuh"
