/* gemm_mma_tf32.cu - the matrix-unit implicit GEMM, fp32 tensors as TF32 (mma/dir.cuh). */
#define SC_MMA_ELEM float
#include "mma/dir.cuh"
