/* gemm_fwd_f16.cu - forward of the FMA implicit GEMM, fp16 tensors (gemm/dir_fwd.cuh). */
#define SC_GEMM_ELEM sc_half
#define SC_GEMM_NS   gemm_f16
#include "gemm/dir_fwd.cuh"
