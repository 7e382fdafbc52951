/* gemm_bd.cu - backward-data of the FMA implicit GEMM, fp32 tensors (gemm/dir_bd.cuh). */
#define SC_GEMM_ELEM float
#define SC_GEMM_NS   gemm_f32
#include "gemm/dir_bd.cuh"
