/* gemm_bw_f16.cu - backward-weight of the FMA implicit GEMM, fp16 tensors (gemm/dir_bw.cuh). */
#define SC_GEMM_ELEM sc_half
#define SC_GEMM_NS   gemm_f16
#include "gemm/dir_bw.cuh"
