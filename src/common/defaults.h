/* defaults.h - the library's default limits, in one place. */
#ifndef SC_COMMON_DEFAULTS_H
#define SC_COMMON_DEFAULTS_H

#include <stddef.h>

/* Workspace a context may use when sc_context_options.workspace_limit is 0: the CPU backend's
 * im2col blocks, and the GPU kernels' split partial sums and weight copies. Small on purpose:
 * the GiB-sized workspaces of vendor libraries are what the users of this library cannot
 * afford. */
#define SC_DEFAULT_CPU_WORKSPACE ((size_t)64 << 20)
#define SC_DEFAULT_GPU_WORKSPACE ((size_t)16 << 20)

#endif /* SC_COMMON_DEFAULTS_H */
