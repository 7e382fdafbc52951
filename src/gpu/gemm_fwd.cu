/* gemm_fwd.cu - forward of the FMA implicit GEMM, fp32 tensors (gemm/dir_fwd.cuh). */
#define SC_GEMM_ELEM float
#define SC_GEMM_NS   gemm_f32
#include "gemm/dir_fwd.cuh"
