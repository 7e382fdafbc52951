/* hip_wave64.h - force-included by .ci/gpu_build_check.sh for its gfx1010 wave64 compile only
 * (-mwavefrontsize64). HIP's hip_runtime.h stops any gfx10 compile in wave64 mode with #error
 * (HIP supports RDNA in wave32 only); the check wants the kernels' wave64 code for their
 * resource report (SC_WARP = 64, the GCN/CDNA width, on RDNA's register file), not a
 * runnable build, so the header is included here with the one macro its check reads hidden. */
#pragma push_macro("__gfx1010__")
#undef __gfx1010__
#include <hip/hip_runtime.h>
#pragma pop_macro("__gfx1010__")
